// The metadata_props sdexport writes into its models, as sdinfer reads them:
//   producer "sdexport", "dataset", "classes", "with_preprocessing" ("0"/"1"),
//   "norm_mean" and "norm_std" (comma-separated floats, in units of pixel/255).
// Models from elsewhere have none of these; every field is then "unknown".
#ifndef SD_INFER_MODEL_METADATA_H
#define SD_INFER_MODEL_METADATA_H

#include <stddef.h>

#include "../common/dataset.h"
#include "onnx_graph.h"

typedef struct {
    char dataset[32];         // "" when absent
    int classes;              // 0 when absent
    int with_preprocessing;   // 1: the graph normalises pixel/255 itself; 0: no; -1: absent
    int has_normalization;    // norm_mean and norm_std present and consistent
    Normalization normalization;
} ModelMetadata;

// Returns 0, or -1 with a message when a present key holds a malformed value.
int model_metadata_read(const OnnxGraph *graph, ModelMetadata *out, char *err, size_t err_len);

#endif
