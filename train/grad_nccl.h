// Gradient averaging on the GPUs with NCCL (the CUDA build; train/grad_sync.h decides
// which segments go, this file how): each open segment of the flat gradient buffer
// is averaged in place in device memory by ncclAllReduce with ncclAvg (the sum over
// the ranks times 1/N), grouped per bucket (ncclGroupStart/End: one launch).
//
// Streams: without overlap the sums are queued on the backend's stream after the
// whole backward pass, so the SGD step that follows sees them. With overlap they go
// to a second stream: before each bucket an event recorded on the backend's stream
// (the backward so far) is waited for there, so a block's sum starts once its
// backward is done while the next block's backward runs; after the last bucket the
// backend's stream waits for the second one.
#ifndef SD_TRAIN_GRAD_NCCL_H
#define SD_TRAIN_GRAD_NCCL_H

#include <stddef.h>

#include "../kernels/backend.h"
#include "dist.h"
#include "grad_sync.h"
#include "nccl_comm.h"

struct GradNccl {
    NcclComm comm;
    Dist *dist;
    void *stream;         // the backend's (cudaStream_t)
    void *side_stream;    // overlap only: the sums started during backward
    void *backward_done;  // cudaEvent_t: the backend's stream reached this point
    void *sums_done;      // cudaEvent_t: the side stream's sums so far
    int overlap;
};

// Every rank calls it (collective), after the backend picked its GPU. Returns 0 with
// NCCL joined on every rank, or -1 on every rank with why (nothing left open).
// Without CUDA built in: -1, "this sdtrain was built without CUDA".
int grad_nccl_init(GradNccl *g, Backend *be, Dist *d, const char *explicit_path, int overlap,
                   char *why, size_t why_len);
void grad_nccl_free(GradNccl *g);
// Queues the average of segments order[first..last) of grads (device memory). A
// failed call ends the run (every rank) with a message.
void grad_nccl_average(GradNccl *g, real *grads, const GradSegment *segments, const int *order,
                       int first, int last);
// After the last bucket of a step: the backend's stream waits for the sums. The
// watchdog stays armed until the next collective: a rank that hangs shows as a
// reduction that never ends (the step's next synchronisation waits for it).
void grad_nccl_finish_step(GradNccl *g);

#endif
