/*
 * nadapt — reduction search: for one channel group, the largest channel
 * count whose network meets a resource target (internal to the adapter).
 */
#ifndef NAD_PROPOSALS_REDUCE_H
#define NAD_PROPOSALS_REDUCE_H

#include "graph/graph.h"
#include "groups.h"
#include "nadapt/status.h"

/* Measures the resource the search is about for graph g into *value. */
typedef nad_status (*nad_reduce_fn)(void *ctx, const nad_graph *g, double *value, nad_err *e);

typedef struct nad_reduce_result {
    int n_keep;       /* channels kept; 0 when no allowed count meets the target */
    nad_graph *graph; /* the shrunk network (caller frees), NULL when n_keep == 0 */
    double value;     /* its measured resource                                   */
    int evaluations;  /* measurements made                                       */
} nad_reduce_result;

/*
 * Searches the counts allowed for grp (multiples of `multiple` below its
 * channel count; 1 .. channels-1 when it has no more than `multiple`), each
 * keeping the best channels by score (nad_rank_keep), for the largest whose
 * network measures <= target.  A frozen group or one channel gives
 * n_keep = 0.  Errors are fn's, shrink's, or NAD_ENOMEM.
 */
nad_status nad_reduce_search(const nad_graph *g, const nad_group *grp, const double *score, int multiple,
                             nad_reduce_fn fn, void *ctx, double target, nad_reduce_result *r, nad_err *e);

#endif
