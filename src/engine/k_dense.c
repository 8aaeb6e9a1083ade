/*
 * Dense layers on OpenBLAS: ONNX Gemm (alpha, beta, transposes, broadcast C)
 * with a fused activation, and batched MatMul.
 */
#include <string.h>

#include <cblas.h>

#include "engine/kernels.h"

typedef float v16 __attribute__((vector_size(64)));

/* Unaligned vector load/store as macros: functions taking or returning
 * vectors change the ABI when AVX-512 is off (-Wpsabi). */
#define LOAD16(dst, p) memcpy(&(dst), (p), sizeof(v16))

static inline float hsum16(const v16 *v)
{
    float f[16], s = 0.f;
    memcpy(f, v, sizeof f);
    for (int i = 0; i < 16; i++)
        s += f[i];
    return s;
}

static void gemm_one_row(int n, int k, float alpha, const float *ar, const float *b, int accumulate, float *yr);

/*
 * y[i, j] (+)= alpha * dot(a[i, :], b[j, :]) for the fully connected layer as
 * exporters write it (Gemm with transB = 1: weights [N, K]).  Four weight rows
 * at a time share each load of the input row; vector accumulators keep the
 * long K sums in registers (a plain float loop would not vectorise without
 * -ffast-math, since it reorders the sum).
 */
static void gemm_rows_dot(int m, int n, int k, float alpha, const float *a, const float *b, int accumulate, float *y)
{
    int i0 = 0;
    /* 4 inputs x 4 weight rows per block: each weight vector loaded once
     * serves 4 inputs, so big weight matrices stream from cache 4x less. */
    for (; i0 + 4 <= m; i0 += 4) {
        int j = 0;
        for (; j + 4 <= n; j += 4) {
            v16 acc[4][4];
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++)
                    acc[r][c] = (v16){0};
            int l = 0;
            for (; l + 16 <= k; l += 16) {
                v16 av[4], bv[4];
                for (int r = 0; r < 4; r++)
                    LOAD16(av[r], a + (size_t)(i0 + r) * k + l);
                for (int c = 0; c < 4; c++)
                    LOAD16(bv[c], b + (size_t)(j + c) * k + l);
                for (int r = 0; r < 4; r++)
                    for (int c = 0; c < 4; c++)
                        acc[r][c] += av[r] * bv[c];
            }
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++) {
                    float t = hsum16(&acc[r][c]);
                    const float *ar = a + (size_t)(i0 + r) * k, *br = b + (size_t)(j + c) * k;
                    for (int q = l; q < k; q++)
                        t += ar[q] * br[q];
                    float *yv = y + (size_t)(i0 + r) * n + j + c;
                    *yv = alpha * t + (accumulate ? *yv : 0.f);
                }
        }
        if (j < n) /* leftover weight rows: the one-input path below */
            for (int r = 0; r < 4; r++)
                gemm_one_row(n - j, k, alpha, a + (size_t)(i0 + r) * k, b + (size_t)j * k, accumulate,
                             y + (size_t)(i0 + r) * n + j);
    }
    for (int i = i0; i < m; i++)
        gemm_one_row(n, k, alpha, a + (size_t)i * k, b, accumulate, y + (size_t)i * n);
}

/* One input row against n weight rows (4 at a time, then single). */
static void gemm_one_row(int n, int k, float alpha, const float *ar, const float *b, int accumulate, float *yr)
{
    int j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *b0 = b + (size_t)j * k, *b1 = b0 + k, *b2 = b1 + k, *b3 = b2 + k;
        v16 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
        int l = 0;
        for (; l + 16 <= k; l += 16) {
            v16 av, w0, w1, w2, w3;
            LOAD16(av, ar + l);
            LOAD16(w0, b0 + l);
            LOAD16(w1, b1 + l);
            LOAD16(w2, b2 + l);
            LOAD16(w3, b3 + l);
            s0 += av * w0;
            s1 += av * w1;
            s2 += av * w2;
            s3 += av * w3;
        }
        float t0 = hsum16(&s0), t1 = hsum16(&s1), t2 = hsum16(&s2), t3 = hsum16(&s3);
        for (; l < k; l++) {
            t0 += ar[l] * b0[l];
            t1 += ar[l] * b1[l];
            t2 += ar[l] * b2[l];
            t3 += ar[l] * b3[l];
        }
        yr[j] = alpha * t0 + (accumulate ? yr[j] : 0.f);
        yr[j + 1] = alpha * t1 + (accumulate ? yr[j + 1] : 0.f);
        yr[j + 2] = alpha * t2 + (accumulate ? yr[j + 2] : 0.f);
        yr[j + 3] = alpha * t3 + (accumulate ? yr[j + 3] : 0.f);
    }
    for (; j < n; j++) {
        const float *br = b + (size_t)j * k;
        v16 s0 = {0};
        int l = 0;
        for (; l + 16 <= k; l += 16) {
            v16 av, bv;
            LOAD16(av, ar + l);
            LOAD16(bv, br + l);
            s0 += av * bv;
        }
        float t = hsum16(&s0);
        for (; l < k; l++)
            t += ar[l] * br[l];
        yr[j] = alpha * t + (accumulate ? yr[j] : 0.f);
    }
}

/* See kernels.h.  C is broadcast into y first so the product is added to it;
 * the activation runs afterwards over the finished rows.  Untransposed A goes
 * through the engine's own kernels (k_sgemm.c, or row dot products for
 * transposed B); only transposed A uses OpenBLAS. */
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
        if (k > 0 && !trans_a && trans_b)
            gemm_rows_dot(m, n, k, alpha, a, b, gemm_beta != 0.f, y);
        else if (k > 0 && !trans_a && alpha == 1.f && gemm_beta == 0.f)
            nad_k_sgemm(m, n, k, a, k, b, n, NULL, NULL, y, n);
        else if (k > 0)
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
        nad_k_sgemm(m, n, k, a + i * a_stride, k, b + i * b_stride, n, NULL, NULL, yi, n);
    }
}
