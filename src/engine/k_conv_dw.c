/*
 * Direct (GEMM-free) convolutions: depthwise convs (group == C == M, one
 * filter per channel, MobileNetV2's 3x3 layers) and, with AVX-512, convs with
 * a single input channel (network stems).  Both have too little reduction
 * depth (K = KH*KW) for a GEMM to pay: im2col would copy every input value
 * KH*KW times for a product with a single output row (depthwise) or a 9-long
 * inner dimension (stems).  Instead each output row accumulates KH*KW shifted,
 * scaled input rows.
 *
 * Portable path (depthwise): to keep the inner loop branch-free, unit-stride
 * and a whole number of 16-float vectors, each input plane is first copied into a zero-padded
 * scratch plane split into sw column phases (phase f holds padded columns f,
 * f + sw, f + 2 sw, ...): then tap (ky, kx) of output row p reads the
 * contiguous run phase[(kx*dw) % sw] row (p*sh + ky*dh) from column
 * (kx*dw) / sw, for any stride.  Output rows are accumulated in registers
 * (GCC vector extensions → AVX-512 under -march=native) and the bias and
 * activation are applied before the store.  The AVX-512 path reads the input
 * directly with masked loads instead (see dw_plane_avx512).
 */
#include <string.h>

#include "engine/kernels.h"

typedef float v16 __attribute__((vector_size(64)));

/* These planes' rows are a few dozen floats: the copy loops stay loops
 * (NAD_NO_LIBCALLS, kernels.h). */

/* Widest output row the register path handles (in 16-float vectors). */
#define DW_MAX_VEC 2

/* Geometry of the padded, phase-split scratch plane. */
/* Largest stride and tap count with precomputed tables (else the plain loop). */
#define DW_MAX_STRIDE 8
#define DW_MAX_TAPS 64

typedef struct dw_layout {
    int rows;  /* padded rows: (P-1)*sh + (KH-1)*dh + 1 */
    int nvec;  /* output row width in vectors           */
    int width; /* floats per phase row                   */
    /* Precomputed once per call: integer division per row or tap cost more
     * than the arithmetic of these small planes. */
    int j0[DW_MAX_STRIDE], j1[DW_MAX_STRIDE]; /* valid columns per phase          */
    int tap_src[DW_MAX_TAPS];                 /* per tap: phase row offset + column */
} dw_layout;

/* Fills *d; returns 0, or -1 when the conv is outside the tables' limits. */
static int dw_layout_of(const nad_conv_geom *g, dw_layout *d)
{
    d->rows = (g->p - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    d->nvec = (g->q + 15) / 16;
    d->width = 16 * d->nvec + ((g->kw - 1) * g->dw) / g->sw + 1;
    if (d->nvec > DW_MAX_VEC || g->sw > DW_MAX_STRIDE || g->kh * g->kw > DW_MAX_TAPS)
        return -1;
    for (int f = 0; f < g->sw; f++) {
        const int base = f - g->pl;
        int j0 = base >= 0 ? 0 : (-base + g->sw - 1) / g->sw;
        int j1 = g->w - 1 - base >= 0 ? (g->w - 1 - base) / g->sw + 1 : 0;
        if (j1 > d->width)
            j1 = d->width;
        if (j0 > j1)
            j0 = j1;
        d->j0[f] = j0;
        d->j1[f] = j1;
    }
    for (int ky = 0; ky < g->kh; ky++)
        for (int kx = 0; kx < g->kw; kx++) {
            const int off = kx * g->dw;
            /* offset from the start of padded row r's phase block */
            d->tap_src[ky * g->kw + kx] = ky * g->dh * g->sw * d->width + (off % g->sw) * d->width + off / g->sw;
        }
    return 0;
}

/* See kernels.h (nad_k_conv_ws_floats uses it for depthwise convs). */
size_t nad_k_conv_dw_ws_floats(const nad_conv_geom *g)
{
    dw_layout d;
    if (dw_layout_of(g, &d))
        return 0;
    return (size_t)d.rows * g->sw * d.width;
}

/* Fills the phase-split padded copy of one input plane: zeros outside the
 * image, one contiguous copy (stride 1) or a strided gather per row inside. */
static NAD_NO_LIBCALLS void fill_scratch(const nad_conv_geom *g, const dw_layout *d, const float *xc, float *s)
{
    const int H = g->h, W = g->w, sw = g->sw;
    for (int r = 0; r < d->rows; r++) {
        const int iy = r - g->pt;
        for (int f = 0; f < sw; f++) {
            float *row = s + ((size_t)r * sw + f) * d->width;
            if (iy < 0 || iy >= H) {
                for (int j = 0; j < d->width; j++)
                    row[j] = 0.f;
                continue;
            }
            /* column j of phase f is input column j*sw + f - pl: valid for j in [j0, j1) */
            const int base = f - g->pl, j0 = d->j0[f], j1 = d->j1[f];
            const float *xr = xc + (size_t)iy * W;
            for (int j = 0; j < j0; j++)
                row[j] = 0.f;
            if (sw == 1) { /* a loop, not memcpy: rows are a few dozen floats */
                for (int j = j0; j < j1; j++)
                    row[j] = xr[j + base];
            } else {
                for (int j = j0; j < j1; j++)
                    row[j] = xr[j * sw + base];
            }
            for (int j = j1; j < d->width; j++)
                row[j] = 0.f;
        }
    }
}

/*
 * Output rows [p0, p0 + nr) of one plane; nr and nvec are compile-time
 * constants at every call, so the nr*nvec accumulators live in registers.
 * Several rows at once give independent FMA chains: with one 16-float vector
 * per row (14x14 and 7x7 planes) a single row's 9 taps form one dependent
 * chain, bound by FMA latency rather than throughput.
 */
static inline __attribute__((always_inline)) void dw_rows(const nad_conv_geom *g, const dw_layout *d,
                                                         const float *ws, const float *wc, float b, float *yc,
                                                         int p0, const int nr, const int nvec)
{
    const int Q = g->q, kk = g->kh * g->kw;
    const size_t row_step = (size_t)g->sh * g->sw * d->width;
    v16 acc[4][2];
    for (int r = 0; r < nr; r++)
        for (int v = 0; v < nvec; v++)
            acc[r][v] = (v16){0} + b;
    const float *rowp = ws + (size_t)p0 * row_step;
    for (int t = 0; t < kk; t++) {
        const float wv = wc[t];
        for (int r = 0; r < nr; r++) {
            const float *src = rowp + (size_t)r * row_step + d->tap_src[t];
            for (int v = 0; v < nvec; v++) {
                v16 xv;
                memcpy(&xv, src + 16 * v, sizeof xv);
                acc[r][v] += wv * xv;
            }
        }
    }
    for (int r = 0; r < nr; r++) {
        float row[32] = {0}; /* (Q <= 16 * nvec; the init only quiets -Wmaybe-uninitialized) */
        for (int v = 0; v < nvec; v++)
            memcpy(row + 16 * v, &acc[r][v], sizeof(v16)); /* one vector store each */
        float *yr = yc + (size_t)(p0 + r) * Q;
        for (int q = 0; q < Q; q++)
            yr[q] = row[q];
    }
}

/* All rows of one plane: blocks of 4 rows, then single rows. */
static inline __attribute__((always_inline)) void dw_plane(const nad_conv_geom *g, const dw_layout *d,
                                                          const float *ws, const float *wc, float b, float *yc,
                                                          const int nvec)
{
    int p = 0;
    for (; p + 4 <= g->p; p += 4)
        dw_rows(g, d, ws, wc, b, yc, p, 4, nvec);
    for (; p < g->p; p++)
        dw_rows(g, d, ws, wc, b, yc, p, 1, nvec);
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

#if defined(__AVX512F__)
#include <immintrin.h>

/* True when dw_plane_avx512 handles g: column stride 1 with rows of at most 32
 * outputs or column stride 2 with at most 16, at most 16 taps per row. */
static int dw_avx512_ok(const nad_conv_geom *g)
{
    return ((g->sw == 1 && g->q <= 32) || (g->sw == 2 && g->q <= 16)) && g->kw <= 16;
}

/*
 * Depthwise plane straight from the input with AVX-512 masked loads (column
 * stride 2: 32 source columns loaded, even lanes gathered by one permute):
 * lanes whose input column falls outside the image are masked to zero (masked
 * lanes are never read, so a window hanging off the row needs no padded
 * copy), rows outside the image are skipped, and bias, ReLU/ReLU6 and the
 * masked store of the Q real outputs happen in registers.  Four output rows
 * at a time give independent FMA chains.  Avoids the scratch copy, which cost
 * about a third of the portable path on 7x7 and 14x14 planes.
 */
typedef struct dw_masks {
    __mmask16 load[16][2]; /* per kx and vector: lanes whose input column is inside */
    __mmask16 store[2];    /* lanes < Q                                           */
    intptr_t off[16];      /* per kx: byte offset of lane 0's column in the row    */
} dw_masks;

/* The masks depend only on the geometry: computed once per call. */
static void dw_masks_of(const nad_conv_geom *g, dw_masks *mk)
{
    const int W = g->w, Q = g->q;
    __mmask16(*lm)[2] = mk->load;
    __mmask16 *sm = mk->store;
    for (int kx = 0; kx < g->kw; kx++)
        for (int v = 0; v < 2; v++) {
            /* stride 1: vector v holds outputs 16v..16v+15, lane l reads
             * column 16v + l + offset; stride 2: the two vectors are the low
             * and high halves of 32 source columns and output q reads source
             * lane 2q, so only even lanes below 2Q are loaded */
            unsigned m = 0;
            for (int l = 0; l < 16; l++) {
                const int lane = 16 * v + l, col = lane + kx * g->dw - g->pl;
                const int wanted = g->sw == 1 ? lane < Q : (lane % 2 == 0 && lane / 2 < Q);
                m |= (unsigned)(col >= 0 && col < W && wanted) << l;
            }
            lm[kx][v] = (__mmask16)m;
        }
    for (int v = 0; v < 2; v++) {
        const int left = Q - 16 * v;
        sm[v] = (__mmask16)(left >= 16 ? 0xffffu : left > 0 ? (1u << left) - 1 : 0u);
    }
    for (int kx = 0; kx < g->kw; kx++)
        mk->off[kx] = (intptr_t)(kx * g->dw - g->pl) * (intptr_t)sizeof(float);
}

/*
 * Output rows [p0, p0 + nr) with nvec vectors per row; nr and nvec are
 * compile-time constants at every call, so the accumulators stay in
 * registers (with runtime bounds gcc kept them in memory: a store per FMA).
 */
static inline __attribute__((always_inline)) void dw_block_avx512(const nad_conv_geom *g, const dw_masks *mk,
                                                                 const float *xc, const float *wc, float b,
                                                                 int kind, __m512 lo, __m512 hi, float *yc, int p0,
                                                                 const int nr, const int nvec, const int s2)
{
    const int W = g->w, Q = g->q;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    __m512 acc[4][2];
    for (int r = 0; r < nr; r++)
        for (int v = 0; v < nvec; v++)
            acc[r][v] = _mm512_set1_ps(b);
    for (int ky = 0; ky < g->kh; ky++) {
        for (int r = 0; r < nr; r++) {
            const int iy = (p0 + r) * g->sh - g->pt + ky * g->dh;
            if (iy < 0 || iy >= g->h)
                continue;
            const uintptr_t xr = (uintptr_t)(xc + (size_t)iy * W);
            for (int kx = 0; kx < g->kw; kx++) {
                const __m512 wv = _mm512_set1_ps(wc[ky * g->kw + kx]);
                /* address arithmetic in integers: the masked-off lanes may
                 * lie before the row (never accessed) */
                if (s2) {
                    const void *s0 = (const void *)(xr + (uintptr_t)mk->off[kx]);
                    const void *s1 = (const void *)(xr + (uintptr_t)(mk->off[kx] + 64));
                    const __m512 xv = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(mk->load[kx][0], s0), even,
                                                             _mm512_maskz_loadu_ps(mk->load[kx][1], s1));
                    acc[r][0] = _mm512_fmadd_ps(wv, xv, acc[r][0]);
                } else {
                    for (int v = 0; v < nvec; v++) {
                        const void *src = (const void *)(xr + (uintptr_t)(mk->off[kx] + 64 * v));
                        acc[r][v] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mk->load[kx][v], src), acc[r][v]);
                    }
                }
            }
        }
    }
    for (int r = 0; r < nr; r++)
        for (int v = 0; v < nvec; v++) {
            __m512 o = acc[r][v];
            if (kind == NAD_ACT_RELU)
                o = _mm512_max_ps(o, _mm512_setzero_ps());
            else if (kind == NAD_ACT_CLIP)
                o = _mm512_min_ps(_mm512_max_ps(o, lo), hi);
            _mm512_mask_storeu_ps(yc + (size_t)(p0 + r) * Q + 16 * v, mk->store[v], o);
        }
}

/* A whole plane: blocks of 4 rows, then single rows. */
static inline __attribute__((always_inline)) void dw_plane_avx512_n(const nad_conv_geom *g, const dw_masks *mk,
                                                                   const float *xc, const float *wc, float b,
                                                                   int kind, __m512 lo, __m512 hi, float *yc,
                                                                   const int nvec, const int s2)
{
    int p = 0;
    for (; p + 4 <= g->p; p += 4)
        dw_block_avx512(g, mk, xc, wc, b, kind, lo, hi, yc, p, 4, nvec, s2);
    for (; p < g->p; p++)
        dw_block_avx512(g, mk, xc, wc, b, kind, lo, hi, yc, p, 1, nvec, s2);
}

static void dw_plane_avx512(const nad_conv_geom *g, const dw_masks *mk, const float *xc, const float *wc, float b,
                            const nad_act *act, float *yc)
{
    const int kind = act ? (int)act->kind : NAD_ACT_NONE;
    const __m512 lo = _mm512_set1_ps(kind == NAD_ACT_CLIP ? act->a : 0.f);
    const __m512 hi = _mm512_set1_ps(kind == NAD_ACT_CLIP ? act->b : 0.f);
    if (g->sw == 2)
        dw_plane_avx512_n(g, mk, xc, wc, b, kind, lo, hi, yc, 1, 1);
    else if (g->q <= 16)
        dw_plane_avx512_n(g, mk, xc, wc, b, kind, lo, hi, yc, 1, 0);
    else
        dw_plane_avx512_n(g, mk, xc, wc, b, kind, lo, hi, yc, 2, 0);
    if (kind != NAD_ACT_NONE && kind != NAD_ACT_RELU && kind != NAD_ACT_CLIP)
        nad_k_act(act, yc, yc, (size_t)g->p * g->q);
}

/*
 * One row p of a conv with a single input channel (the stems of image nets:
 * C = 1, K = KH*KW only, too short a GEMM to pay for its tiles): nb output
 * channels [m0, m0 + nb) at once, each shifted input vector loaded once and
 * used by nb accumulators.
 */
static inline __attribute__((always_inline)) void c1_block_avx512(const nad_conv_geom *g, const dw_masks *mk,
                                                                 const float *xc, const float *w, const float *bias,
                                                                 int kind, __m512 lo, __m512 hi, float *y, int p,
                                                                 int m0, const int nb, const int nvec, const int s2)
{
    const int W = g->w, Q = g->q, kk = g->kh * g->kw;
    const size_t pq = (size_t)g->p * Q;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    __m512 acc[4][2];
    for (int j = 0; j < nb; j++)
        for (int v = 0; v < nvec; v++)
            acc[j][v] = _mm512_set1_ps(bias ? bias[m0 + j] : 0.f);
    for (int ky = 0; ky < g->kh; ky++) {
        const int iy = p * g->sh - g->pt + ky * g->dh;
        if (iy < 0 || iy >= g->h)
            continue;
        const uintptr_t xr = (uintptr_t)(xc + (size_t)iy * W);
        for (int kx = 0; kx < g->kw; kx++) {
            __m512 xv[2];
            if (s2) {
                const void *s0 = (const void *)(xr + (uintptr_t)mk->off[kx]);
                const void *s1 = (const void *)(xr + (uintptr_t)(mk->off[kx] + 64));
                xv[0] = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(mk->load[kx][0], s0), even,
                                               _mm512_maskz_loadu_ps(mk->load[kx][1], s1));
            } else {
                for (int v = 0; v < nvec; v++)
                    xv[v] = _mm512_maskz_loadu_ps(mk->load[kx][v], (const void *)(xr + (uintptr_t)(mk->off[kx] + 64 * v)));
            }
            const int t = ky * g->kw + kx;
            for (int j = 0; j < nb; j++) {
                const __m512 wv = _mm512_set1_ps(w[(size_t)(m0 + j) * kk + t]);
                for (int v = 0; v < nvec; v++)
                    acc[j][v] = _mm512_fmadd_ps(wv, xv[v], acc[j][v]);
            }
        }
    }
    for (int j = 0; j < nb; j++)
        for (int v = 0; v < nvec; v++) {
            __m512 o = acc[j][v];
            if (kind == NAD_ACT_RELU)
                o = _mm512_max_ps(o, _mm512_setzero_ps());
            else if (kind == NAD_ACT_CLIP)
                o = _mm512_min_ps(_mm512_max_ps(o, lo), hi);
            _mm512_mask_storeu_ps(y + (size_t)(m0 + j) * pq + (size_t)p * Q + 16 * v, mk->store[v], o);
        }
}

static inline __attribute__((always_inline)) void c1_image_avx512(const nad_conv_geom *g, const dw_masks *mk,
                                                                 const float *x, const float *w, const float *bias,
                                                                 int kind, __m512 lo, __m512 hi, float *y,
                                                                 const int nvec, const int s2)
{
    for (int p = 0; p < g->p; p++) {
        int m0 = 0;
        for (; m0 + 4 <= g->m; m0 += 4)
            c1_block_avx512(g, mk, x, w, bias, kind, lo, hi, y, p, m0, 4, nvec, s2);
        for (; m0 < g->m; m0++)
            c1_block_avx512(g, mk, x, w, bias, kind, lo, hi, y, p, m0, 1, nvec, s2);
    }
}

/* See kernels.h. */
int nad_k_conv_c1(const nad_conv_geom *g, int n, const float *x, const float *w, const float *bias, const nad_act *act,
                  float *y)
{
    if (g->c != 1 || g->group != 1 || !dw_avx512_ok(g))
        return 0;
    dw_masks mk;
    dw_masks_of(g, &mk);
    const int kind = act ? (int)act->kind : NAD_ACT_NONE;
    const __m512 lo = _mm512_set1_ps(kind == NAD_ACT_CLIP ? act->a : 0.f);
    const __m512 hi = _mm512_set1_ps(kind == NAD_ACT_CLIP ? act->b : 0.f);
    const size_t in_img = (size_t)g->h * g->w, out_img = (size_t)g->m * g->p * g->q;
    for (int i = 0; i < n; i++) {
        const float *xi = x + i * in_img;
        float *yi = y + i * out_img;
        if (g->sw == 2)
            c1_image_avx512(g, &mk, xi, w, bias, kind, lo, hi, yi, 1, 1);
        else if (g->q <= 16)
            c1_image_avx512(g, &mk, xi, w, bias, kind, lo, hi, yi, 1, 0);
        else
            c1_image_avx512(g, &mk, xi, w, bias, kind, lo, hi, yi, 2, 0);
        if (kind != NAD_ACT_NONE && kind != NAD_ACT_RELU && kind != NAD_ACT_CLIP)
            nad_k_act(act, yi, yi, out_img);
    }
    return 1;
}
#endif

#if !defined(__AVX512F__)
/* See kernels.h: without AVX-512 the general conv path handles these. */
int nad_k_conv_c1(const nad_conv_geom *g, int n, const float *x, const float *w, const float *bias, const nad_act *act,
                  float *y)
{
    (void)g, (void)n, (void)x, (void)w, (void)bias, (void)act, (void)y;
    return 0;
}
#endif

/* See kernels.h: one image; ws holds nad_k_conv_dw_ws_floats(g) floats. */
NAD_NO_LIBCALLS void nad_k_conv_depthwise(const nad_conv_geom *g, const float *x, const float *w, const float *bias, const nad_act *act,
                          float *y, float *ws)
{
    dw_layout d;
    const int plain = dw_layout_of(g, &d) != 0;
#if defined(__AVX512F__)
    dw_masks masks;
    const int use_avx512 = dw_avx512_ok(g);
    if (use_avx512)
        dw_masks_of(g, &masks);
#endif
    const int kk = g->kh * g->kw;
    const size_t pq = (size_t)g->p * g->q;
    for (int c = 0; c < g->c; c++) {
        const float *xc = x + (size_t)c * g->h * g->w;
        const float *wc = w + (size_t)c * kk;
        const float b = bias ? bias[c] : 0.f;
        float *yc = y + (size_t)c * pq;
#if defined(__AVX512F__)
        if (use_avx512) {
            dw_plane_avx512(g, &masks, xc, wc, b, act, yc);
            continue;
        }
#endif
        if (plain || !ws) {
            dw_plane_plain(g, xc, wc, b, yc);
        } else {
            fill_scratch(g, &d, xc, ws);
            if (d.nvec == 1)
                dw_plane(g, &d, ws, wc, b, yc, 1);
            else
                dw_plane(g, &d, ws, wc, b, yc, 2);
        }
        nad_k_bias_act(act, 0.f, yc, pq);
    }
}
