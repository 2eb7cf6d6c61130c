// The activations one backend call computes (Sigmoid, HardSigmoid, HardSwish, Clip):
// the op files resolve the parameters, this file the shape and the step.
#include "activation.h"

LoadStatus activation_infer_shape(const InferContext *c, ActivationParams params) {
    TRY(shape_require_float(c, 0));
    c->out->geom.activation = params;
    c->out->out = shape_input(c, 0)->shape;
    return shape_finish_output(c);
}

LoadStatus activation_lower(PlanBuilder *b, int n) {
    PlanStep *step = plan_add_node_step(b, n, STEP_ACTIVATION, 1);
    if (!step) return LOAD_INVALID;
    step->p.activation = b->geometry[n].geom.activation;
    // A Sigmoid or HardSigmoid whose Mul by its own input was fused (plan_fusion.c)
    // computes both: SiLU, or HardSwish (the fusion checked HardSwish's constants).
    if (b->lowering[n].times_input)
        step->p.activation.op =
            b->graph->nodes[n].attrs.kind == OP_SIGMOID ? ACTIVATION_SILU : ACTIVATION_HARD_SWISH;
    return LOAD_OK;
}
