/*
 * nadapt estimate MODEL_OR_WORKLOAD --target ARCH.yaml [--batch N]
 *                 [--objective energy|latency|edp] [--json]
 *
 * Energy and cycles of every layer of an ONNX model or a workload YAML file on
 * an accelerator description, through the analytic back-end
 * (include/nadapt/estimate.h): a per-layer table (MACs, energy by memory level
 * and by data type, cycles, PE utilisation, the bound that sets the cycles,
 * the mapping found) and the totals, or the same numbers as one JSON object.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "nadapt/estimate.h"
#include "nadapt/graph.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: nadapt estimate MODEL.onnx|WORKLOAD.yaml --target ARCH.yaml [--batch N]\n"
               "                        [--objective energy|latency|edp] [--json]\n\n"
               "Estimates energy and latency of each layer on an accelerator model (models/*.yaml):\n"
               "searches a mapping per layer for the target's dataflow and costs it (Eyeriss energy\n"
               "model, Eyexam cycle bounds).  Energies are in the target's unit (pJ, or MAC for a\n"
               "target with MAC-normalised costs).\n\n"
               "  --target ARCH.yaml  accelerator description (required)\n"
               "  --batch N           batch size (default: 1 for ONNX, the workload file's batch)\n"
               "  --objective OBJ     what the mapper minimises: energy (default), latency, edp\n"
               "  --json              one JSON object {\"target\", \"energy_unit\", \"levels\", \"layers\": [...],\n"
               "                      \"total\": {\"energy\", \"energy_unit\", \"cycles\", \"macs\", ...}}\n");
}

/* Prints "nadapt estimate: <message>" on stderr; returns exit status 1. */
static int fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("nadapt estimate: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

/* 1 when path ends with suffix (case-sensitive). */
static int ends_with(const char *path, const char *suffix)
{
    size_t n = strlen(path), m = strlen(suffix);
    return n >= m && strcmp(path + n - m, suffix) == 0;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* One layer (or the total) as a JSON object. */
static void json_row(const nad_estimate *r, const nad_layer_estimate *l, int is_total)
{
    printf("{\"name\":");
    json_str(stdout, l->name);
    if (!is_total) {
        printf(",\"kind\":");
        json_str(stdout, l->kind);
    }
    printf(",\"macs\":%lld,\"energy\":%.6g,\"energy_unit\":\"%s\",\"energy_by_level\":{", (long long)l->macs,
           l->energy, r->energy_unit);
    for (int k = 0; k < r->n_levels; k++) {
        printf("%s", k ? "," : "");
        json_str(stdout, r->level_names[k]);
        printf(":%.6g", l->energy_level[k]);
    }
    printf("},\"energy_by_type\":{\"weights\":%.6g,\"inputs\":%.6g,\"outputs\":%.6g,\"mac\":%.6g,\"noc\":%.6g,"
           "\"other\":%.6g}",
           l->energy_weights, l->energy_inputs, l->energy_outputs, l->energy_mac, l->energy_noc, l->energy_other);
    printf(",\"dram_accesses\":%.6g,\"cycles\":%.6g,\"seconds\":%.6g,\"utilisation\":%.4f", l->dram_accesses,
           l->cycles, r->clock_hz > 0 ? l->cycles / r->clock_hz : 0.0, l->utilisation);
    if (!is_total) {
        printf(",\"bound\":");
        json_str(stdout, l->bound);
        printf(",\"mapping\":");
        json_str(stdout, l->mapping);
    }
    printf("}");
}

static void print_json(const char *path, const nad_estimate *r, const char *objective)
{
    printf("{\"model\":");
    json_str(stdout, path);
    printf(",\"target\":");
    json_str(stdout, r->target);
    printf(",\"objective\":\"%s\",\"energy_unit\":\"%s\",\"clock_hz\":%.6g,\"levels\":[", objective, r->energy_unit,
           r->clock_hz);
    for (int k = 0; k < r->n_levels; k++) {
        printf("%s", k ? "," : "");
        json_str(stdout, r->level_names[k]);
    }
    printf("],\"layers\":[");
    for (int i = 0; i < r->n_layers; i++) {
        printf("%s", i ? "," : "");
        json_row(r, &r->layers[i], 0);
    }
    printf("],\"total\":");
    json_row(r, &r->total, 1);
    printf("}\n");
}

/* One table line; name is the row label. */
static void table_row(const nad_estimate *r, const nad_layer_estimate *l, int wname)
{
    printf("%-*s %14lld %12.5g", wname, l->name, (long long)l->macs, l->energy);
    for (int k = 0; k < r->n_levels; k++)
        printf(" %11.4g", l->energy_level[k]);
    printf(" %11.4g %11.4g %11.4g %11.4g %12.6g %6.1f%%  %-22s %s\n", l->energy_weights, l->energy_inputs,
           l->energy_outputs, l->energy_mac, l->cycles, 100.0 * l->utilisation, l->bound, l->mapping);
}

static void print_table(const char *path, const nad_estimate *r, const char *objective)
{
    int wname = 5;
    for (int i = 0; i < r->n_layers; i++) {
        int n = (int)strlen(r->layers[i].name);
        wname = n > wname ? n : wname;
    }
    printf("model %s on %s (objective %s, energy in %s)\n", path, r->target, objective, r->energy_unit);
    printf("%-*s %14s %12s", wname, "layer", "MACs", "energy");
    for (int k = 0; k < r->n_levels; k++)
        printf(" %11.11s", r->level_names[k]);
    printf(" %11s %11s %11s %11s %12s %7s  %-22s %s\n", "weights", "inputs", "outputs", "MAC", "cycles", "util",
           "bound", "mapping");
    for (int i = 0; i < r->n_layers; i++)
        table_row(r, &r->layers[i], wname);
    table_row(r, &r->total, wname);
    if (r->clock_hz > 0)
        printf("latency %.6g s at %.6g Hz (%.4g inferences/s for the batch)\n", r->total.cycles / r->clock_hz,
               r->clock_hz, r->total.cycles > 0 ? r->clock_hz / r->total.cycles : 0.0);
}

int cmd_estimate(int argc, char **argv)
{
    const char *model = NULL, *target = NULL, *obj_s = "energy";
    long batch = 0;
    int json = 0, rc = 1;
    nad_err e = {{0}};
    nad_estimator *est = NULL;
    nad_estimate *res = NULL;
    nad_graph *g = NULL;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else if ((v = cli_opt(argc, argv, &i, "--target", &missing)) || missing) {
            if (missing)
                return fail("--target needs a file");
            target = v;
        } else if ((v = cli_opt(argc, argv, &i, "--batch", &missing)) || missing) {
            if (missing || cli_parse_int(v, 1, 1 << 20, &batch))
                return fail("--batch needs an integer in [1, 1048576]");
        } else if ((v = cli_opt(argc, argv, &i, "--objective", &missing)) || missing) {
            if (missing)
                return fail("--objective needs energy, latency or edp");
            obj_s = v;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return fail("unknown option '%s' (see nadapt estimate --help)", argv[i]);
        } else if (!model) {
            model = argv[i];
        } else {
            return fail("more than one model given ('%s')", argv[i]);
        }
    }
    if (!model || !target) {
        return fail("need MODEL_OR_WORKLOAD and --target ARCH.yaml");
    }
    nad_objective obj;
    if (nad_objective_parse(obj_s, &obj, &e))
        return cli_fail_err("estimate", &e);
    if (nad_estimator_create(target, obj, &est, &e)) {
        rc = cli_fail_err("estimate", &e);
        goto out;
    }
    if (ends_with(model, ".yaml") || ends_with(model, ".yml")) {
        if (nad_estimator_run_file(est, model, batch, &res, &e)) {
            rc = cli_fail_err("estimate", &e);
            goto out;
        }
    } else {
        if (nad_graph_load_onnx(model, 1, &g, &e) || nad_graph_infer_shapes(g, batch > 0 ? (int)batch : 1, &e) ||
            nad_estimator_run_graph(est, g, &res, &e)) {
            rc = cli_fail_err("estimate", &e);
            goto out;
        }
    }
    if (json)
        print_json(model, res, obj_s);
    else
        print_table(model, res, obj_s);
    rc = 0;
out:
    nad_estimate_free(res);
    nad_graph_free(g);
    nad_estimator_destroy(est);
    return rc;
}
