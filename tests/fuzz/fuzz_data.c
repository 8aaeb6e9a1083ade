/*
 * libFuzzer harness for the dataset readers (nad_dataset_load): IDX (raw and
 * gzip), NumPy .npy and CIFAR-10 binary batches.
 *
 * Input layout: byte 0 picks the mode (mod 6), byte 1 + 1 is the count n of
 * the fixed, valid partner file written next to the fuzzed one, the rest is
 * the fuzzed file's content.  Each mode has its own directory under a
 * per-process /tmp folder, so the loader sees exactly one format there:
 *   0  test_images.npy   <- input,  test_labels.npy: n uint8 labels
 *   1  test_labels.npy   <- input,  test_images.npy: n x 4 x 4 uint8
 *   2  t10k-images-idx3-ubyte    <- input,  labels IDX (n)
 *   3  t10k-images-idx3-ubyte.gz <- input (gzip or not), labels IDX (n)
 *   4  t10k-labels-idx1-ubyte    <- input,  images IDX (n x 4 x 4)
 *   5  test_batch.bin (CIFAR-10)  <- input
 * A loaded dataset is checked for consistency and one batch is normalised.
 * Any crash, leak, hang or sanitizer report is a bug; error statuses are
 * expected.
 *
 *     CC=clang cmake -S . -B build-fz -DCMAKE_BUILD_TYPE=Debug -DNAD_FUZZ=ON
 *     cmake --build build-fz --target fuzz_data
 *     ./build-fz/fuzz_data -max_total_time=60 -max_len=262144 build-fz/corpus_data
 * (seeds: a mode byte and a count byte before a valid file; see setup.sh).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nadapt/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_MODES 6

static char g_root[64];

static void path_of(char *buf, size_t cap, int mode, const char *name)
{
    snprintf(buf, cap, "%s/m%d/%s", g_root, mode, name);
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (n && fwrite(p, 1, n, f) != n)
        abort();
    if (fclose(f) != 0)
        abort();
}

static void write_in(int mode, const char *name, const uint8_t *p, size_t n)
{
    char path[160];
    path_of(path, sizeof path, mode, name);
    write_file(path, p, n);
}

static void cleanup(void)
{
    static const char *names[] = {"test_images.npy", "test_labels.npy", "t10k-images-idx3-ubyte",
                                  "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte", "test_batch.bin"};
    char path[160];
    for (int m = 0; m < N_MODES; m++) {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            path_of(path, sizeof path, m, names[i]);
            unlink(path);
        }
        snprintf(path, sizeof path, "%s/m%d", g_root, m);
        rmdir(path);
    }
    rmdir(g_root);
}

static void setup_dirs(void)
{
    snprintf(g_root, sizeof g_root, "/tmp/nad_fuzz_data.%ld", (long)getpid());
    mkdir(g_root, 0700); /* may exist from an earlier run with this pid */
    char path[160];
    for (int m = 0; m < N_MODES; m++) {
        snprintf(path, sizeof path, "%s/m%d", g_root, m);
        mkdir(path, 0700);
    }
    atexit(cleanup);
}

/* A .npy 1.0 file with a '|u1' array of the given shape (1 or 3 dims). */
static size_t make_npy_u8(uint8_t *out, const char *shape, const uint8_t *payload, size_t n)
{
    char hdr[128];
    int len = snprintf(hdr, sizeof hdr, "{'descr': '|u1', 'fortran_order': False, 'shape': (%s), }", shape);
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    size_t hl = (size_t)len + (size_t)pad + 1;
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (uint8_t)(hl & 0xff);
    out[9] = (uint8_t)(hl >> 8);
    memcpy(out + 10, hdr, (size_t)len);
    memset(out + 10 + len, ' ', (size_t)pad);
    out[10 + len + pad] = '\n';
    memcpy(out + 10 + hl, payload, n);
    return 10 + hl + n;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* IDX labels (magic 0x801) or n x 4 x 4 images (magic 0x803). */
static size_t make_idx(uint8_t *out, int images, int n, const uint8_t *payload)
{
    be32(out, images ? 0x803u : 0x801u);
    be32(out + 4, (uint32_t)n);
    size_t off = 8, bytes = (size_t)n;
    if (images) {
        be32(out + 8, 4);
        be32(out + 12, 4);
        off = 16;
        bytes *= 16;
    }
    memcpy(out + off, payload, bytes);
    return off + bytes;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_root[0])
        setup_dirs();
    if (size < 2)
        return 0;
    int mode = data[0] % N_MODES;
    int n = data[1] + 1;
    const uint8_t *body = data + 2;
    size_t len = size - 2;

    uint8_t payload[256 * 16];
    for (int i = 0; i < 256 * 16; i++)
        payload[i] = (uint8_t)(i % 10); /* labels 0..9; pixels */
    uint8_t partner[256 * 16 + 256];
    char shape[32];
    size_t plen;

    switch (mode) {
    case 0:
        snprintf(shape, sizeof shape, "%d,", n);
        plen = make_npy_u8(partner, shape, payload, (size_t)n);
        write_in(mode, "test_labels.npy", partner, plen);
        write_in(mode, "test_images.npy", body, len);
        break;
    case 1:
        snprintf(shape, sizeof shape, "%d, 4, 4", n);
        plen = make_npy_u8(partner, shape, payload, (size_t)n * 16);
        write_in(mode, "test_images.npy", partner, plen);
        write_in(mode, "test_labels.npy", body, len);
        break;
    case 2:
    case 3:
        plen = make_idx(partner, 0, n, payload);
        write_in(mode, "t10k-labels-idx1-ubyte", partner, plen);
        write_in(mode, mode == 2 ? "t10k-images-idx3-ubyte" : "t10k-images-idx3-ubyte.gz", body, len);
        break;
    case 4:
        plen = make_idx(partner, 1, n, payload);
        write_in(mode, "t10k-images-idx3-ubyte", partner, plen);
        write_in(mode, "t10k-labels-idx1-ubyte", body, len);
        break;
    default:
        write_in(mode, "test_batch.bin", body, len);
        break;
    }

    char dir[96];
    snprintf(dir, sizeof dir, "%s/m%d", g_root, mode);
    nad_dataset *d = NULL;
    nad_err e;
    nad_status st = nad_dataset_load(dir, NAD_SPLIT_TEST, &d, &e);
    if (getenv("NAD_FUZZ_VERBOSE")) /* for looking at one input: says what the loader made of it */
        fprintf(stderr, "mode %d: %s\n", mode, st == NAD_OK ? "loaded" : e.msg);
    if (st != NAD_OK) {
        if (d)
            abort(); /* *out must be NULL on failure */
        return 0;
    }
    /* What loaded must be self-consistent. */
    if (d->n < 0 || d->c <= 0 || d->h <= 0 || d->w <= 0 || (d->n && (d->n_classes <= 0 || !d->labels)) ||
        (d->n && !d->u8 == !d->f32))
        abort();
    for (int64_t i = 0; i < d->n; i++)
        if (d->labels[i] < 0 || d->labels[i] >= d->n_classes)
            abort();
    int nb = d->n < 4 ? (int)d->n : 4;
    size_t per = (size_t)d->c * (size_t)d->h * (size_t)d->w;
    if (nb > 0 && per <= ((size_t)1 << 24) / (size_t)nb) {
        float *out = malloc((size_t)nb * per * sizeof(float));
        const float mean = 0.5f, stdv = 0.25f;
        if (out) {
            /* In range, valid normalisation: must succeed. */
            if (nad_dataset_batch(d, NULL, d->n - nb, nb, &mean, &stdv, 1, out, &e) != NAD_OK)
                abort();
            free(out);
        }
    }
    nad_dataset_free(d);
    return 0;
}
