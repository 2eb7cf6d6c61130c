// Static shape inference for one node: from its input shapes (and the values
// of its plan-time constant inputs) to its output shape, plus the geometry the
// backend call needs (resolved pads, slice starts, softmax extents, ...).
// Every inconsistency (channel counts, broadcast, empty outputs, types) is
// reported naming the node.
#ifndef SD_INFER_SHAPE_INFER_H
#define SD_INFER_SHAPE_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "host_tensor.h"
#include "load_status.h"
#include "onnx_graph.h"
#include "op_params.h"

// What shape inference knows about one value.
typedef struct {
    int known;                  // shape and dtype are set
    int dtype;                  // ONNX_DTYPE_FLOAT or ONNX_DTYPE_INT64
    TensorShape shape;
    const HostTensor *constant;  // its value when known at plan time, else NULL
} ValueState;

typedef struct {
    TensorShape out;  // the output's shape (always float)
    union {
        ConvGeom conv;    // Conv (1-D convolutions run with height 1)
        PoolGeom pool;    // AveragePool, MaxPool
        BatchNormGeom batchnorm;
        GlobalPoolParams global_pool;
        PadParams pad;
        ConcatParams concat;
        SliceParams slice;
        SoftmaxParams softmax;
        struct {
            int m, n, k;  // op(A) is m x k, op(B) is k x n
        } gemm;
        MatmulParams matmul;
        TransposeParams transpose;
        ActivationParams activation;
        SplitParams split;  // Split: every output's extent along the axis
    } geom;
    ConvExtras conv_extras;  // Conv
} NodeGeometry;

// Infers node `node` of the graph. inputs[i] describes node input i (ignored
// where the node omits it). where names the node in messages.
LoadStatus shape_infer_node(const OnnxGraph *graph, int node, const ValueState *const *inputs,
                            const char *where, NodeGeometry *out, char *err, size_t err_len);

// ONNX multidirectional (numpy) broadcasting of two shapes. Returns 0, or -1 if incompatible.
int shape_broadcast(const TensorShape *a, const TensorShape *b, TensorShape *out);

#endif
