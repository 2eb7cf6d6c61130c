// Convolutions on cuDNN (legacy API): forward (optionally fused with bias and
// ReLU), backward data, backward filter.
//
// Choosing an algorithm means timing candidates (cudnnFind*), which costs a
// device synchronisation and temporary allocations, so it happens once per
// distinct ConvGeom: the ConvPlan table keeps the descriptors and each
// direction's algorithm and workspace size. All plans share one workspace that
// grows to the largest size any chosen algorithm needs.
//
// Precision: in "fp32" mode every descriptor carries CUDNN_FMA_MATH (no tensor
// cores, so no TF32 rounding of the inputs), and algorithms that report a
// tensor-op math type are skipped as well. In "tf32" mode the descriptors carry
// CUDNN_DEFAULT_MATH, which lets cuDNN use TF32 tensor cores on Ampere+.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conv_geometry.h"
#include "cuda_internal.h"

// An algorithm that wants more scratch than this is passed over for the next
// fastest (FFT variants can ask for gigabytes on large images).
#define CONV_MAX_WORKSPACE_BYTES ((size_t)1 << 30)
// More than any cuDNN 9 direction offers (8, 6 and 7 algorithms).
#define CONV_MAX_ALGOS 16

// ---- plans ----------------------------------------------------------------------------

static void plan_destroy(ConvPlan *p) {
    if (p->x_desc) cudnnDestroyTensorDescriptor(p->x_desc);
    if (p->y_desc) cudnnDestroyTensorDescriptor(p->y_desc);
    if (p->bias_desc) cudnnDestroyTensorDescriptor(p->bias_desc);
    if (p->w_desc) cudnnDestroyFilterDescriptor(p->w_desc);
    if (p->conv_desc) cudnnDestroyConvolutionDescriptor(p->conv_desc);
    memset(p, 0, sizeof *p);
}

void cuda_conv_plans_clear(CudaState *st) {
    for (int i = 0; i < st->n_plans; i++) plan_destroy(&st->plans[i]);
    st->n_plans = 0;
}

static int geom_is_valid(const ConvGeom *g) {
    return g->batch > 0 && g->in_c > 0 && g->in_h > 0 && g->in_w > 0 && g->out_c > 0 &&
           g->out_h > 0 && g->out_w > 0 && g->kernel_h > 0 && g->kernel_w > 0 &&
           g->stride_h > 0 && g->stride_w > 0;
}

// cuDNN's output size for symmetric padding pad on both sides (0 if none fits).
static int cudnn_out_size(int in, int pad, int kernel, int stride) {
    return (int)conv_output_size(in, pad, pad, kernel, 1, stride);
}

static int plan_init(CudaState *st, ConvPlan *p, const ConvGeom *g) {
    memset(p, 0, sizeof *p);
    p->geom = *g;
    int pad_h = g->pad_top, pad_w = g->pad_left, in_h = g->in_h, in_w = g->in_w;
    int symmetric_fits = pad_h >= 0 && pad_w >= 0 &&
                         cudnn_out_size(g->in_h, pad_h, g->kernel_h, g->stride_h) == g->out_h &&
                         cudnn_out_size(g->in_w, pad_w, g->kernel_w, g->stride_w) == g->out_w;
    if (!symmetric_fits) {
        // Exactly the rows and columns the windows touch, padding included.
        p->explicit_pad = 1;
        p->padded_h = (g->out_h - 1) * g->stride_h + g->kernel_h;
        p->padded_w = (g->out_w - 1) * g->stride_w + g->kernel_w;
        in_h = p->padded_h;
        in_w = p->padded_w;
        pad_h = pad_w = 0;
    }
    cudnnMathType_t math = st->precision == PRECISION_FP32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
    return CUDNN_OK(st, cudnnCreateTensorDescriptor(&p->x_desc)) &&
           CUDNN_OK(st, cudnnCreateTensorDescriptor(&p->y_desc)) &&
           CUDNN_OK(st, cudnnCreateTensorDescriptor(&p->bias_desc)) &&
           CUDNN_OK(st, cudnnCreateFilterDescriptor(&p->w_desc)) &&
           CUDNN_OK(st, cudnnCreateConvolutionDescriptor(&p->conv_desc)) &&
           CUDNN_OK(st, cudnnSetTensor4dDescriptor(p->x_desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                                   g->batch, g->in_c, in_h, in_w)) &&
           CUDNN_OK(st, cudnnSetTensor4dDescriptor(p->y_desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                                   g->batch, g->out_c, g->out_h, g->out_w)) &&
           CUDNN_OK(st, cudnnSetTensor4dDescriptor(p->bias_desc, CUDNN_TENSOR_NCHW,
                                                   CUDNN_DATA_FLOAT, 1, g->out_c, 1, 1)) &&
           CUDNN_OK(st, cudnnSetFilter4dDescriptor(p->w_desc, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                                   g->out_c, g->in_c, g->kernel_h, g->kernel_w)) &&
           CUDNN_OK(st, cudnnSetConvolution2dDescriptor(p->conv_desc, pad_h, pad_w, g->stride_h,
                                                        g->stride_w, 1, 1, CUDNN_CROSS_CORRELATION,
                                                        CUDNN_DATA_FLOAT)) &&
           CUDNN_OK(st, cudnnSetConvolutionMathType(p->conv_desc, math));
}

// The plan for g, made on first use; NULL on failure (recorded).
static ConvPlan *plan_get(CudaState *st, const ConvGeom *g) {
    for (int i = 0; i < st->n_plans; i++)
        if (memcmp(&st->plans[i].geom, g, sizeof *g) == 0) return &st->plans[i];
    if (!geom_is_valid(g)) {
        char message[256];
        snprintf(message, sizeof message,
                 "invalid convolution geometry (batch %d, %dx%dx%d -> %dx%dx%d, kernel %dx%d, "
                 "stride %dx%d)",
                 g->batch, g->in_c, g->in_h, g->in_w, g->out_c, g->out_h, g->out_w, g->kernel_h,
                 g->kernel_w, g->stride_h, g->stride_w);
        cuda_record_error(st, __FILE__, __LINE__, message);
        return NULL;
    }
    if (st->n_plans == st->plan_capacity) {
        int capacity = st->plan_capacity ? 2 * st->plan_capacity : 32;
        ConvPlan *grown = (ConvPlan *)realloc(st->plans, (size_t)capacity * sizeof *grown);
        if (!grown) {
            cuda_record_error(st, __FILE__, __LINE__, "out of host memory for convolution plans");
            return NULL;
        }
        st->plans = grown;
        st->plan_capacity = capacity;
    }
    ConvPlan *p = &st->plans[st->n_plans];
    if (!plan_init(st, p, g)) {
        plan_destroy(p);
        return NULL;
    }
    st->n_plans++;
    return p;
}

// ---- algorithm choice -------------------------------------------------------------------

// The perf structs of the three directions share these fields; one chooser
// serves all (a template, since the struct types differ).
template <typename Perf>
static int perf_usable(const CudaState *st, const Perf &perf) {
    if (perf.status != CUDNN_STATUS_SUCCESS) return 0;
    if (st->precision == PRECISION_FP32 &&
        (perf.mathType == CUDNN_TENSOR_OP_MATH ||
         perf.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
        return 0;
    return 1;
}

static void no_algorithm(CudaState *st, const char *direction, const ConvGeom *g) {
    char message[256];
    snprintf(message, sizeof message,
             "no usable cuDNN %s algorithm for batch %d, %dx%dx%d -> %dx%dx%d, kernel %dx%d",
             direction, g->batch, g->in_c, g->in_h, g->in_w, g->out_c, g->out_h, g->out_w,
             g->kernel_h, g->kernel_w);
    cuda_record_error(st, __FILE__, __LINE__, message);
}

static int find_forward(CudaState *st, ConvPlan *p) {
    cudnnConvolutionFwdAlgoPerf_t perf[CONV_MAX_ALGOS];
    int returned = 0;
    // Timed search first; if cuDNN cannot run it (e.g. out of memory for its
    // trial buffers), its heuristic ranking instead.
    cudnnStatus_t found = cudnnFindConvolutionForwardAlgorithm(
        st->cudnn, p->x_desc, p->w_desc, p->conv_desc, p->y_desc, CONV_MAX_ALGOS, &returned, perf);
    if (found != CUDNN_STATUS_SUCCESS) {
        fprintf(stderr, "cuda backend: cudnnFindConvolutionForwardAlgorithm: %s; using heuristics\n",
                cudnnGetErrorString(found));
        cudaGetLastError();
        if (!CUDNN_OK(st, cudnnGetConvolutionForwardAlgorithm_v7(st->cudnn, p->x_desc, p->w_desc,
                                                                 p->conv_desc, p->y_desc,
                                                                 CONV_MAX_ALGOS, &returned, perf)))
            return 0;
    }
    for (int i = 0; i < returned; i++) {
        if (!perf_usable(st, perf[i])) continue;
        size_t bytes = 0;
        if (cudnnGetConvolutionForwardWorkspaceSize(st->cudnn, p->x_desc, p->w_desc, p->conv_desc,
                                                    p->y_desc, perf[i].algo,
                                                    &bytes) != CUDNN_STATUS_SUCCESS ||
            bytes > CONV_MAX_WORKSPACE_BYTES)
            continue;
        p->fwd_algo = perf[i].algo;
        p->fwd_workspace = bytes;
        p->have_fwd = 1;
        return 1;
    }
    no_algorithm(st, "forward", &p->geom);
    return 0;
}

static int find_backward_data(CudaState *st, ConvPlan *p) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CONV_MAX_ALGOS];
    int returned = 0;
    cudnnStatus_t found = cudnnFindConvolutionBackwardDataAlgorithm(
        st->cudnn, p->w_desc, p->y_desc, p->conv_desc, p->x_desc, CONV_MAX_ALGOS, &returned, perf);
    if (found != CUDNN_STATUS_SUCCESS) {
        fprintf(stderr,
                "cuda backend: cudnnFindConvolutionBackwardDataAlgorithm: %s; using heuristics\n",
                cudnnGetErrorString(found));
        cudaGetLastError();
        if (!CUDNN_OK(st, cudnnGetConvolutionBackwardDataAlgorithm_v7(
                              st->cudnn, p->w_desc, p->y_desc, p->conv_desc, p->x_desc,
                              CONV_MAX_ALGOS, &returned, perf)))
            return 0;
    }
    for (int i = 0; i < returned; i++) {
        if (!perf_usable(st, perf[i])) continue;
        size_t bytes = 0;
        if (cudnnGetConvolutionBackwardDataWorkspaceSize(st->cudnn, p->w_desc, p->y_desc,
                                                         p->conv_desc, p->x_desc, perf[i].algo,
                                                         &bytes) != CUDNN_STATUS_SUCCESS ||
            bytes > CONV_MAX_WORKSPACE_BYTES)
            continue;
        p->bwd_data_algo = perf[i].algo;
        p->bwd_data_workspace = bytes;
        p->have_bwd_data = 1;
        return 1;
    }
    no_algorithm(st, "backward-data", &p->geom);
    return 0;
}

static int find_backward_filter(CudaState *st, ConvPlan *p) {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CONV_MAX_ALGOS];
    int returned = 0;
    cudnnStatus_t found = cudnnFindConvolutionBackwardFilterAlgorithm(
        st->cudnn, p->x_desc, p->y_desc, p->conv_desc, p->w_desc, CONV_MAX_ALGOS, &returned, perf);
    if (found != CUDNN_STATUS_SUCCESS) {
        fprintf(stderr,
                "cuda backend: cudnnFindConvolutionBackwardFilterAlgorithm: %s; using heuristics\n",
                cudnnGetErrorString(found));
        cudaGetLastError();
        if (!CUDNN_OK(st, cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                              st->cudnn, p->x_desc, p->y_desc, p->conv_desc, p->w_desc,
                              CONV_MAX_ALGOS, &returned, perf)))
            return 0;
    }
    for (int i = 0; i < returned; i++) {
        if (!perf_usable(st, perf[i])) continue;
        size_t bytes = 0;
        if (cudnnGetConvolutionBackwardFilterWorkspaceSize(st->cudnn, p->x_desc, p->y_desc,
                                                           p->conv_desc, p->w_desc, perf[i].algo,
                                                           &bytes) != CUDNN_STATUS_SUCCESS ||
            bytes > CONV_MAX_WORKSPACE_BYTES)
            continue;
        p->bwd_filter_algo = perf[i].algo;
        p->bwd_filter_workspace = bytes;
        p->have_bwd_filter = 1;
        return 1;
    }
    no_algorithm(st, "backward-filter", &p->geom);
    return 0;
}

// ---- the three directions -----------------------------------------------------------------

// The input the cuDNN descriptor describes: x itself, or x copied into the
// zero-padded scratch buffer for geometries cuDNN cannot pad itself.
static const float *conv_input(CudaState *st, const ConvPlan *p, const float *x) {
    if (!p->explicit_pad) return x;
    const ConvGeom *g = &p->geom;
    size_t bytes = (size_t)g->batch * g->in_c * p->padded_h * p->padded_w * sizeof(float);
    if (!cuda_grow_buffer(st, &st->scratch, bytes)) return NULL;
    float *padded = (float *)st->scratch.data;
    cuda_pad_nchw(st, g->batch, g->in_c, g->in_h, g->in_w, g->pad_top, g->pad_left, p->padded_h,
                  p->padded_w, x, padded);
    return st->failed ? NULL : padded;
}

// cudnnFind* synchronises and allocates, which a CUDA-graph capture cannot hold:
// a shape's first call must run eagerly (the caller replays nothing it did not
// warm up; this is the backstop).
static int algorithm_known_if_recording(CudaState *st, int have_algorithm) {
    if (!st->capturing || have_algorithm) return 1;
    cuda_record_error(st, __FILE__, __LINE__, "first call of a convolution shape while recording");
    return 0;
}

static size_t conv_output_bytes(const ConvGeom *g) {
    return (size_t)g->batch * g->out_c * g->out_h * g->out_w * sizeof(float);
}

void cuda_conv2d_forward(Backend *be, const ConvGeom *g, const real *x, const real *w,
                         const real *bias, const real *residual, OutputClamp clamp, real *y) {
    CudaState *st = cuda_state(be);
    if (st->failed) return;
    ConvPlan *p = plan_get(st, g);
    if (!p || !algorithm_known_if_recording(st, p->have_fwd)) return;
    if (!p->have_fwd && !find_forward(st, p)) return;
    if (!cuda_grow_buffer(st, &st->workspace, p->fwd_workspace)) return;
    const float *input = conv_input(st, p, x);
    if (!input) return;
    // A residual is blended in as y itself: copied there first (unless it is y), then
    // added by the convolution's beta = 1 (or the fused call's alpha2 = 1, z = y).
    if (residual && residual != y &&
        !CUDA_OK(st, cudaMemcpyAsync(y, residual, conv_output_bytes(g), cudaMemcpyDeviceToDevice,
                                     st->stream)))
        return;
    const float one = 1.0f, zero = 0.0f;
    const float *blend = residual ? &one : &zero;
    if (bias && clamp_is_relu(clamp) && !p->fused_unsupported) {
        // y = ReLU(conv(x) + alpha2 * z + bias) with z = y: alpha2 = 0 means cuDNN does
        // not blend z in (tests/test_cuda_parity.c fills y with NaN first to prove it).
        cudnnStatus_t fused = cudnnConvolutionBiasActivationForward(
            st->cudnn, &one, p->x_desc, input, p->w_desc, w, p->conv_desc, p->fwd_algo,
            st->workspace.data, p->fwd_workspace, blend, p->y_desc, y, p->bias_desc, bias,
            st->relu_desc, p->y_desc, y);
        if (fused == CUDNN_STATUS_SUCCESS) return;
        const int category = CUDNN_STATUS_CATEGORY(fused);
        if (category != CUDNN_STATUS_NOT_SUPPORTED && category != CUDNN_STATUS_BAD_PARAM) {
            cuda_check_cudnn(st, fused, "cudnnConvolutionBiasActivationForward", __FILE__,
                             __LINE__);
            return;
        }
        // Not every algorithm (or layout) supports the fused form: from now on
        // this shape runs the plain convolution and our own bias + ReLU
        // epilogue. A parameter error that is really ours will show again, and
        // be recorded, in cudnnConvolutionForward below.
        fprintf(stderr, "cuda backend: fused conv+bias+ReLU refused (%s); using conv + epilogue\n",
                cudnnGetErrorString(fused));
        p->fused_unsupported = 1;
    }
    if (!CUDNN_OK(st, cudnnConvolutionForward(st->cudnn, &one, p->x_desc, input, p->w_desc, w,
                                              p->conv_desc, p->fwd_algo, st->workspace.data,
                                              p->fwd_workspace, blend, p->y_desc, y)))
        return;
    if (bias || clamp.on)
        cuda_bias_clamp_inplace(st, g->batch, g->out_c, g->out_h * g->out_w, bias, clamp, y);
}

static int backward_supported(CudaState *st, const ConvPlan *p) {
    if (!p->explicit_pad) return 1;
    cuda_record_error(st, __FILE__, __LINE__,
                      "convolution backward with asymmetric or negative padding is not supported");
    return 0;
}

void cuda_conv2d_backward_data(Backend *be, const ConvGeom *g, const real *w, const real *dy,
                               real *dx) {
    CudaState *st = cuda_state(be);
    if (st->failed) return;
    ConvPlan *p = plan_get(st, g);
    if (!p || !backward_supported(st, p)) return;
    if (!algorithm_known_if_recording(st, p->have_bwd_data)) return;
    if (!p->have_bwd_data && !find_backward_data(st, p)) return;
    if (!cuda_grow_buffer(st, &st->workspace, p->bwd_data_workspace)) return;
    const float one = 1.0f, zero = 0.0f;
    CUDNN_OK(st, cudnnConvolutionBackwardData(st->cudnn, &one, p->w_desc, w, p->y_desc, dy,
                                              p->conv_desc, p->bwd_data_algo, st->workspace.data,
                                              p->bwd_data_workspace, &zero, p->x_desc, dx));
}

void cuda_conv2d_backward_filter(Backend *be, const ConvGeom *g, const real *x, const real *dy,
                                 real *dw) {
    CudaState *st = cuda_state(be);
    if (st->failed) return;
    ConvPlan *p = plan_get(st, g);
    if (!p || !backward_supported(st, p)) return;
    if (!algorithm_known_if_recording(st, p->have_bwd_filter)) return;
    if (!p->have_bwd_filter && !find_backward_filter(st, p)) return;
    if (!cuda_grow_buffer(st, &st->workspace, p->bwd_filter_workspace)) return;
    const float one = 1.0f, zero = 0.0f;
    CUDNN_OK(st, cudnnConvolutionBackwardFilter(st->cudnn, &one, p->x_desc, x, p->y_desc, dy,
                                                p->conv_desc, p->bwd_filter_algo,
                                                st->workspace.data, p->bwd_filter_workspace, &zero,
                                                p->w_desc, dw));
}
