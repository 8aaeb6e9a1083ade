/*
 * Datasets: picking the format a path holds, the shared allocation and label
 * checks, and the per-batch conversion to normalised float32 NCHW.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/formats.h"
#include "nadapt/data.h"

#define DS_PATH_MAX 4096

/* Writes dir/name into buf; returns 0, or -1 when it does not fit. */
static int join(char *buf, const char *dir, const char *name)
{
    size_t n = strlen(dir);
    const char *sep = (n > 0 && dir[n - 1] == '/') ? "" : "/";
    int w = snprintf(buf, DS_PATH_MAX, "%s%s%s", dir, sep, name);
    return (w < 0 || w >= DS_PATH_MAX) ? -1 : 0;
}

/* True when path names a regular file (following links). */
static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* True when something (of any type) exists at path.  A FIFO, device or
 * directory named like a dataset file counts as present, so that the loader
 * opens it and reports "not a regular file" / "is a directory" rather than
 * the search reporting the file as missing; stat never blocks on a FIFO. */
static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Finds the first of names[] (each tried raw, then with .gz when gz is set)
 * present in dir as a regular file, or failing that as anything else (so the
 * loader names what is wrong with it); writes its path into buf and returns
 * 1, else 0. */
static int find_in(const char *dir, const char *const *names, int gz, char *buf)
{
    char tmp[DS_PATH_MAX];
    for (int pass = 0; pass < 2; pass++) {
        int (*present)(const char *) = pass == 0 ? is_file : exists;
        for (int i = 0; names[i]; i++) {
            if (join(buf, dir, names[i]) == 0 && present(buf))
                return 1;
            if (gz && snprintf(tmp, sizeof tmp, "%s.gz", names[i]) < (int)sizeof tmp && join(buf, dir, tmp) == 0 &&
                present(buf))
                return 1;
        }
    }
    return 0;
}

/* IDX files of dir for the split: loads them when either file is there.
 * Returns 1 when the format was recognised (rc set), 0 when absent. */
static int try_idx(const char *dir, nad_split split, nad_dataset **out, nad_err *e, nad_status *rc)
{
    /* The usual names, and the dotted ones some mirrors use. */
    static const char *const test_img[] = {"t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte", NULL};
    static const char *const test_lab[] = {"t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte", NULL};
    static const char *const train_img[] = {"train-images-idx3-ubyte", "train-images.idx3-ubyte", NULL};
    static const char *const train_lab[] = {"train-labels-idx1-ubyte", "train-labels.idx1-ubyte", NULL};
    const char *const *img = split == NAD_SPLIT_TRAIN ? train_img : test_img;
    const char *const *lab = split == NAD_SPLIT_TRAIN ? train_lab : test_lab;
    char ip[DS_PATH_MAX], lp[DS_PATH_MAX];
    int hi = find_in(dir, img, 1, ip), hl = find_in(dir, lab, 1, lp);
    if (!hi && !hl)
        return 0;
    if (!hi)
        *rc = nad_errf(e, NAD_EIO, "%s: has %s but no %s[.gz]", dir, lp, img[0]);
    else if (!hl)
        *rc = nad_errf(e, NAD_EIO, "%s: has %s but no %s[.gz]", dir, ip, lab[0]);
    else
        *rc = nad_idx_load(ip, lp, out, e);
    return 1;
}

/* .npy pairs in dir for the split ({split}_images/labels.npy or x_/y_{split}.npy). */
static int try_npy_dir(const char *dir, nad_split split, nad_dataset **out, nad_err *e, nad_status *rc)
{
    const char *s = split == NAD_SPLIT_TRAIN ? "train" : "test";
    char names[2][2][64];
    snprintf(names[0][0], sizeof names[0][0], "%s_images.npy", s);
    snprintf(names[0][1], sizeof names[0][1], "%s_labels.npy", s);
    snprintf(names[1][0], sizeof names[1][0], "x_%s.npy", s);
    snprintf(names[1][1], sizeof names[1][1], "y_%s.npy", s);
    for (int k = 0; k < 2; k++) {
        char ip[DS_PATH_MAX], lp[DS_PATH_MAX];
        int hi = join(ip, dir, names[k][0]) == 0 && exists(ip);
        int hl = join(lp, dir, names[k][1]) == 0 && exists(lp);
        if (!hi && !hl)
            continue;
        if (!hi)
            *rc = nad_errf(e, NAD_EIO, "%s: has %s but no %s", dir, names[k][1], names[k][0]);
        else if (!hl)
            *rc = nad_errf(e, NAD_EIO, "%s: has %s but no %s", dir, names[k][0], names[k][1]);
        else
            *rc = nad_npy_load(ip, lp, out, e);
        return 1;
    }
    return 0;
}

/* CIFAR-10 batches in dir: test_batch.bin, or all of data_batch_1..5.bin. */
static int try_cifar(const char *dir, nad_split split, nad_dataset **out, nad_err *e, nad_status *rc)
{
    char paths[5][DS_PATH_MAX];
    const char *list[5];
    if (split == NAD_SPLIT_TEST) {
        if (join(paths[0], dir, "test_batch.bin") != 0 || !exists(paths[0]))
            return 0;
        list[0] = paths[0];
        *rc = nad_cifar_load(list, 1, out, e);
        return 1;
    }
    int found = 0, missing = 0;
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d.bin", i + 1);
        if (join(paths[i], dir, name) == 0 && exists(paths[i]))
            found++;
        else if (!missing)
            missing = i + 1;
        list[i] = paths[i];
    }
    if (!found)
        return 0;
    if (missing)
        *rc = nad_errf(e, NAD_EIO, "%s: has CIFAR-10 training batches but no data_batch_%d.bin", dir, missing);
    else
        *rc = nad_cifar_load(list, 5, out, e);
    return 1;
}

/*
 * Loads a split, deciding the format from what the path holds:
 *   (1) a directory with IDX files, .npy pairs or CIFAR batches (in that order
 *       of preference; a cifar-10-batches-bin/ subdirectory also counts);
 *   (2) a prefix P with P_images.npy and P_labels.npy (split ignored);
 *   (3) a file P_images.npy, meaning prefix P.
 * A directory that holds only half of a pair reports the missing file rather
 * than falling through to "nothing found", which would hide the real problem.
 */
nad_status nad_dataset_load(const char *path, nad_split split, nad_dataset **out, nad_err *e)
{
    nad_status rc = NAD_OK;
    struct stat st;
    char ip[DS_PATH_MAX], lp[DS_PATH_MAX], sub[DS_PATH_MAX];
    const char *s = split == NAD_SPLIT_TRAIN ? "train" : "test";

    if (!out)
        return nad_errf(e, NAD_EINVAL, "nad_dataset_load: out is NULL");
    *out = NULL;
    if (!path || !*path)
        return nad_errf(e, NAD_EINVAL, "dataset path is empty");
    if (split != NAD_SPLIT_TEST && split != NAD_SPLIT_TRAIN)
        return nad_errf(e, NAD_EINVAL, "%s: bad split %d", path, (int)split);
    if (strlen(path) + 32 >= DS_PATH_MAX)
        return nad_errf(e, NAD_EINVAL, "dataset path too long (%zu characters)", strlen(path));

    if (stat(path, &st) != 0) {
        int err = errno;
        snprintf(ip, sizeof ip, "%s_images.npy", path);
        snprintf(lp, sizeof lp, "%s_labels.npy", path);
        if (exists(ip) || exists(lp)) {
            if (!exists(lp))
                return nad_errf(e, NAD_EIO, "%s: no such file or directory (next to %s)", lp, ip);
            if (!exists(ip))
                return nad_errf(e, NAD_EIO, "%s: no such file or directory (next to %s)", ip, lp);
            return nad_npy_load(ip, lp, out, e);
        }
        return nad_errf(e, NAD_EIO, "%s: %s", path, err == ENOENT ? "no such file or directory" : strerror(err));
    }
    if (S_ISREG(st.st_mode)) {
        size_t n = strlen(path), sl = strlen("_images.npy");
        if (n > sl && strcmp(path + n - sl, "_images.npy") == 0) {
            snprintf(lp, sizeof lp, "%.*s_labels.npy", (int)(n - sl), path);
            if (!exists(lp))
                return nad_errf(e, NAD_EIO, "%s: no such file or directory (next to %s)", lp, path);
            return nad_npy_load(path, lp, out, e);
        }
        return nad_errf(e, NAD_EINVAL,
                        "%s: is a file; give a dataset directory or a prefix P of P_images.npy + P_labels.npy", path);
    }
    if (!S_ISDIR(st.st_mode))
        return nad_errf(e, NAD_EIO, "%s: not a regular file or directory (a FIFO, device or socket)", path);

    if (try_idx(path, split, out, e, &rc) || try_npy_dir(path, split, out, e, &rc) ||
        try_cifar(path, split, out, e, &rc))
        return rc;
    if (join(sub, path, "cifar-10-batches-bin") == 0 && stat(sub, &st) == 0 && S_ISDIR(st.st_mode) &&
        try_cifar(sub, split, out, e, &rc))
        return rc;
    return nad_errf(e, NAD_EIO,
                    "%s: no %s split found (looked for %s-images-idx3-ubyte[.gz] + %s-labels-idx1-ubyte[.gz], "
                    "%s_images.npy + %s_labels.npy, x_%s.npy + y_%s.npy, %s)",
                    path, s, split == NAD_SPLIT_TRAIN ? "train" : "t10k", split == NAD_SPLIT_TRAIN ? "train" : "t10k",
                    s, s, s, s, split == NAD_SPLIT_TRAIN ? "data_batch_1..5.bin" : "test_batch.bin");
}

/* See formats.h; the size checks keep n*c*h*w*esize from overflowing. */
nad_status nad_dataset_alloc(int64_t n, int64_t c, int64_t h, int64_t w, int is_float, const char *what,
                             nad_dataset **out, nad_err *e)
{
    nad_status rc = NAD_OK;
    nad_dataset *d = NULL;
    uint64_t esize = is_float ? sizeof(float) : 1;

    *out = NULL;
    if (n <= 0 || c <= 0 || h <= 0 || w <= 0 || c > INT32_MAX || h > INT32_MAX || w > INT32_MAX)
        return nad_errf(e, NAD_EFORMAT, "%s: bad dataset shape %lld x %lld x %lld x %lld", what, (long long)n,
                        (long long)c, (long long)h, (long long)w);
    uint64_t per = (uint64_t)c * (uint64_t)h;
    if (per > NAD_MAX_DATASET_BYTES || (per *= (uint64_t)w) > NAD_MAX_DATASET_BYTES ||
        (uint64_t)n > NAD_MAX_DATASET_BYTES / per / esize)
        return nad_errf(e, NAD_EFORMAT, "%s: absurd dataset size %lld x %lld x %lld x %lld", what, (long long)n,
                        (long long)c, (long long)h, (long long)w);
    size_t bytes = (size_t)((uint64_t)n * per * esize);
    d = calloc(1, sizeof *d);
    if (!d)
        goto nomem;
    d->n = n;
    d->c = (int)c;
    d->h = (int)h;
    d->w = (int)w;
    if (is_float)
        d->f32 = malloc(bytes);
    else
        d->u8 = malloc(bytes);
    d->labels = malloc((size_t)n * sizeof *d->labels);
    if ((is_float ? (void *)d->f32 : (void *)d->u8) == NULL || !d->labels)
        goto nomem;
    *out = d;
    return NAD_OK;
nomem:
    rc = nad_errf(e, NAD_ENOMEM, "%s: out of memory for %lld images of %lld x %lld x %lld", what, (long long)n,
                  (long long)c, (long long)h, (long long)w);
    nad_dataset_free(d);
    return rc;
}

/* See formats.h. */
nad_status nad_dataset_check_labels(nad_dataset *d, const char *what, nad_err *e)
{
    int32_t max = 0;
    for (int64_t i = 0; i < d->n; i++) {
        int32_t v = d->labels[i];
        if (v < 0 || v > NAD_MAX_LABEL)
            return nad_errf(e, NAD_EFORMAT, "%s: label %d of image %lld is out of range (0..%d)", what, (int)v,
                            (long long)i, NAD_MAX_LABEL);
        if (v > max)
            max = v;
    }
    d->n_classes = max + 1;
    return NAD_OK;
}

/*
 * uint8 pixels go through a per-channel 256-entry table holding exactly
 * (p / 255 - mean) / std in float, so the result is bit-identical to the
 * documented formula while costing one load per pixel; float data is
 * computed directly.  Image order follows idx, so shuffled training batches
 * cost the same as sequential ones.
 */
nad_status nad_dataset_batch(const nad_dataset *d, const int64_t *idx, int64_t first, int n, const float *mean,
                             const float *std, int n_ch, float *out, nad_err *e)
{
    nad_status rc = NAD_OK;
    float lut_small[4 * 256];
    float *lut = lut_small;

    if (!d || !mean || !std || (n > 0 && !out))
        return nad_errf(e, NAD_EINVAL, "nad_dataset_batch: NULL argument");
    if (n < 0)
        return nad_errf(e, NAD_EINVAL, "nad_dataset_batch: negative count %d", n);
    if (n_ch != 1 && n_ch != d->c)
        return nad_errf(e, NAD_EINVAL, "mean/std have %d entries but the images have %d channels (give 1 or %d)",
                        n_ch, d->c, d->c);
    for (int k = 0; k < n_ch; k++) {
        if (!(std[k] != 0.0f) || !isfinite(std[k]))
            return nad_errf(e, NAD_EINVAL, "std[%d] is %g: it must be finite and non-zero", k, (double)std[k]);
        if (!isfinite(mean[k]))
            return nad_errf(e, NAD_EINVAL, "mean[%d] is %g: it must be finite", k, (double)mean[k]);
    }
    if (idx) {
        for (int i = 0; i < n; i++)
            if (idx[i] < 0 || idx[i] >= d->n)
                return nad_errf(e, NAD_EINVAL, "image index %lld is outside 0..%lld", (long long)idx[i],
                                (long long)d->n - 1);
    } else if (first < 0 || first > d->n || n > d->n - first) {
        return nad_errf(e, NAD_EINVAL, "images %lld..%lld are outside 0..%lld", (long long)first,
                        (long long)first + n - 1, (long long)d->n - 1);
    }

    const size_t plane = (size_t)d->h * (size_t)d->w;
    const size_t per = plane * (size_t)d->c;
    if (d->u8) {
        if (d->c > 4) {
            lut = malloc((size_t)d->c * 256 * sizeof *lut);
            if (!lut)
                return nad_errf(e, NAD_ENOMEM, "out of memory for the normalisation table");
        }
        for (int ch = 0; ch < d->c; ch++) {
            float m = mean[n_ch == 1 ? 0 : ch], s = std[n_ch == 1 ? 0 : ch];
            for (int p = 0; p < 256; p++)
                lut[ch * 256 + p] = ((float)p / 255.0f - m) / s;
        }
        for (int i = 0; i < n; i++) {
            int64_t img = idx ? idx[i] : first + i;
            const uint8_t *src = d->u8 + (size_t)img * per;
            float *dst = out + (size_t)i * per;
            for (int ch = 0; ch < d->c; ch++) {
                const float *t = lut + ch * 256;
                const uint8_t *sp = src + (size_t)ch * plane;
                float *dp = dst + (size_t)ch * plane;
                for (size_t p = 0; p < plane; p++)
                    dp[p] = t[sp[p]];
            }
        }
        if (lut != lut_small)
            free(lut);
    } else if (d->f32) {
        for (int i = 0; i < n; i++) {
            int64_t img = idx ? idx[i] : first + i;
            const float *src = d->f32 + (size_t)img * per;
            float *dst = out + (size_t)i * per;
            for (int ch = 0; ch < d->c; ch++) {
                const float m = mean[n_ch == 1 ? 0 : ch], s = std[n_ch == 1 ? 0 : ch];
                const float *sp = src + (size_t)ch * plane;
                float *dp = dst + (size_t)ch * plane;
                for (size_t p = 0; p < plane; p++)
                    dp[p] = (sp[p] - m) / s;
            }
        }
    } else {
        rc = nad_errf(e, NAD_ESTATE, "nad_dataset_batch: the dataset holds no pixels");
    }
    return rc;
}

/* See data.h. */
void nad_dataset_free(nad_dataset *d)
{
    if (!d)
        return;
    free(d->u8);
    free(d->f32);
    free(d->labels);
    free(d);
}
