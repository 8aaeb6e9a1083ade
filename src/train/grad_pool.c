/*
 * Pooling for training.  MaxPool records, per output, the plane offset of the
 * input it took (the argmax), and backward routes dY there; ties keep the
 * first maximum in scan order, as PyTorch does.  AveragePool's divisor follows
 * PyTorch's avg_pool2d: with count_include_pad the window is clipped to the
 * padded input (so ceil_mode windows hanging past the padding count only the
 * part inside it), without it the divisor is the number of real pixels.
 */
#include "train/grad.h"
#include "train/parallel.h"

#include <float.h>

/* 2x2 stride-2 windows entirely inside the input (the common case). */
static void maxpool_2x2(const nad_tr_pool *s, const float *x, float *y, int32_t *argmax)
{
    int64_t hw = (int64_t)s->h * s->w, ohw = (int64_t)s->oh * s->ow;
    for (int64_t p = 0; p < s->nc; p++) {
        const float *xp = x + p * hw;
        float *yp = y + p * ohw;
        int32_t *ap = argmax + p * ohw;
        for (int oy = 0; oy < s->oh; oy++) {
            const float *r0 = xp + (2 * oy) * s->w, *r1 = r0 + s->w;
            for (int ox = 0; ox < s->ow; ox++) {
                /* scan order (0,0) (0,1) (1,0) (1,1), first maximum wins */
                int32_t base = 2 * oy * s->w + 2 * ox, a = base;
                float best = r0[2 * ox];
                if (r0[2 * ox + 1] > best) {
                    best = r0[2 * ox + 1];
                    a = base + 1;
                }
                if (r1[2 * ox] > best) {
                    best = r1[2 * ox];
                    a = base + s->w;
                }
                if (r1[2 * ox + 1] > best) {
                    best = r1[2 * ox + 1];
                    a = base + s->w + 1;
                }
                yp[oy * s->ow + ox] = best;
                ap[oy * s->ow + ox] = a;
            }
        }
    }
}

static void maxpool_serial(const nad_tr_pool *s, const float *x, float *y, int32_t *argmax)
{
    int64_t hw = (int64_t)s->h * s->w, ohw = (int64_t)s->oh * s->ow;
    if (s->kh == 2 && s->kw == 2 && s->sh == 2 && s->sw == 2 && s->dh == 1 && s->dw == 1 && s->pt == 0 &&
        s->pl == 0 && 2 * s->oh <= s->h && 2 * s->ow <= s->w) {
        maxpool_2x2(s, x, y, argmax);
        return;
    }
    for (int64_t p = 0; p < s->nc; p++) {
        const float *xp = x + p * hw;
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++) {
                float best = -FLT_MAX;
                int32_t arg = -1;
                for (int i = 0; i < s->kh; i++) {
                    int iy = oy * s->sh - s->pt + i * s->dh;
                    if (iy < 0 || iy >= s->h)
                        continue;
                    for (int j = 0; j < s->kw; j++) {
                        int ix = ox * s->sw - s->pl + j * s->dw;
                        if (ix < 0 || ix >= s->w)
                            continue;
                        float v = xp[iy * s->w + ix];
                        if (arg < 0 || v > best) {
                            best = v;
                            arg = iy * s->w + ix;
                        }
                    }
                }
                y[p * ohw + oy * s->ow + ox] = arg < 0 ? 0.0f : best;
                argmax[p * ohw + oy * s->ow + ox] = arg;
            }
    }
}

static void maxpool_back_serial(const nad_tr_pool *s, const int32_t *argmax, const float *dy, float *dx)
{
    int64_t hw = (int64_t)s->h * s->w, ohw = (int64_t)s->oh * s->ow;
    for (int64_t p = 0; p < s->nc; p++)
        for (int64_t o = 0; o < ohw; o++) {
            int32_t a = argmax[p * ohw + o];
            if (a >= 0)
                dx[p * hw + a] += dy[p * ohw + o];
        }
}

typedef struct pool_job {
    nad_tr_pool s; /* nc = all planes */
    const float *x, *dy;
    float *y, *dx;
    const int32_t *argmax_in;
    int32_t *argmax;
} pool_job;

/* Planes [lo, hi): the same kernel on a sub-range of planes. */
static void maxpool_range(void *arg, int64_t lo, int64_t hi)
{
    const pool_job *j = arg;
    nad_tr_pool s = j->s;
    int64_t hw = (int64_t)s.h * s.w, ohw = (int64_t)s.oh * s.ow;
    s.nc = (int)(hi - lo);
    maxpool_serial(&s, j->x + lo * hw, j->y + lo * ohw, j->argmax + lo * ohw);
}

static void maxpool_back_range(void *arg, int64_t lo, int64_t hi)
{
    const pool_job *j = arg;
    nad_tr_pool s = j->s;
    int64_t hw = (int64_t)s.h * s.w, ohw = (int64_t)s.oh * s.ow;
    s.nc = (int)(hi - lo);
    maxpool_back_serial(&s, j->argmax_in + lo * ohw, j->dy + lo * ohw, j->dx + lo * hw);
}

void nad_tr_maxpool_forward(const nad_tr_pool *s, const float *x, float *y, int32_t *argmax)
{
    pool_job j = {*s, x, NULL, y, NULL, NULL, argmax};
    nad_par_for(s->threads, s->nc, 1 + (1 << 14) / ((int64_t)s->h * s->w + 1), maxpool_range, &j);
}

void nad_tr_maxpool_backward(const nad_tr_pool *s, const int32_t *argmax, const float *dy, float *dx)
{
    pool_job j = {*s, NULL, dy, NULL, dx, argmax, NULL};
    nad_par_for(s->threads, s->nc, 1 + (1 << 14) / ((int64_t)s->h * s->w + 1), maxpool_back_range, &j);
}

/* Window bounds of output (oy, ox) clipped to the input, and its divisor. */
static void avg_window(const nad_tr_pool *s, int oy, int ox, int *y0, int *y1, int *x0, int *x1, float *div)
{
    int hs = oy * s->sh - s->pt, ws = ox * s->sw - s->pl;
    int he = hs + s->kh, we = ws + s->kw;
    int hp = he < s->h + s->pb ? he : s->h + s->pb, wp = we < s->w + s->pr ? we : s->w + s->pr;
    int padded = (hp - hs) * (wp - ws);
    *y0 = hs < 0 ? 0 : hs;
    *x0 = ws < 0 ? 0 : ws;
    *y1 = he < s->h ? he : s->h;
    *x1 = we < s->w ? we : s->w;
    int real = (*y1 - *y0) * (*x1 - *x0);
    int d = s->count_include_pad ? padded : real;
    *div = d > 0 ? 1.0f / (float)d : 0.0f;
}

void nad_tr_avgpool_forward(const nad_tr_pool *s, const float *x, float *y)
{
    int64_t hw = (int64_t)s->h * s->w, ohw = (int64_t)s->oh * s->ow;
    for (int64_t p = 0; p < s->nc; p++) {
        const float *xp = x + p * hw;
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++) {
                int y0, y1, x0, x1;
                float inv;
                avg_window(s, oy, ox, &y0, &y1, &x0, &x1, &inv);
                float acc = 0.0f;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++)
                        acc += xp[iy * s->w + ix];
                y[p * ohw + oy * s->ow + ox] = acc * inv;
            }
    }
}

void nad_tr_avgpool_backward(const nad_tr_pool *s, const float *dy, float *dx)
{
    int64_t hw = (int64_t)s->h * s->w, ohw = (int64_t)s->oh * s->ow;
    for (int64_t p = 0; p < s->nc; p++) {
        float *xp = dx + p * hw;
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++) {
                int y0, y1, x0, x1;
                float inv;
                avg_window(s, oy, ox, &y0, &y1, &x0, &x1, &inv);
                float g = dy[p * ohw + oy * s->ow + ox] * inv;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++)
                        xp[iy * s->w + ix] += g;
            }
    }
}

void nad_tr_gap_forward(const float *x, float *y, int64_t nc, int64_t hw)
{
    for (int64_t p = 0; p < nc; p++) {
        float acc = 0.0f;
        for (int64_t i = 0; i < hw; i++)
            acc += x[p * hw + i];
        y[p] = acc / (float)hw;
    }
}

void nad_tr_gap_backward(const float *dy, float *dx, int64_t nc, int64_t hw)
{
    for (int64_t p = 0; p < nc; p++) {
        float g = dy[p] / (float)hw;
        for (int64_t i = 0; i < hw; i++)
            dx[p * hw + i] += g;
    }
}

void nad_tr_gmp_forward(const float *x, float *y, int32_t *argmax, int64_t nc, int64_t hw)
{
    for (int64_t p = 0; p < nc; p++) {
        int32_t a = 0;
        for (int64_t i = 1; i < hw; i++)
            if (x[p * hw + i] > x[p * hw + a])
                a = (int32_t)i;
        y[p] = x[p * hw + a];
        argmax[p] = a;
    }
}

void nad_tr_gmp_backward(const int32_t *argmax, const float *dy, float *dx, int64_t nc, int64_t hw)
{
    for (int64_t p = 0; p < nc; p++)
        dx[p * hw + argmax[p]] += dy[p];
}
