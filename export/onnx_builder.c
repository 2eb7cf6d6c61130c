#include "onnx_builder.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/atomic_file.h"

// Attributes per node are few (Conv: kernel_shape, strides, pads); the array
// is allocated once with room for this many.
#define MAX_ATTRIBUTES 8

int onnx_ir_version_for_opset(int opset) {
    if (opset < ONNX_MIN_OPSET || opset > ONNX_MAX_OPSET) return -1;
    if (opset == 11) return 6;  // ONNX 1.6
    if (opset <= 14) return 7;  // ONNX 1.7 - 1.9
    return 8;                   // ONNX 1.10 - 1.12
}

// ---- ownership ------------------------------------------------------------------------

static void *own(OnnxBuilder *b, void *pointer) {
    if (!pointer) {
        b->out_of_memory = 1;
        return NULL;
    }
    if (b->n_owned == b->owned_capacity) {
        size_t capacity = b->owned_capacity ? 2 * b->owned_capacity : 256;
        void **grown = realloc(b->owned, capacity * sizeof *grown);
        if (!grown) {
            free(pointer);
            b->out_of_memory = 1;
            return NULL;
        }
        b->owned = grown;
        b->owned_capacity = capacity;
    }
    b->owned[b->n_owned++] = pointer;
    return pointer;
}

static void *alloc_zeroed(OnnxBuilder *b, size_t count, size_t size) {
    return own(b, calloc(count ? count : 1, size));
}

static char *copy_string(OnnxBuilder *b, const char *text) { return own(b, strdup(text)); }

// Appends item to a growable array of message pointers; sets out_of_memory on failure.
#define APPEND(b, array, count, capacity, item)                                      \
    do {                                                                             \
        if ((count) == (capacity)) {                                                 \
            size_t new_capacity_ = (capacity) ? 2 * (capacity) : 16;                 \
            void *grown_ = realloc((array), new_capacity_ * sizeof *(array));        \
            if (!grown_) {                                                           \
                (b)->out_of_memory = 1;                                              \
                break;                                                               \
            }                                                                        \
            (array) = grown_;                                                        \
            (capacity) = new_capacity_;                                              \
        }                                                                            \
        (array)[(count)++] = (item);                                                 \
    } while (0)

// ---- model -------------------------------------------------------------------------------

int onnx_builder_init(OnnxBuilder *b, int opset, const char *graph_name, const char *producer,
                      const char *producer_version) {
    memset(b, 0, sizeof *b);
    onnx__model_proto__init(&b->model);
    onnx__graph_proto__init(&b->graph);
    onnx__operator_set_id_proto__init(&b->opset);
    int ir_version = onnx_ir_version_for_opset(opset);
    if (ir_version < 0) return -1;
    b->opset.domain = copy_string(b, "");  // the default ai.onnx domain
    b->opset.has_version = 1;
    b->opset.version = opset;
    b->opset_list[0] = &b->opset;
    b->model.has_ir_version = 1;
    b->model.ir_version = ir_version;
    b->model.n_opset_import = 1;
    b->model.opset_import = b->opset_list;
    b->model.producer_name = copy_string(b, producer);
    b->model.producer_version = copy_string(b, producer_version);
    b->graph.name = copy_string(b, graph_name);
    b->model.graph = &b->graph;
    return b->out_of_memory ? -1 : 0;
}

void onnx_builder_free(OnnxBuilder *b) {
    for (size_t i = 0; i < b->n_owned; i++) free(b->owned[i]);
    free(b->owned);
    free(b->graph.node);
    free(b->graph.initializer);
    free(b->graph.input);
    free(b->graph.output);
    free(b->model.metadata_props);
    memset(b, 0, sizeof *b);
}

// ---- initializers ----------------------------------------------------------------------------

static const char *add_initializer(OnnxBuilder *b, const char *name, int rank,
                                   const int64_t *dims, int32_t data_type, const void *data,
                                   size_t element_size) {
    Onnx__TensorProto *tensor = alloc_zeroed(b, 1, sizeof *tensor);
    int64_t *dims_copy = alloc_zeroed(b, (size_t)rank, sizeof *dims_copy);
    size_t count = 1;
    for (int d = 0; d < rank; d++) count *= (size_t)dims[d];
    uint8_t *raw = alloc_zeroed(b, count, element_size);
    char *name_copy = copy_string(b, name);
    if (!tensor || !dims_copy || !raw || !name_copy) return NULL;
    onnx__tensor_proto__init(tensor);
    memcpy(dims_copy, dims, (size_t)rank * sizeof *dims_copy);
    memcpy(raw, data, count * element_size);  // little-endian host: already the ONNX byte order
    tensor->name = name_copy;
    tensor->n_dims = (size_t)rank;
    tensor->dims = dims_copy;
    tensor->has_data_type = 1;
    tensor->data_type = data_type;
    tensor->has_raw_data = 1;
    tensor->raw_data.len = count * element_size;
    tensor->raw_data.data = raw;
    APPEND(b, b->graph.initializer, b->graph.n_initializer, b->initializer_capacity, tensor);
    return name_copy;
}

const char *onnx_initializer_float(OnnxBuilder *b, const char *name, int rank,
                                   const int64_t *dims, const float *data) {
    return add_initializer(b, name, rank, dims, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, data,
                           sizeof(float));
}

const char *onnx_initializer_int64(OnnxBuilder *b, const char *name, int rank,
                                   const int64_t *dims, const int64_t *data) {
    return add_initializer(b, name, rank, dims, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, data,
                           sizeof(int64_t));
}

// ---- nodes ----------------------------------------------------------------------------------

Onnx__NodeProto *onnx_node(OnnxBuilder *b, const char *op_type, const char *node_name,
                           int n_inputs, const char *const *inputs, const char *output) {
    Onnx__NodeProto *node = alloc_zeroed(b, 1, sizeof *node);
    char **input_names = alloc_zeroed(b, (size_t)n_inputs, sizeof *input_names);
    char **output_names = alloc_zeroed(b, 1, sizeof *output_names);
    Onnx__AttributeProto **attributes = alloc_zeroed(b, MAX_ATTRIBUTES, sizeof *attributes);
    if (!node || !input_names || !output_names || !attributes) return NULL;
    onnx__node_proto__init(node);
    for (int i = 0; i < n_inputs; i++) input_names[i] = copy_string(b, inputs[i]);
    output_names[0] = copy_string(b, output);
    node->n_input = (size_t)n_inputs;
    node->input = input_names;
    node->n_output = 1;
    node->output = output_names;
    node->name = copy_string(b, node_name);
    node->op_type = copy_string(b, op_type);
    node->attribute = attributes;
    if (b->out_of_memory) return NULL;
    APPEND(b, b->graph.node, b->graph.n_node, b->node_capacity, node);
    return b->out_of_memory ? NULL : node;
}

static Onnx__AttributeProto *new_attribute(OnnxBuilder *b, Onnx__NodeProto *node,
                                           const char *name,
                                           Onnx__AttributeProto__AttributeType type) {
    if (!node || node->n_attribute == MAX_ATTRIBUTES) {
        b->out_of_memory = 1;
        return NULL;
    }
    Onnx__AttributeProto *attribute = alloc_zeroed(b, 1, sizeof *attribute);
    if (!attribute) return NULL;
    onnx__attribute_proto__init(attribute);
    attribute->name = copy_string(b, name);
    attribute->has_type = 1;
    attribute->type = type;
    node->attribute[node->n_attribute++] = attribute;
    return attribute;
}

void onnx_attr_int(OnnxBuilder *b, Onnx__NodeProto *node, const char *name, int64_t value) {
    Onnx__AttributeProto *a = new_attribute(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (!a) return;
    a->has_i = 1;
    a->i = value;
}

void onnx_attr_float(OnnxBuilder *b, Onnx__NodeProto *node, const char *name, float value) {
    Onnx__AttributeProto *a =
        new_attribute(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (!a) return;
    a->has_f = 1;
    a->f = value;
}

void onnx_attr_ints(OnnxBuilder *b, Onnx__NodeProto *node, const char *name, int count,
                    const int64_t *values) {
    Onnx__AttributeProto *a =
        new_attribute(b, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *copy = a ? alloc_zeroed(b, (size_t)count, sizeof *copy) : NULL;
    if (!copy) return;
    memcpy(copy, values, (size_t)count * sizeof *copy);
    a->n_ints = (size_t)count;
    a->ints = copy;
}

// ---- graph inputs and outputs ------------------------------------------------------------------

static Onnx__ValueInfoProto *float_value_info(OnnxBuilder *b, const char *name, int rank,
                                              const int64_t *dims, const char *dim_param) {
    Onnx__ValueInfoProto *info = alloc_zeroed(b, 1, sizeof *info);
    Onnx__TypeProto *type = alloc_zeroed(b, 1, sizeof *type);
    Onnx__TypeProto__Tensor *tensor_type = alloc_zeroed(b, 1, sizeof *tensor_type);
    Onnx__TensorShapeProto *shape = alloc_zeroed(b, 1, sizeof *shape);
    Onnx__TensorShapeProto__Dimension **dim_list = alloc_zeroed(b, (size_t)rank, sizeof *dim_list);
    if (!info || !type || !tensor_type || !shape || !dim_list) return NULL;
    onnx__value_info_proto__init(info);
    onnx__type_proto__init(type);
    onnx__type_proto__tensor__init(tensor_type);
    onnx__tensor_shape_proto__init(shape);
    for (int d = 0; d < rank; d++) {
        Onnx__TensorShapeProto__Dimension *dim = alloc_zeroed(b, 1, sizeof *dim);
        if (!dim) return NULL;
        onnx__tensor_shape_proto__dimension__init(dim);
        if (dims[d] < 0) {
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dim->dim_param = copy_string(b, dim_param);
        } else {
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dim->dim_value = dims[d];
        }
        dim_list[d] = dim;
    }
    shape->n_dim = (size_t)rank;
    shape->dim = dim_list;
    tensor_type->has_elem_type = 1;
    tensor_type->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tensor_type->shape = shape;
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tensor_type;
    info->name = copy_string(b, name);
    info->type = type;
    return b->out_of_memory ? NULL : info;
}

void onnx_graph_input(OnnxBuilder *b, const char *name, int rank, const int64_t *dims,
                      const char *dim_param) {
    Onnx__ValueInfoProto *info = float_value_info(b, name, rank, dims, dim_param);
    if (info) APPEND(b, b->graph.input, b->graph.n_input, b->input_capacity, info);
}

void onnx_graph_output(OnnxBuilder *b, const char *name, int rank, const int64_t *dims,
                       const char *dim_param) {
    Onnx__ValueInfoProto *info = float_value_info(b, name, rank, dims, dim_param);
    if (info) APPEND(b, b->graph.output, b->graph.n_output, b->output_capacity, info);
}

void onnx_metadata(OnnxBuilder *b, const char *key, const char *value) {
    Onnx__StringStringEntryProto *entry = alloc_zeroed(b, 1, sizeof *entry);
    if (!entry) return;
    onnx__string_string_entry_proto__init(entry);
    entry->key = copy_string(b, key);
    entry->value = copy_string(b, value);
    if (!b->out_of_memory)
        APPEND(b, b->model.metadata_props, b->model.n_metadata_props, b->metadata_capacity, entry);
}

void onnx_model_doc(OnnxBuilder *b, const char *text) { b->model.doc_string = copy_string(b, text); }

// ---- output ------------------------------------------------------------------------------------

uint8_t *onnx_builder_pack(OnnxBuilder *b, size_t *size) {
    if (b->out_of_memory) return NULL;
    size_t packed_size = onnx__model_proto__get_packed_size(&b->model);
    if (packed_size > (size_t)INT32_MAX) return NULL;  // protobuf messages stop at 2 GiB
    uint8_t *buffer = malloc(packed_size ? packed_size : 1);
    if (!buffer) return NULL;
    *size = onnx__model_proto__pack(&b->model, buffer);
    return buffer;
}

int onnx_builder_write(OnnxBuilder *b, const char *path, char *err, size_t err_len) {
    size_t size = 0;
    uint8_t *buffer = onnx_builder_pack(b, &size);
    if (!buffer) {
        snprintf(err, err_len, "%s: out of memory, or the model exceeds protobuf's 2 GiB limit",
                 path);
        return -1;
    }
    int result = atomic_write_file(path, buffer, size, err, err_len);
    free(buffer);
    return result;
}
