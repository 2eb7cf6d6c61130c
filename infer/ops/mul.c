// Mul: numpy-broadcast element-wise arithmetic (binary.c), on the host for constants.
#include <stdio.h>
#include <string.h>

#include "op_def.h"
#include "binary.h"

static LoadStatus host_eval(const Eval *c) { return binary_host_eval(c, ARITH_MUL); }

static LoadStatus lower(PlanBuilder *b, int n) { return binary_lower(b, n, BINARY_MUL); }

const OpDef op_mul = {
    .info = {"Mul", {1, 6, 7, 13, 14}, 7, 2, 2, 1, 1, 0, 0},
    .infer_shape = binary_infer_shape,
    .host_eval = host_eval,
    .lower = lower,
};
