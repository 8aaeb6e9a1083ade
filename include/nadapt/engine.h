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

/* Sets the number of threads OpenBLAS and nadapt's own kernels use (>= 1). */
void nad_set_threads(int n);

#ifdef __cplusplus
}
#endif
#endif /* NADAPT_ENGINE_H */
