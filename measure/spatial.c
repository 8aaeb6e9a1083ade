/*
 * nadapt — spatial candidates: dataflow templates or the target's axis
 * constraints, ranked by the temporal iterations they leave (spatial.h).
 */
#include "spatial.h"

#include <stdlib.h>
#include <string.h>

#include "constraints.h"

#define NONE (-1)
#define AXIS_MAX 2048     /* unrollings of one axis considered        */
#define AXIS_MAX_DIMS 3   /* dims above 1 on one axis                 */

/* The best candidates so far, sorted by (iters, seq). */
typedef struct topk {
    nad_spatial_cand *v;
    int n, max, seq;
} topk;

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* The most balanced split of n over an axis of `room` PEs: n itself when it
 * fits, else ceil(n / ceil(n / room)) (Eyeriss's strip mining of rows). */
static int64_t balanced(int64_t n, int64_t room)
{
    return ceil_div(n, ceil_div(n, room));
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

/* Offers (sx, sy) to the kept set: a duplicate of a kept one is dropped, a
 * new one displaces the worst when it leaves fewer iterations. */
static void topk_add(topk *t, const nad_problem *p, const int64_t sx[NAD_DIM_COUNT], const int64_t sy[NAD_DIM_COUNT])
{
    double iters = 1;
    for (int d = 0; d < NAD_DIM_COUNT; d++)
        iters *= (double)ceil_div(p->dim[d], sx[d] * sy[d]);
    int seq = t->seq++;
    for (int i = 0; i < t->n; i++)
        if (!memcmp(t->v[i].sx, sx, sizeof t->v[i].sx) && !memcmp(t->v[i].sy, sy, sizeof t->v[i].sy))
            return;
    if (t->n == t->max && iters >= t->v[t->n - 1].iters)
        return; /* ties keep the earlier one */
    int pos = t->n < t->max ? t->n++ : t->n - 1;
    while (pos > 0 && t->v[pos - 1].iters > iters) {
        t->v[pos] = t->v[pos - 1];
        pos--;
    }
    nad_spatial_cand *c = &t->v[pos];
    memcpy(c->sx, sx, sizeof c->sx);
    memcpy(c->sy, sy, sizeof c->sy);
    c->iters = iters;
    c->seq = seq;
}

/* Enumerates axis assignments Y = [y1, y2], X = [x1, x2] (NONE allowed for
 * the second dims).  With `whole` set, the first dims take only their
 * balanced split: the row-stationary dataflow spreads a whole filter dim over
 * PE rows and output rows over columns (Chen et al., ISCA 2016 Sec. IV-B). */
static void enum_template(topk *t, const nad_problem *p, int rows, int cols, int y1, int y2, int x1, int x2, int whole)
{
    int64_t o1[64], o2[64], o3[64], o4[64];
    int n1 = whole ? 1 : axis_options(p->dim[y1], rows, o1, 64);
    if (whole)
        o1[0] = balanced(p->dim[y1], rows);
    for (int a = 0; a < n1; a++) {
        int n2 = y2 == NONE ? 1 : axis_options(p->dim[y2], rows / o1[a], o2, 64);
        if (y2 == NONE)
            o2[0] = 1;
        for (int b = 0; b < n2; b++) {
            int n3 = whole ? 1 : axis_options(p->dim[x1], cols, o3, 64);
            if (whole)
                o3[0] = balanced(p->dim[x1], cols);
            for (int c = 0; c < n3; c++) {
                int n4 = x2 == NONE ? 1 : axis_options(p->dim[x2], cols / o3[c], o4, 64);
                if (x2 == NONE)
                    o4[0] = 1;
                for (int d = 0; d < n4; d++) {
                    int64_t sx[NAD_DIM_COUNT], sy[NAD_DIM_COUNT];
                    for (int i = 0; i < NAD_DIM_COUNT; i++)
                        sx[i] = sy[i] = 1;
                    sy[y1] = o1[a];
                    if (y2 != NONE)
                        sy[y2] = o2[b];
                    sx[x1] = o3[c];
                    if (x2 != NONE)
                        sx[x2] = o4[d];
                    topk_add(t, p, sx, sy);
                }
            }
        }
    }
}

/* Unrollings of one axis. */
typedef struct axis_set {
    int64_t v[AXIS_MAX][NAD_DIM_COUNT];
    int n;
} axis_set;

/* Recursively gives dims[i..] of an axis every option that fits `room`,
 * at most AXIS_MAX_DIMS of them above 1, appending each full assignment. */
static void axis_rec(const nad_problem *p, const int *dims, int nd, int i, int64_t room, int used,
                     int64_t cur[NAD_DIM_COUNT], axis_set *out)
{
    if (i == nd) {
        if (out->n < AXIS_MAX)
            memcpy(out->v[out->n++], cur, sizeof out->v[0]);
        return;
    }
    int64_t opt[64];
    int k = axis_options(p->dim[dims[i]], room, opt, 64);
    for (int j = 0; j < k; j++) {
        if (opt[j] > 1 && used == AXIS_MAX_DIMS)
            continue;
        cur[dims[i]] = opt[j];
        axis_rec(p, dims, nd, i + 1, room / opt[j], used + (opt[j] > 1), cur, out);
    }
    cur[dims[i]] = 1;
}

/* Every unrolling of an axis of `room` PEs under rule r (fixed dims forced). */
static void axis_enum(const nad_problem *p, const nad_factor_rule *r, int64_t room, axis_set *out)
{
    int64_t cur[NAD_DIM_COUNT];
    int dims[NAD_DIM_COUNT], nd = 0, used = 0;
    out->n = 0;
    for (int d = 0; d < NAD_DIM_COUNT; d++) {
        int64_t fixed = 0;
        cur[d] = 1;
        if (nad_constraints_free(r, (nad_dim)d, &fixed))
            dims[nd++] = d;
        else if (fixed > 1) {
            cur[d] = fixed < p->dim[d] ? fixed : p->dim[d];
            room /= cur[d];
            used += cur[d] > 1;
        }
    }
    if (room >= 1)
        axis_rec(p, dims, nd, 0, room, used, cur, out);
}

/* Every pair of a Y and an X unrolling; a dim on both axes must not cover
 * more than the dim (that only idles PEs). */
static void cross(topk *t, const nad_problem *p, const axis_set *ys, const axis_set *xs)
{
    for (int i = 0; i < ys->n; i++)
        for (int j = 0; j < xs->n; j++) {
            int ok = 1;
            for (int d = 0; d < NAD_DIM_COUNT && ok; d++)
                ok = ys->v[i][d] == 1 || xs->v[j][d] == 1 || ys->v[i][d] * xs->v[j][d] <= p->dim[d];
            if (ok)
                topk_add(t, p, xs->v[j], ys->v[i]);
        }
}

/* A rule that lets exactly the listed dims (NONE-terminated) vary. */
static nad_factor_rule rule_of(const int *dims)
{
    nad_factor_rule r;
    memset(&r, 0, sizeof r);
    r.given = 1;
    for (int i = 0; dims[i] != NONE; i++)
        r.allowed[dims[i]] = 1;
    return r;
}

/* Unrollings allowed by rules ry (rows) and rx (columns). */
static void enum_rules(topk *t, const nad_problem *p, int rows, int cols, const nad_factor_rule *ry,
                       const nad_factor_rule *rx, axis_set *ys, axis_set *xs)
{
    axis_enum(p, ry, rows, ys);
    axis_enum(p, rx, cols, xs);
    cross(t, p, ys, xs);
}

/* Row-stationary templates: whole filter rows first (the chip's usual
 * nest), then the folded variants (issue #9). */
static void enum_row_stationary(topk *t, const nad_problem *p, int rows, int cols, axis_set *ys, axis_set *xs)
{
    const int N = NAD_DIM_N, M = NAD_DIM_M, C = NAD_DIM_C, P = NAD_DIM_P, Q = NAD_DIM_Q, R = NAD_DIM_R,
              S = NAD_DIM_S;
    const int pairs[2][2] = {{R, P}, {S, Q}};
    const int y2s[4] = {NONE, M, C, N}, x2s[3] = {NONE, N, M};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 3; k++)
                if (y2s[j] == NONE || y2s[j] != x2s[k])
                    enum_template(t, p, rows, cols, pairs[i][0], y2s[j], pairs[i][1], x2s[k], 1);
    for (int i = 0; i < 2; i++) {
        const int yd[] = {pairs[i][0], M, C, N, NONE}, xd[] = {pairs[i][1], N, M, NONE};
        nad_factor_rule ry = rule_of(yd), rx = rule_of(xd);
        enum_rules(t, p, rows, cols, &ry, &rx, ys, xs);
    }
}

/* The dataflow's templates (no axis constraints in the target). */
static void enum_dataflow(topk *t, const nad_arch *a, const nad_problem *p, int rows, int cols, axis_set *ys,
                          axis_set *xs)
{
    const int N = NAD_DIM_N, M = NAD_DIM_M, C = NAD_DIM_C, P = NAD_DIM_P, Q = NAD_DIM_Q, R = NAD_DIM_R,
              S = NAD_DIM_S;
    switch (a->dataflow) {
    case NAD_DF_ROW_STATIONARY:
        enum_row_stationary(t, p, rows, cols, ys, xs);
        break;
    case NAD_DF_WEIGHT_STATIONARY: {
        const int y2s[3] = {NONE, R, S}, x2s[2] = {NONE, N};
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++)
                enum_template(t, p, rows, cols, C, y2s[j], M, x2s[k], 0);
        break;
    }
    case NAD_DF_OUTPUT_STATIONARY:
        enum_template(t, p, rows, cols, P, NONE, Q, NONE, 0);
        enum_template(t, p, rows, cols, P, NONE, Q, M, 0);
        enum_template(t, p, rows, cols, M, NONE, P, NONE, 0);
        enum_template(t, p, rows, cols, M, NONE, Q, NONE, 0);
        enum_template(t, p, rows, cols, M, NONE, Q, N, 0);
        break;
    case NAD_DF_INPUT_STATIONARY:
    default:
        enum_template(t, p, rows, cols, C, NONE, P, NONE, 0);
        enum_template(t, p, rows, cols, C, NONE, Q, NONE, 0);
        enum_template(t, p, rows, cols, C, NONE, Q, N, 0);
        break;
    }
}

int nad_spatial_candidates(const nad_arch *a, const nad_problem *p, nad_spatial_cand *out, int max)
{
    const int rows = a->pe_rows > 0 ? a->pe_rows : 1, cols = a->pe_cols > 0 ? a->pe_cols : 1;
    topk t = {out, 0, max, 0};
    if (max < 1)
        return 0;
    axis_set *sets = malloc(2 * sizeof *sets); /* Y and X unrollings (large: heap, not stack) */
    if (!sets)
        return -1;
    const nad_constraints *c = &a->constraints;
    if (c->x.given || c->y.given)
        enum_rules(&t, p, rows, cols, &c->y, &c->x, &sets[0], &sets[1]);
    else
        enum_dataflow(&t, a, p, rows, cols, &sets[0], &sets[1]);
    free(sets);
    return t.n;
}
