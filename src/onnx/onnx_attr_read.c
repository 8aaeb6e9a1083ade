/*
 * NodeProto attributes → the nad_attr union of graph.h.
 *
 * Each op gets ONNX's documented defaults for its opset first, then the
 * attributes present overwrite them after a type and range check.  For the
 * opset-11+ forms that pass values as inputs (Clip min/max, Reshape shape,
 * Pad pads, Squeeze/Unsqueeze axes at 13, Slice starts/ends/axes/steps) the
 * inputs stay on the node and the defaults set here are what a constant
 * folding pass overwrites when it absorbs them (graph.h's canonical form).
 *
 * Attributes that change the computation in a way nadapt does not implement
 * (storage_order, training_mode, allowzero, spatial=0, Shape start/end) are
 * rejected as unsupported; other unknown attributes are ignored.
 */
#include <math.h>
#include <string.h>

#include "onnx/onnx_internal.h"

/* Bounds for window-like attributes: far beyond any real network, small
 * enough that shape arithmetic on them cannot overflow an int. */
#define NAD_ATTR_MAX_WINDOW 65536
#define NAD_ATTR_MAX_GROUP (1 << 24)

typedef Onnx__AttributeProto attr_proto;

/* Context for messages: "node 'conv1' (Conv)". */
typedef struct attr_ctx {
    const Onnx__NodeProto *np;
    const char *node;
    const char *op;
    nad_err *e;
} attr_ctx;

static const attr_proto *find_attr(const attr_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->np->n_attribute; i++) {
        const attr_proto *a = c->np->attribute[i];
        if (a && a->name && strcmp(a->name, name) == 0)
            return a;
    }
    return NULL;
}

/* An attribute's type; files from old exporters may omit it, so it is then
 * guessed from which field is filled. */
static Onnx__AttributeProto__AttributeType attr_type(const attr_proto *a)
{
    if (a->has_type)
        return a->type;
    if (a->has_f)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    if (a->has_i)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    if (a->has_s)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    if (a->n_ints)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (a->n_floats)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    if (a->t)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

static nad_status bad(const attr_ctx *c, nad_status s, const char *attr, const char *why)
{
    return nad_errf(c->e, s, "node '%s' (%s): attribute '%s' %s", c->node, c->op, attr, why);
}

/* Reads an INT attribute into *out (left unchanged when absent), checking
 * lo <= value <= hi.  *found (may be NULL) says whether it was present. */
static nad_status get_int(const attr_ctx *c, const char *name, int64_t lo, int64_t hi, int64_t *out, int *found)
{
    const attr_proto *a = find_attr(c, name);
    if (found)
        *found = a != NULL;
    if (!a)
        return NAD_OK;
    if (attr_type(a) != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)
        return bad(c, NAD_EFORMAT, name, "is not an integer");
    if (a->i < lo || a->i > hi)
        return nad_errf(c->e, NAD_EFORMAT, "node '%s' (%s): attribute '%s' = %lld is out of range [%lld, %lld]",
                        c->node, c->op, name, (long long)a->i, (long long)lo, (long long)hi);
    *out = a->i;
    return NAD_OK;
}

/* get_int for an int-typed destination. */
static nad_status get_int32(const attr_ctx *c, const char *name, int lo, int hi, int *out)
{
    int64_t v = *out;
    nad_status rc = get_int(c, name, lo, hi, &v, NULL);
    *out = (int)v;
    return rc;
}

/* Reads a FLOAT attribute; NaN is always refused, infinities unless allow_inf. */
static nad_status get_float(const attr_ctx *c, const char *name, int allow_inf, float *out)
{
    const attr_proto *a = find_attr(c, name);
    if (!a)
        return NAD_OK;
    if (attr_type(a) != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)
        return bad(c, NAD_EFORMAT, name, "is not a float");
    if (isnan(a->f) || (!allow_inf && isinf(a->f)))
        return bad(c, NAD_EFORMAT, name, "is not a finite number");
    *out = a->f;
    return NAD_OK;
}

/* Reads an INTS attribute of at most maxn entries into v[], each within
 * [lo, hi]; *n = count (left unchanged when absent). */
static nad_status get_ints(const attr_ctx *c, const char *name, int maxn, int64_t lo, int64_t hi, int64_t *v, int *n,
                           int *found)
{
    const attr_proto *a = find_attr(c, name);
    if (found)
        *found = a != NULL;
    if (!a)
        return NAD_OK;
    if (attr_type(a) != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS &&
        !(a->n_ints == 0 && attr_type(a) == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED))
        return bad(c, NAD_EFORMAT, name, "is not a list of integers");
    if (a->n_ints > (size_t)maxn)
        return nad_errf(c->e, NAD_EUNSUPPORTED, "node '%s' (%s): attribute '%s' has %zu entries (at most %d supported)",
                        c->node, c->op, name, a->n_ints, maxn);
    for (size_t i = 0; i < a->n_ints; i++) {
        if (a->ints[i] < lo || a->ints[i] > hi)
            return nad_errf(c->e, NAD_EFORMAT, "node '%s' (%s): attribute '%s' entry %zu = %lld is out of range [%lld, %lld]",
                            c->node, c->op, name, i, (long long)a->ints[i], (long long)lo, (long long)hi);
        v[i] = a->ints[i];
    }
    *n = (int)a->n_ints;
    return NAD_OK;
}

/* Reads a STRING attribute and maps it to the index of the matching entry of
 * choices (count k); *out is unchanged when absent. */
static nad_status get_choice(const attr_ctx *c, const char *name, const char *const *choices, int k, int *out)
{
    const attr_proto *a = find_attr(c, name);
    if (!a)
        return NAD_OK;
    if (attr_type(a) != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING)
        return bad(c, NAD_EFORMAT, name, "is not a string");
    for (int i = 0; i < k; i++)
        if (a->s.len == strlen(choices[i]) && memcmp(a->s.data, choices[i], a->s.len) == 0) {
            *out = i;
            return NAD_OK;
        }
    return nad_errf(c->e, NAD_EUNSUPPORTED, "node '%s' (%s): attribute '%s' has an unsupported value '%.*s'", c->node,
                    c->op, name, (int)(a->s.len > 32 ? 32 : a->s.len), a->s.data ? (const char *)a->s.data : "");
}

/* A list that must have exactly 2 (H, W) entries for 2-D windows. */
static nad_status get_pair(const attr_ctx *c, const char *name, int64_t lo, int64_t hi, int *a0, int *a1)
{
    int64_t v[4];
    int n = -1;
    nad_status rc = get_ints(c, name, 4, lo, hi, v, &n, NULL);
    if (rc || n < 0)
        return rc;
    if (n != 2)
        return nad_errf(c->e, n == 1 || n == 3 ? NAD_EUNSUPPORTED : NAD_EFORMAT,
                        "node '%s' (%s): attribute '%s' has %d entries (only 2-D is supported)", c->node, c->op, name,
                        n);
    *a0 = (int)v[0];
    *a1 = (int)v[1];
    return NAD_OK;
}

static nad_status get_pads4(const attr_ctx *c, int pads[4])
{
    int64_t v[6];
    int n = -1;
    nad_status rc = get_ints(c, "pads", 6, 0, NAD_ATTR_MAX_WINDOW, v, &n, NULL);
    if (rc || n < 0)
        return rc;
    if (n != 4)
        return nad_errf(c->e, n == 2 || n == 6 ? NAD_EUNSUPPORTED : NAD_EFORMAT,
                        "node '%s' (%s): attribute 'pads' has %d entries (only 2-D is supported)", c->node, c->op, n);
    for (int i = 0; i < 4; i++)
        pads[i] = (int)v[i];
    return NAD_OK;
}

static const char *const auto_pad_names[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};

/* Conv: 2-D only; kernel_shape falls back to the weight's dims. */
static nad_status read_conv(const attr_ctx *c, const nad_tensor *w, nad_conv_attr *a)
{
    nad_status rc;
    int ap = 0;
    *a = (nad_conv_attr){.sh = 1, .sw = 1, .dh = 1, .dw = 1, .group = 1};
    if (w && w->blob && (w->ndim == 3 || w->ndim == 5))
        return nad_errf(c->e, NAD_EUNSUPPORTED, "node '%s' (Conv): %d-D convolution (only 2-D is supported)", c->node,
                        w->ndim - 2);
    if ((rc = get_pair(c, "kernel_shape", 1, NAD_ATTR_MAX_WINDOW, &a->kh, &a->kw)))
        return rc;
    if (!a->kh) {
        if (!w || !w->blob || w->ndim != 4)
            return nad_errf(c->e, NAD_EUNSUPPORTED,
                            "node '%s' (Conv): no kernel_shape and the weight is not a constant 4-D tensor", c->node);
        if (w->dims[2] < 1 || w->dims[3] < 1 || w->dims[2] > NAD_ATTR_MAX_WINDOW || w->dims[3] > NAD_ATTR_MAX_WINDOW)
            return nad_errf(c->e, NAD_EFORMAT, "node '%s' (Conv): weight has an out-of-range kernel size", c->node);
        a->kh = (int)w->dims[2];
        a->kw = (int)w->dims[3];
    }
    if ((rc = get_pair(c, "strides", 1, NAD_ATTR_MAX_WINDOW, &a->sh, &a->sw)) ||
        (rc = get_pair(c, "dilations", 1, NAD_ATTR_MAX_WINDOW, &a->dh, &a->dw)) || (rc = get_pads4(c, a->pads)) ||
        (rc = get_int32(c, "group", 1, NAD_ATTR_MAX_GROUP, &a->group)) ||
        (rc = get_choice(c, "auto_pad", auto_pad_names, 4, &ap)))
        return rc;
    a->auto_pad = (nad_auto_pad)ap;
    return NAD_OK;
}

/* MaxPool / AveragePool (2-D). */
static nad_status read_pool(const attr_ctx *c, int is_max, nad_pool_attr *a)
{
    nad_status rc;
    int ap = 0, found = 0;
    int64_t storage_order = 0;
    *a = (nad_pool_attr){.sh = 1, .sw = 1, .dh = 1, .dw = 1};
    if ((rc = get_pair(c, "kernel_shape", 1, NAD_ATTR_MAX_WINDOW, &a->kh, &a->kw)))
        return rc;
    if (!a->kh)
        return nad_errf(c->e, NAD_EFORMAT, "node '%s' (%s): attribute 'kernel_shape' is missing", c->node, c->op);
    if ((rc = get_pair(c, "strides", 1, NAD_ATTR_MAX_WINDOW, &a->sh, &a->sw)) ||
        (rc = get_pair(c, "dilations", 1, NAD_ATTR_MAX_WINDOW, &a->dh, &a->dw)) || (rc = get_pads4(c, a->pads)) ||
        (rc = get_int32(c, "ceil_mode", 0, 1, &a->ceil_mode)) ||
        (rc = get_choice(c, "auto_pad", auto_pad_names, 4, &ap)))
        return rc;
    if (!is_max && (rc = get_int32(c, "count_include_pad", 0, 1, &a->count_include_pad)))
        return rc;
    if (is_max && (rc = get_int(c, "storage_order", 0, 1, &storage_order, &found)))
        return rc;
    if (storage_order)
        return bad(c, NAD_EUNSUPPORTED, "storage_order", "= 1 (column-major indices) is unsupported");
    a->auto_pad = (nad_auto_pad)ap;
    return NAD_OK;
}

/* Softmax's axis default changed at opset 13 (1 → -1), and so did its
 * meaning: before 13 the input is coerced to 2-D [prod(d<axis), prod(d>=axis)]
 * and normalised over the second factor; from 13 it is normalised along the
 * one axis.  The two agree when axis is the last axis or every dim after it
 * is 1; nad_graph_load_onnx checks that once shapes are known. */
static nad_status read_softmax(const attr_ctx *c, int64_t opset, nad_axis_attr *a)
{
    a->axis = opset < 13 ? 1 : -1;
    return get_int32(c, "axis", -NAD_MAX_DIMS, NAD_MAX_DIMS - 1, &a->axis);
}

static nad_status read_transpose(const attr_ctx *c, nad_ints_attr *a)
{
    int seen[NAD_MAX_DIMS] = {0};
    a->n = 0; /* no perm: reverse the axes (shape inference knows the rank) */
    nad_status rc = get_ints(c, "perm", NAD_MAX_DIMS, 0, NAD_MAX_DIMS - 1, a->v, &a->n, NULL);
    if (rc)
        return rc;
    for (int i = 0; i < a->n; i++) {
        if (a->v[i] >= a->n || seen[a->v[i]])
            return bad(c, NAD_EFORMAT, "perm", "is not a permutation");
        seen[a->v[i]] = 1;
    }
    return NAD_OK;
}

/* Squeeze/Unsqueeze axes: an attribute before opset 13, an input from 13. */
static nad_status read_squeeze(const attr_ctx *c, int64_t opset, int unsqueeze, nad_ints_attr *a)
{
    int found = 0;
    a->n = 0;
    if (opset >= 13)
        return NAD_OK;
    nad_status rc = get_ints(c, "axes", NAD_MAX_DIMS, -NAD_MAX_DIMS, NAD_MAX_DIMS - 1, a->v, &a->n, &found);
    if (rc)
        return rc;
    if (unsqueeze && !found)
        return bad(c, NAD_EFORMAT, "axes", "is missing");
    return NAD_OK;
}

/* Pad: mode always an attribute; pads/value attributes before opset 11. */
static nad_status read_pad(const attr_ctx *c, int64_t opset, nad_pad_attr *a)
{
    static const char *const modes[] = {"constant", "reflect", "edge"};
    nad_status rc;
    int found = 0;
    *a = (nad_pad_attr){0};
    if ((rc = get_choice(c, "mode", modes, 3, &a->mode)))
        return rc;
    if (opset >= 11)
        return NAD_OK;
    if ((rc = get_ints(c, "pads", 2 * NAD_MAX_DIMS, -NAD_ATTR_MAX_WINDOW, NAD_ATTR_MAX_WINDOW, a->pads, &a->n,
                       &found)))
        return rc;
    if (!found || a->n % 2)
        return bad(c, NAD_EFORMAT, "pads", "is missing or has an odd number of entries");
    return get_float(c, "value", 0, &a->value);
}

/* Slice: attributes before opset 10 (steps are always 1 there). */
static nad_status read_slice(const attr_ctx *c, int64_t opset, nad_slice_attr *a)
{
    nad_status rc;
    int ns = 0, ne = 0, na = -1, fs = 0, fe = 0;
    *a = (nad_slice_attr){0};
    for (int i = 0; i < NAD_MAX_DIMS; i++) {
        a->axes[i] = i;
        a->steps[i] = 1;
    }
    if (opset >= 10)
        return NAD_OK;
    if ((rc = get_ints(c, "starts", NAD_MAX_DIMS, INT64_MIN, INT64_MAX, a->starts, &ns, &fs)) ||
        (rc = get_ints(c, "ends", NAD_MAX_DIMS, INT64_MIN, INT64_MAX, a->ends, &ne, &fe)) ||
        (rc = get_ints(c, "axes", NAD_MAX_DIMS, -NAD_MAX_DIMS, NAD_MAX_DIMS - 1, a->axes, &na, NULL)))
        return rc;
    if (!fs || !fe || ns != ne || (na >= 0 && na != ns))
        return bad(c, NAD_EFORMAT, "starts", "is missing or its length differs from 'ends'/'axes'");
    a->n = ns;
    return NAD_OK;
}

nad_status nad_onnx_read_attrs(const Onnx__NodeProto *np, const char *node_name, nad_op op, int64_t opset,
                               const nad_tensor *weight, nad_attr *attr, nad_err *e)
{
    attr_ctx c = {np, node_name, nad_op_name(op), e};
    nad_status rc = NAD_OK;
    int64_t v = 0;
    int found = 0;
    memset(attr, 0, sizeof *attr);
    switch (op) {
    case NAD_OP_CONV:
        return read_conv(&c, weight, &attr->conv);
    case NAD_OP_MAXPOOL:
    case NAD_OP_AVGPOOL:
        return read_pool(&c, op == NAD_OP_MAXPOOL, &attr->pool);
    case NAD_OP_GEMM:
        attr->gemm = (nad_gemm_attr){.alpha = 1.0f, .beta = 1.0f};
        if ((rc = get_float(&c, "alpha", 0, &attr->gemm.alpha)) || (rc = get_float(&c, "beta", 0, &attr->gemm.beta)) ||
            (rc = get_int32(&c, "transA", 0, 1, &attr->gemm.trans_a)) ||
            (rc = get_int32(&c, "transB", 0, 1, &attr->gemm.trans_b)))
            return rc;
        return NAD_OK;
    case NAD_OP_BATCHNORM:
        attr->bn = (nad_bn_attr){.epsilon = 1e-5f, .momentum = 0.9f};
        if ((rc = get_float(&c, "epsilon", 0, &attr->bn.epsilon)) ||
            (rc = get_float(&c, "momentum", 0, &attr->bn.momentum)))
            return rc;
        if (attr->bn.epsilon < 0)
            return bad(&c, NAD_EFORMAT, "epsilon", "is negative");
        v = 0;
        if ((rc = get_int(&c, "training_mode", 0, 1, &v, NULL)))
            return rc;
        if (v)
            return bad(&c, NAD_EUNSUPPORTED, "training_mode", "= 1 is unsupported (export the model in eval mode)");
        v = 1;
        if (opset < 9 && (rc = get_int(&c, "spatial", 0, 1, &v, NULL)))
            return rc;
        if (!v)
            return bad(&c, NAD_EUNSUPPORTED, "spatial", "= 0 (per-activation statistics) is unsupported");
        return NAD_OK;
    case NAD_OP_LEAKY_RELU:
        attr->scalar.a = 0.01f;
        return get_float(&c, "alpha", 0, &attr->scalar.a);
    case NAD_OP_HARD_SIGMOID:
        attr->scalar = (nad_scalar_attr){0.2f, 0.5f};
        if ((rc = get_float(&c, "alpha", 0, &attr->scalar.a)))
            return rc;
        return get_float(&c, "beta", 0, &attr->scalar.b);
    case NAD_OP_CLIP:
        attr->scalar = (nad_scalar_attr){-INFINITY, INFINITY};
        if (opset < 11 &&
            ((rc = get_float(&c, "min", 1, &attr->scalar.a)) || (rc = get_float(&c, "max", 1, &attr->scalar.b))))
            return rc;
        return NAD_OK;
    case NAD_OP_DROPOUT:
        attr->scalar.a = 0.5f;
        if (opset < 12 && (rc = get_float(&c, "ratio", 0, &attr->scalar.a)))
            return rc;
        if (attr->scalar.a < 0 || attr->scalar.a >= 1)
            return bad(&c, NAD_EFORMAT, "ratio", "is outside [0, 1)");
        return NAD_OK;
    case NAD_OP_SOFTMAX:
        return read_softmax(&c, opset, &attr->axis);
    case NAD_OP_FLATTEN:
        attr->axis.axis = 1;
        return get_int32(&c, "axis", -NAD_MAX_DIMS, NAD_MAX_DIMS, &attr->axis.axis);
    case NAD_OP_CONCAT:
        if ((rc = get_int(&c, "axis", -NAD_MAX_DIMS, NAD_MAX_DIMS - 1, &v, &found)))
            return rc;
        if (!found)
            return bad(&c, NAD_EFORMAT, "axis", "is missing");
        attr->axis.axis = (int)v;
        return NAD_OK;
    case NAD_OP_GATHER:
        return get_int32(&c, "axis", -NAD_MAX_DIMS, NAD_MAX_DIMS - 1, &attr->axis.axis);
    case NAD_OP_TRANSPOSE:
        return read_transpose(&c, &attr->ints);
    case NAD_OP_SQUEEZE:
    case NAD_OP_UNSQUEEZE:
        return read_squeeze(&c, opset, op == NAD_OP_UNSQUEEZE, &attr->ints);
    case NAD_OP_RESHAPE:
        attr->ints.n = 0; /* the target arrives as input 1 */
        if ((rc = get_int(&c, "allowzero", 0, 1, &v, NULL)))
            return rc;
        if (v)
            return bad(&c, NAD_EUNSUPPORTED, "allowzero", "= 1 is unsupported");
        return NAD_OK;
    case NAD_OP_PAD:
        return read_pad(&c, opset, &attr->pad);
    case NAD_OP_SLICE:
        return read_slice(&c, opset, &attr->slice);
    case NAD_OP_CAST:
        /* The target type is kept in attr.axis.axis (a nad_dtype value). */
        if ((rc = get_int(&c, "to", INT32_MIN, INT32_MAX, &v, &found)))
            return rc;
        if (!found)
            return bad(&c, NAD_EFORMAT, "to", "is missing");
        if (v != NAD_DT_FLOAT && v != NAD_DT_INT64)
            return bad(&c, NAD_EUNSUPPORTED, "to", "is not float32 or int64 (unsupported)");
        attr->axis.axis = (int)v;
        return NAD_OK;
    case NAD_OP_SHAPE:
        if ((rc = get_int(&c, "start", INT64_MIN, INT64_MAX, &v, NULL)))
            return rc;
        if (v || find_attr(&c, "end"))
            return bad(&c, NAD_EUNSUPPORTED, "start", "or 'end' (a partial Shape) is unsupported");
        return NAD_OK;
    default: /* ops without attributes nadapt needs */
        return NAD_OK;
    }
}
