/*
 * Shape inference (src/graph/shape.c) on small hand-built graphs: every op,
 * auto_pad / ceil_mode / dilation / groups, broadcasting, Gemm transposes,
 * Reshape's 0 / -1 / NAD_DIM_BATCH, re-running after the batch or a channel
 * count changes, and errors that name the node.  Expected shapes come from the
 * ONNX formulas written out independently in each test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "graph/passes.h"
#include "graph_builder.h"

/* ---- graph building helpers ------------------------------------------------ */

/* A zero-filled float weight. */
static int weight(nad_graph *g, const char *name, int ndim, const int64_t *dims)
{
    int t = nad_graph_add_tensor(g, name, NAD_DT_FLOAT, NAD_TK_WEIGHT, ndim, dims);
    assert_true(t >= 0);
    assert_int_equal(nad_tensor_alloc(&g->tensors[t], NULL), NAD_OK);
    return t;
}

/* A 1-D int64 constant holding v[0..n). */
static int const_i64(nad_graph *g, const char *name, int n, const int64_t *v)
{
    int64_t d = n;
    int t = nad_graph_add_tensor(g, name, NAD_DT_INT64, NAD_TK_CONST, 1, &d);
    assert_true(t >= 0);
    assert_int_equal(nad_tensor_alloc(&g->tensors[t], NULL), NAD_OK);
    memcpy(nad_tensor_i64(&g->tensors[t]), v, (size_t)n * sizeof *v);
    return t;
}

/* Appends node name(op) reading in[0..n_in) and writing a new activation
 * tensor called name; returns the output tensor. */
static nad_attr conv_attr(int k, int s, int p, int d, int group)
{
    nad_attr a;
    memset(&a, 0, sizeof a);
    a.conv = (nad_conv_attr){k, k, s, s, d, d, {p, p, p, p}, group, NAD_PAD_NOTSET};
    return a;
}

static nad_attr pool_attr(int k, int s, int p, int ceil_mode)
{
    nad_attr a;
    memset(&a, 0, sizeof a);
    a.pool = (nad_pool_attr){k, k, s, s, 1, 1, {p, p, p, p}, ceil_mode, 0, NAD_PAD_NOTSET};
    return a;
}

static nad_attr ints_attr(int n, const int64_t *v)
{
    nad_attr a;
    memset(&a, 0, sizeof a);
    a.ints.n = n;
    if (n)
        memcpy(a.ints.v, v, (size_t)n * sizeof *v);
    return a;
}

static void assert_dims(const nad_graph *g, int t, int ndim, const int64_t *want)
{
    const nad_tensor *x = &g->tensors[t];
    char got[96], exp[96];
    nad_tensor tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.ndim = ndim;
    if (ndim)
        memcpy(tmp.dims, want, (size_t)ndim * sizeof *want);
    nad_dims_str(x, got, sizeof got);
    nad_dims_str(&tmp, exp, sizeof exp);
    if (strcmp(got, exp) != 0)
        fail_msg("tensor '%s': got %s, want %s", x->name, got, exp);
}

static void infer_ok(nad_graph *g, int batch)
{
    nad_err e = {{0}};
    nad_status rc = nad_graph_infer_shapes(g, batch, &e);
    if (rc)
        fail_msg("infer_shapes failed: %s", e.msg);
}

/* ONNX output extent of a sliding window, written from the spec formula. */
static int64_t ref_out(int64_t in, int k, int s, int d, int pb, int pe)
{
    return (in + pb + pe - ((int64_t)(k - 1) * d + 1)) / s + 1;
}

/* ---- tests ----------------------------------------------------------------- */

static void conv_basic_and_dilation(void **state)
{
    (void)state;
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 4, D(4, 0, 3, 28, 28));
    int w = weight(g, "w", 4, D(4, 16, 3, 3, 3));
    nad_attr a = conv_attr(3, 1, 1, 1, 1);
    int y = node2(g, "conv", NAD_OP_CONV, &a, x, w);
    int w2 = weight(g, "w2", 4, D(4, 8, 16, 3, 3));
    a = conv_attr(3, 2, 0, 2, 1); /* effective kernel 5, stride 2 */
    int z = node2(g, "dil", NAD_OP_CONV, &a, y, w2);
    mark_output(g, z);
    infer_ok(g, 2);
    assert_dims(g, y, 4, D(4, 2, 16, 28, 28));
    int64_t o = ref_out(28, 3, 2, 2, 0, 0);
    assert_int_equal(o, 12);
    assert_dims(g, z, 4, D(4, 2, 8, o, o));
    assert_int_equal(g->tensors[z].batch_axis, 0);
    assert_int_equal(g->batch, 2);
    nad_graph_free(g);
}

/* SAME_UPPER / SAME_LOWER with stride 2 on odd and even sizes: out =
 * ceil(in/s), total pad = (out-1)*s + k - in, odd pixel at the end (UPPER) or
 * the beginning (LOWER). */
static void conv_auto_pad_same(void **state)
{
    (void)state;
    const int k = 4, s = 2;
    const int64_t H = 7, W = 8;
    for (int lower = 0; lower < 2; lower++) {
        nad_graph *g = nad_graph_new();
        int x = input(g, "x", 4, D(4, 1, 2, H, W));
        int w = weight(g, "w", 4, D(4, 4, 2, k, k));
        nad_attr a = conv_attr(k, s, 0, 1, 1);
        a.conv.auto_pad = lower ? NAD_PAD_SAME_LOWER : NAD_PAD_SAME_UPPER;
        int y = node2(g, "conv_same", NAD_OP_CONV, &a, x, w);
        mark_output(g, y);
        infer_ok(g, 1);
        int64_t oh = (H + s - 1) / s, ow = (W + s - 1) / s;
        int th = (int)((oh - 1) * s + k - H), tw = (int)((ow - 1) * s + k - W);
        assert_int_equal(th, 3); /* odd: the cases differ */
        assert_int_equal(tw, 2);
        const nad_conv_attr *c = &g->nodes[0].attr.conv;
        int top = lower ? th - th / 2 : th / 2, left = lower ? tw - tw / 2 : tw / 2;
        assert_int_equal(c->pads[0], top);
        assert_int_equal(c->pads[2], th - top);
        assert_int_equal(c->pads[1], left);
        assert_int_equal(c->pads[3], tw - left);
        assert_int_equal(c->auto_pad, NAD_PAD_NOTSET);
        assert_dims(g, y, 4, D(4, 1, 4, oh, ow));
        /* Re-running sees explicit pads and gives the same shape. */
        infer_ok(g, 3);
        assert_dims(g, y, 4, D(4, 3, 4, oh, ow));
        nad_graph_free(g);
    }
}

static void conv_valid_and_groups(void **state)
{
    (void)state;
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 4, D(4, 1, 8, 10, 9));
    int w = weight(g, "w", 4, D(4, 16, 2, 3, 3));
    nad_attr a = conv_attr(3, 2, 5, 1, 4);
    a.conv.auto_pad = NAD_PAD_VALID; /* pads ignored */
    int y = node2(g, "grouped", NAD_OP_CONV, &a, x, w);
    int wd = weight(g, "wd", 4, D(4, 16, 1, 3, 3));
    a = conv_attr(3, 1, 1, 1, 16);
    int z = node2(g, "depthwise", NAD_OP_CONV, &a, y, wd);
    mark_output(g, z);
    infer_ok(g, 1);
    assert_dims(g, y, 4, D(4, 1, 16, ref_out(10, 3, 2, 1, 0, 0), ref_out(9, 3, 2, 1, 0, 0)));
    assert_dims(g, z, 4, D(4, 1, 16, 4, 4));
    nad_graph_free(g);
}

static void conv_shape_errors(void **state)
{
    (void)state;
    nad_err e = {{0}};
    /* group 4 does not divide 6 output channels */
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 4, D(4, 1, 8, 10, 10));
    int w = weight(g, "w", 4, D(4, 6, 2, 3, 3));
    nad_attr a = conv_attr(3, 1, 0, 1, 4);
    mark_output(g, node2(g, "bad_group", NAD_OP_CONV, &a, x, w));
    assert_int_equal(nad_graph_infer_shapes(g, 1, &e), NAD_ESHAPE);
    assert_non_null(strstr(e.msg, "bad_group"));
    assert_non_null(strstr(e.msg, "group 4"));
    nad_graph_free(g);
    /* 8 input channels, weight expects 3 */
    g = nad_graph_new();
    x = input(g, "x", 4, D(4, 1, 8, 10, 10));
    w = weight(g, "w", 4, D(4, 6, 3, 3, 3));
    a = conv_attr(3, 1, 0, 1, 1);
    mark_output(g, node2(g, "bad_channels", NAD_OP_CONV, &a, x, w));
    assert_int_equal(nad_graph_infer_shapes(g, 1, &e), NAD_ESHAPE);
    assert_non_null(strstr(e.msg, "bad_channels"));
    assert_non_null(strstr(e.msg, "[1,8,10,10]"));
    assert_non_null(strstr(e.msg, "[6,3,3,3]"));
    assert_int_equal(g->batch, 0);
    nad_graph_free(g);
    /* kernel larger than the padded input */
    g = nad_graph_new();
    x = input(g, "x", 4, D(4, 1, 1, 2, 2));
    w = weight(g, "w", 4, D(4, 1, 1, 3, 3));
    a = conv_attr(3, 1, 0, 1, 1);
    mark_output(g, node2(g, "too_big", NAD_OP_CONV, &a, x, w));
    assert_int_equal(nad_graph_infer_shapes(g, 1, &e), NAD_ESHAPE);
    assert_non_null(strstr(e.msg, "too_big"));
    nad_graph_free(g);
}

/* ceil_mode: out = ceil((in + pads - k)/s) + 1, minus one when the last
 * window would start in the end padding (PyTorch). */
static void pool_ceil_mode(void **state)
{
    (void)state;
    struct {
        int64_t in;
        int k, s, p, ceil_mode;
        int64_t want;
    } cases[] = {
        {7, 2, 2, 0, 0, 3}, {7, 2, 2, 0, 1, 4}, {5, 2, 2, 1, 1, 3}, /* last window would start in the padding */
        {6, 3, 2, 1, 1, 4}, {28, 2, 2, 0, 0, 14}, {6, 3, 2, 1, 0, 3},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        nad_graph *g = nad_graph_new();
        int x = input(g, "x", 4, D(4, 1, 3, cases[c].in, cases[c].in));
        nad_attr a = pool_attr(cases[c].k, cases[c].s, cases[c].p, cases[c].ceil_mode);
        int y = node1(g, "pool", c % 2 ? NAD_OP_AVGPOOL : NAD_OP_MAXPOOL, &a, x);
        mark_output(g, y);
        infer_ok(g, 2);
        assert_dims(g, y, 4, D(4, 2, 3, cases[c].want, cases[c].want));
        nad_graph_free(g);
    }
}

static void pool_same_and_global(void **state)
{
    (void)state;
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 4, D(4, 1, 3, 9, 9));
    nad_attr a = pool_attr(3, 2, 0, 0);
    a.pool.auto_pad = NAD_PAD_SAME_LOWER;
    int y = node1(g, "pool", NAD_OP_MAXPOOL, &a, x);
    int z = node1(g, "gap", NAD_OP_GLOBAL_AVGPOOL, NULL, y);
    mark_output(g, z);
    infer_ok(g, 4);
    assert_dims(g, y, 4, D(4, 4, 3, 5, 5));
    assert_int_equal(g->nodes[0].attr.pool.pads[0], 1);
    assert_int_equal(g->nodes[0].attr.pool.pads[2], 1);
    assert_dims(g, z, 4, D(4, 4, 3, 1, 1));
    nad_graph_free(g);
}

static void broadcasting(void **state)
{
    (void)state;
    nad_err e = {{0}};
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 4, D(4, 0, 3, 4, 5));
    int b = weight(g, "b", 3, D(3, 3, 1, 1));
    int y = node2(g, "add", NAD_OP_ADD, NULL, x, b);
    int s = weight(g, "s", 2, D(2, 4, 1));
    int z = node2(g, "mul", NAD_OP_MUL, NULL, s, y); /* batch input second */
    mark_output(g, z);
    infer_ok(g, 2);
    assert_dims(g, y, 4, D(4, 2, 3, 4, 5));
    assert_dims(g, z, 4, D(4, 2, 3, 4, 5));
    assert_int_equal(g->tensors[z].batch_axis, 0);
    nad_graph_free(g);

    g = nad_graph_new();
    x = input(g, "x", 4, D(4, 0, 3, 4, 5));
    b = weight(g, "b", 3, D(3, 4, 1, 1));
    mark_output(g, node2(g, "bad_add", NAD_OP_ADD, NULL, x, b));
    assert_int_equal(nad_graph_infer_shapes(g, 2, &e), NAD_ESHAPE);
    assert_non_null(strstr(e.msg, "bad_add"));
    assert_non_null(strstr(e.msg, "[2,3,4,5]"));
    assert_non_null(strstr(e.msg, "[4,1,1]"));
    nad_graph_free(g);
}

static void gemm_and_matmul(void **state)
{
    (void)state;
    nad_err e = {{0}};
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 2, D(2, 0, 12));
    int w = weight(g, "w", 2, D(2, 5, 12));
    int c = weight(g, "c", 1, D(1, 5));
    nad_attr a;
    memset(&a, 0, sizeof a);
    a.gemm = (nad_gemm_attr){1.0f, 1.0f, 0, 1};
    int in[3] = {x, w, c};
    int y = node(g, "fc", NAD_OP_GEMM, &a, 3, in);
    /* A = w2^T ([3,5]) times B = y^T ([5, batch]): the batch lands on axis 1 */
    int w2 = weight(g, "w2", 2, D(2, 5, 3));
    a.gemm = (nad_gemm_attr){1.0f, 1.0f, 1, 0};
    int tr = node1(g, "tr", NAD_OP_TRANSPOSE, NULL, y);
    int z = node2(g, "fc_t", NAD_OP_GEMM, &a, w2, tr);
    mark_output(g, z);
    infer_ok(g, 4);
    assert_dims(g, y, 2, D(2, 4, 5));
    assert_int_equal(g->tensors[y].batch_axis, 0);
    assert_dims(g, tr, 2, D(2, 5, 4));
    assert_dims(g, z, 2, D(2, 3, 4));
    assert_int_equal(g->tensors[z].batch_axis, 1);
    nad_graph_free(g);

    /* transA and transB together: A [K=6, M=2] and B [N=3, K=6] -> [2,3] */
    g = nad_graph_new();
    int A = weight(g, "A", 2, D(2, 6, 2));
    int B = input(g, "B", 2, D(2, 3, 6));
    g->tensors[B].batch_axis = 0; /* B's N axis carries the batch */
    a.gemm = (nad_gemm_attr){1.0f, 1.0f, 1, 1};
    y = node2(g, "tt", NAD_OP_GEMM, &a, A, B);
    mark_output(g, y);
    infer_ok(g, 3);
    assert_dims(g, y, 2, D(2, 2, 3));
    assert_int_equal(g->tensors[y].batch_axis, 1);
    nad_graph_free(g);

    /* inner dims differ */
    g = nad_graph_new();
    x = input(g, "x", 2, D(2, 0, 10));
    w = weight(g, "w", 2, D(2, 9, 5));
    a.gemm = (nad_gemm_attr){1.0f, 1.0f, 0, 0};
    mark_output(g, node2(g, "fc_bad", NAD_OP_GEMM, &a, x, w));
    assert_int_equal(nad_graph_infer_shapes(g, 1, &e), NAD_ESHAPE);
    assert_non_null(strstr(e.msg, "fc_bad"));
    assert_non_null(strstr(e.msg, "[1,10]"));
    assert_non_null(strstr(e.msg, "[9,5]"));
    nad_graph_free(g);

    /* MatMul with broadcast leading axes and a 1-D operand */
    g = nad_graph_new();
    x = input(g, "x", 3, D(3, 0, 3, 4));
    w = weight(g, "w", 2, D(2, 4, 5));
    y = node2(g, "mm", NAD_OP_MATMUL, NULL, x, w);
    int v = weight(g, "v", 1, D(1, 5));
    z = node2(g, "mv", NAD_OP_MATMUL, NULL, y, v);
    mark_output(g, z);
    infer_ok(g, 2);
    assert_dims(g, y, 3, D(3, 2, 3, 5));
    assert_int_equal(g->tensors[y].batch_axis, 0);
    assert_dims(g, z, 2, D(2, 2, 3));
    nad_graph_free(g);
}

static void concat_transpose_flatten(void **state)
{
    (void)state;
    nad_err e = {{0}};
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 4, D(4, 0, 3, 4, 4));
    int w = weight(g, "w", 4, D(4, 5, 3, 1, 1));
    nad_attr a = conv_attr(1, 1, 0, 1, 1);
    int y = node2(g, "conv", NAD_OP_CONV, &a, x, w);
    a = axis_attr(1);
    int c = node2(g, "cat", NAD_OP_CONCAT, &a, x, y);
    a = ints_attr(4, D(4, 0, 2, 3, 1));
    int t = node1(g, "nhwc", NAD_OP_TRANSPOSE, &a, c);
    a = ints_attr(0, NULL);
    int r = node1(g, "rev", NAD_OP_TRANSPOSE, &a, c);
    a = axis_attr(2);
    int f2 = node1(g, "flat2", NAD_OP_FLATTEN, &a, c);
    a = axis_attr(1);
    int f1 = node1(g, "flat1", NAD_OP_FLATTEN, &a, c);
    a = axis_attr(0);
    int f0 = node1(g, "flat0", NAD_OP_FLATTEN, &a, c);
    a = axis_attr(-1);
    int sm = node1(g, "softmax", NAD_OP_SOFTMAX, &a, f1);
    mark_output(g, sm);
    mark_output(g, t);
    mark_output(g, r);
    mark_output(g, f2);
    mark_output(g, f0);
    infer_ok(g, 2);
    assert_dims(g, c, 4, D(4, 2, 8, 4, 4));
    assert_dims(g, t, 4, D(4, 2, 4, 4, 8));
    assert_int_equal(g->tensors[t].batch_axis, 0);
    assert_dims(g, r, 4, D(4, 4, 4, 8, 2));
    assert_int_equal(g->tensors[r].batch_axis, 3);
    assert_dims(g, f2, 2, D(2, 16, 16));
    assert_dims(g, f1, 2, D(2, 2, 128));
    assert_int_equal(g->tensors[f1].batch_axis, 0);
    assert_dims(g, f0, 2, D(2, 1, 256));
    assert_dims(g, sm, 2, D(2, 2, 128));
    nad_graph_free(g);

    g = nad_graph_new();
    x = input(g, "x", 4, D(4, 0, 3, 4, 4));
    int x2 = input(g, "x2", 4, D(4, 0, 3, 5, 4));
    a = axis_attr(1);
    mark_output(g, node2(g, "cat_bad", NAD_OP_CONCAT, &a, x, x2));
    assert_int_equal(nad_graph_infer_shapes(g, 1, &e), NAD_ESHAPE);
    assert_non_null(strstr(e.msg, "cat_bad"));
    assert_non_null(strstr(e.msg, "[1,3,5,4]"));
    nad_graph_free(g);
}

static void reshape_forms(void **state)
{
    (void)state;
    nad_err e = {{0}};
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 4, D(4, 0, 4, 5, 6));
    nad_attr a = ints_attr(2, D(2, 0, -1));
    int r0 = node1(g, "copy0", NAD_OP_RESHAPE, &a, x);
    a = ints_attr(3, D(3, NAD_DIM_BATCH, 12, -1));
    int rb = node1(g, "batch", NAD_OP_RESHAPE, &a, x);
    int tgt = const_i64(g, "tgt", 3, D(3, -1, 20, 6)); /* -1 resolves to the batch */
    int ri = node2(g, "minus1", NAD_OP_RESHAPE, NULL, x, tgt);
    int tgt2 = const_i64(g, "tgt2", 2, D(2, 1, -1)); /* literal 1: fixed-batch export */
    int rl = node2(g, "literal1", NAD_OP_RESHAPE, NULL, x, tgt2);
    int tgt3 = const_i64(g, "tgt3", 2, D(2, -1, 10)); /* not the batch */
    int rn = node2(g, "mixed", NAD_OP_RESHAPE, NULL, x, tgt3);
    mark_output(g, r0);
    mark_output(g, rb);
    mark_output(g, ri);
    mark_output(g, rl);
    mark_output(g, rn);
    for (int batch = 1; batch <= 3; batch += 2) {
        infer_ok(g, batch);
        assert_dims(g, r0, 2, D(2, batch, 120));
        assert_int_equal(g->tensors[r0].batch_axis, 0);
        assert_dims(g, rb, 3, D(3, batch, 12, 10));
        assert_int_equal(g->tensors[rb].batch_axis, 0);
        assert_dims(g, ri, 3, D(3, batch, 20, 6));
        assert_int_equal(g->tensors[ri].batch_axis, 0);
        assert_dims(g, rl, 2, D(2, batch, 120));
        assert_int_equal(g->tensors[rl].batch_axis, 0);
        assert_dims(g, rn, 2, D(2, batch * 12, 10));
        assert_int_equal(g->tensors[rn].batch_axis, -1);
    }
    nad_graph_free(g);

    g = nad_graph_new();
    x = input(g, "x", 2, D(2, 0, 10));
    a = ints_attr(2, D(2, 0, 3));
    mark_output(g, node1(g, "bad_reshape", NAD_OP_RESHAPE, &a, x));
    assert_int_equal(nad_graph_infer_shapes(g, 1, &e), NAD_ESHAPE);
    assert_non_null(strstr(e.msg, "bad_reshape"));
    assert_non_null(strstr(e.msg, "[1,10]"));
    nad_graph_free(g);
}

static void pad_squeeze_unsqueeze_slice_gather(void **state)
{
    (void)state;
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 4, D(4, 0, 3, 5, 5));
    nad_attr a;
    memset(&a, 0, sizeof a);
    a.pad.n = 8;
    int64_t pads[8] = {0, 0, 1, 2, 0, 0, 3, -1};
    memcpy(a.pad.pads, pads, sizeof pads);
    int p = node1(g, "pad_attr", NAD_OP_PAD, &a, x);
    int pv = const_i64(g, "pads", 8, pads);
    int p2 = node2(g, "pad_input", NAD_OP_PAD, NULL, x, pv);
    int gp = node1(g, "gap", NAD_OP_GLOBAL_MAXPOOL, NULL, x);
    a = ints_attr(2, D(2, 2, -1));
    int sq = node1(g, "squeeze", NAD_OP_SQUEEZE, &a, gp);
    a = ints_attr(0, NULL);
    int sq_all = node1(g, "squeeze_all", NAD_OP_SQUEEZE, &a, gp);
    int ax = const_i64(g, "axes", 2, D(2, 1, -1));
    int us = node2(g, "unsqueeze", NAD_OP_UNSQUEEZE, NULL, sq, ax);
    int st = const_i64(g, "starts", 2, D(2, 1, -4));
    int en = const_i64(g, "ends", 2, D(2, INT64_MAX, 5));
    int sa = const_i64(g, "saxes", 2, D(2, 1, 3));
    int ss = const_i64(g, "ssteps", 2, D(2, 1, 2));
    int sin[5] = {x, st, en, sa, ss};
    int sl = node(g, "slice", NAD_OP_SLICE, NULL, 5, sin);
    int gi = const_i64(g, "gidx", 2, D(2, 0, 2));
    a = axis_attr(1);
    int ga = node2(g, "gather", NAD_OP_GATHER, &a, x, gi);
    int sh = node1(g, "shape", NAD_OP_SHAPE, NULL, x);
    int outs[] = {p, p2, sq, sq_all, us, sl, ga, sh};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++)
        mark_output(g, outs[i]);
    infer_ok(g, 1);
    assert_dims(g, p, 4, D(4, 1, 3, 5 + 1 + 3, 5 + 2 - 1));
    assert_dims(g, p2, 4, D(4, 1, 3, 9, 6));
    assert_dims(g, sq, 2, D(2, 1, 3));
    assert_dims(g, sq_all, 2, D(2, 1, 3)); /* the batch axis survives at batch 1 */
    assert_int_equal(g->tensors[sq_all].batch_axis, 0);
    assert_dims(g, us, 4, D(4, 1, 1, 3, 1));
    assert_dims(g, sl, 4, D(4, 1, 2, 5, 2)); /* channels 1..2, cols 1,3 */
    assert_dims(g, ga, 4, D(4, 1, 2, 5, 5));
    assert_dims(g, sh, 1, D(1, 4));
    assert_int_equal(g->tensors[sh].dtype, NAD_DT_INT64);
    const int64_t *shv = nad_tensor_i64(&g->tensors[sh]);
    assert_non_null(shv);
    assert_true(shv[0] == NAD_DIM_BATCH);
    assert_int_equal(shv[1], 3);
    assert_int_equal(shv[3], 5);
    nad_graph_free(g);
}

static void batchnorm_and_unary(void **state)
{
    (void)state;
    nad_err e = {{0}};
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 4, D(4, 0, 3, 4, 4));
    int p[4];
    for (int k = 0; k < 4; k++)
        p[k] = weight(g, k == 0 ? "g" : k == 1 ? "b" : k == 2 ? "m" : "v", 1, D(1, 3));
    int in[5] = {x, p[0], p[1], p[2], p[3]};
    nad_attr a;
    memset(&a, 0, sizeof a);
    a.bn.epsilon = 1e-5f;
    int y = node(g, "bn", NAD_OP_BATCHNORM, &a, 5, in);
    nad_op unary[] = {NAD_OP_RELU, NAD_OP_LEAKY_RELU, NAD_OP_CLIP, NAD_OP_SIGMOID, NAD_OP_HARD_SIGMOID,
                      NAD_OP_HARD_SWISH, NAD_OP_TANH, NAD_OP_IDENTITY, NAD_OP_DROPOUT};
    int t = y;
    for (size_t i = 0; i < sizeof unary / sizeof unary[0]; i++)
        t = node1(g, nad_op_name(unary[i]), unary[i], NULL, t);
    mark_output(g, t);
    infer_ok(g, 5);
    assert_dims(g, t, 4, D(4, 5, 3, 4, 4));
    nad_graph_free(g);

    g = nad_graph_new();
    x = input(g, "x", 4, D(4, 0, 3, 4, 4));
    for (int k = 0; k < 4; k++)
        in[k + 1] = weight(g, "p", 1, D(1, k == 3 ? 4 : 3));
    in[0] = x;
    mark_output(g, node(g, "bn_bad", NAD_OP_BATCHNORM, &a, 5, in));
    assert_int_equal(nad_graph_infer_shapes(g, 1, &e), NAD_ESHAPE);
    assert_non_null(strstr(e.msg, "bn_bad"));
    nad_graph_free(g);
}

/* conv -> relu -> maxpool -> flatten -> gemm, re-inferred for another batch
 * and after the conv loses output channels (as a pruner would do). */
static void rerun_after_batch_and_channel_change(void **state)
{
    (void)state;
    nad_err e = {{0}};
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 4, D(4, 0, 1, 28, 28));
    int w = weight(g, "w", 4, D(4, 16, 1, 3, 3));
    nad_attr a = conv_attr(3, 1, 1, 1, 1);
    int y = node2(g, "conv", NAD_OP_CONV, &a, x, w);
    y = node1(g, "relu", NAD_OP_RELU, NULL, y);
    a = pool_attr(2, 2, 0, 0);
    int pl = node1(g, "pool", NAD_OP_MAXPOOL, &a, y);
    a = axis_attr(1);
    int f = node1(g, "flat", NAD_OP_FLATTEN, &a, pl);
    int fw = weight(g, "fw", 2, D(2, 10, 16 * 14 * 14));
    memset(&a, 0, sizeof a);
    a.gemm = (nad_gemm_attr){1, 1, 0, 1};
    int out = node2(g, "fc", NAD_OP_GEMM, &a, f, fw);
    mark_output(g, out);
    infer_ok(g, 1);
    assert_dims(g, out, 2, D(2, 1, 10));
    infer_ok(g, 7);
    assert_dims(g, pl, 4, D(4, 7, 16, 14, 14));
    assert_dims(g, out, 2, D(2, 7, 10));
    /* shrink the conv to 9 channels: the fc no longer fits ... */
    g->tensors[w].dims[0] = 9;
    assert_int_equal(nad_graph_infer_shapes(g, 7, &e), NAD_ESHAPE);
    assert_non_null(strstr(e.msg, "fc"));
    /* ... until its input dimension shrinks too */
    g->tensors[fw].dims[1] = 9 * 14 * 14;
    infer_ok(g, 7);
    assert_dims(g, pl, 4, D(4, 7, 9, 14, 14));
    assert_dims(g, f, 2, D(2, 7, 9 * 14 * 14));
    assert_dims(g, out, 2, D(2, 7, 10));
    nad_graph_free(g);
}

/* x.view(x.size(0), -1) as exported: Shape -> Gather(0) -> Unsqueeze ->
 * Concat([n], [-1]) -> Reshape, evaluated during inference for any batch. */
static void shape_chain_evaluated(void **state)
{
    (void)state;
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 4, D(4, 0, 2, 3, 4));
    int s = node1(g, "shape", NAD_OP_SHAPE, NULL, x);
    int64_t zero = 0;
    int idx = nad_graph_add_tensor(g, "zero", NAD_DT_INT64, NAD_TK_CONST, 0, NULL);
    assert_int_equal(nad_tensor_alloc(&g->tensors[idx], NULL), NAD_OK);
    memcpy(nad_tensor_i64(&g->tensors[idx]), &zero, sizeof zero);
    nad_attr a = axis_attr(0);
    int n = node2(g, "gather", NAD_OP_GATHER, &a, s, idx);
    int ax = const_i64(g, "ax", 1, D(1, 0));
    int u = node2(g, "unsq", NAD_OP_UNSQUEEZE, NULL, n, ax);
    int m1 = const_i64(g, "m1", 1, D(1, -1));
    a = axis_attr(0);
    int c = node2(g, "cat", NAD_OP_CONCAT, &a, u, m1);
    int r = node2(g, "reshape", NAD_OP_RESHAPE, NULL, x, c);
    mark_output(g, r);
    for (int batch = 1; batch <= 7; batch += 6) {
        infer_ok(g, batch);
        assert_dims(g, n, 0, NULL);
        assert_dims(g, c, 1, D(1, 2));
        const int64_t *cv = nad_tensor_i64(&g->tensors[c]);
        assert_true(cv[0] == NAD_DIM_BATCH);
        assert_int_equal(cv[1], -1);
        assert_dims(g, r, 2, D(2, batch, 24));
        assert_int_equal(g->tensors[r].batch_axis, 0);
    }
    nad_graph_free(g);
}

/* Arithmetic on the batch size and non-constant aux inputs are refused. */
static void unsupported_shape_arithmetic(void **state)
{
    (void)state;
    nad_err e = {{0}};
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 2, D(2, 0, 6));
    int s = node1(g, "shape", NAD_OP_SHAPE, NULL, x);
    int two = const_i64(g, "two", 1, D(1, 2));
    int m = node2(g, "times2", NAD_OP_MUL, NULL, s, two);
    mark_output(g, node2(g, "reshape", NAD_OP_RESHAPE, NULL, x, m));
    assert_int_equal(nad_graph_infer_shapes(g, 2, &e), NAD_EUNSUPPORTED);
    assert_non_null(strstr(e.msg, "times2"));
    assert_non_null(strstr(e.msg, "batch"));
    nad_graph_free(g);

    /* Concrete shape arithmetic is fine: [N,6] -> [N, 6*2/2] */
    g = nad_graph_new();
    x = input(g, "x", 2, D(2, 0, 6));
    s = node1(g, "shape", NAD_OP_SHAPE, NULL, x);
    int st = const_i64(g, "st", 1, D(1, 1)), en = const_i64(g, "en", 1, D(1, 2));
    int sin[3] = {s, st, en};
    int sl = node(g, "slice", NAD_OP_SLICE, NULL, 3, sin);
    two = const_i64(g, "two", 1, D(1, 2));
    m = node2(g, "times2", NAD_OP_MUL, NULL, sl, two);
    int d = node2(g, "div2", NAD_OP_DIV, NULL, m, two);
    int zero = const_i64(g, "zero", 1, D(1, 0));
    nad_attr a = axis_attr(0);
    int cin[2] = {zero, d};
    int c = node(g, "cat", NAD_OP_CONCAT, &a, 2, cin);
    int r = node2(g, "reshape", NAD_OP_RESHAPE, NULL, x, c);
    mark_output(g, r);
    infer_ok(g, 3);
    assert_int_equal(nad_tensor_i64(&g->tensors[m])[0], 12);
    assert_dims(g, r, 2, D(2, 3, 6));
    assert_int_equal(g->tensors[r].batch_axis, 0);
    nad_graph_free(g);

    /* a Reshape target fed by the caller (data, not a constant) */
    g = nad_graph_new();
    x = input(g, "x", 2, D(2, 0, 6));
    int tin = nad_graph_add_tensor(g, "target", NAD_DT_INT64, NAD_TK_INPUT, 1, D(1, 2));
    g->tensors[tin].batch_axis = -1;
    g->inputs = realloc(g->inputs, (size_t)(g->n_inputs + 1) * sizeof(int));
    g->inputs[g->n_inputs++] = tin;
    mark_output(g, node2(g, "data_reshape", NAD_OP_RESHAPE, NULL, x, tin));
    assert_int_equal(nad_graph_infer_shapes(g, 1, &e), NAD_EUNSUPPORTED);
    assert_non_null(strstr(e.msg, "data_reshape"));
    assert_non_null(strstr(e.msg, "target"));
    nad_graph_free(g);
}

static void wiring_errors(void **state)
{
    (void)state;
    nad_err e = {{0}};
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 2, D(2, 0, 6));
    int late = act(g, "late");
    int y = node2(g, "uses_late", NAD_OP_ADD, NULL, x, late);
    assert_true(nad_graph_add_node(g, "makes_late", NAD_OP_RELU, 1, &x, 1, &late, NULL) >= 0);
    mark_output(g, y);
    assert_int_equal(nad_graph_infer_shapes(g, 1, &e), NAD_EINVAL);
    assert_non_null(strstr(e.msg, "uses_late"));
    assert_int_equal(nad_graph_infer_shapes(g, 0, &e), NAD_EINVAL);
    nad_graph_free(g);
}

/* Small constant expressions are evaluated during inference: negative-step
 * Slice, negative Gather index, Transpose and Cast, compared with values
 * worked out by hand from the ONNX definitions. */
static void constant_values_evaluated(void **state)
{
    (void)state;
    nad_graph *g = nad_graph_new();
    int v = const_i64(g, "v", 6, D(6, 0, 1, 2, 3, 4, 5));
    int st = const_i64(g, "st", 1, D(1, -1)), en = const_i64(g, "en", 1, D(1, INT64_MIN));
    int ax = const_i64(g, "ax", 1, D(1, 0)), sp = const_i64(g, "sp", 1, D(1, -2));
    int sin[5] = {v, st, en, ax, sp};
    int rev = node(g, "rev", NAD_OP_SLICE, NULL, 5, sin);
    int neg = const_i64(g, "neg", 1, D(1, -2));
    nad_attr a = axis_attr(0);
    int ga = node2(g, "gather", NAD_OP_GATHER, &a, rev, neg);
    int t23 = nad_graph_add_tensor(g, "t23", NAD_DT_INT64, NAD_TK_CONST, 2, D(2, 2, 3));
    assert_int_equal(nad_tensor_alloc(&g->tensors[t23], NULL), NAD_OK);
    for (int i = 0; i < 6; i++)
        nad_tensor_i64(&g->tensors[t23])[i] = 10 * i;
    a = ints_attr(0, NULL);
    int tr = node1(g, "tr", NAD_OP_TRANSPOSE, &a, t23);
    int f = nad_graph_add_tensor(g, "f", NAD_DT_FLOAT, NAD_TK_CONST, 1, D(1, 3));
    assert_int_equal(nad_tensor_alloc(&g->tensors[f], NULL), NAD_OK);
    float fv[3] = {-2.7f, 0.5f, 3.9f};
    memcpy(nad_tensor_f32(&g->tensors[f]), fv, sizeof fv);
    a = axis_attr(NAD_DT_INT64);
    int ci = node1(g, "cast", NAD_OP_CAST, &a, f);
    int outs[] = {rev, ga, tr, ci};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++)
        mark_output(g, outs[i]);
    infer_ok(g, 1);
    assert_dims(g, rev, 1, D(1, 3));
    const int64_t *r = nad_tensor_i64(&g->tensors[rev]);
    assert_int_equal(r[0], 5);
    assert_int_equal(r[1], 3);
    assert_int_equal(r[2], 1);
    assert_dims(g, ga, 1, D(1, 1));
    assert_int_equal(nad_tensor_i64(&g->tensors[ga])[0], 3);
    assert_dims(g, tr, 2, D(2, 3, 2));
    const int64_t *t = nad_tensor_i64(&g->tensors[tr]);
    int64_t want[6] = {0, 30, 10, 40, 20, 50};
    assert_memory_equal(t, want, sizeof want);
    assert_int_equal(g->tensors[ci].dtype, NAD_DT_INT64);
    const int64_t *c = nad_tensor_i64(&g->tensors[ci]);
    assert_int_equal(c[0], -2);
    assert_int_equal(c[1], 0);
    assert_int_equal(c[2], 3);
    nad_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conv_basic_and_dilation),
        cmocka_unit_test(conv_auto_pad_same),
        cmocka_unit_test(conv_valid_and_groups),
        cmocka_unit_test(conv_shape_errors),
        cmocka_unit_test(pool_ceil_mode),
        cmocka_unit_test(pool_same_and_global),
        cmocka_unit_test(broadcasting),
        cmocka_unit_test(gemm_and_matmul),
        cmocka_unit_test(concat_transpose_flatten),
        cmocka_unit_test(reshape_forms),
        cmocka_unit_test(pad_squeeze_unsqueeze_slice_gather),
        cmocka_unit_test(batchnorm_and_unary),
        cmocka_unit_test(rerun_after_batch_and_channel_change),
        cmocka_unit_test(shape_chain_evaluated),
        cmocka_unit_test(unsupported_shape_arithmetic),
        cmocka_unit_test(wiring_errors),
        cmocka_unit_test(constant_values_evaluated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
