// Building an ONNX model (the generated protobuf-c types of onnx.proto) node by
// node, then packing it into a file.
//
// The builder owns every string, array and message it creates and frees them
// all in onnx_builder_free: callers pass their own (temporary) strings and data,
// which are copied. Allocation failures are sticky: the calls return NULL and
// onnx_builder_write reports "out of memory".
#ifndef SD_ONNX_BUILDER_H
#define SD_ONNX_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "onnx.pb-c.h"

typedef struct {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opset_list[1];
    size_t node_capacity, initializer_capacity, input_capacity, output_capacity,
        metadata_capacity;
    void **owned;  // everything allocated for the model, freed together
    size_t n_owned, owned_capacity;
    int out_of_memory;
} OnnxBuilder;

// Opsets this builder writes, and the IR version each needs (onnx.helper.VERSION_TABLE:
// the lowest IR version of the ONNX release that introduced the opset).
#define ONNX_MIN_OPSET 11
#define ONNX_MAX_OPSET 17
int onnx_ir_version_for_opset(int opset);  // -1 outside [ONNX_MIN_OPSET, ONNX_MAX_OPSET]

int onnx_builder_init(OnnxBuilder *b, int opset, const char *graph_name, const char *producer,
                      const char *producer_version);
void onnx_builder_free(OnnxBuilder *b);

// A float32 / int64 constant with the given shape; data are copied (as raw_data,
// little-endian). Returns the builder's copy of the name.
const char *onnx_initializer_float(OnnxBuilder *b, const char *name, int rank,
                                   const int64_t *dims, const float *data);
const char *onnx_initializer_int64(OnnxBuilder *b, const char *name, int rank,
                                   const int64_t *dims, const int64_t *data);

// A node with one output, named `output`. Inputs are value names. Returns the
// node for adding attributes, or NULL when out of memory.
Onnx__NodeProto *onnx_node(OnnxBuilder *b, const char *op_type, const char *node_name,
                           int n_inputs, const char *const *inputs, const char *output);
void onnx_attr_int(OnnxBuilder *b, Onnx__NodeProto *node, const char *name, int64_t value);
void onnx_attr_float(OnnxBuilder *b, Onnx__NodeProto *node, const char *name, float value);
void onnx_attr_ints(OnnxBuilder *b, Onnx__NodeProto *node, const char *name, int count,
                    const int64_t *values);

// A float32 graph input or output. dims[d] < 0 makes that dimension symbolic,
// named dim_param (e.g. the batch "N").
void onnx_graph_input(OnnxBuilder *b, const char *name, int rank, const int64_t *dims,
                      const char *dim_param);
void onnx_graph_output(OnnxBuilder *b, const char *name, int rank, const int64_t *dims,
                       const char *dim_param);

void onnx_metadata(OnnxBuilder *b, const char *key, const char *value);
void onnx_model_doc(OnnxBuilder *b, const char *text);

// Serialises the model into a new buffer (caller frees). Returns NULL when out of
// memory or when the model exceeds protobuf's 2 GiB message limit.
uint8_t *onnx_builder_pack(OnnxBuilder *b, size_t *size);
// Packs and writes atomically (no partial file on failure). 0, or -1 with a message.
int onnx_builder_write(OnnxBuilder *b, const char *path, char *err, size_t err_len);

#endif
