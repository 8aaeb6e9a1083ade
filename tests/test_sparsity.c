/*
 * Tests of activation sparsity in the hardware model: densities measured by
 * the engine on calibration images (checked against counts made here), their
 * effect on energy and DRAM traffic on a target with declared sparsity
 * support (Eyeriss: zero gating + RLC DRAM) and on targets without it,
 * densities given by hand, the CLI's --data / --act-density, and the arch's
 * dram_overlap option.
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

#include "arch.h"
#include "cost.h"
#include "engine/plan.h"
#include "graph/graph.h"
#include "mapper.h"
#include "mapping.h"
#include "nadapt/data.h"
#include "nadapt/engine.h"
#include "nadapt/estimate.h"
#include "testutil.h"
#include "workload.h"

#define CALIB 64
static const float fm_mean = 0.2860f, fm_std = 0.3530f; /* examples/fixtures/manifest.tsv */

/* The first n Fashion-MNIST test images of the fixture, normalised. */
static float *load_images(int n, int64_t *per)
{
    nad_dataset *d = NULL;
    nad_err e = {{0}};
    if (nad_dataset_load(tu_src("examples/fixtures/fmnist_test256"), NAD_SPLIT_TEST, &d, &e))
        fail_msg("%s", e.msg);
    *per = (int64_t)d->c * d->h * d->w;
    float *x = malloc(sizeof *x * (size_t)(n * *per));
    assert_non_null(x);
    assert_int_equal(nad_dataset_batch(d, NULL, 0, n, &fm_mean, &fm_std, 1, x, &e), NAD_OK);
    nad_dataset_free(d);
    return x;
}

static nad_graph *load_model(const char *rel)
{
    nad_graph *g = NULL;
    nad_err e = {{0}};
    if (nad_graph_load_onnx(tu_src(rel), 1, &g, &e))
        fail_msg("%s", e.msg);
    return g;
}

/* Fraction of non-zeros among n floats. */
static double density_of(const float *x, int64_t n)
{
    int64_t nz = 0;
    for (int64_t i = 0; i < n; i++)
        nz += x[i] != 0.0f;
    return (double)nz / (double)n;
}

/*
 * The measured density of a ReLU's output equals a count made here image by
 * image through a batch-1 plan (a different chunking than the library's), and
 * the first conv's input density equals the count over the normalised images
 * themselves.  The ReLU output is strictly sparse (0 < d < 1) and the ReLU's
 * input density is the conv output's.
 */
static void test_measured_density_matches_count(void **state)
{
    (void)state;
    int64_t per = 0;
    float *x = load_images(CALIB, &per);
    nad_graph *g = load_model("examples/fixtures/cnn_bn.op13.onnx");
    nad_act_density *d = NULL;
    nad_err e = {{0}};
    if (nad_measure_act_density(g, x, CALIB, per, 32, &d, &e))
        fail_msg("%s", e.msg);
    int relu = -1, conv = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        if (relu < 0 && g->nodes[i].op == NAD_OP_RELU)
            relu = i;
        if (conv < 0 && g->nodes[i].op == NAD_OP_CONV)
            conv = i;
    }
    assert_true(relu >= 0 && conv >= 0);
    int t = g->nodes[relu].out[0];
    nad_plan *p = NULL;
    assert_int_equal(nad_plan_create_ex(g, 1, NAD_PLAN_KEEP_ACTIVATIONS | NAD_PLAN_NO_FUSION, &p, &e), NAD_OK);
    int64_t nz = 0, total = 0, per_t = nad_plan_per_image(p, t);
    for (int i = 0; i < CALIB; i++) {
        memcpy(nad_plan_input(p), x + (int64_t)i * per, sizeof(float) * (size_t)per);
        assert_int_equal(nad_plan_run(p, 1, &e), NAD_OK);
        const float *y = nad_plan_data(p, t);
        for (int64_t k = 0; k < per_t; k++)
            nz += y[k] != 0.0f;
        total += per_t;
    }
    double want = (double)nz / (double)total;
    print_message("ReLU '%s': measured density %.6f, counted %.6f; conv input %.6f\n", g->nodes[relu].name,
                  d[relu].out, want, d[conv].in);
    assert_true(fabs(d[relu].out - want) < 1e-12);
    assert_true(want > 0.05 && want < 0.95);
    assert_true(fabs(d[conv].in - density_of(x, CALIB * per)) < 1e-12);
    int producer = g->tensors[g->nodes[relu].in[0]].producer;
    assert_true(producer >= 0);
    assert_true(fabs(d[relu].in - d[producer].out) < 1e-12);
    nad_plan_destroy(p);
    /* A wrong image size is an error naming the input, not a bad read. */
    nad_act_density *bad = NULL;
    assert_int_equal(nad_measure_act_density(g, x, CALIB, per - 1, 32, &bad, &e), NAD_ESHAPE);
    assert_null(bad);
    assert_non_null(strstr(e.msg, "input"));
    free(d);
    nad_graph_free(g);
    free(x);
}

/* Estimate of g (shapes re-inferred for batch 1) with or without densities. */
static nad_estimate *estimate(const char *target, nad_graph *g, const nad_act_density *d, double by_hand)
{
    nad_estimator *est = NULL;
    nad_estimate *r = NULL;
    nad_err e = {{0}};
    if (nad_estimator_create(tu_src(target), NAD_OBJ_ENERGY, &est, &e) || nad_graph_infer_shapes(g, 1, &e) ||
        nad_estimator_run_graph_density(est, g, d, by_hand, &r, &e))
        fail_msg("%s: %s", target, e.msg);
    nad_estimator_destroy(est);
    return r;
}

/*
 * On Eyeriss (zero gating on inputs, RLC DRAM activations) measured densities
 * below 1 strictly lower energy and DRAM traffic against density 1; the rows
 * report the densities used (a conv after a ReLU reads < 1, the first conv
 * reads the dense image).  On targets without sparsity support nothing
 * changes.
 */
static void test_measured_density_energy(void **state)
{
    (void)state;
    int64_t per = 0;
    float *x = load_images(CALIB, &per);
    nad_graph *g = load_model("examples/fixtures/cnn_bn.op13.onnx");
    nad_act_density *d = NULL;
    nad_err e = {{0}};
    if (nad_measure_act_density(g, x, CALIB, per, 32, &d, &e))
        fail_msg("%s", e.msg);
    nad_estimate *dense = estimate("models/eyeriss.yaml", g, NULL, 0);
    nad_estimate *sparse = estimate("models/eyeriss.yaml", g, d, 0);
    print_message("eyeriss: dense %.6g, measured %.6g MAC units; DRAM %.6g -> %.6g\n", dense->total.energy,
                  sparse->total.energy, dense->total.dram_accesses, sparse->total.dram_accesses);
    assert_true(sparse->total.energy < dense->total.energy);
    assert_true(sparse->total.dram_accesses < dense->total.dram_accesses);
    assert_int_equal(sparse->n_layers, dense->n_layers);
    int convs = 0;
    for (int i = 0; i < sparse->n_layers; i++) {
        const nad_layer_estimate *l = &sparse->layers[i];
        assert_true(dense->layers[i].input_density == 1.0);
        if (strcmp(l->kind, "conv"))
            continue;
        if (convs++ == 0)
            assert_true(l->input_density > 0.99); /* normalised image: no zeros */
        else
            assert_true(l->input_density < 0.9);
        assert_true(l->output_density < 0.9); /* after the ReLU applied on the way out */
        assert_true(l->energy < dense->layers[i].energy);
    }
    assert_true(convs == 2);
    nad_estimate_free(dense);
    nad_estimate_free(sparse);
    const char *plain[] = {"models/eyeriss-like-timeloop.yaml", "models/tpu-like-ws.yaml"};
    for (size_t k = 0; k < sizeof plain / sizeof plain[0]; k++) {
        nad_estimate *a = estimate(plain[k], g, NULL, 0), *b = estimate(plain[k], g, d, 0);
        assert_true(a->total.energy == b->total.energy);
        assert_true(a->total.cycles == b->total.cycles);
        assert_true(a->total.dram_accesses == b->total.dram_accesses);
        nad_estimate_free(a);
        nad_estimate_free(b);
    }
    free(d);
    nad_graph_free(g);
    free(x);
}

/* Densities by hand on a workload file: Eyeriss energy and DRAM traffic fall
 * strictly as the density falls; a target without sparsity support does not
 * move; out-of-range densities are refused. */
static void test_density_by_hand(void **state)
{
    (void)state;
    const char *wl = "examples/workloads/alexnet.yaml";
    nad_err e = {{0}};
    nad_estimator *eye = NULL, *tl = NULL;
    assert_int_equal(nad_estimator_create(tu_src("models/eyeriss.yaml"), NAD_OBJ_ENERGY, &eye, &e), NAD_OK);
    assert_int_equal(nad_estimator_create(tu_src("models/eyeriss-like-timeloop.yaml"), NAD_OBJ_ENERGY, &tl, &e),
                     NAD_OK);
    const double dens[] = {1.0, 0.7, 0.4};
    double prev_e = 0, prev_dram = 0, tl_e = 0;
    for (int i = 0; i < 3; i++) {
        nad_estimate *r = NULL, *t = NULL;
        if (nad_estimator_run_file_density(eye, tu_src(wl), 1, dens[i], &r, &e) ||
            nad_estimator_run_file_density(tl, tu_src(wl), 1, dens[i], &t, &e))
            fail_msg("%s", e.msg);
        assert_true(fabs(r->layers[2].input_density - dens[i]) < 1e-12);
        if (i > 0) {
            assert_true(r->total.energy < prev_e);
            assert_true(r->total.dram_accesses < prev_dram);
            assert_true(t->total.energy == tl_e);
        }
        prev_e = r->total.energy;
        prev_dram = r->total.dram_accesses;
        tl_e = t->total.energy;
        nad_estimate_free(r);
        nad_estimate_free(t);
    }
    nad_estimate *r = NULL;
    assert_int_equal(nad_estimator_run_file_density(eye, tu_src(wl), 1, 1.5, &r, &e), NAD_EINVAL);
    assert_null(r);
    assert_int_equal(nad_estimator_run_file_density(eye, tu_src(wl), 1, -0.5, &r, &e), NAD_EINVAL);
    nad_estimator_destroy(eye);
    nad_estimator_destroy(tl);
}

/* The JSON "input_density" of the n-th layer object (0-based), or -1. */
static double json_layer_density(const char *out, int n, const char *key)
{
    const char *q = strstr(out, "\"layers\":[");
    for (int i = 0; q && i <= n; i++)
        q = strstr(q + 1, "{\"name\":");
    if (!q)
        return -1;
    const char *k = strstr(q, key);
    return k ? strtod(k + strlen(key), NULL) : -1;
}

/* nadapt estimate --data / --calib / --mean / --std and --act-density. */
static void test_cli_density(void **state)
{
    (void)state;
    static char out[1 << 18], err[4096];
    char args[2048];
    snprintf(args, sizeof args,
             "estimate '%s' --target '%s' --data '%s' --calib 32 --mean 0.2860 --std 0.3530 --json",
             tu_src("examples/fixtures/cnn_bn.op13.onnx"), tu_src("models/eyeriss.yaml"),
             tu_src("examples/fixtures/fmnist_test256"));
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 0);
    double first = json_layer_density(out, 0, "\"input_density\":");
    double second_conv = json_layer_density(out, 2, "\"input_density\":");
    assert_true(first > 0.99 && first <= 1.0);
    assert_true(second_conv > 0 && second_conv < 0.9);
    assert_non_null(strstr(out, "\"weight_density\":"));
    assert_non_null(strstr(out, "\"output_density\":"));
    /* The table shows the density columns. */
    snprintf(args, sizeof args, "estimate '%s' --target '%s' --act-density 0.5",
             tu_src("examples/workloads/alexnet.yaml"), tu_src("models/eyeriss.yaml"));
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "i_dens"));
    assert_non_null(strstr(out, " 0.500 "));
    /* Errors: one line each. */
    const char *bad[] = {"--act-density 0", "--act-density 1.5", "--act-density x", "--calib 0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(args, sizeof args, "estimate '%s' --target '%s' %s", tu_src("examples/workloads/alexnet.yaml"),
                 tu_src("models/eyeriss.yaml"), bad[i]);
        assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 1);
        assert_int_equal(tu_count_lines(err), 1);
        assert_non_null(strstr(err, "nadapt estimate:"));
    }
    snprintf(args, sizeof args, "estimate '%s' --target '%s' --data '%s'", tu_src("examples/workloads/alexnet.yaml"),
             tu_src("models/eyeriss.yaml"), tu_src("examples/fixtures/fmnist_test256"));
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "--act-density"));
    snprintf(args, sizeof args, "estimate '%s' --target '%s' --data /nonexistent-dataset",
             tu_src("examples/fixtures/cnn_bn.op13.onnx"), tu_src("models/eyeriss.yaml"));
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 1);
    assert_int_equal(tu_count_lines(err), 1);
    assert_non_null(strstr(err, "nonexistent-dataset"));
}

/*
 * dram_overlap: false makes a layer's cycles the largest on-chip bound plus
 * the DRAM transfer time (Eyeriss v1); true keeps the largest of all bounds.
 * Same mapping, same energy.
 */
static void test_dram_overlap(void **state)
{
    (void)state;
    nad_arch *a = NULL;
    nad_err e = {{0}};
    assert_int_equal(nad_arch_load(tu_src("models/eyeriss.yaml"), &a, &e), NAD_OK);
    nad_layer_shape l;
    memset(&l, 0, sizeof l);
    l.kind = NAD_LK_CONV;
    l.N = 1, l.M = 64, l.C = 32, l.P = l.Q = 27, l.R = l.S = 3, l.H = l.W = 29;
    l.stride_h = l.stride_w = l.dil_h = l.dil_w = 1;
    l.groups = l.n_operands = 1;
    l.weight_density = l.act_density = 1;
    nad_problem p;
    nad_mapping m;
    nad_cost c0, c1;
    nad_mapper_opts o;
    memset(&o, 0, sizeof o);
    assert_int_equal(nad_problem_from_layer(&l, &p, &e), NAD_OK);
    p.out_density = 1;
    assert_int_equal(nad_mapper_search(a, &p, &o, &m, &c0, &e), NAD_OK);
    nad_arch b = *a;
    b.dram_overlap = !a->dram_overlap;
    nad_cost_spatial(&b, &p, &m, &c1);
    const nad_cost *ov = a->dram_overlap ? &c0 : &c1, *ser = a->dram_overlap ? &c1 : &c0;
    double onchip = ov->compute_cycles;
    for (int k = 1; k < a->n_levels; k++)
        onchip = fmax(onchip, ov->level_cycles[k]);
    assert_true(ov->level_cycles[0] > 0);
    assert_true(fabs(ov->cycles - fmax(onchip, ov->level_cycles[0])) <= 1e-9 * ov->cycles);
    assert_true(fabs(ser->cycles - (onchip + ser->level_cycles[0])) <= 1e-9 * ser->cycles);
    assert_true(ser->cycles > ov->cycles);
    assert_non_null(strstr(ser->bound_name, "+ dram"));
    assert_true(c0.energy == c1.energy);
    nad_arch_free(a);
    /* The key is a strict boolean. */
    char path[512];
    snprintf(path, sizeof path, "%s/overlap.yaml", tu_tmpdir());
    size_t len = 0;
    char *yaml = tu_read_file(tu_src("models/eyeriss.yaml"), &len);
    assert_non_null(yaml);
    char *text = malloc(len + 64);
    assert_non_null(text);
    snprintf(text, len + 64, "dram_overlap: maybe\n%.*s", (int)len, yaml);
    char *dup = strstr(text + 20, "\ndram_overlap:");
    if (dup) /* the shipped file sets it already: drop that line */
        memset(dup + 1, ' ', strcspn(dup + 1, "\n"));
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
    assert_int_not_equal(nad_arch_load(path, &a, &e), NAD_OK);
    assert_null(a);
    assert_non_null(strstr(e.msg, "dram_overlap"));
    free(text);
    free(yaml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_measured_density_matches_count),
        cmocka_unit_test(test_measured_density_energy),
        cmocka_unit_test(test_density_by_hand),
        cmocka_unit_test(test_cli_density),
        cmocka_unit_test(test_dram_overlap),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_cleanup();
    return rc;
}
