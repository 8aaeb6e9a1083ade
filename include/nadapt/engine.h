/*
 * nadapt — the reference inference engine (float32, NCHW, OpenBLAS).
 *
 * A plan is made once per (graph, batch size): it chooses a kernel per node and
 * lays out every activation buffer, then runs as often as needed.  The plan
 * reads weights straight from the graph's tensors (no private copy), so weight
 * updates made by the trainer are seen by the next run; changing a shape or
 * the node list needs a new plan.
 *
 *     nad_plan *p;
 *     nad_plan_create(g, 64, &p, &e);
 *     memcpy(nad_plan_input(p), images, 64 * nad_plan_input_size(p) * sizeof(float));
 *     nad_plan_run(p, 64, &e);
 *     const float *logits = nad_plan_output(p);   // 64 x nad_plan_output_size(p)
 *     nad_plan_destroy(p);
 */
#ifndef NADAPT_ENGINE_H
#define NADAPT_ENGINE_H

#include <stdint.h>

#include "nadapt/graph.h"
#include "nadapt/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nad_plan nad_plan;

/*
 * Plans g for up to max_batch images.  Runs shape inference on g for
 * max_batch (g's dims change).  Fails with NAD_EUNSUPPORTED naming the node
 * when an op or attribute combination has no kernel.  g must outlive the plan.
 */
nad_status nad_plan_create(nad_graph *g, int max_batch, nad_plan **out, nad_err *e);

/* The input buffer: max_batch x nad_plan_input_size() floats, NCHW. */
float *nad_plan_input(nad_plan *p);
/* Floats per image in the (first) graph input, e.g. 1*28*28. */
int64_t nad_plan_input_size(const nad_plan *p);

/* Runs the first n (1..max_batch) images of the input buffer. */
nad_status nad_plan_run(nad_plan *p, int n, nad_err *e);

/* The (first) graph output after a run: n x nad_plan_output_size() floats. */
const float *nad_plan_output(const nad_plan *p);
int64_t nad_plan_output_size(const nad_plan *p);

/* Frees the plan (not the graph); NULL is allowed. */
void nad_plan_destroy(nad_plan *p);

/* Fractions of non-zero values (1 - zero fraction) around one graph node. */
typedef struct nad_act_density {
    double in;  /* over the node's activation inputs (what an accelerator reads:
                   graph inputs and computed tensors, not weights or
                   constants); -1 when the node has none                    */
    double out; /* over the node's first output                             */
} nad_act_density;

/*
 * Measures activation sparsity on calibration data (the zero fractions that an
 * accelerator's zero gating and run-length coding exploit, Eyeriss JSSC 2017
 * Sec. IV-B).  Runs g in chunks of up to max_batch images over `images`
 * (n x per_image floats, normalised NCHW, as nad_plan_input expects; per_image
 * must equal the graph input's floats per image) with every activation kept
 * and nothing fused, and
 * counts the non-zero values of every activation tensor.  On success *out is
 * a new array with one entry per graph node, in node order (free with
 * free()): node i's densities over all n images.  NaN counts as non-zero.
 * Side effect: shape inference runs on g for max_batch (re-run
 * nad_graph_infer_shapes for another batch afterwards).  On failure *out is
 * NULL.  Returns NAD_EINVAL for n < 1 or max_batch < 1, NAD_ESHAPE when
 * per_image differs from the model's input, the planner's status
 * (NAD_EUNSUPPORTED naming the node ...) or NAD_ENOMEM.
 */
nad_status nad_measure_act_density(nad_graph *g, const float *images, int64_t n, int64_t per_image, int max_batch,
                                   nad_act_density **out, nad_err *e);

/* Sets the number of threads OpenBLAS and nadapt's own kernels use (>= 1). */
void nad_set_threads(int n);

/* The thread count last set by nad_set_threads (1 before any call); lets a
 * caller that changes it for a while put it back. */
int nad_get_threads(void);

#ifdef __cplusplus
}
#endif
#endif /* NADAPT_ENGINE_H */
