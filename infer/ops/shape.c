// Shape (with Shape-15's start and end): host only, from the input's known shape.
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus parse_shape_range(const AttrReader *r, OpAttrs *out) {
    TRY(attr_read_int(r, "start", 0, &out->u.shape_range.start));
    out->u.shape_range.has_end = attr_find(r, "end") != NULL;
    return attr_read_int(r, "end", 0, &out->u.shape_range.end);
}

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    return parse_shape_range(r, out);
}

static LoadStatus eval_shape(const Eval *c) {
    const TensorShape *x = &c->in[0]->shape;
    int64_t rank = x->rank, start = 0, end = rank;
    if (c->node->attrs.version >= 15) {
        start = c->node->attrs.u.shape_range.start;
        if (c->node->attrs.u.shape_range.has_end) end = c->node->attrs.u.shape_range.end;
    }
    start = start < 0 ? start + rank : start;
    end = end < 0 ? end + rank : end;
    start = start < 0 ? 0 : start > rank ? rank : start;
    end = end < 0 ? 0 : end > rank ? rank : end;
    TensorShape shape = {.rank = 1, .dims = {end > start ? end - start : 0}};
    HostTensor *t = NULL;
    LoadStatus status = eval_new_output(c, ONNX_DTYPE_INT64, &shape, &t);
    for (int64_t i = start; status == LOAD_OK && i < end; i++) t->ints[i - start] = x->dims[i];
    return status;
}

const OpDef op_shape = {
    .info = {"Shape", {1, 13, 15}, 1, 1, 1, 1, 1, 0, 1},
    .attributes = {"start", "end"},
    .parse_attrs = parse_attrs,
    .host_eval = eval_shape,
    .host_reads_shape_only = 1,
};
