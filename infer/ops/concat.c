// Concat along one axis: a step per part on run-time data, on the host for constants.
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    if (!attr_find(r, "axis")) {
        snprintf(r->err, r->err_len, "%s: the axis attribute is required", r->where);
        return LOAD_INVALID;
    }
    return attr_parse_axis(r, 0, &out->u.axis);
}

static LoadStatus infer_concat(const InferContext *c) {
    TRY(shape_require_float(c, 0));
    const TensorShape *first = &shape_input(c, 0)->shape;
    int64_t axis = shape_normalize_axis(c->node->attrs.u.axis, first->rank);
    if (axis < 0 || axis >= first->rank)
        return shape_fail(c, LOAD_INVALID, "axis %lld is out of range for rank %d",
                          (long long)c->node->attrs.u.axis, first->rank);
    c->out->out = *first;
    c->out->out.dims[axis] = 0;
    for (int slot = 0; slot < c->node->n_inputs; slot++) {
        TRY(shape_require_float(c, slot));
        const TensorShape *part = &shape_input(c, slot)->shape;
        if (part->rank != first->rank)
            return shape_fail(c, LOAD_INVALID, "inputs have different ranks");
        for (int d = 0; d < part->rank; d++)
            if (d != axis && part->dims[d] != first->dims[d])
                return shape_fail(c, LOAD_INVALID, "input #%d differs in axis %d", slot, d);
        c->out->out.dims[axis] += part->dims[axis];
        if (c->out->out.dims[axis] > SD_MAX_TENSOR_ELEMENTS)
            return shape_fail(c, LOAD_UNSUPPORTED, "the output is too large");
    }
    c->out->geom.concat.axis = (int)axis;
    return shape_finish_output(c);
}

static LoadStatus eval_concat(const Eval *c) {
    const HostTensor *first = eval_arg(c, 0);
    int rank = first->shape.rank;
    int64_t axis = 0;
    LoadStatus status = eval_normalize_axis(c, c->node->attrs.u.axis, rank, &axis);
    if (status != LOAD_OK) return status;
    TensorShape shape = first->shape;
    shape.dims[axis] = 0;
    for (int k = 0; k < c->node->n_inputs; k++) {
        const HostTensor *part = eval_arg(c, k);
        if (!part || part->dtype != first->dtype || part->shape.rank != rank)
            return eval_fail(c, LOAD_INVALID, "input #%d differs in element type or rank", k);
        for (int d = 0; d < rank; d++)
            if (d != axis && part->shape.dims[d] != first->shape.dims[d])
                return eval_fail(c, LOAD_INVALID, "input #%d differs on axis %d", k, d);
        shape.dims[axis] += part->shape.dims[axis];
    }
    HostTensor *t = NULL;
    if ((status = eval_new_output(c, first->dtype, &shape, &t)) != LOAD_OK) return status;
    int64_t outer = eval_product(&shape, 0, (int)axis),
            inner = eval_product(&shape, (int)axis + 1, rank);
    size_t to = 0;
    for (int64_t o = 0; o < outer; o++)
        for (int k = 0; k < c->node->n_inputs; k++) {
            const HostTensor *part = eval_arg(c, k);
            size_t block = (size_t)(part->shape.dims[axis] * inner);
            for (size_t i = 0; i < block; i++)
                eval_copy_element(t, to++, part, (size_t)o * block + i);
        }
    return LOAD_OK;
}

static LoadStatus lower(PlanBuilder *b, int n) {
    PlanStep *step = plan_add_node_step(b, n, STEP_CONCAT, b->graph->nodes[n].n_inputs);
    if (!step) return LOAD_INVALID;
    step->p.concat = b->geometry[n].geom.concat;
    return LOAD_OK;
}

const OpDef op_concat = {
    .info = {"Concat", {1, 4, 11, 13}, 4, 1, -1, 1, 1, 0, 0},
    .attributes = {"axis"},
    .parse_attrs = parse_attrs,
    .infer_shape = infer_concat,
    .host_eval = eval_concat,
    .lower = lower,
};
