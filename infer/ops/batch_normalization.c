// BatchNormalization (inference form). Folding into the Conv before it is
// plan_fusion.c with common/bn_fold.c; what is not folded runs as a step.
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus parse_batchnorm(const AttrReader *r, float *epsilon) {
    TRY(attr_read_float(r, "epsilon", 1e-5f, epsilon));
    if (!(*epsilon >= 0)) {
        snprintf(r->err, r->err_len, "%s: epsilon must not be negative", r->where);
        return LOAD_INVALID;
    }
    float momentum;  // only meaningful in training
    TRY(attr_read_float(r, "momentum", 0.9f, &momentum));
    int64_t flag;
    TRY(attr_read_int(r, "spatial", 1, &flag));
    if (flag != 1) {
        snprintf(r->err, r->err_len, "%s: spatial=0 (per-activation) batch norm is not supported",
                 r->where);
        return LOAD_UNSUPPORTED;
    }
    TRY(attr_read_int(r, "training_mode", 0, &flag));
    if (flag != 0) {
        snprintf(r->err, r->err_len, "%s: training_mode=1 is not supported (inference only)",
                 r->where);
        return LOAD_UNSUPPORTED;
    }
    return LOAD_OK;
}

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    return parse_batchnorm(r, &out->u.epsilon);
}

static LoadStatus infer_batchnorm(const InferContext *c) {
    TRY(shape_require_float(c, 0));
    const TensorShape *x = &shape_input(c, 0)->shape;
    if (x->rank < 2) return shape_fail(c, LOAD_INVALID, "input must have rank >= 2 (N, C, ...)");
    static const char *names[] = {"", "scale", "B", "mean", "var"};
    for (int slot = 1; slot <= 4; slot++) {
        TRY(shape_require_float(c, slot));
        const TensorShape *p = &shape_input(c, slot)->shape;
        if (p->rank != 1 || p->dims[0] != x->dims[1])
            return shape_fail(c, LOAD_INVALID, "%s must have shape [%lld]", names[slot],
                              (long long)x->dims[1]);
    }
    int64_t spatial = 1;
    for (int axis = 2; axis < x->rank; axis++) spatial *= x->dims[axis];
    c->out->out = *x;
    c->out->geom.batchnorm = (BatchNormGeom){
        .batch = (int)x->dims[0], .channels = (int)x->dims[1], .spatial = (int)spatial};
    return shape_finish_output(c);
}

static LoadStatus lower(PlanBuilder *b, int n) {
    PlanStep *step = plan_add_node_step(b, n, STEP_BATCHNORM, 5);
    if (!step) return LOAD_INVALID;
    step->p.batchnorm = b->geometry[n].geom.batchnorm;
    step->epsilon = (real)b->graph->nodes[n].attrs.u.epsilon;
    return LOAD_OK;
}

const OpDef op_batch_normalization = {
    .info = {"BatchNormalization", {1, 6, 7, 9, 14, 15}, 7, 5, 5, 1, 5, 0, 0},
    .attributes = {"epsilon", "momentum", "spatial", "training_mode"},
    .parse_attrs = parse_attrs,
    .infer_shape = infer_batchnorm,
    .lower = lower,
};
