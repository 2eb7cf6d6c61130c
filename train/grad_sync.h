// Gradient averaging over the ranks of a data-parallel run, block by block.
//
// The flat gradient buffer is cut into segments: one per residual block's branch
// (its convolutions and BN parameters), which is sent only in steps where the
// block's gate is open, and the rest (stem, projection shortcuts, which run even
// in a closed block, the fully connected layer), sent every step. Every rank has
// the same gates, so a closed block's gradient is zero everywhere and leaving it
// out changes nothing: with stochastic depth each step sends about E[L~]/L of
// what constant depth sends.
//
// The open segments are packed into one host buffer (downloaded from the device:
// a copy on the CPU, the host-staged path on CUDA), summed over the ranks, scaled
// by 1/ranks and written back, so every rank then applies the same SGD step to the
// same parameters. Without overlap that is one all-reduce after backward. With
// overlap (bucket_elements > 0), each block's segments are packed as soon as its
// backward is done (Net.block_backward_done) and every full bucket starts a
// nonblocking all-reduce while backward goes on; the rest (stem, projections,
// classifier, the last bucket) follows after backward. The sums are element-wise,
// so the result is the same whatever the buckets.
//
// On GPUs with NCCL (device_sums set, train/grad_nccl.h) nothing is packed: the
// same buckets of open segments are averaged in place in device memory.
#ifndef SD_TRAIN_GRAD_SYNC_H
#define SD_TRAIN_GRAD_SYNC_H

#include <stdint.h>

#include "../common/net.h"
#include "dist.h"

typedef struct {
    size_t offset, count;  // into net->grads
    int block;             // -1: sent every step; else only while block `block` is open
} GradSegment;

typedef struct GradNccl GradNccl;

typedef struct {
    GradSegment *segments;
    int n_segments;
    real *host;                 // packing buffer, n_params elements
    size_t all_elements;        // what a step with every block open sends
    long long steps;            // averaged steps so far
    long long elements_sent;    // summed over those steps
    size_t bucket_elements;     // overlap: start a sum every this many packed; 0 = no overlap
    long long early_sums;       // sums started while backward went on, over those steps
    GradNccl *device_sums;      // NULL: host-staged MPI sums; else NCCL on the device

    // The step in progress.
    Dist *dist;
    Net *net;
    const uint8_t *gates;
    int *packed_segments;       // segment indices in packing order
    uint8_t *is_packed;         // per segment
    int n_packed;
    size_t packed, bucket_start;  // elements packed; start of the bucket not yet sent
    int bucket_first;           // packed_segments index of that bucket's first segment
} GradSync;

// Segments from net's tensor names ("blocks.L." and not "blocks.L.shortcut.": block L).
// bucket_elements > 0: overlap the exchange with backward, in buckets of that size.
int grad_sync_init(GradSync *gs, const Net *net, size_t bucket_elements, char *err,
                   size_t err_len);
void grad_sync_free(GradSync *gs);
// Before net_backward: the step's gates (NULL = all open); with overlap, hooks into net.
void grad_sync_begin(GradSync *gs, Dist *d, Net *net, const uint8_t *gates);
// After net_backward: net->grads := their mean over the ranks, sending the open
// blocks' segments only; unhooks.
void grad_sync_finish(GradSync *gs);

#endif
