// Folding and fusion decisions, made on the graph before any step exists:
//   Conv -> BatchNormalization  : BN's affine map is folded into the conv's
//                                 weight and bias (constants only, Conv output
//                                 read by nothing else);
//   Conv -> Add (-> Relu)       : the conv step adds the Add's other input and then
//                                 applies the ReLU: the residual block's whole
//                                 epilogue in one pass over the conv's output
//                                 (backend conv2d_forward's residual);
//   Conv -> Relu or Clip        : the conv step clamps its output (backend
//                                 OutputClamp: ReLU, ReLU6 and any constant Clip),
//                                 dense, grouped and depthwise convolutions alike;
//   Add  -> Relu                : the residual merge ReLU(a + b), same shapes;
//   x -> Sigmoid -> Mul(x, .)   : SiLU (EfficientNet's activation): the Sigmoid's step
//                                 computes x * Sigmoid(x), same shapes, one pass;
//   x -> HardSigmoid(1/6, 1/2) -> Mul(x, .) : HardSwish (MobileNetV3's, as PyTorch
//                                 exports it before opset 14), the same way.
// Unlike the rest of the planner, which reaches each op through its row of the op
// table (infer/ops/), this file matches patterns of op kinds: a fusion is a property
// of a pair or triple of nodes, not of one op, so it cannot live in one op's file.
#include <stdio.h>
#include <string.h>

#include "../common/bn_fold.h"
#include "plan_builder.h"

static void count_consumers(PlanBuilder *b) {
    const OnnxGraph *g = b->graph;
    memset(b->consumer_count, 0, sizeof(int) * (size_t)g->n_values);
    for (int n = 0; n < g->n_nodes; n++)
        for (int k = 0; !b->folded[n] && k < g->nodes[n].n_inputs; k++)
            if (g->nodes[n].inputs[k] >= 0) b->consumer_count[g->nodes[n].inputs[k]]++;
    for (int i = 0; i < g->n_outputs; i++) b->consumer_count[g->outputs[i]]++;
}

// The node computing value v after earlier fusions, if v is read only by one node.
static int sole_writer(const PlanBuilder *b, int value) {
    if (value < 0 || b->consumer_count[value] != 1 || b->graph->values[value].is_output) return -1;
    return b->writer[value];
}

static const HostTensor *float_constant(const PlanBuilder *b, int value) {
    if (value < 0) return NULL;
    const HostTensor *t = b->values[value].constant;
    return t && t->dtype == ONNX_DTYPE_FLOAT ? t : NULL;
}

// w' = w * gamma / sqrt(var + eps);  b' = (b - mean) * gamma / sqrt(var + eps) + beta
// (common/bn_fold.c, the same arithmetic sdexport folds with).
static LoadStatus fold_batchnorm(PlanBuilder *b, int conv, int bn) {
    const GraphNode *conv_node = &b->graph->nodes[conv], *bn_node = &b->graph->nodes[bn];
    const HostTensor *weight = float_constant(b, conv_node->inputs[1]);
    int bias_value = conv_node->n_inputs > 2 ? conv_node->inputs[2] : -1;
    const HostTensor *bias = float_constant(b, bias_value);
    const HostTensor *params[4];
    for (int i = 0; i < 4; i++) params[i] = float_constant(b, bn_node->inputs[1 + i]);
    if (!weight || (bias_value >= 0 && !bias) || !params[0] || !params[1] || !params[2] ||
        !params[3])
        return LOAD_OK;  // something is computed at run time: keep the BN step
    BatchNormParams bn_params = {params[0]->floats, params[1]->floats, params[2]->floats,
                                 params[3]->floats, bn_node->attrs.u.epsilon};
    int channels = (int)weight->shape.dims[0];
    size_t per_channel = weight->count / (size_t)channels;
    TensorShape bias_shape = {.rank = 1, .dims = {channels}};
    HostTensor *new_weight = host_tensor_create(ONNX_DTYPE_FLOAT, &weight->shape);
    HostTensor *new_bias = host_tensor_create(ONNX_DTYPE_FLOAT, &bias_shape);
    if (plan_builder_own(b, new_weight) != 0 || plan_builder_own(b, new_bias) != 0) {
        snprintf(b->err, b->err_len, "%s: out of memory while folding", b->graph->source);
        return LOAD_INVALID;
    }
    bn_fold_into_conv(weight->floats, bias ? bias->floats : NULL, channels, per_channel, &bn_params,
                      1.0, new_weight->floats, new_bias->floats);
    NodeLowering *low = &b->lowering[conv];
    low->folded_weight = new_weight;
    low->folded_bias = new_bias;
    low->output = bn_node->outputs[0];
    b->writer[bn_node->outputs[0]] = conv;
    b->lowering[bn].skip = 1;
    b->plan->stats.folded_batchnorms++;
    return LOAD_OK;
}

static int same_shape_add(const PlanBuilder *b, int add) {
    const GraphNode *node = &b->graph->nodes[add];
    const TensorShape *out = &b->values[node->outputs[0]].shape;
    return node->attrs.kind == OP_ADD && shape_equal(&b->values[node->inputs[0]].shape, out) &&
           shape_equal(&b->values[node->inputs[1]].shape, out);
}

// An Add of two same-shape values, one of them written only for it by a Conv step that
// has no ReLU and no residual yet: the Conv takes the other input as its residual. The
// Conv must come after the other input's writer (steps run in node order), so of two
// candidate Convs the later one is taken.
static void fuse_add(PlanBuilder *b, int add) {
    const GraphNode *node = &b->graph->nodes[add];
    if (!same_shape_add(b, add)) return;
    int conv = -1, other = -1;
    for (int k = 0; k < 2; k++) {
        int source = sole_writer(b, node->inputs[k]);
        if (source < 0 || b->lowering[source].skip || b->graph->nodes[source].attrs.kind != OP_CONV ||
            b->lowering[source].clamp.on || b->lowering[source].residual >= 0 || source <= conv)
            continue;
        int residual = node->inputs[1 - k], residual_writer = b->writer[residual];
        if (residual_writer >= source) continue;  // computed after the Conv: it cannot wait
        conv = source;
        other = residual;
    }
    if (conv < 0) return;
    NodeLowering *low = &b->lowering[conv];
    low->residual = other;
    low->output = node->outputs[0];
    b->writer[node->outputs[0]] = conv;
    b->lowering[add].skip = 1;
    b->plan->stats.fused_adds++;
}

// A Relu or a Clip (its bounds resolved at shape inference) reading the sole output of
// a Conv: the Conv's epilogue clamps. A Relu after a same-shape Add: the residual merge.
static void fuse_activation(PlanBuilder *b, int activation) {
    const GraphNode *node = &b->graph->nodes[activation];
    const int is_clip = node->attrs.kind == OP_CLIP;
    int source = sole_writer(b, node->inputs[0]);
    if (source < 0 || b->lowering[source].skip) return;
    NodeLowering *low = &b->lowering[source];
    OpKind kind = b->graph->nodes[source].attrs.kind;
    const ActivationParams *bounds = &b->geometry[activation].geom.activation;
    // (A Clip with min > max, or a NaN input, is left to the Clip step: the clamp's
    // answer differs there, see OutputClamp.)
    if (is_clip && !(bounds->alpha <= bounds->beta)) return;
    if (kind == OP_CONV && !low->clamp.on) {
        low->clamp = is_clip ? clamp_range(bounds->alpha, bounds->beta) : clamp_relu(1);
    } else if (!is_clip && same_shape_add(b, source) && !low->add_relu) {
        low->add_relu = 1;
    } else {
        return;
    }
    low->output = node->outputs[0];
    b->writer[node->outputs[0]] = source;
    b->lowering[activation].skip = 1;
    if (is_clip) b->plan->stats.fused_clips++;
    else b->plan->stats.fused_relus++;
}

// Whether node n is a Sigmoid, or a HardSigmoid with HardSwish's constants (the float
// nearest 1/6, and 1/2: PyTorch's export of Hardswish): x * f(x) is then one activation.
static int gates_its_input(const PlanBuilder *b, int n) {
    const OpAttrs *attrs = &b->graph->nodes[n].attrs;
    if (attrs->kind == OP_SIGMOID) return 1;
    return attrs->kind == OP_HARD_SIGMOID && attrs->u.activation.alpha == (float)(1.0 / 6) &&
           attrs->u.activation.beta == 0.5f;
}

// Mul(x, f(x)) in either order, f a Sigmoid or HardSwish's HardSigmoid, all three the
// same shape, f read by nothing else: f's step computes the product (ACTIVATION_SILU or
// ACTIVATION_HARD_SWISH) into the Mul's output, and the Mul has no step. x is f's own
// input, so it is ready when f's step runs.
static void fuse_times_input(PlanBuilder *b, int mul) {
    const GraphNode *node = &b->graph->nodes[mul];
    const TensorShape *out = &b->values[node->outputs[0]].shape;
    for (int k = 0; k < 2; k++) {
        const int gate = sole_writer(b, node->inputs[k]);
        if (gate < 0 || b->lowering[gate].skip || !gates_its_input(b, gate)) continue;
        const int x = b->graph->nodes[gate].inputs[0];
        if (x != node->inputs[1 - k] || !shape_equal(&b->values[x].shape, out)) continue;
        NodeLowering *low = &b->lowering[gate];
        low->times_input = 1;
        low->output = node->outputs[0];
        b->writer[node->outputs[0]] = gate;
        b->lowering[mul].skip = 1;
        if (b->graph->nodes[gate].attrs.kind == OP_SIGMOID)
            b->plan->stats.fused_silus++;
        else
            b->plan->stats.fused_hard_swishes++;
        return;
    }
}

LoadStatus plan_fuse(PlanBuilder *b) {
    const OnnxGraph *g = b->graph;
    for (int v = 0; v < g->n_values; v++) b->writer[v] = g->values[v].producer;
    for (int n = 0; n < g->n_nodes; n++) {
        // A folded node's output is a constant: no step writes it.
        b->lowering[n] = (NodeLowering){.skip = b->folded[n], .output = g->nodes[n].outputs[0],
                                        .residual = -1};
        if (b->folded[n]) b->writer[g->nodes[n].outputs[0]] = -1;
    }
    count_consumers(b);
    // Node order is topological, so a Conv is seen before the BN and the ReLU after it.
    for (int n = 0; n < g->n_nodes; n++) {
        OpKind kind = g->nodes[n].attrs.kind;
        if (b->folded[n]) continue;
        if (kind == OP_BATCHNORM && b->options.fold_batchnorm) {
            int conv = sole_writer(b, g->nodes[n].inputs[0]);
            if (conv >= 0 && g->nodes[conv].attrs.kind == OP_CONV &&
                !b->lowering[conv].folded_weight && !b->lowering[conv].clamp.on) {
                LoadStatus status = fold_batchnorm(b, conv, n);
                if (status != LOAD_OK) return status;
            }
        } else if (kind == OP_ADD && b->options.fuse_activations) {
            fuse_add(b, n);
        } else if ((kind == OP_RELU || kind == OP_CLIP) && b->options.fuse_activations) {
            fuse_activation(b, n);
        } else if (kind == OP_MUL && b->options.fuse_activations) {
            fuse_times_input(b, n);
        }
    }
    return LOAD_OK;
}
