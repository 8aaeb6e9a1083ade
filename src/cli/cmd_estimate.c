/*
 * nadapt estimate MODEL_OR_WORKLOAD --target ARCH.yaml [--batch N]
 *                 [--objective energy|latency|edp] [--json]
 *                 [--data DIR [--calib K] [--mean M] [--std S]] [--act-density D]
 *                 [--mapping "LEVEL[...] X[...] Y[...] ..." [--layer NAME]]
 *
 * Energy and cycles of every layer of an ONNX model or a workload YAML file on
 * an accelerator description, through the analytic back-end
 * (include/nadapt/estimate.h): a per-layer table (MACs, energy by memory level
 * and by data type, cycles, PE utilisation, the bound that sets the cycles,
 * the mapping found) and the totals, or the same numbers as one JSON object.
 * With --data, activation densities are measured on the first K test images
 * (nad_measure_act_density) and the target's sparsity support applies them.
 * With --mapping, one layer (--layer, or the only one with MACs) is costed
 * under the given mapping instead of a searched one, as timeloop-model does;
 * a mapping that breaks coverage, fanout, a capacity or one of the target's
 * mapspace constraints is an error naming the rule.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "estimate_internal.h"
#include "opts.h"
#include "nadapt/data.h"
#include "nadapt/engine.h"
#include "nadapt/estimate.h"
#include "nadapt/graph.h"

#define EST_MAX_CH CLI_NORM_MAX /* channels --mean / --std may list     */
#define EST_CALIB_DEFAULT 256
#define EST_CALIB_BATCH 32  /* images per engine run while measuring   */

/* 1 when path ends with suffix (case-sensitive). */
static int ends_with(const char *path, const char *suffix)
{
    size_t n = strlen(path), m = strlen(suffix);
    return n >= m && strcmp(path + n - m, suffix) == 0;
}

/* One layer (or the total) as a JSON object. */
static void json_row(const nad_estimate *r, const nad_layer_estimate *l, int is_total)
{
    printf("{\"name\":");
    cli_json_str(stdout, l->name);
    if (!is_total) {
        printf(",\"kind\":");
        cli_json_str(stdout, l->kind);
    }
    printf(",\"macs\":%lld,\"energy\":%.6g,\"energy_unit\":\"%s\",\"energy_by_level\":{", (long long)l->macs,
           l->energy, r->energy_unit);
    for (int k = 0; k < r->n_levels; k++) {
        printf("%s", k ? "," : "");
        cli_json_str(stdout, r->level_names[k]);
        printf(":%.6g", l->energy_level[k]);
    }
    printf("},\"energy_by_type\":{\"weights\":%.6g,\"inputs\":%.6g,\"outputs\":%.6g,\"mac\":%.6g,\"noc\":%.6g,"
           "\"other\":%.6g}",
           l->energy_weights, l->energy_inputs, l->energy_outputs, l->energy_mac, l->energy_noc, l->energy_other);
    printf(",\"dram_accesses\":%.6g,\"cycles\":%.6g,\"seconds\":%.6g,\"utilisation\":%.4f", l->dram_accesses,
           l->cycles, r->clock_hz > 0 ? l->cycles / r->clock_hz : 0.0, l->utilisation);
    printf(",\"weight_density\":%.6g,\"input_density\":%.6g,\"output_density\":%.6g", l->weight_density,
           l->input_density, l->output_density);
    if (!is_total) {
        printf(",\"bound\":");
        cli_json_str(stdout, l->bound);
        printf(",\"mapping\":");
        cli_json_str(stdout, l->mapping);
    }
    printf("}");
}

static void print_json(const char *path, const nad_estimate *r, const char *objective)
{
    printf("{\"model\":");
    cli_json_str(stdout, path);
    printf(",\"target\":");
    cli_json_str(stdout, r->target);
    printf(",\"objective\":\"%s\",\"energy_unit\":\"%s\",\"clock_hz\":%.6g,\"levels\":[", objective, r->energy_unit,
           r->clock_hz);
    for (int k = 0; k < r->n_levels; k++) {
        printf("%s", k ? "," : "");
        cli_json_str(stdout, r->level_names[k]);
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
    printf(" %11.4g %11.4g %11.4g %11.4g %12.6g %6.1f%% %6.3f %6.3f %6.3f  %-22s %s\n", l->energy_weights,
           l->energy_inputs, l->energy_outputs, l->energy_mac, l->cycles, 100.0 * l->utilisation, l->weight_density,
           l->input_density, l->output_density, l->bound, l->mapping);
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
    printf(" %11s %11s %11s %11s %12s %7s %6s %6s %6s  %-22s %s\n", "weights", "inputs", "outputs", "MAC", "cycles",
           "util", "w_dens", "i_dens", "o_dens", "bound", "mapping");
    for (int i = 0; i < r->n_layers; i++)
        table_row(r, &r->layers[i], wname);
    table_row(r, &r->total, wname);
    if (r->clock_hz > 0)
        printf("latency %.6g s at %.6g Hz (%.4g inferences/s for the batch)\n", r->total.cycles / r->clock_hz,
               r->clock_hz, r->total.cycles > 0 ? r->clock_hz / r->total.cycles : 0.0);
}

/*
 * Measures per-node activation densities of g on the first `calib` test
 * images of dataset `data` normalised with mean/std (n_ch entries each) into
 * a new array with one entry per graph node (*out, free()).  Prints nothing;
 * e holds the reason on failure.
 */
static nad_status measure_density(nad_graph *g, const char *data, long calib, const float *mean, const float *stdv,
                                  int n_ch, nad_act_density **out, nad_err *e)
{
    nad_status rc;
    nad_dataset *d = NULL;
    float *images = NULL;
    *out = NULL;
    rc = nad_dataset_load(data, NAD_SPLIT_TEST, &d, e);
    if (rc)
        return rc;
    int64_t n = d->n < calib ? d->n : calib;
    int64_t per = (int64_t)d->c * d->h * d->w;
    images = malloc(sizeof *images * (size_t)(n * per > 0 ? n * per : 1));
    if (!images) {
        rc = nad_errf(e, NAD_ENOMEM, "out of memory for %lld calibration images", (long long)n);
        goto fail;
    }
    if (n < 1) {
        rc = nad_errf(e, NAD_EINVAL, "%s: the test split has no images", data);
        goto fail;
    }
    rc = nad_dataset_batch(d, NULL, 0, (int)n, mean, stdv, n_ch, images, e);
    if (rc)
        goto fail;
    rc = nad_measure_act_density(g, images, n, per, EST_CALIB_BATCH, out, e);
fail:
    free(images);
    nad_dataset_free(d);
    return rc;
}

/* What the command line asks of `nadapt estimate`. */
typedef struct est_args {
    const char *model, *target, *obj_s, *data, *mean_s, *std_s, *mapping, *layer;
    long batch, calib;
    double act_density;
    int act_given, json, is_yaml;
    float mean[EST_MAX_CH], stdv[EST_MAX_CH];
    int n_ch;
} est_args;

/* Checks what the options only allow together; returns 0 or the exit status after printing the error. */
static int check_args(est_args *a)
{
    if (!a->target)
        return cli_cmd_fail("estimate", "need MODEL_OR_WORKLOAD and --target ARCH.yaml");
    if (a->act_given && !(a->act_density > 0))
        return cli_cmd_fail("estimate", "--act-density needs a number in (0, 1]");
    a->is_yaml = ends_with(a->model, ".yaml") || ends_with(a->model, ".yml");
    if (a->data && a->is_yaml)
        return cli_cmd_fail("estimate",
                            "--data measures densities on an ONNX model; for a workload file give --act-density");
    if (a->data && a->act_given)
        return cli_cmd_fail("estimate", "give either --data (measured densities) or --act-density, not both");
    if (a->layer && !a->mapping)
        return cli_cmd_fail("estimate", "--layer names the layer --mapping is for; give --mapping too");
    return cli_parse_norm("estimate", a->mean_s, a->std_s, EST_MAX_CH, a->mean, a->stdv, &a->n_ch);
}

/* Fills a from the command line through the option table; returns 0, -1 after --help, or the exit status. */
static int parse_args(int argc, char **argv, est_args *a)
{
    *a = (est_args){.obj_s = "energy", .mean_s = CLI_NORM_MEAN, .std_s = CLI_NORM_STD, .calib = EST_CALIB_DEFAULT};
    const cli_option opts[] = {
        CLI_STRING("target", &a->target, "ARCH.yaml", "accelerator description (required)"),
        CLI_INT("batch", &a->batch, "N", "batch size (default: 1 for ONNX, the workload file's batch)", 1, 1 << 20),
        CLI_STRING("objective", &a->obj_s, "OBJ", "what the mapper minimises: energy, latency, edp"),
        CLI_FLAG("json", &a->json,
                 "one JSON object {\"target\", \"energy_unit\", \"levels\", \"layers\": [...],\n"
                 "\"total\": {\"energy\", \"energy_unit\", \"cycles\", \"macs\", ...}}"),
        CLI_STRING("data", &a->data, "DIR",
                   "measure activation densities (fraction of non-zeros) on the first K\n"
                   "images of the dataset's test split (ONNX models only; see nadapt eval)"),
        CLI_INT("calib", &a->calib, "K", "images to measure on", 1, 1 << 20),
        CLI_STRING("mean", &a->mean_s, "M[,M...]", "per-channel mean of the normalisation"),
        CLI_STRING("std", &a->std_s, "S[,S...]", "per-channel std of the normalisation"),
        CLI_OPT("act-density", CLI_K_DOUBLE, &a->act_density, "D",
                "every layer's input and output activation density, in (0, 1]\n"
                "(by hand, e.g. for workload files; replaces --data)",
                0, 1, &a->act_given),
        CLI_STRING("mapping", &a->mapping, "TEXT",
                   "cost this mapping instead of searching one, e.g. \"DRAM[C4 M2] shared_glb[Q7]\n"
                   "X[Q14] Y[M4 S3] weights_spad[R3 C8] psum_spad[M8]\" (levels outer to inner;\n"
                   "X: array columns, Y: rows); it must cover the layer, fit the array and every\n"
                   "level, and keep the target's constraints; only that layer is reported"),
        CLI_STRING("layer", &a->layer, "NAME", "the layer --mapping is for (default: the only layer with MACs)"),
        CLI_END,
    };
    const cli_spec spec = {
        "estimate", "MODEL.onnx|WORKLOAD.yaml --target ARCH.yaml [options]",
        "Estimates energy and latency of each layer on an accelerator model (models/*.yaml):\n"
        "searches a mapping per layer for the target's dataflow and costs it (Eyeriss energy\n"
        "model, Eyexam cycle bounds).  Energies are in the target's unit (pJ, or MAC for a\n"
        "target with MAC-normalised costs).  Densities change energy and DRAM traffic only\n"
        "where the target declares sparsity support (zero gating/skipping, RLC-compressed DRAM).",
        opts, 1, 1};
    int n_pos, rc = cli_parse(&spec, argc, argv, &a->model, &n_pos);
    return rc ? rc : check_args(a);
}

/* Entry point of `nadapt estimate`: parses options, runs the estimator, prints; returns the exit status. */
int cmd_estimate(int argc, char **argv)
{
    est_args a;
    int rc;
    nad_err e = {{0}};
    nad_estimator *est = NULL;
    nad_estimate *res = NULL;
    nad_graph *g = NULL;
    nad_act_density *dens = NULL;
    if ((rc = parse_args(argc, argv, &a)))
        return rc < 0 ? 0 : rc;
    rc = 1;
    nad_objective obj;
    if (nad_objective_parse(a.obj_s, &obj, &e))
        return cli_fail_err("estimate", &e);
    if (nad_estimator_create(a.target, obj, &est, &e) ||
        (a.mapping && nad_estimator_set_mapping(est, a.mapping, a.layer, &e))) {
        rc = cli_fail_err("estimate", &e);
        goto out;
    }
    if (a.is_yaml) {
        if (nad_estimator_run_file_density(est, a.model, a.batch, a.act_density, &res, &e)) {
            rc = cli_fail_err("estimate", &e);
            goto out;
        }
    } else {
        if (nad_graph_load_onnx(a.model, 1, &g, &e) ||
            (a.data && measure_density(g, a.data, a.calib, a.mean, a.stdv, a.n_ch, &dens, &e)) ||
            nad_graph_infer_shapes(g, a.batch > 0 ? (int)a.batch : 1, &e) ||
            nad_estimator_run_graph_density(est, g, dens, a.act_density, &res, &e)) {
            rc = cli_fail_err("estimate", &e);
            goto out;
        }
    }
    if (a.json)
        print_json(a.model, res, a.obj_s);
    else
        print_table(a.model, res, a.obj_s);
    rc = 0;
out:
    free(dens);
    nad_estimate_free(res);
    nad_graph_free(g);
    nad_estimator_destroy(est);
    return rc;
}
