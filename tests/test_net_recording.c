// The per-block recording cache (common/net_recording.c) on the CPU.
//
// The CUDA backend records blocks as CUDA graphs; a graph replays the pointers
// it was captured with, so the cache must key every recording by everything
// that can change those pointers. This test checks that logic without a GPU: a
// wrapper around the CPU backend implements record/replay the same way (ops
// called while recording are stored, not run; replay runs the stored calls with
// their stored arguments; a "memory generation" makes recordings stale). A net
// trained through it must match, bit for bit, the same net trained eagerly,
// under random gate patterns (which move each block's input pointer), with the
// workspace "moving" mid-run, with partial batches and in evaluation; and the
// counts must show that replays really happened.
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "net.h"
#include "preset.h"
#include "rng.h"

enum { MAX_RECORDED_OPS = 64, MAX_LIVE = 1024, STEPS = 14, BATCH = 4 };

typedef enum {
    OP_CONV_FWD, OP_CONV_BWD_DATA, OP_CONV_BWD_FILTER, OP_BN_TRAIN, OP_BN_BWD, OP_RELU_FWD,
    OP_RELU_BWD, OP_RESIDUAL, OP_ACCUMULATE, OP_SHORTCUT_A_FWD, OP_SHORTCUT_A_BWD,
} OpKind;

typedef struct {
    OpKind kind;
    ConvGeom conv;
    OutputClamp clamp;
    BatchNormGeom bn;
    size_t count;
    int batch, in_c, in_h, in_w, out_c;
    real scalar_a, scalar_b;
    const real *in[6];
    real *out[5];
} RecordedOp;

typedef struct {
    int n_ops;
    unsigned generation;
    RecordedOp ops[MAX_RECORDED_OPS];
} Recording;

typedef struct {
    Backend base;   // must be first: the net sees this table
    Backend *cpu;   // does the arithmetic
    Recording *open;
    unsigned generation;
    int overflow, unrecordable_calls;
    Recording *live[MAX_LIVE];  // recordings made and not yet freed
    int n_live;
} RecordingBackend;

static RecordingBackend *rb(Backend *be) { return (RecordingBackend *)be; }

// Stores the op while recording (returns 1), else returns 0 and the caller runs it.
static int stash(Backend *be, const RecordedOp *op) {
    RecordingBackend *r = rb(be);
    if (!r->open) return 0;
    if (r->open->n_ops == MAX_RECORDED_OPS) {
        r->overflow = 1;
        return 1;
    }
    r->open->ops[r->open->n_ops++] = *op;
    return 1;
}

static void run_op(Backend *cpu, const RecordedOp *op) {
    switch (op->kind) {
    case OP_CONV_FWD:
        cpu->conv2d_forward(cpu, &op->conv, op->in[0], op->in[1], op->in[2], op->in[3],
                            op->clamp, op->out[0]);
        break;
    case OP_CONV_BWD_DATA:
        cpu->conv2d_backward_data(cpu, &op->conv, op->in[0], op->in[1], op->out[0]);
        break;
    case OP_CONV_BWD_FILTER:
        cpu->conv2d_backward_filter(cpu, &op->conv, op->in[0], op->in[1], op->out[0]);
        break;
    case OP_BN_TRAIN:
        cpu->batchnorm_forward_train(cpu, &op->bn, op->in[0], op->in[1], op->in[2], op->scalar_a,
                                     op->scalar_b, op->out[0], op->out[1], op->out[2], op->out[3],
                                     op->out[4]);
        break;
    case OP_BN_BWD:
        cpu->batchnorm_backward(cpu, &op->bn, op->in[0], op->in[1], op->in[2], op->in[3],
                                op->in[4], op->scalar_a, op->out[0], op->out[1], op->out[2]);
        break;
    case OP_RELU_FWD: cpu->relu_forward(cpu, op->count, op->in[0], op->out[0]); break;
    case OP_RELU_BWD: cpu->relu_backward(cpu, op->count, op->in[0], op->in[1], op->out[0]); break;
    case OP_RESIDUAL:
        cpu->residual_forward(cpu, op->count, op->scalar_a, op->in[0], op->in[1], op->out[0]);
        break;
    case OP_ACCUMULATE: cpu->accumulate(cpu, op->count, op->in[0], op->out[0]); break;
    case OP_SHORTCUT_A_FWD:
        cpu->shortcut_a_forward(cpu, op->batch, op->in_c, op->in_h, op->in_w, op->out_c,
                                op->in[0], op->out[0]);
        break;
    case OP_SHORTCUT_A_BWD:
        cpu->shortcut_a_backward_accumulate(cpu, op->batch, op->in_c, op->in_h, op->in_w,
                                            op->out_c, op->in[0], op->out[0]);
        break;
    }
}

static void stash_or_run(Backend *be, const RecordedOp *op) {
    if (!stash(be, op)) run_op(rb(be)->cpu, op);
}

static void w_conv_fwd(Backend *be, const ConvGeom *g, const real *x, const real *w,
                       const real *bias, const real *residual, OutputClamp clamp, real *y) {
    RecordedOp op = {.kind = OP_CONV_FWD, .conv = *g, .clamp = clamp,
                     .in = {x, w, bias, residual}, .out = {y}};
    stash_or_run(be, &op);
}

static void w_conv_bwd_data(Backend *be, const ConvGeom *g, const real *w, const real *dy,
                            real *dx) {
    RecordedOp op = {.kind = OP_CONV_BWD_DATA, .conv = *g, .in = {w, dy}, .out = {dx}};
    stash_or_run(be, &op);
}

static void w_conv_bwd_filter(Backend *be, const ConvGeom *g, const real *x, const real *dy,
                              real *dw) {
    RecordedOp op = {.kind = OP_CONV_BWD_FILTER, .conv = *g, .in = {x, dy}, .out = {dw}};
    stash_or_run(be, &op);
}

static void w_bn_train(Backend *be, const BatchNormGeom *g, const real *x, const real *gamma,
                       const real *beta, real momentum, real eps, real *running_mean,
                       real *running_var, real *save_mean, real *save_invstd, real *y) {
    RecordedOp op = {.kind = OP_BN_TRAIN, .bn = *g, .scalar_a = momentum, .scalar_b = eps,
                     .in = {x, gamma, beta},
                     .out = {running_mean, running_var, save_mean, save_invstd, y}};
    stash_or_run(be, &op);
}

static void w_bn_bwd(Backend *be, const BatchNormGeom *g, const real *x, const real *dy,
                     const real *gamma, const real *save_mean, const real *save_invstd, real eps,
                     real *dx, real *dgamma, real *dbeta) {
    RecordedOp op = {.kind = OP_BN_BWD, .bn = *g, .scalar_a = eps,
                     .in = {x, dy, gamma, save_mean, save_invstd},
                     .out = {dx, dgamma, dbeta}};
    stash_or_run(be, &op);
}

static void w_relu_fwd(Backend *be, size_t count, const real *x, real *y) {
    RecordedOp op = {.kind = OP_RELU_FWD, .count = count, .in = {x}, .out = {y}};
    stash_or_run(be, &op);
}

static void w_relu_bwd(Backend *be, size_t count, const real *y, const real *dy, real *dx) {
    RecordedOp op = {.kind = OP_RELU_BWD, .count = count, .in = {y, dy}, .out = {dx}};
    stash_or_run(be, &op);
}

static void w_residual(Backend *be, size_t count, real branch_scale, const real *branch,
                       const real *shortcut, real *y) {
    RecordedOp op = {.kind = OP_RESIDUAL, .count = count, .scalar_a = branch_scale,
                     .in = {branch, shortcut}, .out = {y}};
    stash_or_run(be, &op);
}

static void w_accumulate(Backend *be, size_t count, const real *src, real *dst) {
    RecordedOp op = {.kind = OP_ACCUMULATE, .count = count, .in = {src}, .out = {dst}};
    stash_or_run(be, &op);
}

static void w_shortcut_a_fwd(Backend *be, int batch, int in_c, int in_h, int in_w, int out_c,
                             const real *x, real *y) {
    RecordedOp op = {.kind = OP_SHORTCUT_A_FWD, .batch = batch, .in_c = in_c, .in_h = in_h,
                     .in_w = in_w, .out_c = out_c, .in = {x}, .out = {y}};
    stash_or_run(be, &op);
}

static void w_shortcut_a_bwd(Backend *be, int batch, int in_c, int in_h, int in_w, int out_c,
                             const real *dy, real *dx) {
    RecordedOp op = {.kind = OP_SHORTCUT_A_BWD, .batch = batch, .in_c = in_c, .in_h = in_h,
                     .in_w = in_w, .out_c = out_c, .in = {dy}, .out = {dx}};
    stash_or_run(be, &op);
}

// An op the blocks must never call while recording (it would run out of order).
static void w_fill(Backend *be, real *dst, size_t count, real value) {
    if (rb(be)->open) rb(be)->unrecordable_calls++;
    rb(be)->cpu->fill(rb(be)->cpu, dst, count, value);
}

static int w_record_begin(Backend *be) {
    RecordingBackend *r = rb(be);
    if (r->open) return -1;
    r->open = calloc(1, sizeof *r->open);
    if (!r->open) return -1;
    r->open->generation = r->generation;
    return 0;
}

static void *w_record_end(Backend *be) {
    RecordingBackend *r = rb(be);
    Recording *done = r->open;
    r->open = NULL;
    if (r->n_live == MAX_LIVE) {
        r->overflow = 1;
        free(done);
        return NULL;
    }
    r->live[r->n_live++] = done;
    return done;
}

static int w_replay(Backend *be, void *recording) {
    Recording *rec = recording;
    if (rec->generation != rb(be)->generation) return -1;
    for (int i = 0; i < rec->n_ops; i++) run_op(rb(be)->cpu, &rec->ops[i]);
    return 0;
}

static void w_recording_free(Backend *be, void *recording) {
    RecordingBackend *r = rb(be);
    for (int i = 0; i < r->n_live; i++)
        if (r->live[i] == recording) r->live[i] = r->live[--r->n_live];
    free(recording);
}

static int stale_live_recordings(const RecordingBackend *r) {
    int stale = 0;
    for (int i = 0; i < r->n_live; i++) stale += r->live[i]->generation != r->generation;
    return stale;
}

static void recording_backend_init(RecordingBackend *r, Backend *cpu) {
    memset(r, 0, sizeof *r);
    r->base = *cpu;
    r->cpu = cpu;
    r->base.name = "recording-cpu";
    r->base.conv2d_forward = w_conv_fwd;
    r->base.conv2d_backward_data = w_conv_bwd_data;
    r->base.conv2d_backward_filter = w_conv_bwd_filter;
    r->base.batchnorm_forward_train = w_bn_train;
    r->base.batchnorm_backward = w_bn_bwd;
    r->base.relu_forward = w_relu_fwd;
    r->base.relu_backward = w_relu_bwd;
    r->base.residual_forward = w_residual;
    r->base.accumulate = w_accumulate;
    r->base.shortcut_a_forward = w_shortcut_a_fwd;
    r->base.shortcut_a_backward_accumulate = w_shortcut_a_bwd;
    r->base.fill = w_fill;
    r->base.record_begin = w_record_begin;
    r->base.record_end = w_record_end;
    r->base.replay = w_replay;
    r->base.recording_free = w_recording_free;
}

// ---- the comparison -------------------------------------------------------------------

static int same(const real *a, const real *b, size_t count) {
    return memcmp(a, b, count * sizeof(real)) == 0;
}

static int build(Net *net, Backend *be, const char *preset_text, char *err, size_t err_len) {
    Preset preset;
    if (preset_parse(preset_text, "test preset", &preset, err, err_len) != 0) return -1;
    if (net_build(net, be, &preset, 3, 16, 16, 10, BATCH, err, err_len) != 0) return -1;
    Rng init;
    rng_seed(&init, 5, RNG_STREAM_INIT);
    net_init_params(net, &init);
    net_set_survival(net, "uniform", 0.5);  // many gate patterns: many input pointers
    return 0;
}

static void check_preset(TestContext *t, Backend *cpu, const char *name, const char *text) {
    RecordingBackend rec_be;
    recording_backend_init(&rec_be, cpu);
    Net eager, recorded;
    char err[512];
    if (build(&eager, cpu, text, err, sizeof err) != 0 ||
        build(&recorded, &rec_be.base, text, err, sizeof err) != 0) {
        CHECK(t, 0, "%s: %s", name, err);
        return;
    }
    CHECK(t, net_enable_recording(&recorded) == 1, "%s: recording enabled", name);
    Rng data, gates_rng;
    rng_seed(&data, 11, RNG_STREAM_AUGMENT);
    rng_seed(&gates_rng, 12, RNG_STREAM_GATES);
    size_t image = 3 * 16 * 16;
    float images[BATCH * 3 * 16 * 16];
    int32_t labels[BATCH];
    uint8_t gates[64];
    int mismatched_steps = 0;
    for (int step = 0; step < STEPS; step++) {
        // A partial batch now and then: those blocks must run eagerly, not replay.
        int batch = step % 5 == 4 ? BATCH - 1 : BATCH;
        for (size_t i = 0; i < (size_t)batch * image; i++) images[i] = (float)rng_normal(&data);
        for (int i = 0; i < batch; i++) labels[i] = (int32_t)rng_below(&data, 10);
        net_draw_gates(&eager, &gates_rng, gates);
        if (step == STEPS / 2) rec_be.generation++;  // the workspace "moved": all stale
        Net *nets[2] = {&eager, &recorded};
        for (int n = 0; n < 2; n++) {
            net_set_batch(nets[n], images, labels, batch);
            net_forward(nets[n], batch, gates, NET_TRAIN);
            net_backward(nets[n], batch);
            net_sgd_step(nets[n], 0.05f, 0.9f, 1e-4f, 1, step == 0);
        }
        int ok = same(eager.params, recorded.params, eager.n_params) &&
                 same(eager.grads, recorded.grads, eager.n_params) &&
                 same(eager.bn_state, recorded.bn_state, eager.n_bn_state) &&
                 same(eager.loss, recorded.loss, 1);
        mismatched_steps += !ok;
    }
    CHECK(t, mismatched_steps == 0,
          "%s: %d of %d steps differ between recorded/replayed and eager training", name,
          mismatched_steps, STEPS);
    net_forward(&eager, BATCH, NULL, NET_EVAL);
    net_forward(&recorded, BATCH, NULL, NET_EVAL);
    CHECK(t, same(eager.logits, recorded.logits, (size_t)BATCH * eager.n_classes),
          "%s: evaluation logits identical", name);
    long long replays, recordings, eager_runs;
    net_recording_counts(&recorded, &replays, &recordings, &eager_runs);
    CHECK(t, replays > 2 * recorded.n_blocks, "%s: %lld replays (the cache was used)", name,
          replays);
    CHECK(t, recordings > 0 && eager_runs > 0, "%s: %lld recordings, %lld eager block runs",
          name, recordings, eager_runs);
    // The move made every recording stale; keys that never come back must not keep
    // theirs (they would fill the block's slots for good).
    CHECK(t, stale_live_recordings(&rec_be) == 0,
          "%s: %d stale recordings still held after the workspace moved", name,
          stale_live_recordings(&rec_be));
    CHECK(t, !rec_be.overflow && rec_be.unrecordable_calls == 0,
          "%s: recordings fit (%d) and no unrecordable op was called while recording (%d)", name,
          rec_be.overflow, rec_be.unrecordable_calls);
    net_free(&eager);
    net_free(&recorded);  // frees its recordings through the wrapper
}

int main(void) {
    TestContext t = {"net_recording", 0, 0, 0};
    char err[512];
    Backend *cpu = backend_cpu_create(1, err, sizeof err);
    if (!cpu) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    check_preset(&t, cpu, "option A",
                 "name a\nblock basic\nshortcut A\nstem 4 3 1\nstages 3x4 3x8\n");
    check_preset(&t, cpu, "projection",
                 "name p\nblock basic\nshortcut projection\nstem 4 3 1\nstages 2x4 3x8\n");
    check_preset(&t, cpu, "bottleneck",
                 "name b\nblock bottleneck\nshortcut projection\nstem 4 3 1\nstages 2x2 2x4\n");
    Net plain;
    Preset preset;
    preset_parse("name a\nblock basic\nshortcut A\nstem 4 3 1\nstages 1x4\n", "p", &preset, err,
                 sizeof err);
    if (net_build(&plain, cpu, &preset, 3, 8, 8, 10, 2, err, sizeof err) == 0) {
        CHECK(&t, net_enable_recording(&plain) == 0 && plain.recordings == NULL,
              "the CPU backend offers no recording: enabling it changes nothing");
        net_free(&plain);
    } else {
        CHECK(&t, 0, "net_build: %s", err);
    }
    cpu->destroy(cpu);
    return test_finish(&t);
}
