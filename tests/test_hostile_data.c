/*
 * Hostile dataset files (issue 11, the dataset-reader classes): a FIFO or a
 * directory where a dataset file should be, gzip files cut short or
 * corrupted (a cut trailer, a flipped byte in the deflate data, a wrong CRC
 * or length, junk after the stream), float .npy images holding NaN or inf,
 * and label errors.  Each must fail quickly with one line that names the file
 * and the problem: through the library (status and message) and through the
 * CLI (`nadapt eval ... --data DIR`: exit status 1, one stderr line, nothing
 * on stdout).  Every file is made here, in a private temporary directory.
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
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "nadapt/data.h"
#include "testutil.h"

#define MODEL "examples/fixtures/cnn_bn.op13.onnx"

/* ---- helpers that write test files ---------------------------------------- */

/* A fresh subdirectory of the test's temporary directory. */
static const char *subdir(const char *name)
{
    static char buf[8][512];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", tu_tmpdir(), name);
    assert_int_equal(mkdir(b, 0755), 0);
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

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Gzip-compresses data (one member, no file name in the header) into a
 * malloc'd buffer; *len receives its size. */
static uint8_t *gzip_bytes(const void *data, size_t n, size_t *len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)n) + 64;
    uint8_t *out = malloc(cap);
    assert_non_null(out);
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* The raw bytes of an n-image IDX images file (rows x cols) and its labels
 * file (labels i % 10); caller frees both. */
static void idx_bytes(int n, int rows, int cols, uint8_t **img, size_t *ilen, uint8_t **lab, size_t *llen)
{
    *ilen = 16 + (size_t)n * rows * cols;
    *llen = 8 + (size_t)n;
    *img = malloc(*ilen);
    *lab = malloc(*llen);
    assert_non_null(*img);
    assert_non_null(*lab);
    put_be32(*img, 0x00000803);
    put_be32(*img + 4, (uint32_t)n);
    put_be32(*img + 8, (uint32_t)rows);
    put_be32(*img + 12, (uint32_t)cols);
    for (size_t k = 16; k < *ilen; k++)
        (*img)[k] = (uint8_t)((k * 37 + (k / 7) * 11) & 0xff);
    put_be32(*lab, 0x00000801);
    put_be32(*lab + 4, (uint32_t)n);
    for (int i = 0; i < n; i++)
        (*lab)[8 + i] = (uint8_t)(i % 10);
}

/* Writes a valid test split of 28x28 IDX files (the images gzip-compressed,
 * the labels raw) into dir; returns the compressed images in *gz (caller frees). */
static void write_idx_gz(const char *dir, uint8_t **gz, size_t *gzlen)
{
    uint8_t *img, *lab;
    size_t ilen, llen;
    idx_bytes(12, 28, 28, &img, &ilen, &lab, &llen);
    *gz = gzip_bytes(img, ilen, gzlen);
    assert_int_equal(tu_write_file(path_in(dir, "t10k-images-idx3-ubyte.gz"), *gz, *gzlen), 0);
    assert_int_equal(tu_write_file(path_in(dir, "t10k-labels-idx1-ubyte"), lab, llen), 0);
    free(img);
    free(lab);
}

/* Writes a version 1.0 .npy file with the given descr and shape text. */
static void write_npy(const char *path, const char *descr, const char *shape, const void *data, size_t len)
{
    char dict[256];
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    size_t total = 10 + (size_t)dl + 1, pad = (64 - total % 64) % 64, hlen = (size_t)dl + pad + 1;
    uint8_t *buf = malloc(10 + hlen + len);
    assert_non_null(buf);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (uint8_t)hlen;
    buf[9] = (uint8_t)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)dl);
    memset(buf + 10 + dl, ' ', pad);
    buf[10 + hlen - 1] = '\n';
    memcpy(buf + 10 + hlen, data, len);
    assert_int_equal(tu_write_file(path, buf, 10 + hlen + len), 0);
    free(buf);
}

/* n int64 labels i % 10. */
static void write_labels(const char *path, int n)
{
    int64_t l[64];
    assert_true(n <= 64);
    for (int i = 0; i < n; i++)
        l[i] = i % 10;
    char shape[32];
    snprintf(shape, sizeof shape, "(%d,)", n);
    write_npy(path, "<i8", shape, l, (size_t)n * sizeof l[0]);
}

/* ---- checks ------------------------------------------------------------------ */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/*
 * Loads path's test split through the library and expects status want and a
 * one-line message containing each of the NULL-terminated needles.  An alarm
 * turns a hang (a FIFO opened blocking) into a failed test instead of a stuck one.
 */
static void lib_fails(const char *path, nad_status want, ...)
{
    nad_dataset *d = (nad_dataset *)0x1;
    nad_err e = {{0}};
    alarm(20);
    double t0 = now();
    nad_status rc = nad_dataset_load(path, NAD_SPLIT_TEST, &d, &e);
    double dt = now() - t0;
    alarm(0);
    if (rc != want)
        fail_msg("loading %s: got status %d '%s', wanted %d", path, (int)rc, e.msg, (int)want);
    va_list ap;
    va_start(ap, want);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
        if (!strstr(e.msg, s))
            fail_msg("loading %s: message '%s' lacks '%s'", path, e.msg, s);
    va_end(ap);
    assert_null(d);
    assert_null(strchr(e.msg, '\n'));
    assert_true(dt < 5.0);
}

/* Runs `nadapt eval MODEL --data path` and expects exit 1 within seconds, nothing
 * on stdout and exactly one stderr line holding each needle. */
static void cli_fails(const char *path, ...)
{
    char args[2048], out[4096], err[4096];
    snprintf(args, sizeof args, "eval '%s' --data '%s'", tu_src(MODEL), path);
    alarm(60); /* a hang kills the test rather than stalling the suite */
    double t0 = now();
    int st = tu_run_cli(args, out, sizeof out, err, sizeof err);
    double dt = now() - t0;
    alarm(0);
    if (st != 1 || out[0] || tu_count_lines(err) != 1)
        fail_msg("eval --data %s: exit %d, stdout '%s', stderr '%s'", path, st, out, err);
    va_list ap;
    va_start(ap, path);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
        if (!strstr(err, s))
            fail_msg("eval --data %s: stderr '%s' lacks '%s'", path, err, s);
    va_end(ap);
    assert_true(dt < 10.0);
}

/* Both of the above. */
#define FAILS(path, status, ...)                                                                                       \
    do {                                                                                                               \
        lib_fails(path, status, __VA_ARGS__, (const char *)NULL);                                                      \
        cli_fails(path, __VA_ARGS__, (const char *)NULL);                                                              \
    } while (0)

/* ---- special files in place of dataset files ------------------------------------ */

static void test_fifo_as_dataset_file(void **state)
{
    (void)state;
    uint8_t *img, *lab;
    size_t ilen, llen;
    idx_bytes(4, 28, 28, &img, &ilen, &lab, &llen);

    /* IDX images as a FIFO (no writer: a blocking open would wait forever). */
    const char *d1 = subdir("fifo_idx");
    assert_int_equal(mkfifo(path_in(d1, "t10k-images-idx3-ubyte"), 0600), 0);
    assert_int_equal(tu_write_file(path_in(d1, "t10k-labels-idx1-ubyte"), lab, llen), 0);
    FAILS(d1, NAD_EIO, "t10k-images-idx3-ubyte: not a regular file (a FIFO");

    /* IDX labels as a FIFO, with a .gz name. */
    const char *d2 = subdir("fifo_idx_gz");
    assert_int_equal(tu_write_file(path_in(d2, "t10k-images-idx3-ubyte"), img, ilen), 0);
    assert_int_equal(mkfifo(path_in(d2, "t10k-labels-idx1-ubyte.gz"), 0600), 0);
    FAILS(d2, NAD_EIO, "t10k-labels-idx1-ubyte.gz: not a regular file");

    /* A .npy images file as a FIFO, in a directory and as a prefix. */
    const char *d3 = subdir("fifo_npy");
    assert_int_equal(mkfifo(path_in(d3, "test_images.npy"), 0600), 0);
    write_labels(path_in(d3, "test_labels.npy"), 4);
    FAILS(d3, NAD_EIO, "test_images.npy: not a regular file");
    assert_int_equal(mkfifo(path_in(d3, "p_images.npy"), 0600), 0);
    write_labels(path_in(d3, "p_labels.npy"), 4);
    FAILS(path_in(d3, "p"), NAD_EIO, "p_images.npy: not a regular file");

    /* A CIFAR batch as a FIFO. */
    const char *d4 = subdir("fifo_cifar");
    assert_int_equal(mkfifo(path_in(d4, "test_batch.bin"), 0600), 0);
    FAILS(d4, NAD_EIO, "test_batch.bin: not a regular file");

    /* The dataset path itself as a FIFO. */
    const char *f5 = path_in(tu_tmpdir(), "fifo_root");
    assert_int_equal(mkfifo(f5, 0600), 0);
    FAILS(f5, NAD_EIO, "fifo_root: not a regular file or directory");

    /* A character device. */
    struct stat st;
    if (stat("/dev/zero", &st) == 0 && S_ISCHR(st.st_mode)) {
        const char *d6 = subdir("dev_idx");
        assert_int_equal(symlink("/dev/zero", path_in(d6, "t10k-images-idx3-ubyte")), 0);
        assert_int_equal(tu_write_file(path_in(d6, "t10k-labels-idx1-ubyte"), lab, llen), 0);
        FAILS(d6, NAD_EIO, "t10k-images-idx3-ubyte: not a regular file");
    }
    free(img);
    free(lab);
}

static void test_directory_as_dataset_file(void **state)
{
    (void)state;
    uint8_t *img, *lab;
    size_t ilen, llen;
    idx_bytes(4, 28, 28, &img, &ilen, &lab, &llen);

    const char *d1 = subdir("dir_idx");
    assert_int_equal(mkdir(path_in(d1, "t10k-images-idx3-ubyte"), 0755), 0);
    assert_int_equal(tu_write_file(path_in(d1, "t10k-labels-idx1-ubyte"), lab, llen), 0);
    FAILS(d1, NAD_EIO, "t10k-images-idx3-ubyte: is a directory");

    /* A regular .gz file next to a directory of the raw name: the file wins. */
    assert_int_equal(tu_write_file(path_in(d1, "t10k-images-idx3-ubyte.gz"), img, ilen), 0);
    nad_dataset *d = NULL;
    nad_err e = {{0}};
    assert_int_equal(nad_dataset_load(d1, NAD_SPLIT_TEST, &d, &e), NAD_OK);
    assert_int_equal(d->n, 4);
    nad_dataset_free(d);

    const char *d2 = subdir("dir_npy");
    assert_int_equal(mkdir(path_in(d2, "q_images.npy"), 0755), 0);
    write_labels(path_in(d2, "q_labels.npy"), 4);
    FAILS(path_in(d2, "q"), NAD_EIO, "q_images.npy: is a directory");

    const char *d3 = subdir("dir_cifar");
    assert_int_equal(mkdir(path_in(d3, "test_batch.bin"), 0755), 0);
    FAILS(d3, NAD_EIO, "test_batch.bin: is a directory");
    free(img);
    free(lab);
}

/* ---- damaged gzip ------------------------------------------------------------- */

/* Writes the images file of dir as gz[0..len) and expects the load to fail with needle. */
static void gz_case(const char *name, const uint8_t *gz, size_t len, const char *needle)
{
    const char *dir = subdir(name);
    uint8_t *good;
    size_t glen;
    write_idx_gz(dir, &good, &glen); /* the labels file, and a good images file to overwrite */
    free(good);
    assert_int_equal(tu_write_file(path_in(dir, "t10k-images-idx3-ubyte.gz"), gz, len), 0);
    FAILS(dir, NAD_EFORMAT, "t10k-images-idx3-ubyte.gz: truncated or corrupt gzip data (", needle);
}

static void test_gzip_damage(void **state)
{
    (void)state;
    const char *okdir = subdir("gz_ok");
    uint8_t *gz;
    size_t len;
    write_idx_gz(okdir, &gz, &len);
    nad_dataset *d = NULL;
    nad_err e = {{0}};
    assert_int_equal(nad_dataset_load(okdir, NAD_SPLIT_TEST, &d, &e), NAD_OK);
    assert_int_equal(d->n, 12);
    nad_dataset_free(d);
    assert_true(len > 100);
    uint8_t *bad = malloc(len + 64);
    assert_non_null(bad);

    /* The trailer cut: the last 4 bytes (ISIZE), then all 8 (CRC too). */
    gz_case("gz_cut4", gz, len - 4, "ends inside the gzip stream");
    gz_case("gz_cut8", gz, len - 8, "ends inside the gzip stream");
    /* Cut in the middle of the deflate data, and inside the header. */
    gz_case("gz_cut_mid", gz, len / 2, "ends inside the gzip stream");
    gz_case("gz_cut_hdr", gz, 6, "ends inside the gzip header");

    /* One flipped byte in the middle of the deflate data. */
    memcpy(bad, gz, len);
    bad[10 + (len - 18) / 2] ^= 0x10;
    gz_case("gz_flip", bad, len, "bytes of data");

    /* A wrong CRC-32, then a wrong length, in the trailer. */
    memcpy(bad, gz, len);
    bad[len - 8] ^= 0x01;
    gz_case("gz_crc", bad, len, "CRC-32 mismatch");
    memcpy(bad, gz, len);
    bad[len - 4] ^= 0x01;
    gz_case("gz_isize", bad, len, "length mismatch");

    /* Junk after the stream is refused; zero padding and a second member are not. */
    memcpy(bad, gz, len);
    memcpy(bad + len, "junk", 4);
    gz_case("gz_junk", bad, len + 4, "not gzip after the end");
    const char *pad = subdir("gz_pad");
    uint8_t *same;
    size_t same_len;
    write_idx_gz(pad, &same, &same_len);
    free(same);
    memcpy(bad, gz, len);
    memset(bad + len, 0, 64);
    assert_int_equal(tu_write_file(path_in(pad, "t10k-images-idx3-ubyte.gz"), bad, len + 64), 0);
    assert_int_equal(nad_dataset_load(pad, NAD_SPLIT_TEST, &d, &e), NAD_OK);
    nad_dataset_free(d);

    /* Two members: the header and the first images in one, the rest in another. */
    uint8_t *img, *lab;
    size_t ilen, llen, l1, l2;
    idx_bytes(12, 28, 28, &img, &ilen, &lab, &llen);
    uint8_t *m1 = gzip_bytes(img, 100, &l1), *m2 = gzip_bytes(img + 100, ilen - 100, &l2);
    uint8_t *cat = malloc(l1 + l2);
    assert_non_null(cat);
    memcpy(cat, m1, l1);
    memcpy(cat + l1, m2, l2);
    const char *two = subdir("gz_two");
    assert_int_equal(tu_write_file(path_in(two, "t10k-images-idx3-ubyte.gz"), cat, l1 + l2), 0);
    assert_int_equal(tu_write_file(path_in(two, "t10k-labels-idx1-ubyte"), lab, llen), 0);
    assert_int_equal(nad_dataset_load(two, NAD_SPLIT_TEST, &d, &e), NAD_OK);
    assert_int_equal(d->n, 12);
    assert_memory_equal(d->u8, img + 16, ilen - 16);
    nad_dataset_free(d);
    /* ... and the second member's CRC is checked too. */
    cat[l1 + l2 - 6] ^= 0x40;
    assert_int_equal(tu_write_file(path_in(two, "t10k-images-idx3-ubyte.gz"), cat, l1 + l2), 0);
    lib_fails(two, NAD_EFORMAT, "CRC-32 mismatch", (const char *)NULL);

    /* A damaged gzip CIFAR batch (read whole, not through a header). */
    uint8_t rec[2 * 3073];
    for (size_t k = 0; k < sizeof rec; k++)
        rec[k] = (uint8_t)(k % 3073 == 0 ? 3 : k * 7);
    size_t clen;
    uint8_t *cgz = gzip_bytes(rec, sizeof rec, &clen);
    const char *cdir = subdir("gz_cifar");
    assert_int_equal(tu_write_file(path_in(cdir, "test_batch.bin"), cgz, clen - 4), 0);
    FAILS(cdir, NAD_EFORMAT, "test_batch.bin: truncated or corrupt gzip data (");
    cgz[clen - 7] ^= 0x02;
    assert_int_equal(tu_write_file(path_in(cdir, "test_batch.bin"), cgz, clen), 0);
    FAILS(cdir, NAD_EFORMAT, "test_batch.bin: truncated or corrupt gzip data (CRC-32 mismatch");

    /* A gzip .npy with its trailer cut. */
    float f[4 * 28 * 28];
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++)
        f[k] = (float)k / 100.0f;
    const char *ndir = subdir("gz_npy");
    write_npy(path_in(ndir, "test_images.npy"), "<f4", "(4, 1, 28, 28)", f, sizeof f);
    write_labels(path_in(ndir, "test_labels.npy"), 4);
    size_t nlen = 0, nz = 0;
    uint8_t *raw = tu_read_file(path_in(ndir, "test_images.npy"), &nlen);
    assert_non_null(raw);
    uint8_t *ngz = gzip_bytes(raw, nlen, &nz);
    assert_int_equal(tu_write_file(path_in(ndir, "test_images.npy"), ngz, nz - 3), 0);
    FAILS(ndir, NAD_EFORMAT, "test_images.npy: truncated or corrupt gzip data (");

    free(raw);
    free(ngz);
    free(cgz);
    free(cat);
    free(m1);
    free(m2);
    free(img);
    free(lab);
    free(bad);
    free(gz);
}

/* ---- non-finite float images ---------------------------------------------------- */

static void test_nonfinite_npy_images(void **state)
{
    (void)state;
    enum { N = 4, PER = 28 * 28 };
    float f[N * PER];
    double g[N * PER];
    for (size_t k = 0; k < N * PER; k++) {
        f[k] = (float)(k % 255) / 255.0f;
        g[k] = (double)f[k];
    }
    const char *dir = subdir("nan");
    write_labels(path_in(dir, "test_labels.npy"), N);

    f[2 * PER + 17] = NAN;
    write_npy(path_in(dir, "test_images.npy"), "<f4", "(4, 1, 28, 28)", f, sizeof f);
    FAILS(dir, NAD_EFORMAT, "test_images.npy: image values must be finite (NaN at image 2)");

    f[2 * PER + 17] = 0.5f;
    f[3 * PER] = -INFINITY;
    write_npy(path_in(dir, "test_images.npy"), "<f4", "(4, 28, 28)", f, sizeof f);
    FAILS(dir, NAD_EFORMAT, "test_images.npy: image values must be finite (-inf at image 3)");

    /* float64, NHWC: converted first, still caught with the right image index. */
    g[1 * PER + 5] = INFINITY;
    write_npy(path_in(dir, "test_images.npy"), "<f8", "(4, 28, 28, 1)", g, sizeof g);
    FAILS(dir, NAD_EFORMAT, "test_images.npy: image values must be finite (inf at image 1)");

    /* Finite in float64 but not in float32. */
    g[1 * PER + 5] = 0.0;
    g[3 * PER + 9] = 1e300;
    write_npy(path_in(dir, "test_images.npy"), "<f8", "(4, 1, 28, 28)", g, sizeof g);
    FAILS(dir, NAD_EFORMAT, "test_images.npy: image values must fit float32 (1e+300 at image 3)");

    /* A header whose dtype string is cut off is damage, not a structured dtype. */
    {
        static const char hdr[] = "\x93NUMPY\x01\x00\x14\x00{'descr': '<f4      \n";
        assert_int_equal(tu_write_file(path_in(dir, "test_images.npy"), hdr, sizeof hdr - 1), 0);
        FAILS(dir, NAD_EFORMAT, "test_images.npy: malformed or cut-off .npy header");
    }

    /* Clean data loads. */
    g[3 * PER + 9] = 0.25;
    write_npy(path_in(dir, "test_images.npy"), "<f8", "(4, 1, 28, 28)", g, sizeof g);
    nad_dataset *d = NULL;
    nad_err e = {{0}};
    assert_int_equal(nad_dataset_load(dir, NAD_SPLIT_TEST, &d, &e), NAD_OK);
    assert_true(d->f32[3 * PER + 9] == 0.25f);
    nad_dataset_free(d);
}

/* ---- label errors name the file ---------------------------------------------------- */

static void test_label_errors_name_the_file(void **state)
{
    (void)state;
    uint8_t *img, *lab;
    size_t ilen, llen;
    idx_bytes(6, 28, 28, &img, &ilen, &lab, &llen);
    const char *d1 = subdir("lab_count");
    assert_int_equal(tu_write_file(path_in(d1, "t10k-images-idx3-ubyte"), img, ilen), 0);
    put_be32(lab + 4, 5);
    assert_int_equal(tu_write_file(path_in(d1, "t10k-labels-idx1-ubyte"), lab, llen - 1), 0);
    FAILS(d1, NAD_EFORMAT, "t10k-labels-idx1-ubyte: holds 5 labels but ", "t10k-images-idx3-ubyte holds 6 images");

    const char *d2 = subdir("lab_count_npy");
    float f[3 * 28 * 28] = {0};
    write_npy(path_in(d2, "test_images.npy"), "<f4", "(3, 28, 28)", f, sizeof f);
    write_labels(path_in(d2, "test_labels.npy"), 4);
    FAILS(d2, NAD_EFORMAT, "test_labels.npy: holds 4 labels but ", "test_images.npy holds 3 images");

    /* A CIFAR label outside 0..9, in the third training batch: that file is named. */
    const char *d3 = subdir("lab_cifar");
    uint8_t rec[3073] = {0};
    for (int k = 1; k <= 5; k++) {
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d.bin", k);
        rec[0] = k == 3 ? 12 : (uint8_t)k;
        assert_int_equal(tu_write_file(path_in(d3, name), rec, sizeof rec), 0);
    }
    nad_dataset *d = (nad_dataset *)0x1;
    nad_err e = {{0}};
    assert_int_equal(nad_dataset_load(d3, NAD_SPLIT_TRAIN, &d, &e), NAD_EFORMAT);
    assert_null(d);
    assert_non_null(strstr(e.msg, "data_batch_3.bin: label 12 of record 0 is not a CIFAR-10 class (0..9)"));
    free(img);
    free(lab);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_as_dataset_file),
        cmocka_unit_test(test_directory_as_dataset_file),
        cmocka_unit_test(test_gzip_damage),
        cmocka_unit_test(test_nonfinite_npy_images),
        cmocka_unit_test(test_label_errors_name_the_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
