/*
 * A string → int hash map (open addressing, linear probing, FNV-1a) used by
 * the ONNX reader and writer to resolve tensor names in linear time.  Keys are
 * borrowed pointers; see onnx_internal.h.
 */
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"

/* FNV-1a: short, no tables, good enough spread for identifier-like names. */
static size_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

nad_status nad_name_map_init(nad_name_map *m, size_t expected)
{
    size_t cap = 16;
    memset(m, 0, sizeof *m);
    /* Keep the load factor under one half so probes stay short. */
    while (cap < expected * 2 + 1) {
        if (cap > SIZE_MAX / 4 / sizeof(char *))
            return NAD_ENOMEM;
        cap *= 2;
    }
    m->keys = calloc(cap, sizeof *m->keys);
    m->vals = calloc(cap, sizeof *m->vals);
    if (!m->keys || !m->vals) {
        nad_name_map_free(m);
        return NAD_ENOMEM;
    }
    m->cap = cap;
    return NAD_OK;
}

int nad_name_map_get(const nad_name_map *m, const char *key)
{
    if (!m->cap)
        return -1;
    for (size_t i = hash_str(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i])
            return -1;
        if (strcmp(m->keys[i], key) == 0)
            return m->vals[i];
    }
}

/* Doubles the table and re-inserts every entry; -1 when out of memory. */
static int rehash(nad_name_map *m)
{
    nad_name_map bigger;
    if (nad_name_map_init(&bigger, m->cap) != NAD_OK)
        return -1;
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i])
            nad_name_map_put(&bigger, m->keys[i], m->vals[i]);
    nad_name_map_free(m);
    *m = bigger;
    return 0;
}

int nad_name_map_put(nad_name_map *m, const char *key, int val)
{
    if ((m->n + 1) * 2 > m->cap && rehash(m))
        return -1;
    for (size_t i = hash_str(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) {
            m->keys[i] = key;
            m->vals[i] = val;
            m->n++;
            return 1;
        }
        if (strcmp(m->keys[i], key) == 0)
            return 0;
    }
}

void nad_name_map_free(nad_name_map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}
