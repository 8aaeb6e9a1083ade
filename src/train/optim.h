/*
 * Internal pieces of the trainer that know nothing about graphs: the SGD
 * update, learning-rate schedules and batch augmentation.
 */
#ifndef NAD_TRAIN_OPTIM_H
#define NAD_TRAIN_OPTIM_H

#include <stdint.h>

#include "nadapt/train.h"
#include "train/rng.h"

/*
 * One SGD step on n weights, PyTorch's formulation (torch.optim.SGD, dampening
 * 0):  g = grad + wd * w;  v = mu * v + g;  g = nesterov ? g + mu * v : v;
 * w -= lr * g.  v is the caller's momentum buffer (zero before the first step).
 */
void nad_sgd_update(float *w, const float *grad, float *v, int64_t n, float lr, float momentum, int nesterov,
                    float weight_decay);

/* Learning rate of step t (0-based) of total for cfg's schedule. */
double nad_lr_at(const nad_train_config *cfg, int64_t t, int64_t total);

/*
 * Augments n normalised CHW images in place: with cfg->crop_pad > 0 shifts
 * each image by a random offset in [-pad, pad]^2 filling with the normalised
 * value of a zero pixel (what padding then cropping does); with cfg->flip
 * mirrors it horizontally with probability 1/2.
 */
void nad_augment_batch(float *x, int n, int c, int h, int w, const nad_train_config *cfg, nad_rng *rng,
                       float *scratch);

#endif
