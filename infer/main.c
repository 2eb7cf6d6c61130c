// sdinfer: runs an ONNX model (ResNets as sdexport or PyTorch write them) on
// the CPU or CUDA backend; evaluates a test split, benchmarks one batch, or
// runs one tensor file. See infer/options.c for the command line.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/dataset.h"
#include "../common/version.h"
#include "evaluate.h"
#include "images.h"
#include "model_metadata.h"
#include "onnx_graph.h"
#include "onnx_tensor.h"
#include "options.h"
#include "plan.h"
#include "sdinfer_internal.h"

#define DEFAULT_DYNAMIC_BATCH 128

enum { EXIT_RUNTIME = 1, EXIT_REFUSED = 2 };

typedef struct {
    InferOptions options;
    sdinfer_model *model;      // loaded and run through libsdinfer (sdinfer.h) ...
    sdinfer_context *context;
    OnnxGraph *graph;          // ... these borrow from them, for the reports
    ModelMetadata metadata;
    Backend *be;
    Plan *plan;
    Dataset dataset;
    int has_dataset;
    char err[2048];
} Session;

static int fail(Session *s, int code) {
    fprintf(stderr, "sdinfer: %s\n", s->err);
    return code;
}

static int batch_is_dynamic(const OnnxGraph *graph) {
    for (int i = 0; i < graph->n_inputs; i++) {
        const GraphValue *v = &graph->values[graph->inputs[i]];
        if (v->declared_rank >= 1 && v->declared_dims[0] < 0) return 1;
    }
    return 0;
}

static int make_plan(Session *s, int batch_size, int append_softmax) {
    sdinfer_context_options context_options = {.batch_size = batch_size,
                                                .softmax = append_softmax};
    if (sdinfer_context_create(s->model, &context_options, &s->context, s->err, sizeof s->err) !=
        SDINFER_OK)
        return fail(s, EXIT_REFUSED);
    s->be = s->context->be;
    s->plan = s->context->plan;
    const PlanStats *st = &s->plan->stats;
    const double mib = 1024.0 * 1024.0;
    printf("model: %s (producer '%s', opset %d): %d nodes -> %d steps (%d BatchNormalization "
           "folded, %d Add, %d ReLU, %d Clip fused, %d Sigmoid+Mul as SiLU, "
           "%d HardSigmoid+Mul as HardSwish, %d views, %d activations channels-last)\n",
           s->options.model_path, s->graph->producer_name, s->graph->opset, st->graph_nodes,
           st->steps, st->folded_batchnorms, st->fused_adds, st->fused_relus, st->fused_clips,
           st->fused_silus, st->fused_hard_swishes, st->views, st->channels_last);
    char device[256];
    s->be->describe(s->be, device, sizeof device);
    printf("device: %s; precision %s, batch %d\n", device,
           s->options.precision ? s->options.precision : "fp32", s->plan->batch_size);
    printf("batch: %s\n", s->context->lanes_note);
    printf("memory: activations %.3f MiB peak (%.3f MiB without reuse), weights %.3f MiB, "
           "total %.3f MiB\n",
           st->activation_bytes / mib, st->activation_naive_bytes / mib, st->weight_bytes / mib,
           (st->activation_bytes + st->weight_bytes) / mib);
    if (s->options.verbose) plan_describe(s->plan, NULL, stdout);
    return 0;
}

// --input-tensor X.pb --output-tensor Y.pb: one run, output 0 written as a TensorProto.
static int run_tensor_file(Session *s) {
    HostTensor *input = NULL;
    LoadStatus status = onnx_tensor_read_file(s->options.input_tensor, &input, s->err, sizeof s->err);
    if (status != LOAD_OK) return fail(s, EXIT_REFUSED);
    int code = 0;
    if (input->dtype != ONNX_DTYPE_FLOAT || input->shape.rank < 1) {
        snprintf(s->err, sizeof s->err, "%s: needs a float tensor with a batch axis",
                 s->options.input_tensor);
        code = fail(s, EXIT_REFUSED);
    }
    if (!code) code = make_plan(s, (int)input->shape.dims[0], 0);
    const PlanTensor *in = code ? NULL : &s->plan->tensors[s->plan->inputs[0]];
    char a[128], b[128];
    if (!code && (s->plan->n_inputs != 1 || !shape_equal(&in->shape, &input->shape))) {
        snprintf(s->err, sizeof s->err, "%s has shape %s; the model takes one input %s",
                 s->options.input_tensor, shape_format(&input->shape, a, sizeof a),
                 shape_format(&in->shape, b, sizeof b));
        code = fail(s, EXIT_REFUSED);
    }
    HostTensor *output = NULL;
    if (!code) {
        const PlanTensor *out = &s->plan->tensors[s->plan->outputs[0]];
        output = host_tensor_create(ONNX_DTYPE_FLOAT, &out->shape);
        if (!output) {
            snprintf(s->err, sizeof s->err, "out of memory");
            code = fail(s, EXIT_RUNTIME);
        } else if (sdinfer_run(s->context, s->plan->batch_size, input->floats, in->count,
                               output->floats, out->count) != SDINFER_OK) {
            snprintf(s->err, sizeof s->err, "%s", sdinfer_context_error(s->context));
            code = fail(s, EXIT_RUNTIME);
        }
    }
    if (!code) {
        const char *name = s->graph->values[s->plan->outputs[0]].name;
        if (onnx_tensor_write_file(s->options.output_tensor, output, name, s->err,
                                   sizeof s->err) != 0)
            code = fail(s, EXIT_RUNTIME);
        else
            printf("wrote %s %s\n", s->options.output_tensor,
                   shape_format(&output->shape, a, sizeof a));
    }
    host_tensor_free(input);
    host_tensor_free(output);
    return code;
}

static int load_dataset(Session *s, const char *name) {
    int kind = dataset_kind_from_name(name);
    if (kind < 0) {
        snprintf(s->err, sizeof s->err, "unknown data set '%s'", name);
        return fail(s, EXIT_REFUSED);
    }
    const char *dir = s->options.data_dir ? s->options.data_dir : dataset_default_dir(kind);
    if (!dir) {
        snprintf(s->err, sizeof s->err, "%s has no standard directory: give --data DIR", name);
        return fail(s, EXIT_REFUSED);
    }
    if (dataset_load(kind, dir, SPLIT_TEST, &s->dataset, s->err, sizeof s->err) != 0)
        return fail(s, EXIT_RUNTIME);
    s->has_dataset = 1;
    if (s->metadata.classes && s->metadata.classes != s->dataset.classes) {
        snprintf(s->err, sizeof s->err, "the model was exported for %d classes, %s has %d",
                 s->metadata.classes, name, s->dataset.classes);
        return fail(s, EXIT_REFUSED);
    }
    return 0;
}

// How pixels become model inputs: the graph's own preprocessing (pixel/255 in),
// the metadata's mean/std, the command line's, or plain pixel/255 with a warning.
static int choose_normalization(Session *s, Normalization *norm) {
    int channels = s->dataset.channels;
    const InferOptions *o = &s->options;
    *norm = (Normalization){.channels = channels};
    for (int c = 0; c < channels; c++) norm->std[c] = 1;
    const char *source;
    if (o->has_mean) {
        if (o->n_mean != channels) {
            snprintf(s->err, sizeof s->err, "--mean/--std give %d values for %d channels",
                     o->n_mean, channels);
            return fail(s, EXIT_REFUSED);
        }
        memcpy(norm->mean, o->mean, sizeof o->mean);
        memcpy(norm->std, o->std, sizeof o->std);
        source = "--mean/--std";
    } else if (s->metadata.with_preprocessing == 1) {
        source = "none: the model normalises pixel/255 itself";
    } else if (s->metadata.has_normalization) {
        if (s->metadata.normalization.channels != channels) {
            snprintf(s->err, sizeof s->err, "the model's norm_mean/norm_std have %d values for "
                     "%d channels", s->metadata.normalization.channels, channels);
            return fail(s, EXIT_REFUSED);
        }
        *norm = s->metadata.normalization;
        source = "the model's metadata";
    } else {
        fprintf(stderr, "sdinfer: warning: the model carries no normalisation (norm_mean/"
                "norm_std) and none was given: feeding pixel/255\n");
        source = "pixel/255 (no mean/std known)";
    }
    printf("normalisation: %s; mean", source);
    for (int c = 0; c < channels; c++) printf(" %.4f", norm->mean[c]);
    printf(", std");
    for (int c = 0; c < channels; c++) printf(" %.4f", norm->std[c]);
    printf("\n");
    return 0;
}

// --profile: each step's mean time over the --bench runs (synchronising after every step).
static int print_profile(Session *s, const real *batch) {
    double *seconds = calloc((size_t)s->plan->n_steps + 1, sizeof(double));
    if (!seconds) {
        snprintf(s->err, sizeof s->err, "out of memory");
        return fail(s, EXIT_RUNTIME);
    }
    for (int i = 0; i < s->options.bench_batches; i++) {
        plan_upload_input(s->plan, 0, batch);
        plan_run_profiled(s->plan, seconds);
    }
    for (int step = 0; step < s->plan->n_steps; step++) seconds[step] /= s->options.bench_batches;
    printf("profile: mean time per step over %d runs\n", s->options.bench_batches);
    plan_describe(s->plan, seconds, stdout);
    free(seconds);
    return 0;
}

static int run_bench(Session *s, const Normalization *norm) {
    const PlanTensor *in = &s->plan->tensors[s->plan->inputs[0]];
    real *batch = calloc(in->count, sizeof(real));  // zeros when there is no data set
    int32_t *labels = calloc((size_t)s->plan->batch_size, sizeof(int32_t));
    uint32_t *indices = calloc((size_t)s->plan->batch_size, sizeof(uint32_t));
    int code = 0;
    if (!batch || !labels || !indices) {
        snprintf(s->err, sizeof s->err, "out of memory");
        code = fail(s, EXIT_RUNTIME);
    }
    if (!code && s->has_dataset) {  // shapes were checked against the data set already
        int count = s->plan->batch_size < s->dataset.count ? s->plan->batch_size : s->dataset.count;
        for (int i = 0; i < count; i++) indices[i] = (uint32_t)i;
        dataset_make_batch(&s->dataset, indices, count, norm, 0, NULL, (float *)batch, labels);
    }
    BenchReport report;
    if (!code && bench_context(s->context, batch, s->options.warmup_batches, s->options.bench_batches,
                            &report, s->err, sizeof s->err) != 0)
        code = fail(s, EXIT_RUNTIME);
    if (!code) {
        printf("bench: %d batches of %d (%s), after %d warm-up: %.1f images/s; latency per batch "
               "p50 %.3f ms, p99 %.3f ms, mean %.3f ms\n",
               report.batches, report.batch_size, s->has_dataset ? "first test batch" : "zeros",
               s->options.warmup_batches, report.images_per_second, 1e3 * report.latency_p50,
               1e3 * report.latency_p99, 1e3 * report.mean_seconds);
        // The same as "key: value" lines for scripts (bench/run.sh, the onnxruntime peer's format).
        printf("images/s: %.1f\nlatency p50 ms: %.3f\nlatency p99 ms: %.3f\n",
               report.images_per_second, 1e3 * report.latency_p50, 1e3 * report.latency_p99);
    }
    if (!code && s->options.profile) code = print_profile(s, batch);
    free(batch);
    free(labels);
    free(indices);
    return code;
}

static int run_dataset(Session *s) {
    const char *name = s->options.dataset ? s->options.dataset
                       : s->metadata.dataset[0] ? s->metadata.dataset
                                                : NULL;
    if (!name && !s->options.bench_batches) {
        snprintf(s->err, sizeof s->err, "no data set: give --dataset NAME (the model has no "
                 "'dataset' metadata), --bench N or --input-tensor");
        return fail(s, EXIT_REFUSED);
    }
    int code = name ? load_dataset(s, name) : 0;
    Normalization norm = {0};
    if (!code && s->has_dataset) code = choose_normalization(s, &norm);
    int batch = s->options.batch_size;
    if (!code && batch == 0 && batch_is_dynamic(s->graph)) batch = DEFAULT_DYNAMIC_BATCH;
    if (!code) code = make_plan(s, batch, 1);
    if (code) return code;
    if (s->has_dataset && evaluate_check_shapes(s->plan, &s->dataset, s->err, sizeof s->err) != 0)
        return fail(s, EXIT_REFUSED);
    if (s->options.bench_batches) return run_bench(s, &norm);
    EvalReport r;
    if (evaluate_dataset(s->context, &s->dataset, &norm, s->options.limit,
                         s->options.predictions_path, &r, s->err, sizeof s->err) != 0)
        return fail(s, EXIT_RUNTIME);
    printf("%s test: %d images, top-1 error %.2f%% (%d wrong)", name, r.images,
           100.0 * r.top1_errors / r.images, r.top1_errors);
    if (r.classes > 10) printf(", top-5 error %.2f%% (%d)", 100.0 * r.top5_errors / r.images,
                               r.top5_errors);
    printf("\nthroughput: %.1f images/s (upload + run + download), %.1f images/s wall (with batch "
           "preparation)\n", r.images / r.model_seconds, r.images / r.wall_seconds);
    printf("latency per batch of %d: p50 %.3f ms, p99 %.3f ms (%d batches)\n",
           s->plan->batch_size, 1e3 * r.latency_p50, 1e3 * r.latency_p99, r.batches);
    if (s->options.predictions_path) printf("predictions: %s\n", s->options.predictions_path);
    return 0;
}

// The model through libsdinfer: checked, with its device and precision proven.
static int load_model(Session *s) {
    sdinfer_load_options load_options;
    sdinfer_load_options_init(&load_options);
    load_options.threads = s->options.threads;
    load_options.precision = s->options.precision;
    if (strcmp(s->options.device, "cuda") == 0) {
        load_options.device = SDINFER_DEVICE_CUDA;
    } else if (strcmp(s->options.device, "cpu") != 0) {
        snprintf(s->err, sizeof s->err, "unknown device '%s' (expected cpu or cuda)",
                 s->options.device);
        return fail(s, EXIT_REFUSED);
    }
    if (sdinfer_model_load_file(s->options.model_path, &load_options, &s->model, s->err,
                                sizeof s->err) != SDINFER_OK)
        return fail(s, EXIT_REFUSED);
    s->graph = s->model->graph;
    s->metadata = s->model->metadata;
    return 0;
}

static int run(Session *s) {
    if (load_model(s) != 0) return EXIT_REFUSED;
    int code = s->options.input_tensor ? run_tensor_file(s) : run_dataset(s);
    // A failed device call (launch, allocation) would otherwise hide behind
    // plausible-looking numbers.
    if (code == 0 && s->be && s->be->last_error(s->be, s->err, sizeof s->err) != 0)
        code = fail(s, EXIT_RUNTIME);
    return code;
}

int main(int argc, char **argv) {
    Session *s = calloc(1, sizeof *s);
    if (!s) return EXIT_RUNTIME;
    int parsed = infer_options_parse(argc, argv, &s->options, s->err, sizeof s->err);
    if (parsed == INFER_OPTIONS_HELP || parsed == INFER_OPTIONS_VERSION) {
        if (parsed == INFER_OPTIONS_HELP) infer_options_usage(stdout);
        else printf("sdinfer %s\n", SD_VERSION);
        infer_options_free(&s->options);
        free(s);
        return 0;
    }
    int code;
    if (parsed != 0) {
        code = fail(s, EXIT_REFUSED);
        infer_options_usage(stderr);
    } else if (infer_options_images(&s->options)) {
        code = images_main(&s->options);  // image files: infer/images.c
    } else {
        code = run(s);
    }
    infer_options_free(&s->options);
    sdinfer_context_free(s->context);
    if (s->has_dataset) dataset_free(&s->dataset);
    sdinfer_model_free(s->model);
    free(s);
    return code;
}
