/*
 * nadapt — the analytic resource back-end: energy and latency of a network on
 * an accelerator described by a YAML file (models/NAME.yaml).
 *
 * For every layer with MACs the estimator searches a mapping (tiling over the
 * memory levels, loop order, unrolling onto the PE array) for the target's
 * dataflow and costs it (Eyeriss energy model, Eyexam cycle bounds; see
 * measure/README.md).  Results are cached by layer shape inside the estimator,
 * so an adapter asking about thousands of pruned variants of one network pays
 * the mapping search once per distinct shape.
 *
 *     nad_estimator *est; nad_estimate *r; nad_err e;
 *     nad_estimator_create("models/eyeriss.yaml", NAD_OBJ_ENERGY, &est, &e);
 *     nad_estimator_run_graph(est, g, &r, &e);   // g: shapes inferred
 *     printf("%g %s\n", r->total.energy, r->energy_unit);
 *     nad_estimate_free(r);
 *     nad_estimator_destroy(est);
 *
 * Not thread-safe: one estimator per thread (the cache is not locked).
 */
#ifndef NADAPT_ESTIMATE_H
#define NADAPT_ESTIMATE_H

#include <stdint.h>

#include "nadapt/engine.h" /* nad_act_density */
#include "nadapt/graph.h"
#include "nadapt/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the mapper minimises; ties go to the other metric. */
typedef enum nad_objective {
    NAD_OBJ_ENERGY = 0,
    NAD_OBJ_LATENCY, /* cycles                                  */
    NAD_OBJ_EDP,     /* energy x cycles                         */
    NAD_OBJ_COUNT
} nad_objective;

#define NAD_EST_MAX_LEVELS 8
#define NAD_EST_TEXT_MAX 512

/* One layer's result.  Energies are in the estimate's energy_unit. */
typedef struct nad_layer_estimate {
    char name[64];
    char kind[16];    /* "conv", "grouped", "fc", "matmul", "pool", "eltwise" */
    int64_t macs;     /* real multiply-accumulates                       */
    double energy;    /* total: memories + MACs + NoC + PIM + static      */
    double energy_level[NAD_EST_MAX_LEVELS]; /* by memory level, level_names order */
    double energy_weights, energy_inputs, energy_outputs; /* memory + NoC by data type */
    double energy_mac, energy_noc, energy_other;          /* other: PIM converters, static */
    double dram_accesses; /* values (coded words) read + written at level 0 */
    /* Fractions of non-zero values the layer was costed with (the total row:
     * MAC-weighted means): its weights, the input activations it reads, and
     * the outputs it writes (after an activation applied on the way out). */
    double weight_density, input_density, output_density;
    double cycles;
    double utilisation; /* fraction of PE-cycles doing real MACs (0..1)   */
    char bound[80];     /* "compute", "DRAM bandwidth", ...                */
    char mapping[NAD_EST_TEXT_MAX]; /* compact form, "-" when there is none */
} nad_layer_estimate;

typedef struct nad_estimate {
    char target[64];
    const char *energy_unit; /* "pJ" or "MAC" (static string)          */
    double clock_hz;
    int n_levels;
    char level_names[NAD_EST_MAX_LEVELS][64];
    nad_layer_estimate *layers;
    int n_layers;
    nad_layer_estimate total; /* sums; utilisation = MACs / (cycles x PEs) */
} nad_estimate;

typedef struct nad_estimator nad_estimator;

/* Loads the target description (e.g. "models/eyeriss.yaml") and makes an
 * estimator with an empty cache.  On failure *out is NULL and e names the file. */
nad_status nad_estimator_create(const char *target_path, nad_objective objective, nad_estimator **out, nad_err *e);

/* Frees the estimator and its cache; NULL is allowed. */
void nad_estimator_destroy(nad_estimator *est);

/*
 * Estimates every costed layer of a graph whose shapes were inferred
 * (nad_graph_infer_shapes).  *out is a new result (free with
 * nad_estimate_free).  Returns NAD_ESTATE without inferred shapes, NAD_ENOMEM.
 */
nad_status nad_estimator_run_graph(nad_estimator *est, const nad_graph *g, nad_estimate **out, nad_err *e);

/*
 * nad_estimator_run_graph with activation sparsity: measured holds per-node
 * densities (g->n_nodes entries, from nad_measure_act_density) or is NULL;
 * act_density > 0 gives every layer that input and output density by hand
 * instead (0: keep).  The target's declared sparsity support decides what the
 * densities change (zero gating, RLC DRAM traffic); a target without it gives
 * the dense answer.  Returns NAD_EINVAL for act_density outside [0, 1] or a
 * measured density above 1.
 */
nad_status nad_estimator_run_graph_density(nad_estimator *est, const nad_graph *g, const nad_act_density *measured,
                                           double act_density, nad_estimate **out, nad_err *e);

/* nad_estimator_run_file with act_density > 0 replacing every layer's input
 * and output activation density (0: the file's). */
nad_status nad_estimator_run_file_density(nad_estimator *est, const char *workload_path, int64_t batch,
                                          double act_density, nad_estimate **out, nad_err *e);

/* The same for a workload YAML file (examples/workloads/NAME.yaml); batch > 0
 * replaces the file's batch size. */
nad_status nad_estimator_run_file(nad_estimator *est, const char *workload_path, int64_t batch, nad_estimate **out,
                                  nad_err *e);

/* Distinct layer shapes costed so far (the cache's size). */
int nad_estimator_cache_size(const nad_estimator *est);

/* "energy", "latency", "edp"; and the reverse (returns NAD_EINVAL if unknown). */
const char *nad_objective_str(nad_objective o);
nad_status nad_objective_parse(const char *s, nad_objective *out, nad_err *e);

/* Frees a result; NULL is allowed. */
void nad_estimate_free(nad_estimate *r);

#ifdef __cplusplus
}
#endif
#endif /* NADAPT_ESTIMATE_H */
