/*
 * The host back-end (measure/backend_host.c) and `nadapt measure`: a fixture
 * measures a positive, finite latency and spread; a wide network measures
 * slower than a narrow (pruned) one with ~100x fewer MACs; the engine's and
 * OpenBLAS's thread counts are restored after a measurement, also after a
 * failed one; a spread over max_iqr is an error, never a number; the JSON of
 * `nadapt measure` parses and names each resource's source; bad specs are
 * one-line errors with exit 1.  Runs serially (CMakeLists.txt): timings must
 * not share the CPU with other tests.
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

#include <cblas.h>

#include "graph_builder.h"
#include "nadapt/backend.h"
#include "nadapt/engine.h"
#include "testutil.h"

static char out[1 << 16], err[1 << 16];

/* Tests that need a number, not a verdict on the machine, accept a spread up
 * to twice the median: this suite may share its CPU (CI, a laptop), and
 * neighbours show up as a second mode in the timings.  The verdict itself
 * is tested by too_noisy_is_an_error. */
#define LOOSE "max_iqr=2"

/* Loads a fixture with BatchNorm kept (the back-end folds it). */
static nad_graph *load(const char *rel)
{
    nad_graph *g = NULL;
    nad_err e = {{0}};
    if (nad_graph_load_onnx(tu_src(rel), 0, &g, &e))
        fail_msg("%s", e.msg);
    return g;
}

/* Opens spec, measures g; fails the test on any error. */
static void measure_ok(const char *spec, const nad_graph *g, double *lat, double *spread)
{
    nad_backend *b = NULL;
    nad_err e = {{0}};
    double v[NAD_RES_COUNT], sp[NAD_RES_COUNT];
    if (nad_backend_open(spec, &b, &e))
        fail_msg("open %s: %s", spec, e.msg);
    if (nad_backend_measure_spread(b, g, v, sp, &e))
        fail_msg("measure %s: %s", spec, e.msg);
    *lat = v[NAD_RES_LATENCY];
    *spread = sp[NAD_RES_LATENCY];
    nad_backend_destroy(b);
}

/* ---- graphs of chosen width --------------------------------------------------- */

static int weight(nad_graph *g, const char *name, int ndim, const int64_t *dims, uint32_t *s)
{
    int t = nad_graph_add_tensor(g, name, NAD_DT_FLOAT, NAD_TK_WEIGHT, ndim, dims);
    assert_true(t >= 0);
    assert_int_equal(nad_tensor_alloc(&g->tensors[t], NULL), NAD_OK);
    float *v = nad_tensor_f32(&g->tensors[t]);
    for (int64_t i = 0; i < nad_tensor_numel(&g->tensors[t]); i++) {
        *s = *s * 1664525u + 1013904223u;
        v[i] = (float)(*s >> 8) / (float)(1u << 24) * 0.2f - 0.1f;
    }
    return t;
}

static nad_attr conv3x3(void)
{
    nad_attr a;
    memset(&a, 0, sizeof a);
    a.conv = (nad_conv_attr){3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, 1, NAD_PAD_NOTSET};
    return a;
}

/* x[1,8,32,32] -> Conv3x3 8->c -> Relu -> Conv3x3 c->c -> Relu -> GAP ->
 * Flatten -> Gemm c->10: the same network at width c (MACs ~ 9216 c^2). */
static nad_graph *conv_net(int c)
{
    nad_graph *g = nad_graph_new();
    assert_non_null(g);
    uint32_t s = 7;
    int x = input(g, "x", 4, D(4, 1, 8, 32, 32));
    int w1 = weight(g, "w1", 4, D(4, c, 8, 3, 3), &s), b1 = weight(g, "b1", 1, D(1, c), &s);
    int w2 = weight(g, "w2", 4, D(4, c, c, 3, 3), &s), b2 = weight(g, "b2", 1, D(1, c), &s);
    int fw = weight(g, "fw", 2, D(2, 10, c), &s), fb = weight(g, "fb", 1, D(1, 10), &s);
    nad_attr a = conv3x3();
    int y = node(g, "conv1", NAD_OP_CONV, &a, 3, (int[]){x, w1, b1});
    y = node1(g, "relu1", NAD_OP_RELU, NULL, y);
    y = node(g, "conv2", NAD_OP_CONV, &a, 3, (int[]){y, w2, b2});
    y = node1(g, "relu2", NAD_OP_RELU, NULL, y);
    y = node1(g, "gap", NAD_OP_GLOBAL_AVGPOOL, NULL, y);
    nad_attr ax = axis_attr(1);
    y = node1(g, "flatten", NAD_OP_FLATTEN, &ax, y);
    memset(&a, 0, sizeof a);
    a.gemm = (nad_gemm_attr){1.f, 1.f, 0, 1};
    y = node(g, "fc", NAD_OP_GEMM, &a, 3, (int[]){y, fw, fb});
    mark_output(g, y);
    nad_err e = {{0}};
    if (nad_graph_infer_shapes(g, 1, &e))
        fail_msg("%s", e.msg);
    return g;
}

/* ---- a strict JSON reader, enough to check `nadapt measure --json` ---------- */

static const char *json_value(const char *p);

static const char *ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

static const char *json_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    for (; *p && *p != '"'; p++)
        if (*p == '\\' && !*++p)
            return NULL;
    return *p == '"' ? p + 1 : NULL;
}

/* An object or array: members separated by ','; returns the end or NULL. */
static const char *json_container(const char *p, char close, int object)
{
    p = ws(p + 1);
    if (*p == close)
        return p + 1;
    for (;;) {
        if (object) {
            if (!(p = json_string(ws(p))) || *(p = ws(p)) != ':')
                return NULL;
            p++;
        }
        if (!(p = json_value(p)))
            return NULL;
        p = ws(p);
        if (*p == close)
            return p + 1;
        if (*p++ != ',')
            return NULL;
    }
}

static const char *json_value(const char *p)
{
    p = ws(p);
    if (*p == '{')
        return json_container(p, '}', 1);
    if (*p == '[')
        return json_container(p, ']', 0);
    if (*p == '"')
        return json_string(p);
    if (!strncmp(p, "true", 4) || !strncmp(p, "null", 4))
        return p + 4;
    if (!strncmp(p, "false", 5))
        return p + 5;
    char *end;
    strtod(p, &end);
    return end > p && (*p == '-' || (*p >= '0' && *p <= '9')) ? end : NULL;
}

/* The number after "key": inside the object of resource res in json. */
static double json_field(const char *json, const char *res, const char *key)
{
    char want[64];
    snprintf(want, sizeof want, "\"%s\":{", res);
    const char *o = strstr(json, want);
    if (!o)
        fail_msg("no resource %s in %s", res, json);
    const char *end = strchr(o, '}');
    snprintf(want, sizeof want, "\"%s\":", key);
    const char *f = strstr(o, want);
    if (!f || f > end)
        fail_msg("no %s in resource %s of %s", key, res, json);
    return strtod(f + strlen(want), NULL);
}

/* 1 when the object of resource res holds "key":"value". */
static int json_has(const char *json, const char *res, const char *key, const char *value)
{
    char want[64], kv[96];
    snprintf(want, sizeof want, "\"%s\":{", res);
    snprintf(kv, sizeof kv, "\"%s\":\"%s\"", key, value);
    const char *o = strstr(json, want), *f = o ? strstr(o, kv) : NULL;
    return f && f < strchr(o, '}');
}

/* ---- tests ------------------------------------------------------------------ */

/* Fixtures measure a positive, finite latency with a spread under the default max_iqr. */
static void fixtures_measure(void **state)
{
    (void)state;
    static const char *const models[] = {"examples/fixtures/cnn_bn.op13.onnx", "examples/fixtures/resnet.op13.onnx"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        nad_graph *g = load(models[i]);
        double lat, sp;
        measure_ok("host:" LOOSE, g, &lat, &sp);
        print_message("%s: %.3f us, IQR %.3f us\n", models[i], 1e6 * lat, 1e6 * sp);
        assert_true(isfinite(lat) && lat > 0 && lat < 1.0);
        assert_true(isfinite(sp) && sp > 0 && sp < 2 * lat);
        nad_graph_free(g);
    }
    nad_backend *b = NULL;
    nad_err e = {{0}};
    assert_int_equal(nad_backend_open("host:batch=4,threads=2,warmup=3,min_runs=6,max_runs=50", &b, &e), NAD_OK);
    assert_true(nad_backend_reports(b, NAD_RES_LATENCY));
    assert_false(nad_backend_reports(b, NAD_RES_ENERGY));
    assert_true(nad_backend_is_timed(b, NAD_RES_LATENCY));
    assert_string_equal(nad_backend_source(b, NAD_RES_LATENCY), "host");
    assert_string_equal(nad_backend_unit(b, NAD_RES_LATENCY), "s");
    nad_backend_destroy(b);
}

/* ~100x the MACs is slower by far more than any noise (factor 5 asked; a
 * neighbour sharing the core was seen to double a median, not more). */
static void wide_slower_than_narrow(void **state)
{
    (void)state;
    nad_graph *wide = conv_net(64), *narrow = conv_net(4);
    double lw, sw, ln, sn;
    measure_ok("host:" LOOSE, wide, &lw, &sw);
    measure_ok("host:" LOOSE, narrow, &ln, &sn);
    print_message("width 64: %.1f us (IQR %.2f), width 4: %.1f us (IQR %.2f)\n", 1e6 * lw, 1e6 * sw, 1e6 * ln,
                  1e6 * sn);
    assert_true(lw > 5 * ln);
    /* and a fixture (1M MACs) lies between the narrow net (0.4M) and the wide one (42M) */
    nad_graph *fix = load("examples/fixtures/cnn_bn.op13.onnx");
    double lf, sf;
    measure_ok("host:" LOOSE, fix, &lf, &sf);
    assert_true(lf < lw);
    nad_graph_free(fix);
    nad_graph_free(wide);
    nad_graph_free(narrow);
}

/* The caller's engine and OpenBLAS thread counts survive a measurement, a
 * successful one with other threads and a failed one. */
static void threads_restored(void **state)
{
    (void)state;
    nad_graph *g = load("examples/fixtures/cnn_bn.op13.onnx");
    nad_set_threads(3);
    openblas_set_num_threads(1);
    int blas = openblas_get_num_threads();
    double lat, sp;
    measure_ok("host:threads=2,batch=4,max_iqr=10", g, &lat, &sp);
    assert_true(lat > 0);
    assert_int_equal(nad_get_threads(), 3);
    assert_int_equal(openblas_get_num_threads(), blas);
    nad_backend *b = NULL;
    nad_err e = {{0}};
    double v[NAD_RES_COUNT], s[NAD_RES_COUNT];
    assert_int_equal(nad_backend_open("host:threads=2,batch=2,max_iqr=0,min_runs=5,max_runs=8", &b, &e), NAD_OK);
    assert_int_not_equal(nad_backend_measure_spread(b, g, v, s, &e), NAD_OK);
    assert_int_equal(nad_get_threads(), 3);
    assert_int_equal(openblas_get_num_threads(), blas);
    nad_backend_destroy(b);
    nad_set_threads(1);
    nad_graph_free(g);
}

/* max_iqr=0 accepts no spread at all (the IQR must stay strictly below
 * max_iqr x median), so the measurement runs to max_runs and fails with the
 * reason; the same runs with a loose max_iqr give a number. */
static void too_noisy_is_an_error(void **state)
{
    (void)state;
    nad_graph *g = load("examples/fixtures/cnn_bn.op13.onnx");
    nad_backend *b = NULL;
    nad_err e = {{0}};
    double v[NAD_RES_COUNT], s[NAD_RES_COUNT];
    assert_int_equal(nad_backend_open("host:max_iqr=0,min_runs=5,max_runs=12,max_seconds=600", &b, &e), NAD_OK);
    assert_int_not_equal(nad_backend_measure_spread(b, g, v, s, &e), NAD_OK);
    if (!strstr(e.msg, "too noisy to trust") || !strstr(e.msg, "max_iqr=0") || !strstr(e.msg, "after 12 samples"))
        fail_msg("unexpected message: %s", e.msg);
    nad_backend_destroy(b);
    double lat, sp;
    measure_ok("host:max_iqr=10,min_runs=5,max_runs=12", g, &lat, &sp);
    assert_true(lat > 0 && sp < 10 * lat);
    nad_graph_free(g);

    char args[1024];
    snprintf(args, sizeof args, "measure '%s' --backend host:max_iqr=0,max_runs=20",
             tu_src("examples/fixtures/cnn_bn.op13.onnx"));
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 1);
    assert_string_equal(out, "");
    assert_int_equal(tu_count_lines(err), 1);
    assert_non_null(strstr(err, "nadapt measure: "));
    assert_non_null(strstr(err, "too noisy to trust"));
}

/* `nadapt measure --json` is one JSON object naming each resource's source;
 * the plain output has a line per resource. */
static void cli_measure_json(void **state)
{
    (void)state;
    char args[2048];
    snprintf(args, sizeof args, "measure '%s' --backend host:" LOOSE " --backend '%s' --json",
             tu_src("examples/fixtures/resnet.op13.onnx"), tu_src("models/eyeriss.yaml"));
    if (tu_run_cli(args, out, sizeof out, err, sizeof err))
        fail_msg("nadapt %s: %s", args, err);
    assert_string_equal(err, "");
    const char *end = json_value(out);
    if (!end || *ws(end) != 0 || out[0] != '{')
        fail_msg("not one JSON object: %s", out);
    assert_true(json_has(out, "latency", "source", "host"));
    assert_true(json_has(out, "latency", "unit", "s"));
    assert_true(json_has(out, "energy", "source", "eyeriss"));
    assert_true(json_has(out, "macs", "source", "graph"));
    double lat = json_field(out, "latency", "value"), sp = json_field(out, "latency", "spread");
    assert_true(lat > 0 && lat < 1 && sp >= 0 && sp < 2 * lat);
    assert_true(json_field(out, "macs", "value") == 1634176);
    assert_true(json_field(out, "energy", "value") > 0);

    snprintf(args, sizeof args, "measure '%s' --backend host:" LOOSE, tu_src("examples/fixtures/cnn_bn.op13.onnx"));
    if (tu_run_cli(args, out, sizeof out, err, sizeof err))
        fail_msg("nadapt %s: %s", args, err);
    assert_int_equal(tu_count_lines(out), 4); /* header, latency, macs, params */
    const char *l = strstr(out, "\nlatency ");
    assert_non_null(l);
    const char *src = strstr(l, "source host");
    assert_true(src && src < strchr(l + 1, '\n'));
    assert_null(strstr(out, "energy"));
}

/* Each bad input is one line naming the spec or file and the problem, exit 1. */
static void cli_bad_specs(void **state)
{
    (void)state;
    static const struct {
        const char *backend, *needle;
    } bad[] = {
        {"host:threads=0", "'host:threads=0': host: threads=0 needs a whole number in 1..256"},
        {"host:bogus=1", "'host:bogus=1': host: unknown option 'bogus'"},
        {"nosuch:x", "back-end 'nosuch:x': unknown kind 'nosuch'"},
        {"host:batch=2.5", "batch=2.5 needs a whole number"},
        {"host:max_iqr=", "max_iqr= needs a number"},
        {"host:threads=2", "threads=2 needs batch >= 2"},
        {"host:min_runs=50,max_runs=10", "min_runs=50 exceeds max_runs=10"},
        {"host:max_seconds=inf", "max_seconds=inf needs a number"},
    };
    const char *model = tu_src("examples/fixtures/cnn_bn.op13.onnx");
    char args[2048];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(args, sizeof args, "measure '%s' --backend '%s'", model, bad[i].backend);
        int rc = tu_run_cli(args, out, sizeof out, err, sizeof err);
        if (rc != 1 || !strstr(err, bad[i].needle) || strncmp(err, "nadapt measure: ", 16))
            fail_msg("%s: exit %d, stderr '%s' (wanted '%s')", bad[i].backend, rc, err, bad[i].needle);
        assert_int_equal(tu_count_lines(err), 1);
        assert_string_equal(out, "");
    }
    assert_int_equal(tu_run_cli("measure /nonexistent.onnx --backend host", out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "/nonexistent.onnx"));
    assert_int_equal(tu_count_lines(err), 1);
    snprintf(args, sizeof args, "measure '%s'", model);
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "no --backend given"));
    assert_int_equal(tu_count_lines(err), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixtures_measure),      cmocka_unit_test(wide_slower_than_narrow),
        cmocka_unit_test(threads_restored),      cmocka_unit_test(too_noisy_is_an_error),
        cmocka_unit_test(cli_measure_json),      cmocka_unit_test(cli_bad_specs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
