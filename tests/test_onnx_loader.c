// The ONNX loader's and planner's error paths, on the regression corpus in
// tests/corpus/onnx/: every file there is loaded (and planned when it loads);
// files listed in expected.tsv must give exactly the listed result at the
// listed stage with a message containing the listed text (node name + op +
// reason); the others (fuzz finds) only have to be answered without a crash.
// The ok_sem_*.onnx models also run on NAME.in.pb and must reproduce NAME.out.pb
// (computed with numpy by make_corpus.py) within rtol 1e-4, atol 1e-5.
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../infer/onnx_graph.h"
#include "../infer/onnx_tensor.h"
#include "../infer/plan.h"
#include "harness.h"

#define CORPUS_DIR "tests/corpus/onnx"
#define MAX_EXPECTED 256

typedef struct {
    char file[128];
    char result[16];  // ok, invalid, unsupported
    char stage[8];    // load, plan
    char message[512];
} Expectation;

static int read_expectations(Expectation *list) {
    FILE *f = fopen(CORPUS_DIR "/expected.tsv", "r");
    if (!f) return -1;
    char line[1024];
    int count = 0;
    while (count < MAX_EXPECTED && fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        line[strcspn(line, "\n")] = 0;
        Expectation *e = &list[count];
        char *fields[4] = {0};
        char *cursor = line;
        for (int i = 0; i < 4; i++) {
            fields[i] = cursor;
            char *tab = cursor ? strchr(cursor, '\t') : NULL;
            if (tab) *tab = 0;
            cursor = tab ? tab + 1 : NULL;
        }
        if (!fields[3]) continue;  // malformed line: the file check below will notice
        snprintf(e->file, sizeof e->file, "%s", fields[0]);
        snprintf(e->result, sizeof e->result, "%s", fields[1]);
        snprintf(e->stage, sizeof e->stage, "%s", fields[2]);
        snprintf(e->message, sizeof e->message, "%s", fields[3]);
        count++;
    }
    fclose(f);
    return count;
}

static const char *status_name(LoadStatus status) {
    return status == LOAD_OK ? "ok" : status == LOAD_INVALID ? "invalid" : "unsupported";
}

// Loads and, if that works, plans at batch 2. Reports the stage that answered.
static LoadStatus load_and_plan(Backend *be, const char *path, const char **stage, char *err,
                                size_t err_len) {
    OnnxGraph *graph = NULL;
    err[0] = 0;
    *stage = "load";
    LoadStatus status = onnx_graph_load_file(path, &graph, err, err_len);
    if (status != LOAD_OK) return status;
    *stage = "plan";
    PlanOptions options = plan_default_options();
    options.batch_size = 2;
    Plan *plan = NULL;
    status = plan_create(graph, be, &options, &plan, err, err_len);
    if (status == LOAD_UNSUPPORTED && strstr(err, "fixed batch size")) {
        options.batch_size = 0;  // fixed-batch models plan at their own size
        status = plan_create(graph, be, &options, &plan, err, err_len);
    }
    if (status == LOAD_OK) plan_run(plan);  // the plan must also run cleanly
    plan_free(plan);
    onnx_graph_free(graph);
    return status;
}

static void check_file(TestContext *t, Backend *be, const char *name, const Expectation *list,
                       int n_expected, int *listed_seen) {
    char path[512], err[2048];
    snprintf(path, sizeof path, "%s/%s", CORPUS_DIR, name);
    const char *stage;
    LoadStatus status = load_and_plan(be, path, &stage, err, sizeof err);
    const Expectation *e = NULL;
    for (int i = 0; i < n_expected; i++)
        if (strcmp(list[i].file, name) == 0) e = &list[i];
    if (!e) {
        CHECK(t, status == LOAD_OK || (strstr(err, path) == err && strlen(err) > strlen(path)),
              "%s: an error message must name the file and say something: '%s'", name, err);
        return;
    }
    (*listed_seen)++;
    CHECK(t, strcmp(status_name(status), e->result) == 0, "%s: expected %s, got %s (%s)", name,
          e->result, status_name(status), err);
    if (strcmp(e->result, "ok") == 0) return;
    CHECK(t, strcmp(stage, e->stage) == 0, "%s: refused at %s, expected at %s", name, stage,
          e->stage);
    CHECK(t, strstr(err, e->message) != NULL, "%s: message '%s' lacks '%s'", name, err,
          e->message);
    CHECK(t, strncmp(err, path, strlen(path)) == 0, "%s: message '%s' does not name the file",
          name, err);
}

// Runs the model on its .in.pb and compares output 0 with its .out.pb.
static void check_semantics(TestContext *t, Backend *be, const char *name) {
    char path[512], err[2048];
    size_t stem = strlen(name) - strlen(".onnx");
    HostTensor *input = NULL, *want = NULL;
    snprintf(path, sizeof path, "%s/%.*s.in.pb", CORPUS_DIR, (int)stem, name);
    CHECK(t, onnx_tensor_read_file(path, &input, err, sizeof err) == LOAD_OK, "%s", err);
    snprintf(path, sizeof path, "%s/%.*s.out.pb", CORPUS_DIR, (int)stem, name);
    CHECK(t, onnx_tensor_read_file(path, &want, err, sizeof err) == LOAD_OK, "%s", err);
    snprintf(path, sizeof path, "%s/%s", CORPUS_DIR, name);
    OnnxGraph *graph = NULL;
    Plan *plan = NULL;
    PlanOptions options = plan_default_options();
    options.batch_size = input && input->shape.rank >= 1 ? (int)input->shape.dims[0] : 0;
    if (input && want && onnx_graph_load_file(path, &graph, err, sizeof err) == LOAD_OK &&
        plan_create(graph, be, &options, &plan, err, sizeof err) == LOAD_OK) {
        const PlanTensor *out = &plan->tensors[plan->outputs[0]];
        CHECK(t, shape_equal(&out->shape, &want->shape), "%s: output shape differs", name);
        if (shape_equal(&out->shape, &want->shape)) {
            real *got = calloc(out->count, sizeof(real));
            plan_upload_input(plan, 0, input->floats);
            plan_run(plan);
            plan_download_tensor(plan, plan->outputs[0], got);
            int bad = 0;
            for (size_t i = 0; i < out->count; i++)
                bad += !(fabs(got[i] - want->floats[i]) <= 1e-5 + 1e-4 * fabs(want->floats[i]));
            CHECK(t, bad == 0, "%s: %d of %zu values differ from numpy's", name, bad, out->count);
            free(got);
        }
    } else {
        CHECK(t, 0, "%s: %s", name, err);
    }
    plan_free(plan);
    onnx_graph_free(graph);
    host_tensor_free(input);
    host_tensor_free(want);
}

static void check_missing_and_odd_paths(TestContext *t) {
    char err[512];
    OnnxGraph *graph = NULL;
    LoadStatus status = onnx_graph_load_file(CORPUS_DIR "/no_such_file.onnx", &graph, err, sizeof err);
    CHECK(t, status == LOAD_INVALID && graph == NULL && strstr(err, "cannot open"),
          "missing file: %s", err);
    status = onnx_graph_load_file(CORPUS_DIR, &graph, err, sizeof err);
    CHECK(t, status == LOAD_INVALID && strstr(err, "not a regular file"), "directory: %s", err);
}

int main(void) {
    TestContext t = {"test_onnx_loader", 0, 0, 0};
    static Expectation expected[MAX_EXPECTED];
    int n_expected = read_expectations(expected);
    CHECK(&t, n_expected >= 30, "expected.tsv lists %d files (is the corpus there?)", n_expected);
    char err[256];
    Backend *be = backend_create("cpu", 1, err, sizeof err);
    CHECK(&t, be != NULL, "cpu backend: %s", err);
    DIR *dir = opendir(CORPUS_DIR);
    CHECK(&t, dir != NULL, "cannot open %s (run from the repository root)", CORPUS_DIR);
    int files = 0, listed_seen = 0, semantic_cases = 0;
    struct dirent *entry;
    while (be && dir && (entry = readdir(dir))) {
        size_t len = strlen(entry->d_name);
        if (len < 6 || strcmp(entry->d_name + len - 5, ".onnx") != 0) continue;
        files++;
        check_file(&t, be, entry->d_name, expected, n_expected, &listed_seen);
        if (strncmp(entry->d_name, "ok_sem_", 7) == 0) {
            check_semantics(&t, be, entry->d_name);
            semantic_cases++;
        }
    }
    if (dir) closedir(dir);
    CHECK(&t, listed_seen == n_expected, "%d of %d files in expected.tsv exist", listed_seen,
          n_expected);
    check_missing_and_odd_paths(&t);
    printf("corpus: %d files, %d with listed expectations, %d run against numpy\n", files,
           listed_seen, semantic_cases);
    CHECK(&t, semantic_cases >= 7, "only %d ok_sem_* models", semantic_cases);
    if (be) be->destroy(be);
    return test_finish(&t);
}
