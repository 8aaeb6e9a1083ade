/*
 * nadapt — the dry-run report: what the adapter would prune, what it cannot
 * and why, and where each budget stands.  The same text is written to the
 * run directory as groups.txt, so a frozen group is never a silent skip.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt/adapt_internal.h"
#include "adapt/budget.h"

typedef struct text {
    char *s;
    size_t n, cap;
    int oom;
} text;

/* Appends printf output to t (sets t->oom on failure). */
static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || t->oom)
        return;
    if (t->n + (size_t)n + 1 > t->cap) {
        size_t cap = (t->n + (size_t)n + 1) * 2;
        char *p = realloc(t->s, cap);
        if (!p) {
            t->oom = 1;
            return;
        }
        t->s = p;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
    va_end(ap);
    t->n += (size_t)n;
}

/* One line per group: name, channels, members by kind, status. */
static void list_groups(text *t, const nad_graph *g, const nad_groups *gs)
{
    add(t, "channel groups (%d prunable of %d):\n", nad_groups_prunable(gs), gs->n);
    for (int q = 0; q < gs->n; q++) {
        const nad_group *grp = &gs->g[q];
        int prod = 0, cons = 0;
        for (int k = 0; k < grp->n_m; k++) {
            prod += grp->m[k].kind == NAD_MEM_FILTERS;
            cons += grp->m[k].kind == NAD_MEM_INPUTS;
        }
        add(t, "  %-44s %5d channels  %d filter tensor%s, %d reader%s  ", grp->name, grp->channels, prod,
            prod == 1 ? "" : "s", cons, cons == 1 ? "" : "s");
        if (grp->frozen)
            add(t, "FROZEN: %s\n", grp->reason);
        else if (grp->channels < 2)
            add(t, "not pruned: one channel\n");
        else
            add(t, "prunable\n");
        for (int k = 0; k < grp->n_m; k++)
            if (grp->m[k].kind == NAD_MEM_FILTERS && strcmp(g->nodes[grp->m[k].node].name, grp->name))
                add(t, "      with %s\n", g->nodes[grp->m[k].node].name);
    }
}

/* See adapt.h. */
nad_status nad_adapt_describe(const nad_adapt_config *c, char **report, nad_err *e)
{
    *report = NULL;
    nad_graph *g = NULL;
    nad_groups *gs = NULL;
    nad_backend *be = NULL;
    text t = {0};
    double v[NAD_RES_COUNT];
    nad_status rc = nad_graph_load_onnx(c->model, 0, &g, e);
    if (!rc)
        rc = nad_groups_find(g, &gs, e);
    if (!rc)
        rc = adapt_backend_open(c, &be, e);
    if (!rc)
        rc = adapt_backend_check_budgets(be, c, e);
    if (!rc)
        rc = nad_backend_measure(be, g, v, e);
    if (rc)
        goto out;
    add(&t, "model %s on %s\n", c->model, nad_backend_target(be));
    list_groups(&t, g, gs);
    add(&t, "resources of the original network, per image:\n");
    for (int k = 0; k < NAD_RES_COUNT; k++) {
        if (!nad_backend_reports(be, (nad_resource)k)) {
            add(&t, "  %-8s %12s %-8s  (no back-end reports it)\n", nad_resource_name((nad_resource)k), "-", "");
            continue;
        }
        add(&t, "  %-8s %12.5g %-8s (%s)", nad_resource_name((nad_resource)k), v[k],
            nad_backend_unit(be, (nad_resource)k), nad_backend_source(be, (nad_resource)k));
        for (int b = 0; b < c->n_budgets; b++) {
            if (c->budgets[b].res != (nad_resource)k)
                continue;
            double lim;
            rc = nad_budget_resolve(&c->budgets[b], nad_backend_unit(be, NAD_RES_ENERGY), v[k], &lim, e);
            if (rc)
                goto out;
            add(&t, "  budget %s -> %.5g (%.1f%% of now)", c->budgets[b].text, lim, 100.0 * lim / v[k]);
        }
        add(&t, "\n");
    }
    if (t.oom)
        rc = nad_errf(e, NAD_ENOMEM, "adapt: out of memory");
out:
    nad_backend_destroy(be);
    nad_groups_free(gs);
    nad_graph_free(g);
    if (rc)
        free(t.s);
    else
        *report = t.s;
    return rc;
}
