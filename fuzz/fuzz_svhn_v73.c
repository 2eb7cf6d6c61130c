// SVHN's MATLAB v7.3 (HDF5) files: the loader of fuzz_svhn.c with its own seed corpus
// (fuzz/corpus/svhn_v73/: files written by h5py in MATLAB's v7.3 layout), so that this
// slow path (libmatio and libhdf5 in a reader process, not instrumented) does not slow
// down the level-5 campaign. Input: test_32x32.mat.
//
// The programs start one reader process per v7.3 file. Under ASan a fork of the
// fuzzer costs far more than the reading: perf put about 25 ms of CPU time on each
// child (page-table copies and the copy-on-write faults of the shadow memory and the
// allocator): 11 to 13 executions/s in all. Here one reader serves the inputs one
// after the other (each request opens the file afresh: mat73_reader.h) and is
// replaced when it crashes or after MAX_REQUESTS requests, which bounds whatever
// libmatio or libhdf5 leave behind in it.
#include <string.h>

#include "../common/data_loaders.h"
#include "../common/mat73_reader.h"
#include "fuzz.h"

enum { MAX_REQUESTS = 1000 };

int fuzz_svhn_v73(FuzzContext *ctx, const uint8_t *data, size_t size, char *err,
                  size_t err_len) {
    if (!ctx->mat73_reader) ctx->mat73_reader = mat73_reader_create(MAX_REQUESTS);
    fuzz_require(ctx->mat73_reader != NULL, "harness: out of memory");
    fuzz_write_file(ctx, "test_32x32.mat", data, size);
    char path[512];
    fuzz_path(ctx, "test_32x32.mat", path);
    Dataset ds;
    memset(&ds, 0, sizeof ds);
    int status = svhn_load_file(path, ctx->mat73_reader, &ds, err, err_len);
    return fuzz_svhn_check(ctx, status, &ds, err);
}
