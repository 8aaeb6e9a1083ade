/*
 * nadapt eval, end to end through the CLI: every Fashion-MNIST fixture model
 * (opset 11 and 13) must reach torch's top-1 on the 10,000 test images
 * (manifest.tsv's correct count, within one image), agree with torch's own
 * logits for the first 64 images, give the same answer for any batch size and
 * thread count, read the .npy fixture, and fail cleanly on bad input.
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

#include "nadapt/data.h"
#include "testutil.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"
#define NORM "--mean 0.2860 --std 0.3530"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* Images evaluated per fixture: all 10,000 normally; under ASan a prefix
 * (the engine is ~10x slower there), checked against torch's logits instead. */
#define FULL_LIMIT (UNDER_ASAN ? 64 : 0)

static char out[1 << 16], err[1 << 16];

/* Value of a numeric JSON field "key" in s, or NAN when absent. */
static double json_num(const char *s, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(s, pat);
    if (!p)
        return NAN;
    return strtod(p + strlen(pat), NULL);
}

/* Runs `nadapt eval args`, expecting success and exactly one JSON line. */
static void run_ok(const char *args)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "eval %s --json", args);
    int rc = tu_run_cli(cmd, out, sizeof out, err, sizeof err);
    if (rc != 0)
        fail_msg("nadapt %s: exit %d, stderr: %s", cmd, rc, err);
    assert_int_equal(tu_count_lines(out), 1);
    assert_true(out[0] == '{');
    assert_non_null(strstr(out, "}\n"));
}

/* Runs `nadapt eval args`, expecting exit 1, one stderr line naming needle, no stdout. */
static void run_fail(const char *args, const char *needle)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "eval %s", args);
    int rc = tu_run_cli(cmd, out, sizeof out, err, sizeof err);
    if (rc != 1 || !strstr(err, needle) || strncmp(err, "nadapt eval: ", 13) != 0)
        fail_msg("nadapt %s: exit %d, stderr '%s' (wanted exit 1 and '%s')", cmd, rc, err, needle);
    assert_int_equal(tu_count_lines(err), 1);
    assert_string_equal(out, "");
}

/* One manifest row. */
typedef struct fixture {
    char name[64];
    long correct; /* torch's correct test images out of 10,000 */
} fixture;

/* Reads manifest.tsv (header row names the columns); returns the row count. */
static int read_manifest(fixture *fx, int max)
{
    char *text = tu_read_file(tu_src("examples/fixtures/manifest.tsv"), NULL);
    assert_non_null(text);
    int col_name = -1, col_correct = -1, n = 0, line = 0;
    char *save = NULL;
    for (char *ln = strtok_r(text, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save), line++) {
        char *fsave = NULL;
        int col = 0;
        fixture f = {{0}, -1};
        for (char *tok = strtok_r(ln, "\t", &fsave); tok; tok = strtok_r(NULL, "\t", &fsave), col++) {
            if (line == 0) {
                if (strcmp(tok, "name") == 0)
                    col_name = col;
                if (strcmp(tok, "correct") == 0)
                    col_correct = col;
            } else if (col == col_name) {
                snprintf(f.name, sizeof f.name, "%s", tok);
            } else if (col == col_correct) {
                f.correct = strtol(tok, NULL, 10);
            }
        }
        if (line == 0) {
            assert_true(col_name >= 0 && col_correct >= 0);
        } else if (f.name[0] && n < max) {
            assert_true(f.correct > 0 && f.correct <= 10000);
            fx[n++] = f;
        }
    }
    free(text);
    return n;
}

/* Torch's correct top-1 / top-5 count over the first 64 test images, from
 * examples/fixtures/<name>.logits64.f32 (64 x 10 floats) and the labels. */
static void torch_first64(const char *name, const int32_t *labels, int *top1, int *top5)
{
    char rel[2048];
    size_t len = 0;
    snprintf(rel, sizeof rel, "examples/fixtures/%s.logits64.f32", name);
    float *z = tu_read_file(tu_src(rel), &len);
    assert_non_null(z);
    assert_int_equal(len, 64 * 10 * sizeof(float));
    *top1 = *top5 = 0;
    for (int i = 0; i < 64; i++) {
        const float *r = z + i * 10;
        int best = 0, above = 0;
        for (int j = 0; j < 10; j++) {
            best = r[j] > r[best] ? j : best;
            above += r[j] > r[labels[i]];
        }
        *top1 += best == labels[i];
        *top5 += above < 5;
    }
    free(z);
}

static int have_data(void)
{
    struct stat st;
    return stat(FMNIST_DIR, &st) == 0 && stat(tu_src("examples/fixtures/manifest.tsv"), &st) == 0;
}

/* Every fixture, both opsets: full test set vs torch, first 64 vs torch's logits. */
static void test_fixtures_match_torch(void **state)
{
    (void)state;
    if (!have_data())
        skip();
    fixture fx[16];
    int n = read_manifest(fx, 16);
    assert_true(n >= 1);
    nad_dataset *npy = NULL;
    nad_err e = {{0}};
    assert_int_equal(nad_dataset_load(tu_src("examples/fixtures/fmnist_test256"), NAD_SPLIT_TEST, &npy, &e), NAD_OK);
    for (int i = 0; i < n; i++) {
        int t1 = 0, t5 = 0;
        torch_first64(fx[i].name, npy->labels, &t1, &t5);
        for (int opset = 11; opset <= 13; opset += 2) {
            char rel[2048], args[6144];
            snprintf(rel, sizeof rel, "examples/fixtures/%s.op%d.onnx", fx[i].name, opset);
            const char *model = tu_src(rel);

            snprintf(args, sizeof args, "'%s' --data %s " NORM " --limit 64 --batch 24", model, FMNIST_DIR);
            run_ok(args);
            double c1 = json_num(out, "correct"), c5 = json_num(out, "correct5");
            if (fabs(c1 - t1) > 1 || fabs(c5 - t5) > 1)
                fail_msg("%s first 64: top-1 %g top-5 %g, torch %d %d", rel, c1, c5, t1, t5);

            if (FULL_LIMIT)
                continue;
            snprintf(args, sizeof args, "'%s' --data %s " NORM, model, FMNIST_DIR);
            run_ok(args);
            double images = json_num(out, "images"), correct = json_num(out, "correct");
            double top1 = json_num(out, "top1"), top5 = json_num(out, "top5");
            print_message("%s: top-1 %.4f (%g correct, torch %ld), top-5 %.4f, %.0f images/s\n", rel, top1, correct,
                          fx[i].correct, top5, json_num(out, "images_per_s"));
            assert_true(images == 10000);
            if (fabs(correct - (double)fx[i].correct) > 1)
                fail_msg("%s: %g correct, torch had %ld", rel, correct, fx[i].correct);
            assert_true(fabs(top1 - correct / 10000) < 1e-6);
            assert_true(top5 >= top1 && top5 <= 1.0);
            assert_true(json_num(out, "images_per_s") > 0);
            assert_non_null(strstr(out, "\"split\": \"test\""));
            assert_true(json_num(out, "batch") == 64 && json_num(out, "threads") == 1);
        }
    }
    nad_dataset_free(npy);
}

/* The 256-image .npy fixture gives what the same 256 IDX images give, and
 * the answer does not depend on the batch size (partial last batch). */
static void test_npy_and_batch_sizes(void **state)
{
    (void)state;
    if (!have_data())
        skip();
    char model[1024], args[6144];
    snprintf(model, sizeof model, "%s", tu_src("examples/fixtures/cnn_bn.op13.onnx"));
    snprintf(args, sizeof args, "'%s' --data %s " NORM " --limit 256", model, FMNIST_DIR);
    run_ok(args);
    double want = json_num(out, "correct"), want5 = json_num(out, "correct5");
    assert_true(json_num(out, "images") == 256);
    const char *variants[] = {"--batch 1", "--batch 7", "--batch 256", "--batch 1000"};
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        snprintf(args, sizeof args, "'%s' --data '%s' " NORM " %s", model,
                 tu_src("examples/fixtures/fmnist_test256"), variants[v]);
        run_ok(args);
        assert_true(json_num(out, "images") == 256);
        if (json_num(out, "correct") != want || json_num(out, "correct5") != want5)
            fail_msg("%s: %g/%g correct, %g/%g with IDX --limit 256", variants[v], json_num(out, "correct"),
                     json_num(out, "correct5"), want, want5);
    }
    /* The human summary names the numbers too. */
    snprintf(args, sizeof args, "eval '%s' --data '%s' " NORM, model, tu_src("examples/fixtures/fmnist_test256"));
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "top-1"));
    assert_non_null(strstr(out, "images/s"));
    assert_string_equal(err, "");
    /* Without --mean/--std eval normalises as train does (Fashion-MNIST's),
     * so a plain eval of a shipped model gives its accuracy, not 12%. */
    snprintf(args, sizeof args, "'%s' --data '%s'", model, tu_src("examples/fixtures/fmnist_test256"));
    run_ok(args);
    if (json_num(out, "correct") != want)
        fail_msg("default normalisation: %g correct, %g with " NORM, json_num(out, "correct"), want);
}

/* Threads split the batch; every run must give the single-thread answer
 * (run several times: a race shows up as a different count now and then). */
static void test_threads_match_one_thread(void **state)
{
    (void)state;
    char npy[1024], rel[256], args[6144];
    /* tu_src's buffers rotate: keep a copy. */
    snprintf(npy, sizeof npy, "%s", tu_src("examples/fixtures/fmnist_test256"));
    const char *names[] = {"cnn_bn.op13.onnx", "mlp_pool.op13.onnx", "resnet.op11.onnx"};
    for (size_t m = 0; m < sizeof names / sizeof names[0]; m++) {
        snprintf(rel, sizeof rel, "examples/fixtures/%s", names[m]);
        snprintf(args, sizeof args, "'%s' --data '%s' " NORM " --threads 1", tu_src(rel), npy);
        run_ok(args);
        double want = json_num(out, "correct"), want5 = json_num(out, "correct5");
        for (int rep = 0; rep < 3; rep++) {
            snprintf(args, sizeof args, "'%s' --data '%s' " NORM " --threads %d --batch %d", tu_src(rel), npy,
                     2 + rep % 2, rep == 1 ? 33 : 64);
            run_ok(args);
            if (json_num(out, "correct") != want || json_num(out, "correct5") != want5)
                fail_msg("%s --threads %d: %g/%g correct, %g/%g with one thread", names[m], 2 + rep % 2,
                         json_num(out, "correct"), json_num(out, "correct5"), want, want5);
            assert_true(json_num(out, "threads") == 2 + rep % 2);
        }
    }
}

static void test_errors(void **state)
{
    (void)state;
    char model[1024], npy[1024];
    snprintf(model, sizeof model, "%s", tu_src("examples/fixtures/cnn_bn.op13.onnx"));
    snprintf(npy, sizeof npy, "%s", tu_src("examples/fixtures/fmnist_test256"));
    char args[6144];

    snprintf(args, sizeof args, "/nope/model.onnx --data '%s'", npy);
    run_fail(args, "/nope/model.onnx");
    snprintf(args, sizeof args, "'%s' --data /nope/data", model);
    run_fail(args, "/nope/data: no such file or directory");

    /* 3 x 32 x 32 images for a 1 x 28 x 28 model. */
    const char *dir = tu_tmpdir();
    char ip[512], lp[512];
    snprintf(ip, sizeof ip, "%s/c32_images.npy", dir);
    snprintf(lp, sizeof lp, "%s/c32_labels.npy", dir);
    static uint8_t blob[128 + 2 * 3 * 32 * 32];
    const char hdr[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3, 32, 32), }";
    memset(blob, ' ', 128);
    memcpy(blob, hdr, sizeof hdr - 1);
    blob[127] = '\n';
    assert_int_equal(tu_write_file(ip, blob, sizeof blob), 0);
    const char lhdr[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }";
    memset(blob, ' ', 128);
    memcpy(blob, lhdr, sizeof lhdr - 1);
    blob[127] = '\n';
    blob[128] = 1;
    blob[129] = 0;
    assert_int_equal(tu_write_file(lp, blob, 130), 0);
    snprintf(args, sizeof args, "'%s' --data '%s/c32'", model, dir);
    run_fail(args, "does not fit");
    run_fail(args, "3x32x32");

    /* 28 x 28 images but 11 classes for a 10-logit model. */
    static uint8_t img28[128 + 2 * 28 * 28];
    const char h28[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '|u1', 'fortran_order': False, 'shape': (2, 28, 28), }";
    memset(img28, ' ', 128);
    memcpy(img28, h28, sizeof h28 - 1);
    img28[127] = '\n';
    snprintf(ip, sizeof ip, "%s/k11_images.npy", dir);
    snprintf(lp, sizeof lp, "%s/k11_labels.npy", dir);
    assert_int_equal(tu_write_file(ip, img28, sizeof img28), 0);
    memset(blob, ' ', 128);
    memcpy(blob, lhdr, sizeof lhdr - 1);
    blob[127] = '\n';
    blob[128] = 3;
    blob[129] = 10;
    assert_int_equal(tu_write_file(lp, blob, 130), 0);
    snprintf(args, sizeof args, "'%s' --data '%s/k11'", model, dir);
    run_fail(args, "outputs 10 values per image");
    run_fail(args, "11 classes");

    snprintf(args, sizeof args, "'%s' --data '%s' --batch 0", model, npy);
    run_fail(args, "--batch");
    snprintf(args, sizeof args, "'%s' --data '%s' --batch 12x", model, npy);
    run_fail(args, "--batch");
    snprintf(args, sizeof args, "'%s' --data '%s' --frobnicate", model, npy);
    run_fail(args, "unknown option '--frobnicate'");
    snprintf(args, sizeof args, "'%s' --data '%s' --split valid", model, npy);
    run_fail(args, "--split");
    snprintf(args, sizeof args, "'%s' --data '%s' --mean 0.1,0.2 --std 1,2,3", model, npy);
    run_fail(args, "--mean");
    snprintf(args, sizeof args, "'%s' --data '%s' --std 0", model, npy);
    run_fail(args, "std");
    snprintf(args, sizeof args, "'%s' --data", model);
    run_fail(args, "--data needs a value");
    snprintf(args, sizeof args, "'%s'", model);
    run_fail(args, "--data");
    snprintf(args, sizeof args, "'%s' --data '%s'", tu_src("examples/fixtures/bad_unsupported_op.onnx"), npy);
    run_fail(args, "bad_unsupported_op.onnx");

    assert_int_equal(tu_run_cli("eval --help", out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "--data"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_npy_and_batch_sizes),
        cmocka_unit_test(test_threads_match_one_thread),
        cmocka_unit_test(test_fixtures_match_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
