// Squeeze and Unsqueeze: one reading of the axes and one shape rule each (axes.h).
#include "axes.h"

#include <stdio.h>
#include <string.h>

static LoadStatus axes_fail(LoadStatus status, char *why, size_t why_len, const char *reason,
                            long long a, long long b) {
    snprintf(why, why_len, reason, a, b);
    return status;
}

LoadStatus axes_of_node(const OpAttrs *attrs, const HostTensor *input, AxisList *axes, char *why,
                        size_t why_len) {
    axes->count = -1;
    if (attrs->version < 13) {
        axes->count = attrs->u.axes.count;
        if (axes->count > 0)
            memcpy(axes->values, attrs->u.axes.values, sizeof(int64_t) * (size_t)axes->count);
        return LOAD_OK;
    }
    if (!input) return LOAD_OK;
    if (input->count > SD_MAX_DIMS)
        return axes_fail(LOAD_UNSUPPORTED, why, why_len, "more than %lld axes", SD_MAX_DIMS, 0);
    axes->count = (int)input->count;
    memcpy(axes->values, input->ints, sizeof(int64_t) * input->count);
    return LOAD_OK;
}

// axis in [-rank, rank) to [0, rank).
static LoadStatus normalized(int64_t axis, int rank, int64_t *out, char *why, size_t why_len) {
    if (axis < -rank || axis >= rank)
        return axes_fail(LOAD_INVALID, why, why_len, "axis %lld is out of range for rank %lld",
                         axis, rank);
    *out = axis < 0 ? axis + rank : axis;
    return LOAD_OK;
}

LoadStatus axes_squeezed(const TensorShape *x, const AxisList *axes, TensorShape *out, char *why,
                         size_t why_len) {
    int removed[SD_MAX_DIMS] = {0};
    for (int axis = 0; axes->count < 0 && axis < x->rank; axis++) removed[axis] = x->dims[axis] == 1;
    for (int i = 0; i < axes->count; i++) {
        int64_t axis = 0;
        LoadStatus status = normalized(axes->values[i], x->rank, &axis, why, why_len);
        if (status != LOAD_OK) return status;
        if (x->dims[axis] != 1)
            return axes_fail(LOAD_INVALID, why, why_len, "axis %lld has size %lld, not 1",
                             axes->values[i], x->dims[axis]);
        removed[axis] = 1;
    }
    out->rank = 0;
    for (int axis = 0; axis < x->rank; axis++)
        if (!removed[axis]) out->dims[out->rank++] = x->dims[axis];
    return LOAD_OK;
}

LoadStatus axes_unsqueezed(const TensorShape *x, const AxisList *axes, TensorShape *out, char *why,
                           size_t why_len) {
    if (axes->count < 1) return axes_fail(LOAD_INVALID, why, why_len, "no axes to insert", 0, 0);
    const int rank = x->rank + axes->count;
    if (rank > SD_MAX_DIMS)
        return axes_fail(LOAD_UNSUPPORTED, why, why_len, "rank %lld is more than %lld", rank,
                         SD_MAX_DIMS);
    int inserted[SD_MAX_DIMS] = {0};
    for (int i = 0; i < axes->count; i++) {
        int64_t axis = 0;
        LoadStatus status = normalized(axes->values[i], rank, &axis, why, why_len);
        if (status != LOAD_OK) return status;
        if (inserted[axis])
            return axes_fail(LOAD_INVALID, why, why_len, "axis %lld is repeated", axes->values[i],
                             0);
        inserted[axis] = 1;
    }
    out->rank = rank;
    for (int axis = 0, from = 0; axis < rank; axis++)
        out->dims[axis] = inserted[axis] ? 1 : x->dims[from++];
    return LOAD_OK;
}

static LoadStatus shape_of(const TensorShape *x, const AxisList *axes, int unsqueeze,
                           TensorShape *out, char *why, size_t why_len) {
    return unsqueeze ? axes_unsqueezed(x, axes, out, why, why_len)
                     : axes_squeezed(x, axes, out, why, why_len);
}

LoadStatus axes_infer(const InferContext *c, int unsqueeze) {
    TRY(shape_require_float(c, 0));
    const HostTensor *input = NULL;
    if (c->node->attrs.version >= 13 && shape_has_input(c, 1))
        TRY(shape_require_int_vector(c, 1, "axes", &input));
    AxisList axes;
    char why[128];
    LoadStatus status = axes_of_node(&c->node->attrs, input, &axes, why, sizeof why);
    if (status == LOAD_OK)
        status = shape_of(&shape_input(c, 0)->shape, &axes, unsqueeze, &c->out->out, why,
                          sizeof why);
    if (status != LOAD_OK) return shape_fail(c, status, "%s", why);
    return shape_finish_output(c);
}

LoadStatus axes_eval(const Eval *c, int unsqueeze) {
    const HostTensor *x = eval_arg(c, 0), *input = NULL;
    if (c->node->attrs.version >= 13 && eval_present(c, 1)) {
        LoadStatus status = eval_int_vector(c, 1, "axes", &input);
        if (status != LOAD_OK) return status;
    }
    AxisList axes;
    TensorShape shape;
    char why[128];
    LoadStatus status = axes_of_node(&c->node->attrs, input, &axes, why, sizeof why);
    if (status == LOAD_OK) status = shape_of(&x->shape, &axes, unsqueeze, &shape, why, sizeof why);
    if (status != LOAD_OK) return eval_fail(c, status, "%s", why);
    return eval_copy_reshaped(c, x, &shape);
}
