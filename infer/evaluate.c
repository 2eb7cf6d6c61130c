#include "evaluate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/atomic_file.h"
#include "latency.h"
#include "sdinfer_internal.h"

// dataset_make_batch writes float; the plan's tensors are `real`.
_Static_assert(sizeof(real) == sizeof(float), "sdinfer runs float32 plans");

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// The output tensor whose rows are class scores for the report.
static int scores_tensor(const Plan *plan) {
    return plan->probabilities >= 0 ? plan->probabilities : plan->outputs[0];
}

int evaluate_check_shapes(const Plan *plan, const Dataset *ds, char *err, size_t err_len) {
    char text[128];
    if (plan->n_inputs != 1) {
        snprintf(err, err_len, "the model has %d inputs; evaluation needs exactly one",
                 plan->n_inputs);
        return -1;
    }
    const TensorShape *in = &plan->tensors[plan->inputs[0]].shape;
    if (in->rank != 4 || in->dims[1] != ds->channels || in->dims[2] != ds->height ||
        in->dims[3] != ds->width) {
        snprintf(err, err_len, "the model's input %s does not take %s images (%d x %d x %d)",
                 shape_format(in, text, sizeof text), dataset_kind_name(ds->kind), ds->channels,
                 ds->height, ds->width);
        return -1;
    }
    const TensorShape *out = &plan->tensors[scores_tensor(plan)].shape;
    if (out->rank != 2 || out->dims[0] != in->dims[0] || out->dims[1] != ds->classes) {
        snprintf(err, err_len, "the model's output %s is not [batch, %d classes]",
                 shape_format(out, text, sizeof text), ds->classes);
        return -1;
    }
    return 0;
}

// Runs one batch already in host memory: its latency in seconds, or -1 with the
// context's error.
static double run_batch(sdinfer_context *context, const real *images, real *scores) {
    double start = now_seconds();
    if (sdi_context_run_host(context, images, scores) != 0) return -1;
    return now_seconds() - start;
}

// Position of the true class when classes are sorted by descending score
// (ties broken by class index, as argmax picks the first maximum).
static int rank_of_label(const real *scores, int classes, int label) {
    int rank = 0;
    for (int c = 0; c < classes; c++)
        if (scores[c] > scores[label] || (scores[c] == scores[label] && c < label)) rank++;
    return rank;
}

static int argmax(const real *scores, int classes) {
    int best = 0;
    for (int c = 1; c < classes; c++)
        if (scores[c] > scores[best]) best = c;
    return best;
}

typedef struct {
    real *images;
    real *scores;
    int32_t *labels;
    uint32_t *indices;
    double *latencies;
} EvalBuffers;

static void free_buffers(EvalBuffers *b) {
    free(b->images);
    free(b->scores);
    free(b->labels);
    free(b->indices);
    free(b->latencies);
}

static int write_rows(AtomicFile *csv, int first, int count, const int32_t *labels,
                      const real *scores, int classes) {
    char line[128];
    for (int i = 0; i < count; i++) {
        const real *row = scores + (size_t)i * classes;
        int prediction = argmax(row, classes);
        int len = snprintf(line, sizeof line, "%d,%d,%d,%.6f\n", first + i, labels[i], prediction,
                           (double)row[prediction]);
        if (atomic_file_write(csv, line, (size_t)len) != 0) return -1;
    }
    return 0;
}

int evaluate_dataset(sdinfer_context *context, const Dataset *ds, const Normalization *norm, int limit,
                     const char *predictions_path, EvalReport *report, char *err, size_t err_len) {
    memset(report, 0, sizeof *report);
    const Plan *plan = context->plan;
    if (evaluate_check_shapes(plan, ds, err, err_len) != 0) return -1;
    int batch = plan->batch_size, classes = ds->classes;
    int total = limit > 0 && limit < ds->count ? limit : ds->count;
    int n_batches = (total + batch - 1) / batch;
    size_t image_elements = (size_t)ds->channels * ds->height * ds->width;
    EvalBuffers b = {
        .images = calloc((size_t)batch * image_elements, sizeof(real)),
        .scores = calloc((size_t)batch * classes, sizeof(real)),
        .labels = calloc((size_t)batch, sizeof(int32_t)),
        .indices = calloc((size_t)batch, sizeof(uint32_t)),
        .latencies = calloc((size_t)n_batches + 1, sizeof(double)),
    };
    if (!b.images || !b.scores || !b.labels || !b.indices || !b.latencies) {
        free_buffers(&b);
        snprintf(err, err_len, "out of memory for batch buffers");
        return -1;
    }
    AtomicFile csv;
    if (predictions_path) {
        if (atomic_file_open(&csv, predictions_path, err, err_len) != 0) {
            free_buffers(&b);
            return -1;
        }
        const char *header = "index,label,prediction,probability\n";
        atomic_file_write(&csv, header, strlen(header));
    }
    double wall_start = now_seconds();
    int csv_failed = 0;
    for (int k = 0; k < n_batches; k++) {
        int first = k * batch, count = total - first < batch ? total - first : batch;
        for (int i = 0; i < count; i++) b.indices[i] = (uint32_t)(first + i);
        dataset_make_batch(ds, b.indices, count, norm, 0, NULL, (float *)b.images, b.labels);
        // A short last batch runs padded with zero images; their rows are ignored.
        if (count < batch)
            memset(b.images + (size_t)count * image_elements, 0,
                   (size_t)(batch - count) * image_elements * sizeof(real));
        b.latencies[k] = run_batch(context, b.images, b.scores);
        if (b.latencies[k] < 0) {
            snprintf(err, err_len, "%s", context->err);
            free_buffers(&b);
            if (predictions_path) atomic_file_abort(&csv);
            return -1;
        }
        report->model_seconds += b.latencies[k];
        for (int i = 0; i < count; i++) {
            int rank = rank_of_label(b.scores + (size_t)i * classes, classes, b.labels[i]);
            report->top1_errors += rank >= 1;
            report->top5_errors += rank >= 5;
        }
        if (predictions_path && !csv_failed)
            csv_failed = write_rows(&csv, first, count, b.labels, b.scores, classes) != 0;
    }
    report->wall_seconds = now_seconds() - wall_start;
    report->images = total;
    report->classes = classes;
    report->batches = n_batches;
    report->latency_p50 = latency_percentile(b.latencies, n_batches, 0.50);
    report->latency_p99 = latency_percentile(b.latencies, n_batches, 0.99);
    free_buffers(&b);
    if (predictions_path && atomic_file_commit(&csv, err, err_len) != 0) return -1;
    return 0;
}

int bench_context(sdinfer_context *context, const real *host_batch, int warmup, int batches,
                  BenchReport *report, char *err, size_t err_len) {
    memset(report, 0, sizeof *report);
    const Plan *plan = context->plan;
    int scores = scores_tensor(plan);
    real *output = malloc(plan->tensors[scores].count * sizeof(real));
    double *latencies = malloc((size_t)batches * sizeof(double));
    if (!output || !latencies) {
        free(output);
        free(latencies);
        snprintf(err, err_len, "out of memory for benchmark buffers");
        return -1;
    }
    double total = 0;
    int failed = 0;
    for (int i = 0; i < warmup && !failed; i++) failed = run_batch(context, host_batch, output) < 0;
    for (int i = 0; i < batches && !failed; i++) {
        latencies[i] = run_batch(context, host_batch, output);
        failed = latencies[i] < 0;
        total += latencies[i];
    }
    if (failed) {
        snprintf(err, err_len, "%s", context->err);
        free(output);
        free(latencies);
        return -1;
    }
    report->batches = batches;
    report->batch_size = plan->batch_size;
    report->mean_seconds = total / batches;
    report->images_per_second = total > 0 ? (double)batches * plan->batch_size / total : 0;
    report->latency_p50 = latency_percentile(latencies, batches, 0.50);
    report->latency_p99 = latency_percentile(latencies, batches, 0.99);
    free(output);
    free(latencies);
    return 0;
}
