/*
 * nadapt estimate MODEL_OR_WORKLOAD --target ARCH.yaml [--batch N]
 *                 [--objective energy|latency|edp] [--json]
 *                 [--data DIR [--calib K] [--mean M] [--std S]] [--act-density D]
 *
 * Energy and cycles of every layer of an ONNX model or a workload YAML file on
 * an accelerator description, through the analytic back-end
 * (include/nadapt/estimate.h): a per-layer table (MACs, energy by memory level
 * and by data type, cycles, PE utilisation, the bound that sets the cycles,
 * the mapping found) and the totals, or the same numbers as one JSON object.
 * With --data, activation densities are measured on the first K test images
 * (nad_measure_act_density) and the target's sparsity support applies them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nadapt/data.h"
#include "nadapt/engine.h"
#include "nadapt/estimate.h"
#include "nadapt/graph.h"

#define EST_MAX_CH 16       /* channels --mean / --std may list        */
#define EST_CALIB_DEFAULT 256
#define EST_CALIB_BATCH 32  /* images per engine run while measuring   */

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
               "                      \"total\": {\"energy\", \"energy_unit\", \"cycles\", \"macs\", ...}}\n"
               "  --data DIR          measure activation densities (fraction of non-zeros) on the first K\n"
               "                      images of the dataset's test split (ONNX models only; see nadapt eval)\n"
               "  --calib K           images to measure on (default 256)\n"
               "  --mean M[,M...]     per-channel mean of the normalisation (default 0)\n"
               "  --std S[,S...]      per-channel std of the normalisation (default 1)\n"
               "  --act-density D     every layer's input and output activation density, in (0, 1]\n"
               "                      (by hand, e.g. for workload files; replaces --data)\n"
               "Densities change energy and DRAM traffic only where the target declares sparsity support\n"
               "(zero gating/skipping, RLC-compressed DRAM).\n");
}

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

/* Repeats a single value over n_ch channels; 1 when count is neither 1 nor n_ch. */
static int broadcast(float *v, int count, int n_ch)
{
    if (count == n_ch)
        return 0;
    if (count != 1)
        return 1;
    for (int k = 1; k < n_ch; k++)
        v[k] = v[0];
    return 0;
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

int cmd_estimate(int argc, char **argv)
{
    const char *model = NULL, *target = NULL, *obj_s = "energy", *data = NULL;
    long batch = 0, calib = EST_CALIB_DEFAULT;
    double act_density = 0;
    double mean_d[EST_MAX_CH] = {0}, std_d[EST_MAX_CH] = {1};
    float mean[EST_MAX_CH], stdv[EST_MAX_CH];
    int n_mean = 1, n_std = 1;
    int json = 0, rc = 1;
    nad_err e = {{0}};
    nad_estimator *est = NULL;
    nad_estimate *res = NULL;
    nad_graph *g = NULL;
    nad_act_density *dens = NULL;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else if ((v = cli_opt(argc, argv, &i, "--target", &missing)) || missing) {
            if (missing)
                return cli_cmd_fail("estimate", "--target needs a file");
            target = v;
        } else if ((v = cli_opt(argc, argv, &i, "--batch", &missing)) || missing) {
            if (missing || cli_parse_int(v, 1, 1 << 20, &batch))
                return cli_cmd_fail("estimate", "--batch needs an integer in [1, 1048576]");
        } else if ((v = cli_opt(argc, argv, &i, "--objective", &missing)) || missing) {
            if (missing)
                return cli_cmd_fail("estimate", "--objective needs energy, latency or edp");
            obj_s = v;
        } else if ((v = cli_opt(argc, argv, &i, "--data", &missing)) || missing) {
            if (missing)
                return cli_cmd_fail("estimate", "--data needs a dataset path");
            data = v;
        } else if ((v = cli_opt(argc, argv, &i, "--calib", &missing)) || missing) {
            if (missing || cli_parse_int(v, 1, 1 << 20, &calib))
                return cli_cmd_fail("estimate", "--calib needs an integer in [1, 1048576]");
        } else if ((v = cli_opt(argc, argv, &i, "--mean", &missing)) || missing) {
            if (missing || (n_mean = cli_parse_doubles(v, mean_d, EST_MAX_CH)) < 1)
                return cli_cmd_fail("estimate", "bad --mean '%s' (expected up to %d numbers separated by commas)", v ? v : "",
                            EST_MAX_CH);
        } else if ((v = cli_opt(argc, argv, &i, "--std", &missing)) || missing) {
            if (missing || (n_std = cli_parse_doubles(v, std_d, EST_MAX_CH)) < 1)
                return cli_cmd_fail("estimate", "bad --std '%s' (expected up to %d numbers separated by commas)", v ? v : "",
                            EST_MAX_CH);
        } else if ((v = cli_opt(argc, argv, &i, "--act-density", &missing)) || missing) {
            if (missing || cli_parse_double(v, &act_density) || !(act_density > 0 && act_density <= 1))
                return cli_cmd_fail("estimate", "--act-density needs a number in (0, 1]");
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_cmd_fail("estimate", "unknown option '%s' (see nadapt estimate --help)", argv[i]);
        } else if (!model) {
            model = argv[i];
        } else {
            return cli_cmd_fail("estimate", "more than one model given ('%s')", argv[i]);
        }
    }
    if (!model || !target) {
        return cli_cmd_fail("estimate", "need MODEL_OR_WORKLOAD and --target ARCH.yaml");
    }
    int is_yaml = ends_with(model, ".yaml") || ends_with(model, ".yml");
    if (data && is_yaml)
        return cli_cmd_fail("estimate", "--data measures densities on an ONNX model; for a workload file give --act-density");
    if (data && act_density > 0)
        return cli_cmd_fail("estimate", "give either --data (measured densities) or --act-density, not both");
    int n_ch = n_mean > n_std ? n_mean : n_std;
    for (int k = 0; k < EST_MAX_CH; k++) {
        mean[k] = (float)mean_d[k];
        stdv[k] = (float)std_d[k];
    }
    if (broadcast(mean, n_mean, n_ch) || broadcast(stdv, n_std, n_ch))
        return cli_cmd_fail("estimate", "--mean has %d values and --std %d: give the same count, or 1 for either", n_mean, n_std);
    nad_objective obj;
    if (nad_objective_parse(obj_s, &obj, &e))
        return cli_fail_err("estimate", &e);
    if (nad_estimator_create(target, obj, &est, &e)) {
        rc = cli_fail_err("estimate", &e);
        goto out;
    }
    if (is_yaml) {
        if (nad_estimator_run_file_density(est, model, batch, act_density, &res, &e)) {
            rc = cli_fail_err("estimate", &e);
            goto out;
        }
    } else {
        if (nad_graph_load_onnx(model, 1, &g, &e) ||
            (data && measure_density(g, data, calib, mean, stdv, n_ch, &dens, &e)) ||
            nad_graph_infer_shapes(g, batch > 0 ? (int)batch : 1, &e) ||
            nad_estimator_run_graph_density(est, g, dens, act_density, &res, &e)) {
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
    free(dens);
    nad_estimate_free(res);
    nad_graph_free(g);
    nad_estimator_destroy(est);
    return rc;
}
