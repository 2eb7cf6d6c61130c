// The CPU backend's vector kernels, one table per instruction set.
//
// The sources in kernels/cpu/simd/ are compiled once per instruction set (the
// Makefile's SIMD_ISAS: on x86-64 "portable" (SSE2, any x86-64), "avx2" (AVX2 +
// FMA, x86-64-v3) and "avx512" (x86-64-v4, 512-bit vectors); elsewhere only
// "portable", which is plain C with GCC vector types, NEON on aarch64). Each build
// fills one CpuKernels table; the backend picks one when it is created
// (cpu_kernels_choose) and every convolution goes through it. The rest of the
// project is compiled for the baseline only, so the generic build runs on any
// x86-64, and a CPU with AVX-512 still gets its 512-bit kernels.
#ifndef SD_CPU_KERNELS_H
#define SD_CPU_KERNELS_H

#include <stddef.h>

#include "../../common/real.h"
#include "../backend.h"  // OutputClamp

// A stride-1 correlation y[o][i][j] = sum_{c,ki,kj} w[o][c][ki][kj] * x[c][i+ki-pad_top][j+kj-pad_left]
// (x is zero outside its in_h x in_w plane; a negative pad crops).
typedef struct {
    int in_c, in_h, in_w;
    int out_c, out_h, out_w;
    int kernel_h, kernel_w;
    int pad_top, pad_left;
} DirectConv;

// A stride-1 3x3 convolution computed as Winograd F(m x m, 3 x 3) (simd/conv_winograd.c).
// Channel counts are multiples of the kernels' vector length.
typedef struct {
    int m;  // output tile side: 2 = F(2x2, 3x3), 4 = F(4x4, 3x3)
    int in_c, in_h, in_w;
    int out_c, out_h, out_w;
    int pad_top, pad_left;
} WinogradConv;

// What winograd_tiles adds to each output before storing it: y = clamp(conv + bias[k] +
// residual). bias and residual may be NULL; residual is channels-last like the output
// ([images][out_h * out_w][out_c], indexed as the output) and may be the output itself.
typedef struct {
    const real *bias;
    const real *residual;
    OutputClamp clamp;
} WinogradEpilogue;

static inline int winograd_tiles_per_image(const WinogradConv *wc) {
    return ((wc->out_h + wc->m - 1) / wc->m) * ((wc->out_w + wc->m - 1) / wc->m);
}

// One plane of a depthwise convolution (a group of one input channel), any stride,
// padding and dilation:
//   y[i][j] = bias + sum_{ki,kj} w[ki][kj] * x[i*stride_h - pad_top + ki*dilation_h]
//                                              [j*stride_w - pad_left + kj*dilation_w]
// (x zero outside its in_h x in_w plane).
typedef struct {
    int in_h, in_w;
    int out_h, out_w;
    int kernel_h, kernel_w;
    int stride_h, stride_w;
    int pad_top, pad_left;
    int dilation_h, dilation_w;
} DepthwiseConv;

// A product C[m x n] = A[m x k] B[k x n], row-major with these leading dimensions
// (ldr: the residual's).
typedef struct {
    int m, n, k;
    int lda, ldb, ldc, ldr;
} GemmShape;
// Reals of the scratch a conv_gemm call packs slices of B into (one per calling thread).
#define CONV_GEMM_PACK_SIZE ((size_t)256 * (256 + 16))

typedef struct {
    const char *isa;    // "portable", "avx2", "avx512"
    int vector_bytes;   // width of the vectors the kernels compute on

    // ---- direct stride-1 convolution (simd/conv_direct.c) ----
    // Reals of scratch for one padded image (direct_conv_pad's output).
    size_t (*direct_conv_scratch_size)(const DirectConv *d);
    // Copies image x [in_c][in_h][in_w] into its zero-padded layout in xpad.
    void (*direct_conv_pad)(const DirectConv *d, const real *x, real *xpad);
    // The number of position tiles of one image: the unit of work direct_conv_tiles splits.
    int (*direct_conv_tile_count)(const DirectConv *d);
    // Output channels [o_begin, o_end) of tiles [tile_begin, tile_end) of
    // y [out_c][out_h][out_w] from the padded image, w [out_c][in_c][kernel_h][kernel_w],
    // then + bias[o] (may be NULL) and the clamp. Every output is summed in the
    // same fixed order (c, ki, kj), so results do not depend on how tiles and channels
    // are split between threads.
    // y = clamp(conv + bias[o] + residual): bias and residual may be NULL; residual
    // [out_c][out_h][out_w] may be y itself.
    void (*direct_conv_tiles)(const DirectConv *d, const real *xpad, const real *w,
                              const real *bias, const real *residual, OutputClamp clamp,
                              int tile_begin, int tile_end, int o_begin, int o_end, real *y);
    // Reals of scratch one call of direct_filter_grad_images needs.
    size_t (*direct_filter_grad_scratch_size)(const DirectConv *d, int images);
    // The filter gradient of `images` images (x[m] [in_c][in_h][in_w], dy[m] [out_c][out_h][out_w]):
    //   dw[o][c][ki][kj] (+)= sum_m sum_{i,j} dy[m][o][i][j] * x[m][c][i+ki-pad_top][j+kj-pad_left]
    // overwriting dw when `overwrite`, else adding to it, in a fixed summation order.
    void (*direct_filter_grad_images)(const DirectConv *d, int images, const real *const *x,
                                      const real *const *dy, int overwrite, real *scratch,
                                      real *dw);

    // ---- Winograd F(m x m, 3 x 3) (simd/conv_winograd.c) ----
    size_t (*winograd_weights_size)(const WinogradConv *wc);  // reals of U
    // U = G g G^T for every (out, in) channel pair of w [out_c][in_c][3][3].
    void (*winograd_weights)(const WinogradConv *wc, const real *w, real *u);
    // Reals of per-thread scratch for winograd_tiles (the transformed tile blocks).
    size_t (*winograd_block_scratch_size)(const WinogradConv *wc);
    // x [images][in_c][in_h][in_w] -> xt [images][in_h * in_w][in_c].
    void (*winograd_to_nhwc)(const WinogradConv *wc, int images, const real *x, real *xt);
    // Output channels [k_begin, k_end) (multiples of the vector length) of the output
    // tiles [tile_begin, tile_end) (numbered over the images of xt, row by row) into yt
    // [images][out_h * out_w][out_c]. Every tile's input transform is computed whatever
    // the channel range (each output channel needs all of it), so threads that split the
    // output channels each repeat it; each value is computed the same way for any range.
    // ep: the epilogue applied on the way out, or NULL (the plain convolution).
    void (*winograd_tiles)(const WinogradConv *wc, const real *xt, const real *u, int tile_begin,
                           int tile_end, int k_begin, int k_end, const WinogradEpilogue *ep,
                           real *scratch, real *yt);
    // y [images][out_c][out_h][out_w] channels [k_begin, k_end) (multiples of the vector
    // length) = clamp(yt + bias[k] + residual); bias, residual may be NULL; residual may be y.
    void (*winograd_to_nchw)(const WinogradConv *wc, int images, const real *yt,
                             const real *bias, const real *residual, OutputClamp clamp, int k_begin,
                             int k_end, real *y);
    // The filter gradient: du [alpha^2][in_c][out_c] += the sums of tiles [tile_begin,
    // tile_end) of xt (winograd_to_nhwc of x) and dyt (the same of dy, out_c channels).
    void (*winograd_filter_tiles)(const WinogradConv *wc, const real *xt, const real *dyt,
                                  int tile_begin, int tile_end, real *scratch, real *du);
    // dw [out_c][in_c][3][3] = G^T du G.
    void (*winograd_filter_finish)(const WinogradConv *wc, const real *du, real *dw);

    // ---- matrix product of the pointwise and im2col convolutions (simd/gemm.c) ----
    // c = clamp(a b + bias[row] + residual): bias and residual may be NULL; residual may
    // be c. Each output is summed over k in order, whatever the shape of the call.
    // pack: CONV_GEMM_PACK_SIZE reals of scratch, the calling thread's own.
    void (*conv_gemm)(const GemmShape *s, const real *a, const real *b, const real *bias,
                      const real *residual, OutputClamp clamp, real *c, real *pack);
    // ---- matrix-vector product of the fully connected layer at batch 1 (simd/gemv.c) ----
    // y[r] = bias[r] + sum_k a[r][k] x[k] for r < rows, a row-major (lda); bias may be NULL.
    void (*gemv)(int rows, int cols, const real *a, int lda, const real *x, const real *bias,
                 real *y);

    // ---- depthwise convolution (simd/conv_depthwise.c) ----
    // Reals of per-thread scratch one depthwise_plane call needs.
    size_t (*depthwise_scratch_size)(const DepthwiseConv *d);
    // One output plane y [out_h][out_w] from one input plane x [in_h][in_w] and its
    // kernel w [kernel_h][kernel_w]: clamp(bias + the taps in the order (ki, kj)
    // + residual), residual [out_h][out_w] or NULL, on the way out of the registers.
    void (*depthwise_plane)(const DepthwiseConv *d, const real *x, const real *w, real bias,
                            const real *residual, OutputClamp clamp, real *scratch, real *y);
    // The same for vector_bytes / sizeof(real) channels at once (a channel multiplier of
    // 1): x, y and residual (or NULL) their consecutive planes, w their kernels, bias
    // (or NULL) their biases. The same sums in the same order as depthwise_plane.
    size_t (*depthwise_block_scratch_size)(const DepthwiseConv *d);
    void (*depthwise_block)(const DepthwiseConv *d, const real *x, const real *w,
                            const real *bias, const real *residual, OutputClamp clamp,
                            real *scratch, real *y);

    // ---- batch-norm sums (simd/batchnorm_sums.c), double accumulators ----
    // Over `planes` runs of `spatial` values plane_stride apart (one channel's planes):
    // sum (x - shift) and sum (x - shift)^2.
    void (*channel_sums)(const real *x, int planes, size_t plane_stride, int spatial,
                         double shift, double *sum, double *sum_sq);
    // sum dy and sum dy * (x - mean).
    void (*channel_dot_sums)(const real *x, const real *dy, int planes, size_t plane_stride,
                             int spatial, double mean, double *sum_dy, double *sum_dy_centred);

    // ---- element-wise activations (simd/activation.c) ----
    // y[i] = op(x[i]) for i < count (Backend.activation_forward's ops); y may be x.
    void (*activation)(ActivationOp op, size_t count, real alpha, real beta, const real *x,
                       real *y);
} CpuKernels;

extern const CpuKernels cpu_kernels_portable;
#if defined(__x86_64__)
extern const CpuKernels cpu_kernels_avx2;
extern const CpuKernels cpu_kernels_avx512;
#endif

// The kernels for `wanted` ("portable", "avx2", "avx512"), or, when wanted is NULL or
// "", the widest this CPU runs. NULL with a message when the CPU lacks the
// instructions or the name is unknown.
const CpuKernels *cpu_kernels_choose(const char *wanted, char *err, size_t err_len);

// The names of the kernel sets this CPU can run, widest last (for tests).
int cpu_kernels_available(const CpuKernels **sets, int max_sets);

#endif
