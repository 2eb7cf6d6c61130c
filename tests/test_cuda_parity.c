// Parity of the CUDA backend with the CPU backend, op by op.
//
// Every Backend operation runs on both backends with the same random inputs
// (fixed seed) at the ResNet shapes (batch 8; 16 channels 32x32 3x3 stride 1,
// 16->32 3x3 stride 2, 1x1 convolutions, ...), and the CUDA result must agree
// with the CPU result to a relative error of 1e-4 in fp32 (TF32 off), where
//   relative error = max_i |cuda_i - cpu_i| / max_i |cpu_i|
// (the max-norm of the difference over the max-norm of the reference, so that
// entries that cancel to nearly zero do not make the ratio meaningless).
// The CPU backend (kernels/cpu/) is an independent implementation: im2col +
// BLAS, double-precision statistics; the CUDA side is cuDNN, cuBLAS and our
// own kernels.
//
// Outputs that an op must overwrite start as NaN on both sides, so an element
// the CUDA op forgets to write fails the test (NaN never compares close).
//
// Then whole networks (common/net.h): ResNet-20 and a small bottleneck /
// projection / max-pool-stem net, built on both backends with the same
// parameters and batch, two training steps (a fixed gate pattern that closes a
// downsampling block, then all open) and an evaluation pass; logits, loss,
// every parameter tensor's gradient, parameters, momentum and BN running
// statistics are compared. Each phase starts from the CPU network's state
// copied to the CUDA network, so each compares the backends on the same inputs.
//
// Last, the same training with CUDA graphs (net_enable_recording) against eager.
//
// Without a CUDA build or without a device this test reports one counted skip
// (tests/run.sh's closing line shows it).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "harness.h"

#ifdef SD_WITH_CUDA
#include "cuda/backend_cuda.h"
#include "net.h"
#include "preset.h"
#include "rng.h"

#define PARITY_TOLERANCE 1e-4
// A whole network's parameter gradients come out of ~60 ops in a chain, each
// within PARITY_TOLERANCE; the per-tensor check allows the compounding. A real
// bug (a wrong index, a missed term) shows as an error of order 1.
#define NET_GRAD_TOLERANCE 1e-3
#define PARITY_SEED 20161008u

typedef struct {
    TestContext *t;
    Backend *cpu, *gpu;
    Rng rng;
} Parity;

// One tensor held by both backends.
typedef struct {
    real *cpu, *gpu;
    size_t count;
} Twin;

static void *alloc_or_die(Backend *be, size_t bytes) {
    void *ptr = be->alloc(be, bytes);
    if (!ptr) {
        fprintf(stderr, "test_cuda_parity: %s alloc of %zu bytes failed\n", be->name, bytes);
        exit(2);
    }
    return ptr;
}

static Twin twin_from_host(Parity *p, const real *host, size_t count) {
    Twin tw = {alloc_or_die(p->cpu, count * sizeof(real)), alloc_or_die(p->gpu, count * sizeof(real)),
               count};
    p->cpu->upload(p->cpu, tw.cpu, host, count * sizeof(real));
    p->gpu->upload(p->gpu, tw.gpu, host, count * sizeof(real));
    return tw;
}

// Normal(mean, stddev) entries.
static Twin twin_normal(Parity *p, size_t count, double mean, double stddev) {
    real *host = malloc(count * sizeof(real));
    for (size_t i = 0; i < count; i++) host[i] = (real)(mean + stddev * rng_normal(&p->rng));
    Twin tw = twin_from_host(p, host, count);
    free(host);
    return tw;
}

// Uniform on [lo, hi).
static Twin twin_uniform(Parity *p, size_t count, double lo, double hi) {
    real *host = malloc(count * sizeof(real));
    for (size_t i = 0; i < count; i++) host[i] = (real)(lo + (hi - lo) * rng_uniform(&p->rng));
    Twin tw = twin_from_host(p, host, count);
    free(host);
    return tw;
}

// Small integers 0..levels-1: many exact ties (max pooling's "first maximum").
static Twin twin_levels(Parity *p, size_t count, int levels) {
    real *host = malloc(count * sizeof(real));
    for (size_t i = 0; i < count; i++) host[i] = (real)rng_below(&p->rng, (uint64_t)levels);
    Twin tw = twin_from_host(p, host, count);
    free(host);
    return tw;
}

static Twin twin_filled(Parity *p, size_t count, real value) {
    real *host = malloc(count * sizeof(real));
    for (size_t i = 0; i < count; i++) host[i] = value;
    Twin tw = twin_from_host(p, host, count);
    free(host);
    return tw;
}

static Twin twin_nan(Parity *p, size_t count) { return twin_filled(p, count, (real)NAN); }

static void twin_free(Parity *p, Twin *tw) {
    p->cpu->release(p->cpu, tw->cpu);
    p->gpu->release(p->gpu, tw->gpu);
    tw->cpu = tw->gpu = NULL;
}

// max|cuda - cpu| / max|cpu|. A NaN on one side only is an infinite error; NaN
// on both sides at the same place (e.g. the loss of an invalid label) agrees.
static double twin_relative_error(Parity *p, const Twin *tw) {
    real *ref = malloc(tw->count * sizeof(real)), *got = malloc(tw->count * sizeof(real));
    p->cpu->download(p->cpu, ref, tw->cpu, tw->count * sizeof(real));
    p->gpu->download(p->gpu, got, tw->gpu, tw->count * sizeof(real));
    double max_diff = 0, max_ref = 0;
    for (size_t i = 0; i < tw->count; i++) {
        int ref_nan = isnan(ref[i]), got_nan = isnan(got[i]);
        if (ref_nan || got_nan) {
            if (ref_nan != got_nan) max_diff = INFINITY;
            continue;
        }
        double diff = fabs((double)got[i] - (double)ref[i]);
        if (diff > max_diff || isinf(diff)) max_diff = diff;
        if (fabs((double)ref[i]) > max_ref) max_ref = fabs((double)ref[i]);
    }
    free(ref);
    free(got);
    if (max_diff == 0) return 0;
    return max_ref > 0 ? max_diff / max_ref : INFINITY;
}

static void check_twin_within(Parity *p, const Twin *tw, const char *what, double tolerance) {
    double error = twin_relative_error(p, tw);
    printf("  %-58s rel err %.3g\n", what, error);
    CHECK(p->t, error <= tolerance, "%s: relative error %.3g > %.0e", what, error, tolerance);
}

static void check_twin(Parity *p, const Twin *tw, const char *what) {
    check_twin_within(p, tw, what, PARITY_TOLERANCE);
}

// ---- convolutions ----------------------------------------------------------------------------

static ConvGeom conv_geom(int batch, int in_c, int size, int out_c, int kernel, int stride,
                          int pad) {
    ConvGeom g = {0};
    g.batch = batch;
    g.in_c = in_c;
    g.in_h = g.in_w = size;
    g.out_c = out_c;
    g.kernel_h = g.kernel_w = kernel;
    g.stride_h = g.stride_w = stride;
    g.pad_top = g.pad_left = pad;
    g.out_h = g.out_w = (size + 2 * pad - kernel) / stride + 1;
    return g;
}

static size_t conv_in_count(const ConvGeom *g) {
    return (size_t)g->batch * g->in_c * g->in_h * g->in_w;
}
static size_t conv_out_count(const ConvGeom *g) {
    return (size_t)g->batch * g->out_c * g->out_h * g->out_w;
}
static size_t conv_weight_count(const ConvGeom *g) {
    return (size_t)g->out_c * g->in_c * g->kernel_h * g->kernel_w;
}

static void check_conv(Parity *p, const ConvGeom *g, const char *name, int with_bias,
                       int fuse_relu, int backward) {
    char what[128];
    const double fan_in = (double)g->in_c * g->kernel_h * g->kernel_w;
    Twin x = twin_normal(p, conv_in_count(g), 0, 1);
    Twin w = twin_normal(p, conv_weight_count(g), 0, sqrt(2.0 / fan_in));
    Twin bias = twin_normal(p, (size_t)g->out_c, 0, 0.5);
    Twin y = twin_nan(p, conv_out_count(g));
    p->cpu->conv2d_forward(p->cpu, g, x.cpu, w.cpu, with_bias ? bias.cpu : NULL, NULL, clamp_relu(fuse_relu),
                           y.cpu);
    p->gpu->conv2d_forward(p->gpu, g, x.gpu, w.gpu, with_bias ? bias.gpu : NULL, NULL, clamp_relu(fuse_relu),
                           y.gpu);
    const char *variant = with_bias ? (fuse_relu ? " +bias +relu" : " +bias")
                                    : (fuse_relu ? " +relu" : "");
    snprintf(what, sizeof what, "conv %s forward%s", name, variant);
    check_twin(p, &y, what);
    // Twice: the second call runs on the cached plan, the first found it.
    p->gpu->fill(p->gpu, y.gpu, y.count, (real)NAN);
    p->gpu->conv2d_forward(p->gpu, g, x.gpu, w.gpu, with_bias ? bias.gpu : NULL, NULL, clamp_relu(fuse_relu),
                           y.gpu);
    snprintf(what, sizeof what, "conv %s forward%s (cached plan)", name, variant);
    check_twin(p, &y, what);
    if (backward) {
        Twin dy = twin_normal(p, conv_out_count(g), 0, 1);
        Twin dx = twin_nan(p, conv_in_count(g));
        Twin dw = twin_nan(p, conv_weight_count(g));
        p->cpu->conv2d_backward_data(p->cpu, g, w.cpu, dy.cpu, dx.cpu);
        p->gpu->conv2d_backward_data(p->gpu, g, w.gpu, dy.gpu, dx.gpu);
        p->cpu->conv2d_backward_filter(p->cpu, g, x.cpu, dy.cpu, dw.cpu);
        p->gpu->conv2d_backward_filter(p->gpu, g, x.gpu, dy.gpu, dw.gpu);
        snprintf(what, sizeof what, "conv %s backward data", name);
        check_twin(p, &dx, what);
        snprintf(what, sizeof what, "conv %s backward filter", name);
        check_twin(p, &dw, what);
        twin_free(p, &dy);
        twin_free(p, &dx);
        twin_free(p, &dw);
    }
    twin_free(p, &x);
    twin_free(p, &w);
    twin_free(p, &bias);
    twin_free(p, &y);
}

// y = ReLU?(conv + bias + residual): a separate residual, and the residual in y itself
// (in place); fused (bias + ReLU: cuDNN's z input) and unfused.
static void check_conv_residual(Parity *p, const ConvGeom *g, const char *name, int fused) {
    char what[160];
    Twin x = twin_normal(p, conv_in_count(g), 0, 1);
    Twin w = twin_normal(p, conv_weight_count(g), 0, 0.1);
    Twin bias = twin_normal(p, (size_t)g->out_c, 0, 0.5);
    Twin residual = twin_normal(p, conv_out_count(g), 0, 1);
    Twin y = twin_nan(p, conv_out_count(g));
    for (int side = 0; side < 2; side++) {
        Backend *be = side ? p->gpu : p->cpu;
        be->conv2d_forward(be, g, side ? x.gpu : x.cpu, side ? w.gpu : w.cpu,
                           fused ? (side ? bias.gpu : bias.cpu) : NULL,
                           side ? residual.gpu : residual.cpu, clamp_relu(fused), side ? y.gpu : y.cpu);
    }
    snprintf(what, sizeof what, "conv %s + residual%s", name, fused ? " +bias +relu" : "");
    check_twin(p, &y, what);
    for (int side = 0; side < 2; side++) {  // in place: the residual is y's own contents
        Backend *be = side ? p->gpu : p->cpu;
        be->conv2d_forward(be, g, side ? x.gpu : x.cpu, side ? w.gpu : w.cpu,
                           fused ? (side ? bias.gpu : bias.cpu) : NULL,
                           side ? residual.gpu : residual.cpu, clamp_relu(fused),
                           side ? residual.gpu : residual.cpu);
    }
    snprintf(what, sizeof what, "conv %s + residual in place%s", name, fused ? " +bias +relu" : "");
    check_twin(p, &residual, what);
    twin_free(p, &x);
    twin_free(p, &w);
    twin_free(p, &bias);
    twin_free(p, &residual);
    twin_free(p, &y);
}

static void test_convolutions(Parity *p) {
    ConvGeom g;
    g = conv_geom(4, 32, 16, 32, 3, 1, 1);
    check_conv_residual(p, &g, "32->32 3x3 s1 16x16", 0);
    check_conv_residual(p, &g, "32->32 3x3 s1 16x16", 1);
    g = conv_geom(8, 3, 32, 16, 3, 1, 1);
    check_conv(p, &g, "stem 3->16 3x3 s1", 0, 0, 1);
    g = conv_geom(8, 16, 32, 16, 3, 1, 1);
    check_conv(p, &g, "16->16 3x3 s1 32x32", 0, 0, 1);
    g = conv_geom(8, 16, 32, 32, 3, 2, 1);
    check_conv(p, &g, "16->32 3x3 s2 32x32", 0, 0, 1);
    g = conv_geom(8, 32, 16, 64, 3, 2, 1);
    check_conv(p, &g, "32->64 3x3 s2 16x16", 0, 0, 1);
    g = conv_geom(8, 16, 32, 32, 1, 2, 0);
    check_conv(p, &g, "16->32 1x1 s2 (projection)", 0, 0, 1);
    g = conv_geom(8, 64, 8, 16, 1, 1, 0);
    check_conv(p, &g, "64->16 1x1 s1 (bottleneck)", 0, 0, 1);
    // sdinfer's forms: bias with and without a fused ReLU (cuDNN's fused call).
    g = conv_geom(8, 16, 32, 16, 3, 1, 1);
    check_conv(p, &g, "16->16 3x3 s1", 1, 1, 0);
    check_conv(p, &g, "16->16 3x3 s1", 1, 0, 0);
    check_conv(p, &g, "16->16 3x3 s1", 0, 1, 0);
    // Asymmetric padding (ONNX SAME_UPPER, 8x8 3x3 s2 -> 4x4: 0 rows on top, 1
    // below) is not something cuDNN pads itself: the explicit-padding path.
    g = conv_geom(8, 16, 8, 32, 3, 2, 0);
    g.out_h = g.out_w = 4;
    check_conv(p, &g, "16->32 3x3 s2 8x8 pad 0/1 (explicit)", 1, 1, 0);
}

// ---- batch normalisation ------------------------------------------------------------------------

static void test_batchnorm(Parity *p, int channels, int spatial, double mean, const char *name) {
    char what[128];
    BatchNormGeom g = {8, channels, spatial};
    const size_t count = (size_t)g.batch * channels * spatial;
    // A non-default eps, large enough to matter: a backend that used another eps
    // anywhere (e.g. in backward) would show up.
    const real momentum = (real)0.1, eps = (real)1e-3;
    Twin x = twin_normal(p, count, mean, 0.2);
    Twin gamma = twin_normal(p, (size_t)channels, 1, 0.3);
    Twin beta = twin_normal(p, (size_t)channels, 0, 0.3);
    Twin running_mean = twin_normal(p, (size_t)channels, 0, 0.5);
    Twin running_var = twin_uniform(p, (size_t)channels, 0.5, 2.0);
    Twin save_mean = twin_nan(p, (size_t)channels), save_invstd = twin_nan(p, (size_t)channels);
    Twin y = twin_nan(p, count);
    for (int side = 0; side < 2; side++) {
        Backend *be = side ? p->gpu : p->cpu;
        be->batchnorm_forward_train(be, &g, side ? x.gpu : x.cpu, side ? gamma.gpu : gamma.cpu,
                                    side ? beta.gpu : beta.cpu, momentum, eps,
                                    side ? running_mean.gpu : running_mean.cpu,
                                    side ? running_var.gpu : running_var.cpu,
                                    side ? save_mean.gpu : save_mean.cpu,
                                    side ? save_invstd.gpu : save_invstd.cpu, side ? y.gpu : y.cpu);
    }
    snprintf(what, sizeof what, "batchnorm %s train y", name);
    check_twin(p, &y, what);
    snprintf(what, sizeof what, "batchnorm %s train save_mean", name);
    check_twin(p, &save_mean, what);
    snprintf(what, sizeof what, "batchnorm %s train save_invstd", name);
    check_twin(p, &save_invstd, what);
    snprintf(what, sizeof what, "batchnorm %s running_mean (momentum)", name);
    check_twin(p, &running_mean, what);
    snprintf(what, sizeof what, "batchnorm %s running_var (unbiased)", name);
    check_twin(p, &running_var, what);

    Twin dy = twin_normal(p, count, 0, 1);
    Twin dx = twin_nan(p, count), dgamma = twin_nan(p, (size_t)channels);
    Twin dbeta = twin_nan(p, (size_t)channels);
    for (int side = 0; side < 2; side++) {
        Backend *be = side ? p->gpu : p->cpu;
        be->batchnorm_backward(be, &g, side ? x.gpu : x.cpu, side ? dy.gpu : dy.cpu,
                               side ? gamma.gpu : gamma.cpu, side ? save_mean.gpu : save_mean.cpu,
                               side ? save_invstd.gpu : save_invstd.cpu, eps,
                               side ? dx.gpu : dx.cpu,
                               side ? dgamma.gpu : dgamma.cpu, side ? dbeta.gpu : dbeta.cpu);
    }
    snprintf(what, sizeof what, "batchnorm %s backward dx", name);
    check_twin(p, &dx, what);
    snprintf(what, sizeof what, "batchnorm %s backward dgamma", name);
    check_twin(p, &dgamma, what);
    snprintf(what, sizeof what, "batchnorm %s backward dbeta", name);
    check_twin(p, &dbeta, what);

    // Evaluation with the running statistics just updated.
    p->cpu->fill(p->cpu, y.cpu, count, (real)NAN);
    p->gpu->fill(p->gpu, y.gpu, count, (real)NAN);
    for (int side = 0; side < 2; side++) {
        Backend *be = side ? p->gpu : p->cpu;
        be->batchnorm_forward_eval(be, &g, side ? x.gpu : x.cpu, side ? gamma.gpu : gamma.cpu,
                                   side ? beta.gpu : beta.cpu,
                                   side ? running_mean.gpu : running_mean.cpu,
                                   side ? running_var.gpu : running_var.cpu, eps,
                                   side ? y.gpu : y.cpu);
    }
    snprintf(what, sizeof what, "batchnorm %s eval y", name);
    check_twin(p, &y, what);

    Twin *all[] = {&x, &gamma, &beta, &running_mean, &running_var, &save_mean, &save_invstd,
                   &y, &dy, &dx, &dgamma, &dbeta};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) twin_free(p, all[i]);
}

// ---- element-wise -------------------------------------------------------------------------------

static void test_elementwise(Parity *p) {
    const size_t count = (size_t)8 * 16 * 32 * 32 + 5;  // not a multiple of any block size
    Twin x = twin_normal(p, count, 0, 1), y = twin_nan(p, count);
    p->cpu->relu_forward(p->cpu, count, x.cpu, y.cpu);
    p->gpu->relu_forward(p->gpu, count, x.gpu, y.gpu);
    check_twin(p, &y, "relu forward");

    Twin dy = twin_normal(p, count, 0, 1), dx = twin_nan(p, count);
    p->cpu->relu_backward(p->cpu, count, y.cpu, dy.cpu, dx.cpu);
    p->gpu->relu_backward(p->gpu, count, y.gpu, dy.gpu, dx.gpu);
    check_twin(p, &dx, "relu backward");
    p->cpu->relu_backward(p->cpu, count, y.cpu, dy.cpu, dy.cpu);
    p->gpu->relu_backward(p->gpu, count, y.gpu, dy.gpu, dy.gpu);
    check_twin(p, &dy, "relu backward in place (dx == dy)");

    Twin branch = twin_normal(p, count, 0, 1), shortcut = twin_normal(p, count, 0.2, 1);
    Twin merged = twin_nan(p, count);
    p->cpu->residual_forward(p->cpu, count, (real)0.7, branch.cpu, shortcut.cpu, merged.cpu);
    p->gpu->residual_forward(p->gpu, count, (real)0.7, branch.gpu, shortcut.gpu, merged.gpu);
    check_twin(p, &merged, "residual forward (scale 0.7)");
    p->cpu->residual_forward(p->cpu, count, 1, branch.cpu, shortcut.cpu, branch.cpu);
    p->gpu->residual_forward(p->gpu, count, 1, branch.gpu, shortcut.gpu, branch.gpu);
    check_twin(p, &branch, "residual forward in place (y == branch)");

    p->cpu->accumulate(p->cpu, count, x.cpu, shortcut.cpu);
    p->gpu->accumulate(p->gpu, count, x.gpu, shortcut.gpu);
    check_twin(p, &shortcut, "accumulate");

    p->cpu->fill(p->cpu, merged.cpu, count, (real)-2.5);
    p->gpu->fill(p->gpu, merged.gpu, count, (real)-2.5);
    check_twin(p, &merged, "fill");
    p->cpu->copy(p->cpu, merged.cpu, x.cpu, (count - 3) * sizeof(real));
    p->gpu->copy(p->gpu, merged.gpu, x.gpu, (count - 3) * sizeof(real));
    check_twin(p, &merged, "copy (all but the last 3)");

    Twin *all[] = {&x, &y, &dy, &dx, &branch, &shortcut, &merged};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) twin_free(p, all[i]);
}

// ---- option-A shortcut and pooling ----------------------------------------------------------------

static void test_shortcut_a(Parity *p, int in_c, int size, int out_c, const char *name) {
    char what[128];
    const int batch = 8, out_size = size / 2;
    const size_t in_count = (size_t)batch * in_c * size * size;
    const size_t out_count = (size_t)batch * out_c * out_size * out_size;
    Twin x = twin_normal(p, in_count, 0, 1), y = twin_nan(p, out_count);
    p->cpu->shortcut_a_forward(p->cpu, batch, in_c, size, size, out_c, x.cpu, y.cpu);
    p->gpu->shortcut_a_forward(p->gpu, batch, in_c, size, size, out_c, x.gpu, y.gpu);
    snprintf(what, sizeof what, "shortcut A %s forward", name);
    check_twin(p, &y, what);
    Twin dy = twin_normal(p, out_count, 0, 1);
    Twin dx = twin_normal(p, in_count, 0, 1);  // accumulates onto the branch's gradient
    p->cpu->shortcut_a_backward_accumulate(p->cpu, batch, in_c, size, size, out_c, dy.cpu, dx.cpu);
    p->gpu->shortcut_a_backward_accumulate(p->gpu, batch, in_c, size, size, out_c, dy.gpu, dx.gpu);
    snprintf(what, sizeof what, "shortcut A %s backward accumulate", name);
    check_twin(p, &dx, what);
    twin_free(p, &x);
    twin_free(p, &y);
    twin_free(p, &dy);
    twin_free(p, &dx);
}

static PoolGeom pool_geom(int channels, int size, int kernel, int stride, int pad,
                          int count_include_pad) {
    PoolGeom g = {0};
    g.batch = 8;
    g.channels = channels;
    g.in_h = g.in_w = size;
    g.kernel_h = g.kernel_w = kernel;
    g.stride_h = g.stride_w = stride;
    g.pad_top = g.pad_left = pad;
    g.out_h = g.out_w = (size + 2 * pad - kernel) / stride + 1;
    g.count_include_pad = count_include_pad;
    return g;
}

static void test_pooling(Parity *p) {
    // Global average pooling: the ResNet head (64 channels of 8x8).
    const int batch = 8, channels = 64, spatial = 64;
    const size_t count = (size_t)batch * channels * spatial;
    Twin x = twin_normal(p, count, 0.5, 1), pooled = twin_nan(p, (size_t)batch * channels);
    p->cpu->global_avgpool_forward(p->cpu, batch, channels, spatial, x.cpu, pooled.cpu);
    p->gpu->global_avgpool_forward(p->gpu, batch, channels, spatial, x.gpu, pooled.gpu);
    check_twin(p, &pooled, "global avgpool forward 64ch 8x8");
    Twin dpooled = twin_normal(p, (size_t)batch * channels, 0, 1), dx = twin_nan(p, count);
    p->cpu->global_avgpool_backward(p->cpu, batch, channels, spatial, dpooled.cpu, dx.cpu);
    p->gpu->global_avgpool_backward(p->gpu, batch, channels, spatial, dpooled.gpu, dx.gpu);
    check_twin(p, &dx, "global avgpool backward");
    twin_free(p, &x);
    twin_free(p, &pooled);
    twin_free(p, &dpooled);
    twin_free(p, &dx);

    // The ImageNet stem pool (3x3 stride 2 pad 1) on integer-valued input, so
    // that windows hold ties and "first maximum" matters.
    PoolGeom g = pool_geom(16, 32, 3, 2, 1, 0);
    const size_t in_count = (size_t)g.batch * g.channels * g.in_h * g.in_w;
    const size_t out_count = (size_t)g.batch * g.channels * g.out_h * g.out_w;
    Twin px = twin_levels(p, in_count, 4), py = twin_nan(p, out_count);
    p->cpu->maxpool_forward(p->cpu, &g, px.cpu, py.cpu);
    p->gpu->maxpool_forward(p->gpu, &g, px.gpu, py.gpu);
    check_twin(p, &py, "maxpool 3x3 s2 p1 forward (ties)");
    Twin pdy = twin_normal(p, out_count, 0, 1), pdx = twin_nan(p, in_count);
    p->cpu->maxpool_backward(p->cpu, &g, px.cpu, py.cpu, pdy.cpu, pdx.cpu);
    p->gpu->maxpool_backward(p->gpu, &g, px.gpu, py.gpu, pdy.gpu, pdx.gpu);
    check_twin(p, &pdx, "maxpool 3x3 s2 p1 backward (ties)");
    for (int include_pad = 0; include_pad < 2; include_pad++) {
        g.count_include_pad = include_pad;
        p->gpu->fill(p->gpu, py.gpu, out_count, (real)NAN);
        p->cpu->avgpool_forward(p->cpu, &g, px.cpu, py.cpu);
        p->gpu->avgpool_forward(p->gpu, &g, px.gpu, py.gpu);
        check_twin(p, &py, include_pad ? "avgpool 3x3 s2 p1 count_include_pad=1"
                                       : "avgpool 3x3 s2 p1 count_include_pad=0");
    }
    twin_free(p, &px);
    twin_free(p, &py);
    twin_free(p, &pdy);
    twin_free(p, &pdx);
}

// ---- fully connected, loss, optimiser -------------------------------------------------------------

static void test_fc(Parity *p) {
    const int batch = 8, in_features = 64, out_features = 10;
    Twin x = twin_normal(p, (size_t)batch * in_features, 0, 1);
    Twin w = twin_normal(p, (size_t)out_features * in_features, 0, 0.125);
    Twin bias = twin_normal(p, (size_t)out_features, 0, 0.5);
    Twin y = twin_nan(p, (size_t)batch * out_features);
    p->cpu->fc_forward(p->cpu, batch, in_features, out_features, x.cpu, w.cpu, bias.cpu, y.cpu);
    p->gpu->fc_forward(p->gpu, batch, in_features, out_features, x.gpu, w.gpu, bias.gpu, y.gpu);
    check_twin(p, &y, "fc forward 64->10");
    p->gpu->fill(p->gpu, y.gpu, y.count, (real)NAN);
    p->cpu->fc_forward(p->cpu, batch, in_features, out_features, x.cpu, w.cpu, NULL, y.cpu);
    p->gpu->fc_forward(p->gpu, batch, in_features, out_features, x.gpu, w.gpu, NULL, y.gpu);
    check_twin(p, &y, "fc forward without bias");

    Twin dy = twin_normal(p, (size_t)batch * out_features, 0, 1);
    Twin dx = twin_nan(p, (size_t)batch * in_features);
    Twin dw = twin_nan(p, (size_t)out_features * in_features);
    Twin dbias = twin_nan(p, (size_t)out_features);
    p->cpu->fc_backward(p->cpu, batch, in_features, out_features, x.cpu, w.cpu, dy.cpu, dx.cpu,
                        dw.cpu, dbias.cpu);
    p->gpu->fc_backward(p->gpu, batch, in_features, out_features, x.gpu, w.gpu, dy.gpu, dx.gpu,
                        dw.gpu, dbias.gpu);
    check_twin(p, &dx, "fc backward dx");
    check_twin(p, &dw, "fc backward dw");
    check_twin(p, &dbias, "fc backward dbias");
    p->gpu->fill(p->gpu, dw.gpu, dw.count, (real)NAN);
    p->gpu->fc_backward(p->gpu, batch, in_features, out_features, x.gpu, w.gpu, dy.gpu, NULL,
                        dw.gpu, dbias.gpu);
    check_twin(p, &dw, "fc backward dw (dx skipped)");

    Twin *all[] = {&x, &w, &bias, &y, &dy, &dx, &dw, &dbias};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) twin_free(p, all[i]);
}

static void test_softmax_cross_entropy(Parity *p, int classes, int bad_label) {
    char what[128];
    const int batch = 8;
    int32_t labels[8];
    for (int b = 0; b < batch; b++) labels[b] = (int32_t)rng_below(&p->rng, (uint64_t)classes);
    if (bad_label) labels[3] = classes;  // out of range: NaN loss, zero gradient row
    int32_t *labels_cpu = alloc_or_die(p->cpu, sizeof labels);
    int32_t *labels_gpu = alloc_or_die(p->gpu, sizeof labels);
    p->cpu->upload(p->cpu, labels_cpu, labels, sizeof labels);
    p->gpu->upload(p->gpu, labels_gpu, labels, sizeof labels);
    Twin logits = twin_normal(p, (size_t)batch * classes, 0, 3);
    Twin dlogits = twin_nan(p, logits.count), loss = twin_nan(p, 1);
    p->cpu->softmax_cross_entropy(p->cpu, batch, classes, logits.cpu, labels_cpu, dlogits.cpu,
                                  loss.cpu);
    p->gpu->softmax_cross_entropy(p->gpu, batch, classes, logits.gpu, labels_gpu, dlogits.gpu,
                                  loss.gpu);
    snprintf(what, sizeof what, "softmax cross-entropy %d classes%s loss", classes,
             bad_label ? " (bad label)" : "");
    check_twin(p, &loss, what);
    snprintf(what, sizeof what, "softmax cross-entropy %d classes%s dlogits", classes,
             bad_label ? " (bad label)" : "");
    check_twin(p, &dlogits, what);
    if (bad_label) {
        real gpu_loss = 0;
        p->gpu->download(p->gpu, &gpu_loss, loss.gpu, sizeof gpu_loss);
        CHECK(p->t, isnan(gpu_loss), "a label out of range must give a NaN loss, got %g",
              (double)gpu_loss);
    }
    p->cpu->release(p->cpu, labels_cpu);
    p->gpu->release(p->gpu, labels_gpu);
    twin_free(p, &logits);
    twin_free(p, &dlogits);
    twin_free(p, &loss);
}

static void test_sgd(Parity *p, int nesterov) {
    char what[128];
    const size_t count = 270000 + 17;  // about ResNet-20's parameter count
    Twin params = twin_normal(p, count, 0, 0.1), momentum = twin_nan(p, count);
    for (int step = 0; step < 3; step++) {
        Twin grads = twin_normal(p, count, 0, 0.01);
        p->cpu->sgd_step(p->cpu, count, params.cpu, grads.cpu, momentum.cpu, (real)0.1, (real)0.9,
                         (real)1e-4, nesterov, step == 0);
        p->gpu->sgd_step(p->gpu, count, params.gpu, grads.gpu, momentum.gpu, (real)0.1, (real)0.9,
                         (real)1e-4, nesterov, step == 0);
        twin_free(p, &grads);
    }
    snprintf(what, sizeof what, "sgd step x3%s params", nesterov ? " nesterov" : "");
    check_twin(p, &params, what);
    snprintf(what, sizeof what, "sgd step x3%s momentum buffer", nesterov ? " nesterov" : "");
    check_twin(p, &momentum, what);
    twin_free(p, &params);
    twin_free(p, &momentum);
}

// ---- generic tensor ops (sdinfer) ---------------------------------------------------------------

static TensorShape shape_of(int rank, const int64_t *dims) {
    TensorShape s = {0};
    s.rank = rank;
    for (int i = 0; i < rank; i++) s.dims[i] = dims[i];
    return s;
}

static size_t shape_count(const TensorShape *s) {
    size_t count = 1;
    for (int i = 0; i < s->rank; i++) count *= (size_t)s->dims[i];
    return count;
}

static void test_binary_broadcast(Parity *p) {
    const int64_t a_dims[] = {8, 16, 1, 5}, b_dims[] = {16, 4, 1}, out_dims[] = {8, 16, 4, 5};
    TensorShape as = shape_of(4, a_dims), bs = shape_of(3, b_dims), os = shape_of(4, out_dims);
    Twin a = twin_normal(p, shape_count(&as), 0, 1);
    Twin b = twin_uniform(p, shape_count(&bs), 0.5, 2.0);  // away from 0 for the division
    Twin y = twin_nan(p, shape_count(&os));
    const char *names[] = {"add", "sub", "mul", "div"};
    const BinaryOp ops[] = {BINARY_ADD, BINARY_SUB, BINARY_MUL, BINARY_DIV};
    for (int i = 0; i < 4; i++) {
        char what[128];
        p->gpu->fill(p->gpu, y.gpu, y.count, (real)NAN);
        p->cpu->binary_broadcast(p->cpu, ops[i], &as, a.cpu, &bs, b.cpu, &os, y.cpu);
        p->gpu->binary_broadcast(p->gpu, ops[i], &as, a.gpu, &bs, b.gpu, &os, y.gpu);
        snprintf(what, sizeof what, "binary broadcast %s [8,16,1,5] . [16,4,1]", names[i]);
        check_twin(p, &y, what);
    }
    twin_free(p, &a);
    twin_free(p, &b);
    twin_free(p, &y);
}

static void test_pad_slice_concat(Parity *p) {
    // Pad with negative (cropping) and positive pads on several axes.
    const int64_t in_dims[] = {2, 3, 5, 6};
    const int64_t pads[] = {0, 1, -1, 2, 0, 0, 2, -1};
    const int64_t out_dims[] = {2, 4, 6, 7};  // in + starts + ends per axis
    TensorShape is = shape_of(4, in_dims), os = shape_of(4, out_dims);
    Twin x = twin_normal(p, shape_count(&is), 0, 1), y = twin_nan(p, shape_count(&os));
    p->cpu->pad_constant(p->cpu, &is, x.cpu, pads, (real)0.5, &os, y.cpu);
    p->gpu->pad_constant(p->gpu, &is, x.gpu, pads, (real)0.5, &os, y.gpu);
    check_twin(p, &y, "pad constant (crop and pad)");
    twin_free(p, &x);
    twin_free(p, &y);

    // Slice with positive and negative steps.
    const int64_t s_in[] = {4, 6, 8}, starts[] = {1, 5, 0}, steps[] = {2, -2, 3}, s_out[] = {2, 3, 3};
    TensorShape sis = shape_of(3, s_in), sos = shape_of(3, s_out);
    Twin sx = twin_normal(p, shape_count(&sis), 0, 1), sy = twin_nan(p, shape_count(&sos));
    p->cpu->slice(p->cpu, &sis, sx.cpu, starts, steps, &sos, sy.cpu);
    p->gpu->slice(p->gpu, &sis, sx.gpu, starts, steps, &sos, sy.gpu);
    check_twin(p, &sy, "slice (steps 2, -2, 3)");
    twin_free(p, &sx);
    twin_free(p, &sy);

    // Concat: one part into the middle of a larger tensor whose other entries
    // must stay untouched.
    const int64_t c_in[] = {2, 3, 4}, c_out[] = {2, 7, 4};
    TensorShape concat_in = shape_of(3, c_in), concat_out = shape_of(3, c_out);
    Twin cx = twin_normal(p, shape_count(&concat_in), 0, 1), cy = twin_normal(p, shape_count(&concat_out), 5, 1);
    p->cpu->concat_part(p->cpu, &concat_in, cx.cpu, 1, 2, &concat_out, cy.cpu);
    p->gpu->concat_part(p->gpu, &concat_in, cx.gpu, 1, 2, &concat_out, cy.gpu);
    check_twin(p, &cy, "concat part (axis 1, offset 2)");
    twin_free(p, &cx);
    twin_free(p, &cy);
}

static void test_softmax(Parity *p) {
    const int64_t outer = 37, inner = 1000;
    Twin x = twin_normal(p, (size_t)(outer * inner), 0, 4), y = twin_nan(p, (size_t)(outer * inner));
    p->cpu->softmax(p->cpu, outer, inner, x.cpu, y.cpu);
    p->gpu->softmax(p->gpu, outer, inner, x.gpu, y.gpu);
    check_twin(p, &y, "softmax 37 x 1000");
    twin_free(p, &x);
    twin_free(p, &y);
}

// ---- forward ops of foreign CNNs (kernels/*/infer_ops) ---------------------------------------

static void test_infer_ops(Parity *p) {
    const size_t count = 4099;
    static const char *names[] = {"sigmoid", "hard sigmoid", "hard swish", "clip"};
    for (int op = ACTIVATION_SIGMOID; op <= ACTIVATION_CLIP; op++) {
        Twin x = twin_normal(p, count, 0, 4), y = twin_nan(p, count);
        p->cpu->activation_forward(p->cpu, (ActivationOp)op, count, (real)0.2, (real)0.6, x.cpu, y.cpu);
        p->gpu->activation_forward(p->gpu, (ActivationOp)op, count, (real)0.2, (real)0.6, x.gpu, y.gpu);
        check_twin(p, &y, names[op]);
        twin_free(p, &x);
        twin_free(p, &y);
    }
    // Depthwise with dilation 2, and 4 groups of 3 -> 2 channels with stride 2.
    const int cases[2][5] = {{12, 12, 12, 1, 2}, {12, 8, 4, 2, 1}};  // in_c out_c groups stride dil
    for (int i = 0; i < 2; i++) {
        const int *c = cases[i];
        ConvGeom g = conv_geom(2, c[0], 11, c[1], 3, c[3], 2);
        int covered = 2 * c[4] + 1;
        g.out_h = g.out_w = (11 + 4 - covered) / c[3] + 1;
        size_t weights = (size_t)c[1] * (c[0] / c[2]) * 9;
        Twin x = twin_normal(p, conv_in_count(&g), 0, 1), w = twin_normal(p, weights, 0, 1);
        Twin b = twin_normal(p, (size_t)c[1], 0, 1), y = twin_nan(p, conv_out_count(&g));
        p->cpu->conv2d_grouped_forward(p->cpu, &g, c[2], c[4], c[4], x.cpu, w.cpu, b.cpu, NULL,
                                       clamp_none(), y.cpu);
        p->gpu->conv2d_grouped_forward(p->gpu, &g, c[2], c[4], c[4], x.gpu, w.gpu, b.gpu, NULL,
                                       clamp_none(), y.gpu);
        check_twin(p, &y, i == 0 ? "depthwise conv, dilation 2" : "grouped conv, stride 2");
        twin_free(p, &x);
        twin_free(p, &w);
        twin_free(p, &b);
        twin_free(p, &y);
    }
    const int64_t in_dims[5] = {2, 2, 3, 5, 7}, out_dims[5] = {2, 3, 2, 5, 7};
    const int perm[5] = {0, 2, 1, 3, 4};  // a channel shuffle
    TensorShape in_shape = shape_of(5, in_dims), out_shape = shape_of(5, out_dims);
    Twin x = twin_normal(p, shape_count(&in_shape), 0, 1), y = twin_nan(p, shape_count(&in_shape));
    p->cpu->transpose(p->cpu, &in_shape, x.cpu, perm, &out_shape, y.cpu);
    p->gpu->transpose(p->gpu, &in_shape, x.gpu, perm, &out_shape, y.gpu);
    check_twin(p, &y, "transpose (channel shuffle)");
    const int64_t padded_dims[5] = {2, 2, 5, 9, 10}, pads[10] = {0, 0, 1, 2, 3, 0, 0, 1, 2, 0};
    TensorShape padded = shape_of(5, padded_dims);
    for (int reflect = 0; reflect < 2; reflect++) {
        Twin z = twin_nan(p, shape_count(&padded));
        p->cpu->pad_border(p->cpu, &in_shape, x.cpu, pads, reflect, &padded, z.cpu);
        p->gpu->pad_border(p->gpu, &in_shape, x.gpu, pads, reflect, &padded, z.gpu);
        check_twin(p, &z, reflect ? "pad reflect" : "pad edge");
        twin_free(p, &z);
    }
    p->cpu->softmax_axis(p->cpu, 6, 5, 7, x.cpu, y.cpu);
    p->gpu->softmax_axis(p->gpu, 6, 5, 7, x.gpu, y.gpu);
    check_twin(p, &y, "softmax over a middle axis");
    twin_free(p, &x);
    twin_free(p, &y);
}

static void test_gemm(Parity *p) {
    const int m = 13, n = 17, k = 29;
    for (int trans = 0; trans < 4; trans++) {
        char what[128];
        const int trans_a = trans & 1, trans_b = trans >> 1;
        Twin a = twin_normal(p, (size_t)m * k, 0, 1), b = twin_normal(p, (size_t)k * n, 0, 1);
        Twin c = twin_normal(p, (size_t)m * n, 0, 1);
        p->cpu->gemm(p->cpu, trans_a, trans_b, m, n, k, (real)0.7, a.cpu, b.cpu, (real)0.3, c.cpu);
        p->gpu->gemm(p->gpu, trans_a, trans_b, m, n, k, (real)0.7, a.gpu, b.gpu, (real)0.3, c.gpu);
        snprintf(what, sizeof what, "gemm %c%c 13x17x29 alpha 0.7 beta 0.3", trans_a ? 'T' : 'N',
                 trans_b ? 'T' : 'N');
        check_twin(p, &c, what);
        twin_free(p, &a);
        twin_free(p, &b);
        twin_free(p, &c);
    }
    // beta = 0: C is not read (NaN there must not leak through).
    Twin a = twin_normal(p, (size_t)m * k, 0, 1), b = twin_normal(p, (size_t)k * n, 0, 1);
    Twin c = twin_nan(p, (size_t)m * n);
    p->cpu->gemm(p->cpu, 0, 1, m, n, k, 1, a.cpu, b.cpu, 0, c.cpu);
    p->gpu->gemm(p->gpu, 0, 1, m, n, k, 1, a.gpu, b.gpu, 0, c.gpu);
    check_twin(p, &c, "gemm NT beta 0 over NaN");
    twin_free(p, &a);
    twin_free(p, &b);
    twin_free(p, &c);
}

// ---- whole network: one training step, CPU vs CUDA ----------------------------------------------

typedef struct {
    const char *preset_text;
    int in_c, in_h, in_w, classes, batch;
    uint8_t gates[16];  // a fixed pattern, closing a downsampling block and an identity block
} NetCase;

// ResNet-20 (models/resnet20-cifar.txt) on CIFAR-shaped input: blocks 3 (16->32,
// option A) and 7 closed.
static const NetCase RESNET20_CASE = {
    "name resnet20-cifar\nblock basic\nshortcut A\nstem 16 3 1\nstem-pool none\n"
    "stages 3x16 3x32 3x64\n",
    3, 32, 32, 10, 8, {1, 1, 1, 0, 1, 1, 1, 0, 1}};
// Bottleneck blocks, projection shortcuts, the max-pool stem: block 1 (a
// projection) closed.
static const NetCase BOTTLENECK_CASE = {
    "name tiny-bottleneck\nblock bottleneck\nshortcut projection\nstem 8 3 1\nstem-pool max\n"
    "stages 1x4 2x8 1x16\n",
    3, 16, 16, 5, 8, {1, 0, 1, 1}};

// The Twin view of `count` reals at `offset` in two networks' buffers.
static Twin twin_view(real *cpu_base, real *gpu_base, size_t offset, size_t count) {
    Twin tw = {cpu_base + offset, gpu_base + offset, count};
    return tw;
}

static void compare_param_grads(Parity *p, const Net *cpu_net, const Net *gpu_net,
                                const char *name) {
    for (int i = 0; i < cpu_net->n_tensors; i++) {
        const NetTensor *t = &cpu_net->tensors[i];
        if (t->store != TENSOR_PARAM) continue;
        char what[160];
        snprintf(what, sizeof what, "%s grad %s", name, t->name);
        Twin view = twin_view(cpu_net->grads, gpu_net->grads, t->offset, t->count);
        check_twin_within(p, &view, what, NET_GRAD_TOLERANCE);
    }
}

// Forward (training mode) and backward on both backends.
static void forward_backward_both(Net *cpu_net, Net *gpu_net, const uint8_t *gates, int batch) {
    Net *nets[2] = {cpu_net, gpu_net};
    for (int side = 0; side < 2; side++) {
        net_forward(nets[side], batch, gates, NET_TRAIN);
        net_backward(nets[side], batch);
    }
}

static void sgd_both(Net *cpu_net, Net *gpu_net, int first_step) {
    net_sgd_step(cpu_net, (real)0.1, (real)0.9, (real)1e-4, 1, first_step);
    net_sgd_step(gpu_net, (real)0.1, (real)0.9, (real)1e-4, 1, first_step);
}

static void copy_buffer(Backend *from, const real *src, Backend *to, real *dst, size_t count) {
    real *host = malloc(count * sizeof(real));
    from->download(from, host, src, count * sizeof(real));
    to->upload(to, dst, host, count * sizeof(real));
    free(host);
}

// Gives the CUDA network the CPU network's exact parameters, momentum and BN
// statistics, so that the next phase compares the backends on identical inputs.
// (Without it, step 1's last-bit differences would be amplified by step 2: even
// two CPU backends with different thread counts then differ by ~4e-4.)
static void sync_state(const Net *cpu_net, Net *gpu_net) {
    copy_buffer(cpu_net->be, cpu_net->params, gpu_net->be, gpu_net->params, cpu_net->n_params);
    copy_buffer(cpu_net->be, cpu_net->momentum, gpu_net->be, gpu_net->momentum, cpu_net->n_params);
    copy_buffer(cpu_net->be, cpu_net->bn_state, gpu_net->be, gpu_net->bn_state,
                cpu_net->n_bn_state);
}

static void test_network(Parity *p, const NetCase *c, const char *name) {
    char err[256], what[160];
    Preset preset;
    if (preset_parse(c->preset_text, name, &preset, err, sizeof err) != 0) {
        CHECK(p->t, 0, "preset %s: %s", name, err);
        return;
    }
    Net cpu_net, gpu_net;
    if (net_build(&cpu_net, p->cpu, &preset, c->in_c, c->in_h, c->in_w, c->classes, c->batch, err,
                  sizeof err) != 0) {
        CHECK(p->t, 0, "net_build %s on cpu: %s", name, err);
        return;
    }
    if (net_build(&gpu_net, p->gpu, &preset, c->in_c, c->in_h, c->in_w, c->classes, c->batch, err,
                  sizeof err) != 0) {
        CHECK(p->t, 0, "net_build %s on cuda: %s", name, err);
        net_free(&cpu_net);
        return;
    }
    CHECK(p->t, cpu_net.n_params == gpu_net.n_params && cpu_net.n_blocks <= 16,
          "%s: both builds must have the same layout", name);
    // Identical parameters: the initialiser draws on the host from the same seed.
    Rng init_cpu, init_gpu;
    rng_seed(&init_cpu, PARITY_SEED, RNG_STREAM_INIT);
    rng_seed(&init_gpu, PARITY_SEED, RNG_STREAM_INIT);
    net_init_params(&cpu_net, &init_cpu);
    net_init_params(&gpu_net, &init_gpu);
    net_set_survival(&cpu_net, "linear", 0.5);
    net_set_survival(&gpu_net, "linear", 0.5);

    const size_t image_count = (size_t)c->batch * c->in_c * c->in_h * c->in_w;
    float *images = malloc(image_count * sizeof(float));
    int32_t labels[16];
    for (size_t i = 0; i < image_count; i++) images[i] = (float)rng_normal(&p->rng);
    for (int b = 0; b < c->batch; b++) labels[b] = (int32_t)rng_below(&p->rng, (uint64_t)c->classes);
    net_set_batch(&cpu_net, images, labels, c->batch);
    net_set_batch(&gpu_net, images, labels, c->batch);
    free(images);

    const size_t logit_count = (size_t)c->batch * c->classes;
    // Step 1: the fixed gate pattern.
    forward_backward_both(&cpu_net, &gpu_net, c->gates, c->batch);
    Twin logits = twin_view(cpu_net.logits, gpu_net.logits, 0, logit_count);
    snprintf(what, sizeof what, "%s step 1 (gated) logits", name);
    check_twin(p, &logits, what);
    Twin loss = twin_view(cpu_net.loss, gpu_net.loss, 0, 1);
    snprintf(what, sizeof what, "%s step 1 loss", name);
    check_twin(p, &loss, what);
    compare_param_grads(p, &cpu_net, &gpu_net, name);
    sgd_both(&cpu_net, &gpu_net, 1);
    Twin params = twin_view(cpu_net.params, gpu_net.params, 0, cpu_net.n_params);
    snprintf(what, sizeof what, "%s params after step 1", name);
    check_twin(p, &params, what);
    Twin bn_state = twin_view(cpu_net.bn_state, gpu_net.bn_state, 0, cpu_net.n_bn_state);
    snprintf(what, sizeof what, "%s BN running statistics after step 1", name);
    check_twin(p, &bn_state, what);

    // Step 2 from identical state: all gates open, momentum now carries step 1.
    sync_state(&cpu_net, &gpu_net);
    uint8_t open[16];
    memset(open, 1, sizeof open);
    forward_backward_both(&cpu_net, &gpu_net, open, c->batch);
    snprintf(what, sizeof what, "%s step 2 (all open) loss", name);
    check_twin(p, &loss, what);
    snprintf(what, sizeof what, "%s step 2", name);
    compare_param_grads(p, &cpu_net, &gpu_net, what);
    sgd_both(&cpu_net, &gpu_net, 0);
    snprintf(what, sizeof what, "%s params after step 2 (momentum)", name);
    check_twin(p, &params, what);
    Twin momentum = twin_view(cpu_net.momentum, gpu_net.momentum, 0, cpu_net.n_params);
    snprintf(what, sizeof what, "%s momentum buffer after step 2", name);
    check_twin(p, &momentum, what);

    // Evaluation from identical state: every branch scaled by p_l, running statistics.
    sync_state(&cpu_net, &gpu_net);
    net_forward(&cpu_net, c->batch, NULL, NET_EVAL);
    net_forward(&gpu_net, c->batch, NULL, NET_EVAL);
    snprintf(what, sizeof what, "%s eval logits (p_l-scaled branches)", name);
    check_twin(p, &logits, what);

    net_free(&cpu_net);
    net_free(&gpu_net);
}

// CUDA graphs (--cuda-graphs): the same training on the GPU with every open
// block recorded once per input pointer and replayed, against eager launches.
// Random gates move the block inputs; a precision switch mid-run makes every
// recording stale (and forgets the algorithms), so the re-recording path runs
// too. After each step the recorded net gets the eager net's state, so the
// per-step difference is what is measured (cuDNN's backward-filter algorithms
// may add in a different order; graphs must not change anything else).
static void test_recorded_training(Parity *p, const NetCase *c, const char *name) {
    char err[256], what[160];
    Preset preset;
    Net eager, recorded;
    if (preset_parse(c->preset_text, name, &preset, err, sizeof err) != 0 ||
        net_build(&eager, p->gpu, &preset, c->in_c, c->in_h, c->in_w, c->classes, c->batch, err,
                  sizeof err) != 0 ||
        net_build(&recorded, p->gpu, &preset, c->in_c, c->in_h, c->in_w, c->classes, c->batch,
                  err, sizeof err) != 0) {
        CHECK(p->t, 0, "%s (graphs): %s", name, err);
        return;
    }
    CHECK(p->t, net_enable_recording(&recorded) == 1, "%s: the CUDA backend records", name);
    Rng init_a, init_b, gate_rng;
    rng_seed(&init_a, PARITY_SEED, RNG_STREAM_INIT);
    rng_seed(&init_b, PARITY_SEED, RNG_STREAM_INIT);
    rng_seed(&gate_rng, PARITY_SEED, RNG_STREAM_GATES);
    net_init_params(&eager, &init_a);
    net_init_params(&recorded, &init_b);
    net_set_survival(&eager, "uniform", 0.5);
    const size_t image_count = (size_t)c->batch * c->in_c * c->in_h * c->in_w;
    float *images = malloc(image_count * sizeof(float));
    int32_t labels[16];
    for (size_t i = 0; i < image_count; i++) images[i] = (float)rng_normal(&p->rng);
    for (int b = 0; b < c->batch; b++) labels[b] = (int32_t)rng_below(&p->rng, (uint64_t)c->classes);
    net_set_batch(&eager, images, labels, c->batch);
    net_set_batch(&recorded, images, labels, c->batch);
    free(images);
    uint8_t gates[16];
    double worst_params = 0, worst_loss = 0;
    Twin params = {eager.params, recorded.params, eager.n_params};
    Twin loss = {eager.loss, recorded.loss, 1};
    Net *nets[2] = {&eager, &recorded};
    for (int step = 0; step < 12; step++) {
        net_draw_gates(&eager, &gate_rng, gates);
        if (step == 6) {  // every recording goes stale
            p->gpu->set_precision(p->gpu, "tf32");
            p->gpu->set_precision(p->gpu, "fp32");
        }
        for (int n = 0; n < 2; n++) {
            net_forward(nets[n], c->batch, gates, NET_TRAIN);
            net_backward(nets[n], c->batch);
            net_sgd_step(nets[n], (real)0.1, (real)0.9, (real)1e-4, 1, step == 0);
        }
        double e = twin_relative_error(p, &params);
        if (!(e <= worst_params)) worst_params = e;  // NaN sticks
        e = twin_relative_error(p, &loss);
        if (!(e <= worst_loss)) worst_loss = e;
        p->gpu->copy(p->gpu, recorded.params, eager.params, eager.n_params * sizeof(real));
        p->gpu->copy(p->gpu, recorded.momentum, eager.momentum, eager.n_params * sizeof(real));
        p->gpu->copy(p->gpu, recorded.bn_state, eager.bn_state, eager.n_bn_state * sizeof(real));
    }
    snprintf(what, sizeof what, "%s: graphs vs eager, params (worst step) %.3g, loss %.3g", name,
             worst_params, worst_loss);
    CHECK(p->t, worst_params <= PARITY_TOLERANCE && worst_loss <= PARITY_TOLERANCE, "%s", what);
    printf("test_cuda_parity: %s\n", what);
    long long replays, recordings, eager_runs;
    net_recording_counts(&recorded, &replays, &recordings, &eager_runs);
    printf("test_cuda_parity: %s: %lld block replays, %lld recordings, %lld eager block runs\n",
           name, replays, recordings, eager_runs);
    CHECK(p->t, replays > recorded.n_blocks && recordings > 0,
          "%s: the graphs were used (%lld replays, %lld recordings)", name, replays, recordings);
    net_free(&eager);
    net_free(&recorded);
}

static void test_precision_modes(Parity *p) {
    Backend *gpu = p->gpu;
    CHECK(p->t, gpu->set_precision(gpu, "tf32") == 0, "tf32 must be offered");
    CHECK(p->t, gpu->set_precision(gpu, "fp16") == -1, "fp16 is not offered yet");
    CHECK(p->t, gpu->set_precision(gpu, "bogus") == -1, "an unknown mode must be refused");
    CHECK(p->t, gpu->set_precision(gpu, "fp32") == 0, "fp32 must be offered");
}

static void run_all(TestContext *t, Backend *cpu, Backend *gpu) {
    Parity p = {t, cpu, gpu, {{0}}};
    rng_seed(&p.rng, PARITY_SEED, 0);
    CHECK(t, gpu->set_precision(gpu, "fp32") == 0, "fp32 precision");
    test_convolutions(&p);
    test_batchnorm(&p, 16, 32 * 32, 0.0, "16ch 32x32");
    test_batchnorm(&p, 64, 8 * 8, 3.0, "64ch 8x8 mean 3");
    test_elementwise(&p);
    test_shortcut_a(&p, 16, 32, 32, "16->32 32x32");
    test_shortcut_a(&p, 3, 7, 5, "3->5 7x7 (odd)");
    test_pooling(&p);
    test_fc(&p);
    test_softmax_cross_entropy(&p, 10, 0);
    test_softmax_cross_entropy(&p, 100, 0);
    test_softmax_cross_entropy(&p, 10, 1);
    test_sgd(&p, 0);
    test_sgd(&p, 1);
    test_binary_broadcast(&p);
    test_pad_slice_concat(&p);
    test_softmax(&p);
    test_infer_ops(&p);
    test_gemm(&p);
    test_network(&p, &RESNET20_CASE, "resnet20");
    test_network(&p, &BOTTLENECK_CASE, "bottleneck");
    test_recorded_training(&p, &RESNET20_CASE, "resnet20");
    test_recorded_training(&p, &BOTTLENECK_CASE, "bottleneck");
    test_precision_modes(&p);
    char err[256] = "";
    int status = backend_cuda_error(gpu, err, sizeof err);
    CHECK(t, status == 0, "the CUDA backend recorded an error: %s", err);
}
#endif  // SD_WITH_CUDA

int main(void) {
#ifndef SD_WITH_CUDA
    return test_skip_all("test_cuda_parity", "built without CUDA; make CUDA=1");
#else
    if (backend_cuda_device_count() == 0) {
        return test_skip_all("test_cuda_parity", "no CUDA device");
    }
    TestContext t = {"test_cuda_parity", 0, 0, 0};
    char err[256];
    Backend *cpu = backend_cpu_create(2, err, sizeof err);
    CHECK(&t, cpu != NULL, "cpu backend: %s", err);
    Backend *gpu = cpu ? backend_cuda_create(0, err, sizeof err) : NULL;
    CHECK(&t, !cpu || gpu != NULL, "cuda backend: %s", err);
    if (gpu) {
        char description[512];
        backend_cuda_describe(gpu, description, sizeof description);
        printf("test_cuda_parity: %s\n", description);
    }
    if (cpu && gpu) run_all(&t, cpu, gpu);
    if (gpu) gpu->destroy(gpu);
    if (cpu) cpu->destroy(cpu);
    return test_finish(&t);
#endif
}
