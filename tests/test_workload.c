/*
 * Workloads (measure/workload.c): the shipped networks reproduce their
 * published MAC counts, --batch overrides the file, broken files fail with
 * FILE:LINE and the key, and a hand-built graph converts into the right
 * layer shapes and weight densities.
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

#include "graph/graph.h"
#include "testutil.h"
#include "workload.h"

static nad_workload *load_net(const char *name, int64_t batch)
{
    char rel[128];
    nad_workload *w = NULL;
    nad_err e = {{0}};
    snprintf(rel, sizeof rel, "examples/workloads/%s.yaml", name);
    nad_status rc = nad_workload_load(tu_src(rel), batch, &w, &e);
    if (rc != NAD_OK)
        fail_msg("%s: %s", rel, e.msg);
    assert_non_null(w);
    return w;
}

/* MACs in conv layers only (dense and grouped). */
static int64_t conv_macs(const nad_workload *w)
{
    int64_t total = 0;
    for (int i = 0; i < w->n_layers; i++)
        if (w->layers[i].kind == NAD_LK_CONV || w->layers[i].kind == NAD_LK_GROUPED)
            total += nad_layer_macs(&w->layers[i]);
    return total;
}

/* Fails unless got is within rel (fraction) of want. */
static void expect_near(const char *what, double got, double want, double rel)
{
    if (fabs(got - want) > rel * want)
        fail_msg("%s: %.4g, expected %.4g within %.1f%%", what, got, want, rel * 100);
}

static void test_alexnet(void **state)
{
    (void)state;
    nad_workload *w = load_net("alexnet", 0);
    assert_string_equal(w->name, "alexnet");
    assert_int_equal(w->batch, 1);
    /* Eyeriss JSSC 2017: 665.8 M conv MACs, 2.3 M conv weights per image. */
    expect_near("alexnet conv MACs", (double)conv_macs(w), 665.8e6, 0.0005);
    expect_near("alexnet total MACs", (double)nad_workload_macs(w), 724e6, 0.005);
    int64_t conv_weights = 0;
    for (int i = 0; i < w->n_layers; i++)
        if (w->layers[i].kind == NAD_LK_CONV || w->layers[i].kind == NAD_LK_GROUPED)
            conv_weights += nad_layer_weight_count(&w->layers[i]);
    expect_near("alexnet conv weights", (double)conv_weights, 2.3e6, 0.02);
    const nad_layer_shape *c1 = &w->layers[0], *c2 = &w->layers[2];
    assert_string_equal(c1->name, "conv1");
    assert_int_equal(c1->P, 55); /* (227 - 11) / 4 + 1, derived */
    assert_int_equal(c1->Q, 55);
    assert_int_equal(c2->kind, NAD_LK_GROUPED);
    assert_int_equal(c2->groups, 2);
    assert_int_equal(c2->P, 27);
    assert_int_equal(w->layers[1].kind, NAD_LK_POOL);
    assert_int_equal(w->layers[1].P, 27);
    assert_true(c1->weight_density == 1.0 && c1->act_density == 1.0);
    assert_int_equal(c1->graph_node, -1);
    assert_true(c1->line > 0);
    nad_workload_free(w);

    /* --batch 4 scales every layer. */
    w = load_net("alexnet", 4);
    assert_int_equal(w->batch, 4);
    assert_int_equal(w->layers[0].N, 4);
    expect_near("alexnet batch-4 conv MACs", (double)conv_macs(w), 4 * 665.8e6, 0.0005);
    nad_workload_free(w);
}

static void test_published_totals(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        double macs, tol;
    } nets[] = {
        {"vgg16", 15.5e9, 0.01},      /* 15.47 G                                   */
        {"googlenet", 1.5e9, 0.06},   /* "1.5 billion multiply-adds" (Szegedy 2015) */
        {"resnet50", 4.1e9, 0.01},    /* 4.09 G (torchvision v1.5)                  */
        {"mobilenet_v1", 569e6, 0.003},
        {"mobilenet_v2", 300e6, 0.005},
    };
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
        nad_workload *w = load_net(nets[i].name, 0);
        expect_near(nets[i].name, (double)nad_workload_macs(w), nets[i].macs, nets[i].tol);
        nad_workload_free(w);
    }
    /* Depthwise layers are grouped with groups = C = M. */
    nad_workload *w = load_net("mobilenet_v1", 0);
    const nad_layer_shape *dw = &w->layers[1];
    assert_int_equal(dw->kind, NAD_LK_GROUPED);
    assert_int_equal(dw->groups, 32);
    assert_int_equal(dw->M, 32);
    assert_int_equal(nad_layer_macs(dw), 112 * 112 * 32 * 9);
    nad_workload_free(w);
    /* ResNet-50 has 53 convs (49 + 4 projections), 16 residual adds, 1 fc. */
    w = load_net("resnet50", 0);
    int convs = 0, adds = 0, fcs = 0;
    for (int i = 0; i < w->n_layers; i++) {
        convs += w->layers[i].kind == NAD_LK_CONV;
        adds += w->layers[i].kind == NAD_LK_ELTWISE;
        fcs += w->layers[i].kind == NAD_LK_FC;
    }
    assert_int_equal(convs, 53);
    assert_int_equal(adds, 16);
    assert_int_equal(fcs, 1);
    nad_workload_free(w);
}

/* Writes text into the temp dir as name.yaml and returns the path (static buffer per call site). */
static const char *write_tmp(const char *name, const char *text, char *path, size_t size)
{
    snprintf(path, size, "%s/%s.yaml", tu_tmpdir(), name);
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
    return path;
}

/* Loads a broken workload; checks status, "path:line:" and the substrings. */
static void expect_broken(const char *tag, const char *layer_line, nad_status want, int line,
                          const char *const *must)
{
    char text[1024], path[512], loc[600];
    snprintf(text, sizeof text,
             "name: broken\nbatch: 2\nlayers:\n"
             "  - {name: ok1, type: conv, C: 3, H: 32, W: 32, M: 8, R: 3, S: 3, pad: 1}\n"
             "%s\n",
             layer_line);
    write_tmp(tag, text, path, sizeof path);
    nad_workload *w = (nad_workload *)1;
    nad_err e = {{0}};
    nad_status rc = nad_workload_load(path, 0, &w, &e);
    if (rc != want)
        fail_msg("%s: status %s, want %s (%s)", tag, nad_status_str(rc), nad_status_str(want), e.msg);
    assert_null(w);
    snprintf(loc, sizeof loc, "%s:%d:", path, line);
    if (!strstr(e.msg, loc))
        fail_msg("%s: message '%s' lacks '%s'", tag, e.msg, loc);
    for (int i = 0; must && must[i]; i++)
        if (!strstr(e.msg, must[i]))
            fail_msg("%s: message '%s' lacks '%s'", tag, e.msg, must[i]);
}

static void test_errors(void **state)
{
    (void)state;
    const char *unknown[] = {"layers[1] (c2).strid", "did you mean 'stride'", NULL};
    expect_broken("unknown", "  - {name: c2, type: conv, C: 8, H: 32, W: 32, M: 8, R: 3, S: 3, strid: 2}",
                  NAD_EFORMAT, 5, unknown);
    const char *missing[] = {"layers[1] (c2)", "missing required field 'M'", NULL};
    expect_broken("missing", "  - {name: c2, type: conv, C: 8, H: 32, W: 32, R: 3, S: 3}", NAD_EFORMAT, 5, missing);
    const char *negative[] = {"layers[1] (c2).C", "positive", NULL};
    expect_broken("negative", "  - {name: c2, type: conv, C: -8, H: 32, W: 32, M: 8, R: 3, S: 3}", NAD_EINVAL, 5,
                  negative);
    const char *badtype[] = {"layers[1] (c2).H", "expected an integer", NULL};
    expect_broken("badtype", "  - {name: c2, type: conv, C: 8, H: big, W: 32, M: 8, R: 3, S: 3}", NAD_EFORMAT, 5,
                  badtype);
    const char *groups[] = {"groups", "divisible", NULL};
    expect_broken("groups", "  - {name: c2, type: conv, C: 8, H: 32, W: 32, M: 8, R: 3, S: 3, groups: 3}",
                  NAD_EINVAL, 5, groups);
    const char *density[] = {"weight_density", "(0, 1]", NULL};
    expect_broken("density",
                  "  - {name: c2, type: conv, C: 8, H: 32, W: 32, M: 8, R: 3, S: 3, weight_density: 1.5}",
                  NAD_EINVAL, 5, density);
    const char *pq[] = {"layers[1] (c2).P", "given 32x30", "gives 30x30", NULL};
    expect_broken("pq", "  - {name: c2, type: conv, C: 8, H: 32, W: 32, M: 8, R: 3, S: 3, P: 32}", NAD_EINVAL, 5,
                  pq);
    const char *window[] = {"window does not fit", NULL};
    expect_broken("window", "  - {name: c2, type: conv, C: 8, H: 2, W: 2, M: 8, R: 3, S: 3}", NAD_EINVAL, 5,
                  window);
    const char *type[] = {"layers[1] (c2).type", "'convolution' is not one of", NULL};
    expect_broken("type", "  - {name: c2, type: convolution, C: 8}", NAD_EFORMAT, 5, type);
    const char *fc_key[] = {"layers[1] (f).R", "unknown key", NULL};
    expect_broken("fc_key", "  - {name: f, type: fc, C: 8, M: 4, R: 3}", NAD_EFORMAT, 5, fc_key);
    const char *syntax[] = {"YAML syntax error", NULL};
    expect_broken("syntax", "  - {name: c2, type: conv, C: 8, H: 32", NAD_EFORMAT, 6, syntax);

    char path[512];
    nad_workload *w = NULL;
    nad_err e = {{0}};
    write_tmp("nolayers", "name: x\nbatch: 1\n", path, sizeof path);
    assert_int_equal(nad_workload_load(path, 0, &w, &e), NAD_EFORMAT);
    assert_non_null(strstr(e.msg, "missing required field 'layers'"));
    write_tmp("badbatch", "name: x\nbatch: 0\nlayers: []\n", path, sizeof path);
    assert_int_equal(nad_workload_load(path, 0, &w, &e), NAD_EINVAL);
    assert_non_null(strstr(e.msg, ":2:"));
    assert_int_equal(nad_workload_load("/nonexistent/w.yaml", 0, &w, &e), NAD_EIO);
    assert_null(w);
}

/* Kinds, pads lists, ceil-mode pools, eltwise and matmul from YAML. */
static void test_kinds(void **state)
{
    (void)state;
    char path[512];
    const char *text = "name: kinds\nbatch: 3\nlayers:\n"
                       "  - {name: c, type: conv, N: 1, C: 4, H: 10, W: 9, M: 6, R: 3, S: 2, pads: [1, 0, 1, 0],"
                       " stride_h: 2, dilation: 1}\n"
                       "  - {name: p, type: pool, pool: avg, C: 4, H: 112, W: 112, R: 3, S: 3, stride: 2,"
                       " ceil_mode: true}\n"
                       "  - {name: e, type: eltwise, C: 4, H: 5, W: 5, operands: 3}\n"
                       "  - {name: m, type: matmul, rows: 7, C: 16, M: 8}\n"
                       "  - {name: d, type: depthwise, C: 8, H: 6, W: 6, R: 3, S: 3, pad: 1, act_density: 0.5}\n";
    write_tmp("kinds", text, path, sizeof path);
    nad_workload *w = NULL;
    nad_err e = {{0}};
    if (nad_workload_load(path, 0, &w, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(w->n_layers, 5);
    const nad_layer_shape *c = &w->layers[0];
    assert_int_equal(c->N, 1); /* per-layer N kept without --batch */
    assert_int_equal(c->P, (10 + 2 - 3) / 2 + 1);
    assert_int_equal(c->Q, 9 - 2 + 1);
    assert_int_equal(nad_layer_macs(c), 1LL * 6 * c->P * c->Q * 4 * 3 * 2);
    const nad_layer_shape *p = &w->layers[1];
    assert_int_equal(p->P, 56); /* ceil((112 - 3) / 2) + 1 */
    assert_int_equal(p->is_max_pool, 0);
    assert_int_equal(nad_layer_macs(p), 0);
    assert_int_equal(nad_layer_ops(p), 3LL * 4 * 56 * 56 * 9);
    const nad_layer_shape *el = &w->layers[2];
    assert_int_equal(el->n_operands, 3);
    assert_int_equal(nad_layer_ops(el), 2LL * 3 * 4 * 25);
    assert_int_equal(nad_layer_input_count(el), 3LL * 3 * 4 * 25);
    const nad_layer_shape *m = &w->layers[3];
    assert_int_equal(m->kind, NAD_LK_MATMUL);
    assert_int_equal(m->N, 21);
    assert_int_equal(nad_layer_macs(m), 21LL * 16 * 8);
    assert_int_equal(nad_layer_weight_count(m), 0);
    const nad_layer_shape *d = &w->layers[4];
    assert_int_equal(d->groups, 8);
    assert_int_equal(d->kind, NAD_LK_GROUPED);
    assert_true(d->act_density == 0.5);
    assert_string_equal(nad_layer_kind_str(d->kind), "grouped");
    nad_workload_free(w);
    /* --batch replaces the per-layer N too. */
    assert_int_equal(nad_workload_load(path, 5, &w, &e), NAD_OK);
    assert_int_equal(w->layers[0].N, 5);
    assert_int_equal(w->layers[3].N, 35);
    nad_workload_free(w);
}

/* Adds an activation tensor with unknown dims; returns its index. */
static int act(nad_graph *g, const char *name)
{
    int t = nad_graph_add_tensor(g, name, NAD_DT_FLOAT, NAD_TK_ACT, 0, NULL);
    assert_true(t >= 0);
    return t;
}

/* Adds a weight tensor whose every k-th value is zero (others 0.5). */
static int weight(nad_graph *g, const char *name, int ndim, const int64_t *dims, int zero_every)
{
    nad_err e = {{0}};
    int t = nad_graph_add_tensor(g, name, NAD_DT_FLOAT, NAD_TK_WEIGHT, ndim, dims);
    assert_true(t >= 0);
    assert_int_equal(nad_tensor_alloc(&g->tensors[t], &e), NAD_OK);
    float *v = nad_tensor_f32(&g->tensors[t]);
    int64_t n = nad_tensor_numel(&g->tensors[t]);
    for (int64_t i = 0; i < n; i++)
        v[i] = zero_every > 0 && i % zero_every == 0 ? 0.0f : 0.5f;
    return t;
}

static void test_from_graph(void **state)
{
    (void)state;
    nad_err e = {{0}};
    nad_graph *g = nad_graph_new();
    assert_non_null(g);
    const int64_t xd[4] = {1, 3, 8, 8}, w1d[4] = {4, 3, 3, 3}, w2d[4] = {4, 1, 3, 3}, w3d[2] = {10, 4};
    const int64_t w4d[2] = {4, 5};
    int x = nad_graph_add_tensor(g, "x", NAD_DT_FLOAT, NAD_TK_INPUT, 4, xd);
    int w1 = weight(g, "w1", 4, w1d, 4);  /* 27 of 108 zero: density 0.75 */
    int w2 = weight(g, "w2", 4, w2d, 0);  /* dense */
    int w3 = weight(g, "w3", 2, w3d, 2);  /* half zero */
    int w4 = weight(g, "w4", 2, w4d, 0);
    int y1 = act(g, "y1"), y2 = act(g, "y2"), y3 = act(g, "y3"), y4 = act(g, "y4"), y5 = act(g, "y5");
    int y6 = act(g, "y6"), y7 = act(g, "y7"), y8 = act(g, "y8"), y9 = act(g, "y9");
    g->inputs = malloc(sizeof(int));
    g->outputs = malloc(2 * sizeof(int));
    assert_non_null(g->inputs);
    assert_non_null(g->outputs);
    g->inputs[0] = x;
    g->n_inputs = 1;
    g->outputs[0] = y8;
    g->outputs[1] = y9;
    g->n_outputs = 2;

    nad_attr a;
    memset(&a, 0, sizeof a);
    a.conv = (nad_conv_attr){.kh = 3, .kw = 3, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .pads = {1, 1, 1, 1}, .group = 1};
    assert_true(nad_graph_add_node(g, "conv1", NAD_OP_CONV, 2, (int[]){x, w1}, 1, &y1, &a) >= 0);
    assert_true(nad_graph_add_node(g, "relu1", NAD_OP_RELU, 1, &y1, 1, &y2, NULL) >= 0);
    memset(&a, 0, sizeof a);
    a.pool = (nad_pool_attr){.kh = 2, .kw = 2, .sh = 2, .sw = 2, .dh = 1, .dw = 1};
    assert_true(nad_graph_add_node(g, "pool1", NAD_OP_MAXPOOL, 1, &y2, 1, &y3, &a) >= 0);
    memset(&a, 0, sizeof a);
    a.conv = (nad_conv_attr){.kh = 3, .kw = 3, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .pads = {1, 1, 1, 1}, .group = 4};
    assert_true(nad_graph_add_node(g, "dw1", NAD_OP_CONV, 2, (int[]){y3, w2}, 1, &y4, &a) >= 0);
    assert_true(nad_graph_add_node(g, "add1", NAD_OP_ADD, 2, (int[]){y3, y4}, 1, &y5, NULL) >= 0);
    assert_true(nad_graph_add_node(g, "gap", NAD_OP_GLOBAL_AVGPOOL, 1, &y5, 1, &y6, NULL) >= 0);
    memset(&a, 0, sizeof a);
    a.axis.axis = 1;
    assert_true(nad_graph_add_node(g, "flat", NAD_OP_FLATTEN, 1, &y6, 1, &y7, &a) >= 0);
    memset(&a, 0, sizeof a);
    a.gemm = (nad_gemm_attr){.alpha = 1, .beta = 1, .trans_a = 0, .trans_b = 1};
    assert_true(nad_graph_add_node(g, "fc", NAD_OP_GEMM, 2, (int[]){y7, w3}, 1, &y8, &a) >= 0);
    assert_true(nad_graph_add_node(g, "mm", NAD_OP_MATMUL, 2, (int[]){y7, w4}, 1, &y9, NULL) >= 0);

    /* Before shape inference the conversion refuses. */
    nad_workload *w = (nad_workload *)1;
    assert_int_equal(nad_workload_from_graph(g, &w, &e), NAD_ESTATE);
    assert_null(w);

    if (nad_graph_infer_shapes(g, 2, &e))
        fail_msg("infer_shapes: %s", e.msg);
    assert_int_equal(nad_workload_from_graph(g, &w, &e), NAD_OK);
    assert_int_equal(w->batch, 2);
    assert_int_equal(w->n_layers, 7); /* relu and flatten carry no cost */
    const nad_layer_shape *c1 = &w->layers[0];
    assert_string_equal(c1->name, "conv1");
    assert_int_equal(c1->kind, NAD_LK_CONV);
    assert_int_equal(c1->N, 2);
    assert_int_equal(c1->C, 3);
    assert_int_equal(c1->M, 4);
    assert_int_equal(c1->P, 8);
    assert_int_equal(c1->R, 3);
    assert_int_equal(c1->pad_top, 1);
    assert_int_equal(c1->graph_node, 0);
    assert_true(fabs(c1->weight_density - 81.0 / 108.0) < 1e-12);
    assert_int_equal(nad_layer_macs(c1), 2LL * 4 * 8 * 8 * 3 * 9);
    const nad_layer_shape *p1 = &w->layers[1];
    assert_int_equal(p1->kind, NAD_LK_POOL);
    assert_true(p1->is_max_pool);
    assert_int_equal(p1->P, 4);
    assert_int_equal(p1->R, 2);
    const nad_layer_shape *dw = &w->layers[2];
    assert_int_equal(dw->kind, NAD_LK_GROUPED);
    assert_int_equal(dw->groups, 4);
    assert_int_equal(nad_layer_macs(dw), 2LL * 4 * 4 * 4 * 1 * 9);
    assert_true(dw->weight_density == 1.0);
    const nad_layer_shape *add = &w->layers[3];
    assert_int_equal(add->kind, NAD_LK_ELTWISE);
    assert_int_equal(add->C, 4);
    assert_int_equal(add->H, 4);
    const nad_layer_shape *gap = &w->layers[4];
    assert_int_equal(gap->R, 4);
    assert_int_equal(gap->P, 1);
    const nad_layer_shape *fc = &w->layers[5];
    assert_int_equal(fc->kind, NAD_LK_FC);
    assert_int_equal(fc->N, 2);
    assert_int_equal(fc->C, 4);
    assert_int_equal(fc->M, 10);
    assert_true(fabs(fc->weight_density - 0.5) < 1e-12);
    const nad_layer_shape *mm = &w->layers[6];
    assert_int_equal(mm->kind, NAD_LK_FC); /* MatMul by a weight is an fc */
    assert_int_equal(mm->M, 5);
    assert_int_equal(nad_workload_macs(w), nad_layer_macs(c1) + nad_layer_macs(dw) + 2 * 4 * 10 + 2 * 4 * 5);
    nad_workload_free(w);

    /* A corrupted weight shape is reported with the node's name. */
    g->tensors[w2].dims[1] = 2;
    assert_int_equal(nad_workload_from_graph(g, &w, &e), NAD_ESHAPE);
    assert_non_null(strstr(e.msg, "dw1"));
    assert_null(w);
    nad_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alexnet),    cmocka_unit_test(test_published_totals),
        cmocka_unit_test(test_errors),     cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_from_graph),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
