/* nad_par_for (see parallel.h): one short-lived pthread per extra range. */
#include "train/parallel.h"

#include <pthread.h>

#define PAR_MAX_THREADS 64

typedef struct par_job {
    nad_par_fn fn;
    void *ctx;
    int64_t lo, hi;
} par_job;

static void *par_run(void *arg)
{
    par_job *j = arg;
    j->fn(j->ctx, j->lo, j->hi);
    return NULL;
}

void nad_par_for(int threads, int64_t n, int64_t min_per_thread, nad_par_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (min_per_thread < 1)
        min_per_thread = 1;
    int64_t t = threads < 1 ? 1 : threads > PAR_MAX_THREADS ? PAR_MAX_THREADS : threads;
    if (t > n / min_per_thread)
        t = n / min_per_thread;
    if (t <= 1) {
        fn(ctx, 0, n);
        return;
    }
    par_job jobs[PAR_MAX_THREADS];
    pthread_t tid[PAR_MAX_THREADS];
    int started[PAR_MAX_THREADS] = {0};
    for (int64_t k = 0; k < t; k++) {
        jobs[k] = (par_job){fn, ctx, n * k / t, n * (k + 1) / t};
        if (k > 0)
            started[k] = pthread_create(&tid[k], NULL, par_run, &jobs[k]) == 0;
    }
    fn(ctx, jobs[0].lo, jobs[0].hi);
    for (int64_t k = 1; k < t; k++) {
        if (started[k])
            pthread_join(tid[k], NULL);
        else
            fn(ctx, jobs[k].lo, jobs[k].hi); /* could not start: run it here */
    }
}
