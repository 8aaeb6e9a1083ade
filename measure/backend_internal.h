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

/* host[:threads=N,batch=B,warmup=W,min_runs=K,max_runs=K,max_seconds=T,max_iqr=F]:
 * latency of nadapt's own engine on this CPU (backend_host.c). */
extern const nad_backend_ops nad_backend_host_ops;

/* The per-layer estimate of the model back-end's state for a folded graph
 * with inferred shapes (for breakdowns; free with nad_estimate_free). */
nad_status nad_backend_model_estimate(void *state, const nad_graph *folded, nad_estimate **out, nad_err *e);

/* The target's name of a model back-end's state (e.g. "eyeriss"). */
const char *nad_backend_model_name(void *state);

/* exec:[OPTIONS]COMMAND, a command run per candidate (backend_exec.c). */
extern const nad_backend_ops nad_backend_exec_ops;

/*
 * Loads the plugin of "PATH.so[:CONFIG]" (backend_plugin.c): dlopen, the
 * entry point, nad_backend_ops_check.  On success *ops is the plugin's table,
 * *dl its handle (dlclose after the ops' close) and *config_after the CONFIG
 * part ("" when none); on failure *dl is NULL and e says what went wrong.
 */
nad_status nad_backend_plugin_load(const char *config, const nad_backend_ops **ops, void **dl,
                                   const char **config_after, nad_err *e);

/* lut:FILE (backend_lut.c): predictions from a lookup table (lut.h). */
extern const nad_backend_ops nad_backend_lut_ops;

/* 1 when every sub-back-end that provides a resource of b has a layer()
 * callback (a lookup table then asks layer() instead of network()). */
int nad_backend_has_layer(const nad_backend *b);

/* The cost of one layer from the providing sub-back-ends' layer() callbacks,
 * in nadapt's units (values[r] NAN for resources b does not report; macs and
 * params too).  Serialised with measurements. */
nad_status nad_backend_layer(nad_backend *b, const nad_layer_desc *l, double values[NAD_RES_COUNT], nad_err *e);

/*
 * Checks an ops table before anything of it is called: ABI version, size,
 * the mandatory callbacks.  `who` names it in the message (a plugin's path).
 */
nad_status nad_backend_ops_check(const nad_backend_ops *ops, const char *who, nad_err *e);

#endif /* NAD_MEASURE_BACKEND_INTERNAL_H */
