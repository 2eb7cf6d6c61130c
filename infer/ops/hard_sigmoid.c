// HardSigmoid: max(0, min(1, alpha x + beta)) (activation.c).
#include <stdio.h>
#include <string.h>

#include "op_def.h"
#include "activation.h"

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    TRY(attr_read_float(r, "alpha", 0.2f, &out->u.activation.alpha));
    return attr_read_float(r, "beta", 0.5f, &out->u.activation.beta);
}

static LoadStatus infer_shape(const InferContext *c) {
    const OpAttrs *attrs = &c->node->attrs;
    return activation_infer_shape(c, (ActivationParams){ACTIVATION_HARD_SIGMOID,
                                                        attrs->u.activation.alpha,
                                                        attrs->u.activation.beta});
}

const OpDef op_hard_sigmoid = {
    .info = {"HardSigmoid", {1, 6}, 6, 1, 1, 1, 1, 0, 0},
    .attributes = {"alpha", "beta"},
    .parse_attrs = parse_attrs,
    .infer_shape = infer_shape,
    .lower = activation_lower,
};
