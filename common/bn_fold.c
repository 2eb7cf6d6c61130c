#include "bn_fold.h"

#include <math.h>

void bn_fold_into_conv(const real *weight, const real *bias, int out_channels,
                       size_t weights_per_channel, const BatchNormParams *bn, double scale,
                       float *weight_out, float *bias_out) {
    for (int c = 0; c < out_channels; c++) {
        double factor = (double)bn->gamma[c] / sqrt((double)bn->var[c] + bn->eps);
        double old_bias = bias ? (double)bias[c] : 0.0;
        // Without a bias, (0 - mean) factor + beta equals beta - mean factor exactly
        // (IEEE a - b is a + (-b)), up to the sign of a zero.
        double shift = (old_bias - (double)bn->mean[c]) * factor + (double)bn->beta[c];
        const real *w = weight + (size_t)c * weights_per_channel;
        float *w_out = weight_out + (size_t)c * weights_per_channel;
        for (size_t i = 0; i < weights_per_channel; i++)
            w_out[i] = (float)(scale * factor * (double)w[i]);
        bias_out[c] = (float)(scale * shift);
    }
}
