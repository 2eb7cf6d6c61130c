// Reading attributes: the checks every node gets (known names, no repeats, no
// function references), the typed readers the op files use (ops/op_def.h), and
// the dispatch to each op's own parser (infer/ops/NAME.c) through the op table.
#include "op_attrs.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/op_def.h"

typedef Onnx__AttributeProto Attr;

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

const char *attr_name(const Attr *attr) { return attr->name ? attr->name : ""; }

static int is_known(OpKind kind, const char *name) {
    const char *const *known = op_def(kind)->attributes;
    for (int i = 0; i < 8 && known[i]; i++)
        if (strcmp(known[i], name) == 0) return 1;
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

const Attr *attr_find(const AttrReader *r, const char *name) {
    for (size_t i = 0; i < r->node->n_attribute; i++)
        if (strcmp(attr_name(r->node->attribute[i]), name) == 0) return r->node->attribute[i];
    return NULL;
}

// Returns the attribute when present with the expected type, NULL when absent;
// sets *status to LOAD_INVALID on a type mismatch.
const Attr *attr_typed(const AttrReader *r, const char *name, int type, LoadStatus *status) {
    const Attr *attr = attr_find(r, name);
    if (!attr) return NULL;
    if (!attr->has_type || (int)attr->type != type) {
        snprintf(r->err, r->err_len, "%s: attribute '%s' should be %s, is %s", r->where, name,
                 attr_type_name(type), attr->has_type ? attr_type_name(attr->type) : "untyped");
        *status = LOAD_INVALID;
        return NULL;
    }
    return attr;
}

LoadStatus attr_read_int(const AttrReader *r, const char *name, int64_t fallback, int64_t *out) {
    LoadStatus status = LOAD_OK;
    const Attr *attr = attr_typed(r, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, &status);
    *out = attr ? attr->i : fallback;
    return status;
}

LoadStatus attr_read_float(const AttrReader *r, const char *name, float fallback, float *out) {
    LoadStatus status = LOAD_OK;
    const Attr *attr = attr_typed(r, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, &status);
    *out = attr ? attr->f : fallback;
    if (status == LOAD_OK && !isfinite(*out)) {
        snprintf(r->err, r->err_len, "%s: attribute '%s' is not a finite number", r->where, name);
        return LOAD_INVALID;
    }
    return status;
}

// Reads an INTS attribute of at most capacity entries into values (*count = 0 when absent).
LoadStatus attr_read_ints(const AttrReader *r, const char *name, int capacity, int64_t *values,
                            int *count) {
    LoadStatus status = LOAD_OK;
    const Attr *attr = attr_typed(r, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS, &status);
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
LoadStatus attr_read_string(const AttrReader *r, const char *name, char *text, size_t text_len,
                              int *present) {
    LoadStatus status = LOAD_OK;
    const Attr *attr = attr_typed(r, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING, &status);
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

LoadStatus attr_parse_axis(const AttrReader *r, int64_t fallback, int64_t *axis) {
    return attr_read_int(r, "axis", fallback, axis);
}

// An INTS attribute of up to SD_MAX_DIMS entries; count -1 when absent.
LoadStatus attr_parse_axes(const AttrReader *r, const char *name, OpAttrs *out) {
    int count = 0;
    TRY(attr_read_ints(r, name, SD_MAX_DIMS, out->u.axes.values, &count));
    out->u.axes.count = attr_find(r, name) ? count : -1;
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
    const OpDef *def = op_def(kind);
    return def->parse_attrs ? def->parse_attrs(r, version, out) : LOAD_OK;
}

void op_attrs_free(OpAttrs *attrs) {
    host_tensor_free(attrs->constant);
    attrs->constant = NULL;
}
