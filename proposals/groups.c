/*
 * nadapt — channel-dependency groups (see groups.h for what a group is).
 *
 * One pass over the nodes in topological order follows every activation's
 * channel axis (axis 1, batch at axis 0) as a list of segments: "the next
 * `count` group channels of group G, `r` axis-1 entries each" or "entries
 * that belong to no prunable group" (the image, a frozen layer's output).
 * Producers start groups, per-channel ops pass the list on, Concat joins
 * lists, Reshape/Flatten rescale them, element-wise ops unite the groups of
 * their operands (union-find), and every weight, bias, per-channel constant,
 * depthwise group count or Reshape target the channels touch is recorded as a
 * member of the group.  Whatever the pass cannot follow exactly freezes the
 * groups involved with a reason naming the node.
 */
#include "groups.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/passes.h"

typedef struct seg {
    int grp;       /* group id, -1: channels of no prunable group   */
    int64_t count; /* group channels (or entries when grp < 0)       */
    int64_t r;     /* axis-1 entries per group channel (1 if grp<0)  */
} seg;

typedef struct segs {
    seg *s;
    int n;
    int known; /* 0: the tensor has no followed channel axis */
} segs;

typedef struct tgroup {
    int parent;
    int frozen;
    int first_node;
    int64_t channels;
    char reason[256];
} tgroup;

typedef struct tmember {
    int grp;
    nad_group_member m;
} tmember;

typedef struct ctx {
    const nad_graph *g;
    segs *ts; /* per tensor */
    tgroup *gr;
    int n_gr, cap_gr;
    tmember *mem;
    int n_mem, cap_mem;
    int oom;
} ctx;

/* ---- union-find over groups ---------------------------------------------- */

/* The representative of group a. */
static int find(ctx *c, int a)
{
    while (c->gr[a].parent != a) {
        c->gr[a].parent = c->gr[c->gr[a].parent].parent;
        a = c->gr[a].parent;
    }
    return a;
}

/* Freezes group a (its representative) with a reason, keeping the first one. */
static void freeze(ctx *c, int a, const char *fmt, ...)
{
    if (a < 0)
        return;
    tgroup *t = &c->gr[find(c, a)];
    if (!t->frozen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->reason, sizeof t->reason, fmt, ap);
        va_end(ap);
    }
    t->frozen = 1;
}

/* Unites groups a and b: channels that must be kept or removed together. */
static void unite(ctx *c, int a, int b)
{
    a = find(c, a);
    b = find(c, b);
    if (a == b)
        return;
    if (b < a) {
        int t = a;
        a = b;
        b = t;
    }
    c->gr[b].parent = a;
    if (c->gr[b].frozen && !c->gr[a].frozen)
        memcpy(c->gr[a].reason, c->gr[b].reason, sizeof c->gr[a].reason);
    c->gr[a].frozen |= c->gr[b].frozen;
    if (c->gr[b].first_node < c->gr[a].first_node)
        c->gr[a].first_node = c->gr[b].first_node;
}

/* A new group of `channels` channels started by node; -1 when out of memory. */
static int new_group(ctx *c, int node, int64_t channels)
{
    if (c->n_gr == c->cap_gr) {
        int cap = c->cap_gr ? 2 * c->cap_gr : 16;
        tgroup *p = realloc(c->gr, (size_t)cap * sizeof *p);
        if (!p) {
            c->oom = 1;
            return -1;
        }
        c->gr = p;
        c->cap_gr = cap;
    }
    tgroup *t = &c->gr[c->n_gr];
    memset(t, 0, sizeof *t);
    t->parent = c->n_gr;
    t->first_node = node;
    t->channels = channels;
    return c->n_gr++;
}

/* Records a member of group grp. */
static void add_member(ctx *c, int grp, nad_member_kind kind, int node, int tensor, int axis, int64_t offset,
                       int64_t per)
{
    if (grp < 0)
        return;
    if (c->n_mem == c->cap_mem) {
        int cap = c->cap_mem ? 2 * c->cap_mem : 64;
        tmember *p = realloc(c->mem, (size_t)cap * sizeof *p);
        if (!p) {
            c->oom = 1;
            return;
        }
        c->mem = p;
        c->cap_mem = cap;
    }
    tmember *t = &c->mem[c->n_mem++];
    t->grp = grp;
    t->m = (nad_group_member){kind, node, tensor, axis, offset, per};
}

/* ---- segment lists -------------------------------------------------------- */

/* Appends a segment, merging neighbouring unprunable entries. */
static void seg_push(ctx *c, segs *l, int grp, int64_t count, int64_t r)
{
    if (count <= 0)
        return;
    if (grp < 0 && l->n > 0 && l->s[l->n - 1].grp < 0) {
        l->s[l->n - 1].count += count * r;
        return;
    }
    seg *p = realloc(l->s, (size_t)(l->n + 1) * sizeof *p);
    if (!p) {
        c->oom = 1;
        return;
    }
    l->s = p;
    l->s[l->n++] = grp < 0 ? (seg){-1, count * r, 1} : (seg){grp, count, r};
    l->known = 1;
}

/* True when tensor t carries a followed channel axis: batch at 0, rank >= 2. */
static int chan_tensor(const nad_tensor *t)
{
    return t->ndim >= 2 && t->batch_axis == 0;
}

/* Sets output tensor t to entries that belong to no group. */
static void set_fixed(ctx *c, int t)
{
    const nad_tensor *x = &c->g->tensors[t];
    segs *l = &c->ts[t];
    l->n = 0;
    l->known = 0;
    if (chan_tensor(x)) {
        seg_push(c, l, -1, x->dims[1], 1);
        l->known = 1;
    }
}

/* Copies list src into tensor t's list. */
static void set_copy(ctx *c, int t, const segs *src)
{
    segs *l = &c->ts[t];
    l->n = 0;
    l->known = 0;
    for (int i = 0; i < src->n; i++)
        seg_push(c, l, src->s[i].grp, src->s[i].count, src->s[i].r);
    l->known = src->known;
}

/* Freezes every group in the list of tensor t. */
static void freeze_list(ctx *c, int t, const nad_node *n, const char *why)
{
    if (t < 0)
        return;
    const segs *l = &c->ts[t];
    for (int i = 0; i < l->n; i++)
        freeze(c, l->s[i].grp, "channels reach %s '%s' (%s): %s", nad_op_name(n->op), n->name, c->g->tensors[t].name,
               why);
}

/* Freezes the groups of every input of n and makes its outputs unprunable. */
static void opaque(ctx *c, const nad_node *n, const char *why)
{
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k] >= 0)
            freeze_list(c, n->in[k], n, why);
    for (int k = 0; k < n->n_out; k++)
        set_fixed(c, n->out[k]);
}

/* True when tensor t holds fixed data (an initializer or a constant). */
static int is_data(const nad_graph *g, int t)
{
    return t >= 0 && (g->tensors[t].kind == NAD_TK_WEIGHT || g->tensors[t].kind == NAD_TK_CONST) &&
           g->tensors[t].blob != NULL;
}

/*
 * Ties two lists that must hold the same channels entry for entry (operands
 * of an element-wise op, Concat off the channel axis): groups facing each
 * other are united, a group facing unprunable entries or a different layout
 * is frozen.
 */
static void tie_lists(ctx *c, const segs *a, const segs *b, const nad_node *n)
{
    int same = a->n == b->n;
    for (int i = 0; same && i < a->n; i++)
        same = a->s[i].count * a->s[i].r == b->s[i].count * b->s[i].r;
    for (int i = 0; i < a->n && i < b->n && same; i++) {
        const seg *x = &a->s[i], *y = &b->s[i];
        if (x->grp >= 0 && y->grp >= 0 && x->count == y->count && x->r == y->r)
            unite(c, x->grp, y->grp);
        else if (x->grp >= 0 || y->grp >= 0) {
            freeze(c, x->grp, "combined by %s '%s' with channels of another layout or of no prunable layer",
                   nad_op_name(n->op), n->name);
            freeze(c, y->grp, "combined by %s '%s' with channels of another layout or of no prunable layer",
                   nad_op_name(n->op), n->name);
        }
    }
    if (!same) {
        for (int i = 0; i < a->n; i++)
            freeze(c, a->s[i].grp, "%s '%s' combines channel layouts that do not line up", nad_op_name(n->op),
                   n->name);
        for (int i = 0; i < b->n; i++)
            freeze(c, b->s[i].grp, "%s '%s' combines channel layouts that do not line up", nad_op_name(n->op),
                   n->name);
    }
}

/* Records, for each group segment of list l, a member sliced along axis. */
static void members_along(ctx *c, const segs *l, nad_member_kind kind, int node, int tensor, int axis)
{
    int64_t off = 0;
    for (int i = 0; i < l->n; i++) {
        const seg *s = &l->s[i];
        if (s->grp >= 0)
            add_member(c, s->grp, kind, node, tensor, axis, off, s->r);
        off += s->count * s->r;
    }
}

/* ---- ops ------------------------------------------------------------------ */

/* A layer that makes new channels: its weight's `out_axis` slices are filters. */
static void produce(ctx *c, int node, int w, int out_axis, int bias, int y)
{
    const nad_graph *g = c->g;
    int64_t m = g->tensors[w].dims[out_axis];
    int grp = new_group(c, node, m);
    if (grp < 0)
        return;
    add_member(c, grp, NAD_MEM_FILTERS, node, w, out_axis, 0, 1);
    if (is_data(g, bias)) {
        const nad_tensor *b = &g->tensors[bias];
        if (b->ndim >= 1 && b->dims[b->ndim - 1] == m && nad_tensor_numel(b) == m && m > 1)
            add_member(c, grp, NAD_MEM_PARAM, node, bias, b->ndim - 1, 0, 1);
        else if (nad_tensor_numel(b) != 1)
            freeze(c, grp, "bias of '%s' is not one value per output", g->nodes[node].name);
    }
    segs *l = &c->ts[y];
    l->n = 0;
    seg_push(c, l, grp, m, 1);
    if (!chan_tensor(&g->tensors[y]))
        freeze(c, grp, "output of '%s' has no channel axis after the batch", g->nodes[node].name);
}

/* Conv: a consumer of its input's channels and a producer (group 1), a
 * channel-wise pass (depthwise), or opaque (other grouped convs). */
static void do_conv(ctx *c, int i)
{
    const nad_graph *g = c->g;
    const nad_node *n = &g->nodes[i];
    int x = n->in[0], w = n->in[1], b = nad_node_has_input(n, 2) ? n->in[2] : -1;
    if (!is_data(g, w) || !c->ts[x].known)
        return opaque(c, n, "its weight is computed or its input has no channel axis");
    int64_t cin = g->tensors[x].dims[1], m = g->tensors[w].dims[0];
    int grp = n->attr.conv.group;
    if (grp == 1) {
        members_along(c, &c->ts[x], NAD_MEM_INPUTS, i, w, 1);
        return produce(c, i, w, 0, b, n->out[0]);
    }
    if (grp == cin && m == cin) {
        const segs *l = &c->ts[x];
        members_along(c, l, NAD_MEM_FILTERS, i, w, 0);
        if (is_data(g, b))
            members_along(c, l, NAD_MEM_PARAM, i, b, 0);
        members_along(c, l, NAD_MEM_CONV_GROUPS, i, -1, 0);
        return set_copy(c, n->out[0], l);
    }
    char why[96];
    snprintf(why, sizeof why, "grouped convolution (group=%d) ties channels in groups", grp);
    opaque(c, n, why);
}

/* Gemm (A·op(B) + C) and MatMul by a constant: consumer of A's columns and a
 * producer of its outputs. */
static void do_dense(ctx *c, int i)
{
    const nad_graph *g = c->g;
    const nad_node *n = &g->nodes[i];
    int a = n->in[0], w = n->in[1];
    int is_gemm = n->op == NAD_OP_GEMM;
    if (is_gemm && n->attr.gemm.trans_a)
        return opaque(c, n, "transposed input (transA)");
    if (!is_data(g, w) || g->tensors[w].ndim != 2 || g->tensors[a].ndim != 2 || !c->ts[a].known)
        return opaque(c, n, "its weight is computed or not 2-D, or its input is not [N, features]");
    int tb = is_gemm && n->attr.gemm.trans_b;
    members_along(c, &c->ts[a], NAD_MEM_INPUTS, i, w, tb ? 1 : 0);
    int bias = is_gemm && nad_node_has_input(n, 2) ? n->in[2] : -1;
    produce(c, i, w, tb ? 0 : 1, bias, n->out[0]);
}

/* BatchNormalization: its four per-channel tensors follow the channels. */
static void do_bn(ctx *c, int i)
{
    const nad_node *n = &c->g->nodes[i];
    const segs *l = &c->ts[n->in[0]];
    for (int k = 1; k < 5 && k < n->n_in; k++)
        if (is_data(c->g, n->in[k]))
            members_along(c, l, NAD_MEM_PARAM, i, n->in[k], 0);
        else
            return opaque(c, n, "its statistics are computed");
    set_copy(c, n->out[0], l);
}

/*
 * Reshape, Flatten, Squeeze, Unsqueeze: the features of one image keep their
 * order, so a group channel spanning r entries of `unit_in` values each
 * spans r * unit_in / unit_out entries of the output when that divides.
 */
static void do_reshape(ctx *c, int i)
{
    const nad_graph *g = c->g;
    const nad_node *n = &g->nodes[i];
    int x = n->in[0], y = n->out[0];
    const nad_tensor *tx = &g->tensors[x], *ty = &g->tensors[y];
    if (!c->ts[x].known)
        return set_fixed(c, y);
    if (!chan_tensor(ty) || ty->dims[0] != tx->dims[0])
        return opaque(c, n, "the result has no channel axis after the batch");
    int64_t uin = 1, uout = 1;
    for (int k = 2; k < tx->ndim; k++)
        uin *= tx->dims[k];
    for (int k = 2; k < ty->ndim; k++)
        uout *= ty->dims[k];
    segs out = {0};
    int64_t fo = 0;
    int ok = 1;
    for (int k = 0; k < c->ts[x].n && ok; k++) {
        const seg *s = &c->ts[x].s[k];
        int64_t fp = s->r * uin, fc = s->count * fp;
        ok = fo % uout == 0 && (s->grp < 0 ? fc % uout == 0 : fp % uout == 0);
        if (ok)
            seg_push(c, &out, s->grp, s->grp < 0 ? fc / uout : s->count, s->grp < 0 ? 1 : fp / uout);
        fo += fc;
    }
    if (!ok) {
        free(out.s);
        return opaque(c, n, "the reshape splits a channel's values across channels");
    }
    /* A target that states the channel count must shrink with the group. */
    if (n->op == NAD_OP_RESHAPE) {
        int64_t v1 = 0;
        int tt = nad_node_has_input(n, 1) ? n->in[1] : -1;
        if (tt >= 0 && g->tensors[tt].blob && nad_tensor_numel(&g->tensors[tt]) > 1)
            v1 = nad_tensor_i64(&g->tensors[tt])[1];
        else if (tt < 0 && n->attr.ints.n > 1)
            v1 = n->attr.ints.v[1];
        if (v1 == 0 && uin != uout) {
            free(out.s);
            return opaque(c, n, "target copies the channel count (0) while the values per channel change");
        }
        if (v1 > 0)
            members_along(c, &out, NAD_MEM_RESHAPE, i, tt, 1);
    }
    free(c->ts[y].s);
    c->ts[y] = out;
    c->ts[y].known = 1;
}

/* Concat: on the channel axis the operands' lists follow each other; on a
 * spatial axis the operands must hold the same channels. */
static void do_concat(ctx *c, int i)
{
    const nad_graph *g = c->g;
    const nad_node *n = &g->nodes[i];
    int y = n->out[0];
    int axis = n->attr.axis.axis < 0 ? n->attr.axis.axis + g->tensors[y].ndim : n->attr.axis.axis;
    if (!chan_tensor(&g->tensors[y]) || axis < 1)
        return opaque(c, n, "concatenation along the batch or without a channel axis");
    segs out = {0};
    for (int k = 0; k < n->n_in; k++) {
        int t = n->in[k];
        if (t < 0)
            continue;
        segs fixed = {0};
        const segs *l = &c->ts[t];
        if (!l->known || is_data(g, t)) { /* a constant operand: no group */
            seg_push(c, &fixed, -1, g->tensors[t].dims[1], 1);
            l = &fixed;
        }
        if (axis == 1 || out.n == 0)
            for (int s = 0; s < l->n; s++)
                seg_push(c, &out, l->s[s].grp, l->s[s].count, l->s[s].r);
        else
            tie_lists(c, &out, l, n);
        free(fixed.s);
    }
    free(c->ts[y].s);
    c->ts[y] = out;
    c->ts[y].known = 1;
}

/* The axis of operand t (right-aligned broadcasting) that faces output axis
 * 1 of y, or -1 when t has no such axis. */
static int facing_axis(const nad_tensor *t, const nad_tensor *y)
{
    int k = 1 - (y->ndim - t->ndim);
    return k >= 0 && k < t->ndim ? k : -1;
}

/*
 * Add/Sub/Mul/Div: operands that span the channels hold the same channels,
 * so their groups unite (residual connections, squeeze-excite gates); a
 * per-channel constant operand is sliced with the group.
 */
static void do_eltwise(ctx *c, int i)
{
    const nad_graph *g = c->g;
    const nad_node *n = &g->nodes[i];
    int y = n->out[0];
    const nad_tensor *ty = &g->tensors[y];
    if (!chan_tensor(ty))
        return opaque(c, n, "result has no channel axis after the batch");
    const segs *lead = NULL;
    int consts[2] = {-1, -1}, nc = 0;
    for (int k = 0; k < n->n_in && k < 2; k++) {
        int t = n->in[k];
        const nad_tensor *tt = &g->tensors[t];
        int ax = facing_axis(tt, ty);
        int64_t ext = ax < 0 ? 1 : tt->dims[ax];
        if (is_data(g, t)) {
            if (ext > 1)
                consts[nc++] = t;
            continue;
        }
        if (!c->ts[t].known || ext == 1)
            continue; /* broadcast over channels: no tie */
        if (tt->ndim != ty->ndim)
            return opaque(c, n, "operands of different rank span the channels");
        if (!lead)
            lead = &c->ts[t];
        else
            tie_lists(c, lead, &c->ts[t], n);
    }
    if (!lead)
        return set_fixed(c, y);
    for (int k = 0; k < nc; k++)
        members_along(c, lead, NAD_MEM_PARAM, i, consts[k], facing_axis(&g->tensors[consts[k]], ty));
    set_copy(c, y, lead);
}

/* Pad: channels pass unless the channel (or batch) axis is padded. */
static void do_pad(ctx *c, int i)
{
    const nad_node *n = &c->g->nodes[i];
    const nad_pad_attr *p = &n->attr.pad;
    int rank = p->n / 2;
    if (rank >= 2 && (p->pads[0] || p->pads[1] || p->pads[rank] || p->pads[rank + 1]))
        return opaque(c, n, "pads the channel axis");
    set_copy(c, n->out[0], &c->ts[n->in[0]]);
}

/* Transpose: channels pass when batch and channel axes stay in place. */
static void do_transpose(ctx *c, int i)
{
    const nad_node *n = &c->g->nodes[i];
    const nad_ints_attr *p = &n->attr.ints;
    if (p->n >= 2 && p->v[0] == 0 && p->v[1] == 1)
        return set_copy(c, n->out[0], &c->ts[n->in[0]]);
    opaque(c, n, "moves the channel axis");
}

/* Softmax over the channels would renormalise over fewer classes. */
static void do_softmax(ctx *c, int i)
{
    const nad_node *n = &c->g->nodes[i];
    int r = c->g->tensors[n->in[0]].ndim;
    int axis = n->attr.axis.axis < 0 ? n->attr.axis.axis + r : n->attr.axis.axis;
    if (axis == 1)
        return opaque(c, n, "normalises over the channels");
    set_copy(c, n->out[0], &c->ts[n->in[0]]);
}

/* Follows node i's channels (one switch over the ops). */
static void visit(ctx *c, int i)
{
    const nad_node *n = &c->g->nodes[i];
    switch (n->op) {
    case NAD_OP_CONV:
        return do_conv(c, i);
    case NAD_OP_GEMM:
    case NAD_OP_MATMUL:
        return do_dense(c, i);
    case NAD_OP_BATCHNORM:
        return do_bn(c, i);
    case NAD_OP_RELU:
    case NAD_OP_LEAKY_RELU:
    case NAD_OP_CLIP:
    case NAD_OP_SIGMOID:
    case NAD_OP_HARD_SIGMOID:
    case NAD_OP_HARD_SWISH:
    case NAD_OP_TANH:
    case NAD_OP_DROPOUT:
    case NAD_OP_IDENTITY:
    case NAD_OP_MAXPOOL:
    case NAD_OP_AVGPOOL:
    case NAD_OP_GLOBAL_AVGPOOL:
    case NAD_OP_GLOBAL_MAXPOOL:
        if (c->ts[n->in[0]].known && chan_tensor(&c->g->tensors[n->out[0]]))
            return set_copy(c, n->out[0], &c->ts[n->in[0]]);
        return opaque(c, n, "result has no channel axis after the batch");
    case NAD_OP_ADD:
    case NAD_OP_SUB:
    case NAD_OP_MUL:
    case NAD_OP_DIV:
        return do_eltwise(c, i);
    case NAD_OP_FLATTEN:
    case NAD_OP_RESHAPE:
    case NAD_OP_SQUEEZE:
    case NAD_OP_UNSQUEEZE:
        return do_reshape(c, i);
    case NAD_OP_CONCAT:
        return do_concat(c, i);
    case NAD_OP_PAD:
        return do_pad(c, i);
    case NAD_OP_TRANSPOSE:
        return do_transpose(c, i);
    case NAD_OP_SOFTMAX:
        return do_softmax(c, i);
    default:
        return opaque(c, n, "the channel analysis does not know this op");
    }
}

/* ---- results -------------------------------------------------------------- */

/* Freezes the groups of a tensor used by members of two different nodes
 * (tied weights: slicing it for one node would corrupt the other). */
static void freeze_shared(ctx *c)
{
    for (int a = 0; a < c->n_mem; a++)
        for (int b = a + 1; b < c->n_mem; b++) {
            const nad_group_member *x = &c->mem[a].m, *y = &c->mem[b].m;
            if (x->tensor < 0 || x->tensor != y->tensor || x->node == y->node)
                continue;
            const char *tn = c->g->tensors[x->tensor].name;
            freeze(c, c->mem[a].grp, "tensor '%s' is shared by '%s' and '%s'", tn, c->g->nodes[x->node].name,
                   c->g->nodes[y->node].name);
            freeze(c, c->mem[b].grp, "tensor '%s' is shared by '%s' and '%s'", tn, c->g->nodes[x->node].name,
                   c->g->nodes[y->node].name);
        }
}

/* Sort members by node, then kind, then tensor, for a stable listing. */
static int cmp_member(const void *pa, const void *pb)
{
    const nad_group_member *a = pa, *b = pb;
    if (a->node != b->node)
        return a->node < b->node ? -1 : 1;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->tensor != b->tensor)
        return a->tensor < b->tensor ? -1 : 1;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* Builds the public list: one entry per representative, by first node. */
static nad_status collect(ctx *c, nad_groups **out, nad_err *e)
{
    nad_groups *gs = calloc(1, sizeof *gs);
    int *slot = malloc((size_t)(c->n_gr ? c->n_gr : 1) * sizeof *slot);
    if (!gs || !slot)
        goto oom;
    for (int a = 0; a < c->n_gr; a++)
        slot[a] = -1;
    /* Representatives in order of first producer node. */
    for (int i = 0; i < c->g->n_nodes; i++)
        for (int a = 0; a < c->n_gr; a++)
            if (find(c, a) == a && c->gr[a].first_node == i && slot[a] < 0)
                slot[a] = gs->n++;
    gs->g = calloc((size_t)(gs->n ? gs->n : 1), sizeof *gs->g);
    if (!gs->g)
        goto oom;
    for (int a = 0; a < c->n_gr; a++) {
        if (slot[a] < 0)
            continue;
        nad_group *d = &gs->g[slot[a]];
        snprintf(d->name, sizeof d->name, "%s", c->g->nodes[c->gr[a].first_node].name);
        d->channels = (int)c->gr[a].channels;
        d->frozen = c->gr[a].frozen;
        snprintf(d->reason, sizeof d->reason, "%s", c->gr[a].reason);
    }
    for (int k = 0; k < c->n_mem; k++) {
        nad_group *d = &gs->g[slot[find(c, c->mem[k].grp)]];
        nad_group_member *p = realloc(d->m, (size_t)(d->n_m + 1) * sizeof *p);
        if (!p)
            goto oom;
        d->m = p;
        d->m[d->n_m++] = c->mem[k].m;
    }
    for (int k = 0; k < gs->n; k++)
        qsort(gs->g[k].m, (size_t)gs->g[k].n_m, sizeof *gs->g[k].m, cmp_member);
    free(slot);
    *out = gs;
    return NAD_OK;
oom:
    free(slot);
    nad_groups_free(gs);
    return nad_errf(e, NAD_ENOMEM, "channel groups: out of memory");
}

/* See groups.h. */
nad_status nad_groups_find(const nad_graph *g, nad_groups **out, nad_err *e)
{
    *out = NULL;
    if (g->batch <= 0)
        return nad_errf(e, NAD_ESTATE, "channel groups: shapes have not been inferred");
    ctx c = {.g = g};
    nad_status rc = NAD_OK;
    c.ts = calloc((size_t)(g->n_tensors ? g->n_tensors : 1), sizeof *c.ts);
    if (!c.ts) {
        rc = nad_errf(e, NAD_ENOMEM, "channel groups: out of memory");
        goto out;
    }
    for (int k = 0; k < g->n_inputs; k++)
        set_fixed(&c, g->inputs[k]);
    for (int i = 0; i < g->n_nodes && !c.oom; i++)
        visit(&c, i);
    /* The network's outputs keep every channel: their layers are never pruned. */
    for (int k = 0; k < g->n_outputs; k++) {
        const segs *l = &c.ts[g->outputs[k]];
        for (int s = 0; s < l->n; s++)
            freeze(&c, l->s[s].grp, "its channels are the network output '%s'", g->tensors[g->outputs[k]].name);
    }
    freeze_shared(&c);
    if (c.oom) {
        rc = nad_errf(e, NAD_ENOMEM, "channel groups: out of memory");
        goto out;
    }
    rc = collect(&c, out, e);
out:
    if (c.ts)
        for (int t = 0; t < g->n_tensors; t++)
            free(c.ts[t].s);
    free(c.ts);
    free(c.gr);
    free(c.mem);
    return rc;
}

/* See groups.h. */
int nad_groups_find_name(const nad_groups *gs, const char *name)
{
    for (int k = 0; k < gs->n; k++)
        if (strcmp(gs->g[k].name, name) == 0)
            return k;
    return -1;
}

/* See groups.h. */
int nad_groups_prunable(const nad_groups *gs)
{
    int n = 0;
    for (int k = 0; k < gs->n; k++)
        n += !gs->g[k].frozen && gs->g[k].channels > 1;
    return n;
}

/* See groups.h. */
void nad_groups_free(nad_groups *gs)
{
    if (!gs)
        return;
    for (int k = 0; k < gs->n; k++)
        free(gs->g[k].m);
    free(gs->g);
    free(gs);
}
