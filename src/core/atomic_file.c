/*
 * nadapt — atomic file replacement (see atomic_file.h).
 */
#include "core/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Refuses a path whose existing file must not be replaced: anything but a
 * regular file (a device, FIFO, directory, link), or a read-only file (by its
 * mode bits: root passes every access() check). */
static nad_status check_replaceable(const char *path, nad_err *e)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return NAD_OK;
    if (!S_ISREG(st.st_mode))
        return nad_errf(e, NAD_EIO, "%s: exists and is not a regular file; not replacing it", path);
    if (!(st.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH)))
        return nad_errf(e, NAD_EIO, "%s: is read-only; not replacing it", path);
    return NAD_OK;
}

/* See atomic_file.h. */
nad_status nad_check_writable(const char *path, nad_err *e)
{
    nad_status rc = check_replaceable(path, e);
    if (rc)
        return rc;
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp)
        return nad_errf(e, NAD_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        rc = nad_errf(e, NAD_EIO, "%s: cannot write there: %s", path, strerror(errno));
    else {
        fclose(f);
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

/*
 * Removes "PATH.tmp.PID" files left by writers of path that were killed
 * mid-write: a PID that no longer runs (kill(pid, 0) fails with ESRCH) can
 * not finish its rename.  Live writers' files are left alone.
 */
static void remove_stale_temps(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    if (slash == path)
        snprintf(dir, sizeof dir, "/");
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t bl = strlen(base);
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (strncmp(n, base, bl) || strncmp(n + bl, ".tmp.", 5))
            continue;
        char *end;
        long pid = strtol(n + bl + 5, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char full[4608];
        snprintf(full, sizeof full, "%s/%s", dir, n);
        unlink(full);
    }
    closedir(d);
}

/* See atomic_file.h. */
nad_status nad_write_atomic(const char *path, const void *data, size_t len, nad_err *e)
{
    nad_status crc = check_replaceable(path, e);
    if (crc)
        return crc;
    remove_stale_temps(path);
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp)
        return nad_errf(e, NAD_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    nad_status rc = NAD_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = nad_errf(e, NAD_EIO, "%s: cannot write there: %s", path, strerror(errno));
        goto out;
    }
    int bad = len && fwrite(data, 1, len, f) != len;
    bad |= fflush(f) != 0;
    bad |= fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad) {
        rc = nad_errf(e, NAD_EIO, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path)) {
        rc = nad_errf(e, NAD_EIO, "%s: cannot replace it: %s", path, strerror(errno));
        unlink(tmp);
    }
out:
    free(tmp);
    return rc;
}
