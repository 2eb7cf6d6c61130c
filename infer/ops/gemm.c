// Gemm: a fully connected step when B is a constant (alpha and beta folded into
// the weight and bias), else a general product plus beta C.
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus parse_gemm(const AttrReader *r, GemmAttrs *gemm) {
    int64_t flag;
    TRY(attr_read_float(r, "alpha", 1.0f, &gemm->alpha));
    TRY(attr_read_float(r, "beta", 1.0f, &gemm->beta));
    TRY(attr_read_int(r, "transA", 0, &flag));
    gemm->trans_a = flag != 0;
    TRY(attr_read_int(r, "transB", 0, &flag));
    gemm->trans_b = flag != 0;
    return LOAD_OK;
}

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    return parse_gemm(r, &out->u.gemm);
}

static LoadStatus infer_gemm(const InferContext *c) {
    const GemmAttrs *attrs = &c->node->attrs.u.gemm;
    TRY(shape_require_float(c, 0));
    TRY(shape_require_float(c, 1));
    const TensorShape *a = &shape_input(c, 0)->shape, *b = &shape_input(c, 1)->shape;
    if (a->rank != 2 || b->rank != 2) return shape_fail(c, LOAD_INVALID, "A and B must be 2-D");
    int64_t m = attrs->trans_a ? a->dims[1] : a->dims[0];
    int64_t k = attrs->trans_a ? a->dims[0] : a->dims[1];
    int64_t k_b = attrs->trans_b ? b->dims[1] : b->dims[0];
    int64_t n = attrs->trans_b ? b->dims[0] : b->dims[1];
    if (k != k_b)
        return shape_fail(c, LOAD_INVALID, "inner dimensions differ (%lld vs %lld)", (long long)k,
                          (long long)k_b);
    c->out->out = (TensorShape){.rank = 2, .dims = {m, n}};
    if (shape_has_input(c, 2)) {
        TRY(shape_require_float(c, 2));
        const TensorShape *bias = &shape_input(c, 2)->shape;
        TensorShape merged;
        // C broadcasts to [M, N] in one direction only.
        if (bias->rank > 2 || shape_broadcast(bias, &c->out->out, &merged) != 0 ||
            !shape_equal(&merged, &c->out->out))
            return shape_fail(c, LOAD_INVALID, "C does not broadcast to [%lld, %lld]", (long long)m,
                              (long long)n);
    }
    c->out->geom.gemm.m = (int)m;
    c->out->geom.gemm.n = (int)n;
    c->out->geom.gemm.k = (int)k;
    return shape_finish_output(c);
}

// Gemm with a constant B and a bias that varies along N only: one fc_forward
// call with the weight laid out [N][K] and alpha, beta folded in.
static int gemm_is_fc(PlanBuilder *b, int n) {
    const GraphNode *node = &b->graph->nodes[n];
    const GemmAttrs *attrs = &node->attrs.u.gemm;
    if (attrs->trans_a || !b->values[node->inputs[1]].constant) return 0;
    if (node->n_inputs < 3 || node->inputs[2] < 0 || attrs->beta == 0) return 1;
    const HostTensor *bias = b->values[node->inputs[2]].constant;
    if (!bias) return 0;
    int n_out = b->geometry[n].geom.gemm.n;
    int along_n = bias->count == (size_t)n_out &&
                  (bias->shape.rank < 2 || bias->shape.dims[0] == 1);
    return bias->count == 1 || along_n;
}

static LoadStatus lower_gemm_fc(PlanBuilder *b, int n) {
    const GraphNode *node = &b->graph->nodes[n];
    const GemmAttrs *attrs = &node->attrs.u.gemm;
    int m = b->geometry[n].geom.gemm.m, n_out = b->geometry[n].geom.gemm.n;
    int k = b->geometry[n].geom.gemm.k;
    const HostTensor *source = b->values[node->inputs[1]].constant;
    TensorShape weight_shape = {.rank = 2, .dims = {n_out, k}};
    TensorShape bias_shape = {.rank = 1, .dims = {n_out}};
    HostTensor *weight = host_tensor_create(ONNX_DTYPE_FLOAT, &weight_shape);
    HostTensor *bias = host_tensor_create(ONNX_DTYPE_FLOAT, &bias_shape);
    int weight_id = plan_add_constant(b, weight), bias_id = plan_add_constant(b, bias);
    if (weight_id < 0 || bias_id < 0) return plan_out_of_memory(b);
    for (int o = 0; o < n_out; o++)
        for (int i = 0; i < k; i++) {
            real w = attrs->trans_b ? source->floats[(size_t)o * k + i]
                                    : source->floats[(size_t)i * n_out + o];
            weight->floats[(size_t)o * k + i] = (real)(attrs->alpha * w);
        }
    const HostTensor *c = node->n_inputs > 2 && node->inputs[2] >= 0 && attrs->beta != 0
                              ? b->values[node->inputs[2]].constant
                              : NULL;
    for (int o = 0; o < n_out; o++)
        bias->floats[o] = c ? (real)(attrs->beta * c->floats[c->count == 1 ? 0 : o]) : 0;
    int inputs[3] = {node->inputs[0], weight_id, bias_id};
    PlanStep *step = plan_add_step(b, STEP_FC, n, 3, inputs, b->lowering[n].output);
    if (!step) return plan_out_of_memory(b);
    step->p.fc.batch = m;
    step->p.fc.in_features = k;
    step->p.fc.out_features = n_out;
    return LOAD_OK;
}

static LoadStatus lower_gemm(PlanBuilder *b, int n) {
    if (gemm_is_fc(b, n)) return lower_gemm_fc(b, n);
    const GraphNode *node = &b->graph->nodes[n];
    const GemmAttrs *attrs = &node->attrs.u.gemm;
    const NodeGeometry *geo = &b->geometry[n];
    int output = b->lowering[n].output;
    int c = node->n_inputs > 2 && attrs->beta != 0 ? node->inputs[2] : -1;
    // y = alpha op(A) op(B) into a temporary, then + beta C with broadcasting.
    int product = c >= 0 ? plan_builder_add_tensor(b, &geo->out, NULL) : output;
    if (product < 0) return plan_out_of_memory(b);
    int gemm_inputs[2] = {node->inputs[0], node->inputs[1]};
    PlanStep *step = plan_add_step(b, STEP_GEMM, n, 2, gemm_inputs, product);
    if (!step) return plan_out_of_memory(b);
    step->p.gemm.trans_a = attrs->trans_a;
    step->p.gemm.trans_b = attrs->trans_b;
    step->p.gemm.m = geo->geom.gemm.m;
    step->p.gemm.n = geo->geom.gemm.n;
    step->p.gemm.k = geo->geom.gemm.k;
    step->p.gemm.alpha = (real)attrs->alpha;
    if (c < 0) return LOAD_OK;
    if (attrs->beta != 1) {
        TensorShape scalar = {.rank = 0};
        HostTensor *beta = host_tensor_create(ONNX_DTYPE_FLOAT, &scalar);
        int beta_id = plan_add_constant(b, beta);
        int scaled = plan_builder_add_tensor(b, &b->values[c].shape, NULL);
        if (beta_id < 0 || scaled < 0) return plan_out_of_memory(b);
        beta->floats[0] = (real)attrs->beta;
        int mul_inputs[2] = {c, beta_id};
        if (!(step = plan_add_step(b, STEP_BINARY, n, 2, mul_inputs, scaled)))
            return plan_out_of_memory(b);
        step->p.binary = BINARY_MUL;
        c = scaled;
    }
    int add_inputs[2] = {product, c};
    if (!(step = plan_add_step(b, STEP_BINARY, n, 2, add_inputs, output)))
        return plan_out_of_memory(b);
    step->p.binary = BINARY_ADD;
    return LOAD_OK;
}

const OpDef op_gemm = {
    .info = {"Gemm", {1, 6, 7, 9, 11, 13}, 7, 2, 3, 1, 1, 0, 0},
    .attributes = {"alpha", "beta", "transA", "transB"},
    .parse_attrs = parse_attrs,
    .infer_shape = infer_gemm,
    .lower = lower_gemm,
};
