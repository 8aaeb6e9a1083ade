/*
 * nadapt — filter ranking by magnitude (NetAdapt keeps the filters with the
 * largest L2 norm; Li et al. 2017 use L1).  A group channel's score sums the
 * norms of its filters in every producer of the group, so channels tied by a
 * residual add are judged by all the layers that write them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "groups.h"

/* Adds each channel's norm over one FILTERS member's slices into score. */
static void member_norms(const nad_tensor *t, const nad_group_member *m, int channels, nad_rank_norm norm,
                         double *score)
{
    int64_t outer = 1, inner = 1, len = t->dims[m->axis];
    for (int k = 0; k < m->axis; k++)
        outer *= t->dims[k];
    for (int k = m->axis + 1; k < t->ndim; k++)
        inner *= t->dims[k];
    const float *w = nad_tensor_f32(t);
    for (int ch = 0; ch < channels; ch++) {
        double s = 0;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = m->offset + (int64_t)ch * m->per; j < m->offset + (int64_t)(ch + 1) * m->per; j++) {
                const float *p = w + (o * len + j) * inner;
                for (int64_t i = 0; i < inner; i++)
                    s += norm == NAD_RANK_L1 ? fabs((double)p[i]) : (double)p[i] * (double)p[i];
            }
        score[ch] += norm == NAD_RANK_L1 ? s : sqrt(s);
    }
}

/* See groups.h. */
nad_status nad_rank_channels(const nad_graph *g, const nad_group *grp, nad_rank_norm norm, double *score,
                             nad_err *e)
{
    memset(score, 0, (size_t)grp->channels * sizeof *score);
    for (int k = 0; k < grp->n_m; k++) {
        const nad_group_member *m = &grp->m[k];
        if (m->kind != NAD_MEM_FILTERS)
            continue;
        const nad_tensor *t = &g->tensors[m->tensor];
        if (!t->blob || t->dtype != NAD_DT_FLOAT || m->axis >= t->ndim ||
            m->offset + (int64_t)grp->channels * m->per > t->dims[m->axis])
            return nad_errf(e, NAD_ESTATE, "rank: group '%s' does not fit tensor '%s'", grp->name, t->name);
        member_norms(t, m, grp->channels, norm, score);
    }
    return NAD_OK;
}

typedef struct ranked {
    double s;
    int i;
} ranked;

/* Higher score first; equal scores keep the lower index first. */
static int cmp_ranked(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->s != b->s)
        return a->s > b->s ? -1 : 1;
    return a->i - b->i;
}

static int cmp_int(const void *pa, const void *pb)
{
    return *(const int *)pa - *(const int *)pb;
}

/* See groups.h.  Ranks NaN scores last (they compare unequal to everything). */
void nad_rank_keep(const double *score, int channels, int n_keep, int *keep)
{
    ranked *r = malloc((size_t)channels * sizeof *r);
    if (!r) { /* no memory: keep the first channels, still a valid answer */
        for (int k = 0; k < n_keep; k++)
            keep[k] = k;
        return;
    }
    for (int k = 0; k < channels; k++)
        r[k] = (ranked){isnan(score[k]) ? -INFINITY : score[k], k};
    qsort(r, (size_t)channels, sizeof *r, cmp_ranked);
    for (int k = 0; k < n_keep; k++)
        keep[k] = r[k].i;
    qsort(keep, (size_t)n_keep, sizeof *keep, cmp_int);
    free(r);
}
