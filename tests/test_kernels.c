/*
 * Engine kernels against naive reference loops written here (double
 * accumulation, formulas taken from the ONNX operator definitions), at awkward
 * sizes: 1, 3 and 17 channels, stride 2, dilation 2, asymmetric pads, groups
 * (2 and depthwise), 1x1, batch 1 and 5.
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

#include "engine/kernels.h"

/* Deterministic pseudo-random values in [-1, 1). */
static float *rand_buf(size_t n, unsigned seed)
{
    float *v = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(v);
    uint32_t s = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = (float)((s >> 8) & 0xffff) / 32768.f - 1.f;
    }
    return v;
}

/* Fails with the index when got and want differ by more than tol relative. */
static void expect_close(const float *got, const double *want, size_t n, double tol, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= tol * (1.0 + fabs(want[i])))) {
            fprintf(stderr, "%s: element %zu: got %.7g want %.7g\n", what, i, (double)got[i], want[i]);
            fail();
        }
    }
}

static double ref_act(const nad_act *a, double v)
{
    switch (a->kind) {
    case NAD_ACT_RELU:
        return v > 0 ? v : 0;
    case NAD_ACT_CLIP:
        return fmin(fmax(v, a->a), a->b);
    case NAD_ACT_LEAKY_RELU:
        return v >= 0 ? v : a->a * v;
    case NAD_ACT_SIGMOID:
        return 1.0 / (1.0 + exp(-v));
    case NAD_ACT_HARD_SIGMOID:
        return fmin(fmax(a->a * v + a->b, 0.0), 1.0);
    case NAD_ACT_HARD_SWISH:
        return v * fmin(fmax(v / 6.0 + 0.5, 0.0), 1.0);
    case NAD_ACT_TANH:
        return tanh(v);
    default:
        return v;
    }
}

/* ---- convolution ------------------------------------------------------------ */

typedef struct conv_case {
    int n, c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, group;
    nad_act act;
    int bias;
} conv_case;

static void check_conv(const conv_case *k)
{
    nad_conv_geom g = {0};
    g.c = k->c, g.h = k->h, g.w = k->w, g.m = k->m, g.kh = k->kh, g.kw = k->kw;
    g.sh = k->sh, g.sw = k->sw, g.dh = k->dh, g.dw = k->dw, g.pt = k->pt, g.pl = k->pl, g.group = k->group;
    g.p = (k->h + k->pt + k->pb - (k->kh - 1) * k->dh - 1) / k->sh + 1;
    g.q = (k->w + k->pl + k->pr - (k->kw - 1) * k->dw - 1) / k->sw + 1;
    const int cg = k->c / k->group, mg = k->m / k->group;
    size_t nx = (size_t)k->n * k->c * k->h * k->w, nw = (size_t)k->m * cg * k->kh * k->kw;
    size_t ny = (size_t)k->n * k->m * g.p * g.q;
    float *x = rand_buf(nx, 1), *w = rand_buf(nw, 2), *b = rand_buf((size_t)k->m, 3);
    float *y = malloc(ny * sizeof(float));
    size_t wsn = nad_k_conv_ws_floats(&g);
    float *ws = malloc((wsn ? wsn : 1) * sizeof(float));
    double *want = malloc(ny * sizeof(double));
    assert_true(y && ws && want);
    for (int i = 0; i < k->n; i++)
        for (int o = 0; o < k->m; o++)
            for (int p = 0; p < g.p; p++)
                for (int q = 0; q < g.q; q++) {
                    double s = k->bias ? b[o] : 0.0;
                    int gi = o / mg;
                    for (int ci = 0; ci < cg; ci++)
                        for (int ky = 0; ky < k->kh; ky++)
                            for (int kx = 0; kx < k->kw; kx++) {
                                int iy = p * k->sh - k->pt + ky * k->dh, ix = q * k->sw - k->pl + kx * k->dw;
                                if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w)
                                    continue;
                                int c = gi * cg + ci;
                                s += (double)x[(((size_t)i * k->c + c) * k->h + iy) * k->w + ix] *
                                     w[(((size_t)o * cg + ci) * k->kh + ky) * k->kw + kx];
                            }
                    want[(((size_t)i * k->m + o) * g.p + p) * g.q + q] = ref_act(&k->act, s);
                }
    nad_k_conv(&g, k->n, x, w, k->bias ? b : NULL, &k->act, y, ws);
    char what[128];
    snprintf(what, sizeof what, "conv c%d m%d k%dx%d s%d d%d g%d n%d", k->c, k->m, k->kh, k->kw, k->sh, k->dh,
             k->group, k->n);
    expect_close(y, want, ny, 1e-5, what);
    free(x), free(w), free(b), free(y), free(ws), free(want);
}

static void test_conv_general(void **state)
{
    (void)state;
    const nad_act none = {NAD_ACT_NONE, 0, 0}, relu = {NAD_ACT_RELU, 0, 0}, relu6 = {NAD_ACT_CLIP, 0, 6},
                  leaky = {NAD_ACT_LEAKY_RELU, 0.1f, 0};
    const conv_case cases[] = {
        /* n  c  h   w   m  kh kw sh sw dh dw pt pl pb pr grp act bias */
        {1, 1, 7, 9, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, relu, 1},
        {5, 3, 10, 8, 17, 3, 2, 2, 2, 1, 1, 0, 1, 2, 0, 1, none, 1},   /* stride 2, asymmetric pads */
        {2, 17, 9, 9, 5, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, leaky, 0},   /* dilation 2 */
        {1, 3, 11, 6, 1, 5, 3, 2, 1, 1, 2, 2, 0, 1, 3, 1, relu6, 1},   /* mixed strides/dilations */
        {5, 6, 8, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, relu, 1},     /* group 2 */
        {1, 17, 12, 12, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, relu, 1},  /* 1x1: plain GEMM */
        {5, 3, 9, 9, 17, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, none, 1},    /* 1x1 stride 2: im2col */
        {2, 4, 5, 5, 6, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, none, 0},     /* 1x1 grouped */
        {1, 3, 4, 4, 2, 3, 3, 1, 1, 1, 1, 3, 3, 3, 3, 1, none, 1},     /* pads as wide as the kernel */
        {2, 32, 7, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, relu, 1},    /* K = 288: GEMM tail in K chunks */
        {1, 5, 4, 40, 11, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 1, none, 1},   /* 32+ columns, 8+3 rows */
        {2, 3, 20, 40, 9, 3, 3, 9, 8, 1, 1, 1, 1, 0, 2, 1, relu, 1},   /* strides 9x8: im2col fallback */
        {2, 16, 12, 12, 8, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, none, 1},  /* 1x1 stride 2: one phase */
        {5, 20, 1, 1, 6, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, relu, 1},    /* 1x1 map: dense path */
        {2, 1, 13, 30, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, relu6, 1},  /* one input channel, stride 2 */
        {1, 1, 28, 28, 9, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1, relu, 1},   /* one input channel, 5x5, 2 vectors */
        {1, 1, 12, 17, 5, 3, 3, 1, 1, 2, 2, 1, 3, 2, 0, 1, leaky, 0},  /* one input channel, dilated */
        {3, 17, 1, 1, 9, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, none, 0},    /* 1x1 map, no bias */
        {2, 5, 9, 37, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, relu, 1},   /* stride 2, plane rows of 2 vectors */
        {1, 4, 28, 28, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, none, 1},   /* 30-float plane rows */
        {1, 3, 6, 35, 4, 3, 3, 1, 2, 1, 1, 0, 0, 0, 2, 1, none, 1},    /* column stride 2 only, no left pad */
        {2, 3, 8, 21, 4, 2, 5, 2, 2, 1, 2, 1, 4, 0, 4, 1, leaky, 1},   /* stride 2, dilated columns, wide pads */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_conv(&cases[i]);
}

static void test_conv_depthwise(void **state)
{
    (void)state;
    const nad_act none = {NAD_ACT_NONE, 0, 0}, relu6 = {NAD_ACT_CLIP, 0, 6}, leaky = {NAD_ACT_LEAKY_RELU, 0.1f, 0};
    const conv_case cases[] = {
        {1, 17, 13, 11, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 17, relu6, 1},
        {5, 3, 14, 14, 3, 3, 3, 2, 2, 1, 1, 0, 1, 1, 0, 3, none, 1},   /* stride 2, asymmetric */
        {2, 17, 9, 10, 17, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 17, relu6, 0}, /* dilation 2 */
        {1, 3, 7, 7, 3, 5, 5, 2, 1, 1, 1, 2, 2, 2, 2, 3, none, 1},      /* 5x5, stride 2x1 */
        {2, 4, 11, 13, 4, 3, 3, 3, 3, 1, 1, 1, 0, 2, 1, 4, relu6, 1},   /* stride 3, asymmetric */
        {1, 2, 3, 150, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, none, 1},    /* rows too wide for registers */
        {2, 3, 9, 20, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, relu6, 1},    /* two vectors per row, 4+4+1 rows */
        {1, 5, 9, 31, 5, 3, 3, 1, 2, 2, 2, 2, 1, 2, 2, 5, leaky, 1},    /* column stride 2, dilation 2 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_conv(&cases[i]);
}

/* ---- Gemm / MatMul ------------------------------------------------------------ */

static void check_gemm(int m, int n, int k, int ta, int tb, float alpha, float beta, int cm, int cn, nad_act act)
{
    float *a = rand_buf((size_t)m * k, 4), *b = rand_buf((size_t)k * n, 5);
    float *c = cm ? rand_buf((size_t)cm * cn, 6) : NULL;
    float *y = malloc((size_t)m * n * sizeof(float));
    double *want = malloc((size_t)m * n * sizeof(double));
    assert_true(y && want);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int l = 0; l < k; l++)
                s += (double)(ta ? a[l * m + i] : a[i * k + l]) * (tb ? b[j * k + l] : b[l * n + j]);
            s *= alpha;
            if (c)
                s += beta * (double)c[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)];
            want[i * n + j] = ref_act(&act, s);
        }
    nad_k_gemm(m, n, k, alpha, a, ta, b, tb, beta, c, cm, cn, &act, y);
    char what[96];
    snprintf(what, sizeof what, "gemm %dx%dx%d ta%d tb%d c%dx%d", m, n, k, ta, tb, cm, cn);
    expect_close(y, want, (size_t)m * n, 1e-5, what);
    free(a), free(b), free(c), free(y), free(want);
}

static void test_gemm(void **state)
{
    (void)state;
    const nad_act none = {NAD_ACT_NONE, 0, 0}, relu = {NAD_ACT_RELU, 0, 0};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check_gemm(5, 17, 3, ta, tb, 0.7f, 1.3f, 1, 17, none);  /* C of [N] */
            check_gemm(3, 1, 17, ta, tb, 1.0f, 0.5f, 3, 1, relu);   /* C of [M,1] */
            check_gemm(17, 3, 5, ta, tb, -2.0f, 1.0f, 17, 3, none); /* full C */
            check_gemm(1, 4, 9, ta, tb, 1.0f, 2.0f, 1, 1, relu);    /* scalar C */
            check_gemm(4, 6, 2, ta, tb, 1.5f, 0.f, 0, 0, none);     /* no C */
            check_gemm(9, 11, 37, ta, tb, 0.5f, 1.f, 1, 11, relu);  /* 4x4 blocks + leftovers, K > 16 */
        }
}

static void test_matmul(void **state)
{
    (void)state;
    const int batch = 3, m = 5, n = 4, k = 17;
    float *a = rand_buf((size_t)batch * m * k, 7), *b = rand_buf((size_t)batch * k * n, 8);
    float *y = malloc((size_t)batch * m * n * sizeof(float));
    double *want = malloc((size_t)batch * m * n * sizeof(double));
    assert_true(y && want);
    for (int shared = 0; shared < 2; shared++) {
        for (int t = 0; t < batch; t++)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    const float *bb = b + (shared ? 0 : (size_t)t * k * n);
                    for (int l = 0; l < k; l++)
                        s += (double)a[((size_t)t * m + i) * k + l] * bb[l * n + j];
                    want[((size_t)t * m + i) * n + j] = s;
                }
        nad_k_matmul(batch, m, n, k, a, (int64_t)m * k, b, shared ? 0 : (int64_t)k * n, y);
        expect_close(y, want, (size_t)batch * m * n, 1e-5, shared ? "matmul shared B" : "matmul batched");
    }
    free(a), free(b), free(y), free(want);
}

/* ---- elementwise ---------------------------------------------------------------- */

/* Reference broadcast: out index → operand index by numpy rules. */
static size_t bidx(const int64_t *od, int on, const int64_t *d, int n, size_t flat)
{
    size_t idx = 0, stride = 1;
    for (int i = on - 1; i >= 0; i--) {
        size_t coord = flat % (size_t)od[i];
        flat /= (size_t)od[i];
        int j = i - (on - n);
        if (j >= 0) {
            if (d[j] != 1)
                idx += coord * stride;
            stride *= (size_t)d[j];
        }
    }
    return idx;
}

static void check_binary(nad_binop op, const int64_t *da, int na, const int64_t *db, int nb)
{
    nad_bcast bc;
    assert_int_equal(nad_k_bcast_init(&bc, da, na, db, nb), 0);
    int on = na > nb ? na : nb;
    int64_t od[NAD_K_MAX_DIMS];
    size_t sa = 1, sb = 1, so = 1;
    for (int i = 0; i < on; i++) {
        int ia = i - (on - na), ib = i - (on - nb);
        int64_t x = ia >= 0 ? da[ia] : 1, z = ib >= 0 ? db[ib] : 1;
        od[i] = x == 1 ? z : x;
        so *= (size_t)od[i];
    }
    for (int i = 0; i < na; i++)
        sa *= (size_t)da[i];
    for (int i = 0; i < nb; i++)
        sb *= (size_t)db[i];
    float *a = rand_buf(sa, 9), *b = rand_buf(sb, 10), *y = malloc(so * sizeof(float));
    double *want = malloc(so * sizeof(double));
    assert_true(y && want);
    for (size_t i = 0; i < sb; i++) /* keep divisors away from 0 */
        b[i] = b[i] >= 0 ? b[i] + 0.5f : b[i] - 0.5f;
    for (size_t f = 0; f < so; f++) {
        double x = a[bidx(od, on, da, na, f)], z = b[bidx(od, on, db, nb, f)];
        want[f] = op == NAD_BIN_ADD ? x + z : op == NAD_BIN_SUB ? x - z : op == NAD_BIN_MUL ? x * z : x / z;
    }
    nad_k_binary(op, &bc, a, b, y);
    expect_close(y, want, so, 1e-6, "binary");
    free(a), free(b), free(y), free(want);
}

static void test_binary_broadcast(void **state)
{
    (void)state;
    const int64_t s4[] = {2, 3, 4, 5}, ch[] = {3, 1, 1}, ch4[] = {1, 3, 1, 1}, a1[] = {2, 1, 4, 1}, b1[] = {3, 1, 5},
                  sc[] = {1}, row[] = {5}, c17[] = {5, 17, 2, 3}, c17b[] = {17, 1, 1};
    for (int op = NAD_BIN_ADD; op <= NAD_BIN_DIV; op++) {
        check_binary((nad_binop)op, s4, 4, s4, 4);     /* same shape */
        check_binary((nad_binop)op, s4, 4, ch, 3);     /* per channel */
        check_binary((nad_binop)op, ch4, 4, s4, 4);    /* per channel on the left */
        check_binary((nad_binop)op, a1, 4, b1, 3);     /* both broadcast */
        check_binary((nad_binop)op, s4, 4, sc, 1);     /* scalar */
        check_binary((nad_binop)op, sc, 0, s4, 4);     /* rank-0 scalar on the left */
        check_binary((nad_binop)op, s4, 4, row, 1);    /* last axis */
        check_binary((nad_binop)op, c17, 4, c17b, 3);  /* 17 channels */
    }
    nad_bcast bc;
    const int64_t bad[] = {2, 4};
    assert_int_equal(nad_k_bcast_init(&bc, s4, 4, bad, 2), -1);
}

static void test_activations(void **state)
{
    (void)state;
    const nad_act acts[] = {{NAD_ACT_RELU, 0, 0},         {NAD_ACT_CLIP, -0.3f, 0.4f}, {NAD_ACT_LEAKY_RELU, 0.2f, 0},
                            {NAD_ACT_SIGMOID, 0, 0},      {NAD_ACT_HARD_SIGMOID, 0.2f, 0.5f},
                            {NAD_ACT_HARD_SWISH, 0, 0},   {NAD_ACT_TANH, 0, 0},
                            {NAD_ACT_NONE, 0, 0}};
    const size_t n = 37;
    float *x = rand_buf(n, 11), *y = malloc(n * sizeof(float));
    double *want = malloc(n * sizeof(double));
    assert_true(y && want);
    for (size_t i = 0; i < n; i++)
        x[i] *= 8.f; /* cover the clamps of ReLU6-like ops */
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        for (size_t i = 0; i < n; i++)
            want[i] = ref_act(&acts[a], x[i]);
        nad_k_act(&acts[a], x, y, n);
        expect_close(y, want, n, 1e-6, "act");
        memcpy(y, x, n * sizeof(float));
        for (size_t i = 0; i < n; i++)
            want[i] = ref_act(&acts[a], (double)x[i] + 0.25);
        nad_k_bias_act(&acts[a], 0.25f, y, n);
        expect_close(y, want, n, 1e-6, "bias+act");
    }
    free(x), free(y), free(want);
}

static void test_batchnorm_softmax(void **state)
{
    (void)state;
    const int n = 5, c = 3, hw = 7;
    float *x = rand_buf((size_t)n * c * hw, 12), *sc = rand_buf(c, 13), *bi = rand_buf(c, 14);
    float *mean = rand_buf(c, 15), *var = rand_buf(c, 16), *y = malloc((size_t)n * c * hw * sizeof(float));
    double *want = malloc((size_t)n * c * hw * sizeof(double));
    assert_true(y && want);
    for (int i = 0; i < c; i++)
        var[i] = fabsf(var[i]) + 0.1f;
    const nad_act relu = {NAD_ACT_RELU, 0, 0};
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int j = 0; j < hw; j++) {
                size_t f = ((size_t)i * c + ch) * hw + j;
                want[f] = ref_act(&relu, (x[f] - mean[ch]) / sqrt((double)var[ch] + 1e-5) * sc[ch] + bi[ch]);
            }
    nad_k_batchnorm(n, c, hw, x, sc, bi, mean, var, 1e-5f, &relu, y);
    expect_close(y, want, (size_t)n * c * hw, 1e-5, "batchnorm");

    /* softmax over the middle axis of [5, 3, 7] */
    for (int o = 0; o < n; o++)
        for (int in = 0; in < hw; in++) {
            double s = 0;
            for (int j = 0; j < c; j++)
                s += exp(x[((size_t)o * c + j) * hw + in] * 30.0);
            for (int j = 0; j < c; j++) {
                size_t f = ((size_t)o * c + j) * hw + in;
                want[f] = exp(x[f] * 30.0) / s;
            }
        }
    for (size_t i = 0; i < (size_t)n * c * hw; i++)
        x[i] *= 30.f; /* large logits: must not overflow */
    nad_k_softmax(n, c, hw, x, y);
    expect_close(y, want, (size_t)n * c * hw, 1e-5, "softmax");
    free(x), free(sc), free(bi), free(mean), free(var), free(y), free(want);
}

/* ---- pooling ---------------------------------------------------------------------- */

/* Output size per the ONNX/PyTorch rule, including ceil_mode's "last window
 * must start inside the input or left pad" correction. */
static int pool_out(int in, int k, int s, int d, int pb, int pe, int ceil_mode)
{
    int span = in + pb + pe - (k - 1) * d - 1;
    int o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + pb)
        o--;
    return o;
}

static void check_pool(int max, int n, int c, int h, int w, int k, int s, int pt, int pl, int pb, int pr, int ceil_mode,
                       int cip, int d)
{
    nad_pool_geom g = {c, h, w, pool_out(h, k, s, d, pt, pb, ceil_mode), pool_out(w, k, s, d, pl, pr, ceil_mode),
                       k, k, s, s, d, d, pt, pl, pb, pr, cip};
    size_t nx = (size_t)n * c * h * w, ny = (size_t)n * c * g.p * g.q;
    float *x = rand_buf(nx, 17), *y = malloc(ny * sizeof(float));
    double *want = malloc(ny * sizeof(double));
    assert_true(y && want);
    for (int pl2 = 0; pl2 < n * c; pl2++)
        for (int p = 0; p < g.p; p++)
            for (int q = 0; q < g.q; q++) {
                /* PyTorch's formulation (dilation 1 for average pooling):
                 * window end clipped to the padded input for the divisor. */
                int hs = p * s - pt, ws = q * s - pl;
                int he = hs + (k - 1) * d + 1, we = ws + (k - 1) * d + 1;
                double acc = max ? -INFINITY : 0;
                int inside = 0;
                for (int iy = hs; iy < he; iy += d)
                    for (int ix = ws; ix < we; ix += d)
                        if (iy >= 0 && iy < h && ix >= 0 && ix < w) {
                            double v = x[((size_t)pl2 * h + iy) * w + ix];
                            acc = max ? fmax(acc, v) : acc + v;
                            inside++;
                        }
                if (!max) {
                    int he2 = he < h + pb ? he : h + pb, we2 = we < w + pr ? we : w + pr;
                    int div = cip ? (he2 - hs) * (we2 - ws) : inside;
                    acc /= div;
                }
                want[((size_t)pl2 * g.p + p) * g.q + q] = acc;
            }
    if (max)
        nad_k_maxpool(&g, n, x, y);
    else
        nad_k_avgpool(&g, n, x, y);
    char what[96];
    snprintf(what, sizeof what, "%s k%d s%d ceil%d cip%d", max ? "maxpool" : "avgpool", k, s, ceil_mode, cip);
    expect_close(y, want, ny, 1e-5, what);
    free(x), free(y), free(want);
}

static void test_pooling(void **state)
{
    (void)state;
    for (int max = 0; max < 2; max++)
        for (int ceil_mode = 0; ceil_mode < 2; ceil_mode++)
            for (int cip = 0; cip < 2; cip++) {
                check_pool(max, 1, 1, 7, 7, 3, 2, 1, 1, 1, 1, ceil_mode, cip, 1);
                check_pool(max, 5, 3, 8, 9, 2, 2, 0, 0, 0, 0, ceil_mode, cip, 1);
                check_pool(max, 2, 17, 10, 6, 3, 2, 1, 0, 0, 1, ceil_mode, cip, 1); /* asymmetric pads */
                check_pool(max, 1, 3, 6, 6, 3, 3, 1, 1, 1, 1, ceil_mode, cip, 1);
            }
    check_pool(1, 2, 3, 9, 9, 3, 1, 2, 2, 2, 2, 0, 0, 2); /* dilated max pool */
    check_pool(1, 3, 17, 8, 10, 2, 2, 0, 0, 0, 0, 0, 0, 1); /* the flat 2x2/2 path */
    check_pool(1, 1, 3, 7, 12, 3, 1, 1, 1, 1, 1, 0, 0, 1); /* 3x3/1 padded: edges + interior */
    check_pool(0, 3, 17, 8, 10, 2, 2, 0, 0, 0, 0, 0, 0, 1); /* the flat 2x2/2 average path */
    check_pool(0, 2, 5, 14, 14, 2, 2, 0, 0, 0, 0, 1, 1, 1); /* same, ceil_mode with even sizes */
    check_pool(1, 2, 16, 14, 14, 3, 1, 1, 1, 1, 1, 0, 0, 1); /* flat 3x3/1 "same" path */
    check_pool(1, 1, 2, 2, 2, 3, 1, 1, 1, 1, 1, 0, 0, 1);   /* its smallest plane */
    check_pool(1, 1, 2, 2, 5, 3, 1, 1, 1, 1, 1, 0, 0, 1);
    check_pool(1, 1, 2, 5, 1, 3, 1, 1, 1, 1, 1, 0, 0, 1); /* one column: general path */
    for (int max = 0; max < 2; max++) /* rows wider than the column-range arrays */
        check_pool(max, 1, 1, 3, 2101, 3, 2, 1, 1, 1, 1, 1, 1, 1);

    const int nc = 17, hw = 13;
    float *x = rand_buf((size_t)nc * hw, 18), y[17];
    double want[17];
    for (int i = 0; i < nc; i++) {
        double s = 0;
        for (int j = 0; j < hw; j++)
            s += x[i * hw + j];
        want[i] = s / hw;
    }
    nad_k_global_avgpool(nc, hw, x, y);
    expect_close(y, want, nc, 1e-6, "global avg");
    for (int len = 16; len <= 49; len += 33) { /* the 16-lane sums: whole vectors, then 7x7 with a tail */
        float *xl = rand_buf((size_t)nc * len, 19);
        for (int i = 0; i < nc; i++) {
            double s = 0;
            for (int j = 0; j < len; j++)
                s += xl[i * len + j];
            want[i] = s / len;
        }
        nad_k_global_avgpool(nc, len, xl, y);
        expect_close(y, want, nc, 1e-6, "global avg, vector lanes");
        free(xl);
    }
    for (int i = 0; i < nc; i++) {
        double m = -INFINITY;
        for (int j = 0; j < hw; j++)
            m = fmax(m, x[i * hw + j]);
        want[i] = m;
    }
    nad_k_global_maxpool(nc, hw, x, y);
    expect_close(y, want, nc, 0, "global max");
    free(x);
}

/* ---- layout ------------------------------------------------------------------------- */

static void test_transpose_concat_pad(void **state)
{
    (void)state;
    const int64_t d[4] = {2, 3, 4, 5};
    const int perm[4] = {0, 2, 3, 1};
    float *x = rand_buf(120, 19), y[200];
    double want[200];
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 5; c++)
                for (int e = 0; e < 3; e++)
                    want[((a * 4 + b) * 5 + c) * 3 + e] = x[((a * 3 + e) * 4 + b) * 5 + c];
    nad_k_transpose(4, d, perm, x, y);
    expect_close(y, want, 120, 0, "transpose");

    /* concat [2,3,4] and [2,1,4] on axis 1 */
    float *b = rand_buf(8, 20);
    nad_k_concat_part(2, 3, 4, 4, 0, x, y);
    nad_k_concat_part(2, 1, 4, 4, 3, b, y);
    for (int o = 0; o < 2; o++)
        for (int j = 0; j < 4; j++)
            for (int i = 0; i < 4; i++)
                want[(o * 4 + j) * 4 + i] = j < 3 ? x[(o * 3 + j) * 4 + i] : b[o * 4 + i];
    expect_close(y, want, 32, 0, "concat");

    /* pad a [1,3,4] tensor by (0,1,2) before and (0,2,1) after, all modes */
    const int64_t pd[3] = {1, 3, 4}, pads[6] = {0, 1, 2, 0, 2, 1};
    for (int mode = 0; mode < 3; mode++) {
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 7; j++) {
                int si = i - 1, sj = j - 2;
                double v;
                if (si >= 0 && si < 3 && sj >= 0 && sj < 4) {
                    v = x[si * 4 + sj];
                } else if (mode == 0) {
                    v = 1.5;
                } else {
                    if (mode == 2) {
                        si = si < 0 ? 0 : si > 2 ? 2 : si;
                        sj = sj < 0 ? 0 : sj > 3 ? 3 : sj;
                    } else {
                        si = si < 0 ? -si : si > 2 ? 4 - si : si;
                        sj = sj < 0 ? -sj : sj > 3 ? 6 - sj : sj;
                    }
                    v = x[si * 4 + sj];
                }
                want[i * 7 + j] = v;
            }
        nad_k_pad(3, pd, pads, mode, 1.5f, x, y);
        expect_close(y, want, 42, 0, mode == 0 ? "pad constant" : mode == 1 ? "pad reflect" : "pad edge");
    }
    /* negative pads crop: [1,3,4] with begins (0,-1,1), ends (0,0,-2) → [1,2,3] */
    const int64_t crop[6] = {0, -1, 1, 0, 0, -2};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            want[i * 3 + j] = j == 0 ? 0.0 : x[(i + 1) * 4 + j - 1];
    nad_k_pad(3, pd, crop, 0, 0.f, x, y);
    expect_close(y, want, 6, 0, "pad crop");
    free(x), free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_general),   cmocka_unit_test(test_conv_depthwise),
        cmocka_unit_test(test_gemm),           cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_binary_broadcast), cmocka_unit_test(test_activations),
        cmocka_unit_test(test_batchnorm_softmax), cmocka_unit_test(test_pooling),
        cmocka_unit_test(test_transpose_concat_pad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
