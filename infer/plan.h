// An execution plan: a loaded ONNX graph made ready to run many batches of one
// size on one backend. Planning does all the work once:
//   - resolves the dynamic batch dimension and infers every shape;
//   - folds BatchNormalization into the preceding Conv (when the Conv feeds only
//     that BN), fuses Conv(+bias)+ReLU and Add+ReLU;
//   - turns Reshape/Flatten/Identity into views (no copy, no step);
//   - lays all activations out in one device arena, reusing memory by liveness,
//     and uploads the weights once.
// Running a batch is then a fixed list of backend calls that allocates nothing.
#ifndef SD_INFER_PLAN_H
#define SD_INFER_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "../kernels/backend.h"
#include "load_status.h"
#include "onnx_graph.h"
#include "op_params.h"

typedef struct {
    int batch_size;         // <= 0: the model's fixed batch, or 1 when it is dynamic
    int append_softmax;     // also compute softmax over the last axis of output 0 (probabilities)
    int fold_batchnorm;     // fold BN into Conv where possible
    int fuse_activations;   // fuse ReLU into Conv / Add
    int channels_last;      // keep activations channels-last between convolutions that prefer it
    // A plan whose weights plus activation arena need more bytes than this is
    // refused before they are allocated (default: the host's physical memory).
    size_t max_memory_bytes;
} PlanOptions;

PlanOptions plan_default_options(void);

typedef enum {
    STEP_CONV,
    STEP_BATCHNORM,
    STEP_RELU,
    STEP_ADD_RELU,  // y = ReLU(a + b), same shapes: the residual merge
    STEP_BINARY,
    STEP_MAXPOOL,
    STEP_AVGPOOL,
    STEP_GLOBAL_AVGPOOL,
    STEP_PAD,
    STEP_CONCAT,
    STEP_SLICE,
    STEP_SOFTMAX,
    STEP_FC,      // y = x w^T + bias: Gemm with a constant weight
    STEP_GEMM,    // y = alpha op(a) op(b)
    STEP_MATMUL,  // batched products with broadcast batch dims
    STEP_CONV_GROUPED,  // groups or dilation (depthwise): then the fused residual and ReLU
    STEP_ACTIVATION,    // Sigmoid, HardSigmoid, HardSwish, Clip
    STEP_TRANSPOSE,
    STEP_KIND_COUNT  // not a step: the number of kinds (executor.c's table has a row each)
} StepKind;

typedef struct {
    StepKind kind;
    int node;       // graph node it implements (-1: added by the planner)
    int n_inputs;
    int *inputs;    // plan tensor ids (Conv: x, w, bias or -1; BN: x, scale, B, mean, var)
    int output;
    union {
        struct {
            ConvGeom geom;
            OutputClamp clamp;  // a fused ReLU or Clip (plan_fusion.c)
            ConvExtras extras;  // groups > 1 or dilation: STEP_CONV_GROUPED
        } conv;
        BatchNormGeom batchnorm;
        PoolGeom pool;
        BinaryOp binary;
        GlobalPoolParams global_pool;
        PadParams pad;
        ConcatParams concat;
        SliceParams slice;
        SoftmaxParams softmax;
        struct {
            int batch, in_features, out_features;
        } fc;
        struct {
            int trans_a, trans_b, m, n, k;
            real alpha;
        } gemm;
        MatmulParams matmul;
        TransposeParams transpose;
        ActivationParams activation;
    } p;
    real epsilon;  // BatchNormalization
} PlanStep;

typedef struct {
    TensorShape shape;
    size_t count;
    int is_constant;      // lives in the weights buffer
    int storage;          // activation storage (arena slot), -1 for constants
    size_t offset;        // elements from the start of the arena or the weights buffer
    real *data;           // device pointer
} PlanTensor;

typedef struct {
    size_t activation_bytes;  // the arena: peak memory of inputs, activations and outputs
    size_t activation_naive_bytes;  // what the same tensors would take without reuse
    size_t weight_bytes;      // uploaded constants
    int graph_nodes;
    int steps;
    int folded_batchnorms;
    int fused_relus;
    int fused_clips;  // Clip (ReLU6) applied in the epilogue of the conv before it
    int fused_silus;  // Mul(x, Sigmoid(x)) computed as one SiLU activation step
    int fused_hard_swishes;  // Mul(x, HardSigmoid(x) with 1/6, 1/2) as one HardSwish step
    int fused_adds;  // residual Adds computed in the epilogue of the conv before them
    int views;
    int folded_nodes;  // computed on the host when the plan was made (shape computations, constants)
    int channels_last;  // activations kept channels-last between convolutions (plan_layout.c)
} PlanStats;

typedef struct {
    Backend *be;  // borrowed
    const OnnxGraph *graph;  // borrowed: must outlive the plan
    int batch_size;
    int n_tensors;
    PlanTensor *tensors;  // ids 0..graph->n_values-1 are the graph's values, then planner temporaries
    int n_steps;
    PlanStep *steps;
    int n_inputs;
    int *inputs;   // tensor ids of the runtime inputs (graph order)
    int n_outputs;
    int *outputs;  // tensor ids of the graph outputs, then the probabilities if appended
    int probabilities;  // tensor id of the appended softmax, or -1
    real *arena;    // device
    real *weights;  // device
    ConvCall *conv_calls;  // n_steps: plan_run's runs of convolution steps (executor.c)
    PlanStats stats;
} Plan;

LoadStatus plan_create(const OnnxGraph *graph, Backend *be, const PlanOptions *options,
                       Plan **out, char *err, size_t err_len);
void plan_free(Plan *plan);

// Runs every step once on the data currently in the input tensors.
void plan_run(Plan *plan);
// The same, synchronising after each step and adding its seconds to
// step_seconds[step] (n_steps entries), for --profile. Each convolution runs as its own
// call here, not in plan_run's sequences (conv2d_forward_sequence).
void plan_run_profiled(Plan *plan, double *step_seconds);

// Host <-> device for the plan's inputs and outputs (bytes = count * sizeof(real)).
void plan_upload_input(Plan *plan, int input_index, const real *host);
void plan_download_tensor(Plan *plan, int tensor_id, real *host);

// Whether every sample's outputs depend on that sample's inputs only (plan_separable.c):
// 1, or 0 with the first step (node) that mixes samples and why.
int plan_batch_separable(const Plan *plan, char *why, size_t why_len);

// One line per step (kind, node, shapes) for --verbose; with step_seconds (or
// NULL) also each step's share of the time measured by plan_run_profiled.
void plan_describe(const Plan *plan, const double *step_seconds, void *stream);

#endif
