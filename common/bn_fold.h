// Folding inference-mode batch normalisation into the convolution before it, in
// double precision: the one implementation sdexport (export/export_resnet.c: BN and
// the stochastic-depth branch scale p_l) and sdinfer's planner (infer/plan_fusion.c:
// a BatchNormalization node after a Conv) both call.
//
// BN at test time is an affine map per output channel c:
//     bn(z)_c = gamma_c (z_c - mean_c) / sqrt(var_c + eps) + beta_c,
//     factor_c = gamma_c / sqrt(var_c + eps).
// After a convolution z = w * x + b it becomes one convolution with
//     w'_c = scale factor_c w_c,   b'_c = scale ((b_c - mean_c) factor_c + beta_c),
// where scale is p_l for the last unit of a residual branch (p_l f(x) is linear in
// the last BN's output) and 1 everywhere else.
#ifndef SD_BN_FOLD_H
#define SD_BN_FOLD_H

#include <stddef.h>

#include "real.h"

typedef struct {
    const real *gamma, *beta, *mean, *var;  // per output channel
    double eps;
} BatchNormParams;

// weight: [out_channels][weights_per_channel]; bias: [out_channels], or NULL for a
// convolution without one (b = 0). Writes the folded weight and bias (float: what
// ONNX files and the plan's constants hold).
void bn_fold_into_conv(const real *weight, const real *bias, int out_channels,
                       size_t weights_per_channel, const BatchNormParams *bn, double scale,
                       float *weight_out, float *bias_out);

#endif
