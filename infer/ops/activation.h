// The activation ops' shared shape rule and lowering (activation.c).
#ifndef SD_INFER_OPS_ACTIVATION_H
#define SD_INFER_OPS_ACTIVATION_H

#include "op_def.h"

// A float input; the output has its shape; the step applies params.
LoadStatus activation_infer_shape(const InferContext *c, ActivationParams params);
LoadStatus activation_lower(PlanBuilder *b, int n);

#endif
