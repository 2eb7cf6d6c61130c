// Squeeze: host only; axes as an attribute before 13, an input after.
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    return attr_parse_axes(r, "axes", out);
}

static LoadStatus eval_squeeze(const Eval *c) {
    const HostTensor *x = eval_arg(c, 0);
    int64_t axes[SD_MAX_DIMS];
    int count = 0;
    LoadStatus status = eval_read_axes(c, axes, &count);
    if (status != LOAD_OK) return status;
    int removed[SD_MAX_DIMS] = {0};
    for (int axis = 0; count < 0 && axis < x->shape.rank; axis++) removed[axis] = x->shape.dims[axis] == 1;
    for (int i = 0; i < count; i++) {
        int64_t axis = 0;
        if ((status = eval_normalize_axis(c, axes[i], x->shape.rank, &axis)) != LOAD_OK)
            return status;
        if (x->shape.dims[axis] != 1)
            return eval_fail(c, LOAD_INVALID, "axis %lld has size %lld, not 1", (long long)axes[i],
                             (long long)x->shape.dims[axis]);
        removed[axis] = 1;
    }
    TensorShape shape = {.rank = 0};
    for (int axis = 0; axis < x->shape.rank; axis++)
        if (!removed[axis]) shape.dims[shape.rank++] = x->shape.dims[axis];
    return eval_copy_reshaped(c, x, &shape);
}

const OpDef op_squeeze = {
    .info = {"Squeeze", {1, 11, 13}, 1, 1, 2, 1, 1, 0, 1},
    .attributes = {"axes"},
    .parse_attrs = parse_attrs,
    .host_eval = eval_squeeze,
};
