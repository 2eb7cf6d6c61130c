// The host evaluator's shared helpers (declared in ops/op_def.h) and its dispatch:
// each op's evaluation lives in its file under infer/ops/ and is reached through
// the op table.
#include "host_eval.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ops/op_def.h"

LoadStatus eval_fail(const Eval *c, LoadStatus status, const char *format, ...) {
    char reason[400];
    va_list args;
    va_start(args, format);
    vsnprintf(reason, sizeof reason, format, args);
    va_end(args);
    snprintf(c->err, c->err_len, "%s: %s", c->where, reason);
    return status;
}

int eval_present(const Eval *c, int slot) {
    return slot < c->node->n_inputs && c->node->inputs[slot] >= 0;
}

// The constant at an input slot (host_eval_ready made sure it exists), or NULL when omitted.
const HostTensor *eval_arg(const Eval *c, int slot) {
    return eval_present(c, slot) ? c->in[slot]->constant : NULL;
}

// The largest tensor the planner computes on the host: shape computations are tiny, and
// a graph whose ConstantOfShape, Expand or Range would make gigabytes of constants is
// refused rather than trusted (a few bytes of a model must not cost unbounded memory).
#define SD_MAX_FOLDED_ELEMENTS ((int64_t)1 << 25)

LoadStatus eval_new_output(const Eval *c, int dtype, const TensorShape *shape, HostTensor **t) {
    int64_t count = shape_element_count(shape);
    *t = NULL;
    if (count < 0 || count > SD_MAX_FOLDED_ELEMENTS)
        return eval_fail(c, LOAD_UNSUPPORTED,
                         "the computed tensor would have more than %lld elements",
                         (long long)SD_MAX_FOLDED_ELEMENTS);
    *t = host_tensor_create(dtype, shape);
    if (!*t) return eval_fail(c, LOAD_UNSUPPORTED, "the computed tensor is too large");
    *c->out = *t;
    return LOAD_OK;
}

double eval_value_at(const HostTensor *t, size_t i) {
    return t->floats ? (double)t->floats[i] : (double)t->ints[i];
}

// Same element type on both sides.
void eval_copy_element(HostTensor *dst, size_t to, const HostTensor *src, size_t from) {
    if (dst->floats) dst->floats[to] = src->floats[from];
    else dst->ints[to] = src->ints[from];
}

void eval_row_major_strides(const TensorShape *shape, int64_t *strides) {
    int64_t stride = 1;
    for (int axis = shape->rank - 1; axis >= 0; axis--) {
        strides[axis] = stride;
        stride *= shape->dims[axis];
    }
}

// The element of `in` (broadcast to `out`, numpy rules) at out's flat index.
size_t eval_broadcast_offset(const TensorShape *in, const TensorShape *out, size_t flat) {
    size_t offset = 0, stride = 1;
    for (int a = out->rank - 1, b = in->rank - 1; b >= 0; a--, b--) {
        size_t coord = flat % (size_t)out->dims[a];
        flat /= (size_t)out->dims[a];
        if (in->dims[b] != 1) offset += coord * stride;
        stride *= (size_t)in->dims[b];
    }
    return offset;
}

int64_t eval_product(const TensorShape *shape, int from, int to) {
    int64_t p = 1;
    for (int axis = from; axis < to; axis++) p *= shape->dims[axis];
    return p;
}

// A 1-D (or scalar) integer constant input, e.g. a shape or axes vector.
LoadStatus eval_int_vector(const Eval *c, int slot, const char *what, const HostTensor **out) {
    const HostTensor *t = eval_arg(c, slot);
    if (!t || !t->ints || t->shape.rank > 1)
        return eval_fail(c, LOAD_INVALID, "input '%s' must be a 1-D integer tensor", what);
    *out = t;
    return LOAD_OK;
}

LoadStatus eval_normalize_axis(const Eval *c, int64_t axis, int rank, int64_t *out) {
    if (axis < -rank || axis >= rank)
        return eval_fail(c, LOAD_INVALID, "axis %lld is out of range for rank %d", (long long)axis,
                         rank);
    *out = axis < 0 ? axis + rank : axis;
    return LOAD_OK;
}

// The same elements under a new shape (Identity, Reshape, Flatten, (Un)Squeeze).
LoadStatus eval_copy_reshaped(const Eval *c, const HostTensor *src, const TensorShape *shape) {
    if (shape_element_count(shape) != (int64_t)src->count)
        return eval_fail(c, LOAD_INVALID, "the new shape holds another number of elements");
    HostTensor *t = NULL;
    LoadStatus status = eval_new_output(c, src->dtype, shape, &t);
    if (status != LOAD_OK) return status;
    for (size_t i = 0; i < src->count; i++) eval_copy_element(t, i, src, i);
    return LOAD_OK;
}

// Unsqueeze's and Squeeze's axes: the attribute before version 13, the input after.
// ---- dispatch (through the op table, infer/ops/registry.c) ---------------------------

int host_eval_ready(const GraphNode *node, const ValueState *const *inputs) {
    const OpDef *def = op_def(node->attrs.kind);
    if (!def->host_eval) return 0;
    if (def->host_reads_shape_only) return node->n_inputs > 0 && inputs[0]->known;
    for (int k = 0; k < node->n_inputs; k++)
        if (node->inputs[k] >= 0 && !inputs[k]->constant) return 0;
    return node->n_inputs > 0;
}

LoadStatus host_eval_node(const GraphNode *node, const ValueState *const *inputs,
                          const char *where, HostTensor **out, char *err, size_t err_len) {
    *out = NULL;
    Eval c = {node, inputs, where, err, err_len, out};
    LoadStatus (*fn)(const Eval *c) = op_def(node->attrs.kind)->host_eval;
    if (!fn || !host_eval_ready(node, inputs))
        return eval_fail(&c, LOAD_INVALID,
                         "internal error: the node cannot be evaluated on the host");
    LoadStatus status = fn(&c);
    if (status != LOAD_OK) {
        host_tensor_free(*out);
        *out = NULL;
    }
    return status;
}
