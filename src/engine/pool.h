/*
 * A tiny persistent thread pool for the engine (internal): n workers that run
 * one function per round on their own argument, woken by a condition
 * variable.  Creating threads on every nad_plan_run cost ~60 us per run here
 * (a 2-image batch took 88 us on 2 threads against 60 us on one), which a
 * pool reduces to one wake-up.  Workers sleep (no spinning) between rounds, so
 * an idle pool costs no CPU.
 */
#ifndef NAD_ENGINE_POOL_H
#define NAD_ENGINE_POOL_H

typedef struct nad_pool nad_pool;

/* Starts n >= 1 workers; NULL when threads or memory are not available. */
nad_pool *nad_pool_create(int n);

/* Number of workers of p. */
int nad_pool_size(const nad_pool *p);

/*
 * Runs fn(args[0]) on the calling thread and fn(args[i]) on worker i-1 for
 * 1 <= i < count (count <= nad_pool_size + 1), and returns when all have
 * returned.  Not reentrant: one round at a time per pool.
 */
void nad_pool_run(nad_pool *p, void *(*fn)(void *), void **args, int count);

/* Stops and joins the workers and frees p; NULL is allowed. */
void nad_pool_destroy(nad_pool *p);

#endif /* NAD_ENGINE_POOL_H */
