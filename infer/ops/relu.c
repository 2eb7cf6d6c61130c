// Relu (fused into the Conv or Add before it where plan_fusion.c can).
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus lower(PlanBuilder *b, int n) {
    PlanStep *step = plan_add_node_step(b, n, STEP_RELU, 1);
    if (!step) return LOAD_INVALID;
    return LOAD_OK;
}

const OpDef op_relu = {
    .info = {"Relu", {1, 6, 13, 14}, 6, 1, 1, 1, 1, 0, 0},
    .infer_shape = shape_same_as_input,
    .lower = lower,
};
