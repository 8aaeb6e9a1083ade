/*
 * Direct (im2col-free) convolution paths for pointwise and depthwise convs;
 * nad_tr_conv_forward/backward dispatch to them (grad_conv_direct.c).
 */
#ifndef NAD_TRAIN_CONV_DIRECT_H
#define NAD_TRAIN_CONV_DIRECT_H

#include "train/grad.h"

/* 1x1, stride 1, no padding, one group. */
int nad_tr_conv_is_pointwise(const nad_tr_conv *s);
/* One filter per input channel (group == c == m); kernels up to 64 taps. */
int nad_tr_conv_is_depthwise(const nad_tr_conv *s);

void nad_tr_conv_pointwise_forward(const nad_tr_conv *s, const float *x, const float *w, const float *b, float *y);
void nad_tr_conv_pointwise_backward(const nad_tr_conv *s, const float *x, const float *w, const float *dy, float *dx,
                                    float *dw, float *db);
void nad_tr_conv_depthwise_forward(const nad_tr_conv *s, const float *x, const float *w, const float *b, float *y);
void nad_tr_conv_depthwise_backward(const nad_tr_conv *s, const float *x, const float *w, const float *dy, float *dx,
                                    float *dw, float *db);

#endif
