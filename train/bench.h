// `sdtrain --bench-steps N`: the speed of training steps on synthetic data,
// without a data set (for bench/ scripts that compare against PyTorch).
#ifndef SD_TRAIN_BENCH_H
#define SD_TRAIN_BENCH_H

#include "options.h"

// Prints images/s and ms/step for the options' model, batch, device and survival
// rule. Returns the process exit code.
int bench_steps(const TrainOptions *opt);

#endif
