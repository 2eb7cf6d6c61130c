// Softmax: before 13 over the flattened trailing axes, from 13 over one axis.
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    return attr_parse_axis(r, version >= 13 ? -1 : 1, &out->u.axis);
}

static LoadStatus infer_softmax(const InferContext *c) {
    TRY(shape_require_float(c, 0));
    const TensorShape *x = &shape_input(c, 0)->shape;
    int64_t axis = shape_normalize_axis(c->node->attrs.u.axis, x->rank);
    if (axis < 0 || axis >= (x->rank ? x->rank : 1))
        return shape_fail(c, LOAD_INVALID, "axis %lld is out of range for rank %d",
                          (long long)c->node->attrs.u.axis, x->rank);
    int64_t outer = 1, inner = 1, after = 1;
    for (int d = 0; d < x->rank; d++) *(d < axis ? &outer : &inner) *= x->dims[d];
    if (c->node->attrs.version >= 13 && x->rank > 0) {
        // Softmax-13 normalises along one axis: a strided line when later axes exist.
        for (int d = (int)axis + 1; d < x->rank; d++) after *= x->dims[d];
        inner = x->dims[axis];
    }
    c->out->out = *x;
    c->out->geom.softmax.outer = outer;
    c->out->geom.softmax.inner = inner;
    c->out->geom.softmax.after = after;
    return shape_finish_output(c);
}

static LoadStatus lower(PlanBuilder *b, int n) {
    PlanStep *step = plan_add_node_step(b, n, STEP_SOFTMAX, 1);
    if (!step) return LOAD_INVALID;
    step->p.softmax = b->geometry[n].geom.softmax;
    return LOAD_OK;
}

const OpDef op_softmax = {
    .info = {"Softmax", {1, 11, 13}, 1, 1, 1, 1, 1, 0, 0},
    .attributes = {"axis"},
    .parse_attrs = parse_attrs,
    .infer_shape = infer_softmax,
    .lower = lower,
    .is_softmax = 1,
};
