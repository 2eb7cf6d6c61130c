// libsdinfer: loading a model and asking it what it is (see sdinfer.h).
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/class_names.h"
#include "file_util.h"
#include "sdinfer_internal.h"

sdinfer_status sdi_fail(sdinfer_status status, char *err, size_t err_len, const char *fmt, ...) {
    if (err && err_len) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err, err_len, fmt, args);
        va_end(args);
    }
    return status;
}

int sdi_model_valid(const sdinfer_model *model) {
    return model && model->tag == SDINFER_MODEL_TAG;
}

void sdinfer_load_options_init(sdinfer_load_options *options) {
    if (options) *options = (sdinfer_load_options){.device = SDINFER_DEVICE_CPU};
}

static const char *device_name(sdinfer_device device) {
    return device == SDINFER_DEVICE_CUDA ? "cuda" : "cpu";
}

// Takes a copy of the options and proves them on a throw-away backend, so that
// a device or precision the build cannot serve is refused at load, not at the
// first context.
static sdinfer_status set_options(sdinfer_model *m, const sdinfer_load_options *options,
                                  char *err, size_t err_len) {
    sdinfer_load_options_init(&m->options);
    if (options) m->options = *options;
    const sdinfer_load_options *o = &m->options;
    if (o->device != SDINFER_DEVICE_CPU && o->device != SDINFER_DEVICE_CUDA)
        return sdi_fail(SDINFER_ERR_ARGUMENT, err, err_len, "unknown device %d", (int)o->device);
    if (o->threads < 0 || o->threads > 4096)
        return sdi_fail(SDINFER_ERR_ARGUMENT, err, err_len,
                            "threads = %d: needs 0 (all cores) to 4096", o->threads);
    if (o->precision && strlen(o->precision) >= sizeof m->precision)
        return sdi_fail(SDINFER_ERR_ARGUMENT, err, err_len, "unknown precision '%s'",
                            o->precision);
    snprintf(m->precision, sizeof m->precision, "%s", o->precision ? o->precision : "");
    m->options.precision = o->precision ? m->precision : NULL;
    Backend *be = backend_create(device_name(o->device), o->threads, err, err_len);
    if (!be) return SDINFER_ERR_DEVICE;
    sdinfer_status status = SDINFER_OK;
    if (o->precision && be->set_precision(be, o->precision) != 0)
        status = sdi_fail(SDINFER_ERR_UNSUPPORTED, err, err_len,
                              "the %s backend does not offer precision '%s'", be->name,
                              o->precision);
    be->destroy(be);
    return status;
}

// "class_names": the JSON array sdexport writes (common/class_names.h), one name per
// class when "classes" is given too.
static sdinfer_status read_class_names(sdinfer_model *m, char *err, size_t err_len) {
    const char *text = onnx_graph_metadata(m->graph, "class_names");
    if (!text) return SDINFER_OK;
    char **names = NULL;
    int count = 0;
    if (class_names_from_json(text, m->graph->source, m->metadata.classes, &names, &count, err,
                              err_len) != 0)
        return SDINFER_ERR_INVALID;
    if (count > SDINFER_MAX_CLASS_NAMES) {
        class_names_free(names, count);
        return sdi_fail(SDINFER_ERR_INVALID, err, err_len,
                        "%s: metadata 'class_names' has %d names (at most %d)", m->graph->source,
                        count, SDINFER_MAX_CLASS_NAMES);
    }
    m->class_names = names;
    m->n_class_names = count;
    return SDINFER_OK;
}

static sdinfer_status finish_load(sdinfer_model *m, LoadStatus loaded,
                                  const sdinfer_load_options *options, char *err, size_t err_len) {
    if (loaded != LOAD_OK) return loaded == LOAD_UNSUPPORTED ? SDINFER_ERR_UNSUPPORTED
                                                              : SDINFER_ERR_INVALID;
    if (model_metadata_read(m->graph, &m->metadata, err, err_len) != 0) return SDINFER_ERR_INVALID;
    sdinfer_status status = read_class_names(m, err, err_len);
    if (status == SDINFER_OK) status = set_options(m, options, err, err_len);
    return status;
}

// Both entry points: base_dir is the model file's directory, where its external
// data files are (NULL for bytes from memory: such a model is refused).
static sdinfer_status load_model_bytes(const void *data, size_t size, const char *name,
                                       const char *base_dir, const sdinfer_load_options *options,
                                       sdinfer_model **model, char *err, size_t err_len) {
    if (err && err_len) err[0] = '\0';
    if (!model) return sdi_fail(SDINFER_ERR_ARGUMENT, err, err_len, "model is NULL");
    *model = NULL;
    if (!data && size) return sdi_fail(SDINFER_ERR_ARGUMENT, err, err_len, "data is NULL");
    if (size > SD_MAX_MODEL_BYTES)
        return sdi_fail(SDINFER_ERR_INVALID, err, err_len, "%s: %zu bytes, more than the "
                            "%zu a model may have", name ? name : "buffer", size,
                            (size_t)SD_MAX_MODEL_BYTES);
    sdinfer_model *m = calloc(1, sizeof *m);
    if (!m) return sdi_fail(SDINFER_ERR_NO_MEMORY, err, err_len, "out of memory");
    m->tag = SDINFER_MODEL_TAG;
    // The loader wants a message buffer; a caller who passed none still gets a status.
    char scratch[16];
    char *message = err ? err : scratch;
    size_t message_len = err ? err_len : sizeof scratch;
    OnnxExternalOptions external = {.base_dir = base_dir};
    LoadStatus loaded = onnx_graph_load_buffer_with(data, size, name ? name : "buffer", &external,
                                                    &m->graph, message, message_len);
    sdinfer_status status = finish_load(m, loaded, options, message, message_len);
    if (status != SDINFER_OK) {
        sdinfer_model_free(m);
        return status;
    }
    *model = m;
    return SDINFER_OK;
}

sdinfer_status sdinfer_model_load_buffer(const void *data, size_t size, const char *name,
                                         const sdinfer_load_options *options,
                                         sdinfer_model **model, char *err, size_t err_len) {
    return load_model_bytes(data, size, name, NULL, options, model, err, err_len);
}

sdinfer_status sdinfer_model_load_file(const char *path, const sdinfer_load_options *options,
                                       sdinfer_model **model, char *err, size_t err_len) {
    if (model) *model = NULL;
    if (!path || !model)
        return sdi_fail(SDINFER_ERR_ARGUMENT, err, err_len, "%s is NULL",
                            path ? "model" : "path");
    char scratch[16];
    uint8_t *data;
    size_t size;
    if (file_read_bounded(path, SD_MAX_MODEL_BYTES, &data, &size, err ? err : scratch,
                          err ? err_len : sizeof scratch) != 0)
        return SDINFER_ERR_IO;
    char *dir = onnx_external_base_dir(path);
    sdinfer_status status =
        dir ? load_model_bytes(data, size, path, dir, options, model, err, err_len)
            : sdi_fail(SDINFER_ERR_NO_MEMORY, err, err_len, "out of memory");
    free(dir);
    free(data);
    return status;
}

void sdinfer_model_free(sdinfer_model *model) {
    if (!sdi_model_valid(model)) return;
    model->tag = 0;
    for (int i = 0; i < model->n_class_names; i++) free(model->class_names[i]);
    free(model->class_names);
    onnx_graph_free(model->graph);
    free(model);
}

int sdinfer_model_input_count(const sdinfer_model *model) {
    return sdi_model_valid(model) ? model->graph->n_inputs : -1;
}

int sdinfer_model_output_count(const sdinfer_model *model) {
    return sdi_model_valid(model) ? model->graph->n_outputs : -1;
}

static sdinfer_status value_info(const sdinfer_model *model, const int *ids, int count, int index,
                                 sdinfer_tensor_info *info) {
    if (!sdi_model_valid(model) || !info) return SDINFER_ERR_ARGUMENT;
    if (index < 0 || index >= count) return SDINFER_ERR_NOT_FOUND;
    const GraphValue *v = &model->graph->values[ids[index]];
    memset(info, 0, sizeof *info);
    info->name = v->name;
    info->rank = v->declared_rank;
    for (int d = 0; d < v->declared_rank && d < SDINFER_MAX_DIMS; d++)
        info->dims[d] = v->declared_dims[d];
    return SDINFER_OK;
}

sdinfer_status sdinfer_model_input_info(const sdinfer_model *model, int index,
                                        sdinfer_tensor_info *info) {
    if (!sdi_model_valid(model)) return SDINFER_ERR_ARGUMENT;
    return value_info(model, model->graph->inputs, model->graph->n_inputs, index, info);
}

sdinfer_status sdinfer_model_output_info(const sdinfer_model *model, int index,
                                         sdinfer_tensor_info *info) {
    if (!sdi_model_valid(model)) return SDINFER_ERR_ARGUMENT;
    return value_info(model, model->graph->outputs, model->graph->n_outputs, index, info);
}

const char *sdinfer_model_metadata(const sdinfer_model *model, const char *key) {
    if (!sdi_model_valid(model) || !key) return NULL;
    return onnx_graph_metadata(model->graph, key);
}

int sdinfer_model_class_count(const sdinfer_model *model) {
    if (!sdi_model_valid(model)) return 0;
    return model->metadata.classes ? model->metadata.classes : model->n_class_names;
}

const char *sdinfer_model_class_name(const sdinfer_model *model, int index) {
    if (!sdi_model_valid(model) || index < 0 || index >= model->n_class_names) return NULL;
    return model->class_names[index];
}

// Channels of input 0 when it is declared NCHW, else 0.
static int input_channels(const sdinfer_model *model) {
    if (model->graph->n_inputs < 1) return 0;
    const GraphValue *v = &model->graph->values[model->graph->inputs[0]];
    return v->declared_rank == 4 && v->declared_dims[1] > 0 ? (int)v->declared_dims[1] : 0;
}

sdinfer_status sdinfer_model_normalization(const sdinfer_model *model, float *mean, float *std,
                                           int capacity, int *channels) {
    if (!sdi_model_valid(model) || !mean || !std || !channels || capacity < 1)
        return SDINFER_ERR_ARGUMENT;
    const ModelMetadata *md = &model->metadata;
    Normalization identity = {.channels = input_channels(model)};
    for (int c = 0; c < identity.channels && c < SD_MAX_CHANNELS; c++) identity.std[c] = 1;
    const Normalization *n = md->with_preprocessing == 1 && identity.channels > 0 ? &identity
                             : md->has_normalization                             ? &md->normalization
                                                                                 : NULL;
    if (!n) return SDINFER_ERR_NOT_FOUND;
    *channels = n->channels;
    for (int c = 0; c < n->channels && c < capacity && c < SD_MAX_CHANNELS; c++) {
        mean[c] = n->mean[c];
        std[c] = n->std[c];
    }
    return SDINFER_OK;
}
