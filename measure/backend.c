/*
 * nadapt — one interface over every resource back-end (backend.h).
 *
 * A nad_backend is a list of opened back-ends (ops tables from
 * backend_plugin.h).  Each resource comes from the first one that reports it;
 * MACs and parameters are counted from the graph.  This file owns what every
 * back-end would otherwise repeat: the spec syntax, unit
 * conversion to nadapt's units (latency in seconds, energy in pJ when it is
 * physical), the BatchNorm-folded copy a back-end sees, the temporary ONNX
 * file for back-ends that read one, and the lock that serialises
 * measurements (a timing must never run beside another measurement).
 */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend_internal.h"
#include "graph/graph.h"
#include "graph/passes.h"

#define MAX_LIST 8

typedef struct be_sub {
    const nad_backend_ops *ops;
    void *state;
    void *dl; /* plugin handle, else NULL */
    char name[64];
    int n_res;
    int index[NAD_RES_COUNT];    /* position of resource r in values[], -1 */
    double scale[NAD_RES_COUNT]; /* to nadapt's unit                       */
    char unit[NAD_RES_COUNT][16];
} be_sub;

struct nad_backend {
    be_sub sub[MAX_LIST];
    int n;
    int src[NAD_RES_COUNT]; /* sub providing resource r; -1: none (macs/params: graph) */
    char name[160];
    pthread_mutex_t lock;
};

static const char *const resource_names[] = {"energy", "latency", "macs", "params", "dram"};
_Static_assert(sizeof resource_names / sizeof resource_names[0] == NAD_RES_COUNT,
               "resource_names must cover every nad_resource");

/* See backend.h. */
const char *nad_resource_name(nad_resource r)
{
    return (unsigned)r < NAD_RES_COUNT ? resource_names[r] : "?";
}

/* See backend.h. */
nad_resource nad_resource_from_name(const char *s)
{
    for (int i = 0; s && i < NAD_RES_COUNT; i++)
        if (strcmp(s, resource_names[i]) == 0)
            return (nad_resource)i;
    return NAD_RES_COUNT;
}

/* The kinds nad_backend_open knows, by the word before the first ':'. */
typedef struct be_kind {
    const char *word;
    const nad_backend_ops *ops;
} be_kind;

static const be_kind kinds[] = {
    {"model", &nad_backend_model_ops},
    {"lut", &nad_backend_lut_ops},
    {"host", &nad_backend_host_ops},
    {"exec", &nad_backend_exec_ops},
};

/* Scale from a reported unit to nadapt's (latency: s; energy: pJ when
 * physical, else the unit itself); 0 when the unit cannot be that resource. */
static double unit_scale(nad_resource r, const char *unit, const char **canon)
{
    static const struct {
        const char *u;
        double s;
    } time[] = {{"s", 1}, {"ms", 1e-3}, {"us", 1e-6}, {"ns", 1e-9}},
      energy[] = {{"pJ", 1}, {"nJ", 1e3}, {"uJ", 1e6}, {"mJ", 1e9}, {"J", 1e12}};
    *canon = unit;
    if (r == NAD_RES_LATENCY) {
        *canon = "s";
        for (size_t i = 0; i < sizeof time / sizeof time[0]; i++)
            if (!strcmp(unit, time[i].u))
                return time[i].s;
        return 0;
    }
    if (r == NAD_RES_ENERGY)
        for (size_t i = 0; i < sizeof energy / sizeof energy[0]; i++)
            if (!strcmp(unit, energy[i].u)) {
                *canon = "pJ";
                return energy[i].s;
            }
    return unit[0] ? 1 : 0;
}

/* Asks an opened sub-back-end for its resources and maps them. */
static nad_status map_resources(be_sub *s, const char *spec, nad_err *e)
{
    nad_backend_resource_desc d[NAD_BACKEND_MAX_RESOURCES];
    char msg[256] = "";
    int n = s->ops->resources(s->state, d, NAD_BACKEND_MAX_RESOURCES, msg, sizeof msg);
    if (n <= 0 || n > NAD_BACKEND_MAX_RESOURCES)
        return nad_errf(e, NAD_EINVAL, "%s: resources: %s", spec, msg[0] ? msg : "reports no resource");
    s->n_res = n;
    for (int r = 0; r < NAD_RES_COUNT; r++)
        s->index[r] = -1;
    for (int i = 0; i < n; i++) {
        nad_resource r = d[i].name ? nad_resource_from_name(d[i].name) : NAD_RES_COUNT;
        if (r == NAD_RES_COUNT)
            return nad_errf(e, NAD_EINVAL, "%s: reports resource '%s' (known: energy, latency, macs, params, dram)",
                            spec, d[i].name ? d[i].name : "(null)");
        const char *canon;
        double sc = unit_scale(r, d[i].unit ? d[i].unit : "", &canon);
        if (!(sc > 0) || strlen(canon) >= sizeof s->unit[r])
            return nad_errf(e, NAD_EINVAL, "%s: resource '%s' in unit '%s' (latency needs s, ms, us or ns)", spec,
                            d[i].name, d[i].unit ? d[i].unit : "");
        if (s->index[r] >= 0)
            return nad_errf(e, NAD_EINVAL, "%s: reports resource '%s' twice", spec, d[i].name);
        s->index[r] = i;
        s->scale[r] = sc;
        snprintf(s->unit[r], sizeof s->unit[r], "%s", canon);
    }
    return NAD_OK;
}

/* Finds the ops of a spec's kind (loading a plugin); *config points past
 * "KIND:".  A bare PATH.yaml is a model. */
static nad_status find_ops(const char *spec, be_sub *s, const char **config, nad_err *e)
{
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    size_t len = strlen(spec);
    if (!colon && len > 5 && (!strcmp(spec + len - 5, ".yaml") || !strcmp(spec + len - 4, ".yml"))) {
        s->ops = &nad_backend_model_ops;
        *config = spec;
        return NAD_OK;
    }
    *config = colon ? colon + 1 : "";
    if (n == 6 && !strncmp(spec, "plugin", 6))
        return nad_backend_plugin_load(*config, &s->ops, &s->dl, config, e);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strlen(kinds[i].word) == n && !strncmp(spec, kinds[i].word, n)) {
            s->ops = kinds[i].ops;
            return NAD_OK;
        }
    return nad_errf(e, NAD_EINVAL, "back-end '%s': unknown kind '%.*s' (model:PATH.yaml, host[:OPTIONS], "
                    "plugin:PATH.so[:CONFIG], exec:[OPTIONS]COMMAND, lut:FILE)", spec, (int)n, spec);
}

/* Opens one spec into s. */
static nad_status open_sub(const char *spec, be_sub *s, nad_err *e)
{
    const char *config;
    memset(s, 0, sizeof *s);
    nad_status rc = find_ops(spec, s, &config, e);
    if (rc)
        return rc;
    char msg[512] = "";
    if (s->ops->open(config, &s->state, msg, sizeof msg)) {
        s->state = NULL;
        return nad_errf(e, NAD_EINVAL, "back-end '%s': %s", spec, msg[0] ? msg : "open failed");
    }
    if (s->ops == &nad_backend_model_ops)
        snprintf(s->name, sizeof s->name, "%s", nad_backend_model_name(s->state));
    else
        snprintf(s->name, sizeof s->name, "%s", s->ops->name ? s->ops->name : "back-end");
    return map_resources(s, spec, e);
}

/* Closes one sub-back-end. */
static void close_sub(be_sub *s)
{
    if (s->ops && s->state)
        s->ops->close(s->state);
    s->state = NULL;
    if (s->dl)
        dlclose(s->dl);
    s->dl = NULL;
}

/* See backend.h. */
nad_status nad_backend_open_list(const char *const *specs, int n, nad_backend **out, nad_err *e)
{
    *out = NULL;
    if (n < 1 || n > MAX_LIST)
        return nad_errf(e, NAD_EINVAL, "back-ends: %d given, 1 to %d allowed", n, MAX_LIST);
    nad_backend *b = calloc(1, sizeof *b);
    if (!b)
        return nad_errf(e, NAD_ENOMEM, "back-end: out of memory");
    pthread_mutex_init(&b->lock, NULL);
    for (int r = 0; r < NAD_RES_COUNT; r++)
        b->src[r] = -1;
    nad_status rc = NAD_OK;
    for (int i = 0; i < n && !rc; i++) {
        rc = open_sub(specs[i], &b->sub[i], e);
        b->n = i + 1;
        for (int r = 0; r < NAD_RES_COUNT && !rc; r++)
            if (b->src[r] < 0 && b->sub[i].index[r] >= 0 && r != NAD_RES_MACS && r != NAD_RES_PARAMS)
                b->src[r] = i;
        size_t used = strlen(b->name);
        snprintf(b->name + used, sizeof b->name - used, "%s%s", i ? "+" : "", b->sub[i].name);
    }
    if (rc) {
        nad_backend_destroy(b);
        return rc;
    }
    *out = b;
    return NAD_OK;
}

/* See backend.h. */
nad_status nad_backend_open(const char *spec, nad_backend **out, nad_err *e)
{
    return nad_backend_open_list(&spec, 1, out, e);
}

/* Parameters and MACs of every node, as `nadapt info` counts them. */
static nad_status count_graph(const nad_graph *g, double *params, double *macs, nad_err *e)
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

/* Writes g (as the user would get it, unfolded) to a fresh temporary file for
 * back-ends that read ONNX; path receives its name. */
static nad_status write_temp(const nad_graph *g, char *path, size_t len, nad_err *e)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, len, "%s/nadapt-candidate-XXXXXX.onnx", dir && dir[0] ? dir : "/tmp");
    int fd = mkstemps(path, 5);
    if (fd < 0)
        return nad_errf(e, NAD_EIO, "%s: cannot create a temporary file: %s", path, strerror(errno));
    close(fd);
    nad_status rc = nad_graph_save_onnx(g, path, e);
    if (rc)
        unlink(path);
    return rc;
}

/* Runs sub s on the network; writes the resources it provides for b. */
static nad_status run_sub(nad_backend *b, int i, const nad_graph *orig, const nad_graph *folded, double *values,
                          double *spread, nad_err *e)
{
    be_sub *s = &b->sub[i];
    double v[NAD_BACKEND_MAX_RESOURCES] = {0}, sp[NAD_BACKEND_MAX_RESOURCES] = {0};
    char path[4096] = "", msg[512] = "";
    nad_backend_net net = {folded, NULL};
    nad_status rc = NAD_OK;
    if (s->ops->flags & NAD_BACKEND_WANTS_FILE) {
        if ((rc = write_temp(orig, path, sizeof path, e)))
            return rc;
        net.onnx_path = path;
    }
    if (s->ops->network(s->state, &net, v, sp, msg, sizeof msg))
        rc = nad_errf(e, NAD_EIO, "back-end %s: %s", s->name, msg[0] ? msg : "measurement failed");
    if (path[0])
        unlink(path);
    for (int r = 0; r < NAD_RES_COUNT && !rc; r++) {
        if (b->src[r] != i)
            continue;
        double x = v[s->index[r]] * s->scale[r];
        if (!isfinite(x) || x < 0)
            return nad_errf(e, NAD_EIO, "back-end %s: %s = %g is not a finite non-negative value", s->name,
                            nad_resource_name((nad_resource)r), v[s->index[r]]);
        values[r] = x;
        spread[r] = isfinite(sp[s->index[r]]) ? fabs(sp[s->index[r]]) * s->scale[r] : 0;
    }
    return rc;
}

/* The copy of g every back-end sees: BatchNorm folded, shapes at batch 1. */
static nad_status folded_copy(const nad_graph *g, nad_graph **out, nad_err *e)
{
    nad_graph *c = nad_graph_copy(g);
    if (!c)
        return nad_errf(e, NAD_ENOMEM, "back-end: out of memory");
    nad_status rc = nad_graph_simplify(c, 1, e);
    if (!rc)
        rc = nad_graph_infer_shapes(c, 1, e);
    if (rc)
        nad_graph_free(c);
    *out = rc ? NULL : c;
    return rc;
}

/* Measures under b's lock: the folded copy, every providing sub, counts. */
static nad_status measure_locked(nad_backend *b, const nad_graph *g, double *values, double *spread, nad_err *e)
{
    for (int r = 0; r < NAD_RES_COUNT; r++) {
        values[r] = NAN;
        spread[r] = 0;
    }
    nad_graph *c = NULL;
    nad_status rc = folded_copy(g, &c, e);
    for (int i = 0; i < b->n && !rc; i++) {
        int used = 0;
        for (int r = 0; r < NAD_RES_COUNT; r++)
            used |= b->src[r] == i;
        if (used)
            rc = run_sub(b, i, g, c, values, spread, e);
    }
    if (!rc)
        rc = count_graph(c, &values[NAD_RES_PARAMS], &values[NAD_RES_MACS], e);
    nad_graph_free(c);
    return rc;
}

/* See backend.h. */
nad_status nad_backend_measure_spread(nad_backend *b, const nad_graph *g, double values[NAD_RES_COUNT],
                                      double spread[NAD_RES_COUNT], nad_err *e)
{
    pthread_mutex_lock(&b->lock);
    nad_status rc = measure_locked(b, g, values, spread, e);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

/* See backend.h. */
nad_status nad_backend_measure(nad_backend *b, const nad_graph *g, double values[NAD_RES_COUNT], nad_err *e)
{
    double spread[NAD_RES_COUNT];
    return nad_backend_measure_spread(b, g, values, spread, e);
}

/* See backend.h. */
nad_status nad_backend_breakdown(nad_backend *b, const nad_graph *g, nad_estimate **est, nad_err *e)
{
    *est = NULL;
    int se = b->src[NAD_RES_ENERGY];
    if (se < 0 || b->sub[se].ops != &nad_backend_model_ops)
        return NAD_OK;
    nad_graph *c = NULL;
    pthread_mutex_lock(&b->lock);
    nad_status rc = folded_copy(g, &c, e);
    if (!rc)
        rc = nad_backend_model_estimate(b->sub[se].state, c, est, e);
    pthread_mutex_unlock(&b->lock);
    nad_graph_free(c);
    return rc;
}

/* See backend_internal.h. */
int nad_backend_has_layer(const nad_backend *b)
{
    int any = 0;
    for (int r = 0; r < NAD_RES_COUNT; r++)
        if (b->src[r] >= 0) {
            if (!b->sub[b->src[r]].ops->layer)
                return 0;
            any = 1;
        }
    return any;
}

/* See backend_internal.h: layer() of every providing sub, under the lock. */
nad_status nad_backend_layer(nad_backend *b, const nad_layer_desc *l, double values[NAD_RES_COUNT], nad_err *e)
{
    nad_status rc = NAD_OK;
    for (int r = 0; r < NAD_RES_COUNT; r++)
        values[r] = NAN;
    pthread_mutex_lock(&b->lock);
    for (int i = 0; i < b->n && !rc; i++) {
        be_sub *s = &b->sub[i];
        double v[NAD_BACKEND_MAX_RESOURCES] = {0}, sp[NAD_BACKEND_MAX_RESOURCES] = {0};
        char msg[512] = "";
        int used = 0;
        for (int r = 0; r < NAD_RES_COUNT; r++)
            used |= b->src[r] == i;
        if (!used)
            continue;
        if (!s->ops->layer || s->ops->layer(s->state, l, v, sp, msg, sizeof msg))
            rc = nad_errf(e, NAD_EIO, "back-end %s: layer %s: %s", s->name, l->name,
                          msg[0] ? msg : "no per-layer cost");
        for (int r = 0; r < NAD_RES_COUNT && !rc; r++)
            if (b->src[r] == i) {
                values[r] = v[s->index[r]] * s->scale[r];
                if (!isfinite(values[r]) || values[r] < 0)
                    rc = nad_errf(e, NAD_EIO, "back-end %s: layer %s: %s = %g is not a finite non-negative value",
                                  s->name, l->name, nad_resource_name((nad_resource)r), v[s->index[r]]);
            }
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

/* See backend.h. */
int nad_backend_reports(const nad_backend *b, nad_resource r)
{
    if (r == NAD_RES_MACS || r == NAD_RES_PARAMS)
        return 1;
    return (unsigned)r < NAD_RES_COUNT && b->src[r] >= 0;
}

/* See backend.h. */
int nad_backend_is_timed(const nad_backend *b, nad_resource r)
{
    if ((unsigned)r >= NAD_RES_COUNT || b->src[r] < 0)
        return 0;
    return (b->sub[b->src[r]].ops->flags & NAD_BACKEND_TIMED) != 0;
}

/* See backend.h. */
const char *nad_backend_unit(const nad_backend *b, nad_resource r)
{
    switch (r) {
    case NAD_RES_MACS:
        return "MACs";
    case NAD_RES_PARAMS:
        return "params";
    default:
        if ((unsigned)r < NAD_RES_COUNT && b->src[r] >= 0)
            return b->sub[b->src[r]].unit[r];
        return r == NAD_RES_LATENCY ? "s" : r == NAD_RES_DRAM ? "accesses" : "";
    }
}

/* See backend.h. */
const char *nad_backend_target(const nad_backend *b)
{
    return b->name;
}

/* See backend.h. */
const char *nad_backend_source(const nad_backend *b, nad_resource r)
{
    if (r == NAD_RES_MACS || r == NAD_RES_PARAMS)
        return "graph";
    if ((unsigned)r < NAD_RES_COUNT && b->src[r] >= 0)
        return b->sub[b->src[r]].name;
    return "none";
}

/* See backend.h. */
void nad_backend_destroy(nad_backend *b)
{
    if (!b)
        return;
    for (int i = 0; i < b->n; i++)
        close_sub(&b->sub[i]);
    pthread_mutex_destroy(&b->lock);
    free(b);
}
