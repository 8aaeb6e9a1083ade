/*
 * nadapt — mapspace constraints (internal): whether a mapping lies in the
 * mapspace a target's control supports.
 *
 * A target may restrict, in the spirit of Timeloop's constraints files
 * (Parashar et al., ISPASS 2019), per memory level which dims may have
 * temporal factors (some fixed) and which dims are its innermost loops, and
 * per PE-array axis which dims may be unrolled (some fixed); which data types
 * a level keeps or bypasses is its `holds:` list.  The rules are read by the
 * arch loader (arch.h, nad_constraints; YAML in models/README.md).  A fixed
 * factor k means exactly min(k, the layer's dim), so a rule written for 3x3
 * filters still admits 1x1 layers.  A target without constraints admits
 * every mapping (the free search).
 */
#ifndef NAD_MEASURE_CONSTRAINTS_H
#define NAD_MEASURE_CONSTRAINTS_H

#include "arch.h"
#include "mapping.h"
#include "nadapt/status.h"

/* 1 when mapping m of problem p satisfies every constraint of a, else 0
 * (no message: the mapper's fast path). */
int nad_constraints_ok(const nad_arch *a, const nad_problem *p, const nad_mapping *m);

/*
 * Checks m against a's constraints.  Returns NAD_OK, or NAD_EINVAL with the
 * first broken rule in e as "FILE:LINE: RULE: what the mapping does", where
 * RULE is the YAML key (pe_array.constraints.x, levels[3]
 * (weights_spad).constraints.temporal, ...).
 */
nad_status nad_constraints_check(const nad_arch *a, const nad_problem *p, const nad_mapping *m, nad_err *e);

/* Puts every level's innermost-constrained dims last in its loop order (in
 * the listed order), leaving the other loops' relative order alone. */
void nad_constraints_order(const nad_arch *a, nad_mapping *m);

/* 1 when rule r (NULL-safe; not given = free) lets dim d take a factor other
 * than its fixed one; *fixed (may be NULL) gets the fixed factor or 0. */
int nad_constraints_free(const nad_factor_rule *r, nad_dim d, int64_t *fixed);

#endif /* NAD_MEASURE_CONSTRAINTS_H */
