/*
 * A test plugin whose callbacks fail on demand: the configuration string
 * names the callback that fails ("open", "resources", "network") or asks
 * network() for a value nadapt must refuse ("nan", "negative").  Otherwise
 * it reports latency = 1 ms.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nadapt/backend_plugin.h"

/* Keeps the configuration; fails when it is "open". */
static int f_open(const char *config, void **state, char *err, size_t err_len)
{
    if (!strcmp(config, "open")) {
        snprintf(err, err_len, "cannot open /dev/acme0: device busy");
        return 1;
    }
    *state = strdup(config);
    return *state ? 0 : 1;
}

/* latency in ms; fails when configured so. */
static int f_resources(void *state, nad_backend_resource_desc *out, int max, char *err, size_t err_len)
{
    if (!strcmp(state, "resources")) {
        snprintf(err, err_len, "firmware reports no counters");
        return -1;
    }
    out[0] = (nad_backend_resource_desc){"latency", "ms"};
    return 1;
}

/* 1 ms, or the configured failure. */
static int f_network(void *state, const nad_backend_net *net, double *values, double *spread, char *err,
                     size_t err_len)
{
    values[0] = 1;
    spread[0] = 0;
    if (!strcmp(state, "network")) {
        snprintf(err, err_len, "board rebooted during the run");
        return 1;
    }
    if (!strcmp(state, "nan"))
        values[0] = NAN;
    if (!strcmp(state, "negative"))
        values[0] = -2;
    return 0;
}

/* Frees the copy of the configuration. */
static void f_close(void *state)
{
    free(state);
}

static const nad_backend_ops ops = {
    .abi_version = NAD_BACKEND_ABI_VERSION,
    .struct_size = sizeof(nad_backend_ops),
    .name = "failing",
    .open = f_open,
    .resources = f_resources,
    .network = f_network,
    .close = f_close,
};

/* The entry point. */
const nad_backend_ops *nad_backend_plugin(void)
{
    return &ops;
}
