/*
 * Per-layer facts (nad_layer_info): parameters and multiply-accumulates.
 *
 * Convention for MACs (multiply-accumulates at the batch of the last shape
 * inference), the usual one of NetAdapt-style cost tables and of
 * examples/fixtures/manifest.tsv:
 *   Conv        N*M*P*Q * (C/group)*R*S      (output elements x weights per output)
 *   Gemm/MatMul output elements x K          (N*M*K for a 2-D product)
 *   everything else 0: BatchNormalization, bias adds, activations, pooling,
 *   element-wise ops and reshapes have no weight-activation products; resource
 *   models that care about them read the shapes instead.
 * Params are the elements of the node's WEIGHT inputs, each distinct tensor
 * once, except that a BatchNormalization counts only scale and B: its running
 * mean and variance are statistics, not trained (PyTorch's convention too).
 * A folded BN therefore shows up as its Conv's bias.
 */
#include <string.h>

#include "graph/graph.h"

/* nad_graph_layer_count: see nadapt/graph.h; every node is a layer. */
int nad_graph_layer_count(const nad_graph *g)
{
    return g ? g->n_nodes : 0;
}

/* Weight elements read by node n, each distinct tensor counted once. */
static int64_t node_params(const nad_graph *g, const nad_node *n)
{
    int64_t p = 0;
    int n_in = n->op == NAD_OP_BATCHNORM && n->n_in > 3 ? 3 : n->n_in;
    for (int k = 0; k < n_in; k++) {
        int t = n->in[k], dup = 0;
        if (t < 0 || g->tensors[t].kind != NAD_TK_WEIGHT)
            continue;
        for (int j = 0; j < k; j++)
            dup |= n->in[j] == t;
        if (!dup)
            p += nad_tensor_numel(&g->tensors[t]);
    }
    return p;
}

/* MACs of node n by the convention in the file comment. */
static int64_t node_macs(const nad_graph *g, const nad_node *n)
{
    const nad_tensor *y = &g->tensors[n->out[0]];
    int64_t outs = nad_tensor_numel(y);
    switch (n->op) {
    case NAD_OP_CONV: {
        const nad_tensor *w = &g->tensors[n->in[1]];
        return outs * w->dims[1] * w->dims[2] * w->dims[3];
    }
    case NAD_OP_GEMM: {
        const nad_tensor *a = &g->tensors[n->in[0]];
        return outs * a->dims[n->attr.gemm.trans_a ? 0 : 1];
    }
    case NAD_OP_MATMUL: {
        const nad_tensor *a = &g->tensors[n->in[0]];
        return outs * a->dims[a->ndim - 1];
    }
    default:
        return 0;
    }
}

/*
 * nad_graph_layer_info: see nadapt/graph.h.  Needs shapes (NAD_ESTATE when
 * nad_graph_infer_shapes has not run); NAD_EINVAL for an index out of range.
 */
nad_status nad_graph_layer_info(const nad_graph *g, int i, nad_layer_info *out, nad_err *e)
{
    if (!g || !out)
        return nad_errf(e, NAD_EINVAL, "nad_graph_layer_info: no graph or no output");
    if (i < 0 || i >= g->n_nodes)
        return nad_errf(e, NAD_EINVAL, "layer %d does not exist (the graph has %d)", i, g->n_nodes);
    if (g->batch < 1)
        return nad_errf(e, NAD_ESTATE, "layer info needs inferred shapes (call nad_graph_infer_shapes first)");
    const nad_node *n = &g->nodes[i];
    memset(out, 0, sizeof *out);
    out->name = n->name;
    out->op = nad_op_name(n->op);
    if (n->n_in > 0 && n->in[0] >= 0)
        nad_dims_str(&g->tensors[n->in[0]], out->in_shape, sizeof out->in_shape);
    else
        strcpy(out->in_shape, "[]");
    if (n->n_out < 1 || n->out[0] < 0)
        return nad_errf(e, NAD_EINVAL, "node '%s' has no output", n->name);
    nad_dims_str(&g->tensors[n->out[0]], out->out_shape, sizeof out->out_shape);
    out->params = node_params(g, n);
    out->macs = node_macs(g, n);
    return NAD_OK;
}
