/*
 * Reading dataset files that may be gzip-compressed (internal to src/data/).
 *
 * MNIST-style datasets ship as .gz, others raw; this one small reader reads
 * both (a file is gzip when it starts with the gzip magic 1f 8b), so every
 * format loader gets the same guarantees:
 *   - the path is opened without blocking and only when it is a regular file
 *     (a FIFO or a device named as a dataset file fails at once);
 *   - exact reads that report truncation with byte counts;
 *   - a cheap upper bound on the content size, so an absurd header is
 *     rejected before a huge allocation;
 *   - an end-of-file check that, for gzip, only passes at a clean end of the
 *     stream: every member's CRC-32 and length trailer verified, nothing but
 *     further gzip members after it.  (zlib's gzread returns a short count,
 *     not an error, when the trailer is cut off, and checks the CRC only when
 *     read to the end, so this reader drives inflate itself.)
 */
#ifndef NAD_DATA_DFILE_H
#define NAD_DATA_DFILE_H

#include <stdint.h>

#include "nadapt/status.h"

/* Inflate state of a gzip file (dfile.c); NULL for a raw file. */
typedef struct nad_dfile_gz nad_dfile_gz;

typedef struct nad_dfile {
    const char *path;   /* borrowed; used in every message        */
    int fd;             /* valid while is_open                    */
    int is_open;        /* 0 in a zeroed or closed f              */
    int is_gz;          /* the file starts with the gzip magic    */
    uint64_t max_bytes; /* upper bound on the (decompressed) size */
    uint64_t pos;       /* content bytes read so far              */
    nad_dfile_gz *gz;   /* owned; NULL for a raw file             */
} nad_dfile;

/* Opens path (raw or gzip) for reading.  NAD_EIO "PATH: <reason>" when it
 * cannot be opened, "PATH: is a directory" or "PATH: not a regular file (a
 * FIFO, device or socket)"; never blocks.  path must outlive f. */
nad_status nad_dfile_open(nad_dfile *f, const char *path, nad_err *e);

/* Fails with NAD_EFORMAT "PATH: truncated ..." when the file cannot hold n more
 * bytes; call before allocating a buffer whose size comes from a header. */
nad_status nad_dfile_check_room(nad_dfile *f, uint64_t n, nad_err *e);

/* Reads exactly n bytes into buf; NAD_EFORMAT "PATH: truncated ..." when the
 * content ends first, NAD_EFORMAT "PATH: truncated or corrupt gzip data (...)"
 * when the compressed stream is damaged, NAD_EIO on a read error. */
nad_status nad_dfile_read(nad_dfile *f, void *buf, uint64_t n, nad_err *e);

/* NAD_OK when the content ends here (for gzip: the stream ends cleanly, CRC
 * and length checked); NAD_EFORMAT naming the path when bytes follow (the
 * header and the file length disagree) or the gzip stream is damaged. */
nad_status nad_dfile_expect_end(nad_dfile *f, nad_err *e);

/* Closes f; safe on a closed or never-opened (zeroed) f. */
void nad_dfile_close(nad_dfile *f);

/* Reads a whole (small) file into a malloc'd buffer of at most max bytes;
 * caller frees *buf.  NAD_EFORMAT when the content exceeds max or a gzip
 * stream is damaged. */
nad_status nad_dfile_slurp(const char *path, uint64_t max, uint8_t **buf, uint64_t *len, nad_err *e);

#endif
