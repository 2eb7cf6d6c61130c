// ReduceMean over trailing axes: the backend's global average pool.
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

// ReduceMean over trailing axes: the mean of each [outer] line of `inner` values, which
// the backend's global average pool computes (one channel per line).
static LoadStatus infer_reduce_mean(const InferContext *c) {
    TRY(shape_require_float(c, 0));
    const TensorShape *x = &shape_input(c, 0)->shape;
    const OpAttrs *attrs = &c->node->attrs;
    int reduced[SD_MAX_DIMS] = {0};
    for (int i = 0; i < (attrs->u.axes.count < 0 ? x->rank : attrs->u.axes.count); i++) {
        int64_t axis =
            attrs->u.axes.count < 0 ? i : shape_normalize_axis(attrs->u.axes.values[i], x->rank);
        if (axis < 0 || axis >= x->rank)
            return shape_fail(c, LOAD_INVALID, "axis %lld is out of range", (long long)axis);
        reduced[axis] = 1;
    }
    int first = x->rank;
    while (first > 0 && reduced[first - 1]) first--;
    for (int d = 0; d < first; d++)
        if (reduced[d])
            return shape_fail(c, LOAD_UNSUPPORTED,
                              "ReduceMean over axes that are not the last ones "
                              "(axis %d) is not supported",
                              d);
    int64_t outer = 1, inner = 1;
    TensorShape out = {.rank = 0};
    for (int d = 0; d < x->rank; d++) {
        *(d < first ? &outer : &inner) *= x->dims[d];
        if (d < first || attrs->u.axes.keepdims) out.dims[out.rank++] = d < first ? x->dims[d] : 1;
    }
    if (outer > INT32_MAX || inner > INT32_MAX) return shape_fail(c, LOAD_UNSUPPORTED, "too large");
    c->out->out = out;
    c->out->geom.global_pool = (GlobalPoolParams){.batch = (int)outer, .channels = 1,
                                                  .spatial = (int)inner};
    return shape_finish_output(c);
}

const OpDef op_reduce_mean = {
    .info = {"ReduceMean", {1, 11, 13}, 1, 1, 1, 1, 1, 0, 0},
    .attributes = {"axes", "keepdims"},
    .parse_attrs = parse_attrs,
    .infer_shape = infer_reduce_mean,
    .lower = lower_global_average_pool,
};
