// Split (versions 2, 11, 13): one input cut along an axis into consecutive parts,
// one per output. The sizes come from the `split` attribute (before 13), the
// constant `split` input (13), or are equal when neither is given. Every output is
// computed, each by a slice step (a strided copy on the backend, CPU or CUDA).
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    SplitParams *split = &out->u.split;
    if (r->node->n_output > SD_MAX_SPLIT_OUTPUTS) {
        snprintf(r->err, r->err_len, "%s: %zu outputs; at most %d are supported", r->where,
                 r->node->n_output, SD_MAX_SPLIT_OUTPUTS);
        return LOAD_UNSUPPORTED;
    }
    int64_t axis;
    TRY(attr_parse_axis(r, 0, &axis));
    if (axis < -SD_MAX_DIMS || axis >= SD_MAX_DIMS) {
        snprintf(r->err, r->err_len, "%s: axis %lld is out of range", r->where, (long long)axis);
        return LOAD_INVALID;
    }
    split->axis = (int)axis;
    const Onnx__AttributeProto *sizes = attr_find(r, "split");
    if (version >= 13 && sizes) {
        snprintf(r->err, r->err_len, "%s: Split-%d takes split as an input, not an attribute",
                 r->where, version);
        return LOAD_INVALID;
    }
    if (version < 13 && r->node->n_input > 1) {
        snprintf(r->err, r->err_len, "%s: Split-%d takes split as an attribute, not an input",
                 r->where, version);
        return LOAD_INVALID;
    }
    split->count = -1;
    if (!sizes) return LOAD_OK;
    if (sizes->n_ints > SD_MAX_SPLIT_OUTPUTS) {
        snprintf(r->err, r->err_len, "%s: split has %zu entries; at most %d outputs are supported",
                 r->where, sizes->n_ints, SD_MAX_SPLIT_OUTPUTS);
        return LOAD_UNSUPPORTED;
    }
    return attr_read_ints(r, "split", SD_MAX_SPLIT_OUTPUTS, split->sizes, &split->count);
}

// The extent of every part: given (input or attribute) or equal parts.
static LoadStatus part_sizes(const InferContext *c, int64_t extent, SplitParams *parts) {
    const SplitParams *attrs = &c->node->attrs.u.split;
    int count = c->node->n_outputs;
    parts->count = count;
    if (shape_has_input(c, 1)) {
        const HostTensor *sizes;
        TRY(shape_require_int_vector(c, 1, "split", &sizes));
        if (sizes->count != (size_t)count)
            return shape_fail(c, LOAD_INVALID, "split has %zu entries for %d outputs",
                              sizes->count, count);
        memcpy(parts->sizes, sizes->ints, sizeof(int64_t) * (size_t)count);
    } else if (attrs->count >= 0) {
        if (attrs->count != count)
            return shape_fail(c, LOAD_INVALID, "split has %d entries for %d outputs", attrs->count,
                              count);
        memcpy(parts->sizes, attrs->sizes, sizeof(int64_t) * (size_t)count);
    } else {
        if (extent % count != 0)
            return shape_fail(c, LOAD_INVALID, "axis %d (%lld) does not split into %d equal parts",
                              parts->axis, (long long)extent, count);
        for (int k = 0; k < count; k++) parts->sizes[k] = extent / count;
    }
    int64_t total = 0;
    for (int k = 0; k < count; k++) {
        if (parts->sizes[k] < 0 || parts->sizes[k] > extent)
            return shape_fail(c, LOAD_INVALID, "split entry %d (%lld) is out of range", k,
                              (long long)parts->sizes[k]);
        if (parts->sizes[k] == 0)
            return shape_fail(c, LOAD_UNSUPPORTED, "output #%d would be empty (zero-sized "
                              "tensors are not supported)", k);
        total += parts->sizes[k];  // no overflow: each at most extent, at most 32 of them
    }
    if (total != extent)
        return shape_fail(c, LOAD_INVALID, "the split sizes add up to %lld, axis %d has %lld",
                          (long long)total, parts->axis, (long long)extent);
    return LOAD_OK;
}

static LoadStatus infer_split(const InferContext *c) {
    TRY(shape_require_float(c, 0));
    const TensorShape *x = &shape_input(c, 0)->shape;
    int64_t axis = shape_normalize_axis(c->node->attrs.u.split.axis, x->rank);
    if (axis < 0 || axis >= x->rank)
        return shape_fail(c, LOAD_INVALID, "axis %d is out of range for rank %d",
                          c->node->attrs.u.split.axis, x->rank);
    SplitParams *parts = &c->out->geom.split;
    parts->axis = (int)axis;
    TRY(part_sizes(c, x->dims[axis], parts));
    c->out->out = *x;
    c->out->out.dims[axis] = parts->sizes[0];
    return shape_finish_output(c);
}

static void output_shape(const NodeGeometry *geometry, int k, TensorShape *out) {
    *out = geometry->out;
    out->dims[geometry->geom.split.axis] = geometry->geom.split.sizes[k];
}

// Output k is the slice [offset_k, offset_k + size_k) of the axis; omitted outputs
// (no name) get no step.
static LoadStatus lower_split(PlanBuilder *b, int n) {
    const GraphNode *node = &b->graph->nodes[n];
    const SplitParams *parts = &b->geometry[n].geom.split;
    int64_t offset = 0;
    for (int k = 0; k < parts->count; k++) {
        if (node->outputs[k] >= 0) {
            PlanStep *step = plan_add_step(b, STEP_SLICE, n, 1, node->inputs, node->outputs[k]);
            if (!step) return plan_out_of_memory(b);
            for (int d = 0; d < SD_MAX_DIMS; d++) {
                step->p.slice.starts[d] = 0;
                step->p.slice.steps[d] = 1;
            }
            step->p.slice.starts[parts->axis] = offset;
        }
        offset += parts->sizes[k];
    }
    return LOAD_OK;
}

// Input 1 (split, from version 13) is a plan-time constant. ONNX bounds the outputs
// by nothing; sdinfer's limit (SD_MAX_SPLIT_OUTPUTS) is refused as unsupported above.
const OpDef op_split = {
    .info = {"Split", {1, 2, 11, 13}, 2, 1, 2, 1, 1 << 16, 0x2, 0},
    .attributes = {"axis", "split"},
    .parse_attrs = parse_attrs,
    .infer_shape = infer_split,
    .lower = lower_split,
    .computes_every_output = 1,
    .output_shape = output_shape,
};
