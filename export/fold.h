// Folding inference-mode batch normalisation (and the stochastic-depth branch
// scale p_l of paper eq. 5) into constants, in double precision.
//
// BN at test time is an affine map per channel c:
//     bn(z)_c = gamma_c (z_c - mean_c) / sqrt(var_c + eps) + beta_c = factor_c z_c + shift_c,
//     factor_c = gamma_c / sqrt(var_c + eps),  shift_c = beta_c - mean_c factor_c.
// After a bias-free convolution z = w * x it becomes one convolution with
//     w'_c = scale * factor_c * w_c,   b'_c = scale * shift_c,
// where scale is p_l for the last unit of a residual branch (p_l f(x) is linear in
// the last BN's output) and 1 everywhere else.
#ifndef SD_FOLD_H
#define SD_FOLD_H

#include <stddef.h>

#include "common/real.h"

typedef struct {
    const real *gamma, *beta, *mean, *var;  // per output channel
    double eps;
} BatchNormParams;

// weight: [out_channels][weights_per_channel]; writes the folded weight and bias.
void fold_conv_bn(const real *weight, int out_channels, size_t weights_per_channel,
                  const BatchNormParams *bn, double scale, float *weight_out, float *bias_out);

// Keeps the BN but scales its output: gamma' = scale gamma, beta' = scale beta
// (the branch scale p_l when the BN is exported as a BatchNormalization node).
void scale_bn(const BatchNormParams *bn, int channels, double scale, float *gamma_out,
              float *beta_out);

#endif
