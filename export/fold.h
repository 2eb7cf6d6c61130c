// The stochastic-depth branch scale p_l (paper eq. 5) applied to a batch norm that
// stays a node of the exported graph. Folding a BN into the convolution before it
// (with p_l) is common/bn_fold.h, shared with sdinfer's planner.
#ifndef SD_FOLD_H
#define SD_FOLD_H

#include "common/bn_fold.h"

// Keeps the BN but scales its output: gamma' = scale gamma, beta' = scale beta
// (the branch scale p_l when the BN is exported as a BatchNormalization node).
void scale_bn(const BatchNormParams *bn, int channels, double scale, float *gamma_out,
              float *beta_out);

#endif
