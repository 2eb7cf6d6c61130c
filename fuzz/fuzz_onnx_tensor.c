// ONNX TensorProto files (infer/onnx_tensor.c: sdinfer --input-tensor and the ONNX
// test data) through onnx_tensor_read_file. Input: the file's bytes.
#include <string.h>

#include "../infer/onnx_tensor.h"
#include "fuzz.h"

int fuzz_onnx_tensor(FuzzContext *ctx, const uint8_t *data, size_t size, char *err,
                     size_t err_len) {
    fuzz_write_file(ctx, "tensor.pb", data, size);
    char path[512];
    fuzz_path(ctx, "tensor.pb", path);
    HostTensor *tensor = NULL;
    if (onnx_tensor_read_file(path, &tensor, err, err_len) != LOAD_OK) {
        fuzz_require(tensor == NULL, "refusal left a tensor behind");
        fuzz_require_message(err, path);
        return -1;
    }
    int64_t count = shape_element_count(&tensor->shape);
    fuzz_require(count >= 0 && (size_t)count == tensor->count, "count %zu for the dims",
                 tensor->count);
    fuzz_require(tensor->dtype == ONNX_DTYPE_FLOAT ? tensor->floats && !tensor->ints
                                                   : tensor->ints && !tensor->floats,
                 "dtype %d with the wrong storage", tensor->dtype);
    // The data section holds at least count elements: the file's bytes bound them.
    fuzz_require(tensor->count <= size, "%zu elements from %zu bytes", tensor->count, size);
    double sum = 0;
    for (size_t i = 0; i < tensor->count; i++)
        sum += tensor->floats ? (double)tensor->floats[i] : (double)tensor->ints[i];
    (void)sum;
    host_tensor_free(tensor);
    return 0;
}
