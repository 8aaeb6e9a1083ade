/*
 * BatchNormalization in training mode (Ioffe & Szegedy 2015, Alg. 1 and its
 * backward pass).  With m = n*hw values per channel, xhat = (x - mu) * r,
 * r = 1/sqrt(var + eps) (var biased, as used for normalising):
 *     dbeta  = sum dy,   dgamma = sum dy * xhat,
 *     dx     = gamma * r / m * (m * dy - dbeta - xhat * dgamma).
 * Running statistics follow ONNX's convention
 *     running = momentum * running + (1 - momentum) * batch
 * (ONNX momentum 0.9 is PyTorch's 0.1), and, like PyTorch, the running
 * variance takes the unbiased batch variance (m / (m - 1) * var).
 * Per-channel sums use the fixed-lane reductions of reduce.h per plane and
 * add the planes in double, in order.
 */
#include "train/grad.h"
#include "train/parallel.h"
#include "train/reduce.h"

#include <math.h>

typedef struct bn_job {
    const float *x, *dy, *gamma, *beta, *save_mean, *save_invstd;
    float *y, *dx, *dgamma, *dbeta, *running_mean, *running_var, *out_mean, *out_invstd;
    int64_t n, c, hw;
    float eps, momentum;
} bn_job;

/* Training forward for channels [lo, hi). */
static void bn_fwd_range(void *arg, int64_t lo, int64_t hi)
{
    const bn_job *job = arg;
    const float *x = job->x, *gamma = job->gamma, *beta = job->beta;
    float *y = job->y, *running_mean = job->running_mean, *running_var = job->running_var;
    float *save_mean = job->out_mean, *save_invstd = job->out_invstd;
    int64_t n = job->n, c = job->c, hw = job->hw;
    float eps = job->eps, momentum = job->momentum;

    double m = (double)n * (double)hw;
    for (int64_t ch = lo; ch < hi; ch++) {
        double s = 0.0;
        for (int64_t i = 0; i < n; i++)
            s += nad_sum(x + (i * c + ch) * hw, hw);
        double mean = s / m, ss = 0.0;
        /* deviations from the float mean, corrected for its rounding */
        float mf = (float)mean;
        for (int64_t i = 0; i < n; i++)
            ss += nad_sum_sq_dev(x + (i * c + ch) * hw, hw, mf);
        double off = mean - (double)mf;
        double var = ss / m - off * off;
        if (var < 0.0)
            var = 0.0;
        float r = (float)(1.0 / sqrt(var + eps));
        float mu = (float)mean;
        float sc = gamma[ch] * r, sh = beta[ch] - mu * sc;
        for (int64_t i = 0; i < n; i++) {
            const float *p = x + (i * c + ch) * hw;
            float *q = y + (i * c + ch) * hw;
            for (int64_t j = 0; j < hw; j++)
                q[j] = p[j] * sc + sh;
        }
        save_mean[ch] = mu;
        save_invstd[ch] = r;
        if (running_mean && running_var) {
            double unbiased = m > 1.0 ? var * m / (m - 1.0) : var;
            running_mean[ch] = (float)(momentum * running_mean[ch] + (1.0 - momentum) * mean);
            running_var[ch] = (float)(momentum * running_var[ch] + (1.0 - momentum) * unbiased);
        }
    }
}

void nad_tr_bn_train_forward(const float *x, float *y, int64_t n, int64_t c, int64_t hw, const float *gamma,
                             const float *beta, float eps, float momentum, float *running_mean, float *running_var,
                             float *save_mean, float *save_invstd, int threads)
{
    bn_job j = {x, NULL, gamma, beta, NULL, NULL, y, NULL, NULL, NULL, running_mean, running_var, save_mean,
                save_invstd, n, c, hw, eps, momentum};
    nad_par_for(threads, c, 1, bn_fwd_range, &j);
}

void nad_tr_bn_eval_forward(const float *x, float *y, int64_t n, int64_t c, int64_t hw, const float *gamma,
                            const float *beta, const float *running_mean, const float *running_var, float eps)
{
    for (int64_t ch = 0; ch < c; ch++) {
        float sc = gamma[ch] / sqrtf(running_var[ch] + eps), sh = beta[ch] - running_mean[ch] * sc;
        for (int64_t i = 0; i < n; i++) {
            const float *p = x + (i * c + ch) * hw;
            float *q = y + (i * c + ch) * hw;
            for (int64_t j = 0; j < hw; j++)
                q[j] = p[j] * sc + sh;
        }
    }
}

/* Backward for channels [lo, hi). */
static void bn_bwd_range(void *arg, int64_t lo, int64_t hi)
{
    const bn_job *job = arg;
    const float *x = job->x, *dy = job->dy, *gamma = job->gamma, *save_mean = job->save_mean, *save_invstd = job->save_invstd;
    float *dx = job->dx, *dgamma = job->dgamma, *dbeta = job->dbeta;
    int64_t n = job->n, c = job->c, hw = job->hw;

    double m = (double)n * (double)hw;
    for (int64_t ch = lo; ch < hi; ch++) {
        float mu = save_mean[ch], r = save_invstd[ch];
        double sdy = 0.0, sdyx = 0.0;
        for (int64_t i = 0; i < n; i++) {
            const float *p = x + (i * c + ch) * hw, *g = dy + (i * c + ch) * hw;
            sdy += nad_sum(g, hw);
            sdyx += nad_dot_dev(g, p, hw, mu);
        }
        sdyx *= r;
        if (dgamma)
            dgamma[ch] += (float)sdyx;
        if (dbeta)
            dbeta[ch] += (float)sdy;
        if (!dx)
            continue;
        float k = gamma[ch] * r;
        float mdy = (float)(sdy / m), mdyx = (float)(sdyx / m);
        for (int64_t i = 0; i < n; i++) {
            const float *p = x + (i * c + ch) * hw, *g = dy + (i * c + ch) * hw;
            float *q = dx + (i * c + ch) * hw;
            for (int64_t j = 0; j < hw; j++) {
                float xhat = (p[j] - mu) * r;
                q[j] += k * (g[j] - mdy - xhat * mdyx);
            }
        }
    }
}

void nad_tr_bn_train_backward(const float *x, const float *dy, int64_t n, int64_t c, int64_t hw, const float *gamma,
                              const float *save_mean, const float *save_invstd, float *dx, float *dgamma,
                              float *dbeta, int threads)
{
    bn_job j = {x, dy, gamma, NULL, save_mean, save_invstd, NULL, dx, dgamma, dbeta, NULL, NULL, NULL, NULL,
                n, c, hw, 0.0f, 0.0f};
    nad_par_for(threads, c, 1, bn_bwd_range, &j);
}
