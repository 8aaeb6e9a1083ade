/*
 * nadapt — estimator entry points for code inside the library and its tests
 * that already holds a workload (internal; the public API is
 * include/nadapt/estimate.h).
 */
#ifndef NAD_MEASURE_ESTIMATE_INTERNAL_H
#define NAD_MEASURE_ESTIMATE_INTERNAL_H

#include "arch.h"
#include "nadapt/estimate.h"
#include "workload.h"

/*
 * Estimates every layer of w (caching by shape in est) into a new result
 * (free with nad_estimate_free).  Layers are costed in order; a layer whose
 * shape is dominated by a cached one (same window, every dim no larger) is
 * bounded by that layer's mapping, so removing filters or channels never
 * raises its energy, accesses or cycles.  Returns NAD_ENOMEM, or the mapper's
 * status naming the layer when no mapping fits.
 */
nad_status nad_estimator_run_workload(nad_estimator *est, const nad_workload *w, nad_estimate **out, nad_err *e);

/* The target the estimator was created for (owned by est). */
const nad_arch *nad_estimator_arch(const nad_estimator *est);

/* Empties the cache, so that the next results depend on nothing asked before
 * (a cached larger layer bounds a smaller one's mapping: estimates are
 * path-dependent otherwise). */
void nad_estimator_clear(nad_estimator *est);

/*
 * Makes the estimator cost one layer under a given mapping instead of
 * searching (as timeloop-model does): every later run reports only that
 * layer, named by `layer`, or, when layer is NULL or empty, the only layer
 * with MACs.  The mapping (compact text, mapping.h) is checked when a run
 * meets the layer: coverage, the array's fanout, every level's capacity and
 * the target's mapspace constraints (constraints.h); a run then fails with
 * NAD_EINVAL naming the rule broken.  Copies both strings.  Returns
 * NAD_EINVAL for a non-spatial target, NAD_ENOMEM.
 */
nad_status nad_estimator_set_mapping(nad_estimator *est, const char *mapping, const char *layer, nad_err *e);

#endif /* NAD_MEASURE_ESTIMATE_INTERNAL_H */
