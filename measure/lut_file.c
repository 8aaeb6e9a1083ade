/*
 * nadapt — the lookup-table file (measure/README.md, "Lookup tables"): a
 * versioned line format, one record per line, read strictly (every count
 * bounded, every number finite, every reference declared before use, an
 * `end` line so a truncated file is told from a complete one) and written
 * atomically.
 *
 *     nadapt-lut 1
 *     backend model:models/eyeriss.yaml
 *     resource energy MAC
 *     layer 1 Conv x0=[1,c,28,28] y=[1,c,28,28] k=3x3 ... act=Relu
 *     point 1 16 32 3.52e+06
 *     network 9f1c0e2a33b4d5e6 8 -12.5 cnn_bn
 *     end
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/open_file.h"
#include "lut_internal.h"

#define LUT_MAGIC "nadapt-lut"

/* The reader's state: the table so far and where it is. */
typedef struct reader {
    const char *path;
    int line;
    nad_lut *t;
    int order[NAD_RES_COUNT]; /* resource of each value column   */
    int n_res;
    int stage;                /* 0 magic, 1 backend, 2 body, 3 end */
    long entries;
} reader;

/* "PATH:LINE: message" as NAD_EFORMAT. */
static nad_status bad(reader *rd, nad_err *e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static nad_status bad(reader *rd, nad_err *e, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nad_errf(e, NAD_EFORMAT, "%s:%d: %s", rd->path, rd->line, msg);
}

/* Splits s at blanks into at most max tokens (s is modified); the count. */
static int split(char *s, char **tok, int max)
{
    int n = 0;
    for (char *p = s; *p && n < max;) {
        while (*p == ' ' || *p == '\t')
            *p++ = 0;
        if (!*p)
            break;
        tok[n++] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
    }
    return n;
}

/* A whole-token integer in [lo, hi]; 0 on success. */
static int parse_int(const char *s, int64_t lo, int64_t hi, int64_t *v)
{
    char *end = NULL;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end || x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

/* A whole-token finite number; 0 on success. */
static int parse_num(const char *s, double *v)
{
    char *end = NULL;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end || !isfinite(x) || (errno == ERANGE && fabs(x) > 1))
        return -1;
    *v = x;
    return 0;
}

/* "resource NAME UNIT" (before any layer). */
static nad_status rd_resource(reader *rd, char **tok, int n, nad_err *e)
{
    nad_resource r = n == 3 ? nad_resource_from_name(tok[1]) : NAD_RES_COUNT;
    if (n != 3)
        return bad(rd, e, "resource needs a name and a unit");
    if (r == NAD_RES_COUNT || r == NAD_RES_MACS || r == NAD_RES_PARAMS)
        return bad(rd, e, "resource '%.40s' is not energy, latency or dram", tok[1]);
    if (rd->t->has[r])
        return bad(rd, e, "resource '%s' given twice", tok[1]);
    if (rd->t->n_layers || rd->t->n_nets)
        return bad(rd, e, "resource lines must come before layers");
    if (strlen(tok[2]) >= sizeof rd->t->unit[r])
        return bad(rd, e, "unit '%.20s...' too long", tok[2]);
    rd->t->has[r] = 1;
    snprintf(rd->t->unit[r], sizeof rd->t->unit[r], "%s", tok[2]);
    rd->order[rd->n_res++] = r;
    return NAD_OK;
}

/* "layer ID KEY..." with ID the next number; rest is the line after ID. */
static nad_status rd_layer(reader *rd, char *rest, nad_err *e)
{
    char *end = NULL;
    errno = 0;
    long id = strtol(rest, &end, 10);
    if (errno || end == rest || (*end != ' ' && *end != '\t') || id != rd->t->n_layers + 1)
        return bad(rd, e, "layer needs the next id (%d) and a key", rd->t->n_layers + 1);
    while (*end == ' ' || *end == '\t')
        end++;
    if (!*end)
        return bad(rd, e, "layer %ld has no key", id);
    if (strlen(end) >= LUT_KEY_MAX)
        return bad(rd, e, "layer %ld: key longer than %d bytes", id, LUT_KEY_MAX - 1);
    if (lut_find_layer(rd->t, end))
        return bad(rd, e, "layer %ld: key given twice", id);
    if (++rd->entries > LUT_MAX_ENTRIES)
        return bad(rd, e, "more than %d entries", LUT_MAX_ENTRIES);
    lut_layer *l;
    return lut_layer_add(rd->t, end, &l, e);
}

/* "point ID IN OUT V..." (one non-negative value per resource). */
static nad_status rd_point(reader *rd, char **tok, int n, nad_err *e)
{
    int64_t id, ic, oc;
    double v[NAD_RES_COUNT] = {0};
    if (n != 4 + rd->n_res)
        return bad(rd, e, "point needs a layer id, two channel counts and %d values", rd->n_res);
    if (parse_int(tok[1], 1, rd->t->n_layers, &id))
        return bad(rd, e, "point: layer '%.20s' is not declared above", tok[1]);
    if (parse_int(tok[2], 1, (int64_t)LUT_MAX_CH * 1000, &ic) || parse_int(tok[3], 1, LUT_MAX_CH, &oc))
        return bad(rd, e, "point: channel counts '%.20s' '%.20s' out of range", tok[2], tok[3]);
    for (int k = 0; k < rd->n_res; k++) {
        double x;
        if (parse_num(tok[4 + k], &x) || x < 0)
            return bad(rd, e, "point: value '%.30s' is not a finite non-negative number", tok[4 + k]);
        v[rd->order[k]] = x;
    }
    if (++rd->entries > LUT_MAX_ENTRIES)
        return bad(rd, e, "more than %d entries", LUT_MAX_ENTRIES);
    nad_err pe;
    if (lut_point_add(&rd->t->layers[id - 1], ic, oc, v, &pe))
        return bad(rd, e, "%s", pe.msg);
    return NAD_OK;
}

/* "network HASH N_UNITS V... NAME" (values may be negative). */
static nad_status rd_network(reader *rd, char **tok, int n, nad_err *e)
{
    lut_net net;
    memset(&net, 0, sizeof net);
    int64_t nu;
    char *end = NULL;
    if (n != 4 + rd->n_res)
        return bad(rd, e, "network needs a hash, a layer count, %d values and a name", rd->n_res);
    errno = 0;
    net.hash = strtoull(tok[1], &end, 16);
    if (errno || strlen(tok[1]) != 16 || *end)
        return bad(rd, e, "network: hash '%.20s' is not 16 hex digits", tok[1]);
    if (parse_int(tok[2], 1, 1000000, &nu))
        return bad(rd, e, "network: layer count '%.20s' out of range", tok[2]);
    net.n_units = (int)nu;
    for (int k = 0; k < rd->n_res; k++)
        if (parse_num(tok[3 + k], &net.overhead[rd->order[k]]))
            return bad(rd, e, "network: value '%.30s' is not a finite number", tok[3 + k]);
    snprintf(net.name, sizeof net.name, "%s", tok[3 + rd->n_res]);
    if (++rd->entries > LUT_MAX_ENTRIES)
        return bad(rd, e, "more than %d entries", LUT_MAX_ENTRIES);
    nad_err pe;
    if (lut_net_add(rd->t, &net, &pe))
        return bad(rd, e, "%s", pe.msg);
    return NAD_OK;
}

/* One line (no newline) in the order magic, backend, body, end. */
static nad_status rd_line(reader *rd, char *s, nad_err *e)
{
    char copy[LUT_MAX_LINE + 2], *tok[4 + NAD_RES_COUNT + 1];
    if (!s[0] || s[0] == '#')
        return NAD_OK;
    if (rd->stage == 3)
        return bad(rd, e, "text after 'end'");
    snprintf(copy, sizeof copy, "%s", s);
    int n = split(copy, tok, 4 + NAD_RES_COUNT + 1);
    if (n == 0)
        return NAD_OK;
    if (rd->stage == 0) {
        int64_t v;
        if (n != 2 || strcmp(tok[0], LUT_MAGIC))
            return bad(rd, e, "not a nadapt lookup table (first line must be '%s %d')", LUT_MAGIC, LUT_VERSION);
        if (parse_int(tok[1], 1, 1000000, &v) || v != LUT_VERSION)
            return bad(rd, e, "format version '%.20s', this nadapt reads version %d (rebuild with nadapt lut build)",
                       tok[1], LUT_VERSION);
        rd->stage = 1;
        return NAD_OK;
    }
    if (rd->stage == 1) {
        const char *spec = n >= 2 && !strcmp(tok[0], "backend") ? s + strspn(s, " \t") + 7 : NULL;
        if (!spec || strlen(spec) >= sizeof rd->t->spec)
            return bad(rd, e, "second line must be 'backend SPEC' (at most %zu bytes)", sizeof rd->t->spec - 1);
        snprintf(rd->t->spec, sizeof rd->t->spec, "%s", spec + strspn(spec, " \t"));
        rd->stage = 2;
        return NAD_OK;
    }
    if (!strcmp(tok[0], "resource"))
        return rd_resource(rd, tok, n, e);
    if (!rd->n_res)
        return bad(rd, e, "'%.20s' before any resource line", tok[0]);
    if (!strcmp(tok[0], "layer") && n >= 3)
        return rd_layer(rd, strstr(s, "layer") + 6, e);
    if (!strcmp(tok[0], "point"))
        return rd_point(rd, tok, n, e);
    if (!strcmp(tok[0], "network"))
        return rd_network(rd, tok, n, e);
    if (!strcmp(tok[0], "end") && n == 1) {
        rd->stage = 3;
        return NAD_OK;
    }
    return bad(rd, e, "unknown record '%.20s' (resource, layer, point, network, end)", tok[0]);
}

/* Reads every line of f into rd. */
static nad_status rd_file(reader *rd, FILE *f, nad_err *e)
{
    char buf[LUT_MAX_LINE + 2];
    nad_status rc = NAD_OK;
    while (!rc && fgets(buf, sizeof buf, f)) {
        rd->line++;
        size_t len = strlen(buf);
        if (len && buf[len - 1] == '\n')
            buf[--len] = 0;
        else if (!feof(f))
            return bad(rd, e, "line longer than %d bytes", LUT_MAX_LINE);
        else
            return bad(rd, e, "truncated: the last line has no newline (rebuild with nadapt lut build)");
        if (len && buf[len - 1] == '\r')
            buf[--len] = 0;
        if (strlen(buf) != len)
            return bad(rd, e, "NUL byte in the line");
        rc = rd_line(rd, buf, e);
    }
    if (!rc && ferror(f))
        return nad_errf(e, NAD_EIO, "%s: read error", rd->path);
    if (!rc && rd->stage != 3)
        return bad(rd, e, "truncated: no 'end' line (a build was interrupted while writing? rebuild with nadapt "
                   "lut build)");
    return rc;
}

/* See lut_internal.h. */
nad_status lut_read(const char *path, nad_lut **out, nad_err *e)
{
    nad_status rc = NAD_OK;
    *out = NULL;
    FILE *f = nad_fopen_regular(path, &rc, e);
    if (!f)
        return rc;
    reader rd;
    memset(&rd, 0, sizeof rd);
    rd.path = path;
    rd.t = calloc(1, sizeof *rd.t);
    if (!rd.t) {
        fclose(f);
        return nad_errf(e, NAD_ENOMEM, "%s: out of memory", path);
    }
    snprintf(rd.t->path, sizeof rd.t->path, "%s", path);
    rc = rd_file(&rd, f, e);
    fclose(f);
    if (!rc && !rd.n_res)
        rc = nad_errf(e, NAD_EFORMAT, "%s: holds no resource line", path);
    if (rc) {
        nad_lut_free(rd.t);
        return rc;
    }
    *out = rd.t;
    return NAD_OK;
}

/* ---- writing -------------------------------------------------------------- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

/* Appends printf output to b (sets b->oom on failure). */
static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !b->oom; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 65536) + (size_t)n + 1;
        char *p = realloc(b->s, cap);
        if (!p)
            b->oom = 1;
        else
            b->s = p, b->cap = cap;
    }
}

/* The values of v for the held resources, in resource order. */
static void put_values(sbuf *b, const nad_lut *t, const double *v)
{
    for (int r = 0; r < NAD_RES_COUNT; r++)
        if (t->has[r])
            put(b, " %.17g", v[r]);
}

/* See lut_internal.h. */
nad_status lut_write(const nad_lut *t, const char *path, nad_err *e)
{
    sbuf b = {0};
    put(&b, "%s %d\nbackend %s\n", LUT_MAGIC, LUT_VERSION, t->spec);
    put(&b, "# per-layer costs over (input channels, output channels); format: measure/README.md\n");
    for (int r = 0; r < NAD_RES_COUNT; r++)
        if (t->has[r])
            put(&b, "resource %s %s\n", nad_resource_name((nad_resource)r), t->unit[r]);
    for (int i = 0; i < t->n_layers; i++) {
        const lut_layer *l = &t->layers[i];
        put(&b, "layer %d %s\n", i + 1, l->key);
        for (int k = 0; k < l->n; k++) {
            put(&b, "point %d %lld %lld", i + 1, (long long)l->p[k].in_c, (long long)l->p[k].out_c);
            put_values(&b, t, l->p[k].v);
            put(&b, "\n");
        }
    }
    for (int i = 0; i < t->n_nets; i++) {
        put(&b, "network %016llx %d", (unsigned long long)t->nets[i].hash, t->nets[i].n_units);
        put_values(&b, t, t->nets[i].overhead);
        put(&b, " %s\n", t->nets[i].name);
    }
    put(&b, "end\n");
    nad_status rc = b.oom ? nad_errf(e, NAD_ENOMEM, "%s: out of memory writing the table", path)
                          : nad_write_atomic(path, b.s, b.len, e);
    free(b.s);
    return rc;
}
