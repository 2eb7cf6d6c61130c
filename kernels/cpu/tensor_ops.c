// Generic forward-only tensor ops that sdinfer needs for foreign ONNX graphs:
// broadcast arithmetic, constant padding, strided slices, concatenation, softmax,
// general matrix products. Shapes are checked by the caller (the ONNX loader);
// these kernels trust them.
//
// The n-dimensional ops walk the output row by row (a row = the last axis):
// each row's position in the other tensors is worked out once from its row
// index, so rows are independent and split across threads.
#include <math.h>
#include <string.h>

#include "../tensor_shape.h"
#include "cpu_ops.h"

// The index along each of the first rank-1 axes of row `row` of `shape`.
static void row_index(const TensorShape *shape, int64_t row, int64_t *index) {
    for (int i = shape->rank - 2; i >= 0; i--) {
        index[i] = row % shape->dims[i];
        row /= shape->dims[i];
    }
}

// ---- binary ops with numpy broadcasting -----------------------------------------

static void binary_row(BinaryOp op, int64_t count, const real *a, int64_t step_a, const real *b,
                       int64_t step_b, real *y) {
    switch (op) {
    case BINARY_ADD:
        for (int64_t j = 0; j < count; j++) y[j] = a[j * step_a] + b[j * step_b];
        break;
    case BINARY_SUB:
        for (int64_t j = 0; j < count; j++) y[j] = a[j * step_a] - b[j * step_b];
        break;
    case BINARY_MUL:
        for (int64_t j = 0; j < count; j++) y[j] = a[j * step_a] * b[j * step_b];
        break;
    case BINARY_DIV:
        for (int64_t j = 0; j < count; j++) y[j] = a[j * step_a] / b[j * step_b];
        break;
    }
}

// A row whose operands are each contiguous (step 1) or one repeated value (step 0):
// the steps as constants, so that each loop vectorises (a squeeze-excitation Mul of
// [C, H, W] by [C, 1, 1] is H x W values times one).
static void binary_row_unit(BinaryOp op, int64_t count, const real *a, int64_t step_a,
                            const real *b, int64_t step_b, real *y) {
    if (step_a == 1 && step_b == 1) binary_row(op, count, a, 1, b, 1, y);
    else if (step_a == 1) binary_row(op, count, a, 1, b, 0, y);
    else if (step_b == 1) binary_row(op, count, a, 0, b, 1, y);
    else binary_row(op, count, a, 0, b, 0, y);
}

// Whether both operands' steps are 0 or 1 (binary_row_unit's rows).
static int unit_steps(int64_t step_a, int64_t step_b) {
    return (step_a == 0 || step_a == 1) && (step_b == 0 || step_b == 1);
}

// How many trailing output axes form one row: the last axis, and before it every axis
// along which each operand keeps the kind of step it has along the last one (contiguous
// on, or broadcast). *step_a and *step_b: the operands' steps along the row.
static int row_axes(const TensorShape *out_shape, const int64_t *stride_a,
                    const int64_t *stride_b, int64_t *step_a, int64_t *step_b) {
    const int rank = out_shape->rank;
    *step_a = rank > 0 ? stride_a[rank - 1] : 0;
    *step_b = rank > 0 ? stride_b[rank - 1] : 0;
    if (rank == 0) return 0;
    const int unit = unit_steps(*step_a, *step_b);
    int axes = 1;
    int64_t length = out_shape->dims[rank - 1];
    while (unit && axes < rank) {
        const int d = rank - 1 - axes;
        const int64_t want_a = *step_a ? length : 0, want_b = *step_b ? length : 0;
        if (stride_a[d] != want_a || stride_b[d] != want_b) break;
        length *= out_shape->dims[d];
        axes++;
    }
    return axes;
}

void cpu_binary_broadcast(Backend *be, BinaryOp op, const TensorShape *a_shape, const real *a,
                          const TensorShape *b_shape, const real *b, const TensorShape *out_shape,
                          real *y) {
    CpuState *st = cpu_state(be);
    const int rank = out_shape->rank;
    int64_t stride_a[SD_MAX_DIMS] = {0}, stride_b[SD_MAX_DIMS] = {0};
    broadcast_strides(a_shape, out_shape, stride_a);
    broadcast_strides(b_shape, out_shape, stride_b);
    int64_t step_a, step_b;
    const int axes = row_axes(out_shape, stride_a, stride_b, &step_a, &step_b);
    const int outer = rank - axes;  // the axes walked row by row
    int64_t inner = 1;
    for (int d = outer; d < rank; d++) inner *= out_shape->dims[d];
    const int64_t total = shape_count(out_shape), rows = inner > 0 ? total / inner : 0;
    const int unit = unit_steps(step_a, step_b);
#pragma omp parallel for schedule(static) num_threads(st->threads) if (total >= CPU_PARALLEL_MIN_ELEMENTS)
    for (int64_t row = 0; row < rows; row++) {
        int64_t rest = row, offset_a = 0, offset_b = 0;
        for (int i = outer - 1; i >= 0; i--) {
            const int64_t index = rest % out_shape->dims[i];
            rest /= out_shape->dims[i];
            offset_a += index * stride_a[i];
            offset_b += index * stride_b[i];
        }
        if (unit)
            binary_row_unit(op, inner, a + offset_a, step_a, b + offset_b, step_b, y + row * inner);
        else
            binary_row(op, inner, a + offset_a, step_a, b + offset_b, step_b, y + row * inner);
    }
}

// ---- constant padding (ONNX Pad, mode "constant") -----------------------------------

// The axes after the last padded one are copied whole: they join that axis, scaled, so
// that a row is as long as possible (a ResNet shortcut's Pad of the channels of
// [1, 16, 14, 14] is then one row of 3136 values with its ends filled, not 448 rows of
// 14 each looked up from its index: 6 to 13 us of a 28x28 image's 2.5 ms at batch 1).
// Writes the merged shapes and pads (of the merged rank).
static void merge_unpadded_tail(const TensorShape *in_shape, const TensorShape *out_shape,
                               const int64_t *pads, TensorShape *in_merged,
                               TensorShape *out_merged, int64_t *pads_merged) {
    const int rank = out_shape->rank;
    int last = rank - 1;  // the last axis that keeps its own row
    int64_t tail = 1;     // values per step along it
    while (last > 0 && pads[last] == 0 && pads[last + rank] == 0) {
        tail *= out_shape->dims[last];
        last--;
    }
    *in_merged = *in_shape, *out_merged = *out_shape;
    in_merged->rank = out_merged->rank = last + 1;
    in_merged->dims[last] *= tail, out_merged->dims[last] *= tail;
    for (int i = 0; i <= last; i++) {
        const int64_t scale = i == last ? tail : 1;
        pads_merged[i] = pads[i] * scale;
        pads_merged[i + last + 1] = pads[i + rank] * scale;
    }
}

static void pad_constant_rows(CpuState *st, const TensorShape *in_shape, const real *x,
                              const int64_t *pads, real value, const TensorShape *out_shape,
                              real *y) {
    const int rank = out_shape->rank;
    int64_t in_strides[SD_MAX_DIMS];
    contiguous_strides(in_shape, in_strides);
    const int64_t inner = out_shape->dims[rank - 1], total = shape_count(out_shape);
    const int64_t rows = inner > 0 ? total / inner : 0;
    // Output column j reads input column j - pad_start: valid for j in [lo, hi).
    const int64_t pad_start = pads[rank - 1], in_inner = in_shape->dims[rank - 1];
    int64_t lo = pad_start > 0 ? pad_start : 0, hi = pad_start + in_inner;
    if (lo > inner) lo = inner;
    if (hi > inner) hi = inner;
    if (hi < lo) hi = lo;
#pragma omp parallel for schedule(static) num_threads(st->threads) if (total >= CPU_PARALLEL_MIN_ELEMENTS)
    for (int64_t row = 0; row < rows; row++) {
        int64_t index[SD_MAX_DIMS] = {0}, offset = 0;
        int inside = 1;
        row_index(out_shape, row, index);
        for (int i = 0; i < rank - 1 && inside; i++) {
            const int64_t in_index = index[i] - pads[i];
            inside = in_index >= 0 && in_index < in_shape->dims[i];
            offset += in_index * in_strides[i];
        }
        real *dst = y + row * inner;
        if (!inside) {
            for (int64_t j = 0; j < inner; j++) dst[j] = value;
            continue;
        }
        for (int64_t j = 0; j < lo; j++) dst[j] = value;
        if (hi > lo) memcpy(dst + lo, x + offset + (lo - pad_start), sizeof(real) * (size_t)(hi - lo));
        for (int64_t j = hi; j < inner; j++) dst[j] = value;
    }
}

void cpu_pad_constant(Backend *be, const TensorShape *in_shape, const real *x, const int64_t *pads,
                      real value, const TensorShape *out_shape, real *y) {
    CpuState *st = cpu_state(be);
    if (out_shape->rank == 0) {
        y[0] = x[0];
        return;
    }
    TensorShape in_merged, out_merged;
    int64_t pads_merged[2 * SD_MAX_DIMS];
    merge_unpadded_tail(in_shape, out_shape, pads, &in_merged, &out_merged, pads_merged);
    pad_constant_rows(st, &in_merged, x, pads_merged, value, &out_merged, y);
}

// ---- strided slice ----------------------------------------------------------------------

void cpu_slice(Backend *be, const TensorShape *in_shape, const real *x, const int64_t *starts,
               const int64_t *steps, const TensorShape *out_shape, real *y) {
    CpuState *st = cpu_state(be);
    const int rank = out_shape->rank;
    if (rank == 0) {
        y[0] = x[0];
        return;
    }
    int64_t in_strides[SD_MAX_DIMS];
    contiguous_strides(in_shape, in_strides);
    const int64_t inner = out_shape->dims[rank - 1], total = shape_count(out_shape);
    const int64_t rows = inner > 0 ? total / inner : 0;
    const int64_t first = starts[rank - 1], step = steps[rank - 1];
#pragma omp parallel for schedule(static) num_threads(st->threads) if (total >= CPU_PARALLEL_MIN_ELEMENTS)
    for (int64_t row = 0; row < rows; row++) {
        int64_t index[SD_MAX_DIMS] = {0}, offset = 0;
        row_index(out_shape, row, index);
        for (int i = 0; i < rank - 1; i++) offset += (starts[i] + index[i] * steps[i]) * in_strides[i];
        const real *src = x + offset;
        real *dst = y + row * inner;
        for (int64_t j = 0; j < inner; j++) dst[j] = src[first + j * step];
    }
}

// ---- concatenation ------------------------------------------------------------------------

// x and y agree on every axis but `axis`, so x is `outer` contiguous blocks that
// land in y at a fixed distance from the start of each of y's blocks.
void cpu_concat_part(Backend *be, const TensorShape *in_shape, const real *x, int axis,
                     int64_t offset, const TensorShape *out_shape, real *y) {
    (void)be;
    int64_t outer = 1, after = 1;
    for (int i = 0; i < axis; i++) outer *= out_shape->dims[i];
    for (int i = axis + 1; i < out_shape->rank; i++) after *= out_shape->dims[i];
    const int64_t in_block = in_shape->dims[axis] * after, out_block = out_shape->dims[axis] * after;
    if (in_block == 0) return;
    for (int64_t o = 0; o < outer; o++)
        memcpy(y + o * out_block + offset * after, x + o * in_block, sizeof(real) * (size_t)in_block);
}

// ---- softmax over the last axis ------------------------------------------------------------

void cpu_softmax(Backend *be, int64_t outer, int64_t inner, const real *x, real *y) {
    CpuState *st = cpu_state(be);
#pragma omp parallel for schedule(static) num_threads(st->threads) if (outer * inner >= CPU_PARALLEL_MIN_ELEMENTS)
    for (int64_t r = 0; r < outer; r++) {
        const real *src = x + r * inner;
        real *dst = y + r * inner;
        if (inner <= 0) continue;
        real max = src[0];
        for (int64_t j = 1; j < inner; j++)
            if (src[j] > max) max = src[j];
        double sum = 0;
        for (int64_t j = 0; j < inner; j++) {
            dst[j] = (real)exp((double)src[j] - max);
            sum += dst[j];
        }
        const real inv_sum = (real)(1.0 / sum);
        for (int64_t j = 0; j < inner; j++) dst[j] *= inv_sum;
    }
}

// ---- general matrix product -------------------------------------------------------------------

// Products of at least this many multiply-adds run in blocks of GEMM_ROW_BLOCK rows of
// C, split between the threads. The blocks depend on the shape only (each is the same
// single-threaded call whatever the thread count; OpenBLAS is kept single-threaded,
// backend_cpu.c), so results do not depend on the thread count.
#define GEMM_SPLIT_MIN_MACS (1 << 22)
#define GEMM_ROW_BLOCK 64

// Rows of op(A) are columns of a transposed A.
void cpu_gemm(Backend *be, int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a,
              const real *b, real beta, real *c) {
    CpuState *st = cpu_state(be);
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {  // an empty product: C = beta * C (BLAS rejects leading dimensions of 0)
        for (size_t i = 0; i < (size_t)m * (size_t)n; i++) c[i] = beta == 0 ? 0 : beta * c[i];
        return;
    }
    const double macs = (double)m * n * k;
    const int rows = macs < GEMM_SPLIT_MIN_MACS ? m : GEMM_ROW_BLOCK;
    const int blocks = (m + rows - 1) / rows;
#pragma omp parallel for schedule(dynamic, 1) num_threads(st->threads) if (blocks > 1)
    for (int block = 0; block < blocks; block++) {
        const int r0 = block * rows, r1 = r0 + rows < m ? r0 + rows : m;
        const real *a_rows = trans_a ? a + r0 : a + (size_t)r0 * k;
        cblas_gemm_real(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                        trans_b ? CblasTrans : CblasNoTrans, r1 - r0, n, k, alpha, a_rows,
                        trans_a ? m : k, b, trans_b ? k : n, beta, c + (size_t)r0 * n, n);
    }
}
