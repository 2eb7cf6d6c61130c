// Recorded op sequences as CUDA graphs: stream capture on the backend's one
// stream, instantiated once, replayed with one launch. sdtrain records each
// open residual block's forward and backward (common/net_recording.c), which
// turns ~15 launches per block into 2: launch overhead is what dominates the
// small CIFAR tensors.
//
// Safety: a capture that meets an error (or an op that cannot be captured, such
// as a convolution's first call, which searches algorithms) is dropped whole,
// nothing of it ran, and the backend stays usable (cuda_record_error only flags
// st->capture_failed while capturing). A recording remembers the memory
// generation it was made in; once the workspace has moved it is stale and
// replay refuses it, so a graph never touches freed memory.
#include <stdio.h>
#include <stdlib.h>

#include "cuda_internal.h"

typedef struct {
    cudaGraphExec_t exec;
    unsigned generation;
} CudaRecording;

int cuda_record_begin(Backend *be) {
    CudaState *st = cuda_state(be);
    if (st->failed || st->capturing) return -1;
    // Thread-local mode: the loader thread's CUDA calls (none in a step, but the
    // rule should not depend on that) cannot invalidate this capture.
    if (!CUDA_OK(st, cudaStreamBeginCapture(st->stream, cudaStreamCaptureModeThreadLocal)))
        return -1;
    st->capturing = 1;
    st->capture_failed = 0;
    return 0;
}

void *cuda_record_end(Backend *be) {
    CudaState *st = cuda_state(be);
    if (!st->capturing) return NULL;
    unsigned generation = st->memory_generation;
    cudaGraph_t graph = NULL;
    cudaError_t ended = cudaStreamEndCapture(st->stream, &graph);
    st->capturing = 0;
    cudaGraphExec_t exec = NULL;
    int ok = ended == cudaSuccess && graph && !st->capture_failed;
    if (ok) {
        cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
        if (made != cudaSuccess) {
            fprintf(stderr, "cuda backend: cudaGraphInstantiate: %s\n", cudaGetErrorString(made));
            ok = 0;
        }
    } else if (ended != cudaSuccess) {
        fprintf(stderr, "cuda backend: cudaStreamEndCapture: %s\n", cudaGetErrorString(ended));
    }
    if (graph) cudaGraphDestroy(graph);
    CudaRecording *rec = ok ? (CudaRecording *)malloc(sizeof *rec) : NULL;
    if (!rec) {
        if (exec) cudaGraphExecDestroy(exec);
        cudaGetLastError();  // capture errors are not sticky: clear them, stay usable
        st->capture_failed = 0;
        return NULL;
    }
    rec->exec = exec;
    rec->generation = generation;
    return rec;
}

int cuda_replay(Backend *be, void *recording) {
    CudaState *st = cuda_state(be);
    CudaRecording *rec = (CudaRecording *)recording;
    if (!rec || rec->generation != st->memory_generation) return -1;
    if (st->failed) return 0;  // as every op after a failure: a no-op
    CUDA_OK(st, cudaGraphLaunch(rec->exec, st->stream));
    return 0;
}

void cuda_recording_free(Backend *be, void *recording) {
    (void)be;
    CudaRecording *rec = (CudaRecording *)recording;
    if (!rec) return;
    cudaGraphExecDestroy(rec->exec);  // safe while a launch is in flight (CUDA defers it)
    free(rec);
}
