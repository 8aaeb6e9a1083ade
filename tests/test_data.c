/*
 * Dataset readers: IDX (raw and gzip), .npy (every dtype/layout/version the
 * reader claims), CIFAR-10 batches, format detection, normalised batches, and
 * the Fashion-MNIST .npy fixture against the real IDX files.  Every file is
 * written here from known values, so each check compares against data the
 * test made itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "nadapt/data.h"
#include "testutil.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

/* ---- helpers that write test files ---------------------------------------- */

/* A fresh subdirectory of the test's temporary directory. */
static const char *subdir(const char *name)
{
    static char buf[8][512];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", tu_tmpdir(), name);
    mkdir(b, 0755);
    return b;
}

/* dir/name in a rotating static buffer. */
static const char *path_in(const char *dir, const char *name)
{
    static char buf[8][768];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

static void write_gz(const char *path, const void *data, size_t len)
{
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(f), Z_OK);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Pixel value of image i, row r, col c in the synthetic IDX/CIFAR sets. */
static uint8_t pix(int i, int ch, int r, int c)
{
    return (uint8_t)(i * 37 + ch * 101 + r * 11 + c * 3 + 5);
}

/* Writes an n x rows x cols images file and an n-labels file (labels i % 7).
 * gz selects compression; img_extra/lab_extra add (or, negative, drop) bytes. */
static void write_idx(const char *dir, const char *prefix, int n, int rows, int cols, int n_labels, int gz,
                      int img_extra)
{
    size_t ilen = 16 + (size_t)n * rows * cols;
    uint8_t *img = calloc(1, ilen + 64);
    uint8_t *lab = calloc(1, 8 + (size_t)n_labels);
    assert_non_null(img);
    assert_non_null(lab);
    put_be32(img, 0x00000803);
    put_be32(img + 4, (uint32_t)n);
    put_be32(img + 8, (uint32_t)rows);
    put_be32(img + 12, (uint32_t)cols);
    for (int i = 0; i < n; i++)
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                img[16 + ((size_t)i * rows + r) * cols + c] = pix(i, 0, r, c);
    put_be32(lab, 0x00000801);
    put_be32(lab + 4, (uint32_t)n_labels);
    for (int i = 0; i < n_labels; i++)
        lab[8 + i] = (uint8_t)(i % 7);
    char in[128], ln[128];
    snprintf(in, sizeof in, "%s-images-idx3-ubyte%s", prefix, gz ? ".gz" : "");
    snprintf(ln, sizeof ln, "%s-labels-idx1-ubyte%s", prefix, gz ? ".gz" : "");
    size_t iw = (size_t)((long)ilen + img_extra);
    if (gz) {
        write_gz(path_in(dir, in), img, iw);
        write_gz(path_in(dir, ln), lab, 8 + (size_t)n_labels);
    } else {
        assert_int_equal(tu_write_file(path_in(dir, in), img, iw), 0);
        assert_int_equal(tu_write_file(path_in(dir, ln), lab, 8 + (size_t)n_labels), 0);
    }
    free(img);
    free(lab);
}

/* Writes a .npy file: version major.0, the given descr/fortran/shape text, and data. */
static void write_npy_v(const char *path, int major, const char *descr, const char *fortran, const char *shape,
                        const void *data, size_t len)
{
    char dict[512];
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, fortran,
                      shape);
    size_t pre = major == 1 ? 10 : 12;
    size_t total = pre + (size_t)dl + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)dl + pad + 1;
    uint8_t *buf = malloc(pre + hlen + len);
    assert_non_null(buf);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)major;
    buf[7] = 0;
    if (major == 1) {
        buf[8] = (uint8_t)hlen;
        buf[9] = (uint8_t)(hlen >> 8);
    } else {
        buf[8] = (uint8_t)hlen;
        buf[9] = (uint8_t)(hlen >> 8);
        buf[10] = 0;
        buf[11] = 0;
    }
    memcpy(buf + pre, dict, (size_t)dl);
    memset(buf + pre + dl, ' ', pad);
    buf[pre + hlen - 1] = '\n';
    if (len)
        memcpy(buf + pre + hlen, data, len);
    assert_int_equal(tu_write_file(path, buf, pre + hlen + len), 0);
    free(buf);
}

static void write_npy(const char *path, const char *descr, const char *shape, const void *data, size_t len)
{
    write_npy_v(path, 1, descr, "False", shape, data, len);
}

/* Labels 0..n-1 mod 10 as little-endian int64. */
static void write_labels_i8(const char *path, int n)
{
    int64_t *l = malloc((size_t)n * sizeof *l);
    assert_non_null(l);
    for (int i = 0; i < n; i++)
        l[i] = i % 10;
    char shape[32];
    snprintf(shape, sizeof shape, "(%d,)", n);
    write_npy(path, "<i8", shape, l, (size_t)n * sizeof *l);
    free(l);
}

/* Loads path and expects failure with status want and a message containing needle. */
static void expect_fail(const char *path, nad_split split, nad_status want, const char *needle)
{
    nad_dataset *d = (nad_dataset *)0x1;
    nad_err e = {{0}};
    nad_status rc = nad_dataset_load(path, split, &d, &e);
    if (rc != want || !strstr(e.msg, needle))
        fail_msg("loading %s: got status %d '%s', wanted %d with '%s'", path, (int)rc, e.msg, (int)want, needle);
    assert_null(d);
    assert_null(strchr(e.msg, '\n'));
}

/* ---- IDX ------------------------------------------------------------------- */

static void check_idx_set(const nad_dataset *d, int n, int rows, int cols)
{
    assert_int_equal(d->n, n);
    assert_int_equal(d->c, 1);
    assert_int_equal(d->h, rows);
    assert_int_equal(d->w, cols);
    assert_non_null(d->u8);
    assert_null(d->f32);
    for (int i = 0; i < n; i++) {
        assert_int_equal(d->labels[i], i % 7);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                assert_int_equal(d->u8[((size_t)i * rows + r) * cols + c], pix(i, 0, r, c));
    }
    assert_int_equal(d->n_classes, n >= 7 ? 7 : n);
}

static void test_idx_raw_and_gz(void **state)
{
    (void)state;
    const char *raw = subdir("idx_raw"), *gz = subdir("idx_gz");
    write_idx(raw, "t10k", 9, 3, 5, 9, 0, 0);
    write_idx(raw, "train", 4, 3, 5, 4, 0, 0);
    write_idx(gz, "t10k", 12, 6, 2, 12, 1, 0);
    nad_dataset *d = NULL;
    nad_err e = {{0}};
    assert_int_equal(nad_dataset_load(raw, NAD_SPLIT_TEST, &d, &e), NAD_OK);
    check_idx_set(d, 9, 3, 5);
    nad_dataset_free(d);
    assert_int_equal(nad_dataset_load(raw, NAD_SPLIT_TRAIN, &d, &e), NAD_OK);
    check_idx_set(d, 4, 3, 5);
    nad_dataset_free(d);
    assert_int_equal(nad_dataset_load(gz, NAD_SPLIT_TEST, &d, &e), NAD_OK);
    check_idx_set(d, 12, 6, 2);
    nad_dataset_free(d);
    /* The dotted names some mirrors use. */
    const char *dot = subdir("idx_dotted");
    write_idx(dot, "t10k", 3, 2, 2, 3, 1, 0);
    rename(path_in(dot, "t10k-images-idx3-ubyte.gz"), path_in(dot, "t10k-images.idx3-ubyte.gz"));
    rename(path_in(dot, "t10k-labels-idx1-ubyte.gz"), path_in(dot, "t10k-labels.idx1-ubyte.gz"));
    assert_int_equal(nad_dataset_load(dot, NAD_SPLIT_TEST, &d, &e), NAD_OK);
    check_idx_set(d, 3, 2, 2);
    nad_dataset_free(d);
    /* The gz directory has no train split: the message lists what was looked for. */
    expect_fail(gz, NAD_SPLIT_TRAIN, NAD_EIO, "train-images-idx3-ubyte");
}

static void test_idx_errors(void **state)
{
    (void)state;
    const char *d1 = subdir("idx_trunc");
    write_idx(d1, "t10k", 6, 4, 4, 6, 0, -10);
    expect_fail(d1, NAD_SPLIT_TEST, NAD_EFORMAT, "t10k-images-idx3-ubyte: truncated");

    const char *d2 = subdir("idx_trunc_gz");
    write_idx(d2, "t10k", 6, 4, 4, 6, 1, -1);
    expect_fail(d2, NAD_SPLIT_TEST, NAD_EFORMAT, "t10k-images-idx3-ubyte.gz: truncated");

    const char *d3 = subdir("idx_count");
    write_idx(d3, "t10k", 6, 4, 4, 5, 0, 0);
    expect_fail(d3, NAD_SPLIT_TEST, NAD_EFORMAT, "holds 5 labels");

    const char *d4 = subdir("idx_long");
    write_idx(d4, "t10k", 6, 4, 4, 6, 0, 3);
    expect_fail(d4, NAD_SPLIT_TEST, NAD_EFORMAT, "longer than its header says");

    /* Wrong magic: a labels file where the images should be. */
    const char *d5 = subdir("idx_magic");
    write_idx(d5, "t10k", 2, 2, 2, 2, 0, 0);
    uint8_t lab[10] = {0, 0, 8, 1, 0, 0, 0, 2, 1, 1};
    assert_int_equal(tu_write_file(path_in(d5, "t10k-images-idx3-ubyte"), lab, sizeof lab), 0);
    expect_fail(d5, NAD_SPLIT_TEST, NAD_EFORMAT, "bad IDX magic 0x00000801");

    /* An absurd header in a tiny file fails before any big allocation. */
    const char *d6 = subdir("idx_absurd");
    write_idx(d6, "t10k", 2, 2, 2, 2, 0, 0);
    uint8_t hdr[20] = {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0, 0xff, 0xff};
    assert_int_equal(tu_write_file(path_in(d6, "t10k-images-idx3-ubyte"), hdr, sizeof hdr), 0);
    expect_fail(d6, NAD_SPLIT_TEST, NAD_EFORMAT, "t10k-images-idx3-ubyte");
    write_gz(path_in(d6, "t10k-images-idx3-ubyte.gz"), hdr, sizeof hdr);
    remove(path_in(d6, "t10k-images-idx3-ubyte"));
    expect_fail(d6, NAD_SPLIT_TEST, NAD_EFORMAT, "t10k-images-idx3-ubyte.gz");

    /* Gzip garbage: the magic, then nonsense. */
    const char *d7 = subdir("idx_garbage");
    write_idx(d7, "t10k", 2, 2, 2, 2, 0, 0);
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 77 + 13);
    junk[0] = 0x1f;
    junk[1] = 0x8b;
    assert_int_equal(tu_write_file(path_in(d7, "t10k-labels-idx1-ubyte"), junk, sizeof junk), 0);
    expect_fail(d7, NAD_SPLIT_TEST, NAD_EIO, "t10k-labels-idx1-ubyte");

    /* Half a pair names the missing file. */
    const char *d8 = subdir("idx_half");
    write_idx(d8, "t10k", 2, 2, 2, 2, 0, 0);
    remove(path_in(d8, "t10k-labels-idx1-ubyte"));
    expect_fail(d8, NAD_SPLIT_TEST, NAD_EIO, "no t10k-labels-idx1-ubyte[.gz]");
}

/* ---- .npy ------------------------------------------------------------------ */

static void test_npy_dtypes_and_layouts(void **state)
{
    (void)state;
    const char *dir = subdir("npy_types");
    enum { N = 4, C = 3, H = 2, W = 5 };
    nad_dataset *d = NULL;
    nad_err e = {{0}};

    /* uint8 N x H x W, format 1.0, int64 labels. */
    uint8_t u[N * H * W];
    for (int i = 0; i < N; i++)
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++)
                u[(i * H + r) * W + c] = pix(i, 0, r, c);
    write_npy(path_in(dir, "a_images.npy"), "|u1", "(4, 2, 5)", u, sizeof u);
    write_labels_i8(path_in(dir, "a_labels.npy"), N);
    assert_int_equal(nad_dataset_load(path_in(dir, "a"), NAD_SPLIT_TEST, &d, &e), NAD_OK);
    assert_int_equal(d->n, N);
    assert_int_equal(d->c, 1);
    assert_int_equal(d->h, H);
    assert_int_equal(d->w, W);
    assert_memory_equal(d->u8, u, sizeof u);
    for (int i = 0; i < N; i++)
        assert_int_equal(d->labels[i], i);
    assert_int_equal(d->n_classes, N);
    nad_dataset_free(d);

    /* uint8 N x H x W x C (HWC, converted to NCHW), format 2.0, uint8 labels. */
    uint8_t hwc[N * H * W * C];
    for (int i = 0; i < N; i++)
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++)
                for (int ch = 0; ch < C; ch++)
                    hwc[((i * H + r) * W + c) * C + ch] = pix(i, ch, r, c);
    write_npy_v(path_in(dir, "b_images.npy"), 2, "|u1", "False", "(4, 2, 5, 3)", hwc, sizeof hwc);
    uint8_t lu[N] = {3, 1, 4, 1};
    write_npy_v(path_in(dir, "b_labels.npy"), 2, "|u1", "False", "(4,)", lu, sizeof lu);
    assert_int_equal(nad_dataset_load(path_in(dir, "b"), NAD_SPLIT_TEST, &d, &e), NAD_OK);
    assert_int_equal(d->c, C);
    assert_int_equal(d->h, H);
    assert_int_equal(d->w, W);
    for (int i = 0; i < N; i++)
        for (int ch = 0; ch < C; ch++)
            for (int r = 0; r < H; r++)
                for (int c = 0; c < W; c++)
                    assert_int_equal(d->u8[((i * C + ch) * H + r) * W + c], pix(i, ch, r, c));
    assert_int_equal(d->labels[2], 4);
    assert_int_equal(d->n_classes, 5);
    nad_dataset_free(d);

    /* float32 N x C x H x W, format 3.0, int32 labels of shape N x 1. */
    float f[N * C * H * W];
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++)
        f[k] = (float)k * 0.25f - 3.0f;
    write_npy_v(path_in(dir, "c_images.npy"), 3, "<f4", "False", "(4, 3, 2, 5)", f, sizeof f);
    int32_t l4[N] = {0, 2, 2, 9};
    write_npy_v(path_in(dir, "c_labels.npy"), 3, "<i4", "False", "(4, 1)", l4, sizeof l4);
    assert_int_equal(nad_dataset_load(path_in(dir, "c_images.npy"), NAD_SPLIT_TEST, &d, &e), NAD_OK);
    assert_null(d->u8);
    assert_non_null(d->f32);
    assert_int_equal(d->c, C);
    assert_memory_equal(d->f32, f, sizeof f);
    assert_int_equal(d->labels[3], 9);
    assert_int_equal(d->n_classes, 10);
    nad_dataset_free(d);

    /* float64 NHWC with 1 channel, big-endian int16 labels. */
    double g[N * H * W];
    for (size_t k = 0; k < sizeof g / sizeof g[0]; k++)
        g[k] = (double)k / 3.0;
    write_npy(path_in(dir, "d_images.npy"), "<f8", "(4, 2, 5, 1)", g, sizeof g);
    uint8_t l2[2 * N] = {0, 1, 0, 0, 1, 2, 0, 7}; /* >i2: 1, 0, 258, 7 */
    write_npy(path_in(dir, "d_labels.npy"), ">i2", "(4,)", l2, sizeof l2);
    assert_int_equal(nad_dataset_load(path_in(dir, "d"), NAD_SPLIT_TRAIN, &d, &e), NAD_OK);
    assert_int_equal(d->c, 1);
    assert_int_equal(d->h, H);
    assert_int_equal(d->w, W);
    for (size_t k = 0; k < sizeof g / sizeof g[0]; k++)
        assert_true(d->f32[k] == (float)g[k]);
    assert_int_equal(d->labels[0], 1);
    assert_int_equal(d->labels[2], 258);
    assert_int_equal(d->n_classes, 259);
    nad_dataset_free(d);

    /* Big-endian float32 N x 1 x H x W (NCHW since dim 1 is 1). */
    uint8_t be[N * H * W * 4];
    for (int k = 0; k < N * H * W; k++) {
        float v = (float)k - 7.5f;
        uint32_t bits;
        memcpy(&bits, &v, 4);
        put_be32(be + 4 * k, bits);
    }
    write_npy(path_in(dir, "e_images.npy"), ">f4", "(4, 1, 2, 5)", be, sizeof be);
    write_labels_i8(path_in(dir, "e_labels.npy"), N);
    assert_int_equal(nad_dataset_load(path_in(dir, "e"), NAD_SPLIT_TEST, &d, &e), NAD_OK);
    assert_int_equal(d->c, 1);
    for (int k = 0; k < N * H * W; k++)
        assert_true(d->f32[k] == (float)k - 7.5f);
    nad_dataset_free(d);
}

static void test_npy_directory_names(void **state)
{
    (void)state;
    const char *d1 = subdir("npy_dir1"), *d2 = subdir("npy_dir2");
    uint8_t u[3 * 2 * 2] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    write_npy(path_in(d1, "test_images.npy"), "|u1", "(3, 2, 2)", u, sizeof u);
    write_labels_i8(path_in(d1, "test_labels.npy"), 3);
    write_npy(path_in(d2, "x_train.npy"), "|u1", "(2, 3, 2)", u, sizeof u);
    write_labels_i8(path_in(d2, "y_train.npy"), 2);
    nad_dataset *d = NULL;
    nad_err e = {{0}};
    assert_int_equal(nad_dataset_load(d1, NAD_SPLIT_TEST, &d, &e), NAD_OK);
    assert_int_equal(d->n, 3);
    assert_int_equal(d->h, 2);
    nad_dataset_free(d);
    assert_int_equal(nad_dataset_load(d2, NAD_SPLIT_TRAIN, &d, &e), NAD_OK);
    assert_int_equal(d->n, 2);
    assert_int_equal(d->h, 3);
    assert_memory_equal(d->u8, u, sizeof u);
    nad_dataset_free(d);
    expect_fail(d2, NAD_SPLIT_TEST, NAD_EIO, "x_test.npy + y_test.npy");
    remove(path_in(d1, "test_labels.npy"));
    expect_fail(d1, NAD_SPLIT_TEST, NAD_EIO, "no test_labels.npy");
}

static void test_npy_errors(void **state)
{
    (void)state;
    const char *dir = subdir("npy_bad");
    uint8_t u[2 * 2 * 2] = {0};
    write_labels_i8(path_in(dir, "ok_labels.npy"), 2);

    write_npy_v(path_in(dir, "fo_images.npy"), 1, "|u1", "True", "(2, 2, 2)", u, sizeof u);
    write_labels_i8(path_in(dir, "fo_labels.npy"), 2);
    expect_fail(path_in(dir, "fo"), NAD_SPLIT_TEST, NAD_EUNSUPPORTED, "fo_images.npy: fortran_order");

    write_npy(path_in(dir, "tr_images.npy"), "|u1", "(2, 2, 2)", u, sizeof u - 1);
    write_labels_i8(path_in(dir, "tr_labels.npy"), 2);
    expect_fail(path_in(dir, "tr"), NAD_SPLIT_TEST, NAD_EFORMAT, "tr_images.npy: truncated");

    write_npy(path_in(dir, "neg_images.npy"), "|u1", "(2, 2, 2)", u, sizeof u);
    int32_t neg[2] = {1, -3};
    write_npy(path_in(dir, "neg_labels.npy"), "<i4", "(2,)", neg, sizeof neg);
    expect_fail(path_in(dir, "neg"), NAD_SPLIT_TEST, NAD_EFORMAT, "neg_labels.npy: label -3 of image 1");

    write_npy(path_in(dir, "cnt_images.npy"), "|u1", "(2, 2, 2)", u, sizeof u);
    write_labels_i8(path_in(dir, "cnt_labels.npy"), 3);
    expect_fail(path_in(dir, "cnt"), NAD_SPLIT_TEST, NAD_EFORMAT, "holds 3 labels");

    write_npy(path_in(dir, "dt_images.npy"), "<i4", "(2, 1, 1)", neg, sizeof neg);
    write_labels_i8(path_in(dir, "dt_labels.npy"), 2);
    expect_fail(path_in(dir, "dt"), NAD_SPLIT_TEST, NAD_EUNSUPPORTED, "dt_images.npy: image dtype '<i4'");

    write_npy(path_in(dir, "fl_images.npy"), "|u1", "(2, 2, 2)", u, sizeof u);
    float fl[2] = {0, 1};
    write_npy(path_in(dir, "fl_labels.npy"), "<f4", "(2,)", fl, sizeof fl);
    expect_fail(path_in(dir, "fl"), NAD_SPLIT_TEST, NAD_EUNSUPPORTED, "fl_labels.npy: label dtype");

    write_npy(path_in(dir, "sh_images.npy"), "|u1", "(2, 4)", u, sizeof u);
    write_labels_i8(path_in(dir, "sh_labels.npy"), 2);
    expect_fail(path_in(dir, "sh"), NAD_SPLIT_TEST, NAD_ESHAPE, "sh_images.npy: images must be");

    /* Garbage, an absurd header length, a bad version, a malformed dict. */
    assert_int_equal(tu_write_file(path_in(dir, "gb_images.npy"), "hello world, not numpy", 22), 0);
    write_labels_i8(path_in(dir, "gb_labels.npy"), 2);
    expect_fail(path_in(dir, "gb"), NAD_SPLIT_TEST, NAD_EFORMAT, "gb_images.npy: not a .npy file");

    uint8_t big[16] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0xff, 0xff, 0xff, 0x7f, '{', '}', ' ', '\n'};
    assert_int_equal(tu_write_file(path_in(dir, "hl_images.npy"), big, sizeof big), 0);
    write_labels_i8(path_in(dir, "hl_labels.npy"), 2);
    expect_fail(path_in(dir, "hl"), NAD_SPLIT_TEST, NAD_EFORMAT, "hl_images.npy: absurd .npy header length");

    big[6] = 9;
    assert_int_equal(tu_write_file(path_in(dir, "vv_images.npy"), big, sizeof big), 0);
    write_labels_i8(path_in(dir, "vv_labels.npy"), 2);
    expect_fail(path_in(dir, "vv"), NAD_SPLIT_TEST, NAD_EUNSUPPORTED, "vv_images.npy: unsupported .npy format");

    write_npy_v(path_in(dir, "md_images.npy"), 1, "|u1", "False", "(2, 2", u, sizeof u);
    write_labels_i8(path_in(dir, "md_labels.npy"), 2);
    expect_fail(path_in(dir, "md"), NAD_SPLIT_TEST, NAD_EFORMAT, "md_images.npy: malformed");

    /* A shape claiming far more data than the file holds: no huge allocation. */
    write_npy(path_in(dir, "ab_images.npy"), "<f4", "(100000000, 3, 224, 224)", u, sizeof u);
    write_labels_i8(path_in(dir, "ab_labels.npy"), 2);
    expect_fail(path_in(dir, "ab"), NAD_SPLIT_TEST, NAD_EFORMAT, "ab_images.npy");

    /* A prefix whose labels file is missing. */
    write_npy(path_in(dir, "nl_images.npy"), "|u1", "(2, 2, 2)", u, sizeof u);
    expect_fail(path_in(dir, "nl"), NAD_SPLIT_TEST, NAD_EIO, "nl_labels.npy: no such file");
}

/* Random byte flips and cuts in .npy and IDX headers: every outcome must be
 * a clean load or a one-line error naming the file (ASan watches for the rest). */
static void test_header_mutations(void **state)
{
    (void)state;
    const char *dir = subdir("mutate");
    uint8_t u[2 * 3 * 4];
    for (size_t k = 0; k < sizeof u; k++)
        u[k] = (uint8_t)k;
    write_npy(path_in(dir, "m_images.npy"), "|u1", "(2, 3, 4)", u, sizeof u);
    write_labels_i8(path_in(dir, "m_labels.npy"), 2);
    size_t len = 0;
    uint8_t *good = tu_read_file(path_in(dir, "m_images.npy"), &len);
    assert_non_null(good);
    write_idx(dir, "t10k", 3, 2, 2, 3, 0, 0);
    size_t ilen = 0;
    uint8_t *igood = tu_read_file(path_in(dir, "t10k-images-idx3-ubyte"), &ilen);
    assert_non_null(igood);
    uint8_t *buf = malloc(len > ilen ? len : ilen);
    assert_non_null(buf);
    uint32_t seed = 12345;
    int ok = 0, failed = 0;
    for (int it = 0; it < 600; it++) {
        int npy = it % 3 != 0;
        const uint8_t *src = npy ? good : igood;
        size_t n = npy ? len : ilen, hdr = npy ? 128 : 16;
        memcpy(buf, src, n);
        seed = seed * 1103515245u + 12345u;
        int flips = 1 + (int)((seed >> 16) % 3);
        for (int f = 0; f < flips; f++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % hdr;
            seed = seed * 1103515245u + 12345u;
            buf[at] = (seed >> 20) & 1 ? (uint8_t)(seed >> 8) : (uint8_t)" (),:'0123456789{}"[(seed >> 9) % 18];
        }
        seed = seed * 1103515245u + 12345u;
        size_t cut = (seed >> 16) % 4 == 0 ? (seed >> 4) % n : n;
        const char *target = npy ? path_in(dir, "m_images.npy") : path_in(dir, "t10k-images-idx3-ubyte");
        assert_int_equal(tu_write_file(target, buf, cut), 0);
        nad_dataset *d = NULL;
        nad_err e = {{0}};
        nad_status rc = nad_dataset_load(npy ? path_in(dir, "m") : dir, NAD_SPLIT_TEST, &d, &e);
        if (rc == NAD_OK) {
            assert_non_null(d);
            assert_true(d->n >= 1 && (int64_t)d->c * d->h * d->w * d->n <= 24);
            ok++;
        } else {
            assert_null(d);
            assert_non_null(strstr(e.msg, npy ? "m_images.npy" : "t10k-"));
            assert_null(strchr(e.msg, '\n'));
            failed++;
        }
        nad_dataset_free(d);
    }
    assert_true(failed > 100);
    free(buf);
    free(good);
    free(igood);
}

/* ---- CIFAR-10 -------------------------------------------------------------- */

/* Writes n CIFAR records (labels (base+i) % 10) to path; extra bytes appended. */
static void write_cifar(const char *path, int n, int base, int extra)
{
    size_t len = (size_t)n * 3073 + (size_t)extra;
    uint8_t *b = calloc(1, len + 1);
    assert_non_null(b);
    for (int i = 0; i < n; i++) {
        uint8_t *r = b + (size_t)i * 3073;
        r[0] = (uint8_t)((base + i) % 10);
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    r[1 + (ch * 32 + y) * 32 + x] = pix(base + i, ch, y, x);
    }
    assert_int_equal(tu_write_file(path, b, len), 0);
    free(b);
}

static void test_cifar(void **state)
{
    (void)state;
    const char *dir = subdir("cifar");
    write_cifar(path_in(dir, "test_batch.bin"), 3, 0, 0);
    for (int k = 1; k <= 5; k++) {
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d.bin", k);
        write_cifar(path_in(dir, name), 2, 2 * (k - 1), 0);
    }
    nad_dataset *d = NULL;
    nad_err e = {{0}};
    assert_int_equal(nad_dataset_load(dir, NAD_SPLIT_TEST, &d, &e), NAD_OK);
    assert_int_equal(d->n, 3);
    assert_int_equal(d->c, 3);
    assert_int_equal(d->h, 32);
    assert_int_equal(d->w, 32);
    assert_int_equal(d->labels[2], 2);
    assert_int_equal(d->u8[(size_t)2 * 3072 + (1 * 32 + 4) * 32 + 7], pix(2, 1, 4, 7));
    nad_dataset_free(d);
    assert_int_equal(nad_dataset_load(dir, NAD_SPLIT_TRAIN, &d, &e), NAD_OK);
    assert_int_equal(d->n, 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(d->labels[i], i);
        assert_int_equal(d->u8[(size_t)i * 3072 + (2 * 32 + 31) * 32 + 30], pix(i, 2, 31, 30));
    }
    assert_int_equal(d->n_classes, 10);
    nad_dataset_free(d);

    write_cifar(path_in(dir, "test_batch.bin"), 3, 0, 100);
    expect_fail(dir, NAD_SPLIT_TEST, NAD_EFORMAT, "test_batch.bin: 9319 bytes is not a whole number");
    remove(path_in(dir, "data_batch_4.bin"));
    expect_fail(dir, NAD_SPLIT_TRAIN, NAD_EIO, "no data_batch_4.bin");
}

/* ---- detection ------------------------------------------------------------- */

static void test_detection_errors(void **state)
{
    (void)state;
    expect_fail("/nonexistent/nadapt/data", NAD_SPLIT_TEST, NAD_EIO,
                "/nonexistent/nadapt/data: no such file or directory");
    const char *empty = subdir("empty");
    expect_fail(empty, NAD_SPLIT_TEST, NAD_EIO, "no test split found (looked for t10k-images-idx3-ubyte[.gz]");
    expect_fail(empty, NAD_SPLIT_TEST, NAD_EIO, "test_batch.bin");
    const char *f = path_in(empty, "plain.txt");
    assert_int_equal(tu_write_file(f, "x", 1), 0);
    expect_fail(f, NAD_SPLIT_TEST, NAD_EINVAL, "plain.txt: is a file");
    nad_dataset *d = NULL;
    nad_err e = {{0}};
    assert_int_equal(nad_dataset_load(NULL, NAD_SPLIT_TEST, &d, &e), NAD_EINVAL);
    assert_null(d);
}

/* ---- normalised batches ---------------------------------------------------- */

static void test_batch_u8(void **state)
{
    (void)state;
    const char *dir = subdir("batch_u8");
    enum { N = 5, C = 3, H = 4, W = 3 };
    uint8_t u[N * C * H * W];
    for (size_t k = 0; k < sizeof u; k++)
        u[k] = (uint8_t)(k * 53 + 11); /* covers 0..255 with 180 values */
    write_npy(path_in(dir, "s_images.npy"), "|u1", "(5, 3, 4, 3)", u, sizeof u);
    write_labels_i8(path_in(dir, "s_labels.npy"), N);
    nad_dataset *d = NULL;
    nad_err e = {{0}};
    assert_int_equal(nad_dataset_load(path_in(dir, "s"), NAD_SPLIT_TEST, &d, &e), NAD_OK);
    assert_int_equal(d->c, C); /* dim 3 is 3 but dim 1 is 3 too: NCHW */

    const float mean3[3] = {0.1f, 0.5f, 0.9f}, std3[3] = {0.2f, 0.25f, 2.0f};
    const float mean1[1] = {0.2860f}, std1[1] = {0.3530f};
    float out[N * C * H * W];
    const int64_t idx[4] = {4, 0, 2, 4};
    const int per = C * H * W;

    /* Sequential images 1..3 with one mean/std for every channel. */
    assert_int_equal(nad_dataset_batch(d, NULL, 1, 3, mean1, std1, 1, out, &e), NAD_OK);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < per; k++) {
            uint8_t p = u[(1 + i) * per + k];
            float want = ((float)p / 255.0f - mean1[0]) / std1[0];
            assert_true(out[i * per + k] == want);
            assert_true(fabs((double)out[i * per + k] - ((double)p / 255.0 - 0.2860) / 0.3530) < 1e-5);
        }
    /* Indexed images with per-channel mean/std. */
    assert_int_equal(nad_dataset_batch(d, idx, 0, 4, mean3, std3, 3, out, &e), NAD_OK);
    for (int i = 0; i < 4; i++)
        for (int ch = 0; ch < C; ch++)
            for (int k = 0; k < H * W; k++) {
                uint8_t p = u[idx[i] * per + ch * H * W + k];
                float want = ((float)p / 255.0f - mean3[ch]) / std3[ch];
                assert_true(out[i * per + ch * H * W + k] == want);
            }
    /* Argument errors. */
    e.msg[0] = '\0';
    assert_int_equal(nad_dataset_batch(d, NULL, 0, 1, mean3, std3, 2, out, &e), NAD_EINVAL);
    assert_non_null(strstr(e.msg, "3 channels"));
    const float zero[1] = {0.0f};
    assert_int_equal(nad_dataset_batch(d, NULL, 0, 1, mean1, zero, 1, out, &e), NAD_EINVAL);
    assert_non_null(strstr(e.msg, "std[0]"));
    assert_int_equal(nad_dataset_batch(d, NULL, 3, 3, mean1, std1, 1, out, &e), NAD_EINVAL);
    const int64_t bad[1] = {5};
    assert_int_equal(nad_dataset_batch(d, bad, 0, 1, mean1, std1, 1, out, &e), NAD_EINVAL);
    assert_non_null(strstr(e.msg, "index 5"));
    nad_dataset_free(d);
}

static void test_batch_f32(void **state)
{
    (void)state;
    const char *dir = subdir("batch_f32");
    enum { N = 3, C = 2, H = 3, W = 4 };
    float f[N * C * H * W];
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++)
        f[k] = (float)k * 0.37f - 4.0f;
    write_npy(path_in(dir, "f_images.npy"), "<f4", "(3, 2, 3, 4)", f, sizeof f);
    write_labels_i8(path_in(dir, "f_labels.npy"), N);
    nad_dataset *d = NULL;
    nad_err e = {{0}};
    assert_int_equal(nad_dataset_load(path_in(dir, "f"), NAD_SPLIT_TEST, &d, &e), NAD_OK);
    assert_int_equal(d->c, C);
    assert_int_equal(d->w, W);
    const float mean[2] = {1.0f, -2.0f}, sd[2] = {0.5f, 3.0f};
    float out[N * C * H * W];
    assert_int_equal(nad_dataset_batch(d, NULL, 0, N, mean, sd, 2, out, &e), NAD_OK);
    for (int i = 0; i < N; i++)
        for (int ch = 0; ch < C; ch++)
            for (int k = 0; k < H * W; k++) {
                size_t at = (size_t)(i * C + ch) * H * W + (size_t)k;
                assert_true(out[at] == (f[at] - mean[ch]) / sd[ch]);
            }
    nad_dataset_free(d);
}

/* ---- the Fashion-MNIST fixture against the real IDX files ------------------ */

static void test_fmnist_fixture_matches_idx(void **state)
{
    (void)state;
    struct stat st;
    if (stat(FMNIST_DIR, &st) != 0 || stat(tu_src("examples/fixtures/fmnist_test256_images.npy"), &st) != 0)
        skip();
    nad_dataset *idx = NULL, *npy = NULL;
    nad_err e = {{0}};
    assert_int_equal(nad_dataset_load(FMNIST_DIR, NAD_SPLIT_TEST, &idx, &e), NAD_OK);
    assert_int_equal(nad_dataset_load(tu_src("examples/fixtures/fmnist_test256"), NAD_SPLIT_TRAIN, &npy, &e),
                     NAD_OK);
    assert_int_equal(idx->n, 10000);
    assert_int_equal(idx->n_classes, 10);
    assert_int_equal(npy->n, 256);
    assert_int_equal(npy->c, 1);
    assert_int_equal(npy->h, 28);
    assert_int_equal(npy->w, 28);
    assert_memory_equal(npy->u8, idx->u8, (size_t)256 * 28 * 28);
    assert_memory_equal(npy->labels, idx->labels, 256 * sizeof(int32_t));
    /* Fashion-MNIST's test set has 1000 images of each class. */
    int per_class[10] = {0};
    for (int64_t i = 0; i < idx->n; i++)
        per_class[idx->labels[i]]++;
    for (int k = 0; k < 10; k++)
        assert_int_equal(per_class[k], 1000);
    nad_dataset_free(idx);
    nad_dataset_free(npy);

    assert_int_equal(nad_dataset_load(FMNIST_DIR, NAD_SPLIT_TRAIN, &idx, &e), NAD_OK);
    assert_int_equal(idx->n, 60000);
    nad_dataset_free(idx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_raw_and_gz),
        cmocka_unit_test(test_idx_errors),
        cmocka_unit_test(test_npy_dtypes_and_layouts),
        cmocka_unit_test(test_npy_directory_names),
        cmocka_unit_test(test_npy_errors),
        cmocka_unit_test(test_header_mutations),
        cmocka_unit_test(test_cifar),
        cmocka_unit_test(test_detection_errors),
        cmocka_unit_test(test_batch_u8),
        cmocka_unit_test(test_batch_f32),
        cmocka_unit_test(test_fmnist_fixture_matches_idx),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
