// ReduceMean over any axes: the backend's global average pool, after a transpose that
// moves the reduced axes last when they are not the trailing ones.
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    int64_t keepdims;
    TRY(attr_parse_axes(r, "axes", out));
    TRY(attr_read_int(r, "keepdims", 1, &keepdims));
    out->u.axes.keepdims = keepdims != 0;
    return LOAD_OK;
}

// Marks the axes the node reduces (attribute `axes`, or every axis when it is absent).
// Returns -1, or the position in `axes` of an axis out of range.
static int mark_reduced(const OpAttrs *attrs, int rank, int reduced[SD_MAX_DIMS]) {
    memset(reduced, 0, sizeof(int) * SD_MAX_DIMS);
    const int count = attrs->u.axes.count < 0 ? rank : attrs->u.axes.count;
    for (int i = 0; i < count; i++) {
        int64_t axis =
            attrs->u.axes.count < 0 ? i : shape_normalize_axis(attrs->u.axes.values[i], rank);
        if (axis < 0 || axis >= rank) return i;
        reduced[axis] = 1;
    }
    return -1;
}

// The permutation that puts the kept axes first and the reduced ones last, each in
// their order. Returns 1 when that moves anything (the reduced axes are not already
// the trailing ones).
static int reduced_to_end(int rank, const int reduced[SD_MAX_DIMS], TransposeParams *moved) {
    int at = 0, moves = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int d = 0; d < rank; d++)
            if (reduced[d] == pass) {
                moves |= d != at;
                moved->perm[at++] = d;
            }
    return moves;
}

// The mean of each [outer] line of `inner` values, which the backend's global average
// pool computes (one channel per line): outer is the kept axes' extent, inner the
// reduced axes'. Reduced axes that are not the trailing ones are moved there first
// (a transpose into a temporary, lower_reduce_mean).
static LoadStatus infer_reduce_mean(const InferContext *c) {
    TRY(shape_require_float(c, 0));
    const TensorShape *x = &shape_input(c, 0)->shape;
    const OpAttrs *attrs = &c->node->attrs;
    int reduced[SD_MAX_DIMS];
    int bad = mark_reduced(attrs, x->rank, reduced);
    if (bad >= 0)
        return shape_fail(c, LOAD_INVALID, "axis %lld is out of range for rank %d",
                          (long long)attrs->u.axes.values[bad], x->rank);
    int64_t outer = 1, inner = 1;
    TensorShape out = {.rank = 0};
    for (int d = 0; d < x->rank; d++) {
        *(reduced[d] ? &inner : &outer) *= x->dims[d];
        if (!reduced[d] || attrs->u.axes.keepdims) out.dims[out.rank++] = reduced[d] ? 1 : x->dims[d];
    }
    if (outer > INT32_MAX || inner > INT32_MAX) return shape_fail(c, LOAD_UNSUPPORTED, "too large");
    c->out->out = out;
    c->out->geom.global_pool = (GlobalPoolParams){.batch = (int)outer, .channels = 1,
                                                  .spatial = (int)inner};
    return shape_finish_output(c);
}

static LoadStatus lower_reduce_mean(PlanBuilder *b, int n) {
    const GraphNode *node = &b->graph->nodes[n];
    const TensorShape *x = &b->values[node->inputs[0]].shape;
    int reduced[SD_MAX_DIMS];
    mark_reduced(&node->attrs, x->rank, reduced);  // checked by infer_reduce_mean
    TransposeParams moved;
    if (!reduced_to_end(x->rank, reduced, &moved)) return lower_global_average_pool(b, n);
    TensorShape moved_shape = {.rank = x->rank};
    for (int d = 0; d < x->rank; d++) moved_shape.dims[d] = x->dims[moved.perm[d]];
    int temporary = plan_builder_add_tensor(b, &moved_shape, NULL);
    if (temporary < 0) return plan_out_of_memory(b);
    PlanStep *step = plan_add_step(b, STEP_TRANSPOSE, n, 1, &node->inputs[0], temporary);
    if (!step) return plan_out_of_memory(b);
    step->p.transpose = moved;
    if (!(step = plan_add_step(b, STEP_GLOBAL_AVGPOOL, n, 1, &temporary, b->lowering[n].output)))
        return plan_out_of_memory(b);
    step->p.global_pool = b->geometry[n].geom.global_pool;
    return LOAD_OK;
}

const OpDef op_reduce_mean = {
    .info = {"ReduceMean", {1, 11, 13}, 1, 1, 1, 1, 1, 0, 0},
    .attributes = {"axes", "keepdims"},
    .parse_attrs = parse_attrs,
    .infer_shape = infer_reduce_mean,
    .lower = lower_reduce_mean,
};
