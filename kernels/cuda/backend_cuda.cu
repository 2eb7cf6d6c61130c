// The CUDA backend: construction, memory, precision, error bookkeeping and the
// function table. The kernels live one concept per file next to this one
// (conv.cu, batchnorm.cu, elementwise.cu, pool.cu, dense.cu, tensor_ops.cu).
//
// CUDA graphs (a later step): capture needs (1) all work on st->stream, which
// holds already; (2) no allocation or synchronisation inside captured calls:
// run one uncaptured warm-up step first so that every ConvPlan has its
// algorithms and the workspace has its final size (cudnnFind* synchronises and
// allocates, and a growing workspace is freed and re-allocated), and cuBLAS
// already has a fixed workspace (cublasSetWorkspace below); (3) the scalars
// passed by value (lr, branch_scale, momentum) are baked into the graph, so a
// captured step must either be re-captured when they change or the graph's
// kernel nodes updated (cudaGraphExecKernelNodeSetParams). A per-state
// `cudaGraphExec_t` cache keyed by (block, gate, batch) would sit next to the
// ConvPlan table.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_cuda.h"
#include "cuda_internal.h"

// cuBLAS gets its own fixed workspace so it never allocates inside a step (NVIDIA
// recommends 32 MiB on Hopper).
#define CUBLAS_WORKSPACE_BYTES ((size_t)32 << 20)
// Grown workspaces are rounded up to this, so a few slightly larger shapes do
// not each cost a free + malloc.
#define GROW_GRANULARITY ((size_t)1 << 20)

// ---- errors ---------------------------------------------------------------------

void cuda_record_error(CudaState *st, const char *file, int line, const char *message) {
    if (st->capturing) {  // nothing ran: graph.cu drops the recording, the caller runs eagerly
        if (!st->capture_failed)
            fprintf(stderr, "%s:%d: cuda backend: while recording a CUDA graph: %s\n", file,
                    line, message);
        st->capture_failed = 1;
        return;
    }
    fprintf(stderr, "%s:%d: cuda backend: %s\n", file, line, message);
    if (!st->failed) {
        snprintf(st->error, sizeof st->error, "%s:%d: %s", file, line, message);
        st->failed = 1;
    }
}

int cuda_check_runtime(CudaState *st, cudaError_t status, const char *call, const char *file,
                       int line) {
    if (status == cudaSuccess) return 1;
    char message[400];
    snprintf(message, sizeof message, "%s failed: %s (%s)", call, cudaGetErrorString(status),
             cudaGetErrorName(status));
    cuda_record_error(st, file, line, message);
    return 0;
}

int cuda_check_cudnn(CudaState *st, cudnnStatus_t status, const char *call, const char *file,
                     int line) {
    if (status == CUDNN_STATUS_SUCCESS) return 1;
    // The status names a class of error; cuDNN 9 keeps the specific reason (which
    // descriptor field, which limit) in a per-thread message.
    char detail[256] = "";
    cudnnGetLastErrorString(detail, sizeof detail);
    char message[480];
    snprintf(message, sizeof message, "%s failed: %s%s%s", call, cudnnGetErrorString(status),
             detail[0] ? ": " : "", detail);
    cuda_record_error(st, file, line, message);
    return 0;
}

int cuda_check_cublas(CudaState *st, cublasStatus_t status, const char *call, const char *file,
                      int line) {
    if (status == CUBLAS_STATUS_SUCCESS) return 1;
    char message[400];
    snprintf(message, sizeof message, "%s failed: %s", call, cublasGetStatusString(status));
    cuda_record_error(st, file, line, message);
    return 0;
}

extern "C" int backend_cuda_device_count(void) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();  // clear the (non-sticky) "no device / no driver" error
        return 0;
    }
    return count;
}

extern "C" int backend_cuda_error(Backend *be, char *err, size_t err_len) {
    CudaState *st = cuda_state(be);
    if (!st->failed) CUDA_OK(st, cudaStreamSynchronize(st->stream));
    if (!st->failed) return 0;
    if (err && err_len) snprintf(err, err_len, "%s", st->error);
    return -1;
}

extern "C" void backend_cuda_describe(Backend *be, char *out, size_t out_len) {
    CudaState *st = cuda_state(be);
    cudaDeviceProp prop;
    int runtime = 0, driver = 0, blas = 0;
    if (cudaGetDeviceProperties(&prop, st->device) != cudaSuccess) {
        cudaGetLastError();
        snprintf(prop.name, sizeof prop.name, "unknown device");
        prop.major = prop.minor = 0;
    }
    if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) cudaGetLastError();
    if (cudaDriverGetVersion(&driver) != cudaSuccess) cudaGetLastError();
    if (cublasGetVersion(st->cublas, &blas) != CUBLAS_STATUS_SUCCESS) blas = 0;
    snprintf(out, out_len,
             "%s (sm_%d%d, %d multiprocessors); CUDA runtime %d, driver %d; cuDNN %zu (built "
             "with %d); cuBLAS %d",
             prop.name, prop.major, prop.minor, st->sm_count, runtime, driver, cudnnGetVersion(),
             CUDNN_VERSION, blas);
}

// ---- buffers ----------------------------------------------------------------------

int cuda_grow_buffer(CudaState *st, GrowBuffer *buf, size_t bytes) {
    if (bytes <= buf->bytes) return 1;
    size_t rounded = (bytes + GROW_GRANULARITY - 1) / GROW_GRANULARITY * GROW_GRANULARITY;
    // Work already enqueued may still read the old buffer.
    if (!CUDA_OK(st, cudaStreamSynchronize(st->stream))) return 0;
    if (buf->data && !CUDA_OK(st, cudaFree(buf->data))) return 0;
    buf->data = NULL;
    buf->bytes = 0;
    if (!CUDA_OK(st, cudaMalloc(&buf->data, rounded))) {
        buf->data = NULL;
        return 0;
    }
    buf->bytes = rounded;
    st->memory_generation++;  // recordings that used the old buffer are stale now
    return 1;
}

// ---- memory -------------------------------------------------------------------------

static void *cuda_alloc(Backend *be, size_t bytes) {
    CudaState *st = cuda_state(be);
    if (st->failed) return NULL;
    void *ptr = NULL;
    cudaError_t status = cudaMalloc(&ptr, bytes ? bytes : 1);
    if (status != cudaSuccess) {
        // Out of memory is the caller's to handle (NULL), not a broken device:
        // report it, clear the non-sticky error, keep the backend usable.
        fprintf(stderr, "cuda backend: cudaMalloc(%zu bytes) failed: %s\n", bytes,
                cudaGetErrorString(status));
        cudaGetLastError();
        return NULL;
    }
    return ptr;
}

static void cuda_release(Backend *be, void *ptr) {
    if (!ptr) return;
    CUDA_OK(cuda_state(be), cudaFree(ptr));
}

// Page-locked memory: the DMA engine reads it directly, so a copy from it can run
// while the host goes on (from pageable memory the driver stages it anyway).
static void *cuda_alloc_host(Backend *be, size_t bytes) {
    CudaState *st = cuda_state(be);
    if (st->failed) return NULL;
    if (st->n_pinned == st->pinned_capacity) {
        int capacity = st->pinned_capacity ? 2 * st->pinned_capacity : 8;
        PinnedBlock *grown =
            (PinnedBlock *)realloc(st->pinned, (size_t)capacity * sizeof *grown);
        if (!grown) return NULL;
        st->pinned = grown;
        st->pinned_capacity = capacity;
    }
    void *ptr = NULL;
    cudaError_t status = cudaHostAlloc(&ptr, bytes ? bytes : 1, cudaHostAllocDefault);
    if (status != cudaSuccess) {  // like cuda_alloc: the caller's to handle
        fprintf(stderr, "cuda backend: cudaHostAlloc(%zu bytes) failed: %s\n", bytes,
                cudaGetErrorString(status));
        cudaGetLastError();
        return NULL;
    }
    st->pinned[st->n_pinned].start = (const char *)ptr;
    st->pinned[st->n_pinned].bytes = bytes ? bytes : 1;
    st->n_pinned++;
    return ptr;
}

static void cuda_release_host(Backend *be, void *ptr) {
    CudaState *st = cuda_state(be);
    if (!ptr) return;
    for (int i = 0; i < st->n_pinned; i++) {
        if (st->pinned[i].start != ptr) continue;
        st->pinned[i] = st->pinned[--st->n_pinned];
        break;
    }
    // cudaFreeHost waits for copies still reading the block.
    CUDA_OK(st, cudaFreeHost(ptr));
}

static int is_pinned(const CudaState *st, const void *host, size_t bytes) {
    const char *p = (const char *)host;
    for (int i = 0; i < st->n_pinned; i++) {
        const PinnedBlock *block = &st->pinned[i];
        if (p >= block->start && bytes <= block->bytes &&
            (size_t)(p - block->start) <= block->bytes - bytes)
            return 1;
    }
    return 0;
}

static void cuda_upload(Backend *be, void *device_dst, const void *host_src, size_t bytes) {
    CudaState *st = cuda_state(be);
    if (st->failed || bytes == 0) return;
    if (!CUDA_OK(st, cudaMemcpyAsync(device_dst, host_src, bytes, cudaMemcpyHostToDevice,
                                     st->stream)))
        return;
    // From pinned staging the caller waits for a later download/synchronize before
    // it writes the block again (Backend.upload); any other buffer may be reused as
    // soon as we return.
    if (!is_pinned(st, host_src, bytes)) CUDA_OK(st, cudaStreamSynchronize(st->stream));
}

static void cuda_download(Backend *be, void *host_dst, const void *device_src, size_t bytes) {
    CudaState *st = cuda_state(be);
    if (bytes == 0) return;
    if (!st->failed &&
        CUDA_OK(st, cudaMemcpyAsync(host_dst, device_src, bytes, cudaMemcpyDeviceToHost,
                                    st->stream)) &&
        CUDA_OK(st, cudaStreamSynchronize(st->stream)))
        return;
    memset(host_dst, 0xFF, bytes);  // NaN for floats: never pass off garbage as results
}

static void cuda_copy(Backend *be, void *device_dst, const void *device_src, size_t bytes) {
    CudaState *st = cuda_state(be);
    if (st->failed || bytes == 0 || device_dst == device_src) return;
    CUDA_OK(st, cudaMemcpyAsync(device_dst, device_src, bytes, cudaMemcpyDeviceToDevice,
                                st->stream));
}

static void cuda_synchronize(Backend *be) {
    CudaState *st = cuda_state(be);
    if (st->failed) return;
    CUDA_OK(st, cudaStreamSynchronize(st->stream));
}

// ---- precision ------------------------------------------------------------------------

// "fp32" must be true float32: cuBLAS's default math never uses TF32 for sgemm,
// and the convolutions run with CUDNN_FMA_MATH (conv.cu), because cuDNN's
// CUDNN_DEFAULT_MATH permits TF32 tensor cores on Ampere and later.
static int cuda_set_precision(Backend *be, const char *precision) {
    CudaState *st = cuda_state(be);
    CudaPrecision wanted;
    cublasMath_t blas_math;
    if (precision && strcmp(precision, "fp32") == 0) {
        wanted = PRECISION_FP32;
        blas_math = CUBLAS_DEFAULT_MATH;
    } else if (precision && strcmp(precision, "tf32") == 0) {
        wanted = PRECISION_TF32;
        blas_math = CUBLAS_TF32_TENSOR_OP_MATH;
    } else {
        return -1;  // fp16 / bf16 need half-precision storage: not offered (yet)
    }
    if (st->failed) return -1;
    if (!CUBLAS_OK(st, cublasSetMathMode(st->cublas, blas_math))) return -1;
    if (wanted != st->precision) {
        // Algorithm choices depend on the math mode: find them again.
        if (!CUDA_OK(st, cudaStreamSynchronize(st->stream))) return -1;
        cuda_conv_plans_clear(st);
        st->precision = wanted;
        st->memory_generation++;  // recorded convolutions used the old math mode
    }
    return 0;
}

// ---- construction / destruction ----------------------------------------------------------

static void cuda_destroy(Backend *be) {
    if (!be) return;
    CudaState *st = cuda_state(be);
    if (st) {
        if (st->stream) cudaStreamSynchronize(st->stream);  // errors here change nothing
        cuda_conv_plans_clear(st);
        free(st->plans);
        free(st->pinned);  // the blocks themselves are their owners' to release
        // The libraries' handles go first: cuBLAS may still use the workspace it was
        // given until cublasDestroy, and cuDNN ours until cudnnDestroy.
        if (st->cublas) cublasDestroy(st->cublas);
        if (st->cudnn) cudnnDestroy(st->cudnn);
        if (st->workspace.data) cudaFree(st->workspace.data);
        if (st->scratch.data) cudaFree(st->scratch.data);
        if (st->cublas_workspace) cudaFree(st->cublas_workspace);
        if (st->relu_desc) cudnnDestroyActivationDescriptor(st->relu_desc);
        if (st->bn_x_desc) cudnnDestroyTensorDescriptor(st->bn_x_desc);
        if (st->bn_param_desc) cudnnDestroyTensorDescriptor(st->bn_param_desc);
        if (st->stream) cudaStreamDestroy(st->stream);
        free(st);
    }
    free(be);
}

static void fill_table(Backend *be) {
    be->name = "cuda";
    be->alloc = cuda_alloc;
    be->release = cuda_release;
    be->alloc_host = cuda_alloc_host;
    be->release_host = cuda_release_host;
    be->upload = cuda_upload;
    be->download = cuda_download;
    be->copy = cuda_copy;
    be->fill = cuda_fill;
    be->synchronize = cuda_synchronize;
    be->destroy = cuda_destroy;
    be->set_precision = cuda_set_precision;
    be->last_error = backend_cuda_error;
    be->describe = backend_cuda_describe;
    be->record_begin = cuda_record_begin;
    be->record_end = cuda_record_end;
    be->replay = cuda_replay;
    be->recording_free = cuda_recording_free;

    be->conv2d_forward = cuda_conv2d_forward;
    be->conv2d_backward_data = cuda_conv2d_backward_data;
    be->conv2d_backward_filter = cuda_conv2d_backward_filter;

    be->batchnorm_forward_train = cuda_batchnorm_forward_train;
    be->batchnorm_forward_eval = cuda_batchnorm_forward_eval;
    be->batchnorm_backward = cuda_batchnorm_backward;

    be->relu_forward = cuda_relu_forward;
    be->relu_backward = cuda_relu_backward;
    be->residual_forward = cuda_residual_forward;
    be->accumulate = cuda_accumulate;

    be->shortcut_a_forward = cuda_shortcut_a_forward;
    be->shortcut_a_backward_accumulate = cuda_shortcut_a_backward_accumulate;

    be->global_avgpool_forward = cuda_global_avgpool_forward;
    be->global_avgpool_backward = cuda_global_avgpool_backward;
    be->maxpool_forward = cuda_maxpool_forward;
    be->maxpool_backward = cuda_maxpool_backward;
    be->avgpool_forward = cuda_avgpool_forward;

    be->fc_forward = cuda_fc_forward;
    be->fc_backward = cuda_fc_backward;
    be->softmax_cross_entropy = cuda_softmax_cross_entropy;
    be->sgd_step = cuda_sgd_step;

    be->binary_broadcast = cuda_binary_broadcast;
    be->pad_constant = cuda_pad_constant;
    be->slice = cuda_slice;
    be->concat_part = cuda_concat_part;
    be->softmax = cuda_softmax;
    be->gemm = cuda_gemm;
    be->activation_forward = cuda_activation_forward;
    be->conv2d_grouped_forward = cuda_conv2d_grouped_forward;
    be->transpose = cuda_transpose;
    be->softmax_axis = cuda_softmax_axis;
    be->pad_border = cuda_pad_border;
}

// Device, stream, library handles and the small descriptors every call reuses.
static int init_state(CudaState *st, int device_index) {
    int count = backend_cuda_device_count();
    if (count <= 0) {
        snprintf(st->error, sizeof st->error, "no CUDA device found");
        return 0;
    }
    if (device_index < 0 || device_index >= count) {
        snprintf(st->error, sizeof st->error, "CUDA device %d does not exist (%d found)",
                 device_index, count);
        return 0;
    }
    // cuDNN's legacy API is stable within a major version; a different major
    // (a mismatched library on LD_LIBRARY_PATH) would misbehave in odd ways.
    size_t cudnn_runtime = cudnnGetVersion();
    if (cudnn_runtime / 10000 != CUDNN_MAJOR) {
        snprintf(st->error, sizeof st->error,
                 "cuDNN library version %zu does not match the headers (major %d)", cudnn_runtime,
                 CUDNN_MAJOR);
        return 0;
    }
    st->device = device_index;
    if (!CUDA_OK(st, cudaSetDevice(device_index))) return 0;
    if (!CUDA_OK(st, cudaDeviceGetAttribute(&st->sm_count, cudaDevAttrMultiProcessorCount,
                                            device_index)))
        return 0;
    // Enough blocks to fill every multiprocessor several times over; grid-stride
    // loops cover the rest.
    st->max_blocks = (unsigned)(st->sm_count > 0 ? st->sm_count : 1) * 8u;
    if (!CUDA_OK(st, cudaStreamCreateWithFlags(&st->stream, cudaStreamNonBlocking))) return 0;
    if (!CUDNN_OK(st, cudnnCreate(&st->cudnn))) return 0;
    if (!CUDNN_OK(st, cudnnSetStream(st->cudnn, st->stream))) return 0;
    if (!CUBLAS_OK(st, cublasCreate(&st->cublas))) return 0;
    if (!CUBLAS_OK(st, cublasSetStream(st->cublas, st->stream))) return 0;
    if (!CUDA_OK(st, cudaMalloc(&st->cublas_workspace, CUBLAS_WORKSPACE_BYTES))) return 0;
    if (!CUBLAS_OK(st, cublasSetWorkspace(st->cublas, st->cublas_workspace,
                                          CUBLAS_WORKSPACE_BYTES)))
        return 0;
    if (!CUBLAS_OK(st, cublasSetPointerMode(st->cublas, CUBLAS_POINTER_MODE_HOST))) return 0;
    if (!CUBLAS_OK(st, cublasSetMathMode(st->cublas, CUBLAS_DEFAULT_MATH))) return 0;
    st->precision = PRECISION_FP32;
    if (!CUDNN_OK(st, cudnnCreateTensorDescriptor(&st->bn_x_desc))) return 0;
    if (!CUDNN_OK(st, cudnnCreateTensorDescriptor(&st->bn_param_desc))) return 0;
    if (!CUDNN_OK(st, cudnnCreateActivationDescriptor(&st->relu_desc))) return 0;
    if (!CUDNN_OK(st, cudnnSetActivationDescriptor(st->relu_desc, CUDNN_ACTIVATION_RELU,
                                                   CUDNN_NOT_PROPAGATE_NAN, 0.0)))
        return 0;
    return 1;
}

extern "C" Backend *backend_cuda_create(int device_index, char *err, size_t err_len) {
    Backend *be = (Backend *)calloc(1, sizeof *be);
    CudaState *st = (CudaState *)calloc(1, sizeof *st);
    if (!be || !st) {
        free(be);
        free(st);
        if (err && err_len) snprintf(err, err_len, "cuda backend: out of host memory");
        return NULL;
    }
    be->state = st;
    fill_table(be);
    if (!init_state(st, device_index)) {
        if (err && err_len) snprintf(err, err_len, "cuda backend: %s", st->error);
        cuda_destroy(be);
        return NULL;
    }
    return be;
}
