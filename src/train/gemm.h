/*
 * The trainer's SGEMM: C = alpha * op(A) op(B) + beta * C (row-major, the
 * cblas_sgemm argument order), on the engine's AVX-512 kernel (nad_k_sgemm)
 * instead of OpenBLAS.  Why: Debian's OpenBLAS 0.3.21 does not recognise this
 * machine's Xeon and runs its SSE3 kernels (~30 GFLOP/s), the engine kernel
 * reaches ~150 single-threaded.
 *
 * Deterministic whatever the thread count: the output is split across threads
 * in blocks, every element is computed by one tile with the k sum in order.
 */
#ifndef NAD_TRAIN_GEMM_H
#define NAD_TRAIN_GEMM_H

void nad_tr_sgemm(int threads, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                  const float *b, int ldb, float beta, float *c, int ldc);

#endif
