/*
 * nadapt — lookup tables: a network's cost predicted from per-layer costs
 * measured beforehand (NetAdapt, Yang et al. ECCV 2018, section 3.3).
 *
 * For every distinct layer of a model (its key: op, batch, spatial sizes,
 * kernel, stride, dilation, padding, groups kind, bias, fused activation —
 * everything but the channel counts) a back-end measures the layer alone over
 * a grid of (input channels, output channels): multiples of `step`, the
 * smallest count and the full width; depthwise and weightless layers along
 * the diagonal in == out.  A network's cost is the sum of its layers' costs,
 * interpolated between grid points, plus the network's fixed overhead: the
 * full model measured whole minus the sum of its layers at full width.  The
 * file format is in measure/README.md ("Lookup tables").
 *
 *     nad_lut_build("eyeriss.lut", "model:models/eyeriss.yaml", g, "cnn", NULL, &st, &e);
 *     nad_lut *t; nad_lut_load("eyeriss.lut", &t, &e);
 *     double v[NAD_RES_COUNT]; nad_lut_predict(t, pruned, v, &e);
 *     nad_lut_free(t);
 *
 * `--backend lut:FILE` (backend.h) is the same prediction as a back-end.
 */
#ifndef NADAPT_LUT_H
#define NADAPT_LUT_H

#include "nadapt/backend.h"
#include "nadapt/graph.h"
#include "nadapt/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nad_lut nad_lut;

typedef struct nad_lut_options {
    int step;            /* grid step in channels (0: 8, NetAdapt's)          */
    double save_every_s; /* seconds between progress saves (0: 10)            */
    /* Called after each measured point (may be NULL): done of total points
     * this build measures, and the layer being measured. */
    void (*progress)(void *ctx, int done, int total, const char *layer);
    void *ctx;
} nad_lut_options;

typedef struct nad_lut_stats {
    int layers;      /* distinct layer keys of the model                 */
    int points;      /* grid points the model needs                      */
    int measured;    /* points measured by this build                    */
    int reused;      /* points already in the file                       */
    int layer_calls; /* of `measured`, those answered by layer()         */
    int overhead_measured; /* 1 when the whole network was measured      */
} nad_lut_stats;

/*
 * Builds (or completes) the table at path for model g with the back-end of
 * spec: every missing grid point of g's layers is measured, then the fixed
 * overhead of g's structure; points already in the file are kept.  The
 * file is rewritten atomically every opt->save_every_s seconds, so a killed
 * build resumes where it stopped.  An existing file built with another
 * back-end spec is refused.  model_name labels the overhead entry.  opt and
 * st may be NULL.
 */
nad_status nad_lut_build(const char *path, const char *spec, const nad_graph *g, const char *model_name,
                         const nad_lut_options *opt, nad_lut_stats *st, nad_err *e);

/* Reads a table (every value checked; errors name PATH:LINE). */
nad_status nad_lut_load(const char *path, nad_lut **out, nad_err *e);

/*
 * Predicts every resource the table holds for g (any graph of a structure
 * the table was built for; it is BatchNorm-folded and shape-inferred on a
 * copy).  values[r] is NAN for resources the table lacks; macs and params
 * are NAN too (backend.c counts them).  A layer outside the table is an
 * error naming it and the file.
 */
nad_status nad_lut_predict(const nad_lut *t, const nad_graph *g, double values[NAD_RES_COUNT], nad_err *e);

/* The back-end spec the table was built with. */
const char *nad_lut_spec(const nad_lut *t);

/* 1 when the table holds resource r; its unit ("s", "pJ", ...). */
int nad_lut_has(const nad_lut *t, nad_resource r);
const char *nad_lut_unit(const nad_lut *t, nad_resource r);

/* Frees t; NULL is allowed. */
void nad_lut_free(nad_lut *t);

#ifdef __cplusplus
}
#endif
#endif /* NADAPT_LUT_H */
