/*
 * Accelerator description loader: models/NAME.yaml -> nad_arch (see arch.h,
 * schema in models/README.md).
 *
 * The loader is strict on purpose: a description that silently falls back to
 * a default (a misspelt key, a level that forgot to hold weights) gives
 * plausible-looking but wrong energies, which is worse than an error.
 */
#include "arch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_schema.h"

static const char *const ds_names[NAD_DS_COUNT] = {"weights", "inputs", "outputs"};
static const char *const kind_names[NAD_TARGET_COUNT] = {"spatial", "pim", "cpu"};
static const char *const unit_names[NAD_EU_COUNT] = {"pJ", "MAC"};
static const char *const dataflow_names[NAD_DF_COUNT] = {"row_stationary", "weight_stationary",
                                                         "output_stationary", "input_stationary"};
static const char *const mem_names[NAD_MEM_COUNT] = {"dram", "buffer", "pe"};
static const char *const comp_names[NAD_COMP_COUNT] = {"none", "rlc"};
_Static_assert(sizeof ds_names / sizeof ds_names[0] == NAD_DS_COUNT, "ds_names");
_Static_assert(sizeof kind_names / sizeof kind_names[0] == NAD_TARGET_COUNT, "kind_names");
_Static_assert(sizeof unit_names / sizeof unit_names[0] == NAD_EU_COUNT, "unit_names");
_Static_assert(sizeof dataflow_names / sizeof dataflow_names[0] == NAD_DF_COUNT, "dataflow_names");
_Static_assert(sizeof mem_names / sizeof mem_names[0] == NAD_MEM_COUNT, "mem_names");
_Static_assert(sizeof comp_names / sizeof comp_names[0] == NAD_COMP_COUNT, "comp_names");

static const char *const top_keys[] = {"name",       "kind",     "clock_hz", "energy_unit", "precision",
                                       "mac_energy", "static_power_w", "pe_array", "levels", "noc",
                                       "sparsity",   "pim",      "roofline", "description", "dram_overlap",
                                       NULL};
static const char *const ds_keys[] = {"weights", "inputs", "outputs", NULL};
static const char *const pe_keys[] = {"rows", "cols", "dataflow", "macs_per_pe", "constraints", NULL};
static const char *const pe_cons_keys[] = {"x", "y", NULL};
static const char *const level_cons_keys[] = {"temporal", "innermost", NULL};
/* Loop dims in nad_dim order (mapping.h): N M C P Q R S. */
static const char dim_letters[NAD_ARCH_DIMS + 1] = "NMCPQRS";
static const char *const level_keys[] = {"name",         "kind",         "holds",           "capacity_words",
                                         "capacity",     "word_bits",    "block_words",     "read_energy",
                                         "write_energy", "bandwidth",    "read_bandwidth",  "write_bandwidth",
                                         "compression",  "constraints",  NULL};
static const char *const noc_keys[] = {"energy", "multicast", "psum_forwarding", "diagonal_multicast", NULL};
static const char *const sparsity_keys[] = {"zero_gating", "zero_skipping", "gate_on", "rlc", NULL};
static const char *const rlc_keys[] = {"run_bits", "pairs_per_word", "word_bits", NULL};
static const char *const pim_keys[] = {"rows",           "cols",        "cell_bits",        "dac_bits",
                                       "adc_bits",       "adcs_per_array", "arrays",        "weights_resident",
                                       "dac_energy",     "adc_energy",  "xbar_energy",      "shift_add_energy",
                                       "read_latency_s", "adc_rate_hz", "write_energy_per_cell", NULL};
static const char *const roof_keys[] = {"peak_flops", "mem_bw_bytes_s", "llc_bytes", "power_w", "cores", NULL};

const char *nad_energy_unit_str(nad_energy_unit u)
{
    return (unsigned)u < NAD_EU_COUNT ? unit_names[u] : "?";
}

const char *nad_dataspace_str(nad_dataspace d)
{
    return (unsigned)d < NAD_DS_COUNT ? ds_names[d] : "?";
}

const char *nad_dataflow_str(nad_dataflow df)
{
    return (unsigned)df < NAD_DF_COUNT ? dataflow_names[df] : "?";
}

const char *nad_target_kind_str(nad_target_kind k)
{
    return (unsigned)k < NAD_TARGET_COUNT ? kind_names[k] : "?";
}

void nad_arch_free(nad_arch *a)
{
    free(a);
}

/* Reads an enum-valued scalar key; *out keeps its value when the key is absent. */
static nad_status read_enum(nad_yaml *y, yaml_node_t *map, const char *ctx, const char *key, int required,
                            const char *const *names, int count, int *out, nad_err *e)
{
    yaml_node_t *v = nad_yaml_get(y, map, key);
    if (!v) {
        if (required)
            return nad_errf(e, NAD_EFORMAT, "%s:%d: %s: missing required field '%s'", y->path, nad_yaml_line(map),
                            ctx, key);
        return NAD_OK;
    }
    int i = nad_yaml_enum(y, v, ctx, key, names, count, e);
    if (i < 0)
        return NAD_EFORMAT;
    *out = i;
    return NAD_OK;
}

/* A positive integer that fits an int (sizes, bit widths). */
static nad_status read_pos_int(nad_yaml *y, yaml_node_t *map, const char *ctx, const char *key, int required,
                               int *out, nad_err *e)
{
    int64_t v = *out;
    int found = 0;
    nad_status rc = nad_yaml_int(y, map, ctx, key, required, &v, &found, e);
    if (rc || !found)
        return rc;
    if (v <= 0 || v > 1000000000)
        return nad_errf(e, NAD_EINVAL, "%s:%d: %s.%s: must be a positive integer, got %lld", y->path,
                        nad_yaml_line(nad_yaml_get(y, map, key)), ctx, key, (long long)v);
    *out = (int)v;
    return NAD_OK;
}

/*
 * Sane ranges for the numbers of a target.  Why: a loader that accepts any
 * finite double lets 1e308 pJ per access turn the totals into inf, and a
 * capacity near INT64_MAX overflow the level's word count.  The bounds are far
 * beyond any real accelerator (1e12 pJ = 1 J per access; a THz clock; an
 * exaFLOP/s roofline; 2^48 words of capacity), and with them, and the
 * workload's bounds (workload.c), every total stays finite.
 */
#define NAD_ARCH_MAX_ENERGY 1e12       /* pJ (or MAC units) per access, MAC or NoC hop */
#define NAD_ARCH_MAX_CAPACITY ((int64_t)1 << 48) /* words (or bytes) of one level */
#define NAD_ARCH_MAX_ARRAYS ((int64_t)1 << 32)   /* PIM crossbars */

typedef struct num_range {
    const char *key;
    double max;
} num_range;

static const num_range num_ranges[] = {
    {"clock_hz", 1e12},          {"adc_rate_hz", 1e12},      {"bandwidth", 1e9},
    {"read_bandwidth", 1e9},     {"write_bandwidth", 1e9},   {"static_power_w", 1e6},
    {"power_w", 1e6},            {"peak_flops", 1e18},       {"mem_bw_bytes_s", 1e15},
    {"llc_bytes", 281474976710656.0 /* 2^48 */},             {"read_latency_s", 1.0},
};

/* Largest accepted value of key: its entry above, else an energy's bound
 * (every other number a target gives is an energy). */
static double num_max(const char *key)
{
    for (size_t i = 0; i < sizeof num_ranges / sizeof num_ranges[0]; i++)
        if (strcmp(key, num_ranges[i].key) == 0)
            return num_ranges[i].max;
    return NAD_ARCH_MAX_ENERGY;
}

/* "FILE:LINE: ctx.key: V is out of range (LO to HI)" for a number above its bound. */
static nad_status check_max(nad_yaml *y, yaml_node_t *v, const char *ctx, const char *key, double x, nad_err *e)
{
    double max = num_max(key);
    if (x <= max)
        return NAD_OK;
    return nad_errf(e, NAD_EINVAL, "%s:%d: %s.%s: %g is out of range (0 to %g)", y->path, nad_yaml_line(v), ctx, key,
                    x, max);
}

/* A capacity in words: 1 to NAD_ARCH_MAX_CAPACITY. */
static nad_status check_capacity(nad_yaml *y, yaml_node_t *v, const char *ctx, const char *key, int64_t words,
                                 nad_err *e)
{
    if (words <= 0)
        return nad_errf(e, NAD_EINVAL, "%s:%d: %s.%s: must be positive, got %lld", y->path, nad_yaml_line(v), ctx,
                        key, (long long)words);
    if (words > NAD_ARCH_MAX_CAPACITY)
        return nad_errf(e, NAD_EINVAL, "%s:%d: %s.%s: %lld is out of range (1 to %lld)", y->path, nad_yaml_line(v),
                        ctx, key, (long long)words, (long long)NAD_ARCH_MAX_CAPACITY);
    return NAD_OK;
}

/* A number >= 0 (energies, bandwidths), or > 0 when positive is set; at most num_max(key). */
static nad_status read_nonneg(nad_yaml *y, yaml_node_t *map, const char *ctx, const char *key, int required,
                              int positive, double *out, nad_err *e)
{
    double v = *out;
    int found = 0;
    nad_status rc = nad_yaml_num(y, map, ctx, key, required, &v, &found, e);
    if (rc || !found)
        return rc;
    if (v < 0 || (positive && v == 0))
        return nad_errf(e, NAD_EINVAL, "%s:%d: %s.%s: must be %s, got %g", y->path,
                        nad_yaml_line(nad_yaml_get(y, map, key)), ctx, key, positive ? "positive" : "non-negative", v);
    rc = check_max(y, nad_yaml_get(y, map, key), ctx, key, v, e);
    if (rc)
        return rc;
    *out = v;
    return NAD_OK;
}

/*
 * A per-data-space number: either one scalar for all three, or a mapping
 * {weights: x, inputs: y, outputs: z}.  set[d] is 1 for each value given.
 */
static nad_status read_per_ds(nad_yaml *y, yaml_node_t *map, const char *ctx, const char *key, double out[NAD_DS_COUNT],
                              int set[NAD_DS_COUNT], nad_err *e)
{
    yaml_node_t *v = nad_yaml_get(y, map, key);
    char sub[160];
    nad_status rc;
    if (!v)
        return NAD_OK;
    if (v->type == YAML_SCALAR_NODE) {
        double x;
        rc = nad_yaml_node_num(y, v, ctx, key, &x, e);
        if (rc)
            return rc;
        if (x < 0)
            return nad_errf(e, NAD_EINVAL, "%s:%d: %s.%s: must be non-negative, got %g", y->path, nad_yaml_line(v),
                            ctx, key, x);
        rc = check_max(y, v, ctx, key, x, e);
        if (rc)
            return rc;
        for (int d = 0; d < NAD_DS_COUNT; d++) {
            out[d] = x;
            set[d] = 1;
        }
        return NAD_OK;
    }
    snprintf(sub, sizeof sub, "%s.%s", ctx, key);
    rc = nad_yaml_check_keys(y, v, sub, ds_keys, e);
    if (rc)
        return rc;
    for (int d = 0; d < NAD_DS_COUNT; d++) {
        int found = 0;
        rc = read_nonneg(y, v, sub, ds_names[d], 0, 0, &out[d], e);
        if (rc)
            return rc;
        found = nad_yaml_get(y, v, ds_names[d]) != NULL;
        if (found)
            set[d] = 1;
    }
    return NAD_OK;
}

/* A list of data-space names, e.g. holds: [inputs, outputs]; flags[d] = 1 for each. */
static nad_status read_ds_list(nad_yaml *y, yaml_node_t *map, const char *ctx, const char *key, int flags[NAD_DS_COUNT],
                               int *found, nad_err *e)
{
    yaml_node_t *v = nad_yaml_get(y, map, key);
    char sub[160];
    *found = v != NULL;
    if (!v)
        return NAD_OK;
    snprintf(sub, sizeof sub, "%s.%s", ctx, key);
    nad_status rc = nad_yaml_expect_seq(y, v, sub, e);
    if (rc)
        return rc;
    for (int d = 0; d < NAD_DS_COUNT; d++)
        flags[d] = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        int d = nad_yaml_enum(y, nad_yaml_node(y, *it), ctx, key, ds_names, NAD_DS_COUNT, e);
        if (d < 0)
            return NAD_EFORMAT;
        flags[d] = 1;
    }
    return NAD_OK;
}

/* Index of dim letter c (N M C P Q R S, upper case), or -1. */
static int dim_index(char c)
{
    for (int d = 0; d < NAD_ARCH_DIMS; d++)
        if (dim_letters[d] == c)
            return d;
    return -1;
}

/*
 * One item of a constraint dim list: "Q" (any factor) or "Q=7" (exactly 7).
 * Why a string per item: it reads like Timeloop's "factors: Q=7" and keeps a
 * list of free dims as short as [Q, M].  *d_out is the dim, *fixed 0 or k.
 */
static nad_status parse_dim_item(nad_yaml *y, yaml_node_t *n, const char *ctx, int *d_out, int64_t *fixed, nad_err *e)
{
    const char *s = nad_yaml_scalar(n);
    if (!s)
        return nad_errf(e, NAD_EFORMAT, "%s:%d: %s: expected a dim (N M C P Q R S), optionally D=FACTOR", y->path,
                        nad_yaml_line(n), ctx);
    int d = s[0] ? dim_index(s[0]) : -1;
    if (d < 0 || (s[1] && s[1] != '='))
        return nad_errf(e, NAD_EFORMAT, "%s:%d: %s: '%s' is not a dim (N M C P Q R S) or D=FACTOR", y->path,
                        nad_yaml_line(n), ctx, s);
    *d_out = d;
    *fixed = 0;
    if (!s[1])
        return NAD_OK;
    char *end = NULL;
    long long f = strtoll(s + 2, &end, 10);
    if (end == s + 2 || *end || f < 1 || f > 2147483647LL)
        return nad_errf(e, NAD_EINVAL, "%s:%d: %s: '%s': the factor must be a positive integer", y->path,
                        nad_yaml_line(n), ctx, s);
    *fixed = f;
    return NAD_OK;
}

/*
 * A factor rule: key: [D, D=k, ...] in map (absent: no rule).  `room` > 0
 * bounds the product of fixed factors (an array axis's PEs).
 */
static nad_status parse_factor_rule(nad_yaml *y, yaml_node_t *map, const char *ctx, const char *key, int64_t room,
                                    nad_factor_rule *r, nad_err *e)
{
    yaml_node_t *v = nad_yaml_get(y, map, key);
    char sub[192];
    if (!v)
        return NAD_OK;
    snprintf(sub, sizeof sub, "%s.%s", ctx, key);
    nad_status rc = nad_yaml_expect_seq(y, v, sub, e);
    if (rc)
        return rc;
    r->given = 1;
    r->line = nad_yaml_line(v);
    int64_t prod = 1;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *n = nad_yaml_node(y, *it);
        int d = -1;
        int64_t f = 0;
        rc = parse_dim_item(y, n, sub, &d, &f, e);
        if (rc)
            return rc;
        if (r->allowed[d] || r->fixed[d])
            return nad_errf(e, NAD_EFORMAT, "%s:%d: %s: dim %c given twice", y->path, nad_yaml_line(n), sub,
                            dim_letters[d]);
        r->allowed[d] = f == 0;
        r->fixed[d] = f;
        prod *= f ? f : 1;
        if (room > 0 && prod > room)
            return nad_errf(e, NAD_EINVAL, "%s:%d: %s: fixed factors need %lld PEs, the axis has %lld", y->path,
                            nad_yaml_line(n), sub, (long long)prod, (long long)room);
    }
    return NAD_OK;
}

/* innermost: [D, ...]: dims, outer to inner, that must be the level's
 * innermost loops; each must be allowed a temporal factor there. */
static nad_status parse_innermost(nad_yaml *y, yaml_node_t *map, const char *ctx, nad_level_constraints *lc,
                                  nad_err *e)
{
    yaml_node_t *v = nad_yaml_get(y, map, "innermost");
    char sub[192];
    if (!v)
        return NAD_OK;
    snprintf(sub, sizeof sub, "%s.innermost", ctx);
    nad_status rc = nad_yaml_expect_seq(y, v, sub, e);
    if (rc)
        return rc;
    lc->innermost_line = nad_yaml_line(v);
    int seen[NAD_ARCH_DIMS] = {0};
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *n = nad_yaml_node(y, *it);
        int d = -1;
        int64_t f = 0;
        rc = parse_dim_item(y, n, sub, &d, &f, e);
        if (rc)
            return rc;
        if (f || seen[d])
            return nad_errf(e, NAD_EFORMAT, "%s:%d: %s: '%s': list each dim once, without a factor", y->path,
                            nad_yaml_line(n), sub, nad_yaml_scalar(n));
        if (lc->temporal.given && !lc->temporal.allowed[d] && !lc->temporal.fixed[d])
            return nad_errf(e, NAD_EINVAL, "%s:%d: %s: dim %c may have no temporal factor at this level (see "
                            "temporal)", y->path, nad_yaml_line(n), sub, dim_letters[d]);
        seen[d] = 1;
        lc->innermost[lc->n_innermost++] = (uint8_t)d;
    }
    return NAD_OK;
}

/* levels[i].constraints: {temporal: [..], innermost: [..]}. */
static nad_status parse_level_constraints(nad_yaml *y, yaml_node_t *n, const char *ctx, nad_arch *a,
                                          nad_level_constraints *lc, nad_err *e)
{
    yaml_node_t *c = nad_yaml_get(y, n, "constraints");
    char sub[160];
    if (!c)
        return NAD_OK;
    snprintf(sub, sizeof sub, "%s.constraints", ctx);
    nad_status rc = nad_yaml_check_keys(y, c, sub, level_cons_keys, e);
    if (!rc)
        rc = parse_factor_rule(y, c, sub, "temporal", 0, &lc->temporal, e);
    if (!rc)
        rc = parse_innermost(y, c, sub, lc, e);
    a->constraints.any = 1;
    return rc;
}

/* pe_array.constraints: {x: [..], y: [..]} (dims the columns / rows unroll). */
static nad_status parse_pe_constraints(nad_yaml *y, yaml_node_t *p, nad_arch *a, nad_err *e)
{
    yaml_node_t *c = nad_yaml_get(y, p, "constraints");
    if (!c)
        return NAD_OK;
    nad_status rc = nad_yaml_check_keys(y, c, "pe_array.constraints", pe_cons_keys, e);
    if (!rc)
        rc = parse_factor_rule(y, c, "pe_array.constraints", "x", a->pe_cols, &a->constraints.x, e);
    if (!rc)
        rc = parse_factor_rule(y, c, "pe_array.constraints", "y", a->pe_rows, &a->constraints.y, e);
    a->constraints.any = 1;
    return rc;
}

/* 1 when rule r (or no rule) lets dim d take a factor above 1. */
static int rule_lets(const nad_factor_rule *r, int d)
{
    return !r->given || r->allowed[d] || r->fixed[d] > 1;
}

/*
 * Every dim must be able to take a factor somewhere (a level's temporal loops
 * or an array axis); otherwise a layer with that dim above 1 could never be
 * mapped, which is a mistake in the file, so it is named at load time.
 */
static nad_status check_constraints_cover(const char *path, int line, const nad_arch *a, nad_err *e)
{
    const nad_constraints *c = &a->constraints;
    if (!c->any)
        return NAD_OK;
    for (int d = 0; d < NAD_ARCH_DIMS; d++) {
        int ok = rule_lets(&c->x, d) || rule_lets(&c->y, d);
        for (int k = 0; k < a->n_levels; k++)
            ok |= !c->level[k].temporal.given || c->level[k].temporal.allowed[d];
        if (!ok)
            return nad_errf(e, NAD_EINVAL, "%s:%d: constraints: dim %c may take a free factor at no level and on no "
                            "array axis, so no layer with %c > 1 can be mapped", path, line, dim_letters[d],
                            dim_letters[d]);
    }
    return NAD_OK;
}

/* precision: {weights: 16, inputs: 16, outputs: 16} (all three required). */
static nad_status parse_precision(nad_yaml *y, yaml_node_t *root, nad_arch *a, nad_err *e)
{
    yaml_node_t *p = nad_yaml_get(y, root, "precision");
    if (!p)
        return nad_errf(e, NAD_EFORMAT, "%s:%d: arch: missing required field 'precision'", y->path,
                        nad_yaml_line(root));
    nad_status rc = nad_yaml_check_keys(y, p, "precision", ds_keys, e);
    for (int d = 0; !rc && d < NAD_DS_COUNT; d++) {
        rc = read_pos_int(y, p, "precision", ds_names[d], 1, &a->bits[d], e);
        if (!rc && a->bits[d] > 64)
            rc = nad_errf(e, NAD_EINVAL, "%s:%d: precision.%s: %d bits is more than 64", y->path,
                          nad_yaml_line(nad_yaml_get(y, p, ds_names[d])), ds_names[d], a->bits[d]);
    }
    return rc;
}

/* pe_array: {rows, cols, dataflow, macs_per_pe}. */
static nad_status parse_pe_array(nad_yaml *y, yaml_node_t *root, nad_arch *a, nad_err *e)
{
    yaml_node_t *p = nad_yaml_get(y, root, "pe_array");
    int df = 0;
    if (!p)
        return nad_errf(e, NAD_EFORMAT, "%s:%d: arch: missing required field 'pe_array' (kind %s)", y->path,
                        nad_yaml_line(root), kind_names[a->kind]);
    nad_status rc = nad_yaml_check_keys(y, p, "pe_array", pe_keys, e);
    if (!rc)
        rc = read_pos_int(y, p, "pe_array", "rows", 1, &a->pe_rows, e);
    if (!rc)
        rc = read_pos_int(y, p, "pe_array", "cols", 1, &a->pe_cols, e);
    if (!rc)
        rc = read_pos_int(y, p, "pe_array", "macs_per_pe", 0, &a->macs_per_pe, e);
    if (!rc)
        rc = read_enum(y, p, "pe_array", "dataflow", 1, dataflow_names, NAD_DF_COUNT, &df, e);
    a->dataflow = (nad_dataflow)df;
    if (!rc)
        rc = parse_pe_constraints(y, p, a, e);
    return rc;
}

/*
 * One entry of levels:.  Reads raw fields; per-value derivations happen in
 * derive_level() once the arch's precisions are known.
 */
static nad_status parse_level(nad_yaml *y, yaml_node_t *n, int index, nad_arch *a, nad_mem_level *l, nad_err *e)
{
    char ctx[128];
    int kind = 0, found = 0;
    int energy_set[2][NAD_DS_COUNT] = {{0}};
    nad_status rc;

    snprintf(ctx, sizeof ctx, "levels[%d]", index);
    rc = nad_yaml_check_keys(y, n, ctx, level_keys, e);
    if (rc)
        return rc;
    l->line = nad_yaml_line(n);
    rc = nad_yaml_str(y, n, ctx, "name", 1, l->name, sizeof l->name, NULL, e);
    if (rc)
        return rc;
    snprintf(ctx, sizeof ctx, "levels[%d] (%s)", index, l->name);
    rc = read_enum(y, n, ctx, "kind", 1, mem_names, NAD_MEM_COUNT, &kind, e);
    if (rc)
        return rc;
    l->kind = (nad_mem_kind)kind;
    l->per_pe = l->kind == NAD_MEM_PE;
    for (int d = 0; d < NAD_DS_COUNT; d++)
        l->holds[d] = 1;
    rc = read_ds_list(y, n, ctx, "holds", l->holds, &found, e);
    if (rc)
        return rc;
    l->block_words = 1;
    rc = read_pos_int(y, n, ctx, "word_bits", 1, &l->word_bits, e);
    if (!rc)
        rc = read_pos_int(y, n, ctx, "block_words", 0, &l->block_words, e);
    if (rc)
        return rc;

    /* Capacity: capacity_words (shared) or capacity: {ds: words} (partitioned). */
    yaml_node_t *cap_shared = nad_yaml_get(y, n, "capacity_words");
    yaml_node_t *cap_part = nad_yaml_get(y, n, "capacity");
    if (cap_shared && cap_part)
        return nad_errf(e, NAD_EFORMAT, "%s:%d: %s.capacity: give either capacity_words (shared) or capacity "
                        "(per data type), not both", y->path, nad_yaml_line(cap_part), ctx);
    if (cap_shared) {
        rc = nad_yaml_node_int(y, cap_shared, ctx, "capacity_words", &l->capacity_words, e);
        if (rc)
            return rc;
        rc = check_capacity(y, cap_shared, ctx, "capacity_words", l->capacity_words, e);
        if (rc)
            return rc;
    } else if (cap_part) {
        char sub[160];
        snprintf(sub, sizeof sub, "%s.capacity", ctx);
        rc = nad_yaml_check_keys(y, cap_part, sub, ds_keys, e);
        if (rc)
            return rc;
        l->partitioned = 1;
        for (int d = 0; d < NAD_DS_COUNT; d++) {
            yaml_node_t *v = nad_yaml_get(y, cap_part, ds_names[d]);
            int64_t words = 0;
            if (!v && l->holds[d])
                return nad_errf(e, NAD_EFORMAT, "%s:%d: %s: missing required field '%s' (the level holds %s)",
                                y->path, nad_yaml_line(cap_part), sub, ds_names[d], ds_names[d]);
            if (!v)
                continue;
            if (!l->holds[d])
                return nad_errf(e, NAD_EINVAL, "%s:%d: %s.%s: the level does not hold %s (see holds)", y->path,
                                nad_yaml_line(v), sub, ds_names[d], ds_names[d]);
            rc = nad_yaml_node_int(y, v, sub, ds_names[d], &words, e);
            if (rc)
                return rc;
            rc = check_capacity(y, v, sub, ds_names[d], words, e);
            if (rc)
                return rc;
            /* Held here in words; converted to values in derive_level(). */
            l->capacity_values[d] = words;
            /* At most 3 x 2^48: cannot overflow, checked all the same. */
            if (__builtin_add_overflow(l->capacity_words, words, &l->capacity_words))
                return nad_errf(e, NAD_EINVAL, "%s:%d: %s: the capacities overflow", y->path, nad_yaml_line(v), sub);
        }
    } else if (l->kind != NAD_MEM_DRAM) {
        return nad_errf(e, NAD_EFORMAT, "%s:%d: %s: missing required field 'capacity_words' (or 'capacity' per "
                        "data type)", y->path, l->line, ctx);
    }

    rc = read_per_ds(y, n, ctx, "read_energy", l->read_energy, energy_set[0], e);
    if (!rc)
        rc = read_per_ds(y, n, ctx, "write_energy", l->write_energy, energy_set[1], e);
    if (rc)
        return rc;
    for (int w = 0; w < 2; w++)
        for (int d = 0; d < NAD_DS_COUNT; d++)
            if (l->holds[d] && !energy_set[w][d])
                return nad_errf(e, NAD_EFORMAT, "%s:%d: %s: missing required field '%s' for %s", y->path, l->line,
                                ctx, w ? "write_energy" : "read_energy", ds_names[d]);
    rc = read_nonneg(y, n, ctx, "bandwidth", 0, 0, &l->bandwidth, e);
    if (!rc)
        rc = read_nonneg(y, n, ctx, "read_bandwidth", 0, 0, &l->read_bandwidth, e);
    if (!rc)
        rc = read_nonneg(y, n, ctx, "write_bandwidth", 0, 0, &l->write_bandwidth, e);
    if (rc)
        return rc;

    yaml_node_t *comp = nad_yaml_get(y, n, "compression");
    if (comp) {
        char sub[160];
        snprintf(sub, sizeof sub, "%s.compression", ctx);
        if (l->kind != NAD_MEM_DRAM)
            return nad_errf(e, NAD_EINVAL, "%s:%d: %s: only a dram level compresses transfers", y->path,
                            nad_yaml_line(comp), sub);
        rc = nad_yaml_check_keys(y, comp, sub, ds_keys, e);
        for (int d = 0; !rc && d < NAD_DS_COUNT; d++) {
            int c = 0;
            rc = read_enum(y, comp, sub, ds_names[d], 0, comp_names, NAD_COMP_COUNT, &c, e);
            l->compression[d] = (nad_compression)c;
        }
        if (rc)
            return rc;
    }
    return parse_level_constraints(y, n, ctx, a, &a->constraints.level[index], e);
}

/* Fills the per-value fields of l from the arch precisions (see arch.h). */
static nad_status derive_level(const char *path, nad_arch *a, nad_mem_level *l, nad_err *e)
{
    for (int d = 0; d < NAD_DS_COUNT; d++) {
        int wpv = (a->bits[d] + l->word_bits - 1) / l->word_bits;
        l->words_per_value[d] = wpv;
        if (!l->holds[d]) {
            l->read_energy[d] = l->write_energy[d] = 0;
            l->capacity_values[d] = 0;
            continue;
        }
        /* The file gives energy per physical access of block_words words. */
        l->read_energy[d] = l->read_energy[d] / l->block_words * wpv;
        l->write_energy[d] = l->write_energy[d] / l->block_words * wpv;
        if (l->kind == NAD_MEM_DRAM && l->capacity_words == 0)
            l->capacity_values[d] = 0;
        else if (l->partitioned)
            l->capacity_values[d] /= wpv;
        else
            l->capacity_values[d] = l->capacity_words / wpv;
        if (l->kind != NAD_MEM_DRAM && l->capacity_values[d] < 1)
            return nad_errf(e, NAD_EINVAL, "%s:%d: levels (%s).capacity: too small for one %d-bit value of %s",
                            path, l->line, l->name, a->bits[d], ds_names[d]);
    }
    return NAD_OK;
}

/* levels: the hierarchy, DRAM first, per-PE levels last. */
static nad_status parse_levels(nad_yaml *y, yaml_node_t *root, nad_arch *a, nad_err *e)
{
    yaml_node_t *seq = nad_yaml_get(y, root, "levels");
    nad_status rc;
    if (!seq)
        return nad_errf(e, NAD_EFORMAT, "%s:%d: arch: missing required field 'levels'", y->path,
                        nad_yaml_line(root));
    rc = nad_yaml_expect_seq(y, seq, "levels", e);
    if (rc)
        return rc;
    int count = (int)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (count < 1)
        return nad_errf(e, NAD_EINVAL, "%s:%d: levels: at least a dram level is required", y->path,
                        nad_yaml_line(seq));
    if (count > NAD_ARCH_MAX_LEVELS)
        return nad_errf(e, NAD_EINVAL, "%s:%d: levels: %d levels, at most %d are supported", y->path,
                        nad_yaml_line(seq), count, NAD_ARCH_MAX_LEVELS);
    a->first_pe_level = count;
    for (int i = 0; i < count; i++) {
        nad_mem_level *l = &a->levels[i];
        rc = parse_level(y, nad_yaml_node(y, seq->data.sequence.items.start[i]), i, a, l, e);
        if (rc)
            return rc;
        a->n_levels = i + 1;
        if (i == 0 && l->kind != NAD_MEM_DRAM)
            return nad_errf(e, NAD_EINVAL, "%s:%d: levels[0] (%s).kind: the outermost level must be dram, got %s",
                            y->path, l->line, l->name, mem_names[l->kind]);
        if (i > 0 && l->kind == NAD_MEM_DRAM)
            return nad_errf(e, NAD_EINVAL, "%s:%d: levels[%d] (%s).kind: dram must be the outermost level (index 0)",
                            y->path, l->line, i, l->name);
        if (l->per_pe && a->first_pe_level == count)
            a->first_pe_level = i;
        if (!l->per_pe && a->first_pe_level < i)
            return nad_errf(e, NAD_EINVAL, "%s:%d: levels[%d] (%s).kind: a shared level cannot sit inside per-PE "
                            "level %s", y->path, l->line, i, l->name, a->levels[a->first_pe_level].name);
        for (int j = 0; j < i; j++)
            if (strcmp(a->levels[j].name, l->name) == 0)
                return nad_errf(e, NAD_EINVAL, "%s:%d: levels[%d].name: '%s' is used by levels[%d] too", y->path,
                                l->line, i, l->name, j);
        rc = derive_level(y->path, a, l, e);
        if (rc)
            return rc;
        l->instances = l->per_pe ? (int64_t)a->pe_rows * a->pe_cols : 1;
    }
    return NAD_OK;
}

/* noc: {energy (scalar or per data type), multicast, psum_forwarding}. */
static nad_status parse_noc(nad_yaml *y, yaml_node_t *root, nad_arch *a, nad_err *e)
{
    yaml_node_t *n = nad_yaml_get(y, root, "noc");
    int set[NAD_DS_COUNT] = {0};
    if (!n)
        return NAD_OK;
    nad_status rc = nad_yaml_check_keys(y, n, "noc", noc_keys, e);
    if (!rc)
        rc = read_per_ds(y, n, "noc", "energy", a->noc.energy, set, e);
    if (!rc)
        rc = nad_yaml_bool(y, n, "noc", "multicast", 0, &a->noc.multicast, NULL, e);
    if (!rc)
        rc = nad_yaml_bool(y, n, "noc", "psum_forwarding", 0, &a->noc.psum_forwarding, NULL, e);
    if (!rc) /* added by the cost model's author (see arch.h) */
        rc = nad_yaml_bool(y, n, "noc", "diagonal_multicast", 0, &a->noc.diagonal_multicast, NULL, e);
    return rc;
}

/* sparsity: {zero_gating, zero_skipping, gate_on: [..], rlc: {run_bits, pairs_per_word, word_bits}}. */
static nad_status parse_sparsity(nad_yaml *y, yaml_node_t *root, nad_arch *a, nad_err *e)
{
    yaml_node_t *n = nad_yaml_get(y, root, "sparsity");
    nad_sparsity *s = &a->sparsity;
    int found = 0;
    /* Eyeriss RLC (JSSC 2017 Sec. IV-D): 5-bit run, 16-bit level, 3 pairs + 1 term bit per 64-bit word. */
    s->rlc_run_bits = 5;
    s->rlc_pairs_per_word = 3;
    s->rlc_word_bits = 64;
    s->gate_on[NAD_DS_INPUTS] = 1;
    if (!n)
        return NAD_OK;
    nad_status rc = nad_yaml_check_keys(y, n, "sparsity", sparsity_keys, e);
    if (!rc)
        rc = nad_yaml_bool(y, n, "sparsity", "zero_gating", 0, &s->zero_gating, NULL, e);
    if (!rc)
        rc = nad_yaml_bool(y, n, "sparsity", "zero_skipping", 0, &s->zero_skipping, NULL, e);
    if (!rc)
        rc = read_ds_list(y, n, "sparsity", "gate_on", s->gate_on, &found, e);
    if (rc)
        return rc;
    yaml_node_t *r = nad_yaml_get(y, n, "rlc");
    if (r) {
        rc = nad_yaml_check_keys(y, r, "sparsity.rlc", rlc_keys, e);
        if (!rc)
            rc = read_pos_int(y, r, "sparsity.rlc", "run_bits", 0, &s->rlc_run_bits, e);
        if (!rc)
            rc = read_pos_int(y, r, "sparsity.rlc", "pairs_per_word", 0, &s->rlc_pairs_per_word, e);
        if (!rc)
            rc = read_pos_int(y, r, "sparsity.rlc", "word_bits", 0, &s->rlc_word_bits, e);
        if (!rc && s->rlc_run_bits > 30)
            rc = nad_errf(e, NAD_EINVAL, "%s:%d: sparsity.rlc.run_bits: %d is more than 30", y->path,
                          nad_yaml_line(r), s->rlc_run_bits);
    }
    return rc;
}

/* pim: crossbar parameters (kind pim only). */
static nad_status parse_pim(nad_yaml *y, yaml_node_t *root, nad_arch *a, nad_err *e)
{
    yaml_node_t *n = nad_yaml_get(y, root, "pim");
    nad_pim *p = &a->pim;
    int64_t arrays = 0;
    const char *c = "pim";
    if (!n)
        return nad_errf(e, NAD_EFORMAT, "%s:%d: arch: missing required field 'pim' (kind pim)", y->path,
                        nad_yaml_line(root));
    nad_status rc = nad_yaml_check_keys(y, n, c, pim_keys, e);
    p->dac_bits = 1;
    p->adcs_per_array = 1;
    if (!rc)
        rc = read_pos_int(y, n, c, "rows", 1, &p->rows, e);
    if (!rc)
        rc = read_pos_int(y, n, c, "cols", 1, &p->cols, e);
    if (!rc)
        rc = read_pos_int(y, n, c, "cell_bits", 1, &p->cell_bits, e);
    if (!rc)
        rc = read_pos_int(y, n, c, "dac_bits", 0, &p->dac_bits, e);
    if (!rc)
        rc = read_pos_int(y, n, c, "adc_bits", 1, &p->adc_bits, e);
    if (!rc)
        rc = read_pos_int(y, n, c, "adcs_per_array", 0, &p->adcs_per_array, e);
    if (!rc)
        rc = nad_yaml_int(y, n, c, "arrays", 1, &arrays, NULL, e);
    if (!rc && arrays <= 0)
        rc = nad_errf(e, NAD_EINVAL, "%s:%d: pim.arrays: must be positive, got %lld", y->path,
                      nad_yaml_line(nad_yaml_get(y, n, "arrays")), (long long)arrays);
    if (!rc && arrays > NAD_ARCH_MAX_ARRAYS)
        rc = nad_errf(e, NAD_EINVAL, "%s:%d: pim.arrays: %lld is out of range (1 to %lld)", y->path,
                      nad_yaml_line(nad_yaml_get(y, n, "arrays")), (long long)arrays, (long long)NAD_ARCH_MAX_ARRAYS);
    p->n_arrays = arrays;
    p->weights_resident = 1;
    if (!rc)
        rc = nad_yaml_bool(y, n, c, "weights_resident", 0, &p->weights_resident, NULL, e);
    if (!rc)
        rc = read_nonneg(y, n, c, "dac_energy", 1, 0, &p->dac_energy, e);
    if (!rc)
        rc = read_nonneg(y, n, c, "adc_energy", 1, 0, &p->adc_energy, e);
    if (!rc)
        rc = read_nonneg(y, n, c, "xbar_energy", 1, 0, &p->xbar_energy, e);
    if (!rc)
        rc = read_nonneg(y, n, c, "shift_add_energy", 0, 0, &p->shift_add_energy, e);
    if (!rc)
        rc = read_nonneg(y, n, c, "read_latency_s", 1, 1, &p->read_latency_s, e);
    if (!rc)
        rc = read_nonneg(y, n, c, "adc_rate_hz", 1, 1, &p->adc_rate_hz, e);
    if (!rc)
        rc = read_nonneg(y, n, c, "write_energy_per_cell", 0, 0, &p->write_energy_per_cell, e);
    if (rc)
        return rc;
    p->cells_per_weight = (a->bits[NAD_DS_WEIGHTS] + p->cell_bits - 1) / p->cell_bits;
    p->input_cycles = (a->bits[NAD_DS_INPUTS] + p->dac_bits - 1) / p->dac_bits;
    if (p->adcs_per_array > p->cols)
        return nad_errf(e, NAD_EINVAL, "%s:%d: pim.adcs_per_array: %d ADCs for %d columns", y->path,
                        nad_yaml_line(n), p->adcs_per_array, p->cols);
    return NAD_OK;
}

/* roofline: host CPU parameters (kind cpu only). */
static nad_status parse_roofline(nad_yaml *y, yaml_node_t *root, nad_arch *a, nad_err *e)
{
    yaml_node_t *n = nad_yaml_get(y, root, "roofline");
    nad_roofline *r = &a->roofline;
    if (!n)
        return nad_errf(e, NAD_EFORMAT, "%s:%d: arch: missing required field 'roofline' (kind cpu)", y->path,
                        nad_yaml_line(root));
    nad_status rc = nad_yaml_check_keys(y, n, "roofline", roof_keys, e);
    r->cores = 1;
    if (!rc)
        rc = read_nonneg(y, n, "roofline", "peak_flops", 1, 1, &r->peak_flops, e);
    if (!rc)
        rc = read_nonneg(y, n, "roofline", "mem_bw_bytes_s", 1, 1, &r->mem_bw_bytes_s, e);
    if (!rc)
        rc = read_nonneg(y, n, "roofline", "llc_bytes", 0, 0, &r->llc_bytes, e);
    if (!rc)
        rc = read_nonneg(y, n, "roofline", "power_w", 0, 0, &r->power_w, e);
    if (!rc)
        rc = read_pos_int(y, n, "roofline", "cores", 0, &r->cores, e);
    return rc;
}

/* Checks that every data space the target computes with lives in some level. */
static nad_status check_coverage(const char *path, int root_line, nad_arch *a, nad_err *e)
{
    for (int d = 0; d < NAD_DS_COUNT; d++) {
        /* Resident PIM weights live in the crossbars, not in a memory level. */
        if (a->kind == NAD_TARGET_PIM && d == NAD_DS_WEIGHTS && a->pim.weights_resident)
            continue;
        if (nad_arch_next_level(a, (nad_dataspace)d, 0) < 0)
            return nad_errf(e, NAD_EINVAL, "%s:%d: levels.holds: no level holds %s", path, root_line, ds_names[d]);
    }
    if (a->levels[0].kind == NAD_MEM_DRAM)
        for (int d = 0; d < NAD_DS_COUNT; d++)
            if (!a->levels[0].holds[d] && !(a->kind == NAD_TARGET_PIM && d == NAD_DS_WEIGHTS))
                return nad_errf(e, NAD_EINVAL, "%s:%d: levels[0] (%s).holds: dram must hold %s (the layer's data "
                                "starts and ends there)", path, a->levels[0].line, a->levels[0].name, ds_names[d]);
    return NAD_OK;
}

nad_status nad_arch_load(const char *path, nad_arch **out, nad_err *e)
{
    nad_status rc;
    nad_yaml y;
    nad_arch *a = NULL;
    int kind = 0, unit = 0;
    yaml_node_t *root;

    *out = NULL;
    rc = nad_yaml_open(path, &y, e);
    if (rc)
        goto fail;
    root = nad_yaml_root(&y);
    rc = nad_yaml_check_keys(&y, root, "arch", top_keys, e);
    if (rc)
        goto fail;
    a = calloc(1, sizeof *a);
    if (!a) {
        rc = nad_errf(e, NAD_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    snprintf(a->path, sizeof a->path, "%s", path);
    a->macs_per_pe = 1;
    a->pe_rows = a->pe_cols = 1;
    rc = nad_yaml_str(&y, root, "arch", "name", 1, a->name, sizeof a->name, NULL, e);
    if (!rc)
        rc = read_enum(&y, root, "arch", "kind", 1, kind_names, NAD_TARGET_COUNT, &kind, e);
    a->kind = (nad_target_kind)kind;
    if (!rc)
        rc = read_nonneg(&y, root, "arch", "clock_hz", 1, 1, &a->clock_hz, e);
    if (!rc)
        rc = read_enum(&y, root, "arch", "energy_unit", 1, unit_names, NAD_EU_COUNT, &unit, e);
    a->energy_unit = (nad_energy_unit)unit;
    if (!rc)
        rc = parse_precision(&y, root, a, e);
    if (!rc)
        rc = read_nonneg(&y, root, "arch", "static_power_w", 0, 0, &a->static_power_w, e);
    a->dram_overlap = 1;
    if (!rc) /* added by the sparsity/fidelity work (see arch.h) */
        rc = nad_yaml_bool(&y, root, "arch", "dram_overlap", 0, &a->dram_overlap, NULL, e);
    if (rc)
        goto fail;
    if (a->kind == NAD_TARGET_CPU) {
        rc = parse_roofline(&y, root, a, e);
        if (rc)
            goto fail;
        /* A roofline has no hierarchy to describe; levels are optional. */
        if (nad_yaml_get(&y, root, "levels")) {
            rc = parse_levels(&y, root, a, e);
            if (rc)
                goto fail;
        }
    } else {
        rc = read_nonneg(&y, root, "arch", "mac_energy", 1, 0, &a->mac_energy, e);
        if (!rc && a->kind == NAD_TARGET_SPATIAL)
            rc = parse_pe_array(&y, root, a, e);
        if (!rc && a->kind == NAD_TARGET_PIM)
            rc = parse_pim(&y, root, a, e);
        if (!rc)
            rc = parse_levels(&y, root, a, e);
        if (!rc)
            rc = parse_noc(&y, root, a, e);
        if (!rc)
            rc = check_coverage(path, nad_yaml_line(root), a, e);
        if (!rc)
            rc = check_constraints_cover(path, nad_yaml_line(root), a, e);
        if (rc)
            goto fail;
        if (a->kind == NAD_TARGET_SPATIAL && a->first_pe_level == a->n_levels) {
            rc = nad_errf(e, NAD_EINVAL, "%s:%d: levels: a spatial target needs at least one per-PE level (kind pe)",
                          path, nad_yaml_line(nad_yaml_get(&y, root, "levels")));
            goto fail;
        }
    }
    if (a->kind != NAD_TARGET_SPATIAL && nad_yaml_get(&y, root, "pe_array")) {
        rc = nad_errf(e, NAD_EINVAL, "%s:%d: pe_array: only a spatial target has a PE array", path,
                      nad_yaml_line(nad_yaml_get(&y, root, "pe_array")));
        goto fail;
    }
    rc = parse_sparsity(&y, root, a, e);
    if (rc)
        goto fail;
    nad_yaml_close(&y);
    *out = a;
    return NAD_OK;
fail:
    nad_yaml_close(&y);
    nad_arch_free(a);
    return rc;
}

int64_t nad_arch_pe_count(const nad_arch *a)
{
    return a->kind == NAD_TARGET_SPATIAL ? (int64_t)a->pe_rows * a->pe_cols : 1;
}

int nad_arch_next_level(const nad_arch *a, nad_dataspace d, int from)
{
    for (int i = from < 0 ? 0 : from; i < a->n_levels; i++)
        if (a->levels[i].holds[d])
            return i;
    return -1;
}

int nad_arch_innermost_level(const nad_arch *a, nad_dataspace d)
{
    for (int i = a->n_levels - 1; i >= 0; i--)
        if (a->levels[i].holds[d])
            return i;
    return -1;
}

int nad_arch_find_level(const nad_arch *a, const char *name)
{
    for (int i = 0; i < a->n_levels; i++)
        if (strcmp(a->levels[i].name, name) == 0)
            return i;
    return -1;
}

int nad_arch_level_fits(const nad_arch *a, int li, const int64_t values[NAD_DS_COUNT])
{
    if (li < 0 || li >= a->n_levels)
        return 0;
    const nad_mem_level *l = &a->levels[li];
    int64_t words = 0;
    for (int d = 0; d < NAD_DS_COUNT; d++) {
        if (values[d] < 0 || (!l->holds[d] && values[d] > 0))
            return 0;
        if (l->partitioned && values[d] > l->capacity_values[d])
            return 0;
        words += values[d] * l->words_per_value[d];
    }
    if (l->capacity_words == 0) /* unlimited (DRAM) */
        return 1;
    return l->partitioned || words <= l->capacity_words;
}

double nad_arch_dram_traffic_factor(const nad_arch *a, nad_dataspace d, double density)
{
    if (a->n_levels < 1 || a->levels[0].compression[d] != NAD_COMP_RLC)
        return 1.0;
    if (density >= 1.0)
        return 1.0;
    if (density < 0)
        density = 0;
    const nad_sparsity *s = &a->sparsity;
    double max_run = ldexp(1.0, s->rlc_run_bits) - 1;
    /* With non-zeros placed independently at density p (q = 1-p), the zero
     * run before each non-zero is geometric; a run of L zeros needs
     * floor(L / (max_run+1)) extra (run, 0) pairs, whose mean is
     * q^(m+1) / (1 - q^(m+1)) with m = max_run.  There are p runs per value. */
    double q_run = pow(1.0 - density, max_run + 1.0);
    /* As p -> 0 this tends to 1/(m+1): one pair per max_run+1 zeros. */
    double pairs_per_value = density > 1e-9 ? density * (1.0 + q_run / (1.0 - q_run)) : 1.0 / (max_run + 1.0);
    double coded_bits = pairs_per_value * (double)s->rlc_word_bits / s->rlc_pairs_per_word;
    double factor = coded_bits / a->bits[d];
    return factor < 1.0 ? factor : 1.0;
}
