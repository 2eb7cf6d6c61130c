// The per-channel sums of batch normalisation (kernels/cpu/batchnorm.c), built per
// instruction set: they accumulate in double (for accuracy, see batchnorm.c), and
// double vectors are where the widest instructions pay: 8 lanes with AVX-512
// against 2 in the baseline build.
#include "simd.h"

// sum = sum (x - shift), sum_sq = sum (x - shift)^2 over `planes` runs of `spatial`
// values, plane_stride apart.
void SIMD_NAME(channel_sums)(const real *x, int planes, size_t plane_stride, int spatial,
                             double shift, double *sum_out, double *sum_sq_out) {
    double sum = 0, sum_sq = 0;
    for (int n = 0; n < planes; n++) {
        const real *p = x + (size_t)n * plane_stride;
        // simd reduction: several partial sums in vector lanes (a plain double loop is
        // one long dependent chain of adds).
#pragma omp simd reduction(+ : sum, sum_sq)
        for (int s = 0; s < spatial; s++) {
            const double d = (double)p[s] - shift;
            sum += d;
            sum_sq += d * d;
        }
    }
    *sum_out = sum;
    *sum_sq_out = sum_sq;
}

// sum_dy = sum dy, sum_dy_centred = sum dy * (x - mean), over the same runs.
void SIMD_NAME(channel_dot_sums)(const real *x, const real *dy, int planes, size_t plane_stride,
                                 int spatial, double mean, double *sum_dy_out,
                                 double *sum_dy_centred_out) {
    double sum_dy = 0, sum_dy_centred = 0;
    for (int n = 0; n < planes; n++) {
        const real *xp = x + (size_t)n * plane_stride, *dyp = dy + (size_t)n * plane_stride;
#pragma omp simd reduction(+ : sum_dy, sum_dy_centred)
        for (int s = 0; s < spatial; s++) {
            sum_dy += dyp[s];
            sum_dy_centred += (double)dyp[s] * ((double)xp[s] - mean);
        }
    }
    *sum_dy_out = sum_dy;
    *sum_dy_centred_out = sum_dy_centred;
}
