/*
 * nadapt — least-squares restoration of the layers that read a pruned group
 * (ThiNet, Luo et al. ICCV 2017; the "restoration" of NetAdapt's short-term
 * step).  See restore.h for the interface.
 *
 * Features.  A consumer computes Y = X W^T (+ bias) with one row of X per
 * sample and one column per input feature:
 *   - Conv (group 1, W [M, C, kh, kw]): a sample is one output pixel of one
 *     image, the features are its im2col patch, feature f = (c*kh + r)*kw + s
 *     (the flattened weight row), zero where the patch reaches the padding;
 *   - Gemm (A [N, K], or [K, N] with transA): a sample is one row of A,
 *     W = B [M, K] (transB) or B^T (B [K, M]);
 *   - MatMul (X [..., K] @ B [K, M], leading dims of B all 1): a sample is
 *     one K-vector of X, W = B^T.
 * A constant feature (index F, always 1) follows the F real ones.
 *
 * Preparation accumulates, per consumer, G = [X 1]^T [X 1] in double over
 * the calibration images: the features of a block of samples are packed
 * feature-major into a double buffer and added with one cblas_dsyrk (upper
 * triangle), which is mirrored at the end.
 *
 * Application (per consumer of the group): S = kept features (+ constant
 * when the bias can absorb it), R = output rows (all, or the kept ones when
 * the node also writes the group), W_k = the sliced weights.  The new
 * weights are V = W_k + D with the correction D solving
 *     min || X_S D - X_rem W_rem^T ||^2 + lambda || D_kept ||^2
 * i.e. the least-squares fit of X_S V to the original pre-activation X W_R^T,
 * through the normal equations
 *     (G_SS + lambda I_kept) D = G_S,rem W_rem^T,
 *     lambda = ridge * mean(diag G over the kept features)
 * (the constant feature is not regularised).  The ridge pulls toward the
 * sliced weights rather than toward zero (restore.h writes ridge ||W'||^2;
 * the two coincide as ridge -> 0): with fewer calibration samples than
 * features (a Gemm after Flatten) the fit is underdetermined, and shrinking
 * the unconstrained directions to zero destroys weights that slicing kept;
 * when the removed channels contribute nothing, D = 0 exactly.  The system
 * is symmetrically equilibrated by diag(A)^-1/2 and solved with
 * LAPACKE_dposv (Cholesky).  When ridge is 0, or the matrix is not
 * numerically positive definite, LAPACKE_dgelsd gives the minimum-norm D
 * with singular values below NAD_RESTORE_RCOND x the largest treated as zero
 * (ridge 0 goes straight to the SVD because a rank-deficient G_SS, e.g. a
 * dead ReLU channel or two proportional kept channels, can pass Cholesky
 * with a rounding-sized pivot and produce huge cancelling weights).  The
 * constant's row of D is added to the bias: Conv b' = b + d_c; Gemm
 * (Y = alpha A B + beta C) fits in the A B space (alpha scales target and
 * fit alike) and sets C' = C + (alpha / beta) d_c; a Gemm with beta = 0, or
 * a C that is not one value per output, is fitted without the constant.  A
 * result that is not finite leaves the sliced weights in place.
 *
 * Threads: apply reads ctx and g only.  It writes pruned's tensors after
 * nad_tensor_make_writable; for a bias that shrink did not slice (the node
 * only reads the group) that drops a reference to g's blob, and blob
 * reference counts are plain integers (graph.c), as in nad_graph_copy and
 * nad_graph_free.
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/plan.h"
#include "graph/graph.h"
#include "groups.h"
#include "restore.h"

/* Doubles of the feature-major packing buffer (8 MB): large enough for
 * dsyrk to run at full speed (hundreds of samples per call), small enough to
 * stay out of the way. */
#define NAD_RESTORE_PACK_DOUBLES ((int64_t)1 << 20)
/* Fewest samples per dsyrk call, whatever the feature count. */
#define NAD_RESTORE_MIN_COLS 64
/* Largest feature count with a Gram matrix: (F+1)^2 doubles = 512 MB. */
#define NAD_RESTORE_MAX_FEATURES 8191
/* dgelsd: singular values below this fraction of the largest are zero. */
#define NAD_RESTORE_RCOND 1e-10

typedef enum consumer_kind {
    CK_CONV = 0, /* group-1 Conv, x [N, C, H, W]            */
    CK_ROWS,     /* Gemm or MatMul: samples are rows of x   */
    CK_COLS,     /* Gemm with transA: samples are columns   */
} consumer_kind;

/* The statistics of one consumer node. */
typedef struct nad_restore_gram {
    consumer_kind kind;
    int weight;                   /* tensor index of the weight in g        */
    int wndim;                    /* the weight's dims when prepared        */
    int64_t wdims[NAD_MAX_DIMS];
    int64_t F;                    /* input features (constant excluded)     */
    double *G;                    /* (F+1) x (F+1), row-major, symmetric    */
} nad_restore_gram;

struct nad_restore_ctx {
    int n_nodes;
    nad_restore_gram **gram; /* per node of g: its statistics, NULL if none */
};

void nad_restore_free(nad_restore_ctx *ctx)
{
    if (!ctx)
        return;
    for (int i = 0; i < ctx->n_nodes; i++) {
        if (ctx->gram && ctx->gram[i]) {
            free(ctx->gram[i]->G);
            free(ctx->gram[i]);
        }
    }
    free(ctx->gram);
    free(ctx);
}

/* ---- which nodes are consumers ----------------------------------------------- */

static int is_init_f32(const nad_graph *g, int t)
{
    if (t < 0 || t >= g->n_tensors)
        return 0;
    const nad_tensor *x = &g->tensors[t];
    return (x->kind == NAD_TK_WEIGHT || x->kind == NAD_TK_CONST) && x->blob && x->dtype == NAD_DT_FLOAT;
}

/*
 * Whether node i of g (shapes inferred for max_batch) gets a Gram matrix;
 * sets *kind and *F.  Assumes (a) the plan keeps every activation, so its
 * input has a buffer; (b) the weight is node input 1.  Returns 0 for nodes
 * that are not consumers (weights that are activations, grouped convs,
 * inputs without a batch axis, batched MatMul weights ...).
 */
static int consumer_of(const nad_graph *g, const nad_plan *p, int i, consumer_kind *kind, int64_t *F)
{
    const nad_node *n = &g->nodes[i];
    if ((n->op != NAD_OP_CONV && n->op != NAD_OP_GEMM && n->op != NAD_OP_MATMUL) || n->n_in < 2 || n->in[0] < 0 ||
        !is_init_f32(g, n->in[1]))
        return 0;
    int xt = n->in[0];
    const nad_tensor *x = &g->tensors[xt], *w = &g->tensors[n->in[1]];
    if (!p->act[xt] || x->dtype != NAD_DT_FLOAT || x->batch_axis < 0 || x->batch_axis >= x->ndim ||
        x->dims[x->batch_axis] != p->max_batch)
        return 0;
    switch (n->op) {
    case NAD_OP_CONV:
        if ((n->attr.conv.group > 1) || x->ndim != 4 || x->batch_axis != 0 || w->ndim != 4 ||
            w->dims[1] != x->dims[1])
            return 0;
        *kind = CK_CONV;
        *F = w->dims[1] * w->dims[2] * w->dims[3];
        break;
    case NAD_OP_GEMM: {
        const nad_gemm_attr *a = &n->attr.gemm;
        if (x->ndim != 2 || w->ndim != 2 || x->batch_axis != (a->trans_a ? 1 : 0))
            return 0;
        *kind = a->trans_a ? CK_COLS : CK_ROWS;
        *F = a->trans_b ? w->dims[1] : w->dims[0];
        if (x->dims[a->trans_a ? 0 : 1] != *F)
            return 0;
        break;
    }
    default: /* MatMul */
        if (x->ndim < 2 || w->ndim < 2 || x->batch_axis == x->ndim - 1)
            return 0;
        for (int d = 0; d < w->ndim - 2; d++)
            if (w->dims[d] != 1)
                return 0;
        *kind = CK_ROWS;
        *F = w->dims[w->ndim - 2];
        if (x->dims[x->ndim - 1] != *F)
            return 0;
        break;
    }
    return *F >= 1 && *F <= NAD_RESTORE_MAX_FEATURES;
}

/* ---- accumulation ---------------------------------------------------------------- */

/* The packing buffer: F+1 rows (features, then the constant) of `cap`
 * samples each; `used` columns are filled. */
typedef struct pack {
    double *buf;
    int64_t cap, used;
} pack;

/* Adds the packed columns to gr->G (upper triangle) and empties the buffer. */
static void pack_flush(nad_restore_gram *gr, pack *pk)
{
    if (pk->used == 0)
        return;
    int64_t f1 = gr->F + 1;
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)f1, (int)pk->used, 1.0, pk->buf, (int)pk->cap, 1.0,
                gr->G, (int)f1);
    pk->used = 0;
}

/* Columns this node packs per dsyrk call. */
static int64_t pack_cols(int64_t F)
{
    int64_t c = NAD_RESTORE_PACK_DOUBLES / (F + 1);
    return c < NAD_RESTORE_MIN_COLS ? NAD_RESTORE_MIN_COLS : c;
}

/*
 * Packs the im2col patches of output pixels [pix0, pix0 + len) of one image
 * img [C, H, W] into columns [pk->used, pk->used + len) (len <= cap - used).
 * Geometry from node n after shape inference (explicit pads); yt is the
 * node's output (its P, Q).
 */
static void pack_conv(const nad_node *n, const nad_tensor *xt, const nad_tensor *yt, const float *img, int64_t pix0,
                      int64_t len, pack *pk)
{
    const nad_conv_attr *a = &n->attr.conv;
    int64_t C = xt->dims[1], H = xt->dims[2], W = xt->dims[3], Q = yt->dims[3];
    int kh = a->kh, kw = a->kw;
    int64_t sw = a->sw, f = 0;
    for (int64_t c = 0; c < C; c++)
        for (int r = 0; r < kh; r++)
            for (int s = 0; s < kw; s++, f++) {
                double *row = pk->buf + f * pk->cap + pk->used;
                const float *plane = img + c * H * W;
                /* Output columns q read iw = q*sw + off; those in [qa, qb)
                 * fall inside the image, the rest read padding. */
                int64_t off = (int64_t)s * a->dw - a->pads[1];
                int64_t qa = off >= 0 ? 0 : (-off + sw - 1) / sw;
                int64_t qb = W - 1 - off < 0 ? 0 : (W - 1 - off) / sw + 1;
                qa = qa < Q ? qa : Q;
                qb = qb < Q ? qb : Q;
                int64_t p = pix0 / Q, q = pix0 % Q;
                for (int64_t j = 0; j < len; p++, q = 0) {
                    int64_t cnt = Q - q < len - j ? Q - q : len - j;
                    int64_t ih = p * a->sh - a->pads[0] + (int64_t)r * a->dh;
                    double *dst = row + (j - q); /* dst[q'] is output column q' */
                    j += cnt;
                    if (ih < 0 || ih >= H) {
                        for (int64_t t = q; t < q + cnt; t++)
                            dst[t] = 0.0;
                        continue;
                    }
                    const float *src = plane + ih * W;
                    int64_t t = q;
                    for (; t < q + cnt && t < qa; t++)
                        dst[t] = 0.0;
                    for (; t < q + cnt && t < qb; t++)
                        dst[t] = (double)src[t * sw + off];
                    for (; t < q + cnt; t++)
                        dst[t] = 0.0;
                }
            }
    double *ones = pk->buf + f * pk->cap + pk->used;
    for (int64_t j = 0; j < len; j++)
        ones[j] = 1.0;
    pk->used += len;
}

/*
 * Packs samples [s0, s0 + len) of a row- (x [rows, F]) or column-major
 * (x [F, ld]) sample matrix.
 */
static void pack_dense(const float *x, int64_t F, int by_rows, int64_t ld, int64_t s0, int64_t len, pack *pk)
{
    for (int64_t f = 0; f < F; f++) {
        double *row = pk->buf + f * pk->cap + pk->used;
        if (by_rows)
            for (int64_t j = 0; j < len; j++)
                row[j] = (double)x[(s0 + j) * F + f];
        else
            for (int64_t j = 0; j < len; j++)
                row[j] = (double)x[f * ld + s0 + j];
    }
    double *ones = pk->buf + F * pk->cap + pk->used;
    for (int64_t j = 0; j < len; j++)
        ones[j] = 1.0;
    pk->used += len;
}

/* Adds the samples of the last run of `run` images to node i's Gram matrix. */
static void accumulate(const nad_plan *p, int i, nad_restore_gram *gr, int run, pack *pk)
{
    const nad_graph *g = p->g;
    const nad_node *n = &g->nodes[i];
    const nad_tensor *xt = &g->tensors[n->in[0]];
    const float *x = nad_plan_data(p, n->in[0]);
    pk->used = 0;
    if (gr->kind == CK_CONV) {
        const nad_tensor *yt = &g->tensors[n->out[0]];
        int64_t per = xt->dims[1] * xt->dims[2] * xt->dims[3], pq = yt->dims[2] * yt->dims[3];
        for (int b = 0; b < run; b++)
            for (int64_t pix = 0; pix < pq;) {
                int64_t len = pq - pix < pk->cap - pk->used ? pq - pix : pk->cap - pk->used;
                pack_conv(n, xt, yt, x + b * per, pix, len, pk);
                pix += len;
                if (pk->used == pk->cap)
                    pack_flush(gr, pk);
            }
    } else {
        /* The engine gives a run of `run` images the first `run` entries
         * along the batch axis: dims[batch_axis] = run for a batch-first
         * tensor, the max_batch layout otherwise (plan_run.c slice_dims).
         * Rows of x [outer, max_batch, inner, F]: each outer index holds
         * run * inner valid consecutive rows.  Columns of x [F, max_batch]
         * (transA): the first run of each row. */
        int64_t outer = 1, inner = 1, maxb = p->max_batch;
        for (int d = 0; d < xt->ndim - 1; d++)
            if (d < xt->batch_axis)
                outer *= xt->dims[d];
            else if (d > xt->batch_axis)
                inner *= xt->dims[d];
        if (gr->kind == CK_COLS)
            outer = 1, inner = 1;
        int64_t samples = (int64_t)run * inner;
        for (int64_t o = 0; o < outer; o++) {
            const float *xo = x + o * maxb * inner * gr->F;
            for (int64_t s = 0; s < samples;) {
                int64_t len = samples - s < pk->cap - pk->used ? samples - s : pk->cap - pk->used;
                pack_dense(xo, gr->F, gr->kind == CK_ROWS, maxb, s, len, pk);
                s += len;
                if (pk->used == pk->cap)
                    pack_flush(gr, pk);
            }
        }
    }
    pack_flush(gr, pk);
}

nad_status nad_restore_prepare(nad_graph *g, const float *images, int64_t n, int64_t per_image, int max_batch,
                               nad_restore_ctx **out, nad_err *e)
{
    nad_status rc = NAD_OK;
    nad_plan *p = NULL;
    nad_restore_ctx *ctx = NULL;
    pack pk = {NULL, 0, 0};
    if (out)
        *out = NULL;
    if (!g || !images || !out || n < 1 || max_batch < 1)
        return nad_errf(e, NAD_EINVAL, "restore: need a graph, images, n >= 1 and max_batch >= 1 (got n %lld, "
                        "max_batch %d)", (long long)n, max_batch);
    if ((int64_t)max_batch > n)
        max_batch = (int)n;
    /* Every activation keeps its own buffer and nothing is fused, so each
     * consumer's input is still there after the run. */
    rc = nad_plan_create_ex(g, max_batch, NAD_PLAN_KEEP_ACTIVATIONS | NAD_PLAN_NO_FUSION, &p, e);
    if (rc)
        return nad_err_prefix(e, rc, "restore: ");
    if (nad_plan_input_size(p) != per_image) {
        rc = nad_errf(e, NAD_ESHAPE, "restore: images have %lld values each, the model's input '%s' takes %lld",
                      (long long)per_image, g->tensors[p->input].name, (long long)nad_plan_input_size(p));
        goto out;
    }
    ctx = calloc(1, sizeof *ctx);
    if (!ctx || !(ctx->gram = calloc((size_t)(g->n_nodes > 0 ? g->n_nodes : 1), sizeof *ctx->gram)))
        goto nomem;
    ctx->n_nodes = g->n_nodes;
    int64_t pack_need = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        consumer_kind kind;
        int64_t F;
        if (!consumer_of(g, p, i, &kind, &F))
            continue;
        nad_restore_gram *gr = calloc(1, sizeof *gr);
        if (!gr)
            goto nomem;
        ctx->gram[i] = gr;
        const nad_tensor *w = &g->tensors[g->nodes[i].in[1]];
        gr->kind = kind;
        gr->weight = g->nodes[i].in[1];
        gr->wndim = w->ndim;
        memcpy(gr->wdims, w->dims, sizeof gr->wdims);
        gr->F = F;
        gr->G = calloc((size_t)((F + 1) * (F + 1)), sizeof *gr->G);
        if (!gr->G)
            goto nomem;
        int64_t need = (F + 1) * pack_cols(F);
        pack_need = need > pack_need ? need : pack_need;
    }
    if (pack_need > 0 && !(pk.buf = malloc((size_t)pack_need * sizeof *pk.buf)))
        goto nomem;
    for (int64_t first = 0; first < n; first += max_batch) {
        int run = (int)(n - first < max_batch ? n - first : max_batch);
        memcpy(nad_plan_input(p), images + first * per_image, sizeof(float) * (size_t)(per_image * run));
        rc = nad_plan_run(p, run, e);
        if (rc) {
            nad_err_prefix(e, rc, "restore: ");
            goto out;
        }
        for (int i = 0; i < g->n_nodes; i++)
            if (ctx->gram[i]) {
                pk.cap = pack_cols(ctx->gram[i]->F);
                accumulate(p, i, ctx->gram[i], run, &pk);
            }
    }
    /* dsyrk filled the upper triangle; mirror it. */
    for (int i = 0; i < g->n_nodes; i++) {
        nad_restore_gram *gr = ctx->gram[i];
        if (!gr)
            continue;
        int64_t f1 = gr->F + 1;
        for (int64_t r = 1; r < f1; r++)
            for (int64_t c = 0; c < r; c++)
                gr->G[r * f1 + c] = gr->G[c * f1 + r];
    }
    *out = ctx;
    ctx = NULL;
    goto out;
nomem:
    rc = nad_errf(e, NAD_ENOMEM, "restore: out of memory for the Gram matrices of %d nodes", g->n_nodes);
out:
    free(pk.buf);
    nad_restore_free(ctx);
    nad_plan_destroy(p);
    return rc;
}

/* ---- application --------------------------------------------------------------- */

/* How a consumer's weight is laid out (from the node in g). */
typedef struct layout {
    int in_axis, out_axis;   /* weight axes of input entries and output rows */
    int64_t E, M;            /* entries along in_axis, rows along out_axis   */
    int64_t fpe;             /* features per entry (kh*kw for a Conv, else 1) */
    int rows_major;          /* 1: W[m, f] = w[m*F + f]; 0: w[f*M + m]       */
    int bias;                /* tensor index of an absorbing bias, or -1    */
    double bias_scale;       /* bias += bias_scale * constant coefficient   */
} layout;

/* Fills *l for consumer node nd of g.  Returns 0, or -1 when a
 * Gemm has alpha == 0 (its output does not depend on the weight). */
static int layout_of(const nad_graph *g, const nad_node *nd, layout *l)
{
    const nad_tensor *w = &g->tensors[nd->in[1]];
    int has_c = nd->n_in > 2 && nd->in[2] >= 0 && is_init_f32(g, nd->in[2]);
    memset(l, 0, sizeof *l);
    l->bias = -1;
    l->bias_scale = 1.0;
    if (nd->op == NAD_OP_CONV) {
        l->in_axis = 1, l->out_axis = 0, l->rows_major = 1;
        l->fpe = w->dims[2] * w->dims[3];
        if (has_c && nad_tensor_numel(&g->tensors[nd->in[2]]) == w->dims[0])
            l->bias = nd->in[2];
    } else if (nd->op == NAD_OP_GEMM) {
        const nad_gemm_attr *a = &nd->attr.gemm;
        if (a->alpha == 0.0f)
            return -1;
        l->in_axis = a->trans_b ? 1 : 0, l->out_axis = a->trans_b ? 0 : 1, l->rows_major = a->trans_b != 0;
        l->fpe = 1;
        /* C must be one value per output column ([M] or [1, M]) to absorb a
         * per-output constant; a scalar or per-row C cannot. */
        const nad_tensor *c = has_c ? &g->tensors[nd->in[2]] : NULL;
        int64_t m = w->dims[l->out_axis];
        if (c && a->beta != 0.0f && c->ndim >= 1 && c->ndim <= 2 && c->dims[c->ndim - 1] == m &&
            (c->ndim == 1 || c->dims[0] == 1)) {
            l->bias = nd->in[2];
            l->bias_scale = (double)a->alpha / (double)a->beta;
        }
    } else { /* MatMul */
        l->in_axis = w->ndim - 2, l->out_axis = w->ndim - 1, l->rows_major = 0;
        l->fpe = 1;
    }
    l->E = w->dims[l->in_axis];
    l->M = w->dims[l->out_axis];
    return 0;
}

/*
 * Marks, in mask[0..len), the entries of tensor `tensor` along `axis` that
 * kind-`kind` members of grp on node `node` remove (channels with
 * removed[k] set).  Returns NAD_EINVAL when such a member names another
 * tensor or axis, or reaches past len.
 */
static nad_status mark_removed(const nad_graph *g, const nad_group *grp, const char *removed, int node,
                               nad_member_kind kind, int tensor, int axis, char *mask, int64_t len, nad_err *e)
{
    for (int i = 0; i < grp->n_m; i++) {
        const nad_group_member *m = &grp->m[i];
        if (m->kind != kind || m->node != node)
            continue;
        if (kind == NAD_MEM_FILTERS && m->tensor != tensor)
            continue; /* e.g. filters of another weight of this node */
        if (m->tensor != tensor || m->axis != axis || m->per < 1 || m->offset < 0 ||
            m->offset + (int64_t)grp->channels * m->per > len)
            return nad_errf(e, NAD_EINVAL, "restore: group '%s': a %s member of node '%s' (tensor %d, axis %d, "
                            "offset %lld, per %lld) does not fit its weight '%s' (axis %d, %lld entries)",
                            grp->name, kind == NAD_MEM_INPUTS ? "inputs" : "filters", g->nodes[node].name,
                            m->tensor, m->axis, (long long)m->offset, (long long)m->per, g->tensors[tensor].name,
                            axis, (long long)len);
        for (int k = 0; k < grp->channels; k++)
            if (removed[k])
                memset(mask + m->offset + (int64_t)k * m->per, 1, (size_t)m->per);
    }
    return NAD_OK;
}

/* W_orig[m, f] of a weight laid out as l says (F = features). */
static inline double w_at(const float *w, const layout *l, int64_t F, int64_t m, int64_t f)
{
    return l->rows_major ? (double)w[m * F + f] : (double)w[f * l->M + m];
}

/*
 * Solves A X = B (A n x n symmetric, B n x nrhs, row-major; both are
 * overwritten, X in B).  Cholesky first when chol is set, then dgelsd.
 * Scratch: A0 holds n*n + n doubles, B0 n*nrhs, sv n.  Returns 0 on
 * success, 1 when no solution came out (keep the sliced weights), -1 when
 * LAPACKE ran out of memory.
 */
static int solve_spd(double *A, double *B, int n, int nrhs, int chol, double *A0, double *B0, double *sv)
{
    /* Equilibrate: D A D (D X') = D B with D = diag(A)^-1/2, so dgelsd's
     * relative cut-off compares features on one scale. */
    for (int i = 0; i < n; i++) {
        double d = A[(int64_t)i * n + i];
        sv[i] = d > 0.0 && isfinite(d) ? 1.0 / sqrt(d) : 1.0;
    }
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++)
            A[(int64_t)i * n + j] *= sv[i] * sv[j];
        for (int j = 0; j < nrhs; j++)
            B[(int64_t)i * nrhs + j] *= sv[i];
    }
    double *scale = A0 + (int64_t)n * n; /* n spare doubles after A0 */
    memcpy(scale, sv, (size_t)n * sizeof *sv);
    lapack_int info = 1;
    if (chol) {
        memcpy(A0, A, (size_t)n * (size_t)n * sizeof *A);
        memcpy(B0, B, (size_t)n * (size_t)nrhs * sizeof *B);
        info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', n, nrhs, A, n, B, nrhs);
        if (info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR)
            return -1;
        if (info != 0) {
            memcpy(A, A0, (size_t)n * (size_t)n * sizeof *A);
            memcpy(B, B0, (size_t)n * (size_t)nrhs * sizeof *B);
        }
    }
    if (info != 0) {
        lapack_int rank = 0;
        info = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, n, n, nrhs, A, n, B, nrhs, sv, NAD_RESTORE_RCOND, &rank);
        if (info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR)
            return -1;
        if (info != 0)
            return 1;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < nrhs; j++)
            B[(int64_t)i * nrhs + j] *= scale[i];
    return 0;
}

/*
 * Re-fits node `node` (an INPUTS member of grp) in pruned.  removed[k] marks
 * the group's removed channels.  See the top of the file.
 */
static nad_status restore_node(const nad_restore_ctx *ctx, const nad_graph *g, const nad_group *grp,
                               const char *removed, int node, nad_graph *pruned, double ridge, nad_err *e)
{
    nad_status rc = NAD_OK;
    const nad_node *nd = &g->nodes[node];
    const nad_restore_gram *gr = ctx->gram[node];
    char *emask = NULL, *rmask = NULL;
    int64_t *feat = NULL, *rows = NULL;
    double *A = NULL, *B = NULL, *GW = NULL, *Wt = NULL, *A0 = NULL, *B0 = NULL, *sv = NULL;
    if (!gr)
        return nad_errf(e, NAD_EUNSUPPORTED, "restore: node '%s' (%s) reads group '%s' but has no calibration "
                        "statistics (only group-1 Conv, Gemm and MatMul with an initializer weight and a batched "
                        "input are restored)", nd->name, nad_op_name(nd->op), grp->name);
    const nad_tensor *w = &g->tensors[gr->weight];
    if (nd->n_in < 2 || nd->in[1] != gr->weight || w->ndim != gr->wndim ||
        memcmp(w->dims, gr->wdims, sizeof w->dims) != 0 || !w->blob)
        return nad_errf(e, NAD_ESTATE, "restore: node '%s': its weight changed since nad_restore_prepare (prepare "
                        "on the graph that was pruned)", nd->name);
    layout l;
    if (layout_of(g, nd, &l))
        return NAD_OK; /* alpha == 0: nothing to fit */
    const int64_t F = gr->F;
    if (l.E * l.fpe != F)
        return nad_errf(e, NAD_ESTATE, "restore: node '%s': weight layout does not match its statistics", nd->name);

    emask = calloc((size_t)l.E, 1);
    rmask = calloc((size_t)l.M, 1);
    feat = malloc((size_t)(F + 1) * sizeof *feat);
    rows = malloc((size_t)l.M * sizeof *rows);
    if (!emask || !rmask || !feat || !rows)
        goto nomem;
    rc = mark_removed(g, grp, removed, node, NAD_MEM_INPUTS, gr->weight, l.in_axis, emask, l.E, e);
    if (!rc)
        rc = mark_removed(g, grp, removed, node, NAD_MEM_FILTERS, gr->weight, l.out_axis, rmask, l.M, e);
    if (rc)
        goto out;
    int64_t Ek = 0, nk = 0, R = 0;
    for (int64_t i = 0; i < l.E; i++)
        if (!emask[i]) {
            Ek++;
            for (int64_t t = 0; t < l.fpe; t++)
                feat[nk++] = i * l.fpe + t;
        }
    for (int64_t m = 0; m < l.M; m++)
        if (!rmask[m])
            rows[R++] = m;
    if (Ek == l.E || nk == 0 || R == 0)
        goto out; /* nothing of this node's input was removed */

    /* pruned must hold this node with its weight sliced to [R x Ek]. */
    if (pruned->n_nodes != g->n_nodes || pruned->n_tensors != g->n_tensors || pruned->nodes[node].n_in < 2 ||
        pruned->nodes[node].in[1] != gr->weight) {
        rc = nad_errf(e, NAD_ESTATE, "restore: the pruned graph does not have g's nodes and tensors");
        goto out;
    }
    nad_tensor *pw = &pruned->tensors[gr->weight];
    int shape_ok = pw->ndim == w->ndim && pw->blob && pw->dtype == NAD_DT_FLOAT;
    for (int d = 0; shape_ok && d < w->ndim; d++)
        shape_ok = pw->dims[d] == (d == l.in_axis ? Ek : d == l.out_axis ? R : w->dims[d]);
    nad_tensor *pb = l.bias >= 0 ? &pruned->tensors[l.bias] : NULL;
    if (pb && (!pb->blob || pb->dtype != NAD_DT_FLOAT || nad_tensor_numel(pb) != R))
        shape_ok = 0;
    if (!shape_ok || (size_t)nad_tensor_numel(pw) * sizeof(float) > pw->blob->bytes) {
        rc = nad_errf(e, NAD_ESHAPE, "restore: node '%s': the pruned weight '%s' (or its bias) is not the original "
                      "sliced to %lld inputs and %lld outputs", nd->name, pw->name, (long long)Ek, (long long)R);
        goto out;
    }

    /* S = kept features, then the constant when the bias absorbs it. */
    int use_c = l.bias >= 0;
    int64_t ns = nk + use_c;
    if (use_c)
        feat[nk] = F;
    const int64_t f1 = F + 1;
    A = malloc((size_t)(ns * ns) * sizeof *A);
    B = malloc((size_t)(ns * R) * sizeof *B);
    GW = malloc((size_t)(f1 * R) * sizeof *GW);
    Wt = malloc((size_t)(F * R) * sizeof *Wt);
    A0 = malloc((size_t)(ns * ns + ns) * sizeof *A0);
    B0 = malloc((size_t)(ns * R) * sizeof *B0);
    sv = malloc((size_t)ns * sizeof *sv);
    if (!A || !B || !GW || !Wt || !A0 || !B0 || !sv)
        goto nomem;

    /* Unknown: the correction D = V - W_k (sliced weights, bias change 0).
     * Residual X_S D - X_rem W_rem^T, so the right-hand side is
     * G[S, removed] W_rem^T: Wt holds W_R^T on the removed features' rows
     * and zeros on the kept ones, GW = G[0..F+1, 0..F) Wt, rows S picked. */
    const float *w0 = nad_tensor_f32(w);
    for (int64_t f = 0; f < F; f++)
        for (int64_t r = 0; r < R; r++)
            Wt[f * R + r] = emask[f / l.fpe] ? w_at(w0, &l, F, rows[r], f) : 0.0;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)f1, (int)R, (int)F, 1.0, gr->G, (int)f1, Wt, (int)R,
                0.0, GW, (int)R);
    double md = 0.0;
    for (int64_t i = 0; i < nk; i++)
        md += gr->G[feat[i] * f1 + feat[i]];
    md /= (double)nk;
    for (int64_t i = 0; i < ns; i++) {
        for (int64_t j = 0; j < ns; j++)
            A[i * ns + j] = gr->G[feat[i] * f1 + feat[j]];
        if (i < nk)
            A[i * ns + i] += ridge * md;
        memcpy(B + i * R, GW + feat[i] * R, (size_t)R * sizeof *B);
    }
    int s = solve_spd(A, B, (int)ns, (int)R, ridge > 0.0 && md > 0.0, A0, B0, sv);
    if (s < 0)
        goto nomem;
    if (s > 0)
        goto out; /* no solution: the sliced weights stay */
    /* V = W_k + D, the bias gets the constant's row; nothing is written
     * unless every value is a finite float. */
    for (int64_t i = 0; i < nk; i++)
        for (int64_t r = 0; r < R; r++) {
            double v = w_at(w0, &l, F, rows[r], feat[i]) + B[i * R + r];
            if (!isfinite(v) || fabs(v) > 3e38)
                goto out;
            B[i * R + r] = v;
        }
    const float *b0 = use_c ? nad_tensor_f32(&g->tensors[l.bias]) : NULL;
    for (int64_t r = 0; use_c && r < R; r++) {
        double v = (double)b0[rows[r]] + l.bias_scale * B[nk * R + r];
        if (!isfinite(v) || fabs(v) > 3e38)
            goto out;
        B[nk * R + r] = v;
    }

    /* Write V^T into the sliced weight: entry (r, i) of the new [R x nk]. */
    rc = nad_tensor_make_writable(pw, e);
    if (!rc && pb)
        rc = nad_tensor_make_writable(pb, e);
    if (rc)
        goto out;
    float *pwf = nad_tensor_f32(pw);
    for (int64_t i = 0; i < nk; i++)
        for (int64_t r = 0; r < R; r++) {
            float v = (float)B[i * R + r];
            if (l.rows_major)
                pwf[r * nk + i] = v;
            else
                pwf[i * R + r] = v;
        }
    if (use_c) {
        float *pbf = nad_tensor_f32(pb);
        for (int64_t r = 0; r < R; r++)
            pbf[r] = (float)B[nk * R + r];
    }
    goto out;
nomem:
    rc = nad_errf(e, NAD_ENOMEM, "restore: out of memory re-fitting node '%s' (%lld features)", nd->name,
                  (long long)F);
out:
    free(emask);
    free(rmask);
    free(feat);
    free(rows);
    free(A);
    free(B);
    free(GW);
    free(Wt);
    free(A0);
    free(B0);
    free(sv);
    return rc;
}

nad_status nad_restore_apply(const nad_restore_ctx *ctx, const nad_graph *g, const nad_group *grp, const int *keep,
                             int n_keep, nad_graph *pruned, double ridge, nad_err *e)
{
    nad_status rc = NAD_OK;
    char *removed = NULL, *done = NULL;
    if (!ctx || !g || !grp || !keep || !pruned || grp->channels < 1 || n_keep < 1 || n_keep > grp->channels ||
        !(ridge >= 0.0) || !isfinite(ridge) || (grp->n_m > 0 && !grp->m))
        return nad_errf(e, NAD_EINVAL, "restore: need a context, graphs, a group, 1 <= n_keep <= channels and a "
                        "finite ridge >= 0 (got n_keep %d, ridge %g)", n_keep, ridge);
    if (ctx->n_nodes != g->n_nodes)
        return nad_errf(e, NAD_ESTATE, "restore: the context was prepared on a graph of %d nodes, not %d",
                        ctx->n_nodes, g->n_nodes);
    removed = malloc((size_t)grp->channels);
    done = calloc((size_t)(g->n_nodes > 0 ? g->n_nodes : 1), 1);
    if (!removed || !done) {
        rc = nad_errf(e, NAD_ENOMEM, "restore: out of memory");
        goto out;
    }
    memset(removed, 1, (size_t)grp->channels);
    for (int i = 0; i < n_keep; i++) {
        if (keep[i] < 0 || keep[i] >= grp->channels || (i > 0 && keep[i] <= keep[i - 1])) {
            rc = nad_errf(e, NAD_EINVAL, "restore: group '%s': keep[%d] = %d is not ascending in [0, %d)", grp->name,
                          i, keep[i], grp->channels);
            goto out;
        }
        removed[keep[i]] = 0;
    }
    for (int i = 0; i < grp->n_m && !rc; i++) {
        const nad_group_member *m = &grp->m[i];
        if (m->kind != NAD_MEM_INPUTS)
            continue;
        if (m->node < 0 || m->node >= g->n_nodes) {
            rc = nad_errf(e, NAD_EINVAL, "restore: group '%s': member node %d out of range", grp->name, m->node);
            break;
        }
        if (done[m->node])
            continue; /* all of a node's members are handled at once */
        done[m->node] = 1;
        rc = restore_node(ctx, g, grp, removed, m->node, pruned, ridge, e);
    }
out:
    free(removed);
    free(done);
    return rc;
}
