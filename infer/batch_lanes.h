// A large batch on the CPU, run as lanes: each thread runs the whole network on
// chunks of a few images (its own one-thread backend and plan for the chunk size)
// instead of all threads sharing every layer of the whole batch.
//
// Why: with the whole batch, every layer streams the batch's activations through
// memory and the threads meet at a barrier per layer. A chunk's activations stay
// in the core's cache from one layer to the next, and the threads never wait for
// each other. Measured on a 2-core AMD EPYC (ResNet-110, 1x28x28, batch 256, two
// threads): two independent one-thread runs of batch 16 gave 1.22x the images/s
// of one two-thread run of batch 256.
//
// Only for plans that compute each sample from itself alone (plan_batch_separable);
// a chunk's rows are the rows of the whole batch's plan computed by the same steps
// on fewer images (the kernels may choose other code paths for another batch size,
// so equal within rounding, not always to the bit).
#ifndef SD_INFER_BATCH_LANES_H
#define SD_INFER_BATCH_LANES_H

#include <stddef.h>

#include "plan.h"

typedef struct BatchLanes BatchLanes;

typedef struct {
    int threads;            // the context's threads (>= 1): at most one lane each
    int chunk;              // images per chunk; 0: chosen from the activation sizes
    int softmax;            // the result rows are the appended softmax (else output 0)
    const char *precision;  // NULL, or given to each lane's backend
} BatchLanesOptions;

// Lanes for the batch of `full` (a CPU plan made with plan_options), or NULL with
// the reason in why: the whole plan then runs as before (never an error).
BatchLanes *batch_lanes_create(const Plan *full, const PlanOptions *plan_options,
                               const BatchLanesOptions *options, char *why, size_t why_len);
void batch_lanes_free(BatchLanes *lanes);

// input: the whole batch (host); output: its result rows. 0, or -1 with a lane's
// backend error in err.
int batch_lanes_run(BatchLanes *lanes, const real *input, real *output, char *err,
                    size_t err_len);

// "2 lanes x 16 images (each: activations A MiB, weights W MiB)" for the program's report.
void batch_lanes_describe(const BatchLanes *lanes, char *out, size_t out_len);

#endif
