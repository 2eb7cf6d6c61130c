// Seeded train/validation splits. Both use selection sampling (Knuth's Algorithm S):
// walk the indices once, and put each into the validation set with probability
// (still needed) / (still left to look at). Every subset of the wanted size is equally
// likely and no scratch memory is needed. The validation list stays in increasing
// order; the training list is then shuffled, so that any prefix of it is a random
// subset (a trainer may cap the training set by taking the first N).
#include <stdlib.h>

#include "dataset.h"

// Whether the next of `left` candidates is picked when `needed` of them are still wanted.
static int pick_next(Rng *rng, uint64_t left, uint64_t needed) {
    if (needed == 0) return 0;
    if (needed >= left) return 1;  // no draw needed: keeps short splits cheap
    return rng_below(rng, left) < needed;
}

void dataset_split_random(Rng *rng, int count, int val_count, uint32_t *train_idx,
                          uint32_t *val_idx) {
    if (count < 0) count = 0;
    if (val_count < 0) val_count = 0;
    if (val_count > count) val_count = count;
    int needed = val_count, train_written = 0, val_written = 0;
    for (int i = 0; i < count; i++) {
        if (pick_next(rng, (uint64_t)(count - i), (uint64_t)needed)) {
            val_idx[val_written++] = (uint32_t)i;
            needed--;
        } else {
            train_idx[train_written++] = (uint32_t)i;
        }
    }
    rng_shuffle_u32(rng, train_idx, (uint32_t)train_written);
}

int dataset_split_per_class_range(Rng *rng, const Dataset *ds, int first, int count,
                                  int per_class, uint32_t *train_idx, int *train_count,
                                  uint32_t *val_idx) {
    if (first < 0 || count < 0 || first > ds->count || count > ds->count - first ||
        per_class < 0 || ds->classes <= 0)
        return -1;
    int *left = calloc((size_t)ds->classes, sizeof *left);
    if (!left) return -1;
    for (int i = first; i < first + count; i++) {
        int32_t label = ds->labels[i];
        if (label < 0 || label >= ds->classes) {
            free(left);
            return -1;
        }
        left[label]++;
    }
    for (int c = 0; c < ds->classes; c++) {
        if (left[c] < per_class) {
            free(left);
            return -1;
        }
    }
    // needed[c] = per_class - (picked so far in class c); kept as picked counts.
    int *picked = calloc((size_t)ds->classes, sizeof *picked);
    if (!picked) {
        free(left);
        return -1;
    }
    int train_written = 0, val_written = 0;
    for (int i = first; i < first + count; i++) {
        int32_t label = ds->labels[i];
        if (pick_next(rng, (uint64_t)left[label], (uint64_t)(per_class - picked[label]))) {
            val_idx[val_written++] = (uint32_t)i;
            picked[label]++;
        } else {
            train_idx[train_written++] = (uint32_t)i;
        }
        left[label]--;
    }
    free(left);
    free(picked);
    rng_shuffle_u32(rng, train_idx, (uint32_t)train_written);
    *train_count = train_written;
    return val_written;
}

int dataset_split_per_class(Rng *rng, const Dataset *ds, int per_class, uint32_t *train_idx,
                            int *train_count, uint32_t *val_idx) {
    return dataset_split_per_class_range(rng, ds, 0, ds->count, per_class, train_idx,
                                         train_count, val_idx);
}
