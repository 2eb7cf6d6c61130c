// An ONNX model loaded into sdinfer's own structures: every value (tensor
// name) and node, checked for structural validity, with attributes parsed and
// nodes in topological order. The protobuf message is freed once this exists.
//
// What load checks (anything else is left to shape inference in the planner):
//   - the file is bounded in size and is a ModelProto with a graph;
//   - IR version and the ai.onnx opset are ones sdinfer knows (opset <= 17),
//     and every node's op, version and attributes are supported;
//   - initializers decode and hold exactly the elements their dims say;
//   - every node input is defined (initializer, graph input or node output),
//     every value is produced at most once, graph outputs exist, no cycles.
#ifndef SD_INFER_ONNX_GRAPH_H
#define SD_INFER_ONNX_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "host_tensor.h"
#include "load_status.h"
#include "onnx_external.h"
#include "op_attrs.h"

// Models larger than this are refused before reading: protobuf's own limit for one
// message (2 GiB - 1). Larger models keep their weights in external data files
// (onnx_external.h), which this limit does not count.
#define SD_MAX_MODEL_BYTES ((size_t)INT32_MAX)

typedef struct {
    char *name;
    int elem_type;       // declared ONNX element type, 0 when nothing was declared
    int declared_rank;   // -1 when no shape was declared
    int64_t declared_dims[SD_MAX_DIMS];  // -1: symbolic (dim_param) or unknown
    HostTensor *constant;  // owned: an initializer or a Constant node's value, else NULL
    int producer;          // the producing node's index in nodes[], -1 otherwise
    int is_input;          // a runtime graph input (fed by the caller)
    int is_output;         // a graph output
} GraphValue;

typedef struct {
    char *name;  // the node's name, or "#<position in the file>" when it has none
    OpAttrs attrs;
    int n_inputs;
    int *inputs;  // value ids; -1 where an optional input is omitted
    int n_outputs;
    int *outputs;  // value ids; -1 where an optional output is omitted
} GraphNode;

typedef struct {
    char *source;  // the model's file name, for messages
    int64_t ir_version;
    int opset;  // of the default (ai.onnx) domain
    char *producer_name;
    int n_values;
    GraphValue *values;
    int n_nodes;
    GraphNode *nodes;  // topological order; Constant nodes are already folded into values
    int n_inputs;
    int *inputs;  // runtime graph inputs, value ids, in the file's order
    int n_outputs;
    int *outputs;  // value ids, in the file's order
    int n_metadata;
    char **metadata_keys;
    char **metadata_values;
} OnnxGraph;

// External data files are found next to the model file (onnx_external.h).
LoadStatus onnx_graph_load_file(const char *path, OnnxGraph **out, char *err, size_t err_len);
// source names the bytes in messages. Bytes from memory have no directory: a
// model with external data is refused.
LoadStatus onnx_graph_load_buffer(const uint8_t *data, size_t size, const char *source,
                                  OnnxGraph **out, char *err, size_t err_len);
// The same, with external data found and bounded as external says (NULL: as above).
LoadStatus onnx_graph_load_buffer_with(const uint8_t *data, size_t size, const char *source,
                                       const OnnxExternalOptions *external, OnnxGraph **out,
                                       char *err, size_t err_len);
void onnx_graph_free(OnnxGraph *graph);

// metadata_props value for key, or NULL.
const char *onnx_graph_metadata(const OnnxGraph *graph, const char *key);
// "model.onnx: node 'conv1' (Conv)" into buffer.
const char *onnx_graph_node_where(const OnnxGraph *graph, int node, char *buffer,
                                  size_t buffer_len);

// Whether some node consumes the value at an input slot that must be a
// plan-time constant (Reshape's shape, Pad's pads, Slice's bounds).
int onnx_graph_value_needs_constant(const OnnxGraph *graph, int value);
// Turns runtime input number input_index into a constant with the given value
// (takes ownership of tensor). For test data sets whose shape vectors are
// graph inputs. Returns 0, or -1 with a message when the shapes disagree.
int onnx_graph_bind_input(OnnxGraph *graph, int input_index, HostTensor *tensor, char *err,
                          size_t err_len);

#endif
