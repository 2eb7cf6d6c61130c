// Direct stride-1 convolution on a padded copy of the image.
//
// The input is copied once into xpad[c][r][s] with the padding made explicit,
// row pitch Wp = out_w + kernel_w - 1. Output pixel (i, j) is then computed at
// the "extended" position q = i * Wp + j, and tap (c, ki, kj) reads
// xpad[c][q + ki * Wp + kj]: for a run of consecutive q that is one contiguous
// load per tap, whatever the tap. The kernel_w - 1 positions per row with
// j >= out_w are computed too (a waste of (kw-1)/Wp) and simply not stored.
//
// Compared with im2col + GEMM this never writes the kw*kh-times larger column
// matrix nor packs it for the BLAS: on the ResNet CIFAR shapes (16..64 channels,
// 8x8..32x32) those copies cost as much as the multiply-adds themselves.
//
// The inner tile is 4 output channels x 3 vectors of positions, or 6 x 2 where
// rounding the positions up to 3 vectors would waste more (8x8 images: 80 extended
// positions are 5 tiles of 2 vectors but 4 of 3), kept in registers over all
// in_c*kh*kw taps (12 accumulators of 16 AVX2 ymm).
#include <string.h>

#include "conv_direct.h"

// 32-byte vectors: AVX2 under the project's -march=x86-64-v3, and plain (if slower)
// code on any other target. 8 floats or 4 doubles.
#define VEC_BYTES 32
#define VEC_LEN ((int)(VEC_BYTES / sizeof(real)))
typedef real RealVec __attribute__((vector_size(VEC_BYTES)));

#define TILE_OUT 4  // also the channel block of the filter gradient
#define TILE_OUT_MAX 6
#define TILE_VECS 3
#define TILE_POSITIONS (TILE_VECS * VEC_LEN)

static inline RealVec load_vec(const real *p) {
    RealVec v;
    memcpy(&v, p, sizeof v);  // unaligned load
    return v;
}

static int padded_w(const DirectConv *d) { return d->out_w + d->kernel_w - 1; }
static int padded_h(const DirectConv *d) { return d->out_h + d->kernel_h - 1; }
static size_t padded_plane(const DirectConv *d) { return (size_t)padded_w(d) * padded_h(d); }
static size_t extended_positions(const DirectConv *d) { return (size_t)d->out_h * padded_w(d); }
static size_t rounded_positions(const DirectConv *d) {
    return (extended_positions(d) + TILE_POSITIONS - 1) / TILE_POSITIONS * TILE_POSITIONS;
}

// The last tile reads up to (rounded - extended) positions past the last padded
// plane, plus kernel_w - 1 for its last tap: zeroed slack covers that.
static size_t slack(const DirectConv *d) {
    return rounded_positions(d) - extended_positions(d) + (size_t)d->kernel_w + TILE_POSITIONS;
}

size_t direct_conv_scratch_size(const DirectConv *d) {
    return (size_t)d->in_c * padded_plane(d) + slack(d);
}

// Copies x into the padded layout, channel c at xpad + c * channel_pitch; the caller
// has zeroed xpad (the padding).
static void pad_image_into(const DirectConv *d, const real *x, size_t channel_pitch, real *xpad) {
    const int pw = padded_w(d), ph = padded_h(d);
    // Padded columns s with 0 <= s - pad_left < in_w hold image columns.
    int s_lo = d->pad_left > 0 ? d->pad_left : 0;
    int s_hi = d->pad_left + d->in_w < pw ? d->pad_left + d->in_w : pw;
    if (s_hi < s_lo) s_hi = s_lo;
    for (int c = 0; c < d->in_c; c++) {
        const real *x_channel = x + (size_t)c * d->in_h * d->in_w;
        real *p_channel = xpad + (size_t)c * channel_pitch;
        for (int r = 0; r < ph; r++) {
            const int ih = r - d->pad_top;
            if (ih < 0 || ih >= d->in_h) continue;
            memcpy(p_channel + (size_t)r * pw + s_lo,
                   x_channel + (size_t)ih * d->in_w + (s_lo - d->pad_left),
                   sizeof(real) * (size_t)(s_hi - s_lo));
        }
    }
}

static void pad_image(const DirectConv *d, const real *x, real *xpad) {
    memset(xpad, 0, sizeof(real) * direct_conv_scratch_size(d));
    pad_image_into(d, x, padded_plane(d), xpad);
}

// acc[o][v] = sum over taps of w[o0+o][c][ki][kj] * xpad[c][q0 + v*VEC_LEN + lane + ki*Wp + kj]
// for `outs` channels and `vecs` vectors (compile-time constants after inlining, so the
// accumulators stay in registers). fp-contract: gcc fuses acc + w*x into one FMA
// only when allowed, and ISO C mode (-std=c11) does not allow it by default.
__attribute__((always_inline, optimize("fp-contract=fast"))) static inline void compute_tile(
    const DirectConv *d, const real *xpad, const real *w, int o0, const int outs, const int vecs,
    size_t q0, real out[TILE_OUT_MAX][TILE_POSITIONS]) {
    const int pw = padded_w(d), kh = d->kernel_h, kw = d->kernel_w;
    const size_t plane = padded_plane(d), w_stride = (size_t)d->in_c * kh * kw;
    RealVec acc[TILE_OUT_MAX][TILE_VECS];
    for (int o = 0; o < outs; o++)
        for (int v = 0; v < vecs; v++) acc[o][v] = (RealVec){0};
    const real *w_block = w + (size_t)o0 * w_stride;
    for (int c = 0; c < d->in_c; c++) {
        for (int ki = 0; ki < kh; ki++) {
            const real *row = xpad + (size_t)c * plane + (size_t)ki * pw + q0;
            const real *w_tap = w_block + ((size_t)c * kh + ki) * kw;
            for (int kj = 0; kj < kw; kj++) {
                RealVec xv[TILE_VECS];
                for (int v = 0; v < vecs; v++) xv[v] = load_vec(row + kj + v * VEC_LEN);
                for (int o = 0; o < outs; o++) {
                    const real weight = w_tap[o * w_stride + kj];  // broadcast by the product
                    for (int v = 0; v < vecs; v++) acc[o][v] += xv[v] * weight;
                }
            }
        }
    }
    for (int o = 0; o < outs; o++)
        for (int v = 0; v < vecs; v++) memcpy(&out[o][v * VEC_LEN], &acc[o][v], sizeof acc[o][v]);
}

// Stores the tile's valid positions (j < out_w, q < out_h * Wp) into y with bias and
// ReLU, one run of consecutive output columns at a time (a loop the compiler vectorises).
static void store_tile(const DirectConv *d, real out[TILE_OUT_MAX][TILE_POSITIONS], int o0,
                       int outs, size_t q0, size_t tile_positions, const real *bias, int fuse_relu,
                       real *y) {
    const size_t pw = (size_t)padded_w(d), plane_out = (size_t)d->out_h * d->out_w;
    const size_t q_end = extended_positions(d);
    const size_t tile_end = q0 + tile_positions < q_end ? q0 + tile_positions : q_end;
    for (size_t q = q0; q < tile_end;) {
        const size_t i = q / pw, j = q % pw;
        const size_t row_end = (i + 1) * pw < tile_end ? (i + 1) * pw : tile_end;
        const size_t valid_end = i * pw + (size_t)d->out_w < row_end ? i * pw + d->out_w : row_end;
        const int run = j < (size_t)d->out_w ? (int)(valid_end - q) : 0;
        for (int o = 0; o < outs; o++) {
            const real *src = out[o] + (q - q0);
            real *dst = y + (size_t)(o0 + o) * plane_out + i * d->out_w + j;
            const real b = bias ? bias[o0 + o] : 0;
            if (fuse_relu) {
                for (int k = 0; k < run; k++) dst[k] = src[k] + b > 0 ? src[k] + b : 0;
            } else {
                for (int k = 0; k < run; k++) dst[k] = src[k] + b;
            }
        }
        q = row_end;
    }
}

// Channels *o0 .. in blocks of `outs`, as long as a whole block remains.
__attribute__((always_inline, optimize("fp-contract=fast"))) static inline void channel_blocks(
    const DirectConv *d, const real *xpad, const real *w, const real *bias, int fuse_relu,
    const int outs, const int vecs, int *o0, real *y) {
    real out[TILE_OUT_MAX][TILE_POSITIONS];
    const size_t q_end = extended_positions(d), step = (size_t)vecs * VEC_LEN;
    for (; *o0 + outs <= d->out_c; *o0 += outs)
        for (size_t q0 = 0; q0 < q_end; q0 += step) {
            compute_tile(d, xpad, w, *o0, outs, vecs, q0, out);
            store_tile(d, out, *o0, outs, q0, step, bias, fuse_relu, y);
        }
}

// Narrow (2-vector) tiles when 3-vector tiles would compute over 10% more positions.
static int use_narrow_tiles(const DirectConv *d) {
    const size_t q = extended_positions(d), narrow_step = 2 * (size_t)VEC_LEN;
    const size_t narrow = (q + narrow_step - 1) / narrow_step * narrow_step;
    return rounded_positions(d) * 10 > narrow * 11;
}

// The fp-contract option must sit here too: compute_tile is inlined into this function.
__attribute__((optimize("fp-contract=fast"))) void direct_conv_image(
    const DirectConv *d, const real *x, const real *w, const real *bias, int fuse_relu,
    real *scratch, real *y) {
    pad_image(d, x, scratch);
    int o0 = 0;
    if (use_narrow_tiles(d)) {
        channel_blocks(d, scratch, w, bias, fuse_relu, 6, 2, &o0, y);
        channel_blocks(d, scratch, w, bias, fuse_relu, 4, 2, &o0, y);
        channel_blocks(d, scratch, w, bias, fuse_relu, 1, 2, &o0, y);
    } else {
        channel_blocks(d, scratch, w, bias, fuse_relu, 4, 3, &o0, y);
        channel_blocks(d, scratch, w, bias, fuse_relu, 1, 3, &o0, y);
    }
}

// ---- filter gradient ----------------------------------------------------------------------
//
// dw[o][c][ki][kj] = sum_q dy_ext[o][q] * xpad[c][q + ki * Wp + kj] over extended positions
// q, where dy_ext is dy laid out with the row pitch Wp and zeros at every position that is
// not an output pixel (j >= out_w, and the kernel_h - 1 padding rows after each image), so
// those positions add nothing. A STACK of images is laid out back to back (image m at
// position m * padded_plane) and reduced in one sweep: on small planes (8x8) one image is
// too short a reduction to pay for the loop set-up and the final lane sums.
// Tile: TILE_OUT output channels x up to FILTER_TAPS taps of one kernel row, each
// accumulator a vector over q.

#define FILTER_TAPS 3

typedef struct {
    const DirectConv *conv;
    size_t positions;       // swept positions: (images - 1) * padded_plane + out_h * Wp, rounded
    size_t channel_pitch;   // distance between the channels of the stacked xpad
    const real *xpad, *dy_ext;
} FilterStack;

static size_t stack_positions(const DirectConv *d, int images) {
    const size_t used = (size_t)(images - 1) * padded_plane(d) + extended_positions(d);
    return (used + VEC_LEN - 1) / VEC_LEN * VEC_LEN;
}

// The sweep reads up to positions - 1 + (kh-1)*Wp + kw-1 past a channel's start: the last
// image's padded plane plus at most VEC_LEN + kw; the pitch leaves that room.
static size_t stack_channel_pitch(const DirectConv *d, int images) {
    return (size_t)images * padded_plane(d) + (size_t)VEC_LEN + (size_t)d->kernel_w;
}

size_t direct_filter_grad_scratch_size(const DirectConv *d, int images) {
    return (size_t)d->in_c * stack_channel_pitch(d, images) +
           (size_t)d->out_c * stack_positions(d, images);
}

// dy of image m into dy_ext[o][m * padded_plane + i * Wp + j]; everything else stays zero.
static void extend_gradient_into(const DirectConv *d, const real *dy, size_t row_pitch,
                                 real *dy_ext) {
    const int pw = padded_w(d);
    for (int o = 0; o < d->out_c; o++)
        for (int i = 0; i < d->out_h; i++)
            memcpy(dy_ext + o * row_pitch + (size_t)i * pw,
                   dy + ((size_t)o * d->out_h + i) * d->out_w, sizeof(real) * (size_t)d->out_w);
}

static inline real lane_sum(RealVec v) {
    real sum = v[0];
    for (int lane = 1; lane < VEC_LEN; lane++) sum += v[lane];
    return sum;
}

__attribute__((always_inline, optimize("fp-contract=fast"))) static inline void filter_tile(
    const FilterStack *fs, int o0, const int outs, int c, int ki, int kj0, const int taps,
    int overwrite, real *dw) {
    const DirectConv *d = fs->conv;
    const int kh = d->kernel_h, kw = d->kernel_w;
    const size_t positions = fs->positions;
    const real *x_row = fs->xpad + (size_t)c * fs->channel_pitch + (size_t)ki * padded_w(d) + kj0;
    RealVec acc[TILE_OUT][FILTER_TAPS];
    for (int o = 0; o < outs; o++)
        for (int t = 0; t < taps; t++) acc[o][t] = (RealVec){0};
    for (size_t q = 0; q < positions; q += VEC_LEN) {
        RealVec xv[FILTER_TAPS];
        for (int t = 0; t < taps; t++) xv[t] = load_vec(x_row + q + t);
        for (int o = 0; o < outs; o++) {
            const RealVec gv = load_vec(fs->dy_ext + (size_t)(o0 + o) * positions + q);
            for (int t = 0; t < taps; t++) acc[o][t] += gv * xv[t];
        }
    }
    for (int o = 0; o < outs; o++) {
        real *dw_row = dw + (((size_t)(o0 + o) * d->in_c + c) * kh + ki) * kw + kj0;
        for (int t = 0; t < taps; t++) {
            const real sum = lane_sum(acc[o][t]);
            dw_row[t] = overwrite ? sum : dw_row[t] + sum;
        }
    }
}

// All taps of one kernel row for channels o0 .. o0+outs-1 (outs a constant after inlining).
__attribute__((always_inline, optimize("fp-contract=fast"))) static inline void filter_row(
    const FilterStack *fs, int o0, const int outs, int c, int ki, int overwrite, real *dw) {
    int kj = 0;
    for (; kj + FILTER_TAPS <= fs->conv->kernel_w; kj += FILTER_TAPS)
        filter_tile(fs, o0, outs, c, ki, kj, FILTER_TAPS, overwrite, dw);
    for (; kj < fs->conv->kernel_w; kj++) filter_tile(fs, o0, outs, c, ki, kj, 1, overwrite, dw);
}

__attribute__((optimize("fp-contract=fast"))) void direct_filter_grad_images(
    const DirectConv *d, int images, const real *const *x, const real *const *dy, int overwrite,
    real *scratch, real *dw) {
    const size_t channel_pitch = stack_channel_pitch(d, images);
    const size_t positions = stack_positions(d, images);
    real *xpad = scratch, *dy_ext = scratch + (size_t)d->in_c * channel_pitch;
    memset(scratch, 0, sizeof(real) * direct_filter_grad_scratch_size(d, images));
    for (int m = 0; m < images; m++) {
        pad_image_into(d, x[m], channel_pitch, xpad + (size_t)m * padded_plane(d));
        extend_gradient_into(d, dy[m], positions, dy_ext + (size_t)m * padded_plane(d));
    }
    const FilterStack fs = {d, positions, channel_pitch, xpad, dy_ext};
    int o0 = 0;
    for (; o0 + TILE_OUT <= d->out_c; o0 += TILE_OUT)
        for (int c = 0; c < d->in_c; c++)
            for (int ki = 0; ki < d->kernel_h; ki++) filter_row(&fs, o0, TILE_OUT, c, ki, overwrite, dw);
    for (; o0 < d->out_c; o0++)
        for (int c = 0; c < d->in_c; c++)
            for (int ki = 0; ki < d->kernel_h; ki++) filter_row(&fs, o0, 1, c, ki, overwrite, dw);
}
