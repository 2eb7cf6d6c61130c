// Plan-time evaluation on the host: once the batch size is known, a node whose
// inputs are all constants (or, for Shape and Size, whose input shape is
// known) is computed here and its output becomes a constant of the plan. This
// turns the shape computations exporters write (Shape -> Gather -> Unsqueeze ->
// Concat -> Reshape, ConstantOfShape -> ... -> Cast feeding Pad's pads) into
// plain constants, and folds any other all-constant node the evaluator knows.
// Integer tensors (int64, int32, bool) exist only here and in the constants.
#ifndef SD_INFER_HOST_EVAL_H
#define SD_INFER_HOST_EVAL_H

#include <stddef.h>

#include "host_tensor.h"
#include "load_status.h"
#include "onnx_graph.h"
#include "shape_infer.h"

// Whether the node can be folded now: the evaluator knows its op and every
// input it reads is available on the host.
int host_eval_ready(const GraphNode *node, const ValueState *const *inputs);

// Computes the node's output into *out (a new tensor the caller owns).
// inputs[i] describes node input i (ignored where the node omits it). Errors
// (out-of-range indices, mismatched element types, ...) name the node.
LoadStatus host_eval_node(const GraphNode *node, const ValueState *const *inputs,
                          const char *where, HostTensor **out, char *err, size_t err_len);

#endif
