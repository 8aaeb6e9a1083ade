/*
 * nadapt — the analytic cost model (internal): accesses, energy and cycles of
 * one layer under one mapping on one arch.  Equations in measure/README.md.
 *
 * Accesses (Timeloop's accounting, Parashar et al. ISPASS 2019, checked
 * against the published Eyeriss-like VGG-16 conv3_1 breakdown):
 *   - a data space's tile at level k is refilled from the next outer level
 *     holding it once per iteration of the loops above k, except that the
 *     innermost run of loops irrelevant to it reuses the tile (stationarity);
 *     the first relevant loop above that run refills only the new part of the
 *     tile (sliding window for inputs, P/R and Q/S), kept across inner loops
 *     over M (the input tile stays resident), lost across inner loops over
 *     dims the inputs depend on; a per-PE input tile refilled by a loop above
 *     the array over a dim also split across PEs steps s x tile at a time, so
 *     its windows overlap less (or not at all);
 *   - a buffer read by the array serves all PEs whose spatial index differs
 *     only in dims irrelevant to the data (multicast); output drains from such
 *     PEs are reduced on the way up (spatial reduction);
 *   - partial sums go back down (fill) for every drained output tile except the
 *     first touch of each output; the innermost output level does one read and
 *     one update per MAC, less the first touches.
 * Energy = sum over levels and data spaces of reads x read energy + writes x
 * write energy, + MACs x MAC energy, + array transfers x NoC energy
 * (Eyeriss, Chen et al. ISCA 2016 Sec. V), + static power x time.
 * Cycles (Eyexam, Chen et al. arXiv 1807.07928): compute cycles = the
 * mapping's temporal iterations (MACs / active PEs with ceil-factor padding),
 * bounded by each level's traffic / bandwidth; the largest wins.
 */
#ifndef NAD_MEASURE_COST_H
#define NAD_MEASURE_COST_H

#include "arch.h"
#include "mapping.h"
#include "nadapt/estimate.h" /* nad_objective */

/* Which bound set the cycle count. */
#define NAD_BOUND_COMPUTE (-1)
#define NAD_BOUND_NAME_MAX 80

typedef struct nad_cost {
    double macs;        /* real MACs (all groups)                               */
    double padded_macs; /* MAC slots the mapping executes, padding included     */
    /* Values read / written per level and data space, all instances and
     * groups; DRAM counts are coded words when compression applies. */
    double reads[NAD_ARCH_MAX_LEVELS][NAD_DS_COUNT];
    double writes[NAD_ARCH_MAX_LEVELS][NAD_DS_COUNT];
    double noc[NAD_DS_COUNT]; /* values delivered across the array network */
    /* Energies in the arch's unit. */
    double energy;                                  /* everything below summed */
    double energy_level_ds[NAD_ARCH_MAX_LEVELS][NAD_DS_COUNT];
    double energy_level[NAD_ARCH_MAX_LEVELS];
    double energy_ds[NAD_DS_COUNT]; /* memory + NoC energy of each data space */
    double energy_mac;
    double energy_noc;
    double energy_pim;    /* DAC/ADC conversions, crossbar reads, shift-add */
    double energy_static; /* static power x time (pJ arches only)            */
    /* Cycles. */
    double cycles;         /* the winning bound                                 */
    double compute_cycles; /* temporal iterations x groups (x density if skipping) */
    double level_cycles[NAD_ARCH_MAX_LEVELS];
    double utilisation; /* real MACs / (compute cycles x all PEs)              */
    int bound;          /* NAD_BOUND_COMPUTE or the level index                */
    char bound_name[NAD_BOUND_NAME_MAX]; /* "compute", "DRAM bandwidth", ...   */
} nad_cost;

/*
 * Costs problem p under mapping m on spatial arch a into *out.  Assumes m
 * covers p and its array axes fit (nad_mapping_check); returns 1 when every
 * level's tile fits its capacity, 0 (with *out still filled) when one does
 * not, so the mapper can reject a candidate without a message.
 */
int nad_cost_spatial(const nad_arch *a, const nad_problem *p, const nad_mapping *m, nad_cost *out);

/* Accounting variants of nad_cost_spatial; all zero = nadapt's own rules. */
typedef struct nad_cost_rules {
    /* Timeloop v3.0.3's sliding-window rule: no halo credit for a sliding
     * loop that has a loop over a dim irrelevant to the inputs (M) inside it;
     * the whole tile is refetched each step.  nadapt's rule keeps the credit,
     * because such a loop leaves the resident input tile untouched (see
     * measure/README.md, "Sliding-window (halo) rule").  For parity tests. */
    int timeloop_halo;
} nad_cost_rules;

/* nad_cost_spatial under the accounting variants in *r (NULL = defaults);
 * same assumptions and return value. */
int nad_cost_spatial_rules(const nad_arch *a, const nad_problem *p, const nad_mapping *m, const nad_cost_rules *r,
                           nad_cost *out);

/*
 * Costs a layer on a PIM (crossbar) or CPU (roofline) arch, where there is no
 * mapping to search: weights laid out over crossbars (ISAAC, Shafiee et al.
 * ISCA 2016) or a roofline on FLOPs and compulsory DRAM bytes.  Returns
 * NAD_EINVAL for a spatial arch.
 */
nad_status nad_cost_fixed(const nad_arch *a, const nad_problem *p, nad_cost *out, nad_err *e);

/*
 * Costs a layer without MACs (pool, eltwise) on any arch: its operations at
 * MAC energy on the PEs (one op per PE per cycle) and its compulsory traffic
 * at the outermost level (inputs read, outputs written, compressed as DRAM
 * declares).  Assumption: such layers are not fused with their producer.
 */
void nad_cost_nomac(const nad_arch *a, const nad_layer_shape *l, double out_density, nad_cost *out);

/* Objective value of a cost: energy, cycles, or their product. */
double nad_cost_objective(const nad_cost *c, nad_objective obj);

#endif /* NAD_MEASURE_COST_H */
