// Dense layers on cuBLAS (fully connected forward/backward, generic GEMM), the
// softmax cross-entropy loss and the plain softmax.
//
// cuBLAS is column-major and our matrices are row-major. A row-major R x C
// matrix with leading dimension C is the column-major C x R matrix of its
// transpose, so each row-major product is issued as the transposed product:
// row-major C = A B  <=>  column-major C^T = B^T A^T.
#include <math.h>

#include "cuda_internal.h"

// ---- fully connected -----------------------------------------------------------------------

// y[b][o] = bias[o] (or 0): the starting value the GEMM accumulates onto.
static __global__ void broadcast_rows_kernel(size_t count, int out_features, const float *bias,
                                             float *y) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] = bias[i % out_features];
}

// dbias[o] = sum over the batch of dy[b][o]; one thread per feature, reading
// consecutive features across the warp. Summed in double, as the CPU does.
static __global__ void column_sums_kernel(int batch, int out_features, const float *dy,
                                          float *dbias) {
    for (int o = blockIdx.x * blockDim.x + threadIdx.x; o < out_features;
         o += gridDim.x * blockDim.x) {
        double sum = 0.0;
        for (int b = 0; b < batch; b++) sum += dy[(size_t)b * out_features + o];
        dbias[o] = (float)sum;
    }
}

void cuda_fc_forward(Backend *be, int batch, int in_features, int out_features, const real *x,
                     const real *w, const real *bias, real *y) {
    CudaState *st = cuda_state(be);
    if (st->failed || batch <= 0 || out_features <= 0 || in_features <= 0) return;
    const size_t count = (size_t)batch * out_features;
    float accumulate_onto = 0.0f;
    if (bias) {
        broadcast_rows_kernel<<<cuda_blocks_for(st, count), CUDA_THREADS, 0, st->stream>>>(
            count, out_features, bias, y);
        if (!LAUNCH_OK(st, "broadcast_rows_kernel")) return;
        accumulate_onto = 1.0f;
    }
    // Column-major: y^T (out x batch) = w (out x in, stored as the in x out matrix w^T)^T x^T.
    const float one = 1.0f;
    CUBLAS_OK(st, cublasSgemm(st->cublas, CUBLAS_OP_T, CUBLAS_OP_N, out_features, batch,
                              in_features, &one, w, in_features, x, in_features, &accumulate_onto,
                              y, out_features));
}

void cuda_fc_backward(Backend *be, int batch, int in_features, int out_features, const real *x,
                      const real *w, const real *dy, real *dx, real *dw, real *dbias) {
    CudaState *st = cuda_state(be);
    if (st->failed || batch <= 0 || out_features <= 0 || in_features <= 0) return;
    const float one = 1.0f, zero = 0.0f;
    // dx = dy w  ->  column-major dx^T (in x batch) = w^T (in x out) dy^T (out x batch).
    if (dx && !CUBLAS_OK(st, cublasSgemm(st->cublas, CUBLAS_OP_N, CUBLAS_OP_N, in_features, batch,
                                         out_features, &one, w, in_features, dy, out_features,
                                         &zero, dx, in_features)))
        return;
    // dw = dy^T x  ->  column-major dw^T (in x out) = x^T (in x batch) dy (batch x out).
    if (!CUBLAS_OK(st, cublasSgemm(st->cublas, CUBLAS_OP_N, CUBLAS_OP_T, in_features, out_features,
                                   batch, &one, x, in_features, dy, out_features, &zero, dw,
                                   in_features)))
        return;
    const unsigned blocks = (unsigned)((out_features + CUDA_THREADS - 1) / CUDA_THREADS);
    column_sums_kernel<<<blocks, CUDA_THREADS, 0, st->stream>>>(batch, out_features, dy, dbias);
    LAUNCH_OK(st, "column_sums_kernel");
}

static int max_int(int a, int b) { return a > b ? a : b; }

// c = beta * c, with beta == 0 meaning "overwrite with 0" (BLAS: c is not read).
static __global__ void scale_kernel(size_t count, float beta, float *c) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x)
        c[i] = beta == 0.0f ? 0.0f : beta * c[i];
}

void cuda_gemm(Backend *be, int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a,
               const real *b, real beta, real *c) {
    CudaState *st = cuda_state(be);
    if (st->failed || m <= 0 || n <= 0) return;
    if (k <= 0) {  // an empty product: C = beta * C, as the CPU backend
        const size_t count = (size_t)m * (size_t)n;
        scale_kernel<<<cuda_blocks_for(st, count), CUDA_THREADS, 0, st->stream>>>(count, beta, c);
        LAUNCH_OK(st, "scale_kernel");
        return;
    }
    // Row-major C (m x n) = op(A) op(B) is column-major C^T (n x m) = op(B)^T op(A)^T.
    // Row-major A is m x k (lda k) or, transposed, k x m (lda m); likewise B.
    const int lda = max_int(1, trans_a ? m : k), ldb = max_int(1, trans_b ? k : n);
    CUBLAS_OK(st, cublasSgemm(st->cublas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                              trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, b, ldb, a, lda,
                              &beta, c, n));
}

// ---- softmax and the loss ------------------------------------------------------------------

static __device__ float warp_max(float v) {
    for (int offset = 16; offset > 0; offset /= 2)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

static __device__ float warp_sum_all(float v) {
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

// log(sum_j exp(z_j)) of one row, computed by a whole warp (every lane gets it).
static __device__ float warp_log_sum_exp(const float *z, int64_t n, int lane) {
    float row_max = -INFINITY;
    for (int64_t j = lane; j < n; j += 32) row_max = fmaxf(row_max, z[j]);
    row_max = warp_max(row_max);
    float sum = 0.0f;
    for (int64_t j = lane; j < n; j += 32) sum += expf(z[j] - row_max);
    return row_max + logf(warp_sum_all(sum));
}

#define LOSS_THREADS 1024

// One block; warp w handles samples w, w + 32, ... The per-warp partial losses
// are added in a fixed order, so the loss is deterministic. A label outside
// [0, classes) gives a NaN loss and a zero gradient row, as on the CPU.
static __global__ void softmax_cross_entropy_kernel(int batch, int classes, const float *logits,
                                                    const int32_t *labels, float *dlogits,
                                                    float *loss) {
    __shared__ double warp_totals[LOSS_THREADS / 32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    const float inv_batch = batch > 0 ? 1.0f / (float)batch : 0.0f;
    double total = 0.0;
    for (int b = warp; b < batch; b += warps) {
        const float *z = logits + (size_t)b * classes;
        float *dz = dlogits + (size_t)b * classes;
        const int32_t label = labels[b];
        if (label < 0 || label >= classes) {
            for (int j = lane; j < classes; j += 32) dz[j] = 0.0f;
            total = NAN;
            continue;
        }
        const float log_sum_exp = warp_log_sum_exp(z, classes, lane);
        for (int j = lane; j < classes; j += 32) {
            const float prob = expf(z[j] - log_sum_exp);
            dz[j] = (prob - (j == label ? 1.0f : 0.0f)) * inv_batch;
        }
        total += (double)(log_sum_exp - z[label]);
    }
    if (lane == 0) warp_totals[warp] = total;
    __syncthreads();
    if (threadIdx.x == 0) {
        double sum = 0.0;
        for (int i = 0; i < warps; i++) sum += warp_totals[i];
        loss[0] = (float)(sum * (double)inv_batch);
    }
}

void cuda_softmax_cross_entropy(Backend *be, int batch, int classes, const real *logits,
                                const int32_t *labels, real *dlogits, real *loss) {
    CudaState *st = cuda_state(be);
    if (st->failed || batch < 0 || classes <= 0) return;
    softmax_cross_entropy_kernel<<<1, LOSS_THREADS, 0, st->stream>>>(batch, classes, logits,
                                                                     labels, dlogits, loss);
    LAUNCH_OK(st, "softmax_cross_entropy_kernel");
}

// One warp per row.
static __global__ void softmax_kernel(int64_t outer, int64_t inner, const float *x, float *y) {
    const int lane = threadIdx.x % 32;
    const int64_t first_warp = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32;
    const int64_t warp_stride = (int64_t)gridDim.x * blockDim.x / 32;
    for (int64_t r = first_warp; r < outer; r += warp_stride) {
        const float *z = x + r * inner;
        float *out = y + r * inner;
        const float log_sum_exp = warp_log_sum_exp(z, inner, lane);
        for (int64_t j = lane; j < inner; j += 32) out[j] = expf(z[j] - log_sum_exp);
    }
}

void cuda_softmax(Backend *be, int64_t outer, int64_t inner, const real *x, real *y) {
    CudaState *st = cuda_state(be);
    if (st->failed || outer <= 0 || inner <= 0) return;
    int64_t blocks = (outer + CUDA_THREADS / 32 - 1) / (CUDA_THREADS / 32);
    if (blocks > (int64_t)st->max_blocks) blocks = st->max_blocks;
    softmax_kernel<<<(unsigned)blocks, CUDA_THREADS, 0, st->stream>>>(outer, inner, x, y);
    LAUNCH_OK(st, "softmax_kernel");
}
