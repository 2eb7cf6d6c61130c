// Slice (version 10 on: bounds as constant inputs), ONNX clamping rules.
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static int64_t clamp64(int64_t value, int64_t low, int64_t high) {
    return value < low ? low : value > high ? high : value;
}

static LoadStatus infer_slice(const InferContext *c) {
    TRY(shape_require_float(c, 0));
    const TensorShape *x = &shape_input(c, 0)->shape;
    const HostTensor *starts, *ends, *axes = NULL, *steps = NULL;
    TRY(shape_require_int_vector(c, 1, "starts", &starts));
    TRY(shape_require_int_vector(c, 2, "ends", &ends));
    if (shape_has_input(c, 3)) TRY(shape_require_int_vector(c, 3, "axes", &axes));
    if (shape_has_input(c, 4)) TRY(shape_require_int_vector(c, 4, "steps", &steps));
    size_t count = starts->count;
    if (ends->count != count || (axes && axes->count != count) || (steps && steps->count != count)
        || count > (size_t)x->rank)
        return shape_fail(c, LOAD_INVALID, "starts/ends/axes/steps have inconsistent lengths");
    NodeGeometry *g = c->out;
    g->out = *x;
    int seen[SD_MAX_DIMS] = {0};
    for (int d = 0; d < x->rank; d++) {
        g->geom.slice.starts[d] = 0;
        g->geom.slice.steps[d] = 1;
    }
    for (size_t i = 0; i < count; i++) {
        int64_t axis = axes ? shape_normalize_axis(axes->ints[i], x->rank) : (int64_t)i;
        if (axis < 0 || axis >= x->rank || seen[axis]++)
            return shape_fail(c, LOAD_INVALID, "axes entry %zu is out of range or repeated", i);
        int64_t dim = x->dims[axis], step = steps ? steps->ints[i] : 1;
        int64_t start = starts->ints[i], end = ends->ints[i];
        if (step == 0 || step < -SD_MAX_TENSOR_ELEMENTS || step > SD_MAX_TENSOR_ELEMENTS)
            return shape_fail(c, LOAD_INVALID, "steps entry %zu is zero or out of range", i);
        if (start < 0) start = start < -dim ? -1 - dim : start + dim;  // no overflow
        if (end < 0) end = end < -dim ? -1 - dim : end + dim;
        int64_t length;
        if (step > 0) {
            start = clamp64(start, 0, dim);
            end = clamp64(end, 0, dim);
            length = end > start ? (end - start + step - 1) / step : 0;
        } else {
            start = clamp64(start, 0, dim - 1);
            end = clamp64(end, -1, dim - 1);
            length = start > end ? (start - end + (-step) - 1) / (-step) : 0;
        }
        g->geom.slice.starts[axis] = start;
        g->geom.slice.steps[axis] = step;
        g->out.dims[axis] = length;
    }
    return shape_finish_output(c);
}

// One axis of a Slice: start and step, and how many elements it keeps (ONNX clamping rules).
static int64_t slice_axis(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first) {
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    if (step > 0) {
        start = start < 0 ? 0 : start > dim ? dim : start;
        end = end < 0 ? 0 : end > dim ? dim : end;
        *first = start;
        return end > start ? (end - start + step - 1) / step : 0;
    }
    start = start < 0 ? 0 : start > dim - 1 ? dim - 1 : start;
    end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
    *first = start;
    return start > end ? (start - end - step - 1) / -step : 0;
}

static LoadStatus eval_slice(const Eval *c) {
    const HostTensor *x = eval_arg(c, 0), *starts = NULL, *ends = NULL, *axes = NULL, *steps = NULL;
    LoadStatus status = eval_int_vector(c, 1, "starts", &starts);
    if (status == LOAD_OK) status = eval_int_vector(c, 2, "ends", &ends);
    if (status == LOAD_OK && eval_present(c, 3)) status = eval_int_vector(c, 3, "axes", &axes);
    if (status == LOAD_OK && eval_present(c, 4)) status = eval_int_vector(c, 4, "steps", &steps);
    if (status != LOAD_OK) return status;
    size_t n = starts->count;
    if (ends->count != n || (axes && axes->count != n) || (steps && steps->count != n))
        return eval_fail(c, LOAD_INVALID, "starts, ends, axes and steps differ in length");
    int rank = x->shape.rank;
    int64_t first[SD_MAX_DIMS] = {0}, step[SD_MAX_DIMS];
    TensorShape shape = x->shape;
    for (int d = 0; d < rank; d++) step[d] = 1;
    int seen[SD_MAX_DIMS] = {0};
    for (size_t i = 0; i < n; i++) {
        int64_t axis = 0;
        if ((status = eval_normalize_axis(c, axes ? axes->ints[i] : (int64_t)i, rank, &axis)) !=
            LOAD_OK)
            return status;
        if (seen[axis]++)
            return eval_fail(c, LOAD_INVALID, "axis %lld is repeated", (long long)axis);
        step[axis] = steps ? steps->ints[i] : 1;
        if (step[axis] == 0) return eval_fail(c, LOAD_INVALID, "a step is 0");
        shape.dims[axis] = slice_axis(x->shape.dims[axis], starts->ints[i], ends->ints[i],
                                      step[axis], &first[axis]);
    }
    HostTensor *t = NULL;
    if ((status = eval_new_output(c, x->dtype, &shape, &t)) != LOAD_OK) return status;
    int64_t strides[SD_MAX_DIMS];
    eval_row_major_strides(&x->shape, strides);
    for (size_t i = 0; i < t->count; i++) {
        size_t flat = i, from = 0;
        for (int d = rank - 1; d >= 0; d--) {
            int64_t coord = (int64_t)(flat % (size_t)shape.dims[d]);
            flat /= (size_t)shape.dims[d];
            from += (size_t)((first[d] + coord * step[d]) * strides[d]);
        }
        eval_copy_element(t, i, x, from);
    }
    return LOAD_OK;
}

static LoadStatus lower(PlanBuilder *b, int n) {
    PlanStep *step = plan_add_node_step(b, n, STEP_SLICE, 1);
    if (!step) return LOAD_INVALID;
    step->p.slice = b->geometry[n].geom.slice;
    return LOAD_OK;
}

// Inputs starts, ends, axes, steps are plan-time constants.
const OpDef op_slice = {
    .info = {"Slice", {1, 10, 11, 13}, 10, 3, 5, 1, 1, 0x1e, 0},
    .infer_shape = infer_slice,
    .host_eval = eval_slice,
    .lower = lower,
};
