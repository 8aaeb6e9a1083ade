/*
 * Internal pieces shared by the ONNX reader and writer (src/onnx/ only).
 *
 * Nothing outside src/onnx/ includes this header or the generated
 * onnx.pb-c.h: the rest of nadapt sees only nad_graph.
 */
#ifndef NAD_ONNX_INTERNAL_H
#define NAD_ONNX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "graph/graph.h"
#include "nadapt/status.h"
#include "onnx.pb-c.h"

/* The opset range the reader accepts (what PyTorch's exporter writes). */
#define NAD_ONNX_MIN_OPSET 7
#define NAD_ONNX_MAX_OPSET 18
/* Deepest message nesting accepted before protobuf-c sees the bytes. */
#define NAD_ONNX_MAX_DEPTH 32

/* ---- name → index map (onnx_names.c) ------------------------------------ */

/*
 * An open-addressing hash map from a string to an int.  Keys are borrowed,
 * not copied: they must outlive the map.  Used so that resolving N names costs
 * O(N), not O(N^2) (a hostile file can hold tens of thousands of names).
 */
typedef struct nad_name_map {
    const char **keys;
    int *vals;
    size_t cap; /* a power of two, or 0 */
    size_t n;
} nad_name_map;

/* Prepares an empty map sized for about expected entries; NAD_ENOMEM on failure. */
nad_status nad_name_map_init(nad_name_map *m, size_t expected);
/* Value stored for key, or -1 when absent. */
int nad_name_map_get(const nad_name_map *m, const char *key);
/* Stores key → val; returns 1 if key was new, 0 if it already existed (the
 * value is then left unchanged), -1 when out of memory. */
int nad_name_map_put(nad_name_map *m, const char *key, int val);
void nad_name_map_free(nad_name_map *m);

/* ---- wire pre-check (onnx_wire.c) ---------------------------------------- */

/*
 * Walks the protobuf wire format of a ModelProto without building it and
 * fails with NAD_EFORMAT when messages nest deeper than max_depth or a field
 * is malformed.  protobuf-c unpacks recursively without a depth limit, so a
 * few hundred kilobytes of nested subgraph attributes would otherwise
 * overflow the stack.
 */
nad_status nad_onnx_check_wire(const uint8_t *buf, size_t len, int max_depth, nad_err *e);

/* ---- tensors (onnx_tensor.c) --------------------------------------------- */

/*
 * Decodes a TensorProto (an initializer or a Constant's value) into a new
 * blob: float32 and double → float32, int64 and int32 → int64.  Checks dims
 * (rank <= NAD_MAX_DIMS, no negative dim, no overflowing product) and that
 * the data holds exactly as many elements as the dims say.  On success
 * *dtype, *ndim, dims[] and *blob (one reference, caller owns) are set.
 * Errors name the tensor by `name` (NAD_EFORMAT or NAD_EUNSUPPORTED).
 */
nad_status nad_onnx_decode_tensor(const Onnx__TensorProto *tp, const char *name, nad_dtype *dtype, int *ndim,
                                  int64_t dims[NAD_MAX_DIMS], nad_blob **blob, nad_err *e);

/* ---- attributes (onnx_attr_read.c) --------------------------------------- */

/*
 * Fills *attr for node np of op `op` from its AttributeProtos, with ONNX's
 * defaults for the given opset (and defaults that a later constant-folding
 * pass overwrites for opset-11+ input forms).  weight, when not NULL, is the
 * Conv weight tensor (used when kernel_shape is absent).  Errors name the node
 * and the attribute; NAD_EUNSUPPORTED for valid ONNX nadapt does not run.
 */
nad_status nad_onnx_read_attrs(const Onnx__NodeProto *np, const char *node_name, nad_op op, int64_t opset,
                               const nad_tensor *weight, nad_attr *attr, nad_err *e);

/* ---- arena (onnx_arena.c) ------------------------------------------------- */

/*
 * A bump allocator for building a ModelProto: every piece of the message is
 * allocated here and released with one nad_arena_free(), so the writer has
 * exactly one cleanup path however far it got.
 */
typedef struct nad_arena_chunk nad_arena_chunk;
typedef struct nad_arena {
    nad_arena_chunk *head;
} nad_arena;

/* Zeroed memory for n items of size bytes from a; NULL on overflow or OOM. */
void *nad_arena_alloc(nad_arena *a, size_t n, size_t size);
/* A copy of s in a; NULL when out of memory. */
char *nad_arena_strdup(nad_arena *a, const char *s);
void nad_arena_free(nad_arena *a);

#endif /* NAD_ONNX_INTERNAL_H */
