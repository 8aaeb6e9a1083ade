/*
 * nadapt — the adapter: NetAdapt filter pruning under resource budgets
 * (Yang et al., "NetAdapt: Platform-Aware Neural Network Adaptation for
 * Mobile Applications", ECCV 2018).
 *
 * Each iteration tightens the budget of the resource furthest from its budget
 * by dR (a fraction of that resource's starting value that decays
 * geometrically), proposes for every prunable channel group the largest
 * channel count that meets the tightened target, recovers each proposal's
 * accuracy (least-squares restoration of the layers that read the pruned
 * channels, then short fine-tuning), scores it on a held-out split of the
 * training data, and keeps the best.  When every budget is met the network is
 * fine-tuned for longer and scored on the test set.
 *
 * A run lives in a directory (see nad_adapt_run): config.yaml, history.csv,
 * iter_NNN.onnx per iteration, final.onnx, curve.svg, breakdown.svg.  Every
 * file is written to a temporary name and renamed, and a run killed at any
 * moment resumes from its last completed iteration with the same result.
 *
 *     nad_adapt_config c;
 *     nad_adapt_config_defaults(&c);
 *     snprintf(c.model, sizeof c.model, "net.onnx");  ... target, data, out
 *     nad_adapt_budget_parse("energy=0.5", &c.budgets[c.n_budgets++], &e);
 *     nad_adapt_summary s;
 *     nad_adapt_run(&c, &s, &e);
 */
#ifndef NADAPT_ADAPT_H
#define NADAPT_ADAPT_H

#include <stdint.h>

#include "nadapt/backend.h"
#include "nadapt/estimate.h"
#include "nadapt/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NAD_ADAPT_PATH_MAX 1024
#define NAD_ADAPT_MAX_BACKENDS 6

/* One budget: resource <= value (absolute, in the back-end's unit) or
 * <= value x the original network's resource (relative). */
typedef struct nad_budget {
    nad_resource res;
    int relative;  /* 1: value is a fraction of the original             */
    double value;  /* the fraction, or the absolute value in base units  */
    char text[64]; /* as the user wrote it, e.g. "latency=2ms"           */
} nad_budget;

/* How the best proposal of an iteration is chosen. */
typedef enum nad_pick {
    NAD_PICK_ACCURACY = 0, /* highest held-out accuracy (the paper)                 */
    NAD_PICK_PER_RESOURCE, /* least held-out accuracy lost per unit of the driving
                              resource saved (the official NetAdapt code)          */
} nad_pick;

typedef struct nad_adapt_config {
    char model[NAD_ADAPT_PATH_MAX];  /* the trained ONNX classifier            */
    char target[NAD_ADAPT_PATH_MAX]; /* models/NAME.yaml (model back-end), or "" */
    /* Back-end specifications (backend.h: host, plugin:PATH.so, exec:CMD, ...);
     * each resource comes from the first that reports it: lut:LUT, then
     * backends[] in order, then the target's model. */
    char backends[NAD_ADAPT_MAX_BACKENDS][NAD_ADAPT_PATH_MAX];
    int n_backends;
    char lut[NAD_ADAPT_PATH_MAX];    /* a lookup table (nadapt lut build), or "" */
    char data[NAD_ADAPT_PATH_MAX];   /* dataset (train split + test split)     */
    char out[NAD_ADAPT_PATH_MAX];    /* the run directory                      */
    nad_objective objective;         /* the mapper's objective                 */
    double act_density;              /* 0: dense; else as estimate's option    */
    nad_budget budgets[NAD_RES_COUNT];
    int n_budgets;
    double timing_margin; /* a timed budget is met at (1 - this) x its value (0.05) */
    /* The dR schedule: iteration i (1-based) removes
     * step_init * step_decay^(i-1) * R0 of the driving resource. */
    double step_init;  /* fraction of the starting resource (0.1)          */
    double step_decay; /* geometric decay per iteration (0.9)              */
    int max_iters;     /* stop after this many iterations (100)            */
    int multiple;      /* proposed channel counts are multiples of this (1) */
    int rank_l1;       /* 1: rank filters by L1 norm; 0: L2 (default)      */
    nad_pick pick;
    /* Recovery of each proposal. */
    int restore;          /* least-squares restoration on (1)              */
    int restore_images;   /* calibration images for it (256)               */
    double restore_ridge; /* ridge as a fraction of the mean feature energy (1e-3) */
    int64_t short_steps;  /* short-term fine-tuning steps per proposal      */
    double short_lr;
    int64_t long_steps;   /* long-term fine-tuning steps at the end         */
    double long_lr;       /* peak of the cosine schedule                    */
    int batch;            /* training batch                                 */
    double momentum, weight_decay;
    int holdout;          /* held-out images carved from the training split */
    int eval_test;        /* score every iteration on the test split (1)    */
    int n_norm;
    float mean[4], std[4];
    uint64_t seed;
    int jobs;    /* proposals evaluated in parallel (results do not depend on it) */
    int threads; /* threads for the parts that are not per-proposal             */
} nad_adapt_config;

/* Defaults for everything but the paths and budgets. */
void nad_adapt_config_defaults(nad_adapt_config *c);

/*
 * Parses "NAME=VALUE": NAME one of energy, latency, macs, params, dram;
 * VALUE a fraction (0.5), a percentage (40%), or an absolute value with a
 * unit: energy in pJ/nJ/uJ/mJ/J (or the target's own unit, MAC), latency in
 * s/ms/us/ns, counts with an optional k/M/G suffix.  A bare number above 1 is
 * absolute for counts and an error for energy and latency (a unit is
 * required).  Units are checked against the target when the run starts.
 */
nad_status nad_adapt_budget_parse(const char *text, nad_budget *out, nad_err *e);

/* Reads a run configuration (YAML; every key optional, unknown keys are errors
 * naming the line) on top of *c. */
nad_status nad_adapt_config_load(const char *path, nad_adapt_config *c, nad_err *e);

/* Writes c as YAML that nad_adapt_config_load reads back to the same values
 * (temporary name + rename). */
nad_status nad_adapt_config_save(const nad_adapt_config *c, const char *path, nad_err *e);

/* Checks ranges and the presence of the required paths. */
nad_status nad_adapt_config_check(const nad_adapt_config *c, nad_err *e);

/* Progress, after every completed iteration (and once at the start). */
typedef struct nad_adapt_progress {
    int iteration;                /* 0: the original network              */
    const char *phase;            /* "start", "iteration", "final"        */
    const char *group;            /* the group pruned ("" for none)       */
    int channels_before, channels_after;
    double values[NAD_RES_COUNT]; /* the current network's resources      */
    double limits[NAD_RES_COUNT]; /* each budget in base units, 0: none   */
    const char *units[NAD_RES_COUNT];
    double holdout_top1;          /* the current network's held-out top-1 */
    double test_top1;             /* -1 when not measured                 */
    double iter_seconds;          /* this iteration's wall time           */
    /* Where an iteration's time went: the reduction search (estimation),
     * and summed over proposals (so over jobs in parallel) restoration,
     * short fine-tuning and held-out evaluation. */
    double t_search, t_restore, t_finetune, t_eval;
    double eta_s;                 /* estimated seconds to the end, -1 unknown */
} nad_adapt_progress;

typedef void (*nad_adapt_progress_fn)(const nad_adapt_progress *p, void *user);

/* What a run ended with. */
typedef struct nad_adapt_summary {
    int iterations;               /* pruning iterations done               */
    int met;                      /* 1: every budget is met                */
    char stop_reason[256];        /* why the loop stopped                  */
    double original[NAD_RES_COUNT], final[NAD_RES_COUNT];
    char units[NAD_RES_COUNT][16];
    double limits[NAD_RES_COUNT];
    double original_holdout, final_holdout;
    double original_test, final_test; /* -1 when there is no test split    */
    double seconds;
    char final_path[NAD_ADAPT_PATH_MAX + 64];
} nad_adapt_summary;

/* Optional hooks of a run. */
typedef struct nad_adapt_hooks {
    nad_adapt_progress_fn progress;
    void *user;
} nad_adapt_hooks;

/*
 * Runs an adaptation into c->out, which must not exist or be an empty
 * directory.  Returns NAD_OK with s->met = 0 and a stop_reason when no
 * proposal can meet a target (the best network found is still final.onnx).
 * Errors: NAD_EINVAL (bad configuration, budget unit not of this target,
 * unreachable budget, no prunable group), NAD_EIO (a path), the loaders'.
 */
nad_status nad_adapt_run(const nad_adapt_config *c, const nad_adapt_hooks *hooks, nad_adapt_summary *s,
                         nad_err *e);

/* Continues the run in dir from its last completed iteration (the directory
 * holds the configuration).  NAD_EFORMAT for a directory that is not a run or
 * whose files are damaged. */
nad_status nad_adapt_resume(const char *dir, const nad_adapt_hooks *hooks, nad_adapt_summary *s, nad_err *e);

/*
 * Dry run: loads the model and target, finds the channel groups and the
 * budgets' values, and writes a human-readable report (groups with their
 * channels and members, frozen groups with the reason, resources against
 * budgets) into *report (malloc'd, caller frees).  Writes no file.
 */
nad_status nad_adapt_describe(const nad_adapt_config *c, char **report, nad_err *e);

#ifdef __cplusplus
}
#endif
#endif /* NADAPT_ADAPT_H */
