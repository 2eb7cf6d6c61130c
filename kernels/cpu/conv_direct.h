// Direct stride-1 convolution of one image on a zero-padded copy of the input,
// without im2col and without a BLAS call (conv_direct.c). Used by conv.c for the
// forward pass and, with flipped and transposed weights, for the backward data
// pass of every stride-1 convolution.
#ifndef SD_CONV_DIRECT_H
#define SD_CONV_DIRECT_H

#include <stddef.h>

#include "../../common/real.h"

// A stride-1 correlation y[o][i][j] = sum_{c,ki,kj} w[o][c][ki][kj] * x[c][i+ki-pad_top][j+kj-pad_left]
// (x is zero outside its in_h x in_w plane; a negative pad crops).
typedef struct {
    int in_c, in_h, in_w;
    int out_c, out_h, out_w;
    int kernel_h, kernel_w;
    int pad_top, pad_left;
} DirectConv;

// Reals of per-thread scratch one call of direct_conv_image needs.
size_t direct_conv_scratch_size(const DirectConv *d);

// One image: x [in_c][in_h][in_w], w [out_c][in_c][kernel_h][kernel_w] -> y [out_c][out_h][out_w],
// then + bias[o] (bias may be NULL) and ReLU when fuse_relu. Every output is summed in the
// same fixed order (c, ki, kj), so results do not depend on threads or scheduling.
void direct_conv_image(const DirectConv *d, const real *x, const real *w, const real *bias,
                       int fuse_relu, real *scratch, real *y);

// Reals of per-thread scratch one call of direct_filter_grad_images needs.
size_t direct_filter_grad_scratch_size(const DirectConv *d, int images);

// The filter gradient of `images` images (x[m] [in_c][in_h][in_w], dy[m] [out_c][out_h][out_w]):
//   dw[o][c][ki][kj] (+)= sum_m sum_{i,j} dy[m][o][i][j] * x[m][c][i+ki-pad_top][j+kj-pad_left]
// overwriting dw when `overwrite`, else adding to it. Each element is summed in a fixed
// order (per vector lane over the stacked positions, then the lanes left to right).
void direct_filter_grad_images(const DirectConv *d, int images, const real *const *x,
                               const real *const *dy, int overwrite, real *scratch, real *dw);

#endif
