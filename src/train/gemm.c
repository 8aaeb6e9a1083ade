/*
 * nad_tr_sgemm (see gemm.h).  The engine kernel only takes op = identity, so
 * a transposed operand is copied out transposed first.  Two ways to get C:
 * directly (pack whichever of A, B is transposed) or as C^T = op(B)^T op(A)^T
 * (pack whichever of those is stored untransposed, then add the result back
 * transposed); the one that copies fewer floats wins.  The usual case is
 * dW = dY * col^T, where the direct way would transpose the whole column
 * matrix but the C^T way only dY, which has far fewer rows.
 */
#include "train/gemm.h"

#include <cblas.h>
#include <stdlib.h>

#include "engine/kernels.h"
#include "train/parallel.h"

/* Copies the [rows x cols] matrix src (leading dimension lds) transposed into
 * dst [cols x rows], in square blocks so both sides stay in cache. */
static void transpose(int rows, int cols, const float *src, int lds, float *dst)
{
    enum { TB = 32 };
    for (int i0 = 0; i0 < rows; i0 += TB)
        for (int j0 = 0; j0 < cols; j0 += TB) {
            int i1 = i0 + TB < rows ? i0 + TB : rows, j1 = j0 + TB < cols ? j0 + TB : cols;
            for (int j = j0; j < j1; j++)
                for (int i = i0; i < i1; i++)
                    dst[(size_t)j * rows + i] = src[(size_t)i * lds + j];
        }
}

/* Replaces *mat (a [rows x cols] matrix, leading dimension *ld) by a
 * transposed copy held in *copy (the caller frees it).  Returns -1 when the
 * copy cannot be allocated, leaving *mat and *ld as they were. */
static int use_transposed(int rows, int cols, const float **mat, int *ld, float **copy)
{
    *copy = malloc((size_t)rows * cols * sizeof(float));
    if (!*copy)
        return -1;
    transpose(rows, cols, *mat, *ld, *copy);
    *mat = *copy;
    *ld = rows;
    return 0;
}

/* One product T[m x n] = A B, both untransposed, split over threads; T is
 * combined into C as C = alpha T + beta C (transposed into C when ct). */
typedef struct gemm_job {
    int m, n, k, by_rows, ct;
    const float *a, *b;
    int lda, ldb;
    float alpha, beta;
    float *c;
    int ldc;
} gemm_job;

/* Blocks [lo, hi): 8-row blocks when split by rows, else 32-column blocks. */
static void gemm_range(void *arg, int64_t lo, int64_t hi)
{
    const gemm_job *j = arg;
    int r0 = 0, r1 = j->m, c0 = 0, c1 = j->n;
    if (j->by_rows) {
        r0 = (int)lo * 8;
        r1 = (int)hi * 8 < j->m ? (int)hi * 8 : j->m;
    } else {
        c0 = (int)lo * 32;
        c1 = (int)hi * 32 < j->n ? (int)hi * 32 : j->n;
    }
    int mr = r1 - r0, nc = c1 - c0;
    const float *a = j->a + (size_t)r0 * j->lda, *b = j->b + c0;
    /* Straight into C when nothing is to be combined. */
    if (!j->ct && j->alpha == 1.0f && j->beta == 0.0f) {
        nad_k_sgemm(mr, nc, j->k, a, j->lda, b, j->ldb, NULL, NULL, j->c + (size_t)r0 * j->ldc + c0, j->ldc);
        return;
    }
    float *t = malloc((size_t)mr * nc * sizeof(float));
    if (!t) {
        /* No scratch: let OpenBLAS combine into C (transposed: C^T = B^T A^T).
         * Slower but exact, and the trainer's kernels have no error path. */
        if (j->ct)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, nc, mr, j->k, j->alpha, b, j->ldb, a, j->lda, j->beta,
                        j->c + (size_t)c0 * j->ldc + r0, j->ldc);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mr, nc, j->k, j->alpha, a, j->lda, b, j->ldb,
                        j->beta, j->c + (size_t)r0 * j->ldc + c0, j->ldc);
        return;
    }
    nad_k_sgemm(mr, nc, j->k, a, j->lda, b, j->ldb, NULL, NULL, t, nc);
    for (int i = 0; i < mr; i++)
        for (int q = 0; q < nc; q++) {
            float *dst = j->ct ? j->c + (size_t)(c0 + q) * j->ldc + r0 + i : j->c + (size_t)(r0 + i) * j->ldc + c0 + q;
            float v = j->alpha * t[(size_t)i * nc + q];
            *dst = j->beta == 0.0f ? v : v + j->beta * *dst;
        }
    free(t);
}

/* T[m x n] = A B (untransposed, leading dims lda, ldb) into C, over threads. */
static void run(int threads, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float alpha,
                float beta, float *c, int ldc, int ct)
{
    gemm_job j = {m, n, k, 0, ct, a, b, lda, ldb, alpha, beta, c, ldc};
    int64_t cblocks = (n + 31) / 32, rblocks = (m + 7) / 8;
    /* Split the longer way; a thread wants a few blocks' worth of FLOPs. */
    j.by_rows = rblocks * 4 > cblocks * 8 && rblocks >= 2;
    int64_t flops = (int64_t)m * n * k;
    if (threads > 1 && flops < ((int64_t)1 << 20))
        threads = 1;
    nad_par_for(threads, j.by_rows ? rblocks : cblocks, 1, gemm_range, &j);
}

void nad_tr_sgemm(int threads, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                  const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) {
        for (int i = 0; i < m; i++)
            for (int q = 0; q < n; q++)
                c[(size_t)i * ldc + q] = beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + q];
        return;
    }
    /* Floats copied: direct packs the transposed operands, C^T the others
     * plus the result (combined transposed, not copied: counted as m*n). */
    size_t pa = (size_t)m * k, pb = (size_t)k * n;
    size_t direct = (trans_a ? pa : 0) + (trans_b ? pb : 0);
    size_t viat = (trans_a ? 0 : pa) + (trans_b ? 0 : pb) + (size_t)m * n;
    float *ta = NULL, *tb = NULL;
    if (direct <= viat) {
        const float *aa = a, *bb = b;
        int la = lda, lb = ldb;
        if (trans_a && use_transposed(k, m, &aa, &la, &ta)) /* A stored [k x m] */
            goto no_scratch;
        if (trans_b && use_transposed(n, k, &bb, &lb, &tb)) /* B stored [n x k] */
            goto no_scratch;
        run(threads, m, n, k, aa, la, bb, lb, alpha, beta, c, ldc, 0);
    } else {
        /* C^T [n x m] = op(B)^T [n x k] op(A)^T [k x m]. */
        const float *bt = b, *at = a;
        int lbt = ldb, lat = lda;
        if (!trans_b && use_transposed(k, n, &bt, &lbt, &tb)) /* B stored [k x n]: op(B)^T needs a copy */
            goto no_scratch;
        if (!trans_a && use_transposed(m, k, &at, &lat, &ta)) /* A stored [m x k]: op(A)^T needs a copy */
            goto no_scratch;
        run(threads, n, m, k, bt, lbt, at, lat, alpha, beta, c, ldc, 1);
    }
    free(ta);
    free(tb);
    return;
no_scratch:
    /* Out of memory for the transposed copy: OpenBLAS reads transposed
     * operands in place (slower on CPUs its build does not know, but exact). */
    free(ta);
    free(tb);
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
                a, lda, b, ldb, beta, c, ldc);
}
