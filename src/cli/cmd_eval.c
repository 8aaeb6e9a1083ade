/*
 * nadapt eval — top-1/top-5 accuracy and throughput of an ONNX classifier on
 * a dataset.  Loads the model (BatchNorm folded) and the dataset, checks that
 * they fit each other, then runs every image through the reference engine in
 * batches.  Only the inference loop (normalising each batch plus running it) is
 * timed, so images/s does not depend on how long loading took.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "graph/graph.h"
#include "nadapt/data.h"
#include "nadapt/engine.h"

#define EVAL_MAX_CH 16

static const char eval_usage[] =
    "usage: nadapt eval MODEL.onnx --data PATH [options]\n"
    "\n"
    "Top-1 / top-5 accuracy and images/s of MODEL on a dataset.\n"
    "\n"
    "  --data PATH        dataset: a directory with MNIST-style IDX files (raw or .gz),\n"
    "                     {test,train}_images.npy + _labels.npy (or x_/y_test.npy), or\n"
    "                     CIFAR-10 binary batches; or a prefix P of P_images.npy + P_labels.npy\n"
    "  --split test|train which split to use (default test)\n"
    "  --mean M[,M...]    per-channel mean subtracted after scaling uint8 to [0,1] (default 0)\n"
    "  --std S[,S...]     per-channel std divided by (default 1)\n"
    "  --batch N          images per engine run (default 64)\n"
    "  --threads T        threads for the engine (default 1)\n"
    "  --limit K          evaluate only the first K images\n"
    "  --json             print one JSON object instead of the summary\n";

/*
 * cli_opt for one option name; *missing becomes 1 (and stays 1) when the
 * option is there without its value.  Keeping it sticky lets one if/else
 * chain try every option name and report the missing value at the end.
 */
static int take_opt(int argc, char **argv, int *i, const char *name, const char **v, int *missing)
{
    int m = 0;
    *v = cli_opt(argc, argv, i, name, &m);
    if (m)
        *missing = 1;
    return *v != NULL;
}

/* Monotonic wall-clock seconds, for images/s. */
static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/*
 * Scores n images: logits is n x k row-major.  Top-1 is the first largest
 * logit (what torch.argmax picks); top-5 counts the label when fewer than
 * five logits are strictly larger than the label's, so ties go to the label
 * and with k <= 5 every image counts.
 */
static void score(const float *logits, int64_t k, const int32_t *labels, int n, int64_t *top1, int64_t *top5)
{
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * (size_t)k;
        int64_t best = 0, above = 0;
        float zl = z[labels[i]];
        for (int64_t j = 0; j < k; j++) {
            if (z[j] > z[best])
                best = j;
            above += z[j] > zl;
        }
        *top1 += best == labels[i];
        *top5 += above < 5;
    }
}

/* Formats the model input's dims as "[1,1,28,28]" into buf. */
static const char *input_dims(const nad_graph *g, char *buf, size_t size)
{
    return nad_dims_str(&g->tensors[g->inputs[0]], buf, size);
}

/*
 * Checks that the model's first input takes the dataset's images: NCHW with
 * the same C, H, W, or a flat [N, C*H*W] input (same memory layout).
 */
static int input_fits(const nad_graph *g, const nad_dataset *d)
{
    const nad_tensor *t = &g->tensors[g->inputs[0]];
    if (t->ndim == 4)
        return t->dims[1] == d->c && t->dims[2] == d->h && t->dims[3] == d->w;
    if (t->ndim == 2)
        return t->dims[1] == (int64_t)d->c * d->h * d->w;
    return 0;
}

/* Expands a list of 1 value to n values; returns 0, or -1 when cnt is neither 1 nor n. */
static int broadcast(float *v, int cnt, int n)
{
    if (cnt == n)
        return 0;
    if (cnt != 1)
        return -1;
    for (int i = 1; i < n; i++)
        v[i] = v[0];
    return 0;
}

/*
 * `nadapt eval`: parses options, loads model and data, checks they fit, runs
 * the batches and prints the summary or one JSON line.  Exit 0, or 1 with one
 * "nadapt eval: ..." line on stderr and nothing on stdout.
 */
int cmd_eval(int argc, char **argv)
{
    int rc = 1;
    const char *model = NULL, *data = NULL, *split_s = "test";
    double mean_d[EVAL_MAX_CH] = {0}, std_d[EVAL_MAX_CH] = {1};
    float mean[EVAL_MAX_CH], stdv[EVAL_MAX_CH];
    int n_mean = 1, n_std = 1, json = 0;
    long batch = 64, threads = 1, limit = -1;
    nad_graph *g = NULL;
    nad_dataset *d = NULL;
    nad_plan *p = NULL;
    nad_err e = {{0}};

    for (int i = 1; i < argc; i++) {
        const char *v;
        int missing = 0;
        if (cli_is_help(argv[i])) {
            fputs(eval_usage, stdout);
            return 0;
        }
        if (take_opt(argc, argv, &i, "--data", &v, &missing)) {
            data = v;
        } else if (take_opt(argc, argv, &i, "--split", &v, &missing)) {
            split_s = v;
        } else if (take_opt(argc, argv, &i, "--mean", &v, &missing)) {
            if ((n_mean = cli_parse_doubles(v, mean_d, EVAL_MAX_CH)) < 1)
                return cli_cmd_fail("eval", "bad --mean '%s' (expected up to %d numbers separated by commas)", v, EVAL_MAX_CH);
        } else if (take_opt(argc, argv, &i, "--std", &v, &missing)) {
            if ((n_std = cli_parse_doubles(v, std_d, EVAL_MAX_CH)) < 1)
                return cli_cmd_fail("eval", "bad --std '%s' (expected up to %d numbers separated by commas)", v, EVAL_MAX_CH);
        } else if (take_opt(argc, argv, &i, "--batch", &v, &missing)) {
            if (cli_parse_int(v, 1, 65536, &batch))
                return cli_cmd_fail("eval", "bad --batch '%s' (expected an integer from 1 to 65536)", v);
        } else if (take_opt(argc, argv, &i, "--threads", &v, &missing)) {
            if (cli_parse_int(v, 1, 1024, &threads))
                return cli_cmd_fail("eval", "bad --threads '%s' (expected an integer from 1 to 1024)", v);
        } else if (take_opt(argc, argv, &i, "--limit", &v, &missing)) {
            if (cli_parse_int(v, 1, 2147483647L, &limit))
                return cli_cmd_fail("eval", "bad --limit '%s' (expected a positive integer)", v);
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (missing) {
            return cli_cmd_fail("eval", "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return cli_cmd_fail("eval", "unknown option '%s' (see nadapt eval --help)", argv[i]);
        } else if (!model) {
            model = argv[i];
        } else {
            return cli_cmd_fail("eval", "unexpected argument '%s' (one model only)", argv[i]);
        }
    }
    if (!model)
        return cli_cmd_fail("eval", "no model given (usage: nadapt eval MODEL.onnx --data PATH)");
    if (!data)
        return cli_cmd_fail("eval", "no dataset given (use --data PATH)");
    nad_split split;
    if (strcmp(split_s, "test") == 0)
        split = NAD_SPLIT_TEST;
    else if (strcmp(split_s, "train") == 0)
        split = NAD_SPLIT_TRAIN;
    else
        return cli_cmd_fail("eval", "bad --split '%s' (expected test or train)", split_s);
    int n_ch = n_mean > n_std ? n_mean : n_std;
    for (int k = 0; k < EVAL_MAX_CH; k++) {
        mean[k] = (float)mean_d[k];
        stdv[k] = (float)std_d[k];
    }
    if (broadcast(mean, n_mean, n_ch) || broadcast(stdv, n_std, n_ch))
        return cli_cmd_fail("eval", "--mean has %d values and --std %d: give the same count, or 1 for either", n_mean, n_std);

    if (nad_graph_load_onnx(model, 1, &g, &e) || nad_dataset_load(data, split, &d, &e)) {
        rc = cli_fail_err("eval", &e);
        goto out;
    }
    if (g->n_inputs < 1 || g->n_outputs < 1) {
        rc = cli_cmd_fail("eval", "%s: the model has no %s", model, g->n_inputs < 1 ? "input" : "output");
        goto out;
    }
    if (!input_fits(g, d)) {
        char dims[96];
        rc = cli_cmd_fail("eval", "%s: model input %s does not fit the images of %s (%dx%dx%d)", model,
                       input_dims(g, dims, sizeof dims), data, d->c, d->h, d->w);
        goto out;
    }
    int64_t count = limit > 0 && limit < d->n ? limit : d->n;
    int max_batch = (int)(batch < count ? batch : count);
    nad_set_threads((int)threads);
    if (nad_plan_create(g, max_batch, &p, &e)) {
        rc = cli_fail_err("eval", &e);
        goto out;
    }
    const int64_t per_image = (int64_t)d->c * d->h * d->w;
    const int64_t k = nad_plan_output_size(p);
    if (nad_plan_input_size(p) != per_image) {
        rc = cli_cmd_fail("eval", "%s: the model takes %lld values per image, the images of %s have %lld", model,
                       (long long)nad_plan_input_size(p), data, (long long)per_image);
        goto out;
    }
    if (k < d->n_classes) {
        rc = cli_cmd_fail("eval", "%s: the model outputs %lld values per image but %s has %d classes", model, (long long)k,
                       data, d->n_classes);
        goto out;
    }

    int64_t top1 = 0, top5 = 0;
    double t0 = now_seconds();
    for (int64_t first = 0; first < count; first += max_batch) {
        int nb = (int)(count - first < max_batch ? count - first : max_batch);
        if (nad_dataset_batch(d, NULL, first, nb, mean, stdv, n_ch, nad_plan_input(p), &e) ||
            nad_plan_run(p, nb, &e)) {
            rc = cli_fail_err("eval", &e);
            goto out;
        }
        score(nad_plan_output(p), k, d->labels + first, nb, &top1, &top5);
    }
    double secs = now_seconds() - t0;
    double ips = secs > 0 ? (double)count / secs : 0.0;
    double acc1 = (double)top1 / (double)count, acc5 = (double)top5 / (double)count;

    if (json) {
        fputs("{\"model\": ", stdout);
        cli_json_str(stdout, model);
        fputs(", \"data\": ", stdout);
        cli_json_str(stdout, data);
        printf(", \"split\": \"%s\", \"images\": %lld, \"correct\": %lld, \"correct5\": %lld, \"top1\": %.6f, "
               "\"top5\": %.6f, \"images_per_s\": %.1f, \"seconds\": %.4f, \"batch\": %d, \"threads\": %ld, "
               "\"classes\": %d, \"image_shape\": [%d, %d, %d]}\n",
               split_s, (long long)count, (long long)top1, (long long)top5, acc1, acc5, ips, secs, max_batch, threads,
               d->n_classes, d->c, d->h, d->w);
    } else {
        printf("model   %s\n", model);
        printf("data    %s (%s split, %lld of %lld images, %dx%dx%d, %d classes)\n", data, split_s, (long long)count,
               (long long)d->n, d->c, d->h, d->w, d->n_classes);
        printf("top-1   %.4f  (%lld/%lld)\n", acc1, (long long)top1, (long long)count);
        printf("top-5   %.4f  (%lld/%lld)\n", acc5, (long long)top5, (long long)count);
        printf("speed   %.0f images/s  (batch %d, %ld thread%s, %.3f s)\n", ips, max_batch, threads,
               threads == 1 ? "" : "s", secs);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        rc = cli_cmd_fail("eval", "cannot write the results to stdout");
        goto out;
    }
    rc = 0;
out:
    nad_plan_destroy(p);
    nad_dataset_free(d);
    nad_graph_free(g);
    return rc;
}
