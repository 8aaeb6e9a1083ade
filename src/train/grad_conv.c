/*
 * 2-D convolution for training: forward via im2col + SGEMM, backward with
 * dW = dY * col^T (im2col + GEMM), dX = col2im(W^T * dY) and db = sum dY.
 *
 * Images are processed in chunks: the columns of a whole chunk sit side by
 * side in one [K x chunk*OH*OW] matrix (K = C/group * kh * kw), so each group
 * costs one large GEMM per chunk instead of one small GEMM per image (the
 * small nets here have 16-32 output channels; per-image GEMMs would be
 * dominated by call overhead).
 */
#include "train/conv_direct.h"
#include "train/gemm.h"
#include "train/grad.h"
#include "train/parallel.h"
#include "train/reduce.h"

#include <stdlib.h>
#include <string.h>

#include "engine/kernels.h"

/* Upper bound on scratch floats (2 MB): the columns of a chunk stay in the
 * L2 cache between im2col and the GEMM that reads them; measured 25-30% less
 * CPU time per step than a whole-batch chunk on ResNet/cnn_bn fixtures. */
#define CONV_WS_BUDGET ((size_t)1 << 19)

/* Images per chunk: as many as fit the budget, at least one. */
static int chunk_images(const nad_tr_conv *s)
{
    size_t k = (size_t)(s->c / s->group) * s->kh * s->kw;
    size_t mg = (size_t)(s->m / s->group);
    size_t per = (size_t)s->oh * s->ow * (k + mg);
    size_t nb = per ? CONV_WS_BUDGET / per : 1;
    if (nb < 1)
        nb = 1;
    if (nb > (size_t)s->n)
        nb = (size_t)s->n;
    return (int)nb;
}

size_t nad_tr_conv_workspace(const nad_tr_conv *s)
{
    if (nad_tr_conv_is_pointwise(s) || nad_tr_conv_is_depthwise(s))
        return 0;
    size_t k = (size_t)(s->c / s->group) * s->kh * s->kw;
    size_t mg = (size_t)(s->m / s->group);
    return (size_t)chunk_images(s) * s->oh * s->ow * (k + mg);
}

/*
 * Writes the columns of image plane group x (cg channels) into col, whose rows
 * are ld floats apart; row r = (ci*kh + i)*kw + j, column = output position.
 * Out-of-image taps read as zero (the padding).
 */
static void im2col(const nad_tr_conv *s, const float *x, int cg, float *col, size_t ld)
{
    for (int ci = 0; ci < cg; ci++) {
        const float *xp = x + (size_t)ci * s->h * s->w;
        for (int i = 0; i < s->kh; i++)
            for (int j = 0; j < s->kw; j++) {
                float *row = col + (size_t)((ci * s->kh + i) * s->kw + j) * ld;
                for (int oy = 0; oy < s->oh; oy++) {
                    int iy = oy * s->sh - s->pt + i * s->dh;
                    float *dst = row + oy * s->ow;
                    if (iy < 0 || iy >= s->h) {
                        for (int ox = 0; ox < s->ow; ox++)
                            dst[ox] = 0.0f;
                        continue;
                    }
                    const float *src = xp + (size_t)iy * s->w;
                    int ix = -s->pl + j * s->dw;
                    if (s->sw == 1) { /* zeros, one contiguous copy, zeros */
                        int o0 = ix < 0 ? -ix : 0, o1 = s->w - ix < s->ow ? s->w - ix : s->ow;
                        if (o1 < o0)
                            o1 = o0;
                        /* plain loops: rows are short (7..28), a libc call each costs more */
                        for (int ox = 0; ox < o0; ox++)
                            dst[ox] = 0.0f;
                        for (int ox = o0; ox < o1; ox++)
                            dst[ox] = src[ix + ox];
                        for (int ox = o1; ox < s->ow; ox++)
                            dst[ox] = 0.0f;
                        continue;
                    }
                    for (int ox = 0; ox < s->ow; ox++, ix += s->sw)
                        dst[ox] = ix >= 0 && ix < s->w ? src[ix] : 0.0f;
                }
            }
    }
}

/* The adjoint of im2col: adds each column entry back onto the input pixel it
 * was read from (taps in the padding are dropped). */
static void col2im(const nad_tr_conv *s, const float *col, size_t ld, int cg, float *dx)
{
    for (int ci = 0; ci < cg; ci++) {
        float *xp = dx + (size_t)ci * s->h * s->w;
        for (int i = 0; i < s->kh; i++)
            for (int j = 0; j < s->kw; j++) {
                const float *row = col + (size_t)((ci * s->kh + i) * s->kw + j) * ld;
                for (int oy = 0; oy < s->oh; oy++) {
                    int iy = oy * s->sh - s->pt + i * s->dh;
                    if (iy < 0 || iy >= s->h)
                        continue;
                    const float *src = row + oy * s->ow;
                    float *dst = xp + (size_t)iy * s->w;
                    int ix = -s->pl + j * s->dw;
                    /* outputs ox in [o0, o1) read pixels inside the row */
                    int o0 = ix < 0 ? (-ix + s->sw - 1) / s->sw : 0;
                    int o1 = ix < s->w ? (s->w - ix + s->sw - 1) / s->sw : 0;
                    if (o1 > s->ow)
                        o1 = s->ow;
                    if (s->sw == 1)
                        for (int ox = o0; ox < o1; ox++)
                            dst[ix + ox] += src[ox];
                    else
                        for (int ox = o0; ox < o1; ox++)
                            dst[ix + ox * s->sw] += src[ox];
                }
            }
    }
}

/* Work items per thread so that a thread gets at least ~32k floats to move:
 * below that, starting a thread costs more than it saves (depthwise groups). */
static int64_t min_items(size_t floats_per_item)
{
    size_t want = (size_t)1 << 15;
    return floats_per_item ? (int64_t)((want + floats_per_item - 1) / floats_per_item) : 1;
}

/* Shared state of one chunk for the parallel loops below. */
typedef struct conv_chunk {
    const nad_tr_conv *s;
    const float *x, *b, *dy;
    float *y, *dx, *db, *col, *buf; /* buf: the [mg x ld] GEMM output / gathered dY */
    int n0, g, cg, mg, ohw;
    size_t ld;
} conv_chunk;

/*
 * im2col for column stride 1 through a copy of each input plane padded left
 * and right: every column-matrix row segment is then one branch-free copy of
 * ow floats (vectorised), where im2col() works out the valid range and fills
 * zeros around it per segment; segments are only 7-28 floats here, so that
 * bookkeeping was most of the cost.  xh holds h * wp floats.
 */
static void im2col_padded(const nad_tr_conv *s, const float *x, int cg, float *col, size_t ld, float *xh, int wp)
{
    for (int ci = 0; ci < cg; ci++) {
        const float *xp = x + (size_t)ci * s->h * s->w;
        for (int y = 0; y < s->h; y++)
            for (int q = 0; q < wp; q++) {
                int ix = q - s->pl;
                xh[(size_t)y * wp + q] = ix >= 0 && ix < s->w ? xp[(size_t)y * s->w + ix] : 0.0f;
            }
        for (int i = 0; i < s->kh; i++)
            for (int j = 0; j < s->kw; j++) {
                float *row = col + (size_t)((ci * s->kh + i) * s->kw + j) * ld;
                for (int oy = 0; oy < s->oh; oy++) {
                    int iy = oy * s->sh - s->pt + i * s->dh;
                    float *dst = row + (size_t)oy * s->ow;
                    if (iy < 0 || iy >= s->h) {
                        for (int ox = 0; ox < s->ow; ox++)
                            dst[ox] = 0.0f;
                        continue;
                    }
                    const float *src = xh + (size_t)iy * wp + j * s->dw;
                    for (int ox = 0; ox < s->ow; ox++)
                        dst[ox] = src[ox];
                }
            }
    }
}

/* im2col of images [lo, hi) of the chunk into their column blocks. */
static void par_im2col(void *arg, int64_t lo, int64_t hi)
{
    const conv_chunk *k = arg;
    const nad_tr_conv *s = k->s;
    if (s->sw == 1) {
        int wp = s->ow + (s->kw - 1) * s->dw;
        float *xh = malloc((size_t)s->h * wp * sizeof(float));
        if (!xh)
            goto plain; /* no room for the padded plane: the plain gather below needs none */
        for (int64_t i = lo; i < hi; i++)
            im2col_padded(s, k->x + ((size_t)(k->n0 + i) * s->c + (size_t)k->g * k->cg) * s->h * s->w, k->cg,
                          k->col + (size_t)i * k->ohw, k->ld, xh, wp);
        free(xh);
        return;
    }
plain:
    for (int64_t i = lo; i < hi; i++)
        im2col(s, k->x + ((size_t)(k->n0 + i) * s->c + (size_t)k->g * k->cg) * s->h * s->w, k->cg,
               k->col + (size_t)i * k->ohw, k->ld);
}

/* Gather of dY rows for output channels [lo, hi) of the group, and their
 * bias gradient (each channel summed by one thread, images in order). */
static void par_gather(void *arg, int64_t lo, int64_t hi)
{
    const conv_chunk *k = arg;
    const nad_tr_conv *s = k->s;
    int nb = (int)(k->ld / (size_t)k->ohw);
    for (int64_t mo = lo; mo < hi; mo++) {
        int oc = k->g * k->mg + (int)mo;
        double acc = 0.0;
        for (int i = 0; i < nb; i++) {
            const float *src = k->dy + ((size_t)(k->n0 + i) * s->m + oc) * k->ohw;
            memcpy(k->buf + (size_t)mo * k->ld + (size_t)i * k->ohw, src, (size_t)k->ohw * sizeof(float));
            if (k->db)
                acc += nad_sum(src, k->ohw);
        }
        if (k->db)
            k->db[oc] += (float)acc;
    }
}

/* col2im of images [lo, hi): each image owns its dx block. */
static void par_col2im(void *arg, int64_t lo, int64_t hi)
{
    const conv_chunk *k = arg;
    const nad_tr_conv *s = k->s;
    for (int64_t i = lo; i < hi; i++)
        col2im(s, k->col + (size_t)i * k->ohw, k->ld, k->cg,
               k->dx + ((size_t)(k->n0 + i) * s->c + (size_t)k->g * k->cg) * s->h * s->w);
}

/* The engine's geometry of one image of s. */
static nad_conv_geom engine_geom(const nad_tr_conv *s)
{
    nad_conv_geom g = {s->c, s->h, s->w, s->m, s->oh, s->ow, s->kh, s->kw, s->sh, s->sw,
                       s->dh, s->dw, s->pt, s->pl, s->group};
    return g;
}

/*
 * y = conv(x, w) + b for images [lo, hi) by the definition, with no scratch:
 * the fallback when a thread cannot get the engine conv's workspace (these
 * kernels have no error path, and ending the process is not the library's
 * call).  Slow but exact.
 */
static void conv_naive(const nad_tr_conv *s, const float *x, const float *w, const float *b, float *y, int64_t lo,
                       int64_t hi)
{
    int cg = s->c / s->group, mg = s->m / s->group;
    for (int64_t n = lo; n < hi; n++)
        for (int mo = 0; mo < s->m; mo++) {
            int g = mo / mg;
            float *yp = y + ((size_t)n * s->m + mo) * s->oh * s->ow;
            for (int oy = 0; oy < s->oh; oy++)
                for (int ox = 0; ox < s->ow; ox++) {
                    double acc = b ? b[mo] : 0.0;
                    for (int ci = 0; ci < cg; ci++) {
                        const float *xp = x + ((size_t)n * s->c + (size_t)g * cg + ci) * s->h * s->w;
                        const float *wp = w + ((size_t)mo * cg + ci) * s->kh * s->kw;
                        for (int ky = 0; ky < s->kh; ky++) {
                            int iy = oy * s->sh - s->pt + ky * s->dh;
                            if (iy < 0 || iy >= s->h)
                                continue;
                            for (int kx = 0; kx < s->kw; kx++) {
                                int ix = ox * s->sw - s->pl + kx * s->dw;
                                if (ix >= 0 && ix < s->w)
                                    acc += (double)wp[ky * s->kw + kx] * xp[(size_t)iy * s->w + ix];
                            }
                        }
                    }
                    yp[(size_t)oy * s->ow + ox] = (float)acc;
                }
        }
}

/*
 * dx += conv^T(dy, w) for images [lo, hi) of a stride-1, undilated conv (the
 * convs engine_dx takes), by the definition and with no scratch: the fallback
 * of par_engine_dx when its workspace cannot be had.
 */
static void conv_dx_naive(const nad_tr_conv *s, const float *w, const float *dy, float *dx, int64_t lo, int64_t hi)
{
    int cg = s->c / s->group, mg = s->m / s->group;
    for (int64_t n = lo; n < hi; n++)
        for (int mo = 0; mo < s->m; mo++) {
            int g = mo / mg;
            const float *gp = dy + ((size_t)n * s->m + mo) * s->oh * s->ow;
            for (int ci = 0; ci < cg; ci++) {
                float *dxp = dx + ((size_t)n * s->c + (size_t)g * cg + ci) * s->h * s->w;
                const float *wp = w + ((size_t)mo * cg + ci) * s->kh * s->kw;
                for (int oy = 0; oy < s->oh; oy++)
                    for (int ox = 0; ox < s->ow; ox++)
                        for (int ky = 0; ky < s->kh; ky++) {
                            int iy = oy - s->pt + ky;
                            if (iy < 0 || iy >= s->h)
                                continue;
                            for (int kx = 0; kx < s->kw; kx++) {
                                int ix = ox - s->pl + kx;
                                if (ix >= 0 && ix < s->w)
                                    dxp[(size_t)iy * s->w + ix] += wp[ky * s->kw + kx] * gp[(size_t)oy * s->ow + ox];
                            }
                        }
            }
        }
}

typedef struct fwd_job {
    const nad_tr_conv *s;
    const float *x, *w, *b;
    float *y;
} fwd_job;

/* Engine forward of images [lo, hi) with this thread's own workspace. */
static void par_engine_fwd(void *arg, int64_t lo, int64_t hi)
{
    const fwd_job *j = arg;
    const nad_tr_conv *s = j->s;
    nad_conv_geom g = engine_geom(s);
    float *ws = malloc((nad_k_conv_ws_floats(&g) + 16) * sizeof(float));
    if (!ws) {
        conv_naive(s, j->x, j->w, j->b, j->y, lo, hi);
        return;
    }
    nad_k_conv(&g, (int)(hi - lo), j->x + (size_t)lo * s->c * s->h * s->w, j->w, j->b,
               NULL, j->y + (size_t)lo * s->m * s->oh * s->ow, ws);
    free(ws);
}

void nad_tr_conv_forward(const nad_tr_conv *s, const float *x, const float *w, const float *b, float *y, float *ws)
{
    /* The engine's conv (implicit GEMM over padded planes, AVX-512 depthwise)
     * skips the column matrix that made im2col the largest cost of a step;
     * it is single-threaded per call, so images are split over threads, which
     * keeps every output element computed the same way whatever the count. */
    (void)ws;
    fwd_job j = {s, x, w, b, y};
    nad_par_for(s->threads, s->n, 1, par_engine_fwd, &j);
}

typedef struct bwd_job {
    const nad_tr_conv *s;
    nad_conv_geom g; /* the transposed conv: dY -> dX */
    const float *dy, *wf;
    float *dx;
    const float *w; /* the unflipped weights, for the no-scratch fallback */
} bwd_job;

/* dX of images [lo, hi) as the engine conv of dY with the flipped weights,
 * through a per-thread image buffer since dX accumulates. */
static void par_engine_dx(void *arg, int64_t lo, int64_t hi)
{
    const bwd_job *j = arg;
    const nad_tr_conv *s = j->s;
    size_t img = (size_t)s->c * s->h * s->w;
    float *ws = malloc((nad_k_conv_ws_floats(&j->g) + 16 + img) * sizeof(float));
    if (!ws) {
        conv_dx_naive(s, j->w, j->dy, j->dx, lo, hi);
        return;
    }
    float *t = ws + nad_k_conv_ws_floats(&j->g) + 16;
    for (int64_t i = lo; i < hi; i++) {
        nad_k_conv(&j->g, 1, j->dy + (size_t)i * s->m * s->oh * s->ow, j->wf, NULL, NULL, t, ws);
        float *d = j->dx + (size_t)i * img;
        for (size_t e = 0; e < img; e++)
            d[e] += t[e];
    }
    free(ws);
}

/*
 * dX of a stride-1, undilated, ungrouped (or depthwise) conv is itself such a conv: of dY
 * with the kernel flipped and its in/out channels swapped, padded by
 * k-1-pad.  Running it on the engine's implicit-GEMM conv replaces the
 * W^T dY GEMM and col2im (a scattered add per column entry, ~10% of a ResNet
 * step).  Returns 0 (nothing done) when the conv does not qualify.
 */
static int engine_dx(const nad_tr_conv *s, const float *w, const float *dy, float *dx)
{
    int pb = s->oh - 1 + s->kh - s->h - s->pt, pr = s->ow - 1 + s->kw - s->w - s->pl;
    const int depthwise = nad_tr_conv_is_depthwise(s);
    if (s->sh != 1 || s->sw != 1 || s->dh != 1 || s->dw != 1 || (s->group != 1 && !depthwise) || s->pt < 0 ||
        s->pl < 0 ||
        s->pt > s->kh - 1 || s->pl > s->kw - 1 || pb < 0 || pr < 0 || pb > s->kh - 1 || pr > s->kw - 1)
        return 0;
    size_t kk = (size_t)s->kh * s->kw;
    float *wf = malloc((size_t)s->m * s->c * kk * sizeof(float));
    if (!wf)
        return 0;
    if (depthwise) /* one kernel per channel: only the flip */
        for (int ci = 0; ci < s->c; ci++)
            for (size_t t = 0; t < kk; t++)
                wf[(size_t)ci * kk + (kk - 1 - t)] = w[(size_t)ci * kk + t];
    else
        for (int mo = 0; mo < s->m; mo++)
            for (int ci = 0; ci < s->c; ci++)
                for (size_t t = 0; t < kk; t++)
                    wf[((size_t)ci * s->m + mo) * kk + (kk - 1 - t)] = w[((size_t)mo * s->c + ci) * kk + t];
    bwd_job j = {s, {s->m, s->oh, s->ow, s->c, s->h, s->w, s->kh, s->kw, 1, 1, 1, 1, s->kh - 1 - s->pt,
                     s->kw - 1 - s->pl, s->group},
                 dy, wf, dx, w};
    nad_par_for(s->threads, s->n, 1, par_engine_dx, &j);
    free(wf);
    return 1;
}

void nad_tr_conv_backward(const nad_tr_conv *s, const float *x, const float *w, const float *dy, float *dx, float *dw,
                          float *db, float *ws)
{
    if (nad_tr_conv_is_pointwise(s)) {
        nad_tr_conv_pointwise_backward(s, x, w, dy, dx, dw, db);
        return;
    }
    if (nad_tr_conv_is_depthwise(s)) {
        /* stride 1: dX on the engine's AVX-512 depthwise conv, the scalar
         * loop keeps only dW and db */
        if (dx && engine_dx(s, w, dy, dx))
            dx = NULL;
        nad_tr_conv_depthwise_backward(s, x, w, dy, dx, dw, db);
        return;
    }
    int cg = s->c / s->group, mg = s->m / s->group;
    int k = cg * s->kh * s->kw, ohw = s->oh * s->ow;
    int nb_max = chunk_images(s);
    if (dx && engine_dx(s, w, dy, dx))
        dx = NULL; /* done */
    for (int n0 = 0; n0 < s->n; n0 += nb_max) {
        int nb = s->n - n0 < nb_max ? s->n - n0 : nb_max;
        size_t ld = (size_t)nb * ohw;
        float *col = ws, *gy = ws + (size_t)k * ld;
        for (int g = 0; g < s->group; g++) {
            conv_chunk ck = {s, x, NULL, dy, NULL, dx, db, col, gy, n0, g, cg, mg, ohw, ld};
            /* Gather dY of this group into [mg x nb*ohw]; db sums it in a fixed order. */
            nad_par_for(s->threads, mg, min_items(ld), par_gather, &ck);
            if (dw) {
                nad_par_for(s->threads, nb, min_items((size_t)ohw * k), par_im2col, &ck);
                /* dW_g [mg x k] += dY_g [mg x ld] * col^T [ld x k] */
                nad_tr_sgemm(s->threads, 0, 1, mg, k, (int)ld, 1.0f, gy, (int)ld, col, (int)ld, 1.0f,
                             dw + (size_t)g * mg * k, k);
            }
            if (dx) {
                /* dcol [k x ld] = W_g^T [k x mg] * dY_g [mg x ld], then scatter back. */
                nad_tr_sgemm(s->threads, 1, 0, k, (int)ld, mg, 1.0f, w + (size_t)g * mg * k, k, gy, (int)ld, 0.0f, col,
                             (int)ld);
                nad_par_for(s->threads, nb, min_items((size_t)ohw * k), par_col2im, &ck);
            }
        }
    }
}
