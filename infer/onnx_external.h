// ONNX external data: a pass over an unpacked ModelProto, before the graph is
// built, that reads every tensor whose bytes live in a file next to the model
// (TensorProto.data_location = EXTERNAL; external_ref.h checks the entries) and
// lends those bytes to the tensor as its raw_data, so that onnx_tensor_decode
// and the ops decode them like inline data. It covers the graph's initializers
// and the tensors of node attributes (Constant's and ConstantOfShape's value);
// not subgraphs (no op sdinfer runs has one) or sparse tensors (refused later).
//
// Bounded: the bytes of all external tensors together are checked against a
// limit before any data file is opened or any memory allocated for them, and a
// range past the end of its file is refused before its buffer is allocated.
//
// The bytes are lent, not given: protobuf-c frees an unpacked message's fields
// itself, so onnx_external_release puts every tensor back as unpacking left it
// (and frees the bytes); call it before onnx__model_proto__free_unpacked.
#ifndef SD_INFER_ONNX_EXTERNAL_H
#define SD_INFER_ONNX_EXTERNAL_H

#include <stddef.h>

#include "load_status.h"
#include "onnx.pb-c.h"

typedef struct {
    // The directory locations are relative to: the model file's ("" = the
    // current directory). NULL: the model came from memory and has none, so
    // a model with external data is refused.
    const char *base_dir;
    // The most bytes all external tensors together may have; 0: the host's memory.
    size_t max_bytes;
} OnnxExternalOptions;

typedef struct OnnxExternalData OnnxExternalData;

// Reads the external data of every tensor that has some into the model (see
// above); *lent (NULL when there was none) must go to onnx_external_release,
// on failure too. Messages start with source (the model's name).
LoadStatus onnx_external_resolve(Onnx__ModelProto *model, const char *source,
                                 const OnnxExternalOptions *options, OnnxExternalData **lent,
                                 char *err, size_t err_len);
// Puts the tensors back and frees the bytes. NULL is allowed.
void onnx_external_release(OnnxExternalData *lent);

// The directory part of a model file's path ("dir/m.onnx" -> "dir", "m.onnx"
// -> "", "/m.onnx" -> "/"), malloc'd; NULL when out of memory.
char *onnx_external_base_dir(const char *model_path);

#endif
