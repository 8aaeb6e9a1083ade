/*
 * Reading dataset files that may be gzip-compressed (internal to src/data/).
 *
 * MNIST-style datasets ship as .gz, others raw; zlib's gz* functions read both
 * transparently, so every reader goes through this one small wrapper.  It adds
 * what the readers need for clear errors: exact reads that report truncation
 * with byte counts, a cheap upper bound on the content size (so an absurd
 * header is rejected before a huge allocation), and an end-of-file check.
 */
#ifndef NAD_DATA_DFILE_H
#define NAD_DATA_DFILE_H

#include <stdint.h>

#include <zlib.h>

#include "nadapt/status.h"

typedef struct nad_dfile {
    const char *path;   /* borrowed; used in every message        */
    gzFile gz;          /* NULL once closed                       */
    int is_gz;          /* the file starts with the gzip magic    */
    uint64_t max_bytes; /* upper bound on the (decompressed) size */
    uint64_t pos;       /* content bytes read so far              */
    int gz_cut;         /* the gzip stream ended before its trailer */
} nad_dfile;

/* Opens path (raw or gzip) for reading.  NAD_EIO "PATH: <strerror>" when it
 * cannot be opened or is not a regular file.  path must outlive f. */
nad_status nad_dfile_open(nad_dfile *f, const char *path, nad_err *e);

/* Fails with NAD_EFORMAT "PATH: truncated ..." when the file cannot hold n more
 * bytes; call before allocating a buffer whose size comes from a header. */
nad_status nad_dfile_check_room(nad_dfile *f, uint64_t n, nad_err *e);

/* Reads exactly n bytes into buf; NAD_EFORMAT "PATH: truncated ..." when the
 * file ends first, NAD_EIO on a read or gzip error. */
nad_status nad_dfile_read(nad_dfile *f, void *buf, uint64_t n, nad_err *e);

/* NAD_OK when the content ends here; NAD_EFORMAT naming the path when bytes
 * follow (the header and the file length disagree). */
nad_status nad_dfile_expect_end(nad_dfile *f, nad_err *e);

/* Closes f; safe on a closed or never-opened (zeroed) f. */
void nad_dfile_close(nad_dfile *f);

/* Reads a whole (small) file into a malloc'd buffer of at most max bytes;
 * caller frees *buf.  NAD_EFORMAT when the content exceeds max. */
nad_status nad_dfile_slurp(const char *path, uint64_t max, uint8_t **buf, uint64_t *len, nad_err *e);

#endif
