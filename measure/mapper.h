/*
 * nadapt — the mapper (internal): searches the mappings of one layer on a
 * spatial arch for the one with the lowest energy, cycles or energy-delay
 * product.
 *
 * Search (deterministic):
 *   1. spatial candidates from the arch's dataflow — row-stationary puts a
 *      filter dim (R or S) with an optional M/C/N factor on the PE rows and the
 *      paired output dim (P or Q) with an optional N/M factor on the columns
 *      (Eyeriss, Chen et al. ISCA 2016 Sec. IV); weight-stationary C(xR|S) x M;
 *      output-stationary P x Q, M x P, M x Q; input-stationary C x P|Q.  Axes
 *      take divisors or ceil splits (padding); the candidates with the fewest
 *      temporal iterations (Eyexam steps 2-4) are kept;
 *   2. for each, every temporal factor starts at DRAM and a steepest-descent
 *      local search moves one prime factor between levels or one loop to the
 *      innermost position of its level at a time, keeping only mappings whose
 *      tiles fit, until no move improves the objective;
 *   3. the best local optimum over all candidates wins (ties: the other
 *      metric, then enumeration order).
 * Hints (e.g. a larger layer's mapping, still valid for this smaller one by
 * ceil factoring) are costed too; when `dominate` is set the answer is chosen
 * among results no worse than every valid hint in energy, cycles and each
 * level's accesses, which makes estimates monotone under pruning.
 */
#ifndef NAD_MEASURE_MAPPER_H
#define NAD_MEASURE_MAPPER_H

#include "arch.h"
#include "cost.h"
#include "mapping.h"

typedef struct nad_mapper_opts {
    nad_objective objective;
    const nad_mapping *hints; /* may be NULL                                 */
    int n_hints;
    int dominate;     /* 1: result must be no worse than every valid hint    */
    int max_spatial;  /* spatial candidates kept (0: default 6)              */
} nad_mapper_opts;

/*
 * Finds the best mapping of problem p on spatial arch a.  On success *best and
 * *best_cost hold it.  Returns NAD_EINVAL for a non-spatial arch and
 * NAD_EUNSUPPORTED when no mapping fits (a tile of one value overflows a
 * level), naming the layer dims.
 */
nad_status nad_mapper_search(const nad_arch *a, const nad_problem *p, const nad_mapper_opts *opts, nad_mapping *best,
                             nad_cost *best_cost, nad_err *e);

/*
 * Re-targets mapping m (made for a problem at least as large in every dim) to
 * problem p: keeps every factor, so the padded extents still cover p.  Returns
 * 1 when the result covers p (it then fits whenever m fitted), else 0.
 */
int nad_mapping_shrink(const nad_mapping *m, const nad_problem *p, nad_mapping *out);

#endif /* NAD_MEASURE_MAPPER_H */
