// Block-wise gradient averaging (train/grad_sync.h).
#include "grad_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The block whose gate decides whether a parameter tensor gets a gradient, or -1.
static int gated_block(const char *name) {
    int block, used = 0;
    if (sscanf(name, "blocks.%d.%n", &block, &used) != 1 || used == 0) return -1;
    return strncmp(name + used, "shortcut.", 9) == 0 ? -1 : block;
}

int grad_sync_init(GradSync *gs, const Net *net, char *err, size_t err_len) {
    memset(gs, 0, sizeof *gs);
    gs->segments = malloc((size_t)(net->n_tensors + 1) * sizeof *gs->segments);
    gs->host = malloc((net->n_params ? net->n_params : 1) * sizeof(real));
    if (!gs->segments || !gs->host) {
        grad_sync_free(gs);
        snprintf(err, err_len, "out of host memory for the gradient exchange");
        return -1;
    }
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
    free(gs->host);
    memset(gs, 0, sizeof *gs);
}

static int segment_open(const GradSegment *s, const uint8_t *gates) {
    return s->block < 0 || gates == NULL || gates[s->block];
}

void grad_sync_average(GradSync *gs, Dist *d, Net *net, const uint8_t *gates) {
    Backend *be = net->be;
    size_t packed = 0;
    for (int i = 0; i < gs->n_segments; i++) {
        const GradSegment *s = &gs->segments[i];
        if (!segment_open(s, gates)) continue;
        if (d->size > 1)
            be->download(be, gs->host + packed, net->grads + s->offset, s->count * sizeof(real));
        packed += s->count;
    }
    gs->steps++;
    gs->elements_sent += (long long)packed;
    d->bytes_reduced += (long long)(packed * sizeof(real));
    if (d->size == 1) return;
    dist_sum_reals(d, gs->host, packed);
    const real scale = (real)1 / (real)d->size;
    for (size_t i = 0; i < packed; i++) gs->host[i] *= scale;
    packed = 0;
    for (int i = 0; i < gs->n_segments; i++) {
        const GradSegment *s = &gs->segments[i];
        if (!segment_open(s, gates)) continue;
        be->upload(be, net->grads + s->offset, gs->host + packed, s->count * sizeof(real));
        packed += s->count;
    }
}
