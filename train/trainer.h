// The training run: data, network, optimiser state, RNG streams and the
// best-validation bookkeeping, plus the functions that move it forward.
#ifndef SD_TRAINER_H
#define SD_TRAINER_H

#include <stdint.h>

#include "../common/dataset.h"
#include "../common/metamap.h"
#include "../common/net.h"
#include "dist.h"
#include "grad_sync.h"
#include "loader.h"
#include "options.h"
#include "progress.h"
#include "run_log.h"

typedef struct {
    TrainOptions opt;
    Backend *be;
    Net net;

    Dataset train_set, test_set;   // train_set holds train (+ extra for SVHN)
    uint32_t *train_idx, *val_idx, *test_idx;
    int train_count, val_count, test_count;
    Normalization norm;
    int augment;

    Rng shuffle_rng, augment_rng, gate_rng;
    Progress progress;
    RunLog log;                    // OUT/log.csv

    int epochs_done;               // completed epochs (a resumed run starts at this one)
    long long steps_done;          // optimiser steps so far (the first one seeds momentum)
    double best_val_error;         // in [0, 1]; 2 = none yet
    int best_epoch;                // 1-based epoch of the lowest validation error
    double test_error_at_best;
    double seconds_so_far;         // wall time of earlier sessions of this run

    Loader loader;                 // batches, made ahead in host staging memory
    // Host buffers, allocated once.
    uint8_t *gates;
    uint32_t *order;
    real *host_logits;
    real *host_grad;               // for --log-grad-magnitude

    // Data parallelism (train/trainer_dist.c): the ranks (main's, or `solo`: rank 0 of 1).
    Dist *dist;
    Dist solo;
    GradSync grad_sync;
    GradNccl *grad_nccl;           // NCCL on the GPUs (train/grad_nccl.h), or NULL: MPI
    uint64_t gate_hash;            // of the gates drawn since the last check
    long long skew_gates_at_step;  // test hook (SDTRAIN_TEST_SKEW_GATES): rank 1 flips a gate
    real *host_bn_state;           // rank 0's running statistics, broadcast each epoch
} Trainer;

typedef struct {
    double loss, train_error, val_error, test_error;
    double images_per_second, mean_active_blocks, train_seconds, grad_magnitude;
    int diverged_at_step;          // 1-based step whose loss was not finite; 0 = none
    long long gates_differ_at_step;  // the check after this optimiser step found ranks' gates
                                     // differ; 0 = none
} EpochStats;

// Loads data, builds the network and initialises it, on tr->be when the caller set
// one (a test's wrapper), else on a new backend for opt.device.
int trainer_setup(Trainer *tr, char *err, size_t err_len);
void trainer_free(Trainer *tr);
// One epoch of training (0-based epoch index).
void trainer_train_epoch(Trainer *tr, int epoch, EpochStats *stats);
// Error rate in NET_EVAL mode over the listed examples.
double trainer_evaluate(Trainer *tr, const Dataset *ds, const uint32_t *indices, int count);

// Data-parallel parts of a run (train/trainer_dist.c). Setup (called by trainer_setup):
// the gradient exchange, --sync-bn and the global batch's checks; 0 or -1 with a message.
int trainer_dist_setup(Trainer *tr, char *err, size_t err_len);
void trainer_dist_free(Trainer *tr);
// After the gates of a step are drawn: folds them into the hash, checked against the
// other ranks every --dist-check-every steps. 0, or -1 when the ranks' gates differ.
int trainer_dist_gates(Trainer *tr);
// The step's mean loss and summed errors over the ranks (in place).
void trainer_dist_step_totals(Trainer *tr, double *loss, double *errors);
// At the end of an epoch: the gates checked once more, rank 0's BN running statistics
// copied to every rank, and the parameters and momentum checked equal on all ranks.
// 0, or -1 with a message.
int trainer_dist_end_epoch(Trainer *tr, char *err, size_t err_len);

// The epochs from epochs_done to opt.epochs, each ending with evaluation, its
// log.csv row and checkpoints (train/train_loop.c). Call after progress_init and
// run_log_init (and run_log_resume for a resumed run). 0, or -1 with a message.
int trainer_run(Trainer *tr, char *err, size_t err_len);

// 0 when the state may be written: the backend reported no error and every
// parameter, batch-norm statistic and momentum value is finite; else -1 with a
// message naming the error or the tensor (train/state_guard.c).
int trainer_check_state(Trainer *tr, char *err, size_t err_len);

// Checkpoint state (train/run_state.c). Refuses (-1, nothing written, the file at
// path left as it was) when trainer_check_state does.
int trainer_save(Trainer *tr, const char *path, double wall_seconds, char *err,
                 size_t err_len);
// Continues the run saved in opt.resume_dir: its options (but device, precision,
// threads, prefetch, cuda-graphs, and --epochs when given on this command line), network, momentum,
// RNG streams and best-validation record.
int trainer_resume(Trainer *tr, int argc, char **argv, char *err, size_t err_len);
int options_to_meta(const TrainOptions *opt, MetaMap *meta);
int options_from_meta(TrainOptions *opt, const MetaMap *meta, char *err, size_t err_len);

#endif
