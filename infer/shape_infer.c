#include "shape_infer.h"

#include "../common/conv_geometry.h"

#include <float.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const GraphNode *node;
    const ValueState *const *in;
    const char *where;
    char *err;
    size_t err_len;
    NodeGeometry *out;
} InferContext;

static LoadStatus fail(const InferContext *c, LoadStatus status, const char *format, ...) {
    char reason[512];
    va_list args;
    va_start(args, format);
    vsnprintf(reason, sizeof reason, format, args);
    va_end(args);
    snprintf(c->err, c->err_len, "%s: %s", c->where, reason);
    return status;
}

#define TRY(expr)                                        \
    do {                                                 \
        LoadStatus try_status_ = (expr);                 \
        if (try_status_ != LOAD_OK) return try_status_;  \
    } while (0)

static int has_input(const InferContext *c, int slot) {
    return slot < c->node->n_inputs && c->node->inputs[slot] >= 0;
}

static const ValueState *input(const InferContext *c, int slot) { return c->in[slot]; }

// A data input: present, shape known, float.
static LoadStatus require_float(const InferContext *c, int slot) {
    if (!has_input(c, slot)) return fail(c, LOAD_INVALID, "input #%d is missing", slot);
    const ValueState *v = input(c, slot);
    if (!v->known) return fail(c, LOAD_INVALID, "the shape of input #%d is unknown", slot);
    if (v->dtype != ONNX_DTYPE_FLOAT)
        return fail(c, LOAD_UNSUPPORTED, "input #%d has element type %d; only float tensors are "
                    "computed", slot, v->dtype);
    if (shape_element_count(&v->shape) <= 0)
        return fail(c, LOAD_UNSUPPORTED, "input #%d is empty or too large", slot);
    return LOAD_OK;
}

// A 1-D int64 constant input (shape vectors, pads, slice bounds).
static LoadStatus require_int_vector(const InferContext *c, int slot, const char *what,
                                     const HostTensor **out) {
    if (!has_input(c, slot)) return fail(c, LOAD_INVALID, "input '%s' is missing", what);
    const ValueState *v = input(c, slot);
    if (!v->constant)
        return fail(c, LOAD_UNSUPPORTED, "input '%s' must be a constant (an initializer or a "
                    "Constant node), computed shapes are not supported", what);
    if (v->constant->dtype != ONNX_DTYPE_INT64 || v->constant->shape.rank != 1)
        return fail(c, LOAD_INVALID, "input '%s' must be a 1-D int64 tensor", what);
    *out = v->constant;
    return LOAD_OK;
}

static LoadStatus finish_output(const InferContext *c) {
    int64_t count = shape_element_count(&c->out->out);
    if (count == 0) return fail(c, LOAD_UNSUPPORTED, "the output would be empty (zero-sized "
                                "tensors are not supported)");
    if (count < 0) return fail(c, LOAD_UNSUPPORTED, "the output is too large");
    return LOAD_OK;
}

static int64_t normalize_axis(int64_t axis, int rank_bound) {
    return axis < 0 ? axis + rank_bound : axis;
}

int shape_broadcast(const TensorShape *a, const TensorShape *b, TensorShape *out) {
    int rank = a->rank > b->rank ? a->rank : b->rank;
    out->rank = rank;
    for (int i = 0; i < rank; i++) {
        int ai = a->rank - rank + i, bi = b->rank - rank + i;
        int64_t da = ai >= 0 ? a->dims[ai] : 1, db = bi >= 0 ? b->dims[bi] : 1;
        if (da != db && da != 1 && db != 1) return -1;
        out->dims[i] = da == 1 ? db : da;
    }
    return 0;
}

// ---- windows: Conv, AveragePool, MaxPool ------------------------------------

static const ConvPadRule pad_rules[] = {
    [AUTO_PAD_NOTSET] = CONV_PAD_EXPLICIT, [AUTO_PAD_SAME_UPPER] = CONV_PAD_SAME_UPPER,
    [AUTO_PAD_SAME_LOWER] = CONV_PAD_SAME_LOWER, [AUTO_PAD_VALID] = CONV_PAD_VALID};

// Output length and begin padding of one spatial axis (ONNX conv/pool rules, common/).
static LoadStatus window_axis(const InferContext *c, const WindowAttrs *w, int axis, int spatial,
                              int64_t in, int64_t kernel, int64_t dilation, ConvAxis *result) {
    ConvAxisRequest request = {
        .in = in, .kernel = kernel, .stride = w->n_strides ? w->strides[axis] : 1,
        .dilation = dilation, .pad_begin = w->n_pads ? w->pads[axis] : 0,
        .pad_end = w->n_pads ? w->pads[axis + spatial] : 0, .rule = pad_rules[w->auto_pad],
        .ceil_mode = w->ceil_mode};
    if (conv_axis_resolve(&request, result) != 0)
        return fail(c, LOAD_INVALID, "the window (%lld) is larger than the padded input (%lld)",
                    (long long)result->covered, (long long)result->padded_in);
    return LOAD_OK;
}

static LoadStatus check_window_attrs(const InferContext *c, const WindowAttrs *w, int spatial) {
    if ((w->n_kernel && w->n_kernel != spatial) || (w->n_strides && w->n_strides != spatial) ||
        (w->n_pads && w->n_pads != 2 * spatial))
        return fail(c, LOAD_INVALID, "kernel_shape/strides/pads lengths do not match the %d "
                    "spatial axes of the input", spatial);
    return LOAD_OK;
}

// Maps the 1-D or 2-D window onto the (height, width) of the backend's geometry.
typedef struct {
    int64_t in_h, in_w, out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left;
} Window2D;

// dilations: per spatial axis, NULL for pooling (1).
static LoadStatus resolve_window(const InferContext *c, const WindowAttrs *w, const TensorShape *x,
                                 const int64_t *kernel, const int64_t *dilations, Window2D *r) {
    int spatial = x->rank - 2;
    TRY(check_window_attrs(c, w, spatial));
    ConvAxis axes[2];
    for (int axis = 0; axis < spatial; axis++)
        TRY(window_axis(c, w, axis, spatial, x->dims[2 + axis], kernel[axis],
                        dilations ? dilations[axis] : 1, &axes[axis]));
    int last = spatial - 1;
    *r = (Window2D){
        .in_h = spatial == 2 ? x->dims[2] : 1,
        .in_w = x->dims[2 + last],
        .out_h = spatial == 2 ? axes[0].out : 1,
        .out_w = axes[last].out,
        .kernel_h = spatial == 2 ? kernel[0] : 1,
        .kernel_w = kernel[last],
        .stride_h = spatial == 2 && w->n_strides ? w->strides[0] : 1,
        .stride_w = w->n_strides ? w->strides[last] : 1,
        .pad_top = spatial == 2 ? axes[0].pad_begin : 0,
        .pad_left = axes[last].pad_begin,
    };
    if (r->out_h < 1 || r->out_w < 1)
        return fail(c, LOAD_UNSUPPORTED, "the output would be empty");
    c->out->out = *x;
    for (int axis = 0; axis < spatial; axis++) c->out->out.dims[2 + axis] = axes[axis].out;
    return LOAD_OK;
}

static LoadStatus require_spatial_rank(const InferContext *c, const TensorShape *x) {
    if (x->rank != 3 && x->rank != 4)
        return fail(c, LOAD_UNSUPPORTED, "input of rank %d: only 1-D and 2-D windows (rank 3 or "
                    "4, NCW / NCHW) are supported", x->rank);
    return LOAD_OK;
}

static LoadStatus infer_conv(const InferContext *c) {
    const WindowAttrs *w = &c->node->attrs.u.window;
    TRY(require_float(c, 0));
    TRY(require_float(c, 1));
    const TensorShape *x = &input(c, 0)->shape, *weight = &input(c, 1)->shape;
    TRY(require_spatial_rank(c, x));
    if (weight->rank != x->rank)
        return fail(c, LOAD_INVALID, "weight rank %d does not match input rank %d", weight->rank,
                    x->rank);
    int64_t groups = w->group > 0 ? w->group : 1;
    if (weight->dims[1] * groups != x->dims[1])
        return fail(c, LOAD_INVALID, "weight expects %lld input channels, input has %lld",
                    (long long)(weight->dims[1] * groups), (long long)x->dims[1]);
    if (weight->dims[0] % groups != 0)
        return fail(c, LOAD_INVALID, "%lld output channels do not split into %lld groups",
                    (long long)weight->dims[0], (long long)groups);
    int spatial = x->rank - 2;
    for (int axis = 0; axis < w->n_kernel && axis < spatial; axis++)
        if (w->kernel[axis] != weight->dims[2 + axis])
            return fail(c, LOAD_INVALID, "kernel_shape does not match the weight's shape");
    if (has_input(c, 2)) {
        TRY(require_float(c, 2));
        const TensorShape *bias = &input(c, 2)->shape;
        if (bias->rank != 1 || bias->dims[0] != weight->dims[0])
            return fail(c, LOAD_INVALID, "bias must have shape [%lld]", (long long)weight->dims[0]);
    }
    Window2D r;
    TRY(resolve_window(c, w, x, &weight->dims[2], w->dilations, &r));
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
    return finish_output(c);
}

static LoadStatus infer_pool(const InferContext *c) {
    const WindowAttrs *w = &c->node->attrs.u.window;
    TRY(require_float(c, 0));
    const TensorShape *x = &input(c, 0)->shape;
    TRY(require_spatial_rank(c, x));
    if (w->n_kernel != x->rank - 2)
        return fail(c, LOAD_INVALID, "kernel_shape has %d entries for %d spatial axes",
                    w->n_kernel, x->rank - 2);
    Window2D r;
    TRY(resolve_window(c, w, x, w->kernel, NULL, &r));
    c->out->geom.pool = (PoolGeom){
        .batch = (int)x->dims[0], .channels = (int)x->dims[1], .in_h = (int)r.in_h,
        .in_w = (int)r.in_w, .out_h = (int)r.out_h, .out_w = (int)r.out_w,
        .kernel_h = (int)r.kernel_h, .kernel_w = (int)r.kernel_w, .stride_h = (int)r.stride_h,
        .stride_w = (int)r.stride_w, .pad_top = (int)r.pad_top, .pad_left = (int)r.pad_left,
        .count_include_pad = w->count_include_pad};
    return finish_output(c);
}

static LoadStatus infer_global_pool(const InferContext *c) {
    TRY(require_float(c, 0));
    const TensorShape *x = &input(c, 0)->shape;
    if (x->rank < 3) return fail(c, LOAD_INVALID, "input must have rank >= 3 (N, C, spatial...)");
    int64_t spatial = 1;
    c->out->out = *x;
    for (int axis = 2; axis < x->rank; axis++) {
        spatial *= x->dims[axis];
        c->out->out.dims[axis] = 1;
    }
    c->out->geom.global_pool.batch = (int)x->dims[0];
    c->out->geom.global_pool.channels = (int)x->dims[1];
    c->out->geom.global_pool.spatial = (int)spatial;
    if (spatial == 0) return fail(c, LOAD_UNSUPPORTED, "empty spatial extent");
    return finish_output(c);
}

static LoadStatus infer_batchnorm(const InferContext *c) {
    TRY(require_float(c, 0));
    const TensorShape *x = &input(c, 0)->shape;
    if (x->rank < 2) return fail(c, LOAD_INVALID, "input must have rank >= 2 (N, C, ...)");
    static const char *names[] = {"", "scale", "B", "mean", "var"};
    for (int slot = 1; slot <= 4; slot++) {
        TRY(require_float(c, slot));
        const TensorShape *p = &input(c, slot)->shape;
        if (p->rank != 1 || p->dims[0] != x->dims[1])
            return fail(c, LOAD_INVALID, "%s must have shape [%lld]", names[slot],
                        (long long)x->dims[1]);
    }
    int64_t spatial = 1;
    for (int axis = 2; axis < x->rank; axis++) spatial *= x->dims[axis];
    c->out->out = *x;
    c->out->geom.batchnorm = (BatchNormGeom){
        .batch = (int)x->dims[0], .channels = (int)x->dims[1], .spatial = (int)spatial};
    return finish_output(c);
}

static LoadStatus infer_unary_same(const InferContext *c) {
    TRY(require_float(c, 0));
    c->out->out = input(c, 0)->shape;
    return finish_output(c);
}

static LoadStatus infer_binary(const InferContext *c) {
    TRY(require_float(c, 0));
    TRY(require_float(c, 1));
    char a_text[128], b_text[128];
    if (shape_broadcast(&input(c, 0)->shape, &input(c, 1)->shape, &c->out->out) != 0)
        return fail(c, LOAD_INVALID, "shapes %s and %s do not broadcast",
                    shape_format(&input(c, 0)->shape, a_text, sizeof a_text),
                    shape_format(&input(c, 1)->shape, b_text, sizeof b_text));
    return finish_output(c);
}

static LoadStatus infer_pad(const InferContext *c) {
    const PadAttrs *attrs = &c->node->attrs.u.pad;
    TRY(require_float(c, 0));
    const TensorShape *x = &input(c, 0)->shape;
    const int64_t *pads = attrs->pads;
    int n_pads = attrs->n_pads;
    real value = (real)attrs->value;
    if (!attrs->from_attributes) {
        const HostTensor *pads_tensor;
        TRY(require_int_vector(c, 1, "pads", &pads_tensor));
        pads = pads_tensor->ints;
        n_pads = (int)pads_tensor->count;
        if (has_input(c, 2)) {
            const HostTensor *fill = input(c, 2)->constant;
            if (!fill)
                return fail(c, LOAD_UNSUPPORTED, "input 'constant_value' must be a constant");
            if (fill->dtype != ONNX_DTYPE_FLOAT || fill->count != 1)
                return fail(c, LOAD_INVALID, "constant_value must be one float");
            value = fill->floats[0];
        }
    }
    if (n_pads != 2 * x->rank)
        return fail(c, LOAD_INVALID, "pads has %d entries for an input of rank %d", n_pads,
                    x->rank);
    c->out->out = *x;
    for (int axis = 0; axis < x->rank; axis++) {
        int64_t begin = pads[axis], end = pads[axis + x->rank];
        if (begin < -x->dims[axis] || end < -x->dims[axis] || begin > SD_MAX_TENSOR_ELEMENTS ||
            end > SD_MAX_TENSOR_ELEMENTS)
            return fail(c, LOAD_INVALID, "pads out of range for axis %d", axis);
        c->out->out.dims[axis] = x->dims[axis] + begin + end;
        if (c->out->out.dims[axis] < 0)
            return fail(c, LOAD_INVALID, "negative pads remove more than axis %d holds", axis);
        if (attrs->mode != PAD_CONSTANT && (begin < 0 || end < 0))
            return fail(c, LOAD_UNSUPPORTED, "negative pads with mode reflect or edge");
        if (attrs->mode == PAD_REFLECT && (begin >= x->dims[axis] || end >= x->dims[axis]))
            return fail(c, LOAD_INVALID, "reflect pads on axis %d must be smaller than its size %lld",
                        axis, (long long)x->dims[axis]);
    }
    memcpy(c->out->geom.pad.pads, pads, (size_t)n_pads * sizeof(int64_t));
    c->out->geom.pad.value = value;
    c->out->geom.pad.mode = (PadMode)attrs->mode;
    return finish_output(c);
}

static LoadStatus infer_concat(const InferContext *c) {
    TRY(require_float(c, 0));
    const TensorShape *first = &input(c, 0)->shape;
    int64_t axis = normalize_axis(c->node->attrs.u.axis, first->rank);
    if (axis < 0 || axis >= first->rank)
        return fail(c, LOAD_INVALID, "axis %lld is out of range for rank %d",
                    (long long)c->node->attrs.u.axis, first->rank);
    c->out->out = *first;
    c->out->out.dims[axis] = 0;
    for (int slot = 0; slot < c->node->n_inputs; slot++) {
        TRY(require_float(c, slot));
        const TensorShape *part = &input(c, slot)->shape;
        if (part->rank != first->rank)
            return fail(c, LOAD_INVALID, "inputs have different ranks");
        for (int d = 0; d < part->rank; d++)
            if (d != axis && part->dims[d] != first->dims[d])
                return fail(c, LOAD_INVALID, "input #%d differs in axis %d", slot, d);
        c->out->out.dims[axis] += part->dims[axis];
        if (c->out->out.dims[axis] > SD_MAX_TENSOR_ELEMENTS)
            return fail(c, LOAD_UNSUPPORTED, "the output is too large");
    }
    c->out->geom.concat.axis = (int)axis;
    return finish_output(c);
}

static int64_t clamp64(int64_t value, int64_t low, int64_t high) {
    return value < low ? low : value > high ? high : value;
}

static LoadStatus infer_slice(const InferContext *c) {
    TRY(require_float(c, 0));
    const TensorShape *x = &input(c, 0)->shape;
    const HostTensor *starts, *ends, *axes = NULL, *steps = NULL;
    TRY(require_int_vector(c, 1, "starts", &starts));
    TRY(require_int_vector(c, 2, "ends", &ends));
    if (has_input(c, 3)) TRY(require_int_vector(c, 3, "axes", &axes));
    if (has_input(c, 4)) TRY(require_int_vector(c, 4, "steps", &steps));
    size_t count = starts->count;
    if (ends->count != count || (axes && axes->count != count) || (steps && steps->count != count)
        || count > (size_t)x->rank)
        return fail(c, LOAD_INVALID, "starts/ends/axes/steps have inconsistent lengths");
    NodeGeometry *g = c->out;
    g->out = *x;
    int seen[SD_MAX_DIMS] = {0};
    for (int d = 0; d < x->rank; d++) {
        g->geom.slice.starts[d] = 0;
        g->geom.slice.steps[d] = 1;
    }
    for (size_t i = 0; i < count; i++) {
        int64_t axis = axes ? normalize_axis(axes->ints[i], x->rank) : (int64_t)i;
        if (axis < 0 || axis >= x->rank || seen[axis]++)
            return fail(c, LOAD_INVALID, "axes entry %zu is out of range or repeated", i);
        int64_t dim = x->dims[axis], step = steps ? steps->ints[i] : 1;
        int64_t start = starts->ints[i], end = ends->ints[i];
        if (step == 0 || step < -SD_MAX_TENSOR_ELEMENTS || step > SD_MAX_TENSOR_ELEMENTS)
            return fail(c, LOAD_INVALID, "steps entry %zu is zero or out of range", i);
        if (start < 0) start = start < -dim ? -1 - dim : start + dim;  // no overflow
        if (end < 0) end = end < -dim ? -1 - dim : end + dim;
        int64_t length;
        if (step > 0) {
            start = clamp64(start, 0, dim);
            end = clamp64(end, 0, dim);
            length = end > start ? (end - start + step - 1) / step : 0;
        } else {
            start = clamp64(start, 0, dim - 1);
            end = clamp64(end, -1, dim - 1);
            length = start > end ? (start - end + (-step) - 1) / (-step) : 0;
        }
        g->geom.slice.starts[axis] = start;
        g->geom.slice.steps[axis] = step;
        g->out.dims[axis] = length;
    }
    return finish_output(c);
}

static LoadStatus infer_flatten(const InferContext *c) {
    TRY(require_float(c, 0));
    const TensorShape *x = &input(c, 0)->shape;
    int64_t axis = normalize_axis(c->node->attrs.u.axis, x->rank);
    if (axis < 0 || axis > x->rank)
        return fail(c, LOAD_INVALID, "axis %lld is out of range for rank %d",
                    (long long)c->node->attrs.u.axis, x->rank);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < x->rank; d++) *(d < axis ? &outer : &inner) *= x->dims[d];
    c->out->out = (TensorShape){.rank = 2, .dims = {outer, inner}};
    return finish_output(c);
}

static LoadStatus infer_reshape(const InferContext *c) {
    TRY(require_float(c, 0));
    const TensorShape *x = &input(c, 0)->shape;
    const HostTensor *target;
    TRY(require_int_vector(c, 1, "shape", &target));
    if (target->count > SD_MAX_DIMS)
        return fail(c, LOAD_UNSUPPORTED, "target rank %zu is more than %d", target->count,
                    SD_MAX_DIMS);
    TensorShape *out = &c->out->out;
    out->rank = (int)target->count;
    int inferred_axis = -1;
    int64_t known = 1;
    for (int d = 0; d < out->rank; d++) {
        int64_t dim = target->ints[d];
        if (dim == 0 && !c->node->attrs.u.allowzero) {
            if (d >= x->rank) return fail(c, LOAD_INVALID, "shape entry %d copies a missing axis", d);
            dim = x->dims[d];
        }
        if (dim == -1) {
            if (inferred_axis >= 0) return fail(c, LOAD_INVALID, "more than one -1 in shape");
            inferred_axis = d;
            dim = 1;
        } else if (dim < 0 || dim > SD_MAX_TENSOR_ELEMENTS) {
            return fail(c, LOAD_INVALID, "shape entry %lld is invalid", (long long)dim);
        }
        out->dims[d] = dim;
        known *= dim;
        if (known > SD_MAX_TENSOR_ELEMENTS) return fail(c, LOAD_INVALID, "shape is too large");
    }
    int64_t total = shape_element_count(x);
    if (inferred_axis >= 0) {
        if (known == 0 || total % known != 0)
            return fail(c, LOAD_INVALID, "cannot infer the -1 entry: %lld elements into %lld",
                        (long long)total, (long long)known);
        out->dims[inferred_axis] = total / known;
        known = total;
    }
    if (known != total)
        return fail(c, LOAD_INVALID, "cannot reshape %lld elements into %lld", (long long)total,
                    (long long)known);
    return finish_output(c);
}

static LoadStatus infer_gemm(const InferContext *c) {
    const GemmAttrs *attrs = &c->node->attrs.u.gemm;
    TRY(require_float(c, 0));
    TRY(require_float(c, 1));
    const TensorShape *a = &input(c, 0)->shape, *b = &input(c, 1)->shape;
    if (a->rank != 2 || b->rank != 2) return fail(c, LOAD_INVALID, "A and B must be 2-D");
    int64_t m = attrs->trans_a ? a->dims[1] : a->dims[0];
    int64_t k = attrs->trans_a ? a->dims[0] : a->dims[1];
    int64_t k_b = attrs->trans_b ? b->dims[1] : b->dims[0];
    int64_t n = attrs->trans_b ? b->dims[0] : b->dims[1];
    if (k != k_b)
        return fail(c, LOAD_INVALID, "inner dimensions differ (%lld vs %lld)", (long long)k,
                    (long long)k_b);
    c->out->out = (TensorShape){.rank = 2, .dims = {m, n}};
    if (has_input(c, 2)) {
        TRY(require_float(c, 2));
        const TensorShape *bias = &input(c, 2)->shape;
        TensorShape merged;
        // C broadcasts to [M, N] in one direction only.
        if (bias->rank > 2 || shape_broadcast(bias, &c->out->out, &merged) != 0 ||
            !shape_equal(&merged, &c->out->out))
            return fail(c, LOAD_INVALID, "C does not broadcast to [%lld, %lld]", (long long)m,
                        (long long)n);
    }
    c->out->geom.gemm.m = (int)m;
    c->out->geom.gemm.n = (int)n;
    c->out->geom.gemm.k = (int)k;
    return finish_output(c);
}

static LoadStatus infer_matmul(const InferContext *c) {
    TRY(require_float(c, 0));
    TRY(require_float(c, 1));
    const TensorShape *a = &input(c, 0)->shape, *b = &input(c, 1)->shape;
    if (a->rank < 2 || b->rank < 2)
        return fail(c, LOAD_UNSUPPORTED, "1-D operands are not supported");
    int64_t m = a->dims[a->rank - 2], k = a->dims[a->rank - 1];
    int64_t k_b = b->dims[b->rank - 2], n = b->dims[b->rank - 1];
    if (k != k_b)
        return fail(c, LOAD_INVALID, "inner dimensions differ (%lld vs %lld)", (long long)k,
                    (long long)k_b);
    NodeGeometry *g = c->out;
    TensorShape a_batch = {.rank = a->rank - 2}, b_batch = {.rank = b->rank - 2};
    memcpy(a_batch.dims, a->dims, sizeof(int64_t) * (size_t)a_batch.rank);
    memcpy(b_batch.dims, b->dims, sizeof(int64_t) * (size_t)b_batch.rank);
    TensorShape out_batch;
    if (shape_broadcast(&a_batch, &b_batch, &out_batch) != 0)
        return fail(c, LOAD_INVALID, "batch dimensions do not broadcast");
    if (out_batch.rank + 2 > SD_MAX_DIMS) return fail(c, LOAD_UNSUPPORTED, "rank too large");
    g->out = out_batch;
    g->out.rank += 2;
    g->out.dims[out_batch.rank] = m;
    g->out.dims[out_batch.rank + 1] = n;
    TRY(finish_output(c));
    if (b->rank == 2) {
        // [..., M, K] x [K, N]: all leading dims of A fold into the rows.
        g->geom.matmul.m = (int)(shape_element_count(a) / k);
        g->geom.matmul.batch = 1;
    } else {
        g->geom.matmul.m = (int)m;
        g->geom.matmul.batch = shape_element_count(&out_batch);
    }
    g->geom.matmul.n = (int)n;
    g->geom.matmul.k = (int)k;
    // Align the batch shapes to the output's batch rank (leading 1s) for offset decoding.
    TensorShape *aligned[2] = {&g->geom.matmul.a_batch, &g->geom.matmul.b_batch};
    const TensorShape *given[2] = {&a_batch, &b_batch};
    for (int which = 0; which < 2; which++) {
        aligned[which]->rank = out_batch.rank;
        int shift = out_batch.rank - given[which]->rank;
        for (int d = 0; d < out_batch.rank; d++)
            aligned[which]->dims[d] = d < shift ? 1 : given[which]->dims[d - shift];
    }
    g->geom.matmul.out_batch = out_batch;
    return LOAD_OK;
}

static LoadStatus infer_softmax(const InferContext *c) {
    TRY(require_float(c, 0));
    const TensorShape *x = &input(c, 0)->shape;
    int64_t axis = normalize_axis(c->node->attrs.u.axis, x->rank);
    if (axis < 0 || axis >= (x->rank ? x->rank : 1))
        return fail(c, LOAD_INVALID, "axis %lld is out of range for rank %d",
                    (long long)c->node->attrs.u.axis, x->rank);
    int64_t outer = 1, inner = 1, after = 1;
    for (int d = 0; d < x->rank; d++) *(d < axis ? &outer : &inner) *= x->dims[d];
    if (c->node->attrs.version >= 13 && x->rank > 0) {
        // Softmax-13 normalises along one axis: a strided line when later axes exist.
        for (int d = (int)axis + 1; d < x->rank; d++) after *= x->dims[d];
        inner = x->dims[axis];
    }
    c->out->out = *x;
    c->out->geom.softmax.outer = outer;
    c->out->geom.softmax.inner = inner;
    c->out->geom.softmax.after = after;
    return finish_output(c);
}

// A scalar float constant input (Clip's bounds), or the fallback when omitted.
static LoadStatus scalar_constant(const InferContext *c, int slot, real fallback, real *out) {
    *out = fallback;
    if (!has_input(c, slot)) return LOAD_OK;
    const HostTensor *t = input(c, slot)->constant;
    if (!t || t->dtype != ONNX_DTYPE_FLOAT || t->count != 1)
        return fail(c, LOAD_UNSUPPORTED, "input #%d must be a one-element float constant", slot);
    *out = t->floats[0];
    return LOAD_OK;
}

static LoadStatus infer_activation(const InferContext *c) {
    TRY(require_float(c, 0));
    const OpAttrs *attrs = &c->node->attrs;
    ActivationParams *p = &c->out->geom.activation;
    switch (attrs->kind) {
    case OP_SIGMOID: p->op = ACTIVATION_SIGMOID; break;
    case OP_HARD_SWISH: p->op = ACTIVATION_HARD_SWISH; break;
    case OP_HARD_SIGMOID:
        *p = (ActivationParams){ACTIVATION_HARD_SIGMOID, attrs->u.activation.alpha,
                                attrs->u.activation.beta};
        break;
    default:  // Clip: attributes before version 11, constant inputs after
        *p = (ActivationParams){ACTIVATION_CLIP, attrs->u.activation.alpha, attrs->u.activation.beta};
        if (attrs->version >= 11) {
            TRY(scalar_constant(c, 1, (real)-FLT_MAX, &p->alpha));
            TRY(scalar_constant(c, 2, (real)FLT_MAX, &p->beta));
        }
        break;
    }
    c->out->out = input(c, 0)->shape;
    return finish_output(c);
}

// Inference-mode Dropout is the identity; a constant training_mode must be false.
static LoadStatus infer_dropout(const InferContext *c) {
    TRY(require_float(c, 0));
    if (has_input(c, 2)) {
        const HostTensor *mode = input(c, 2)->constant;
        if (!mode || mode->count != 1 || (mode->ints ? mode->ints[0] : mode->floats[0]) != 0)
            return fail(c, LOAD_UNSUPPORTED, "training_mode must be a constant false");
    }
    c->out->out = input(c, 0)->shape;
    return finish_output(c);
}

// ReduceMean over trailing axes: the mean of each [outer] line of `inner` values, which
// the backend's global average pool computes (one channel per line).
static LoadStatus infer_reduce_mean(const InferContext *c) {
    TRY(require_float(c, 0));
    const TensorShape *x = &input(c, 0)->shape;
    const OpAttrs *attrs = &c->node->attrs;
    int reduced[SD_MAX_DIMS] = {0};
    for (int i = 0; i < (attrs->u.axes.count < 0 ? x->rank : attrs->u.axes.count); i++) {
        int64_t axis = attrs->u.axes.count < 0 ? i : normalize_axis(attrs->u.axes.values[i], x->rank);
        if (axis < 0 || axis >= x->rank)
            return fail(c, LOAD_INVALID, "axis %lld is out of range", (long long)axis);
        reduced[axis] = 1;
    }
    int first = x->rank;
    while (first > 0 && reduced[first - 1]) first--;
    for (int d = 0; d < first; d++)
        if (reduced[d])
            return fail(c, LOAD_UNSUPPORTED, "ReduceMean over axes that are not the last ones "
                        "(axis %d) is not supported", d);
    int64_t outer = 1, inner = 1;
    TensorShape out = {.rank = 0};
    for (int d = 0; d < x->rank; d++) {
        *(d < first ? &outer : &inner) *= x->dims[d];
        if (d < first || attrs->u.axes.keepdims) out.dims[out.rank++] = d < first ? x->dims[d] : 1;
    }
    if (outer > INT32_MAX || inner > INT32_MAX) return fail(c, LOAD_UNSUPPORTED, "too large");
    c->out->out = out;
    c->out->geom.global_pool = (GlobalPoolParams){.batch = (int)outer, .channels = 1,
                                                  .spatial = (int)inner};
    return finish_output(c);
}

static LoadStatus infer_transpose(const InferContext *c) {
    TRY(require_float(c, 0));
    const TensorShape *x = &input(c, 0)->shape;
    const OpAttrs *attrs = &c->node->attrs;
    if (attrs->u.axes.count >= 0 && attrs->u.axes.count != x->rank)
        return fail(c, LOAD_INVALID, "perm has %d entries for rank %d", attrs->u.axes.count, x->rank);
    int used[SD_MAX_DIMS] = {0};
    c->out->out.rank = x->rank;
    for (int d = 0; d < x->rank; d++) {
        int64_t from = attrs->u.axes.count < 0 ? x->rank - 1 - d : attrs->u.axes.values[d];
        if (from < 0 || from >= x->rank || used[from]++)
            return fail(c, LOAD_INVALID, "perm is not a permutation of the axes");
        c->out->geom.transpose.perm[d] = (int)from;
        c->out->out.dims[d] = x->dims[from];
    }
    return finish_output(c);
}

LoadStatus shape_infer_node(const OnnxGraph *graph, int node, const ValueState *const *inputs,
                            const char *where, NodeGeometry *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    InferContext context = {&graph->nodes[node], inputs, where, err, err_len, out};
    const InferContext *c = &context;
    switch (c->node->attrs.kind) {
    case OP_CONV: return infer_conv(c);
    case OP_AVGPOOL:
    case OP_MAXPOOL: return infer_pool(c);
    case OP_GLOBAL_AVGPOOL: return infer_global_pool(c);
    case OP_BATCHNORM: return infer_batchnorm(c);
    case OP_RELU:
    case OP_IDENTITY: return infer_unary_same(c);
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV: return infer_binary(c);
    case OP_PAD: return infer_pad(c);
    case OP_CONCAT: return infer_concat(c);
    case OP_SLICE: return infer_slice(c);
    case OP_FLATTEN: return infer_flatten(c);
    case OP_RESHAPE: return infer_reshape(c);
    case OP_GEMM: return infer_gemm(c);
    case OP_MATMUL: return infer_matmul(c);
    case OP_SOFTMAX: return infer_softmax(c);
    case OP_SIGMOID:
    case OP_HARD_SIGMOID:
    case OP_HARD_SWISH:
    case OP_CLIP: return infer_activation(c);
    case OP_DROPOUT: return infer_dropout(c);
    case OP_REDUCE_MEAN: return infer_reduce_mean(c);
    case OP_TRANSPOSE: return infer_transpose(c);
    default: return fail(c, LOAD_UNSUPPORTED, "no shape inference for this op");
    }
}
