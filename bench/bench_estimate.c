/*
 * bench_estimate: wall time of whole-network estimates on each analytic
 * target, cold (empty shape cache: one mapping search per distinct layer shape)
 * and warm (every shape cached, as when the adapter re-asks).
 *
 *     cmake --build build --target bench && ./build/bench_estimate [WORKLOAD.yaml]
 */
#include <stdio.h>
#include <time.h>

#include "nadapt/estimate.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    const char *workload = argc > 1 ? argv[1] : NAD_SOURCE_DIR "/examples/workloads/resnet50.yaml";
    const char *targets[] = {"eyeriss", "eyeriss-like-timeloop", "tpu-like-ws", "shidiannao-like-os",
                             "isaac-like-pim", "host-cpu"};
    printf("%-24s %8s %10s %10s %8s\n", "target", "layers", "cold ms", "warm ms", "shapes");
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/models/%s.yaml", NAD_SOURCE_DIR, targets[i]);
        nad_estimator *est = NULL;
        nad_estimate *r = NULL;
        nad_err e = {{0}};
        if (nad_estimator_create(path, NAD_OBJ_ENERGY, &est, &e)) {
            fprintf(stderr, "bench_estimate: %s\n", e.msg);
            return 1;
        }
        double t0 = now_s();
        if (nad_estimator_run_file(est, workload, 0, &r, &e)) {
            fprintf(stderr, "bench_estimate: %s\n", e.msg);
            nad_estimator_destroy(est);
            return 1;
        }
        double cold = now_s() - t0;
        int n = r->n_layers;
        nad_estimate_free(r);
        t0 = now_s();
        const int reps = 20;
        for (int k = 0; k < reps; k++) {
            if (nad_estimator_run_file(est, workload, 0, &r, &e)) {
                fprintf(stderr, "bench_estimate: %s\n", e.msg);
                nad_estimator_destroy(est);
                return 1;
            }
            nad_estimate_free(r);
        }
        double warm = (now_s() - t0) / reps;
        printf("%-24s %8d %10.1f %10.2f %8d\n", targets[i], n, cold * 1e3, warm * 1e3,
               nad_estimator_cache_size(est));
        nad_estimator_destroy(est);
    }
    return 0;
}
