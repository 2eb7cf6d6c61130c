// Per-op parameters that shape inference resolves and the plan's steps carry
// unchanged to the backend call: one type each, shared by shape_infer.h and plan.h.
#ifndef SD_INFER_OP_PARAMS_H
#define SD_INFER_OP_PARAMS_H

#include <stdint.h>

#include "../kernels/backend.h"

typedef struct {
    int batch, channels, spatial;
} GlobalPoolParams;

typedef enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE } PadMode;

typedef struct {
    int64_t pads[2 * SD_MAX_DIMS];
    real value;
    PadMode mode;
} PadParams;

typedef struct {
    int axis;
} ConcatParams;

// Split: at most this many outputs (parts).
#define SD_MAX_SPLIT_OUTPUTS 32

typedef struct {
    int axis;   // attributes: as written (may be negative); geometry: resolved
    int count;  // entries in sizes; attributes: -1 when `split` is absent
    int64_t sizes[SD_MAX_SPLIT_OUTPUTS];  // the extent of each part along the axis
} SplitParams;

typedef struct {
    int64_t starts[SD_MAX_DIMS], steps[SD_MAX_DIMS];
} SliceParams;

typedef struct {
    int64_t outer, inner;  // [outer][inner] lines of `inner` values normalised together
    int64_t after;  // Softmax-13 over an axis with later axes: their product (the stride of the
                    // normalised axis, whose extent is then `inner`); 1: the lines are contiguous
} SoftmaxParams;

typedef struct {
    int perm[SD_MAX_DIMS];
} TransposeParams;

typedef struct {
    ActivationOp op;
    real alpha, beta;
} ActivationParams;

// Conv beyond what ConvGeom says: groups and dilation (1, 1, 1: a dense convolution).
typedef struct {
    int groups, dilation_h, dilation_w;
} ConvExtras;

typedef struct {
    int m, n, k;     // per matrix product: op(A) is m x k, op(B) is k x n
    int64_t batch;   // number of products (1 when B is 2-D: A's leading dims fold into m)
    TensorShape a_batch, b_batch, out_batch;  // leading (batch) dims, rank-aligned
} MatmulParams;

#endif
