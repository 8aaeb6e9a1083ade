/*
 * nadapt — accelerator descriptions (internal): the hardware a layer's energy
 * and latency are estimated on.
 *
 * A nad_arch is read from a strict YAML file (models/NAME.yaml, schema in
 * models/README.md) by nad_arch_load().  It says what the target is
 * (a spatial PE array, a processing-in-memory crossbar, or a roofline CPU),
 * its clock, its precisions, its memory hierarchy and what each access costs.
 * The analytic model (mapper + cost, measure/) reads it; nothing here maps or
 * costs a layer.
 *
 * Energy accounting follows the Eyeriss methodology (Chen et al., ISCA 2016,
 * "Eyeriss: A Spatial Architecture for Energy-Efficient Dataflow for CNNs",
 * Sec. V): energy = sum over levels and data types of accesses x energy per
 * access, plus MACs x MAC energy, plus array (NoC) transfers x NoC energy.
 * Latency follows Eyexam (Chen et al., arXiv 1807.07928): compute cycles at
 * the mapping's PE utilisation, bounded by each level's traffic / bandwidth.
 *
 * Units.  Every energy in a nad_arch is in the file's energy unit
 * (arch->energy_unit): picojoules, or "MAC" (normalised so one MAC at the
 * arch's precision costs 1, as in the Eyeriss paper's 200/6/2/1 table).  The
 * loader converts per-block access energies into per-VALUE energies (see
 * nad_mem_level), so the cost model never divides by block sizes itself.
 * Sizes are in values of a data type unless a field says words or bits.
 *
 * Levels are ordered from DRAM (index 0, outermost) inwards; levels
 * [0, first_pe_level) are shared, levels [first_pe_level, n_levels) are
 * replicated once per PE (scratchpads / register files).  The PE array (and
 * its network on chip) sits between level first_pe_level-1 and first_pe_level.
 *
 * Stability: part 2 (mapper/cost) builds on this header.  Fields are only ever
 * added, never renamed.  Fields added by part 2 are noted here:
 *   nad_noc.diagonal_multicast (YAML noc.diagonal_multicast, default false):
 *   the cost model's input-reuse rule for row-stationary arrays (cost.c).
 *   nad_arch.dram_overlap (YAML dram_overlap, default true): see the field.
 *   nad_arch.constraints (YAML pe_array.constraints, levels[i].constraints):
 *   the mapspace the target's control supports (issue #9); see the struct.
 */
#ifndef NAD_MEASURE_ARCH_H
#define NAD_MEASURE_ARCH_H

#include <stdint.h>

#include "nadapt/status.h"

#define NAD_ARCH_NAME_MAX 64
#define NAD_ARCH_MAX_LEVELS 8

/* The three data spaces (Timeloop's term) of a conv/gemm layer. */
typedef enum nad_dataspace {
    NAD_DS_WEIGHTS = 0, /* filter weights                                  */
    NAD_DS_INPUTS,      /* input activations (ifmap)                       */
    NAD_DS_OUTPUTS,     /* output activations and partial sums (psum/ofmap) */
    NAD_DS_COUNT
} nad_dataspace;

typedef enum nad_target_kind {
    NAD_TARGET_SPATIAL = 0, /* PE array + memory hierarchy (Eyeriss, TPU, ...) */
    NAD_TARGET_PIM,         /* analog processing-in-memory crossbars (ISAAC)   */
    NAD_TARGET_CPU,         /* a host CPU as a roofline                        */
    NAD_TARGET_COUNT
} nad_target_kind;

typedef enum nad_energy_unit {
    NAD_EU_PJ = 0, /* picojoules                                  */
    NAD_EU_MAC,    /* normalised: one MAC at arch precision = 1   */
    NAD_EU_COUNT
} nad_energy_unit;

typedef enum nad_dataflow {
    NAD_DF_ROW_STATIONARY = 0, /* Eyeriss: 1-D conv rows per PE, R x P on the array */
    NAD_DF_WEIGHT_STATIONARY,  /* weights pinned in PEs (TPU systolic, C x M)        */
    NAD_DF_OUTPUT_STATIONARY,  /* psums pinned in PEs (ShiDianNao, P x Q)            */
    NAD_DF_INPUT_STATIONARY,   /* inputs pinned in PEs                              */
    NAD_DF_COUNT
} nad_dataflow;

typedef enum nad_mem_kind {
    NAD_MEM_DRAM = 0, /* off-chip memory; only ever level 0              */
    NAD_MEM_BUFFER,   /* shared on-chip buffer (global buffer, eDRAM)    */
    NAD_MEM_PE,       /* per-PE scratchpad / register file               */
    NAD_MEM_COUNT
} nad_mem_kind;

/* Activation compression on DRAM transfers. */
typedef enum nad_compression {
    NAD_COMP_NONE = 0,
    NAD_COMP_RLC, /* Eyeriss run-length coding: (run, value) pairs packed in 64-bit words */
    NAD_COMP_COUNT
} nad_compression;

/*
 * One memory level.  Derived per-value fields are filled by the loader:
 *   words_per_value[d] = ceil(bits of d / word_bits)
 *   read_energy[d]     = (energy per access / block_words) x words_per_value[d]
 *   capacity_values[d] = partitioned: the partition's size in values of d;
 *                        shared: capacity_words / words_per_value[d] (what fits
 *                        when d alone uses the level; use nad_arch_level_fits()
 *                        for a mix); 0 when d is not held or for DRAM (unlimited).
 */
typedef struct nad_mem_level {
    char name[NAD_ARCH_NAME_MAX];
    nad_mem_kind kind;
    int per_pe;        /* 1: one instance per PE (kind NAD_MEM_PE)            */
    int64_t instances; /* 1 for shared levels, PE count for per-PE levels     */
    int holds[NAD_DS_COUNT]; /* 1: stores this data space; 0: bypassed      */
    int partitioned;         /* 1: capacity split per data space (Eyeriss spads) */
    int64_t capacity_words;  /* shared capacity per instance in words; 0 = unlimited */
    int64_t capacity_values[NAD_DS_COUNT]; /* see above, per instance          */
    int word_bits;   /* bits per word (the unit of capacity and access)     */
    int block_words; /* words per physical access (e.g. 8 for 64-bit DRAM of 8-bit words) */
    int words_per_value[NAD_DS_COUNT];
    double read_energy[NAD_DS_COUNT];  /* per value read, arch energy unit   */
    double write_energy[NAD_DS_COUNT]; /* per value written (fill or update) */
    /* Bandwidth in words per core clock cycle per instance, 0 = unlimited.
     * bandwidth bounds reads + writes together; read_/write_bandwidth (when
     * non-zero) bound each direction separately (Timeloop's glb: 16 each). */
    double bandwidth;
    double read_bandwidth;
    double write_bandwidth;
    /* DRAM only: compression of transfers per data space (inputs/outputs). */
    nad_compression compression[NAD_DS_COUNT];
    int line; /* YAML line of the level (for later diagnostics) */
} nad_mem_level;

/* Network on chip between the innermost shared level and the PEs. */
typedef struct nad_noc {
    double energy[NAD_DS_COUNT]; /* per value per array hop ("inter-PE" = 2 in Eyeriss units) */
    int multicast;               /* 1: one buffer read can feed many PEs            */
    int psum_forwarding;         /* 1: PEs pass psums to neighbours (RS, WS systolic) */
    /* 1: one input row read from the buffer reaches every PE that needs it,
     * including PEs on a diagonal whose output row and filter row differ but
     * sum to the same input row (Eyeriss's ID-matched multicast, JSSC 2017
     * Sec. V-B).  0: only PEs differing in dims irrelevant to inputs share a
     * read (Timeloop's accounting). */
    int diagonal_multicast;
} nad_noc;

/* Sparsity handling (Eyeriss: zero gating of MACs, RLC of DRAM activations). */
typedef struct nad_sparsity {
    int zero_gating;   /* a zero operand skips the MAC's energy, not its cycle */
    int zero_skipping; /* a zero operand skips both energy and cycle           */
    int gate_on[NAD_DS_COUNT]; /* which operands are checked for zero (inputs for Eyeriss) */
    int rlc_run_bits;          /* bits of a run field in RLC (5 in Eyeriss)             */
    int rlc_pairs_per_word;    /* (run, value) pairs per 64-bit word (3 in Eyeriss)     */
    int rlc_word_bits;         /* bits of one coded word (64 in Eyeriss)                */
} nad_sparsity;

/* Analog crossbar PIM parameters (ISAAC, Shafiee et al., ISCA 2016). */
typedef struct nad_pim {
    int rows, cols;         /* crossbar array size (128 x 128)                    */
    int cell_bits;          /* bits stored per ReRAM cell (2)                     */
    int cells_per_weight;   /* derived: ceil(weight bits / cell_bits)             */
    int dac_bits;           /* bits applied per input cycle (1: bit-serial)       */
    int input_cycles;       /* derived: ceil(input bits / dac_bits)               */
    int adc_bits;           /* ADC resolution (8)                                 */
    int adcs_per_array;     /* ADCs shared by one array's columns (1)             */
    int64_t n_arrays;       /* crossbars on the chip                              */
    int weights_resident;   /* 1: weights are written once and stay (no DRAM weight traffic per inference) */
    double dac_energy;      /* per DAC conversion (one row, one input bit)        */
    double adc_energy;      /* per ADC conversion (one column, one cycle)         */
    double xbar_energy;     /* per array activation (one read cycle, all rows)    */
    double shift_add_energy; /* per ADC output merged by shift-and-add            */
    double read_latency_s;  /* one crossbar read cycle (100 ns in ISAAC)          */
    double adc_rate_hz;     /* conversions per second of one ADC                  */
    double write_energy_per_cell; /* programming a cell (0 when weights resident) */
} nad_pim;

/* Host CPU roofline. */
typedef struct nad_roofline {
    double peak_flops;      /* FLOP/s, an FMA counted as 2                        */
    double mem_bw_bytes_s;  /* sustained DRAM bandwidth                            */
    double llc_bytes;       /* last-level cache usable by one inference (reuse)   */
    double power_w;         /* average package power while busy (energy = t x P)  */
    int cores;
} nad_roofline;

/*
 * Mapspace constraints (added by the mapper work, issue #9), in the spirit of
 * Timeloop's constraints files: which loop dims a level may iterate over
 * (with fixed factors), which dims its innermost loops are, and which dims
 * the PE array's columns (X) and rows (Y) may unroll.  Dims are indexed
 * N M C P Q R S (0..6, the order of nad_dim in mapping.h).  A target
 * without a `constraints:` block leaves everything free; what a mapping
 * must do to satisfy these is checked in constraints.c.
 */
#define NAD_ARCH_DIMS 7

/* Factors allowed along one loop nest: dims in `allowed` may take any factor,
 * dims with fixed[d] > 0 must take exactly min(fixed[d], problem dim), every
 * other dim must be 1.  given = 0: no rule (all free). */
typedef struct nad_factor_rule {
    int given;
    int allowed[NAD_ARCH_DIMS];
    int64_t fixed[NAD_ARCH_DIMS];
    int line; /* YAML line, for messages */
} nad_factor_rule;

typedef struct nad_level_constraints {
    nad_factor_rule temporal;   /* YAML levels[i].constraints.temporal  */
    int n_innermost;            /* YAML levels[i].constraints.innermost */
    uint8_t innermost[NAD_ARCH_DIMS]; /* dims, outer to inner, that must be the level's innermost loops */
    int innermost_line;
} nad_level_constraints;

typedef struct nad_constraints {
    int any;                    /* 1 when the file gives any constraint */
    nad_factor_rule x, y;       /* YAML pe_array.constraints.x / .y     */
    nad_level_constraints level[NAD_ARCH_MAX_LEVELS];
} nad_constraints;

typedef struct nad_arch {
    char name[NAD_ARCH_NAME_MAX];
    char path[256];            /* file it was loaded from                        */
    nad_target_kind kind;
    double clock_hz;
    nad_energy_unit energy_unit;
    int bits[NAD_DS_COUNT];    /* precision of weights, inputs, outputs/psums    */
    double mac_energy;         /* per MAC at the given precision                 */
    double static_power_w;     /* leakage / clock power, 0 if not modelled       */
    /* PE array (spatial targets). */
    int pe_rows, pe_cols;      /* physical array (Eyeriss 12 x 14)               */
    int macs_per_pe;           /* MACs per PE per cycle (1)                      */
    nad_dataflow dataflow;
    /* Memory hierarchy, DRAM first. */
    nad_mem_level levels[NAD_ARCH_MAX_LEVELS];
    int n_levels;
    int first_pe_level;        /* index of the outermost per-PE level; n_levels if none */
    nad_noc noc;
    nad_sparsity sparsity;
    nad_pim pim;               /* valid when kind == NAD_TARGET_PIM              */
    nad_roofline roofline;     /* valid when kind == NAD_TARGET_CPU              */
    /* 1 (default): DRAM transfers overlap computation, so a layer takes the
     * largest of its compute and per-level bandwidth bounds (Eyexam).  0: the
     * chip stops computing while it loads from or dumps to DRAM (Eyeriss v1,
     * JSSC 2017 Sec. VI-A), so DRAM time adds to the rest. */
    int dram_overlap;
    /* Mapspace constraints (YAML pe_array.constraints, levels[i].constraints);
     * all free when absent.  Added by the mapper work (issue #9). */
    nad_constraints constraints;
} nad_arch;

/*
 * Reads and validates an accelerator description.  On success *out is a new
 * arch (free with nad_arch_free).  On failure *out is NULL and e holds one line
 * "FILE:LINE: key: problem" (unknown key with the closest known one, missing
 * required field, wrong type, non-positive size, negative energy, data type
 * held by no level, DRAM not outermost ...).  Returns NAD_EIO when the file
 * cannot be read, NAD_EFORMAT for malformed YAML or schema violations,
 * NAD_EINVAL for values out of range, NAD_ENOMEM.
 */
nad_status nad_arch_load(const char *path, nad_arch **out, nad_err *e);

/* Frees an arch; NULL is allowed. */
void nad_arch_free(nad_arch *a);

/* "pJ" or "MAC" (the unit of every energy in a). */
const char *nad_energy_unit_str(nad_energy_unit u);

/* "weights", "inputs", "outputs". */
const char *nad_dataspace_str(nad_dataspace d);

/* "row_stationary", "weight_stationary", ... (the YAML spellings). */
const char *nad_dataflow_str(nad_dataflow df);

/* "spatial", "pim", "cpu". */
const char *nad_target_kind_str(nad_target_kind k);

/* Number of PEs (pe_rows x pe_cols), 1 for targets without an array. */
int64_t nad_arch_pe_count(const nad_arch *a);

/* Index of the first level at or inside `from` (towards the PEs) that holds
 * data space d, or -1 if none.  nad_arch_next_level(a, d, 0) is DRAM. */
int nad_arch_next_level(const nad_arch *a, nad_dataspace d, int from);

/* Index of the innermost level that holds d, or -1 (never for a loaded arch). */
int nad_arch_innermost_level(const nad_arch *a, nad_dataspace d);

/* Index of the level named name, or -1. */
int nad_arch_find_level(const nad_arch *a, const char *name);

/*
 * 1 if tiles of values[d] values of each data space fit in one instance of
 * level li at the same time, else 0.  Partitioned levels check each partition;
 * shared levels check sum(values[d] x words_per_value[d]) <= capacity_words.
 * Values of data spaces the level bypasses must be 0; unlimited levels fit all.
 */
int nad_arch_level_fits(const nad_arch *a, int li, const int64_t values[NAD_DS_COUNT]);

/*
 * Fraction of the dense word count that crosses DRAM for data space d at
 * activation density `density` (fraction of non-zeros, 0..1): 1 without
 * compression.  With Eyeriss RLC each non-zero costs (run_bits + value_bits)
 * bits, packed rlc_pairs_per_word pairs per rlc_word_bits-bit word (3 pairs of
 * 5+16 bits + 1 termination bit in 64 bits, JSSC 2017 Sec. IV-D), and zero runs
 * longer than 2^run_bits-1 cost an extra pair.  Capped at 1: assumption that
 * the coder is bypassed when it would expand the data (as Eyeriss sends the raw
 * CONV1 image).
 */
double nad_arch_dram_traffic_factor(const nad_arch *a, nad_dataspace d, double density);

#endif /* NAD_MEASURE_ARCH_H */
