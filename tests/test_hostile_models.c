/*
 * Hostile models (issue 11, "Overflow and non-finite numbers"): a target
 * with a 1e308 per-access energy, a target with a capacity near INT64_MAX, a
 * workload with a batch of 1e18, with a dim of 1e12 and with dims that each
 * fit but whose MAC count would overflow int64.  Each is refused at load: exit
 * status 1, one stderr line naming the file, the line and the key (or layer),
 * and nothing on stdout.  A total that is still not finite (a target edited
 * in memory, past the loader) is an error from the estimator, never a number.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "arch.h"
#include "estimate_internal.h"
#include "testutil.h"

/* A small valid spatial target; %s is replaced by the dram read_energy, %s by the spad capacity line. */
static const char target_fmt[] = "name: tiny\n"                             /* 1 */
                                 "kind: spatial\n"                          /* 2 */
                                 "clock_hz: 200e6\n"                        /* 3 */
                                 "energy_unit: pJ\n"                        /* 4 */
                                 "precision: {weights: 16, inputs: 16, outputs: 16}\n" /* 5 */
                                 "mac_energy: 1\n"                          /* 6 */
                                 "pe_array: {rows: 4, cols: 4, dataflow: row_stationary}\n" /* 7 */
                                 "levels:\n"                                /* 8 */
                                 "  - name: dram\n"                         /* 9 */
                                 "    kind: dram\n"                         /* 10 */
                                 "    word_bits: 16\n"                      /* 11 */
                                 "    read_energy: %s\n"                    /* 12 */
                                 "    write_energy: 200\n"                  /* 13 */
                                 "  - name: spad\n"                         /* 14 */
                                 "    kind: pe\n"                           /* 15 */
                                 "    %s\n"                                 /* 16 */
                                 "    word_bits: 16\n"                      /* 17 */
                                 "    read_energy: 1\n"                     /* 18 */
                                 "    write_energy: 1\n";                   /* 19 */

/* A one-layer workload; the %s are the batch and the layer's C, H, W. */
static const char workload_fmt[] = "name: w\n"                    /* 1 */
                                   "batch: %s\n"                  /* 2 */
                                   "layers:\n"                    /* 3 */
                                   "  - name: c1\n"               /* 4 */
                                   "    type: conv\n"             /* 5 */
                                   "    C: %s\n"                  /* 6 */
                                   "    H: %s\n"                  /* 7 */
                                   "    W: %s\n"                  /* 8 */
                                   "    M: 8\n"                   /* 9 */
                                   "    R: 3\n"                   /* 10 */
                                   "    S: 3\n";                  /* 11 */

/* Writes text into the temporary directory as name; returns the path (static buffer per slot). */
static const char *write_tmp(const char *name, const char *text, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", tu_tmpdir(), name);
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
    return path;
}

static const char *make_target(const char *name, const char *read_energy, const char *capacity, char *path,
                               size_t size)
{
    char text[2048];
    snprintf(text, sizeof text, target_fmt, read_energy, capacity);
    return write_tmp(name, text, path, size);
}

static const char *make_workload(const char *name, const char *batch, const char *c, const char *h, const char *w,
                                 char *path, size_t size)
{
    char text[1024];
    snprintf(text, sizeof text, workload_fmt, batch, c, h, w);
    return write_tmp(name, text, path, size);
}

#define OK_CAPACITY "capacity: {weights: 224, inputs: 12, outputs: 24}"

/* A valid workload for the target tests. */
static const char *good_workload(char *path, size_t size)
{
    return make_workload("good.yaml", "1", "16", "8", "8", path, size);
}

static void test_valid_files_estimate(void **state)
{
    (void)state;
    char t[512], w[512], args[2048], out[8192], err[2048];
    make_target("ok.yaml", "200", OK_CAPACITY, t, sizeof t);
    good_workload(w, sizeof w);
    snprintf(args, sizeof args, "estimate '%s' --target '%s' --json", w, t);
    int code = tu_run_cli(args, out, sizeof out, err, sizeof err);
    if (code != 0)
        print_error("%s\n", err);
    assert_int_equal(code, 0);
    assert_null(strstr(out, "inf"));
    assert_null(strstr(out, "nan"));
}

static void test_huge_energy(void **state)
{
    (void)state;
    char t[512], w[512], args[2048];
    make_target("e308.yaml", "1e308", OK_CAPACITY, t, sizeof t);
    good_workload(w, sizeof w);
    snprintf(args, sizeof args, "estimate '%s' --target '%s' --json", w, t);
    tu_expect_refused(args, t, ":12: ", "read_energy", "1e+308 is out of range (0 to 1e+12)", NULL);
    /* Just above the bound, and per data type. */
    make_target("e13.yaml", "{weights: 1, inputs: 1.000001e12, outputs: 1}", OK_CAPACITY, t, sizeof t);
    snprintf(args, sizeof args, "estimate '%s' --target '%s'", w, t);
    tu_expect_refused(args, t, ":12: ", "read_energy.inputs", "out of range (0 to 1e+12)", NULL);
}

static void test_huge_capacity(void **state)
{
    (void)state;
    char t[512], w[512], args[2048];
    good_workload(w, sizeof w);
    make_target("cap.yaml", "200", "capacity: {weights: 9223372036854775000, inputs: 12, outputs: 24}", t, sizeof t);
    snprintf(args, sizeof args, "estimate '%s' --target '%s' --json", w, t);
    tu_expect_refused(args, t, ":16: ", "capacity.weights", "9223372036854775000 is out of range (1 to 281474976710656)",
                   NULL);
    make_target("capw.yaml", "200", "capacity_words: 9223372036854775807", t, sizeof t);
    snprintf(args, sizeof args, "estimate '%s' --target '%s'", w, t);
    tu_expect_refused(args, t, ":16: ", "capacity_words", "out of range", NULL);
}

static void test_huge_batch(void **state)
{
    (void)state;
    char t[512], w[512], args[2048];
    make_target("ok.yaml", "200", OK_CAPACITY, t, sizeof t);
    make_workload("batch.yaml", "1000000000000000000", "16", "8", "8", w, sizeof w);
    snprintf(args, sizeof args, "estimate '%s' --target '%s' --json", w, t);
    tu_expect_refused(args, w, ":2: ", "workload.batch", "1000000000000000000 is out of range (1 to 1048576)", NULL);
}

static void test_huge_dims(void **state)
{
    (void)state;
    char t[512], w[512], args[2048];
    make_target("ok.yaml", "200", OK_CAPACITY, t, sizeof t);
    /* One dim beyond 2^31. */
    make_workload("dim.yaml", "1", "1000000000000", "8", "8", w, sizeof w);
    snprintf(args, sizeof args, "estimate '%s' --target '%s' --json", w, t);
    tu_expect_refused(args, w, ":6: ", "layers[0] (c1).C", "1000000000000 is out of range (1 to 2147483647)", NULL);
    /* Every dim fits, their product does not: C x H x W = 2^30 x 2^20 x 2^20 overflows int64. */
    make_workload("prod.yaml", "1024", "1073741824", "1048576", "1048576", w, sizeof w);
    snprintf(args, sizeof args, "estimate '%s' --target '%s' --json", w, t);
    tu_expect_refused(args, w, ":4: ", "layers[0] (c1)", "out of range (at most 2^50", NULL);
}

/* Past the loader (a target edited in memory), a non-finite total is an error. */
static void test_non_finite_total(void **state)
{
    (void)state;
    nad_estimator *est = NULL;
    nad_estimate *res = NULL;
    nad_err e;
    char w[512];
    good_workload(w, sizeof w);
    assert_int_equal(nad_estimator_create(tu_src("models/host-cpu.yaml"), NAD_OBJ_ENERGY, &est, &e), NAD_OK);
    nad_arch *a = (nad_arch *)nad_estimator_arch(est);
    a->roofline.power_w = INFINITY;
    nad_status rc = nad_estimator_run_file(est, w, 0, &res, &e);
    assert_int_equal(rc, NAD_EINVAL);
    assert_null(res);
    assert_non_null(strstr(e.msg, "estimate: total energy is not finite"));
    nad_estimator_destroy(est);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_files_estimate), cmocka_unit_test(test_huge_energy),
        cmocka_unit_test(test_huge_capacity),        cmocka_unit_test(test_huge_batch),
        cmocka_unit_test(test_huge_dims),            cmocka_unit_test(test_non_finite_total),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
