/*
 * nadapt — mapspace constraints: checking a mapping against a target's
 * temporal, loop-order and spatial rules (see constraints.h).
 */
#include "constraints.h"

#include <stdio.h>
#include <string.h>

_Static_assert(NAD_ARCH_DIMS == NAD_DIM_COUNT, "arch.h's constraint dims must be mapping.h's nad_dim");

int nad_constraints_free(const nad_factor_rule *r, nad_dim d, int64_t *fixed)
{
    if (fixed)
        *fixed = r && r->given ? r->fixed[d] : 0;
    return !r || !r->given || r->allowed[d];
}

/* The factor rule r demands of dim d on problem p: -1 free, else the exact
 * factor (1 for a dim the rule does not list). */
static int64_t required(const nad_factor_rule *r, const nad_problem *p, int d)
{
    int64_t fixed = 0;
    if (nad_constraints_free(r, (nad_dim)d, &fixed))
        return -1;
    if (!fixed)
        return 1;
    return fixed < p->dim[d] ? fixed : p->dim[d];
}

/* Index of the first dim whose factor breaks rule r, or -1. */
static int rule_broken(const nad_factor_rule *r, const nad_problem *p, const int64_t *factor)
{
    if (!r->given)
        return -1;
    for (int d = 0; d < NAD_DIM_COUNT; d++) {
        int64_t want = required(r, p, d);
        if (want >= 0 && factor[d] != want)
            return d;
    }
    return -1;
}

/* 1 when level k's loops with a factor above 1 end with its innermost dims
 * (those among them with a factor above 1), in the listed order. */
static int order_ok(const nad_level_constraints *lc, const nad_mapping *m, int k)
{
    uint8_t tail[NAD_DIM_COUNT], loops[NAD_DIM_COUNT];
    int nt = 0, nl = 0;
    for (int i = 0; i < lc->n_innermost; i++)
        if (m->factor[k][lc->innermost[i]] > 1)
            tail[nt++] = lc->innermost[i];
    for (int i = 0; i < NAD_DIM_COUNT; i++)
        if (m->factor[k][m->order[k][i]] > 1)
            loops[nl++] = m->order[k][i];
    return nt <= nl && !memcmp(loops + nl - nt, tail, (size_t)nt);
}

int nad_constraints_ok(const nad_arch *a, const nad_problem *p, const nad_mapping *m)
{
    const nad_constraints *c = &a->constraints;
    if (!c->any)
        return 1;
    if (rule_broken(&c->x, p, m->sx) >= 0 || rule_broken(&c->y, p, m->sy) >= 0)
        return 0;
    for (int k = 0; k < a->n_levels; k++)
        if (rule_broken(&c->level[k].temporal, p, m->factor[k]) >= 0 || !order_ok(&c->level[k], m, k))
            return 0;
    return 1;
}

/* Writes the dims rule r lets vary (and the fixed ones as D=k) into buf. */
static const char *rule_text(const nad_factor_rule *r, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int d = 0; d < NAD_DIM_COUNT && len < size; d++) {
        int n = 0;
        if (r->allowed[d])
            n = snprintf(buf + len, size - len, "%s%c", len ? " " : "", nad_dim_letter((nad_dim)d));
        else if (r->fixed[d])
            n = snprintf(buf + len, size - len, "%s%c=%lld", len ? " " : "", nad_dim_letter((nad_dim)d),
                         (long long)r->fixed[d]);
        len += n > 0 ? (size_t)n : 0;
    }
    return len ? buf : "none";
}

/* The message for dim d breaking rule r (named `rule`, `where` the loops). */
static nad_status factor_error(const nad_arch *a, const nad_factor_rule *r, const nad_problem *p, int d,
                               int64_t got, const char *rule, const char *where, nad_err *e)
{
    char allowed[64];
    int64_t want = required(r, p, d);
    if (want > 1)
        return nad_errf(e, NAD_EINVAL, "%s:%d: %s: %c has factor %lld %s, the target fixes it to %lld", a->path,
                        r->line, rule, nad_dim_letter((nad_dim)d), (long long)got, where, (long long)want);
    return nad_errf(e, NAD_EINVAL, "%s:%d: %s: %c has factor %lld %s; only %s may", a->path, r->line, rule,
                    nad_dim_letter((nad_dim)d), (long long)got, where, rule_text(r, allowed, sizeof allowed));
}

/* Checks level k's temporal and loop-order rules. */
static nad_status check_level(const nad_arch *a, const nad_problem *p, const nad_mapping *m, int k, nad_err *e)
{
    const nad_level_constraints *lc = &a->constraints.level[k];
    char rule[128], where[96];
    int d = rule_broken(&lc->temporal, p, m->factor[k]);
    if (d >= 0) {
        snprintf(rule, sizeof rule, "levels[%d] (%s).constraints.temporal", k, a->levels[k].name);
        snprintf(where, sizeof where, "at %s", a->levels[k].name);
        return factor_error(a, &lc->temporal, p, d, m->factor[k][d], rule, where, e);
    }
    if (!order_ok(lc, m, k)) {
        char want[2 * NAD_DIM_COUNT + 1] = "";
        for (int i = 0; i < lc->n_innermost; i++)
            snprintf(want + 2 * i, sizeof want - 2 * (size_t)i, "%c ", nad_dim_letter((nad_dim)lc->innermost[i]));
        return nad_errf(e, NAD_EINVAL, "%s:%d: levels[%d] (%s).constraints.innermost: the innermost loops of %s "
                        "must be %s(outer to inner)", a->path, lc->innermost_line, k, a->levels[k].name,
                        a->levels[k].name, want);
    }
    return NAD_OK;
}

nad_status nad_constraints_check(const nad_arch *a, const nad_problem *p, const nad_mapping *m, nad_err *e)
{
    const nad_constraints *c = &a->constraints;
    if (!c->any)
        return NAD_OK;
    int d = rule_broken(&c->x, p, m->sx);
    if (d >= 0)
        return factor_error(a, &c->x, p, d, m->sx[d], "pe_array.constraints.x", "on X (columns)", e);
    d = rule_broken(&c->y, p, m->sy);
    if (d >= 0)
        return factor_error(a, &c->y, p, d, m->sy[d], "pe_array.constraints.y", "on Y (rows)", e);
    for (int k = 0; k < a->n_levels; k++) {
        nad_status rc = check_level(a, p, m, k, e);
        if (rc)
            return rc;
    }
    return NAD_OK;
}

void nad_constraints_order(const nad_arch *a, nad_mapping *m)
{
    if (!a->constraints.any)
        return;
    for (int k = 0; k < a->n_levels; k++) {
        const nad_level_constraints *lc = &a->constraints.level[k];
        if (!lc->n_innermost)
            continue;
        uint8_t out[NAD_DIM_COUNT];
        int n = 0, listed[NAD_DIM_COUNT] = {0};
        for (int i = 0; i < lc->n_innermost; i++)
            listed[lc->innermost[i]] = 1;
        for (int i = 0; i < NAD_DIM_COUNT; i++)
            if (!listed[m->order[k][i]])
                out[n++] = m->order[k][i];
        for (int i = 0; i < lc->n_innermost; i++)
            out[n++] = lc->innermost[i];
        memcpy(m->order[k], out, sizeof out);
    }
}
