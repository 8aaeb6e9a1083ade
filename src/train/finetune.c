/*
 * nad_finetune and nad_train_evaluate: the mini-batch SGD loop over a dataset
 * on the training tape (see nadapt/train.h for the contract).
 *
 * Determinism: the only randomness is one nad_rng seeded from cfg->seed, drawn
 * in a fixed order (epoch shuffle, then per batch: augmentation, dropout);
 * every reduction runs sequentially or inside OpenBLAS at a fixed thread
 * count, so a (seed, threads) pair fixes the resulting weights bit for bit.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "graph/graph.h"
#include "nadapt/data.h"
#include "nadapt/train.h"
#include "train/grad.h"
#include "train/optim.h"
#include "train/tape.h"

void nad_train_config_defaults(nad_train_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->lr = 0.01;
    cfg->momentum = 0.9;
    cfg->weight_decay = 5e-4;
    cfg->schedule = NAD_LR_CONSTANT;
    cfg->step_gamma = 0.1;
    cfg->step_size = 1000;
    cfg->cosine_min = 0.0;
    cfg->onecycle_pct = 0.3;
    cfg->onecycle_div = 25.0;
    cfg->onecycle_final_div = 1e4;
    cfg->batch = 128;
    cfg->epochs = 1;
    cfg->seed = 1;
    cfg->n_norm = 1;
    cfg->mean[0] = 0.2860f;
    cfg->std[0] = 0.3530f;
    cfg->threads = 1;
    cfg->eval_batch = 256;
    cfg->progress_every = 10;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Rejects configurations that cannot train; names the bad field. */
static nad_status check_config(const nad_train_config *cfg, nad_err *e)
{
    if (!(cfg->lr > 0.0) || !isfinite(cfg->lr))
        return nad_errf(e, NAD_EINVAL, "learning rate must be positive (got %g)", cfg->lr);
    if (!(cfg->momentum >= 0.0 && cfg->momentum < 1.0))
        return nad_errf(e, NAD_EINVAL, "momentum must be in [0, 1) (got %g)", cfg->momentum);
    if (cfg->nesterov && cfg->momentum == 0.0)
        return nad_errf(e, NAD_EINVAL, "Nesterov momentum needs momentum > 0");
    if (!(cfg->weight_decay >= 0.0) || !isfinite(cfg->weight_decay))
        return nad_errf(e, NAD_EINVAL, "weight decay must be >= 0 (got %g)", cfg->weight_decay);
    if (cfg->batch < 1 || cfg->batch > 65536)
        return nad_errf(e, NAD_EINVAL, "batch must be in 1..65536 (got %d)", cfg->batch);
    if (cfg->steps < 0 || (cfg->steps == 0 && cfg->epochs < 1))
        return nad_errf(e, NAD_EINVAL, "give a positive number of steps or epochs");
    if (cfg->threads < 1 || cfg->threads > 256)
        return nad_errf(e, NAD_EINVAL, "threads must be in 1..256 (got %d)", cfg->threads);
    if (cfg->crop_pad < 0 || cfg->crop_pad > 64)
        return nad_errf(e, NAD_EINVAL, "crop padding must be in 0..64 (got %d)", cfg->crop_pad);
    if (cfg->n_norm < 1 || cfg->n_norm > 4)
        return nad_errf(e, NAD_EINVAL, "mean/std need 1..4 entries (got %d)", cfg->n_norm);
    if (cfg->schedule == NAD_LR_STEP && (cfg->step_size < 1 || !(cfg->step_gamma > 0.0)))
        return nad_errf(e, NAD_EINVAL, "step schedule needs step_size >= 1 and gamma > 0");
    if (cfg->schedule == NAD_LR_ONECYCLE &&
        (!(cfg->onecycle_pct > 0.0 && cfg->onecycle_pct < 1.0) || !(cfg->onecycle_div > 0.0) ||
         !(cfg->onecycle_final_div > 0.0)))
        return nad_errf(e, NAD_EINVAL, "one-cycle needs 0 < pct < 1 and positive divisors");
    if ((unsigned)cfg->schedule > NAD_LR_ONECYCLE)
        return nad_errf(e, NAD_EINVAL, "unknown learning-rate schedule %d", (int)cfg->schedule);
    return NAD_OK;
}

/* Checks that d's images fit the tape's input and its labels the logits. */
static nad_status check_data(const nad_tape *t, const nad_dataset *d, nad_err *e)
{
    int64_t per = (int64_t)d->c * d->h * d->w;
    if (per != nad_tape_input_size(t))
        return nad_errf(e, NAD_ESHAPE, "dataset images are %dx%dx%d (%lld values) but the model takes %lld", d->c,
                        d->h, d->w, (long long)per, (long long)nad_tape_input_size(t));
    if (d->n_classes > nad_tape_classes(t))
        return nad_errf(e, NAD_ESHAPE, "dataset has %d classes but the model outputs %d", d->n_classes,
                        nad_tape_classes(t));
    return NAD_OK;
}

/* Makes every float weight a node reads private to g (copy on write). */
static nad_status make_weights_writable(nad_graph *g, nad_err *e)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int ti = g->nodes[i].in[k];
            if (ti < 0 || g->tensors[ti].kind != NAD_TK_WEIGHT || !g->tensors[ti].blob)
                continue;
            nad_status rc = nad_tensor_make_writable(&g->tensors[ti], e);
            if (rc)
                return rc;
        }
    return NAD_OK;
}

/* Puts shapes back to the batch they were inferred for before training. */
static void restore_shapes(nad_graph *g, int batch)
{
    nad_err ignored;
    if (batch > 0 && g->batch != batch)
        (void)nad_graph_infer_shapes(g, batch, &ignored);
}

/* True when every value is finite: x * 0 is 0 for finite x and NaN for
 * NaN or inf, so one sum answers for the whole tensor (vectorises). */
static int all_finite(const float *v, int64_t n)
{
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++)
        acc += v[i] * 0.0f;
    return acc == 0.0f;
}

nad_status nad_finetune(nad_graph *g, const nad_dataset *train, const int64_t *indices, int64_t n_indices,
                        const nad_train_config *cfg, nad_train_report *report, nad_err *e)
{
    nad_status rc;
    nad_tape *t = NULL;
    float **mom = NULL, *scratch = NULL;
    int64_t *order = NULL;
    int32_t *labels = NULL;
    int n_params = 0, old_batch = g->batch, old_threads = openblas_get_num_threads();
    nad_train_report rep;
    memset(&rep, 0, sizeof rep);
    if ((rc = check_config(cfg, e)))
        return rc;
    if (!train || n_indices < 1)
        return nad_errf(e, NAD_EINVAL, "no training images");
    for (int64_t i = 0; indices && i < n_indices; i++)
        if (indices[i] < 0 || indices[i] >= train->n)
            return nad_errf(e, NAD_EINVAL, "training index %lld outside 0..%lld", (long long)indices[i],
                            (long long)train->n - 1);
    openblas_set_num_threads(cfg->threads);
    if ((rc = make_weights_writable(g, e)))
        goto out;
    if ((rc = nad_tape_create(g, cfg->batch, &t, e)))
        goto out;
    nad_tape_set_threads(t, cfg->threads);
    if ((rc = check_data(t, train, e)))
        goto out;
    n_params = nad_tape_n_params(t);
    mom = calloc((size_t)n_params + 1, sizeof *mom);
    order = malloc((size_t)n_indices * sizeof *order);
    labels = malloc((size_t)cfg->batch * sizeof *labels);
    scratch = malloc((size_t)train->h * train->w * sizeof *scratch + 4);
    if (!mom || !order || !labels || !scratch) {
        rc = nad_errf(e, NAD_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < n_params; i++) {
        const nad_tensor *w = &g->tensors[nad_tape_param_tensor(t, i)];
        mom[i] = calloc((size_t)nad_tensor_numel(w) + 1, sizeof(float));
        if (!mom[i]) {
            rc = nad_errf(e, NAD_ENOMEM, "out of memory for momentum of '%s'", w->name);
            goto out;
        }
    }
    for (int64_t i = 0; i < n_indices; i++)
        order[i] = indices ? indices[i] : i;

    int64_t per_epoch = (n_indices + cfg->batch - 1) / cfg->batch;
    int64_t total = cfg->steps > 0 ? cfg->steps : (int64_t)cfg->epochs * per_epoch;
    int classes = nad_tape_classes(t);
    nad_rng rng;
    nad_rng_seed(&rng, cfg->seed);
    int64_t pos = n_indices;
    int epoch = -1;
    double t0 = now_s(), recent[50];
    int n_recent = 0;
    for (int64_t step = 0; step < total; step++) {
        if (pos >= n_indices) { /* new epoch: Fisher-Yates shuffle */
            for (int64_t i = n_indices - 1; i > 0; i--) {
                int64_t j = (int64_t)nad_rng_below(&rng, (uint64_t)(i + 1));
                int64_t tmp = order[i];
                order[i] = order[j];
                order[j] = tmp;
            }
            pos = 0;
            epoch++;
        }
        int nb = n_indices - pos < cfg->batch ? (int)(n_indices - pos) : cfg->batch;
        float *x = nad_tape_input(t);
        if ((rc = nad_dataset_batch(train, order + pos, 0, nb, cfg->mean, cfg->std, cfg->n_norm, x, e)))
            goto out;
        nad_augment_batch(x, nb, train->c, train->h, train->w, cfg, &rng, scratch);
        for (int i = 0; i < nb; i++)
            labels[i] = train->labels[order[pos + i]];
        if ((rc = nad_tape_forward(t, nb, 1, &rng, e)))
            goto out;
        double loss = nad_tr_softmax_xent(nad_tape_logits(t), labels, nb, classes, nad_tape_logits_grad(t), NULL);
        if (!isfinite(loss)) {
            rc = nad_errf(e, NAD_EINVAL, "training diverged: loss is %g at step %lld (try a lower learning rate)",
                          loss, (long long)step);
            goto out;
        }
        if ((rc = nad_tape_backward(t, nb, e)))
            goto out;
        double lr = nad_lr_at(cfg, step, total);
        for (int i = 0; i < n_params; i++) {
            nad_tensor *w = &g->tensors[nad_tape_param_tensor(t, i)];
            nad_sgd_update(nad_tensor_f32(w), nad_tape_param_grad(t, i), mom[i], nad_tensor_numel(w), (float)lr,
                           (float)cfg->momentum, cfg->nesterov, (float)cfg->weight_decay);
            /* The loss is computed before this update, and a ReLU hides NaN
             * weights from the next loss: check the weights themselves. */
            if (!all_finite(nad_tensor_f32(w), nad_tensor_numel(w))) {
                rc = nad_errf(e, NAD_EINVAL,
                              "training diverged: '%s' is not finite after step %lld (try a lower learning rate)",
                              w->name, (long long)step);
                goto out;
            }
        }
        pos += nb;
        rep.steps = step + 1;
        rep.images += nb;
        if (step == 0)
            rep.first_loss = loss;
        recent[n_recent++ % 50] = loss;
        if (cfg->progress && cfg->progress_every > 0 && ((step + 1) % cfg->progress_every == 0 || step + 1 == total)) {
            double el = now_s() - t0;
            nad_train_progress p = {step + 1, total, epoch, loss, lr, el > 0 ? rep.images / el : 0.0,
                                    el / (double)(step + 1) * (double)(total - step - 1)};
            if (cfg->progress(&p, cfg->progress_user)) {
                rep.stopped = 1;
                break;
            }
        }
    }
    {
        int k = n_recent < 50 ? n_recent : 50;
        double s = 0.0;
        for (int i = 0; i < k; i++)
            s += recent[i];
        rep.final_loss = k ? s / k : 0.0;
    }
    rep.seconds = now_s() - t0;
    rep.images_per_s = rep.seconds > 0 ? rep.images / rep.seconds : 0.0;
    if (report)
        *report = rep;
out:
    if (mom)
        for (int i = 0; i < n_params; i++)
            free(mom[i]);
    free(mom);
    free(order);
    free(labels);
    free(scratch);
    nad_tape_destroy(t);
    restore_shapes(g, old_batch);
    openblas_set_num_threads(old_threads);
    return rc;
}

nad_status nad_train_evaluate(nad_graph *g, const nad_dataset *d, const int64_t *indices, int64_t n,
                              const nad_train_config *cfg, nad_eval_result *out, nad_err *e)
{
    nad_status rc;
    nad_tape *t = NULL;
    int32_t *labels = NULL;
    int old_batch = g->batch, old_threads = openblas_get_num_threads();
    int bs = cfg->eval_batch > 0 ? cfg->eval_batch : 256;
    memset(out, 0, sizeof *out);
    if (!d || n < 1 || (!indices && n > d->n))
        return nad_errf(e, NAD_EINVAL, "nothing to evaluate (%lld images)", (long long)n);
    if (bs > n)
        bs = (int)n;
    openblas_set_num_threads(cfg->threads > 0 ? cfg->threads : 1);
    if ((rc = nad_tape_create(g, bs, &t, e)))
        goto out;
    nad_tape_set_threads(t, cfg->threads > 0 ? cfg->threads : 1);
    if ((rc = check_data(t, d, e)))
        goto out;
    labels = malloc((size_t)bs * sizeof *labels);
    if (!labels) {
        rc = nad_errf(e, NAD_ENOMEM, "out of memory");
        goto out;
    }
    double loss_sum = 0.0;
    int64_t correct = 0;
    for (int64_t pos = 0; pos < n; pos += bs) {
        int nb = n - pos < bs ? (int)(n - pos) : bs;
        if ((rc = nad_dataset_batch(d, indices ? indices + pos : NULL, indices ? 0 : pos, nb, cfg->mean, cfg->std,
                                    cfg->n_norm, nad_tape_input(t), e)))
            goto out;
        for (int i = 0; i < nb; i++)
            labels[i] = d->labels[indices ? indices[pos + i] : pos + i];
        if ((rc = nad_tape_forward(t, nb, 0, NULL, e)))
            goto out;
        int c = 0;
        loss_sum += nb * nad_tr_softmax_xent(nad_tape_logits(t), labels, nb, nad_tape_classes(t), NULL, &c);
        correct += c;
    }
    out->n = n;
    out->correct = correct;
    out->loss = loss_sum / (double)n;
    out->top1 = (double)correct / (double)n;
out:
    free(labels);
    nad_tape_destroy(t);
    restore_shapes(g, old_batch);
    openblas_set_num_threads(old_threads);
    return rc;
}
