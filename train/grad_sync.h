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
// a copy on the CPU, the host-staged path on CUDA), summed over the ranks in one
// all-reduce, scaled by 1/ranks and written back, so every rank then applies the
// same SGD step to the same parameters.
#ifndef SD_TRAIN_GRAD_SYNC_H
#define SD_TRAIN_GRAD_SYNC_H

#include <stdint.h>

#include "../common/net.h"
#include "dist.h"

typedef struct {
    size_t offset, count;  // into net->grads
    int block;             // -1: sent every step; else only while block `block` is open
} GradSegment;

typedef struct {
    GradSegment *segments;
    int n_segments;
    real *host;                 // packing buffer, n_params elements
    size_t all_elements;        // what a step with every block open sends
    long long steps;            // averaged steps so far
    long long elements_sent;    // summed over those steps
} GradSync;

// Segments from net's tensor names ("blocks.L." and not "blocks.L.shortcut.": block L).
int grad_sync_init(GradSync *gs, const Net *net, char *err, size_t err_len);
void grad_sync_free(GradSync *gs);
// net->grads := their mean over the ranks, sending the open blocks' segments only.
void grad_sync_average(GradSync *gs, Dist *d, Net *net, const uint8_t *gates);

#endif
