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
#include "opts.h"
#include "graph/graph.h"
#include "nadapt/data.h"
#include "nadapt/engine.h"

#define EVAL_MAX_CH CLI_NORM_MAX

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

/* What the command line asks of `nadapt eval`. */
typedef struct eval_args {
    const char *model, *data, *split_s, *mean_s, *std_s;
    long batch, threads, limit;
    int json;
    nad_split split;
    float mean[EVAL_MAX_CH], stdv[EVAL_MAX_CH];
    int n_ch;
} eval_args;

/* Fills a from the command line through the option table; returns 0, -1 after --help, or the exit status. */
static int parse_args(int argc, char **argv, eval_args *a)
{
    *a = (eval_args){.split_s = "test", .mean_s = CLI_NORM_MEAN, .std_s = CLI_NORM_STD, .batch = 64, .threads = 1};
    const cli_option opts[] = {
        CLI_STRING("data", &a->data, "PATH",
                   "dataset: a directory with MNIST-style IDX files (raw or .gz),\n"
                   "{test,train}_images.npy + _labels.npy (or x_/y_test.npy), or\n"
                   "CIFAR-10 binary batches; or a prefix P of P_images.npy + P_labels.npy"),
        CLI_STRING("split", &a->split_s, "test|train", "which split to use"),
        CLI_STRING("mean", &a->mean_s, "M[,M...]", "per-channel mean subtracted after scaling uint8 to [0,1]"),
        CLI_STRING("std", &a->std_s, "S[,S...]", "per-channel std divided by"),
        CLI_INT("batch", &a->batch, "N", "images per engine run", 1, 65536),
        CLI_INT("threads", &a->threads, "T", "threads for the engine", 1, 1024),
        CLI_INT("limit", &a->limit, "K", "evaluate only the first K images", 1, 2147483647L),
        CLI_FLAG("json", &a->json, "print one JSON object instead of the summary"),
        CLI_END,
    };
    const cli_spec spec = {"eval", "MODEL.onnx --data PATH [options]",
                           "Top-1 / top-5 accuracy and images/s of MODEL on a dataset.", opts, 1, 1};
    int n_pos, rc = cli_parse(&spec, argc, argv, &a->model, &n_pos);
    if (rc)
        return rc;
    if (!a->data)
        return cli_cmd_fail("eval", "no dataset given (use --data PATH)");
    if (strcmp(a->split_s, "test") == 0)
        a->split = NAD_SPLIT_TEST;
    else if (strcmp(a->split_s, "train") == 0)
        a->split = NAD_SPLIT_TRAIN;
    else
        return cli_cmd_fail("eval", "bad --split '%s' (expected test or train)", a->split_s);
    return cli_parse_norm("eval", a->mean_s, a->std_s, EVAL_MAX_CH, a->mean, a->stdv, &a->n_ch);
}

/*
 * `nadapt eval`: parses options, loads model and data, checks they fit, runs
 * the batches and prints the summary or one JSON line.  Exit 0, or 1 with one
 * "nadapt eval: ..." line on stderr and nothing on stdout.
 */
int cmd_eval(int argc, char **argv)
{
    int rc;
    eval_args a;
    nad_graph *g = NULL;
    nad_dataset *d = NULL;
    nad_plan *p = NULL;
    nad_err e = {{0}};

    if ((rc = parse_args(argc, argv, &a)))
        return rc < 0 ? 0 : rc;
    rc = 1;
    if (nad_graph_load_onnx(a.model, 1, &g, &e) || nad_dataset_load(a.data, a.split, &d, &e)) {
        rc = cli_fail_err("eval", &e);
        goto out;
    }
    if (g->n_inputs < 1 || g->n_outputs < 1) {
        rc = cli_cmd_fail("eval", "%s: the model has no %s", a.model, g->n_inputs < 1 ? "input" : "output");
        goto out;
    }
    if (!input_fits(g, d)) {
        char dims[96];
        rc = cli_cmd_fail("eval", "%s: model input %s does not fit the images of %s (%dx%dx%d)", a.model,
                       input_dims(g, dims, sizeof dims), a.data, d->c, d->h, d->w);
        goto out;
    }
    int64_t count = a.limit > 0 && a.limit < d->n ? a.limit : d->n;
    int max_batch = (int)(a.batch < count ? a.batch : count);
    nad_set_threads((int)a.threads);
    if (nad_plan_create(g, max_batch, &p, &e)) {
        rc = cli_fail_err("eval", &e);
        goto out;
    }
    const int64_t per_image = (int64_t)d->c * d->h * d->w;
    const int64_t k = nad_plan_output_size(p);
    if (nad_plan_input_size(p) != per_image) {
        rc = cli_cmd_fail("eval", "%s: the model takes %lld values per image, the images of %s have %lld", a.model,
                       (long long)nad_plan_input_size(p), a.data, (long long)per_image);
        goto out;
    }
    if (k < d->n_classes) {
        rc = cli_cmd_fail("eval", "%s: the model outputs %lld values per image but %s has %d classes", a.model,
                          (long long)k, a.data, d->n_classes);
        goto out;
    }

    int64_t top1 = 0, top5 = 0;
    double t0 = now_seconds();
    for (int64_t first = 0; first < count; first += max_batch) {
        int nb = (int)(count - first < max_batch ? count - first : max_batch);
        if (nad_dataset_batch(d, NULL, first, nb, a.mean, a.stdv, a.n_ch, nad_plan_input(p), &e) ||
            nad_plan_run(p, nb, &e)) {
            rc = cli_fail_err("eval", &e);
            goto out;
        }
        score(nad_plan_output(p), k, d->labels + first, nb, &top1, &top5);
    }
    double secs = now_seconds() - t0;
    double ips = secs > 0 ? (double)count / secs : 0.0;
    double acc1 = (double)top1 / (double)count, acc5 = (double)top5 / (double)count;

    if (a.json) {
        fputs("{\"model\": ", stdout);
        cli_json_str(stdout, a.model);
        fputs(", \"data\": ", stdout);
        cli_json_str(stdout, a.data);
        printf(", \"split\": \"%s\", \"images\": %lld, \"correct\": %lld, \"correct5\": %lld, \"top1\": %.6f, "
               "\"top5\": %.6f, \"images_per_s\": %.1f, \"seconds\": %.4f, \"batch\": %d, \"threads\": %ld, "
               "\"classes\": %d, \"image_shape\": [%d, %d, %d]}\n",
               a.split_s, (long long)count, (long long)top1, (long long)top5, acc1, acc5, ips, secs, max_batch,
               a.threads, d->n_classes, d->c, d->h, d->w);
    } else {
        printf("model   %s\n", a.model);
        printf("data    %s (%s split, %lld of %lld images, %dx%dx%d, %d classes)\n", a.data, a.split_s,
               (long long)count, (long long)d->n, d->c, d->h, d->w, d->n_classes);
        printf("top-1   %.4f  (%lld/%lld)\n", acc1, (long long)top1, (long long)count);
        printf("top-5   %.4f  (%lld/%lld)\n", acc5, (long long)top5, (long long)count);
        printf("speed   %.0f images/s  (batch %d, %ld thread%s, %.3f s)\n", ips, max_batch, a.threads,
               a.threads == 1 ? "" : "s", secs);
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
