/*
 * nadapt — activation densities of a workload: measured per graph node, or
 * given by hand (see workload_density.h).
 */
#include "workload_density.h"

#include <stdlib.h>

#include "graph/graph.h"

/* 1 for the element-wise activations an accelerator applies to a layer's
 * outputs on the way out (the ops the engine fuses into conv/Gemm). */
static int is_output_activation(nad_op op)
{
    switch (op) {
    case NAD_OP_RELU:
    case NAD_OP_LEAKY_RELU:
    case NAD_OP_CLIP:
    case NAD_OP_SIGMOID:
    case NAD_OP_HARD_SIGMOID:
    case NAD_OP_HARD_SWISH:
    case NAD_OP_TANH:
        return 1;
    default:
        return 0;
    }
}

/* The only node reading tensor t, or -1 when t is read by none, by several,
 * or is a graph output (then it leaves the chip as it is). */
static int sole_consumer(const nad_graph *g, int t)
{
    int who = -1;
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == t)
            return -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] == t) {
                if (who >= 0 && who != i)
                    return -1;
                who = i;
            }
    return who;
}

nad_status nad_workload_set_measured_density(nad_workload *w, const nad_graph *g, const nad_act_density *d,
                                             nad_err *e)
{
    for (int li = 0; li < w->n_layers; li++) {
        nad_layer_shape *l = &w->layers[li];
        int i = l->graph_node;
        if (i < 0)
            continue;
        if (i >= g->n_nodes)
            return nad_errf(e, NAD_EINVAL, "layer '%s': graph node %d is not in the graph (%d nodes)", l->name, i,
                            g->n_nodes);
        /* Follow the output through activations applied on the way out. */
        int last = i;
        for (int hops = 0; hops < g->n_nodes; hops++) {
            const nad_node *nd = &g->nodes[last];
            int c = nd->n_out > 0 ? sole_consumer(g, nd->out[0]) : -1;
            if (c < 0 || !is_output_activation(g->nodes[c].op))
                break;
            last = c;
        }
        double din = d[i].in, dout = d[last].out;
        if (din > 1.0 || dout > 1.0)
            return nad_errf(e, NAD_EINVAL, "layer '%s': measured density %.10g is above 1", l->name,
                            din > 1.0 ? din : dout);
        if (din >= 0)
            l->act_density = din;
        if (dout >= 0)
            l->out_density = dout;
    }
    return NAD_OK;
}

nad_status nad_workload_set_act_density(nad_workload *w, double density, nad_err *e)
{
    if (!(density > 0 && density <= 1))
        return nad_errf(e, NAD_EINVAL, "activation density %.10g is not in (0, 1]", density);
    for (int li = 0; li < w->n_layers; li++)
        w->layers[li].act_density = w->layers[li].out_density = density;
    return NAD_OK;
}
