/*
 * Elementwise ops for training: broadcasting Add/Sub/Mul/Div, the activation
 * functions, and inverted dropout.
 *
 * Broadcasting follows numpy: shapes are right-aligned and an axis of size 1
 * repeats.  The backward pass of a broadcast operand is the sum of dY over the
 * axes it was repeated along (the adjoint of repetition).  Both passes walk Y
 * in memory order, one innermost row at a time, with the operands' strides set
 * to 0 on broadcast axes; the sums therefore run in a fixed order.
 */
#include "train/grad.h"
#include "train/parallel.h"
#include "train/rng.h"

#include <math.h>
#include <string.h>

int nad_tr_bcast_init(nad_tr_bcast *s, int a_ndim, const int64_t *a_dims, int b_ndim, const int64_t *b_dims)
{
    int nd = a_ndim > b_ndim ? a_ndim : b_ndim;
    if (nd > NAD_TR_MAXD)
        return -1;
    if (nd == 0)
        nd = 1;
    s->ndim = nd;
    for (int d = 0; d < nd; d++) {
        int ia = d - (nd - a_ndim), ib = d - (nd - b_ndim);
        int64_t da = ia >= 0 ? a_dims[ia] : 1, db = ib >= 0 ? b_dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return -1;
        s->a[d] = da;
        s->b[d] = db;
        s->y[d] = da > db ? da : db;
        if (da == 0 || db == 0)
            s->y[d] = 0;
    }
    return 0;
}

/* Element strides of an operand with dims od inside y's index space. */
static void bstrides(const nad_tr_bcast *s, const int64_t *od, int64_t *st)
{
    int64_t acc = 1;
    for (int d = s->ndim - 1; d >= 0; d--) {
        st[d] = od[d] == 1 ? 0 : acc;
        acc *= od[d];
    }
}

/* Calls the row visitor once per innermost row of y with the row's offsets. */
typedef struct row_iter {
    int64_t rows, len;
    int64_t sa[NAD_TR_MAXD], sb[NAD_TR_MAXD];
} row_iter;

static void iter_init(const nad_tr_bcast *s, row_iter *it)
{
    bstrides(s, s->a, it->sa);
    bstrides(s, s->b, it->sb);
    it->len = s->y[s->ndim - 1];
    it->rows = 1;
    for (int d = 0; d < s->ndim - 1; d++)
        it->rows *= s->y[d];
}

/* Offsets of row r (an index over y's leading ndim-1 axes) in a and b. */
static void row_offsets(const nad_tr_bcast *s, const row_iter *it, int64_t r, int64_t *oa, int64_t *ob)
{
    int64_t a = 0, b = 0;
    for (int d = s->ndim - 2; d >= 0; d--) {
        int64_t i = r % s->y[d];
        r /= s->y[d];
        a += i * it->sa[d];
        b += i * it->sb[d];
    }
    *oa = a;
    *ob = b;
}

void nad_tr_binary_forward(const nad_tr_bcast *s, nad_tr_binop op, const float *a, const float *b, float *y)
{
    row_iter it;
    iter_init(s, &it);
    int64_t ia = it.sa[s->ndim - 1], ib = it.sb[s->ndim - 1];
    for (int64_t r = 0; r < it.rows; r++) {
        int64_t oa, ob;
        row_offsets(s, &it, r, &oa, &ob);
        const float *pa = a + oa, *pb = b + ob;
        float *py = y + r * it.len;
        switch (op) {
        case NAD_TR_ADD:
            for (int64_t j = 0; j < it.len; j++)
                py[j] = pa[j * ia] + pb[j * ib];
            break;
        case NAD_TR_SUB:
            for (int64_t j = 0; j < it.len; j++)
                py[j] = pa[j * ia] - pb[j * ib];
            break;
        case NAD_TR_MUL:
            for (int64_t j = 0; j < it.len; j++)
                py[j] = pa[j * ia] * pb[j * ib];
            break;
        case NAD_TR_DIV:
            for (int64_t j = 0; j < it.len; j++)
                py[j] = pa[j * ia] / pb[j * ib];
            break;
        }
    }
}

void nad_tr_binary_backward(const nad_tr_bcast *s, nad_tr_binop op, const float *a, const float *b, const float *dy,
                            float *da, float *db)
{
    row_iter it;
    iter_init(s, &it);
    int64_t ia = it.sa[s->ndim - 1], ib = it.sb[s->ndim - 1];
    for (int64_t r = 0; r < it.rows; r++) {
        int64_t oa, ob;
        row_offsets(s, &it, r, &oa, &ob);
        const float *pa = a + oa, *pb = b + ob, *g = dy + r * it.len;
        for (int64_t j = 0; j < it.len; j++) {
            float av = pa[j * ia], bv = pb[j * ib], gv = g[j];
            float ga, gb;
            switch (op) {
            case NAD_TR_ADD: ga = gv; gb = gv; break;
            case NAD_TR_SUB: ga = gv; gb = -gv; break;
            case NAD_TR_MUL: ga = gv * bv; gb = gv * av; break;
            default: /* d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 */
                ga = gv / bv;
                gb = -gv * av / (bv * bv);
                break;
            }
            if (da)
                da[oa + j * ia] += ga;
            if (db)
                db[ob + j * ib] += gb;
        }
    }
}

void nad_tr_act_forward(nad_tr_act act, float p0, float p1, const float *x, float *y, int64_t n)
{
    switch (act) {
    case NAD_TR_RELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case NAD_TR_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 0.0f ? x[i] : p0 * x[i];
        break;
    case NAD_TR_CLIP:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] < p0 ? p0 : x[i] > p1 ? p1 : x[i];
        break;
    case NAD_TR_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case NAD_TR_HARD_SIGMOID:
        for (int64_t i = 0; i < n; i++) {
            float v = p0 * x[i] + p1;
            y[i] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
        }
        break;
    case NAD_TR_HARD_SWISH: /* x * relu6(x + 3) / 6 */
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] + 3.0f;
            v = v < 0.0f ? 0.0f : v > 6.0f ? 6.0f : v;
            y[i] = x[i] * v * (1.0f / 6.0f);
        }
        break;
    case NAD_TR_TANH:
        for (int64_t i = 0; i < n; i++)
            y[i] = tanhf(x[i]);
        break;
    }
}

/*
 * Derivatives at the kinks follow PyTorch (the gradient at x == 0 of ReLU is 0,
 * Clip passes the gradient only strictly inside (min, max)), so fine-tuning
 * matches the framework the fixtures were trained with.
 */
void nad_tr_act_backward(nad_tr_act act, float p0, float p1, const float *x, const float *y, const float *dy, float *dx,
                         int64_t n)
{
    switch (act) {
    case NAD_TR_RELU:
        for (int64_t i = 0; i < n; i++)
            dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case NAD_TR_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++)
            dx[i] += x[i] > 0.0f ? dy[i] : p0 * dy[i];
        break;
    case NAD_TR_CLIP:
        for (int64_t i = 0; i < n; i++)
            dx[i] += x[i] > p0 && x[i] < p1 ? dy[i] : 0.0f;
        break;
    case NAD_TR_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            dx[i] += dy[i] * y[i] * (1.0f - y[i]);
        break;
    case NAD_TR_HARD_SIGMOID:
        for (int64_t i = 0; i < n; i++) {
            float v = p0 * x[i] + p1;
            dx[i] += v > 0.0f && v < 1.0f ? p0 * dy[i] : 0.0f;
        }
        break;
    case NAD_TR_HARD_SWISH:
        for (int64_t i = 0; i < n; i++) {
            float d = x[i] < -3.0f ? 0.0f : x[i] > 3.0f ? 1.0f : (2.0f * x[i] + 3.0f) * (1.0f / 6.0f);
            dx[i] += dy[i] * d;
        }
        break;
    case NAD_TR_TANH:
        for (int64_t i = 0; i < n; i++)
            dx[i] += dy[i] * (1.0f - y[i] * y[i]);
        break;
    }
}

void nad_tr_dropout_forward(const float *x, float *y, uint8_t *mask, int64_t n, float ratio, nad_rng *rng)
{
    float scale = ratio < 1.0f ? 1.0f / (1.0f - ratio) : 0.0f;
    /* keep with probability 1 - ratio: compare 24 random bits with the threshold */
    uint32_t thr = (uint32_t)((double)ratio * 16777216.0);
    for (int64_t i = 0; i < n; i++) {
        uint32_t r = (uint32_t)(nad_rng_u64(rng) >> 40);
        mask[i] = r >= thr;
        y[i] = mask[i] ? x[i] * scale : 0.0f;
    }
}

void nad_tr_dropout_backward(const uint8_t *mask, const float *dy, float *dx, int64_t n, float ratio)
{
    float scale = ratio < 1.0f ? 1.0f / (1.0f - ratio) : 0.0f;
    for (int64_t i = 0; i < n; i++)
        if (mask[i])
            dx[i] += dy[i] * scale;
}

typedef struct act_job {
    nad_tr_act act;
    float p0, p1;
    const float *x, *y, *dy;
    float *out;
} act_job;

static void act_fwd_range(void *arg, int64_t lo, int64_t hi)
{
    const act_job *j = arg;
    nad_tr_act_forward(j->act, j->p0, j->p1, j->x + lo, j->out + lo, hi - lo);
}

static void act_bwd_range(void *arg, int64_t lo, int64_t hi)
{
    const act_job *j = arg;
    nad_tr_act_backward(j->act, j->p0, j->p1, j->x + lo, j->y + lo, j->dy + lo, j->out + lo, hi - lo);
}

void nad_tr_act_forward_mt(nad_tr_act act, float p0, float p1, const float *x, float *y, int64_t n, int threads)
{
    act_job j = {act, p0, p1, x, NULL, NULL, y};
    nad_par_for(threads, n, 1 << 15, act_fwd_range, &j);
}

void nad_tr_act_backward_mt(nad_tr_act act, float p0, float p1, const float *x, const float *y, const float *dy,
                            float *dx, int64_t n, int threads)
{
    act_job j = {act, p0, p1, x, y, dy, dx};
    nad_par_for(threads, n, 1 << 15, act_bwd_range, &j);
}
