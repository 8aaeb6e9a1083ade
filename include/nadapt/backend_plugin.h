/*
 * nadapt — the back-end ABI: what a resource back-end implements.
 *
 * Every back-end (the analytic accelerator model, host-CPU timing, an
 * external command, a device vendor's plugin) is one nad_backend_ops table.
 * A plugin is a shared library exporting
 *
 *     const nad_backend_ops *nad_backend_plugin(void);
 *
 * and is selected with `--backend plugin:PATH.so[:CONFIG]`.  nadapt checks
 * abi_version == NAD_BACKEND_ABI_VERSION and struct_size before it calls
 * anything else; examples/plugin/ is a complete plugin and its README walks a
 * vendor through writing one.
 *
 * Contract (every callback):
 *   - returns 0 on success; non-zero on failure with a one-line message
 *     (no newline needed) written into err[0..err_len), which nadapt prints
 *     after the plugin's name;
 *   - is called from one thread at a time (nadapt serialises measurements:
 *     nothing else of nadapt runs heavy work while a measurement is timed);
 *   - answers depend on the network or layer alone, never on earlier calls.
 *
 * Resources are named as nadapt names them — "energy", "latency", "macs",
 * "params", "dram" — with a unit string: latency in "s", "ms" or "us"
 * (nadapt converts to seconds), energy in "pJ", "nJ", "uJ", "mJ", "J" or a
 * normalised unit such as "MAC".
 */
#ifndef NADAPT_BACKEND_PLUGIN_H
#define NADAPT_BACKEND_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NAD_BACKEND_ABI_VERSION 1u
#define NAD_BACKEND_MAX_RESOURCES 8
#define NAD_BACKEND_PLUGIN_SYMBOL "nad_backend_plugin"

struct nad_graph;

/* One resource a back-end reports. */
typedef struct nad_backend_resource_desc {
    const char *name; /* "energy", "latency", "macs", "params", "dram" */
    const char *unit; /* see above                                     */
} nad_backend_resource_desc;

/*
 * One layer, as a per-layer cost is asked for (lookup tables).  Spatial
 * sizes are 1 for dense layers; groups == in_c == out_c for a depthwise conv.
 * Layers without weights (pooling, activations, additions) have
 * in_c == out_c and kernel/stride of the op (1 when it has none).
 */
typedef struct nad_layer_desc {
    const char *op;   /* ONNX op type: "Conv", "Gemm", "MatMul", "MaxPool", ... */
    const char *name; /* the node's name in the model (may be "")               */
    int64_t batch;
    int64_t in_c, out_c, groups;
    int64_t in_h, in_w, out_h, out_w;
    int64_t kernel_h, kernel_w, stride_h, stride_w, dil_h, dil_w;
    int64_t pad_top, pad_left, pad_bottom, pad_right;
} nad_layer_desc;

/* The network handed to network(): the in-memory graph (usable through
 * include/nadapt/graph.h when the plugin links libnadapt) and, when the
 * back-end set NAD_BACKEND_WANTS_FILE, the same network saved as ONNX. */
typedef struct nad_backend_net {
    const struct nad_graph *graph; /* BatchNorm folded, shapes at batch 1   */
    const char *onnx_path;         /* NULL unless NAD_BACKEND_WANTS_FILE    */
} nad_backend_net;

enum {
    NAD_BACKEND_WANTS_FILE = 1u, /* network() reads onnx_path (written per call)      */
    NAD_BACKEND_TIMED = 2u,      /* answers are timings: never run beside other work */
};

typedef struct nad_backend_ops {
    uint32_t abi_version; /* NAD_BACKEND_ABI_VERSION                  */
    uint32_t struct_size; /* sizeof(nad_backend_ops)                  */
    const char *name;     /* short name for messages, e.g. "acme-npu" */
    uint32_t flags;       /* NAD_BACKEND_WANTS_FILE | NAD_BACKEND_TIMED */

    /* Opens the back-end with its configuration string ("" when none). */
    int (*open)(const char *config, void **state, char *err, size_t err_len);

    /* The resources reported, in the order values[] uses; returns how many
     * (1..NAD_BACKEND_MAX_RESOURCES), or <= 0 on failure. */
    int (*resources)(void *state, nad_backend_resource_desc *out, int max, char *err, size_t err_len);

    /* Cost of one layer (may be NULL: nadapt then costs a one-layer network
     * with network()).  spread[i] is the measurement's interquartile range
     * (0 for a model). */
    int (*layer)(void *state, const nad_layer_desc *l, double *values, double *spread, char *err, size_t err_len);

    /* Cost of a whole network, per image. */
    int (*network)(void *state, const nad_backend_net *net, double *values, double *spread, char *err,
                   size_t err_len);

    /* Frees state (NULL allowed). */
    void (*close)(void *state);
} nad_backend_ops;

/* The entry point a plugin exports (see the top of this file). */
typedef const nad_backend_ops *(*nad_backend_plugin_fn)(void);

#ifdef __cplusplus
}
#endif
#endif /* NADAPT_BACKEND_PLUGIN_H */
