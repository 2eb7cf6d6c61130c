// sdinfer's small parts: the command line, float lists, the sdexport metadata
// keys (on the fixture model that carries them), latency percentiles, and
// TensorProto file round trips.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../infer/latency.h"
#include "../infer/model_metadata.h"
#include "../infer/onnx_tensor.h"
#include "../infer/options.h"
#include "harness.h"

static void check_float_lists(TestContext *t) {
    float v[4];
    CHECK(t, parse_float_list("0.5,1.25, -2", v, 4) == 3 && v[0] == 0.5f && v[1] == 1.25f &&
             v[2] == -2.0f, "three floats");
    CHECK(t, parse_float_list("0.2860", v, 4) == 1 && v[0] == 0.2860f, "one float");
    CHECK(t, parse_float_list("1,,2", v, 4) == -1, "empty entry refused");
    CHECK(t, parse_float_list("1,2,", v, 4) == -1, "trailing comma refused");
    CHECK(t, parse_float_list("abc", v, 4) == -1, "text refused");
    CHECK(t, parse_float_list("1,2,3,4,5", v, 4) == -1, "too many refused");
    CHECK(t, parse_float_list("nan", v, 4) == -1, "nan refused");
}

// The image list of the last parse (freed by the next one and at the end).
static const char **last_image_inputs;

static int parse(InferOptions *o, char *err, const char *args) {
    // Static: the parsed options point into these strings after parse returns.
    static char copy[512];
    free(last_image_inputs);
    snprintf(copy, sizeof copy, "sdinfer %s", args);
    char *argv[32];
    int argc = 0;
    for (char *tok = strtok(copy, " "); tok && argc < 32; tok = strtok(NULL, " ")) argv[argc++] = tok;
    int status = infer_options_parse(argc, argv, o, err, 256);
    last_image_inputs = o->image_inputs;
    return status;
}

// --images and --dataset folder: the paths after the model, and what goes with them.
static void check_image_options(TestContext *t) {
    InferOptions o;
    char err[256];
    CHECK(t, parse(&o, err, "m.onnx --images a.jpg b.png dir") == 0 && o.n_image_inputs == 3 &&
                 strcmp(o.image_inputs[0], "a.jpg") == 0 && strcmp(o.image_inputs[2], "dir") == 0 &&
                 strcmp(o.model_path, "m.onnx") == 0 && o.top_k == 5 && infer_options_images(&o),
          "--images and two more paths: %s", err);
    CHECK(t, parse(&o, err, "--images=a.jpg --top-k 2 m.onnx b.jpg") == 0 &&
                 o.n_image_inputs == 2 && strcmp(o.image_inputs[1], "b.jpg") == 0 && o.top_k == 2,
          "--images=PATH, model after it: %s", err);
    CHECK(t, parse(&o, err, "m.onnx --top-k 3") == -1 &&
                 strcmp(err, "--top-k goes with --images or --dataset folder") == 0,
          "--top-k alone refused: %s", err);
    CHECK(t, parse(&o, err, "m.onnx --images a.jpg --top-k 1001") == -1 &&
                 strcmp(err, "--top-k: '1001' is not an integer from 1 to 1000") == 0,
          "--top-k out of range: %s", err);
    CHECK(t, parse(&o, err, "m.onnx --images a.jpg --bench 3") == -1 &&
                 strcmp(err, "--bench does not apply to image files (the model's metadata gives "
                             "their preprocessing)") == 0,
          "--bench with --images refused: %s", err);
    CHECK(t, parse(&o, err, "m.onnx --dataset folder") == -1 &&
                 strcmp(err, "--dataset folder needs --data DIR (and no --images)") == 0,
          "--dataset folder without --data refused: %s", err);
    CHECK(t, parse(&o, err, "m.onnx --dataset folder --data d") == 0 && o.n_image_inputs == 0 &&
                 infer_options_images(&o) && o.top_k == 5,
          "--dataset folder --data: %s", err);
    CHECK(t, parse(&o, err, "m.onnx other.onnx") == -1 && strstr(err, "more than one model"),
          "a second path without --images is a second model: %s", err);
}

static void check_options(TestContext *t) {
    InferOptions o;
    char err[256];
    CHECK(t, parse(&o, err, "m.onnx --dataset cifar10 --batch-size 64 --bench 5 --mean 0.1,0.2,0.3 "
                            "--std 1,2,3 --device cuda --precision fp16") == 0, "%s", err);
    CHECK(t, o.batch_size == 64 && o.bench_batches == 5 && o.n_mean == 3 && o.std[2] == 3.0f &&
             strcmp(o.device, "cuda") == 0 && strcmp(o.precision, "fp16") == 0 &&
             strcmp(o.model_path, "m.onnx") == 0, "values parsed");
    CHECK(t, parse(&o, err, "m.onnx --batch-size 0") == -1 && strstr(err, "--batch-size"),
          "batch 0 refused: %s", err);
    CHECK(t, parse(&o, err, "m.onnx --mean 0.5") == -1, "--mean without --std refused");
    CHECK(t, parse(&o, err, "m.onnx --mean 0.5 --std 0") == -1, "zero std refused");
    CHECK(t, parse(&o, err, "m.onnx --input-tensor x.pb") == -1, "input without output refused");
    CHECK(t, parse(&o, err, "m.onnx --frobnicate 1") == -1 && strstr(err, "--frobnicate"),
          "unknown option named: %s", err);
    CHECK(t, parse(&o, err, "--dataset mnist") == -1 && strstr(err, "no model"), "no model: %s",
          err);
    CHECK(t, parse(&o, err, "m.onnx --help") == 1, "--help");
    CHECK(t, parse(&o, err, "m.onnx --profile") == -1 && strstr(err, "--bench"),
          "--profile without --bench refused: %s", err);
    CHECK(t, parse(&o, err, "m.onnx --bench 3 --profile --verbose") == 0 && o.profile && o.verbose,
          "--profile and --verbose set");
    // getopt_long: --opt=value, the model after the options, errors naming the option.
    CHECK(t, parse(&o, err, "--batch-size=64 --threads 1 m.onnx") == 0 && o.batch_size == 64 &&
             o.threads == 1 && strcmp(o.model_path, "m.onnx") == 0, "--opt=value: %s", err);
    CHECK(t, parse(&o, err, "m.onnx --bench") == -1 && strcmp(err, "--bench needs a value") == 0,
          "missing value: %s", err);
    CHECK(t, parse(&o, err, "m.onnx --limit=-1") == -1 &&
             strcmp(err, "--limit: '-1' is not an integer from 1 to 1073741824") == 0,
          "bad value named: %s", err);
    CHECK(t, parse(&o, err, "m.onnx --std 1,-1 --mean 0,0") == -1 && strstr(err, "--std"),
          "negative std named: %s", err);
    CHECK(t, parse(&o, err, "a.onnx b.onnx") == -1 && strstr(err, "more than one model"),
          "two models: %s", err);
    CHECK(t, parse(&o, err, "-h") == INFER_OPTIONS_HELP, "-h");
    CHECK(t, parse(&o, err, "--version") == INFER_OPTIONS_VERSION, "--version");
}

static void check_metadata(TestContext *t) {
    char err[512];
    OnnxGraph *graph = NULL;
    ModelMetadata m;
    CHECK(t, onnx_graph_load_file("tests/fixtures/fmnist_resnet.onnx", &graph, err, sizeof err) ==
             LOAD_OK, "%s", err);
    if (!graph) return;
    CHECK(t, model_metadata_read(graph, &m, err, sizeof err) == 0, "%s", err);
    // The values tools/make_torch_fixture.py wrote.
    CHECK(t, strcmp(m.dataset, "fashion-mnist") == 0 && m.classes == 10 &&
             m.with_preprocessing == 0 && m.has_normalization &&
             m.normalization.channels == 1 && m.normalization.mean[0] == 0.2860f &&
             m.normalization.std[0] == 0.3530f, "metadata values");
    // A malformed value is refused, naming the key.
    for (int i = 0; i < graph->n_metadata; i++)
        if (strcmp(graph->metadata_keys[i], "norm_std") == 0) graph->metadata_values[i][0] = 'x';
    CHECK(t, model_metadata_read(graph, &m, err, sizeof err) == -1 && strstr(err, "norm_std"),
          "malformed norm_std: %s", err);
    onnx_graph_free(graph);
    CHECK(t, onnx_graph_load_file("tests/fixtures/tiny_resnet.onnx", &graph, err, sizeof err) ==
             LOAD_OK, "%s", err);
    if (!graph) return;
    CHECK(t, model_metadata_read(graph, &m, err, sizeof err) == 0 && !m.has_normalization &&
             m.with_preprocessing == -1 && m.classes == 0 && m.dataset[0] == 0,
          "a model without metadata");
    onnx_graph_free(graph);
}

static void check_percentiles(TestContext *t) {
    double samples[5] = {5, 1, 4, 2, 3};
    CHECK(t, latency_percentile(samples, 5, 0.5) == 3, "p50 of 1..5 is 3");
    CHECK(t, latency_percentile(samples, 5, 0.99) == 5, "p99 of 1..5 is 5");
    CHECK(t, latency_percentile(samples, 5, 0.2) == 1, "p20 of 1..5 is 1");
    double hundred[100];
    for (int i = 0; i < 100; i++) hundred[i] = 100 - i;  // 100..1
    CHECK(t, latency_percentile(hundred, 100, 0.99) == 99, "p99 of 1..100 is 99");
    CHECK(t, latency_percentile(hundred, 0, 0.5) == 0, "no samples");
}

static void check_tensor_files(TestContext *t) {
    char err[512];
    TensorShape shape = {.rank = 3, .dims = {2, 1, 3}};
    HostTensor *tensor = host_tensor_create(ONNX_DTYPE_FLOAT, &shape);
    for (size_t i = 0; i < tensor->count; i++) tensor->floats[i] = (real)i * 0.5f - 1;
    char path[64];
    snprintf(path, sizeof path, "/tmp/sdinfer_test_tensor_%d.pb", (int)getpid());
    CHECK(t, onnx_tensor_write_file(path, tensor, "x", err, sizeof err) == 0, "%s", err);
    HostTensor *back = NULL;
    CHECK(t, onnx_tensor_read_file(path, &back, err, sizeof err) == LOAD_OK, "%s", err);
    CHECK(t, back && shape_equal(&back->shape, &shape) &&
             memcmp(back->floats, tensor->floats, 6 * sizeof(real)) == 0, "round trip");
    remove(path);
    host_tensor_free(tensor);
    host_tensor_free(back);
}

int main(void) {
    TestContext t = {"test_onnx_options", 0, 0, 0};
    check_float_lists(&t);
    check_options(&t);
    check_image_options(&t);
    check_metadata(&t);
    check_percentiles(&t);
    check_tensor_files(&t);
    free(last_image_inputs);
    return test_finish(&t);
}
