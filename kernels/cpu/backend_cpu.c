// The CPU backend: host memory, the function table, and the state its kernels
// share (thread count, per-thread scratch). The kernels live one concept per
// file next to this one (conv.c, batchnorm.c, ...).
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_ops.h"
#include "infer_ops.h"

// ---- shared helpers ----------------------------------------------------------

// 64-byte aligned (a cache line, an AVX-512 vector); the old contents are not kept:
// scratch holds nothing between calls.
void cpu_scratch_grow(CpuScratch *s, size_t elements) {
    if (s->capacity >= elements) return;
    free(s->data);
    const size_t bytes = (elements * sizeof(real) + 63) / 64 * 64;
    s->data = aligned_alloc(64, bytes);
    if (!s->data) {
        fprintf(stderr, "cpu backend: out of memory growing a scratch buffer to %zu bytes\n",
                elements * sizeof(real));
        abort();
    }
    s->capacity = elements;
}

void cpu_scratch_reserve(CpuState *st, size_t elements) {
    for (int t = 0; t < st->threads; t++) cpu_scratch_grow(&st->scratch[t], elements);
}

real *cpu_gemm_packs(CpuState *st) {
    if (!st->gemm_pack) {
        const size_t bytes = (size_t)st->threads * CONV_GEMM_PACK_SIZE * sizeof(real);
        st->gemm_pack = aligned_alloc(64, bytes);
        if (!st->gemm_pack) {
            fprintf(stderr, "cpu backend: out of memory for the matrix product's scratch (%zu bytes)\n",
                    bytes);
            abort();
        }
    }
    return st->gemm_pack;
}

real *cpu_shared_reserve(CpuState *st, size_t elements) {
    cpu_scratch_grow(&st->shared, elements);
    return st->shared.data;
}

// OpenBLAS stays single-threaded: the backend splits products between its own OpenMP
// threads where that pays. (With its own pool, OpenBLAS's threads spin for a while after
// every product and took the cores from the OpenMP team: batch-1 inference ran 2.5x
// slower on 2 threads than on one.)
static void blas_single_threaded(void) { openblas_set_num_threads(1); }

// ---- memory ---------------------------------------------------------------------

// 64-byte alignment: whole cache lines, and aligned loads for AVX-512 should
// the build ever target it.
static void *cpu_alloc(Backend *be, size_t bytes) {
    (void)be;
    size_t rounded = (bytes + 63) / 64 * 64;
    return aligned_alloc(64, rounded ? rounded : 64);
}

static void cpu_release(Backend *be, void *ptr) {
    (void)be;
    free(ptr);
}

// Host memory is what the CPU computes on anyway: staging is one more aligned block.
static void *cpu_alloc_host(Backend *be, size_t bytes) { return cpu_alloc(be, bytes); }

static void cpu_release_host(Backend *be, void *ptr) { cpu_release(be, ptr); }

static void cpu_copy(Backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memmove(dst, src, bytes);
}

static void cpu_fill(Backend *be, real *dst, size_t count, real value) {
    CpuState *st = cpu_state(be);
#pragma omp parallel for simd num_threads(st->threads) if (count >= CPU_PARALLEL_MIN_ELEMENTS)
    for (size_t i = 0; i < count; i++) dst[i] = value;
}

// Host memory is device memory here, and every kernel has finished on return.
static void cpu_synchronize(Backend *be) { (void)be; }

static int cpu_set_precision(Backend *be, const char *precision) {
    (void)be;
    return precision && strcmp(precision, "fp32") == 0 ? 0 : -1;
}

// The CPU ops cannot fail once their scratch exists (growing it aborts with a message).
static int cpu_last_error(Backend *be, char *err, size_t err_len) {
    (void)be, (void)err, (void)err_len;
    return 0;
}

static void cpu_destroy(Backend *be) {
    if (!be) return;
    CpuState *st = cpu_state(be);
    if (st) {
        for (int t = 0; t < st->threads; t++) free(st->scratch[t].data);
        cpu_winograd_cache_free(st);
        thread_balance_free(&st->balance);
        free(st->shared.data);
        free(st->gemm_pack);
        free(st->scratch);
        free(st);
    }
    free(be);
}

static void cpu_describe(Backend *be, char *out, size_t out_len) {
    const CpuState *st = cpu_state(be);
    snprintf(out, out_len, "cpu: %s kernels (%d-bit vectors), %d threads", st->kernels->isa,
             st->kernels->vector_bytes * 8, st->threads);
}

// ---- construction -------------------------------------------------------------

static void fill_table(Backend *be) {
    be->name = "cpu";
    be->alloc = cpu_alloc;
    be->release = cpu_release;
    be->alloc_host = cpu_alloc_host;
    be->release_host = cpu_release_host;
    be->upload = cpu_copy;
    be->download = cpu_copy;
    be->copy = cpu_copy;
    be->fill = cpu_fill;
    be->synchronize = cpu_synchronize;
    be->destroy = cpu_destroy;
    be->set_precision = cpu_set_precision;
    be->last_error = cpu_last_error;
    be->describe = cpu_describe;

    be->conv2d_forward = cpu_conv2d_forward;
    be->conv2d_forward_sequence = cpu_conv2d_forward_sequence;
    be->conv2d_channels_last = cpu_conv2d_channels_last;
    be->conv2d_backward_data = cpu_conv2d_backward_data;
    be->conv2d_backward_filter = cpu_conv2d_backward_filter;

    be->batchnorm_forward_train = cpu_batchnorm_forward_train;
    be->batchnorm_forward_eval = cpu_batchnorm_forward_eval;
    be->batchnorm_backward = cpu_batchnorm_backward;

    be->relu_forward = cpu_relu_forward;
    be->relu_backward = cpu_relu_backward;
    be->residual_forward = cpu_residual_forward;
    be->accumulate = cpu_accumulate;

    be->shortcut_a_forward = cpu_shortcut_a_forward;
    be->shortcut_a_backward_accumulate = cpu_shortcut_a_backward_accumulate;

    be->global_avgpool_forward = cpu_global_avgpool_forward;
    be->global_avgpool_backward = cpu_global_avgpool_backward;
    be->maxpool_forward = cpu_maxpool_forward;
    be->maxpool_backward = cpu_maxpool_backward;
    be->avgpool_forward = cpu_avgpool_forward;

    be->fc_forward = cpu_fc_forward;
    be->fc_backward = cpu_fc_backward;
    be->softmax_cross_entropy = cpu_softmax_cross_entropy;
    be->sgd_step = cpu_sgd_step;

    be->binary_broadcast = cpu_binary_broadcast;
    be->pad_constant = cpu_pad_constant;
    be->slice = cpu_slice;
    be->concat_part = cpu_concat_part;
    be->softmax = cpu_softmax;
    be->gemm = cpu_gemm;

    be->activation_forward = cpu_activation_forward;
    be->conv2d_grouped_forward = cpu_conv2d_grouped_forward;
    be->transpose = cpu_transpose;
    be->softmax_axis = cpu_softmax_axis;
    be->pad_border = cpu_pad_border;
}

Backend *backend_cpu_create(int threads, char *err, size_t err_len) {
    const CpuBackendOptions options = {threads, getenv("SD_CPU_ISA"), getenv("SD_CPU_CONV")};
    return backend_cpu_create_with(&options, err, err_len);
}

static int conv_algorithm_named(const char *name, CpuConvAlgorithm *algorithm) {
    static const char *const names[] = {"auto", "direct", "winograd2", "winograd4"};
    if (!name || !name[0]) name = "auto";
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) {
            *algorithm = (CpuConvAlgorithm)i;
            return 1;
        }
    return 0;
}

int backend_cpu_thread_count(int threads) {
    if (threads <= 0) threads = omp_get_num_procs();
    return threads > 0 ? threads : 1;
}

Backend *backend_cpu_create_with(const CpuBackendOptions *options, char *err, size_t err_len) {
    char why[160] = "";
    int threads = options->threads;
    const CpuKernels *kernels = cpu_kernels_choose(options->kernel_set, why, sizeof why);
    CpuConvAlgorithm algorithm;
    if (!kernels) {
        if (err && err_len) snprintf(err, err_len, "cpu backend: %s", why);
        return NULL;
    }
    if (!conv_algorithm_named(options->conv_algorithm, &algorithm)) {
        if (err && err_len)
            snprintf(err, err_len,
                     "cpu backend: unknown convolution algorithm '%s' (auto, direct, winograd2, "
                     "winograd4)", options->conv_algorithm);
        return NULL;
    }
    threads = backend_cpu_thread_count(threads);
    Backend *be = calloc(1, sizeof *be);
    CpuState *st = calloc(1, sizeof *st);
    CpuScratch *scratch = calloc((size_t)threads, sizeof *scratch);
    if (!be || !st || !scratch || !thread_balance_init(&st->balance, threads)) {
        if (st) thread_balance_free(&st->balance);
        free(be);
        free(st);
        free(scratch);
        if (err && err_len) snprintf(err, err_len, "cpu backend: out of memory");
        return NULL;
    }
    blas_single_threaded();
    st->kernels = kernels;
    st->conv_algorithm = algorithm;
    st->threads = threads;
    st->scratch = scratch;
    be->state = st;
    fill_table(be);
    return be;
}
