// Building a network: shapes, the flat parameter layout, the activation arena,
// initialisation, survival probabilities and gates. The passes themselves are
// in net_forward.c and net_backward.c.
#include "net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_geometry.h"
#include "net_sync_bn.h"

// The layout is computed twice by the same code: a counting pass that only adds
// up sizes, then an assigning pass that hands out offsets and pointers. One
// walk over the architecture therefore defines both, and they cannot disagree.
typedef struct {
    Net *net;
    int assign;               // 0: count only; 1: hand out offsets, pointers, names
    size_t n_params, n_bn_state, n_activation, max_activation;
    real *activation_base;
    int n_tensors;
    int overflow;             // some size does not fit a size_t: the network cannot exist
    int vanished;             // some feature map has no rows or columns left
} Layout;

// a * b, flagging an overflow in the layout (and then returning 0).
static size_t layout_mul(Layout *lay, size_t a, size_t b) {
    size_t product;
    if (__builtin_mul_overflow(a, b, &product)) {
        lay->overflow = 1;
        return 0;
    }
    return product;
}

static size_t layout_add(Layout *lay, size_t a, size_t b) {
    size_t sum;
    if (__builtin_add_overflow(a, b, &sum)) {
        lay->overflow = 1;
        return 0;
    }
    return sum;
}

// Elements of a batch of maps: the caller's sizes are positive ints.
static size_t map_count(Layout *lay, int batch, int channels, int height, int width) {
    if (height < 1 || width < 1) lay->vanished = 1;
    if (batch < 1 || channels < 1 || height < 1 || width < 1) return 0;
    return layout_mul(lay, layout_mul(lay, (size_t)batch, (size_t)channels),
                      layout_mul(lay, (size_t)height, (size_t)width));
}

// Names the tensor prefix + part + suffix ("blocks.3." "conv1" ".weight"); the name is
// formatted only when assigning (a counting pass over a deep preset stays cheap).
static size_t take_tensor(Layout *lay, TensorStore store, const char *prefix, const char *part,
                          const char *suffix, int rank, const int *dims) {
    size_t count = 1;
    for (int d = 0; d < rank; d++) count = layout_mul(lay, count, (size_t)dims[d]);
    size_t *cursor = store == TENSOR_PARAM ? &lay->n_params : &lay->n_bn_state;
    size_t offset = *cursor;
    *cursor = layout_add(lay, *cursor, count);
    if (lay->assign) {
        NetTensor *t = &lay->net->tensors[lay->n_tensors];
        snprintf(t->name, sizeof t->name, "%s%s%s", prefix, part, suffix);
        t->store = store;
        t->rank = rank;
        for (int d = 0; d < 4; d++) t->dims[d] = d < rank ? dims[d] : 1;
        t->offset = offset;
        t->count = count;
    }
    lay->n_tensors++;
    return offset;
}

static real *take_activation(Layout *lay, size_t count) {
    if (count > lay->max_activation) lay->max_activation = count;
    size_t offset = lay->n_activation;
    size_t padded = layout_add(lay, count, 15) & ~(size_t)15;  // 64-byte alignment for float
    lay->n_activation = layout_add(lay, lay->n_activation, padded);
    return lay->assign ? lay->activation_base + offset : NULL;
}

// Symmetric padding, no dilation: the only windows the presets lay out.
static int conv_out_size(int in, int kernel, int stride, int pad) {
    return (int)conv_output_size(in, pad, pad, kernel, 1, stride);
}

static void layout_convbn(Layout *lay, ConvBN *u, const char *prefix, const char *conv_name,
                          const char *bn_name, int in_c, int in_h, int in_w, int out_c, int kernel,
                          int stride, int relu) {
    int batch = lay->net->batch_max;
    int pad = kernel / 2;
    ConvGeom g = {.batch = batch, .in_c = in_c, .in_h = in_h, .in_w = in_w, .out_c = out_c,
                  .out_h = conv_out_size(in_h, kernel, stride, pad),
                  .out_w = conv_out_size(in_w, kernel, stride, pad),
                  .kernel_h = kernel, .kernel_w = kernel, .stride_h = stride, .stride_w = stride,
                  .pad_top = pad, .pad_left = pad};
    u->geom = g;
    u->relu = relu;
    int wdims[4] = {out_c, in_c, kernel, kernel};
    u->weight = take_tensor(lay, TENSOR_PARAM, prefix, conv_name, ".weight", 4, wdims);
    u->gamma = take_tensor(lay, TENSOR_PARAM, prefix, bn_name, ".weight", 1, &out_c);
    u->beta = take_tensor(lay, TENSOR_PARAM, prefix, bn_name, ".bias", 1, &out_c);
    u->running_mean =
        take_tensor(lay, TENSOR_BN_STATE, prefix, bn_name, ".running_mean", 1, &out_c);
    u->running_var = take_tensor(lay, TENSOR_BN_STATE, prefix, bn_name, ".running_var", 1, &out_c);
    size_t count = map_count(lay, batch, out_c, g.out_h, g.out_w);
    u->conv_out = take_activation(lay, count);
    u->bn_out = take_activation(lay, count);
    u->save_mean = take_activation(lay, (size_t)out_c);
    u->save_invstd = take_activation(lay, (size_t)out_c);
}

// One residual block: the branch units, then the shortcut.
static void layout_block(Layout *lay, Block *b, int index, int in_c, int in_h, int in_w,
                         int width, int stride) {
    const Preset *preset = &lay->net->preset;
    char prefix[48];
    snprintf(prefix, sizeof prefix, "blocks.%d.", index);
    int bottleneck = preset->block == BLOCK_BOTTLENECK;
    int out_c = bottleneck ? 4 * width : width;
    b->n_units = bottleneck ? 3 : 2;
    int unit_out[3], unit_kernel[3], unit_stride[3];
    if (bottleneck) {  // 1x1 reduce, 3x3 (carries the stride, as in He et al. / Torch), 1x1 expand
        unit_out[0] = width, unit_kernel[0] = 1, unit_stride[0] = 1;
        unit_out[1] = width, unit_kernel[1] = 3, unit_stride[1] = stride;
        unit_out[2] = out_c, unit_kernel[2] = 1, unit_stride[2] = 1;
    } else {
        unit_out[0] = width, unit_kernel[0] = 3, unit_stride[0] = stride;
        unit_out[1] = width, unit_kernel[1] = 3, unit_stride[1] = 1;
    }
    int c = in_c, h = in_h, w = in_w;
    for (int u = 0; u < b->n_units; u++) {
        char conv_name[16], bn_name[16];
        snprintf(conv_name, sizeof conv_name, "conv%d", u + 1);
        snprintf(bn_name, sizeof bn_name, "bn%d", u + 1);
        int last = u == b->n_units - 1;
        layout_convbn(lay, &b->units[u], prefix, conv_name, bn_name, c, h, w, unit_out[u],
                      unit_kernel[u], unit_stride[u], !last);
        c = unit_out[u], h = b->units[u].geom.out_h, w = b->units[u].geom.out_w;
    }
    b->in_c = in_c, b->in_h = in_h, b->in_w = in_w;
    b->out_c = c, b->out_h = h, b->out_w = w, b->stride = stride;
    int reshapes = stride != 1 || in_c != out_c;
    b->shortcut_a = reshapes && preset->shortcut == SHORTCUT_OPTION_A;
    b->has_projection = reshapes && preset->shortcut == SHORTCUT_PROJECTION;
    b->shortcut_out = NULL;
    if (b->shortcut_a)
        b->shortcut_out = take_activation(lay, map_count(lay, lay->net->batch_max, out_c, h, w));
    if (b->has_projection) {
        layout_convbn(lay, &b->projection, prefix, "shortcut.conv", "shortcut.bn", in_c, in_h,
                      in_w, out_c, 1, stride, 0);
        b->shortcut_out = b->projection.bn_out;
    }
}

static void layout_net(Layout *lay) {
    Net *net = lay->net;
    const Preset *preset = &net->preset;
    layout_convbn(lay, &net->stem, "stem.", "conv", "bn", net->in_c, net->in_h, net->in_w,
                  preset->stem_channels, preset->stem_kernel, preset->stem_stride, 1);
    int c = preset->stem_channels, h = net->stem.geom.out_h, w = net->stem.geom.out_w;
    net->stem_pool = preset->stem_maxpool;
    if (net->stem_pool) {
        PoolGeom pg = {.batch = net->batch_max, .channels = c, .in_h = h, .in_w = w,
                       .out_h = conv_out_size(h, 3, 2, 1), .out_w = conv_out_size(w, 3, 2, 1),
                       .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2,
                       .pad_top = 1, .pad_left = 1};
        net->stem_pool_geom = pg;
        h = pg.out_h, w = pg.out_w;
        net->stem_pool_out = take_activation(lay, map_count(lay, net->batch_max, c, h, w));
    }
    int index = 0;
    for (int s = 0; s < preset->n_stages; s++) {
        for (int i = 0; i < preset->stage_blocks[s]; i++, index++) {
            int stride = (s > 0 && i == 0) ? 2 : 1;
            Block *b = &net->blocks[index];
            layout_block(lay, b, index, c, h, w, preset->stage_width[s], stride);
            c = b->out_c, h = b->out_h, w = b->out_w;
        }
    }
    net->feat_c = c, net->feat_h = h, net->feat_w = w;
    net->pooled = take_activation(lay, map_count(lay, net->batch_max, c, 1, 1));
    net->dpooled = take_activation(lay, map_count(lay, net->batch_max, c, 1, 1));
    int wdims[2] = {net->n_classes, c};
    net->fc_weight = take_tensor(lay, TENSOR_PARAM, "fc", "", ".weight", 2, wdims);
    net->fc_bias = take_tensor(lay, TENSOR_PARAM, "fc", "", ".bias", 1, &net->n_classes);
    net->logits = take_activation(lay, map_count(lay, net->batch_max, net->n_classes, 1, 1));
    net->dlogits = take_activation(lay, map_count(lay, net->batch_max, net->n_classes, 1, 1));
    net->input = take_activation(lay, map_count(lay, net->batch_max, net->in_c, net->in_h,
                                                 net->in_w));
    net->loss = take_activation(lay, 1);
}

static void *alloc_or_fail(Backend *be, size_t bytes, int *failed) {
    void *p = be->alloc(be, bytes ? bytes : 1);
    if (!p) *failed = 1;
    return p;
}

// Sets the net's shape fields and runs the counting pass into *lay: the sizes and
// every check that needs no memory. On failure the net is freed.
static int layout_count(Net *net, Backend *be, const Preset *preset, int in_c, int in_h,
                        int in_w, int n_classes, int batch_max, Layout *lay, char *err,
                        size_t err_len) {
    memset(net, 0, sizeof *net);
    net->be = be;
    net->preset = *preset;
    net->in_c = in_c, net->in_h = in_h, net->in_w = in_w;
    net->n_classes = n_classes, net->batch_max = batch_max;
    net->bn_momentum = (real)0.1;
    net->bn_eps = (real)1e-5;
    net->n_blocks = preset_total_blocks(preset);
    if (in_c <= 0 || in_h < 4 || in_w < 4 || n_classes < 2 || batch_max < 1) {
        snprintf(err, err_len, "network: bad input shape %dx%dx%d, %d classes, batch %d", in_c,
                 in_h, in_w, n_classes, batch_max);
        return -1;
    }
    net->blocks = calloc((size_t)net->n_blocks, sizeof *net->blocks);
    net->survival_prob = calloc((size_t)net->n_blocks, sizeof *net->survival_prob);
    if (!net->blocks || !net->survival_prob) {
        snprintf(err, err_len, "network: out of host memory");
        net_free(net);
        return -1;
    }
    *lay = (Layout){.net = net};
    layout_net(lay);
    if (lay->overflow) {
        snprintf(err, err_len,
                 "network: preset %s on %dx%dx%d inputs at batch %d needs more memory than a "
                 "size_t can count",
                 preset->name, in_c, in_h, in_w, batch_max);
        net_free(net);
        return -1;
    }
    // Spatial sizes must stay positive all the way down, and an option-A shortcut
    // (2x2 average pool, floor) must land on the branch's (ceil) size: odd sizes cannot.
    for (int l = 0; l < net->n_blocks; l++) {
        const Block *b = &net->blocks[l];
        if (b->shortcut_a && b->stride == 1) {
            snprintf(err, err_len,
                     "network: block %d widens %d to %d channels without a stride, which the "
                     "option-A shortcut (a 2x2/2 average pool) cannot do: use 'shortcut "
                     "projection' or stem channels equal to the first stage's width",
                     l, b->in_c, b->out_c);
            net_free(net);
            return -1;
        }
        if (b->shortcut_a && (b->in_h / b->stride != b->out_h || b->in_w / b->stride != b->out_w)) {
            snprintf(err, err_len,
                     "network: block %d halves a %dx%d map, but the option-A shortcut needs even "
                     "sizes (choose an input size that stays even, e.g. 32 or 28)",
                     l, b->in_h, b->in_w);
            net_free(net);
            return -1;
        }
    }
    if (lay->vanished || net->feat_h < 1 || net->feat_w < 1) {
        snprintf(err, err_len, "network: input %dx%d is too small for preset %s", in_h, in_w,
                 preset->name);
        net_free(net);
        return -1;
    }
    return 0;
}

// Bytes of the buffers net_build allocates for a counted layout (0 when they
// overflow a size_t).
static size_t layout_bytes(const Layout *lay, int batch_max) {
    size_t total = 0, part;
    size_t parts[4][2] = {{lay->n_activation, sizeof(real)},
                          {lay->n_params, 3 * sizeof(real)},  // params, grads, momentum
                          {lay->n_bn_state, sizeof(real)},
                          {lay->max_activation, 3 * sizeof(real)}};  // backward scratch
    for (int i = 0; i < 4; i++) {
        if (__builtin_mul_overflow(parts[i][0], parts[i][1], &part) ||
            __builtin_add_overflow(total, part, &total))
            return 0;
    }
    if (__builtin_add_overflow(total, (size_t)batch_max * sizeof(int32_t), &total)) return 0;
    return total;
}

int net_measure(const Preset *preset, int in_c, int in_h, int in_w, int n_classes, int batch_max,
                NetSize *size, char *err, size_t err_len) {
    Net *net = malloc(sizeof *net);
    if (!net) {
        snprintf(err, err_len, "network: out of host memory");
        return -1;
    }
    Layout lay;
    int status = layout_count(net, NULL, preset, in_c, in_h, in_w, n_classes, batch_max, &lay,
                              err, err_len);
    if (status == 0) {
        *size = (NetSize){.params = lay.n_params, .bn_state = lay.n_bn_state,
                          .activations = lay.n_activation, .bytes = layout_bytes(&lay, batch_max)};
        if (size->bytes == 0) {
            snprintf(err, err_len, "network: preset %s needs more memory than a size_t can count",
                     preset->name);
            status = -1;
        }
        free(net->blocks);
        free(net->survival_prob);
    }
    free(net);
    return status;
}

int net_build(Net *net, Backend *be, const Preset *preset, int in_c, int in_h, int in_w,
              int n_classes, int batch_max, char *err, size_t err_len) {
    Layout lay;
    if (layout_count(net, be, preset, in_c, in_h, in_w, n_classes, batch_max, &lay, err,
                     err_len) != 0)
        return -1;
    if (layout_bytes(&lay, batch_max) == 0) {
        snprintf(err, err_len, "network: preset %s needs more memory than a size_t can count",
                 preset->name);
        net_free(net);
        return -1;
    }
    net->tensors = calloc((size_t)lay.n_tensors, sizeof *net->tensors);
    int failed = net->tensors == NULL;
    size_t act_bytes = lay.n_activation * sizeof(real);
    real *arena = failed ? NULL : alloc_or_fail(be, act_bytes, &failed);
    net->n_params = lay.n_params, net->n_bn_state = lay.n_bn_state;
    net->max_activation = lay.max_activation;
    net->params = alloc_or_fail(be, net->n_params * sizeof(real), &failed);
    net->grads = alloc_or_fail(be, net->n_params * sizeof(real), &failed);
    net->momentum = alloc_or_fail(be, net->n_params * sizeof(real), &failed);
    net->bn_state = alloc_or_fail(be, net->n_bn_state * sizeof(real), &failed);
    net->grad_out = alloc_or_fail(be, net->max_activation * sizeof(real), &failed);
    net->grad_in = alloc_or_fail(be, net->max_activation * sizeof(real), &failed);
    net->grad_tmp = alloc_or_fail(be, net->max_activation * sizeof(real), &failed);
    net->labels = alloc_or_fail(be, (size_t)batch_max * sizeof(int32_t), &failed);
    net->activation_arena = arena;
    if (failed) {
        snprintf(err, err_len, "network: cannot allocate %.1f MiB of %s memory for %s at batch %d",
                 (double)layout_bytes(&lay, batch_max) / 1048576.0, be->name, preset->name,
                 batch_max);
        net_free(net);
        return -1;
    }
    Layout assign = {.net = net, .assign = 1, .activation_base = arena};
    layout_net(&assign);
    net->n_tensors = assign.n_tensors;
    be->fill(be, net->grads, net->n_params, 0);
    be->fill(be, net->momentum, net->n_params, 0);
    for (int l = 0; l < net->n_blocks; l++) net->survival_prob[l] = 1.0;
    return 0;
}

void net_free(Net *net) {
    Backend *be = net->be;
    net_disable_recording(net);  // graphs point into the buffers below
    net_sync_bn_disable(net);
    void *device[] = {net->activation_arena, net->params,  net->grads,   net->momentum,
                      net->bn_state,         net->grad_out, net->grad_in, net->grad_tmp,
                      net->labels};
    for (size_t i = 0; i < sizeof device / sizeof device[0]; i++)
        if (device[i]) be->release(be, device[i]);
    free(net->blocks);
    free(net->survival_prob);
    free(net->tensors);
    memset(net, 0, sizeof *net);
}

const NetTensor *net_find_tensor(const Net *net, const char *name) {
    for (int i = 0; i < net->n_tensors; i++)
        if (strcmp(net->tensors[i].name, name) == 0) return &net->tensors[i];
    return NULL;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

void net_init_params(Net *net, Rng *init_rng) {
    real *params = calloc(net->n_params, sizeof(real));
    real *bn_state = calloc(net->n_bn_state, sizeof(real));
    if (!params || !bn_state) {
        fprintf(stderr, "net_init_params: out of host memory\n");
        abort();
    }
    for (int i = 0; i < net->n_tensors; i++) {
        const NetTensor *t = &net->tensors[i];
        real *dst = (t->store == TENSOR_PARAM ? params : bn_state) + t->offset;
        if (t->store == TENSOR_BN_STATE) {
            real value = ends_with(t->name, "running_var") ? 1 : 0;
            for (size_t k = 0; k < t->count; k++) dst[k] = value;
        } else if (strcmp(t->name, "fc.weight") == 0 || strcmp(t->name, "fc.bias") == 0) {
            double bound = 1.0 / sqrt((double)net->feat_c);
            for (size_t k = 0; k < t->count; k++)
                dst[k] = (real)((2.0 * rng_uniform(init_rng) - 1.0) * bound);
        } else if (t->rank == 4) {  // convolution weight [out][in][k][k]: He normal, fan-in
            double fan_in = (double)t->dims[1] * t->dims[2] * t->dims[3];
            double std = sqrt(2.0 / fan_in);
            for (size_t k = 0; k < t->count; k++) dst[k] = (real)(std * rng_normal(init_rng));
        } else {  // batch norm: gamma 1, beta 0
            real value = ends_with(t->name, ".weight") ? 1 : 0;
            for (size_t k = 0; k < t->count; k++) dst[k] = value;
        }
    }
    net->be->upload(net->be, net->params, params, net->n_params * sizeof(real));
    net->be->upload(net->be, net->bn_state, bn_state, net->n_bn_state * sizeof(real));
    net->be->fill(net->be, net->momentum, net->n_params, 0);
    free(params);
    free(bn_state);
}

int net_set_survival(Net *net, const char *rule, double p_last) {
    int L = net->n_blocks;
    for (int l = 1; l <= L; l++) {
        double p;
        if (strcmp(rule, "linear") == 0) p = 1.0 - ((double)l / L) * (1.0 - p_last);  // eq. (4)
        else if (strcmp(rule, "uniform") == 0) p = p_last;
        else if (strcmp(rule, "none") == 0) p = 1.0;
        else return -1;
        net->survival_prob[l - 1] = p;
    }
    return 0;
}

double net_expected_active_blocks(const Net *net) {
    double sum = 0;
    for (int l = 0; l < net->n_blocks; l++) sum += net->survival_prob[l];
    return sum;
}

void net_draw_gates(const Net *net, Rng *gate_rng, uint8_t *gates) {
    // One draw per block even when p_l = 1, so the stream advances the same way
    // for every rule and a run is reproducible from its seed.
    for (int l = 0; l < net->n_blocks; l++)
        gates[l] = rng_uniform(gate_rng) < net->survival_prob[l];
}

void net_set_batch(Net *net, const float *images, const int32_t *labels, int batch) {
    Backend *be = net->be;
    size_t count = (size_t)batch * net->in_c * net->in_h * net->in_w;
    if (sizeof(real) == sizeof(float)) {
        be->upload(be, net->input, images, count * sizeof(float));
    } else {  // the double-precision test build widens on the host
        real *wide = malloc(count * sizeof(real));
        if (!wide) abort();
        for (size_t i = 0; i < count; i++) wide[i] = (real)images[i];
        be->upload(be, net->input, wide, count * sizeof(real));
        free(wide);
    }
    if (labels) be->upload(be, net->labels, labels, (size_t)batch * sizeof(int32_t));
}
