// Internal to the planner (plan.c, plan_fusion.c, plan_memory.c): the working
// state while a Plan is built. Not used outside infer/plan*.c.
#ifndef SD_INFER_PLAN_BUILDER_H
#define SD_INFER_PLAN_BUILDER_H

#include "plan.h"
#include "shape_infer.h"

// How one graph node is lowered, after folding and fusion decisions.
typedef struct {
    int skip;        // folded into another node's step, or a view (no step)
    int output;      // the value its step writes (a later node's output after fusion)
    OutputClamp clamp;  // Conv: the ReLU or Clip fused into the conv step (else off)
    int residual;    // Conv: the value an Add fused into the step adds (else -1)
    int add_relu;    // Add: lower to the residual merge ReLU(a + b)
    int times_input; // Sigmoid, HardSigmoid: x * f(x), the Mul that read it fused (writes its output)
    const HostTensor *folded_weight;  // Conv with BN folded in: the new weight and bias
    const HostTensor *folded_bias;
} NodeLowering;

typedef struct {
    const OnnxGraph *graph;
    Backend *be;
    PlanOptions options;
    char *err;
    size_t err_len;
    Plan *plan;
    int batch_is_dynamic;
    ValueState *values;      // per graph value
    NodeGeometry *geometry;  // per node
    NodeLowering *lowering;  // per node
    char *folded;            // per node: computed on the host at plan time (no step)
    int *consumer_count;     // per graph value: node input slots reading it, +1 if a graph output
    int *writer;             // per graph value: node whose step writes it (after fusion), or -1
    int tensor_capacity;
    const HostTensor **host_constant;  // per plan tensor: constant data to upload, or NULL
    int *alias;              // per plan tensor: the tensor owning its memory (views), else itself
    HostTensor **owned;      // constants the planner made (folded weights, views of constants)
    int n_owned, owned_capacity;
    int steps_capacity;
} PlanBuilder;

// plan.c
int plan_builder_own(PlanBuilder *b, HostTensor *tensor);  // 0, or -1 (tensor freed)
int plan_builder_add_tensor(PlanBuilder *b, const TensorShape *shape, const HostTensor *constant);

// plan_fusion.c: decides BN folding and ReLU fusion (fills lowering[], writer[]).
LoadStatus plan_fuse(PlanBuilder *b);

// plan_layout.c: which activations stay channels-last between convolutions (sets the
// conv steps' ConvGeom layout flags). 0, or -1 when out of memory.
int plan_choose_layouts(PlanBuilder *b);

// plan_memory.c: drops dead steps, assigns activation memory by liveness,
// uploads constants, resolves every tensor's device pointer.
LoadStatus plan_assign_memory(PlanBuilder *b);

#endif
