/*
 * nadapt — the largest channel count of one group that meets a resource
 * target (NetAdapt's "choose number of filters" step).
 *
 * Removing channels never raises a resource in the models nadapt uses, so
 * the counts that meet a target form a range [1, n*]: a binary search over
 * the allowed counts finds n* with log2(channels) measurements.  Each count
 * keeps the best-ranked channels.  The answer is always re-checked, so a
 * model that is not perfectly monotone can only make the search stop at a
 * smaller count, never return one that misses the target.
 */
#include <stdlib.h>

#include "reduce.h"

/* Measures group grp of g cut to its n best channels. */
static nad_status try_count(const nad_graph *g, const nad_group *grp, const double *score, int n,
                            nad_reduce_fn fn, void *ctx, nad_graph **out, double *value, nad_err *e)
{
    int *keep = malloc((size_t)n * sizeof *keep);
    if (!keep)
        return nad_errf(e, NAD_ENOMEM, "reduce: out of memory");
    nad_rank_keep(score, grp->channels, n, keep);
    nad_status rc = nad_shrink(g, grp, keep, n, out, e);
    free(keep);
    if (!rc)
        rc = fn(ctx, *out, value, e);
    if (rc) {
        nad_graph_free(*out);
        *out = NULL;
    }
    return rc;
}

/* The i-th allowed count (ascending): multiples of `multiple` below channels,
 * or 1..channels-1 when the group is too small for a multiple. */
static int count_at(int channels, int multiple, int i)
{
    return multiple < channels ? (i + 1) * multiple : i + 1;
}

static int n_counts(int channels, int multiple)
{
    return multiple < channels ? (channels - 1) / multiple : channels - 1;
}

/* See reduce.h. */
nad_status nad_reduce_search(const nad_graph *g, const nad_group *grp, const double *score, int multiple,
                             nad_reduce_fn fn, void *ctx, double target, nad_reduce_result *r, nad_err *e)
{
    r->n_keep = 0;
    r->graph = NULL;
    r->value = 0;
    r->evaluations = 0;
    int n = n_counts(grp->channels, multiple < 1 ? 1 : multiple);
    if (grp->frozen || n < 1)
        return NAD_OK;
    /* lo: largest index known to meet the target; hi: smallest known to miss. */
    int lo = -1, hi = n;
    nad_graph *best = NULL;
    double best_v = 0;
    while (hi - lo > 1) {
        /* Probe the top first: a loose target is met by the largest count. */
        int mid = lo < 0 && hi == n && r->evaluations == 0 ? n - 1 : lo + (hi - lo) / 2;
        if (r->evaluations == 1 && lo < 0)
            mid = 0; /* then the smallest: if it misses, nothing meets it */
        nad_graph *cand = NULL;
        double v;
        nad_status rc = try_count(g, grp, score, count_at(grp->channels, multiple, mid), fn, ctx, &cand, &v, e);
        r->evaluations++;
        if (rc) {
            nad_graph_free(best);
            return rc;
        }
        if (v <= target) {
            lo = mid;
            nad_graph_free(best);
            best = cand;
            best_v = v;
        } else {
            hi = mid;
            nad_graph_free(cand);
        }
    }
    if (lo >= 0) {
        r->n_keep = count_at(grp->channels, multiple, lo);
        r->graph = best;
        r->value = best_v;
    }
    return NAD_OK;
}
