/*
 * nad_graph → ONNX ModelProto bytes, and saving them atomically.
 *
 * The model keeps its opset and initializer names; attributes are written in
 * the form that opset defines: before opset 11 Clip min/max and Pad pads are
 * attributes, from 11 they are inputs; Squeeze/Unsqueeze axes become inputs
 * at 13; Slice bounds at 10.  A node in canonical form (graph.h: only its data
 * inputs, values absorbed into the attribute) gets fresh initializers
 * "<node>_<what>" for those inputs; a node that still has them as tensors (a
 * raw, unsimplified graph) keeps them.  The batch dimension of graph inputs
 * and outputs is written as the symbol "N".
 *
 * Float constants (CONST tensors, generated Clip bounds ...) are written as
 * Constant nodes so that they read back as constants, not trainable weights.
 * Every piece of the message lives in one arena; weight bytes are not copied
 * on little-endian hosts (raw_data points into the graph's blobs while
 * packing).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "onnx/onnx_internal.h"

#define MAX_NODE_ATTRS 12
#define MAX_EXTRA_INPUTS 4

typedef struct writer {
    const nad_graph *g;
    nad_arena a;
    nad_name_map names; /* every tensor name in use, with generated ones */
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    Onnx__NodeProto **consts; /* Constant nodes for float constants */
    size_t n_consts;
    nad_err *e;
} writer;

static nad_status oom(writer *w)
{
    return nad_errf(w->e, NAD_ENOMEM, "out of memory writing ONNX");
}

static int host_is_le(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* "<base>_<what>", or with "_2", "_3" ... appended until no tensor uses it;
 * the name is reserved.  NULL when out of memory. */
static const char *unique_name(writer *w, const char *base, const char *what)
{
    size_t n = strlen(base) + strlen(what) + 24;
    char *s = nad_arena_alloc(&w->a, n, 1);
    if (!s)
        return NULL;
    snprintf(s, n, "%s_%s", base, what);
    for (int k = 2; nad_name_map_get(&w->names, s) >= 0; k++)
        snprintf(s, n, "%s_%s_%d", base, what, k);
    if (nad_name_map_put(&w->names, s, -1) < 0)
        return NULL;
    return s;
}

/* Appends an initializer whose raw_data is n elements of dtype at data
 * (copied into the arena only on big-endian hosts).  NULL when out of memory. */
static Onnx__TensorProto *add_init(writer *w, const char *name, nad_dtype dt, int ndim, const int64_t *dims,
                                   const void *data, size_t n, int as_constant)
{
    if (w->n_inits + w->n_consts == w->cap_inits)
        return NULL; /* cap_inits is an upper bound computed in advance */
    Onnx__TensorProto *tp = nad_arena_alloc(&w->a, 1, sizeof *tp);
    int64_t *d = nad_arena_alloc(&w->a, (size_t)ndim + 1, sizeof *d);
    if (!tp || !d)
        return NULL;
    onnx__tensor_proto__init(tp);
    tp->name = (char *)name;
    tp->has_data_type = 1;
    tp->data_type = dt;
    tp->n_dims = (size_t)ndim;
    if (ndim)
        memcpy(d, dims, (size_t)ndim * sizeof *d);
    tp->dims = d;
    size_t width = dt == NAD_DT_INT64 ? 8 : 4;
    tp->has_raw_data = 1;
    tp->raw_data.len = n * width;
    if (host_is_le() || n == 0) {
        tp->raw_data.data = (uint8_t *)data; /* only read while packing */
    } else {
        uint8_t *b = nad_arena_alloc(&w->a, n, width);
        if (!b)
            return NULL;
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < width; k++)
                b[i * width + k] = ((const uint8_t *)data)[i * width + width - 1 - k];
        tp->raw_data.data = b;
    }
    if (!as_constant) {
        w->inits[w->n_inits++] = tp;
        return tp;
    }
    /* A float constant goes into a Constant node, as exporters write it, so
     * that reading the file back gives a CONST tensor again (a float
     * initializer is read as a trainable WEIGHT). */
    Onnx__NodeProto *np = nad_arena_alloc(&w->a, 1, sizeof *np);
    Onnx__AttributeProto *a = nad_arena_alloc(&w->a, 1, sizeof *a);
    Onnx__AttributeProto **pa = nad_arena_alloc(&w->a, 1, sizeof *pa);
    char **out = nad_arena_alloc(&w->a, 1, sizeof *out);
    const char *node_name = unique_name(w, name, "Constant");
    if (!np || !a || !pa || !out || !node_name)
        return NULL;
    onnx__node_proto__init(np);
    onnx__attribute_proto__init(a);
    a->name = (char *)"value";
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    a->t = tp;
    tp->name = NULL;
    *pa = a;
    *out = (char *)name;
    np->name = (char *)node_name;
    np->op_type = (char *)"Constant";
    np->n_output = 1;
    np->output = out;
    np->n_attribute = 1;
    np->attribute = pa;
    w->consts[w->n_consts++] = np;
    return tp;
}

/* A generated int64 vector initializer "<node>_<what>"; returns its name. */
static const char *gen_ints(writer *w, const char *node, const char *what, const int64_t *v, int n)
{
    const char *name = unique_name(w, node, what);
    int64_t *copy = nad_arena_alloc(&w->a, (size_t)n + 1, sizeof *copy);
    int64_t dims[1] = {n};
    if (!name || !copy)
        return NULL;
    if (n)
        memcpy(copy, v, (size_t)n * sizeof *copy);
    return add_init(w, name, NAD_DT_INT64, 1, dims, copy, (size_t)n, 0) ? name : NULL;
}

/* A generated float scalar initializer "<node>_<what>"; returns its name. */
static const char *gen_float(writer *w, const char *node, const char *what, float v)
{
    const char *name = unique_name(w, node, what);
    float *copy = nad_arena_alloc(&w->a, 1, sizeof *copy);
    if (!name || !copy)
        return NULL;
    *copy = v;
    return add_init(w, name, NAD_DT_FLOAT, 0, NULL, copy, 1, 1) ? name : NULL;
}

/* The attributes and extra inputs of one node being built. */
typedef struct node_build {
    Onnx__AttributeProto *attrs[MAX_NODE_ATTRS];
    int n_attrs;
    const char *extra[MAX_EXTRA_INPUTS]; /* appended after the node's own inputs; "" = omitted */
    int n_extra;
} node_build;

static Onnx__AttributeProto *new_attr(writer *w, node_build *nb, const char *name,
                                      Onnx__AttributeProto__AttributeType type)
{
    if (nb->n_attrs == MAX_NODE_ATTRS)
        return NULL;
    Onnx__AttributeProto *a = nad_arena_alloc(&w->a, 1, sizeof *a);
    if (!a)
        return NULL;
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = type;
    nb->attrs[nb->n_attrs++] = a;
    return a;
}

static int attr_int(writer *w, node_build *nb, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = new_attr(w, nb, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (!a)
        return -1;
    a->has_i = 1;
    a->i = v;
    return 0;
}

static int attr_float(writer *w, node_build *nb, const char *name, float v)
{
    Onnx__AttributeProto *a = new_attr(w, nb, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (!a)
        return -1;
    a->has_f = 1;
    a->f = v;
    return 0;
}

static int attr_ints(writer *w, node_build *nb, const char *name, const int64_t *v, int n)
{
    Onnx__AttributeProto *a = new_attr(w, nb, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *copy = nad_arena_alloc(&w->a, (size_t)n + 1, sizeof *copy);
    if (!a || !copy)
        return -1;
    if (n)
        memcpy(copy, v, (size_t)n * sizeof *copy);
    a->ints = copy;
    a->n_ints = (size_t)n;
    return 0;
}

static int attr_string(writer *w, node_build *nb, const char *name, const char *s)
{
    Onnx__AttributeProto *a = new_attr(w, nb, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    if (!a)
        return -1;
    a->has_s = 1;
    a->s.data = (uint8_t *)s;
    a->s.len = strlen(s);
    return 0;
}

static int attr_pair(writer *w, node_build *nb, const char *name, int a0, int a1)
{
    int64_t v[2] = {a0, a1};
    return attr_ints(w, nb, name, v, 2);
}

static const char *const auto_pad_names[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};

/* Window attributes shared by Conv and the pools: explicit pads once
 * shape inference resolved auto_pad, else the auto_pad string. */
static int window_attrs(writer *w, node_build *nb, int kh, int kw, int sh, int sw, const int pads[4],
                        nad_auto_pad ap)
{
    int64_t p[4] = {pads[0], pads[1], pads[2], pads[3]};
    if (attr_pair(w, nb, "kernel_shape", kh, kw) || attr_pair(w, nb, "strides", sh, sw))
        return -1;
    if ((unsigned)ap > NAD_PAD_VALID)
        return -1;
    if (ap != NAD_PAD_NOTSET)
        return attr_string(w, nb, "auto_pad", auto_pad_names[ap]);
    return attr_ints(w, nb, "pads", p, 4);
}

/*
 * A Reshape target for ONNX: NAD_DIM_BATCH becomes 0 (copy) at the input's
 * batch axis, else -1 (infer) when no other entry infers.
 */
static nad_status reshape_target(writer *w, const nad_node *n, int64_t *v)
{
    const nad_ints_attr *a = &n->attr.ints;
    int in_batch = n->in[0] >= 0 ? w->g->tensors[n->in[0]].batch_axis : -1, infers = 0;
    if (a->n < 0 || a->n > NAD_MAX_DIMS)
        return nad_errf(w->e, NAD_EINVAL, "node '%s' (Reshape): bad target rank %d", n->name, a->n);
    for (int i = 0; i < a->n; i++)
        infers += a->v[i] == -1;
    for (int i = 0; i < a->n; i++) {
        v[i] = a->v[i];
        if (v[i] != NAD_DIM_BATCH)
            continue;
        if (i == in_batch)
            v[i] = 0;
        else if (!infers++)
            v[i] = -1;
        else
            return nad_errf(w->e, NAD_EUNSUPPORTED,
                            "node '%s' (Reshape): the batch size at target position %d cannot be expressed in ONNX",
                            n->name, i);
    }
    return NAD_OK;
}

#define TRY(x)                                                                                                        \
    do {                                                                                                              \
        if (x)                                                                                                        \
            return oom(w);                                                                                            \
    } while (0)

/* Adds an extra input name (NULL from a generator means out of memory). */
static int extra(node_build *nb, const char *name)
{
    if (!name || nb->n_extra == MAX_EXTRA_INPUTS)
        return -1;
    nb->extra[nb->n_extra++] = name;
    return 0;
}

/* The attributes (and, for canonical nodes, generated value inputs) of n. */
static nad_status node_attrs(writer *w, const nad_node *n, node_build *nb)
{
    int64_t opset = w->g->opset;
    const nad_attr *a = &n->attr;
    int canonical = n->n_in == 1; /* only the data input: values live in the attribute */
    switch (n->op) {
    case NAD_OP_CONV:
        TRY(window_attrs(w, nb, a->conv.kh, a->conv.kw, a->conv.sh, a->conv.sw, a->conv.pads, a->conv.auto_pad));
        TRY(attr_pair(w, nb, "dilations", a->conv.dh, a->conv.dw) || attr_int(w, nb, "group", a->conv.group));
        return NAD_OK;
    case NAD_OP_MAXPOOL:
    case NAD_OP_AVGPOOL: {
        const nad_pool_attr *p = &a->pool;
        int is_max = n->op == NAD_OP_MAXPOOL;
        TRY(window_attrs(w, nb, p->kh, p->kw, p->sh, p->sw, p->pads, p->auto_pad));
        if (p->dh != 1 || p->dw != 1) {
            if (opset < (is_max ? 10 : 19))
                return nad_errf(w->e, NAD_EUNSUPPORTED, "node '%s' (%s): dilations need a newer opset than %lld",
                                n->name, nad_op_name(n->op), (long long)opset);
            TRY(attr_pair(w, nb, "dilations", p->dh, p->dw));
        }
        if (p->ceil_mode) {
            if (opset < 10)
                return nad_errf(w->e, NAD_EUNSUPPORTED, "node '%s' (%s): ceil_mode needs opset 10 or newer", n->name,
                                nad_op_name(n->op));
            TRY(attr_int(w, nb, "ceil_mode", 1));
        }
        if (!is_max && p->count_include_pad)
            TRY(attr_int(w, nb, "count_include_pad", 1));
        return NAD_OK;
    }
    case NAD_OP_GEMM:
        TRY(attr_float(w, nb, "alpha", a->gemm.alpha) || attr_float(w, nb, "beta", a->gemm.beta) ||
            attr_int(w, nb, "transA", a->gemm.trans_a) || attr_int(w, nb, "transB", a->gemm.trans_b));
        return NAD_OK;
    case NAD_OP_BATCHNORM:
        TRY(attr_float(w, nb, "epsilon", a->bn.epsilon) || attr_float(w, nb, "momentum", a->bn.momentum));
        return NAD_OK;
    case NAD_OP_LEAKY_RELU:
        TRY(attr_float(w, nb, "alpha", a->scalar.a));
        return NAD_OK;
    case NAD_OP_HARD_SIGMOID:
        TRY(attr_float(w, nb, "alpha", a->scalar.a) || attr_float(w, nb, "beta", a->scalar.b));
        return NAD_OK;
    case NAD_OP_CLIP:
        if (opset < 11) {
            if (isfinite(a->scalar.a))
                TRY(attr_float(w, nb, "min", a->scalar.a));
            if (isfinite(a->scalar.b))
                TRY(attr_float(w, nb, "max", a->scalar.b));
        } else if (canonical && (isfinite(a->scalar.a) || isfinite(a->scalar.b))) {
            /* An infinite bound is an omitted input (ONNX's default). */
            TRY(extra(nb, isfinite(a->scalar.a) ? gen_float(w, n->name, "min", a->scalar.a) : ""));
            if (isfinite(a->scalar.b))
                TRY(extra(nb, gen_float(w, n->name, "max", a->scalar.b)));
        }
        return NAD_OK;
    case NAD_OP_DROPOUT:
        if (opset < 12)
            TRY(attr_float(w, nb, "ratio", a->scalar.a));
        else if (canonical && a->scalar.a != 0.5f)
            TRY(extra(nb, gen_float(w, n->name, "ratio", a->scalar.a)));
        return NAD_OK;
    case NAD_OP_SOFTMAX:
    case NAD_OP_FLATTEN:
    case NAD_OP_CONCAT:
    case NAD_OP_GATHER:
        TRY(attr_int(w, nb, "axis", a->axis.axis));
        return NAD_OK;
    case NAD_OP_CAST:
        TRY(attr_int(w, nb, "to", a->axis.axis));
        return NAD_OK;
    case NAD_OP_TRANSPOSE:
        if (a->ints.n > 0)
            TRY(attr_ints(w, nb, "perm", a->ints.v, a->ints.n));
        return NAD_OK;
    case NAD_OP_SQUEEZE:
    case NAD_OP_UNSQUEEZE:
        if (a->ints.n <= 0)
            return NAD_OK;
        if (opset < 13)
            TRY(attr_ints(w, nb, "axes", a->ints.v, a->ints.n));
        else if (canonical)
            TRY(extra(nb, gen_ints(w, n->name, "axes", a->ints.v, a->ints.n)));
        return NAD_OK;
    case NAD_OP_RESHAPE:
        if (canonical) {
            int64_t v[NAD_MAX_DIMS];
            nad_status rc = reshape_target(w, n, v);
            if (rc)
                return rc;
            TRY(extra(nb, gen_ints(w, n->name, "shape", v, a->ints.n)));
        }
        return NAD_OK;
    case NAD_OP_PAD: {
        static const char *const modes[] = {"constant", "reflect", "edge"};
        const nad_pad_attr *p = &a->pad;
        if (p->mode < 0 || p->mode > 2 || p->n < 0 || p->n > 2 * NAD_MAX_DIMS)
            return nad_errf(w->e, NAD_EINVAL, "node '%s' (Pad): bad mode or pads", n->name);
        TRY(attr_string(w, nb, "mode", modes[p->mode]));
        if (opset < 11) {
            TRY(attr_ints(w, nb, "pads", p->pads, p->n) || attr_float(w, nb, "value", p->value));
        } else if (canonical) {
            TRY(extra(nb, gen_ints(w, n->name, "pads", p->pads, p->n)));
            if (p->mode == 0 && p->value != 0.0f)
                TRY(extra(nb, gen_float(w, n->name, "value", p->value)));
        }
        return NAD_OK;
    }
    case NAD_OP_SLICE: {
        const nad_slice_attr *s = &a->slice;
        if (s->n < 0 || s->n > NAD_MAX_DIMS)
            return nad_errf(w->e, NAD_EINVAL, "node '%s' (Slice): bad axis count %d", n->name, s->n);
        if (opset < 10) {
            for (int i = 0; i < s->n; i++)
                if (s->steps[i] != 1)
                    return nad_errf(w->e, NAD_EUNSUPPORTED, "node '%s' (Slice): steps need opset 10 or newer",
                                    n->name);
            TRY(attr_ints(w, nb, "starts", s->starts, s->n) || attr_ints(w, nb, "ends", s->ends, s->n) ||
                attr_ints(w, nb, "axes", s->axes, s->n));
        } else if (canonical) {
            TRY(extra(nb, gen_ints(w, n->name, "starts", s->starts, s->n)) ||
                extra(nb, gen_ints(w, n->name, "ends", s->ends, s->n)) ||
                extra(nb, gen_ints(w, n->name, "axes", s->axes, s->n)) ||
                extra(nb, gen_ints(w, n->name, "steps", s->steps, s->n)));
        }
        return NAD_OK;
    }
    default:
        return NAD_OK;
    }
}

/* A tensor name for a node input/output index (-1 → "" = omitted). */
static char *tensor_name(const writer *w, int t)
{
    return t >= 0 ? w->g->tensors[t].name : (char *)"";
}

static nad_status build_node(writer *w, const nad_node *n, Onnx__NodeProto **out)
{
    node_build nb = {0};
    nad_status rc = node_attrs(w, n, &nb);
    if (rc)
        return rc;
    Onnx__NodeProto *np = nad_arena_alloc(&w->a, 1, sizeof *np);
    int n_in = n->n_in, n_out = n->n_out;
    /* Trailing omitted inputs/outputs are simply left off. */
    while (!nb.n_extra && n_in > 0 && n->in[n_in - 1] < 0)
        n_in--;
    while (n_out > 1 && n->out[n_out - 1] < 0)
        n_out--;
    char **in = nad_arena_alloc(&w->a, (size_t)n_in + MAX_EXTRA_INPUTS + 1, sizeof *in);
    char **outs = nad_arena_alloc(&w->a, (size_t)n_out + 1, sizeof *outs);
    Onnx__AttributeProto **attrs = nad_arena_alloc(&w->a, (size_t)nb.n_attrs + 1, sizeof *attrs);
    if (!np || !in || !outs || !attrs)
        return oom(w);
    onnx__node_proto__init(np);
    for (int k = 0; k < n_in; k++)
        in[k] = tensor_name(w, n->in[k]);
    for (int k = 0; k < nb.n_extra; k++)
        in[n_in + k] = (char *)nb.extra[k];
    for (int k = 0; k < n_out; k++)
        outs[k] = tensor_name(w, n->out[k]);
    memcpy(attrs, nb.attrs, (size_t)nb.n_attrs * sizeof *attrs);
    np->n_input = (size_t)(n_in + nb.n_extra);
    np->input = in;
    np->n_output = (size_t)n_out;
    np->output = outs;
    np->n_attribute = (size_t)nb.n_attrs;
    np->attribute = attrs;
    np->name = n->name;
    np->op_type = (char *)nad_op_name(n->op);
    *out = np;
    return NAD_OK;
}

/* A ValueInfoProto for a graph input or output: element type, and dims when
 * known, the batch axis as the symbol "N". */
static Onnx__ValueInfoProto *value_info(writer *w, int t, int with_shape)
{
    const nad_tensor *ts = &w->g->tensors[t];
    Onnx__ValueInfoProto *vi = nad_arena_alloc(&w->a, 1, sizeof *vi);
    Onnx__TypeProto *tp = nad_arena_alloc(&w->a, 1, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = nad_arena_alloc(&w->a, 1, sizeof *tt);
    if (!vi || !tp || !tt)
        return NULL;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    vi->name = ts->name;
    vi->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = ts->dtype;
    if (!with_shape)
        return vi;
    Onnx__TensorShapeProto *sp = nad_arena_alloc(&w->a, 1, sizeof *sp);
    Onnx__TensorShapeProto__Dimension **dims = nad_arena_alloc(&w->a, (size_t)ts->ndim + 1, sizeof *dims);
    if (!sp || !dims)
        return NULL;
    onnx__tensor_shape_proto__init(sp);
    for (int k = 0; k < ts->ndim; k++) {
        Onnx__TensorShapeProto__Dimension *d = nad_arena_alloc(&w->a, 1, sizeof *d);
        if (!d)
            return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        if (k == ts->batch_axis) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = (char *)"N";
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = ts->dims[k];
        }
        dims[k] = d;
    }
    sp->n_dim = (size_t)ts->ndim;
    sp->dim = dims;
    tt->shape = sp;
    return vi;
}

/* Adds tensor t as an initializer once (seen[] marks those already added). */
static nad_status add_tensor_init(writer *w, int t, char *seen)
{
    const nad_tensor *ts = &w->g->tensors[t];
    if (seen[t] || (ts->kind != NAD_TK_WEIGHT && ts->kind != NAD_TK_CONST))
        return NAD_OK;
    seen[t] = 1;
    int64_t numel = nad_tensor_numel(ts);
    size_t width = ts->dtype == NAD_DT_INT64 ? 8 : 4;
    if (!ts->blob || numel < 0 || ts->blob->bytes < (size_t)numel * width)
        return nad_errf(w->e, NAD_EINVAL, "tensor '%s' has no data of its size", ts->name);
    if (!add_init(w, ts->name, ts->dtype, ts->ndim, ts->dims, ts->blob->data, (size_t)numel,
                  ts->kind == NAD_TK_CONST && ts->dtype == NAD_DT_FLOAT))
        return oom(w);
    return NAD_OK;
}

/* Builds the whole ModelProto in w's arena and packs it. */
static nad_status build_and_pack(writer *w, uint8_t **buf, size_t *len)
{
    const nad_graph *g = w->g;
    nad_status rc;
    char *seen = nad_arena_alloc(&w->a, (size_t)g->n_tensors + 1, 1);
    w->cap_inits = (size_t)g->n_tensors + (size_t)g->n_nodes * MAX_EXTRA_INPUTS;
    w->inits = nad_arena_alloc(&w->a, w->cap_inits + 1, sizeof *w->inits);
    w->consts = nad_arena_alloc(&w->a, w->cap_inits + 1, sizeof *w->consts);
    Onnx__NodeProto **nodes = nad_arena_alloc(&w->a, (size_t)g->n_nodes + 1, sizeof *nodes);
    Onnx__ValueInfoProto **ins = nad_arena_alloc(&w->a, (size_t)g->n_inputs + 1, sizeof *ins);
    Onnx__ValueInfoProto **outs = nad_arena_alloc(&w->a, (size_t)g->n_outputs + 1, sizeof *outs);
    if (!seen || !w->inits || !w->consts || !nodes || !ins || !outs ||
        nad_name_map_init(&w->names, (size_t)g->n_tensors + (size_t)g->n_nodes * MAX_EXTRA_INPUTS))
        return oom(w);
    for (int t = 0; t < g->n_tensors; t++) {
        int r = nad_name_map_put(&w->names, g->tensors[t].name, t);
        if (r < 0)
            return oom(w);
        if (r == 0)
            return nad_errf(w->e, NAD_EINVAL, "two tensors are called '%s'", g->tensors[t].name);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const nad_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && (rc = add_tensor_init(w, n->in[k], seen)))
                return rc;
        if ((rc = build_node(w, n, &nodes[i])))
            return rc;
    }
    for (int i = 0; i < g->n_inputs; i++)
        if (!(ins[i] = value_info(w, g->inputs[i], 1)))
            return oom(w);
    for (int i = 0; i < g->n_outputs; i++) {
        int t = g->outputs[i];
        if ((rc = add_tensor_init(w, t, seen)))
            return rc;
        /* onnx's checker wants a shape on every graph output; an activation
         * has dims after shape inference or from the file it was read from
         * (onnx_read.c), else an empty shape is the best there is. */
        if (!(outs[i] = value_info(w, t, 1)))
            return oom(w);
    }

    Onnx__GraphProto gp;
    Onnx__ModelProto m;
    Onnx__OperatorSetIdProto os;
    Onnx__OperatorSetIdProto *osp = &os;
    onnx__graph_proto__init(&gp);
    onnx__model_proto__init(&m);
    onnx__operator_set_id_proto__init(&os);
    gp.name = g->name && g->name[0] ? g->name : (char *)"nadapt";
    /* Constant nodes first, then the graph's nodes: still topological. */
    Onnx__NodeProto **all = nad_arena_alloc(&w->a, w->n_consts + (size_t)g->n_nodes + 1, sizeof *all);
    if (!all)
        return oom(w);
    if (w->n_consts)
        memcpy(all, w->consts, w->n_consts * sizeof *all);
    if (g->n_nodes)
        memcpy(all + w->n_consts, nodes, (size_t)g->n_nodes * sizeof *all);
    gp.n_node = w->n_consts + (size_t)g->n_nodes;
    gp.node = all;
    gp.n_initializer = w->n_inits;
    gp.initializer = w->inits;
    gp.n_input = (size_t)g->n_inputs;
    gp.input = ins;
    gp.n_output = (size_t)g->n_outputs;
    gp.output = outs;
    os.domain = (char *)"";
    os.has_version = 1;
    os.version = g->opset;
    /* IR 7 is the oldest that every onnx tool reads without complaint about
     * inputs/initializers; 8 the newest that the opsets nadapt writes need. */
    m.has_ir_version = 1;
    m.ir_version = g->ir_version < 7 ? 7 : g->ir_version > 8 ? 8 : g->ir_version;
    m.n_opset_import = 1;
    m.opset_import = &osp;
    m.producer_name = (char *)"nadapt";
    m.producer_version = (char *)"0.1.0";
    m.graph = &gp;
    size_t size = onnx__model_proto__get_packed_size(&m);
    *buf = malloc(size ? size : 1);
    if (!*buf)
        return oom(w);
    *len = onnx__model_proto__pack(&m, *buf);
    return NAD_OK;
}

nad_status nad_graph_to_onnx_bytes(const nad_graph *g, uint8_t **buf, size_t *len, nad_err *e)
{
    writer w = {0};
    w.g = g;
    w.e = e;
    *buf = NULL;
    *len = 0;
    nad_status rc = build_and_pack(&w, buf, len);
    if (rc) {
        free(*buf);
        *buf = NULL;
        *len = 0;
    }
    nad_name_map_free(&w.names);
    nad_arena_free(&w.a);
    return rc;
}

/* Writes the bytes atomically (core/atomic_file.h): readers never see a
 * half-written model, and a failure leaves no temporary file. */
nad_status nad_graph_save_onnx(const nad_graph *g, const char *path, nad_err *e)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    nad_status rc = nad_graph_to_onnx_bytes(g, &buf, &len, e);
    if (rc)
        nad_err_prefix(e, rc, "%s: ", path);
    else
        rc = nad_write_atomic(path, buf, len, e);
    free(buf);
    return rc;
}
