/*
 * nadapt — writing a file so that a reader (or a killed process) never sees
 * half of it: the bytes go to "PATH.tmp.PID" in the same directory, are
 * flushed, and renamed over PATH.  Anything at PATH that is not a regular
 * file (a directory, a device, a fifo), and a read-only file, is never
 * replaced.
 */
#ifndef NAD_CORE_ATOMIC_FILE_H
#define NAD_CORE_ATOMIC_FILE_H

#include <stddef.h>

#include "nadapt/status.h"

/* Writes data[0..len) to path; on failure path is unchanged, no temporary
 * file is left, and e says "PATH: why" (NAD_EIO).  Temporary files of path
 * left by a killed writer (its PID gone) are removed on the way. */
nad_status nad_write_atomic(const char *path, const void *data, size_t len, nad_err *e);

/* Checks, before long work, that nad_write_atomic(path) will be able to
 * write: path is absent or a writable regular file, and its directory takes
 * a new file (one is created and removed).  NAD_EIO naming path otherwise. */
nad_status nad_check_writable(const char *path, nad_err *e);

#endif
