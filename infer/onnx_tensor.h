// ONNX TensorProto <-> HostTensor: decoding the initializers and Constant
// values of a model, and reading/writing the .pb tensor files of the ONNX
// backend test data (and sdinfer's --input-tensor/--output-tensor).
#ifndef SD_INFER_ONNX_TENSOR_H
#define SD_INFER_ONNX_TENSOR_H

#include <stddef.h>

#include "host_tensor.h"
#include "load_status.h"
#include "onnx.pb-c.h"

// Decodes a TensorProto: checks dims, type, and that the data (raw_data, or
// float_data / int64_data) holds exactly the number of elements the dims say.
// what names the tensor in messages (e.g. "model.onnx: initializer 'conv1.weight'").
LoadStatus onnx_tensor_decode(const Onnx__TensorProto *proto, const char *what, HostTensor **out,
                              char *err, size_t err_len);

// Reads a TensorProto file (bounded size).
LoadStatus onnx_tensor_read_file(const char *path, HostTensor **out, char *err, size_t err_len);

// Writes a float or int64 tensor as a TensorProto file with raw_data, atomically.
int onnx_tensor_write_file(const char *path, const HostTensor *tensor, const char *name, char *err,
                           size_t err_len);

#endif
