// The option-A shortcut and the pooling layers, one thread per output element
// (or, for the backward passes, per input element, so that no two threads
// write the same address and no atomics are needed).
//
// Semantics follow the CPU backend exactly (kernels/cpu/shortcut.c, pool.c):
// option A drops a last odd row/column; pooling windows are clipped to the
// image, padded cells are never the maximum, a window with no image pixel
// yields -inf (max) or 0 (average), and count_include_pad divides by the full
// kernel area.
#include <math.h>

#include "cuda_internal.h"

// ---- option-A shortcut ------------------------------------------------------------------

static __global__ void shortcut_a_forward_kernel(size_t count, int in_c, int in_h, int in_w,
                                                 int out_c, const float *x, float *y) {
    const int out_h = in_h / 2, out_w = in_w / 2;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        const int ow = (int)(i % out_w);
        const int oh = (int)(i / out_w % out_h);
        const int c = (int)(i / ((size_t)out_w * out_h) % out_c);
        const size_t n = i / ((size_t)out_w * out_h * out_c);
        if (c >= in_c) {
            y[i] = 0.0f;
            continue;
        }
        const float *top = x + ((n * in_c + c) * in_h + 2 * oh) * (size_t)in_w + 2 * ow;
        const float *bottom = top + in_w;
        y[i] = 0.25f * (top[0] + top[1] + bottom[0] + bottom[1]);
    }
}

// One thread per input pixel of the first in_c channels: it receives a quarter
// of its window's gradient (nothing for a dropped odd row or column).
static __global__ void shortcut_a_backward_kernel(size_t count, int in_c, int in_h, int in_w,
                                                  int out_c, const float *dy, float *dx) {
    const int out_h = in_h / 2, out_w = in_w / 2;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        const int w = (int)(i % in_w);
        const int h = (int)(i / in_w % in_h);
        const int c = (int)(i / ((size_t)in_w * in_h) % in_c);
        const size_t n = i / ((size_t)in_w * in_h * in_c);
        const int oh = h / 2, ow = w / 2;
        if (oh >= out_h || ow >= out_w) continue;
        dx[i] += 0.25f * dy[((n * out_c + c) * out_h + oh) * (size_t)out_w + ow];
    }
}

void cuda_shortcut_a_forward(Backend *be, int batch, int in_c, int in_h, int in_w, int out_c,
                             const real *x, real *y) {
    CudaState *st = cuda_state(be);
    const size_t count = (size_t)batch * out_c * (in_h / 2) * (in_w / 2);
    if (st->failed || count == 0) return;
    shortcut_a_forward_kernel<<<cuda_blocks_for(st, count), CUDA_THREADS, 0, st->stream>>>(
        count, in_c, in_h, in_w, out_c, x, y);
    LAUNCH_OK(st, "shortcut_a_forward_kernel");
}

void cuda_shortcut_a_backward_accumulate(Backend *be, int batch, int in_c, int in_h, int in_w,
                                         int out_c, const real *dy, real *dx) {
    CudaState *st = cuda_state(be);
    const size_t count = (size_t)batch * in_c * in_h * in_w;
    if (st->failed || count == 0 || in_h < 2 || in_w < 2) return;
    shortcut_a_backward_kernel<<<cuda_blocks_for(st, count), CUDA_THREADS, 0, st->stream>>>(
        count, in_c, in_h, in_w, out_c, dy, dx);
    LAUNCH_OK(st, "shortcut_a_backward_kernel");
}

// ---- global average pooling ---------------------------------------------------------------

#define WARPS_PER_BLOCK (CUDA_THREADS / 32)

static __device__ float warp_sum(float v) {
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
    return v;
}

// One warp per (image, channel) plane.
static __global__ void global_avgpool_forward_kernel(size_t planes, int spatial, const float *x,
                                                     float *y) {
    const int lane = threadIdx.x % 32;
    const size_t first_warp = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32;
    const size_t warp_stride = (size_t)gridDim.x * blockDim.x / 32;
    for (size_t p = first_warp; p < planes; p += warp_stride) {
        const float *src = x + p * spatial;
        float sum = 0.0f;
        for (int s = lane; s < spatial; s += 32) sum += src[s];
        sum = warp_sum(sum);
        if (lane == 0) y[p] = sum / (float)spatial;
    }
}

static __global__ void global_avgpool_backward_kernel(size_t count, int spatial, const float *dy,
                                                      float *dx) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x)
        dx[i] = dy[i / spatial] / (float)spatial;
}

// Blocks for a warp-per-item kernel over `items`.
static unsigned warp_blocks_for(const CudaState *st, size_t items) {
    size_t blocks = (items + WARPS_PER_BLOCK - 1) / WARPS_PER_BLOCK;
    if (blocks > st->max_blocks) blocks = st->max_blocks;
    return blocks ? (unsigned)blocks : 1u;
}

void cuda_global_avgpool_forward(Backend *be, int batch, int channels, int spatial, const real *x,
                                 real *y) {
    CudaState *st = cuda_state(be);
    const size_t planes = (size_t)batch * channels;
    if (st->failed || planes == 0 || spatial <= 0) return;
    global_avgpool_forward_kernel<<<warp_blocks_for(st, planes), CUDA_THREADS, 0, st->stream>>>(
        planes, spatial, x, y);
    LAUNCH_OK(st, "global_avgpool_forward_kernel");
}

void cuda_global_avgpool_backward(Backend *be, int batch, int channels, int spatial,
                                  const real *dy, real *dx) {
    CudaState *st = cuda_state(be);
    const size_t count = (size_t)batch * channels * spatial;
    if (st->failed || count == 0) return;
    global_avgpool_backward_kernel<<<cuda_blocks_for(st, count), CUDA_THREADS, 0, st->stream>>>(
        count, spatial, dy, dx);
    LAUNCH_OK(st, "global_avgpool_backward_kernel");
}

// ---- windowed pooling -----------------------------------------------------------------------

typedef struct {
    int h0, h1, w0, w1;  // rows [h0, h1), columns [w0, w1), clipped to the image
} Window;

static __device__ Window pool_window(const PoolGeom g, int oh, int ow) {
    Window win;
    win.h0 = oh * g.stride_h - g.pad_top;
    win.w0 = ow * g.stride_w - g.pad_left;
    win.h1 = min(win.h0 + g.kernel_h, g.in_h);
    win.w1 = min(win.w0 + g.kernel_w, g.in_w);
    win.h0 = max(win.h0, 0);
    win.w0 = max(win.w0, 0);
    return win;
}

// Index in the plane of the window's first (row-major) maximum; -1 if empty.
static __device__ int first_max_index(const PoolGeom g, const float *plane, Window win) {
    int best = -1;
    float best_value = 0.0f;
    for (int h = win.h0; h < win.h1; h++)
        for (int w = win.w0; w < win.w1; w++) {
            const int i = h * g.in_w + w;
            const float v = plane[i];
            if (best < 0 || v > best_value) {
                best = i;
                best_value = v;
            }
        }
    return best;
}

static __global__ void maxpool_forward_kernel(size_t count, PoolGeom g, const float *x, float *y) {
    const size_t in_plane = (size_t)g.in_h * g.in_w, out_plane = (size_t)g.out_h * g.out_w;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t p = i / out_plane;
        const int oh = (int)(i % out_plane / g.out_w), ow = (int)(i % g.out_w);
        const float *plane = x + p * in_plane;
        const int best = first_max_index(g, plane, pool_window(g, oh, ow));
        y[i] = best >= 0 ? plane[best] : -INFINITY;
    }
}

// One thread per input pixel: it sums, in ascending (oh, ow) order as the CPU
// does, the gradients of the windows whose first maximum it is.
static __global__ void maxpool_backward_kernel(size_t count, PoolGeom g, const float *x,
                                               const float *dy, float *dx) {
    const size_t in_plane = (size_t)g.in_h * g.in_w, out_plane = (size_t)g.out_h * g.out_w;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t p = i / in_plane;
        const int h = (int)(i % in_plane / g.in_w), w = (int)(i % g.in_w);
        const int self = h * g.in_w + w;
        const float *plane = x + p * in_plane;
        const float *grad = dy + p * out_plane;
        // Windows that contain row h: oh * stride - pad <= h < oh * stride - pad + kernel.
        const int h_lo = h + g.pad_top - g.kernel_h + 1, h_hi = h + g.pad_top;
        const int w_lo = w + g.pad_left - g.kernel_w + 1, w_hi = w + g.pad_left;
        const int oh0 = h_lo <= 0 ? 0 : (h_lo + g.stride_h - 1) / g.stride_h;
        const int ow0 = w_lo <= 0 ? 0 : (w_lo + g.stride_w - 1) / g.stride_w;
        const int oh1 = h_hi < 0 ? -1 : min(h_hi / g.stride_h, g.out_h - 1);
        const int ow1 = w_hi < 0 ? -1 : min(w_hi / g.stride_w, g.out_w - 1);
        float sum = 0.0f;
        for (int oh = oh0; oh <= oh1; oh++)
            for (int ow = ow0; ow <= ow1; ow++)
                if (first_max_index(g, plane, pool_window(g, oh, ow)) == self)
                    sum += grad[(size_t)oh * g.out_w + ow];
        dx[i] = sum;
    }
}

static __global__ void avgpool_forward_kernel(size_t count, PoolGeom g, const float *x, float *y) {
    const size_t in_plane = (size_t)g.in_h * g.in_w, out_plane = (size_t)g.out_h * g.out_w;
    const int full_window = g.kernel_h * g.kernel_w;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t p = i / out_plane;
        const int oh = (int)(i % out_plane / g.out_w), ow = (int)(i % g.out_w);
        const float *plane = x + p * in_plane;
        const Window win = pool_window(g, oh, ow);
        float sum = 0.0f;
        for (int h = win.h0; h < win.h1; h++)
            for (int w = win.w0; w < win.w1; w++) sum += plane[h * g.in_w + w];
        const int inside =
            (win.h1 > win.h0 && win.w1 > win.w0) ? (win.h1 - win.h0) * (win.w1 - win.w0) : 0;
        const int divisor = g.count_include_pad ? full_window : inside;
        y[i] = divisor > 0 ? sum / (float)divisor : 0.0f;
    }
}

static int pool_geom_is_valid(CudaState *st, const PoolGeom *g) {
    if (g->batch > 0 && g->channels > 0 && g->in_h > 0 && g->in_w > 0 && g->out_h > 0 &&
        g->out_w > 0 && g->kernel_h > 0 && g->kernel_w > 0 && g->stride_h > 0 && g->stride_w > 0)
        return 1;
    cuda_record_error(st, __FILE__, __LINE__, "invalid pooling geometry");
    return 0;
}

void cuda_maxpool_forward(Backend *be, const PoolGeom *g, const real *x, real *y) {
    CudaState *st = cuda_state(be);
    if (st->failed || !pool_geom_is_valid(st, g)) return;
    const size_t count = (size_t)g->batch * g->channels * g->out_h * g->out_w;
    maxpool_forward_kernel<<<cuda_blocks_for(st, count), CUDA_THREADS, 0, st->stream>>>(count, *g,
                                                                                        x, y);
    LAUNCH_OK(st, "maxpool_forward_kernel");
}

void cuda_maxpool_backward(Backend *be, const PoolGeom *g, const real *x, const real *y,
                           const real *dy, real *dx) {
    (void)y;  // the first maximum is found again from x, as on the CPU
    CudaState *st = cuda_state(be);
    if (st->failed || !pool_geom_is_valid(st, g)) return;
    const size_t count = (size_t)g->batch * g->channels * g->in_h * g->in_w;
    maxpool_backward_kernel<<<cuda_blocks_for(st, count), CUDA_THREADS, 0, st->stream>>>(count, *g,
                                                                                         x, dy, dx);
    LAUNCH_OK(st, "maxpool_backward_kernel");
}

void cuda_avgpool_forward(Backend *be, const PoolGeom *g, const real *x, real *y) {
    CudaState *st = cuda_state(be);
    if (st->failed || !pool_geom_is_valid(st, g)) return;
    const size_t count = (size_t)g->batch * g->channels * g->out_h * g->out_w;
    avgpool_forward_kernel<<<cuda_blocks_for(st, count), CUDA_THREADS, 0, st->stream>>>(count, *g,
                                                                                        x, y);
    LAUNCH_OK(st, "avgpool_forward_kernel");
}
