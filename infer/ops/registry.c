// The one table of the ONNX operators sdinfer implements: a row per op, defined in
// its own file (infer/ops/NAME.c), indexed by OpKind. Loading, shape inference,
// host evaluation and lowering all reach an op through its row.
//
// Each row's since-versions are from the ONNX operator changelog (ai.onnx, opsets 1..17).
// oldest_supported excludes the legacy forms with different semantics:
// element-wise ops before 7 (the `broadcast` attribute), Relu-1 and
// BatchNormalization before 7 (`consumed_inputs`, `is_test`), Pad-1 (`paddings`),
// Reshape-1 and Slice-1 (shape and bounds as attributes), Gemm before 7.
#include <stdio.h>
#include <string.h>

#include "op_def.h"

extern const OpDef op_conv;
extern const OpDef op_average_pool;
extern const OpDef op_max_pool;
extern const OpDef op_global_average_pool;
extern const OpDef op_batch_normalization;
extern const OpDef op_relu;
extern const OpDef op_add;
extern const OpDef op_sub;
extern const OpDef op_mul;
extern const OpDef op_div;
extern const OpDef op_equal;
extern const OpDef op_pad;
extern const OpDef op_concat;
extern const OpDef op_slice;
extern const OpDef op_flatten;
extern const OpDef op_reshape;
extern const OpDef op_gemm;
extern const OpDef op_matmul;
extern const OpDef op_identity;
extern const OpDef op_constant;
extern const OpDef op_softmax;
extern const OpDef op_shape;
extern const OpDef op_size;
extern const OpDef op_gather;
extern const OpDef op_unsqueeze;
extern const OpDef op_squeeze;
extern const OpDef op_cast;
extern const OpDef op_constant_of_shape;
extern const OpDef op_range;
extern const OpDef op_expand;
extern const OpDef op_where;
extern const OpDef op_transpose;
extern const OpDef op_sigmoid;
extern const OpDef op_hard_swish;
extern const OpDef op_hard_sigmoid;
extern const OpDef op_clip;
extern const OpDef op_dropout;
extern const OpDef op_reduce_mean;
extern const OpDef op_split;

static const OpDef *const rows[OP_COUNT] = {
    [OP_CONV] = &op_conv,
    [OP_AVGPOOL] = &op_average_pool,
    [OP_MAXPOOL] = &op_max_pool,
    [OP_GLOBAL_AVGPOOL] = &op_global_average_pool,
    [OP_BATCHNORM] = &op_batch_normalization,
    [OP_RELU] = &op_relu,
    [OP_ADD] = &op_add,
    [OP_SUB] = &op_sub,
    [OP_MUL] = &op_mul,
    [OP_DIV] = &op_div,
    [OP_EQUAL] = &op_equal,
    [OP_PAD] = &op_pad,
    [OP_CONCAT] = &op_concat,
    [OP_SLICE] = &op_slice,
    [OP_FLATTEN] = &op_flatten,
    [OP_RESHAPE] = &op_reshape,
    [OP_GEMM] = &op_gemm,
    [OP_MATMUL] = &op_matmul,
    [OP_IDENTITY] = &op_identity,
    [OP_CONSTANT] = &op_constant,
    [OP_SOFTMAX] = &op_softmax,
    [OP_SHAPE] = &op_shape,
    [OP_SIZE] = &op_size,
    [OP_GATHER] = &op_gather,
    [OP_UNSQUEEZE] = &op_unsqueeze,
    [OP_SQUEEZE] = &op_squeeze,
    [OP_CAST] = &op_cast,
    [OP_CONSTANT_OF_SHAPE] = &op_constant_of_shape,
    [OP_RANGE] = &op_range,
    [OP_EXPAND] = &op_expand,
    [OP_WHERE] = &op_where,
    [OP_TRANSPOSE] = &op_transpose,
    [OP_SIGMOID] = &op_sigmoid,
    [OP_HARD_SWISH] = &op_hard_swish,
    [OP_HARD_SIGMOID] = &op_hard_sigmoid,
    [OP_CLIP] = &op_clip,
    [OP_DROPOUT] = &op_dropout,
    [OP_REDUCE_MEAN] = &op_reduce_mean,
    [OP_SPLIT] = &op_split,
};

const OpDef *op_def(OpKind kind) { return rows[kind]; }

const OpInfo *op_info(OpKind kind) { return &rows[kind]->info; }

int op_kind_from_name(const char *op_type) {
    for (int kind = 0; kind < OP_COUNT; kind++)
        if (strcmp(rows[kind]->info.name, op_type) == 0) return kind;
    return -1;
}

LoadStatus op_resolve_version(OpKind kind, int opset, int *version, char *err, size_t err_len) {
    const OpInfo *info = &rows[kind]->info;
    int bound = 0;
    for (int i = 0; i < 8 && info->since_versions[i]; i++)
        if (info->since_versions[i] <= opset) bound = info->since_versions[i];
    *version = bound;
    if (bound == 0) {
        snprintf(err, err_len, "%s does not exist in opset %d", info->name, opset);
        return LOAD_UNSUPPORTED;
    }
    if (bound < info->oldest_supported) {
        snprintf(err, err_len,
                 "%s-%d (opset %d) is not supported; sdinfer implements %s from opset %d on",
                 info->name, bound, opset, info->name, info->oldest_supported);
        return LOAD_UNSUPPORTED;
    }
    return LOAD_OK;
}

int op_input_must_be_constant(OpKind kind, int slot) {
    return slot >= 0 && slot < 32 && (rows[kind]->info.constant_inputs >> slot & 1u);
}
