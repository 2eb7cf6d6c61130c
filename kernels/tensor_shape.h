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

// Strides of `in` along the axes of `out` under numpy broadcasting: shapes are
// right-aligned, and a missing or size-1 axis repeats (stride 0).
static inline void broadcast_strides(const TensorShape *in, const TensorShape *out,
                                     int64_t *strides) {
    const int lead = out->rank - in->rank;
    int64_t stride = 1;
    for (int i = out->rank - 1; i >= 0; i--) {
        const int j = i - lead;
        if (j < 0) {
            strides[i] = 0;
            continue;
        }
        strides[i] = in->dims[j] == 1 ? 0 : stride;
        stride *= in->dims[j];
    }
}

#endif
