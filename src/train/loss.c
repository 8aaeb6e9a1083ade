/*
 * Softmax cross-entropy, the loss every fine-tuning step minimises.
 * Per row: loss = logsumexp(z) - z[y], computed as max + log(sum exp(z - max))
 * so that large logits cannot overflow; its gradient is softmax(z) - onehot(y),
 * divided by n because the loss is the batch mean (as F.cross_entropy).
 */
#include "train/grad.h"

#include <math.h>

double nad_tr_softmax_xent(const float *logits, const int32_t *labels, int n, int classes, float *dlogits,
                           int *correct)
{
    double total = 0.0;
    int right = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (int64_t)i * classes;
        int arg = 0;
        for (int k = 1; k < classes; k++)
            if (z[k] > z[arg])
                arg = k;
        right += arg == labels[i];
        double mx = z[arg], sum = 0.0;
        for (int k = 0; k < classes; k++)
            sum += exp((double)z[k] - mx);
        int y = labels[i] >= 0 && labels[i] < classes ? labels[i] : 0;
        total += mx + log(sum) - z[y];
        if (dlogits) {
            float *d = dlogits + (int64_t)i * classes;
            for (int k = 0; k < classes; k++)
                d[k] = (float)(exp((double)z[k] - mx) / sum / n);
            d[y] -= 1.0f / (float)n;
        }
    }
    if (correct)
        *correct = right;
    return n ? total / n : 0.0;
}
