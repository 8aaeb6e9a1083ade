/*
 * The range of output columns whose input column lies inside the image, shared
 * by im2col and the direct depthwise kernel (internal to src/engine).
 */
#ifndef NAD_ENGINE_CONV_RANGE_H
#define NAD_ENGINE_CONV_RANGE_H

/* Floor division for a possibly negative numerator and a positive divisor. */
static inline int nad_floor_div(int a, int b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/*
 * For input column ix = q*stride + off, sets [*q0, *q1) to the q in [0, Q)
 * with 0 <= ix < W.  Empty ranges come back as q0 == q1 (or q0 > q1 clipped).
 */
static inline void nad_conv_valid_range(int off, int stride, int W, int Q, int *q0, int *q1)
{
    int lo = -nad_floor_div(off, stride); /* ceil(-off / stride) */
    int hi = nad_floor_div(W - 1 - off, stride) + 1;
    if (lo < 0)
        lo = 0;
    if (hi > Q)
        hi = Q;
    if (hi < lo)
        hi = lo;
    *q0 = lo;
    *q1 = hi;
}

#endif /* NAD_ENGINE_CONV_RANGE_H */
