// Reshape (version 5 on: the shape as a constant input): a view, no step.
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    int64_t allowzero;
    TRY(attr_read_int(r, "allowzero", 0, &allowzero));
    out->u.allowzero = allowzero != 0;
    return LOAD_OK;
}

static LoadStatus infer_reshape(const InferContext *c) {
    TRY(shape_require_float(c, 0));
    const TensorShape *x = &shape_input(c, 0)->shape;
    const HostTensor *target;
    TRY(shape_require_int_vector(c, 1, "shape", &target));
    if (target->count > SD_MAX_DIMS)
        return shape_fail(c, LOAD_UNSUPPORTED, "target rank %zu is more than %d", target->count,
                          SD_MAX_DIMS);
    TensorShape *out = &c->out->out;
    out->rank = (int)target->count;
    int inferred_axis = -1;
    int64_t known = 1;
    for (int d = 0; d < out->rank; d++) {
        int64_t dim = target->ints[d];
        if (dim == 0 && !c->node->attrs.u.allowzero) {
            if (d >= x->rank)
                return shape_fail(c, LOAD_INVALID, "shape entry %d copies a missing axis", d);
            dim = x->dims[d];
        }
        if (dim == -1) {
            if (inferred_axis >= 0) return shape_fail(c, LOAD_INVALID, "more than one -1 in shape");
            inferred_axis = d;
            dim = 1;
        } else if (dim < 0 || dim > SD_MAX_TENSOR_ELEMENTS) {
            return shape_fail(c, LOAD_INVALID, "shape entry %lld is invalid", (long long)dim);
        }
        out->dims[d] = dim;
        known *= dim;
        if (known > SD_MAX_TENSOR_ELEMENTS)
            return shape_fail(c, LOAD_INVALID, "shape is too large");
    }
    int64_t total = shape_element_count(x);
    if (inferred_axis >= 0) {
        if (known == 0 || total % known != 0)
            return shape_fail(c, LOAD_INVALID, "cannot infer the -1 entry: %lld elements into %lld",
                              (long long)total, (long long)known);
        out->dims[inferred_axis] = total / known;
        known = total;
    }
    if (known != total)
        return shape_fail(c, LOAD_INVALID, "cannot reshape %lld elements into %lld",
                          (long long)total, (long long)known);
    return shape_finish_output(c);
}

// Reshape's shape vector: 0 copies the input's dim (unless allowzero), one -1 is inferred.
static LoadStatus eval_reshape(const Eval *c) {
    const HostTensor *x = eval_arg(c, 0), *target = NULL;
    LoadStatus status = eval_int_vector(c, 1, "shape", &target);
    if (status != LOAD_OK) return status;
    if (target->count > SD_MAX_DIMS)
        return eval_fail(c, LOAD_UNSUPPORTED, "rank above %d", SD_MAX_DIMS);
    TensorShape shape = {.rank = (int)target->count};
    int inferred = -1;
    int64_t known = 1;
    for (int axis = 0; axis < shape.rank; axis++) {
        int64_t dim = target->ints[axis];
        if (dim == 0 && !c->node->attrs.u.allowzero) {
            if (axis >= x->shape.rank)
                return eval_fail(c, LOAD_INVALID, "0 on axis %d copies no dim", axis);
            dim = x->shape.dims[axis];
        }
        if (dim == -1 && inferred < 0) inferred = axis;
        else if (dim < 0)
            return eval_fail(c, LOAD_INVALID, "invalid dim %lld in the shape", (long long)dim);
        else known *= dim;
        shape.dims[axis] = dim;
        if (known > SD_MAX_TENSOR_ELEMENTS)
            return eval_fail(c, LOAD_INVALID, "the shape is too large");
    }
    if (inferred >= 0) {
        if (known == 0 || (int64_t)x->count % known != 0)
            return eval_fail(c, LOAD_INVALID, "cannot infer the -1 dim of the shape");
        shape.dims[inferred] = (int64_t)x->count / known;
    }
    return eval_copy_reshaped(c, x, &shape);
}

const OpDef op_reshape = {
    .info = {"Reshape", {1, 5, 13, 14}, 5, 2, 2, 1, 1, 0x2, 0},
    .attributes = {"allowzero"},
    .parse_attrs = parse_attrs,
    .infer_shape = infer_reshape,
    .host_eval = eval_reshape,
    .lower = plan_lower_view,
    .is_view = 1,
};
