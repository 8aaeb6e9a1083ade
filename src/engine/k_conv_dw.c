/*
 * Direct depthwise convolution (group == C == M, one filter per channel), as in
 * MobileNetV2's 3x3 layers.  im2col would copy every input value KH*KW times
 * for a GEMM with a single output row, so instead each output row accumulates
 * KH*KW shifted, scaled input rows.
 *
 * To keep the inner loop branch-free, unit-stride and a whole number of
 * 16-float vectors, each input plane is first copied into a zero-padded
 * scratch plane split into sw column phases (phase f holds padded columns f,
 * f + sw, f + 2 sw, ...): then tap (ky, kx) of output row p reads the
 * contiguous run phase[(kx*dw) % sw] row (p*sh + ky*dh) from column
 * (kx*dw) / sw, for any stride.  Output rows are accumulated in registers
 * (GCC vector extensions → AVX-512 under -march=native) and the bias and
 * activation are applied before the store.
 */
#include <string.h>

#include "engine/kernels.h"

typedef float v16 __attribute__((vector_size(64)));

/* Widest output row the register path handles (in 16-float vectors). */
#define DW_MAX_VEC 8

/* Geometry of the padded, phase-split scratch plane. */
typedef struct dw_layout {
    int rows;  /* padded rows: (P-1)*sh + (KH-1)*dh + 1 */
    int nvec;  /* output row width in vectors           */
    int width; /* floats per phase row                   */
} dw_layout;

static dw_layout dw_layout_of(const nad_conv_geom *g)
{
    dw_layout d;
    d.rows = (g->p - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    d.nvec = (g->q + 15) / 16;
    d.width = 16 * d.nvec + ((g->kw - 1) * g->dw) / g->sw + 1;
    return d;
}

/* See kernels.h (nad_k_conv_ws_floats uses it for depthwise convs). */
size_t nad_k_conv_dw_ws_floats(const nad_conv_geom *g)
{
    dw_layout d = dw_layout_of(g);
    if (d.nvec > DW_MAX_VEC)
        return 0;
    return (size_t)d.rows * g->sw * d.width;
}

/* Fills the phase-split padded copy of one input plane: zeros outside the
 * image, one contiguous copy (stride 1) or a strided gather per row inside. */
static void fill_scratch(const nad_conv_geom *g, const dw_layout *d, const float *xc, float *s)
{
    const int H = g->h, W = g->w, sw = g->sw;
    for (int r = 0; r < d->rows; r++) {
        const int iy = r - g->pt;
        for (int f = 0; f < sw; f++) {
            float *row = s + ((size_t)r * sw + f) * d->width;
            if (iy < 0 || iy >= H) {
                memset(row, 0, (size_t)d->width * sizeof(float));
                continue;
            }
            /* column j of phase f is input column j*sw + f - pl: valid for j in [j0, j1) */
            const int base = f - g->pl;
            int j0 = base >= 0 ? 0 : (-base + sw - 1) / sw;
            int j1 = W - 1 - base >= 0 ? (W - 1 - base) / sw + 1 : 0;
            if (j1 > d->width)
                j1 = d->width;
            if (j0 > j1)
                j0 = j1;
            const float *xr = xc + (size_t)iy * W;
            for (int j = 0; j < j0; j++)
                row[j] = 0.f;
            if (sw == 1) {
                memcpy(row + j0, xr + j0 + base, (size_t)(j1 - j0) * sizeof(float));
            } else {
                for (int j = j0; j < j1; j++)
                    row[j] = xr[j * sw + base];
            }
            for (int j = j1; j < d->width; j++)
                row[j] = 0.f;
        }
    }
}

/* All output rows of one plane with nvec (a compile-time constant at each call)
 * vectors of accumulators kept in registers. */
static inline __attribute__((always_inline)) void dw_rows(const nad_conv_geom *g, const dw_layout *d,
                                                         const float *ws, const float *wc, float b, float *yc,
                                                         const int nvec)
{
    const int sw = g->sw, Q = g->q;
    for (int p = 0; p < g->p; p++) {
        v16 acc[DW_MAX_VEC];
        for (int v = 0; v < nvec; v++)
            acc[v] = (v16){0} + b;
        for (int ky = 0; ky < g->kh; ky++) {
            const int r = p * g->sh + ky * g->dh;
            for (int kx = 0; kx < g->kw; kx++) {
                const int off = kx * g->dw;
                const float *src = ws + ((size_t)r * sw + off % sw) * d->width + off / sw;
                const float wv = wc[ky * g->kw + kx];
                for (int v = 0; v < nvec; v++) {
                    v16 xv;
                    memcpy(&xv, src + 16 * v, sizeof xv);
                    acc[v] += wv * xv;
                }
            }
        }
        float row[16 * DW_MAX_VEC];
        memcpy(row, acc, (size_t)nvec * sizeof(v16));
        memcpy(yc + (size_t)p * Q, row, (size_t)Q * sizeof(float));
    }
}

/* The simple loop for rows too wide for the register path (rare). */
static void dw_plane_plain(const nad_conv_geom *g, const float *xc, const float *wc, float bias, float *yc)
{
    for (int p = 0; p < g->p; p++)
        for (int q = 0; q < g->q; q++) {
            float acc = bias;
            for (int ky = 0; ky < g->kh; ky++) {
                const int iy = p * g->sh - g->pt + ky * g->dh;
                if (iy < 0 || iy >= g->h)
                    continue;
                for (int kx = 0; kx < g->kw; kx++) {
                    const int ix = q * g->sw - g->pl + kx * g->dw;
                    if (ix >= 0 && ix < g->w)
                        acc += wc[ky * g->kw + kx] * xc[(size_t)iy * g->w + ix];
                }
            }
            yc[(size_t)p * g->q + q] = acc;
        }
}

/* See kernels.h: one image; ws holds nad_k_conv_dw_ws_floats(g) floats. */
void nad_k_conv_depthwise(const nad_conv_geom *g, const float *x, const float *w, const float *bias, const nad_act *act,
                          float *y, float *ws)
{
    const dw_layout d = dw_layout_of(g);
    const int kk = g->kh * g->kw;
    const size_t pq = (size_t)g->p * g->q;
    for (int c = 0; c < g->c; c++) {
        const float *xc = x + (size_t)c * g->h * g->w;
        const float *wc = w + (size_t)c * kk;
        const float b = bias ? bias[c] : 0.f;
        float *yc = y + (size_t)c * pq;
        if (d.nvec > DW_MAX_VEC || !ws) {
            dw_plane_plain(g, xc, wc, b, yc);
        } else {
            fill_scratch(g, &d, xc, ws);
            if (d.nvec == 1)
                dw_rows(g, &d, ws, wc, b, yc, 1);
            else if (d.nvec == 2)
                dw_rows(g, &d, ws, wc, b, yc, 2);
            else
                dw_rows(g, &d, ws, wc, b, yc, d.nvec);
        }
        nad_k_bias_act(act, 0.f, yc, pq);
    }
}
