// Grouped and dilated convolutions through the CPU backend (conv2d_grouped_forward,
// kernels/cpu/conv_grouped.c): the depthwise vector kernel (simd/conv_depthwise.c), the
// dense kernels run per (image, group), and the scalar loop for dilated groups of
// several channels.
//
// The sweep: every combination of kernel 1/3/5, stride 1/2, padding 0/1/2, dilation 1/2
// and channel multiplier 1/2, depthwise and grouped (2 to 24 channels per group), each
// with a random channel count (1..70, most not multiples of 16), odd and even image
// sizes from 1x1 up, bottom/right padding between 0 and the top/left one, batch 1 or 7;
// plus fixed corners (large enough for the threads to split one group, a 112x112
// plane, stride-2 rows of every length around the vector widths).
//
// Each shape runs on backends with 1, 2 and 3 threads and checks:
//   - the 1-thread result against a double-precision loop written here,
//     max |got - want| <= 1e-4 * max(1, max |want|), and never NaN (outputs are
//     pre-filled with NaN, so an output left unwritten fails);
//   - the 2- and 3-thread results bit-identical to the 1-thread one;
//   - nothing written past the output (a guard band), the inputs unchanged.
// The shapes take turns at the epilogue sdinfer fuses into the step: none, + residual,
// ReLU, Clip(-0.25, 0.5), + residual then ReLU6; the reference applies it in double
// after its sum, and a clamp must have clipped at least one output (both bounds, Clip).
// The whole sweep runs once per kernel set this CPU runs (portable, avx2, avx512).
//
// Usage: test_conv_grouped [repeats [seed]] (defaults 2 and 1): random draws per
// combination (more for a wider sweep by hand), and the seed.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu/cpu_kernels.h"
#include "harness.h"
#include "test_arrays.h"
#include "rng.h"

#define REL_TOL 1e-4
#define GUARD 16
#define GUARD_VALUE 12345.0f
#define THREAD_VARIANTS 3
#define MAX_SAMPLED_MACS 400000  // per random shape
#define EPILOGUES 5
#define DEFAULT_REPEATS 2  // random draws per combination of kernel, stride, pad, dilation, multiplier

typedef struct {
    ConvGeom g;
    int groups, dilation_h, dilation_w;
} Shape;

typedef struct {
    TestContext *t;
    const char *isa;
    Backend *be[THREAD_VARIANTS];  // 1, 2, 3 threads
    Rng rng;
    double worst;
    int depthwise_shapes, dense_group_shapes, scalar_shapes;
    int shapes;                         // so far: picks each shape's epilogue
    int epilogue_shapes[EPILOGUES];     // shapes run with each epilogue
    int clipped_low, clipped_high;      // outputs the clamps clipped, over all shapes
} Ctx;

// The epilogue of a shape: the residual (or none) and the clamp.
typedef struct {
    const char *name;
    int residual;
    OutputClamp clamp;
} Epilogue;

static Epilogue epilogue_of(int shape_index) {
    switch (shape_index % EPILOGUES) {
    case 1: return (Epilogue){"+residual", 1, clamp_none()};
    case 2: return (Epilogue){"+relu", 0, clamp_relu(1)};
    case 3: return (Epilogue){"+clip(-0.25,0.5)", 0, clamp_range(-0.25f, 0.5f)};
    case 4: return (Epilogue){"+residual+relu6", 1, clamp_range(0, 6)};
    default: return (Epilogue){"", 0, clamp_none()};
    }
}

// The reference epilogue in double, counting what the clamp clipped.
static void reference_epilogue(Ctx *c, const Epilogue *e, const real *residual, size_t n,
                               double *want) {
    for (size_t i = 0; i < n; i++) {
        double v = want[i] + (e->residual ? (double)residual[i] : 0.0);
        if (e->clamp.on && v < e->clamp.min) v = e->clamp.min, c->clipped_low++;
        if (e->clamp.on && v > e->clamp.max) v = e->clamp.max, c->clipped_high++;
        want[i] = v;
    }
}

static size_t x_size(const ConvGeom *g) { return (size_t)g->batch * g->in_c * g->in_h * g->in_w; }
static size_t y_size(const ConvGeom *g) {
    return (size_t)g->batch * g->out_c * g->out_h * g->out_w;
}
static size_t w_size(const Shape *s) {
    return (size_t)s->g.out_c * (s->g.in_c / s->groups) * s->g.kernel_h * s->g.kernel_w;
}

static void describe(const Shape *s, char *out, size_t len) {
    const ConvGeom *g = &s->g;
    snprintf(out, len,
             "batch %d, %d -> %d channels in %d groups, %dx%d -> %dx%d, kernel %dx%d, stride "
             "%dx%d, pad %d/%d, dilation %dx%d",
             g->batch, g->in_c, g->out_c, s->groups, g->in_h, g->in_w, g->out_h, g->out_w,
             g->kernel_h, g->kernel_w, g->stride_h, g->stride_w, g->pad_top, g->pad_left,
             s->dilation_h, s->dilation_w);
}

// y[n][o][i][j] = bias[o] + sum over the group's input channels c and taps (ki, kj) of
// w[o][c][ki][kj] * x[n][group * in_per_group + c][i*sh - pt + ki*dh][j*sw - pl + kj*dw].
static void reference(const Shape *s, const real *x, const real *w, const real *bias,
                      double *want) {
    const ConvGeom *g = &s->g;
    const int in_per_group = g->in_c / s->groups, out_per_group = g->out_c / s->groups;
    size_t at = 0;
    for (int n = 0; n < g->batch; n++)
        for (int o = 0; o < g->out_c; o++) {
            const int first_c = o / out_per_group * in_per_group;
            for (int i = 0; i < g->out_h; i++)
                for (int j = 0; j < g->out_w; j++) {
                    double sum = bias[o];
                    for (int c = 0; c < in_per_group; c++)
                        for (int ki = 0; ki < g->kernel_h; ki++) {
                            const int r = i * g->stride_h - g->pad_top + ki * s->dilation_h;
                            if (r < 0 || r >= g->in_h) continue;
                            for (int kj = 0; kj < g->kernel_w; kj++) {
                                const int col = j * g->stride_w - g->pad_left + kj * s->dilation_w;
                                if (col < 0 || col >= g->in_w) continue;
                                const size_t xi =
                                    (((size_t)n * g->in_c + first_c + c) * g->in_h + r) * g->in_w +
                                    col;
                                const size_t wi =
                                    (((size_t)o * in_per_group + c) * g->kernel_h + ki) *
                                        g->kernel_w + kj;
                                sum += (double)w[wi] * (double)x[xi];
                            }
                        }
                    want[at++] = sum;
                }
        }
}

static real *output_new(size_t n) {
    real *y = checked_calloc(n + GUARD, sizeof(real));
    for (size_t i = 0; i < n; i++) y[i] = (real)NAN;
    for (size_t i = n; i < n + GUARD; i++) y[i] = GUARD_VALUE;
    return y;
}

static int guard_intact(const real *y, size_t n) {
    for (size_t i = n; i < n + GUARD; i++)
        if (y[i] != GUARD_VALUE) return 0;
    return 1;
}

static void check_accuracy(Ctx *c, const Shape *s, const char *name, const real *got,
                           const double *want) {
    const size_t n = y_size(&s->g);
    double scale = 1, worst = 0;
    size_t worst_at = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(want[i]) > scale) scale = fabs(want[i]);
    for (size_t i = 0; i < n; i++) {
        const double err = fabs((double)got[i] - want[i]) / scale;
        if (!(err <= worst)) worst = isnan(err) ? INFINITY : err, worst_at = i;
    }
    if (worst > c->worst) c->worst = worst;
    CHECK(c->t, worst <= REL_TOL,
          "%s kernels, 1 thread: normalised error %.3g at output %zu (got %.8g, want %.8g) [%s]",
          c->isa, worst, worst_at, n ? (double)got[worst_at] : 0.0, n ? want[worst_at] : 0.0,
          name);
}

static void test_shape(Ctx *c, const Shape *s) {
    const ConvGeom *g = &s->g;
    char name[300];
    const int index = c->shapes++;
    const Epilogue e = epilogue_of(index);
    c->epilogue_shapes[index % EPILOGUES]++;
    describe(s, name, sizeof name);
    strncat(name, e.name, sizeof name - strlen(name) - 1);
    real *x = random_array(&c->rng, x_size(g)), *w = random_array(&c->rng, w_size(s));
    real *bias = random_array(&c->rng, (size_t)g->out_c);
    real *residual = e.residual ? random_array(&c->rng, y_size(g)) : NULL;
    real *x_before = copy_of(x, x_size(g)), *w_before = copy_of(w, w_size(s));
    real *bias_before = copy_of(bias, (size_t)g->out_c);
    double *want = checked_calloc(y_size(g), sizeof(double));
    reference(s, x, w, bias, want);
    reference_epilogue(c, &e, residual, y_size(g), want);
    real *y[THREAD_VARIANTS];
    for (int b = 0; b < THREAD_VARIANTS; b++) {
        y[b] = output_new(y_size(g));
        c->be[b]->conv2d_grouped_forward(c->be[b], g, s->groups, s->dilation_h, s->dilation_w, x,
                                         w, bias, residual, e.clamp, y[b]);
        CHECK(c->t, guard_intact(y[b], y_size(g)), "%s kernels, %d threads: wrote past the output [%s]",
              c->isa, b + 1, name);
    }
    check_accuracy(c, s, name, y[0], want);
    for (int b = 1; b < THREAD_VARIANTS; b++)
        CHECK(c->t, memcmp(y[0], y[b], sizeof(real) * y_size(g)) == 0,
              "%s kernels: %d threads differ from 1 thread [%s]", c->isa, b + 1, name);
    CHECK(c->t,
          memcmp(x, x_before, sizeof(real) * x_size(g)) == 0 &&
              memcmp(w, w_before, sizeof(real) * w_size(s)) == 0 &&
              memcmp(bias, bias_before, sizeof(real) * (size_t)g->out_c) == 0,
          "%s kernels: inputs unchanged [%s]", c->isa, name);
    if (g->in_c == s->groups)
        c->depthwise_shapes++;
    else if (s->dilation_h == 1 && s->dilation_w == 1)
        c->dense_group_shapes++;
    else
        c->scalar_shapes++;
    for (int b = 0; b < THREAD_VARIANTS; b++) free(y[b]);
    free(x), free(w), free(bias), free(x_before), free(w_before), free(bias_before), free(want);
    free(residual);
}

// ---- the shapes ----------------------------------------------------------------------------

static int outputs_for(int in, int pad_start, int pad_end, int span, int stride) {
    const int room = in + pad_start + pad_end - span;
    return room < 0 ? 0 : room / stride + 1;
}

// An image extent with at least one output, and the output extent for a bottom/right
// padding drawn from 0..pad_start.
static void sample_extent(Rng *rng, int pad, int kernel, int dilation, int stride, int *in,
                          int *out) {
    const int span = (kernel - 1) * dilation + 1;
    do {
        *in = 1 + (int)rng_below(rng, 19);
        *out = outputs_for(*in, pad, (int)rng_below(rng, (uint64_t)pad + 1), span, stride);
    } while (*out < 1);
}

static const int kernels[3] = {1, 3, 5}, pads[3] = {0, 1, 2};

// Combination `combo` of kernel, stride, pad, dilation and multiplier, as depthwise
// (depthwise = 1) or with several channels per group.
static double shape_macs(const Shape *s) {
    const ConvGeom *g = &s->g;
    return (double)g->batch * g->out_c * (g->in_c / s->groups) * g->out_h * g->out_w *
           g->kernel_h * g->kernel_w;
}

static Shape sample_once(Rng *rng, int combo, int depthwise) {
    const int kernel = kernels[combo % 3], stride = 1 + combo / 3 % 2, pad = pads[combo / 6 % 3];
    const int dilation = 1 + combo / 18 % 2, multiplier = 1 + combo / 36 % 2;
    Shape s = {.dilation_h = dilation, .dilation_w = dilation};
    ConvGeom *g = &s.g;
    g->batch = rng_below(rng, 3) == 0 ? 7 : 1;
    const int per_group = depthwise ? 1 : 2 + (int)rng_below(rng, 23);  // 2..24
    s.groups = depthwise ? 1 + (int)rng_below(rng, 70) : 2 + (int)rng_below(rng, 4);
    g->in_c = s.groups * per_group;
    g->out_c = g->in_c * multiplier;
    // Either kernel extent may be 1 (k x 1 and 1 x k kernels).
    g->kernel_h = rng_below(rng, 5) == 0 ? 1 : kernel;
    g->kernel_w = kernel;
    g->stride_h = g->stride_w = stride;
    if (rng_below(rng, 6) == 0) g->stride_h = 3 - stride;  // mixed strides
    g->pad_top = pad < g->kernel_h ? pad : g->kernel_h - 1;
    g->pad_left = pad < g->kernel_w ? pad : g->kernel_w - 1;
    sample_extent(rng, g->pad_top, g->kernel_h, dilation, g->stride_h, &g->in_h, &g->out_h);
    sample_extent(rng, g->pad_left, g->kernel_w, dilation, g->stride_w, &g->in_w, &g->out_w);
    return s;
}

// A draw small enough for the double-precision loops (and ASan) to stay quick.
static Shape sample_shape(Rng *rng, int combo, int depthwise) {
    Shape s;
    do s = sample_once(rng, combo, depthwise);
    while (shape_macs(&s) > MAX_SAMPLED_MACS);
    return s;
}

// Hand-picked corners. ConvGeom: batch, in c/h/w, out c/h/w, kernel h/w, stride h/w, pad
// top/left; then groups, dilation h/w.
static const Shape fixed_shapes[] = {
    {{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0}, 1, 1, 1},          // the smallest
    {{1, 32, 112, 112, 32, 112, 112, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0}, 32, 1, 1}, // MobileNet's first
    {{1, 24, 57, 57, 24, 28, 28, 5, 5, 2, 2, 1, 1, 0, 0, 0, 0}, 24, 1, 1},   // odd, stride 2, 5x5
    {{2, 17, 9, 67, 34, 5, 33, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0}, 17, 1, 1},     // rows of 33 (stride 2)
    {{1, 5, 5, 70, 5, 1, 31, 3, 3, 4, 2, 0, 0, 0, 0, 0, 0}, 5, 2, 2},      // 4x2 stride, dilation 2
    {{1, 3, 7, 7, 3, 9, 9, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}, 3, 1, 1},        // 1x1, padding only
    {{7, 67, 9, 11, 134, 5, 6, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0}, 67, 1, 1},   // 67 channels x 2, batch 7
    {{1, 65, 13, 15, 65, 13, 15, 5, 5, 1, 1, 4, 4, 0, 0, 0, 0}, 65, 2, 2}, // 65 channels, dilated 5x5
    // Two groups at batch 1 on 3 threads, each large enough (> 4M multiply-adds per
    // thread) for the dense code to split it: the items then run one after another.
    {{1, 64, 48, 48, 64, 48, 48, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0}, 2, 1, 1},
    {{1, 48, 48, 48, 48, 24, 24, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0}, 2, 1, 1},  // stride 2 (im2col)
    {{7, 48, 14, 14, 48, 14, 14, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0}, 3, 1, 1},  // grouped 1x1 (GEMM)
    {{7, 48, 14, 14, 96, 14, 14, 3, 3, 1, 1, 2, 2, 0, 0, 0, 0}, 4, 2, 2},  // dilated: scalar loop
};

static void run_sweep(Ctx *c, int repeats) {
    const int fixed = (int)(sizeof fixed_shapes / sizeof fixed_shapes[0]);
    for (int k = 0; k < fixed; k++) test_shape(c, &fixed_shapes[k]);
    for (int combo = 0; combo < 72; combo++)
        for (int repeat = 0; repeat < repeats; repeat++)
            for (int depthwise = 0; depthwise < 2; depthwise++) {
                const Shape s = sample_shape(&c->rng, combo, depthwise);
                test_shape(c, &s);
            }
}

// One dense pointwise convolution through the matrix product on every backend first, so
// that the backend's per-thread matrix-product scratch exists before the grouped calls:
// the per-group views must then use their own threads' slots of it (views that all took
// slot 0 raced, and the 2- and 3-thread results differed from the reference).
static void use_dense_product_first(Ctx *c) {
    const ConvGeom g = {1, 8, 9, 9, 16, 9, 9, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0};
    real *x = checked_calloc(8 * 81, sizeof(real)), *w = checked_calloc(16 * 8, sizeof(real));
    real *y = checked_calloc(16 * 81, sizeof(real));
    for (int b = 0; b < THREAD_VARIANTS; b++)
        c->be[b]->conv2d_forward(c->be[b], &g, x, w, NULL, NULL, clamp_none(), y);
    free(x), free(w), free(y);
}

int main(int argc, char **argv) {
    const int repeats = argc > 1 ? atoi(argv[1]) : DEFAULT_REPEATS;
    const unsigned long long seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    TestContext t = {"test_conv_grouped", 0, 0, 0};
    const CpuKernels *sets[3];
    const int n_sets = cpu_kernels_available(sets, 3);
    for (int set = 0; set < n_sets; set++) {
        Ctx c = {.t = &t, .isa = sets[set]->isa};
        cpu_backends_by_threads(c.be, THREAD_VARIANTS, c.isa, NULL);
        rng_seed(&c.rng, seed, 12);  // the same shapes and data for every kernel set
        use_dense_product_first(&c);
        run_sweep(&c, repeats);
        CHECK(&t, c.clipped_low > 0 && c.clipped_high > 0,
              "%s kernels: the clamps clipped %d outputs below and %d above (both must)", c.isa,
              c.clipped_low, c.clipped_high);
        printf("%s kernels: %d depthwise, %d grouped as dense, %d dilated grouped (scalar) "
               "shapes (%d draws per combination, seed %llu); worst normalised error %.3g; "
               "epilogues none/residual/relu/clip/residual+relu6 on %d/%d/%d/%d/%d shapes\n",
               c.isa, c.depthwise_shapes, c.dense_group_shapes, c.scalar_shapes, repeats, seed,
               c.worst, c.epilogue_shapes[0], c.epilogue_shapes[1], c.epilogue_shapes[2],
               c.epilogue_shapes[3], c.epilogue_shapes[4]);
        backends_destroy(c.be, THREAD_VARIANTS);
    }
    return test_finish(&t);
}
