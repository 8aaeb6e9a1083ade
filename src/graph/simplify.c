/*
 * nad_graph_simplify: the passes nad_graph_load_onnx runs between reading an
 * ONNX file and using the graph.
 *
 *   1. constant folding and absorbing auxiliary inputs (fold.c);
 *   2. removing Dropout (inference) and Identity by rewiring their consumers;
 *   3. (fold_bn) folding BatchNormalization into the Conv or Gemm right before
 *      it;
 *   4. compaction and shape inference at batch 1.
 *
 * Weight blobs may be shared with copies of the graph: every change to weight
 * data goes through nad_tensor_make_writable() or a fresh blob.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "graph/passes.h"

/* How many node inputs and graph outputs refer to tensor t. */
static int use_count(const nad_graph *g, int t)
{
    int c = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            c += g->nodes[i].in[k] == t;
    for (int i = 0; i < g->n_outputs; i++)
        c += g->outputs[i] == t;
    return c;
}

/* True when tensor t is listed as a graph output. */
static int is_graph_output(const nad_graph *g, int t)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == t)
            return 1;
    return 0;
}

/* True when tensor t is listed as a graph input. */
static int is_graph_input(const nad_graph *g, int t)
{
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] == t)
            return 1;
    return 0;
}

/* Replaces every node-input use of tensor from with tensor to. */
static void replace_uses(nad_graph *g, int from, int to)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] == from)
                g->nodes[i].in[k] = to;
}

/*
 * Removes each Dropout / Identity node y = f(x): consumers of y read x.  When
 * y is a graph output, x takes over y's name (names swapped) and becomes the
 * graph output, so the model's interface keeps its names; that needs x to be
 * an activation that is neither a graph input nor already an output — else the
 * node stays (the engine runs it as a copy).  A Dropout whose mask is used
 * stays too.  Removed nodes lose their outputs; compaction drops them.
 */
static void remove_passthrough(nad_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        nad_node *n = &g->nodes[i];
        if ((n->op != NAD_OP_DROPOUT && n->op != NAD_OP_IDENTITY) || n->out[0] < 0 || n->n_in < 1 || n->in[0] < 0)
            continue;
        if (n->n_out > 1 && n->out[1] >= 0 && use_count(g, n->out[1]) > 0)
            continue;
        int x = n->in[0], y = n->out[0];
        if (is_graph_output(g, y)) {
            nad_tensor *tx = &g->tensors[x], *ty = &g->tensors[y];
            if (tx->kind != NAD_TK_ACT || is_graph_input(g, x) || is_graph_output(g, x))
                continue;
            char *name = tx->name;
            tx->name = ty->name;
            ty->name = name;
            for (int k = 0; k < g->n_outputs; k++)
                if (g->outputs[k] == y)
                    g->outputs[k] = x;
        }
        replace_uses(g, y, x);
        for (int k = 0; k < n->n_out; k++)
            n->out[k] = -1;
    }
}

/* A name not used by any tensor: base, or base_2, base_3 ... (caller frees). */
static char *unique_name(const nad_graph *g, const char *base)
{
    size_t len = strlen(base) + 24;
    char *s = malloc(len);
    if (!s)
        return NULL;
    snprintf(s, len, "%s", base);
    for (int k = 2; nad_graph_find_tensor(g, s) >= 0; k++)
        snprintf(s, len, "%s_%d", base, k);
    return s;
}

/* Adds a float WEIGHT tensor [c] named after base and returns its index via
 * *out (its blob zero-filled). */
static nad_status add_bias(nad_graph *g, const char *base, int64_t c, int *out, nad_err *e)
{
    char *name = unique_name(g, base);
    if (!name)
        return nad_errf(e, NAD_ENOMEM, "out of memory adding bias '%s'", base);
    int t = nad_graph_add_tensor(g, name, NAD_DT_FLOAT, NAD_TK_WEIGHT, 1, &c);
    free(name);
    if (t < 0)
        return nad_errf(e, NAD_ENOMEM, "out of memory adding bias '%s'", base);
    *out = t;
    return nad_tensor_alloc(&g->tensors[t], e);
}

/* Sets input k of node ni to tensor t, growing the input list when needed. */
static nad_status set_input(nad_graph *g, int ni, int k, int t, nad_err *e)
{
    nad_node *n = &g->nodes[ni];
    if (k >= n->n_in) {
        int *in = realloc(n->in, (size_t)(k + 1) * sizeof(int));
        if (!in)
            return nad_errf(e, NAD_ENOMEM, "out of memory rewiring node '%s'", n->name);
        for (int j = n->n_in; j <= k; j++)
            in[j] = -1;
        n->in = in;
        n->n_in = k + 1;
    }
    n->in[k] = t;
    return NAD_OK;
}

/* True when tensor t holds float data of c elements used only once. */
static int private_float_param(const nad_graph *g, int t, int64_t c)
{
    const nad_tensor *p = &g->tensors[t];
    return nad_tensor_has_value(p) && p->dtype == NAD_DT_FLOAT && nad_tensor_numel(p) == c && use_count(g, t) == 1;
}

/*
 * Folds BN node bi into the Conv/Gemm node pi that produces its input:
 *     s = gamma / sqrt(var + eps)                (per output channel)
 *     W' = W * s,   b' = (b - mean) * s + beta   (Ioffe & Szegedy 2015, eq. in
 *                                                 Alg. 2, inference form)
 * For Gemm (Y = alpha*A*B + beta*C) the columns of B scale by s and the new C
 * is s*(beta*C - mean) + bn_beta with Gemm beta = 1.  Returns NAD_OK without
 * change (*done = 0) when the pattern does not apply: parameters not
 * constant, W or the bias shared by another node, a Gemm C that is not a
 * per-column vector.
 */
static nad_status fold_bn_into(nad_graph *g, int pi, int bi, int *done, nad_err *e)
{
    nad_status rc = NAD_OK;
    double *s = NULL;
    nad_node *p = &g->nodes[pi], *bn = &g->nodes[bi];
    int is_conv = p->op == NAD_OP_CONV, w = p->in[1], bias = nad_node_has_input(p, 2) ? p->in[2] : -1;
    const nad_tensor *x = &g->tensors[bn->in[0]];
    *done = 0;
    int64_t c = x->dims[1];
    if (!private_float_param(g, w, nad_tensor_numel(&g->tensors[w])))
        return NAD_OK;
    for (int k = 1; k < 5; k++)
        if (!nad_tensor_has_value(&g->tensors[bn->in[k]]) || g->tensors[bn->in[k]].dtype != NAD_DT_FLOAT)
            return NAD_OK;
    if (bias >= 0) {
        const nad_tensor *b = &g->tensors[bias];
        int per_col = is_conv || b->ndim == 1 || (b->ndim == 2 && b->dims[0] == 1);
        if (!per_col || !private_float_param(g, bias, c))
            return NAD_OK;
    }
    s = malloc((size_t)c * sizeof *s);
    if (!s)
        return nad_errf(e, NAD_ENOMEM, "out of memory folding '%s' into '%s'", bn->name, p->name);
    const float *gamma = nad_tensor_f32(&g->tensors[bn->in[1]]), *beta = nad_tensor_f32(&g->tensors[bn->in[2]]);
    const float *mean = nad_tensor_f32(&g->tensors[bn->in[3]]), *var = nad_tensor_f32(&g->tensors[bn->in[4]]);
    for (int64_t i = 0; i < c; i++)
        s[i] = gamma[i] / sqrt((double)var[i] + bn->attr.bn.epsilon);

    /* Scale the weight (per output channel = per Gemm column). */
    nad_tensor *wt = &g->tensors[w];
    if ((rc = nad_tensor_make_writable(wt, e)))
        goto out;
    float *wd = nad_tensor_f32(wt);
    int64_t wn = nad_tensor_numel(wt);
    if (is_conv) {
        int64_t per = wn / c;
        for (int64_t i = 0; i < wn; i++)
            wd[i] = (float)(wd[i] * s[i / per]);
    } else if (p->attr.gemm.trans_b) { /* B [N, K] */
        int64_t k = wt->dims[1];
        for (int64_t i = 0; i < wn; i++)
            wd[i] = (float)(wd[i] * s[i / k]);
    } else { /* B [K, N] */
        for (int64_t i = 0; i < wn; i++)
            wd[i] = (float)(wd[i] * s[i % c]);
    }

    /* The bias: scale the existing one or create it. */
    double bscale = is_conv ? 1.0 : p->attr.gemm.beta;
    if (bias < 0) {
        char base[300];
        snprintf(base, sizeof base, "%s.bias", p->name);
        if ((rc = add_bias(g, base, c, &bias, e)) || (rc = set_input(g, pi, 2, bias, e)))
            goto out;
        p = &g->nodes[pi];
        bn = &g->nodes[bi];
        bscale = 1.0;
    } else if ((rc = nad_tensor_make_writable(&g->tensors[bias], e))) {
        goto out;
    }
    float *bd = nad_tensor_f32(&g->tensors[bias]);
    beta = nad_tensor_f32(&g->tensors[bn->in[2]]);
    mean = nad_tensor_f32(&g->tensors[bn->in[3]]);
    for (int64_t i = 0; i < c; i++)
        bd[i] = (float)((bscale * bd[i] - mean[i]) * s[i] + beta[i]);
    if (!is_conv)
        p->attr.gemm.beta = 1.0f;

    /* The producer now writes the BN's output; the BN node is dropped. */
    p->out[0] = bn->out[0];
    for (int k = 0; k < bn->n_out; k++)
        bn->out[k] = -1;
    nad_graph_relink(g);
    *done = 1;
out:
    free(s);
    return rc;
}

/*
 * Folds every BatchNormalization whose input comes straight from a Conv or a
 * Gemm used by nothing else (with inference-only outputs).  BNs that do not
 * fit stay and are executed by the engine.
 */
static nad_status fold_batchnorms(nad_graph *g, nad_err *e)
{
    for (int i = 0; i < g->n_nodes; i++) {
        nad_node *bn = &g->nodes[i];
        if (bn->op != NAD_OP_BATCHNORM || bn->out[0] < 0 || bn->n_in < 5)
            continue;
        int extra_used = 0;
        for (int k = 1; k < bn->n_out; k++)
            extra_used |= bn->out[k] >= 0 && use_count(g, bn->out[k]) > 0;
        int x = bn->in[0];
        int pi = g->tensors[x].producer;
        if (extra_used || pi < 0 || use_count(g, x) != 1 || g->tensors[x].ndim < 2)
            continue;
        nad_node *p = &g->nodes[pi];
        if (p->op != NAD_OP_CONV && !(p->op == NAD_OP_GEMM && g->tensors[x].ndim == 2))
            continue;
        if (p->out[0] != x || p->n_in < 2 || p->in[1] < 0)
            continue;
        int done;
        nad_status rc = fold_bn_into(g, pi, i, &done, e);
        if (rc)
            return rc;
    }
    return NAD_OK;
}

/* nad_graph_simplify: see nadapt/graph.h. */
nad_status nad_graph_simplify(nad_graph *g, int fold_bn, nad_err *e)
{
    nad_status rc;
    if (!g)
        return nad_errf(e, NAD_EINVAL, "nad_graph_simplify: no graph");
    if ((rc = nad_graph_fold_constants(g, e)))
        return rc;
    remove_passthrough(g);
    if ((rc = nad_graph_compact(g, e)))
        return rc;
    if (fold_bn && (rc = fold_batchnorms(g, e)))
        return rc;
    if ((rc = nad_graph_compact(g, e)))
        return rc;
    return nad_graph_infer_shapes(g, 1, e);
}
