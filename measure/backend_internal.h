/*
 * nadapt — back-end kinds (internal): the ops tables behind
 * nad_backend_open's "KIND:CONFIG" specifications (backend.c dispatches).
 */
#ifndef NAD_MEASURE_BACKEND_INTERNAL_H
#define NAD_MEASURE_BACKEND_INTERNAL_H

#include "nadapt/backend.h"
#include "nadapt/backend_plugin.h"

/* model:PATH.yaml[:objective=...,act_density=...] (backend_model.c). */
extern const nad_backend_ops nad_backend_model_ops;

/* The per-layer estimate of the model back-end's state for a folded graph
 * with inferred shapes (for breakdowns; free with nad_estimate_free). */
nad_status nad_backend_model_estimate(void *state, const nad_graph *folded, nad_estimate **out, nad_err *e);

/* The target's name of a model back-end's state (e.g. "eyeriss"). */
const char *nad_backend_model_name(void *state);

/*
 * Checks an ops table before anything of it is called: ABI version, size,
 * the mandatory callbacks.  `who` names it in the message (a plugin's path).
 */
nad_status nad_backend_ops_check(const nad_backend_ops *ops, const char *who, nad_err *e);

#endif /* NAD_MEASURE_BACKEND_INTERNAL_H */
