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
        struct {
            int batch, channels, spatial;
        } global_pool;
        struct {
            int64_t pads[2 * SD_MAX_DIMS];
            real value;
        } pad;
        struct {
            int axis;
        } concat;
        struct {
            int64_t starts[SD_MAX_DIMS], steps[SD_MAX_DIMS];
        } slice;
        struct {
            int64_t outer, inner;
        } softmax;
        struct {
            int m, n, k;  // op(A) is m x k, op(B) is k x n
        } gemm;
        struct {
            int m, n, k;  // per matrix product
            int64_t batch;   // number of products (1 when B is 2-D: A's leading dims fold into m)
            TensorShape a_batch, b_batch, out_batch;  // leading (batch) dims, rank-aligned
        } matmul;
    } geom;
} NodeGeometry;

// Infers node `node` of the graph. inputs[i] describes node input i (ignored
// where the node omits it). where names the node in messages.
LoadStatus shape_infer_node(const OnnxGraph *graph, int node, const ValueState *const *inputs,
                            const char *where, NodeGeometry *out, char *err, size_t err_len);

// ONNX multidirectional (numpy) broadcasting of two shapes. Returns 0, or -1 if incompatible.
int shape_broadcast(const TensorShape *a, const TensorShape *b, TensorShape *out);

#endif
