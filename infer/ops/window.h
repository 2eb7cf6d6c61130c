// The window ops' shared rules (window.c): Conv, AveragePool and MaxPool.
#ifndef SD_INFER_OPS_WINDOW_H
#define SD_INFER_OPS_WINDOW_H

#include "op_def.h"

// Maps the 1-D or 2-D window onto the (height, width) of the backend's geometry.
typedef struct {
    int64_t in_h, in_w, out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left;
} Window2D;

// kernel_shape, strides, pads, auto_pad, and what the op adds (Conv: group and
// dilations; the pools: ceil_mode; AveragePool: count_include_pad; MaxPool:
// dilations of 1 and storage_order).
LoadStatus window_parse_attrs(const AttrReader *r, OpKind kind, WindowAttrs *w);
// The input must be NCW or NCHW.
LoadStatus window_require_spatial_rank(const InferContext *c, const TensorShape *x);
// Output size and padding per spatial axis; sets the output shape (spatial axes).
// dilations: per spatial axis, NULL for pooling (1).
LoadStatus window_resolve(const InferContext *c, const WindowAttrs *w, const TensorShape *x,
                          const int64_t *kernel, const int64_t *dilations, Window2D *r);
// AveragePool's and MaxPool's shape rule.
LoadStatus window_infer_pool(const InferContext *c);

#endif
