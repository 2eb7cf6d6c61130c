// Grouped and dilated convolutions on the CPU (sdinfer's STEP_CONV_GROUPED):
// which kernel runs each, and how the threads share the work.
//
//   - depthwise (one input channel per group, any channel multiplier, stride,
//     padding, dilation): the vector kernel simd/conv_depthwise.c, one (image,
//     output channel) plane per work item;
//   - several channels per group, dilation 1 (RegNet-X, ResNeXt): each (image,
//     group) is a dense convolution of its own channels, run by the same code as
//     Conv (cpu_conv2d_forward: direct stride-1 or im2col + GEMM) on pointers
//     offset to the group;
//   - several channels per group and a dilation: a scalar direct loop (below), the
//     one case nothing faster covers yet.
//
// The epilogue (a fused Add's residual, then the clamp of a fused ReLU or Clip) runs
// in the kernels' own epilogue (the depthwise and dense ones), or for the scalar loop
// in one pass over each plane right after it is computed, while it is still in cache.
//
// Each output's value depends only on the geometry, never on the thread count, so
// 1 and N threads give the same bits (tests/test_conv_grouped.c checks it).
#include <omp.h>

#include "cpu_ops.h"
#include "infer_ops.h"

// The tensors of one grouped convolution and its epilogue.
typedef struct {
    const real *x, *w, *bias, *residual;
    OutputClamp clamp;
    real *y;
} GroupedCall;

// y = clamp(y + residual) over one output plane (residual may be NULL): the order of
// the dense kernels' epilogue, the bias having been added with the sums.
static void plane_epilogue(const real *residual, OutputClamp clamp, size_t count, real *y) {
    if (residual && clamp.on)
        for (size_t i = 0; i < count; i++) y[i] = clamp_apply(clamp, y[i] + residual[i]);
    else if (residual)
        for (size_t i = 0; i < count; i++) y[i] += residual[i];
    else if (clamp.on)
        for (size_t i = 0; i < count; i++) y[i] = clamp_apply(clamp, y[i]);
}

// ---- depthwise --------------------------------------------------------------------

// Whether the layer's channels go VEC_LEN at a time through depthwise_block (else one
// plane at a time): a channel multiplier of 1 and output planes small enough that a
// plane's rows are a vector or two, where the per-plane preparation and the short
// rows cost more than the taps.
// (MobileNetV2 batch 1, one thread, 2-core AMD EPYC, ms per layer plane by plane ->
// in blocks: 7x7 0.13 -> 0.035, 14x14 0.10 -> 0.05, 56x56 0.31 -> 0.26, stride 2 to
// 56x56 0.51 -> 0.39; 112x112 0.28 -> 0.30, so that one stays plane by plane.)
#define DEPTHWISE_BLOCK_MAX_PIXELS (56 * 56)
static int depthwise_in_blocks(const ConvGeom *g) {
    return g->out_c == g->in_c && (size_t)g->out_h * g->out_w <= DEPTHWISE_BLOCK_MAX_PIXELS;
}

// One work item: image n's output channels [oc0, oc0 + count), in one block or plane by
// plane.
static void depthwise_item(const CpuKernels *k, const ConvGeom *g, const DepthwiseConv *d,
                           int n, int oc0, int count, int in_blocks, real *scratch,
                           const GroupedCall *c) {
    const int multiplier = g->out_c / g->in_c;  // output channels per input channel
    const size_t in_plane = (size_t)g->in_h * g->in_w, out_plane = (size_t)g->out_h * g->out_w;
    const size_t taps = (size_t)g->kernel_h * g->kernel_w;
    const size_t first_out = (size_t)n * g->out_c + oc0;
    const real *residual = c->residual ? c->residual + first_out * out_plane : NULL;
    if (in_blocks && count == k->vector_bytes / (int)sizeof(real)) {
        k->depthwise_block(d, c->x + ((size_t)n * g->in_c + oc0) * in_plane,
                           c->w + (size_t)oc0 * taps, c->bias ? c->bias + oc0 : NULL, residual,
                           c->clamp, scratch, c->y + first_out * out_plane);
        return;
    }
    for (int oc = oc0; oc < oc0 + count; oc++) {
        const int ic = oc / multiplier;
        k->depthwise_plane(d, c->x + ((size_t)n * g->in_c + ic) * in_plane,
                           c->w + (size_t)oc * taps, c->bias ? c->bias[oc] : 0,
                           residual ? residual + (size_t)(oc - oc0) * out_plane : NULL, c->clamp,
                           scratch, c->y + ((size_t)n * g->out_c + oc) * out_plane);
    }
}

static void depthwise_forward(CpuState *st, const ConvGeom *g, int dilation_h, int dilation_w,
                              const GroupedCall *c) {
    const CpuKernels *k = st->kernels;
    const DepthwiseConv d = {g->in_h,     g->in_w,     g->out_h,    g->out_w,
                             g->kernel_h, g->kernel_w, g->stride_h, g->stride_w,
                             g->pad_top,  g->pad_left, dilation_h,  dilation_w};
    const int in_blocks = depthwise_in_blocks(g);
    // Items of a block's channels (a plane each when not in blocks); the channels left
    // after the whole blocks are one more item, plane by plane.
    const int width = in_blocks ? k->vector_bytes / (int)sizeof(real) : 1;
    const int items_per_image = (g->out_c + width - 1) / width;
    const int64_t items = (int64_t)g->batch * items_per_image;
    const double macs =
        (double)g->batch * g->out_c * g->out_h * g->out_w * g->kernel_h * g->kernel_w;
    const size_t plane_scratch = k->depthwise_scratch_size(&d);
    const size_t block_scratch = in_blocks ? k->depthwise_block_scratch_size(&d) : 0;
    cpu_scratch_reserve(st, block_scratch > plane_scratch ? block_scratch : plane_scratch);
#pragma omp parallel for schedule(static) num_threads(st->threads) if (macs >= CPU_PARALLEL_MIN_ELEMENTS)
    for (int64_t item = 0; item < items; item++) {
        const int n = (int)(item / items_per_image), oc0 = (int)(item % items_per_image) * width;
        const int count = g->out_c - oc0 < width ? g->out_c - oc0 : width;
        real *scratch = st->scratch[omp_get_thread_num()].data;
        depthwise_item(k, g, &d, n, oc0, count, in_blocks, scratch, c);
    }
}

// ---- several channels per group: dense convolutions per (image, group) ------------

// The CPU backend as the dense kernels see it when they run one group: `threads`
// threads on `scratch`, and Winograd off. Winograd is off because its cache of
// transformed weights is shared state that several threads must not grow at once,
// and because the choice between it and direct would depend on how the groups are
// split between threads (the results would then too). The view is a copy of the
// state: only the per-thread scratch it is given may grow through it (the dense forward
// paths grow nothing else); a path that grew `shared` or the Winograd buffers through
// a view would leave the real state pointing at freed memory. Its matrix-product scratch
// is its threads' slots of the real state's (cpu_gemm_packs, made before: a view that
// made its own would leak it, and views sharing one slot would race).
typedef struct {
    CpuState state;
    Backend backend;
} GroupBackend;

static void group_backend_init(Backend *be, int threads, CpuScratch *scratch, real *gemm_pack,
                               GroupBackend *view) {
    view->state = *cpu_state(be);
    view->state.threads = threads;
    view->state.scratch = scratch;
    view->state.gemm_pack = gemm_pack;
    view->state.conv_algorithm = CPU_CONV_DIRECT;
    view->backend = *be;
    view->backend.state = &view->state;
}

// One group of one image: batch 1, the group's channels, NCHW.
static ConvGeom group_geometry(const ConvGeom *g, int groups) {
    ConvGeom one = *g;
    one.batch = 1;
    one.in_c = g->in_c / groups;
    one.out_c = g->out_c / groups;
    one.constant_weights = 0;
    one.in_channels_last = one.out_channels_last = one.residual_channels_last = 0;
    return one;
}

// Work item `item` = (image, group) of the layer.
static void group_item(Backend *view, const ConvGeom *g, const ConvGeom *one, int groups,
                       int item, const GroupedCall *c) {
    const int n = item / groups, group = item % groups;
    const size_t in_plane = (size_t)g->in_h * g->in_w, out_plane = (size_t)g->out_h * g->out_w;
    const size_t group_weights = (size_t)one->out_c * one->in_c * g->kernel_h * g->kernel_w;
    const size_t in_first = (size_t)n * g->in_c + (size_t)group * one->in_c;
    const size_t out_first = (size_t)n * g->out_c + (size_t)group * one->out_c;
    cpu_conv2d_forward(view, one, c->x + in_first * in_plane,
                       c->w + (size_t)group * group_weights,
                       c->bias ? c->bias + (size_t)group * one->out_c : NULL,
                       c->residual ? c->residual + out_first * out_plane : NULL, c->clamp,
                       c->y + out_first * out_plane);
}

// Items one per thread (each runs the dense code single-threaded on its own scratch),
// unless there are fewer items than threads and each is large enough for the dense
// code to split it (cpu_split_images): then the items run in turn, every thread in each.
// Teams are never nested.
static void groups_as_dense(Backend *be, const ConvGeom *g, int groups, const GroupedCall *c) {
    CpuState *st = cpu_state(be);
    const ConvGeom one = group_geometry(g, groups);
    const int items = g->batch * groups;
    real *packs = cpu_gemm_packs(st);
    if (items < st->threads && cpu_split_images(st, 1, conv_macs(&one))) {
        GroupBackend view;
        group_backend_init(be, st->threads, st->scratch, packs, &view);
        for (int item = 0; item < items; item++)
            group_item(&view.backend, g, &one, groups, item, c);
        return;
    }
    const int parallel = st->threads > 1 && items > 1 && conv_macs(g) >= CPU_PARALLEL_MIN_ELEMENTS;
#pragma omp parallel num_threads(st->threads) if (parallel)
    {
        // This thread's scratch only: growing it here touches no other thread's.
        GroupBackend view;
        const int thread = omp_get_thread_num();
        group_backend_init(be, 1, &st->scratch[thread], cpu_gemm_pack_of(packs, thread), &view);
#pragma omp for schedule(dynamic, 1)
        for (int item = 0; item < items; item++)
            group_item(&view.backend, g, &one, groups, item, c);
    }
}

// ---- several channels per group and a dilation: the scalar loop ------------------

// One input channel's contribution to one output plane.
static void accumulate_channel(const ConvGeom *g, int dilation_h, int dilation_w, const real *in,
                               const real *kernel, real *out) {
    for (int ky = 0; ky < g->kernel_h; ky++)
        for (int kx = 0; kx < g->kernel_w; kx++) {
            real weight = kernel[ky * g->kernel_w + kx];
            for (int oy = 0; oy < g->out_h; oy++) {
                int iy = oy * g->stride_h - g->pad_top + ky * dilation_h;
                if (iy < 0 || iy >= g->in_h) continue;
                const real *row = in + (size_t)iy * g->in_w;
                real *out_row = out + (size_t)oy * g->out_w;
                for (int ox = 0; ox < g->out_w; ox++) {
                    int ix = ox * g->stride_w - g->pad_left + kx * dilation_w;
                    if (ix >= 0 && ix < g->in_w) out_row[ox] += weight * row[ix];
                }
            }
        }
}

// Each (image, output channel) plane is independent, so planes split across threads.
static void scalar_grouped_forward(CpuState *st, const ConvGeom *g, int groups, int dilation_h,
                                   int dilation_w, const GroupedCall *c) {
    int in_per_group = g->in_c / groups, out_per_group = g->out_c / groups;
    int64_t planes = (int64_t)g->batch * g->out_c;
    size_t out_plane = (size_t)g->out_h * g->out_w, in_plane = (size_t)g->in_h * g->in_w;
    size_t kernel_size = (size_t)g->kernel_h * g->kernel_w;
    double work = (double)planes * (double)out_plane * in_per_group * (double)kernel_size;
#pragma omp parallel for schedule(static) num_threads(st->threads) if (work >= CPU_PARALLEL_MIN_ELEMENTS)
    for (int64_t p = 0; p < planes; p++) {
        int n = (int)(p / g->out_c), oc = (int)(p % g->out_c), group = oc / out_per_group;
        real *out = c->y + (size_t)p * out_plane;
        real start = c->bias ? c->bias[oc] : 0;
        for (size_t i = 0; i < out_plane; i++) out[i] = start;
        for (int ic = 0; ic < in_per_group; ic++) {
            const real *in =
                c->x + ((size_t)n * g->in_c + (size_t)group * in_per_group + ic) * in_plane;
            const real *kernel = c->w + ((size_t)oc * in_per_group + ic) * kernel_size;
            accumulate_channel(g, dilation_h, dilation_w, in, kernel, out);
        }
        plane_epilogue(c->residual ? c->residual + (size_t)p * out_plane : NULL, c->clamp,
                       out_plane, out);
    }
}

void cpu_conv2d_grouped_forward(Backend *be, const ConvGeom *g, int groups, int dilation_h,
                                int dilation_w, const real *x, const real *w, const real *bias,
                                const real *residual, OutputClamp clamp, real *y) {
    CpuState *st = cpu_state(be);
    const GroupedCall call = {x, w, bias, residual, clamp, y};
    if (g->in_c == groups)
        depthwise_forward(st, g, dilation_h, dilation_w, &call);
    else if (dilation_h == 1 && dilation_w == 1)
        groups_as_dense(be, g, groups, &call);
    else
        scalar_grouped_forward(st, g, groups, dilation_h, dilation_w, &call);
}
