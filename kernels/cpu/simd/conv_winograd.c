// Winograd convolution F(m x m, 3 x 3) for stride-1 3x3 convolutions (one build
// per instruction set: simd.h, cpu_kernels.h), m = 2 or 4.
//
// An output tile of m x m pixels comes from an alpha x alpha input tile (alpha =
// m + 2) as Y = A^T [ (G g G^T) . (B^T d B) ] A (Lavin and Gray, 2016): with the
// weights transformed once (U = G g G^T), each tile costs alpha^2 multiply-adds
// per input and output channel instead of 9 m^2: 16 instead of 36 for m = 2
// (2.25x fewer), 36 instead of 144 for m = 4 (4x fewer). The sums over input
// channels become alpha^2 independent matrix products, one per transform
// coefficient xi:  M[xi][t][k] = sum_c V[xi][t][c] U[xi][c][k].
//
// Layout: the transforms run on vectors of channels, so the image is first
// transposed to channels-last (NHWC, pixels in row order, no padding: tiles at the
// border read zeros), the products keep channels contiguous, and the output
// transform writes channels-last pixels that one more transpose returns to NCHW,
// adding bias and residual and clamping on the way. The transposes are
// VEC_LEN x VEC_LEN register blocks; they cost a few operations per element,
// against the alpha^2 * C * K / m^2 multiply-adds per output pixel of the products.
//
// Tiles are processed TILE_BLOCK at a time (the V and M blocks stay in cache),
// their index running over the images of a call, so an 8x8 image (4 tiles of
// F(4x4)) still fills the blocks. Each tile is computed the same way whichever
// thread takes it, so results do not depend on the thread count.
//
// Accuracy: the transforms have coefficients up to 8 (m = 4), so rounding grows
// with m; tests/test_conv_winograd.c measures both variants against double loops.
#include "simd.h"
#include "transpose.h"

#define ALPHA_MAX 6
#define TILE_BLOCK 16
// The filter gradient's blocks are larger where dU is: each block adds into all of dU
// (alpha^2 * in_c * out_c sums, 590 kB for 64 channels and F(4x4)), so a block must
// bring enough tiles to pay for reading and writing it; with few channels dU is small
// and smaller blocks keep the transformed tiles in cache (filter_block).
#define FILTER_BLOCK 64
#if VEC_REGISTERS >= 32
#define GEMM_TILES 8   // register block of the filter gradient's sums: channels x vectors
#define GEMM_KVECS 3
#else
#define GEMM_TILES 4
#define GEMM_KVECS 2
#endif
// The forward products' register blocks (products): at most these many tiles and
// vectors of output channels (product_column shares a block's tiles out between them).
#define PRODUCT_MAX_TILES 16
#define PRODUCT_MAX_KVECS 4


static int alpha_of(const WinogradConv *wc) { return wc->m + 2; }

// Reals from one coefficient's rows of a V, M or Z block to the next: the block's
// slots x channels, plus one vector. Without it the stride is a multiple of 4 KiB for
// 16 slots of 64 channels, and a tile's alpha^2 values of one channel vector, one per
// coefficient, all fall into the same set of the L1 cache.
static size_t coefficient_stride(int block, int channels) {
    return (size_t)block * channels + VEC_LEN;
}
// Where U[xi][c][k] is kept: by vectors of output channels, the in_c x VEC_LEN reals of
// one vector's rows contiguous (U[xi][k / VEC_LEN][c][k % VEC_LEN]). The products read a
// block of output channels' rows, every input channel: with the rows of all out_c
// channels side by side, those were 64 bytes out of every 4 * out_c (2 KiB at 512
// channels: a 4 KiB page gave two lines, and the hardware prefetchers, which stay inside
// a page, none), so the weights of ResNet-50's last stage came at a few GB/s. Its
// 512-channel 7x7 layers (F(2x2), 16.8 MB of weights each) in `sdinfer --profile` at batch
// 1 on one core of an AMD EPYC (AVX2), three alternating runs: 3.37 to 4.57 ms before,
// 1.77 to 1.89 ms so.
static size_t weight_offset(int in_c, int out_c, int xi, int c, int k) {
    return ((size_t)xi * out_c + (size_t)(k - k % VEC_LEN)) * in_c + (size_t)c * VEC_LEN +
           (size_t)(k % VEC_LEN);
}

static int tiles_y(const WinogradConv *wc) { return (wc->out_h + wc->m - 1) / wc->m; }
static int tiles_x(const WinogradConv *wc) { return (wc->out_w + wc->m - 1) / wc->m; }

size_t SIMD_NAME(winograd_weights_size)(const WinogradConv *wc) {
    const int a = alpha_of(wc);
    return (size_t)a * a * wc->in_c * wc->out_c;
}

size_t SIMD_NAME(winograd_block_scratch_size)(const WinogradConv *wc) {
    const int a = alpha_of(wc);
    return (size_t)a * a *
           (coefficient_stride(FILTER_BLOCK, wc->in_c) + coefficient_stride(FILTER_BLOCK, wc->out_c));
}

// ---- the 1-D transforms (applied to rows, then to columns) ------------------------------------

// u = G g for 3 taps: alpha values.
__attribute__((always_inline)) static inline void weight_1d(const int m, const RealVec *g,
                                                           RealVec *u) {
    if (m == 2) {
        u[0] = g[0];
        u[1] = (g[0] + g[1] + g[2]) * (real)0.5;
        u[2] = (g[0] - g[1] + g[2]) * (real)0.5;
        u[3] = g[2];
    } else {
        const RealVec outer = g[0] + g[2];
        u[0] = g[0] * (real)0.25;
        u[1] = (outer + g[1]) * (real)(-1.0 / 6);
        u[2] = (outer - g[1]) * (real)(-1.0 / 6);
        u[3] = g[0] * (real)(1.0 / 24) + g[1] * (real)(1.0 / 12) + g[2] * (real)(1.0 / 6);
        u[4] = g[0] * (real)(1.0 / 24) - g[1] * (real)(1.0 / 12) + g[2] * (real)(1.0 / 6);
        u[5] = g[2];
    }
}

// t = B^T d over alpha inputs.
__attribute__((always_inline)) static inline void input_1d(const int m, const RealVec *d,
                                                          RealVec *t) {
    if (m == 2) {
        t[0] = d[0] - d[2];
        t[1] = d[1] + d[2];
        t[2] = d[2] - d[1];
        t[3] = d[1] - d[3];
    } else {
        const RealVec a = d[4] - 4 * d[2], b = d[3] - 4 * d[1];
        const RealVec c = d[4] - d[2], e = 2 * (d[3] - d[1]);
        t[0] = 4 * d[0] - 5 * d[2] + d[4];
        t[1] = a + b;
        t[2] = a - b;
        t[3] = c + e;
        t[4] = c - e;
        t[5] = 4 * d[1] - 5 * d[3] + d[5];
    }
}

// y = A^T v over alpha inputs: m outputs.
__attribute__((always_inline)) static inline void output_1d(const int m, const RealVec *v,
                                                           RealVec *y) {
    if (m == 2) {
        y[0] = v[0] + v[1] + v[2];
        y[1] = v[1] - v[2] - v[3];
    } else {
        const RealVec p = v[1] + v[2], q = v[1] - v[2], r = v[3] + v[4], s = v[3] - v[4];
        y[0] = v[0] + p + r;
        y[1] = q + 2 * s;
        y[2] = p + 4 * r;
        y[3] = q + 8 * s + v[5];
    }
}

// U[xi][c][k] = (G g[k][c] G^T)[xi], vectors of output channels k at a time. Training
// transforms the weights at every call (cheap next to the products); sdinfer's
// constant weights are transformed once (conv.c keeps them).
__attribute__((always_inline)) static inline void weights_with(const WinogradConv *wc,
                                                              const int m, const real *w,
                                                              real *u) {
    const int a = m + 2, in_c = wc->in_c, out_c = wc->out_c;
    for (int c = 0; c < in_c; c++)
        for (int k0 = 0; k0 < out_c; k0 += VEC_LEN) {
            RealVec rows[3][ALPHA_MAX];
            for (int i = 0; i < 3; i++) {
                real gathered[3][VEC_LEN];  // tap j of VEC_LEN output channels
                for (int j = 0; j < 3; j++)
                    for (int lane = 0; lane < VEC_LEN; lane++)
                        gathered[j][lane] = w[((size_t)(k0 + lane) * in_c + c) * 9 + i * 3 + j];
                const RealVec taps[3] = {load_vec(gathered[0]), load_vec(gathered[1]),
                                         load_vec(gathered[2])};
                weight_1d(m, taps, rows[i]);  // G along each kernel row
            }
            for (int j = 0; j < a; j++) {
                RealVec column[3] = {rows[0][j], rows[1][j], rows[2][j]}, full[ALPHA_MAX];
                weight_1d(m, column, full);  // then down each column
                for (int i = 0; i < a; i++)
                    store_vec(u + weight_offset(in_c, out_c, i * a + j, c, k0), full[i]);
            }
        }
}

void SIMD_NAME(winograd_weights)(const WinogradConv *wc, const real *w, real *u) {
    if (wc->m == 2)
        weights_with(wc, 2, w, u);
    else
        weights_with(wc, 4, w, u);
}

// ---- transposes between NCHW and channels-last ----------------------------------------------

// xt[n][p][c] = x[n][c][p] over the images' in_h * in_w pixels.
void SIMD_NAME(winograd_to_nhwc)(const WinogradConv *wc, int images, const real *x, real *xt) {
    const int channels = wc->in_c, pixels = wc->in_h * wc->in_w;
    const int full = pixels / VEC_LEN * VEC_LEN;
    for (int n = 0; n < images; n++) {
        const real *src = x + (size_t)n * channels * pixels;
        real *dst = xt + (size_t)n * channels * pixels;
        for (int c0 = 0; c0 < channels; c0 += VEC_LEN) {
            for (int p0 = 0; p0 < full; p0 += VEC_LEN) {
                RealVec r[VEC_LEN];
                for (int i = 0; i < VEC_LEN; i++)
                    r[i] = load_vec(src + (size_t)(c0 + i) * pixels + p0);
                transpose_block(r);
                for (int i = 0; i < VEC_LEN; i++)
                    store_vec(dst + (size_t)(p0 + i) * channels + c0, r[i]);
            }
            for (int p = full; p < pixels; p++)
                for (int i = 0; i < VEC_LEN; i++)
                    dst[(size_t)p * channels + c0 + i] = src[(size_t)(c0 + i) * pixels + p];
        }
    }
}

// y[n][k][p] = clamp(yt[n][p][k] + bias[k] + residual[n][k][p]) for output channels
// [k_begin, k_end) (multiples of VEC_LEN). residual may be y itself: each element is
// read before it is written, by the same thread.
void SIMD_NAME(winograd_to_nchw)(const WinogradConv *wc, int images, const real *yt,
                                 const real *bias, const real *residual, OutputClamp clamp,
                                 int k_begin, int k_end, real *y) {
    const int channels = wc->out_c, pixels = wc->out_h * wc->out_w;
    const int full = pixels / VEC_LEN * VEC_LEN;
    for (int n = 0; n < images; n++) {
        const real *src = yt + (size_t)n * channels * pixels;
        real *dst = y + (size_t)n * channels * pixels;
        const real *res = residual ? residual + (size_t)n * channels * pixels : NULL;
        for (int k0 = k_begin; k0 < k_end; k0 += VEC_LEN) {
            for (int p0 = 0; p0 < full; p0 += VEC_LEN) {
                RealVec r[VEC_LEN];
                for (int i = 0; i < VEC_LEN; i++)
                    r[i] = load_vec(src + (size_t)(p0 + i) * channels + k0);
                transpose_block(r);
                for (int i = 0; i < VEC_LEN; i++) {
                    const size_t at = (size_t)(k0 + i) * pixels + p0;
                    RealVec v = r[i];
                    if (bias) v += bias[k0 + i];
                    if (res) v += load_vec(res + at);
                    v = clamp_vec(clamp, v);
                    store_vec(dst + at, v);
                }
            }
            for (int p = full; p < pixels; p++)
                for (int i = 0; i < VEC_LEN; i++) {
                    const size_t at = (size_t)(k0 + i) * pixels + p;
                    real v = src[(size_t)p * channels + k0 + i];
                    if (bias) v += bias[k0 + i];
                    if (res) v += res[at];
                    dst[at] = clamp_apply(clamp, v);
                }
        }
    }
}

// ---- the tiles ----------------------------------------------------------------------------------

typedef struct {
    int image, ty, tx;
} TilePosition;

static TilePosition tile_position(const WinogradConv *wc, int tile) {
    const int per_row = tiles_x(wc), per_image = per_row * tiles_y(wc);
    return (TilePosition){tile / per_image, tile % per_image / per_row, tile % per_row};
}

// V[xi][slot][c] = (B^T d B)[xi] for the tile, every channel vector; zeros outside the
// image (`inside`: the whole window is in the image, no checks, a constant after inlining).
__attribute__((always_inline)) SIMD_FMA static inline void input_window(
    const WinogradConv *wc, const int m, const real *image, int row0, int col0, const int inside,
    const int block, int slot, real *v) {
    const int a = m + 2, channels = wc->in_c;
    for (int c0 = 0; c0 < channels; c0 += VEC_LEN) {
        RealVec rows[ALPHA_MAX][ALPHA_MAX];
        for (int i = 0; i < a; i++) {
            const int r = row0 + i;
            RealVec d[ALPHA_MAX];
            for (int j = 0; j < a; j++) {
                const int s = col0 + j;
                d[j] = inside || (r >= 0 && r < wc->in_h && s >= 0 && s < wc->in_w)
                           ? load_vec(image + ((size_t)r * wc->in_w + s) * channels + c0)
                           : (RealVec){0};
            }
            input_1d(m, d, rows[i]);  // along the row
        }
        for (int j = 0; j < a; j++) {
            RealVec column[ALPHA_MAX], t[ALPHA_MAX];
            for (int i = 0; i < a; i++) column[i] = rows[i][j];
            input_1d(m, column, t);  // down the column
            for (int i = 0; i < a; i++)
                store_vec(v + (size_t)(i * a + j) * coefficient_stride(block, channels) +
                              (size_t)slot * channels + c0,
                          t[i]);
        }
    }
}

// (block: the slots of the V buffer, TILE_BLOCK or FILTER_BLOCK.)
__attribute__((always_inline)) SIMD_FMA static inline void input_tile(
    const WinogradConv *wc, const int m, const real *xt, TilePosition tp, const int block,
    int slot, real *v) {
    const int a = m + 2;
    const int row0 = tp.ty * m - wc->pad_top, col0 = tp.tx * m - wc->pad_left;
    const real *image = xt + (size_t)tp.image * wc->in_h * wc->in_w * wc->in_c;
    if (row0 >= 0 && col0 >= 0 && row0 + a <= wc->in_h && col0 + a <= wc->in_w)
        input_window(wc, m, image, row0, col0, 1, block, slot, v);
    else
        input_window(wc, m, image, row0, col0, 0, block, slot, v);
}

// The tile's m x m outputs of channels [k_begin, k_end) from M[xi][slot][k] into yt
// (channels-last, valid pixels only), through the epilogue when there is one: + bias,
// + residual (read before the same thread writes the element: it may be yt itself),
// then the clamp, in the order winograd_to_nchw adds them (the same results either way).
// `inside`: all m x m pixels are in the output (no checks, a constant after inlining).
__attribute__((always_inline)) SIMD_FMA static inline void output_window(
    const WinogradConv *wc, const int m, const real *mm, TilePosition tp, int slot, int k_begin,
    int k_end, const WinogradEpilogue *ep, const int inside, real *yt) {
    const int a = m + 2, channels = wc->out_c;
    const size_t image_offset = (size_t)tp.image * wc->out_h * wc->out_w * channels;
    real *image = yt + image_offset;
    const real *residual = ep && ep->residual ? ep->residual + image_offset : NULL;
    const real *bias = ep ? ep->bias : NULL;
    const OutputClamp clamp = ep ? ep->clamp : clamp_none();
    for (int k0 = k_begin; k0 < k_end; k0 += VEC_LEN) {
        RealVec rows[ALPHA_MAX][ALPHA_MAX];
        for (int i = 0; i < a; i++) {
            RealVec v[ALPHA_MAX];
            for (int j = 0; j < a; j++)
                v[j] = load_vec(mm + (size_t)(i * a + j) * coefficient_stride(TILE_BLOCK, channels) +
                                (size_t)slot * channels + k0);
            output_1d(m, v, rows[i]);  // along the row: m values
        }
        // Loaded once per vector of channels: the stores below may alias the bias for
        // all the compiler knows, so it would load it again for every pixel.
        const RealVec bias_k = bias ? load_vec(bias + k0) : (RealVec){0};
        for (int j = 0; j < m; j++) {
            RealVec column[ALPHA_MAX], out[ALPHA_MAX];
            for (int i = 0; i < a; i++) column[i] = rows[i][j];
            output_1d(m, column, out);
            const int col = tp.tx * m + j;
            if (!inside && col >= wc->out_w) continue;
            for (int i = 0; i < m; i++) {
                const int row = tp.ty * m + i;
                if (!inside && row >= wc->out_h) continue;
                const size_t at = ((size_t)row * wc->out_w + col) * channels + k0;
                RealVec v = out[i];
                if (bias) v += bias_k;
                if (residual) v += load_vec(residual + at);
                store_vec(image + at, clamp_vec(clamp, v));
            }
        }
    }
}

__attribute__((always_inline)) SIMD_FMA static inline void output_tile(
    const WinogradConv *wc, const int m, const real *mm, TilePosition tp, int slot, int k_begin,
    int k_end, const WinogradEpilogue *ep, real *yt) {
    if ((tp.ty + 1) * m <= wc->out_h && (tp.tx + 1) * m <= wc->out_w)
        output_window(wc, m, mm, tp, slot, k_begin, k_end, ep, 1, yt);
    else
        output_window(wc, m, mm, tp, slot, k_begin, k_end, ep, 0, yt);
}

// M[xi][t][k] = sum_c V[xi][t][c] U[xi][c][k] for `tiles` tiles from t0 and `kvecs`
// vectors of output channels from k0 (both constants after inlining): tiles x kvecs
// accumulators in registers, one load of U per k vector and one broadcast of V per tile
// for each input channel. u: the first of those vectors' rows (weight_offset); `ahead`
// (or NULL): the next block of weights the products will read, asked for in cache one
// line per load of these (prefetch_weights).
__attribute__((always_inline)) SIMD_FMA static inline void product_block(
    const real *v, const real *u, const real *ahead, int in_c, int out_c, int t0, int k0,
    const int tiles, const int kvecs, real *mm) {
    RealVec acc[PRODUCT_MAX_TILES][PRODUCT_MAX_KVECS];
#pragma GCC unroll 16
    for (int t = 0; t < tiles; t++)
#pragma GCC unroll 4
        for (int kv = 0; kv < kvecs; kv++) acc[t][kv] = (RealVec){0};
    for (int c = 0; c < in_c; c++) {
        RealVec uk[PRODUCT_MAX_KVECS];
#pragma GCC unroll 4
        for (int kv = 0; kv < kvecs; kv++) {
            const size_t at = ((size_t)kv * in_c + c) * VEC_LEN;
            uk[kv] = load_vec(u + at);
            if (ahead) __builtin_prefetch(ahead + at, 0, 3);
        }
#pragma GCC unroll 16
        for (int t = 0; t < tiles; t++) {
            const real vt = v[(size_t)(t0 + t) * in_c + c];  // broadcast by the product
#pragma GCC unroll 4
            for (int kv = 0; kv < kvecs; kv++) acc[t][kv] += vt * uk[kv];
        }
    }
#pragma GCC unroll 16
    for (int t = 0; t < tiles; t++)
#pragma GCC unroll 4
        for (int kv = 0; kv < kvecs; kv++)
            store_vec(mm + (size_t)(t0 + t) * out_c + k0 + kv * VEC_LEN, acc[t][kv]);
}

// Asks for a coefficient's weights (the rows of output channels [k_begin, k_end)) in
// cache: at batch 1 every weight comes from memory once per image, and only the first
// group of tiles of a call reads a coefficient's weights from there (the others find
// them in L1), so without this the loads come in bursts the hardware prefetchers do not
// run ahead of. The first coefficient's are asked for while the input tiles are
// transformed; then each next block of weights the products read (the next output
// channels of the coefficient, after its last the next coefficient's first) during the
// current block's first group of tiles, one line per line of the current one read
// (product_block's `ahead`), so that the requests spread over the products instead of
// filling the miss buffers at once. (A whole coefficient ahead, as before the blocked
// layout, is 1 MiB at 512 channels: asked for long before use, it had left the cache.)
__attribute__((always_inline)) static inline void prefetch_weights(const real *u, int in_c,
                                                                   int k_begin, int k_end) {
    const int line = 64 / (int)sizeof(real);
    const real *first = u + (size_t)k_begin * in_c, *end = u + (size_t)k_end * in_c;
    for (const real *p = first; p < end; p += line) __builtin_prefetch(p, 0, 3);
}

// One group of `size` tiles from t0 (1 <= size <= tiles) against output channels [k0, k0 +
// kvecs vectors): a register block of exactly that many tiles.
#define PRODUCT_SIZED(n)                                                                   \
    case n:                                                                                \
        if (n <= tiles) {                                                                  \
            product_block(v, u, ahead, in_c, out_c, t0, k0, n, kvecs, mm);                 \
            return;                                                                        \
        }                                                                                  \
        break;
__attribute__((always_inline)) SIMD_FMA static inline void product_group(
    const real *v, const real *u, const real *ahead, int in_c, int out_c, int t0, int size,
    const int tiles, const int kvecs, int k0, real *mm) {
    _Static_assert(PRODUCT_MAX_TILES == 16, "the cases below go to 16 tiles");
    switch (size) {
        PRODUCT_SIZED(1) PRODUCT_SIZED(2) PRODUCT_SIZED(3) PRODUCT_SIZED(4)
        PRODUCT_SIZED(5) PRODUCT_SIZED(6) PRODUCT_SIZED(7) PRODUCT_SIZED(8)
        PRODUCT_SIZED(9) PRODUCT_SIZED(10) PRODUCT_SIZED(11) PRODUCT_SIZED(12)
        PRODUCT_SIZED(13) PRODUCT_SIZED(14) PRODUCT_SIZED(15) PRODUCT_SIZED(16)
    }
}
#undef PRODUCT_SIZED

// All `count` tiles of the block against output channels [k0, k0 + kvecs vectors), in
// as few groups of at most `tiles` as there can be, their sizes as even as they can be:
// 16 tiles in blocks of 6 go 6, 5, 5 and 8 go 4, 4 (they went 6, 6, 4 and 6, 2). A small
// group has few accumulators, too few to hide the multiply-add latency (2 tiles x 2
// vectors: 4 chains for two FMA units of 4 cycles' latency), and at batch 1 on 2 threads
// each thread has 8 of the 16 tiles of ResNet-110's second and third stages. Only the
// tiles there are are computed, so the threads' shares stay even (25 vs 24 tiles).
// ResNet-110 at batch 1, one process alternating images between this and the old way:
// median cycles per image 0.1% to 7.2% fewer in six runs on 1 and 2 threads (RESULTS.md).
__attribute__((always_inline)) SIMD_FMA static inline void product_column(
    const real *v, const real *u, const real *ahead, int in_c, int out_c, int count,
    const int tiles, const int kvecs, int k0, real *mm) {
    const int groups = (count + tiles - 1) / tiles;
    for (int group = 0, t0 = 0; group < groups; group++) {
        const int size = count / groups + (group < count % groups);
        // The first group asks for the next block of weights.
        product_group(v, u, group == 0 ? ahead : NULL, in_c, out_c, t0, size, tiles, kvecs, k0, mm);
        t0 += size;
    }
}

// The weights the products read after the block of output channels that ends at `next`
// (prefetch_weights): the coefficient's next channels, after its last the next
// coefficient's first (next_xi, NULL after the last); NULL when not prefetching.
static inline const real *weights_after(const real *u_xi, const real *next_xi, int next,
                                        int k_end, int in_c, int prefetch) {
    if (!prefetch) return NULL;
    return next < k_end ? u_xi + (size_t)next * in_c : next_xi;
}

// The products for the first `count` tiles of the block with register blocks of
// `tiles` x `kvecs`, then single vectors for the channels left. The output channels are
// the outer loop: each block of them reads its rows of a coefficient's weights once, and
// all the tiles meet them in cache. With the tiles outer, every group of tiles read all
// of the coefficient's weights again: 512 x 512 of them at 512 channels, from L3 for
// each group (ResNet-50's last stage at batch 1).
__attribute__((always_inline)) SIMD_FMA static inline void products_with(
    const WinogradConv *wc, const real *v, const real *u, int count, const int tiles,
    const int kvecs, int k_begin, int k_end, int prefetch, real *mm) {
    const int a = alpha_of(wc), in_c = wc->in_c, out_c = wc->out_c;
    for (int xi = 0; xi < a * a; xi++) {
        const real *v_xi = v + (size_t)xi * coefficient_stride(TILE_BLOCK, in_c);
        const real *u_xi = u + (size_t)xi * in_c * out_c;
        real *m_xi = mm + (size_t)xi * coefficient_stride(TILE_BLOCK, out_c);
        const real *next_xi =
            prefetch && xi + 1 < a * a ? u_xi + (size_t)(in_c * out_c + k_begin * in_c) : NULL;
        int k0 = k_begin;
        for (; k0 + kvecs * VEC_LEN <= k_end; k0 += kvecs * VEC_LEN)
            product_column(v_xi, u_xi + (size_t)k0 * in_c,
                           weights_after(u_xi, next_xi, k0 + kvecs * VEC_LEN, k_end, in_c, prefetch),
                           in_c, out_c, count, tiles, kvecs, k0, m_xi);
        for (; k0 < k_end; k0 += VEC_LEN)
            product_column(v_xi, u_xi + (size_t)k0 * in_c,
                           weights_after(u_xi, next_xi, k0 + VEC_LEN, k_end, in_c, prefetch),
                           in_c, out_c, count, tiles, 1, k0, m_xi);
    }
}

// Output channels [k_begin, k_end). The register block by the number of their vectors:
// enough accumulators to hide the FMA latency and as few loads per FMA as the registers
// allow. A block one vector wide needs a broadcast per FMA, so it takes the most tiles
// (the CIFAR nets' 16-channel stage with AVX-512 is such a case). Every product is the
// same sum over c in the same order whatever the block, so results do not depend on it.
SIMD_FMA static void products(const WinogradConv *wc, const real *v, const real *u, int count,
                              int k_begin, int k_end, int prefetch, real *mm) {
    const int kvectors = (k_end - k_begin) / VEC_LEN;
#if VEC_REGISTERS >= 32
    if (kvectors == 1)
        products_with(wc, v, u, count, 16, 1, k_begin, k_end, prefetch, mm);
    else if (kvectors == 2)
        products_with(wc, v, u, count, 8, 2, k_begin, k_end, prefetch, mm);
    else if (kvectors % 4 == 0)
        products_with(wc, v, u, count, 4, 4, k_begin, k_end, prefetch, mm);
    else
        products_with(wc, v, u, count, 8, 3, k_begin, k_end, prefetch, mm);
#else
    // 12 accumulators of the 16 registers (with the weights' vectors and a broadcast):
    // two FMA units of 4 cycles' latency need 8 independent ones, and more hide the loads.
    if (kvectors == 1)
        products_with(wc, v, u, count, 12, 1, k_begin, k_end, prefetch, mm);
    else
        products_with(wc, v, u, count, 6, 2, k_begin, k_end, prefetch, mm);
#endif
}

__attribute__((always_inline)) SIMD_FMA static inline void tiles_with(
    const WinogradConv *wc, const int m, const real *xt, const real *u, int tile_begin,
    int tile_end, int k_begin, int k_end, const WinogradEpilogue *ep, real *scratch, real *yt) {
    const int a = m + 2;
    const size_t v_size = (size_t)a * a * coefficient_stride(TILE_BLOCK, wc->in_c);
    real *v = scratch, *mm = scratch + v_size;
    for (int t0 = tile_begin; t0 < tile_end; t0 += TILE_BLOCK) {
        const int count = tile_end - t0 < TILE_BLOCK ? tile_end - t0 : TILE_BLOCK;
        // The first coefficient's weights arrive while the first input tiles are transformed.
        if (t0 == tile_begin) prefetch_weights(u, wc->in_c, k_begin, k_end);
        for (int slot = 0; slot < count; slot++)
            input_tile(wc, m, xt, tile_position(wc, t0 + slot), TILE_BLOCK, slot, v);
        // The first block reads the weights from memory (the next blocks find them in cache).
        products(wc, v, u, count, k_begin, k_end, t0 == tile_begin, mm);
        for (int slot = 0; slot < count; slot++)
            output_tile(wc, m, mm, tile_position(wc, t0 + slot), slot, k_begin, k_end, ep, yt);
    }
}

// Output channels [k_begin, k_end) of tiles [tile_begin, tile_end) of the images in xt
// (channels-last) into yt, through the epilogue ep (may be NULL).
SIMD_FMA void SIMD_NAME(winograd_tiles)(const WinogradConv *wc, const real *xt, const real *u,
                                        int tile_begin, int tile_end, int k_begin, int k_end,
                                        const WinogradEpilogue *ep, real *scratch, real *yt) {
    if (wc->m == 2)
        tiles_with(wc, 2, xt, u, tile_begin, tile_end, k_begin, k_end, ep, scratch, yt);
    else
        tiles_with(wc, 4, xt, u, tile_begin, tile_end, k_begin, k_end, ep, scratch, yt);
}

// ---- the filter gradient -----------------------------------------------------------------------
//
// With Y = A^T [U . V] A per tile and U = G g G^T, the gradient of the weights is
//   dg = G^T [ sum over tiles of (A dY A^T) . V ] G,
// so the same input tiles V meet the output gradient's tiles Z = A dY A^T (dY of the
// tile, zero beyond the output) in alpha^2 sums over tiles,
//   dU[xi][c][k] = sum_t V[xi][t][c] Z[xi][t][k],
// and one final transform per (k, c) gives the 3x3 gradient.

// z = A d over m inputs: alpha outputs.
__attribute__((always_inline)) static inline void gradient_1d(const int m, const RealVec *d,
                                                             RealVec *z) {
    if (m == 2) {
        z[0] = d[0];
        z[1] = d[0] + d[1];
        z[2] = d[0] - d[1];
        z[3] = -d[1];
    } else {
        const RealVec p = d[0] + d[2], q = d[1] + d[3];
        const RealVec r = d[0] + 4 * d[2], s = 2 * d[1] + 8 * d[3];
        z[0] = d[0];
        z[1] = p + q;
        z[2] = p - q;
        z[3] = r + s;
        z[4] = r - s;
        z[5] = d[3];
    }
}

static int filter_block(const WinogradConv *wc) {
    return wc->in_c * wc->out_c >= 2048 ? FILTER_BLOCK : TILE_BLOCK;
}

// Z[xi][slot][k] = (A dY A^T)[xi] for the tile (dyt channels-last, out_c channels).
__attribute__((always_inline)) SIMD_FMA static inline void gradient_tile(
    const WinogradConv *wc, const int m, const real *dyt, TilePosition tp, int block, int slot,
    real *z) {
    const int a = m + 2, channels = wc->out_c;
    const real *image = dyt + (size_t)tp.image * wc->out_h * wc->out_w * channels;
    for (int k0 = 0; k0 < channels; k0 += VEC_LEN) {
        RealVec rows[ALPHA_MAX][ALPHA_MAX];
        for (int i = 0; i < m; i++) {
            const int r = tp.ty * m + i;
            RealVec d[ALPHA_MAX];
            for (int j = 0; j < m; j++) {
                const int s = tp.tx * m + j;
                d[j] = r < wc->out_h && s < wc->out_w
                           ? load_vec(image + ((size_t)r * wc->out_w + s) * channels + k0)
                           : (RealVec){0};
            }
            gradient_1d(m, d, rows[i]);  // along the row
        }
        for (int j = 0; j < a; j++) {
            RealVec column[ALPHA_MAX], t[ALPHA_MAX];
            for (int i = 0; i < m; i++) column[i] = rows[i][j];
            gradient_1d(m, column, t);  // down the column
            for (int i = 0; i < a; i++)
                store_vec(z + (size_t)(i * a + j) * coefficient_stride(block, channels) +
                              (size_t)slot * channels + k0,
                          t[i]);
        }
    }
}

// Input channels per register block of the dU sums (in_c is a multiple of the lanes).
#define DU_ROWS (GEMM_TILES < VEC_LANES ? GEMM_TILES : VEC_LANES)

// dU[xi][c][k] += sum over the first `count` slots of V[xi][slot][c] Z[xi][slot][k] for
// DU_ROWS channels from c0 and `kvecs` vectors of k from k0 (kvecs a constant).
__attribute__((always_inline)) SIMD_FMA static inline void du_block(
    const real *v, const real *z, int count, int in_c, int out_c, int c0, int k0, const int kvecs,
    real *du) {
    RealVec acc[DU_ROWS][GEMM_KVECS];
    for (int ci = 0; ci < DU_ROWS; ci++)
        for (int kv = 0; kv < kvecs; kv++)
            acc[ci][kv] = load_vec(du + (size_t)(c0 + ci) * out_c + k0 + kv * VEC_LEN);
    for (int slot = 0; slot < count; slot++) {
        RealVec zk[GEMM_KVECS];
        for (int kv = 0; kv < kvecs; kv++)
            zk[kv] = load_vec(z + (size_t)slot * out_c + k0 + kv * VEC_LEN);
        for (int ci = 0; ci < DU_ROWS; ci++) {
            const real vc = v[(size_t)slot * in_c + c0 + ci];  // broadcast by the product
            for (int kv = 0; kv < kvecs; kv++) acc[ci][kv] += vc * zk[kv];
        }
    }
    for (int ci = 0; ci < DU_ROWS; ci++)
        for (int kv = 0; kv < kvecs; kv++)
            store_vec(du + (size_t)(c0 + ci) * out_c + k0 + kv * VEC_LEN, acc[ci][kv]);
}

SIMD_FMA static void du_sums(const WinogradConv *wc, const real *v, const real *z, int block,
                             int count, real *du) {
    const int a = alpha_of(wc), in_c = wc->in_c, out_c = wc->out_c;
    for (int xi = 0; xi < a * a; xi++) {
        const real *v_xi = v + (size_t)xi * coefficient_stride(block, in_c);
        const real *z_xi = z + (size_t)xi * coefficient_stride(block, out_c);
        real *du_xi = du + (size_t)xi * in_c * out_c;
        for (int c0 = 0; c0 < in_c; c0 += DU_ROWS) {
            int k0 = 0;
            for (; k0 + GEMM_KVECS * VEC_LEN <= out_c; k0 += GEMM_KVECS * VEC_LEN)
                du_block(v_xi, z_xi, count, in_c, out_c, c0, k0, GEMM_KVECS, du_xi);
            for (; k0 < out_c; k0 += VEC_LEN) du_block(v_xi, z_xi, count, in_c, out_c, c0, k0, 1, du_xi);
        }
    }
}

__attribute__((always_inline)) SIMD_FMA static inline void filter_tiles_with(
    const WinogradConv *wc, const int m, const real *xt, const real *dyt, int tile_begin,
    int tile_end, real *scratch, real *du) {
    const int a = m + 2;
    const int block = filter_block(wc);
    real *v = scratch, *z = scratch + (size_t)a * a * coefficient_stride(block, wc->in_c);
    for (int t0 = tile_begin; t0 < tile_end; t0 += block) {
        const int count = tile_end - t0 < block ? tile_end - t0 : block;
        for (int slot = 0; slot < count; slot++) {
            const TilePosition tp = tile_position(wc, t0 + slot);
            input_tile(wc, m, xt, tp, block, slot, v);
            gradient_tile(wc, m, dyt, tp, block, slot, z);
        }
        du_sums(wc, v, z, block, count, du);
    }
}

// du (alpha^2 x in_c x out_c, already holding a partial sum) += the tiles
// [tile_begin, tile_end) of the images in xt and dyt (channels-last).
SIMD_FMA void SIMD_NAME(winograd_filter_tiles)(const WinogradConv *wc, const real *xt,
                                               const real *dyt, int tile_begin, int tile_end,
                                               real *scratch, real *du) {
    if (wc->m == 2)
        filter_tiles_with(wc, 2, xt, dyt, tile_begin, tile_end, scratch, du);
    else
        filter_tiles_with(wc, 4, xt, dyt, tile_begin, tile_end, scratch, du);
}

// g = G^T u over alpha inputs: the 3 taps.
__attribute__((always_inline)) static inline void filter_1d(const int m, const RealVec *u,
                                                           RealVec *g) {
    if (m == 2) {
        const RealVec half_sum = (u[1] + u[2]) * (real)0.5;
        g[0] = u[0] + half_sum;
        g[1] = (u[1] - u[2]) * (real)0.5;
        g[2] = half_sum + u[3];
    } else {
        const RealVec s12 = u[1] + u[2], d12 = u[2] - u[1], s34 = u[3] + u[4], d34 = u[3] - u[4];
        g[0] = u[0] * (real)0.25 - s12 * (real)(1.0 / 6) + s34 * (real)(1.0 / 24);
        g[1] = d12 * (real)(1.0 / 6) + d34 * (real)(1.0 / 12);
        g[2] = (s34 - s12) * (real)(1.0 / 6) + u[5];
    }
}

// dw[k][c][3][3] = G^T dU[.][c][k] G, vectors of output channels k at a time.
__attribute__((always_inline)) static inline void finish_with(const WinogradConv *wc,
                                                             const int m, const real *du,
                                                             real *dw) {
    const int a = m + 2, in_c = wc->in_c, out_c = wc->out_c;
    for (int c = 0; c < in_c; c++)
        for (int k0 = 0; k0 < out_c; k0 += VEC_LEN) {
            RealVec rows[ALPHA_MAX][3];
            for (int i = 0; i < a; i++) {
                RealVec u[ALPHA_MAX];
                for (int j = 0; j < a; j++)
                    u[j] = load_vec(du + ((size_t)(i * a + j) * in_c + c) * out_c + k0);
                filter_1d(m, u, rows[i]);  // along each row of dU: 3 columns
            }
            for (int kj = 0; kj < 3; kj++) {
                RealVec column[ALPHA_MAX], taps[3];
                for (int i = 0; i < a; i++) column[i] = rows[i][kj];
                filter_1d(m, column, taps);  // down the column: 3 rows
                for (int ki = 0; ki < 3; ki++)
                    for (int lane = 0; lane < VEC_LEN; lane++)
                        dw[(((size_t)(k0 + lane) * in_c + c) * 3 + ki) * 3 + kj] = taps[ki][lane];
            }
        }
}

void SIMD_NAME(winograd_filter_finish)(const WinogradConv *wc, const real *du, real *dw) {
    if (wc->m == 2)
        finish_with(wc, 2, du, dw);
    else
        finish_with(wc, 4, du, dw);
}
