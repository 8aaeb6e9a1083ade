/*
 * ONNX reader and writer: every fixture read and loaded, checked against the
 * file's own protobuf contents (decoded here independently with protobuf-c);
 * error paths (empty, truncated, garbage, missing file, unsupported op,
 * hand-made hostile models); write → read round trips of raw and simplified
 * graphs (same tensors, bytes, nodes and attributes); a hand-built graph with
 * every op written at opsets 9, 11 and 13 and read back; identical logits
 * after load → save → load.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graph/graph.h"
#include "nadapt/data.h"
#include "nadapt/engine.h"
#include "onnx.pb-c.h"
#include "testutil.h"

static const char *const fixtures[] = {
    "cnn_bn.op11",      "cnn_bn.op13",   "resnet.op11", "resnet.op13", "mobilenetv2.op11", "mobilenetv2.op13",
    "concat.op11",      "concat.op13",   "mlp_pool.op11", "mlp_pool.op13",
};
#define N_FIXTURES (sizeof fixtures / sizeof fixtures[0])

static const char *fixture_path(const char *name)
{
    static char buf[1024];
    char rel[256];
    snprintf(rel, sizeof rel, "examples/fixtures/%s.onnx", name);
    snprintf(buf, sizeof buf, "%s", tu_src(rel));
    return buf;
}

/* ---- reading fixtures ------------------------------------------------------ */

/* Every initializer of the file must be a WEIGHT/CONST tensor holding exactly
 * its raw bytes, every non-Constant NodeProto a node, in a valid order. */
static void test_read_fixtures(void **state)
{
    (void)state;
    for (size_t f = 0; f < N_FIXTURES; f++) {
        const char *path = fixture_path(fixtures[f]);
        size_t len;
        uint8_t *bytes = tu_read_file(path, &len);
        assert_non_null(bytes);
        Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, bytes);
        assert_non_null(m);
        nad_graph *g;
        nad_err e;
        nad_status rc = nad_graph_read_onnx(path, &g, &e);
        if (rc)
            fail_msg("%s", e.msg);
        assert_int_equal(g->opset, m->opset_import[0]->version);
        assert_int_equal(g->ir_version, m->ir_version);
        int n_nodes = 0;
        for (size_t i = 0; i < m->graph->n_node; i++)
            n_nodes += strcmp(m->graph->node[i]->op_type, "Constant") != 0;
        assert_int_equal(g->n_nodes, n_nodes);
        for (size_t i = 0; i < m->graph->n_initializer; i++) {
            const Onnx__TensorProto *tp = m->graph->initializer[i];
            int t = nad_graph_find_tensor(g, tp->name);
            assert_true(t >= 0);
            assert_int_equal(g->tensors[t].kind, tp->data_type == 1 ? NAD_TK_WEIGHT : NAD_TK_CONST);
            assert_int_equal(g->tensors[t].ndim, (int)tp->n_dims);
            assert_int_equal(g->tensors[t].blob->bytes, tp->raw_data.len);
            assert_memory_equal(g->tensors[t].blob->data, tp->raw_data.data, tp->raw_data.len);
        }
        /* Real inputs only: initializers listed as inputs (op11) are weights. */
        assert_int_equal(g->n_inputs, 1);
        assert_int_equal(g->tensors[g->inputs[0]].kind, NAD_TK_INPUT);
        assert_int_equal(g->tensors[g->inputs[0]].batch_axis, 0);
        /* Topological: every input of node i is made by an earlier node. */
        for (int i = 0; i < g->n_nodes; i++)
            for (int k = 0; k < g->nodes[i].n_in; k++)
                if (g->nodes[i].in[k] >= 0)
                    assert_true(g->tensors[g->nodes[i].in[k]].producer < i);
        nad_graph_free(g);
        onnx__model_proto__free_unpacked(m, NULL);
        free(bytes);

        rc = nad_graph_load_onnx(path, 1, &g, &e);
        if (rc)
            fail_msg("load %s: %s", path, e.msg);
        assert_true(g->n_nodes > 0);
        nad_graph_free(g);
    }
}

/* ---- error paths ----------------------------------------------------------- */

/* Parses bytes expecting failure with status want (or any error when want is
 * NAD_OK) and a message containing every given substring. */
static void expect_error(const uint8_t *buf, size_t len, nad_status want, const char *sub1, const char *sub2)
{
    nad_graph *g = (nad_graph *)1;
    nad_err e;
    e.msg[0] = '\0';
    nad_status rc = nad_graph_from_onnx_bytes(buf, len, "model.onnx", &g, &e);
    if (rc == NAD_OK)
        fail_msg("accepted a bad model (expected '%s')", sub1 ? sub1 : "");
    assert_null(g);
    if (want != NAD_OK && rc != want)
        fail_msg("status %s, want %s: %s", nad_status_str(rc), nad_status_str(want), e.msg);
    assert_true(strncmp(e.msg, "model.onnx: ", 12) == 0);
    if (sub1 && !strstr(e.msg, sub1))
        fail_msg("message lacks '%s': %s", sub1, e.msg);
    if (sub2 && !strstr(e.msg, sub2))
        fail_msg("message lacks '%s': %s", sub2, e.msg);
    assert_null(strchr(e.msg, '\n'));
}

static void test_bad_files(void **state)
{
    (void)state;
    nad_graph *g;
    nad_err e;
    const char *dir = tu_tmpdir();
    char path[512];

    snprintf(path, sizeof path, "%s/empty.onnx", dir);
    assert_int_equal(tu_write_file(path, "", 0), 0);
    assert_int_equal(nad_graph_read_onnx(path, &g, &e), NAD_EFORMAT);
    assert_null(g);
    assert_non_null(strstr(e.msg, path));
    assert_non_null(strstr(e.msg, "empty"));

    snprintf(path, sizeof path, "%s/does-not-exist.onnx", dir);
    assert_int_equal(nad_graph_read_onnx(path, &g, &e), NAD_EIO);
    assert_non_null(strstr(e.msg, path));
    assert_int_equal(nad_graph_load_onnx(path, 1, &g, &e), NAD_EIO);
    assert_int_equal(nad_graph_read_onnx(dir, &g, &e), NAD_EIO);

    /* Truncations anywhere must fail cleanly (the graph field comes before
     * opset_import in exporter output, so no prefix is a whole model). */
    size_t len;
    uint8_t *bytes = tu_read_file(fixture_path("resnet.op13"), &len);
    assert_non_null(bytes);
    const size_t cuts[] = {1, 2, 7, 10, 100, 1000, len / 3, len / 2, len - 100, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        expect_error(bytes, cuts[i], NAD_EFORMAT, NULL, NULL);
    /* The same file cut and written to disk names the path. */
    snprintf(path, sizeof path, "%s/truncated.onnx", dir);
    assert_int_equal(tu_write_file(path, bytes, len / 2), 0);
    assert_int_equal(nad_graph_load_onnx(path, 1, &g, &e), NAD_EFORMAT);
    assert_true(strncmp(e.msg, path, strlen(path)) == 0);

    /* Garbage: random bytes, and random bytes spliced into a real model. */
    uint32_t s = 12345;
    uint8_t junk[4096];
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < sizeof junk; i++) {
            s = s * 1103515245u + 12345u;
            junk[i] = (uint8_t)(s >> 16);
        }
        nad_graph *gg = NULL;
        if (nad_graph_from_onnx_bytes(junk, 64 + (size_t)round * 200, "junk", &gg, &e) == NAD_OK)
            fail_msg("random bytes accepted");
        uint8_t *copy = malloc(len);
        assert_non_null(copy);
        memcpy(copy, bytes, len);
        memcpy(copy + (len / 20) * (size_t)round, junk, 64);
        if (nad_graph_from_onnx_bytes(copy, len, "spliced", &gg, &e) == NAD_OK)
            nad_graph_free(gg); /* a splice inside weight bytes is still a valid model */
        free(copy);
    }
    free(bytes);

    /* The unsupported op names op, node (as in the file) and file. */
    const char *bad = tu_src("examples/fixtures/bad_unsupported_op.onnx");
    bytes = tu_read_file(bad, &len);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, bytes);
    assert_non_null(m);
    const char *node_name = NULL, *op_type = NULL;
    for (size_t i = 0; i < m->graph->n_node; i++)
        if (strcmp(m->graph->node[i]->op_type, "Flatten") != 0) {
            node_name = m->graph->node[i]->name;
            op_type = m->graph->node[i]->op_type;
        }
    assert_non_null(op_type);
    assert_int_equal(nad_graph_load_onnx(bad, 1, &g, &e), NAD_EUNSUPPORTED);
    assert_null(g);
    assert_true(strncmp(e.msg, bad, strlen(bad)) == 0);
    char want[128];
    snprintf(want, sizeof want, "op '%s'", op_type);
    assert_non_null(strstr(e.msg, want));
    if (node_name && node_name[0])
        assert_non_null(strstr(e.msg, node_name));
    onnx__model_proto__free_unpacked(m, NULL);
    free(bytes);
}

/* ---- hand-made hostile models ------------------------------------------------ */

/* A tiny Conv model built field by field so each test can break one thing:
 * x[N,1,4,4] → Conv(W[2,1,3,3], kernel 3x3) → y. */
typedef struct mini {
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto os, *osp;
    Onnx__NodeProto node[2], *pnode[2];
    char *node_in[2][3], *node_out[2][2];
    Onnx__AttributeProto attr[2], *pattr[2];
    int64_t ks[3];
    Onnx__TensorProto w, *pw;
    int64_t wdims[7];
    float wdata[18];
    Onnx__ValueInfoProto in, out, *pin, *pout;
    Onnx__TypeProto tin, tout;
    Onnx__TypeProto__Tensor ttin, ttout;
    Onnx__TensorShapeProto sin;
    Onnx__TensorShapeProto__Dimension d[7], *pd[7];
} mini;

static void mini_init(mini *t)
{
    memset(t, 0, sizeof *t);
    onnx__model_proto__init(&t->m);
    onnx__graph_proto__init(&t->g);
    onnx__operator_set_id_proto__init(&t->os);
    t->os.has_version = 1;
    t->os.version = 13;
    t->osp = &t->os;
    t->m.has_ir_version = 1;
    t->m.ir_version = 7;
    t->m.n_opset_import = 1;
    t->m.opset_import = &t->osp;
    t->m.graph = &t->g;
    onnx__tensor_proto__init(&t->w);
    t->w.name = "W";
    t->w.has_data_type = 1;
    t->w.data_type = 1;
    t->wdims[0] = 2, t->wdims[1] = 1, t->wdims[2] = 3, t->wdims[3] = 3;
    t->w.n_dims = 4;
    t->w.dims = t->wdims;
    for (int i = 0; i < 18; i++)
        t->wdata[i] = (float)i;
    t->w.has_raw_data = 1;
    t->w.raw_data.data = (uint8_t *)t->wdata;
    t->w.raw_data.len = sizeof t->wdata;
    t->pw = &t->w;
    t->g.n_initializer = 1;
    t->g.initializer = &t->pw;
    onnx__attribute_proto__init(&t->attr[0]);
    t->attr[0].name = "kernel_shape";
    t->attr[0].has_type = 1;
    t->attr[0].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    t->ks[0] = t->ks[1] = t->ks[2] = 3;
    t->attr[0].n_ints = 2;
    t->attr[0].ints = t->ks;
    t->pattr[0] = &t->attr[0];
    onnx__node_proto__init(&t->node[0]);
    t->node[0].name = "conv";
    t->node[0].op_type = "Conv";
    t->node_in[0][0] = "x";
    t->node_in[0][1] = "W";
    t->node[0].n_input = 2;
    t->node[0].input = t->node_in[0];
    t->node_out[0][0] = "y";
    t->node[0].n_output = 1;
    t->node[0].output = t->node_out[0];
    t->node[0].n_attribute = 1;
    t->node[0].attribute = t->pattr;
    t->pnode[0] = &t->node[0];
    t->g.n_node = 1;
    t->g.node = t->pnode;
    onnx__value_info_proto__init(&t->in);
    onnx__type_proto__init(&t->tin);
    onnx__type_proto__tensor__init(&t->ttin);
    onnx__tensor_shape_proto__init(&t->sin);
    for (int i = 0; i < 7; i++) {
        onnx__tensor_shape_proto__dimension__init(&t->d[i]);
        t->d[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        t->d[i].dim_value = i < 2 ? 1 : 4;
        t->pd[i] = &t->d[i];
    }
    t->d[0].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
    t->d[0].dim_param = "N";
    t->sin.n_dim = 4;
    t->sin.dim = t->pd;
    t->ttin.has_elem_type = 1;
    t->ttin.elem_type = 1;
    t->ttin.shape = &t->sin;
    t->tin.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tin.tensor_type = &t->ttin;
    t->in.name = "x";
    t->in.type = &t->tin;
    t->pin = &t->in;
    t->g.n_input = 1;
    t->g.input = &t->pin;
    onnx__value_info_proto__init(&t->out);
    onnx__type_proto__init(&t->tout);
    onnx__type_proto__tensor__init(&t->ttout);
    t->ttout.has_elem_type = 1;
    t->ttout.elem_type = 1;
    t->tout.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tout.tensor_type = &t->ttout;
    t->out.name = "y";
    t->out.type = &t->tout;
    t->pout = &t->out;
    t->g.n_output = 1;
    t->g.output = &t->pout;
}

/* Packs t and expects the parse to fail as expect_error() describes. */
static void mini_expect(mini *t, nad_status want, const char *sub1, const char *sub2)
{
    size_t n = onnx__model_proto__get_packed_size(&t->m);
    uint8_t *buf = malloc(n + 1);
    assert_non_null(buf);
    onnx__model_proto__pack(&t->m, buf);
    expect_error(buf, n, want, sub1, sub2);
    free(buf);
}

/* Packs t and parses it; the caller frees the graph. */
static nad_graph *mini_read(mini *t)
{
    size_t n = onnx__model_proto__get_packed_size(&t->m);
    uint8_t *buf = malloc(n + 1);
    assert_non_null(buf);
    onnx__model_proto__pack(&t->m, buf);
    nad_graph *g;
    nad_err e;
    nad_status rc = nad_graph_from_onnx_bytes(buf, n, "mini", &g, &e);
    free(buf);
    if (rc)
        fail_msg("%s", e.msg);
    return g;
}

/* Adds Relu(y) → z as a second node, making z the output. */
static void mini_add_relu(mini *t)
{
    onnx__node_proto__init(&t->node[1]);
    t->node[1].name = "relu";
    t->node[1].op_type = "Relu";
    t->node_in[1][0] = "y";
    t->node[1].n_input = 1;
    t->node[1].input = t->node_in[1];
    t->node_out[1][0] = "z";
    t->node[1].n_output = 1;
    t->node[1].output = t->node_out[1];
    t->pnode[1] = &t->node[1];
    t->g.n_node = 2;
    t->out.name = "z";
}

static void test_hostile_models(void **state)
{
    (void)state;
    mini t;
    nad_graph *g;

    mini_init(&t); /* the unbroken model reads */
    g = mini_read(&t);
    assert_int_equal(g->n_nodes, 1);
    assert_int_equal(g->nodes[0].attr.conv.kh, 3);
    nad_graph_free(g);

    mini_init(&t); /* kernel_shape taken from the weight */
    t.node[0].n_attribute = 0;
    g = mini_read(&t);
    assert_int_equal(g->nodes[0].attr.conv.kw, 3);
    nad_graph_free(g);

    mini_init(&t); /* nodes out of order are sorted */
    mini_add_relu(&t);
    t.pnode[0] = &t.node[1];
    t.pnode[1] = &t.node[0];
    g = mini_read(&t);
    assert_int_equal(g->nodes[0].op, NAD_OP_CONV);
    assert_int_equal(g->nodes[1].op, NAD_OP_RELU);
    nad_graph_free(g);

    mini_init(&t);
    t.w.raw_data.len -= 4;
    mini_expect(&t, NAD_EFORMAT, "'W'", "raw_data");
    mini_init(&t);
    t.wdims[0] = -2;
    mini_expect(&t, NAD_EFORMAT, "'W'", "negative");
    mini_init(&t);
    t.wdims[0] = INT64_C(1) << 40, t.wdims[1] = INT64_C(1) << 40;
    mini_expect(&t, NAD_EFORMAT, "'W'", "overflow");
    mini_init(&t);
    t.w.n_dims = 7;
    mini_expect(&t, NAD_EUNSUPPORTED, "'W'", "rank 7");
    mini_init(&t);
    t.w.data_type = 2; /* uint8 */
    mini_expect(&t, NAD_EUNSUPPORTED, "'W'", "uint8");
    mini_init(&t);
    t.w.name = "";
    mini_expect(&t, NAD_EFORMAT, "no name", NULL);
    mini_init(&t);
    t.node_out[0][0] = "W"; /* clashes with the initializer */
    t.out.name = "W";
    mini_expect(&t, NAD_EFORMAT, "duplicate", "'W'");
    mini_init(&t);
    t.node[0].n_output = 0;
    mini_expect(&t, NAD_EFORMAT, "'conv'", "no output");
    mini_init(&t);
    t.node_in[0][1] = "nowhere";
    mini_expect(&t, NAD_EFORMAT, "'conv'", "'nowhere'");
    mini_init(&t);
    mini_add_relu(&t); /* a cycle: conv reads relu's output */
    t.node_in[0][0] = "z";
    mini_expect(&t, NAD_EFORMAT, "cycle", NULL);
    mini_init(&t);
    t.ks[0] = 0;
    mini_expect(&t, NAD_EFORMAT, "'conv'", "kernel_shape");
    mini_init(&t);
    t.attr[0].n_ints = 1; /* a 1-D kernel */
    mini_expect(&t, NAD_EUNSUPPORTED, "'conv'", "2-D");
    mini_init(&t);
    t.attr[0].n_ints = 3;
    mini_expect(&t, NAD_EUNSUPPORTED, "'conv'", "2-D");
    mini_init(&t);
    t.attr[0].name = "strides"; /* a zero stride */
    t.ks[1] = 0;
    mini_expect(&t, NAD_EFORMAT, "'conv'", "strides");
    mini_init(&t);
    t.node[0].op_type = "LSTM";
    mini_expect(&t, NAD_EUNSUPPORTED, "'LSTM'", "'conv'");
    mini_init(&t);
    t.node[0].domain = "com.microsoft";
    mini_expect(&t, NAD_EUNSUPPORTED, "com.microsoft", "'conv'");
    mini_init(&t);
    t.os.version = 19;
    mini_expect(&t, NAD_EUNSUPPORTED, "opset 19", NULL);
    mini_init(&t);
    t.os.version = 6;
    mini_expect(&t, NAD_EUNSUPPORTED, "opset 6", NULL);
    mini_init(&t);
    t.m.n_opset_import = 0;
    mini_expect(&t, NAD_EFORMAT, "opset", NULL);
    mini_init(&t);
    t.d[2].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
    t.d[2].dim_param = "H";
    mini_expect(&t, NAD_EUNSUPPORTED, "'x'", "symbolic");
    mini_init(&t);
    t.sin.n_dim = 7;
    mini_expect(&t, NAD_EUNSUPPORTED, "'x'", "rank 7");
    mini_init(&t);
    t.d[2].dim_value = INT64_C(1) << 40;
    mini_expect(&t, NAD_EUNSUPPORTED, "'x'", "large");
    mini_init(&t);
    t.out.name = "missing";
    mini_expect(&t, NAD_EFORMAT, "'missing'", NULL);
    mini_init(&t);
    t.g.n_output = 0;
    mini_expect(&t, NAD_EFORMAT, "no outputs", NULL);
    mini_init(&t);
    t.m.graph = NULL;
    mini_expect(&t, NAD_EFORMAT, "no graph", NULL);

    /* Deeply nested messages are refused before protobuf-c recurses. */
    size_t depth = 5000, n = 0;
    uint8_t *deep = malloc(depth * 12 + 16);
    assert_non_null(deep);
    /* ModelProto.graph (7) → GraphProto.node (1) → NodeProto.attribute (5) →
     * AttributeProto.g (6) → GraphProto.node ...: lengths written inside out. */
    static const uint8_t tags[] = {0x0a, 0x2a, 0x32}; /* node, attribute, g */
    size_t inner = 0;
    uint8_t *tmp = malloc(depth * 12 + 16);
    assert_non_null(tmp);
    for (size_t lvl = 0; lvl < depth; lvl++) {
        uint8_t hdr[12];
        size_t h = 0, v = inner;
        hdr[h++] = tags[(depth - 1 - lvl) % 3];
        do {
            hdr[h++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
            v >>= 7;
        } while (v);
        memcpy(tmp, hdr, h);
        memcpy(tmp + h, deep, inner);
        memcpy(deep, tmp, h + inner);
        inner += h;
    }
    tmp[0] = 0x3a; /* ModelProto.graph */
    n = 0;
    size_t v = inner;
    n = 1;
    do {
        tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    memcpy(tmp + n, deep, inner);
    expect_error(tmp, n + inner, NAD_EFORMAT, "nest", NULL);
    free(tmp);
    free(deep);
}

/* ---- round trips ----------------------------------------------------------- */

/* Field-wise equality of the attribute parts an op uses. */
static void assert_attr_equal(nad_op op, const nad_attr *a, const nad_attr *b, const char *node)
{
    int same = 1;
    switch (op) {
    case NAD_OP_CONV:
        same = a->conv.kh == b->conv.kh && a->conv.kw == b->conv.kw && a->conv.sh == b->conv.sh &&
               a->conv.sw == b->conv.sw && a->conv.dh == b->conv.dh && a->conv.dw == b->conv.dw &&
               !memcmp(a->conv.pads, b->conv.pads, sizeof a->conv.pads) && a->conv.group == b->conv.group &&
               a->conv.auto_pad == b->conv.auto_pad;
        break;
    case NAD_OP_MAXPOOL:
    case NAD_OP_AVGPOOL:
        same = a->pool.kh == b->pool.kh && a->pool.kw == b->pool.kw && a->pool.sh == b->pool.sh &&
               a->pool.sw == b->pool.sw && a->pool.dh == b->pool.dh && a->pool.dw == b->pool.dw &&
               !memcmp(a->pool.pads, b->pool.pads, sizeof a->pool.pads) && a->pool.ceil_mode == b->pool.ceil_mode &&
               a->pool.count_include_pad == b->pool.count_include_pad && a->pool.auto_pad == b->pool.auto_pad;
        break;
    case NAD_OP_GEMM:
        same = a->gemm.alpha == b->gemm.alpha && a->gemm.beta == b->gemm.beta && a->gemm.trans_a == b->gemm.trans_a &&
               a->gemm.trans_b == b->gemm.trans_b;
        break;
    case NAD_OP_BATCHNORM:
        same = a->bn.epsilon == b->bn.epsilon && a->bn.momentum == b->bn.momentum;
        break;
    case NAD_OP_LEAKY_RELU:
    case NAD_OP_HARD_SIGMOID:
    case NAD_OP_CLIP:
    case NAD_OP_DROPOUT:
        same = a->scalar.a == b->scalar.a && (op == NAD_OP_LEAKY_RELU || op == NAD_OP_DROPOUT ||
                                              a->scalar.b == b->scalar.b);
        break;
    case NAD_OP_SOFTMAX:
    case NAD_OP_FLATTEN:
    case NAD_OP_CONCAT:
    case NAD_OP_GATHER:
    case NAD_OP_CAST:
        same = a->axis.axis == b->axis.axis;
        break;
    case NAD_OP_TRANSPOSE:
    case NAD_OP_RESHAPE:
    case NAD_OP_SQUEEZE:
    case NAD_OP_UNSQUEEZE:
        same = a->ints.n == b->ints.n && !memcmp(a->ints.v, b->ints.v, (size_t)a->ints.n * sizeof a->ints.v[0]);
        break;
    case NAD_OP_PAD:
        same = a->pad.n == b->pad.n && a->pad.mode == b->pad.mode && a->pad.value == b->pad.value &&
               !memcmp(a->pad.pads, b->pad.pads, (size_t)a->pad.n * sizeof a->pad.pads[0]);
        break;
    case NAD_OP_SLICE:
        same = a->slice.n == b->slice.n;
        for (int i = 0; same && i < a->slice.n; i++)
            same = a->slice.starts[i] == b->slice.starts[i] && a->slice.ends[i] == b->slice.ends[i] &&
                   a->slice.axes[i] == b->slice.axes[i] && a->slice.steps[i] == b->slice.steps[i];
        break;
    default:
        break;
    }
    if (!same)
        fail_msg("node '%s' (%s): attributes differ after the round trip", node, nad_op_name(op));
}

/* Same tensors (by name: kind, dtype, dims, bytes) and the same node list. */
static void assert_graphs_equal(const nad_graph *a, const nad_graph *b)
{
    assert_int_equal(a->opset, b->opset);
    assert_int_equal(a->n_nodes, b->n_nodes);
    assert_int_equal(a->n_inputs, b->n_inputs);
    assert_int_equal(a->n_outputs, b->n_outputs);
    for (int i = 0; i < a->n_nodes; i++) {
        const nad_node *x = &a->nodes[i], *y = &b->nodes[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->op, y->op);
        assert_int_equal(x->n_in, y->n_in);
        for (int k = 0; k < x->n_in; k++) {
            assert_int_equal(x->in[k] < 0, y->in[k] < 0);
            if (x->in[k] >= 0)
                assert_string_equal(a->tensors[x->in[k]].name, b->tensors[y->in[k]].name);
        }
        assert_string_equal(a->tensors[x->out[0]].name, b->tensors[y->out[0]].name);
        assert_attr_equal(x->op, &x->attr, &y->attr, x->name);
    }
    for (int t = 0; t < a->n_tensors; t++) {
        const nad_tensor *x = &a->tensors[t];
        if (x->kind == NAD_TK_ACT)
            continue;
        int u = nad_graph_find_tensor(b, x->name);
        if (u < 0)
            fail_msg("tensor '%s' lost in the round trip", x->name);
        const nad_tensor *y = &b->tensors[u];
        assert_int_equal(x->kind, y->kind);
        assert_int_equal(x->dtype, y->dtype);
        assert_int_equal(x->ndim, y->ndim);
        assert_memory_equal(x->dims, y->dims, (size_t)x->ndim * sizeof x->dims[0]);
        if (x->blob) {
            assert_int_equal(x->blob->bytes, y->blob->bytes);
            assert_memory_equal(x->blob->data, y->blob->data, x->blob->bytes);
        }
    }
}

static nad_graph *reparse(const nad_graph *g)
{
    uint8_t *buf;
    size_t len;
    nad_err e;
    nad_graph *h;
    if (nad_graph_to_onnx_bytes(g, &buf, &len, &e))
        fail_msg("write: %s", e.msg);
    if (nad_graph_from_onnx_bytes(buf, len, "written", &h, &e))
        fail_msg("re-read: %s", e.msg);
    free(buf);
    return h;
}

static void test_round_trip(void **state)
{
    (void)state;
    for (size_t f = 0; f < N_FIXTURES; f++) {
        nad_graph *g, *h;
        nad_err e;
        /* Raw graph: aux inputs stay tensors. */
        if (nad_graph_read_onnx(fixture_path(fixtures[f]), &g, &e))
            fail_msg("%s", e.msg);
        h = reparse(g);
        assert_graphs_equal(g, h);
        nad_graph_free(h);
        nad_graph_free(g);
        /* Simplified graph (canonical nodes): compare after the same passes. */
        if (nad_graph_load_onnx(fixture_path(fixtures[f]), 1, &g, &e))
            fail_msg("%s", e.msg);
        h = reparse(g);
        if (nad_graph_simplify(h, 1, &e) || nad_graph_infer_shapes(h, 1, &e))
            fail_msg("%s", e.msg);
        assert_graphs_equal(g, h);
        nad_graph_free(h);
        nad_graph_free(g);
    }
}

/* Saving is atomic: the file appears whole, and no temporary is left. */
static void test_save(void **state)
{
    (void)state;
    nad_graph *g, *h;
    nad_err e;
    char path[512];
    snprintf(path, sizeof path, "%s/saved.onnx", tu_tmpdir());
    if (nad_graph_load_onnx(fixture_path("resnet.op13"), 1, &g, &e))
        fail_msg("%s", e.msg);
    if (nad_graph_save_onnx(g, path, &e))
        fail_msg("%s", e.msg);
    if (nad_graph_load_onnx(path, 1, &h, &e))
        fail_msg("%s", e.msg);
    assert_graphs_equal(g, h);
    nad_graph_free(h);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_int_not_equal(access(tmp, F_OK), 0);
    /* An unwritable place fails with the path and leaves nothing behind. */
    snprintf(path, sizeof path, "%s/no-such-dir/x.onnx", tu_tmpdir());
    assert_int_equal(nad_graph_save_onnx(g, path, &e), NAD_EIO);
    assert_non_null(strstr(e.msg, "no-such-dir"));
    assert_int_not_equal(access(path, F_OK), 0);
    nad_graph_free(g);
}

/* ---- every op, hand-built, at three opsets ----------------------------------- */

static int tensor(nad_graph *g, const char *name, nad_tensor_kind kind)
{
    int t = nad_graph_add_tensor(g, name, NAD_DT_FLOAT, kind, 0, NULL);
    assert_true(t >= 0);
    return t;
}

static int weight(nad_graph *g, const char *name, int n)
{
    int64_t d[1] = {n};
    int t = nad_graph_add_tensor(g, name, NAD_DT_FLOAT, NAD_TK_WEIGHT, 1, d);
    nad_err e;
    assert_true(t >= 0);
    assert_int_equal(nad_tensor_alloc(&g->tensors[t], &e), NAD_OK);
    for (int i = 0; i < n; i++)
        nad_tensor_f32(&g->tensors[t])[i] = 0.25f * (float)i - 1.0f;
    return t;
}

/* One node of op reading x (plus extra inputs) and writing a new tensor. */
static int node(nad_graph *g, nad_op op, const nad_attr *a, int x, int x2, int x3)
{
    char name[32], oname[40];
    int in[3] = {x, x2, x3}, n_in = x3 >= 0 ? 3 : x2 >= 0 ? 2 : 1;
    snprintf(name, sizeof name, "n%d_%s", g->n_nodes, nad_op_name(op));
    snprintf(oname, sizeof oname, "%s_out", name);
    int y = tensor(g, oname, NAD_TK_ACT);
    assert_true(nad_graph_add_node(g, name, op, n_in, in, 1, &y, a) >= 0);
    return y;
}

/* A chain through every op nadapt runs, in canonical form, non-default
 * attributes everywhere (shapes are not meant to fit: no inference here). */
static nad_graph *every_op_graph(int64_t opset)
{
    nad_graph *g = nad_graph_new();
    assert_non_null(g);
    g->opset = opset;
    int64_t xd[4] = {1, 3, 8, 8};
    int x = nad_graph_add_tensor(g, "x", NAD_DT_FLOAT, NAD_TK_INPUT, 4, xd);
    g->inputs = malloc(sizeof(int));
    g->inputs[g->n_inputs++] = x;
    int w = weight(g, "w", 16), b = weight(g, "b", 4);
    nad_attr a;
    memset(&a, 0, sizeof a);
    a.conv = (nad_conv_attr){3, 1, 2, 1, 1, 2, {1, 0, 2, 1}, 1, NAD_PAD_NOTSET};
    int y = node(g, NAD_OP_CONV, &a, x, w, b);
    memset(&a, 0, sizeof a);
    a.pool = (nad_pool_attr){3, 2, 2, 1, 1, 1, {0, 1, 1, 0}, opset >= 10, 0, NAD_PAD_NOTSET};
    y = node(g, NAD_OP_MAXPOOL, &a, y, -1, -1);
    a.pool.count_include_pad = 1;
    a.pool.ceil_mode = 0;
    y = node(g, NAD_OP_AVGPOOL, &a, y, -1, -1);
    memset(&a, 0, sizeof a);
    a.bn = (nad_bn_attr){1e-3f, 0.8f};
    {
        int bn_in[5] = {y, b, b, b, b};
        int bn_out = tensor(g, "bn_out", NAD_TK_ACT);
        assert_true(nad_graph_add_node(g, "bn", NAD_OP_BATCHNORM, 5, bn_in, 1, &bn_out, &a) >= 0);
        y = bn_out;
    }
    memset(&a, 0, sizeof a);
    a.scalar = (nad_scalar_attr){0.125f, 0};
    y = node(g, NAD_OP_LEAKY_RELU, &a, y, -1, -1);
    a.scalar = (nad_scalar_attr){0.0f, 6.0f};
    y = node(g, NAD_OP_CLIP, &a, y, -1, -1);
    a.scalar = (nad_scalar_attr){-INFINITY, 3.0f};
    y = node(g, NAD_OP_CLIP, &a, y, -1, -1);
    a.scalar = (nad_scalar_attr){0.25f, 0.375f};
    y = node(g, NAD_OP_HARD_SIGMOID, &a, y, -1, -1);
    a.scalar = (nad_scalar_attr){0.3f, 0};
    y = node(g, NAD_OP_DROPOUT, &a, y, -1, -1);
    memset(&a, 0, sizeof a);
    const nad_op plain[] = {NAD_OP_RELU, NAD_OP_SIGMOID, NAD_OP_HARD_SWISH, NAD_OP_TANH, NAD_OP_GLOBAL_AVGPOOL,
                            NAD_OP_GLOBAL_MAXPOOL, NAD_OP_IDENTITY};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        y = node(g, plain[i], &a, y, -1, -1);
    const nad_op binary[] = {NAD_OP_ADD, NAD_OP_SUB, NAD_OP_MUL, NAD_OP_DIV, NAD_OP_MATMUL};
    for (size_t i = 0; i < sizeof binary / sizeof binary[0]; i++)
        y = node(g, binary[i], &a, y, b, -1);
    a.ints = (nad_ints_attr){4, {0, 2, 3, 1}};
    y = node(g, NAD_OP_TRANSPOSE, &a, y, -1, -1);
    a.ints = (nad_ints_attr){3, {NAD_DIM_BATCH, 0, -1}};
    y = node(g, NAD_OP_RESHAPE, &a, y, -1, -1);
    a.ints = (nad_ints_attr){2, {1, -1}};
    y = node(g, NAD_OP_UNSQUEEZE, &a, y, -1, -1);
    y = node(g, NAD_OP_SQUEEZE, &a, y, -1, -1);
    memset(&a, 0, sizeof a);
    a.pad = (nad_pad_attr){8, {0, 0, 1, 2, 0, 0, 3, 1}, 0, 0.5f};
    y = node(g, NAD_OP_PAD, &a, y, -1, -1);
    a.pad.mode = 1;
    a.pad.value = 0;
    y = node(g, NAD_OP_PAD, &a, y, -1, -1);
    memset(&a, 0, sizeof a);
    a.axis.axis = -1;
    y = node(g, NAD_OP_SOFTMAX, &a, y, -1, -1);
    a.axis.axis = 1;
    int c = node(g, NAD_OP_CONCAT, &a, y, y, -1);
    a.axis.axis = 2;
    y = node(g, NAD_OP_FLATTEN, &a, c, -1, -1);
    memset(&a, 0, sizeof a);
    a.slice = (nad_slice_attr){2, {1, 0}, {INT64_MAX, 5}, {0, 1}, {1, 1}};
    y = node(g, NAD_OP_SLICE, &a, y, -1, -1);
    memset(&a, 0, sizeof a);
    a.gemm = (nad_gemm_attr){0.5f, 2.0f, 1, 1};
    y = node(g, NAD_OP_GEMM, &a, y, w, b);
    memset(&a, 0, sizeof a);
    int s = node(g, NAD_OP_SHAPE, &a, y, -1, -1);
    g->tensors[s].dtype = NAD_DT_INT64;
    a.axis.axis = 0;
    int64_t one = 0;
    int64_t d0[1] = {1};
    int idx = nad_graph_add_tensor(g, "idx", NAD_DT_INT64, NAD_TK_CONST, 1, d0);
    nad_err e;
    assert_int_equal(nad_tensor_alloc(&g->tensors[idx], &e), NAD_OK);
    memcpy(nad_tensor_i64(&g->tensors[idx]), &one, sizeof one);
    int gth = node(g, NAD_OP_GATHER, &a, s, idx, -1);
    g->tensors[gth].dtype = NAD_DT_INT64;
    a.axis.axis = NAD_DT_FLOAT;
    int cst = node(g, NAD_OP_CAST, &a, gth, -1, -1);
    g->outputs = malloc(2 * sizeof(int));
    g->outputs[g->n_outputs++] = y;
    g->outputs[g->n_outputs++] = cst;
    return g;
}

/* Reads the int64 or float value of an aux input of node i of h. */
static const nad_tensor *aux(const nad_graph *h, int i, int k)
{
    const nad_node *n = &h->nodes[i];
    assert_true(k < n->n_in);
    if (n->in[k] < 0)
        return NULL;
    const nad_tensor *t = &h->tensors[n->in[k]];
    assert_int_equal(t->kind == NAD_TK_WEIGHT || t->kind == NAD_TK_CONST, 1);
    return t;
}

static void test_every_op(void **state)
{
    (void)state;
    const int64_t opsets[] = {9, 11, 13};
    for (size_t o = 0; o < 3; o++) {
        int64_t opset = opsets[o];
        nad_graph *g = every_op_graph(opset);
        nad_graph *h = reparse(g);
        assert_int_equal(h->n_nodes, g->n_nodes);
        for (int i = 0; i < g->n_nodes; i++) {
            const nad_node *x = &g->nodes[i], *y = &h->nodes[i];
            assert_string_equal(x->name, y->name);
            assert_int_equal(x->op, y->op);
            int input_form = (x->op == NAD_OP_CLIP && opset >= 11) || (x->op == NAD_OP_PAD && opset >= 11) ||
                             (x->op == NAD_OP_SLICE && opset >= 10) || x->op == NAD_OP_RESHAPE ||
                             ((x->op == NAD_OP_SQUEEZE || x->op == NAD_OP_UNSQUEEZE) && opset >= 13) ||
                             (x->op == NAD_OP_DROPOUT && opset >= 12);
            if (!input_form) {
                assert_int_equal(x->n_in, y->n_in);
                assert_attr_equal(x->op, &x->attr, &y->attr, x->name);
                continue;
            }
            /* Values written as initializer inputs in the opset's form. */
            if (x->op == NAD_OP_CLIP) {
                const nad_tensor *mn = aux(h, i, 1), *mx = y->n_in > 2 ? aux(h, i, 2) : NULL;
                if (isfinite(x->attr.scalar.a))
                    assert_true(mn && nad_tensor_f32(mn)[0] == x->attr.scalar.a);
                else
                    assert_null(mn);
                assert_true(mx && nad_tensor_f32(mx)[0] == x->attr.scalar.b);
            } else if (x->op == NAD_OP_DROPOUT) {
                assert_true(nad_tensor_f32(aux(h, i, 1))[0] == x->attr.scalar.a);
            } else if (x->op == NAD_OP_PAD) {
                const nad_tensor *p = aux(h, i, 1);
                assert_int_equal(p->dims[0], x->attr.pad.n);
                assert_memory_equal(nad_tensor_i64(p), x->attr.pad.pads, (size_t)x->attr.pad.n * 8);
                assert_int_equal(y->attr.pad.mode, x->attr.pad.mode);
                if (x->attr.pad.value != 0)
                    assert_true(nad_tensor_f32(aux(h, i, 2))[0] == x->attr.pad.value);
                else
                    assert_int_equal(y->n_in, 2);
            } else if (x->op == NAD_OP_SLICE) {
                assert_int_equal(y->n_in, 5);
                assert_memory_equal(nad_tensor_i64(aux(h, i, 1)), x->attr.slice.starts, 16);
                assert_memory_equal(nad_tensor_i64(aux(h, i, 2)), x->attr.slice.ends, 16);
                assert_memory_equal(nad_tensor_i64(aux(h, i, 3)), x->attr.slice.axes, 16);
                assert_memory_equal(nad_tensor_i64(aux(h, i, 4)), x->attr.slice.steps, 16);
            } else if (x->op == NAD_OP_RESHAPE) {
                /* The batch entry becomes 0 (copy) at the input's batch axis. */
                const int64_t want[3] = {0, 0, -1};
                assert_memory_equal(nad_tensor_i64(aux(h, i, 1)), want, sizeof want);
            } else {
                assert_memory_equal(nad_tensor_i64(aux(h, i, 1)), x->attr.ints.v, (size_t)x->attr.ints.n * 8);
            }
        }
        /* Writing the re-read (raw) graph again keeps its inputs as they are. */
        nad_graph *k = reparse(h);
        assert_graphs_equal(h, k);
        nad_graph_free(k);
        nad_graph_free(h);
        nad_graph_free(g);
    }
}

/* A batch entry that cannot be written as 0 or -1 is refused, not mangled. */
static void test_reshape_batch_refused(void **state)
{
    (void)state;
    nad_graph *g = every_op_graph(13);
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == NAD_OP_RESHAPE)
            g->nodes[i].attr.ints = (nad_ints_attr){3, {-1, NAD_DIM_BATCH, 4}};
    uint8_t *buf = NULL;
    size_t len = 0;
    nad_err e;
    assert_int_equal(nad_graph_to_onnx_bytes(g, &buf, &len, &e), NAD_EUNSUPPORTED);
    assert_null(buf);
    assert_non_null(strstr(e.msg, "Reshape"));
    nad_graph_free(g);
}

/* ---- opset 11 vs 13 forms of the same network -------------------------------- */

static void test_opset_forms(void **state)
{
    (void)state;
    nad_graph *g11, *g13;
    nad_err e;
    if (nad_graph_read_onnx(fixture_path("cnn_bn.op11"), &g11, &e) ||
        nad_graph_read_onnx(fixture_path("cnn_bn.op13"), &g13, &e))
        fail_msg("%s", e.msg);
    int seen = 0;
    for (int i = 0; i < g11->n_nodes; i++)
        if (g11->nodes[i].op == NAD_OP_UNSQUEEZE) {
            seen++;
            assert_int_equal(g11->nodes[i].n_in, 1);         /* axes attribute */
            assert_int_equal(g11->nodes[i].attr.ints.n, 1);
            assert_int_equal(g13->nodes[i].op, NAD_OP_UNSQUEEZE);
            assert_int_equal(g13->nodes[i].n_in, 2); /* axes input, absorbed later */
            assert_int_equal(g13->nodes[i].attr.ints.n, 0);
        }
    assert_true(seen > 0);
    nad_graph_free(g11);
    nad_graph_free(g13);
    /* Both load to the same canonical graph. */
    if (nad_graph_load_onnx(fixture_path("cnn_bn.op11"), 1, &g11, &e) ||
        nad_graph_load_onnx(fixture_path("cnn_bn.op13"), 1, &g13, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(g11->n_nodes, g13->n_nodes);
    for (int i = 0; i < g11->n_nodes; i++) {
        assert_int_equal(g11->nodes[i].op, g13->nodes[i].op);
        assert_int_equal(g11->nodes[i].n_in, g13->nodes[i].n_in);
        assert_attr_equal(g11->nodes[i].op, &g11->nodes[i].attr, &g13->nodes[i].attr, g11->nodes[i].name);
    }
    nad_graph_free(g11);
    nad_graph_free(g13);
    /* mobilenetv2: Clip min/max are inputs at 11 and 13 alike. */
    if (nad_graph_read_onnx(fixture_path("mobilenetv2.op11"), &g11, &e))
        fail_msg("%s", e.msg);
    for (int i = 0; i < g11->n_nodes; i++)
        if (g11->nodes[i].op == NAD_OP_CLIP)
            assert_int_equal(g11->nodes[i].n_in, 3);
    nad_graph_free(g11);
}

/* ---- logits survive load → save → load ---------------------------------------- */

static float *run_logits(nad_graph *g, const float *x, int n, int64_t *classes)
{
    nad_plan *p;
    nad_err e;
    if (nad_plan_create(g, n, &p, &e))
        fail_msg("plan: %s", e.msg);
    memcpy(nad_plan_input(p), x, (size_t)n * (size_t)nad_plan_input_size(p) * sizeof(float));
    if (nad_plan_run(p, n, &e))
        fail_msg("run: %s", e.msg);
    *classes = nad_plan_output_size(p);
    float *out = malloc((size_t)n * (size_t)*classes * sizeof(float));
    assert_non_null(out);
    memcpy(out, nad_plan_output(p), (size_t)n * (size_t)*classes * sizeof(float));
    nad_plan_destroy(p);
    return out;
}

static void test_round_trip_logits(void **state)
{
    (void)state;
    enum { N = 64 };
    nad_dataset *d;
    nad_err e;
    if (nad_dataset_load(tu_src("examples/fixtures/fmnist_test256"), NAD_SPLIT_TEST, &d, &e))
        fail_msg("%s", e.msg);
    float *x = malloc(N * 28 * 28 * sizeof(float));
    const float mean = 0.2860f, std = 0.3530f;
    assert_non_null(x);
    assert_int_equal(nad_dataset_batch(d, NULL, 0, N, &mean, &std, 1, x, &e), NAD_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/rt.onnx", tu_tmpdir());
    for (size_t f = 0; f < N_FIXTURES; f++) {
        nad_graph *g, *h;
        int64_t c1, c2;
        if (nad_graph_load_onnx(fixture_path(fixtures[f]), 1, &g, &e))
            fail_msg("%s", e.msg);
        if (nad_graph_save_onnx(g, path, &e) || nad_graph_load_onnx(path, 1, &h, &e))
            fail_msg("%s", e.msg);
        float *a = run_logits(g, x, N, &c1), *b = run_logits(h, x, N, &c2);
        assert_int_equal(c1, c2);
        assert_memory_equal(a, b, (size_t)N * (size_t)c1 * sizeof(float));
        /* And both agree with PyTorch's logits for the same images. */
        char rel[256];
        snprintf(rel, sizeof rel, "examples/fixtures/%.*s.logits64.f32", (int)(strchr(fixtures[f], '.') - fixtures[f]),
                 fixtures[f]);
        size_t len;
        float *ref = tu_read_file(tu_src(rel), &len);
        assert_non_null(ref);
        assert_int_equal(len, (size_t)N * (size_t)c1 * sizeof(float));
        for (size_t i = 0; i < (size_t)N * (size_t)c1; i++)
            if (fabsf(a[i] - ref[i]) > 1e-3f * (1.0f + fabsf(ref[i])))
                fail_msg("%s: logit %zu is %g, torch says %g", fixtures[f], i, a[i], ref[i]);
        free(ref);
        free(a);
        free(b);
        nad_graph_free(g);
        nad_graph_free(h);
    }
    free(x);
    nad_dataset_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_fixtures),  cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_hostile_models), cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_save),           cmocka_unit_test(test_every_op),
        cmocka_unit_test(test_reshape_batch_refused), cmocka_unit_test(test_opset_forms),
        cmocka_unit_test(test_round_trip_logits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
