// Batch normalisation per channel over (N, H, W), parallel over channels.
//
// Training statistics come from one pass that accumulates, in double, the sum
// and the sum of squares of (x - shift), with shift = the channel's first
// value: near the mean, so E[d^2] - E[d]^2 does not cancel catastrophically the
// way the plain E[x^2] - E[x]^2 does for channels with a large mean.
#include <math.h>

#include "cpu_ops.h"

typedef struct {
    double mean, var_biased;
} ChannelStats;

static const real *channel_plane(const BatchNormGeom *g, const real *t, int n, int c) {
    return t + ((size_t)n * g->channels + c) * g->spatial;
}
static real *channel_plane_mut(const BatchNormGeom *g, real *t, int n, int c) {
    return t + ((size_t)n * g->channels + c) * g->spatial;
}

static size_t plane_stride(const BatchNormGeom *g) { return (size_t)g->channels * g->spatial; }

static ChannelStats channel_stats(const CpuKernels *k, const BatchNormGeom *g, const real *x,
                                  int c) {
    const double shift = g->batch > 0 && g->spatial > 0 ? channel_plane(g, x, 0, c)[0] : 0;
    double sum, sum_sq;
    k->channel_sums(channel_plane(g, x, 0, c), g->batch, plane_stride(g), g->spatial, shift, &sum,
                    &sum_sq);
    const double count = (double)g->batch * g->spatial;
    const double mean_shifted = sum / count;
    double var = sum_sq / count - mean_shifted * mean_shifted;
    ChannelStats stats = {shift + mean_shifted, var > 0 ? var : 0};
    return stats;
}

// y = x * scale + offset over one channel.
static void channel_affine(const BatchNormGeom *g, const real *x, int c, real scale, real offset,
                           real *y) {
    for (int n = 0; n < g->batch; n++) {
        const real *src = channel_plane(g, x, n, c);
        real *dst = channel_plane_mut(g, y, n, c);
        for (int s = 0; s < g->spatial; s++) dst[s] = src[s] * scale + offset;
    }
}

void cpu_batchnorm_forward_train(Backend *be, const BatchNormGeom *g, const real *x,
                                 const real *gamma, const real *beta, real momentum, real eps,
                                 real *running_mean, real *running_var, real *save_mean,
                                 real *save_invstd, real *y) {
    CpuState *st = cpu_state(be);
    const double count = (double)g->batch * g->spatial;
    // Torch and PyTorch move running_var with the unbiased estimate.
    const double unbias = count > 1 ? count / (count - 1) : 1;
#pragma omp parallel for schedule(static) num_threads(st->threads)
    for (int c = 0; c < g->channels; c++) {
        ChannelStats stats = channel_stats(st->kernels, g, x, c);
        const double invstd = 1.0 / sqrt(stats.var_biased + (double)eps);
        const double scale = (double)gamma[c] * invstd;
        channel_affine(g, x, c, (real)scale, (real)((double)beta[c] - stats.mean * scale), y);
        save_mean[c] = (real)stats.mean;
        save_invstd[c] = (real)invstd;
        running_mean[c] = (real)((1 - (double)momentum) * running_mean[c] + momentum * stats.mean);
        running_var[c] = (real)((1 - (double)momentum) * running_var[c] +
                                momentum * stats.var_biased * unbias);
    }
}

void cpu_batchnorm_forward_eval(Backend *be, const BatchNormGeom *g, const real *x,
                                const real *gamma, const real *beta, const real *running_mean,
                                const real *running_var, real eps, real *y) {
    CpuState *st = cpu_state(be);
#pragma omp parallel for schedule(static) num_threads(st->threads)
    for (int c = 0; c < g->channels; c++) {
        const double scale = (double)gamma[c] / sqrt((double)running_var[c] + (double)eps);
        const double offset = (double)beta[c] - (double)running_mean[c] * scale;
        channel_affine(g, x, c, (real)scale, (real)offset, y);
    }
}

// With xhat = (x - mean) * invstd and count = N*H*W:
//   dbeta  = sum dy,   dgamma = sum dy * xhat,
//   dx     = gamma * invstd * (dy - dbeta / count - xhat * dgamma / count)
// (the last two terms are the gradient through the batch mean and variance).
void cpu_batchnorm_backward(Backend *be, const BatchNormGeom *g, const real *x, const real *dy,
                            const real *gamma, const real *save_mean, const real *save_invstd,
                            real eps, real *dx, real *dgamma, real *dbeta) {
    (void)eps;  // save_invstd already holds 1/sqrt(var + eps)
    CpuState *st = cpu_state(be);
    const double count = (double)g->batch * g->spatial;
#pragma omp parallel for schedule(static) num_threads(st->threads)
    for (int c = 0; c < g->channels; c++) {
        const double mean = save_mean[c], invstd = save_invstd[c];
        double sum_dy, sum_dy_xhat;
        st->kernels->channel_dot_sums(channel_plane(g, x, 0, c), channel_plane(g, dy, 0, c),
                                      g->batch, plane_stride(g), g->spatial, mean, &sum_dy,
                                      &sum_dy_xhat);
        sum_dy_xhat *= invstd;
        dbeta[c] = (real)sum_dy;
        dgamma[c] = (real)sum_dy_xhat;
        // dx = a * dy + b * (x - mean) + d: the per-channel constants folded out
        // of the inner loop (x - mean stays explicit so a large mean cannot cancel).
        const double a = (double)gamma[c] * invstd;
        const double mean_dy = sum_dy / count, mean_dy_xhat = sum_dy_xhat / count;
        const real b = (real)(-a * mean_dy_xhat * invstd), d = (real)(-a * mean_dy);
        const real mean_r = (real)mean;
        for (int n = 0; n < g->batch; n++) {
            const real *xp = channel_plane(g, x, n, c), *dyp = channel_plane(g, dy, n, c);
            real *dxp = channel_plane_mut(g, dx, n, c);
            for (int s = 0; s < g->spatial; s++)
                dxp[s] = (real)a * dyp[s] + b * (xp[s] - mean_r) + d;
        }
    }
}
