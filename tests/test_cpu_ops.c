// Float32 checks of the CPU backend against naive references written here:
// the generic tensor ops of sdinfer, pooling, convolution at ResNet shapes
// (forward and both backward passes, batch 32, against double-precision loops),
// batch norm on large-mean data, the SGD formula over several steps, the
// in-place uses that backend.h allows, and the small table entries
// (memory, fill, precision modes).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu/cpu_ops.h"
#include "harness.h"
#include "test_arrays.h"
#include "rng.h"

typedef struct {
    TestContext *t;
    Backend *be;
    Rng rng;
} Ctx;

static real *random_in(Ctx *c, size_t n, double lo, double hi) {
    real *p = checked_calloc(n, sizeof(real));
    for (size_t i = 0; i < n; i++) p[i] = (real)(lo + (hi - lo) * rng_uniform(&c->rng));
    return p;
}

// One CHECK per tensor: every element within atol + rtol * |want|, no NaN.
static void check_tensor(Ctx *c, const char *what, const real *got, const double *want, size_t n,
                         double rtol, double atol) {
    size_t bad = 0, first_bad = 0;
    for (size_t i = 0; i < n; i++) {
        const double err = fabs((double)got[i] - want[i]);
        if (isnan(got[i]) || isnan(want[i]) || err > atol + rtol * fabs(want[i])) {
            if (!bad) first_bad = i;
            bad++;
        }
    }
    CHECK(c->t, n > 0 && bad == 0, "%s: %zu of %zu elements off; first at %zu: got %.9g want %.9g",
          what, bad, n, first_bad, n ? (double)got[first_bad] : 0.0, n ? want[first_bad] : 0.0);
}

static TensorShape shape_of(int rank, const int64_t *dims) {
    TensorShape s = {rank, {0}};
    for (int i = 0; i < rank; i++) s.dims[i] = dims[i];
    return s;
}

static size_t shape_count(const TensorShape *s) {
    size_t n = 1;
    for (int i = 0; i < s->rank; i++) n *= (size_t)s->dims[i];
    return n;
}

// Multi-index of flat position `flat` in a contiguous tensor of shape s.
static void unflatten(const TensorShape *s, size_t flat, int64_t *index) {
    for (int i = s->rank - 1; i >= 0; i--) {
        index[i] = (int64_t)(flat % (size_t)s->dims[i]);
        flat /= (size_t)s->dims[i];
    }
}

static size_t flatten(const TensorShape *s, const int64_t *index) {
    size_t flat = 0;
    for (int i = 0; i < s->rank; i++) flat = flat * (size_t)s->dims[i] + (size_t)index[i];
    return flat;
}

// ---- binary_broadcast --------------------------------------------------------------------

static double apply_op(BinaryOp op, double a, double b) {
    switch (op) {
    case BINARY_ADD: return a + b;
    case BINARY_SUB: return a - b;
    case BINARY_MUL: return a * b;
    case BINARY_DIV: return a / b;
    }
    return NAN;
}

// Where output index `out_index` reads from an operand of shape s (numpy rules).
static size_t broadcast_source(const TensorShape *s, const TensorShape *out, const int64_t *out_index) {
    int64_t index[SD_MAX_DIMS] = {0};
    for (int i = 0; i < s->rank; i++) {
        int64_t o = out_index[i + out->rank - s->rank];
        index[i] = s->dims[i] == 1 ? 0 : o;
    }
    return flatten(s, index);
}

static void check_broadcast(Ctx *c, const char *what, BinaryOp op, TensorShape as, TensorShape bs,
                            TensorShape out) {
    const size_t na = shape_count(&as), nb = shape_count(&bs), ny = shape_count(&out);
    real *a = random_in(c, na, -2, 2), *b = random_in(c, nb, 0.5, 2);
    real *y = checked_calloc(ny, sizeof(real));
    double *want = checked_calloc(ny, sizeof(double));
    for (size_t i = 0; i < ny; i++) {
        int64_t index[SD_MAX_DIMS] = {0};
        unflatten(&out, i, index);
        want[i] = apply_op(op, a[broadcast_source(&as, &out, index)], b[broadcast_source(&bs, &out, index)]);
    }
    c->be->binary_broadcast(c->be, op, &as, a, &bs, b, &out, y);
    check_tensor(c, what, y, want, ny, 1e-6, 0);
    free(a), free(b), free(y), free(want);
}

static void test_binary_broadcast(Ctx *c) {
    const int64_t d234[] = {2, 3, 4}, d23[] = {2, 3}, nchw[] = {2, 3, 4, 5}, c111[] = {1, 3, 1, 1};
    const int64_t c11[] = {3, 1, 1};  // sdexport's preprocessing constants
    const int64_t d31[] = {3, 1}, d14[] = {1, 4}, d34[] = {3, 4}, d4[] = {4}, d214[] = {2, 1, 4};
    const int64_t big[] = {32, 16, 32, 32}, big_c[] = {1, 16, 1, 1};
    check_broadcast(c, "add, same shapes", BINARY_ADD, shape_of(3, d234), shape_of(3, d234),
                    shape_of(3, d234));
    check_broadcast(c, "mul, rank-0 scalar a", BINARY_MUL, shape_of(0, NULL), shape_of(2, d23),
                    shape_of(2, d23));
    check_broadcast(c, "div, rank-0 scalar b", BINARY_DIV, shape_of(2, d23), shape_of(0, NULL),
                    shape_of(2, d23));
    check_broadcast(c, "sub, [N,C,H,W] - [1,C,1,1]", BINARY_SUB, shape_of(4, nchw), shape_of(4, c111),
                    shape_of(4, nchw));
    check_broadcast(c, "sub, [1,C,1,1] - [N,C,H,W]", BINARY_SUB, shape_of(4, c111), shape_of(4, nchw),
                    shape_of(4, nchw));
    check_broadcast(c, "sub, [N,C,H,W] - [C,1,1] (lower rank)", BINARY_SUB, shape_of(4, nchw),
                    shape_of(3, c11), shape_of(4, nchw));
    check_broadcast(c, "div, [N,C,H,W] / [C,1,1] (lower rank)", BINARY_DIV, shape_of(4, nchw),
                    shape_of(3, c11), shape_of(4, nchw));
    check_broadcast(c, "div, [3,1] / [1,4]", BINARY_DIV, shape_of(2, d31), shape_of(2, d14),
                    shape_of(2, d34));
    check_broadcast(c, "add, [4] + [2,3,4] (lower rank)", BINARY_ADD, shape_of(1, d4),
                    shape_of(3, d234), shape_of(3, d234));
    check_broadcast(c, "mul, [2,1,4] * [3,1]", BINARY_MUL, shape_of(3, d214), shape_of(2, d31),
                    shape_of(3, d234));
    check_broadcast(c, "mul, [32,16,32,32] * [1,16,1,1] (threaded)", BINARY_MUL, shape_of(4, big),
                    shape_of(4, big_c), shape_of(4, big));
}

// ---- pad_constant ----------------------------------------------------------------------------

static void check_pad(Ctx *c, const char *what, TensorShape in, const int64_t *pads) {
    TensorShape out = in;
    for (int i = 0; i < in.rank; i++) out.dims[i] = in.dims[i] + pads[i] + pads[in.rank + i];
    const size_t nx = shape_count(&in), ny = shape_count(&out);
    real *x = random_in(c, nx, -1, 1), *y = checked_calloc(ny, sizeof(real));
    double *want = checked_calloc(ny, sizeof(double));
    for (size_t i = 0; i < ny; i++) {
        int64_t index[SD_MAX_DIMS] = {0};
        unflatten(&out, i, index);
        int inside = 1;
        for (int d = 0; d < in.rank; d++) {
            index[d] -= pads[d];
            if (index[d] < 0 || index[d] >= in.dims[d]) inside = 0;
        }
        want[i] = inside ? x[flatten(&in, index)] : 7.5;
    }
    c->be->pad_constant(c->be, &in, x, pads, (real)7.5, &out, y);
    check_tensor(c, what, y, want, ny, 0, 0);
    free(x), free(y), free(want);
}

static void test_pad(Ctx *c) {
    const int64_t d234[] = {2, 3, 4}, nchw[] = {2, 3, 5, 6};
    const int64_t grow[] = {0, 1, 2, 1, 0, 1};
    const int64_t crop[] = {0, -1, 1, 0, 0, -2};
    const int64_t crop_all_last[] = {0, 0, -3, 0, 0, 2};  // crop 3 from the front, pad 2 at the end
    const int64_t spatial[] = {0, 0, 1, 2, 0, 0, 3, 1};
    check_pad(c, "pad [2,3,4] grow", shape_of(3, d234), grow);
    check_pad(c, "pad [2,3,4] negative pads crop", shape_of(3, d234), crop);
    check_pad(c, "pad [2,3,4] crop front + pad end of last axis", shape_of(3, d234), crop_all_last);
    check_pad(c, "pad NCHW spatial, asymmetric", shape_of(4, nchw), spatial);
    // Unpadded trailing axes are copied as one row with the last padded axis.
    const int64_t channels[] = {0, 2, 0, 0, 0, 3, 0, 0};  // a ResNet shortcut's zero channels
    const int64_t channels_crop[] = {0, -1, 0, 0, 0, 1, 0, 0};
    const int64_t batch_only[] = {1, 0, 0, 0, 2, 0, 0, 0};
    const int64_t none[] = {0, 0, 0, 0, 0, 0, 0, 0};
    const int64_t channels_and_height[] = {0, 1, 0, 0, 0, 1, 2, 0};
    check_pad(c, "pad NCHW channels only", shape_of(4, nchw), channels);
    check_pad(c, "pad NCHW crop a channel in front, add one at the end", shape_of(4, nchw),
              channels_crop);
    check_pad(c, "pad NCHW batch only", shape_of(4, nchw), batch_only);
    check_pad(c, "pad NCHW nothing", shape_of(4, nchw), none);
    check_pad(c, "pad NCHW channels and height", shape_of(4, nchw), channels_and_height);
}

// ---- slice ------------------------------------------------------------------------------------

static void test_slice(Ctx *c) {
    const int64_t in_dims[] = {3, 4, 5};
    TensorShape in = shape_of(3, in_dims);
    struct {
        const char *what;
        int64_t starts[3], steps[3], out[3];
    } cases[] = {
        {"slice steps 1,-1,-2", {0, 3, 4}, {1, -1, -2}, {3, 4, 3}},
        {"slice steps -1,2,1 (sub-box)", {2, 1, 1}, {-1, 2, 1}, {2, 2, 3}},
        {"slice step -3 on the last axis", {1, 0, 4}, {1, 1, -3}, {1, 4, 2}},
    };
    real *x = random_in(c, shape_count(&in), -1, 1);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        TensorShape out = shape_of(3, cases[k].out);
        const size_t ny = shape_count(&out);
        real *y = checked_calloc(ny, sizeof(real));
        double *want = checked_calloc(ny, sizeof(double));
        for (size_t i = 0; i < ny; i++) {
            int64_t index[SD_MAX_DIMS] = {0};
            unflatten(&out, i, index);
            for (int d = 0; d < 3; d++) index[d] = cases[k].starts[d] + index[d] * cases[k].steps[d];
            want[i] = x[flatten(&in, index)];
        }
        c->be->slice(c->be, &in, x, cases[k].starts, cases[k].steps, &out, y);
        check_tensor(c, cases[k].what, y, want, ny, 0, 0);
        free(y), free(want);
    }
    free(x);
}

// ---- concat_part --------------------------------------------------------------------------------

static void test_concat(Ctx *c) {
    for (int axis = 0; axis < 3; axis++) {
        int64_t da[] = {2, 3, 4}, db[] = {2, 3, 4}, dout[] = {2, 3, 4};
        db[axis] = 2;
        dout[axis] = da[axis] + db[axis];
        TensorShape as = shape_of(3, da), bs = shape_of(3, db), out = shape_of(3, dout);
        real *a = random_in(c, shape_count(&as), -1, 1), *b = random_in(c, shape_count(&bs), -1, 1);
        const size_t ny = shape_count(&out);
        real *y = checked_calloc(ny, sizeof(real));
        double *want = checked_calloc(ny, sizeof(double));
        for (size_t i = 0; i < ny; i++) {
            int64_t index[SD_MAX_DIMS] = {0};
            unflatten(&out, i, index);
            if (index[axis] < da[axis]) {
                want[i] = a[flatten(&as, index)];
            } else {
                index[axis] -= da[axis];
                want[i] = b[flatten(&bs, index)];
            }
        }
        c->be->concat_part(c->be, &as, a, axis, 0, &out, y);
        c->be->concat_part(c->be, &bs, b, axis, da[axis], &out, y);
        char what[64];
        snprintf(what, sizeof what, "concat of [2,3,4] and a smaller part, axis %d", axis);
        check_tensor(c, what, y, want, ny, 0, 0);
        free(a), free(b), free(y), free(want);
    }
}

// ---- softmax ------------------------------------------------------------------------------------

static void test_softmax(Ctx *c) {
    const int outer = 4, inner = 7;
    real *x = random_in(c, (size_t)outer * inner, -3, 3), *y = checked_calloc(28, sizeof(real));
    for (int j = 0; j < inner; j++) x[3 * inner + j] += 500;  // a row that would overflow exp()
    double want[28];
    for (int r = 0; r < outer; r++) {
        double max = -INFINITY, sum = 0;
        for (int j = 0; j < inner; j++) max = fmax(max, x[r * inner + j]);
        for (int j = 0; j < inner; j++) sum += exp((double)x[r * inner + j] - max);
        for (int j = 0; j < inner; j++) want[r * inner + j] = exp((double)x[r * inner + j] - max) / sum;
    }
    c->be->softmax(c->be, outer, inner, x, y);
    check_tensor(c, "softmax over the last axis (incl. a row of +500)", y, want, 28, 1e-5, 1e-7);
    free(x), free(y);
}

// ---- gemm ---------------------------------------------------------------------------------------

static void test_gemm(Ctx *c) {
    const int m = 3, n = 4, k = 5;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int with_beta = 0; with_beta < 2; with_beta++) {
                real *a = random_in(c, (size_t)m * k, -1, 1), *b = random_in(c, (size_t)k * n, -1, 1);
                real *cm = random_in(c, (size_t)m * n, -1, 1);
                const double alpha = 1.5, beta = with_beta ? 0.5 : 0;
                double want[12];
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double sum = 0;
                        for (int p = 0; p < k; p++) {
                            double av = ta ? a[p * m + i] : a[i * k + p];  // A stored k x m if transposed
                            double bv = tb ? b[j * k + p] : b[p * n + j];  // B stored n x k if transposed
                            sum += av * bv;
                        }
                        want[i * n + j] = alpha * sum + beta * cm[i * n + j];
                    }
                c->be->gemm(c->be, ta, tb, m, n, k, (real)alpha, a, b, (real)beta, cm);
                char what[64];
                snprintf(what, sizeof what, "gemm trans_a %d trans_b %d beta %.1f", ta, tb, beta);
                check_tensor(c, what, cm, want, 12, 1e-5, 1e-6);
                free(a), free(b), free(cm);
            }
}

// ---- pooling -------------------------------------------------------------------------------------

static void naive_pool(const PoolGeom *g, const real *x, int is_max, double *y) {
    for (int p = 0; p < g->batch * g->channels; p++)
        for (int oh = 0; oh < g->out_h; oh++)
            for (int ow = 0; ow < g->out_w; ow++) {
                double best = -INFINITY, sum = 0;
                int inside = 0;
                for (int ki = 0; ki < g->kernel_h; ki++)
                    for (int kj = 0; kj < g->kernel_w; kj++) {
                        int ih = oh * g->stride_h - g->pad_top + ki, iw = ow * g->stride_w - g->pad_left + kj;
                        if (ih < 0 || ih >= g->in_h || iw < 0 || iw >= g->in_w) continue;
                        double v = x[((size_t)p * g->in_h + ih) * g->in_w + iw];
                        best = fmax(best, v);
                        sum += v;
                        inside++;
                    }
                double avg = sum / (g->count_include_pad ? g->kernel_h * g->kernel_w : inside);
                y[((size_t)p * g->out_h + oh) * g->out_w + ow] = is_max ? best : avg;
            }
}

static void test_pooling(Ctx *c) {
    struct {
        const char *what;
        int is_max;
        PoolGeom g;
    } cases[] = {
        {"avgpool k3 s2 p1, count_include_pad 0", 0, {2, 3, 7, 6, 4, 3, 3, 3, 2, 2, 1, 1, 0}},
        {"avgpool k3 s2 p1, count_include_pad 1", 0, {2, 3, 7, 6, 4, 3, 3, 3, 2, 2, 1, 1, 1}},
        {"avgpool k2 s2 p0", 0, {2, 3, 6, 6, 3, 3, 2, 2, 2, 2, 0, 0, 0}},
        {"avgpool k3x2 s1x2 pad 1x0, count_include_pad 1", 0, {1, 2, 5, 6, 5, 3, 3, 2, 1, 2, 1, 0, 1}},
        // The forward's inside columns in chunks of 64 (150 wide: two full, one partial),
        // a stride of 3 with odd sizes, and none inside across.
        {"avgpool k2 s2 p0, 3x150", 0, {1, 2, 3, 150, 1, 75, 2, 2, 2, 2, 0, 0, 0}},
        {"avgpool k3 s1 p1, 4x140, count_include_pad 0", 0, {1, 1, 4, 140, 4, 140, 3, 3, 1, 1, 1, 1, 0}},
        {"avgpool k2 s3 p1, 10x11, count_include_pad 1", 0, {2, 2, 10, 11, 4, 4, 2, 2, 3, 3, 1, 1, 1}},
        {"avgpool k5 s1 p2, 6x4 (no window inside across)", 0, {1, 2, 6, 4, 6, 4, 5, 5, 1, 1, 2, 2, 0}},
        {"maxpool k3 s2 p1 (ResNet stem)", 1, {2, 3, 8, 8, 4, 4, 3, 3, 2, 2, 1, 1, 0}},
        {"maxpool k2 s1 p1, negative inputs", 1, {1, 2, 4, 5, 5, 6, 2, 2, 1, 1, 1, 1, 0}},
        // The forward's inside columns (windows not clipped across) run as one loop per
        // cell of the window: odd sizes, a stride of 3, and none inside at all.
        {"maxpool k3 s2 p1, 15x17", 1, {2, 3, 15, 17, 8, 9, 3, 3, 2, 2, 1, 1, 0}},
        {"maxpool k2 s3 p0, 10x11", 1, {1, 2, 10, 11, 3, 4, 2, 2, 3, 3, 0, 0, 0}},
        {"maxpool k5 s1 p2, 6x4 (no window inside across)", 1, {1, 2, 6, 4, 6, 4, 5, 5, 1, 1, 2, 2, 0}},
        {"maxpool k3x2 s2x1 pad 1x0, 7x9", 1, {2, 2, 7, 9, 4, 8, 3, 2, 2, 1, 1, 0, 0}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const PoolGeom *g = &cases[k].g;
        const size_t nx = (size_t)g->batch * g->channels * g->in_h * g->in_w;
        const size_t ny = (size_t)g->batch * g->channels * g->out_h * g->out_w;
        // Negative inputs make a padded zero win if padding were (wrongly) counted as 0.
        real *x = random_in(c, nx, -2, cases[k].is_max ? -0.1 : 2);
        real *y = checked_calloc(ny, sizeof(real));
        double *want = checked_calloc(ny, sizeof(double));
        naive_pool(g, x, cases[k].is_max, want);
        if (cases[k].is_max)
            c->be->maxpool_forward(c->be, g, x, y);
        else
            c->be->avgpool_forward(c->be, g, x, y);
        check_tensor(c, cases[k].what, y, want, ny, 1e-6, 1e-7);
        free(x), free(y), free(want);
    }
}

// ---- convolution at ResNet shapes --------------------------------------------------------------------

static size_t x_index(const ConvGeom *g, int n, int ch, int h, int w) {
    return (((size_t)n * g->in_c + ch) * g->in_h + h) * g->in_w + w;
}
static size_t y_index(const ConvGeom *g, int n, int o, int h, int w) {
    return (((size_t)n * g->out_c + o) * g->out_h + h) * g->out_w + w;
}
static size_t w_index(const ConvGeom *g, int o, int ch, int i, int j) {
    return (((size_t)o * g->in_c + ch) * g->kernel_h + i) * g->kernel_w + j;
}

// The three convolution passes as one loop nest over (image, out channel, output
// pixel, tap), accumulating in double: y += x w, dx += dy w, dw += dy x.
static void naive_conv_all(const ConvGeom *g, const real *x, const real *w, const real *dy,
                           double *y, double *dx, double *dw) {
    for (int n = 0; n < g->batch; n++)
        for (int o = 0; o < g->out_c; o++)
            for (int oh = 0; oh < g->out_h; oh++)
                for (int ow = 0; ow < g->out_w; ow++) {
                    const size_t yi = y_index(g, n, o, oh, ow);
                    for (int ch = 0; ch < g->in_c; ch++)
                        for (int i = 0; i < g->kernel_h; i++)
                            for (int j = 0; j < g->kernel_w; j++) {
                                int ih = oh * g->stride_h - g->pad_top + i, iw = ow * g->stride_w - g->pad_left + j;
                                if (ih < 0 || ih >= g->in_h || iw < 0 || iw >= g->in_w) continue;
                                const size_t xi = x_index(g, n, ch, ih, iw), wi = w_index(g, o, ch, i, j);
                                y[yi] += (double)x[xi] * w[wi];
                                dx[xi] += (double)dy[yi] * w[wi];
                                dw[wi] += (double)dy[yi] * x[xi];
                            }
                }
}

static double max_abs(const double *v, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(v[i]) > m ? fabs(v[i]) : m;
    return m;
}

static void test_conv_resnet_shape(Ctx *c, const char *name, ConvGeom g) {
    const size_t nx = (size_t)g.batch * g.in_c * g.in_h * g.in_w;
    const size_t ny = (size_t)g.batch * g.out_c * g.out_h * g.out_w;
    const size_t nw = (size_t)g.out_c * g.in_c * g.kernel_h * g.kernel_w;
    real *x = random_in(c, nx, -1, 1), *w = random_in(c, nw, -0.3, 0.3), *dy = random_in(c, ny, -1, 1);
    real *y = checked_calloc(ny, sizeof(real)), *dx = checked_calloc(nx, sizeof(real));
    real *dw = checked_calloc(nw, sizeof(real));
    double *want_y = checked_calloc(ny, sizeof(double)), *want_dx = checked_calloc(nx, sizeof(double));
    double *want_dw = checked_calloc(nw, sizeof(double));
    naive_conv_all(&g, x, w, dy, want_y, want_dx, want_dw);
    c->be->conv2d_forward(c->be, &g, x, w, NULL, NULL, clamp_none(), y);
    c->be->conv2d_backward_data(c->be, &g, w, dy, dx);
    c->be->conv2d_backward_filter(c->be, &g, x, dy, dw);
    char what[128];
    // Within 1e-4 of the tensor's largest value: the 3x3 stride-1 shapes run as
    // Winograd F(4x4, 3x3), whose rounding is absolute (it comes from the transforms
    // of inputs and weights), not relative to each output, so an output that nearly
    // cancels may be off by more than 1e-4 of itself (tests/test_conv_winograd.c).
    snprintf(what, sizeof what, "conv %s forward (float vs double loops)", name);
    check_tensor(c, what, y, want_y, ny, 0, 1e-4 * max_abs(want_y, ny));
    snprintf(what, sizeof what, "conv %s backward data", name);
    check_tensor(c, what, dx, want_dx, nx, 0, 1e-4 * max_abs(want_dx, nx));
    // dw sums batch * out_h * out_w products: a larger absolute floor.
    snprintf(what, sizeof what, "conv %s backward filter", name);
    check_tensor(c, what, dw, want_dw, nw, 1e-4, 1e-3);
    free(x), free(w), free(dy), free(y), free(dx), free(dw), free(want_y), free(want_dx), free(want_dw);
}

static void test_conv_bias_relu(Ctx *c) {
    ConvGeom g = {3, 4, 6, 5, 6, 6, 5, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0};
    const size_t nx = 3 * 4 * 30, ny = 3 * 6 * 30, nw = 6 * 4 * 9;
    real *x = random_in(c, nx, -1, 1), *w = random_in(c, nw, -0.5, 0.5), *bias = random_in(c, 6, -1, 1);
    real *dy = checked_calloc(ny, sizeof(real)), *y = checked_calloc(ny, sizeof(real));
    double *want = checked_calloc(ny, sizeof(double)), *unused_dx = checked_calloc(nx, sizeof(double));
    double *unused_dw = checked_calloc(nw, sizeof(double));
    naive_conv_all(&g, x, w, dy, want, unused_dx, unused_dw);
    int clipped = 0;
    for (size_t i = 0; i < ny; i++) {
        want[i] += bias[(i / 30) % 6];
        if (want[i] < 0) want[i] = 0, clipped++;
    }
    c->be->conv2d_forward(c->be, &g, x, w, bias, NULL, clamp_relu(1), y);
    check_tensor(c, "conv 3x3 with bias and fused ReLU", y, want, ny, 1e-5, 1e-6);
    CHECK(c->t, clipped > 0 && clipped < (int)ny, "the fused ReLU case clips some but not all (%d)", clipped);
    free(x), free(w), free(bias), free(dy), free(y), free(want), free(unused_dx), free(unused_dw);
}

// The threads' measured speeds (thread_balance.c) set to thread 0 8 times the others'
// (fast) or 8 times slower: the shares of a split image then differ from equal ones.
static void skew_shares(Backend *be, int fast) {
    ThreadBalance *balance = &cpu_state(be)->balance;
    for (int t = 0; t < balance->threads; t++)
        balance->speed[t] = t == 0 ? (fast ? 8.0 : 1.0 / 8) : 1.0;
}

// The three passes give the same bits for any thread count (images in parallel,
// or one after another with a threaded BLAS), so runs reproduce exactly; a batch-1
// forward also for skewed shares of the split image.
static void test_conv_thread_invariance(Ctx *c) {
    const ConvGeom cases[] = {
        {5, 8, 12, 10, 12, 12, 10, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0},
        {5, 8, 12, 10, 12, 6, 5, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0},
        // Batch 1, one column block (14x14, 7x7 outputs), enough work to split: the
        // threads split the output channels (600: the last part is not a whole granule).
        {1, 256, 14, 14, 600, 14, 14, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0},
        {1, 256, 14, 14, 136, 7, 7, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0},
        // Batch 1, several column blocks (3136, 841 and 784 outputs) and enough work to
        // split (4M multiply-adds per thread): the threads split the columns in one range
        // each (2 and 3 threads: not whole blocks of 256), or with more threads than
        // blocks (8, the last case) the blocks' output channels.
        {1, 64, 56, 56, 64, 56, 56, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0},
        {1, 32, 57, 57, 64, 29, 29, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0},
        {1, 128, 28, 28, 512, 28, 28, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0},
    };
    const int thread_counts[3] = {2, 3, 8};  // 8 > batch: the BLAS-threaded path
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const ConvGeom *g = &cases[k];
        const size_t nx = (size_t)g->batch * g->in_c * g->in_h * g->in_w;
        const size_t ny = (size_t)g->batch * g->out_c * g->out_h * g->out_w;
        const size_t nw = (size_t)g->out_c * g->in_c * g->kernel_h * g->kernel_w;
        real *x = random_in(c, nx, -1, 1), *w = random_in(c, nw, -1, 1), *dy = random_in(c, ny, -1, 1);
        real *ref[3] = {checked_calloc(ny, sizeof(real)), checked_calloc(nx, sizeof(real)), checked_calloc(nw, sizeof(real))};
        real *got[3] = {checked_calloc(ny, sizeof(real)), checked_calloc(nx, sizeof(real)), checked_calloc(nw, sizeof(real))};
        const size_t sizes[3] = {ny, nx, nw};
        char err[128];
        Backend *one = backend_cpu_create(1, err, sizeof err);
        one->conv2d_forward(one, g, x, w, NULL, NULL, clamp_none(), ref[0]);
        one->conv2d_backward_data(one, g, w, dy, ref[1]);
        one->conv2d_backward_filter(one, g, x, dy, ref[2]);
        one->destroy(one);
        for (int t = 0; t < 3; t++) {
            Backend *be = backend_cpu_create(thread_counts[t], err, sizeof err);
            be->conv2d_forward(be, g, x, w, NULL, NULL, clamp_none(), got[0]);
            be->conv2d_backward_data(be, g, w, dy, got[1]);
            be->conv2d_backward_filter(be, g, x, dy, got[2]);
            for (int fast = 0; fast < 2 && g->batch == 1 && thread_counts[t] < 8; fast++) {
                real *skewed = checked_calloc(ny, sizeof(real));
                skew_shares(be, fast);
                be->conv2d_forward(be, g, x, w, NULL, NULL, clamp_none(), skewed);
                CHECK(c->t, memcmp(skewed, ref[0], ny * sizeof(real)) == 0,
                      "conv forward (batch 1, stride %d) with %d threads, thread 0 8x %s, is "
                      "bit-identical to 1 thread", g->stride_h, thread_counts[t],
                      fast ? "faster" : "slower");
                free(skewed);
            }
            be->destroy(be);
            static const char *pass[3] = {"forward", "backward data", "backward filter"};
            for (int p = 0; p < 3; p++)
                CHECK(c->t, memcmp(got[p], ref[p], sizes[p] * sizeof(real)) == 0,
                      "conv %s (stride %d) with %d threads is bit-identical to 1 thread", pass[p],
                      g->stride_h, thread_counts[t]);
        }
        for (int p = 0; p < 3; p++) free(ref[p]), free(got[p]);
        free(x), free(w), free(dy);
    }
}

// ---- batch norm on data with a large mean ----------------------------------------------------------

static void test_batchnorm_float(Ctx *c) {
    const BatchNormGeom g = {32, 16, 64};
    const size_t n = (size_t)g.batch * g.channels * g.spatial;
    real *x = random_in(c, n, 99, 101);  // mean ~100, std ~0.58: E[x^2]-E[x]^2 would cancel in float
    real gamma[16], beta[16], rmean[16] = {0}, rvar[16], smean[16], sinv[16];
    for (int ch = 0; ch < 16; ch++) gamma[ch] = 1 + 0.1f * ch, beta[ch] = 0.05f * ch, rvar[ch] = 1;
    real *y = checked_calloc(n, sizeof(real));
    double *want = checked_calloc(n, sizeof(double));
    c->be->batchnorm_forward_train(c->be, &g, x, gamma, beta, (real)0.1, (real)1e-5, rmean, rvar,
                                   smean, sinv, y);
    const double count = (double)g.batch * g.spatial;
    for (int ch = 0; ch < g.channels; ch++) {
        double sum = 0, sq = 0;
        for (int b = 0; b < g.batch; b++)
            for (int s = 0; s < g.spatial; s++) sum += x[((size_t)b * g.channels + ch) * g.spatial + s];
        const double mean = sum / count;
        for (int b = 0; b < g.batch; b++)
            for (int s = 0; s < g.spatial; s++) {
                double d = x[((size_t)b * g.channels + ch) * g.spatial + s] - mean;
                sq += d * d;
            }
        const double invstd = 1 / sqrt(sq / count + 1e-5);
        for (int b = 0; b < g.batch; b++)
            for (int s = 0; s < g.spatial; s++) {
                size_t i = ((size_t)b * g.channels + ch) * g.spatial + s;
                want[i] = gamma[ch] * (x[i] - mean) * invstd + beta[ch];
            }
    }
    // y is O(1); float rounding of x ~100 alone is ~4e-6 absolute, amplified by invstd ~1.7.
    check_tensor(c, "bn train forward on data with mean 100 (float)", y, want, n, 1e-4, 1e-4);
    free(x), free(y), free(want);
}

// ---- sgd_step ----------------------------------------------------------------------------------------

static void test_sgd(Ctx *c) {
    for (int nesterov = 0; nesterov < 2; nesterov++) {
        const size_t n = 50;
        real *params = random_in(c, n, -1, 1), *buf = random_in(c, n, -5, 5);  // stale buf
        double want_p[50], want_buf[50];
        for (size_t i = 0; i < n; i++) want_p[i] = params[i];
        const double lrs[3] = {0.1, 0.1, 0.01}, momentum = 0.9, wd = 1e-4 * 50;
        for (int step = 0; step < 3; step++) {
            real *grads = random_in(c, n, -1, 1);
            for (size_t i = 0; i < n; i++) {
                double g = grads[i] + wd * want_p[i];
                want_buf[i] = step == 0 ? g : momentum * want_buf[i] + g;
                want_p[i] -= lrs[step] * (nesterov ? g + momentum * want_buf[i] : want_buf[i]);
            }
            c->be->sgd_step(c->be, n, params, grads, buf, (real)lrs[step], (real)momentum, (real)wd,
                            nesterov, step == 0);
            free(grads);
        }
        char what[96];
        snprintf(what, sizeof what, "sgd 3 steps (first_step, lr change), nesterov %d: params", nesterov);
        check_tensor(c, what, params, want_p, n, 1e-5, 1e-6);
        snprintf(what, sizeof what, "sgd 3 steps, nesterov %d: momentum buffer", nesterov);
        check_tensor(c, what, buf, want_buf, n, 1e-5, 1e-6);
        free(params), free(buf);
    }
}

// ---- in-place uses allowed by backend.h -----------------------------------------------------------------

static void test_in_place(Ctx *c) {
    const size_t n = 100000;  // above the threading threshold
    real *x = random_in(c, n, -1, 1), *dy = random_in(c, n, -1, 1);
    double *want = checked_calloc(n, sizeof(double));
    real *shortcut = random_in(c, n, -1, 1), *branch = random_in(c, n, -1, 1);

    for (size_t i = 0; i < n; i++) want[i] = x[i] > 0 ? x[i] : 0;
    c->be->relu_forward(c->be, n, x, x);
    check_tensor(c, "relu in place", x, want, n, 0, 0);

    for (size_t i = 0; i < n; i++) want[i] = x[i] > 0 ? dy[i] : 0;
    c->be->relu_backward(c->be, n, x, dy, dy);
    check_tensor(c, "relu_backward in place (dx == dy)", dy, want, n, 0, 0);

    for (size_t i = 0; i < n; i++) want[i] = fmax(0.0, (double)(real)0.8 * branch[i] + shortcut[i]);
    c->be->residual_forward(c->be, n, (real)0.8, branch, shortcut, branch);
    check_tensor(c, "residual_forward with y == branch", branch, want, n, 1e-6, 1e-7);

    real *branch2 = random_in(c, n, -1, 1);
    for (size_t i = 0; i < n; i++) want[i] = fmax(0.0, (double)branch2[i] + shortcut[i]);
    c->be->residual_forward(c->be, n, 1, branch2, shortcut, shortcut);
    check_tensor(c, "residual_forward with y == shortcut", shortcut, want, n, 1e-6, 1e-7);

    for (size_t i = 0; i < n; i++) want[i] = (double)shortcut[i] + branch2[i];
    c->be->accumulate(c->be, n, branch2, shortcut);
    check_tensor(c, "accumulate", shortcut, want, n, 1e-6, 1e-7);
    free(x), free(dy), free(want), free(shortcut), free(branch), free(branch2);
}

// ---- table entries: memory, fill, precision, labels out of range ---------------------------------------------

static void test_table(Ctx *c) {
    Backend *be = c->be;
    CHECK(c->t, strcmp(be->name, "cpu") == 0, "backend name is '%s'", be->name);
    CHECK(c->t, be->set_precision(be, "fp32") == 0, "fp32 is offered");
    CHECK(c->t, be->set_precision(be, "tf32") == -1 && be->set_precision(be, "fp16") == -1 &&
                    be->set_precision(be, "bf16") == -1 && be->set_precision(be, "int8") == -1,
          "only fp32 is offered on the CPU");
    const size_t n = 70000;
    real *dev = be->alloc(be, n * sizeof(real)), *dev2 = be->alloc(be, n * sizeof(real));
    real *host = random_in(c, n, -1, 1), *back = checked_calloc(n, sizeof(real));
    CHECK(c->t, dev && dev2, "alloc of %zu bytes", n * sizeof(real));
    if (dev && dev2) {
        be->upload(be, dev, host, n * sizeof(real));
        be->copy(be, dev2, dev, n * sizeof(real));
        be->download(be, back, dev2, n * sizeof(real));
        be->synchronize(be);
        CHECK(c->t, memcmp(back, host, n * sizeof(real)) == 0, "upload, copy, download round trip");
        be->fill(be, dev, n, (real)-2.5);
        be->download(be, back, dev, n * sizeof(real));
        int all = 1;
        for (size_t i = 0; i < n; i++) all &= back[i] == (real)-2.5;
        CHECK(c->t, all, "fill writes every element");
    }
    be->release(be, dev);
    be->release(be, dev2);
    free(host), free(back);

    real logits[6] = {1, 2, 3, 4, 5, 6}, dlogits[6], loss = 0;
    int32_t bad_labels[2] = {1, 3};
    be->softmax_cross_entropy(be, 2, 3, logits, bad_labels, dlogits, &loss);
    CHECK(c->t, isnan(loss), "a label outside [0, classes) gives a NaN loss (got %g)", (double)loss);

    char err[128];
    Backend *all_cores = backend_cpu_create(0, err, sizeof err);
    CHECK(c->t, all_cores != NULL, "backend_cpu_create(0) (all cores)");
    if (all_cores) all_cores->destroy(all_cores);
}

int main(void) {
    TestContext t = {"test_cpu_ops", 0, 0, 0};
    char err[256];
    Ctx c = {&t, backend_cpu_create(2, err, sizeof err), {{0}}};
    if (!c.be) {
        fprintf(stderr, "backend_cpu_create: %s\n", err);
        return 1;
    }
    rng_seed(&c.rng, 42, 7);
    test_binary_broadcast(&c);
    test_pad(&c);
    test_slice(&c);
    test_concat(&c);
    test_softmax(&c);
    test_gemm(&c);
    test_pooling(&c);
    test_conv_bias_relu(&c);
    // ConvGeom: batch, in c/h/w, out c/h/w, kernel h/w, stride h/w, pad top/left.
    test_conv_resnet_shape(&c, "3x3 16->16 32x32 batch 32", (ConvGeom){32, 16, 32, 32, 16, 32, 32, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0});
    test_conv_resnet_shape(&c, "3x3/2 16->32 32x32 batch 32", (ConvGeom){32, 16, 32, 32, 32, 16, 16, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0});
    test_conv_resnet_shape(&c, "3x3 64->64 8x8 batch 32", (ConvGeom){32, 64, 8, 8, 64, 8, 8, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0});
    test_conv_resnet_shape(&c, "1x1 16->64 8x8 batch 32", (ConvGeom){32, 16, 8, 8, 64, 8, 8, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0});
    test_conv_thread_invariance(&c);
    test_batchnorm_float(&c);
    test_sgd(&c);
    test_in_place(&c);
    test_table(&c);
    c.be->destroy(c.be);
    return test_finish(&t);
}
