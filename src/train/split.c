/* The held-out split carved from a training set (see nadapt/train.h). */
#include <stdlib.h>

#include "nadapt/train.h"
#include "train/rng.h"

nad_status nad_train_split(int64_t n_total, int64_t n_holdout, uint64_t seed, int64_t **train_idx, int64_t *n_train,
                           int64_t **holdout_idx, nad_err *e)
{
    nad_status rc = NAD_OK;
    int64_t *perm = NULL, *tr = NULL, *ho = NULL;
    char *held = NULL;
    *train_idx = *holdout_idx = NULL;
    *n_train = 0;
    if (n_total < 1 || n_holdout < 0 || n_holdout >= n_total)
        return nad_errf(e, NAD_EINVAL, "held-out size %lld must be in 0..%lld", (long long)n_holdout,
                        (long long)(n_total - 1));
    perm = malloc((size_t)n_total * sizeof *perm);
    held = calloc((size_t)n_total, 1);
    tr = malloc((size_t)(n_total - n_holdout) * sizeof *tr);
    ho = malloc((size_t)(n_holdout ? n_holdout : 1) * sizeof *ho);
    if (!perm || !held || !tr || !ho) {
        rc = nad_errf(e, NAD_ENOMEM, "out of memory for a split of %lld images", (long long)n_total);
        goto out;
    }
    /* A partial Fisher-Yates shuffle picks the held-out images; marking them
     * and walking 0..n-1 returns both lists sorted. */
    nad_rng r;
    nad_rng_seed(&r, seed ^ 0x484F4C444F5554ull);
    for (int64_t i = 0; i < n_total; i++)
        perm[i] = i;
    for (int64_t i = 0; i < n_holdout; i++) {
        int64_t j = i + (int64_t)nad_rng_below(&r, (uint64_t)(n_total - i));
        int64_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
        held[perm[i]] = 1;
    }
    int64_t a = 0, b = 0;
    for (int64_t i = 0; i < n_total; i++) {
        if (held[i])
            ho[b++] = i;
        else
            tr[a++] = i;
    }
    *train_idx = tr;
    *holdout_idx = ho;
    *n_train = a;
    tr = ho = NULL;
out:
    free(perm);
    free(held);
    free(tr);
    free(ho);
    return rc;
}
