// Where one tensor's bytes live when its TensorProto says data_location =
// EXTERNAL: the external_data key/value entries read and checked, before any
// file is opened (infer/onnx_external.h reads the bytes).
//
// The ONNX keys: "location" (required: a path relative to the model file's
// directory), "offset" and "length" (optional: decimal byte counts; offset 0 and
// the tensor's byte size when absent), "checksum" (optional SHA-1, accepted and
// not verified). Keys starting with "prepacked" (onnxruntime's cached
// pre-packed forms of a weight, an optional extra) are ignored; any other key
// is refused, since it may change how the bytes are to be read.
#ifndef SD_INFER_EXTERNAL_REF_H
#define SD_INFER_EXTERNAL_REF_H

#include <stddef.h>
#include <stdint.h>

#include "load_status.h"
#include "onnx.pb-c.h"

typedef struct {
    const char *location;  // borrowed from the TensorProto: relative, no ".." component
    uint64_t offset;       // first byte in the data file
    size_t bytes;          // the tensor's size, dims x element size (= "length" when given)
} ExternalRef;

// Whether the tensor claims external data: data_location = EXTERNAL, or
// external_data entries present (refused by external_ref_parse without EXTERNAL).
int external_ref_claimed(const Onnx__TensorProto *tensor);

// Reads and checks the entries of a tensor for which external_ref_claimed holds.
// what names the tensor in messages ("model.onnx: initializer 'W'").
LoadStatus external_ref_parse(const Onnx__TensorProto *tensor, const char *what, ExternalRef *ref,
                              char *err, size_t err_len);

#endif
