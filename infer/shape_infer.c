// Shape inference's shared checks (declared in ops/op_def.h) and its dispatch:
// each op's shape rule lives in its file under infer/ops/ and is reached through
// the op table.
#include "shape_infer.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ops/op_def.h"

LoadStatus shape_fail(const InferContext *c, LoadStatus status, const char *format, ...) {
    char reason[512];
    va_list args;
    va_start(args, format);
    vsnprintf(reason, sizeof reason, format, args);
    va_end(args);
    snprintf(c->err, c->err_len, "%s: %s", c->where, reason);
    return status;
}

int shape_has_input(const InferContext *c, int slot) {
    return slot < c->node->n_inputs && c->node->inputs[slot] >= 0;
}

const ValueState *shape_input(const InferContext *c, int slot) { return c->in[slot]; }

// A data input: present, shape known, float.
LoadStatus shape_require_float(const InferContext *c, int slot) {
    if (!shape_has_input(c, slot)) return shape_fail(c, LOAD_INVALID, "input #%d is missing", slot);
    const ValueState *v = shape_input(c, slot);
    if (!v->known) return shape_fail(c, LOAD_INVALID, "the shape of input #%d is unknown", slot);
    if (v->dtype != ONNX_DTYPE_FLOAT)
        return shape_fail(c, LOAD_UNSUPPORTED,
                          "input #%d has element type %d; only float tensors are "
                          "computed",
                          slot, v->dtype);
    if (shape_element_count(&v->shape) <= 0)
        return shape_fail(c, LOAD_UNSUPPORTED, "input #%d is empty or too large", slot);
    return LOAD_OK;
}

// A 1-D int64 constant input (shape vectors, pads, slice bounds).
LoadStatus shape_require_int_vector(const InferContext *c, int slot, const char *what,
                                     const HostTensor **out) {
    if (!shape_has_input(c, slot))
        return shape_fail(c, LOAD_INVALID, "input '%s' is missing", what);
    const ValueState *v = shape_input(c, slot);
    if (!v->constant)
        return shape_fail(c, LOAD_UNSUPPORTED, "input '%s' must be a constant (an initializer or a "
                          "Constant node), computed shapes are not supported", what);
    if (v->constant->dtype != ONNX_DTYPE_INT64 || v->constant->shape.rank != 1)
        return shape_fail(c, LOAD_INVALID, "input '%s' must be a 1-D int64 tensor", what);
    *out = v->constant;
    return LOAD_OK;
}

LoadStatus shape_finish_output(const InferContext *c) {
    int64_t count = shape_element_count(&c->out->out);
    if (count == 0) return shape_fail(c, LOAD_UNSUPPORTED, "the output would be empty (zero-sized "
                                      "tensors are not supported)");
    if (count < 0) return shape_fail(c, LOAD_UNSUPPORTED, "the output is too large");
    return LOAD_OK;
}

int64_t shape_normalize_axis(int64_t axis, int rank_bound) {
    return axis < 0 ? axis + rank_bound : axis;
}

int shape_broadcast(const TensorShape *a, const TensorShape *b, TensorShape *out) {
    int rank = a->rank > b->rank ? a->rank : b->rank;
    out->rank = rank;
    for (int i = 0; i < rank; i++) {
        int ai = a->rank - rank + i, bi = b->rank - rank + i;
        int64_t da = ai >= 0 ? a->dims[ai] : 1, db = bi >= 0 ? b->dims[bi] : 1;
        if (da != db && da != 1 && db != 1) return -1;
        out->dims[i] = da == 1 ? db : da;
    }
    return 0;
}

LoadStatus shape_same_as_input(const InferContext *c) {
    TRY(shape_require_float(c, 0));
    c->out->out = shape_input(c, 0)->shape;
    return shape_finish_output(c);
}

LoadStatus shape_infer_node(const OnnxGraph *graph, int node, const ValueState *const *inputs,
                            const char *where, NodeGeometry *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    InferContext context = {&graph->nodes[node], inputs, where, err, err_len, out};
    const OpDef *def = op_def(context.node->attrs.kind);
    if (!def->infer_shape)
        return shape_fail(&context, LOAD_UNSUPPORTED, "no shape inference for this op");
    return def->infer_shape(&context);
}
