// MNIST-style IDX files, gzipped or not (common/data_idx.c), through dataset_load.
// Input: a flags byte (bit 0: the images file is named .gz, bit 1: the labels file),
// a 4-byte little-endian length L, L bytes of the images file, then the labels
// file (the rest). zlib reads plain and gzipped bytes alike; the names decide only
// which of NAME.gz and NAME the loader picks.
#include <string.h>

#include "../common/dataset.h"
#include "fuzz.h"

#define IMAGES "t10k-images-idx3-ubyte"
#define LABELS "t10k-labels-idx1-ubyte"

int fuzz_idx(FuzzContext *ctx, const uint8_t *data, size_t size, char *err, size_t err_len) {
    if (size < 5) return 0;
    int images_gz = data[0] & 1, labels_gz = (data[0] >> 1) & 1;
    size_t images_len = (size_t)data[1] | (size_t)data[2] << 8 | (size_t)data[3] << 16 |
                        (size_t)data[4] << 24;
    const uint8_t *rest = data + 5;
    size_t rest_len = size - 5;
    if (images_len > rest_len) images_len = rest_len;
    fuzz_remove_file(ctx, images_gz ? IMAGES : IMAGES ".gz");
    fuzz_remove_file(ctx, labels_gz ? LABELS : LABELS ".gz");
    const char *images_name = images_gz ? IMAGES ".gz" : IMAGES;
    const char *labels_name = labels_gz ? LABELS ".gz" : LABELS;
    fuzz_write_file(ctx, images_name, rest, images_len);
    fuzz_write_file(ctx, labels_name, rest + images_len, rest_len - images_len);
    Dataset ds;
    if (dataset_load(DATASET_MNIST, ctx->dir, SPLIT_TEST, &ds, err, err_len) != 0) {
        fuzz_require(ds.count == 0 && !ds.pixels && !ds.labels, "refusal left data behind");
        // The message names the images file or the labels file.
        fuzz_require_message(err, ctx->dir);
        fuzz_require(strstr(err, IMAGES) || strstr(err, LABELS), "'%s' names no IDX file", err);
        return -1;
    }
    fuzz_require(ds.count > 0 && ds.channels == 1 && ds.height == 28 && ds.width == 28 &&
                     ds.classes == 10,
                 "%d images %dx%dx%d, %d classes", ds.count, ds.channels, ds.height, ds.width,
                 ds.classes);
    for (int i = 0; i < ds.count; i++)
        fuzz_require(ds.labels[i] >= 0 && ds.labels[i] < 10, "label %d of image %d", ds.labels[i],
                     i);
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)ds.count * 784; i++) sum += ds.pixels[i];
    (void)sum;
    dataset_free(&ds);
    return 0;
}
