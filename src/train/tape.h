/*
 * The training tape: runs a graph forward in training mode (BatchNorm on batch
 * statistics, Dropout with a seeded mask) keeping every activation, then runs
 * the backward pass node by node in reverse topological order.
 *
 * It walks the same node order and tensor shapes (nad_graph_infer_shapes) as
 * the inference plan, but owns its buffers: every activation tensor and every
 * trainable weight gets its own value and gradient buffer.  Weights are read
 * from the graph's blobs at every forward, so updates (and blobs replaced by
 * nad_tensor_make_writable) are seen by the next step.
 */
#ifndef NAD_TRAIN_TAPE_H
#define NAD_TRAIN_TAPE_H

#include <stdint.h>

#include "graph/graph.h"
#include "train/rng.h"

typedef struct nad_tape nad_tape;

/*
 * Prepares g for batches of up to max_batch images: infers shapes, checks
 * every node has a training kernel (NAD_EUNSUPPORTED naming the node if not),
 * allocates buffers.  g must outlive the tape and keep its nodes and shapes.
 */
nad_status nad_tape_create(nad_graph *g, int max_batch, nad_tape **out, nad_err *e);

/* Threads for the tape's own loops (GEMMs use OpenBLAS's setting); 1 by
 * default.  Results do not depend on it (see parallel.h). */
void nad_tape_set_threads(nad_tape *t, int threads);

/* The input buffer (max_batch x nad_tape_input_size floats, NCHW). */
float *nad_tape_input(nad_tape *t);
int64_t nad_tape_input_size(const nad_tape *t);
/* Classes per image in the logits. */
int nad_tape_classes(const nad_tape *t);

/*
 * Runs the first n images forward.  training != 0: BN uses and updates batch
 * statistics (the running-stat blobs must be writable), Dropout draws its mask
 * from rng; otherwise BN uses the running statistics and Dropout passes
 * through.
 */
nad_status nad_tape_forward(nad_tape *t, int n, int training, nad_rng *rng, nad_err *e);

/* The logits after a forward (n x classes); if the graph ends in Softmax these
 * are its input. */
const float *nad_tape_logits(const nad_tape *t);
/* Where the loss writes dLoss/dlogits before nad_tape_backward. */
float *nad_tape_logits_grad(nad_tape *t);

/* Back-propagates from the logits gradient through the last training forward
 * of n images; fills the parameter gradients (zeroed first). */
nad_status nad_tape_backward(nad_tape *t, int n, nad_err *e);

/* Trainable parameters: count, graph tensor index of the i-th, its gradient. */
int nad_tape_n_params(const nad_tape *t);
int nad_tape_param_tensor(const nad_tape *t, int i);
float *nad_tape_param_grad(nad_tape *t, int i);

/* Frees t (not the graph); NULL is allowed. */
void nad_tape_destroy(nad_tape *t);

#endif
