/*
 * Lookup tables (include/nadapt/lut.h, measure/lut*.c, measure/layer_net.c,
 * the lut:FILE back-end, `nadapt lut`).
 *
 * The analytic back-end (model:models/eyeriss.yaml) costs a network as a sum
 * over its layers and is deterministic, so it checks the machinery exactly:
 * at grid points the prediction must be the sum of the table's layer entries
 * plus the overhead, and equal the direct measurement of the pruned network;
 * between grid points it must be the bilinear (diagonal: linear)
 * interpolation of the entries, which the test checks by rewriting the
 * entries to a bilinear function whose value it knows everywhere.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graph/graph.h"
#include "groups.h"
#include "lut_internal.h"
#include "nadapt/backend.h"
#include "nadapt/lut.h"
#include "testutil.h"

static char spec[1200];

static void ok(nad_status rc, const nad_err *e)
{
    if (rc)
        fail_msg("%s", e->msg);
}

static nad_graph *load(const char *name)
{
    char rel[128];
    nad_graph *g = NULL;
    nad_err e = {{0}};
    snprintf(rel, sizeof rel, "examples/fixtures/%s.op13.onnx", name);
    ok(nad_graph_load_onnx(tu_src(rel), 1, &g, &e), &e);
    return g;
}

/* A path in the test's temporary directory. */
static const char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", tu_tmpdir(), name);
    return b;
}

/* g with the group called name cut to its first n channels (g is freed). */
static nad_graph *shrink_to(nad_graph *g, const char *name, int n)
{
    nad_groups *gs = NULL;
    nad_err e = {{0}};
    ok(nad_groups_find(g, &gs, &e), &e);
    int i = nad_groups_find_name(gs, name);
    assert_true(i >= 0);
    assert_true(n <= gs->g[i].channels);
    int keep[512];
    for (int k = 0; k < n; k++)
        keep[k] = k;
    nad_graph *out = NULL;
    ok(nad_shrink(g, &gs->g[i], keep, n, &out, &e), &e);
    nad_groups_free(gs);
    nad_graph_free(g);
    return out;
}

/* Builds a table for a fixture with the model back-end; returns the stats. */
static nad_lut_stats build(const char *path, const char *model)
{
    nad_graph *g = load(model);
    nad_err e = {{0}};
    nad_lut_stats st;
    nad_lut_options o = {.step = 8, .save_every_s = -1};
    ok(nad_lut_build(path, spec, g, model, &o, &st, &e), &e);
    nad_graph_free(g);
    return st;
}

/* 1 when a and b agree to a relative tolerance. */
static int close_to(double a, double b, double rel)
{
    return fabs(a - b) <= rel * fmax(fabs(a), fabs(b)) + 1e-300;
}

/* The sum of the table's entries for g's units at their (grid) channel
 * counts plus the overhead: what the prediction must be, computed apart. */
static void sum_entries(const nad_lut *t, const nad_graph *g, double *v)
{
    nad_err e = {{0}};
    nad_graph *c = nad_graph_copy(g);
    ok(nad_graph_simplify(c, 1, &e), &e);
    ok(nad_graph_infer_shapes(c, 1, &e), &e);
    lut_unit *u = NULL;
    int n = 0;
    ok(lut_units(c, &u, &n, &e), &e);
    for (int r = 0; r < NAD_RES_COUNT; r++)
        v[r] = 0;
    for (int i = 0; i < n; i++) {
        const lut_layer *l = lut_find_layer(t, u[i].key);
        assert_non_null(l);
        const lut_point *p = lut_find_point(l, u[i].in_c, u[i].out_c);
        if (!p)
            fail_msg("unit %s at %lld x %lld is not a grid point", u[i].label, (long long)u[i].in_c,
                     (long long)u[i].out_c);
        for (int r = 0; r < NAD_RES_COUNT; r++)
            v[r] += p->v[r];
    }
    const lut_net *net = lut_find_net(t, lut_structure_hash(u, n));
    assert_non_null(net);
    for (int r = 0; r < NAD_RES_COUNT; r++)
        v[r] += net->overhead[r];
    free(u);
    nad_graph_free(c);
}

/* Prediction vs. the entries' sum (exact) and vs. direct measurement. */
static void check_exact(const nad_lut *t, nad_backend *b, const nad_graph *g)
{
    nad_err e = {{0}};
    double p[NAD_RES_COUNT], s[NAD_RES_COUNT], m[NAD_RES_COUNT];
    ok(nad_lut_predict(t, g, p, &e), &e);
    sum_entries(t, g, s);
    ok(nad_backend_measure(b, g, m, &e), &e);
    int checked = 0;
    for (int r = 0; r < NAD_RES_COUNT; r++) {
        if (!nad_lut_has(t, (nad_resource)r))
            continue;
        checked++;
        assert_true(p[r] == s[r]);
        if (!close_to(p[r], m[r], 1e-9))
            fail_msg("%s: predicted %.17g, measured %.17g", nad_resource_name((nad_resource)r), p[r], m[r]);
    }
    assert_int_equal(checked, 3); /* energy, latency, dram */
}

/* On grid points the prediction is the sum of entries + overhead and the
 * direct measurement (the analytic model is additive over layers). */
static void exact_at_grid_points(void **state)
{
    const char *path = tmp_path("grid.lut");
    nad_lut_stats st = build(path, "cnn_bn");
    assert_true(st.measured > 10);
    assert_int_equal(st.measured, st.points);
    assert_int_equal(st.overhead_measured, 1);
    nad_lut *t = NULL;
    nad_backend *b = NULL;
    nad_err e = {{0}};
    ok(nad_lut_load(path, &t, &e), &e);
    ok(nad_backend_open(spec, &b, &e), &e);
    nad_graph *g = load("cnn_bn");
    check_exact(t, b, g);                    /* full width */
    g = shrink_to(g, "/conv1/Conv", 8);      /* 1 -> 8, pool 8 */
    g = shrink_to(g, "/conv2/Conv", 24);     /* 8 -> 24, pool 24, fc 1176 -> 10 */
    check_exact(t, b, g);
    g = shrink_to(g, "/conv1/Conv", 1);      /* the smallest grid point */
    check_exact(t, b, g);
    nad_graph_free(g);

    /* mobilenetv2: depthwise (diagonal), squeeze-excite, fused Clip, hard-swish. */
    const char *mpath = tmp_path("mbv2.lut");
    build(mpath, "mobilenetv2");
    nad_lut *mt = NULL;
    ok(nad_lut_load(mpath, &mt, &e), &e);
    nad_graph *m = load("mobilenetv2");
    check_exact(mt, b, m);
    nad_graph_free(m);
    nad_lut_free(mt);
    nad_lut_free(t);
    nad_backend_destroy(b);
}

/* Known functions of the channel counts: bilinear on dense layers, linear
 * along the diagonal; interpolation must reproduce them exactly. */
static double f_grid(int r, double i, double o)
{
    return (r + 1) * (3 * i * o + 2 * i + 5 * o + 7);
}
static double f_diag(int r, double c)
{
    return (r + 1) * (4 * c + 1);
}

/* Between grid points the prediction is the bilinear / linear interpolation. */
static void interpolates_between_points(void **state)
{
    const char *path = tmp_path("interp.lut");
    build(path, "cnn_bn");
    nad_lut *t = NULL;
    nad_err e = {{0}};
    ok(nad_lut_load(path, &t, &e), &e);
    nad_graph *g = load("cnn_bn");
    lut_unit *u = NULL;
    int n = 0;
    ok(lut_units(g, &u, &n, &e), &e);
    assert_int_equal(n, 5); /* Conv+Relu, MaxPool, Conv+Relu, MaxPool, Gemm (the Reshape is free) */
    for (int k = 0; k < n; k++) {
        lut_layer *l = lut_find_layer(t, u[k].key);
        assert_non_null(l);
        for (int j = 0; j < l->n; j++)
            for (int r = 0; r < NAD_RES_COUNT; r++)
                l->p[j].v[r] = u[k].kind == LUT_DIAG ? f_diag(r, (double)l->p[j].in_c)
                                                     : f_grid(r, (double)l->p[j].in_c, (double)l->p[j].out_c);
    }
    for (int j = 0; j < t->n_nets; j++)
        memset(t->nets[j].overhead, 0, sizeof t->nets[j].overhead);
    free(u);
    g = shrink_to(g, "/conv1/Conv", 11);  /* between 8 and 16 */
    g = shrink_to(g, "/conv2/Conv", 21);  /* between 16 and 24; fc in 21*49 */
    ok(lut_units(g, &u, &n, &e), &e);
    assert_int_equal(u[2].in_c, 11);
    assert_int_equal(u[4].in_c, 21 * 49);
    double p[NAD_RES_COUNT];
    ok(nad_lut_predict(t, g, p, &e), &e);
    for (int r = 0; r < NAD_RES_COUNT; r++) {
        if (!nad_lut_has(t, (nad_resource)r))
            continue;
        double want = 0;
        for (int k = 0; k < n; k++)
            want += u[k].kind == LUT_DIAG ? f_diag(r, (double)u[k].in_c)
                                          : f_grid(r, (double)u[k].in_c, (double)u[k].out_c);
        if (!close_to(p[r], want, 1e-12))
            fail_msg("resource %d: predicted %.17g, the interpolated function is %.17g", r, p[r], want);
    }
    free(u);
    nad_graph_free(g);
    nad_lut_free(t);
}

/* Drops every third point line and the network line of a table file;
 * returns how many points were dropped. */
static int drop_entries(const char *path)
{
    size_t len;
    char *s = tu_read_file(path, &len);
    assert_non_null(s);
    char *out = malloc(len + 1);
    size_t w = 0;
    int k = 0, dropped = 0;
    for (char *line = s; *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line + 1) : strlen(line);
        int drop = !strncmp(line, "network ", 8) || (!strncmp(line, "point ", 6) && k++ % 3 == 0);
        dropped += drop && line[0] == 'p';
        if (!drop) {
            memcpy(out + w, line, n);
            w += n;
        }
        line += n;
    }
    assert_int_equal(tu_write_file(path, out, w), 0);
    free(out);
    free(s);
    return dropped;
}

/* A rebuild measures only what is missing and ends with the same file. */
static void rebuild_fills_only_missing(void **state)
{
    const char *path = tmp_path("resume.lut");
    nad_lut_stats st = build(path, "resnet");
    size_t len0, len1;
    char *full = tu_read_file(path, &len0);
    int dropped = drop_entries(path);
    assert_true(dropped > 5);
    nad_lut_stats again = build(path, "resnet");
    assert_int_equal(again.measured, dropped);
    assert_int_equal(again.reused, st.points - dropped);
    assert_int_equal(again.overhead_measured, 1);
    assert_int_equal(again.layer_calls, 0); /* the model back-end has no layer() */
    char *rebuilt = tu_read_file(path, &len1);
    assert_int_equal(len0, len1);
    assert_memory_equal(full, rebuilt, len0);
    nad_lut_stats third = build(path, "resnet");
    assert_int_equal(third.measured, 0);
    assert_int_equal(third.overhead_measured, 0);
    free(full);
    free(rebuilt);

    /* Another back-end spec on the same file is refused, the file kept. */
    nad_graph *g = load("resnet");
    nad_err e = {{0}};
    char other[1300];
    snprintf(other, sizeof other, "%s:objective=latency", spec);
    assert_int_equal(nad_lut_build(path, other, g, "resnet", NULL, NULL, &e), NAD_EINVAL);
    assert_non_null(strstr(e.msg, "built with back-end"));
    nad_graph_free(g);
}

/* Load -> write -> bytes identical; the copy predicts the same. */
static void file_round_trip(void **state)
{
    const char *path = tmp_path("rt.lut"), *copy = tmp_path("rt2.lut");
    build(path, "cnn_bn");
    nad_lut *t = NULL, *t2 = NULL;
    nad_err e = {{0}};
    ok(nad_lut_load(path, &t, &e), &e);
    ok(lut_write(t, copy, &e), &e);
    size_t a, b;
    char *s1 = tu_read_file(path, &a), *s2 = tu_read_file(copy, &b);
    assert_int_equal(a, b);
    assert_memory_equal(s1, s2, a);
    ok(nad_lut_load(copy, &t2, &e), &e);
    nad_graph *g = shrink_to(load("cnn_bn"), "/conv2/Conv", 13);
    double p1[NAD_RES_COUNT], p2[NAD_RES_COUNT];
    ok(nad_lut_predict(t, g, p1, &e), &e);
    ok(nad_lut_predict(t2, g, p2, &e), &e);
    assert_memory_equal(p1, p2, sizeof p1);
    assert_string_equal(nad_lut_spec(t2), spec);
    assert_string_equal(nad_lut_unit(t2, NAD_RES_LATENCY), "s");
    free(s1);
    free(s2);
    nad_graph_free(g);
    nad_lut_free(t);
    nad_lut_free(t2);
}

/* Loads text as a table: must fail with one line naming the file and
 * containing want. */
static void expect_bad(const char *text, const char *want)
{
    const char *path = tmp_path("bad.lut");
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
    nad_lut *t = NULL;
    nad_err e = {{0}};
    nad_status rc = nad_lut_load(path, &t, &e);
    if (rc == NAD_OK)
        fail_msg("accepted: %s", text);
    assert_null(t);
    assert_null(strchr(e.msg, '\n'));
    assert_true(!strncmp(e.msg, path, strlen(path)));
    if (!strstr(e.msg, want))
        fail_msg("'%s' lacks '%s'", e.msg, want);
}

#define HEAD "nadapt-lut 1\nbackend model:x.yaml\nresource latency s\n"

/* Truncated, wrong version, NaN, huge counts, bad references, long lines. */
static void hostile_files(void **state)
{
    const char *path = tmp_path("ok.lut");
    build(path, "cnn_bn");
    size_t len;
    char *s = tu_read_file(path, &len);
    s[len / 2] = 0; /* cut in the middle of a line */
    expect_bad(s, "truncated");
    free(s);
    expect_bad("", "truncated");
    expect_bad("\x7f" "ELF\x01\x02\n", "not a nadapt lookup table");
    expect_bad("nadapt-lut 2\nbackend m\nresource latency s\nend\n", "version '2'");
    expect_bad("nadapt-lut 1\nresource latency s\nend\n", "backend SPEC");
    expect_bad(HEAD "layer 1 Conv k\npoint 1 8 8 nan\nend\n", "finite");
    expect_bad(HEAD "layer 1 Conv k\npoint 1 8 8 inf\nend\n", "finite");
    expect_bad(HEAD "layer 1 Conv k\npoint 1 8 8 -1\nend\n", "non-negative");
    expect_bad(HEAD "layer 1 Conv k\npoint 1 99999999999999999999 8 1\nend\n", "out of range");
    expect_bad(HEAD "layer 1 Conv k\npoint 1 8 0 1\nend\n", "out of range");
    expect_bad(HEAD "layer 1 Conv k\npoint 7 8 8 1\nend\n", "not declared");
    expect_bad(HEAD "layer 1 Conv k\npoint 1 8 8 1 2\nend\n", "values");
    expect_bad(HEAD "layer 1 Conv k\npoint 1 8 8 1\npoint 1 8 8 2\nend\n", "twice");
    expect_bad(HEAD "layer 2 Conv k\nend\n", "next id");
    expect_bad(HEAD "layer 1 Conv k\nlayer 2 Conv k\nend\n", "twice");
    expect_bad(HEAD "network 0123456789abcdef 99999999999 1 m\nend\n", "out of range");
    expect_bad(HEAD "network 0123 5 1 m\nend\n", "16 hex");
    expect_bad(HEAD "network 0123456789abcdef 5 nan m\nend\n", "finite");
    expect_bad(HEAD "frobnicate 1\nend\n", "unknown record");
    expect_bad(HEAD "end\npoint 1 1 1 1\n", "after 'end'");
    expect_bad("nadapt-lut 1\nbackend m\nresource watts W\nend\n", "not energy");
    expect_bad("nadapt-lut 1\nbackend m\nend\n", "resource line");
    char *big = malloc(9000);
    snprintf(big, 9000, HEAD "layer 1 ");
    memset(big + strlen(big), 'k', 6000);
    strcpy(big + strlen(HEAD) + 8 + 6000, "\nend\n");
    expect_bad(big, "longer than");
    free(big);
    /* A directory or a missing file: one line too. */
    nad_lut *t = NULL;
    nad_err e = {{0}};
    assert_int_not_equal(nad_lut_load(tu_tmpdir(), &t, &e), NAD_OK);
    assert_int_not_equal(nad_lut_load(tmp_path("absent.lut"), &t, &e), NAD_OK);
    assert_null(strchr(e.msg, '\n'));
}

/* lut:FILE as a back-end: reports the table's resources; a layer or a
 * channel count outside the table is a clear error naming both. */
static void lut_backend_unknown_layer(void **state)
{
    const char *path = tmp_path("be.lut");
    build(path, "cnn_bn");
    char lspec[600];
    snprintf(lspec, sizeof lspec, "lut:%s", path);
    nad_backend *b = NULL;
    nad_err e = {{0}};
    ok(nad_backend_open(lspec, &b, &e), &e);
    assert_true(nad_backend_reports(b, NAD_RES_LATENCY));
    assert_true(nad_backend_reports(b, NAD_RES_ENERGY));
    assert_string_equal(nad_backend_unit(b, NAD_RES_LATENCY), "s");
    assert_string_equal(nad_backend_unit(b, NAD_RES_ENERGY), "MAC");
    double v[NAD_RES_COUNT];
    nad_graph *g = load("cnn_bn");
    ok(nad_backend_measure(b, g, v, &e), &e);
    assert_true(v[NAD_RES_LATENCY] > 0);
    nad_graph *r = load("resnet");
    assert_int_not_equal(nad_backend_measure(b, r, v, &e), NAD_OK);
    assert_non_null(strstr(e.msg, "/stem/Conv (Conv+LeakyRelu k3x3 s2x2 28x28)"));
    assert_non_null(strstr(e.msg, "not in"));
    assert_non_null(strstr(e.msg, path));
    assert_non_null(strstr(e.msg, "rebuild with nadapt lut build"));
    assert_null(strchr(e.msg, '\n'));
    nad_graph_free(r);
    nad_backend_destroy(b);

    /* A grid point missing (a hand-edited table): the layer is named too. */
    nad_lut *t = NULL;
    ok(nad_lut_load(path, &t, &e), &e);
    for (int i = 0; i < t->n_layers; i++)
        if (strstr(t->layers[i].key, "Gemm"))
            t->layers[i].n = 1; /* only the smallest point is left */
    assert_int_not_equal(nad_lut_predict(t, g, v, &e), NAD_OK);
    assert_non_null(strstr(e.msg, "/fc/Gemm (Gemm)"));
    nad_lut_free(t);
    nad_graph_free(g);
    /* No file, or not a table: open fails naming it. */
    assert_int_not_equal(nad_backend_open("lut:", &b, &e), NAD_OK);
    assert_int_not_equal(nad_backend_open("lut:/nonexistent.lut", &b, &e), NAD_OK);
    assert_non_null(strstr(e.msg, "/nonexistent.lut"));
}

/* The CLI: build, rebuild (nothing measured), check with JSON output. */
static void cli_build_and_check(void **state)
{
    static char out[65536], err[4096];
    char args[2048];
    const char *path = tmp_path("cli.lut"), *model = tu_src("examples/fixtures/cnn_bn.op13.onnx");
    snprintf(args, sizeof args, "lut build '%s' --backend '%s' --out '%s' --json", model, spec, path);
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "\"reused\":0"));
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "\"measured\":0"));
    snprintf(args, sizeof args, "lut check '%s' --lut '%s' --backend '%s' --variants 4 --seed 3 --json", model, path,
             spec);
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "\"fraction_within_10pct\":1,"));
    assert_non_null(strstr(out, "\"variant\":3"));
    snprintf(args, sizeof args, "lut check '%s' --lut '%s' --backend '%s' --variants 4", model,
             tu_src("README.md"), spec);
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "not a nadapt lookup table"));
    assert_int_equal(tu_count_lines(err), 1);
    assert_int_equal(tu_run_cli("lut frob", out, sizeof out, err, sizeof err), 1);
}

int main(void)
{
    snprintf(spec, sizeof spec, "model:%s", tu_src("models/eyeriss.yaml"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_at_grid_points),       cmocka_unit_test(interpolates_between_points),
        cmocka_unit_test(rebuild_fills_only_missing), cmocka_unit_test(file_round_trip),
        cmocka_unit_test(hostile_files),              cmocka_unit_test(lut_backend_unknown_layer),
        cmocka_unit_test(cli_build_and_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
