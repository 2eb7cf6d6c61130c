// Block-wise gradient averaging, optionally overlapped with backward (train/grad_sync.h).
#include "grad_sync.h"

#include "grad_nccl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The block whose gate decides whether a parameter tensor gets a gradient, or -1.
static int gated_block(const char *name) {
    int block, used = 0;
    if (sscanf(name, "blocks.%d.%n", &block, &used) != 1 || used == 0) return -1;
    return strncmp(name + used, "shortcut.", 9) == 0 ? -1 : block;
}

int grad_sync_init(GradSync *gs, const Net *net, size_t bucket_elements, char *err,
                   size_t err_len) {
    memset(gs, 0, sizeof *gs);
    size_t slots = (size_t)net->n_tensors + 1;
    gs->segments = malloc(slots * sizeof *gs->segments);
    gs->packed_segments = malloc(slots * sizeof *gs->packed_segments);
    gs->is_packed = malloc(slots);
    gs->host = malloc((net->n_params ? net->n_params : 1) * sizeof(real));
    if (!gs->segments || !gs->packed_segments || !gs->is_packed || !gs->host) {
        grad_sync_free(gs);
        snprintf(err, err_len, "out of host memory for the gradient exchange");
        return -1;
    }
    gs->bucket_elements = bucket_elements;
    for (int i = 0; i < net->n_tensors; i++) {
        const NetTensor *t = &net->tensors[i];
        if (t->store != TENSOR_PARAM) continue;
        int block = gated_block(t->name);
        GradSegment *last = gs->n_segments ? &gs->segments[gs->n_segments - 1] : NULL;
        if (last && last->block == block && last->offset + last->count == t->offset) {
            last->count += t->count;  // fewer, longer copies
        } else {
            gs->segments[gs->n_segments++] = (GradSegment){t->offset, t->count, block};
        }
        gs->all_elements += t->count;
    }
    return 0;
}

void grad_sync_free(GradSync *gs) {
    free(gs->segments);
    free(gs->packed_segments);
    free(gs->is_packed);
    free(gs->host);
    memset(gs, 0, sizeof *gs);
}

static int segment_open(const GradSegment *s, const uint8_t *gates) {
    return s->block < 0 || gates == NULL || gates[s->block];
}

// Appends segment i to the packing buffer (a copy only when there is a peer and the
// sums are host-staged; NCCL sums the segment where it is).
static void pack(GradSync *gs, int i) {
    const GradSegment *s = &gs->segments[i];
    if (gs->dist->size > 1 && !gs->device_sums)
        gs->net->be->download(gs->net->be, gs->host + gs->packed, gs->net->grads + s->offset,
                              s->count * sizeof(real));
    gs->is_packed[i] = 1;
    gs->packed_segments[gs->n_packed++] = i;
    gs->packed += s->count;
}

// Sums host[bucket_start, packed) over the ranks: started now, finished by the wait.
// With NCCL: averages the bucket's segments where they are, queued on the device.
static void send_bucket(GradSync *gs) {
    size_t count = gs->packed - gs->bucket_start;
    if (count == 0 || gs->dist->size == 1) return;
    if (gs->device_sums) {
        grad_nccl_average(gs->device_sums, gs->net->grads, gs->segments, gs->packed_segments,
                          gs->bucket_first, gs->n_packed);
        gs->bucket_first = gs->n_packed;
        gs->bucket_start = gs->packed;
        return;
    }
    real *values = gs->host + gs->bucket_start;
    if (dist_sum_start(gs->dist, values, count) != 0) dist_sum_reals(gs->dist, values, count);
    gs->bucket_start = gs->packed;
}

static void block_done(void *ctx, int block) {
    GradSync *gs = ctx;
    if (gs->gates && !gs->gates[block]) return;  // closed: nothing to send
    for (int i = 0; i < gs->n_segments; i++)
        if (gs->segments[i].block == block && !gs->is_packed[i]) pack(gs, i);
    if (gs->packed - gs->bucket_start >= gs->bucket_elements) {
        send_bucket(gs);
        gs->early_sums++;
    }
    dist_progress(gs->dist);
}

void grad_sync_begin(GradSync *gs, Dist *d, Net *net, const uint8_t *gates) {
    gs->dist = d;
    gs->net = net;
    gs->gates = gates;
    gs->n_packed = 0;
    gs->packed = gs->bucket_start = 0;
    gs->bucket_first = 0;
    memset(gs->is_packed, 0, (size_t)gs->n_segments);
    if (gs->bucket_elements > 0 && d->size > 1) {
        net->block_backward_done = block_done;
        net->block_backward_ctx = gs;
    }
}

void grad_sync_finish(GradSync *gs) {
    Dist *d = gs->dist;
    Net *net = gs->net;
    net->block_backward_done = NULL;
    for (int i = 0; i < gs->n_segments; i++)
        if (!gs->is_packed[i] && segment_open(&gs->segments[i], gs->gates)) pack(gs, i);
    gs->steps++;
    gs->elements_sent += (long long)gs->packed;
    d->bytes_reduced += (long long)(gs->packed * sizeof(real));
    if (d->size == 1) return;
    send_bucket(gs);
    if (gs->device_sums) {  // averaged (ncclAvg) in place, queued before the SGD step
        grad_nccl_finish_step(gs->device_sums);
        return;
    }
    dist_wait_sums(d);
    const real scale = (real)1 / (real)d->size;
    for (size_t i = 0; i < gs->packed; i++) gs->host[i] *= scale;
    size_t at = 0;
    for (int k = 0; k < gs->n_packed; k++) {
        const GradSegment *s = &gs->segments[gs->packed_segments[k]];
        net->be->upload(net->be, net->grads + s->offset, gs->host + at, s->count * sizeof(real));
        at += s->count;
    }
}
