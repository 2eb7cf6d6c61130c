// Reading a TensorProto fixture in a test: a failed check (naming the file and why)
// instead of a crash when it is missing or damaged.
#ifndef SD_TEST_TENSORS_H
#define SD_TEST_TENSORS_H

#include "../infer/onnx_tensor.h"
#include "harness.h"

static inline HostTensor *read_tensor(TestContext *t, const char *path) {
    HostTensor *tensor = NULL;
    char err[512];
    int ok = onnx_tensor_read_file(path, &tensor, err, sizeof err) == LOAD_OK;
    CHECK(t, ok, "read %s: %s", path, ok ? "" : err);
    return ok ? tensor : NULL;
}

#endif
