/*
 * libFuzzer harness for the YAML readers: the input is written to a
 * per-process file under /tmp (the readers take paths) and loaded both as an
 * accelerator target (nad_arch_load) and as a workload (nad_workload_load),
 * freeing everything.  Any crash, leak, hang or sanitizer report is a bug;
 * error statuses are expected.
 *
 *     CC=clang cmake -S . -B build-fz -DCMAKE_BUILD_TYPE=Debug -DNAD_FUZZ=ON
 *     cmake --build build-fz --target fuzz_yaml
 *     (seed corpus: the YAML files in models/ and examples/workloads/, see setup.sh)
 *     ./build-fz/fuzz_yaml -max_total_time=60 build-fz/corpus_yaml
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "arch.h"
#include "workload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_path[64];

static void remove_file(void)
{
    if (g_path[0])
        unlink(g_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_path[0]) {
        snprintf(g_path, sizeof g_path, "/tmp/nad_fuzz_yaml.%ld.yaml", (long)getpid());
        atexit(remove_file);
    }
    FILE *f = fopen(g_path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    if (fclose(f) != 0)
        abort();

    /* NAD_FUZZ_VERBOSE=1 says what the readers made of an input. */
    int verbose = getenv("NAD_FUZZ_VERBOSE") != NULL;
    nad_err e;
    nad_arch *a = NULL;
    nad_status st = nad_arch_load(g_path, &a, &e);
    if (verbose)
        fprintf(stderr, "arch: %s\n", st == NAD_OK ? "loaded" : e.msg);
    if (st == NAD_OK)
        nad_arch_free(a);
    else if (a)
        abort(); /* *out must be NULL on failure */

    nad_workload *w = NULL;
    st = nad_workload_load(g_path, 0, &w, &e);
    if (verbose)
        fprintf(stderr, "workload: %s\n", st == NAD_OK ? "loaded" : e.msg);
    if (st == NAD_OK)
        nad_workload_free(w);
    else if (w)
        abort();
    return 0;
}
