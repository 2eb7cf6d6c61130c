// Squeeze: axes as an attribute before 13, a constant input after (axes.c). Folded on the
// host for a constant input, else a view of the activation (no step).
#include "axes.h"

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    return attr_parse_axes(r, "axes", out);
}

static LoadStatus infer_squeeze(const InferContext *c) { return axes_infer(c, 0); }

static LoadStatus eval_squeeze(const Eval *c) { return axes_eval(c, 0); }

const OpDef op_squeeze = {
    .info = {"Squeeze", {1, 11, 13}, 1, 1, 2, 1, 1, 0x2, 0},
    .attributes = {"axes"},
    .parse_attrs = parse_attrs,
    .infer_shape = infer_squeeze,
    .host_eval = eval_squeeze,
    .lower = plan_lower_view,
    .is_view = 1,
};
