// A residual network with stochastic depth, on any Backend.
//
// The network is a stem (Conv-BN-ReLU, optionally a 3x3/2 max pool), a list of
// residual blocks, global average pooling and a fully connected layer. Block l
// computes (paper eq. 2 and 5)
//     training:   H_l = ReLU(b_l * f_l(H_{l-1}) + shortcut(H_{l-1})),  b_l ~ Bernoulli(p_l)
//     evaluation: H_l = ReLU(p_l * f_l(H_{l-1}) + shortcut(H_{l-1}))
// where f_l is the block's branch of ConvBN units. A closed gate (b_l = 0) costs
// nothing: no convolution or batch-norm work forward or backward, and the
// block's BN running statistics are untouched.
//
// All learnable parameters live in ONE flat device buffer (likewise their
// gradients and momentum), so the optimiser is one fused update. BN running
// statistics live in a second flat buffer. `tensors` names every piece of both
// buffers for checkpoints and export.
#ifndef SD_NET_H
#define SD_NET_H

#include <stddef.h>
#include <stdint.h>

#include "../kernels/backend.h"
#include "preset.h"
#include "rng.h"

typedef enum { NET_TRAIN, NET_EVAL } NetMode;

// Recordings kept per block and direction, one per distinct input pointer
// (common/net_recording.h): enough for the few nearest earlier open blocks.
#define NET_RECORDINGS_PER_KEYSET 6
typedef struct NetRecordings NetRecordings;
typedef struct NetBnSync NetBnSync;  // common/net_sync_bn.h

// A convolution (no bias: a BN follows) + batch norm + optional ReLU.
typedef struct {
    ConvGeom geom;                       // geom.batch is batch_max; calls patch in the real batch
    size_t weight, gamma, beta;          // offsets into params / grads
    size_t running_mean, running_var;    // offsets into bn_state
    int relu;
    real *conv_out;                      // pre-BN activations (kept for BN backward)
    real *bn_out;                        // post-BN (and post-ReLU) activations
    real *save_mean, *save_invstd;       // batch statistics for backward
} ConvBN;

typedef struct {
    int n_units;                         // 2 (basic) or 3 (bottleneck)
    ConvBN units[3];                     // the residual branch f_l
    int shortcut_a;                      // option-A shortcut (avg pool + zero channels)
    int has_projection;
    ConvBN projection;                   // 1x1 conv + BN shortcut (relu = 0)
    int in_c, in_h, in_w, out_c, out_h, out_w, stride;
    real *shortcut_out;                  // result of option A / projection (NULL for identity)
    real *out;                           // where this step's output lives (may alias the input)
    int active;                          // the gate used by the last forward pass
} Block;

typedef enum { TENSOR_PARAM, TENSOR_BN_STATE } TensorStore;

typedef struct {
    char name[96];                       // e.g. "blocks.3.conv2.weight"
    TensorStore store;
    int rank;
    int dims[4];
    size_t offset, count;
} NetTensor;

typedef struct {
    Backend *be;
    Preset preset;
    int batch_max, in_c, in_h, in_w, n_classes;

    ConvBN stem;
    int stem_pool;
    PoolGeom stem_pool_geom;
    real *stem_pool_out;

    int n_blocks;
    Block *blocks;
    double *survival_prob;               // p_l per block (host), paper eq. 4 or uniform

    int feat_c, feat_h, feat_w;          // input of the global average pool
    real *pooled;                        // [batch][feat_c]
    size_t fc_weight, fc_bias;
    real *logits;                        // [batch][n_classes]

    size_t n_params;
    real *params, *grads, *momentum;
    size_t n_bn_state;
    real *bn_state;
    int n_tensors;
    NetTensor *tensors;

    real bn_momentum, bn_eps;            // 0.1 and 1e-5 as Torch

    // Backward scratch: three buffers of the largest activation.
    size_t max_activation;
    real *grad_out, *grad_in, *grad_tmp;
    real *input;                         // device copy of the batch
    int32_t *labels;                     // device labels
    real *dlogits, *dpooled;
    real *loss;                          // device scalar
    real *activation_arena;              // one allocation holding every activation above
    NetRecordings *recordings;           // NULL = every op runs eagerly (the default)
    NetBnSync *bn_sync;                  // NULL = training BN over this process's batch only
    // Called by net_backward after each block's backward, last block first (sdtrain's
    // gradient exchange starts on a block's gradients while backward goes on); NULL = none.
    void (*block_backward_done)(void *ctx, int block);
    void *block_backward_ctx;
} Net;

// Builds the network for inputs of in_c x in_h x in_w and n_classes, with room for
// batch_max images. Allocates every buffer now: nothing is allocated per step.
int net_build(Net *net, Backend *be, const Preset *preset, int in_c, int in_h, int in_w,
              int n_classes, int batch_max, char *err, size_t err_len);

// What net_build would allocate for the same arguments, found without allocating
// the network's buffers (only its block list): the checks of net_build that need
// no memory, so that a caller can refuse a network that is too large first.
typedef struct {
    size_t params;       // learnable parameters (elements)
    size_t bn_state;     // batch-norm running statistics (elements)
    size_t activations;  // the activation arena (elements)
    size_t bytes;        // every buffer net_build allocates, in bytes
} NetSize;
int net_measure(const Preset *preset, int in_c, int in_h, int in_w, int n_classes, int batch_max,
                NetSize *size, char *err, size_t err_len);
void net_free(Net *net);

// He-normal convolutions (std sqrt(2 / fan_in)), BN gamma 1 beta 0, running mean 0 var 1,
// the fully connected layer as Torch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
void net_init_params(Net *net, Rng *init_rng);

// Survival probabilities: "linear" p_l = 1 - (l/L)(1 - p_last) (l = 1..L), "uniform"
// p_l = p_last, "none" p_l = 1. Returns -1 for an unknown rule.
int net_set_survival(Net *net, const char *rule, double p_last);
double net_expected_active_blocks(const Net *net);  // E[L~] = sum p_l
// One Bernoulli(p_l) draw per block from the gate stream.
void net_draw_gates(const Net *net, Rng *gate_rng, uint8_t *gates);

// Forward pass of `batch` images already in net->input (device). gates may be NULL
// (all open); they are ignored in NET_EVAL, where each branch is scaled by p_l.
// Leaves the logits in net->logits.
void net_forward(Net *net, int batch, const uint8_t *gates, NetMode mode);
// Softmax cross-entropy against net->labels and the full backward pass of the last
// NET_TRAIN forward; zeroes and then fills net->grads. Returns nothing: the mean
// loss is in net->loss (device).
void net_backward(Net *net, int batch);
// One SGD step (see Backend.sgd_step) over all parameters, dropped blocks' too,
// as the reference code does (their gradient is zero; decay and momentum still act).
void net_sgd_step(Net *net, real lr, real momentum, real weight_decay, int nesterov,
                  int first_step);

// Record each open block's training forward and backward once per input pointer and
// replay it (CUDA graphs: one launch instead of ~15 per block). Full batches of
// NET_TRAIN only; results are those of eager execution. Returns 1 when enabled,
// 0 when the backend cannot record (the CPU): then nothing changes.
int net_enable_recording(Net *net);
void net_disable_recording(Net *net);
// Block runs by replay, by recording, and eagerly (the first run of a block, or
// with a full cache), counted since net_enable_recording.
void net_recording_counts(const Net *net, long long *replays, long long *recorded,
                          long long *eager);

// Host <-> device helpers for a batch.
void net_set_batch(Net *net, const float *images, const int32_t *labels, int batch);

const NetTensor *net_find_tensor(const Net *net, const char *name);

#endif
