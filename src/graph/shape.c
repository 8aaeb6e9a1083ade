/*
 * Shape inference: one topological walk that checks every node's input shapes
 * and sets its outputs' dims, dtype and batch axis for a given batch size.
 *
 * Along the way it
 *   - resolves Conv/pool auto_pad into explicit pads (auto_pad becomes NOTSET),
 *     fills a Conv's kernel size from its weight and normalises unset (0)
 *     strides and dilations to 1, so every later reader sees explicit values;
 *   - evaluates the small constant int64 expressions that exporters place in
 *     front of Reshape (Shape -> Gather -> Unsqueeze -> Concat ...), because
 *     the Reshape's output shape depends on their values.  Shape of an
 *     activation yields NAD_DIM_BATCH at the batch axis, so the result is valid
 *     for any batch size.
 * It only reads graph structure, so it can be re-run after the batch size or a
 * channel count (a weight's dims) has changed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "graph/graph.h"
#include "graph/passes.h"

/* Formats n dims as "[a,b,c]" into buf (size >= 2). */
static const char *dims_fmt(const int64_t *d, int n, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ",%lld" : "%lld", (long long)d[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}

/* nad_node_errf: see passes.h. */
nad_status nad_node_errf(nad_err *e, nad_status s, const nad_node *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nad_errf(e, s, "node '%s' (%s): %s", n->name, nad_op_name(n->op), msg);
}

/* Input k of n (must be present). */
static nad_tensor *in_t(nad_graph *g, const nad_node *n, int k)
{
    return &g->tensors[n->in[k]];
}

/* Input k of n, or NULL when it is omitted. */
static nad_tensor *opt_in(nad_graph *g, const nad_node *n, int k)
{
    return nad_node_has_input(n, k) ? &g->tensors[n->in[k]] : NULL;
}

/* Sets output k of n (skipped when omitted). */
static void set_out(nad_graph *g, const nad_node *n, int k, nad_dtype dt, int ndim, const int64_t *dims,
                    int batch_axis)
{
    if (k >= n->n_out || n->out[k] < 0)
        return;
    nad_tensor *t = &g->tensors[n->out[k]];
    t->dtype = dt;
    t->ndim = ndim;
    memset(t->dims, 0, sizeof t->dims);
    if (ndim)
        memcpy(t->dims, dims, (size_t)ndim * sizeof dims[0]);
    t->batch_axis = batch_axis;
}

/* Output k of n gets the shape, dtype and batch axis of tensor src. */
static void copy_out(nad_graph *g, const nad_node *n, int k, const nad_tensor *src)
{
    set_out(g, n, k, src->dtype, src->ndim, src->dims, src->batch_axis);
}

/* Normalises an ONNX axis (negative counts from the end) against rank r;
 * returns -1 when out of range. */
static int norm_axis(int64_t axis, int r)
{
    if (axis < 0)
        axis += r;
    return axis >= 0 && axis < r ? (int)axis : -1;
}

/*
 * Output extent of one spatial axis of a sliding window (Conv, MaxPool,
 * AveragePool), ONNX semantics:
 *   out = floor_or_ceil((in + pb + pe - ((k-1)*d + 1)) / s) + 1.
 * auto_pad SAME_* picks the pads that give out = ceil(in / s) and puts the odd
 * pixel at the end (UPPER) or the beginning (LOWER); VALID uses no pads.  With
 * ceil_mode, a last window that would start in the end padding is dropped, as
 * PyTorch does (torch/nn/functional pooling_output_shape) — the fixtures come
 * from PyTorch.  Writes the pads used into pb, pe; returns -1 when the window
 * does not fit.
 */
static int window_out(int64_t in, int k, int s, int d, nad_auto_pad ap, int ceil_mode, int *pb, int *pe,
                      int64_t *out)
{
    int64_t ek = (int64_t)(k - 1) * d + 1;
    if (ap == NAD_PAD_VALID) {
        *pb = *pe = 0;
    } else if (ap == NAD_PAD_SAME_UPPER || ap == NAD_PAD_SAME_LOWER) {
        int64_t o = (in + s - 1) / s;
        int64_t total = (o - 1) * s + ek - in;
        if (total < 0)
            total = 0;
        int64_t small = total / 2, big = total - small;
        *pb = (int)(ap == NAD_PAD_SAME_UPPER ? small : big);
        *pe = (int)(ap == NAD_PAD_SAME_UPPER ? big : small);
    }
    int64_t num = in + *pb + *pe - ek;
    if (num < 0 || *pb < 0 || *pe < 0)
        return -1;
    int64_t o = ceil_mode ? (num + s - 1) / s + 1 : num / s + 1;
    if (ceil_mode && (o - 1) * s >= in + *pb)
        o--;
    *out = o;
    return o >= 1 ? 0 : -1;
}

/* Conv [X, W, (B)]: X [N,C,H,W], W [M, C/group, kh, kw], B [M]. */
static nad_status infer_conv(nad_graph *g, nad_node *n, nad_err *e)
{
    const nad_tensor *x = in_t(g, n, 0), *w = in_t(g, n, 1), *b = opt_in(g, n, 2);
    nad_conv_attr *a = &n->attr.conv;
    char xs[96], ws[96];
    nad_dims_str(x, xs, sizeof xs);
    nad_dims_str(w, ws, sizeof ws);
    if (x->ndim != 4 || w->ndim != 4)
        return nad_node_errf(e, NAD_ESHAPE, n, "only 2-D convolution is supported: input '%s' %s, weight '%s' %s",
                        x->name, xs, w->name, ws);
    if (a->group < 1)
        a->group = 1;
    if (w->dims[1] * a->group != x->dims[1])
        return nad_node_errf(e, NAD_ESHAPE, n,
                        "input '%s' %s has %lld channels but weight '%s' %s with group %d expects %lld", x->name,
                        xs, (long long)x->dims[1], w->name, ws, a->group, (long long)(w->dims[1] * a->group));
    if (w->dims[0] % a->group != 0)
        return nad_node_errf(e, NAD_ESHAPE, n, "group %d does not divide the %lld output channels of weight '%s' %s",
                        a->group, (long long)w->dims[0], w->name, ws);
    if (a->kh == 0 && a->kw == 0) {
        a->kh = (int)w->dims[2];
        a->kw = (int)w->dims[3];
    }
    if (a->kh != w->dims[2] || a->kw != w->dims[3])
        return nad_node_errf(e, NAD_ESHAPE, n, "kernel_shape [%d,%d] does not match weight '%s' %s", a->kh, a->kw,
                        w->name, ws);
    if (b && nad_tensor_numel(b) != w->dims[0]) {
        char bs[96];
        return nad_node_errf(e, NAD_ESHAPE, n, "bias '%s' %s does not have one entry per output channel of weight %s",
                        b->name, nad_dims_str(b, bs, sizeof bs), ws);
    }
    a->sh = a->sh > 0 ? a->sh : 1;
    a->sw = a->sw > 0 ? a->sw : 1;
    a->dh = a->dh > 0 ? a->dh : 1;
    a->dw = a->dw > 0 ? a->dw : 1;
    int64_t od[4] = {x->dims[0], w->dims[0], 0, 0};
    if (window_out(x->dims[2], a->kh, a->sh, a->dh, a->auto_pad, 0, &a->pads[0], &a->pads[2], &od[2]) ||
        window_out(x->dims[3], a->kw, a->sw, a->dw, a->auto_pad, 0, &a->pads[1], &a->pads[3], &od[3]))
        return nad_node_errf(e, NAD_ESHAPE, n, "kernel %dx%d (dilation %d,%d, pads %d,%d,%d,%d) does not fit input %s",
                        a->kh, a->kw, a->dh, a->dw, a->pads[0], a->pads[1], a->pads[2], a->pads[3], xs);
    a->auto_pad = NAD_PAD_NOTSET;
    set_out(g, n, 0, NAD_DT_FLOAT, 4, od, x->batch_axis);
    return NAD_OK;
}

/* MaxPool / AveragePool on [N,C,H,W]. */
static nad_status infer_pool(nad_graph *g, nad_node *n, nad_err *e)
{
    const nad_tensor *x = in_t(g, n, 0);
    nad_pool_attr *a = &n->attr.pool;
    char xs[96];
    nad_dims_str(x, xs, sizeof xs);
    if (x->ndim != 4)
        return nad_node_errf(e, NAD_ESHAPE, n, "only 2-D pooling is supported: input '%s' is %s", x->name, xs);
    if (a->kh < 1 || a->kw < 1)
        return nad_node_errf(e, NAD_ESHAPE, n, "kernel_shape [%d,%d] is not positive", a->kh, a->kw);
    a->sh = a->sh > 0 ? a->sh : 1;
    a->sw = a->sw > 0 ? a->sw : 1;
    a->dh = a->dh > 0 ? a->dh : 1;
    a->dw = a->dw > 0 ? a->dw : 1;
    int64_t od[4] = {x->dims[0], x->dims[1], 0, 0};
    if (window_out(x->dims[2], a->kh, a->sh, a->dh, a->auto_pad, a->ceil_mode, &a->pads[0], &a->pads[2], &od[2]) ||
        window_out(x->dims[3], a->kw, a->sw, a->dw, a->auto_pad, a->ceil_mode, &a->pads[1], &a->pads[3], &od[3]))
        return nad_node_errf(e, NAD_ESHAPE, n, "window %dx%d (dilation %d,%d, pads %d,%d,%d,%d) does not fit input %s",
                        a->kh, a->kw, a->dh, a->dw, a->pads[0], a->pads[1], a->pads[2], a->pads[3], xs);
    a->auto_pad = NAD_PAD_NOTSET;
    set_out(g, n, 0, x->dtype, 4, od, x->batch_axis);
    return NAD_OK;
}

/* GlobalAveragePool / GlobalMaxPool: [N,C,spatial...] -> [N,C,1,...]. */
static nad_status infer_global_pool(nad_graph *g, nad_node *n, nad_err *e)
{
    const nad_tensor *x = in_t(g, n, 0);
    char xs[96];
    if (x->ndim < 3)
        return nad_node_errf(e, NAD_ESHAPE, n, "input '%s' %s has no spatial axes", x->name,
                        nad_dims_str(x, xs, sizeof xs));
    int64_t od[NAD_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++)
        od[i] = i < 2 ? x->dims[i] : 1;
    set_out(g, n, 0, x->dtype, x->ndim, od, x->batch_axis);
    return NAD_OK;
}

/*
 * Gemm [A, B, (C)]: Y = alpha * A' * B' + beta * C with A' = transA ? A^T : A
 * ([M,K]) and B' ([K,N]); C must broadcast one-way to [M,N].
 */
static nad_status infer_gemm(nad_graph *g, nad_node *n, nad_err *e)
{
    const nad_tensor *a = in_t(g, n, 0), *b = in_t(g, n, 1), *c = opt_in(g, n, 2);
    const nad_gemm_attr *at = &n->attr.gemm;
    char as[96], bs[96];
    nad_dims_str(a, as, sizeof as);
    nad_dims_str(b, bs, sizeof bs);
    if (a->ndim != 2 || b->ndim != 2)
        return nad_node_errf(e, NAD_ESHAPE, n, "inputs must be 2-D: A '%s' %s, B '%s' %s", a->name, as, b->name, bs);
    int64_t m = a->dims[at->trans_a ? 1 : 0], k = a->dims[at->trans_a ? 0 : 1];
    int64_t kb = b->dims[at->trans_b ? 1 : 0], nn = b->dims[at->trans_b ? 0 : 1];
    if (k != kb)
        return nad_node_errf(e, NAD_ESHAPE, n, "A '%s' %s (transA=%d) has inner size %lld but B '%s' %s (transB=%d) has %lld",
                        a->name, as, at->trans_a, (long long)k, b->name, bs, at->trans_b, (long long)kb);
    if (c) {
        int64_t want[2] = {m, nn};
        int ok = c->ndim <= 2;
        for (int i = 0; ok && i < c->ndim; i++) {
            int64_t d = c->dims[c->ndim - 1 - i], w = want[1 - i];
            ok = d == 1 || d == w;
        }
        if (!ok) {
            char cs[96], ys[96];
            return nad_node_errf(e, NAD_ESHAPE, n, "C '%s' %s does not broadcast to the output %s", c->name,
                            nad_dims_str(c, cs, sizeof cs), dims_fmt(want, 2, ys, sizeof ys));
        }
    }
    int64_t od[2] = {m, nn};
    int ba = -1;
    if (a->batch_axis >= 0 && a->batch_axis == (at->trans_a ? 1 : 0))
        ba = 0;
    else if (b->batch_axis >= 0 && b->batch_axis == (at->trans_b ? 0 : 1))
        ba = 1;
    set_out(g, n, 0, NAD_DT_FLOAT, 2, od, ba);
    return NAD_OK;
}

/* Numpy broadcasting of a and b into od and on; returns -1 when illegal. */
static int broadcast(const nad_tensor *a, const nad_tensor *b, int64_t *od, int *on)
{
    int r = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->ndim), ib = i - (r - b->ndim);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da == db || db == 1)
            od[i] = da;
        else if (da == 1)
            od[i] = db;
        else
            return -1;
    }
    *on = r;
    return 0;
}

/* Where the batch axis of a or b lands in a broadcast result of rank r. */
static int broadcast_batch_axis(const nad_tensor *a, const nad_tensor *b, int r)
{
    if (a->batch_axis >= 0)
        return a->batch_axis + (r - a->ndim);
    if (b->batch_axis >= 0)
        return b->batch_axis + (r - b->ndim);
    return -1;
}

/* Add/Sub/Mul/Div with numpy broadcasting; the dtypes must agree. */
static nad_status infer_eltwise(nad_graph *g, nad_node *n, nad_err *e)
{
    const nad_tensor *a = in_t(g, n, 0), *b = in_t(g, n, 1);
    char as[96], bs[96];
    int64_t od[NAD_MAX_DIMS];
    int r;
    if (broadcast(a, b, od, &r))
        return nad_node_errf(e, NAD_ESHAPE, n, "'%s' %s and '%s' %s do not broadcast", a->name,
                        nad_dims_str(a, as, sizeof as), b->name, nad_dims_str(b, bs, sizeof bs));
    if (a->dtype != b->dtype)
        return nad_node_errf(e, NAD_ESHAPE, n, "'%s' and '%s' have different element types", a->name, b->name);
    set_out(g, n, 0, a->dtype, r, od, broadcast_batch_axis(a, b, r));
    return NAD_OK;
}

/*
 * MatMul, numpy semantics: 1-D operands are promoted (and the added axis
 * removed again), leading axes broadcast, A [..., M, K] x B [..., K, N].
 */
static nad_status infer_matmul(nad_graph *g, nad_node *n, nad_err *e)
{
    const nad_tensor *a = in_t(g, n, 0), *b = in_t(g, n, 1);
    char as[96], bs[96];
    nad_dims_str(a, as, sizeof as);
    nad_dims_str(b, bs, sizeof bs);
    if (a->ndim < 1 || b->ndim < 1)
        return nad_node_errf(e, NAD_ESHAPE, n, "operands must have rank >= 1: '%s' %s, '%s' %s", a->name, as, b->name,
                        bs);
    int64_t ka = a->dims[a->ndim - 1], kb = b->ndim == 1 ? b->dims[0] : b->dims[b->ndim - 2];
    if (ka != kb)
        return nad_node_errf(e, NAD_ESHAPE, n, "inner sizes differ: '%s' %s has %lld, '%s' %s has %lld", a->name, as,
                        (long long)ka, b->name, bs, (long long)kb);
    /* Leading (batch) axes of each operand, then numpy broadcasting. */
    nad_tensor la = {0}, lb = {0};
    la.ndim = a->ndim > 2 ? a->ndim - 2 : 0;
    lb.ndim = b->ndim > 2 ? b->ndim - 2 : 0;
    memcpy(la.dims, a->dims, (size_t)la.ndim * sizeof(int64_t));
    memcpy(lb.dims, b->dims, (size_t)lb.ndim * sizeof(int64_t));
    int64_t od[NAD_MAX_DIMS];
    int r;
    if (broadcast(&la, &lb, od, &r))
        return nad_node_errf(e, NAD_ESHAPE, n, "leading axes of '%s' %s and '%s' %s do not broadcast", a->name, as,
                        b->name, bs);
    int lead = r;
    if (a->ndim >= 2)
        od[r++] = a->dims[a->ndim - 2];
    if (b->ndim >= 2)
        od[r++] = b->dims[b->ndim - 1];
    if (r > NAD_MAX_DIMS)
        return nad_node_errf(e, NAD_EUNSUPPORTED, n, "result has more than %d axes", NAD_MAX_DIMS);
    int ba = -1;
    if (a->ndim >= 2 && a->batch_axis >= 0 && a->batch_axis < a->ndim - 1)
        ba = a->batch_axis == a->ndim - 2 ? lead : a->batch_axis + (lead - la.ndim);
    set_out(g, n, 0, a->dtype, r, od, ba);
    return NAD_OK;
}

/* Flatten: [d0..d(axis-1)] x [d(axis)..] -> 2-D. */
static nad_status infer_flatten(nad_graph *g, nad_node *n, nad_err *e)
{
    const nad_tensor *x = in_t(g, n, 0);
    int64_t axis = n->attr.axis.axis;
    if (axis < 0)
        axis += x->ndim;
    if (axis < 0 || axis > x->ndim)
        return nad_node_errf(e, NAD_ESHAPE, n, "axis %d is out of range for rank %d", n->attr.axis.axis, x->ndim);
    int64_t od[2] = {1, 1};
    for (int i = 0; i < x->ndim; i++)
        od[i < axis ? 0 : 1] *= x->dims[i];
    /* The batch stays axis 0 only when nothing else is merged into it. */
    int ba = x->batch_axis == 0 && axis == 1 ? 0 : -1;
    set_out(g, n, 0, x->dtype, 2, od, ba);
    return NAD_OK;
}

/*
 * Reshape: target from the constant input 1 or (after folding) attr.ints.
 * Entries: 0 copies the input dim, -1 is inferred, NAD_DIM_BATCH is the batch.
 * The output's batch axis is the entry that holds the batch: NAD_DIM_BATCH, a
 * 0 at the input's batch axis, or a -1 whose inferred value is exactly the
 * batch (the other entries hold one image's elements, so this holds for every
 * batch size).  Fixed-batch exports (Reshape to [1, -1] traced at batch 1): a
 * literal 1 in entry 0 when the input's batch axis is 0 is read as the batch,
 * so such a model runs at any batch; at batch 1 this is exactly ONNX.
 */
static nad_status infer_reshape(nad_graph *g, nad_node *n, int batch, nad_err *e)
{
    const nad_tensor *x = in_t(g, n, 0);
    int64_t v[NAD_MAX_DIMS];
    int cnt = 0;
    nad_status rc;
    char xs[96], ts[96];
    if (nad_node_has_input(n, 1)) {
        if ((rc = nad_aux_ints(g, n, 1, v, NAD_MAX_DIMS, &cnt, e)))
            return rc;
    } else {
        cnt = n->attr.ints.n;
        memcpy(v, n->attr.ints.v, sizeof v);
    }
    nad_dims_str(x, xs, sizeof xs);
    int64_t od[NAD_MAX_DIMS], known = 1, total = nad_tensor_numel(x);
    int infer_at = -1, ba = -1;
    for (int j = 0; j < cnt; j++) {
        if (v[j] == NAD_DIM_BATCH) {
            od[j] = batch;
            ba = ba < 0 ? j : ba;
        } else if (v[j] == 0) {
            if (j >= x->ndim)
                return nad_node_errf(e, NAD_ESHAPE, n, "target entry %d is 0 (copy) but input '%s' %s has rank %d", j,
                                x->name, xs, x->ndim);
            od[j] = x->dims[j];
            if (j == x->batch_axis && ba < 0)
                ba = j;
        } else if (v[j] == -1) {
            if (infer_at >= 0)
                return nad_node_errf(e, NAD_ESHAPE, n, "target has more than one -1");
            infer_at = j;
            od[j] = 1;
            continue;
        } else if (v[j] > 0) {
            od[j] = v[j];
            if (j == 0 && v[j] == 1 && x->batch_axis == 0 && ba < 0) {
                od[j] = batch;
                ba = 0;
            }
        } else {
            return nad_node_errf(e, NAD_ESHAPE, n, "target entry %d is %lld", j, (long long)v[j]);
        }
        known *= od[j];
    }
    if (infer_at >= 0) {
        if (known == 0 || total % known != 0)
            return nad_node_errf(e, NAD_ESHAPE, n, "cannot reshape '%s' %s (%lld elements) to %s", x->name, xs,
                            (long long)total, dims_fmt(v, cnt, ts, sizeof ts));
        od[infer_at] = total / known;
        if (ba < 0 && x->batch_axis >= 0 && known * batch == total && od[infer_at] == batch)
            ba = infer_at;
        known *= od[infer_at];
    }
    if (known != total)
        return nad_node_errf(e, NAD_ESHAPE, n, "cannot reshape '%s' %s (%lld elements) to %s", x->name, xs,
                        (long long)total, dims_fmt(od, cnt, ts, sizeof ts));
    set_out(g, n, 0, x->dtype, cnt, od, ba);
    return NAD_OK;
}

/* Transpose: perm from attr.ints (empty = reverse the axes). */
static nad_status infer_transpose(nad_graph *g, nad_node *n, nad_err *e)
{
    const nad_tensor *x = in_t(g, n, 0);
    nad_ints_attr *p = &n->attr.ints;
    int r = x->ndim, seen[NAD_MAX_DIMS] = {0};
    if (p->n == 0) {
        p->n = r;
        for (int i = 0; i < r; i++)
            p->v[i] = r - 1 - i;
    }
    char xs[96];
    if (p->n != r)
        return nad_node_errf(e, NAD_ESHAPE, n, "perm has %d entries but input '%s' %s has rank %d", p->n, x->name,
                        nad_dims_str(x, xs, sizeof xs), r);
    int64_t od[NAD_MAX_DIMS];
    int ba = -1;
    for (int i = 0; i < r; i++) {
        if (p->v[i] < 0 || p->v[i] >= r || seen[p->v[i]]++)
            return nad_node_errf(e, NAD_ESHAPE, n, "perm is not a permutation of 0..%d", r - 1);
        od[i] = x->dims[p->v[i]];
        if (p->v[i] == x->batch_axis)
            ba = i;
    }
    set_out(g, n, 0, x->dtype, r, od, ba);
    return NAD_OK;
}

/* Concat along attr.axis: equal ranks, equal non-axis dims. */
static nad_status infer_concat(nad_graph *g, nad_node *n, nad_err *e)
{
    const nad_tensor *x0 = in_t(g, n, 0);
    int axis = norm_axis(n->attr.axis.axis, x0->ndim);
    if (axis < 0)
        return nad_node_errf(e, NAD_ESHAPE, n, "axis %d is out of range for rank %d", n->attr.axis.axis, x0->ndim);
    int64_t od[NAD_MAX_DIMS];
    memcpy(od, x0->dims, sizeof od);
    int ba = x0->batch_axis;
    for (int k = 1; k < n->n_in; k++) {
        if (n->in[k] < 0)
            continue;
        const nad_tensor *x = in_t(g, n, k);
        char s0[96], s1[96];
        int ok = x->ndim == x0->ndim && x->dtype == x0->dtype;
        for (int i = 0; ok && i < x->ndim; i++)
            ok = i == axis || x->dims[i] == x0->dims[i];
        if (!ok)
            return nad_node_errf(e, NAD_ESHAPE, n, "'%s' %s and '%s' %s differ outside axis %d", x0->name,
                            nad_dims_str(x0, s0, sizeof s0), x->name, nad_dims_str(x, s1, sizeof s1), axis);
        od[axis] += x->dims[axis];
        ba = ba >= 0 ? ba : x->batch_axis;
    }
    set_out(g, n, 0, x0->dtype, x0->ndim, od, ba);
    return NAD_OK;
}

/* Pad: pads (begins then ends, 2*rank) from input 1 or attr.pad. */
static nad_status infer_pad(nad_graph *g, nad_node *n, nad_err *e)
{
    const nad_tensor *x = in_t(g, n, 0);
    int64_t p[2 * NAD_MAX_DIMS];
    int cnt;
    nad_status rc;
    char xs[96];
    if (nad_node_has_input(n, 3))
        return nad_node_errf(e, NAD_EUNSUPPORTED, n, "the axes input (opset 18) is not supported");
    if (nad_node_has_input(n, 1)) {
        if ((rc = nad_aux_ints(g, n, 1, p, 2 * NAD_MAX_DIMS, &cnt, e)))
            return rc;
    } else {
        cnt = n->attr.pad.n;
        memcpy(p, n->attr.pad.pads, sizeof p);
    }
    nad_dims_str(x, xs, sizeof xs);
    if (cnt != 2 * x->ndim)
        return nad_node_errf(e, NAD_ESHAPE, n, "%d pads for input '%s' %s of rank %d", cnt, x->name, xs, x->ndim);
    int64_t od[NAD_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) {
        od[i] = x->dims[i] + p[i] + p[i + x->ndim];
        if (od[i] < 1)
            return nad_node_errf(e, NAD_ESHAPE, n, "pads crop axis %d of input '%s' %s to nothing", i, x->name, xs);
    }
    set_out(g, n, 0, x->dtype, x->ndim, od, x->batch_axis);
    return NAD_OK;
}

/* BatchNormalization [X, scale, B, mean, var]: each parameter has C = X[1]
 * entries.  Training-mode outputs (running mean/var) are [C]. */
static nad_status infer_batchnorm(nad_graph *g, nad_node *n, nad_err *e)
{
    const nad_tensor *x = in_t(g, n, 0);
    char xs[96], ps[96];
    if (x->ndim < 2)
        return nad_node_errf(e, NAD_ESHAPE, n, "input '%s' %s has no channel axis", x->name,
                        nad_dims_str(x, xs, sizeof xs));
    for (int k = 1; k < 5; k++) {
        const nad_tensor *p = in_t(g, n, k);
        if (nad_tensor_numel(p) != x->dims[1])
            return nad_node_errf(e, NAD_ESHAPE, n, "'%s' %s does not have one entry per channel of input '%s' %s",
                            p->name, nad_dims_str(p, ps, sizeof ps), x->name, nad_dims_str(x, xs, sizeof xs));
    }
    copy_out(g, n, 0, x);
    for (int k = 1; k < n->n_out; k++)
        set_out(g, n, k, NAD_DT_FLOAT, 1, &x->dims[1], -1);
    return NAD_OK;
}

/* Squeeze axes from input 1 or attr.ints; no axes = every extent-1 axis
 * except the batch axis (squeezing the batch would make the result depend on
 * the batch size, which no exported model means). */
static nad_status infer_squeeze(nad_graph *g, nad_node *n, nad_err *e)
{
    const nad_tensor *x = in_t(g, n, 0);
    int64_t ax[NAD_MAX_DIMS];
    int cnt, drop[NAD_MAX_DIMS] = {0};
    nad_status rc;
    char xs[96];
    nad_dims_str(x, xs, sizeof xs);
    if (nad_node_has_input(n, 1)) {
        if ((rc = nad_aux_ints(g, n, 1, ax, NAD_MAX_DIMS, &cnt, e)))
            return rc;
    } else {
        cnt = n->attr.ints.n;
        memcpy(ax, n->attr.ints.v, sizeof ax);
    }
    if (cnt == 0)
        for (int i = 0; i < x->ndim; i++)
            drop[i] = x->dims[i] == 1 && i != x->batch_axis;
    for (int j = 0; j < cnt; j++) {
        int a = norm_axis(ax[j], x->ndim);
        if (a < 0)
            return nad_node_errf(e, NAD_ESHAPE, n, "axis %lld is out of range for input '%s' %s", (long long)ax[j],
                            x->name, xs);
        if (x->dims[a] != 1)
            return nad_node_errf(e, NAD_ESHAPE, n, "axis %d of input '%s' %s is not 1", a, x->name, xs);
        drop[a] = 1;
    }
    int64_t od[NAD_MAX_DIMS];
    int r = 0, ba = -1;
    for (int i = 0; i < x->ndim; i++) {
        if (drop[i])
            continue;
        if (i == x->batch_axis)
            ba = r;
        od[r++] = x->dims[i];
    }
    set_out(g, n, 0, x->dtype, r, od, ba);
    return NAD_OK;
}

/* Unsqueeze axes (input 1 or attr.ints) index the output. */
static nad_status infer_unsqueeze(nad_graph *g, nad_node *n, nad_err *e)
{
    const nad_tensor *x = in_t(g, n, 0);
    int64_t ax[NAD_MAX_DIMS];
    int cnt, ins[NAD_MAX_DIMS] = {0};
    nad_status rc;
    if (nad_node_has_input(n, 1)) {
        if ((rc = nad_aux_ints(g, n, 1, ax, NAD_MAX_DIMS, &cnt, e)))
            return rc;
    } else {
        cnt = n->attr.ints.n;
        memcpy(ax, n->attr.ints.v, sizeof ax);
    }
    int r = x->ndim + cnt;
    if (r > NAD_MAX_DIMS)
        return nad_node_errf(e, NAD_EUNSUPPORTED, n, "result has more than %d axes", NAD_MAX_DIMS);
    for (int j = 0; j < cnt; j++) {
        int a = norm_axis(ax[j], r);
        if (a < 0 || ins[a]++)
            return nad_node_errf(e, NAD_ESHAPE, n, "axis %lld is out of range or repeated for output rank %d",
                            (long long)ax[j], r);
    }
    int64_t od[NAD_MAX_DIMS];
    int src = 0, ba = -1;
    for (int i = 0; i < r; i++) {
        if (ins[i]) {
            od[i] = 1;
            continue;
        }
        if (src == x->batch_axis)
            ba = i;
        od[i] = x->dims[src++];
    }
    set_out(g, n, 0, x->dtype, r, od, ba);
    return NAD_OK;
}

/* Gather(data, indices) along attr.axis: data[:axis] + indices + data[axis+1:]. */
static nad_status infer_gather(nad_graph *g, nad_node *n, nad_err *e)
{
    const nad_tensor *x = in_t(g, n, 0), *idx = in_t(g, n, 1);
    char xs[96];
    int axis = norm_axis(n->attr.axis.axis, x->ndim);
    if (axis < 0)
        return nad_node_errf(e, NAD_ESHAPE, n, "axis %d is out of range for data '%s' %s", n->attr.axis.axis, x->name,
                        nad_dims_str(x, xs, sizeof xs));
    if (idx->dtype != NAD_DT_INT64)
        return nad_node_errf(e, NAD_EUNSUPPORTED, n, "indices '%s' are not int64", idx->name);
    int r = x->ndim - 1 + idx->ndim;
    if (r > NAD_MAX_DIMS)
        return nad_node_errf(e, NAD_EUNSUPPORTED, n, "result has more than %d axes", NAD_MAX_DIMS);
    int64_t od[NAD_MAX_DIMS];
    int o = 0, ba = -1;
    for (int i = 0; i < x->ndim; i++) {
        if (i == axis) {
            for (int j = 0; j < idx->ndim; j++)
                od[o++] = idx->dims[j];
            continue;
        }
        if (i == x->batch_axis)
            ba = o;
        od[o++] = x->dims[i];
    }
    set_out(g, n, 0, x->dtype, r, od, ba);
    return NAD_OK;
}

/* Slice: output extents from nad_slice_resolve(). */
static nad_status infer_slice(nad_graph *g, nad_node *n, nad_err *e)
{
    const nad_tensor *x = in_t(g, n, 0);
    int64_t start[NAD_MAX_DIMS], step[NAD_MAX_DIMS], od[NAD_MAX_DIMS];
    nad_status rc = nad_slice_resolve(g, n, x->dims, x->ndim, start, step, od, e);
    if (rc)
        return rc;
    int ba = x->batch_axis;
    if (ba >= 0 && od[ba] != x->dims[ba])
        ba = -1;
    set_out(g, n, 0, x->dtype, x->ndim, od, ba);
    return NAD_OK;
}

/* The element type a Cast produces; attr.axis.axis holds ONNX's `to`
 * (0 = not recorded: keep the input's type). */
static nad_dtype cast_dtype(const nad_node *n, nad_dtype from)
{
    switch (n->attr.axis.axis) {
    case 0:
        return from;
    case 1:  /* FLOAT   */
    case 10: /* FLOAT16 */
    case 11: /* DOUBLE  */
    case 16: /* BFLOAT16 */
        return NAD_DT_FLOAT;
    default: /* integers and bool: shape values fit int64 */
        return NAD_DT_INT64;
    }
}

/* Shape: a 1-D int64 vector with one entry per input axis. */
static void infer_shape_op(nad_graph *g, nad_node *n)
{
    int64_t r = in_t(g, n, 0)->ndim;
    set_out(g, n, 0, NAD_DT_INT64, 1, &r, -1);
}

/* Sets dims of node n's outputs; the inputs' dims are known. */
static nad_status infer_node(nad_graph *g, nad_node *n, int batch, nad_err *e)
{
    nad_tensor *x = in_t(g, n, 0);
    switch (n->op) {
    case NAD_OP_CONV:
        return infer_conv(g, n, e);
    case NAD_OP_GEMM:
        return infer_gemm(g, n, e);
    case NAD_OP_MATMUL:
        return infer_matmul(g, n, e);
    case NAD_OP_ADD:
    case NAD_OP_SUB:
    case NAD_OP_MUL:
    case NAD_OP_DIV:
        return infer_eltwise(g, n, e);
    case NAD_OP_SOFTMAX:
        if (norm_axis(n->attr.axis.axis, x->ndim) < 0)
            return nad_node_errf(e, NAD_ESHAPE, n, "axis %d is out of range for rank %d", n->attr.axis.axis, x->ndim);
        copy_out(g, n, 0, x);
        return NAD_OK;
    case NAD_OP_RELU:
    case NAD_OP_LEAKY_RELU:
    case NAD_OP_CLIP:
    case NAD_OP_SIGMOID:
    case NAD_OP_HARD_SIGMOID:
    case NAD_OP_HARD_SWISH:
    case NAD_OP_TANH:
    case NAD_OP_IDENTITY:
        copy_out(g, n, 0, x);
        return NAD_OK;
    case NAD_OP_DROPOUT:
        copy_out(g, n, 0, x);
        copy_out(g, n, 1, x); /* the mask */
        return NAD_OK;
    case NAD_OP_MAXPOOL:
    case NAD_OP_AVGPOOL:
        return infer_pool(g, n, e);
    case NAD_OP_GLOBAL_AVGPOOL:
    case NAD_OP_GLOBAL_MAXPOOL:
        return infer_global_pool(g, n, e);
    case NAD_OP_FLATTEN:
        return infer_flatten(g, n, e);
    case NAD_OP_RESHAPE:
        return infer_reshape(g, n, batch, e);
    case NAD_OP_TRANSPOSE:
        return infer_transpose(g, n, e);
    case NAD_OP_CONCAT:
        return infer_concat(g, n, e);
    case NAD_OP_PAD:
        return infer_pad(g, n, e);
    case NAD_OP_BATCHNORM:
        return infer_batchnorm(g, n, e);
    case NAD_OP_SQUEEZE:
        return infer_squeeze(g, n, e);
    case NAD_OP_UNSQUEEZE:
        return infer_unsqueeze(g, n, e);
    case NAD_OP_SHAPE:
        infer_shape_op(g, n);
        return NAD_OK;
    case NAD_OP_GATHER:
        return infer_gather(g, n, e);
    case NAD_OP_SLICE:
        return infer_slice(g, n, e);
    case NAD_OP_CAST:
        set_out(g, n, 0, cast_dtype(n, x->dtype), x->ndim, x->dims, x->batch_axis);
        return NAD_OK;
    case NAD_OP_COUNT:
        break;
    }
    return nad_node_errf(e, NAD_EUNSUPPORTED, n, "unknown op %d", (int)n->op);
}

/* Fewest inputs each op needs present (aux inputs absorbed into attributes
 * are optional here). */
static int min_inputs(nad_op op)
{
    switch (op) {
    case NAD_OP_CONV:
    case NAD_OP_GEMM:
    case NAD_OP_MATMUL:
    case NAD_OP_ADD:
    case NAD_OP_SUB:
    case NAD_OP_MUL:
    case NAD_OP_DIV:
    case NAD_OP_GATHER:
        return 2;
    case NAD_OP_BATCHNORM:
        return 5;
    default:
        return 1;
    }
}

/*
 * Checks that node i's required inputs exist and were computed before it
 * (topological order) and that it has an output.
 */
static nad_status check_wiring(const nad_graph *g, int i, nad_err *e)
{
    const nad_node *n = &g->nodes[i];
    int need = min_inputs(n->op);
    if (n->n_in < need || n->n_out < 1 || n->out[0] < 0 || n->out[0] >= g->n_tensors)
        return nad_node_errf(e, NAD_EINVAL, n, "needs %d inputs and an output, has %d inputs", need, n->n_in);
    for (int k = 0; k < n->n_in; k++) {
        int t = n->in[k];
        if (t < 0) {
            if (k < need)
                return nad_node_errf(e, NAD_EINVAL, n, "required input %d is missing", k);
            continue;
        }
        if (t >= g->n_tensors)
            return nad_node_errf(e, NAD_EINVAL, n, "input %d refers to tensor %d of %d", k, t, g->n_tensors);
        const nad_tensor *x = &g->tensors[t];
        if (x->kind == NAD_TK_ACT && (x->producer < 0 || x->producer >= i))
            return nad_node_errf(e, NAD_EINVAL, n, "input '%s' is not computed by an earlier node", x->name);
    }
    for (int k = 1; k < n->n_out; k++)
        if (n->out[k] >= g->n_tensors)
            return nad_node_errf(e, NAD_EINVAL, n, "output %d refers to tensor %d of %d", k, n->out[k], g->n_tensors);
    return NAD_OK;
}

/* True when node n should be evaluated now: Shape always (it reads only
 * dims); other evaluable ops when all inputs hold values and the node is
 * small (shape arithmetic). */
static int eval_now(const nad_graph *g, const nad_node *n)
{
    if (n->op == NAD_OP_SHAPE)
        return 1;
    if (!nad_op_can_eval(n->op))
        return 0;
    for (int k = 0; k < n->n_in; k++) {
        if (n->in[k] < 0)
            continue;
        const nad_tensor *t = &g->tensors[n->in[k]];
        if (!nad_tensor_has_value(t) || nad_tensor_numel(t) > NAD_EVAL_SMALL)
            return 0;
    }
    for (int k = 0; k < n->n_out; k++)
        if (n->out[k] >= 0 && nad_tensor_numel(&g->tensors[n->out[k]]) > NAD_EVAL_SMALL)
            return 0;
    return 1;
}

/*
 * nad_graph_infer_shapes: see nadapt/graph.h.  Assumes (a) nodes are in
 * topological order, (b) graph inputs carry the batch at their batch_axis and
 * concrete dims elsewhere.  Values computed by a previous run are dropped
 * first, so a changed graph is evaluated afresh.  On failure the dims of
 * tensors after the failing node are stale and g->batch is 0.
 */
nad_status nad_graph_infer_shapes(nad_graph *g, int batch, nad_err *e)
{
    nad_status rc = NAD_OK;
    if (!g || batch < 1)
        return nad_errf(e, NAD_EINVAL, "shape inference needs a graph and a batch size >= 1 (got %d)", batch);
    g->batch = 0;
    for (int i = 0; i < g->n_tensors; i++) {
        nad_tensor *t = &g->tensors[i];
        if (t->kind == NAD_TK_ACT && t->blob) {
            nad_blob_unref(t->blob);
            t->blob = NULL;
        }
    }
    for (int i = 0; i < g->n_inputs; i++) {
        nad_tensor *t = &g->tensors[g->inputs[i]];
        if (t->batch_axis >= 0 && t->batch_axis < t->ndim)
            t->dims[t->batch_axis] = batch;
        for (int d = 0; d < t->ndim; d++)
            if (t->dims[d] < 1) {
                char s[96];
                return nad_errf(e, NAD_ESHAPE, "graph input '%s' %s has an unknown extent on axis %d", t->name,
                                nad_dims_str(t, s, sizeof s), d);
            }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        nad_node *n = &g->nodes[i];
        if ((rc = check_wiring(g, i, e)) || (rc = infer_node(g, n, batch, e)))
            return rc;
        if (eval_now(g, n) && (rc = nad_node_eval(g, i, e)))
            return rc;
    }
    g->batch = batch;
    return rc;
}
