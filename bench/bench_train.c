/*
 * Training throughput of nadapt (not a test): SGD steps per second on a
 * fixture architecture, batch 128, against PyTorch on the same architecture
 * in the same run (bench/torch_train_peer.py, when /usr/bin/python3 has torch).
 *
 *   bench_train [--threads T] [--steps S] [--batch B] [--no-peer] [model ...]
 *
 * A step is what nad_finetune does per mini-batch: normalise the batch,
 * forward in training mode, softmax cross-entropy, backward, SGD update.
 * The first 3 steps are a warm-up and not timed; runs alternate
 * nadapt / torch per model so both see the same machine load.  Output rows:
 *
 *   train <model> <threads> <batch> nadapt <images/s> torch <images/s> ratio <nadapt/torch>
 *
 * preceded by a "# openblas core ..." line: Debian's OpenBLAS 0.3.21 does not
 * recognise this machine's CPU and falls back to its Prescott (SSE3) kernels;
 * OPENBLAS_CORETYPE=SkylakeX in the environment selects the AVX-512 ones for
 * both nadapt and the torch peer (about 1.4-1.9x faster nadapt steps here).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "graph/graph.h"
#include "nadapt/data.h"
#include "nadapt/graph.h"
#include "nadapt/train.h"

#define FMNIST "/usr/share/datasets/fashion-mnist"

/* Runs the torch peer and returns its images/s, or 0 when it cannot run. */
static double torch_rate(const char *model, int threads, int batch, int steps)
{
    char cmd[1024], line[256];
    snprintf(cmd, sizeof cmd,
             "OPENBLAS_NUM_THREADS=%d OMP_NUM_THREADS=%d /usr/bin/python3 %s/bench/torch_train_peer.py --model %s "
             "--threads %d --batch %d --steps %d 2>/dev/null",
             threads, threads, NAD_SOURCE_DIR, model, threads, batch, steps);
    FILE *p = popen(cmd, "r");
    double rate = 0.0;
    if (!p)
        return 0.0;
    while (fgets(line, sizeof line, p))
        if (sscanf(line, "images_per_s %lf", &rate) == 1)
            break;
    pclose(p);
    return rate;
}

/* nadapt's images/s over `steps` timed steps after a 3-step warm-up. */
static double nadapt_rate(const char *model, const nad_dataset *d, int threads, int batch, int steps)
{
    char path[1024];
    nad_graph *g = NULL;
    nad_err e;
    double rate = 0.0;
    if (strchr(model, '/'))
        snprintf(path, sizeof path, "%s", model);
    else
        snprintf(path, sizeof path, "%s/examples/fixtures/%s.op13.onnx", NAD_SOURCE_DIR, model);
    if (nad_graph_load_onnx(path, 0, &g, &e)) {
        fprintf(stderr, "bench_train: %s\n", e.msg);
        return 0.0;
    }
    nad_train_config cfg;
    nad_train_config_defaults(&cfg);
    cfg.threads = threads;
    cfg.batch = batch;
    cfg.steps = 3;
    nad_train_report rep;
    if (nad_finetune(g, d, NULL, d->n, &cfg, &rep, &e) == NAD_OK) {
        cfg.steps = steps;
        cfg.seed = 2;
        if (nad_finetune(g, d, NULL, d->n, &cfg, &rep, &e) == NAD_OK)
            rate = rep.images_per_s;
    }
    if (rate == 0.0)
        fprintf(stderr, "bench_train: %s: %s\n", model, e.msg);
    nad_graph_free(g);
    return rate;
}

int main(int argc, char **argv)
{
    int threads = 2, steps = 40, batch = 128, peer = 1, first_model = argc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-peer"))
            peer = 0;
        else {
            first_model = i;
            break;
        }
    }
    if (threads < 1 || steps < 1 || batch < 1) {
        fprintf(stderr, "usage: bench_train [--threads T] [--steps S] [--batch B] [--no-peer] [model ...]\n");
        return 2;
    }
    static const char *defaults[] = {"cnn_bn", "resnet", "mobilenetv2"};
    int n_models = first_model < argc ? argc - first_model : 3;
    nad_dataset *d = NULL;
    nad_err e;
    if (nad_dataset_load(FMNIST, NAD_SPLIT_TRAIN, &d, &e)) {
        fprintf(stderr, "bench_train: %s\n", e.msg);
        return 1;
    }
    printf("# openblas core %s\n", openblas_get_corename());
    for (int m = 0; m < n_models; m++) {
        const char *model = first_model < argc ? argv[first_model + m] : defaults[m];
        double ours = nadapt_rate(model, d, threads, batch, steps);
        double theirs = peer ? torch_rate(model, threads, batch, steps) : 0.0;
        printf("train\t%s\t%d\t%d\tnadapt\t%.1f\ttorch\t%.1f\tratio\t%.2f\n", model, threads, batch, ours, theirs,
               theirs > 0 ? ours / theirs : 0.0);
        fflush(stdout);
    }
    nad_dataset_free(d);
    return 0;
}
