/*
 * nadapt — least-squares restoration after pruning (internal).
 *
 * When channels of a group are removed, every layer that reads them (a Conv's
 * input channels, a Gemm's/MatMul's input columns: the group's INPUTS
 * members) loses part of its input.  Restoration re-fits that layer's weights
 * on the channels that remain so that its pre-activation output on
 * calibration images matches the unpruned network's (ThiNet, Luo et al. 2017;
 * NetAdapt's "restoration" step):
 *
 *     W' = argmin || X_kept W'^T - X W^T ||^2 + ridge || W' - W_kept ||^2
 *
 * with X the layer's input features (im2col patches for a Conv) on the
 * calibration images.  It is solved in closed form from the Gram matrix
 * G = X^T X as a correction D = W' - W_kept of the sliced weights:
 * (G_kk + ridge I) D^T = G_kr W_removed^T  (LAPACKE Cholesky on the
 * diagonally scaled system, SVD least squares when that fails), with a
 * constant feature added when the layer has a bias so that the bias absorbs
 * the mean of what was removed.  The ridge pulls towards the sliced weights,
 * not towards zero: with fewer calibration rows than features (a Gemm after
 * Flatten) a pull to zero made the fit worse than plain slicing.  The Gram matrices are computed once per
 * iteration on the current network (nad_restore_prepare), then every
 * proposal of that iteration restores from them.
 */
#ifndef NAD_PROPOSALS_RESTORE_H
#define NAD_PROPOSALS_RESTORE_H

#include <stdint.h>

#include "graph/graph.h"
#include "groups.h"
#include "nadapt/status.h"

typedef struct nad_restore_ctx nad_restore_ctx;

/*
 * Runs g on images (n x per_image normalised floats, NCHW) in chunks of
 * max_batch and keeps, for every Conv (group 1), Gemm and MatMul node whose
 * weight is an initializer, the Gram matrix of its input features (with the
 * constant feature).  g's shapes are re-inferred (restore them afterwards if
 * needed).  *out is new (free with nad_restore_free).
 */
nad_status nad_restore_prepare(nad_graph *g, const float *images, int64_t n, int64_t per_image, int max_batch,
                               nad_restore_ctx **out, nad_err *e);

/*
 * Re-fits, in pruned (= nad_shrink(g, grp, keep, n_keep)), the weights (and
 * bias) of every node that is an INPUTS member of grp.  ridge is relative:
 * ridge x mean diagonal of G_kk.  A node that is also a FILTERS member of grp
 * (it reads and writes the group) has its kept output rows fitted.  Only
 * reads ctx and g, so proposals may be restored in parallel threads.
 */
nad_status nad_restore_apply(const nad_restore_ctx *ctx, const nad_graph *g, const nad_group *grp, const int *keep,
                             int n_keep, nad_graph *pruned, double ridge, nad_err *e);

/* Frees ctx; NULL is allowed. */
void nad_restore_free(nad_restore_ctx *ctx);

#endif
