// GlobalAveragePool: the mean over every spatial axis.
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus infer_global_pool(const InferContext *c) {
    TRY(shape_require_float(c, 0));
    const TensorShape *x = &shape_input(c, 0)->shape;
    if (x->rank < 3)
        return shape_fail(c, LOAD_INVALID, "input must have rank >= 3 (N, C, spatial...)");
    int64_t spatial = 1;
    c->out->out = *x;
    for (int axis = 2; axis < x->rank; axis++) {
        spatial *= x->dims[axis];
        c->out->out.dims[axis] = 1;
    }
    c->out->geom.global_pool.batch = (int)x->dims[0];
    c->out->geom.global_pool.channels = (int)x->dims[1];
    c->out->geom.global_pool.spatial = (int)spatial;
    if (spatial == 0) return shape_fail(c, LOAD_UNSUPPORTED, "empty spatial extent");
    return shape_finish_output(c);
}

// Also ReduceMean's lowering (reduce_mean.c): both are the backend's global average pool.
LoadStatus lower_global_average_pool(PlanBuilder *b, int n) {
    PlanStep *step = plan_add_node_step(b, n, STEP_GLOBAL_AVGPOOL, 1);
    if (!step) return LOAD_INVALID;
    step->p.global_pool = b->geometry[n].geom.global_pool;
    return LOAD_OK;
}

const OpDef op_global_average_pool = {
    .info = {"GlobalAveragePool", {1}, 1, 1, 1, 1, 1, 0, 0},
    .infer_shape = infer_global_pool,
    .lower = lower_global_average_pool,
};
