/*
 * nadapt — shrink: a graph with one channel group cut down to chosen
 * channels (NetAdapt's "simplified network" for one proposal).
 *
 * Every member of the group (groups.h) is a range of entries along one axis
 * of a tensor, or a count (depthwise group, Reshape target).  The members of
 * one tensor and axis are applied together through a keep-mask, so a tensor
 * that carries the group at several offsets (a Concat of the same channels
 * twice) is sliced once, consistently.  Tensors the group does not touch
 * keep sharing their blobs with the source graph (copy on write).
 */
#include <stdlib.h>
#include <string.h>

#include "groups.h"

/* Marks the entries of removed channels along a member's axis as dropped. */
static void mask_member(const nad_group_member *m, const unsigned char *keep_ch, int channels, unsigned char *mask)
{
    for (int k = 0; k < channels; k++)
        if (!keep_ch[k])
            memset(mask + m->offset + (int64_t)k * m->per, 0, (size_t)m->per);
}

/* Replaces t's data by the entries along axis whose mask is set. */
static nad_status slice_tensor(nad_tensor *t, int axis, const unsigned char *mask, nad_err *e)
{
    int64_t outer = 1, inner = 1, len = t->dims[axis], kept = 0;
    for (int k = 0; k < axis; k++)
        outer *= t->dims[k];
    for (int k = axis + 1; k < t->ndim; k++)
        inner *= t->dims[k];
    for (int64_t j = 0; j < len; j++)
        kept += mask[j] != 0;
    size_t esz = t->dtype == NAD_DT_INT64 ? sizeof(int64_t) : sizeof(float);
    nad_blob *b = nad_blob_new((size_t)(outer * kept * inner) * esz + 1);
    if (!b)
        return nad_errf(e, NAD_ENOMEM, "shrink: out of memory slicing '%s'", t->name);
    const char *src = t->blob->data;
    char *dst = b->data;
    size_t row = (size_t)inner * esz;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < len; j++)
            if (mask[j]) {
                memcpy(dst, src + (size_t)(o * len + j) * row, row);
                dst += row;
            }
    b->bytes = (size_t)(outer * kept * inner) * esz;
    nad_blob_unref(t->blob);
    t->blob = b;
    t->dims[axis] = kept;
    return NAD_OK;
}

/* Applies every data member on (tensor, axis) of member index `first` once. */
static nad_status apply_tensor(nad_graph *c, const nad_group *grp, int first, const unsigned char *keep_ch,
                               unsigned char *done, nad_err *e)
{
    const nad_group_member *m0 = &grp->m[first];
    nad_tensor *t = &c->tensors[m0->tensor];
    if (!t->blob || m0->axis >= t->ndim)
        return nad_errf(e, NAD_ESTATE, "shrink: member tensor '%s' has no data or no axis %d", t->name, m0->axis);
    int64_t len = t->dims[m0->axis];
    unsigned char *mask = malloc((size_t)len + 1);
    if (!mask)
        return nad_errf(e, NAD_ENOMEM, "shrink: out of memory");
    memset(mask, 1, (size_t)len);
    for (int k = first; k < grp->n_m; k++) {
        const nad_group_member *m = &grp->m[k];
        if (done[k] || m->tensor != m0->tensor || m->axis != m0->axis || m->kind == NAD_MEM_CONV_GROUPS ||
            m->kind == NAD_MEM_RESHAPE)
            continue;
        if (m->offset + (int64_t)grp->channels * m->per > len) {
            free(mask);
            return nad_errf(e, NAD_ESTATE, "shrink: group '%s' does not fit tensor '%s'", grp->name, t->name);
        }
        mask_member(m, keep_ch, grp->channels, mask);
        done[k] = 1;
    }
    nad_status rc = slice_tensor(t, m0->axis, mask, e);
    free(mask);
    return rc;
}

/* Shrinks a count: a depthwise conv's group or a Reshape target's entry. */
static nad_status apply_count(nad_graph *c, const nad_group_member *m, int removed, nad_err *e)
{
    int64_t d = (int64_t)removed * m->per;
    if (m->kind == NAD_MEM_CONV_GROUPS) {
        c->nodes[m->node].attr.conv.group -= (int)d;
        return NAD_OK;
    }
    if (m->tensor < 0) {
        c->nodes[m->node].attr.ints.v[m->axis] -= d;
        return NAD_OK;
    }
    nad_tensor *t = &c->tensors[m->tensor];
    nad_status rc = nad_tensor_make_writable(t, e);
    if (rc)
        return rc;
    nad_tensor_i64(t)[m->axis] -= d;
    return NAD_OK;
}

/* Checks keep: ascending, distinct, in range, at least one. */
static nad_status check_keep(const nad_group *grp, const int *keep, int n_keep, nad_err *e)
{
    if (n_keep < 1 || n_keep > grp->channels)
        return nad_errf(e, NAD_EINVAL, "shrink: group '%s': keeping %d of %d channels", grp->name, n_keep,
                        grp->channels);
    for (int k = 0; k < n_keep; k++)
        if (keep[k] < 0 || keep[k] >= grp->channels || (k > 0 && keep[k] <= keep[k - 1]))
            return nad_errf(e, NAD_EINVAL, "shrink: group '%s': kept channels must be ascending in 0..%d",
                            grp->name, grp->channels - 1);
    return NAD_OK;
}

/* See groups.h. */
nad_status nad_shrink(const nad_graph *g, const nad_group *grp, const int *keep, int n_keep, nad_graph **out,
                      nad_err *e)
{
    *out = NULL;
    nad_status rc = check_keep(grp, keep, n_keep, e);
    if (rc)
        return rc;
    nad_graph *c = nad_graph_copy(g);
    unsigned char *keep_ch = calloc((size_t)grp->channels, 1);
    unsigned char *done = calloc((size_t)grp->n_m + 1, 1);
    if (!c || !keep_ch || !done) {
        rc = nad_errf(e, NAD_ENOMEM, "shrink: out of memory");
        goto fail;
    }
    for (int k = 0; k < n_keep; k++)
        keep_ch[keep[k]] = 1;
    for (int k = 0; k < grp->n_m && !rc; k++) {
        const nad_group_member *m = &grp->m[k];
        if (m->kind == NAD_MEM_CONV_GROUPS || m->kind == NAD_MEM_RESHAPE)
            rc = apply_count(c, m, grp->channels - n_keep, e);
        else if (!done[k])
            rc = apply_tensor(c, grp, k, keep_ch, done, e);
    }
    if (!rc)
        rc = nad_graph_infer_shapes(c, g->batch > 0 ? g->batch : 1, e);
    if (rc)
        goto fail;
    free(keep_ch);
    free(done);
    *out = c;
    return NAD_OK;
fail:
    free(keep_ch);
    free(done);
    nad_graph_free(c);
    return rc;
}
