/*
 * nadapt — fine-tuning and training (SGD with momentum on softmax
 * cross-entropy), in process, on an in-memory graph.
 *
 *     nad_train_config cfg;
 *     nad_train_config_defaults(&cfg);
 *     cfg.steps = 300;
 *     nad_train_report rep;
 *     nad_finetune(g, train, idx, n_idx, &cfg, &rep, &e);   // updates g's weights
 *     nad_eval_result r;
 *     nad_train_evaluate(g, train, held, n_held, &cfg, &r, &e);
 *
 * Load graphs for training with nad_graph_load_onnx(path, 0, ...) so that
 * BatchNormalization stays a node: training normalises with batch statistics,
 * back-propagates through them and updates the running statistics, and the
 * graph (and an ONNX file written from it) keeps BN nodes with the updated
 * running statistics.  With BN folded, training still works (the folded
 * conv biases train instead).
 *
 * Weight decay is applied to every trainable tensor — weights, biases and BN
 * scale/shift alike — as torch.optim.SGD(weight_decay=...) does, so that a
 * recipe transfers unchanged; BN running statistics are never decayed.
 *
 * Reproducibility: one seed fixes shuffling, augmentation and dropout masks;
 * with the same seed and thread count the resulting weights are bit-identical.
 */
#ifndef NADAPT_TRAIN_H
#define NADAPT_TRAIN_H

#include <stdint.h>

#include "nadapt/data.h"
#include "nadapt/graph.h"
#include "nadapt/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nad_lr_schedule {
    NAD_LR_CONSTANT = 0, /* lr throughout                                        */
    NAD_LR_STEP,         /* lr * gamma^floor(step / step_size)                    */
    NAD_LR_COSINE,       /* lr * (min_frac + (1-min_frac) (1 + cos(pi t/T)) / 2)  */
    NAD_LR_ONECYCLE,     /* PyTorch OneCycleLR (cosine): warm-up to lr over
                            pct_start, then anneal to lr/div/final_div           */
} nad_lr_schedule;

/* Progress after a step; return non-zero from the callback to stop early. */
typedef struct nad_train_progress {
    int64_t step, total_steps; /* steps done, steps planned             */
    int epoch;                 /* 0-based epoch of this step             */
    double loss;               /* this step's mini-batch loss            */
    double lr;                 /* learning rate used for this step       */
    double images_per_s;       /* since the start of this call           */
    double eta_s;              /* estimated seconds left                 */
} nad_train_progress;

typedef int (*nad_train_progress_fn)(const nad_train_progress *p, void *user);

typedef struct nad_train_config {
    double lr;           /* base (peak for one-cycle) learning rate    */
    double momentum;     /* SGD momentum (0: plain SGD)                */
    int nesterov;        /* Nesterov momentum                          */
    double weight_decay; /* L2 coefficient (see above what it covers)  */
    nad_lr_schedule schedule;
    double step_gamma;   /* NAD_LR_STEP factor                         */
    int64_t step_size;   /* NAD_LR_STEP period in steps                */
    double cosine_min;   /* NAD_LR_COSINE floor as a fraction of lr    */
    double onecycle_pct; /* NAD_LR_ONECYCLE warm-up fraction (0.3)     */
    double onecycle_div; /* initial lr = lr / div (25)                 */
    double onecycle_final_div; /* final lr = initial / final_div (1e4) */
    int batch;           /* images per step                            */
    int64_t steps;       /* steps to run; 0: use epochs                */
    int epochs;          /* passes over the indices when steps == 0    */
    uint64_t seed;       /* shuffling, augmentation, dropout           */
    int flip;            /* random horizontal flip (p = 0.5)           */
    int crop_pad;        /* random crop after zero padding by this     */
    int n_norm;          /* entries in mean/std: 1 or the channels     */
    float mean[4], std[4];
    int threads;         /* BLAS threads (>= 1)                        */
    int eval_batch;      /* images per evaluation forward             */
    nad_train_progress_fn progress; /* may be NULL                     */
    void *progress_user;
    int64_t progress_every; /* call progress every this many steps     */
} nad_train_config;

/* What a fine-tuning call did. */
typedef struct nad_train_report {
    int64_t steps;        /* steps run                                  */
    int64_t images;       /* images seen                                */
    double first_loss;    /* loss of the first step                     */
    double final_loss;    /* mean loss of the last (up to) 50 steps     */
    double seconds;       /* wall time                                  */
    double images_per_s;
    int stopped;          /* 1 when the progress callback stopped it    */
} nad_train_report;

typedef struct nad_eval_result {
    int64_t n;       /* images evaluated      */
    int64_t correct; /* top-1 hits            */
    double loss;     /* mean cross-entropy    */
    double top1;     /* correct / n           */
} nad_eval_result;

/* Defaults: lr 0.01, momentum 0.9, no Nesterov, weight decay 5e-4, constant
 * schedule, batch 128, 1 epoch, seed 1, no augmentation, Fashion-MNIST
 * normalisation (0.2860 / 0.3530), 1 thread, eval batch 256. */
void nad_train_config_defaults(nad_train_config *cfg);

/*
 * Trains g's weights in place with SGD on train[indices[0..n_indices)] for
 * cfg->steps steps (or cfg->epochs epochs).  Writes no file.  Shared weight
 * blobs are made private first (nad_tensor_make_writable), so copies of g are
 * unaffected.  Fails with NAD_EINVAL on a bad config, NAD_ESHAPE when the
 * dataset does not fit the graph input, NAD_EUNSUPPORTED naming a node
 * without a training kernel.  report may be NULL.
 */
nad_status nad_finetune(nad_graph *g, const nad_dataset *train, const int64_t *indices, int64_t n_indices,
                        const nad_train_config *cfg, nad_train_report *report, nad_err *e);

/* Mean loss and top-1 of g (inference mode: BN running statistics) on
 * d[indices[0..n)] (indices NULL: the first n images); uses cfg's
 * normalisation, eval_batch and threads. */
nad_status nad_train_evaluate(nad_graph *g, const nad_dataset *d, const int64_t *indices, int64_t n,
                              const nad_train_config *cfg, nad_eval_result *out, nad_err *e);

/*
 * Splits 0..n_total-1 into a held-out set of n_holdout indices and the rest,
 * by a seeded shuffle; both lists come back sorted.  Caller frees both.
 */
nad_status nad_train_split(int64_t n_total, int64_t n_holdout, uint64_t seed, int64_t **train_idx, int64_t *n_train,
                           int64_t **holdout_idx, nad_err *e);

typedef enum nad_init_scheme {
    NAD_INIT_HE = 0, /* He normal, std sqrt(2 / fan_in); zero biases            */
    NAD_INIT_TORCH,  /* PyTorch's nn.Conv2d/nn.Linear default: weights
                        U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with
                        a = sqrt 5), biases U(-1/sqrt(fan_in), 1/sqrt(fan_in))  */
} nad_init_scheme;

/* Re-initialises g for training from scratch: Conv, Gemm and MatMul weights
 * (and their biases) by scheme, fan_in = C/group * kh * kw or K; BN gamma 1,
 * beta 0, mean 0, var 1; weights added/multiplied elsewhere 0/1. */
nad_status nad_train_init_weights(nad_graph *g, nad_init_scheme scheme, uint64_t seed, nad_err *e);

#ifdef __cplusplus
}
#endif
#endif /* NADAPT_TRAIN_H */
