/*
 * nadapt — spatial candidates (internal): the ways one layer can be unrolled
 * onto a PE array's columns (X) and rows (Y), best first.
 *
 * A target with pe_array.constraints unrolls exactly the dims they allow
 * (fixed factors forced), up to three dims per axis.  A target without them
 * uses its dataflow's templates (Chen et al., ISCA 2016 Sec. IV; see
 * mapper.h): row-stationary whole filter rows on Y and output rows on X,
 * plus, since issue #9, folded variants (a partial R or S, up to two of
 * M C N beside it) so that kernels that leave rows idle (7 of 12) can still
 * fill the array; weight-, output- and input-stationary as before.  Each axis
 * takes divisors of a dim or its most balanced ceil split (padding).
 * Candidates are ranked by the temporal iterations they leave (Eyexam steps
 * 2-4), ties by enumeration order, and the best `max` are kept.
 */
#ifndef NAD_MEASURE_SPATIAL_H
#define NAD_MEASURE_SPATIAL_H

#include "arch.h"
#include "mapping.h"

typedef struct nad_spatial_cand {
    int64_t sx[NAD_DIM_COUNT], sy[NAD_DIM_COUNT];
    double iters; /* product over dims of ceil(dim / (sx x sy)) */
    int seq;      /* enumeration order, for deterministic ties  */
} nad_spatial_cand;

/* Writes the best (at most max) spatial candidates of problem p on spatial
 * arch a into out, best first; returns how many, or -1 when out of memory. */
int nad_spatial_candidates(const nad_arch *a, const nad_problem *p, nad_spatial_cand *out, int max);

#endif /* NAD_MEASURE_SPATIAL_H */
