/*
 * nadapt — mappings (internal): how one layer's seven conv loops are tiled
 * over an accelerator's memory levels and unrolled onto its PE array.
 *
 * A mapping gives, for every memory level of a nad_arch (DRAM first), a loop
 * nest of temporal tile factors over the dims N M C P Q R S with a loop order,
 * plus the spatial factors unrolled onto the PE array's columns (X) and rows
 * (Y).  As in Timeloop (Parashar et al., ISPASS 2019), the loops written at
 * level k iterate over the tiles of level k+1, so the tile that level k holds
 * is the product of its own factors and every factor inside it; the spatial
 * loops sit between the last shared level (arch->first_pe_level - 1) and the
 * first per-PE level.
 *
 * Factors may over-cover a dim (ceil factorisation, e.g. 55 output rows as
 * 14 x 4 = 56): the padded iterations are executed as idle PE slots / cycles
 * and the cost model counts them as waste (see cost.h).
 *
 * Compact text form (Timeloop-like, outer to inner):
 *     "DRAM[Q4 C4 P7 M4] shared_glb[M2 C4 P8] X[Q14] Y[M4 S3] weights_spad[R3 C8] psum_spad[M8]"
 * Level names are the arch's (matched case-insensitively); levels without a
 * factor above 1 may be omitted; factors of 1 are never printed.
 *
 * Grouped convolutions are mapped per group: the mapping covers one group's
 * C/groups x M/groups problem and the cost model repeats it `groups` times.
 */
#ifndef NAD_MEASURE_MAPPING_H
#define NAD_MEASURE_MAPPING_H

#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "nadapt/status.h"
#include "workload.h"

/* The seven loop dims of a conv layer (Eyeriss / Timeloop).  R pairs with P
 * (rows) and S with Q (cols) in the input's sliding window. */
typedef enum nad_dim {
    NAD_DIM_N = 0,
    NAD_DIM_M,
    NAD_DIM_C,
    NAD_DIM_P,
    NAD_DIM_Q,
    NAD_DIM_R,
    NAD_DIM_S,
    NAD_DIM_COUNT
} nad_dim;

/* The per-group problem a mapping covers: dim[d] loop bounds plus the
 * sliding-window parameters needed for input footprints. */
typedef struct nad_problem {
    int64_t dim[NAD_DIM_COUNT];
    int stride_h, stride_w, dil_h, dil_w;
    int64_t groups; /* repetitions of this problem (1 for dense layers) */
    /* Fractions of non-zero values (sparsity, see cost.h): weights, input
     * activations, and the layer's outputs as the next layer will read them. */
    double weight_density, act_density, out_density;
} nad_problem;

typedef struct nad_mapping {
    int n_levels;       /* == arch->n_levels                                 */
    int first_pe_level; /* == arch->first_pe_level: spatial loops sit above it */
    /* factor[k][d]: temporal factor of dim d at level k (>= 1). */
    int64_t factor[NAD_ARCH_MAX_LEVELS][NAD_DIM_COUNT];
    /* order[k]: permutation of the dims, outer to inner, at level k. */
    uint8_t order[NAD_ARCH_MAX_LEVELS][NAD_DIM_COUNT];
    int64_t sx[NAD_DIM_COUNT]; /* spatial factors on the array's columns */
    int64_t sy[NAD_DIM_COUNT]; /* spatial factors on the array's rows    */
    uint8_t sx_order[NAD_DIM_COUNT], sy_order[NAD_DIM_COUNT]; /* print order */
} nad_mapping;

/* Longest compact text nad_mapping_format() writes. */
#define NAD_MAPPING_TEXT_MAX 512

/* 'N','M','C','P','Q','R','S' for a dim. */
char nad_dim_letter(nad_dim d);

/*
 * Builds the per-group problem of a layer with MACs (conv, grouped, fc,
 * matmul).  Returns NAD_EINVAL for a pool/eltwise layer or a non-positive dim.
 */
nad_status nad_problem_from_layer(const nad_layer_shape *l, nad_problem *out, nad_err *e);

/* Sets m to the trivial mapping for arch a: every factor 1 and the default
 * order N M C P Q R S at every level.  Callers then place the factors. */
void nad_mapping_init(nad_mapping *m, const nad_arch *a);

/* Product of dim d's factors over all levels and both array axes (the padded
 * extent of d). */
int64_t nad_mapping_extent(const nad_mapping *m, nad_dim d);

/* PEs the mapping occupies: prod(sx) x prod(sy). */
int64_t nad_mapping_pes(const nad_mapping *m);

/* Temporal iterations (cycles at one MAC per PE per cycle): the product of all
 * temporal factors. */
int64_t nad_mapping_iterations(const nad_mapping *m);

/*
 * Tile extents that level k holds (per instance): for each dim the product of
 * factors at levels >= k, times the spatial factors when k is a shared level
 * (k < first_pe_level).
 */
void nad_mapping_tile(const nad_mapping *m, int k, int64_t ext[NAD_DIM_COUNT]);

/*
 * Values of data space ds in a tile of the given extents: weights M C R S,
 * outputs N M P Q, inputs N C x rows x cols where rows = (P-1) stride +
 * dilation + 1 (sliding window, capped at P x R when stride exceeds
 * the window).
 */
int64_t nad_problem_footprint(const nad_problem *p, nad_dataspace ds, const int64_t ext[NAD_DIM_COUNT]);

/*
 * Checks m against arch a and problem p: every dim covered (product of factors
 * >= the dim), array axes within pe_cols / pe_rows, every level's tile within
 * its capacity for the data it holds (nad_arch_level_fits).  Returns NAD_OK or
 * NAD_EINVAL with the first violation in e.
 */
nad_status nad_mapping_check(const nad_mapping *m, const nad_arch *a, const nad_problem *p, nad_err *e);

/* Writes the compact text form of m into buf (at most size bytes, NUL
 * terminated); returns buf. */
char *nad_mapping_format(const nad_mapping *m, const nad_arch *a, char *buf, size_t size);

/*
 * Parses the compact text form for arch a into *out.  Unlisted dims of a level
 * get factor 1; the order of a level lists its named dims outer to inner,
 * followed by the others.  Returns NAD_EFORMAT naming the bad token (unknown
 * level, bad dim letter, zero factor, a dim twice in one level).  Coverage and
 * capacity are not checked here (see nad_mapping_check).
 */
nad_status nad_mapping_parse(const char *text, const nad_arch *a, nad_mapping *out, nad_err *e);

#endif /* NAD_MEASURE_MAPPING_H */
