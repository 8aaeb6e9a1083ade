/*
 * Learning-rate schedules, evaluated per step.  One-cycle follows PyTorch's
 * OneCycleLR with cosine annealing (Smith & Topsakal 2018): from lr/div up to
 * lr over the first pct of the steps, then down to lr/div/final_div.
 */
#include <math.h>

#include "train/optim.h"

/* Cosine interpolation from a (at p = 0) to b (at p = 1). */
static double cos_anneal(double a, double b, double p)
{
    return b + (a - b) * 0.5 * (1.0 + cos(M_PI * p));
}

double nad_lr_at(const nad_train_config *cfg, int64_t t, int64_t total)
{
    double lr = cfg->lr;
    if (total < 1)
        total = 1;
    switch (cfg->schedule) {
    case NAD_LR_STEP: {
        int64_t size = cfg->step_size > 0 ? cfg->step_size : 1;
        return lr * pow(cfg->step_gamma, (double)(t / size));
    }
    case NAD_LR_COSINE:
        return cos_anneal(lr, lr * cfg->cosine_min, (double)t / (double)total);
    case NAD_LR_ONECYCLE: {
        double lo = lr / cfg->onecycle_div, end = lo / cfg->onecycle_final_div;
        /* PyTorch: the warm-up phase ends at step pct*total - 1 */
        double up = cfg->onecycle_pct * (double)total - 1.0;
        if (up < 1.0)
            up = 1.0;
        if ((double)t <= up)
            return cos_anneal(lo, lr, (double)t / up);
        double down = (double)total - 1.0 - up;
        return cos_anneal(lr, end, down > 0 ? ((double)t - up) / down : 1.0);
    }
    default:
        return lr;
    }
}
