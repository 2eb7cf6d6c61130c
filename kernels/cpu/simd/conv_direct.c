// Direct stride-1 convolution on a padded copy of the image (one build per
// instruction set: simd.h, cpu_kernels.h).
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
// Work is split into position tiles of `vecs` vectors; a tile computes every
// output channel in register blocks of `outs` channels x `vecs` vectors,
// accumulated over all in_c*kh*kw taps. (outs, vecs) is chosen per geometry
// from the shapes that fit the register file (tile_config): the fewest
// positions computed in vain (the last tile of an image rounds up), then the
// fewest loads per multiply-add (1/outs). Threads split the tiles (an image
// too few to go round) or the images; either way each output is summed in the
// same order, so results never depend on the thread count.
#include "simd.h"

// (outs, vecs) register tiles: outs * vecs accumulators + vecs inputs + one
// broadcast weight must fit the vector registers.
#if VEC_REGISTERS >= 32
#define TILE_CONFIGS(X) X(0, 8, 3) X(1, 4, 6) X(2, 4, 5) X(3, 4, 4) X(4, 8, 2) X(5, 8, 1)
#define TILE_CONFIG_COUNT 6
#define TILE_VECS_MAX 6
#define TILE_OUT_MAX 8
#else
#define TILE_CONFIGS(X) X(0, 4, 3) X(1, 6, 2) X(2, 4, 2) X(3, 4, 1)
#define TILE_CONFIG_COUNT 4
#define TILE_VECS_MAX 3
#define TILE_OUT_MAX 6
#endif
#define TILE_POSITIONS_MAX (TILE_VECS_MAX * VEC_LEN)

typedef struct {
    int outs, vecs;
} TileConfig;

#define CONFIG_ENTRY(index, o, v) {o, v},
static const TileConfig tile_configs[TILE_CONFIG_COUNT] = {TILE_CONFIGS(CONFIG_ENTRY)};

static int padded_w(const DirectConv *d) { return d->out_w + d->kernel_w - 1; }
static int padded_h(const DirectConv *d) { return d->out_h + d->kernel_h - 1; }
static size_t padded_plane(const DirectConv *d) { return (size_t)padded_w(d) * padded_h(d); }
static size_t extended_positions(const DirectConv *d) { return (size_t)d->out_h * padded_w(d); }

static size_t rounded_up(size_t n, size_t step) { return (n + step - 1) / step * step; }

static int tile_config(const DirectConv *d) {
    int best = 0;
    double best_cost = 0;
    for (int k = 0; k < TILE_CONFIG_COUNT; k++) {
        const TileConfig c = tile_configs[k];
        const size_t computed = rounded_up(extended_positions(d), (size_t)c.vecs * VEC_LEN);
        const double cost = (double)computed * (1.0 + 1.0 / c.outs);
        if (k == 0 || cost < best_cost) best = k, best_cost = cost;
    }
    return best;
}

static size_t tile_positions(const DirectConv *d) {
    return (size_t)tile_configs[tile_config(d)].vecs * VEC_LEN;
}

int SIMD_NAME(direct_conv_tile_count)(const DirectConv *d) {
    return (int)(rounded_up(extended_positions(d), tile_positions(d)) / tile_positions(d));
}

// The last tile reads up to a tile's positions past the last extended position,
// plus kernel_w - 1 for its last tap, plus (kernel_h - 1) rows: zeroed slack covers it.
static size_t slack(void) { return (size_t)TILE_POSITIONS_MAX + VEC_LEN; }

size_t SIMD_NAME(direct_conv_scratch_size)(const DirectConv *d) {
    return (size_t)d->in_c * padded_plane(d) + slack() + (size_t)d->kernel_w;
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

void SIMD_NAME(direct_conv_pad)(const DirectConv *d, const real *x, real *xpad) {
    memset(xpad, 0, sizeof(real) * SIMD_NAME(direct_conv_scratch_size)(d));
    pad_image_into(d, x, padded_plane(d), xpad);
}

// acc[o][v] = sum over taps of w[o0+o][c][ki][kj] * xpad[c][q0 + v*VEC_LEN + lane + ki*Wp + kj]
// for `outs` channels and `vecs` vectors (compile-time constants after inlining, so the
// accumulators stay in registers).
__attribute__((always_inline)) SIMD_FMA static inline void compute_tile(
    const DirectConv *d, const real *xpad, const real *w, int o0, const int outs, const int vecs,
    size_t q0, real out[TILE_OUT_MAX][TILE_POSITIONS_MAX]) {
    const int pw = padded_w(d), kh = d->kernel_h, kw = d->kernel_w;
    const size_t plane = padded_plane(d), w_stride = (size_t)d->in_c * kh * kw;
    RealVec acc[TILE_OUT_MAX][TILE_VECS_MAX];
    for (int o = 0; o < outs; o++)
        for (int v = 0; v < vecs; v++) acc[o][v] = (RealVec){0};
    const real *w_block = w + (size_t)o0 * w_stride;
    for (int c = 0; c < d->in_c; c++) {
        for (int ki = 0; ki < kh; ki++) {
            const real *row = xpad + (size_t)c * plane + (size_t)ki * pw + q0;
            const real *w_tap = w_block + ((size_t)c * kh + ki) * kw;
            for (int kj = 0; kj < kw; kj++) {
                RealVec xv[TILE_VECS_MAX];
                for (int v = 0; v < vecs; v++) xv[v] = load_vec(row + kj + v * VEC_LEN);
                for (int o = 0; o < outs; o++) {
                    const real weight = w_tap[o * w_stride + kj];  // broadcast by the product
                    for (int v = 0; v < vecs; v++) acc[o][v] += xv[v] * weight;
                }
            }
        }
    }
    for (int o = 0; o < outs; o++)
        for (int v = 0; v < vecs; v++) store_vec(&out[o][v * VEC_LEN], acc[o][v]);
}

// Stores the tile's valid positions (j < out_w, q < out_h * Wp) into y with bias,
// residual and clamp, one run of consecutive output columns at a time (a loop the compiler vectorises).
static void store_tile(const DirectConv *d, real out[TILE_OUT_MAX][TILE_POSITIONS_MAX], int o0,
                       int outs, size_t q0, size_t positions, const real *bias,
                       const real *residual, OutputClamp clamp, real *y) {
    const size_t pw = (size_t)padded_w(d), plane_out = (size_t)d->out_h * d->out_w;
    const size_t q_end = extended_positions(d);
    const size_t tile_end = q0 + positions < q_end ? q0 + positions : q_end;
    for (size_t q = q0; q < tile_end;) {
        const size_t i = q / pw, j = q % pw;
        const size_t row_end = (i + 1) * pw < tile_end ? (i + 1) * pw : tile_end;
        const size_t valid_end = i * pw + (size_t)d->out_w < row_end ? i * pw + d->out_w : row_end;
        const int run = j < (size_t)d->out_w ? (int)(valid_end - q) : 0;
        for (int o = 0; o < outs; o++) {
            const real *src = out[o] + (q - q0);
            const size_t at = (size_t)(o0 + o) * plane_out + i * d->out_w + j;
            real *dst = y + at;
            const real b = bias ? bias[o0 + o] : 0;
            if (residual) {  // may be y itself: read, then write, element by element
                const real *res = residual + at;
                for (int k = 0; k < run; k++) {
                    const real v = src[k] + b + res[k];
                    dst[k] = clamp_apply(clamp, v);
                }
            } else if (clamp.on) {
                for (int k = 0; k < run; k++) dst[k] = clamp_apply(clamp, src[k] + b);
            } else {
                for (int k = 0; k < run; k++) dst[k] = src[k] + b;
            }
        }
        q = row_end;
    }
}

// Channels *o0 .. o_end - 1 of the tile at q0, in blocks of `outs`, as long as a whole
// block remains.
__attribute__((always_inline)) SIMD_FMA static inline void channel_blocks(
    const DirectConv *d, const real *xpad, const real *w, const real *bias, const real *residual,
    OutputClamp clamp, const int outs, const int vecs, size_t q0, int *o0, int o_end, real *y) {
    real out[TILE_OUT_MAX][TILE_POSITIONS_MAX];
    for (; *o0 + outs <= o_end; *o0 += outs) {
        compute_tile(d, xpad, w, *o0, outs, vecs, q0, out);
        store_tile(d, out, *o0, outs, q0, (size_t)vecs * VEC_LEN, bias, residual, clamp, y);
    }
}

// Tiles [tile_begin, tile_end) with (outs, vecs) register blocks: blocks of `outs`
// channels, the rest in blocks of 4, then 1.
__attribute__((always_inline)) SIMD_FMA static inline void tiles_with(
    const DirectConv *d, const real *xpad, const real *w, const real *bias, const real *residual,
    OutputClamp clamp, const int outs, const int vecs, int tile_begin, int tile_end, int o_begin,
    int o_end, real *y) {
    for (int t = tile_begin; t < tile_end; t++) {
        const size_t q0 = (size_t)t * vecs * VEC_LEN;
        int o0 = o_begin;
        channel_blocks(d, xpad, w, bias, residual, clamp, outs, vecs, q0, &o0, o_end, y);
        if (outs > 4)
            channel_blocks(d, xpad, w, bias, residual, clamp, 4, vecs, q0, &o0, o_end, y);
        channel_blocks(d, xpad, w, bias, residual, clamp, 1, vecs, q0, &o0, o_end, y);
    }
}

SIMD_FMA void SIMD_NAME(direct_conv_tiles)(const DirectConv *d, const real *xpad, const real *w,
                                           const real *bias, const real *residual, OutputClamp clamp,
                                           int tile_begin, int tile_end, int o_begin, int o_end,
                                           real *y) {
    switch (tile_config(d)) {
#define CONFIG_CASE(index, o, v)                                                      \
    case index:                                                                       \
        tiles_with(d, xpad, w, bias, residual, clamp, o, v, tile_begin, tile_end, \
                   o_begin, o_end, y);                                                \
        break;
        TILE_CONFIGS(CONFIG_CASE)
#undef CONFIG_CASE
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
// Tile: FILTER_OUT output channels x up to FILTER_TAPS taps of one kernel row, each
// accumulator a vector over q (8 x 3 accumulators where there are 32 vector registers:
// 11 loads per 24 multiply-adds; 4 x 3 with 16).

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
// Rounded to whole vectors, so that (with the scratch 64-byte aligned) every channel of
// xpad and every row of dy_ext starts on a vector boundary: a 64-byte load that
// straddles two cache lines costs two.
static size_t stack_channel_pitch(const DirectConv *d, int images) {
    return rounded_up((size_t)images * padded_plane(d) + (size_t)VEC_LEN + (size_t)d->kernel_w,
                      (size_t)VEC_LEN);
}

size_t SIMD_NAME(direct_filter_grad_scratch_size)(const DirectConv *d, int images) {
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

// The sum of the lanes by halving (lane j += lane j + width, width = VEC_LEN / 2 ... 1): log2
// of the lanes in vector adds instead of VEC_LEN scalar ones, which matters when a short
// sweep (8x8 planes) is reduced for every (channel, tap): the filter gradient's tiles.
#define SHIFTED_LANE(j, width) (((j) + (width)) & (VEC_LANES - 1))
#define SHIFT_LANES2(w, j) SHIFTED_LANE(j, w), SHIFTED_LANE((j) + 1, w)
#define SHIFT_LANES4(w, j) SHIFT_LANES2(w, j), SHIFT_LANES2(w, (j) + 2)
#define SHIFT_LANES8(w, j) SHIFT_LANES4(w, j), SHIFT_LANES4(w, (j) + 4)
#define SHIFT_LANES16(w, j) SHIFT_LANES8(w, j), SHIFT_LANES8(w, (j) + 8)
#if VEC_LANES == 16
static const IndexVec halving_masks[] = {{SHIFT_LANES16(8, 0)}, {SHIFT_LANES16(4, 0)},
                                         {SHIFT_LANES16(2, 0)}, {SHIFT_LANES16(1, 0)}};
#elif VEC_LANES == 8
static const IndexVec halving_masks[] = {{SHIFT_LANES8(4, 0)}, {SHIFT_LANES8(2, 0)},
                                         {SHIFT_LANES8(1, 0)}};
#elif VEC_LANES == 4
static const IndexVec halving_masks[] = {{SHIFT_LANES4(2, 0)}, {SHIFT_LANES4(1, 0)}};
#elif VEC_LANES == 2
static const IndexVec halving_masks[] = {{SHIFT_LANES2(1, 0)}};
#endif

static inline real lane_sum(RealVec v) {
#pragma GCC unroll 4
    for (size_t k = 0; k < sizeof halving_masks / sizeof halving_masks[0]; k++)
        v += shuffle_lanes(v, halving_masks[k]);
    return v[0];
}

#if VEC_REGISTERS >= 32
#define FILTER_OUT 8
#else
#define FILTER_OUT 4
#endif

__attribute__((always_inline)) SIMD_FMA static inline void filter_tile(
    const FilterStack *fs, int o0, const int outs, int c, int ki, int kj0, const int taps,
    int overwrite, real *dw) {
    const DirectConv *d = fs->conv;
    const int kh = d->kernel_h, kw = d->kernel_w;
    const size_t positions = fs->positions;
    const real *x_row = fs->xpad + (size_t)c * fs->channel_pitch + (size_t)ki * padded_w(d) + kj0;
    RealVec acc[FILTER_OUT][FILTER_TAPS];
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
__attribute__((always_inline)) SIMD_FMA static inline void filter_row(
    const FilterStack *fs, int o0, const int outs, int c, int ki, int overwrite, real *dw) {
    int kj = 0;
    for (; kj + FILTER_TAPS <= fs->conv->kernel_w; kj += FILTER_TAPS)
        filter_tile(fs, o0, outs, c, ki, kj, FILTER_TAPS, overwrite, dw);
    for (; kj < fs->conv->kernel_w; kj++) filter_tile(fs, o0, outs, c, ki, kj, 1, overwrite, dw);
}

SIMD_FMA void SIMD_NAME(direct_filter_grad_images)(
    const DirectConv *d, int images, const real *const *x, const real *const *dy, int overwrite,
    real *scratch, real *dw) {
    const size_t channel_pitch = stack_channel_pitch(d, images);
    const size_t positions = stack_positions(d, images);
    real *xpad = scratch, *dy_ext = scratch + (size_t)d->in_c * channel_pitch;
    memset(scratch, 0, sizeof(real) * SIMD_NAME(direct_filter_grad_scratch_size)(d, images));
    for (int m = 0; m < images; m++) {
        pad_image_into(d, x[m], channel_pitch, xpad + (size_t)m * padded_plane(d));
        extend_gradient_into(d, dy[m], positions, dy_ext + (size_t)m * padded_plane(d));
    }
    const FilterStack fs = {d, positions, channel_pitch, xpad, dy_ext};
    int o0 = 0;
    for (; o0 + FILTER_OUT <= d->out_c; o0 += FILTER_OUT)
        for (int c = 0; c < d->in_c; c++)
            for (int ki = 0; ki < d->kernel_h; ki++)
                filter_row(&fs, o0, FILTER_OUT, c, ki, overwrite, dw);
    for (; FILTER_OUT > 4 && o0 + 4 <= d->out_c; o0 += 4)
        for (int c = 0; c < d->in_c; c++)
            for (int ki = 0; ki < d->kernel_h; ki++) filter_row(&fs, o0, 4, c, ki, overwrite, dw);
    for (; o0 < d->out_c; o0++)
        for (int c = 0; c < d->in_c; c++)
            for (int ki = 0; ki < d->kernel_h; ki++) filter_row(&fs, o0, 1, c, ki, overwrite, dw);
}
