/*
 * Execution planning: graph → steps (one kernel per node), fused activations,
 * activation buffers laid out in one arena and reused by liveness.
 *
 * The plan is built in three passes over the node list:
 *   1. choose a kernel per node through one switch over nad_op and check that
 *      the kernel supports the node's shapes and attributes (else
 *      NAD_EUNSUPPORTED naming the node), fusing a Relu/Clip/LeakyRelu into the
 *      Conv/Gemm/BatchNormalization that is its only producer-consumer pair;
 *   2. assign every activation tensor a buffer slot: aliasing ops share their
 *      input's slot, a slot whose readers are all done is free for the next
 *      output (greedy best fit; the same idea as XNNPACK's and TFLite's arena
 *      planners), elementwise steps write over a dying input in place;
 *   3. give slots offsets in one arena and size the shared workspace.
 * Running (plan_run.c) then needs no allocation.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/plan.h"
#include "engine/pool.h"

/* Floats of padding between arena slots: keeps every buffer 64-byte aligned. */
#define SLOT_ALIGN 16

static int is_act_tensor(const nad_tensor *t)
{
    return t->kind == NAD_TK_ACT || t->kind == NAD_TK_INPUT;
}

/* See plan.h. */
int64_t nad_plan_per_image(const nad_plan *p, int t)
{
    const nad_tensor *x = &p->g->tensors[t];
    int64_t n = nad_tensor_numel(x);
    if (x->batch_axis == 0 && x->ndim > 0 && x->dims[0] == p->max_batch)
        return n / p->max_batch;
    return n;
}

/* True when tensor t holds constant data the kernels may read (a float weight
 * or constant with a blob). */
static int is_weight(const nad_graph *g, int t)
{
    return t >= 0 && !is_act_tensor(&g->tensors[t]) && g->tensors[t].blob && g->tensors[t].dtype == NAD_DT_FLOAT;
}

/* Reads an optional scalar float input k of node n (Clip's opset-11 min/max);
 * keeps *v when the input is absent.  Returns 0, or -1 when present but not a
 * constant float scalar. */
static int read_scalar_input(const nad_graph *g, const nad_node *n, int k, float *v)
{
    if (k >= n->n_in || n->in[k] < 0)
        return 0;
    const nad_tensor *t = &g->tensors[n->in[k]];
    if (!is_weight(g, n->in[k]) || nad_tensor_numel(t) != 1)
        return -1;
    *v = nad_tensor_f32(t)[0];
    return 0;
}

/* Fills *act for an activation node; returns 0 or -1 when n is not one. */
static int act_of_node(const nad_graph *g, const nad_node *n, nad_act *act)
{
    memset(act, 0, sizeof *act);
    switch (n->op) {
    case NAD_OP_RELU:
        act->kind = NAD_ACT_RELU;
        return 0;
    case NAD_OP_LEAKY_RELU:
        act->kind = NAD_ACT_LEAKY_RELU;
        act->a = n->attr.scalar.a;
        return 0;
    case NAD_OP_CLIP:
        act->kind = NAD_ACT_CLIP;
        act->a = n->attr.scalar.a;
        act->b = n->attr.scalar.b;
        if (read_scalar_input(g, n, 1, &act->a) || read_scalar_input(g, n, 2, &act->b))
            return -1;
        return 0;
    case NAD_OP_SIGMOID:
        act->kind = NAD_ACT_SIGMOID;
        return 0;
    case NAD_OP_HARD_SIGMOID:
        act->kind = NAD_ACT_HARD_SIGMOID;
        act->a = n->attr.scalar.a;
        act->b = n->attr.scalar.b;
        return 0;
    case NAD_OP_HARD_SWISH:
        act->kind = NAD_ACT_HARD_SWISH;
        return 0;
    case NAD_OP_TANH:
        act->kind = NAD_ACT_TANH;
        return 0;
    default:
        return -1;
    }
}

/* Planning state that does not outlive nad_plan_create_ex. */
typedef struct planner {
    nad_plan *p;
    int *uses;       /* per tensor: how many node inputs read it             */
    int *consumer;   /* per tensor: the last node reading it (for fusion)     */
    char *absorbed;  /* per node: fused into an earlier step                  */
    char *out_bound; /* per tensor: its buffer becomes (part of) a graph output's,
                        so it gets a fresh slot of exactly its own size        */
    /* slots */
    int n_slots, cap_slots;
    size_t *slot_size;   /* floats                                           */
    int *slot_live;      /* remaining reads of tensors living in the slot    */
    char *slot_pinned;   /* graph input/output: never reused                 */
    char *slot_free;
} planner;

static nad_status unsupported(nad_err *e, const nad_graph *g, int node, const char *why)
{
    const nad_node *n = &g->nodes[node];
    return nad_errf(e, NAD_EUNSUPPORTED, "node '%s' (%s): %s", n->name, nad_op_name(n->op), why);
}

/* Normalises an axis against rank; -1 when out of range. */
static int norm_axis(int axis, int rank)
{
    if (axis < 0)
        axis += rank;
    return axis >= 0 && axis < rank ? axis : -1;
}

/* True when activation tensor t is laid out with the batch on axis 0 at max_batch. */
static int batch_first(const nad_plan *p, int t)
{
    const nad_tensor *x = &p->g->tensors[t];
    return x->batch_axis == 0 && x->ndim > 0 && x->dims[0] == p->max_batch;
}

/*
 * Pass 1 for node i: chooses st->kernel and fills its geometry.  Clears
 * *split when the step cannot run image by image.  Returns NAD_EUNSUPPORTED
 * (naming the node) when no kernel fits.
 */
static nad_status choose_kernel(planner *pl, int i, nad_plan_step *st, int *split, nad_err *e)
{
    nad_plan *p = pl->p;
    const nad_graph *g = p->g;
    const nad_node *n = &g->nodes[i];
    const nad_tensor *x = n->n_in > 0 && n->in[0] >= 0 ? &g->tensors[n->in[0]] : NULL;
    if (n->n_out < 1 || n->out[0] < 0)
        return unsupported(e, g, i, "node has no output");
    const nad_tensor *y = &g->tensors[n->out[0]];
    if (!x)
        return unsupported(e, g, i, "missing input");
    if (y->dtype != NAD_DT_FLOAT || x->dtype != NAD_DT_FLOAT)
        return unsupported(e, g, i, "only float32 tensors are computed");
    for (int k = 1; k < n->n_out; k++)
        if (n->out[k] >= 0 && pl->uses[n->out[k]] > 0)
            return unsupported(e, g, i, "a second output is used (not computed by the engine)");
    memset(st, 0, sizeof *st);
    st->node = i;
    st->act_node = -1;
    st->out = n->out[0];
    int first_act = is_act_tensor(x);
    if (first_act && !batch_first(p, n->in[0]))
        *split = 0;
    if (!batch_first(p, n->out[0]))
        *split = 0;

    switch (n->op) {
    case NAD_OP_CONV: {
        const nad_conv_attr *a = &n->attr.conv;
        if (x->ndim != 4 || y->ndim != 4)
            return unsupported(e, g, i, "only 2-D convolution (NCHW) is implemented");
        if (n->n_in < 2 || !is_weight(g, n->in[1]) || (n->n_in > 2 && n->in[2] >= 0 && !is_weight(g, n->in[2])))
            return unsupported(e, g, i, "weights and bias must be constant float tensors");
        const nad_tensor *w = &g->tensors[n->in[1]];
        int group = a->group > 0 ? a->group : 1;
        if (a->auto_pad != NAD_PAD_NOTSET && a->auto_pad != NAD_PAD_VALID)
            return unsupported(e, g, i, "auto_pad must be resolved into pads by shape inference");
        if (w->ndim != 4 || x->dims[1] % group || y->dims[1] % group || w->dims[0] != y->dims[1] ||
            w->dims[1] != x->dims[1] / group || w->dims[2] != a->kh || w->dims[3] != a->kw)
            return nad_errf(e, NAD_ESHAPE, "node '%s' (Conv): weight shape does not match input/attributes",
                            n->name);
        if (a->sh < 1 || a->sw < 1 || a->dh < 1 || a->dw < 1)
            return unsupported(e, g, i, "strides and dilations must be >= 1");
        nad_conv_geom *c = &st->geom.conv;
        c->c = (int)x->dims[1], c->h = (int)x->dims[2], c->w = (int)x->dims[3];
        c->m = (int)y->dims[1], c->p = (int)y->dims[2], c->q = (int)y->dims[3];
        c->kh = a->kh, c->kw = a->kw, c->sh = a->sh, c->sw = a->sw, c->dh = a->dh, c->dw = a->dw;
        c->pt = a->pads[0], c->pl = a->pads[1], c->group = group;
        if (c->p != (c->h + a->pads[0] + a->pads[2] - (c->kh - 1) * c->dh - 1) / c->sh + 1 ||
            c->q != (c->w + a->pads[1] + a->pads[3] - (c->kw - 1) * c->dw - 1) / c->sw + 1)
            return nad_errf(e, NAD_ESHAPE, "node '%s' (Conv): output size does not match the attributes", n->name);
        st->kernel = NAD_K_CONV;
        st->ws_floats = nad_k_conv_ws_floats(c);
        return NAD_OK;
    }
    case NAD_OP_GEMM: {
        const nad_gemm_attr *a = &n->attr.gemm;
        if (n->n_in < 2 || n->in[1] < 0 || x->ndim != 2 || y->ndim != 2 || g->tensors[n->in[1]].ndim != 2)
            return unsupported(e, g, i, "Gemm needs 2-D A and B");
        if (!is_weight(g, n->in[1]) || (n->n_in > 2 && n->in[2] >= 0 && !is_weight(g, n->in[2])))
            return unsupported(e, g, i, "B and C must be constant float tensors");
        const nad_tensor *b = &g->tensors[n->in[1]];
        int m = (int)y->dims[0], nn = (int)y->dims[1];
        int k = (int)(a->trans_a ? x->dims[0] : x->dims[1]);
        if ((a->trans_a ? x->dims[1] : x->dims[0]) != m || (a->trans_b ? b->dims[1] : b->dims[0]) != k ||
            (a->trans_b ? b->dims[0] : b->dims[1]) != nn)
            return nad_errf(e, NAD_ESHAPE, "node '%s' (Gemm): A, B and Y shapes do not fit", n->name);
        st->geom.gemm.m = m, st->geom.gemm.n = nn, st->geom.gemm.k = k;
        if (n->n_in > 2 && n->in[2] >= 0) {
            const nad_tensor *c = &g->tensors[n->in[2]];
            int64_t cm = c->ndim == 2 ? c->dims[0] : 1, cn = c->ndim >= 1 ? c->dims[c->ndim - 1] : 1;
            if (c->ndim > 2 || (cm != 1 && cm != m) || (cn != 1 && cn != nn))
                return nad_errf(e, NAD_ESHAPE, "node '%s' (Gemm): C does not broadcast to [%d,%d]", n->name, m, nn);
            if (cm != 1)
                *split = 0; /* a per-row C ties rows to batch positions */
            st->geom.gemm.cm = (int)cm, st->geom.gemm.cn = (int)cn;
        }
        if (a->trans_a || !first_act)
            *split = 0;
        st->kernel = NAD_K_GEMM;
        return NAD_OK;
    }
    case NAD_OP_MATMUL: {
        if (n->n_in < 2 || n->in[1] < 0)
            return unsupported(e, g, i, "MatMul needs two inputs");
        const nad_tensor *b = &g->tensors[n->in[1]];
        if (x->ndim < 2 || b->ndim < 2 || y->ndim < 2)
            return unsupported(e, g, i, "1-D MatMul operands are not implemented");
        if (x->dims[x->ndim - 1] != b->dims[b->ndim - 2])
            return nad_errf(e, NAD_ESHAPE, "node '%s' (MatMul): inner dimensions differ", n->name);
        /* Leading dims of each operand must equal the output's or all be 1. */
        const nad_tensor *ops[2] = {x, b};
        for (int s = 0; s < 2; s++) {
            const nad_tensor *t = ops[s];
            int64_t lead = 1;
            for (int d = 0; d < t->ndim - 2; d++)
                lead *= t->dims[d];
            if (lead == 1)
                continue;
            if (t->ndim != y->ndim)
                return unsupported(e, g, i, "partially broadcast leading dimensions");
            for (int d = 0; d < t->ndim - 2; d++)
                if (t->dims[d] != y->dims[d])
                    return unsupported(e, g, i, "partially broadcast leading dimensions");
        }
        if (is_act_tensor(b)) {
            *split = 0;
            if (!is_act_tensor(x) && !is_weight(g, n->in[0]))
                return unsupported(e, g, i, "operands must be float tensors");
        } else if (!is_weight(g, n->in[1])) {
            return unsupported(e, g, i, "B must be a float tensor");
        } else {
            for (int d = 0; d < b->ndim - 2; d++)
                if (b->dims[d] != 1)
                    *split = 0;
        }
        if (!first_act)
            *split = 0;
        st->kernel = NAD_K_MATMUL;
        return NAD_OK;
    }
    case NAD_OP_ADD:
    case NAD_OP_SUB:
    case NAD_OP_MUL:
    case NAD_OP_DIV: {
        if (n->n_in != 2 || n->in[1] < 0)
            return unsupported(e, g, i, "needs exactly two inputs");
        nad_bcast bc;
        for (int s = 0; s < 2; s++) {
            int t = n->in[s];
            const nad_tensor *o = &g->tensors[t];
            if (o->dtype != NAD_DT_FLOAT || (!is_act_tensor(o) && !o->blob))
                return unsupported(e, g, i, "operands must be float tensors");
            if (is_act_tensor(o) ? !batch_first(p, t) : o->ndim >= y->ndim && o->dims[0] != 1)
                *split = 0; /* a constant that varies along the batch axis */
        }
        const nad_tensor *b = &g->tensors[n->in[1]];
        if (nad_k_bcast_init(&bc, x->dims, x->ndim, b->dims, b->ndim))
            return nad_errf(e, NAD_ESHAPE, "node '%s' (%s): operand shapes do not broadcast", n->name,
                            nad_op_name(n->op));
        st->kernel = NAD_K_BINARY;
        return NAD_OK;
    }
    case NAD_OP_RELU:
    case NAD_OP_LEAKY_RELU:
    case NAD_OP_CLIP:
    case NAD_OP_SIGMOID:
    case NAD_OP_HARD_SIGMOID:
    case NAD_OP_HARD_SWISH:
    case NAD_OP_TANH:
        if (act_of_node(g, n, &st->act))
            return unsupported(e, g, i, "min/max inputs must be constant scalars");
        if (!first_act)
            return unsupported(e, g, i, "input must be computed (constant folding missed it)");
        st->kernel = NAD_K_ACT;
        return NAD_OK;
    case NAD_OP_BATCHNORM:
        if (x->ndim < 2 || n->n_in < 5)
            return unsupported(e, g, i, "needs X, scale, B, mean, var with X at least 2-D");
        for (int k = 1; k < 5; k++)
            if (!is_weight(g, n->in[k]) || nad_tensor_numel(&g->tensors[n->in[k]]) != x->dims[1])
                return nad_errf(e, NAD_ESHAPE, "node '%s' (BatchNormalization): input %d is not a constant of %lld "
                                "floats", n->name, k, (long long)x->dims[1]);
        st->kernel = NAD_K_BATCHNORM;
        return NAD_OK;
    case NAD_OP_SOFTMAX: {
        int axis = norm_axis(n->attr.axis.axis, x->ndim);
        if (axis < 0)
            return unsupported(e, g, i, "axis out of range");
        /* Opset 13 semantics: softmax along one axis.  Opset < 13 coerces to
         * 2-D at axis; the two agree when axis is the last one. */
        if (g->opset < 13 && axis != x->ndim - 1)
            return unsupported(e, g, i, "opset<13 softmax over a non-last axis");
        st->geom.axis.outer = 1, st->geom.axis.inner = 1, st->geom.axis.len = x->dims[axis];
        for (int d = 0; d < axis; d++)
            st->geom.axis.outer *= x->dims[d];
        for (int d = axis + 1; d < x->ndim; d++)
            st->geom.axis.inner *= x->dims[d];
        if (axis == 0)
            *split = 0;
        st->kernel = NAD_K_SOFTMAX;
        return NAD_OK;
    }
    case NAD_OP_MAXPOOL:
    case NAD_OP_AVGPOOL: {
        const nad_pool_attr *a = &n->attr.pool;
        if (x->ndim != 4 || y->ndim != 4)
            return unsupported(e, g, i, "only 2-D pooling (NCHW) is implemented");
        if (n->op == NAD_OP_MAXPOOL && n->n_out > 1 && n->out[1] >= 0 && pl->uses[n->out[1]] > 0)
            return unsupported(e, g, i, "the Indices output is not implemented");
        if (a->auto_pad != NAD_PAD_NOTSET && a->auto_pad != NAD_PAD_VALID)
            return unsupported(e, g, i, "auto_pad must be resolved into pads by shape inference");
        nad_pool_geom *q = &st->geom.pool;
        q->c = (int)x->dims[1], q->h = (int)x->dims[2], q->w = (int)x->dims[3];
        q->p = (int)y->dims[2], q->q = (int)y->dims[3];
        q->kh = a->kh, q->kw = a->kw, q->sh = a->sh > 0 ? a->sh : 1, q->sw = a->sw > 0 ? a->sw : 1;
        q->dh = a->dh > 0 ? a->dh : 1, q->dw = a->dw > 0 ? a->dw : 1;
        q->pt = a->pads[0], q->pl = a->pads[1], q->pb = a->pads[2], q->pr = a->pads[3];
        q->count_include_pad = a->count_include_pad;
        if (y->dims[1] != x->dims[1] || q->kh < 1 || q->kw < 1)
            return nad_errf(e, NAD_ESHAPE, "node '%s' (%s): bad kernel or channel count", n->name,
                            nad_op_name(n->op));
        st->kernel = n->op == NAD_OP_MAXPOOL ? NAD_K_MAXPOOL : NAD_K_AVGPOOL;
        return NAD_OK;
    }
    case NAD_OP_GLOBAL_AVGPOOL:
    case NAD_OP_GLOBAL_MAXPOOL:
        if (x->ndim < 3)
            return unsupported(e, g, i, "input must be at least 3-D");
        st->kernel = n->op == NAD_OP_GLOBAL_AVGPOOL ? NAD_K_GLOBAL_AVGPOOL : NAD_K_GLOBAL_MAXPOOL;
        return NAD_OK;
    case NAD_OP_FLATTEN:
    case NAD_OP_RESHAPE:
    case NAD_OP_SQUEEZE:
    case NAD_OP_UNSQUEEZE:
    case NAD_OP_DROPOUT:
    case NAD_OP_IDENTITY:
        if (nad_tensor_numel(x) != nad_tensor_numel(y))
            return nad_errf(e, NAD_ESHAPE, "node '%s' (%s): input and output sizes differ", n->name,
                            nad_op_name(n->op));
        /* A reshape that moves the batch (e.g. to [-1]) still keeps images
         * contiguous when both ends are batch-first. */
        /* Aliasing never destroys data, so it is safe for training plans too;
         * a constant input is copied into an activation buffer instead. */
        st->kernel = first_act ? NAD_K_ALIAS : NAD_K_COPY;
        if (!first_act)
            *split = 0;
        return NAD_OK;
    case NAD_OP_TRANSPOSE: {
        if (n->attr.ints.n != x->ndim && n->attr.ints.n != 0)
            return unsupported(e, g, i, "perm length differs from the rank");
        for (int d = 0; d < x->ndim; d++) {
            int src = n->attr.ints.n ? (int)n->attr.ints.v[d] : x->ndim - 1 - d;
            if (src < 0 || src >= x->ndim || y->dims[d] != x->dims[src])
                return nad_errf(e, NAD_ESHAPE, "node '%s' (Transpose): bad perm", n->name);
        }
        if (!(n->attr.ints.n ? n->attr.ints.v[0] == 0 : x->ndim == 1))
            *split = 0;
        if (!first_act)
            return unsupported(e, g, i, "input must be computed (constant folding missed it)");
        st->kernel = NAD_K_TRANSPOSE;
        return NAD_OK;
    }
    case NAD_OP_CONCAT: {
        int axis = norm_axis(n->attr.axis.axis, y->ndim);
        if (axis < 0)
            return unsupported(e, g, i, "axis out of range");
        int64_t total = 0;
        for (int k = 0; k < n->n_in; k++) {
            if (n->in[k] < 0)
                continue;
            const nad_tensor *t = &g->tensors[n->in[k]];
            if (t->ndim != y->ndim || t->dtype != NAD_DT_FLOAT || (!is_act_tensor(t) && !t->blob))
                return unsupported(e, g, i, "inputs must be float tensors of the output's rank");
            for (int d = 0; d < y->ndim; d++)
                if (d != axis && t->dims[d] != y->dims[d])
                    return nad_errf(e, NAD_ESHAPE, "node '%s' (Concat): input %d shape differs off the axis",
                                    n->name, k);
            if (!is_act_tensor(t) || !batch_first(p, n->in[k]))
                *split = 0;
            total += t->dims[axis];
        }
        if (total != y->dims[axis])
            return nad_errf(e, NAD_ESHAPE, "node '%s' (Concat): sizes along the axis do not add up", n->name);
        if (axis == 0)
            *split = 0;
        st->geom.axis.len = axis; /* the axis itself; outer/inner are per input */
        st->kernel = NAD_K_CONCAT;
        return NAD_OK;
    }
    case NAD_OP_PAD: {
        const nad_pad_attr *a = &n->attr.pad;
        if (a->n != 2 * x->ndim)
            return unsupported(e, g, i, "pads must be given for every axis");
        if (a->mode < 0 || a->mode > 2)
            return unsupported(e, g, i, "unknown mode");
        for (int d = 0; d < x->ndim; d++) {
            if (x->dims[d] + a->pads[d] + a->pads[x->ndim + d] != y->dims[d])
                return nad_errf(e, NAD_ESHAPE, "node '%s' (Pad): pads do not give the output shape", n->name);
            if (a->mode == 1 && (a->pads[d] >= x->dims[d] || a->pads[x->ndim + d] >= x->dims[d]))
                return unsupported(e, g, i, "reflect pad wider than the axis");
        }
        if (a->pads[0] != 0 || a->pads[x->ndim] != 0)
            *split = 0;
        if (!first_act)
            return unsupported(e, g, i, "input must be computed (constant folding missed it)");
        /* All-zero pads (torch exports avg_pool2d with one in front) leave the
         * data as it is: share the input's buffer instead of copying every
         * image.  Only for inference plans, so the trainer's tape sees the
         * same buffers it always did. */
        int zero = 1;
        for (int d = 0; d < a->n; d++)
            zero &= a->pads[d] == 0;
        if (zero && !(p->flags & NAD_PLAN_KEEP_ACTIVATIONS)) {
            st->kernel = NAD_K_ALIAS;
            return NAD_OK;
        }
        st->kernel = NAD_K_PAD;
        return NAD_OK;
    }
    case NAD_OP_SHAPE:
    case NAD_OP_GATHER:
    case NAD_OP_SLICE:
    case NAD_OP_CAST:
        return unsupported(e, g, i, "shape computations must be constant-folded before planning");
    case NAD_OP_COUNT:
        break;
    }
    return unsupported(e, g, i, "no kernel for this op");
}

/*
 * Fuses the activation consuming step st's output into st when that is exact
 * and safe: the producer is Conv/Gemm/BatchNormalization (applied in the
 * output pass) or Add/Sub/Mul/Div/Concat (applied right after, on the chunk
 * still in cache: the residual Add+Relu), its output is read by exactly one
 * node, which is Relu/Clip/LeakyRelu, and is not a graph output (someone would
 * need the pre-activation value).
 */
static void try_fuse(planner *pl, nad_plan_step *st)
{
    nad_plan *p = pl->p;
    nad_graph *g = p->g;
    if (p->flags & NAD_PLAN_NO_FUSION)
        return;
    if (st->kernel != NAD_K_CONV && st->kernel != NAD_K_GEMM && st->kernel != NAD_K_BATCHNORM &&
        st->kernel != NAD_K_BINARY && st->kernel != NAD_K_CONCAT)
        return;
    int t = st->out;
    if (pl->uses[t] != 1)
        return;
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == t)
            return;
    int c = pl->consumer[t];
    const nad_node *cn = &g->nodes[c];
    if (cn->op != NAD_OP_RELU && cn->op != NAD_OP_CLIP && cn->op != NAD_OP_LEAKY_RELU)
        return;
    if (cn->in[0] != t || cn->n_out < 1 || cn->out[0] < 0)
        return;
    nad_act act;
    if (act_of_node(g, cn, &act))
        return;
    const nad_tensor *a = &g->tensors[t], *b = &g->tensors[cn->out[0]];
    if (nad_tensor_numel(a) != nad_tensor_numel(b) || b->dtype != NAD_DT_FLOAT)
        return;
    st->act = act;
    st->act_node = c;
    st->out = cn->out[0];
    pl->absorbed[c] = 1;
}

/* A new or recycled slot of at least size floats; -1 when out of memory. */
static int slot_get(planner *pl, size_t size, int reuse)
{
    int best = -1;
    if (reuse) {
        /* Best fit among free slots; else the largest free slot, grown. */
        for (int s = 0; s < pl->n_slots; s++) {
            if (!pl->slot_free[s])
                continue;
            if (best < 0)
                best = s;
            else if (pl->slot_size[s] >= size ? (pl->slot_size[best] < size || pl->slot_size[s] < pl->slot_size[best])
                                              : (pl->slot_size[best] < size && pl->slot_size[s] > pl->slot_size[best]))
                best = s;
        }
    }
    if (best >= 0) {
        if (pl->slot_size[best] < size)
            pl->slot_size[best] = size;
        pl->slot_free[best] = 0;
        pl->slot_live[best] = 0;
        return best;
    }
    if (pl->n_slots == pl->cap_slots) {
        int cap = pl->cap_slots ? 2 * pl->cap_slots : 32;
        size_t *ss = realloc(pl->slot_size, (size_t)cap * sizeof *ss);
        if (ss)
            pl->slot_size = ss;
        int *sl = realloc(pl->slot_live, (size_t)cap * sizeof *sl);
        if (sl)
            pl->slot_live = sl;
        char *sp = realloc(pl->slot_pinned, (size_t)cap);
        if (sp)
            pl->slot_pinned = sp;
        char *sf = realloc(pl->slot_free, (size_t)cap);
        if (sf)
            pl->slot_free = sf;
        if (!ss || !sl || !sp || !sf)
            return -1;
        pl->cap_slots = cap;
    }
    int s = pl->n_slots++;
    pl->slot_size[s] = size;
    pl->slot_live[s] = 0;
    pl->slot_pinned[s] = 0;
    pl->slot_free[s] = 0;
    return s;
}

/* Binds tensor t to slot s: its future reads keep the slot alive. */
static void slot_bind(planner *pl, int t, int s, int pinned)
{
    pl->p->buf_of[t] = s;
    pl->slot_live[s] += pl->uses[t];
    if (pinned)
        pl->slot_pinned[s] = 1;
}

/* Records one read of tensor t; frees its slot after the last read. */
static void slot_read(planner *pl, int t)
{
    int s = pl->p->buf_of[t];
    if (s < 0)
        return;
    if (--pl->slot_live[s] <= 0 && !pl->slot_pinned[s] && !(pl->p->flags & NAD_PLAN_KEEP_ACTIVATIONS))
        pl->slot_free[s] = 1;
}

static int is_graph_output(const nad_graph *g, int t)
{
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == t)
            return 1;
    return 0;
}

/*
 * Pass 2: buffer slots for every activation tensor, in step order.  Output
 * slots are taken before the step's inputs are released, so an output never
 * overlaps an input unless the step is explicitly in place.
 */
static nad_status assign_buffers(planner *pl, nad_err *e)
{
    nad_plan *p = pl->p;
    nad_graph *g = p->g;
    const int reuse = !(p->flags & NAD_PLAN_KEEP_ACTIVATIONS);
    for (int k = 0; k < g->n_inputs; k++) {
        int t = g->inputs[k];
        int s = slot_get(pl, (size_t)nad_tensor_numel(&g->tensors[t]), 0);
        if (s < 0)
            return nad_errf(e, NAD_ENOMEM, "out of memory planning buffers");
        slot_bind(pl, t, s, 1);
    }
    for (int si = 0; si < p->n_steps; si++) {
        nad_plan_step *st = &p->steps[si];
        const nad_node *n = &g->nodes[st->node];
        int out = st->out, in0 = n->in[0];
        size_t size = (size_t)nad_tensor_numel(&g->tensors[out]);
        int pinned = is_graph_output(g, out);
        if (pl->out_bound[out] && st->kernel != NAD_K_ALIAS) {
            /* A fresh slot: the caller reads the output densely, so its slot
             * must not have held a tensor of another size (see img_stride). */
            int s = slot_get(pl, size, 0);
            if (s < 0)
                return nad_errf(e, NAD_ENOMEM, "out of memory planning buffers");
            slot_bind(pl, out, s, pinned);
        } else if (st->kernel == NAD_K_ALIAS) {
            slot_bind(pl, out, p->buf_of[in0], pinned);
        } else {
            int in_slot = is_act_tensor(&g->tensors[in0]) ? p->buf_of[in0] : -1;
            int can_in_place = reuse && in_slot >= 0 && !pl->slot_pinned[in_slot] && pl->slot_live[in_slot] == 1 &&
                               pl->slot_size[in_slot] >= size &&
                               nad_tensor_numel(&g->tensors[in0]) == nad_tensor_numel(&g->tensors[out]) &&
                               (st->kernel == NAD_K_ACT || st->kernel == NAD_K_BATCHNORM ||
                                (st->kernel == NAD_K_BINARY && !(n->in[1] == in0)));
            int s = can_in_place ? in_slot : slot_get(pl, size, reuse);
            if (s < 0)
                return nad_errf(e, NAD_ENOMEM, "out of memory planning buffers");
            st->in_place = can_in_place;
            slot_bind(pl, out, s, pinned);
        }
        if (st->act_node >= 0) /* the pre-activation tensor holds the fused result */
            p->buf_of[n->out[0]] = p->buf_of[out];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && is_act_tensor(&g->tensors[n->in[k]]))
                slot_read(pl, n->in[k]);
        if (pl->slot_live[p->buf_of[out]] <= 0 && !pl->slot_pinned[p->buf_of[out]] && reuse)
            pl->slot_free[p->buf_of[out]] = 1; /* nobody reads it */
    }
    return NAD_OK;
}

/* See plan.h for the contract. */
nad_status nad_plan_create_ex(nad_graph *g, int max_batch, unsigned flags, nad_plan **out, nad_err *e)
{
    nad_status rc = NAD_OK;
    nad_plan *p = NULL;
    planner pl;
    memset(&pl, 0, sizeof pl);
    if (out)
        *out = NULL;
    if (!g || !out || max_batch < 1)
        return nad_errf(e, NAD_EINVAL, "nad_plan_create: %s", !g || !out ? "NULL argument" : "max_batch must be >= 1");
    if (g->n_inputs < 1 || g->n_outputs < 1)
        return nad_errf(e, NAD_EINVAL, "nad_plan_create: graph '%s' has no input or no output",
                        g->name ? g->name : "");
    rc = nad_graph_infer_shapes(g, max_batch, e);
    if (rc)
        return rc;

    p = calloc(1, sizeof *p);
    if (!p)
        return nad_errf(e, NAD_ENOMEM, "out of memory creating a plan");
    p->g = g;
    p->max_batch = max_batch;
    p->flags = flags;
    p->input = g->inputs[0];
    p->output = g->outputs[0];
    p->steps = calloc((size_t)g->n_nodes + 1, sizeof *p->steps);
    p->act = calloc((size_t)g->n_tensors + 1, sizeof *p->act);
    p->buf_of = malloc(((size_t)g->n_tensors + 1) * sizeof *p->buf_of);
    p->img_stride = calloc((size_t)g->n_tensors + 1, sizeof *p->img_stride);
    pl.p = p;
    pl.uses = calloc((size_t)g->n_tensors + 1, sizeof *pl.uses);
    pl.consumer = malloc(((size_t)g->n_tensors + 1) * sizeof *pl.consumer);
    pl.absorbed = calloc((size_t)g->n_nodes + 1, 1);
    pl.out_bound = calloc((size_t)g->n_tensors + 1, 1);
    if (!p->steps || !p->act || !p->buf_of || !p->img_stride || !pl.uses || !pl.consumer || !pl.absorbed || !pl.out_bound) {
        rc = nad_errf(e, NAD_ENOMEM, "out of memory creating a plan");
        goto fail;
    }
    for (int t = 0; t < g->n_tensors; t++) {
        p->buf_of[t] = -1;
        pl.consumer[t] = -1;
    }
    if (g->tensors[p->input].dtype != NAD_DT_FLOAT) {
        rc = nad_errf(e, NAD_EUNSUPPORTED, "graph input '%s' is not float32", g->tensors[p->input].name);
        goto fail;
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int t = g->nodes[i].in[k];
            if (t >= 0 && is_act_tensor(&g->tensors[t])) {
                pl.uses[t]++;
                pl.consumer[t] = i;
            }
        }

    /* Pass 1: kernels and fusion. */
    int split = batch_first(p, p->input) && batch_first(p, p->output);
    for (int i = 0; i < g->n_nodes; i++) {
        if (pl.absorbed[i])
            continue;
        nad_plan_step *st = &p->steps[p->n_steps];
        rc = choose_kernel(&pl, i, st, &split, e);
        if (rc)
            goto fail;
        try_fuse(&pl, st);
        if (st->ws_floats > p->ws_floats)
            p->ws_floats = st->ws_floats;
        p->n_steps++;
    }
    p->batch_split = split;
    /* Chunk size: the largest step's per-image input + output should take at
     * most ~256 KiB per chunk (a quarter of a typical 1-2 MiB L2). */
    size_t step_max = 1;
    for (int s = 0; s < p->n_steps; s++) {
        const nad_node *n = &g->nodes[p->steps[s].node];
        size_t bytes = (size_t)nad_plan_per_image(p, p->steps[s].out) * sizeof(float);
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && is_act_tensor(&g->tensors[n->in[k]]))
                bytes += (size_t)nad_plan_per_image(p, n->in[k]) * sizeof(float);
        step_max = bytes > step_max ? bytes : step_max;
    }
    p->chunk = (int)((256u << 10) / step_max);
    p->chunk = p->chunk < 1 ? 1 : p->chunk > 16 ? 16 : p->chunk;
    if (!is_act_tensor(&g->tensors[p->output])) {
        rc = nad_errf(e, NAD_EUNSUPPORTED, "graph output '%s' is a constant", g->tensors[p->output].name);
        goto fail;
    }

    /* Tensors whose buffer the graph output shares (through aliases). */
    for (int k = 0; k < g->n_outputs; k++)
        pl.out_bound[g->outputs[k]] = 1;
    for (int s = p->n_steps - 1; s >= 0; s--) {
        const nad_node *n = &g->nodes[p->steps[s].node];
        if (p->steps[s].kernel == NAD_K_ALIAS && pl.out_bound[p->steps[s].out])
            pl.out_bound[n->in[0]] = 1;
    }

    /* Pass 2: slots.  Pass 3: the arena. */
    rc = assign_buffers(&pl, e);
    if (rc)
        goto fail;
    size_t *offset = malloc(((size_t)pl.n_slots + 1) * sizeof *offset);
    if (!offset) {
        rc = nad_errf(e, NAD_ENOMEM, "out of memory creating a plan");
        goto fail;
    }
    size_t total = 0;
    for (int s = 0; s < pl.n_slots; s++) {
        offset[s] = total;
        total += (pl.slot_size[s] + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
    }
    p->arena_floats = total;
    /* Zeroed so a plan run on fewer images than max_batch never reads
     * uninitialised memory in the unused rows. */
    p->arena = aligned_alloc(64, (total ? total : SLOT_ALIGN) * sizeof(float));
    if (!p->arena) {
        free(offset);
        rc = nad_errf(e, NAD_ENOMEM, "out of memory: %zu MiB of activation buffers", total * 4 >> 20);
        goto fail;
    }
    memset(p->arena, 0, (total ? total : SLOT_ALIGN) * sizeof(float));
    for (int t = 0; t < g->n_tensors; t++) {
        int s = p->buf_of[t];
        if (s < 0)
            continue;
        p->act[t] = p->arena + offset[s];
        /* Slice layout: each image owns slot_size / max_batch floats of the
         * slot (every tensor of a batch_split plan is batch-first). */
        p->img_stride[t] = p->batch_split ? (int64_t)(pl.slot_size[s] / (size_t)max_batch)
                                          : nad_plan_per_image(p, t);
    }
    free(offset);
    *out = p;
    p = NULL;
fail:
    nad_plan_destroy(p);
    free(pl.uses);
    free(pl.consumer);
    free(pl.absorbed);
    free(pl.out_bound);
    free(pl.slot_size);
    free(pl.slot_live);
    free(pl.slot_pinned);
    free(pl.slot_free);
    return rc;
}

/* See engine.h. */
nad_status nad_plan_create(nad_graph *g, int max_batch, nad_plan **out, nad_err *e)
{
    return nad_plan_create_ex(g, max_batch, 0, out, e);
}

/* See engine.h. */
float *nad_plan_input(nad_plan *p)
{
    return p->act[p->input];
}

/* See engine.h. */
int64_t nad_plan_input_size(const nad_plan *p)
{
    return nad_plan_per_image(p, p->input);
}

/* See engine.h. */
const float *nad_plan_output(const nad_plan *p)
{
    return p->act[p->output];
}

/* See engine.h. */
int64_t nad_plan_output_size(const nad_plan *p)
{
    return nad_plan_per_image(p, p->output);
}

/* See engine.h. */
void nad_plan_destroy(nad_plan *p)
{
    if (!p)
        return;
    free(p->steps);
    free(p->act);
    free(p->buf_of);
    free(p->img_stride);
    nad_pool_destroy(p->pool);
    free(p->arena);
    free(p->ws);
    free(p);
}
