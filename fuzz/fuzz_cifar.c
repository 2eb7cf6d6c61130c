// CIFAR-10/100 binary files (common/data_cifar.c) through dataset_load.
// Input: one byte choosing the format (bit 0: CIFAR-100), then the file's bytes,
// which become the test split's file (test_batch.bin or test.bin).
#include <string.h>

#include "../common/dataset.h"
#include "fuzz.h"

int fuzz_cifar(FuzzContext *ctx, const uint8_t *data, size_t size, char *err, size_t err_len) {
    if (size < 1) return 0;
    int is_cifar100 = data[0] & 1;
    DatasetKind kind = is_cifar100 ? DATASET_CIFAR100 : DATASET_CIFAR10;
    const char *name = is_cifar100 ? "test.bin" : "test_batch.bin";
    fuzz_write_file(ctx, name, data + 1, size - 1);
    Dataset ds;
    if (dataset_load(kind, ctx->dir, SPLIT_TEST, &ds, err, err_len) != 0) {
        char path[512];
        fuzz_path(ctx, name, path);
        fuzz_require(ds.count == 0 && !ds.pixels && !ds.labels, "refusal left data behind");
        fuzz_require_message(err, path);
        return -1;
    }
    fuzz_require(ds.count > 0 && (size_t)ds.count * (3073u + (unsigned)is_cifar100) == size - 1,
                 "%d records from a %zu-byte file", ds.count, size - 1);
    fuzz_require(ds.channels == 3 && ds.height == 32 && ds.width == 32 &&
                     ds.classes == (is_cifar100 ? 100 : 10),
                 "shape %dx%dx%d, %d classes", ds.channels, ds.height, ds.width, ds.classes);
    for (int i = 0; i < ds.count; i++)
        fuzz_require(ds.labels[i] >= 0 && ds.labels[i] < ds.classes, "label %d of image %d",
                     ds.labels[i], i);
    // Every pixel byte is read (ASan reports reads of unwritten heap only as UB in
    // the kernels; a checksum makes every byte flow somewhere).
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)ds.count * 3072; i++) sum += ds.pixels[i];
    (void)sum;
    dataset_free(&ds);
    return 0;
}
