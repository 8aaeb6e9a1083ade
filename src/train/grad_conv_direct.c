/*
 * Direct convolution paths that skip im2col where it is pure overhead:
 *   - pointwise (1x1, stride 1, no padding, one group): the image itself is
 *     the column matrix, so every image is one GEMM straight from x into y,
 *     and backward needs neither a gather nor col2im;
 *   - depthwise (group == channels == output channels): each output plane is
 *     one small 2-D correlation, done with loops over the valid output range
 *     of each tap (im2col would copy every pixel kh*kw times for a GEMM with
 *     a single row).
 * Both keep the determinism rules of grad.h: images are summed in order into
 * dW, and parallel loops split only independent channels/planes.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "train/conv_direct.h"
#include "train/gemm.h"
#include "train/parallel.h"
#include "train/reduce.h"

int nad_tr_conv_is_pointwise(const nad_tr_conv *s)
{
    return s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 && s->pt == 0 && s->pl == 0 && s->group == 1 &&
           s->oh == s->h && s->ow == s->w;
}

int nad_tr_conv_is_depthwise(const nad_tr_conv *s)
{
    return s->group == s->c && s->m == s->c && s->group > 1 && s->kh * s->kw <= 64;
}

/* ---- pointwise ------------------------------------------------------------- */

typedef struct pw_job {
    const nad_tr_conv *s;
    const float *dy;
    float *db;
} pw_job;

/* Bias gradient of output channels [lo, hi): images in order. */
static void pw_bias_range(void *arg, int64_t lo, int64_t hi)
{
    const pw_job *j = arg;
    const nad_tr_conv *s = j->s;
    size_t hw = (size_t)s->oh * s->ow;
    for (int64_t oc = lo; oc < hi; oc++) {
        double acc = 0.0;
        for (int n = 0; n < s->n; n++)
            acc += nad_sum(j->dy + ((size_t)n * s->m + (size_t)oc) * hw, (int64_t)hw);
        j->db[oc] += (float)acc;
    }
}

void nad_tr_conv_pointwise_forward(const nad_tr_conv *s, const float *x, const float *w, const float *b, float *y)
{
    int hw = s->h * s->w;
    for (int n = 0; n < s->n; n++) {
        float *yn = y + (size_t)n * s->m * hw;
        nad_tr_sgemm(s->threads, 0, 0, s->m, hw, s->c, 1.0f, w, s->c, x + (size_t)n * s->c * hw, hw, 0.0f, yn, hw);
        if (b)
            for (int oc = 0; oc < s->m; oc++)
                for (int p = 0; p < hw; p++)
                    yn[(size_t)oc * hw + p] += b[oc];
    }
}

void nad_tr_conv_pointwise_backward(const nad_tr_conv *s, const float *x, const float *w, const float *dy, float *dx,
                                    float *dw, float *db)
{
    int hw = s->h * s->w;
    if (db) {
        pw_job j = {s, dy, db};
        nad_par_for(s->threads, s->m, 1, pw_bias_range, &j);
    }
    for (int n = 0; n < s->n; n++) {
        const float *dyn = dy + (size_t)n * s->m * hw;
        if (dw) /* dW [m x c] += dY_n [m x hw] X_n^T */
            nad_tr_sgemm(s->threads, 0, 1, s->m, s->c, hw, 1.0f, dyn, hw, x + (size_t)n * s->c * hw, hw, 1.0f, dw,
                         s->c);
        if (dx) /* dX_n [c x hw] += W^T dY_n */
            nad_tr_sgemm(s->threads, 1, 0, s->c, hw, s->m, 1.0f, w, s->c, dyn, hw, 1.0f, dx + (size_t)n * s->c * hw,
                         hw);
    }
}

/* ---- depthwise ------------------------------------------------------------- */

/* Output columns [*o0, *o1) whose tap at column offset ix0 + ox*sw lies in
 * [0, w). */
static void valid_cols(int ix0, int sw, int w, int ow, int *o0, int *o1)
{
    int a = ix0 < 0 ? (-ix0 + sw - 1) / sw : 0;
    int b = ix0 < w ? (w - ix0 + sw - 1) / sw : 0;
    if (b > ow)
        b = ow;
    if (b < a)
        b = a;
    *o0 = a;
    *o1 = b;
}

typedef struct dw_job {
    const nad_tr_conv *s;
    const float *x, *w, *b, *dy;
    float *y, *dx, *dw, *db;
} dw_job;

/* Forward of planes [lo, hi) (plane = image * channels + channel). */
static void dw_fwd_range(void *arg, int64_t lo, int64_t hi)
{
    const dw_job *j = arg;
    const nad_tr_conv *s = j->s;
    size_t hw = (size_t)s->h * s->w, ohw = (size_t)s->oh * s->ow;
    for (int64_t p = lo; p < hi; p++) {
        int c = (int)(p % s->c);
        const float *xp = j->x + (size_t)p * hw, *wc = j->w + (size_t)c * s->kh * s->kw;
        float *yp = j->y + (size_t)p * ohw;
        float bias = j->b ? j->b[c] : 0.0f;
        for (size_t q = 0; q < ohw; q++)
            yp[q] = bias;
        /* tap-major: the valid column range of a tap is the same for every row */
        for (int i = 0; i < s->kh; i++)
            for (int jj = 0; jj < s->kw; jj++) {
                float wv = wc[i * s->kw + jj];
                int ix0 = -s->pl + jj * s->dw, o0, o1;
                valid_cols(ix0, s->sw, s->w, s->ow, &o0, &o1);
                for (int oy = 0; oy < s->oh; oy++) {
                    int iy = oy * s->sh - s->pt + i * s->dh;
                    if (iy < 0 || iy >= s->h)
                        continue;
                    /* row base as an index: ix0 may be negative, o0 skips it */
                    const float *xr = xp + (ptrdiff_t)iy * s->w;
                    float *yr = yp + (size_t)oy * s->ow;
                    if (s->sw == 1)
                        for (int ox = o0; ox < o1; ox++)
                            yr[ox] += wv * xr[ix0 + ox];
                    else
                        for (int ox = o0; ox < o1; ox++)
                            yr[ox] += wv * xr[ix0 + ox * s->sw];
                }
            }
    }
}

typedef float dw_v16 __attribute__((vector_size(64)));

/*
 * dW and db of channels [lo, hi) for column stride 1 without dX (the caller
 * got dX elsewhere): each plane and its dY are copied zero-padded (dY rows to
 * a multiple of 16 columns) so every tap is a run of whole 16-lane products
 * summed in vector lanes, then across lanes in a fixed order.  The scalar loop
 * below keeps one running sum per tap, a serial add chain that was ~25% of a
 * MobileNetV2 step; the padding zeros add nothing.
 */
static int dw_bwd_dw_range(const dw_job *j, int64_t lo, int64_t hi)
{
    const nad_tr_conv *s = j->s;
    const size_t hw = (size_t)s->h * s->w, ohw = (size_t)s->oh * s->ow;
    const int kk = s->kh * s->kw, owp = (s->ow + 15) / 16 * 16;
    const int hp = (s->oh - 1) * s->sh + (s->kh - 1) * s->dh + 1, wp = owp + (s->kw - 1) * s->dw;
    float *xpad = malloc(((size_t)hp * wp + (size_t)s->oh * owp) * sizeof(float));
    if (!xpad)
        return 0; /* no room for the padded planes: the caller's scalar loop needs none */
    float *gpad = xpad + (size_t)hp * wp;
    for (int64_t c = lo; c < hi; c++) {
        double gw[64] = {0}, gb = 0.0; /* kk <= 64 is checked by the caller */
        for (int n = 0; n < s->n; n++) {
            size_t p = (size_t)n * s->c + (size_t)c;
            const float *xp = j->x + p * hw, *gp = j->dy + p * ohw;
            if (j->db)
                gb += nad_sum(gp, (int64_t)ohw);
            for (int r = 0; r < hp; r++)
                for (int q = 0; q < wp; q++) {
                    int iy = r - s->pt, ix = q - s->pl;
                    xpad[(size_t)r * wp + q] =
                        iy >= 0 && iy < s->h && ix >= 0 && ix < s->w ? xp[(size_t)iy * s->w + ix] : 0.0f;
                }
            for (int oy = 0; oy < s->oh; oy++)
                for (int q = 0; q < owp; q++)
                    gpad[(size_t)oy * owp + q] = q < s->ow ? gp[(size_t)oy * s->ow + q] : 0.0f;
            for (int i = 0; i < s->kh; i++)
                for (int jj = 0; jj < s->kw; jj++) {
                    dw_v16 acc = {0};
                    for (int oy = 0; oy < s->oh; oy++) {
                        const float *xr = xpad + (size_t)(oy * s->sh + i * s->dh) * wp + jj * s->dw;
                        const float *gr = gpad + (size_t)oy * owp;
                        for (int ox = 0; ox < owp; ox += 16) {
                            dw_v16 a, b;
                            memcpy(&a, gr + ox, sizeof a);
                            memcpy(&b, xr + ox, sizeof b);
                            acc += a * b;
                        }
                    }
                    float sum = 0.0f;
                    for (int l = 0; l < 16; l++)
                        sum += acc[l];
                    gw[i * s->kw + jj] += sum;
                }
        }
        if (j->dw)
            for (int q = 0; q < kk; q++)
                j->dw[(size_t)c * kk + q] += (float)gw[q];
        if (j->db)
            j->db[c] += (float)gb;
    }
    free(xpad);
    return 1;
}

/* Backward of channels [lo, hi): each thread owns whole channels, i.e. the
 * channel's dW/db entries and its dX planes in every image. */
static void dw_bwd_range(void *arg, int64_t lo, int64_t hi)
{
    const dw_job *j = arg;
    const nad_tr_conv *s = j->s;
    if (s->sw == 1 && !j->dx && j->dw && dw_bwd_dw_range(j, lo, hi))
        return;
    size_t hw = (size_t)s->h * s->w, ohw = (size_t)s->oh * s->ow;
    int kk = s->kh * s->kw;
    for (int64_t c = lo; c < hi; c++) {
        const float *wc = j->w + (size_t)c * kk;
        double gw[64] = {0}, gb = 0.0; /* kk <= 64 is checked by the caller */
        for (int n = 0; n < s->n; n++) {
            size_t p = (size_t)n * s->c + (size_t)c;
            const float *xp = j->x + p * hw, *gp = j->dy + p * ohw;
            float *dxp = j->dx ? j->dx + p * hw : NULL;
            if (j->db)
                gb += nad_sum(gp, (int64_t)ohw);
            for (int i = 0; i < s->kh; i++)
                for (int jj = 0; jj < s->kw; jj++) {
                    float wv = wc[i * s->kw + jj], acc = 0.0f;
                    int ix0 = -s->pl + jj * s->dw, o0, o1;
                    valid_cols(ix0, s->sw, s->w, s->ow, &o0, &o1);
                    for (int oy = 0; oy < s->oh; oy++) {
                        int iy = oy * s->sh - s->pt + i * s->dh;
                        if (iy < 0 || iy >= s->h)
                            continue;
                        const float *xr = xp + (size_t)iy * s->w, *gr = gp + (size_t)oy * s->ow;
                        float *dr = dxp ? dxp + (size_t)iy * s->w : NULL;
                        if (s->sw == 1) {
                            for (int ox = o0; ox < o1; ox++)
                                acc += gr[ox] * xr[ix0 + ox];
                            if (dr)
                                for (int ox = o0; ox < o1; ox++)
                                    dr[ix0 + ox] += wv * gr[ox];
                        } else {
                            for (int ox = o0; ox < o1; ox++)
                                acc += gr[ox] * xr[ix0 + ox * s->sw];
                            if (dr)
                                for (int ox = o0; ox < o1; ox++)
                                    dr[ix0 + ox * s->sw] += wv * gr[ox];
                        }
                    }
                    gw[i * s->kw + jj] += acc;
                }
        }
        if (j->dw)
            for (int q = 0; q < kk; q++)
                j->dw[(size_t)c * kk + q] += (float)gw[q];
        if (j->db)
            j->db[c] += (float)gb;
    }
}

void nad_tr_conv_depthwise_forward(const nad_tr_conv *s, const float *x, const float *w, const float *b, float *y)
{
    dw_job j = {s, x, w, b, NULL, y, NULL, NULL, NULL};
    nad_par_for(s->threads, (int64_t)s->n * s->c, 1 + (1 << 14) / ((int64_t)s->oh * s->ow * s->kh * s->kw + 1),
                dw_fwd_range, &j);
}

void nad_tr_conv_depthwise_backward(const nad_tr_conv *s, const float *x, const float *w, const float *dy, float *dx,
                                    float *dw, float *db)
{
    dw_job j = {s, x, w, NULL, dy, NULL, dx, dw, db};
    nad_par_for(s->threads, s->c, 1, dw_bwd_range, &j);
}
