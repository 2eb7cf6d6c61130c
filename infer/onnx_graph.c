#include "onnx_graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_util.h"
#include "name_table.h"
#include "onnx.pb-c.h"
#include "onnx_tensor.h"
#include "op_registry.h"
#include "ops/op_def.h"

// IR versions whose ModelProto layout this reader understands (ONNX 1.0 .. 1.14).
#define MIN_IR_VERSION 3
#define MAX_IR_VERSION 9

typedef struct {
    OnnxGraph *graph;
    NameTable names;  // value name -> value id
    int values_capacity;
    char *err;
    size_t err_len;
} Builder;

static const char *text_or_empty(const char *text) { return text ? text : ""; }

static char *copy_text(const char *text) {
    text = text_or_empty(text);
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    if (copy) memcpy(copy, text, len + 1);
    return copy;
}

static LoadStatus out_of_memory(Builder *b) {
    snprintf(b->err, b->err_len, "%s: out of memory while loading", b->graph->source);
    return LOAD_INVALID;
}

// Adds a new value; *id = -2 when the name exists already.
static LoadStatus add_value(Builder *b, const char *name, int *id) {
    OnnxGraph *g = b->graph;
    if (g->n_values >= b->values_capacity) return out_of_memory(b);  // counted beforehand
    GraphValue *value = &g->values[g->n_values];
    memset(value, 0, sizeof *value);
    value->name = copy_text(name);
    value->declared_rank = -1;
    value->producer = -1;
    if (!value->name) return out_of_memory(b);
    int put = name_table_put(&b->names, value->name, g->n_values);
    if (put < 0) {
        free(value->name);
        return out_of_memory(b);
    }
    if (put == 1) {
        free(value->name);
        *id = -2;
        return LOAD_OK;
    }
    *id = g->n_values++;
    return LOAD_OK;
}

static LoadStatus read_header(Builder *b, const Onnx__ModelProto *model) {
    OnnxGraph *g = b->graph;
    if (!model->has_ir_version) {
        snprintf(b->err, b->err_len, "%s: not an ONNX model (no ir_version)", g->source);
        return LOAD_INVALID;
    }
    g->ir_version = model->ir_version;
    if (model->ir_version < MIN_IR_VERSION || model->ir_version > MAX_IR_VERSION) {
        snprintf(b->err, b->err_len, "%s: IR version %lld is not supported (%d..%d)", g->source,
                 (long long)model->ir_version, MIN_IR_VERSION, MAX_IR_VERSION);
        return LOAD_UNSUPPORTED;
    }
    if (!model->graph) {
        snprintf(b->err, b->err_len, "%s: not an ONNX model (no graph)", g->source);
        return LOAD_INVALID;
    }
    g->opset = 0;
    for (size_t i = 0; i < model->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *entry = model->opset_import[i];
        const char *domain = text_or_empty(entry->domain);
        if (strcmp(domain, "") != 0 && strcmp(domain, "ai.onnx") != 0) continue;
        if (g->opset != 0) {
            snprintf(b->err, b->err_len, "%s: the ai.onnx opset is imported twice", g->source);
            return LOAD_INVALID;
        }
        if (!entry->has_version || entry->version < 1) {
            snprintf(b->err, b->err_len, "%s: invalid ai.onnx opset version", g->source);
            return LOAD_INVALID;
        }
        if (entry->version > SD_MAX_OPSET) {
            snprintf(b->err, b->err_len, "%s: opset %lld is newer than the newest supported (%d)",
                     g->source, (long long)entry->version, SD_MAX_OPSET);
            return LOAD_UNSUPPORTED;
        }
        g->opset = (int)entry->version;
    }
    if (g->opset == 0) {
        snprintf(b->err, b->err_len, "%s: the model imports no ai.onnx opset", g->source);
        return LOAD_INVALID;
    }
    g->producer_name = copy_text(model->producer_name);
    if (!g->producer_name) return out_of_memory(b);
    return LOAD_OK;
}

static LoadStatus read_metadata(Builder *b, const Onnx__ModelProto *model) {
    OnnxGraph *g = b->graph;
    size_t count = model->n_metadata_props;
    g->metadata_keys = calloc(count + 1, sizeof(char *));
    g->metadata_values = calloc(count + 1, sizeof(char *));
    if (!g->metadata_keys || !g->metadata_values) return out_of_memory(b);
    for (size_t i = 0; i < count; i++) {
        g->metadata_keys[i] = copy_text(model->metadata_props[i]->key);
        g->metadata_values[i] = copy_text(model->metadata_props[i]->value);
        g->n_metadata = (int)i + 1;
        if (!g->metadata_keys[i] || !g->metadata_values[i]) return out_of_memory(b);
    }
    return LOAD_OK;
}

static LoadStatus read_initializers(Builder *b, const Onnx__GraphProto *proto) {
    OnnxGraph *g = b->graph;
    if (proto->n_sparse_initializer > 0) {
        snprintf(b->err, b->err_len, "%s: sparse initializers are not supported", g->source);
        return LOAD_UNSUPPORTED;
    }
    for (size_t i = 0; i < proto->n_initializer; i++) {
        const Onnx__TensorProto *tensor = proto->initializer[i];
        const char *name = text_or_empty(tensor->name);
        char what[512];
        snprintf(what, sizeof what, "%s: initializer '%.300s'", g->source, name);
        if (!name[0]) {
            snprintf(b->err, b->err_len, "%s: initializer #%zu has no name", g->source, i);
            return LOAD_INVALID;
        }
        int id;
        LoadStatus status = add_value(b, name, &id);
        if (status != LOAD_OK) return status;
        if (id == -2) {
            snprintf(b->err, b->err_len, "%s is defined twice", what);
            return LOAD_INVALID;
        }
        status = onnx_tensor_decode(tensor, what, &g->values[id].constant, b->err, b->err_len);
        if (status != LOAD_OK) return status;
        g->values[id].elem_type = tensor->data_type;
    }
    return LOAD_OK;
}

// Records the declared element type and shape of a graph input/output or value_info.
static LoadStatus read_value_type(Builder *b, const Onnx__ValueInfoProto *info, GraphValue *value) {
    const Onnx__TypeProto *type = info->type;
    if (!type) return LOAD_OK;  // allowed for intermediate values; checked for inputs below
    if (type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !type->tensor_type) {
        snprintf(b->err, b->err_len, "%s: value '%.300s' is not a tensor (sequences, maps and "
                 "optionals are not supported)", b->graph->source, value->name);
        return LOAD_UNSUPPORTED;
    }
    const Onnx__TypeProto__Tensor *tensor = type->tensor_type;
    if (tensor->has_elem_type) value->elem_type = tensor->elem_type;
    const Onnx__TensorShapeProto *shape = tensor->shape;
    if (!shape) return LOAD_OK;
    if (shape->n_dim > SD_MAX_DIMS) {
        snprintf(b->err, b->err_len, "%s: value '%.300s' has rank %zu, more than the supported %d",
                 b->graph->source, value->name, shape->n_dim, SD_MAX_DIMS);
        return LOAD_UNSUPPORTED;
    }
    value->declared_rank = (int)shape->n_dim;
    for (size_t axis = 0; axis < shape->n_dim; axis++) {
        const Onnx__TensorShapeProto__Dimension *dim = shape->dim[axis];
        int known = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        if (known && dim->dim_value < 0) {
            snprintf(b->err, b->err_len, "%s: value '%.300s' has a negative dimension",
                     b->graph->source, value->name);
            return LOAD_INVALID;
        }
        value->declared_dims[axis] = known ? dim->dim_value : -1;
    }
    return LOAD_OK;
}

static LoadStatus read_graph_inputs(Builder *b, const Onnx__GraphProto *proto) {
    OnnxGraph *g = b->graph;
    g->inputs = calloc(proto->n_input + 1, sizeof(int));
    if (!g->inputs) return out_of_memory(b);
    for (size_t i = 0; i < proto->n_input; i++) {
        const Onnx__ValueInfoProto *info = proto->input[i];
        const char *name = text_or_empty(info->name);
        if (!name[0]) {
            snprintf(b->err, b->err_len, "%s: graph input #%zu has no name", g->source, i);
            return LOAD_INVALID;
        }
        int id = name_table_get(&b->names, name);
        int is_initializer = id >= 0 && g->values[id].constant;
        if (id >= 0 && !is_initializer) {
            snprintf(b->err, b->err_len, "%s: graph input '%.300s' is listed twice", g->source,
                     name);
            return LOAD_INVALID;
        }
        // Inputs that also have an initializer (old IR style) are constants.
        if (is_initializer) continue;
        LoadStatus status = add_value(b, name, &id);
        if (status != LOAD_OK) return status;
        if (!info->type) {
            snprintf(b->err, b->err_len, "%s: graph input '%.300s' has no type", g->source, name);
            return LOAD_INVALID;
        }
        status = read_value_type(b, info, &g->values[id]);
        if (status != LOAD_OK) return status;
        g->values[id].is_input = 1;
        g->inputs[g->n_inputs++] = id;
    }
    return LOAD_OK;
}

static LoadStatus where_for_node(Builder *b, const Onnx__NodeProto *proto, int position,
                                 char **name_out, char *where, size_t where_len) {
    const char *name = text_or_empty(proto->name);
    char generated[32];
    if (!name[0]) {
        snprintf(generated, sizeof generated, "#%d", position);
        name = generated;
    }
    *name_out = copy_text(name);
    if (!*name_out) return out_of_memory(b);
    snprintf(where, where_len, "%s: node '%.300s' (%.100s)", b->graph->source, name,
             text_or_empty(proto->op_type));
    return LOAD_OK;
}

// Checks the op, its version and arity; parses attributes.
static LoadStatus read_node_op(Builder *b, const Onnx__NodeProto *proto, const char *where,
                               GraphNode *node) {
    const char *domain = text_or_empty(proto->domain);
    const char *op_type = text_or_empty(proto->op_type);
    if (strcmp(domain, "") != 0 && strcmp(domain, "ai.onnx") != 0) {
        snprintf(b->err, b->err_len, "%s: ops of domain '%.100s' are not supported", where, domain);
        return LOAD_UNSUPPORTED;
    }
    int kind = op_kind_from_name(op_type);
    if (kind < 0) {
        snprintf(b->err, b->err_len, "%s: op '%.100s' is not supported", where, op_type);
        return LOAD_UNSUPPORTED;
    }
    int version;
    char reason[256];
    LoadStatus status = op_resolve_version(kind, b->graph->opset, &version, reason, sizeof reason);
    if (status != LOAD_OK) {
        snprintf(b->err, b->err_len, "%s: %s", where, reason);
        return status;
    }
    const OpInfo *info = op_info(kind);
    int max_inputs = info->max_inputs;
    if (kind == OP_PAD && version < 11) max_inputs = 1;
    if (proto->n_input < (size_t)info->min_inputs ||
        (max_inputs >= 0 && proto->n_input > (size_t)max_inputs) ||
        proto->n_output < (size_t)info->min_outputs || proto->n_output > (size_t)info->max_outputs) {
        snprintf(b->err, b->err_len, "%s: has %zu inputs and %zu outputs, which %s-%d does not allow",
                 where, proto->n_input, proto->n_output, info->name, version);
        return LOAD_INVALID;
    }
    return op_attrs_parse(proto, kind, version, where, &node->attrs, b->err, b->err_len);
}

// Creates the node's output values (checking each name is new) and records its
// input names for resolve_inputs.
static LoadStatus read_node_outputs(Builder *b, const Onnx__NodeProto *proto, const char *where,
                                    int node_index, GraphNode *node) {
    OnnxGraph *g = b->graph;
    node->n_outputs = (int)proto->n_output;
    node->outputs = calloc(proto->n_output + 1, sizeof(int));
    if (!node->outputs) return out_of_memory(b);
    for (size_t i = 0; i < proto->n_output; i++) {
        const char *name = text_or_empty(proto->output[i]);
        node->outputs[i] = -1;
        if (!name[0]) {
            if (i == 0) {
                snprintf(b->err, b->err_len, "%s: the first output has no name", where);
                return LOAD_INVALID;
            }
            continue;
        }
        if (i > 0 && !op_def(node->attrs.kind)->computes_every_output) {
            snprintf(b->err, b->err_len, "%s: output #%zu ('%.200s') is not supported (only the "
                     "first output of %s is computed)", where, i, name,
                     op_info(node->attrs.kind)->name);
            return LOAD_UNSUPPORTED;
        }
        int id;
        LoadStatus status = add_value(b, name, &id);
        if (status != LOAD_OK) return status;
        if (id == -2) {
            snprintf(b->err, b->err_len, "%s: output '%.300s' is already defined elsewhere", where,
                     name);
            return LOAD_INVALID;
        }
        g->values[id].producer = node_index;
        node->outputs[i] = id;
    }
    return LOAD_OK;
}

static LoadStatus read_nodes(Builder *b, const Onnx__GraphProto *proto) {
    OnnxGraph *g = b->graph;
    g->nodes = calloc(proto->n_node + 1, sizeof(GraphNode));
    if (!g->nodes) return out_of_memory(b);
    for (size_t position = 0; position < proto->n_node; position++) {
        const Onnx__NodeProto *node_proto = proto->node[position];
        GraphNode *node = &g->nodes[g->n_nodes];
        char where[600];
        LoadStatus status =
            where_for_node(b, node_proto, (int)position, &node->name, where, sizeof where);
        if (status == LOAD_OK) status = read_node_op(b, node_proto, where, node);
        if (status == LOAD_OK) status = read_node_outputs(b, node_proto, where, g->n_nodes, node);
        // Count the node even on failure so onnx_graph_free releases what it holds.
        g->n_nodes++;
        if (status != LOAD_OK) return status;
        if (node->attrs.kind == OP_CONSTANT) {
            // A Constant becomes a constant value; no node remains to execute.
            GraphValue *value = &g->values[node->outputs[0]];
            value->constant = node->attrs.constant;
            value->elem_type = value->constant->dtype;
            value->producer = -1;
            node->attrs.constant = NULL;
            free(node->name);
            free(node->outputs);
            memset(node, 0, sizeof *node);
            g->n_nodes--;
        }
    }
    return LOAD_OK;
}

// Second pass over the nodes: input names -> value ids (all values exist now).
static LoadStatus resolve_inputs(Builder *b, const Onnx__GraphProto *proto) {
    OnnxGraph *g = b->graph;
    int node_index = 0;
    for (size_t position = 0; position < proto->n_node; position++) {
        const Onnx__NodeProto *node_proto = proto->node[position];
        if (strcmp(text_or_empty(node_proto->op_type), "Constant") == 0) continue;
        GraphNode *node = &g->nodes[node_index++];
        node->n_inputs = (int)node_proto->n_input;
        node->inputs = calloc(node_proto->n_input + 1, sizeof(int));
        if (!node->inputs) return out_of_memory(b);
        for (size_t i = 0; i < node_proto->n_input; i++) {
            const char *name = text_or_empty(node_proto->input[i]);
            node->inputs[i] = name[0] ? name_table_get(&b->names, name) : -1;
            char where[600];
            if (name[0] && node->inputs[i] < 0) {
                snprintf(b->err, b->err_len, "%s: input '%.300s' is not defined",
                         onnx_graph_node_where(g, node_index - 1, where, sizeof where), name);
                return LOAD_INVALID;
            }
            if (!name[0] && i < (size_t)op_info(node->attrs.kind)->min_inputs) {
                snprintf(b->err, b->err_len, "%s: required input #%zu is empty",
                         onnx_graph_node_where(g, node_index - 1, where, sizeof where), i);
                return LOAD_INVALID;
            }
        }
    }
    return LOAD_OK;
}

static LoadStatus read_outputs_and_value_info(Builder *b, const Onnx__GraphProto *proto) {
    OnnxGraph *g = b->graph;
    g->outputs = calloc(proto->n_output + 1, sizeof(int));
    if (!g->outputs) return out_of_memory(b);
    if (proto->n_output == 0) {
        snprintf(b->err, b->err_len, "%s: the graph has no outputs", g->source);
        return LOAD_INVALID;
    }
    for (size_t i = 0; i < proto->n_output; i++) {
        const char *name = text_or_empty(proto->output[i]->name);
        int id = name_table_get(&b->names, name);
        if (id < 0) {
            snprintf(b->err, b->err_len, "%s: graph output '%.300s' is never computed", g->source,
                     name);
            return LOAD_INVALID;
        }
        LoadStatus status = read_value_type(b, proto->output[i], &g->values[id]);
        if (status != LOAD_OK) return status;
        g->values[id].is_output = 1;
        g->outputs[g->n_outputs++] = id;
    }
    for (size_t i = 0; i < proto->n_value_info; i++) {
        int id = name_table_get(&b->names, text_or_empty(proto->value_info[i]->name));
        // Type information for a name that does not exist is harmless: ignore it.
        if (id < 0 || g->values[id].constant || g->values[id].is_input) continue;
        LoadStatus status = read_value_type(b, proto->value_info[i], &g->values[id]);
        if (status != LOAD_OK) return status;
    }
    return LOAD_OK;
}

// Kahn's algorithm: a node is ready once every input it names is available.
static LoadStatus sort_topologically(Builder *b) {
    OnnxGraph *g = b->graph;
    int n = g->n_nodes;
    char *placed = calloc((size_t)n + 1, 1);
    int *order = calloc((size_t)n + 1, sizeof(int));
    GraphNode *sorted = calloc((size_t)n + 1, sizeof(GraphNode));
    char *available = calloc((size_t)g->n_values + 1, 1);
    LoadStatus status = LOAD_OK;
    if (!placed || !order || !sorted || !available) {
        status = out_of_memory(b);
        goto done;
    }
    for (int v = 0; v < g->n_values; v++) available[v] = g->values[v].producer < 0;
    int done_count = 0;
    // Repeated sweeps keep the file's order among independent nodes; a graph
    // that is already sorted (the usual case) finishes in one sweep.
    for (int progress = 1; progress && done_count < n;) {
        progress = 0;
        for (int i = 0; i < n; i++) {
            if (placed[i]) continue;
            int ready = 1;
            for (int k = 0; k < g->nodes[i].n_inputs && ready; k++)
                if (g->nodes[i].inputs[k] >= 0 && !available[g->nodes[i].inputs[k]]) ready = 0;
            if (!ready) continue;
            placed[i] = 1;
            order[done_count++] = i;
            for (int k = 0; k < g->nodes[i].n_outputs; k++)
                if (g->nodes[i].outputs[k] >= 0) available[g->nodes[i].outputs[k]] = 1;
            progress = 1;
        }
    }
    if (done_count < n) {
        int stuck = 0;
        while (placed[stuck]) stuck++;
        char where[600];
        snprintf(b->err, b->err_len, "%s: the graph has a cycle through this node",
                 onnx_graph_node_where(g, stuck, where, sizeof where));
        status = LOAD_INVALID;
        goto done;
    }
    for (int i = 0; i < n; i++) sorted[i] = g->nodes[order[i]];
    memcpy(g->nodes, sorted, (size_t)n * sizeof(GraphNode));
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->nodes[i].n_outputs; k++)
            if (g->nodes[i].outputs[k] >= 0) g->values[g->nodes[i].outputs[k]].producer = i;
done:
    free(placed);
    free(order);
    free(sorted);
    free(available);
    return status;
}

static LoadStatus build_graph(Builder *b, const Onnx__ModelProto *model) {
    LoadStatus status = read_header(b, model);
    if (status != LOAD_OK) return status;
    const Onnx__GraphProto *proto = model->graph;
    size_t value_count = proto->n_initializer + proto->n_input;
    for (size_t i = 0; i < proto->n_node; i++) value_count += proto->node[i]->n_output;
    if (value_count > (1u << 24) || proto->n_node > (1u << 22)) {
        snprintf(b->err, b->err_len, "%s: too many nodes or values", b->graph->source);
        return LOAD_UNSUPPORTED;
    }
    b->values_capacity = (int)value_count;
    b->graph->values = calloc(value_count + 1, sizeof(GraphValue));
    if (!b->graph->values || name_table_init(&b->names, value_count) != 0) return out_of_memory(b);
    if ((status = read_metadata(b, model)) != LOAD_OK) return status;
    if ((status = read_initializers(b, proto)) != LOAD_OK) return status;
    if ((status = read_graph_inputs(b, proto)) != LOAD_OK) return status;
    if ((status = read_nodes(b, proto)) != LOAD_OK) return status;
    if ((status = resolve_inputs(b, proto)) != LOAD_OK) return status;
    if ((status = read_outputs_and_value_info(b, proto)) != LOAD_OK) return status;
    return sort_topologically(b);
}

LoadStatus onnx_graph_load_buffer(const uint8_t *data, size_t size, const char *source,
                                  OnnxGraph **out, char *err, size_t err_len) {
    return onnx_graph_load_buffer_with(data, size, source, NULL, out, err, err_len);
}

LoadStatus onnx_graph_load_buffer_with(const uint8_t *data, size_t size, const char *source,
                                       const OnnxExternalOptions *external, OnnxGraph **out,
                                       char *err, size_t err_len) {
    *out = NULL;
    OnnxGraph *graph = calloc(1, sizeof *graph);
    if (!graph || !(graph->source = copy_text(source))) {
        free(graph);
        snprintf(err, err_len, "%s: out of memory", source);
        return LOAD_INVALID;
    }
    Onnx__ModelProto *model = onnx__model_proto__unpack(NULL, size, data);
    if (!model) {
        snprintf(err, err_len, "%s: not a valid ONNX model (protobuf decoding failed)", source);
        onnx_graph_free(graph);
        return LOAD_INVALID;
    }
    Builder builder = {.graph = graph, .err = err, .err_len = err_len};
    OnnxExternalData *lent = NULL;
    LoadStatus status = onnx_external_resolve(model, source, external, &lent, err, err_len);
    if (status == LOAD_OK) status = build_graph(&builder, model);
    name_table_free(&builder.names);
    onnx_external_release(lent);  // before protobuf-c frees the tensors it lent bytes to
    onnx__model_proto__free_unpacked(model, NULL);
    if (status != LOAD_OK) {
        onnx_graph_free(graph);
        return status;
    }
    *out = graph;
    return LOAD_OK;
}

LoadStatus onnx_graph_load_file(const char *path, OnnxGraph **out, char *err, size_t err_len) {
    *out = NULL;
    uint8_t *data;
    size_t size;
    if (file_read_bounded(path, SD_MAX_MODEL_BYTES, &data, &size, err, err_len) != 0)
        return LOAD_INVALID;
    char *dir = onnx_external_base_dir(path);
    OnnxExternalOptions external = {.base_dir = dir};
    LoadStatus status = LOAD_INVALID;
    if (dir)
        status = onnx_graph_load_buffer_with(data, size, path, &external, out, err, err_len);
    else
        snprintf(err, err_len, "%s: out of memory", path);
    free(dir);
    free(data);
    return status;
}

void onnx_graph_free(OnnxGraph *graph) {
    if (!graph) return;
    for (int i = 0; i < graph->n_values; i++) {
        free(graph->values[i].name);
        host_tensor_free(graph->values[i].constant);
    }
    for (int i = 0; i < graph->n_nodes; i++) {
        free(graph->nodes[i].name);
        free(graph->nodes[i].inputs);
        free(graph->nodes[i].outputs);
        op_attrs_free(&graph->nodes[i].attrs);
    }
    for (int i = 0; i < graph->n_metadata; i++) {
        free(graph->metadata_keys[i]);
        free(graph->metadata_values[i]);
    }
    free(graph->metadata_keys);
    free(graph->metadata_values);
    free(graph->values);
    free(graph->nodes);
    free(graph->inputs);
    free(graph->outputs);
    free(graph->producer_name);
    free(graph->source);
    free(graph);
}

const char *onnx_graph_metadata(const OnnxGraph *graph, const char *key) {
    for (int i = 0; i < graph->n_metadata; i++)
        if (strcmp(graph->metadata_keys[i], key) == 0) return graph->metadata_values[i];
    return NULL;
}

const char *onnx_graph_node_where(const OnnxGraph *graph, int node, char *buffer,
                                  size_t buffer_len) {
    const GraphNode *n = &graph->nodes[node];
    snprintf(buffer, buffer_len, "%s: node '%.300s' (%s)", graph->source, n->name,
             op_info(n->attrs.kind)->name);
    return buffer;
}

int onnx_graph_value_needs_constant(const OnnxGraph *graph, int value) {
    for (int i = 0; i < graph->n_nodes; i++)
        for (int k = 0; k < graph->nodes[i].n_inputs; k++)
            if (graph->nodes[i].inputs[k] == value &&
                op_input_must_be_constant(graph->nodes[i].attrs.kind, k))
                return 1;
    return 0;
}

int onnx_graph_bind_input(OnnxGraph *graph, int input_index, HostTensor *tensor, char *err,
                          size_t err_len) {
    if (input_index < 0 || input_index >= graph->n_inputs) {
        snprintf(err, err_len, "%s: no input #%d", graph->source, input_index);
        host_tensor_free(tensor);
        return -1;
    }
    GraphValue *value = &graph->values[graph->inputs[input_index]];
    if (value->elem_type && value->elem_type != tensor->dtype) {
        snprintf(err, err_len, "%s: input '%s' has another element type", graph->source,
                 value->name);
        host_tensor_free(tensor);
        return -1;
    }
    value->constant = tensor;
    value->elem_type = tensor->dtype;
    value->is_input = 0;
    for (int i = input_index + 1; i < graph->n_inputs; i++) graph->inputs[i - 1] = graph->inputs[i];
    graph->n_inputs--;
    return 0;
}
