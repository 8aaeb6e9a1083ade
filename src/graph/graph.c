/*
 * Graph storage: tensors, nodes, reference-counted weight blobs, copying and
 * compaction.  Shape inference and passes live in their own files; this file
 * only keeps the lists consistent.
 */
#include "graph/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_str(const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s ? s : "", n);
    return d;
}

/* Grows *arr (of elem-sized items, capacity *cap) to hold at least need items. */
static int grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

nad_graph *nad_graph_new(void)
{
    nad_graph *g = calloc(1, sizeof *g);
    if (g) {
        g->opset = 13;
        g->ir_version = 7;
    }
    return g;
}

int nad_graph_add_tensor(nad_graph *g, const char *name, nad_dtype dtype, nad_tensor_kind kind, int ndim,
                         const int64_t *dims)
{
    if (ndim < 0 || ndim > NAD_MAX_DIMS)
        return -1;
    if (grow((void **)&g->tensors, &g->cap_tensors, g->n_tensors + 1, sizeof *g->tensors))
        return -1;
    nad_tensor *t = &g->tensors[g->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = dup_str(name);
    if (!t->name)
        return -1;
    t->dtype = dtype;
    t->kind = kind;
    t->ndim = ndim;
    if (dims && ndim)
        memcpy(t->dims, dims, (size_t)ndim * sizeof dims[0]);
    t->batch_axis = kind == NAD_TK_ACT || kind == NAD_TK_INPUT ? 0 : -1;
    t->producer = -1;
    return g->n_tensors++;
}

int nad_graph_find_tensor(const nad_graph *g, const char *name)
{
    for (int i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0)
            return i;
    return -1;
}

int nad_graph_add_node(nad_graph *g, const char *name, nad_op op, int n_in, const int *in, int n_out,
                       const int *out, const nad_attr *attr)
{
    if (grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes))
        return -1;
    nad_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->name = dup_str(name);
    n->in = malloc((size_t)(n_in > 0 ? n_in : 1) * sizeof(int));
    n->out = malloc((size_t)(n_out > 0 ? n_out : 1) * sizeof(int));
    if (!n->name || !n->in || !n->out) {
        free(n->name);
        free(n->in);
        free(n->out);
        return -1;
    }
    n->op = op;
    n->n_in = n_in;
    n->n_out = n_out;
    if (n_in)
        memcpy(n->in, in, (size_t)n_in * sizeof(int));
    if (n_out)
        memcpy(n->out, out, (size_t)n_out * sizeof(int));
    if (attr)
        n->attr = *attr;
    for (int k = 0; k < n_out; k++)
        if (out[k] >= 0 && out[k] < g->n_tensors)
            g->tensors[out[k]].producer = g->n_nodes;
    return g->n_nodes++;
}

void nad_graph_relink(nad_graph *g)
{
    for (int i = 0; i < g->n_tensors; i++)
        g->tensors[i].producer = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_out; k++)
            if (g->nodes[i].out[k] >= 0)
                g->tensors[g->nodes[i].out[k]].producer = i;
}

static void free_node(nad_node *n)
{
    free(n->name);
    free(n->in);
    free(n->out);
}

static void free_tensor(nad_tensor *t)
{
    free(t->name);
    nad_blob_unref(t->blob);
}

/*
 * Dead-code elimination by a backward sweep from the graph outputs: a node is
 * live when one of its outputs is needed; its inputs then become needed.  Then
 * tensors nobody refers to are dropped and every index is renumbered, so later
 * passes can delete nodes by merely rewiring their consumers.
 */
nad_status nad_graph_compact(nad_graph *g, nad_err *e)
{
    char *need = calloc((size_t)g->n_tensors + 1, 1);
    char *live = calloc((size_t)g->n_nodes + 1, 1);
    int *remap = malloc(((size_t)g->n_tensors + 1) * sizeof(int));
    if (!need || !live || !remap) {
        free(need);
        free(live);
        free(remap);
        return nad_errf(e, NAD_ENOMEM, "out of memory compacting graph");
    }
    for (int i = 0; i < g->n_outputs; i++)
        need[g->outputs[i]] = 1;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        nad_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_out && !live[i]; k++)
            if (n->out[k] >= 0 && need[n->out[k]])
                live[i] = 1;
        if (!live[i])
            continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                need[n->in[k]] = 1;
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0)
                need[n->out[k]] = 1;
    }
    for (int i = 0; i < g->n_inputs; i++)
        need[g->inputs[i]] = 1;

    int nt = 0;
    for (int i = 0; i < g->n_tensors; i++) {
        if (need[i]) {
            remap[i] = nt;
            g->tensors[nt++] = g->tensors[i];
        } else {
            remap[i] = -1;
            free_tensor(&g->tensors[i]);
        }
    }
    g->n_tensors = nt;
    int nn = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (!live[i]) {
            free_node(&g->nodes[i]);
            continue;
        }
        nad_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++)
            n->in[k] = n->in[k] >= 0 ? remap[n->in[k]] : -1;
        for (int k = 0; k < n->n_out; k++)
            n->out[k] = n->out[k] >= 0 ? remap[n->out[k]] : -1;
        g->nodes[nn++] = *n;
    }
    g->n_nodes = nn;
    for (int i = 0; i < g->n_inputs; i++)
        g->inputs[i] = remap[g->inputs[i]];
    for (int i = 0; i < g->n_outputs; i++)
        g->outputs[i] = remap[g->outputs[i]];
    nad_graph_relink(g);
    free(need);
    free(live);
    free(remap);
    return NAD_OK;
}

nad_blob *nad_blob_new(size_t bytes)
{
    nad_blob *b = malloc(sizeof *b);
    if (!b)
        return NULL;
    /* aligned_alloc wants a multiple of the alignment; 64 suits AVX-512 loads. */
    size_t rounded = (bytes + 63) & ~(size_t)63;
    b->data = aligned_alloc(64, rounded ? rounded : 64);
    if (!b->data) {
        free(b);
        return NULL;
    }
    memset(b->data, 0, rounded ? rounded : 64);
    b->bytes = bytes;
    b->refs = 1;
    return b;
}

/* Reference counts are atomic: the adapter recovers proposals in parallel
 * threads, each a copy of one network sharing its weight blobs, and each
 * thread's copy-on-write drops references to the shared blobs. */
nad_blob *nad_blob_ref(nad_blob *b)
{
    if (b)
        __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
    return b;
}

void nad_blob_unref(nad_blob *b)
{
    if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        free(b->data);
        free(b);
    }
}

int64_t nad_tensor_numel(const nad_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->dims[i];
    return n;
}

static size_t dtype_size(nad_dtype dt)
{
    return dt == NAD_DT_INT64 ? 8 : 4;
}

nad_status nad_tensor_alloc(nad_tensor *t, nad_err *e)
{
    int64_t n = nad_tensor_numel(t);
    if (n < 0)
        return nad_errf(e, NAD_ESHAPE, "tensor '%s' has a negative size", t->name);
    nad_blob *b = nad_blob_new((size_t)n * dtype_size(t->dtype));
    if (!b)
        return nad_errf(e, NAD_ENOMEM, "out of memory allocating tensor '%s'", t->name);
    nad_blob_unref(t->blob);
    t->blob = b;
    return NAD_OK;
}

nad_status nad_tensor_make_writable(nad_tensor *t, nad_err *e)
{
    if (!t->blob || __atomic_load_n(&t->blob->refs, __ATOMIC_ACQUIRE) == 1)
        return NAD_OK;
    nad_blob *b = nad_blob_new(t->blob->bytes);
    if (!b)
        return nad_errf(e, NAD_ENOMEM, "out of memory copying tensor '%s'", t->name);
    memcpy(b->data, t->blob->data, t->blob->bytes);
    nad_blob_unref(t->blob);
    t->blob = b;
    return NAD_OK;
}

void nad_graph_free(nad_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_tensors; i++)
        free_tensor(&g->tensors[i]);
    for (int i = 0; i < g->n_nodes; i++)
        free_node(&g->nodes[i]);
    free(g->tensors);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g->name);
    free(g->producer_name);
    free(g);
}

static int *dup_ints(const int *v, int n)
{
    int *d = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    if (d && n)
        memcpy(d, v, (size_t)n * sizeof(int));
    return d;
}

nad_graph *nad_graph_copy(const nad_graph *src)
{
    nad_graph *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    *g = *src;
    g->tensors = NULL;
    g->nodes = NULL;
    g->n_tensors = g->n_nodes = g->cap_tensors = g->cap_nodes = 0;
    g->inputs = dup_ints(src->inputs, src->n_inputs);
    g->outputs = dup_ints(src->outputs, src->n_outputs);
    g->name = src->name ? dup_str(src->name) : NULL;
    g->producer_name = src->producer_name ? dup_str(src->producer_name) : NULL;
    g->tensors = calloc((size_t)src->n_tensors + 1, sizeof *g->tensors);
    g->nodes = calloc((size_t)src->n_nodes + 1, sizeof *g->nodes);
    if (!g->inputs || !g->outputs || !g->tensors || !g->nodes || (src->name && !g->name) ||
        (src->producer_name && !g->producer_name))
        goto fail;
    g->cap_tensors = src->n_tensors + 1;
    g->cap_nodes = src->n_nodes + 1;
    for (int i = 0; i < src->n_tensors; i++) {
        g->tensors[i] = src->tensors[i];
        g->tensors[i].name = dup_str(src->tensors[i].name);
        g->tensors[i].blob = NULL;
        g->n_tensors = i + 1;
        if (!g->tensors[i].name)
            goto fail;
        g->tensors[i].blob = nad_blob_ref(src->tensors[i].blob);
    }
    for (int i = 0; i < src->n_nodes; i++) {
        const nad_node *s = &src->nodes[i];
        nad_node *d = &g->nodes[i];
        *d = *s;
        d->name = dup_str(s->name);
        d->in = dup_ints(s->in, s->n_in);
        d->out = dup_ints(s->out, s->n_out);
        g->n_nodes = i + 1;
        if (!d->name || !d->in || !d->out)
            goto fail;
    }
    return g;
fail:
    nad_graph_free(g);
    return NULL;
}

static const char *const op_names[] = {
    [NAD_OP_CONV] = "Conv",
    [NAD_OP_GEMM] = "Gemm",
    [NAD_OP_MATMUL] = "MatMul",
    [NAD_OP_ADD] = "Add",
    [NAD_OP_SUB] = "Sub",
    [NAD_OP_MUL] = "Mul",
    [NAD_OP_DIV] = "Div",
    [NAD_OP_RELU] = "Relu",
    [NAD_OP_LEAKY_RELU] = "LeakyRelu",
    [NAD_OP_CLIP] = "Clip",
    [NAD_OP_SIGMOID] = "Sigmoid",
    [NAD_OP_HARD_SIGMOID] = "HardSigmoid",
    [NAD_OP_HARD_SWISH] = "HardSwish",
    [NAD_OP_TANH] = "Tanh",
    [NAD_OP_SOFTMAX] = "Softmax",
    [NAD_OP_MAXPOOL] = "MaxPool",
    [NAD_OP_AVGPOOL] = "AveragePool",
    [NAD_OP_GLOBAL_AVGPOOL] = "GlobalAveragePool",
    [NAD_OP_GLOBAL_MAXPOOL] = "GlobalMaxPool",
    [NAD_OP_FLATTEN] = "Flatten",
    [NAD_OP_RESHAPE] = "Reshape",
    [NAD_OP_TRANSPOSE] = "Transpose",
    [NAD_OP_CONCAT] = "Concat",
    [NAD_OP_PAD] = "Pad",
    [NAD_OP_BATCHNORM] = "BatchNormalization",
    [NAD_OP_DROPOUT] = "Dropout",
    [NAD_OP_IDENTITY] = "Identity",
    [NAD_OP_SQUEEZE] = "Squeeze",
    [NAD_OP_UNSQUEEZE] = "Unsqueeze",
    [NAD_OP_SHAPE] = "Shape",
    [NAD_OP_GATHER] = "Gather",
    [NAD_OP_SLICE] = "Slice",
    [NAD_OP_CAST] = "Cast",
};
_Static_assert(sizeof op_names / sizeof op_names[0] == NAD_OP_COUNT, "op_names must cover every nad_op");

const char *nad_op_name(nad_op op)
{
    return (unsigned)op < NAD_OP_COUNT ? op_names[op] : "?";
}

nad_op nad_op_from_name(const char *s)
{
    for (int i = 0; i < NAD_OP_COUNT; i++)
        if (strcmp(op_names[i], s) == 0)
            return (nad_op)i;
    return NAD_OP_COUNT;
}

char *nad_dims_str(const nad_tensor *t, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return buf;
    buf[0] = '\0';
    used += (size_t)snprintf(buf + used, size - used, "[");
    for (int i = 0; i < t->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ",%lld" : "%lld", (long long)t->dims[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}
