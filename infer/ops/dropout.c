// Dropout: the identity at inference, a view (no step).
#include <stdio.h>
#include <string.h>

#include "op_def.h"

// Dropout before version 12 may say is_test=0 (training): refused, as the mask would differ.
static LoadStatus parse_dropout(const AttrReader *r) {
    int64_t is_test;
    TRY(attr_read_int(r, "is_test", 1, &is_test));
    if (!is_test) {
        snprintf(r->err, r->err_len, "%s: is_test=0 (training-mode dropout) is not supported",
                 r->where);
        return LOAD_UNSUPPORTED;
    }
    return LOAD_OK;
}

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    (void)out;
    return parse_dropout(r);
}

// Inference-mode Dropout is the identity; a constant training_mode must be false.
static LoadStatus infer_dropout(const InferContext *c) {
    TRY(shape_require_float(c, 0));
    if (shape_has_input(c, 2)) {
        const HostTensor *mode = shape_input(c, 2)->constant;
        if (!mode || mode->count != 1 || (mode->ints ? mode->ints[0] : mode->floats[0]) != 0)
            return shape_fail(c, LOAD_UNSUPPORTED, "training_mode must be a constant false");
    }
    c->out->out = shape_input(c, 0)->shape;
    return shape_finish_output(c);
}

// Inference is the identity; ratio and training_mode are constants.
const OpDef op_dropout = {
    .info = {"Dropout", {1, 6, 7, 10, 12, 13}, 7, 1, 3, 1, 2, 0x6, 0},
    .attributes = {"ratio", "seed", "is_test"},
    .parse_attrs = parse_attrs,
    .infer_shape = infer_dropout,
    .lower = plan_lower_view,
    .is_view = 1,
};
