// Range: host only.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus eval_range(const Eval *c) {
    const HostTensor *start = eval_arg(c, 0), *limit = eval_arg(c, 1), *delta = eval_arg(c, 2);
    if (start->count != 1 || limit->count != 1 || delta->count != 1 ||
        limit->dtype != start->dtype || delta->dtype != start->dtype)
        return eval_fail(c, LOAD_INVALID, "start, limit and delta must be scalars of one type");
    double first = eval_value_at(start, 0), step = eval_value_at(delta, 0);
    if (step == 0 || !isfinite(first) || !isfinite(step) || !isfinite(eval_value_at(limit, 0)))
        return eval_fail(c, LOAD_INVALID, "delta is 0 or a bound is not finite");
    double count = ceil((eval_value_at(limit, 0) - first) / step);
    if (count > (double)SD_MAX_TENSOR_ELEMENTS)
        return eval_fail(c, LOAD_UNSUPPORTED, "the range is too long");
    TensorShape shape = {.rank = 1, .dims = {count > 0 ? (int64_t)count : 0}};
    HostTensor *t = NULL;
    LoadStatus status = eval_new_output(c, start->dtype, &shape, &t);
    for (int64_t i = 0; status == LOAD_OK && i < shape.dims[0]; i++) {
        if (t->floats) t->floats[i] = (real)(start->floats[0] + (real)i * delta->floats[0]);
        else t->ints[i] = start->ints[0] + i * delta->ints[0];
    }
    return status;
}

const OpDef op_range = {
    .info = {"Range", {11}, 11, 3, 3, 1, 1, 0, 1},
    .host_eval = eval_range,
};
