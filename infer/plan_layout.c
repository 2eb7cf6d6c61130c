// Channels-last activations between convolutions that prefer them.
//
// The CPU backend computes a stride-1 3x3 convolution by Winograd tiles that hold
// vectors of channels, so an NCHW input is transposed to channels-last first and the
// output transposed back: at batch 256 of ResNet-110 those two transposes took about a
// quarter of sdinfer's time. Inside a ResNet stage nearly every activation goes from
// such a convolution to such convolutions only (the next block's first conv reads it,
// its second conv adds it as the residual), so it can stay channels-last and both
// transposes vanish. This pass marks those tensors and tells each convolution the
// layout of its input, output and residual (ConvGeom's flags); the backend handles
// any mix (the first block of a stage adds an NCHW shortcut, the last one hands NCHW
// to the strided convolution and the pooling after it).
//
// A tensor is kept channels-last only when the backend accepts channels-last for the
// convolution that writes it (conv2d_channels_last) and for every step that reads it,
// each of them such a convolution reading it as its input or its residual. Graph
// inputs and outputs, and tensors seen through a view (Reshape, Flatten), stay NCHW.
// Results are bit-identical either way (tests/test_conv_winograd.c, test_onnx_plan.c).
#include <stdlib.h>

#include "plan_builder.h"

enum { CONV_INPUT = 0, CONV_RESIDUAL = 3 };  // PlanStep.inputs slots of a STEP_CONV

static int accepts_channels_last(const PlanBuilder *b, const PlanStep *step) {
    if (step->kind != STEP_CONV || !b->be->conv2d_channels_last) return 0;
    ConvGeom plain = step->p.conv.geom;
    plain.in_channels_last = plain.out_channels_last = plain.residual_channels_last = 0;
    return b->be->conv2d_channels_last(b->be, &plain);
}

static int owner(const PlanBuilder *b, int tensor) { return tensor < 0 ? -1 : b->alias[tensor]; }

static void stay_nchw(char *keep, int tensor) {
    if (tensor >= 0) keep[tensor] = 0;
}

// keep[t]: 1 while tensor t may stay channels-last.
static void mark_candidates(const PlanBuilder *b, const char *accepts, char *keep) {
    const Plan *plan = b->plan;
    for (int s = 0; s < plan->n_steps; s++)
        if (accepts[s]) keep[plan->steps[s].output] = 1;
    // Views and the graph's own inputs and outputs are read as NCHW.
    for (int t = 0; t < plan->n_tensors; t++)
        if (b->alias[t] != t) keep[b->alias[t]] = keep[t] = 0;
    for (int i = 0; i < plan->n_inputs; i++) stay_nchw(keep, owner(b, plan->inputs[i]));
    for (int i = 0; i < plan->n_outputs; i++) stay_nchw(keep, owner(b, plan->outputs[i]));
    // Every reader must be a convolution that takes it as input or residual.
    for (int s = 0; s < plan->n_steps; s++) {
        const PlanStep *step = &plan->steps[s];
        for (int slot = 0; slot < step->n_inputs; slot++) {
            if (!accepts[s] || (slot != CONV_INPUT && slot != CONV_RESIDUAL))
                stay_nchw(keep, owner(b, step->inputs[slot]));
        }
    }
}

int plan_choose_layouts(PlanBuilder *b) {
    Plan *plan = b->plan;
    if (!b->options.channels_last || !b->be->conv2d_channels_last) return 0;
    char *accepts = calloc((size_t)plan->n_steps + 1, 1);
    char *keep = calloc((size_t)plan->n_tensors + 1, 1);
    if (!accepts || !keep) {
        free(accepts), free(keep);
        return -1;
    }
    for (int s = 0; s < plan->n_steps; s++) accepts[s] = (char)accepts_channels_last(b, &plan->steps[s]);
    mark_candidates(b, accepts, keep);
    for (int s = 0; s < plan->n_steps; s++) {
        PlanStep *step = &plan->steps[s];
        if (!accepts[s]) continue;
        ConvGeom *g = &step->p.conv.geom;
        const int input = owner(b, step->inputs[CONV_INPUT]);
        const int residual = step->n_inputs > CONV_RESIDUAL ? owner(b, step->inputs[CONV_RESIDUAL]) : -1;
        // conv(x) + x may be written over x (plan_memory.c): the backend must then read x
        // through its own channels-last copy, which it makes only for an NCHW input.
        g->in_channels_last = input >= 0 && keep[input] && input != residual;
        g->out_channels_last = keep[step->output];
        g->residual_channels_last = residual >= 0 && keep[residual];
    }
    for (int t = 0; t < plan->n_tensors; t++) plan->stats.channels_last += keep[t];
    free(accepts), free(keep);
    return 0;
}
