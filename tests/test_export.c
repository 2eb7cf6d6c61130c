// sdexport's library: the ONNX graph of a network, read back with the generated
// protobuf-c unpacker and checked against values computed here by hand.
//
// With arguments it is the fixture writer for tests/t_export.sh:
//   test_export write DIR PRESET_FILE C,H,W CLASSES RULE P_LAST BATCH SEED
// writes DIR/model.safetensors (a randomised network whose BN statistics come
// from a few training-mode passes), DIR/input_raw.f32 (pixels in [0,1]),
// DIR/input.f32 (normalised with the checkpoint's norm_mean/norm_std),
// DIR/logits.f32 (net_forward NET_EVAL on the CPU backend), and
// DIR/params.f32, bn_state.f32, momentum.f32, tensors.txt (the raw buffers and
// their layout, for the numpy reader in tests/t_checkpoint_numpy.sh).
//   test_export forward CKPT RAW.f32 N DIR
// runs ANY checkpoint (a trained one too): builds its network with
// checkpoint_build_net, normalises the N raw [0,1] images of RAW.f32 with the
// checkpoint's norm_mean/norm_std, and writes DIR/input.f32 (normalised) and
// DIR/logits.f32 (net_forward NET_EVAL on the CPU backend).
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/checkpoint.h"
#include "common/net.h"
#include "common/rng.h"
#include "export/export.h"
#include "export/fold.h"
#include "harness.h"

// ---- building a test network --------------------------------------------------------------

static void fixture_norm(int channels, double *mean, double *std) {
    for (int c = 0; c < channels; c++) {
        mean[c] = 0.25 + 0.1 * c;
        std[c] = 0.2 + 0.05 * c;
    }
}

// Parameters from net_init_params, then BN running statistics from three
// training-mode passes on random batches, then every BN gamma/beta and
// statistic nudged at random: folding must see values far from the identity.
static void randomise_network(Net *net, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed, RNG_STREAM_INIT);
    net_init_params(net, &rng);
    size_t image_count = (size_t)net->batch_max * net->in_c * net->in_h * net->in_w;
    float *images = malloc(image_count * sizeof *images);
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < image_count; i++) images[i] = (float)rng_normal(&rng);
        net_set_batch(net, images, NULL, net->batch_max);
        net_forward(net, net->batch_max, NULL, NET_TRAIN);
    }
    free(images);
    real *params = malloc(net->n_params * sizeof(real));
    real *bn_state = malloc(net->n_bn_state * sizeof(real));
    real *momentum = malloc(net->n_params * sizeof(real));
    net->be->download(net->be, params, net->params, net->n_params * sizeof(real));
    net->be->download(net->be, bn_state, net->bn_state, net->n_bn_state * sizeof(real));
    for (int i = 0; i < net->n_tensors; i++) {
        const NetTensor *t = &net->tensors[i];
        int is_bn = t->rank == 1 && strncmp(t->name, "fc.", 3) != 0;
        if (!is_bn) continue;
        real *values = (t->store == TENSOR_PARAM ? params : bn_state) + t->offset;
        const char *last = strrchr(t->name, '.');
        for (size_t k = 0; k < t->count; k++) {
            double u = rng_uniform(&rng);
            if (strcmp(last, ".weight") == 0) values[k] *= (real)(0.6 + 0.8 * u);
            else if (strcmp(last, ".bias") == 0) values[k] += (real)(0.4 * u - 0.2);
            else if (strcmp(last, ".running_mean") == 0) values[k] += (real)(0.2 * u - 0.1);
            else values[k] *= (real)(0.7 + 0.6 * u);  // running_var
        }
    }
    for (size_t i = 0; i < net->n_params; i++) momentum[i] = (real)(0.01 * rng_normal(&rng));
    net->be->upload(net->be, net->params, params, net->n_params * sizeof(real));
    net->be->upload(net->be, net->bn_state, bn_state, net->n_bn_state * sizeof(real));
    net->be->upload(net->be, net->momentum, momentum, net->n_params * sizeof(real));
    free(params);
    free(bn_state);
    free(momentum);
}

static void fixture_metadata(const Net *net, const char *rule, double p_last, MetaMap *meta) {
    double mean[8], std[8];
    fixture_norm(net->in_c, mean, std);
    metamap_init(meta);
    metamap_set(meta, CKPT_KEY_SURVIVAL_RULE, rule);
    metamap_set_double(meta, CKPT_KEY_P_LAST, p_last);
    metamap_set(meta, CKPT_KEY_DATASET, "synthetic");
    metamap_set_int(meta, CKPT_KEY_EPOCH, 0);
    metamap_set_doubles(meta, CKPT_KEY_NORM_MEAN, mean, net->in_c);
    metamap_set_doubles(meta, CKPT_KEY_NORM_STD, std, net->in_c);
}

// ---- fixture writer ------------------------------------------------------------------------

static int write_file(const char *dir, const char *name, const void *data, size_t size) {
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (atomic_write_file(path, data, size, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int write_floats(const char *dir, const char *name, const real *values, size_t count) {
    float *f = malloc((count ? count : 1) * sizeof *f);
    for (size_t i = 0; i < count; i++) f[i] = (float)values[i];
    int rc = write_file(dir, name, f, count * sizeof *f);
    free(f);
    return rc;
}

static int write_tensor_list(const Net *net, const char *dir) {
    size_t cap = (size_t)net->n_tensors * 160 + 1, used = 0;
    char *text = malloc(cap);
    text[0] = '\0';
    for (int i = 0; i < net->n_tensors; i++) {
        const NetTensor *t = &net->tensors[i];
        used += (size_t)snprintf(text + used, cap - used, "%s %s %zu %zu", t->name,
                                 t->store == TENSOR_PARAM ? "params" : "bn_state", t->offset,
                                 t->count);
        for (int d = 0; d < t->rank; d++)
            used += (size_t)snprintf(text + used, cap - used, " %d", t->dims[d]);
        used += (size_t)snprintf(text + used, cap - used, "\n");
    }
    int rc = write_file(dir, "tensors.txt", text, used);
    free(text);
    return rc;
}

static int write_fixture(int argc, char **argv) {
    if (argc != 10) {
        fprintf(stderr, "usage: test_export write DIR PRESET C,H,W CLASSES RULE P_LAST BATCH SEED\n");
        return 2;
    }
    const char *dir = argv[2], *preset_path = argv[3], *rule = argv[6];
    int c, h, w;
    int classes = atoi(argv[5]), batch = atoi(argv[8]);
    double p_last = atof(argv[7]);
    uint64_t seed = strtoull(argv[9], NULL, 10);
    if (sscanf(argv[4], "%d,%d,%d", &c, &h, &w) != 3 || c < 1 || c > 8 || batch < 1) {
        fprintf(stderr, "test_export write: bad shape or batch\n");
        return 2;
    }
    char err[512];
    Preset preset;
    Backend *be = backend_cpu_create(1, err, sizeof err);
    Net net;
    if (!be || preset_load(preset_path, "models", &preset, err, sizeof err) != 0 ||
        net_build(&net, be, &preset, c, h, w, classes, batch, err, sizeof err) != 0) {
        fprintf(stderr, "test_export write: %s\n", err);
        return 1;
    }
    if (net_set_survival(&net, rule, p_last) != 0) {
        fprintf(stderr, "test_export write: unknown rule %s\n", rule);
        return 1;
    }
    randomise_network(&net, seed);

    // Raw pixels k/255, normalised per channel in float as the ONNX Sub/Div does.
    size_t per_image = (size_t)c * h * w, count = (size_t)batch * per_image;
    float *raw = malloc(count * sizeof *raw), *normalised = malloc(count * sizeof *normalised);
    double mean[8], std[8];
    fixture_norm(c, mean, std);
    Rng rng;
    rng_seed(&rng, seed + 1, RNG_STREAM_AUGMENT);
    for (size_t i = 0; i < count; i++) {
        int channel = (int)((i / ((size_t)h * w)) % (size_t)c);
        raw[i] = (float)rng_below(&rng, 256) / 255.0f;
        normalised[i] = (raw[i] - (float)mean[channel]) / (float)std[channel];
    }
    net_set_batch(&net, normalised, NULL, batch);
    net_forward(&net, batch, NULL, NET_EVAL);
    real *logits = malloc((size_t)batch * classes * sizeof(real));
    be->download(be, logits, net.logits, (size_t)batch * classes * sizeof(real));

    real *params = malloc(net.n_params * sizeof(real));
    real *bn_state = malloc(net.n_bn_state * sizeof(real));
    real *momentum = malloc(net.n_params * sizeof(real));
    be->download(be, params, net.params, net.n_params * sizeof(real));
    be->download(be, bn_state, net.bn_state, net.n_bn_state * sizeof(real));
    be->download(be, momentum, net.momentum, net.n_params * sizeof(real));

    MetaMap meta;
    fixture_metadata(&net, rule, p_last, &meta);
    char ckpt[1024];
    snprintf(ckpt, sizeof ckpt, "%s/model.safetensors", dir);
    int rc = checkpoint_save(ckpt, &net, &meta, 1, err, sizeof err);
    if (rc != 0) fprintf(stderr, "test_export write: %s\n", err);
    if (rc == 0)
        rc = write_file(dir, "input_raw.f32", raw, count * sizeof *raw) |
             write_file(dir, "input.f32", normalised, count * sizeof *normalised) |
             write_floats(dir, "logits.f32", logits, (size_t)batch * classes) |
             write_floats(dir, "params.f32", params, net.n_params) |
             write_floats(dir, "bn_state.f32", bn_state, net.n_bn_state) |
             write_floats(dir, "momentum.f32", momentum, net.n_params) |
             write_tensor_list(&net, dir);
    metamap_free(&meta);
    free(raw), free(normalised), free(logits), free(params), free(bn_state), free(momentum);
    net_free(&net);
    be->destroy(be);
    return rc == 0 ? 0 : 1;
}

static int forward_checkpoint(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: test_export forward CKPT RAW.f32 N DIR\n");
        return 2;
    }
    const char *dir = argv[5];
    int batch = atoi(argv[4]);
    char err[512];
    Checkpoint ck;
    Backend *be = backend_cpu_create(1, err, sizeof err);
    Net net;
    if (!be || batch < 1 || checkpoint_open(argv[2], &ck, err, sizeof err) != 0) {
        fprintf(stderr, "test_export forward: %s\n", batch < 1 ? "bad N" : err);
        return 1;
    }
    double mean[8], std[8];
    int n_mean = 0, n_std = 0;
    if (checkpoint_build_net(&ck, be, batch, &net, err, sizeof err) != 0 ||
        metamap_get_doubles(checkpoint_metadata(&ck), CKPT_KEY_NORM_MEAN, mean, 8, &n_mean) != 0 ||
        metamap_get_doubles(checkpoint_metadata(&ck), CKPT_KEY_NORM_STD, std, 8, &n_std) != 0 ||
        n_mean != net.in_c || n_std != net.in_c) {
        fprintf(stderr, "test_export forward: %s\n", err);
        return 1;
    }
    size_t plane = (size_t)net.in_h * net.in_w, count = (size_t)batch * net.in_c * plane;
    float *images = malloc(count * sizeof *images);
    FILE *in = fopen(argv[3], "rb");
    int ok = in && fread(images, sizeof *images, count, in) == count && fgetc(in) == EOF;
    if (in) fclose(in);
    if (!ok) {
        fprintf(stderr, "test_export forward: %s does not hold %zu floats\n", argv[3], count);
        return 1;
    }
    for (size_t i = 0; i < count; i++) {
        int c = (int)((i / plane) % (size_t)net.in_c);
        images[i] = (images[i] - (float)mean[c]) / (float)std[c];
    }
    net_set_batch(&net, images, NULL, batch);
    net_forward(&net, batch, NULL, NET_EVAL);
    size_t n_logits = (size_t)batch * net.n_classes;
    real *logits = malloc(n_logits * sizeof(real));
    be->download(be, logits, net.logits, n_logits * sizeof(real));
    int rc = write_file(dir, "input.f32", images, count * sizeof *images) |
             write_floats(dir, "logits.f32", logits, n_logits);
    free(images);
    free(logits);
    net_free(&net);
    checkpoint_close(&ck);
    be->destroy(be);
    return rc == 0 ? 0 : 1;
}

// ---- reading a model back --------------------------------------------------------------------

static const char *TINY_PRESET =
    "name tiny-a\nblock basic\nshortcut A\nstem 4 3 1\nstem-pool none\nstages 2x4 1x8\n";
static const char *TINY_BOTTLENECK_PRESET =
    "name tiny-b\nblock bottleneck\nshortcut projection\nstem 4 7 2\nstem-pool max\n"
    "stages 1x2 1x4\n";

static Onnx__ModelProto *export_to_model(const Net *net, const MetaMap *meta,
                                         const ExportOptions *options, char *err, size_t len) {
    OnnxBuilder b;
    onnx_builder_init(&b, options->opset, "test", "sdexport", SDEXPORT_VERSION);
    Onnx__ModelProto *model = NULL;
    if (export_build_graph(net, meta, options, &b, err, len) == 0) {
        export_add_metadata(net, meta, options, &b);
        size_t size = 0;
        uint8_t *bytes = onnx_builder_pack(&b, &size);
        if (bytes) model = onnx__model_proto__unpack(NULL, size, bytes);
        free(bytes);
    }
    onnx_builder_free(&b);
    return model;
}

static int count_op(const Onnx__ModelProto *m, const char *op) {
    int n = 0;
    for (size_t i = 0; i < m->graph->n_node; i++) n += strcmp(m->graph->node[i]->op_type, op) == 0;
    return n;
}

static const Onnx__NodeProto *find_node(const Onnx__ModelProto *m, const char *name) {
    for (size_t i = 0; i < m->graph->n_node; i++)
        if (strcmp(m->graph->node[i]->name, name) == 0) return m->graph->node[i];
    return NULL;
}

static const Onnx__TensorProto *find_init(const Onnx__ModelProto *m, const char *name) {
    for (size_t i = 0; i < m->graph->n_initializer; i++)
        if (strcmp(m->graph->initializer[i]->name, name) == 0) return m->graph->initializer[i];
    return NULL;
}

static const Onnx__AttributeProto *find_attr(const Onnx__NodeProto *node, const char *name) {
    for (size_t i = 0; node && i < node->n_attribute; i++)
        if (strcmp(node->attribute[i]->name, name) == 0) return node->attribute[i];
    return NULL;
}

static const char *find_meta(const Onnx__ModelProto *m, const char *key) {
    for (size_t i = 0; i < m->n_metadata_props; i++)
        if (strcmp(m->metadata_props[i]->key, key) == 0) return m->metadata_props[i]->value;
    return NULL;
}

static float init_value(const Onnx__TensorProto *t, size_t i) {
    float v;
    memcpy(&v, t->raw_data.data + i * sizeof v, sizeof v);
    return v;
}

static int ints_equal(const Onnx__AttributeProto *a, int n, const int64_t *want) {
    if (!a || (int)a->n_ints != n) return 0;
    for (int i = 0; i < n; i++)
        if (a->ints[i] != want[i]) return 0;
    return 1;
}

typedef struct {
    Backend *be;
    Net net;
    real *params, *bn_state;
    MetaMap meta;
} Fixture;

static int fixture_open(Fixture *f, Backend *be, const char *preset_text, int h, const char *rule,
                        double p_last, char *err, size_t len) {
    memset(f, 0, sizeof *f);
    f->be = be;
    Preset preset;
    if (preset_parse(preset_text, "test", &preset, err, len) != 0 ||
        net_build(&f->net, be, &preset, 3, h, h, 5, 4, err, len) != 0)
        return -1;
    net_set_survival(&f->net, rule, p_last);
    randomise_network(&f->net, 99);
    f->params = malloc(f->net.n_params * sizeof(real));
    f->bn_state = malloc(f->net.n_bn_state * sizeof(real));
    be->download(be, f->params, f->net.params, f->net.n_params * sizeof(real));
    be->download(be, f->bn_state, f->net.bn_state, f->net.n_bn_state * sizeof(real));
    fixture_metadata(&f->net, rule, p_last, &f->meta);
    return 0;
}

static void fixture_close(Fixture *f) {
    free(f->params);
    free(f->bn_state);
    metamap_free(&f->meta);
    net_free(&f->net);
}

static const real *tensor_values(const Fixture *f, const char *name) {
    const NetTensor *t = net_find_tensor(&f->net, name);
    if (!t) return NULL;
    return (t->store == TENSOR_PARAM ? f->params : f->bn_state) + t->offset;
}

// The larger of a running worst error and a new one; once an error is NaN the worst
// stays NaN (fmax drops NaNs: a NaN weight would pass). Also keeps gcc 12.2 for
// aarch64 compiling this file: its vectoriser crashes (internal compiler error in
// vect_transform_reduction) on an fmax reduction of doubles over float loads at -O3.
static double worse_error(double worst, double error) {
    return isnan(error) || error > worst ? error : worst;
}

// The folded conv weight and bias of unit `unit` (1-based) of block `block`,
// recomputed here from the checkpoint tensors by the formula of the BN definition.
static void check_folded_unit(TestContext *t, const Onnx__ModelProto *m, const Fixture *f,
                              int block, int unit, double scale) {
    char name[96], conv[96], bn[96];
    snprintf(conv, sizeof conv, "blocks.%d.conv%d", block, unit);
    snprintf(bn, sizeof bn, "blocks.%d.bn%d", block, unit);
    snprintf(name, sizeof name, "%s.weight", conv);
    const NetTensor *wt = net_find_tensor(&f->net, name);
    const Onnx__TensorProto *w_init = find_init(m, name);
    snprintf(name, sizeof name, "%s.bias", conv);
    const Onnx__TensorProto *b_init = find_init(m, name);
    char gname[120], bname[120], mname[120], vname[120];
    snprintf(gname, sizeof gname, "%s.weight", bn);
    snprintf(bname, sizeof bname, "%s.bias", bn);
    snprintf(mname, sizeof mname, "%s.running_mean", bn);
    snprintf(vname, sizeof vname, "%s.running_var", bn);
    const real *w = tensor_values(f, wt ? wt->name : ""), *gamma = tensor_values(f, gname),
               *beta = tensor_values(f, bname), *mean = tensor_values(f, mname),
               *var = tensor_values(f, vname);
    CHECK(t, wt && w_init && b_init && gamma && beta && mean && var, "%s: tensors present", conv);
    if (!(wt && w_init && b_init && gamma && beta && mean && var)) return;
    int out_c = wt->dims[0];
    size_t per = wt->count / (size_t)out_c;
    CHECK(t, w_init->n_dims == 4 && w_init->dims[0] == out_c && w_init->raw_data.len ==
                                                                    wt->count * sizeof(float),
          "%s: folded weight shape", conv);
    CHECK(t, b_init->n_dims == 1 && b_init->dims[0] == out_c, "%s: bias shape [%d]", conv, out_c);
    double worst_w = 0, worst_b = 0;
    for (int c = 0; c < out_c; c++) {
        double inv_std = 1.0 / sqrt((double)var[c] + 1e-5);
        for (size_t i = 0; i < per; i++) {
            double want = scale * (double)w[c * per + i] * (double)gamma[c] * inv_std;
            double got = init_value(w_init, c * per + i);
            worst_w = worse_error(worst_w, fabs(got - want) / (fabs(want) + 1e-30));
        }
        double want_b = scale * ((double)beta[c] - (double)mean[c] * (double)gamma[c] * inv_std);
        worst_b = worse_error(worst_b, fabs(init_value(b_init, (size_t)c) - want_b) /
                                           (fabs(want_b) + 1e-7));
    }
    // One float32 rounding of a double result: relative error <= 2^-24 (plus eps in float).
    CHECK(t, worst_w <= 2e-7, "%s: folded weight = p w gamma/sqrt(var+eps) (rel err %.3g)", conv,
          worst_w);
    CHECK(t, worst_b <= 2e-6, "%s: folded bias = p (beta - mean gamma/sqrt(var+eps)) (%.3g)",
          conv, worst_b);
}

static void test_folded_graph(TestContext *t, Backend *be) {
    char err[300];
    Fixture f;
    if (fixture_open(&f, be, TINY_PRESET, 8, "linear", 0.5, err, sizeof err) != 0) {
        CHECK(t, 0, "fixture: %s", err);
        return;
    }
    ExportOptions options;
    export_default_options(&options);
    Onnx__ModelProto *m = export_to_model(&f.net, &f.meta, &options, err, sizeof err);
    CHECK(t, m != NULL, "default export builds and unpacks: %s", err);
    if (!m) {
        fixture_close(&f);
        return;
    }
    CHECK(t, m->ir_version == 7 && m->n_opset_import == 1 && m->opset_import[0]->version == 13,
          "opset 13, IR 7");
    CHECK(t, strcmp(m->producer_name, "sdexport") == 0, "producer sdexport");
    // tiny-a: 3 basic blocks, the third (4 -> 8 channels, stride 2) has an option-A shortcut.
    CHECK(t, count_op(m, "Conv") == 7, "7 Conv (stem + 2 per block), got %d", count_op(m, "Conv"));
    CHECK(t, count_op(m, "BatchNormalization") == 0, "no BatchNormalization when folded");
    CHECK(t, count_op(m, "Relu") == 7, "7 Relu, got %d", count_op(m, "Relu"));
    CHECK(t, count_op(m, "Add") == 3, "3 Add");
    CHECK(t, count_op(m, "Mul") == 0, "no Mul: p_l is folded");
    CHECK(t, count_op(m, "AveragePool") == 1 && count_op(m, "Pad") == 1, "one option-A shortcut");
    CHECK(t, count_op(m, "GlobalAveragePool") == 1 && count_op(m, "Flatten") == 1 &&
                 count_op(m, "Gemm") == 1,
          "head: GlobalAveragePool, Flatten, Gemm");
    CHECK(t, m->graph->n_node == 7 + 7 + 3 + 2 + 3, "21 nodes in all, got %zu", m->graph->n_node);

    // p_l by eq. (4) by hand: L = 3, p_last = 0.5: 5/6, 4/6, 3/6.
    check_folded_unit(t, m, &f, 0, 1, 1.0);
    check_folded_unit(t, m, &f, 0, 2, 5.0 / 6.0);
    check_folded_unit(t, m, &f, 1, 2, 4.0 / 6.0);
    check_folded_unit(t, m, &f, 2, 1, 1.0);
    check_folded_unit(t, m, &f, 2, 2, 0.5);

    const Onnx__TensorProto *pads = find_init(m, "blocks.2.shortcut.pads");
    int64_t want_pads[8] = {0, 0, 0, 0, 0, 4, 0, 0};
    CHECK(t, pads && pads->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 &&
                 pads->raw_data.len == sizeof want_pads &&
                 memcmp(pads->raw_data.data, want_pads, sizeof want_pads) == 0,
          "Pad appends 4 zero channels after the 4 inputs");
    const Onnx__NodeProto *pool = find_node(m, "blocks.2.shortcut.pool");
    int64_t two[2] = {2, 2};
    CHECK(t, ints_equal(find_attr(pool, "kernel_shape"), 2, two) &&
                 ints_equal(find_attr(pool, "strides"), 2, two),
          "option-A pool is 2x2 stride 2");
    const Onnx__NodeProto *stem = find_node(m, "stem.conv");
    int64_t pads1[4] = {1, 1, 1, 1}, ones[2] = {1, 1}, three[2] = {3, 3};
    CHECK(t, stem && ints_equal(find_attr(stem, "pads"), 4, pads1) &&
                 ints_equal(find_attr(stem, "strides"), 2, ones) &&
                 ints_equal(find_attr(stem, "kernel_shape"), 2, three),
          "stem Conv 3x3 stride 1 pads 1");
    const Onnx__NodeProto *down = find_node(m, "blocks.2.conv1");
    CHECK(t, down && ints_equal(find_attr(down, "strides"), 2, two), "block 2 conv1 stride 2");
    const Onnx__NodeProto *add = find_node(m, "blocks.2.add");
    CHECK(t, add && add->n_input == 2 && strcmp(add->input[0], "blocks.2.conv2") == 0 &&
                 strcmp(add->input[1], "blocks.2.shortcut.pad") == 0,
          "block 2 adds its branch and its padded shortcut");
    const Onnx__NodeProto *add0 = find_node(m, "blocks.0.add");
    CHECK(t, add0 && strcmp(add0->input[1], "stem.relu") == 0, "block 0 identity shortcut");
    const Onnx__NodeProto *gemm = find_node(m, "fc");
    const Onnx__AttributeProto *trans_b = find_attr(gemm, "transB");
    CHECK(t, gemm && trans_b && trans_b->i == 1 && strcmp(gemm->output[0], "logits") == 0,
          "Gemm transB=1 writes logits");
    const Onnx__TensorProto *fc_w = find_init(m, "fc.weight");
    const real *fc = tensor_values(&f, "fc.weight");
    CHECK(t, fc_w && fc_w->dims[0] == 5 && fc_w->dims[1] == 8 && init_value(fc_w, 7) == (float)fc[7],
          "fc.weight [5, 8] copied");

    const Onnx__ValueInfoProto *in = m->graph->n_input == 1 ? m->graph->input[0] : NULL;
    const Onnx__TensorShapeProto *shape = in ? in->type->tensor_type->shape : NULL;
    CHECK(t, in && strcmp(in->name, "input") == 0 && shape->n_dim == 4 &&
                 shape->dim[0]->value_case ==
                     ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                 strcmp(shape->dim[0]->dim_param, "N") == 0 && shape->dim[1]->dim_value == 3 &&
                 shape->dim[3]->dim_value == 8,
          "input [N,3,8,8]");
    const Onnx__ValueInfoProto *out = m->graph->n_output == 1 ? m->graph->output[0] : NULL;
    CHECK(t, out && strcmp(out->name, "logits") == 0 &&
                 out->type->tensor_type->shape->dim[1]->dim_value == 5,
          "output logits [N,5]");
    CHECK(t, find_meta(m, "preset") && strcmp(find_meta(m, "preset"), "tiny-a") == 0,
          "metadata preset");
    CHECK(t, find_meta(m, "depth") && strcmp(find_meta(m, "depth"), "8") == 0,
          "metadata depth 8 (7 conv + fc)");
    CHECK(t, find_meta(m, "with_preprocessing") && strcmp(find_meta(m, "with_preprocessing"), "0") == 0,
          "metadata with_preprocessing 0");
    CHECK(t, find_meta(m, "survival_rule") && strcmp(find_meta(m, "survival_rule"), "linear") == 0,
          "metadata survival_rule");
    CHECK(t, find_meta(m, "norm_mean") && find_meta(m, "norm_std") && find_meta(m, "classes"),
          "metadata norm_mean, norm_std, classes");
    onnx__model_proto__free_unpacked(m, NULL);
    fixture_close(&f);
}

static void test_keep_bn_and_options(TestContext *t, Backend *be) {
    char err[300];
    Fixture f;
    if (fixture_open(&f, be, TINY_PRESET, 8, "uniform", 0.8, err, sizeof err) != 0) {
        CHECK(t, 0, "fixture: %s", err);
        return;
    }
    ExportOptions options;
    export_default_options(&options);
    options.keep_bn = 1;
    options.batch = 4;
    options.opset = 15;
    Onnx__ModelProto *m = export_to_model(&f.net, &f.meta, &options, err, sizeof err);
    CHECK(t, m != NULL, "keep-bn export: %s", err);
    if (m) {
        CHECK(t, m->ir_version == 8 && m->opset_import[0]->version == 15, "opset 15, IR 8");
        CHECK(t, count_op(m, "BatchNormalization") == 7, "7 BatchNormalization kept");
        const Onnx__TensorProto *g2 = find_init(m, "blocks.1.bn2.weight");
        const Onnx__TensorProto *b2 = find_init(m, "blocks.1.bn2.bias");
        const Onnx__TensorProto *g1 = find_init(m, "blocks.1.bn1.weight");
        const real *gamma2 = tensor_values(&f, "blocks.1.bn2.weight");
        const real *beta2 = tensor_values(&f, "blocks.1.bn2.bias");
        const real *gamma1 = tensor_values(&f, "blocks.1.bn1.weight");
        CHECK(t, g2 && b2 && g1, "BN initializers named as in the checkpoint");
        if (g2 && b2 && g1) {
            CHECK_CLOSE(t, init_value(g2, 1), 0.8 * (double)gamma2[1], 1e-7, 0,
                        "last BN gamma carries p_l = 0.8");
            CHECK_CLOSE(t, init_value(b2, 2), 0.8 * (double)beta2[2], 1e-7, 0,
                        "last BN beta carries p_l = 0.8");
            CHECK(t, init_value(g1, 3) == (float)gamma1[3], "first BN gamma unscaled");
        }
        const Onnx__NodeProto *bn = find_node(m, "blocks.0.bn1");
        const Onnx__AttributeProto *eps = find_attr(bn, "epsilon");
        CHECK(t, bn && bn->n_input == 5 && eps && eps->f == 1e-5f, "BN node, 5 inputs, eps 1e-5");
        const Onnx__NodeProto *conv = find_node(m, "blocks.0.conv1");
        CHECK(t, conv && conv->n_input == 2, "conv without bias when the BN is kept");
        const Onnx__TensorShapeProto *shape = m->graph->input[0]->type->tensor_type->shape;
        CHECK(t, shape->dim[0]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                     shape->dim[0]->dim_value == 4,
              "--batch 4 fixes the batch dimension");
        CHECK(t, strcmp(find_meta(m, "keep_bn"), "1") == 0, "metadata keep_bn 1");
        onnx__model_proto__free_unpacked(m, NULL);
    }

    options.keep_bn = 0;
    options.with_preprocessing = 1;
    options.opset = 13;
    m = export_to_model(&f.net, &f.meta, &options, err, sizeof err);
    CHECK(t, m != NULL, "preprocessing export: %s", err);
    if (m) {
        const Onnx__NodeProto *sub = find_node(m, "preprocess.sub");
        const Onnx__TensorProto *mean = find_init(m, "preprocess.mean");
        const Onnx__TensorProto *std = find_init(m, "preprocess.std");
        CHECK(t, sub && strcmp(sub->input[0], "input") == 0 && count_op(m, "Div") == 1,
              "Sub then Div on the input");
        // [C,1,1], no batch axis: OpenCV DNN 4.6 cannot broadcast a [1,C,1,1] constant.
        CHECK(t, mean && mean->n_dims == 3 && mean->dims[0] == 3 && mean->dims[1] == 1 &&
                     mean->dims[2] == 1 && init_value(mean, 2) == 0.45f,
              "mean [3,1,1] with mean[2] = 0.45");
        CHECK(t, std && std->n_dims == 3 && std->dims[0] == 3 && std->dims[1] == 1 &&
                     std->dims[2] == 1 && init_value(std, 1) == 0.25f,
              "std [3,1,1] with std[1] = 0.25");
        const Onnx__NodeProto *div = find_node(m, "preprocess.div");
        CHECK(t, div && strcmp(div->input[0], "preprocess.sub") == 0 &&
                     strcmp(div->input[1], "preprocess.std") == 0,
              "Div reads the Sub and the std");
        CHECK(t, strcmp(find_node(m, "stem.conv")->input[0], "preprocess.div") == 0,
              "stem reads the normalised input");
        CHECK(t, strcmp(find_meta(m, "with_preprocessing"), "1") == 0, "with_preprocessing 1");
        onnx__model_proto__free_unpacked(m, NULL);
    }
    MetaMap empty;
    metamap_init(&empty);
    err[0] = '\0';
    m = export_to_model(&f.net, &empty, &options, err, sizeof err);
    CHECK(t, m == NULL && strstr(err, "norm_mean"), "preprocessing without norm refused: %s", err);
    metamap_set(&empty, CKPT_KEY_NORM_MEAN, "0.5");
    metamap_set(&empty, CKPT_KEY_NORM_STD, "0.5");
    m = export_to_model(&f.net, &empty, &options, err, sizeof err);
    CHECK(t, m == NULL && strstr(err, "3 input channels"), "wrong channel count refused: %s", err);
    metamap_free(&empty);

    // Opsets and IR versions (onnx.helper.VERSION_TABLE).
    const int ir_of[18] = {[11] = 6, [12] = 7, [13] = 7, [14] = 7, [15] = 8, [16] = 8, [17] = 8};
    for (int opset = 11; opset <= 17; opset++)
        CHECK(t, onnx_ir_version_for_opset(opset) == ir_of[opset], "opset %d -> IR %d", opset,
              ir_of[opset]);
    int refused[] = {1, 10, 18, 21};
    for (int i = 0; i < 4; i++) {
        options.opset = refused[i];
        err[0] = '\0';
        CHECK(t, export_check_options(&options, err, sizeof err) == -1 && strstr(err, "11 to 17"),
              "opset %d refused: %s", refused[i], err);
    }
    fixture_close(&f);
}

static void test_bottleneck_graph(TestContext *t, Backend *be) {
    char err[300];
    Fixture f;
    if (fixture_open(&f, be, TINY_BOTTLENECK_PRESET, 32, "linear", 0.5, err, sizeof err) != 0) {
        CHECK(t, 0, "fixture: %s", err);
        return;
    }
    ExportOptions options;
    export_default_options(&options);
    Onnx__ModelProto *m = export_to_model(&f.net, &f.meta, &options, err, sizeof err);
    CHECK(t, m != NULL, "bottleneck export: %s", err);
    if (m) {
        // stem + 2 blocks x (3 branch + 1 projection) convolutions.
        CHECK(t, count_op(m, "Conv") == 9, "9 Conv, got %d", count_op(m, "Conv"));
        CHECK(t, count_op(m, "MaxPool") == 1 && count_op(m, "Pad") == 0, "MaxPool stem, no Pad");
        const Onnx__NodeProto *pool = find_node(m, "stem.pool");
        int64_t pads1[4] = {1, 1, 1, 1}, two[2] = {2, 2}, three[2] = {3, 3};
        CHECK(t, ints_equal(find_attr(pool, "pads"), 4, pads1) &&
                     ints_equal(find_attr(pool, "strides"), 2, two) &&
                     ints_equal(find_attr(pool, "kernel_shape"), 2, three),
              "max pool 3x3/2 pads 1");
        const Onnx__NodeProto *stem = find_node(m, "stem.conv");
        int64_t pads3[4] = {3, 3, 3, 3};
        CHECK(t, ints_equal(find_attr(stem, "pads"), 4, pads3), "7x7 stem pads 3");
        const Onnx__NodeProto *proj = find_node(m, "blocks.1.shortcut.conv");
        CHECK(t, proj && find_init(m, "blocks.1.shortcut.conv.bias"), "projection conv folded");
        const Onnx__NodeProto *add = find_node(m, "blocks.1.add");
        CHECK(t, add && strcmp(add->input[0], "blocks.1.conv3") == 0 &&
                     strcmp(add->input[1], "blocks.1.shortcut.conv") == 0,
              "block 1 adds conv3 and its projection");
        check_folded_unit(t, m, &f, 1, 3, 0.5);  // the last unit carries p_2 = 0.5
        check_folded_unit(t, m, &f, 0, 3, 0.75);
        onnx__model_proto__free_unpacked(m, NULL);
    }
    fixture_close(&f);
}

// export_checkpoint end to end: errors leave no output file.
static void test_export_errors(TestContext *t, Backend *be) {
    char dir[] = "/tmp/test_export.XXXXXX";
    if (!mkdtemp(dir)) return;
    char ckpt[300], onnx[300], err[600];
    snprintf(ckpt, sizeof ckpt, "%s/model.safetensors", dir);
    snprintf(onnx, sizeof onnx, "%s/model.onnx", dir);
    ExportOptions options;
    export_default_options(&options);
    err[0] = '\0';
    CHECK(t, export_checkpoint(ckpt, onnx, &options, err, sizeof err) == -1 && strstr(err, ckpt),
          "missing checkpoint: %s", err);
    CHECK(t, access(onnx, F_OK) != 0, "no output after a missing checkpoint");
    FILE *junk = fopen(ckpt, "wb");
    fputs("this is not a checkpoint at all", junk);
    fclose(junk);
    CHECK(t, export_checkpoint(ckpt, onnx, &options, err, sizeof err) == -1 && strstr(err, ckpt),
          "corrupt checkpoint: %s", err);
    CHECK(t, access(onnx, F_OK) != 0, "no output after a corrupt checkpoint");

    Fixture f;
    if (fixture_open(&f, be, TINY_PRESET, 8, "linear", 0.5, err, sizeof err) == 0) {
        checkpoint_save(ckpt, &f.net, &f.meta, 0, err, sizeof err);
        char bad_out[400];
        snprintf(bad_out, sizeof bad_out, "%s/no-such-dir/model.onnx", dir);
        CHECK(t, export_checkpoint(ckpt, bad_out, &options, err, sizeof err) == -1 &&
                     strstr(err, bad_out),
              "unwritable output: %s", err);
        options.opset = 9;
        CHECK(t, export_checkpoint(ckpt, onnx, &options, err, sizeof err) == -1 &&
                     strstr(err, "opset 9"),
              "opset 9 refused: %s", err);
        CHECK(t, access(onnx, F_OK) != 0, "no output after a refused opset");
        options.opset = 13;
        CHECK(t, export_checkpoint(ckpt, onnx, &options, err, sizeof err) == 0, "export: %s", err);
        struct stat st;
        CHECK(t, stat(onnx, &st) == 0 && st.st_size > 1000, "model written");
        unlink(onnx);
        fixture_close(&f);
    }
    unlink(ckpt);
    rmdir(dir);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "write") == 0) return write_fixture(argc, argv);
    if (argc > 1 && strcmp(argv[1], "forward") == 0) return forward_checkpoint(argc, argv);
    TestContext t = {.suite = "test_export"};
    char err[300];
    Backend *be = backend_cpu_create(1, err, sizeof err);
    if (!be) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    test_folded_graph(&t, be);
    test_keep_bn_and_options(&t, be);
    test_bottleneck_graph(&t, be);
    test_export_errors(&t, be);
    be->destroy(be);
    return test_finish(&t);
}
