// HardSwish (activation.c).
#include <stdio.h>
#include <string.h>

#include "op_def.h"
#include "activation.h"

static LoadStatus infer_shape(const InferContext *c) {
    return activation_infer_shape(c, (ActivationParams){.op = ACTIVATION_HARD_SWISH});
}

const OpDef op_hard_swish = {
    .info = {"HardSwish", {14}, 14, 1, 1, 1, 1, 0, 0},
    .infer_shape = infer_shape,
    .lower = activation_lower,
};
