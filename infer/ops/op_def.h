// One ONNX operator as sdinfer implements it: a row of the op table
// (infer/ops/registry.c) with what the op file (infer/ops/NAME.c) provides:
//   parse_attrs  reads and checks the node's attributes at load time (op_attrs.c
//                has already refused unknown, repeated or function-bound names);
//   infer_shape  the shape rule: input shapes (and plan-time constant inputs) to the
//                output shape and the geometry its backend step needs;
//   host_eval    computes the node on the host when the plan is made, when all the
//                inputs it reads are known there (shape computations, constant folding);
//   lower        turns the node into backend steps (plan.c).
// A NULL function means the op has no such stage (a host-only op has no shape rule
// and no lowering: every node of it must be folded, or it is refused by name).
// The helpers the op files share (reading attributes, checking inputs, making host
// tensors, adding steps) are declared here too, each with the file it lives in.
#ifndef SD_INFER_OPS_OP_DEF_H
#define SD_INFER_OPS_OP_DEF_H

#include <stddef.h>
#include <stdint.h>

#include "../host_eval.h"
#include "../op_attrs.h"
#include "../op_registry.h"
#include "../plan_builder.h"
#include "../shape_infer.h"
#include "onnx.pb-c.h"

#define TRY(expr)                                       \
    do {                                                \
        LoadStatus try_status_ = (expr);                \
        if (try_status_ != LOAD_OK) return try_status_; \
    } while (0)

// ---- attributes (infer/op_attrs.c) ----------------------------------------------------

// Reading context: the node, how to name it, where errors go.
typedef struct {
    const Onnx__NodeProto *node;
    const char *where;
    char *err;
    size_t err_len;
} AttrReader;

// The attribute's name ("" when it has none).
const char *attr_name(const Onnx__AttributeProto *attr);
const Onnx__AttributeProto *attr_find(const AttrReader *r, const char *name);
// Each reads the attribute when present (else the fallback); a wrong type is refused.
LoadStatus attr_read_int(const AttrReader *r, const char *name, int64_t fallback, int64_t *out);
LoadStatus attr_read_float(const AttrReader *r, const char *name, float fallback, float *out);
// At most capacity entries into values (*count = 0 when absent).
LoadStatus attr_read_ints(const AttrReader *r, const char *name, int capacity, int64_t *values,
                          int *count);
// A STRING attribute into text (absent: *present = 0).
LoadStatus attr_read_string(const AttrReader *r, const char *name, char *text, size_t text_len,
                            int *present);
// A TENSOR attribute (NULL when absent; *status LOAD_INVALID on a type mismatch).
const Onnx__AttributeProto *attr_typed(const AttrReader *r, const char *name, int type,
                                       LoadStatus *status);
// An INTS attribute of up to SD_MAX_DIMS entries into out->u.axes; count -1 when absent.
LoadStatus attr_parse_axes(const AttrReader *r, const char *name, OpAttrs *out);
// The `axis` attribute with the op's default.
LoadStatus attr_parse_axis(const AttrReader *r, int64_t fallback, int64_t *axis);

// ---- shape rules (infer/shape_infer.c) ------------------------------------------------

typedef struct {
    const GraphNode *node;
    const ValueState *const *in;
    const char *where;
    char *err;
    size_t err_len;
    NodeGeometry *out;
} InferContext;

// "where: reason" into the context's error buffer; returns status.
LoadStatus shape_fail(const InferContext *c, LoadStatus status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
int shape_has_input(const InferContext *c, int slot);
const ValueState *shape_input(const InferContext *c, int slot);
// A data input: present, shape known, float, not empty.
LoadStatus shape_require_float(const InferContext *c, int slot);
// A 1-D int64 constant input (shape vectors, pads, slice bounds).
LoadStatus shape_require_int_vector(const InferContext *c, int slot, const char *what,
                                    const HostTensor **out);
// Refuses an empty or oversized output.
LoadStatus shape_finish_output(const InferContext *c);
int64_t shape_normalize_axis(int64_t axis, int rank_bound);
// The output has input 0's shape (element-wise ops).
LoadStatus shape_same_as_input(const InferContext *c);

// ---- host evaluation (infer/host_eval.c) ----------------------------------------------

typedef struct {
    const GraphNode *node;
    const ValueState *const *in;
    const char *where;
    char *err;
    size_t err_len;
    HostTensor **out;
} Eval;

LoadStatus eval_fail(const Eval *c, LoadStatus status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
int eval_present(const Eval *c, int slot);
// The constant at an input slot (host_eval_ready made sure it exists), or NULL when omitted.
const HostTensor *eval_arg(const Eval *c, int slot);
// The node's output, a new tensor (refused above the folding limit).
LoadStatus eval_new_output(const Eval *c, int dtype, const TensorShape *shape, HostTensor **t);
double eval_value_at(const HostTensor *t, size_t i);
// Same element type on both sides.
void eval_copy_element(HostTensor *dst, size_t to, const HostTensor *src, size_t from);
void eval_row_major_strides(const TensorShape *shape, int64_t *strides);
// The element of `in` (broadcast to `out`, numpy rules) at out's flat index.
size_t eval_broadcast_offset(const TensorShape *in, const TensorShape *out, size_t flat);
int64_t eval_product(const TensorShape *shape, int from, int to);
// A 1-D (or scalar) integer constant input, e.g. a shape or axes vector.
LoadStatus eval_int_vector(const Eval *c, int slot, const char *what, const HostTensor **out);
LoadStatus eval_normalize_axis(const Eval *c, int64_t axis, int rank, int64_t *out);
// The same elements under a new shape (Identity, Reshape, Flatten, (Un)Squeeze).
LoadStatus eval_copy_reshaped(const Eval *c, const HostTensor *src, const TensorShape *shape);

// ---- lowering (infer/plan.c) ----------------------------------------------------------

LoadStatus plan_out_of_memory(PlanBuilder *b);
PlanStep *plan_add_step(PlanBuilder *b, StepKind kind, int node, int n_inputs, const int *inputs,
                        int output);
// A planner-made constant (owned by the builder); -1 when out of memory.
int plan_add_constant(PlanBuilder *b, HostTensor *tensor);
// One backend call reading the node's first n_inputs inputs as they are, writing the
// node's (possibly fused) output; NULL when out of memory (the message is set).
PlanStep *plan_add_node_step(PlanBuilder *b, int n, StepKind kind, int n_inputs);
// One STEP_GLOBAL_AVGPOOL from the node's global_pool geometry (GlobalAveragePool, ReduceMean).
LoadStatus lower_global_average_pool(PlanBuilder *b, int n);
// Identity, Flatten, Reshape, Dropout: the output shares the input's memory, no step.
LoadStatus plan_lower_view(PlanBuilder *b, int n);

// ---- the row ----------------------------------------------------------------------------

typedef struct {
    OpInfo info;
    const char *attributes[8];  // the attributes it knows; anything else is refused by name
    LoadStatus (*parse_attrs)(const AttrReader *r, int version, OpAttrs *out);
    LoadStatus (*infer_shape)(const InferContext *c);
    LoadStatus (*host_eval)(const Eval *c);
    LoadStatus (*lower)(PlanBuilder *b, int n);
    int host_reads_shape_only;  // Shape, Size: evaluated as soon as input 0's shape is known
    int is_view;                // the output is the input under another shape (no step)
    int is_softmax;             // its output may already be the probabilities (plan.c)
    // Ops that compute every output (Split): the graph accepts consumers of outputs
    // after the first, and output_shape gives output k >= 1 (the shape rule sets
    // output 0's shape as for every op). Such an op has no host evaluation: folding
    // (plan.c) makes one constant, output 0.
    int computes_every_output;
    void (*output_shape)(const NodeGeometry *geometry, int k, TensorShape *out);
} OpDef;

// The row of an op (registry.c).
const OpDef *op_def(OpKind kind);

#endif
