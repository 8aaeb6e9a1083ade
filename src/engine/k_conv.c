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
#include <stdint.h>
#include <string.h>

#include "engine/conv_range.h"
#include "engine/kernels.h"

/*
 * Stride-1 convs skip im2col ("implicit GEMM"): the image is copied once into
 * a zero-padded plane per channel, Hp x Wp with Hp = P + (KH-1)*dh and
 * Wp = Q + (KW-1)*dw.  Output pixel (p, q) of tap (ky, kx) then reads padded
 * element (p + ky*dh) * Wp + q + kx*dw, so in "padded-width" output coordinates
 * j = p*Wp + q every row of the virtual column matrix is one contiguous run of
 * the padded plane starting at c*Hp*Wp + ky*dh*Wp + kx*dw: the GEMM reads it
 * in place through per-row offsets.  It computes Wp/Q times the needed
 * columns (the last KW-1 of each row are junk) and a compaction pass copies the
 * Q real ones out, adding bias and activation.  Measured on 16-channel 28x28
 * 3x3 convs: im2col cost 1.7x the GEMM itself (a memcpy per 28-float row
 * segment); the padded copy is ~KH*KW times smaller.
 */
typedef struct implicit_layout {
    int hp, wp;       /* padded plane                                   */
    int np;           /* output columns computed: ceil32(P * Wp)         */
    size_t plane;     /* hp * wp                                         */
    size_t pad_floats; /* padded planes + read slack past the last plane */
    size_t ws_floats;  /* pad + output tile (M x np) + offsets (K int64)  */
} implicit_layout;

static implicit_layout implicit_layout_of(const nad_conv_geom *g)
{
    implicit_layout L;
    const int cg = g->c / g->group, mg = g->m / g->group, K = cg * g->kh * g->kw;
    L.hp = g->p + (g->kh - 1) * g->dh;
    L.wp = g->q + (g->kw - 1) * g->dw;
    L.np = (g->p * L.wp + 31) / 32 * 32;
    L.plane = (size_t)L.hp * L.wp;
    /* The GEMM reads up to np columns from each row start; the furthest row
     * start is the last channel's last tap. */
    L.pad_floats = (size_t)g->c * L.plane + (size_t)(L.np - g->p * L.wp) + (size_t)(g->kw - 1) * g->dw + 32;
    L.ws_floats = (2 * (size_t)K + 15) / 16 * 16 + L.pad_floats + (size_t)mg * L.np;
    return L;
}

/* Stride-1 conv of one image through the padded plane (see above). */
static void conv_implicit(const nad_conv_geom *g, const float *x, const float *w, const float *bias, const nad_act *act,
                          float *y, float *ws)
{
    const implicit_layout L = implicit_layout_of(g);
    const int cg = g->c / g->group, mg = g->m / g->group, K = cg * g->kh * g->kw;
    /* ws (64-byte aligned): K row offsets, then padded planes, then the output tile */
    int64_t *boff = (int64_t *)(void *)ws;
    float *xp = ws + (2 * (size_t)K + 15) / 16 * 16, *yt = xp + L.pad_floats;
    /* padded planes */
    for (int c = 0; c < g->c; c++) {
        float *pc = xp + (size_t)c * L.plane;
        const float *xc = x + (size_t)c * g->h * g->w;
        for (int r = 0; r < L.hp; r++) {
            float *pr = pc + (size_t)r * L.wp;
            const int iy = r - g->pt;
            if (iy < 0 || iy >= g->h) {
                memset(pr, 0, (size_t)L.wp * sizeof(float));
                continue;
            }
            int c0 = g->pl, c1 = g->pl + g->w; /* padded columns holding image data */
            if (c1 > L.wp)
                c1 = L.wp;
            const int src0 = c0 < 0 ? -c0 : 0;
            if (c0 < 0)
                c0 = 0;
            if (c0 > L.wp)
                c0 = L.wp;
            for (int i = 0; i < c0; i++)
                pr[i] = 0.f;
            if (c1 > c0)
                memcpy(pr + c0, xc + (size_t)iy * g->w + src0, (size_t)(c1 - c0) * sizeof(float));
            for (int i = c1 > c0 ? c1 : c0; i < L.wp; i++)
                pr[i] = 0.f;
        }
    }
    memset(xp + (size_t)g->c * L.plane, 0, (L.pad_floats - (size_t)g->c * L.plane) * sizeof(float));
    for (int ci = 0; ci < cg; ci++)
        for (int ky = 0; ky < g->kh; ky++)
            for (int kx = 0; kx < g->kw; kx++)
                boff[(ci * g->kh + ky) * g->kw + kx] = (int64_t)ci * (int64_t)L.plane +
                                                       (int64_t)ky * g->dh * L.wp + (int64_t)kx * g->dw;
    const size_t pq = (size_t)g->p * g->q;
    for (int gi = 0; gi < g->group; gi++) {
        nad_k_sgemm_offsets(mg, g->p * L.wp, K, w + (size_t)gi * mg * K, K, xp + (size_t)gi * cg * L.plane, boff,
                            yt, L.np);
        for (int o = 0; o < mg; o++) {
            const int oc = gi * mg + o;
            float *yo = y + (size_t)oc * pq;
            const float *src = yt + (size_t)o * L.np;
            for (int p = 0; p < g->p; p++)
                memcpy(yo + (size_t)p * g->q, src + (size_t)p * L.wp, (size_t)g->q * sizeof(float));
            nad_k_bias_act(act, bias ? bias[oc] : 0.f, yo, pq);
        }
    }
}

/* Workspace: one group's column matrix, unless the conv needs none. */
size_t nad_k_conv_ws_floats(const nad_conv_geom *g)
{
    int cg = g->c / g->group;
    if (g->group == g->c && g->group == g->m && g->group > 1)
        return nad_k_conv_dw_ws_floats(g); /* depthwise: direct, padded plane */
    if (g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 && g->pl == 0 && g->p == g->h &&
        g->q == g->w)
        return 0; /* 1x1: GEMM on the input */
    if (g->sh == 1 && g->sw == 1) {
        const implicit_layout L = implicit_layout_of(g);
        return L.ws_floats;
    }
    return nad_k_packed_floats(g->p * g->q, cg * g->kh * g->kw) + (size_t)g->p * g->q; /* + one row */
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

/*
 * See kernels.h.  Each row of the column matrix is gathered into row (N floats
 * of scratch, like one row of nad_k_im2col), then cut into 32-column pieces
 * that go to their panels; the last, short panel is zero-padded.
 */
void nad_k_im2col_packed(const nad_conv_geom *g, const float *x, int c0, int cn, float *bp, float *row)
{
    const int P = g->p, Q = g->q, H = g->h, W = g->w;
    const int K = cn * g->kh * g->kw, N = P * Q;
    const int full = N / 32 * 32, rest = N - full, last_w = rest > 16 ? 32 : 16;
    for (int ci = 0; ci < cn; ci++) {
        const float *xc = x + (size_t)(c0 + ci) * H * W;
        for (int ky = 0; ky < g->kh; ky++) {
            for (int kx = 0; kx < g->kw; kx++) {
                const int r = (ci * g->kh + ky) * g->kw + kx;
                const int off = kx * g->dw - g->pl;
                int q0, q1;
                nad_conv_valid_range(off, g->sw, W, Q, &q0, &q1);
                for (int p = 0; p < P; p++) {
                    float *d = row + (size_t)p * Q;
                    const int iy = p * g->sh - g->pt + ky * g->dh;
                    if (iy < 0 || iy >= H || q0 >= q1) {
                        memset(d, 0, (size_t)Q * sizeof(float));
                        continue;
                    }
                    const float *xr = xc + (size_t)iy * W;
                    for (int q = 0; q < q0; q++)
                        d[q] = 0.f;
                    if (g->sw == 1) {
                        memcpy(d + q0, xr + q0 + off, (size_t)(q1 - q0) * sizeof(float));
                    } else {
                        for (int q = q0; q < q1; q++)
                            d[q] = xr[q * g->sw + off];
                    }
                    for (int q = q1; q < Q; q++)
                        d[q] = 0.f;
                }
                for (int j = 0; j < full; j += 32)
                    memcpy(bp + (size_t)j * K + (size_t)r * 32, row + j, 32 * sizeof(float));
                if (rest) {
                    float *d = bp + (size_t)full * K + (size_t)r * last_w;
                    memcpy(d, row + full, (size_t)rest * sizeof(float));
                    for (int z = rest; z < last_w; z++)
                        d[z] = 0.f;
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
    if (!direct_1x1 && g->sh == 1 && g->sw == 1) {
        for (int i = 0; i < n; i++)
            conv_implicit(g, x + i * in_img, w, bias, act, y + i * out_img, ws);
        return;
    }
    for (int i = 0; i < n; i++) {
        const float *xi = x + i * in_img;
        float *yi = y + i * out_img;
        for (int gi = 0; gi < g->group; gi++) {
            const float *b;
            if (direct_1x1) {
                b = xi + (size_t)gi * cg * pq;
            } else {
                nad_k_im2col_packed(g, xi, gi * cg, cg, ws, ws + nad_k_packed_floats((int)pq, cg * kk));
                nad_k_sgemm_packed(mg, (int)pq, cg * kk, w + (size_t)gi * mg * cg * kk, cg * kk, ws,
                                   bias ? bias + (size_t)gi * mg : NULL, act, yi + (size_t)gi * mg * pq, (int)pq);
                continue;
            }
            nad_k_sgemm(mg, (int)pq, cg * kk, w + (size_t)gi * mg * cg * kk, cg * kk, b, (int)pq,
                        bias ? bias + (size_t)gi * mg : NULL, act, yi + (size_t)gi * mg * pq, (int)pq);
        }
    }
}
