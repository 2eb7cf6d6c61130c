// The one interface between the programs (sdtrain, sdinfer) and the devices.
//
// A Backend is a table of functions plus the device's private state. The CPU
// backend (kernels/cpu/) and the CUDA backend (kernels/cuda/) each fill one in;
// the training loop and the inference runner call through it and never learn
// which device runs. Every pointer argument that names tensor data is a device
// pointer obtained from be->alloc (host memory for the CPU backend).
//
// Layout conventions, the same on every backend:
//   - activations are NCHW, contiguous, of type `real` (float32 in production), except
//     where a convolution's ConvGeom says channels-last and the backend accepted it
//     (conv2d_channels_last: sdinfer keeps activations between such convolutions NHWC);
//   - convolution weights are [out_c][in_c][kernel_h][kernel_w] (ONNX / Torch);
//   - fully connected weights are [out_features][in_features] (ONNX Gemm transB=1);
//   - "backward" ops OVERWRITE their gradient outputs unless the name says
//     accumulate; the training loop zeroes the flat gradient buffer once per step.
// Aliasing: ops documented "in place allowed" accept identical input and output
// pointers; all other outputs must not overlap any input.
#ifndef SD_BACKEND_H
#define SD_BACKEND_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/real.h"

typedef struct {
    int batch;
    int in_c, in_h, in_w;
    int out_c, out_h, out_w;
    int kernel_h, kernel_w;
    int stride_h, stride_w;
    int pad_top, pad_left;  // bottom/right padding is implied by out_h/out_w
    // The caller never changes w's contents for this geometry while the backend lives
    // (sdinfer's uploaded weights): the backend may keep a transformed copy of them.
    int constant_weights;
    // Channels-last (NHWC: [batch][h][w][c]) x, y and residual instead of NCHW. Only for
    // a geometry the backend's conv2d_channels_last accepts (sdinfer's planner asks).
    int in_channels_last, out_channels_last, residual_channels_last;
} ConvGeom;

// The last step of a convolution's epilogue (after bias and residual): each output
// clamped to [min, max] when `on`. ReLU is [0, +inf), ReLU6 [0, 6], ONNX Clip its
// bounds. A NaN becomes min, as the ReLU of the training kernels makes it 0.
typedef struct {
    int on;
    real min, max;
} OutputClamp;

// (No compound literals: the CUDA sources, C++, include this header too.)
static inline OutputClamp clamp_range(real min, real max) {
    OutputClamp c = {1, min, max};
    return c;
}
static inline OutputClamp clamp_none(void) {
    OutputClamp c = {0, 0, 0};
    return c;
}
static inline OutputClamp clamp_relu(int on) {
    OutputClamp c = {on, 0, (real)INFINITY};
    return c;
}
static inline int clamp_is_relu(OutputClamp c) {
    return c.on && c.min == 0 && c.max == (real)INFINITY;
}
// Host and device code alike (the CUDA kernels' epilogues call it too).
#ifdef __CUDACC__
#define SD_HOST_DEVICE __host__ __device__
#else
#define SD_HOST_DEVICE
#endif
SD_HOST_DEVICE static inline real clamp_apply(OutputClamp c, real v) {
    return !c.on ? v : !(v > c.min) ? c.min : v > c.max ? c.max : v;
}

// One conv2d_forward call's arguments, for conv2d_forward_sequence.
typedef struct {
    const ConvGeom *g;
    const real *x, *w, *bias, *residual;
    OutputClamp clamp;
    real *y;
} ConvCall;

typedef struct {
    int batch, channels, spatial;  // spatial = H * W
} BatchNormGeom;

typedef struct {
    int batch, channels;
    int in_h, in_w, out_h, out_w;
    int kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left;
    int count_include_pad;  // average pooling only: divide by the full window size
} PoolGeom;

// Up to this many dimensions for the generic tensor ops sdinfer needs.
#define SD_MAX_DIMS 6

typedef struct {
    int rank;
    int64_t dims[SD_MAX_DIMS];
} TensorShape;

typedef enum { BINARY_ADD, BINARY_SUB, BINARY_MUL, BINARY_DIV } BinaryOp;

// Element-wise activations of foreign CNNs (sdinfer).
typedef enum {
    ACTIVATION_SIGMOID,       // 1 / (1 + e^-x)
    ACTIVATION_HARD_SIGMOID,  // max(0, min(1, alpha x + beta))
    ACTIVATION_HARD_SWISH,    // x max(0, min(1, x / 6 + 1/2))
    ACTIVATION_CLIP,          // min(max(x, alpha), beta)  (ReLU6: alpha 0, beta 6)
    ACTIVATION_SILU,          // x / (1 + e^-x): Sigmoid and Mul fused (sdinfer's planner)
} ActivationOp;

typedef struct Backend Backend;

struct Backend {
    const char *name;  // "cpu" or "cuda"
    void *state;       // backend-private: thread scratch, cuDNN/cuBLAS handles, workspace

    // ---- memory -------------------------------------------------------------
    void *(*alloc)(Backend *be, size_t bytes);  // NULL on failure
    void (*release)(Backend *be, void *ptr);
    // Host staging memory that the device can read without an extra copy (page-locked
    // "pinned" memory on CUDA; plain aligned memory on the CPU). NULL on failure.
    void *(*alloc_host)(Backend *be, size_t bytes);
    void (*release_host)(Backend *be, void *ptr);
    // upload() from ordinary host memory returns when host_src may be reused. From
    // memory obtained by alloc_host it may return at once (CUDA: an asynchronous copy
    // queued behind earlier work): the caller must not write host_src again until a
    // later download() or synchronize() has returned. That lets a loader thread fill
    // the next batch while the device still computes on the previous one.
    void (*upload)(Backend *be, void *device_dst, const void *host_src, size_t bytes);
    void (*download)(Backend *be, void *host_dst, const void *device_src, size_t bytes);
    void (*copy)(Backend *be, void *device_dst, const void *device_src, size_t bytes);
    void (*fill)(Backend *be, real *dst, size_t count, real value);
    void (*synchronize)(Backend *be);
    void (*destroy)(Backend *be);  // frees state and the Backend itself
    // Arithmetic mode for convolutions and matrix products: "fp32" (exact float32,
    // the default), "tf32", "fp16", "bf16". Returns 0, or -1 when this backend
    // does not offer the mode (the CPU offers fp32 only).
    int (*set_precision)(Backend *be, const char *precision);
    // Waits for queued work, then returns 0, or -1 with the first failure the device
    // reported (e.g. a failed launch or allocation); after a failure the results of
    // later ops are undefined. Programs call it at checkpoints of their work.
    int (*last_error)(Backend *be, char *err, size_t err_len);
    // One line for logs: the device, and what the backend chose to run on it (the
    // CPU's kernel instruction set and threads; the GPU, its libraries).
    void (*describe)(Backend *be, char *out, size_t out_len);

    // ---- recorded op sequences (CUDA graphs) ----------------------------------------
    // Optional: NULL on a backend without them (the CPU), and callers then just run
    // the ops. Ops called between record_begin() == 0 and record_end() are recorded,
    // NOT run; record_end returns the recording, or NULL when recording failed (then
    // nothing ran: run the ops again normally). replay() runs a recording with the
    // pointers and scalars it was recorded with and returns 0, or -1 without running
    // anything when the recording went stale: the backend moved memory a recorded op
    // used (a grown convolution workspace). Do not record an op's first call for a new
    // shape (it may search algorithms, allocate and synchronise).
    int (*record_begin)(Backend *be);
    void *(*record_end)(Backend *be);
    int (*replay)(Backend *be, void *recording);
    void (*recording_free)(Backend *be, void *recording);

    // ---- convolution (no groups, no dilation) ----------------------------------
    // y = clamp(conv(x, w) [+ bias per out channel] [+ residual]): the epilogue of a
    // residual block (Conv + folded BN + Add + ReLU in one pass over the output), or of a
    // mobile block's Conv + ReLU6. bias and residual may be NULL; residual (shaped like
    // y) may be y.
    void (*conv2d_forward)(Backend *be, const ConvGeom *g, const real *x, const real *w,
                           const real *bias, const real *residual, OutputClamp clamp, real *y);
    // conv2d_forward on each call in order, with the same results; a call may read what
    // an earlier one wrote. Lets a backend keep its threads together over the calls: the
    // CPU backend runs consecutive calls that split each image between its threads
    // (sdinfer at batch 1) in one team, a barrier between calls instead of starting the
    // threads at every one. NULL: the caller calls conv2d_forward in order.
    void (*conv2d_forward_sequence)(Backend *be, const ConvCall *calls, int count);
    // Whether conv2d_forward takes this geometry (its layout flags ignored) with any of
    // x, y and residual channels-last: where the channels-last convolution is the fast
    // one (the CPU's Winograd path works on channels-last tiles, and keeping them so
    // between two such convolutions saves both transposes). NULL: never.
    int (*conv2d_channels_last)(Backend *be, const ConvGeom *g);
    void (*conv2d_backward_data)(Backend *be, const ConvGeom *g, const real *w, const real *dy,
                                 real *dx);
    void (*conv2d_backward_filter)(Backend *be, const ConvGeom *g, const real *x, const real *dy,
                                   real *dw);

    // ---- batch normalisation (per channel over N, H, W) -------------------------
    // Training: normalise with the batch statistics, keep mean and 1/sqrt(var+eps)
    // for backward, and move the running statistics:
    //   running = (1 - momentum) * running + momentum * batch_stat,
    // with the unbiased (n/(n-1)) batch variance for running_var, as Torch and PyTorch.
    void (*batchnorm_forward_train)(Backend *be, const BatchNormGeom *g, const real *x,
                                    const real *gamma, const real *beta, real momentum, real eps,
                                    real *running_mean, real *running_var, real *save_mean,
                                    real *save_invstd, real *y);
    void (*batchnorm_forward_eval)(Backend *be, const BatchNormGeom *g, const real *x,
                                   const real *gamma, const real *beta, const real *running_mean,
                                   const real *running_var, real eps, real *y);
    // eps: the forward pass's (the CPU computes from save_invstd alone; cuDNN asks for it).
    void (*batchnorm_backward)(Backend *be, const BatchNormGeom *g, const real *x, const real *dy,
                               const real *gamma, const real *save_mean, const real *save_invstd,
                               real eps, real *dx, real *dgamma, real *dbeta);

    // ---- element-wise -------------------------------------------------------------
    void (*relu_forward)(Backend *be, size_t count, const real *x, real *y);  // in place allowed
    // dx = dy where y > 0, else 0 (y is the ReLU's OUTPUT); in place allowed (dx == dy).
    void (*relu_backward)(Backend *be, size_t count, const real *y, const real *dy, real *dx);
    // y = ReLU(branch_scale * branch + shortcut): the residual merge, paper eq. (2)/(5).
    // y may alias branch or shortcut.
    void (*residual_forward)(Backend *be, size_t count, real branch_scale, const real *branch,
                             const real *shortcut, real *y);
    void (*accumulate)(Backend *be, size_t count, const real *src, real *dst);  // dst += src

    // ---- the option-A shortcut (He et al.; the Torch stochastic-depth code) ----------
    // Average pool kernel 2 stride 2 over each input channel, then zero channels
    // appended after the in_c input channels up to out_c. out_h = in_h / 2 (floor).
    void (*shortcut_a_forward)(Backend *be, int batch, int in_c, int in_h, int in_w, int out_c,
                               const real *x, real *y);
    // dx += the gradient of the above w.r.t. x (accumulates: dx already holds the branch's).
    void (*shortcut_a_backward_accumulate)(Backend *be, int batch, int in_c, int in_h, int in_w,
                                           int out_c, const real *dy, real *dx);

    // ---- pooling ----------------------------------------------------------------------
    void (*global_avgpool_forward)(Backend *be, int batch, int channels, int spatial, const real *x,
                                   real *y);
    void (*global_avgpool_backward)(Backend *be, int batch, int channels, int spatial,
                                    const real *dy, real *dx);
    void (*maxpool_forward)(Backend *be, const PoolGeom *g, const real *x, real *y);
    // dx (overwritten) routes dy to the first maximum of each window (x, y from forward).
    void (*maxpool_backward)(Backend *be, const PoolGeom *g, const real *x, const real *y,
                             const real *dy, real *dx);
    void (*avgpool_forward)(Backend *be, const PoolGeom *g, const real *x, real *y);

    // ---- fully connected: y[b][o] = sum_i x[b][i] * w[o][i] + bias[o] --------------------
    void (*fc_forward)(Backend *be, int batch, int in_features, int out_features, const real *x,
                       const real *w, const real *bias, real *y);
    // Writes dx (may be NULL to skip), dw and dbias.
    void (*fc_backward)(Backend *be, int batch, int in_features, int out_features, const real *x,
                        const real *w, const real *dy, real *dx, real *dw, real *dbias);

    // ---- loss -----------------------------------------------------------------------------
    // Mean softmax cross-entropy over the batch. Writes the mean loss to loss[0]
    // (device memory) and d(loss)/d(logits) to dlogits. labels are int32 on the device.
    void (*softmax_cross_entropy)(Backend *be, int batch, int classes, const real *logits,
                                  const int32_t *labels, real *dlogits, real *loss);

    // ---- optimiser -------------------------------------------------------------------------
    // One fused update over the flat parameter buffer (Torch optim.sgd == PyTorch SGD):
    //   g = grad + weight_decay * param
    //   buf = first_step ? g : momentum * buf + g          (dampening 0)
    //   step = nesterov ? g + momentum * buf : buf
    //   param -= lr * step
    void (*sgd_step)(Backend *be, size_t count, real *params, const real *grads, real *momentum_buf,
                     real lr, real momentum, real weight_decay, int nesterov, int first_step);

    // ---- generic tensor ops for sdinfer (forward only) --------------------------------------
    // y = a (op) b with ONNX/numpy multidirectional broadcasting; out_shape is the broadcast shape.
    void (*binary_broadcast)(Backend *be, BinaryOp op, const TensorShape *a_shape, const real *a,
                             const TensorShape *b_shape, const real *b,
                             const TensorShape *out_shape, real *y);
    // Constant-value padding: pads[0..rank) at the start of each axis, pads[rank..2*rank) at the end.
    // Negative pads crop.
    void (*pad_constant)(Backend *be, const TensorShape *in_shape, const real *x,
                         const int64_t *pads, real value, const TensorShape *out_shape, real *y);
    // Copy a strided box: y[i] = x[starts + i * steps] along every axis (steps may be negative).
    void (*slice)(Backend *be, const TensorShape *in_shape, const real *x, const int64_t *starts,
                  const int64_t *steps, const TensorShape *out_shape, real *y);
    // Place x (in_shape) into y (out_shape) at offset along axis: one input of a Concat.
    void (*concat_part)(Backend *be, const TensorShape *in_shape, const real *x, int axis,
                        int64_t offset, const TensorShape *out_shape, real *y);
    // Softmax over the last axis of a [outer][inner] view.
    void (*softmax)(Backend *be, int64_t outer, int64_t inner, const real *x, real *y);
    // C[m][n] = alpha * op(A) op(B) + beta * C, row-major, op = transpose if trans_*.
    // C must already hold the (broadcast) bias when beta != 0.
    void (*gemm)(Backend *be, int trans_a, int trans_b, int m, int n, int k, real alpha,
                 const real *a, const real *b, real beta, real *c);

    // ---- forward ops of foreign CNNs (sdinfer; kernels/cpu/infer_ops.c, kernels/cuda/infer_ops.cu)
    // y = f(x) element-wise (ActivationOp says what alpha and beta mean). In place allowed.
    void (*activation_forward)(Backend *be, ActivationOp op, size_t count, real alpha, real beta,
                               const real *x, real *y);
    // Convolution with groups and dilation (depthwise: groups == in_c): w is
    // [out_c][in_c / groups][kernel_h][kernel_w]; bias (out_c values) and residual (shaped
    // like y, never y itself) may be NULL; the epilogue as conv2d_forward's, NCHW only.
    void (*conv2d_grouped_forward)(Backend *be, const ConvGeom *g, int groups, int dilation_h,
                                   int dilation_w, const real *x, const real *w, const real *bias,
                                   const real *residual, OutputClamp clamp, real *y);
    // y = x with its axes permuted: axis i of y is axis perm[i] of x.
    void (*transpose)(Backend *be, const TensorShape *in_shape, const real *x, const int *perm,
                      const TensorShape *out_shape, real *y);
    // Padding that repeats the border (reflect 0: ONNX mode "edge") or mirrors the tensor
    // around it without repeating it (reflect 1: "reflect"); pads as pad_constant's, >= 0
    // (reflect: each < the axis's size).
    void (*pad_border)(Backend *be, const TensorShape *in_shape, const real *x, const int64_t *pads,
                       int reflect, const TensorShape *out_shape, real *y);
    // Softmax along the middle axis of an [outer][extent][inner] view.
    void (*softmax_axis)(Backend *be, int64_t outer, int64_t extent, int64_t inner, const real *x,
                         real *y);
};

// Constructors. Each returns NULL and writes a message into err on failure.
// The CPU backend runs the widest vector kernels this CPU has, or the set named by
// the environment variable SD_CPU_ISA ("portable", "avx2", "avx512"): a way to
// compare the paths; naming one the CPU lacks is an error.
// SD_CPU_CONV ("auto", "direct", "winograd2", "winograd4") likewise forces how stride-1
// 3x3 convolutions are computed where the shape allows it (kernels/cpu/conv_winograd.c).
Backend *backend_cpu_create(int threads, char *err, size_t err_len);
typedef struct {
    int threads;                 // 0: all cores
    const char *kernel_set;      // NULL or "": the widest this CPU runs
    const char *conv_algorithm;  // NULL or "": auto
} CpuBackendOptions;
Backend *backend_cpu_create_with(const CpuBackendOptions *options, char *err, size_t err_len);
// The threads a CPU backend asked for `threads` runs (0 or less: all cores), for
// whatever must match it (sdinfer's batch lanes: one per thread).
int backend_cpu_thread_count(int threads);
#ifdef SD_WITH_CUDA
Backend *backend_cuda_create(int device_index, char *err, size_t err_len);
#endif

// Picks a backend by name ("cpu" or "cuda"); a clear message when CUDA was not built in.
Backend *backend_create(const char *device, int threads, char *err, size_t err_len);

#endif
