// CIFAR-10 and CIFAR-100, binary version: a file is a plain sequence of records,
//   CIFAR-10:  <label byte> <3072 pixel bytes>
//   CIFAR-100: <coarse label byte> <fine label byte> <3072 pixel bytes>   (fine is used)
// The pixels are 1024 red, 1024 green, 1024 blue, each 32x32 row-major: already CHW.
// Files: data_batch_1..5.bin + test_batch.bin (CIFAR-10), train.bin + test.bin (CIFAR-100).
#include <stdlib.h>
#include <string.h>

#include "data_io.h"
#include "data_loaders.h"

enum {
    CIFAR_SIDE = 32,
    CIFAR_IMAGE_BYTES = 3 * CIFAR_SIDE * CIFAR_SIDE,
    CIFAR_MAX_FILES = 5,
    CIFAR_PATH_MAX = 4096,
    CIFAR100_COARSE_CLASSES = 20,
};
// Far above the 50000-record training set; a bigger "CIFAR" file is not one.
#define CIFAR_MAX_FILE_BYTES ((int64_t)1 << 30)

typedef struct {
    int classes;        // 10 or 100
    int label_bytes;    // 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine)
    int file_count;
    char paths[CIFAR_MAX_FILES][CIFAR_PATH_MAX];
} CifarLayout;

static int cifar_layout(DatasetKind kind, const char *dir, DatasetSplit split,
                        CifarLayout *layout, char *err, size_t err_len) {
    const char *names[CIFAR_MAX_FILES];
    int is_cifar10 = kind == DATASET_CIFAR10;
    layout->classes = is_cifar10 ? 10 : 100;
    layout->label_bytes = is_cifar10 ? 1 : 2;
    if (split == SPLIT_TRAIN && is_cifar10) {
        static const char *const train_names[CIFAR_MAX_FILES] = {
            "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
            "data_batch_5.bin"};
        layout->file_count = CIFAR_MAX_FILES;
        memcpy(names, train_names, sizeof train_names);
    } else if (split == SPLIT_TRAIN || split == SPLIT_TEST) {
        layout->file_count = 1;
        names[0] = split == SPLIT_TEST ? (is_cifar10 ? "test_batch.bin" : "test.bin") : "train.bin";
    } else {
        return data_error(err, err_len, "%s: CIFAR has only train and test splits", dir);
    }
    for (int f = 0; f < layout->file_count; f++)
        if (data_join_path(layout->paths[f], CIFAR_PATH_MAX, dir, names[f], err, err_len) != 0)
            return -1;
    return 0;
}

// Opens a file and checks its size: a whole, non-zero number of records.
static int cifar_open(const char *path, size_t record_bytes, FILE **file, int *records,
                      char *err, size_t err_len) {
    *file = fopen(path, "rb");
    if (!*file) return data_error(err, err_len, "%s: cannot open (CIFAR binary file)", path);
    int64_t size = data_file_size(*file);
    const char *problem = NULL;
    if (size < 0) problem = "not a regular file";
    else if (size == 0) problem = "empty";
    else if (size > CIFAR_MAX_FILE_BYTES) problem = "larger than 1 GiB";
    else if (size % (int64_t)record_bytes != 0) problem = "size not a multiple of the record size";
    if (problem) {
        fclose(*file);
        *file = NULL;
        return data_error(err, err_len, "%s: %s (%lld bytes; expected N records of %zu bytes)",
                          path, problem, (long long)size, record_bytes);
    }
    *records = (int)(size / (int64_t)record_bytes);
    return 0;
}

// Reads `records` records of one file into pixels/labels (room already there).
static int cifar_read_records(FILE *file, const char *path, const CifarLayout *layout,
                              int records, uint8_t *pixels, int32_t *labels, char *err,
                              size_t err_len) {
    uint8_t label_bytes[2];
    size_t n_label_bytes = (size_t)layout->label_bytes;
    for (int r = 0; r < records; r++) {
        if (fread(label_bytes, 1, n_label_bytes, file) != n_label_bytes ||
            fread(pixels + (size_t)r * CIFAR_IMAGE_BYTES, 1, CIFAR_IMAGE_BYTES, file) !=
                CIFAR_IMAGE_BYTES)
            return data_error(err, err_len, "%s: read failed at record %d of %d", path, r,
                              records);
        int fine = label_bytes[n_label_bytes - 1];
        if (n_label_bytes == 2 && label_bytes[0] >= CIFAR100_COARSE_CLASSES)
            return data_error(err, err_len,
                              "%s: coarse label %d of record %d is out of range [0, %d)", path,
                              label_bytes[0], r, CIFAR100_COARSE_CLASSES);
        if (fine >= layout->classes)
            return data_error(err, err_len, "%s: label %d of record %d is out of range [0, %d)",
                              path, fine, r, layout->classes);
        labels[r] = fine;
    }
    return 0;
}

int cifar_load(DatasetKind kind, const char *dir, DatasetSplit split, Dataset *out, char *err,
               size_t err_len) {
    CifarLayout *layout = malloc(sizeof *layout);  // 20 KiB of paths: not on the stack
    if (!layout) return data_error(err, err_len, "%s: out of memory", dir);
    FILE *files[CIFAR_MAX_FILES] = {NULL};
    int records[CIFAR_MAX_FILES] = {0};
    int total = 0, status = cifar_layout(kind, dir, split, layout, err, err_len);
    size_t record_bytes = (size_t)layout->label_bytes + CIFAR_IMAGE_BYTES;
    for (int f = 0; status == 0 && f < layout->file_count; f++) {
        status = cifar_open(layout->paths[f], record_bytes, &files[f], &records[f], err, err_len);
        total += status == 0 ? records[f] : 0;  // each file <= 1 GiB: no int overflow
    }
    uint8_t *pixels = NULL;
    int32_t *labels = NULL;
    if (status == 0) {
        pixels = malloc((size_t)total * CIFAR_IMAGE_BYTES);
        labels = malloc((size_t)total * sizeof *labels);
        if (!pixels || !labels) status = data_error(err, err_len, "%s: out of memory", dir);
    }
    for (int f = 0, done = 0; status == 0 && f < layout->file_count; done += records[f++])
        status = cifar_read_records(files[f], layout->paths[f], layout, records[f],
                                    pixels + (size_t)done * CIFAR_IMAGE_BYTES, labels + done,
                                    err, err_len);
    for (int f = 0; f < CIFAR_MAX_FILES; f++)
        if (files[f]) fclose(files[f]);
    int classes = layout->classes;
    free(layout);
    if (status != 0) {
        free(pixels);
        free(labels);
        return -1;
    }
    *out = (Dataset){.kind = kind, .count = total, .channels = 3, .height = CIFAR_SIDE,
                     .width = CIFAR_SIDE, .classes = classes, .pixels = pixels, .labels = labels};
    return 0;
}
