// The planner and executor on a real PyTorch export (tests/fixtures/, made by
// tools/make_torch_fixture.py): logits against PyTorch's own, with and without
// BN folding and ReLU fusion, at other batch sizes (dynamic batch), the
// torch-fused export, memory reuse that never clobbers a live tensor, no device
// allocation once the plan exists, and channels-last activations between Winograd
// convolutions giving the NCHW plan's bits.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../infer/onnx_graph.h"
#include "../infer/onnx_tensor.h"
#include "../infer/plan.h"
#include "cpu/cpu_kernels.h"
#include "harness.h"

#define FIXTURES "tests/fixtures/"
#define TOLERANCE 1e-4
// The fixture network (tools/make_torch_fixture.py): a BN after each of its 8
// convolutions; ReLUs after the stem, after each block's first conv (3) and
// after each residual add (3).
#define FIXTURE_BATCHNORMS 8
#define FIXTURE_RELUS 7

typedef struct {
    Backend base;  // the CPU backend's table with alloc/release counted
    Backend *inner;
    int allocs;
} CountingBackend;

static void *counting_alloc(Backend *be, size_t bytes) {
    CountingBackend *c = (CountingBackend *)be;
    c->allocs++;
    return c->inner->alloc(c->inner, bytes);
}

static void counting_release(Backend *be, void *ptr) {
    CountingBackend *c = (CountingBackend *)be;
    c->inner->release(c->inner, ptr);
}

static Plan *make_plan(TestContext *t, const OnnxGraph *graph, Backend *be, int batch, int fold,
                       int fuse) {
    PlanOptions options = plan_default_options();
    options.batch_size = batch;
    options.fold_batchnorm = fold;
    options.fuse_activations = fuse;
    Plan *plan = NULL;
    char err[1024];
    LoadStatus status = plan_create(graph, be, &options, &plan, err, sizeof err);
    CHECK(t, status == LOAD_OK, "plan (batch %d, fold %d, fuse %d): %s", batch, fold, fuse, err);
    return status == LOAD_OK ? plan : NULL;
}

// Runs `images` images (indices into the fixture batch) and returns the logits.
static real *run_images(Plan *plan, const HostTensor *input, const int *images, int count) {
    size_t per_image = input->count / (size_t)input->shape.dims[0];
    real *batch = malloc(per_image * (size_t)count * sizeof(real));
    for (int i = 0; i < count; i++)
        memcpy(batch + i * per_image, input->floats + (size_t)images[i] * per_image,
               per_image * sizeof(real));
    plan_upload_input(plan, 0, batch);
    plan_run(plan);
    real *logits = malloc(plan->tensors[plan->outputs[0]].count * sizeof(real));
    plan_download_tensor(plan, plan->outputs[0], logits);
    free(batch);
    return logits;
}

static void check_logits(TestContext *t, const real *got, const HostTensor *want,
                         const int *images, int count, const char *what) {
    int classes = (int)want->shape.dims[1];
    double worst = 0;
    int bad = 0;
    for (int i = 0; i < count; i++)
        for (int c = 0; c < classes; c++) {
            double g = got[i * classes + c], w = want->floats[images[i] * classes + c];
            double error = fabs(g - w);
            if (error > worst) worst = error;
            bad += !(error <= TOLERANCE + TOLERANCE * fabs(w));
        }
    CHECK(t, bad == 0, "%s: %d of %d logits off PyTorch's by more than 1e-4 (worst %.3g)", what,
          bad, count * classes, worst);
}

static int count_steps(const Plan *plan, StepKind kind) {
    int count = 0;
    for (int s = 0; s < plan->n_steps; s++) count += plan->steps[s].kind == kind;
    return count;
}

// No step may overwrite memory that a later step still reads: for every read
// of a tensor, no step between its writer and the reader writes an
// overlapping byte range (in-place steps overwrite only inputs that die there).
static void check_no_clobbering(TestContext *t, const Plan *plan) {
    int violations = 0;
    for (int s = 0; s < plan->n_steps; s++) {
        const PlanStep *reader = &plan->steps[s];
        for (int k = 0; k < reader->n_inputs; k++) {
            int id = reader->inputs[k];
            if (id < 0 || plan->tensors[id].is_constant) continue;
            size_t lo = plan->tensors[id].offset, hi = lo + plan->tensors[id].count;
            int writer = -1;  // -1: a graph input, written before the first step
            for (int w = 0; w < s; w++)
                if (plan->tensors[plan->steps[w].output].data == plan->tensors[id].data &&
                    plan->tensors[plan->steps[w].output].count == plan->tensors[id].count)
                    writer = w;
            for (int w = writer + 1; w < s; w++) {
                const PlanTensor *out = &plan->tensors[plan->steps[w].output];
                if (out->offset < hi && lo < out->offset + out->count) violations++;
            }
        }
    }
    CHECK(t, violations == 0, "%d reads of tensors overwritten before the read", violations);
}

static void check_fixture(TestContext *t, Backend *be) {
    char err[1024];
    OnnxGraph *graph = NULL, *fused_graph = NULL;
    HostTensor *input = NULL, *logits = NULL;
    CHECK(t, onnx_graph_load_file(FIXTURES "tiny_resnet.onnx", &graph, err, sizeof err) == LOAD_OK,
          "%s", err);
    CHECK(t, onnx_graph_load_file(FIXTURES "tiny_resnet_fused.onnx", &fused_graph, err,
                                  sizeof err) == LOAD_OK, "%s", err);
    CHECK(t, onnx_tensor_read_file(FIXTURES "tiny_resnet_input.pb", &input, err, sizeof err) == LOAD_OK,
          "%s", err);
    CHECK(t, onnx_tensor_read_file(FIXTURES "tiny_resnet_logits.pb", &logits, err, sizeof err) ==
             LOAD_OK, "%s", err);
    if (!graph || !fused_graph || !input || !logits) goto done;
    const int all[4] = {0, 1, 2, 3};

    Plan *plan = make_plan(t, graph, be, 4, 1, 1);
    if (plan) {
        real *got = run_images(plan, input, all, 4);
        check_logits(t, got, logits, all, 4, "batch 4, folded and fused");
        CHECK(t, plan->stats.folded_batchnorms == FIXTURE_BATCHNORMS, "folded %d BNs, expected %d",
              plan->stats.folded_batchnorms, FIXTURE_BATCHNORMS);
        CHECK(t, plan->stats.fused_relus == FIXTURE_RELUS, "fused %d ReLUs, expected %d",
              plan->stats.fused_relus, FIXTURE_RELUS);
        CHECK(t, count_steps(plan, STEP_BATCHNORM) == 0 && count_steps(plan, STEP_RELU) == 0,
              "BN or ReLU steps left after folding/fusion");
        CHECK(t, plan->stats.activation_bytes < plan->stats.activation_naive_bytes,
              "no memory reuse: %zu of %zu bytes", plan->stats.activation_bytes,
              plan->stats.activation_naive_bytes);
        check_no_clobbering(t, plan);
        real *again = run_images(plan, input, all, 4);
        CHECK(t, memcmp(got, again, 40 * sizeof(real)) == 0, "a second run differs from the first");
        free(got);
        free(again);
        plan_free(plan);
    }
    plan = make_plan(t, graph, be, 4, 0, 0);
    if (plan) {
        real *got = run_images(plan, input, all, 4);
        check_logits(t, got, logits, all, 4, "batch 4, no folding, no fusion");
        CHECK(t, count_steps(plan, STEP_BATCHNORM) == FIXTURE_BATCHNORMS,
              "%d BN steps without folding", count_steps(plan, STEP_BATCHNORM));
        check_no_clobbering(t, plan);
        free(got);
        plan_free(plan);
    }
    plan = make_plan(t, fused_graph, be, 4, 1, 1);
    if (plan) {
        real *got = run_images(plan, input, all, 4);
        check_logits(t, got, logits, all, 4, "torch's own BN-fused export");
        free(got);
        plan_free(plan);
    }
    // Dynamic batch: one image at a time, and 7 images (a batch the export never saw).
    plan = make_plan(t, graph, be, 1, 1, 1);
    for (int i = 0; plan && i < 4; i++) {
        real *got = run_images(plan, input, &i, 1);
        check_logits(t, got, logits, &i, 1, "batch 1");
        free(got);
    }
    plan_free(plan);
    const int seven[7] = {3, 1, 2, 0, 0, 2, 1};
    plan = make_plan(t, graph, be, 7, 1, 1);
    if (plan) {
        CHECK(t, plan->tensors[plan->outputs[0]].shape.dims[0] == 7, "output batch is not 7");
        real *got = run_images(plan, input, seven, 7);
        check_logits(t, got, logits, seven, 7, "batch 7");
        free(got);
        plan_free(plan);
    }
done:
    host_tensor_free(input);
    host_tensor_free(logits);
    onnx_graph_free(graph);
    onnx_graph_free(fused_graph);
}

// Running batches must not allocate device memory: the plan owns all of it.
static void check_no_allocation_per_batch(TestContext *t, Backend *cpu) {
    CountingBackend counting = {.base = *cpu, .inner = cpu};
    counting.base.alloc = counting_alloc;
    counting.base.release = counting_release;
    char err[1024];
    OnnxGraph *graph = NULL;
    HostTensor *input = NULL;
    if (onnx_graph_load_file(FIXTURES "tiny_resnet.onnx", &graph, err, sizeof err) != LOAD_OK ||
        onnx_tensor_read_file(FIXTURES "tiny_resnet_input.pb", &input, err, sizeof err) != LOAD_OK) {
        CHECK(t, 0, "%s", err);
        onnx_graph_free(graph);
        return;
    }
    PlanOptions options = plan_default_options();
    options.batch_size = 4;
    options.append_softmax = 1;
    Plan *plan = NULL;
    CHECK(t, plan_create(graph, &counting.base, &options, &plan, err, sizeof err) == LOAD_OK, "%s",
          err);
    if (plan) {
        int after_planning = counting.allocs;
        CHECK(t, after_planning <= 2, "planning made %d allocations (arena + weights expected)",
              after_planning);
        for (int i = 0; i < 3; i++) {
            plan_upload_input(plan, 0, input->floats);
            plan_run(plan);
        }
        CHECK(t, counting.allocs == after_planning, "running batches allocated %d times",
              counting.allocs - after_planning);
        // The appended softmax gives probabilities: rows sum to 1.
        real probabilities[40];
        plan_download_tensor(plan, plan->probabilities, probabilities);
        for (int i = 0; i < 4; i++) {
            double sum = 0;
            for (int c = 0; c < 10; c++) sum += probabilities[i * 10 + c];
            CHECK_CLOSE(t, sum, 1.0, 0, 1e-5, "probability row sum");
        }
    }
    plan_free(plan);
    host_tensor_free(input);
    onnx_graph_free(graph);
}

static Plan *plan_with_layouts(TestContext *t, const OnnxGraph *graph, Backend *be, int batch,
                               int channels_last) {
    PlanOptions options = plan_default_options();
    options.batch_size = batch;
    options.channels_last = channels_last;
    Plan *plan = NULL;
    char err[1024];
    CHECK(t, plan_create(graph, be, &options, &plan, err, sizeof err) == LOAD_OK,
          "plan (channels_last %d): %s", channels_last, err);
    return plan;
}

// Channels-last activations (plan_layout.c) on the two fixture ResNets (one with
// 1x1 projection shortcuts, one with PyTorch's option-A Pad/Slice shortcut: residuals
// that come NCHW into a channels-last block) for every kernel set this CPU runs and
// 1 and 2 threads: the plan keeps activations channels-last where the set's vectors
// fit the channels (the portable set's 4 lanes fit all of them), and the logits are
// bit-identical to the NCHW plan's and within 1e-4 of PyTorch's.
static void check_channels_last(TestContext *t) {
    static const char *const models[2][3] = {
        {FIXTURES "tiny_resnet.onnx", FIXTURES "tiny_resnet_input.pb", FIXTURES "tiny_resnet_logits.pb"},
        {FIXTURES "cifar_pad_resnet_op13.onnx", FIXTURES "cifar_pad_input.pb",
         FIXTURES "cifar_pad_logits.pb"}};
    const CpuKernels *sets[3];
    const int n_sets = cpu_kernels_available(sets, 3);
    char err[1024];
    for (int m = 0; m < 2; m++) {
        OnnxGraph *graph = NULL;
        HostTensor *input = NULL, *logits = NULL;
        if (onnx_graph_load_file(models[m][0], &graph, err, sizeof err) != LOAD_OK ||
            onnx_tensor_read_file(models[m][1], &input, err, sizeof err) != LOAD_OK ||
            onnx_tensor_read_file(models[m][2], &logits, err, sizeof err) != LOAD_OK) {
            CHECK(t, 0, "%s", err);
        } else {
            const int batch = (int)input->shape.dims[0];
            int images[64];
            for (int i = 0; i < batch && i < 64; i++) images[i] = i;
            for (int set = 0; set < n_sets; set++)
                for (int threads = 1; threads <= 2; threads++) {
                    const CpuBackendOptions o = {threads, sets[set]->isa, NULL};
                    Backend *be = backend_cpu_create_with(&o, err, sizeof err);
                    CHECK(t, be != NULL, "cpu backend %s: %s", sets[set]->isa, err);
                    if (!be) continue;
                    Plan *last = plan_with_layouts(t, graph, be, batch, 1);
                    Plan *first = plan_with_layouts(t, graph, be, batch, 0);
                    if (last && first) {
                        real *got = run_images(last, input, images, batch);
                        real *want = run_images(first, input, images, batch);
                        const size_t n = last->tensors[last->outputs[0]].count;
                        char what[256];
                        snprintf(what, sizeof what, "%s, %s, %d threads, channels-last", models[m][0],
                                 sets[set]->isa, threads);
                        CHECK(t, first->stats.channels_last == 0, "%s: none without the option", what);
                        if (strcmp(sets[set]->isa, "portable") == 0)
                            CHECK(t, last->stats.channels_last > 0, "%s: %d activations kept", what,
                                  last->stats.channels_last);
                        CHECK(t, memcmp(got, want, n * sizeof(real)) == 0,
                              "%s (%d activations): logits bit-identical to NCHW", what,
                              last->stats.channels_last);
                        check_logits(t, got, logits, images, batch, what);
                        check_no_clobbering(t, last);
                        free(got), free(want);
                    }
                    plan_free(last), plan_free(first);
                    be->destroy(be);
                }
        }
        host_tensor_free(input), host_tensor_free(logits);
        onnx_graph_free(graph);
    }
}

int main(void) {
    TestContext t = {"test_onnx_plan", 0, 0, 0};
    char err[256];
    Backend *be = backend_create("cpu", 2, err, sizeof err);
    CHECK(&t, be != NULL, "cpu backend: %s", err);
    if (be) {
        check_fixture(&t, be);
        check_no_allocation_per_batch(&t, be);
        be->destroy(be);
    }
    check_channels_last(&t);
    return test_finish(&t);
}
