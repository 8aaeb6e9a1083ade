/*
 * 2-D convolution, NCHW input, OIHW weights: im2col + GEMM for general
 * convs, a plain GEMM on the input for 1x1 stride-1 unpadded convs, and a direct
 * loop for depthwise convs (k_conv_dw.c).  Bias and the fused activation are
 * applied per output channel right after that channel's GEMM rows are
 * written, while they are still in cache.
 *
 * Per-image GEMMs (k_sgemm.c) write straight into the NCHW output
 * (Y_img[M, P*Q] = W[M, C*KH*KW] * col[C*KH*KW, P*Q]), so no scatter pass is
 * needed; the batch is spread over threads by the plan (each thread owns whole
 * images).
 */
#include <string.h>

#include "engine/conv_range.h"
#include "engine/kernels.h"

/* Workspace: one group's column matrix, unless the conv needs none. */
size_t nad_k_conv_ws_floats(const nad_conv_geom *g)
{
    int cg = g->c / g->group;
    if (g->group == g->c && g->group == g->m && g->group > 1)
        return nad_k_conv_dw_ws_floats(g); /* depthwise: direct, padded plane */
    if (g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 && g->pl == 0 && g->p == g->h &&
        g->q == g->w)
        return 0; /* 1x1: GEMM on the input */
    return (size_t)cg * g->kh * g->kw * (size_t)g->p * g->q;
}

/*
 * col[(ci*KH + ky)*KW + kx, p*Q + q] = x[c0+ci, p*sh - pt + ky*dh, q*sw - pl + kx*dw]
 * or 0 outside the image.  The valid q range of each row is computed once
 * (nad_conv_valid_range) so the inner copy has no branches.
 */
void nad_k_im2col(const nad_conv_geom *g, const float *x, int c0, int cn, float *col)
{
    const int P = g->p, Q = g->q, H = g->h, W = g->w;
    for (int ci = 0; ci < cn; ci++) {
        const float *xc = x + (size_t)(c0 + ci) * H * W;
        for (int ky = 0; ky < g->kh; ky++) {
            for (int kx = 0; kx < g->kw; kx++) {
                float *row = col + ((size_t)(ci * g->kh + ky) * g->kw + kx) * P * Q;
                int off = kx * g->dw - g->pl;
                int q0, q1;
                nad_conv_valid_range(off, g->sw, W, Q, &q0, &q1);
                for (int p = 0; p < P; p++) {
                    float *r = row + (size_t)p * Q;
                    int iy = p * g->sh - g->pt + ky * g->dh;
                    if (iy < 0 || iy >= H || q0 >= q1) {
                        memset(r, 0, (size_t)Q * sizeof(float));
                        continue;
                    }
                    const float *xr = xc + (size_t)iy * W;
                    for (int q = 0; q < q0; q++)
                        r[q] = 0.f;
                    if (g->sw == 1) {
                        memcpy(r + q0, xr + q0 + off, (size_t)(q1 - q0) * sizeof(float));
                    } else {
                        for (int q = q0; q < q1; q++)
                            r[q] = xr[q * g->sw + off];
                    }
                    for (int q = q1; q < Q; q++)
                        r[q] = 0.f;
                }
            }
        }
    }
}

/* See kernels.h for the contract. */
void nad_k_conv(const nad_conv_geom *g, int n, const float *x, const float *w, const float *bias, const nad_act *act,
                float *y, float *ws)
{
    const size_t in_img = (size_t)g->c * g->h * g->w, pq = (size_t)g->p * g->q, out_img = (size_t)g->m * pq;
    const int cg = g->c / g->group, mg = g->m / g->group, kk = g->kh * g->kw;
    if (g->group == g->c && g->group == g->m && g->group > 1) {
        for (int i = 0; i < n; i++)
            nad_k_conv_depthwise(g, x + i * in_img, w, bias, act, y + i * out_img, ws);
        return;
    }
    const int direct_1x1 = nad_k_conv_ws_floats(g) == 0;
    for (int i = 0; i < n; i++) {
        const float *xi = x + i * in_img;
        float *yi = y + i * out_img;
        for (int gi = 0; gi < g->group; gi++) {
            const float *b;
            if (direct_1x1) {
                b = xi + (size_t)gi * cg * pq;
            } else {
                nad_k_im2col(g, xi, gi * cg, cg, ws);
                b = ws;
            }
            nad_k_sgemm(mg, (int)pq, cg * kk, w + (size_t)gi * mg * cg * kk, cg * kk, b, (int)pq,
                        bias ? bias + (size_t)gi * mg : NULL, act, yi + (size_t)gi * mg * pq, (int)pq);
        }
    }
}
