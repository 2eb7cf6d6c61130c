// Pooling: global average (the ResNet head), and windowed max / average with
// ONNX padding semantics (padded cells are never the max and, unless
// count_include_pad, never counted).
#include <math.h>
#include <string.h>

#include "cpu_ops.h"

void cpu_global_avgpool_forward(Backend *be, int batch, int channels, int spatial, const real *x,
                                real *y) {
    CpuState *st = cpu_state(be);
    const int planes = batch * channels;
#pragma omp parallel for schedule(static) num_threads(st->threads) if (planes * spatial >= CPU_PARALLEL_MIN_ELEMENTS)
    for (int p = 0; p < planes; p++) {
        const real *src = x + (size_t)p * spatial;
        double sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int s = 0; s < spatial; s++) sum += src[s];
        y[p] = (real)(sum / spatial);
    }
}

void cpu_global_avgpool_backward(Backend *be, int batch, int channels, int spatial,
                                 const real *dy, real *dx) {
    CpuState *st = cpu_state(be);
    const int planes = batch * channels;
#pragma omp parallel for schedule(static) num_threads(st->threads) if (planes * spatial >= CPU_PARALLEL_MIN_ELEMENTS)
    for (int p = 0; p < planes; p++) {
        const real share = dy[p] / (real)spatial;
        real *dst = dx + (size_t)p * spatial;
        for (int s = 0; s < spatial; s++) dst[s] = share;
    }
}

// The window of output (oh, ow) clipped to the image: rows [*h0, *h1), cols [*w0, *w1).
typedef struct {
    int h0, h1, w0, w1;
} Window;

static Window pool_window(const PoolGeom *g, int oh, int ow) {
    Window win;
    win.h0 = oh * g->stride_h - g->pad_top;
    win.w0 = ow * g->stride_w - g->pad_left;
    win.h1 = win.h0 + g->kernel_h;
    win.w1 = win.w0 + g->kernel_w;
    if (win.h0 < 0) win.h0 = 0;
    if (win.w0 < 0) win.w0 = 0;
    if (win.h1 > g->in_h) win.h1 = g->in_h;
    if (win.w1 > g->in_w) win.w1 = g->in_w;
    return win;
}

// Index within the plane of the first (row-major) maximum of the window, -1 if
// the window holds no input pixel.
static long first_max_index(const PoolGeom *g, const real *plane, Window win) {
    long best = -1;
    for (int h = win.h0; h < win.h1; h++)
        for (int w = win.w0; w < win.w1; w++) {
            long i = (long)h * g->in_w + w;
            if (best < 0 || plane[i] > plane[best]) best = i;
        }
    return best;
}

// Window reads of a pooling call: below CPU_PARALLEL_MIN_ELEMENTS it runs on the calling
// thread (waking another costs more than the work; sdinfer's batch 1).
static double pool_work(const PoolGeom *g) {
    return (double)g->batch * g->channels * g->out_h * g->out_w * g->kernel_h * g->kernel_w;
}

// Output columns [*lo, *hi) whose window lies inside the image across (no clipping).
static void inside_columns(const PoolGeom *g, int *lo, int *hi) {
    *lo = (g->pad_left + g->stride_w - 1) / g->stride_w;
    *hi = g->in_w - g->kernel_w + g->pad_left < 0
              ? 0
              : (g->in_w - g->kernel_w + g->pad_left) / g->stride_w + 1;
    if (*hi > g->out_w) *hi = g->out_w;
    if (*lo > *hi) *lo = *hi;
}

// Output row oh of one plane. The value of first_max_index's maximum, found without
// indices: each window's cells are met in the same row-major order and a cell replaces
// the maximum only when greater, so ties (-0 before +0) and NaN come out the same. The
// columns whose window is inside the image across run cell by cell over all of them at
// once, without branches (a window at a time, with 9 index compares per output, the
// stem pool took 2.6 ms of a ResNet-50 image's 135 ms on one core; this way 1.0 ms).
static void maxpool_row(const PoolGeom *g, const real *src, int oh, int lo, int hi, real *dst) {
    const Window rows = pool_window(g, oh, lo < hi ? lo : 0);
    for (int ow = 0; ow < g->out_w; ow++) {
        if (ow == lo && lo < hi) ow = hi;  // the inside columns are done below
        if (ow >= g->out_w) break;
        const long best = first_max_index(g, src, pool_window(g, oh, ow));
        // A window entirely in the padding sees only -inf (ONNX pads with -inf).
        dst[ow] = best >= 0 ? src[best] : (real)-INFINITY;
    }
    if (lo >= hi) return;
    if (rows.h0 >= rows.h1) {
        for (int ow = lo; ow < hi; ow++) dst[ow] = (real)-INFINITY;
        return;
    }
    const int first_col = lo * g->stride_w - g->pad_left, stride = g->stride_w;
    for (int h = rows.h0; h < rows.h1; h++)
        for (int kw = 0; kw < g->kernel_w; kw++) {
            const real *cells = src + (size_t)h * g->in_w + first_col + kw;
            if (h == rows.h0 && kw == 0) {
                for (int ow = lo; ow < hi; ow++) dst[ow] = cells[(size_t)(ow - lo) * stride];
                continue;
            }
            for (int ow = lo; ow < hi; ow++) {
                const real v = cells[(size_t)(ow - lo) * stride];
                dst[ow] = v > dst[ow] ? v : dst[ow];
            }
        }
}

void cpu_maxpool_forward(Backend *be, const PoolGeom *g, const real *x, real *y) {
    CpuState *st = cpu_state(be);
    const int planes = g->batch * g->channels;
    const size_t in_plane = (size_t)g->in_h * g->in_w, out_plane = (size_t)g->out_h * g->out_w;
    int lo, hi;
    inside_columns(g, &lo, &hi);
#pragma omp parallel for schedule(static) num_threads(st->threads) if (pool_work(g) >= CPU_PARALLEL_MIN_ELEMENTS)
    for (int p = 0; p < planes; p++)
        for (int oh = 0; oh < g->out_h; oh++)
            maxpool_row(g, x + (size_t)p * in_plane, oh, lo, hi,
                        y + (size_t)p * out_plane + (size_t)oh * g->out_w);
}

// Finds each window's first maximum again from x (cheaper than storing indices,
// and y alone cannot tell ties apart).
void cpu_maxpool_backward(Backend *be, const PoolGeom *g, const real *x, const real *y,
                          const real *dy, real *dx) {
    (void)y;
    CpuState *st = cpu_state(be);
    const int planes = g->batch * g->channels;
    const size_t in_plane = (size_t)g->in_h * g->in_w, out_plane = (size_t)g->out_h * g->out_w;
#pragma omp parallel for schedule(static) num_threads(st->threads) if (pool_work(g) >= CPU_PARALLEL_MIN_ELEMENTS)
    for (int p = 0; p < planes; p++) {
        const real *src = x + (size_t)p * in_plane;
        const real *grad = dy + (size_t)p * out_plane;
        real *dst = dx + (size_t)p * in_plane;
        memset(dst, 0, sizeof(real) * in_plane);
        for (int oh = 0; oh < g->out_h; oh++)
            for (int ow = 0; ow < g->out_w; ow++) {
                long best = first_max_index(g, src, pool_window(g, oh, ow));
                if (best >= 0) dst[best] += grad[(size_t)oh * g->out_w + ow];
            }
    }
}

// The average of one window, summed in double in row-major order.
static real window_average(const PoolGeom *g, const real *src, Window win) {
    double sum = 0;
    for (int h = win.h0; h < win.h1; h++)
        for (int w = win.w0; w < win.w1; w++) sum += src[(size_t)h * g->in_w + w];
    const int inside = win.h1 > win.h0 && win.w1 > win.w0 ? (win.h1 - win.h0) * (win.w1 - win.w0) : 0;
    const int divisor = g->count_include_pad ? g->kernel_h * g->kernel_w : inside;
    return divisor > 0 ? (real)(sum / divisor) : 0;
}

// Output row oh of one plane: window_average's sums in its order, the columns whose
// window is inside the image across AVGPOOL_COLUMNS at a time, cell by cell over all of
// them at once (ResNet-110's first shortcut pool at batch 1 on one core, alternating
// `sdinfer --profile` runs: 24 to 25 us a window at a time, 17 to 20 us this way).
#define AVGPOOL_COLUMNS 64
static void avgpool_row(const PoolGeom *g, const real *src, int oh, int lo, int hi, real *dst) {
    for (int ow = 0; ow < g->out_w; ow++) {
        if (ow == lo && lo < hi) ow = hi;  // the inside columns are done below
        if (ow >= g->out_w) break;
        dst[ow] = window_average(g, src, pool_window(g, oh, ow));
    }
    const Window rows = pool_window(g, oh, lo < hi ? lo : 0);
    const int cells = rows.h1 > rows.h0 ? (rows.h1 - rows.h0) * g->kernel_w : 0;
    const int divisor = g->count_include_pad ? g->kernel_h * g->kernel_w : cells;
    const int stride = g->stride_w;
    for (int c0 = lo; c0 < hi; c0 += AVGPOOL_COLUMNS) {
        const int n = hi - c0 < AVGPOOL_COLUMNS ? hi - c0 : AVGPOOL_COLUMNS;
        double sums[AVGPOOL_COLUMNS];
        // The first cell sets the sums (0 + v is v exactly), the others add.
        for (int h = rows.h0; h < rows.h1; h++)
            for (int kw = 0; kw < g->kernel_w; kw++) {
                const real *row = src + (size_t)h * g->in_w + c0 * stride - g->pad_left + kw;
                if (h == rows.h0 && kw == 0)
                    for (int i = 0; i < n; i++) sums[i] = row[(size_t)i * stride];
                else
                    for (int i = 0; i < n; i++) sums[i] += row[(size_t)i * stride];
            }
        if (rows.h0 >= rows.h1)
            for (int i = 0; i < n; i++) sums[i] = 0;
        for (int i = 0; i < n; i++) dst[c0 + i] = divisor > 0 ? (real)(sums[i] / divisor) : 0;
    }
}

void cpu_avgpool_forward(Backend *be, const PoolGeom *g, const real *x, real *y) {
    CpuState *st = cpu_state(be);
    const int planes = g->batch * g->channels;
    const size_t in_plane = (size_t)g->in_h * g->in_w, out_plane = (size_t)g->out_h * g->out_w;
    int lo, hi;
    inside_columns(g, &lo, &hi);
#pragma omp parallel for schedule(static) num_threads(st->threads) if (pool_work(g) >= CPU_PARALLEL_MIN_ELEMENTS)
    for (int p = 0; p < planes; p++)
        for (int oh = 0; oh < g->out_h; oh++)
            avgpool_row(g, x + (size_t)p * in_plane, oh, lo, hi,
                        y + (size_t)p * out_plane + (size_t)oh * g->out_w);
}
