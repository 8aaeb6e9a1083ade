/*
 * nad_graph_load_onnx: read, simplify, infer shapes for batch 1 — what every
 * tool wants from a model file.  Kept apart from the reader so the reader
 * (and the fuzz harness) need no graph passes.
 */
#include <math.h>

#include "onnx/onnx_internal.h"

/*
 * BatchNormalization statistics that the file stores (an initializer or a
 * Constant) must be valid: a negative or non-finite variance makes
 * 1/sqrt(var + eps) NaN (or a huge scale), so the model would evaluate and
 * train as if it were fine while every number it gives is wrong.  Runs on the
 * raw graph, before BN folding hides the node; variances computed by a
 * constant subgraph are not checked.  Kept out of the reader so that raw
 * graphs (test graphs, fuzz inputs) still round-trip whatever they hold.
 */
static nad_status check_bn_stats(const nad_graph *g, nad_err *e)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const nad_node *n = &g->nodes[i];
        if (n->op != NAD_OP_BATCHNORM || n->n_in < 5 || n->in[4] < 0)
            continue;
        const nad_tensor *v = &g->tensors[n->in[4]];
        if (v->dtype != NAD_DT_FLOAT || !v->blob)
            continue;
        const float *x = nad_tensor_f32(v);
        size_t count = v->blob->bytes / sizeof(float);
        for (size_t c = 0; c < count; c++) {
            if (x[c] >= 0.0f && isfinite(x[c]))
                continue;
            const char *what = isnan(x[c]) ? "NaN" : isinf(x[c]) ? (x[c] > 0 ? "inf" : "-inf") : "negative";
            return nad_errf(e, NAD_EFORMAT, "node '%s' (BatchNormalization): variance '%s' is %s at channel %zu",
                            n->name, v->name, what, c);
        }
    }
    return NAD_OK;
}

/*
 * Before opset 13 Softmax coerces its input to 2-D at `axis` and normalises
 * over all dims from axis on; from 13 it normalises along axis alone, which
 * is what nadapt computes.  The two agree when axis is the last axis or every
 * dim after it is 1 (e.g. [N,10] or [N,10,1,1] at axis 1); anything else is
 * refused rather than silently computed differently.  Needs inferred shapes.
 */
static nad_status check_old_softmax(const nad_graph *g, nad_err *e)
{
    if (g->opset >= 13)
        return NAD_OK;
    for (int i = 0; i < g->n_nodes; i++) {
        const nad_node *n = &g->nodes[i];
        if (n->op != NAD_OP_SOFTMAX || n->n_in < 1 || n->in[0] < 0)
            continue;
        const nad_tensor *x = &g->tensors[n->in[0]];
        int axis = n->attr.axis.axis < 0 ? n->attr.axis.axis + x->ndim : n->attr.axis.axis;
        for (int k = axis + 1; k < x->ndim; k++)
            if (k >= 0 && x->dims[k] != 1)
                return nad_errf(e, NAD_EUNSUPPORTED,
                                "node '%s' (Softmax): opset %lld flattens the input from axis %d on, which differs "
                                "from per-axis softmax for rank %d (unsupported)",
                                n->name, (long long)g->opset, n->attr.axis.axis, x->ndim);
    }
    return NAD_OK;
}

nad_status nad_graph_load_onnx(const char *path, int fold_bn, nad_graph **out, nad_err *e)
{
    nad_graph *g = NULL;
    *out = NULL;
    nad_status rc = nad_graph_read_onnx(path, &g, e); /* its messages already start with the path */
    if (rc)
        return rc;
    if ((rc = check_bn_stats(g, e)) || (rc = nad_graph_simplify(g, fold_bn, e)) ||
        (rc = nad_graph_infer_shapes(g, 1, e)) || (rc = check_old_softmax(g, e))) {
        nad_err_prefix(e, rc, "%s: ", path);
        nad_graph_free(g);
        return rc;
    }
    *out = g;
    return NAD_OK;
}
