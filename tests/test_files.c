/*
 * The one atomic file writer (src/core/atomic_file.c) and the regular-file
 * opener (src/core/open_file.c): what every output and input of nadapt goes
 * through.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/atomic_file.h"
#include "core/open_file.h"
#include "testutil.h"

static int exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

/* A PID that just ended (its process reaped). */
static pid_t dead_pid(void)
{
    pid_t c = fork();
    if (c == 0)
        _exit(0);
    waitpid(c, NULL, 0);
    return c;
}

/* Stale temporaries of killed writers go; a live writer's stays. */
static void stale_temps_are_removed(void **state)
{
    char path[512], stale[600], live[600];
    snprintf(path, sizeof path, "%s/out.bin", tu_tmpdir());
    snprintf(stale, sizeof stale, "%s.tmp.%ld", path, (long)dead_pid());
    snprintf(live, sizeof live, "%s.tmp.%ld", path, (long)getppid());
    assert_int_equal(tu_write_file(stale, "half", 4), 0);
    assert_int_equal(tu_write_file(live, "busy", 4), 0);
    nad_err e;
    assert_int_equal(nad_write_atomic(path, "whole", 5, &e), NAD_OK);
    assert_false(exists(stale));
    assert_true(exists(live));
    size_t len;
    char *got = tu_read_file(path, &len);
    assert_true(got && len == 5 && memcmp(got, "whole", 5) == 0);
    free(got);
    unlink(live);
    (void)state;
}

/* Never replaced: a FIFO, a directory, a read-only file; errors name the
 * path the caller gave, not a temporary name. */
static void what_is_never_replaced(void **state)
{
    const char *dir = tu_tmpdir();
    char fifo[512], ro[512], sub[512], missing[512];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(ro, sizeof ro, "%s/ro.bin", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.bin", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(tu_write_file(ro, "keep", 4), 0);
    chmod(ro, 0444);
    mkdir(sub, 0777);
    nad_err e;
    const char *paths[] = {fifo, ro, sub, missing};
    for (int k = 0; k < 4; k++) {
        assert_int_equal(nad_write_atomic(paths[k], "x", 1, &e), NAD_EIO);
        assert_non_null(strstr(e.msg, paths[k]));
        assert_null(strstr(e.msg, ".tmp."));
        assert_int_equal(nad_check_writable(paths[k], &e), NAD_EIO);
    }
    struct stat st;
    assert_int_equal(lstat(fifo, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    size_t len;
    char *kept = tu_read_file(ro, &len);
    assert_true(kept && len == 4 && memcmp(kept, "keep", 4) == 0);
    free(kept);
    /* and the opener refuses to read them without blocking */
    nad_status rc;
    assert_int_equal(nad_open_regular(fifo, &rc, &e), -1);
    assert_non_null(strstr(e.msg, "not a regular file"));
    assert_int_equal(nad_open_regular(sub, &rc, &e), -1);
    assert_non_null(strstr(e.msg, "is a directory"));
    int fd = nad_open_regular(ro, &rc, &e);
    assert_true(fd >= 0);
    assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    close(fd);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stale_temps_are_removed),
        cmocka_unit_test(what_is_never_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
