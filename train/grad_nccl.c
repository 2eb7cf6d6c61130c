// NCCL's gradient averaging on the backend's stream or a second one (train/grad_nccl.h).
#include "grad_nccl.h"

#include <stdio.h>
#include <string.h>

#ifdef SD_WITH_CUDA
#include <cuda_runtime_api.h>

#include "../kernels/cuda/backend_cuda.h"

// A failed CUDA call while setting up: why names it; 0 when it succeeded.
static int cuda_fails(cudaError_t status, const char *call, char *why, size_t why_len) {
    if (status == cudaSuccess) return 0;
    snprintf(why, why_len, "%s: %s", call, cudaGetErrorString(status));
    return 1;
}

static int make_streams(GradNccl *g, char *why, size_t why_len) {
    cudaStream_t side;
    cudaEvent_t done, sums;
    if (cuda_fails(cudaStreamCreateWithFlags(&side, cudaStreamNonBlocking),
                   "cudaStreamCreateWithFlags", why, why_len))
        return -1;
    g->side_stream = side;
    if (cuda_fails(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreate",
                   why, why_len))
        return -1;
    g->backward_done = done;
    if (cuda_fails(cudaEventCreateWithFlags(&sums, cudaEventDisableTiming), "cudaEventCreate",
                   why, why_len))
        return -1;
    g->sums_done = sums;
    return 0;
}

int grad_nccl_init(GradNccl *g, Backend *be, Dist *d, const char *explicit_path, int overlap,
                   char *why, size_t why_len) {
    memset(g, 0, sizeof *g);
    g->dist = d;
    g->overlap = overlap;
    g->stream = backend_cuda_stream(be);
    // Settle the device before NCCL looks at it (the backend made it current).
    be->synchronize(be);
    if (nccl_comm_create(&g->comm, d, explicit_path, why, why_len) != 0) return -1;
    // Each rank's own CUDA failure is agreed on like NCCL's, so none sums alone.
    int ok = !overlap || make_streams(g, why, why_len) == 0;
    if (dist_all_equal(d, (uint64_t)ok) && ok) return 0;
    if (ok) snprintf(why, why_len, "another rank could not create its CUDA stream");
    grad_nccl_free(g);
    return -1;
}

void grad_nccl_free(GradNccl *g) {
    nccl_comm_free(&g->comm);
    if (g->side_stream) cudaStreamDestroy((cudaStream_t)g->side_stream);
    if (g->backward_done) cudaEventDestroy((cudaEvent_t)g->backward_done);
    if (g->sums_done) cudaEventDestroy((cudaEvent_t)g->sums_done);
    memset(g, 0, sizeof *g);
}

// The run cannot go on with gradients that differ between ranks: end every rank.
static void fail(GradNccl *g, const char *call, const char *reason) {
    fprintf(stderr, "sdtrain: rank %d: %s failed: %s\n", g->dist->rank, call, reason);
    dist_abort(g->dist);
}

static void check_cuda(GradNccl *g, cudaError_t status, const char *call) {
    if (status != cudaSuccess) fail(g, call, cudaGetErrorString(status));
}

static void check_nccl(GradNccl *g, int result, const char *call) {
    if (result != NCCL_RESULT_SUCCESS) fail(g, call, g->comm.api.error_string(result));
}

// The stream the bucket's sums go to; with overlap, after the backward queued so far.
static cudaStream_t sum_stream(GradNccl *g) {
    if (!g->overlap) return (cudaStream_t)g->stream;
    check_cuda(g, cudaEventRecord((cudaEvent_t)g->backward_done, (cudaStream_t)g->stream),
               "cudaEventRecord");
    check_cuda(g, cudaStreamWaitEvent((cudaStream_t)g->side_stream,
                                      (cudaEvent_t)g->backward_done, 0),
               "cudaStreamWaitEvent");
    return (cudaStream_t)g->side_stream;
}

void grad_nccl_average(GradNccl *g, real *grads, const GradSegment *segments, const int *order,
                       int first, int last) {
    if (first >= last) return;
    const NcclApi *api = &g->comm.api;
    cudaStream_t stream = sum_stream(g);
    dist_watch(g->dist, "an NCCL reduction");
    check_nccl(g, api->group_start(), "ncclGroupStart");
    for (int k = first; k < last; k++) {
        const GradSegment *s = &segments[order[k]];
        real *values = grads + s->offset;
        check_nccl(g, api->all_reduce(values, values, s->count, NCCL_TYPE_FLOAT32, NCCL_OP_AVG,
                                      g->comm.comm, stream),
                   "ncclAllReduce");
    }
    check_nccl(g, api->group_end(), "ncclGroupEnd");
}

void grad_nccl_finish_step(GradNccl *g) {
    if (!g->overlap) return;
    check_cuda(g, cudaEventRecord((cudaEvent_t)g->sums_done, (cudaStream_t)g->side_stream),
               "cudaEventRecord");
    check_cuda(g, cudaStreamWaitEvent((cudaStream_t)g->stream, (cudaEvent_t)g->sums_done, 0),
               "cudaStreamWaitEvent");
}

#else  // no CUDA: nothing to sum on a device

int grad_nccl_init(GradNccl *g, Backend *be, Dist *d, const char *explicit_path, int overlap,
                   char *why, size_t why_len) {
    (void)be, (void)d, (void)explicit_path, (void)overlap;
    memset(g, 0, sizeof *g);
    snprintf(why, why_len, "this sdtrain was built without CUDA");
    return -1;
}

void grad_nccl_free(GradNccl *g) { memset(g, 0, sizeof *g); }

void grad_nccl_average(GradNccl *g, real *grads, const GradSegment *segments, const int *order,
                       int first, int last) {
    (void)g, (void)grads, (void)segments, (void)order, (void)first, (void)last;
}

void grad_nccl_finish_step(GradNccl *g) { (void)g; }

#endif
