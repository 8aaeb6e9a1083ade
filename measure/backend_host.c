/*
 * nadapt — the host back-end (host[:threads=N,batch=B,...]): latency of a
 * whole network on this CPU through nadapt's own engine, as one
 * nad_backend_ops table (backend_plugin.h).
 *
 * A measurement plans the network once (outside the timed region), fills the
 * input with fixed pseudo-random data, runs untimed warm-up passes, then
 * times samples with CLOCK_MONOTONIC (one run each, or as many back-to-back
 * runs as make a sample last 20 us when one run is shorter, so that reading
 * the clock costs under 0.2% of a sample) until the median is known to about
 * 1% (its standard error, 0.93 x IQR / sqrt(n) for a normal-shaped sample,
 * below 1% of it) with a spread under max_iqr, or until max_runs samples or
 * max_seconds (samples still too spread after max_runs, while time remains
 * and a sample is under 1 ms, are taken again 8x longer: a tiny network's
 * samples are jittered by the clock interrupt).  It reports the median per
 * image and the interquartile range
 * as the spread; a spread still above max_iqr x median at the cap is an error
 * ("too noisy to trust"), never a number.  measure/README.md tells a user
 * what to do about frequency scaling and noisy neighbours.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "backend_internal.h"
#include "nadapt/engine.h"

#define HOST_REL_SE 0.01       /* stop once the median's standard error is below 1% of it */
#define HOST_WARM_MIN_S 0.02   /* warm-up lasts at least this long: the governor ramps up */
#define HOST_SAMPLE_MIN_S 2e-5 /* a sample spans at least this (a clock read costs ~25 ns) */
#define HOST_LONG_SAMPLE_S 1e-3 /* samples are never lengthened past this to calm them     */

/* The options of a host spec, in the order of host_opts[]. */
enum {
    OPT_THREADS, OPT_BATCH, OPT_WARMUP, OPT_MIN_RUNS, OPT_MAX_RUNS, OPT_MAX_SECONDS, OPT_MAX_IQR, OPT_TRIES, OPT_COUNT
};

typedef struct host_opt {
    const char *key;
    int integer;   /* 1: the value must be a whole number */
    double lo, hi; /* accepted range, inclusive           */
    double def;
} host_opt;

static const host_opt host_opts[OPT_COUNT] = {
    {"threads", 1, 1, 256, 1},
    {"batch", 1, 1, 4096, 1},
    {"warmup", 1, 1, 1e6, 10},         /* untimed runs (and at least HOST_WARM_MIN_S) */
    {"min_runs", 1, 5, 1e6, 10},       /* timed samples, whatever the time cap        */
    {"max_runs", 1, 5, 1e6, 1000},     /* timed samples at most                       */
    {"max_seconds", 0, 1e-3, 3600, 1}, /* time cap on the warm-up and the samples     */
    /* 0.2: the median of a two-mode sample (a neighbour taking the core part
     * of the time) can slide by about half the IQR, so 0.2 keeps it within
     * about +-10%, the accuracy asked of a lookup table (issue #10). */
    {"max_iqr", 0, 0, 10, 0.2},
    /* A too-noisy measurement is taken again from its warm-up this many times
     * in all before it is an error: a neighbour's burst passes, and one noisy
     * candidate should not end an adaptation run of hours. */
    {"tries", 1, 1, 100, 3},
};

typedef struct host_state {
    double opt[OPT_COUNT];
} host_state;

/* The statistics of one measurement (seconds per batch). */
typedef struct host_stats {
    double q1, median, q3;
    int runs;       /* timed samples                */
    double seconds; /* wall time of the samples     */
} host_stats;

/* Seconds on the monotonic clock (never steps with the wall clock). */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Parses one "key=value" of a host spec into h; 0 on success. */
static int parse_kv(host_state *h, const char *kv, char *err, size_t err_len)
{
    const char *eq = strchr(kv, '=');
    size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
    for (int i = 0; i < OPT_COUNT; i++) {
        const host_opt *o = &host_opts[i];
        if (strlen(o->key) != klen || strncmp(kv, o->key, klen))
            continue;
        char *stop = NULL;
        double v = eq && eq[1] ? strtod(eq + 1, &stop) : NAN;
        if (!stop || *stop || !isfinite(v) || v < o->lo || v > o->hi || (o->integer && v != floor(v))) {
            snprintf(err, err_len, "host: %s needs %s in %g..%g", kv, o->integer ? "a whole number" : "a number",
                     o->lo, o->hi);
            return 1;
        }
        h->opt[i] = v;
        return 0;
    }
    snprintf(err, err_len, "host: unknown option '%.*s' (threads, batch, warmup, min_runs, max_runs, max_seconds, "
             "max_iqr)", (int)(klen < 64 ? klen : 64), kv);
    return 1;
}

/* Checks the options against each other; 0 when they fit. */
static int check_opts(const host_state *h, char *err, size_t err_len)
{
    if (h->opt[OPT_MIN_RUNS] > h->opt[OPT_MAX_RUNS]) {
        snprintf(err, err_len, "host: min_runs=%.0f exceeds max_runs=%.0f", h->opt[OPT_MIN_RUNS],
                 h->opt[OPT_MAX_RUNS]);
        return 1;
    }
    /* The engine splits a batch over its threads image by image (plan_run.c),
     * so more threads than images would silently time one thread. */
    if (h->opt[OPT_THREADS] > h->opt[OPT_BATCH]) {
        snprintf(err, err_len, "host: threads=%.0f needs batch >= %.0f (the engine gives each thread whole images)",
                 h->opt[OPT_THREADS], h->opt[OPT_THREADS]);
        return 1;
    }
    return 0;
}

/* Opens the back-end: the defaults of host_opts[] overridden by
 * "key=value,key=value" from config ("" keeps every default). */
static int host_open(const char *config, void **state, char *err, size_t err_len)
{
    *state = NULL;
    host_state *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, err_len, "host: out of memory");
        return 1;
    }
    for (int i = 0; i < OPT_COUNT; i++)
        h->opt[i] = host_opts[i].def;
    for (const char *s = config; s && *s;) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        char kv[96];
        snprintf(kv, sizeof kv, "%.*s", (int)(len < sizeof kv - 1 ? len : sizeof kv - 1), s);
        if (parse_kv(h, kv, err, err_len)) {
            free(h);
            return 1;
        }
        s = end ? end + 1 : NULL;
    }
    if (check_opts(h, err, err_len)) {
        free(h);
        return 1;
    }
    *state = h;
    return 0;
}

/* latency, in seconds per image. */
static int host_resources(void *state, nad_backend_resource_desc *out, int max, char *err, size_t err_len)
{
    if (max < 1)
        return 0;
    out[0] = (nad_backend_resource_desc){"latency", "s"};
    return 1;
}

/* Fills the plan's input with fixed pseudo-random values in [-1, 1) (an LCG,
 * so every measurement of a network sees the same data). */
static void fill_input(nad_plan *p, int batch)
{
    float *x = nad_plan_input(p);
    size_t n = (size_t)batch * (size_t)nad_plan_input_size(p);
    uint32_t s = 20240601u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
}

/* Inserts x into the ascending sorted[0..n) (room for n + 1). */
static void insert_sorted(double *sorted, int n, double x)
{
    int i = n;
    while (i > 0 && sorted[i - 1] > x) {
        sorted[i] = sorted[i - 1];
        i--;
    }
    sorted[i] = x;
}

/* The q-quantile of sorted[0..n), linearly interpolated between order
 * statistics (numpy's default, R's type 7). */
static double quantile(const double *sorted, int n, double q)
{
    double pos = q * (n - 1);
    int lo = (int)floor(pos);
    int hi = lo + 1 < n ? lo + 1 : lo;
    return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

/* Untimed runs: at least `warmup` and HOST_WARM_MIN_S, at most max_seconds
 * (caches, page faults, the thread pool's start, the clock's ramp-up).
 * *reps gets the runs per timed sample that make it last HOST_SAMPLE_MIN_S. */
static nad_status warm_up(const host_state *h, nad_plan *p, int *reps, nad_err *e)
{
    int batch = (int)h->opt[OPT_BATCH], i = 0;
    double t0 = now_s(), t = t0;
    while (i < (int)h->opt[OPT_WARMUP] || t - t0 < HOST_WARM_MIN_S) {
        nad_status rc = nad_plan_run(p, batch, e);
        if (rc)
            return rc;
        t = now_s();
        i++;
        if (t - t0 >= h->opt[OPT_MAX_SECONDS])
            break;
    }
    double per_run = (t - t0) / i;
    *reps = per_run >= HOST_SAMPLE_MIN_S ? 1 : (int)ceil(HOST_SAMPLE_MIN_S / (per_run > 1e-9 ? per_run : 1e-9));
    return NAD_OK;
}

/* Timed samples of `reps` runs each into sorted[] (room for max_runs, seconds
 * per run) until the median is stable with a spread under max_iqr, or
 * max_runs samples / max_seconds is reached (never fewer than min_runs).
 * Only nad_plan_run is inside the timed region. */
static nad_status timed_runs(const host_state *h, nad_plan *p, int reps, double *sorted, host_stats *st,
                             nad_err *e)
{
    int batch = (int)h->opt[OPT_BATCH], n = 0;
    double start = now_s();
    for (;;) {
        nad_status rc = NAD_OK;
        double a = now_s();
        for (int k = 0; k < reps && !rc; k++)
            rc = nad_plan_run(p, batch, e);
        double b = now_s();
        if (rc)
            return rc;
        insert_sorted(sorted, n++, (b - a) / reps);
        if (n < (int)h->opt[OPT_MIN_RUNS])
            continue;
        st->q1 = quantile(sorted, n, 0.25);
        st->median = quantile(sorted, n, 0.5);
        st->q3 = quantile(sorted, n, 0.75);
        double iqr = st->q3 - st->q1;
        int stable = 0.93 * iqr / sqrt((double)n) <= HOST_REL_SE * st->median;
        int calm = iqr < h->opt[OPT_MAX_IQR] * st->median; /* strict: max_iqr=0 accepts nothing */
        st->runs = n;
        st->seconds = b - start;
        if ((stable && calm) || n >= (int)h->opt[OPT_MAX_RUNS] || st->seconds >= h->opt[OPT_MAX_SECONDS])
            return NAD_OK;
    }
}

/* Warm-up and timed runs at the configured thread count; the engine's and
 * OpenBLAS's thread counts are restored afterwards, whatever happens. */
static nad_status measure_plan(const host_state *h, nad_plan *p, host_stats *st, nad_err *e)
{
    double *sorted = malloc((size_t)h->opt[OPT_MAX_RUNS] * sizeof *sorted);
    if (!sorted)
        return nad_errf(e, NAD_ENOMEM, "host: out of memory for %.0f timings", h->opt[OPT_MAX_RUNS]);
    int prev = nad_get_threads(), prev_blas = openblas_get_num_threads();
    nad_set_threads((int)h->opt[OPT_THREADS]);
    int reps = 1;
    double t0 = now_s();
    nad_status rc = warm_up(h, p, &reps, e);
    /* A very short network is timed in samples of many back-to-back runs; when
     * max_runs such samples are still too spread while time remains, a clock
     * interrupt is weighing on each sample: make the samples 8x longer (their
     * jitter averages out) and time again, within max_seconds in all. */
    for (int round = 0; !rc && round < 4; round++, reps *= 8) {
        rc = timed_runs(h, p, reps, sorted, st, e);
        int calm = st->q3 - st->q1 < h->opt[OPT_MAX_IQR] * st->median;
        if (rc || calm || st->runs < (int)h->opt[OPT_MAX_RUNS] || now_s() - t0 > h->opt[OPT_MAX_SECONDS] / 2 ||
            st->median * reps >= HOST_LONG_SAMPLE_S)
            break;
    }
    nad_set_threads(prev);
    openblas_set_num_threads(prev_blas);
    free(sorted);
    return rc;
}

/* Median latency per image of the network, its IQR as the spread; fails
 * when the IQR stayed at or above max_iqr x median up to the cap. */
static int host_network(void *state, const nad_backend_net *net, double *values, double *spread, char *err,
                        size_t err_len)
{
    const host_state *h = state;
    int batch = (int)h->opt[OPT_BATCH];
    nad_err e = {{0}};
    nad_plan *p = NULL;
    host_stats st = {0};
    nad_graph *g = nad_graph_copy(net->graph);
    nad_status rc = g ? nad_plan_create(g, batch, &p, &e) : nad_errf(&e, NAD_ENOMEM, "host: out of memory");
    double iqr = 0;
    if (!rc)
        fill_input(p, batch);
    for (int t = 0; !rc && t < (int)h->opt[OPT_TRIES]; t++) {
        rc = measure_plan(h, p, &st, &e);
        iqr = st.q3 - st.q1;
        if (iqr < h->opt[OPT_MAX_IQR] * st.median)
            break;
    }
    nad_plan_destroy(p);
    nad_graph_free(g);
    if (rc) {
        snprintf(err, err_len, "%s", e.msg);
        return 1;
    }
    if (!(iqr < h->opt[OPT_MAX_IQR] * st.median)) {
        snprintf(err, err_len, "measurement too noisy to trust: interquartile range %.1f%% of the median "
                 "(%.4g us per batch of %d) after %d samples in %.2f s (try %d of %d), max_iqr=%g (see "
                 "measure/README.md: performance governor, taskset, an idle machine)", 100 * iqr / st.median,
                 1e6 * st.median, batch, st.runs, st.seconds, (int)h->opt[OPT_TRIES], (int)h->opt[OPT_TRIES],
                 h->opt[OPT_MAX_IQR]);
        return 1;
    }
    values[0] = st.median / batch;
    spread[0] = iqr / batch;
    return 0;
}

/* Frees the state. */
static void host_close(void *state)
{
    free(state);
}

const nad_backend_ops nad_backend_host_ops = {
    .abi_version = NAD_BACKEND_ABI_VERSION,
    .struct_size = sizeof(nad_backend_ops),
    .name = "host",
    .flags = NAD_BACKEND_TIMED,
    .open = host_open,
    .resources = host_resources,
    .layer = NULL, /* nadapt costs a one-layer network with host_network */
    .network = host_network,
    .close = host_close,
};
