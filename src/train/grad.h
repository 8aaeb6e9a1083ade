/*
 * Training kernels: forward passes that keep what backward needs, and the
 * backward passes themselves, for every op a classifier graph uses.
 *
 * Kernels know arrays, never graphs (src/train/tape.c maps nodes onto them).
 * Conventions shared by every kernel here:
 *   - float32, NCHW, contiguous;
 *   - every gradient output ACCUMULATES (dx += ...), so a tensor that feeds
 *     several nodes (a residual branch) sums its gradients; callers zero the
 *     gradient buffers once per step;
 *   - a NULL gradient pointer means "not needed" (the graph input, constants);
 *   - loops are sequential and sums run in a fixed order, and the GEMMs
 *     (train/gemm.h) compute every output element in one thread with its sum
 *     in order, so a step is bit-reproducible for a fixed thread count.
 */
#ifndef NAD_TRAIN_GRAD_H
#define NAD_TRAIN_GRAD_H

#include <stddef.h>
#include <stdint.h>

/* ---- convolution (grad_conv.c) ------------------------------------------- */

/* Geometry of one 2-D convolution; pads are top, left (bottom/right are implied
 * by oh/ow). */
typedef struct nad_tr_conv {
    int n, c, h, w;   /* input                          */
    int m, oh, ow;    /* output channels and size       */
    int kh, kw, sh, sw, dh, dw;
    int pt, pl;       /* top and left padding           */
    int group;
    int threads;      /* threads for the kernel loops and GEMMs (<= 1: serial) */
} nad_tr_conv;

/* Floats of scratch the conv kernels need for this geometry. */
size_t nad_tr_conv_workspace(const nad_tr_conv *s);
/* y = conv(x, w) + b (b may be NULL); ws holds nad_tr_conv_workspace() floats. */
void nad_tr_conv_forward(const nad_tr_conv *s, const float *x, const float *w, const float *b, float *y, float *ws);
/* Accumulates dx (may be NULL), dw and db (may be NULL) from dy. */
void nad_tr_conv_backward(const nad_tr_conv *s, const float *x, const float *w, const float *dy, float *dx, float *dw,
                          float *db, float *ws);

/* ---- Gemm / MatMul (grad_gemm.c) ----------------------------------------- */

/* Y[M x N] = alpha * op(A) op(B) + beta * C (C broadcast from c_dims, may be
 * NULL); A is [M x K] or [K x M] when trans_a, B is [K x N] or [N x K]. */
typedef struct nad_tr_gemm {
    int m, n, k;
    int trans_a, trans_b;
    float alpha, beta;
    int c_ndim;        /* 0 (no C), 1 or 2             */
    int64_t c_dims[2]; /* C's shape, broadcast to M x N */
} nad_tr_gemm;

void nad_tr_gemm_forward(const nad_tr_gemm *s, const float *a, const float *b, const float *c, float *y);
/* Accumulates da, db, dc (each may be NULL). */
void nad_tr_gemm_backward(const nad_tr_gemm *s, const float *a, const float *b, const float *dy, float *da, float *db,
                          float *dc);

/* ---- elementwise (grad_eltwise.c) ---------------------------------------- */

#define NAD_TR_MAXD 6

struct nad_rng;

typedef enum nad_tr_binop { NAD_TR_ADD, NAD_TR_SUB, NAD_TR_MUL, NAD_TR_DIV } nad_tr_binop;

/* Shapes of a broadcasting binary op: a and b right-aligned to y's rank. */
typedef struct nad_tr_bcast {
    int ndim;
    int64_t y[NAD_TR_MAXD], a[NAD_TR_MAXD], b[NAD_TR_MAXD]; /* a/b padded with leading 1s */
} nad_tr_bcast;

/* Fills s from the operand shapes (numpy rules); returns -1 when they do not
 * broadcast. */
int nad_tr_bcast_init(nad_tr_bcast *s, int a_ndim, const int64_t *a_dims, int b_ndim, const int64_t *b_dims);
void nad_tr_binary_forward(const nad_tr_bcast *s, nad_tr_binop op, const float *a, const float *b, float *y);
/* Accumulates da and db (each may be NULL), summing over broadcast axes. */
void nad_tr_binary_backward(const nad_tr_bcast *s, nad_tr_binop op, const float *a, const float *b, const float *dy,
                            float *da, float *db);

typedef enum nad_tr_act {
    NAD_TR_RELU,
    NAD_TR_LEAKY_RELU, /* p0 = alpha           */
    NAD_TR_CLIP,       /* p0 = min, p1 = max   */
    NAD_TR_SIGMOID,
    NAD_TR_HARD_SIGMOID, /* p0 = alpha, p1 = beta */
    NAD_TR_HARD_SWISH,
    NAD_TR_TANH,
} nad_tr_act;

void nad_tr_act_forward(nad_tr_act act, float p0, float p1, const float *x, float *y, int64_t n);
/* The same over `threads` threads (chunks of independent elements). */
void nad_tr_act_forward_mt(nad_tr_act act, float p0, float p1, const float *x, float *y, int64_t n, int threads);
/* dx += dy * f'(x); uses x or y, whichever the derivative is cheaper from. */
void nad_tr_act_backward(nad_tr_act act, float p0, float p1, const float *x, const float *y, const float *dy, float *dx,
                         int64_t n);
void nad_tr_act_backward_mt(nad_tr_act act, float p0, float p1, const float *x, const float *y, const float *dy,
                            float *dx, int64_t n, int threads);

/* Inverted dropout: y = x * mask / (1 - ratio); mask is written (0/1 bytes). */
void nad_tr_dropout_forward(const float *x, float *y, uint8_t *mask, int64_t n, float ratio, struct nad_rng *rng);
void nad_tr_dropout_backward(const uint8_t *mask, const float *dy, float *dx, int64_t n, float ratio);

/* ---- pooling (grad_pool.c) ------------------------------------------------ */

typedef struct nad_tr_pool {
    int nc, h, w;  /* batch * channels planes, input size */
    int oh, ow;
    int kh, kw, sh, sw, dh, dw;
    int pt, pl, pb, pr;
    int count_include_pad;
    int threads; /* <= 1: serial */
} nad_tr_pool;

/* Max pooling; argmax[i] is the input offset within the plane (-1 if empty). */
void nad_tr_maxpool_forward(const nad_tr_pool *s, const float *x, float *y, int32_t *argmax);
void nad_tr_maxpool_backward(const nad_tr_pool *s, const int32_t *argmax, const float *dy, float *dx);
void nad_tr_avgpool_forward(const nad_tr_pool *s, const float *x, float *y);
void nad_tr_avgpool_backward(const nad_tr_pool *s, const float *dy, float *dx);
/* Global pools over planes of hw elements. */
void nad_tr_gap_forward(const float *x, float *y, int64_t nc, int64_t hw);
void nad_tr_gap_backward(const float *dy, float *dx, int64_t nc, int64_t hw);
void nad_tr_gmp_forward(const float *x, float *y, int32_t *argmax, int64_t nc, int64_t hw);
void nad_tr_gmp_backward(const int32_t *argmax, const float *dy, float *dx, int64_t nc, int64_t hw);

/* ---- batch normalisation (grad_bn.c) ------------------------------------- */

/* Training-mode BN over x [n, c, hw]: normalises with the batch statistics,
 * stores the batch mean and 1/sqrt(var+eps) per channel for backward, and
 * updates running stats with ONNX's momentum convention. */
void nad_tr_bn_train_forward(const float *x, float *y, int64_t n, int64_t c, int64_t hw, const float *gamma,
                             const float *beta, float eps, float momentum, float *running_mean, float *running_var,
                             float *save_mean, float *save_invstd, int threads);
/* Inference-mode BN with the running statistics. */
void nad_tr_bn_eval_forward(const float *x, float *y, int64_t n, int64_t c, int64_t hw, const float *gamma,
                            const float *beta, const float *running_mean, const float *running_var, float eps);
/* Backward through the batch statistics; accumulates dx, dgamma, dbeta. */
void nad_tr_bn_train_backward(const float *x, const float *dy, int64_t n, int64_t c, int64_t hw, const float *gamma,
                              const float *save_mean, const float *save_invstd, float *dx, float *dgamma,
                              float *dbeta, int threads);

/* ---- layout ops (grad_layout.c) ------------------------------------------ */

/* y = transpose(x, perm); dims are x's. */
void nad_tr_transpose(const float *x, float *y, int ndim, const int64_t *dims, const int64_t *perm);
/* dx += transpose^-1(dy). */
void nad_tr_transpose_backward(const float *dy, float *dx, int ndim, const int64_t *dims, const int64_t *perm);
/* Concat of n_in inputs viewed as [outer, inner_i]; y is [outer, sum inner_i]. */
void nad_tr_concat_forward(const float *const *x, const int64_t *inner, int n_in, int64_t outer, float *y);
void nad_tr_concat_backward(const float *dy, const int64_t *inner, int n_in, int64_t outer, float *const *dx);
/* Constant padding: pads are ONNX order (begins, then ends), all >= 0. */
void nad_tr_pad_forward(const float *x, float *y, int ndim, const int64_t *dims, const int64_t *pads, float value);
void nad_tr_pad_backward(const float *dy, float *dx, int ndim, const int64_t *dims, const int64_t *pads);

/* ---- loss (loss.c) --------------------------------------------------------- */

/*
 * Softmax cross-entropy, mean over the batch: returns the loss and, when
 * dlogits is not NULL, writes (softmax - onehot) / n into it.  *correct gets
 * the number of rows whose argmax equals the label (may be NULL).
 */
double nad_tr_softmax_xent(const float *logits, const int32_t *labels, int n, int classes, float *dlogits,
                           int *correct);

#endif
