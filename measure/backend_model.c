/*
 * nadapt — the analytic resource back-end behind include/nadapt/backend.h:
 * energy, latency and DRAM traffic from the target model's estimator, MACs
 * and parameters from the graph.
 *
 * Every measurement starts from an empty estimator cache.  The estimator
 * bounds a layer by the cached mapping of a larger layer it has seen, which
 * makes a warm answer depend on the questions asked before; the adapter needs
 * answers that depend on the network alone (a resumed run, `nadapt estimate
 * final.onnx` and the run's history must agree).  A cold estimate of these
 * networks costs milliseconds, since the mapper's cost is per distinct layer
 * shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "estimate_internal.h"
#include "graph/graph.h"
#include "graph/passes.h"
#include "nadapt/backend.h"

struct nad_backend {
    nad_estimator *est;
    double act_density;
    char unit[16];
    char target[64];
};

/* See backend.h. */
nad_status nad_backend_model_create(const char *target_path, nad_objective objective, double act_density,
                                    nad_backend **out, nad_err *e)
{
    *out = NULL;
    if (!(act_density >= 0 && act_density <= 1))
        return nad_errf(e, NAD_EINVAL, "activation density must be in [0, 1] (got %.10g)", act_density);
    nad_backend *b = calloc(1, sizeof *b);
    if (!b)
        return nad_errf(e, NAD_ENOMEM, "back-end: out of memory");
    nad_status rc = nad_estimator_create(target_path, objective, &b->est, e);
    if (rc) {
        free(b);
        return rc;
    }
    const nad_arch *a = nad_estimator_arch(b->est);
    snprintf(b->unit, sizeof b->unit, "%s", nad_energy_unit_str(a->energy_unit));
    snprintf(b->target, sizeof b->target, "%s", a->name);
    b->act_density = act_density;
    *out = b;
    return NAD_OK;
}

/* Parameters of every node: weights and biases as `nadapt info` counts them. */
static nad_status count_params(const nad_graph *g, double *params, double *macs, nad_err *e)
{
    *params = *macs = 0;
    for (int i = 0; i < nad_graph_layer_count(g); i++) {
        nad_layer_info li;
        nad_status rc = nad_graph_layer_info(g, i, &li, e);
        if (rc)
            return rc;
        *params += (double)li.params;
        *macs += (double)li.macs;
    }
    return NAD_OK;
}

/* See backend.h. */
nad_status nad_backend_measure(nad_backend *b, const nad_graph *g, double values[NAD_RES_COUNT], nad_estimate **est,
                               nad_err *e)
{
    if (est)
        *est = NULL;
    nad_estimate *r = NULL;
    nad_graph *c = nad_graph_copy(g);
    if (!c)
        return nad_errf(e, NAD_ENOMEM, "back-end: out of memory");
    nad_status rc = nad_graph_simplify(c, 1, e);
    if (!rc)
        rc = nad_graph_infer_shapes(c, 1, e);
    if (!rc) {
        nad_estimator_clear(b->est);
        rc = nad_estimator_run_graph_density(b->est, c, NULL, b->act_density, &r, e);
    }
    if (!rc) {
        values[NAD_RES_ENERGY] = r->total.energy;
        values[NAD_RES_LATENCY] = r->clock_hz > 0 ? r->total.cycles / r->clock_hz : 0;
        values[NAD_RES_DRAM] = r->total.dram_accesses;
        rc = count_params(c, &values[NAD_RES_PARAMS], &values[NAD_RES_MACS], e);
    }
    nad_graph_free(c);
    if (!rc && est)
        *est = r;
    else
        nad_estimate_free(r);
    return rc;
}

/* See backend.h. */
const char *nad_backend_unit(const nad_backend *b, nad_resource r)
{
    switch (r) {
    case NAD_RES_ENERGY:
        return b->unit;
    case NAD_RES_LATENCY:
        return "s";
    case NAD_RES_MACS:
        return "MACs";
    case NAD_RES_PARAMS:
        return "params";
    case NAD_RES_DRAM:
        return "accesses";
    default:
        return "";
    }
}

/* See backend.h. */
const char *nad_backend_target(const nad_backend *b)
{
    return b->target;
}

/* See backend.h. */
void nad_backend_destroy(nad_backend *b)
{
    if (!b)
        return;
    nad_estimator_destroy(b->est);
    free(b);
}
