/*
 * Inference throughput of nadapt's engine on the Fashion-MNIST fixture models
 * (not a test): images/s at batch 1 and 64, median of several timed
 * repetitions after a warm-up, plus how many GFLOP/s the conv kernels reach.
 *
 *   bench_infer [--threads N] [--reps N] [--seconds S] [--batches 1,64] [--no-conv] [--steps]
 *               [model ...]
 *
 * Models are fixture names ("cnn_bn") or paths to .onnx files; default: the
 * five op13 fixtures.  Output is tab-separated, one row per measurement,
 * meant for bench/run.sh to join with onnxruntime's numbers:
 *
 *   infer  <model> <batch> <threads> <median images/s> <min> <max> <model GFLOP/s>
 *   conv   <model> <node> <images> <GFLOP> <GFLOP/s single thread>
 *   gemm   sgemm-<n>    -           1  <GFLOP>  <GFLOP/s single thread>  (attainable peak)
 *   step   <model> <node> <kernel> <us per image>   (--steps: cost of each plan step)
 *
 * FLOPs count 2 per multiply-accumulate (MACs from nad_graph_layer_info).
 * The conv rows time nad_k_conv alone on one thread for the images each thread
 * gets at batch 64 (32 with 2 threads), i.e. the kernel each slice runs; they
 * and the sgemm row use the thread's CPU time, so they stay meaningful on a
 * shared machine.  The infer rows are wall-clock throughput.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "engine/plan.h"
#include "graph/graph.h"
#include "nadapt/engine.h"
#include "nadapt/graph.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of the calling thread: single-thread kernel rates measured with
 * it hold up when other processes share the cores (wall time would not). */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Reads the first n images of the uint8 [N,28,28] .npy fixture, normalised. */
static float *load_images(const char *path, int n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char head[10];
    float *x = NULL;
    unsigned char *pix = malloc((size_t)n * 784);
    if (!pix || fread(head, 1, 10, f) != 10 || memcmp(head, "\x93NUMPY", 6) != 0 || head[6] != 1)
        goto out;
    if (fseek(f, 10 + (long)(head[8] | head[9] << 8), SEEK_SET) || fread(pix, 1, (size_t)n * 784, f) != (size_t)n * 784)
        goto out;
    x = malloc((size_t)n * 784 * sizeof(float));
    if (x)
        for (size_t i = 0; i < (size_t)n * 784; i++)
            x[i] = ((float)pix[i] / 255.f - 0.2860f) / 0.3530f;
out:
    free(pix);
    fclose(f);
    return x;
}

/* One plan and the batch it runs at. */
typedef struct timed_run {
    nad_plan *p;
    int batch;
} timed_run;

static int run_once(timed_run *r)
{
    nad_err e;
    return nad_plan_run(r->p, r->batch, &e) != NAD_OK;
}

/* Times repeated runs: 0.2 s warm-up, then reps timed blocks of about
 * seconds/reps each; writes the per-run seconds of every block into t[]. */
static int time_plan(timed_run *r, int reps, double seconds, double *t)
{
    /* Calibrate: how many calls fill one block. */
    double t0 = now_s();
    int calls = 0;
    while (now_s() - t0 < 0.2) { /* warm-up, also sizes the block */
        if (run_once(r))
            return -1;
        calls++;
    }
    int per_block = (int)(calls / 0.2 * seconds / reps);
    if (per_block < 1)
        per_block = 1;
    for (int k = 0; k < reps; k++) {
        double s = now_s();
        for (int c = 0; c < per_block; c++)
            if (run_once(r))
                return -1;
        t[k] = (now_s() - s) / per_block;
    }
    return 0;
}

/* Single-thread GFLOP/s of nad_k_conv for every conv step of plan p at n images. */
static void bench_convs(const char *model, nad_plan *p, int n)
{
    const nad_graph *g = p->g;
    openblas_set_num_threads(1);
    for (int s = 0; s < p->n_steps; s++) {
        const nad_plan_step *st = &p->steps[s];
        if (st->kernel != NAD_K_CONV)
            continue;
        const nad_node *nd = &g->nodes[st->node];
        const nad_conv_geom *c = &st->geom.conv;
        float *ws = malloc((st->ws_floats ? st->ws_floats : 1) * sizeof(float));
        float *x = calloc((size_t)n * c->c * c->h * c->w, sizeof(float));
        float *y = malloc((size_t)n * c->m * c->p * c->q * sizeof(float));
        if (!ws || !x || !y) {
            free(ws), free(x), free(y);
            continue;
        }
        const float *w = nad_plan_data(p, nd->in[1]);
        const float *b = nd->n_in > 2 && nd->in[2] >= 0 ? nad_plan_data(p, nd->in[2]) : NULL;
        double macs = (double)n * c->m * c->p * c->q * (double)(c->c / c->group) * c->kh * c->kw;
        double t[5];
        for (int k = 0; k < 5; k++) {
            int calls = 0;
            double t0 = cpu_s();
            do {
                nad_k_conv(c, n, x, w, b, &st->act, y, ws);
                calls++;
            } while (cpu_s() - t0 < 0.03);
            t[k] = (cpu_s() - t0) / calls;
        }
        qsort(t, 5, sizeof t[0], cmp_double);
        printf("conv\t%s\t%s\t%d\t%.4f\t%.1f\n", model, nd->name, n, 2 * macs * 1e-9, 2 * macs / t[2] * 1e-9);
        free(ws), free(x), free(y);
    }
    openblas_set_num_threads(nad_engine_threads());
}

/*
 * Per-step cost at batch p->max_batch: runs growing prefixes of the step list
 * (p->n_steps temporarily lowered) and prints the difference of successive
 * prefixes' median CPU times, with the kernel and the node name.  Meaningful
 * with --threads 1 (CPU time of the calling thread).
 */
static void bench_steps(const char *model, nad_plan *p)
{
    const int all = p->n_steps;
    double prev = 0;
    for (int k = 1; k <= all; k++) {
        p->n_steps = k;
        timed_run r = {p, p->max_batch};
        double t[5];
        for (int rep = 0; rep < 5; rep++) { /* CPU time of this thread: steady under load */
            int calls = 0;
            double t0 = cpu_s();
            do {
                if (run_once(&r))
                    return;
                calls++;
            } while (cpu_s() - t0 < 0.05);
            t[rep] = (cpu_s() - t0) / calls;
        }
        qsort(t, 5, sizeof t[0], cmp_double);
        const nad_plan_step *st = &p->steps[k - 1];
        printf("step\t%s\t%s\tkernel %d act %d\t%.1f us/image\n", model, p->g->nodes[st->node].name, st->kernel,
               st->act.kind, (t[2] - prev) / p->max_batch * 1e6);
        prev = t[2];
    }
    p->n_steps = all;
}

/* Single-thread sgemm GFLOP/s on a large square product: the attainable peak. */
static void bench_sgemm(int n)
{
    float *a = calloc((size_t)n * n, sizeof(float)), *b = calloc((size_t)n * n, sizeof(float)),
          *c = calloc((size_t)n * n, sizeof(float));
    if (a && b && c) {
        openblas_set_num_threads(1);
        double best = 1e30;
        for (int k = 0; k < 5; k++) {
            double t0 = cpu_s();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a, n, b, n, 0.f, c, n);
            double dt = cpu_s() - t0;
            best = dt < best ? dt : best;
        }
        double flop = 2.0 * n * n * (double)n;
        printf("gemm\tsgemm-%d(openblas:%s)\t-\t1\t%.3f\t%.1f\n", n, openblas_get_corename(), flop * 1e-9, flop / best * 1e-9);
        openblas_set_num_threads(nad_engine_threads());
    }
    free(a), free(b), free(c);
}

int main(int argc, char **argv)
{
    int threads = 2, reps = 7, batches[8] = {1, 64}, n_batches = 2, n_models = 0, convs = 1, steps = 0;
    double seconds = 1.5;
    const char *models[32];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (strcmp(argv[i], "--no-conv") == 0) {
            convs = 0;
        } else if (strcmp(argv[i], "--steps") == 0) {
            steps = 1;
        } else if (strcmp(argv[i], "--batches") == 0 && i + 1 < argc) {
            n_batches = 0;
            for (char *s = strtok(argv[++i], ","); s && n_batches < 8; s = strtok(NULL, ","))
                batches[n_batches++] = atoi(s);
        } else if (strcmp(argv[i], "--help") == 0 || argv[i][0] == '-') {
            fprintf(stderr, "usage: bench_infer [--threads N] [--reps N] [--seconds S] [--batches 1,64] [--no-conv] "
                            "[--steps] [model ...]\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 1;
        } else if (n_models < 32) {
            models[n_models++] = argv[i];
        }
    }
    if (threads < 1 || reps < 1 || reps > 64 || seconds <= 0 || n_batches < 1) {
        fprintf(stderr, "bench_infer: bad option value\n");
        return 1;
    }
    if (n_models == 0) {
        static const char *const defaults[] = {"cnn_bn", "resnet", "mobilenetv2", "concat", "mlp_pool"};
        for (int i = 0; i < 5; i++)
            models[n_models++] = defaults[i];
    }
    int max_batch = 1;
    for (int i = 0; i < n_batches; i++)
        max_batch = batches[i] > max_batch ? batches[i] : max_batch;
    float *images = load_images(NAD_SOURCE_DIR "/examples/fixtures/fmnist_test256_images.npy", 256);
    if (!images) {
        fprintf(stderr, "bench_infer: cannot read the fixture images\n");
        return 1;
    }
    nad_set_threads(threads);
    printf("# threads %d, reps %d, %.1f s per measurement; FLOP = 2 x MAC\n", threads, reps, seconds);
    bench_sgemm(1024);
    int rc = 0;
    for (int m = 0; m < n_models; m++) {
        char path[1024];
        const char *name = models[m];
        if (strstr(name, ".onnx"))
            snprintf(path, sizeof path, "%s", name);
        else
            snprintf(path, sizeof path, "%s/examples/fixtures/%s.op13.onnx", NAD_SOURCE_DIR, name);
        nad_graph *g = NULL;
        nad_err e;
        if (nad_graph_load_onnx(path, 1, &g, &e) != NAD_OK) {
            fprintf(stderr, "bench_infer: %s\n", e.msg);
            rc = 1;
            continue;
        }
        for (int bi = 0; bi < n_batches; bi++) {
            int batch = batches[bi];
            nad_plan *p = NULL;
            if (nad_plan_create(g, batch, &p, &e) != NAD_OK) {
                fprintf(stderr, "bench_infer: %s: %s\n", name, e.msg);
                rc = 1;
                break;
            }
            /* MACs per image at this batch, from the graph's layer table. */
            double macs = 0;
            for (int l = 0; l < nad_graph_layer_count(g); l++) {
                nad_layer_info li;
                if (nad_graph_layer_info(g, l, &li, &e) == NAD_OK)
                    macs += (double)li.macs;
            }
            macs /= batch;
            for (int i = 0; i < batch; i++)
                memcpy(nad_plan_input(p) + (size_t)i * 784, images + (size_t)(i % 256) * 784, 784 * sizeof(float));
            timed_run r = {p, batch};
            double t[64];
            if (time_plan(&r, reps, seconds, t)) {
                fprintf(stderr, "bench_infer: %s: run failed\n", name);
                rc = 1;
            } else {
                qsort(t, (size_t)reps, sizeof t[0], cmp_double);
                double med = batch / t[reps / 2];
                printf("infer\t%s\t%d\t%d\t%.0f\t%.0f\t%.0f\t%.2f\n", name, batch, threads, med, batch / t[reps - 1],
                       batch / t[0], 2 * macs * med * 1e-9);
                fflush(stdout);
            }
            if (convs && bi == n_batches - 1)
                bench_convs(name, p, (batch + threads - 1) / threads);
            if (steps && bi == n_batches - 1)
                bench_steps(name, p);
            nad_plan_destroy(p);
        }
        nad_graph_free(g);
    }
    free(images);
    return rc;
}
