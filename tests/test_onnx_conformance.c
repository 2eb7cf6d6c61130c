// ONNX backend node tests (Debian's libonnx-testdata) through sdinfer's loader,
// planner and the CPU backend, against the reference outputs shipped with the
// test data (rtol 1e-4, atol 1e-5).
//
// A test directory is a candidate when every node of its model is an op
// sdinfer implements (decided here from the protobuf directly, not by the code
// under test). A candidate the loader or planner refuses as UNSUPPORTED (an
// attribute, a type or a form sdinfer lacks) is listed as skipped with the
// reason and not counted; INVALID, a crash or a wrong output is a failure.
//
// Regression guard: tests/conformance_passing.txt (committed, one test name a
// line, '#' comments) lists the node tests that passed before. Every one of them
// must be a candidate and pass again: one that now fails, is skipped (the
// loader refusing an op it used to take) or is no longer a candidate is a
// failure. A pass that is not on the list is reported as NEW (not a failure):
// add it to the list, which make_conformance_md.sh rewrites.
//
//   test_onnx_conformance [--markdown FILE] [--data DIR] [--device cpu|cuda]
//                         [--expect FILE] [--write-passing FILE]
//
// --markdown writes the pass/skip lists (infer/CONFORMANCE.md is made this way,
// see infer/make_conformance_md.sh); --write-passing writes the list of passing
// tests (refused while a listed test regresses, so the list never shrinks
// silently). --expect defaults to tests/conformance_passing.txt on the CPU; the
// CUDA backend implements fewer ops and runs without a list unless given one.
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/atomic_file.h"
#include "../infer/file_util.h"
#include "../infer/onnx_graph.h"
#include "../infer/onnx_tensor.h"
#include "../infer/plan.h"
#include "harness.h"
#include "onnx.pb-c.h"

#define DEFAULT_DATA_DIR "/usr/share/libonnx-testdata/data/node"
#define RTOL 1e-4
#define ATOL 1e-5
#define MAX_IO 8
#define DEFAULT_EXPECT_FILE "tests/conformance_passing.txt"
#define MAX_EXPECTED 4096

static const char *const supported_ops[] = {
    "Conv", "BatchNormalization", "Relu", "Add", "Sub", "Mul", "Div", "AveragePool", "MaxPool",
    "GlobalAveragePool", "Pad", "Concat", "Slice", "Flatten", "Reshape", "Gemm", "MatMul",
    "Identity", "Constant", "Softmax", "Sigmoid", "HardSigmoid", "HardSwish", "Clip", "Dropout",
    "ReduceMean", "Transpose", "Shape", "Size", "Gather", "Unsqueeze", "Squeeze", "Cast",
    "ConstantOfShape", "Range", "Expand", "Equal", "Where", "Split"};

typedef enum { RESULT_PASS, RESULT_SKIP, RESULT_FAIL } Result;

typedef struct {
    char name[256];
    Result result;
    char reason[600];
} Outcome;

// Every node an op from the list above, in the default domain.
static int is_candidate(const char *model_path) {
    uint8_t *bytes = NULL;
    size_t size = 0;
    char err[512];
    if (file_read_bounded(model_path, 1 << 24, &bytes, &size, err, sizeof err) != 0) return 0;
    Onnx__ModelProto *model = onnx__model_proto__unpack(NULL, size, bytes);
    free(bytes);
    if (!model) return 0;
    int candidate = model->graph && model->graph->n_node > 0;
    for (size_t i = 0; candidate && i < model->graph->n_node; i++) {
        const Onnx__NodeProto *node = model->graph->node[i];
        if (node->domain && node->domain[0] && strcmp(node->domain, "ai.onnx") != 0) candidate = 0;
        int known = 0;
        for (size_t k = 0; k < sizeof supported_ops / sizeof *supported_ops; k++)
            if (node->op_type && strcmp(node->op_type, supported_ops[k]) == 0) known = 1;
        candidate = candidate && known;
    }
    onnx__model_proto__free_unpacked(model, NULL);
    return candidate;
}

static int count_files(const char *dir, const char *prefix) {
    int count = 0;
    for (; count < MAX_IO; count++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s_%d.pb", dir, prefix, count);
        FILE *f = fopen(path, "rb");
        if (!f) break;
        fclose(f);
    }
    return count;
}

// Largest violation of |got - want| <= atol + rtol |want| (<= 0 means within tolerance).
static double compare(const real *got, const HostTensor *want, size_t *worst_index) {
    double worst = -1;
    for (size_t i = 0; i < want->count; i++) {
        double g = got[i], w = want->floats[i];
        double excess = isnan(g) != isnan(w) ? INFINITY
                        : isnan(w)           ? -1
                                             : fabs(g - w) - (ATOL + RTOL * fabs(w));
        if (excess > worst) {
            worst = excess;
            *worst_index = i;
        }
    }
    return worst;
}

static void set(Outcome *o, Result result, const char *reason) {
    o->result = result;
    snprintf(o->reason, sizeof o->reason, "%s", reason);
}

// Graph inputs the planner needs as constants (shape vectors, pads, pad value)
// are bound to the test's input files; the rest are fed at run time. With
// weights_constant, every input after the first is bound too, as the weights
// of a real model would be (this reaches the planner's constant paths: the
// fully connected form of Gemm, constant operands, folded parameters).
static int bind_constant_inputs(OnnxGraph *graph, HostTensor **inputs, int n_files, int *fed,
                                int weights_constant, Outcome *o) {
    if (n_files != graph->n_inputs) {
        char reason[200];
        snprintf(reason, sizeof reason, "%d input files for %d graph inputs", n_files,
                 graph->n_inputs);
        set(o, RESULT_FAIL, reason);
        return -1;
    }
    int remaining = 0;
    char err[512];
    for (int file = 0; file < n_files; file++) {
        int value = graph->inputs[remaining];
        if (inputs[file]->dtype == ONNX_DTYPE_INT64 || onnx_graph_value_needs_constant(graph, value) ||
            (weights_constant && file > 0)) {
            if (onnx_graph_bind_input(graph, remaining, inputs[file], err, sizeof err) != 0) {
                inputs[file] = NULL;
                set(o, RESULT_FAIL, err);
                return -1;
            }
            inputs[file] = NULL;  // now owned by the graph
        } else {
            fed[remaining++] = file;
        }
    }
    return 0;
}

static void run_plan(Plan *plan, HostTensor **inputs, const int *fed, HostTensor **outputs,
                     int n_outputs, Outcome *o) {
    char reason[600];
    for (int i = 0; i < plan->n_inputs; i++) {
        const HostTensor *file = inputs[fed[i]];
        const PlanTensor *t = &plan->tensors[plan->inputs[i]];
        char a[128], b[128];
        if (!shape_equal(&file->shape, &t->shape)) {
            snprintf(reason, sizeof reason, "input %d: file shape %s, plan shape %s", i,
                     shape_format(&file->shape, a, sizeof a), shape_format(&t->shape, b, sizeof b));
            set(o, RESULT_FAIL, reason);
            return;
        }
        plan_upload_input(plan, i, file->floats);
    }
    plan_run(plan);
    if (n_outputs != plan->n_outputs) {
        set(o, RESULT_FAIL, "output count differs");
        return;
    }
    for (int i = 0; i < n_outputs; i++) {
        const PlanTensor *t = &plan->tensors[plan->outputs[i]];
        char a[128], b[128];
        if (outputs[i]->dtype != ONNX_DTYPE_FLOAT || !shape_equal(&outputs[i]->shape, &t->shape)) {
            snprintf(reason, sizeof reason, "output %d: reference shape %s, computed %s", i,
                     shape_format(&outputs[i]->shape, a, sizeof a),
                     shape_format(&t->shape, b, sizeof b));
            set(o, RESULT_FAIL, reason);
            return;
        }
        real *got = malloc(t->count * sizeof(real));
        plan_download_tensor(plan, plan->outputs[i], got);
        size_t index = 0;
        double worst = compare(got, outputs[i], &index);
        if (worst > 0) {
            snprintf(reason, sizeof reason, "output %d element %zu: got %.8g, want %.8g", i, index,
                     (double)got[index], (double)outputs[i]->floats[index]);
            set(o, RESULT_FAIL, reason);
            free(got);
            return;
        }
        free(got);
    }
    set(o, RESULT_PASS, "");
}

static void run_case(Backend *be, const char *dir, int weights_constant, Outcome *o) {
    char path[1200], err[1024];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    OnnxGraph *graph = NULL;
    LoadStatus status = onnx_graph_load_file(path, &graph, err, sizeof err);
    if (status != LOAD_OK) {
        set(o, status == LOAD_UNSUPPORTED ? RESULT_SKIP : RESULT_FAIL, err);
        return;
    }
    char data_dir[1300];
    snprintf(data_dir, sizeof data_dir, "%s/test_data_set_0", dir);
    int n_inputs = count_files(data_dir, "input"), n_outputs = count_files(data_dir, "output");
    HostTensor *inputs[MAX_IO] = {0}, *outputs[MAX_IO] = {0};
    int fed[MAX_IO] = {0};
    int ok = n_outputs > 0;
    if (!ok) set(o, RESULT_FAIL, "no reference outputs");
    for (int i = 0; ok && i < n_inputs + n_outputs; i++) {
        int is_input = i < n_inputs;
        snprintf(path, sizeof path, "%s/%s_%d.pb", data_dir, is_input ? "input" : "output",
                 is_input ? i : i - n_inputs);
        status = onnx_tensor_read_file(path, is_input ? &inputs[i] : &outputs[i - n_inputs], err,
                                       sizeof err);
        if (status != LOAD_OK) {
            set(o, status == LOAD_UNSUPPORTED ? RESULT_SKIP : RESULT_FAIL, err);
            ok = 0;
        }
    }
    if (ok) ok = bind_constant_inputs(graph, inputs, n_inputs, fed, weights_constant, o) == 0;
    Plan *plan = NULL;
    if (ok) {
        status = plan_create(graph, be, NULL, &plan, err, sizeof err);
        if (status != LOAD_OK) set(o, status == LOAD_UNSUPPORTED ? RESULT_SKIP : RESULT_FAIL, err);
        else run_plan(plan, inputs, fed, outputs, n_outputs, o);
    }
    plan_free(plan);
    onnx_graph_free(graph);
    for (int i = 0; i < MAX_IO; i++) {
        host_tensor_free(inputs[i]);
        host_tensor_free(outputs[i]);
    }
}

static int write_markdown(const char *path, const Outcome *outcomes, int count, const char *data,
                          const char *device, int constant_passed) {
    AtomicFile file;
    char err[512];
    if (atomic_file_open(&file, path, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    FILE *out = file.stream;
    int passed = 0, skipped = 0, failed = 0;
    for (int i = 0; i < count; i++) {
        passed += outcomes[i].result == RESULT_PASS;
        skipped += outcomes[i].result == RESULT_SKIP;
        failed += outcomes[i].result == RESULT_FAIL;
    }
    fprintf(out, "# sdinfer: ONNX backend node test conformance\n\n"
                 "Generated by `infer/make_conformance_md.sh` (runs `test_onnx_conformance "
                 "--markdown`); do not edit by hand.\n\n"
                 "Data: `%s` (Debian libonnx-testdata), %s backend, tolerance rtol %g, atol %g.\n"
                 "Candidates are the tests whose model uses only ops sdinfer implements.\n\n"
                 "%d candidates: **%d pass**, %d skipped (unsupported form, listed with the "
                 "reason), %d fail.\n"
                 "Each passing test also runs a second time with its inputs after the first bound "
                 "as constants (as a model's weights are): %d of %d pass that way too.\n\n"
                 "## Passing (%d)\n\n",
            data, device, RTOL, ATOL, count, passed, skipped, failed, constant_passed, passed,
            passed);
    for (int i = 0; i < count; i++)
        if (outcomes[i].result == RESULT_PASS) fprintf(out, "- %s\n", outcomes[i].name);
    fprintf(out, "\n## Skipped (%d)\n\n", skipped);
    for (int i = 0; i < count; i++) {
        if (outcomes[i].result != RESULT_SKIP) continue;
        // Drop the path up to the test's directory: the test name already says where.
        char directory[300];
        snprintf(directory, sizeof directory, "%s/", outcomes[i].name);
        const char *reason = strstr(outcomes[i].reason, directory);
        reason = reason ? reason + strlen(directory) : outcomes[i].reason;
        if (strncmp(reason, "model.onnx: ", 12) == 0) reason += 12;
        fprintf(out, "- %s: %s\n", outcomes[i].name, reason);
    }
    if (failed) {
        fprintf(out, "\n## Failing (%d)\n\n", failed);
        for (int i = 0; i < count; i++)
            if (outcomes[i].result == RESULT_FAIL)
                fprintf(out, "- %s: %s\n", outcomes[i].name, outcomes[i].reason);
    }
    if (atomic_file_commit(&file, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

typedef struct {
    int count;
    char names[MAX_EXPECTED][256];
} ExpectedList;

// Reads the committed list of passing tests. Returns 0, or -1 with a message.
static int expected_read(const char *path, ExpectedList *list, char *err, size_t err_len) {
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (file_read_bounded(path, 1 << 20, &bytes, &size, err, err_len) != 0) return -1;
    list->count = 0;
    char *text = (char *)bytes, *end = text + size;
    int status = 0;
    for (char *line = text; line < end && status == 0;) {
        char *newline = memchr(line, '\n', (size_t)(end - line));
        size_t length = newline ? (size_t)(newline - line) : (size_t)(end - line);
        if (length > 0 && line[0] != '#') {
            if (length >= sizeof list->names[0] || strncmp(line, "test_", 5) != 0 ||
                list->count == MAX_EXPECTED) {
                snprintf(err, err_len, "%s: line %d is not a test name (or the list is too long)",
                         path, list->count + 1);
                status = -1;
            } else {
                memcpy(list->names[list->count], line, length);
                list->names[list->count++][length] = '\0';
            }
        }
        line += length + 1;
    }
    free(bytes);
    if (status == 0 && list->count == 0) {
        snprintf(err, err_len, "%s: no test names", path);
        status = -1;
    }
    return status;
}

static const Outcome *find_outcome(const Outcome *outcomes, int count, const char *name) {
    for (int i = 0; i < count; i++)
        if (strcmp(outcomes[i].name, name) == 0) return &outcomes[i];
    return NULL;
}

static int is_expected(const ExpectedList *list, const char *name) {
    for (int i = 0; i < list->count; i++)
        if (strcmp(list->names[i], name) == 0) return 1;
    return 0;
}

// Each listed test must pass again. Returns how many regressed.
static int check_expected(TestContext *t, const ExpectedList *list, const Outcome *outcomes,
                          int count) {
    int regressed = 0;
    for (int i = 0; i < list->count; i++) {
        const Outcome *o = find_outcome(outcomes, count, list->names[i]);
        const char *now = !o                         ? "no longer a candidate (op not listed or data missing)"
                          : o->result == RESULT_SKIP ? "skipped"
                          : o->result == RESULT_FAIL ? "failed"
                                                     : NULL;
        if (now) {
            printf("REGRESSION %s: passed before, now %s%s%s\n", list->names[i], now,
                   o ? ": " : "", o ? o->reason : "");
            regressed++;
        }
        CHECK(t, now == NULL, "%s passed before (listed), now %s", list->names[i],
              now ? now : "passes");
    }
    for (int i = 0; i < count; i++)
        if (outcomes[i].result == RESULT_PASS && !is_expected(list, outcomes[i].name))
            printf("NEW %s passes and is not listed yet\n", outcomes[i].name);
    return regressed;
}

static int write_passing(const char *path, const Outcome *outcomes, int count) {
    AtomicFile file;
    char err[512];
    if (atomic_file_open(&file, path, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    fprintf(file.stream, "# ONNX node tests sdinfer passes on the CPU (tests/test_onnx_conformance.c\n"
                         "# fails when one of them stops passing). Written by "
                         "infer/make_conformance_md.sh.\n");
    for (int i = 0; i < count; i++)
        if (outcomes[i].result == RESULT_PASS) fprintf(file.stream, "%s\n", outcomes[i].name);
    if (atomic_file_commit(&file, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv) {
    const char *markdown = NULL, *data = getenv("SD_ONNX_TESTDATA"), *device = "cpu";
    const char *expect = NULL, *write_list = NULL;
    if (!data) data = DEFAULT_DATA_DIR;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--markdown") == 0 && i + 1 < argc) markdown = argv[++i];
        else if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc) expect = argv[++i];
        else if (strcmp(argv[i], "--write-passing") == 0 && i + 1 < argc) write_list = argv[++i];
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) data = argv[++i];
        else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) device = argv[++i];
        else {
            fprintf(stderr,
                    "usage: %s [--markdown FILE] [--data DIR] [--device cpu|cuda] [--expect FILE] "
                    "[--write-passing FILE]\n",
                    argv[0]);
            return 2;
        }
    }
    if (!expect && strcmp(device, "cpu") == 0) expect = DEFAULT_EXPECT_FILE;
    TestContext t = {"test_onnx_conformance", 0, 0, 0};
    static ExpectedList expected;
    if (expect) {
        char list_err[600];
        int read = expected_read(expect, &expected, list_err, sizeof list_err);
        CHECK(&t, read == 0, "expected list: %s", list_err);
        if (read != 0) expect = NULL;
    }
    struct dirent **entries = NULL;
    int n_entries = scandir(data, &entries, NULL, by_name);
    CHECK(&t, n_entries > 0, "cannot list %s (install libonnx-testdata)", data);
    char err[256];
    Backend *be = backend_create(device, 1, err, sizeof err);
    CHECK(&t, be != NULL, "%s backend: %s", device, err);
    Outcome *outcomes = calloc((size_t)(n_entries > 0 ? n_entries : 1), sizeof *outcomes);
    int count = 0, skipped = 0, passed = 0, failed = 0, constant_passed = 0;
    for (int i = 0; be && i < n_entries; i++) {
        const char *name = entries[i]->d_name;
        char dir[1024], model[1100];
        snprintf(dir, sizeof dir, "%s/%s", data, name);
        snprintf(model, sizeof model, "%s/model.onnx", dir);
        if (strncmp(name, "test_", 5) != 0 || !is_candidate(model)) continue;
        Outcome *o = &outcomes[count++];
        snprintf(o->name, sizeof o->name, "%s", name);
        run_case(be, dir, 0, o);
        if (o->result == RESULT_PASS) {
            // Again with the weights (inputs 1..) as constants; must match the same outputs.
            Outcome constant = {.result = RESULT_PASS};
            run_case(be, dir, 1, &constant);
            CHECK(&t, constant.result == RESULT_PASS, "%s with constant weights: %s", name,
                  constant.reason);
            constant_passed += constant.result == RESULT_PASS;
        }
        if (o->result == RESULT_SKIP) {
            skipped++;
            printf("SKIP %s: %s\n", name, o->reason);
            continue;
        }
        printf("%s %s%s%s\n", o->result == RESULT_PASS ? "PASS" : "FAIL", name,
               o->result == RESULT_FAIL ? ": " : "", o->reason);
        passed += o->result == RESULT_PASS;
        failed += o->result == RESULT_FAIL;
        CHECK(&t, o->result == RESULT_PASS, "%s: %s", name, o->reason);
    }
    if (be) CHECK(&t, be->last_error(be, err, sizeof err) == 0, "backend error: %s", err);
    printf("%d candidate tests: %d passed, %d skipped, %d failed; %d passed again with constant "
           "weights\n", count, passed, skipped, failed, constant_passed);
    // Guard against a silently empty run (e.g. the candidate filter matching nothing).
    CHECK(&t, count >= 50, "only %d candidate tests found in %s", count, data);
    int regressed = 0;
    if (expect) {
        regressed = check_expected(&t, &expected, outcomes, count);
        printf("%d of %d listed tests (%s) pass again, %d regressed\n", expected.count - regressed,
               expected.count, expect, regressed);
    }
    if (write_list && regressed == 0 && write_passing(write_list, outcomes, count) != 0)
        CHECK(&t, 0, "cannot write %s", write_list);
    CHECK(&t, !write_list || regressed == 0, "%s not written: %d listed tests regressed",
          write_list ? write_list : "", regressed);
    if (markdown && write_markdown(markdown, outcomes, count, data, be ? be->name : device, constant_passed) != 0)
        CHECK(&t, 0, "cannot write %s", markdown);
    for (int i = 0; i < n_entries; i++) free(entries[i]);
    free(entries);
    free(outcomes);
    if (be) be->destroy(be);
    return test_finish(&t);
}
