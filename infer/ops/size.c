// Size: host only, from the input's known shape.
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus eval_size(const Eval *c) {
    TensorShape scalar = {.rank = 0};
    HostTensor *t = NULL;
    LoadStatus status = eval_new_output(c, ONNX_DTYPE_INT64, &scalar, &t);
    if (status == LOAD_OK) t->ints[0] = shape_element_count(&c->in[0]->shape);
    return status;
}

const OpDef op_size = {
    .info = {"Size", {1, 13}, 1, 1, 1, 1, 1, 0, 1},
    .host_eval = eval_size,
    .host_reads_shape_only = 1,
};
