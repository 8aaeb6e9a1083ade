/*
 * nadapt — internal pieces shared by the graph passes (shape inference,
 * constant evaluation and folding, simplification).
 *
 * Constant values.  A tensor "has a value" when it holds a blob: WEIGHT and
 * CONST tensors always do, and shape inference gives an ACT tensor a blob
 * when it evaluates the node that produces it (the int64 shape chains that
 * exporters put in front of Reshape).  Such a value is recomputed by every
 * nad_graph_infer_shapes() call; nad_graph_fold_constants() then turns it
 * into a CONST tensor for good and drops the producing node.
 *
 * Inside shape vectors NAD_DIM_BATCH (graph.h) stands for the batch size, so
 * a folded Reshape target stays valid for every batch.
 */
#ifndef NAD_GRAPH_PASSES_H
#define NAD_GRAPH_PASSES_H

#include "graph/graph.h"

/* Nodes whose every input and output holds at most this many elements are
 * evaluated during shape inference when their inputs are constant (shape
 * arithmetic); bigger constant expressions wait for constant folding. */
#define NAD_EVAL_SMALL 64

/* True when t holds data (a weight, a constant or an evaluated value). */
static inline int nad_tensor_has_value(const nad_tensor *t)
{
    return t->blob != NULL;
}

/* True when input k of n is present (not omitted, not past n_in). */
static inline int nad_node_has_input(const nad_node *n, int k)
{
    return k < n->n_in && n->in[k] >= 0;
}

/* ---- src/graph/shape.c ----------------------------------------------------- */

/* Records "node 'name' (Op): <message>" in e and returns s. */
nad_status nad_node_errf(nad_err *e, nad_status s, const nad_node *n, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* ---- src/graph/eval.c ------------------------------------------------------ */

/* True when nad_node_eval() knows how to evaluate op. */
int nad_op_can_eval(nad_op op);

/*
 * Computes the outputs of node i of g from its inputs' values: every present
 * input must have a value (except Shape, which only reads dims) and the
 * outputs' dims and dtypes must have been inferred.  Each output tensor gets a
 * fresh blob (pure reshapes share the input's blob copy-on-write).  Returns
 * NAD_EUNSUPPORTED for arithmetic on NAD_DIM_BATCH or an op nad_op_can_eval()
 * rejects, NAD_EINVAL for an out-of-range index or a division by zero; e names
 * the node.
 */
nad_status nad_node_eval(nad_graph *g, int i, nad_err *e);

/*
 * Reads the integer vector held by input k of node n (an auxiliary input such
 * as a Reshape target or Squeeze axes) into v[0..max); *count gets its length.
 * Fails with NAD_EUNSUPPORTED when the input has no value (computed from data)
 * or is longer than max, NAD_EINVAL when it is not int64; e names the node.
 */
nad_status nad_aux_ints(const nad_graph *g, const nad_node *n, int k, int64_t *v, int max, int *count,
                        nad_err *e);

/* Reads the scalar held by input k of node n (Clip min/max, Pad value) as a
 * float; int64 scalars are converted.  Errors as nad_aux_ints(). */
nad_status nad_aux_float(const nad_graph *g, const nad_node *n, int k, float *out, nad_err *e);

/*
 * The parameters of a Slice node as given, whichever form they are in
 * (attr.slice for opset < 10, constant inputs 1..4 otherwise), with ONNX's
 * defaults filled in (axes 0..n-1, steps 1).  Errors name the node.
 */
nad_status nad_slice_params(const nad_graph *g, const nad_node *n, nad_slice_attr *p, nad_err *e);

/*
 * The parameters of a Slice node, whichever form they are in (attr.slice for
 * opset < 10, constant inputs 1..4 otherwise), resolved against the data dims
 * d[0..ndim): for every axis the first index, the step and the output extent
 * (ONNX clamping rules; axes without an entry keep start 0, step 1, full
 * extent).  Errors name the node.
 */
nad_status nad_slice_resolve(const nad_graph *g, const nad_node *n, const int64_t *d, int ndim, int64_t *start,
                             int64_t *step, int64_t *extent, nad_err *e);

/* ---- src/graph/fold.c ------------------------------------------------------ */

/*
 * Constant folding: infers shapes (at g->batch, or 1), evaluates every node
 * whose inputs are all constant into CONST tensors (WEIGHT when the result is
 * float and came from a weight), absorbs constant auxiliary inputs into the
 * node attributes (canonical forms listed in fold.c), checks that no int64
 * computation on data is left, and compacts.  NAD_EUNSUPPORTED names a node
 * whose auxiliary input is computed from data.
 */
nad_status nad_graph_fold_constants(nad_graph *g, nad_err *e);

#endif /* NAD_GRAPH_PASSES_H */
