/*
 * A bump allocator for the pieces of a ModelProto the writer builds; see
 * onnx_internal.h.  Each chunk is a malloc'd header followed by its bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"

struct nad_arena_chunk {
    nad_arena_chunk *next;
    size_t used, size;
    max_align_t data[]; /* max_align_t keeps every returned pointer aligned */
};

#define NAD_ARENA_CHUNK 65536

void *nad_arena_alloc(nad_arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    size_t bytes = n * size;
    size_t align = sizeof(max_align_t);
    if (bytes > SIZE_MAX - align)
        return NULL;
    bytes = (bytes + align - 1) / align * align;
    if (!bytes)
        bytes = align;
    nad_arena_chunk *c = a->head;
    if (!c || c->size - c->used < bytes) {
        size_t sz = bytes > NAD_ARENA_CHUNK ? bytes : NAD_ARENA_CHUNK;
        c = malloc(sizeof *c + sz);
        if (!c)
            return NULL;
        c->size = sz;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += bytes;
    memset(p, 0, bytes);
    return p;
}

char *nad_arena_strdup(nad_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = nad_arena_alloc(a, n, 1);
    if (d)
        memcpy(d, s, n);
    return d;
}

void nad_arena_free(nad_arena *a)
{
    while (a->head) {
        nad_arena_chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}
