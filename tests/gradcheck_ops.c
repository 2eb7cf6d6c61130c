// Finite-difference gradient checks of every CPU op that has a backward, in
// double precision (this file is built with real = double), plus forward checks
// against naive loops written here.
//
// Each check uses the scalar loss L = sum(weights * y) with random weights, so
// every output element contributes, and compares the op's backward (fed
// dy = weights) with the central difference (L(p + h) - L(p - h)) / 2h for
// every element p of every input. Backward outputs are pre-filled with NaN so
// an op that accumulates instead of overwriting fails.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu/cpu_kernels.h"
#include "harness.h"
#include "rng.h"

#ifndef SD_REAL_DOUBLE
#error "gradcheck_ops.c must be built with -DSD_REAL_DOUBLE (the Makefile does this)"
#endif

#define GRAD_RTOL 1e-6
#define GRAD_ATOL 1e-8
#define STEP 1e-5

typedef struct {
    TestContext *t;
    Backend *be;
    Rng rng;
} Ctx;

static real *new_array(size_t n) {
    real *p = calloc(n ? n : 1, sizeof(real));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static real *random_array(Ctx *c, size_t n, double lo, double hi) {
    real *p = new_array(n);
    for (size_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * rng_uniform(&c->rng);
    return p;
}

static real *nan_array(size_t n) {
    real *p = new_array(n);
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

// One CHECK per tensor: the worst element of |got - want| <= atol + rtol * |want|.
static void check_tensor(Ctx *c, const char *what, const real *got, const real *want, size_t n,
                         double rtol, double atol) {
    size_t bad = 0, worst_i = 0;
    double worst_excess = -INFINITY;  // error minus tolerance; > 0 fails
    for (size_t i = 0; i < n; i++) {
        const double excess = fabs(got[i] - want[i]) - (atol + rtol * fabs(want[i]));
        const int ok = !isnan(got[i]) && !isnan(want[i]) && excess <= 0;
        if (!ok) bad++;
        if (!ok || excess > worst_excess) {
            worst_excess = ok ? excess : INFINITY;
            worst_i = i;
        }
    }
    CHECK(c->t, n > 0 && bad == 0,
          "%s: %zu of %zu elements off; worst element %zu: got %.12g want %.12g", what, bad, n,
          worst_i, n ? (double)got[worst_i] : 0.0, n ? (double)want[worst_i] : 0.0);
}

// ---- the generic finite-difference check ----------------------------------------

// An op under test: computes y from inputs that the closure points at.
typedef void (*ForwardFn)(void *op, real *y);

static double weighted_sum(const real *weights, const real *y, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += weights[i] * y[i];
    return sum;
}

// Compares analytic[i] with dL/dparam[i] for all i. Also insists the gradient
// is not trivially zero, so that a check of nothing cannot pass.
static void check_gradient(Ctx *c, const char *what, ForwardFn forward, void *op, real *param,
                           size_t n, const real *analytic, const real *weights, size_t ny) {
    real *y = new_array(ny);
    real *numeric = new_array(n);
    double largest = 0;
    for (size_t i = 0; i < n; i++) {
        const real saved = param[i];
        param[i] = saved + STEP;
        forward(op, y);
        const double up = weighted_sum(weights, y, ny);
        param[i] = saved - STEP;
        forward(op, y);
        const double down = weighted_sum(weights, y, ny);
        param[i] = saved;
        numeric[i] = (up - down) / (2 * STEP);
        if (fabs(numeric[i]) > largest) largest = fabs(numeric[i]);
    }
    char label[256];
    snprintf(label, sizeof label, "%.200s (analytic vs finite difference)", what);
    check_tensor(c, label, analytic, numeric, n, GRAD_RTOL, GRAD_ATOL);
    CHECK(c->t, largest > 1e-3, "%s: the finite-difference gradient is ~0 (max %.3g): test is vacuous",
          what, largest);
    free(y);
    free(numeric);
}

// ---- convolution --------------------------------------------------------------------

typedef struct {
    Backend *be;
    ConvGeom g;
    real *x, *w, *bias;
    int fuse_relu;
} ConvOp;

static void conv_forward(void *op, real *y) {
    ConvOp *o = op;
    o->be->conv2d_forward(o->be, &o->g, o->x, o->w, o->bias, NULL, clamp_relu(o->fuse_relu), y);
}

static size_t conv_x_size(const ConvGeom *g) {
    return (size_t)g->batch * g->in_c * g->in_h * g->in_w;
}
static size_t conv_y_size(const ConvGeom *g) {
    return (size_t)g->batch * g->out_c * g->out_h * g->out_w;
}
static size_t conv_w_size(const ConvGeom *g) {
    return (size_t)g->out_c * g->in_c * g->kernel_h * g->kernel_w;
}

// The definition of a convolution, one output element at a time.
static void naive_conv(const ConvGeom *g, const real *x, const real *w, const real *bias,
                       int fuse_relu, real *y) {
    for (int n = 0; n < g->batch; n++)
        for (int o = 0; o < g->out_c; o++)
            for (int oh = 0; oh < g->out_h; oh++)
                for (int ow = 0; ow < g->out_w; ow++) {
                    double sum = bias ? bias[o] : 0;
                    for (int ci = 0; ci < g->in_c; ci++)
                        for (int ki = 0; ki < g->kernel_h; ki++)
                            for (int kj = 0; kj < g->kernel_w; kj++) {
                                int ih = oh * g->stride_h - g->pad_top + ki;
                                int iw = ow * g->stride_w - g->pad_left + kj;
                                if (ih < 0 || ih >= g->in_h || iw < 0 || iw >= g->in_w) continue;
                                sum += x[((size_t)(n * g->in_c + ci) * g->in_h + ih) * g->in_w + iw] *
                                       w[((size_t)(o * g->in_c + ci) * g->kernel_h + ki) *
                                             g->kernel_w + kj];
                            }
                    if (fuse_relu && sum < 0) sum = 0;
                    y[((size_t)(n * g->out_c + o) * g->out_h + oh) * g->out_w + ow] = sum;
                }
}

static ConvGeom make_conv(int batch, int in_c, int in_h, int in_w, int out_c, int kernel,
                          int stride, int pad) {
    ConvGeom g = {batch, in_c, in_h, in_w, out_c, 0, 0, kernel, kernel, stride, stride, pad, pad, 0, 0, 0, 0};
    g.out_h = (in_h + 2 * pad - kernel) / stride + 1;
    g.out_w = (in_w + 2 * pad - kernel) / stride + 1;
    return g;
}

static void test_conv(Ctx *c, Backend *be, const char *how, const char *name, ConvGeom g) {
    char label[160];
    ConvOp op = {be, g, random_array(c, conv_x_size(&g), -1, 1),
                 random_array(c, conv_w_size(&g), -1, 1), NULL, 0};
    const size_t ny = conv_y_size(&g);
    real *weights = random_array(c, ny, -1, 1);
    real *y = new_array(ny), *want = new_array(ny);
    real *bias = random_array(c, (size_t)g.out_c, -0.5, 0.5);

    // Forward, plain and with bias + fused ReLU, against the definition.
    for (int variant = 0; variant < 2; variant++) {
        real *b = variant ? bias : NULL;
        be->conv2d_forward(be, &g, op.x, op.w, b, NULL, clamp_relu(variant), y);
        naive_conv(&g, op.x, op.w, b, variant, want);
        snprintf(label, sizeof label, "conv %s forward%s [%s]", name,
                 variant ? " +bias +relu" : "", how);
        check_tensor(c, label, y, want, ny, 1e-12, 1e-12);
    }

    real *dx = nan_array(conv_x_size(&g)), *dw = nan_array(conv_w_size(&g));
    be->conv2d_backward_data(be, &g, op.w, weights, dx);
    be->conv2d_backward_filter(be, &g, op.x, weights, dw);
    snprintf(label, sizeof label, "conv %s dx [%s]", name, how);
    check_gradient(c, label, conv_forward, &op, op.x, conv_x_size(&g), dx, weights, ny);
    snprintf(label, sizeof label, "conv %s dw [%s]", name, how);
    check_gradient(c, label, conv_forward, &op, op.w, conv_w_size(&g), dw, weights, ny);

    free(op.x), free(op.w), free(weights), free(y), free(want), free(bias), free(dx), free(dw);
}

static void test_convolutions(Ctx *c, Backend *be3) {
    struct {
        const char *name;
        ConvGeom g;
    } cases[] = {
        {"3x3 s1 p1 6x5", make_conv(2, 3, 6, 5, 4, 3, 1, 1)},
        {"3x3 s2 p1 7x6", make_conv(2, 3, 7, 6, 4, 3, 2, 1)},
        {"1x1 s1 p0 5x4", make_conv(2, 3, 5, 4, 5, 1, 1, 0)},
        {"1x1 s2 p0 5x6", make_conv(2, 3, 5, 6, 4, 1, 2, 0)},
        {"7x7 s2 p3 9x8", make_conv(2, 2, 9, 8, 3, 7, 2, 3)},
        {"3x3 s1 p1 batch 5", make_conv(5, 2, 4, 3, 3, 3, 1, 1)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        test_conv(c, c->be, "threads 2", cases[i].name, cases[i].g);  // images in parallel
        test_conv(c, be3, "threads 3", cases[i].name, cases[i].g);    // > batch 2: split images
    }
    // Asymmetric padding: bottom/right padding implied by out_h/out_w (here none).
    ConvGeom g = make_conv(2, 2, 6, 6, 3, 3, 2, 1);
    g.out_h = 2, g.out_w = 2;  // (6 + 1 - 3) / 2 + 1: top/left pad 1, bottom/right pad 0
    test_conv(c, c->be, "threads 2", "3x3 s2 pad top/left only", g);
    // Everything different along H and W: a 3x2 kernel, strides 1x2, padding 2x0.
    ConvGeom odd = {2, 2, 5, 6, 3, 7, 3, 3, 2, 1, 2, 2, 0, 0, 0, 0, 0};
    test_conv(c, c->be, "threads 2", "3x2 kernel, stride 1x2, pad 2x0", odd);
    test_conv(c, be3, "threads 3", "3x2 kernel, stride 1x2, pad 2x0", odd);
    // Winograd F(2x2) and F(4x4), forced, for every kernel set this CPU runs: 8 channels
    // are a multiple of every set's double lanes (the default choice takes them only
    // for channel counts of 16 and more with AVX-512). Image sizes leave partial tiles.
    const CpuKernels *sets[3];
    const int n_sets = cpu_kernels_available(sets, 3);
    static const char *const algorithms[] = {"winograd2", "winograd4"};
    for (int set = 0; set < n_sets; set++)
        for (int a = 0; a < 2; a++) {
            char err[256], how[64];
            const CpuBackendOptions options = {2, sets[set]->isa, algorithms[a]};
            Backend *be = backend_cpu_create_with(&options, err, sizeof err);
            CHECK(c->t, be != NULL, "backend %s %s: %s", sets[set]->isa, algorithms[a], err);
            if (!be) continue;
            snprintf(how, sizeof how, "%s %s, threads 2", sets[set]->isa, algorithms[a]);
            test_conv(c, be, how, "3x3 s1 p1 8->8 ch 6x5 batch 2", make_conv(2, 8, 6, 5, 8, 3, 1, 1));
            test_conv(c, be, how, "3x3 s1 p1 8->16 ch 5x7 batch 3", make_conv(3, 8, 5, 7, 16, 3, 1, 1));
            be->destroy(be);
        }
}

// ---- batch normalisation ----------------------------------------------------------------

typedef struct {
    Backend *be;
    BatchNormGeom g;
    real *x, *gamma, *beta;
    real *running_mean, *running_var, *save_mean, *save_invstd;
} BnOp;

#define BN_EPS 1e-5
#define BN_MOMENTUM 0.1

static void bn_forward(void *op, real *y) {
    BnOp *o = op;
    o->be->batchnorm_forward_train(o->be, &o->g, o->x, o->gamma, o->beta, BN_MOMENTUM, BN_EPS,
                                   o->running_mean, o->running_var, o->save_mean, o->save_invstd,
                                   y);
}

static void test_batchnorm(Ctx *c) {
    const BatchNormGeom g = {3, 2, 5};  // batch, channels, spatial
    const size_t n = (size_t)g.batch * g.channels * g.spatial, count = (size_t)g.batch * g.spatial;
    BnOp op = {c->be, g, random_array(c, n, -1, 3), random_array(c, 2, 0.5, 1.5),
               random_array(c, 2, -0.5, 0.5), new_array(2), new_array(2), new_array(2),
               new_array(2)};
    real *weights = random_array(c, n, -1, 1), *y = new_array(n), *want = new_array(n);
    const real initial_mean[2] = {0.25, -0.5}, initial_var[2] = {1.5, 0.75};

    // Forward and running statistics against a hand computation.
    memcpy(op.running_mean, initial_mean, sizeof initial_mean);
    memcpy(op.running_var, initial_var, sizeof initial_var);
    bn_forward(&op, y);
    real want_mean[2], want_invstd[2], want_rmean[2], want_rvar[2];
    for (int ch = 0; ch < g.channels; ch++) {
        double sum = 0, sq = 0;
        for (int b = 0; b < g.batch; b++)
            for (int s = 0; s < g.spatial; s++) sum += op.x[(b * g.channels + ch) * g.spatial + s];
        const double mean = sum / count;
        for (int b = 0; b < g.batch; b++)
            for (int s = 0; s < g.spatial; s++) {
                double d = op.x[(b * g.channels + ch) * g.spatial + s] - mean;
                sq += d * d;
            }
        const double var_biased = sq / count, var_unbiased = sq / (count - 1);
        want_mean[ch] = mean;
        want_invstd[ch] = 1 / sqrt(var_biased + BN_EPS);
        want_rmean[ch] = (1 - BN_MOMENTUM) * initial_mean[ch] + BN_MOMENTUM * mean;
        want_rvar[ch] = (1 - BN_MOMENTUM) * initial_var[ch] + BN_MOMENTUM * var_unbiased;
        for (int b = 0; b < g.batch; b++)
            for (int s = 0; s < g.spatial; s++) {
                size_t i = (b * g.channels + ch) * g.spatial + s;
                want[i] = op.gamma[ch] * (op.x[i] - mean) * want_invstd[ch] + op.beta[ch];
            }
    }
    check_tensor(c, "bn train forward y", y, want, n, 1e-12, 1e-12);
    check_tensor(c, "bn save_mean", op.save_mean, want_mean, 2, 1e-12, 1e-12);
    check_tensor(c, "bn save_invstd = 1/sqrt(biased var + eps)", op.save_invstd, want_invstd, 2,
                 1e-12, 1e-12);
    check_tensor(c, "bn running_mean update", op.running_mean, want_rmean, 2, 1e-12, 1e-12);
    check_tensor(c, "bn running_var update (unbiased)", op.running_var, want_rvar, 2, 1e-12, 1e-12);

    // Eval mode uses the running statistics.
    c->be->batchnorm_forward_eval(c->be, &g, op.x, op.gamma, op.beta, initial_mean, initial_var,
                                  BN_EPS, y);
    for (size_t i = 0; i < n; i++) {
        int ch = (int)(i / g.spatial) % g.channels;
        want[i] = op.gamma[ch] * (op.x[i] - initial_mean[ch]) / sqrt(initial_var[ch] + BN_EPS) +
                  op.beta[ch];
    }
    check_tensor(c, "bn eval forward", y, want, n, 1e-12, 1e-12);

    // Gradients through the batch statistics.
    bn_forward(&op, y);
    real *dx = nan_array(n), *dgamma = nan_array(2), *dbeta = nan_array(2);
    c->be->batchnorm_backward(c->be, &g, op.x, weights, op.gamma, op.save_mean, op.save_invstd,
                              BN_EPS, dx, dgamma, dbeta);
    check_gradient(c, "bn train dx", bn_forward, &op, op.x, n, dx, weights, n);
    check_gradient(c, "bn train dgamma", bn_forward, &op, op.gamma, 2, dgamma, weights, n);
    check_gradient(c, "bn train dbeta", bn_forward, &op, op.beta, 2, dbeta, weights, n);

    free(op.x), free(op.gamma), free(op.beta), free(op.running_mean), free(op.running_var);
    free(op.save_mean), free(op.save_invstd), free(weights), free(y), free(want);
    free(dx), free(dgamma), free(dbeta);
}

// ---- ReLU and the residual merge ----------------------------------------------------------

typedef struct {
    Backend *be;
    size_t n;
    real *x;
} ReluOp;

static void relu_fwd(void *op, real *y) {
    ReluOp *o = op;
    o->be->relu_forward(o->be, o->n, o->x, y);
}

// Values at least 0.05 away from the kink, of both signs.
static real *away_from_zero(Ctx *c, size_t n) {
    real *p = random_array(c, n, 0.05, 1);
    for (size_t i = 0; i < n; i++)
        if (rng_uniform(&c->rng) < 0.5) p[i] = -p[i];
    return p;
}

static void test_relu(Ctx *c) {
    const size_t n = 40;
    ReluOp op = {c->be, n, away_from_zero(c, n)};
    real *weights = random_array(c, n, -1, 1), *y = new_array(n), *want = new_array(n);
    relu_fwd(&op, y);
    for (size_t i = 0; i < n; i++) want[i] = op.x[i] > 0 ? op.x[i] : 0;
    check_tensor(c, "relu forward", y, want, n, 0, 0);
    real *dx = nan_array(n);
    c->be->relu_backward(c->be, n, y, weights, dx);
    check_gradient(c, "relu dx", relu_fwd, &op, op.x, n, dx, weights, n);
    free(op.x), free(weights), free(y), free(want), free(dx);
}

typedef struct {
    Backend *be;
    size_t n;
    real scale;
    real *branch, *shortcut;
} ResidualOp;

static void residual_fwd(void *op, real *y) {
    ResidualOp *o = op;
    o->be->residual_forward(o->be, o->n, o->scale, o->branch, o->shortcut, y);
}

static void test_residual(Ctx *c) {
    const size_t n = 40;
    ResidualOp op = {c->be, n, 0.7, random_array(c, n, -1, 1), new_array(n)};
    real *sum = away_from_zero(c, n);  // the pre-ReLU value, chosen away from the kink
    for (size_t i = 0; i < n; i++) op.shortcut[i] = sum[i] - op.scale * op.branch[i];
    real *weights = random_array(c, n, -1, 1), *y = new_array(n), *want = new_array(n);
    residual_fwd(&op, y);
    for (size_t i = 0; i < n; i++) {
        double v = 0.7 * op.branch[i] + op.shortcut[i];
        want[i] = v > 0 ? v : 0;
    }
    check_tensor(c, "residual forward", y, want, n, 1e-14, 1e-14);
    // The merge's backward is relu_backward on its output, then branch_scale on the branch side.
    real *dshortcut = nan_array(n), *dbranch = new_array(n);
    c->be->relu_backward(c->be, n, y, weights, dshortcut);
    for (size_t i = 0; i < n; i++) dbranch[i] = op.scale * dshortcut[i];
    check_gradient(c, "residual dshortcut", residual_fwd, &op, op.shortcut, n, dshortcut, weights, n);
    check_gradient(c, "residual dbranch (scale 0.7)", residual_fwd, &op, op.branch, n, dbranch,
                   weights, n);
    free(op.branch), free(op.shortcut), free(sum), free(weights), free(y), free(want);
    free(dshortcut), free(dbranch);
}

// ---- option-A shortcut -------------------------------------------------------------------------

typedef struct {
    Backend *be;
    int batch, in_c, in_h, in_w, out_c;
    real *x;
} ShortcutOp;

static void shortcut_fwd(void *op, real *y) {
    ShortcutOp *o = op;
    o->be->shortcut_a_forward(o->be, o->batch, o->in_c, o->in_h, o->in_w, o->out_c, o->x, y);
}

static void test_shortcut(Ctx *c, int batch, int in_c, int in_h, int in_w, int out_c) {
    char label[160];
    ShortcutOp op = {c->be, batch, in_c, in_h, in_w, out_c, NULL};
    const int out_h = in_h / 2, out_w = in_w / 2;
    const size_t nx = (size_t)batch * in_c * in_h * in_w, ny = (size_t)batch * out_c * out_h * out_w;
    op.x = random_array(c, nx, -1, 1);
    real *weights = random_array(c, ny, -1, 1), *y = nan_array(ny), *want = new_array(ny);
    shortcut_fwd(&op, y);
    for (int n = 0; n < batch; n++)
        for (int ch = 0; ch < out_c; ch++)
            for (int oh = 0; oh < out_h; oh++)
                for (int ow = 0; ow < out_w; ow++) {
                    double v = 0;
                    if (ch < in_c) {
                        const real *p = op.x + ((size_t)(n * in_c + ch) * in_h) * in_w;
                        v = (p[2 * oh * in_w + 2 * ow] + p[2 * oh * in_w + 2 * ow + 1] +
                             p[(2 * oh + 1) * in_w + 2 * ow] + p[(2 * oh + 1) * in_w + 2 * ow + 1]) /
                            4;
                    }
                    want[((size_t)(n * out_c + ch) * out_h + oh) * out_w + ow] = v;
                }
    snprintf(label, sizeof label, "shortcut A forward %dx%d %d->%d", in_h, in_w, in_c, out_c);
    check_tensor(c, label, y, want, ny, 1e-14, 1e-14);
    // Accumulates: start dx from random values and subtract them afterwards.
    real *before = random_array(c, nx, -1, 1), *dx = new_array(nx);
    memcpy(dx, before, nx * sizeof(real));
    c->be->shortcut_a_backward_accumulate(c->be, batch, in_c, in_h, in_w, out_c, weights, dx);
    for (size_t i = 0; i < nx; i++) dx[i] -= before[i];
    snprintf(label, sizeof label, "shortcut A dx %dx%d %d->%d", in_h, in_w, in_c, out_c);
    check_gradient(c, label, shortcut_fwd, &op, op.x, nx, dx, weights, ny);
    free(op.x), free(weights), free(y), free(want), free(before), free(dx);
}

// ---- pooling -------------------------------------------------------------------------------------

typedef struct {
    Backend *be;
    int batch, channels, spatial;
    real *x;
} GapOp;

static void gap_fwd(void *op, real *y) {
    GapOp *o = op;
    o->be->global_avgpool_forward(o->be, o->batch, o->channels, o->spatial, o->x, y);
}

static void test_global_avgpool(Ctx *c) {
    GapOp op = {c->be, 2, 3, 7, NULL};
    const size_t nx = 2 * 3 * 7, ny = 2 * 3;
    op.x = random_array(c, nx, -1, 1);
    real *weights = random_array(c, ny, -1, 1), *y = new_array(ny), *want = new_array(ny);
    gap_fwd(&op, y);
    for (size_t p = 0; p < ny; p++) {
        double sum = 0;
        for (int s = 0; s < 7; s++) sum += op.x[p * 7 + s];
        want[p] = sum / 7;
    }
    check_tensor(c, "global avgpool forward", y, want, ny, 1e-14, 1e-14);
    real *dx = nan_array(nx);
    c->be->global_avgpool_backward(c->be, 2, 3, 7, weights, dx);
    check_gradient(c, "global avgpool dx", gap_fwd, &op, op.x, nx, dx, weights, ny);
    free(op.x), free(weights), free(y), free(want), free(dx);
}

typedef struct {
    Backend *be;
    PoolGeom g;
    real *x;
} MaxPoolOp;

static void maxpool_fwd(void *op, real *y) {
    MaxPoolOp *o = op;
    o->be->maxpool_forward(o->be, &o->g, o->x, y);
}

static void naive_maxpool(const PoolGeom *g, const real *x, real *y) {
    for (int p = 0; p < g->batch * g->channels; p++)
        for (int oh = 0; oh < g->out_h; oh++)
            for (int ow = 0; ow < g->out_w; ow++) {
                double best = -INFINITY;
                for (int ki = 0; ki < g->kernel_h; ki++)
                    for (int kj = 0; kj < g->kernel_w; kj++) {
                        int ih = oh * g->stride_h - g->pad_top + ki;
                        int iw = ow * g->stride_w - g->pad_left + kj;
                        if (ih < 0 || ih >= g->in_h || iw < 0 || iw >= g->in_w) continue;
                        double v = x[((size_t)p * g->in_h + ih) * g->in_w + iw];
                        if (v > best) best = v;
                    }
                y[((size_t)p * g->out_h + oh) * g->out_w + ow] = best;
            }
}

static void test_maxpool(Ctx *c, const char *name, PoolGeom g) {
    char label[160];
    MaxPoolOp op = {c->be, g, NULL};
    const size_t nx = (size_t)g.batch * g.channels * g.in_h * g.in_w;
    const size_t ny = (size_t)g.batch * g.channels * g.out_h * g.out_w;
    // Distinct values 0.01 apart (a shuffled ramp): no ties, and a step of 1e-5
    // never changes which element is the maximum.
    op.x = new_array(nx);
    uint32_t *order = malloc(nx * sizeof *order);
    for (size_t i = 0; i < nx; i++) order[i] = (uint32_t)i;
    rng_shuffle_u32(&c->rng, order, (uint32_t)nx);
    for (size_t i = 0; i < nx; i++) op.x[i] = 0.01 * order[i] - 0.3;
    free(order);
    real *weights = random_array(c, ny, -1, 1), *y = new_array(ny), *want = new_array(ny);
    maxpool_fwd(&op, y);
    naive_maxpool(&g, op.x, want);
    snprintf(label, sizeof label, "maxpool %s forward", name);
    check_tensor(c, label, y, want, ny, 0, 0);
    real *dx = nan_array(nx);
    c->be->maxpool_backward(c->be, &g, op.x, y, weights, dx);
    snprintf(label, sizeof label, "maxpool %s dx", name);
    check_gradient(c, label, maxpool_fwd, &op, op.x, nx, dx, weights, ny);
    free(op.x), free(weights), free(y), free(want), free(dx);
}

// A window of equal values sends its whole gradient to the first of them.
static void test_maxpool_ties(Ctx *c) {
    PoolGeom g = {1, 1, 2, 4, 1, 2, 2, 2, 2, 2, 0, 0, 0};
    real x[8] = {5, 5, 1, 7, 5, 5, 7, 7}, y[2], dy[2] = {1.5, -2}, dx[8];
    c->be->maxpool_forward(c->be, &g, x, y);
    c->be->maxpool_backward(c->be, &g, x, y, dy, dx);
    real want[8] = {1.5, 0, 0, -2, 0, 0, 0, 0};
    check_tensor(c, "maxpool backward routes ties to the first maximum", dx, want, 8, 0, 0);
}

// ---- fully connected ------------------------------------------------------------------------------

typedef struct {
    Backend *be;
    int batch, in_f, out_f;
    real *x, *w, *bias;
} FcOp;

static void fc_fwd(void *op, real *y) {
    FcOp *o = op;
    o->be->fc_forward(o->be, o->batch, o->in_f, o->out_f, o->x, o->w, o->bias, y);
}

static void test_fc(Ctx *c) {
    FcOp op = {c->be, 3, 5, 4, NULL, NULL, NULL};
    const size_t nx = 15, nw = 20, ny = 12;
    op.x = random_array(c, nx, -1, 1);
    op.w = random_array(c, nw, -1, 1);
    op.bias = random_array(c, 4, -1, 1);
    real *weights = random_array(c, ny, -1, 1), *y = new_array(ny), *want = new_array(ny);
    fc_fwd(&op, y);
    for (int b = 0; b < 3; b++)
        for (int o = 0; o < 4; o++) {
            double sum = op.bias[o];
            for (int i = 0; i < 5; i++) sum += op.x[b * 5 + i] * op.w[o * 5 + i];
            want[b * 4 + o] = sum;
        }
    check_tensor(c, "fc forward", y, want, ny, 1e-14, 1e-14);
    real *dx = nan_array(nx), *dw = nan_array(nw), *dbias = nan_array(4);
    c->be->fc_backward(c->be, 3, 5, 4, op.x, op.w, weights, dx, dw, dbias);
    check_gradient(c, "fc dx", fc_fwd, &op, op.x, nx, dx, weights, ny);
    check_gradient(c, "fc dw", fc_fwd, &op, op.w, nw, dw, weights, ny);
    check_gradient(c, "fc dbias", fc_fwd, &op, op.bias, 4, dbias, weights, ny);
    // dx = NULL skips dx but still writes dw and dbias.
    real *dw2 = nan_array(nw), *dbias2 = nan_array(4);
    c->be->fc_backward(c->be, 3, 5, 4, op.x, op.w, weights, NULL, dw2, dbias2);
    check_tensor(c, "fc backward with dx = NULL: dw", dw2, dw, nw, 0, 0);
    check_tensor(c, "fc backward with dx = NULL: dbias", dbias2, dbias, 4, 0, 0);
    free(op.x), free(op.w), free(op.bias), free(weights), free(y), free(want);
    free(dx), free(dw), free(dbias), free(dw2), free(dbias2);
}

// ---- softmax cross-entropy --------------------------------------------------------------------------

typedef struct {
    Backend *be;
    int batch, classes;
    real *logits;
    int32_t *labels;
    real *scratch_grad;
} LossOp;

// Its output is the scalar loss itself (weights = {1}).
static void loss_fwd(void *op, real *y) {
    LossOp *o = op;
    o->be->softmax_cross_entropy(o->be, o->batch, o->classes, o->logits, o->labels,
                                 o->scratch_grad, y);
}

static void test_softmax_cross_entropy(Ctx *c) {
    LossOp op = {c->be, 3, 5, NULL, NULL, new_array(15)};
    int32_t labels[3] = {4, 0, 2};
    op.labels = labels;
    op.logits = random_array(c, 15, -2, 2);
    real one = 1, loss = NAN, *dlogits = nan_array(15);
    c->be->softmax_cross_entropy(c->be, 3, 5, op.logits, labels, dlogits, &loss);
    double want = 0;
    for (int b = 0; b < 3; b++) {
        double sum = 0;
        for (int j = 0; j < 5; j++) sum += exp(op.logits[b * 5 + j]);
        want += -log(exp(op.logits[b * 5 + labels[b]]) / sum);
    }
    want /= 3;
    CHECK_CLOSE(c->t, loss, want, 1e-13, 1e-14, "softmax cross-entropy loss");
    check_gradient(c, "softmax cross-entropy dlogits", loss_fwd, &op, op.logits, 15, dlogits, &one,
                   1);
    // Huge logits must not overflow exp(): row 0 is right with certainty (loss 0),
    // row 1 wrong with certainty (loss 1000), so the mean is 500.
    real big[4] = {1000, 0, 0, 1000}, dbig[4];
    int32_t big_labels[2] = {0, 0};
    c->be->softmax_cross_entropy(c->be, 2, 2, big, big_labels, dbig, &loss);
    CHECK_CLOSE(c->t, loss, 500.0, 1e-12, 0, "softmax cross-entropy with logits of 1000");
    CHECK_CLOSE(c->t, dbig[1], 0.0, 0, 1e-300, "dlogits with logits of 1000 (b0, j1)");
    CHECK_CLOSE(c->t, dbig[2], -0.5, 1e-12, 0, "dlogits with logits of 1000 (b1, j0)");
    CHECK_CLOSE(c->t, dbig[3], 0.5, 1e-12, 0, "dlogits with logits of 1000 (b1, j1)");
    free(op.logits), free(op.scratch_grad), free(dlogits);
}

int main(void) {
    TestContext t = {"gradcheck_ops", 0, 0, 0};
    char err[256];
    Ctx c = {&t, backend_cpu_create(2, err, sizeof err), {{0}}};
    Backend *be3 = backend_cpu_create(3, err, sizeof err);
    if (!c.be || !be3) {
        fprintf(stderr, "backend_cpu_create: %s\n", err);
        return 1;
    }
    rng_seed(&c.rng, 1234, 99);

    test_convolutions(&c, be3);
    test_batchnorm(&c);
    test_relu(&c);
    test_residual(&c);
    test_shortcut(&c, 2, 2, 4, 6, 4);  // even H/W, channels doubled
    test_shortcut(&c, 2, 3, 5, 7, 5);  // odd H/W: the last row and column are dropped
    test_global_avgpool(&c);
    test_maxpool(&c, "k3 s2 p1 7x6 (overlapping, padded)",
                 (PoolGeom){2, 2, 7, 6, 4, 3, 3, 3, 2, 2, 1, 1, 0});
    test_maxpool(&c, "k2 s2 p0 6x6", (PoolGeom){2, 2, 6, 6, 3, 3, 2, 2, 2, 2, 0, 0, 0});
    test_maxpool_ties(&c);
    test_fc(&c);
    test_softmax_cross_entropy(&c);

    c.be->destroy(c.be);
    be3->destroy(be3);
    return test_finish(&t);
}
