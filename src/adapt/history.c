/*
 * nadapt — history.csv of a run directory (see history.h).
 */
#include "adapt/history.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"

#define HIST_COLS 12

/* The header line for a target whose energy unit is unit. */
static void header(char *buf, size_t size, const char *unit)
{
    snprintf(buf, size,
             "iteration,group,channels_before,channels_after,energy_%s,latency_s,macs,params,dram_accesses,"
             "holdout_top1,test_top1,seconds",
             unit);
}

/* See history.h. */
nad_status nad_history_add(nad_history *h, const nad_hist_row *r, nad_err *e)
{
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 32;
        nad_hist_row *p = realloc(h->rows, (size_t)cap * sizeof *p);
        if (!p)
            return nad_errf(e, NAD_ENOMEM, "history: out of memory");
        h->rows = p;
        h->cap = cap;
    }
    h->rows[h->n++] = *r;
    return NAD_OK;
}

/* Appends printf output to a growing buffer; 0 on success. */
static int cat(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int cat(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*buf ? *buf + *len : NULL, *buf ? *cap - *len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return -1;
        if (*buf && *len + (size_t)n < *cap) {
            *len += (size_t)n;
            return 0;
        }
        size_t nc = (*cap + (size_t)n + 1) * 2;
        char *p = realloc(*buf, nc);
        if (!p)
            return -1;
        *buf = p;
        *cap = nc;
    }
}

/* A group name as a CSV field: quoted, inner quotes doubled. */
static int cat_field(char **buf, size_t *len, size_t *cap, const char *s)
{
    if (cat(buf, len, cap, "\""))
        return -1;
    for (; *s; s++)
        if (cat(buf, len, cap, *s == '"' ? "\"\"" : "%c", *s))
            return -1;
    return cat(buf, len, cap, "\"");
}

/* See history.h. */
nad_status nad_history_save(const nad_history *h, const char *path, nad_err *e)
{
    char *buf = NULL, hd[256];
    size_t len = 0, cap = 0;
    header(hd, sizeof hd, h->energy_unit);
    int bad = cat(&buf, &len, &cap, "%s\n", hd);
    for (int i = 0; i < h->n && !bad; i++) {
        const nad_hist_row *r = &h->rows[i];
        bad |= r->iteration < 0 ? cat(&buf, &len, &cap, "final,") : cat(&buf, &len, &cap, "%d,", r->iteration);
        bad |= cat_field(&buf, &len, &cap, r->group);
        bad |= cat(&buf, &len, &cap, ",%d,%d", r->ch_before, r->ch_after);
        for (int k = 0; k < NAD_RES_COUNT; k++)
            bad |= cat(&buf, &len, &cap, ",%.17g", r->values[k]);
        bad |= cat(&buf, &len, &cap, ",%.17g,%.17g,%.3f\n", r->holdout, r->test, r->seconds);
    }
    if (bad) {
        free(buf);
        return nad_errf(e, NAD_ENOMEM, "%s: out of memory", path);
    }
    nad_status rc = nad_write_atomic(path, buf, len, e);
    free(buf);
    return rc;
}

/* Splits one CSV line into fields (quoted fields with doubled quotes);
 * returns the count or -1 when malformed.  Modifies line. */
static int split_csv(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max)
            return -1;
        if (*p == '"') {
            char *w = ++p;
            f[n++] = w;
            for (;; p++) {
                if (!*p)
                    return -1;
                if (*p == '"' && p[1] == '"')
                    *w++ = '"', p++;
                else if (*p == '"')
                    break;
                else
                    *w++ = *p;
            }
            *w = 0;
            p++;
        } else {
            f[n++] = p;
            p += strcspn(p, ",");
        }
        if (!*p)
            return n;
        if (*p != ',')
            return -1;
        *p++ = 0;
    }
}

/* Parses a whole field as a finite-or-(-1) number; 0 on success. */
static int num(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return !*s || *end || errno || isnan(*out);
}

/* Parses one data row. */
static int parse_row(char *line, nad_hist_row *r)
{
    char *f[HIST_COLS + 1];
    if (split_csv(line, f, HIST_COLS + 1) != HIST_COLS)
        return -1;
    memset(r, 0, sizeof *r);
    double d;
    if (strcmp(f[0], "final") == 0)
        r->iteration = -1;
    else if (num(f[0], &d) || d < 0 || d > 100000 || d != (int)d)
        return -1;
    else
        r->iteration = (int)d;
    if (strlen(f[1]) >= sizeof r->group)
        return -1;
    strcpy(r->group, f[1]);
    if (num(f[2], &d) || d < 0 || d > 1e9)
        return -1;
    r->ch_before = (int)d;
    if (num(f[3], &d) || d < 0 || d > 1e9)
        return -1;
    r->ch_after = (int)d;
    for (int k = 0; k < NAD_RES_COUNT; k++) /* "nan": no back-end reports it */
        if (strcmp(f[4 + k], "nan") ? num(f[4 + k], &r->values[k]) || r->values[k] < 0 : (r->values[k] = NAN, 0))
            return -1;
    return num(f[9], &r->holdout) || num(f[10], &r->test) || num(f[11], &r->seconds);
}

/* See history.h. */
nad_status nad_history_load(const char *path, const char *energy_unit, nad_history *h, nad_err *e)
{
    memset(h, 0, sizeof *h);
    snprintf(h->energy_unit, sizeof h->energy_unit, "%s", energy_unit);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return nad_errf(e, NAD_EFORMAT, "%s: cannot open: %s", path, strerror(errno));
    char line[2048], hd[256];
    header(hd, sizeof hd, energy_unit);
    nad_status rc = NAD_OK;
    int ln = 0;
    while (fgets(line, sizeof line, fp)) {
        ln++;
        size_t l = strlen(line);
        if (l == 0 || line[l - 1] != '\n') {
            rc = nad_errf(e, NAD_EFORMAT, "%s:%d: line is truncated or too long", path, ln);
            break;
        }
        line[l - 1] = 0;
        if (ln == 1) {
            if (strcmp(line, hd)) {
                rc = nad_errf(e, NAD_EFORMAT, "%s:1: not the history of an nadapt run on this target", path);
                break;
            }
            continue;
        }
        nad_hist_row r;
        if (parse_row(line, &r)) {
            rc = nad_errf(e, NAD_EFORMAT, "%s:%d: malformed row", path, ln);
            break;
        }
        int want = h->n;
        if ((r.iteration >= 0 && r.iteration != want) || (r.iteration < 0 && want == 0)) {
            rc = nad_errf(e, NAD_EFORMAT, "%s:%d: iteration %d out of sequence", path, ln, r.iteration);
            break;
        }
        if (h->n > 0 && h->rows[h->n - 1].iteration < 0) {
            rc = nad_errf(e, NAD_EFORMAT, "%s:%d: row after the final row", path, ln);
            break;
        }
        if ((rc = nad_history_add(h, &r, e)))
            break;
    }
    if (!rc && ferror(fp))
        rc = nad_errf(e, NAD_EIO, "%s: read error", path);
    if (!rc && h->n == 0)
        rc = nad_errf(e, NAD_EFORMAT, "%s: has no rows", path);
    fclose(fp);
    if (rc)
        nad_history_free(h);
    return rc;
}

/* See history.h. */
void nad_history_free(nad_history *h)
{
    free(h->rows);
    h->rows = NULL;
    h->n = h->cap = 0;
}
