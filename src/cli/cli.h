/*
 * Shared pieces of the nadapt command-line tool.  Each command lives in its
 * own cmd_<name>.c as `int cmd_<name>(int argc, char **argv)` returning the
 * process exit status, and is listed once in the table in main.c.
 */
#ifndef NAD_CLI_H
#define NAD_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "nadapt/status.h"

/* Prints "nadapt: <message>" on one line to stderr and returns exit status 1. */
int cli_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Prints "nadapt <cmd>: <e->msg>" for a failed library call; returns 1. */
int cli_fail_err(const char *cmd, const nad_err *e);

/* Strict number parsing: the whole string must be a number in [lo, hi].
 * Returns 0 on success. */
int cli_parse_int(const char *s, long lo, long hi, long *out);
int cli_parse_double(const char *s, double *out);

/* Parses "a,b,c" into up to max doubles; returns the count, or -1 if malformed. */
int cli_parse_doubles(const char *s, double *out, int max);

/* True when arg is "-h" or "--help". */
int cli_is_help(const char *arg);

/*
 * Parses the --mean and --std comma lists (up to max numbers each, at most
 * CLI_NORM_MAX) into mean[] and stdv[], repeating a single value over the
 * other list's count; *n_ch becomes the channel count.  Prints one
 * "nadapt <cmd>: ..." line and returns 1 when a list is malformed or the
 * counts differ with neither being 1; returns 0 otherwise.
 */
#define CLI_NORM_MAX 16

/* The one default normalisation of every command that reads images (eval,
 * estimate --data, train, adapt): Fashion-MNIST's, the shipped fixtures'
 * data.  Other data needs --mean/--std, as torchvision's transforms would. */
#define CLI_NORM_MEAN "0.2860"
#define CLI_NORM_STD "0.3530"
int cli_parse_norm(const char *cmd, const char *mean_s, const char *std_s, int max, float *mean, float *stdv,
                   int *n_ch);

/* Re-executes the CLI once with OPENBLAS_CORETYPE set when Debian's OpenBLAS
 * fell back to its slowest kernels on a CPU it does not recognise (blas_core.c).
 * Returns only when no re-exec happened. */
void cli_pick_blas_core(char **argv);

/* Prints "nadapt <cmd>: <message>" on one line to stderr; returns exit status 1. */
int cli_cmd_fail(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Writes s as a JSON string literal (quotes, backslashes, control bytes escaped). */
void cli_json_str(FILE *f, const char *s);

#endif
