#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/host_memory.h"
#include "host_eval.h"
#include "ops/op_def.h"
#include "plan_builder.h"

PlanOptions plan_default_options(void) {
    return (PlanOptions){.batch_size = 0, .append_softmax = 0, .fold_batchnorm = 1,
                         .fuse_activations = 1, .channels_last = 1,
                         .max_memory_bytes = host_memory_bytes()};
}

LoadStatus plan_out_of_memory(PlanBuilder *b) {
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

// A view of a constant is itself a constant (same data, new shape).
static LoadStatus constant_view(PlanBuilder *b, const HostTensor *source, const TensorShape *shape,
                                const HostTensor **out) {
    HostTensor *copy = host_tensor_create(source->dtype, shape);
    if (!copy || plan_builder_own(b, copy) != 0) return plan_out_of_memory(b);
    if (copy->count != source->count)
        return plan_out_of_memory(b);  // shape inference guarantees equal
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
    if (plan_builder_own(b, value) != 0) return plan_out_of_memory(b);
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

// Outputs after the first, for the ops that compute them (Split); the graph
// refused a consumer of any other op's later outputs when it was loaded.
static LoadStatus infer_later_outputs(PlanBuilder *b, int n, const char *where) {
    const GraphNode *node = &b->graph->nodes[n];
    const OpDef *def = op_def(node->attrs.kind);
    for (int k = 1; def->computes_every_output && k < node->n_outputs; k++) {
        int value = node->outputs[k];
        if (value < 0) continue;
        ValueState *state = &b->values[value];
        *state = (ValueState){.known = 1, .dtype = ONNX_DTYPE_FLOAT};
        def->output_shape(&b->geometry[n], k, &state->shape);
        LoadStatus status = check_declared(b, value, where);
        if (status != LOAD_OK) return status;
    }
    return LOAD_OK;
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
    if (!inputs) return plan_out_of_memory(b);
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
        if (op_def(node->attrs.kind)->is_view && source)
            status = constant_view(b, source, &state->shape, &state->constant);
        if (status == LOAD_OK) status = check_declared(b, out, where);
        if (status == LOAD_OK) status = infer_later_outputs(b, n, where);
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

PlanStep *plan_add_step(PlanBuilder *b, StepKind kind, int node, int n_inputs,
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

int plan_add_constant(PlanBuilder *b, HostTensor *tensor) {
    if (!tensor || plan_builder_own(b, tensor) != 0) return -1;
    return plan_builder_add_tensor(b, &tensor->shape, tensor);
}

PlanStep *plan_add_node_step(PlanBuilder *b, int n, StepKind kind, int n_inputs) {
    PlanStep *step = plan_add_step(b, kind, n, n_inputs, b->graph->nodes[n].inputs,
                                   b->lowering[n].output);
    if (!step) plan_out_of_memory(b);
    return step;
}

LoadStatus plan_lower_view(PlanBuilder *b, int n) {
    const GraphNode *node = &b->graph->nodes[n];
    int out = node->outputs[0];
    // A view shares its input's memory; a view of a constant is a constant.
    if (!b->values[out].constant) b->alias[out] = b->alias[node->inputs[0]];
    b->plan->stats.views++;
    return LOAD_OK;
}

// Each op lowers itself (infer/ops/NAME.c); a node folded or fused away has no step.
static LoadStatus lower_node(PlanBuilder *b, int n) {
    if (b->lowering[n].skip) return LOAD_OK;
    OpKind kind = b->graph->nodes[n].attrs.kind;
    LoadStatus (*lower)(PlanBuilder *b, int n) = op_def(kind)->lower;
    if (!lower) {
        snprintf(b->err, b->err_len, "%s: internal error: no lowering for op %d", b->graph->source,
                 (int)kind);
        return LOAD_INVALID;
    }
    return lower(b, n);
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
    if (producer >= 0 && op_def(b->graph->nodes[producer].attrs.kind)->is_softmax &&
        b->geometry[producer].geom.softmax.inner == inner &&
        b->geometry[producer].geom.softmax.after == 1) {
        plan->probabilities = logits;
        return LOAD_OK;
    }
    int probabilities = plan_builder_add_tensor(b, shape, NULL);
    if (probabilities < 0) return plan_out_of_memory(b);
    PlanStep *step = plan_add_step(b, STEP_SOFTMAX, -1, 1, &logits, probabilities);
    if (!step) return plan_out_of_memory(b);
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
    // Steps: at most 3 per node (Gemm), or one per output (Split), plus the softmax.
    b->steps_capacity = 2;
    for (int n = 0; n < g->n_nodes; n++)
        b->steps_capacity += g->nodes[n].n_outputs > 3 ? g->nodes[n].n_outputs : 3;
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
    LoadStatus status = allocate_builder(b) == 0 ? LOAD_OK : plan_out_of_memory(b);
    if (status == LOAD_OK) status = infer_all_shapes(b);
    if (status == LOAD_OK) status = plan_fuse(b);
    if (status == LOAD_OK) status = lower_all(b);
    if (status == LOAD_OK && plan_choose_layouts(b) != 0) status = plan_out_of_memory(b);
    if (status == LOAD_OK) status = plan_assign_memory(b);
    free_builder(b);
    if (status != LOAD_OK) {
        plan_free(plan);
        return status;
    }
    plan->conv_calls = calloc((size_t)plan->n_steps + 1, sizeof *plan->conv_calls);
    if (!plan->conv_calls) {
        snprintf(err, err_len, "%s: out of memory", graph->source);
        plan_free(plan);
        return LOAD_INVALID;
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
    free(plan->conv_calls);
    free(plan->tensors);
    free(plan->inputs);
    free(plan->outputs);
    free(plan);
}
