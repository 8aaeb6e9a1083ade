/*
 * nadapt lut build MODEL.onnx --backend SPEC --out FILE [--step N] [--json]
 * nadapt lut check MODEL.onnx --lut FILE --backend SPEC [--variants N] [--seed S] [--json]
 *
 * Lookup tables (include/nadapt/lut.h).  `build` measures every missing grid
 * point of the model's layers with the back-end, then the model's fixed
 * overhead, and writes FILE (atomically, every few seconds on the way, so a
 * killed build resumes where it stopped).  `check` makes N pruned variants of
 * the model (every prunable channel group kept at a random fraction), measures
 * each directly with the back-end and predicts it with `lut:FILE`, and reports
 * each variant's error, the fraction within +-10% and the median |error|.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "groups.h"
#include "opts.h"
#include "nadapt/backend.h"
#include "nadapt/graph.h"
#include "nadapt/lut.h"

#define LUT_CHECK_MAX 10000 /* variants one check may make */

/* The model's file name without directory and extension (the table's label). */
static void model_label(const char *path, char *out, size_t len)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, len, "%s", base);
    char *dot = strstr(out, ".onnx");
    if (dot)
        *dot = 0;
}

/* Progress on a terminal: one line rewritten in place. */
static void progress(void *ctx, int done, int total, const char *layer)
{
    fprintf(stderr, "\rlut build: %d/%d points  %-60.60s", done, total, layer);
    if (done == total)
        fprintf(stderr, "\n");
    fflush(stderr);
}

/* nadapt lut build. */
static int lut_build(int argc, char **argv)
{
    const char *spec = NULL, *out = NULL;
    long step = 8;
    int json = 0;
    const cli_option opts[] = {
        CLI_STRING("backend", &spec, "SPEC", "the back-end measured (model:PATH.yaml, host[:...], plugin:, exec:)"),
        CLI_STRING("out", &out, "FILE", "the table: created, or completed when it exists"),
        CLI_INT("step", &step, "N", "grid step in channels (NetAdapt's 8)", 1, 4096),
        CLI_FLAG("json", &json, "print the summary as one JSON object"),
        CLI_END,
    };
    const cli_spec cs = {"lut build", "MODEL.onnx --backend SPEC --out FILE [options]",
                         "measures the model's layers over a grid of channel counts into a lookup table\n"
                         "(resumable: an existing FILE is completed, not rebuilt)", opts, 1, 1};
    const char *pos[1];
    int n_pos, r = cli_parse(&cs, argc, argv, pos, &n_pos);
    if (r)
        return r < 0 ? 0 : r;
    if (!spec || !out)
        return cli_cmd_fail("lut build", "--backend and --out are required");
    nad_err e = {{0}};
    nad_graph *g = NULL;
    if (nad_graph_load_onnx(pos[0], 1, &g, &e))
        return cli_fail_err("lut build", &e);
    char label[128];
    model_label(pos[0], label, sizeof label);
    nad_lut_options o = {.step = (int)step, .progress = isatty(2) ? progress : NULL};
    nad_lut_stats st;
    nad_status rc = nad_lut_build(out, spec, g, label, &o, &st, &e);
    nad_graph_free(g);
    if (rc)
        return cli_fail_err("lut build", &e);
    if (json) {
        printf("{\"out\":");
        cli_json_str(stdout, out);
        printf(",\"layers\":%d,\"points\":%d,\"measured\":%d,\"reused\":%d,\"layer_calls\":%d,"
               "\"overhead_measured\":%s}\n", st.layers, st.points, st.measured, st.reused, st.layer_calls,
               st.overhead_measured ? "true" : "false");
    } else {
        printf("%s: %d layers, %d grid points (%d measured, %d already in the table), overhead %s\n", out,
               st.layers, st.points, st.measured, st.reused, st.overhead_measured ? "measured" : "kept");
    }
    return 0;
}

/* splitmix64: the check's variants depend on --seed alone. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Shrinks the group called name of *cur to a random fraction in
 * [min_keep, 1] of its channels (the first ones: the cost ignores which). */
static nad_status shrink_named(nad_graph **cur, const char *name, uint64_t *rng, double min_keep, int mult,
                               nad_err *e)
{
    nad_groups *gs = NULL;
    nad_status rc = nad_groups_find(*cur, &gs, e);
    int i = rc ? -1 : nad_groups_find_name(gs, name);
    if (i >= 0 && !gs->g[i].frozen && gs->g[i].channels > 1) {
        const nad_group *grp = &gs->g[i];
        double f = min_keep + (1 - min_keep) * (double)(next_u64(rng) >> 11) / 9007199254740992.0;
        int n = (int)lround(f * grp->channels / mult) * mult; /* as the adapter's --multiple */
        n = n < 1 ? 1 : n > grp->channels ? grp->channels : n;
        int *keep = malloc(sizeof *keep * (size_t)n);
        nad_graph *next = NULL;
        if (!keep)
            rc = nad_errf(e, NAD_ENOMEM, "out of memory");
        for (int k = 0; keep && k < n; k++)
            keep[k] = k;
        if (!rc && n < grp->channels && !(rc = nad_shrink(*cur, grp, keep, n, &next, e))) {
            nad_graph_free(*cur);
            *cur = next;
        }
        free(keep);
    }
    nad_groups_free(gs);
    return rc;
}

/* A pruned variant of g: every prunable group kept at a random fraction. */
static nad_status random_variant(const nad_graph *g, uint64_t *rng, double min_keep, int mult, nad_graph **out,
                                 nad_err *e)
{
    nad_groups *gs = NULL;
    *out = nad_graph_copy(g);
    if (!*out)
        return nad_errf(e, NAD_ENOMEM, "out of memory");
    nad_status rc = nad_groups_find(*out, &gs, e);
    int n = rc ? 0 : gs->n;
    char(*names)[128] = n ? calloc((size_t)n, sizeof *names) : NULL;
    if (n && !names)
        rc = nad_errf(e, NAD_ENOMEM, "out of memory");
    for (int i = 0; i < n && names; i++)
        snprintf(names[i], sizeof names[i], "%s", gs->g[i].name);
    nad_groups_free(gs);
    for (int i = 0; i < n && !rc; i++)
        rc = shrink_named(out, names[i], rng, min_keep, mult, e);
    free(names);
    if (rc) {
        nad_graph_free(*out);
        *out = NULL;
    }
    return rc;
}

/* The median of x[0..n) (sorted in place). */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n ? (n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2])) : NAN;
}

/* The check's running results for one resource. */
typedef struct check_res {
    double *abs_err; /* |relative error| of each variant */
    int within;      /* variants within +-10%            */
} check_res;

/* Measures and predicts one variant; prints its line; records the errors. */
static nad_status check_one(nad_backend *direct, nad_backend *lut, const nad_graph *v, int k, double full_macs,
                            check_res *res, int json, nad_err *e)
{
    double m[NAD_RES_COUNT], p[NAD_RES_COUNT];
    /* A timing refused as too noisy is retried by the back-end itself
     * (host's tries=K, exec's retries=N). */
    nad_status rc = nad_backend_measure(direct, v, m, e);
    if (!rc)
        rc = nad_backend_measure(lut, v, p, e);
    if (rc)
        return nad_err_prefix(e, rc, "variant %d: ", k);
    if (json)
        printf("%s{\"variant\":%d,\"macs_fraction\":%.4f", k ? "," : "", k, m[NAD_RES_MACS] / full_macs);
    else
        printf("variant %3d  MACs %5.1f%%", k, 100 * m[NAD_RES_MACS] / full_macs);
    for (int r = 0; r < NAD_RES_COUNT; r++) {
        if (r == NAD_RES_MACS || r == NAD_RES_PARAMS || !nad_backend_reports(lut, (nad_resource)r))
            continue;
        double err = m[r] > 0 ? (p[r] - m[r]) / m[r] : (p[r] == m[r] ? 0 : INFINITY);
        res[r].abs_err[k] = fabs(err);
        res[r].within += fabs(err) <= 0.10;
        const char *name = nad_resource_name((nad_resource)r);
        if (json)
            printf(",\"%s\":{\"measured\":%.9g,\"predicted\":%.9g,\"error\":%.6g}", name, m[r], p[r], err);
        else
            printf("  %s measured %.6g predicted %.6g %s error %+6.2f%%", name, m[r], p[r],
                   nad_backend_unit(lut, (nad_resource)r), 100 * err);
    }
    printf(json ? "}" : "\n");
    fflush(stdout);
    return NAD_OK;
}

/* Prints the summary of every resource checked. */
static void check_summary(const nad_backend *lut, check_res *res, int n, int json)
{
    printf(json ? "],\"summary\":{" : "");
    for (int r = 0, k = 0; r < NAD_RES_COUNT; r++) {
        if (r == NAD_RES_MACS || r == NAD_RES_PARAMS || !nad_backend_reports(lut, (nad_resource)r))
            continue;
        double mx = 0;
        for (int i = 0; i < n; i++)
            mx = res[r].abs_err[i] > mx ? res[r].abs_err[i] : mx;
        double med = median(res[r].abs_err, n);
        const char *name = nad_resource_name((nad_resource)r);
        if (json)
            printf("%s\"%s\":{\"variants\":%d,\"within_10pct\":%d,\"fraction_within_10pct\":%.6g,"
                   "\"median_abs_error\":%.6g,\"max_abs_error\":%.6g}", k++ ? "," : "", name, n, res[r].within,
                   (double)res[r].within / n, med, mx);
        else
            printf("%s: %d of %d variants within +-10%% (%.1f%%), median |error| %.2f%%, max |error| %.2f%%\n", name,
                   res[r].within, n, 100.0 * res[r].within / n, 100 * med, 100 * mx);
    }
    printf(json ? "}}\n" : "");
}

/* Runs the check on n variants of g; returns the exit status. */
static int run_check(const nad_graph *g, const char *model, const char *spec, const char *table, long n, long seed,
                     double min_keep, int mult, int json)
{
    nad_err e = {{0}};
    nad_backend *direct = NULL, *lut = NULL;
    check_res res[NAD_RES_COUNT];
    memset(res, 0, sizeof res);
    char lspec[4200];
    snprintf(lspec, sizeof lspec, "lut:%s", table);
    int rc = 1;
    double full[NAD_RES_COUNT];
    if (nad_backend_open(spec, &direct, &e) || nad_backend_open(lspec, &lut, &e) ||
        nad_backend_measure(lut, g, full, &e)) {
        rc = cli_fail_err("lut check", &e);
        goto out;
    }
    for (int r = 0; r < NAD_RES_COUNT; r++)
        if (!(res[r].abs_err = calloc((size_t)n, sizeof(double)))) {
            rc = cli_cmd_fail("lut check", "out of memory");
            goto out;
        }
    if (json) {
        printf("{\"model\":");
        cli_json_str(stdout, model);
        printf(",\"lut\":");
        cli_json_str(stdout, table);
        printf(",\"backend\":");
        cli_json_str(stdout, spec);
        printf(",\"variants\":[");
    }
    uint64_t rng = (uint64_t)seed;
    for (long k = 0; k < n; k++) {
        nad_graph *v = NULL;
        if (random_variant(g, &rng, min_keep, mult, &v, &e) ||
            check_one(direct, lut, v, (int)k, full[NAD_RES_MACS], res, json, &e)) {
            nad_graph_free(v);
            if (json)
                printf("]}\n");
            rc = cli_fail_err("lut check", &e);
            goto out;
        }
        nad_graph_free(v);
    }
    check_summary(lut, res, (int)n, json);
    rc = 0;
out:
    for (int r = 0; r < NAD_RES_COUNT; r++)
        free(res[r].abs_err);
    nad_backend_destroy(direct);
    nad_backend_destroy(lut);
    return rc;
}

/* nadapt lut check. */
static int lut_check(int argc, char **argv)
{
    const char *spec = NULL, *table = NULL;
    long n = 30, seed = 1, mult = 1;
    double min_keep = 0.25;
    int json = 0;
    const cli_option opts[] = {
        CLI_STRING("lut", &table, "FILE", "the table to check (built with nadapt lut build)"),
        CLI_STRING("backend", &spec, "SPEC", "the back-end measured directly (the one the table was built with)"),
        CLI_INT("variants", &n, "N", "pruned variants to compare", 1, LUT_CHECK_MAX),
        CLI_INT("seed", &seed, "S", "seed of the random keep fractions", 0, 1e15),
        CLI_INT("multiple", &mult, "M", "kept channel counts are multiples of M (the adapter's --multiple)", 1, 4096),
        CLI_DOUBLE("min-keep", &min_keep, "F", "smallest fraction of a group's channels kept", 0.01, 1),
        CLI_FLAG("json", &json, "print the variants and the summary as one JSON object"),
        CLI_END,
    };
    const cli_spec cs = {"lut check", "MODEL.onnx --lut FILE --backend SPEC [options]",
                         "compares the table's predictions with direct measurements of pruned variants\n"
                         "(each prunable channel group kept at a random fraction)", opts, 1, 1};
    const char *pos[1];
    int n_pos, r = cli_parse(&cs, argc, argv, pos, &n_pos);
    if (r)
        return r < 0 ? 0 : r;
    if (!spec || !table)
        return cli_cmd_fail("lut check", "--lut and --backend are required");
    nad_err e = {{0}};
    nad_graph *g = NULL;
    if (nad_graph_load_onnx(pos[0], 1, &g, &e))
        return cli_fail_err("lut check", &e);
    int rc = run_check(g, pos[0], spec, table, n, seed, min_keep, (int)mult, json);
    nad_graph_free(g);
    return rc;
}

/* nadapt lut SUBCOMMAND ... */
int cmd_lut(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: nadapt lut build MODEL.onnx --backend SPEC --out FILE [--step N] [--json]\n"
                   "       nadapt lut check MODEL.onnx --lut FILE --backend SPEC [--variants N] [--seed S] [--json]\n"
                   "lookup tables of per-layer costs (nadapt lut build --help, nadapt lut check --help)\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "build"))
        return lut_build(argc - 1, argv + 1);
    if (!strcmp(argv[1], "check"))
        return lut_check(argc - 1, argv + 1);
    return cli_cmd_fail("lut", "unknown subcommand '%s' (build, check)", argv[1]);
}
