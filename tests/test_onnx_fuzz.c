// A bounded, deterministic mutation fuzzer for the ONNX loader and planner.
//
// Valid models (the PyTorch fixture, the corpus's ok_*.onnx, a few ONNX node
// test models) are mutated and each mutant is loaded, planned and, when the
// plan is small, run on zeros. Two kinds of mutation alternate:
//   - bytes: bit flips, random bytes, inserted/deleted/duplicated ranges,
//     truncation, "large length" bytes (mostly exercises the decoder and loader);
//   - structure: the model is decoded with protobuf-c, one field is changed
//     (an attribute value, an op type, an input name, a dim, the opset, a node
//     removed) and it is encoded again (exercises validation, shape inference,
//     the planner and the kernels' geometry). Every mutant must be either
// refused with a message or yield a plan that runs; a crash, a sanitizer report
// or a leak fails the test (run it under `make SAN=1 test`).
//
// SD_FUZZ_ITERATIONS overrides the iteration count, SD_FUZZ_SEED the random
// seed (longer campaigns outside `make test`); SD_FUZZ_DUMP=FILE writes
// each mutant there before loading it, so a crash leaves its reproducer (add
// it to tests/corpus/onnx/ as fuzz_*.onnx).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/rng.h"
#include "../infer/file_util.h"
#include "../infer/onnx_graph.h"
#include "../infer/plan.h"
#include "harness.h"

#define DEFAULT_ITERATIONS 6000
#define MAX_SEEDS 24
#define MAX_RUN_BYTES ((size_t)8 << 20)

static const char *const seed_paths[] = {
    "tests/fixtures/tiny_resnet.onnx",
    "tests/corpus/onnx/ok_conv_relu.onnx",
    "tests/corpus/onnx/ok_unsorted_nodes.onnx",
    "tests/corpus/onnx/ok_ir3_initializer_inputs.onnx",
    "tests/corpus/onnx/ok_dynamic_batch.onnx",
    "tests/corpus/onnx/ok_sem_conv_bn9_relu.onnx",
    "tests/corpus/onnx/ok_sem_pad2_attributes.onnx",
    "tests/corpus/onnx/ok_sem_softmax11_flatten.onnx",
    "tests/corpus/onnx/ok_sem_gemm_fc_transb0.onnx",
    "tests/corpus/onnx/ok_sem_shape_chain_reshape.onnx",
    "tests/corpus/onnx/ok_sem_constant_subgraph.onnx",
    "tests/corpus/onnx/ok_sem_conv_grouped_strided.onnx",
    "tests/corpus/onnx/ok_sem_pad_reflect.onnx",
    "tests/corpus/onnx/ok_sem_split13_sizes_input.onnx",
    "tests/fixtures/cifar_pad_resnet_op13.onnx",
    "/usr/share/libonnx-testdata/data/node/test_gemm_all_attributes/model.onnx",
    "/usr/share/libonnx-testdata/data/node/test_slice_neg_steps/model.onnx",
    "/usr/share/libonnx-testdata/data/node/test_constant/model.onnx",
    "/usr/share/libonnx-testdata/data/node/test_averagepool_2d_same_lower/model.onnx",
    "/usr/share/libonnx-testdata/data/node/test_concat_3d_axis_negative_2/model.onnx",
    "/usr/share/libonnx-testdata/data/node/test_matmul_4d/model.onnx",
    "/usr/share/libonnx-testdata/data/node/test_batchnorm_epsilon/model.onnx",
};

typedef struct {
    uint8_t *data;
    size_t size;
} Buffer;

// One random edit of `in` into `out` (out->data has room for in->size + 64 bytes).
static void mutate(Rng *rng, const Buffer *in, Buffer *out) {
    memcpy(out->data, in->data, in->size);
    out->size = in->size;
    int edits = 1 + (int)rng_below(rng, 4);
    for (int e = 0; e < edits && out->size > 0; e++) {
        size_t at = (size_t)rng_below(rng, out->size);
        size_t span = 1 + (size_t)rng_below(rng, 16);
        if (span > out->size - at) span = out->size - at;
        switch (rng_below(rng, 7)) {
        case 0: out->data[at] ^= (uint8_t)(1u << rng_below(rng, 8)); break;
        case 1: out->data[at] = (uint8_t)rng_below(rng, 256); break;
        case 2:  // large varint: lengths and counts become huge
            out->data[at] = 0xff;
            if (at + 1 < out->size) out->data[at + 1] = 0xff;
            break;
        case 3:  // delete a range
            memmove(out->data + at, out->data + at + span, out->size - at - span);
            out->size -= span;
            break;
        case 4:  // insert random bytes (bounded by the spare room)
            if (out->size + span <= in->size + 64) {
                memmove(out->data + at + span, out->data + at, out->size - at);
                for (size_t i = 0; i < span; i++) out->data[at + i] = (uint8_t)rng_below(rng, 256);
                out->size += span;
            }
            break;
        case 5: out->size = at; break;  // truncate
        default:  // duplicate a range over another place
        {
            size_t to = (size_t)rng_below(rng, out->size);
            if (span > out->size - to) span = out->size - to;
            memmove(out->data + to, out->data + at, span);
        }
        }
    }
}

static const char *const op_names[] = {
    "Conv", "BatchNormalization", "Relu", "Add", "Sub", "Mul", "Div", "AveragePool", "MaxPool",
    "GlobalAveragePool", "Pad", "Concat", "Slice", "Flatten", "Reshape", "Gemm", "MatMul",
    "Identity", "Constant", "Softmax"};

static char *copy_text(const char *text) {
    size_t len = strlen(text) + 1;
    char *copy = malloc(len);
    if (copy) memcpy(copy, text, len);
    return copy;
}

static void replace_text(char **field, const char *text) {
    char *copy = copy_text(text);
    if (!copy) return;
    free(*field);
    *field = copy;
}

static int64_t interesting_int(Rng *rng) {
    static const int64_t values[] = {-1, 0, 1, 2, 3, 5, 7, 64, -3, (int64_t)1 << 31,
                                     -((int64_t)1 << 40), INT64_MAX, INT64_MIN};
    return values[rng_below(rng, sizeof values / sizeof *values)];
}

static void mutate_attribute(Rng *rng, Onnx__NodeProto *node) {
    if (node->n_attribute == 0) return;
    Onnx__AttributeProto *attr = node->attribute[rng_below(rng, node->n_attribute)];
    if (attr->n_ints > 0) {
        if (rng_below(rng, 4) == 0) attr->n_ints = (size_t)rng_below(rng, attr->n_ints);
        else attr->ints[rng_below(rng, attr->n_ints)] = interesting_int(rng);
    } else if (attr->has_i) {
        attr->i = interesting_int(rng);
    } else if (attr->has_f) {
        static const float values[] = {0.0f, -1.0f, 1e30f, -1e-30f, 0.5f};
        attr->f = values[rng_below(rng, 5)];
    } else if (attr->has_type) {
        attr->type = (Onnx__AttributeProto__AttributeType)rng_below(rng, 15);
    }
}

static void mutate_structure_once(Rng *rng, Onnx__ModelProto *model) {
    Onnx__GraphProto *g = model->graph;
    if (!g) return;
    Onnx__NodeProto *node = g->n_node ? g->node[rng_below(rng, g->n_node)] : NULL;
    switch (rng_below(rng, 8)) {
    case 0:
    case 1:
        if (node) mutate_attribute(rng, node);
        break;
    case 2:
        if (node) replace_text(&node->op_type, op_names[rng_below(rng, 20)]);
        break;
    case 3:  // rewire an input to another node's output or an initializer
        if (node && node->n_input && g->n_node) {
            const Onnx__NodeProto *other = g->node[rng_below(rng, g->n_node)];
            const char *name = other->n_output ? other->output[0] : "";
            if (g->n_initializer && rng_below(rng, 2))
                name = g->initializer[rng_below(rng, g->n_initializer)]->name;
            replace_text(&node->input[rng_below(rng, node->n_input)], name ? name : "");
        }
        break;
    case 4:  // change a dim of an initializer (its data stay as they were)
        if (g->n_initializer) {
            Onnx__TensorProto *t = g->initializer[rng_below(rng, g->n_initializer)];
            if (t->n_dims) t->dims[rng_below(rng, t->n_dims)] = interesting_int(rng);
        }
        break;
    case 5:  // drop the input list's shape of the first graph input dim, or resize it
        if (g->n_input && g->input[0]->type && g->input[0]->type->value_case ==
                                                   ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
            Onnx__TensorShapeProto *shape = g->input[0]->type->tensor_type->shape;
            if (shape && shape->n_dim) {
                Onnx__TensorShapeProto__Dimension *dim = shape->dim[rng_below(rng, shape->n_dim)];
                if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
                    dim->dim_value = (int64_t)rng_below(rng, 40);
            }
        }
        break;
    case 6:
        if (model->n_opset_import) model->opset_import[0]->version = (int64_t)rng_below(rng, 20);
        break;
    default:  // remove a node
        if (g->n_node) {
            size_t at = (size_t)rng_below(rng, g->n_node);
            protobuf_c_message_free_unpacked(&g->node[at]->base, NULL);
            memmove(&g->node[at], &g->node[at + 1], (g->n_node - at - 1) * sizeof *g->node);
            g->n_node--;
        }
    }
}

// Decodes the seed, changes 1-3 fields, encodes into out (reallocated as needed).
static int mutate_structure(Rng *rng, const Buffer *in, Buffer *out, size_t *capacity) {
    Onnx__ModelProto *model = onnx__model_proto__unpack(NULL, in->size, in->data);
    if (!model) return -1;
    int edits = 1 + (int)rng_below(rng, 3);
    for (int e = 0; e < edits; e++) mutate_structure_once(rng, model);
    size_t size = onnx__model_proto__get_packed_size(model);
    if (size > *capacity) {
        uint8_t *grown = realloc(out->data, size);
        if (!grown) {
            onnx__model_proto__free_unpacked(model, NULL);
            return -1;
        }
        out->data = grown;
        *capacity = size;
    }
    out->size = onnx__model_proto__pack(model, out->data);
    onnx__model_proto__free_unpacked(model, NULL);
    return 0;
}

typedef struct {
    int refused, planned, ran, plan_refused;
} Tally;

static void try_mutant(TestContext *t, Backend *be, const Buffer *mutant, Tally *tally) {
    char err[2048] = "";
    OnnxGraph *graph = NULL;
    LoadStatus status = onnx_graph_load_buffer(mutant->data, mutant->size, "mutant", &graph, err,
                                               sizeof err);
    if (status != LOAD_OK) {
        tally->refused++;
        if (graph != NULL || strncmp(err, "mutant", 6) != 0)
            CHECK(t, 0, "refusal must leave no graph and name the source: '%s'", err);
        return;
    }
    PlanOptions options = plan_default_options();
    options.batch_size = 2;
    Plan *plan = NULL;
    status = plan_create(graph, be, &options, &plan, err, sizeof err);
    if (status == LOAD_UNSUPPORTED && strstr(err, "fixed batch size")) {
        options.batch_size = 0;
        status = plan_create(graph, be, &options, &plan, err, sizeof err);
    }
    if (status != LOAD_OK) {
        tally->plan_refused++;
        if (plan != NULL || err[0] == 0) CHECK(t, 0, "plan refusal without a message");
    } else {
        tally->planned++;
        if (plan->stats.activation_bytes + plan->stats.weight_bytes <= MAX_RUN_BYTES) {
            for (int i = 0; i < plan->n_inputs; i++) {
                const PlanTensor *input = &plan->tensors[plan->inputs[i]];
                real *zeros = calloc(input->count, sizeof(real));
                if (zeros) plan_upload_input(plan, i, zeros);
                free(zeros);
            }
            plan_run(plan);
            tally->ran++;
        }
    }
    plan_free(plan);
    onnx_graph_free(graph);
}

int main(void) {
    TestContext t = {"test_onnx_fuzz", 0, 0, 0};
    const char *env = getenv("SD_FUZZ_ITERATIONS");
    int iterations = env ? atoi(env) : DEFAULT_ITERATIONS;
    const char *dump = getenv("SD_FUZZ_DUMP");
    Buffer seeds[MAX_SEEDS];
    int n_seeds = 0;
    size_t largest = 0;
    for (size_t i = 0; i < sizeof seed_paths / sizeof *seed_paths && n_seeds < MAX_SEEDS; i++) {
        char err[512];
        Buffer *b = &seeds[n_seeds];
        if (file_read_bounded(seed_paths[i], 1 << 20, &b->data, &b->size, err, sizeof err) != 0)
            continue;  // the ONNX test data are optional here; the fixtures are not
        if (b->size > largest) largest = b->size;
        n_seeds++;
    }
    CHECK(&t, n_seeds >= 5, "only %d seed models found (run from the repository root)", n_seeds);
    char err[256];
    Backend *be = backend_create("cpu", 1, err, sizeof err);
    CHECK(&t, be != NULL, "cpu backend: %s", err);
    size_t capacity = largest + 64;
    Buffer mutant = {malloc(capacity), 0};
    Rng rng;
    const char *seed_text = getenv("SD_FUZZ_SEED");
    rng_seed(&rng, seed_text ? strtoull(seed_text, NULL, 10) : 12345, 0);
    Tally tally = {0};
    clock_t start = clock();
    for (int i = 0; be && n_seeds > 0 && mutant.data && i < iterations; i++) {
        const Buffer *seed = &seeds[rng_below(&rng, (uint64_t)n_seeds)];
        if (i % 2 == 0 || mutate_structure(&rng, seed, &mutant, &capacity) != 0) {
            mutate(&rng, seed, &mutant);
        }
        if (dump) {
            FILE *f = fopen(dump, "wb");
            if (f) {
                fwrite(mutant.data, 1, mutant.size, f);
                fclose(f);
            }
        }
        try_mutant(&t, be, &mutant, &tally);
    }
    double seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
    printf("%d mutants of %d seeds in %.1f s CPU: %d refused by the loader, %d by the planner, "
           "%d planned (%d of them run)\n",
           iterations, n_seeds, seconds, tally.refused, tally.plan_refused, tally.planned,
           tally.ran);
    // The loop must reach both sides: refusals and plans that run.
    CHECK(&t, tally.refused > iterations / 20, "too few refusals (%d): mutations ineffective?",
          tally.refused);
    CHECK(&t, tally.ran > iterations / 20, "too few mutants ran (%d)", tally.ran);
    CHECK(&t, tally.refused + tally.plan_refused + tally.planned == iterations,
          "every mutant is accounted for");
    free(mutant.data);
    for (int i = 0; i < n_seeds; i++) free(seeds[i].data);
    if (be) be->destroy(be);
    return test_finish(&t);
}
