// Private to the CPU backend: its state, the helpers its kernels share, and the
// kernel functions that backend_cpu.c puts into the Backend table.
//
// Threading model: the backend runs its own OpenMP teams of `threads` threads
// (num_threads clauses, never the global omp_set_num_threads). OpenBLAS is set to
// one thread when a backend is created (a process-wide setting of the library) and
// every product is a single-threaded call; where one product is worth splitting
// (a batch smaller than the team), the OpenMP threads split it by rows.
#ifndef SD_CPU_OPS_H
#define SD_CPU_OPS_H

#include <cblas.h>
#include <stddef.h>

#include "../backend.h"
#include "cpu_kernels.h"
#include "thread_balance.h"

// One cblas name for both builds of the core (float in production, double for
// the finite-difference tests).
#ifdef SD_REAL_DOUBLE
#define cblas_gemm_real cblas_dgemm
#else
#define cblas_gemm_real cblas_sgemm
#endif

// Element-wise loops shorter than this run on one thread: waking a team costs
// more than streaming a few tens of kilobytes.
#define CPU_PARALLEL_MIN_ELEMENTS 32768

// A per-thread work buffer (im2col columns, partial filter gradients). It only
// ever grows, so once the largest layer has run no call allocates again.
typedef struct {
    real *data;
    size_t capacity;  // elements
} CpuScratch;

// How stride-1 3x3 convolutions are computed (conv_winograd.c chooses per shape when auto).
typedef enum {
    CPU_CONV_AUTO = 0,
    CPU_CONV_DIRECT,
    CPU_CONV_WINOGRAD2,  // F(2x2, 3x3) wherever the shape allows it
    CPU_CONV_WINOGRAD4,  // F(4x4, 3x3) wherever the shape allows it
} CpuConvAlgorithm;

// A constant weight tensor's Winograd transform, kept for the backend's life.
typedef struct {
    const real *weights;
    WinogradConv conv;
    real *transformed;
} WinogradCacheEntry;

typedef struct {
    const CpuKernels *kernels;  // the vector kernels for this CPU (cpu_kernels.h)
    CpuConvAlgorithm conv_algorithm;
    int threads;          // size of every OpenMP team and of the BLAS pool
    CpuScratch *scratch;  // [threads]
    real *gemm_pack;      // [threads][CONV_GEMM_PACK_SIZE]: each thread's conv_gemm scratch
    CpuScratch shared;    // one buffer all threads write disjoint parts of (partial sums)
    CpuScratch winograd_weights;  // a call's transformed weights (not cached)
    WinogradCacheEntry *winograd_cache;  // transformed constant weights (ConvGeom.constant_weights)
    int winograd_cached, winograd_cache_capacity;
    ThreadBalance balance;  // the threads' shares of a split image (thread_balance.c)
} CpuState;

static inline CpuState *cpu_state(Backend *be) { return (CpuState *)be->state; }

// Whether the threads split each image of a call with fewer images than threads (the
// images then run one after another): only when every thread gets enough multiply-adds
// to pay for waking it and for the barriers between the parts. Measured on a 2-core
// AMD EPYC: ResNet-110's convolutions at batch 1 (1.8M multiply-adds each) ran 1.3x
// slower split over 2 threads than on one.
#define CPU_SPLIT_MIN_MACS_PER_THREAD (4.0 * 1024 * 1024)
static inline int cpu_split_images(const CpuState *st, int batch, double macs) {
    return st->threads > 1 && batch < st->threads &&
           macs >= CPU_SPLIT_MIN_MACS_PER_THREAD * st->threads;
}

static inline double conv_macs(const ConvGeom *g) {
    return (double)g->batch * g->out_c * g->in_c * g->kernel_h * g->kernel_w * g->out_h * g->out_w;
}

// Makes one buffer hold at least `elements` reals (aborts with a message when out of memory).
void cpu_scratch_grow(CpuScratch *s, size_t elements);
// Makes every thread's scratch hold at least `elements` reals. Called before a
// parallel region, never inside one. Aborts with a message when memory runs out:
// the kernels have no error return, and continuing would compute garbage.
void cpu_scratch_reserve(CpuState *st, size_t elements);
// The same for the shared buffer; returns it.
real *cpu_shared_reserve(CpuState *st, size_t elements);
// Every thread's conv_gemm scratch (thread t's: cpu_gemm_pack_of), made on the first
// call: called before a parallel region, never inside one.
real *cpu_gemm_packs(CpuState *st);
static inline real *cpu_gemm_pack_of(real *packs, int thread) {
    return packs + (size_t)thread * CONV_GEMM_PACK_SIZE;
}


// ---- Winograd convolution (conv_winograd.c) ----
// The output tile side m (2 or 4) for this stride-1 3x3 geometry, or 0: direct.
int cpu_winograd_tile(const CpuState *st, const ConvGeom *g);
// y = ReLU?(conv + bias + residual) by Winograd F(m x m, 3 x 3) over the batch.
void cpu_winograd_forward(CpuState *st, const ConvGeom *g, int m, const real *x, const real *w,
                          const real *bias, const real *residual, OutputClamp clamp, real *y);
// How many calls from the first run as one team of threads (cpu_winograd_forward_team):
// the threads would split each image of every one (batch 1), weights constant.
int cpu_winograd_team_length(const CpuState *st, const ConvCall *calls, int count);
// Those calls in order, in one parallel region: the results of cpu_winograd_forward.
void cpu_winograd_forward_team(CpuState *st, const ConvCall *calls, int count);
// dw = the filter gradient by Winograd F(m x m, 3 x 3) (training's backward pass).
void cpu_winograd_filter(CpuState *st, const ConvGeom *g, int m, const real *x, const real *dy,
                         real *dw);
void cpu_winograd_cache_free(CpuState *st);

// ---- convolution (conv.c) ----
int cpu_conv2d_channels_last(Backend *be, const ConvGeom *g);
void cpu_conv2d_forward(Backend *be, const ConvGeom *g, const real *x, const real *w,
                        const real *bias, const real *residual, OutputClamp clamp, real *y);
void cpu_conv2d_forward_sequence(Backend *be, const ConvCall *calls, int count);
void cpu_conv2d_backward_data(Backend *be, const ConvGeom *g, const real *w, const real *dy,
                              real *dx);
void cpu_conv2d_backward_filter(Backend *be, const ConvGeom *g, const real *x, const real *dy,
                                real *dw);

// ---- batch normalisation (batchnorm.c) ----
void cpu_batchnorm_forward_train(Backend *be, const BatchNormGeom *g, const real *x,
                                 const real *gamma, const real *beta, real momentum, real eps,
                                 real *running_mean, real *running_var, real *save_mean,
                                 real *save_invstd, real *y);
void cpu_batchnorm_forward_eval(Backend *be, const BatchNormGeom *g, const real *x,
                                const real *gamma, const real *beta, const real *running_mean,
                                const real *running_var, real eps, real *y);
void cpu_batchnorm_backward(Backend *be, const BatchNormGeom *g, const real *x, const real *dy,
                            const real *gamma, const real *save_mean, const real *save_invstd,
                            real eps, real *dx, real *dgamma, real *dbeta);

// ---- element-wise (elementwise.c) ----
void cpu_relu_forward(Backend *be, size_t count, const real *x, real *y);
void cpu_relu_backward(Backend *be, size_t count, const real *y, const real *dy, real *dx);
void cpu_residual_forward(Backend *be, size_t count, real branch_scale, const real *branch,
                          const real *shortcut, real *y);
void cpu_accumulate(Backend *be, size_t count, const real *src, real *dst);

// ---- option-A shortcut (shortcut.c) ----
void cpu_shortcut_a_forward(Backend *be, int batch, int in_c, int in_h, int in_w, int out_c,
                            const real *x, real *y);
void cpu_shortcut_a_backward_accumulate(Backend *be, int batch, int in_c, int in_h, int in_w,
                                        int out_c, const real *dy, real *dx);

// ---- pooling (pool.c) ----
void cpu_global_avgpool_forward(Backend *be, int batch, int channels, int spatial, const real *x,
                                real *y);
void cpu_global_avgpool_backward(Backend *be, int batch, int channels, int spatial,
                                 const real *dy, real *dx);
void cpu_maxpool_forward(Backend *be, const PoolGeom *g, const real *x, real *y);
void cpu_maxpool_backward(Backend *be, const PoolGeom *g, const real *x, const real *y,
                          const real *dy, real *dx);
void cpu_avgpool_forward(Backend *be, const PoolGeom *g, const real *x, real *y);

// ---- fully connected (fc.c) ----
void cpu_fc_forward(Backend *be, int batch, int in_features, int out_features, const real *x,
                    const real *w, const real *bias, real *y);
void cpu_fc_backward(Backend *be, int batch, int in_features, int out_features, const real *x,
                     const real *w, const real *dy, real *dx, real *dw, real *dbias);

// ---- loss (loss.c) ----
void cpu_softmax_cross_entropy(Backend *be, int batch, int classes, const real *logits,
                               const int32_t *labels, real *dlogits, real *loss);

// ---- optimiser (sgd.c) ----
void cpu_sgd_step(Backend *be, size_t count, real *params, const real *grads, real *momentum_buf,
                  real lr, real momentum, real weight_decay, int nesterov, int first_step);

// ---- generic tensor ops for sdinfer (tensor_ops.c) ----
void cpu_binary_broadcast(Backend *be, BinaryOp op, const TensorShape *a_shape, const real *a,
                          const TensorShape *b_shape, const real *b, const TensorShape *out_shape,
                          real *y);
void cpu_pad_constant(Backend *be, const TensorShape *in_shape, const real *x, const int64_t *pads,
                      real value, const TensorShape *out_shape, real *y);
void cpu_slice(Backend *be, const TensorShape *in_shape, const real *x, const int64_t *starts,
               const int64_t *steps, const TensorShape *out_shape, real *y);
void cpu_concat_part(Backend *be, const TensorShape *in_shape, const real *x, int axis,
                     int64_t offset, const TensorShape *out_shape, real *y);
void cpu_softmax(Backend *be, int64_t outer, int64_t inner, const real *x, real *y);
void cpu_gemm(Backend *be, int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a,
              const real *b, real beta, real *c);

#endif
