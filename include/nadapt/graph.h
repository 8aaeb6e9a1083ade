/*
 * nadapt — the layer graph: load an ONNX model, simplify it, know every
 * layer's shape, copy it cheaply, and write it back as ONNX.
 *
 * Typical use:
 *     nad_graph *g; nad_err e;
 *     if (nad_graph_load_onnx("net.onnx", &g, &e)) { puts(e.msg); ... }
 *     nad_graph_infer_shapes(g, 64, &e);      // shapes for batch 64
 *     ...
 *     nad_graph_save_onnx(g, "out.onnx", &e);
 *     nad_graph_free(g);
 */
#ifndef NADAPT_GRAPH_H
#define NADAPT_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "nadapt/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nad_graph nad_graph;

/*
 * Reads an ONNX file, folds constants and shape chains, drops Dropout and
 * Identity, folds BatchNormalization into a preceding Conv/Gemm when
 * fold_bn is non-zero, and infers shapes for batch 1.  On failure *out is NULL
 * and e names the file and the problem (unsupported op with its node name,
 * truncated file, bad shape ...).
 */
nad_status nad_graph_load_onnx(const char *path, int fold_bn, nad_graph **out, nad_err *e);

/* Reads an ONNX file into a graph without any simplification (for tools and
 * tests); shapes are not inferred. */
nad_status nad_graph_read_onnx(const char *path, nad_graph **out, nad_err *e);

/*
 * Writes g as an ONNX file that other ONNX tools load (the model's opset,
 * initializer names kept, dynamic batch dimension).  The file is written to a
 * temporary name and renamed into place, so a failure leaves no partial file.
 */
nad_status nad_graph_save_onnx(const nad_graph *g, const char *path, nad_err *e);

/* Serialises g to an ONNX ModelProto in memory; *buf is malloc'd, caller frees. */
nad_status nad_graph_to_onnx_bytes(const nad_graph *g, uint8_t **buf, size_t *len, nad_err *e);

/* Parses an ONNX ModelProto from memory (what nad_graph_read_onnx does after
 * reading the file); what names the source in error messages. */
nad_status nad_graph_from_onnx_bytes(const uint8_t *buf, size_t len, const char *what, nad_graph **out, nad_err *e);

/* Runs the simplification passes nad_graph_load_onnx runs. */
nad_status nad_graph_simplify(nad_graph *g, int fold_bn, nad_err *e);

/* Computes every tensor's dims for the given batch size.  Re-run it after a
 * channel count or the batch size changes. */
nad_status nad_graph_infer_shapes(nad_graph *g, int batch, nad_err *e);

/* A deep copy that shares weight storage copy-on-write; NULL when out of memory. */
nad_graph *nad_graph_copy(const nad_graph *g);

/* Frees g and drops its references to weight storage; NULL is allowed. */
void nad_graph_free(nad_graph *g);

/* Per-layer facts for tables ("nadapt info") and resource models. */
typedef struct nad_layer_info {
    const char *name;  /* node name (owned by the graph)           */
    const char *op;    /* ONNX op type                             */
    char in_shape[96]; /* first input's dims, e.g. "[1,16,28,28]"  */
    char out_shape[96];
    int64_t params; /* weights + biases held by this node      */
    int64_t macs;   /* multiply-accumulates for the inferred batch */
} nad_layer_info;

/* Number of nodes (layers) in g. */
int nad_graph_layer_count(const nad_graph *g);

/* Fills *out for node i of g (shapes must have been inferred). */
nad_status nad_graph_layer_info(const nad_graph *g, int i, nad_layer_info *out, nad_err *e);

#ifdef __cplusplus
}
#endif
#endif /* NADAPT_GRAPH_H */
