/*
 * Running a plan: one call per step into the kernels, with the batch split
 * into contiguous slices over threads when every step works image by image.
 *
 * Why split the batch rather than each layer: the Fashion-MNIST nets here are
 * small (tens of KB of weights, GEMMs of a few dozen rows), so per-layer
 * threading (OpenBLAS's, or a channel split) pays a synchronisation per layer
 * and leaves most GEMMs too small to split well.  Slices of whole images need
 * no synchronisation until the end of the run, and each thread's kernels run
 * single-threaded at full speed on its own core.
 */
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "engine/plan.h"
#include "engine/pool.h"

/* The thread count set by nad_set_threads: the engine's only global (the
 * public API sets it process-wide, as OpenBLAS's own setting is). */
static int engine_threads = 1;

/* See engine.h. */
void nad_set_threads(int n)
{
    if (n < 1)
        n = 1;
    engine_threads = n;
    openblas_set_num_threads(n);
}

/* See engine.h. */
int nad_get_threads(void)
{
    return engine_threads;
}

/* See plan.h. */
int nad_engine_threads(void)
{
    return engine_threads;
}

static int batch_first(const nad_plan *p, int t)
{
    const nad_tensor *x = &p->g->tensors[t];
    return p->act[t] && x->batch_axis == 0 && x->ndim > 0 && x->dims[0] == p->max_batch;
}

/* Tensor t's data for the slice starting at image b0. */
static float *slice_data(const nad_plan *p, int t, int b0)
{
    float *base = nad_plan_data(p, t);
    return batch_first(p, t) ? base + (size_t)b0 * (size_t)p->img_stride[t] : base;
}

/* Tensor t's dims for a slice of cnt images; returns the rank. */
static int slice_dims(const nad_plan *p, int t, int cnt, int64_t *d)
{
    const nad_tensor *x = &p->g->tensors[t];
    memcpy(d, x->dims, sizeof x->dims);
    if (batch_first(p, t))
        d[0] = cnt;
    return x->ndim;
}

static int64_t prod(const int64_t *d, int from, int to)
{
    int64_t r = 1;
    for (int i = from; i < to; i++)
        r *= d[i];
    return r;
}

/* Runs step st on images [b0, b0 + cnt); ws is this thread's workspace. */
static void run_step(const nad_plan *p, const nad_plan_step *st, int b0, int cnt, float *ws)
{
    const nad_graph *g = p->g;
    const nad_node *n = &g->nodes[st->node];
    const int in0 = n->in[0];
    const float *x = slice_data(p, in0, b0);
    float *y = slice_data(p, st->out, b0);
    int64_t dx[NAD_MAX_DIMS], dy[NAD_MAX_DIMS], db[NAD_MAX_DIMS];
    int rx = slice_dims(p, in0, cnt, dx), ry = slice_dims(p, st->out, cnt, dy);
    const float *in1 = n->n_in > 1 && n->in[1] >= 0 ? slice_data(p, n->in[1], b0) : NULL;
    const float *in2 = n->n_in > 2 && n->in[2] >= 0 ? slice_data(p, n->in[2], b0) : NULL;

    switch (st->kernel) {
    case NAD_K_ALIAS:
    case NAD_K_COUNT:
        break;
    case NAD_K_COPY:
        if (x != y)
            memmove(y, x, (size_t)prod(dy, 0, ry) * sizeof(float));
        break;
    case NAD_K_CONV:
        nad_k_conv(&st->geom.conv, (int)dx[0], x, in1, in2, &st->act, y, ws);
        break;
    case NAD_K_GEMM: {
        const nad_gemm_attr *a = &n->attr.gemm;
        int m = batch_first(p, in0) && !a->trans_a ? (int)dx[0] : st->geom.gemm.m;
        nad_k_gemm(m, st->geom.gemm.n, st->geom.gemm.k, a->alpha, x, a->trans_a, in1, a->trans_b, a->beta, in2,
                   st->geom.gemm.cm, st->geom.gemm.cn, &st->act, y);
        break;
    }
    case NAD_K_MATMUL: {
        int rb = slice_dims(p, n->in[1], cnt, db);
        int m = (int)dx[rx - 2], k = (int)dx[rx - 1], nn = (int)db[rb - 1];
        int64_t batch = prod(dy, 0, ry - 2), la = prod(dx, 0, rx - 2), lb = prod(db, 0, rb - 2);
        int64_t sa = la == 1 ? 0 : (int64_t)m * k, sb = lb == 1 ? 0 : (int64_t)k * nn;
        if (sb == 0 && sa != 0) { /* B shared: one GEMM over all of A's rows */
            m *= (int)batch;
            batch = 1;
        }
        nad_k_matmul((int)batch, m, nn, k, x, sa, in1, sb, y);
        break;
    }
    case NAD_K_BINARY: {
        nad_bcast bc;
        int rb = slice_dims(p, n->in[1], cnt, db);
        nad_k_bcast_init(&bc, dx, rx, db, rb); /* checked at plan time */
        nad_k_binary((nad_binop)(n->op - NAD_OP_ADD), &bc, x, in1, y);
        if (st->act.kind != NAD_ACT_NONE) /* fused Relu/Clip/LeakyRelu */
            nad_k_act(&st->act, y, y, (size_t)prod(dy, 0, ry));
        break;
    }
    case NAD_K_ACT:
        nad_k_act(&st->act, x, y, (size_t)prod(dy, 0, ry));
        break;
    case NAD_K_BATCHNORM: {
        const float *mean = slice_data(p, n->in[3], b0), *var = slice_data(p, n->in[4], b0);
        nad_k_batchnorm((int)dx[0], (int)dx[1], prod(dx, 2, rx), x, in1, in2, mean, var, n->attr.bn.epsilon,
                        &st->act, y);
        break;
    }
    case NAD_K_SOFTMAX: {
        int64_t outer = st->geom.axis.outer;
        if (batch_first(p, in0))
            outer = outer / p->max_batch * cnt;
        nad_k_softmax(outer, st->geom.axis.len, st->geom.axis.inner, x, y);
        break;
    }
    case NAD_K_MAXPOOL:
        nad_k_maxpool(&st->geom.pool, (int)dx[0], x, y);
        break;
    case NAD_K_AVGPOOL:
        nad_k_avgpool(&st->geom.pool, (int)dx[0], x, y);
        break;
    case NAD_K_GLOBAL_AVGPOOL:
        nad_k_global_avgpool(dx[0] * dx[1], prod(dx, 2, rx), x, y);
        break;
    case NAD_K_GLOBAL_MAXPOOL:
        nad_k_global_maxpool(dx[0] * dx[1], prod(dx, 2, rx), x, y);
        break;
    case NAD_K_TRANSPOSE: {
        int perm[NAD_MAX_DIMS];
        for (int d = 0; d < rx; d++)
            perm[d] = n->attr.ints.n ? (int)n->attr.ints.v[d] : rx - 1 - d;
        nad_k_transpose(rx, dx, perm, x, y);
        break;
    }
    case NAD_K_CONCAT: {
        int axis = (int)st->geom.axis.len;
        int64_t outer = prod(dy, 0, axis), inner = prod(dy, axis + 1, ry), off = 0;
        for (int k = 0; k < n->n_in; k++) {
            if (n->in[k] < 0)
                continue;
            int64_t len = g->tensors[n->in[k]].dims[axis];
            nad_k_concat_part(outer, len, inner, dy[axis], off, slice_data(p, n->in[k], b0), y);
            off += len;
        }
        if (st->act.kind != NAD_ACT_NONE) /* fused Relu/Clip/LeakyRelu */
            nad_k_act(&st->act, y, y, (size_t)prod(dy, 0, ry));
        break;
    }
    case NAD_K_PAD:
        nad_k_pad(rx, dx, n->attr.pad.pads, n->attr.pad.mode, n->attr.pad.value, x, y);
        break;
    }
}

typedef struct slice_job {
    const nad_plan *p;
    int b0, cnt;
    float *ws;
} slice_job;

/*
 * Runs every step on one slice of images, in chunks of p->chunk images: all
 * steps on a few images keep their activations in the core's L2, where a
 * whole 32-image slice per step would stream megabytes through memory.
 * Chunks are sub-slices, so the slot layout (img_stride) stays valid.
 */
static void *run_slice(void *arg)
{
    const slice_job *j = arg;
    const int chunk = j->p->batch_split && j->p->chunk > 0 ? j->p->chunk : j->cnt;
    for (int c = 0; c < j->cnt; c += chunk) {
        const int cnt = j->cnt - c < chunk ? j->cnt - c : chunk;
        for (int s = 0; s < j->p->n_steps; s++)
            run_step(j->p, &j->p->steps[s], j->b0 + c, cnt, j->ws);
    }
    return NULL;
}

/* Makes sure the workspace holds ws_floats for each of threads threads. */
static nad_status ensure_workspace(nad_plan *p, int threads, nad_err *e)
{
    if (p->ws && p->ws_threads >= threads)
        return NAD_OK;
    size_t per = (p->ws_floats + 15) / 16 * 16; /* keep each thread's part 64-byte aligned */
    float *ws = aligned_alloc(64, (per ? per : 16) * (size_t)threads * sizeof(float));
    if (!ws)
        return nad_errf(e, NAD_ENOMEM, "out of memory: %zu MiB of conv workspace",
                        per * (size_t)threads * sizeof(float) >> 20);
    free(p->ws);
    p->ws = ws;
    p->ws_threads = threads;
    return NAD_OK;
}

/* See engine.h.  Plans without batch_split always compute max_batch images
 * (the output's first n rows are the answer), since their steps mix images. */
nad_status nad_plan_run(nad_plan *p, int n, nad_err *e)
{
    if (!p)
        return nad_errf(e, NAD_EINVAL, "nad_plan_run: NULL plan");
    if (n < 1 || n > p->max_batch)
        return nad_errf(e, NAD_EINVAL, "nad_plan_run: %d images requested, plan holds 1..%d", n, p->max_batch);
    const int threads = engine_threads;
    int t_used = p->batch_split ? (n < threads ? n : threads) : 1;
    nad_status rc = ensure_workspace(p, t_used, e);
    if (rc)
        return rc;
    size_t per = (p->ws_floats + 15) / 16 * 16;
    if (t_used == 1) {
        slice_job j = {p, 0, p->batch_split ? n : p->max_batch, p->ws};
        run_slice(&j);
        p->last_n = n;
        return NAD_OK;
    }
    slice_job jobs[64];
    void *args[64];
    if (t_used > 64)
        t_used = 64;
    for (int t = 0, b0 = 0; t < t_used; t++) {
        int cnt = n / t_used + (t < n % t_used);
        jobs[t] = (slice_job){p, b0, cnt, p->ws + per * (size_t)t};
        args[t] = &jobs[t];
        b0 += cnt;
    }
    /* Slices 1.. go to the pool's workers, slice 0 runs here.  OpenBLAS's
     * thread count is left alone: the engine's own kernels do the conv and
     * dense work, and calling openblas_set_num_threads() on every run woke
     * OpenBLAS's worker threads, which then spun (sched_yield) for
     * milliseconds on the core the second slice needed. */
    if (p->pool && nad_pool_size(p->pool) != t_used - 1) {
        nad_pool_destroy(p->pool);
        p->pool = NULL;
    }
    if (!p->pool)
        p->pool = nad_pool_create(t_used - 1);
    if (!p->pool) { /* no threads available: run the slices one after another */
        for (int t = 0; t < t_used; t++)
            run_slice(&jobs[t]);
    } else {
        nad_pool_run(p->pool, run_slice, args, t_used);
    }
    p->last_n = n;
    return NAD_OK;
}
