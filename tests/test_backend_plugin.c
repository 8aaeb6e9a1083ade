/*
 * Tests of plugin:PATH.so[:CONFIG] (measure/backend_plugin.c) with the example
 * plugin (examples/plugin/acme_npu.c) and deliberately broken ones
 * (tests/plugins/): the example's numbers against a second implementation of
 * its documented roofline and against the graph's own MAC count, a narrower
 * network costing less, layer() against the same formula, and one clear
 * error per way a plugin can be wrong.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "groups.h"
#include "nadapt/backend.h"
#include "nadapt/backend_plugin.h"
#include "testutil.h"

#define CONFIG "peak_gmacs=100,bw_gbs=2,overhead_us=3,pj_per_mac=0.7,pj_per_byte=15,bytes=2"

static const char *const fixtures[] = {"examples/fixtures/cnn_bn.op13.onnx", "examples/fixtures/resnet.op13.onnx",
                                       "examples/fixtures/mobilenetv2.op13.onnx", "examples/fixtures/concat.op13.onnx",
                                       "examples/fixtures/mlp_pool.op13.onnx"};

static nad_graph *load(const char *rel)
{
    nad_graph *g = NULL;
    nad_err e = {{0}};
    if (nad_graph_load_onnx(tu_src(rel), 1, &g, &e))
        fail_msg("%s: %s", rel, e.msg);
    return g;
}

/* "plugin:PATH[:CONFIG]" of a test plugin in build/test_plugins. */
static const char *bad(const char *name, const char *config)
{
    static char spec[1024];
    snprintf(spec, sizeof spec, "plugin:%s/%s.so%s%s", NAD_TEST_PLUGIN_DIR, name, config ? ":" : "",
             config ? config : "");
    return spec;
}

static nad_backend *open_ok(const char *spec)
{
    nad_backend *b = NULL;
    nad_err e = {{0}};
    if (nad_backend_open(spec, &b, &e))
        fail_msg("%s: %s", spec, e.msg);
    return b;
}

/* Opening spec fails with a message containing want (and, if given, want2). */
static void open_fails(const char *spec, const char *want, const char *want2)
{
    nad_backend *b = (nad_backend *)1;
    nad_err e = {{0}};
    assert_int_not_equal(nad_backend_open(spec, &b, &e), NAD_OK);
    assert_null(b);
    if (!strstr(e.msg, want) || (want2 && !strstr(e.msg, want2)))
        fail_msg("%s: message '%s' lacks '%s'%s%s", spec, e.msg, want, want2 ? " or " : "", want2 ? want2 : "");
    assert_null(strchr(e.msg, '\n'));
}

/* Values of a shape string "[a,b,...]", parsed independently of the plugin. */
static double numel(const char *s)
{
    double n = 1;
    int off = 1, used;
    long long d;
    assert_int_equal(s[0], '[');
    while (sscanf(s + off, "%lld%n", &d, &used) == 1) {
        n *= (double)d;
        off += used + (s[off + used] == ',');
    }
    return n;
}

/* The roofline of examples/plugin/README.md, written again from the README:
 * seconds and picojoules of g for the parameters of CONFIG. */
static void roofline(const nad_graph *g, double *sec, double *pj)
{
    const char *free_ops = " Relu LeakyRelu Clip Sigmoid HardSigmoid HardSwish Tanh Flatten Reshape Squeeze "
                           "Unsqueeze Identity Dropout ";
    *sec = *pj = 0;
    for (int i = 0; i < nad_graph_layer_count(g); i++) {
        nad_layer_info li;
        nad_err e = {{0}};
        assert_int_equal(nad_graph_layer_info(g, i, &li, &e), NAD_OK);
        char word[40];
        snprintf(word, sizeof word, " %s ", li.op);
        if (strstr(free_ops, word))
            continue;
        double in = numel(li.in_shape), out = numel(li.out_shape);
        if (strstr(" Add Sub Mul Div ", word))
            in *= 2;
        if (!strcmp(li.op, "Concat"))
            in = out;
        double bytes = 2.0 * (in + out + (double)li.params), macs = (double)li.macs;
        *sec += fmax(macs / 100e9, bytes / 2e9) + 3e-6;
        *pj += 0.7 * macs + 15 * bytes;
    }
}

/* The example plugin's latency and energy equal the documented roofline on
 * every fixture, in nadapt's units (s, pJ). */
static void test_example_matches_roofline(void **state)
{
    char spec[1024];
    snprintf(spec, sizeof spec, "plugin:%s:%s", NAD_EXAMPLE_PLUGIN, CONFIG);
    nad_backend *b = open_ok(spec);
    assert_string_equal(nad_backend_unit(b, NAD_RES_LATENCY), "s");
    assert_string_equal(nad_backend_unit(b, NAD_RES_ENERGY), "pJ");
    assert_string_equal(nad_backend_source(b, NAD_RES_LATENCY), "acme-npu");
    assert_string_equal(nad_backend_target(b), "acme-npu");
    assert_false(nad_backend_reports(b, NAD_RES_DRAM));
    assert_false(nad_backend_is_timed(b, NAD_RES_LATENCY));
    for (size_t f = 0; f < sizeof fixtures / sizeof fixtures[0]; f++) {
        nad_graph *g = load(fixtures[f]);
        double v[NAD_RES_COUNT], sec, pj;
        nad_err e = {{0}};
        assert_int_equal(nad_backend_measure(b, g, v, &e), NAD_OK);
        roofline(g, &sec, &pj);
        assert_true(sec > 0 && pj > 0);
        if (fabs(v[NAD_RES_LATENCY] - sec) > 1e-9 * sec || fabs(v[NAD_RES_ENERGY] - pj) > 1e-9 * pj)
            fail_msg("%s: plugin %.9g s %.9g pJ, roofline %.9g s %.9g pJ", fixtures[f], v[NAD_RES_LATENCY],
                     v[NAD_RES_ENERGY], sec, pj);
        assert_true(isnan(v[NAD_RES_DRAM]));
        nad_graph_free(g);
    }
    nad_backend_destroy(b);
}

/* Compute-bound and free of memory energy, the plugin's numbers are the
 * graph's MAC count over the peak and times the MAC energy. */
static void test_example_counts_macs(void **state)
{
    char spec[1024];
    snprintf(spec, sizeof spec, "plugin:%s:peak_gmacs=3,bw_gbs=1e9,overhead_us=0,pj_per_mac=2,pj_per_byte=0",
             NAD_EXAMPLE_PLUGIN);
    nad_backend *b = open_ok(spec);
    nad_graph *g = load("examples/fixtures/resnet.op13.onnx");
    double v[NAD_RES_COUNT];
    nad_err e = {{0}};
    assert_int_equal(nad_backend_measure(b, g, v, &e), NAD_OK);
    assert_true(v[NAD_RES_MACS] > 1e5);
    assert_true(fabs(v[NAD_RES_LATENCY] - v[NAD_RES_MACS] / 3e9) < 1e-9 * v[NAD_RES_LATENCY]);
    assert_true(fabs(v[NAD_RES_ENERGY] - 2 * v[NAD_RES_MACS]) < 1e-9 * v[NAD_RES_ENERGY]);
    nad_graph_free(g);
    nad_backend_destroy(b);
}

/* Halving the first prunable group of each network lowers latency, energy
 * and MACs. */
static void test_narrower_is_cheaper(void **state)
{
    char spec[1024];
    snprintf(spec, sizeof spec, "plugin:%s:%s", NAD_EXAMPLE_PLUGIN, CONFIG);
    nad_backend *b = open_ok(spec);
    for (size_t f = 0; f < 3; f++) {
        nad_graph *g = load(fixtures[f]), *small = NULL;
        nad_groups *gs = NULL;
        nad_err e = {{0}};
        assert_int_equal(nad_groups_find(g, &gs, &e), NAD_OK);
        int k = 0;
        while (k < gs->n && (gs->g[k].frozen || gs->g[k].channels < 4))
            k++;
        assert_true(k < gs->n);
        int n_keep = gs->g[k].channels / 2, keep[4096];
        for (int i = 0; i < n_keep; i++)
            keep[i] = i;
        assert_int_equal(nad_shrink(g, &gs->g[k], keep, n_keep, &small, &e), NAD_OK);
        double full[NAD_RES_COUNT], half[NAD_RES_COUNT];
        assert_int_equal(nad_backend_measure(b, g, full, &e), NAD_OK);
        assert_int_equal(nad_backend_measure(b, small, half, &e), NAD_OK);
        assert_true(half[NAD_RES_MACS] < full[NAD_RES_MACS]);
        assert_true(half[NAD_RES_LATENCY] < full[NAD_RES_LATENCY]);
        assert_true(half[NAD_RES_ENERGY] < full[NAD_RES_ENERGY]);
        nad_groups_free(gs);
        nad_graph_free(small);
        nad_graph_free(g);
    }
    nad_backend_destroy(b);
}

/* layer(): a 3x3 conv (and a depthwise one, and a Gemm) against the formula,
 * per image at batch 4. */
static void test_example_layer(void **state)
{
    void *dl = dlopen(NAD_EXAMPLE_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(dl);
    nad_backend_plugin_fn fn;
    void *sym = dlsym(dl, NAD_BACKEND_PLUGIN_SYMBOL);
    assert_non_null(sym);
    memcpy(&fn, &sym, sizeof fn);
    const nad_backend_ops *ops = fn();
    void *st = NULL;
    char err[256] = "";
    assert_int_equal(ops->open(CONFIG, &st, err, sizeof err), 0);
    struct {
        nad_layer_desc d;
        double macs, params; /* for the whole batch */
    } cases[] = {
        {{"Conv", "c", 4, 16, 32, 1, 28, 28, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, 4.0 * 32 * 28 * 28 * 16 * 9,
         32.0 * 16 * 9 + 32},
        {{"Conv", "dw", 4, 64, 64, 64, 14, 14, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1}, 4.0 * 64 * 7 * 7 * 9, 64.0 * 9 + 64},
        {{"Gemm", "fc", 4, 256, 10, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}, 4.0 * 256 * 10, 2570},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const nad_layer_desc *d = &cases[i].d;
        double in = 4.0 * (double)(d->in_c * d->in_h * d->in_w), out = 4.0 * (double)(d->out_c * d->out_h * d->out_w);
        double bytes = 2 * (in + out + cases[i].params);
        double sec = (fmax(cases[i].macs / 100e9, bytes / 2e9) + 3e-6) / 4;
        double pj = (0.7 * cases[i].macs + 15 * bytes) / 4;
        double v[2], sp[2];
        assert_int_equal(ops->layer(st, d, v, sp, err, sizeof err), 0);
        assert_true(fabs(v[0] * 1e-3 - sec) < 1e-9 * sec);
        assert_true(fabs(v[1] * 1e6 - pj) < 1e-9 * pj);
    }
    nad_layer_desc broken = cases[0].d;
    broken.groups = 3; /* does not divide 16 channels */
    double v[2], sp[2];
    assert_int_not_equal(ops->layer(st, &broken, v, sp, err, sizeof err), 0);
    assert_non_null(strstr(err, "groups 3"));
    ops->close(st);
    dlclose(dl);
}

/* The example's configuration errors name the key. */
static void test_example_bad_config(void **state)
{
    char spec[1024];
    snprintf(spec, sizeof spec, "plugin:%s:peak_gmacs=-1", NAD_EXAMPLE_PLUGIN);
    open_fails(spec, "peak_gmacs=-1 is not a positive number", "acme_npu.so");
    snprintf(spec, sizeof spec, "plugin:%s:clock=1", NAD_EXAMPLE_PLUGIN);
    open_fails(spec, "option 'clock=1' is not one of", NULL);
}

/* A missing file, a directory and a text file named .so. */
static void test_not_a_plugin(void **state)
{
    open_fails("plugin:/nonexistent/acme.so", "'/nonexistent/acme.so': no such file", NULL);
    open_fails("plugin:", "no library path", NULL);
    char path[1024], spec[1100];
    snprintf(path, sizeof path, "%s/notes.so", tu_tmpdir());
    const char *text = "this is not an ELF file\n";
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
    snprintf(spec, sizeof spec, "plugin:%s:x=1", path);
    open_fails(spec, "cannot be loaded", "notes.so");
    snprintf(spec, sizeof spec, "plugin:%s", tu_tmpdir());
    open_fails(spec, "not a regular file", NULL);
}

/* Wrong ABI, no entry point, a NULL table, an unresolved symbol. */
static void test_bad_plugins(void **state)
{
    open_fails(bad("bad_abi", NULL), "ABI version 99", "speaks version 1");
    open_fails(bad("no_symbol", NULL), "exports no 'nad_backend_plugin'", "no_symbol.so");
    open_fails(bad("null_entry", NULL), "returned no ops table", NULL);
    open_fails(bad("unresolved", NULL), "cannot be loaded", "acme_driver_that_is_not_installed");
}

/* A callback's own message reaches the caller; a bad value is refused. */
static void test_failing_callbacks(void **state)
{
    open_fails(bad("failing", "open"), "cannot open /dev/acme0: device busy", NULL);
    open_fails(bad("failing", "resources"), "firmware reports no counters", NULL);
    nad_graph *g = load("examples/fixtures/cnn_bn.op13.onnx");
    const char *modes[][2] = {{"network", "board rebooted during the run"},
                              {"nan", "not a finite non-negative value"},
                              {"negative", "not a finite non-negative value"}};
    for (size_t i = 0; i < 3; i++) {
        nad_backend *b = open_ok(bad("failing", modes[i][0]));
        double v[NAD_RES_COUNT];
        nad_err e = {{0}};
        assert_int_not_equal(nad_backend_measure(b, g, v, &e), NAD_OK);
        if (!strstr(e.msg, modes[i][1]) || !strstr(e.msg, "failing"))
            fail_msg("%s: '%s'", modes[i][0], e.msg);
        nad_backend_destroy(b);
    }
    /* The same plugin, working: 1 ms. */
    nad_backend *b = open_ok(bad("failing", NULL));
    double v[NAD_RES_COUNT];
    nad_err e = {{0}};
    assert_int_equal(nad_backend_measure(b, g, v, &e), NAD_OK);
    assert_true(fabs(v[NAD_RES_LATENCY] - 1e-3) < 1e-15);
    nad_backend_destroy(b);
    nad_graph_free(g);
}

/* A bare file name is the working directory's file, not a library search. */
static void test_relative_path(void **state)
{
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(NAD_TEST_PLUGIN_DIR), 0);
    nad_backend *b = NULL;
    nad_err e = {{0}};
    nad_status rc = nad_backend_open("plugin:failing.so", &b, &e);
    assert_int_equal(chdir(cwd), 0);
    if (rc)
        fail_msg("%s", e.msg);
    assert_string_equal(nad_backend_target(b), "failing");
    nad_backend_destroy(b);
}

/* A plugin in a list: latency from the plugin, DRAM from the model. */
static void test_plugin_in_list(void **state)
{
    char spec[1024];
    snprintf(spec, sizeof spec, "plugin:%s", NAD_EXAMPLE_PLUGIN);
    const char *specs[] = {spec, tu_src("models/eyeriss.yaml")};
    nad_backend *b = NULL;
    nad_err e = {{0}};
    if (nad_backend_open_list(specs, 2, &b, &e))
        fail_msg("%s", e.msg);
    assert_string_equal(nad_backend_source(b, NAD_RES_LATENCY), "acme-npu");
    assert_string_equal(nad_backend_source(b, NAD_RES_DRAM), "eyeriss");
    nad_graph *g = load("examples/fixtures/cnn_bn.op13.onnx");
    double v[NAD_RES_COUNT];
    assert_int_equal(nad_backend_measure(b, g, v, &e), NAD_OK);
    assert_true(v[NAD_RES_LATENCY] > 0 && v[NAD_RES_DRAM] > 0);
    nad_graph_free(g);
    nad_backend_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_matches_roofline),
        cmocka_unit_test(test_example_counts_macs),
        cmocka_unit_test(test_narrower_is_cheaper),
        cmocka_unit_test(test_example_layer),
        cmocka_unit_test(test_example_bad_config),
        cmocka_unit_test(test_not_a_plugin),
        cmocka_unit_test(test_bad_plugins),
        cmocka_unit_test(test_failing_callbacks),
        cmocka_unit_test(test_relative_path),
        cmocka_unit_test(test_plugin_in_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
