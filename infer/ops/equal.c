// Equal: element-wise comparison to a bool tensor, host only (shape computations).
#include <stdio.h>
#include <string.h>

#include "op_def.h"
#include "binary.h"

static LoadStatus host_eval(const Eval *c) { return binary_host_eval(c, ARITH_EQUAL); }

const OpDef op_equal = {
    .info = {"Equal", {1, 7, 11, 13}, 7, 2, 2, 1, 1, 0, 1},
    .host_eval = host_eval,
};
