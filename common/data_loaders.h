// The per-format readers behind dataset_load (one file each: data_cifar.c, data_svhn.c,
// data_idx.c). dataset_load picks the directory and checks the split; each reader fills
// a zeroed Dataset or returns -1 with a message naming the file (then out stays empty).
#ifndef SD_DATA_LOADERS_H
#define SD_DATA_LOADERS_H

#include <stddef.h>

#include "dataset.h"

// CIFAR-10 (kind DATASET_CIFAR10) or CIFAR-100 (DATASET_CIFAR100), binary version.
int cifar_load(DatasetKind kind, const char *dir, DatasetSplit split, Dataset *out, char *err,
               size_t err_len);
// SVHN format 2 (cropped digits), MATLAB files.
int svhn_load(const char *dir, DatasetSplit split, Dataset *out, char *err, size_t err_len);
// One SVHN file (out zeroed by the caller). v73_reader: NULL, or a reader process
// for MATLAB v7.3 files kept across files (common/mat73_reader.h).
typedef struct Mat73Reader Mat73Reader;
int svhn_load_file(const char *path, Mat73Reader *v73_reader, Dataset *out, char *err,
                   size_t err_len);
// MNIST or Fashion-MNIST, IDX files (gzipped or not).
int idx_load(DatasetKind kind, const char *dir, DatasetSplit split, Dataset *out, char *err,
             size_t err_len);

#endif
