/*
 * Evaluating nodes on constant inputs, and reading constant auxiliary inputs.
 *
 * Used by shape inference (small int64 shape arithmetic, whose values decide
 * Reshape targets) and by constant folding (any node whose inputs are all
 * constant).  The evaluator is a plain row-major interpreter: clarity over
 * speed, since it only ever sees shape vectors and small constants.
 * Values travel as int64 or float; NAD_DIM_BATCH (the batch size, from Shape
 * of an activation) may be copied around but not computed with.
 */
#include <string.h>

#include "graph/graph.h"
#include "graph/passes.h"

/* Bytes per element of the two computed dtypes. */
static size_t elem_size(nad_dtype dt)
{
    return dt == NAD_DT_INT64 ? sizeof(int64_t) : sizeof(float);
}

/* Row-major strides (in elements) of dims d[0..r). */
static void strides_of(const int64_t *d, int r, int64_t *s)
{
    int64_t acc = 1;
    for (int i = r - 1; i >= 0; i--) {
        s[i] = acc;
        acc *= d[i];
    }
}

/* Splits flat row-major index f of dims d[0..r) into idx[0..r). */
static void unflatten(int64_t f, const int64_t *d, int r, int64_t *idx)
{
    for (int i = r - 1; i >= 0; i--) {
        idx[i] = d[i] ? f % d[i] : 0;
        f = d[i] ? f / d[i] : 0;
    }
}

/* nad_op_can_eval: see passes.h.  Pure data movement and arithmetic only:
 * these are the ops exporters use for shape vectors and folded constants. */
int nad_op_can_eval(nad_op op)
{
    switch (op) {
    case NAD_OP_SHAPE:
    case NAD_OP_IDENTITY:
    case NAD_OP_DROPOUT:
    case NAD_OP_RESHAPE:
    case NAD_OP_FLATTEN:
    case NAD_OP_SQUEEZE:
    case NAD_OP_UNSQUEEZE:
    case NAD_OP_CAST:
    case NAD_OP_GATHER:
    case NAD_OP_SLICE:
    case NAD_OP_CONCAT:
    case NAD_OP_TRANSPOSE:
    case NAD_OP_ADD:
    case NAD_OP_SUB:
    case NAD_OP_MUL:
    case NAD_OP_DIV:
        return 1;
    default:
        return 0;
    }
}

/* nad_aux_ints: see passes.h. */
nad_status nad_aux_ints(const nad_graph *g, const nad_node *n, int k, int64_t *v, int max, int *count,
                        nad_err *e)
{
    if (!nad_node_has_input(n, k))
        return nad_node_errf(e, NAD_EINVAL, n, "input %d is missing", k);
    const nad_tensor *t = &g->tensors[n->in[k]];
    if (!nad_tensor_has_value(t))
        return nad_node_errf(e, NAD_EUNSUPPORTED, n,
                             "input %d '%s' is computed from data; only a constant is supported", k, t->name);
    if (t->dtype != NAD_DT_INT64)
        return nad_node_errf(e, NAD_EINVAL, n, "input %d '%s' must be int64", k, t->name);
    int64_t cnt = nad_tensor_numel(t);
    if (cnt > max)
        return nad_node_errf(e, NAD_EUNSUPPORTED, n, "input %d '%s' has %lld entries (at most %d supported)", k,
                             t->name, (long long)cnt, max);
    memcpy(v, nad_tensor_i64(t), (size_t)cnt * sizeof(int64_t));
    *count = (int)cnt;
    return NAD_OK;
}

/* nad_aux_float: see passes.h. */
nad_status nad_aux_float(const nad_graph *g, const nad_node *n, int k, float *out, nad_err *e)
{
    if (!nad_node_has_input(n, k))
        return nad_node_errf(e, NAD_EINVAL, n, "input %d is missing", k);
    const nad_tensor *t = &g->tensors[n->in[k]];
    if (!nad_tensor_has_value(t))
        return nad_node_errf(e, NAD_EUNSUPPORTED, n,
                             "input %d '%s' is computed from data; only a constant is supported", k, t->name);
    if (nad_tensor_numel(t) != 1)
        return nad_node_errf(e, NAD_EINVAL, n, "input %d '%s' must hold one value", k, t->name);
    if (t->dtype == NAD_DT_INT64) {
        int64_t v = nad_tensor_i64(t)[0];
        if (v == NAD_DIM_BATCH)
            return nad_node_errf(e, NAD_EUNSUPPORTED, n, "input %d '%s' is the batch size", k, t->name);
        *out = (float)v;
    } else {
        *out = nad_tensor_f32(t)[0];
    }
    return NAD_OK;
}

/* Reads optional Slice input k into v (count must equal cnt) or fills def. */
static nad_status slice_param(const nad_graph *g, const nad_node *n, int k, int cnt, int64_t def, int64_t *v,
                              nad_err *e)
{
    if (!nad_node_has_input(n, k)) {
        for (int i = 0; i < cnt; i++)
            v[i] = def;
        return NAD_OK;
    }
    int got;
    nad_status rc = nad_aux_ints(g, n, k, v, NAD_MAX_DIMS, &got, e);
    if (rc)
        return rc;
    if (got != cnt)
        return nad_node_errf(e, NAD_ESHAPE, n, "input %d has %d entries but starts has %d", k, got, cnt);
    return NAD_OK;
}

/* nad_slice_params: see passes.h.  In the attribute form a step of 0 means
 * "not given" (opset < 10 has no steps). */
nad_status nad_slice_params(const nad_graph *g, const nad_node *n, nad_slice_attr *p, nad_err *e)
{
    nad_status rc;
    int cnt;
    if (!nad_node_has_input(n, 1)) {
        *p = n->attr.slice;
        if (p->n < 0 || p->n > NAD_MAX_DIMS)
            return nad_node_errf(e, NAD_EINVAL, n, "%d slice entries", p->n);
        for (int i = 0; i < p->n; i++)
            p->steps[i] = p->steps[i] ? p->steps[i] : 1;
        return NAD_OK;
    }
    if (!nad_node_has_input(n, 2))
        return nad_node_errf(e, NAD_EINVAL, n, "the ends input is missing");
    if ((rc = nad_aux_ints(g, n, 1, p->starts, NAD_MAX_DIMS, &cnt, e)) ||
        (rc = slice_param(g, n, 2, cnt, 0, p->ends, e)) || (rc = slice_param(g, n, 3, cnt, 0, p->axes, e)) ||
        (rc = slice_param(g, n, 4, cnt, 1, p->steps, e)))
        return rc;
    if (!nad_node_has_input(n, 3))
        for (int i = 0; i < cnt; i++)
            p->axes[i] = i;
    p->n = cnt;
    return NAD_OK;
}

/*
 * nad_slice_resolve: see passes.h.  Clamping follows the ONNX Slice spec:
 * negative starts/ends count from the end; for a positive step both clamp to
 * [0, dim], for a negative step start clamps to [0, dim-1] and end to
 * [-1, dim-1]; the extent is ceil((end - start) / step), at least 0.
 */
nad_status nad_slice_resolve(const nad_graph *g, const nad_node *n, const int64_t *d, int ndim, int64_t *start,
                             int64_t *step, int64_t *extent, nad_err *e)
{
    nad_slice_attr p;
    nad_status rc = nad_slice_params(g, n, &p, e);
    if (rc)
        return rc;
    const int64_t *st = p.starts, *en = p.ends, *ax = p.axes, *sp = p.steps;
    int cnt = p.n;
    int seen[NAD_MAX_DIMS] = {0};
    for (int i = 0; i < ndim; i++) {
        start[i] = 0;
        step[i] = 1;
        extent[i] = d[i];
    }
    for (int i = 0; i < cnt; i++) {
        int64_t a = ax[i] < 0 ? ax[i] + ndim : ax[i];
        if (a < 0 || a >= ndim || seen[a]++)
            return nad_node_errf(e, NAD_ESHAPE, n, "axis %lld is out of range or repeated for rank %d",
                                 (long long)ax[i], ndim);
        if (sp[i] == 0)
            return nad_node_errf(e, NAD_EINVAL, n, "step 0 on axis %lld", (long long)a);
        int64_t dim = d[a], s = st[i], t = en[i];
        if (s < 0)
            s += dim;
        if (t < 0)
            t += dim;
        int64_t lo = 0, hi_s = sp[i] > 0 ? dim : dim - 1, lo_t = sp[i] > 0 ? 0 : -1, hi_t = sp[i] > 0 ? dim : dim - 1;
        s = s < lo ? lo : s > hi_s ? hi_s : s;
        t = t < lo_t ? lo_t : t > hi_t ? hi_t : t;
        /* ceil(span / |step|) written so a huge step cannot overflow */
        int64_t span = sp[i] > 0 ? t - s : s - t;
        int64_t len = span > 0 ? 1 + (span - 1) / (sp[i] > 0 ? sp[i] : -sp[i]) : 0;
        start[a] = s;
        step[a] = sp[i];
        extent[a] = len > 0 ? len : 0;
    }
    return NAD_OK;
}

/* Output tensor k of n gets a fresh blob sized by its inferred dims. */
static nad_status alloc_out(nad_graph *g, const nad_node *n, int k, nad_tensor **out, nad_err *e)
{
    nad_tensor *t = &g->tensors[n->out[k]];
    nad_status rc = nad_tensor_alloc(t, e);
    *out = t;
    return rc;
}

/* Shape: the input's dims, NAD_DIM_BATCH at its batch axis. */
static nad_status eval_shape(nad_graph *g, const nad_node *n, nad_err *e)
{
    const nad_tensor *x = &g->tensors[n->in[0]];
    nad_tensor *y;
    nad_status rc = alloc_out(g, n, 0, &y, e);
    if (rc)
        return rc;
    int64_t *v = nad_tensor_i64(y);
    for (int i = 0; i < x->ndim; i++)
        v[i] = i == x->batch_axis ? NAD_DIM_BATCH : x->dims[i];
    return NAD_OK;
}

/* Pure reshapes (Identity, Dropout, Reshape, Flatten, (Un)Squeeze): the
 * output shares the input's blob; copy-on-write keeps them apart later. */
static nad_status eval_share(nad_graph *g, const nad_node *n, nad_err *e)
{
    const nad_tensor *x = &g->tensors[n->in[0]];
    nad_tensor *y = &g->tensors[n->out[0]];
    if (nad_tensor_numel(x) != nad_tensor_numel(y) || x->dtype != y->dtype)
        return nad_node_errf(e, NAD_ESHAPE, n, "output '%s' does not match input '%s'", y->name, x->name);
    nad_blob_unref(y->blob);
    y->blob = nad_blob_ref(x->blob);
    return NAD_OK;
}

/* Cast between float and int64 (float -> int truncates toward zero, as ONNX's
 * reference does). */
static nad_status eval_cast(nad_graph *g, const nad_node *n, nad_err *e)
{
    const nad_tensor *x = &g->tensors[n->in[0]];
    nad_tensor *y;
    nad_status rc = alloc_out(g, n, 0, &y, e);
    if (rc)
        return rc;
    int64_t cnt = nad_tensor_numel(x);
    for (int64_t i = 0; i < cnt; i++) {
        if (x->dtype == NAD_DT_INT64 && y->dtype == NAD_DT_INT64) {
            nad_tensor_i64(y)[i] = nad_tensor_i64(x)[i];
        } else if (x->dtype == NAD_DT_INT64) {
            if (nad_tensor_i64(x)[i] == NAD_DIM_BATCH)
                return nad_node_errf(e, NAD_EUNSUPPORTED, n, "casting the batch size to float is not supported");
            nad_tensor_f32(y)[i] = (float)nad_tensor_i64(x)[i];
        } else if (y->dtype == NAD_DT_INT64) {
            nad_tensor_i64(y)[i] = (int64_t)nad_tensor_f32(x)[i];
        } else {
            nad_tensor_f32(y)[i] = nad_tensor_f32(x)[i];
        }
    }
    return NAD_OK;
}

/* Gather along attr.axis with (possibly negative) int64 indices. */
static nad_status eval_gather(nad_graph *g, const nad_node *n, nad_err *e)
{
    const nad_tensor *x = &g->tensors[n->in[0]], *idx = &g->tensors[n->in[1]];
    nad_tensor *y;
    nad_status rc = alloc_out(g, n, 0, &y, e);
    if (rc)
        return rc;
    int axis = n->attr.axis.axis < 0 ? n->attr.axis.axis + x->ndim : n->attr.axis.axis;
    int64_t outer = 1, inner = 1, dim = x->dims[axis], ni = nad_tensor_numel(idx);
    for (int i = 0; i < axis; i++)
        outer *= x->dims[i];
    for (int i = axis + 1; i < x->ndim; i++)
        inner *= x->dims[i];
    size_t es = elem_size(x->dtype), chunk = (size_t)inner * es;
    const char *src = x->blob->data;
    char *dst = y->blob->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < ni; j++) {
            int64_t ix = nad_tensor_i64(idx)[j];
            if (ix < 0)
                ix += dim;
            if (ix < 0 || ix >= dim)
                return nad_node_errf(e, NAD_EINVAL, n, "index %lld is out of range for axis %d of extent %lld",
                                     (long long)nad_tensor_i64(idx)[j], axis, (long long)dim);
            memcpy(dst + (size_t)(o * ni + j) * chunk, src + (size_t)(o * dim + ix) * chunk, chunk);
        }
    return NAD_OK;
}

/* Slice: every output element maps to start + index * step per axis. */
static nad_status eval_slice(nad_graph *g, const nad_node *n, nad_err *e)
{
    const nad_tensor *x = &g->tensors[n->in[0]];
    int64_t start[NAD_MAX_DIMS], step[NAD_MAX_DIMS], ext[NAD_MAX_DIMS], xs[NAD_MAX_DIMS], idx[NAD_MAX_DIMS];
    nad_status rc = nad_slice_resolve(g, n, x->dims, x->ndim, start, step, ext, e);
    nad_tensor *y;
    if (rc || (rc = alloc_out(g, n, 0, &y, e)))
        return rc;
    strides_of(x->dims, x->ndim, xs);
    size_t es = elem_size(x->dtype);
    int64_t cnt = nad_tensor_numel(y);
    for (int64_t f = 0; f < cnt; f++) {
        unflatten(f, ext, x->ndim, idx);
        int64_t off = 0;
        for (int i = 0; i < x->ndim; i++)
            off += (start[i] + idx[i] * step[i]) * xs[i];
        memcpy((char *)y->blob->data + (size_t)f * es, (const char *)x->blob->data + (size_t)off * es, es);
    }
    return NAD_OK;
}

/* Concat along attr.axis: per outer index, each input's block in turn. */
static nad_status eval_concat(nad_graph *g, const nad_node *n, nad_err *e)
{
    nad_tensor *y;
    nad_status rc = alloc_out(g, n, 0, &y, e);
    if (rc)
        return rc;
    int axis = n->attr.axis.axis < 0 ? n->attr.axis.axis + y->ndim : n->attr.axis.axis;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= y->dims[i];
    for (int i = axis + 1; i < y->ndim; i++)
        inner *= y->dims[i];
    size_t es = elem_size(y->dtype);
    char *dst = y->blob->data;
    for (int64_t o = 0; o < outer; o++)
        for (int k = 0; k < n->n_in; k++) {
            if (n->in[k] < 0)
                continue;
            const nad_tensor *x = &g->tensors[n->in[k]];
            size_t chunk = (size_t)(x->dims[axis] * inner) * es;
            memcpy(dst, (const char *)x->blob->data + (size_t)o * chunk, chunk);
            dst += chunk;
        }
    return NAD_OK;
}

/* Transpose by attr.ints (filled in by shape inference). */
static nad_status eval_transpose(nad_graph *g, const nad_node *n, nad_err *e)
{
    const nad_tensor *x = &g->tensors[n->in[0]];
    nad_tensor *y;
    nad_status rc = alloc_out(g, n, 0, &y, e);
    if (rc)
        return rc;
    int64_t xs[NAD_MAX_DIMS], idx[NAD_MAX_DIMS];
    strides_of(x->dims, x->ndim, xs);
    size_t es = elem_size(x->dtype);
    int64_t cnt = nad_tensor_numel(y);
    for (int64_t f = 0; f < cnt; f++) {
        unflatten(f, y->dims, y->ndim, idx);
        int64_t off = 0;
        for (int i = 0; i < y->ndim; i++)
            off += idx[i] * xs[n->attr.ints.v[i]];
        memcpy((char *)y->blob->data + (size_t)f * es, (const char *)x->blob->data + (size_t)off * es, es);
    }
    return NAD_OK;
}

/* Broadcast strides of t inside an output of rank r: 0 on broadcast axes. */
static void bcast_strides(const nad_tensor *t, int r, int64_t *s)
{
    int64_t own[NAD_MAX_DIMS];
    strides_of(t->dims, t->ndim, own);
    for (int i = 0; i < r; i++) {
        int j = i - (r - t->ndim);
        s[i] = j < 0 || t->dims[j] == 1 ? 0 : own[j];
    }
}

/* Add/Sub/Mul/Div with numpy broadcasting, on float or int64 (int64 division
 * truncates toward zero, like C and onnxruntime). */
static nad_status eval_arith(nad_graph *g, const nad_node *n, nad_err *e)
{
    const nad_tensor *a = &g->tensors[n->in[0]], *b = &g->tensors[n->in[1]];
    nad_tensor *y;
    nad_status rc = alloc_out(g, n, 0, &y, e);
    if (rc)
        return rc;
    int64_t sa[NAD_MAX_DIMS], sb[NAD_MAX_DIMS], idx[NAD_MAX_DIMS];
    bcast_strides(a, y->ndim, sa);
    bcast_strides(b, y->ndim, sb);
    int64_t cnt = nad_tensor_numel(y);
    for (int64_t f = 0; f < cnt; f++) {
        unflatten(f, y->dims, y->ndim, idx);
        int64_t oa = 0, ob = 0;
        for (int i = 0; i < y->ndim; i++) {
            oa += idx[i] * sa[i];
            ob += idx[i] * sb[i];
        }
        if (y->dtype == NAD_DT_INT64) {
            int64_t u = nad_tensor_i64(a)[oa], v = nad_tensor_i64(b)[ob], r = 0;
            if (u == NAD_DIM_BATCH || v == NAD_DIM_BATCH)
                return nad_node_errf(e, NAD_EUNSUPPORTED, n,
                                     "arithmetic on the batch size (from Shape of an activation) is not supported");
            switch (n->op) {
            case NAD_OP_ADD: r = u + v; break;
            case NAD_OP_SUB: r = u - v; break;
            case NAD_OP_MUL: r = u * v; break;
            default:
                if (v == 0)
                    return nad_node_errf(e, NAD_EINVAL, n, "integer division by zero");
                r = u / v;
            }
            nad_tensor_i64(y)[f] = r;
        } else {
            float u = nad_tensor_f32(a)[oa], v = nad_tensor_f32(b)[ob], r;
            switch (n->op) {
            case NAD_OP_ADD: r = u + v; break;
            case NAD_OP_SUB: r = u - v; break;
            case NAD_OP_MUL: r = u * v; break;
            default: r = u / v;
            }
            nad_tensor_f32(y)[f] = r;
        }
    }
    return NAD_OK;
}

/* nad_node_eval: see passes.h. */
nad_status nad_node_eval(nad_graph *g, int i, nad_err *e)
{
    const nad_node *n = &g->nodes[i];
    if (!nad_op_can_eval(n->op))
        return nad_node_errf(e, NAD_EUNSUPPORTED, n, "cannot be evaluated on constants");
    if (n->op != NAD_OP_SHAPE)
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && !nad_tensor_has_value(&g->tensors[n->in[k]]))
                return nad_node_errf(e, NAD_EINVAL, n, "input '%s' has no value", g->tensors[n->in[k]].name);
    switch (n->op) {
    case NAD_OP_SHAPE:
        return eval_shape(g, n, e);
    case NAD_OP_IDENTITY:
    case NAD_OP_DROPOUT:
    case NAD_OP_RESHAPE:
    case NAD_OP_FLATTEN:
    case NAD_OP_SQUEEZE:
    case NAD_OP_UNSQUEEZE:
        return eval_share(g, n, e);
    case NAD_OP_CAST:
        return eval_cast(g, n, e);
    case NAD_OP_GATHER:
        return eval_gather(g, n, e);
    case NAD_OP_SLICE:
        return eval_slice(g, n, e);
    case NAD_OP_CONCAT:
        return eval_concat(g, n, e);
    case NAD_OP_TRANSPOSE:
        return eval_transpose(g, n, e);
    default:
        return eval_arith(g, n, e);
    }
}
