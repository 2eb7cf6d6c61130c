// A sweep of convolution shapes through the CPU backend, aimed at the direct
// stride-1 path (kernels/cpu/conv_direct.c) and, for the stride-2 and mixed-stride
// cases, the im2col path: kernels 1x1..5x5 (square and not), paddings 0..k-1 with
// the bottom/right padding set independently through out_h/out_w (down to
// cropping the image), 1..9 channels, images 1x1..33x17, batches 1, 3, 9, 19 and
// a few of 65+ images (several filter-gradient stacks per partial-sum slot).
//
// Each shape runs the three passes (forward plain, + bias, + fused ReLU, + bias and a
// fused Clip(-0.25, 0.5), + bias, residual and ReLU)
// on backends with 1, 2 and 3 threads and checks:
//   - the 1-thread results against naive double-precision loops written here,
//     max |got - want| / max |want| <= 1e-4 per tensor;
//   - the 2- and 3-thread results bit-identical to the 1-thread ones;
//   - no output element left unwritten (outputs are pre-filled with NaN) and
//     nothing written past the end (a guard band after each output);
//   - the inputs unchanged.
//
// The whole sweep runs once per kernel set this CPU runs (portable, avx2, avx512: the
// backend's run-time choice, forced here), each against the same references.
//
// Usage: test_conv_direct [sampled_shapes [seed]] (defaults: 300 shapes, seed 1),
// so a wider sweep can be run by hand. Under the sanitizers (tests/run.sh sets
// SD_TEST_SANITIZED=1) the default is 120 sampled shapes, the fixed ones all run: the
// plain build samples the full 300, and the summary line says how many ran.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu/cpu_kernels.h"
#include "harness.h"
#include "test_arrays.h"
#include "rng.h"

#define DEFAULT_SHAPES 300
#define SANITIZED_SHAPES 120
#define REL_TOL 1e-4
#define GUARD 16               // reals after each output that no pass may touch
#define GUARD_VALUE 12345.0f   // an unmistakable value, not NaN, so NaN-fill and guard differ
#define MAX_SAMPLED_MACS 1500000  // per pass: keeps the naive loops (and ASan) quick
#define THREAD_VARIANTS 3

typedef struct {
    TestContext *t;
    const char *isa;               // the kernel set under test
    Backend *be[THREAD_VARIANTS];  // 1, 2 and 3 threads; be[0] is the accuracy reference
    Rng rng;
    double worst[8];               // worst normalised error seen per checked output
    int direct_shapes, im2col_shapes;
} Ctx;

enum { OUT_Y, OUT_Y_BIAS, OUT_Y_RELU, OUT_Y_BIAS_CLIP, OUT_Y_RESIDUAL, OUT_Y_IN_PLACE, OUT_DX,
       OUT_DW, OUTPUTS };
static const char *const output_names[OUTPUTS] = {
    "forward", "forward+bias", "forward+relu", "forward+bias+clip(-0.25,0.5)", "+bias+residual+relu",
    "+residual in place", "backward data", "backward filter"};

static size_t x_size(const ConvGeom *g) { return (size_t)g->batch * g->in_c * g->in_h * g->in_w; }
static size_t y_size(const ConvGeom *g) {
    return (size_t)g->batch * g->out_c * g->out_h * g->out_w;
}
static size_t w_size(const ConvGeom *g) {
    return (size_t)g->out_c * g->in_c * g->kernel_h * g->kernel_w;
}
static size_t x_at(const ConvGeom *g, int n, int c, int h, int w) {
    return (((size_t)n * g->in_c + c) * g->in_h + h) * g->in_w + w;
}
static size_t y_at(const ConvGeom *g, int n, int o, int h, int w) {
    return (((size_t)n * g->out_c + o) * g->out_h + h) * g->out_w + w;
}
static size_t w_at(const ConvGeom *g, int o, int c, int i, int j) {
    return (((size_t)o * g->in_c + c) * g->kernel_h + i) * g->kernel_w + j;
}

// ---- naive double-precision references, one loop nest per pass ------------------------------

// y[n][o][oh][ow] = sum_{c,ki,kj} x[n][c][oh*sh - pt + ki][ow*sw - pl + kj] w[o][c][ki][kj]
static void reference_forward(const ConvGeom *g, const real *x, const real *w, double *y) {
    for (int n = 0; n < g->batch; n++)
        for (int o = 0; o < g->out_c; o++)
            for (int oh = 0; oh < g->out_h; oh++)
                for (int ow = 0; ow < g->out_w; ow++) {
                    double sum = 0;
                    for (int c = 0; c < g->in_c; c++)
                        for (int ki = 0; ki < g->kernel_h; ki++) {
                            const int ih = oh * g->stride_h - g->pad_top + ki;
                            if (ih < 0 || ih >= g->in_h) continue;
                            for (int kj = 0; kj < g->kernel_w; kj++) {
                                const int iw = ow * g->stride_w - g->pad_left + kj;
                                if (iw < 0 || iw >= g->in_w) continue;
                                sum += (double)x[x_at(g, n, c, ih, iw)] * w[w_at(g, o, c, ki, kj)];
                            }
                        }
                    y[y_at(g, n, o, oh, ow)] = sum;
                }
}

// Output index reached from input index `in` through tap k, or -1: (in + pad - k) / stride
// when that divides exactly and lies in [0, out).
static int output_through_tap(int in, int pad, int k, int stride, int out) {
    const int offset = in + pad - k;
    if (offset < 0 || offset % stride != 0) return -1;
    return offset / stride < out ? offset / stride : -1;
}

// dx[n][c][ih][iw] = sum over (o, ki, kj) whose output pixel reads (ih, iw) of dy * w:
// gathered per input pixel, unlike the forward loops.
static void reference_backward_data(const ConvGeom *g, const real *w, const real *dy, double *dx) {
    for (int n = 0; n < g->batch; n++)
        for (int c = 0; c < g->in_c; c++)
            for (int ih = 0; ih < g->in_h; ih++)
                for (int iw = 0; iw < g->in_w; iw++) {
                    double sum = 0;
                    for (int o = 0; o < g->out_c; o++)
                        for (int ki = 0; ki < g->kernel_h; ki++) {
                            const int oh = output_through_tap(ih, g->pad_top, ki, g->stride_h, g->out_h);
                            if (oh < 0) continue;
                            for (int kj = 0; kj < g->kernel_w; kj++) {
                                const int ow =
                                    output_through_tap(iw, g->pad_left, kj, g->stride_w, g->out_w);
                                if (ow < 0) continue;
                                sum += (double)dy[y_at(g, n, o, oh, ow)] * w[w_at(g, o, c, ki, kj)];
                            }
                        }
                    dx[x_at(g, n, c, ih, iw)] = sum;
                }
}

// dw[o][c][ki][kj] = sum_{n,oh,ow} dy[n][o][oh][ow] x[n][c][oh*sh - pt + ki][ow*sw - pl + kj]
static void reference_backward_filter(const ConvGeom *g, const real *x, const real *dy, double *dw) {
    for (int o = 0; o < g->out_c; o++)
        for (int c = 0; c < g->in_c; c++)
            for (int ki = 0; ki < g->kernel_h; ki++)
                for (int kj = 0; kj < g->kernel_w; kj++) {
                    double sum = 0;
                    for (int n = 0; n < g->batch; n++)
                        for (int oh = 0; oh < g->out_h; oh++) {
                            const int ih = oh * g->stride_h - g->pad_top + ki;
                            if (ih < 0 || ih >= g->in_h) continue;
                            for (int ow = 0; ow < g->out_w; ow++) {
                                const int iw = ow * g->stride_w - g->pad_left + kj;
                                if (iw < 0 || iw >= g->in_w) continue;
                                sum += (double)dy[y_at(g, n, o, oh, ow)] * x[x_at(g, n, c, ih, iw)];
                            }
                        }
                    dw[w_at(g, o, c, ki, kj)] = sum;
                }
}

// The fused Clip of OUT_Y_BIAS_CLIP: bounds inside the outputs' range, so both clip.
static OutputClamp clip_variant(void) { return clamp_range(-0.25f, 0.5f); }

// want = raw (+ bias[o]) (then clamped).
static void apply_bias_clamp(const ConvGeom *g, const double *raw, const real *bias,
                             OutputClamp clamp, double *want) {
    const size_t plane = (size_t)g->out_h * g->out_w;
    for (size_t i = 0; i < y_size(g); i++) {
        double v = raw[i] + (bias ? bias[(i / plane) % (size_t)g->out_c] : 0.0);
        if (clamp.on && v < clamp.min) v = clamp.min;
        if (clamp.on && v > clamp.max) v = clamp.max;
        want[i] = v;
    }
}

// ---- outputs with NaN fill and a guard band ----------------------------------------------------

typedef struct {
    real *data[THREAD_VARIANTS];  // one buffer per backend, `count` + GUARD reals each
    size_t count;
} Output;

static Output output_new(size_t count) {
    Output out = {{NULL}, count};
    for (int b = 0; b < THREAD_VARIANTS; b++) {
        out.data[b] = checked_calloc(count + GUARD, sizeof(real));
        for (size_t i = 0; i < count; i++) out.data[b][i] = NAN;
        for (size_t i = count; i < count + GUARD; i++) out.data[b][i] = GUARD_VALUE;
    }
    return out;
}

static void output_free(Output *out) {
    for (int b = 0; b < THREAD_VARIANTS; b++) free(out->data[b]);
}

static int guard_intact(const real *data, size_t count) {
    for (size_t i = count; i < count + GUARD; i++)
        if (data[i] != GUARD_VALUE) return 0;
    return 1;
}

// ---- one shape -------------------------------------------------------------------------------

typedef struct {
    ConvGeom g;
    real *x, *w, *dy, *bias, *residual;
    Output out[OUTPUTS];
    char name[160];
} ShapeRun;

static void describe(const ConvGeom *g, char *name, size_t size) {
    snprintf(name, size, "batch %d, %d->%d ch, in %dx%d, out %dx%d, kernel %dx%d, stride %dx%d, pad top %d left %d",
             g->batch, g->in_c, g->out_c, g->in_h, g->in_w, g->out_h, g->out_w, g->kernel_h,
             g->kernel_w, g->stride_h, g->stride_w, g->pad_top, g->pad_left);
}

// All passes and forward variants on every backend.
static void run_backends(Ctx *c, ShapeRun *r) {
    for (int b = 0; b < THREAD_VARIANTS; b++) {
        Backend *be = c->be[b];
        be->conv2d_forward(be, &r->g, r->x, r->w, NULL, NULL, clamp_none(), r->out[OUT_Y].data[b]);
        be->conv2d_forward(be, &r->g, r->x, r->w, r->bias, NULL, clamp_none(), r->out[OUT_Y_BIAS].data[b]);
        be->conv2d_forward(be, &r->g, r->x, r->w, NULL, NULL, clamp_relu(1), r->out[OUT_Y_RELU].data[b]);
        be->conv2d_forward(be, &r->g, r->x, r->w, r->bias, NULL, clip_variant(),
                           r->out[OUT_Y_BIAS_CLIP].data[b]);
        be->conv2d_forward(be, &r->g, r->x, r->w, r->bias, r->residual, clamp_relu(1),
                           r->out[OUT_Y_RESIDUAL].data[b]);
        // In place: y holds the residual when the call starts (sdinfer's fused Add).
        memcpy(r->out[OUT_Y_IN_PLACE].data[b], r->residual, sizeof(real) * y_size(&r->g));
        be->conv2d_forward(be, &r->g, r->x, r->w, NULL, r->out[OUT_Y_IN_PLACE].data[b], clamp_none(),
                           r->out[OUT_Y_IN_PLACE].data[b]);
        be->conv2d_backward_data(be, &r->g, r->w, r->dy, r->out[OUT_DX].data[b]);
        be->conv2d_backward_filter(be, &r->g, r->x, r->dy, r->out[OUT_DW].data[b]);
    }
}

// max |got - want| / max |want| (NaN counts as infinitely wrong); when want is all zero,
// got must be exactly zero.
static double normalised_error(const real *got, const double *want, size_t n) {
    double max_err = 0, max_want = 0;
    for (size_t i = 0; i < n; i++) {
        const double err = fabs((double)got[i] - want[i]);
        if (isnan(got[i])) return INFINITY;
        if (err > max_err) max_err = err;
        if (fabs(want[i]) > max_want) max_want = fabs(want[i]);
    }
    if (max_want == 0) return max_err == 0 ? 0 : INFINITY;
    return max_err / max_want;
}

static size_t first_difference(const real *got, const double *want, size_t n, double tol) {
    for (size_t i = 0; i < n; i++)
        if (isnan(got[i]) || fabs((double)got[i] - want[i]) > tol) return i;
    return 0;
}

static void check_output(Ctx *c, const ShapeRun *r, int which, const double *want) {
    const Output *out = &r->out[which];
    const real *got = out->data[0];
    const double err = normalised_error(got, want, out->count);
    if (err > c->worst[which]) c->worst[which] = err;
    double max_want = 0;
    for (size_t i = 0; i < out->count; i++)
        if (fabs(want[i]) > max_want) max_want = fabs(want[i]);
    const size_t at = first_difference(got, want, out->count, REL_TOL * max_want);
    CHECK(c->t, err <= REL_TOL && guard_intact(got, out->count),
          "%s %s [%s]: normalised error %.3g (first bad element %zu: got %.9g want %.9g), guard %s",
          c->isa, output_names[which], r->name, err, at, (double)got[at], want[at],
          guard_intact(got, out->count) ? "intact" : "OVERWRITTEN");
    for (int b = 1; b < THREAD_VARIANTS; b++)
        CHECK(c->t,
              memcmp(out->data[b], got, sizeof(real) * out->count) == 0 &&
                  guard_intact(out->data[b], out->count),
              "%s [%s]: %d threads bit-identical to 1 thread", output_names[which], r->name, b + 1);
}

static void check_against_references(Ctx *c, const ShapeRun *r) {
    const ConvGeom *g = &r->g;
    double *raw = checked_calloc(y_size(g), sizeof(double));
    double *want = checked_calloc(y_size(g), sizeof(double));
    reference_forward(g, r->x, r->w, raw);
    for (int variant = 0; variant < 4; variant++) {  // OUT_Y .. OUT_Y_BIAS_CLIP
        const OutputClamp clamp = variant == 2 ? clamp_relu(1)
                                  : variant == 3 ? clip_variant() : clamp_none();
        apply_bias_clamp(g, raw, variant & 1 ? r->bias : NULL, clamp, want);
        check_output(c, r, OUT_Y + variant, want);
    }
    for (size_t i = 0; i < y_size(g); i++) raw[i] += r->residual[i];
    apply_bias_clamp(g, raw, r->bias, clamp_relu(1), want);
    check_output(c, r, OUT_Y_RESIDUAL, want);
    apply_bias_clamp(g, raw, NULL, clamp_none(), want);
    check_output(c, r, OUT_Y_IN_PLACE, want);
    free(raw), free(want);
    double *want_dx = checked_calloc(x_size(g), sizeof(double));
    reference_backward_data(g, r->w, r->dy, want_dx);
    check_output(c, r, OUT_DX, want_dx);
    free(want_dx);
    double *want_dw = checked_calloc(w_size(g), sizeof(double));
    reference_backward_filter(g, r->x, r->dy, want_dw);
    check_output(c, r, OUT_DW, want_dw);
    free(want_dw);
}

static void test_shape(Ctx *c, ConvGeom g) {
    ShapeRun r = {.g = g};
    describe(&g, r.name, sizeof r.name);
    r.x = random_array(&c->rng, x_size(&g));
    r.w = random_array(&c->rng, w_size(&g));
    r.dy = random_array(&c->rng, y_size(&g));
    r.bias = random_array(&c->rng, (size_t)g.out_c);
    r.residual = random_array(&c->rng, y_size(&g));
    real *inputs_before[4] = {copy_of(r.x, x_size(&g)), copy_of(r.w, w_size(&g)),
                              copy_of(r.dy, y_size(&g)), copy_of(r.bias, (size_t)g.out_c)};
    for (int k = 0; k < OUTPUTS; k++)
        r.out[k] = output_new(k == OUT_DX ? x_size(&g) : k == OUT_DW ? w_size(&g) : y_size(&g));
    run_backends(c, &r);
    check_against_references(c, &r);
    CHECK(c->t,
          memcmp(inputs_before[0], r.x, sizeof(real) * x_size(&g)) == 0 &&
              memcmp(inputs_before[1], r.w, sizeof(real) * w_size(&g)) == 0 &&
              memcmp(inputs_before[2], r.dy, sizeof(real) * y_size(&g)) == 0 &&
              memcmp(inputs_before[3], r.bias, sizeof(real) * (size_t)g.out_c) == 0,
          "inputs unchanged [%s]", r.name);
    const int direct = g.stride_h == 1 && g.stride_w == 1 &&
                       !(g.kernel_h == 1 && g.kernel_w == 1 && g.pad_top == 0 && g.pad_left == 0 &&
                         g.out_h == g.in_h && g.out_w == g.in_w);
    if (direct) c->direct_shapes++; else c->im2col_shapes++;
    for (int k = 0; k < OUTPUTS; k++) output_free(&r.out[k]);
    for (int k = 0; k < 4; k++) free(inputs_before[k]);
    free(r.x), free(r.w), free(r.dy), free(r.bias), free(r.residual);
}

// ---- the shapes ------------------------------------------------------------------------------

// out = number of outputs when `pad_end` zeros follow the image (pad_end may be negative: crop).
static int outputs_for(int in, int pad_start, int pad_end, int kernel, int stride) {
    const int span = in + pad_start + pad_end - kernel;
    return span < 0 ? 0 : span / stride + 1;
}

// One output extent: half the time the symmetric padding (pad_end = pad_start), otherwise
// anything from 1 to the bottom/right padding of kernel - 1 (cropping included).
static int sample_out_extent(Rng *rng, int in, int pad_start, int kernel, int stride) {
    const int most = outputs_for(in, pad_start, kernel - 1, kernel, stride);
    const int symmetric = outputs_for(in, pad_start, pad_start, kernel, stride);
    if (symmetric >= 1 && rng_below(rng, 2) == 0) return symmetric;
    return 1 + (int)rng_below(rng, (uint64_t)most);
}

static double pass_macs(const ConvGeom *g) {
    return (double)g->batch * g->out_c * g->in_c * g->out_h * g->out_w * g->kernel_h * g->kernel_w;
}

static ConvGeom sample_geometry(Rng *rng) {
    static const int batches[4] = {1, 3, 9, 19};
    ConvGeom g = {0};
    do {
        g.batch = batches[rng_below(rng, 4)];
        g.in_c = 1 + (int)rng_below(rng, 9);
        g.out_c = 1 + (int)rng_below(rng, 9);
        g.kernel_h = 1 + (int)rng_below(rng, 5);
        g.kernel_w = 1 + (int)rng_below(rng, 5);
        // Mostly stride 1 (the direct path); some 2x2 and mixed strides (im2col).
        const uint64_t stride_pick = rng_below(rng, 16);
        g.stride_h = stride_pick == 0 || stride_pick == 1 || stride_pick == 2 ? 2 : 1;
        g.stride_w = stride_pick == 0 || stride_pick == 1 || stride_pick == 3 ? 2 : 1;
        if (rng_below(rng, 8) == 0) {
            g.in_h = 8, g.in_w = 8;  // the ResNet 8x8 stage: the narrow-tile case
        } else {
            g.in_h = 1 + (int)rng_below(rng, 33);
            g.in_w = 1 + (int)rng_below(rng, 17);
        }
        g.pad_top = (int)rng_below(rng, (uint64_t)g.kernel_h);
        g.pad_left = (int)rng_below(rng, (uint64_t)g.kernel_w);
        g.out_h = sample_out_extent(rng, g.in_h, g.pad_top, g.kernel_h, g.stride_h);
        g.out_w = sample_out_extent(rng, g.in_w, g.pad_left, g.kernel_w, g.stride_w);
    } while (pass_macs(&g) > MAX_SAMPLED_MACS);
    return g;
}

// Hand-picked corners the sampler may miss. ConvGeom: batch, in c/h/w, out c/h/w,
// kernel h/w, stride h/w, pad top/left.
static const ConvGeom fixed_shapes[] = {
    {3, 2, 1, 1, 3, 5, 5, 5, 5, 1, 1, 4, 4, 0, 0, 0, 0},       // 1x1 image, all padding
    {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0},       // the smallest (pointwise, im2col path)
    {3, 3, 6, 7, 4, 4, 5, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0},       // 1x1 kernel cropped: direct path
    {3, 3, 6, 7, 4, 8, 9, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},       // 1x1 kernel with padding: direct path
    {9, 9, 8, 8, 7, 8, 8, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0},       // 8x8 narrow tiles, 6 + 1 channel blocks
    {9, 5, 8, 8, 9, 8, 8, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0},       // 8x8, 9 output channels
    {19, 4, 33, 17, 5, 33, 17, 5, 3, 1, 1, 2, 1, 0, 0, 0, 0},  // the largest image, 5x3
    {19, 3, 33, 17, 6, 31, 15, 3, 5, 1, 1, 0, 1, 0, 0, 0, 0},  // 3x5, cropped bottom and right
    {9, 7, 17, 12, 3, 17, 12, 5, 1, 1, 1, 2, 0, 0, 0, 0, 0},   // 5x1
    {9, 3, 12, 17, 5, 12, 17, 1, 5, 1, 1, 0, 2, 0, 0, 0, 0},   // 1x5
    {3, 2, 4, 4, 2, 2, 2, 4, 4, 1, 1, 0, 0, 0, 0, 0, 0},       // kernel the size of the image
    {67, 3, 5, 4, 5, 5, 4, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0},      // 67 images: several stacks per slot
    {73, 2, 3, 6, 9, 3, 6, 2, 4, 1, 1, 1, 2, 0, 0, 0, 0},      // 73 images, even kernel sizes
    {65, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0},      // 65 images of one pixel (im2col)
    // Large enough at batch 1 (> 4M multiply-adds per thread) for the threads to split the
    // image: direct, im2col (stride 2) and pointwise.
    {1, 9, 96, 96, 9, 96, 96, 5, 5, 1, 1, 2, 2, 0, 0, 0, 0},
    {1, 16, 96, 96, 16, 48, 48, 5, 5, 2, 2, 2, 2, 0, 0, 0, 0},
    {2, 64, 64, 64, 48, 64, 64, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0},
    {19, 4, 33, 17, 5, 17, 9, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0},   // stride 2
    {9, 3, 15, 16, 4, 7, 8, 5, 4, 2, 2, 2, 1, 0, 0, 0, 0},     // stride 2, 5x4
    {3, 2, 9, 10, 3, 9, 5, 3, 3, 1, 2, 1, 1, 0, 0, 0, 0},      // stride 1x2
    // Stride 2 over two column blocks (the forward pass builds its columns per block of
    // 256 output positions): 20x19 outputs, the block boundary inside row 13.
    {3, 3, 40, 38, 5, 20, 19, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0},
};

int main(int argc, char **argv) {
    const char *sanitized = getenv("SD_TEST_SANITIZED");
    const int default_shapes = sanitized && strcmp(sanitized, "1") == 0 ? SANITIZED_SHAPES
                                                                        : DEFAULT_SHAPES;
    const int sampled = argc > 1 ? atoi(argv[1]) : default_shapes;
    const unsigned long long seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    TestContext t = {"test_conv_direct", 0, 0, 0};
    const CpuKernels *sets[3];
    const int n_sets = cpu_kernels_available(sets, 3);
    for (int set = 0; set < n_sets; set++) {
        Ctx c = {.t = &t, .isa = sets[set]->isa};
        cpu_backends_by_threads(c.be, THREAD_VARIANTS, c.isa, NULL);
        rng_seed(&c.rng, seed, 11);  // the same shapes and data for every kernel set
        const int fixed = (int)(sizeof fixed_shapes / sizeof fixed_shapes[0]);
        for (int k = 0; k < fixed; k++) test_shape(&c, fixed_shapes[k]);
        for (int k = 0; k < sampled; k++) test_shape(&c, sample_geometry(&c.rng));
        printf("%s kernels: %d shapes (%d fixed, %d sampled, seed %llu): %d stride-1 (direct, "
               "or Winograd where the channels allow), %d im2col\n",
               c.isa, fixed + sampled, fixed, sampled, seed, c.direct_shapes, c.im2col_shapes);
        for (int k = 0; k < OUTPUTS; k++)
            printf("  worst normalised error, %-20s %.3g\n", output_names[k], c.worst[k]);
        backends_destroy(c.be, THREAD_VARIANTS);
    }
    return test_finish(&t);
}
