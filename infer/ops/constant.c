// Constant: its value becomes a graph value when the model is loaded
// (onnx_graph.c); it never reaches the planner.
#include <stdio.h>
#include <string.h>

#include "op_def.h"
#include "../onnx_tensor.h"

// A Constant node's value: exactly one of value, value_float(s), value_int(s).
static LoadStatus parse_constant(const AttrReader *r, HostTensor **out) {
    *out = NULL;
    if (r->node->n_attribute != 1) {
        snprintf(r->err, r->err_len, "%s: needs exactly one value attribute, has %zu", r->where,
                 r->node->n_attribute);
        return LOAD_INVALID;
    }
    const Onnx__AttributeProto *attr = r->node->attribute[0];
    const char *name = attr_name(attr);
    LoadStatus status = LOAD_OK;
    if (strcmp(name, "value") == 0) {
        attr = attr_typed(r, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR, &status);
        if (status != LOAD_OK) return status;
        if (!attr || !attr->t) {
            snprintf(r->err, r->err_len, "%s: attribute 'value' holds no tensor", r->where);
            return LOAD_INVALID;
        }
        return onnx_tensor_decode(attr->t, r->where, out, r->err, r->err_len);
    }
    int is_list = strcmp(name, "value_floats") == 0 || strcmp(name, "value_ints") == 0;
    int is_float = strcmp(name, "value_float") == 0 || strcmp(name, "value_floats") == 0;
    int type = is_float ? (is_list ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS
                                   : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)
                        : (is_list ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS
                                   : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    attr = attr_typed(r, name, type, &status);
    if (status != LOAD_OK) return status;
    size_t count = is_list ? (is_float ? attr->n_floats : attr->n_ints) : 1;
    TensorShape shape = {.rank = is_list ? 1 : 0, .dims = {(int64_t)count}};
    HostTensor *tensor =
        host_tensor_create(is_float ? ONNX_DTYPE_FLOAT : ONNX_DTYPE_INT64, &shape);
    if (!tensor) {
        snprintf(r->err, r->err_len, "%s: constant too large", r->where);
        return LOAD_INVALID;
    }
    for (size_t i = 0; i < count; i++) {
        if (is_float) tensor->floats[i] = is_list ? attr->floats[i] : attr->f;
        else tensor->ints[i] = is_list ? attr->ints[i] : attr->i;
    }
    *out = tensor;
    return LOAD_OK;
}

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    return parse_constant(r, &out->constant);
}

const OpDef op_constant = {
    .info = {"Constant", {1, 9, 11, 12, 13}, 1, 0, 0, 1, 1, 0, 0},
    .attributes = {"value", "value_float", "value_floats", "value_int", "value_ints"},
    .parse_attrs = parse_attrs,
};
