/*
 * nadapt — atomic file replacement (see atomic_file.h).
 */
#include "core/atomic_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* See atomic_file.h. */
nad_status nad_write_atomic(const char *path, const void *data, size_t len, nad_err *e)
{
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return nad_errf(e, NAD_EIO, "%s: exists and is not a regular file; not replacing it", path);
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp)
        return nad_errf(e, NAD_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    nad_status rc = NAD_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = nad_errf(e, NAD_EIO, "%s: cannot create: %s", tmp, strerror(errno));
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
        rc = nad_errf(e, NAD_EIO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
        unlink(tmp);
    }
out:
    free(tmp);
    return rc;
}
