// Transpose: a step on run-time data, on the host for constants.
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    return attr_parse_axes(r, "perm", out);
}

static LoadStatus infer_transpose(const InferContext *c) {
    TRY(shape_require_float(c, 0));
    const TensorShape *x = &shape_input(c, 0)->shape;
    const OpAttrs *attrs = &c->node->attrs;
    if (attrs->u.axes.count >= 0 && attrs->u.axes.count != x->rank)
        return shape_fail(c, LOAD_INVALID, "perm has %d entries for rank %d", attrs->u.axes.count,
                          x->rank);
    int used[SD_MAX_DIMS] = {0};
    c->out->out.rank = x->rank;
    for (int d = 0; d < x->rank; d++) {
        int64_t from = attrs->u.axes.count < 0 ? x->rank - 1 - d : attrs->u.axes.values[d];
        if (from < 0 || from >= x->rank || used[from]++)
            return shape_fail(c, LOAD_INVALID, "perm is not a permutation of the axes");
        c->out->geom.transpose.perm[d] = (int)from;
        c->out->out.dims[d] = x->dims[from];
    }
    return shape_finish_output(c);
}

static LoadStatus eval_transpose(const Eval *c) {
    const HostTensor *x = eval_arg(c, 0);
    int rank = x->shape.rank, count = c->node->attrs.u.axes.count;
    int64_t perm[SD_MAX_DIMS];
    int used[SD_MAX_DIMS] = {0};
    if (count >= 0 && count != rank)
        return eval_fail(c, LOAD_INVALID, "perm has %d entries for rank %d", count, rank);
    for (int d = 0; d < rank; d++) {
        perm[d] = count < 0 ? rank - 1 - d : c->node->attrs.u.axes.values[d];
        if (perm[d] < 0 || perm[d] >= rank || used[perm[d]]++)
            return eval_fail(c, LOAD_INVALID, "perm is not a permutation of the axes");
    }
    TensorShape shape = {.rank = rank};
    for (int d = 0; d < rank; d++) shape.dims[d] = x->shape.dims[perm[d]];
    HostTensor *t = NULL;
    LoadStatus status = eval_new_output(c, x->dtype, &shape, &t);
    if (status != LOAD_OK) return status;
    int64_t strides[SD_MAX_DIMS];
    eval_row_major_strides(&x->shape, strides);
    for (size_t i = 0; i < t->count; i++) {
        size_t flat = i, from = 0;
        for (int d = rank - 1; d >= 0; d--) {
            from += (flat % (size_t)shape.dims[d]) * (size_t)strides[perm[d]];
            flat /= (size_t)shape.dims[d];
        }
        eval_copy_element(t, i, x, from);
    }
    return LOAD_OK;
}

static LoadStatus lower(PlanBuilder *b, int n) {
    PlanStep *step = plan_add_node_step(b, n, STEP_TRANSPOSE, 1);
    if (!step) return LOAD_INVALID;
    step->p.transpose = b->geometry[n].geom.transpose;
    return LOAD_OK;
}

const OpDef op_transpose = {
    .info = {"Transpose", {1, 13}, 1, 1, 1, 1, 1, 0, 0},
    .attributes = {"perm"},
    .parse_attrs = parse_attrs,
    .infer_shape = infer_transpose,
    .host_eval = eval_transpose,
    .lower = lower,
};
