// SVHN's MATLAB v7.3 (HDF5) files: the same path as fuzz_svhn.c, with its own seed
// corpus (fuzz/corpus/svhn_v73/: files written by h5py in MATLAB's v7.3 layout), so
// that this slow path (libmatio and libhdf5 in a child process per variable, not
// instrumented) does not slow down the level-5 campaign. Input: test_32x32.mat.
#include "fuzz.h"

int fuzz_svhn_v73(FuzzContext *ctx, const uint8_t *data, size_t size, char *err,
                  size_t err_len) {
    return fuzz_svhn(ctx, data, size, err, err_len);
}
