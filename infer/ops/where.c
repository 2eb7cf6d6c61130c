// Where: host only.
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus eval_where(const Eval *c) {
    const HostTensor *condition = eval_arg(c, 0), *x = eval_arg(c, 1), *y = eval_arg(c, 2);
    if (!condition->ints || x->dtype != y->dtype)
        return eval_fail(c, LOAD_INVALID, "the condition is not boolean or X and Y differ in type");
    TensorShape xy, shape;
    if (shape_broadcast(&x->shape, &y->shape, &xy) != 0 ||
        shape_broadcast(&condition->shape, &xy, &shape) != 0)
        return eval_fail(c, LOAD_INVALID, "the input shapes do not broadcast");
    HostTensor *t = NULL;
    LoadStatus status = eval_new_output(c, x->dtype, &shape, &t);
    for (size_t i = 0; status == LOAD_OK && i < t->count; i++) {
        int take_x = condition->ints[eval_broadcast_offset(&condition->shape, &shape, i)] != 0;
        const HostTensor *from = take_x ? x : y;
        eval_copy_element(t, i, from, eval_broadcast_offset(&from->shape, &shape, i));
    }
    return status;
}

const OpDef op_where = {
    .info = {"Where", {9, 16}, 9, 3, 3, 1, 1, 0, 1},
    .host_eval = eval_where,
};
