// Evaluating a context on a test split (top-1/top-5 error, throughput, latency)
// and benchmarking it on one batch. Both time each batch as the host sees it:
// upload of the images, the plan's steps (or its lanes: batch_lanes.h),
// synchronisation, download of the class probabilities.
#ifndef SD_INFER_EVALUATE_H
#define SD_INFER_EVALUATE_H

#include <stddef.h>

#include "../common/dataset.h"
#include "plan.h"
#include "sdinfer.h"

typedef struct {
    int images, classes, batches;
    int top1_errors, top5_errors;  // top-5 is counted when classes > 5
    double model_seconds;  // sum over batches of upload + run + download
    double wall_seconds;   // the whole loop, with batch preparation and CSV rows
    double latency_p50, latency_p99;  // seconds per batch
} EvalReport;

// Whether the plan fits the data set: one input [B, C, H, W] matching its images
// and class scores (plan->probabilities, else output 0) of shape [B, classes].
// Returns 0, or -1 with a message.
int evaluate_check_shapes(const Plan *plan, const Dataset *ds, char *err, size_t err_len);

// The plan must fit the data set (evaluate_check_shapes). limit > 0
// evaluates only the first limit images. predictions_path (or NULL) receives
// index,label,prediction,probability rows, written atomically.
int evaluate_dataset(sdinfer_context *context, const Dataset *ds, const Normalization *norm, int limit,
                     const char *predictions_path, EvalReport *report, char *err, size_t err_len);

typedef struct {
    int batches, batch_size;
    double latency_p50, latency_p99, mean_seconds;
    double images_per_second;
} BenchReport;

// Times `batches` runs of one host batch (input 0) after `warmup` untimed runs.
int bench_context(sdinfer_context *context, const real *host_batch, int warmup, int batches,
                  BenchReport *report, char *err, size_t err_len);

#endif
