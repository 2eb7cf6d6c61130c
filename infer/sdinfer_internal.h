// The layouts behind libsdinfer's opaque handles (infer/sdinfer.h), for the
// library's own files and for the sdinfer program, which reaches the plan for
// its evaluation, benchmark and profile reports. Not installed.
#ifndef SD_INFER_SDINFER_INTERNAL_H
#define SD_INFER_SDINFER_INTERNAL_H

#include "batch_lanes.h"
#include "model_metadata.h"
#include "onnx_graph.h"
#include "plan.h"
#include "sdinfer.h"

// Handles start with a tag, cleared when freed: a freed or foreign pointer is
// refused while its memory still holds what it held.
#define SDINFER_MODEL_TAG 0x5344494du    // "SDIM"
#define SDINFER_CONTEXT_TAG 0x53444943u  // "SDIC"

#define SDINFER_MAX_CLASS_NAMES 100000

struct sdinfer_model {
    uint32_t tag;
    OnnxGraph *graph;
    ModelMetadata metadata;
    sdinfer_load_options options;
    char precision[16];   // options.precision points here
    int n_class_names;
    char **class_names;   // from "class_names" metadata, NULL when absent
};

struct sdinfer_context {
    uint32_t tag;
    const sdinfer_model *model;
    sdinfer_context_options options;
    Backend *be;
    Plan *plan;
    BatchLanes *lanes;   // the batch as per-thread chunks (CPU), or NULL: the plan runs whole
    char lanes_note[256];  // what runs the batch: the lanes, or why not
    size_t input_size;   // elements per sample
    size_t output_size;
    char err[1024];
};

// Whether the pointers are live handles (tag intact).
int sdi_model_valid(const sdinfer_model *model);
int sdi_context_valid(const sdinfer_context *context);

// snprintf into err when err is not NULL; returns status.
sdinfer_status sdi_fail(sdinfer_status status, char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

// The planned backend/plan of a context: the plan's output tensor (softmax applied or not).
int sdi_context_result_tensor(const sdinfer_context *context);

// One batch of host input through the context (lanes or the whole plan) into host
// result rows. 0, or -1 with the message in context->err.
int sdi_context_run_host(sdinfer_context *context, const float *input, float *output);

#endif
