/*
 * The trainer's random numbers: splitmix64 over a caller-owned state (no
 * hidden global state), so a seed fixes every shuffle, crop, flip, dropout
 * mask and initial weight.
 */
#ifndef NAD_TRAIN_RNG_H
#define NAD_TRAIN_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct nad_rng {
    uint64_t s;
} nad_rng;

/* Seeds r; different seeds give unrelated streams (splitmix64 mixes them). */
static inline void nad_rng_seed(nad_rng *r, uint64_t seed)
{
    r->s = seed ^ 0x5DEECE66DA3B9F11ull;
}

/* Next 64 random bits (Steele, Lea, Flood 2014, "SplitMix"). */
static inline uint64_t nad_rng_u64(nad_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform integer in [0, n) (n >= 1); the multiply-shift bias is < n / 2^64. */
static inline uint64_t nad_rng_below(nad_rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)nad_rng_u64(r) * n) >> 64);
}

/* Uniform double in [0, 1) with 53 random bits. */
static inline double nad_rng_unit(nad_rng *r)
{
    return (double)(nad_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Standard normal by Box-Muller (one of the pair; simplicity over speed). */
static inline double nad_rng_normal(nad_rng *r)
{
    double u1 = 1.0 - nad_rng_unit(r), u2 = nad_rng_unit(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#endif
