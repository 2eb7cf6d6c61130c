// Element-wise arithmetic with numpy broadcasting (Add, Sub, Mul, Div) and Equal:
// the shape rule, the host evaluation of integer and float constants, the lowering.
#include "binary.h"

#include <stdio.h>

LoadStatus binary_infer_shape(const InferContext *c) {
    TRY(shape_require_float(c, 0));
    TRY(shape_require_float(c, 1));
    char a_text[128], b_text[128];
    if (shape_broadcast(&shape_input(c, 0)->shape, &shape_input(c, 1)->shape, &c->out->out) != 0)
        return shape_fail(c, LOAD_INVALID, "shapes %s and %s do not broadcast",
                          shape_format(&shape_input(c, 0)->shape, a_text, sizeof a_text),
                          shape_format(&shape_input(c, 1)->shape, b_text, sizeof b_text));
    return shape_finish_output(c);
}

static LoadStatus integer_binary(const Eval *c, HostArith op, int64_t a, int64_t b, int64_t *out) {
    switch (op) {
    case ARITH_ADD: *out = (int64_t)((uint64_t)a + (uint64_t)b); return LOAD_OK;
    case ARITH_SUB: *out = (int64_t)((uint64_t)a - (uint64_t)b); return LOAD_OK;
    case ARITH_MUL: *out = (int64_t)((uint64_t)a * (uint64_t)b); return LOAD_OK;
    case ARITH_DIV:
        if (b == 0 || (a == INT64_MIN && b == -1))
            return eval_fail(c, LOAD_INVALID, "integer division by 0");
        *out = a / b;  // truncation toward zero, as onnxruntime
        return LOAD_OK;
    default: *out = a == b; return LOAD_OK;  // Equal
    }
}

static real float_binary(HostArith op, real a, real b) {
    switch (op) {
    case ARITH_ADD: return a + b;
    case ARITH_SUB: return a - b;
    case ARITH_MUL: return a * b;
    case ARITH_DIV: return a / b;
    default: return a == b;  // Equal
    }
}

LoadStatus binary_host_eval(const Eval *c, HostArith op) {
    const HostTensor *a = eval_arg(c, 0), *b = eval_arg(c, 1);
    if (a->dtype != b->dtype)
        return eval_fail(c, LOAD_INVALID, "the inputs differ in element type");
    TensorShape shape;
    if (shape_broadcast(&a->shape, &b->shape, &shape) != 0)
        return eval_fail(c, LOAD_INVALID, "the input shapes do not broadcast");
    HostTensor *t = NULL;
    LoadStatus status =
        eval_new_output(c, op == ARITH_EQUAL ? ONNX_DTYPE_BOOL : a->dtype, &shape, &t);
    for (size_t i = 0; status == LOAD_OK && i < t->count; i++) {
        size_t ia = eval_broadcast_offset(&a->shape, &shape, i),
               ib = eval_broadcast_offset(&b->shape, &shape, i);
        if (a->ints) status = integer_binary(c, op, a->ints[ia], b->ints[ib], &t->ints[i]);
        else if (op == ARITH_EQUAL) t->ints[i] = a->floats[ia] == b->floats[ib];
        else t->floats[i] = float_binary(op, a->floats[ia], b->floats[ib]);
    }
    if (status == LOAD_OK && a->ints && a->dtype == ONNX_DTYPE_INT32)
        for (size_t i = 0; i < t->count; i++) t->ints[i] = (int32_t)t->ints[i];
    return status;
}

// The residual merge ReLU(a + b) when plan_fusion.c fused a Relu into this Add.
LoadStatus binary_lower(PlanBuilder *b, int n, BinaryOp op) {
    int add_relu = b->lowering[n].add_relu;
    PlanStep *step = plan_add_node_step(b, n, add_relu ? STEP_ADD_RELU : STEP_BINARY, 2);
    if (!step) return LOAD_INVALID;
    if (!add_relu) step->p.binary = op;
    return LOAD_OK;
}
