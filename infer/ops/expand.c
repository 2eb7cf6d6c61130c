// Expand: host only (numpy broadcast to a shape).
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus eval_expand(const Eval *c) {
    const HostTensor *x = eval_arg(c, 0), *target = NULL;
    LoadStatus status = eval_int_vector(c, 1, "shape", &target);
    if (status != LOAD_OK) return status;
    if (target->count > SD_MAX_DIMS)
        return eval_fail(c, LOAD_UNSUPPORTED, "rank above %d", SD_MAX_DIMS);
    TensorShape requested = {.rank = (int)target->count}, shape;
    for (int axis = 0; axis < requested.rank; axis++) {
        if (target->ints[axis] < 0)
            return eval_fail(c, LOAD_INVALID, "a negative dim in the shape");
        requested.dims[axis] = target->ints[axis];
    }
    if (shape_broadcast(&x->shape, &requested, &shape) != 0)
        return eval_fail(c, LOAD_INVALID, "the input does not broadcast to the shape");
    HostTensor *t = NULL;
    if ((status = eval_new_output(c, x->dtype, &shape, &t)) != LOAD_OK) return status;
    for (size_t i = 0; i < t->count; i++)
        eval_copy_element(t, i, x, eval_broadcast_offset(&x->shape, &shape, i));
    return LOAD_OK;
}

const OpDef op_expand = {
    .info = {"Expand", {8, 13}, 8, 2, 2, 1, 1, 0, 1},
    .host_eval = eval_expand,
};
