/*
 * Graph passes: constant folding and aux-input absorption (fold.c),
 * simplification (Dropout/Identity removal, BatchNormalization folding),
 * layer info, the loaded fixtures and `nadapt info`.
 *
 * BN folding is checked numerically against a naive convolution / Gemm plus
 * batch norm written here; the fixtures are checked against the torch-side
 * numbers in examples/fixtures/manifest.tsv.
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
#include "graph/passes.h"
#include "nadapt/data.h"
#include "nadapt/engine.h"
#include "graph_builder.h"
#include "testutil.h"

/* ---- graph building helpers ------------------------------------------------ */

static float rnd(uint32_t *s, float lo, float hi)
{
    *s = *s * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(*s >> 8) / (float)(1u << 24);
}

/* A float tensor of the given kind filled with values in [lo, hi). */
static int filled(nad_graph *g, const char *name, nad_tensor_kind kind, int ndim, const int64_t *dims, uint32_t *s,
                  float lo, float hi)
{
    int t = nad_graph_add_tensor(g, name, NAD_DT_FLOAT, kind, ndim, dims);
    assert_true(t >= 0);
    assert_int_equal(nad_tensor_alloc(&g->tensors[t], NULL), NAD_OK);
    float *v = nad_tensor_f32(&g->tensors[t]);
    for (int64_t i = 0; i < nad_tensor_numel(&g->tensors[t]); i++)
        v[i] = rnd(s, lo, hi);
    return t;
}

static int const_i64(nad_graph *g, const char *name, int ndim, const int64_t *dims, const int64_t *v)
{
    int t = nad_graph_add_tensor(g, name, NAD_DT_INT64, NAD_TK_CONST, ndim, dims);
    assert_true(t >= 0);
    assert_int_equal(nad_tensor_alloc(&g->tensors[t], NULL), NAD_OK);
    memcpy(nad_tensor_i64(&g->tensors[t]), v, (size_t)nad_tensor_numel(&g->tensors[t]) * sizeof *v);
    return t;
}

static int const_f32(nad_graph *g, const char *name, int ndim, const int64_t *dims, const float *v)
{
    int t = nad_graph_add_tensor(g, name, NAD_DT_FLOAT, NAD_TK_CONST, ndim, dims);
    assert_true(t >= 0);
    assert_int_equal(nad_tensor_alloc(&g->tensors[t], NULL), NAD_OK);
    memcpy(nad_tensor_f32(&g->tensors[t]), v, (size_t)nad_tensor_numel(&g->tensors[t]) * sizeof *v);
    return t;
}

static nad_attr conv_attr(int k, int s, int p, int group)
{
    nad_attr a;
    memset(&a, 0, sizeof a);
    a.conv = (nad_conv_attr){k, k, s, s, 1, 1, {p, p, p, p}, group, NAD_PAD_NOTSET};
    return a;
}

static void ok(nad_status rc, const nad_err *e)
{
    if (rc)
        fail_msg("unexpected failure: %s", e->msg);
}

static int find_node(const nad_graph *g, nad_op op)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == op)
            return i;
    return -1;
}

/* ---- naive references ---------------------------------------------------- */

/* y[n,m,p,q] = b[m] + sum_{c in group, r, s} w[m,c,r,s] * x[n, g*C/G + c, p*st - pad + r, q*st - pad + s]. */
static void ref_conv(const float *x, int N, int C, int H, int W, const float *w, const float *b, int M, int k, int st,
                     int pad, int G, float *y, int OH, int OW)
{
    int cg = C / G, mg = M / G;
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++)
            for (int p = 0; p < OH; p++)
                for (int q = 0; q < OW; q++) {
                    double acc = b ? b[m] : 0.0;
                    int grp = m / mg;
                    for (int c = 0; c < cg; c++)
                        for (int r = 0; r < k; r++)
                            for (int s = 0; s < k; s++) {
                                int ih = p * st - pad + r, iw = q * st - pad + s;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                    continue;
                                acc += (double)w[((m * cg + c) * k + r) * k + s] *
                                       x[((n * C + grp * cg + c) * H + ih) * W + iw];
                            }
                    y[((n * M + m) * OH + p) * OW + q] = (float)acc;
                }
}

/* In-place inference batch norm over channel axis 1 of [N, C, inner]. */
static void ref_bn(float *y, int N, int C, int inner, const float *gamma, const float *beta, const float *mean,
                   const float *var, float eps)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < inner; i++) {
                float *v = &y[(n * C + c) * inner + i];
                *v = (float)(gamma[c] * ((double)*v - mean[c]) / sqrt((double)var[c] + eps) + beta[c]);
            }
}

static float *dup_f32(const nad_tensor *t)
{
    size_t n = (size_t)nad_tensor_numel(t);
    float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    memcpy(p, nad_tensor_f32(t), n * sizeof *p);
    return p;
}

static void assert_close(const float *a, const float *b, int n, float tol)
{
    for (int i = 0; i < n; i++)
        if (fabsf(a[i] - b[i]) > tol * (1.0f + fabsf(b[i])))
            fail_msg("element %d: %g vs reference %g", i, (double)a[i], (double)b[i]);
}

/* ---- BN folding ------------------------------------------------------------ */

/*
 * x [2,4,7,7] -> Conv(W [6,2,3,3], group 2, stride 2, pad 1, bias?) -> BN ->
 * Relu.  The graph is copied first, so W's blob is shared with the copy.
 */
static void bn_fold_conv_case(int with_bias)
{
    enum { N = 2, C = 4, H = 7, M = 6, K = 3, ST = 2, PAD = 1, G = 2, OH = 4 };
    uint32_t s = 12345u + (uint32_t)with_bias;
    nad_err e = {{0}};
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 4, D(4, 0, C, H, H));
    int w = filled(g, "w", NAD_TK_WEIGHT, 4, D(4, M, C / G, K, K), &s, -1, 1);
    int b = with_bias ? filled(g, "b", NAD_TK_WEIGHT, 1, D(1, M), &s, -1, 1) : -1;
    nad_attr a = conv_attr(K, ST, PAD, G);
    int cin[3] = {x, w, b};
    int y = node(g, "conv", NAD_OP_CONV, &a, with_bias ? 3 : 2, cin);
    int gm = filled(g, "gamma", NAD_TK_WEIGHT, 1, D(1, M), &s, 0.5f, 2);
    int bt = filled(g, "beta", NAD_TK_WEIGHT, 1, D(1, M), &s, -1, 1);
    int mu = filled(g, "mean", NAD_TK_WEIGHT, 1, D(1, M), &s, -0.5f, 0.5f);
    int vr = filled(g, "var", NAD_TK_WEIGHT, 1, D(1, M), &s, 0.1f, 3);
    memset(&a, 0, sizeof a);
    a.bn.epsilon = 1e-3f;
    int bin[5] = {y, gm, bt, mu, vr};
    int z = node(g, "bn", NAD_OP_BATCHNORM, &a, 5, bin);
    int out = node1(g, "relu", NAD_OP_RELU, NULL, z);
    mark_output(g, out);

    float *w0 = dup_f32(&g->tensors[w]), *b0 = with_bias ? dup_f32(&g->tensors[b]) : NULL;
    float *gm0 = dup_f32(&g->tensors[gm]), *bt0 = dup_f32(&g->tensors[bt]);
    float *mu0 = dup_f32(&g->tensors[mu]), *vr0 = dup_f32(&g->tensors[vr]);
    nad_graph *copy = nad_graph_copy(g);
    assert_non_null(copy);

    ok(nad_graph_simplify(g, 1, &e), &e);
    assert_int_equal(g->n_nodes, 2);
    int ci = find_node(g, NAD_OP_CONV);
    assert_true(ci >= 0);
    assert_int_equal(find_node(g, NAD_OP_BATCHNORM), -1);
    const nad_node *conv = &g->nodes[ci];
    assert_int_equal(conv->n_in, 3);
    assert_true(conv->in[2] >= 0);
    assert_int_equal(g->tensors[conv->in[2]].kind, NAD_TK_WEIGHT);
    assert_string_equal(g->tensors[conv->out[0]].name, "bn"); /* the BN's output name survives */
    assert_int_equal(g->batch, 1);

    /* reference: BN(conv(x; W, b)) with the original parameters */
    float xin[N * C * H * H], yref[N * M * OH * OH], yfold[N * M * OH * OH];
    for (int i = 0; i < N * C * H * H; i++)
        xin[i] = rnd(&s, -2, 2);
    ref_conv(xin, N, C, H, H, w0, b0, M, K, ST, PAD, G, yref, OH, OH);
    ref_bn(yref, N, M, OH * OH, gm0, bt0, mu0, vr0, 1e-3f);
    ref_conv(xin, N, C, H, H, nad_tensor_f32(&g->tensors[conv->in[1]]), nad_tensor_f32(&g->tensors[conv->in[2]]), M,
             K, ST, PAD, G, yfold, OH, OH);
    assert_close(yfold, yref, N * M * OH * OH, 1e-5f);

    /* the copy still holds the original, unfolded weights */
    int cw = nad_graph_find_tensor(copy, "w");
    assert_true(cw >= 0);
    assert_memory_equal(nad_tensor_f32(&copy->tensors[cw]), w0, sizeof(float) * M * (C / G) * K * K);
    assert_true(copy->tensors[cw].blob != g->tensors[conv->in[1]].blob);
    if (with_bias) {
        int cb = nad_graph_find_tensor(copy, "b");
        assert_memory_equal(nad_tensor_f32(&copy->tensors[cb]), b0, sizeof(float) * M);
    }
    assert_int_equal(find_node(copy, NAD_OP_BATCHNORM) >= 0, 1);

    free(w0);
    free(b0);
    free(gm0);
    free(bt0);
    free(mu0);
    free(vr0);
    nad_graph_free(copy);
    nad_graph_free(g);
}

static void bn_fold_conv_with_bias(void **state)
{
    (void)state;
    bn_fold_conv_case(1);
}

static void bn_fold_conv_without_bias(void **state)
{
    (void)state;
    bn_fold_conv_case(0);
}

/* x [3,5] -> Gemm(alpha 0.5, beta 2, C [4] or none, transB 0/1) -> BN. */
static void bn_fold_gemm(void **state)
{
    (void)state;
    enum { N = 3, K = 5, M = 4 };
    for (int variant = 0; variant < 4; variant++) {
        int trans_b = variant & 1, has_c = variant >> 1;
        uint32_t s = 777u + (uint32_t)variant;
        nad_err e = {{0}};
        nad_graph *g = nad_graph_new();
        int x = input(g, "x", 2, D(2, 0, K));
        int w = filled(g, "w", NAD_TK_WEIGHT, 2, trans_b ? D(2, M, K) : D(2, K, M), &s, -1, 1);
        int c = has_c ? filled(g, "c", NAD_TK_WEIGHT, 1, D(1, M), &s, -1, 1) : -1;
        nad_attr a;
        memset(&a, 0, sizeof a);
        a.gemm = (nad_gemm_attr){0.5f, 2.0f, 0, trans_b};
        int gin[3] = {x, w, c};
        int y = node(g, "fc", NAD_OP_GEMM, &a, has_c ? 3 : 2, gin);
        int bin[5] = {y, filled(g, "gamma", NAD_TK_WEIGHT, 1, D(1, M), &s, 0.5f, 2),
                      filled(g, "beta", NAD_TK_WEIGHT, 1, D(1, M), &s, -1, 1),
                      filled(g, "mean", NAD_TK_WEIGHT, 1, D(1, M), &s, -1, 1),
                      filled(g, "var", NAD_TK_WEIGHT, 1, D(1, M), &s, 0.1f, 2)};
        memset(&a, 0, sizeof a);
        a.bn.epsilon = 1e-5f;
        mark_output(g, node(g, "bn", NAD_OP_BATCHNORM, &a, 5, bin));
        float *w0 = dup_f32(&g->tensors[w]), *c0 = has_c ? dup_f32(&g->tensors[c]) : NULL;
        float *p0[4];
        for (int k = 0; k < 4; k++)
            p0[k] = dup_f32(&g->tensors[bin[k + 1]]);

        ok(nad_graph_simplify(g, 1, &e), &e);
        assert_int_equal(g->n_nodes, 1);
        const nad_node *fc = &g->nodes[0];
        assert_int_equal(fc->op, NAD_OP_GEMM);
        assert_int_equal(fc->n_in, 3);
        const float *w1 = nad_tensor_f32(&g->tensors[fc->in[1]]), *c1 = nad_tensor_f32(&g->tensors[fc->in[2]]);
        float xin[N * K], yref[N * M], yfold[N * M];
        for (int i = 0; i < N * K; i++)
            xin[i] = rnd(&s, -2, 2);
        for (int n = 0; n < N; n++)
            for (int m = 0; m < M; m++) {
                double r = 0, f = 0;
                for (int k = 0; k < K; k++) {
                    r += (double)xin[n * K + k] * w0[trans_b ? m * K + k : k * M + m];
                    f += (double)xin[n * K + k] * w1[trans_b ? m * K + k : k * M + m];
                }
                yref[n * M + m] = (float)(0.5 * r + (has_c ? 2.0 * c0[m] : 0.0));
                yfold[n * M + m] = (float)(fc->attr.gemm.alpha * f + fc->attr.gemm.beta * c1[m]);
            }
        ref_bn(yref, N, M, 1, p0[0], p0[1], p0[2], p0[3], 1e-5f);
        assert_close(yfold, yref, N * M, 1e-5f);
        free(w0);
        free(c0);
        for (int k = 0; k < 4; k++)
            free(p0[k]);
        nad_graph_free(g);
    }
}

/* BN stays when the conv output has another consumer, or with fold_bn = 0. */
static void bn_kept_when_not_foldable(void **state)
{
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        uint32_t s = 99u;
        nad_err e = {{0}};
        nad_graph *g = nad_graph_new();
        int x = input(g, "x", 4, D(4, 0, 2, 5, 5));
        int w = filled(g, "w", NAD_TK_WEIGHT, 4, D(4, 3, 2, 1, 1), &s, -1, 1);
        nad_attr a = conv_attr(1, 1, 0, 1);
        int y = node2(g, "conv", NAD_OP_CONV, &a, x, w);
        int bin[5] = {y, filled(g, "g", NAD_TK_WEIGHT, 1, D(1, 3), &s, 1, 2),
                      filled(g, "b", NAD_TK_WEIGHT, 1, D(1, 3), &s, 1, 2),
                      filled(g, "m", NAD_TK_WEIGHT, 1, D(1, 3), &s, 1, 2),
                      filled(g, "v", NAD_TK_WEIGHT, 1, D(1, 3), &s, 1, 2)};
        memset(&a, 0, sizeof a);
        a.bn.epsilon = 1e-5f;
        int z = node(g, "bn", NAD_OP_BATCHNORM, &a, 5, bin);
        if (variant == 0) {
            int r = node1(g, "side", NAD_OP_RELU, NULL, y);
            mark_output(g, node2(g, "sum", NAD_OP_ADD, NULL, z, r));
        } else {
            mark_output(g, z);
        }
        float *w0 = dup_f32(&g->tensors[w]);
        ok(nad_graph_simplify(g, variant == 0, &e), &e);
        assert_true(find_node(g, NAD_OP_BATCHNORM) >= 0);
        int ci = find_node(g, NAD_OP_CONV);
        assert_int_equal(g->nodes[ci].n_in, 2);
        assert_memory_equal(nad_tensor_f32(&g->tensors[g->nodes[ci].in[1]]), w0, 6 * sizeof(float));
        free(w0);
        nad_graph_free(g);
    }
}

/* ---- folding and absorbing ---------------------------------------------------- */

/*
 * x -> Conv -> [Shape -> Gather(0) -> Unsqueeze(axes input, opset 13)],
 * [Constant(-1) -> Unsqueeze] -> Concat -> Reshape -> Gemm: after simplify the
 * Reshape stands alone with target [NAD_DIM_BATCH, -1] and works at batch 1 and 7.
 */
static void view_chain_folds(void **state)
{
    (void)state;
    uint32_t s = 5u;
    nad_err e = {{0}};
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 4, D(4, 0, 1, 6, 6));
    int w = filled(g, "w", NAD_TK_WEIGHT, 4, D(4, 4, 1, 3, 3), &s, -1, 1);
    nad_attr a = conv_attr(3, 1, 1, 1);
    int y = node2(g, "conv", NAD_OP_CONV, &a, x, w);
    int sh = node1(g, "shape", NAD_OP_SHAPE, NULL, y);
    int zero = const_i64(g, "zero", 0, NULL, D(1, 0));
    a = axis_attr(0);
    int n = node2(g, "gather", NAD_OP_GATHER, &a, sh, zero);
    int ax = const_i64(g, "axes", 1, D(1, 1), D(1, 0));
    int u = node2(g, "unsq", NAD_OP_UNSQUEEZE, NULL, n, ax);
    int m1 = const_i64(g, "minus1", 0, NULL, D(1, -1));
    int u2 = node2(g, "unsq2", NAD_OP_UNSQUEEZE, NULL, m1, ax);
    a = axis_attr(0);
    int c = node2(g, "cat", NAD_OP_CONCAT, &a, u, u2);
    int r = node2(g, "reshape", NAD_OP_RESHAPE, NULL, y, c);
    int fw = filled(g, "fw", NAD_TK_WEIGHT, 2, D(2, 10, 144), &s, -1, 1);
    memset(&a, 0, sizeof a);
    a.gemm = (nad_gemm_attr){1, 1, 0, 1};
    int out = node2(g, "fc", NAD_OP_GEMM, &a, r, fw);
    mark_output(g, out);

    ok(nad_graph_simplify(g, 1, &e), &e);
    assert_int_equal(g->n_nodes, 3);
    assert_int_equal(g->nodes[0].op, NAD_OP_CONV);
    assert_int_equal(g->nodes[1].op, NAD_OP_RESHAPE);
    assert_int_equal(g->nodes[2].op, NAD_OP_GEMM);
    const nad_node *rs = &g->nodes[1];
    assert_int_equal(rs->n_in, 1);
    assert_int_equal(rs->attr.ints.n, 2);
    assert_true(rs->attr.ints.v[0] == NAD_DIM_BATCH);
    assert_int_equal(rs->attr.ints.v[1], -1);
    for (int i = 0; i < g->n_tensors; i++)
        assert_int_not_equal(g->tensors[i].dtype, NAD_DT_INT64);
    for (int batch = 1; batch <= 7; batch += 6) {
        ok(nad_graph_infer_shapes(g, batch, &e), &e);
        const nad_tensor *o = &g->tensors[g->outputs[0]];
        assert_int_equal(o->ndim, 2);
        assert_int_equal(o->dims[0], batch);
        assert_int_equal(o->dims[1], 10);
    }
    /* after shrinking the conv to 2 channels the -1 follows (fc shrinks too) */
    g->tensors[g->nodes[0].in[1]].dims[0] = 2;
    g->tensors[g->nodes[2].in[1]].dims[1] = 72;
    ok(nad_graph_infer_shapes(g, 3, &e), &e);
    assert_int_equal(g->tensors[g->nodes[1].out[0]].dims[1], 72);
    nad_graph_free(g);
}

/* A fixed-batch export (Reshape to constant [1, 144]) becomes batch-free. */
static void fixed_batch_reshape_canonical(void **state)
{
    (void)state;
    nad_err e = {{0}};
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 4, D(4, 0, 4, 6, 6));
    int t = const_i64(g, "target", 1, D(1, 2), D(2, 1, 144));
    mark_output(g, node2(g, "reshape", NAD_OP_RESHAPE, NULL, x, t));
    ok(nad_graph_simplify(g, 1, &e), &e);
    assert_true(g->nodes[0].attr.ints.v[0] == NAD_DIM_BATCH);
    assert_int_equal(g->nodes[0].attr.ints.v[1], -1);
    ok(nad_graph_infer_shapes(g, 5, &e), &e);
    assert_int_equal(g->tensors[g->outputs[0]].dims[0], 5);
    assert_int_equal(g->tensors[g->outputs[0]].dims[1], 144);
    nad_graph_free(g);
}

/* Clip min/max, Pad pads/value, Unsqueeze/Squeeze axes and Slice parameters
 * given as constant inputs end up in the attributes; results keep shapes. */
static void aux_inputs_absorbed(void **state)
{
    (void)state;
    nad_err e = {{0}};
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 4, D(4, 0, 3, 5, 5));
    float lo = 0, hi = 6, pv = 0.5f;
    int cmin = const_f32(g, "min", 0, NULL, &lo), cmax = const_f32(g, "max", 0, NULL, &hi);
    int cin[3] = {x, cmin, cmax};
    int c = node(g, "relu6", NAD_OP_CLIP, NULL, 3, cin);
    int pads = const_i64(g, "pads", 1, D(1, 8), D(8, 0, 0, 1, 1, 0, 0, 1, 1));
    int pval = const_f32(g, "pval", 0, NULL, &pv);
    nad_attr a;
    memset(&a, 0, sizeof a);
    int pin[3] = {c, pads, pval};
    int p = node(g, "pad", NAD_OP_PAD, &a, 3, pin);
    int st = const_i64(g, "st", 1, D(1, 2), D(2, 1, 0));
    int en = const_i64(g, "en", 1, D(1, 2), D(2, 3, INT64_MAX));
    int ax = const_i64(g, "ax", 1, D(1, 2), D(2, 1, 3));
    int sp = const_i64(g, "sp", 1, D(1, 2), D(2, 1, 2));
    int sin[5] = {p, st, en, ax, sp};
    int sl = node(g, "slice", NAD_OP_SLICE, NULL, 5, sin);
    int gp = node1(g, "gap", NAD_OP_GLOBAL_AVGPOOL, NULL, sl);
    int sqa = const_i64(g, "sqa", 1, D(1, 2), D(2, 2, 3));
    int sq = node2(g, "squeeze", NAD_OP_SQUEEZE, NULL, gp, sqa);
    int usa = const_i64(g, "usa", 1, D(1, 1), D(1, -1));
    int us = node2(g, "unsqueeze", NAD_OP_UNSQUEEZE, NULL, sq, usa);
    int dr_ratio = const_f32(g, "ratio", 0, NULL, &pv);
    int dr = node2(g, "dropout", NAD_OP_DROPOUT, NULL, us, dr_ratio);
    mark_output(g, node1(g, "out", NAD_OP_RELU, NULL, dr));

    ok(nad_graph_simplify(g, 1, &e), &e);
    int i;
    assert_true((i = find_node(g, NAD_OP_CLIP)) >= 0);
    assert_int_equal(g->nodes[i].n_in, 1);
    assert_true(g->nodes[i].attr.scalar.a == 0.0f && g->nodes[i].attr.scalar.b == 6.0f);
    assert_true((i = find_node(g, NAD_OP_PAD)) >= 0);
    assert_int_equal(g->nodes[i].n_in, 1);
    assert_int_equal(g->nodes[i].attr.pad.n, 8);
    assert_int_equal(g->nodes[i].attr.pad.pads[2], 1);
    assert_true(g->nodes[i].attr.pad.value == 0.5f);
    assert_true((i = find_node(g, NAD_OP_SLICE)) >= 0);
    assert_int_equal(g->nodes[i].n_in, 1);
    const nad_tensor *so = &g->tensors[g->nodes[i].out[0]];
    assert_int_equal(so->dims[1], 2); /* channels 1..2 */
    assert_int_equal(so->dims[3], 4); /* 7 padded columns, every other one */
    assert_true((i = find_node(g, NAD_OP_SQUEEZE)) >= 0);
    assert_int_equal(g->nodes[i].n_in, 1);
    assert_int_equal(g->nodes[i].attr.ints.n, 2);
    assert_true((i = find_node(g, NAD_OP_UNSQUEEZE)) >= 0);
    assert_int_equal(g->nodes[i].attr.ints.v[0], -1);
    assert_int_equal(find_node(g, NAD_OP_DROPOUT), -1);
    const nad_tensor *o = &g->tensors[g->outputs[0]];
    assert_string_equal(o->name, "out");
    assert_int_equal(o->ndim, 3);
    assert_int_equal(o->dims[1], 2);
    /* every remaining tensor is used: the constants were compacted away */
    for (int t = 0; t < g->n_tensors; t++)
        assert_int_not_equal(g->tensors[t].kind, NAD_TK_CONST);
    ok(nad_graph_infer_shapes(g, 4, &e), &e); /* the absorbed form re-infers */
    assert_int_equal(g->tensors[g->outputs[0]].dims[0], 4);
    nad_graph_free(g);
}

/* Float constants: Unsqueeze of a constant and Add of two constants fold;
 * a weight passed through Identity stays a WEIGHT. */
static void float_constants_fold(void **state)
{
    (void)state;
    uint32_t s = 3u;
    nad_err e = {{0}};
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 4, D(4, 0, 3, 4, 4));
    float v1[3] = {1, 2, 3}, v2[3] = {10, 20, 30};
    int c1 = const_f32(g, "c1", 1, D(1, 3), v1), c2 = const_f32(g, "c2", 1, D(1, 3), v2);
    int ax = const_i64(g, "ax", 1, D(1, 2), D(2, 1, 2));
    int c1u = node2(g, "c1u", NAD_OP_UNSQUEEZE, NULL, c1, ax);
    int sum = node2(g, "sum", NAD_OP_ADD, NULL, c1, c2);
    int sumu = node2(g, "sumu", NAD_OP_UNSQUEEZE, NULL, sum, ax);
    int w = filled(g, "w", NAD_TK_WEIGHT, 4, D(4, 3, 3, 1, 1), &s, -1, 1);
    int wi = node1(g, "w_identity", NAD_OP_IDENTITY, NULL, w);
    nad_attr a = conv_attr(1, 1, 0, 1);
    int y = node2(g, "conv", NAD_OP_CONV, &a, x, wi);
    int ad = node2(g, "add", NAD_OP_ADD, NULL, y, c1u);
    int mu = node2(g, "mul", NAD_OP_MUL, NULL, ad, sumu);
    mark_output(g, mu);

    ok(nad_graph_simplify(g, 1, &e), &e);
    assert_int_equal(g->n_nodes, 3);
    const nad_node *conv = &g->nodes[find_node(g, NAD_OP_CONV)];
    assert_int_equal(g->tensors[conv->in[1]].kind, NAD_TK_WEIGHT);
    const nad_node *add = &g->nodes[find_node(g, NAD_OP_ADD)];
    const nad_tensor *k1 = &g->tensors[add->in[1]];
    assert_int_equal(k1->kind, NAD_TK_CONST);
    assert_int_equal(k1->ndim, 3);
    assert_int_equal(k1->dims[0], 3);
    assert_memory_equal(nad_tensor_f32(k1), v1, sizeof v1);
    const nad_node *mul = &g->nodes[find_node(g, NAD_OP_MUL)];
    const float *k2 = nad_tensor_f32(&g->tensors[mul->in[1]]);
    for (int i = 0; i < 3; i++)
        assert_true(k2[i] == v1[i] + v2[i]);
    nad_graph_free(g);
}

/* A Reshape whose target is computed from data cannot be folded. */
static void data_dependent_aux_rejected(void **state)
{
    (void)state;
    nad_err e = {{0}};
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 2, D(2, 0, 4));
    float one = 1;
    int k = const_f32(g, "one", 0, NULL, &one);
    int yx = node2(g, "scaled", NAD_OP_MUL, NULL, x, k);
    nad_attr a;
    memset(&a, 0, sizeof a);
    a.axis.axis = NAD_DT_INT64;
    int t = node1(g, "to_int", NAD_OP_CAST, &a, yx); /* [N,4] int64 from data */
    int zero = const_i64(g, "zero", 1, D(1, 1), D(1, 0));
    a = axis_attr(0);
    int row = node2(g, "row", NAD_OP_GATHER, &a, t, zero);
    int sq = const_i64(g, "sq", 1, D(1, 1), D(1, 0));
    int v = node2(g, "vec", NAD_OP_SQUEEZE, NULL, row, sq);
    mark_output(g, node2(g, "data_reshape", NAD_OP_RESHAPE, NULL, x, v));
    nad_status rc = nad_graph_simplify(g, 1, &e);
    assert_int_equal(rc, NAD_EUNSUPPORTED);
    assert_non_null(strstr(e.msg, "data_reshape"));
    nad_graph_free(g);
}

/* Dropout/Identity removal keeps the graph output's name; an Identity on a
 * graph input stays. */
static void passthrough_removed(void **state)
{
    (void)state;
    uint32_t s = 8u;
    nad_err e = {{0}};
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 2, D(2, 0, 4));
    int w = filled(g, "w", NAD_TK_WEIGHT, 2, D(2, 4, 4), &s, -1, 1);
    nad_attr a;
    memset(&a, 0, sizeof a);
    a.gemm = (nad_gemm_attr){1, 1, 0, 0};
    int y = node2(g, "fc", NAD_OP_GEMM, &a, x, w);
    int d = node1(g, "drop", NAD_OP_DROPOUT, NULL, y);
    int r = node1(g, "relu", NAD_OP_RELU, NULL, d);
    int out = node1(g, "logits", NAD_OP_IDENTITY, NULL, r);
    mark_output(g, out);
    int keep = node1(g, "x_copy", NAD_OP_IDENTITY, NULL, x);
    mark_output(g, keep);
    ok(nad_graph_simplify(g, 1, &e), &e);
    assert_int_equal(g->n_nodes, 3);
    assert_int_equal(g->nodes[0].op, NAD_OP_GEMM);
    assert_int_equal(g->nodes[1].op, NAD_OP_RELU);
    assert_int_equal(g->nodes[2].op, NAD_OP_IDENTITY);
    assert_int_equal(g->nodes[1].in[0], g->nodes[0].out[0]);
    assert_string_equal(g->tensors[g->outputs[0]].name, "logits");
    assert_int_equal(g->tensors[g->outputs[0]].producer, 1);
    assert_string_equal(g->tensors[g->outputs[1]].name, "x_copy");
    nad_graph_free(g);
}

/* ---- layer info -------------------------------------------------------------- */

static void layer_info_counts(void **state)
{
    (void)state;
    uint32_t s = 1u;
    nad_err e = {{0}};
    nad_layer_info li;
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 4, D(4, 0, 6, 9, 9));
    int w = filled(g, "w", NAD_TK_WEIGHT, 4, D(4, 8, 3, 3, 3), &s, -1, 1);
    int b = filled(g, "b", NAD_TK_WEIGHT, 1, D(1, 8), &s, -1, 1);
    nad_attr a = conv_attr(3, 2, 1, 2);
    int cin[3] = {x, w, b};
    int y = node(g, "conv", NAD_OP_CONV, &a, 3, cin);
    int gp = node1(g, "gap", NAD_OP_GLOBAL_AVGPOOL, NULL, y);
    a = axis_attr(1);
    int f = node1(g, "flat", NAD_OP_FLATTEN, &a, gp);
    int fw = filled(g, "fw", NAD_TK_WEIGHT, 2, D(2, 5, 8), &s, -1, 1);
    memset(&a, 0, sizeof a);
    a.gemm = (nad_gemm_attr){1, 1, 0, 1};
    mark_output(g, node2(g, "fc", NAD_OP_GEMM, &a, f, fw));
    assert_int_equal(nad_graph_layer_info(g, 0, &li, &e), NAD_ESTATE);
    ok(nad_graph_infer_shapes(g, 3, &e), &e);
    assert_int_equal(nad_graph_layer_count(g), 4);
    ok(nad_graph_layer_info(g, 0, &li, &e), &e);
    assert_string_equal(li.name, "conv");
    assert_string_equal(li.op, "Conv");
    assert_string_equal(li.in_shape, "[3,6,9,9]");
    assert_string_equal(li.out_shape, "[3,8,5,5]");
    assert_int_equal(li.params, 8 * 3 * 3 * 3 + 8);
    assert_int_equal(li.macs, 3LL * 8 * 5 * 5 * (6 / 2) * 3 * 3);
    ok(nad_graph_layer_info(g, 1, &li, &e), &e);
    assert_int_equal(li.params, 0);
    assert_int_equal(li.macs, 0);
    ok(nad_graph_layer_info(g, 3, &li, &e), &e);
    assert_int_equal(li.params, 40);
    assert_int_equal(li.macs, 3 * 5 * 8);
    assert_int_equal(nad_graph_layer_info(g, 4, &li, &e), NAD_EINVAL);
    assert_int_equal(nad_graph_layer_info(g, -1, &li, &e), NAD_EINVAL);
    nad_graph_free(g);
}

/* ---- fixtures (examples/fixtures, from examples/make_fixtures.py) ----------- */

typedef struct manifest_row {
    char name[32];
    long long params, macs;
} manifest_row;

/* Reads name, params, macs_per_image of every model in manifest.tsv. */
static int read_manifest(manifest_row *rows, int max)
{
    size_t len;
    char *txt = tu_read_file(tu_src("examples/fixtures/manifest.tsv"), &len);
    if (!txt)
        return -1;
    int n = 0;
    char *line = strchr(txt, '\n');
    while (line && n < max) {
        line++;
        if (sscanf(line, "%31s %lld %lld", rows[n].name, &rows[n].params, &rows[n].macs) == 3)
            n++;
        line = strchr(line, '\n');
    }
    free(txt);
    return n;
}

/* Sum of params and MACs over the layers of g. */
static void totals(const nad_graph *g, long long *params, long long *macs)
{
    nad_err e = {{0}};
    nad_layer_info li;
    *params = *macs = 0;
    for (int i = 0; i < nad_graph_layer_count(g); i++) {
        ok(nad_graph_layer_info(g, i, &li, &e), &e);
        *params += li.params;
        *macs += li.macs;
    }
}

static void fixtures_load_and_count(void **state)
{
    (void)state;
    manifest_row rows[8];
    int n = read_manifest(rows, 8);
    if (n <= 0)
        skip();
    assert_int_equal(n, 5);
    static const char *const opsets[] = {"op11", "op13"};
    for (int r = 0; r < n; r++)
        for (int o = 0; o < 2; o++) {
            char rel[512];
            nad_err e = {{0}};
            nad_graph *g = NULL;
            snprintf(rel, sizeof rel, "examples/fixtures/%s.%s.onnx", rows[r].name, opsets[o]);
            if (nad_graph_load_onnx(tu_src(rel), 1, &g, &e))
                fail_msg("%s: %s", rel, e.msg);
            for (int i = 0; i < g->n_nodes; i++) {
                nad_op op = g->nodes[i].op;
                if (op == NAD_OP_SHAPE || op == NAD_OP_GATHER || op == NAD_OP_CAST || op == NAD_OP_SLICE ||
                    op == NAD_OP_IDENTITY || op == NAD_OP_DROPOUT || op == NAD_OP_BATCHNORM ||
                    op == NAD_OP_UNSQUEEZE || op == NAD_OP_SQUEEZE)
                    fail_msg("%s: node '%s' (%s) left after simplify", rel, g->nodes[i].name, nad_op_name(op));
                for (int k = 0; k < g->nodes[i].n_out; k++)
                    assert_int_equal(g->tensors[g->nodes[i].out[k]].dtype, NAD_DT_FLOAT);
            }
            const nad_tensor *in = &g->tensors[g->inputs[0]], *out = &g->tensors[g->outputs[0]];
            assert_int_equal(in->ndim, 4);
            assert_int_equal(in->dims[0], 1);
            assert_int_equal(in->dims[2], 28);
            assert_string_equal(out->name, "logits");
            assert_int_equal(out->ndim, 2);
            assert_int_equal(out->dims[0], 1);
            assert_int_equal(out->dims[1], 10);
            long long p, m;
            totals(g, &p, &m);
            if (m != rows[r].macs)
                fail_msg("%s: %lld MACs, manifest says %lld", rel, m, rows[r].macs);
            ok(nad_graph_infer_shapes(g, 5, &e), &e);
            assert_int_equal(out->dims[0], 5);
            long long p5, m5;
            totals(g, &p5, &m5);
            assert_int_equal(p5, p);
            assert_int_equal(m5, 5 * m);
            nad_graph_free(g);

            /* Unfolded BN: parameters equal torch's count for the models that
             * keep BN nodes (the exporter fused BN into mobilenetv2's convs). */
            if (strcmp(rows[r].name, "cnn_bn") == 0 || strcmp(rows[r].name, "resnet") == 0) {
                if (nad_graph_load_onnx(tu_src(rel), 0, &g, &e))
                    fail_msg("%s: %s", rel, e.msg);
                assert_true(find_node(g, NAD_OP_BATCHNORM) >= 0);
                totals(g, &p, &m);
                if (p != rows[r].params || m != rows[r].macs)
                    fail_msg("%s unfolded: %lld params, %lld MACs; manifest %lld, %lld", rel, p, m, rows[r].params,
                             rows[r].macs);
                nad_graph_free(g);
            }
        }
}

static void fixtures_bad(void **state)
{
    (void)state;
    nad_err e = {{0}};
    nad_graph *g = NULL;
    const char *bad = tu_src("examples/fixtures/bad_shape.onnx");
    assert_int_equal(nad_graph_load_onnx(bad, 1, &g, &e), NAD_ESHAPE);
    assert_null(g);
    assert_non_null(strstr(e.msg, "bad_shape.onnx"));
    assert_non_null(strstr(e.msg, "[10,700]"));
}

/*
 * End to end: every fixture, loaded with BN folded (and, for the models that
 * keep BN nodes, unfolded too), run by the engine on the first 16 test images,
 * matches torch's logits — folding and simplification change no numbers.
 */
static void fixtures_match_torch_logits(void **state)
{
    (void)state;
    enum { NIMG = 16 };
    static const char *const models[] = {"cnn_bn", "resnet", "mobilenetv2", "concat", "mlp_pool"};
    static const char *const opsets[] = {"op11", "op13"};
    const float mean = 0.2860f, std = 0.3530f;
    nad_err e = {{0}};
    nad_dataset *d = NULL;
    if (nad_dataset_load(tu_src("examples/fixtures/fmnist_test256"), NAD_SPLIT_TEST, &d, &e))
        fail_msg("dataset: %s", e.msg);
    float *x = malloc(sizeof(float) * NIMG * 28 * 28);
    assert_non_null(x);
    ok(nad_dataset_batch(d, NULL, 0, NIMG, &mean, &std, 1, x, &e), &e);
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        char rel[256];
        size_t len;
        snprintf(rel, sizeof rel, "examples/fixtures/%s.logits64.f32", models[m]);
        float *ref = tu_read_file(tu_src(rel), &len);
        assert_non_null(ref);
        assert_int_equal(len, 64 * 10 * sizeof(float));
        for (int o = 0; o < 2; o++)
            for (int fold = 1; fold >= 0; fold--) {
                if (!fold && m >= 2)
                    continue; /* only cnn_bn and resnet keep BN nodes */
                nad_graph *g = NULL;
                nad_plan *p = NULL;
                snprintf(rel, sizeof rel, "examples/fixtures/%s.%s.onnx", models[m], opsets[o]);
                if (nad_graph_load_onnx(tu_src(rel), fold, &g, &e) || nad_plan_create(g, NIMG, &p, &e))
                    fail_msg("%s: %s", rel, e.msg);
                memcpy(nad_plan_input(p), x, sizeof(float) * NIMG * 28 * 28);
                ok(nad_plan_run(p, NIMG, &e), &e);
                const float *y = nad_plan_output(p);
                for (int i = 0; i < NIMG * 10; i++)
                    if (fabsf(y[i] - ref[i]) > 1e-3f)
                        fail_msg("%s (fold_bn=%d): logit %d is %g, torch %g", rel, fold, i, (double)y[i],
                                 (double)ref[i]);
                nad_plan_destroy(p);
                nad_graph_free(g);
            }
        free(ref);
    }
    free(x);
    nad_dataset_free(d);
}

/* ---- nadapt info ------------------------------------------------------------ */

static void cli_info(void **state)
{
    (void)state;
    static char out[65536], err[4096];
    char args[2048];
    const char *model = tu_src("examples/fixtures/cnn_bn.op13.onnx");
    snprintf(args, sizeof args, "info '%s'", model);
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "/conv1/Conv"));
    assert_non_null(strstr(out, "[1,16,28,28]"));
    assert_non_null(strstr(out, "total: 8 layers, 20490 params, 1031744 MACs"));
    assert_int_equal(tu_count_lines(out), 2 + 8 + 1);
    assert_string_equal(err, "");

    snprintf(args, sizeof args, "info '%s' --batch 4 --no-fold-bn --json", model);
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 0);
    assert_true(strncmp(out, "{\"model\":", 9) == 0);
    assert_non_null(strstr(out, "\"batch\":4"));
    assert_non_null(strstr(out, "\"op\":\"BatchNormalization\""));
    assert_non_null(strstr(out, "\"output\":[4,10]"));
    assert_non_null(strstr(out, "\"total\":{\"layers\":10,\"params\":20538,\"macs\":4126976,"));
    assert_int_equal(tu_count_lines(out), 1);

    assert_int_equal(tu_run_cli("info --help", out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "usage: nadapt info"));

    snprintf(args, sizeof args, "info '%s/missing.onnx'", tu_tmpdir());
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "missing.onnx"));
    assert_true(strncmp(err, "nadapt info: ", 13) == 0);
    assert_int_equal(tu_count_lines(err), 1);
    assert_string_equal(out, "");

    snprintf(args, sizeof args, "info '%s'", tu_src("examples/fixtures/bad_shape.onnx"));
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "bad_shape.onnx"));
    assert_non_null(strstr(err, "Gemm"));
    assert_int_equal(tu_count_lines(err), 1);
    assert_string_equal(out, "");

    snprintf(args, sizeof args, "info '%s' --batch 0", model);
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "--batch"));
    assert_int_equal(tu_run_cli("info", out, sizeof out, err, sizeof err), 1);
    snprintf(args, sizeof args, "info '%s' --frobnicate", model);
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "--frobnicate"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bn_fold_conv_with_bias),
        cmocka_unit_test(bn_fold_conv_without_bias),
        cmocka_unit_test(bn_fold_gemm),
        cmocka_unit_test(bn_kept_when_not_foldable),
        cmocka_unit_test(view_chain_folds),
        cmocka_unit_test(fixed_batch_reshape_canonical),
        cmocka_unit_test(aux_inputs_absorbed),
        cmocka_unit_test(float_constants_fold),
        cmocka_unit_test(data_dependent_aux_rejected),
        cmocka_unit_test(passthrough_removed),
        cmocka_unit_test(layer_info_counts),
        cmocka_unit_test(fixtures_load_and_count),
        cmocka_unit_test(fixtures_bad),
        cmocka_unit_test(fixtures_match_torch_logits),
        cmocka_unit_test(cli_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
