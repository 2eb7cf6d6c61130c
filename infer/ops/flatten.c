// Flatten: a view (no step) with the shape [outer, inner].
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    return attr_parse_axis(r, 1, &out->u.axis);
}

static LoadStatus infer_flatten(const InferContext *c) {
    TRY(shape_require_float(c, 0));
    const TensorShape *x = &shape_input(c, 0)->shape;
    int64_t axis = shape_normalize_axis(c->node->attrs.u.axis, x->rank);
    if (axis < 0 || axis > x->rank)
        return shape_fail(c, LOAD_INVALID, "axis %lld is out of range for rank %d",
                          (long long)c->node->attrs.u.axis, x->rank);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < x->rank; d++) *(d < axis ? &outer : &inner) *= x->dims[d];
    c->out->out = (TensorShape){.rank = 2, .dims = {outer, inner}};
    return shape_finish_output(c);
}

static LoadStatus eval_flatten(const Eval *c) {
    const HostTensor *x = eval_arg(c, 0);
    int rank = x->shape.rank;
    int64_t axis = c->node->attrs.u.axis;
    if (axis < -rank || axis > rank)
        return eval_fail(c, LOAD_INVALID, "axis %lld is out of range for rank %d", (long long)axis,
                         rank);
    if (axis < 0) axis += rank;
    TensorShape shape = {.rank = 2, .dims = {eval_product(&x->shape, 0, (int)axis),
                                             eval_product(&x->shape, (int)axis, rank)}};
    return eval_copy_reshaped(c, x, &shape);
}

const OpDef op_flatten = {
    .info = {"Flatten", {1, 9, 11, 13}, 1, 1, 1, 1, 1, 0, 0},
    .attributes = {"axis"},
    .parse_attrs = parse_attrs,
    .infer_shape = infer_flatten,
    .host_eval = eval_flatten,
    .lower = plan_lower_view,
    .is_view = 1,
};
