// Conv: dense, grouped and dilated 2-D (and 1-D) convolution. Attributes and the
// window arithmetic are shared with the pools (window.c); BN folding and the fused
// residual / ReLU / Clip are decided in plan_fusion.c and carried by NodeLowering.
#include <stdio.h>
#include <string.h>

#include "op_def.h"
#include "window.h"

static LoadStatus infer_conv(const InferContext *c) {
    const WindowAttrs *w = &c->node->attrs.u.window;
    TRY(shape_require_float(c, 0));
    TRY(shape_require_float(c, 1));
    const TensorShape *x = &shape_input(c, 0)->shape, *weight = &shape_input(c, 1)->shape;
    TRY(window_require_spatial_rank(c, x));
    if (weight->rank != x->rank)
        return shape_fail(c, LOAD_INVALID, "weight rank %d does not match input rank %d",
                          weight->rank, x->rank);
    int64_t groups = w->group > 0 ? w->group : 1;
    if (weight->dims[1] * groups != x->dims[1])
        return shape_fail(c, LOAD_INVALID, "weight expects %lld input channels, input has %lld",
                          (long long)(weight->dims[1] * groups), (long long)x->dims[1]);
    if (weight->dims[0] % groups != 0)
        return shape_fail(c, LOAD_INVALID, "%lld output channels do not split into %lld groups",
                          (long long)weight->dims[0], (long long)groups);
    int spatial = x->rank - 2;
    for (int axis = 0; axis < w->n_kernel && axis < spatial; axis++)
        if (w->kernel[axis] != weight->dims[2 + axis])
            return shape_fail(c, LOAD_INVALID, "kernel_shape does not match the weight's shape");
    if (shape_has_input(c, 2)) {
        TRY(shape_require_float(c, 2));
        const TensorShape *bias = &shape_input(c, 2)->shape;
        if (bias->rank != 1 || bias->dims[0] != weight->dims[0])
            return shape_fail(c, LOAD_INVALID, "bias must have shape [%lld]",
                              (long long)weight->dims[0]);
    }
    Window2D r;
    TRY(window_resolve(c, w, x, &weight->dims[2], w->dilations, &r));
    r.kernel_h = spatial == 2 ? weight->dims[2] : 1;
    r.kernel_w = weight->dims[x->rank - 1];
    c->out->conv_extras = (ConvExtras){.groups = (int)groups,
                                       .dilation_h = spatial == 2 ? (int)w->dilations[0] : 1,
                                       .dilation_w = (int)w->dilations[spatial - 1]};
    c->out->out.dims[1] = weight->dims[0];
    c->out->geom.conv = (ConvGeom){
        .batch = (int)x->dims[0], .in_c = (int)x->dims[1], .in_h = (int)r.in_h,
        .in_w = (int)r.in_w, .out_c = (int)weight->dims[0], .out_h = (int)r.out_h,
        .out_w = (int)r.out_w, .kernel_h = (int)r.kernel_h, .kernel_w = (int)r.kernel_w,
        .stride_h = (int)r.stride_h, .stride_w = (int)r.stride_w, .pad_top = (int)r.pad_top,
        .pad_left = (int)r.pad_left};
    return shape_finish_output(c);
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
        if (inputs[1] < 0 || inputs[2] < 0) return plan_out_of_memory(b);
    }
    const ConvExtras *extras = &b->geometry[n].conv_extras;
    int grouped = extras->groups > 1 || extras->dilation_h > 1 || extras->dilation_w > 1;
    PlanStep *step = plan_add_step(b, grouped ? STEP_CONV_GROUPED : STEP_CONV, n,
                                   low->residual >= 0 ? 4 : 3, inputs, low->output);
    if (!step) return plan_out_of_memory(b);
    step->p.conv.geom = b->geometry[n].geom.conv;
    step->p.conv.extras = *extras;
    step->p.conv.geom.constant_weights = 1;  // uploaded once, never written: the backend may
                                             // keep them transformed (Winograd)
    step->p.conv.clamp = low->clamp;
    return LOAD_OK;
}

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    return window_parse_attrs(r, OP_CONV, &out->u.window);
}

const OpDef op_conv = {
    .info = {"Conv", {1, 11}, 1, 2, 3, 1, 1, 0, 0},
    .attributes = {"kernel_shape", "strides", "pads", "auto_pad", "group", "dilations"},
    .parse_attrs = parse_attrs,
    .infer_shape = infer_conv,
    .lower = lower_conv,
};
