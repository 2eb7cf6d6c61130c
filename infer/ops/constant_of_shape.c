// ConstantOfShape: host only, filled with the value attribute.
#include <stdio.h>
#include <string.h>

#include "op_def.h"
#include "../onnx_tensor.h"

// ConstantOfShape's value: a one-element tensor (default: float 0).
static LoadStatus parse_fill_value(const AttrReader *r, HostTensor **out) {
    LoadStatus status = LOAD_OK;
    const Onnx__AttributeProto *attr =
        attr_typed(r, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR, &status);
    if (status != LOAD_OK) return status;
    if (!attr) {
        TensorShape scalar = {.rank = 0};
        *out = host_tensor_create(ONNX_DTYPE_FLOAT, &scalar);
        if (*out) return LOAD_OK;
        snprintf(r->err, r->err_len, "%s: out of memory", r->where);
        return LOAD_INVALID;
    }
    if (!attr->t) {
        snprintf(r->err, r->err_len, "%s: attribute 'value' holds no tensor", r->where);
        return LOAD_INVALID;
    }
    TRY(onnx_tensor_decode(attr->t, r->where, out, r->err, r->err_len));
    if ((*out)->count != 1) {
        snprintf(r->err, r->err_len, "%s: attribute 'value' must hold one element, holds %zu",
                 r->where, (*out)->count);
        return LOAD_INVALID;
    }
    return LOAD_OK;
}

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    return parse_fill_value(r, &out->constant);
}

static LoadStatus eval_constant_of_shape(const Eval *c) {
    const HostTensor *dims = NULL, *fill = c->node->attrs.constant;
    LoadStatus status = eval_int_vector(c, 0, "input", &dims);
    if (status != LOAD_OK) return status;
    if (dims->count > SD_MAX_DIMS)
        return eval_fail(c, LOAD_UNSUPPORTED, "rank above %d", SD_MAX_DIMS);
    TensorShape shape = {.rank = (int)dims->count};
    for (int d = 0; d < shape.rank; d++) {
        if (dims->ints[d] < 0) return eval_fail(c, LOAD_INVALID, "a negative dim in the shape");
        shape.dims[d] = dims->ints[d];
    }
    HostTensor *t = NULL;
    if ((status = eval_new_output(c, fill->dtype, &shape, &t)) != LOAD_OK) return status;
    for (size_t i = 0; i < t->count; i++) eval_copy_element(t, i, fill, 0);
    return LOAD_OK;
}

const OpDef op_constant_of_shape = {
    .info = {"ConstantOfShape", {9}, 9, 1, 1, 1, 1, 0, 1},
    .attributes = {"value"},
    .parse_attrs = parse_attrs,
    .host_eval = eval_constant_of_shape,
};
