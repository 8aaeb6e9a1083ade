/*
 * Direct depthwise convolution (group == C == M, one filter per channel), as in
 * MobileNetV2's 3x3 layers.  im2col would copy every input value KH*KW times
 * for a GEMM with a single output row, so instead each output plane
 * accumulates KH*KW shifted, scaled input rows.  The inner loop runs over a
 * precomputed valid column range, so it has no branches and (for stride 1)
 * unit stride: gcc -O3 -march=native turns it into FMA vector code.
 */
#include "engine/conv_range.h"
#include "engine/kernels.h"

/* See kernels.h: one image, y[c] = act(bias[c] + sum_taps w[c,ky,kx] * shifted x[c]). */
void nad_k_conv_depthwise(const nad_conv_geom *g, const float *x, const float *w, const float *bias, const nad_act *act,
                          float *y)
{
    const int P = g->p, Q = g->q, H = g->h, W = g->w, kk = g->kh * g->kw;
    const size_t pq = (size_t)P * Q;
    for (int c = 0; c < g->c; c++) {
        const float *xc = x + (size_t)c * H * W;
        const float *wc = w + (size_t)c * kk;
        float *yc = y + (size_t)c * pq;
        for (size_t i = 0; i < pq; i++)
            yc[i] = 0.f;
        for (int ky = 0; ky < g->kh; ky++) {
            for (int kx = 0; kx < g->kw; kx++) {
                const float wv = wc[ky * g->kw + kx];
                const int off = kx * g->dw - g->pl;
                int q0, q1;
                nad_conv_valid_range(off, g->sw, W, Q, &q0, &q1);
                for (int p = 0; p < P; p++) {
                    const int iy = p * g->sh - g->pt + ky * g->dh;
                    if (iy < 0 || iy >= H)
                        continue;
                    const float *restrict xr = xc + (size_t)iy * W;
                    float *restrict yr = yc + (size_t)p * Q;
                    if (g->sw == 1) {
                        for (int q = q0; q < q1; q++)
                            yr[q] += wv * xr[q + off];
                    } else {
                        const int s = g->sw;
                        for (int q = q0; q < q1; q++)
                            yr[q] += wv * xr[q * s + off];
                    }
                }
            }
        }
        nad_k_bias_act(act, bias ? bias[c] : 0.f, yc, pq);
    }
}
