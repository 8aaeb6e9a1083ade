/*
 * Gemm (and MatMul, as Gemm with alpha 1 and no C) for training.
 *
 * Forward: Y = alpha * op(A) op(B) + beta * C.  Backward (with op(A) [M x K],
 * op(B) [K x N]):  d op(A) = alpha * dY op(B)^T,  d op(B) = alpha * op(A)^T dY,
 * dC = beta * dY summed over the axes along which C was broadcast.  When A or B
 * is stored transposed, the transposed product is formed directly by swapping
 * the GEMM operands, so no explicit transpose is ever materialised.
 */
#include "train/grad.h"

#include "train/gemm.h"

/* C's rows and columns as broadcast onto M x N (1 means broadcast). */
static void c_extent(const nad_tr_gemm *s, int64_t *rows, int64_t *cols)
{
    *rows = s->c_ndim == 2 ? s->c_dims[0] : 1;
    *cols = s->c_ndim >= 1 ? s->c_dims[s->c_ndim - 1] : 1;
}

void nad_tr_gemm_forward(const nad_tr_gemm *s, const float *a, const float *b, const float *c, float *y)
{
    int lda = s->trans_a ? s->m : s->k, ldb = s->trans_b ? s->k : s->n;
    float beta = 0.0f;
    if (c && s->beta != 0.0f) {
        int64_t cr, cc;
        c_extent(s, &cr, &cc);
        for (int64_t i = 0; i < s->m; i++)
            for (int64_t j = 0; j < s->n; j++)
                y[i * s->n + j] = c[(cr == 1 ? 0 : i) * cc + (cc == 1 ? 0 : j)];
        beta = s->beta;
    }
    nad_tr_sgemm(1, s->trans_a, s->trans_b, s->m,
                s->n, s->k, s->alpha, a, lda, b, ldb, beta, y, s->n);
}

void nad_tr_gemm_backward(const nad_tr_gemm *s, const float *a, const float *b, const float *dy, float *da, float *db,
                          float *dc)
{
    int m = s->m, n = s->n, k = s->k;
    int lda = s->trans_a ? m : k, ldb = s->trans_b ? k : n;
    if (da) {
        if (!s->trans_a) /* dA [M x K] += alpha dY op(B)^T */
            nad_tr_sgemm(1, 0, s->trans_b ? 0 : 1, m, k, n, s->alpha, dy, n,
                        b, ldb, 1.0f, da, k);
        else /* dA [K x M] += alpha op(B) dY^T */
            nad_tr_sgemm(1, s->trans_b, 1, k, m, n, s->alpha, b, ldb,
                        dy, n, 1.0f, da, m);
    }
    if (db) {
        if (!s->trans_b) /* dB [K x N] += alpha op(A)^T dY */
            nad_tr_sgemm(1, s->trans_a ? 0 : 1, 0, k, n, m, s->alpha, a, lda,
                        dy, n, 1.0f, db, n);
        else /* dB [N x K] += alpha dY^T op(A) */
            nad_tr_sgemm(1, 1, s->trans_a, n, k, m, s->alpha, dy, n, a,
                        lda, 1.0f, db, k);
    }
    if (dc && s->beta != 0.0f) {
        int64_t cr, cc;
        c_extent(s, &cr, &cc);
        /* Sum per C entry in row order (fixed order), in double for accuracy. */
        for (int64_t ci = 0; ci < cr; ci++)
            for (int64_t cj = 0; cj < cc; cj++) {
                double acc = 0.0;
                for (int64_t i = (cr == 1 ? 0 : ci); i < (cr == 1 ? m : ci + 1); i++)
                    for (int64_t j = (cc == 1 ? 0 : cj); j < (cc == 1 ? n : cj + 1); j++)
                        acc += dy[i * n + j];
                dc[ci * cc + cj] += (float)(s->beta * acc);
            }
    }
}
