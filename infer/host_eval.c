#include "host_eval.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

// One node being evaluated: its inputs, how to name it, where the result goes.
typedef struct {
    const GraphNode *node;
    const ValueState *const *in;
    const char *where;
    char *err;
    size_t err_len;
    HostTensor **out;
} Eval;

static LoadStatus fail(const Eval *c, LoadStatus status, const char *format, ...) {
    char reason[400];
    va_list args;
    va_start(args, format);
    vsnprintf(reason, sizeof reason, format, args);
    va_end(args);
    snprintf(c->err, c->err_len, "%s: %s", c->where, reason);
    return status;
}

static int present(const Eval *c, int slot) {
    return slot < c->node->n_inputs && c->node->inputs[slot] >= 0;
}

// The constant at an input slot (host_eval_ready made sure it exists), or NULL when omitted.
static const HostTensor *arg(const Eval *c, int slot) {
    return present(c, slot) ? c->in[slot]->constant : NULL;
}

// The largest tensor the planner computes on the host: shape computations are tiny, and
// a graph whose ConstantOfShape, Expand or Range would make gigabytes of constants is
// refused rather than trusted (a few bytes of a model must not cost unbounded memory).
#define SD_MAX_FOLDED_ELEMENTS ((int64_t)1 << 25)

static LoadStatus new_output(const Eval *c, int dtype, const TensorShape *shape, HostTensor **t) {
    int64_t count = shape_element_count(shape);
    *t = NULL;
    if (count < 0 || count > SD_MAX_FOLDED_ELEMENTS)
        return fail(c, LOAD_UNSUPPORTED, "the computed tensor would have more than %lld elements",
                    (long long)SD_MAX_FOLDED_ELEMENTS);
    *t = host_tensor_create(dtype, shape);
    if (!*t) return fail(c, LOAD_UNSUPPORTED, "the computed tensor is too large");
    *c->out = *t;
    return LOAD_OK;
}

static double value_at(const HostTensor *t, size_t i) {
    return t->floats ? (double)t->floats[i] : (double)t->ints[i];
}

// Same element type on both sides.
static void copy_element(HostTensor *dst, size_t to, const HostTensor *src, size_t from) {
    if (dst->floats) dst->floats[to] = src->floats[from];
    else dst->ints[to] = src->ints[from];
}

static void row_major_strides(const TensorShape *shape, int64_t *strides) {
    int64_t stride = 1;
    for (int axis = shape->rank - 1; axis >= 0; axis--) {
        strides[axis] = stride;
        stride *= shape->dims[axis];
    }
}

// The element of `in` (broadcast to `out`, numpy rules) at out's flat index.
static size_t broadcast_offset(const TensorShape *in, const TensorShape *out, size_t flat) {
    size_t offset = 0, stride = 1;
    for (int a = out->rank - 1, b = in->rank - 1; b >= 0; a--, b--) {
        size_t coord = flat % (size_t)out->dims[a];
        flat /= (size_t)out->dims[a];
        if (in->dims[b] != 1) offset += coord * stride;
        stride *= (size_t)in->dims[b];
    }
    return offset;
}

static int64_t product(const TensorShape *shape, int from, int to) {
    int64_t p = 1;
    for (int axis = from; axis < to; axis++) p *= shape->dims[axis];
    return p;
}

// A 1-D (or scalar) integer constant input, e.g. a shape or axes vector.
static LoadStatus int_vector(const Eval *c, int slot, const char *what, const HostTensor **out) {
    const HostTensor *t = arg(c, slot);
    if (!t || !t->ints || t->shape.rank > 1)
        return fail(c, LOAD_INVALID, "input '%s' must be a 1-D integer tensor", what);
    *out = t;
    return LOAD_OK;
}

static LoadStatus normalize_axis(const Eval *c, int64_t axis, int rank, int64_t *out) {
    if (axis < -rank || axis >= rank)
        return fail(c, LOAD_INVALID, "axis %lld is out of range for rank %d", (long long)axis, rank);
    *out = axis < 0 ? axis + rank : axis;
    return LOAD_OK;
}

// The same elements under a new shape (Identity, Reshape, Flatten, (Un)Squeeze).
static LoadStatus copy_reshaped(const Eval *c, const HostTensor *src, const TensorShape *shape) {
    if (shape_element_count(shape) != (int64_t)src->count)
        return fail(c, LOAD_INVALID, "the new shape holds another number of elements");
    HostTensor *t = NULL;
    LoadStatus status = new_output(c, src->dtype, shape, &t);
    if (status != LOAD_OK) return status;
    for (size_t i = 0; i < src->count; i++) copy_element(t, i, src, i);
    return LOAD_OK;
}

// ---- shapes of values -------------------------------------------------------------

static LoadStatus eval_shape(const Eval *c) {
    const TensorShape *x = &c->in[0]->shape;
    int64_t rank = x->rank, start = 0, end = rank;
    if (c->node->attrs.version >= 15) {
        start = c->node->attrs.u.shape_range.start;
        if (c->node->attrs.u.shape_range.has_end) end = c->node->attrs.u.shape_range.end;
    }
    start = start < 0 ? start + rank : start;
    end = end < 0 ? end + rank : end;
    start = start < 0 ? 0 : start > rank ? rank : start;
    end = end < 0 ? 0 : end > rank ? rank : end;
    TensorShape shape = {.rank = 1, .dims = {end > start ? end - start : 0}};
    HostTensor *t = NULL;
    LoadStatus status = new_output(c, ONNX_DTYPE_INT64, &shape, &t);
    for (int64_t i = start; status == LOAD_OK && i < end; i++) t->ints[i - start] = x->dims[i];
    return status;
}

static LoadStatus eval_size(const Eval *c) {
    TensorShape scalar = {.rank = 0};
    HostTensor *t = NULL;
    LoadStatus status = new_output(c, ONNX_DTYPE_INT64, &scalar, &t);
    if (status == LOAD_OK) t->ints[0] = shape_element_count(&c->in[0]->shape);
    return status;
}

// ---- element types -----------------------------------------------------------------

static LoadStatus eval_cast(const Eval *c) {
    const HostTensor *x = arg(c, 0);
    int to = c->node->attrs.u.cast_to;
    HostTensor *t = NULL;
    LoadStatus status = new_output(c, to, &x->shape, &t);
    for (size_t i = 0; status == LOAD_OK && i < x->count; i++) {
        double v = value_at(x, i);
        if (to == ONNX_DTYPE_FLOAT) t->floats[i] = (real)v;
        else if (to == ONNX_DTYPE_BOOL) t->ints[i] = v != 0;
        else if (x->ints) t->ints[i] = to == ONNX_DTYPE_INT32 ? (int32_t)x->ints[i] : x->ints[i];
        else if (!isfinite(v) || fabs(v) >= (to == ONNX_DTYPE_INT32 ? 2147483648.0 : 9.2e18))
            status = fail(c, LOAD_INVALID, "element %zu (%g) does not fit the integer type", i, v);
        else t->ints[i] = (int64_t)v;  // truncation toward zero, as C and numpy
    }
    return status;
}

// ---- views with a new shape --------------------------------------------------------

// Unsqueeze's and Squeeze's axes: the attribute before version 13, the input after.
static LoadStatus read_axes(const Eval *c, int64_t *axes, int *count) {
    const OpAttrs *attrs = &c->node->attrs;
    if (attrs->version < 13) {
        *count = attrs->u.axes.count;
        if (*count > 0) memcpy(axes, attrs->u.axes.values, sizeof(int64_t) * (size_t)*count);
        return LOAD_OK;
    }
    *count = -1;
    if (!present(c, 1)) return LOAD_OK;
    const HostTensor *t = NULL;
    LoadStatus status = int_vector(c, 1, "axes", &t);
    if (status != LOAD_OK) return status;
    if (t->count > SD_MAX_DIMS) return fail(c, LOAD_UNSUPPORTED, "more than %d axes", SD_MAX_DIMS);
    *count = (int)t->count;
    memcpy(axes, t->ints, sizeof(int64_t) * t->count);
    return LOAD_OK;
}

static LoadStatus eval_unsqueeze(const Eval *c) {
    const HostTensor *x = arg(c, 0);
    int64_t axes[SD_MAX_DIMS];
    int count = 0;
    LoadStatus status = read_axes(c, axes, &count);
    if (status != LOAD_OK) return status;
    if (count < 1) return fail(c, LOAD_INVALID, "no axes to insert");
    int rank = x->shape.rank + count;
    if (rank > SD_MAX_DIMS) return fail(c, LOAD_UNSUPPORTED, "rank %d is more than %d", rank, SD_MAX_DIMS);
    int inserted[SD_MAX_DIMS] = {0};
    for (int i = 0; i < count; i++) {
        int64_t axis = 0;
        if ((status = normalize_axis(c, axes[i], rank, &axis)) != LOAD_OK) return status;
        if (inserted[axis]) return fail(c, LOAD_INVALID, "axis %lld is repeated", (long long)axes[i]);
        inserted[axis] = 1;
    }
    TensorShape shape = {.rank = rank};
    for (int axis = 0, from = 0; axis < rank; axis++)
        shape.dims[axis] = inserted[axis] ? 1 : x->shape.dims[from++];
    return copy_reshaped(c, x, &shape);
}

static LoadStatus eval_squeeze(const Eval *c) {
    const HostTensor *x = arg(c, 0);
    int64_t axes[SD_MAX_DIMS];
    int count = 0;
    LoadStatus status = read_axes(c, axes, &count);
    if (status != LOAD_OK) return status;
    int removed[SD_MAX_DIMS] = {0};
    for (int axis = 0; count < 0 && axis < x->shape.rank; axis++) removed[axis] = x->shape.dims[axis] == 1;
    for (int i = 0; i < count; i++) {
        int64_t axis = 0;
        if ((status = normalize_axis(c, axes[i], x->shape.rank, &axis)) != LOAD_OK) return status;
        if (x->shape.dims[axis] != 1)
            return fail(c, LOAD_INVALID, "axis %lld has size %lld, not 1", (long long)axes[i],
                        (long long)x->shape.dims[axis]);
        removed[axis] = 1;
    }
    TensorShape shape = {.rank = 0};
    for (int axis = 0; axis < x->shape.rank; axis++)
        if (!removed[axis]) shape.dims[shape.rank++] = x->shape.dims[axis];
    return copy_reshaped(c, x, &shape);
}

static LoadStatus eval_flatten(const Eval *c) {
    const HostTensor *x = arg(c, 0);
    int rank = x->shape.rank;
    int64_t axis = c->node->attrs.u.axis;
    if (axis < -rank || axis > rank)
        return fail(c, LOAD_INVALID, "axis %lld is out of range for rank %d", (long long)axis, rank);
    if (axis < 0) axis += rank;
    TensorShape shape = {.rank = 2, .dims = {product(&x->shape, 0, (int)axis),
                                             product(&x->shape, (int)axis, rank)}};
    return copy_reshaped(c, x, &shape);
}

// Reshape's shape vector: 0 copies the input's dim (unless allowzero), one -1 is inferred.
static LoadStatus eval_reshape(const Eval *c) {
    const HostTensor *x = arg(c, 0), *target = NULL;
    LoadStatus status = int_vector(c, 1, "shape", &target);
    if (status != LOAD_OK) return status;
    if (target->count > SD_MAX_DIMS) return fail(c, LOAD_UNSUPPORTED, "rank above %d", SD_MAX_DIMS);
    TensorShape shape = {.rank = (int)target->count};
    int inferred = -1;
    int64_t known = 1;
    for (int axis = 0; axis < shape.rank; axis++) {
        int64_t dim = target->ints[axis];
        if (dim == 0 && !c->node->attrs.u.allowzero) {
            if (axis >= x->shape.rank) return fail(c, LOAD_INVALID, "0 on axis %d copies no dim", axis);
            dim = x->shape.dims[axis];
        }
        if (dim == -1 && inferred < 0) inferred = axis;
        else if (dim < 0) return fail(c, LOAD_INVALID, "invalid dim %lld in the shape", (long long)dim);
        else known *= dim;
        shape.dims[axis] = dim;
        if (known > SD_MAX_TENSOR_ELEMENTS) return fail(c, LOAD_INVALID, "the shape is too large");
    }
    if (inferred >= 0) {
        if (known == 0 || (int64_t)x->count % known != 0)
            return fail(c, LOAD_INVALID, "cannot infer the -1 dim of the shape");
        shape.dims[inferred] = (int64_t)x->count / known;
    }
    return copy_reshaped(c, x, &shape);
}

static LoadStatus eval_expand(const Eval *c) {
    const HostTensor *x = arg(c, 0), *target = NULL;
    LoadStatus status = int_vector(c, 1, "shape", &target);
    if (status != LOAD_OK) return status;
    if (target->count > SD_MAX_DIMS) return fail(c, LOAD_UNSUPPORTED, "rank above %d", SD_MAX_DIMS);
    TensorShape requested = {.rank = (int)target->count}, shape;
    for (int axis = 0; axis < requested.rank; axis++) {
        if (target->ints[axis] < 0) return fail(c, LOAD_INVALID, "a negative dim in the shape");
        requested.dims[axis] = target->ints[axis];
    }
    if (shape_broadcast(&x->shape, &requested, &shape) != 0)
        return fail(c, LOAD_INVALID, "the input does not broadcast to the shape");
    HostTensor *t = NULL;
    if ((status = new_output(c, x->dtype, &shape, &t)) != LOAD_OK) return status;
    for (size_t i = 0; i < t->count; i++) copy_element(t, i, x, broadcast_offset(&x->shape, &shape, i));
    return LOAD_OK;
}

// ---- gathering and rearranging -----------------------------------------------------

static LoadStatus eval_concat(const Eval *c) {
    const HostTensor *first = arg(c, 0);
    int rank = first->shape.rank;
    int64_t axis = 0;
    LoadStatus status = normalize_axis(c, c->node->attrs.u.axis, rank, &axis);
    if (status != LOAD_OK) return status;
    TensorShape shape = first->shape;
    shape.dims[axis] = 0;
    for (int k = 0; k < c->node->n_inputs; k++) {
        const HostTensor *part = arg(c, k);
        if (!part || part->dtype != first->dtype || part->shape.rank != rank)
            return fail(c, LOAD_INVALID, "input #%d differs in element type or rank", k);
        for (int d = 0; d < rank; d++)
            if (d != axis && part->shape.dims[d] != first->shape.dims[d])
                return fail(c, LOAD_INVALID, "input #%d differs on axis %d", k, d);
        shape.dims[axis] += part->shape.dims[axis];
    }
    HostTensor *t = NULL;
    if ((status = new_output(c, first->dtype, &shape, &t)) != LOAD_OK) return status;
    int64_t outer = product(&shape, 0, (int)axis), inner = product(&shape, (int)axis + 1, rank);
    size_t to = 0;
    for (int64_t o = 0; o < outer; o++)
        for (int k = 0; k < c->node->n_inputs; k++) {
            const HostTensor *part = arg(c, k);
            size_t block = (size_t)(part->shape.dims[axis] * inner);
            for (size_t i = 0; i < block; i++) copy_element(t, to++, part, (size_t)o * block + i);
        }
    return LOAD_OK;
}

static LoadStatus eval_gather(const Eval *c) {
    const HostTensor *data = arg(c, 0), *indices = arg(c, 1);
    if (!indices->ints) return fail(c, LOAD_INVALID, "the indices are not integers");
    int rank = data->shape.rank;
    int64_t axis = 0;
    LoadStatus status = normalize_axis(c, c->node->attrs.u.axis, rank, &axis);
    if (status != LOAD_OK) return status;
    if (rank - 1 + indices->shape.rank > SD_MAX_DIMS)
        return fail(c, LOAD_UNSUPPORTED, "the output's rank is above %d", SD_MAX_DIMS);
    TensorShape shape = {.rank = 0};
    for (int d = 0; d < axis; d++) shape.dims[shape.rank++] = data->shape.dims[d];
    for (int d = 0; d < indices->shape.rank; d++) shape.dims[shape.rank++] = indices->shape.dims[d];
    for (int d = (int)axis + 1; d < rank; d++) shape.dims[shape.rank++] = data->shape.dims[d];
    HostTensor *t = NULL;
    if ((status = new_output(c, data->dtype, &shape, &t)) != LOAD_OK) return status;
    int64_t extent = data->shape.dims[axis];
    int64_t outer = product(&data->shape, 0, (int)axis), inner = product(&data->shape, (int)axis + 1, rank);
    size_t to = 0;
    for (int64_t o = 0; o < outer; o++)
        for (size_t j = 0; j < indices->count; j++) {
            int64_t index = indices->ints[j];
            if (index < -extent || index >= extent)
                return fail(c, LOAD_INVALID, "index %lld is out of range [-%lld, %lld)",
                            (long long)index, (long long)extent, (long long)extent);
            if (index < 0) index += extent;
            for (int64_t i = 0; i < inner; i++)
                copy_element(t, to++, data, (size_t)((o * extent + index) * inner + i));
        }
    return LOAD_OK;
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
    const HostTensor *x = arg(c, 0), *starts = NULL, *ends = NULL, *axes = NULL, *steps = NULL;
    LoadStatus status = int_vector(c, 1, "starts", &starts);
    if (status == LOAD_OK) status = int_vector(c, 2, "ends", &ends);
    if (status == LOAD_OK && present(c, 3)) status = int_vector(c, 3, "axes", &axes);
    if (status == LOAD_OK && present(c, 4)) status = int_vector(c, 4, "steps", &steps);
    if (status != LOAD_OK) return status;
    size_t n = starts->count;
    if (ends->count != n || (axes && axes->count != n) || (steps && steps->count != n))
        return fail(c, LOAD_INVALID, "starts, ends, axes and steps differ in length");
    int rank = x->shape.rank;
    int64_t first[SD_MAX_DIMS] = {0}, step[SD_MAX_DIMS];
    TensorShape shape = x->shape;
    for (int d = 0; d < rank; d++) step[d] = 1;
    int seen[SD_MAX_DIMS] = {0};
    for (size_t i = 0; i < n; i++) {
        int64_t axis = 0;
        if ((status = normalize_axis(c, axes ? axes->ints[i] : (int64_t)i, rank, &axis)) != LOAD_OK)
            return status;
        if (seen[axis]++) return fail(c, LOAD_INVALID, "axis %lld is repeated", (long long)axis);
        step[axis] = steps ? steps->ints[i] : 1;
        if (step[axis] == 0) return fail(c, LOAD_INVALID, "a step is 0");
        shape.dims[axis] = slice_axis(x->shape.dims[axis], starts->ints[i], ends->ints[i],
                                      step[axis], &first[axis]);
    }
    HostTensor *t = NULL;
    if ((status = new_output(c, x->dtype, &shape, &t)) != LOAD_OK) return status;
    int64_t strides[SD_MAX_DIMS];
    row_major_strides(&x->shape, strides);
    for (size_t i = 0; i < t->count; i++) {
        size_t flat = i, from = 0;
        for (int d = rank - 1; d >= 0; d--) {
            int64_t coord = (int64_t)(flat % (size_t)shape.dims[d]);
            flat /= (size_t)shape.dims[d];
            from += (size_t)((first[d] + coord * step[d]) * strides[d]);
        }
        copy_element(t, i, x, from);
    }
    return LOAD_OK;
}

static LoadStatus eval_transpose(const Eval *c) {
    const HostTensor *x = arg(c, 0);
    int rank = x->shape.rank, count = c->node->attrs.u.axes.count;
    int64_t perm[SD_MAX_DIMS];
    int used[SD_MAX_DIMS] = {0};
    if (count >= 0 && count != rank)
        return fail(c, LOAD_INVALID, "perm has %d entries for rank %d", count, rank);
    for (int d = 0; d < rank; d++) {
        perm[d] = count < 0 ? rank - 1 - d : c->node->attrs.u.axes.values[d];
        if (perm[d] < 0 || perm[d] >= rank || used[perm[d]]++)
            return fail(c, LOAD_INVALID, "perm is not a permutation of the axes");
    }
    TensorShape shape = {.rank = rank};
    for (int d = 0; d < rank; d++) shape.dims[d] = x->shape.dims[perm[d]];
    HostTensor *t = NULL;
    LoadStatus status = new_output(c, x->dtype, &shape, &t);
    if (status != LOAD_OK) return status;
    int64_t strides[SD_MAX_DIMS];
    row_major_strides(&x->shape, strides);
    for (size_t i = 0; i < t->count; i++) {
        size_t flat = i, from = 0;
        for (int d = rank - 1; d >= 0; d--) {
            from += (flat % (size_t)shape.dims[d]) * (size_t)strides[perm[d]];
            flat /= (size_t)shape.dims[d];
        }
        copy_element(t, i, x, from);
    }
    return LOAD_OK;
}

// ---- new tensors -------------------------------------------------------------------

static LoadStatus eval_constant_of_shape(const Eval *c) {
    const HostTensor *dims = NULL, *fill = c->node->attrs.constant;
    LoadStatus status = int_vector(c, 0, "input", &dims);
    if (status != LOAD_OK) return status;
    if (dims->count > SD_MAX_DIMS) return fail(c, LOAD_UNSUPPORTED, "rank above %d", SD_MAX_DIMS);
    TensorShape shape = {.rank = (int)dims->count};
    for (int d = 0; d < shape.rank; d++) {
        if (dims->ints[d] < 0) return fail(c, LOAD_INVALID, "a negative dim in the shape");
        shape.dims[d] = dims->ints[d];
    }
    HostTensor *t = NULL;
    if ((status = new_output(c, fill->dtype, &shape, &t)) != LOAD_OK) return status;
    for (size_t i = 0; i < t->count; i++) copy_element(t, i, fill, 0);
    return LOAD_OK;
}

static LoadStatus eval_range(const Eval *c) {
    const HostTensor *start = arg(c, 0), *limit = arg(c, 1), *delta = arg(c, 2);
    if (start->count != 1 || limit->count != 1 || delta->count != 1 ||
        limit->dtype != start->dtype || delta->dtype != start->dtype)
        return fail(c, LOAD_INVALID, "start, limit and delta must be scalars of one type");
    double first = value_at(start, 0), step = value_at(delta, 0);
    if (step == 0 || !isfinite(first) || !isfinite(step) || !isfinite(value_at(limit, 0)))
        return fail(c, LOAD_INVALID, "delta is 0 or a bound is not finite");
    double count = ceil((value_at(limit, 0) - first) / step);
    if (count > (double)SD_MAX_TENSOR_ELEMENTS) return fail(c, LOAD_UNSUPPORTED, "the range is too long");
    TensorShape shape = {.rank = 1, .dims = {count > 0 ? (int64_t)count : 0}};
    HostTensor *t = NULL;
    LoadStatus status = new_output(c, start->dtype, &shape, &t);
    for (int64_t i = 0; status == LOAD_OK && i < shape.dims[0]; i++) {
        if (t->floats) t->floats[i] = (real)(start->floats[0] + (real)i * delta->floats[0]);
        else t->ints[i] = start->ints[0] + i * delta->ints[0];
    }
    return status;
}

// ---- element-wise ------------------------------------------------------------------

static LoadStatus integer_binary(const Eval *c, OpKind kind, int64_t a, int64_t b, int64_t *out) {
    switch (kind) {
    case OP_ADD: *out = (int64_t)((uint64_t)a + (uint64_t)b); return LOAD_OK;
    case OP_SUB: *out = (int64_t)((uint64_t)a - (uint64_t)b); return LOAD_OK;
    case OP_MUL: *out = (int64_t)((uint64_t)a * (uint64_t)b); return LOAD_OK;
    case OP_DIV:
        if (b == 0 || (a == INT64_MIN && b == -1)) return fail(c, LOAD_INVALID, "integer division by 0");
        *out = a / b;  // truncation toward zero, as onnxruntime
        return LOAD_OK;
    default: *out = a == b; return LOAD_OK;  // Equal
    }
}

static real float_binary(OpKind kind, real a, real b) {
    switch (kind) {
    case OP_ADD: return a + b;
    case OP_SUB: return a - b;
    case OP_MUL: return a * b;
    case OP_DIV: return a / b;
    default: return a == b;  // Equal
    }
}

static LoadStatus eval_binary(const Eval *c) {
    const HostTensor *a = arg(c, 0), *b = arg(c, 1);
    OpKind kind = c->node->attrs.kind;
    if (a->dtype != b->dtype) return fail(c, LOAD_INVALID, "the inputs differ in element type");
    TensorShape shape;
    if (shape_broadcast(&a->shape, &b->shape, &shape) != 0)
        return fail(c, LOAD_INVALID, "the input shapes do not broadcast");
    HostTensor *t = NULL;
    LoadStatus status = new_output(c, kind == OP_EQUAL ? ONNX_DTYPE_BOOL : a->dtype, &shape, &t);
    for (size_t i = 0; status == LOAD_OK && i < t->count; i++) {
        size_t ia = broadcast_offset(&a->shape, &shape, i), ib = broadcast_offset(&b->shape, &shape, i);
        if (a->ints) status = integer_binary(c, kind, a->ints[ia], b->ints[ib], &t->ints[i]);
        else if (kind == OP_EQUAL) t->ints[i] = a->floats[ia] == b->floats[ib];
        else t->floats[i] = float_binary(kind, a->floats[ia], b->floats[ib]);
    }
    if (status == LOAD_OK && a->ints && a->dtype == ONNX_DTYPE_INT32)
        for (size_t i = 0; i < t->count; i++) t->ints[i] = (int32_t)t->ints[i];
    return status;
}

static LoadStatus eval_where(const Eval *c) {
    const HostTensor *condition = arg(c, 0), *x = arg(c, 1), *y = arg(c, 2);
    if (!condition->ints || x->dtype != y->dtype)
        return fail(c, LOAD_INVALID, "the condition is not boolean or X and Y differ in type");
    TensorShape xy, shape;
    if (shape_broadcast(&x->shape, &y->shape, &xy) != 0 ||
        shape_broadcast(&condition->shape, &xy, &shape) != 0)
        return fail(c, LOAD_INVALID, "the input shapes do not broadcast");
    HostTensor *t = NULL;
    LoadStatus status = new_output(c, x->dtype, &shape, &t);
    for (size_t i = 0; status == LOAD_OK && i < t->count; i++) {
        int take_x = condition->ints[broadcast_offset(&condition->shape, &shape, i)] != 0;
        const HostTensor *from = take_x ? x : y;
        copy_element(t, i, from, broadcast_offset(&from->shape, &shape, i));
    }
    return status;
}

// ---- dispatch ----------------------------------------------------------------------

static LoadStatus eval_identity(const Eval *c) {
    return copy_reshaped(c, arg(c, 0), &arg(c, 0)->shape);
}

typedef LoadStatus (*EvalFn)(const Eval *c);

static EvalFn evaluator(OpKind kind) {
    switch (kind) {
    case OP_SHAPE: return eval_shape;
    case OP_SIZE: return eval_size;
    case OP_CAST: return eval_cast;
    case OP_IDENTITY: return eval_identity;
    case OP_UNSQUEEZE: return eval_unsqueeze;
    case OP_SQUEEZE: return eval_squeeze;
    case OP_FLATTEN: return eval_flatten;
    case OP_RESHAPE: return eval_reshape;
    case OP_EXPAND: return eval_expand;
    case OP_CONCAT: return eval_concat;
    case OP_GATHER: return eval_gather;
    case OP_SLICE: return eval_slice;
    case OP_TRANSPOSE: return eval_transpose;
    case OP_CONSTANT_OF_SHAPE: return eval_constant_of_shape;
    case OP_RANGE: return eval_range;
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
    case OP_EQUAL: return eval_binary;
    case OP_WHERE: return eval_where;
    default: return NULL;
    }
}

int host_eval_ready(const GraphNode *node, const ValueState *const *inputs) {
    OpKind kind = node->attrs.kind;
    if (!evaluator(kind)) return 0;
    if (kind == OP_SHAPE || kind == OP_SIZE) return node->n_inputs > 0 && inputs[0]->known;
    for (int k = 0; k < node->n_inputs; k++)
        if (node->inputs[k] >= 0 && !inputs[k]->constant) return 0;
    return node->n_inputs > 0;
}

LoadStatus host_eval_node(const GraphNode *node, const ValueState *const *inputs,
                          const char *where, HostTensor **out, char *err, size_t err_len) {
    *out = NULL;
    Eval c = {node, inputs, where, err, err_len, out};
    EvalFn fn = evaluator(node->attrs.kind);
    if (!fn || !host_eval_ready(node, inputs))
        return fail(&c, LOAD_INVALID, "internal error: the node cannot be evaluated on the host");
    LoadStatus status = fn(&c);
    if (status != LOAD_OK) {
        host_tensor_free(*out);
        *out = NULL;
    }
    return status;
}
