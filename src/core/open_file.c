/*
 * nadapt — non-blocking, regular-files-only input opening (see open_file.h).
 */
#include "core/open_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* See open_file.h. */
int nad_open_regular(const char *path, nad_status *rc, nad_err *e)
{
    nad_status dummy;
    rc = rc ? rc : &dummy;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        *rc = nad_errf(e, NAD_EIO, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st = {0};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int dir = S_ISDIR(st.st_mode);
        close(fd);
        *rc = nad_errf(e, NAD_EIO, "%s: %s", path,
                       dir ? "is a directory" : "not a regular file (a FIFO, device or socket)");
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *rc = NAD_OK;
    return fd;
}

/* See open_file.h. */
FILE *nad_fopen_regular(const char *path, nad_status *rc, nad_err *e)
{
    nad_status dummy;
    rc = rc ? rc : &dummy;
    int fd = nad_open_regular(path, rc, e);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        *rc = nad_errf(e, NAD_ENOMEM, "%s: %s", path, strerror(errno));
    }
    return f;
}
