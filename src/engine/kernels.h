/*
 * nadapt — float32 NCHW compute kernels (internal).
 *
 * Kernels know arrays, never graphs: every function takes raw pointers, a
 * batch count n and a small geometry struct filled in once by the plan
 * (src/engine/plan.c).  All tensors are dense, row-major (NCHW for images).
 * Weights are read straight from the caller's arrays on every call, so a
 * trainer that updates them in place sees the change on the next call.
 *
 * Workspaces: a kernel that needs scratch memory says how many floats through
 * its *_ws_floats() function and receives a caller-owned buffer of that size;
 * kernels never allocate.
 */
#ifndef NAD_ENGINE_KERNELS_H
#define NAD_ENGINE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* An activation applied elementwise, either alone or fused into the output
 * pass of a conv/Gemm/BN kernel (y = act(conv + bias)). */
typedef enum nad_act_kind {
    NAD_ACT_NONE = 0,
    NAD_ACT_RELU,         /* max(x, 0)                                  */
    NAD_ACT_CLIP,         /* min(max(x, a), b)   (ReLU6: a=0, b=6)      */
    NAD_ACT_LEAKY_RELU,   /* x >= 0 ? x : a*x                           */
    NAD_ACT_SIGMOID,      /* 1 / (1 + exp(-x))                          */
    NAD_ACT_HARD_SIGMOID, /* clamp(a*x + b, 0, 1)                       */
    NAD_ACT_HARD_SWISH,   /* x * clamp(x/6 + 1/2, 0, 1)                 */
    NAD_ACT_TANH,
    NAD_ACT_COUNT
} nad_act_kind;

typedef struct nad_act {
    nad_act_kind kind;
    float a, b; /* parameters, see nad_act_kind */
} nad_act;

/* One image's 2-D convolution geometry (ONNX Conv, NCHW, OIHW weights). */
typedef struct nad_conv_geom {
    int c, h, w;    /* input channels and spatial size            */
    int m, p, q;    /* output channels and spatial size           */
    int kh, kw;     /* kernel size                                */
    int sh, sw;     /* strides                                    */
    int dh, dw;     /* dilations                                  */
    int pt, pl;     /* top and left padding (bottom/right follow from p, q) */
    int group;      /* c and m are multiples of group             */
} nad_conv_geom;

/* One image's 2-D pooling geometry (MaxPool / AveragePool, NCHW). */
typedef struct nad_pool_geom {
    int c, h, w; /* channels and input size                                  */
    int p, q;    /* output size (ceil_mode is already in p, q)               */
    int kh, kw, sh, sw, dh, dw;
    int pt, pl, pb, pr; /* ONNX pads                                         */
    int count_include_pad;
} nad_pool_geom;

/* Elementwise binary operators with numpy broadcasting. */
typedef enum nad_binop { NAD_BIN_ADD = 0, NAD_BIN_SUB, NAD_BIN_MUL, NAD_BIN_DIV } nad_binop;

#define NAD_K_MAX_DIMS 6

/* A broadcast binary op: out dims and, for a and b, element strides per out
 * axis (0 on broadcast axes).  Built by nad_k_bcast_init. */
typedef struct nad_bcast {
    int ndim;
    int64_t dims[NAD_K_MAX_DIMS];
    int64_t sa[NAD_K_MAX_DIMS], sb[NAD_K_MAX_DIMS];
} nad_bcast;

/* ---- activations (k_act.c) ------------------------------------------------ */

/* y[i] = act(x[i]) for i < count; x == y is allowed. */
void nad_k_act(const nad_act *act, const float *x, float *y, size_t count);

/* y[i] = act(y[i] + bias) for i < count: the fused output pass of conv/Gemm. */
void nad_k_bias_act(const nad_act *act, float bias, float *y, size_t count);

/* y[i] = act(x[i] + bias) for i < count (x == y allowed). */
void nad_k_bias_act_copy(const nad_act *act, float bias, const float *x, float *y, size_t count);

/* Keeps GCC from turning short copy loops into memcpy/memset calls, whose call
 * overhead dominates on rows of a few dozen floats. */
#if defined(__GNUC__) && !defined(__clang__)
#define NAD_NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define NAD_NO_LIBCALLS
#endif

/* ---- convolution (k_conv.c, k_conv_dw.c) ----------------------------------- */

/* Floats of workspace nad_k_conv needs per call (independent of n). */
size_t nad_k_conv_ws_floats(const nad_conv_geom *g);

/*
 * y[n,M,P,Q] = act(conv(x[n,C,H,W], w[M,C/group,KH,KW]) + bias[M]).
 * bias may be NULL.  Picks the route itself: depthwise (group == c == m) →
 * direct loop (k_conv_dw.c); 1x1 stride-1 pad-0 → one GEMM per image on x
 * itself; anything else → implicit GEMM over zero-padded stride-phase planes
 * (im2col only beyond 64 stride phases).  ws holds nad_k_conv_ws_floats(g)
 * floats.  Single-threaded; no OpenBLAS.
 */
void nad_k_conv(const nad_conv_geom *g, int n, const float *x, const float *w, const float *bias, const nad_act *act,
                float *y, float *ws);

/* Direct depthwise conv for one image (group == c == m); ws holds
 * nad_k_conv_dw_ws_floats(g) floats (a padded copy of one input plane). */
void nad_k_conv_depthwise(const nad_conv_geom *g, const float *x, const float *w, const float *bias, const nad_act *act,
                          float *y, float *ws);
size_t nad_k_conv_dw_ws_floats(const nad_conv_geom *g);

/* Direct conv for one input channel (image stems) with AVX-512 masked loads
 * (k_conv_dw.c): computes all n images and returns 1, or returns 0 without
 * touching y when the geometry or the build (no AVX-512) does not fit. */
int nad_k_conv_c1(const nad_conv_geom *g, int n, const float *x, const float *w, const float *bias, const nad_act *act,
                  float *y);


/*
 * Single-threaded C[m, n] = act(A[m, k] * B[k, n] + bias[i]) (bias per row, may
 * be NULL), row-major with leading dimensions lda, ldb, ldc (k_sgemm.c): the
 * conv GEMM, register-blocked for AVX-512 through GCC vector extensions.
 */
void nad_k_sgemm(int m, int n, int k, const float *a, int lda, const float *b, int ldb, const float *bias,
                 const nad_act *act, float *c, int ldc);

/*
 * As nad_k_sgemm, with B given panel-packed: columns in panels of 32 (the
 * last panel 16 wide when at most 16 columns remain, else 32), each panel
 * holding its k rows contiguously (row l of panel t at bp + t*32*k + l*width).
 * bp holds nad_k_packed_floats(n, k) floats; nad_k_im2col_packed writes it.
 */
void nad_k_sgemm_packed(int m, int n, int k, const float *a, int lda, const float *bp, const float *bias,
                        const nad_act *act, float *c, int ldc);
size_t nad_k_packed_floats(int n, int k);

/* im2col of channels [c0, c0+cn) of one image into the panel-packed layout
 * of nad_k_sgemm_packed (n = P*Q columns, k = cn*KH*KW rows); padding columns
 * of the last panel are zeroed; row is scratch for P*Q floats. */
void nad_k_im2col_packed(const nad_conv_geom *g, const float *x, int c0, int cn, float *bp, float *row);

/*
 * C[m, 0..ceil32(n)) = A[m, k] * B, row l of B starting at b + boff[l]
 * (implicit-GEMM convolution: B's rows are shifted windows of one padded
 * image).  Works in whole 32-column panels: columns [0, ceil32(n)) of every B
 * row must be readable and C must have room for them (ldc >= ceil32(n)).
 * No bias or activation (the caller's compaction pass applies them).
 */
void nad_k_sgemm_offsets(int m, int n, int k, const float *a, int lda, const float *b, const int64_t *boff, float *c,
                         int ldc);

/* ---- dense ------------------------------------------------------------------ */

/*
 * ONNX Gemm: y[M,N] = act(alpha * op(a) * op(b) + beta * c), op = transpose
 * when the flag is set; a is [M,K] (or [K,M]), b [K,N] (or [N,K]).  c may be
 * NULL or broadcast from [N], [M,1], [1,1], [1,N] or [M,N]: cm, cn give its
 * dims (1 means broadcast along that axis).
 */
void nad_k_gemm(int m, int n, int k, float alpha, const float *a, int trans_a, const float *b, int trans_b, float beta,
                const float *c, int cm, int cn, const nad_act *act, float *y);

/*
 * Batched MatMul: for each of batch pairs, y[M,N] = a[M,K] * b[K,N]; a_stride /
 * b_stride are the floats between consecutive matrices (0 = broadcast).
 */
void nad_k_matmul(int batch, int m, int n, int k, const float *a, int64_t a_stride, const float *b, int64_t b_stride,
                  float *y);

/* ---- elementwise ------------------------------------------------------------ */

/*
 * Fills *bc for out = a op b with numpy broadcasting of dims da (na axes) and
 * db (nb axes).  Returns 0, or -1 when the shapes do not broadcast.
 */
int nad_k_bcast_init(nad_bcast *bc, const int64_t *da, int na, const int64_t *db, int nb);

/* y = a op b with the broadcast described by bc (y has bc->dims). */
void nad_k_binary(nad_binop op, const nad_bcast *bc, const float *a, const float *b, float *y);

/* Inference BatchNorm: y[n,c,:] = act((x - mean) / sqrt(var + eps) * scale + bias). */
void nad_k_batchnorm(int n, int c, int64_t hw, const float *x, const float *scale, const float *bias,
                     const float *mean, const float *var, float eps, const nad_act *act, float *y);

/* Softmax over an axis: x viewed as [outer, len, inner]. */
void nad_k_softmax(int64_t outer, int64_t len, int64_t inner, const float *x, float *y);

/* ---- pooling (k_pool.c) --------------------------------------------------------- */

/* MaxPool over n images; padded positions never win. */
void nad_k_maxpool(const nad_pool_geom *g, int n, const float *x, float *y);

/* AveragePool over n images; the divisor follows ONNX / PyTorch: with
 * count_include_pad the window clipped to the padded input, else the taps
 * inside the input. */
void nad_k_avgpool(const nad_pool_geom *g, int n, const float *x, float *y);

/* Global average / max pool: y[nc] = mean/max of x[nc, 0..hw). */
void nad_k_global_avgpool(int64_t nc, int64_t hw, const float *x, float *y);
void nad_k_global_maxpool(int64_t nc, int64_t hw, const float *x, float *y);

/* ---- layout (k_layout.c) ------------------------------------------------------- */

/* y = transpose(x, perm): x has dims (ndim axes); y has dims[perm[i]]. */
void nad_k_transpose(int ndim, const int64_t *dims, const int *perm, const float *x, float *y);

/*
 * Copies one Concat input x, viewed as [outer, len, inner], into y viewed as
 * [outer, total, inner] at offset off along the middle axis.
 */
void nad_k_concat_part(int64_t outer, int64_t len, int64_t inner, int64_t total, int64_t off, const float *x,
                       float *y);

/* ONNX Pad: x has dims (ndim axes), pads = begins then ends (may be negative:
 * crop); mode 0 constant (value), 1 reflect, 2 edge. */
void nad_k_pad(int ndim, const int64_t *dims, const int64_t *pads, int mode, float value, const float *x, float *y);

#endif /* NAD_ENGINE_KERNELS_H */
