// The CUDA backend's forward ops for foreign CNNs (sdinfer): activations, grouped
// and dilated convolutions, transposes and softmax along any axis. Plain kernels
// with grid-stride loops, one thread per output element (per softmax line); the
// grouped convolution is a direct loop per output element, written for the small
// per-group channel counts of depthwise and grouped layers (dense convolutions
// keep cuDNN, conv.cu). See kernels/backend.h for what each op computes.
#include "../tensor_shape.h"
#include "cuda_internal.h"

static __device__ float hard_sigmoid(float x, float alpha, float beta) {
    return fminf(1.0f, fmaxf(0.0f, alpha * x + beta));
}

static __global__ void activation_kernel(int op, int64_t count, float alpha, float beta,
                                         const float *x, float *y) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count;
         i += (int64_t)gridDim.x * blockDim.x) {
        const float v = x[i];
        float out = v;
        if (op == ACTIVATION_SIGMOID) out = 1.0f / (1.0f + expf(-v));
        else if (op == ACTIVATION_HARD_SIGMOID) out = hard_sigmoid(v, alpha, beta);
        else if (op == ACTIVATION_HARD_SWISH) out = v * hard_sigmoid(v, 1.0f / 6.0f, 0.5f);
        else if (op == ACTIVATION_CLIP) out = fminf(fmaxf(v, alpha), beta);
        else if (op == ACTIVATION_SILU) out = v / (1.0f + expf(-v));
        y[i] = out;
    }
}

void cuda_activation_forward(Backend *be, ActivationOp op, size_t count, real alpha, real beta,
                             const real *x, real *y) {
    CudaState *st = cuda_state(be);
    if (st->failed || count == 0) return;
    activation_kernel<<<cuda_blocks_for(st, count), CUDA_THREADS, 0, st->stream>>>(
        (int)op, (int64_t)count, alpha, beta, x, y);
    LAUNCH_OK(st, "activation_kernel");
}

typedef struct {
    ConvGeom g;
    int groups, dilation_h, dilation_w;
} GroupedConv;

// One thread per output: the sum, then the epilogue (+ residual, clamp) as the CPU's.
static __global__ void grouped_conv_kernel(int64_t count, GroupedConv c, const float *x,
                                           const float *w, const float *bias,
                                           const float *residual, OutputClamp clamp, float *y) {
    const ConvGeom g = c.g;
    const int in_per_group = g.in_c / c.groups, out_per_group = g.out_c / c.groups;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int ox = (int)(i % g.out_w), oy = (int)(i / g.out_w % g.out_h);
        const int oc = (int)(i / ((int64_t)g.out_w * g.out_h) % g.out_c);
        const int n = (int)(i / ((int64_t)g.out_w * g.out_h * g.out_c));
        const int group = oc / out_per_group;
        float sum = bias ? bias[oc] : 0.0f;
        for (int ic = 0; ic < in_per_group; ic++) {
            const float *in = x + ((int64_t)n * g.in_c + group * in_per_group + ic) * g.in_h * g.in_w;
            const float *kernel = w + ((int64_t)oc * in_per_group + ic) * g.kernel_h * g.kernel_w;
            for (int ky = 0; ky < g.kernel_h; ky++) {
                const int iy = oy * g.stride_h - g.pad_top + ky * c.dilation_h;
                if (iy < 0 || iy >= g.in_h) continue;
                for (int kx = 0; kx < g.kernel_w; kx++) {
                    const int ix = ox * g.stride_w - g.pad_left + kx * c.dilation_w;
                    if (ix >= 0 && ix < g.in_w)
                        sum += kernel[ky * g.kernel_w + kx] * in[(int64_t)iy * g.in_w + ix];
                }
            }
        }
        if (residual) sum += residual[i];
        y[i] = clamp_apply(clamp, sum);
    }
}

void cuda_conv2d_grouped_forward(Backend *be, const ConvGeom *g, int groups, int dilation_h,
                                 int dilation_w, const real *x, const real *w, const real *bias,
                                 const real *residual, OutputClamp clamp, real *y) {
    CudaState *st = cuda_state(be);
    const int64_t count = (int64_t)g->batch * g->out_c * g->out_h * g->out_w;
    if (st->failed || count <= 0) return;
    GroupedConv c = {*g, groups, dilation_h, dilation_w};
    grouped_conv_kernel<<<cuda_blocks_for(st, (size_t)count), CUDA_THREADS, 0, st->stream>>>(
        count, c, x, w, bias, residual, clamp, y);
    LAUNCH_OK(st, "grouped_conv_kernel");
}

typedef struct {
    int rank;
    int64_t out_dims[SD_MAX_DIMS];
    int64_t in_strides[SD_MAX_DIMS];  // of the input axis each output axis reads
} TransposeWalk;

static __global__ void transpose_kernel(int64_t count, TransposeWalk walk, const float *x,
                                        float *y) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t rest = i, from = 0;
        for (int d = walk.rank - 1; d >= 0; d--) {
            from += (rest % walk.out_dims[d]) * walk.in_strides[d];
            rest /= walk.out_dims[d];
        }
        y[i] = x[from];
    }
}

void cuda_transpose(Backend *be, const TensorShape *in_shape, const real *x, const int *perm,
                    const TensorShape *out_shape, real *y) {
    CudaState *st = cuda_state(be);
    const int64_t count = shape_count(out_shape);
    if (st->failed || count <= 0) return;
    if (out_shape->rank > SD_MAX_DIMS || in_shape->rank != out_shape->rank) {
        cuda_record_error(st, __FILE__, __LINE__, "transpose: ranks differ or exceed SD_MAX_DIMS");
        return;
    }
    int64_t strides[SD_MAX_DIMS];
    contiguous_strides(in_shape, strides);
    TransposeWalk walk = {};
    walk.rank = out_shape->rank;
    for (int d = 0; d < walk.rank; d++) {
        walk.out_dims[d] = out_shape->dims[d];
        walk.in_strides[d] = strides[perm[d]];
    }
    transpose_kernel<<<cuda_blocks_for(st, (size_t)count), CUDA_THREADS, 0, st->stream>>>(
        count, walk, x, y);
    LAUNCH_OK(st, "transpose_kernel");
}

typedef struct {
    int rank, reflect;
    int64_t out_dims[SD_MAX_DIMS], in_dims[SD_MAX_DIMS], in_strides[SD_MAX_DIMS], pads[SD_MAX_DIMS];
} BorderWalk;

static __device__ int64_t border_source(int64_t i, int64_t n, int reflect) {
    if (!reflect || n == 1) return i < 0 ? 0 : i >= n ? n - 1 : i;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

static __global__ void pad_border_kernel(int64_t count, BorderWalk walk, const float *x, float *y) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t rest = i, from = 0;
        for (int d = walk.rank - 1; d >= 0; d--) {
            const int64_t coord = rest % walk.out_dims[d] - walk.pads[d];
            rest /= walk.out_dims[d];
            from += border_source(coord, walk.in_dims[d], walk.reflect) * walk.in_strides[d];
        }
        y[i] = x[from];
    }
}

void cuda_pad_border(Backend *be, const TensorShape *in_shape, const real *x, const int64_t *pads,
                     int reflect, const TensorShape *out_shape, real *y) {
    CudaState *st = cuda_state(be);
    const int64_t count = shape_count(out_shape);
    if (st->failed || count <= 0) return;
    if (out_shape->rank > SD_MAX_DIMS || in_shape->rank != out_shape->rank) {
        cuda_record_error(st, __FILE__, __LINE__, "pad_border: ranks differ or exceed SD_MAX_DIMS");
        return;
    }
    BorderWalk walk = {};
    walk.rank = out_shape->rank;
    walk.reflect = reflect;
    contiguous_strides(in_shape, walk.in_strides);
    for (int d = 0; d < walk.rank; d++) {
        walk.out_dims[d] = out_shape->dims[d];
        walk.in_dims[d] = in_shape->dims[d];
        walk.pads[d] = pads[d];
    }
    pad_border_kernel<<<cuda_blocks_for(st, (size_t)count), CUDA_THREADS, 0, st->stream>>>(
        count, walk, x, y);
    LAUNCH_OK(st, "pad_border_kernel");
}

static __global__ void softmax_axis_kernel(int64_t lines, int64_t extent, int64_t inner,
                                           const float *x, float *y) {
    for (int64_t line = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; line < lines;
         line += (int64_t)gridDim.x * blockDim.x) {
        const int64_t base = line / inner * extent * inner + line % inner;
        float largest = x[base];
        for (int64_t k = 1; k < extent; k++) largest = fmaxf(largest, x[base + k * inner]);
        float sum = 0.0f;
        for (int64_t k = 0; k < extent; k++) sum += expf(x[base + k * inner] - largest);
        for (int64_t k = 0; k < extent; k++)
            y[base + k * inner] = expf(x[base + k * inner] - largest) / sum;
    }
}

void cuda_softmax_axis(Backend *be, int64_t outer, int64_t extent, int64_t inner, const real *x,
                       real *y) {
    CudaState *st = cuda_state(be);
    const int64_t lines = outer * inner;
    if (st->failed || lines <= 0 || extent <= 0) return;
    softmax_axis_kernel<<<cuda_blocks_for(st, (size_t)lines), CUDA_THREADS, 0, st->stream>>>(
        lines, extent, inner, x, y);
    LAUNCH_OK(st, "softmax_axis_kernel");
}
