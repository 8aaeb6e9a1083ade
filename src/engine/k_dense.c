/*
 * Dense layers on OpenBLAS: ONNX Gemm (alpha, beta, transposes, broadcast C)
 * with a fused activation, and batched MatMul.
 */
#include <cblas.h>

#include "engine/kernels.h"

/* See kernels.h.  C is broadcast into y first so one sgemm with beta = 1 adds
 * the product; the activation runs afterwards over the finished rows. */
void nad_k_gemm(int m, int n, int k, float alpha, const float *a, int trans_a, const float *b, int trans_b, float beta,
                const float *c, int cm, int cn, const nad_act *act, float *y)
{
    float gemm_beta = 0.f;
    if (c && beta != 0.f) {
        for (int i = 0; i < m; i++) {
            const float *cr = c + (size_t)(cm == 1 ? 0 : i) * (size_t)cn;
            float *yr = y + (size_t)i * n;
            if (cn == 1) {
                for (int j = 0; j < n; j++)
                    yr[j] = beta * cr[0];
            } else {
                for (int j = 0; j < n; j++)
                    yr[j] = beta * cr[j];
            }
        }
        gemm_beta = 1.f;
    }
    if (m > 0 && n > 0) {
        if (k > 0)
            cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n,
                        k, alpha, a, trans_a ? m : k, b, trans_b ? k : n, gemm_beta, y, n);
        else if (gemm_beta == 0.f)
            for (size_t i = 0; i < (size_t)m * n; i++)
                y[i] = 0.f;
    }
    if (act && act->kind != NAD_ACT_NONE)
        nad_k_act(act, y, y, (size_t)m * n);
}

/* See kernels.h: batch independent row-major products. */
void nad_k_matmul(int batch, int m, int n, int k, const float *a, int64_t a_stride, const float *b, int64_t b_stride,
                  float *y)
{
    for (int i = 0; i < batch; i++) {
        float *yi = y + (size_t)i * m * n;
        if (k == 0) {
            for (size_t j = 0; j < (size_t)m * n; j++)
                yi[j] = 0.f;
            continue;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.f, a + i * a_stride, k, b + i * b_stride, n,
                    0.f, yi, n);
    }
}
