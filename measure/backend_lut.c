/*
 * nadapt — the lookup-table back-end (lut:FILE): every resource the table
 * holds, predicted from its per-layer costs (lut.h) instead of measured, in
 * the units of the back-end it was built with.  A network whose layers or
 * channel counts the table lacks is an error naming the layer and the file,
 * never a guess.  Predictions are no timings, so the back-end is not
 * NAD_BACKEND_TIMED: the adapter may ask it beside its parallel proposals.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend_internal.h"
#include "nadapt/lut.h"

/* Reads the table named by config. */
static int lut_open(const char *config, void **state, char *err, size_t err_len)
{
    nad_lut *t = NULL;
    nad_err e = {{0}};
    *state = NULL;
    if (!config || !config[0]) {
        snprintf(err, err_len, "lut: no table file (lut:FILE)");
        return 1;
    }
    if (nad_lut_load(config, &t, &e)) {
        snprintf(err, err_len, "%s", e.msg);
        return 1;
    }
    *state = t;
    return 0;
}

/* The resources the table holds, with the units they were measured in. */
static int lut_resources(void *state, nad_backend_resource_desc *out, int max, char *err, size_t err_len)
{
    const nad_lut *t = state;
    int n = 0;
    for (int r = 0; r < NAD_RES_COUNT && n < max; r++)
        if (nad_lut_has(t, (nad_resource)r))
            out[n++] = (nad_backend_resource_desc){nad_resource_name((nad_resource)r), nad_lut_unit(t, (nad_resource)r)};
    if (!n)
        snprintf(err, err_len, "lut: the table holds no resource");
    return n;
}

/* The table's prediction for the network, in resources() order; a
 * prediction below zero (a negative overhead larger than the layers) is 0. */
static int lut_network(void *state, const nad_backend_net *net, double *values, double *spread, char *err,
                       size_t err_len)
{
    const nad_lut *t = state;
    double v[NAD_RES_COUNT];
    nad_err e = {{0}};
    if (nad_lut_predict(t, net->graph, v, &e)) {
        snprintf(err, err_len, "%s", e.msg);
        return 1;
    }
    int n = 0;
    for (int r = 0; r < NAD_RES_COUNT; r++)
        if (nad_lut_has(t, (nad_resource)r)) {
            values[n] = v[r] > 0 ? v[r] : 0;
            spread[n++] = 0;
        }
    return 0;
}

/* Frees the table. */
static void lut_close(void *state)
{
    nad_lut_free(state);
}

const nad_backend_ops nad_backend_lut_ops = {
    .abi_version = NAD_BACKEND_ABI_VERSION,
    .struct_size = sizeof(nad_backend_ops),
    .name = "lut",
    .flags = 0,
    .open = lut_open,
    .resources = lut_resources,
    .layer = NULL,
    .network = lut_network,
    .close = lut_close,
};
