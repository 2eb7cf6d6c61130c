// The product behind the convolutions that are matrix products (one build per
// instruction set: simd.h, cpu_kernels.h): pointwise (1x1) convolutions and the im2col
// path of the others (strided ones: the stride-2 convolutions of every ResNet),
//   C[M x N] = clamp(A[M x K] B[K x N] + bias[m] + residual[m][n]),
// A the weights [out_c][in_c * kh * kw], B the image's columns (pixels along a row),
// all row-major. OpenBLAS did these products before; Debian's OpenBLAS runs its AVX2
// kernels on an AVX-512 CPU it does not know (the 2-core AMD EPYC here), at about a
// third of the machine's multiply-add rate.
//
// Register block: GEMM_ROWS rows of A x GEMM_VECTORS vectors of N, the accumulators in
// registers; each step over k loads GEMM_VECTORS vectors of B's row k and broadcasts one
// value of A per row. Cache blocks: K in slices of GEMM_K_SLICE rows; within a slice the
// rows of A go in blocks, each block's slice of A (GEMM_ROWS x GEMM_K_SLICE) staying in
// L1 while it meets every column of the slice of B (GEMM_K_SLICE x the caller's columns,
// at most 256 in conv.c: in L2). The columns left over after whole vectors are copied
// into a zero-padded panel one vector wide, once per slice: the last block's last vector
// (gemm_block's tail). Each output is summed over k in increasing order, the same way for
// every block shape and column range, so results do not depend on how the columns are
// split between threads.
#include "simd.h"

#define GEMM_ROWS 6
#if VEC_REGISTERS >= 32
#define GEMM_VECTORS 4  // 24 accumulators, 4 vectors of B, 1 broadcast
#else
#define GEMM_VECTORS 2  // 12 accumulators, 2 vectors of B, 1 broadcast
#endif
#define GEMM_K_SLICE 256

typedef struct {
    const GemmShape *s;
    const real *a, *b, *bias, *residual;
    OutputClamp clamp;
    real *c;
    int k_begin, k_end;  // the slice of K this pass sums
    int accumulate;      // add to what C holds (a later slice, or a residual that is C)
    int finish;          // the last slice: bias, residual and clamp on the way out
} GemmPass;

// The last slice's way out for one vector of row m: + bias[m], + the residual's
// values at `res` (NULL: none; `lanes` of them, a whole vector when VEC_LEN), then the
// clamp.
__attribute__((always_inline)) static inline RealVec finished(const GemmPass *p, int m,
                                                              RealVec value, const real *res,
                                                              int lanes) {
    if (p->bias) value += p->bias[m];
    if (res) value += lanes == VEC_LEN ? load_vec(res) : load_lanes(res, lanes);
    return clamp_vec(p->clamp, value);
}

// Rows [m0, m0 + rows) x `full` whole vectors of columns from n0, then with `tail` one
// more vector for the last columns (fewer than a vector's lanes, up to n): its values
// of B come from `panel` (those columns of the slice, zeros beyond n) and only its
// lanes inside C are read and written. For the pass's slice of K; rows, full and tail
// are constants after inlining. A 7x7 image's 49 columns are one block of 3 + 1.
__attribute__((always_inline)) SIMD_FMA static inline void gemm_block(const GemmPass *p,
                                                                     const real *panel, int m0,
                                                                     int n0, const int rows,
                                                                     const int full,
                                                                     const int tail,
                                                                     const real *ahead) {
    const GemmShape *s = p->s;
    const int vectors = full + tail, tail_lanes = s->n - (n0 + full * VEC_LEN);
    RealVec acc[GEMM_ROWS][GEMM_VECTORS];
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < vectors; v++) {
            const real *c = p->c + (size_t)(m0 + r) * s->ldc + n0 + v * VEC_LEN;
            acc[r][v] = !p->accumulate ? (RealVec){0}
                        : v < full     ? load_vec(c)
                                       : load_lanes(c, tail_lanes);
        }
    const real *a = p->a + (size_t)m0 * s->lda;
    for (int kk = p->k_begin; kk < p->k_end; kk++) {
        RealVec bv[GEMM_VECTORS];
        for (int v = 0; v < full; v++)
            bv[v] = load_vec(p->b + (size_t)kk * s->ldb + n0 + v * VEC_LEN);
        if (tail) bv[full] = load_vec(panel + (size_t)(kk - p->k_begin) * VEC_LEN);
        if (ahead && (kk - p->k_begin) % (64 / (int)sizeof(real)) == 0)
            for (int r = 0; r < GEMM_ROWS; r++)
                __builtin_prefetch(ahead + (size_t)r * s->lda + kk, 0, 3);
        for (int r = 0; r < rows; r++) {
            const real ar = a[(size_t)r * s->lda + kk];  // broadcast by the product
            for (int v = 0; v < vectors; v++) acc[r][v] += ar * bv[v];
        }
    }
    for (int r = 0; r < rows; r++) {
        real *row = p->c + (size_t)(m0 + r) * s->ldc + n0;
        const real *res = p->residual ? p->residual + (size_t)(m0 + r) * s->ldr + n0 : NULL;
        for (int v = 0; v < vectors; v++) {
            const int lanes = v < full ? VEC_LEN : tail_lanes;
            RealVec value = acc[r][v];
            if (p->finish)
                value = finished(p, m0 + r, value, res ? res + v * VEC_LEN : NULL, lanes);
            if (lanes == VEC_LEN)
                store_vec(row + v * VEC_LEN, value);
            else
                for (int j = 0; j < lanes; j++) row[v * VEC_LEN + j] = value[j];
        }
    }
}

// Rows [m0, m0 + rows) against every column: whole register blocks of columns, then the
// vectors left and the tail columns in one block (at most GEMM_VECTORS - 1 vectors are
// left, so the tail always fits). The rows' slice of A stays in L1 while the slice of B
// passes.
__attribute__((always_inline)) SIMD_FMA static inline void gemm_row_block(const GemmPass *p,
                                                                         const real *panel,
                                                                         int m0,
                                                                         const int rows) {
    const int n = p->s->n;
    // The next row block's slice of A, asked for in cache a line at a time while the
    // first columns meet this one: at batch 1 each layer's weights come from memory
    // once, and six rows read a value at a time do not train the hardware prefetchers.
    // (The last block may have fewer rows than are asked for: a prefetch never faults.)
    const real *ahead = m0 + rows < p->s->m ? p->a + (size_t)(m0 + rows) * p->s->lda : NULL;
    int n0 = 0;
    for (; n0 + GEMM_VECTORS * VEC_LEN <= n; n0 += GEMM_VECTORS * VEC_LEN)
        gemm_block(p, panel, m0, n0, rows, GEMM_VECTORS, 0, n0 == 0 ? ahead : NULL);
    const int vectors_left = (n - n0) / VEC_LEN, tail = (n - n0) % VEC_LEN != 0;
    switch (vectors_left * 2 + tail) {
#if GEMM_VECTORS > 2
    case 7: gemm_block(p, panel, m0, n0, rows, 3, 1, n0 == 0 ? ahead : NULL); break;
    case 6: gemm_block(p, panel, m0, n0, rows, 3, 0, n0 == 0 ? ahead : NULL); break;
    case 5: gemm_block(p, panel, m0, n0, rows, 2, 1, n0 == 0 ? ahead : NULL); break;
    case 4: gemm_block(p, panel, m0, n0, rows, 2, 0, n0 == 0 ? ahead : NULL); break;
#endif
    case 3: gemm_block(p, panel, m0, n0, rows, 1, 1, n0 == 0 ? ahead : NULL); break;
    case 2: gemm_block(p, panel, m0, n0, rows, 1, 0, n0 == 0 ? ahead : NULL); break;
    case 1: gemm_block(p, panel, m0, n0, rows, 0, 1, n0 == 0 ? ahead : NULL); break;
    default: break;
    }
}

// One slice of K: the tail columns' panel, then the rows in blocks of GEMM_ROWS and
// one block of the rows left.
SIMD_FMA static void gemm_pass(const GemmPass *p) {
    const GemmShape *s = p->s;
    const int n0 = s->n / VEC_LEN * VEC_LEN, tail = s->n - n0, depth = p->k_end - p->k_begin;
    real panel[GEMM_K_SLICE * VEC_LEN];
    if (tail)
        for (int kk = 0; kk < depth; kk++)
            for (int j = 0; j < VEC_LEN; j++)
                panel[kk * VEC_LEN + j] = j < tail ? p->b[(size_t)(p->k_begin + kk) * s->ldb + n0 + j] : 0;
    int m0 = 0;
    for (; m0 + GEMM_ROWS <= s->m; m0 += GEMM_ROWS) gemm_row_block(p, panel, m0, GEMM_ROWS);
    switch (s->m - m0) {
    case 1: gemm_row_block(p, panel, m0, 1); break;
    case 2: gemm_row_block(p, panel, m0, 2); break;
    case 3: gemm_row_block(p, panel, m0, 3); break;
    case 4: gemm_row_block(p, panel, m0, 4); break;
    case 5: gemm_row_block(p, panel, m0, 5); break;
    default: break;
    }
}

void SIMD_NAME(conv_gemm)(const GemmShape *s, const real *a, const real *b, const real *bias,
                          const real *residual, OutputClamp clamp, real *c) {
    // A residual that is C itself is there already: the first slice adds to it.
    const int in_place = residual == c;
    GemmPass p = {s, a, b, bias, in_place ? NULL : residual, clamp, c, 0, 0, in_place, 0};
    for (int k0 = 0; k0 < s->k || k0 == 0; k0 += GEMM_K_SLICE) {
        p.k_begin = k0;
        p.k_end = s->k - k0 < GEMM_K_SLICE ? s->k : k0 + GEMM_K_SLICE;
        p.finish = p.k_end == s->k;
        gemm_pass(&p);
        p.accumulate = 1;
    }
}
