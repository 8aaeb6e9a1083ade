/*
 * nadapt — lookup tables (internal): the layers a table is made of, the
 * one-layer networks they are measured as, and the table in memory.
 *
 * A "unit" is what one table entry costs: one node of the BatchNorm-folded
 * graph, plus the activation the engine fuses into it (layer_net.c says
 * which).  Its key describes everything but its channel counts; its grid
 * holds measured costs at (input channels, output channels) points.
 */
#ifndef NAD_MEASURE_LUT_INTERNAL_H
#define NAD_MEASURE_LUT_INTERNAL_H

#include <stdint.h>

#include "graph/graph.h"
#include "nadapt/backend.h"
#include "nadapt/backend_plugin.h"
#include "nadapt/lut.h"

#define LUT_KEY_MAX 512
#define LUT_VERSION 1
#define LUT_MAX_CH 1000000    /* channel counts a file may hold      */
#define LUT_MAX_LINE 4096     /* bytes of one line of a table file   */
#define LUT_MAX_ENTRIES 4000000

/* How a unit's channel counts vary when a network is pruned. */
typedef enum lut_kind {
    LUT_GRID = 0, /* dense layer: in_c and out_c independently (bilinear)        */
    LUT_DIAG,     /* depthwise or weightless: in_c == out_c (linear)             */
    LUT_FIXED,    /* grouped conv (groups are never pruned): full width only     */
} lut_kind;

typedef struct lut_unit {
    int node;             /* the main node (index into the folded graph)         */
    int act;              /* the fused activation node, -1 when none             */
    lut_kind kind;
    int64_t in_c, out_c;  /* channel counts in this graph (Gemm: input features) */
    int64_t in_unit;      /* in_c moves in multiples of this (Flatten: H*W)      */
    char key[LUT_KEY_MAX];
    char label[300];      /* "/conv2/Conv (Conv k3x3 s1x1 14x14)" for messages   */
} lut_unit;

/* ---- layer_net.c ------------------------------------------------------- */

/*
 * The units of g (BatchNorm folded, shapes inferred at batch 1), in node
 * order; ops the engine runs as aliases (Flatten, Reshape, Squeeze,
 * Unsqueeze, Identity, Dropout) and fused activations are no unit of their
 * own.  *out is malloc'd (free()).  NAD_EUNSUPPORTED names a node a table
 * cannot describe (Concat, Transpose, a MatMul of two activations ...).
 */
nad_status lut_units(const nad_graph *g, lut_unit **out, int *n, nad_err *e);

/*
 * The standalone network of unit u of g with in_c input and out_c output
 * channels (DIAG: in_c == out_c): the node, its fused activation, random
 * weights, one graph input per activation input; shapes inferred at batch 1.
 * *out is new (nad_graph_free).
 */
nad_status lut_layer_net(const nad_graph *g, const lut_unit *u, int64_t in_c, int64_t out_c, nad_graph **out,
                         nad_err *e);

/* Fills d for node i of a one-layer network (shapes inferred) as the
 * back-end ABI's layer() callback takes it. */
void lut_layer_desc(const nad_graph *net, int i, nad_layer_desc *d);

/* 64-bit FNV-1a of the units' keys in order: the network's structure, the
 * same for every pruned variant of a model. */
uint64_t lut_structure_hash(const lut_unit *u, int n);

/* ---- the table in memory (lut.c) ----------------------------------------- */

typedef struct lut_point {
    int64_t in_c, out_c;
    double v[NAD_RES_COUNT];
} lut_point;

typedef struct lut_layer {
    char key[LUT_KEY_MAX];
    lut_point *p; /* sorted by (in_c, out_c) after lut_sort               */
    int n, cap;
} lut_layer;

typedef struct lut_net {
    uint64_t hash;  /* lut_structure_hash of the network          */
    int n_units;
    double overhead[NAD_RES_COUNT];
    char name[128]; /* the model it was measured on (no spaces)   */
} lut_net;

struct nad_lut {
    char path[4096];
    char spec[1024];               /* the back-end the values came from      */
    int has[NAD_RES_COUNT];        /* resources held (never macs/params)     */
    char unit[NAD_RES_COUNT][16];  /* their units                            */
    lut_layer *layers;
    int n_layers, cap_layers;
    lut_net *nets;
    int n_nets, cap_nets;
};

/* The layer of t with key, or NULL; lut_layer_add creates it. */
lut_layer *lut_find_layer(const nad_lut *t, const char *key);
nad_status lut_layer_add(nad_lut *t, const char *key, lut_layer **out, nad_err *e);

/* The point (in_c, out_c) of l, or NULL (l sorted). */
const lut_point *lut_find_point(const lut_layer *l, int64_t in_c, int64_t out_c);

/* Appends a point (keeps l sorted). */
nad_status lut_point_add(lut_layer *l, int64_t in_c, int64_t out_c, const double *v, nad_err *e);

/* The network entry for hash, or NULL. */
lut_net *lut_find_net(const nad_lut *t, uint64_t hash);
nad_status lut_net_add(nad_lut *t, const lut_net *n, nad_err *e);

/* An empty table for back-end spec with the resources of b. */
nad_status lut_new(const char *spec, const nad_backend *b, nad_lut **out, nad_err *e);

/* ---- lut_file.c ------------------------------------------------------------ */

/* Reads the table at path (format in measure/README.md); errors are one line
 * "PATH:LINE: problem" (NAD_EFORMAT) or "PATH: why" (NAD_EIO). */
nad_status lut_read(const char *path, nad_lut **out, nad_err *e);

/* Writes t to path atomically (nad_write_atomic). */
nad_status lut_write(const nad_lut *t, const char *path, nad_err *e);

#endif /* NAD_MEASURE_LUT_INTERNAL_H */
