/*
 * nadapt — opening an input file the way every reader should: without ever
 * blocking (a FIFO or a device given as a model, target or dataset would
 * otherwise hang in open or read forever) and only when it is a regular file.
 */
#ifndef NAD_CORE_OPEN_FILE_H
#define NAD_CORE_OPEN_FILE_H

#include <stdio.h>

#include "nadapt/status.h"

/*
 * Opens path read-only with O_NONBLOCK, checks with fstat that it is a
 * regular file, then clears O_NONBLOCK.  Returns the descriptor (>= 0), or
 * -1 with e set: NAD_EIO "PATH: No such file or directory" (or the system's
 * reason), or "PATH: is a directory" / "PATH: not a regular file (a FIFO,
 * device or socket)" with NAD_EIO.  *rc receives the status (may be NULL).
 */
int nad_open_regular(const char *path, nad_status *rc, nad_err *e);

/* nad_open_regular as a stdio stream ("rb"); NULL with e and *rc set. */
FILE *nad_fopen_regular(const char *path, nad_status *rc, nad_err *e);

#endif
