#include "op_attrs.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "onnx_tensor.h"

typedef Onnx__AttributeProto Attr;

// Reading context: the node, how to name it, where errors go.
typedef struct {
    const Onnx__NodeProto *node;
    const char *where;
    char *err;
    size_t err_len;
} AttrReader;

// The attributes each op knows; anything else on a node is refused by name.
static const char *const known_attributes[OP_COUNT][8] = {
    [OP_CONV] = {"kernel_shape", "strides", "pads", "auto_pad", "group", "dilations"},
    [OP_BATCHNORM] = {"epsilon", "momentum", "spatial", "training_mode"},
    [OP_RELU] = {0},
    [OP_ADD] = {0},
    [OP_SUB] = {0},
    [OP_MUL] = {0},
    [OP_DIV] = {0},
    [OP_AVGPOOL] = {"kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "count_include_pad"},
    [OP_MAXPOOL] = {"kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "dilations",
                    "storage_order"},
    [OP_GLOBAL_AVGPOOL] = {0},
    [OP_PAD] = {"mode", "pads", "value"},
    [OP_CONCAT] = {"axis"},
    [OP_SLICE] = {0},
    [OP_FLATTEN] = {"axis"},
    [OP_RESHAPE] = {"allowzero"},
    [OP_GEMM] = {"alpha", "beta", "transA", "transB"},
    [OP_MATMUL] = {0},
    [OP_IDENTITY] = {0},
    [OP_CONSTANT] = {"value", "value_float", "value_floats", "value_int", "value_ints"},
    [OP_SOFTMAX] = {"axis"},
    [OP_SHAPE] = {"start", "end"},
    [OP_SIZE] = {0},
    [OP_GATHER] = {"axis"},
    [OP_UNSQUEEZE] = {"axes"},
    [OP_SQUEEZE] = {"axes"},
    [OP_CAST] = {"to"},
    [OP_CONSTANT_OF_SHAPE] = {"value"},
    [OP_RANGE] = {0},
    [OP_EXPAND] = {0},
    [OP_EQUAL] = {0},
    [OP_WHERE] = {0},
    [OP_TRANSPOSE] = {"perm"},
    [OP_SIGMOID] = {0},
    [OP_HARD_SIGMOID] = {"alpha", "beta"},
    [OP_HARD_SWISH] = {0},
    [OP_CLIP] = {"min", "max"},
    [OP_DROPOUT] = {"ratio", "seed", "is_test"},
    [OP_REDUCE_MEAN] = {"axes", "keepdims"},
};

static const char *attr_type_name(int type) {
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: return "FLOAT";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: return "INT";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: return "STRING";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: return "TENSOR";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: return "FLOATS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: return "INTS";
    default: return "another type";
    }
}

static const char *attr_name(const Attr *attr) { return attr->name ? attr->name : ""; }

static int is_known(OpKind kind, const char *name) {
    for (int i = 0; i < 8 && known_attributes[kind][i]; i++)
        if (strcmp(known_attributes[kind][i], name) == 0) return 1;
    return 0;
}

// Every attribute must be named, known for the op, and not repeated.
static LoadStatus check_attribute_names(const AttrReader *r, OpKind kind) {
    for (size_t i = 0; i < r->node->n_attribute; i++) {
        const Attr *attr = r->node->attribute[i];
        const char *name = attr_name(attr);
        if (attr->ref_attr_name && attr->ref_attr_name[0]) {
            snprintf(r->err, r->err_len, "%s: attribute '%s' refers to a function attribute",
                     r->where, name);
            return LOAD_INVALID;
        }
        if (!is_known(kind, name)) {
            snprintf(r->err, r->err_len, "%s: attribute '%s' is not supported", r->where, name);
            return LOAD_UNSUPPORTED;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(attr_name(r->node->attribute[j]), name) == 0) {
                snprintf(r->err, r->err_len, "%s: attribute '%s' appears twice", r->where, name);
                return LOAD_INVALID;
            }
    }
    return LOAD_OK;
}

static const Attr *find_attr(const AttrReader *r, const char *name) {
    for (size_t i = 0; i < r->node->n_attribute; i++)
        if (strcmp(attr_name(r->node->attribute[i]), name) == 0) return r->node->attribute[i];
    return NULL;
}

// Returns the attribute when present with the expected type, NULL when absent;
// sets *status to LOAD_INVALID on a type mismatch.
static const Attr *typed_attr(const AttrReader *r, const char *name, int type, LoadStatus *status) {
    const Attr *attr = find_attr(r, name);
    if (!attr) return NULL;
    if (!attr->has_type || (int)attr->type != type) {
        snprintf(r->err, r->err_len, "%s: attribute '%s' should be %s, is %s", r->where, name,
                 attr_type_name(type), attr->has_type ? attr_type_name(attr->type) : "untyped");
        *status = LOAD_INVALID;
        return NULL;
    }
    return attr;
}

static LoadStatus read_int(const AttrReader *r, const char *name, int64_t fallback, int64_t *out) {
    LoadStatus status = LOAD_OK;
    const Attr *attr = typed_attr(r, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, &status);
    *out = attr ? attr->i : fallback;
    return status;
}

static LoadStatus read_float(const AttrReader *r, const char *name, float fallback, float *out) {
    LoadStatus status = LOAD_OK;
    const Attr *attr = typed_attr(r, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, &status);
    *out = attr ? attr->f : fallback;
    if (status == LOAD_OK && !isfinite(*out)) {
        snprintf(r->err, r->err_len, "%s: attribute '%s' is not a finite number", r->where, name);
        return LOAD_INVALID;
    }
    return status;
}

// Reads an INTS attribute of at most capacity entries into values (*count = 0 when absent).
static LoadStatus read_ints(const AttrReader *r, const char *name, int capacity, int64_t *values,
                            int *count) {
    LoadStatus status = LOAD_OK;
    const Attr *attr = typed_attr(r, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS, &status);
    *count = 0;
    if (!attr) return status;
    if (attr->n_ints > (size_t)capacity) {
        snprintf(r->err, r->err_len,
                 "%s: attribute '%s' has %zu entries; only up to %d (1-D or 2-D) are supported",
                 r->where, name, attr->n_ints, capacity);
        return LOAD_UNSUPPORTED;
    }
    for (size_t i = 0; i < attr->n_ints; i++) values[i] = attr->ints[i];
    *count = (int)attr->n_ints;
    return LOAD_OK;
}

// Whether a STRING attribute equals text (absent: *present = 0).
static LoadStatus read_string(const AttrReader *r, const char *name, char *text, size_t text_len,
                              int *present) {
    LoadStatus status = LOAD_OK;
    const Attr *attr = typed_attr(r, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING, &status);
    *present = attr != NULL;
    text[0] = 0;
    if (!attr) return status;
    size_t len = attr->s.len < text_len - 1 ? attr->s.len : text_len - 1;
    if (len) memcpy(text, attr->s.data, len);
    text[len] = 0;
    if (memchr(text, 0, len) || attr->s.len >= text_len) {
        snprintf(r->err, r->err_len, "%s: attribute '%s' has an unexpected value", r->where, name);
        return LOAD_UNSUPPORTED;
    }
    return LOAD_OK;
}

#define TRY(expr)                                 \
    do {                                          \
        LoadStatus try_status_ = (expr);          \
        if (try_status_ != LOAD_OK) return try_status_; \
    } while (0)

static LoadStatus require_all_one(const AttrReader *r, const char *name) {
    int64_t values[2];
    int count;
    TRY(read_ints(r, name, 2, values, &count));
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
    TRY(read_string(r, "auto_pad", text, sizeof text, &present));
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
    TRY(read_int(r, "group", 1, &w->group));
    if (w->group < 1 || w->group > 65536) {
        snprintf(r->err, r->err_len, "%s: group=%lld is out of range", r->where,
                 (long long)w->group);
        return LOAD_INVALID;
    }
    int count = 0;
    TRY(read_ints(r, "dilations", 2, w->dilations, &count));
    for (int i = count; i < 2; i++) w->dilations[i] = 1;
    for (int i = 0; i < count; i++)
        if (w->dilations[i] < 1 || w->dilations[i] > 4096) {
            snprintf(r->err, r->err_len, "%s: dilations entry %lld is out of range", r->where,
                     (long long)w->dilations[i]);
            return LOAD_INVALID;
        }
    return LOAD_OK;
}

static LoadStatus parse_window(const AttrReader *r, OpKind kind, WindowAttrs *w) {
    memset(w, 0, sizeof *w);
    TRY(read_ints(r, "kernel_shape", 2, w->kernel, &w->n_kernel));
    TRY(read_ints(r, "strides", 2, w->strides, &w->n_strides));
    TRY(read_ints(r, "pads", 4, w->pads, &w->n_pads));
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
        TRY(read_int(r, "ceil_mode", 0, &flag));
        w->ceil_mode = flag != 0;
    }
    if (kind == OP_AVGPOOL) {
        TRY(read_int(r, "count_include_pad", 0, &flag));
        w->count_include_pad = flag != 0;
    }
    if (kind == OP_MAXPOOL) {
        TRY(read_int(r, "storage_order", 0, &flag));
        if (flag != 0 && flag != 1) {
            snprintf(r->err, r->err_len, "%s: storage_order must be 0 or 1", r->where);
            return LOAD_INVALID;
        }
    }
    return LOAD_OK;
}

static LoadStatus parse_batchnorm(const AttrReader *r, float *epsilon) {
    TRY(read_float(r, "epsilon", 1e-5f, epsilon));
    if (!(*epsilon >= 0)) {
        snprintf(r->err, r->err_len, "%s: epsilon must not be negative", r->where);
        return LOAD_INVALID;
    }
    float momentum;  // only meaningful in training
    TRY(read_float(r, "momentum", 0.9f, &momentum));
    int64_t flag;
    TRY(read_int(r, "spatial", 1, &flag));
    if (flag != 1) {
        snprintf(r->err, r->err_len, "%s: spatial=0 (per-activation) batch norm is not supported",
                 r->where);
        return LOAD_UNSUPPORTED;
    }
    TRY(read_int(r, "training_mode", 0, &flag));
    if (flag != 0) {
        snprintf(r->err, r->err_len, "%s: training_mode=1 is not supported (inference only)",
                 r->where);
        return LOAD_UNSUPPORTED;
    }
    return LOAD_OK;
}

static LoadStatus parse_pad(const AttrReader *r, int version, PadAttrs *pad) {
    memset(pad, 0, sizeof *pad);
    char mode[32];
    int present;
    TRY(read_string(r, "mode", mode, sizeof mode, &present));
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
        if (find_attr(r, "pads") || find_attr(r, "value")) {
            snprintf(r->err, r->err_len, "%s: Pad-%d takes pads and value as inputs, not "
                     "attributes", r->where, version);
            return LOAD_INVALID;
        }
        return LOAD_OK;
    }
    TRY(read_ints(r, "pads", 2 * SD_MAX_DIMS, pad->pads, &pad->n_pads));
    if (pad->n_pads == 0) {
        snprintf(r->err, r->err_len, "%s: Pad-%d needs the pads attribute", r->where, version);
        return LOAD_INVALID;
    }
    return read_float(r, "value", 0.0f, &pad->value);
}

static LoadStatus parse_gemm(const AttrReader *r, GemmAttrs *gemm) {
    int64_t flag;
    TRY(read_float(r, "alpha", 1.0f, &gemm->alpha));
    TRY(read_float(r, "beta", 1.0f, &gemm->beta));
    TRY(read_int(r, "transA", 0, &flag));
    gemm->trans_a = flag != 0;
    TRY(read_int(r, "transB", 0, &flag));
    gemm->trans_b = flag != 0;
    return LOAD_OK;
}

// A Constant node's value: exactly one of value, value_float(s), value_int(s).
static LoadStatus parse_constant(const AttrReader *r, HostTensor **out) {
    *out = NULL;
    if (r->node->n_attribute != 1) {
        snprintf(r->err, r->err_len, "%s: needs exactly one value attribute, has %zu", r->where,
                 r->node->n_attribute);
        return LOAD_INVALID;
    }
    const Attr *attr = r->node->attribute[0];
    const char *name = attr_name(attr);
    LoadStatus status = LOAD_OK;
    if (strcmp(name, "value") == 0) {
        attr = typed_attr(r, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR, &status);
        if (status != LOAD_OK) return status;
        if (!attr || !attr->t) {
            snprintf(r->err, r->err_len, "%s: attribute 'value' holds no tensor", r->where);
            return LOAD_INVALID;
        }
        return onnx_tensor_decode(attr->t, r->where, out, r->err, r->err_len);
    }
    int is_list = strcmp(name, "value_floats") == 0 || strcmp(name, "value_ints") == 0;
    int is_float = strcmp(name, "value_float") == 0 || strcmp(name, "value_floats") == 0;
    int type = is_float ? (is_list ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS
                                   : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)
                        : (is_list ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS
                                   : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    attr = typed_attr(r, name, type, &status);
    if (status != LOAD_OK) return status;
    size_t count = is_list ? (is_float ? attr->n_floats : attr->n_ints) : 1;
    TensorShape shape = {.rank = is_list ? 1 : 0, .dims = {(int64_t)count}};
    HostTensor *tensor =
        host_tensor_create(is_float ? ONNX_DTYPE_FLOAT : ONNX_DTYPE_INT64, &shape);
    if (!tensor) {
        snprintf(r->err, r->err_len, "%s: constant too large", r->where);
        return LOAD_INVALID;
    }
    for (size_t i = 0; i < count; i++) {
        if (is_float) tensor->floats[i] = is_list ? attr->floats[i] : attr->f;
        else tensor->ints[i] = is_list ? attr->ints[i] : attr->i;
    }
    *out = tensor;
    return LOAD_OK;
}

static LoadStatus parse_axis(const AttrReader *r, int64_t fallback, int64_t *axis) {
    return read_int(r, "axis", fallback, axis);
}

// An INTS attribute of up to SD_MAX_DIMS entries; count -1 when absent.
static LoadStatus parse_axes(const AttrReader *r, const char *name, OpAttrs *out) {
    int count = 0;
    TRY(read_ints(r, name, SD_MAX_DIMS, out->u.axes.values, &count));
    out->u.axes.count = find_attr(r, name) ? count : -1;
    return LOAD_OK;
}

// Dropout before version 12 may say is_test=0 (training): refused, as the mask would differ.
static LoadStatus parse_dropout(const AttrReader *r) {
    int64_t is_test;
    TRY(read_int(r, "is_test", 1, &is_test));
    if (!is_test) {
        snprintf(r->err, r->err_len, "%s: is_test=0 (training-mode dropout) is not supported",
                 r->where);
        return LOAD_UNSUPPORTED;
    }
    return LOAD_OK;
}

// The element types the host evaluator holds.
static LoadStatus parse_cast(const AttrReader *r, int *to) {
    int64_t value;
    TRY(read_int(r, "to", -1, &value));
    if (value != ONNX_DTYPE_FLOAT && value != ONNX_DTYPE_INT64 && value != ONNX_DTYPE_INT32 &&
        value != ONNX_DTYPE_BOOL) {
        snprintf(r->err, r->err_len, "%s: cast to element type %lld is not supported (FLOAT, "
                 "INT32, INT64, BOOL are)", r->where, (long long)value);
        return LOAD_UNSUPPORTED;
    }
    *to = (int)value;
    return LOAD_OK;
}

static LoadStatus parse_shape_range(const AttrReader *r, OpAttrs *out) {
    TRY(read_int(r, "start", 0, &out->u.shape_range.start));
    out->u.shape_range.has_end = find_attr(r, "end") != NULL;
    return read_int(r, "end", 0, &out->u.shape_range.end);
}

// ConstantOfShape's value: a one-element tensor (default: float 0).
static LoadStatus parse_fill_value(const AttrReader *r, HostTensor **out) {
    LoadStatus status = LOAD_OK;
    const Attr *attr = typed_attr(r, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR, &status);
    if (status != LOAD_OK) return status;
    if (!attr) {
        TensorShape scalar = {.rank = 0};
        *out = host_tensor_create(ONNX_DTYPE_FLOAT, &scalar);
        if (*out) return LOAD_OK;
        snprintf(r->err, r->err_len, "%s: out of memory", r->where);
        return LOAD_INVALID;
    }
    if (!attr->t) {
        snprintf(r->err, r->err_len, "%s: attribute 'value' holds no tensor", r->where);
        return LOAD_INVALID;
    }
    TRY(onnx_tensor_decode(attr->t, r->where, out, r->err, r->err_len));
    if ((*out)->count != 1) {
        snprintf(r->err, r->err_len, "%s: attribute 'value' must hold one element, holds %zu",
                 r->where, (*out)->count);
        return LOAD_INVALID;
    }
    return LOAD_OK;
}

LoadStatus op_attrs_parse(const Onnx__NodeProto *node, OpKind kind, int version, const char *where,
                          OpAttrs *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->version = version;
    AttrReader reader = {node, where, err, err_len};
    const AttrReader *r = &reader;
    TRY(check_attribute_names(r, kind));
    switch (kind) {
    case OP_CONV:
    case OP_AVGPOOL:
    case OP_MAXPOOL: return parse_window(r, kind, &out->u.window);
    case OP_BATCHNORM: return parse_batchnorm(r, &out->u.epsilon);
    case OP_PAD: return parse_pad(r, version, &out->u.pad);
    case OP_GEMM: return parse_gemm(r, &out->u.gemm);
    case OP_CONCAT:
        if (!find_attr(r, "axis")) {
            snprintf(err, err_len, "%s: the axis attribute is required", where);
            return LOAD_INVALID;
        }
        return parse_axis(r, 0, &out->u.axis);
    case OP_FLATTEN: return parse_axis(r, 1, &out->u.axis);
    case OP_SOFTMAX: return parse_axis(r, version >= 13 ? -1 : 1, &out->u.axis);
    case OP_RESHAPE: {
        int64_t allowzero;
        TRY(read_int(r, "allowzero", 0, &allowzero));
        out->u.allowzero = allowzero != 0;
        return LOAD_OK;
    }
    case OP_CONSTANT: return parse_constant(r, &out->constant);
    case OP_GATHER: return parse_axis(r, 0, &out->u.axis);
    case OP_UNSQUEEZE:
    case OP_SQUEEZE: return parse_axes(r, "axes", out);
    case OP_TRANSPOSE: return parse_axes(r, "perm", out);
    case OP_CAST: return parse_cast(r, &out->u.cast_to);
    case OP_SHAPE: return parse_shape_range(r, out);
    case OP_CONSTANT_OF_SHAPE: return parse_fill_value(r, &out->constant);
    case OP_HARD_SIGMOID:
        TRY(read_float(r, "alpha", 0.2f, &out->u.activation.alpha));
        return read_float(r, "beta", 0.5f, &out->u.activation.beta);
    case OP_CLIP:
        TRY(read_float(r, "min", -FLT_MAX, &out->u.activation.alpha));
        return read_float(r, "max", FLT_MAX, &out->u.activation.beta);
    case OP_DROPOUT: return parse_dropout(r);
    case OP_REDUCE_MEAN: {
        int64_t keepdims;
        TRY(parse_axes(r, "axes", out));
        TRY(read_int(r, "keepdims", 1, &keepdims));
        out->u.axes.keepdims = keepdims != 0;
        return LOAD_OK;
    }
    default: return LOAD_OK;
    }
}

void op_attrs_free(OpAttrs *attrs) {
    host_tensor_free(attrs->constant);
    attrs->constant = NULL;
}
