/*
 * nadapt — the analytic resource back-end (model:PATH.yaml): energy, latency
 * and DRAM traffic from the target model's estimator, as one nad_backend_ops
 * table (backend_plugin.h).  MACs and parameters are counted by backend.c.
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

#include "backend_internal.h"
#include "estimate_internal.h"

typedef struct model_state {
    nad_estimator *est;
    double act_density;
    char unit[16];
    char name[64];
} model_state;

/* Reads "PATH[:objective=O,act_density=D]" into its parts. */
static int parse_config(const char *config, char *path, size_t path_len, nad_objective *obj, double *dens,
                        char *err, size_t err_len)
{
    const char *colon = strchr(config, ':');
    size_t n = colon ? (size_t)(colon - config) : strlen(config);
    if (n == 0 || n >= path_len) {
        snprintf(err, err_len, "model: %s", n ? "target path too long" : "no target path (model:PATH.yaml)");
        return 1;
    }
    memcpy(path, config, n);
    path[n] = 0;
    *obj = NAD_OBJ_ENERGY;
    *dens = 0;
    for (const char *s = colon ? colon + 1 : NULL; s && *s;) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        char kv[64];
        snprintf(kv, sizeof kv, "%.*s", (int)(len < 63 ? len : 63), s);
        char *eq = strchr(kv, '=');
        nad_err pe = {0};
        char *stop = NULL;
        if (eq && !strncmp(kv, "objective=", 10) && nad_objective_parse(eq + 1, obj, &pe) == NAD_OK) {
        } else if (eq && !strncmp(kv, "act_density=", 12) && (*dens = strtod(eq + 1, &stop), stop && !*stop) &&
                   *dens >= 0 && *dens <= 1) {
        } else {
            snprintf(err, err_len, "model: option '%s' is not objective=energy|latency|edp or act_density=[0,1]", kv);
            return 1;
        }
        s = end ? end + 1 : NULL;
    }
    return 0;
}

/* Opens the estimator of the target file. */
static int model_open(const char *config, void **state, char *err, size_t err_len)
{
    char path[4096];
    nad_objective obj;
    double dens;
    *state = NULL;
    if (parse_config(config, path, sizeof path, &obj, &dens, err, err_len))
        return 1;
    model_state *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, err_len, "model: out of memory");
        return 1;
    }
    nad_err e = {0};
    if (nad_estimator_create(path, obj, &m->est, &e)) {
        snprintf(err, err_len, "%s", e.msg);
        free(m);
        return 1;
    }
    const nad_arch *a = nad_estimator_arch(m->est);
    snprintf(m->unit, sizeof m->unit, "%s", nad_energy_unit_str(a->energy_unit));
    snprintf(m->name, sizeof m->name, "%s", a->name);
    m->act_density = dens;
    *state = m;
    return 0;
}

/* energy, latency, dram. */
static int model_resources(void *state, nad_backend_resource_desc *out, int max, char *err, size_t err_len)
{
    model_state *m = state;
    if (max < 3)
        return 0;
    out[0] = (nad_backend_resource_desc){"energy", m->unit};
    out[1] = (nad_backend_resource_desc){"latency", "s"};
    out[2] = (nad_backend_resource_desc){"dram", "accesses"};
    return 3;
}

/* See backend_internal.h. */
nad_status nad_backend_model_estimate(void *state, const nad_graph *folded, nad_estimate **out, nad_err *e)
{
    model_state *m = state;
    nad_estimator_clear(m->est);
    return nad_estimator_run_graph_density(m->est, folded, NULL, m->act_density, out, e);
}

/* Energy, seconds and DRAM accesses of the folded network. */
static int model_network(void *state, const nad_backend_net *net, double *values, double *spread, char *err,
                         size_t err_len)
{
    nad_estimate *r = NULL;
    nad_err e = {0};
    if (nad_backend_model_estimate(state, net->graph, &r, &e)) {
        snprintf(err, err_len, "%s", e.msg);
        return 1;
    }
    values[0] = r->total.energy;
    values[1] = r->clock_hz > 0 ? r->total.cycles / r->clock_hz : 0;
    values[2] = r->total.dram_accesses;
    spread[0] = spread[1] = spread[2] = 0;
    nad_estimate_free(r);
    return 0;
}

/* Frees the estimator. */
static void model_close(void *state)
{
    model_state *m = state;
    if (!m)
        return;
    nad_estimator_destroy(m->est);
    free(m);
}

/* See backend_internal.h. */
const char *nad_backend_model_name(void *state)
{
    return ((model_state *)state)->name;
}

const nad_backend_ops nad_backend_model_ops = {
    .abi_version = NAD_BACKEND_ABI_VERSION,
    .struct_size = sizeof(nad_backend_ops),
    .name = "model",
    .flags = 0,
    .open = model_open,
    .resources = model_resources,
    .layer = NULL,
    .network = model_network,
    .close = model_close,
};
