/*
 * 2-D convolution, NCHW input, OIHW weights: implicit GEMM over padded
 * stride-phase planes for general convs (below), a plain GEMM on the input for
 * 1x1 stride-1 unpadded convs, a direct loop for depthwise convs
 * (k_conv_dw.c), and im2col + GEMM only as a fallback for huge strides.  Bias
 * and the fused activation are applied per output channel right after that
 * channel's GEMM rows are written, while they are still in cache.
 *
 * GEMMs run per image (k_sgemm.c; Y_img[M, P*Q] = W[M, C*KH*KW] * cols); the
 * batch is spread over threads by the plan (each thread owns whole images).
 */
#include <stdint.h>
#include <string.h>

#include "engine/conv_range.h"
#include "engine/kernels.h"

/*
 * Convs skip im2col ("implicit GEMM"): the image is copied once into
 * zero-padded planes, one per stride phase (fy, fx) < (sh, sw) and channel:
 * phase plane (fy, fx) holds padded pixels (r*sh + fy, j*sw + fx), so it is
 * Hq = P + (KH-1)*dh/sh rows by Wq = Q + (KW-1)*dw/sw columns.  Output pixel
 * (p, q) of tap (ky, kx) reads padded (p*sh + ky*dh, q*sw + kx*dw), which is
 * element (p + ky*dh/sh, q + kx*dw/sw) of phase ((ky*dh) % sh, (kx*dw) % sw).
 * In "plane-width" output coordinates j = p*Wq + q every row of the virtual
 * column matrix is therefore one contiguous run of a phase plane, and the GEMM
 * (nad_k_sgemm_offsets) reads it in place through per-row offsets.  It
 * computes Wq/Q times the needed columns (the last ones of each row are junk)
 * and a compaction pass copies the Q real ones out, adding bias and
 * activation.  Measured on 16-channel 28x28 3x3 convs: im2col cost 1.7x the
 * GEMM itself (a memcpy per 28-float row segment); the planes are about
 * KH*KW times smaller than the column matrix.
 */
typedef struct implicit_layout {
    int hq, wq;        /* one phase plane: P + (KH-1)*dh/sh rows, Q + (KW-1)*dw/sw columns */
    int np;            /* output columns computed: ceil32(P * wq)                          */
    size_t phase;      /* hq * wq                                                          */
    size_t chan;       /* the used phase planes of one channel (slot order)                */
    signed char slot[64]; /* per phase fy*sw + fx: its place among the channel's planes, -1
                             when no tap reads it (a 1x1 stride-2 conv reads only phase 0) */
    size_t pad_floats; /* all channels' phase planes + read slack                          */
    size_t ws_floats;  /* offsets (K int64) + planes + output tile (M/group x np)          */
} implicit_layout;

static implicit_layout implicit_layout_of(const nad_conv_geom *g)
{
    implicit_layout L;
    const int cg = g->c / g->group, mg = g->m / g->group, K = cg * g->kh * g->kw;
    const int oy_max = (g->kh - 1) * g->dh / g->sh, ox_max = (g->kw - 1) * g->dw / g->sw;
    L.hq = g->p + oy_max;
    L.wq = g->q + ox_max;
    L.np = (g->p * L.wq + 31) / 32 * 32;
    L.phase = (size_t)L.hq * L.wq;
    /* Only the phases some tap reads get a plane.  Leaving unread phases as
     * never-written gaps made the GEMM's junk columns past a plane's end read
     * stale workspace, whose denormals slowed 1x1 stride-2 convs about fourfold. */
    int nused = 0;
    memset(L.slot, -1, sizeof L.slot);
    for (int ky = 0; ky < g->kh; ky++)
        for (int kx = 0; kx < g->kw; kx++) {
            const int ph = (ky * g->dh % g->sh) * g->sw + kx * g->dw % g->sw;
            if (L.slot[ph] < 0)
                L.slot[ph] = (signed char)nused++;
        }
    L.chan = (size_t)nused * L.phase;
    /* The GEMM reads up to np columns from each row start; the furthest row
     * start is the last channel's last phase at the largest tap offset. */
    L.pad_floats = (size_t)g->c * L.chan + (size_t)(L.np - g->p * L.wq) + (size_t)ox_max + 32;
    L.ws_floats = (2 * (size_t)K + 15) / 16 * 16 + L.pad_floats + (size_t)mg * L.np;
    return L;
}

#if defined(__AVX512F__) && defined(__BMI2__)
#include <immintrin.h>
#define IMPLICIT_AVX512 1

/* The lanes l < 16 with lo <= j + l < hi. */
static inline __mmask16 lane_range(int j, int lo, int hi)
{
    int a = lo - j, b = hi - j;
    a = a < 0 ? 0 : a;
    b = b > 16 ? 16 : b;
    return b <= a ? 0 : (__mmask16)(((1u << b) - 1u) & ~((1u << a) - 1u));
}
#endif

/* Copies rows floats of n columns from src (row stride ls) to dst (stride ld). */
static NAD_NO_LIBCALLS void copy_rows(float *dst, int ld, const float *src, int ls, int rows, int n)
{
#ifdef IMPLICIT_AVX512
    /* Rows are 4..28 floats: one or two masked moves per row instead of a
     * scalar loop (the compaction was a visible part of conv_implicit). */
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j += 16) {
            const __mmask16 m = lane_range(j, 0, n);
            _mm512_mask_storeu_ps(dst + (size_t)r * ld + j, m, _mm512_maskz_loadu_ps(m, src + (size_t)r * ls + j));
        }
#else
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++)
            dst[(size_t)r * ld + j] = src[(size_t)r * ls + j];
#endif
}

/*
 * One row of a phase plane: pr[j] = xr[j*sw + base] for j in [j0, j1), 0 for
 * the rest of [0, wq); xr == NULL makes the whole row 0 (a padding row).
 * With AVX-512, 16 columns per step: a masked load whose mask is the in-image
 * columns (masked-off lanes read nothing, so no bounds are crossed) and a
 * store masked to the row; stride 2 loads 32 floats and keeps the even lanes.
 * The scalar loops cost about as much as the GEMM on 14x14 maps.
 */
static NAD_NO_LIBCALLS void fill_plane_row(float *pr, const float *xr, int sw, int base, int j0, int j1, int wq)
{
#ifdef IMPLICIT_AVX512
    if (!xr) {
        for (int j = 0; j < wq; j += 16)
            _mm512_mask_storeu_ps(pr + j, lane_range(j, 0, wq), _mm512_setzero_ps());
        return;
    }
    if (sw == 1) {
        for (int j = 0; j < wq; j += 16)
            _mm512_mask_storeu_ps(pr + j, lane_range(j, 0, wq),
                                  _mm512_maskz_loadu_ps(lane_range(j, j0, j1), xr + j + base));
        return;
    }
    if (sw == 2) {
        const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
        for (int j = 0; j < wq; j += 16) {
            const unsigned vm = lane_range(j, j0, j1);
            const float *src = xr + 2 * j + base;
            const __m512 a = _mm512_maskz_loadu_ps((__mmask16)_pdep_u32(vm & 0xffu, 0x5555u), src);
            const __m512 b = _mm512_maskz_loadu_ps((__mmask16)_pdep_u32(vm >> 8, 0x5555u), src + 16);
            _mm512_mask_storeu_ps(pr + j, lane_range(j, 0, wq), _mm512_permutex2var_ps(a, even, b));
        }
        return;
    }
#endif
    if (!xr) {
        for (int j = 0; j < wq; j++)
            pr[j] = 0.f;
        return;
    }
    for (int j = 0; j < j0; j++)
        pr[j] = 0.f;
    if (sw == 1) {
        for (int j = j0; j < j1; j++)
            pr[j] = xr[j + base];
    } else {
        for (int j = j0; j < j1; j++)
            pr[j] = xr[j * sw + base];
    }
    for (int j = j1; j < wq; j++)
        pr[j] = 0.f;
}

/* Conv of one image through the phase-split padded planes (see above).  The
 * plane rows are a few dozen floats: plain loops, not memcpy/memset calls,
 * whose call overhead was a third of the conv on 28x28 images. */
/* boff_ready: the row offsets in ws are already there from an earlier image of
 * the same nad_k_conv call (they depend on the geometry only; computing them
 * per image, with a few divisions per row, was a tenth of a small conv). */
static NAD_NO_LIBCALLS void conv_implicit(const nad_conv_geom *g, const float *x, const float *w, const float *bias, const nad_act *act,
                          float *y, float *ws, int boff_ready)
{
    const implicit_layout L = implicit_layout_of(g);
    const int cg = g->c / g->group, mg = g->m / g->group, K = cg * g->kh * g->kw;
    const int sh = g->sh, sw = g->sw;
    /* ws (64-byte aligned): K row offsets, then phase planes, then the output tile */
    int64_t *boff = (int64_t *)(void *)ws;
    float *xp = ws + (2 * (size_t)K + 15) / 16 * 16, *yt = xp + L.pad_floats;
    for (int fy = 0; fy < sh; fy++) {
        for (int fx = 0; fx < sw; fx++) {
            if (L.slot[fy * sw + fx] < 0)
                continue;
            /* phase column j holds padded column j*sw + fx, input column
             * j*sw + fx - pl: inside the image for j in [j0, j1) */
            const int base = fx - g->pl;
            int j0 = base >= 0 ? 0 : (-base + sw - 1) / sw;
            int j1 = g->w - 1 - base >= 0 ? (g->w - 1 - base) / sw + 1 : 0;
            j1 = j1 > L.wq ? L.wq : j1;
            j0 = j0 > j1 ? j1 : j0;
            for (int c = 0; c < g->c; c++) {
                float *pc = xp + (size_t)c * L.chan + (size_t)L.slot[fy * sw + fx] * L.phase;
                const float *xc = x + (size_t)c * g->h * g->w;
                for (int r = 0; r < L.hq; r++) {
                    const int iy = r * sh + fy - g->pt;
                    fill_plane_row(pc + (size_t)r * L.wq, iy < 0 || iy >= g->h ? NULL : xc + (size_t)iy * g->w, sw,
                                   base, j0, j1, L.wq);
                }
            }
        }
    }
    memset(xp + (size_t)g->c * L.chan, 0, (L.pad_floats - (size_t)g->c * L.chan) * sizeof(float));
    for (int ci = 0; ci < (boff_ready ? 0 : cg); ci++)
        for (int ky = 0; ky < g->kh; ky++)
            for (int kx = 0; kx < g->kw; kx++) {
                const int oy = ky * g->dh, ox = kx * g->dw;
                boff[(ci * g->kh + ky) * g->kw + kx] = (int64_t)ci * (int64_t)L.chan +
                                                       (int64_t)L.slot[(oy % sh) * sw + ox % sw] * (int64_t)L.phase +
                                                       (int64_t)(oy / sh) * L.wq + ox / sw;
            }
    const size_t pq = (size_t)g->p * g->q;
    for (int gi = 0; gi < g->group; gi++) {
        nad_k_sgemm_offsets(mg, g->p * L.wq, K, w + (size_t)gi * mg * K, K, xp + (size_t)gi * cg * L.chan, boff, yt,
                            L.np);
        for (int o = 0; o < mg; o++) {
            const int oc = gi * mg + o;
            float *yo = y + (size_t)oc * pq;
            const float *src = yt + (size_t)o * L.np;
            if (L.wq == g->q) { /* no junk columns (1xN kernels): one block */
                nad_k_bias_act_copy(act, bias ? bias[oc] : 0.f, src, yo, pq);
            } else {
                /* bias + activation over the whole tile row (junk columns
                 * included: one call instead of one per output row), then
                 * plain copy loops: rows are too short for memcpy calls */
                float *t = yt + (size_t)o * L.np;
                nad_k_bias_act(act, bias ? bias[oc] : 0.f, t, (size_t)g->p * L.wq);
                copy_rows(yo, g->q, src, L.wq, g->p, g->q);
            }
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
    if (g->sh * g->sw <= 64) {
        const implicit_layout L = implicit_layout_of(g);
        return L.ws_floats;
    }
    return nad_k_packed_floats(g->p * g->q, cg * g->kh * g->kw) + (size_t)g->p * g->q; /* + one row */
}

/*
 * See kernels.h.  Row (ci*KH + ky)*KW + kx of the column matrix holds
 * x[c0+ci, p*sh - pt + ky*dh, q*sw - pl + kx*dw] (0 outside the image) at
 * column p*Q + q; it is gathered into row (N floats of scratch, the valid q
 * range computed once per row so the copy has no branches), then cut into
 * 32-column pieces
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
    if (g->c == 1 && g->group == 1 && g->kh * g->kw > 1 && nad_k_conv_c1(g, n, x, w, bias, act, y))
        return;
    const int direct_1x1 = nad_k_conv_ws_floats(g) == 0;
    if (direct_1x1 && pq == 1 && g->group == 1) {
        /* 1x1 conv on a 1x1 map (squeeze-excitation FCs): a dense layer over
         * the images, y[n, M] = x[n, C] * w[M, C]^T + bias, instead of n
         * one-column GEMMs. */
        nad_k_gemm(n, g->m, g->c, 1.f, x, 0, w, 1, 1.f, bias, 1, g->m, act, y);
        return;
    }
    if (!direct_1x1 && g->sh * g->sw <= 64) {
        for (int i = 0; i < n; i++)
            conv_implicit(g, x + i * in_img, w, bias, act, y + i * out_img, ws, i > 0);
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
