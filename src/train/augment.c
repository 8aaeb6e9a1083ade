/* Batch augmentation (random crop with zero padding, horizontal flip); see optim.h. */
#include <string.h>

#include "train/optim.h"

void nad_augment_batch(float *x, int n, int c, int h, int w, const nad_train_config *cfg, nad_rng *rng,
                       float *scratch)
{
    int pad = cfg->crop_pad;
    if (pad <= 0 && !cfg->flip)
        return;
    size_t plane = (size_t)h * w;
    for (int i = 0; i < n; i++) {
        /* Draw in a fixed order (dy, dx, flip) so a seed fixes every image. */
        int dy = 0, dx = 0, flip = 0;
        if (pad > 0) {
            dy = (int)nad_rng_below(rng, (uint64_t)(2 * pad + 1)) - pad;
            dx = (int)nad_rng_below(rng, (uint64_t)(2 * pad + 1)) - pad;
        }
        if (cfg->flip)
            flip = (int)(nad_rng_u64(rng) >> 63);
        if (!dy && !dx && !flip)
            continue;
        for (int ch = 0; ch < c; ch++) {
            float *p = x + ((size_t)i * c + ch) * plane;
            int k = cfg->n_norm > 1 && ch < cfg->n_norm ? ch : 0;
            float zero = cfg->std[k] != 0.0f ? -cfg->mean[k] / cfg->std[k] : 0.0f;
            memcpy(scratch, p, plane * sizeof *p);
            /* out(y, x) = in(y + dy, x' + dx) with x' mirrored when flipping */
            for (int yy = 0; yy < h; yy++)
                for (int xx = 0; xx < w; xx++) {
                    int sy = yy + dy, sx = (flip ? w - 1 - xx : xx) + dx;
                    p[yy * w + xx] = sy >= 0 && sy < h && sx >= 0 && sx < w ? scratch[sy * w + sx] : zero;
                }
        }
    }
}
