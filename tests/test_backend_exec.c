/*
 * Tests of exec:[OPTIONS]COMMAND (measure/backend_exec.c) with small shell
 * scripts written into a temporary directory: a working command whose answer
 * depends on the candidate file, unit conversion, quoting of an awkward
 * temporary path, and one clear error per way a command can fail (non-zero
 * exit, a signal, a timeout that leaves no process behind, garbage, missing
 * or no output), retries, and the spec's own errors.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nadapt/backend.h"
#include "testutil.h"

static nad_graph *g_net; /* cnn_bn, loaded once */

static int setup(void **state)
{
    nad_err e = {{0}};
    return nad_graph_load_onnx(tu_src("examples/fixtures/cnn_bn.op13.onnx"), 1, &g_net, &e) ? -1 : 0;
}

static int teardown(void **state)
{
    nad_graph_free(g_net);
    return 0;
}

/* Writes an executable script tmpdir/name with body; returns its path. */
static const char *script(const char *name, const char *body)
{
    static char path[8][1024];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", tu_tmpdir(), name);
    char text[4096];
    snprintf(text, sizeof text, "#!/bin/sh\n%s\n", body);
    assert_int_equal(tu_write_file(p, text, strlen(text)), 0);
    assert_int_equal(chmod(p, 0755), 0);
    return p;
}

/* A file in the temporary directory. */
static const char *tmp(const char *name)
{
    static char path[4][1024];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", tu_tmpdir(), name);
    return p;
}

static nad_backend *open_ok(const char *spec)
{
    nad_backend *b = NULL;
    nad_err e = {{0}};
    if (nad_backend_open(spec, &b, &e))
        fail_msg("%s: %s", spec, e.msg);
    return b;
}

/* Measures cnn_bn with spec; returns the status, values and message. */
static nad_status measure(const char *spec, double *v, nad_err *e)
{
    nad_backend *b = open_ok(spec);
    nad_status rc = nad_backend_measure(b, g_net, v, e);
    nad_backend_destroy(b);
    return rc;
}

/* Measuring with spec fails with a one-line message containing want (and
 * want2 when given). */
static void measure_fails(const char *spec, const char *want, const char *want2)
{
    double v[NAD_RES_COUNT];
    nad_err e = {{0}};
    assert_int_not_equal(measure(spec, v, &e), NAD_OK);
    if (!strstr(e.msg, want) || (want2 && !strstr(e.msg, want2)))
        fail_msg("%s: message '%s' lacks '%s'%s%s", spec, e.msg, want, want2 ? " or " : "", want2 ? want2 : "");
    assert_null(strchr(e.msg, '\n'));
    assert_non_null(strstr(e.msg, "exec"));
}

/* Size of the file nadapt hands the command, computed independently: the
 * same graph saved by the test. */
static double onnx_size(void)
{
    const char *p = tmp("reference.onnx");
    nad_err e = {{0}};
    assert_int_equal(nad_graph_save_onnx(g_net, p, &e), NAD_OK);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    unlink(p);
    return (double)st.st_size;
}

/* The answer depends on the candidate (its size), units are converted, the
 * path arrives quoted even through a directory named with a space and a
 * quote, NADAPT_ONNX agrees with {onnx}, and the file is gone afterwards. */
static void test_working_command(void **state)
{
    char dir[1024], spec[2048], body[1024];
    snprintf(dir, sizeof dir, "%s/tmp dir'q", tu_tmpdir());
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(body, sizeof body,
             "[ \"$1\" = \"$NADAPT_ONNX\" ] || { echo 'path mismatch' >&2; exit 9; }\n"
             "echo \"$1\" > '%s'\n"
             "sz=$(wc -c < \"$1\")\n"
             "echo 'loading model...'\n"
             "echo \"latency = $sz us\"\n"
             "echo \"energy=$((sz * 2))nJ\"\n",
             tmp("seen"));
    snprintf(spec, sizeof spec, "exec:[latency,energy:pJ,timeout=30] %s {onnx} extra", script("size.sh", body));
    const char *old = getenv("TMPDIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("TMPDIR", dir, 1);
    double v[NAD_RES_COUNT];
    nad_err e = {{0}};
    nad_status rc = measure(spec, v, &e);
    if (saved)
        setenv("TMPDIR", saved, 1);
    else
        unsetenv("TMPDIR");
    free(saved);
    if (rc)
        fail_msg("%s", e.msg);
    double size = onnx_size();
    assert_true(size > 1000);
    assert_true(fabs(v[NAD_RES_LATENCY] - size * 1e-6) < 1e-12 * size);
    assert_true(fabs(v[NAD_RES_ENERGY] - size * 2e3) < 1e-9 * size);
    assert_true(isnan(v[NAD_RES_DRAM]));
    assert_true(v[NAD_RES_MACS] > 0);
    size_t len;
    char *seen = tu_read_file(tmp("seen"), &len);
    assert_non_null(seen);
    assert_non_null(strstr(seen, "tmp dir'q/nadapt-candidate-"));
    seen[strcspn(seen, "\n")] = 0;
    assert_int_not_equal(access(seen, F_OK), 0); /* removed after the run */
    free(seen);
}

/* The default: latency in seconds, a timed back-end, a long stdout whose
 * answer comes last. */
static void test_defaults_and_long_output(void **state)
{
    nad_backend *b = open_ok("exec:echo latency=5 ms");
    assert_true(nad_backend_reports(b, NAD_RES_LATENCY));
    assert_false(nad_backend_reports(b, NAD_RES_ENERGY));
    assert_string_equal(nad_backend_unit(b, NAD_RES_LATENCY), "s");
    assert_true(nad_backend_is_timed(b, NAD_RES_LATENCY));
    double v[NAD_RES_COUNT];
    nad_err e = {{0}};
    assert_int_equal(nad_backend_measure(b, g_net, v, &e), NAD_OK);
    assert_true(fabs(v[NAD_RES_LATENCY] - 5e-3) < 1e-15);
    nad_backend_destroy(b);
    char spec[1200];
    snprintf(spec, sizeof spec, "exec:%s", script("long.sh", "i=0; while [ $i -lt 20000 ]; do echo \"log line $i\"; "
                                                             "i=$((i+1)); done; echo latency=7 us"));
    assert_int_equal(measure(spec, v, &e), NAD_OK);
    assert_true(fabs(v[NAD_RES_LATENCY] - 7e-6) < 1e-18);
}

/* Non-zero exit (status and last stderr line quoted) and death by signal. */
static void test_exit_and_signal(void **state)
{
    char spec[1200];
    snprintf(spec, sizeof spec, "exec:%s {onnx}",
             script("fail.sh", "echo 'connecting to board' >&2\necho 'device offline' >&2\nexit 3"));
    measure_fails(spec, "exited with status 3", "stderr: 'device offline'");
    snprintf(spec, sizeof spec, "exec:%s", script("killed.sh", "echo latency=1; kill -9 $$"));
    measure_fails(spec, "killed by signal 9", NULL);
    measure_fails("exec:echo latency=1; kill -TERM $$", "killed by signal 15", NULL);
}

/* 1 when process p no longer runs (gone, or a zombie awaiting its reaper). */
static int gone(pid_t p)
{
    for (int i = 0; i < 300; i++) {
        if (kill(p, 0) != 0 && errno == ESRCH)
            return 1;
        char path[64], buf[256] = "";
        snprintf(path, sizeof path, "/proc/%d/stat", (int)p);
        FILE *f = fopen(path, "r");
        if (f) {
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            buf[n] = 0;
            fclose(f);
            const char *close = strrchr(buf, ')');
            if (close && close[1] == ' ' && close[2] == 'Z')
                return 1;
        }
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    return 0;
}

static pid_t read_pid(const char *path)
{
    size_t len;
    char *s = tu_read_file(path, &len);
    assert_non_null(s);
    pid_t p = (pid_t)atoi(s);
    free(s);
    assert_true(p > 1);
    return p;
}

/* A command that never finishes is killed on time with everything it
 * started, and the message says so. */
static void test_timeout(void **state)
{
    char spec[1200], body[512];
    snprintf(body, sizeof body, "echo $$ > '%s'\nsleep 100 &\necho $! > '%s'\necho 'warming up' >&2\nwait",
             tmp("shell.pid"), tmp("sleep.pid"));
    snprintf(spec, sizeof spec, "exec:[timeout=0.5]%s", script("hang.sh", body));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    measure_fails(spec, "timed out after 0.5 s", "warming up");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    assert_true(secs >= 0.45 && secs < 5);
    assert_true(gone(read_pid(tmp("shell.pid"))));
    assert_true(gone(read_pid(tmp("sleep.pid"))));
    /* A command that closes stdout and lingers is timed out too. */
    snprintf(spec, sizeof spec, "exec:[timeout=0.3]exec >/dev/null 2>&1; echo $$ > '%s'; sleep 100",
             tmp("quiet.pid"));
    measure_fails(spec, "timed out after 0.3 s", NULL);
    assert_true(gone(read_pid(tmp("quiet.pid"))));
}

/* Garbage values, a wrong unit, a missing resource, no output at all. */
static void test_bad_output(void **state)
{
    measure_fails("exec:echo latency=fast", "printed 'latency=fast', which is not a number", NULL);
    measure_fails("exec:echo latency=nan", "not a finite non-negative value", NULL);
    measure_fails("exec:echo 'latency=-1 ms'", "not a finite non-negative value", NULL);
    measure_fails("exec:echo 'latency=3 parsecs'", "unit 'parsecs' does not convert to s", NULL);
    measure_fails("exec:echo 'latency=3 ms and more'", "does not convert", NULL);
    measure_fails("exec:[latency,energy:mJ]echo latency=1ms", "printed no 'energy=VALUE [mJ]' line", NULL);
    measure_fails("exec:[energy:mJ]echo energy=1ms", "unit 'ms' does not convert to mJ", NULL);
    measure_fails("exec:echo speed=3", "printed no 'latency=", NULL);
    measure_fails("exec:echo 'no such tool' >&2", "printed nothing on stdout", "no such tool");
}

/* A first failure is retried; without retries it is final; every retry
 * runs the command again. */
static void test_retries(void **state)
{
    char body[512], spec[1200];
    snprintf(body, sizeof body,
             "n=$(cat '%s' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '%s'\n"
             "if [ $n -lt 2 ]; then echo 'adb: device not found' >&2; exit 1; fi\necho latency=2ms",
             tmp("count"), tmp("count"));
    const char *flaky = script("flaky.sh", body);
    double v[NAD_RES_COUNT];
    nad_err e = {{0}};
    snprintf(spec, sizeof spec, "exec:[retries=1]%s", flaky);
    if (measure(spec, v, &e))
        fail_msg("%s", e.msg);
    assert_true(fabs(v[NAD_RES_LATENCY] - 2e-3) < 1e-15);
    assert_int_equal(read_pid(tmp("count")), 2);
    unlink(tmp("count"));
    snprintf(spec, sizeof spec, "exec:[retries=0]%s", flaky);
    measure_fails(spec, "exited with status 1", "adb: device not found");
    unlink(tmp("count"));
    snprintf(body, sizeof body, "n=$(cat '%s' 2>/dev/null || echo 0); echo $((n+1)) > '%s'; exit 4",
             tmp("count2"), tmp("count2"));
    snprintf(spec, sizeof spec, "exec:[retries=2]%s", script("broken.sh", body));
    measure_fails(spec, "exited with status 4", "(3 attempts)");
    assert_int_equal(read_pid(tmp("count2")), 3);
}

/* The spec's own errors, at open time. */
static void test_bad_specs(void **state)
{
    const char *cases[][2] = {
        {"exec:", "no command"},
        {"exec:[latency]", "no command"},
        {"exec:[latency ./x", "no closing ']'"},
        {"exec:[speed]./x", "'speed' is neither a resource"},
        {"exec:[timeout=0]./x", "timeout '0'"},
        {"exec:[timeout=soon]./x", "timeout 'soon'"},
        {"exec:[retries=-1]./x", "retries '-1'"},
        {"exec:[latency:kg]./x", "unit 'kg'"},
        {"exec:[latency,latency]./x", "declared twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nad_backend *b = NULL;
        nad_err e = {{0}};
        assert_int_not_equal(nad_backend_open(cases[i][0], &b, &e), NAD_OK);
        assert_null(b);
        if (!strstr(e.msg, cases[i][1]))
            fail_msg("%s: '%s' lacks '%s'", cases[i][0], e.msg, cases[i][1]);
    }
    /* A shell test is a command, not an option list. */
    double v[NAD_RES_COUNT];
    nad_err e = {{0}};
    assert_int_equal(measure("exec:[ -f {onnx} ] && echo latency=4ns", v, &e), NAD_OK);
    assert_true(fabs(v[NAD_RES_LATENCY] - 4e-9) < 1e-21);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_working_command), cmocka_unit_test(test_defaults_and_long_output),
        cmocka_unit_test(test_exit_and_signal), cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_bad_output),      cmocka_unit_test(test_retries),
        cmocka_unit_test(test_bad_specs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
