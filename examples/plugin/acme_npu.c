/*
 * acme_npu — an example nadapt back-end plugin: a roofline model of the
 * fictional ACME NPU (examples/plugin/README.md walks through it).
 *
 * Every layer the NPU runs costs
 *
 *     time   = max(MACs / peak, bytes / bandwidth) + launch overhead
 *     energy = MACs * pJ_per_MAC + bytes * pJ_per_byte
 *
 * where bytes = (values read + values written + weights) * bytes per value.
 * Activations (Relu, Clip, ...) run in the output stage of the layer before
 * them and reshapes are views, so both cost nothing.  A real vendor replaces
 * layer_cost() by a call into its compiler or its profiler; the plumbing
 * around it (configuration, resources, walking the network, errors) stays.
 *
 * Build outside nadapt's tree:
 *     cc -std=c11 -O2 -shared -fPIC -I NADAPT/include acme_npu.c -o acme_npu.so
 * and use:
 *     nadapt measure model.onnx --backend plugin:./acme_npu.so:peak_gmacs=256,bw_gbs=4
 *
 * The plugin calls nadapt's graph API (nad_graph_layer_count/_info); those
 * symbols come from the program that loads it (nadapt exports them), so the
 * plugin links nothing of nadapt.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nadapt/backend_plugin.h"
#include "nadapt/graph.h"

/* The NPU's parameters; the configuration string sets any of them. */
typedef struct npu {
    double peak_gmacs;  /* MAC/s peak, in 1e9                */
    double bw_gbs;      /* memory bandwidth, GB/s            */
    double overhead_us; /* per-layer launch overhead, us     */
    double pj_per_mac;  /* energy of one MAC, pJ             */
    double pj_per_byte; /* energy of one byte moved, pJ      */
    double bytes;       /* bytes per value (1: int8)         */
} npu;

static const npu npu_defaults = {512, 8, 5, 0.5, 20, 1};

/* The keys of the configuration string, where they live, and whether they
 * must be positive (else non-negative: a free overhead or energy is fine). */
static const struct {
    const char *key;
    size_t offset;
    int positive;
} npu_keys[] = {
    {"peak_gmacs", offsetof(npu, peak_gmacs), 1},   {"bw_gbs", offsetof(npu, bw_gbs), 1},
    {"overhead_us", offsetof(npu, overhead_us), 0}, {"pj_per_mac", offsetof(npu, pj_per_mac), 0},
    {"pj_per_byte", offsetof(npu, pj_per_byte), 0}, {"bytes", offsetof(npu, bytes), 1},
};

/* Sets one "key=value" of the configuration; 0 on success. */
static int set_key(npu *m, const char *kv, size_t len, char *err, size_t err_len)
{
    const char *eq = memchr(kv, '=', len);
    for (size_t i = 0; eq && i < sizeof npu_keys / sizeof npu_keys[0]; i++) {
        if (strlen(npu_keys[i].key) != (size_t)(eq - kv) || strncmp(kv, npu_keys[i].key, (size_t)(eq - kv)))
            continue;
        char num[64], *end;
        snprintf(num, sizeof num, "%.*s", (int)(len - (size_t)(eq - kv) - 1), eq + 1);
        double v = strtod(num, &end);
        if (end == num || *end || !isfinite(v) || v < 0 || (npu_keys[i].positive && v == 0)) {
            snprintf(err, err_len, "acme-npu: %s=%s is not a %s number", npu_keys[i].key, num,
                     npu_keys[i].positive ? "positive" : "non-negative");
            return 1;
        }
        *(double *)((char *)m + npu_keys[i].offset) = v;
        return 0;
    }
    snprintf(err, err_len, "acme-npu: option '%.*s' is not one of peak_gmacs, bw_gbs, overhead_us, pj_per_mac, "
             "pj_per_byte, bytes (KEY=VALUE,...)", (int)len, kv);
    return 1;
}

/* open(): parses "key=value,key=value" ("" keeps every default). */
static int npu_open(const char *config, void **state, char *err, size_t err_len)
{
    npu *m = malloc(sizeof *m);
    *state = NULL;
    if (!m) {
        snprintf(err, err_len, "acme-npu: out of memory");
        return 1;
    }
    *m = npu_defaults;
    for (const char *s = config; s && *s;) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (set_key(m, s, len, err, err_len)) {
            free(m);
            return 1;
        }
        s = end ? end + 1 : NULL;
    }
    *state = m;
    return 0;
}

/* resources(): latency in ms and energy in uJ (nadapt converts both). */
static int npu_resources(void *state, nad_backend_resource_desc *out, int max, char *err, size_t err_len)
{
    if (max < 2) {
        snprintf(err, err_len, "acme-npu: room for %d resources, 2 needed", max);
        return 0;
    }
    out[0] = (nad_backend_resource_desc){"latency", "ms"};
    out[1] = (nad_backend_resource_desc){"energy", "uJ"};
    return 2;
}

/* 1 for ops the NPU does for free: activations fused into the layer before,
 * reshapes that only relabel the same bytes. */
static int is_free(const char *op)
{
    static const char *const ops[] = {"Relu",    "LeakyRelu", "Clip",    "Sigmoid",   "HardSigmoid", "HardSwish",
                                      "Tanh",    "Flatten",   "Reshape", "Squeeze",   "Unsqueeze",   "Identity",
                                      "Dropout"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!strcmp(op, ops[i]))
            return 1;
    return 0;
}

/* The roofline cost of one layer: seconds and picojoules added to t and en. */
static void layer_cost(const npu *m, const char *op, double macs, double params, double in_values,
                       double out_values, double *t, double *en)
{
    if (is_free(op))
        return;
    double reads = in_values;
    if (!strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") || !strcmp(op, "Div"))
        reads = 2 * in_values; /* both operands */
    else if (!strcmp(op, "Concat"))
        reads = out_values; /* every input once */
    double bytes = (reads + out_values + params) * m->bytes;
    double compute = macs / (m->peak_gmacs * 1e9), memory = bytes / (m->bw_gbs * 1e9);
    *t += (compute > memory ? compute : memory) + m->overhead_us * 1e-6;
    *en += macs * m->pj_per_mac + bytes * m->pj_per_byte;
}

/* The number of values of a shape printed as "[1,16,28,28]"; -1 if garbled. */
static double shape_values(const char *s)
{
    double n = 1;
    if (*s++ != '[')
        return -1;
    while (*s && *s != ']') {
        char *end;
        long long d = strtoll(s, &end, 10);
        if (end == s || d < 0)
            return -1;
        n *= (double)d;
        s = *end == ',' ? end + 1 : end;
    }
    return *s == ']' ? n : -1;
}

/* network(): the sum of every layer's cost, walking the graph nadapt hands
 * over (BatchNorm folded, shapes at batch 1, so the sum is per image). */
static int npu_network(void *state, const nad_backend_net *net, double *values, double *spread, char *err,
                       size_t err_len)
{
    const npu *m = state;
    double t = 0, en = 0;
    for (int i = 0; i < nad_graph_layer_count(net->graph); i++) {
        nad_layer_info li;
        nad_err e;
        if (nad_graph_layer_info(net->graph, i, &li, &e)) {
            snprintf(err, err_len, "acme-npu: layer %d: %s", i, e.msg);
            return 1;
        }
        double in = shape_values(li.in_shape), out = shape_values(li.out_shape);
        if (in < 0 || out < 0) {
            snprintf(err, err_len, "acme-npu: layer '%s': cannot read shape %s -> %s", li.name, li.in_shape,
                     li.out_shape);
            return 1;
        }
        layer_cost(m, li.op, (double)li.macs, (double)li.params, in, out, &t, &en);
    }
    values[0] = t * 1e3;  /* s -> ms */
    values[1] = en * 1e-6; /* pJ -> uJ */
    spread[0] = spread[1] = 0; /* a model: no measurement noise */
    return 0;
}

/* layer(): one layer from its description, per image like network().  MACs
 * and weights follow nadapt's convention (graph.h): Conv N*M*P*Q*(C/g)*R*S,
 * Gemm/MatMul N*C*M; Conv and Gemm carry a bias. */
static int npu_layer(void *state, const nad_layer_desc *l, double *values, double *spread, char *err,
                     size_t err_len)
{
    if (l->batch < 1 || l->in_c < 1 || l->out_c < 1 || l->groups < 1 || l->in_c % l->groups) {
        snprintf(err, err_len, "acme-npu: layer '%s': bad description (batch %lld, channels %lld -> %lld, groups %lld)",
                 l->name ? l->name : "", (long long)l->batch, (long long)l->in_c, (long long)l->out_c,
                 (long long)l->groups);
        return 1;
    }
    double n = (double)l->batch, in = n * (double)(l->in_c * l->in_h * l->in_w);
    double out = n * (double)(l->out_c * l->out_h * l->out_w), macs = 0, params = 0;
    if (!strcmp(l->op, "Conv")) {
        params = (double)(l->out_c * (l->in_c / l->groups) * l->kernel_h * l->kernel_w);
        macs = out * (double)((l->in_c / l->groups) * l->kernel_h * l->kernel_w);
        params += (double)l->out_c;
    } else if (!strcmp(l->op, "Gemm") || !strcmp(l->op, "MatMul")) {
        params = (double)(l->in_c * l->out_c) + (strcmp(l->op, "Gemm") ? 0 : (double)l->out_c);
        macs = out * (double)l->in_c;
    }
    double t = 0, en = 0;
    layer_cost(state, l->op, macs, params, in, out, &t, &en);
    values[0] = t / n * 1e3;
    values[1] = en / n * 1e-6;
    spread[0] = spread[1] = 0;
    return 0;
}

/* close(): frees what open() made. */
static void npu_close(void *state)
{
    free(state);
}

static const nad_backend_ops npu_ops = {
    .abi_version = NAD_BACKEND_ABI_VERSION,
    .struct_size = sizeof(nad_backend_ops),
    .name = "acme-npu",
    .flags = 0, /* a model: no file needed, not a timing */
    .open = npu_open,
    .resources = npu_resources,
    .layer = npu_layer,
    .network = npu_network,
    .close = npu_close,
};

/* The entry point nadapt looks up (NAD_BACKEND_PLUGIN_SYMBOL). */
const nad_backend_ops *nad_backend_plugin(void)
{
    return &npu_ops;
}
