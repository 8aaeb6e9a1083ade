/*
 * nadapt — execution plan internals (shared by the inference engine and the
 * trainer in src/train/).
 *
 * A plan walks the graph once: one step per node (an activation node fused into
 * its producer is absorbed into that producer's step), one kernel per step
 * chosen through one switch over nad_op, one float buffer per activation
 * tensor sized for max_batch images.  For inference, buffers are reused by
 * liveness and aliasing ops (Reshape, Flatten, Squeeze, Unsqueeze, Identity,
 * Dropout) share their input's buffer.
 *
 * For training, create the plan with NAD_PLAN_KEEP_ACTIVATIONS |
 * NAD_PLAN_NO_FUSION: then every activation tensor keeps its own buffer (aliases
 * still share storage, but their data is never overwritten), no step writes in
 * place, and no activation is fused into a conv/Gemm, so every pre-activation
 * value the backward pass needs is still there after nad_plan_run().
 *
 * Layout of a tensor's data: nad_plan_data(p, t) points at the tensor's first
 * element.  Activation tensors are dense row-major with the dims shape inference
 * gave them for max_batch (g->tensors[t].dims); a run with n < max_batch images
 * uses the same layout with dims[batch_axis] = n (for batch_axis 0: the first n
 * images).  Weights and constants are read from the graph's blobs at every run,
 * never copied, so in-place weight updates are seen by the next run.  If a blob
 * is replaced (nad_tensor_make_writable), nothing needs refreshing either:
 * nad_plan_data resolves the blob each time.
 *
 * Threads.  When every step works image by image (batch_split), nad_plan_run
 * splits the batch into contiguous slices, one per thread, and each thread runs
 * the whole step list on its slice (in cache-sized chunks of images); otherwise
 * one thread runs all steps.  The conv, Gemm and MatMul kernels are the
 * engine's own (src/engine/k_sgemm.c); only Gemm with transA uses OpenBLAS.
 */
#ifndef NAD_ENGINE_PLAN_H
#define NAD_ENGINE_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "engine/kernels.h"
#include "graph/graph.h"
#include "nadapt/engine.h"

/* Creation flags for nad_plan_create_ex. */
#define NAD_PLAN_KEEP_ACTIVATIONS 1u /* no buffer reuse, no in-place steps           */
#define NAD_PLAN_NO_FUSION 2u        /* no activation fused into conv/Gemm/BN steps  */

/* The kernel a step runs. */
typedef enum nad_kernel {
    NAD_K_ALIAS = 0,    /* output shares the input's buffer; nothing runs     */
    NAD_K_COPY,         /* output = input (when aliasing is not allowed)      */
    NAD_K_CONV,         /* nad_k_conv (im2col+GEMM, 1x1 GEMM, or depthwise)   */
    NAD_K_GEMM,         /* nad_k_gemm                                         */
    NAD_K_MATMUL,       /* nad_k_matmul                                       */
    NAD_K_BINARY,       /* nad_k_binary (Add/Sub/Mul/Div)                     */
    NAD_K_ACT,          /* nad_k_act (Relu, LeakyRelu, Clip, Sigmoid, ...)    */
    NAD_K_BATCHNORM,    /* nad_k_batchnorm                                    */
    NAD_K_SOFTMAX,      /* nad_k_softmax                                      */
    NAD_K_MAXPOOL,      /* nad_k_maxpool                                      */
    NAD_K_AVGPOOL,      /* nad_k_avgpool                                      */
    NAD_K_GLOBAL_AVGPOOL,
    NAD_K_GLOBAL_MAXPOOL,
    NAD_K_TRANSPOSE,    /* nad_k_transpose                                    */
    NAD_K_CONCAT,       /* nad_k_concat_part per input                        */
    NAD_K_PAD,          /* nad_k_pad                                          */
    NAD_K_COUNT
} nad_kernel;

/* One step of the plan. */
typedef struct nad_plan_step {
    int node;          /* index of the graph node this step runs             */
    nad_kernel kernel; /* the kernel chosen for it                           */
    nad_act act;       /* activation applied in the output pass (NONE if none): for
                          NAD_K_ACT the op itself, for CONV/GEMM/BATCHNORM/BINARY/
                          CONCAT a fused following Relu/Clip/LeakyRelu node    */
    int act_node;      /* graph node fused into this step as act, -1 if none  */
    int out;           /* tensor this step writes: the node's output, or the
                          fused activation node's output                     */
    int in_place;      /* 1 when out shares the buffer of the node's input 0   */
    union {
        nad_conv_geom conv; /* NAD_K_CONV                                    */
        nad_pool_geom pool; /* NAD_K_MAXPOOL, NAD_K_AVGPOOL                  */
        struct {            /* NAD_K_GEMM (A's rows are the images)          */
            int m, n, k;    /* m for max_batch images; a run uses m = n images */
            int cm, cn;     /* dims of the C input (1 = broadcast), 0 if none */
        } gemm;
        struct { /* NAD_K_SOFTMAX, NAD_K_CONCAT: x as [outer, len, inner]     */
            int64_t outer, len, inner; /* for max_batch images               */
        } axis;
    } geom;
    size_t ws_floats; /* workspace floats this step needs per thread         */
} nad_plan_step;

struct nad_plan {
    nad_graph *g;         /* the planned graph (not owned)                   */
    int max_batch;
    unsigned flags;       /* NAD_PLAN_* flags given at creation              */
    int n_steps;
    nad_plan_step *steps; /* in execution (graph) order                      */
    float **act;          /* per tensor index: its buffer for max_batch images,
                             NULL for weights/constants (use nad_plan_data)  */
    int *buf_of;          /* per tensor index: id of the arena slot it lives in,
                             -1 for weights/constants                         */
    float *arena;         /* all activation buffers                           */
    size_t arena_floats;
    float *ws;            /* workspace, ws_floats per thread                  */
    size_t ws_floats;     /* the largest step need                            */
    int ws_threads;       /* threads the workspace is sized for               */
    int input;            /* tensor index of the (first) graph input          */
    int output;           /* tensor index of the (first) graph output         */
    int batch_split;      /* 1 when every step works image by image (see top) */
    int last_n;           /* images of the last successful run, 0 if none     */
    int64_t *img_stride;  /* per tensor index: floats from one image's data to the
                             next for batch_split slicing (see below)          */
    int chunk;            /* batch_split plans run each thread's slice this many
                             images at a time through all steps (cache reuse) */
    struct nad_pool *pool; /* worker threads for batch slices (pool.h), made on
                              the first threaded run; NULL until then        */
};

/*
 * Where image b of activation tensor t lives.  Tensors that share an arena
 * slot with a tensor of a different size (inference plans reuse buffers) are
 * laid out per batch slice so that threads working on different slices never
 * touch each other's part of a slot: the slice starting at image b0 begins at
 * nad_plan_data(p, t) + b0 * img_stride[t], and inside it images follow each
 * other every nad_plan_per_image(p, t) floats.  For the graph input and output
 * and for every tensor of a NAD_PLAN_KEEP_ACTIVATIONS plan, img_stride[t] equals
 * nad_plan_per_image(p, t), i.e. the plain dense layout.
 */

/*
 * Plans g for up to max_batch images with NAD_PLAN_* flags (0 = what
 * nad_plan_create does).  Runs nad_graph_infer_shapes(g, max_batch).  Fails
 * with NAD_EUNSUPPORTED naming the node and op when a node has no kernel,
 * NAD_ESHAPE on inconsistent shapes, NAD_ENOMEM.  On failure *out is NULL.
 */
nad_status nad_plan_create_ex(nad_graph *g, int max_batch, unsigned flags, nad_plan **out, nad_err *e);

/*
 * The data of tensor t: the activation buffer for activations and inputs, the
 * graph blob for weights and constants (resolved at every call).
 */
static inline float *nad_plan_data(const nad_plan *p, int t)
{
    return p->act[t] ? p->act[t] : nad_tensor_f32(&p->g->tensors[t]);
}

/* Floats per image of activation tensor t (its numel / max_batch when it
 * carries the batch on axis 0; its numel when it has no batch axis). */
int64_t nad_plan_per_image(const nad_plan *p, int t);

/* The thread count nad_set_threads() set (1 by default). */
int nad_engine_threads(void);

#endif /* NAD_ENGINE_PLAN_H */
