// The input pipeline: builds normalised (and, for training, augmented) batches
// into the backend's host staging memory (pinned on CUDA) on a thread of its
// own, `depth` batches ahead of the training loop, so that the device never
// waits for the host's image work.
//
// Determinism: one producer makes the batches strictly in order and draws the
// augmentation from the caller's Rng in exactly the order the loop would, so a
// run with any depth (0 included: no thread, each batch made on demand) gives
// bit-identical results and leaves the Rng in the same state after a full pass.
// A pass stopped early (loader_stop before the last batch) may have drawn a few
// batches ahead.
//
// Use:
//   loader_start(...);                       // one pass over a list of indices
//   while ((batch = loader_next(ld))) {
//       upload batch->images / labels, run the step, download a result
//       loader_release(ld);                  // only after that download/synchronize
//   }
//   loader_stop(ld);
#ifndef SD_TRAIN_LOADER_H
#define SD_TRAIN_LOADER_H

#include <pthread.h>
#include <stdint.h>

#include "../common/dataset.h"
#include "../kernels/backend.h"

#define LOADER_MAX_DEPTH 8

typedef struct {
    float *images;    // [count][c][h][w] in host staging memory
    int32_t *labels;  // [count]
    int count;        // images in this batch (the last batch of a pass may be short)
} LoaderBatch;

typedef struct {
    Backend *be;             // owns the staging memory
    int depth;               // batches made ahead; 0 = on demand in the caller's thread
    int threaded;            // this pass has a producer thread (depth > 0 and it started)
    int n_slots;             // max(depth, 1)
    int batch_max;
    size_t image_floats;     // c * h * w
    LoaderBatch slots[LOADER_MAX_DEPTH];

    // The pass being read.
    const Dataset *ds;
    const uint32_t *indices;
    int n_batches, batch_size, last_count;
    const Normalization *norm;
    int augment;
    Rng *augment_rng;

    // Ring of slots: the producer fills slot made % n_slots, the consumer reads
    // slot taken % n_slots; released counts the slots given back.
    pthread_mutex_t lock;
    pthread_cond_t changed;
    pthread_t thread;
    int made, taken, released;
    int stop;                // set by loader_stop: the producer quits at the next batch

    // Data-parallel slice (loader_set_slice): each batch of the pass is a global
    // batch of which only images [slice_first, slice_first + slice_count) are made.
    int slice_first, slice_count;          // this pass; slice_count 0 = whole batches
    int next_slice_first, next_slice_count;
} Loader;

// Staging for `depth` batches of up to batch_max images of image_floats floats each
// (depth 0..LOADER_MAX_DEPTH). Returns 0, or -1 with a message.
int loader_init(Loader *ld, Backend *be, int depth, int batch_max, size_t image_floats,
                char *err, size_t err_len);
void loader_free(Loader *ld);

// Starts a pass over indices[0..count) in batches of batch_size (<= batch_max).
// drop_last: leave out a final partial batch (training); else it comes short.
// augment_rng is used only with augment, from the producer thread: the caller
// must not touch it until loader_stop returned. Should the thread fail to start,
// the pass runs on demand (a warning on stderr; the batches are the same).
void loader_start(Loader *ld, const Dataset *ds, const uint32_t *indices, int count,
                  int batch_size, int drop_last, const Normalization *norm, int augment,
                  Rng *augment_rng);
// Makes the next pass (only) a data-parallel one: its batch_size is the global batch,
// and each batch holds that batch's images [first, first + count) (count <= batch_max).
// The augmentation of the other images is drawn and dropped, so every image gets the
// draws it would get in one process.
void loader_set_slice(Loader *ld, int first, int count);
// The next batch of the pass (waits for it), or NULL after the last.
const LoaderBatch *loader_next(Loader *ld);
// Gives the batch from the latest loader_next back for refilling.
void loader_release(Loader *ld);
// Ends the pass (early or after the last batch) and joins the producer.
void loader_stop(Loader *ld);

#endif
