/*
 * The inference engine end to end: hand-built graphs against naive forward
 * passes written here, plan properties (fusion, buffer reuse, training flags,
 * unsupported ops), and the Fashion-MNIST fixtures against torch's logits.
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

#include "engine/plan.h"
#include "graph/graph.h"
#include "nadapt/engine.h"
#include "nadapt/graph.h"
#include "testutil.h"

static float lcg_val(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 32768.f - 1.f;
}

/* Adds a WEIGHT tensor with random data (seeded) and returns its index. */
static int add_weight(nad_graph *g, const char *name, int ndim, const int64_t *dims, uint32_t seed)
{
    nad_err e;
    int t = nad_graph_add_tensor(g, name, NAD_DT_FLOAT, NAD_TK_WEIGHT, ndim, dims);
    assert_true(t >= 0);
    assert_int_equal(nad_tensor_alloc(&g->tensors[t], &e), NAD_OK);
    float *v = nad_tensor_f32(&g->tensors[t]);
    for (int64_t i = 0; i < nad_tensor_numel(&g->tensors[t]); i++)
        v[i] = lcg_val(&seed);
    return t;
}

static int add_act(nad_graph *g, const char *name)
{
    int t = nad_graph_add_tensor(g, name, NAD_DT_FLOAT, NAD_TK_ACT, 0, NULL);
    assert_true(t >= 0);
    return t;
}

static int add_input(nad_graph *g, const char *name, int ndim, const int64_t *dims)
{
    int t = nad_graph_add_tensor(g, name, NAD_DT_FLOAT, NAD_TK_INPUT, ndim, dims);
    assert_true(t >= 0);
    g->inputs = realloc(g->inputs, sizeof(int) * (size_t)(g->n_inputs + 1));
    assert_non_null(g->inputs);
    g->inputs[g->n_inputs++] = t;
    return t;
}

static void set_output(nad_graph *g, int t)
{
    g->outputs = malloc(sizeof(int));
    assert_non_null(g->outputs);
    g->outputs[0] = t;
    g->n_outputs = 1;
}

static void node(nad_graph *g, const char *name, nad_op op, int n_in, const int *in, int out, const nad_attr *a)
{
    assert_true(nad_graph_add_node(g, name, op, n_in, in, 1, &out, a) >= 0);
}

static nad_attr conv_attr(int k, int s, int pad, int group)
{
    nad_attr a;
    memset(&a, 0, sizeof a);
    a.conv.kh = a.conv.kw = k;
    a.conv.sh = a.conv.sw = s;
    a.conv.dh = a.conv.dw = 1;
    for (int i = 0; i < 4; i++)
        a.conv.pads[i] = pad;
    a.conv.group = group;
    return a;
}

/* Naive conv for one image, double accumulation, symmetric pad. */
static void ref_conv(const float *x, int c, int h, int w, const float *wt, const float *b, int m, int k, int s,
                     int pad, int group, double *y, int *oh, int *ow)
{
    int P = (h + 2 * pad - k) / s + 1, Q = (w + 2 * pad - k) / s + 1, cg = c / group, mg = m / group;
    for (int o = 0; o < m; o++)
        for (int p = 0; p < P; p++)
            for (int q = 0; q < Q; q++) {
                double acc = b ? b[o] : 0;
                for (int ci = 0; ci < cg; ci++)
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = p * s - pad + ky, ix = q * s - pad + kx;
                            if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                                acc += (double)x[((o / mg * cg + ci) * h + iy) * w + ix] *
                                       wt[((o * cg + ci) * k + ky) * k + kx];
                        }
                y[(o * P + p) * Q + q] = acc;
            }
    *oh = P;
    *ow = Q;
}

/* ---- graph A: Conv → Relu → MaxPool → Flatten → Gemm ---------------------- */

static nad_graph *build_cnn(void)
{
    nad_graph *g = nad_graph_new();
    assert_non_null(g);
    const int64_t xd[4] = {1, 3, 9, 9}, wd[4] = {4, 3, 3, 3}, bd[1] = {4}, fd[2] = {10, 64}, fb[1] = {10};
    int x = add_input(g, "x", 4, xd);
    int w = add_weight(g, "w", 4, wd, 1), b = add_weight(g, "b", 1, bd, 2);
    int fw = add_weight(g, "fw", 2, fd, 3), fbias = add_weight(g, "fb", 1, fb, 4);
    int c = add_act(g, "c"), r = add_act(g, "r"), mp = add_act(g, "mp"), fl = add_act(g, "fl"), y = add_act(g, "y");
    nad_attr a = conv_attr(3, 1, 1, 1);
    node(g, "conv", NAD_OP_CONV, 3, (int[]){x, w, b}, c, &a);
    node(g, "relu", NAD_OP_RELU, 1, &c, r, NULL);
    memset(&a, 0, sizeof a);
    a.pool.kh = a.pool.kw = 2;
    a.pool.sh = a.pool.sw = 2;
    node(g, "pool", NAD_OP_MAXPOOL, 1, &r, mp, &a);
    memset(&a, 0, sizeof a);
    a.axis.axis = 1;
    node(g, "flatten", NAD_OP_FLATTEN, 1, &mp, fl, &a);
    memset(&a, 0, sizeof a);
    a.gemm.alpha = 1.f, a.gemm.beta = 1.f, a.gemm.trans_b = 1;
    node(g, "fc", NAD_OP_GEMM, 3, (int[]){fl, fw, fbias}, y, &a);
    set_output(g, y);
    return g;
}

/* The forward pass of build_cnn for one image, written out by hand. */
static void ref_cnn(const nad_graph *g, const float *x, double *out)
{
    const float *w = nad_tensor_f32(&g->tensors[nad_graph_find_tensor(g, "w")]);
    const float *b = nad_tensor_f32(&g->tensors[nad_graph_find_tensor(g, "b")]);
    const float *fw = nad_tensor_f32(&g->tensors[nad_graph_find_tensor(g, "fw")]);
    const float *fb = nad_tensor_f32(&g->tensors[nad_graph_find_tensor(g, "fb")]);
    double conv[4 * 81], pooled[64];
    int P, Q;
    ref_conv(x, 3, 9, 9, w, b, 4, 3, 1, 1, 1, conv, &P, &Q);
    for (int o = 0; o < 4; o++)
        for (int p = 0; p < 4; p++)
            for (int q = 0; q < 4; q++) {
                double m = 0; /* after ReLU every value is >= 0 */
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++)
                        m = fmax(m, fmax(conv[(o * 9 + 2 * p + dy) * 9 + 2 * q + dx], 0));
                pooled[(o * 4 + p) * 4 + q] = m;
            }
    for (int j = 0; j < 10; j++) {
        double s = fb[j];
        for (int i = 0; i < 64; i++)
            s += pooled[i] * fw[j * 64 + i];
        out[j] = s;
    }
}

static void fill_input(float *x, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lcg_val(&seed);
}

static void expect_close(const float *got, const double *want, size_t n, double tol, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i])))) {
            fprintf(stderr, "%s: element %zu: got %.7g want %.7g\n", what, i, (double)got[i], want[i]);
            fail();
        }
}

static void test_cnn_batches_threads(void **state)
{
    (void)state;
    nad_graph *g = build_cnn();
    nad_err e;
    const int maxb = 5;
    for (int threads = 1; threads <= 2; threads++) {
        nad_set_threads(threads);
        nad_plan *p = NULL;
        assert_int_equal(nad_plan_create(g, maxb, &p, &e), NAD_OK);
        assert_int_equal(nad_plan_input_size(p), 3 * 81);
        assert_int_equal(nad_plan_output_size(p), 10);
        assert_true(p->batch_split);
        /* Relu is fused into the conv step: 4 steps for 5 nodes. */
        assert_int_equal(p->n_steps, 4);
        assert_int_equal(p->steps[0].act.kind, NAD_ACT_RELU);
        for (int n = 1; n <= maxb; n += 2) {
            fill_input(nad_plan_input(p), (size_t)n * 243, (uint32_t)(n + 10 * threads));
            assert_int_equal(nad_plan_run(p, n, &e), NAD_OK);
            for (int i = 0; i < n; i++) {
                double want[10];
                ref_cnn(g, nad_plan_input(p) + i * 243, want);
                char what[48];
                snprintf(what, sizeof what, "cnn threads %d n %d image %d", threads, n, i);
                expect_close(nad_plan_output(p) + i * 10, want, 10, 1e-5, what);
            }
        }
        assert_int_not_equal(nad_plan_run(p, maxb + 1, &e), NAD_OK);
        assert_non_null(strstr(e.msg, "images"));
        nad_plan_destroy(p);
    }
    nad_set_threads(1);
    nad_graph_free(g);
}

/* The plan reads weights from the graph at every run: an in-place update is seen. */
static void test_weights_read_live(void **state)
{
    (void)state;
    nad_graph *g = build_cnn();
    nad_err e;
    nad_plan *p = NULL;
    assert_int_equal(nad_plan_create(g, 2, &p, &e), NAD_OK);
    fill_input(nad_plan_input(p), 243, 5);
    assert_int_equal(nad_plan_run(p, 1, &e), NAD_OK);
    float before[10];
    memcpy(before, nad_plan_output(p), sizeof before);
    float *fb = nad_tensor_f32(&g->tensors[nad_graph_find_tensor(g, "fb")]);
    fb[3] += 1.0f;
    assert_int_equal(nad_plan_run(p, 1, &e), NAD_OK);
    assert_true(fabsf(nad_plan_output(p)[3] - before[3] - 1.0f) < 1e-5f);
    assert_true(nad_plan_output(p)[2] == before[2]);
    nad_plan_destroy(p);
    nad_graph_free(g);
}

/* ---- graph B: depthwise → Clip → Add(x) → Concat(x) → GAP → Flatten ---------- */

static nad_graph *build_block(void)
{
    nad_graph *g = nad_graph_new();
    assert_non_null(g);
    const int64_t xd[4] = {1, 4, 6, 6}, wd[4] = {4, 1, 3, 3}, bd[1] = {4};
    int x = add_input(g, "x", 4, xd);
    int w = add_weight(g, "dw", 4, wd, 7), b = add_weight(g, "db", 1, bd, 8);
    int c = add_act(g, "c"), r = add_act(g, "r"), s = add_act(g, "s"), cat = add_act(g, "cat"), gap = add_act(g, "gap"),
        y = add_act(g, "y");
    nad_attr a = conv_attr(3, 1, 1, 4);
    node(g, "dwconv", NAD_OP_CONV, 3, (int[]){x, w, b}, c, &a);
    memset(&a, 0, sizeof a);
    a.scalar.a = 0.f, a.scalar.b = 0.5f;
    node(g, "clip", NAD_OP_CLIP, 1, &c, r, &a);
    node(g, "add", NAD_OP_ADD, 2, (int[]){r, x}, s, NULL);
    memset(&a, 0, sizeof a);
    a.axis.axis = 1;
    node(g, "cat", NAD_OP_CONCAT, 2, (int[]){s, x}, cat, &a);
    node(g, "gap", NAD_OP_GLOBAL_AVGPOOL, 1, &cat, gap, NULL);
    node(g, "flat", NAD_OP_FLATTEN, 1, &gap, y, &a);
    set_output(g, y);
    return g;
}

static void ref_block(const nad_graph *g, const float *x, double *out)
{
    const float *w = nad_tensor_f32(&g->tensors[nad_graph_find_tensor(g, "dw")]);
    const float *b = nad_tensor_f32(&g->tensors[nad_graph_find_tensor(g, "db")]);
    double c[4 * 36];
    int P, Q;
    ref_conv(x, 4, 6, 6, w, b, 4, 3, 1, 1, 4, c, &P, &Q);
    for (int ch = 0; ch < 8; ch++) {
        double s = 0;
        for (int i = 0; i < 36; i++)
            s += ch < 4 ? fmin(fmax(c[ch * 36 + i], 0), 0.5) + x[ch * 36 + i] : x[(ch - 4) * 36 + i];
        out[ch] = s / 36;
    }
}

static void test_block_flags(void **state)
{
    (void)state;
    const unsigned flag_sets[3] = {0, NAD_PLAN_NO_FUSION, NAD_PLAN_KEEP_ACTIVATIONS | NAD_PLAN_NO_FUSION};
    nad_graph *g = build_block();
    nad_err e;
    nad_set_threads(2);
    for (int f = 0; f < 3; f++) {
        nad_plan *p = NULL;
        assert_int_equal(nad_plan_create_ex(g, 3, flag_sets[f], &p, &e), NAD_OK);
        fill_input(nad_plan_input(p), 3 * 144, 99);
        assert_int_equal(nad_plan_run(p, 3, &e), NAD_OK);
        for (int i = 0; i < 3; i++) {
            double want[8];
            ref_block(g, nad_plan_input(p) + i * 144, want);
            char what[32];
            snprintf(what, sizeof what, "block flags %u", flag_sets[f]);
            expect_close(nad_plan_output(p) + i * 8, want, 8, 1e-5, what);
        }
        if (flag_sets[f] & NAD_PLAN_NO_FUSION) {
            assert_int_equal(p->n_steps, 6);
        } else {
            assert_int_equal(p->n_steps, 5);
        }
        if (flag_sets[f] & NAD_PLAN_KEEP_ACTIVATIONS) {
            /* Every activation kept: the conv output still holds the
             * pre-activation values the backward pass needs. */
            int tc = nad_graph_find_tensor(g, "c"), tr = nad_graph_find_tensor(g, "r");
            assert_ptr_not_equal(nad_plan_data(p, tc), nad_plan_data(p, tr));
            const float *cv = nad_plan_data(p, tc), *rv = nad_plan_data(p, tr);
            int clipped = 0;
            for (int i = 0; i < 3 * 144; i++) {
                assert_true(rv[i] == fminf(fmaxf(cv[i], 0.f), 0.5f));
                clipped += cv[i] != rv[i];
            }
            assert_true(clipped > 0);
            for (int s = 0; s < p->n_steps; s++)
                assert_int_equal(p->steps[s].in_place, 0);
        }
        nad_plan_destroy(p);
    }
    nad_set_threads(1);
    nad_graph_free(g);
}

/* A chain of 8 Sigmoids reuses buffers: far fewer than 9 activation buffers. */
static void test_buffer_reuse(void **state)
{
    (void)state;
    nad_graph *g = nad_graph_new();
    assert_non_null(g);
    const int64_t xd[2] = {1, 1000};
    int prev = add_input(g, "x", 2, xd);
    for (int i = 0; i < 8; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        int t = add_act(g, name);
        node(g, name, NAD_OP_SIGMOID, 1, &prev, t, NULL);
        prev = t;
    }
    set_output(g, prev);
    nad_err e;
    nad_plan *p = NULL, *k = NULL;
    assert_int_equal(nad_plan_create(g, 4, &p, &e), NAD_OK);
    assert_int_equal(nad_plan_create_ex(g, 4, NAD_PLAN_KEEP_ACTIVATIONS, &k, &e), NAD_OK);
    assert_true(p->arena_floats <= 3 * 4000 + 64);
    assert_true(k->arena_floats >= 9 * 4000);
    for (int i = 0; i < 4000; i++)
        nad_plan_input(p)[i] = nad_plan_input(k)[i] = (float)i / 1000.f - 2.f;
    assert_int_equal(nad_plan_run(p, 4, &e), NAD_OK);
    assert_int_equal(nad_plan_run(k, 4, &e), NAD_OK);
    for (int i = 0; i < 4000; i++) {
        double v = (double)i / 1000.0 - 2.0;
        for (int j = 0; j < 8; j++)
            v = 1 / (1 + exp(-v));
        assert_true(fabs(nad_plan_output(p)[i] - v) < 1e-6);
        assert_true(nad_plan_output(k)[i] == nad_plan_output(p)[i]);
    }
    nad_plan_destroy(p);
    nad_plan_destroy(k);
    nad_graph_free(g);
}

/* A Pad with all-zero pads (torch puts one before avg_pool2d) shares its
 * input's buffer in inference plans, also as the graph output; training plans
 * keep the copy.  Both give the same values. */
static void test_zero_pad_alias(void **state)
{
    (void)state;
    nad_graph *g = nad_graph_new();
    assert_non_null(g);
    const int64_t xd[4] = {1, 2, 3, 5};
    int x = add_input(g, "x", 4, xd), t1 = add_act(g, "t1"), t2 = add_act(g, "t2"), y = add_act(g, "y");
    nad_attr a;
    memset(&a, 0, sizeof a);
    a.pad.n = 8;
    node(g, "pad1", NAD_OP_PAD, 1, &x, t1, &a);
    node(g, "sig", NAD_OP_SIGMOID, 1, &t1, t2, NULL);
    node(g, "pad2", NAD_OP_PAD, 1, &t2, y, &a);
    set_output(g, y);
    nad_err e;
    nad_plan *p = NULL, *k = NULL;
    assert_int_equal(nad_plan_create(g, 3, &p, &e), NAD_OK);
    assert_int_equal(nad_plan_create_ex(g, 3, NAD_PLAN_KEEP_ACTIVATIONS, &k, &e), NAD_OK);
    assert_int_equal(p->steps[0].kernel, NAD_K_ALIAS);
    assert_int_equal(p->steps[2].kernel, NAD_K_ALIAS);
    assert_int_equal(k->steps[0].kernel, NAD_K_PAD);
    for (int i = 0; i < 90; i++)
        nad_plan_input(p)[i] = nad_plan_input(k)[i] = (float)i / 10.f - 4.f;
    assert_int_equal(nad_plan_run(p, 3, &e), NAD_OK);
    assert_int_equal(nad_plan_run(k, 3, &e), NAD_OK);
    for (int i = 0; i < 90; i++) {
        double v = 1 / (1 + exp(-((double)i / 10.0 - 4.0)));
        assert_true(fabs(nad_plan_output(p)[i] - v) < 1e-6);
        assert_true(nad_plan_output(k)[i] == nad_plan_output(p)[i]);
    }
    nad_plan_destroy(p);
    nad_plan_destroy(k);
    nad_graph_free(g);
}

static void test_unsupported(void **state)
{
    (void)state;
    /* A 1-D convolution has no kernel: NAD_EUNSUPPORTED naming the node. */
    nad_graph *g = nad_graph_new();
    assert_non_null(g);
    const int64_t xd[3] = {1, 2, 10}, wd[3] = {3, 2, 3};
    int x = add_input(g, "x", 3, xd), w = add_weight(g, "w", 3, wd, 1), y = add_act(g, "y");
    nad_attr a;
    memset(&a, 0, sizeof a);
    a.conv.kh = 3, a.conv.kw = 1, a.conv.sh = a.conv.sw = 1, a.conv.dh = a.conv.dw = 1, a.conv.group = 1;
    node(g, "conv1d_layer", NAD_OP_CONV, 2, (int[]){x, w}, y, &a);
    set_output(g, y);
    nad_err e;
    memset(&e, 0, sizeof e);
    nad_plan *p = (nad_plan *)&e; /* must be reset to NULL */
    nad_status rc = nad_plan_create(g, 2, &p, &e);
    assert_int_not_equal(rc, NAD_OK);
    assert_null(p);
    if (rc == NAD_EUNSUPPORTED) /* shape inference may reject it first */
        assert_non_null(strstr(e.msg, "conv1d_layer"));
    nad_graph_free(g);

    /* Bad arguments. */
    assert_int_equal(nad_plan_create(NULL, 1, &p, &e), NAD_EINVAL);
    g = build_cnn();
    assert_int_equal(nad_plan_create(g, 0, &p, &e), NAD_EINVAL);
    nad_graph_free(g);
    nad_plan_destroy(NULL);
}

/* ---- fixtures vs torch --------------------------------------------------------- */

/* Reads the uint8 (N,28,28) .npy fixture; returns malloc'd pixels or NULL. */
static uint8_t *read_npy_u8(const char *path, int *n)
{
    size_t len = 0;
    uint8_t *buf = tu_read_file(path, &len);
    if (!buf || len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) {
        free(buf);
        return NULL;
    }
    size_t hl = buf[6] == 1 ? (size_t)(buf[8] | buf[9] << 8) : (size_t)(buf[8] | buf[9] << 8 | buf[10] << 16);
    size_t off = (buf[6] == 1 ? 10 : 12) + hl;
    char header[256] = {0};
    memcpy(header, buf + 10, hl < sizeof header - 1 ? hl : sizeof header - 1);
    const char *shape = strstr(header, "'shape': (");
    if (!shape || !strstr(header, "'|u1'") || buf[6] != 1) {
        free(buf);
        return NULL;
    }
    *n = atoi(shape + 10);
    if (off + (size_t)*n * 784 > len) {
        free(buf);
        return NULL;
    }
    memmove(buf, buf + off, (size_t)*n * 784);
    return buf;
}

static void check_fixture(const char *name, const char *opset, const uint8_t *pix)
{
    char rel[128];
    snprintf(rel, sizeof rel, "examples/fixtures/%s.%s.onnx", name, opset);
    nad_graph *g = NULL;
    nad_err e;
    if (nad_graph_load_onnx(tu_src(rel), 1, &g, &e) != NAD_OK) {
        fprintf(stderr, "%s: %s\n", rel, e.msg);
        fail();
    }
    snprintf(rel, sizeof rel, "examples/fixtures/%s.logits64.f32", name);
    size_t len = 0;
    float *want = tu_read_file(tu_src(rel), &len);
    assert_non_null(want);
    assert_int_equal(len, 64 * 10 * sizeof(float));
    float lo = want[0], hi = want[0];
    for (int i = 0; i < 640; i++) {
        lo = fminf(lo, want[i]);
        hi = fmaxf(hi, want[i]);
    }
    const double tol = 1e-4 * (hi - lo);
    const int batches[2] = {64, 1};
    for (int bi = 0; bi < 2; bi++) {
        nad_plan *p = NULL;
        if (nad_plan_create(g, batches[bi], &p, &e) != NAD_OK) {
            fprintf(stderr, "%s: %s\n", name, e.msg);
            fail();
        }
        assert_int_equal(nad_plan_input_size(p), 784);
        assert_int_equal(nad_plan_output_size(p), 10);
        double worst = 0;
        for (int first = 0; first < 64; first += batches[bi]) {
            float *x = nad_plan_input(p);
            for (int i = 0; i < batches[bi] * 784; i++)
                x[i] = ((float)pix[first * 784 + i] / 255.f - 0.2860f) / 0.3530f;
            assert_int_equal(nad_plan_run(p, batches[bi], &e), NAD_OK);
            for (int i = 0; i < batches[bi] * 10; i++)
                worst = fmax(worst, fabs(nad_plan_output(p)[i] - want[first * 10 + i]));
        }
        if (!(worst <= tol)) {
            fprintf(stderr, "%s.%s batch %d: max |diff| %.3g > %.3g\n", name, opset, batches[bi], worst, tol);
            fail();
        }
        nad_plan_destroy(p);
    }
    free(want);
    nad_graph_free(g);
}

static void test_fixtures_match_torch(void **state)
{
    (void)state;
    int n = 0;
    uint8_t *pix = read_npy_u8(tu_src("examples/fixtures/fmnist_test256_images.npy"), &n);
    assert_non_null(pix);
    assert_true(n >= 64);
    const char *names[] = {"cnn_bn", "resnet", "mobilenetv2", "concat", "mlp_pool"};
    nad_set_threads(2);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        check_fixture(names[i], "op13", pix);
        check_fixture(names[i], "op11", pix);
    }
    nad_set_threads(1);
    free(pix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cnn_batches_threads), cmocka_unit_test(test_weights_read_live),
        cmocka_unit_test(test_block_flags),         cmocka_unit_test(test_buffer_reuse),
        cmocka_unit_test(test_unsupported),         cmocka_unit_test(test_fixtures_match_torch),
        cmocka_unit_test(test_zero_pad_alias),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
