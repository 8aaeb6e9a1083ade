/*
 * nadapt — one NetAdapt iteration's proposals: for every prunable group the
 * largest channel count meeting the target (measured by the back-end), then
 * recovery and scoring of each candidate in parallel.
 *
 * Determinism: the reduction search runs first, on the calling thread, in
 * group order (the back-end is not thread-safe and needs none).  Each
 * proposal's recovery is a pure function of (current network, group, run
 * seed, iteration): it fine-tunes with one thread and a seed derived from the
 * iteration and the group's name, never from the worker that runs it, so any
 * --jobs gives bit-identical results.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "adapt/adapt_internal.h"
#include "reduce.h"
#include "restore.h"

/* FNV-1a of a string, to derive a group's seed from its stable name. */
static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

typedef struct measure_ctx {
    nad_backend *be;
    nad_resource res;
    double values[NAD_RES_COUNT];
} measure_ctx;

/* The reduction search's measure: one resource of a candidate network. */
static nad_status measure_one(void *ctx, const nad_graph *g, double *value, nad_err *e)
{
    measure_ctx *m = ctx;
    nad_status rc = nad_backend_measure(m->be, g, m->values, e);
    *value = m->values[m->res];
    return rc;
}

/* Reduction search for every prunable group; fills props, *n. */
static nad_status search_all(adapt_run *r, nad_graph *cur, const nad_groups *gs, nad_resource res, double target,
                             adapt_prop *props, int *n, nad_err *e)
{
    *n = 0;
    for (int q = 0; q < gs->n; q++) {
        const nad_group *grp = &gs->g[q];
        if (grp->frozen || grp->channels < 2)
            continue;
        double *score = malloc((size_t)grp->channels * sizeof *score);
        if (!score)
            return nad_errf(e, NAD_ENOMEM, "adapt: out of memory");
        nad_status rc = nad_rank_channels(cur, grp, r->cfg.rank_l1 ? NAD_RANK_L1 : NAD_RANK_L2, score, e);
        measure_ctx m = {.be = r->be, .res = res};
        nad_reduce_result red;
        if (!rc)
            rc = nad_reduce_search(cur, grp, score, r->cfg.multiple, measure_one, &m, target, &red, e);
        free(score);
        if (rc)
            return rc;
        if (red.n_keep == 0)
            continue;
        adapt_prop *p = &props[(*n)++];
        p->group = q;
        p->n_keep = red.n_keep;
        p->g = red.graph;
        rc = nad_backend_measure(r->be, p->g, p->values, e);
        if (rc)
            return rc;
    }
    return NAD_OK;
}

typedef struct job_ctx {
    adapt_run *r;
    nad_graph *cur;
    const nad_groups *gs;
    const nad_restore_ctx *rctx;
    adapt_prop *props;
    int n, iteration;
    int next;
    pthread_mutex_t lock;
    nad_status rc;
    nad_err err;
} job_ctx;

/* Restores, fine-tunes and scores one proposal (one thread). */
static nad_status recover(job_ctx *j, adapt_prop *p, nad_err *e)
{
    adapt_run *r = j->r;
    double t = adapt_now();
    const nad_group *grp = &j->gs->g[p->group];
    nad_status rc = NAD_OK;
    if (j->rctx) {
        double *score = malloc((size_t)grp->channels * sizeof *score);
        int *keep = malloc((size_t)p->n_keep * sizeof *keep);
        if (!score || !keep)
            rc = nad_errf(e, NAD_ENOMEM, "adapt: out of memory");
        if (!rc)
            rc = nad_rank_channels(j->cur, grp, r->cfg.rank_l1 ? NAD_RANK_L1 : NAD_RANK_L2, score, e);
        if (!rc) {
            nad_rank_keep(score, grp->channels, p->n_keep, keep);
            rc = nad_restore_apply(j->rctx, j->cur, grp, keep, p->n_keep, p->g, r->cfg.restore_ridge, e);
        }
        free(score);
        free(keep);
        if (rc)
            return rc;
    }
    p->t_restore += adapt_now() - t; /* (+=: proposal 0 carries the shared Gram matrices) */
    t = adapt_now();
    if (r->cfg.short_steps > 0) {
        nad_train_config tc;
        uint64_t seed = r->cfg.seed * 1000003ULL + (uint64_t)j->iteration * 7919ULL + name_hash(grp->name);
        adapt_train_cfg(r, r->cfg.short_steps, r->cfg.short_lr, 0, seed, 1, &tc);
        rc = nad_finetune(p->g, r->train, r->train_idx, r->n_train, &tc, NULL, e);
        /* The run's recipe was checked when it started, so NAD_EINVAL here
         * is nad_finetune's divergence stop: this proposal is out, the
         * iteration goes on. */
        if (rc == NAD_EINVAL) {
            p->holdout = -1;
            p->t_finetune = adapt_now() - t;
            return NAD_OK;
        }
        if (rc)
            return rc;
    }
    p->t_finetune = adapt_now() - t;
    t = adapt_now();
    rc = adapt_top1(r, p->g, 0, 1, &p->holdout, e);
    if (!rc && !adapt_finite(p->g))
        p->holdout = -1; /* diverged: never picked */
    p->t_eval = adapt_now() - t;
    return rc;
}

/* A worker: takes proposals in order until none is left or one failed. */
static void *worker(void *arg)
{
    job_ctx *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        int k = j->rc ? j->n : j->next++;
        pthread_mutex_unlock(&j->lock);
        if (k >= j->n)
            return NULL;
        nad_err e;
        nad_status rc = recover(j, &j->props[k], &e);
        if (rc) {
            pthread_mutex_lock(&j->lock);
            if (!j->rc) {
                j->rc = rc;
                j->err = e;
            }
            pthread_mutex_unlock(&j->lock);
        }
    }
}

/* Runs recover() over every proposal on cfg.jobs threads. */
static nad_status recover_all(job_ctx *j, nad_err *e)
{
    int jobs = j->r->cfg.jobs < j->n ? j->r->cfg.jobs : j->n;
    pthread_t th[64];
    int started = 0;
    pthread_mutex_init(&j->lock, NULL);
    for (int k = 1; k < jobs && k < 64; k++)
        if (pthread_create(&th[started], NULL, worker, j) == 0)
            started++;
    worker(j);
    for (int k = 0; k < started; k++)
        pthread_join(th[k], NULL);
    pthread_mutex_destroy(&j->lock);
    if (j->rc)
        *e = j->err;
    return j->rc;
}

/* Calibration batch for restoration: the network's layers see these images. */
static nad_status prepare_restore(adapt_run *r, nad_graph *cur, nad_restore_ctx **out, nad_err *e)
{
    *out = NULL;
    if (!r->cfg.restore || r->n_calib < 1)
        return NAD_OK;
    int64_t per = (int64_t)r->train->c * r->train->h * r->train->w;
    int old = cur->batch;
    nad_status rc = nad_restore_prepare(cur, r->calib, r->n_calib, per, 64, out, e);
    nad_status rc2 = nad_graph_infer_shapes(cur, old > 0 ? old : 1, e);
    return rc ? rc : rc2;
}

/* See adapt_internal.h. */
nad_status adapt_propose(adapt_run *r, int iteration, nad_graph *cur, const nad_groups *gs, nad_resource res,
                         double target, adapt_prop **props, int *n_props, nad_err *e)
{
    *props = NULL;
    *n_props = 0;
    adapt_prop *p = calloc((size_t)(gs->n ? gs->n : 1), sizeof *p);
    if (!p)
        return nad_errf(e, NAD_ENOMEM, "adapt: out of memory");
    int n = 0;
    nad_restore_ctx *rctx = NULL;
    double t = adapt_now();
    nad_status rc = search_all(r, cur, gs, res, target, p, &n, e);
    r->t_search = adapt_now() - t;
    if (!rc && n > 0)
        rc = prepare_restore(r, cur, &rctx, e);
    if (n > 0)
        p[0].t_restore += adapt_now() - t - r->t_search; /* the shared Gram matrices */
    if (!rc && n > 0) {
        job_ctx j = {.r = r, .cur = cur, .gs = gs, .rctx = rctx, .props = p, .n = n, .iteration = iteration};
        rc = recover_all(&j, e);
    }
    nad_restore_free(rctx);
    if (rc) {
        adapt_props_free(p, gs->n);
        return rc;
    }
    *props = p;
    *n_props = n;
    return NAD_OK;
}

/* See adapt_internal.h. */
void adapt_props_free(adapt_prop *p, int n)
{
    if (!p)
        return;
    for (int k = 0; k < n; k++)
        nad_graph_free(p[k].g);
    free(p);
}

/* See adapt_internal.h. */
nad_status adapt_smallest(const adapt_run *r, const nad_graph *g, double values[NAD_RES_COUNT], nad_err *e)
{
    nad_graph *cur = nad_graph_copy(g);
    if (!cur)
        return nad_errf(e, NAD_ENOMEM, "adapt: out of memory");
    nad_status rc = NAD_OK;
    /* Each shrink moves other groups' offsets: find the groups again after each. */
    for (int done = 0; !done && !rc;) {
        nad_groups *gs = NULL;
        rc = nad_groups_find(cur, &gs, e);
        done = 1;
        for (int q = 0; !rc && q < gs->n; q++) {
            const nad_group *grp = &gs->g[q];
            int least = r->cfg.multiple < grp->channels ? r->cfg.multiple : 1;
            if (grp->frozen || grp->channels <= least)
                continue;
            int *keep = malloc((size_t)least * sizeof *keep);
            if (!keep) {
                rc = nad_errf(e, NAD_ENOMEM, "adapt: out of memory");
                break;
            }
            for (int k = 0; k < least; k++)
                keep[k] = k;
            nad_graph *next = NULL;
            rc = nad_shrink(cur, grp, keep, least, &next, e);
            free(keep);
            if (!rc) {
                nad_graph_free(cur);
                cur = next;
                done = 0;
            }
            break;
        }
        nad_groups_free(gs);
    }
    if (!rc)
        rc = nad_backend_measure(r->be, cur, values, e);
    nad_graph_free(cur);
    return rc;
}
