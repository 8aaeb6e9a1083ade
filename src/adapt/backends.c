/*
 * nadapt — which back-ends a run measures with (internal to the adapter).
 *
 * A run's resources come from one nad_backend list (backend.h): the lookup
 * table first (--lut), then the --backend specifications in the order given,
 * then the --target's analytic model; each resource from the first that
 * reports it.  Paths inside specifications are made absolute when the run
 * starts, so config.yaml names the same files when the run is resumed from
 * another directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt/adapt_internal.h"

#define SPEC_MAX (NAD_ADAPT_PATH_MAX + 96)

/* Makes an existing path absolute in place (left alone when it does not
 * exist or would not fit: the open then reports it). */
void adapt_absolute(char *path, size_t size)
{
    char *abs = realpath(path, NULL);
    if (abs && strlen(abs) < size)
        snprintf(path, size, "%s", abs);
    free(abs);
}

/* The path part of spec s ("model:", "plugin:", "lut:" up to the next ':',
 * or a bare .yaml path) made absolute; other kinds are left alone. */
static void absolute_spec(char *s, size_t size)
{
    static const char *const kinds[] = {"model:", "plugin:", "lut:"};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        size_t kl = strlen(kinds[k]);
        if (strncmp(s, kinds[k], kl))
            continue;
        char path[NAD_ADAPT_PATH_MAX], rest[NAD_ADAPT_PATH_MAX];
        const char *colon = strchr(s + kl, ':');
        size_t pl = colon ? (size_t)(colon - (s + kl)) : strlen(s + kl);
        if (pl >= sizeof path)
            return;
        memcpy(path, s + kl, pl);
        path[pl] = 0;
        snprintf(rest, sizeof rest, "%s", colon ? colon : "");
        adapt_absolute(path, sizeof path);
        char out[3 * NAD_ADAPT_PATH_MAX];
        int w = snprintf(out, sizeof out, "%s%s%s", kinds[k], path, rest);
        if (w > 0 && (size_t)w < size)
            memcpy(s, out, (size_t)w + 1);
        return;
    }
    if (!strchr(s, ':'))
        adapt_absolute(s, size);
}

/* See adapt_internal.h. */
void adapt_backend_absolute(nad_adapt_config *c)
{
    adapt_absolute(c->target, sizeof c->target);
    adapt_absolute(c->lut, sizeof c->lut);
    for (int i = 0; i < c->n_backends; i++)
        absolute_spec(c->backends[i], sizeof c->backends[i]);
}

/* See adapt_internal.h. */
nad_status adapt_backend_open(const nad_adapt_config *c, nad_backend **out, nad_err *e)
{
    char(*spec)[SPEC_MAX] = calloc(NAD_ADAPT_MAX_BACKENDS + 2, sizeof *spec);
    const char *list[NAD_ADAPT_MAX_BACKENDS + 2];
    int n = 0;
    *out = NULL;
    if (!spec)
        return nad_errf(e, NAD_ENOMEM, "adapt: out of memory");
    if (c->lut[0])
        snprintf(spec[n++], SPEC_MAX, "lut:%s", c->lut);
    for (int i = 0; i < c->n_backends && i < NAD_ADAPT_MAX_BACKENDS; i++)
        snprintf(spec[n++], SPEC_MAX, "%s", c->backends[i]);
    if (c->target[0])
        snprintf(spec[n++], SPEC_MAX, "model:%s:objective=%s,act_density=%.17g", c->target,
                 nad_objective_str(c->objective), c->act_density);
    for (int i = 0; i < n; i++)
        list[i] = spec[i];
    nad_status rc = n ? nad_backend_open_list(list, n, out, e)
                      : nad_errf(e, NAD_EINVAL, "adapt: no back-end (give --target, --backend or --lut)");
    free(spec);
    return rc;
}

/* See adapt_internal.h. */
nad_status adapt_backend_check_budgets(const nad_backend *be, const nad_adapt_config *c, nad_err *e)
{
    for (int k = 0; k < c->n_budgets; k++) {
        nad_resource r = c->budgets[k].res;
        if (!nad_backend_reports(be, r))
            return nad_errf(e, NAD_EINVAL,
                            "budget '%s': no back-end reports %s (back-ends: %s; e.g. --backend host measures "
                            "latency, --target models/NAME.yaml gives energy, latency and dram)",
                            c->budgets[k].text, nad_resource_name(r), nad_backend_target(be));
    }
    return NAD_OK;
}

/* See adapt_internal.h. */
const char *adapt_energy_unit(const nad_backend *be)
{
    return nad_backend_reports(be, NAD_RES_ENERGY) ? nad_backend_unit(be, NAD_RES_ENERGY) : "none";
}
