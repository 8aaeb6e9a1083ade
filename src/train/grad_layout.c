/*
 * Layout ops for training: Transpose, Concat and constant Pad move values
 * without arithmetic, so their backward passes move the gradients back along
 * the same index map (Flatten/Reshape/Squeeze/Unsqueeze do not move anything
 * and are plain copies in the tape).
 */
#include "train/grad.h"

#include <string.h>

/* Row-major strides of dims. */
static void strides_of(int ndim, const int64_t *dims, int64_t *st)
{
    int64_t acc = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        st[d] = acc;
        acc *= dims[d];
    }
}

/*
 * Visits every element of y = transpose(x, perm) in y's order and calls back
 * with (y offset, x offset); the forward copies x -> y, the backward adds
 * dy -> dx, so both share this walk.
 */
static void transpose_walk(const float *src, float *dst, int ndim, const int64_t *dims, const int64_t *perm,
                           int backward)
{
    int64_t xs[NAD_TR_MAXD], yd[NAD_TR_MAXD], idx[NAD_TR_MAXD] = {0};
    strides_of(ndim, dims, xs);
    int64_t total = 1;
    for (int d = 0; d < ndim; d++) {
        yd[d] = dims[perm[d]];
        total *= yd[d];
    }
    int64_t xoff = 0;
    for (int64_t yo = 0; yo < total; yo++) {
        if (backward)
            dst[xoff] += src[yo];
        else
            dst[yo] = src[xoff];
        /* odometer increment over y's index, keeping x's offset in step */
        for (int d = ndim - 1; d >= 0; d--) {
            idx[d]++;
            xoff += xs[perm[d]];
            if (idx[d] < yd[d])
                break;
            xoff -= idx[d] * xs[perm[d]];
            idx[d] = 0;
        }
    }
}

void nad_tr_transpose(const float *x, float *y, int ndim, const int64_t *dims, const int64_t *perm)
{
    transpose_walk(x, y, ndim, dims, perm, 0);
}

void nad_tr_transpose_backward(const float *dy, float *dx, int ndim, const int64_t *dims, const int64_t *perm)
{
    transpose_walk(dy, dx, ndim, dims, perm, 1);
}

void nad_tr_concat_forward(const float *const *x, const int64_t *inner, int n_in, int64_t outer, float *y)
{
    int64_t row = 0;
    for (int i = 0; i < n_in; i++)
        row += inner[i];
    for (int64_t o = 0; o < outer; o++) {
        float *dst = y + o * row;
        for (int i = 0; i < n_in; i++) {
            memcpy(dst, x[i] + o * inner[i], (size_t)inner[i] * sizeof *dst);
            dst += inner[i];
        }
    }
}

void nad_tr_concat_backward(const float *dy, const int64_t *inner, int n_in, int64_t outer, float *const *dx)
{
    int64_t row = 0;
    for (int i = 0; i < n_in; i++)
        row += inner[i];
    for (int64_t o = 0; o < outer; o++) {
        const float *src = dy + o * row;
        for (int i = 0; i < n_in; i++) {
            if (dx[i]) {
                float *d = dx[i] + o * inner[i];
                for (int64_t j = 0; j < inner[i]; j++)
                    d[j] += src[j];
            }
            src += inner[i];
        }
    }
}

/* Walks x's elements with the matching offset inside the padded y. */
static void pad_walk(const float *src, float *dst, int ndim, const int64_t *dims, const int64_t *pads, int backward)
{
    int64_t yd[NAD_TR_MAXD], ys[NAD_TR_MAXD], idx[NAD_TR_MAXD] = {0};
    int64_t total = 1, yoff = 0;
    for (int d = 0; d < ndim; d++) {
        yd[d] = dims[d] + pads[d] + pads[ndim + d];
        total *= dims[d];
    }
    strides_of(ndim, yd, ys);
    for (int d = 0; d < ndim; d++)
        yoff += pads[d] * ys[d];
    for (int64_t xo = 0; xo < total; xo++) {
        if (backward)
            dst[xo] += src[yoff];
        else
            dst[yoff] = src[xo];
        for (int d = ndim - 1; d >= 0; d--) {
            idx[d]++;
            yoff += ys[d];
            if (idx[d] < dims[d])
                break;
            yoff -= idx[d] * ys[d];
            idx[d] = 0;
        }
    }
}

void nad_tr_pad_forward(const float *x, float *y, int ndim, const int64_t *dims, const int64_t *pads, float value)
{
    int64_t ytotal = 1;
    for (int d = 0; d < ndim; d++)
        ytotal *= dims[d] + pads[d] + pads[ndim + d];
    for (int64_t i = 0; i < ytotal; i++)
        y[i] = value;
    pad_walk(x, y, ndim, dims, pads, 0);
}

void nad_tr_pad_backward(const float *dy, float *dx, int ndim, const int64_t *dims, const int64_t *pads)
{
    pad_walk(dy, dx, ndim, dims, pads, 1);
}
