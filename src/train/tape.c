/*
 * The training tape (see tape.h): one switch over nad_op maps each node onto
 * the array kernels in grad_*.c, forward in graph order, backward in reverse.
 *
 * Buffers.  Every activation tensor has a value buffer and (unless it is the
 * graph input) a gradient buffer sized for max_batch images.  A run with n
 * images lays tensors out densely with dims[batch_axis] = n, which every kernel
 * sees consistently, so no prefix/stride bookkeeping is needed.  Layout-only
 * ops (Flatten, Reshape, Squeeze, Unsqueeze, Identity, eval Dropout) copy;
 * this costs a memcpy per step but keeps "one tensor, one buffer" simple.
 */
#include "train/tape.h"

#include <stdlib.h>
#include <string.h>

#include "train/grad.h"

typedef struct node_aux {
    int32_t *argmax;    /* MaxPool / GlobalMaxPool routing, output numel     */
    float *bn_mean;     /* BatchNorm batch mean per channel                  */
    float *bn_invstd;   /* BatchNorm 1/sqrt(var + eps) per channel           */
    uint8_t *mask;      /* Dropout keep mask                                 */
    int train_mode;     /* 1 when the last forward of this node was training */
} node_aux;

struct nad_tape {
    nad_graph *g;
    int max_batch;
    float **val;     /* per tensor: activation buffer or NULL (weights: blob) */
    float **grad;    /* per tensor: gradient buffer or NULL                  */
    int64_t *cap;    /* per tensor: floats allocated in val/grad             */
    node_aux *aux;   /* per node                                             */
    float *ws;       /* conv scratch                                         */
    size_t ws_floats;
    int input, output, logits;
    int skip_node;   /* final Softmax not run in backward, -1 if none        */
    int n_params;
    int *params;     /* tensor indices of trainable weights                  */
    int threads;     /* for the kernels' own loops                           */
};

/* Dims of tensor ti for a run of n images. */
static int64_t dims_at(const nad_tape *t, int ti, int n, int64_t *d)
{
    d[0] = 1;
    const nad_tensor *x = &t->g->tensors[ti];
    int64_t numel = 1;
    for (int i = 0; i < x->ndim; i++) {
        d[i] = x->dims[i];
        if (i == x->batch_axis)
            d[i] = n;
        numel *= d[i];
    }
    return numel;
}

static int64_t numel_at(const nad_tape *t, int ti, int n)
{
    int64_t d[NAD_MAX_DIMS];
    return dims_at(t, ti, n, d);
}

/* Values of tensor ti: its activation buffer, else the graph blob. */
static float *val_of(const nad_tape *t, int ti)
{
    return t->val[ti] ? t->val[ti] : nad_tensor_f32(&t->g->tensors[ti]);
}

/* Gradient of input k of node nd, or NULL when none is kept. */
static float *grad_in(const nad_tape *t, const nad_node *nd, int k)
{
    return k < nd->n_in && nd->in[k] >= 0 ? t->grad[nd->in[k]] : NULL;
}

static int has_in(const nad_node *nd, int k)
{
    return k < nd->n_in && nd->in[k] >= 0;
}

/* True for ops this tape can run forward and backward. */
static int op_supported(nad_op op)
{
    switch (op) {
    case NAD_OP_CONV: case NAD_OP_GEMM: case NAD_OP_MATMUL: case NAD_OP_ADD: case NAD_OP_SUB: case NAD_OP_MUL:
    case NAD_OP_DIV: case NAD_OP_RELU: case NAD_OP_LEAKY_RELU: case NAD_OP_CLIP: case NAD_OP_SIGMOID:
    case NAD_OP_HARD_SIGMOID: case NAD_OP_HARD_SWISH: case NAD_OP_TANH: case NAD_OP_MAXPOOL: case NAD_OP_AVGPOOL:
    case NAD_OP_GLOBAL_AVGPOOL: case NAD_OP_GLOBAL_MAXPOOL: case NAD_OP_FLATTEN: case NAD_OP_RESHAPE:
    case NAD_OP_TRANSPOSE: case NAD_OP_CONCAT: case NAD_OP_PAD: case NAD_OP_BATCHNORM: case NAD_OP_DROPOUT:
    case NAD_OP_IDENTITY: case NAD_OP_SQUEEZE: case NAD_OP_UNSQUEEZE:
        return 1;
    default:
        return 0;
    }
}

/* True when every output of node i already holds a constant value (a shape
 * chain that shape inference evaluated); such nodes are not run. */
static int node_is_const(const nad_graph *g, const nad_node *nd)
{
    for (int k = 0; k < nd->n_out; k++)
        if (!g->tensors[nd->out[k]].blob)
            return 0;
    return 1;
}

static void conv_geom(const nad_tape *t, const nad_node *nd, int n, nad_tr_conv *s)
{
    int64_t xd[NAD_MAX_DIMS], yd[NAD_MAX_DIMS];
    dims_at(t, nd->in[0], n, xd);
    dims_at(t, nd->out[0], n, yd);
    /* Shape inference (run when the tape is built) already made strides,
     * dilations and group >= 1 and resolved auto_pad into pads. */
    const nad_conv_attr *a = &nd->attr.conv;
    s->n = (int)xd[0];
    s->c = (int)xd[1];
    s->h = (int)xd[2];
    s->w = (int)xd[3];
    s->m = (int)yd[1];
    s->oh = (int)yd[2];
    s->ow = (int)yd[3];
    s->kh = a->kh;
    s->kw = a->kw;
    s->sh = a->sh;
    s->sw = a->sw;
    s->dh = a->dh;
    s->dw = a->dw;
    s->pt = a->pads[0];
    s->pl = a->pads[1];
    s->group = a->group;
    s->threads = t->threads;
}

static void pool_geom(const nad_tape *t, const nad_node *nd, int n, nad_tr_pool *s)
{
    int64_t xd[NAD_MAX_DIMS], yd[NAD_MAX_DIMS];
    dims_at(t, nd->in[0], n, xd);
    dims_at(t, nd->out[0], n, yd);
    const nad_pool_attr *a = &nd->attr.pool;
    s->nc = (int)(xd[0] * xd[1]);
    s->h = (int)xd[2];
    s->w = (int)xd[3];
    s->oh = (int)yd[2];
    s->ow = (int)yd[3];
    s->kh = a->kh;
    s->kw = a->kw;
    s->sh = a->sh;
    s->sw = a->sw;
    s->dh = a->dh;
    s->dw = a->dw;
    s->pt = a->pads[0];
    s->pl = a->pads[1];
    s->pb = a->pads[2];
    s->pr = a->pads[3];
    s->count_include_pad = a->count_include_pad;
    s->threads = t->threads;
}

/* Gemm geometry for n images; MatMul is Gemm with alpha 1 and no C, A's
 * leading axes folded into M. */
static nad_status gemm_geom(const nad_tape *t, const nad_node *nd, int n, nad_tr_gemm *s, nad_err *e)
{
    int64_t ad[NAD_MAX_DIMS], bd[NAD_MAX_DIMS];
    int an = t->g->tensors[nd->in[0]].ndim, bn = t->g->tensors[nd->in[1]].ndim;
    dims_at(t, nd->in[0], n, ad);
    dims_at(t, nd->in[1], n, bd);
    memset(s, 0, sizeof *s);
    if (nd->op == NAD_OP_MATMUL) {
        if (bn != 2 || an < 2)
            return nad_errf(e, NAD_EUNSUPPORTED, "node '%s' (MatMul): training needs a 2-D right operand", nd->name);
        int64_t m = 1;
        for (int i = 0; i < an - 1; i++)
            m *= ad[i];
        s->m = (int)m;
        s->k = (int)ad[an - 1];
        s->n = (int)bd[1];
        s->alpha = 1.0f;
        return NAD_OK;
    }
    const nad_gemm_attr *a = &nd->attr.gemm;
    s->trans_a = a->trans_a;
    s->trans_b = a->trans_b;
    s->alpha = a->alpha;
    s->beta = a->beta;
    s->m = (int)(a->trans_a ? ad[1] : ad[0]);
    s->k = (int)(a->trans_a ? ad[0] : ad[1]);
    s->n = (int)(a->trans_b ? bd[0] : bd[1]);
    if (has_in(nd, 2)) {
        const nad_tensor *c = &t->g->tensors[nd->in[2]];
        int64_t cd[NAD_MAX_DIMS];
        dims_at(t, nd->in[2], n, cd);
        s->c_ndim = c->ndim;
        for (int i = 0; i < c->ndim && i < 2; i++)
            s->c_dims[i] = cd[i];
    }
    return NAD_OK;
}

static nad_tr_act act_of(const nad_node *nd, float *p0, float *p1)
{
    *p0 = nd->attr.scalar.a;
    *p1 = nd->attr.scalar.b;
    switch (nd->op) {
    case NAD_OP_LEAKY_RELU: return NAD_TR_LEAKY_RELU;
    case NAD_OP_CLIP: return NAD_TR_CLIP;
    case NAD_OP_SIGMOID: return NAD_TR_SIGMOID;
    case NAD_OP_HARD_SIGMOID: return NAD_TR_HARD_SIGMOID;
    case NAD_OP_HARD_SWISH: return NAD_TR_HARD_SWISH;
    case NAD_OP_TANH: return NAD_TR_TANH;
    default: return NAD_TR_RELU;
    }
}

static nad_tr_binop binop_of(nad_op op)
{
    return op == NAD_OP_ADD ? NAD_TR_ADD : op == NAD_OP_SUB ? NAD_TR_SUB : op == NAD_OP_MUL ? NAD_TR_MUL : NAD_TR_DIV;
}

static nad_status bcast_geom(const nad_tape *t, const nad_node *nd, int n, nad_tr_bcast *s, nad_err *e)
{
    int64_t ad[NAD_MAX_DIMS], bd[NAD_MAX_DIMS];
    dims_at(t, nd->in[0], n, ad);
    dims_at(t, nd->in[1], n, bd);
    if (nad_tr_bcast_init(s, t->g->tensors[nd->in[0]].ndim, ad, t->g->tensors[nd->in[1]].ndim, bd))
        return nad_errf(e, NAD_ESHAPE, "node '%s': operands do not broadcast", nd->name);
    return NAD_OK;
}

/* Concat geometry: outer size and each input's inner block. */
static int64_t concat_geom(const nad_tape *t, const nad_node *nd, int n, int64_t *inner)
{
    const nad_tensor *y = &t->g->tensors[nd->out[0]];
    int axis = nd->attr.axis.axis < 0 ? nd->attr.axis.axis + y->ndim : nd->attr.axis.axis;
    int64_t outer = 1, d[NAD_MAX_DIMS];
    dims_at(t, nd->out[0], n, d);
    for (int i = 0; i < axis; i++)
        outer *= d[i];
    for (int k = 0; k < nd->n_in; k++) {
        int64_t xd[NAD_MAX_DIMS];
        int64_t numel = dims_at(t, nd->in[k], n, xd);
        inner[k] = outer ? numel / outer : 0;
    }
    return outer;
}

/* BN's channel count and per-channel plane size for n images. */
static void bn_geom(const nad_tape *t, const nad_node *nd, int n, int64_t *nn, int64_t *c, int64_t *hw)
{
    int64_t d[NAD_MAX_DIMS] = {1};
    int nd_x = t->g->tensors[nd->in[0]].ndim;
    dims_at(t, nd->in[0], n, d);
    *nn = d[0];
    *c = nd_x > 1 ? d[1] : 1;
    *hw = 1;
    for (int i = 2; i < nd_x; i++)
        *hw *= d[i];
}

/* Runs node i forward for n images. */
static nad_status forward_node(nad_tape *t, int i, int n, int training, nad_rng *rng, nad_err *e)
{
    nad_graph *g = t->g;
    const nad_node *nd = &g->nodes[i];
    node_aux *ax = &t->aux[i];
    float *y = t->val[nd->out[0]];
    const float *x = val_of(t, nd->in[0]);
    int64_t ny = numel_at(t, nd->out[0], n);
    nad_status rc = NAD_OK;
    switch (nd->op) {
    case NAD_OP_CONV: {
        nad_tr_conv s;
        conv_geom(t, nd, n, &s);
        nad_tr_conv_forward(&s, x, val_of(t, nd->in[1]), has_in(nd, 2) ? val_of(t, nd->in[2]) : NULL, y, t->ws);
        break;
    }
    case NAD_OP_GEMM: case NAD_OP_MATMUL: {
        nad_tr_gemm s;
        if ((rc = gemm_geom(t, nd, n, &s, e)))
            return rc;
        nad_tr_gemm_forward(&s, x, val_of(t, nd->in[1]), has_in(nd, 2) ? val_of(t, nd->in[2]) : NULL, y);
        break;
    }
    case NAD_OP_ADD: case NAD_OP_SUB: case NAD_OP_MUL: case NAD_OP_DIV: {
        nad_tr_bcast s;
        if ((rc = bcast_geom(t, nd, n, &s, e)))
            return rc;
        nad_tr_binary_forward(&s, binop_of(nd->op), x, val_of(t, nd->in[1]), y);
        break;
    }
    case NAD_OP_RELU: case NAD_OP_LEAKY_RELU: case NAD_OP_CLIP: case NAD_OP_SIGMOID: case NAD_OP_HARD_SIGMOID:
    case NAD_OP_HARD_SWISH: case NAD_OP_TANH: {
        float p0, p1;
        nad_tr_act a = act_of(nd, &p0, &p1);
        nad_tr_act_forward_mt(a, p0, p1, x, y, ny, t->threads);
        break;
    }
    case NAD_OP_MAXPOOL: {
        nad_tr_pool s;
        pool_geom(t, nd, n, &s);
        nad_tr_maxpool_forward(&s, x, y, ax->argmax);
        break;
    }
    case NAD_OP_AVGPOOL: {
        nad_tr_pool s;
        pool_geom(t, nd, n, &s);
        nad_tr_avgpool_forward(&s, x, y);
        break;
    }
    case NAD_OP_GLOBAL_AVGPOOL: case NAD_OP_GLOBAL_MAXPOOL: {
        int64_t nx = numel_at(t, nd->in[0], n);
        if (nd->op == NAD_OP_GLOBAL_AVGPOOL)
            nad_tr_gap_forward(x, y, ny, nx / ny);
        else
            nad_tr_gmp_forward(x, y, ax->argmax, ny, nx / ny);
        break;
    }
    case NAD_OP_TRANSPOSE: {
        const nad_tensor *xt = &g->tensors[nd->in[0]];
        int64_t d[NAD_MAX_DIMS], perm[NAD_MAX_DIMS];
        dims_at(t, nd->in[0], n, d);
        for (int k = 0; k < xt->ndim; k++)
            perm[k] = nd->attr.ints.n ? nd->attr.ints.v[k] : xt->ndim - 1 - k;
        nad_tr_transpose(x, y, xt->ndim, d, perm);
        break;
    }
    case NAD_OP_CONCAT: {
        int64_t inner[64];
        const float *xs[64];
        if (nd->n_in > 64)
            return nad_errf(e, NAD_EUNSUPPORTED, "node '%s' (Concat): more than 64 inputs", nd->name);
        int64_t outer = concat_geom(t, nd, n, inner);
        for (int k = 0; k < nd->n_in; k++)
            xs[k] = val_of(t, nd->in[k]);
        nad_tr_concat_forward(xs, inner, nd->n_in, outer, y);
        break;
    }
    case NAD_OP_PAD: {
        int64_t d[NAD_MAX_DIMS];
        dims_at(t, nd->in[0], n, d);
        nad_tr_pad_forward(x, y, g->tensors[nd->in[0]].ndim, d, nd->attr.pad.pads, nd->attr.pad.value);
        break;
    }
    case NAD_OP_BATCHNORM: {
        int64_t nn, c, hw;
        bn_geom(t, nd, n, &nn, &c, &hw);
        const float *gamma = val_of(t, nd->in[1]), *beta = val_of(t, nd->in[2]);
        float *rm = val_of(t, nd->in[3]), *rv = val_of(t, nd->in[4]);
        float eps = nd->attr.bn.epsilon;
        ax->train_mode = training;
        if (training)
            nad_tr_bn_train_forward(x, y, nn, c, hw, gamma, beta, eps, nd->attr.bn.momentum, rm, rv, ax->bn_mean,
                                    ax->bn_invstd, t->threads);
        else
            nad_tr_bn_eval_forward(x, y, nn, c, hw, gamma, beta, rm, rv, eps);
        break;
    }
    case NAD_OP_DROPOUT:
        ax->train_mode = training && nd->attr.scalar.a > 0.0f;
        if (ax->train_mode) {
            nad_tr_dropout_forward(x, y, ax->mask, ny, nd->attr.scalar.a, rng);
            break;
        }
        memcpy(y, x, (size_t)ny * sizeof *y);
        break;
    default: /* Flatten, Reshape, Squeeze, Unsqueeze, Identity: same data */
        memcpy(y, x, (size_t)ny * sizeof *y);
        break;
    }
    return NAD_OK;
}

/* Runs node i backward for n images: reads dY, accumulates into its inputs. */
static nad_status backward_node(nad_tape *t, int i, int n, nad_err *e)
{
    nad_graph *g = t->g;
    const nad_node *nd = &g->nodes[i];
    node_aux *ax = &t->aux[i];
    const float *dy = t->grad[nd->out[0]];
    const float *x = val_of(t, nd->in[0]), *y = t->val[nd->out[0]];
    float *dx = grad_in(t, nd, 0);
    int64_t ny = numel_at(t, nd->out[0], n);
    nad_status rc = NAD_OK;
    switch (nd->op) {
    case NAD_OP_CONV: {
        nad_tr_conv s;
        conv_geom(t, nd, n, &s);
        nad_tr_conv_backward(&s, x, val_of(t, nd->in[1]), dy, dx, grad_in(t, nd, 1), grad_in(t, nd, 2), t->ws);
        break;
    }
    case NAD_OP_GEMM: case NAD_OP_MATMUL: {
        nad_tr_gemm s;
        if ((rc = gemm_geom(t, nd, n, &s, e)))
            return rc;
        nad_tr_gemm_backward(&s, x, val_of(t, nd->in[1]), dy, dx, grad_in(t, nd, 1), grad_in(t, nd, 2));
        break;
    }
    case NAD_OP_ADD: case NAD_OP_SUB: case NAD_OP_MUL: case NAD_OP_DIV: {
        nad_tr_bcast s;
        if ((rc = bcast_geom(t, nd, n, &s, e)))
            return rc;
        nad_tr_binary_backward(&s, binop_of(nd->op), x, val_of(t, nd->in[1]), dy, dx, grad_in(t, nd, 1));
        break;
    }
    case NAD_OP_RELU: case NAD_OP_LEAKY_RELU: case NAD_OP_CLIP: case NAD_OP_SIGMOID: case NAD_OP_HARD_SIGMOID:
    case NAD_OP_HARD_SWISH: case NAD_OP_TANH: {
        float p0, p1;
        nad_tr_act a = act_of(nd, &p0, &p1);
        if (dx)
            nad_tr_act_backward_mt(a, p0, p1, x, y, dy, dx, ny, t->threads);
        break;
    }
    case NAD_OP_MAXPOOL: {
        nad_tr_pool s;
        pool_geom(t, nd, n, &s);
        if (dx)
            nad_tr_maxpool_backward(&s, ax->argmax, dy, dx);
        break;
    }
    case NAD_OP_AVGPOOL: {
        nad_tr_pool s;
        pool_geom(t, nd, n, &s);
        if (dx)
            nad_tr_avgpool_backward(&s, dy, dx);
        break;
    }
    case NAD_OP_GLOBAL_AVGPOOL: case NAD_OP_GLOBAL_MAXPOOL: {
        int64_t nx = numel_at(t, nd->in[0], n);
        if (!dx)
            break;
        if (nd->op == NAD_OP_GLOBAL_AVGPOOL)
            nad_tr_gap_backward(dy, dx, ny, nx / ny);
        else
            nad_tr_gmp_backward(ax->argmax, dy, dx, ny, nx / ny);
        break;
    }
    case NAD_OP_TRANSPOSE: {
        const nad_tensor *xt = &g->tensors[nd->in[0]];
        int64_t d[NAD_MAX_DIMS], perm[NAD_MAX_DIMS];
        dims_at(t, nd->in[0], n, d);
        for (int k = 0; k < xt->ndim; k++)
            perm[k] = nd->attr.ints.n ? nd->attr.ints.v[k] : xt->ndim - 1 - k;
        if (dx)
            nad_tr_transpose_backward(dy, dx, xt->ndim, d, perm);
        break;
    }
    case NAD_OP_CONCAT: {
        int64_t inner[64];
        float *dxs[64];
        int64_t outer = concat_geom(t, nd, n, inner);
        for (int k = 0; k < nd->n_in; k++)
            dxs[k] = grad_in(t, nd, k);
        nad_tr_concat_backward(dy, inner, nd->n_in, outer, dxs);
        break;
    }
    case NAD_OP_PAD: {
        int64_t d[NAD_MAX_DIMS];
        dims_at(t, nd->in[0], n, d);
        if (dx)
            nad_tr_pad_backward(dy, dx, g->tensors[nd->in[0]].ndim, d, nd->attr.pad.pads);
        break;
    }
    case NAD_OP_BATCHNORM: {
        int64_t nn, c, hw;
        if (!ax->train_mode)
            return nad_errf(e, NAD_ESTATE, "node '%s': backward needs a training-mode forward", nd->name);
        bn_geom(t, nd, n, &nn, &c, &hw);
        nad_tr_bn_train_backward(x, dy, nn, c, hw, val_of(t, nd->in[1]), ax->bn_mean, ax->bn_invstd, dx,
                                 grad_in(t, nd, 1), grad_in(t, nd, 2), t->threads);
        break;
    }
    case NAD_OP_DROPOUT:
        if (!dx)
            break;
        if (ax->train_mode) {
            nad_tr_dropout_backward(ax->mask, dy, dx, ny, nd->attr.scalar.a);
            break;
        }
        for (int64_t k = 0; k < ny; k++)
            dx[k] += dy[k];
        break;
    default:
        if (dx)
            for (int64_t k = 0; k < ny; k++)
                dx[k] += dy[k];
        break;
    }
    return NAD_OK;
}

/* Allocates a float buffer of n floats (64-byte aligned), zeroed. */
static float *alloc_floats(int64_t n)
{
    size_t bytes = ((size_t)(n > 0 ? n : 1) * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

/*
 * Decides which weights are trainable: float WEIGHT tensors read by a node,
 * except a BatchNorm's running mean and variance (inputs 3 and 4), which the
 * forward pass updates instead.
 */
static nad_status find_params(nad_tape *t, nad_err *e)
{
    nad_graph *g = t->g;
    char *is_stat = calloc((size_t)g->n_tensors + 1, 1);
    char *is_used = calloc((size_t)g->n_tensors + 1, 1);
    nad_status rc = NAD_OK;
    if (!is_stat || !is_used) {
        rc = nad_errf(e, NAD_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const nad_node *nd = &g->nodes[i];
        for (int k = 0; k < nd->n_in; k++)
            if (nd->in[k] >= 0) {
                is_used[nd->in[k]] = 1;
                if (nd->op == NAD_OP_BATCHNORM && k >= 3)
                    is_stat[nd->in[k]] = 1;
            }
    }
    t->params = malloc(sizeof(int) * ((size_t)g->n_tensors + 1));
    if (!t->params) {
        rc = nad_errf(e, NAD_ENOMEM, "out of memory");
        goto out;
    }
    for (int ti = 0; ti < g->n_tensors; ti++) {
        nad_tensor *x = &g->tensors[ti];
        if (x->kind != NAD_TK_WEIGHT || x->dtype != NAD_DT_FLOAT || !is_used[ti] || is_stat[ti] || !x->blob)
            continue;
        t->grad[ti] = alloc_floats(nad_tensor_numel(x));
        if (!t->grad[ti]) {
            rc = nad_errf(e, NAD_ENOMEM, "out of memory for the gradient of '%s'", x->name);
            goto out;
        }
        t->cap[ti] = nad_tensor_numel(x);
        t->params[t->n_params++] = ti;
    }
out:
    free(is_stat);
    free(is_used);
    return rc;
}

nad_status nad_tape_create(nad_graph *g, int max_batch, nad_tape **out, nad_err *e)
{
    nad_status rc = NAD_OK;
    nad_tape *t = NULL;
    *out = NULL;
    if (max_batch < 1)
        return nad_errf(e, NAD_EINVAL, "batch size must be at least 1 (got %d)", max_batch);
    if (g->n_inputs < 1 || g->n_outputs < 1)
        return nad_errf(e, NAD_EINVAL, "graph has no input or no output");
    if ((rc = nad_graph_infer_shapes(g, max_batch, e)))
        return rc;
    t = calloc(1, sizeof *t);
    if (!t)
        return nad_errf(e, NAD_ENOMEM, "out of memory");
    t->g = g;
    t->max_batch = max_batch;
    t->threads = 1;
    t->skip_node = -1;
    t->val = calloc((size_t)g->n_tensors + 1, sizeof *t->val);
    t->grad = calloc((size_t)g->n_tensors + 1, sizeof *t->grad);
    t->cap = calloc((size_t)g->n_tensors + 1, sizeof *t->cap);
    t->aux = calloc((size_t)g->n_nodes + 1, sizeof *t->aux);
    if (!t->val || !t->grad || !t->cap || !t->aux) {
        rc = nad_errf(e, NAD_ENOMEM, "out of memory");
        goto fail;
    }
    t->input = g->inputs[0];
    t->output = g->outputs[0];
    t->logits = t->output;
    {
        int p = g->tensors[t->output].producer;
        if (p >= 0 && g->nodes[p].op == NAD_OP_SOFTMAX) {
            t->logits = g->nodes[p].in[0];
            t->skip_node = p;
        }
    }
    if (g->tensors[t->logits].ndim != 2 || g->tensors[t->logits].batch_axis != 0) {
        char buf[96];
        rc = nad_errf(e, NAD_ESHAPE, "output '%s' %s is not [batch, classes] logits", g->tensors[t->logits].name,
                      nad_dims_str(&g->tensors[t->logits], buf, sizeof buf));
        goto fail;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        nad_node *nd = &g->nodes[i];
        if (i == t->skip_node || node_is_const(g, nd))
            continue;
        if (!op_supported(nd->op) || nd->n_in < 1 || nd->n_out < 1) {
            rc = nad_errf(e, NAD_EUNSUPPORTED, "node '%s' (%s): no training kernel", nd->name, nad_op_name(nd->op));
            goto fail;
        }
        if (nd->op == NAD_OP_PAD && nd->attr.pad.mode != 0) {
            rc = nad_errf(e, NAD_EUNSUPPORTED, "node '%s' (Pad): only constant padding trains", nd->name);
            goto fail;
        }
        if (nd->op == NAD_OP_PAD)
            for (int k = 0; k < nd->attr.pad.n; k++)
                if (nd->attr.pad.pads[k] < 0) {
                    rc = nad_errf(e, NAD_EUNSUPPORTED, "node '%s' (Pad): negative pads", nd->name);
                    goto fail;
                }
        /* every activation this node reads or writes gets buffers */
        for (int k = 0; k < nd->n_in + nd->n_out; k++) {
            int ti = k < nd->n_in ? nd->in[k] : nd->out[k - nd->n_in];
            if (ti < 0 || t->val[ti])
                continue;
            nad_tensor *x = &g->tensors[ti];
            if (x->blob || (x->kind != NAD_TK_ACT && x->kind != NAD_TK_INPUT))
                continue;
            if (x->dtype != NAD_DT_FLOAT) {
                rc = nad_errf(e, NAD_EUNSUPPORTED, "node '%s': tensor '%s' is not float", nd->name, x->name);
                goto fail;
            }
            int64_t numel = nad_tensor_numel(x);
            t->val[ti] = alloc_floats(numel);
            t->grad[ti] = x->kind == NAD_TK_INPUT ? NULL : alloc_floats(numel);
            t->cap[ti] = numel;
            if (!t->val[ti] || (x->kind != NAD_TK_INPUT && !t->grad[ti])) {
                rc = nad_errf(e, NAD_ENOMEM, "out of memory for '%s'", x->name);
                goto fail;
            }
        }
        node_aux *ax = &t->aux[i];
        int64_t ny = nad_tensor_numel(&g->tensors[nd->out[0]]);
        if (nd->op == NAD_OP_MAXPOOL || nd->op == NAD_OP_GLOBAL_MAXPOOL) {
            ax->argmax = malloc((size_t)ny * sizeof *ax->argmax + 4);
            if (!ax->argmax)
                goto nomem;
        } else if (nd->op == NAD_OP_BATCHNORM) {
            if (nd->n_in < 5) {
                rc = nad_errf(e, NAD_EFORMAT, "node '%s' (BatchNormalization): needs 5 inputs", nd->name);
                goto fail;
            }
            int64_t c = g->tensors[nd->in[0]].ndim > 1 ? g->tensors[nd->in[0]].dims[1] : 1;
            ax->bn_mean = alloc_floats(c);
            ax->bn_invstd = alloc_floats(c);
            if (!ax->bn_mean || !ax->bn_invstd)
                goto nomem;
        } else if (nd->op == NAD_OP_DROPOUT) {
            ax->mask = malloc((size_t)ny + 1);
            if (!ax->mask)
                goto nomem;
        } else if (nd->op == NAD_OP_CONV) {
            nad_tr_conv s;
            conv_geom(t, nd, max_batch, &s);
            if (s.group < 1 || s.c % s.group || s.m % s.group) {
                rc = nad_errf(e, NAD_ESHAPE, "node '%s' (Conv): channels not divisible by group %d", nd->name,
                              s.group);
                goto fail;
            }
            size_t ws = nad_tr_conv_workspace(&s);
            if (ws > t->ws_floats)
                t->ws_floats = ws;
        }
    }
    if (!t->val[t->input] || !t->val[t->logits]) {
        rc = nad_errf(e, NAD_EINVAL, "graph input or output is not computed by its nodes");
        goto fail;
    }
    t->ws = alloc_floats((int64_t)t->ws_floats);
    if (!t->ws)
        goto nomem;
    if ((rc = find_params(t, e)))
        goto fail;
    *out = t;
    return NAD_OK;
nomem:
    rc = nad_errf(e, NAD_ENOMEM, "out of memory");
fail:
    nad_tape_destroy(t);
    return rc;
}

void nad_tape_set_threads(nad_tape *t, int threads)
{
    t->threads = threads < 1 ? 1 : threads;
}

float *nad_tape_input(nad_tape *t)
{
    return t->val[t->input];
}

int64_t nad_tape_input_size(const nad_tape *t)
{
    return nad_tensor_numel(&t->g->tensors[t->input]) / t->max_batch;
}

int nad_tape_classes(const nad_tape *t)
{
    return (int)t->g->tensors[t->logits].dims[1];
}

nad_status nad_tape_forward(nad_tape *t, int n, int training, nad_rng *rng, nad_err *e)
{
    if (n < 1 || n > t->max_batch)
        return nad_errf(e, NAD_EINVAL, "batch of %d images outside 1..%d", n, t->max_batch);
    for (int i = 0; i < t->g->n_nodes; i++) {
        const nad_node *nd = &t->g->nodes[i];
        if (i == t->skip_node || node_is_const(t->g, nd))
            continue;
        nad_status rc = forward_node(t, i, n, training, rng, e);
        if (rc)
            return rc;
    }
    return NAD_OK;
}

const float *nad_tape_logits(const nad_tape *t)
{
    return t->val[t->logits];
}

float *nad_tape_logits_grad(nad_tape *t)
{
    return t->grad[t->logits];
}

nad_status nad_tape_backward(nad_tape *t, int n, nad_err *e)
{
    nad_graph *g = t->g;
    /* zero every gradient but the logits' (the loss wrote it) */
    for (int ti = 0; ti < g->n_tensors; ti++)
        if (t->grad[ti] && ti != t->logits)
            memset(t->grad[ti], 0, (size_t)t->cap[ti] * sizeof(float));
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const nad_node *nd = &g->nodes[i];
        if (i == t->skip_node || node_is_const(g, nd))
            continue;
        nad_status rc = backward_node(t, i, n, e);
        if (rc)
            return rc;
    }
    return NAD_OK;
}

int nad_tape_n_params(const nad_tape *t)
{
    return t->n_params;
}

int nad_tape_param_tensor(const nad_tape *t, int i)
{
    return t->params[i];
}

float *nad_tape_param_grad(nad_tape *t, int i)
{
    return t->grad[t->params[i]];
}

void nad_tape_destroy(nad_tape *t)
{
    if (!t)
        return;
    if (t->val)
        for (int i = 0; i < t->g->n_tensors; i++)
            free(t->val[i]);
    if (t->grad)
        for (int i = 0; i < t->g->n_tensors; i++)
            free(t->grad[i]);
    if (t->aux)
        for (int i = 0; i < t->g->n_nodes; i++) {
            free(t->aux[i].argmax);
            free(t->aux[i].bn_mean);
            free(t->aux[i].bn_invstd);
            free(t->aux[i].mask);
        }
    free(t->val);
    free(t->grad);
    free(t->cap);
    free(t->aux);
    free(t->ws);
    free(t->params);
    free(t);
}
