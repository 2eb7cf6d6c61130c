// Whether a plan computes each sample of the batch from that sample alone, so that
// the batch can run in independent chunks (batch_lanes.c) and give the same rows.
// Decided step by step from what each step kind does with the batch axis; a step
// kind or a use of one that this file does not know to be per-sample makes the
// whole plan "not separable" (the plan then runs whole, as before).
#include <stdarg.h>
#include <stdio.h>

#include "plan.h"

typedef struct {
    const Plan *plan;
    int64_t batch;
    char *why;
    size_t why_len;
} SeparableCheck;

__attribute__((format(printf, 3, 4))) static int refuse(SeparableCheck *c, const PlanStep *step,
                                                        const char *fmt, ...) {
    char reason[160];
    va_list args;
    va_start(args, fmt);
    vsnprintf(reason, sizeof reason, fmt, args);
    va_end(args);
    const char *node = step && step->node >= 0 ? c->plan->graph->nodes[step->node].name : "";
    snprintf(c->why, c->why_len, "%s%s%s", node, *node ? ": " : "", reason);
    return 0;
}

static const PlanTensor *tensor(const SeparableCheck *c, int id) { return &c->plan->tensors[id]; }

// An activation with the batch as its first axis (rows of one sample contiguous).
static int batch_major(const SeparableCheck *c, int id) {
    const PlanTensor *t = tensor(c, id);
    return !t->is_constant && t->shape.rank >= 1 && t->shape.dims[0] == c->batch;
}

// Every activation a step reads or writes is batch-major; constants may be read.
static int operands_batch_major(SeparableCheck *c, const PlanStep *step, int constants_allowed) {
    if (!batch_major(c, step->output))
        return refuse(c, step, "its output does not have the batch as its first axis");
    for (int k = 0; k < step->n_inputs; k++) {
        int id = step->inputs[k];
        if (id < 0) continue;
        if (tensor(c, id)->is_constant ? !constants_allowed : !batch_major(c, id))
            return refuse(c, step, "input %d is not a batch-major activation", k);
    }
    return 1;
}

// A broadcast operand must not vary along the batch unless it is the batch itself.
static int binary_separable(SeparableCheck *c, const PlanStep *step) {
    const TensorShape *out = &tensor(c, step->output)->shape;
    if (!batch_major(c, step->output))
        return refuse(c, step, "its output does not have the batch as its first axis");
    for (int k = 0; k < step->n_inputs; k++) {
        const PlanTensor *t = tensor(c, step->inputs[k]);
        if (t->shape.rank < out->rank) continue;  // broadcast over the batch axis
        if (t->shape.dims[0] == 1) continue;
        if (!batch_major(c, step->inputs[k]))
            return refuse(c, step, "input %d varies along the batch but is not an activation", k);
    }
    return 1;
}

static int pad_separable(SeparableCheck *c, const PlanStep *step) {
    const int rank = tensor(c, step->inputs[0])->shape.rank;
    if (step->p.pad.pads[0] != 0 || step->p.pad.pads[rank] != 0)
        return refuse(c, step, "it pads the batch axis");
    return operands_batch_major(c, step, 1);
}

static int slice_separable(SeparableCheck *c, const PlanStep *step) {
    if (step->p.slice.starts[0] != 0 || step->p.slice.steps[0] != 1 ||
        tensor(c, step->output)->shape.dims[0] != c->batch)
        return refuse(c, step, "it slices the batch axis");
    return operands_batch_major(c, step, 0);
}

static int softmax_separable(SeparableCheck *c, const PlanStep *step) {
    const int64_t outer = step->p.softmax.outer;
    if (outer < c->batch || outer % c->batch != 0)
        return refuse(c, step, "it normalises across the batch axis");
    return operands_batch_major(c, step, 0);
}

static int gemm_separable(SeparableCheck *c, const PlanStep *step) {
    if (step->p.gemm.trans_a || step->p.gemm.m != c->batch ||
        !tensor(c, step->inputs[1])->is_constant)
        return refuse(c, step, "a Gemm whose rows are not the batch's samples");
    return operands_batch_major(c, step, 1);
}

// Only a product whose rows are the samples (A [batch, ..., k] times a constant B).
static int matmul_separable(SeparableCheck *c, const PlanStep *step) {
    if (step->p.matmul.batch != 1 || !tensor(c, step->inputs[1])->is_constant)
        return refuse(c, step, "a batched MatMul");
    return operands_batch_major(c, step, 1);
}

// Per image, with constant weights.
static int per_image(SeparableCheck *c, const PlanStep *step) {
    return operands_batch_major(c, step, 1);
}

// Element by element over activations.
static int elementwise(SeparableCheck *c, const PlanStep *step) {
    return operands_batch_major(c, step, 0);
}

static int concat_separable(SeparableCheck *c, const PlanStep *step) {
    if (step->p.concat.axis == 0) return refuse(c, step, "it concatenates along the batch");
    return operands_batch_major(c, step, 0);
}

static int transpose_separable(SeparableCheck *c, const PlanStep *step) {
    if (step->p.transpose.perm[0] != 0) return refuse(c, step, "it moves the batch axis");
    return operands_batch_major(c, step, 0);
}

// One rule per step kind: a new kind does not build until it says what it does with
// the batch axis.
typedef int (*SeparableRule)(SeparableCheck *c, const PlanStep *step);
static const SeparableRule separable_rules[] = {
    [STEP_CONV] = per_image,
    [STEP_BATCHNORM] = per_image,
    [STEP_RELU] = elementwise,
    [STEP_ADD_RELU] = elementwise,
    [STEP_BINARY] = binary_separable,
    [STEP_MAXPOOL] = per_image,
    [STEP_AVGPOOL] = per_image,
    [STEP_GLOBAL_AVGPOOL] = per_image,
    [STEP_PAD] = pad_separable,
    [STEP_CONCAT] = concat_separable,
    [STEP_SLICE] = slice_separable,
    [STEP_SOFTMAX] = softmax_separable,
    [STEP_FC] = per_image,
    [STEP_GEMM] = gemm_separable,
    [STEP_MATMUL] = matmul_separable,
    [STEP_CONV_GROUPED] = per_image,
    [STEP_ACTIVATION] = elementwise,
    [STEP_TRANSPOSE] = transpose_separable,
};
_Static_assert(sizeof separable_rules / sizeof separable_rules[0] == STEP_KIND_COUNT,
               "every step kind has a batch rule");

int plan_batch_separable(const Plan *plan, char *why, size_t why_len) {
    SeparableCheck c = {plan, plan->batch_size, why, why_len};
    if (why_len) why[0] = '\0';
    if (plan->n_inputs != 1 || !batch_major(&c, plan->inputs[0]))
        return refuse(&c, NULL, "the model does not have one input with the batch first");
    for (int o = 0; o < plan->n_outputs; o++)
        if (!batch_major(&c, plan->outputs[o]))
            return refuse(&c, NULL, "output %d does not have the batch first", o);
    for (int s = 0; s < plan->n_steps; s++)
        if (!separable_rules[plan->steps[s].kind](&c, &plan->steps[s])) return 0;
    return 1;
}
