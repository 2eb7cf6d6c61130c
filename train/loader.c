// The input pipeline's producer thread and its ring of staging slots.
#include "loader.h"

#include <stdio.h>
#include <string.h>

int loader_init(Loader *ld, Backend *be, int depth, int batch_max, size_t image_floats,
                char *err, size_t err_len) {
    memset(ld, 0, sizeof *ld);
    if (depth < 0 || depth > LOADER_MAX_DEPTH) {
        snprintf(err, err_len, "prefetch depth %d is outside 0..%d", depth, LOADER_MAX_DEPTH);
        return -1;
    }
    ld->be = be;
    pthread_mutex_init(&ld->lock, NULL);
    pthread_cond_init(&ld->changed, NULL);
    ld->depth = depth;
    ld->n_slots = depth > 0 ? depth : 1;
    ld->batch_max = batch_max;
    ld->image_floats = image_floats;
    for (int s = 0; s < ld->n_slots; s++) {
        LoaderBatch *slot = &ld->slots[s];
        slot->images = be->alloc_host(be, (size_t)batch_max * image_floats * sizeof(float));
        slot->labels = be->alloc_host(be, (size_t)batch_max * sizeof(int32_t));
        if (!slot->images || !slot->labels) {
            snprintf(err, err_len, "out of host staging memory for %d batches of %d images",
                     ld->n_slots, batch_max);
            loader_free(ld);
            return -1;
        }
    }
    return 0;
}

void loader_free(Loader *ld) {
    if (!ld->be) return;
    loader_stop(ld);
    for (int s = 0; s < ld->n_slots; s++) {
        ld->be->release_host(ld->be, ld->slots[s].images);
        ld->be->release_host(ld->be, ld->slots[s].labels);
    }
    pthread_mutex_destroy(&ld->lock);
    pthread_cond_destroy(&ld->changed);
    memset(ld, 0, sizeof *ld);
}

static int batch_count(const Loader *ld, int b) {
    return b == ld->n_batches - 1 ? ld->last_count : ld->batch_size;
}

// Batch b of the pass into its slot. Only one thread fills at a time, in order.
static void fill_slot(Loader *ld, int b) {
    LoaderBatch *slot = &ld->slots[b % ld->n_slots];
    const uint32_t *first = ld->indices + (size_t)b * ld->batch_size;
    if (ld->slice_count > 0) {  // a data-parallel pass: whole global batches only
        int after = ld->batch_size - ld->slice_first - ld->slice_count;
        if (ld->augment) dataset_skip_augment(ld->augment_rng, ld->slice_first);
        slot->count = ld->slice_count;
        dataset_make_batch(ld->ds, first + ld->slice_first, slot->count, ld->norm, ld->augment,
                           ld->augment_rng, slot->images, slot->labels);
        if (ld->augment) dataset_skip_augment(ld->augment_rng, after);
        return;
    }
    slot->count = batch_count(ld, b);
    dataset_make_batch(ld->ds, first, slot->count, ld->norm, ld->augment, ld->augment_rng,
                       slot->images, slot->labels);
}

void loader_set_slice(Loader *ld, int first, int count) {
    ld->next_slice_first = first;
    ld->next_slice_count = count;
}

static void *producer_main(void *arg) {
    Loader *ld = arg;
    for (int b = 0; b < ld->n_batches; b++) {
        pthread_mutex_lock(&ld->lock);
        while (ld->made - ld->released >= ld->n_slots && !ld->stop)
            pthread_cond_wait(&ld->changed, &ld->lock);
        int stop = ld->stop;
        pthread_mutex_unlock(&ld->lock);
        if (stop) break;
        fill_slot(ld, b);  // the slot is the producer's alone until `made` covers it
        pthread_mutex_lock(&ld->lock);
        ld->made++;
        pthread_cond_broadcast(&ld->changed);
        pthread_mutex_unlock(&ld->lock);
    }
    return NULL;
}

void loader_start(Loader *ld, const Dataset *ds, const uint32_t *indices, int count,
                  int batch_size, int drop_last, const Normalization *norm, int augment,
                  Rng *augment_rng) {
    loader_stop(ld);
    ld->slice_first = ld->next_slice_first;
    ld->slice_count = ld->next_slice_count;
    ld->next_slice_first = ld->next_slice_count = 0;
    if (ld->slice_count > 0) {  // batch_size is the global batch; the slots hold the slice
        if (ld->slice_count > ld->batch_max) ld->slice_count = ld->batch_max;
        if (ld->slice_first + ld->slice_count > batch_size) ld->slice_count = 0;
        drop_last = 1;
    }
    if (ld->slice_count == 0 && batch_size > ld->batch_max) batch_size = ld->batch_max;
    ld->ds = ds;
    ld->indices = indices;
    ld->batch_size = batch_size;
    ld->n_batches = drop_last ? count / batch_size : (count + batch_size - 1) / batch_size;
    ld->last_count = drop_last || count % batch_size == 0 ? batch_size : count % batch_size;
    ld->norm = norm;
    ld->augment = augment;
    ld->augment_rng = augment_rng;
    ld->made = ld->taken = ld->released = 0;
    ld->stop = 0;
    ld->threaded = 0;
    if (ld->depth == 0 || ld->n_batches == 0) return;
    if (pthread_create(&ld->thread, NULL, producer_main, ld) != 0) {
        fprintf(stderr, "sdtrain: warning: no loader thread; making batches on demand\n");
        return;
    }
    ld->threaded = 1;
}

const LoaderBatch *loader_next(Loader *ld) {
    if (ld->taken >= ld->n_batches) return NULL;
    int b = ld->taken++;
    if (!ld->threaded) {
        fill_slot(ld, b);
        return &ld->slots[b % ld->n_slots];
    }
    pthread_mutex_lock(&ld->lock);
    while (ld->made <= b) pthread_cond_wait(&ld->changed, &ld->lock);
    pthread_mutex_unlock(&ld->lock);
    return &ld->slots[b % ld->n_slots];
}

void loader_release(Loader *ld) {
    if (!ld->threaded) {
        ld->released++;
        return;
    }
    pthread_mutex_lock(&ld->lock);
    ld->released++;
    pthread_cond_broadcast(&ld->changed);
    pthread_mutex_unlock(&ld->lock);
}

void loader_stop(Loader *ld) {
    if (ld->threaded) {
        pthread_mutex_lock(&ld->lock);
        ld->stop = 1;
        pthread_cond_broadcast(&ld->changed);
        pthread_mutex_unlock(&ld->lock);
        pthread_join(ld->thread, NULL);
        ld->threaded = 0;
    }
    ld->n_batches = ld->taken = 0;
}
