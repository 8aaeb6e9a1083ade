/* The SGD update (see optim.h for the formula and why it follows PyTorch). */
#include "train/optim.h"

void nad_sgd_update(float *w, const float *grad, float *v, int64_t n, float lr, float momentum, int nesterov,
                    float weight_decay)
{
    for (int64_t i = 0; i < n; i++) {
        float g = grad[i] + weight_decay * w[i];
        if (momentum != 0.0f) {
            v[i] = momentum * v[i] + g;
            g = nesterov ? g + momentum * v[i] : v[i];
        }
        w[i] -= lr * g;
    }
}
