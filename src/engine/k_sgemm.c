/*
 * A small single-threaded SGEMM for the conv layers: C = act(A * B + bias),
 * row-major, with A the weights [M, K] and B the im2col (or 1x1 input) matrix
 * [K, N], N = output pixels.
 *
 * Why not OpenBLAS here: the conv GEMMs of these nets are small and skinny (M =
 * 8..96 output channels, K = 9..600, N = 49..784), and Debian's OpenBLAS 0.3.21
 * does not recognise newer Xeons (model 207 here) and falls back to its SSE3
 * "Prescott" kernels: 10-15 GFLOP/s against ~70 for its AVX-512 kernels.  A
 * register-blocked kernel written with GCC vector extensions gets AVX-512 from
 * -march=native whatever the CPU detection says, and fuses bias + activation
 * into the store.
 *
 * Blocking (Goto & van de Geijn, "Anatomy of high-performance matrix
 * multiplication", 2008, without the packing since A is tiny): tiles of 8 rows
 * x 32 columns keep 16 vector accumulators in registers; per k step two vector
 * loads of B and 8 broadcasts of A feed 16 FMAs.  Column panels are the outer
 * loop so one K x 32 panel of B stays in L1/L2 while all row blocks use it.
 */
#include <string.h>

#include "engine/kernels.h"

typedef float v16 __attribute__((vector_size(64)));

/* Unaligned vector load/store as macros: functions taking or returning
 * vectors change the ABI when AVX-512 is off (-Wpsabi). */
#define LOAD16(dst, p) memcpy(&(dst), (p), sizeof(v16))

#define STORE16(p, src) memcpy((p), &(src), sizeof(v16))

/*
 * One tile of mr rows x 16*nv columns (mr <= 8, nv <= 2, both compile-time
 * constants at every call so the accumulators live in registers).
 */
static inline __attribute__((always_inline)) void tile(int k, const float *a, int lda, const float *b, int ldb,
                                                      float *c, int ldc, const int mr, const int nv)
{
    v16 acc[8][2];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++)
            acc[r][v] = (v16){0};
    for (int l = 0; l < k; l++) {
        v16 bv[2];
        for (int v = 0; v < nv; v++)
            LOAD16(bv[v], b + (size_t)l * ldb + 16 * v);
        for (int r = 0; r < mr; r++) {
            const float s = a[(size_t)r * lda + l];
            for (int v = 0; v < nv; v++)
                acc[r][v] += s * bv[v];
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++)
            STORE16(c + (size_t)r * ldc + 16 * v, acc[r][v]);
}

/* Rows [0, m) of a 16*nv-column panel, in row blocks of 8, 4, 2, 1. */
static void panel(int m, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc, int nv)
{
    int i = 0;
    if (nv == 2) {
        for (; i + 8 <= m; i += 8)
            tile(k, a + (size_t)i * lda, lda, b, ldb, c + (size_t)i * ldc, ldc, 8, 2);
        for (; i + 4 <= m; i += 4)
            tile(k, a + (size_t)i * lda, lda, b, ldb, c + (size_t)i * ldc, ldc, 4, 2);
        for (; i < m; i++)
            tile(k, a + (size_t)i * lda, lda, b, ldb, c + (size_t)i * ldc, ldc, 1, 2);
    } else {
        for (; i + 8 <= m; i += 8)
            tile(k, a + (size_t)i * lda, lda, b, ldb, c + (size_t)i * ldc, ldc, 8, 1);
        for (; i + 4 <= m; i += 4)
            tile(k, a + (size_t)i * lda, lda, b, ldb, c + (size_t)i * ldc, ldc, 4, 1);
        for (; i < m; i++)
            tile(k, a + (size_t)i * lda, lda, b, ldb, c + (size_t)i * ldc, ldc, 1, 1);
    }
}

/*
 * The last rest < 16 columns.  Scalar loops would cost as much as a whole
 * 16-wide panel per column, so the columns are copied into a zero-padded
 * 16-wide panel (on the stack, in chunks of K so it stays small) and run
 * through the vector tile; results are copied back.
 */
static void tail_columns(int m, int rest, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc)
{
    enum { KC = 256 };
    float bt[KC * 16], ct[8 * 16];
    for (int i = 0; i < m; i++)
        for (int q = 0; q < rest; q++)
            c[(size_t)i * ldc + q] = 0.f;
    for (int l0 = 0; l0 < k; l0 += KC) {
        const int kc = k - l0 < KC ? k - l0 : KC;
        for (int l = 0; l < kc; l++) {
            const float *br = b + (size_t)(l0 + l) * ldb;
            for (int q = 0; q < 16; q++)
                bt[l * 16 + q] = q < rest ? br[q] : 0.f;
        }
        for (int i = 0; i < m; i += 8) {
            const int mr = m - i < 8 ? m - i : 8;
            if (mr == 8)
                tile(kc, a + (size_t)i * lda + l0, lda, bt, 16, ct, 16, 8, 1);
            else
                for (int r = 0; r < mr; r++)
                    tile(kc, a + (size_t)(i + r) * lda + l0, lda, bt, 16, ct + 16 * r, 16, 1, 1);
            for (int r = 0; r < mr; r++)
                for (int q = 0; q < rest; q++)
                    c[(size_t)(i + r) * ldc + q] += ct[16 * r + q];
        }
    }
}

/* See kernels.h. */
void nad_k_sgemm(int m, int n, int k, const float *a, int lda, const float *b, int ldb, const float *bias,
                 const nad_act *act, float *c, int ldc)
{
    int j = 0;
    for (; j + 32 <= n; j += 32)
        panel(m, k, a, lda, b + j, ldb, c + j, ldc, 2);
    for (; j + 16 <= n; j += 16)
        panel(m, k, a, lda, b + j, ldb, c + j, ldc, 1);
    if (j < n)
        tail_columns(m, n - j, k, a, lda, b + j, ldb, c + j, ldc);
    for (int i = 0; i < m; i++)
        nad_k_bias_act(act, bias ? bias[i] : 0.f, c + (size_t)i * ldc, (size_t)n);
}

/* Floats of a panel-packed B for n columns and k rows (see nad_k_pack_cols). */
size_t nad_k_packed_floats(int n, int k)
{
    return (size_t)((n + 15) / 16 * 16) * (size_t)k;
}

/*
 * See kernels.h.  Panels of 32 columns (the last one 16 or 32 wide, padded
 * with whatever the packer wrote) each hold k rows contiguously, so the tile's
 * k loop streams through one contiguous block instead of striding across the
 * whole matrix: with M of 16-32 output channels each B panel is used by only
 * two to four row blocks, and strided B reads (a new page every row) were what
 * held the kernel back.
 */
void nad_k_sgemm_packed(int m, int n, int k, const float *a, int lda, const float *bp, const float *bias,
                        const nad_act *act, float *c, int ldc)
{
    int j = 0;
    const float *panel_b = bp;
    for (; j + 32 <= n; j += 32, panel_b += (size_t)32 * k)
        panel(m, k, a, lda, panel_b, 32, c + j, ldc, 2);
    if (j < n) {
        /* Last panel (1..31 columns, stored 16 or 32 wide): compute into a
         * stack tile, copy the real columns out. */
        const int rest = n - j, width = rest > 16 ? 32 : 16;
        float ct[8 * 32];
        for (int i = 0; i < m; i += 8) {
            const int mr = m - i < 8 ? m - i : 8;
            if (mr == 8 && width == 32)
                tile(k, a + (size_t)i * lda, lda, panel_b, 32, ct, 32, 8, 2);
            else if (mr == 8)
                tile(k, a + (size_t)i * lda, lda, panel_b, 16, ct, 32, 8, 1);
            else
                for (int r = 0; r < mr; r++) {
                    if (width == 32)
                        tile(k, a + (size_t)(i + r) * lda, lda, panel_b, 32, ct + 32 * r, 32, 1, 2);
                    else
                        tile(k, a + (size_t)(i + r) * lda, lda, panel_b, 16, ct + 32 * r, 32, 1, 1);
                }
            for (int r = 0; r < mr; r++)
                memcpy(c + (size_t)(i + r) * ldc + j, ct + 32 * r, (size_t)rest * sizeof(float));
        }
    }
    for (int i = 0; i < m; i++)
        nad_k_bias_act(act, bias ? bias[i] : 0.f, c + (size_t)i * ldc, (size_t)n);
}

/* tile() with row l of B at b + boff[l] (implicit GEMM over a padded image). */
static inline __attribute__((always_inline)) void tile_off(int k, const float *a, int lda, const float *b,
                                                          const int64_t *boff, float *c, int ldc, const int mr)
{
    v16 acc[8][2];
    for (int r = 0; r < mr; r++)
        acc[r][0] = acc[r][1] = (v16){0};
    for (int l = 0; l < k; l++) {
        const float *br = b + boff[l];
        v16 b0, b1;
        LOAD16(b0, br);
        LOAD16(b1, br + 16);
        for (int r = 0; r < mr; r++) {
            const float s = a[(size_t)r * lda + l];
            acc[r][0] += s * b0;
            acc[r][1] += s * b1;
        }
    }
    for (int r = 0; r < mr; r++) {
        STORE16(c + (size_t)r * ldc, acc[r][0]);
        STORE16(c + (size_t)r * ldc + 16, acc[r][1]);
    }
}

/* See kernels.h. */
void nad_k_sgemm_offsets(int m, int n, int k, const float *a, int lda, const float *b, const int64_t *boff, float *c,
                         int ldc)
{
    for (int j = 0; j < n; j += 32) {
        int i = 0;
        for (; i + 8 <= m; i += 8)
            tile_off(k, a + (size_t)i * lda, lda, b + j, boff, c + (size_t)i * ldc + j, ldc, 8);
        for (; i + 4 <= m; i += 4)
            tile_off(k, a + (size_t)i * lda, lda, b + j, boff, c + (size_t)i * ldc + j, ldc, 4);
        for (; i < m; i++)
            tile_off(k, a + (size_t)i * lda, lda, b + j, boff, c + (size_t)i * ldc + j, ldc, 1);
    }
}
