// sdinfer's lanes (infer/batch_lanes.h): a CPU batch run as one-thread plans for
// chunks of it, one per thread, through the public API.
//   - The corpus's ok_sem_batch_* models (a dynamic batch of 3): lanes only when every
//     step is per-sample (plan_batch_separable names the node and why not), numpy's
//     answers either way: three of them mix the samples, so lanes there would be wrong.
//   - The fixture ResNets: 1-3 threads, chunks of 1, 3, 4 and the automatic size,
//     batches with a partial last chunk: logits within 1e-4 of PyTorch's and of the
//     whole-batch plan's, softmax rows too.
//   - SDINFER_CHUNK: 0 turns lanes off; a bad value is refused with its message.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../infer/onnx_tensor.h"
#include "../infer/sdinfer.h"
#include "../infer/sdinfer_internal.h"
#include "harness.h"
#include "test_tensors.h"

#define CORPUS "tests/corpus/onnx/"
#define FIXTURES "tests/fixtures/"
#define TOLERANCE 1e-4

static void set_chunk(const char *chunk) {
    if (chunk) setenv("SDINFER_CHUNK", chunk, 1);
    else unsetenv("SDINFER_CHUNK");
}

static sdinfer_model *load(TestContext *t, const char *path, int threads) {
    sdinfer_load_options options;
    sdinfer_load_options_init(&options);
    options.threads = threads;
    sdinfer_model *model = NULL;
    char err[1024];
    sdinfer_status status = sdinfer_model_load_file(path, &options, &model, err, sizeof err);
    CHECK(t, status == SDINFER_OK, "load %s: %s", path, err);
    return model;
}

static sdinfer_context *context_for(TestContext *t, const sdinfer_model *model, int batch,
                                    int softmax, const char *chunk) {
    set_chunk(chunk);
    sdinfer_context_options options = {.batch_size = batch, .softmax = softmax};
    sdinfer_context *context = NULL;
    char err[1024];
    sdinfer_status status = sdinfer_context_create(model, &options, &context, err, sizeof err);
    CHECK(t, status == SDINFER_OK, "context (batch %d, SDINFER_CHUNK %s): %s", batch,
          chunk ? chunk : "unset", err);
    set_chunk(NULL);
    return context;
}

// |got - want| within atol + rtol |want| for every value; returns the count off.
static int count_off(const float *got, const float *want, size_t n, double rtol, double atol) {
    int off = 0;
    for (size_t i = 0; i < n; i++)
        off += !(fabs((double)got[i] - want[i]) <= atol + rtol * fabs((double)want[i]));
    return off;
}

// ---- the corpus: lanes only where the samples stay apart ---------------------------------------
typedef struct {
    const char *name;
    const char *batch_note;  // the context's lanes_note with 2 threads and chunks of 1 (a
                             // note ending in a space: how the note starts)
} CorpusCase;

static void check_corpus_case(TestContext *t, const CorpusCase *c) {
    char path[256];
    snprintf(path, sizeof path, CORPUS "%s.in.pb", c->name);
    HostTensor *input = read_tensor(t, path);
    snprintf(path, sizeof path, CORPUS "%s.out.pb", c->name);
    HostTensor *want = read_tensor(t, path);
    snprintf(path, sizeof path, CORPUS "%s.onnx", c->name);
    sdinfer_model *model = load(t, path, 2);
    const int batch = input ? (int)input->shape.dims[0] : 0;
    sdinfer_context *context = model && input ? context_for(t, model, batch, 0, "1") : NULL;
    if (context && want) {
        // Lanes: the line goes on with the memory of each lane.
        const size_t n = c->batch_note[strlen(c->batch_note) - 1] == ' ' ? strlen(c->batch_note)
                                                                         : sizeof context->lanes_note;
        CHECK(t, strncmp(context->lanes_note, c->batch_note, n) == 0,
              "%s: batch runs as '%s', not '%s'", c->name, context->lanes_note, c->batch_note);
        float *got = calloc(want->count, sizeof(float));
        sdinfer_status status = sdinfer_run(context, batch, input->floats, input->count, got,
                                            want->count);
        CHECK(t, status == SDINFER_OK, "%s: run: %s", c->name, sdinfer_context_error(context));
        int off = count_off(got, want->floats, want->count, 1e-4, 1e-5);
        CHECK(t, off == 0, "%s: %d of %zu values differ from numpy's", c->name, off, want->count);
        free(got);
    }
    sdinfer_context_free(context);
    sdinfer_model_free(model);
    host_tensor_free(input);
    host_tensor_free(want);
}

static void check_corpus(TestContext *t) {
    static const CorpusCase cases[] = {
        {"ok_sem_batch_per_sample", "2 lanes x 1 image (each: activations "},
        {"ok_sem_batch_softmax_axis0",
         "one plan (softmax0: it normalises across the batch axis)"},
        {"ok_sem_batch_reshape_merge",
         "one plan (softmax_all: it normalises across the batch axis)"},
        {"ok_sem_batch_transpose", "one plan (transpose: it moves the batch axis)"},
        {"ok_sem_batch_concat_axis0", "one plan (output 0 does not have the batch first)"},
        {"ok_sem_batch_unsqueeze_squeeze", "2 lanes x 1 image (each: activations "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_corpus_case(t, &cases[i]);
}

// ---- the fixture ResNets: lanes against PyTorch and against the whole batch -------------------
typedef struct {
    const char *model, *input, *logits;
} Fixture;

// A batch of `batch` images cycling through the fixture's.
static float *cycled(const HostTensor *tensor, int batch) {
    const int have = (int)tensor->shape.dims[0];
    const size_t per = tensor->count / (size_t)have;
    float *out = malloc((size_t)batch * per * sizeof(float));
    for (int i = 0; i < batch; i++)
        memcpy(out + (size_t)i * per, tensor->floats + (size_t)(i % have) * per, per * sizeof(float));
    return out;
}

// Runs `batch` images through a context; NULL (with a failed check) on an error.
static float *run(TestContext *t, sdinfer_context *context, int batch, const float *images,
                  size_t image_floats, size_t out_floats, const char *what) {
    float *out = calloc((size_t)batch * out_floats, sizeof(float));
    sdinfer_status status = sdinfer_run(context, batch, images, (size_t)batch * image_floats, out,
                                        (size_t)batch * out_floats);
    CHECK(t, status == SDINFER_OK, "%s: run: %s", what, sdinfer_context_error(context));
    if (status == SDINFER_OK) return out;
    free(out);
    return NULL;
}

// The largest difference between probabilities and the softmax of the logits row.
// (Plain comparisons: aarch64 gcc 12's vectoriser fails on fmax reductions here.)
static double softmax_error(const float *row, const float *probabilities, size_t classes) {
    double max = row[0], sum = 0, worst = 0;
    for (size_t c = 1; c < classes; c++)
        if (row[c] > max) max = row[c];
    for (size_t c = 0; c < classes; c++) sum += exp(row[c] - max);
    for (size_t c = 0; c < classes; c++) {
        double error = fabs(probabilities[c] - exp(row[c] - max) / sum);
        if (!(error <= worst)) worst = error;  // NaN stays
    }
    return worst;
}

// The lanes' note for this case: "N lanes x C images" whenever the batch is cut.
static int expects_lanes(int threads, int batch, const char *chunk) {
    if (chunk) return atoi(chunk) < batch;
    return threads > 1;  // the automatic chunk of these small images covers a whole batch
}

static void check_fixture_case(TestContext *t, const Fixture *f, const sdinfer_model *model,
                               int threads, int batch, const char *chunk,
                               const HostTensor *input, const HostTensor *logits) {
    char what[256];
    snprintf(what, sizeof what, "%s, %d threads, batch %d, SDINFER_CHUNK %s", f->model, threads,
             batch, chunk ? chunk : "unset");
    sdinfer_context *lanes = context_for(t, model, batch, 0, chunk);
    sdinfer_context *whole = context_for(t, model, batch, 0, "0");
    sdinfer_context *probabilities = context_for(t, model, batch, 1, chunk);
    float *images = cycled(input, batch), *pytorch = cycled(logits, batch);
    const size_t image_floats = input->count / (size_t)input->shape.dims[0];
    const size_t classes = logits->count / (size_t)logits->shape.dims[0];
    if (lanes && whole && probabilities) {
        CHECK(t, (lanes->lanes != NULL) == expects_lanes(threads, batch, chunk),
              "%s: batch runs as '%s'", what, lanes->lanes_note);
        CHECK(t, strcmp(whole->lanes_note, "one plan (SDINFER_CHUNK=0)") == 0, "%s: '%s'", what,
              whole->lanes_note);
        float *got = run(t, lanes, batch, images, image_floats, classes, what);
        float *want = run(t, whole, batch, images, image_floats, classes, what);
        float *p = run(t, probabilities, batch, images, image_floats, classes, what);
        if (got && want && p) {
            const size_t n = (size_t)batch * classes;
            int off = count_off(got, pytorch, n, TOLERANCE, TOLERANCE);
            CHECK(t, off == 0, "%s: %d of %zu logits off PyTorch's", what, off, n);
            off = count_off(got, want, n, 1e-5, 1e-5);
            CHECK(t, off == 0, "%s: %d of %zu logits off the whole-batch plan's", what, off, n);
            int bad_rows = 0;
            for (int i = 0; i < batch; i++)
                bad_rows += !(softmax_error(got + (size_t)i * classes, p + (size_t)i * classes,
                                            classes) <= 1e-5);
            CHECK(t, bad_rows == 0, "%s: %d softmax rows off the logits' softmax", what, bad_rows);
        }
        free(got), free(want), free(p);
    }
    free(images), free(pytorch);
    sdinfer_context_free(lanes), sdinfer_context_free(whole), sdinfer_context_free(probabilities);
}

static void check_fixtures(TestContext *t) {
    static const Fixture fixtures[] = {
        {FIXTURES "tiny_resnet.onnx", FIXTURES "tiny_resnet_input.pb",
         FIXTURES "tiny_resnet_logits.pb"},
        {FIXTURES "cifar_pad_resnet_op13.onnx", FIXTURES "cifar_pad_input.pb",
         FIXTURES "cifar_pad_logits.pb"},
    };
    static const char *const chunks[] = {NULL, "1", "3", "4"};
    static const int batches[] = {2, 7, 11};
    for (size_t f = 0; f < sizeof fixtures / sizeof fixtures[0]; f++) {
        HostTensor *input = read_tensor(t, fixtures[f].input);
        HostTensor *logits = read_tensor(t, fixtures[f].logits);
        for (int threads = 1; threads <= 3 && input && logits; threads++) {
            sdinfer_model *model = load(t, fixtures[f].model, threads);
            for (size_t c = 0; model && c < sizeof chunks / sizeof chunks[0]; c++)
                for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++)
                    check_fixture_case(t, &fixtures[f], model, threads, batches[b], chunks[c],
                                       input, logits);
            sdinfer_model_free(model);
        }
        host_tensor_free(input), host_tensor_free(logits);
    }
}

// ---- SDINFER_CHUNK ---------------------------------------------------------------------------
static void check_bad_chunk(TestContext *t) {
    sdinfer_model *model = load(t, FIXTURES "tiny_resnet.onnx", 2);
    static const char *const bad[] = {"abc", "-1", "4x", ""};
    for (size_t i = 0; model && i < sizeof bad / sizeof bad[0]; i++) {
        set_chunk(bad[i]);
        sdinfer_context_options options = {.batch_size = 8};
        sdinfer_context *context = NULL;
        char err[512] = "", want[512];
        sdinfer_status status = sdinfer_context_create(model, &options, &context, err, sizeof err);
        set_chunk(NULL);
        snprintf(want, sizeof want,
                 "SDINFER_CHUNK='%s': expected a number of images >= 0 (0: no lanes)", bad[i]);
        CHECK(t, status == SDINFER_ERR_ARGUMENT && context == NULL && strcmp(err, want) == 0,
              "SDINFER_CHUNK='%s': status %d, context %p, message '%s'", bad[i], (int)status,
              (void *)context, err);
        sdinfer_context_free(context);
    }
    sdinfer_model_free(model);
}

int main(void) {
    TestContext t = {"test_batch_lanes", 0, 0, 0};
    check_corpus(&t);
    check_fixtures(&t);
    check_bad_chunk(&t);
    return test_finish(&t);
}
