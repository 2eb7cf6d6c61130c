#include "op_registry.h"

#include <stdio.h>
#include <string.h>

// Since-versions from the ONNX operator changelog (ai.onnx, opsets 1..17).
// oldest_supported excludes the legacy forms with different semantics:
// element-wise ops before 7 (the `broadcast` attribute), Relu-1 and
// BatchNormalization before 7 (`consumed_inputs`, `is_test`), Pad-1 (`paddings`),
// Reshape-1 and Slice-1 (shape and bounds as attributes), Gemm before 7.
static const OpInfo op_table[OP_COUNT] = {
    [OP_CONV] = {"Conv", {1, 11}, 1, 2, 3, 1, 1, 0, 0},
    [OP_BATCHNORM] = {"BatchNormalization", {1, 6, 7, 9, 14, 15}, 7, 5, 5, 1, 5, 0, 0},
    [OP_RELU] = {"Relu", {1, 6, 13, 14}, 6, 1, 1, 1, 1, 0, 0},
    [OP_ADD] = {"Add", {1, 6, 7, 13, 14}, 7, 2, 2, 1, 1, 0, 0},
    [OP_SUB] = {"Sub", {1, 6, 7, 13, 14}, 7, 2, 2, 1, 1, 0, 0},
    [OP_MUL] = {"Mul", {1, 6, 7, 13, 14}, 7, 2, 2, 1, 1, 0, 0},
    [OP_DIV] = {"Div", {1, 6, 7, 13, 14}, 7, 2, 2, 1, 1, 0, 0},
    [OP_AVGPOOL] = {"AveragePool", {1, 7, 10, 11}, 1, 1, 1, 1, 1, 0, 0},
    [OP_MAXPOOL] = {"MaxPool", {1, 8, 10, 11, 12}, 1, 1, 1, 1, 2, 0, 0},
    [OP_GLOBAL_AVGPOOL] = {"GlobalAveragePool", {1}, 1, 1, 1, 1, 1, 0, 0},
    // Pad: inputs 1 (pads) and 2 (constant_value) are plan-time constants.
    [OP_PAD] = {"Pad", {1, 2, 11, 13}, 2, 1, 3, 1, 1, 0x6, 0},
    [OP_CONCAT] = {"Concat", {1, 4, 11, 13}, 4, 1, -1, 1, 1, 0, 0},
    // Slice: starts, ends, axes, steps.
    [OP_SLICE] = {"Slice", {1, 10, 11, 13}, 10, 3, 5, 1, 1, 0x1e, 0},
    [OP_FLATTEN] = {"Flatten", {1, 9, 11, 13}, 1, 1, 1, 1, 1, 0, 0},
    [OP_RESHAPE] = {"Reshape", {1, 5, 13, 14}, 5, 2, 2, 1, 1, 0x2, 0},
    [OP_GEMM] = {"Gemm", {1, 6, 7, 9, 11, 13}, 7, 2, 3, 1, 1, 0, 0},
    [OP_MATMUL] = {"MatMul", {1, 9, 13}, 1, 2, 2, 1, 1, 0, 0},
    [OP_IDENTITY] = {"Identity", {1, 13, 14, 16}, 1, 1, 1, 1, 1, 0, 0},
    [OP_CONSTANT] = {"Constant", {1, 9, 11, 12, 13}, 1, 0, 0, 1, 1, 0, 0},
    [OP_SOFTMAX] = {"Softmax", {1, 11, 13}, 1, 1, 1, 1, 1, 0, 0},
    [OP_SHAPE] = {"Shape", {1, 13, 15}, 1, 1, 1, 1, 1, 0, 1},
    [OP_SIZE] = {"Size", {1, 13}, 1, 1, 1, 1, 1, 0, 1},
    [OP_GATHER] = {"Gather", {1, 11, 13}, 1, 2, 2, 1, 1, 0, 1},
    [OP_UNSQUEEZE] = {"Unsqueeze", {1, 11, 13}, 1, 1, 2, 1, 1, 0, 1},
    [OP_SQUEEZE] = {"Squeeze", {1, 11, 13}, 1, 1, 2, 1, 1, 0, 1},
    [OP_CAST] = {"Cast", {1, 6, 9, 13}, 6, 1, 1, 1, 1, 0, 1},
    [OP_CONSTANT_OF_SHAPE] = {"ConstantOfShape", {9}, 9, 1, 1, 1, 1, 0, 1},
    [OP_RANGE] = {"Range", {11}, 11, 3, 3, 1, 1, 0, 1},
    [OP_EXPAND] = {"Expand", {8, 13}, 8, 2, 2, 1, 1, 0, 1},
    [OP_EQUAL] = {"Equal", {1, 7, 11, 13}, 7, 2, 2, 1, 1, 0, 1},
    [OP_WHERE] = {"Where", {9, 16}, 9, 3, 3, 1, 1, 0, 1},
    [OP_TRANSPOSE] = {"Transpose", {1, 13}, 1, 1, 1, 1, 1, 0, 0},
    [OP_SIGMOID] = {"Sigmoid", {1, 6, 13}, 6, 1, 1, 1, 1, 0, 0},
    [OP_HARD_SIGMOID] = {"HardSigmoid", {1, 6}, 6, 1, 1, 1, 1, 0, 0},
    [OP_HARD_SWISH] = {"HardSwish", {14}, 14, 1, 1, 1, 1, 0, 0},
    // Clip: min and max are inputs from version 11 on, plan-time constants.
    [OP_CLIP] = {"Clip", {1, 6, 11, 12, 13}, 6, 1, 3, 1, 1, 0x6, 0},
    // Dropout: inference is the identity; ratio and training_mode are constants.
    [OP_DROPOUT] = {"Dropout", {1, 6, 7, 10, 12, 13}, 7, 1, 3, 1, 2, 0x6, 0},
    [OP_REDUCE_MEAN] = {"ReduceMean", {1, 11, 13}, 1, 1, 1, 1, 1, 0, 0},
};

const OpInfo *op_info(OpKind kind) { return &op_table[kind]; }

int op_kind_from_name(const char *op_type) {
    for (int kind = 0; kind < OP_COUNT; kind++)
        if (strcmp(op_table[kind].name, op_type) == 0) return kind;
    return -1;
}

LoadStatus op_resolve_version(OpKind kind, int opset, int *version, char *err, size_t err_len) {
    const OpInfo *info = &op_table[kind];
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
    return slot >= 0 && slot < 32 && (op_table[kind].constant_inputs >> slot & 1u);
}
