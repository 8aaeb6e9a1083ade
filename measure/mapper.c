/*
 * nadapt — the mapper: spatial candidates from the dataflow, then a
 * deterministic local search over temporal tile factors and loop orders.
 * See mapper.h for the search and why it is shaped this way.
 */
#include "mapper.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "constraints.h"
#include "spatial.h"

#define DEFAULT_SPATIAL_KEEP 6
#define MAX_SPATIAL_KEEP 64
#define KICKS 24

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* 1 when cost a is better than b for the objective (ties: the other metric). */
static int better(const nad_cost *a, const nad_cost *b, nad_objective obj)
{
    double va = nad_cost_objective(a, obj), vb = nad_cost_objective(b, obj);
    double eps = 1e-12 * fmax(fabs(va), fabs(vb));
    if (va < vb - eps)
        return 1;
    if (va > vb + eps)
        return 0;
    if (obj == NAD_OBJ_LATENCY)
        return a->energy < b->energy * (1 - 1e-12);
    return a->cycles < b->cycles * (1 - 1e-12);
}

/* 1 when a is no worse than b in energy, cycles and every level's accesses. */
static int dominates(const nad_cost *a, const nad_cost *b, int n_levels)
{
    const double tol = 1 + 1e-9;
    if (a->energy > b->energy * tol || a->cycles > b->cycles * tol)
        return 0;
    for (int k = 0; k < n_levels; k++) {
        double sa = 0, sb = 0;
        for (int ds = 0; ds < NAD_DS_COUNT; ds++) {
            sa += a->reads[k][ds] + a->writes[k][ds];
            sb += b->reads[k][ds] + b->writes[k][ds];
        }
        if (sa > sb * tol + 1e-9)
            return 0;
    }
    return 1;
}

/* Costs m after putting its constrained loops innermost (a move may have
 * displaced them); returns 1 when it lies in the target's mapspace and fits. */
static int try_cost(const nad_arch *a, const nad_problem *p, nad_mapping *m, nad_cost *c)
{
    nad_constraints_order(a, m);
    return nad_constraints_ok(a, p, m) && nad_cost_spatial(a, p, m, c);
}

/* Moves dim d to the innermost position of level k's order. */
static void make_innermost(nad_mapping *m, int k, int d)
{
    int pos = 0;
    while (pos < NAD_DIM_COUNT && m->order[k][pos] != d)
        pos++;
    for (int i = pos; i < NAD_DIM_COUNT - 1; i++)
        m->order[k][i] = m->order[k][i + 1];
    m->order[k][NAD_DIM_COUNT - 1] = (uint8_t)d;
}

/* Smallest prime factor of n (n >= 2). */
static int64_t smallest_prime(int64_t n)
{
    for (int64_t f = 2; f * f <= n; f++)
        if (n % f == 0)
            return f;
    return n;
}

/*
 * Steepest-descent local search from m (modified in place into the local
 * optimum; *c its cost).  Moves: one prime factor of one dim from one level to
 * another; one dim with a factor above 1 to the innermost position of its
 * level.  Only mappings that fit are accepted.
 */
static void climb(const nad_arch *a, const nad_problem *p, nad_objective obj, nad_mapping *m, nad_cost *c)
{
    const int L = m->n_levels;
    nad_cost trial;
    for (int round = 0; round < 400; round++) {
        nad_mapping best_m = *m;
        nad_cost best_c = *c;
        int improved = 0;
        for (int from = 0; from < L; from++)
            for (int d = 0; d < NAD_DIM_COUNT; d++) {
                int64_t f = m->factor[from][d];
                /* Each distinct prime of this factor. */
                int64_t rest = f;
                while (rest > 1) {
                    int64_t pr = smallest_prime(rest);
                    while (rest % pr == 0)
                        rest /= pr;
                    for (int to = 0; to < L; to++) {
                        if (to == from)
                            continue;
                        /* The plain move, then the move with the dim made
                         * innermost at its destination (a factor moved in
                         * often pays only once its loop gives reuse). */
                        for (int reorder = 0; reorder < 2; reorder++) {
                            nad_mapping t = *m;
                            t.factor[from][d] /= pr;
                            t.factor[to][d] *= pr;
                            if (reorder) {
                                make_innermost(&t, to, d);
                                if (!memcmp(t.order[to], m->order[to], sizeof t.order[to]))
                                    continue;
                            }
                            if (try_cost(a, p, &t, &trial) && better(&trial, &best_c, obj)) {
                                best_m = t;
                                best_c = trial;
                                improved = 1;
                            }
                        }
                    }
                }
            }
        for (int k = 0; k < L; k++)
            for (int d = 0; d < NAD_DIM_COUNT; d++) {
                if (m->factor[k][d] <= 1)
                    continue;
                nad_mapping t = *m;
                make_innermost(&t, k, d);
                if (!memcmp(t.order[k], m->order[k], sizeof t.order[k]))
                    continue;
                if (try_cost(a, p, &t, &trial) && better(&trial, &best_c, obj)) {
                    best_m = t;
                    best_c = trial;
                    improved = 1;
                }
            }
        if (!improved)
            return;
        *m = best_m;
        *c = best_c;
    }
}

/* Deterministic 64-bit LCG (Knuth's MMIX constants): the kicks below must
 * give the same mapping on every run and platform. */
static uint64_t lcg_next(uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return *state >> 33;
}

/*
 * Iterated local search (Lourenco et al., "Iterated Local Search", 2003):
 * from the local optimum m, apply `kicks` rounds of three random prime moves
 * and a random reorder, climb again, and keep the result when it is better.
 * Escapes basins where two moves are needed together (e.g. shrinking a
 * window before the filter taps fit).
 */
static void iterate(const nad_arch *a, const nad_problem *p, nad_objective obj, nad_mapping *m, nad_cost *c,
                    int kicks, uint64_t seed)
{
    const int L = m->n_levels;
    uint64_t st = seed;
    for (int it = 0; it < kicks; it++) {
        nad_mapping t = *m;
        for (int j = 0; j < 3; j++) {
            int from = (int)(lcg_next(&st) % (uint64_t)L), d = (int)(lcg_next(&st) % NAD_DIM_COUNT);
            int to = (int)(lcg_next(&st) % (uint64_t)L);
            if (t.factor[from][d] <= 1 || to == from)
                continue;
            int64_t pr = smallest_prime(t.factor[from][d]);
            t.factor[from][d] /= pr;
            t.factor[to][d] *= pr;
            if (lcg_next(&st) & 1)
                make_innermost(&t, to, d);
        }
        nad_cost tc;
        if (!try_cost(a, p, &t, &tc))
            continue;
        climb(a, p, obj, &t, &tc);
        if (better(&tc, c, obj)) {
            *m = t;
            *c = tc;
        }
    }
}

int nad_mapping_shrink(const nad_mapping *m, const nad_problem *p, nad_mapping *out)
{
    *out = *m;
    for (int d = 0; d < NAD_DIM_COUNT; d++)
        if (nad_mapping_extent(m, (nad_dim)d) < p->dim[d])
            return 0;
    return 1;
}

/*
 * Names the level that makes a layer unmappable, as "FILE:LINE: levels[i]
 * (name).capacity: ...", so a user can fix the description rather than guess.
 * The outermost level must hold every tensor it keeps whole; any inner level
 * must hold at least one value of each data type it keeps.  When neither rule
 * finds the culprit (the spatial tile itself overflows a shared level), the
 * message names the layer shape and the target.
 */
static nad_status explain_no_fit(const nad_arch *a, const nad_problem *p, nad_err *e)
{
    const int64_t *d = p->dim;
    int64_t in_h = (d[NAD_DIM_P] - 1) * p->stride_h + (d[NAD_DIM_R] - 1) * p->dil_h + 1;
    int64_t in_w = (d[NAD_DIM_Q] - 1) * p->stride_w + (d[NAD_DIM_S] - 1) * p->dil_w + 1;
    int64_t whole[NAD_DS_COUNT] = {0};
    whole[NAD_DS_WEIGHTS] = d[NAD_DIM_M] * d[NAD_DIM_C] * d[NAD_DIM_R] * d[NAD_DIM_S];
    whole[NAD_DS_INPUTS] = d[NAD_DIM_N] * d[NAD_DIM_C] * in_h * in_w;
    whole[NAD_DS_OUTPUTS] = d[NAD_DIM_N] * d[NAD_DIM_M] * d[NAD_DIM_P] * d[NAD_DIM_Q];
    for (int li = 0; li < a->n_levels; li++) {
        const nad_mem_level *lv = &a->levels[li];
        int64_t need[NAD_DS_COUNT] = {0};
        int64_t total = 0;
        for (int ds = 0; ds < NAD_DS_COUNT; ds++) {
            if (!lv->holds[ds])
                continue;
            need[ds] = li == 0 ? whole[ds] : 1;
            total += need[ds];
        }
        if (!nad_arch_level_fits(a, li, need))
            return nad_errf(e, NAD_EUNSUPPORTED,
                            "%s:%d: levels[%d] (%s): capacity too small for layer N%lld M%lld C%lld P%lld Q%lld "
                            "R%lld S%lld: no mapping fits (the %s level must hold %lld values at least)",
                            a->path[0] ? a->path : a->name, lv->line, li, lv->name, (long long)d[NAD_DIM_N],
                            (long long)d[NAD_DIM_M], (long long)d[NAD_DIM_C], (long long)d[NAD_DIM_P],
                            (long long)d[NAD_DIM_Q], (long long)d[NAD_DIM_R], (long long)d[NAD_DIM_S],
                            li == 0 ? "outermost" : "inner", (long long)total);
    }
    return nad_errf(e, NAD_EUNSUPPORTED,
                    "%s: no mapping fits for N%lld M%lld C%lld P%lld Q%lld R%lld S%lld (even the smallest spatial "
                    "tile overflows a shared level%s)",
                    a->path[0] ? a->path : a->name, (long long)d[NAD_DIM_N], (long long)d[NAD_DIM_M],
                    (long long)d[NAD_DIM_C], (long long)d[NAD_DIM_P], (long long)d[NAD_DIM_Q], (long long)d[NAD_DIM_R],
                    (long long)d[NAD_DIM_S], a->constraints.any ? ", or no mapping keeps the target's constraints" : "");
}

/* Every local optimum found, whatever objective found it. */
typedef struct pool {
    nad_mapping *m;
    nad_cost *c;
    int n, cap;
} pool;

/* Appends (m, c); returns 0 when out of memory. */
static int pool_add(pool *pl, const nad_mapping *m, const nad_cost *c)
{
    if (pl->n == pl->cap) {
        int cap = pl->cap ? 2 * pl->cap : 32;
        nad_mapping *vm = realloc(pl->m, sizeof *vm * (size_t)cap);
        if (vm)
            pl->m = vm;
        nad_cost *vc = vm ? realloc(pl->c, sizeof *vc * (size_t)cap) : NULL;
        if (!vc)
            return 0;
        pl->c = vc;
        pl->cap = cap;
    }
    pl->m[pl->n] = *m;
    pl->c[pl->n] = *c;
    pl->n++;
    return 1;
}

/* Outermost level where rule-free dim d may take a temporal factor, or -1. */
static int free_level(const nad_arch *a, int d, int from, int step)
{
    for (int k = from; k >= 0 && k < a->n_levels; k += step)
        if (nad_constraints_free(&a->constraints.level[k].temporal, (nad_dim)d, NULL))
            return k;
    return -1;
}

/*
 * The first mapping of a spatial candidate: fixed temporal factors where the
 * target fixes them, everything else at the outermost level allowed to take
 * it (DRAM when free).  Returns 0 when a dim has nowhere to go.
 */
static int start_mapping(const nad_arch *a, const nad_problem *p, const nad_spatial_cand *sc, nad_mapping *m)
{
    nad_mapping_init(m, a);
    memcpy(m->sx, sc->sx, sizeof m->sx);
    memcpy(m->sy, sc->sy, sizeof m->sy);
    for (int d = 0; d < NAD_DIM_COUNT; d++) {
        int64_t rest = ceil_div(p->dim[d], m->sx[d] * m->sy[d]);
        for (int k = 0; k < a->n_levels; k++) {
            int64_t fixed = 0;
            if (!nad_constraints_free(&a->constraints.level[k].temporal, (nad_dim)d, &fixed) && fixed > 1) {
                m->factor[k][d] = fixed < rest ? fixed : rest;
                rest = ceil_div(rest, m->factor[k][d]);
            }
        }
        int k = free_level(a, d, 0, 1);
        if (rest > 1 && k < 0)
            return 0;
        if (k >= 0)
            m->factor[k][d] *= rest;
    }
    nad_constraints_order(a, m);
    return 1;
}

/* Second start: the filter taps the array leaves, moved to the innermost
 * level holding weights that may iterate them (the 1-D convolution primitive
 * of a row-stationary PE, Chen et al. ISCA 2016 Sec. IV-A), a basin the
 * one-factor moves cannot reach when the window must shrink first.  Returns
 * 0 when nothing moved. */
static int taps_inner(const nad_arch *a, nad_mapping *m)
{
    int moved = 0;
    for (int d = NAD_DIM_R; d <= NAD_DIM_S; d++) {
        int from = free_level(a, d, 0, 1);
        if (from < 0 || m->factor[from][d] <= 1)
            continue;
        for (int k = a->n_levels - 1; k > from; k--)
            if (a->levels[k].holds[NAD_DS_WEIGHTS] &&
                nad_constraints_free(&a->constraints.level[k].temporal, (nad_dim)d, NULL)) {
                m->factor[k][d] *= m->factor[from][d];
                m->factor[from][d] = 1;
                moved = 1;
                break;
            }
    }
    nad_constraints_order(a, m);
    return moved;
}

/* Climbs one spatial candidate for one objective (two starts, then kicks)
 * into *m / *c; returns 0 when no start fits. */
static int search_candidate(const nad_arch *a, const nad_problem *p, const nad_spatial_cand *sc, nad_objective obj,
                            uint64_t seed, nad_mapping *m, nad_cost *c)
{
    if (!start_mapping(a, p, sc, m) || !try_cost(a, p, m, c))
        return 0; /* even the spatial tile overflows a shared level */
    nad_mapping m2 = *m;
    nad_cost c2;
    int seeded = taps_inner(a, &m2);
    climb(a, p, obj, m, c);
    if (seeded && try_cost(a, p, &m2, &c2)) {
        climb(a, p, obj, &m2, &c2);
        if (better(&c2, c, obj)) {
            *m = m2;
            *c = c2;
        }
    }
    iterate(a, p, obj, m, c, KICKS, seed);
    return 1;
}

/*
 * Fills the pool with every objective's local optima (so that each objective's
 * answer is chosen among the others' too, and none is beaten at its own game
 * by another's), then climbs each objective's best under the other two.
 * Returns 0 when out of memory.
 */
static int fill_pool(const nad_arch *a, const nad_problem *p, const nad_spatial_cand *sc, int n_sc, pool *pl)
{
    int best[NAD_OBJ_COUNT];
    for (int o = 0; o < NAD_OBJ_COUNT; o++) {
        best[o] = -1;
        for (int s = 0; s < n_sc; s++) {
            nad_mapping m;
            nad_cost c;
            if (!search_candidate(a, p, &sc[s], (nad_objective)o, 0x9e3779b97f4a7c15ULL + (uint64_t)s, &m, &c))
                continue;
            if (!pool_add(pl, &m, &c))
                return 0;
            if (best[o] < 0 || better(&c, &pl->c[best[o]], (nad_objective)o))
                best[o] = pl->n - 1;
        }
    }
    for (int o = 0; o < NAD_OBJ_COUNT; o++)
        for (int src = 0; src < NAD_OBJ_COUNT; src++) {
            if (src == o || best[src] < 0)
                continue;
            nad_mapping m = pl->m[best[src]];
            nad_cost c = pl->c[best[src]];
            climb(a, p, (nad_objective)o, &m, &c);
            if (!pool_add(pl, &m, &c))
                return 0;
        }
    return 1;
}

/* Index of the pool's best entry for obj, among those no worse than every
 * valid hint when `dom` (-1 when none qualifies). */
static int pool_pick(const pool *pl, nad_objective obj, const nad_cost *hint_cost, const int *hint_ok, int n_hints,
                     int dom, int n_levels)
{
    int best = -1;
    for (int i = 0; i < pl->n; i++) {
        int ok = 1;
        for (int h = 0; dom && h < n_hints && ok; h++)
            ok = !hint_ok[h] || dominates(&pl->c[i], &hint_cost[h], n_levels);
        if (ok && (best < 0 || better(&pl->c[i], &pl->c[best], obj)))
            best = i;
    }
    return best;
}

/* Costs the valid hints (shrunk to p) and adds them to the pool first. */
static int add_hints(const nad_arch *a, const nad_problem *p, const nad_mapper_opts *opts, nad_cost *hint_cost,
                     int *hint_ok, pool *pl)
{
    for (int i = 0; i < opts->n_hints; i++) {
        nad_mapping hm;
        if (opts->hints[i].n_levels != a->n_levels || !nad_mapping_shrink(&opts->hints[i], p, &hm))
            continue;
        hint_ok[i] = try_cost(a, p, &hm, &hint_cost[i]);
        if (hint_ok[i] && !pool_add(pl, &hm, &hint_cost[i]))
            return 0;
    }
    return 1;
}

nad_status nad_mapper_search(const nad_arch *a, const nad_problem *p, const nad_mapper_opts *opts, nad_mapping *best,
                             nad_cost *best_cost, nad_err *e)
{
    nad_status rc = NAD_OK;
    pool pl = {NULL, NULL, 0, 0};
    const nad_objective obj = opts ? opts->objective : NAD_OBJ_ENERGY;
    if (a->kind != NAD_TARGET_SPATIAL)
        return nad_errf(e, NAD_EINVAL, "%s: the mapper needs a spatial target (this one is %s)", a->name,
                        nad_target_kind_str(a->kind));
    int n_hints = opts && opts->hints ? opts->n_hints : 0;
    int keep = opts && opts->max_spatial > 0 ? opts->max_spatial : DEFAULT_SPATIAL_KEEP;
    keep = keep > MAX_SPATIAL_KEEP ? MAX_SPATIAL_KEEP : keep;
    nad_spatial_cand *sc = malloc(sizeof *sc * (size_t)keep);
    nad_cost *hint_cost = calloc((size_t)(n_hints > 0 ? n_hints : 1), sizeof *hint_cost);
    int *hint_ok = calloc((size_t)(n_hints > 0 ? n_hints : 1), sizeof *hint_ok);
    int n_sc = sc ? nad_spatial_candidates(a, p, sc, keep) : -1;
    if (n_sc < 0 || !hint_cost || !hint_ok || (n_hints && !add_hints(a, p, opts, hint_cost, hint_ok, &pl)) ||
        !fill_pool(a, p, sc, n_sc, &pl)) {
        rc = nad_errf(e, NAD_ENOMEM, "mapper: out of memory");
        goto out;
    }
    int any_hint = 0;
    for (int i = 0; i < n_hints; i++)
        any_hint |= hint_ok[i];
    int i = -1;
    if (opts && opts->dominate && any_hint)
        i = pool_pick(&pl, obj, hint_cost, hint_ok, n_hints, 1, a->n_levels);
    if (i < 0)
        i = pool_pick(&pl, obj, hint_cost, hint_ok, n_hints, 0, a->n_levels);
    if (i < 0) {
        rc = explain_no_fit(a, p, e);
        goto out;
    }
    *best = pl.m[i];
    *best_cost = pl.c[i];
out:
    free(sc);
    free(hint_cost);
    free(hint_ok);
    free(pl.m);
    free(pl.c);
    return rc;
}
