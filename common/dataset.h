// Image classification data sets in their official file formats, held in memory
// as uint8 pixels (CHW per image), and turned into normalised float batches.
//
//   cifar10        data_batch_1..5.bin, test_batch.bin (1 label byte + 3072 pixel bytes)
//   cifar100       train.bin, test.bin (coarse label byte, fine label byte, 3072 pixels; fine is used)
//   svhn           train_32x32.mat, test_32x32.mat, extra_32x32.mat (MATLAB level 5: X 32x32x3xN
//                  uint8, y N doubles with 10 meaning digit 0)
//   mnist,         {train,t10k}-{images-idx3,labels-idx1}-ubyte, gzipped (.gz) or not
//   fashion-mnist  (default directory: /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist)
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

// Loads one split from dir. Returns 0, or -1 with a message naming the file and the problem.
int dataset_load(DatasetKind kind, const char *dir, DatasetSplit split, Dataset *out, char *err,
                 size_t err_len);
void dataset_free(Dataset *ds);

// Seeded random split of [0, count) into train_count and val_count disjoint indices
// (val_count = count - train_count). Arrays are allocated by the caller.
void dataset_split_random(Rng *rng, int count, int val_count, uint32_t *train_idx,
                          uint32_t *val_idx);
// Per-class validation split (the paper's SVHN protocol: 400 per class from train,
// 200 per class from extra): picks per_class indices of every class at random.
// Returns the number of validation indices written, or -1 if some class has too few.
int dataset_split_per_class(Rng *rng, const Dataset *ds, int per_class, uint32_t *train_idx,
                            int *train_count, uint32_t *val_idx);

// Statistics over the listed images only (the training part: never validation or test).
void dataset_compute_normalization(const Dataset *ds, const uint32_t *indices, int count,
                                   Normalization *out);

// Builds a float batch of `count` images (NCHW) and labels from the listed indices.
// With augment: random translation by up to +-4 px (zero fill, in normalised units)
// and a horizontal flip with probability 0.5, drawn from aug_rng.
void dataset_make_batch(const Dataset *ds, const uint32_t *indices, int count,
                        const Normalization *norm, int augment, Rng *aug_rng, float *images,
                        int32_t *labels);

#endif
