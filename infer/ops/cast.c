// Cast between the element types the host evaluator holds: host only.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "op_def.h"

// The element types the host evaluator holds.
static LoadStatus parse_cast(const AttrReader *r, int *to) {
    int64_t value;
    TRY(attr_read_int(r, "to", -1, &value));
    if (value != ONNX_DTYPE_FLOAT && value != ONNX_DTYPE_INT64 && value != ONNX_DTYPE_INT32 &&
        value != ONNX_DTYPE_BOOL) {
        snprintf(r->err, r->err_len, "%s: cast to element type %lld is not supported (FLOAT, "
                 "INT32, INT64, BOOL are)", r->where, (long long)value);
        return LOAD_UNSUPPORTED;
    }
    *to = (int)value;
    return LOAD_OK;
}

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    return parse_cast(r, &out->u.cast_to);
}

static LoadStatus eval_cast(const Eval *c) {
    const HostTensor *x = eval_arg(c, 0);
    int to = c->node->attrs.u.cast_to;
    HostTensor *t = NULL;
    LoadStatus status = eval_new_output(c, to, &x->shape, &t);
    for (size_t i = 0; status == LOAD_OK && i < x->count; i++) {
        double v = eval_value_at(x, i);
        if (to == ONNX_DTYPE_FLOAT) t->floats[i] = (real)v;
        else if (to == ONNX_DTYPE_BOOL) t->ints[i] = v != 0;
        else if (x->ints) t->ints[i] = to == ONNX_DTYPE_INT32 ? (int32_t)x->ints[i] : x->ints[i];
        else if (!isfinite(v) || fabs(v) >= (to == ONNX_DTYPE_INT32 ? 2147483648.0 : 9.2e18))
            status =
                eval_fail(c, LOAD_INVALID, "element %zu (%g) does not fit the integer type", i, v);
        else t->ints[i] = (int64_t)v;  // truncation toward zero, as C and numpy
    }
    return status;
}

const OpDef op_cast = {
    .info = {"Cast", {1, 6, 9, 13}, 6, 1, 1, 1, 1, 0, 1},
    .attributes = {"to"},
    .parse_attrs = parse_attrs,
    .host_eval = eval_cast,
};
