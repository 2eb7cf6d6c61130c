// Files that declare huge tensors are refused, with a message naming the file and
// the size, before the memory is asked for. A counting wrapper around the CPU
// backend records every device allocation, so "refused before allocating" is
// checked, not assumed:
//   - a checkpoint whose metadata describes a network too large for the limit
//     (input_shape 3x60000x60000), or one whose preset has more parameters than
//     the file holds: no allocation at all;
//   - a network whose sizes overflow a size_t (net_measure and net_build);
//   - an ONNX plan whose activations exceed PlanOptions.max_memory_bytes: no
//     allocation above the limit.
// The MATLAB, IDX and CIFAR readers' bounds are tested in test_datasets.c and
// test_svhn_foreign.c.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/checkpoint.h"
#include "../common/host_memory.h"
#include "../common/net.h"
#include "../common/rng.h"
#include "../infer/onnx_graph.h"
#include "../infer/plan.h"
#include "harness.h"

typedef struct {
    Backend base;    // a copy of the CPU backend's table with alloc replaced
    Backend *inner;  // the real CPU backend
    int allocs;
    size_t largest;
} CountingBackend;

static void *counting_alloc(Backend *be, size_t bytes) {
    CountingBackend *counting = (CountingBackend *)be;
    counting->allocs++;
    if (bytes > counting->largest) counting->largest = bytes;
    return counting->inner->alloc(counting->inner, bytes);
}

static void counting_reset(CountingBackend *counting) {
    counting->allocs = 0;
    counting->largest = 0;
}

static const char *TINY_PRESET =
    "name tiny-a\nblock basic\nshortcut A\nstem 4 3 1\nstem-pool none\nstages 2x4 1x8\n";
static const char *WIDER_PRESET =
    "name tiny-wider\nblock basic\nshortcut A\nstem 4 3 1\nstem-pool none\nstages 2x4 1x12\n";

// Rewrites the checkpoint at `from` into `to` with one metadata value replaced.
static int rewrite_metadata(const char *from, const char *to, const char *key, const char *value,
                            char *err, size_t err_len) {
    Checkpoint ck;
    if (checkpoint_open(from, &ck, err, err_len) != 0) return -1;
    const SafetensorsFile *file = &ck.file;
    SafetensorsTensor *tensors = calloc((size_t)file->n_tensors + 1, sizeof *tensors);
    MetaMap metadata;
    metamap_init(&metadata);
    int status = tensors ? 0 : -1;
    for (int i = 0; status == 0 && i < file->metadata.count; i++)
        status = metamap_set(&metadata, file->metadata.entries[i].key,
                             file->metadata.entries[i].value);
    if (status == 0) status = metamap_set(&metadata, key, value);
    for (int i = 0; status == 0 && i < file->n_tensors; i++) {
        const SafetensorsEntry *e = &file->tensors[i];
        tensors[i] = (SafetensorsTensor){.name = e->name, .dtype = e->dtype, .rank = e->rank,
                                         .data = safetensors_entry_data(file, e)};
        memcpy(tensors[i].shape, e->shape, sizeof e->shape);
    }
    if (status == 0)
        status = safetensors_write(to, tensors, file->n_tensors, &metadata, err, err_len);
    metamap_free(&metadata);
    free(tensors);
    checkpoint_close(&ck);
    return status;
}

static void expect_build_refused(TestContext *t, CountingBackend *be, const char *path,
                                 const char *phrase, const char *what) {
    Checkpoint ck;
    char err[1024] = "";
    if (checkpoint_open(path, &ck, err, sizeof err) != 0) {
        CHECK(t, 0, "%s: open: %s", what, err);
        return;
    }
    counting_reset(be);
    Net net;
    int status = checkpoint_build_net(&ck, &be->base, 1, &net, err, sizeof err);
    CHECK(t, status == -1, "%s: build returned %d, want -1", what, status);
    CHECK(t, strstr(err, path) && strstr(err, phrase), "%s: message '%s' lacks the file or '%s'",
          what, err, phrase);
    CHECK(t, be->allocs == 0, "%s: %d device allocations (largest %zu bytes) before refusing",
          what, be->allocs, be->largest);
    if (status == 0) net_free(&net);
    checkpoint_close(&ck);
}

static void test_checkpoints(TestContext *t, CountingBackend *be, const char *dir) {
    char err[1024] = "", good[512], huge[512], wider[512];
    snprintf(good, sizeof good, "%s/good.ckpt", dir);
    snprintf(huge, sizeof huge, "%s/huge_input.ckpt", dir);
    snprintf(wider, sizeof wider, "%s/wider_preset.ckpt", dir);
    Preset preset;
    Net net;
    int ok = preset_parse(TINY_PRESET, "tiny", &preset, err, sizeof err) == 0 &&
             net_build(&net, be->inner, &preset, 3, 8, 8, 5, 1, err, sizeof err) == 0;
    CHECK(t, ok, "tiny network: %s", err);
    if (!ok) return;
    Rng rng;
    rng_seed(&rng, 3, 0);
    net_init_params(&net, &rng);
    ok = checkpoint_save(good, &net, NULL, 0, err, sizeof err) == 0 &&
         rewrite_metadata(good, huge, CKPT_KEY_INPUT_SHAPE, "3,60000,60000", err, sizeof err) == 0 &&
         rewrite_metadata(good, wider, CKPT_KEY_PRESET, WIDER_PRESET, err, sizeof err) == 0;
    net_free(&net);
    CHECK(t, ok, "writing the checkpoints: %s", err);
    if (!ok) return;
    Checkpoint ck;
    counting_reset(be);
    ok = checkpoint_open(good, &ck, err, sizeof err) == 0 &&
         checkpoint_build_net(&ck, &be->base, 1, &net, err, sizeof err) == 0;
    CHECK(t, ok && be->allocs > 0, "the unchanged checkpoint builds (%d allocations): %s",
          be->allocs, err);
    if (ok) {
        net_free(&net);
        checkpoint_close(&ck);
    }
    // 3x60000x60000 at batch 1: the stem's activations alone are 4 x 3.6e9 floats.
    expect_build_refused(t, be, huge, "MiB, more than the limit of", "3x60000x60000 input");
    // By hand, weights + BN (gamma, beta, mean, var): stem 4*3*9 + 16 = 124; stage 1,
    // two blocks of 2 x (4*4*9 + 16) = 640; fc 5*W + 5. Stage 2 (one block, 4 -> W):
    // W = 8: 8*4*9 + 32 + 8*8*9 + 32 = 928, fc 45, total 1737;
    // W = 12: 12*4*9 + 48 + 12*12*9 + 48 = 1824, fc 65, total 2653.
    expect_build_refused(t, be, wider, "has 2653 parameters and statistics, but the file's "
                         "tensors hold 1737 values", "preset wider than the tensors");
}

static void test_overflowing_network(TestContext *t, CountingBackend *be) {
    // 8 stages of 10000 blocks of width 65536 on 4096x65536x65536 inputs: the
    // activations alone are beyond 2^64 bytes.
    const char *text = "name absurd\nstem 65536 3 1\n"
                       "stages 10000x65536 10000x65536 10000x65536 10000x65536 10000x65536 "
                       "10000x65536 10000x65536 10000x65536\n";
    Preset preset;
    char err[512] = "";
    CHECK(t, preset_parse(text, "absurd", &preset, err, sizeof err) == 0, "absurd preset: %s",
          err);
    NetSize size;
    CHECK(t, net_measure(&preset, 4096, 65536, 65536, 10, 64, &size, err, sizeof err) == -1 &&
                 strstr(err, "size_t"),
          "net_measure refuses the overflow: '%s'", err);
    counting_reset(be);
    Net net;
    int status = net_build(&net, &be->base, &preset, 4096, 65536, 65536, 10, 64, err, sizeof err);
    CHECK(t, status == -1 && strstr(err, "size_t") && be->allocs == 0,
          "net_build refuses it without allocating (%d allocations): '%s'", be->allocs, err);
    if (status == 0) net_free(&net);
    // A sane network: net_measure agrees with what net_build lays out.
    CHECK(t, preset_parse(TINY_PRESET, "tiny", &preset, err, sizeof err) == 0, "tiny: %s", err);
    int measured = net_measure(&preset, 3, 32, 32, 10, 4, &size, err, sizeof err) == 0;
    status = net_build(&net, &be->base, &preset, 3, 32, 32, 10, 4, err, sizeof err);
    CHECK(t, measured && status == 0 && size.params == net.n_params &&
                 size.bn_state == net.n_bn_state && size.bytes > size.params * sizeof(real),
          "net_measure (%zu params, %zu statistics) matches net_build (%zu, %zu)", size.params,
          size.bn_state, net.n_params, net.n_bn_state);
    if (status == 0) net_free(&net);
}

static void test_plan_limit(TestContext *t, CountingBackend *be) {
    const char *path = "tests/corpus/onnx/ok_dynamic_batch.onnx";  // x [batch, 3, 4, 4]
    OnnxGraph *graph = NULL;
    char err[1024] = "";
    if (onnx_graph_load_file(path, &graph, err, sizeof err) != LOAD_OK) {
        CHECK(t, 0, "%s: %s", path, err);
        return;
    }
    PlanOptions options = plan_default_options();
    CHECK(t, options.max_memory_bytes == host_memory_bytes() && options.max_memory_bytes > 0,
          "the default plan limit is the host's memory (%zu bytes)", options.max_memory_bytes);
    options.max_memory_bytes = 64 << 10;
    options.batch_size = 4;
    Plan *plan = NULL;
    counting_reset(be);
    LoadStatus status = plan_create(graph, &be->base, &options, &plan, err, sizeof err);
    CHECK(t, status == LOAD_OK, "batch 4 fits in 64 KiB: %s", err);
    plan_free(plan);
    plan = NULL;
    options.batch_size = 100000;  // 100000 x 3 x 4 x 4 floats and more: about 19 MiB
    counting_reset(be);
    status = plan_create(graph, &be->base, &options, &plan, err, sizeof err);
    CHECK(t, status == LOAD_UNSUPPORTED && plan == NULL && strstr(err, path) &&
                 strstr(err, "more than the limit of 0.1 MiB") && strstr(err, "batch 100000"),
          "batch 100000 refused: '%s'", err);
    CHECK(t, be->largest <= options.max_memory_bytes,
          "no allocation above the limit before refusing (largest %zu bytes)", be->largest);
    plan_free(plan);
    onnx_graph_free(graph);
}

int main(void) {
    TestContext t = {"test_resource_bounds", 0, 0, 0};
    char err[256];
    CountingBackend be = {.inner = backend_cpu_create(1, err, sizeof err)};
    if (!be.inner) {
        fprintf(stderr, "cpu backend: %s\n", err);
        return 1;
    }
    be.base = *be.inner;
    be.base.alloc = counting_alloc;
    const char *tmp = getenv("TMPDIR");
    char dir_path[512];
    snprintf(dir_path, sizeof dir_path, "%s/test_resource_bounds_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir_path)) {
        perror(dir_path);
        return 2;
    }
    test_checkpoints(&t, &be, dir_path);
    test_overflowing_network(&t, &be);
    test_plan_limit(&t, &be);
    const char *names[] = {"good.ckpt", "huge_input.ckpt", "wider_preset.ckpt"};
    for (int i = 0; i < 3; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir_path, names[i]);
        unlink(path);
    }
    rmdir(dir_path);
    be.inner->destroy(be.inner);
    return test_finish(&t);
}
