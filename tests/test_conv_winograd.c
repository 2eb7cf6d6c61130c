// The CPU backend's fast convolution paths against double-precision loops, for every
// kernel set this CPU runs (portable, avx2, avx512) and every algorithm
// (direct, Winograd F(2x2, 3x3), F(4x4, 3x3)), on the shapes the fast paths take:
// stride-1 3x3 convolutions with channel counts that are multiples of 16 (1..64+),
// images 1x1..33x33 (odd sizes, partial tiles), paddings 0..2 (cropped bottom/right
// included), batches 1, 3 and 7, through
//   - the forward pass plain, + bias, + bias + ReLU, + residual (also in place);
//   - the backward data pass (the same kernels with flipped weights);
//   - the backward filter pass (Winograd's own: input tiles against the output
//     gradient's tiles, summed over tiles and images in a fixed number of slots);
// and checks, per (kernel set, algorithm):
//   - max |got - want| / max |want| within the bound of the algorithm (1e-5 direct,
//     1e-4 Winograd; the worst seen is printed: the measured error of each variant);
//   - 2 and 3 threads bit-identical to 1 thread (the split of an image's tiles and
//     channels between threads changes nothing);
//   - no output element left unwritten (NaN fill) and inputs unchanged;
//   - with ConvGeom.constant_weights (sdinfer), results identical to per-call weights,
//     also after the weights' buffer is reused for another geometry.
// And the chosen paths against each other: direct avx2 and avx512 forward results
// bit-identical (same FMA order), which shows the dispatch really switched kernels.
//
// Usage: test_conv_winograd [sampled_shapes [seed [max_fixed_macs]]] (defaults: 40 shapes,
// seed 3, every fixed shape). max_fixed_macs leaves out the fixed shapes with more
// multiply-adds (tools/cross_test.sh under emulation: the thread splits they exist for
// are the same code on every target, tested natively with the portable kernels too).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu/cpu_kernels.h"
#include "harness.h"
#include "test_arrays.h"
#include "rng.h"

#define DEFAULT_SHAPES 40
#define MAX_SETS 3
#define THREAD_VARIANTS 3
#define MAX_SAMPLED_MACS 4000000

static const char *const algorithms[] = {"direct", "winograd2", "winograd4"};
static const double bounds[] = {1e-5, 1e-4, 1e-4};
enum { ALGORITHMS = 3 };

enum { OUT_Y, OUT_BIAS, OUT_BIAS_CLIP, OUT_RESIDUAL, OUT_IN_PLACE, OUT_DX, OUT_DW, OUTPUTS };
static const char *const output_names[OUTPUTS] = {"forward", "+bias", "+bias+clip(-0.25,0.5)",
                                                  "+residual+relu", "residual in place",
                                                  "backward data", "backward filter"};

typedef struct {
    TestContext *t;
    int n_sets;
    const CpuKernels *sets[MAX_SETS];
    Backend *be[MAX_SETS][ALGORITHMS][THREAD_VARIANTS];
    double worst[MAX_SETS][ALGORITHMS][OUTPUTS];
    Rng rng;
} Ctx;

static real *nan_array(size_t n) {
    real *p = checked_calloc(n, sizeof(real));
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

static size_t x_size(const ConvGeom *g) { return (size_t)g->batch * g->in_c * g->in_h * g->in_w; }
static size_t y_size(const ConvGeom *g) {
    return (size_t)g->batch * g->out_c * g->out_h * g->out_w;
}
static size_t w_size(const ConvGeom *g) { return (size_t)g->out_c * g->in_c * 9; }
static double macs(const ConvGeom *g) {
    return (double)g->batch * g->in_c * g->out_c * g->out_h * g->out_w * 9;
}

// ---- double-precision references ------------------------------------------------------------

static void reference_forward(const ConvGeom *g, const real *x, const real *w, double *y) {
    for (int n = 0; n < g->batch; n++)
        for (int o = 0; o < g->out_c; o++)
            for (int i = 0; i < g->out_h; i++)
                for (int j = 0; j < g->out_w; j++) {
                    double sum = 0;
                    for (int c = 0; c < g->in_c; c++)
                        for (int ki = 0; ki < 3; ki++) {
                            const int r = i - g->pad_top + ki;
                            if (r < 0 || r >= g->in_h) continue;
                            for (int kj = 0; kj < 3; kj++) {
                                const int s = j - g->pad_left + kj;
                                if (s < 0 || s >= g->in_w) continue;
                                sum += (double)x[(((size_t)n * g->in_c + c) * g->in_h + r) * g->in_w + s] *
                                       w[(((size_t)o * g->in_c + c) * 3 + ki) * 3 + kj];
                            }
                        }
                    y[(((size_t)n * g->out_c + o) * g->out_h + i) * g->out_w + j] = sum;
                }
}

static void reference_backward_data(const ConvGeom *g, const real *w, const real *dy, double *dx) {
    memset(dx, 0, sizeof(double) * x_size(g));
    for (int n = 0; n < g->batch; n++)
        for (int o = 0; o < g->out_c; o++)
            for (int i = 0; i < g->out_h; i++)
                for (int j = 0; j < g->out_w; j++) {
                    const double d = dy[(((size_t)n * g->out_c + o) * g->out_h + i) * g->out_w + j];
                    for (int c = 0; c < g->in_c; c++)
                        for (int ki = 0; ki < 3; ki++) {
                            const int r = i - g->pad_top + ki;
                            if (r < 0 || r >= g->in_h) continue;
                            for (int kj = 0; kj < 3; kj++) {
                                const int s = j - g->pad_left + kj;
                                if (s < 0 || s >= g->in_w) continue;
                                dx[(((size_t)n * g->in_c + c) * g->in_h + r) * g->in_w + s] +=
                                    d * w[(((size_t)o * g->in_c + c) * 3 + ki) * 3 + kj];
                            }
                        }
                }
}

static void reference_backward_filter(const ConvGeom *g, const real *x, const real *dy,
                                      double *dw) {
    memset(dw, 0, sizeof(double) * w_size(g));
    for (int n = 0; n < g->batch; n++)
        for (int o = 0; o < g->out_c; o++)
            for (int i = 0; i < g->out_h; i++)
                for (int j = 0; j < g->out_w; j++) {
                    const double d = dy[(((size_t)n * g->out_c + o) * g->out_h + i) * g->out_w + j];
                    for (int c = 0; c < g->in_c; c++)
                        for (int ki = 0; ki < 3; ki++) {
                            const int r = i - g->pad_top + ki;
                            if (r < 0 || r >= g->in_h) continue;
                            for (int kj = 0; kj < 3; kj++) {
                                const int s = j - g->pad_left + kj;
                                if (s < 0 || s >= g->in_w) continue;
                                dw[(((size_t)o * g->in_c + c) * 3 + ki) * 3 + kj] +=
                                    d * x[(((size_t)n * g->in_c + c) * g->in_h + r) * g->in_w + s];
                            }
                        }
                }
}

// max |got - want| / max |scale|; NaN is infinitely wrong. scale is want itself, except
// for a clamped output: there the unclamped one (the clamp hides the scale of the
// convolution whose rounding the error is).
static double normalised_error(const real *got, const double *want, const double *scale,
                               size_t n) {
    double max_err = 0, max_want = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i])) return INFINITY;
        const double err = fabs((double)got[i] - want[i]);
        if (err > max_err) max_err = err;
        if (fabs(scale[i]) > max_want) max_want = fabs(scale[i]);
    }
    return max_want == 0 ? (max_err == 0 ? 0 : INFINITY) : max_err / max_want;
}

// ---- one shape --------------------------------------------------------------------------------

typedef struct {
    ConvGeom g;
    real *x, *w, *bias, *residual, *dy;
    double *want[OUTPUTS];
    char name[160];
} Shape;

// A fused Clip whose bounds lie inside the outputs' range: both bounds clip.
static OutputClamp clip_variant(void) { return clamp_range(-0.25f, 0.5f); }

// The six outputs of one backend into out[OUTPUTS].
static void run_backend(Backend *be, const Shape *s, real *out[OUTPUTS]) {
    const ConvGeom *g = &s->g;
    be->conv2d_forward(be, g, s->x, s->w, NULL, NULL, clamp_none(), out[OUT_Y]);
    be->conv2d_forward(be, g, s->x, s->w, s->bias, NULL, clamp_none(), out[OUT_BIAS]);
    be->conv2d_forward(be, g, s->x, s->w, s->bias, NULL, clip_variant(), out[OUT_BIAS_CLIP]);
    be->conv2d_forward(be, g, s->x, s->w, s->bias, s->residual, clamp_relu(1), out[OUT_RESIDUAL]);
    memcpy(out[OUT_IN_PLACE], s->residual, sizeof(real) * y_size(g));
    be->conv2d_forward(be, g, s->x, s->w, NULL, out[OUT_IN_PLACE], clamp_none(), out[OUT_IN_PLACE]);
    be->conv2d_backward_data(be, g, s->w, s->dy, out[OUT_DX]);
    be->conv2d_backward_filter(be, g, s->x, s->dy, out[OUT_DW]);
}

static size_t output_size(const ConvGeom *g, int which) {
    return which == OUT_DX ? x_size(g) : which == OUT_DW ? w_size(g) : y_size(g);
}

static void make_references(Shape *s) {
    const ConvGeom *g = &s->g;
    const size_t plane = (size_t)g->out_h * g->out_w, count = y_size(g);
    for (int k = 0; k < OUTPUTS; k++) s->want[k] = checked_calloc(output_size(g, k), sizeof(double));
    reference_forward(g, s->x, s->w, s->want[OUT_Y]);
    for (size_t i = 0; i < count; i++) {
        const double raw = s->want[OUT_Y][i], b = s->bias[(i / plane) % (size_t)g->out_c];
        s->want[OUT_BIAS][i] = raw + b;
        const double clip_min = clip_variant().min, clip_max = clip_variant().max;
        s->want[OUT_BIAS_CLIP][i] = raw + b < clip_min   ? clip_min
                                    : raw + b > clip_max ? clip_max
                                                         : raw + b;
        const double with_residual = raw + b + s->residual[i];
        s->want[OUT_RESIDUAL][i] = with_residual > 0 ? with_residual : 0;
        s->want[OUT_IN_PLACE][i] = raw + s->residual[i];
    }
    reference_backward_data(g, s->w, s->dy, s->want[OUT_DX]);
    reference_backward_filter(g, s->x, s->dy, s->want[OUT_DW]);
}

static void check_shape(Ctx *c, Shape *s) {
    const ConvGeom *g = &s->g;
    real *out[THREAD_VARIANTS][OUTPUTS], *direct_avx2[OUTPUTS] = {NULL};
    for (int set = 0; set < c->n_sets; set++)
        for (int a = 0; a < ALGORITHMS; a++) {
            for (int v = 0; v < THREAD_VARIANTS; v++) {
                for (int k = 0; k < OUTPUTS; k++) out[v][k] = nan_array(output_size(g, k));
                run_backend(c->be[set][a][v], s, out[v]);
            }
            for (int k = 0; k < OUTPUTS; k++) {
                const size_t n = output_size(g, k);
                const int unclamped = k == OUT_BIAS_CLIP ? OUT_BIAS : k;
                const double err = normalised_error(out[0][k], s->want[k], s->want[unclamped], n);
                if (err > c->worst[set][a][k]) c->worst[set][a][k] = err;
                CHECK(c->t, err <= bounds[a], "%s %s %s [%s]: normalised error %.3g > %.0e",
                      c->sets[set]->isa, algorithms[a], output_names[k], s->name, err, bounds[a]);
                for (int v = 1; v < THREAD_VARIANTS; v++)
                    CHECK(c->t, memcmp(out[v][k], out[0][k], sizeof(real) * n) == 0,
                          "%s %s %s [%s]: %d threads bit-identical to 1", c->sets[set]->isa,
                          algorithms[a], output_names[k], s->name, v + 1);
            }
            const int is_direct_avx2 = a == 0 && strcmp(c->sets[set]->isa, "avx2") == 0;
            const int is_direct_avx512 = a == 0 && strcmp(c->sets[set]->isa, "avx512") == 0;
            for (int k = 0; k < OUTPUTS; k++) {
                if (is_direct_avx512 && direct_avx2[k] && k != OUT_DX && k != OUT_DW)
                    CHECK(c->t,
                          memcmp(out[0][k], direct_avx2[k], sizeof(real) * output_size(g, k)) == 0,
                          "direct %s [%s]: avx512 bit-identical to avx2", output_names[k], s->name);
                for (int v = 1; v < THREAD_VARIANTS; v++) free(out[v][k]);
                if (is_direct_avx2) direct_avx2[k] = out[0][k];
                else free(out[0][k]);
            }
        }
    for (int k = 0; k < OUTPUTS; k++) free(direct_avx2[k]);
}

// The same convolution with ConvGeom.constant_weights: the transformed weights are kept
// and must give the per-call results; a second geometry on the same weight buffer must
// not be served the first one's transform.
static void check_constant_weights(Ctx *c, const Shape *s) {
    ConvGeom g = s->g, fixed = s->g;
    fixed.constant_weights = 1;
    Backend *be = c->be[c->n_sets - 1][ALGORITHMS - 1][1];
    const size_t n = y_size(&g);
    real *per_call = nan_array(n), *kept = nan_array(n), *again = nan_array(n);
    be->conv2d_forward(be, &g, s->x, s->w, s->bias, NULL, clamp_relu(1), per_call);
    be->conv2d_forward(be, &fixed, s->x, s->w, s->bias, NULL, clamp_relu(1), kept);
    be->conv2d_forward(be, &fixed, s->x, s->w, s->bias, NULL, clamp_relu(1), again);
    CHECK(c->t, memcmp(per_call, kept, sizeof(real) * n) == 0 &&
                    memcmp(per_call, again, sizeof(real) * n) == 0,
          "constant weights [%s]: identical to transforming them at every call", s->name);
    free(per_call), free(kept), free(again);
}

// [n][c][p] <-> [n][p][c] over `planes` images of `channels` x `pixels`.
static void to_channels_last(const real *x, int planes, int channels, int pixels, real *out) {
    for (int n = 0; n < planes; n++)
        for (int ch = 0; ch < channels; ch++)
            for (int p = 0; p < pixels; p++)
                out[((size_t)n * pixels + p) * channels + ch] = x[((size_t)n * channels + ch) * pixels + p];
}
static void to_channels_first(const real *x, int planes, int channels, int pixels, real *out) {
    for (int n = 0; n < planes; n++)
        for (int ch = 0; ch < channels; ch++)
            for (int p = 0; p < pixels; p++)
                out[((size_t)n * channels + ch) * pixels + p] = x[((size_t)n * pixels + p) * channels + ch];
}

// Channels-last operands (sdinfer keeps activations NHWC between Winograd
// convolutions): every combination of input, output and residual layouts, the
// residual separate and in place (also in the other layout than the output: the
// output overwrites a residual it reads in another order), gives the NCHW call's
// bits, for every kernel set, both Winograd variants and 1-3 threads; the direct
// algorithm refuses channels-last operands.
static void check_channels_last(Ctx *c, const Shape *s) {
    const ConvGeom *g = &s->g;
    const size_t nx = x_size(g), ny = y_size(g);
    const int in_pixels = g->in_h * g->in_w, out_pixels = g->out_h * g->out_w;
    real *want = nan_array(ny), *y = nan_array(ny), *got = nan_array(ny);
    real *x_last = nan_array(nx), *residual_last = nan_array(ny);
    to_channels_last(s->x, g->batch, g->in_c, in_pixels, x_last);
    to_channels_last(s->residual, g->batch, g->out_c, out_pixels, residual_last);
    for (int set = 0; set < c->n_sets; set++) {
        Backend *direct = c->be[set][0][0];
        CHECK(c->t, direct->conv2d_channels_last(direct, g) == 0,
              "%s direct [%s]: channels-last refused", c->sets[set]->isa, s->name);
        for (int a = 1; a < ALGORITHMS; a++)
            for (int v = 0; v < THREAD_VARIANTS; v++) {
                Backend *be = c->be[set][a][v];
                CHECK(c->t, be->conv2d_channels_last(be, g) == 1, "%s %s [%s]: channels-last taken",
                      c->sets[set]->isa, algorithms[a], s->name);
                be->conv2d_forward(be, g, s->x, s->w, s->bias, s->residual, clip_variant(), want);
                for (int layout = 1; layout < 8; layout++)
                    for (int in_place = 0; in_place < 2; in_place++) {
                        ConvGeom lg = *g;
                        lg.in_channels_last = layout & 1;
                        lg.out_channels_last = layout >> 1 & 1;
                        lg.residual_channels_last = layout >> 2 & 1;
                        const real *residual = lg.residual_channels_last ? residual_last : s->residual;
                        for (size_t i = 0; i < ny; i++) y[i] = NAN;
                        if (in_place) memcpy(y, residual, sizeof(real) * ny), residual = y;
                        be->conv2d_forward(be, &lg, lg.in_channels_last ? x_last : s->x, s->w,
                                           s->bias, residual, clip_variant(), y);
                        if (lg.out_channels_last)
                            to_channels_first(y, g->batch, g->out_c, out_pixels, got);
                        else
                            memcpy(got, y, sizeof(real) * ny);
                        CHECK(c->t, memcmp(got, want, sizeof(real) * ny) == 0,
                              "%s %s %d threads [%s]: in %s, out %s, residual %s%s: the NCHW bits",
                              c->sets[set]->isa, algorithms[a], v + 1, s->name,
                              lg.in_channels_last ? "NHWC" : "NCHW",
                              lg.out_channels_last ? "NHWC" : "NCHW",
                              lg.residual_channels_last ? "NHWC" : "NCHW", in_place ? " in place" : "");
                    }
            }
    }
    free(want), free(y), free(got), free(x_last), free(residual_last);
}

// layouts: also check_channels_last (the hand-picked shapes).
static void test_shape(Ctx *c, ConvGeom g, int layouts) {
    Shape s = {.g = g};
    snprintf(s.name, sizeof s.name, "batch %d, %d->%d ch, in %dx%d, out %dx%d, pad %d/%d",
             g.batch, g.in_c, g.out_c, g.in_h, g.in_w, g.out_h, g.out_w, g.pad_top, g.pad_left);
    s.x = random_array(&c->rng, x_size(&g));
    s.w = random_array(&c->rng, w_size(&g));
    s.bias = random_array(&c->rng, (size_t)g.out_c);
    s.residual = random_array(&c->rng, y_size(&g));
    s.dy = random_array(&c->rng, y_size(&g));
    real *before = checked_calloc(x_size(&g), sizeof(real));
    memcpy(before, s.x, sizeof(real) * x_size(&g));
    make_references(&s);
    check_shape(c, &s);
    check_constant_weights(c, &s);
    if (layouts) check_channels_last(c, &s);
    CHECK(c->t, memcmp(before, s.x, sizeof(real) * x_size(&g)) == 0, "input unchanged [%s]",
          s.name);
    for (int k = 0; k < OUTPUTS; k++) free(s.want[k]);
    free(before), free(s.x), free(s.w), free(s.bias), free(s.residual), free(s.dy);
}

// ---- the shapes -----------------------------------------------------------------------------

static ConvGeom geometry(int batch, int in_c, int out_c, int h, int w, int pad, int pad_end) {
    ConvGeom g = {batch, in_c, h, w, out_c, 0, 0, 3, 3, 1, 1, pad, pad, 0, 0, 0, 0};
    g.out_h = h + pad + pad_end - 2;
    g.out_w = w + pad + pad_end - 2;
    return g;
}

static ConvGeom sample_geometry(Rng *rng) {
    static const int batches[3] = {1, 3, 7};
    ConvGeom g;
    do {
        const int in_c = 16 * (1 + (int)rng_below(rng, 4)), out_c = 16 * (1 + (int)rng_below(rng, 4));
        const int h = 1 + (int)rng_below(rng, 33), w = 1 + (int)rng_below(rng, 33);
        const int pad = (int)rng_below(rng, 3), pad_end = (int)rng_below(rng, 3);
        g = geometry(batches[rng_below(rng, 3)], in_c, out_c, h, w, pad, pad_end);
    } while (g.out_h < 1 || g.out_w < 1 ||
             macs(&g) > MAX_SAMPLED_MACS);
    return g;
}

static const struct {
    int batch, in_c, out_c, h, w, pad, pad_end;
} fixed_shapes[] = {
    {1, 16, 16, 32, 32, 1, 1},  // the ResNet CIFAR stages, batch 1 (sdinfer)
    {1, 32, 32, 16, 16, 1, 1},
    {3, 64, 64, 8, 8, 1, 1},
    {1, 64, 64, 7, 7, 1, 1},    // Fashion-MNIST's 7x7: partial tiles
    {7, 16, 16, 28, 28, 1, 1},
    {1, 16, 32, 1, 1, 1, 1},    // one pixel, all padding
    {3, 32, 16, 5, 9, 0, 0},    // no padding
    {1, 16, 16, 4, 4, 2, 2},    // padding 2 (a larger output than input)
    {1, 80, 48, 6, 11, 1, 0},   // 80 channels, cropped bottom/right
    {1, 64, 64, 24, 24, 1, 1},  // 21M multiply-adds at batch 1: the threads split the image
    {2, 32, 48, 28, 27, 1, 1},  // batch 2 < 3 threads, 21M in all: split with 3 threads
    {1, 48, 48, 20, 20, 1, 1},  // 8.3M at batch 1: the threads split the output channels
                                // (3 vectors of AVX-512 over 2 and 3 threads: unequal parts)
    {1, 16, 16, 56, 56, 1, 1},  // 7.2M, one AVX-512 vector of channels: with a channels-last
                                // output the threads split the tiles
};

int main(int argc, char **argv) {
    const int sampled = argc > 1 ? atoi(argv[1]) : DEFAULT_SHAPES;
    const unsigned long long seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 3;
    const double max_fixed_macs = argc > 3 ? strtod(argv[3], NULL) : 0;  // 0: no limit
    TestContext t = {"test_conv_winograd", 0, 0, 0};
    Ctx c = {.t = &t};
    c.n_sets = cpu_kernels_available(c.sets, MAX_SETS);
    for (int set = 0; set < c.n_sets; set++)
        for (int a = 0; a < ALGORITHMS; a++)
            cpu_backends_by_threads(c.be[set][a], THREAD_VARIANTS, c.sets[set]->isa, algorithms[a]);
    rng_seed(&c.rng, seed, 13);
    const int fixed = (int)(sizeof fixed_shapes / sizeof fixed_shapes[0]);
    int fixed_run = 0;
    for (int k = 0; k < fixed; k++) {
        const ConvGeom g = geometry(fixed_shapes[k].batch, fixed_shapes[k].in_c, fixed_shapes[k].out_c,
                                    fixed_shapes[k].h, fixed_shapes[k].w, fixed_shapes[k].pad,
                                    fixed_shapes[k].pad_end);
        if (max_fixed_macs > 0 && macs(&g) > max_fixed_macs) continue;
        test_shape(&c, g, 1);
        fixed_run++;
    }
    for (int k = 0; k < sampled; k++) test_shape(&c, sample_geometry(&c.rng), 0);
    printf("%d shapes (%d of %d fixed, %d sampled, seed %llu); worst normalised error:\n",
           fixed_run + sampled, fixed_run, fixed, sampled, seed);
    for (int set = 0; set < c.n_sets; set++)
        for (int a = 0; a < ALGORITHMS; a++) {
            printf("  %-8s %-10s", c.sets[set]->isa, algorithms[a]);
            for (int k = 0; k < OUTPUTS; k++) printf(" %s %.2g;", output_names[k], c.worst[set][a][k]);
            printf("\n");
        }
    for (int set = 0; set < c.n_sets; set++)
        for (int a = 0; a < ALGORITHMS; a++)
            backends_destroy(c.be[set][a], THREAD_VARIANTS);
    return test_finish(&t);
}
