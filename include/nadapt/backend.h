/*
 * nadapt — resource back-ends: what a network costs on a device.
 *
 * The adapter asks a back-end for every resource of every candidate network
 * and never asks which back-end it talks to: the analytic model of an
 * accelerator (models/NAME.yaml: energy and cycles from the mapper and cost
 * model, see estimate.h), timing on this CPU, an external command, a user's
 * plugin (backend_plugin.h is the ABI every one of them implements), or a
 * lookup table built from one of them (lut.h).  MACs and parameters come from
 * the graph itself.
 *
 *     nad_backend *b;
 *     nad_backend_open("model:models/eyeriss.yaml", &b, &e);
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
 * Opens one back-end from a specification:
 *   model:PATH.yaml[:objective=energy|latency|edp,act_density=D]
 *                       the analytic accelerator model (a bare PATH.yaml too);
 *   host[:threads=N,batch=B,...]   latency of nadapt's own engine on this CPU;
 *   plugin:PATH.so[:CONFIG]        a shared library exporting the ABI of
 *                                  backend_plugin.h (PATH ends at the first ':');
 *   exec:[OPTIONS]COMMAND          a command run per candidate ({onnx} in it is
 *                                  replaced by the candidate's path).
 * On failure *out is NULL and e names the spec and the problem.
 */
nad_status nad_backend_open(const char *spec, nad_backend **out, nad_err *e);

/*
 * Several back-ends as one: each resource comes from the first back-end in
 * specs[] that reports it (so `plugin:x.so` before `model:y.yaml` takes
 * latency from the plugin and energy from the model); macs and params are
 * always counted from the graph.  n >= 1.
 */
nad_status nad_backend_open_list(const char *const *specs, int n, nad_backend **out, nad_err *e);

/*
 * Every resource of g for one image, in the back-end's units; a resource no
 * back-end reports is NAN (see nad_backend_reports).  g is not changed (the
 * back-ends see a BatchNorm-folded copy, as an accelerator would run it and
 * as `nadapt estimate` loads it).  Calls are serialised.
 */
nad_status nad_backend_measure(nad_backend *b, const nad_graph *g, double values[NAD_RES_COUNT], nad_err *e);

/*
 * Where g's energy goes: the analytic model's per-layer estimate when the
 * model provides energy, else *est = NULL and nothing is measured (free with
 * nad_estimate_free).
 */
nad_status nad_backend_breakdown(nad_backend *b, const nad_graph *g, nad_estimate **est, nad_err *e);

/* As nad_backend_measure, plus the spread (interquartile range of repeated
 * timings; 0 for a model or a count) of every resource. */
nad_status nad_backend_measure_spread(nad_backend *b, const nad_graph *g, double values[NAD_RES_COUNT],
                                      double spread[NAD_RES_COUNT], nad_err *e);

/* 1 when some back-end of b reports resource r (macs and params always). */
int nad_backend_reports(const nad_backend *b, nad_resource r);

/* 1 when resource r of b is a timing (it varies from one measurement to the
 * next; measurements must run alone). */
int nad_backend_is_timed(const nad_backend *b, nad_resource r);

/* The unit of resource r ("pJ", "MAC", "s", "MACs", "params", "accesses"). */
const char *nad_backend_unit(const nad_backend *b, nad_resource r);

/* A short name: the target's (e.g. "eyeriss"), "host", the plugin's; for a
 * list, the names joined with '+'. */
const char *nad_backend_target(const nad_backend *b);

/* The name of the back-end that provides resource r ("graph" for counts). */
const char *nad_backend_source(const nad_backend *b, nad_resource r);

/* Frees b; NULL is allowed. */
void nad_backend_destroy(nad_backend *b);

#ifdef __cplusplus
}
#endif
#endif /* NADAPT_BACKEND_H */
