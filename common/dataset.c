// Data set names, shapes, default places and policies, loading by kind, and the
// whole-Dataset operations (free, append, the SVHN training pool).
#include "dataset.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "data_io.h"
#include "data_loaders.h"
#include "image_source.h"

typedef struct {
    DatasetKind kind;
    const char *name;
    const char *default_dir;  // NULL: no standard place
    int augment_by_default;   // the paper: CIFAR with translation + flip, SVHN without
} DatasetInfo;

static const DatasetInfo dataset_infos[] = {
    {DATASET_CIFAR10, "cifar10", NULL, 1},
    {DATASET_CIFAR100, "cifar100", NULL, 1},
    {DATASET_SVHN, "svhn", NULL, 0},
    {DATASET_MNIST, "mnist", NULL, 0},
    {DATASET_FASHION_MNIST, "fashion-mnist", "/usr/share/datasets/fashion-mnist", 0},
    {DATASET_FOLDER, "folder", NULL, 1},
};
enum { DATASET_KIND_COUNT = sizeof dataset_infos / sizeof dataset_infos[0] };

static const DatasetInfo *dataset_info(DatasetKind kind) {
    for (int i = 0; i < DATASET_KIND_COUNT; i++)
        if (dataset_infos[i].kind == kind) return &dataset_infos[i];
    return NULL;
}

int dataset_kind_from_name(const char *name) {
    for (int i = 0; name && i < DATASET_KIND_COUNT; i++)
        if (strcmp(dataset_infos[i].name, name) == 0) return (int)dataset_infos[i].kind;
    return -1;
}

const char *dataset_kind_name(DatasetKind kind) {
    const DatasetInfo *info = dataset_info(kind);
    return info ? info->name : "unknown";
}

const char *dataset_default_dir(DatasetKind kind) {
    const DatasetInfo *info = dataset_info(kind);
    return info ? info->default_dir : NULL;
}

int dataset_default_augment(DatasetKind kind) {
    const DatasetInfo *info = dataset_info(kind);
    return info ? info->augment_by_default : 0;
}

int dataset_load(DatasetKind kind, const char *dir, DatasetSplit split, Dataset *out, char *err,
                 size_t err_len) {
    memset(out, 0, sizeof *out);
    const DatasetInfo *info = dataset_info(kind);
    if (!info) return data_error(err, err_len, "unknown data set kind %d", (int)kind);
    if (!dir) dir = info->default_dir;
    if (!dir)
        return data_error(err, err_len, "%s: no data directory given, and it has no default",
                          info->name);
    if (split != SPLIT_TRAIN && split != SPLIT_TEST && split != SPLIT_EXTRA)
        return data_error(err, err_len, "%s: unknown split %d", dir, (int)split);
    if (split == SPLIT_EXTRA && kind != DATASET_SVHN)
        return data_error(err, err_len, "%s: only svhn has an extra split, not %s", dir,
                          info->name);
    switch (kind) {
        case DATASET_CIFAR10:
        case DATASET_CIFAR100: return cifar_load(kind, dir, split, out, err, err_len);
        case DATASET_SVHN: return svhn_load(dir, split, out, err, err_len);
        case DATASET_MNIST:
        case DATASET_FASHION_MNIST: return idx_load(kind, dir, split, out, err, err_len);
        case DATASET_FOLDER:  // needs its image size and recipe: train/folder_data.c
            return data_error(err, err_len, "%s: the folder data set is loaded by the trainer "
                              "(sdtrain --dataset folder) or image by image (sdinfer --images)",
                              dir);
    }
    return data_error(err, err_len, "unknown data set kind %d", (int)kind);
}

void dataset_free(Dataset *ds) {
    if (!ds) return;
    free(ds->pixels);
    free(ds->labels);
    image_source_free(ds->source);
    memset(ds, 0, sizeof *ds);
}

static size_t dataset_image_bytes(const Dataset *ds) {
    return (size_t)ds->channels * (size_t)ds->height * (size_t)ds->width;
}

int dataset_append(Dataset *dst, const Dataset *src, char *err, size_t err_len) {
    if (dst->kind != src->kind || dst->channels != src->channels || dst->height != src->height ||
        dst->width != src->width || dst->classes != src->classes)
        return data_error(err, err_len,
                          "cannot append %s %dx%dx%d (%d classes) to %s %dx%dx%d (%d classes)",
                          dataset_kind_name(src->kind), src->channels, src->height, src->width,
                          src->classes, dataset_kind_name(dst->kind), dst->channels,
                          dst->height, dst->width, dst->classes);
    if (src->count == 0) return 0;
    if (src->count > INT_MAX - dst->count)
        return data_error(err, err_len, "appending %d images to %d: too many", src->count,
                          dst->count);
    size_t image_bytes = dataset_image_bytes(dst);
    size_t total = (size_t)dst->count + (size_t)src->count;
    // Two reallocs: on failure of the second, dst keeps its old count and stays valid.
    uint8_t *pixels = realloc(dst->pixels, total * image_bytes);
    if (!pixels) return data_error(err, err_len, "out of memory appending images");
    dst->pixels = pixels;
    int32_t *labels = realloc(dst->labels, total * sizeof *labels);
    if (!labels) return data_error(err, err_len, "out of memory appending labels");
    dst->labels = labels;
    memcpy(dst->pixels + (size_t)dst->count * image_bytes, src->pixels,
           (size_t)src->count * image_bytes);
    memcpy(dst->labels + dst->count, src->labels, (size_t)src->count * sizeof *labels);
    dst->count = (int)total;
    return 0;
}

int dataset_load_svhn_pool(const char *dir, Rng *rng, int val_per_class_train,
                           int val_per_class_extra, Dataset *out, uint32_t **train_idx,
                           int *train_count, uint32_t **val_idx, int *val_count, char *err,
                           size_t err_len) {
    *train_idx = *val_idx = NULL;
    *train_count = *val_count = 0;
    Dataset extra;
    if (dataset_load(DATASET_SVHN, dir, SPLIT_TRAIN, out, err, err_len) != 0) return -1;
    if (dataset_load(DATASET_SVHN, dir, SPLIT_EXTRA, &extra, err, err_len) != 0) {
        dataset_free(out);
        return -1;
    }
    int train_part = out->count;
    int status = dataset_append(out, &extra, err, err_len);
    dataset_free(&extra);
    if (status != 0) {
        dataset_free(out);
        return -1;
    }
    *train_idx = malloc((size_t)out->count * sizeof **train_idx);
    *val_idx = malloc((size_t)out->count * sizeof **val_idx);
    int from_train = 0, from_extra = 0, val_from_train = 0, val_from_extra = 0;
    if (!*train_idx || !*val_idx) {
        status = data_error(err, err_len, "%s: out of memory for the svhn split", dir);
    } else {
        val_from_train = dataset_split_per_class_range(rng, out, 0, train_part,
                                                       val_per_class_train, *train_idx,
                                                       &from_train, *val_idx);
        val_from_extra = val_from_train < 0 ? -1
                         : dataset_split_per_class_range(
                               rng, out, train_part, out->count - train_part,
                               val_per_class_extra, *train_idx + from_train, &from_extra,
                               *val_idx + val_from_train);
        if (val_from_train < 0 || val_from_extra < 0)
            status = data_error(err, err_len,
                                "%s: some class has fewer than %d images in train_32x32.mat or "
                                "fewer than %d in extra_32x32.mat (needed for validation)",
                                dir, val_per_class_train, val_per_class_extra);
    }
    if (status != 0) {
        free(*train_idx);
        free(*val_idx);
        *train_idx = *val_idx = NULL;
        dataset_free(out);
        return -1;
    }
    *train_count = from_train + from_extra;
    *val_count = val_from_train + val_from_extra;
    // The two parts were shuffled separately: mix them so any prefix is a random subset.
    rng_shuffle_u32(rng, *train_idx, (uint32_t)*train_count);
    return 0;
}
