// Depthwise convolution (one build per instruction set: simd.h, cpu_kernels.h), any
// kernel size, stride, padding and dilation: one (image, channel) plane per call
// (depthwise_plane, described here), or VEC_LEN channels of an image per call
// (depthwise_block, at the end of this file).
//
// Vectorised along the output row: output column j of tap kj reads input column
// j * stride_w - pad_left + kj * dilation_w, so for stride 1 a run of outputs reads a
// run of inputs, and for stride s it reads every s-th one. To make every tap one
// contiguous load whatever the stride, the plane is first copied into `scratch`,
// each input row split into stride_w phase rows (phase p holds padded columns
// p, p + s, p + 2s, ...; for stride 2 a de-interleave by shuffles, no gathers later)
// with the left/right zero padding written out, and one zero row after them. Tap kj
// then reads phase (kj * dilation_w) % s from offset (kj * dilation_w) / s. The border
// is settled once per tile row: a row above or below the image points at the zero
// row, so the inner loop (loads and FMAs over a tile of rows x vectors) has no bounds
// checks and no scalar tail (phase rows hold whole vectors; the last vector of an
// output row is stored partially).
//
// Each output is bias + the taps in the order (ki, kj), the same in every lane and
// every tile, so a plane's values do not depend on how the caller splits planes
// between threads. The residual and the clamp of the fused Add / ReLU / Clip are
// applied to the accumulators before the store: a separate pass over the plane
// (scalar, for the clamp's NaN rule) cost more than the taps of a 3x3 depthwise.
#include "simd.h"
#include "transpose.h"

// Accumulators per tile (rows x vectors): enough independent FMA chains to hide their
// latency, few enough to stay in registers with an input vector and the weight.
#define DEPTHWISE_TILE_ACCUMULATORS 8
#define DEPTHWISE_TILE_VECS 4

// gcc turns short copy and fill loops into calls of memcpy/memset; on the planes of
// mobile networks (rows of 7 to 112) those calls, a few per row, cost more than the
// multiply-adds. Functions that copy rows carry this to keep their loops inline.
#define NO_LIBC_CALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))

static size_t rounded_up(size_t n) { return (n + VEC_LEN - 1) / VEC_LEN * VEC_LEN; }

// Reals of one phase row: whole vectors of outputs plus the farthest tap's offset,
// rounded up to whole vectors (rows are zeroed a vector at a time).
static size_t phase_len(const DepthwiseConv *d) {
    return rounded_up(rounded_up((size_t)d->out_w) +
                      (size_t)((d->kernel_w - 1) * d->dilation_w / d->stride_w));
}

static size_t prepared_row(const DepthwiseConv *d) { return (size_t)d->stride_w * phase_len(d); }

// The prepared rows, then one zero row that the rows above and below the image read.
size_t SIMD_NAME(depthwise_scratch_size)(const DepthwiseConv *d) {
    return ((size_t)d->in_h + 1) * prepared_row(d);
}

static void zero_vectors(real *p, size_t count) {
    for (size_t i = 0; i < count; i += VEC_LEN) store_vec(p + i, (RealVec){0});
}

// out[0, count) = src[0, count): whole vectors, the last one overlapping the one before.
static NO_LIBC_CALLS void copy_run(const real *src, long count, real *out) {
    if (count < VEC_LEN) {
        for (long i = 0; i < count; i++) out[i] = src[i];
        return;
    }
    for (long i = 0; i + VEC_LEN <= count; i += VEC_LEN) store_vec(out + i, load_vec(src + i));
    store_vec(out + count - VEC_LEN, load_vec(src + count - VEC_LEN));
}

// Smallest j >= 0 with j * s + first >= bound (s > 0), capped at len.
static long first_reaching(long bound, long first, int s, long len) {
    const long distance = bound - first;
    const long j = distance <= 0 ? 0 : (distance + s - 1) / s;
    return j < len ? j : len;
}

// Stride 2: out[j] = row[first + 2 j] for j from lo, two input vectors per output
// vector, while both lie inside the row; returns the first j not written.
static long deinterleave(const real *row, long first, long lo, long hi, int in_w, real *out) {
    IndexVec even;
    for (int k = 0; k < VEC_LANES; k++) even[k] = 2 * k;
    long j = lo;
    for (; j + VEC_LEN <= hi && first + 2 * (j + VEC_LEN) <= in_w; j += VEC_LEN) {
        const real *src = row + first + 2 * j;
        store_vec(out + j, shuffle_pair(load_vec(src), load_vec(src + VEC_LEN), even));
    }
    return j;
}

// One input row into its stride_w phase rows (zeroed first), phase p's entry j being
// input column j * s + p - pad_left where that lies inside the image: one run of j.
static NO_LIBC_CALLS void split_row(const DepthwiseConv *d, const real *row, real *phases) {
    const long len = (long)phase_len(d);
    const int s = d->stride_w;
    zero_vectors(phases, prepared_row(d));
    for (int p = 0; p < s; p++) {
        real *out = phases + (size_t)p * (size_t)len;
        const long first = (long)p - d->pad_left;  // the input column of j = 0
        const long lo = first_reaching(0, first, s, len);
        long hi = first_reaching(d->in_w, first, s, len);
        if (hi < lo) hi = lo;
        long j = lo;
        if (s == 2) j = deinterleave(row, first, lo, hi, d->in_w, out);
        for (; j < hi; j++) out[j] = row[first + j * s];
    }
}

// The same for stride 1: left zeros, the row, right zeros.
static void pad_row(const DepthwiseConv *d, const real *row, real *out) {
    const long len = (long)phase_len(d);
    long first = d->pad_left, start = 0;  // first padded column that holds input column `start`
    if (first < 0) start = -first, first = 0;
    long count = d->in_w - start;
    if (count > len - first) count = len - first;
    zero_vectors(out, (size_t)len);
    if (count > 0) copy_run(row + start, count, out + first);
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
    zero_vectors(prepared + (size_t)d->in_h * prepared_row(d), prepared_row(d));
}

// Stores the first `count` (< VEC_LEN) lanes of v: the end of a row.
static NO_LIBC_CALLS void store_lanes(real *p, RealVec v, int count) {
    for (int k = 0; k < count; k++) p[k] = v[k];
}

// The fused epilogue of one output vector at plane offset `at` (`left` outputs of the
// row from there): + the residual, then the clamp.
typedef struct {
    const real *residual;  // the output plane's, or NULL
    OutputClamp clamp;
} PlaneEpilogue;

static inline __attribute__((always_inline)) RealVec finished(const PlaneEpilogue *e,
                                                              RealVec value, size_t at,
                                                              int left) {
    if (e->residual)
        value += left >= VEC_LEN ? load_vec(e->residual + at) : load_lanes(e->residual + at, left);
    return clamp_vec(e->clamp, value);
}

// The phase-row layout of the prepared plane, computed once per call: the inner loops
// below then do no division (an integer division per tap cost more than its loads).
typedef struct {
    size_t len;    // reals per phase row
    size_t pitch;  // reals per prepared input row (stride_w phase rows)
} PreparedLayout;

// Output rows [oy, oy + rows), columns [j0, j0 + vecs * VEC_LEN): rows * vecs
// independent accumulators (rows and vecs are compile-time constants after inlining,
// so they stay in registers), enough chains of FMAs to hide their latency even
// where a row is a single vector (the 7x7 and 14x14 planes of mobile networks).
// Rows above and below the image read the prepared zero row: no test per tap.
static inline __attribute__((always_inline)) SIMD_FMA void tile(
    const DepthwiseConv *d, const PreparedLayout *layout, const real *prepared, const real *w,
    real bias, const PlaneEpilogue *e, int oy, int rows, int j0, int vecs, real *y) {
    RealVec acc[DEPTHWISE_TILE_ACCUMULATORS];
    for (int a = 0; a < rows * vecs; a++) acc[a] = bias + (RealVec){0};
    const real *zero_row = prepared + (size_t)d->in_h * layout->pitch;
    for (int ki = 0; ki < d->kernel_h; ki++) {
        const real *row_at[DEPTHWISE_TILE_ACCUMULATORS];
        for (int r = 0; r < rows; r++) {
            const int iy = (oy + r) * d->stride_h - d->pad_top + ki * d->dilation_h;
            row_at[r] = (iy < 0 || iy >= d->in_h ? zero_row : prepared + (size_t)iy * layout->pitch) + j0;
        }
        // Tap kj reads phase (kj * dilation_w) % stride_w from offset
        // (kj * dilation_w) / stride_w, both advanced step by step (no division).
        int phase = 0;
        size_t shift = 0;
        for (int kj = 0; kj < d->kernel_w; kj++) {
            const size_t offset = (size_t)phase * layout->len + shift;
            const real weight = w[ki * d->kernel_w + kj];  // broadcast by the product
            for (int r = 0; r < rows; r++)
                for (int v = 0; v < vecs; v++)
                    acc[r * vecs + v] += weight * load_vec(row_at[r] + offset + v * VEC_LEN);
            phase += d->dilation_w;
            while (phase >= d->stride_w) phase -= d->stride_w, shift++;
        }
    }
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < vecs; v++) {
            const size_t at = (size_t)(oy + r) * d->out_w + j0 + v * VEC_LEN;
            const int left = d->out_w - (j0 + v * VEC_LEN);
            const RealVec value = finished(e, acc[r * vecs + v], at, left);
            if (left >= VEC_LEN)
                store_vec(y + at, value);
            else
                store_lanes(y + at, value, left);
        }
}

// tile() with rows and vecs as constants: one specialised copy per shape used.
#define TILE_CASE(R, V) \
    case (R) * 8 + (V): tile(d, layout, prepared, w, bias, e, oy, R, j0, V, y); return;
static SIMD_FMA void tile_dispatch(const DepthwiseConv *d, const PreparedLayout *layout,
                                   const real *prepared, const real *w, real bias,
                                   const PlaneEpilogue *e, int oy, int rows, int j0, int vecs,
                                   real *y) {
    switch (rows * 8 + vecs) {
        TILE_CASE(1, 1) TILE_CASE(2, 1) TILE_CASE(3, 1) TILE_CASE(4, 1)
        TILE_CASE(5, 1) TILE_CASE(6, 1) TILE_CASE(7, 1) TILE_CASE(8, 1)
        TILE_CASE(1, 2) TILE_CASE(2, 2) TILE_CASE(3, 2) TILE_CASE(4, 2)
        TILE_CASE(1, 3) TILE_CASE(2, 3) TILE_CASE(1, 4) TILE_CASE(2, 4)
    }
}

// Vectors per tile row, and rows per tile: up to DEPTHWISE_TILE_ACCUMULATORS accumulators.
static int tile_vecs(const DepthwiseConv *d) {
    const int row_vecs = (d->out_w + VEC_LEN - 1) / VEC_LEN;
    return row_vecs < DEPTHWISE_TILE_VECS ? row_vecs : DEPTHWISE_TILE_VECS;
}
static int tile_rows(int vecs) { return vecs == 1 ? 8 : vecs == 2 ? 4 : 2; }

SIMD_FMA void SIMD_NAME(depthwise_plane)(const DepthwiseConv *d, const real *x, const real *w,
                                         real bias, const real *residual, OutputClamp clamp,
                                         real *scratch, real *y) {
    if (d->out_w <= 0) return;
    prepare_plane(d, x, scratch);
    const PreparedLayout layout = {phase_len(d), prepared_row(d)};
    const PlaneEpilogue epilogue = {residual, clamp};
    const int vecs = tile_vecs(d), rows = tile_rows(vecs);
    for (int oy = 0; oy < d->out_h;) {
        const int tile_h = d->out_h - oy >= rows ? rows : d->out_h - oy;
        for (int j0 = 0; j0 < d->out_w; j0 += vecs * VEC_LEN) {
            const int left = (d->out_w - j0 + VEC_LEN - 1) / VEC_LEN;
            tile_dispatch(d, &layout, scratch, w, bias, &epilogue, oy, tile_h, j0,
                          left < vecs ? left : vecs, y);
        }
        oy += tile_h;
    }
}

// ---- VEC_LEN channels at once (depthwise_block) ------------------------------------
//
// On small planes (the 14x14 and 7x7 stages of mobile networks) a plane's rows are one
// or two vectors long and its preparation costs as much as its taps. There the kernel
// takes VEC_LEN channels together instead: their planes are transposed into one
// zero-bordered channels-last buffer (a vector per pixel), every tap is then one vector
// load and one FMA for VEC_LEN channels, and the outputs are transposed back with the
// residual and the clamp on the way. The transposes run along the flattened planes,
// VEC_LEN pixels at a time whatever the row length, so only a plane's last few pixels
// move one by one. The sums are those of depthwise_plane, in the same order (bias, then
// the taps in the order (ki, kj)), so the two give the same bits.

#define DEPTHWISE_BLOCK_PIXELS 8  // output pixels per register block along a row

// The zero-bordered input: every pixel that a tap of an output reads, rows
// [-pad_top, last_row] x columns [-pad_left, last_col] of the plane.
typedef struct {
    int rows, cols;
} BorderedInput;

static BorderedInput bordered_input(const DepthwiseConv *d) {
    const int last_row =
        (d->out_h - 1) * d->stride_h - d->pad_top + (d->kernel_h - 1) * d->dilation_h;
    const int last_col =
        (d->out_w - 1) * d->stride_w - d->pad_left + (d->kernel_w - 1) * d->dilation_w;
    return (BorderedInput){last_row + d->pad_top + 1, last_col + d->pad_left + 1};
}

size_t SIMD_NAME(depthwise_block_scratch_size)(const DepthwiseConv *d) {
    const BorderedInput b = bordered_input(d);
    const size_t taps = (size_t)d->kernel_h * d->kernel_w;
    return ((size_t)b.rows * b.cols + taps + (size_t)d->out_h * d->out_w) * VEC_LEN;
}

// Where input pixel (row, col) of the plane goes in the bordered buffer, or NULL when
// no tap reads it (a negative padding crops).
static inline real *bordered_at(const DepthwiseConv *d, const BorderedInput *b, real *bordered,
                                int row, int col) {
    row += d->pad_top, col += d->pad_left;
    if (row < 0 || row >= b->rows || col < 0 || col >= b->cols) return NULL;
    return bordered + ((size_t)row * b->cols + col) * VEC_LEN;
}

// The VEC_LEN planes x (plane_stride apart) into the bordered buffer, zeros around.
// (row, col) follows the flattened pixel index p without a division per pixel.
static NO_LIBC_CALLS void fill_bordered(const DepthwiseConv *d, const BorderedInput *b,
                                        const real *x, size_t plane_stride, real *bordered) {
    zero_vectors(bordered, (size_t)b->rows * b->cols * VEC_LEN);
    const int pixels = d->in_h * d->in_w, full = pixels / VEC_LEN * VEC_LEN;
    int row = 0, col = 0;
    for (int p0 = 0; p0 < full; p0 += VEC_LEN) {
        RealVec r[VEC_LEN];
        for (int c = 0; c < VEC_LEN; c++) r[c] = load_vec(x + (size_t)c * plane_stride + p0);
        transpose_block(r);
        for (int j = 0; j < VEC_LEN; j++) {
            real *at = bordered_at(d, b, bordered, row, col);
            if (at) store_vec(at, r[j]);
            if (++col == d->in_w) col = 0, row++;
        }
    }
    for (int p = full; p < pixels; p++) {
        real *at = bordered_at(d, b, bordered, row, col);
        if (at)
            for (int c = 0; c < VEC_LEN; c++) at[c] = x[(size_t)c * plane_stride + p];
        if (++col == d->in_w) col = 0, row++;
    }
}

// Output pixels [ox0, ox0 + pixels) of row oy into out (a vector per pixel): bias,
// then every tap (pixels a constant after inlining).
static inline __attribute__((always_inline)) SIMD_FMA void block_pixels(
    const DepthwiseConv *d, const BorderedInput *b, const real *bordered, const real *taps,
    RealVec bias, int oy, int ox0, const int pixels, real *out) {
    RealVec acc[DEPTHWISE_BLOCK_PIXELS];
    for (int p = 0; p < pixels; p++) acc[p] = bias;
    for (int ki = 0; ki < d->kernel_h; ki++) {
        const size_t row_index = (size_t)(oy * d->stride_h + ki * d->dilation_h);
        const real *row = bordered + row_index * b->cols * VEC_LEN;
        for (int kj = 0; kj < d->kernel_w; kj++) {
            const RealVec weight = load_vec(taps + (size_t)(ki * d->kernel_w + kj) * VEC_LEN);
            const real *at = row + (size_t)(ox0 * d->stride_w + kj * d->dilation_w) * VEC_LEN;
            for (int p = 0; p < pixels; p++)
                acc[p] += weight * load_vec(at + (size_t)p * d->stride_w * VEC_LEN);
        }
    }
    real *first = out + ((size_t)oy * d->out_w + ox0) * VEC_LEN;
    for (int p = 0; p < pixels; p++) store_vec(first + (size_t)p * VEC_LEN, acc[p]);
}

// block_pixels with the pixel count as a constant: the last pixels of a row (all of a
// 7-wide one) still get independent chains of FMAs.
#define PIXELS_CASE(P) \
    case P: block_pixels(d, b, bordered, taps, bias, oy, ox0, P, out); return;
static SIMD_FMA void block_pixels_dispatch(const DepthwiseConv *d, const BorderedInput *b,
                                           const real *bordered, const real *taps, RealVec bias,
                                           int oy, int ox0, int pixels, real *out) {
    switch (pixels) {
        PIXELS_CASE(1) PIXELS_CASE(2) PIXELS_CASE(3) PIXELS_CASE(4)
        PIXELS_CASE(5) PIXELS_CASE(6) PIXELS_CASE(7) PIXELS_CASE(8)
    }
}

// The outputs (a vector per pixel) back to the VEC_LEN output planes (plane_stride
// apart), + the residual (the same planes' layout, or NULL), then the clamp.
static NO_LIBC_CALLS void unblock_outputs(const DepthwiseConv *d, const real *out,
                                          const PlaneEpilogue *e, size_t plane_stride, real *y) {
    const int pixels = d->out_h * d->out_w, full = pixels / VEC_LEN * VEC_LEN;
    for (int p0 = 0; p0 < full; p0 += VEC_LEN) {
        RealVec r[VEC_LEN];
        for (int j = 0; j < VEC_LEN; j++) r[j] = load_vec(out + (size_t)(p0 + j) * VEC_LEN);
        transpose_block(r);
        for (int c = 0; c < VEC_LEN; c++) {
            RealVec value = r[c];
            if (e->residual) value += load_vec(e->residual + (size_t)c * plane_stride + p0);
            store_vec(y + (size_t)c * plane_stride + p0, clamp_vec(e->clamp, value));
        }
    }
    for (int p = full; p < pixels; p++)
        for (int c = 0; c < VEC_LEN; c++) {
            real value = out[(size_t)p * VEC_LEN + c];
            if (e->residual) value += e->residual[(size_t)c * plane_stride + p];
            y[(size_t)c * plane_stride + p] = clamp_apply(e->clamp, value);
        }
}

SIMD_FMA void SIMD_NAME(depthwise_block)(const DepthwiseConv *d, const real *x, const real *w,
                                         const real *bias, const real *residual,
                                         OutputClamp clamp, real *scratch, real *y) {
    if (d->out_w <= 0 || d->out_h <= 0) return;
    const BorderedInput b = bordered_input(d);
    const int taps = d->kernel_h * d->kernel_w;
    real *bordered = scratch, *tap_vectors = scratch + (size_t)b.rows * b.cols * VEC_LEN;
    real *out = tap_vectors + (size_t)taps * VEC_LEN;
    fill_bordered(d, &b, x, (size_t)d->in_h * d->in_w, bordered);
    for (int t = 0; t < taps; t++)  // tap t of the VEC_LEN kernels as one vector
        for (int c = 0; c < VEC_LEN; c++)
            tap_vectors[(size_t)t * VEC_LEN + c] = w[(size_t)c * taps + t];
    RealVec bias_vec = {0};
    if (bias) bias_vec = load_vec(bias);
    for (int oy = 0; oy < d->out_h; oy++)
        for (int ox = 0; ox < d->out_w; ox += DEPTHWISE_BLOCK_PIXELS) {
            const int left = d->out_w - ox;
            const int pixels = left < DEPTHWISE_BLOCK_PIXELS ? left : DEPTHWISE_BLOCK_PIXELS;
            block_pixels_dispatch(d, &b, bordered, tap_vectors, bias_vec, oy, ox, pixels, out);
        }
    const PlaneEpilogue epilogue = {residual, clamp};
    unblock_outputs(d, out, &epilogue, (size_t)d->out_h * d->out_w, y);
}
