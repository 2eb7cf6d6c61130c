// Walks a Net and emits its test-time graph (see export.h).
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/checkpoint.h"
#include "common/conv_geometry.h"
#include "export.h"
#include "fold.h"

#define NAME_LEN 128
#define MAX_NORM_CHANNELS 64

typedef struct {
    OnnxBuilder *b;
    const Net *net;
    const real *params, *bn_state;  // host copies of the device buffers
    const ExportOptions *options;
    char *err;
    size_t err_len;
} Emitter;

static int emit_fail(Emitter *e, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(e->err, e->err_len, format, args);
    va_end(args);
    return -1;
}

// The checkpoint name of the parameter at `offset`, without its last component:
// "blocks.3.conv1.weight" -> "blocks.3.conv1". Node and initializer names follow
// the checkpoint's, so the two files read side by side.
static int param_prefix(const Net *net, size_t offset, char *out) {
    for (int i = 0; i < net->n_tensors; i++) {
        const NetTensor *t = &net->tensors[i];
        if (t->store != TENSOR_PARAM || t->offset != offset) continue;
        snprintf(out, NAME_LEN, "%s", t->name);
        char *dot = strrchr(out, '.');
        if (dot) *dot = '\0';
        return 0;
    }
    return -1;
}

// "stem.bn" -> "stem.relu", "blocks.3.bn1" -> "blocks.3.relu1".
static void relu_name_for(const char *bn_name, char *out) {
    const char *bn = strstr(bn_name, ".bn");
    const char *last = bn;
    while (bn) {
        last = bn;
        bn = strstr(bn + 1, ".bn");
    }
    if (!last) {
        snprintf(out, NAME_LEN, "%s.relu", bn_name);
        return;
    }
    snprintf(out, NAME_LEN, "%.*s.relu%s", (int)(last - bn_name), bn_name, last + 3);
}

// ONNX pads [top, left, bottom, right]. The symmetric form when it yields the
// network's output size (what cuDNN-style runtimes prefer), else the bottom/right
// padding that the output size implies.
static void conv_pads(int in, int out, int kernel, int stride, int pad_begin, int64_t *begin,
                      int64_t *end) {
    *begin = pad_begin;
    if (conv_output_size(in, pad_begin, pad_begin, kernel, 1, stride) == out) {
        *end = pad_begin;
        return;
    }
    int implied = (out - 1) * stride + kernel - in - pad_begin;
    *end = implied > 0 ? implied : 0;
}

static void add_spatial_attributes(Emitter *e, Onnx__NodeProto *node, int kernel_h, int kernel_w,
                                   int stride_h, int stride_w, int in_h, int in_w, int out_h,
                                   int out_w, int pad_top, int pad_left) {
    int64_t kernel[2] = {kernel_h, kernel_w}, strides[2] = {stride_h, stride_w}, pads[4];
    conv_pads(in_h, out_h, kernel_h, stride_h, pad_top, &pads[0], &pads[2]);
    conv_pads(in_w, out_w, kernel_w, stride_w, pad_left, &pads[1], &pads[3]);
    onnx_attr_ints(e->b, node, "kernel_shape", 2, kernel);
    onnx_attr_ints(e->b, node, "strides", 2, strides);
    onnx_attr_ints(e->b, node, "pads", 4, pads);
}

static BatchNormParams bn_params_of(const Emitter *e, const ConvBN *u) {
    BatchNormParams bn = {e->params + u->gamma, e->params + u->beta, e->bn_state + u->running_mean,
                          e->bn_state + u->running_var, (double)e->net->bn_eps};
    return bn;
}

static Onnx__NodeProto *emit_conv_node(Emitter *e, const ConvBN *u, const char *conv_name,
                                       int n_inputs, const char *const *inputs) {
    const ConvGeom *g = &u->geom;
    Onnx__NodeProto *conv = onnx_node(e->b, "Conv", conv_name, n_inputs, inputs, conv_name);
    add_spatial_attributes(e, conv, g->kernel_h, g->kernel_w, g->stride_h, g->stride_w, g->in_h,
                           g->in_w, g->out_h, g->out_w, g->pad_top, g->pad_left);
    return conv;
}

// Folded: one Conv with weight w' and bias b' (fold.h). Output value: conv_name.
static int emit_conv_folded(Emitter *e, const ConvBN *u, const char *conv_name,
                            const char *input, double scale) {
    const ConvGeom *g = &u->geom;
    size_t per_channel = (size_t)g->in_c * g->kernel_h * g->kernel_w;
    int64_t weight_dims[4] = {g->out_c, g->in_c, g->kernel_h, g->kernel_w};
    int64_t bias_dims[1] = {g->out_c};
    float *weight = malloc((size_t)g->out_c * per_channel * sizeof *weight);
    float *bias = malloc((size_t)g->out_c * sizeof *bias);
    if (!weight || !bias) {
        free(weight), free(bias);
        return emit_fail(e, "out of memory");
    }
    BatchNormParams bn = bn_params_of(e, u);
    bn_fold_into_conv(e->params + u->weight, NULL, g->out_c, per_channel, &bn, scale, weight, bias);
    char name[NAME_LEN + 16];
    const char *inputs[3] = {input};
    snprintf(name, sizeof name, "%s.weight", conv_name);
    inputs[1] = onnx_initializer_float(e->b, name, 4, weight_dims, weight);
    snprintf(name, sizeof name, "%s.bias", conv_name);
    inputs[2] = onnx_initializer_float(e->b, name, 1, bias_dims, bias);
    emit_conv_node(e, u, conv_name, 3, inputs);
    free(weight), free(bias);
    return 0;
}

// Kept: Conv without bias, then BatchNormalization with gamma and beta times
// scale. Output value: bn_name.
static int emit_conv_and_bn(Emitter *e, const ConvBN *u, const char *conv_name,
                            const char *bn_name, const char *input, double scale) {
    const ConvGeom *g = &u->geom;
    size_t weight_count = (size_t)g->out_c * g->in_c * g->kernel_h * g->kernel_w;
    int64_t weight_dims[4] = {g->out_c, g->in_c, g->kernel_h, g->kernel_w};
    int64_t channel_dims[1] = {g->out_c};
    float *weight = malloc(weight_count * sizeof *weight);
    float *channel_values[4];  // gamma', beta', mean, var
    for (int i = 0; i < 4; i++) channel_values[i] = malloc((size_t)g->out_c * sizeof(float));
    int ok = weight && channel_values[0] && channel_values[1] && channel_values[2] &&
             channel_values[3];
    if (ok) {
        const real *w = e->params + u->weight;
        for (size_t i = 0; i < weight_count; i++) weight[i] = (float)w[i];
        BatchNormParams bn = bn_params_of(e, u);
        scale_bn(&bn, g->out_c, scale, channel_values[0], channel_values[1]);
        for (int c = 0; c < g->out_c; c++) {
            channel_values[2][c] = (float)bn.mean[c];
            channel_values[3][c] = (float)bn.var[c];
        }
        char name[NAME_LEN + 16];
        const char *conv_inputs[2] = {input};
        snprintf(name, sizeof name, "%s.weight", conv_name);
        conv_inputs[1] = onnx_initializer_float(e->b, name, 4, weight_dims, weight);
        emit_conv_node(e, u, conv_name, 2, conv_inputs);
        // BatchNormalization inputs: X, scale, B, input_mean, input_var.
        static const char *const suffixes[4] = {"weight", "bias", "running_mean", "running_var"};
        const char *bn_inputs[5] = {conv_name};
        for (int i = 0; i < 4; i++) {
            snprintf(name, sizeof name, "%s.%s", bn_name, suffixes[i]);
            bn_inputs[i + 1] = onnx_initializer_float(e->b, name, 1, channel_dims, channel_values[i]);
        }
        Onnx__NodeProto *norm = onnx_node(e->b, "BatchNormalization", bn_name, 5, bn_inputs,
                                          bn_name);
        onnx_attr_float(e->b, norm, "epsilon", (float)e->net->bn_eps);
    }
    free(weight);
    for (int i = 0; i < 4; i++) free(channel_values[i]);
    return ok ? 0 : emit_fail(e, "out of memory");
}

// Conv + BN (+ ReLU when u->relu) with the BN output multiplied by `scale`.
// Writes the name of the unit's output value into out.
static int emit_convbn(Emitter *e, const ConvBN *u, const char *input, double scale, char *out) {
    char conv_name[NAME_LEN], bn_name[NAME_LEN];
    if (param_prefix(e->net, u->weight, conv_name) != 0 ||
        param_prefix(e->net, u->gamma, bn_name) != 0)
        return emit_fail(e, "network tensors are not named as expected");
    int rc = e->options->keep_bn ? emit_conv_and_bn(e, u, conv_name, bn_name, input, scale)
                                 : emit_conv_folded(e, u, conv_name, input, scale);
    if (rc != 0) return -1;
    snprintf(out, NAME_LEN, "%s", e->options->keep_bn ? bn_name : conv_name);
    if (u->relu) {
        char relu_name[NAME_LEN];
        relu_name_for(bn_name, relu_name);
        const char *relu_input = out;
        onnx_node(e->b, "Relu", relu_name, 1, &relu_input, relu_name);
        snprintf(out, NAME_LEN, "%s", relu_name);
    }
    return 0;
}

// Option A: 2x2/2 average pool, then zeros appended on the channel axis with Pad.
static void emit_shortcut_a(Emitter *e, const Block *block, int index, const char *input,
                            char *out) {
    char pool_name[NAME_LEN], pads_name[NAME_LEN];
    snprintf(pool_name, sizeof pool_name, "blocks.%d.shortcut.pool", index);
    Onnx__NodeProto *pool = onnx_node(e->b, "AveragePool", pool_name, 1, &input, pool_name);
    int64_t two[2] = {2, 2};
    onnx_attr_ints(e->b, pool, "kernel_shape", 2, two);
    onnx_attr_ints(e->b, pool, "strides", 2, two);
    // pads: [begin of N, C, H, W, end of N, C, H, W]
    int64_t pads[8] = {0, 0, 0, 0, 0, block->out_c - block->in_c, 0, 0};
    int64_t pads_dims[1] = {8};
    snprintf(pads_name, sizeof pads_name, "blocks.%d.shortcut.pads", index);
    const char *inputs[2] = {pool_name, onnx_initializer_int64(e->b, pads_name, 1, pads_dims, pads)};
    snprintf(out, NAME_LEN, "blocks.%d.shortcut.pad", index);
    // No attributes: mode defaults to "constant" and the omitted constant_value to 0.
    onnx_node(e->b, "Pad", out, 2, inputs, out);
}

static int emit_block(Emitter *e, int index, const char *input, char *out) {
    const Block *block = &e->net->blocks[index];
    char shortcut[NAME_LEN], branch[NAME_LEN];
    snprintf(shortcut, sizeof shortcut, "%s", input);
    if (block->shortcut_a) {
        if (block->in_h / 2 != block->out_h || block->in_w / 2 != block->out_w ||
            block->stride != 2)
            return emit_fail(e, "block %d: option-A shortcut with unexpected sizes", index);
        emit_shortcut_a(e, block, index, input, shortcut);
    } else if (block->has_projection) {
        if (emit_convbn(e, &block->projection, input, 1.0, shortcut) != 0) return -1;
    } else if (block->in_c != block->out_c || block->in_h != block->out_h) {
        return emit_fail(e, "block %d changes shape but has no shortcut", index);
    }
    snprintf(branch, sizeof branch, "%s", input);
    for (int u = 0; u < block->n_units; u++) {
        int last = u == block->n_units - 1;
        double scale = last ? e->net->survival_prob[index] : 1.0;  // paper eq. (5)
        char unit_out[NAME_LEN];
        if (emit_convbn(e, &block->units[u], branch, scale, unit_out) != 0) return -1;
        snprintf(branch, sizeof branch, "%s", unit_out);
    }
    char add_name[NAME_LEN];
    snprintf(add_name, sizeof add_name, "blocks.%d.add", index);
    const char *add_inputs[2] = {branch, shortcut};
    onnx_node(e->b, "Add", add_name, 2, add_inputs, add_name);
    snprintf(out, NAME_LEN, "blocks.%d.relu", index);
    const char *relu_input = add_name;
    onnx_node(e->b, "Relu", out, 1, &relu_input, out);
    return 0;
}

// Sub mean, Div std with [C,1,1] constants: exactly the trainer's float
// (pixel/255 - mean) / std, zero padding included (not folded into the first
// convolution: that would be wrong at the borders, where the network zero-pads the
// normalised image). [C,1,1], not [1,C,1,1]: both broadcast against [N,C,H,W] in
// ONNX, but OpenCV DNN (4.6) cannot run a Sub/Div whose constant has the batch axis.
// A BatchNormalization or a diagonal 1x1 Conv also run everywhere, but as
// x * (1/std) + (-mean/std) they round differently from the trainer; Sub/Div is
// bit-exact in onnxruntime and sdinfer (README, "Runtimes").
static int emit_preprocessing(Emitter *e, const MetaMap *metadata, char *out) {
    const Net *net = e->net;
    double mean[MAX_NORM_CHANNELS], std[MAX_NORM_CHANNELS];
    int n_mean = 0, n_std = 0;
    if (!metadata ||
        metamap_get_doubles(metadata, CKPT_KEY_NORM_MEAN, mean, MAX_NORM_CHANNELS,
                            &n_mean) != 0 ||
        metamap_get_doubles(metadata, CKPT_KEY_NORM_STD, std, MAX_NORM_CHANNELS,
                            &n_std) != 0)
        return emit_fail(e, "--with-preprocessing needs norm_mean and norm_std (one number per "
                            "channel) in the checkpoint metadata");
    if (n_mean != net->in_c || n_std != net->in_c)
        return emit_fail(e, "norm_mean/norm_std list %d/%d values for %d input channels", n_mean,
                         n_std, net->in_c);
    float mean_f[MAX_NORM_CHANNELS], std_f[MAX_NORM_CHANNELS];
    for (int c = 0; c < net->in_c; c++) {
        if (!(std[c] > 0)) return emit_fail(e, "norm_std[%d] = %g is not positive", c, std[c]);
        mean_f[c] = (float)mean[c];
        std_f[c] = (float)std[c];
    }
    int64_t dims[3] = {net->in_c, 1, 1};
    const char *sub_inputs[2] = {"input",
                                 onnx_initializer_float(e->b, "preprocess.mean", 3, dims, mean_f)};
    onnx_node(e->b, "Sub", "preprocess.sub", 2, sub_inputs, "preprocess.sub");
    const char *div_inputs[2] = {"preprocess.sub",
                                 onnx_initializer_float(e->b, "preprocess.std", 3, dims, std_f)};
    onnx_node(e->b, "Div", "preprocess.div", 2, div_inputs, "preprocess.div");
    snprintf(out, NAME_LEN, "preprocess.div");
    return 0;
}

static void emit_head(Emitter *e, const char *features) {
    const Net *net = e->net;
    onnx_node(e->b, "GlobalAveragePool", "head.pool", 1, &features, "head.pool");
    const char *pooled = "head.pool";
    Onnx__NodeProto *flatten = onnx_node(e->b, "Flatten", "head.flatten", 1, &pooled,
                                         "head.flatten");
    onnx_attr_int(e->b, flatten, "axis", 1);
    int64_t weight_dims[2] = {net->n_classes, net->feat_c}, bias_dims[1] = {net->n_classes};
    size_t weight_count = (size_t)net->n_classes * net->feat_c;
    float *weight = malloc(weight_count * sizeof *weight);
    float *bias = malloc((size_t)net->n_classes * sizeof *bias);
    if (weight && bias) {
        for (size_t i = 0; i < weight_count; i++) weight[i] = (float)e->params[net->fc_weight + i];
        for (int i = 0; i < net->n_classes; i++) bias[i] = (float)e->params[net->fc_bias + i];
        const char *inputs[3] = {"head.flatten",
                                 onnx_initializer_float(e->b, "fc.weight", 2, weight_dims, weight),
                                 onnx_initializer_float(e->b, "fc.bias", 1, bias_dims, bias)};
        Onnx__NodeProto *gemm = onnx_node(e->b, "Gemm", "fc", 3, inputs, "logits");
        onnx_attr_int(e->b, gemm, "transB", 1);
    } else {
        e->b->out_of_memory = 1;
    }
    free(weight);
    free(bias);
}

static int emit_graph(Emitter *e, const MetaMap *metadata) {
    const Net *net = e->net;
    int64_t batch = e->options->batch > 0 ? e->options->batch : -1;
    int64_t input_dims[4] = {batch, net->in_c, net->in_h, net->in_w};
    int64_t output_dims[2] = {batch, net->n_classes};
    onnx_graph_input(e->b, "input", 4, input_dims, "N");
    char x[NAME_LEN] = "input";
    if (e->options->with_preprocessing && emit_preprocessing(e, metadata, x) != 0) return -1;
    if (emit_convbn(e, &net->stem, x, 1.0, x) != 0) return -1;
    if (net->stem_pool) {
        const PoolGeom *pg = &net->stem_pool_geom;
        const char *pool_input = x;
        Onnx__NodeProto *pool = onnx_node(e->b, "MaxPool", "stem.pool", 1, &pool_input,
                                          "stem.pool");
        add_spatial_attributes(e, pool, pg->kernel_h, pg->kernel_w, pg->stride_h, pg->stride_w,
                               pg->in_h, pg->in_w, pg->out_h, pg->out_w, pg->pad_top,
                               pg->pad_left);
        snprintf(x, sizeof x, "stem.pool");
    }
    for (int l = 0; l < net->n_blocks; l++) {
        char out[NAME_LEN];
        if (emit_block(e, l, x, out) != 0) return -1;
        snprintf(x, sizeof x, "%s", out);
    }
    emit_head(e, x);
    onnx_graph_output(e->b, "logits", 2, output_dims, "N");
    if (e->b->out_of_memory) return emit_fail(e, "out of memory building the graph");
    return 0;
}

int export_build_graph(const Net *net, const MetaMap *metadata, const ExportOptions *options,
                       OnnxBuilder *b, char *err, size_t err_len) {
    real *params = malloc((net->n_params ? net->n_params : 1) * sizeof(real));
    real *bn_state = malloc((net->n_bn_state ? net->n_bn_state : 1) * sizeof(real));
    int result = -1;
    if (!params || !bn_state) {
        snprintf(err, err_len, "out of memory for the parameters");
    } else {
        net->be->download(net->be, params, net->params, net->n_params * sizeof(real));
        net->be->download(net->be, bn_state, net->bn_state, net->n_bn_state * sizeof(real));
        Emitter e = {b, net, params, bn_state, options, err, err_len};
        result = emit_graph(&e, metadata);
    }
    free(params);
    free(bn_state);
    return result;
}
