// The attributes of one node, parsed and checked once at load time into a
// per-op struct, so the planner never touches protobuf again. Attribute values
// sdinfer cannot honour (group != 1, dilations, non-constant pad modes,
// training-mode batch norm, ...) are refused here, naming the attribute.
#ifndef SD_INFER_OP_ATTRS_H
#define SD_INFER_OP_ATTRS_H

#include <stddef.h>
#include <stdint.h>

#include "host_tensor.h"
#include "load_status.h"
#include "onnx.pb-c.h"
#include "op_params.h"
#include "op_registry.h"

typedef enum { AUTO_PAD_NOTSET, AUTO_PAD_SAME_UPPER, AUTO_PAD_SAME_LOWER, AUTO_PAD_VALID } AutoPad;

// Conv, AveragePool, MaxPool. Spatial rank 1 or 2 (a 1-D window runs as 2-D with height 1).
typedef struct {
    int n_kernel, n_strides, n_pads;  // how many entries the attributes had (0: absent)
    int64_t kernel[2];
    int64_t strides[2];
    int64_t pads[4];  // ONNX order: begin of each spatial axis, then end of each
    AutoPad auto_pad;
    int ceil_mode;
    int count_include_pad;
    int64_t group;         // Conv
    int64_t dilations[2];  // Conv (1 when absent)
} WindowAttrs;

typedef struct {
    float alpha, beta;
    int trans_a, trans_b;
} GemmAttrs;

// Pad-2 keeps its pads and value as attributes; Pad-11+ takes them as inputs.
typedef struct {
    int from_attributes;
    int mode;  // PadMode
    int n_pads;
    int64_t pads[2 * SD_MAX_DIMS];
    float value;
} PadAttrs;

typedef struct {
    OpKind kind;
    int version;
    union {
        WindowAttrs window;  // Conv, AveragePool, MaxPool
        GemmAttrs gemm;
        PadAttrs pad;
        float epsilon;      // BatchNormalization
        int64_t axis;       // Concat, Flatten, Softmax (the default filled in)
        int allowzero;      // Reshape
        int cast_to;        // Cast: the ONNX element type
        struct {
            int count;      // -1: the attribute is absent
            int64_t values[SD_MAX_DIMS];
            int keepdims;   // ReduceMean
        } axes;             // Unsqueeze/Squeeze before 13, ReduceMean (axes), Transpose (perm)
        struct {
            float alpha, beta;
        } activation;       // HardSigmoid (alpha, beta), Clip-6 (min, max)
        struct {
            int64_t start, end;
            int has_end;
        } shape_range;      // Shape-15
        SplitParams split;  // Split: axis and the `split` attribute (before version 13)
    } u;
    HostTensor *constant;  // Constant: its value; ConstantOfShape: the fill value (owned)
} OpAttrs;

// Parses and checks the node's attributes for an op of the given kind and
// version. where names the node in messages ("model.onnx: node 'conv1' (Conv)").
LoadStatus op_attrs_parse(const Onnx__NodeProto *node, OpKind kind, int version, const char *where,
                          OpAttrs *out, char *err, size_t err_len);
void op_attrs_free(OpAttrs *attrs);

#endif
