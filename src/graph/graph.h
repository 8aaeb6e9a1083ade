/*
 * nadapt — the layer graph (internal definitions shared by the library).
 *
 * A graph is a list of typed tensors and a topologically ordered list of nodes
 * that name tensors by index.  It is the one representation everything else
 * works on: the ONNX reader builds it, passes simplify it, shape inference
 * fills in dims for a batch size, the engine plans kernels from it, the
 * resource models read layer shapes from it, and the adapter copies and shrinks
 * it proposal after proposal.
 *
 * Ownership and copying.  Weight and constant data live in reference-counted
 * blobs.  nad_graph_copy() duplicates names, nodes and shapes but only bumps the
 * blob counts, so a copy costs O(nodes + tensors), not O(weights).  Code that
 * changes a weight in place must first call nad_tensor_make_writable(), which
 * gives the tensor a private blob when the blob is shared (copy on write).
 *
 * Shapes.  Activation dims are concrete for the batch size of the last
 * nad_graph_infer_shapes() call; tensor->batch_axis says which axis (if any)
 * carries the batch, so re-running inference after a channel count or the batch
 * size changes is always possible.  Reshape targets may hold NAD_DIM_BATCH (the
 * batch size, whatever it is) besides ONNX's 0 (copy) and -1 (infer).
 */
#ifndef NADAPT_GRAPH_INTERNAL_H
#define NADAPT_GRAPH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "nadapt/graph.h"
#include "nadapt/status.h"

#define NAD_MAX_DIMS 6
/* A Reshape target entry meaning "the batch size" (folded from Shape chains). */
#define NAD_DIM_BATCH INT64_MIN

/* ONNX's TensorProto.DataType values for the two types nadapt computes with. */
typedef enum nad_dtype {
    NAD_DT_FLOAT = 1,
    NAD_DT_INT64 = 7,
} nad_dtype;

typedef enum nad_tensor_kind {
    NAD_TK_ACT = 0, /* computed by a node                                   */
    NAD_TK_INPUT,   /* a graph input fed by the caller (the images)         */
    NAD_TK_WEIGHT,  /* a trainable initializer (conv/gemm weights, bias, BN) */
    NAD_TK_CONST,   /* a constant (Constant node, shape vector, folded)      */
} nad_tensor_kind;

/* Reference-counted storage for weights and constants. */
typedef struct nad_blob {
    long refs;
    size_t bytes;
    void *data; /* 64-byte aligned */
} nad_blob;

typedef struct nad_tensor {
    char *name;
    nad_dtype dtype;
    nad_tensor_kind kind;
    int ndim;
    int64_t dims[NAD_MAX_DIMS];
    int batch_axis; /* axis that carries the batch, -1 if none              */
    nad_blob *blob; /* data of WEIGHT/CONST tensors, NULL for activations   */
    int producer;   /* index of the node that writes it, -1 if none         */
} nad_tensor;

/* One entry per supported operator; name tables are sized by NAD_OP_COUNT. */
typedef enum nad_op {
    NAD_OP_CONV = 0,
    NAD_OP_GEMM,
    NAD_OP_MATMUL,
    NAD_OP_ADD,
    NAD_OP_SUB,
    NAD_OP_MUL,
    NAD_OP_DIV,
    NAD_OP_RELU,
    NAD_OP_LEAKY_RELU,
    NAD_OP_CLIP,
    NAD_OP_SIGMOID,
    NAD_OP_HARD_SIGMOID,
    NAD_OP_HARD_SWISH,
    NAD_OP_TANH,
    NAD_OP_SOFTMAX,
    NAD_OP_MAXPOOL,
    NAD_OP_AVGPOOL,
    NAD_OP_GLOBAL_AVGPOOL,
    NAD_OP_GLOBAL_MAXPOOL,
    NAD_OP_FLATTEN,
    NAD_OP_RESHAPE,
    NAD_OP_TRANSPOSE,
    NAD_OP_CONCAT,
    NAD_OP_PAD,
    NAD_OP_BATCHNORM,
    NAD_OP_DROPOUT,
    NAD_OP_IDENTITY,
    NAD_OP_SQUEEZE,
    NAD_OP_UNSQUEEZE,
    /* Ops that only ever compute shape vectors; constant folding removes them. */
    NAD_OP_SHAPE,
    NAD_OP_GATHER,
    NAD_OP_SLICE,
    NAD_OP_CAST,
    NAD_OP_COUNT
} nad_op;

typedef enum nad_auto_pad {
    NAD_PAD_NOTSET = 0,
    NAD_PAD_SAME_UPPER,
    NAD_PAD_SAME_LOWER,
    NAD_PAD_VALID,
} nad_auto_pad;

/* Conv; 2-D only (NCHW).  Pads are ONNX order: top, left, bottom, right. */
typedef struct nad_conv_attr {
    int kh, kw;
    int sh, sw;
    int dh, dw;
    int pads[4];
    int group;
    nad_auto_pad auto_pad; /* resolved into pads by shape inference */
} nad_conv_attr;

/* MaxPool / AveragePool (2-D). */
typedef struct nad_pool_attr {
    int kh, kw;
    int sh, sw;
    int dh, dw;
    int pads[4];
    int ceil_mode;
    int count_include_pad;
    nad_auto_pad auto_pad;
} nad_pool_attr;

typedef struct nad_gemm_attr {
    float alpha, beta;
    int trans_a, trans_b;
} nad_gemm_attr;

typedef struct nad_bn_attr {
    float epsilon;
    float momentum;
} nad_bn_attr;

/* Two floats used by LeakyRelu (alpha), Clip (min=a, max=b), HardSigmoid
 * (alpha=a, beta=b), Dropout (ratio=a). */
typedef struct nad_scalar_attr {
    float a, b;
} nad_scalar_attr;

/* One integer axis: Softmax, Flatten, Concat, Gather. */
typedef struct nad_axis_attr {
    int axis;
} nad_axis_attr;

/* A list of integers: Transpose perm, Reshape target, (Un)Squeeze axes. */
typedef struct nad_ints_attr {
    int n;
    int64_t v[NAD_MAX_DIMS];
} nad_ints_attr;

/* Pad: ONNX order (begin of each axis, then end of each axis); constant mode. */
typedef struct nad_pad_attr {
    int n; /* 2 * rank */
    int64_t pads[2 * NAD_MAX_DIMS];
    int mode; /* 0 constant, 1 reflect, 2 edge */
    float value;
} nad_pad_attr;

/* Slice on shape vectors. */
typedef struct nad_slice_attr {
    int n;
    int64_t starts[NAD_MAX_DIMS], ends[NAD_MAX_DIMS], axes[NAD_MAX_DIMS], steps[NAD_MAX_DIMS];
} nad_slice_attr;

typedef union nad_attr {
    nad_conv_attr conv;
    nad_pool_attr pool;
    nad_gemm_attr gemm;
    nad_bn_attr bn;
    nad_scalar_attr scalar;
    nad_axis_attr axis;
    nad_ints_attr ints;
    nad_pad_attr pad;
    nad_slice_attr slice;
} nad_attr;

typedef struct nad_node {
    char *name;
    nad_op op;
    int n_in, n_out;
    int *in;  /* tensor indices; -1 marks an omitted optional input */
    int *out; /* tensor indices */
    nad_attr attr;
} nad_node;

struct nad_graph {
    nad_tensor *tensors;
    int n_tensors, cap_tensors;
    nad_node *nodes; /* topological order */
    int n_nodes, cap_nodes;
    int *inputs; /* indices of NAD_TK_INPUT tensors, in ONNX order */
    int n_inputs;
    int *outputs;
    int n_outputs;
    int batch; /* batch size of the last shape inference, 0 if none */
    /* Provenance kept for writing ONNX back. */
    int64_t opset;
    int64_t ir_version;
    char *name;
    char *producer_name;
};

/* ---- construction (src/graph/graph.c) ------------------------------------ */

/* An empty graph; NULL when out of memory. */
nad_graph *nad_graph_new(void);

/*
 * Appends a tensor and returns its index, or -1 when out of memory.  The name
 * is copied.  dims may be NULL when ndim is 0 or the shape is not known yet.
 */
int nad_graph_add_tensor(nad_graph *g, const char *name, nad_dtype dtype, nad_tensor_kind kind, int ndim,
                         const int64_t *dims);

/* Index of the tensor called name, or -1. Linear search: call it at load time. */
int nad_graph_find_tensor(const nad_graph *g, const char *name);

/*
 * Appends a node and returns its index, or -1 when out of memory.  in/out are
 * copied; the producer field of each output tensor is set.  The caller keeps
 * topological order (append a node only after the producers of its inputs).
 */
int nad_graph_add_node(nad_graph *g, const char *name, nad_op op, int n_in, const int *in, int n_out,
                       const int *out, const nad_attr *attr);

/* Removes nodes whose outputs feed nothing that reaches a graph output, and
 * tensors no node or graph input/output refers to; renumbers indices. */
nad_status nad_graph_compact(nad_graph *g, nad_err *e);

/* Rebuilds every tensor's producer index from the node list. */
void nad_graph_relink(nad_graph *g);

/* ---- blobs ---------------------------------------------------------------- */

/* A new zero-filled blob with one reference, or NULL. */
nad_blob *nad_blob_new(size_t bytes);
nad_blob *nad_blob_ref(nad_blob *b);
void nad_blob_unref(nad_blob *b);

/* Gives t a blob of the right size for its dims and dtype (zero-filled). */
nad_status nad_tensor_alloc(nad_tensor *t, nad_err *e);

/* Ensures t->blob is not shared with another graph, copying it if it is. */
nad_status nad_tensor_make_writable(nad_tensor *t, nad_err *e);

/* Product of dims (1 for a scalar). */
int64_t nad_tensor_numel(const nad_tensor *t);

static inline float *nad_tensor_f32(const nad_tensor *t)
{
    return t->blob ? (float *)t->blob->data : NULL;
}

static inline int64_t *nad_tensor_i64(const nad_tensor *t)
{
    return t->blob ? (int64_t *)t->blob->data : NULL;
}

/* ---- ops ------------------------------------------------------------------ */

/* ONNX op_type of an op ("Conv"), and back; returns NAD_OP_COUNT if unknown. */
const char *nad_op_name(nad_op op);
nad_op nad_op_from_name(const char *onnx_op_type);

/* Formats "[1,16,28,28]" into buf; returns buf. */
char *nad_dims_str(const nad_tensor *t, char *buf, size_t size);

#endif /* NADAPT_GRAPH_INTERNAL_H */
