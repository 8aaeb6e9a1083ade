/*
 * Pooling: MaxPool and AveragePool with ONNX semantics (pads, strides,
 * dilations, ceil_mode through the output size), global average and max.
 */
#include <float.h>
#include <string.h>

#include "engine/kernels.h"

/*
 * Taps t in [0, k) of a window starting at s (tap t at s + t*d) that fall in
 * [lo, hi), as the range [*t0, *t1).  Computing the ranges once per output row
 * and column keeps the pooling loops free of per-tap bounds checks.
 */
static void tap_range(int s, int k, int d, int lo, int hi, int *t0, int *t1)
{
    int a = s >= lo ? 0 : (lo - s + d - 1) / d;
    int b = hi - 1 - s >= 0 ? (hi - 1 - s) / d + 1 : 0;
    if (b > k)
        b = k;
    if (a > b)
        a = b;
    *t0 = a;
    *t1 = b;
}

/* Max of row[sx + kx*d] for kx in [k0, k1); -FLT_MAX when empty. */
static float edge_max(const float *row, int sx, int k0, int k1, int d)
{
    float m = -FLT_MAX;
    for (int kx = k0; kx < k1; kx++)
        m = row[sx + kx * d] > m ? row[sx + kx * d] : m;
    return m;
}

/* Per output column: valid kx range and (for average pooling) the divisor's
 * column factor.  Q is bounded by POOL_MAX_Q for the stack arrays. */
#define POOL_MAX_Q 1024
/* Input rows up to this width take the separable path (a stack row). */
#define POOL_MAX_W 2048

/* Pools one plane (or a block of its columns; ldy = floats per output row)
 * with max (is_max) or average; kx0/kx1/nx come from tap_range per column. */
static void pool_plane(const nad_pool_geom *g, const float *xc, float *yc, int is_max, const int *kx0, const int *kx1,
                       const int *nx, const int *rows, int ldy)
{
    const int W = g->w, Q = g->q;
    for (int p = 0; p < g->p; p++) {
        const int sy = p * g->sh - g->pt;
        int ky0, ky1, ny0, ny1;
        if (rows) { /* precomputed: tap_range divides, which costs more than the pooling */
            ky0 = rows[3 * p], ky1 = rows[3 * p + 1], ny0 = 0, ny1 = rows[3 * p + 2];
        } else {
            tap_range(sy, g->kh, g->dh, 0, g->h, &ky0, &ky1);
            if (g->count_include_pad)
                tap_range(sy, g->kh, g->dh, -g->pt, g->h + g->pb, &ny0, &ny1);
            else
                ny0 = ky0, ny1 = ky1;
        }
        float *yr = yc + (size_t)p * ldy;
        if (W <= POOL_MAX_W) {
            /* Separable: reduce the window's rows into one row (unit-stride,
             * vectorised), then each output reduces kw taps of that row. */
            float buf[POOL_MAX_W];
            const float *tmp = buf; /* the reduced row */
            if (ky1 <= ky0) {
                for (int i = 0; i < W; i++)
                    buf[i] = is_max ? -FLT_MAX : 0.f;
            } else if (ky1 - ky0 == 1) {
                tmp = xc + (size_t)(sy + ky0 * g->dh) * W; /* one row: use it in place */
            } else {
                /* first two rows in one pass (no copy followed by a reload) */
                const float *r0 = xc + (size_t)(sy + ky0 * g->dh) * W, *r1 = r0 + (size_t)g->dh * W;
                if (is_max)
                    for (int i = 0; i < W; i++)
                        buf[i] = r1[i] > r0[i] ? r1[i] : r0[i];
                else
                    for (int i = 0; i < W; i++)
                        buf[i] = r0[i] + r1[i];
                for (int ky = ky0 + 2; ky < ky1; ky++) {
                    const float *xr = xc + (size_t)(sy + ky * g->dh) * W;
                    if (is_max)
                        for (int i = 0; i < W; i++)
                            buf[i] = xr[i] > buf[i] ? xr[i] : buf[i];
                    else
                        for (int i = 0; i < W; i++)
                            buf[i] += xr[i];
                }
            }
            /* Interior columns (the whole window inside the row) need no
             * ranges: fixed-length maxima that the compiler unrolls.  Edge
             * columns go through the general loop below. */
            int q = 0;
            while (q < Q && !(kx0[q] == 0 && kx1[q] == g->kw))
                q++;
            const int qa = q;
            int qb = qa;
            while (qb < Q && kx0[qb] == 0 && kx1[qb] == g->kw)
                qb++;
            if (!is_max || g->dw != 1 || qa == qb) {
                q = 0;
            } else {
                for (q = 0; q < qa; q++)
                    yr[q] = edge_max(tmp, q * g->sw - g->pl, kx0[q], kx1[q], g->dw);
                if (g->kw == 3 && g->sw == 1) {
                    for (; q < qb; q++) {
                        const float *t = tmp + (q - g->pl);
                        float m = t[1] > t[0] ? t[1] : t[0];
                        yr[q] = t[2] > m ? t[2] : m;
                    }
                } else {
                    for (; q < qb; q++) {
                        const float *t = tmp + (q * g->sw - g->pl);
                        float m = t[0];
                        for (int kx = 1; kx < g->kw; kx++)
                            m = t[kx] > m ? t[kx] : m;
                        yr[q] = m;
                    }
                }
            }
            for (; q < Q; q++) {
                const int sx = q * g->sw - g->pl;
                float acc = is_max ? -FLT_MAX : 0.f;
                if (is_max) {
                    for (int kx = kx0[q]; kx < kx1[q]; kx++)
                        acc = tmp[sx + kx * g->dw] > acc ? tmp[sx + kx * g->dw] : acc;
                    yr[q] = acc;
                } else {
                    for (int kx = kx0[q]; kx < kx1[q]; kx++)
                        acc += tmp[sx + kx * g->dw];
                    const int cnt = (ny1 - ny0) * nx[q];
                    yr[q] = cnt > 0 ? acc / (float)cnt : 0.f;
                }
            }
            continue;
        }
        for (int q = 0; q < Q; q++) {
            const int sx = q * g->sw - g->pl;
            float acc = is_max ? -FLT_MAX : 0.f;
            for (int ky = ky0; ky < ky1; ky++) {
                const float *xr = xc + (size_t)(sy + ky * g->dh) * W + sx;
                if (is_max) {
                    for (int kx = kx0[q]; kx < kx1[q]; kx++)
                        acc = xr[kx * g->dw] > acc ? xr[kx * g->dw] : acc;
                } else {
                    for (int kx = kx0[q]; kx < kx1[q]; kx++)
                        acc += xr[kx * g->dw];
                }
            }
            if (!is_max) {
                const int cnt = (ny1 - ny0) * nx[q];
                acc = cnt > 0 ? acc / (float)cnt : 0.f;
            }
            yr[q] = acc;
        }
    }
}

/*
 * The 2x2 stride-2 unpadded max pool on an even-sized plane (the usual CNN
 * downsampler), as two flat passes: pairs of rows, then pairs of neighbours
 * along the flattened result (W == 2Q, so output j reads elements 2j, 2j+1).
 * Both loops are long and branch-free, so they vectorise.
 */
#define POOL2_MAX 8192
static void maxpool_2x2_plane(const nad_pool_geom *g, const float *xc, float *yc)
{
    float rows[POOL2_MAX];
    const int W = g->w;
    for (int p = 0; p < g->p; p++) {
        const float *r0 = xc + (size_t)2 * p * W, *r1 = r0 + W;
        float *t = rows + (size_t)p * W;
        for (int i = 0; i < W; i++)
            t[i] = r1[i] > r0[i] ? r1[i] : r0[i];
    }
    const int total = g->p * g->q;
    int j = 0;
#if defined(__GNUC__) && !defined(__clang__)
    /* 16 outputs at a time: split 32 inputs into even and odd lanes (GCC's
     * generic vector shuffle; gcc does not vectorise the strided scalar loop). */
    typedef float v16 __attribute__((vector_size(64)));
    typedef int v16i __attribute__((vector_size(64)));
    const v16i even = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    const v16i odd = even + 1;
    for (; j + 16 <= total; j += 16) {
        v16 a, b;
        memcpy(&a, rows + 2 * j, sizeof a);
        memcpy(&b, rows + 2 * j + 16, sizeof b);
        const v16 e = __builtin_shuffle(a, b, even), o = __builtin_shuffle(a, b, odd);
        const v16i m = e > o;
        const v16 r = (v16)(((v16i)e & m) | ((v16i)o & ~m));
        memcpy(yc + j, &r, sizeof r);
    }
#endif
    for (; j < total; j++)
        yc[j] = rows[2 * j + 1] > rows[2 * j] ? rows[2 * j + 1] : rows[2 * j];
}

/*
 * The 2x2 stride-2 unpadded average pool on an even-sized plane, the same two
 * flat passes as maxpool_2x2_plane (row pairs, then neighbour pairs of the
 * flattened sums).  Every window is whole, so the divisor is always 4; the
 * general path spent most of its time on per-column tap ranges and divides.
 */
static void avgpool_2x2_plane(const nad_pool_geom *g, const float *xc, float *yc)
{
    float rows[POOL2_MAX];
    const int W = g->w;
    for (int p = 0; p < g->p; p++) {
        const float *r0 = xc + (size_t)2 * p * W, *r1 = r0 + W;
        float *t = rows + (size_t)p * W;
        for (int i = 0; i < W; i++)
            t[i] = r0[i] + r1[i];
    }
    const int total = g->p * g->q;
    int j = 0;
#if defined(__GNUC__) && !defined(__clang__)
    typedef float v16 __attribute__((vector_size(64)));
    typedef int v16i __attribute__((vector_size(64)));
    const v16i even = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    const v16i odd = even + 1;
    for (; j + 16 <= total; j += 16) {
        v16 a, b;
        memcpy(&a, rows + 2 * j, sizeof a);
        memcpy(&b, rows + 2 * j + 16, sizeof b);
        const v16 r = (__builtin_shuffle(a, b, even) + __builtin_shuffle(a, b, odd)) / 4.f;
        memcpy(yc + j, &r, sizeof r);
    }
#endif
    for (; j < total; j++)
        yc[j] = (rows[2 * j] + rows[2 * j + 1]) / 4.f;
}

/*
 * The 3x3 stride-1 "same" max pool (pads 1, output size = input size; the
 * Inception pool branch), as two flat passes over the whole plane: vertical
 * maxima of neighbouring rows, then horizontal maxima of neighbouring
 * elements along the flattened result, with each row's first and last column
 * redone afterwards (there the flat pass reached into the adjacent row).  The
 * separable per-row path handled planes of 14-float rows a row at a time,
 * paying its loop setup per row.  Needs H, W >= 2 and H*W <= POOL2_MAX.
 */
static void maxpool_3x3_same_plane(const nad_pool_geom *g, const float *xc, float *yc)
{
    float t[POOL2_MAX];
    const int H = g->h, W = g->w, HW = H * W;
    for (int i = 0; i < W; i++) /* row 0: rows 0 and 1 */
        t[i] = xc[i + W] > xc[i] ? xc[i + W] : xc[i];
    for (int i = W; i < HW - W; i++) {
        const float m = xc[i - W] > xc[i] ? xc[i - W] : xc[i];
        t[i] = xc[i + W] > m ? xc[i + W] : m;
    }
    for (int i = HW - W; i < HW; i++) /* last row: rows H-2 and H-1 */
        t[i] = xc[i - W] > xc[i] ? xc[i - W] : xc[i];
    for (int i = 1; i < HW - 1; i++) {
        const float m = t[i - 1] > t[i] ? t[i - 1] : t[i];
        yc[i] = t[i + 1] > m ? t[i + 1] : m;
    }
    for (int r = 0; r < H; r++) {
        const float *tr = t + (size_t)r * W;
        float *yr = yc + (size_t)r * W;
        yr[0] = tr[1] > tr[0] ? tr[1] : tr[0];
        yr[W - 1] = tr[W - 2] > tr[W - 1] ? tr[W - 2] : tr[W - 1];
    }
}

/* Shared driver of max and average pooling over n images. */
static void pool(const nad_pool_geom *g, int n, const float *x, float *y, int is_max)
{
    if (is_max && g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->dh == 1 && g->dw == 1 && g->pt == 0 &&
        g->pl == 0 && g->h == 2 * g->p && g->w == 2 * g->q && (size_t)g->p * g->w <= POOL2_MAX) {
        for (int64_t pl = 0; pl < (int64_t)n * g->c; pl++)
            maxpool_2x2_plane(g, x + pl * g->h * g->w, y + pl * g->p * g->q);
        return;
    }
    if (!is_max && g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->dh == 1 && g->dw == 1 && g->pt == 0 &&
        g->pl == 0 && g->h == 2 * g->p && g->w == 2 * g->q && (size_t)g->p * g->w <= POOL2_MAX) {
        for (int64_t pl = 0; pl < (int64_t)n * g->c; pl++)
            avgpool_2x2_plane(g, x + pl * g->h * g->w, y + pl * g->p * g->q);
        return;
    }
    if (is_max && g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 && g->pt == 1 &&
        g->pl == 1 && g->pb == 1 && g->pr == 1 && g->p == g->h && g->q == g->w && g->h >= 2 && g->w >= 2 &&
        (size_t)g->h * g->w <= POOL2_MAX) {
        for (int64_t pl = 0; pl < (int64_t)n * g->c; pl++)
            maxpool_3x3_same_plane(g, x + pl * g->h * g->w, y + pl * g->p * g->q);
        return;
    }
    int kx0[POOL_MAX_Q], kx1[POOL_MAX_Q], nx[POOL_MAX_Q], rows[3 * POOL_MAX_Q];
    /* Per output row: valid ky range and the divisor's row factor. */
    for (int p = 0; p < g->p && p < POOL_MAX_Q; p++) {
        const int sy = p * g->sh - g->pt;
        int a, b;
        tap_range(sy, g->kh, g->dh, 0, g->h, &rows[3 * p], &rows[3 * p + 1]);
        if (g->count_include_pad)
            tap_range(sy, g->kh, g->dh, -g->pt, g->h + g->pb, &a, &b);
        else
            a = rows[3 * p], b = rows[3 * p + 1];
        rows[3 * p + 2] = b - a;
    }
    /* Rows wider than POOL_MAX_Q are pooled in column blocks: each block is a
     * pool with fewer output columns whose left pad is shifted accordingly. */
    for (int qb = 0; qb < g->q; qb += POOL_MAX_Q) {
        nad_pool_geom part = *g;
        part.q = g->q - qb < POOL_MAX_Q ? g->q - qb : POOL_MAX_Q;
        part.pl = g->pl - qb * g->sw;
        for (int q = 0; q < part.q; q++) {
            const int sx = q * part.sw - part.pl;
            int a, b;
            tap_range(sx, g->kw, g->dw, 0, g->w, &kx0[q], &kx1[q]);
            if (g->count_include_pad)
                tap_range(sx, g->kw, g->dw, -g->pl, g->w + g->pr, &a, &b);
            else
                a = kx0[q], b = kx1[q];
            nx[q] = b - a;
        }
        for (int64_t pl = 0; pl < (int64_t)n * g->c; pl++)
            pool_plane(&part, x + pl * g->h * g->w, y + pl * g->p * g->q + qb, is_max, kx0, kx1, nx,
                       g->p <= POOL_MAX_Q ? rows : NULL, g->q);
    }
}

/* See kernels.h.  A window with no tap inside the image yields -FLT_MAX; ONNX
 * output sizes (ceil_mode included) start every window inside the padded
 * image, so with pads smaller than the kernel that does not happen. */
void nad_k_maxpool(const nad_pool_geom *g, int n, const float *x, float *y)
{
    pool(g, n, x, y, 1);
}

/*
 * See kernels.h.  Divisor with count_include_pad: taps inside the padded input
 * [-pad_begin, size + pad_end) — a ceil_mode window sticking out past the end
 * pad is not counted, as in PyTorch and onnxruntime; without it: taps inside the
 * image.
 */
void nad_k_avgpool(const nad_pool_geom *g, int n, const float *x, float *y)
{
    pool(g, n, x, y, 0);
}

/*
 * See kernels.h.  Sums in 16 lanes, then the lanes and the scalar tail: a
 * single scalar sum is one dependent add per element (gcc may not reorder
 * float adds), four cycles each, which made the final 7x7 pools of the nets
 * cost as much as a small conv.  The order is fixed, so results do not depend
 * on the batch or the thread count.
 */
void nad_k_global_avgpool(int64_t nc, int64_t hw, const float *x, float *y)
{
    typedef float v16 __attribute__((vector_size(64)));
    for (int64_t i = 0; i < nc; i++) {
        const float *xr = x + i * hw;
        v16 acc = {0};
        int64_t j = 0;
        for (; j + 16 <= hw; j += 16) {
            v16 v;
            memcpy(&v, xr + j, sizeof v);
            acc += v;
        }
        float s = 0.f;
        for (; j < hw; j++)
            s += xr[j];
        for (int l = 0; l < 16; l++)
            s += acc[l];
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
