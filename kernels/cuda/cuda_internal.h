// Private to the CUDA backend: its state, the error-checking macros every file
// uses, launch helpers, and the functions each .cu file contributes to the
// Backend table (filled in backend_cuda.cu).
//
// Execution model: every operation is enqueued on ONE stream (st->stream) and
// returns without waiting, except download() and synchronize(), which block.
// cuDNN and cuBLAS are bound to that stream too. Nothing in a steady-state
// training step allocates or synchronises: the shared cuDNN workspace and the
// per-shape algorithm choices settle during the first step. That is what a
// later CUDA-graph capture of a block (or of a whole step) needs: run one
// uncaptured warm-up step, then capture; see backend_cuda.cu.
//
// Errors: every CUDA / cuDNN / cuBLAS return code is checked. The first failure
// is printed (file:line, the call, the library's message) and recorded in
// st->error; from then on every operation is a no-op and download() fills its
// destination with 0xFF bytes (NaN for floats) so that a caller can never
// mistake results computed after a failure for real ones.
// backend_cuda_error() (backend_cuda.h) lets a caller ask.
#ifndef SD_CUDA_INTERNAL_H
#define SD_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "../backend.h"
}

static_assert(sizeof(real) == sizeof(float), "the CUDA backend computes in float32 only");

// Threads per block of the element-wise and reduction kernels.
#define CUDA_THREADS 256

typedef enum { PRECISION_FP32 = 0, PRECISION_TF32 = 1 } CudaPrecision;

// Everything cuDNN needs for one convolution shape, made once and reused: the
// descriptors and, found on first use, one algorithm per direction.
typedef struct {
    ConvGeom geom;
    cudnnTensorDescriptor_t x_desc, y_desc, bias_desc;
    cudnnFilterDescriptor_t w_desc;
    cudnnConvolutionDescriptor_t conv_desc;
    // cuDNN pads symmetrically (pad_top rows top AND bottom). When the geometry
    // asks for something else (ONNX auto_pad SAME_UPPER, say), the forward pass
    // first copies x into a zero-padded buffer of padded_h x padded_w and runs
    // the convolution with no padding; the backward passes refuse.
    int explicit_pad;
    int padded_h, padded_w;
    int have_fwd, have_bwd_data, have_bwd_filter;
    cudnnConvolutionFwdAlgo_t fwd_algo;
    cudnnConvolutionBwdDataAlgo_t bwd_data_algo;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter_algo;
    size_t fwd_workspace, bwd_data_workspace, bwd_filter_workspace;  // bytes
    int fused_unsupported;  // cudnnConvolutionBiasActivationForward said NOT_SUPPORTED
} ConvPlan;

typedef struct {
    const char *start;
    size_t bytes;
} PinnedBlock;

// A device buffer that only grows.
typedef struct {
    void *data;
    size_t bytes;
} GrowBuffer;

typedef struct {
    int device;
    int sm_count;
    unsigned max_blocks;  // grid-stride kernels never launch more blocks than this
    cudaStream_t stream;
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    void *cublas_workspace;  // given to cuBLAS so it never allocates (graph capture)
    CudaPrecision precision;

    GrowBuffer workspace;  // shared by every cuDNN call
    GrowBuffer scratch;    // explicit padding for asymmetric convolutions

    ConvPlan *plans;  // the algorithm cache, keyed by ConvGeom
    int n_plans, plan_capacity;

    // Page-locked host blocks from alloc_host: an upload from inside one is left
    // asynchronous (see Backend.upload); from anywhere else it waits.
    PinnedBlock *pinned;
    int n_pinned, pinned_capacity;

    cudnnTensorDescriptor_t bn_x_desc, bn_param_desc;  // re-set per call (cheap host work)
    cudnnActivationDescriptor_t relu_desc;

    // CUDA graphs (graph.cu). memory_generation counts the moves of memory that
    // recorded ops may point at (a grown workspace) and precision changes;
    // a recording from an older generation is stale and never replayed.
    unsigned memory_generation;
    int capturing;        // between record_begin and record_end
    int capture_failed;   // an error inside the capture: the recording is dropped,
                          // the backend stays usable (the ops never ran)

    int failed;
    char error[512];
} CudaState;

static inline CudaState *cuda_state(Backend *be) { return (CudaState *)be->state; }

// ---- error checking (backend_cuda.cu) -----------------------------------------
// Each returns 1 when the status is success, else records + prints and returns 0.
int cuda_check_runtime(CudaState *st, cudaError_t status, const char *call, const char *file,
                       int line);
int cuda_check_cudnn(CudaState *st, cudnnStatus_t status, const char *call, const char *file,
                     int line);
int cuda_check_cublas(CudaState *st, cublasStatus_t status, const char *call, const char *file,
                      int line);
void cuda_record_error(CudaState *st, const char *file, int line, const char *message);

#define CUDA_OK(st, call) cuda_check_runtime((st), (call), #call, __FILE__, __LINE__)
#define CUDNN_OK(st, call) cuda_check_cudnn((st), (call), #call, __FILE__, __LINE__)
#define CUBLAS_OK(st, call) cuda_check_cublas((st), (call), #call, __FILE__, __LINE__)
// After every kernel launch: catches bad launch configurations at once
// (faults inside a kernel surface at the next synchronising call).
#define LAUNCH_OK(st, kernel_name) \
    cuda_check_runtime((st), cudaGetLastError(), "launch " kernel_name, __FILE__, __LINE__)

// Grid size for a grid-stride loop over n items with CUDA_THREADS per block.
static inline unsigned cuda_blocks_for(const CudaState *st, size_t n) {
    size_t blocks = (n + CUDA_THREADS - 1) / CUDA_THREADS;
    if (blocks > st->max_blocks) blocks = st->max_blocks;
    return blocks ? (unsigned)blocks : 1u;
}

// Makes buf hold at least `bytes`; 0 on failure (recorded).
int cuda_grow_buffer(CudaState *st, GrowBuffer *buf, size_t bytes);

// Zero-pads / crops x into y (pad_constant with value 0 on a 4-D NCHW tensor);
// used by the convolution's explicit-padding path (tensor_ops.cu).
void cuda_pad_nchw(CudaState *st, int batch, int channels, int in_h, int in_w, int pad_top,
                   int pad_left, int out_h, int out_w, const float *x, float *y);

// ---- the Backend table entries, one group per file ----------------------------
// conv.cu
void cuda_conv2d_forward(Backend *be, const ConvGeom *g, const real *x, const real *w,
                         const real *bias, const real *residual, OutputClamp clamp, real *y);
void cuda_conv2d_backward_data(Backend *be, const ConvGeom *g, const real *w, const real *dy,
                               real *dx);
void cuda_conv2d_backward_filter(Backend *be, const ConvGeom *g, const real *x, const real *dy,
                                 real *dw);
void cuda_conv_plans_clear(CudaState *st);

// batchnorm.cu
void cuda_batchnorm_forward_train(Backend *be, const BatchNormGeom *g, const real *x,
                                  const real *gamma, const real *beta, real momentum, real eps,
                                  real *running_mean, real *running_var, real *save_mean,
                                  real *save_invstd, real *y);
void cuda_batchnorm_forward_eval(Backend *be, const BatchNormGeom *g, const real *x,
                                 const real *gamma, const real *beta, const real *running_mean,
                                 const real *running_var, real eps, real *y);
void cuda_batchnorm_backward(Backend *be, const BatchNormGeom *g, const real *x, const real *dy,
                             const real *gamma, const real *save_mean, const real *save_invstd,
                             real eps, real *dx, real *dgamma, real *dbeta);

// elementwise.cu
void cuda_fill(Backend *be, real *dst, size_t count, real value);
void cuda_relu_forward(Backend *be, size_t count, const real *x, real *y);
void cuda_relu_backward(Backend *be, size_t count, const real *y, const real *dy, real *dx);
void cuda_residual_forward(Backend *be, size_t count, real branch_scale, const real *branch,
                           const real *shortcut, real *y);
void cuda_accumulate(Backend *be, size_t count, const real *src, real *dst);
void cuda_sgd_step(Backend *be, size_t count, real *params, const real *grads, real *momentum_buf,
                   real lr, real momentum, real weight_decay, int nesterov, int first_step);
// y[n][c][s] = clamp(y[n][c][s] + bias[c]) (conv epilogue when cuDNN's fused call does
// not apply: a clamp other than ReLU, or an algorithm without the fused form).
void cuda_bias_clamp_inplace(CudaState *st, int batch, int channels, int spatial,
                             const float *bias, OutputClamp clamp, float *y);

// pool.cu (option-A shortcut and pooling)
void cuda_shortcut_a_forward(Backend *be, int batch, int in_c, int in_h, int in_w, int out_c,
                             const real *x, real *y);
void cuda_shortcut_a_backward_accumulate(Backend *be, int batch, int in_c, int in_h, int in_w,
                                         int out_c, const real *dy, real *dx);
void cuda_global_avgpool_forward(Backend *be, int batch, int channels, int spatial, const real *x,
                                 real *y);
void cuda_global_avgpool_backward(Backend *be, int batch, int channels, int spatial,
                                  const real *dy, real *dx);
void cuda_maxpool_forward(Backend *be, const PoolGeom *g, const real *x, real *y);
void cuda_maxpool_backward(Backend *be, const PoolGeom *g, const real *x, const real *y,
                           const real *dy, real *dx);
void cuda_avgpool_forward(Backend *be, const PoolGeom *g, const real *x, real *y);

// dense.cu (cuBLAS products, the loss, softmax)
void cuda_fc_forward(Backend *be, int batch, int in_features, int out_features, const real *x,
                     const real *w, const real *bias, real *y);
void cuda_fc_backward(Backend *be, int batch, int in_features, int out_features, const real *x,
                      const real *w, const real *dy, real *dx, real *dw, real *dbias);
void cuda_gemm(Backend *be, int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a,
               const real *b, real beta, real *c);
void cuda_softmax_cross_entropy(Backend *be, int batch, int classes, const real *logits,
                                const int32_t *labels, real *dlogits, real *loss);
void cuda_softmax(Backend *be, int64_t outer, int64_t inner, const real *x, real *y);

// graph.cu (recorded op sequences)
int cuda_record_begin(Backend *be);
void *cuda_record_end(Backend *be);
int cuda_replay(Backend *be, void *recording);
void cuda_recording_free(Backend *be, void *recording);

// tensor_ops.cu
void cuda_binary_broadcast(Backend *be, BinaryOp op, const TensorShape *a_shape, const real *a,
                           const TensorShape *b_shape, const real *b, const TensorShape *out_shape,
                           real *y);
void cuda_pad_constant(Backend *be, const TensorShape *in_shape, const real *x,
                       const int64_t *pads, real value, const TensorShape *out_shape, real *y);
void cuda_slice(Backend *be, const TensorShape *in_shape, const real *x, const int64_t *starts,
                const int64_t *steps, const TensorShape *out_shape, real *y);
void cuda_concat_part(Backend *be, const TensorShape *in_shape, const real *x, int axis,
                      int64_t offset, const TensorShape *out_shape, real *y);

// infer_ops.cu
void cuda_activation_forward(Backend *be, ActivationOp op, size_t count, real alpha, real beta,
                             const real *x, real *y);
void cuda_conv2d_grouped_forward(Backend *be, const ConvGeom *g, int groups, int dilation_h,
                                 int dilation_w, const real *x, const real *w, const real *bias,
                                 const real *residual, OutputClamp clamp, real *y);
void cuda_transpose(Backend *be, const TensorShape *in_shape, const real *x, const int *perm,
                    const TensorShape *out_shape, real *y);
void cuda_pad_border(Backend *be, const TensorShape *in_shape, const real *x, const int64_t *pads,
                     int reflect, const TensorShape *out_shape, real *y);
void cuda_softmax_axis(Backend *be, int64_t outer, int64_t extent, int64_t inner, const real *x,
                       real *y);

#endif
