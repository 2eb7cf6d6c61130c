// libsdinfer's C API (infer/sdinfer.h): results against PyTorch's logits, and
// misuse: NULL and foreign handles, wrong sizes, models that fail to load,
// options out of range; every case an error code and a message, never a crash.
// Then two threads on two contexts of one model, bit for bit against one thread.
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../infer/file_util.h"
#include "../infer/onnx_tensor.h"
#include "../infer/sdinfer.h"
#include "../infer/sdinfer_internal.h"
#include "harness.h"
#include "test_tensors.h"

#define FIXTURES "tests/fixtures/"
#define TINY FIXTURES "tiny_resnet.onnx"
#define FMNIST FIXTURES "fmnist_resnet.onnx"
#define FIXED_BATCH_1 "tests/corpus/onnx/ok_conv_relu.onnx"
#define TOLERANCE 1e-4
#define THREAD_RUNS 8

static int contains(const char *text, const char *part) { return text && strstr(text, part); }

static void test_status_and_version(TestContext *t) {
    CHECK(t, strcmp(sdinfer_version(), "1.0.0") == 0, "version '%s'", sdinfer_version());
    const sdinfer_status all[] = {SDINFER_OK, SDINFER_ERR_ARGUMENT, SDINFER_ERR_IO,
                                  SDINFER_ERR_INVALID, SDINFER_ERR_UNSUPPORTED,
                                  SDINFER_ERR_DEVICE, SDINFER_ERR_SIZE, SDINFER_ERR_NO_MEMORY,
                                  SDINFER_ERR_NOT_FOUND};
    int n = (int)(sizeof all / sizeof all[0]);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            CHECK(t, strcmp(sdinfer_status_string(all[i]), sdinfer_status_string(all[j])) != 0,
                  "statuses %d and %d have the same name", all[i], all[j]);
    CHECK(t, strcmp(sdinfer_status_string((sdinfer_status)42), "unknown status") == 0,
          "an unknown code has a name too");
}

static void expect_load_failure(TestContext *t, const char *path, const sdinfer_load_options *o,
                                sdinfer_status want, const char *message) {
    sdinfer_model *model = (sdinfer_model *)&model;  // must come back NULL
    char err[512] = "";
    sdinfer_status got = sdinfer_model_load_file(path, o, &model, err, sizeof err);
    CHECK(t, got == want && model == NULL && contains(err, message),
          "load %s: status %d (want %d), model %p, message '%s' (want '%s')", path ? path : "NULL",
          got, want, (void *)model, err, message);
}

static void test_load_failures(TestContext *t) {
    expect_load_failure(t, "tests/fixtures/no_such_model.onnx", NULL, SDINFER_ERR_IO,
                        "no_such_model.onnx");
    expect_load_failure(t, "tests/corpus/onnx/err_not_protobuf.onnx", NULL, SDINFER_ERR_INVALID,
                        "not a valid ONNX model");
    expect_load_failure(t, "tests/corpus/onnx/err_truncated.onnx", NULL, SDINFER_ERR_INVALID,
                        "err_truncated.onnx");
    expect_load_failure(t, NULL, NULL, SDINFER_ERR_ARGUMENT, "path is NULL");
    sdinfer_load_options o;
    sdinfer_load_options_init(&o);
    o.threads = -1;
    expect_load_failure(t, TINY, &o, SDINFER_ERR_ARGUMENT, "threads = -1");
    sdinfer_load_options_init(&o);
    o.device = (sdinfer_device)7;
    expect_load_failure(t, TINY, &o, SDINFER_ERR_ARGUMENT, "unknown device 7");
    sdinfer_load_options_init(&o);
    o.precision = "fp16";
    expect_load_failure(t, TINY, &o, SDINFER_ERR_UNSUPPORTED, "does not offer precision 'fp16'");
    if (!sdinfer_has_cuda()) {
        sdinfer_load_options_init(&o);
        o.device = SDINFER_DEVICE_CUDA;
        expect_load_failure(t, TINY, &o, SDINFER_ERR_DEVICE, "no CUDA backend");
    }
    sdinfer_model *model = NULL;
    CHECK(t, sdinfer_model_load_file(TINY, NULL, NULL, NULL, 0) == SDINFER_ERR_ARGUMENT,
          "NULL out-pointer, NULL message buffer");
    CHECK(t, sdinfer_model_load_buffer(NULL, 10, NULL, NULL, &model, NULL, 0) ==
                 SDINFER_ERR_ARGUMENT && !model, "NULL bytes");
    const char garbage[] = "\x08\x07 not a model";
    CHECK(t, sdinfer_model_load_buffer(garbage, sizeof garbage, "garbage", NULL, &model, NULL, 0) ==
                 SDINFER_ERR_INVALID && !model, "garbage bytes without a message buffer");
}

static void test_null_handles(TestContext *t) {
    sdinfer_tensor_info info;
    float mean[4], std[4];
    int channels;
    CHECK(t, sdinfer_model_input_count(NULL) == -1 && sdinfer_model_output_count(NULL) == -1,
          "counts of NULL");
    CHECK(t, sdinfer_model_input_info(NULL, 0, &info) == SDINFER_ERR_ARGUMENT, "input_info NULL");
    CHECK(t, sdinfer_model_output_info(NULL, 0, &info) == SDINFER_ERR_ARGUMENT, "output_info NULL");
    CHECK(t, sdinfer_model_metadata(NULL, "dataset") == NULL, "metadata of NULL");
    CHECK(t, sdinfer_model_class_count(NULL) == 0 && sdinfer_model_class_name(NULL, 0) == NULL,
          "classes of NULL");
    CHECK(t, sdinfer_model_normalization(NULL, mean, std, 4, &channels) == SDINFER_ERR_ARGUMENT,
          "normalization of NULL");
    sdinfer_context *ctx = (sdinfer_context *)&ctx;
    char err[256] = "";
    CHECK(t, sdinfer_context_create(NULL, NULL, &ctx, err, sizeof err) == SDINFER_ERR_ARGUMENT &&
                 !ctx && contains(err, "model is NULL"), "context of NULL: '%s'", err);
    float x = 0, y = 0;
    CHECK(t, sdinfer_run(NULL, 1, &x, 1, &y, 1) == SDINFER_ERR_ARGUMENT, "run NULL context");
    CHECK(t, contains(sdinfer_context_error(NULL), "NULL"), "error of NULL context");
    CHECK(t, sdinfer_context_input_size(NULL) == 0 && sdinfer_context_output_size(NULL) == 0,
          "sizes of NULL");
    sdinfer_context_free(NULL);
    sdinfer_model_free(NULL);
    CHECK(t, sdinfer_top_k(NULL, 3, 1, (int[1]){0}, NULL) == SDINFER_ERR_ARGUMENT, "top_k NULL");
}

// A handle whose tag was cleared is what a freed one looks like while its memory is unused.
static void test_dead_handles(TestContext *t, const sdinfer_model *model) {
    sdinfer_model dead_model = *model;
    dead_model.tag = 0;
    char err[256] = "";
    sdinfer_context *ctx = NULL;
    CHECK(t, sdinfer_context_create(&dead_model, NULL, &ctx, err, sizeof err) ==
                 SDINFER_ERR_ARGUMENT && contains(err, "freed?"), "dead model: '%s'", err);
    CHECK(t, sdinfer_model_input_count(&dead_model) == -1, "dead model's input count");
    sdinfer_context dead_context = {.tag = 0};
    float x = 0, y = 0;
    CHECK(t, sdinfer_run(&dead_context, 1, &x, 1, &y, 1) == SDINFER_ERR_ARGUMENT, "dead context");
    CHECK(t, contains(sdinfer_context_error(&dead_context), "freed?"), "dead context's error");
    sdinfer_model_free(&dead_model);      // ignored: nothing of model's is freed
    sdinfer_context_free(&dead_context);  // ignored
}

static void test_queries(TestContext *t) {
    sdinfer_model *model = NULL;
    char err[512];
    if (sdinfer_model_load_file(FMNIST, NULL, &model, err, sizeof err) != SDINFER_OK) {
        CHECK(t, 0, "load %s: %s", FMNIST, err);
        return;
    }
    CHECK(t, sdinfer_model_input_count(model) == 1 && sdinfer_model_output_count(model) == 1,
          "one input, one output");
    sdinfer_tensor_info info;
    CHECK(t, sdinfer_model_input_info(model, 0, &info) == SDINFER_OK && info.rank == 4 &&
                 info.dims[0] == -1 && info.dims[1] == 1 && info.dims[2] == 28 && info.dims[3] == 28,
          "input 0 is [N,1,28,28]: rank %d", info.rank);
    CHECK(t, sdinfer_model_input_info(model, 1, &info) == SDINFER_ERR_NOT_FOUND, "no input 1");
    CHECK(t, sdinfer_model_output_info(model, -1, &info) == SDINFER_ERR_NOT_FOUND, "no output -1");
    CHECK(t, sdinfer_model_input_info(model, 0, NULL) == SDINFER_ERR_ARGUMENT, "info NULL");
    const char *dataset = sdinfer_model_metadata(model, "dataset");
    CHECK(t, dataset && strcmp(dataset, "fashion-mnist") == 0, "dataset metadata");
    CHECK(t, sdinfer_model_metadata(model, "no such key") == NULL, "absent key");
    CHECK(t, sdinfer_model_class_count(model) == 10, "10 classes");
    CHECK(t, sdinfer_model_class_name(model, 0) == NULL, "no class names in this model");
    float mean[4], std[4];
    int channels = 0;
    CHECK(t, sdinfer_model_normalization(model, mean, std, 4, &channels) == SDINFER_OK &&
                 channels == 1 && mean[0] == 0.2860f && std[0] == 0.3530f,
          "normalisation 0.2860/0.3530 (the file's norm_mean/norm_std): %d", channels);
    test_dead_handles(t, model);
    sdinfer_model_free(model);
    if (sdinfer_model_load_file(TINY, NULL, &model, err, sizeof err) == SDINFER_OK) {
        CHECK(t, sdinfer_model_normalization(model, mean, std, 4, &channels) ==
                     SDINFER_ERR_NOT_FOUND, "PyTorch's export carries no normalisation");
        CHECK(t, sdinfer_model_class_count(model) == 0, "nor a class count");
        sdinfer_model_free(model);
    }
}

// tiny_resnet.onnx with metadata keys/values added, packed into a malloc'd buffer.
static uint8_t *model_with_metadata(const char *const *pairs, int n_pairs, size_t *size) {
    uint8_t *data = NULL;
    char err[256];
    if (file_read_bounded(TINY, SD_MAX_MODEL_BYTES, &data, size, err, sizeof err) != 0) return NULL;
    Onnx__ModelProto *proto = onnx__model_proto__unpack(NULL, *size, data);
    free(data);
    if (!proto) return NULL;
    Onnx__StringStringEntryProto entries[4], *list[4];
    for (int i = 0; i < n_pairs && i < 4; i++) {
        onnx__string_string_entry_proto__init(&entries[i]);
        entries[i].key = (char *)pairs[2 * i];
        entries[i].value = (char *)pairs[2 * i + 1];
        list[i] = &entries[i];
    }
    size_t kept_n = proto->n_metadata_props;
    Onnx__StringStringEntryProto **kept = proto->metadata_props;
    proto->n_metadata_props = (size_t)n_pairs;
    proto->metadata_props = list;
    *size = onnx__model_proto__get_packed_size(proto);
    data = malloc(*size);
    if (data) onnx__model_proto__pack(proto, data);
    proto->n_metadata_props = kept_n;  // the unpacked message frees only what it allocated
    proto->metadata_props = kept;
    onnx__model_proto__free_unpacked(proto, NULL);
    return data;
}

static void test_class_names(TestContext *t) {
    const char *good[] = {"classes", "3", "class_names", "[\"cat\",\"dog, grey\",\"bird\"]"};
    const char *short_list[] = {"classes", "3", "class_names", "[\"cat\",\"dog\"]"};
    const char *empty_name[] = {"class_names", "[\"cat\",\"\",\"bird\"]"};
    size_t size;
    uint8_t *data = model_with_metadata(good, 2, &size);
    sdinfer_model *model = NULL;
    char err[512] = "";
    sdinfer_status s = data ? sdinfer_model_load_buffer(data, size, "named", NULL, &model, err,
                                                        sizeof err)
                            : SDINFER_ERR_NO_MEMORY;
    CHECK(t, s == SDINFER_OK && sdinfer_model_class_count(model) == 3 &&
                 strcmp(sdinfer_model_class_name(model, 1), "dog, grey") == 0 &&
                 strcmp(sdinfer_model_class_name(model, 2), "bird") == 0 &&
                 sdinfer_model_class_name(model, 3) == NULL,
          "class names from metadata: %d '%s'", s, err);
    sdinfer_model_free(model);
    free(data);
    data = model_with_metadata(short_list, 2, &size);
    s = data ? sdinfer_model_load_buffer(data, size, "short", NULL, &model, err, sizeof err)
             : SDINFER_ERR_NO_MEMORY;
    CHECK(t, s == SDINFER_ERR_INVALID && !model && contains(err, "short: class_names is not a JSON array "
          "of 3 strings (2 entries)"), "2 names for 3 classes: %d '%s'", s, err);
    free(data);
    data = model_with_metadata(empty_name, 1, &size);
    s = data ? sdinfer_model_load_buffer(data, size, "empty", NULL, &model, err, sizeof err)
             : SDINFER_ERR_NO_MEMORY;
    CHECK(t, s == SDINFER_ERR_INVALID && !model && contains(err, "empty: class_names entry 1 is not a name"),
          "an empty name: %d '%s'", s, err);
    free(data);
}

static void test_top_k(TestContext *t) {
    const float scores[] = {1, 3, 3, NAN, 2};
    int indices[5] = {-1, -1, -1, -1, -1};
    float values[5];
    CHECK(t, sdinfer_top_k(scores, 5, 3, indices, values) == SDINFER_OK && indices[0] == 1 &&
                 indices[1] == 2 && indices[2] == 4 && values[0] == 3 && values[2] == 2 &&
                 indices[3] == -1, "top 3 of {1,3,3,NaN,2}: %d %d %d", indices[0], indices[1],
          indices[2]);
    CHECK(t, sdinfer_top_k(scores, 5, 10, indices, NULL) == SDINFER_OK && indices[3] == 0 &&
                 indices[4] == 3, "k > count: all five, NaN last: %d %d", indices[3], indices[4]);
    CHECK(t, sdinfer_top_k(scores, 5, -1, indices, NULL) == SDINFER_ERR_ARGUMENT, "k = -1");
    CHECK(t, sdinfer_top_k(scores, 5, 0, indices, NULL) == SDINFER_OK, "k = 0");
}

static void check_logits(TestContext *t, const float *got, const HostTensor *want, size_t count,
                         const char *what) {
    double worst = 0;
    for (size_t i = 0; i < count; i++) worst = fmax(worst, fabs(got[i] - want->floats[i]));
    CHECK(t, worst <= TOLERANCE, "%s: max |difference| to PyTorch %.3g", what, worst);
}

static void test_run_misuse(TestContext *t, sdinfer_context *ctx, const HostTensor *x) {
    int batch = (int)x->shape.dims[0];
    size_t in = (size_t)batch * sdinfer_context_input_size(ctx);
    size_t out = (size_t)batch * sdinfer_context_output_size(ctx);
    float *y = calloc(out, sizeof *y);
    sdinfer_status s = sdinfer_run(ctx, batch, x->floats, in - 1, y, out);
    CHECK(t, s == SDINFER_ERR_SIZE && contains(sdinfer_context_error(ctx), "input has"),
          "short input: %d '%s'", s, sdinfer_context_error(ctx));
    s = sdinfer_run(ctx, batch, x->floats, in, y, out - 1);
    CHECK(t, s == SDINFER_ERR_SIZE && contains(sdinfer_context_error(ctx), "output has room"),
          "short output: %d '%s'", s, sdinfer_context_error(ctx));
    s = sdinfer_run(ctx, batch, NULL, in, y, out);
    CHECK(t, s == SDINFER_ERR_ARGUMENT && contains(sdinfer_context_error(ctx), "input is NULL"),
          "NULL input: '%s'", sdinfer_context_error(ctx));
    s = sdinfer_run(ctx, 0, x->floats, in, y, out);
    CHECK(t, s == SDINFER_ERR_SIZE && contains(sdinfer_context_error(ctx), "batch 0"),
          "batch 0: '%s'", sdinfer_context_error(ctx));
    free(y);
}

// Two rows run as a batch of 2 (a re-plan) give the batch's first two rows.
static void test_replan(TestContext *t, sdinfer_context *ctx, const HostTensor *x,
                        const float *full) {
    size_t in = sdinfer_context_input_size(ctx), out = sdinfer_context_output_size(ctx);
    float y[64];
    if (out * 2 > 64) return;
    sdinfer_status s = sdinfer_run(ctx, 2, x->floats, 2 * in, y, 2 * out);
    double worst = 0;
    for (size_t i = 0; s == SDINFER_OK && i < 2 * out; i++) worst = fmax(worst, fabs(y[i] - full[i]));
    CHECK(t, s == SDINFER_OK && worst <= 1e-5, "batch 2 after batch %d: %d, |diff| %.3g",
          (int)x->shape.dims[0], s, worst);
}

static void test_softmax(TestContext *t, const sdinfer_model *model, const HostTensor *x,
                         const float *logits) {
    sdinfer_context_options o = {.batch_size = 0, .softmax = 1};
    sdinfer_context *ctx = NULL;
    char err[512];
    if (sdinfer_context_create(model, &o, &ctx, err, sizeof err) != SDINFER_OK) {
        CHECK(t, 0, "softmax context: %s", err);
        return;
    }
    size_t classes = sdinfer_context_output_size(ctx);
    float p[64];
    int ok = classes <= 64 &&
             sdinfer_run(ctx, 1, x->floats, sdinfer_context_input_size(ctx), p, 64) == SDINFER_OK;
    double sum = 0, max_logit = -INFINITY, worst = 0;
    for (size_t i = 0; ok && i < classes; i++) max_logit = fmax(max_logit, logits[i]);
    for (size_t i = 0; ok && i < classes; i++) sum += exp(logits[i] - max_logit);
    for (size_t i = 0; ok && i < classes; i++)
        worst = fmax(worst, fabs(p[i] - exp(logits[i] - max_logit) / sum));
    CHECK(t, ok && worst < 1e-6, "softmax of the logits: |diff| %.3g", worst);
    sdinfer_context_free(ctx);
}

static void test_fixed_batch(TestContext *t) {
    sdinfer_model *model = NULL;
    sdinfer_context *ctx = NULL;
    char err[512];
    if (sdinfer_model_load_file(FIXED_BATCH_1, NULL, &model, err, sizeof err) != SDINFER_OK ||
        sdinfer_context_create(model, NULL, &ctx, err, sizeof err) != SDINFER_OK) {
        CHECK(t, 0, "%s: %s", FIXED_BATCH_1, err);
        sdinfer_model_free(model);
        return;
    }
    size_t in = 3 * sdinfer_context_input_size(ctx), out = 3 * sdinfer_context_output_size(ctx);
    float *x = calloc(in, sizeof *x), *y = calloc(out, sizeof *y);
    sdinfer_status s = sdinfer_run(ctx, 3, x, in, y, out);
    CHECK(t, s == SDINFER_ERR_SIZE && contains(sdinfer_context_error(ctx), "fixed batch of 1"),
          "batch 3 on a fixed batch of 1: %d '%s'", s, sdinfer_context_error(ctx));
    s = sdinfer_run(ctx, 1, x, in / 3, y, out / 3);
    CHECK(t, s == SDINFER_OK && sdinfer_context_error(ctx)[0] == '\0',
          "the same context still runs its own batch: %d", s);
    free(x);
    free(y);
    sdinfer_context_free(ctx);
    sdinfer_model_free(model);
}

typedef struct {
    const sdinfer_model *model;
    const HostTensor *x;
    float *y;
    size_t out;
    sdinfer_status status;
} ThreadJob;

// Its own context, THREAD_RUNS runs; keeps the last result.
static void *thread_main(void *arg) {
    ThreadJob *job = arg;
    sdinfer_context *ctx = NULL;
    job->status = sdinfer_context_create(job->model, NULL, &ctx, NULL, 0);
    int batch = (int)job->x->shape.dims[0];
    size_t in = (size_t)shape_element_count(&job->x->shape);
    for (int i = 0; i < THREAD_RUNS && job->status == SDINFER_OK; i++)
        job->status = sdinfer_run(ctx, batch, job->x->floats, in, job->y, job->out);
    sdinfer_context_free(ctx);
    return NULL;
}

static void test_threads(TestContext *t, const sdinfer_model *model, const HostTensor *x,
                         const float *alone, size_t out) {
    ThreadJob jobs[2];
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) {
        jobs[i] = (ThreadJob){.model = model, .x = x, .y = calloc(out, sizeof(float)), .out = out};
        pthread_create(&threads[i], NULL, thread_main, &jobs[i]);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(threads[i], NULL);
        CHECK(t, jobs[i].status == SDINFER_OK &&
                     memcmp(jobs[i].y, alone, out * sizeof(float)) == 0,
              "thread %d: status %d, bit for bit as one context alone", i, jobs[i].status);
        free(jobs[i].y);
    }
}

static void test_runs(TestContext *t) {
    HostTensor *x = read_tensor(t, FIXTURES "tiny_resnet_input.pb");
    HostTensor *want = read_tensor(t, FIXTURES "tiny_resnet_logits.pb");
    sdinfer_model *model = NULL;
    sdinfer_context *ctx = NULL;
    char err[512] = "";
    sdinfer_load_options o;
    sdinfer_load_options_init(&o);
    o.threads = 2;
    if (!x || !want || sdinfer_model_load_file(TINY, &o, &model, err, sizeof err) != SDINFER_OK ||
        sdinfer_context_create(model, NULL, &ctx, err, sizeof err) != SDINFER_OK) {
        CHECK(t, 0, "set-up: %s", err);
    } else {
        int batch = (int)x->shape.dims[0];
        size_t in = (size_t)shape_element_count(&x->shape);
        size_t out = (size_t)shape_element_count(&want->shape);
        float *y = calloc(out, sizeof *y);
        sdinfer_status s = sdinfer_run(ctx, batch, x->floats, in, y, out);
        CHECK(t, s == SDINFER_OK && sdinfer_context_output_size(ctx) * batch == out,
              "run batch %d: %d '%s'", batch, s, sdinfer_context_error(ctx));
        check_logits(t, y, want, out, "tiny_resnet");
        test_run_misuse(t, ctx, x);
        test_replan(t, ctx, x, y);
        test_softmax(t, model, x, y);
        test_threads(t, model, x, y, out);
        free(y);
    }
    sdinfer_context_free(ctx);
    sdinfer_model_free(model);
    host_tensor_free(x);
    host_tensor_free(want);
}

int main(void) {
    TestContext t = {.suite = "sdinfer_api"};
    test_status_and_version(&t);
    test_load_failures(&t);
    test_null_handles(&t);
    test_queries(&t);
    test_top_k(&t);
    test_class_names(&t);
    test_fixed_batch(&t);
    test_runs(&t);
    return test_finish(&t);
}
