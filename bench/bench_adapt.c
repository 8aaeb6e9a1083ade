/*
 * What one NetAdapt iteration costs (not a test): runs the adapter with its
 * default settings for a few iterations on each fixture and prints, per
 * iteration, the wall time and where it went — the reduction search
 * (estimating candidate networks on the target model), restoration
 * (Gram matrices + least squares), short fine-tuning and held-out
 * evaluation (the last three summed over the proposals, which run --jobs at
 * a time, so they add up to more than the wall time) — then the medians.
 *
 *   bench_adapt [--iters N] [--jobs J] [--target YAML] [model ...]
 *
 * Run it through the CLI's environment: OPENBLAS_CORETYPE=SkylakeX (or
 * Haswell) when Debian's OpenBLAS does not recognise the CPU (see README).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nadapt/adapt.h"

#define FMNIST "/usr/share/datasets/fashion-mnist"
#define MAXIT 64

typedef struct rec {
    double wall[MAXIT], search[MAXIT], restore[MAXIT], finetune[MAXIT], eval[MAXIT];
    int n;
} rec;

/* Records each iteration's split. */
static void on_progress(const nad_adapt_progress *p, void *user)
{
    rec *r = user;
    if (strcmp(p->phase, "iteration") || r->n >= MAXIT)
        return;
    r->wall[r->n] = p->iter_seconds;
    r->search[r->n] = p->t_search;
    r->restore[r->n] = p->t_restore;
    r->finetune[r->n] = p->t_finetune;
    r->eval[r->n] = p->t_eval;
    printf("  iter %2d  wall %6.2f s  search %5.2f  restore %5.2f  finetune %6.2f  eval %5.2f  (%s %d->%d)\n",
           p->iteration, p->iter_seconds, p->t_search, p->t_restore, p->t_finetune, p->t_eval, p->group,
           p->channels_before, p->channels_after);
    fflush(stdout);
    r->n++;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n ? (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2])) : 0;
}

int main(int argc, char **argv)
{
    int iters = 3, jobs = 2;
    const char *target = NAD_SOURCE_DIR "/models/eyeriss.yaml";
    int first = 1;
    for (; first < argc && strncmp(argv[first], "--", 2) == 0; first += 2) {
        if (first + 1 >= argc)
            return fprintf(stderr, "bench_adapt: %s needs a value\n", argv[first]), 2;
        if (!strcmp(argv[first], "--iters"))
            iters = atoi(argv[first + 1]);
        else if (!strcmp(argv[first], "--jobs"))
            jobs = atoi(argv[first + 1]);
        else if (!strcmp(argv[first], "--target"))
            target = argv[first + 1];
        else
            return fprintf(stderr, "bench_adapt: unknown option %s\n", argv[first]), 2;
    }
    const char *defaults[] = {"cnn_bn", "resnet", "mobilenetv2"};
    int n_models = argc > first ? argc - first : 3;
    for (int m = 0; m < n_models; m++) {
        const char *name = argc > first ? argv[first + m] : defaults[m];
        nad_adapt_config c;
        nad_adapt_config_defaults(&c);
        snprintf(c.model, sizeof c.model, NAD_SOURCE_DIR "/examples/fixtures/%s.op13.onnx", name);
        snprintf(c.target, sizeof c.target, "%s", target);
        snprintf(c.data, sizeof c.data, FMNIST);
        snprintf(c.out, sizeof c.out, "/tmp/bench_adapt.%s.%ld", name, (long)getpid());
        c.max_iters = iters;
        c.long_steps = 0;
        c.jobs = jobs;
        nad_err e;
        if (nad_adapt_budget_parse("energy=0.3", &c.budgets[c.n_budgets++], &e))
            return fprintf(stderr, "bench_adapt: %s\n", e.msg), 1;
        rec r = {.n = 0};
        nad_adapt_hooks h = {on_progress, &r};
        nad_adapt_summary s;
        printf("adapt %s: %d iterations, jobs %d, default settings (run in %s)\n", name, iters, jobs, c.out);
        if (nad_adapt_run(&c, &h, &s, &e))
            return fprintf(stderr, "bench_adapt: %s\n", e.msg), 1;
        printf("median %s: wall %.2f s  search %.2f  restore %.2f  finetune %.2f  eval %.2f\n", name,
               median(r.wall, r.n), median(r.search, r.n), median(r.restore, r.n), median(r.finetune, r.n),
               median(r.eval, r.n));
    }
    return 0;
}
