/*
 * nadapt — the mapper: spatial candidates from the dataflow, then a
 * deterministic local search over temporal tile factors and loop orders.
 * See mapper.h for the search and why it is shaped this way.
 */
#include "mapper.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SPATIAL_ENUM 4096
#define DEFAULT_SPATIAL_KEEP 6
#define KICKS 24
#define NONE (-1)

/* One spatial unrolling: factors per dim on X (cols) and Y (rows) and the
 * temporal iterations it leaves (the Eyexam step-4 bound). */
typedef struct spatial_cand {
    int64_t sx[NAD_DIM_COUNT], sy[NAD_DIM_COUNT];
    double iters;
    int seq; /* enumeration order, for deterministic ties */
} spatial_cand;

typedef struct cand_list {
    spatial_cand *v;
    int n, cap;
} cand_list;

/* The most balanced split of n over an axis of `room` PEs: n itself when it
 * fits, else ceil(n / ceil(n / room)) (Eyeriss's strip mining of rows). */
static int64_t balanced(int64_t n, int64_t room)
{
    int64_t parts = (n + room - 1) / room;
    return (n + parts - 1) / parts;
}

/* Factor options for a dim of size n on an axis with room for `room` PEs:
 * the divisors of n that fit, plus the most balanced ceil split (padding) so
 * that dims like 55 or 13 still fill the axis.  Returns the count. */
static int axis_options(int64_t n, int64_t room, int64_t *opt, int max)
{
    int k = 0;
    if (room < 1)
        room = 1;
    for (int64_t f = 1; f <= room && f <= n && k < max; f++)
        if (n % f == 0)
            opt[k++] = f;
    int64_t bal = balanced(n, room);
    int dup = 0;
    for (int i = 0; i < k; i++)
        dup |= opt[i] == bal;
    if (!dup && k < max && bal <= room)
        opt[k++] = bal;
    return k;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* Adds the spatial candidate (if new) with its temporal iteration count. */
static void add_cand(cand_list *cl, const nad_problem *p, const int64_t sx[NAD_DIM_COUNT],
                     const int64_t sy[NAD_DIM_COUNT])
{
    if (cl->n >= cl->cap)
        return;
    for (int i = 0; i < cl->n; i++)
        if (!memcmp(cl->v[i].sx, sx, sizeof cl->v[i].sx) && !memcmp(cl->v[i].sy, sy, sizeof cl->v[i].sy))
            return;
    spatial_cand *c = &cl->v[cl->n];
    memcpy(c->sx, sx, sizeof c->sx);
    memcpy(c->sy, sy, sizeof c->sy);
    c->iters = 1;
    for (int d = 0; d < NAD_DIM_COUNT; d++)
        c->iters *= (double)ceil_div(p->dim[d], sx[d] * sy[d]);
    c->seq = cl->n;
    cl->n++;
}

/* Enumerates axis assignments Y = [y1, y2], X = [x1, x2] (NONE allowed for
 * the second dims; a dim never goes on both axes).  With `whole` set, the
 * first dims take only their balanced split: the row-stationary dataflow
 * always spreads a whole filter dim over PE rows and output rows over
 * columns (Chen et al., ISCA 2016 Sec. IV-B), which is what sets Eyeriss's
 * measured PE utilisation. */
static void enum_template(cand_list *cl, const nad_problem *p, int rows, int cols, int y1, int y2, int x1, int x2,
                          int whole)
{
    int64_t o1[64], o2[64], o3[64], o4[64];
    int n1 = whole ? 1 : axis_options(p->dim[y1], rows, o1, 64);
    if (whole)
        o1[0] = balanced(p->dim[y1], rows);
    for (int a = 0; a < n1; a++) {
        int64_t rem_y = rows / o1[a];
        int n2 = y2 == NONE ? 1 : axis_options(p->dim[y2], rem_y, o2, 64);
        if (y2 == NONE)
            o2[0] = 1;
        for (int b = 0; b < n2; b++) {
            int n3 = x1 == NONE || whole ? 1 : axis_options(p->dim[x1], cols, o3, 64);
            if (x1 == NONE)
                o3[0] = 1;
            else if (whole)
                o3[0] = balanced(p->dim[x1], cols);
            for (int c = 0; c < n3; c++) {
                int64_t rem_x = cols / o3[c];
                int n4 = x2 == NONE ? 1 : axis_options(p->dim[x2], rem_x, o4, 64);
                if (x2 == NONE)
                    o4[0] = 1;
                for (int d = 0; d < n4; d++) {
                    int64_t sx[NAD_DIM_COUNT], sy[NAD_DIM_COUNT];
                    for (int i = 0; i < NAD_DIM_COUNT; i++)
                        sx[i] = sy[i] = 1;
                    sy[y1] = o1[a];
                    if (y2 != NONE)
                        sy[y2] = o2[b];
                    if (x1 != NONE)
                        sx[x1] = o3[c];
                    if (x2 != NONE)
                        sx[x2] = o4[d];
                    add_cand(cl, p, sx, sy);
                }
            }
        }
    }
}

/* All spatial candidates of the arch's dataflow. */
static void enum_spatial(cand_list *cl, const nad_arch *a, const nad_problem *p)
{
    const int rows = a->pe_rows > 0 ? a->pe_rows : 1, cols = a->pe_cols > 0 ? a->pe_cols : 1;
    const int N = NAD_DIM_N, M = NAD_DIM_M, C = NAD_DIM_C, P = NAD_DIM_P, Q = NAD_DIM_Q, R = NAD_DIM_R,
              S = NAD_DIM_S;
    switch (a->dataflow) {
    case NAD_DF_ROW_STATIONARY: {
        /* Filter rows on PE rows, output rows on PE columns; extra rows take
         * more filters/channels/images, extra columns more images/filters. */
        const int pairs[2][2] = {{R, P}, {S, Q}};
        const int y2s[4] = {NONE, M, C, N}, x2s[3] = {NONE, N, M};
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 4; j++)
                for (int k = 0; k < 3; k++)
                    if (y2s[j] == NONE || y2s[j] != x2s[k])
                        enum_template(cl, p, rows, cols, pairs[i][0], y2s[j], pairs[i][1], x2s[k], 1);
        break;
    }
    case NAD_DF_WEIGHT_STATIONARY: {
        const int y2s[3] = {NONE, R, S}, x2s[2] = {NONE, N};
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++)
                enum_template(cl, p, rows, cols, C, y2s[j], M, x2s[k], 0);
        break;
    }
    case NAD_DF_OUTPUT_STATIONARY:
        enum_template(cl, p, rows, cols, P, NONE, Q, NONE, 0);
        enum_template(cl, p, rows, cols, P, NONE, Q, M, 0);
        enum_template(cl, p, rows, cols, M, NONE, P, NONE, 0);
        enum_template(cl, p, rows, cols, M, NONE, Q, NONE, 0);
        enum_template(cl, p, rows, cols, M, NONE, Q, N, 0);
        break;
    case NAD_DF_INPUT_STATIONARY:
    default:
        enum_template(cl, p, rows, cols, C, NONE, P, NONE, 0);
        enum_template(cl, p, rows, cols, C, NONE, Q, NONE, 0);
        enum_template(cl, p, rows, cols, C, NONE, Q, N, 0);
        break;
    }
}

static int cmp_cand(const void *x, const void *y)
{
    const spatial_cand *a = x, *b = y;
    if (a->iters != b->iters)
        return a->iters < b->iters ? -1 : 1;
    return a->seq - b->seq;
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

/* Costs m; returns 1 when it covers nothing wrong and fits. */
static int try_cost(const nad_arch *a, const nad_problem *p, const nad_mapping *m, nad_cost *c)
{
    return nad_cost_spatial(a, p, m, c);
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
                    "tile overflows a shared level)",
                    a->path[0] ? a->path : a->name, (long long)d[NAD_DIM_N], (long long)d[NAD_DIM_M],
                    (long long)d[NAD_DIM_C], (long long)d[NAD_DIM_P], (long long)d[NAD_DIM_Q], (long long)d[NAD_DIM_R],
                    (long long)d[NAD_DIM_S]);
}

nad_status nad_mapper_search(const nad_arch *a, const nad_problem *p, const nad_mapper_opts *opts, nad_mapping *best,
                             nad_cost *best_cost, nad_err *e)
{
    nad_status rc = NAD_OK;
    cand_list cl = {NULL, 0, MAX_SPATIAL_ENUM};
    nad_cost *hint_cost = NULL;
    int *hint_ok = NULL;
    const nad_objective obj = opts ? opts->objective : NAD_OBJ_ENERGY;
    if (a->kind != NAD_TARGET_SPATIAL)
        return nad_errf(e, NAD_EINVAL, "%s: the mapper needs a spatial target (this one is %s)", a->name,
                        nad_target_kind_str(a->kind));
    cl.v = malloc(sizeof *cl.v * MAX_SPATIAL_ENUM);
    int n_hints = opts && opts->hints ? opts->n_hints : 0;
    hint_cost = calloc((size_t)(n_hints > 0 ? n_hints : 1), sizeof *hint_cost);
    hint_ok = calloc((size_t)(n_hints > 0 ? n_hints : 1), sizeof *hint_ok);
    if (!cl.v || !hint_cost || !hint_ok) {
        rc = nad_errf(e, NAD_ENOMEM, "mapper: out of memory");
        goto out;
    }
    enum_spatial(&cl, a, p);
    qsort(cl.v, (size_t)cl.n, sizeof *cl.v, cmp_cand);
    int keep = opts && opts->max_spatial > 0 ? opts->max_spatial : DEFAULT_SPATIAL_KEEP;
    if (keep > cl.n)
        keep = cl.n;

    /* Valid hints first: they bound the answer when dominate is set. */
    int any_hint = 0;
    for (int i = 0; i < n_hints; i++) {
        nad_mapping hm;
        if (opts->hints[i].n_levels != a->n_levels || !nad_mapping_shrink(&opts->hints[i], p, &hm))
            continue;
        hint_ok[i] = nad_cost_spatial(a, p, &hm, &hint_cost[i]);
        any_hint |= hint_ok[i];
    }

    int have = 0, have_dom = 0;
    nad_mapping bm, bdm;
    nad_cost bc, bdc;
    /* Considers candidate (m, c): the best overall and the best among those
     * dominating every valid hint. */
#define CONSIDER(mm, cc)                                                                                        \
    do {                                                                                                        \
        if (!have || better(&(cc), &bc, obj)) {                                                                 \
            bm = (mm);                                                                                          \
            bc = (cc);                                                                                          \
            have = 1;                                                                                           \
        }                                                                                                       \
        int dom_ = 1;                                                                                           \
        for (int h_ = 0; h_ < n_hints; h_++)                                                                    \
            if (hint_ok[h_] && !dominates(&(cc), &hint_cost[h_], a->n_levels))                                  \
                dom_ = 0;                                                                                       \
        if (dom_ && (!have_dom || better(&(cc), &bdc, obj))) {                                                  \
            bdm = (mm);                                                                                         \
            bdc = (cc);                                                                                         \
            have_dom = 1;                                                                                       \
        }                                                                                                       \
    } while (0)

    for (int i = 0; i < n_hints; i++) {
        nad_mapping hm;
        if (hint_ok[i] && nad_mapping_shrink(&opts->hints[i], p, &hm))
            CONSIDER(hm, hint_cost[i]);
    }
    for (int s = 0; s < keep; s++) {
        nad_mapping m;
        nad_mapping_init(&m, a);
        memcpy(m.sx, cl.v[s].sx, sizeof m.sx);
        memcpy(m.sy, cl.v[s].sy, sizeof m.sy);
        for (int d = 0; d < NAD_DIM_COUNT; d++)
            m.factor[0][d] = ceil_div(p->dim[d], m.sx[d] * m.sy[d]);
        nad_cost c;
        if (!nad_cost_spatial(a, p, &m, &c))
            continue; /* even the spatial tile overflows a shared level */
        /* Second start: the filter taps left over by the array at the
         * innermost level holding weights (the 1-D convolution primitive of
         * a row-stationary PE, Chen et al. ISCA 2016 Sec. IV-A), a basin the
         * one-factor moves cannot reach from the first start when the window
         * must shrink first. */
        nad_mapping m2 = m;
        int wl = nad_arch_innermost_level(a, NAD_DS_WEIGHTS);
        int seeded = 0;
        if (wl > 0)
            for (int d = NAD_DIM_R; d <= NAD_DIM_S; d++)
                if (m2.factor[0][d] > 1) {
                    m2.factor[wl][d] = m2.factor[0][d];
                    m2.factor[0][d] = 1;
                    seeded = 1;
                }
        climb(a, p, obj, &m, &c);
        nad_cost c2;
        if (seeded && nad_cost_spatial(a, p, &m2, &c2)) {
            climb(a, p, obj, &m2, &c2);
            if (better(&c2, &c, obj)) {
                m = m2;
                c = c2;
            }
        }
        iterate(a, p, obj, &m, &c, KICKS, 0x9e3779b97f4a7c15ULL + (uint64_t)s);
        CONSIDER(m, c);
    }
#undef CONSIDER
    if (!have) {
        rc = explain_no_fit(a, p, e);
        goto out;
    }
    if (opts && opts->dominate && any_hint && have_dom) {
        *best = bdm;
        *best_cost = bdc;
    } else {
        *best = bm;
        *best_cost = bc;
    }
out:
    free(cl.v);
    free(hint_cost);
    free(hint_ok);
    return rc;
}
