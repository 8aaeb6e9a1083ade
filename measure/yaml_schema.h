/*
 * nadapt — strict YAML schema helpers (internal) shared by the accelerator
 * (arch.c) and workload (workload.c) loaders.
 *
 * A file is loaded whole into a libyaml document (yaml_parser_load), so every
 * node keeps its line for messages.  The helpers read typed fields out of a
 * mapping and fail with one line "FILE:LINE: CTX.key: problem", where CTX names
 * the enclosing object ("levels[2]", "layers[5] (conv2)").  Keys a loader does
 * not list are rejected with the closest known key as a suggestion, because a
 * misspelt optional key (bandwith) would otherwise silently keep its default.
 */
#ifndef NAD_MEASURE_YAML_SCHEMA_H
#define NAD_MEASURE_YAML_SCHEMA_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "nadapt/status.h"

typedef struct nad_yaml {
    yaml_document_t doc;
    int loaded; /* doc must be deleted */
    const char *path;
} nad_yaml;

/*
 * Parses path into y.  Returns NAD_EIO when the file cannot be opened,
 * NAD_EFORMAT with libyaml's problem, line and column for a syntax error or
 * an empty document.  Call nad_yaml_close(y) whatever the result.
 */
nad_status nad_yaml_open(const char *path, nad_yaml *y, nad_err *e);

/* Frees the document; safe on a y that failed to open (zeroed first). */
void nad_yaml_close(nad_yaml *y);

/* The document's root node (non-NULL after a successful open). */
yaml_node_t *nad_yaml_root(nad_yaml *y);

/* 1-based line of node n. */
int nad_yaml_line(const yaml_node_t *n);

/* Node by index (for sequence items); NULL when out of range. */
yaml_node_t *nad_yaml_node(nad_yaml *y, int index);

/*
 * Checks that n is a mapping whose keys are all in known (NULL-terminated)
 * and appear once.  Unknown key: NAD_EFORMAT "FILE:LINE: ctx.key: unknown key
 * (did you mean 'x'?)".
 */
nad_status nad_yaml_check_keys(nad_yaml *y, yaml_node_t *n, const char *ctx, const char *const *known, nad_err *e);

/* Checks that n is a mapping / sequence; ctx names it in the message. */
nad_status nad_yaml_expect_map(nad_yaml *y, yaml_node_t *n, const char *ctx, nad_err *e);
nad_status nad_yaml_expect_seq(nad_yaml *y, yaml_node_t *n, const char *ctx, nad_err *e);

/* Value node of key in mapping map, or NULL when absent. */
yaml_node_t *nad_yaml_get(nad_yaml *y, yaml_node_t *map, const char *key);

/* Scalar text of n (NUL-terminated by libyaml), or NULL when n is not a scalar. */
const char *nad_yaml_scalar(const yaml_node_t *n);

/*
 * Typed readers.  A missing key leaves *out untouched and returns NAD_OK
 * unless required, in which case it is NAD_EFORMAT "missing required field".
 * A value of the wrong type is NAD_EFORMAT naming the expected type.  *found
 * (may be NULL) is set to 1 when the key was present.
 */
nad_status nad_yaml_int(nad_yaml *y, yaml_node_t *map, const char *ctx, const char *key, int required,
                        int64_t *out, int *found, nad_err *e);
nad_status nad_yaml_num(nad_yaml *y, yaml_node_t *map, const char *ctx, const char *key, int required,
                        double *out, int *found, nad_err *e);
nad_status nad_yaml_bool(nad_yaml *y, yaml_node_t *map, const char *ctx, const char *key, int required, int *out,
                         int *found, nad_err *e);
nad_status nad_yaml_str(nad_yaml *y, yaml_node_t *map, const char *ctx, const char *key, int required, char *out,
                        size_t size, int *found, nad_err *e);

/* Parses a scalar node as an integer / number; NAD_EFORMAT naming ctx.key. */
nad_status nad_yaml_node_int(nad_yaml *y, yaml_node_t *n, const char *ctx, const char *key, int64_t *out,
                             nad_err *e);
nad_status nad_yaml_node_num(nad_yaml *y, yaml_node_t *n, const char *ctx, const char *key, double *out,
                             nad_err *e);

/*
 * Index of s in names[0..n) (exact match), or -1.  When -1 and e is given,
 * writes "FILE:LINE: ctx.key: 'v' is not one of a, b, c" with NAD_EFORMAT
 * into e (the caller returns that status).
 */
int nad_yaml_enum(nad_yaml *y, yaml_node_t *n, const char *ctx, const char *key, const char *const *names,
                  int count, nad_err *e);

/* The known name closest to s by edit distance, or NULL when none is close
 * enough to be a plausible typo (distance > max(2, len/3)). */
const char *nad_yaml_closest(const char *s, const char *const *known);

#endif /* NAD_MEASURE_YAML_SCHEMA_H */
