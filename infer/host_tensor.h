// A tensor held in host memory: the constants of an ONNX model (weights,
// shape vectors), the values the plan-time evaluator computes, and the
// input/output files of the tests. Floating point (`real`) in floats; the
// integer types (int64, int32, bool: 0 or 1) all in ints, as int64 values.
#ifndef SD_INFER_HOST_TENSOR_H
#define SD_INFER_HOST_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "../kernels/backend.h"

// ONNX TensorProto.DataType codes of the element types sdinfer accepts.
enum { ONNX_DTYPE_FLOAT = 1, ONNX_DTYPE_INT32 = 6, ONNX_DTYPE_INT64 = 7, ONNX_DTYPE_BOOL = 9 };

// The largest tensor sdinfer accepts: element counts must fit the int fields of
// the backend's geometry structs.
#define SD_MAX_TENSOR_ELEMENTS ((int64_t)1 << 30)

typedef struct {
    int dtype;          // ONNX_DTYPE_FLOAT, _INT64, _INT32 or _BOOL
    TensorShape shape;  // rank 0 is a scalar (one element)
    size_t count;       // product of the dims
    real *floats;       // count values when dtype is FLOAT, else NULL
    int64_t *ints;      // count values when dtype is an integer type, else NULL
} HostTensor;

// Product of the dims, or -1 when a dim is negative or the product exceeds
// SD_MAX_TENSOR_ELEMENTS.
int64_t shape_element_count(const TensorShape *shape);
int shape_equal(const TensorShape *a, const TensorShape *b);
// "[2, 3, 4]" into buffer; returns buffer.
const char *shape_format(const TensorShape *shape, char *buffer, size_t buffer_len);

// Allocates zeroed storage for a tensor of the given type and shape.
// Returns NULL when the shape is invalid or memory runs out.
HostTensor *host_tensor_create(int dtype, const TensorShape *shape);
void host_tensor_free(HostTensor *tensor);

#endif
