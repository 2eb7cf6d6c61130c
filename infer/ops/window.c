// The window ops (Conv, AveragePool, MaxPool): their shared attributes (kernel_shape,
// strides, pads, auto_pad) and output-size rules (common/conv_geometry.c).
#include "window.h"

#include <stdio.h>
#include <string.h>

#include "../../common/conv_geometry.h"

static LoadStatus require_all_one(const AttrReader *r, const char *name) {
    int64_t values[2];
    int count;
    TRY(attr_read_ints(r, name, 2, values, &count));
    for (int i = 0; i < count; i++)
        if (values[i] != 1) {
            snprintf(r->err, r->err_len, "%s: %s other than 1 are not supported", r->where, name);
            return LOAD_UNSUPPORTED;
        }
    return LOAD_OK;
}

static LoadStatus parse_auto_pad(const AttrReader *r, AutoPad *out) {
    char text[32];
    int present;
    TRY(attr_read_string(r, "auto_pad", text, sizeof text, &present));
    *out = AUTO_PAD_NOTSET;
    if (!present || strcmp(text, "NOTSET") == 0) return LOAD_OK;
    if (strcmp(text, "SAME_UPPER") == 0) *out = AUTO_PAD_SAME_UPPER;
    else if (strcmp(text, "SAME_LOWER") == 0) *out = AUTO_PAD_SAME_LOWER;
    else if (strcmp(text, "VALID") == 0) *out = AUTO_PAD_VALID;
    else {
        snprintf(r->err, r->err_len, "%s: auto_pad '%s' is not one of NOTSET, SAME_UPPER, "
                 "SAME_LOWER, VALID", r->where, text);
        return LOAD_INVALID;
    }
    return LOAD_OK;
}

// Conv's group (>= 1; the channel counts are checked against it by shape inference)
// and dilations (>= 1).
static LoadStatus parse_conv_extras(const AttrReader *r, WindowAttrs *w) {
    TRY(attr_read_int(r, "group", 1, &w->group));
    if (w->group < 1 || w->group > 65536) {
        snprintf(r->err, r->err_len, "%s: group=%lld is out of range", r->where,
                 (long long)w->group);
        return LOAD_INVALID;
    }
    int count = 0;
    TRY(attr_read_ints(r, "dilations", 2, w->dilations, &count));
    for (int i = count; i < 2; i++) w->dilations[i] = 1;
    for (int i = 0; i < count; i++)
        if (w->dilations[i] < 1 || w->dilations[i] > 4096) {
            snprintf(r->err, r->err_len, "%s: dilations entry %lld is out of range", r->where,
                     (long long)w->dilations[i]);
            return LOAD_INVALID;
        }
    return LOAD_OK;
}

LoadStatus window_parse_attrs(const AttrReader *r, OpKind kind, WindowAttrs *w) {
    memset(w, 0, sizeof *w);
    TRY(attr_read_ints(r, "kernel_shape", 2, w->kernel, &w->n_kernel));
    TRY(attr_read_ints(r, "strides", 2, w->strides, &w->n_strides));
    TRY(attr_read_ints(r, "pads", 4, w->pads, &w->n_pads));
    TRY(parse_auto_pad(r, &w->auto_pad));
    if (kind != OP_CONV && w->n_kernel == 0) {
        snprintf(r->err, r->err_len, "%s: kernel_shape is required", r->where);
        return LOAD_INVALID;
    }
    for (int i = 0; i < w->n_kernel; i++)
        if (w->kernel[i] < 1 || w->kernel[i] > 4096) {
            snprintf(r->err, r->err_len, "%s: kernel_shape entry %lld is out of range", r->where,
                     (long long)w->kernel[i]);
            return LOAD_INVALID;
        }
    for (int i = 0; i < w->n_strides; i++)
        if (w->strides[i] < 1 || w->strides[i] > 4096) {
            snprintf(r->err, r->err_len, "%s: strides entry %lld is out of range", r->where,
                     (long long)w->strides[i]);
            return LOAD_INVALID;
        }
    for (int i = 0; i < w->n_pads; i++)
        if (w->pads[i] < 0 || w->pads[i] > 4096) {
            snprintf(r->err, r->err_len, "%s: pads entry %lld is out of range", r->where,
                     (long long)w->pads[i]);
            return LOAD_INVALID;
        }
    if (w->n_pads && w->auto_pad != AUTO_PAD_NOTSET) {
        snprintf(r->err, r->err_len, "%s: pads and auto_pad are both set", r->where);
        return LOAD_INVALID;
    }
    if (kind == OP_CONV) TRY(parse_conv_extras(r, w));
    if (kind == OP_MAXPOOL) TRY(require_all_one(r, "dilations"));
    int64_t flag;
    if (kind != OP_CONV) {
        TRY(attr_read_int(r, "ceil_mode", 0, &flag));
        w->ceil_mode = flag != 0;
    }
    if (kind == OP_AVGPOOL) {
        TRY(attr_read_int(r, "count_include_pad", 0, &flag));
        w->count_include_pad = flag != 0;
    }
    if (kind == OP_MAXPOOL) {
        TRY(attr_read_int(r, "storage_order", 0, &flag));
        if (flag != 0 && flag != 1) {
            snprintf(r->err, r->err_len, "%s: storage_order must be 0 or 1", r->where);
            return LOAD_INVALID;
        }
    }
    return LOAD_OK;
}

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
        return shape_fail(c, LOAD_INVALID,
                          "the window (%lld) is larger than the padded input (%lld)",
                          (long long)result->covered, (long long)result->padded_in);
    return LOAD_OK;
}

static LoadStatus check_window_attrs(const InferContext *c, const WindowAttrs *w, int spatial) {
    if ((w->n_kernel && w->n_kernel != spatial) || (w->n_strides && w->n_strides != spatial) ||
        (w->n_pads && w->n_pads != 2 * spatial))
        return shape_fail(c, LOAD_INVALID, "kernel_shape/strides/pads lengths do not match the %d "
                          "spatial axes of the input", spatial);
    return LOAD_OK;
}

// dilations: per spatial axis, NULL for pooling (1).
LoadStatus window_resolve(const InferContext *c, const WindowAttrs *w, const TensorShape *x,
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
        return shape_fail(c, LOAD_UNSUPPORTED, "the output would be empty");
    c->out->out = *x;
    for (int axis = 0; axis < spatial; axis++) c->out->out.dims[2 + axis] = axes[axis].out;
    return LOAD_OK;
}

LoadStatus window_require_spatial_rank(const InferContext *c, const TensorShape *x) {
    if (x->rank != 3 && x->rank != 4)
        return shape_fail(c, LOAD_UNSUPPORTED,
                          "input of rank %d: only 1-D and 2-D windows (rank 3 or "
                          "4, NCW / NCHW) are supported",
                          x->rank);
    return LOAD_OK;
}

LoadStatus window_infer_pool(const InferContext *c) {
    const WindowAttrs *w = &c->node->attrs.u.window;
    TRY(shape_require_float(c, 0));
    const TensorShape *x = &shape_input(c, 0)->shape;
    TRY(window_require_spatial_rank(c, x));
    if (w->n_kernel != x->rank - 2)
        return shape_fail(c, LOAD_INVALID, "kernel_shape has %d entries for %d spatial axes",
                          w->n_kernel, x->rank - 2);
    Window2D r;
    TRY(window_resolve(c, w, x, w->kernel, NULL, &r));
    c->out->geom.pool = (PoolGeom){
        .batch = (int)x->dims[0], .channels = (int)x->dims[1], .in_h = (int)r.in_h,
        .in_w = (int)r.in_w, .out_h = (int)r.out_h, .out_w = (int)r.out_w,
        .kernel_h = (int)r.kernel_h, .kernel_w = (int)r.kernel_w, .stride_h = (int)r.stride_h,
        .stride_w = (int)r.stride_w, .pad_top = (int)r.pad_top, .pad_left = (int)r.pad_left,
        .count_include_pad = w->count_include_pad};
    return shape_finish_output(c);
}
