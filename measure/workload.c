/*
 * Workloads: layer shapes from a YAML file (examples/workloads/NAME.yaml) or
 * from an inferred graph (see workload.h; schema in models/README.md).
 */
#include "workload.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "yaml_schema.h"

static const char *const kind_names[NAD_LK_COUNT] = {"conv", "grouped", "fc", "matmul", "pool", "eltwise"};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == NAD_LK_COUNT, "kind_names");

/* YAML spellings of type:, mapped to kinds ("depthwise" sets groups = C). */
static const char *const type_names[] = {"conv", "grouped", "depthwise", "fc", "gemm", "matmul", "pool", "eltwise"};
enum { TYPE_CONV, TYPE_GROUPED, TYPE_DEPTHWISE, TYPE_FC, TYPE_GEMM, TYPE_MATMUL, TYPE_POOL, TYPE_ELTWISE, TYPE_COUNT };
_Static_assert(sizeof type_names / sizeof type_names[0] == TYPE_COUNT, "type_names");

static const char *const top_keys[] = {"name", "batch", "layers", "description", NULL};
static const char *const conv_keys[] = {"name",     "type",   "N",      "C",     "M",      "H",
                                        "W",        "R",      "S",      "P",     "Q",      "stride",
                                        "stride_h", "stride_w", "pad",  "pad_h", "pad_w",  "pads",
                                        "dilation", "groups", "weight_density", "act_density", NULL};
static const char *const fc_keys[] = {"name", "type", "N", "C", "M", "weight_density", "act_density", NULL};
static const char *const matmul_keys[] = {"name", "type", "N", "rows", "C", "M", "act_density", NULL};
static const char *const pool_keys[] = {"name", "type",  "N",     "C",     "H",     "W",    "R",
                                        "S",    "P",     "Q",     "stride", "stride_h", "stride_w", "pad",
                                        "pad_h", "pad_w", "pads", "pool",   "ceil_mode", "act_density", NULL};
static const char *const eltwise_keys[] = {"name", "type", "N", "C", "H", "W", "operands", "act_density", NULL};
static const char *const pool_kinds[] = {"avg", "max"};

const char *nad_layer_kind_str(nad_layer_kind k)
{
    return (unsigned)k < NAD_LK_COUNT ? kind_names[k] : "?";
}

int64_t nad_layer_macs(const nad_layer_shape *l)
{
    switch (l->kind) {
    case NAD_LK_CONV:
    case NAD_LK_GROUPED:
    case NAD_LK_FC:
    case NAD_LK_MATMUL:
        return l->N * l->M * l->P * l->Q * (l->C / (l->groups > 0 ? l->groups : 1)) * l->R * l->S;
    default:
        return 0;
    }
}

int64_t nad_layer_ops(const nad_layer_shape *l)
{
    switch (l->kind) {
    case NAD_LK_POOL:
        return l->N * l->C * l->P * l->Q * l->R * l->S;
    case NAD_LK_ELTWISE:
        return (int64_t)(l->n_operands - 1) * l->N * l->C * l->P * l->Q;
    default:
        return nad_layer_macs(l);
    }
}

int64_t nad_layer_weight_count(const nad_layer_shape *l)
{
    switch (l->kind) {
    case NAD_LK_CONV:
    case NAD_LK_GROUPED:
    case NAD_LK_FC:
        return l->M * (l->C / (l->groups > 0 ? l->groups : 1)) * l->R * l->S;
    case NAD_LK_MATMUL:
        return l->weights_are_activations ? 0 : l->M * l->C;
    default:
        return 0;
    }
}

int64_t nad_layer_input_count(const nad_layer_shape *l)
{
    int64_t n = l->N * l->C * l->H * l->W;
    if (l->kind == NAD_LK_ELTWISE)
        return n * l->n_operands;
    if (l->kind == NAD_LK_MATMUL && l->weights_are_activations)
        return n + l->C * l->M;
    return n;
}

int64_t nad_layer_output_count(const nad_layer_shape *l)
{
    return l->N * l->M * l->P * l->Q;
}

int64_t nad_workload_macs(const nad_workload *w)
{
    int64_t total = 0;
    for (int i = 0; i < w->n_layers; i++)
        total += nad_layer_macs(&w->layers[i]);
    return total;
}

void nad_workload_free(nad_workload *w)
{
    if (!w)
        return;
    free(w->layers);
    free(w);
}

/* Output size of a sliding window (conv or pool), ONNX semantics: floor, or
 * ceil when ceil_mode; 0 or less means the window does not fit. */
static int64_t window_out(int64_t in, int pad_begin, int pad_end, int64_t k, int stride, int dil, int ceil_mode)
{
    int64_t span = in + pad_begin + pad_end - (int64_t)dil * (k - 1) - 1;
    if (span < 0)
        return 0;
    int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    /* ONNX/Caffe rule: the last ceil-mode window must start inside the input or left pad. */
    if (ceil_mode && (out - 1) * stride >= in + pad_begin)
        out--;
    return out;
}

/*
 * Sane sizes (why: a huge batch or huge dims overflowed the int64 MAC count,
 * giving totals of 0 or negative).  Every dim is at most 2^31-1 (pos_field),
 * the batch at most 2^20 (as nadapt's --batch), and every count of one layer
 * (MACs, pool/eltwise ops, weights, inputs, outputs) at most 2^50 ~ 1.1e15,
 * checked with overflow-checked products; a workload's MACs at most 2^60.
 * Real layers are far below (VGG-16's largest conv is 1.9e9 MACs per image,
 * 2^50 is 5.8e5 of them), and with these bounds every count the cost model
 * forms from a layer stays far from INT64_MAX.
 */
#define NAD_WL_MAX_BATCH ((int64_t)1 << 20)
#define NAD_WL_MAX_LAYER_COUNT ((int64_t)1 << 50)
#define NAD_WL_MAX_TOTAL_MACS ((int64_t)1 << 60)

/* Product of n factors into *out; 0 on overflow or above NAD_WL_MAX_LAYER_COUNT. */
static int bounded_product(const int64_t *f, int n, int64_t *out)
{
    int64_t p = 1;
    for (int i = 0; i < n; i++)
        if (f[i] < 0 || __builtin_mul_overflow(p, f[i], &p) || p > NAD_WL_MAX_LAYER_COUNT)
            return 0;
    *out = p;
    return 1;
}

/*
 * Checks that every count of layer l fits NAD_WL_MAX_LAYER_COUNT.  where is
 * the message prefix ("FILE:LINE: layers[3] (conv2)" or "node 'x'").  Returns
 * NAD_EINVAL naming the count that is too large.
 */
static nad_status check_layer_counts(const nad_layer_shape *l, const char *where, nad_err *e)
{
    int64_t g = l->groups > 0 ? l->groups : 1, v;
    int64_t cg = l->C / g;
    const struct {
        const char *what;
        int64_t f[7];
        int n;
    } counts[] = {
        {"MACs", {l->N, l->M, l->P, l->Q, cg, l->R, l->S}, 7},
        {"window operations", {l->N, l->C, l->P, l->Q, l->R, l->S}, 6},
        {"weights", {l->M, cg, l->R, l->S}, 4},
        {"input values", {l->N, l->C, l->H, l->W}, 4},
        {"output values", {l->N, l->M, l->P, l->Q}, 4},
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        if (!bounded_product(counts[i].f, counts[i].n, &v))
            return nad_errf(e, NAD_EINVAL, "%s: the layer's %s are out of range (at most 2^50 = %lld)", where,
                            counts[i].what, (long long)NAD_WL_MAX_LAYER_COUNT);
    return NAD_OK;
}

/* Shared scratch for reading one layer: ctx for messages and the file path. */
typedef struct layer_reader {
    nad_yaml *y;
    yaml_node_t *n;
    char ctx[128];
} layer_reader;

/* Reads a positive integer field into *out (kept when absent unless required). */
static nad_status pos_field(layer_reader *r, const char *key, int required, int64_t *out, nad_err *e)
{
    int found = 0;
    int64_t v = *out;
    nad_status rc = nad_yaml_int(r->y, r->n, r->ctx, key, required, &v, &found, e);
    if (rc || !found)
        return rc;
    if (v <= 0)
        return nad_errf(e, NAD_EINVAL, "%s:%d: %s.%s: must be positive, got %lld", r->y->path,
                        nad_yaml_line(nad_yaml_get(r->y, r->n, key)), r->ctx, key, (long long)v);
    /* At most INT32_MAX: pool and depthwise layers keep C as an int groups count. */
    if (v > INT32_MAX)
        return nad_errf(e, NAD_EINVAL, "%s:%d: %s.%s: %lld is out of range (1 to %lld)", r->y->path,
                        nad_yaml_line(nad_yaml_get(r->y, r->n, key)), r->ctx, key, (long long)v,
                        (long long)INT32_MAX);
    *out = v;
    return NAD_OK;
}

/* Like pos_field for an int-sized field; zero allowed when allow_zero (pads). */
static nad_status small_field(layer_reader *r, const char *key, int allow_zero, int *out, nad_err *e)
{
    int found = 0;
    int64_t v = *out;
    nad_status rc = nad_yaml_int(r->y, r->n, r->ctx, key, 0, &v, &found, e);
    if (rc || !found)
        return rc;
    if (v < (allow_zero ? 0 : 1) || v > 1000000)
        return nad_errf(e, NAD_EINVAL, "%s:%d: %s.%s: must be %s, got %lld", r->y->path,
                        nad_yaml_line(nad_yaml_get(r->y, r->n, key)), r->ctx, key,
                        allow_zero ? "zero or positive" : "positive", (long long)v);
    *out = (int)v;
    return NAD_OK;
}

/* A density in (0, 1]. */
static nad_status density_field(layer_reader *r, const char *key, double *out, nad_err *e)
{
    int found = 0;
    double v = *out;
    nad_status rc = nad_yaml_num(r->y, r->n, r->ctx, key, 0, &v, &found, e);
    if (rc || !found)
        return rc;
    if (!(v > 0 && v <= 1))
        return nad_errf(e, NAD_EINVAL, "%s:%d: %s.%s: a density must be in (0, 1], got %.10g", r->y->path,
                        nad_yaml_line(nad_yaml_get(r->y, r->n, key)), r->ctx, key, v);
    *out = v;
    return NAD_OK;
}

/* stride / stride_h / stride_w, pad / pad_h / pad_w / pads: [t, l, b, r], dilation. */
static nad_status window_fields(layer_reader *r, nad_layer_shape *l, nad_err *e)
{
    int stride = 1, pad = 0, pad_h, pad_w, dil = 1;
    nad_status rc = small_field(r, "stride", 0, &stride, e);
    l->stride_h = l->stride_w = stride;
    if (!rc)
        rc = small_field(r, "stride_h", 0, &l->stride_h, e);
    if (!rc)
        rc = small_field(r, "stride_w", 0, &l->stride_w, e);
    if (!rc)
        rc = small_field(r, "pad", 1, &pad, e);
    pad_h = pad_w = pad;
    if (!rc)
        rc = small_field(r, "pad_h", 1, &pad_h, e);
    if (!rc)
        rc = small_field(r, "pad_w", 1, &pad_w, e);
    if (!rc && nad_yaml_get(r->y, r->n, "dilation"))
        rc = small_field(r, "dilation", 0, &dil, e);
    if (rc)
        return rc;
    l->dil_h = l->dil_w = dil;
    l->pad_top = l->pad_bottom = pad_h;
    l->pad_left = l->pad_right = pad_w;
    yaml_node_t *pads = nad_yaml_get(r->y, r->n, "pads");
    if (pads) {
        char sub[160];
        snprintf(sub, sizeof sub, "%s.pads", r->ctx);
        rc = nad_yaml_expect_seq(r->y, pads, sub, e);
        if (rc)
            return rc;
        int count = (int)(pads->data.sequence.items.top - pads->data.sequence.items.start);
        if (count != 4)
            return nad_errf(e, NAD_EFORMAT, "%s:%d: %s: expected 4 values [top, left, bottom, right], got %d",
                            r->y->path, nad_yaml_line(pads), sub, count);
        int *dst[4] = {&l->pad_top, &l->pad_left, &l->pad_bottom, &l->pad_right};
        for (int i = 0; i < 4; i++) {
            int64_t v;
            yaml_node_t *item = nad_yaml_node(r->y, pads->data.sequence.items.start[i]);
            rc = nad_yaml_node_int(r->y, item, r->ctx, "pads", &v, e);
            if (rc)
                return rc;
            if (v < 0 || v > 1000000)
                return nad_errf(e, NAD_EINVAL, "%s:%d: %s: pads must be zero or positive, got %lld", r->y->path,
                                nad_yaml_line(item), sub, (long long)v);
            *dst[i] = (int)v;
        }
    }
    return NAD_OK;
}

/*
 * Derives P and Q from the window and checks them against P/Q when the file
 * gives them too (a cheap guard against a transcription error).
 */
static nad_status derive_pq(layer_reader *r, nad_layer_shape *l, int ceil_mode, nad_err *e)
{
    int64_t p = window_out(l->H, l->pad_top, l->pad_bottom, l->R, l->stride_h, l->dil_h, ceil_mode);
    int64_t q = window_out(l->W, l->pad_left, l->pad_right, l->S, l->stride_w, l->dil_w, ceil_mode);
    if (p <= 0 || q <= 0)
        return nad_errf(e, NAD_EINVAL, "%s:%d: %s: a %lldx%lld window does not fit a %lldx%lld input (with pads)",
                        r->y->path, nad_yaml_line(r->n), r->ctx, (long long)l->R, (long long)l->S, (long long)l->H,
                        (long long)l->W);
    int64_t given_p = p, given_q = q;
    nad_status rc = pos_field(r, "P", 0, &given_p, e);
    if (!rc)
        rc = pos_field(r, "Q", 0, &given_q, e);
    if (rc)
        return rc;
    if (given_p != p || given_q != q)
        return nad_errf(e, NAD_EINVAL, "%s:%d: %s.P: given %lldx%lld but the shape gives %lldx%lld output", r->y->path,
                        nad_yaml_line(nad_yaml_get(r->y, r->n, given_p != p ? "P" : "Q")), r->ctx,
                        (long long)given_p, (long long)given_q, (long long)p, (long long)q);
    l->P = p;
    l->Q = q;
    return NAD_OK;
}

/* One entry of layers:. */
static nad_status parse_layer(nad_yaml *y, yaml_node_t *n, int index, int64_t batch, nad_layer_shape *l, nad_err *e)
{
    layer_reader r = {y, n, ""};
    int type = 0, ceil_mode = 0;
    nad_status rc;

    memset(l, 0, sizeof *l);
    l->graph_node = -1;
    l->line = nad_yaml_line(n);
    l->weight_density = l->act_density = 1.0;
    l->groups = 1;
    l->n_operands = 1;
    l->N = batch;
    l->H = l->W = l->R = l->S = l->P = l->Q = 1;
    l->stride_h = l->stride_w = l->dil_h = l->dil_w = 1;
    snprintf(r.ctx, sizeof r.ctx, "layers[%d]", index);
    rc = nad_yaml_expect_map(y, n, r.ctx, e);
    if (rc)
        return rc;
    rc = nad_yaml_str(y, n, r.ctx, "name", 1, l->name, sizeof l->name, NULL, e);
    if (rc)
        return rc;
    snprintf(r.ctx, sizeof r.ctx, "layers[%d] (%s)", index, l->name);
    yaml_node_t *tn = nad_yaml_get(y, n, "type");
    if (!tn)
        return nad_errf(e, NAD_EFORMAT, "%s:%d: %s: missing required field 'type'", y->path, l->line, r.ctx);
    type = nad_yaml_enum(y, tn, r.ctx, "type", type_names, TYPE_COUNT, e);
    if (type < 0)
        return NAD_EFORMAT;
    const char *const *keys = type == TYPE_FC || type == TYPE_GEMM ? fc_keys
                              : type == TYPE_MATMUL                ? matmul_keys
                              : type == TYPE_POOL                  ? pool_keys
                              : type == TYPE_ELTWISE               ? eltwise_keys
                                                                   : conv_keys;
    rc = nad_yaml_check_keys(y, n, r.ctx, keys, e);
    if (rc)
        return rc;
    /* A per-layer N multiplies nothing: it replaces the batch unless --batch overrides (see caller). */
    rc = pos_field(&r, "N", 0, &l->N, e);
    if (!rc)
        rc = density_field(&r, "act_density", &l->act_density, e);
    if (rc)
        return rc;

    switch (type) {
    case TYPE_FC:
    case TYPE_GEMM:
        l->kind = NAD_LK_FC;
        rc = pos_field(&r, "C", 1, &l->C, e);
        if (!rc)
            rc = pos_field(&r, "M", 1, &l->M, e);
        if (!rc)
            rc = density_field(&r, "weight_density", &l->weight_density, e);
        return rc;
    case TYPE_MATMUL: {
        int64_t rows = 1;
        l->kind = NAD_LK_MATMUL;
        l->weights_are_activations = 1;
        rc = pos_field(&r, "rows", 0, &rows, e);
        if (!rc)
            rc = pos_field(&r, "C", 1, &l->C, e);
        if (!rc)
            rc = pos_field(&r, "M", 1, &l->M, e);
        l->N *= rows;
        return rc;
    }
    case TYPE_ELTWISE:
        l->kind = NAD_LK_ELTWISE;
        l->n_operands = 2;
        rc = pos_field(&r, "C", 1, &l->C, e);
        if (!rc)
            rc = pos_field(&r, "H", 0, &l->H, e);
        if (!rc)
            rc = pos_field(&r, "W", 0, &l->W, e);
        if (!rc)
            rc = small_field(&r, "operands", 0, &l->n_operands, e);
        if (!rc && l->n_operands < 2)
            rc = nad_errf(e, NAD_EINVAL, "%s:%d: %s.operands: an element-wise layer needs at least 2", y->path,
                          nad_yaml_line(nad_yaml_get(y, n, "operands")), r.ctx);
        l->M = l->C;
        l->P = l->H;
        l->Q = l->W;
        return rc;
    default:
        break;
    }

    /* conv, grouped, depthwise, pool: a sliding window over H x W. */
    rc = pos_field(&r, "C", 1, &l->C, e);
    if (!rc)
        rc = pos_field(&r, "H", 1, &l->H, e);
    if (!rc)
        rc = pos_field(&r, "W", 1, &l->W, e);
    if (!rc)
        rc = pos_field(&r, "R", 1, &l->R, e);
    if (!rc)
        rc = pos_field(&r, "S", 1, &l->S, e);
    if (!rc)
        rc = window_fields(&r, l, e);
    if (rc)
        return rc;
    if (type == TYPE_POOL) {
        int pk = 1;
        l->kind = NAD_LK_POOL;
        l->M = l->C;
        l->groups = (int)l->C;
        rc = nad_yaml_bool(y, n, r.ctx, "ceil_mode", 0, &ceil_mode, NULL, e);
        if (!rc && nad_yaml_get(y, n, "pool")) {
            pk = nad_yaml_enum(y, nad_yaml_get(y, n, "pool"), r.ctx, "pool", pool_kinds, 2, e);
            if (pk < 0)
                return NAD_EFORMAT;
        }
        l->is_max_pool = pk;
        return rc ? rc : derive_pq(&r, l, ceil_mode, e);
    }
    l->kind = NAD_LK_CONV;
    if (type == TYPE_DEPTHWISE) {
        l->M = l->C;
        l->groups = (int)l->C;
    }
    rc = pos_field(&r, "M", type != TYPE_DEPTHWISE, &l->M, e);
    if (!rc)
        rc = small_field(&r, "groups", 0, &l->groups, e);
    if (!rc)
        rc = density_field(&r, "weight_density", &l->weight_density, e);
    if (rc)
        return rc;
    if (type == TYPE_DEPTHWISE && (l->groups != l->C || l->M % l->C))
        return nad_errf(e, NAD_EINVAL, "%s:%d: %s.groups: a depthwise conv has groups = C = %lld and M a multiple of "
                        "C", y->path, l->line, r.ctx, (long long)l->C);
    if (l->C % l->groups || l->M % l->groups)
        return nad_errf(e, NAD_EINVAL, "%s:%d: %s.groups: C=%lld and M=%lld must both be divisible by groups=%d",
                        y->path, nad_yaml_line(nad_yaml_get(y, n, "groups") ? nad_yaml_get(y, n, "groups") : n),
                        r.ctx, (long long)l->C, (long long)l->M, l->groups);
    if (l->groups > 1)
        l->kind = NAD_LK_GROUPED;
    return derive_pq(&r, l, 0, e);
}

nad_status nad_workload_load(const char *path, int64_t batch_override, nad_workload **out, nad_err *e)
{
    nad_status rc;
    nad_yaml y;
    nad_workload *w = NULL;
    yaml_node_t *root, *seq;
    int count;
    int64_t total_macs = 0;

    *out = NULL;
    rc = nad_yaml_open(path, &y, e);
    if (rc)
        goto fail;
    root = nad_yaml_root(&y);
    rc = nad_yaml_check_keys(&y, root, "workload", top_keys, e);
    if (rc)
        goto fail;
    w = calloc(1, sizeof *w);
    if (!w) {
        rc = nad_errf(e, NAD_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    w->batch = 1;
    rc = nad_yaml_str(&y, root, "workload", "name", 1, w->name, sizeof w->name, NULL, e);
    if (!rc)
        rc = nad_yaml_int(&y, root, "workload", "batch", 0, &w->batch, NULL, e);
    if (rc)
        goto fail;
    if (w->batch <= 0) {
        rc = nad_errf(e, NAD_EINVAL, "%s:%d: workload.batch: must be positive, got %lld", path,
                      nad_yaml_line(nad_yaml_get(&y, root, "batch")), (long long)w->batch);
        goto fail;
    }
    if (w->batch > NAD_WL_MAX_BATCH) {
        rc = nad_errf(e, NAD_EINVAL, "%s:%d: workload.batch: %lld is out of range (1 to %lld)", path,
                      nad_yaml_line(nad_yaml_get(&y, root, "batch")), (long long)w->batch,
                      (long long)NAD_WL_MAX_BATCH);
        goto fail;
    }
    if (batch_override > NAD_WL_MAX_BATCH) {
        rc = nad_errf(e, NAD_EINVAL, "%s: batch %lld is out of range (1 to %lld)", path, (long long)batch_override,
                      (long long)NAD_WL_MAX_BATCH);
        goto fail;
    }
    if (batch_override > 0)
        w->batch = batch_override;
    seq = nad_yaml_get(&y, root, "layers");
    if (!seq) {
        rc = nad_errf(e, NAD_EFORMAT, "%s:%d: workload: missing required field 'layers'", path, nad_yaml_line(root));
        goto fail;
    }
    rc = nad_yaml_expect_seq(&y, seq, "layers", e);
    if (rc)
        goto fail;
    count = (int)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (count == 0) {
        rc = nad_errf(e, NAD_EINVAL, "%s:%d: layers: the list is empty", path, nad_yaml_line(seq));
        goto fail;
    }
    w->layers = calloc((size_t)count, sizeof *w->layers);
    if (!w->layers) {
        rc = nad_errf(e, NAD_ENOMEM, "%s: out of memory for %d layers", path, count);
        goto fail;
    }
    for (int i = 0; i < count; i++) {
        nad_layer_shape *l = &w->layers[i];
        rc = parse_layer(&y, nad_yaml_node(&y, seq->data.sequence.items.start[i]), i, w->batch, l, e);
        if (rc)
            goto fail;
        /* --batch wins over a per-layer N; a matmul keeps its rows factor. */
        if (batch_override > 0 && l->kind != NAD_LK_MATMUL)
            l->N = batch_override;
        w->n_layers = i + 1;
        char where[600];
        snprintf(where, sizeof where, "%s:%d: layers[%d] (%s)", path, l->line, i, l->name);
        rc = check_layer_counts(l, where, e);
        if (!rc && (__builtin_add_overflow(total_macs, nad_layer_macs(l), &total_macs) ||
                    total_macs > NAD_WL_MAX_TOTAL_MACS))
            rc = nad_errf(e, NAD_EINVAL, "%s: the workload's MACs are out of range (at most 2^60 = %lld)", where,
                          (long long)NAD_WL_MAX_TOTAL_MACS);
        if (rc)
            goto fail;
    }
    nad_yaml_close(&y);
    *out = w;
    return NAD_OK;
fail:
    nad_yaml_close(&y);
    nad_workload_free(w);
    return rc;
}

/* ---- from a graph --------------------------------------------------------- */

/* Fraction of non-zero values in a float weight tensor (1 when it has no data). */
static double nonzero_fraction(const nad_tensor *t)
{
    const float *v = nad_tensor_f32(t);
    int64_t n = nad_tensor_numel(t), nz = 0;
    if (!v || t->dtype != NAD_DT_FLOAT || n <= 0)
        return 1.0;
    for (int64_t i = 0; i < n; i++)
        nz += v[i] != 0.0f;
    return (double)nz / (double)n;
}

/* 1 when tensor index ti exists and has ndim dims that are all positive. */
static int has_dims(const nad_graph *g, int ti, int ndim)
{
    if (ti < 0 || ti >= g->n_tensors || g->tensors[ti].ndim != ndim)
        return 0;
    for (int i = 0; i < ndim; i++)
        if (g->tensors[ti].dims[i] <= 0)
            return 0;
    return 1;
}

/* Fills l from a Conv node (weights [M, C/groups, R, S]). */
static nad_status conv_layer(const nad_graph *g, const nad_node *nd, nad_layer_shape *l, nad_err *e)
{
    if (nd->n_in < 2 || !has_dims(g, nd->in[0], 4) || !has_dims(g, nd->in[1], 4) || !has_dims(g, nd->out[0], 4))
        return nad_errf(e, NAD_ESHAPE, "node '%s' (Conv): expected 4-D input, weight and output with known dims",
                        nd->name);
    const nad_tensor *x = &g->tensors[nd->in[0]], *wt = &g->tensors[nd->in[1]], *y = &g->tensors[nd->out[0]];
    const nad_conv_attr *a = &nd->attr.conv;
    l->N = x->dims[0];
    l->C = x->dims[1];
    l->H = x->dims[2];
    l->W = x->dims[3];
    l->M = wt->dims[0];
    l->R = wt->dims[2];
    l->S = wt->dims[3];
    l->P = y->dims[2];
    l->Q = y->dims[3];
    l->groups = a->group > 0 ? a->group : 1;
    l->stride_h = a->sh > 0 ? a->sh : 1;
    l->stride_w = a->sw > 0 ? a->sw : 1;
    l->dil_h = a->dh > 0 ? a->dh : 1;
    l->dil_w = a->dw > 0 ? a->dw : 1;
    l->pad_top = a->pads[0];
    l->pad_left = a->pads[1];
    l->pad_bottom = a->pads[2];
    l->pad_right = a->pads[3];
    if (wt->dims[1] * l->groups != l->C || l->M % l->groups || y->dims[1] != l->M)
        return nad_errf(e, NAD_ESHAPE, "node '%s' (Conv): weight [%lld,%lld,..] with group %d does not match input "
                        "channels %lld / output channels %lld", nd->name, (long long)wt->dims[0],
                        (long long)wt->dims[1], l->groups, (long long)l->C, (long long)y->dims[1]);
    l->kind = l->groups > 1 ? NAD_LK_GROUPED : NAD_LK_CONV;
    l->weight_density = nonzero_fraction(wt);
    return NAD_OK;
}

/* Fills l from Gemm (A [N,K] x B) or MatMul (A [..., rows, K] x B [..., K, M]). */
static nad_status gemm_layer(const nad_graph *g, const nad_node *nd, nad_layer_shape *l, nad_err *e)
{
    const char *op = nad_op_name(nd->op);
    if (nd->n_in < 2 || nd->in[0] < 0 || nd->in[1] < 0)
        return nad_errf(e, NAD_ESHAPE, "node '%s' (%s): needs two inputs", nd->name, op);
    const nad_tensor *a = &g->tensors[nd->in[0]], *b = &g->tensors[nd->in[1]];
    if (a->ndim < 1 || b->ndim < 2 || !has_dims(g, nd->in[0], a->ndim) || !has_dims(g, nd->in[1], b->ndim))
        return nad_errf(e, NAD_ESHAPE, "node '%s' (%s): operand dims are not known (run shape inference)", nd->name,
                        op);
    int64_t k, m, rows = 1;
    if (nd->op == NAD_OP_GEMM) {
        if (a->ndim != 2 || b->ndim != 2)
            return nad_errf(e, NAD_ESHAPE, "node '%s' (Gemm): expected 2-D operands", nd->name);
        rows = nd->attr.gemm.trans_a ? a->dims[1] : a->dims[0];
        k = nd->attr.gemm.trans_a ? a->dims[0] : a->dims[1];
        m = nd->attr.gemm.trans_b ? b->dims[0] : b->dims[1];
        if ((nd->attr.gemm.trans_b ? b->dims[1] : b->dims[0]) != k)
            return nad_errf(e, NAD_ESHAPE, "node '%s' (Gemm): inner dims %lld and %lld differ", nd->name,
                            (long long)k, (long long)(nd->attr.gemm.trans_b ? b->dims[1] : b->dims[0]));
    } else {
        k = a->dims[a->ndim - 1];
        m = b->dims[b->ndim - 1];
        if (b->dims[b->ndim - 2] != k)
            return nad_errf(e, NAD_ESHAPE, "node '%s' (MatMul): inner dims %lld and %lld differ", nd->name,
                            (long long)k, (long long)b->dims[b->ndim - 2]);
        for (int i = 0; i < a->ndim - 1; i++)
            rows *= a->dims[i];
    }
    int b_is_weight = b->kind == NAD_TK_WEIGHT || b->kind == NAD_TK_CONST;
    l->N = rows;
    l->C = k;
    l->M = m;
    l->kind = nd->op == NAD_OP_GEMM || b_is_weight ? NAD_LK_FC : NAD_LK_MATMUL;
    l->weights_are_activations = !b_is_weight;
    /* A batched MatMul ([b, rows, K] x [b, K, M]) folds b into N through rows:
     * MACs = b rows K M either way. */
    l->weight_density = b_is_weight ? nonzero_fraction(b) : 1.0;
    return NAD_OK;
}

/* Fills l from MaxPool / AveragePool / GlobalAveragePool / GlobalMaxPool. */
static nad_status pool_layer(const nad_graph *g, const nad_node *nd, nad_layer_shape *l, nad_err *e)
{
    if (nd->n_in < 1 || !has_dims(g, nd->in[0], 4) || !has_dims(g, nd->out[0], 4))
        return nad_errf(e, NAD_ESHAPE, "node '%s' (%s): expected 4-D input and output with known dims", nd->name,
                        nad_op_name(nd->op));
    const nad_tensor *x = &g->tensors[nd->in[0]], *y = &g->tensors[nd->out[0]];
    l->kind = NAD_LK_POOL;
    l->N = x->dims[0];
    l->C = l->M = x->dims[1];
    l->groups = (int)l->C;
    l->H = x->dims[2];
    l->W = x->dims[3];
    l->P = y->dims[2];
    l->Q = y->dims[3];
    l->is_max_pool = nd->op == NAD_OP_MAXPOOL || nd->op == NAD_OP_GLOBAL_MAXPOOL;
    if (nd->op == NAD_OP_GLOBAL_AVGPOOL || nd->op == NAD_OP_GLOBAL_MAXPOOL) {
        l->R = l->H;
        l->S = l->W;
        return NAD_OK;
    }
    const nad_pool_attr *a = &nd->attr.pool;
    l->R = a->kh;
    l->S = a->kw;
    l->stride_h = a->sh > 0 ? a->sh : 1;
    l->stride_w = a->sw > 0 ? a->sw : 1;
    l->dil_h = a->dh > 0 ? a->dh : 1;
    l->dil_w = a->dw > 0 ? a->dw : 1;
    l->pad_top = a->pads[0];
    l->pad_left = a->pads[1];
    l->pad_bottom = a->pads[2];
    l->pad_right = a->pads[3];
    return NAD_OK;
}

/* Fills l from Add/Sub/Mul/Div on the output's dims (NCHW, or [N, features]). */
static nad_status eltwise_layer(const nad_graph *g, const nad_node *nd, nad_layer_shape *l, nad_err *e)
{
    int yi = nd->out[0];
    if (yi < 0 || g->tensors[yi].ndim < 1 || !has_dims(g, yi, g->tensors[yi].ndim))
        return nad_errf(e, NAD_ESHAPE, "node '%s' (%s): output dims are not known", nd->name, nad_op_name(nd->op));
    const nad_tensor *y = &g->tensors[yi];
    l->kind = NAD_LK_ELTWISE;
    l->n_operands = nd->n_in;
    l->N = y->dims[0];
    l->C = 1;
    if (y->ndim == 4) {
        l->C = y->dims[1];
        l->H = y->dims[2];
        l->W = y->dims[3];
    } else {
        for (int i = 1; i < y->ndim; i++)
            l->C *= y->dims[i];
    }
    l->M = l->C;
    l->P = l->H;
    l->Q = l->W;
    return NAD_OK;
}

nad_status nad_workload_from_graph(const nad_graph *g, nad_workload **out, nad_err *e)
{
    nad_status rc = NAD_OK;
    nad_workload *w = NULL;
    int64_t total_macs = 0;

    *out = NULL;
    if (!g)
        return nad_errf(e, NAD_EINVAL, "workload from graph: no graph");
    if (g->batch <= 0)
        return nad_errf(e, NAD_ESTATE, "workload from graph: shapes have not been inferred "
                        "(call nad_graph_infer_shapes first)");
    w = calloc(1, sizeof *w);
    if (!w || !(w->layers = calloc((size_t)(g->n_nodes > 0 ? g->n_nodes : 1), sizeof *w->layers))) {
        rc = nad_errf(e, NAD_ENOMEM, "workload from graph: out of memory for %d nodes", g->n_nodes);
        goto fail;
    }
    snprintf(w->name, sizeof w->name, "%s", g->name && g->name[0] ? g->name : "graph");
    w->batch = g->batch;
    for (int i = 0; i < g->n_nodes; i++) {
        const nad_node *nd = &g->nodes[i];
        nad_layer_shape *l = &w->layers[w->n_layers];
        memset(l, 0, sizeof *l);
        l->H = l->W = l->R = l->S = l->P = l->Q = 1;
        l->stride_h = l->stride_w = l->dil_h = l->dil_w = 1;
        l->groups = 1;
        l->n_operands = 1;
        l->weight_density = l->act_density = 1.0;
        l->graph_node = i;
        if (nd->name && nd->name[0])
            snprintf(l->name, sizeof l->name, "%s", nd->name);
        else
            snprintf(l->name, sizeof l->name, "%s_%d", nad_op_name(nd->op), i);
        switch (nd->op) {
        case NAD_OP_CONV:
            rc = conv_layer(g, nd, l, e);
            break;
        case NAD_OP_GEMM:
        case NAD_OP_MATMUL:
            rc = gemm_layer(g, nd, l, e);
            break;
        case NAD_OP_MAXPOOL:
        case NAD_OP_AVGPOOL:
        case NAD_OP_GLOBAL_AVGPOOL:
        case NAD_OP_GLOBAL_MAXPOOL:
            rc = pool_layer(g, nd, l, e);
            break;
        case NAD_OP_ADD:
        case NAD_OP_SUB:
        case NAD_OP_MUL:
        case NAD_OP_DIV:
            rc = eltwise_layer(g, nd, l, e);
            break;
        default:
            continue; /* activations, reshapes ...: no cost in the analytic model */
        }
        if (!rc) {
            char where[160];
            snprintf(where, sizeof where, "node '%s'", l->name);
            rc = check_layer_counts(l, where, e);
        }
        if (!rc && (__builtin_add_overflow(total_macs, nad_layer_macs(l), &total_macs) ||
                    total_macs > NAD_WL_MAX_TOTAL_MACS))
            rc = nad_errf(e, NAD_EINVAL, "node '%s': the graph's MACs are out of range (at most 2^60 = %lld)",
                          l->name, (long long)NAD_WL_MAX_TOTAL_MACS);
        if (rc)
            goto fail;
        w->n_layers++;
    }
    *out = w;
    return NAD_OK;
fail:
    nad_workload_free(w);
    return rc;
}
