/*
 * The engine's persistent worker threads (see pool.h).
 *
 * A round is published by bumping `round` under the mutex; workers and the
 * caller first spin briefly on the atomics (about 0.1 ms) and only then sleep
 * on a condition variable.  Waking a sleeping thread through the futex cost
 * 30-60 us per round in this VM, more than a small batch's work, while back to
 * back runs (a benchmark, an evaluation loop) find the worker still spinning.
 * The spin is bounded, so an idle pool does not burn a core the way OpenBLAS's
 * workers did (see plan_run.c).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "engine/pool.h"

/* Spin iterations before sleeping (each a load plus a pause instruction). */
#define POOL_SPIN 4096

typedef struct worker {
    nad_pool *pool;
    int index;
    pthread_t tid;
} worker;

struct nad_pool {
    pthread_mutex_t mu;
    pthread_cond_t work;  /* a new round or quit                 */
    pthread_cond_t done;  /* pending reached zero                */
    atomic_long round;    /* incremented once per nad_pool_run   */
    atomic_int pending;   /* workers of this round still running */
    atomic_int quit;
    int count;            /* workers taking part in this round   */
    void *(*fn)(void *);
    void **args;
    int n, started;
    worker *workers;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#endif
}

/* Worker loop: wait for a round it takes part in, run, report, repeat. */
static void *worker_main(void *arg)
{
    worker *w = arg;
    nad_pool *p = w->pool;
    long seen = 0;
    for (;;) {
        for (int s = 0; s < POOL_SPIN && atomic_load(&p->round) == seen && !atomic_load(&p->quit); s++)
            cpu_relax();
        pthread_mutex_lock(&p->mu);
        while (!atomic_load(&p->quit) && atomic_load(&p->round) == seen)
            pthread_cond_wait(&p->work, &p->mu);
        if (atomic_load(&p->quit)) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        seen = atomic_load(&p->round);
        const int take_part = w->index < p->count;
        void *(*fn)(void *) = p->fn;
        void *a = take_part ? p->args[w->index] : NULL;
        pthread_mutex_unlock(&p->mu);
        if (!take_part)
            continue;
        fn(a);
        if (atomic_fetch_sub(&p->pending, 1) == 1) {
            pthread_mutex_lock(&p->mu); /* under the lock: the caller cannot miss it */
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

/* See pool.h. */
nad_pool *nad_pool_create(int n)
{
    if (n < 1)
        return NULL;
    nad_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->workers = calloc((size_t)n, sizeof *p->workers);
    if (!p->workers) {
        free(p);
        return NULL;
    }
    p->n = n;
    atomic_init(&p->round, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->quit, 0);
    if (pthread_mutex_init(&p->mu, NULL)) {
        free(p->workers);
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->work, NULL)) {
        pthread_mutex_destroy(&p->mu);
        free(p->workers);
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->done, NULL)) {
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
        free(p->workers);
        free(p);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        p->workers[i].pool = p;
        p->workers[i].index = i;
        if (pthread_create(&p->workers[i].tid, NULL, worker_main, &p->workers[i]) != 0) {
            nad_pool_destroy(p); /* joins the ones started */
            return NULL;
        }
        p->started = i + 1;
    }
    return p;
}

/* See pool.h. */
int nad_pool_size(const nad_pool *p)
{
    return p ? p->n : 0;
}

/* See pool.h. */
void nad_pool_run(nad_pool *p, void *(*fn)(void *), void **args, int count)
{
    if (count > p->n + 1)
        count = p->n + 1;
    if (count <= 0)
        return;
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->args = args + 1;
    p->count = count - 1;
    atomic_store(&p->pending, count - 1);
    atomic_fetch_add(&p->round, 1);
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    fn(args[0]);
    for (int s = 0; s < POOL_SPIN && atomic_load(&p->pending) > 0; s++)
        cpu_relax();
    if (atomic_load(&p->pending) > 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->pending) > 0)
            pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

/* See pool.h. */
void nad_pool_destroy(nad_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++)
        pthread_join(p->workers[i].tid, NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
}
