/*
 * nadapt — resource back-ends: what a network costs on a device.
 *
 * The adapter asks a back-end for every resource of every candidate network
 * and never asks which back-end it talks to.  Today's back-end is the
 * analytic model of an accelerator (models/NAME.yaml: energy and cycles from
 * the mapper and cost model, see estimate.h); MACs and parameters come from
 * the graph itself.  Measured back-ends (host timing, plugins, external
 * commands) plug in behind the same calls.
 *
 *     nad_backend *b;
 *     nad_backend_model_create("models/eyeriss.yaml", NAD_OBJ_ENERGY, 0, &b, &e);
 *     double v[NAD_RES_COUNT];
 *     nad_backend_measure(b, g, v, &e);      // v[NAD_RES_ENERGY] in nad_backend_unit(b, NAD_RES_ENERGY)
 *     nad_backend_destroy(b);
 *
 * Every answer depends on the graph alone, never on what was asked before:
 * the adapter's numbers are the ones `nadapt estimate` prints for the same
 * file, and a resumed run sees the same values as an uninterrupted one.
 */
#ifndef NADAPT_BACKEND_H
#define NADAPT_BACKEND_H

#include "nadapt/estimate.h"
#include "nadapt/graph.h"
#include "nadapt/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nad_resource {
    NAD_RES_ENERGY = 0, /* per inference of one image, the target's energy unit */
    NAD_RES_LATENCY,    /* seconds per inference of one image                   */
    NAD_RES_MACS,       /* multiply-accumulates per image                       */
    NAD_RES_PARAMS,     /* weights and biases                                   */
    NAD_RES_DRAM,       /* DRAM accesses (values moved) per image               */
    NAD_RES_COUNT
} nad_resource;

typedef struct nad_backend nad_backend;

/* "energy", "latency", "macs", "params", "dram"; and back (NAD_RES_COUNT if unknown). */
const char *nad_resource_name(nad_resource r);
nad_resource nad_resource_from_name(const char *s);

/*
 * The analytic back-end for a target description.  act_density > 0 gives
 * every layer that activation density (as `nadapt estimate --act-density`);
 * 0 estimates dense activations.  On failure *out is NULL and e names the file.
 */
nad_status nad_backend_model_create(const char *target_path, nad_objective objective, double act_density,
                                    nad_backend **out, nad_err *e);

/*
 * Every resource of g for one image, in the back-end's units.  g is not
 * changed (the back-end works on a BatchNorm-folded copy, as an accelerator
 * would run it and as `nadapt estimate` loads it).  With est non-NULL the
 * per-layer estimate is returned too (free with nad_estimate_free).
 */
nad_status nad_backend_measure(nad_backend *b, const nad_graph *g, double values[NAD_RES_COUNT], nad_estimate **est,
                               nad_err *e);

/* The unit of resource r ("pJ", "MAC", "s", "MACs", "params", "accesses"). */
const char *nad_backend_unit(const nad_backend *b, nad_resource r);

/* The target's name (e.g. "eyeriss"). */
const char *nad_backend_target(const nad_backend *b);

/* Frees b; NULL is allowed. */
void nad_backend_destroy(nad_backend *b);

#ifdef __cplusplus
}
#endif
#endif /* NADAPT_BACKEND_H */
