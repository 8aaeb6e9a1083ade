/* Small helpers shared by the cmocka tests: fixture paths and running the CLI. */
#ifndef NAD_TESTUTIL_H
#define NAD_TESTUTIL_H

#include <stddef.h>

/* Absolute path of a file under the source tree ("examples/fixtures/x.onnx"). */
const char *tu_src(const char *relpath);

/* A fresh private temporary directory (removed by tu_cleanup). */
const char *tu_tmpdir(void);

/*
 * Runs the nadapt CLI with a shell-quoted argument string, e.g.
 * tu_run_cli("info x.onnx", out, sizeof out, err, sizeof err) and returns its
 * exit status (-1 if it did not exit normally). stdout/stderr are captured.
 */
int tu_run_cli(const char *args, char *out, size_t out_size, char *err, size_t err_size);

/* tu_run_cli under `timeout limit_s` (0: none), so that a hang fails the test
 * (exit 124) instead of stalling it; *seconds (may be NULL) gets the wall time. */
int tu_run_cli_timed(const char *args, int limit_s, char *out, size_t out_size, char *err, size_t err_size,
                     double *seconds);

/*
 * Runs `timeout 10 nadapt ARGS` and checks the hostile-input contract (a
 * cmocka assertion fails otherwise): exit status 1 (timeout's 124 means it
 * hung), nothing on stdout, exactly one stderr line holding every one of the
 * NULL-terminated needles.  Returns the seconds it took.
 */
double tu_expect_refused(const char *args, ...);

/* Reads a whole file; returns malloc'd bytes (caller frees) or NULL. */
void *tu_read_file(const char *path, size_t *len);

/* Writes bytes to path; returns 0 on success. */
int tu_write_file(const char *path, const void *data, size_t len);

/* Counts newline characters in s. */
int tu_count_lines(const char *s);

/* Removes the temporary directory made by tu_tmpdir (registered with atexit). */
void tu_cleanup(void);

#endif
