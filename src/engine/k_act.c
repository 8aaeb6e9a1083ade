/*
 * Elementwise activations, alone or as the fused output pass of conv/Gemm/BN.
 * The switch sits outside the loops so that each loop is a plain map that gcc
 * -O3 vectorises (min/max for Relu/Clip, blend for LeakyRelu).
 */
#include <math.h>

#include "engine/kernels.h"

/* Applies act to y[0..count) after adding bias; the shared body of both
 * entry points.  bias 0 for nad_k_act keeps the result exact (x + 0 == x). */
static void act_map(const nad_act *act, float bias, const float *x, float *y, size_t count)
{
    const float a = act ? act->a : 0.f, b = act ? act->b : 0.f;
    switch (act ? act->kind : NAD_ACT_NONE) {
    case NAD_ACT_NONE:
    case NAD_ACT_COUNT:
        for (size_t i = 0; i < count; i++)
            y[i] = x[i] + bias;
        break;
    case NAD_ACT_RELU:
        for (size_t i = 0; i < count; i++) {
            float v = x[i] + bias;
            y[i] = v > 0.f ? v : 0.f;
        }
        break;
    case NAD_ACT_CLIP:
        for (size_t i = 0; i < count; i++) {
            float v = x[i] + bias;
            v = v < a ? a : v;
            y[i] = v > b ? b : v;
        }
        break;
    case NAD_ACT_LEAKY_RELU:
        for (size_t i = 0; i < count; i++) {
            float v = x[i] + bias;
            y[i] = v >= 0.f ? v : a * v;
        }
        break;
    case NAD_ACT_SIGMOID:
        for (size_t i = 0; i < count; i++)
            y[i] = 1.f / (1.f + expf(-(x[i] + bias)));
        break;
    case NAD_ACT_HARD_SIGMOID:
        for (size_t i = 0; i < count; i++) {
            float v = a * (x[i] + bias) + b;
            v = v < 0.f ? 0.f : v;
            y[i] = v > 1.f ? 1.f : v;
        }
        break;
    case NAD_ACT_HARD_SWISH:
        /* ONNX HardSwish: x * max(0, min(1, x/6 + 1/2)). */
        for (size_t i = 0; i < count; i++) {
            float v = x[i] + bias;
            float s = v * (1.f / 6.f) + 0.5f;
            s = s < 0.f ? 0.f : s;
            s = s > 1.f ? 1.f : s;
            y[i] = v * s;
        }
        break;
    case NAD_ACT_TANH:
        for (size_t i = 0; i < count; i++)
            y[i] = tanhf(x[i] + bias);
        break;
    }
}

/* y = act(x); see kernels.h. */
void nad_k_act(const nad_act *act, const float *x, float *y, size_t count)
{
    act_map(act, 0.f, x, y, count);
}

/* y = act(y + bias); the epilogue of conv/Gemm, run while y is in cache. */
void nad_k_bias_act(const nad_act *act, float bias, float *y, size_t count)
{
    if ((!act || act->kind == NAD_ACT_NONE) && bias == 0.f)
        return;
    act_map(act, bias, y, y, count);
}

/* y = act(x + bias); the conv compaction pass (copy out and activate at once). */
void nad_k_bias_act_copy(const nad_act *act, float bias, const float *x, float *y, size_t count)
{
    act_map(act, bias, x, y, count);
}
