/*
 * nadapt — the mapper (internal): searches the mappings of one layer on a
 * spatial arch for the one with the lowest energy, cycles or energy-delay
 * product.
 *
 * Search (deterministic):
 *   1. spatial candidates (spatial.h): the target's pe_array.constraints when
 *      it declares them, else its dataflow's templates -- row-stationary whole
 *      filter rows (R or S) with M/C/N on the PE rows and the paired output
 *      dim (P or Q) with N/M on the columns (Eyeriss, Chen et al. ISCA 2016
 *      Sec. IV), plus folded variants; weight-stationary C(xR|S) x M;
 *      output-stationary P x Q, M x P, M x Q; input-stationary C x P|Q.  The
 *      candidates with the fewest temporal iterations (Eyexam steps 2-4) are
 *      kept;
 *   2. for each candidate and each objective (energy, latency, EDP), the
 *      temporal factors start at the outermost level allowed to take them
 *      (and a second start with the filter taps in the innermost weight
 *      level), and a steepest-descent local search moves one prime factor
 *      between levels or one loop innermost at a time, keeping only mappings
 *      that fit and keep the target's mapspace constraints (constraints.h),
 *      then an iterated local search kicks it 24 times;
 *   3. every local optimum of every objective goes into one pool, each
 *      objective's best is climbed again under the other two, and the answer
 *      is the pool's best for the requested objective (ties: the other
 *      metric, then pool order).  Because the pool does not depend on the
 *      objective, the energy answer is never worse in energy than the EDP or
 *      latency answer, and likewise for the others.
 * Hints (e.g. a larger layer's mapping, still valid for this smaller one by
 * ceil factoring) are costed and pooled too; when `dominate` is set the answer
 * is chosen among results no worse than every valid hint in energy, cycles and
 * each level's accesses, which makes estimates monotone under pruning.
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
