/*
 * Helpers for tests that build small graphs by hand with the internal graph
 * API (src/graph/graph.h).  Header-only so each test program takes just what
 * it uses; include it after <cmocka.h>.  Every helper asserts on failure, so a
 * test reads as a list of layers.
 */
#ifndef NAD_TESTS_GRAPH_BUILDER_H
#define NAD_TESTS_GRAPH_BUILDER_H

#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"

/* An int64 dims list for the call it appears in (the count is for the reader). */
#define D(n, ...) ((int64_t[]){__VA_ARGS__})

/* A graph input (batch at axis 0) registered in g->inputs. */
static inline int input(nad_graph *g, const char *name, int ndim, const int64_t *dims)
{
    int t = nad_graph_add_tensor(g, name, NAD_DT_FLOAT, NAD_TK_INPUT, ndim, dims);
    assert_true(t >= 0);
    g->inputs = realloc(g->inputs, (size_t)(g->n_inputs + 1) * sizeof(int));
    assert_non_null(g->inputs);
    g->inputs[g->n_inputs++] = t;
    return t;
}

/* Registers tensor t as a graph output. */
static inline void mark_output(nad_graph *g, int t)
{
    g->outputs = realloc(g->outputs, (size_t)(g->n_outputs + 1) * sizeof(int));
    assert_non_null(g->outputs);
    g->outputs[g->n_outputs++] = t;
}

/* An activation tensor whose shape inference will fill in. */
static inline int act(nad_graph *g, const char *name)
{
    int t = nad_graph_add_tensor(g, name, NAD_DT_FLOAT, NAD_TK_ACT, 0, NULL);
    assert_true(t >= 0);
    return t;
}

/* Appends a one-output node named (and with an output tensor named) name. */
static inline int node(nad_graph *g, const char *name, nad_op op, const nad_attr *attr, int n_in, const int *in)
{
    int y = act(g, name);
    assert_true(nad_graph_add_node(g, name, op, n_in, in, 1, &y, attr) >= 0);
    return y;
}

static inline int node1(nad_graph *g, const char *name, nad_op op, const nad_attr *attr, int x)
{
    return node(g, name, op, attr, 1, &x);
}

static inline int node2(nad_graph *g, const char *name, nad_op op, const nad_attr *attr, int a, int b)
{
    int in[2] = {a, b};
    return node(g, name, op, attr, 2, in);
}

static inline nad_attr axis_attr(int axis)
{
    nad_attr a;
    memset(&a, 0, sizeof a);
    a.axis.axis = axis;
    return a;
}

#endif
