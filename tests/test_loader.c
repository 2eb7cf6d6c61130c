// The input pipeline (train/loader.c): for every prefetch depth it must hand out
// exactly the batches that dataset_make_batch makes when called in order on the
// training thread (same images, labels and augmentation draws, short last batch
// or none), leave the augmentation Rng in the same state, never overwrite a
// batch the consumer still holds, and stop cleanly in the middle of a pass.
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../train/loader.h"
#include "harness.h"

enum { IMAGES = 37, CHANNELS = 3, SIDE = 8, CLASSES = 10, BATCH = 5 };

static void make_dataset(Dataset *ds, uint8_t *pixels, int32_t *labels) {
    memset(ds, 0, sizeof *ds);
    ds->count = IMAGES;
    ds->channels = CHANNELS;
    ds->height = ds->width = SIDE;
    ds->classes = CLASSES;
    ds->pixels = pixels;
    ds->labels = labels;
    for (size_t i = 0; i < (size_t)IMAGES * CHANNELS * SIDE * SIDE; i++)
        pixels[i] = (uint8_t)((i * 2654435761u) >> 13);
    for (int i = 0; i < IMAGES; i++) labels[i] = (i * 7) % CLASSES;
}

static void pause_briefly(void) {  // lets a producer thread run ahead, if it would
    struct timespec wait = {0, 2 * 1000 * 1000};
    nanosleep(&wait, NULL);
}

// One pass through the loader against the serial reference.
static void check_pass(TestContext *t, Backend *be, int depth, int drop_last, int augment,
                       int stop_after) {
    uint8_t pixels[IMAGES * CHANNELS * SIDE * SIDE];
    int32_t labels[IMAGES];
    Dataset ds;
    make_dataset(&ds, pixels, labels);
    uint32_t order[IMAGES];
    for (int i = 0; i < IMAGES; i++) order[i] = (uint32_t)((i * 11 + 3) % IMAGES);
    Normalization norm = {CHANNELS, {0.5f, 0.4f, 0.3f}, {0.25f, 0.2f, 0.3f}};
    Rng loader_rng, reference_rng;
    rng_seed(&loader_rng, 99, RNG_STREAM_AUGMENT);
    reference_rng = loader_rng;

    size_t image = (size_t)CHANNELS * SIDE * SIDE;
    float want_images[BATCH * CHANNELS * SIDE * SIDE];
    int32_t want_labels[BATCH];
    Loader ld;
    char err[256];
    if (loader_init(&ld, be, depth, BATCH, image, err, sizeof err) != 0) {
        CHECK(t, 0, "loader_init(depth %d): %s", depth, err);
        return;
    }
    loader_start(&ld, &ds, order, IMAGES, BATCH, drop_last, &norm, augment, &loader_rng);
    int full = IMAGES / BATCH, want_batches = drop_last ? full : full + 1;
    int got_batches = 0, mismatches = 0;
    const LoaderBatch *lb;
    while ((lb = loader_next(&ld))) {
        int b = got_batches++;
        int want_count = b < full ? BATCH : IMAGES % BATCH;
        CHECK(t, lb->count == want_count, "depth %d batch %d: %d images, want %d", depth, b,
              lb->count, want_count);
        dataset_make_batch(&ds, order + (size_t)b * BATCH, want_count, &norm, augment,
                           &reference_rng, want_images, want_labels);
        pause_briefly();  // a producer that wrote into a held slot would show now
        if (memcmp(lb->images, want_images, (size_t)want_count * image * sizeof(float)) != 0 ||
            memcmp(lb->labels, want_labels, (size_t)want_count * sizeof(int32_t)) != 0)
            mismatches++;
        loader_release(&ld);
        if (stop_after && got_batches == stop_after) break;
    }
    loader_stop(&ld);
    CHECK(t, mismatches == 0, "depth %d drop_last %d augment %d: %d batches differ from the "
          "serial reference", depth, drop_last, augment, mismatches);
    if (stop_after) {
        CHECK(t, got_batches == stop_after, "depth %d: stopped after %d batches, want %d", depth,
              got_batches, stop_after);
        CHECK(t, loader_next(&ld) == NULL, "depth %d: a stopped pass hands out nothing", depth);
    } else {
        CHECK(t, got_batches == want_batches, "depth %d drop_last %d: %d batches, want %d",
              depth, drop_last, got_batches, want_batches);
        CHECK(t, memcmp(&loader_rng, &reference_rng, sizeof loader_rng) == 0,
              "depth %d augment %d: the augmentation Rng differs after a full pass", depth,
              augment);
    }
    // A second pass on the same loader starts from the beginning again.
    loader_start(&ld, &ds, order, BATCH, BATCH, 1, &norm, 0, NULL);
    lb = loader_next(&ld);
    CHECK(t, lb && lb->count == BATCH && lb->labels[0] == labels[order[0]],
          "depth %d: a new pass starts at its first index", depth);
    if (lb) loader_release(&ld);
    CHECK(t, loader_next(&ld) == NULL, "depth %d: a one-batch pass ends after one", depth);
    loader_free(&ld);
}

// A data-parallel pass (loader_set_slice): rank r of `ranks` gets images
// [r*B, (r+1)*B) of each global batch of ranks*B, with the augmentation those
// images get in a one-process pass of global batches, and the Rng ends where that
// pass leaves it: global batch b is the same whatever the number of ranks.
static void check_slices(TestContext *t, Backend *be, int depth, int ranks) {
    uint8_t pixels[IMAGES * CHANNELS * SIDE * SIDE];
    int32_t labels[IMAGES];
    Dataset ds;
    make_dataset(&ds, pixels, labels);
    uint32_t order[IMAGES];
    for (int i = 0; i < IMAGES; i++) order[i] = (uint32_t)((i * 11 + 3) % IMAGES);
    Normalization norm = {CHANNELS, {0.5f, 0.4f, 0.3f}, {0.25f, 0.2f, 0.3f}};
    size_t image = (size_t)CHANNELS * SIDE * SIDE;
    int per_rank = 2, global = ranks * per_rank, n_batches = IMAGES / global;
    float want_images[IMAGES * CHANNELS * SIDE * SIDE];
    int32_t want_labels[IMAGES];
    for (int rank = 0; rank < ranks; rank++) {
        Rng loader_rng, reference_rng;
        rng_seed(&loader_rng, 5, RNG_STREAM_AUGMENT);
        reference_rng = loader_rng;
        Loader ld;
        char err[256];
        if (loader_init(&ld, be, depth, per_rank, image, err, sizeof err) != 0) {
            CHECK(t, 0, "loader_init: %s", err);
            return;
        }
        loader_set_slice(&ld, rank * per_rank, per_rank);
        loader_start(&ld, &ds, order, n_batches * global, global, 1, &norm, 1, &loader_rng);
        int got = 0, mismatches = 0;
        const LoaderBatch *lb;
        while ((lb = loader_next(&ld))) {
            dataset_make_batch(&ds, order + (size_t)got * global, global, &norm, 1,
                               &reference_rng, want_images, want_labels);
            size_t first = (size_t)rank * per_rank;
            if (lb->count != per_rank ||
                memcmp(lb->images, want_images + first * image,
                       (size_t)per_rank * image * sizeof(float)) != 0 ||
                memcmp(lb->labels, want_labels + first, (size_t)per_rank * sizeof(int32_t)) != 0)
                mismatches++;
            got++;
            loader_release(&ld);
        }
        loader_stop(&ld);
        CHECK(t, got == n_batches && mismatches == 0,
              "depth %d rank %d of %d: %d batches (want %d), %d differ from the global batch's "
              "slice", depth, rank, ranks, got, n_batches, mismatches);
        CHECK(t, memcmp(&loader_rng, &reference_rng, sizeof loader_rng) == 0,
              "depth %d rank %d of %d: the augmentation Rng differs after the pass", depth, rank,
              ranks);
        loader_free(&ld);
    }
}

int main(void) {
    TestContext t = {"loader", 0, 0, 0};
    char err[256];
    Backend *be = backend_cpu_create(1, err, sizeof err);
    if (!be) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int depths[] = {0, 1, 2, 3, LOADER_MAX_DEPTH};
    for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++) {
        for (int drop_last = 0; drop_last <= 1; drop_last++)
            for (int augment = 0; augment <= 1; augment++)
                check_pass(&t, be, depths[i], drop_last, augment, 0);
        check_pass(&t, be, depths[i], 1, 1, 2);  // stopped while the producer is ahead
    }
    for (int ranks = 2; ranks <= 3; ranks++) {
        check_slices(&t, be, 0, ranks);
        check_slices(&t, be, 2, ranks);
    }
    Loader ld;
    CHECK(&t, loader_init(&ld, be, LOADER_MAX_DEPTH + 1, BATCH, 4, err, sizeof err) != 0 &&
                  strstr(err, "prefetch depth") != NULL,
          "a depth over the maximum is refused with a message (got '%s')", err);
    be->destroy(be);
    return test_finish(&t);
}
