// Depthwise convolution, one (image, channel) plane per call (one build per
// instruction set: simd.h, cpu_kernels.h). Any kernel size, stride, padding and
// dilation.
//
// Vectorised along the output row: output column j of tap kj reads input column
// j * stride_w - pad_left + kj * dilation_w, so for stride 1 a run of outputs reads a
// run of inputs, and for stride s it reads every s-th one. To make every tap one
// contiguous load whatever the stride, the plane is first copied into `scratch`,
// each input row split into stride_w phase rows (phase p holds padded columns
// p, p + s, p + 2s, ...; a de-interleave, no gathers later) with the left/right
// zero padding written out. Tap kj then reads phase (kj * dilation_w) % s from
// offset (kj * dilation_w) / s: the inner loop has no bounds checks and no
// scalar tail (phase rows are long enough for whole vectors; the last vector of a
// row is stored partially). Rows above and below the image are the bounds-checked
// border: those taps are skipped, as zeros would add nothing.
//
// Each output is bias + the taps in the order (ki, kj), the same in every lane and
// every block of a row, so a plane's values do not depend on how the caller splits
// planes between threads.
#include "simd.h"

// Output vectors accumulated at once: enough independent FMA chains to hide their
// latency, few enough to stay in registers with the input vectors.
#define DEPTHWISE_BLOCK_VECS 4

static int rounded_out_w(const DepthwiseConv *d) {
    return (d->out_w + VEC_LEN - 1) / VEC_LEN * VEC_LEN;
}

// Reals of one phase row: whole vectors of outputs plus the farthest tap's offset.
static size_t phase_len(const DepthwiseConv *d) {
    return (size_t)rounded_out_w(d) + (size_t)((d->kernel_w - 1) * d->dilation_w / d->stride_w);
}

static size_t prepared_row(const DepthwiseConv *d) { return (size_t)d->stride_w * phase_len(d); }

size_t SIMD_NAME(depthwise_scratch_size)(const DepthwiseConv *d) {
    return (size_t)d->in_h * prepared_row(d);
}

// One input row into its stride_w phase rows, zeros where the padded column is
// outside the image.
static void split_row(const DepthwiseConv *d, const real *row, real *phases) {
    const size_t len = phase_len(d);
    const int s = d->stride_w;
    for (int p = 0; p < s; p++) {
        real *out = phases + (size_t)p * len;
        for (size_t j = 0; j < len; j++) {
            const long col = (long)j * s + p - d->pad_left;
            out[j] = col >= 0 && col < d->in_w ? row[col] : 0;
        }
    }
}

// The same for stride 1: left zeros, the row, right zeros.
static void pad_row(const DepthwiseConv *d, const real *row, real *out) {
    const long len = (long)phase_len(d);
    long first = d->pad_left, start = 0;  // first padded column that holds input column `start`
    if (first < 0) start = -first, first = 0;
    long count = d->in_w - start;
    if (count > len - first) count = len - first;
    if (count < 0) count = 0;
    if (first > len) first = len;
    memset(out, 0, sizeof(real) * (size_t)first);
    memcpy(out + first, row + start, sizeof(real) * (size_t)count);
    memset(out + first + count, 0, sizeof(real) * (size_t)(len - first - count));
}

static void prepare_plane(const DepthwiseConv *d, const real *x, real *prepared) {
    for (int r = 0; r < d->in_h; r++) {
        const real *row = x + (size_t)r * d->in_w;
        real *out = prepared + (size_t)r * prepared_row(d);
        if (d->stride_w == 1)
            pad_row(d, row, out);
        else
            split_row(d, row, out);
    }
}

// Stores the first `count` lanes of v (a whole vector when count >= VEC_LEN).
static void store_lanes(real *p, RealVec v, int count) {
    if (count >= VEC_LEN)
        store_vec(p, v);
    else
        memcpy(p, &v, sizeof(real) * (size_t)count);
}

// Output row oy, columns [j0, j0 + vecs * VEC_LEN) (vecs a compile-time constant
// after inlining: the accumulators stay in registers).
static inline __attribute__((always_inline)) SIMD_FMA void row_block(
    const DepthwiseConv *d, const real *prepared, const real *w, real bias, int oy, int j0,
    int vecs, real *y_row) {
    RealVec acc[DEPTHWISE_BLOCK_VECS];
    for (int v = 0; v < vecs; v++) acc[v] = bias + (RealVec){0};
    const size_t len = phase_len(d);
    for (int ki = 0; ki < d->kernel_h; ki++) {
        const int iy = oy * d->stride_h - d->pad_top + ki * d->dilation_h;
        if (iy < 0 || iy >= d->in_h) continue;  // the border: zero rows add nothing
        const real *phases = prepared + (size_t)iy * prepared_row(d);
        for (int kj = 0; kj < d->kernel_w; kj++) {
            const int offset = kj * d->dilation_w;
            const real *src = phases + (size_t)(offset % d->stride_w) * len +
                              (size_t)(offset / d->stride_w) + (size_t)j0;
            const real weight = w[ki * d->kernel_w + kj];  // broadcast by the product
            for (int v = 0; v < vecs; v++) acc[v] += weight * load_vec(src + v * VEC_LEN);
        }
    }
    for (int v = 0; v < vecs; v++)
        store_lanes(y_row + j0 + v * VEC_LEN, acc[v], d->out_w - (j0 + v * VEC_LEN));
}

SIMD_FMA void SIMD_NAME(depthwise_plane)(const DepthwiseConv *d, const real *x, const real *w,
                                         real bias, real *scratch, real *y) {
    prepare_plane(d, x, scratch);
    const int block = DEPTHWISE_BLOCK_VECS * VEC_LEN;
    for (int oy = 0; oy < d->out_h; oy++) {
        real *y_row = y + (size_t)oy * d->out_w;
        int j0 = 0;
        for (; j0 + block <= d->out_w; j0 += block)
            row_block(d, scratch, w, bias, oy, j0, DEPTHWISE_BLOCK_VECS, y_row);
        for (; j0 < d->out_w; j0 += VEC_LEN) row_block(d, scratch, w, bias, oy, j0, 1, y_row);
    }
}
