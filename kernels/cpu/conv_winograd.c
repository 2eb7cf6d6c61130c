// Stride-1 3x3 convolutions by Winograd F(m x m, 3 x 3) on the CPU: which shapes
// take it, the transformed weights, and how the threads share the work. The
// arithmetic is in simd/conv_winograd.c.
//
// Choice (cpu_winograd_tile): the kernels vectorise over channels, so both
// channel counts must be multiples of the vector length. Then the transformed
// weights decide: they are alpha^2 / 9 times the size of the 3x3 weights (4x for
// F(4x4), 1.8x for F(2x2)) and every tile of the call reads all of them, so a call
// with few tiles (a small image at batch 1: sdinfer's latency case, where each
// layer's weights come from memory) is bound by reading them, not by the
// multiply-adds. F(4x4, 3x3) (4x fewer multiply-adds than direct) when the call
// has at least WINOGRAD4_MIN_TILES of its tiles, else F(2x2, 3x3) (2.25x fewer;
// on those small calls it still beat direct). The choice depends on the geometry
// and the kernel set only, never on timing, so a run is reproducible (and a
// resumed training bit-identical).
// SD_CPU_CONV=direct|winograd2|winograd4 forces one path where it applies.
//
// Work: images in parallel in groups large enough to fill a block of tiles
// (one 8x8 image has only 4 tiles of F(4x4)); with fewer images than threads,
// the threads split one image's tiles, then its output channels.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_ops.h"

#define WINOGRAD_TILE_TARGET 16  // tiles per work item: a full block of the kernels
// F(4x4) tiles a call needs before F(4x4)'s larger transformed weights pay for
// themselves (sdinfer, ResNet-110 on 28x28 input, batch 1, one thread, 2-core AMD
// EPYC: thresholds 1, 4, 8, 16, 32, 64, never tried; 16 and 32 were best, never
// (F(2x2) everywhere) and 1 clearly worse, on a loaded machine).
#define WINOGRAD4_MIN_TILES 16

int cpu_winograd_tile(const CpuState *st, const ConvGeom *g) {
    const int lanes = st->kernels->vector_bytes / (int)sizeof(real);
    if (st->conv_algorithm == CPU_CONV_DIRECT) return 0;
    if (g->kernel_h != 3 || g->kernel_w != 3 || g->stride_h != 1 || g->stride_w != 1) return 0;
    if (g->in_c % lanes != 0 || g->out_c % lanes != 0) return 0;
    if (g->pad_top < 0 || g->pad_left < 0 || g->pad_top > 2 || g->pad_left > 2) return 0;
    if (g->out_h < 1 || g->out_w < 1) return 0;
    if (st->conv_algorithm == CPU_CONV_WINOGRAD2) return 2;
    if (st->conv_algorithm == CPU_CONV_WINOGRAD4) return 4;
    const long tiles4 = (long)g->batch * ((g->out_h + 3) / 4) * ((g->out_w + 3) / 4);
    return tiles4 >= WINOGRAD4_MIN_TILES ? 4 : 2;
}

static WinogradConv winograd_conv(const ConvGeom *g, int m) {
    return (WinogradConv){m,        g->in_c,  g->in_h,  g->in_w,  g->out_c,
                          g->out_h, g->out_w, g->pad_top, g->pad_left};
}

static void *checked_malloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "cpu backend: out of memory (%zu bytes for Winograd weights)\n", bytes);
        abort();
    }
    return p;
}

// The transformed weights: kept per (weights, geometry) when the caller says they are
// constant, else transformed into the backend's buffer at every call.
static const real *transformed_weights(CpuState *st, const ConvGeom *g, const WinogradConv *wc,
                                       const real *w) {
    const CpuKernels *k = st->kernels;
    const size_t size = k->winograd_weights_size(wc);
    if (!g->constant_weights) {
        cpu_scratch_grow(&st->winograd_weights, size);
        k->winograd_weights(wc, w, st->winograd_weights.data);
        return st->winograd_weights.data;
    }
    for (int i = 0; i < st->winograd_cached; i++) {
        const WinogradCacheEntry *e = &st->winograd_cache[i];
        if (e->weights == w && memcmp(&e->conv, wc, sizeof *wc) == 0) return e->transformed;
    }
    if (st->winograd_cached == st->winograd_cache_capacity) {
        const int capacity = st->winograd_cache_capacity ? 2 * st->winograd_cache_capacity : 64;
        WinogradCacheEntry *grown = realloc(st->winograd_cache, (size_t)capacity * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "cpu backend: out of memory for the Winograd weight cache\n");
            abort();
        }
        st->winograd_cache = grown;
        st->winograd_cache_capacity = capacity;
    }
    WinogradCacheEntry *e = &st->winograd_cache[st->winograd_cached++];
    e->weights = w;
    e->conv = *wc;
    e->transformed = checked_malloc(size * sizeof(real));
    k->winograd_weights(wc, w, e->transformed);
    return e->transformed;
}

void cpu_winograd_cache_free(CpuState *st) {
    for (int i = 0; i < st->winograd_cached; i++) free(st->winograd_cache[i].transformed);
    free(st->winograd_cache);
    free(st->winograd_weights.data);
}

// One forward call's operands and layouts, as the paths below share them.
typedef struct {
    const ConvGeom *g;
    WinogradConv wc;
    const real *u;  // transformed weights
    const real *x, *bias, *residual;
    OutputClamp clamp;
    real *y;
    size_t in_size, out_size;  // reals per image
    WinogradConv residual_view;  // the residual seen as a convolution input (its transpose)
} WinogradCall;

// Asks for `count` reals from p in cache, one request per line. A channels-last operand
// is read by the tiles straight from the activation (no transpose first): its image
// was written a whole layer ago and has left the core's caches, and the tiles read it
// in small blocks of rows that the hardware prefetchers do not anticipate, so the loads
// would wait for memory one window at a time. Asking for the image in one sweep lets the
// memory system fetch it in parallel, as the transpose's sequential reads did.
static void prefetch_range(const real *p, size_t count) {
    const size_t line = 64 / sizeof(real);
    for (size_t i = 0; i < count; i += line) __builtin_prefetch(p + i, 0, 3);
}

// Whether a channels-last operand is asked for (prefetch_range). Not when the threads
// share one image (split_share): the team wrote it one call ago, each core a part, so it
// is still in their caches, and every thread asking for all of it pulled the other
// core's part over for nothing. sdinfer, ResNet-110 at batch 1 on 2 threads, one process
// alternating images between the two ways (AMD EPYC family 25): the median image 3% to
// 7% faster without, in four runs of 1000 images each way.
typedef enum { NO_PREFETCH, PREFETCH } Prefetch;

// The residual that an epilogue in the output transform adds (channels-last): the
// residual itself, or its transpose into `scratch` when it is NCHW and the output is
// channels-last. NULL when the transpose back to NCHW adds it (winograd_to_nchw).
static const real *channels_last_residual(const CpuKernels *k, const WinogradCall *c, int n0,
                                          int images, Prefetch prefetch, real *scratch) {
    const ConvGeom *g = c->g;
    if (!c->residual) return NULL;
    const real *first = c->residual + (size_t)n0 * c->out_size;
    if (g->residual_channels_last) {
        if (prefetch == PREFETCH) prefetch_range(first, (size_t)images * c->out_size);
        return first;
    }
    if (!g->out_channels_last) return NULL;
    k->winograd_to_nhwc(&c->residual_view, images, first, scratch);
    return scratch;
}

// Tiles [tile_begin, tile_end) of the images from n0, output channels [k_begin, k_end), from the input xt
// (channels-last) to the output in its layout. yt: channels-last scratch for an NCHW
// output; res: channels_last_residual's answer for these images.
static void run_images(const CpuKernels *k, const WinogradCall *c, int n0, const real *xt, const real *res, int tile_begin, int tile_end,
                       int k_begin, int k_end, real *blocks, real *yt) {
    const ConvGeom *g = c->g;
    real *y = c->y + (size_t)n0 * c->out_size;
    const WinogradEpilogue epilogue = {c->bias, res, c->clamp};
    if (g->out_channels_last) {
        k->winograd_tiles(&c->wc, xt, c->u, tile_begin, tile_end, k_begin, k_end, &epilogue,
                          blocks, y);
        return;
    }
    // NCHW output: the transpose back adds bias, residual and clamp, unless the residual
    // is channels-last (then the output transform adds all three, in the same order).
    k->winograd_tiles(&c->wc, xt, c->u, tile_begin, tile_end, k_begin, k_end,
                      res ? &epilogue : NULL, blocks, yt);
}

static void to_nchw(const CpuKernels *k, const WinogradCall *c, int n0, int images,
                    const real *res, int k_begin, int k_end, const real *yt) {
    if (c->g->out_channels_last) return;
    const real *residual = c->residual ? c->residual + (size_t)n0 * c->out_size : NULL;
    if (res)  // the epilogue has been applied
        k->winograd_to_nchw(&c->wc, images, yt, NULL, NULL, clamp_none(), k_begin, k_end,
                            c->y + (size_t)n0 * c->out_size);
    else
        k->winograd_to_nchw(&c->wc, images, yt, c->bias, residual, c->clamp, k_begin, k_end,
                            c->y + (size_t)n0 * c->out_size);
}

// The input of images [n0, n0 + images) channels-last: x itself, or its transpose.
static const real *channels_last_input(const CpuKernels *k, const WinogradCall *c, int n0,
                                       int images, Prefetch prefetch, real *scratch) {
    const real *first = c->x + (size_t)n0 * c->in_size;
    if (c->g->in_channels_last) {
        if (prefetch == PREFETCH) prefetch_range(first, (size_t)images * c->in_size);
        return first;
    }
    k->winograd_to_nhwc(&c->wc, images, first, scratch);
    return scratch;
}

// One group of images, input to output, in the calling thread's scratch.
typedef struct {
    int group, per_image;
    size_t group_in, group_out;
} ImageGroups;

static void image_group(CpuState *st, const WinogradCall *c, const ImageGroups *groups, int i,
                        int thread) {
    const CpuKernels *k = st->kernels;
    const int n0 = i * groups->group;
    const int images = c->g->batch - n0 < groups->group ? c->g->batch - n0 : groups->group;
    real *scratch = st->scratch[thread].data;
    real *xt_space = scratch, *yt = scratch + groups->group_in, *rt = yt + groups->group_out;
    real *blocks = rt + groups->group_out;
    const real *xt = channels_last_input(k, c, n0, images, PREFETCH, xt_space);
    const real *res = channels_last_residual(k, c, n0, images, PREFETCH, rt);
    run_images(k, c, n0, xt, res, 0, images * groups->per_image, 0, c->g->out_c, blocks, yt);
    to_nchw(k, c, n0, images, res, 0, c->g->out_c, yt);
}

// Images in groups of `group`, each group on one thread from input to output. One group
// or one thread runs without an OpenMP region: entering even a one-thread region costs a
// futex call in libgomp (1.2 us on the 2-core AMD EPYC VM here, measured: about 5% of a
// ResNet-110 image at batch 1, where every convolution is one group).
static void images_in_parallel(CpuState *st, const WinogradCall *c) {
    const CpuKernels *k = st->kernels;
    const ConvGeom *g = c->g;
    ImageGroups groups = {.per_image = winograd_tiles_per_image(&c->wc)};
    groups.group = (WINOGRAD_TILE_TARGET + groups.per_image - 1) / groups.per_image;
    if (groups.group > g->batch) groups.group = g->batch;
    const size_t block = k->winograd_block_scratch_size(&c->wc);
    groups.group_in = (size_t)groups.group * c->in_size;
    groups.group_out = (size_t)groups.group * c->out_size;
    cpu_scratch_reserve(st, groups.group_in + 2 * groups.group_out + block);
    const int count = (g->batch + groups.group - 1) / groups.group;
    if (st->threads == 1 || count == 1) {
        for (int i = 0; i < count; i++) image_group(st, c, &groups, i, 0);
        return;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(st->threads)
    for (int i = 0; i < count; i++) image_group(st, c, &groups, i, omp_get_thread_num());
}

// Fewer images than threads: the threads split each image, by tiles or by output channels.
// By tiles when there are at most WINOGRAD_TILE_SPLIT_MAX_CHANNELS output channels (or
// fewer vectors of them than threads): each thread transforms only its own tiles' inputs.
// A channels-last output is then written tile by tile, without a barrier; an NCHW one
// goes to one channels-last buffer shared by all (thread 0's scratch) and, after a
// barrier, the threads transpose it back by output channels. By output channels with
// more of them: each thread transforms every input tile (a small part of a call there)
// but reads only its part of the weights, the large part (ResNet-50's last stage: 16.7
// MB of F(2x2) weights for 16 tiles at batch 1, from memory). Splitting ResNet-110's 16
// to 64 channels instead, as before, had each thread transform every input tile, a
// quarter of a call at batch 1 with AVX2: 2 threads gained little over 1 (by tiles: a
// median 1.18x in 8 alternating pairs, AMD EPYC family 25). A barrier also where the
// residual's layout differs from the output's and the residual may be the output itself:
// then every thread must have read the residual before any writes.
#define WINOGRAD_TILE_SPLIT_MAX_CHANNELS 64
static size_t split_scratch_size(const CpuKernels *k, const WinogradCall *c) {
    return c->in_size + 2 * c->out_size + k->winograd_block_scratch_size(&c->wc);
}

// What one thread did in a region of split calls, for thread_balance_record: products of
// a tile and a vector of output channels, and the seconds they took.
typedef struct {
    long items;
    double seconds;
} SplitWork;

// Thread `thread`'s share of the call, inside a region of `threads` (its barriers bind to
// it), on scratch reserved for split_scratch_size: its range of the tiles or of the
// output channels' vectors as st->balance sizes it (thread_balance.c); the transposes
// back of a shared output split equally (they do not tell a thread's speed).
static void split_share(CpuState *st, const WinogradCall *c, const int thread, const int threads,
                        SplitWork *work) {
    const CpuKernels *k = st->kernels;
    const ConvGeom *g = c->g;
    const int per_image = winograd_tiles_per_image(&c->wc);
    const int lanes = k->vector_bytes / (int)sizeof(real), vectors = g->out_c / lanes;
    const int mixed = c->residual && g->residual_channels_last != g->out_channels_last;
    const int by_tiles = vectors < threads || g->out_c <= WINOGRAD_TILE_SPLIT_MAX_CHANNELS;
    const int shared_output = by_tiles && !g->out_channels_last;
    // This thread's share of the output channels: its products (by channels) or its
    // transpose back of the shared output (by tiles).
    const int c_begin = vectors * thread / threads * lanes;
    const int c_end = vectors * (thread + 1) / threads * lanes;
    int share_begin, share_end;
    thread_balance_range(&st->balance, thread, threads, by_tiles ? per_image : vectors,
                         &share_begin, &share_end);
    const int k_begin = by_tiles ? 0 : share_begin * lanes;
    const int k_end = by_tiles ? g->out_c : share_end * lanes;
    const int tile_begin = by_tiles ? share_begin : 0, tile_end = by_tiles ? share_end : per_image;
    const int has_work = k_begin < k_end && tile_begin < tile_end;
    real *xt_space = st->scratch[thread].data, *yt = xt_space + c->in_size;
    real *rt = yt + c->out_size, *blocks = rt + c->out_size;
    if (shared_output) yt = st->scratch[0].data + c->in_size;
    for (int n = 0; n < g->batch; n++) {
        const real *xt = channels_last_input(k, c, n, 1, NO_PREFETCH, xt_space);
        const real *res = channels_last_residual(k, c, n, 1, NO_PREFETCH, rt);
        if (mixed && g->out_channels_last) {
#pragma omp barrier
        }
        if (has_work) {
            const double start = omp_get_wtime();
            run_images(k, c, n, xt, res, tile_begin, tile_end, k_begin, k_end, blocks, yt);
            work->seconds += omp_get_wtime() - start;
            work->items += (long)(tile_end - tile_begin) * ((k_end - k_begin) / lanes);
        }
        if (shared_output) {  // every tile is in yt: the transpose back by channels
#pragma omp barrier
            if (c_begin < c_end) to_nchw(k, c, n, 1, res, c_begin, c_end, yt);
            if (n + 1 < g->batch) {  // the next image's tiles overwrite yt
#pragma omp barrier
            }
        } else {
            if (mixed && !g->out_channels_last) {
#pragma omp barrier
            }
            if (has_work) to_nchw(k, c, n, 1, res, k_begin, k_end, yt);
        }
    }
}

static void split_each_image(CpuState *st, const WinogradCall *c) {
    cpu_scratch_reserve(st, split_scratch_size(st->kernels, c));
    thread_balance_begin(&st->balance);
#pragma omp parallel num_threads(st->threads)
    {
        const int thread = omp_get_thread_num();
        SplitWork work = {0, 0};
        split_share(st, c, thread, omp_get_num_threads(), &work);
        thread_balance_record(&st->balance, thread, work.items, work.seconds);
    }
    thread_balance_end(&st->balance);
}

// Fewer images than threads, and fewer vectors of output channels than threads: each
// image's tiles, then its output channels, split between the threads. The
// channels-last copies live in thread 0's scratch.
static void threads_per_image(CpuState *st, const WinogradCall *c) {
    const CpuKernels *k = st->kernels;
    const ConvGeom *g = c->g;
    const int per_image = winograd_tiles_per_image(&c->wc);
    const int lanes = k->vector_bytes / (int)sizeof(real);
    cpu_scratch_reserve(st, c->in_size + 2 * c->out_size + k->winograd_block_scratch_size(&c->wc));
    real *xt_space = st->scratch[0].data, *yt = xt_space + c->in_size, *rt = yt + c->out_size;
    int chunk = (per_image + st->threads - 1) / st->threads;
    if (chunk > WINOGRAD_TILE_TARGET) chunk = WINOGRAD_TILE_TARGET;
    const int chunks = (per_image + chunk - 1) / chunk, channel_vectors = g->out_c / lanes;
    for (int n = 0; n < g->batch; n++) {
        const real *xt = channels_last_input(k, c, n, 1, PREFETCH, xt_space);
        const real *res = channels_last_residual(k, c, n, 1, PREFETCH, rt);
#pragma omp parallel num_threads(st->threads)
        {
            real *blocks = st->scratch[omp_get_thread_num()].data + c->in_size + 2 * c->out_size;
#pragma omp for schedule(dynamic, 1)
            for (int i = 0; i < chunks; i++) {
                const int end = (i + 1) * chunk < per_image ? (i + 1) * chunk : per_image;
                run_images(k, c, n, xt, res, i * chunk, end, 0, g->out_c, blocks, yt);
            }
#pragma omp for schedule(static)
            for (int v = 0; v < channel_vectors; v++)
                to_nchw(k, c, n, 1, res, v * lanes, (v + 1) * lanes, yt);
        }
    }
}

// Whether the threads split each image (split_each_image): fewer images than threads,
// a vector of output channels for every thread or a channels-last output, and enough
// work for each thread to pay for waking it. The work is counted in vector
// multiply-adds (multiply-adds / lanes), a proxy for the time a thread computes:
// ResNet-110's 1.8M-multiply-add convolutions on 28x28 input (sdinfer, batch 1,
// alternating runs) split over 2 threads gained nothing with the AVX-512 kernels on a
// 2-core AMD EPYC (p50 latencies 2.17 to 2.35 ms split, 2.07 to 2.24 unsplit; next to a
// busy process far worse, the woken thread waiting for a core at each of the ~70 calls),
// but with the AVX2 kernels, each call twice as long, on a 2-core AMD EPYC (family 25)
// without AVX-512, 303.4 to 371.0 images/s split against 249.4 to 295.2 unsplit (four
// alternating pairs).
// 1.8M / 16 lanes = 115K per call is below the bar for 2 threads, 1.8M / 8 = 225K above.
#define WINOGRAD_SPLIT_MIN_VECTOR_MACS_PER_THREAD (100.0 * 1024)
static int winograd_split_image(const CpuState *st, const ConvGeom *g, int lanes) {
    return st->threads > 1 && g->batch < st->threads &&
           (g->out_c / lanes >= st->threads || g->out_channels_last) &&
           conv_macs(g) / lanes >= WINOGRAD_SPLIT_MIN_VECTOR_MACS_PER_THREAD * st->threads;
}

static WinogradCall winograd_call(CpuState *st, const ConvGeom *g, int m, const real *x,
                                  const real *w, const real *bias, const real *residual,
                                  OutputClamp clamp, real *y) {
    WinogradCall call = {
        .g = g,
        .wc = winograd_conv(g, m),
        .x = x,
        .bias = bias,
        .residual = residual,
        .clamp = clamp,
        .y = y,
        .in_size = (size_t)g->in_c * g->in_h * g->in_w,
        .out_size = (size_t)g->out_c * g->out_h * g->out_w,
        .residual_view = {m, g->out_c, g->out_h, g->out_w, g->out_c, g->out_h, g->out_w, 0, 0},
    };
    call.u = transformed_weights(st, g, &call.wc, w);
    return call;
}

void cpu_winograd_forward(CpuState *st, const ConvGeom *g, int m, const real *x, const real *w,
                          const real *bias, const real *residual, OutputClamp clamp, real *y) {
    const WinogradCall call = winograd_call(st, g, m, x, w, bias, residual, clamp, y);
    const int lanes = st->kernels->vector_bytes / (int)sizeof(real);
    if (winograd_split_image(st, g, lanes))
        split_each_image(st, &call);
    else if (cpu_split_images(st, g->batch, conv_macs(g)))
        threads_per_image(st, &call);
    else
        images_in_parallel(st, &call);
}

// A call of a team (cpu_winograd_forward_team): one split_each_image would run, with
// weights transformed once (each thread looks them up, so none may be made in the region).
static int joins_team(const CpuState *st, const ConvGeom *g) {
    const int lanes = st->kernels->vector_bytes / (int)sizeof(real);
    return cpu_winograd_tile(st, g) && g->constant_weights && winograd_split_image(st, g, lanes);
}

// A team call's WinogradCall (its weights looked up, or transformed on the first call).
static WinogradCall team_call(CpuState *st, const ConvCall *c) {
    return winograd_call(st, c->g, cpu_winograd_tile(st, c->g), c->x, c->w, c->bias,
                         c->residual, c->clamp, c->y);
}

int cpu_winograd_team_length(const CpuState *st, const ConvCall *calls, int count) {
    int length = 0;
    while (length < count && joins_team(st, calls[length].g)) length++;
    return length;
}

// The calls' transformed weights and scratch are made first, on this thread; then one
// region runs them all, each thread taking its share of each call as split_each_image
// would (the same results), a barrier between calls (the next reads the last's output).
// Starting a region costs about twice a barrier in libgomp (0.64-1.48 us against
// 0.27-0.60 us on a 2-core AMD EPYC, empty ones, 2 threads), and the calls' setup no
// longer runs between them while the other threads wait. sdinfer, ResNet-110 at batch 1
// on 2 threads, one process alternating images between the two ways (AMD EPYC family 25,
// AVX2): the median image 2.4% to 5.4% faster this way in six runs of 1000 images each
// way.
void cpu_winograd_forward_team(CpuState *st, const ConvCall *calls, int count) {
    size_t scratch = 0;
    for (int i = 0; i < count; i++) {
        const WinogradCall call = team_call(st, &calls[i]);
        const size_t size = split_scratch_size(st->kernels, &call);
        if (size > scratch) scratch = size;
    }
    cpu_scratch_reserve(st, scratch);
    thread_balance_begin(&st->balance);
#pragma omp parallel num_threads(st->threads)
    {
        const int thread = omp_get_thread_num(), threads = omp_get_num_threads();
        SplitWork work = {0, 0};
        for (int i = 0; i < count; i++) {
            const WinogradCall call = team_call(st, &calls[i]);
            if (i > 0) {
#pragma omp barrier
            }
            split_share(st, &call, thread, threads, &work);
        }
        thread_balance_record(&st->balance, thread, work.items, work.seconds);
    }
    thread_balance_end(&st->balance);
}

// The filter gradient sums over images. As the direct one (conv.c), the sum is split
// into a number of partial sums fixed by the geometry (slot s takes images s, s + slots,
// ...) added up in slot order, so dw is bit-identical for any thread count. A slot
// sweeps its images in groups of at least WINOGRAD_FILTER_TILES tiles (each group adds
// into the slot's whole dU once), and there are no more slots than keep that so.
#define WINOGRAD_FILTER_SLOTS 8
#define WINOGRAD_FILTER_TILES 64

void cpu_winograd_filter(CpuState *st, const ConvGeom *g, int m, const real *x, const real *dy,
                         real *dw) {
    const CpuKernels *k = st->kernels;
    const WinogradConv wc = winograd_conv(g, m);
    // dy seen as the input of a convolution: the same transpose to channels-last.
    const WinogradConv dy_view = {m, g->out_c, g->out_h, g->out_w, g->out_c,
                                  g->out_h, g->out_w, 0, 0};
    const size_t du_size = k->winograd_weights_size(&wc);
    const size_t in_size = (size_t)g->in_c * g->in_h * g->in_w;
    const size_t out_size = (size_t)g->out_c * g->out_h * g->out_w;
    const int per_image = winograd_tiles_per_image(&wc);
    const int group = (WINOGRAD_FILTER_TILES + per_image - 1) / per_image;  // images per sweep
    int slots = g->batch / group;
    if (slots > WINOGRAD_FILTER_SLOTS) slots = WINOGRAD_FILTER_SLOTS;
    if (slots < 1) slots = 1;
    cpu_scratch_grow(&st->winograd_weights, (size_t)(slots + 1) * du_size);
    real *partials = st->winograd_weights.data, *total = partials + (size_t)slots * du_size;
    cpu_scratch_reserve(st, (size_t)group * (in_size + out_size) +
                                k->winograd_block_scratch_size(&wc));
#pragma omp parallel num_threads(st->threads) if (st->threads > 1)
    {
        real *xt = st->scratch[omp_get_thread_num()].data, *dyt = xt + (size_t)group * in_size;
        real *blocks = dyt + (size_t)group * out_size;
#pragma omp for schedule(dynamic, 1)
        for (int slot = 0; slot < slots; slot++) {
            real *du = partials + (size_t)slot * du_size;
            memset(du, 0, sizeof(real) * du_size);
            int images = 0;  // gathered so far for this sweep
            for (int n = slot; n < g->batch; n += slots) {
                k->winograd_to_nhwc(&wc, 1, x + n * in_size, xt + (size_t)images * in_size);
                k->winograd_to_nhwc(&dy_view, 1, dy + n * out_size, dyt + (size_t)images * out_size);
                if (++images == group || n + slots >= g->batch) {
                    k->winograd_filter_tiles(&wc, xt, dyt, 0, images * per_image, blocks, du);
                    images = 0;
                }
            }
        }
#pragma omp for schedule(static)
        for (size_t i = 0; i < du_size; i++) {
            real sum = partials[i];
            for (int slot = 1; slot < slots; slot++) sum += partials[(size_t)slot * du_size + i];
            total[i] = sum;
        }
    }
    k->winograd_filter_finish(&wc, total, dw);
}
