/* Helpers shared by the tests; see testutil.h. */
#define _GNU_SOURCE
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static char tmpdir[256];

const char *tu_src(const char *relpath)
{
    static char buf[8][1024];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", NAD_SOURCE_DIR, relpath);
    return b;
}

void tu_cleanup(void)
{
    if (tmpdir[0]) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
        tmpdir[0] = '\0';
    }
}

const char *tu_tmpdir(void)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/nadapt-test-XXXXXX");
        if (!mkdtemp(tmpdir))
            return NULL;
        atexit(tu_cleanup);
    }
    return tmpdir;
}

static char *slurp(const char *path)
{
    size_t len;
    char *s = tu_read_file(path, &len);
    return s;
}

int tu_run_cli(const char *args, char *out, size_t out_size, char *err, size_t err_size)
{
    return tu_run_cli_timed(args, 0, out, out_size, err, err_size, NULL);
}

int tu_run_cli_timed(const char *args, int limit_s, char *out, size_t out_size, char *err, size_t err_size,
                     double *seconds)
{
    const char *dir = tu_tmpdir();
    char o[512], e[512], cmd[8192], lim[32] = "";
    snprintf(o, sizeof o, "%s/cli.out", dir);
    snprintf(e, sizeof e, "%s/cli.err", dir);
    if (limit_s > 0)
        snprintf(lim, sizeof lim, "timeout %d ", limit_s);
    snprintf(cmd, sizeof cmd, "%s'%s' %s >'%s' 2>'%s' </dev/null", lim, NAD_CLI_PATH, args, o, e);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int st = system(cmd);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (seconds)
        *seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    char *so = slurp(o), *se = slurp(e);
    if (out && out_size) {
        snprintf(out, out_size, "%s", so ? so : "");
    }
    if (err && err_size) {
        snprintf(err, err_size, "%s", se ? se : "");
    }
    free(so);
    free(se);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

void *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
        }
        buf = nb;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = n;
    }
    return buf;
}

int tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

int tu_count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* See testutil.h. */
double tu_expect_refused(const char *args, ...)
{
    char out[8192], err[8192];
    double dt = 0;
    int code = tu_run_cli_timed(args, 10, out, sizeof out, err, sizeof err, &dt);
    if (code != 1 || out[0] || tu_count_lines(err) != 1)
        print_error("nadapt %s\n  exit %d, stdout '%s', stderr '%s'\n", args, code, out, err);
    assert_int_equal(code, 1);
    assert_string_equal(out, "");
    assert_int_equal(tu_count_lines(err), 1);
    va_list ap;
    va_start(ap, args);
    for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;) {
        if (!strstr(err, needle))
            print_error("stderr '%s' lacks '%s'\n", err, needle);
        assert_non_null(strstr(err, needle));
    }
    va_end(ap);
    return dt;
}
