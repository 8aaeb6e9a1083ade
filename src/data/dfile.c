/* Raw-or-gzip dataset file reading with truncation checks; see dfile.h. */
#include "data/dfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Deflate never expands data by more than 1032:1, so a gzip file of S bytes
 * holds at most about 1032*S bytes; the slack covers tiny files. */
#define NAD_GZIP_MAX_RATIO 1032u
#define NAD_GZIP_SLACK 4096u
/* gzread takes an unsigned count: read big buffers in pieces of this size. */
#define NAD_READ_CHUNK (1u << 30)

/*
 * Opens path and learns whether it is gzip (first two bytes 1f 8b) and its
 * size on disk, then hands the descriptor to zlib.  Stat-ing first gives the
 * caller "no such file or directory" and "is a directory" messages that
 * gzopen alone would blur.
 */
nad_status nad_dfile_open(nad_dfile *f, const char *path, nad_err *e)
{
    nad_status rc = NAD_OK;
    unsigned char magic[2] = {0, 0};
    struct stat st;
    int fd = -1;

    memset(f, 0, sizeof *f);
    f->path = path;
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        rc = nad_errf(e, NAD_EIO, "%s: %s", path, errno == ENOENT ? "no such file or directory" : strerror(errno));
        goto fail;
    }
    if (fstat(fd, &st) != 0) {
        rc = nad_errf(e, NAD_EIO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = nad_errf(e, NAD_EIO, "%s: not a regular file", path);
        goto fail;
    }
    ssize_t got = read(fd, magic, 2);
    if (got < 0 || lseek(fd, 0, SEEK_SET) != 0) {
        rc = nad_errf(e, NAD_EIO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    f->is_gz = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    f->max_bytes = (uint64_t)st.st_size;
    if (f->is_gz)
        f->max_bytes = (uint64_t)st.st_size * NAD_GZIP_MAX_RATIO + NAD_GZIP_SLACK;
    f->gz = gzdopen(fd, "rb");
    if (!f->gz) {
        rc = nad_errf(e, NAD_ENOMEM, "%s: cannot set up the gzip reader", path);
        goto fail;
    }
    fd = -1; /* owned by f->gz now */
    gzbuffer(f->gz, 1u << 17);
    return NAD_OK;
fail:
    if (fd >= 0)
        close(fd);
    f->gz = NULL;
    return rc;
}

/* See dfile.h. */
nad_status nad_dfile_check_room(nad_dfile *f, uint64_t n, nad_err *e)
{
    if (n > f->max_bytes || f->pos > f->max_bytes - n) {
        if (f->is_gz)
            return nad_errf(e, NAD_EFORMAT, "%s: truncated or corrupt: the header promises %llu bytes, more than the "
                            "compressed file can hold", f->path, (unsigned long long)(f->pos + n));
        return nad_errf(e, NAD_EFORMAT, "%s: truncated: the header promises %llu bytes, the file has %llu", f->path,
                        (unsigned long long)(f->pos + n), (unsigned long long)f->max_bytes);
    }
    return NAD_OK;
}

/* Reads up to n bytes; returns the count read, or -1 with e set on a zlib
 * error other than a truncated gzip stream (which reads as a short count). */
static int64_t read_some(nad_dfile *f, uint8_t *buf, uint64_t n, nad_err *e)
{
    uint64_t done = 0;
    while (done < n) {
        uint64_t want = n - done;
        unsigned chunk = want > NAD_READ_CHUNK ? NAD_READ_CHUNK : (unsigned)want;
        int got = gzread(f->gz, buf + done, chunk);
        if (got < 0) {
            int zerr = 0;
            const char *msg = gzerror(f->gz, &zerr);
            /* A cut-off .gz is "unexpected end of file" (Z_BUF_ERROR): report it as truncation. */
            if (zerr == Z_BUF_ERROR) {
                f->gz_cut = 1;
                break;
            }
            nad_errf(e, NAD_EIO, "%s: %s", f->path, zerr == Z_ERRNO ? strerror(errno) : msg);
            return -1;
        }
        if (got == 0)
            break;
        done += (uint64_t)got;
    }
    f->pos += done;
    return (int64_t)done;
}

/* See dfile.h. */
nad_status nad_dfile_read(nad_dfile *f, void *buf, uint64_t n, nad_err *e)
{
    uint64_t start = f->pos;
    int64_t got = read_some(f, buf, n, e);
    if (got < 0)
        return NAD_EIO;
    if ((uint64_t)got < n)
        return nad_errf(e, NAD_EFORMAT, "%s: truncated: expected %llu bytes, the %sfile ends after %llu", f->path,
                        (unsigned long long)(start + n), f->is_gz ? "decompressed " : "",
                        (unsigned long long)f->pos);
    return NAD_OK;
}

/* See dfile.h; a gzip stream cut before its trailer also fails here. */
nad_status nad_dfile_expect_end(nad_dfile *f, nad_err *e)
{
    uint8_t extra[1];
    uint64_t at = f->pos;
    int64_t got = read_some(f, extra, 1, e);
    if (got < 0)
        return NAD_EIO;
    if (got > 0)
        return nad_errf(e, NAD_EFORMAT, "%s: longer than its header says (data should end after %llu bytes)",
                        f->path, (unsigned long long)at);
    if (f->gz_cut)
        return nad_errf(e, NAD_EFORMAT, "%s: truncated: the gzip stream ends without its trailer", f->path);
    return NAD_OK;
}

/* See dfile.h. */
void nad_dfile_close(nad_dfile *f)
{
    if (f->gz)
        gzclose(f->gz);
    f->gz = NULL;
}

/* Grows the buffer geometrically so that the allocation follows the data
 * actually present, never a size someone claimed. */
nad_status nad_dfile_slurp(const char *path, uint64_t max, uint8_t **buf, uint64_t *len, nad_err *e)
{
    nad_status rc;
    nad_dfile f;
    uint8_t *data = NULL;
    uint64_t cap = 0, n = 0;

    *buf = NULL;
    *len = 0;
    rc = nad_dfile_open(&f, path, e);
    if (rc)
        return rc;
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                rc = nad_errf(e, NAD_EFORMAT, "%s: larger than %llu bytes", path, (unsigned long long)max);
                goto fail;
            }
            uint64_t ncap = cap ? cap * 2 : 1u << 16;
            if (!f.is_gz && f.max_bytes + 1 > cap && f.max_bytes + 1 < ncap)
                ncap = f.max_bytes + 1; /* raw file: one read of the known size (+1 to see the end) */
            if (ncap > max + 1)
                ncap = max + 1;
            if (ncap > SIZE_MAX) {
                rc = nad_errf(e, NAD_ENOMEM, "%s: too large to read", path);
                goto fail;
            }
            uint8_t *nd = realloc(data, (size_t)ncap);
            if (!nd) {
                rc = nad_errf(e, NAD_ENOMEM, "%s: out of memory reading %llu bytes", path, (unsigned long long)ncap);
                goto fail;
            }
            data = nd;
            cap = ncap;
        }
        int64_t got = read_some(&f, data + n, cap - n, e);
        if (got < 0) {
            rc = NAD_EIO;
            goto fail;
        }
        n += (uint64_t)got;
        if (n < cap)
            break;
    }
    if (n > max) {
        rc = nad_errf(e, NAD_EFORMAT, "%s: larger than %llu bytes", path, (unsigned long long)max);
        goto fail;
    }
    if (f.gz_cut) {
        rc = nad_errf(e, NAD_EFORMAT, "%s: truncated: the gzip stream ends after %llu bytes", path,
                      (unsigned long long)n);
        goto fail;
    }
    nad_dfile_close(&f);
    *buf = data;
    *len = n;
    return NAD_OK;
fail:
    nad_dfile_close(&f);
    free(data);
    return rc;
}
