/* Raw-or-gzip dataset file reading with truncation and integrity checks; see dfile.h. */
#include "data/dfile.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "core/open_file.h"

/* Deflate never expands data by more than 1032:1, so a gzip file of S bytes
 * holds at most about 1032*S bytes; the slack covers tiny files. */
#define NAD_GZIP_MAX_RATIO 1032u
#define NAD_GZIP_SLACK 4096u
/* read() and inflate() take bounded counts: big buffers go in pieces of this size. */
#define NAD_READ_CHUNK (1u << 30)
/* Compressed bytes read from the file at a time. */
#define NAD_GZ_IN_SIZE (1u << 17)

/* The inflate state lives on the heap because zlib keeps pointers to the
 * z_stream and the gz_header: they must not move while f does. */
struct nad_dfile_gz {
    z_stream z;              /* windowBits 15+16: gzip wrapper only, CRC-32 and ISIZE checked */
    gz_header head;          /* head.done != 0 once the member's header has been parsed       */
    uint64_t in_total;       /* compressed bytes read from the file so far                     */
    int in_eof;              /* read() has returned 0                                          */
    int end;                 /* the stream ended cleanly; no more content                      */
    uint8_t in[NAD_GZ_IN_SIZE];
};

/* read() that retries on EINTR; *got receives the count (0 at end of file).
 * NAD_EIO "PATH: read error: ..." on failure. */
static nad_status read_fd(nad_dfile *f, void *buf, size_t n, size_t *got, nad_err *e)
{
    for (;;) {
        ssize_t r = read(f->fd, buf, n);
        if (r >= 0) {
            *got = (size_t)r;
            return NAD_OK;
        }
        if (errno != EINTR)
            return nad_errf(e, NAD_EIO, "%s: read error: %s", f->path, strerror(errno));
    }
}

/*
 * Opens path without blocking and only if it is a regular file (a FIFO given
 * as a dataset file would otherwise hang in open or read forever), learns
 * whether it is gzip (first two bytes 1f 8b) and its size on disk, and sets
 * up inflate for a gzip file.
 */
nad_status nad_dfile_open(nad_dfile *f, const char *path, nad_err *e)
{
    nad_status rc = NAD_OK;
    unsigned char magic[2] = {0, 0};
    struct stat st;

    memset(f, 0, sizeof *f);
    f->path = path;
    f->fd = nad_open_regular(path, &rc, e);
    if (f->fd < 0)
        return rc;
    f->is_open = 1;
    if (fstat(f->fd, &st) != 0) {
        rc = nad_errf(e, NAD_EIO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    size_t got = 0, more = 0;
    if ((rc = read_fd(f, magic, 2, &got, e)))
        goto fail;
    if (got == 1) { /* a short read is allowed: ask once more for the second byte */
        if ((rc = read_fd(f, magic + 1, 1, &more, e)))
            goto fail;
        got += more;
    }
    if (lseek(f->fd, 0, SEEK_SET) != 0) {
        rc = nad_errf(e, NAD_EIO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    f->is_gz = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    f->max_bytes = (uint64_t)st.st_size;
    if (!f->is_gz)
        return NAD_OK;
    f->max_bytes = (uint64_t)st.st_size * NAD_GZIP_MAX_RATIO + NAD_GZIP_SLACK;
    f->gz = calloc(1, sizeof *f->gz);
    if (!f->gz) {
        rc = nad_errf(e, NAD_ENOMEM, "%s: out of memory for the gzip reader", path);
        goto fail;
    }
    /* 15+16: a gzip wrapper is required, and inflate checks its CRC-32 and length. */
    if (inflateInit2(&f->gz->z, 15 + 16) != Z_OK) {
        free(f->gz);
        f->gz = NULL;
        rc = nad_errf(e, NAD_ENOMEM, "%s: cannot set up the gzip reader", path);
        goto fail;
    }
    inflateGetHeader(&f->gz->z, &f->gz->head);
    return NAD_OK;
fail:
    nad_dfile_close(f);
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

/* Reads raw bytes; *done receives the count (short only at end of file). */
static nad_status raw_read(nad_dfile *f, uint8_t *buf, uint64_t n, uint64_t *done, nad_err *e)
{
    nad_status rc;
    *done = 0;
    while (*done < n) {
        uint64_t want = n - *done;
        size_t got = 0;
        if ((rc = read_fd(f, buf + *done, want > NAD_READ_CHUNK ? NAD_READ_CHUNK : (size_t)want, &got, e)))
            return rc;
        if (got == 0)
            break;
        *done += got;
    }
    return NAD_OK;
}

/* Moves the unread input to the front of the buffer and reads more after it;
 * sets in_eof when the file has nothing more. */
static nad_status gz_refill(nad_dfile *f, nad_err *e)
{
    nad_dfile_gz *g = f->gz;
    nad_status rc;
    size_t got = 0;
    if (g->z.avail_in > 0 && g->z.next_in != g->in)
        memmove(g->in, g->z.next_in, g->z.avail_in);
    g->z.next_in = g->in;
    if ((rc = read_fd(f, g->in + g->z.avail_in, sizeof g->in - g->z.avail_in, &got, e)))
        return rc;
    if (got == 0)
        g->in_eof = 1;
    g->z.avail_in += (uInt)got;
    g->in_total += got;
    return NAD_OK;
}

/* Offset in the compressed file of the next unread byte, for messages. */
static unsigned long long gz_at(const nad_dfile *f)
{
    return (unsigned long long)(f->gz->in_total - f->gz->z.avail_in);
}

/*
 * After a member's trailer has been checked: starts the next member when
 * another gzip header follows (concatenated members are valid gzip), accepts
 * zero padding to the end of the file (as gzip(1) does), and refuses anything
 * else (NAD_EFORMAT).  Sets g->end when the stream is over.
 */
static nad_status gz_next_member(nad_dfile *f, nad_err *e)
{
    nad_dfile_gz *g = f->gz;
    nad_status rc;
    while (g->z.avail_in < 2 && !g->in_eof)
        if ((rc = gz_refill(f, e)))
            return rc;
    if (g->z.avail_in == 0) {
        g->end = 1;
        return NAD_OK;
    }
    if (g->z.avail_in >= 2 && g->z.next_in[0] == 0x1f && g->z.next_in[1] == 0x8b) {
        inflateReset(&g->z); /* forgets the header pointer: set it again */
        memset(&g->head, 0, sizeof g->head);
        inflateGetHeader(&g->z, &g->head);
        return NAD_OK;
    }
    unsigned long long at = gz_at(f);
    for (;;) {
        for (uInt i = 0; i < g->z.avail_in; i++)
            if (g->z.next_in[i] != 0)
                return nad_errf(e, NAD_EFORMAT, "%s: truncated or corrupt gzip data (bytes that are not gzip after "
                                "the end of the stream, at byte %llu)", f->path, at);
        g->z.avail_in = 0;
        if (g->in_eof)
            break;
        if ((rc = gz_refill(f, e)))
            return rc;
    }
    g->end = 1;
    return NAD_OK;
}

/* Names what inflate found wrong in words a user can act on. */
static const char *gz_problem(const z_stream *z)
{
    const char *m = z->msg ? z->msg : "invalid deflate data";
    if (strcmp(m, "incorrect data check") == 0)
        return "CRC-32 mismatch";
    if (strcmp(m, "incorrect length check") == 0)
        return "length mismatch in the trailer";
    return m;
}

/*
 * Inflates up to n content bytes into buf; *done receives the count, short
 * only at a clean end of the stream (every trailer verified).  Fails with
 * NAD_EFORMAT
 * "PATH: truncated or corrupt gzip data (...)" when the file ends inside the
 * stream or the data or a trailer is wrong; NAD_EIO for damage in the gzip
 * header itself (the file is not usable gzip at all) or a read error.
 */
static nad_status gz_read(nad_dfile *f, uint8_t *buf, uint64_t n, uint64_t *done_out, nad_err *e)
{
    nad_dfile_gz *g = f->gz;
    nad_status rc;
    uint64_t done = 0;
    *done_out = 0;
    while (done < n && !g->end) {
        if (g->z.avail_in == 0 && !g->in_eof && (rc = gz_refill(f, e)))
            return rc;
        uint64_t want = n - done;
        uInt chunk = want > NAD_READ_CHUNK ? NAD_READ_CHUNK : (uInt)want;
        g->z.next_out = buf + done;
        g->z.avail_out = chunk;
        int zr = inflate(&g->z, Z_NO_FLUSH);
        done += chunk - g->z.avail_out;
        switch (zr) {
        case Z_OK:
            break;
        case Z_STREAM_END:
            if ((rc = gz_next_member(f, e)))
                return rc;
            break;
        case Z_BUF_ERROR:
            /* No progress possible: fine while more input can be read, truncation when none can. */
            if (g->z.avail_in == 0 && g->in_eof)
                return nad_errf(e, NAD_EFORMAT, "%s: truncated or corrupt gzip data (the file ends inside the gzip "
                                "%s, after %llu bytes of data)", f->path, g->head.done ? "stream" : "header",
                                (unsigned long long)(f->pos + done));
            break;
        case Z_MEM_ERROR:
            return nad_errf(e, NAD_ENOMEM, "%s: out of memory in the gzip reader", f->path);
        default: /* Z_DATA_ERROR (also a bad CRC or length), Z_NEED_DICT, Z_STREAM_ERROR */
            /* NAD_EIO for a broken header keeps the status callers saw from zlib's gz* reader for
             * "gzip magic, then garbage"; damage inside the data is a format error. */
            if (!g->head.done)
                return nad_errf(e, NAD_EIO, "%s: truncated or corrupt gzip data (bad gzip header: %s)", f->path,
                                gz_problem(&g->z));
            return nad_errf(e, NAD_EFORMAT, "%s: truncated or corrupt gzip data (%s after %llu bytes of data, at "
                            "byte %llu of the file)", f->path, gz_problem(&g->z),
                            (unsigned long long)(f->pos + done), gz_at(f));
        }
    }
    *done_out = done;
    return NAD_OK;
}

/* Reads up to n bytes; *got receives the count (short only at a clean end). */
static nad_status read_some(nad_dfile *f, uint8_t *buf, uint64_t n, uint64_t *got, nad_err *e)
{
    nad_status rc = f->gz ? gz_read(f, buf, n, got, e) : raw_read(f, buf, n, got, e);
    if (rc == NAD_OK)
        f->pos += *got;
    return rc;
}

/* See dfile.h. */
nad_status nad_dfile_read(nad_dfile *f, void *buf, uint64_t n, nad_err *e)
{
    uint64_t start = f->pos, got = 0;
    nad_status rc = read_some(f, buf, n, &got, e);
    if (rc)
        return rc;
    if (got < n)
        return nad_errf(e, NAD_EFORMAT, "%s: truncated: expected %llu bytes, the %sfile ends after %llu", f->path,
                        (unsigned long long)(start + n), f->is_gz ? "decompressed " : "",
                        (unsigned long long)f->pos);
    return NAD_OK;
}

/* See dfile.h; for gzip, reading past the content drives inflate through the
 * trailer, so a cut-off or corrupted stream fails here. */
nad_status nad_dfile_expect_end(nad_dfile *f, nad_err *e)
{
    uint8_t extra[1];
    uint64_t at = f->pos, got = 0;
    nad_status rc = read_some(f, extra, 1, &got, e);
    if (rc)
        return rc;
    if (got > 0)
        return nad_errf(e, NAD_EFORMAT, "%s: longer than its header says (data should end after %llu bytes)",
                        f->path, (unsigned long long)at);
    return NAD_OK;
}

/* See dfile.h. */
void nad_dfile_close(nad_dfile *f)
{
    if (f->gz) {
        inflateEnd(&f->gz->z);
        free(f->gz);
        f->gz = NULL;
    }
    if (f->is_open)
        close(f->fd);
    f->is_open = 0;
    f->fd = -1;
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
        /* A short count means the end: for gzip, a clean one with every trailer checked. */
        uint64_t got = 0;
        if ((rc = read_some(&f, data + n, cap - n, &got, e)))
            goto fail;
        n += got;
        if (n < cap)
            break;
    }
    if (n > max) {
        rc = nad_errf(e, NAD_EFORMAT, "%s: larger than %llu bytes", path, (unsigned long long)max);
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
