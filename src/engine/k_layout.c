/*
 * Layout kernels that move data without arithmetic: Transpose, one Concat
 * input, and Pad (constant, reflect, edge).
 */
#include <string.h>

#include "engine/kernels.h"

/* See kernels.h.  Walks y in order with an odometer over y's axes, stepping
 * x by the stride of the matching source axis. */
void nad_k_transpose(int ndim, const int64_t *dims, const int *perm, const float *x, float *y)
{
    int64_t xs[NAD_K_MAX_DIMS] = {0}, yd[NAD_K_MAX_DIMS] = {0}, st[NAD_K_MAX_DIMS] = {0};
    int64_t idx[NAD_K_MAX_DIMS] = {0}, total = 1, r = 1;
    if (ndim <= 0) {
        y[0] = x[0];
        return;
    }
    for (int i = ndim - 1; i >= 0; i--) {
        xs[i] = r;
        r *= dims[i];
    }
    for (int i = 0; i < ndim; i++) {
        yd[i] = dims[perm[i]];
        st[i] = xs[perm[i]];
        total *= yd[i];
    }
    const int64_t len = yd[ndim - 1], s = st[ndim - 1];
    int64_t off = 0;
    for (int64_t o = 0; o < total; o += len) {
        float *yr = y + o;
        for (int64_t j = 0; j < len; j++)
            yr[j] = x[off + j * s];
        for (int i = ndim - 2; i >= 0; i--) {
            off += st[i];
            if (++idx[i] < yd[i])
                break;
            off -= st[i] * yd[i];
            idx[i] = 0;
        }
    }
}

/* See kernels.h. */
void nad_k_concat_part(int64_t outer, int64_t len, int64_t inner, int64_t total, int64_t off, const float *x,
                       float *y)
{
    const size_t chunk = (size_t)(len * inner);
    for (int64_t o = 0; o < outer; o++)
        memcpy(y + (o * total + off) * inner, x + o * len * inner, chunk * sizeof(float));
}

/* Maps output coordinate v (already shifted by the begin pad) of an axis of
 * size n to a source index, or -1 for the constant value. */
static int64_t pad_src(int64_t v, int64_t n, int mode)
{
    if (v >= 0 && v < n)
        return v;
    if (mode == 0 || n <= 0)
        return -1;
    if (mode == 2) /* edge */
        return v < 0 ? 0 : n - 1;
    if (n == 1) /* reflect on a single element */
        return 0;
    int64_t period = 2 * (n - 1); /* reflect: ... 2 1 [0 1 2 .. n-1] n-2 ... */
    int64_t m = v % period;
    if (m < 0)
        m += period;
    return m < n ? m : period - m;
}

/*
 * See kernels.h.  Row by row over the last axis: a row whose outer coordinates
 * fall in the padding is all constant (constant mode) or copies the row pad_src
 * maps to; inside a row the middle is one memcpy and only the pads are filled
 * element by element.
 */
void nad_k_pad(int ndim, const int64_t *dims, const int64_t *pads, int mode, float value, const float *x, float *y)
{
    int64_t yd[NAD_K_MAX_DIMS] = {0}, xs[NAD_K_MAX_DIMS] = {0}, idx[NAD_K_MAX_DIMS] = {0}, rows = 1, r = 1;
    if (ndim <= 0) {
        y[0] = x[0];
        return;
    }
    for (int i = ndim - 1; i >= 0; i--) {
        xs[i] = r;
        r *= dims[i];
    }
    for (int i = 0; i < ndim; i++) {
        yd[i] = dims[i] + pads[i] + pads[ndim + i];
        if (i < ndim - 1)
            rows *= yd[i];
    }
    const int last = ndim - 1;
    const int64_t len = yd[last], n = dims[last], pb = pads[last];
    /* the part of each output row that copies input columns directly */
    int64_t c0 = pb < 0 ? 0 : pb, c1 = pb + n < len ? pb + n : len;
    if (c1 < c0)
        c1 = c0;
    for (int64_t o = 0; o < rows; o++) {
        float *yr = y + o * len;
        int64_t src = 0;
        for (int i = 0; i < last && src >= 0; i++) {
            int64_t s = pad_src(idx[i] - pads[i], dims[i], mode);
            src = s < 0 ? -1 : src + s * xs[i];
        }
        if (src < 0 || n <= 0) {
            for (int64_t j = 0; j < len; j++)
                yr[j] = value;
        } else {
            const float *xr = x + src;
            for (int64_t j = 0; j < c0; j++) {
                int64_t s = pad_src(j - pb, n, mode);
                yr[j] = s < 0 ? value : xr[s];
            }
            if (c1 > c0)
                memcpy(yr + c0, xr + (c0 - pb), (size_t)(c1 - c0) * sizeof(float));
            for (int64_t j = c1; j < len; j++) {
                int64_t s = pad_src(j - pb, n, mode);
                yr[j] = s < 0 ? value : xr[s];
            }
        }
        for (int i = last - 1; i >= 0; i--) {
            if (++idx[i] < yd[i])
                break;
            idx[i] = 0;
        }
    }
}
