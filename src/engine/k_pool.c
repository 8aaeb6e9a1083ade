/*
 * Pooling: MaxPool and AveragePool with ONNX semantics (pads, strides,
 * dilations, ceil_mode through the output size), global average and max.
 */
#include <float.h>

#include "engine/kernels.h"

/* See kernels.h.  A window with no tap inside the image yields -FLT_MAX; ONNX
 * output sizes (ceil_mode included) start every window inside the padded
 * image, so with pads smaller than the kernel that does not happen. */
void nad_k_maxpool(const nad_pool_geom *g, int n, const float *x, float *y)
{
    const int H = g->h, W = g->w, P = g->p, Q = g->q;
    for (int64_t pl = 0; pl < (int64_t)n * g->c; pl++) {
        const float *xc = x + pl * H * W;
        float *yc = y + pl * P * Q;
        for (int p = 0; p < P; p++) {
            for (int q = 0; q < Q; q++) {
                float mx = -FLT_MAX;
                int any = 0;
                for (int ky = 0; ky < g->kh; ky++) {
                    int iy = p * g->sh - g->pt + ky * g->dh;
                    if (iy < 0 || iy >= H)
                        continue;
                    for (int kx = 0; kx < g->kw; kx++) {
                        int ix = q * g->sw - g->pl + kx * g->dw;
                        if (ix < 0 || ix >= W)
                            continue;
                        float v = xc[iy * W + ix];
                        if (!any || v > mx)
                            mx = v;
                        any = 1;
                    }
                }
                yc[p * Q + q] = mx;
            }
        }
    }
}

/*
 * Number of taps of a window starting at s (tap t at s + t*d, t < k) that lie
 * in [lo, hi).
 */
static int taps_in(int s, int k, int d, int lo, int hi)
{
    int cnt = 0;
    for (int t = 0; t < k; t++) {
        int v = s + t * d;
        cnt += v >= lo && v < hi;
    }
    return cnt;
}

/*
 * See kernels.h.  Divisor with count_include_pad: taps inside the padded input
 * [-pad_begin, size + pad_end) — a ceil_mode window sticking out past the end
 * pad is not counted, as in PyTorch and onnxruntime; without it: taps inside the
 * image.
 */
void nad_k_avgpool(const nad_pool_geom *g, int n, const float *x, float *y)
{
    const int H = g->h, W = g->w, P = g->p, Q = g->q;
    for (int64_t pl = 0; pl < (int64_t)n * g->c; pl++) {
        const float *xc = x + pl * H * W;
        float *yc = y + pl * P * Q;
        for (int p = 0; p < P; p++) {
            const int sy = p * g->sh - g->pt;
            const int ny = g->count_include_pad ? taps_in(sy, g->kh, g->dh, -g->pt, H + g->pb)
                                                : taps_in(sy, g->kh, g->dh, 0, H);
            for (int q = 0; q < Q; q++) {
                const int sx = q * g->sw - g->pl;
                const int nx = g->count_include_pad ? taps_in(sx, g->kw, g->dw, -g->pl, W + g->pr)
                                                    : taps_in(sx, g->kw, g->dw, 0, W);
                float sum = 0.f;
                for (int ky = 0; ky < g->kh; ky++) {
                    int iy = sy + ky * g->dh;
                    if (iy < 0 || iy >= H)
                        continue;
                    for (int kx = 0; kx < g->kw; kx++) {
                        int ix = sx + kx * g->dw;
                        if (ix >= 0 && ix < W)
                            sum += xc[iy * W + ix];
                    }
                }
                const int cnt = ny * nx;
                yc[p * Q + q] = cnt > 0 ? sum / (float)cnt : 0.f;
            }
        }
    }
}

/* See kernels.h. */
void nad_k_global_avgpool(int64_t nc, int64_t hw, const float *x, float *y)
{
    for (int64_t i = 0; i < nc; i++) {
        const float *xr = x + i * hw;
        float s = 0.f;
        for (int64_t j = 0; j < hw; j++)
            s += xr[j];
        y[i] = hw > 0 ? s / (float)hw : 0.f;
    }
}

/* See kernels.h. */
void nad_k_global_maxpool(int64_t nc, int64_t hw, const float *x, float *y)
{
    for (int64_t i = 0; i < nc; i++) {
        const float *xr = x + i * hw;
        float m = hw > 0 ? xr[0] : 0.f;
        for (int64_t j = 1; j < hw; j++)
            m = xr[j] > m ? xr[j] : m;
        y[i] = m;
    }
}
