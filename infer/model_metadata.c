#include "model_metadata.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

int model_metadata_read(const OnnxGraph *graph, ModelMetadata *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    out->with_preprocessing = -1;
    const char *text = onnx_graph_metadata(graph, "dataset");
    if (text) snprintf(out->dataset, sizeof out->dataset, "%s", text);
    if ((text = onnx_graph_metadata(graph, "classes"))) {
        char *end;
        errno = 0;
        long classes = strtol(text, &end, 10);
        if (!*text || *end || errno || classes < 1 || classes > 1000000) {
            snprintf(err, err_len, "%s: metadata 'classes' = '%s' is not a class count",
                     graph->source, text);
            return -1;
        }
        out->classes = (int)classes;
    }
    if ((text = onnx_graph_metadata(graph, "with_preprocessing"))) {
        if (strcmp(text, "0") != 0 && strcmp(text, "1") != 0) {
            snprintf(err, err_len, "%s: metadata 'with_preprocessing' = '%s' is not 0 or 1",
                     graph->source, text);
            return -1;
        }
        out->with_preprocessing = text[0] == '1';
    }
    const char *mean = onnx_graph_metadata(graph, "norm_mean");
    const char *std = onnx_graph_metadata(graph, "norm_std");
    if (!mean && !std) return 0;
    Normalization *n = &out->normalization;
    int n_mean = mean ? parse_float_list(mean, n->mean, SD_MAX_CHANNELS) : -1;
    int n_std = std ? parse_float_list(std, n->std, SD_MAX_CHANNELS) : -1;
    int valid = n_mean >= 1 && n_mean == n_std;
    for (int c = 0; valid && c < n_std; c++) valid = n->std[c] > 0;
    if (!valid) {
        snprintf(err, err_len, "%s: metadata norm_mean/norm_std ('%s' / '%s') are not matching "
                 "lists of floats with positive std", graph->source, mean ? mean : "(absent)",
                 std ? std : "(absent)");
        return -1;
    }
    n->channels = n_mean;
    out->has_normalization = 1;
    return 0;
}
