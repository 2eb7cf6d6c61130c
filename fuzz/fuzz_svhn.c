// SVHN's MATLAB files (common/data_svhn.c and the MAT-file reader beneath it)
// through dataset_load. Input: the bytes of test_32x32.mat.
#include <string.h>

#include "../common/dataset.h"
#include "fuzz.h"

int fuzz_svhn_check(const FuzzContext *ctx, int status, Dataset *ds, const char *err) {
    if (status != 0) {
        char path[512];
        fuzz_path(ctx, "test_32x32.mat", path);
        fuzz_require(ds->count == 0 && !ds->pixels && !ds->labels, "refusal left data behind");
        fuzz_require_message(err, path);
        return -1;
    }
    fuzz_require(ds->count > 0 && ds->channels == 3 && ds->height == 32 && ds->width == 32 &&
                     ds->classes == 10,
                 "%d images %dx%dx%d, %d classes", ds->count, ds->channels, ds->height,
                 ds->width, ds->classes);
    for (int i = 0; i < ds->count; i++)
        fuzz_require(ds->labels[i] >= 0 && ds->labels[i] < 10, "label %d of image %d",
                     ds->labels[i], i);
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)ds->count * 3072; i++) sum += ds->pixels[i];
    (void)sum;
    dataset_free(ds);
    return 0;
}

int fuzz_svhn(FuzzContext *ctx, const uint8_t *data, size_t size, char *err, size_t err_len) {
    fuzz_write_file(ctx, "test_32x32.mat", data, size);
    Dataset ds;
    int status = dataset_load(DATASET_SVHN, ctx->dir, SPLIT_TEST, &ds, err, err_len);
    return fuzz_svhn_check(ctx, status, &ds, err);
}
