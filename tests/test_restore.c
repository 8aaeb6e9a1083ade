/*
 * Least-squares restoration after pruning (proposals/restore.c).
 *
 * Small graphs are built by hand, a channel group is written out member by
 * member, and the pruned graph is made here by slicing the members (no
 * dependence on proposals/shrink.c).  Checks:
 *   - when a removed channel is an exact multiple of a kept one (filter and
 *     bias doubled: ReLU keeps it proportional), restoration reproduces the
 *     original output while plain slicing does not;
 *   - restoration never increases the consumer's error on the calibration
 *     images over plain slicing, and with ridge 0 no perturbation of the
 *     re-fitted weights lowers it (it is the least-squares optimum);
 *   - one kept channel, ridge 0, dead and proportional kept channels;
 *   - Conv, Gemm transB 0/1 with alpha/beta, MatMul, Flatten -> Gemm,
 *     a consumer that also writes the group, a consumer reading the group
 *     twice through a Concat, and the argument/state errors.
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
#include "groups.h"
#include "nadapt/engine.h"
#include "restore.h"
#include "graph_builder.h"
#include "testutil.h"

/* ---- helpers -------------------------------------------------------------- */

static float rnd(uint32_t *s, float lo, float hi)
{
    *s = *s * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(*s >> 8) / (float)(1u << 24);
}

static int filled(nad_graph *g, const char *name, int ndim, const int64_t *dims, uint32_t *s, float lo, float hi)
{
    int t = nad_graph_add_tensor(g, name, NAD_DT_FLOAT, NAD_TK_WEIGHT, ndim, dims);
    assert_true(t >= 0);
    assert_int_equal(nad_tensor_alloc(&g->tensors[t], NULL), NAD_OK);
    float *v = nad_tensor_f32(&g->tensors[t]);
    for (int64_t i = 0; i < nad_tensor_numel(&g->tensors[t]); i++)
        v[i] = rnd(s, lo, hi);
    return t;
}

static float *randv(int64_t n, uint32_t *s)
{
    float *v = malloc((size_t)n * sizeof *v);
    assert_non_null(v);
    for (int64_t i = 0; i < n; i++)
        v[i] = rnd(s, -1.5f, 1.5f);
    return v;
}

static nad_attr conv_attr(int k, int p)
{
    nad_attr a;
    memset(&a, 0, sizeof a);
    a.conv = (nad_conv_attr){k, k, 1, 1, 1, 1, {p, p, p, p}, 1, NAD_PAD_NOTSET};
    return a;
}

static nad_attr gemm_attr(float alpha, float beta, int trans_b)
{
    nad_attr a;
    memset(&a, 0, sizeof a);
    a.gemm = (nad_gemm_attr){alpha, beta, 0, trans_b};
    return a;
}

static void ok(nad_status rc, const nad_err *e)
{
    if (rc)
        fail_msg("unexpected failure: %s", e->msg);
}

/*
 * Makes filter j of weight t (along axis 0 when rows, else axis 1 of a 2-D
 * [K, M] weight) an exact copy of filter i times 2, and the same for bias b
 * (-1: none).  Doubling is exact in float, and ReLU(2z) = 2 ReLU(z).
 */
static void double_filter(nad_graph *g, int t, int b, int i, int j, int rows)
{
    nad_tensor *w = &g->tensors[t];
    float *v = nad_tensor_f32(w);
    if (rows) {
        int64_t per = nad_tensor_numel(w) / w->dims[0];
        for (int64_t k = 0; k < per; k++)
            v[j * per + k] = 2.0f * v[i * per + k];
    } else {
        for (int64_t k = 0; k < w->dims[0]; k++)
            v[k * w->dims[1] + j] = 2.0f * v[k * w->dims[1] + i];
    }
    if (b >= 0)
        nad_tensor_f32(&g->tensors[b])[j] = 2.0f * nad_tensor_f32(&g->tensors[b])[i];
}

/* Keeps the entries along `axis` of t whose drop[] is 0 (a fresh blob). */
static void slice_axis(nad_tensor *t, int axis, const char *drop)
{
    int64_t outer = 1, inner = 1, len = t->dims[axis], kept = 0;
    for (int d = 0; d < axis; d++)
        outer *= t->dims[d];
    for (int d = axis + 1; d < t->ndim; d++)
        inner *= t->dims[d];
    for (int64_t i = 0; i < len; i++)
        kept += !drop[i];
    nad_blob *nb = nad_blob_new((size_t)(outer * kept * inner) * sizeof(float));
    assert_non_null(nb);
    const float *src = nad_tensor_f32(t);
    float *dst = nb->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < len; i++)
            if (!drop[i]) {
                memcpy(dst, src + (o * len + i) * inner, (size_t)inner * sizeof(float));
                dst += inner;
            }
    nad_blob_unref(t->blob);
    t->blob = nb;
    t->dims[axis] = kept;
}

/* What nad_shrink does, by hand: a copy of g with every tensor member of grp
 * sliced to keep (members of one tensor and axis share one mask: their
 * offsets refer to the unsliced tensor). */
static nad_graph *hand_shrink(const nad_graph *g, const nad_group *grp, const int *keep, int n_keep)
{
    nad_err e = {{0}};
    nad_graph *c = nad_graph_copy(g);
    assert_non_null(c);
    char *removed = malloc((size_t)grp->channels);
    char *done = calloc((size_t)grp->n_m, 1);
    assert_non_null(removed);
    assert_non_null(done);
    memset(removed, 1, (size_t)grp->channels);
    for (int i = 0; i < n_keep; i++)
        removed[keep[i]] = 0;
    for (int i = 0; i < grp->n_m; i++) {
        const nad_group_member *m = &grp->m[i];
        if (done[i] || m->tensor < 0)
            continue;
        nad_tensor *t = &c->tensors[m->tensor];
        char *drop = calloc((size_t)t->dims[m->axis], 1);
        assert_non_null(drop);
        for (int j = i; j < grp->n_m; j++) {
            const nad_group_member *o = &grp->m[j];
            if (o->tensor != m->tensor || o->axis != m->axis)
                continue;
            done[j] = 1;
            for (int k = 0; k < grp->channels; k++)
                if (removed[k])
                    memset(drop + o->offset + (int64_t)k * o->per, 1, (size_t)o->per);
        }
        slice_axis(t, m->axis, drop);
        free(drop);
    }
    free(removed);
    free(done);
    ok(nad_graph_infer_shapes(c, 1, &e), &e);
    return c;
}

/* Runs g on n images; returns the output (n x out floats, caller frees). */
static float *run_net(nad_graph *g, const float *x, int n, int64_t *out_per)
{
    nad_err e = {{0}};
    nad_plan *p = NULL;
    ok(nad_plan_create(g, n, &p, &e), &e);
    memcpy(nad_plan_input(p), x, (size_t)(n * nad_plan_input_size(p)) * sizeof(float));
    ok(nad_plan_run(p, n, &e), &e);
    int64_t per = nad_plan_output_size(p);
    float *y = malloc((size_t)(n * per) * sizeof *y);
    assert_non_null(y);
    memcpy(y, nad_plan_output(p), (size_t)(n * per) * sizeof *y);
    nad_plan_destroy(p);
    if (out_per)
        *out_per = per;
    return y;
}

/*
 * Squared error of the pruned network's output against the original's over
 * n images, and the original's squared norm.  When rows_kept is set, the
 * pruned output holds only channels keep[] of the original's `chans`
 * (NCHW-like: inner values per channel).
 */
static void compare(nad_graph *g, nad_graph *pr, const float *x, int n, const int *keep, int n_keep, int chans,
                    double *err, double *norm)
{
    int64_t po = 0, pp = 0;
    float *yo = run_net(g, x, n, &po);
    float *yp = run_net(pr, x, n, &pp);
    *err = 0.0, *norm = 0.0;
    if (chans > 0) {
        int64_t inner = po / chans;
        assert_int_equal(pp, inner * n_keep);
        for (int b = 0; b < n; b++)
            for (int k = 0; k < n_keep; k++)
                for (int64_t i = 0; i < inner; i++) {
                    double a = yo[b * po + keep[k] * inner + i], c = yp[b * pp + k * inner + i];
                    *err += (a - c) * (a - c);
                    *norm += a * a;
                }
    } else {
        assert_int_equal(po, pp);
        for (int64_t i = 0; i < n * po; i++) {
            double a = yo[i], c = yp[i];
            *err += (a - c) * (a - c);
            *norm += a * a;
        }
    }
    free(yo);
    free(yp);
}

/* One prune-and-restore experiment on g (input n x per floats). */
typedef struct experiment {
    nad_graph *g;
    nad_group grp;
    nad_group_member m[8];
    int64_t per;     /* floats per image                          */
    int rows_chans;  /* > 0: the output is sliced (that many chans) */
    int ncal;        /* calibration images (0: 24)                */
    int consumer;    /* node index of the (last) consumer         */
} experiment;

static void add_member(experiment *x, nad_member_kind kind, int node, int tensor, int axis, int64_t offset,
                       int64_t per)
{
    assert_true(x->grp.n_m < 8);
    x->m[x->grp.n_m++] = (nad_group_member){kind, node, tensor, axis, offset, per};
    x->grp.m = x->m;
}

/* A position-weighted sum of every float weight of g (detects changes). */
static double weight_sum(const nad_graph *g)
{
    double sum = 0.0;
    for (int t = 0; t < g->n_tensors; t++)
        if (g->tensors[t].blob && g->tensors[t].dtype == NAD_DT_FLOAT)
            for (int64_t i = 0; i < nad_tensor_numel(&g->tensors[t]); i++)
                sum += (double)(i % 7 + t + 1) * nad_tensor_f32(&g->tensors[t])[i];
    return sum;
}

/*
 * Prunes x->g to keep, restores with ridge, and returns the relative RMS
 * output errors on `test` images (fresh) of the sliced and restored graphs
 * in rel[0], rel[1], and on the calibration images in cal[0], cal[1].
 */
static void run_experiment(experiment *x, const int *keep, int n_keep, double ridge, uint32_t seed, double rel[2],
                           double cal[2])
{
    enum { NTEST = 8 };
    const int NCAL = x->ncal > 0 ? x->ncal : 24;
    nad_err e = {{0}};
    uint32_t s = seed;
    float *xc = randv(NCAL * x->per, &s), *xt = randv(NTEST * x->per, &s);
    nad_restore_ctx *ctx = NULL;
    ok(nad_restore_prepare(x->g, xc, NCAL, x->per, 10, &ctx, &e), &e);
    ok(nad_graph_infer_shapes(x->g, 1, &e), &e);
    nad_graph *sliced = hand_shrink(x->g, &x->grp, keep, n_keep);
    nad_graph *restored = hand_shrink(x->g, &x->grp, keep, n_keep);
    double before = weight_sum(x->g);
    ok(nad_restore_apply(ctx, x->g, &x->grp, keep, n_keep, restored, ridge, &e), &e);
    assert_true(weight_sum(x->g) == before); /* g's weights are untouched (copy on write) */
    for (int t = 0; t < restored->n_tensors; t++)
        if (restored->tensors[t].blob && restored->tensors[t].dtype == NAD_DT_FLOAT)
            for (int64_t i = 0; i < nad_tensor_numel(&restored->tensors[t]); i++)
                assert_true(isfinite(nad_tensor_f32(&restored->tensors[t])[i]));
    double err, norm;
    compare(x->g, sliced, xt, NTEST, keep, n_keep, x->rows_chans, &err, &norm);
    rel[0] = sqrt(err / norm);
    compare(x->g, restored, xt, NTEST, keep, n_keep, x->rows_chans, &err, &norm);
    rel[1] = sqrt(err / norm);
    compare(x->g, sliced, xc, NCAL, keep, n_keep, x->rows_chans, &err, &norm);
    cal[0] = sqrt(err / norm);
    compare(x->g, restored, xc, NCAL, keep, n_keep, x->rows_chans, &err, &norm);
    cal[1] = sqrt(err / norm);
    if (ridge == 0.0) {
        /* Least-squares optimum: moving the re-fitted weights (and bias) of
         * the consumer (the last layer, so the output is its output) either
         * way along any direction cannot lower the calibration error. */
        const nad_node *nd = &restored->nodes[x->consumer];
        for (int k = 1; k < nd->n_in && k <= 2; k++) {
            if (nd->in[k] < 0)
                continue;
            nad_tensor *t = &restored->tensors[nd->in[k]];
            int64_t n = nad_tensor_numel(t);
            float *v = nad_tensor_f32(t), *v0 = malloc((size_t)n * sizeof *v0);
            assert_non_null(v0);
            memcpy(v0, v, (size_t)n * sizeof *v0);
            for (int sign = -1; sign <= 1; sign += 2) {
                uint32_t ps = seed + 99u;
                for (int64_t i = 0; i < n; i++)
                    v[i] = v0[i] + (float)sign * 0.02f * rnd(&ps, -1, 1);
                double perr, pnorm;
                compare(x->g, restored, xc, NCAL, keep, n_keep, x->rows_chans, &perr, &pnorm);
                if (!(sqrt(perr / pnorm) > cal[1] * (1.0 - 1e-9)))
                    fail_msg("moving input %d of the restored consumer lowered the error: %.9g < %.9g", k,
                             sqrt(perr / pnorm), cal[1]);
            }
            memcpy(v, v0, (size_t)n * sizeof *v0);
            free(v0);
        }
    }
    nad_graph_free(sliced);
    nad_graph_free(restored);
    nad_restore_free(ctx);
    free(xc);
    free(xt);
}

/* Exact case: restored reproduces the output, slicing does not. */
static void expect_exact(experiment *x, const int *keep, int n_keep, double ridge, uint32_t seed)
{
    double rel[2], cal[2];
    run_experiment(x, keep, n_keep, ridge, seed, rel, cal);
    if (!(rel[1] < 1e-4) || !(rel[0] > 1e-2))
        fail_msg("exact case (ridge %g): sliced %.3g, restored %.3g (relative RMS)", ridge, rel[0], rel[1]);
}

/* General case: the restored error on the calibration set is no larger than
 * the sliced one (and clearly smaller when something was lost). */
static void expect_better(experiment *x, const int *keep, int n_keep, double ridge, uint32_t seed)
{
    double rel[2], cal[2];
    run_experiment(x, keep, n_keep, ridge, seed, rel, cal);
    if (!(cal[1] <= cal[0] * (1.0 + 1e-6) + 1e-7) || !isfinite(rel[1]))
        fail_msg("restoration increased the calibration error (ridge %g): sliced %.4g, restored %.4g", ridge, cal[0],
                 cal[1]);
}

/* ---- graphs ----------------------------------------------------------------- */

/*
 * x [N,3,8,8] -> conv1 (6 filters, 3x3, pad 1, bias) -> Relu [-> Concat(r, r)]
 * -> conv2 (m2 filters, 3x3, pad p2, bias?; p2 < 0: stride 2x1, dilation
 * 1x2, pads 1,2,0,1) -> output.  The group is conv1's
 * 6 channels; conv2 reads them (twice with concat) and, when writes is set
 * (m2 = 6), also writes them.
 */
static void conv_chain(experiment *x, int m2, int p2, int bias2, int concat, int writes, int exact, uint32_t seed)
{
    uint32_t s = seed;
    memset(x, 0, sizeof *x);
    nad_graph *g = nad_graph_new();
    assert_non_null(g);
    int in = input(g, "x", 4, D(4, 1, 3, 8, 8));
    int w1 = filled(g, "w1", 4, D(4, 6, 3, 3, 3), &s, -0.5f, 0.5f);
    int b1 = filled(g, "b1", 1, D(1, 6), &s, -0.3f, 0.5f);
    int cin = concat ? 12 : 6;
    int w2 = filled(g, "w2", 4, D(4, m2, cin, 3, 3), &s, -0.5f, 0.5f);
    int b2 = bias2 ? filled(g, "b2", 1, D(1, m2), &s, -1, 1) : -1;
    nad_attr a = conv_attr(3, 1);
    int y = node(g, "conv1", NAD_OP_CONV, &a, 3, (int[]){in, w1, b1});
    y = node1(g, "relu", NAD_OP_RELU, NULL, y);
    if (concat) {
        nad_attr ax = axis_attr(1);
        y = node2(g, "cat", NAD_OP_CONCAT, &ax, y, y);
    }
    a = conv_attr(3, p2);
    if (p2 < 0) /* strides, dilations and pads that differ per axis */
        a.conv = (nad_conv_attr){3, 3, 2, 1, 1, 2, {1, 2, 0, 1}, 1, NAD_PAD_NOTSET};
    y = node(g, "conv2", NAD_OP_CONV, &a, bias2 ? 3 : 2, (int[]){y, w2, b2});
    mark_output(g, y);
    if (exact)
        double_filter(g, w1, b1, 1, 4, 1);
    int c2 = concat ? 3 : 2; /* node index of conv2 */
    x->g = g;
    x->consumer = c2;
    x->per = 3 * 8 * 8;
    x->grp.channels = 6;
    snprintf(x->grp.name, sizeof x->grp.name, "conv1");
    add_member(x, NAD_MEM_FILTERS, 0, w1, 0, 0, 1);
    add_member(x, NAD_MEM_PARAM, 0, b1, 0, 0, 1);
    add_member(x, NAD_MEM_INPUTS, c2, w2, 1, 0, 1);
    if (concat)
        add_member(x, NAD_MEM_INPUTS, c2, w2, 1, 6, 1);
    if (writes) {
        add_member(x, NAD_MEM_FILTERS, c2, w2, 0, 0, 1);
        if (bias2)
            add_member(x, NAD_MEM_PARAM, c2, b2, 0, 0, 1);
        x->rows_chans = m2;
    }
}

/*
 * x [N,8] -> gemm1 (6 outputs, transB, bias) -> Relu -> layer 2 -> output,
 * layer 2: op2 = 0 Gemm transB=1 (C [1,5] when bias), 1 Gemm transB=0 with
 * alpha 0.5, beta 2 (C [5] when bias), 2 MatMul (B [6,5]), 3 Transpose ->
 * Gemm transA=1 transB=1 (C [1,5] when bias).
 */
static void dense_chain(experiment *x, int op2, int bias2, int exact, uint32_t seed)
{
    uint32_t s = seed;
    memset(x, 0, sizeof *x);
    nad_graph *g = nad_graph_new();
    assert_non_null(g);
    int in = input(g, "x", 2, D(2, 1, 8));
    int w1 = filled(g, "w1", 2, D(2, 6, 8), &s, -0.6f, 0.6f);
    int b1 = filled(g, "b1", 1, D(1, 6), &s, -0.3f, 0.5f);
    nad_attr a = gemm_attr(1, 1, 1);
    int y = node(g, "gemm1", NAD_OP_GEMM, &a, 3, (int[]){in, w1, b1});
    y = node1(g, "relu", NAD_OP_RELU, NULL, y);
    int w2, b2 = -1, axis_in, consumer = 2;
    if (op2 == 3) { /* Y = A^T B^T + C with A = Transpose(relu) [6, N] */
        nad_attr perm;
        memset(&perm, 0, sizeof perm);
        perm.ints.n = 2, perm.ints.v[0] = 1, perm.ints.v[1] = 0;
        y = node1(g, "tr", NAD_OP_TRANSPOSE, &perm, y);
        consumer = 3;
    }
    if (op2 == 0 || op2 == 3) {
        w2 = filled(g, "w2", 2, D(2, 5, 6), &s, -1, 1);
        if (bias2)
            b2 = filled(g, "b2", 2, D(2, 1, 5), &s, -1, 1);
        a = gemm_attr(1, 1, 1);
        a.gemm.trans_a = op2 == 3;
        axis_in = 1;
    } else {
        w2 = filled(g, "w2", 2, D(2, 6, 5), &s, -1, 1);
        if (bias2 && op2 == 1)
            b2 = filled(g, "b2", 1, D(1, 5), &s, -1, 1);
        a = gemm_attr(0.5f, 2.0f, 0);
        axis_in = 0;
    }
    if (op2 == 2)
        y = node2(g, "mm", NAD_OP_MATMUL, NULL, y, w2);
    else
        y = node(g, "gemm2", NAD_OP_GEMM, &a, b2 >= 0 ? 3 : 2, (int[]){y, w2, b2});
    mark_output(g, y);
    if (exact)
        double_filter(g, w1, b1, 2, 5, 1);
    x->g = g;
    x->consumer = consumer;
    x->per = 8;
    x->grp.channels = 6;
    snprintf(x->grp.name, sizeof x->grp.name, "gemm1");
    add_member(x, NAD_MEM_FILTERS, 0, w1, 0, 0, 1);
    add_member(x, NAD_MEM_PARAM, 0, b1, 0, 0, 1);
    add_member(x, NAD_MEM_INPUTS, consumer, w2, axis_in, 0, 1);
}

/* x [N,2,4,4] -> conv1 (4 filters, pad 1) -> Relu -> Flatten -> Gemm
 * (W [5,64] transB, C [5]) -> output; the Gemm reads 16 columns a channel. */
static void flatten_chain(experiment *x, int exact, uint32_t seed)
{
    uint32_t s = seed;
    memset(x, 0, sizeof *x);
    nad_graph *g = nad_graph_new();
    assert_non_null(g);
    int in = input(g, "x", 4, D(4, 1, 2, 4, 4));
    int w1 = filled(g, "w1", 4, D(4, 4, 2, 3, 3), &s, -0.6f, 0.6f);
    int b1 = filled(g, "b1", 1, D(1, 4), &s, -0.3f, 0.5f);
    int w2 = filled(g, "w2", 2, D(2, 5, 64), &s, -0.5f, 0.5f);
    int b2 = filled(g, "b2", 1, D(1, 5), &s, -1, 1);
    nad_attr a = conv_attr(3, 1);
    int y = node(g, "conv1", NAD_OP_CONV, &a, 3, (int[]){in, w1, b1});
    y = node1(g, "relu", NAD_OP_RELU, NULL, y);
    nad_attr ax = axis_attr(1);
    y = node1(g, "flat", NAD_OP_FLATTEN, &ax, y);
    a = gemm_attr(1, 1, 1);
    y = node(g, "fc", NAD_OP_GEMM, &a, 3, (int[]){y, w2, b2});
    mark_output(g, y);
    if (exact)
        double_filter(g, w1, b1, 0, 3, 1);
    x->g = g;
    x->consumer = 3;
    x->per = 2 * 4 * 4;
    x->ncal = 160; /* one sample per image, 64 features */
    x->grp.channels = 4;
    snprintf(x->grp.name, sizeof x->grp.name, "conv1");
    add_member(x, NAD_MEM_FILTERS, 0, w1, 0, 0, 1);
    add_member(x, NAD_MEM_PARAM, 0, b1, 0, 0, 1);
    add_member(x, NAD_MEM_INPUTS, 3, w2, 1, 0, 16);
}

/* ---- tests --------------------------------------------------------------------- */

static const int keep_no4[] = {0, 1, 2, 3, 5};

static void test_conv_exact(void **state)
{
    (void)state;
    experiment x;
    double ridges[] = {1e-6, 0.0};
    for (int r = 0; r < 2; r++)
        for (int pad = 0; pad <= 1; pad++) {
            conv_chain(&x, 5, pad, 1, 0, 0, 1, 7u + (uint32_t)pad);
            expect_exact(&x, keep_no4, 5, ridges[r], 101);
            nad_graph_free(x.g);
        }
    conv_chain(&x, 5, -1, 1, 0, 0, 1, 8);
    expect_exact(&x, keep_no4, 5, 1e-6, 103);
    nad_graph_free(x.g);
    /* without a bias the constant feature is not used; still exact */
    conv_chain(&x, 5, 1, 0, 0, 0, 1, 9);
    expect_exact(&x, keep_no4, 5, 1e-6, 102);
    nad_graph_free(x.g);
}

static void test_conv_least_squares(void **state)
{
    (void)state;
    experiment x;
    const int keep_a[] = {0, 2, 5}, keep_b[] = {1, 2, 3, 4};
    double ridges[] = {1e-6, 1e-3, 0.0};
    for (int r = 0; r < 3; r++) {
        conv_chain(&x, 5, 1, 1, 0, 0, 0, 21);
        expect_better(&x, keep_a, 3, ridges[r], 201);
        expect_better(&x, keep_b, 4, ridges[r], 202);
        nad_graph_free(x.g);
        conv_chain(&x, 5, 0, 0, 0, 0, 0, 22);
        expect_better(&x, keep_a, 3, ridges[r], 203);
        nad_graph_free(x.g);
        conv_chain(&x, 5, -1, 1, 0, 0, 0, 23);
        expect_better(&x, keep_b, 4, ridges[r], 204);
        nad_graph_free(x.g);
    }
}

/* conv2 also writes the group (its rows are sliced) */
static void test_conv_reads_and_writes(void **state)
{
    (void)state;
    experiment x;
    conv_chain(&x, 6, 1, 1, 0, 1, 1, 31);
    expect_exact(&x, keep_no4, 5, 1e-6, 301);
    nad_graph_free(x.g);
    const int keep[] = {0, 3, 4};
    conv_chain(&x, 6, 1, 1, 0, 1, 0, 32);
    expect_better(&x, keep, 3, 1e-5, 302);
    nad_graph_free(x.g);
}

/* conv2 reads the group twice (Concat(r, r)): two INPUTS members */
static void test_conv_concat_twice(void **state)
{
    (void)state;
    experiment x;
    conv_chain(&x, 5, 1, 1, 1, 0, 1, 41);
    expect_exact(&x, keep_no4, 5, 1e-6, 401);
    nad_graph_free(x.g);
    const int keep[] = {1, 4};
    conv_chain(&x, 5, 1, 1, 1, 0, 0, 42);
    expect_better(&x, keep, 2, 1e-6, 402);
    nad_graph_free(x.g);
}

static void test_edge_cases(void **state)
{
    (void)state;
    experiment x;
    const int one[] = {3};
    double ridges[] = {0.0, 1e-6};
    for (int r = 0; r < 2; r++) {
        conv_chain(&x, 5, 1, 1, 0, 0, 0, 51);
        expect_better(&x, one, 1, ridges[r], 501);
        nad_graph_free(x.g);
        dense_chain(&x, 1, 1, 0, 52);
        expect_better(&x, one, 1, ridges[r], 502);
        nad_graph_free(x.g);
    }
    /* heavy regularisation: finite weights (checked in run_experiment) */
    double rel[2], cal[2];
    conv_chain(&x, 5, 1, 1, 0, 0, 0, 50);
    run_experiment(&x, one, 1, 10.0, 500, rel, cal);
    assert_true(isfinite(rel[1]));
    nad_graph_free(x.g);
    /* A dead channel (always 0 after ReLU) and two proportional channels,
     * all kept: G_kk is singular; ridge 0 must still give finite weights no
     * worse than slicing. */
    conv_chain(&x, 5, 1, 1, 0, 0, 1, 53);
    float *w1 = nad_tensor_f32(&x.g->tensors[x.m[0].tensor]);
    memset(w1 + 0 * 27, 0, 27 * sizeof(float));
    nad_tensor_f32(&x.g->tensors[x.m[1].tensor])[0] = -1.0f;
    const int keep[] = {0, 1, 3, 4, 5};
    expect_better(&x, keep, 5, 0.0, 503);
    expect_better(&x, keep, 5, 1e-6, 504);
    nad_graph_free(x.g);
    /* nothing removed: a no-op */
    conv_chain(&x, 5, 1, 1, 0, 0, 0, 54);
    const int all[] = {0, 1, 2, 3, 4, 5};
    run_experiment(&x, all, 6, 1e-3, 505, rel, cal);
    assert_true(rel[0] == 0.0 && rel[1] == 0.0);
    nad_graph_free(x.g);
}

static void test_dense(void **state)
{
    (void)state;
    experiment x;
    const int keep[] = {0, 1, 2, 3, 4}, keep2[] = {1, 3};
    for (int op2 = 0; op2 < 4; op2++)
        for (int bias = 0; bias <= 1; bias++) {
            dense_chain(&x, op2, bias, 1, 61u + (uint32_t)(op2 * 2 + bias));
            expect_exact(&x, keep, 5, 1e-7, 601);
            nad_graph_free(x.g);
            dense_chain(&x, op2, bias, 0, 71u + (uint32_t)(op2 * 2 + bias));
            expect_better(&x, keep2, 2, 1e-6, 602);
            expect_better(&x, keep2, 2, 0.0, 603);
            nad_graph_free(x.g);
        }
}

static void test_flatten(void **state)
{
    (void)state;
    experiment x;
    const int keep[] = {0, 1, 2}, keep2[] = {1, 2};
    flatten_chain(&x, 1, 81);
    expect_exact(&x, keep, 3, 1e-6, 801);
    nad_graph_free(x.g);
    flatten_chain(&x, 0, 82);
    expect_better(&x, keep2, 2, 1e-6, 802);
    expect_better(&x, keep2, 2, 0.0, 803);
    nad_graph_free(x.g);
    /* Fewer calibration images (12) than kept features (48): underdetermined.
     * When the removed channel's columns are zero nothing is lost, and the
     * restored weights must stay the sliced ones (the ridge pulls toward
     * them, not toward zero). */
    flatten_chain(&x, 0, 83);
    x.ncal = 12;
    float *w2 = nad_tensor_f32(&x.g->tensors[x.m[2].tensor]);
    for (int m = 0; m < 5; m++)
        memset(w2 + m * 64 + 48, 0, 16 * sizeof(float));
    double rel[2], cal[2], ridges[] = {1e-3, 0.0};
    for (int r = 0; r < 2; r++) {
        run_experiment(&x, keep, 3, ridges[r], 804, rel, cal);
        if (!(rel[0] == 0.0 && rel[1] < 1e-6))
            fail_msg("nothing lost (ridge %g): sliced %.3g, restored %.3g", ridges[r], rel[0], rel[1]);
    }
    nad_graph_free(x.g);
}

static void test_errors(void **state)
{
    (void)state;
    experiment x, y;
    nad_err e = {{0}};
    uint32_t s = 5;
    conv_chain(&x, 5, 1, 1, 0, 0, 0, 91);
    float *imgs = randv(4 * x.per, &s);
    nad_restore_ctx *ctx = (nad_restore_ctx *)&e; /* must be reset to NULL on failure */
    assert_int_equal(nad_restore_prepare(x.g, imgs, 4, x.per + 1, 2, &ctx, &e), NAD_ESHAPE);
    assert_null(ctx);
    assert_int_equal(nad_restore_prepare(x.g, imgs, 0, x.per, 2, &ctx, &e), NAD_EINVAL);
    ok(nad_restore_prepare(x.g, imgs, 4, x.per, 64, &ctx, &e), &e);
    const int keep[] = {0, 2, 5}, bad[] = {2, 0};
    nad_graph *pr = hand_shrink(x.g, &x.grp, keep, 3);
    assert_int_equal(nad_restore_apply(ctx, x.g, &x.grp, bad, 2, pr, 1e-3, &e), NAD_EINVAL);
    assert_int_equal(nad_restore_apply(ctx, x.g, &x.grp, keep, 3, pr, -1.0, &e), NAD_EINVAL);
    assert_int_equal(nad_restore_apply(ctx, x.g, &x.grp, keep, 3, pr, NAN, &e), NAD_EINVAL);
    /* a pruned graph whose consumer was not sliced */
    nad_graph *unsliced = nad_graph_copy(x.g);
    assert_non_null(unsliced);
    assert_int_equal(nad_restore_apply(ctx, x.g, &x.grp, keep, 3, unsliced, 1e-3, &e), NAD_ESHAPE);
    assert_non_null(strstr(e.msg, "conv2"));
    nad_graph_free(unsliced);
    /* a member that does not fit its weight */
    x.m[2].offset = 3;
    assert_int_equal(nad_restore_apply(ctx, x.g, &x.grp, keep, 3, pr, 1e-3, &e), NAD_EINVAL);
    x.m[2].offset = 0;
    /* a context from another graph */
    dense_chain(&y, 0, 1, 0, 92);
    assert_int_equal(nad_restore_apply(ctx, y.g, &y.grp, keep, 3, pr, 1e-3, &e), NAD_ESTATE);
    /* a consumer without statistics (INPUTS on the Relu) */
    x.m[2].node = 1;
    assert_int_equal(nad_restore_apply(ctx, x.g, &x.grp, keep, 3, pr, 1e-3, &e), NAD_EUNSUPPORTED);
    assert_non_null(strstr(e.msg, "relu"));
    x.m[2].node = 2;
    ok(nad_restore_apply(ctx, x.g, &x.grp, keep, 3, pr, 1e-3, &e), &e);
    nad_restore_free(ctx);
    nad_restore_free(NULL);
    nad_graph_free(pr);
    nad_graph_free(x.g);
    nad_graph_free(y.g);
    free(imgs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_exact),
        cmocka_unit_test(test_conv_least_squares),
        cmocka_unit_test(test_conv_reads_and_writes),
        cmocka_unit_test(test_conv_concat_twice),
        cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_dense),
        cmocka_unit_test(test_flatten),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
