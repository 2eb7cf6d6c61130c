// libsdinfer: run contexts, one plan and one backend each (see sdinfer.h).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdinfer_internal.h"

// The API hands float buffers straight to the plan.
_Static_assert(sizeof(real) == sizeof(float), "libsdinfer is built with real = float");

int sdi_context_valid(const sdinfer_context *context) {
    return context && context->tag == SDINFER_CONTEXT_TAG;
}

void sdinfer_context_options_init(sdinfer_context_options *options) {
    if (options) *options = (sdinfer_context_options){0};
}

int sdi_context_result_tensor(const sdinfer_context *context) {
    const Plan *plan = context->plan;
    return context->options.softmax ? plan->probabilities : plan->outputs[0];
}

// A model whose input 0 declares a fixed batch takes that batch only.
static int fixed_batch(const sdinfer_model *model) {
    const GraphValue *v = &model->graph->values[model->graph->inputs[0]];
    return v->declared_rank >= 1 && v->declared_dims[0] > 0 ? (int)v->declared_dims[0] : 0;
}

// SDINFER_CHUNK: images per lane chunk; 0 turns lanes off; unset: chosen per model.
static int chunk_from_environment(int *chunk, char *err, size_t err_len) {
    const char *text = getenv("SDINFER_CHUNK");
    *chunk = -1;
    if (!text) return 0;
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (end == text || *end || errno || value < 0 || value > 1 << 20) {
        sdi_fail(SDINFER_ERR_ARGUMENT, err, err_len,
                 "SDINFER_CHUNK='%s': expected a number of images >= 0 (0: no lanes)", text);
        return -1;
    }
    *chunk = (int)value;
    return 0;
}

// On the CPU a batch of several chunks runs as lanes (batch_lanes.h) when the plan allows.
static sdinfer_status choose_lanes(sdinfer_context *c, const PlanOptions *plan_options,
                                   char *err, size_t err_len) {
    const sdinfer_load_options *o = &c->model->options;
    int chunk;
    if (chunk_from_environment(&chunk, err, err_len) != 0) return SDINFER_ERR_ARGUMENT;
    if (o->device != SDINFER_DEVICE_CPU || fixed_batch(c->model) || chunk == 0) {
        snprintf(c->lanes_note, sizeof c->lanes_note, "one plan (%s)",
                 o->device != SDINFER_DEVICE_CPU ? "device"
                 : chunk == 0                    ? "SDINFER_CHUNK=0"
                                                 : "the model's batch is fixed");
        return SDINFER_OK;
    }
    BatchLanesOptions lane_options = {
        .threads = backend_cpu_thread_count(o->threads),
        .chunk = chunk > 0 ? chunk : 0,
        .softmax = c->options.softmax,
        .precision = o->precision,
    };
    char why[160];
    c->lanes = batch_lanes_create(c->plan, plan_options, &lane_options, why, sizeof why);
    if (c->lanes) {
        char lanes[160];
        batch_lanes_describe(c->lanes, lanes, sizeof lanes);
        snprintf(c->lanes_note, sizeof c->lanes_note, "%s", lanes);
    } else {
        snprintf(c->lanes_note, sizeof c->lanes_note, "one plan (%s)", why);
    }
    return SDINFER_OK;
}

static sdinfer_status plan_for_batch(sdinfer_context *c, int batch, char *err, size_t err_len) {
    batch_lanes_free(c->lanes);
    c->lanes = NULL;
    plan_free(c->plan);
    c->plan = NULL;
    PlanOptions options = plan_default_options();
    options.batch_size = batch;
    options.append_softmax = c->options.softmax;
    LoadStatus status = plan_create(c->model->graph, c->be, &options, &c->plan, err, err_len);
    if (status != LOAD_OK) {
        c->plan = NULL;
        return status == LOAD_UNSUPPORTED ? SDINFER_ERR_UNSUPPORTED : SDINFER_ERR_INVALID;
    }
    const Plan *plan = c->plan;
    c->input_size = plan->n_inputs ? plan->tensors[plan->inputs[0]].count / (size_t)plan->batch_size
                                   : 0;
    c->output_size =
        plan->tensors[sdi_context_result_tensor(c)].count / (size_t)plan->batch_size;
    return choose_lanes(c, &options, err, err_len);
}

static sdinfer_status check_create_arguments(const sdinfer_model *model,
                                             const sdinfer_context_options *options, char *err,
                                             size_t err_len) {
    if (!sdi_model_valid(model))
        return sdi_fail(SDINFER_ERR_ARGUMENT, err, err_len,
                            model ? "not a model handle (freed?)" : "model is NULL");
    if (options && (options->batch_size < 0 || (options->softmax != 0 && options->softmax != 1)))
        return sdi_fail(SDINFER_ERR_ARGUMENT, err, err_len,
                            "context options: batch_size %d (needs >= 0), softmax %d (0 or 1)",
                            options->batch_size, options->softmax);
    return SDINFER_OK;
}

static sdinfer_status make_backend(sdinfer_context *c, char *err, size_t err_len) {
    const sdinfer_load_options *o = &c->model->options;
    c->be = backend_create(o->device == SDINFER_DEVICE_CUDA ? "cuda" : "cpu", o->threads, err,
                           err_len);
    if (!c->be) return SDINFER_ERR_DEVICE;
    if (o->precision && c->be->set_precision(c->be, o->precision) != 0)
        return sdi_fail(SDINFER_ERR_UNSUPPORTED, err, err_len,
                            "the %s backend does not offer precision '%s'", c->be->name,
                            o->precision);
    return SDINFER_OK;
}

sdinfer_status sdinfer_context_create(const sdinfer_model *model,
                                      const sdinfer_context_options *options,
                                      sdinfer_context **context, char *err, size_t err_len) {
    if (err && err_len) err[0] = '\0';
    if (!context) return sdi_fail(SDINFER_ERR_ARGUMENT, err, err_len, "context is NULL");
    *context = NULL;
    sdinfer_status status = check_create_arguments(model, options, err, err_len);
    if (status != SDINFER_OK) return status;
    sdinfer_context *c = calloc(1, sizeof *c);
    if (!c) return sdi_fail(SDINFER_ERR_NO_MEMORY, err, err_len, "out of memory");
    c->tag = SDINFER_CONTEXT_TAG;
    c->model = model;
    sdinfer_context_options_init(&c->options);
    if (options) c->options = *options;
    char *message = err ? err : c->err;
    size_t message_len = err ? err_len : sizeof c->err;
    status = make_backend(c, message, message_len);
    if (status == SDINFER_OK) status = plan_for_batch(c, c->options.batch_size, message, message_len);
    if (status != SDINFER_OK) {
        sdinfer_context_free(c);
        return status;
    }
    *context = c;
    return SDINFER_OK;
}

void sdinfer_context_free(sdinfer_context *context) {
    if (!sdi_context_valid(context)) return;
    context->tag = 0;
    batch_lanes_free(context->lanes);
    plan_free(context->plan);
    if (context->be) context->be->destroy(context->be);
    free(context);
}

size_t sdinfer_context_input_size(const sdinfer_context *context) {
    return sdi_context_valid(context) && context->plan ? context->input_size : 0;
}

size_t sdinfer_context_output_size(const sdinfer_context *context) {
    return sdi_context_valid(context) && context->plan ? context->output_size : 0;
}

const char *sdinfer_context_error(const sdinfer_context *context) {
    if (!context) return "context is NULL";
    if (!sdi_context_valid(context)) return "not a context handle (freed?)";
    return context->err;
}

static sdinfer_status check_run(sdinfer_context *c, int batch, const float *input,
                                size_t input_count, const float *output, size_t output_count) {
    const sdinfer_model *model = c->model;
    if (model->graph->n_inputs != 1)
        return sdi_fail(SDINFER_ERR_UNSUPPORTED, c->err, sizeof c->err,
                            "%s has %d runtime inputs; sdinfer_run feeds models with one",
                            model->graph->source, model->graph->n_inputs);
    int fixed = fixed_batch(model);
    if (batch < 1 || (fixed && batch != fixed))
        return sdi_fail(SDINFER_ERR_SIZE, c->err, sizeof c->err,
                            fixed ? "batch %d: %s takes a fixed batch of %d"
                                  : "batch %d: needs at least 1 (%s, %d)",
                            batch, model->graph->source, fixed);
    if (!input || !output)
        return sdi_fail(SDINFER_ERR_ARGUMENT, c->err, sizeof c->err, "%s is NULL",
                            input ? "output" : "input");
    if (!c->plan || c->plan->batch_size != batch) {
        sdinfer_status status = plan_for_batch(c, batch, c->err, sizeof c->err);
        if (status != SDINFER_OK) return status;
    }
    size_t want_in = (size_t)batch * c->input_size, want_out = (size_t)batch * c->output_size;
    if (input_count != want_in)
        return sdi_fail(SDINFER_ERR_SIZE, c->err, sizeof c->err,
                            "input has %zu floats; a batch of %d needs %zu (%zu per sample)",
                            input_count, batch, want_in, c->input_size);
    if (output_count < want_out)
        return sdi_fail(SDINFER_ERR_SIZE, c->err, sizeof c->err,
                            "output has room for %zu floats; a batch of %d gives %zu",
                            output_count, batch, want_out);
    return SDINFER_OK;
}

sdinfer_status sdinfer_run(sdinfer_context *context, int batch, const float *input,
                           size_t input_count, float *output, size_t output_count) {
    if (!sdi_context_valid(context)) return SDINFER_ERR_ARGUMENT;
    context->err[0] = '\0';
    sdinfer_status status = check_run(context, batch, input, input_count, output, output_count);
    if (status != SDINFER_OK) return status;
    if (sdi_context_run_host(context, input, output) != 0) return SDINFER_ERR_DEVICE;
    return SDINFER_OK;
}

int sdi_context_run_host(sdinfer_context *context, const float *input, float *output) {
    if (context->lanes)
        return batch_lanes_run(context->lanes, input, output, context->err, sizeof context->err);
    Plan *plan = context->plan;
    plan_upload_input(plan, 0, input);
    plan_run(plan);
    plan_download_tensor(plan, sdi_context_result_tensor(context), output);
    plan->be->synchronize(plan->be);
    // A failed launch or allocation must not pass for a result.
    return context->be->last_error(context->be, context->err, sizeof context->err) != 0 ? -1 : 0;
}
