// SVHN format 2 (cropped 32x32 digits): train_32x32.mat, test_32x32.mat, extra_32x32.mat,
// MATLAB files (level 5, compressed in the official release; v7.3/HDF5 re-saves read
// too, through libmatio: common/matfile.h) with two variables:
//   X  uint8, 32 x 32 x 3 x N, column-major: X(row, col, channel, n) sits at
//      row + 32*col + 1024*channel + 3072*n
//   y  N x 1 (numeric; double in the official files, other storage is converted),
//      digits 1..9, and 10 for the digit 0
// Images are turned into CHW (channel, row, col) in place, labels into 0..9.
#include <stdlib.h>
#include <string.h>

#include "data_io.h"
#include "data_loaders.h"
#include "matfile.h"

enum {
    SVHN_SIDE = 32,
    SVHN_CHANNELS = 3,
    SVHN_IMAGE_BYTES = SVHN_CHANNELS * SVHN_SIDE * SVHN_SIDE,
    SVHN_MAX_COUNT = 10000000,  // the largest file (extra) has 531131 images
    SVHN_PATH_MAX = 4096,
};

// X must be 32 x 32 x 3 x N (MATLAB drops the trailing 1 when N = 1).
static int svhn_image_count(const char *path, const MatVariable *x, int *count, char *err,
                            size_t err_len) {
    int64_t n = x->ndims == 4 ? x->dims[3] : x->ndims == 3 ? 1 : -1;
    if (x->class_id != MAT_CLASS_UINT8 || x->is_complex || n < 1 || n > SVHN_MAX_COUNT ||
        x->dims[0] != SVHN_SIDE || x->dims[1] != SVHN_SIDE || x->dims[2] != SVHN_CHANNELS)
        return data_error(err, err_len,
                          "%s: X is class %d, %d-dimensional %lld x %lld x %lld x %lld%s "
                          "(expected real uint8 (class %d), 32 x 32 x 3 x N, 0 < N <= %d)",
                          path, x->class_id, x->ndims, (long long)x->dims[0],
                          (long long)x->dims[1], (long long)x->dims[2],
                          (long long)(x->ndims > 3 ? x->dims[3] : 1),
                          x->is_complex ? ", complex" : "", MAT_CLASS_UINT8, SVHN_MAX_COUNT);
    *count = (int)n;
    return 0;
}

// MATLAB's column-major X(row, col, channel) per image -> CHW (channel, row, col).
static void svhn_to_chw(uint8_t *pixels, int count) {
    uint8_t column_major[SVHN_IMAGE_BYTES];
    for (int n = 0; n < count; n++) {
        uint8_t *image = pixels + (size_t)n * SVHN_IMAGE_BYTES;
        memcpy(column_major, image, SVHN_IMAGE_BYTES);
        for (int c = 0; c < SVHN_CHANNELS; c++)
            for (int row = 0; row < SVHN_SIDE; row++)
                for (int col = 0; col < SVHN_SIDE; col++)
                    image[(c * SVHN_SIDE + row) * SVHN_SIDE + col] =
                        column_major[row + SVHN_SIDE * col + SVHN_SIDE * SVHN_SIDE * c];
    }
}

// y: N x 1 or 1 x N, values 1..10 (10 = digit 0) -> labels 0..9.
static int svhn_read_labels(MatFile *mf, const char *path, int count, int32_t **labels,
                            char *err, size_t err_len) {
    MatVariable y;
    double *values = NULL;
    if (mat_find(mf, "y", &y, err, err_len) != 0) return -1;
    int64_t rows = y.dims[0], cols = y.ndims > 1 ? y.dims[1] : 1;
    if (y.ndims != 2 || y.element_count != count || (rows != 1 && cols != 1))
        return data_error(err, err_len,
                          "%s: y is %d-dimensional %lld x %lld (expected %d x 1: one label per "
                          "image of X)",
                          path, y.ndims, (long long)rows, (long long)cols, count);
    if (mat_read_double(mf, &y, &values, err, err_len) != 0) return -1;
    *labels = malloc((size_t)count * sizeof **labels);
    if (!*labels) {
        free(values);
        return data_error(err, err_len, "%s: out of memory", path);
    }
    for (int i = 0; i < count; i++) {
        double value = values[i];
        if (!(value >= 1.0 && value <= 10.0) || value != (double)(int)value) {
            free(values);
            free(*labels);
            *labels = NULL;
            return data_error(err, err_len,
                              "%s: label y(%d) = %g is out of range (expected an integer "
                              "1..10, 10 meaning digit 0)",
                              path, i + 1, value);
        }
        (*labels)[i] = (int32_t)value % 10;
    }
    free(values);
    return 0;
}

int svhn_load(const char *dir, DatasetSplit split, Dataset *out, char *err, size_t err_len) {
    const char *name = split == SPLIT_TRAIN  ? "train_32x32.mat"
                       : split == SPLIT_TEST ? "test_32x32.mat"
                                             : "extra_32x32.mat";
    char path[SVHN_PATH_MAX];
    if (data_join_path(path, sizeof path, dir, name, err, err_len) != 0) return -1;
    return svhn_load_file(path, NULL, out, err, err_len);
}

int svhn_load_file(const char *path, Mat73Reader *v73_reader, Dataset *out, char *err,
                   size_t err_len) {
    MatFile *mf = mat_open_with_reader(path, v73_reader, err, err_len);
    if (!mf) return -1;
    MatVariable x;
    uint8_t *pixels = NULL;
    int32_t *labels = NULL;
    int count = 0;
    int status = mat_find(mf, "X", &x, err, err_len);
    if (status == 0) status = svhn_image_count(path, &x, &count, err, err_len);
    if (status == 0) status = mat_read_uint8(mf, &x, &pixels, err, err_len);
    if (status == 0) status = svhn_read_labels(mf, path, count, &labels, err, err_len);
    mat_close(mf);
    if (status != 0) {
        free(pixels);
        return -1;
    }
    svhn_to_chw(pixels, count);
    *out = (Dataset){.kind = DATASET_SVHN, .count = count, .channels = SVHN_CHANNELS,
                     .height = SVHN_SIDE, .width = SVHN_SIDE, .classes = 10, .pixels = pixels,
                     .labels = labels};
    return 0;
}
