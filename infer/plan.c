#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/host_memory.h"
#include "host_eval.h"
#include "plan_builder.h"

PlanOptions plan_default_options(void) {
    return (PlanOptions){.batch_size = 0, .append_softmax = 0, .fold_batchnorm = 1,
                         .fuse_activations = 1, .channels_last = 1,
                         .max_memory_bytes = host_memory_bytes()};
}

static LoadStatus out_of_memory(PlanBuilder *b) {
    snprintf(b->err, b->err_len, "%s: out of memory while planning", b->graph->source);
    return LOAD_INVALID;
}

int plan_builder_own(PlanBuilder *b, HostTensor *tensor) {
    if (!tensor) return -1;
    if (b->n_owned == b->owned_capacity) {
        int capacity = b->owned_capacity ? 2 * b->owned_capacity : 16;
        HostTensor **grown = realloc(b->owned, (size_t)capacity * sizeof *grown);
        if (!grown) {
            host_tensor_free(tensor);
            return -1;
        }
        b->owned = grown;
        b->owned_capacity = capacity;
    }
    b->owned[b->n_owned++] = tensor;
    return 0;
}

// A new plan tensor (a temporary activation, or a constant when `constant` is set).
int plan_builder_add_tensor(PlanBuilder *b, const TensorShape *shape, const HostTensor *constant) {
    Plan *plan = b->plan;
    if (plan->n_tensors >= b->tensor_capacity) return -1;
    int id = plan->n_tensors++;
    PlanTensor *t = &plan->tensors[id];
    memset(t, 0, sizeof *t);
    t->shape = *shape;
    t->count = (size_t)shape_element_count(shape);
    t->is_constant = constant != NULL;
    t->storage = -1;
    b->host_constant[id] = constant;
    b->alias[id] = id;
    return id;
}

// ---- shapes --------------------------------------------------------------------

// The batch size: from the options when the model's batch axis is symbolic,
// else the model's own (which the options must not contradict).
static LoadStatus resolve_batch(PlanBuilder *b) {
    const OnnxGraph *g = b->graph;
    int64_t fixed = 0;
    for (int i = 0; i < g->n_inputs; i++) {
        const GraphValue *v = &g->values[g->inputs[i]];
        if (v->declared_rank < 1) continue;
        if (v->declared_dims[0] < 0) b->batch_is_dynamic = 1;
        else if (fixed == 0) fixed = v->declared_dims[0];
    }
    int requested = b->options.batch_size;
    if (requested > 0 && fixed > 0 && requested != fixed && !b->batch_is_dynamic) {
        snprintf(b->err, b->err_len, "%s: the model has a fixed batch size of %lld; batch size %d "
                 "cannot be used", g->source, (long long)fixed, requested);
        return LOAD_UNSUPPORTED;
    }
    if (requested <= 0) requested = fixed > 0 && !b->batch_is_dynamic ? (int)fixed : 1;
    if (requested > 1 << 20) {
        snprintf(b->err, b->err_len, "batch size %d is too large", requested);
        return LOAD_UNSUPPORTED;
    }
    b->plan->batch_size = requested;
    return LOAD_OK;
}

static LoadStatus input_state(PlanBuilder *b, int value_id) {
    const OnnxGraph *g = b->graph;
    const GraphValue *v = &g->values[value_id];
    ValueState *state = &b->values[value_id];
    if (onnx_graph_value_needs_constant(g, value_id)) {
        snprintf(b->err, b->err_len, "%s: graph input '%s' feeds a shape/pads/bounds input, which "
                 "must be a constant (an initializer)", g->source, v->name);
        return LOAD_UNSUPPORTED;
    }
    if (v->elem_type != ONNX_DTYPE_FLOAT) {
        snprintf(b->err, b->err_len, "%s: graph input '%s' has element type %d; only float "
                 "inputs are supported", g->source, v->name, v->elem_type);
        return LOAD_UNSUPPORTED;
    }
    if (v->declared_rank < 0) {
        snprintf(b->err, b->err_len, "%s: graph input '%s' declares no shape", g->source, v->name);
        return LOAD_UNSUPPORTED;
    }
    state->shape.rank = v->declared_rank;
    for (int axis = 0; axis < v->declared_rank; axis++) {
        int64_t dim = v->declared_dims[axis];
        if (dim < 0 && axis == 0) dim = b->plan->batch_size;
        if (dim < 0) {
            snprintf(b->err, b->err_len, "%s: graph input '%s' has a symbolic dimension on axis "
                     "%d; only the batch axis (0) may be dynamic", g->source, v->name, axis);
            return LOAD_UNSUPPORTED;
        }
        if (dim == 0) {
            snprintf(b->err, b->err_len, "%s: graph input '%s' is empty (zero-sized tensors are "
                     "not supported)", g->source, v->name);
            return LOAD_UNSUPPORTED;
        }
        state->shape.dims[axis] = dim;
    }
    if (shape_element_count(&state->shape) < 0) {
        snprintf(b->err, b->err_len, "%s: graph input '%s' is too large", g->source, v->name);
        return LOAD_UNSUPPORTED;
    }
    state->known = 1;
    state->dtype = ONNX_DTYPE_FLOAT;
    return LOAD_OK;
}

// The inferred shape must agree with whatever the model declares (value_info,
// graph outputs). The batch axis of a dynamic-batch model is not compared.
static LoadStatus check_declared(PlanBuilder *b, int value_id, const char *where) {
    const GraphValue *v = &b->graph->values[value_id];
    const TensorShape *shape = &b->values[value_id].shape;
    if (v->elem_type && v->elem_type != ONNX_DTYPE_FLOAT) {
        snprintf(b->err, b->err_len, "%s: output '%s' is declared with element type %d; only "
                 "float is computed", where, v->name, v->elem_type);
        return LOAD_UNSUPPORTED;
    }
    if (v->declared_rank < 0) return LOAD_OK;
    int same = v->declared_rank == shape->rank;
    for (int axis = 0; same && axis < shape->rank; axis++) {
        int64_t declared = v->declared_dims[axis];
        if (declared < 0 || (axis == 0 && b->batch_is_dynamic)) continue;
        if (declared != shape->dims[axis]) same = 0;
    }
    if (!same) {
        char inferred[160], declared[160];
        TensorShape declared_shape = {.rank = v->declared_rank};
        memcpy(declared_shape.dims, v->declared_dims, sizeof declared_shape.dims);
        snprintf(b->err, b->err_len, "%s: output '%s' has shape %s, but the model declares %s "
                 "(-1: symbolic)", where, v->name, shape_format(shape, inferred, sizeof inferred),
                 shape_format(&declared_shape, declared, sizeof declared));
        return LOAD_INVALID;
    }
    return LOAD_OK;
}

static int is_view_op(OpKind kind) {
    return kind == OP_IDENTITY || kind == OP_FLATTEN || kind == OP_RESHAPE || kind == OP_DROPOUT;
}

// A view of a constant is itself a constant (same data, new shape).
static LoadStatus constant_view(PlanBuilder *b, const HostTensor *source, const TensorShape *shape,
                                const HostTensor **out) {
    HostTensor *copy = host_tensor_create(source->dtype, shape);
    if (!copy || plan_builder_own(b, copy) != 0) return out_of_memory(b);
    if (copy->count != source->count) return out_of_memory(b);  // shape inference guarantees equal
    if (source->floats) memcpy(copy->floats, source->floats, source->count * sizeof(real));
    else memcpy(copy->ints, source->ints, source->count * sizeof(int64_t));
    *out = copy;
    return LOAD_OK;
}

// The node's inputs are all known on the host: its output becomes a constant.
static LoadStatus fold_node(PlanBuilder *b, int n, const ValueState *const *inputs,
                            const char *where) {
    HostTensor *value = NULL;
    LoadStatus status = host_eval_node(&b->graph->nodes[n], inputs, where, &value, b->err,
                                       b->err_len);
    if (status != LOAD_OK) return status;
    if (plan_builder_own(b, value) != 0) return out_of_memory(b);
    b->values[b->graph->nodes[n].outputs[0]] =
        (ValueState){.known = 1, .dtype = value->dtype, .shape = value->shape, .constant = value};
    b->folded[n] = 1;
    b->plan->stats.folded_nodes++;
    return LOAD_OK;
}

// A shape computation that would need a tensor only known when the plan runs.
static LoadStatus refuse_runtime_input(PlanBuilder *b, int n, const ValueState *const *inputs,
                                       const char *where) {
    const GraphNode *node = &b->graph->nodes[n];
    const char *runtime = "?";
    for (int k = 0; k < node->n_inputs; k++)
        if (node->inputs[k] >= 0 && !inputs[k]->constant) {
            runtime = b->graph->values[node->inputs[k]].name;
            break;
        }
    snprintf(b->err, b->err_len, "%s: input '%.300s' is only known when the model runs; sdinfer "
             "computes %s only when the plan is made, on constants and shapes (a data-dependent "
             "shape, or %s on run-time data, is not supported)", where, runtime,
             op_info(node->attrs.kind)->name, op_info(node->attrs.kind)->name);
    return LOAD_UNSUPPORTED;
}

static LoadStatus infer_all_shapes(PlanBuilder *b) {
    const OnnxGraph *g = b->graph;
    LoadStatus status = resolve_batch(b);
    if (status != LOAD_OK) return status;
    for (int v = 0; v < g->n_values; v++) {
        const HostTensor *constant = g->values[v].constant;
        if (!constant) continue;
        b->values[v] = (ValueState){.known = 1, .dtype = constant->dtype, .shape = constant->shape,
                                    .constant = constant};
    }
    for (int i = 0; i < g->n_inputs; i++)
        if ((status = input_state(b, g->inputs[i])) != LOAD_OK) return status;
    int max_inputs = 1;
    for (int n = 0; n < g->n_nodes; n++)
        if (g->nodes[n].n_inputs > max_inputs) max_inputs = g->nodes[n].n_inputs;
    const ValueState **inputs = calloc((size_t)max_inputs, sizeof *inputs);
    if (!inputs) return out_of_memory(b);
    static const ValueState absent = {0};
    for (int n = 0; n < g->n_nodes && status == LOAD_OK; n++) {
        const GraphNode *node = &g->nodes[n];
        for (int k = 0; k < node->n_inputs; k++)
            inputs[k] = node->inputs[k] >= 0 ? &b->values[node->inputs[k]] : &absent;
        char where[600];
        onnx_graph_node_where(g, n, where, sizeof where);
        if (host_eval_ready(node, inputs)) {
            status = fold_node(b, n, inputs, where);
            continue;
        }
        if (op_info(node->attrs.kind)->host_only) {
            status = refuse_runtime_input(b, n, inputs, where);
            break;
        }
        status = shape_infer_node(g, n, inputs, where, &b->geometry[n], b->err, b->err_len);
        if (status != LOAD_OK) break;
        int out = node->outputs[0];
        ValueState *state = &b->values[out];
        *state = (ValueState){.known = 1, .dtype = ONNX_DTYPE_FLOAT, .shape = b->geometry[n].out};
        const HostTensor *source = b->values[node->inputs[0]].constant;
        if (is_view_op(node->attrs.kind) && source)
            status = constant_view(b, source, &state->shape, &state->constant);
        if (status == LOAD_OK) status = check_declared(b, out, where);
    }
    free(inputs);
    if (status != LOAD_OK) return status;
    for (int i = 0; i < g->n_outputs; i++) {
        const ValueState *state = &b->values[g->outputs[i]];
        if (!state->known || state->dtype != ONNX_DTYPE_FLOAT) {
            snprintf(b->err, b->err_len, "%s: graph output '%s' is not a float tensor", g->source,
                     g->values[g->outputs[i]].name);
            return LOAD_UNSUPPORTED;
        }
        if ((status = check_declared(b, g->outputs[i], g->source)) != LOAD_OK) return status;
    }
    return LOAD_OK;
}

// ---- lowering: nodes -> steps -------------------------------------------------

static PlanStep *add_step(PlanBuilder *b, StepKind kind, int node, int n_inputs,
                          const int *inputs, int output) {
    Plan *plan = b->plan;
    if (plan->n_steps >= b->steps_capacity) return NULL;
    int *copy = malloc(sizeof(int) * (size_t)(n_inputs > 0 ? n_inputs : 1));
    if (!copy) return NULL;
    memcpy(copy, inputs, sizeof(int) * (size_t)n_inputs);
    PlanStep *step = &plan->steps[plan->n_steps++];
    memset(step, 0, sizeof *step);
    step->kind = kind;
    step->node = node;
    step->n_inputs = n_inputs;
    step->inputs = copy;
    step->output = output;
    return step;
}

static int add_constant(PlanBuilder *b, HostTensor *tensor) {
    if (!tensor || plan_builder_own(b, tensor) != 0) return -1;
    return plan_builder_add_tensor(b, &tensor->shape, tensor);
}

static LoadStatus lower_conv(PlanBuilder *b, int n) {
    const GraphNode *node = &b->graph->nodes[n];
    const NodeLowering *low = &b->lowering[n];
    // x, w, bias (or -1), the residual a fused Add adds (or -1)
    int inputs[4] = {node->inputs[0], node->inputs[1], node->n_inputs > 2 ? node->inputs[2] : -1,
                     low->residual};
    if (low->folded_weight) {
        inputs[1] = plan_builder_add_tensor(b, &low->folded_weight->shape, low->folded_weight);
        inputs[2] = plan_builder_add_tensor(b, &low->folded_bias->shape, low->folded_bias);
        if (inputs[1] < 0 || inputs[2] < 0) return out_of_memory(b);
    }
    const ConvExtras *extras = &b->geometry[n].conv_extras;
    int grouped = extras->groups > 1 || extras->dilation_h > 1 || extras->dilation_w > 1;
    PlanStep *step = add_step(b, grouped ? STEP_CONV_GROUPED : STEP_CONV, n,
                              low->residual >= 0 ? 4 : 3, inputs, low->output);
    if (!step) return out_of_memory(b);
    step->p.conv.geom = b->geometry[n].geom.conv;
    step->p.conv.extras = *extras;
    step->p.conv.geom.constant_weights = 1;  // uploaded once, never written: the backend may
                                             // keep them transformed (Winograd)
    step->p.conv.fuse_relu = low->fuse_relu;
    return LOAD_OK;
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
    int weight_id = add_constant(b, weight), bias_id = add_constant(b, bias);
    if (weight_id < 0 || bias_id < 0) return out_of_memory(b);
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
    PlanStep *step = add_step(b, STEP_FC, n, 3, inputs, b->lowering[n].output);
    if (!step) return out_of_memory(b);
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
    if (product < 0) return out_of_memory(b);
    int gemm_inputs[2] = {node->inputs[0], node->inputs[1]};
    PlanStep *step = add_step(b, STEP_GEMM, n, 2, gemm_inputs, product);
    if (!step) return out_of_memory(b);
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
        int beta_id = add_constant(b, beta);
        int scaled = plan_builder_add_tensor(b, &b->values[c].shape, NULL);
        if (beta_id < 0 || scaled < 0) return out_of_memory(b);
        beta->floats[0] = (real)attrs->beta;
        int mul_inputs[2] = {c, beta_id};
        if (!(step = add_step(b, STEP_BINARY, n, 2, mul_inputs, scaled))) return out_of_memory(b);
        step->p.binary = BINARY_MUL;
        c = scaled;
    }
    int add_inputs[2] = {product, c};
    if (!(step = add_step(b, STEP_BINARY, n, 2, add_inputs, output))) return out_of_memory(b);
    step->p.binary = BINARY_ADD;
    return LOAD_OK;
}

static LoadStatus lower_matmul(PlanBuilder *b, int n) {
    const GraphNode *node = &b->graph->nodes[n];
    const NodeGeometry *geo = &b->geometry[n];
    int inputs[2] = {node->inputs[0], node->inputs[1]};
    int b_is_matrix = b->values[node->inputs[1]].shape.rank == 2;
    PlanStep *step = add_step(b, b_is_matrix ? STEP_GEMM : STEP_MATMUL, n, 2, inputs,
                              b->lowering[n].output);
    if (!step) return out_of_memory(b);
    if (b_is_matrix) {
        step->p.gemm.m = geo->geom.matmul.m;
        step->p.gemm.n = geo->geom.matmul.n;
        step->p.gemm.k = geo->geom.matmul.k;
        step->p.gemm.alpha = 1;
        return LOAD_OK;
    }
    step->p.matmul = geo->geom.matmul;
    return LOAD_OK;
}

static BinaryOp binary_of(OpKind kind) {
    switch (kind) {
    case OP_SUB: return BINARY_SUB;
    case OP_MUL: return BINARY_MUL;
    case OP_DIV: return BINARY_DIV;
    default: return BINARY_ADD;
    }
}

// Ops whose step is one backend call reading the node's inputs as they are.
static LoadStatus lower_simple(PlanBuilder *b, int n) {
    const GraphNode *node = &b->graph->nodes[n];
    const NodeGeometry *geo = &b->geometry[n];
    const NodeLowering *low = &b->lowering[n];
    OpKind kind = node->attrs.kind;
    StepKind step_kind;
    int n_inputs = 1;
    switch (kind) {
    case OP_BATCHNORM: step_kind = STEP_BATCHNORM; n_inputs = 5; break;
    case OP_RELU: step_kind = STEP_RELU; break;
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV: step_kind = low->add_relu ? STEP_ADD_RELU : STEP_BINARY; n_inputs = 2; break;
    case OP_MAXPOOL: step_kind = STEP_MAXPOOL; break;
    case OP_AVGPOOL: step_kind = STEP_AVGPOOL; break;
    case OP_GLOBAL_AVGPOOL: step_kind = STEP_GLOBAL_AVGPOOL; break;
    case OP_PAD: step_kind = STEP_PAD; break;
    case OP_CONCAT: step_kind = STEP_CONCAT; n_inputs = node->n_inputs; break;
    case OP_SLICE: step_kind = STEP_SLICE; break;
    case OP_SOFTMAX: step_kind = STEP_SOFTMAX; break;
    case OP_REDUCE_MEAN: step_kind = STEP_GLOBAL_AVGPOOL; break;
    case OP_TRANSPOSE: step_kind = STEP_TRANSPOSE; break;
    case OP_SIGMOID:
    case OP_HARD_SIGMOID:
    case OP_HARD_SWISH:
    case OP_CLIP: step_kind = STEP_ACTIVATION; break;
    default:
        snprintf(b->err, b->err_len, "%s: internal error: no lowering for op %d", b->graph->source,
                 (int)kind);
        return LOAD_INVALID;
    }
    PlanStep *step = add_step(b, step_kind, n, n_inputs, node->inputs, low->output);
    if (!step) return out_of_memory(b);
    switch (step_kind) {
    case STEP_BATCHNORM:
        step->p.batchnorm = geo->geom.batchnorm;
        step->epsilon = (real)node->attrs.u.epsilon;
        break;
    case STEP_BINARY: step->p.binary = binary_of(kind); break;
    case STEP_MAXPOOL:
    case STEP_AVGPOOL: step->p.pool = geo->geom.pool; break;
    case STEP_GLOBAL_AVGPOOL: step->p.global_pool = geo->geom.global_pool; break;
    case STEP_PAD: step->p.pad = geo->geom.pad; break;
    case STEP_CONCAT: step->p.concat = geo->geom.concat; break;
    case STEP_SLICE: step->p.slice = geo->geom.slice; break;
    case STEP_SOFTMAX: step->p.softmax = geo->geom.softmax; break;
    case STEP_TRANSPOSE: step->p.transpose = geo->geom.transpose; break;
    case STEP_ACTIVATION: step->p.activation = geo->geom.activation; break;
    default: break;
    }
    return LOAD_OK;
}

static LoadStatus lower_node(PlanBuilder *b, int n) {
    const GraphNode *node = &b->graph->nodes[n];
    if (b->lowering[n].skip) return LOAD_OK;
    int out = node->outputs[0];
    switch (node->attrs.kind) {
    case OP_IDENTITY:
    case OP_DROPOUT:
    case OP_FLATTEN:
    case OP_RESHAPE:
        // A view shares its input's memory; a view of a constant is a constant.
        if (!b->values[out].constant) b->alias[out] = b->alias[node->inputs[0]];
        b->plan->stats.views++;
        return LOAD_OK;
    case OP_CONV: return lower_conv(b, n);
    case OP_GEMM: return lower_gemm(b, n);
    case OP_MATMUL: return lower_matmul(b, n);
    default: return lower_simple(b, n);
    }
}

// Probabilities for the report: softmax over the last axis of output 0, unless
// the graph's output already is such a softmax.
static LoadStatus append_softmax(PlanBuilder *b) {
    Plan *plan = b->plan;
    int logits = b->graph->outputs[0];
    const TensorShape *shape = &plan->tensors[logits].shape;
    if (shape->rank < 1) {
        snprintf(b->err, b->err_len, "%s: output 0 is a scalar, not class scores", b->graph->source);
        return LOAD_UNSUPPORTED;
    }
    int64_t inner = shape->dims[shape->rank - 1];
    int producer = b->graph->values[logits].producer;
    if (producer >= 0 && b->graph->nodes[producer].attrs.kind == OP_SOFTMAX &&
        b->geometry[producer].geom.softmax.inner == inner &&
        b->geometry[producer].geom.softmax.after == 1) {
        plan->probabilities = logits;
        return LOAD_OK;
    }
    int probabilities = plan_builder_add_tensor(b, shape, NULL);
    if (probabilities < 0) return out_of_memory(b);
    PlanStep *step = add_step(b, STEP_SOFTMAX, -1, 1, &logits, probabilities);
    if (!step) return out_of_memory(b);
    step->p.softmax.inner = inner;
    step->p.softmax.outer = (int64_t)plan->tensors[logits].count / inner;
    step->p.softmax.after = 1;
    plan->probabilities = probabilities;
    return LOAD_OK;
}

static LoadStatus lower_all(PlanBuilder *b) {
    const OnnxGraph *g = b->graph;
    Plan *plan = b->plan;
    for (int v = 0; v < g->n_values; v++) {
        const ValueState *state = &b->values[v];
        PlanTensor *t = &plan->tensors[v];
        memset(t, 0, sizeof *t);
        t->storage = -1;
        if (state->known) {
            t->shape = state->shape;
            t->count = (size_t)shape_element_count(&state->shape);
        }
        t->is_constant = state->constant != NULL;
        b->host_constant[v] = state->constant && state->constant->dtype == ONNX_DTYPE_FLOAT
                                  ? state->constant
                                  : NULL;
        b->alias[v] = v;
    }
    plan->n_tensors = g->n_values;
    for (int n = 0; n < g->n_nodes; n++) {
        LoadStatus status = lower_node(b, n);
        if (status != LOAD_OK) return status;
    }
    plan->n_inputs = g->n_inputs;
    plan->n_outputs = g->n_outputs;
    for (int i = 0; i < g->n_inputs; i++) plan->inputs[i] = g->inputs[i];
    for (int i = 0; i < g->n_outputs; i++) plan->outputs[i] = g->outputs[i];
    plan->probabilities = -1;
    if (b->options.append_softmax) return append_softmax(b);
    return LOAD_OK;
}

// ---- create / free -----------------------------------------------------------------

static void free_builder(PlanBuilder *b) {
    for (int i = 0; i < b->n_owned; i++) host_tensor_free(b->owned[i]);
    free(b->owned);
    free(b->values);
    free(b->geometry);
    free(b->lowering);
    free(b->folded);
    free(b->consumer_count);
    free(b->writer);
    free(b->host_constant);
    free(b->alias);
}

static int allocate_builder(PlanBuilder *b) {
    const OnnxGraph *g = b->graph;
    Plan *plan = b->plan;
    size_t values = (size_t)g->n_values + 1, nodes = (size_t)g->n_nodes + 1;
    // Temporaries: at most 4 per node (folded weight and bias, Gemm's product,
    // scaled bias and beta) plus the appended softmax.
    b->tensor_capacity = g->n_values + 4 * g->n_nodes + 2;
    b->steps_capacity = 3 * g->n_nodes + 2;
    b->values = calloc(values, sizeof *b->values);
    b->geometry = calloc(nodes, sizeof *b->geometry);
    b->lowering = calloc(nodes, sizeof *b->lowering);
    b->folded = calloc(nodes, 1);
    b->consumer_count = calloc(values, sizeof *b->consumer_count);
    b->writer = calloc(values, sizeof *b->writer);
    b->host_constant = calloc((size_t)b->tensor_capacity, sizeof *b->host_constant);
    b->alias = calloc((size_t)b->tensor_capacity, sizeof *b->alias);
    plan->tensors = calloc((size_t)b->tensor_capacity, sizeof *plan->tensors);
    plan->steps = calloc((size_t)b->steps_capacity, sizeof *plan->steps);
    plan->inputs = calloc((size_t)g->n_inputs + 1, sizeof *plan->inputs);
    plan->outputs = calloc((size_t)g->n_outputs + 1, sizeof *plan->outputs);
    return b->values && b->geometry && b->lowering && b->folded && b->consumer_count && b->writer &&
                   b->host_constant && b->alias && plan->tensors && plan->steps && plan->inputs &&
                   plan->outputs
               ? 0
               : -1;
}

LoadStatus plan_create(const OnnxGraph *graph, Backend *be, const PlanOptions *options,
                       Plan **out, char *err, size_t err_len) {
    *out = NULL;
    Plan *plan = calloc(1, sizeof *plan);
    if (!plan) {
        snprintf(err, err_len, "%s: out of memory", graph->source);
        return LOAD_INVALID;
    }
    plan->be = be;
    plan->graph = graph;
    plan->probabilities = -1;
    PlanBuilder builder = {.graph = graph, .be = be, .err = err, .err_len = err_len, .plan = plan};
    builder.options = options ? *options : plan_default_options();
    PlanBuilder *b = &builder;
    LoadStatus status = allocate_builder(b) == 0 ? LOAD_OK : out_of_memory(b);
    if (status == LOAD_OK) status = infer_all_shapes(b);
    if (status == LOAD_OK) status = plan_fuse(b);
    if (status == LOAD_OK) status = lower_all(b);
    if (status == LOAD_OK && plan_choose_layouts(b) != 0) status = out_of_memory(b);
    if (status == LOAD_OK) status = plan_assign_memory(b);
    free_builder(b);
    if (status != LOAD_OK) {
        plan_free(plan);
        return status;
    }
    plan->stats.graph_nodes = graph->n_nodes;
    plan->stats.steps = plan->n_steps;
    *out = plan;
    return LOAD_OK;
}

void plan_free(Plan *plan) {
    if (!plan) return;
    for (int s = 0; s < plan->n_steps; s++) free(plan->steps[s].inputs);
    if (plan->arena) plan->be->release(plan->be, plan->arena);
    if (plan->weights) plan->be->release(plan->be, plan->weights);
    free(plan->steps);
    free(plan->tensors);
    free(plan->inputs);
    free(plan->outputs);
    free(plan);
}
