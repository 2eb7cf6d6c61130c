// Squeeze's and Unsqueeze's shared rules (axes.c): the axes (an attribute before version 13,
// a constant input after) and the output shape, for both ways the ops run: folded on the
// host when the input is a constant, a view of the input (no step) when it is an activation.
#ifndef SD_INFER_OPS_AXES_H
#define SD_INFER_OPS_AXES_H

#include "op_def.h"

typedef struct {
    int64_t values[SD_MAX_DIMS];
    int count;  // -1: none given (Squeeze then removes every axis of size 1)
} AxisList;

// The node's axes: the attribute (version < 13) or `input` (the constant input 1, NULL
// when absent). LOAD_OK, or a status with the reason in why.
LoadStatus axes_of_node(const OpAttrs *attrs, const HostTensor *input, AxisList *axes, char *why,
                        size_t why_len);
// The output shape of Squeeze / Unsqueeze on an input of shape x.
LoadStatus axes_squeezed(const TensorShape *x, const AxisList *axes, TensorShape *out, char *why,
                         size_t why_len);
LoadStatus axes_unsqueezed(const TensorShape *x, const AxisList *axes, TensorShape *out, char *why,
                           size_t why_len);

// The shape rule of both ops on an activation (the output is a view of the input).
LoadStatus axes_infer(const InferContext *c, int unsqueeze);
// Host evaluation of both ops on a constant.
LoadStatus axes_eval(const Eval *c, int unsqueeze);

#endif
