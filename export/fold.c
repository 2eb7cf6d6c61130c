#include "fold.h"

#include <math.h>

void fold_conv_bn(const real *weight, int out_channels, size_t weights_per_channel,
                  const BatchNormParams *bn, double scale, float *weight_out, float *bias_out) {
    for (int c = 0; c < out_channels; c++) {
        double factor = (double)bn->gamma[c] / sqrt((double)bn->var[c] + bn->eps);
        double shift = (double)bn->beta[c] - (double)bn->mean[c] * factor;
        const real *w = weight + (size_t)c * weights_per_channel;
        float *w_out = weight_out + (size_t)c * weights_per_channel;
        for (size_t i = 0; i < weights_per_channel; i++)
            w_out[i] = (float)(scale * factor * (double)w[i]);
        bias_out[c] = (float)(scale * shift);
    }
}

void scale_bn(const BatchNormParams *bn, int channels, double scale, float *gamma_out,
              float *beta_out) {
    for (int c = 0; c < channels; c++) {
        gamma_out[c] = (float)(scale * (double)bn->gamma[c]);
        beta_out[c] = (float)(scale * (double)bn->beta[c]);
    }
}
