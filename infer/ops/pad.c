// Pad: constant, reflect and edge modes; Pad-2 pads as attributes, Pad-11+ as inputs.
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus parse_pad(const AttrReader *r, int version, PadAttrs *pad) {
    memset(pad, 0, sizeof *pad);
    char mode[32];
    int present;
    TRY(attr_read_string(r, "mode", mode, sizeof mode, &present));
    pad->mode = !present || strcmp(mode, "constant") == 0 ? PAD_CONSTANT
                : strcmp(mode, "reflect") == 0            ? PAD_REFLECT
                : strcmp(mode, "edge") == 0               ? PAD_EDGE
                                                          : -1;
    if (pad->mode < 0) {
        snprintf(r->err, r->err_len, "%s: mode '%s' is not supported (constant, reflect, edge)",
                 r->where, mode);
        return LOAD_UNSUPPORTED;
    }
    pad->from_attributes = version < 11;
    if (!pad->from_attributes) {
        if (attr_find(r, "pads") || attr_find(r, "value")) {
            snprintf(r->err, r->err_len, "%s: Pad-%d takes pads and value as inputs, not "
                     "attributes", r->where, version);
            return LOAD_INVALID;
        }
        return LOAD_OK;
    }
    TRY(attr_read_ints(r, "pads", 2 * SD_MAX_DIMS, pad->pads, &pad->n_pads));
    if (pad->n_pads == 0) {
        snprintf(r->err, r->err_len, "%s: Pad-%d needs the pads attribute", r->where, version);
        return LOAD_INVALID;
    }
    return attr_read_float(r, "value", 0.0f, &pad->value);
}

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    return parse_pad(r, version, &out->u.pad);
}

static LoadStatus infer_pad(const InferContext *c) {
    const PadAttrs *attrs = &c->node->attrs.u.pad;
    TRY(shape_require_float(c, 0));
    const TensorShape *x = &shape_input(c, 0)->shape;
    const int64_t *pads = attrs->pads;
    int n_pads = attrs->n_pads;
    real value = (real)attrs->value;
    if (!attrs->from_attributes) {
        const HostTensor *pads_tensor;
        TRY(shape_require_int_vector(c, 1, "pads", &pads_tensor));
        pads = pads_tensor->ints;
        n_pads = (int)pads_tensor->count;
        if (shape_has_input(c, 2)) {
            const HostTensor *fill = shape_input(c, 2)->constant;
            if (!fill)
                return shape_fail(c, LOAD_UNSUPPORTED, "input 'constant_value' must be a constant");
            if (fill->dtype != ONNX_DTYPE_FLOAT || fill->count != 1)
                return shape_fail(c, LOAD_INVALID, "constant_value must be one float");
            value = fill->floats[0];
        }
    }
    if (n_pads != 2 * x->rank)
        return shape_fail(c, LOAD_INVALID, "pads has %d entries for an input of rank %d", n_pads,
                          x->rank);
    c->out->out = *x;
    for (int axis = 0; axis < x->rank; axis++) {
        int64_t begin = pads[axis], end = pads[axis + x->rank];
        if (begin < -x->dims[axis] || end < -x->dims[axis] || begin > SD_MAX_TENSOR_ELEMENTS ||
            end > SD_MAX_TENSOR_ELEMENTS)
            return shape_fail(c, LOAD_INVALID, "pads out of range for axis %d", axis);
        c->out->out.dims[axis] = x->dims[axis] + begin + end;
        if (c->out->out.dims[axis] < 0)
            return shape_fail(c, LOAD_INVALID, "negative pads remove more than axis %d holds",
                              axis);
        if (attrs->mode != PAD_CONSTANT && (begin < 0 || end < 0))
            return shape_fail(c, LOAD_UNSUPPORTED, "negative pads with mode reflect or edge");
        if (attrs->mode == PAD_REFLECT && (begin >= x->dims[axis] || end >= x->dims[axis]))
            return shape_fail(c, LOAD_INVALID,
                              "reflect pads on axis %d must be smaller than its size %lld", axis,
                              (long long)x->dims[axis]);
    }
    memcpy(c->out->geom.pad.pads, pads, (size_t)n_pads * sizeof(int64_t));
    c->out->geom.pad.value = value;
    c->out->geom.pad.mode = (PadMode)attrs->mode;
    return shape_finish_output(c);
}

static LoadStatus lower(PlanBuilder *b, int n) {
    PlanStep *step = plan_add_node_step(b, n, STEP_PAD, 1);
    if (!step) return LOAD_INVALID;
    step->p.pad = b->geometry[n].geom.pad;
    return LOAD_OK;
}

// Inputs 1 (pads) and 2 (constant_value) are plan-time constants.
const OpDef op_pad = {
    .info = {"Pad", {1, 2, 11, 13}, 2, 1, 3, 1, 1, 0x6, 0},
    .attributes = {"mode", "pads", "value"},
    .parse_attrs = parse_attrs,
    .infer_shape = infer_pad,
    .lower = lower,
};
