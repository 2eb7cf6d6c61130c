#include "onnx_external.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/host_memory.h"
#include "external_ref.h"
#include "file_util.h"

// One external tensor: where its bytes are, and (once read) the bytes it borrows.
typedef struct {
    Onnx__TensorProto *tensor;
    char *what;              // "model.onnx: initializer 'W'", for messages
    ExternalRef ref;
    uint8_t *bytes;          // lent as the tensor's raw_data; NULL until read
    size_t n_external_data;  // the entries hidden from the decoder while lent
} LentTensor;

struct OnnxExternalData {
    LentTensor *items;
    size_t count, capacity;
};

// The state of one resolve call.
typedef struct {
    OnnxExternalData *lent;
    const char *source;
    const OnnxExternalOptions *options;
    char *err;
    size_t err_len;
} Resolver;

static LoadStatus out_of_memory(Resolver *r) {
    snprintf(r->err, r->err_len, "%s: out of memory while reading external data", r->source);
    return LOAD_INVALID;
}

static char *copy_text(const char *text) {
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    if (copy) memcpy(copy, text, len + 1);
    return copy;
}

// Records the tensor when it claims external data (checking its entries).
static LoadStatus add_tensor(Resolver *r, Onnx__TensorProto *tensor, const char *what) {
    if (!external_ref_claimed(tensor)) return LOAD_OK;
    // The entries are checked first, with or without a directory: so the fuzz
    // harness, which loads bytes from memory, reaches external_ref_parse too.
    ExternalRef ref;
    LoadStatus status = external_ref_parse(tensor, what, &ref, r->err, r->err_len);
    if (status != LOAD_OK) return status;
    if (!r->options->base_dir) {
        snprintf(r->err, r->err_len, "%s: its data is in an external file, and a model loaded "
                 "from memory has no directory to find it in (load the model from its file)",
                 what);
        return LOAD_INVALID;
    }
    OnnxExternalData *lent = r->lent;
    if (lent->count == lent->capacity) {
        size_t capacity = lent->capacity ? 2 * lent->capacity : 16;
        LentTensor *items = realloc(lent->items, capacity * sizeof *items);
        if (!items) return out_of_memory(r);
        lent->items = items;
        lent->capacity = capacity;
    }
    LentTensor *item = &lent->items[lent->count];
    *item = (LentTensor){.tensor = tensor, .what = copy_text(what), .ref = ref};
    if (!item->what) return out_of_memory(r);
    lent->count++;
    return LOAD_OK;
}

static LoadStatus add_attribute_tensors(Resolver *r, const Onnx__NodeProto *node, size_t position) {
    char node_name[32];
    snprintf(node_name, sizeof node_name, "#%zu", position);  // as onnx_graph.c names it
    const char *name = node->name && node->name[0] ? node->name : node_name;
    for (size_t a = 0; a < node->n_attribute; a++) {
        const Onnx__AttributeProto *attr = node->attribute[a];
        char what[700];
        snprintf(what, sizeof what, "%s: node '%.300s' (%.100s) attribute '%.100s'", r->source,
                 name, node->op_type ? node->op_type : "", attr->name ? attr->name : "");
        LoadStatus status = attr->t ? add_tensor(r, attr->t, what) : LOAD_OK;
        for (size_t k = 0; status == LOAD_OK && k < attr->n_tensors; k++) {
            char item_what[720];
            snprintf(item_what, sizeof item_what, "%s tensor #%zu", what, k);
            status = add_tensor(r, attr->tensors[k], item_what);
        }
        if (status != LOAD_OK) return status;
    }
    return LOAD_OK;
}

static LoadStatus collect(Resolver *r, const Onnx__GraphProto *graph) {
    for (size_t i = 0; i < graph->n_initializer; i++) {
        Onnx__TensorProto *tensor = graph->initializer[i];
        char what[512];
        snprintf(what, sizeof what, "%s: initializer '%.300s'", r->source,
                 tensor->name ? tensor->name : "");
        LoadStatus status = add_tensor(r, tensor, what);
        if (status != LOAD_OK) return status;
    }
    for (size_t i = 0; i < graph->n_node; i++) {
        LoadStatus status = add_attribute_tensors(r, graph->node[i], i);
        if (status != LOAD_OK) return status;
    }
    return LOAD_OK;
}

// Every external tensor's size is known from its dims before anything is read:
// a model declaring more than the limit allows is refused here.
static LoadStatus check_total(Resolver *r) {
    size_t limit = r->options->max_bytes ? r->options->max_bytes : host_memory_bytes();
    size_t total = 0;
    for (size_t i = 0; i < r->lent->count; i++) {
        size_t bytes = r->lent->items[i].ref.bytes;
        total = bytes > SIZE_MAX - total ? SIZE_MAX : total + bytes;
    }
    if (total <= limit) return LOAD_OK;
    snprintf(r->err, r->err_len, "%s: its %zu external tensors hold %zu bytes, more than the "
             "limit of %zu bytes (%s)", r->source, r->lent->count, total,
             limit, r->options->max_bytes ? "set by the caller" : "the host's memory");
    return LOAD_UNSUPPORTED;
}

// base_dir/location ("" is the current directory); NULL when out of memory.
static char *join_path(const char *base_dir, const char *location) {
    size_t base_len = strlen(base_dir), location_len = strlen(location);
    int slash = base_len > 0 && base_dir[base_len - 1] != '/';
    char *path = malloc(base_len + (size_t)slash + location_len + 1);
    if (!path) return NULL;
    memcpy(path, base_dir, base_len);
    if (slash) path[base_len] = '/';
    memcpy(path + base_len + slash, location, location_len + 1);
    return path;
}

// Reads the item's bytes and lends them to its tensor as raw_data.
static LoadStatus read_and_lend(Resolver *r, LentTensor *item) {
    char *path = join_path(r->options->base_dir, item->ref.location);
    if (!path) return out_of_memory(r);
    char reason[4400];
    int failed = file_read_range(path, item->ref.offset, item->ref.bytes, &item->bytes, reason,
                                 sizeof reason);
    free(path);
    if (failed) {
        snprintf(r->err, r->err_len, "%s: external data file %s", item->what, reason);
        return LOAD_INVALID;
    }
    Onnx__TensorProto *tensor = item->tensor;
    item->n_external_data = tensor->n_external_data;
    tensor->n_external_data = 0;
    tensor->has_data_location = 0;
    tensor->has_raw_data = 1;
    tensor->raw_data = (ProtobufCBinaryData){.len = item->ref.bytes, .data = item->bytes};
    return LOAD_OK;
}

LoadStatus onnx_external_resolve(Onnx__ModelProto *model, const char *source,
                                 const OnnxExternalOptions *options, OnnxExternalData **lent,
                                 char *err, size_t err_len) {
    *lent = NULL;
    if (!model->graph) return LOAD_OK;  // the graph builder says what is missing
    static const OnnxExternalOptions from_memory = {0};
    Resolver r = {.source = source, .options = options ? options : &from_memory, .err = err,
                  .err_len = err_len};
    r.lent = calloc(1, sizeof *r.lent);
    if (!r.lent) return out_of_memory(&r);
    *lent = r.lent;
    LoadStatus status = collect(&r, model->graph);
    if (status == LOAD_OK) status = check_total(&r);
    for (size_t i = 0; status == LOAD_OK && i < r.lent->count; i++)
        status = read_and_lend(&r, &r.lent->items[i]);
    return status;
}

void onnx_external_release(OnnxExternalData *lent) {
    if (!lent) return;
    for (size_t i = 0; i < lent->count; i++) {
        LentTensor *item = &lent->items[i];
        if (item->bytes) {
            // external_ref_parse accepted the tensor only with data_location = EXTERNAL
            // and without raw_data: that is the state unpacking left.
            Onnx__TensorProto *tensor = item->tensor;
            tensor->raw_data = (ProtobufCBinaryData){.len = 0, .data = NULL};
            tensor->has_raw_data = 0;
            tensor->n_external_data = item->n_external_data;
            tensor->has_data_location = 1;
            tensor->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
            free(item->bytes);
        }
        free(item->what);
    }
    free(lent->items);
    free(lent);
}

char *onnx_external_base_dir(const char *model_path) {
    const char *slash = strrchr(model_path, '/');
    size_t len = !slash ? 0 : slash == model_path ? 1 : (size_t)(slash - model_path);
    char *dir = malloc(len + 1);
    if (!dir) return NULL;
    memcpy(dir, model_path, len);
    dir[len] = '\0';
    return dir;
}
