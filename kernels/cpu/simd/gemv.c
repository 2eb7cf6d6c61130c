// The matrix-vector product of a fully connected layer at batch 1 (one build per
// instruction set: simd.h, cpu_kernels.h):
//   y[r] = bias[r] + sum_k a[r][k] x[k],  a row-major, lda apart.
// OpenBLAS 0.3.21 ran this shape (cblas sgemm with one row) through its general product,
// copying the whole weight matrix into its packed layout at every call; a classifier's
// 1000 x 1280 weights were then read three times. Here each weight is read once, along
// its row, GEMV_ROWS rows at a time against the same vectors of x (independent chains
// of FMAs; the rows stream through the hardware prefetchers).
#include "simd.h"

#define GEMV_ROWS 8

// The lanes of v added in lane order (a fixed order: the same bits on every call).
static inline real lane_sum(RealVec v) {
    real sum = 0;
    for (int j = 0; j < VEC_LEN; j++) sum += v[j];
    return sum;
}

// Rows [r0, r0 + rows) (rows a constant after inlining).
__attribute__((always_inline)) SIMD_FMA static inline void gemv_rows(int cols, const real *a,
                                                                    int lda, const real *x,
                                                                    const real *bias, int r0,
                                                                    const int rows, real *y) {
    const int full = cols / VEC_LEN * VEC_LEN;
    RealVec acc[GEMV_ROWS];
    for (int r = 0; r < rows; r++) acc[r] = (RealVec){0};
    for (int k0 = 0; k0 < full; k0 += VEC_LEN) {
        const RealVec xv = load_vec(x + k0);
        for (int r = 0; r < rows; r++) acc[r] += load_vec(a + (size_t)(r0 + r) * lda + k0) * xv;
    }
    for (int r = 0; r < rows; r++) {
        real sum = lane_sum(acc[r]);
        for (int k = full; k < cols; k++) sum += a[(size_t)(r0 + r) * lda + k] * x[k];
        y[r0 + r] = (bias ? bias[r0 + r] : 0) + sum;
    }
}

SIMD_FMA void SIMD_NAME(gemv)(int rows, int cols, const real *a, int lda, const real *x,
                              const real *bias, real *y) {
    int r0 = 0;
    for (; r0 + GEMV_ROWS <= rows; r0 += GEMV_ROWS)
        gemv_rows(cols, a, lda, x, bias, r0, GEMV_ROWS, y);
    for (; r0 < rows; r0++) gemv_rows(cols, a, lda, x, bias, r0, 1, y);
}
