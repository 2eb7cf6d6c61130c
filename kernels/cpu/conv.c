// 2-D convolution on the CPU.
//
// Stride-1 convolutions with a kernel larger than 1x1 (every 3x3 conv of the
// CIFAR ResNets but the two stride-2 ones) run as DIRECT convolutions on a padded
// copy of each image (simd/conv_direct.c, in the instruction set the backend chose): the forward pass, the data gradient (a
// stride-1 correlation of dy with the transposed, flipped weights) and the filter
// gradient. On the ResNet CIFAR shapes that measured 1.2x to 3.1x faster per pass
// than the im2col + per-image sgemm below (bench/conv_cpu.c, one core; the one
// exception, the 64-channel 8x8 filter gradient, about equal): the column matrix
// is kernel_h*kernel_w times the image, and writing it, packing it for the BLAS
// and scattering it back (col2im) cost as much as the multiply-adds.
//
// Everything else uses im2col + one matrix product per image. For one image, lay
// the receptive fields out as a matrix
//   col[k][p],  k = (c, ki, kj) over in_c*kernel_h*kernel_w,  p = (oh, ow)
// so that the three passes are plain products with the [out_c][k] weights:
//   forward          y[o][p]  = sum_k w[o][k] col[k][p]
//   backward data    dcol     = w^T dy,  then scatter-add dcol into dx (col2im)
//   backward filter  dw[o][k] = sum over images of dy[o][p] col[k][p]
// A 1x1 stride-1 unpadded convolution needs no col: the image itself is col.
//
// Parallel over the images of the batch, each image one single-threaded product per
// column block (OpenBLAS is kept single-threaded, backend_cpu.c); a batch smaller than
// the team runs image by image, the threads splitting each image's columns when it is
// large enough (cpu_split_images). Each output is the same sum over k however the
// columns are split (simd/gemm.c), so results do not depend on the thread count (see
// backward filter for its sums).
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_ops.h"

static int is_pointwise(const ConvGeom *g) {
    return g->kernel_h == 1 && g->kernel_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
           g->pad_top == 0 && g->pad_left == 0 && g->out_h == g->in_h && g->out_w == g->in_w;
}

static size_t col_rows(const ConvGeom *g) {
    return (size_t)g->in_c * (size_t)g->kernel_h * (size_t)g->kernel_w;
}
static size_t out_plane(const ConvGeom *g) { return (size_t)g->out_h * (size_t)g->out_w; }
static size_t in_image(const ConvGeom *g) {
    return (size_t)g->in_c * (size_t)g->in_h * (size_t)g->in_w;
}
static size_t out_image(const ConvGeom *g) { return (size_t)g->out_c * out_plane(g); }

// Smallest output index o >= 0 with o * stride + offset >= bound (stride > 0).
static int first_output_reaching(int bound, int offset, int stride) {
    int distance = bound - offset;
    return distance <= 0 ? 0 : (distance + stride - 1) / stride;
}

// Output columns [*lo, *hi) whose input column ow*stride - pad + kj lies inside the image.
static void valid_output_columns(const ConvGeom *g, int kj, int *lo, int *hi) {
    int offset = kj - g->pad_left;
    *lo = first_output_reaching(0, offset, g->stride_w);
    *hi = first_output_reaching(g->in_w, offset, g->stride_w);
    if (*lo > g->out_w) *lo = g->out_w;
    if (*hi > g->out_w) *hi = g->out_w;
    if (*hi < *lo) *hi = *lo;
}

// The column-matrix rows of input channel c and kernel row ki (kernel_w rows).
static void im2col_rows(const ConvGeom *g, const real *x, int c, int ki, real *col) {
    const size_t plane = out_plane(g);
    const real *x_channel = x + (size_t)c * g->in_h * g->in_w;
    for (int kj = 0; kj < g->kernel_w; kj++) {
        real *row = col + ((size_t)(c * g->kernel_h + ki) * g->kernel_w + kj) * plane;
        int lo, hi;
        valid_output_columns(g, kj, &lo, &hi);
        const int first_iw = lo * g->stride_w - g->pad_left + kj;
        for (int oh = 0; oh < g->out_h; oh++) {
            real *dst = row + (size_t)oh * g->out_w;
            const int ih = oh * g->stride_h - g->pad_top + ki;
            if (ih < 0 || ih >= g->in_h) {
                memset(dst, 0, sizeof(real) * (size_t)g->out_w);
                continue;
            }
            const real *src = x_channel + (size_t)ih * g->in_w + first_iw;
            for (int ow = 0; ow < lo; ow++) dst[ow] = 0;
            if (g->stride_w == 1) {
                memcpy(dst + lo, src, sizeof(real) * (size_t)(hi - lo));
            } else if (g->stride_w == 2) {
                for (int ow = lo; ow < hi; ow++) dst[ow] = src[(ow - lo) * 2];
            } else {
                for (int ow = lo; ow < hi; ow++) dst[ow] = src[(ow - lo) * g->stride_w];
            }
            for (int ow = hi; ow < g->out_w; ow++) dst[ow] = 0;
        }
    }
}

static void im2col(const ConvGeom *g, const real *x, real *col) {
    for (int c = 0; c < g->in_c; c++)
        for (int ki = 0; ki < g->kernel_h; ki++) im2col_rows(g, x, c, ki, col);
}

// dx (one image, already zeroed) += the scatter of col back onto the input pixels.
static void col2im_add(const ConvGeom *g, const real *col, real *dx) {
    const size_t plane = out_plane(g);
    for (int c = 0; c < g->in_c; c++) {
        real *dx_channel = dx + (size_t)c * g->in_h * g->in_w;
        for (int ki = 0; ki < g->kernel_h; ki++) {
            for (int kj = 0; kj < g->kernel_w; kj++) {
                const real *row =
                    col + ((size_t)(c * g->kernel_h + ki) * g->kernel_w + kj) * plane;
                int lo, hi;
                valid_output_columns(g, kj, &lo, &hi);
                const int first_iw = lo * g->stride_w - g->pad_left + kj;
                for (int oh = 0; oh < g->out_h; oh++) {
                    const int ih = oh * g->stride_h - g->pad_top + ki;
                    if (ih < 0 || ih >= g->in_h) continue;
                    const real *src = row + (size_t)oh * g->out_w;
                    real *dst = dx_channel + (size_t)ih * g->in_w + first_iw;
                    if (g->stride_w == 1) {  // contiguous: lets the compiler vectorise
                        const real *from = src + lo;
                        for (int k = 0; k < hi - lo; k++) dst[k] += from[k];
                    } else {
                        for (int ow = lo; ow < hi; ow++) dst[(ow - lo) * g->stride_w] += src[ow];
                    }
                }
            }
        }
    }
}

// Do the images run one per thread? Otherwise they run one after another, each split
// between the threads by column blocks when it is large enough (cpu_split_images), or on
// one thread. OpenBLAS itself stays single-threaded (backend_cpu.c): its own pool's
// threads spin after each product and took the cores from the OpenMP team at batch 1.
static int images_in_parallel(const CpuState *st, const ConvGeom *g) {
    return st->threads > 1 && g->batch > 1;
}

// Products run in blocks of this many columns (output positions), one single-threaded
// call each, when the images run in parallel or one after another on one thread; a
// split image goes by one range of columns per thread once it has as many blocks as
// there are threads (forward_images_split).
#define GEMM_COLUMN_BLOCK 256

static int column_blocks(const ConvGeom *g) {
    return (int)((out_plane(g) + GEMM_COLUMN_BLOCK - 1) / GEMM_COLUMN_BLOCK);
}

// ---- forward ------------------------------------------------------------------

// Output channels [row_begin, row_end) of columns [j0, j0 + width) of one image's output
// from its column matrix, through the epilogue (the kernel table's product: simd/gemm.c).
// Each output is the same sum over k whatever the rows and columns of the call.
static void forward_rows(const CpuKernels *k, const ConvGeom *g, const real *col, const real *w,
                         const real *bias, const real *residual, OutputClamp clamp, int j0,
                         int width, int row_begin, int row_end, real *pack, real *y) {
    const int rows = (int)col_rows(g), plane = (int)out_plane(g);
    const size_t first = (size_t)row_begin * plane + j0;
    const GemmShape shape = {row_end - row_begin, width, rows, rows, plane, plane, plane};
    k->conv_gemm(&shape, w + (size_t)row_begin * rows, col + j0, bias ? bias + row_begin : NULL,
                 residual ? residual + first : NULL, clamp, y + first, pack);
}

static void forward_block(const CpuKernels *k, const ConvGeom *g, const real *col, const real *w,
                          const real *bias, const real *residual, OutputClamp clamp, int block,
                          real *pack, real *y) {
    const int plane = (int)out_plane(g), j0 = block * GEMM_COLUMN_BLOCK;
    const int width = plane - j0 < GEMM_COLUMN_BLOCK ? plane - j0 : GEMM_COLUMN_BLOCK;
    forward_rows(k, g, col, w, bias, residual, clamp, j0, width, 0, g->out_c, pack, y);
}

static const real *image_columns(const ConvGeom *g, const real *x, real *scratch) {
    if (is_pointwise(g)) return x;
    im2col(g, x, scratch);
    return scratch;
}

static void forward_image(const CpuKernels *k, const ConvGeom *g, const real *x, const real *w,
                          const real *bias, const real *residual, OutputClamp clamp,
                          real *scratch, real *pack, real *y) {
    const real *col = image_columns(g, x, scratch);
    for (int b = 0; b < column_blocks(g); b++)
        forward_block(k, g, col, w, bias, residual, clamp, b, pack, y);
}

// Fewer images than threads: each image's columns split between the threads in ranges
// of whole GEMM_COLUMN_GRANULEs, one per thread, sized by the threads' measured speeds
// (balanced_columns), when there are at least as many column blocks as threads; with
// fewer, equal ranges, one per block's worth of columns, and the output channels split
// too, in parts of GEMM_ROW_GRANULE (a multiple of every register block's rows): a 14x14
// or 7x7 output is one range (ResNet-50's last stages at batch 1), where each thread then
// reads only its part of the weights. The ranges were whole blocks before: a 28x28
// output's 4 blocks (the last of 16 columns) went 2 and 2 to 2 threads, 512 and 272
// columns. Each output is the same sum whatever the ranges (simd/gemm.c), so neither the
// thread count nor the speeds change the results. Sized by speed: torchvision's ResNet-50
// at batch 1 on 2 threads (AMD EPYC VM), with the Winograd shares as well, median image
// 1.5% slower to 7.8% faster in eight runs of 60 images, one process alternating images
// between equal and measured shares.
#define GEMM_ROW_GRANULE 16
#define GEMM_COLUMN_GRANULE 16
typedef struct {
    int column_parts, row_parts;
} ImageSplit;

static ImageSplit image_split(const CpuState *st, const ConvGeom *g) {
    const int blocks = column_blocks(g);
    const int granules = (g->out_c + GEMM_ROW_GRANULE - 1) / GEMM_ROW_GRANULE;
    if (blocks >= st->threads) return (ImageSplit){st->threads, 1};
    int row_parts = (st->threads + blocks - 1) / blocks;
    if (row_parts > granules) row_parts = granules;
    return (ImageSplit){blocks, row_parts};
}

static int column_granules(const ConvGeom *g) {
    return (int)((out_plane(g) + GEMM_COLUMN_GRANULE - 1) / GEMM_COLUMN_GRANULE);
}

// Granules [first, last) as columns [*j0, *j0 + *width): whole granules but the last.
static void granule_columns(const ConvGeom *g, int first, int last, int *j0, int *width) {
    const int plane = (int)out_plane(g);
    const int end = last * GEMM_COLUMN_GRANULE < plane ? last * GEMM_COLUMN_GRANULE : plane;
    *j0 = first * GEMM_COLUMN_GRANULE;
    *width = end > *j0 ? end - *j0 : 0;
}

// Column range `part` of the split's equal ones.
static void column_range(const ConvGeom *g, const ImageSplit *split, int part, int *j0,
                         int *width) {
    const int granules = column_granules(g), parts = split->column_parts;
    granule_columns(g, granules * part / parts, granules * (part + 1) / parts, j0, width);
}

// One range of whole column granules per thread (the caller's region has one item per
// thread), sized by the thread's measured speed (thread_balance.c): the calling thread's.
static void balanced_columns(CpuState *st, const ConvGeom *g, const real *col, const real *w,
                             const real *bias, const real *res, OutputClamp clamp, real *packs,
                             real *y) {
    const int thread = omp_get_thread_num();
    int first, last, j0, width;
    thread_balance_range(&st->balance, thread, omp_get_num_threads(), column_granules(g), &first,
                         &last);
    granule_columns(g, first, last, &j0, &width);
    if (width == 0) return;  // nothing recorded: this region then leaves the speeds alone
    const double start = omp_get_wtime();
    forward_rows(st->kernels, g, col, w, bias, res, clamp, j0, width, 0, g->out_c,
                 cpu_gemm_pack_of(packs, thread), y);
    thread_balance_record(&st->balance, thread, (long)width * g->out_c, omp_get_wtime() - start);
}

// The split's items (output-channel parts of equal column ranges) as an omp for inside
// the caller's region.
static void equal_items(const CpuState *st, const ConvGeom *g, const ImageSplit *split,
                        const real *col, const real *w, const real *bias, const real *res,
                        OutputClamp clamp, real *packs, real *y) {
    const int granules = (g->out_c + GEMM_ROW_GRANULE - 1) / GEMM_ROW_GRANULE;
    const int items = split->column_parts * split->row_parts;
#pragma omp for schedule(static)
    for (int item = 0; item < items; item++) {
        const int part = item % split->row_parts;
        const int row_begin = granules * part / split->row_parts * GEMM_ROW_GRANULE;
        int row_end = granules * (part + 1) / split->row_parts * GEMM_ROW_GRANULE;
        if (row_end > g->out_c) row_end = g->out_c;
        int j0, width;
        column_range(g, split, item / split->row_parts, &j0, &width);
        if (width > 0)
            forward_rows(st->kernels, g, col, w, bias, res, clamp, j0, width, row_begin, row_end,
                         cpu_gemm_pack_of(packs, omp_get_thread_num()), y);
    }
}

static void forward_images_split(CpuState *st, const ConvGeom *g, const real *x, const real *w,
                                 const real *bias, const real *residual, OutputClamp clamp, real *y) {
    const ImageSplit split = image_split(st, g);
    const int items = split.column_parts * split.row_parts;
    real *packs = cpu_gemm_packs(st);
    const int pointwise = is_pointwise(g), column_rows = g->in_c * g->kernel_h;
    for (int n = 0; n < g->batch; n++) {
        const real *x_n = x + n * in_image(g);
        const real *col = pointwise ? x_n : st->scratch[0].data;
        const real *res = residual ? residual + n * out_image(g) : NULL;
        real *y_n = y + n * out_image(g);
        thread_balance_begin(&st->balance);
#pragma omp parallel num_threads(st->threads) if (items > 1)
        {
            // The column matrix too by the threads, by input channel and kernel row: made
            // on one, ResNet-50's 7x7 stem at batch 1 on 2 threads took 1.24x as long
            // (build/bench/conv_cpu, median of 7 alternating pairs; the stride-2 3x3 of
            // its second stage 1.09x).
            if (!pointwise) {
#pragma omp for schedule(static)
                for (int r = 0; r < column_rows; r++)
                    im2col_rows(g, x_n, r / g->kernel_h, r % g->kernel_h, st->scratch[0].data);
            }
            if (split.row_parts == 1 && items == omp_get_num_threads())
                balanced_columns(st, g, col, w, bias, res, clamp, packs, y_n);
            else
                equal_items(st, g, &split, col, w, bias, res, clamp, packs, y_n);
        }
        thread_balance_end(&st->balance);
    }
}

static int is_stride_one(const ConvGeom *g) { return g->stride_h == 1 && g->stride_w == 1; }

static DirectConv forward_as_direct(const ConvGeom *g) {
    return (DirectConv){g->in_c,     g->in_h,     g->in_w,    g->out_c,  g->out_h,
                        g->out_w,    g->kernel_h, g->kernel_w, g->pad_top, g->pad_left};
}

// Channels per work item when the threads split one image: a multiple of every
// register block's channel count (8 and 4), so the blocks stay whole.
#define DIRECT_CHANNEL_GRANULE 8

// One image shared by all threads: position tiles x groups of output channels,
// enough items for every thread (batch-1 inference).
static void direct_conv_image_split(CpuState *st, const DirectConv *d, const real *xpad,
                                    const real *w, const real *bias, const real *residual,
                                    OutputClamp clamp, real *y) {
    const CpuKernels *k = st->kernels;
    const int tiles = k->direct_conv_tile_count(d);
    const int granules = (d->out_c + DIRECT_CHANNEL_GRANULE - 1) / DIRECT_CHANNEL_GRANULE;
    int groups = (2 * st->threads + tiles - 1) / tiles;
    if (groups > granules) groups = granules;
    if (groups < 1) groups = 1;
#pragma omp parallel for schedule(dynamic, 1) num_threads(st->threads)
    for (int item = 0; item < tiles * groups; item++) {
        const int tile = item / groups, group = item % groups;
        const int o_begin = granules * group / groups * DIRECT_CHANNEL_GRANULE;
        int o_end = granules * (group + 1) / groups * DIRECT_CHANNEL_GRANULE;
        if (o_end > d->out_c) o_end = d->out_c;
        k->direct_conv_tiles(d, xpad, w, bias, residual, clamp, tile, tile + 1, o_begin, o_end,
                             y);
    }
}

// The direct convolution over the batch: images in parallel, or, with fewer images
// than threads, the threads splitting each image. Every output is summed in the same
// order either way (cpu_kernels.h), so the results are identical.
static void direct_conv_batch(CpuState *st, int batch, const DirectConv *d, const real *x,
                              const real *w, const real *bias, const real *residual,
                              OutputClamp clamp, real *y) {
    const CpuKernels *k = st->kernels;
    cpu_scratch_reserve(st, k->direct_conv_scratch_size(d));
    const size_t in_size = (size_t)d->in_c * d->in_h * d->in_w;
    const size_t out_size = (size_t)d->out_c * d->out_h * d->out_w;
    const double macs = (double)batch * d->out_c * d->in_c * d->kernel_h * d->kernel_w * d->out_h *
                        d->out_w;
    if (cpu_split_images(st, batch, macs)) {
        real *xpad = st->scratch[0].data;  // read by every thread
        for (int n = 0; n < batch; n++) {
            k->direct_conv_pad(d, x + n * in_size, xpad);
            direct_conv_image_split(st, d, xpad, w, bias, residual ? residual + n * out_size : NULL,
                                    clamp, y + n * out_size);
        }
        return;
    }
    const int tiles = k->direct_conv_tile_count(d);
#pragma omp parallel for schedule(dynamic, 1) num_threads(st->threads) if (st->threads > 1 && batch > 1)
    for (int n = 0; n < batch; n++) {
        real *xpad = st->scratch[omp_get_thread_num()].data;
        k->direct_conv_pad(d, x + n * in_size, xpad);
        k->direct_conv_tiles(d, xpad, w, bias, residual ? residual + n * out_size : NULL, clamp,
                             0, tiles, 0, d->out_c, y + n * out_size);
    }
}

// Channels-last operands: only the Winograd path reads and writes them (its tiles are
// channels-last anyway), so exactly the geometries it takes.
int cpu_conv2d_channels_last(Backend *be, const ConvGeom *g) {
    return cpu_winograd_tile(cpu_state(be), g) != 0;
}

void cpu_conv2d_forward(Backend *be, const ConvGeom *g, const real *x, const real *w,
                        const real *bias, const real *residual, OutputClamp clamp, real *y) {
    CpuState *st = cpu_state(be);
    const int winograd_tile = cpu_winograd_tile(st, g);
    if (winograd_tile) {
        cpu_winograd_forward(st, g, winograd_tile, x, w, bias, residual, clamp, y);
        return;
    }
    if (g->in_channels_last || g->out_channels_last || g->residual_channels_last) {
        // A caller that did not ask conv2d_channels_last: the other paths would read NHWC
        // data as NCHW and return garbage.
        fprintf(stderr, "cpu backend: a channels-last convolution this backend refused\n");
        abort();
    }
    if (is_stride_one(g) && !is_pointwise(g)) {
        const DirectConv d = forward_as_direct(g);
        direct_conv_batch(st, g->batch, &d, x, w, bias, residual, clamp, y);
        return;
    }
    if (!is_pointwise(g)) cpu_scratch_reserve(st, col_rows(g) * out_plane(g));
    if (cpu_split_images(st, g->batch, conv_macs(g))) {
        forward_images_split(st, g, x, w, bias, residual, clamp, y);
        return;
    }
    real *packs = cpu_gemm_packs(st);
    // dynamic: on a shared machine one core may be busy; the other then takes more images.
#pragma omp parallel for schedule(dynamic, 1) num_threads(st->threads) if (images_in_parallel(st, g))
    for (int n = 0; n < g->batch; n++) {
        const int thread = omp_get_thread_num();
        forward_image(st->kernels, g, x + n * in_image(g), w, bias,
                      residual ? residual + n * out_image(g) : NULL, clamp,
                      st->scratch[thread].data, cpu_gemm_pack_of(packs, thread),
                      y + n * out_image(g));
    }
}

// Runs of two or more calls that the threads would split image by image go to one team
// (conv_winograd.c); the others run one by one.
void cpu_conv2d_forward_sequence(Backend *be, const ConvCall *calls, int count) {
    CpuState *st = cpu_state(be);
    for (int i = 0; i < count;) {
        const int team = cpu_winograd_team_length(st, calls + i, count - i);
        if (team >= 2) {
            cpu_winograd_forward_team(st, calls + i, team);
            i += team;
            continue;
        }
        const ConvCall *c = &calls[i++];
        cpu_conv2d_forward(be, c->g, c->x, c->w, c->bias, c->residual, c->clamp, c->y);
    }
}

// ---- backward data ---------------------------------------------------------------

// w_t[r][o] = w[o][r]: the weights as the column gradient's left factor.
static void transpose_weights(const ConvGeom *g, const real *w, real *w_t) {
    const size_t rows = col_rows(g);
    for (int o = 0; o < g->out_c; o++)
        for (size_t r = 0; r < rows; r++) w_t[r * (size_t)g->out_c + o] = w[(size_t)o * rows + r];
}

// Column block `block` of one image's column gradient dcol = w^T dy (the image's
// gradient itself for a pointwise convolution), w_t = w^T (transpose_weights).
static void column_gradient_block(const CpuKernels *k, const ConvGeom *g, const real *w_t,
                                  const real *dy, int block, real *pack, real *dcol) {
    const int rows = (int)col_rows(g), plane = (int)out_plane(g);
    const int j0 = block * GEMM_COLUMN_BLOCK;
    const int width = plane - j0 < GEMM_COLUMN_BLOCK ? plane - j0 : GEMM_COLUMN_BLOCK;
    const GemmShape shape = {rows, width, g->out_c, g->out_c, plane, plane, plane};
    k->conv_gemm(&shape, w_t, dy + j0, NULL, NULL, clamp_none(), dcol + j0, pack);
}

static void backward_data_image(const CpuKernels *k, const ConvGeom *g, const real *w_t,
                                const real *dy, real *scratch, real *pack, real *dx) {
    real *dcol = is_pointwise(g) ? dx : scratch;
    for (int b = 0; b < column_blocks(g); b++) column_gradient_block(k, g, w_t, dy, b, pack, dcol);
    if (is_pointwise(g)) return;
    memset(dx, 0, sizeof(real) * in_image(g));
    col2im_add(g, scratch, dx);
}

// Fewer images than threads: each image's column blocks split, the scatter after them.
static void backward_data_images_split(CpuState *st, const ConvGeom *g, const real *w_t,
                                       const real *dy, real *dx) {
    const int blocks = column_blocks(g);
    real *packs = cpu_gemm_packs(st);
    for (int n = 0; n < g->batch; n++) {
        real *dcol = is_pointwise(g) ? dx + n * in_image(g) : st->scratch[0].data;
#pragma omp parallel for schedule(static) num_threads(st->threads) if (blocks > 1)
        for (int b = 0; b < blocks; b++)
            column_gradient_block(st->kernels, g, w_t, dy + n * out_image(g), b,
                                  cpu_gemm_pack_of(packs, omp_get_thread_num()), dcol);
        if (!is_pointwise(g)) {
            memset(dx + n * in_image(g), 0, sizeof(real) * in_image(g));
            col2im_add(g, dcol, dx + n * in_image(g));
        }
    }
}

// For stride 1 the data gradient is itself a stride-1 correlation: of dy with the
// weights transposed (in <-> out channels) and flipped in both spatial axes,
// padded by kernel - 1 - pad. Computing it directly avoids the col2im scatter.
static DirectConv backward_data_as_direct(const ConvGeom *g) {
    return (DirectConv){g->out_c,    g->out_h,    g->out_w,
                        g->in_c,     g->in_h,     g->in_w,
                        g->kernel_h, g->kernel_w, g->kernel_h - 1 - g->pad_top,
                        g->kernel_w - 1 - g->pad_left};
}

// w_flipped[c][o][kh-1-ki][kw-1-kj] = w[o][c][ki][kj]
static void transpose_flip_weights(const ConvGeom *g, const real *w, real *w_flipped) {
    const int kh = g->kernel_h, kw = g->kernel_w;
    for (int o = 0; o < g->out_c; o++)
        for (int c = 0; c < g->in_c; c++)
            for (int ki = 0; ki < kh; ki++)
                for (int kj = 0; kj < kw; kj++)
                    w_flipped[(((size_t)c * g->out_c + o) * kh + (kh - 1 - ki)) * kw + (kw - 1 - kj)] =
                        w[(((size_t)o * g->in_c + c) * kh + ki) * kw + kj];
}

void cpu_conv2d_backward_data(Backend *be, const ConvGeom *g, const real *w, const real *dy,
                              real *dx) {
    CpuState *st = cpu_state(be);
    if (is_stride_one(g) && !is_pointwise(g)) {
        real *w_flipped = cpu_shared_reserve(st, (size_t)g->out_c * col_rows(g));
        transpose_flip_weights(g, w, w_flipped);
        const DirectConv d = backward_data_as_direct(g);
        const ConvGeom as_forward = {g->batch,    d.in_c,    d.in_h,    d.in_w,     d.out_c,
                                     d.out_h,     d.out_w,   d.kernel_h, d.kernel_w, 1,
                                     1,           d.pad_top, d.pad_left, 0, 0, 0, 0};
        const int winograd_tile = cpu_winograd_tile(st, &as_forward);
        if (winograd_tile)
            cpu_winograd_forward(st, &as_forward, winograd_tile, dy, w_flipped, NULL, NULL, clamp_none(),
                                 dx);
        else
            direct_conv_batch(st, g->batch, &d, dy, w_flipped, NULL, NULL, clamp_none(), dx);
        return;
    }
    if (!is_pointwise(g)) cpu_scratch_reserve(st, col_rows(g) * out_plane(g));
    real *w_t = cpu_shared_reserve(st, (size_t)g->out_c * col_rows(g));
    transpose_weights(g, w, w_t);
    if (cpu_split_images(st, g->batch, conv_macs(g))) {
        backward_data_images_split(st, g, w_t, dy, dx);
        return;
    }
    real *packs = cpu_gemm_packs(st);
#pragma omp parallel for schedule(dynamic, 1) num_threads(st->threads) if (images_in_parallel(st, g))
    for (int n = 0; n < g->batch; n++) {
        const int thread = omp_get_thread_num();
        backward_data_image(st->kernels, g, w_t, dy + n * out_image(g), st->scratch[thread].data,
                            cpu_gemm_pack_of(packs, thread), dx + n * in_image(g));
    }
}

// ---- backward filter ---------------------------------------------------------------

// The filter gradient sums over images. The sum is split into a FIXED number of
// partial sums (slot s takes images s, s + slots, ...), added up in slot order,
// so dw is bit-identical whatever the thread count or scheduling: a resumed or
// re-run training reproduces exactly.
#define FILTER_GRAD_SLOTS 8

// The direct filter gradient sweeps a slot's images in stacks of at most this many
// images and bytes of scratch. The stack size depends on the geometry only, never
// on the thread count, so the summation order is fixed.
#define FILTER_STACK_MAX_IMAGES 8
#define FILTER_STACK_MAX_BYTES ((size_t)4 << 20)

static int filter_stack_images(const CpuKernels *k, const DirectConv *d) {
    int images = FILTER_STACK_MAX_IMAGES;
    while (images > 1 &&
           k->direct_filter_grad_scratch_size(d, images) * sizeof(real) > FILTER_STACK_MAX_BYTES)
        images--;
    return images;
}

// slot_sum = the filter gradient of images slot, slot + slots, ... (direct, stride 1).
static void direct_filter_slot(const CpuKernels *k, const ConvGeom *g, const DirectConv *d,
                               int stack, int slot,
                               int slots, const real *x, const real *dy, real *scratch,
                               real *slot_sum) {
    const real *x_stack[FILTER_STACK_MAX_IMAGES], *dy_stack[FILTER_STACK_MAX_IMAGES];
    int count = 0, first = 1;
    for (int n = slot; n < g->batch; n += slots) {
        x_stack[count] = x + n * in_image(g);
        dy_stack[count] = dy + n * out_image(g);
        if (++count == stack || n + slots >= g->batch) {
            k->direct_filter_grad_images(d, count, x_stack, dy_stack, first, scratch, slot_sum);
            first = 0;
            count = 0;
        }
    }
}

// dw_t_acc (+)= col dy^T for one image: the filter gradient transposed ([rows][out_c]),
// so that the kernel table's product reads dy transposed (dy_t, out_c wide) rather than
// the larger column matrix; overwrite for the first image of a slot. scratch: the column
// matrix (unless pointwise), then dy_t.
static void backward_filter_image(const CpuKernels *k, const ConvGeom *g, const real *x,
                                  const real *dy, real *scratch, real *pack, int overwrite,
                                  real *dw_t_acc) {
    const int rows = (int)col_rows(g), plane = (int)out_plane(g);
    const real *col = x;
    real *dy_t = scratch;
    if (!is_pointwise(g)) {
        im2col(g, x, scratch);
        col = scratch;
        dy_t = scratch + (size_t)rows * plane;
    }
    for (int o = 0; o < g->out_c; o++)
        for (int p = 0; p < plane; p++) dy_t[(size_t)p * g->out_c + o] = dy[(size_t)o * plane + p];
    const GemmShape shape = {rows, g->out_c, plane, plane, g->out_c, g->out_c, g->out_c};
    k->conv_gemm(&shape, col, dy_t, NULL, overwrite ? NULL : dw_t_acc, clamp_none(), dw_t_acc,
                 pack);
}

void cpu_conv2d_backward_filter(Backend *be, const ConvGeom *g, const real *x, const real *dy,
                                real *dw) {
    CpuState *st = cpu_state(be);
    const int winograd_tile = cpu_winograd_tile(st, g);
    if (winograd_tile && g->batch > 0) {
        cpu_winograd_filter(st, g, winograd_tile, x, dy, dw);
        return;
    }
    const size_t dw_size = (size_t)g->out_c * col_rows(g);
    const int slots = g->batch < FILTER_GRAD_SLOTS ? g->batch : FILTER_GRAD_SLOTS;
    if (slots <= 0) {
        memset(dw, 0, sizeof(real) * dw_size);
        return;
    }
    const int direct = is_stride_one(g) && !is_pointwise(g);
    const DirectConv d = forward_as_direct(g);
    const int stack = filter_stack_images(st->kernels, &d);
    if (direct)
        cpu_scratch_reserve(st, st->kernels->direct_filter_grad_scratch_size(&d, stack));
    else
        cpu_scratch_reserve(st, (is_pointwise(g) ? 0 : col_rows(g) * out_plane(g)) +
                                    (size_t)g->out_c * out_plane(g));
    real *partials = cpu_shared_reserve(st, (size_t)slots * dw_size);
    real *packs = direct ? NULL : cpu_gemm_packs(st);
#pragma omp parallel num_threads(st->threads) if (st->threads > 1)
    {
        real *scratch = st->scratch[omp_get_thread_num()].data;
        real *pack = direct ? NULL : cpu_gemm_pack_of(packs, omp_get_thread_num());
#pragma omp for schedule(dynamic, 1)
        for (int slot = 0; slot < slots; slot++) {
            real *slot_sum = partials + (size_t)slot * dw_size;
            if (direct) {
                direct_filter_slot(st->kernels, g, &d, stack, slot, slots, x, dy, scratch,
                                   slot_sum);
                continue;
            }
            for (int n = slot; n < g->batch; n += slots)
                backward_filter_image(st->kernels, g, x + n * in_image(g), dy + n * out_image(g),
                                      scratch, pack, n == slot, slot_sum);
        }
        // The direct slots hold dw's layout, the products' its transpose.
        const size_t rows = col_rows(g);
#pragma omp for schedule(static)
        for (size_t i = 0; i < dw_size; i++) {
            const size_t at = direct ? i : i % rows * (size_t)g->out_c + i / rows;
            real sum = partials[at];
            for (int slot = 1; slot < slots; slot++) sum += partials[(size_t)slot * dw_size + at];
            dw[i] = sum;
        }
    }
}
