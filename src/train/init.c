/*
 * Weight initialisation for training from scratch.  NAD_INIT_HE: He et al.
 * 2015 ("Delving deep into rectifiers", eq. 10) normal with std =
 * sqrt(2 / fan_in) and zero biases.  NAD_INIT_TORCH: what a freshly built
 * PyTorch nn.Conv2d / nn.Linear holds, U(-b, b) with b = 1/sqrt(fan_in) for
 * weights (kaiming_uniform_ with a = sqrt 5) and biases alike; it exists so
 * a from-scratch run can follow a torch recipe exactly.  fan_in =
 * C/group * kh * kw for a conv and the inner size K for Gemm/MatMul.
 * Weights added by Add/Sub start at 0, multiplicative weights (Mul/Div
 * operands) at 1, BN at gamma 1, beta 0, mean 0, var 1.
 */
#include <math.h>

#include "graph/graph.h"
#include "nadapt/train.h"
#include "train/rng.h"

/* Fills weight tensor ti with value v (made writable first). */
static nad_status fill(nad_graph *g, int ti, float v, nad_err *e)
{
    nad_tensor *t = &g->tensors[ti];
    if (t->kind != NAD_TK_WEIGHT || t->dtype != NAD_DT_FLOAT || !t->blob)
        return NAD_OK;
    nad_status rc = nad_tensor_make_writable(t, e);
    if (rc)
        return rc;
    float *p = nad_tensor_f32(t);
    for (int64_t i = 0, n = nad_tensor_numel(t); i < n; i++)
        p[i] = v;
    return NAD_OK;
}

/* Fills weight tensor ti with random values for the given fan_in: He normal,
 * or U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the torch scheme. */
static nad_status random_fill(nad_graph *g, int ti, int64_t fan_in, nad_init_scheme scheme, nad_rng *r, nad_err *e)
{
    nad_tensor *t = &g->tensors[ti];
    if (t->kind != NAD_TK_WEIGHT || t->dtype != NAD_DT_FLOAT || !t->blob)
        return NAD_OK;
    nad_status rc = nad_tensor_make_writable(t, e);
    if (rc)
        return rc;
    double fan = (double)(fan_in > 0 ? fan_in : 1);
    double sd = sqrt(2.0 / fan), bound = 1.0 / sqrt(fan);
    float *p = nad_tensor_f32(t);
    for (int64_t i = 0, n = nad_tensor_numel(t); i < n; i++)
        p[i] = scheme == NAD_INIT_TORCH ? (float)(bound * (2.0 * nad_rng_unit(r) - 1.0))
                                        : (float)(sd * nad_rng_normal(r));
    return NAD_OK;
}

/* Initialises a bias for the scheme: zero (He) or U(-b, b) (torch). */
static nad_status bias_fill(nad_graph *g, int ti, int64_t fan_in, nad_init_scheme scheme, nad_rng *r, nad_err *e)
{
    return scheme == NAD_INIT_TORCH ? random_fill(g, ti, fan_in, scheme, r, e) : fill(g, ti, 0.0f, e);
}

nad_status nad_train_init_weights(nad_graph *g, nad_init_scheme scheme, uint64_t seed, nad_err *e)
{
    if (scheme != NAD_INIT_HE && scheme != NAD_INIT_TORCH)
        return nad_errf(e, NAD_EINVAL, "unknown initialisation scheme %d", (int)scheme);
    nad_rng r;
    nad_rng_seed(&r, seed ^ 0x494E4954ull);
    nad_status rc = NAD_OK;
    for (int i = 0; i < g->n_nodes && !rc; i++) {
        const nad_node *nd = &g->nodes[i];
        int in1 = nd->n_in > 1 ? nd->in[1] : -1, in2 = nd->n_in > 2 ? nd->in[2] : -1;
        switch (nd->op) {
        case NAD_OP_CONV:
            if (in1 >= 0) {
                const nad_tensor *w = &g->tensors[in1];
                int64_t fan = w->ndim == 4 ? w->dims[1] * w->dims[2] * w->dims[3] : 1;
                rc = random_fill(g, in1, fan, scheme, &r, e);
                if (!rc && in2 >= 0)
                    rc = bias_fill(g, in2, fan, scheme, &r, e);
            }
            break;
        case NAD_OP_GEMM: case NAD_OP_MATMUL:
            if (in1 >= 0) {
                const nad_tensor *w = &g->tensors[in1];
                int tb = nd->op == NAD_OP_GEMM && nd->attr.gemm.trans_b;
                int64_t fan = w->ndim == 2 ? w->dims[tb ? 1 : 0] : 1;
                rc = random_fill(g, in1, fan, scheme, &r, e);
                if (!rc && nd->op == NAD_OP_GEMM && in2 >= 0)
                    rc = bias_fill(g, in2, fan, scheme, &r, e);
            }
            break;
        case NAD_OP_ADD: case NAD_OP_SUB:
            for (int k = 0; k < 2 && !rc; k++)
                rc = fill(g, nd->in[k], 0.0f, e);
            break;
        case NAD_OP_MUL: case NAD_OP_DIV:
            for (int k = 0; k < 2 && !rc; k++)
                rc = fill(g, nd->in[k], 1.0f, e);
            break;
        case NAD_OP_BATCHNORM: {
            static const float v[5] = {0.0f, 1.0f, 0.0f, 0.0f, 1.0f};
            for (int k = 1; k < nd->n_in && k < 5 && !rc; k++)
                if (nd->in[k] >= 0)
                    rc = fill(g, nd->in[k], v[k], e);
            break;
        }
        default:
            break;
        }
    }
    return rc;
}
