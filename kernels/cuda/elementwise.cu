// Element-wise kernels: fill, ReLU and its backward, the residual merge
// (add + ReLU in one pass), accumulation, the fused SGD step over the flat
// parameter buffer, and the bias + ReLU convolution epilogue.
//
// All are memory-bound single passes with grid-stride loops (one launch covers
// any count). Pointers are not __restrict__: relu, relu_backward and
// residual_forward are documented to work in place, and every thread reads and
// writes only its own index, so aliasing is harmless.
#include "cuda_internal.h"

static __global__ void fill_kernel(size_t count, float value, float *dst) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = value;
}

static __global__ void relu_forward_kernel(size_t count, const float *x, float *y) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        float v = x[i];
        y[i] = v > 0.0f ? v : 0.0f;
    }
}

// y is the ReLU's output: y > 0 exactly where its input was positive.
static __global__ void relu_backward_kernel(size_t count, const float *y, const float *dy, float *dx) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x)
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

static __global__ void residual_forward_kernel(size_t count, float branch_scale, const float *branch,
                                        const float *shortcut, float *y) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        float v = branch_scale * branch[i] + shortcut[i];
        y[i] = v > 0.0f ? v : 0.0f;
    }
}

static __global__ void accumulate_kernel(size_t count, const float *src, float *dst) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] += src[i];
}

// Torch optim.sgd / PyTorch SGD with dampening 0 (see Backend.sgd_step).
static __global__ void sgd_step_kernel(size_t count, float *params, const float *grads,
                                float *momentum_buf, float lr, float momentum, float weight_decay,
                                int nesterov, int first_step) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        const float g = grads[i] + weight_decay * params[i];
        const float buf = first_step ? g : momentum * momentum_buf[i] + g;
        momentum_buf[i] = buf;
        params[i] -= lr * (nesterov ? g + momentum * buf : buf);
    }
}

static __global__ void bias_clamp_kernel(size_t count, int channels, int spatial,
                                         const float *bias, OutputClamp clamp, float *y) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        float v = y[i];
        if (bias) v += bias[(i / (size_t)spatial) % (size_t)channels];
        y[i] = clamp_apply(clamp, v);
    }
}

void cuda_fill(Backend *be, real *dst, size_t count, real value) {
    CudaState *st = cuda_state(be);
    if (st->failed || count == 0) return;
    fill_kernel<<<cuda_blocks_for(st, count), CUDA_THREADS, 0, st->stream>>>(count, value, dst);
    LAUNCH_OK(st, "fill_kernel");
}

void cuda_relu_forward(Backend *be, size_t count, const real *x, real *y) {
    CudaState *st = cuda_state(be);
    if (st->failed || count == 0) return;
    relu_forward_kernel<<<cuda_blocks_for(st, count), CUDA_THREADS, 0, st->stream>>>(count, x, y);
    LAUNCH_OK(st, "relu_forward_kernel");
}

void cuda_relu_backward(Backend *be, size_t count, const real *y, const real *dy, real *dx) {
    CudaState *st = cuda_state(be);
    if (st->failed || count == 0) return;
    relu_backward_kernel<<<cuda_blocks_for(st, count), CUDA_THREADS, 0, st->stream>>>(count, y, dy,
                                                                                      dx);
    LAUNCH_OK(st, "relu_backward_kernel");
}

void cuda_residual_forward(Backend *be, size_t count, real branch_scale, const real *branch,
                           const real *shortcut, real *y) {
    CudaState *st = cuda_state(be);
    if (st->failed || count == 0) return;
    residual_forward_kernel<<<cuda_blocks_for(st, count), CUDA_THREADS, 0, st->stream>>>(
        count, branch_scale, branch, shortcut, y);
    LAUNCH_OK(st, "residual_forward_kernel");
}

void cuda_accumulate(Backend *be, size_t count, const real *src, real *dst) {
    CudaState *st = cuda_state(be);
    if (st->failed || count == 0) return;
    accumulate_kernel<<<cuda_blocks_for(st, count), CUDA_THREADS, 0, st->stream>>>(count, src, dst);
    LAUNCH_OK(st, "accumulate_kernel");
}

void cuda_sgd_step(Backend *be, size_t count, real *params, const real *grads, real *momentum_buf,
                   real lr, real momentum, real weight_decay, int nesterov, int first_step) {
    CudaState *st = cuda_state(be);
    if (st->failed || count == 0) return;
    sgd_step_kernel<<<cuda_blocks_for(st, count), CUDA_THREADS, 0, st->stream>>>(
        count, params, grads, momentum_buf, lr, momentum, weight_decay, nesterov, first_step);
    LAUNCH_OK(st, "sgd_step_kernel");
}

void cuda_bias_clamp_inplace(CudaState *st, int batch, int channels, int spatial,
                             const float *bias, OutputClamp clamp, float *y) {
    size_t count = (size_t)batch * channels * spatial;
    if (st->failed || count == 0) return;
    bias_clamp_kernel<<<cuda_blocks_for(st, count), CUDA_THREADS, 0, st->stream>>>(
        count, channels, spatial, bias, clamp, y);
    LAUNCH_OK(st, "bias_clamp_kernel");
}
