/*
 * Hostile inputs (issue 11), model and YAML side: a FIFO given as the model
 * and as --target, a directory as --target, a model with a NaN weight, a
 * BatchNormalization with a negative variance, YAML nested 100000 deep and a
 * YAML file with two documents.  Each must end at once (the CLI runs under
 * `timeout 10`, so a regression fails instead of hanging the suite) with exit
 * status 1, one stderr line naming the file and the problem, and nothing on
 * stdout.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "graph/graph.h"
#include "testutil.h"

#define MODEL "examples/fixtures/cnn_bn.op13.onnx"
#define TARGET "models/eyeriss.yaml"
#define DATA "examples/fixtures/fmnist_test256"

static void test_fifo_model_and_target(void **state)
{
    (void)state;
    char fifo[512], args[2048];
    snprintf(fifo, sizeof fifo, "%s/pipe.onnx", tu_tmpdir());
    assert_int_equal(mkfifo(fifo, 0600), 0);
    snprintf(args, sizeof args, "info '%s'", fifo);
    tu_expect_refused(args, fifo, "not a regular file", NULL);
    snprintf(args, sizeof args, "estimate '%s' --target '%s'", tu_src(MODEL), fifo);
    tu_expect_refused(args, fifo, "not a regular file", NULL);
    /* The library call itself, not only the CLI. */
    nad_graph *g = NULL;
    nad_err e;
    assert_int_equal(nad_graph_load_onnx(fifo, 1, &g, &e), NAD_EIO);
    assert_null(g);
    assert_non_null(strstr(e.msg, "not a regular file"));
    remove(fifo);
}

static void test_directory_target(void **state)
{
    (void)state;
    char args[2048];
    const char *dir = tu_tmpdir();
    snprintf(args, sizeof args, "estimate '%s' --target '%s'", tu_src(MODEL), dir);
    tu_expect_refused(args, dir, "is a directory", NULL);
    snprintf(args, sizeof args, "info '%s'", dir);
    tu_expect_refused(args, dir, "is a directory", NULL);
}

/* Reads MODEL raw (BatchNorms kept), lets edit change it, saves it to
 * TMP/name and returns that path (static storage). */
static const char *edited_model(const char *name, void (*edit)(nad_graph *g))
{
    static char path[512];
    nad_graph *g = NULL;
    nad_err e;
    assert_int_equal(nad_graph_read_onnx(tu_src(MODEL), &g, &e), NAD_OK);
    edit(g);
    snprintf(path, sizeof path, "%s/%s", tu_tmpdir(), name);
    if (nad_graph_save_onnx(g, path, &e))
        fail_msg("%s", e.msg);
    nad_graph_free(g);
    return path;
}

/* The first node with op, or fails the test. */
static const nad_node *first_node(const nad_graph *g, nad_op op)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == op)
            return &g->nodes[i];
    fail_msg("no %s node in %s", nad_op_name(op), MODEL);
    return NULL;
}

static char g_weight[256], g_var[256], g_bn[256];

static void put_nan_weight(nad_graph *g)
{
    const nad_node *conv = first_node(g, NAD_OP_CONV);
    nad_tensor *w = &g->tensors[conv->in[1]];
    assert_true(nad_tensor_numel(w) > 3);
    nad_tensor_f32(w)[3] = NAN;
    snprintf(g_weight, sizeof g_weight, "%s", w->name);
}

static void put_negative_variance(nad_graph *g)
{
    const nad_node *bn = first_node(g, NAD_OP_BATCHNORM);
    nad_tensor *v = &g->tensors[bn->in[4]];
    assert_true(nad_tensor_numel(v) > 2);
    nad_tensor_f32(v)[2] = -1.0f;
    snprintf(g_var, sizeof g_var, "%s", v->name);
    snprintf(g_bn, sizeof g_bn, "%s", bn->name);
}

static void test_nan_weight(void **state)
{
    (void)state;
    const char *path = edited_model("nan.onnx", put_nan_weight);
    char args[2048], want[1024];
    snprintf(want, sizeof want, "initializer '%s' holds a non-finite value (NaN at index 3)", g_weight);
    snprintf(args, sizeof args, "info '%s'", path);
    tu_expect_refused(args, path, want, NULL);
    snprintf(args, sizeof args, "eval '%s' --data '%s' --limit 8", path, tu_src(DATA));
    tu_expect_refused(args, path, want, NULL);
    nad_graph *g = NULL;
    nad_err e;
    assert_int_equal(nad_graph_read_onnx(path, &g, &e), NAD_EFORMAT);
    assert_null(g);
}

static void test_negative_bn_variance(void **state)
{
    (void)state;
    const char *path = edited_model("negvar.onnx", put_negative_variance);
    char args[2048], want[1024];
    snprintf(want, sizeof want, "node '%s' (BatchNormalization): variance '%s' is negative at channel 2", g_bn,
             g_var);
    snprintf(args, sizeof args, "info '%s' --no-fold-bn", path);
    tu_expect_refused(args, path, want, NULL);
    snprintf(args, sizeof args, "info '%s'", path);
    tu_expect_refused(args, path, want, NULL);
    snprintf(args, sizeof args, "eval '%s' --data '%s' --limit 8", path, tu_src(DATA));
    tu_expect_refused(args, path, want, NULL);
    nad_graph *g = NULL;
    nad_err e;
    assert_int_equal(nad_graph_load_onnx(path, 0, &g, &e), NAD_EFORMAT);
    assert_null(g);
}

static void test_deep_yaml(void **state)
{
    (void)state;
    enum { DEPTH = 100000 };
    char path[512], args[2048];
    snprintf(path, sizeof path, "%s/deep.yaml", tu_tmpdir());
    char *text = malloc(DEPTH + 2);
    assert_non_null(text);
    memset(text, '[', DEPTH);
    text[DEPTH] = '\n';
    text[DEPTH + 1] = '\0';
    assert_int_equal(tu_write_file(path, text, DEPTH + 1), 0);
    free(text);
    snprintf(args, sizeof args, "estimate '%s' --target '%s'", tu_src(MODEL), path);
    double dt = tu_expect_refused(args, path, ":1: nesting deeper than 64", NULL);
    assert_true(dt < 2.0);
    /* The same file as a workload (estimate's first argument). */
    snprintf(args, sizeof args, "estimate '%s' --target '%s'", path, tu_src(TARGET));
    dt = tu_expect_refused(args, path, "nesting deeper than 64", NULL);
    assert_true(dt < 2.0);
}

static void test_two_documents(void **state)
{
    (void)state;
    char path[512], args[2048];
    size_t len = 0;
    char *base = tu_read_file(tu_src(TARGET), &len);
    assert_non_null(base);
    snprintf(path, sizeof path, "%s/two.yaml", tu_tmpdir());
    static const char tail[] = "---\nname: second\n";
    char *text = malloc(len + sizeof tail);
    assert_non_null(text);
    memcpy(text, base, len);
    memcpy(text + len, tail, sizeof tail);
    assert_int_equal(tu_write_file(path, text, len + sizeof tail - 1), 0);
    /* The line of the second document's "---". */
    char line[32];
    snprintf(line, sizeof line, ":%d: ", tu_count_lines(base) + 1 + (len && base[len - 1] != '\n'));
    free(base);
    free(text);
    snprintf(args, sizeof args, "estimate '%s' --target '%s'", tu_src(MODEL), path);
    tu_expect_refused(args, path, line, "a second YAML document; one per file", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_model_and_target), cmocka_unit_test(test_directory_target),
        cmocka_unit_test(test_nan_weight),            cmocka_unit_test(test_negative_bn_variance),
        cmocka_unit_test(test_deep_yaml),             cmocka_unit_test(test_two_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
