#include "onnx_tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_util.h"

// A tensor file larger than this is refused before reading (the largest tensors
// sdinfer handles are batches of images and logits).
#define MAX_TENSOR_FILE_BYTES ((size_t)1 << 30)

static const char *dtype_name(int dtype) {
    static const char *names[] = {"UNDEFINED", "FLOAT",  "UINT8",  "INT8",      "UINT16",
                                  "INT16",     "INT32",  "INT64",  "STRING",    "BOOL",
                                  "FLOAT16",   "DOUBLE", "UINT32", "UINT64",    "COMPLEX64",
                                  "COMPLEX128", "BFLOAT16"};
    if (dtype >= 0 && dtype < (int)(sizeof names / sizeof names[0])) return names[dtype];
    return "unknown";
}

// Little-endian decoding, whatever the host's byte order (the format is fixed LE).
static float float_from_le(const uint8_t *bytes) {
    uint32_t bits = (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 |
                    (uint32_t)bytes[3] << 24;
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static int64_t int64_from_le(const uint8_t *bytes) {
    uint64_t bits = 0;
    for (int i = 7; i >= 0; i--) bits = bits << 8 | bytes[i];
    return (int64_t)bits;
}

static LoadStatus check_layout(const Onnx__TensorProto *proto, const char *what, TensorShape *shape,
                               char *err, size_t err_len) {
    if (proto->segment) {
        snprintf(err, err_len, "%s: segmented tensors are not supported", what);
        return LOAD_UNSUPPORTED;
    }
    if (proto->n_external_data > 0 ||
        (proto->has_data_location &&
         proto->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)) {
        snprintf(err, err_len, "%s: external data files are not supported", what);
        return LOAD_UNSUPPORTED;
    }
    if (!proto->has_data_type) {
        snprintf(err, err_len, "%s: tensor has no data_type", what);
        return LOAD_INVALID;
    }
    if (proto->data_type != ONNX_DTYPE_FLOAT && proto->data_type != ONNX_DTYPE_INT64) {
        snprintf(err, err_len, "%s: element type %s (%d) is not supported (only FLOAT and INT64)",
                 what, dtype_name(proto->data_type), (int)proto->data_type);
        return LOAD_UNSUPPORTED;
    }
    if (proto->n_dims > SD_MAX_DIMS) {
        snprintf(err, err_len, "%s: rank %zu is more than the supported %d", what, proto->n_dims,
                 SD_MAX_DIMS);
        return LOAD_UNSUPPORTED;
    }
    shape->rank = (int)proto->n_dims;
    for (size_t axis = 0; axis < proto->n_dims; axis++) shape->dims[axis] = proto->dims[axis];
    if (shape_element_count(shape) < 0) {
        char text[160];
        snprintf(err, err_len, "%s: invalid or too large dims %s", what,
                 shape_format(shape, text, sizeof text));
        return LOAD_INVALID;
    }
    return LOAD_OK;
}

// Which typed field may hold the data for this element type; any other typed
// field being non-empty is a malformed tensor.
static LoadStatus check_fields(const Onnx__TensorProto *proto, const char *what, size_t count,
                               char *err, size_t err_len) {
    int is_float = proto->data_type == ONNX_DTYPE_FLOAT;
    size_t typed_count = is_float ? proto->n_float_data : proto->n_int64_data;
    size_t other_count = (is_float ? proto->n_int64_data : proto->n_float_data) +
                         proto->n_int32_data + proto->n_string_data + proto->n_double_data +
                         proto->n_uint64_data;
    size_t element_bytes = is_float ? 4 : 8;
    if (other_count > 0) {
        snprintf(err, err_len, "%s: %s tensor carries data in a field of another type", what,
                 dtype_name(proto->data_type));
        return LOAD_INVALID;
    }
    if (proto->has_raw_data && typed_count > 0) {
        snprintf(err, err_len, "%s: both raw_data and %s are set", what,
                 is_float ? "float_data" : "int64_data");
        return LOAD_INVALID;
    }
    if (proto->has_raw_data) {
        if (proto->raw_data.len / element_bytes != count || proto->raw_data.len % element_bytes) {
            snprintf(err, err_len, "%s: raw_data has %zu bytes, the dims need %zu x %zu = %zu", what,
                     proto->raw_data.len, count, element_bytes, count * element_bytes);
            return LOAD_INVALID;
        }
    } else if (typed_count != count) {
        snprintf(err, err_len, "%s: %s has %zu values, the dims need %zu", what,
                 is_float ? "float_data" : "int64_data", typed_count, count);
        return LOAD_INVALID;
    }
    return LOAD_OK;
}

LoadStatus onnx_tensor_decode(const Onnx__TensorProto *proto, const char *what, HostTensor **out,
                              char *err, size_t err_len) {
    *out = NULL;
    TensorShape shape;
    LoadStatus status = check_layout(proto, what, &shape, err, err_len);
    if (status != LOAD_OK) return status;
    size_t count = (size_t)shape_element_count(&shape);
    status = check_fields(proto, what, count, err, err_len);
    if (status != LOAD_OK) return status;
    HostTensor *tensor = host_tensor_create(proto->data_type, &shape);
    if (!tensor) {
        snprintf(err, err_len, "%s: out of memory for %zu elements", what, count);
        return LOAD_INVALID;
    }
    const uint8_t *raw = proto->has_raw_data ? proto->raw_data.data : NULL;
    for (size_t i = 0; i < count; i++) {
        if (tensor->dtype == ONNX_DTYPE_FLOAT)
            tensor->floats[i] = (real)(raw ? float_from_le(raw + 4 * i) : proto->float_data[i]);
        else
            tensor->ints[i] = raw ? int64_from_le(raw + 8 * i) : proto->int64_data[i];
    }
    *out = tensor;
    return LOAD_OK;
}

LoadStatus onnx_tensor_read_file(const char *path, HostTensor **out, char *err, size_t err_len) {
    *out = NULL;
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (file_read_bounded(path, MAX_TENSOR_FILE_BYTES, &bytes, &size, err, err_len) != 0)
        return LOAD_INVALID;
    Onnx__TensorProto *proto = onnx__tensor_proto__unpack(NULL, size, bytes);
    free(bytes);
    if (!proto) {
        snprintf(err, err_len, "%s: not a valid ONNX TensorProto file", path);
        return LOAD_INVALID;
    }
    char what[4200];
    snprintf(what, sizeof what, "%s", path);
    LoadStatus status = onnx_tensor_decode(proto, what, out, err, err_len);
    onnx__tensor_proto__free_unpacked(proto, NULL);
    return status;
}

int onnx_tensor_write_file(const char *path, const HostTensor *tensor, const char *name, char *err,
                           size_t err_len) {
    if (tensor->dtype != ONNX_DTYPE_FLOAT && tensor->dtype != ONNX_DTYPE_INT64) {
        snprintf(err, err_len, "%s: only FLOAT and INT64 tensors are written", path);
        return -1;
    }
    int is_float = tensor->dtype == ONNX_DTYPE_FLOAT;
    size_t element_bytes = is_float ? 4 : 8;
    uint8_t *raw = malloc(tensor->count * element_bytes + 1);
    if (!raw) {
        snprintf(err, err_len, "%s: out of memory", path);
        return -1;
    }
    for (size_t i = 0; i < tensor->count; i++) {
        uint64_t bits;
        if (is_float) {
            float value = (float)tensor->floats[i];
            uint32_t bits32;
            memcpy(&bits32, &value, sizeof bits32);
            bits = bits32;
        } else {
            bits = (uint64_t)tensor->ints[i];
        }
        for (size_t byte = 0; byte < element_bytes; byte++)
            raw[i * element_bytes + byte] = (uint8_t)(bits >> (8 * byte));
    }
    Onnx__TensorProto proto;
    onnx__tensor_proto__init(&proto);
    int64_t dims[SD_MAX_DIMS];
    for (int axis = 0; axis < tensor->shape.rank; axis++) dims[axis] = tensor->shape.dims[axis];
    proto.n_dims = (size_t)tensor->shape.rank;
    proto.dims = dims;
    proto.has_data_type = 1;
    proto.data_type = tensor->dtype;
    proto.has_raw_data = 1;
    proto.raw_data.len = tensor->count * element_bytes;
    proto.raw_data.data = raw;
    proto.name = (char *)(name ? name : "");
    size_t packed_size = onnx__tensor_proto__get_packed_size(&proto);
    uint8_t *packed = malloc(packed_size + 1);
    if (!packed) {
        free(raw);
        snprintf(err, err_len, "%s: out of memory", path);
        return -1;
    }
    onnx__tensor_proto__pack(&proto, packed);
    int result = file_write_atomic(path, packed, packed_size, err, err_len);
    free(packed);
    free(raw);
    return result;
}
