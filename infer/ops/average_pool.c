// AveragePool: 1-D and 2-D windows (window.c holds the attribute and output-size rules).
#include <stdio.h>
#include <string.h>

#include "op_def.h"
#include "window.h"

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    return window_parse_attrs(r, OP_AVGPOOL, &out->u.window);
}

static LoadStatus lower(PlanBuilder *b, int n) {
    PlanStep *step = plan_add_node_step(b, n, STEP_AVGPOOL, 1);
    if (!step) return LOAD_INVALID;
    step->p.pool = b->geometry[n].geom.pool;
    return LOAD_OK;
}

const OpDef op_average_pool = {
    .info = {"AveragePool", {1, 7, 10, 11}, 1, 1, 1, 1, 1, 0, 0},
    .attributes = {"kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "count_include_pad"},
    .parse_attrs = parse_attrs,
    .infer_shape = window_infer_pool,
    .lower = lower,
};
