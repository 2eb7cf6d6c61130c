// This build's entry in the CPU backend's kernel tables (cpu_kernels.h).
#include "simd.h"

size_t SIMD_NAME(direct_conv_scratch_size)(const DirectConv *d);
void SIMD_NAME(direct_conv_pad)(const DirectConv *d, const real *x, real *xpad);
int SIMD_NAME(direct_conv_tile_count)(const DirectConv *d);
void SIMD_NAME(direct_conv_tiles)(const DirectConv *d, const real *xpad, const real *w,
                                  const real *bias, const real *residual, OutputClamp clamp,
                                  int tile_begin, int tile_end, int o_begin, int o_end, real *y);
size_t SIMD_NAME(direct_filter_grad_scratch_size)(const DirectConv *d, int images);
void SIMD_NAME(direct_filter_grad_images)(const DirectConv *d, int images, const real *const *x,
                                          const real *const *dy, int overwrite, real *scratch,
                                          real *dw);
size_t SIMD_NAME(winograd_weights_size)(const WinogradConv *wc);
void SIMD_NAME(winograd_weights)(const WinogradConv *wc, const real *w, real *u);
size_t SIMD_NAME(winograd_block_scratch_size)(const WinogradConv *wc);
void SIMD_NAME(winograd_to_nhwc)(const WinogradConv *wc, int images, const real *x, real *xt);
void SIMD_NAME(winograd_tiles)(const WinogradConv *wc, const real *xt, const real *u,
                              int tile_begin, int tile_end, int k_begin, int k_end,
                              const WinogradEpilogue *ep, real *scratch, real *yt);
void SIMD_NAME(winograd_to_nchw)(const WinogradConv *wc, int images, const real *yt,
                                 const real *bias, const real *residual, OutputClamp clamp,
                                 int k_begin, int k_end, real *y);

void SIMD_NAME(winograd_filter_tiles)(const WinogradConv *wc, const real *xt, const real *dyt,
                                      int tile_begin, int tile_end, real *scratch, real *du);
void SIMD_NAME(winograd_filter_finish)(const WinogradConv *wc, const real *du, real *dw);
void SIMD_NAME(conv_gemm)(const GemmShape *s, const real *a, const real *b, const real *bias,
                          const real *residual, OutputClamp clamp, real *c, real *pack);
void SIMD_NAME(gemv)(int rows, int cols, const real *a, int lda, const real *x, const real *bias,
                     real *y);
size_t SIMD_NAME(depthwise_scratch_size)(const DepthwiseConv *d);
void SIMD_NAME(depthwise_plane)(const DepthwiseConv *d, const real *x, const real *w, real bias,
                                const real *residual, OutputClamp clamp, real *scratch, real *y);
size_t SIMD_NAME(depthwise_block_scratch_size)(const DepthwiseConv *d);
void SIMD_NAME(depthwise_block)(const DepthwiseConv *d, const real *x, const real *w,
                                const real *bias, const real *residual, OutputClamp clamp,
                                real *scratch, real *y);
void SIMD_NAME(channel_sums)(const real *x, int planes, size_t plane_stride, int spatial,
                             double shift, double *sum, double *sum_sq);
void SIMD_NAME(channel_dot_sums)(const real *x, const real *dy, int planes, size_t plane_stride,
                                 int spatial, double mean, double *sum_dy,
                                 double *sum_dy_centred);

void SIMD_NAME(activation)(ActivationOp op, size_t count, real alpha, real beta, const real *x,
                           real *y);

const CpuKernels SIMD_NAME(cpu_kernels) = {
    .isa = SIMD_ISA,
    .vector_bytes = VEC_BYTES,
    .direct_conv_scratch_size = SIMD_NAME(direct_conv_scratch_size),
    .direct_conv_pad = SIMD_NAME(direct_conv_pad),
    .direct_conv_tile_count = SIMD_NAME(direct_conv_tile_count),
    .direct_conv_tiles = SIMD_NAME(direct_conv_tiles),
    .direct_filter_grad_scratch_size = SIMD_NAME(direct_filter_grad_scratch_size),
    .direct_filter_grad_images = SIMD_NAME(direct_filter_grad_images),
    .winograd_weights_size = SIMD_NAME(winograd_weights_size),
    .winograd_weights = SIMD_NAME(winograd_weights),
    .winograd_block_scratch_size = SIMD_NAME(winograd_block_scratch_size),
    .winograd_to_nhwc = SIMD_NAME(winograd_to_nhwc),
    .winograd_tiles = SIMD_NAME(winograd_tiles),
    .winograd_to_nchw = SIMD_NAME(winograd_to_nchw),
    .winograd_filter_tiles = SIMD_NAME(winograd_filter_tiles),
    .winograd_filter_finish = SIMD_NAME(winograd_filter_finish),
    .conv_gemm = SIMD_NAME(conv_gemm),
    .gemv = SIMD_NAME(gemv),
    .depthwise_scratch_size = SIMD_NAME(depthwise_scratch_size),
    .depthwise_plane = SIMD_NAME(depthwise_plane),
    .depthwise_block_scratch_size = SIMD_NAME(depthwise_block_scratch_size),
    .depthwise_block = SIMD_NAME(depthwise_block),
    .channel_sums = SIMD_NAME(channel_sums),
    .channel_dot_sums = SIMD_NAME(channel_dot_sums),
    .activation = SIMD_NAME(activation),
};
