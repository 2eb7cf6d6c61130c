#include "external_ref.h"

#include <stdio.h>
#include <string.h>

#include "host_tensor.h"

// The recognised keys' values; NULL where a key is absent.
typedef struct {
    const char *location, *offset, *length, *checksum;
} Entries;

int external_ref_claimed(const Onnx__TensorProto *tensor) {
    return tensor->n_external_data > 0 ||
           (tensor->has_data_location &&
            tensor->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL);
}

// Bytes per element of the fixed-size ONNX element types (TensorProto.DataType
// 1..16); 0 for STRING, which has no fixed size, and for codes unknown here.
static size_t element_bytes(int32_t dtype) {
    static const size_t sizes[] = {0, 4, 1, 1, 2, 2, 4, 8, 0, 1, 2, 8, 4, 8, 8, 16, 2};
    return dtype >= 0 && dtype < (int32_t)(sizeof sizes / sizeof sizes[0]) ? sizes[dtype] : 0;
}

// dims x element size, with the limits onnx_tensor_decode applies to every
// tensor (its own messages): nothing larger is ever read.
static LoadStatus tensor_bytes(const Onnx__TensorProto *tensor, const char *what, size_t *bytes,
                               char *err, size_t err_len) {
    size_t element = tensor->has_data_type ? element_bytes(tensor->data_type) : 0;
    if (element == 0) {
        snprintf(err, err_len, "%s: external data of element type %d is not supported", what,
                 tensor->has_data_type ? (int)tensor->data_type : 0);
        return LOAD_UNSUPPORTED;
    }
    if (tensor->n_dims > SD_MAX_DIMS) {
        snprintf(err, err_len, "%s: rank %zu is more than the supported %d", what, tensor->n_dims,
                 SD_MAX_DIMS);
        return LOAD_UNSUPPORTED;
    }
    TensorShape shape = {.rank = (int)tensor->n_dims};
    for (size_t axis = 0; axis < tensor->n_dims; axis++) shape.dims[axis] = tensor->dims[axis];
    int64_t count = shape_element_count(&shape);
    if (count < 0) {
        char text[160];
        snprintf(err, err_len, "%s: invalid or too large dims %s", what,
                 shape_format(&shape, text, sizeof text));
        return LOAD_INVALID;
    }
    *bytes = (size_t)count * element;  // count <= 2^30, element <= 16: no overflow
    return LOAD_OK;
}

// A non-empty run of ASCII digits whose value is at most max (no sign, no
// spaces: strtoull would take "-1" and " 7"). 0, or -1.
static int parse_decimal(const char *text, uint64_t max, uint64_t *value) {
    if (!text[0]) return -1;
    uint64_t result = 0;
    for (const char *c = text; *c; c++) {
        if (*c < '0' || *c > '9') return -1;
        uint64_t digit = (uint64_t)(*c - '0');
        if (result > (max - digit) / 10) return -1;
        result = result * 10 + digit;
    }
    *value = result;
    return 0;
}

// Where a recognised key's value goes; NULL for a key ONNX does not define.
static const char **entry_slot(Entries *e, const char *key) {
    if (strcmp(key, "location") == 0) return &e->location;
    if (strcmp(key, "offset") == 0) return &e->offset;
    if (strcmp(key, "length") == 0) return &e->length;
    if (strcmp(key, "checksum") == 0) return &e->checksum;
    return NULL;
}

static LoadStatus read_entries(const Onnx__TensorProto *tensor, const char *what, Entries *e,
                               char *err, size_t err_len) {
    for (size_t i = 0; i < tensor->n_external_data; i++) {
        const char *key = tensor->external_data[i]->key;
        const char *value = tensor->external_data[i]->value;
        if (!key || !value) {
            snprintf(err, err_len, "%s: external data entry #%zu has no %s", what, i,
                     key ? "value" : "key");
            return LOAD_INVALID;
        }
        const char **slot = entry_slot(e, key);
        if (!slot && strncmp(key, "prepacked", 9) == 0) continue;  // see external_ref.h
        if (!slot) {
            snprintf(err, err_len, "%s: unknown external data key '%.100s' (known: location, "
                     "offset, length, checksum)", what, key);
            return LOAD_UNSUPPORTED;
        }
        if (*slot) {
            snprintf(err, err_len, "%s: external data key '%s' appears twice", what, key);
            return LOAD_INVALID;
        }
        *slot = value;
    }
    return LOAD_OK;
}

// Relative, and no ".." component: the file stays under the model's directory,
// as onnxruntime requires (symbolic links inside it are followed).
static LoadStatus check_location(const char *location, const char *what, char *err,
                                 size_t err_len) {
    if (!location) {
        snprintf(err, err_len, "%s: external data has no 'location'", what);
        return LOAD_INVALID;
    }
    if (!location[0]) {
        snprintf(err, err_len, "%s: external data 'location' is empty", what);
        return LOAD_INVALID;
    }
    if (location[0] == '/') {
        snprintf(err, err_len, "%s: external data location '%.300s' is an absolute path (it must "
                 "be relative to the model's directory)", what, location);
        return LOAD_INVALID;
    }
    for (const char *part = location; part;) {
        const char *slash = strchr(part, '/');
        size_t len = slash ? (size_t)(slash - part) : strlen(part);
        if (len == 2 && part[0] == '.' && part[1] == '.') {
            snprintf(err, err_len, "%s: external data location '%.300s' leaves the model's "
                     "directory (a '..' component)", what, location);
            return LOAD_INVALID;
        }
        part = slash ? slash + 1 : NULL;
    }
    return LOAD_OK;
}

// Data in the model's own fields as well as outside it: which is meant?
static LoadStatus check_no_inline_data(const Onnx__TensorProto *tensor, const char *what,
                                       char *err, size_t err_len) {
    if (!tensor->has_data_location ||
        tensor->data_location != ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        snprintf(err, err_len, "%s: has external_data entries, but its data_location is not "
                 "EXTERNAL", what);
        return LOAD_INVALID;
    }
    size_t typed = tensor->n_float_data + tensor->n_int32_data + tensor->n_string_data +
                   tensor->n_int64_data + tensor->n_double_data + tensor->n_uint64_data;
    if (tensor->has_raw_data || typed > 0) {
        snprintf(err, err_len, "%s: has external data and data inside the model (%s)", what,
                 tensor->has_raw_data ? "raw_data" : "a typed data field");
        return LOAD_INVALID;
    }
    return LOAD_OK;
}

static LoadStatus parse_offset_and_length(const Entries *e, const char *what, ExternalRef *ref,
                                          char *err, size_t err_len) {
    ref->offset = 0;
    if (e->offset && parse_decimal(e->offset, INT64_MAX, &ref->offset) != 0) {
        snprintf(err, err_len, "%s: external data offset '%.100s' is not a decimal number of "
                 "bytes below 2^63", what, e->offset);
        return LOAD_INVALID;
    }
    uint64_t length;
    if (!e->length) return LOAD_OK;
    if (parse_decimal(e->length, INT64_MAX, &length) != 0) {
        snprintf(err, err_len, "%s: external data length '%.100s' is not a decimal number of "
                 "bytes below 2^63", what, e->length);
        return LOAD_INVALID;
    }
    if (length != ref->bytes) {
        snprintf(err, err_len, "%s: external data length %llu differs from the %zu bytes its "
                 "dims and type need", what, (unsigned long long)length, ref->bytes);
        return LOAD_INVALID;
    }
    return LOAD_OK;
}

LoadStatus external_ref_parse(const Onnx__TensorProto *tensor, const char *what, ExternalRef *ref,
                              char *err, size_t err_len) {
    memset(ref, 0, sizeof *ref);
    Entries entries = {0};
    LoadStatus status = check_no_inline_data(tensor, what, err, err_len);
    if (status == LOAD_OK) status = read_entries(tensor, what, &entries, err, err_len);
    if (status == LOAD_OK) status = check_location(entries.location, what, err, err_len);
    if (status == LOAD_OK) status = tensor_bytes(tensor, what, &ref->bytes, err, err_len);
    if (status == LOAD_OK) status = parse_offset_and_length(&entries, what, ref, err, err_len);
    ref->location = entries.location;
    return status;
}
