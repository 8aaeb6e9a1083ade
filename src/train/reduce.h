/*
 * Deterministic, vectorisable reductions for the training kernels.  Sixteen
 * independent partial sums (fixed lanes, combined in a fixed order) let the
 * compiler use SIMD without -ffast-math while the result stays a pure
 * function of the input: the same bits on every run and thread count.
 */
#ifndef NAD_TRAIN_REDUCE_H
#define NAD_TRAIN_REDUCE_H

#include <stdint.h>

#define NAD_RED_LANES 16

/* Combines the lanes pairwise (a fixed tree). */
static inline double nad_red_finish(const float *acc)
{
    double s = 0.0;
    for (int l = 0; l < NAD_RED_LANES; l += 2)
        s += (double)acc[l] + (double)acc[l + 1];
    return s;
}

/* sum of p[0..n) */
static inline double nad_sum(const float *p, int64_t n)
{
    float acc[NAD_RED_LANES] = {0};
    int64_t i = 0;
    for (; i + NAD_RED_LANES <= n; i += NAD_RED_LANES)
        for (int l = 0; l < NAD_RED_LANES; l++)
            acc[l] += p[i + l];
    for (; i < n; i++)
        acc[i % NAD_RED_LANES] += p[i];
    return nad_red_finish(acc);
}

/* sum of (p[i] - c)^2 */
static inline double nad_sum_sq_dev(const float *p, int64_t n, float c)
{
    float acc[NAD_RED_LANES] = {0};
    int64_t i = 0;
    for (; i + NAD_RED_LANES <= n; i += NAD_RED_LANES)
        for (int l = 0; l < NAD_RED_LANES; l++) {
            float d = p[i + l] - c;
            acc[l] += d * d;
        }
    for (; i < n; i++) {
        float d = p[i] - c;
        acc[i % NAD_RED_LANES] += d * d;
    }
    return nad_red_finish(acc);
}

/* sum of g[i] * (p[i] - c) */
static inline double nad_dot_dev(const float *g, const float *p, int64_t n, float c)
{
    float acc[NAD_RED_LANES] = {0};
    int64_t i = 0;
    for (; i + NAD_RED_LANES <= n; i += NAD_RED_LANES)
        for (int l = 0; l < NAD_RED_LANES; l++)
            acc[l] += g[i + l] * (p[i + l] - c);
    for (; i < n; i++)
        acc[i % NAD_RED_LANES] += g[i] * (p[i] - c);
    return nad_red_finish(acc);
}

#endif
