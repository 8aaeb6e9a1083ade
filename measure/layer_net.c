/*
 * nadapt — the layers of a lookup table: which nodes of a network are
 * measured as one entry ("units"), their keys, and the standalone one-layer
 * network each grid point is measured as.
 *
 * What a unit is.  The sum of the units' costs must be the network's cost up
 * to a constant, so a unit is what the engine runs as one step: a node of the
 * BatchNorm-folded graph together with the Relu/Clip/LeakyRelu that
 * src/engine/plan.c (try_fuse) fuses into it — a Conv, Gemm, BatchNorm,
 * Add/Sub/Mul/Div whose output is read only by that activation and is not a
 * graph output.  Timing a Conv alone and a Relu alone would count the Relu's
 * full pass over memory that the fused kernel never makes; the analytic model
 * gives activations no cost, so it is indifferent.  Ops the engine runs as
 * aliases of their input (Flatten, Reshape, Squeeze, Unsqueeze, Identity,
 * Dropout) cost nothing and are no unit; whatever constant they cost is in the
 * network's measured overhead.
 *
 * The one-layer network.  Its one graph input stands for the unit's first
 * activation operand; a second activation operand (a residual Add's, a
 * squeeze-excite gate) becomes a constant of the same shape, so every
 * back-end sees a one-input network whose input it fills.  Weights whose
 * shape changes with the channel counts are pseudo-random (fixed seed);
 * everything else (Clip bounds, weights at full width) is the model's own.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lut_internal.h"

/* Ops the engine runs as an alias of their input (plan.c): no unit. */
static int is_free_op(nad_op op)
{
    return op == NAD_OP_FLATTEN || op == NAD_OP_RESHAPE || op == NAD_OP_SQUEEZE || op == NAD_OP_UNSQUEEZE ||
           op == NAD_OP_IDENTITY || op == NAD_OP_DROPOUT;
}

/* Weightless ops a table measures along the diagonal in_c == out_c. */
static int is_diag_op(nad_op op)
{
    switch (op) {
    case NAD_OP_ADD: case NAD_OP_SUB: case NAD_OP_MUL: case NAD_OP_DIV: case NAD_OP_RELU:
    case NAD_OP_LEAKY_RELU: case NAD_OP_CLIP: case NAD_OP_SIGMOID: case NAD_OP_HARD_SIGMOID:
    case NAD_OP_HARD_SWISH: case NAD_OP_TANH: case NAD_OP_SOFTMAX: case NAD_OP_MAXPOOL: case NAD_OP_AVGPOOL:
    case NAD_OP_GLOBAL_AVGPOOL: case NAD_OP_GLOBAL_MAXPOOL: case NAD_OP_BATCHNORM: case NAD_OP_PAD:
        return 1;
    default:
        return 0;
    }
}

/* The activation node fused into node i (as plan.c's try_fuse decides), or -1. */
static int fused_act(const nad_graph *g, int i, const int *uses, const int *consumer)
{
    const nad_node *n = &g->nodes[i];
    nad_op op = n->op;
    if (op != NAD_OP_CONV && op != NAD_OP_GEMM && op != NAD_OP_BATCHNORM && op != NAD_OP_ADD && op != NAD_OP_SUB &&
        op != NAD_OP_MUL && op != NAD_OP_DIV)
        return -1;
    int t = n->out[0];
    if (t < 0 || uses[t] != 1)
        return -1;
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == t)
            return -1;
    int c = consumer[t];
    const nad_node *cn = &g->nodes[c];
    if ((cn->op != NAD_OP_RELU && cn->op != NAD_OP_CLIP && cn->op != NAD_OP_LEAKY_RELU) || cn->in[0] != t ||
        cn->n_out < 1 || cn->out[0] < 0)
        return -1;
    for (int k = 1; k < cn->n_in; k++) /* Clip bounds must be constants to fuse */
        if (cn->in[k] >= 0 && !g->tensors[cn->in[k]].blob)
            return -1;
    return c;
}

/* Channel axis (dims[1]) of a tensor, 1 when it has none. */
static int64_t chan(const nad_tensor *t)
{
    return t->ndim >= 2 ? t->dims[1] : 1;
}

/* Input features of a Gemm/MatMul per channel of the conv map flattened
 * into it (H*W when a Flatten/Reshape of [N,C,H,W] feeds it), else 1. */
static int64_t in_unit_of(const nad_graph *g, int t, int64_t in_c)
{
    for (int hops = 0; hops < 8 && t >= 0; hops++) {
        const nad_tensor *x = &g->tensors[t];
        if (x->ndim == 4)
            return x->dims[1] > 0 && in_c % x->dims[1] == 0 ? in_c / x->dims[1] : 1;
        if (x->producer < 0 || !is_free_op(g->nodes[x->producer].op))
            return 1;
        t = g->nodes[x->producer].in[0];
    }
    return 1;
}

/* Kind and full-width channel counts of node i; NAD_EUNSUPPORTED names it. */
static nad_status unit_shape(const nad_graph *g, int i, lut_unit *u, nad_err *e)
{
    const nad_node *n = &g->nodes[i];
    const nad_tensor *x = &g->tensors[n->in[0]], *y = &g->tensors[n->out[0]];
    u->in_unit = 1;
    if (n->op == NAD_OP_CONV) {
        u->in_c = chan(x);
        u->out_c = chan(y);
        int grp = n->attr.conv.group;
        u->kind = grp == 1 ? LUT_GRID : grp == u->in_c && u->out_c == u->in_c ? LUT_DIAG : LUT_FIXED;
        return NAD_OK;
    }
    if (n->op == NAD_OP_GEMM || n->op == NAD_OP_MATMUL) {
        const nad_tensor *w = n->n_in > 1 && n->in[1] >= 0 ? &g->tensors[n->in[1]] : NULL;
        if (x->ndim != 2 || y->ndim != 2 || !w || !w->blob || (n->op == NAD_OP_GEMM && n->attr.gemm.trans_a))
            return nad_errf(e, NAD_EUNSUPPORTED, "layer %s (%s): lookup tables take 2-D products with a weight "
                            "operand only", n->name, nad_op_name(n->op));
        u->in_c = x->dims[1];
        u->out_c = y->dims[1];
        u->kind = LUT_GRID;
        u->in_unit = in_unit_of(g, n->in[0], u->in_c);
        return NAD_OK;
    }
    if (!is_diag_op(n->op) || !(x->kind == NAD_TK_ACT || x->kind == NAD_TK_INPUT) || chan(x) != chan(y))
        return nad_errf(e, NAD_EUNSUPPORTED, "layer %s (%s): lookup tables cannot describe this op's channels",
                        n->name, nad_op_name(n->op));
    if (n->op == NAD_OP_PAD && (n->attr.pad.n < 4 || n->attr.pad.pads[1] || n->attr.pad.pads[n->attr.pad.n / 2 + 1]))
        return nad_errf(e, NAD_EUNSUPPORTED, "layer %s (Pad): pads the channel axis", n->name);
    u->in_c = u->out_c = chan(y);
    u->kind = LUT_DIAG;
    return NAD_OK;
}

/* Appends printf output to buf (never overflows; truncation is caught by
 * the caller checking the length against the maximum). */
static void cat(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cat(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

/* "[1,c,28,28]": t's dims with the channel entry (axis ax) written as c. */
static void cat_dims(char *buf, size_t len, const nad_tensor *t, int ax)
{
    cat(buf, len, "[");
    for (int d = 0; d < t->ndim; d++) {
        if (d == ax)
            cat(buf, len, "%sc", d ? "," : "");
        else
            cat(buf, len, "%s%lld", d ? "," : "", (long long)t->dims[d]);
    }
    cat(buf, len, "]");
}

/* The axis of operand t that carries the channels of an output of rank r
 * (right-aligned broadcasting), or -1. */
static int chan_axis(const nad_tensor *t, int r, int64_t c)
{
    int ax = t->kind == NAD_TK_ACT || t->kind == NAD_TK_INPUT ? 1 : t->ndim - (r - 1);
    return ax >= 0 && ax < t->ndim && t->dims[ax] == c ? ax : -1;
}

/* The op's attributes that shape its cost, appended to a key. */
static void cat_attrs(char *k, size_t len, const nad_graph *g, const nad_node *n)
{
    switch (n->op) {
    case NAD_OP_CONV: {
        const nad_conv_attr *a = &n->attr.conv;
        cat(k, len, " k=%dx%d s=%dx%d d=%dx%d p=%d,%d,%d,%d g=%s", a->kh, a->kw, a->sh, a->sw, a->dh, a->dw,
            a->pads[0], a->pads[1], a->pads[2], a->pads[3], a->group == 1 ? "dense" : "grouped");
        if (a->group != 1)
            cat(k, len, "%d", a->group == chan(&g->tensors[n->in[0]]) ? 0 : a->group);
        cat(k, len, " bias=%d", n->n_in > 2 && n->in[2] >= 0);
        break;
    }
    case NAD_OP_MAXPOOL: case NAD_OP_AVGPOOL: {
        const nad_pool_attr *a = &n->attr.pool;
        cat(k, len, " k=%dx%d s=%dx%d d=%dx%d p=%d,%d,%d,%d ceil=%d cip=%d", a->kh, a->kw, a->sh, a->sw, a->dh,
            a->dw, a->pads[0], a->pads[1], a->pads[2], a->pads[3], a->ceil_mode, a->count_include_pad);
        break;
    }
    case NAD_OP_GEMM:
        cat(k, len, " tb=%d alpha=%.9g beta=%.9g bias=%d", n->attr.gemm.trans_b, n->attr.gemm.alpha,
            n->attr.gemm.beta, n->n_in > 2 && n->in[2] >= 0);
        break;
    case NAD_OP_LEAKY_RELU: case NAD_OP_CLIP: case NAD_OP_HARD_SIGMOID:
        cat(k, len, "(%.9g,%.9g)", n->attr.scalar.a, n->attr.scalar.b);
        break;
    case NAD_OP_SOFTMAX:
        cat(k, len, " axis=%d", n->attr.axis.axis);
        break;
    case NAD_OP_PAD:
        cat(k, len, " mode=%d", n->attr.pad.mode);
        for (int d = 0; d < n->attr.pad.n; d++)
            cat(k, len, "%c%lld", d ? ',' : '=', (long long)n->attr.pad.pads[d]);
        break;
    default:
        break;
    }
}

/* The key of unit u: ops, operand and output dims with the channel entry
 * as 'c', attributes, fused activation, input granularity. */
static nad_status unit_key(const nad_graph *g, lut_unit *u, nad_err *e)
{
    const nad_node *n = &g->nodes[u->node];
    char *k = u->key;
    size_t len = sizeof u->key;
    int r = g->tensors[n->out[0]].ndim;
    k[0] = 0;
    cat(k, len, "%s", nad_op_name(n->op));
    for (int i = 0; i < n->n_in; i++) {
        if (n->in[i] < 0 || (i > 0 && (n->op == NAD_OP_CONV || n->op == NAD_OP_GEMM || n->op == NAD_OP_MATMUL)))
            continue;
        const nad_tensor *t = &g->tensors[n->in[i]];
        if (t->dtype != NAD_DT_FLOAT)
            continue;
        int ax = i == 0 ? (t->ndim >= 2 ? 1 : -1) : chan_axis(t, r, u->out_c);
        cat(k, len, " %s%d=", t->kind == NAD_TK_ACT || t->kind == NAD_TK_INPUT ? "x" : "w", i);
        cat_dims(k, len, t, ax);
    }
    cat(k, len, " y=");
    cat_dims(k, len, &g->tensors[n->out[0]], r >= 2 ? 1 : -1);
    cat_attrs(k, len, g, n);
    if (u->act >= 0) {
        cat(k, len, " act=%s", nad_op_name(g->nodes[u->act].op));
        cat_attrs(k, len, g, &g->nodes[u->act]);
    }
    if (u->in_unit > 1)
        cat(k, len, " iu=%lld", (long long)u->in_unit);
    if (strlen(k) + 2 >= len || strchr(k, '\n'))
        return nad_errf(e, NAD_EUNSUPPORTED, "layer %s: its key is longer than %d bytes", n->name, LUT_KEY_MAX - 2);
    return NAD_OK;
}

/* "NAME (Conv k3x3 s1x1 14x14)": how messages name a unit. */
static void unit_label(const nad_graph *g, lut_unit *u)
{
    const nad_node *n = &g->nodes[u->node];
    const nad_tensor *x = &g->tensors[n->in[0]];
    char sp[48] = "";
    if (x->ndim == 4)
        snprintf(sp, sizeof sp, " %lldx%lld", (long long)x->dims[2], (long long)x->dims[3]);
    char attrs[64] = "";
    if (n->op == NAD_OP_CONV)
        snprintf(attrs, sizeof attrs, " k%dx%d s%dx%d", n->attr.conv.kh, n->attr.conv.kw, n->attr.conv.sh,
                 n->attr.conv.sw);
    else if (n->op == NAD_OP_MAXPOOL || n->op == NAD_OP_AVGPOOL)
        snprintf(attrs, sizeof attrs, " k%dx%d s%dx%d", n->attr.pool.kh, n->attr.pool.kw, n->attr.pool.sh,
                 n->attr.pool.sw);
    snprintf(u->label, sizeof u->label, "%.100s (%.20s%s%.20s%.63s%.47s)", n->name && n->name[0] ? n->name : "?",
             nad_op_name(n->op), u->act >= 0 ? "+" : "", u->act >= 0 ? nad_op_name(g->nodes[u->act].op) : "",
             attrs, sp);
}

/* Counts the activation readers of every tensor, as plan.c does. */
static nad_status count_uses(const nad_graph *g, int **uses, int **consumer, nad_err *e)
{
    *uses = calloc((size_t)g->n_tensors + 1, sizeof **uses);
    *consumer = malloc(((size_t)g->n_tensors + 1) * sizeof **consumer);
    if (!*uses || !*consumer)
        return nad_errf(e, NAD_ENOMEM, "lookup table: out of memory");
    for (int t = 0; t < g->n_tensors; t++)
        (*consumer)[t] = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int t = g->nodes[i].in[k];
            nad_tensor_kind kd = t >= 0 ? g->tensors[t].kind : NAD_TK_CONST;
            if (kd == NAD_TK_ACT || kd == NAD_TK_INPUT) {
                (*uses)[t]++;
                (*consumer)[t] = i;
            }
        }
    return NAD_OK;
}

/* See lut_internal.h. */
nad_status lut_units(const nad_graph *g, lut_unit **out, int *n_out, nad_err *e)
{
    int *uses = NULL, *consumer = NULL, n = 0;
    *out = NULL;
    *n_out = 0;
    if (g->batch < 1)
        return nad_errf(e, NAD_ESTATE, "lookup table: the graph's shapes are not inferred");
    lut_unit *u = calloc((size_t)g->n_nodes + 1, sizeof *u);
    char *absorbed = calloc((size_t)g->n_nodes + 1, 1);
    nad_status rc = u && absorbed ? count_uses(g, &uses, &consumer, e)
                                  : nad_errf(e, NAD_ENOMEM, "lookup table: out of memory");
    for (int i = 0; i < g->n_nodes && !rc; i++) {
        const nad_node *nd = &g->nodes[i];
        if (absorbed[i] || is_free_op(nd->op))
            continue;
        if (nd->n_in < 1 || nd->in[0] < 0 || nd->n_out < 1 || nd->out[0] < 0) {
            rc = nad_errf(e, NAD_EUNSUPPORTED, "layer %s (%s): no input or output", nd->name, nad_op_name(nd->op));
            break;
        }
        lut_unit *v = &u[n];
        v->node = i;
        v->act = fused_act(g, i, uses, consumer);
        if (v->act >= 0)
            absorbed[v->act] = 1;
        if (!(rc = unit_shape(g, i, v, e)) && !(rc = unit_key(g, v, e))) {
            unit_label(g, v);
            n++;
        }
    }
    free(uses);
    free(consumer);
    free(absorbed);
    if (rc) {
        free(u);
        return rc;
    }
    *out = u;
    *n_out = n;
    return NAD_OK;
}

/* See lut_internal.h. */
uint64_t lut_structure_hash(const lut_unit *u, int n)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++)
        for (const char *s = u[i].key;; s++) {
            h = (h ^ (unsigned char)*s) * 1099511628211ull;
            if (!*s)
                break;
        }
    return h;
}

/* The dims operand k of unit u's main node n takes at (ic, oc) channels. */
static void operand_dims(const nad_graph *g, const lut_unit *u, const nad_node *n, int k, int64_t ic, int64_t oc,
                         int64_t *d)
{
    const nad_tensor *t = &g->tensors[n->in[k]];
    int is_act = t->kind == NAD_TK_ACT || t->kind == NAD_TK_INPUT;
    int dense = n->op == NAD_OP_CONV || n->op == NAD_OP_GEMM || n->op == NAD_OP_MATMUL;
    memcpy(d, t->dims, sizeof t->dims);
    if (k == 0 && is_act) {
        if (t->ndim >= 2)
            d[1] = dense ? ic : oc;
    } else if (n->op == NAD_OP_CONV) {
        int64_t grp = u->kind == LUT_DIAG ? oc : u->kind == LUT_FIXED ? n->attr.conv.group : 1;
        d[0] = oc;
        if (k == 1)
            d[1] = ic / grp;
    } else if (n->op == NAD_OP_GEMM && k == 1) {
        d[n->attr.gemm.trans_b ? 0 : 1] = oc;
        d[n->attr.gemm.trans_b ? 1 : 0] = ic;
    } else if (n->op == NAD_OP_MATMUL && k == 1) {
        d[0] = ic;
        d[1] = oc;
    } else if (n->op == NAD_OP_GEMM) {
        for (int j = 0; j < t->ndim; j++)
            if (t->dims[j] == u->out_c)
                d[j] = oc;
    } else {
        int ax = chan_axis(t, g->tensors[n->out[0]].ndim, u->out_c);
        if (ax >= 0)
            d[ax] = oc;
    }
}

/* Pseudo-random floats in [lo, hi) (an LCG: every build sees the same). */
static void fill_random(float *x, int64_t n, uint32_t *s, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++) {
        *s = *s * 1664525u + 1013904223u;
        x[i] = lo + (hi - lo) * (float)(*s >> 8) * (1.0f / 16777216.0f);
    }
}

/* Adds to net the operand src (of g) with dims d: a graph input, or a
 * constant sharing src's data when its shape is unchanged, else random
 * (lo..hi).  Returns the new tensor's index through *idx. */
static nad_status add_operand(nad_graph *net, const nad_graph *g, int src, const int64_t *d, int as_input,
                              float lo, float hi, uint32_t *seed, int *idx, nad_err *e)
{
    const nad_tensor *s = &g->tensors[src];
    int is_act = s->kind == NAD_TK_ACT || s->kind == NAD_TK_INPUT;
    nad_tensor_kind kind = as_input ? NAD_TK_INPUT : is_act ? NAD_TK_CONST : s->kind;
    int t = nad_graph_add_tensor(net, s->name, s->dtype, kind, s->ndim, d);
    int *in = as_input ? realloc(net->inputs, (size_t)(net->n_inputs + 1) * sizeof *in) : NULL;
    if (t < 0 || (as_input && !in))
        return nad_errf(e, NAD_ENOMEM, "lookup table: out of memory");
    *idx = t;
    if (as_input) {
        net->inputs = in;
        net->inputs[net->n_inputs++] = t;
        return NAD_OK;
    }
    nad_tensor *x = &net->tensors[t];
    x->batch_axis = -1;
    if (s->blob && !memcmp(s->dims, d, sizeof s->dims)) {
        x->blob = nad_blob_ref(s->blob);
        return NAD_OK;
    }
    if (s->dtype != NAD_DT_FLOAT)
        return nad_errf(e, NAD_EUNSUPPORTED, "lookup table: integer constant '%s' changes with the channels",
                        s->name);
    nad_status rc = nad_tensor_alloc(x, e);
    if (!rc)
        fill_random(nad_tensor_f32(x), nad_tensor_numel(x), seed, lo, hi);
    return rc;
}

/* Copies node n of g into net with its operands mapped; *y gets the output. */
static nad_status copy_node(nad_graph *net, const nad_graph *g, const lut_unit *u, const nad_node *n, int x_in,
                            int64_t ic, int64_t oc, uint32_t *seed, int *y, nad_err *e)
{
    int in[8];
    nad_status rc = NAD_OK;
    if (n->n_in > 8)
        return nad_errf(e, NAD_EUNSUPPORTED, "layer %s: more than 8 inputs", n->name);
    int dense = n->op == NAD_OP_CONV || n->op == NAD_OP_GEMM || n->op == NAD_OP_MATMUL;
    for (int k = 0; k < n->n_in && !rc; k++) {
        int64_t d[NAD_MAX_DIMS];
        if (n->in[k] < 0)
            in[k] = -1;
        else if (k == 0 && x_in >= 0)
            in[k] = x_in;
        else if (k > 0 && n->in[k] == n->in[0])
            in[k] = in[0];
        else {
            operand_dims(g, u, n, k, ic, oc, d);
            int as_input = k == 0 && (g->tensors[n->in[0]].kind == NAD_TK_ACT ||
                                      g->tensors[n->in[0]].kind == NAD_TK_INPUT);
            float lo = dense ? -0.1f : 0.5f, hi = dense ? 0.1f : 1.5f;
            rc = add_operand(net, g, n->in[k], d, as_input, lo, hi, seed, &in[k], e);
        }
    }
    int out = rc ? -1 : nad_graph_add_tensor(net, g->tensors[n->out[0]].name, NAD_DT_FLOAT, NAD_TK_ACT, 0, NULL);
    if (rc)
        return rc;
    nad_attr attr = n->attr;
    if (n->op == NAD_OP_CONV && u->kind == LUT_DIAG)
        attr.conv.group = (int)oc;
    if (out < 0 || nad_graph_add_node(net, n->name, n->op, n->n_in, in, 1, &out, &attr) < 0)
        return nad_errf(e, NAD_ENOMEM, "lookup table: out of memory");
    *y = out;
    return NAD_OK;
}

/* Checks (ic, oc) against u's kind and full width. */
static nad_status check_channels(const nad_graph *g, const lut_unit *u, int64_t ic, int64_t oc, nad_err *e)
{
    int ok = ic >= 1 && oc >= 1 && ic <= LUT_MAX_CH * (u->in_unit > 0 ? u->in_unit : 1) && oc <= LUT_MAX_CH;
    if (u->kind == LUT_DIAG)
        ok &= ic == oc;
    if (u->kind == LUT_FIXED)
        ok &= ic == u->in_c && oc == u->out_c;
    if (!ok)
        return nad_errf(e, NAD_EINVAL, "layer %s: cannot be measured at %lld -> %lld channels", u->label,
                        (long long)ic, (long long)oc);
    return NAD_OK;
}

/* See lut_internal.h. */
nad_status lut_layer_net(const nad_graph *g, const lut_unit *u, int64_t ic, int64_t oc, nad_graph **out,
                         nad_err *e)
{
    *out = NULL;
    nad_status rc = check_channels(g, u, ic, oc, e);
    if (rc)
        return rc;
    nad_graph *net = nad_graph_new();
    if (!net)
        return nad_errf(e, NAD_ENOMEM, "lookup table: out of memory");
    net->opset = g->opset;
    net->ir_version = g->ir_version;
    uint32_t seed = 0x9e3779b9u;
    int y = -1;
    rc = copy_node(net, g, u, &g->nodes[u->node], -1, ic, oc, &seed, &y, e);
    if (!rc && u->act >= 0)
        rc = copy_node(net, g, u, &g->nodes[u->act], y, oc, oc, &seed, &y, e);
    int *o = rc ? NULL : malloc(sizeof *o);
    if (!rc && !o)
        rc = nad_errf(e, NAD_ENOMEM, "lookup table: out of memory");
    if (!rc) {
        net->outputs = o;
        net->outputs[net->n_outputs++] = y;
        rc = nad_graph_infer_shapes(net, 1, e);
    }
    if (!rc && (net->n_inputs != 1 || chan(&net->tensors[y]) != oc))
        rc = nad_errf(e, NAD_ESTATE, "layer %s: its one-layer network has %d inputs and %lld output channels",
                      u->label, net->n_inputs, (long long)chan(&net->tensors[y]));
    if (rc) {
        nad_graph_free(net);
        return nad_err_prefix(e, rc, "lookup table: ");
    }
    *out = net;
    return NAD_OK;
}

/* See lut_internal.h. */
void lut_layer_desc(const nad_graph *net, int i, nad_layer_desc *d)
{
    const nad_node *n = &net->nodes[i];
    const nad_tensor *x = &net->tensors[n->in[0]], *y = &net->tensors[n->out[0]];
    memset(d, 0, sizeof *d);
    d->op = nad_op_name(n->op);
    d->name = n->name ? n->name : "";
    d->batch = x->ndim ? x->dims[0] : 1;
    d->in_c = chan(x);
    d->out_c = chan(y);
    d->groups = n->op == NAD_OP_CONV ? n->attr.conv.group : 1;
    d->in_h = x->ndim == 4 ? x->dims[2] : 1;
    d->in_w = x->ndim == 4 ? x->dims[3] : 1;
    d->out_h = y->ndim == 4 ? y->dims[2] : 1;
    d->out_w = y->ndim == 4 ? y->dims[3] : 1;
    d->kernel_h = d->kernel_w = d->stride_h = d->stride_w = d->dil_h = d->dil_w = 1;
    const int *pads = NULL;
    if (n->op == NAD_OP_CONV) {
        const nad_conv_attr *a = &n->attr.conv;
        d->kernel_h = a->kh, d->kernel_w = a->kw, d->stride_h = a->sh, d->stride_w = a->sw;
        d->dil_h = a->dh, d->dil_w = a->dw, pads = a->pads;
    } else if (n->op == NAD_OP_MAXPOOL || n->op == NAD_OP_AVGPOOL) {
        const nad_pool_attr *a = &n->attr.pool;
        d->kernel_h = a->kh, d->kernel_w = a->kw, d->stride_h = a->sh, d->stride_w = a->sw;
        d->dil_h = a->dh, d->dil_w = a->dw, pads = a->pads;
    } else if (n->op == NAD_OP_GLOBAL_AVGPOOL || n->op == NAD_OP_GLOBAL_MAXPOOL) {
        d->kernel_h = d->in_h, d->kernel_w = d->in_w;
    }
    if (pads) {
        d->pad_top = pads[0], d->pad_left = pads[1], d->pad_bottom = pads[2], d->pad_right = pads[3];
    }
}
