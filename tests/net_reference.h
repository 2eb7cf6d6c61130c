// A naive reference of the stochastic-depth ResNet, written for the tests only.
//
// It shares nothing with common/net*.c or the backends except the names of the
// tensors: it walks the preset itself, computes every shape itself and runs
// every op as plain double loops (convolution with padding k/2, batch norm,
// ReLU, 3x3/2 max pool, option-A shortcut, projection, global average pool,
// fully connected). Weights are read from the network under test by tensor
// name, and the running statistics are the reference's OWN copy, moved by the
// reference's own training passes (Torch rule: momentum 0.1, unbiased
// variance), so evaluation-mode checks do not trust the code under test either.
//
// Shared by tests/test_net.c (float) and tests/gradcheck_net.c (double).
#ifndef SD_TEST_NET_REFERENCE_H
#define SD_TEST_NET_REFERENCE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/net.h"

// An NCHW activation in double.
typedef struct {
    int n, c, h, w;
    double *data;
} RefMap;

typedef struct {
    const Net *net;      // only for net_find_tensor and the sizes of its buffers
    Preset preset;
    double *params;      // double copy of net->params (refresh after every change)
    double *running;     // the reference's own running statistics, net->bn_state layout
    int *uses;           // per net->tensors[i]: how often the reference read it
    int errors;          // missing or mis-sized tensors met so far
    double bn_momentum, bn_eps;
} RefNet;

static inline size_t ref_count(const RefMap *m) { return (size_t)m->n * m->c * m->h * m->w; }

static inline RefMap ref_map_new(int n, int c, int h, int w) {
    RefMap m = {n, c, h, w, calloc((size_t)n * c * h * w, sizeof(double))};
    if (!m.data) {
        fprintf(stderr, "reference: out of memory\n");
        abort();
    }
    return m;
}

static inline void ref_map_free(RefMap *m) {
    free(m->data);
    m->data = NULL;
}

static inline double *ref_at(const RefMap *m, int n, int c, int h, int w) {
    return m->data + (((size_t)n * m->c + c) * m->h + h) * m->w + w;
}

// Copies the network's parameters (as they are now) into the reference.
static inline void ref_refresh_params(RefNet *r) {
    const Net *net = r->net;
    real *host = malloc(net->n_params * sizeof(real));
    if (!host) abort();
    net->be->download(net->be, host, net->params, net->n_params * sizeof(real));
    for (size_t i = 0; i < net->n_params; i++) r->params[i] = (double)host[i];
    free(host);
}

// Starts the reference's running statistics from the network's current ones.
static inline void ref_take_running_stats(RefNet *r) {
    const Net *net = r->net;
    real *host = malloc((net->n_bn_state ? net->n_bn_state : 1) * sizeof(real));
    if (!host) abort();
    net->be->download(net->be, host, net->bn_state, net->n_bn_state * sizeof(real));
    for (size_t i = 0; i < net->n_bn_state; i++) r->running[i] = (double)host[i];
    free(host);
}

static inline void ref_init(RefNet *r, const Net *net) {
    memset(r, 0, sizeof *r);
    r->net = net;
    r->preset = net->preset;
    r->params = calloc(net->n_params, sizeof(double));
    r->running = calloc(net->n_bn_state ? net->n_bn_state : 1, sizeof(double));
    r->uses = calloc((size_t)net->n_tensors, sizeof(int));
    if (!r->params || !r->running || !r->uses) abort();
    r->bn_momentum = 0.1;  // Torch's nn.SpatialBatchNormalization defaults
    r->bn_eps = 1e-5;
    ref_refresh_params(r);
    ref_take_running_stats(r);
}

static inline void ref_free(RefNet *r) {
    free(r->params);
    free(r->running);
    free(r->uses);
    memset(r, 0, sizeof *r);
}

// The tensor `name` of `want` elements in the given store, or NULL (and an error).
static inline double *ref_tensor(RefNet *r, const char *name, TensorStore store, size_t want) {
    const NetTensor *t = net_find_tensor(r->net, name);
    if (!t || t->store != store || t->count != want) {
        fprintf(stderr, "reference: tensor %s %s (want %zu elements)\n", name,
                t ? "has the wrong store or size" : "is missing", want);
        r->errors++;
        return NULL;
    }
    r->uses[t - r->net->tensors]++;
    return (store == TENSOR_PARAM ? r->params : r->running) + t->offset;
}

// 1 when every tensor of the network was read at least once (since ref_init).
static inline int ref_all_tensors_used(const RefNet *r) {
    for (int i = 0; i < r->net->n_tensors; i++)
        if (r->uses[i] == 0) {
            fprintf(stderr, "reference: tensor %s never used\n", r->net->tensors[i].name);
            return 0;
        }
    return 1;
}

// ---- ops ------------------------------------------------------------------------

// Convolution, weight [out_c][in_c][k][k], zero padding k/2, no bias.
static inline RefMap ref_conv(const RefMap *x, const double *weight, int out_c, int kernel,
                              int stride) {
    int pad = kernel / 2;
    int out_h = (x->h + 2 * pad - kernel) / stride + 1, out_w = (x->w + 2 * pad - kernel) / stride + 1;
    RefMap y = ref_map_new(x->n, out_c, out_h, out_w);
    for (int n = 0; n < x->n; n++)
        for (int o = 0; o < out_c; o++)
            for (int oh = 0; oh < out_h; oh++)
                for (int ow = 0; ow < out_w; ow++) {
                    double sum = 0;
                    for (int i = 0; i < x->c; i++)
                        for (int kh = 0; kh < kernel; kh++)
                            for (int kw = 0; kw < kernel; kw++) {
                                int ih = oh * stride - pad + kh, iw = ow * stride - pad + kw;
                                if (ih < 0 || ih >= x->h || iw < 0 || iw >= x->w) continue;
                                sum += *ref_at(x, n, i, ih, iw) *
                                       weight[(((size_t)o * x->c + i) * kernel + kh) * kernel + kw];
                            }
                    *ref_at(&y, n, o, oh, ow) = sum;
                }
    return y;
}

// Batch norm in place. Training: batch mean and biased variance normalise, and
// the running statistics move by momentum with the unbiased variance.
// Evaluation: the running statistics normalise.
static inline void ref_batchnorm(RefNet *r, RefMap *x, const double *gamma, const double *beta,
                                 double *running_mean, double *running_var, int train) {
    size_t spatial = (size_t)x->h * x->w, per_channel = (size_t)x->n * spatial;
    for (int c = 0; c < x->c; c++) {
        double mean = 0, var = 0;
        if (train) {
            for (int n = 0; n < x->n; n++)
                for (size_t s = 0; s < spatial; s++) mean += ref_at(x, n, c, 0, 0)[s];
            mean /= (double)per_channel;
            for (int n = 0; n < x->n; n++)
                for (size_t s = 0; s < spatial; s++) {
                    double d = ref_at(x, n, c, 0, 0)[s] - mean;
                    var += d * d;
                }
            var /= (double)per_channel;
            double unbiased = per_channel > 1 ? var * per_channel / (per_channel - 1) : var;
            running_mean[c] = (1 - r->bn_momentum) * running_mean[c] + r->bn_momentum * mean;
            running_var[c] = (1 - r->bn_momentum) * running_var[c] + r->bn_momentum * unbiased;
        } else {
            mean = running_mean[c];
            var = running_var[c];
        }
        double scale = gamma[c] / sqrt(var + r->bn_eps);
        for (int n = 0; n < x->n; n++)
            for (size_t s = 0; s < spatial; s++) {
                double *v = ref_at(x, n, c, 0, 0) + s;
                *v = (*v - mean) * scale + beta[c];
            }
    }
}

static inline void ref_relu(RefMap *x) {
    for (size_t i = 0; i < ref_count(x); i++)
        if (x->data[i] < 0) x->data[i] = 0;
}

// 3x3 max pool, stride 2, padding 1 (padded cells never win).
static inline RefMap ref_maxpool(const RefMap *x) {
    int out_h = (x->h + 2 - 3) / 2 + 1, out_w = (x->w + 2 - 3) / 2 + 1;
    RefMap y = ref_map_new(x->n, x->c, out_h, out_w);
    for (int n = 0; n < x->n; n++)
        for (int c = 0; c < x->c; c++)
            for (int oh = 0; oh < out_h; oh++)
                for (int ow = 0; ow < out_w; ow++) {
                    double best = -INFINITY;
                    for (int ih = 2 * oh - 1; ih <= 2 * oh + 1; ih++)
                        for (int iw = 2 * ow - 1; iw <= 2 * ow + 1; iw++)
                            if (ih >= 0 && ih < x->h && iw >= 0 && iw < x->w &&
                                *ref_at(x, n, c, ih, iw) > best)
                                best = *ref_at(x, n, c, ih, iw);
                    *ref_at(&y, n, c, oh, ow) = best;
                }
    return y;
}

// Option A: 2x2 average pool with stride `stride` (1: plain copy), then zero
// channels appended up to out_c.
static inline RefMap ref_shortcut_a(const RefMap *x, int out_c, int stride) {
    RefMap y = ref_map_new(x->n, out_c, x->h / stride, x->w / stride);
    for (int n = 0; n < x->n; n++)
        for (int c = 0; c < x->c; c++)
            for (int oh = 0; oh < y.h; oh++)
                for (int ow = 0; ow < y.w; ow++) {
                    double sum = 0;
                    for (int dh = 0; dh < stride; dh++)
                        for (int dw = 0; dw < stride; dw++)
                            sum += *ref_at(x, n, c, oh * stride + dh, ow * stride + dw);
                    *ref_at(&y, n, c, oh, ow) = sum / (stride * stride);
                }
    return y;
}

// ---- layers -------------------------------------------------------------------------

// Conv -> BN (-> ReLU) with the tensors "<prefix><conv>.weight", "<prefix><bn>.{weight,bias,
// running_mean,running_var}". Returns a map with data NULL when a tensor is missing.
static inline RefMap ref_convbn(RefNet *r, const RefMap *x, const char *prefix, const char *conv,
                                const char *bn, int out_c, int kernel, int stride, int relu,
                                int train) {
    char name[128];
    snprintf(name, sizeof name, "%s%s.weight", prefix, conv);
    const double *w = ref_tensor(r, name, TENSOR_PARAM, (size_t)out_c * x->c * kernel * kernel);
    const double *bn_param[2];
    double *bn_stat[2];
    const char *param_suffix[2] = {"weight", "bias"}, *stat_suffix[2] = {"running_mean", "running_var"};
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "%s%s.%s", prefix, bn, param_suffix[i]);
        bn_param[i] = ref_tensor(r, name, TENSOR_PARAM, (size_t)out_c);
        snprintf(name, sizeof name, "%s%s.%s", prefix, bn, stat_suffix[i]);
        bn_stat[i] = ref_tensor(r, name, TENSOR_BN_STATE, (size_t)out_c);
    }
    if (!w || !bn_param[0] || !bn_param[1] || !bn_stat[0] || !bn_stat[1]) return (RefMap){0};
    RefMap y = ref_conv(x, w, out_c, kernel, stride);
    ref_batchnorm(r, &y, bn_param[0], bn_param[1], bn_stat[0], bn_stat[1], train);
    if (relu) ref_relu(&y);
    return y;
}

// The residual branch f_l: basic (3x3, 3x3) or bottleneck (1x1, 3x3 with the stride, 1x1 x4).
static inline RefMap ref_branch(RefNet *r, const RefMap *x, const char *prefix, int width,
                                int stride, int train) {
    int bottleneck = r->preset.block == BLOCK_BOTTLENECK;
    int n_units = bottleneck ? 3 : 2;
    int outs[3] = {width, width, 4 * width};
    int kernels[3] = {bottleneck ? 1 : 3, 3, 1};
    int strides[3] = {bottleneck ? 1 : stride, bottleneck ? stride : 1, 1};
    RefMap h = {0};
    for (int u = 0; u < n_units; u++) {
        char conv[16], bn[16];
        snprintf(conv, sizeof conv, "conv%d", u + 1);
        snprintf(bn, sizeof bn, "bn%d", u + 1);
        RefMap next = ref_convbn(r, u == 0 ? x : &h, prefix, conv, bn, outs[u], kernels[u],
                                 strides[u], u < n_units - 1, train);
        ref_map_free(&h);
        h = next;
        if (!h.data) break;
    }
    return h;
}

// Block l. gate_open = 0 in training replaces it by ReLU(shortcut); branch_scale
// multiplies the branch (p_l in evaluation, 1 in training).
static inline RefMap ref_block(RefNet *r, const RefMap *x, int index, int width, int stride,
                               int gate_open, double branch_scale, int train) {
    char prefix[48];
    snprintf(prefix, sizeof prefix, "blocks.%d.", index);
    int out_c = r->preset.block == BLOCK_BOTTLENECK ? 4 * width : width;
    RefMap shortcut;
    if (stride == 1 && x->c == out_c) shortcut = ref_shortcut_a(x, out_c, 1);  // identity copy
    else if (r->preset.shortcut == SHORTCUT_OPTION_A) shortcut = ref_shortcut_a(x, out_c, stride);
    else shortcut = ref_convbn(r, x, prefix, "shortcut.conv", "shortcut.bn", out_c, 1, stride, 0,
                               train);
    if (!shortcut.data) return shortcut;
    if (gate_open) {
        RefMap f = ref_branch(r, x, prefix, width, stride, train);
        if (!f.data) {
            ref_map_free(&shortcut);
            return f;
        }
        for (size_t i = 0; i < ref_count(&shortcut); i++)
            shortcut.data[i] += branch_scale * f.data[i];
        ref_map_free(&f);
    }
    ref_relu(&shortcut);
    return shortcut;
}

// The whole network on `input` ([batch][c][h][w] doubles). gates: NULL = all open
// (ignored when !train); survival: p_l per block, used only when !train. Writes
// logits [batch][classes]; block_out, when not NULL, receives a copy of each
// block's output (caller frees). Returns 0, or -1 when a tensor was missing.
static inline int ref_forward(RefNet *r, const double *input, int batch, int in_c, int in_h,
                              int in_w, const uint8_t *gates, const double *survival, int train,
                              double *logits, RefMap *block_out) {
    const Preset *p = &r->preset;
    RefMap x = ref_map_new(batch, in_c, in_h, in_w);
    memcpy(x.data, input, ref_count(&x) * sizeof(double));
    RefMap h = ref_convbn(r, &x, "stem.", "conv", "bn", p->stem_channels, p->stem_kernel,
                          p->stem_stride, 1, train);
    ref_map_free(&x);
    if (h.data && p->stem_maxpool) {
        RefMap pooled = ref_maxpool(&h);
        ref_map_free(&h);
        h = pooled;
    }
    int index = 0;
    for (int s = 0; s < p->n_stages && h.data; s++)
        for (int i = 0; i < p->stage_blocks[s] && h.data; i++, index++) {
            int open = !train || gates == NULL || gates[index];
            double scale = train ? 1.0 : survival[index];
            RefMap next = ref_block(r, &h, index, p->stage_width[s], s > 0 && i == 0 ? 2 : 1,
                                    open, scale, train);
            ref_map_free(&h);
            h = next;
            if (h.data && block_out) {
                block_out[index] = ref_map_new(h.n, h.c, h.h, h.w);
                memcpy(block_out[index].data, h.data, ref_count(&h) * sizeof(double));
            }
        }
    if (!h.data) return -1;
    int classes = r->net->n_classes;
    const double *fc_w = ref_tensor(r, "fc.weight", TENSOR_PARAM, (size_t)classes * h.c);
    const double *fc_b = ref_tensor(r, "fc.bias", TENSOR_PARAM, (size_t)classes);
    if (!fc_w || !fc_b) {
        ref_map_free(&h);
        return -1;
    }
    size_t spatial = (size_t)h.h * h.w;
    for (int n = 0; n < batch; n++)
        for (int k = 0; k < classes; k++) {
            double sum = fc_b[k];
            for (int c = 0; c < h.c; c++) {
                double mean = 0;
                for (size_t s = 0; s < spatial; s++) mean += ref_at(&h, n, c, 0, 0)[s];
                sum += fc_w[(size_t)k * h.c + c] * mean / (double)spatial;
            }
            logits[(size_t)n * classes + k] = sum;
        }
    ref_map_free(&h);
    return 0;
}

// Mean softmax cross-entropy of logits [batch][classes] against labels.
static inline double ref_cross_entropy(const double *logits, const int32_t *labels, int batch,
                                       int classes) {
    double total = 0;
    for (int n = 0; n < batch; n++) {
        const double *row = logits + (size_t)n * classes;
        double max = row[0], sum = 0;
        for (int k = 1; k < classes; k++)
            if (row[k] > max) max = row[k];
        for (int k = 0; k < classes; k++) sum += exp(row[k] - max);
        total += log(sum) + max - row[labels[n]];
    }
    return total / batch;
}

// ---- helpers shared by the network tests ----------------------------------------------

// 1 for the parameters of a batch norm (rank-1 tensors other than the fc bias).
static inline int tensor_is_bn_param(const NetTensor *t) {
    return t->store == TENSOR_PARAM && t->rank == 1 && strncmp(t->name, "fc.", 3) != 0;
}

// Moves every BN gamma into [0.6, 1.4] and beta into [-0.3, 0.3] so that they
// matter (at their initial 1 and 0 a wrong gamma/beta path could go unnoticed).
static inline void perturb_bn_params(Net *net, Rng *rng) {
    real *host = malloc(net->n_params * sizeof(real));
    if (!host) abort();
    net->be->download(net->be, host, net->params, net->n_params * sizeof(real));
    for (int i = 0; i < net->n_tensors; i++) {
        const NetTensor *t = &net->tensors[i];
        if (!tensor_is_bn_param(t)) continue;
        int is_gamma = strstr(t->name, ".weight") != NULL;
        for (size_t k = 0; k < t->count; k++) {
            double u = 2.0 * rng_uniform(rng) - 1.0;
            host[t->offset + k] = (real)(is_gamma ? 1.0 + 0.4 * u : 0.3 * u);
        }
    }
    net->be->upload(net->be, net->params, host, net->n_params * sizeof(real));
    free(host);
}

// The block index of a tensor named "blocks.<l>.…", or -1.
static inline int tensor_block(const NetTensor *t) {
    int block;
    return sscanf(t->name, "blocks.%d.", &block) == 1 ? block : -1;
}

// 1 for a tensor of block l's residual branch (not its projection shortcut).
static inline int tensor_in_branch(const NetTensor *t, int block) {
    return tensor_block(t) == block && strstr(t->name, ".shortcut.") == NULL;
}

#endif
