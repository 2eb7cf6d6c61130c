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
// value of A per row. Cache blocks: the columns in chunks of GEMM_PACK_COLUMNS and K in
// slices of GEMM_K_SLICE rows. With GEMM_PACK_MIN_ROWS rows or more, each slice of a
// chunk of B is first packed into the caller's scratch vector by vector of columns (the
// last one zero-padded), so that a register block reads one sequential stream instead of
// a row of B per k, a stride of the image's width (at 56x56 a new page every few rows):
// 9% to 23% faster products on ResNet-50's 1x1 shapes at batch 1 on one core. With fewer
// rows B is read in place and only its last columns (fewer than a vector) are packed.
// Within a slice the rows of A go in blocks, each block's slice of A (GEMM_ROWS x
// GEMM_K_SLICE) staying in L1 while it meets every column of the slice (in L2). Each
// output is summed over k in increasing order, the same way for every block shape and
// column range, so results do not depend on how the columns are split between threads.
#include "simd.h"

#define GEMM_ROWS 6
#if VEC_REGISTERS >= 32
#define GEMM_VECTORS 4  // 24 accumulators, 4 vectors of B, 1 broadcast
#else
#define GEMM_VECTORS 2  // 12 accumulators, 2 vectors of B, 1 broadcast
#endif
#define GEMM_K_SLICE 256
#define GEMM_PACK_COLUMNS 256
// Reals between the packed vectors of columns beyond their depth x VEC_LEN: without it
// a slice of 128 or 256 rows puts every vector's column 4 or 8 KiB after the last, all
// in one set of the L1 cache, and packing the 32 vectors of a 256-row slice with AVX2
// (32 stores, one per vector, for each row of B) ran that set out of ways (a 64 x 256 x
// 3136 product took 18% longer than with B read in place).
#define GEMM_PACK_SKEW (64 / (int)sizeof(real))
_Static_assert(((GEMM_PACK_COLUMNS + VEC_LEN - 1) / VEC_LEN) *
                       ((size_t)GEMM_K_SLICE * VEC_LEN + GEMM_PACK_SKEW) <= CONV_GEMM_PACK_SIZE,
               "conv_gemm's packed slice must fit the scratch its callers give it");

// Reals from one packed vector of columns to the next, for a slice of `depth` rows.
static size_t packed_stride(int depth) { return (size_t)depth * VEC_LEN + GEMM_PACK_SKEW; }

// Rows of A a packed slice must meet to pay for packing it: ResNet-50's 1x1 shapes of 64
// to 2048 rows gained up to 30% packed (`build/bench/conv_cpu --threads 1`, AMD EPYC
// with AVX2); with fewer rows the copy is not won back.
#define GEMM_PACK_MIN_ROWS 64

typedef struct {
    const GemmShape *s;
    const real *a, *b, *bias, *residual;
    OutputClamp clamp;
    real *c;
    int k_begin, k_end;  // the slice of K this pass sums
    int accumulate;      // add to what C holds (a later slice, or a residual that is C)
    int finish;          // the last slice: bias, residual and clamp on the way out
    real *pack;          // the caller's scratch (CONV_GEMM_PACK_SIZE reals)
    // Where pack_slice left the slice of B: packed whole (vector v of columns, row kk of
    // the slice at pack + v * stride + kk * VEC_LEN), or read in place; the zero-padded
    // vector of the last columns (fewer than VEC_LEN) at tail + kk * VEC_LEN either way.
    int packed;
    size_t stride;
    const real *tail;
} GemmPass;

// The pass's slice of B for the register blocks. With GEMM_PACK_MIN_ROWS rows or more,
// all of it packed, vector by vector of columns: pack[v * packed_stride(depth) + kk *
// VEC_LEN + lane] = B[k_begin + kk][v * VEC_LEN + lane], zeros beyond column n. Else B is
// read in place and only the last columns' vector is packed (zero-padded). B is read row
// by row (sequential in memory).
SIMD_FMA static void pack_slice(GemmPass *p) {
    const GemmShape *s = p->s;
    const int depth = p->k_end - p->k_begin, full = s->n / VEC_LEN, tail = s->n % VEC_LEN;
    const int pack_all = s->m >= GEMM_PACK_MIN_ROWS;
    const size_t stride = packed_stride(depth);
    real *tail_panel = pack_all ? p->pack + full * stride : p->pack;
    for (int kk = 0; kk < depth; kk++) {
        const real *row = p->b + (size_t)(p->k_begin + kk) * s->ldb;
        for (int v = 0; pack_all && v < full; v++)
            store_vec(p->pack + v * stride + (size_t)kk * VEC_LEN, load_vec(row + v * VEC_LEN));
        if (tail) store_vec(tail_panel + (size_t)kk * VEC_LEN, load_lanes(row + full * VEC_LEN, tail));
    }
    p->packed = pack_all;
    p->stride = stride;
    p->tail = tail_panel;
}

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
// more vector for the last columns (fewer than a vector's lanes, up to n): its lanes
// beyond n are zeros in the packed slice, and only its lanes inside C are read and
// written. For the pass's slice of K; rows, full and tail are constants after inlining.
// A 7x7 image's 49 columns are one block of 3 + 1.
__attribute__((always_inline)) SIMD_FMA static inline void gemm_block(const GemmPass *p,
                                                                     const int packed, int m0,
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
    // (packed is a constant after inlining, so one of the steps is too.)
    const size_t vector_step = packed ? p->stride : (size_t)VEC_LEN;
    const size_t row_step = packed ? (size_t)VEC_LEN : (size_t)s->ldb;
    const real *b_row = packed ? p->pack + (size_t)(n0 / VEC_LEN) * p->stride
                               : p->b + (size_t)p->k_begin * s->ldb + n0;
    const real *tail_row = p->tail;
    for (int kk = p->k_begin; kk < p->k_end; kk++, b_row += row_step, tail_row += VEC_LEN) {
        RealVec bv[GEMM_VECTORS];
        for (int v = 0; v < full; v++) bv[v] = load_vec(b_row + v * vector_step);
        if (tail) bv[full] = load_vec(tail_row);
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
                                                                         const int packed,
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
        gemm_block(p, packed, m0, n0, rows, GEMM_VECTORS, 0, n0 == 0 ? ahead : NULL);
    const int vectors_left = (n - n0) / VEC_LEN, tail = (n - n0) % VEC_LEN != 0;
    switch (vectors_left * 2 + tail) {
#if GEMM_VECTORS > 2
    case 7: gemm_block(p, packed, m0, n0, rows, 3, 1, n0 == 0 ? ahead : NULL); break;
    case 6: gemm_block(p, packed, m0, n0, rows, 3, 0, n0 == 0 ? ahead : NULL); break;
    case 5: gemm_block(p, packed, m0, n0, rows, 2, 1, n0 == 0 ? ahead : NULL); break;
    case 4: gemm_block(p, packed, m0, n0, rows, 2, 0, n0 == 0 ? ahead : NULL); break;
#endif
    case 3: gemm_block(p, packed, m0, n0, rows, 1, 1, n0 == 0 ? ahead : NULL); break;
    case 2: gemm_block(p, packed, m0, n0, rows, 1, 0, n0 == 0 ? ahead : NULL); break;
    case 1: gemm_block(p, packed, m0, n0, rows, 0, 1, n0 == 0 ? ahead : NULL); break;
    default: break;
    }
}

// The rows in blocks of GEMM_ROWS and one block of the rows left, B packed or in place
// (a constant after inlining).
__attribute__((always_inline)) SIMD_FMA static inline void gemm_rows(const GemmPass *p,
                                                                    const int packed) {
    const GemmShape *s = p->s;
    int m0 = 0;
    for (; m0 + GEMM_ROWS <= s->m; m0 += GEMM_ROWS) gemm_row_block(p, packed, m0, GEMM_ROWS);
    switch (s->m - m0) {
    case 1: gemm_row_block(p, packed, m0, 1); break;
    case 2: gemm_row_block(p, packed, m0, 2); break;
    case 3: gemm_row_block(p, packed, m0, 3); break;
    case 4: gemm_row_block(p, packed, m0, 4); break;
    case 5: gemm_row_block(p, packed, m0, 5); break;
    default: break;
    }
}

// One slice of K: its slice of B (pack_slice), then every row against it.
SIMD_FMA static void gemm_pass(GemmPass *p) {
    pack_slice(p);
    if (p->packed)
        gemm_rows(p, 1);
    else
        gemm_rows(p, 0);
}

// Columns [j0, j0 + width) of the product: its own shape, every slice of K in order.
static void gemm_columns(const GemmShape *s, const real *a, const real *b, const real *bias,
                         const real *residual, OutputClamp clamp, real *c, real *pack, int j0,
                         int width) {
    // A residual that is C itself is there already: the first slice adds to it.
    const int residual_is_c = residual == c;
    const GemmShape chunk = {s->m, width, s->k, s->lda, s->ldb, s->ldc, s->ldr};
    GemmPass p = {&chunk, a, b + j0, bias, residual_is_c || !residual ? NULL : residual + j0,
                  clamp, c + j0, 0, 0, residual_is_c, 0, pack, 0, 0, NULL};
    for (int k0 = 0; k0 < s->k || k0 == 0; k0 += GEMM_K_SLICE) {
        p.k_begin = k0;
        p.k_end = s->k - k0 < GEMM_K_SLICE ? s->k : k0 + GEMM_K_SLICE;
        p.finish = p.k_end == s->k;
        gemm_pass(&p);
        p.accumulate = 1;
    }
}

void SIMD_NAME(conv_gemm)(const GemmShape *s, const real *a, const real *b, const real *bias,
                          const real *residual, OutputClamp clamp, real *c, real *pack) {
    for (int j0 = 0; j0 < s->n || j0 == 0; j0 += GEMM_PACK_COLUMNS)
        gemm_columns(s, a, b, bias, residual, clamp, c, pack, j0,
                     s->n - j0 < GEMM_PACK_COLUMNS ? s->n - j0 : GEMM_PACK_COLUMNS);
}
