/*
 * nadapt — the run directory's pictures, as standalone SVG files that any
 * browser or `rsvg-convert` renders (internal to the adapter).
 *
 * curve.svg: accuracy (held-out and test, in %) against energy and against
 * latency — two panels side by side — one point per iteration joined in
 * order, the original and the final network marked, each budget drawn as a
 * vertical dashed line labelled with its value.
 *
 * breakdown.svg: per-layer energy of the original and the final network,
 * stacked by where it is spent: DRAM / buffer / array (NoC) / register file /
 * MAC (/ other, when a target has converters or static energy), the two
 * networks' bars side by side for every layer, with a legend and totals.
 */
#ifndef NAD_ADAPT_PLOT_H
#define NAD_ADAPT_PLOT_H

#include "nadapt/estimate.h"
#include "nadapt/status.h"

/* One network on the accuracy curve. */
typedef struct nad_plot_point {
    int iteration;  /* 0: original; the final network has final = 1     */
    int final;
    double energy;  /* in energy_unit                                    */
    double latency; /* seconds                                           */
    double holdout; /* top-1 in 0..1                                     */
    double test;    /* top-1 in 0..1, < 0 when not measured              */
} nad_plot_point;

typedef struct nad_plot_curve {
    const nad_plot_point *pts; /* in iteration order, the final last    */
    int n;
    const char *energy_unit;   /* "MAC", "pJ" ...                        */
    double energy_budget;      /* absolute, in energy_unit; 0: none      */
    double latency_budget;     /* seconds; 0: none                       */
    const char *title;         /* e.g. the model's file name             */
} nad_plot_curve;

/* Writes curve.svg to path (temporary name + rename). */
nad_status nad_plot_curve_svg(const nad_plot_curve *c, const char *path, nad_err *e);

/*
 * Writes breakdown.svg to path.  orig and final are estimates of the same
 * network before and after pruning (same layer names in the same order; a
 * layer missing from final counts as 0).  Level 0 is DRAM, the innermost
 * level the register file, levels in between buffers; energy_noc is the
 * array, energy_mac the MACs, energy_other other.
 */
nad_status nad_plot_breakdown_svg(const nad_estimate *orig, const nad_estimate *final, const char *title,
                                  const char *path, nad_err *e);

#endif
