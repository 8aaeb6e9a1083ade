/*
 * nadapt — the adapter's shared state (internal to src/adapt/).
 *
 * run.c drives the NetAdapt loop and the run directory; propose.c makes and
 * recovers one iteration's proposals (in parallel); score.c trains and
 * scores a network by the run's recipe; describe.c writes the
 * dry-run report; config.c reads and writes the configuration; history.c
 * the history; plot.c the pictures.
 */
#ifndef NAD_ADAPT_INTERNAL_H
#define NAD_ADAPT_INTERNAL_H

#include <stdint.h>

#include "adapt/history.h"
#include "graph/graph.h"
#include "groups.h"
#include "nadapt/adapt.h"
#include "nadapt/backend.h"
#include "nadapt/data.h"
#include "nadapt/train.h"

typedef struct adapt_run {
    nad_adapt_config cfg;
    const nad_adapt_hooks *hooks;
    nad_backend *be;
    nad_dataset *train, *test;
    int64_t *train_idx, n_train; /* fine-tuning images (training split minus held-out) */
    int64_t *hold_idx, n_hold;   /* held-out images: every decision is made on them  */
    float *calib;                /* restoration images, normalised                   */
    int n_calib;
    double r0[NAD_RES_COUNT];    /* the original network's resources                 */
    double limit[NAD_RES_COUNT]; /* budgets in base units; 0: none                   */
    double aim[NAD_RES_COUNT];   /* what the loop meets: the limit, less the timing
                                    margin for a timed resource                      */
    nad_history hist;
    double t0;       /* wall clock at the start of this process's work */
    double t_search; /* the last iteration's reduction search, seconds */
} adapt_run;

/* One candidate network of an iteration. */
typedef struct adapt_prop {
    int group;                    /* index in the iteration's groups  */
    int n_keep;
    nad_graph *g;                 /* the shrunk, then recovered, network */
    double values[NAD_RES_COUNT];
    double holdout;               /* held-out top-1 after recovery    */
    double t_restore, t_finetune, t_eval; /* seconds of each recovery step */
} adapt_prop;

/* Makes an existing path absolute in place (backends.c). */
void adapt_absolute(char *path, size_t size);

/* Makes the target, the lookup table and the paths inside back-end specs
 * absolute (backends.c). */
void adapt_backend_absolute(nad_adapt_config *c);

/* Opens the run's back-ends: lut, then c->backends in order, then the
 * target's model; each resource from the first that reports it. */
nad_status adapt_backend_open(const nad_adapt_config *c, nad_backend **out, nad_err *e);

/* NAD_EINVAL naming the budget when no back-end reports its resource. */
nad_status adapt_backend_check_budgets(const nad_backend *be, const nad_adapt_config *c, nad_err *e);

/* The energy unit of the run's history ("none" when no back-end reports
 * energy). */
const char *adapt_energy_unit(const nad_backend *be);

/* Wall-clock seconds (monotonic). */
double adapt_now(void);

/* The training recipe of the run for `steps` steps at lr (constant or cosine). */
void adapt_train_cfg(const adapt_run *r, int64_t steps, double lr, int cosine, uint64_t seed, int threads,
                     nad_train_config *t);

/* Held-out (or test when test != 0) top-1 of g with `threads` threads. */
nad_status adapt_top1(const adapt_run *r, nad_graph *g, int test, int threads, double *top1, nad_err *e);

/*
 * Makes one proposal per prunable group of cur that meets `target` on
 * resource `res` (reduction search), recovers each (restoration, short
 * fine-tuning) and scores it on the held-out set, cfg.jobs at a time.  *props
 * is a new array of *n_props entries (free with adapt_props_free).
 */
nad_status adapt_propose(adapt_run *r, int iteration, nad_graph *cur, const nad_groups *gs, nad_resource res,
                         double target, adapt_prop **props, int *n_props, nad_err *e);

void adapt_props_free(adapt_prop *p, int n);

/* True when every weight of g is finite (a diverged fine-tuning is never
 * kept or written). */
int adapt_finite(const nad_graph *g);

/* The network with every prunable group cut to its smallest allowed count:
 * the least any budget can reach. */
nad_status adapt_smallest(const adapt_run *r, const nad_graph *g, double values[NAD_RES_COUNT], nad_err *e);

#endif
