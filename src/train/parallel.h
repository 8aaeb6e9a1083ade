/*
 * A minimal deterministic parallel-for for the training kernels: [0, n) is cut
 * into one contiguous range per thread, each index is processed by exactly
 * one thread, and no thread reduces into another's data, so results do not
 * depend on scheduling (only ranges of independent work are split; every
 * reduction stays inside one index).
 */
#ifndef NAD_TRAIN_PARALLEL_H
#define NAD_TRAIN_PARALLEL_H

#include <stdint.h>

typedef void (*nad_par_fn)(void *ctx, int64_t lo, int64_t hi);

/*
 * Runs fn(ctx, lo, hi) over [0, n) split across up to `threads` threads (the
 * caller runs the first range).  Uses fewer threads when n / threads <
 * min_per_thread; if a thread cannot be started its range runs in the caller,
 * so the call always completes.
 */
void nad_par_for(int threads, int64_t n, int64_t min_per_thread, nad_par_fn fn, void *ctx);

#endif
