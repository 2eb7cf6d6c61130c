// sdtrain's command line. Defaults reproduce the paper's CIFAR setting
// (sec. 4): ResNet-110, linear decay to p_L = 0.5, 500 epochs, batch 128,
// lr 0.1 divided by 10 at epochs 250 and 375, Nesterov momentum 0.9, weight
// decay 1e-4, 45k/5k train/validation.
#ifndef SD_TRAIN_OPTIONS_H
#define SD_TRAIN_OPTIONS_H

#include <stdint.h>

#include "../common/image_source.h"

#define MAX_LR_STEPS 16

typedef struct {
    char dataset[32];
    char data_dir[1024];        // "" = the data set's default directory
    char model[1024];
    char models_dir[1024];
    int epochs;
    int batch_size;
    double lr, momentum, weight_decay;
    int nesterov;
    int n_lr_steps;
    int lr_steps[MAX_LR_STEPS];  // epochs (1-based) from which the rate is divided by 10 once more
    int warmup_epochs;
    double warmup_lr;
    char survival[16];          // linear, uniform, none
    double p_last;
    int val_size;
    int augment;                // -1 = the data set's default
    uint64_t seed;
    char device[16];
    char precision[16];
    int threads;
    int prefetch;               // batches the loader thread makes ahead (0 = none, on demand)
    int cuda_graphs;            // record open blocks as CUDA graphs and replay them
    char out_dir[1024];
    char resume_dir[1024];      // "" = a fresh run
    int force;                  // a fresh run may replace the run already in out_dir
    int train_limit;            // 0 = all training examples (a quick run uses fewer)
    int test_limit;             // 0 = the whole test set
    int log_grad_magnitude;     // Fig. 7: mean |grad| of the first block's first convolution
    int bench_steps;            // > 0: time this many steps on synthetic data and exit
    int bench_repeats;          // timed windows of bench_steps steps; the median is reported
    int bench_versus_constant;  // each window paired with one of constant depth beside it
    int save_every_epoch;
    // Data-parallel runs under mpirun (train/dist.h).
    int sync_bn;                // BN statistics over every rank's batch together
    double dist_timeout;        // seconds a rank waits for the others before it gives up
    int dist_check_every;       // steps between checks that every rank drew the same gates
    int overlap_kb;             // > 0: gradient sums overlap backward, in buckets of this size
    char dist_backend[8];       // auto, mpi (host-staged), nccl (GPUs; train/grad_nccl.h)
    // --dataset folder (train/folder_data.c): --image-size, --augment-recipe, --eval-crop
    // (0 = the recipe's: 0.875 imagenet, 1 cifar), --cache-mb; --norm-mean/--norm-std
    // (channels 0: computed from the training images).
    ImageFolderOptions folder;
    Normalization given_norm;
} TrainOptions;

void options_defaults(TrainOptions *opt);
// Parses argv. Returns 0 to run, 1 when --help was printed, 2 on a bad option
// (a message on stderr names it).
int options_parse(TrainOptions *opt, int argc, char **argv);
// The learning rate for a 0-based epoch: warm-up, then lr / 10^(steps passed).
double options_lr_at_epoch(const TrainOptions *opt, int epoch);

#endif
