// Runs a plan: one backend call (a few for MatMul batches and Concat parts)
// per step, or one for a run of convolution steps where the backend takes them as a
// sequence, on device pointers fixed at planning time. Nothing is allocated
// here, and nothing here knows which device runs.
#include <stdio.h>
#include <time.h>

#include "plan.h"

static const real *in(const Plan *plan, const PlanStep *step, int k) {
    int id = k < step->n_inputs ? step->inputs[k] : -1;
    return id >= 0 ? plan->tensors[id].data : NULL;
}

static const TensorShape *in_shape(const Plan *plan, const PlanStep *step, int k) {
    return &plan->tensors[step->inputs[k]].shape;
}

static void run_concat(Plan *plan, const PlanStep *step, real *y) {
    const TensorShape *out_shape = &plan->tensors[step->output].shape;
    int64_t offset = 0;
    for (int k = 0; k < step->n_inputs; k++) {
        const TensorShape *part = in_shape(plan, step, k);
        plan->be->concat_part(plan->be, part, in(plan, step, k), step->p.concat.axis, offset,
                              out_shape, y);
        offset += part->dims[step->p.concat.axis];
    }
}

// Linear index into a (possibly broadcast) batch shape for the output batch index.
static int64_t broadcast_batch_index(const TensorShape *batch, const TensorShape *out_batch,
                                     int64_t index) {
    int64_t linear = 0, stride = 1;
    for (int d = out_batch->rank - 1; d >= 0; d--) {
        int64_t coordinate = index % out_batch->dims[d];
        index /= out_batch->dims[d];
        if (batch->dims[d] != 1) linear += coordinate * stride;
        stride *= batch->dims[d];
    }
    return linear;
}

static void run_matmul(Plan *plan, const PlanStep *step, real *y) {
    int m = step->p.matmul.m, n = step->p.matmul.n, k = step->p.matmul.k;
    const real *a = in(plan, step, 0), *b = in(plan, step, 1);
    for (int64_t i = 0; i < step->p.matmul.batch; i++) {
        int64_t ai = broadcast_batch_index(&step->p.matmul.a_batch, &step->p.matmul.out_batch, i);
        int64_t bi = broadcast_batch_index(&step->p.matmul.b_batch, &step->p.matmul.out_batch, i);
        plan->be->gemm(plan->be, 0, 0, m, n, k, 1, a + ai * m * k, b + bi * k * n, 0,
                       y + i * m * n);
    }
}

// One function per step kind, all with the same signature: y is the step's output
// (out->data). The table below dispatches; the planner chose the kind (infer/ops/).
typedef void (*StepRunner)(Plan *plan, const PlanStep *step, const PlanTensor *out, real *y);

// inputs: x, w, bias (or -1), and the residual when an Add was fused in (plan_fusion.c)
static ConvCall conv_call(const Plan *plan, const PlanStep *step) {
    ConvCall call = {&step->p.conv.geom, in(plan, step, 0), in(plan, step, 1), in(plan, step, 2),
                     in(plan, step, 3),  step->p.conv.clamp, plan->tensors[step->output].data};
    return call;
}

static void run_conv(Plan *plan, const PlanStep *step, const PlanTensor *out, real *y) {
    (void)out, (void)y;
    const ConvCall c = conv_call(plan, step);
    plan->be->conv2d_forward(plan->be, c.g, c.x, c.w, c.bias, c.residual, c.clamp, c.y);
}

// A grouped or dilated convolution with what fusion put into its step: the residual of
// an Add (input 3) and the ReLU or Clip, in the backend's epilogue.
static void run_conv_grouped(Plan *plan, const PlanStep *step, const PlanTensor *out, real *y) {
    (void)out;
    Backend *be = plan->be;
    const ConvExtras *extras = &step->p.conv.extras;
    be->conv2d_grouped_forward(be, &step->p.conv.geom, extras->groups, extras->dilation_h,
                               extras->dilation_w, in(plan, step, 0), in(plan, step, 1),
                               in(plan, step, 2), in(plan, step, 3), step->p.conv.clamp, y);
}

static void run_batchnorm(Plan *plan, const PlanStep *step, const PlanTensor *out, real *y) {
    (void)out;
    plan->be->batchnorm_forward_eval(plan->be, &step->p.batchnorm, in(plan, step, 0),
                                     in(plan, step, 1), in(plan, step, 2), in(plan, step, 3),
                                     in(plan, step, 4), step->epsilon, y);
}

static void run_relu(Plan *plan, const PlanStep *step, const PlanTensor *out, real *y) {
    plan->be->relu_forward(plan->be, out->count, in(plan, step, 0), y);
}

static void run_add_relu(Plan *plan, const PlanStep *step, const PlanTensor *out, real *y) {
    plan->be->residual_forward(plan->be, out->count, 1, in(plan, step, 0), in(plan, step, 1), y);
}

static void run_binary(Plan *plan, const PlanStep *step, const PlanTensor *out, real *y) {
    plan->be->binary_broadcast(plan->be, step->p.binary, in_shape(plan, step, 0),
                               in(plan, step, 0), in_shape(plan, step, 1), in(plan, step, 1),
                               &out->shape, y);
}

static void run_maxpool(Plan *plan, const PlanStep *step, const PlanTensor *out, real *y) {
    (void)out;
    plan->be->maxpool_forward(plan->be, &step->p.pool, in(plan, step, 0), y);
}

static void run_avgpool(Plan *plan, const PlanStep *step, const PlanTensor *out, real *y) {
    (void)out;
    plan->be->avgpool_forward(plan->be, &step->p.pool, in(plan, step, 0), y);
}

static void run_global_avgpool(Plan *plan, const PlanStep *step, const PlanTensor *out, real *y) {
    (void)out;
    plan->be->global_avgpool_forward(plan->be, step->p.global_pool.batch,
                                     step->p.global_pool.channels, step->p.global_pool.spatial,
                                     in(plan, step, 0), y);
}

static void run_pad(Plan *plan, const PlanStep *step, const PlanTensor *out, real *y) {
    Backend *be = plan->be;
    if (step->p.pad.mode == PAD_CONSTANT)
        be->pad_constant(be, in_shape(plan, step, 0), in(plan, step, 0), step->p.pad.pads,
                         step->p.pad.value, &out->shape, y);
    else
        be->pad_border(be, in_shape(plan, step, 0), in(plan, step, 0), step->p.pad.pads,
                       step->p.pad.mode == PAD_REFLECT, &out->shape, y);
}

static void run_concat_step(Plan *plan, const PlanStep *step, const PlanTensor *out, real *y) {
    (void)out;
    run_concat(plan, step, y);
}

static void run_slice(Plan *plan, const PlanStep *step, const PlanTensor *out, real *y) {
    plan->be->slice(plan->be, in_shape(plan, step, 0), in(plan, step, 0), step->p.slice.starts,
                    step->p.slice.steps, &out->shape, y);
}

static void run_softmax(Plan *plan, const PlanStep *step, const PlanTensor *out, real *y) {
    (void)out;
    Backend *be = plan->be;
    if (step->p.softmax.after > 1)
        be->softmax_axis(be, step->p.softmax.outer, step->p.softmax.inner, step->p.softmax.after,
                         in(plan, step, 0), y);
    else
        be->softmax(be, step->p.softmax.outer, step->p.softmax.inner, in(plan, step, 0), y);
}

static void run_activation(Plan *plan, const PlanStep *step, const PlanTensor *out, real *y) {
    plan->be->activation_forward(plan->be, step->p.activation.op, out->count,
                                 step->p.activation.alpha, step->p.activation.beta,
                                 in(plan, step, 0), y);
}

static void run_transpose(Plan *plan, const PlanStep *step, const PlanTensor *out, real *y) {
    plan->be->transpose(plan->be, in_shape(plan, step, 0), in(plan, step, 0),
                        step->p.transpose.perm, &out->shape, y);
}

static void run_fc(Plan *plan, const PlanStep *step, const PlanTensor *out, real *y) {
    (void)out;
    plan->be->fc_forward(plan->be, step->p.fc.batch, step->p.fc.in_features,
                         step->p.fc.out_features, in(plan, step, 0), in(plan, step, 1),
                         in(plan, step, 2), y);
}

static void run_gemm(Plan *plan, const PlanStep *step, const PlanTensor *out, real *y) {
    (void)out;
    plan->be->gemm(plan->be, step->p.gemm.trans_a, step->p.gemm.trans_b, step->p.gemm.m,
                   step->p.gemm.n, step->p.gemm.k, step->p.gemm.alpha, in(plan, step, 0),
                   in(plan, step, 1), 0, y);
}

static void run_matmul_step(Plan *plan, const PlanStep *step, const PlanTensor *out, real *y) {
    (void)out;
    run_matmul(plan, step, y);
}

static const StepRunner step_runners[] = {
    [STEP_CONV] = run_conv,
    [STEP_BATCHNORM] = run_batchnorm,
    [STEP_RELU] = run_relu,
    [STEP_ADD_RELU] = run_add_relu,
    [STEP_BINARY] = run_binary,
    [STEP_MAXPOOL] = run_maxpool,
    [STEP_AVGPOOL] = run_avgpool,
    [STEP_GLOBAL_AVGPOOL] = run_global_avgpool,
    [STEP_PAD] = run_pad,
    [STEP_CONCAT] = run_concat_step,
    [STEP_SLICE] = run_slice,
    [STEP_SOFTMAX] = run_softmax,
    [STEP_FC] = run_fc,
    [STEP_GEMM] = run_gemm,
    [STEP_MATMUL] = run_matmul_step,
    [STEP_CONV_GROUPED] = run_conv_grouped,
    [STEP_ACTIVATION] = run_activation,
    [STEP_TRANSPOSE] = run_transpose,
};
_Static_assert(sizeof step_runners / sizeof step_runners[0] == STEP_KIND_COUNT,
               "every step kind has a runner");

static void run_step(Plan *plan, const PlanStep *step) {
    const PlanTensor *out = &plan->tensors[step->output];
    step_runners[step->kind](plan, step, out, out->data);
}

// The convolution steps from s up to the next other step, as one sequence (a ResNet
// stage is one). Returns how many.
static int run_conv_sequence(Plan *plan, int s) {
    int count = 0;
    for (; s + count < plan->n_steps && plan->steps[s + count].kind == STEP_CONV; count++)
        plan->conv_calls[count] = conv_call(plan, &plan->steps[s + count]);
    plan->be->conv2d_forward_sequence(plan->be, plan->conv_calls, count);
    return count;
}

void plan_run(Plan *plan) {
    for (int s = 0; s < plan->n_steps;) {
        if (plan->steps[s].kind == STEP_CONV && plan->be->conv2d_forward_sequence) {
            s += run_conv_sequence(plan, s);
            continue;
        }
        run_step(plan, &plan->steps[s++]);
    }
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void plan_run_profiled(Plan *plan, double *step_seconds) {
    for (int s = 0; s < plan->n_steps; s++) {
        double start = now_seconds();
        run_step(plan, &plan->steps[s]);
        plan->be->synchronize(plan->be);
        step_seconds[s] += now_seconds() - start;
    }
}

void plan_upload_input(Plan *plan, int input_index, const real *host) {
    const PlanTensor *t = &plan->tensors[plan->inputs[input_index]];
    plan->be->upload(plan->be, t->data, host, t->count * sizeof(real));
}

void plan_download_tensor(Plan *plan, int tensor_id, real *host) {
    const PlanTensor *t = &plan->tensors[tensor_id];
    plan->be->download(plan->be, host, t->data, t->count * sizeof(real));
}

static const char *step_name(StepKind kind) {
    static const char *names[] = {"conv", "batchnorm", "relu", "add+relu", "binary",
                                  "maxpool", "avgpool", "global_avgpool", "pad", "concat",
                                  "slice", "softmax", "fc", "gemm", "matmul", "conv_grouped",
                                  "activation", "transpose"};
    return names[kind];
}

void plan_describe(const Plan *plan, const double *step_seconds, void *stream) {
    FILE *out = stream;
    double total = 0;
    for (int s = 0; step_seconds && s < plan->n_steps; s++) total += step_seconds[s];
    for (int s = 0; s < plan->n_steps; s++) {
        const PlanStep *step = &plan->steps[s];
        const PlanTensor *t = &plan->tensors[step->output];
        char shape[128];
        const char *node = step->node >= 0 ? plan->graph->nodes[step->node].name : "(planner)";
        fprintf(out, "  step %3d  %-14s %-28s -> %s", s, step_name(step->kind), node,
                shape_format(&t->shape, shape, sizeof shape));
        const int is_conv = step->kind == STEP_CONV || step->kind == STEP_CONV_GROUPED;
        const OutputClamp clamp = step->p.conv.clamp;
        if (is_conv && step->n_inputs > 3) fprintf(out, " +add");
        if (is_conv && clamp_is_relu(clamp)) fprintf(out, " +relu");
        else if (is_conv && clamp.on) fprintf(out, " +clip(%g,%g)", clamp.min, clamp.max);
        fprintf(out, "  @%zu", t->offset * sizeof(real));
        if (step_seconds && total > 0)
            fprintf(out, "  %.3f ms (%.1f%%)", 1e3 * step_seconds[s], 100 * step_seconds[s] / total);
        fprintf(out, "\n");
    }
}
