// The ONNX operators sdinfer implements: their names, the operator versions
// (since-versions in the ai.onnx opset, up to opset 17) it accepts, how many
// inputs and outputs they take, and which inputs must be constants known when
// the plan is made (shape vectors and pad values). The table itself is
// infer/ops/registry.c: one row per op, each defined in the op's own file
// (infer/ops/NAME.c) with its attribute parser, shape rule, host evaluation and
// lowering (infer/ops/op_def.h).
#ifndef SD_INFER_OP_REGISTRY_H
#define SD_INFER_OP_REGISTRY_H

#include <stddef.h>

#include "load_status.h"

// The newest ai.onnx opset whose operator definitions sdinfer follows.
#define SD_MAX_OPSET 17

typedef enum {
    OP_CONV,
    OP_BATCHNORM,
    OP_RELU,
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_AVGPOOL,
    OP_MAXPOOL,
    OP_GLOBAL_AVGPOOL,
    OP_PAD,
    OP_CONCAT,
    OP_SLICE,
    OP_FLATTEN,
    OP_RESHAPE,
    OP_GEMM,
    OP_MATMUL,
    OP_IDENTITY,
    OP_CONSTANT,
    OP_SOFTMAX,
    // Shape computations: evaluated on the host at plan time (host_eval.c), never
    // run as steps. A node of these whose inputs are not plan-time constants
    // (a data-dependent shape) is refused by name.
    OP_SHAPE,
    OP_SIZE,
    OP_GATHER,
    OP_UNSQUEEZE,
    OP_SQUEEZE,
    OP_CAST,
    OP_CONSTANT_OF_SHAPE,
    OP_RANGE,
    OP_EXPAND,
    OP_EQUAL,
    OP_WHERE,
    OP_TRANSPOSE,
    // Ops of the CNNs torchvision exports (mobile networks, grouped convolutions).
    OP_SIGMOID,
    OP_HARD_SIGMOID,
    OP_HARD_SWISH,
    OP_CLIP,
    OP_DROPOUT,
    OP_REDUCE_MEAN,
    OP_SPLIT,  // the one op whose every output is computed (not only output 0)
    OP_COUNT
} OpKind;

typedef struct {
    const char *name;       // ONNX op_type
    int since_versions[8];  // every version of the op up to opset 17, ascending, 0-terminated
    int oldest_supported;   // the oldest of those versions sdinfer implements
    int min_inputs, max_inputs;    // max_inputs -1: variadic
    int min_outputs, max_outputs;  // only output 0 may be consumed (checked by the graph),
                                   // unless the op computes every output (OpDef)
    unsigned constant_inputs;      // bit i set: input i must be a plan-time constant
    int host_only;  // no backend step: every node must be folded at plan time (host_eval.h)
} OpInfo;

const OpInfo *op_info(OpKind kind);
// The op with this op_type, or -1.
int op_kind_from_name(const char *op_type);

// The version of the op a node binds to under the model's opset (the newest
// since-version <= opset). Returns LOAD_OK with *version set, or
// LOAD_UNSUPPORTED with a message when sdinfer does not implement that version.
LoadStatus op_resolve_version(OpKind kind, int opset, int *version, char *err, size_t err_len);

// Whether input slot `slot` of the op must be a constant known at plan time.
int op_input_must_be_constant(OpKind kind, int slot);

#endif
