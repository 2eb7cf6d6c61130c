// Image classification data sets in their official file formats, held in memory
// as uint8 pixels (CHW per image), and turned into normalised float batches.
//
//   cifar10        data_batch_1..5.bin, test_batch.bin (1 label byte + 3072 pixel bytes)
//   cifar100       train.bin, test.bin (coarse label byte, fine label byte, 3072 pixels; fine is used)
//   svhn           train_32x32.mat, test_32x32.mat, extra_32x32.mat (MATLAB level 5 or v7.3: X 32x32x3xN
//                  uint8, y N doubles with 10 meaning digit 0)
//   mnist,         {train,t10k}-{images-idx3,labels-idx1}-ubyte, gzipped (.gz) or not
//   fashion-mnist  (default directory: /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist)
//
// Where: dataset.c (names, loading by kind, append, SVHN pool), data_cifar.c, data_svhn.c
// with matfile.c (MATLAB files through libmatio: level 5, compressed or not, and v7.3), data_idx.c,
// data_split.c (seeded splits), data_batch.c (normalisation, batches, augmentation).
// Every reader checks each size from a file against the file's real length before
// allocating, and reports problems as "<path>: <what is wrong> (expected ...)".
#ifndef SD_DATASET_H
#define SD_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

typedef enum {
    DATASET_CIFAR10,
    DATASET_CIFAR100,
    DATASET_SVHN,
    DATASET_MNIST,
    DATASET_FASHION_MNIST,
    DATASET_FOLDER,  // image files in an ImageFolder tree (common/image_source.h)
} DatasetKind;

typedef enum {
    SPLIT_TRAIN,  // the official training file(s)
    SPLIT_TEST,   // the official test file
    SPLIT_EXTRA,  // SVHN only: extra_32x32.mat
} DatasetSplit;

typedef struct {
    DatasetKind kind;
    int count;                      // number of images
    int channels, height, width;    // per image
    int classes;                    // 10 or 100
    uint8_t *pixels;                // count * channels * height * width, CHW per image
    int32_t *labels;                // count, each in [0, classes)
    // DATASET_FOLDER only: the files, decoded on demand (pixels is then NULL); owned.
    struct ImageSource *source;
} Dataset;

// Per-channel statistics of the training split, in units of pixel/255.
// Batches are produced as (pixel/255 - mean[c]) / std[c].
#define SD_MAX_CHANNELS 4
typedef struct {
    int channels;
    float mean[SD_MAX_CHANNELS];
    float std[SD_MAX_CHANNELS];
} Normalization;

// Name <-> kind: "cifar10", "cifar100", "svhn", "mnist", "fashion-mnist". -1 if unknown.
int dataset_kind_from_name(const char *name);
const char *dataset_kind_name(DatasetKind kind);
// The directory used when the user gives none (NULL if the data set has no standard place).
const char *dataset_default_dir(DatasetKind kind);
// Whether random translation + flip is on by default (CIFAR yes; SVHN and MNIST no, as the paper).
int dataset_default_augment(DatasetKind kind);

// Loads one split from dir (NULL: dataset_default_dir). Returns 0, or -1 with a message
// naming the file and the problem (out is then empty: dataset_free on it is harmless).
int dataset_load(DatasetKind kind, const char *dir, DatasetSplit split, Dataset *out, char *err,
                 size_t err_len);
void dataset_free(Dataset *ds);

// Appends a copy of src's images and labels to dst (same kind, shape and classes),
// e.g. SVHN's extra_32x32.mat after train_32x32.mat: src's image i becomes dst's image
// old_count + i. Grows dst in place (realloc), so the peak memory is dst + src, not twice
// both. Returns 0, or -1 with a message (dst unchanged).
int dataset_append(Dataset *dst, const Dataset *src, char *err, size_t err_len);

// Seeded random split of [0, count) into train_count and val_count disjoint indices
// (train_count = count - val_count; 0 <= val_count <= count, else it is clamped).
// Arrays are allocated by the caller. Every subset of size val_count is equally likely.
// val_idx comes out in increasing order, train_idx in random order (so its first N
// entries are a random subset of the training part). Same rng state, same split.
void dataset_split_random(Rng *rng, int count, int val_count, uint32_t *train_idx,
                          uint32_t *val_idx);
// Per-class validation split (the paper's SVHN protocol: 400 per class from train,
// 200 per class from extra): picks per_class indices of every class at random.
// Returns the number of validation indices written (per_class * classes), or -1 if some
// class has too few (or a label is out of range); then nothing is written. Orders as
// dataset_split_random: validation increasing, training shuffled.
// train_idx needs room for ds->count entries, val_idx for per_class * classes.
int dataset_split_per_class(Rng *rng, const Dataset *ds, int per_class, uint32_t *train_idx,
                            int *train_count, uint32_t *val_idx);
// The same over the images [first, first + count) of ds only; the indices written are
// indices into ds (so first..first+count-1). -1 also for a range outside ds.
int dataset_split_per_class_range(Rng *rng, const Dataset *ds, int first, int count,
                                  int per_class, uint32_t *train_idx, int *train_count,
                                  uint32_t *val_idx);

// The paper's SVHN training pool in one call: train_32x32.mat followed by extra_32x32.mat
// in *out, and a validation set of val_per_class_train images of every class from the
// train part plus val_per_class_extra of every class from the extra part (the paper:
// 400 and 200, 6000 in all); the rest is the training part, in random order over both
// files. *train_idx and *val_idx are allocated here (free() them). Returns 0, or -1 with
// a message (nothing left allocated).
int dataset_load_svhn_pool(const char *dir, Rng *rng, int val_per_class_train,
                           int val_per_class_extra, Dataset *out, uint32_t **train_idx,
                           int *train_count, uint32_t **val_idx, int *val_count, char *err,
                           size_t err_len);

// Statistics over the listed images only (the training part: never validation or test).
// Like Torch's tensor:std(), std is the unbiased estimate (divides by n - 1). A channel
// with no spread (or fewer than 2 values) gets std = 1, so batches stay finite.
// (Not for a folder data set: image_source_normalization decodes its files.)
void dataset_compute_normalization(const Dataset *ds, const uint32_t *indices, int count,
                                   Normalization *out);
// The statistics from per-channel histograms of byte values (values: pixels per channel).
void normalization_from_histogram(const uint64_t histogram[SD_MAX_CHANNELS][256], int channels,
                                  double values, Normalization *out);

// Builds a float batch of `count` images (NCHW) and labels from the listed indices
// (each < ds->count; labels may be NULL). Pixel value p of channel c becomes
// (p / 255 - mean[c]) / std[c].
// With augment: random translation by up to +-4 px (zero fill, in normalised units)
// and a horizontal flip with probability 0.5, drawn from aug_rng. Per image, in this
// order: shift_x = rng_below(9) - 4, shift_y = rng_below(9) - 4, flip = rng_below(2);
// then out(y, x) = normalised(y + shift_y, x' + shift_x) with x' = (flip ? W-1-x : x),
// and 0 where that falls outside the image (as Torch: pad the normalised image with 4
// zeros on each side, crop 32x32 at a random offset, then flip).
// A folder data set makes its batches through its source (image_source_make_batch:
// decoding, its recipe's crops; augment then means the recipe's training transform).
void dataset_make_batch(const Dataset *ds, const uint32_t *indices, int count,
                        const Normalization *norm, int augment, Rng *aug_rng, float *images,
                        int32_t *labels);
// Draws from aug_rng exactly what dataset_make_batch's augmentation of `count` images
// draws, and makes nothing: a rank of a data-parallel run skips the other ranks'
// images of a global batch, so that image i of the global batch gets the same
// augmentation whatever the number of ranks.
void dataset_skip_augment(Rng *aug_rng, int count);

// A folder data set's first file that failed to decode while batches were made, as a
// message; NULL for every other data set and when none failed.
const char *dataset_failure(const Dataset *ds);

#endif
