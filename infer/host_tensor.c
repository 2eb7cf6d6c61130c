#include "host_tensor.h"

#include <stdio.h>
#include <stdlib.h>

int64_t shape_element_count(const TensorShape *shape) {
    if (shape->rank < 0 || shape->rank > SD_MAX_DIMS) return -1;
    int64_t count = 1;
    for (int axis = 0; axis < shape->rank; axis++) {
        int64_t dim = shape->dims[axis];
        if (dim < 0 || dim > SD_MAX_TENSOR_ELEMENTS) return -1;
        count *= dim;  // both factors <= 2^30: no overflow in int64
        if (count > SD_MAX_TENSOR_ELEMENTS) return -1;
    }
    return count;
}

int shape_equal(const TensorShape *a, const TensorShape *b) {
    if (a->rank != b->rank) return 0;
    for (int axis = 0; axis < a->rank; axis++)
        if (a->dims[axis] != b->dims[axis]) return 0;
    return 1;
}

const char *shape_format(const TensorShape *shape, char *buffer, size_t buffer_len) {
    size_t used = 0;
    used += (size_t)snprintf(buffer, buffer_len, "[");
    for (int axis = 0; axis < shape->rank && used < buffer_len; axis++)
        used += (size_t)snprintf(buffer + used, buffer_len - used, "%s%lld", axis ? ", " : "",
                                 (long long)shape->dims[axis]);
    if (used < buffer_len) snprintf(buffer + used, buffer_len - used, "]");
    return buffer;
}

HostTensor *host_tensor_create(int dtype, const TensorShape *shape) {
    int64_t count = shape_element_count(shape);
    if (count < 0 || (dtype != ONNX_DTYPE_FLOAT && dtype != ONNX_DTYPE_INT64 &&
                      dtype != ONNX_DTYPE_INT32 && dtype != ONNX_DTYPE_BOOL))
        return NULL;
    HostTensor *tensor = calloc(1, sizeof *tensor);
    if (!tensor) return NULL;
    tensor->dtype = dtype;
    tensor->shape = *shape;
    tensor->count = (size_t)count;
    // One element at least, so an empty tensor still has a valid pointer.
    size_t allocated = tensor->count ? tensor->count : 1;
    if (dtype == ONNX_DTYPE_FLOAT)
        tensor->floats = calloc(allocated, sizeof(real));
    else
        tensor->ints = calloc(allocated, sizeof(int64_t));
    if (!tensor->floats && !tensor->ints) {
        free(tensor);
        return NULL;
    }
    return tensor;
}

void host_tensor_free(HostTensor *tensor) {
    if (!tensor) return;
    free(tensor->floats);
    free(tensor->ints);
    free(tensor);
}
