/*
 * nadapt — workloads (internal): the list of layer shapes a resource model
 * estimates, read from a YAML file (examples/workloads/NAME.yaml, schema in
 * models/README.md) or taken from an inferred graph.
 *
 * Every compute layer is described by the 7 conv loop bounds of Eyeriss /
 * Timeloop (N batch, M output channels, C input channels, P x Q output rows x
 * cols, R x S filter rows x cols) plus its input size, stride, dilation, pads
 * and groups.  Conventions (so one MAC formula covers every kind):
 *   - C and M are TOTAL channels; a grouped conv has C/groups inputs and
 *     M/groups outputs per group; depthwise is groups == C == M.
 *     MACs = N x M x P x Q x (C / groups) x R x S.
 *   - fully connected / gemm: C = in features, M = out features,
 *     H = W = P = Q = R = S = 1.
 *   - matmul of two activations [.., rows, K] x [K, cols]: N = rows x leading
 *     dims, C = K, M = cols, H = W = P = Q = R = S = 1,
 *     weights_are_activations = 1 (the "weights" operand is computed).
 *   - pool: C = M = groups = channels, R x S = window; no MACs (compare/adds
 *     counted by nad_layer_ops()).
 *   - eltwise (Add, Mul ...): C = M = channels, H x W = P x Q, R = S = 1,
 *     n_operands inputs; no MACs.
 *
 * Stability: part 2 (mapper/cost) builds on this header.  Fields are only ever
 * added, never renamed.  Fields added by part 2 are noted here:
 *   (none yet)
 * Fields added by the sparsity work:
 *   nad_layer_shape.out_density (0 from the loaders): see the field.
 */
#ifndef NAD_MEASURE_WORKLOAD_H
#define NAD_MEASURE_WORKLOAD_H

#include <stddef.h> /* size_t, used by nadapt/graph.h */
#include <stdint.h>

#include "nadapt/graph.h"
#include "nadapt/status.h"

#define NAD_LAYER_NAME_MAX 64

typedef enum nad_layer_kind {
    NAD_LK_CONV = 0, /* dense conv (groups == 1)                      */
    NAD_LK_GROUPED,  /* grouped conv, including depthwise              */
    NAD_LK_FC,       /* fully connected / Gemm with a weight matrix   */
    NAD_LK_MATMUL,   /* MatMul (weights may be activations)           */
    NAD_LK_POOL,     /* max / average pooling                         */
    NAD_LK_ELTWISE,  /* element-wise Add / Mul / ...                  */
    NAD_LK_COUNT
} nad_layer_kind;

typedef struct nad_layer_shape {
    char name[NAD_LAYER_NAME_MAX];
    nad_layer_kind kind;
    int64_t N, M, C; /* batch, output channels, input channels (totals) */
    int64_t P, Q;    /* output rows, cols                              */
    int64_t R, S;    /* filter rows, cols                              */
    int64_t H, W;    /* input rows, cols (before padding)              */
    int stride_h, stride_w;
    int dil_h, dil_w;
    int pad_top, pad_left, pad_bottom, pad_right;
    int groups;
    int n_operands;              /* eltwise inputs (2), 1 otherwise            */
    int weights_are_activations; /* matmul of two activations                  */
    int is_max_pool;             /* pool: 1 max, 0 average                     */
    double weight_density;       /* fraction of non-zero weights (1.0 default) */
    double act_density;          /* fraction of non-zero input activations     */
    /* Fraction of non-zero outputs as the layer writes them (after an
     * activation the accelerator applies on the way out, e.g. Eyeriss's ReLU
     * before the RLC encoder); 0 = unknown: the estimator then takes the next
     * listed layer's act_density (its consumer in a chain). */
    double out_density;
    int graph_node;              /* node index in the source graph, -1 if YAML */
    int line;                    /* YAML line of the layer, 0 from a graph     */
} nad_layer_shape;

typedef struct nad_workload {
    char name[NAD_LAYER_NAME_MAX];
    int64_t batch; /* batch every layer's N was set to                         */
    nad_layer_shape *layers;
    int n_layers;
} nad_workload;

/*
 * Reads a workload YAML file:
 *     name: alexnet
 *     batch: 1
 *     layers:
 *       - {name: conv1, type: conv, C: 3, H: 227, W: 227, M: 96, R: 11, S: 11, stride: 4}
 * P and Q are derived from H, W, R, S, stride, dilation and pads (and checked
 * when also given).  batch_override > 0 replaces the file's batch (the CLI's
 * --batch); 0 keeps it.  On failure *out is NULL and e holds
 * "FILE:LINE: key: problem".  Returns NAD_EIO, NAD_EFORMAT (syntax, unknown
 * key, wrong type, missing field), NAD_EINVAL (non-positive size, channels not
 * divisible by groups, density outside (0, 1], P/Q inconsistent), NAD_ENOMEM.
 */
nad_status nad_workload_load(const char *path, int64_t batch_override, nad_workload **out, nad_err *e);

/*
 * Converts a graph whose shapes have been inferred (nad_graph_infer_shapes)
 * into a workload: Conv -> conv/grouped, Gemm -> fc, MatMul -> matmul (fc when
 * the second operand is a weight), Max/AveragePool and global pools -> pool,
 * Add/Sub/Mul/Div -> eltwise; other nodes (activations, reshapes ...) carry no
 * cost in the model and are skipped.  The batch is the graph's inferred batch;
 * weight_density is the measured non-zero fraction of each layer's weights;
 * act_density is 1.  Errors name the node.  Returns NAD_ESTATE when shapes
 * were not inferred, NAD_ESHAPE for inconsistent dims, NAD_ENOMEM.
 */
nad_status nad_workload_from_graph(const nad_graph *g, nad_workload **out, nad_err *e);

/* Frees a workload; NULL is allowed. */
void nad_workload_free(nad_workload *w);

/* "conv", "grouped", "fc", "matmul", "pool", "eltwise" (the YAML spellings). */
const char *nad_layer_kind_str(nad_layer_kind k);

/* Multiply-accumulates of one layer: N M P Q (C/groups) R S for conv, fc and
 * matmul; 0 for pool and eltwise. */
int64_t nad_layer_macs(const nad_layer_shape *l);

/* Elementary operations of a layer without MACs: pool window compares/adds
 * (N C P Q R S), eltwise (n_operands - 1) N C P Q; MACs for the others. */
int64_t nad_layer_ops(const nad_layer_shape *l);

/* Weight values: M (C/groups) R S for conv/fc, 0 for pool, eltwise and
 * activation x activation matmul. */
int64_t nad_layer_weight_count(const nad_layer_shape *l);

/* Input activation values read by the layer: N C H W (x n_operands for eltwise,
 * plus the second operand of an activation x activation matmul). */
int64_t nad_layer_input_count(const nad_layer_shape *l);

/* Output values: N M P Q. */
int64_t nad_layer_output_count(const nad_layer_shape *l);

/* Sum of nad_layer_macs over all layers. */
int64_t nad_workload_macs(const nad_workload *w);

#endif /* NAD_MEASURE_WORKLOAD_H */
