/*
 * Elementwise kernels: numpy-broadcast binary ops (Add/Sub/Mul/Div), inference
 * BatchNorm and softmax.
 *
 * Broadcasting is described by per-axis strides (0 on broadcast axes), after
 * merging neighbouring axes that are contiguous for both operands, so the
 * common cases collapse to one or two axes: same shape → one flat loop,
 * per-channel [N,C,H,W] op [C,1,1] → rows of H*W against one scalar.
 */
#include <math.h>

#include "engine/kernels.h"

/* See kernels.h.  Aligns dims from the right (numpy rule), then merges axes. */
int nad_k_bcast_init(nad_bcast *bc, const int64_t *da, int na, const int64_t *db, int nb)
{
    int nd = na > nb ? na : nb;
    if (nd > NAD_K_MAX_DIMS)
        return -1;
    int64_t dims[NAD_K_MAX_DIMS], ea[NAD_K_MAX_DIMS], eb[NAD_K_MAX_DIMS];
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - na), ib = i - (nd - nb);
        ea[i] = ia >= 0 ? da[ia] : 1;
        eb[i] = ib >= 0 ? db[ib] : 1;
        if (ea[i] != eb[i] && ea[i] != 1 && eb[i] != 1)
            return -1;
        dims[i] = ea[i] == 1 ? eb[i] : ea[i];
    }
    /* Row-major strides of a and b, zeroed on broadcast axes. */
    int64_t sa[NAD_K_MAX_DIMS], sb[NAD_K_MAX_DIMS], ra = 1, rb = 1;
    for (int i = nd - 1; i >= 0; i--) {
        sa[i] = ea[i] == 1 && dims[i] != 1 ? 0 : ra;
        sb[i] = eb[i] == 1 && dims[i] != 1 ? 0 : rb;
        ra *= ea[i];
        rb *= eb[i];
    }
    /* Merge axis i into the (already merged) axis to its right when both
     * operands step through them as one longer axis; drop size-1 axes. */
    int m = 0;
    int64_t md[NAD_K_MAX_DIMS], ma[NAD_K_MAX_DIMS], mb[NAD_K_MAX_DIMS];
    for (int i = nd - 1; i >= 0; i--) {
        if (dims[i] == 1)
            continue;
        if (m > 0 && sa[i] == ma[m - 1] * md[m - 1] && sb[i] == mb[m - 1] * md[m - 1]) {
            md[m - 1] *= dims[i];
            continue;
        }
        md[m] = dims[i];
        ma[m] = sa[i];
        mb[m] = sb[i];
        m++;
    }
    if (m == 0) {
        md[0] = 1;
        ma[0] = mb[0] = 1;
        m = 1;
    }
    bc->ndim = m;
    for (int i = 0; i < m; i++) { /* back to outer-first order */
        bc->dims[i] = md[m - 1 - i];
        bc->sa[i] = ma[m - 1 - i];
        bc->sb[i] = mb[m - 1 - i];
    }
    return 0;
}

/* One inner row: y[j] = a[j*sa] op b[j*sb], specialised on the strides that
 * matter so the loops vectorise. */
#define ROW_LOOP(EXPR)                                                                                                 \
    do {                                                                                                               \
        if (sa == 1 && sb == 1) {                                                                                      \
            for (int64_t j = 0; j < len; j++) {                                                                        \
                float x = a[j], z = b[j];                                                                              \
                y[j] = EXPR;                                                                                           \
            }                                                                                                          \
        } else if (sa == 1 && sb == 0) {                                                                               \
            const float z = b[0];                                                                                      \
            for (int64_t j = 0; j < len; j++) {                                                                        \
                float x = a[j];                                                                                        \
                y[j] = EXPR;                                                                                           \
            }                                                                                                          \
        } else if (sa == 0 && sb == 1) {                                                                               \
            const float x = a[0];                                                                                      \
            for (int64_t j = 0; j < len; j++) {                                                                        \
                float z = b[j];                                                                                        \
                y[j] = EXPR;                                                                                           \
            }                                                                                                          \
        } else {                                                                                                       \
            for (int64_t j = 0; j < len; j++) {                                                                        \
                float x = a[j * sa], z = b[j * sb];                                                                    \
                y[j] = EXPR;                                                                                           \
            }                                                                                                          \
        }                                                                                                              \
    } while (0)

static void binary_row(nad_binop op, int64_t len, const float *a, int64_t sa, const float *b,
                       int64_t sb, float *y)
{
    switch (op) {
    case NAD_BIN_ADD:
        ROW_LOOP(x + z);
        break;
    case NAD_BIN_SUB:
        ROW_LOOP(x - z);
        break;
    case NAD_BIN_MUL:
        ROW_LOOP(x * z);
        break;
    case NAD_BIN_DIV:
        ROW_LOOP(x / z);
        break;
    }
}

/* See kernels.h.  Walks the outer axes with an odometer; the last axis is a row. */
void nad_k_binary(nad_binop op, const nad_bcast *bc, const float *a, const float *b, float *y)
{
    const int nd = bc->ndim;
    const int64_t len = bc->dims[nd - 1];
    int64_t rows = 1;
    for (int i = 0; i < nd - 1; i++)
        rows *= bc->dims[i];
    int64_t idx[NAD_K_MAX_DIMS] = {0};
    int64_t oa = 0, ob = 0;
    for (int64_t r = 0; r < rows; r++) {
        binary_row(op, len, a + oa, bc->sa[nd - 1], b + ob, bc->sb[nd - 1], y + r * len);
        for (int i = nd - 2; i >= 0; i--) { /* advance the odometer */
            oa += bc->sa[i];
            ob += bc->sb[i];
            if (++idx[i] < bc->dims[i])
                break;
            oa -= bc->sa[i] * bc->dims[i];
            ob -= bc->sb[i] * bc->dims[i];
            idx[i] = 0;
        }
    }
}

/* See kernels.h.  Per channel: y = act(x * k + (bias - mean * k)), k = scale / sqrt(var + eps). */
void nad_k_batchnorm(int n, int c, int64_t hw, const float *x, const float *scale, const float *bias,
                     const float *mean, const float *var, float eps, const nad_act *act, float *y)
{
    for (int i = 0; i < n; i++) {
        for (int ch = 0; ch < c; ch++) {
            const float k = scale[ch] / sqrtf(var[ch] + eps);
            const float s = bias[ch] - mean[ch] * k;
            const float *xr = x + ((size_t)i * c + ch) * hw; /* may equal yr: in place */
            float *yr = y + ((size_t)i * c + ch) * hw;
            for (int64_t j = 0; j < hw; j++)
                yr[j] = xr[j] * k;
            nad_k_bias_act(act, s, yr, (size_t)hw);
        }
    }
}

/* See kernels.h.  Subtracts the max before exp so large logits cannot overflow. */
void nad_k_softmax(int64_t outer, int64_t len, int64_t inner, const float *x, float *y)
{
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t in = 0; in < inner; in++) {
            const float *xs = x + o * len * inner + in;
            float *ys = y + o * len * inner + in;
            float mx = xs[0];
            for (int64_t j = 1; j < len; j++)
                mx = xs[j * inner] > mx ? xs[j * inner] : mx;
            double sum = 0.0;
            for (int64_t j = 0; j < len; j++) {
                float v = expf(xs[j * inner] - mx);
                ys[j * inner] = v;
                sum += v;
            }
            const float inv = (float)(1.0 / sum);
            for (int64_t j = 0; j < len; j++)
                ys[j * inner] *= inv;
        }
    }
}
