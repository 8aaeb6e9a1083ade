/*
 * Gradient checks for the training kernels (src/train/grad_*.c): every
 * backward pass is compared with central finite differences of the forward
 * pass, at small awkward sizes (1/3/5 channels, stride 2, asymmetric pads,
 * groups, depthwise, broadcasting, ceil_mode pooling).  The scalar under test
 * is L = sum(y * r) for a fixed random r (so dL/dy = r), accumulated in double.
 * Forward passes of conv and Gemm are also checked against naive loops.
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

#include "testutil.h"
#include "train/grad.h"
#include "train/optim.h"
#include "train/rng.h"

#define MAXIN 4

typedef struct gc {
    void (*fwd)(struct gc *c);
    void (*bwd)(struct gc *c);
    float *in[MAXIN], *gin[MAXIN];
    int64_t n_in[MAXIN];
    int n_inputs;
    float *y, *dy;
    int64_t ny;
    const void *p; /* the kernel's geometry */
    void *aux;     /* argmax, saved stats, ... */
    void *aux2;
} gc;

static nad_rng test_rng;

static float urand(float lo, float hi)
{
    return lo + (hi - lo) * (float)nad_rng_unit(&test_rng);
}

static float *rand_buf(int64_t n, float lo, float hi)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    assert_non_null(p);
    for (int64_t i = 0; i < n; i++)
        p[i] = urand(lo, hi);
    return p;
}

static double loss_of(gc *c)
{
    c->fwd(c);
    double s = 0.0;
    for (int64_t i = 0; i < c->ny; i++)
        s += (double)c->y[i] * c->dy[i];
    return s;
}

/*
 * Runs backward with dy = r and compares up to 40 entries of every input
 * gradient with (L(x+eps) - L(x-eps)) / 2eps.  Fails (with the entry) when
 * |analytic - numeric| > tol * (1 + |numeric|).
 */
static void check(gc *c, const char *what, double eps, double tol)
{
    c->dy = rand_buf(c->ny, -1.0f, 1.0f);
    for (int k = 0; k < c->n_inputs; k++) {
        c->gin[k] = calloc((size_t)c->n_in[k] + 1, sizeof(float));
        assert_non_null(c->gin[k]);
    }
    c->fwd(c);
    c->bwd(c);
    for (int k = 0; k < c->n_inputs; k++) {
        int64_t n = c->n_in[k], step = n > 40 ? n / 40 : 1;
        for (int64_t j = (int64_t)nad_rng_below(&test_rng, (uint64_t)step); j < n; j += step) {
            float v = c->in[k][j];
            c->in[k][j] = (float)(v + eps);
            double lp = loss_of(c);
            c->in[k][j] = (float)(v - eps);
            double lm = loss_of(c);
            c->in[k][j] = v;
            /* the actual perturbation after float rounding */
            double h = (double)(float)(v + eps) - (double)(float)(v - eps);
            double num = (lp - lm) / h, ana = c->gin[k][j];
            if (fabs(num - ana) > tol * (1.0 + fabs(num)))
                fail_msg("%s: input %d entry %lld: analytic %.6g numeric %.6g", what, k, (long long)j, ana, num);
        }
    }
    for (int k = 0; k < c->n_inputs; k++) {
        free(c->gin[k]);
        c->gin[k] = NULL;
    }
    free(c->dy);
}

static void free_case(gc *c)
{
    for (int k = 0; k < c->n_inputs; k++)
        free(c->in[k]);
    free(c->y);
    free(c->aux);
    free(c->aux2);
}

/* ---- convolution ---------------------------------------------------------- */

typedef struct conv_case {
    nad_tr_conv s;
    float *ws;
} conv_case;

static void conv_fwd(gc *c)
{
    const conv_case *cc = c->p;
    nad_tr_conv_forward(&cc->s, c->in[0], c->in[1], c->in[2], c->y, cc->ws);
}

static void conv_bwd(gc *c)
{
    const conv_case *cc = c->p;
    nad_tr_conv_backward(&cc->s, c->in[0], c->in[1], c->dy, c->gin[0], c->gin[1], c->gin[2], cc->ws);
}

/* Naive direct convolution in double: the independent forward reference. */
static void conv_naive(const nad_tr_conv *s, const float *x, const float *w, const float *b, double *y)
{
    int cg = s->c / s->group, mg = s->m / s->group;
    for (int n = 0; n < s->n; n++)
        for (int m = 0; m < s->m; m++)
            for (int oy = 0; oy < s->oh; oy++)
                for (int ox = 0; ox < s->ow; ox++) {
                    double acc = b ? b[m] : 0.0;
                    int g = m / mg;
                    for (int ci = 0; ci < cg; ci++)
                        for (int i = 0; i < s->kh; i++)
                            for (int j = 0; j < s->kw; j++) {
                                int iy = oy * s->sh - s->pt + i * s->dh, ix = ox * s->sw - s->pl + j * s->dw;
                                if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w)
                                    continue;
                                acc += (double)x[((n * s->c + g * cg + ci) * s->h + iy) * s->w + ix] *
                                       w[((m * cg + ci) * s->kh + i) * s->kw + j];
                            }
                    y[((n * s->m + m) * s->oh + oy) * s->ow + ox] = acc;
                }
}

static void run_conv(int n, int c, int h, int w, int m, int kh, int kw, int sh, int sw, int dh, int dw, int pt, int pl,
                     int pb, int pr, int group, int bias, const char *what)
{
    conv_case cc;
    memset(&cc, 0, sizeof cc);
    nad_tr_conv *s = &cc.s;
    *s = (nad_tr_conv){n, c, h, w, m, 0, 0, kh, kw, sh, sw, dh, dw, pt, pl, group, 2};
    s->oh = (h + pt + pb - dh * (kh - 1) - 1) / sh + 1;
    s->ow = (w + pl + pr - dw * (kw - 1) - 1) / sw + 1;
    cc.ws = malloc(nad_tr_conv_workspace(s) * sizeof(float) + 4);
    assert_non_null(cc.ws);
    gc g;
    memset(&g, 0, sizeof g);
    g.fwd = conv_fwd;
    g.bwd = conv_bwd;
    g.p = &cc;
    g.n_inputs = bias ? 3 : 2;
    g.n_in[0] = (int64_t)n * c * h * w;
    g.n_in[1] = (int64_t)m * (c / group) * kh * kw;
    g.n_in[2] = m;
    for (int k = 0; k < g.n_inputs; k++)
        g.in[k] = rand_buf(g.n_in[k], -1.0f, 1.0f);
    g.ny = (int64_t)n * m * s->oh * s->ow;
    g.y = rand_buf(g.ny, 0, 0);

    /* forward against the naive loop */
    double *ref = malloc((size_t)g.ny * sizeof *ref);
    assert_non_null(ref);
    conv_naive(s, g.in[0], g.in[1], bias ? g.in[2] : NULL, ref);
    conv_fwd(&g);
    for (int64_t i = 0; i < g.ny; i++)
        if (fabs(ref[i] - g.y[i]) > 1e-4 * (1.0 + fabs(ref[i])))
            fail_msg("%s forward: y[%lld] %g vs naive %g", what, (long long)i, (double)g.y[i], ref[i]);
    free(ref);
    if (!bias)
        g.in[2] = NULL;
    check(&g, what, 1e-2, 2e-3);
    free_case(&g);
    free(cc.ws);
}

static void test_conv_grad(void **state)
{
    (void)state;
    run_conv(2, 3, 7, 6, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, "conv 3->5 k3 s2 p1");
    run_conv(1, 1, 5, 5, 3, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, "conv 1->3 k3 valid no bias");
    run_conv(2, 4, 6, 7, 6, 3, 2, 1, 2, 2, 1, 2, 0, 1, 1, 2, 1, "conv grouped g2 k3x2 dil2 asym pads");
    run_conv(2, 5, 6, 6, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 5, 0, "conv depthwise c5 s2");
    run_conv(3, 5, 4, 3, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 5, 1, "conv depthwise multiplier 2");
    run_conv(2, 4, 6, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, "conv 4->6 k3 s1 p1 (dX as flipped conv)");
    run_conv(3, 3, 5, 6, 4, 3, 2, 1, 1, 1, 1, 2, 0, 0, 1, 1, 0, "conv k3x2 s1 asym pads (dX as flipped conv)");
    run_conv(2, 3, 9, 8, 4, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, "conv 3->4 k5 s1 p2 (dX as flipped conv)");
    run_conv(2, 4, 9, 20, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4, 1, "conv depthwise s1 p1 wide rows (vector dW)");
    run_conv(2, 3, 6, 5, 3, 3, 3, 1, 1, 1, 1, 0, 2, 2, 0, 3, 0, "conv depthwise s1 asym pads (vector dW)");
    run_conv(2, 3, 7, 8, 4, 3, 3, 1, 1, 2, 2, 2, 1, 2, 1, 1, 1, "conv k3 s1 dil2 asym pads (padded im2col)");
    run_conv(2, 3, 4, 4, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, "conv 1x1 (pointwise path)");
    run_conv(3, 1, 5, 3, 4, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, "conv 1x1 from 1 channel");
    run_conv(2, 3, 5, 7, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1, "conv depthwise c3 s1 p1 (direct path)");
    run_conv(2, 5, 7, 7, 5, 3, 3, 2, 2, 2, 2, 2, 0, 1, 2, 5, 1, "conv depthwise s2 dil2 asym pads");
}

/* ---- Gemm ----------------------------------------------------------------- */

static void gemm_fwd(gc *c)
{
    nad_tr_gemm_forward(c->p, c->in[0], c->in[1], c->in[2], c->y);
}

static void gemm_bwd(gc *c)
{
    nad_tr_gemm_backward(c->p, c->in[0], c->in[1], c->dy, c->gin[0], c->gin[1], c->n_inputs > 2 ? c->gin[2] : NULL);
}

static void run_gemm(int ta, int tb, int c_ndim, int64_t c0, int64_t c1, float alpha, float beta)
{
    nad_tr_gemm s = {5, 3, 4, ta, tb, alpha, beta, c_ndim, {c0, c1}};
    gc g;
    memset(&g, 0, sizeof g);
    g.fwd = gemm_fwd;
    g.bwd = gemm_bwd;
    g.p = &s;
    g.n_inputs = c_ndim >= 0 ? 3 : 2;
    if (c_ndim < 0)
        s.c_ndim = 0;
    g.n_in[0] = (int64_t)s.m * s.k;
    g.n_in[1] = (int64_t)s.k * s.n;
    g.n_in[2] = c_ndim == 2 ? c0 * c1 : c_ndim == 1 ? c0 : 1;
    for (int k = 0; k < g.n_inputs; k++)
        g.in[k] = rand_buf(g.n_in[k], -1.0f, 1.0f);
    g.ny = (int64_t)s.m * s.n;
    g.y = rand_buf(g.ny, 0, 0);
    gemm_fwd(&g);
    /* naive reference */
    for (int i = 0; i < s.m; i++)
        for (int j = 0; j < s.n; j++) {
            double acc = 0.0;
            for (int k = 0; k < s.k; k++)
                acc += (double)g.in[0][ta ? k * s.m + i : i * s.k + k] * g.in[1][tb ? j * s.k + k : k * s.n + j];
            acc *= alpha;
            if (g.n_inputs > 2) {
                int64_t ci = c_ndim == 2 ? (c0 == 1 ? 0 : i) * c1 + (c1 == 1 ? 0 : j) : c_ndim == 1 ? (c0 == 1 ? 0 : j) : 0;
                acc += beta * g.in[2][ci];
            }
            if (fabs(acc - g.y[i * s.n + j]) > 1e-5 * (1.0 + fabs(acc)))
                fail_msg("gemm ta%d tb%d forward: y[%d,%d] %g vs %g", ta, tb, i, j, (double)g.y[i * s.n + j], acc);
        }
    char what[64];
    snprintf(what, sizeof what, "gemm ta%d tb%d C%d", ta, tb, c_ndim);
    check(&g, what, 1e-2, 2e-3);
    free_case(&g);
}

static void test_gemm_grad(void **state)
{
    (void)state;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            run_gemm(ta, tb, 1, 3, 0, 0.7f, 1.3f);
    run_gemm(0, 1, 2, 5, 3, 1.0f, 0.5f);
    run_gemm(1, 0, 2, 5, 1, 2.0f, 1.0f);
    run_gemm(0, 0, 2, 1, 3, 1.0f, 1.0f);
    run_gemm(0, 0, 0, 0, 0, 1.0f, 2.0f);  /* scalar C */
    run_gemm(1, 1, -1, 0, 0, 1.0f, 0.0f); /* no C (MatMul) */
}

/* ---- broadcasting binary ops --------------------------------------------- */

typedef struct bin_case {
    nad_tr_bcast s;
    nad_tr_binop op;
} bin_case;

static void bin_fwd(gc *c)
{
    const bin_case *b = c->p;
    nad_tr_binary_forward(&b->s, b->op, c->in[0], c->in[1], c->y);
}

static void bin_bwd(gc *c)
{
    const bin_case *b = c->p;
    nad_tr_binary_backward(&b->s, b->op, c->in[0], c->in[1], c->dy, c->gin[0], c->gin[1]);
}

static int64_t prod(int n, const int64_t *d)
{
    int64_t p = 1;
    for (int i = 0; i < n; i++)
        p *= d[i];
    return p;
}

static void run_binary(nad_tr_binop op, int an, const int64_t *ad, int bn, const int64_t *bd, const char *what)
{
    bin_case b;
    b.op = op;
    assert_int_equal(nad_tr_bcast_init(&b.s, an, ad, bn, bd), 0);
    gc g;
    memset(&g, 0, sizeof g);
    g.fwd = bin_fwd;
    g.bwd = bin_bwd;
    g.p = &b;
    g.n_inputs = 2;
    g.n_in[0] = prod(an, ad);
    g.n_in[1] = prod(bn, bd);
    g.in[0] = rand_buf(g.n_in[0], -1.0f, 1.0f);
    g.in[1] = rand_buf(g.n_in[1], 0.5f, 1.5f); /* away from 0 for Div */
    g.ny = prod(b.s.ndim, b.s.y);
    g.y = rand_buf(g.ny, 0, 0);
    check(&g, what, 1e-2, 3e-3);
    free_case(&g);
}

static void test_binary_grad(void **state)
{
    (void)state;
    int64_t a4[] = {2, 3, 4, 5}, b3[] = {3, 1, 1}, b4[] = {2, 3, 1, 1}, a3[] = {2, 1, 4}, b2[] = {3, 1},
            row[] = {5}, same[] = {2, 3, 4, 5};
    const char *names[] = {"Add", "Sub", "Mul", "Div"};
    for (int op = NAD_TR_ADD; op <= NAD_TR_DIV; op++) {
        char w[64];
        snprintf(w, sizeof w, "%s [2,3,4,5]x[3,1,1]", names[op]);
        run_binary(op, 4, a4, 3, b3, w);
        snprintf(w, sizeof w, "%s [2,1,4]x[3,1]", names[op]);
        run_binary(op, 3, a3, 2, b2, w);
        snprintf(w, sizeof w, "%s SE [2,3,4,5]x[2,3,1,1]", names[op]);
        run_binary(op, 4, a4, 4, b4, w);
        snprintf(w, sizeof w, "%s [5]x[2,3,4,5]", names[op]);
        run_binary(op, 1, row, 4, same, w);
        snprintf(w, sizeof w, "%s same shape", names[op]);
        run_binary(op, 4, a4, 4, same, w);
    }
    int64_t bad[] = {4};
    nad_tr_bcast s;
    assert_int_equal(nad_tr_bcast_init(&s, 1, row, 1, bad), -1);
}

/* ---- activations ------------------------------------------------------------ */

typedef struct act_case {
    nad_tr_act act;
    float p0, p1;
} act_case;

static void act_fwd(gc *c)
{
    const act_case *a = c->p;
    nad_tr_act_forward(a->act, a->p0, a->p1, c->in[0], c->y, c->ny);
}

static void act_bwd(gc *c)
{
    const act_case *a = c->p;
    nad_tr_act_backward(a->act, a->p0, a->p1, c->in[0], c->y, c->dy, c->gin[0], c->ny);
}

static void test_act_grad(void **state)
{
    (void)state;
    act_case cases[] = {{NAD_TR_RELU, 0, 0},          {NAD_TR_LEAKY_RELU, 0.1f, 0}, {NAD_TR_CLIP, 0.0f, 6.0f},
                        {NAD_TR_SIGMOID, 0, 0},       {NAD_TR_HARD_SIGMOID, 0.2f, 0.5f},
                        {NAD_TR_HARD_SIGMOID, 1.0f / 6, 0.5f}, {NAD_TR_HARD_SWISH, 0, 0}, {NAD_TR_TANH, 0, 0}};
    /* kinks to keep away from, so finite differences do not straddle one */
    const float kinks[] = {0.0f, -3.0f, 3.0f, 6.0f, -2.5f, 2.5f};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gc g;
        memset(&g, 0, sizeof g);
        g.fwd = act_fwd;
        g.bwd = act_bwd;
        g.p = &cases[i];
        g.n_inputs = 1;
        g.n_in[0] = g.ny = 97;
        g.in[0] = rand_buf(97, -7.0f, 7.0f);
        for (int j = 0; j < 97; j++)
            for (size_t k = 0; k < sizeof kinks / sizeof kinks[0]; k++)
                if (fabsf(g.in[0][j] - kinks[k]) < 0.05f)
                    g.in[0][j] = kinks[k] + 0.1f;
        g.y = rand_buf(97, 0, 0);
        char w[32];
        snprintf(w, sizeof w, "activation %zu", i);
        check(&g, w, 1e-2, 3e-3);
        free_case(&g);
    }
}

/* ---- pooling ---------------------------------------------------------------- */

static void maxpool_fwd(gc *c)
{
    nad_tr_maxpool_forward(c->p, c->in[0], c->y, c->aux);
}
static void maxpool_bwd(gc *c)
{
    nad_tr_maxpool_backward(c->p, c->aux, c->dy, c->gin[0]);
}
static void avgpool_fwd(gc *c)
{
    nad_tr_avgpool_forward(c->p, c->in[0], c->y);
}
static void avgpool_bwd(gc *c)
{
    nad_tr_avgpool_backward(c->p, c->dy, c->gin[0]);
}

/* Output size along one axis, ONNX/PyTorch rules incl. ceil_mode. */
static int pool_out(int in, int k, int s, int d, int p0, int p1, int ceil_mode)
{
    int span = in + p0 + p1 - ((k - 1) * d + 1);
    int o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + p0)
        o--;
    return o;
}

static void run_pool(int is_max, int nc, int h, int w, int k, int s, int pad, int ceil_mode, int cip, const char *what)
{
    nad_tr_pool p = {nc, h, w, 0, 0, k, k, s, s, 1, 1, pad, pad, pad, pad, cip, 2};
    p.oh = pool_out(h, k, s, 1, pad, pad, ceil_mode);
    p.ow = pool_out(w, k, s, 1, pad, pad, ceil_mode);
    gc g;
    memset(&g, 0, sizeof g);
    g.fwd = is_max ? maxpool_fwd : avgpool_fwd;
    g.bwd = is_max ? maxpool_bwd : avgpool_bwd;
    g.p = &p;
    g.n_inputs = 1;
    g.n_in[0] = (int64_t)nc * h * w;
    g.in[0] = rand_buf(g.n_in[0], 0, 0);
    /* distinct values 0.1 apart (shuffled) so a perturbation never changes an argmax */
    for (int64_t i = 0; i < g.n_in[0]; i++)
        g.in[0][i] = 0.1f * (float)i;
    for (int64_t i = g.n_in[0] - 1; i > 0; i--) {
        int64_t j = (int64_t)nad_rng_below(&test_rng, (uint64_t)i + 1);
        float t = g.in[0][i];
        g.in[0][i] = g.in[0][j];
        g.in[0][j] = t;
    }
    g.ny = (int64_t)nc * p.oh * p.ow;
    g.y = rand_buf(g.ny, 0, 0);
    g.aux = malloc((size_t)g.ny * sizeof(int32_t));
    assert_non_null(g.aux);
    check(&g, what, 1e-2, 3e-3);
    free_case(&g);
}

static void test_pool_grad(void **state)
{
    (void)state;
    run_pool(1, 3, 7, 7, 3, 2, 1, 1, 0, "maxpool k3 s2 p1 ceil");
    run_pool(1, 5, 6, 5, 2, 2, 0, 0, 0, "maxpool k2 s2");
    run_pool(1, 1, 5, 5, 2, 2, 0, 1, 0, "maxpool k2 s2 ceil");
    run_pool(0, 3, 7, 7, 3, 2, 1, 1, 1, "avgpool k3 s2 p1 ceil count_include_pad");
    run_pool(0, 3, 7, 6, 3, 2, 1, 1, 0, "avgpool k3 s2 p1 ceil exclude pad");
    run_pool(0, 5, 5, 5, 2, 2, 0, 1, 1, "avgpool k2 s2 ceil (window past the input)");
}

/* avg_pool2d semantics on a hand example: 3x3 ones, k2 s2, ceil_mode, pads 0:
 * windows at the right/bottom hang past the input, divisor counts only the
 * part inside the (unpadded) input whether or not pads are counted. */
static void test_avgpool_values(void **state)
{
    (void)state;
    float x[9], y[4];
    for (int i = 0; i < 9; i++)
        x[i] = (float)(i + 1);
    nad_tr_pool p = {1, 3, 3, 2, 2, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 1, 1};
    nad_tr_avgpool_forward(&p, x, y);
    /* torch.nn.functional.avg_pool2d(x, 2, 2, ceil_mode=True) on 1..9 */
    assert_float_equal(y[0], 3.0f, 1e-6);
    assert_float_equal(y[1], 4.5f, 1e-6);
    assert_float_equal(y[2], 7.5f, 1e-6);
    assert_float_equal(y[3], 9.0f, 1e-6);
    /* with pad 1, count_include_pad: the corner window [pad, 1] counts 4 */
    nad_tr_pool q = {1, 3, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1};
    nad_tr_avgpool_forward(&q, x, y);
    assert_float_equal(y[0], 1.0f / 4.0f, 1e-6);
    assert_float_equal(y[3], (5.0f + 6.0f + 8.0f + 9.0f) / 4.0f, 1e-6);
    q.count_include_pad = 0;
    nad_tr_avgpool_forward(&q, x, y);
    assert_float_equal(y[0], 1.0f, 1e-6);
}

static void gap_fwd(gc *c)
{
    nad_tr_gap_forward(c->in[0], c->y, c->ny, c->n_in[0] / c->ny);
}
static void gap_bwd(gc *c)
{
    nad_tr_gap_backward(c->dy, c->gin[0], c->ny, c->n_in[0] / c->ny);
}
static void gmp_fwd(gc *c)
{
    nad_tr_gmp_forward(c->in[0], c->y, c->aux, c->ny, c->n_in[0] / c->ny);
}
static void gmp_bwd(gc *c)
{
    nad_tr_gmp_backward(c->aux, c->dy, c->gin[0], c->ny, c->n_in[0] / c->ny);
}

static void test_global_pool_grad(void **state)
{
    (void)state;
    for (int is_max = 0; is_max < 2; is_max++) {
        gc g;
        memset(&g, 0, sizeof g);
        g.fwd = is_max ? gmp_fwd : gap_fwd;
        g.bwd = is_max ? gmp_bwd : gap_bwd;
        g.n_inputs = 1;
        g.ny = 6;
        g.n_in[0] = 6 * 15;
        g.in[0] = rand_buf(g.n_in[0], 0, 0);
        for (int64_t i = 0; i < g.n_in[0]; i++)
            g.in[0][i] = 0.1f * (float)((i * 37) % g.n_in[0]);
        g.y = rand_buf(g.ny, 0, 0);
        g.aux = malloc(6 * sizeof(int32_t));
        check(&g, is_max ? "global max pool" : "global average pool", 1e-2, 3e-3);
        free_case(&g);
    }
}

/* ---- batch normalisation ------------------------------------------------- */

typedef struct bn_case {
    int64_t n, c, hw;
    float mean[8], invstd[8];
} bn_case;

static void bn_fwd(gc *c)
{
    bn_case *b = (bn_case *)c->p;
    nad_tr_bn_train_forward(c->in[0], c->y, b->n, b->c, b->hw, c->in[1], c->in[2], 1e-5f, 0.9f, NULL, NULL, b->mean,
                            b->invstd, 2);
}

static void bn_bwd(gc *c)
{
    const bn_case *b = c->p;
    nad_tr_bn_train_backward(c->in[0], c->dy, b->n, b->c, b->hw, c->in[1], b->mean, b->invstd, c->gin[0], c->gin[1],
                             c->gin[2], 2);
}

static void test_bn_grad(void **state)
{
    (void)state;
    int64_t shapes[][3] = {{3, 5, 7}, {4, 1, 9}, {6, 3, 1}};
    for (int s = 0; s < 3; s++) {
        bn_case b = {shapes[s][0], shapes[s][1], shapes[s][2], {0}, {0}};
        gc g;
        memset(&g, 0, sizeof g);
        g.fwd = bn_fwd;
        g.bwd = bn_bwd;
        g.p = &b;
        g.n_inputs = 3;
        g.n_in[0] = b.n * b.c * b.hw;
        g.n_in[1] = g.n_in[2] = b.c;
        g.in[0] = rand_buf(g.n_in[0], -2.0f, 3.0f);
        g.in[1] = rand_buf(b.c, 0.5f, 1.5f);
        g.in[2] = rand_buf(b.c, -0.5f, 0.5f);
        g.ny = g.n_in[0];
        g.y = rand_buf(g.ny, 0, 0);
        check(&g, "batchnorm training", 1e-3, 5e-3);
        free_case(&g);
    }
    /* running statistics: ONNX momentum convention, unbiased variance */
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[8], gm = 1.0f, bt = 0.0f, rm = 10.0f, rv = 2.0f, sm, si;
    nad_tr_bn_train_forward(x, y, 2, 1, 4, &gm, &bt, 0.0f, 0.9f, &rm, &rv, &sm, &si, 1);
    assert_float_equal(rm, 0.9f * 10.0f + 0.1f * 4.5f, 1e-5);
    assert_float_equal(rv, 0.9f * 2.0f + 0.1f * 6.0f, 1e-5); /* var 5.25 * 8/7 = 6 */
    assert_float_equal(y[0], (1.0f - 4.5f) / sqrtf(5.25f), 1e-5);
}

/* ---- layout ops and dropout --------------------------------------------- */

typedef struct layout_case {
    int ndim;
    int64_t dims[6], perm[6], pads[12];
    int64_t inner[3], outer;
} layout_case;

static void tr_fwd(gc *c)
{
    const layout_case *l = c->p;
    nad_tr_transpose(c->in[0], c->y, l->ndim, l->dims, l->perm);
}
static void tr_bwd(gc *c)
{
    const layout_case *l = c->p;
    nad_tr_transpose_backward(c->dy, c->gin[0], l->ndim, l->dims, l->perm);
}
static void pad_fwd(gc *c)
{
    const layout_case *l = c->p;
    nad_tr_pad_forward(c->in[0], c->y, l->ndim, l->dims, l->pads, 0.5f);
}
static void pad_bwd(gc *c)
{
    const layout_case *l = c->p;
    nad_tr_pad_backward(c->dy, c->gin[0], l->ndim, l->dims, l->pads);
}
static void cat_fwd(gc *c)
{
    const layout_case *l = c->p;
    const float *xs[3] = {c->in[0], c->in[1], c->in[2]};
    nad_tr_concat_forward(xs, l->inner, 3, l->outer, c->y);
}
static void cat_bwd(gc *c)
{
    const layout_case *l = c->p;
    float *dxs[3] = {c->gin[0], c->gin[1], c->gin[2]};
    nad_tr_concat_backward(c->dy, l->inner, 3, l->outer, dxs);
}

static void test_layout_grad(void **state)
{
    (void)state;
    layout_case l = {4, {2, 3, 4, 5}, {0, 2, 3, 1}, {0}, {0}, 0};
    gc g;
    memset(&g, 0, sizeof g);
    g.fwd = tr_fwd;
    g.bwd = tr_bwd;
    g.p = &l;
    g.n_inputs = 1;
    g.n_in[0] = g.ny = 120;
    g.in[0] = rand_buf(120, -1, 1);
    g.y = rand_buf(120, 0, 0);
    tr_fwd(&g);
    /* y[a,c,d,b] = x[a,b,c,d] */
    assert_float_equal(g.y[((1 * 4 + 2) * 5 + 3) * 3 + 1], g.in[0][((1 * 3 + 1) * 4 + 2) * 5 + 3], 0);
    check(&g, "transpose", 1e-2, 1e-3);
    free_case(&g);

    layout_case lp = {4, {2, 3, 4, 5}, {0}, {0, 1, 2, 0, 0, 0, 1, 3}, {0}, 0};
    memset(&g, 0, sizeof g);
    g.fwd = pad_fwd;
    g.bwd = pad_bwd;
    g.p = &lp;
    g.n_inputs = 1;
    g.n_in[0] = 120;
    g.ny = 2 * 4 * 7 * 8;
    g.in[0] = rand_buf(120, -1, 1);
    g.y = rand_buf(g.ny, 0, 0);
    pad_fwd(&g);
    assert_float_equal(g.y[0], 0.5f, 0);
    assert_float_equal(g.y[((0 * 4 + 1) * 7 + 2) * 8 + 0], g.in[0][0], 0);
    check(&g, "pad", 1e-2, 1e-3);
    free_case(&g);

    layout_case lc = {0, {0}, {0}, {0}, {4, 12, 8}, 2};
    memset(&g, 0, sizeof g);
    g.fwd = cat_fwd;
    g.bwd = cat_bwd;
    g.p = &lc;
    g.n_inputs = 3;
    for (int k = 0; k < 3; k++) {
        g.n_in[k] = lc.inner[k] * 2;
        g.in[k] = rand_buf(g.n_in[k], -1, 1);
    }
    g.ny = 48;
    g.y = rand_buf(48, 0, 0);
    check(&g, "concat", 1e-2, 1e-3);
    free_case(&g);
}

static void drop_fwd(gc *c)
{
    nad_rng r;
    nad_rng_seed(&r, 7); /* the same mask at every call, as within one step */
    nad_tr_dropout_forward(c->in[0], c->y, c->aux, c->ny, 0.25f, &r);
}
static void drop_bwd(gc *c)
{
    nad_tr_dropout_backward(c->aux, c->dy, c->gin[0], c->ny, 0.25f);
}

static void test_dropout_grad(void **state)
{
    (void)state;
    gc g;
    memset(&g, 0, sizeof g);
    g.fwd = drop_fwd;
    g.bwd = drop_bwd;
    g.n_inputs = 1;
    g.n_in[0] = g.ny = 4000;
    g.in[0] = rand_buf(4000, 1, 2);
    g.y = rand_buf(4000, 0, 0);
    g.aux = malloc(4000);
    drop_fwd(&g);
    int kept = 0;
    for (int i = 0; i < 4000; i++)
        kept += ((uint8_t *)g.aux)[i];
    assert_in_range(kept, 2850, 3150); /* 75% kept */
    check(&g, "dropout", 1e-2, 1e-3);
    free_case(&g);
}

/* ---- loss ------------------------------------------------------------------ */

static int32_t loss_labels[5] = {0, 3, 6, 2, 6};

static void xent_fwd(gc *c)
{
    c->y[0] = (float)nad_tr_softmax_xent(c->in[0], loss_labels, 5, 7, NULL, NULL);
}
static void xent_bwd(gc *c)
{
    float d[35];
    nad_tr_softmax_xent(c->in[0], loss_labels, 5, 7, d, NULL);
    for (int i = 0; i < 35; i++)
        c->gin[0][i] += c->dy[0] * d[i];
}

static void test_loss_grad(void **state)
{
    (void)state;
    gc g;
    memset(&g, 0, sizeof g);
    g.fwd = xent_fwd;
    g.bwd = xent_bwd;
    g.n_inputs = 1;
    g.n_in[0] = 35;
    g.in[0] = rand_buf(35, -3, 3);
    g.ny = 1;
    g.y = rand_buf(1, 0, 0);
    check(&g, "softmax cross-entropy", 1e-2, 3e-3);
    /* stability: huge logits give a finite loss equal to the shifted one */
    float big[7] = {1000, 1001, 1002, 999, 998, 1000, 1003}, small[7];
    for (int i = 0; i < 7; i++)
        small[i] = big[i] - 1000.0f;
    int32_t lab = 2;
    double lb = nad_tr_softmax_xent(big, &lab, 1, 7, NULL, NULL);
    double ls = nad_tr_softmax_xent(small, &lab, 1, 7, NULL, NULL);
    assert_true(isfinite(lb));
    assert_float_equal(lb, ls, 1e-4);
    free_case(&g);
}

/* ---- optimiser and schedules ------------------------------------------------ */

static void test_sgd_and_schedules(void **state)
{
    (void)state;
    /* two steps of SGD against the formula unrolled by hand */
    float w[1] = {1.0f}, v[1] = {0.0f}, g1[1] = {0.5f};
    nad_sgd_update(w, g1, v, 1, 0.1f, 0.9f, 0, 0.01f);
    /* g = 0.5 + 0.01 = 0.51; v = 0.51; w = 1 - 0.051 */
    assert_float_equal(w[0], 0.949f, 1e-6);
    nad_sgd_update(w, g1, v, 1, 0.1f, 0.9f, 1, 0.01f);
    /* g = 0.5 + 0.00949 = 0.50949; v = 0.459 + 0.50949 = 0.96849; nesterov g = 0.50949 + 0.871641 */
    assert_float_equal(w[0], 0.949f - 0.1f * (0.50949f + 0.9f * 0.96849f), 1e-6);

    nad_train_config cfg;
    nad_train_config_defaults(&cfg);
    cfg.lr = 1.0;
    assert_float_equal(nad_lr_at(&cfg, 57, 100), 1.0, 0);
    cfg.schedule = NAD_LR_STEP;
    cfg.step_size = 10;
    cfg.step_gamma = 0.5;
    assert_float_equal(nad_lr_at(&cfg, 9, 100), 1.0, 1e-12);
    assert_float_equal(nad_lr_at(&cfg, 25, 100), 0.25, 1e-12);
    cfg.schedule = NAD_LR_COSINE;
    assert_float_equal(nad_lr_at(&cfg, 0, 100), 1.0, 1e-12);
    assert_float_equal(nad_lr_at(&cfg, 50, 100), 0.5, 1e-12);
    assert_true(nad_lr_at(&cfg, 99, 100) < 0.01);
    cfg.schedule = NAD_LR_ONECYCLE;
    assert_float_equal(nad_lr_at(&cfg, 0, 100), 1.0 / 25, 1e-9);
    assert_float_equal(nad_lr_at(&cfg, 29, 100), 1.0, 1e-9); /* peak at pct*total - 1 */
    assert_float_equal(nad_lr_at(&cfg, 99, 100), 1.0 / 25 / 1e4, 1e-9);
    assert_true(nad_lr_at(&cfg, 60, 100) < 1.0 && nad_lr_at(&cfg, 60, 100) > 0.04);
}

/* Augmentation: a flip mirrors, a crop shifts and fills with normalised 0. */
static void test_augment(void **state)
{
    (void)state;
    nad_train_config cfg;
    nad_train_config_defaults(&cfg);
    cfg.flip = 1;
    cfg.crop_pad = 2;
    float x[2 * 36], orig[2 * 36], scratch[36];
    for (int i = 0; i < 72; i++)
        orig[i] = x[i] = (float)i;
    nad_rng r;
    nad_rng_seed(&r, 3);
    nad_augment_batch(x, 2, 1, 6, 6, &cfg, &r, scratch);
    /* replay the draws to predict the result */
    nad_rng_seed(&r, 3);
    float zero = -cfg.mean[0] / cfg.std[0];
    for (int i = 0; i < 2; i++) {
        int dy = (int)nad_rng_below(&r, 5) - 2, dx = (int)nad_rng_below(&r, 5) - 2;
        int flip = (int)(nad_rng_u64(&r) >> 63);
        for (int yy = 0; yy < 6; yy++)
            for (int xx = 0; xx < 6; xx++) {
                int sy = yy + dy, sx = (flip ? 5 - xx : xx) + dx;
                float want = sy >= 0 && sy < 6 && sx >= 0 && sx < 6 ? orig[i * 36 + sy * 6 + sx] : zero;
                assert_float_equal(x[i * 36 + yy * 6 + xx], want, 0);
            }
    }
}

static void test_split(void **state)
{
    (void)state;
    int64_t *tr, *ho, ntr;
    nad_err e;
    assert_int_equal(nad_train_split(1000, 100, 5, &tr, &ntr, &ho, &e), NAD_OK);
    assert_int_equal(ntr, 900);
    char seen[1000] = {0};
    for (int i = 0; i < 900; i++)
        seen[tr[i]]++;
    for (int i = 0; i < 100; i++)
        seen[ho[i]]++;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(seen[i], 1);
    int64_t *tr2, *ho2, ntr2;
    assert_int_equal(nad_train_split(1000, 100, 5, &tr2, &ntr2, &ho2, &e), NAD_OK);
    assert_memory_equal(ho, ho2, 100 * sizeof *ho);
    free(tr2);
    free(ho2);
    assert_int_equal(nad_train_split(1000, 100, 6, &tr2, &ntr2, &ho2, &e), NAD_OK);
    assert_true(memcmp(ho, ho2, 100 * sizeof *ho) != 0);
    free(tr);
    free(ho);
    free(tr2);
    free(ho2);
    assert_int_equal(nad_train_split(10, 10, 1, &tr, &ntr, &ho, &e), NAD_EINVAL);
    assert_null(tr);
}

int main(void)
{
    nad_rng_seed(&test_rng, 12345);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_grad),       cmocka_unit_test(test_gemm_grad),
        cmocka_unit_test(test_binary_grad),     cmocka_unit_test(test_act_grad),
        cmocka_unit_test(test_pool_grad),       cmocka_unit_test(test_avgpool_values),
        cmocka_unit_test(test_global_pool_grad), cmocka_unit_test(test_bn_grad),
        cmocka_unit_test(test_layout_grad),     cmocka_unit_test(test_dropout_grad),
        cmocka_unit_test(test_loss_grad),       cmocka_unit_test(test_sgd_and_schedules),
        cmocka_unit_test(test_augment),         cmocka_unit_test(test_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
