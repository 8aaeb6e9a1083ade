/*
 * nadapt — lookup tables (lut.h): the table in memory, prediction by
 * interpolation, and the builder that fills missing grid points.
 *
 * Prediction.  A dense unit at (in_c, out_c) is bilinear between the four
 * grid points around it; a diagonal unit (depthwise, weightless) is linear
 * between the two diagonal points around c; a grouped conv is looked up at
 * its full width.  Bilinear is exact for a cost that is bilinear in the
 * channel counts (MACs, weights, the analytic model's traffic within one
 * mapping), which is why NetAdapt's tables interpolate that way.  The
 * network's overhead (measured whole minus its units at full width) is added
 * once: every per-network constant — a timing's call overhead, what the
 * aliased reshapes cost, and the per-measurement overhead each one-layer
 * network carries — is in it, and a pruned variant keeps the same units, so
 * the constant carries over.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend_internal.h"
#include "core/atomic_file.h"
#include "lut_internal.h"

/* ---- the table in memory ---------------------------------------------------- */

/* See lut_internal.h. */
lut_layer *lut_find_layer(const nad_lut *t, const char *key)
{
    for (int i = 0; i < t->n_layers; i++)
        if (!strcmp(t->layers[i].key, key))
            return &t->layers[i];
    return NULL;
}

/* Grows *arr (elements of size elem) to hold need; 0 on success. */
static int grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int c = *cap ? *cap * 2 : 16;
    while (c < need)
        c *= 2;
    void *p = realloc(*arr, (size_t)c * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = c;
    return 0;
}

/* See lut_internal.h. */
nad_status lut_layer_add(nad_lut *t, const char *key, lut_layer **out, nad_err *e)
{
    if (strlen(key) >= LUT_KEY_MAX)
        return nad_errf(e, NAD_EINVAL, "lookup table: layer key too long");
    if (grow((void **)&t->layers, &t->cap_layers, t->n_layers + 1, sizeof *t->layers))
        return nad_errf(e, NAD_ENOMEM, "lookup table: out of memory");
    lut_layer *l = &t->layers[t->n_layers++];
    memset(l, 0, sizeof *l);
    snprintf(l->key, sizeof l->key, "%s", key);
    *out = l;
    return NAD_OK;
}

/* Orders points by (in_c, out_c). */
static int point_cmp(int64_t ai, int64_t ao, int64_t bi, int64_t bo)
{
    return ai != bi ? (ai < bi ? -1 : 1) : ao != bo ? (ao < bo ? -1 : 1) : 0;
}

/* Index of the first point of l not before (in_c, out_c). */
static int lower_bound(const lut_layer *l, int64_t in_c, int64_t out_c)
{
    int lo = 0, hi = l->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (point_cmp(l->p[mid].in_c, l->p[mid].out_c, in_c, out_c) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* See lut_internal.h. */
const lut_point *lut_find_point(const lut_layer *l, int64_t in_c, int64_t out_c)
{
    int i = lower_bound(l, in_c, out_c);
    return i < l->n && l->p[i].in_c == in_c && l->p[i].out_c == out_c ? &l->p[i] : NULL;
}

/* See lut_internal.h. */
nad_status lut_point_add(lut_layer *l, int64_t in_c, int64_t out_c, const double *v, nad_err *e)
{
    int i = lower_bound(l, in_c, out_c);
    if (i < l->n && l->p[i].in_c == in_c && l->p[i].out_c == out_c)
        return nad_errf(e, NAD_EFORMAT, "point %lld x %lld given twice", (long long)in_c, (long long)out_c);
    if (grow((void **)&l->p, &l->cap, l->n + 1, sizeof *l->p))
        return nad_errf(e, NAD_ENOMEM, "lookup table: out of memory");
    memmove(&l->p[i + 1], &l->p[i], (size_t)(l->n - i) * sizeof *l->p);
    l->p[i].in_c = in_c;
    l->p[i].out_c = out_c;
    memcpy(l->p[i].v, v, sizeof l->p[i].v);
    l->n++;
    return NAD_OK;
}

/* See lut_internal.h. */
lut_net *lut_find_net(const nad_lut *t, uint64_t hash)
{
    for (int i = 0; i < t->n_nets; i++)
        if (t->nets[i].hash == hash)
            return &t->nets[i];
    return NULL;
}

/* See lut_internal.h. */
nad_status lut_net_add(nad_lut *t, const lut_net *n, nad_err *e)
{
    if (lut_find_net(t, n->hash))
        return nad_errf(e, NAD_EFORMAT, "network %016llx given twice", (unsigned long long)n->hash);
    if (grow((void **)&t->nets, &t->cap_nets, t->n_nets + 1, sizeof *t->nets))
        return nad_errf(e, NAD_ENOMEM, "lookup table: out of memory");
    t->nets[t->n_nets++] = *n;
    return NAD_OK;
}

/* See lut_internal.h. */
nad_status lut_new(const char *spec, const nad_backend *b, nad_lut **out, nad_err *e)
{
    *out = NULL;
    if (strlen(spec) >= sizeof((nad_lut *)0)->spec || strchr(spec, '\n'))
        return nad_errf(e, NAD_EINVAL, "lookup table: back-end spec too long or multi-line");
    nad_lut *t = calloc(1, sizeof *t);
    if (!t)
        return nad_errf(e, NAD_ENOMEM, "lookup table: out of memory");
    snprintf(t->spec, sizeof t->spec, "%s", spec);
    int any = 0;
    for (int r = 0; r < NAD_RES_COUNT; r++) {
        if (r == NAD_RES_MACS || r == NAD_RES_PARAMS || !nad_backend_reports(b, (nad_resource)r))
            continue;
        t->has[r] = any = 1;
        snprintf(t->unit[r], sizeof t->unit[r], "%s", nad_backend_unit(b, (nad_resource)r));
    }
    if (!any) {
        free(t);
        return nad_errf(e, NAD_EINVAL, "lookup table: back-end '%s' reports no resource to tabulate", spec);
    }
    *out = t;
    return NAD_OK;
}

/* See lut.h. */
void nad_lut_free(nad_lut *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n_layers; i++)
        free(t->layers[i].p);
    free(t->layers);
    free(t->nets);
    free(t);
}

/* See lut.h. */
const char *nad_lut_spec(const nad_lut *t)
{
    return t->spec;
}

/* See lut.h. */
int nad_lut_has(const nad_lut *t, nad_resource r)
{
    return (unsigned)r < NAD_RES_COUNT && t->has[r];
}

/* See lut.h. */
const char *nad_lut_unit(const nad_lut *t, nad_resource r)
{
    return nad_lut_has(t, r) ? t->unit[r] : "";
}

/* See lut.h. */
nad_status nad_lut_load(const char *path, nad_lut **out, nad_err *e)
{
    return lut_read(path, out, e);
}

/* ---- prediction ------------------------------------------------------------- */

/* The largest value <= q and the smallest >= q of axis (0: in, 1: out) over
 * l's points (diag: only points with in == out); 0 when q is outside. */
static int bracket(const lut_layer *l, int axis, int diag, int64_t q, int64_t *lo, int64_t *hi)
{
    *lo = -1;
    *hi = INT64_MAX;
    for (int i = 0; i < l->n; i++) {
        if (diag && l->p[i].in_c != l->p[i].out_c)
            continue;
        int64_t v = axis ? l->p[i].out_c : l->p[i].in_c;
        if (v <= q && v > *lo)
            *lo = v;
        if (v >= q && v < *hi)
            *hi = v;
    }
    return *lo >= 0 && *hi != INT64_MAX;
}

/* Weight of the upper grid value for q in [lo, hi]. */
static double frac(int64_t q, int64_t lo, int64_t hi)
{
    return hi == lo ? 0.0 : (double)(q - lo) / (double)(hi - lo);
}

/* The value of resource r at oc on row ic, linear between o0 and o1. */
static double row_lerp(const lut_point *a, const lut_point *b, int r, double f)
{
    return (1 - f) * a->v[r] + f * b->v[r];
}

/* Brackets oc by out counts present on both rows i0 and i1 (the coarse
 * grid: the fine row at full input width has counts the others lack). */
static int coarse_bracket(const lut_layer *l, int64_t i0, int64_t i1, int64_t oc, int64_t *o0, int64_t *o1)
{
    *o0 = -1;
    *o1 = INT64_MAX;
    for (int k = lower_bound(l, i0, 0); k < l->n && l->p[k].in_c == i0; k++) {
        int64_t o = l->p[k].out_c;
        if ((o <= oc && o > *o0) || (o >= oc && o < *o1)) {
            if (i1 != i0 && !lut_find_point(l, i1, o))
                continue;
            if (o <= oc && o > *o0)
                *o0 = o;
            if (o >= oc && o < *o1)
                *o1 = o;
        }
    }
    return *o0 >= 0 && *o1 != INT64_MAX;
}

/* A dense unit: bilinear on the coarse grid, times the fine row's ratio
 * measured / interpolated at oc (the output-channel blocking of a kernel
 * makes cost jump between multiples of its block; the row at the largest
 * input count measures that pattern at every count).  0 when covered. */
static int grid_cost(const nad_lut *t, const lut_layer *l, int64_t ic, int64_t oc, double *v)
{
    int64_t i0, i1, o0, o1, imax = l->n ? l->p[l->n - 1].in_c : -1;
    if (!bracket(l, 0, 0, ic, &i0, &i1) || !coarse_bracket(l, i0, i1, oc, &o0, &o1))
        return -1;
    const lut_point *p00 = lut_find_point(l, i0, o0), *p01 = lut_find_point(l, i0, o1);
    const lut_point *p10 = lut_find_point(l, i1, o0), *p11 = lut_find_point(l, i1, o1);
    const lut_point *f = lut_find_point(l, imax, oc), *f0 = lut_find_point(l, imax, o0);
    const lut_point *f1 = lut_find_point(l, imax, o1);
    if (!p00 || !p01 || !p10 || !p11)
        return -1;
    double fi = frac(ic, i0, i1), fo = frac(oc, o0, o1);
    for (int r = 0; r < NAD_RES_COUNT; r++) {
        if (!t->has[r])
            continue;
        double b = (1 - fi) * row_lerp(p00, p01, r, fo) + fi * row_lerp(p10, p11, r, fo);
        double den = f && f0 && f1 && o0 != o1 ? row_lerp(f0, f1, r, fo) : 0;
        v[r] += den > 0 ? b * (f->v[r] / den) : b;
    }
    return 0;
}

/* A diagonal unit: linear between the diagonal points around c. */
static int diag_cost(const nad_lut *t, const lut_layer *l, int64_t c, double *v)
{
    int64_t c0, c1;
    if (!bracket(l, 0, 1, c, &c0, &c1))
        return -1;
    const lut_point *a = lut_find_point(l, c0, c0), *b = lut_find_point(l, c1, c1);
    if (!a || !b)
        return -1;
    double f = frac(c, c0, c1);
    for (int r = 0; r < NAD_RES_COUNT; r++)
        if (t->has[r])
            v[r] += row_lerp(a, b, r, f);
    return 0;
}

/* The cost of unit u (at its channel counts) from t, added into v[]. */
static nad_status unit_cost(const nad_lut *t, const lut_unit *u, double *v, nad_err *e)
{
    const lut_layer *l = lut_find_layer(t, u->key);
    const lut_point *p = l && u->kind == LUT_FIXED ? lut_find_point(l, u->in_c, u->out_c) : NULL;
    int miss = !l;
    if (l && u->kind == LUT_FIXED && p) {
        for (int r = 0; r < NAD_RES_COUNT; r++)
            if (t->has[r])
                v[r] += p->v[r];
    } else if (l) {
        miss = u->kind == LUT_FIXED ? 1
               : u->kind == LUT_DIAG ? diag_cost(t, l, u->in_c, v) : grid_cost(t, l, u->in_c, u->out_c, v);
    }
    if (miss)
        return nad_errf(e, NAD_EINVAL, "layer %s at %lld -> %lld channels not in %s: rebuild with nadapt lut "
                        "build", u->label, (long long)u->in_c, (long long)u->out_c, t->path[0] ? t->path : "the table");
    return NAD_OK;
}

/* The folded, shape-inferred copy of g a back-end sees, and its units. */
static nad_status folded_units(const nad_graph *g, nad_graph **c, lut_unit **u, int *n, nad_err *e)
{
    *u = NULL;
    *c = nad_graph_copy(g);
    if (!*c)
        return nad_errf(e, NAD_ENOMEM, "lookup table: out of memory");
    nad_status rc = nad_graph_simplify(*c, 1, e);
    if (!rc)
        rc = nad_graph_infer_shapes(*c, 1, e);
    if (!rc)
        rc = lut_units(*c, u, n, e);
    if (rc) {
        nad_graph_free(*c);
        *c = NULL;
    }
    return rc;
}

/* The sum of units u[0..n) from t (no overhead) into v. */
static nad_status sum_units(const nad_lut *t, const lut_unit *u, int n, double *v, nad_err *e)
{
    for (int r = 0; r < NAD_RES_COUNT; r++)
        v[r] = t->has[r] ? 0 : NAN;
    for (int i = 0; i < n; i++) {
        nad_status rc = unit_cost(t, &u[i], v, e);
        if (rc)
            return rc;
    }
    return NAD_OK;
}

/* See lut.h. */
nad_status nad_lut_predict(const nad_lut *t, const nad_graph *g, double values[NAD_RES_COUNT], nad_err *e)
{
    nad_graph *c = NULL;
    lut_unit *u = NULL;
    int n = 0;
    for (int r = 0; r < NAD_RES_COUNT; r++)
        values[r] = NAN;
    nad_status rc = folded_units(g, &c, &u, &n, e);
    if (!rc)
        rc = sum_units(t, u, n, values, e);
    const lut_net *net = rc ? NULL : lut_find_net(t, lut_structure_hash(u, n));
    if (!rc && !net)
        rc = nad_errf(e, NAD_EINVAL, "network structure %016llx (%d layers) not in %s: rebuild with nadapt lut "
                      "build", (unsigned long long)lut_structure_hash(u, n), n, t->path[0] ? t->path : "the table");
    for (int r = 0; r < NAD_RES_COUNT && !rc; r++)
        if (t->has[r])
            values[r] += net->overhead[r];
    free(u);
    nad_graph_free(c);
    return rc;
}

/* ---- building --------------------------------------------------------------- */

#define LUT_MAX_GRID 4096 /* values along one axis of one layer */

/* Seconds on the monotonic clock. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Adds x to the ascending distinct list v[0..*n) (capacity LUT_MAX_GRID). */
static void set_add(int64_t *v, int *n, int64_t x)
{
    int i = 0;
    while (i < *n && v[i] < x)
        i++;
    if ((i < *n && v[i] == x) || *n >= LUT_MAX_GRID)
        return;
    memmove(&v[i + 1], &v[i], (size_t)(*n - i) * sizeof *v);
    v[i] = x;
    (*n)++;
}

/* 1 when x is in the ascending list v[0..n). */
static int set_has(const int64_t *v, int n, int64_t x)
{
    for (int i = 0; i < n && v[i] <= x; i++)
        if (v[i] == x)
            return 1;
    return 0;
}

/* NetAdapt's grid along one axis: the smallest count (one unit of
 * granularity), multiples of step units below full, and full. */
static void grid_axis(int64_t full, int64_t unit, int step, int64_t *v, int *n)
{
    if (unit < 1 || full % unit)
        unit = 1;
    set_add(v, n, unit);
    for (int64_t k = (int64_t)step * unit; k < full; k += (int64_t)step * unit)
        set_add(v, n, k);
    set_add(v, n, full);
}

/* The grid of every unit with key u->key (and the points already in l). */
typedef struct grid {
    int64_t in[LUT_MAX_GRID], out[LUT_MAX_GRID];
    int n_in, n_out;
} grid;

/* Collects the grid of the units of one key (several units of a model may
 * share a key at different widths: the union of their grids).  Points a
 * table holds from other models stay, and are used where they bracket. */
static void key_grid(const lut_unit *u, int n, const char *key, int step, grid *gr)
{
    gr->n_in = gr->n_out = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(u[i].key, key))
            continue;
        if (u[i].kind == LUT_FIXED) {
            set_add(gr->in, &gr->n_in, u[i].in_c);
            set_add(gr->out, &gr->n_out, u[i].out_c);
            continue;
        }
        grid_axis(u[i].in_c, u[i].in_unit, u[i].kind == LUT_DIAG ? 1 : step, gr->in, &gr->n_in);
        grid_axis(u[i].out_c, 1, u[i].kind == LUT_DIAG ? 1 : step, gr->out, &gr->n_out);
    }
}

/* The cost of unit u at (ic, oc): layer() over the one-layer network's
 * nodes when the back-end has it, else network() on it. */
static nad_status measure_point(nad_backend *b, const nad_graph *c, const lut_unit *u, int64_t ic, int64_t oc,
                                double *v, int *by_layer, nad_err *e)
{
    nad_graph *net = NULL;
    nad_status rc = lut_layer_net(c, u, ic, oc, &net, e);
    *by_layer = !rc && nad_backend_has_layer(b);
    if (!rc && *by_layer) {
        for (int r = 0; r < NAD_RES_COUNT; r++)
            v[r] = 0;
        for (int i = 0; i < net->n_nodes && !rc; i++) {
            nad_layer_desc d;
            double lv[NAD_RES_COUNT];
            lut_layer_desc(net, i, &d);
            rc = nad_backend_layer(b, &d, lv, e);
            for (int r = 0; r < NAD_RES_COUNT; r++)
                v[r] += lv[r];
        }
    } else if (!rc) {
        rc = nad_backend_measure(b, net, v, e);
    }
    nad_graph_free(net);
    if (rc)
        nad_err_prefix(e, rc, "layer %s at %lld -> %lld channels: ", u->label, (long long)ic, (long long)oc);
    return rc;
}

/* The state of one build. */
typedef struct builder {
    nad_lut *t;
    nad_backend *b;
    const nad_graph *c;
    const lut_unit *u;
    int n;
    const char *path;
    nad_lut_options opt;
    nad_lut_stats *st;
    int total, done;
    double last_save;
} builder;

/* Saves the table when opt.save_every_s has passed (always when < 0). */
static nad_status maybe_save(builder *bd, nad_err *e)
{
    double now = now_s();
    if (bd->opt.save_every_s >= 0 && now - bd->last_save < bd->opt.save_every_s)
        return NAD_OK;
    bd->last_save = now;
    return lut_write(bd->t, bd->path, e);
}

/* Measures (or, when count_only, counts) one missing-or-present point. */
static nad_status fill_point(builder *bd, const lut_unit *rep, lut_layer *l, int64_t ic, int64_t oc, int count_only,
                             nad_err *e)
{
    if (count_only) {
        bd->st->points++;
        bd->total += !(l && lut_find_point(l, ic, oc));
        return NAD_OK;
    }
    if (lut_find_point(l, ic, oc)) {
        bd->st->reused++;
        return NAD_OK;
    }
    double v[NAD_RES_COUNT];
    int by_layer = 0;
    nad_status rc = measure_point(bd->b, bd->c, rep, ic, oc, v, &by_layer, e);
    if (!rc)
        rc = lut_point_add(l, ic, oc, v, e);
    if (rc)
        return rc;
    bd->st->measured++;
    bd->st->layer_calls += by_layer;
    if (bd->opt.progress)
        bd->opt.progress(bd->opt.ctx, ++bd->done, bd->total, rep->label);
    return maybe_save(bd, e);
}

/* Measures (or, when count_only, counts) the missing points of rep's key:
 * the product of the in and out grids, or its diagonal. */
static nad_status fill_key(builder *bd, const lut_unit *rep, int count_only, nad_err *e)
{
    lut_layer *l = lut_find_layer(bd->t, rep->key);
    nad_status rc = NAD_OK;
    if (!l && !count_only && (rc = lut_layer_add(bd->t, rep->key, &l, e)))
        return rc;
    grid *gr = malloc(sizeof *gr);
    if (!gr)
        return nad_errf(e, NAD_ENOMEM, "lookup table: out of memory");
    key_grid(bd->u, bd->n, rep->key, bd->opt.step, gr);
    for (int i = 0; i < gr->n_in && !rc; i++) {
        if (rep->kind == LUT_DIAG) {
            rc = fill_point(bd, rep, l, gr->in[i], gr->in[i], count_only, e);
            continue;
        }
        for (int j = 0; j < gr->n_out && !rc; j++)
            rc = fill_point(bd, rep, l, gr->in[i], gr->out[j], count_only, e);
    }
    /* The fine row: every output count at the largest input count. */
    int64_t imax = gr->n_in ? gr->in[gr->n_in - 1] : 0, omax = gr->n_out ? gr->out[gr->n_out - 1] : 0;
    for (int64_t o = 1; rep->kind == LUT_GRID && o <= omax && !rc; o++)
        if (!set_has(gr->out, gr->n_out, o))
            rc = fill_point(bd, rep, l, imax, o, count_only, e);
    free(gr);
    return rc;
}

/* Runs fill_key once per distinct key of the model's units. */
static nad_status fill_all(builder *bd, int count_only, nad_err *e)
{
    nad_status rc = NAD_OK;
    for (int i = 0; i < bd->n && !rc; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = !strcmp(bd->u[j].key, bd->u[i].key);
        if (seen)
            continue;
        bd->st->layers += count_only;
        rc = fill_key(bd, &bd->u[i], count_only, e);
    }
    return rc;
}

#define LUT_OVERHEAD_ROUNDS 3

/* One round of the overhead: the whole model, then each unit at full width
 * measured right after it, so both see the machine in the same state. */
static nad_status overhead_round(builder *bd, double *ov, nad_err *e)
{
    double whole[NAD_RES_COUNT];
    nad_status rc = nad_backend_measure(bd->b, bd->c, whole, e);
    if (rc)
        return nad_err_prefix(e, rc, "the whole network: ");
    for (int r = 0; r < NAD_RES_COUNT; r++)
        ov[r] = whole[r];
    for (int i = 0; i < bd->n && !rc; i++) {
        double v[NAD_RES_COUNT];
        int by_layer;
        rc = measure_point(bd->b, bd->c, &bd->u[i], bd->u[i].in_c, bd->u[i].out_c, v, &by_layer, e);
        for (int r = 0; r < NAD_RES_COUNT && !rc; r++)
            ov[r] -= v[r];
    }
    return rc;
}

/* The median of three. */
static double median3(double a, double b, double c)
{
    return a > b ? (b > c ? b : a > c ? c : a) : (a > c ? a : b > c ? c : b);
}

/* Stores the overhead of the model's structure: the whole model measured
 * minus the sum of its units at full width, the median of three rounds
 * measured back to back (one noisy timing of the whole network would
 * otherwise shift every prediction of the table). */
static nad_status fill_overhead(builder *bd, const char *model_name, nad_err *e)
{
    uint64_t h = lut_structure_hash(bd->u, bd->n);
    if (lut_find_net(bd->t, h))
        return NAD_OK;
    double ov[LUT_OVERHEAD_ROUNDS][NAD_RES_COUNT];
    nad_status rc = NAD_OK;
    for (int k = 0; k < LUT_OVERHEAD_ROUNDS && !rc; k++)
        rc = overhead_round(bd, ov[k], e);
    if (rc)
        return rc;
    lut_net net;
    memset(&net, 0, sizeof net);
    net.hash = h;
    net.n_units = bd->n;
    for (int r = 0; r < NAD_RES_COUNT; r++)
        net.overhead[r] = bd->t->has[r] ? median3(ov[0][r], ov[1][r], ov[2][r]) : 0;
    snprintf(net.name, sizeof net.name, "%s", model_name && model_name[0] ? model_name : "model");
    for (char *s = net.name; *s; s++)
        if (*s == ' ' || *s == '\t' || (unsigned char)*s < 32)
            *s = '_';
    bd->st->overhead_measured = 1;
    return lut_net_add(bd->t, &net, e);
}

/* Opens (or creates) the table of a build and checks it fits the back-end. */
static nad_status open_table(const char *path, const char *spec, const nad_backend *b, nad_lut **t, nad_err *e)
{
    if (access(path, F_OK) != 0)
        return errno == ENOENT ? lut_new(spec, b, t, e) : nad_errf(e, NAD_EIO, "%s: %s", path, strerror(errno));
    nad_status rc = lut_read(path, t, e);
    if (rc)
        return rc;
    if (strcmp((*t)->spec, spec)) {
        rc = nad_errf(e, NAD_EINVAL, "%s: built with back-end '%s', not '%s' (use another --out)", path,
                      (*t)->spec, spec);
    } else {
        for (int r = 0; r < NAD_RES_COUNT && !rc; r++)
            if (r != NAD_RES_MACS && r != NAD_RES_PARAMS &&
                ((*t)->has[r] != nad_backend_reports(b, (nad_resource)r) ||
                 ((*t)->has[r] && strcmp((*t)->unit[r], nad_backend_unit(b, (nad_resource)r)))))
                rc = nad_errf(e, NAD_EINVAL, "%s: holds other resources or units than back-end '%s' reports "
                              "(%s)", path, spec, nad_resource_name((nad_resource)r));
    }
    if (rc) {
        nad_lut_free(*t);
        *t = NULL;
    }
    return rc;
}

/* See lut.h. */
nad_status nad_lut_build(const char *path, const char *spec, const nad_graph *g, const char *model_name,
                         const nad_lut_options *opt, nad_lut_stats *st, nad_err *e)
{
    nad_lut_stats local;
    builder bd;
    memset(&bd, 0, sizeof bd);
    bd.st = st ? st : &local;
    memset(bd.st, 0, sizeof *bd.st);
    if (opt)
        bd.opt = *opt;
    if (bd.opt.step == 0)
        bd.opt.step = 8;
    if (bd.opt.save_every_s == 0)
        bd.opt.save_every_s = 10;
    if (bd.opt.step < 1 || bd.opt.step > 4096)
        return nad_errf(e, NAD_EINVAL, "lookup table: step %d is not in 1..4096", bd.opt.step);
    bd.path = path;
    nad_graph *c = NULL;
    lut_unit *u = NULL;
    nad_status rc = nad_check_writable(path, e);
    if (!rc)
        rc = nad_backend_open(spec, &bd.b, e);
    if (!rc)
        rc = folded_units(g, &c, &u, &bd.n, e);
    if (!rc)
        rc = open_table(path, spec, bd.b, &bd.t, e);
    if (!rc)
        snprintf(bd.t->path, sizeof bd.t->path, "%s", path);
    bd.c = c;
    bd.u = u;
    bd.last_save = now_s();
    if (!rc)
        rc = fill_all(&bd, 1, e);
    if (!rc)
        rc = fill_all(&bd, 0, e);
    if (!rc)
        rc = fill_overhead(&bd, model_name, e);
    /* Whatever was measured is kept, also after a failure: a rerun resumes. */
    if (bd.t && (bd.st->measured || bd.st->overhead_measured)) {
        nad_err we;
        nad_status wr = lut_write(bd.t, path, rc ? &we : e);
        rc = rc ? rc : wr;
    }
    nad_lut_free(bd.t);
    free(u);
    nad_graph_free(c);
    nad_backend_destroy(bd.b);
    return rc;
}
