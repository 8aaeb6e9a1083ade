/*
 * nadapt — activation densities of a workload (internal): measured ones from
 * the engine (nad_measure_act_density) mapped onto a graph's layers, or one
 * density given by hand.  The cost model then applies the target's declared
 * sparsity support (zero gating / skipping on input density, RLC of DRAM
 * input reads and output writes; measure/README.md "Energy").
 */
#ifndef NAD_MEASURE_WORKLOAD_DENSITY_H
#define NAD_MEASURE_WORKLOAD_DENSITY_H

#include "nadapt/engine.h"
#include "nadapt/graph.h"
#include "nadapt/status.h"
#include "workload.h"

/*
 * Sets the activation densities of every layer of w that came from graph g
 * (graph_node >= 0; w made by nad_workload_from_graph(g)) from per-node
 * measurements d (g->n_nodes entries):
 *   act_density = d[node].in, the density of what the layer reads;
 *   out_density = the density of what the layer writes: its output, or, when
 *     that output feeds exactly one node and it is an element-wise activation
 *     (Relu, LeakyRelu, Clip, Sigmoid, HardSigmoid, HardSwish, Tanh) -- which
 *     the workload does not cost, because the accelerator applies it on the
 *     way out (Eyeriss's ReLU module before the RLC encoder, JSSC 2017
 *     Sec. IV-B) -- the output of the last such activation in the chain.
 * A density of exactly 0 (a dead layer) is kept.  Layers whose node has no
 * measurement (-1) keep their values.  Returns NAD_EINVAL naming the layer
 * when its node index is outside g, or when a measured density is outside
 * [0, 1].
 */
nad_status nad_workload_set_measured_density(nad_workload *w, const nad_graph *g, const nad_act_density *d,
                                             nad_err *e);

/*
 * Gives every layer of w input and output activation density `density` (the
 * CLI's --act-density).  Returns NAD_EINVAL when density is outside (0, 1].
 */
nad_status nad_workload_set_act_density(nad_workload *w, double density, nad_err *e);

#endif /* NAD_MEASURE_WORKLOAD_DENSITY_H */
