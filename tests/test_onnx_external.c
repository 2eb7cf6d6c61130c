// ONNX external data (infer/onnx_external.c, infer/external_ref.c) through the
// loader and the C API, on tests/fixtures/external/ (tests/make_external_fixtures.py:
// one conv model saved inline and with external data by onnx's own writer):
//   - every external form loads and its constants equal the inline model's bit
//     for bit (initializers and the Constant node's value);
//   - every bad_*.onnx is refused with the status and the exact message that
//     expected.tsv lists (written by hand in the fixture script);
//   - the limit on the external bytes: refused at limit - 1, loaded at the limit;
//   - bytes from memory (no directory): refused with a message, in the loader and
//     through sdinfer_model_load_buffer; sdinfer_model_load_file runs the external
//     model to the inline model's logits bit for bit;
//   - the directory of a model path, and a model in the current directory.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../infer/onnx_graph.h"
#include "../infer/onnx_tensor.h"
#include "../infer/sdinfer.h"
#include "harness.h"
#include "test_files.h"

#define EXT_DIR "tests/fixtures/external"
#define ONE_FILE_BYTES 1140  // its 6 initializers: (108 + 4 + 144 + 4 + 20 + 5) floats
#define MAX_ROWS 64

typedef struct {
    char file[128], result[16], message[1024];
} Row;

static int read_rows(Row *rows) {
    FILE *f = fopen(EXT_DIR "/expected.tsv", "r");
    if (!f) return -1;
    char line[2048];
    int count = 0;
    while (count < MAX_ROWS && fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        line[strcspn(line, "\n")] = '\0';
        char *result = strchr(line, '\t'), *message = result ? strchr(result + 1, '\t') : NULL;
        if (!message) continue;  // a malformed row: the count check below notices
        *result++ = '\0';
        *message++ = '\0';
        snprintf(rows[count].file, sizeof rows[count].file, "%s", line);
        snprintf(rows[count].result, sizeof rows[count].result, "%s", result);
        snprintf(rows[count].message, sizeof rows[count].message, "%s", message);
        count++;
    }
    fclose(f);
    return count;
}

static const char *status_name(LoadStatus status) {
    return status == LOAD_OK ? "ok" : status == LOAD_INVALID ? "invalid" : "unsupported";
}

static void test_refusals(TestContext *t) {
    static Row rows[MAX_ROWS];
    int n = read_rows(rows);
    CHECK(t, n >= 19, "%s/expected.tsv has %d rows", EXT_DIR, n);
    for (int i = 0; i < n; i++) {
        char path[512], err[2048] = "";
        snprintf(path, sizeof path, "%s/%s", EXT_DIR, rows[i].file);
        OnnxGraph *graph = (OnnxGraph *)&graph;  // must come back NULL
        LoadStatus status = onnx_graph_load_file(path, &graph, err, sizeof err);
        CHECK(t, strcmp(status_name(status), rows[i].result) == 0 && graph == NULL,
              "%s: %s (want %s), graph %p", rows[i].file, status_name(status), rows[i].result,
              (void *)graph);
        CHECK(t, strcmp(err, rows[i].message) == 0, "%s: message\n  '%s'\nwant\n  '%s'",
              rows[i].file, err, rows[i].message);
    }
}

static const GraphValue *find_value(const OnnxGraph *graph, const char *name) {
    for (int i = 0; i < graph->n_values; i++)
        if (strcmp(graph->values[i].name, name) == 0) return &graph->values[i];
    return NULL;
}

// Every constant of the inline model, bit for bit in the other.
static void check_same_constants(TestContext *t, const OnnxGraph *inline_graph,
                                 const OnnxGraph *graph, const char *what) {
    int compared = 0;
    for (int i = 0; i < inline_graph->n_values; i++) {
        const GraphValue *want = &inline_graph->values[i];
        if (!want->constant) continue;
        const GraphValue *got = find_value(graph, want->name);
        const HostTensor *a = want->constant, *b = got ? got->constant : NULL;
        int same = b && a->dtype == b->dtype && shape_equal(&a->shape, &b->shape) &&
                   (a->floats ? memcmp(a->floats, b->floats, a->count * sizeof(real))
                              : memcmp(a->ints, b->ints, a->count * sizeof(int64_t))) == 0;
        CHECK(t, same, "%s: constant '%s' differs from the inline model's", what, want->name);
        compared++;
    }
    CHECK(t, compared == 7, "%s: %d constants compared (6 initializers + the Constant)", what,
          compared);
}

static void test_forms_equal_inline(TestContext *t) {
    static const char *const forms[] = {"one_file.onnx", "per_tensor/model.onnx",
                                        "constant_too.onnx", "ok_no_offset_length.onnx",
                                        "ok_checksum_prepacked.onnx"};
    char err[2048] = "";
    OnnxGraph *inline_graph = NULL;
    CHECK(t, onnx_graph_load_file(EXT_DIR "/inline.onnx", &inline_graph, err, sizeof err) == LOAD_OK,
          "inline.onnx: %s", err);
    for (size_t i = 0; inline_graph && i < sizeof forms / sizeof forms[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", EXT_DIR, forms[i]);
        OnnxGraph *graph = NULL;
        LoadStatus status = onnx_graph_load_file(path, &graph, err, sizeof err);
        CHECK(t, status == LOAD_OK, "%s: %s", forms[i], err);
        if (graph) check_same_constants(t, inline_graph, graph, forms[i]);
        onnx_graph_free(graph);
    }
    onnx_graph_free(inline_graph);
}

static LoadStatus load_with_limit(const unsigned char *bytes, size_t size, size_t limit,
                                  char *err, size_t err_len) {
    OnnxExternalOptions external = {.base_dir = EXT_DIR, .max_bytes = limit};
    OnnxGraph *graph = NULL;
    LoadStatus status =
        onnx_graph_load_buffer_with(bytes, size, "one_file.onnx", &external, &graph, err, err_len);
    onnx_graph_free(graph);
    return status;
}

static void test_limit_and_memory(TestContext *t) {
    size_t size = 0;
    unsigned char *bytes = read_whole(EXT_DIR "/one_file.onnx", &size);
    CHECK(t, bytes != NULL, "cannot read %s/one_file.onnx", EXT_DIR);
    if (!bytes) return;
    char err[2048] = "";
    LoadStatus status = load_with_limit(bytes, size, ONE_FILE_BYTES - 1, err, sizeof err);
    CHECK(t, status == LOAD_UNSUPPORTED && strcmp(err, "one_file.onnx: its 6 external tensors "
          "hold 1140 bytes, more than the limit of 1139 bytes (set by the caller)") == 0,
          "limit - 1: status %d, '%s'", (int)status, err);
    status = load_with_limit(bytes, size, ONE_FILE_BYTES, err, sizeof err);
    CHECK(t, status == LOAD_OK, "at the limit: %s", err);

    const char *no_dir = "mem.onnx: initializer 'conv1.weight': its data is in an external file, "
                         "and a model loaded from memory has no directory to find it in (load "
                         "the model from its file)";
    OnnxGraph *graph = NULL;
    status = onnx_graph_load_buffer(bytes, size, "mem.onnx", &graph, err, sizeof err);
    CHECK(t, status == LOAD_INVALID && graph == NULL && strcmp(err, no_dir) == 0,
          "from memory: status %d, '%s'", (int)status, err);
    sdinfer_model *model = NULL;
    sdinfer_status api = sdinfer_model_load_buffer(bytes, size, "mem.onnx", NULL, &model, err,
                                                   sizeof err);
    CHECK(t, api == SDINFER_ERR_INVALID && model == NULL && strcmp(err, no_dir) == 0,
          "sdinfer_model_load_buffer: status %d, '%s'", (int)api, err);
    free(bytes);
}

// Output 0 of the model at path on input through the public API; NULL on failure.
static float *run_api(TestContext *t, const char *path, const HostTensor *input, size_t *count) {
    sdinfer_model *model = NULL;
    sdinfer_context *ctx = NULL;
    char err[2048] = "";
    float *x = malloc(input->count * sizeof(float)), *y = NULL;
    for (size_t i = 0; x && i < input->count; i++) x[i] = (float)input->floats[i];
    if (x && sdinfer_model_load_file(path, NULL, &model, err, sizeof err) == SDINFER_OK &&
        sdinfer_context_create(model, NULL, &ctx, err, sizeof err) == SDINFER_OK) {
        *count = sdinfer_context_output_size(ctx);
        y = malloc(*count * sizeof(float));
        if (y && sdinfer_run(ctx, 1, x, input->count, y, *count) != SDINFER_OK) {
            snprintf(err, sizeof err, "%s", sdinfer_context_error(ctx));
            free(y);
            y = NULL;
        }
    }
    CHECK(t, y != NULL, "%s through the API: %s", path, err);
    sdinfer_context_free(ctx);
    sdinfer_model_free(model);
    free(x);
    return y;
}

static void test_api_runs_external(TestContext *t) {
    HostTensor *input = NULL;
    char err[2048] = "";
    CHECK(t, onnx_tensor_read_file(EXT_DIR "/input.pb", &input, err, sizeof err) == LOAD_OK, "%s",
          err);
    if (!input) return;
    size_t n_inline = 0, n_external = 0;
    float *want = run_api(t, EXT_DIR "/inline.onnx", input, &n_inline);
    float *got = run_api(t, EXT_DIR "/per_tensor/model.onnx", input, &n_external);
    CHECK(t, want && got && n_inline == 5 && n_external == 5 &&
                 memcmp(want, got, 5 * sizeof(float)) == 0,
          "per_tensor/model.onnx's logits differ from inline.onnx's");
    free(want);
    free(got);
    host_tensor_free(input);
}

static void test_base_dir(TestContext *t) {
    static const char *const cases[][2] = {{"dir/m.onnx", "dir"}, {"m.onnx", ""},
                                           {"/m.onnx", "/"}, {"a/b/c.onnx", "a/b"},
                                           {"./m.onnx", "."}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *dir = onnx_external_base_dir(cases[i][0]);
        CHECK(t, dir && strcmp(dir, cases[i][1]) == 0, "directory of '%s': '%s' (want '%s')",
              cases[i][0], dir ? dir : "NULL", cases[i][1]);
        free(dir);
    }
    // A bare file name: the data file is looked up in the current directory.
    char cwd[4096];
    CHECK(t, getcwd(cwd, sizeof cwd) != NULL && chdir(EXT_DIR) == 0, "cannot enter %s", EXT_DIR);
    OnnxGraph *graph = NULL;
    char err[2048] = "";
    CHECK(t, onnx_graph_load_file("one_file.onnx", &graph, err, sizeof err) == LOAD_OK,
          "one_file.onnx from its own directory: %s", err);
    onnx_graph_free(graph);
    CHECK(t, chdir(cwd) == 0, "cannot go back to %s", cwd);
}

int main(void) {
    TestContext t = {"test_onnx_external", 0, 0, 0};
    test_refusals(&t);
    test_forms_equal_inline(&t);
    test_limit_and_memory(&t);
    test_api_runs_external(&t);
    test_base_dir(&t);  // last: it changes the working directory for a moment
    return test_finish(&t);
}
