// The element-wise binary ops' shared rules (binary.c): Add, Sub, Mul, Div, Equal.
#ifndef SD_INFER_OPS_BINARY_H
#define SD_INFER_OPS_BINARY_H

#include "op_def.h"

// What the host evaluator computes: int64/int32 arithmetic wraps as two's complement,
// division truncates toward zero (as onnxruntime); Equal makes a bool tensor.
typedef enum { ARITH_ADD, ARITH_SUB, ARITH_MUL, ARITH_DIV, ARITH_EQUAL } HostArith;

// Two float inputs that broadcast; the output has the broadcast shape.
LoadStatus binary_infer_shape(const InferContext *c);
LoadStatus binary_host_eval(const Eval *c, HostArith op);
LoadStatus binary_lower(PlanBuilder *b, int n, BinaryOp op);

#endif
