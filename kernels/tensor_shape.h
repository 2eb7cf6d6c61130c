// Host-side arithmetic on TensorShape shared by every backend's generic tensor ops.
#ifndef SD_TENSOR_SHAPE_H
#define SD_TENSOR_SHAPE_H

#include "backend.h"

// Number of elements.
static inline int64_t shape_count(const TensorShape *s) {
    int64_t count = 1;
    for (int i = 0; i < s->rank; i++) count *= s->dims[i];
    return count;
}

// Row-major element strides of a contiguous tensor.
static inline void contiguous_strides(const TensorShape *s, int64_t *strides) {
    int64_t stride = 1;
    for (int i = s->rank - 1; i >= 0; i--) {
        strides[i] = stride;
        stride *= s->dims[i];
    }
}

#endif
