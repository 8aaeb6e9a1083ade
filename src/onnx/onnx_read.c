/*
 * ONNX ModelProto → raw nad_graph (graph.h), before any simplification.
 *
 * What it builds: one tensor per name (initializers as WEIGHT for float32,
 * CONST for int64; Constant nodes as CONST tensors with no node; graph inputs
 * that are not initializers as INPUT; everything else as ACT), and one node
 * per remaining NodeProto in topological order with its attributes decoded
 * (onnx_attr_read.c).  Opset-11+ value inputs (Reshape shape, Clip min/max,
 * ...) are kept as node inputs for the constant-folding pass.
 *
 * Hostile input: the bytes are framing- and depth-checked before protobuf-c
 * unpacks them (onnx_wire.c); every count, name, dim and reference is checked
 * before use; allocations are bounded by what the file itself holds; a
 * float initializer holding NaN or inf is refused (naming it and the first
 * bad index); the file is opened without blocking and must be regular.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/open_file.h"
#include "onnx/onnx_internal.h"

/* Input/output arity per op: inputs [0, min_in) must be present. */
typedef struct op_arity {
    int min_in, max_in, max_out;
} op_arity;

static op_arity arity_of(nad_op op)
{
    switch (op) {
    case NAD_OP_CONV:
    case NAD_OP_GEMM:
        return (op_arity){2, 3, 1};
    case NAD_OP_MATMUL:
    case NAD_OP_ADD:
    case NAD_OP_SUB:
    case NAD_OP_MUL:
    case NAD_OP_DIV:
    case NAD_OP_GATHER:
    case NAD_OP_RESHAPE:
        return (op_arity){2, 2, 1};
    case NAD_OP_CLIP:
        return (op_arity){1, 3, 1};
    case NAD_OP_PAD:
        return (op_arity){1, 4, 1};
    case NAD_OP_BATCHNORM:
        return (op_arity){5, 5, 1};
    case NAD_OP_DROPOUT:
        return (op_arity){1, 3, 2};
    case NAD_OP_SQUEEZE:
    case NAD_OP_UNSQUEEZE:
        return (op_arity){1, 2, 1};
    case NAD_OP_SLICE:
        return (op_arity){1, 5, 1};
    case NAD_OP_CONCAT:
        return (op_arity){1, 1 << 20, 1};
    default:
        return (op_arity){1, 1, 1};
    }
}

/* The reader's working state; freed by reader_free whatever happened. */
typedef struct reader {
    const Onnx__GraphProto *gp;
    int64_t opset;
    nad_graph *g;
    nad_name_map names; /* tensor name → index (keys are the graph's names) */
    char **node_names;  /* per NodeProto: its name or a generated one      */
    int *is_const;      /* per NodeProto: a Constant (no node emitted)     */
    nad_op *ops;        /* per NodeProto                                   */
    size_t *in_off, *out_off; /* per NodeProto: offsets into in_idx/out_idx */
    int *in_idx, *out_idx;
    nad_err *e;
} reader;

static void reader_free(reader *r)
{
    if (r->node_names)
        for (size_t i = 0; i < r->gp->n_node; i++)
            free(r->node_names[i]);
    free(r->node_names);
    free(r->is_const);
    free(r->ops);
    free(r->in_off);
    free(r->out_off);
    free(r->in_idx);
    free(r->out_idx);
    nad_name_map_free(&r->names);
}

/* Adds a tensor called name and registers it in the name map; duplicate names
 * are a format error.  Returns the index through *idx. */
static nad_status add_named(reader *r, const char *name, nad_dtype dt, nad_tensor_kind kind, int ndim,
                            const int64_t *dims, int *idx)
{
    if (!name || !name[0])
        return nad_errf(r->e, NAD_EFORMAT, "a tensor has no name");
    if (nad_name_map_get(&r->names, name) >= 0)
        return nad_errf(r->e, NAD_EFORMAT, "duplicate tensor name '%s'", name);
    int t = nad_graph_add_tensor(r->g, name, dt, kind, ndim, dims);
    if (t < 0 || nad_name_map_put(&r->names, r->g->tensors[t].name, t) < 0)
        return nad_errf(r->e, NAD_ENOMEM, "out of memory adding tensor '%s'", name);
    *idx = t;
    return NAD_OK;
}

/* Finds the default-domain opset version; other domains may be imported
 * (their ops are refused node by node). */
static nad_status read_opset(const Onnx__ModelProto *m, int64_t *opset, nad_err *e)
{
    *opset = -1;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if (o && (!o->domain || !o->domain[0] || strcmp(o->domain, "ai.onnx") == 0) && o->has_version)
            *opset = o->version;
    }
    if (*opset < 0)
        return nad_errf(e, NAD_EFORMAT, "no opset_import for the default ONNX domain");
    if (*opset < NAD_ONNX_MIN_OPSET || *opset > NAD_ONNX_MAX_OPSET)
        return nad_errf(e, NAD_EUNSUPPORTED, "opset %lld is unsupported (supported: %d to %d)", (long long)*opset,
                        NAD_ONNX_MIN_OPSET, NAD_ONNX_MAX_OPSET);
    return NAD_OK;
}

/*
 * Index of the first non-finite value among n floats, or -1 when all are
 * finite.  A NaN or inf weight is never what a trained model meant: it makes
 * every output NaN (or, behind a ReLU, silently wrong) and poisons training.
 */
static int64_t first_non_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return (int64_t)i;
    return -1;
}

/* "NaN", "inf" or "-inf" for a non-finite x (for messages). */
static const char *non_finite_name(float x)
{
    return isnan(x) ? "NaN" : x > 0 ? "inf" : "-inf";
}

static nad_status read_initializers(reader *r)
{
    for (size_t i = 0; i < r->gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = r->gp->initializer[i];
        nad_dtype dt;
        int ndim = 0, t = -1;
        int64_t dims[NAD_MAX_DIMS];
        nad_blob *b;
        if (!tp->name || !tp->name[0])
            return nad_errf(r->e, NAD_EFORMAT, "initializer %zu has no name", i);
        nad_status rc = nad_onnx_decode_tensor(tp, tp->name, &dt, &ndim, dims, &b, r->e);
        if (rc)
            return rc;
        if (dt == NAD_DT_FLOAT && b) {
            const float *v = (const float *)b->data;
            int64_t bad = first_non_finite(v, b->bytes / sizeof(float));
            if (bad >= 0) {
                rc = nad_errf(r->e, NAD_EFORMAT, "initializer '%s' holds a non-finite value (%s at index %lld)",
                              tp->name, non_finite_name(v[bad]), (long long)bad);
                nad_blob_unref(b);
                return rc;
            }
        }
        rc = add_named(r, tp->name, dt, dt == NAD_DT_FLOAT ? NAD_TK_WEIGHT : NAD_TK_CONST, ndim, dims, &t);
        if (rc) {
            nad_blob_unref(b);
            return rc;
        }
        r->g->tensors[t].blob = b;
    }
    return NAD_OK;
}

/*
 * Graph inputs: those that are also initializers are weights (older exporters
 * list them); the rest must be float tensors with a known shape whose only
 * symbolic dim is the first (the batch).  Axis 0 of an input of rank >= 1 is
 * taken as the batch axis even when the file fixes it (a model exported with
 * batch 1 still runs at batch 64).
 */
static nad_status read_inputs(reader *r)
{
    nad_graph *g = r->g;
    g->inputs = malloc((r->gp->n_input + 1) * sizeof(int));
    if (!g->inputs)
        return nad_errf(r->e, NAD_ENOMEM, "out of memory reading graph inputs");
    for (size_t i = 0; i < r->gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = r->gp->input[i];
        const char *name = vi->name;
        if (!name || !name[0])
            return nad_errf(r->e, NAD_EFORMAT, "graph input %zu has no name", i);
        int have = nad_name_map_get(&r->names, name);
        if (have >= 0 && g->tensors[have].kind != NAD_TK_INPUT)
            continue;
        const Onnx__TypeProto *tp = vi->type;
        if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
            return nad_errf(r->e, NAD_EUNSUPPORTED, "graph input '%s' is not a tensor", name);
        const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
        if (!tt->has_elem_type || tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
            return nad_errf(r->e, NAD_EUNSUPPORTED, "graph input '%s' is not float32 (unsupported)", name);
        if (!tt->shape)
            return nad_errf(r->e, NAD_EUNSUPPORTED, "graph input '%s' has no shape", name);
        if (tt->shape->n_dim > NAD_MAX_DIMS)
            return nad_errf(r->e, NAD_EUNSUPPORTED, "graph input '%s' has rank %zu (at most %d supported)", name,
                            tt->shape->n_dim, NAD_MAX_DIMS);
        int64_t dims[NAD_MAX_DIMS], numel = 1;
        int ndim = (int)tt->shape->n_dim;
        for (int k = 0; k < ndim; k++) {
            const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[k];
            int fixed = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value > 0;
            if (!fixed && k != 0)
                return nad_errf(r->e, NAD_EUNSUPPORTED,
                                "graph input '%s': dim %d is symbolic or unknown (only the batch dim may be)", name, k);
            dims[k] = fixed ? d->dim_value : 1;
            /* Cap one sample at 2^31 elements: beyond anything nadapt can run,
             * and keeps later size arithmetic far from overflow. */
            if (k > 0 && dims[k] > (INT64_C(1) << 31) / numel)
                return nad_errf(r->e, NAD_EUNSUPPORTED, "graph input '%s' is absurdly large", name);
            if (k > 0)
                numel *= dims[k];
        }
        int t = -1;
        nad_status rc = add_named(r, name, NAD_DT_FLOAT, NAD_TK_INPUT, ndim, dims, &t);
        if (rc)
            return rc;
        g->tensors[t].batch_axis = ndim > 0 ? 0 : -1;
        g->inputs[g->n_inputs++] = t;
    }
    return NAD_OK;
}

/* The value of a Constant node as a new blob (its several attribute forms). */
static nad_status constant_value(reader *r, const Onnx__NodeProto *np, const char *node, nad_dtype *dt, int *ndim,
                                 int64_t dims[NAD_MAX_DIMS], nad_blob **blob)
{
    *blob = NULL;
    for (size_t i = 0; i < np->n_attribute; i++) {
        const Onnx__AttributeProto *a = np->attribute[i];
        const char *an = a->name ? a->name : "";
        size_t n = 0;
        if (strcmp(an, "value") == 0) {
            if (!a->t)
                return nad_errf(r->e, NAD_EFORMAT, "node '%s' (Constant): attribute 'value' holds no tensor", node);
            return nad_onnx_decode_tensor(a->t, np->output[0], dt, ndim, dims, blob, r->e);
        }
        int is_float = strcmp(an, "value_float") == 0 || strcmp(an, "value_floats") == 0;
        int is_int = strcmp(an, "value_int") == 0 || strcmp(an, "value_ints") == 0;
        if (!is_float && !is_int) {
            if (strncmp(an, "value", 5) == 0)
                return nad_errf(r->e, NAD_EUNSUPPORTED, "node '%s' (Constant): attribute '%s' is unsupported", node,
                                an);
            continue;
        }
        int scalar = strcmp(an, "value_float") == 0 || strcmp(an, "value_int") == 0;
        n = scalar ? 1 : is_float ? a->n_floats : a->n_ints;
        *dt = is_float ? NAD_DT_FLOAT : NAD_DT_INT64;
        *ndim = scalar ? 0 : 1;
        dims[0] = (int64_t)n;
        *blob = nad_blob_new(n * (is_float ? 4 : 8));
        if (!*blob)
            return nad_errf(r->e, NAD_ENOMEM, "out of memory reading node '%s'", node);
        if (scalar && is_float)
            ((float *)(*blob)->data)[0] = a->f;
        else if (scalar)
            ((int64_t *)(*blob)->data)[0] = a->i;
        else if (n)
            memcpy((*blob)->data, is_float ? (void *)a->floats : (void *)a->ints, n * (is_float ? 4 : 8));
        return NAD_OK;
    }
    return nad_errf(r->e, NAD_EFORMAT, "node '%s' (Constant) has no value", node);
}

/* Writes the comma-separated supported op names into buf. */
static void supported_list(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < NAD_OP_COUNT && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", nad_op_name((nad_op)i));
    if (used < size)
        snprintf(buf + used, size - used, ", Constant");
}

/*
 * Pass A over the NodeProtos in file order: check domain, op and outputs,
 * decode Constants into CONST tensors and create one ACT tensor per output
 * name, so that pass B can resolve inputs whatever the node order.
 */
static nad_status declare_nodes(reader *r)
{
    const Onnx__GraphProto *gp = r->gp;
    size_t nn = gp->n_node, total_in = 0, total_out = 0;
    for (size_t i = 0; i < nn; i++) {
        total_in += gp->node[i]->n_input;
        total_out += gp->node[i]->n_output;
    }
    r->node_names = calloc(nn + 1, sizeof *r->node_names);
    r->is_const = calloc(nn + 1, sizeof *r->is_const);
    r->ops = calloc(nn + 1, sizeof *r->ops);
    r->in_off = calloc(nn + 1, sizeof *r->in_off);
    r->out_off = calloc(nn + 1, sizeof *r->out_off);
    r->in_idx = malloc((total_in + 1) * sizeof *r->in_idx);
    r->out_idx = malloc((total_out + 1) * sizeof *r->out_idx);
    if (!r->node_names || !r->is_const || !r->ops || !r->in_off || !r->out_off || !r->in_idx || !r->out_idx)
        return nad_errf(r->e, NAD_ENOMEM, "out of memory reading %zu nodes", nn);
    for (size_t i = 0; i < nn; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        r->in_off[i + 1] = r->in_off[i] + np->n_input;
        r->out_off[i + 1] = r->out_off[i] + np->n_output;
        const char *op_type = np->op_type ? np->op_type : "";
        char gen[64];
        snprintf(gen, sizeof gen, "%.40s_%zu", op_type[0] ? op_type : "node", i);
        const char *nm = np->name && np->name[0] ? np->name : gen;
        r->node_names[i] = strdup(nm);
        if (!r->node_names[i])
            return nad_errf(r->e, NAD_ENOMEM, "out of memory reading node %zu", i);
        if (!op_type[0])
            return nad_errf(r->e, NAD_EFORMAT, "node '%s' has no op_type", nm);
        if (np->domain && np->domain[0] && strcmp(np->domain, "ai.onnx") != 0)
            return nad_errf(r->e, NAD_EUNSUPPORTED, "unsupported op '%s' from domain '%s' in node '%s'", op_type,
                            np->domain, nm);
        r->is_const[i] = strcmp(op_type, "Constant") == 0;
        r->ops[i] = nad_op_from_name(op_type);
        if (!r->is_const[i] && r->ops[i] == NAD_OP_COUNT) {
            char list[400];
            supported_list(list, sizeof list);
            return nad_errf(r->e, NAD_EUNSUPPORTED, "unsupported op '%s' in node '%s' (supported: %s)", op_type, nm,
                            list);
        }
        if (np->n_output == 0 || !np->output[0] || !np->output[0][0])
            return nad_errf(r->e, NAD_EFORMAT, "node '%s' (%s) has no output", nm, op_type);
        int max_out = r->is_const[i] ? 1 : arity_of(r->ops[i]).max_out;
        for (size_t k = 0; k < np->n_output; k++) {
            const char *on = np->output[k] ? np->output[k] : "";
            int *slot = &r->out_idx[r->out_off[i] + k];
            *slot = -1;
            if (!on[0]) /* an omitted optional output */
                continue;
            if ((int)k >= max_out)
                return nad_errf(r->e, NAD_EUNSUPPORTED, "node '%s' (%s): output %zu ('%s') is unsupported", nm,
                                op_type, k, on);
            if (!r->is_const[i]) {
                nad_status rc = add_named(r, on, NAD_DT_FLOAT, NAD_TK_ACT, 0, NULL, slot);
                if (rc)
                    return rc;
                continue;
            }
            nad_dtype dt;
            int ndim;
            int64_t dims[NAD_MAX_DIMS];
            nad_blob *b;
            nad_status rc = constant_value(r, np, nm, &dt, &ndim, dims, &b);
            if (rc)
                return rc;
            rc = add_named(r, on, dt, NAD_TK_CONST, ndim, dims, slot);
            if (rc) {
                nad_blob_unref(b);
                return rc;
            }
            r->g->tensors[*slot].blob = b;
        }
    }
    return NAD_OK;
}

/* Pass B: every input name → tensor index ("" → -1), checking arity. */
static nad_status resolve_inputs(reader *r)
{
    for (size_t i = 0; i < r->gp->n_node; i++) {
        const Onnx__NodeProto *np = r->gp->node[i];
        if (r->is_const[i])
            continue;
        op_arity ar = arity_of(r->ops[i]);
        const char *op = nad_op_name(r->ops[i]);
        if ((int)np->n_input < ar.min_in || np->n_input > (size_t)ar.max_in)
            return nad_errf(r->e, NAD_EFORMAT, "node '%s' (%s) has %zu inputs (expected %d to %d)", r->node_names[i],
                            op, np->n_input, ar.min_in, ar.max_in);
        for (size_t k = 0; k < np->n_input; k++) {
            const char *in = np->input[k] ? np->input[k] : "";
            int t = in[0] ? nad_name_map_get(&r->names, in) : -1;
            if (in[0] && t < 0)
                return nad_errf(r->e, NAD_EFORMAT,
                                "node '%s' (%s): input '%s' is not produced by any node, initializer or graph input",
                                r->node_names[i], op, in);
            if (t < 0 && (int)k < ar.min_in)
                return nad_errf(r->e, NAD_EFORMAT, "node '%s' (%s): required input %zu is empty", r->node_names[i],
                                op, k);
            r->in_idx[r->in_off[i] + k] = t;
        }
    }
    return NAD_OK;
}

/*
 * The order to emit nodes in: file order when that is already topological
 * (what exporters write), else Kahn's algorithm with a FIFO seeded in file
 * order.  A cycle is a format error naming one node on it.
 */
static nad_status topo_order(reader *r, size_t *order)
{
    size_t nn = r->gp->n_node, done = 0;
    nad_status rc = NAD_OK;
    int *producer = malloc(((size_t)r->g->n_tensors + 1) * sizeof(int)); /* tensor → NodeProto */
    int *indeg = calloc(nn + 1, sizeof(int));
    size_t *adj_off = calloc(nn + 2, sizeof(size_t));
    size_t *adj = malloc((r->in_off[nn] + 1) * sizeof(size_t));
    if (!producer || !indeg || !adj_off || !adj) {
        rc = nad_errf(r->e, NAD_ENOMEM, "out of memory sorting nodes");
        goto out;
    }
    for (int t = 0; t < r->g->n_tensors; t++)
        producer[t] = -1;
    for (size_t i = 0; i < nn; i++)
        if (!r->is_const[i])
            for (size_t k = r->out_off[i]; k < r->out_off[i + 1]; k++)
                if (r->out_idx[k] >= 0)
                    producer[r->out_idx[k]] = (int)i;
    int sorted = 1;
    for (size_t i = 0; i < nn; i++)
        if (!r->is_const[i])
            for (size_t k = r->in_off[i]; k < r->in_off[i + 1]; k++) {
                int t = r->in_idx[k];
                if (t >= 0 && producer[t] >= 0) {
                    indeg[i]++;
                    adj_off[producer[t] + 1]++;
                    if ((size_t)producer[t] >= i)
                        sorted = 0;
                }
            }
    if (sorted) {
        for (size_t i = 0; i < nn; i++)
            order[i] = i;
        goto out;
    }
    /* Consumers of each node in CSR form, then Kahn. */
    for (size_t i = 0; i < nn; i++)
        adj_off[i + 1] += adj_off[i];
    size_t *fill = order; /* reuse order[] as a fill cursor before the sort */
    for (size_t i = 0; i < nn; i++)
        fill[i] = adj_off[i];
    for (size_t i = 0; i < nn; i++)
        if (!r->is_const[i])
            for (size_t k = r->in_off[i]; k < r->in_off[i + 1]; k++) {
                int t = r->in_idx[k];
                if (t >= 0 && producer[t] >= 0)
                    adj[fill[producer[t]]++] = i;
            }
    size_t head = 0;
    for (size_t i = 0; i < nn; i++)
        if (indeg[i] == 0)
            order[done++] = i;
    while (head < done) {
        size_t u = order[head++];
        for (size_t k = adj_off[u]; k < adj_off[u + 1]; k++)
            if (--indeg[adj[k]] == 0)
                order[done++] = adj[k];
    }
    if (done < nn) {
        size_t stuck = 0;
        while (stuck < nn && indeg[stuck] == 0)
            stuck++;
        rc = nad_errf(r->e, NAD_EFORMAT, "node '%s' is part of a cycle", r->node_names[stuck < nn ? stuck : 0]);
    }
out:
    free(producer);
    free(indeg);
    free(adj_off);
    free(adj);
    return rc;
}

/* The element type a node's outputs carry, known without shapes: Shape makes
 * int64, Cast makes its target, the rest pass their first input's type on.
 * Lets constant folding tell shape vectors from activations. */
static nad_dtype output_dtype(const nad_graph *g, nad_op op, const nad_attr *a, const int *in, int n_in)
{
    if (op == NAD_OP_SHAPE)
        return NAD_DT_INT64;
    if (op == NAD_OP_CAST)
        return (nad_dtype)a->axis.axis;
    if (op == NAD_OP_GATHER || op == NAD_OP_CONCAT || op == NAD_OP_SLICE || op == NAD_OP_SQUEEZE ||
        op == NAD_OP_UNSQUEEZE || op == NAD_OP_RESHAPE || op == NAD_OP_IDENTITY || op == NAD_OP_ADD ||
        op == NAD_OP_SUB || op == NAD_OP_MUL || op == NAD_OP_DIV)
        return n_in > 0 && in[0] >= 0 ? g->tensors[in[0]].dtype : NAD_DT_FLOAT;
    return NAD_DT_FLOAT;
}

/* Pass C: decode attributes and append the nodes in topological order. */
static nad_status emit_nodes(reader *r, const size_t *order)
{
    nad_graph *g = r->g;
    for (size_t oi = 0; oi < r->gp->n_node; oi++) {
        size_t i = order[oi];
        if (r->is_const[i])
            continue;
        const Onnx__NodeProto *np = r->gp->node[i];
        const int *in = &r->in_idx[r->in_off[i]];
        const int *out = &r->out_idx[r->out_off[i]];
        int n_in = (int)(r->in_off[i + 1] - r->in_off[i]);
        int n_out = (int)(r->out_off[i + 1] - r->out_off[i]);
        nad_op op = r->ops[i];
        nad_attr attr;
        const nad_tensor *w = op == NAD_OP_CONV && n_in > 1 && in[1] >= 0 ? &g->tensors[in[1]] : NULL;
        nad_status rc = nad_onnx_read_attrs(np, r->node_names[i], op, r->opset, w, &attr, r->e);
        if (rc)
            return rc;
        nad_dtype dt = output_dtype(g, op, &attr, in, n_in);
        for (int k = 0; k < n_out; k++)
            if (out[k] >= 0)
                g->tensors[out[k]].dtype = dt;
        if (nad_graph_add_node(g, r->node_names[i], op, n_in, in, n_out, out, &attr) < 0)
            return nad_errf(r->e, NAD_ENOMEM, "out of memory adding node '%s'", r->node_names[i]);
    }
    return NAD_OK;
}

/*
 * Gives an activation graph output the dims its ValueInfo declares (a
 * symbolic first dim as batch 1 on batch axis 0), so that a raw graph can be
 * written back with output shapes before any shape inference; shape inference
 * overwrites them.  Outputs declared without a full shape are left unknown.
 */
static void declared_dims(nad_tensor *t, const Onnx__ValueInfoProto *vi)
{
    const Onnx__TypeProto *tp = vi->type;
    if (t->kind != NAD_TK_ACT || !tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type ||
        !tp->tensor_type->shape || tp->tensor_type->shape->n_dim > NAD_MAX_DIMS)
        return;
    const Onnx__TensorShapeProto *sp = tp->tensor_type->shape;
    int64_t dims[NAD_MAX_DIMS];
    for (size_t k = 0; k < sp->n_dim; k++) {
        const Onnx__TensorShapeProto__Dimension *d = sp->dim[k];
        int fixed = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value > 0 &&
                    d->dim_value <= (INT64_C(1) << 31);
        if (!fixed && k != 0)
            return;
        dims[k] = fixed ? d->dim_value : 1;
    }
    t->ndim = (int)sp->n_dim;
    memcpy(t->dims, dims, sp->n_dim * sizeof dims[0]);
    t->batch_axis = t->ndim > 0 ? 0 : -1;
}

static nad_status read_outputs(reader *r)
{
    nad_graph *g = r->g;
    if (r->gp->n_output == 0)
        return nad_errf(r->e, NAD_EFORMAT, "the graph has no outputs");
    g->outputs = malloc(r->gp->n_output * sizeof(int));
    if (!g->outputs)
        return nad_errf(r->e, NAD_ENOMEM, "out of memory reading graph outputs");
    for (size_t i = 0; i < r->gp->n_output; i++) {
        const char *name = r->gp->output[i]->name ? r->gp->output[i]->name : "";
        int t = name[0] ? nad_name_map_get(&r->names, name) : -1;
        if (t < 0)
            return nad_errf(r->e, NAD_EFORMAT, "graph output '%s' is not produced by any node", name);
        g->outputs[g->n_outputs++] = t;
        declared_dims(&g->tensors[t], r->gp->output[i]);
    }
    return NAD_OK;
}

/* strdup for provenance strings, NULL-safe; returns 0 or -1 when out of memory. */
static int set_str(char **dst, const char *s)
{
    *dst = strdup(s ? s : "");
    return *dst ? 0 : -1;
}

nad_status nad_graph_from_onnx_bytes(const uint8_t *buf, size_t len, const char *what, nad_graph **out, nad_err *e)
{
    nad_status rc = NAD_OK;
    Onnx__ModelProto *m = NULL;
    size_t *order = NULL;
    reader r = {0};
    r.e = e;
    *out = NULL;
    if (!buf || len == 0) {
        rc = nad_errf(e, NAD_EFORMAT, "empty file (not an ONNX model)");
        goto fail;
    }
    if ((rc = nad_onnx_check_wire(buf, len, NAD_ONNX_MAX_DEPTH, e)))
        goto fail;
    m = onnx__model_proto__unpack(NULL, len, buf);
    if (!m) {
        rc = nad_errf(e, NAD_EFORMAT, "not an ONNX model (protobuf parse failed)");
        goto fail;
    }
    if (!m->graph) {
        rc = nad_errf(e, NAD_EFORMAT, "the model has no graph");
        goto fail;
    }
    r.gp = m->graph;
    if ((rc = read_opset(m, &r.opset, e)))
        goto fail;
    r.g = nad_graph_new();
    if (!r.g || nad_name_map_init(&r.names, r.gp->n_initializer + r.gp->n_input + r.gp->n_node) ||
        set_str(&r.g->name, r.gp->name) || set_str(&r.g->producer_name, m->producer_name)) {
        rc = nad_errf(e, NAD_ENOMEM, "out of memory reading the model");
        goto fail;
    }
    r.g->opset = r.opset;
    r.g->ir_version = m->has_ir_version ? m->ir_version : 0;
    order = malloc((r.gp->n_node + 1) * sizeof *order);
    if (!order) {
        rc = nad_errf(e, NAD_ENOMEM, "out of memory reading the model");
        goto fail;
    }
    if ((rc = read_initializers(&r)) || (rc = read_inputs(&r)) || (rc = declare_nodes(&r)) ||
        (rc = resolve_inputs(&r)) || (rc = topo_order(&r, order)) || (rc = emit_nodes(&r, order)) ||
        (rc = read_outputs(&r)))
        goto fail;
    *out = r.g;
    r.g = NULL;
fail:
    if (rc && what)
        nad_err_prefix(e, rc, "%s: ", what);
    nad_graph_free(r.g);
    reader_free(&r);
    free(order);
    if (m)
        onnx__model_proto__free_unpacked(m, NULL);
    return rc;
}

/*
 * Reads the whole file into memory (ONNX files that nadapt handles are small:
 * weights of mobile networks) and parses it.  Errors start with the path.
 */
nad_status nad_graph_read_onnx(const char *path, nad_graph **out, nad_err *e)
{
    nad_status rc = NAD_OK;
    uint8_t *buf = NULL;
    long size = 0;
    *out = NULL;
    /* Never blocks: a FIFO or device given as the model is refused at once. */
    FILE *f = nad_fopen_regular(path, &rc, e);
    if (!f)
        return rc;
    struct stat st;
    if (fstat(fileno(f), &st)) {
        rc = nad_errf(e, NAD_EIO, "%s: cannot stat the file", path);
        goto out;
    }
    size = (long)st.st_size;
    buf = malloc((size_t)size + 1);
    if (!buf) {
        rc = nad_errf(e, NAD_ENOMEM, "%s: out of memory reading %ld bytes", path, size);
        goto out;
    }
    if (size && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        rc = nad_errf(e, NAD_EIO, "%s: read error", path);
        goto out;
    }
    rc = nad_graph_from_onnx_bytes(buf, (size_t)size, path, out, e);
out:
    free(buf);
    fclose(f);
    return rc;
}
