#include "checkpoint.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_memory.h"

#define REAL_DTYPE (sizeof(real) == 4 ? SAFETENSORS_F32 : SAFETENSORS_F64)

// Writes "checkpoint PATH: message" into err and returns -1.
static int fail(char *err, size_t err_len, const char *path, const char *format, ...) {
    char message[512];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    snprintf(err, err_len, "checkpoint %s: %s", path, message);
    return -1;
}

// ---- saving ------------------------------------------------------------------------

int checkpoint_network_metadata(const Net *net, MetaMap *metadata) {
    char shape[64];
    snprintf(shape, sizeof shape, "%d,%d,%d", net->in_c, net->in_h, net->in_w);
    if (metamap_set(metadata, CKPT_KEY_PRESET, net->preset.text) != 0 ||
        metamap_set(metadata, CKPT_KEY_PRESET_NAME, net->preset.name) != 0 ||
        metamap_set(metadata, CKPT_KEY_INPUT_SHAPE, shape) != 0 ||
        metamap_set_int(metadata, CKPT_KEY_CLASSES, net->n_classes) != 0 ||
        metamap_set_doubles(metadata, CKPT_KEY_SURVIVAL_PROBS, net->survival_prob,
                            net->n_blocks) != 0)
        return -1;
    return 0;
}

static void describe_tensor(const NetTensor *t, const real *host, SafetensorsTensor *out) {
    out->name = t->name;
    out->dtype = REAL_DTYPE;
    out->rank = t->rank;
    for (int d = 0; d < t->rank; d++) out->shape[d] = t->dims[d];
    out->data = host + t->offset;
}

int checkpoint_save(const char *path, const Net *net, const MetaMap *metadata, int with_momentum,
                    char *err, size_t err_len) {
    Backend *be = net->be;
    int result = -1;
    real *params = malloc((net->n_params ? net->n_params : 1) * sizeof(real));
    real *bn_state = malloc((net->n_bn_state ? net->n_bn_state : 1) * sizeof(real));
    real *momentum = with_momentum ? malloc((net->n_params ? net->n_params : 1) * sizeof(real))
                                   : NULL;
    SafetensorsTensor *tensors = calloc((size_t)net->n_tensors + 1, sizeof *tensors);
    MetaMap all;
    metamap_init(&all);
    if (!params || !bn_state || !tensors || (with_momentum && !momentum)) {
        fail(err, err_len, path, "out of host memory");
        goto done;
    }
    for (int i = 0; metadata && i < metadata->count; i++) {
        if (metamap_set(&all, metadata->entries[i].key, metadata->entries[i].value) != 0) {
            fail(err, err_len, path, "out of host memory");
            goto done;
        }
    }
    if (checkpoint_network_metadata(net, &all) != 0) {
        fail(err, err_len, path, "out of host memory");
        goto done;
    }
    be->download(be, params, net->params, net->n_params * sizeof(real));
    be->download(be, bn_state, net->bn_state, net->n_bn_state * sizeof(real));
    int n = 0;
    for (int i = 0; i < net->n_tensors; i++) {
        const NetTensor *t = &net->tensors[i];
        describe_tensor(t, t->store == TENSOR_PARAM ? params : bn_state, &tensors[n++]);
    }
    if (with_momentum) {
        be->download(be, momentum, net->momentum, net->n_params * sizeof(real));
        tensors[n++] = (SafetensorsTensor){.name = CKPT_MOMENTUM_TENSOR, .dtype = REAL_DTYPE,
                                           .rank = 1, .shape = {(int64_t)net->n_params},
                                           .data = momentum};
    }
    result = safetensors_write(path, tensors, n, &all, err, err_len);
done:
    metamap_free(&all);
    free(tensors);
    free(momentum);
    free(bn_state);
    free(params);
    return result;
}

// ---- opening -----------------------------------------------------------------------

int checkpoint_open(const char *path, Checkpoint *checkpoint, char *err, size_t err_len) {
    char inner[512];
    if (safetensors_open(path, &checkpoint->file, inner, sizeof inner) != 0) {
        // inner already starts with the path
        snprintf(err, err_len, "checkpoint %s", inner);
        return -1;
    }
    return 0;
}

void checkpoint_close(Checkpoint *checkpoint) { safetensors_close(&checkpoint->file); }

const MetaMap *checkpoint_metadata(const Checkpoint *checkpoint) {
    return &checkpoint->file.metadata;
}

const char *checkpoint_require(const Checkpoint *checkpoint, const char *key, char *err,
                               size_t err_len) {
    const char *value = metamap_get(&checkpoint->file.metadata, key);
    if (!value) fail(err, err_len, checkpoint->file.origin, "metadata key '%s' is missing", key);
    return value;
}

int checkpoint_has_momentum(const Checkpoint *checkpoint) {
    return safetensors_find(&checkpoint->file, CKPT_MOMENTUM_TENSOR) != NULL;
}

// ---- loading into a network ----------------------------------------------------------

static void format_shape(char *out, size_t len, int rank, const int64_t *dims) {
    size_t used = (size_t)snprintf(out, len, "[");
    for (int d = 0; d < rank && used < len; d++)
        used += (size_t)snprintf(out + used, len - used, "%s%lld", d ? ", " : "",
                                 (long long)dims[d]);
    if (used < len) snprintf(out + used, len - used, "]");
}

// One tensor of the file against what the network expects.
static int check_entry(const char *path, const char *name, const SafetensorsEntry *entry,
                       int rank, const int64_t *dims, char *err, size_t err_len) {
    if (!entry) return fail(err, err_len, path, "tensor %s is missing", name);
    if (entry->dtype != REAL_DTYPE)
        return fail(err, err_len, path, "tensor %s has dtype %s but this build expects %s", name,
                    safetensors_dtype_name(entry->dtype), safetensors_dtype_name(REAL_DTYPE));
    int same = entry->rank == rank;
    for (int d = 0; same && d < rank; d++) same = entry->shape[d] == dims[d];
    if (!same) {
        char have[128], want[128];
        format_shape(have, sizeof have, entry->rank, entry->shape);
        format_shape(want, sizeof want, rank, dims);
        return fail(err, err_len, path, "tensor %s has shape %s but the network expects %s", name,
                    have, want);
    }
    return 0;
}

static int check_against_net(const Checkpoint *checkpoint, const Net *net, int load_momentum,
                             char *err, size_t err_len) {
    const SafetensorsFile *file = &checkpoint->file;
    for (int i = 0; i < net->n_tensors; i++) {
        const NetTensor *t = &net->tensors[i];
        int64_t dims[4];
        for (int d = 0; d < t->rank; d++) dims[d] = t->dims[d];
        if (check_entry(file->origin, t->name, safetensors_find(file, t->name), t->rank, dims, err,
                        err_len) != 0)
            return -1;
    }
    if (load_momentum) {
        int64_t dims[1] = {(int64_t)net->n_params};
        if (check_entry(file->origin, CKPT_MOMENTUM_TENSOR,
                        safetensors_find(file, CKPT_MOMENTUM_TENSOR), 1, dims, err, err_len) != 0)
            return -1;
    }
    // A tensor the network does not have means a different architecture.
    for (int i = 0; i < file->n_tensors; i++) {
        const char *name = file->tensors[i].name;
        if (strcmp(name, CKPT_MOMENTUM_TENSOR) != 0 && !net_find_tensor(net, name))
            return fail(err, err_len, file->origin,
                        "tensor %s is not part of the network (preset %s)", name,
                        net->preset.name);
    }
    return 0;
}

int checkpoint_load_into_net(const Checkpoint *checkpoint, Net *net, int load_momentum,
                             char *err, size_t err_len) {
    if (check_against_net(checkpoint, net, load_momentum, err, err_len) != 0) return -1;
    const SafetensorsFile *file = &checkpoint->file;
    Backend *be = net->be;
    real *params = malloc((net->n_params ? net->n_params : 1) * sizeof(real));
    real *bn_state = malloc((net->n_bn_state ? net->n_bn_state : 1) * sizeof(real));
    if (!params || !bn_state) {
        free(params);
        free(bn_state);
        return fail(err, err_len, file->origin, "out of host memory");
    }
    for (int i = 0; i < net->n_tensors; i++) {
        const NetTensor *t = &net->tensors[i];
        const SafetensorsEntry *entry = safetensors_find(file, t->name);
        real *dst = (t->store == TENSOR_PARAM ? params : bn_state) + t->offset;
        memcpy(dst, safetensors_entry_data(file, entry), t->count * sizeof(real));
    }
    be->upload(be, net->params, params, net->n_params * sizeof(real));
    be->upload(be, net->bn_state, bn_state, net->n_bn_state * sizeof(real));
    if (load_momentum) {
        const SafetensorsEntry *entry = safetensors_find(file, CKPT_MOMENTUM_TENSOR);
        memcpy(params, safetensors_entry_data(file, entry), net->n_params * sizeof(real));
        be->upload(be, net->momentum, params, net->n_params * sizeof(real));
    }
    free(params);
    free(bn_state);
    return 0;
}

// ---- building a network from the metadata ---------------------------------------------

static int parse_positive(const char *text, int max, int *value) {
    long long parsed;
    if (parse_long_long(text, &parsed) != 0 || parsed < 1 || parsed > max) return -1;
    *value = (int)parsed;
    return 0;
}

int checkpoint_input_shape(const Checkpoint *checkpoint, int *channels, int *height, int *width,
                           char *err, size_t err_len) {
    const char *text = checkpoint_require(checkpoint, CKPT_KEY_INPUT_SHAPE, err, err_len);
    if (!text) return -1;
    char parts[3][24];
    char tail;
    int ok = strlen(text) < 64 &&
             sscanf(text, "%23[^,],%23[^,],%23[^,]%c", parts[0], parts[1], parts[2], &tail) == 3 &&
             parse_positive(parts[0], 4096, channels) == 0 &&
             parse_positive(parts[1], 65536, height) == 0 &&
             parse_positive(parts[2], 65536, width) == 0;
    if (!ok)
        return fail(err, err_len, checkpoint->file.origin,
                    "metadata input_shape '%.64s' is not C,H,W", text);
    return 0;
}

// survival_probs must hold one p_l in (0, 1] per block.
static int set_survival_from_metadata(const Checkpoint *checkpoint, Net *net, char *err,
                                      size_t err_len) {
    const char *path = checkpoint->file.origin;
    const char *text = checkpoint_require(checkpoint, CKPT_KEY_SURVIVAL_PROBS, err, err_len);
    if (!text) return -1;
    double *probs = malloc(((size_t)net->n_blocks + 1) * sizeof *probs);
    if (!probs) return fail(err, err_len, path, "out of host memory");
    int count = 0;
    int parsed = parse_double_list(text, probs, net->n_blocks + 1, &count);
    int result = 0;
    if (parsed != 0 || count != net->n_blocks) {
        result = fail(err, err_len, path,
                      "metadata survival_probs must list %d numbers (one per block)",
                      net->n_blocks);
    } else {
        for (int l = 0; l < count && result == 0; l++) {
            if (!(probs[l] > 0.0 && probs[l] <= 1.0))
                result = fail(err, err_len, path,
                              "metadata survival_probs: block %d has p = %g, outside (0, 1]", l,
                              probs[l]);
            else
                net->survival_prob[l] = probs[l];
        }
    }
    free(probs);
    return result;
}

// Values the file holds for the network itself (every tensor but the momentum).
static size_t network_values_in_file(const SafetensorsFile *file) {
    size_t total = 0;
    for (int i = 0; i < file->n_tensors; i++)
        if (strcmp(file->tensors[i].name, CKPT_MOMENTUM_TENSOR) != 0)
            total += file->tensors[i].element_count;  // each within the file's bytes
    return total;
}

// The described network against the file's tensors and the memory limit, before
// net_build allocates anything.
static int check_network_size(const Checkpoint *checkpoint, const Preset *preset, int channels,
                              int height, int width, int classes, int batch_max,
                              size_t max_bytes, char *err, size_t err_len) {
    const char *path = checkpoint->file.origin;
    NetSize size;
    char inner[512];
    if (net_measure(preset, channels, height, width, classes, batch_max, &size, inner,
                    sizeof inner) != 0)
        return fail(err, err_len, path, "%s", inner);
    size_t in_file = network_values_in_file(&checkpoint->file);
    if (size.params + size.bn_state != in_file)
        return fail(err, err_len, path,
                    "preset %s on %dx%dx%d inputs with %d classes has %zu parameters and "
                    "statistics, but the file's tensors hold %zu values",
                    preset->name, channels, height, width, classes,
                    size.params + size.bn_state, in_file);
    if (size.bytes > max_bytes)
        return fail(err, err_len, path,
                    "the network it describes (preset %s, %dx%dx%d inputs, batch %d) needs "
                    "%.1f MiB, more than the limit of %.1f MiB",
                    preset->name, channels, height, width, batch_max,
                    (double)size.bytes / 1048576.0, (double)max_bytes / 1048576.0);
    return 0;
}

int checkpoint_build_net(const Checkpoint *checkpoint, Backend *be, int batch_max, Net *net,
                         char *err, size_t err_len) {
    return checkpoint_build_net_within(checkpoint, be, batch_max, host_memory_bytes(), net, err,
                                       err_len);
}

int checkpoint_build_net_within(const Checkpoint *checkpoint, Backend *be, int batch_max,
                                size_t max_bytes, Net *net, char *err, size_t err_len) {
    const char *path = checkpoint->file.origin;
    memset(net, 0, sizeof *net);
    const char *preset_text = checkpoint_require(checkpoint, CKPT_KEY_PRESET, err, err_len);
    if (!preset_text) return -1;
    char origin[300], inner[512];
    snprintf(origin, sizeof origin, "preset in checkpoint %s", path);
    Preset preset;
    if (preset_parse(preset_text, origin, &preset, inner, sizeof inner) != 0) {
        snprintf(err, err_len, "%s", inner);
        return -1;
    }
    int channels, height, width, classes;
    if (checkpoint_input_shape(checkpoint, &channels, &height, &width, err, err_len) != 0)
        return -1;
    const char *classes_text = checkpoint_require(checkpoint, CKPT_KEY_CLASSES, err, err_len);
    if (!classes_text) return -1;
    if (parse_positive(classes_text, 1000000, &classes) != 0)
        return fail(err, err_len, path, "metadata classes '%.32s' is not a positive integer",
                    classes_text);
    if (check_network_size(checkpoint, &preset, channels, height, width, classes, batch_max,
                           max_bytes, err, err_len) != 0)
        return -1;
    if (net_build(net, be, &preset, channels, height, width, classes, batch_max, inner,
                  sizeof inner) != 0) {
        fail(err, err_len, path, "%s", inner);
        memset(net, 0, sizeof *net);
        return -1;
    }
    if (set_survival_from_metadata(checkpoint, net, err, err_len) != 0 ||
        checkpoint_load_into_net(checkpoint, net, 0, err, err_len) != 0) {
        net_free(net);
        return -1;
    }
    return 0;
}
