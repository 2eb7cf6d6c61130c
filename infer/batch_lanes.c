// Lanes: one-thread plans for a chunk of the batch, one per thread (batch_lanes.h).
#include "batch_lanes.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// About the chunk size: a chunk's largest activation in about two L2 caches' worth.
// Measured (2-core AMD EPYC, ResNet-110 on 28x28, 49 KiB per image for its widest
// activations, batch 256, images/s, three runs): two threads, whole batch
// 1043-1076, chunks of 24: 1204-1254, 32: 1368-1438, 48: 1228-1289, 64:
// 1384-1466, 128: 1391-1422; one thread, whole 669-706, 32: 724-736, 64: 635-743.
// Chunks of 24 and 48 lost because the lanes got unequal work (11 and 6 chunks on
// 2 lanes): the chunk count is made a multiple of the lanes.
#define LANE_CHUNK_CACHE_BYTES ((size_t)2 << 20)
#define LANE_CHUNK_MAX 64
// Each lane keeps its own copy of the weights, and the CPU backend keeps the
// Winograd-transformed weights too (up to 4x the 3x3 weights): lanes are used only
// while all copies stay under this budget.
#define LANE_WEIGHT_COPIES_FACTOR 5
#define LANE_WEIGHT_BUDGET_BYTES ((size_t)1 << 30)

typedef struct {
    Backend *be;
    Plan *plan;
    real *input_stage, *output_stage;  // the last, partial chunk, padded with zero images
} Lane;

struct BatchLanes {
    int batch, chunk, n_chunks, n_lanes;
    int result;                        // tensor id of the result rows in every lane's plan
    size_t input_size, output_size;    // floats per sample
    Lane *lanes;
};

static int result_tensor(const Plan *plan, int softmax) {
    return softmax ? plan->probabilities : plan->outputs[0];
}

// The largest activation of one sample, in bytes.
static size_t peak_sample_bytes(const Plan *plan) {
    size_t peak = 0;
    for (int s = 0; s < plan->n_steps; s++) {
        size_t bytes = plan->tensors[plan->steps[s].output].count / (size_t)plan->batch_size *
                       sizeof(real);
        if (bytes > peak) peak = bytes;
    }
    return peak;
}

// Chunks of about the cached size, as many as a multiple of the threads, equal but
// for the last (padded with zero images).
static int choose_chunk(const Plan *full, const BatchLanesOptions *options) {
    if (options->chunk > 0) return options->chunk;
    const size_t peak = peak_sample_bytes(full);
    size_t target = peak ? LANE_CHUNK_CACHE_BYTES / peak : LANE_CHUNK_MAX;
    if (target < 1) target = 1;
    if (target > LANE_CHUNK_MAX) target = LANE_CHUNK_MAX;
    const int batch = full->batch_size, threads = options->threads;
    int n_chunks = (batch + (int)target - 1) / (int)target;
    n_chunks = (n_chunks + threads - 1) / threads * threads;
    return (batch + n_chunks - 1) / n_chunks;
}

static int lane_create(BatchLanes *lanes, Lane *lane, const Plan *full,
                       const PlanOptions *plan_options, const BatchLanesOptions *options,
                       char *why, size_t why_len) {
    lane->be = backend_create("cpu", 1, why, why_len);
    if (!lane->be) return -1;
    if (options->precision && lane->be->set_precision(lane->be, options->precision) != 0) {
        snprintf(why, why_len, "the cpu backend does not offer precision '%s'", options->precision);
        return -1;
    }
    PlanOptions chunk_options = *plan_options;
    chunk_options.batch_size = lanes->chunk;
    if (plan_create(full->graph, lane->be, &chunk_options, &lane->plan, why, why_len) != LOAD_OK) {
        lane->plan = NULL;
        return -1;
    }
    const Plan *p = lane->plan;
    if (p->n_steps != full->n_steps || p->n_inputs != 1 ||
        p->tensors[p->inputs[0]].count != lanes->input_size * (size_t)lanes->chunk ||
        p->tensors[lanes->result].count != lanes->output_size * (size_t)lanes->chunk) {
        snprintf(why, why_len, "the plan for %d images differs from the plan for %d",
                 lanes->chunk, full->batch_size);
        return -1;
    }
    lane->input_stage = calloc(lanes->input_size * (size_t)lanes->chunk, sizeof(real));
    lane->output_stage = malloc(lanes->output_size * (size_t)lanes->chunk * sizeof(real));
    if (!lane->input_stage || !lane->output_stage) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    return 0;
}

// Whether lanes apply; fills the sizes. 0, or -1 with why.
static int lanes_layout(BatchLanes *lanes, const Plan *full, const BatchLanesOptions *options,
                        char *why, size_t why_len) {
    if (full->batch_size < 2) {
        snprintf(why, why_len, "a batch of 1");
        return -1;
    }
    if (!plan_batch_separable(full, why, why_len)) return -1;
    lanes->batch = full->batch_size;
    lanes->chunk = choose_chunk(full, options);
    if (lanes->chunk >= lanes->batch) {
        snprintf(why, why_len, "the batch of %d is one chunk", lanes->batch);
        return -1;
    }
    lanes->n_chunks = (lanes->batch + lanes->chunk - 1) / lanes->chunk;
    lanes->n_lanes = options->threads < lanes->n_chunks ? options->threads : lanes->n_chunks;
    size_t weight_copies = (size_t)lanes->n_lanes * LANE_WEIGHT_COPIES_FACTOR *
                           full->stats.weight_bytes;
    if (weight_copies > LANE_WEIGHT_BUDGET_BYTES) {
        snprintf(why, why_len, "%d copies of %.1f MiB of weights are too many", lanes->n_lanes,
                 full->stats.weight_bytes / 1048576.0);
        return -1;
    }
    lanes->result = result_tensor(full, options->softmax);
    lanes->input_size = full->tensors[full->inputs[0]].count / (size_t)lanes->batch;
    lanes->output_size = full->tensors[lanes->result].count / (size_t)lanes->batch;
    return 0;
}

BatchLanes *batch_lanes_create(const Plan *full, const PlanOptions *plan_options,
                               const BatchLanesOptions *options, char *why, size_t why_len) {
    BatchLanes *lanes = calloc(1, sizeof *lanes);
    if (!lanes) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    if (lanes_layout(lanes, full, options, why, why_len) != 0) {
        free(lanes);
        return NULL;
    }
    lanes->lanes = calloc((size_t)lanes->n_lanes, sizeof *lanes->lanes);
    int failed = !lanes->lanes;
    if (failed) snprintf(why, why_len, "out of memory");
    for (int i = 0; i < lanes->n_lanes && !failed; i++)
        failed = lane_create(lanes, &lanes->lanes[i], full, plan_options, options, why,
                             why_len) != 0;
    if (failed) {
        batch_lanes_free(lanes);
        return NULL;
    }
    return lanes;
}

void batch_lanes_free(BatchLanes *lanes) {
    if (!lanes) return;
    for (int i = 0; lanes->lanes && i < lanes->n_lanes; i++) {
        Lane *lane = &lanes->lanes[i];
        plan_free(lane->plan);
        if (lane->be) lane->be->destroy(lane->be);
        free(lane->input_stage);
        free(lane->output_stage);
    }
    free(lanes->lanes);
    free(lanes);
}

// Chunk k through one lane: images [k * chunk, k * chunk + count).
static void run_chunk(const BatchLanes *lanes, Lane *lane, int k, const real *input,
                      real *output) {
    const int first = k * lanes->chunk;
    const int count = lanes->batch - first < lanes->chunk ? lanes->batch - first : lanes->chunk;
    const real *chunk_input = input + (size_t)first * lanes->input_size;
    real *chunk_output = output + (size_t)first * lanes->output_size;
    if (count < lanes->chunk) {  // the tail of input_stage stays zero images
        memcpy(lane->input_stage, chunk_input, (size_t)count * lanes->input_size * sizeof(real));
        chunk_input = lane->input_stage;
        chunk_output = lane->output_stage;
    }
    plan_upload_input(lane->plan, 0, chunk_input);
    plan_run(lane->plan);
    plan_download_tensor(lane->plan, lanes->result, chunk_output);
    if (count < lanes->chunk)
        memcpy(output + (size_t)first * lanes->output_size, lane->output_stage,
               (size_t)count * lanes->output_size * sizeof(real));
}

int batch_lanes_run(BatchLanes *lanes, const real *input, real *output, char *err,
                    size_t err_len) {
    int next_chunk = 0;
    // Chunks go to whichever lane is free: a thread slowed by another process does
    // not hold the others up. Every lane's plan is the same, so the rows do not
    // depend on which lane ran them.
#pragma omp parallel num_threads(lanes->n_lanes)
    {
        Lane *lane = &lanes->lanes[omp_get_thread_num()];
        for (;;) {
            int k;
#pragma omp atomic capture
            k = next_chunk++;
            if (k >= lanes->n_chunks) break;
            run_chunk(lanes, lane, k, input, output);
        }
    }
    for (int i = 0; i < lanes->n_lanes; i++)
        if (lanes->lanes[i].be->last_error(lanes->lanes[i].be, err, err_len) != 0) return -1;
    return 0;
}

void batch_lanes_describe(const BatchLanes *lanes, char *out, size_t out_len) {
    const PlanStats *st = &lanes->lanes[0].plan->stats;
    const double mib = 1024.0 * 1024.0;
    snprintf(out, out_len, "%d lane%s x %d image%s (each: activations %.3f MiB, weights %.3f MiB)",
             lanes->n_lanes, lanes->n_lanes == 1 ? "" : "s", lanes->chunk,
             lanes->chunk == 1 ? "" : "s", st->activation_bytes / mib, st->weight_bytes / mib);
}
