/* Strict YAML schema helpers shared by the arch and workload loaders; see yaml_schema.h. */
#include "yaml_schema.h"

#include "core/open_file.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deepest nesting of sequences and mappings a file may have: targets,
 * workloads and run configs need about 4; 64 leaves room for anything sane. */
#define NAD_YAML_MAX_DEPTH 64

/* The syntax-error message for a parser that failed (marks are 0-based;
 * editors count from 1). */
static nad_status syntax_error(const char *path, const yaml_parser_t *p, nad_err *e)
{
    return nad_errf(e, NAD_EFORMAT, "%s:%zu:%zu: YAML syntax error: %s%s%s", path, p->problem_mark.line + 1,
                    p->problem_mark.column + 1, p->problem ? p->problem : "unknown problem", p->context ? " " : "",
                    p->context ? p->context : "");
}

/*
 * Reads f's events once, before the document is built: fails on a syntax
 * error, on nesting deeper than NAD_YAML_MAX_DEPTH and on a second document.
 * Why: libyaml 0.2.5's loader takes time quadratic in the nesting depth
 * (tens of thousands of '[' hang it for minutes), while the event parser is
 * linear and stops here at the first level too deep.  A second document would
 * be silently ignored by yaml_parser_load, like any stray input it is an error.
 */
static nad_status prescan(const char *path, FILE *f, nad_err *e)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    nad_status rc = NAD_OK;
    int depth = 0, docs = 0, done = 0;
    if (!yaml_parser_initialize(&parser))
        return nad_errf(e, NAD_ENOMEM, "%s: cannot initialise the YAML parser", path);
    yaml_parser_set_input_file(&parser, f);
    while (!done && !rc) {
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = syntax_error(path, &parser, e);
            break;
        }
        size_t line = ev.start_mark.line + 1;
        switch (ev.type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++depth > NAD_YAML_MAX_DEPTH)
                rc = nad_errf(e, NAD_EFORMAT, "%s:%zu: nesting deeper than %d", path, line, NAD_YAML_MAX_DEPTH);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1)
                rc = nad_errf(e, NAD_EFORMAT, "%s:%zu: a second YAML document; one per file", path, line);
            break;
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc;
}

nad_status nad_yaml_open(const char *path, nad_yaml *y, nad_err *e)
{
    nad_status rc = NAD_OK;
    yaml_parser_t parser;
    int parser_ready = 0;
    FILE *f = NULL;

    memset(y, 0, sizeof *y);
    y->path = path;
    /* Never blocks: a FIFO or device is refused, a directory named as such. */
    f = nad_fopen_regular(path, &rc, e);
    if (!f)
        goto out;
    if ((rc = prescan(path, f, e)))
        goto out;
    if (fseek(f, 0, SEEK_SET) != 0) {
        rc = nad_errf(e, NAD_EIO, "%s: cannot rewind: %s", path, strerror(errno));
        goto out;
    }
    if (!yaml_parser_initialize(&parser)) {
        rc = nad_errf(e, NAD_ENOMEM, "%s: cannot initialise the YAML parser", path);
        goto out;
    }
    parser_ready = 1;
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &y->doc)) {
        rc = syntax_error(path, &parser, e);
        goto out;
    }
    y->loaded = 1;
    if (!yaml_document_get_root_node(&y->doc)) {
        rc = nad_errf(e, NAD_EFORMAT, "%s:1: the file is empty", path);
        goto out;
    }
out:
    if (parser_ready)
        yaml_parser_delete(&parser);
    if (f)
        fclose(f);
    return rc;
}

void nad_yaml_close(nad_yaml *y)
{
    if (y && y->loaded) {
        yaml_document_delete(&y->doc);
        y->loaded = 0;
    }
}

yaml_node_t *nad_yaml_root(nad_yaml *y)
{
    return y->loaded ? yaml_document_get_root_node(&y->doc) : NULL;
}

int nad_yaml_line(const yaml_node_t *n)
{
    return n ? (int)n->start_mark.line + 1 : 0;
}

yaml_node_t *nad_yaml_node(nad_yaml *y, int index)
{
    return yaml_document_get_node(&y->doc, index);
}

const char *nad_yaml_scalar(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return NULL;
    return (const char *)n->data.scalar.value;
}

/* Levenshtein distance of a and b, both short keys (< 64 chars). */
static int edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    int row[65];
    if (la > 64 || lb > 64)
        return 1000;
    for (int j = 0; j <= lb; j++)
        row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int up = row[j];
            int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            int best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *nad_yaml_closest(const char *s, const char *const *known)
{
    const char *best = NULL;
    int best_d = 1000;
    for (int i = 0; known[i]; i++) {
        int d = edit_distance(s, known[i]);
        if (d < best_d) {
            best_d = d;
            best = known[i];
        }
    }
    int limit = (int)strlen(s) / 3;
    if (limit < 2)
        limit = 2;
    return best_d <= limit ? best : NULL;
}

/* Writes "a, b, c" (the known names) into buf for messages. */
static void join_names(char *buf, size_t size, const char *const *names, int count)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; (count < 0 ? names[i] != NULL : i < count) && used + 1 < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

nad_status nad_yaml_expect_map(nad_yaml *y, yaml_node_t *n, const char *ctx, nad_err *e)
{
    if (n && n->type == YAML_MAPPING_NODE)
        return NAD_OK;
    return nad_errf(e, NAD_EFORMAT, "%s:%d: %s: expected a mapping (key: value pairs)", y->path, nad_yaml_line(n),
                    ctx);
}

nad_status nad_yaml_expect_seq(nad_yaml *y, yaml_node_t *n, const char *ctx, nad_err *e)
{
    if (n && n->type == YAML_SEQUENCE_NODE)
        return NAD_OK;
    return nad_errf(e, NAD_EFORMAT, "%s:%d: %s: expected a list", y->path, nad_yaml_line(n), ctx);
}

nad_status nad_yaml_check_keys(nad_yaml *y, yaml_node_t *n, const char *ctx, const char *const *known, nad_err *e)
{
    nad_status rc = nad_yaml_expect_map(y, n, ctx, e);
    if (rc)
        return rc;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = nad_yaml_node(y, p->key);
        const char *key = nad_yaml_scalar(k);
        if (!key)
            return nad_errf(e, NAD_EFORMAT, "%s:%d: %s: a key must be a plain word", y->path, nad_yaml_line(k), ctx);
        int ok = 0;
        for (int i = 0; known[i]; i++)
            if (strcmp(key, known[i]) == 0)
                ok = 1;
        if (!ok) {
            const char *near = nad_yaml_closest(key, known);
            char list[256];
            join_names(list, sizeof list, known, -1);
            if (near)
                return nad_errf(e, NAD_EFORMAT, "%s:%d: %s.%s: unknown key (did you mean '%s'?)", y->path,
                                nad_yaml_line(k), ctx, key, near);
            return nad_errf(e, NAD_EFORMAT, "%s:%d: %s.%s: unknown key (known: %s)", y->path, nad_yaml_line(k), ctx,
                            key, list);
        }
        /* A repeated key would silently shadow the first value. */
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
            const char *prev = nad_yaml_scalar(nad_yaml_node(y, q->key));
            if (prev && strcmp(prev, key) == 0)
                return nad_errf(e, NAD_EFORMAT, "%s:%d: %s.%s: key given twice", y->path, nad_yaml_line(k), ctx,
                                key);
        }
    }
    return NAD_OK;
}

yaml_node_t *nad_yaml_get(nad_yaml *y, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const char *k = nad_yaml_scalar(nad_yaml_node(y, p->key));
        if (k && strcmp(k, key) == 0)
            return nad_yaml_node(y, p->value);
    }
    return NULL;
}

/* 1 when n is an unquoted scalar (a quoted "16" is a string, not a number). */
static int plain_scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

nad_status nad_yaml_node_int(nad_yaml *y, yaml_node_t *n, const char *ctx, const char *key, int64_t *out,
                             nad_err *e)
{
    const char *s = nad_yaml_scalar(n);
    char *end = NULL;
    long long v = 0;
    if (plain_scalar(n) && s[0]) {
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno == 0 && *end == '\0') {
            *out = (int64_t)v;
            return NAD_OK;
        }
    }
    return nad_errf(e, NAD_EFORMAT, "%s:%d: %s.%s: expected an integer, got '%s'", y->path, nad_yaml_line(n), ctx,
                    key, s ? s : (n && n->type == YAML_MAPPING_NODE ? "a mapping" : "a list"));
}

nad_status nad_yaml_node_num(nad_yaml *y, yaml_node_t *n, const char *ctx, const char *key, double *out, nad_err *e)
{
    const char *s = nad_yaml_scalar(n);
    char *end = NULL;
    if (plain_scalar(n) && s[0]) {
        errno = 0;
        double v = strtod(s, &end);
        if (errno == 0 && *end == '\0' && isfinite(v)) {
            *out = v;
            return NAD_OK;
        }
    }
    return nad_errf(e, NAD_EFORMAT, "%s:%d: %s.%s: expected a number, got '%s'", y->path, nad_yaml_line(n), ctx, key,
                    s ? s : (n && n->type == YAML_MAPPING_NODE ? "a mapping" : "a list"));
}

/* Shared front of the typed readers: the value node, or a missing-field error. */
static nad_status lookup(nad_yaml *y, yaml_node_t *map, const char *ctx, const char *key, int required,
                         yaml_node_t **val, int *found, nad_err *e)
{
    *val = nad_yaml_get(y, map, key);
    if (found)
        *found = *val != NULL;
    if (!*val && required)
        return nad_errf(e, NAD_EFORMAT, "%s:%d: %s: missing required field '%s'", y->path, nad_yaml_line(map), ctx,
                        key);
    return NAD_OK;
}

nad_status nad_yaml_int(nad_yaml *y, yaml_node_t *map, const char *ctx, const char *key, int required,
                        int64_t *out, int *found, nad_err *e)
{
    yaml_node_t *v;
    nad_status rc = lookup(y, map, ctx, key, required, &v, found, e);
    if (rc || !v)
        return rc;
    return nad_yaml_node_int(y, v, ctx, key, out, e);
}

nad_status nad_yaml_num(nad_yaml *y, yaml_node_t *map, const char *ctx, const char *key, int required,
                        double *out, int *found, nad_err *e)
{
    yaml_node_t *v;
    nad_status rc = lookup(y, map, ctx, key, required, &v, found, e);
    if (rc || !v)
        return rc;
    return nad_yaml_node_num(y, v, ctx, key, out, e);
}

nad_status nad_yaml_bool(nad_yaml *y, yaml_node_t *map, const char *ctx, const char *key, int required, int *out,
                         int *found, nad_err *e)
{
    yaml_node_t *v;
    nad_status rc = lookup(y, map, ctx, key, required, &v, found, e);
    if (rc || !v)
        return rc;
    const char *s = nad_yaml_scalar(v);
    if (plain_scalar(v) && strcmp(s, "true") == 0) {
        *out = 1;
        return NAD_OK;
    }
    if (plain_scalar(v) && strcmp(s, "false") == 0) {
        *out = 0;
        return NAD_OK;
    }
    return nad_errf(e, NAD_EFORMAT, "%s:%d: %s.%s: expected true or false, got '%s'", y->path, nad_yaml_line(v), ctx,
                    key, s ? s : "a collection");
}

nad_status nad_yaml_str(nad_yaml *y, yaml_node_t *map, const char *ctx, const char *key, int required, char *out,
                        size_t size, int *found, nad_err *e)
{
    yaml_node_t *v;
    nad_status rc = lookup(y, map, ctx, key, required, &v, found, e);
    if (rc || !v)
        return rc;
    const char *s = nad_yaml_scalar(v);
    if (!s || !s[0])
        return nad_errf(e, NAD_EFORMAT, "%s:%d: %s.%s: expected a non-empty string", y->path, nad_yaml_line(v), ctx,
                        key);
    if (strlen(s) >= size)
        return nad_errf(e, NAD_EINVAL, "%s:%d: %s.%s: '%s' is longer than %zu characters", y->path,
                        nad_yaml_line(v), ctx, key, s, size - 1);
    memcpy(out, s, strlen(s) + 1);
    return NAD_OK;
}

int nad_yaml_enum(nad_yaml *y, yaml_node_t *n, const char *ctx, const char *key, const char *const *names,
                  int count, nad_err *e)
{
    const char *s = nad_yaml_scalar(n);
    char list[256];
    for (int i = 0; s && i < count; i++)
        if (names[i] && strcmp(s, names[i]) == 0)
            return i;
    join_names(list, sizeof list, names, count);
    nad_errf(e, NAD_EFORMAT, "%s:%d: %s.%s: '%s' is not one of %s", y->path, nad_yaml_line(n), ctx, key,
             s ? s : "(a collection)", list);
    return -1;
}
