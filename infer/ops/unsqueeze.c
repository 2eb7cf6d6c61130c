// Unsqueeze: host only; axes as an attribute before 13, an input after.
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    return attr_parse_axes(r, "axes", out);
}

static LoadStatus eval_unsqueeze(const Eval *c) {
    const HostTensor *x = eval_arg(c, 0);
    int64_t axes[SD_MAX_DIMS];
    int count = 0;
    LoadStatus status = eval_read_axes(c, axes, &count);
    if (status != LOAD_OK) return status;
    if (count < 1) return eval_fail(c, LOAD_INVALID, "no axes to insert");
    int rank = x->shape.rank + count;
    if (rank > SD_MAX_DIMS)
        return eval_fail(c, LOAD_UNSUPPORTED, "rank %d is more than %d", rank, SD_MAX_DIMS);
    int inserted[SD_MAX_DIMS] = {0};
    for (int i = 0; i < count; i++) {
        int64_t axis = 0;
        if ((status = eval_normalize_axis(c, axes[i], rank, &axis)) != LOAD_OK) return status;
        if (inserted[axis])
            return eval_fail(c, LOAD_INVALID, "axis %lld is repeated", (long long)axes[i]);
        inserted[axis] = 1;
    }
    TensorShape shape = {.rank = rank};
    for (int axis = 0, from = 0; axis < rank; axis++)
        shape.dims[axis] = inserted[axis] ? 1 : x->shape.dims[from++];
    return eval_copy_reshaped(c, x, &shape);
}

const OpDef op_unsqueeze = {
    .info = {"Unsqueeze", {1, 11, 13}, 1, 1, 2, 1, 1, 0, 1},
    .attributes = {"axes"},
    .parse_attrs = parse_attrs,
    .host_eval = eval_unsqueeze,
};
