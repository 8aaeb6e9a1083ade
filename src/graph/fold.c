/*
 * Constant folding and absorbing constant auxiliary inputs into attributes.
 *
 * After this pass every node is in its canonical form:
 *     Conv [X, W, (B)]      Gemm [A, B, (C)]      BatchNormalization [X, scale, B, mean, var]
 *     Clip [X]  (min/max in attr.scalar a/b)      Reshape [X]  (target in attr.ints)
 *     Pad [X]   (pads/value in attr.pad)          Squeeze/Unsqueeze [X]  (axes in attr.ints)
 *     Slice [X] (attr.slice)                      Dropout [X]
 * and all others keep their data inputs.  Nodes whose inputs are all
 * constant are gone, their outputs turned into CONST tensors (WEIGHT when the
 * value is float and derived from a weight, so a weight passed through
 * Identity/Reshape stays trainable).  No node computing int64 values is left.
 *
 * Reshape targets are also made batch-independent: the entry that holds the
 * batch becomes NAD_DIM_BATCH, and a 2-D "flatten" target [batch, k] becomes
 * [NAD_DIM_BATCH, -1], so pruning channels upstream keeps the Reshape valid.
 */
#include <string.h>

#include "graph/graph.h"
#include "graph/passes.h"

/* True when tensor t is listed as a graph output. */
static int is_graph_output(const nad_graph *g, int t)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == t)
            return 1;
    return 0;
}

/* True when every present input of n holds a value (Shape needs none). */
static int inputs_constant(const nad_graph *g, const nad_node *n)
{
    if (n->op == NAD_OP_SHAPE)
        return 1;
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k] >= 0 && !nad_tensor_has_value(&g->tensors[n->in[k]]))
            return 0;
    return 1;
}

/*
 * Evaluates node i when its inputs are constant (shape inference has already
 * evaluated the small ones) and turns its outputs into constants; the node
 * loses its outputs, so nad_graph_compact() drops it.  Nodes writing a graph
 * output are left alone, as is a Dropout whose mask is used.
 */
static nad_status fold_node(nad_graph *g, int i, nad_err *e)
{
    nad_node *n = &g->nodes[i];
    if (!nad_op_can_eval(n->op) || !inputs_constant(g, n))
        return NAD_OK;
    for (int k = 0; k < n->n_out; k++)
        if (n->out[k] >= 0 && (is_graph_output(g, n->out[k]) || k > 0))
            return NAD_OK;
    nad_tensor *y = &g->tensors[n->out[0]];
    if (!nad_tensor_has_value(y)) {
        nad_status rc = nad_node_eval(g, i, e);
        if (rc)
            return rc;
    }
    int from_weight = 0;
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k] >= 0 && g->tensors[n->in[k]].kind == NAD_TK_WEIGHT)
            from_weight = 1;
    y->kind = from_weight && y->dtype == NAD_DT_FLOAT ? NAD_TK_WEIGHT : NAD_TK_CONST;
    y->batch_axis = -1;
    y->producer = -1;
    n->out[0] = -1;
    return NAD_OK;
}

/*
 * Rewrites a Reshape's target so it no longer depends on the batch size it was
 * traced at: the entry where shape inference found the batch (out batch axis)
 * becomes NAD_DIM_BATCH; a 2-D [batch, k] target with the input's batch at
 * axis 0 becomes [NAD_DIM_BATCH, -1] (x.view(N, -1) is what such a model
 * means, and it stays right when the channel count upstream shrinks).
 */
static void canonical_reshape_target(const nad_graph *g, nad_node *n)
{
    const nad_tensor *x = &g->tensors[n->in[0]], *y = &g->tensors[n->out[0]];
    nad_ints_attr *t = &n->attr.ints;
    if (y->batch_axis < 0 || y->batch_axis >= t->n)
        return;
    int has_minus1 = 0;
    for (int j = 0; j < t->n; j++)
        has_minus1 |= t->v[j] == -1 && j != y->batch_axis;
    t->v[y->batch_axis] = NAD_DIM_BATCH;
    if (t->n == 2 && y->batch_axis == 0 && x->batch_axis == 0 && !has_minus1)
        t->v[1] = -1;
}

/* Moves the constant auxiliary inputs of n into its attributes (see the file
 * comment for the resulting forms). */
static nad_status absorb_node(nad_graph *g, nad_node *n, nad_err *e)
{
    nad_status rc = NAD_OK;
    int64_t v[2 * NAD_MAX_DIMS];
    int cnt;
    switch (n->op) {
    case NAD_OP_CLIP:
        if (nad_node_has_input(n, 1) && (rc = nad_aux_float(g, n, 1, &n->attr.scalar.a, e)))
            return rc;
        if (nad_node_has_input(n, 2) && (rc = nad_aux_float(g, n, 2, &n->attr.scalar.b, e)))
            return rc;
        n->n_in = 1;
        break;
    case NAD_OP_RESHAPE:
        if (nad_node_has_input(n, 1)) {
            if ((rc = nad_aux_ints(g, n, 1, v, NAD_MAX_DIMS, &cnt, e)))
                return rc;
            n->attr.ints.n = cnt;
            memcpy(n->attr.ints.v, v, (size_t)cnt * sizeof v[0]);
        }
        n->n_in = 1;
        canonical_reshape_target(g, n);
        break;
    case NAD_OP_PAD:
        if (nad_node_has_input(n, 1)) {
            if ((rc = nad_aux_ints(g, n, 1, v, 2 * NAD_MAX_DIMS, &cnt, e)))
                return rc;
            n->attr.pad.n = cnt;
            memcpy(n->attr.pad.pads, v, (size_t)cnt * sizeof v[0]);
        }
        if (nad_node_has_input(n, 2) && (rc = nad_aux_float(g, n, 2, &n->attr.pad.value, e)))
            return rc;
        n->n_in = 1;
        break;
    case NAD_OP_SQUEEZE:
    case NAD_OP_UNSQUEEZE:
        if (nad_node_has_input(n, 1)) {
            if ((rc = nad_aux_ints(g, n, 1, v, NAD_MAX_DIMS, &cnt, e)))
                return rc;
            n->attr.ints.n = cnt;
            memcpy(n->attr.ints.v, v, (size_t)cnt * sizeof v[0]);
        }
        n->n_in = 1;
        break;
    case NAD_OP_SLICE:
        /* Kept as given (not resolved), so axes not named still follow the
         * batch size and channel counts of later shape inferences. */
        if (nad_node_has_input(n, 1) && (rc = nad_slice_params(g, n, &n->attr.slice, e)))
            return rc;
        n->n_in = 1;
        break;
    case NAD_OP_DROPOUT:
        n->n_in = 1; /* ratio and training_mode: inference ignores them */
        break;
    default:
        break;
    }
    return rc;
}

/* nad_graph_fold_constants: see passes.h. */
nad_status nad_graph_fold_constants(nad_graph *g, nad_err *e)
{
    nad_status rc = nad_graph_infer_shapes(g, g->batch > 0 ? g->batch : 1, e);
    if (rc)
        return rc;
    for (int i = 0; i < g->n_nodes; i++)
        if ((rc = fold_node(g, i, e)))
            return rc;
    for (int i = 0; i < g->n_nodes; i++) {
        nad_node *n = &g->nodes[i];
        if (n->out[0] < 0)
            continue; /* folded away */
        if ((rc = absorb_node(g, n, e)))
            return rc;
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0 && g->tensors[n->out[k]].dtype == NAD_DT_INT64)
                return nad_node_errf(e, NAD_EUNSUPPORTED, n, "computes int64 values from data (output '%s')",
                                     g->tensors[n->out[k]].name);
    }
    return nad_graph_compact(g, e);
}
