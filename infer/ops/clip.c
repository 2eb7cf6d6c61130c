// Clip (ReLU6): bounds as attributes before 11, constant inputs after (activation.c).
#include <float.h>
#include <stdio.h>
#include <string.h>

#include "op_def.h"
#include "activation.h"

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    TRY(attr_read_float(r, "min", -FLT_MAX, &out->u.activation.alpha));
    return attr_read_float(r, "max", FLT_MAX, &out->u.activation.beta);
}

// A scalar float constant input (Clip's bounds), or the fallback when omitted.
static LoadStatus scalar_constant(const InferContext *c, int slot, real fallback, real *out) {
    *out = fallback;
    if (!shape_has_input(c, slot)) return LOAD_OK;
    const HostTensor *t = shape_input(c, slot)->constant;
    if (!t || t->dtype != ONNX_DTYPE_FLOAT || t->count != 1)
        return shape_fail(c, LOAD_UNSUPPORTED, "input #%d must be a one-element float constant",
                          slot);
    *out = t->floats[0];
    return LOAD_OK;
}

static LoadStatus infer_shape(const InferContext *c) {
    const OpAttrs *attrs = &c->node->attrs;
    TRY(shape_require_float(c, 0));
    ActivationParams p = {ACTIVATION_CLIP, attrs->u.activation.alpha, attrs->u.activation.beta};
    if (attrs->version >= 11) {
        TRY(scalar_constant(c, 1, (real)-FLT_MAX, &p.alpha));
        TRY(scalar_constant(c, 2, (real)FLT_MAX, &p.beta));
    }
    return activation_infer_shape(c, p);
}

// min and max are inputs from version 11 on, plan-time constants.
const OpDef op_clip = {
    .info = {"Clip", {1, 6, 11, 12, 13}, 6, 1, 3, 1, 1, 0x6, 0},
    .attributes = {"min", "max"},
    .parse_attrs = parse_attrs,
    .infer_shape = infer_shape,
    .lower = activation_lower,
};
