/*
 * nadapt — how the adapter trains and scores a network (internal): the
 * run's SGD recipe, held-out and test top-1, the finiteness check that keeps
 * a diverged network out, and the clock.  Shared by the loop (run.c) and the
 * proposals (propose.c), so both train and score alike.
 */
#include <string.h>
#include <time.h>

#include "adapt/adapt_internal.h"

/* See adapt_internal.h. */
double adapt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* See adapt_internal.h. */
void adapt_train_cfg(const adapt_run *r, int64_t steps, double lr, int cosine, uint64_t seed, int threads,
                     nad_train_config *t)
{
    nad_train_config_defaults(t);
    t->lr = lr;
    t->momentum = r->cfg.momentum;
    t->weight_decay = r->cfg.weight_decay;
    t->schedule = cosine ? NAD_LR_COSINE : NAD_LR_CONSTANT;
    t->cosine_min = 0;
    t->batch = r->cfg.batch;
    t->steps = steps;
    t->seed = seed;
    t->n_norm = r->cfg.n_norm;
    memcpy(t->mean, r->cfg.mean, sizeof t->mean);
    memcpy(t->std, r->cfg.std, sizeof t->std);
    t->threads = threads;
    t->eval_batch = 256;
}

/* See adapt_internal.h. */
nad_status adapt_top1(const adapt_run *r, nad_graph *g, int test, int threads, double *top1, nad_err *e)
{
    nad_train_config t;
    adapt_train_cfg(r, 0, 0.01, 0, 1, threads, &t);
    nad_eval_result res;
    nad_status rc = test ? nad_train_evaluate(g, r->test, NULL, r->test->n, &t, &res, e)
                         : nad_train_evaluate(g, r->train, r->hold_idx, r->n_hold, &t, &res, e);
    *top1 = rc ? 0 : res.top1;
    return rc;
}

/* See adapt_internal.h. */
int adapt_finite(const nad_graph *g)
{
    for (int t = 0; t < g->n_tensors; t++) {
        const nad_tensor *x = &g->tensors[t];
        if (x->kind != NAD_TK_WEIGHT || x->dtype != NAD_DT_FLOAT || !x->blob)
            continue;
        const float *v = nad_tensor_f32(x);
        int64_t n = nad_tensor_numel(x);
        float acc = 0; /* inf or NaN anywhere makes the sum non-finite (x*0 keeps NaN/inf as NaN) */
        for (int64_t i = 0; i < n; i++)
            acc += v[i] * 0.0f;
        if (acc != 0.0f)
            return 0;
    }
    return 1;
}

