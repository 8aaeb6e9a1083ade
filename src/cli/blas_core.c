/*
 * Picks OpenBLAS's kernels for CPUs its build does not recognise.
 *
 * Debian 12's OpenBLAS 0.3.21 chooses its kernels once, when the library is
 * loaded, from the CPU id or from OPENBLAS_CORETYPE.  On newer CPUs it does not
 * know (e.g. recent Xeons with AVX-512) it falls back to its SSE3 "Prescott"
 * kernels, which run GEMMs 4-5x slower than the CPU can.  The choice cannot be
 * changed after loading, so the CLI — never the library — sets the variable
 * and re-executes itself once.  A user who sets OPENBLAS_CORETYPE keeps it.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <cblas.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

void cli_pick_blas_core(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE"))
        return; /* the user's choice, or our own re-exec */
    const char *core = openblas_get_corename();
    if (!core || strcasecmp(core, "Prescott") != 0)
        return; /* OpenBLAS recognised the CPU */
    __builtin_cpu_init();
    const char *want = NULL;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = "Haswell";
    if (!want)
        return;
    if (setenv("OPENBLAS_CORETYPE", want, 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    /* execv failed (no /proc): carry on with the fallback kernels. */
}
