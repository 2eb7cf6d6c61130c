// ONNX models the way sdinfer takes them (infer/): load and validate the
// ModelProto, read sdexport's metadata, plan for a batch of 2 (or the model's
// fixed batch) within the harness's memory budget, and run the plan once on
// zeros. Input: the model file's bytes.
#include <stdlib.h>
#include <string.h>

#include "../infer/model_metadata.h"
#include "../infer/onnx_graph.h"
#include "../infer/plan.h"
#include "fuzz.h"

// Plans up to this size are also run once (larger ones only planned).
#define RUN_BYTES ((size_t)32 << 20)

static const char SOURCE[] = "fuzz.onnx";

static LoadStatus make_plan(FuzzContext *ctx, const OnnxGraph *graph, Plan **plan, char *err,
                            size_t err_len) {
    PlanOptions options = plan_default_options();
    options.batch_size = 2;
    options.max_memory_bytes = FUZZ_MEMORY_BUDGET;
    LoadStatus status = plan_create(graph, ctx->cpu, &options, plan, err, err_len);
    if (status == LOAD_UNSUPPORTED && strstr(err, "fixed batch size")) {
        options.batch_size = 0;
        status = plan_create(graph, ctx->cpu, &options, plan, err, err_len);
    }
    fuzz_require(status == LOAD_OK ? *plan != NULL : *plan == NULL, "plan status %d, plan %p",
                 (int)status, (void *)*plan);
    return status;
}

static void run_on_zeros(Plan *plan) {
    for (int i = 0; i < plan->n_inputs; i++) {
        const PlanTensor *input = &plan->tensors[plan->inputs[i]];
        real *zeros = calloc(input->count ? input->count : 1, sizeof(real));
        fuzz_require(zeros != NULL, "out of memory for an input of %zu values", input->count);
        plan_upload_input(plan, i, zeros);
        free(zeros);
    }
    plan_run(plan);
    for (int i = 0; i < plan->n_outputs; i++) {
        const PlanTensor *output = &plan->tensors[plan->outputs[i]];
        real *values = malloc((output->count ? output->count : 1) * sizeof(real));
        fuzz_require(values != NULL, "out of memory for an output of %zu values", output->count);
        plan_download_tensor(plan, plan->outputs[i], values);
        free(values);
    }
}

int fuzz_onnx(FuzzContext *ctx, const uint8_t *data, size_t size, char *err, size_t err_len) {
    OnnxGraph *graph = NULL;
    LoadStatus status = onnx_graph_load_buffer(data, size, SOURCE, &graph, err, err_len);
    if (status != LOAD_OK) {
        fuzz_require(graph == NULL, "a refused model left a graph");
        fuzz_require_message(err, SOURCE);
        return -1;
    }
    ModelMetadata metadata;
    int result = 0;
    if (model_metadata_read(graph, &metadata, err, err_len) != 0) {
        fuzz_require_message(err, SOURCE);
        result = -1;
    }
    Plan *plan = NULL;
    if (result == 0 && make_plan(ctx, graph, &plan, err, err_len) != LOAD_OK) {
        fuzz_require(err[0] != '\0', "plan refused without a message");
        result = -1;
    }
    if (plan) {
        const PlanStats *stats = &plan->stats;
        fuzz_require(stats->activation_bytes + stats->weight_bytes <= FUZZ_MEMORY_BUDGET,
                     "a plan of %zu bytes passed the limit",
                     stats->activation_bytes + stats->weight_bytes);
        if (stats->activation_bytes + stats->weight_bytes <= RUN_BYTES) run_on_zeros(plan);
        char message[256];
        fuzz_require(ctx->cpu->last_error(ctx->cpu, message, sizeof message) == 0,
                     "the CPU backend reported: %s", message);
    }
    plan_free(plan);
    onnx_graph_free(graph);
    return result;
}
