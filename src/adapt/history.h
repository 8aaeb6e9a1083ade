/*
 * nadapt — the run directory's history.csv (internal to the adapter): one row
 * per network the run passed through, rewritten whole (temporary name +
 * rename) after every iteration, and read back by --resume.
 *
 * Columns: iteration (0 = the original, "final" = after long fine-tuning),
 * group, channels_before, channels_after, energy_<unit>, latency_s, macs,
 * params, dram_accesses ("nan" where no back-end reports one),
 * holdout_top1, test_top1 (-1: not measured),
 * seconds.  Numbers are written with %.17g so that a resumed run reads back
 * exactly what the interrupted one computed.
 */
#ifndef NAD_ADAPT_HISTORY_H
#define NAD_ADAPT_HISTORY_H

#include "nadapt/backend.h"
#include "nadapt/status.h"

typedef struct nad_hist_row {
    int iteration; /* 0 .. ; -1 for the final row                 */
    char group[128];
    int ch_before, ch_after;
    double values[NAD_RES_COUNT];
    double holdout, test;
    double seconds;
} nad_hist_row;

typedef struct nad_history {
    nad_hist_row *rows;
    int n, cap;
    char energy_unit[16];
} nad_history;

/* Appends a row (copied); NAD_ENOMEM. */
nad_status nad_history_add(nad_history *h, const nad_hist_row *r, nad_err *e);

/* Writes h to path atomically. */
nad_status nad_history_save(const nad_history *h, const char *path, nad_err *e);

/* Reads path into a new history (h zeroed first).  NAD_EFORMAT "PATH:LINE:
 * problem" for a file that is not a history of this unit or is damaged. */
nad_status nad_history_load(const char *path, const char *energy_unit, nad_history *h, nad_err *e);

/* Frees the rows. */
void nad_history_free(nad_history *h);

#endif
