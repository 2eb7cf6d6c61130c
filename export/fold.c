#include "fold.h"

void scale_bn(const BatchNormParams *bn, int channels, double scale, float *gamma_out,
              float *beta_out) {
    for (int c = 0; c < channels; c++) {
        gamma_out[c] = (float)(scale * (double)bn->gamma[c]);
        beta_out[c] = (float)(scale * (double)bn->beta[c]);
    }
}
