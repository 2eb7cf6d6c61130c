// Multiply-add counts of a preset's network: the work of one inference forward pass
// and of one training step, per image, in the convolutions and the fully connected
// layer. `make bench` divides them by measured times to print GFLOP/s.
//
// The network is laid out by net_build itself (common/net.c), on a backend that only
// hands out untouched zeroed memory, so every convolution geometry here is the one
// sdtrain runs. Counting (one MAC = one multiply-add = 2 flops):
//   - a convolution: out_c * out_h * out_w * in_c * k_h * k_w per image, padding
//     zeros included (the usual convention); its data gradient and its filter
//     gradient are products of the same size;
//   - the fully connected layer: feat_c * classes, and as much for each gradient;
//   - inference: every block, full depth (the exported network);
//   - a training step: forward + backward data + backward filter; the stem's data
//     gradient (the gradient of the input images) is not computed by sdtrain nor
//     PyTorch's peer, and is not counted;
//   - stochastic depth: block l's branch runs (forward and backward) with probability
//     p_l and costs nothing when closed, and no block's cost depends on another's gate,
//     so the expected count is exact by linearity: the fixed part + sum_l p_l * branch_l.
//     E[active blocks] = sum_l p_l. A projection shortcut runs whether the block is
//     open or not (README: a closed projection block keeps its shortcut).
// The count is the direct convolution's whatever algorithm runs, so a rate made from it
// is an effective one: an algorithm that multiplies less (Winograd) can exceed the peak.
// Not counted: batch norm, ReLU, residual adds, the option-A shortcut, pooling,
// softmax and loss, the SGD update, the exported model's conv biases: element-wise
// work, proportional to the activations, not to activations x in_c x k x k.
//
// Hand count, ResNet-20 (resnet20-cifar), 3x32x32 input, 10 classes, per image:
//   stem 3->16 at 32x32:             16*1024*27           =    442,368
//   stage 1, 6 convs 16->16, 32x32:  6 * 16*1024*144      = 14,155,776
//   stage 2, 16->32 stride 2 to 16x16: 32*256*144         =  1,179,648
//            5 convs 32->32, 16x16:  5 * 32*256*288       = 11,796,480
//   stage 3, 32->64 stride 2 to 8x8:  64*64*288           =  1,179,648
//            5 convs 64->64, 8x8:    5 * 64*64*576        = 11,796,480
//   fc 64->10:                                                     640
//   forward: 40,551,040 MACs; training step (survival none): 3 * 40,551,040 - 442,368
//   = 121,210,752 MACs. With linear p_L = 0.5 (p_l = 1 - l/18, sum p_l = 6.5, blocks 4
//   and 7 open the stages with 3,538,944-MAC branches, the others 4,718,592):
//   sum p_l branch_l = 6.5 * 4,718,592 - (14/18 + 11/18) * 1,179,648 = 29,032,448, step
//   = 3 * (442,368 + 640 + 29,032,448) - 442,368 = 87,984,000 MACs.
// tests/t_flops.sh checks these; bench/flops_check.py counts the same in PyTorch.
//
//   flops --model NAME|PATH [--models-dir DIR] [--input CxHxW] [--classes K]
//         [--survival none|linear|uniform] [--p-last P] [--gates 0110...] [--layers]
// --gates fixes every block's gate (one 0 or 1 per block) instead of a survival rule.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "preset.h"

typedef struct {
    const char *model, *models_dir, *survival, *gates;
    int in_c, in_h, in_w, classes, layers;
    double p_last;
} Options;

// Per image, in MACs; the training figures are expectations over the gates.
typedef struct {
    double inference;          // forward, every block
    double train_forward;      // = train_filter: each product once
    double train_data;         // forward minus the stem
    double expected_active;    // sum p_l
} Counts;

// ---- a backend that only lays the network out -------------------------------------
// net_build allocates and zero-fills its buffers through the backend; calloc'd pages
// are never touched here, so even the ImageNet presets cost no real memory.
static void *layout_alloc(Backend *be, size_t bytes) {
    (void)be;
    return calloc(1, bytes);
}
static void layout_release(Backend *be, void *ptr) {
    (void)be;
    free(ptr);
}
static void layout_fill(Backend *be, real *dst, size_t count, real value) {
    (void)be, (void)dst, (void)count, (void)value;
}

static double conv_macs(const ConvGeom *g) {
    return (double)g->out_c * g->out_h * g->out_w * g->in_c * g->kernel_h * g->kernel_w;
}

static double branch_macs(const Block *b) {
    double sum = 0;
    for (int u = 0; u < b->n_units; u++) sum += conv_macs(&b->units[u].geom);
    return sum;
}

static void print_layer(const char *name, const ConvGeom *g, double p) {
    printf("layer %-28s %4d->%-4d %dx%d/%d %3dx%-3d -> %3dx%-3d macs %.0f p %.6g\n", name, g->in_c,
           g->out_c, g->kernel_h, g->kernel_w, g->stride_h, g->in_h, g->in_w, g->out_h, g->out_w,
           conv_macs(g), p);
}

static void print_layers(const Net *net) {
    char name[64];
    print_layer("stem.conv", &net->stem.geom, 1);
    for (int l = 0; l < net->n_blocks; l++) {
        const Block *b = &net->blocks[l];
        for (int u = 0; u < b->n_units; u++) {
            snprintf(name, sizeof name, "blocks.%d.conv%d", l, u + 1);
            print_layer(name, &b->units[u].geom, net->survival_prob[l]);
        }
        if (b->has_projection) {
            snprintf(name, sizeof name, "blocks.%d.shortcut.conv", l);
            print_layer(name, &b->projection.geom, 1);
        }
    }
    printf("layer %-28s %4d->%-4d fully connected macs %.0f p 1\n", "fc", net->feat_c,
           net->n_classes, (double)net->feat_c * net->n_classes);
}

static Counts count(const Net *net) {
    double stem = conv_macs(&net->stem.geom), fc = (double)net->feat_c * net->n_classes;
    Counts c = {stem + fc, stem + fc, 0, 0};
    for (int l = 0; l < net->n_blocks; l++) {
        const Block *b = &net->blocks[l];
        double p = net->survival_prob[l], branch = branch_macs(b);
        double projection = b->has_projection ? conv_macs(&b->projection.geom) : 0;
        c.inference += branch + projection;
        c.train_forward += p * branch + projection;
        c.expected_active += p;
    }
    c.train_data = c.train_forward - stem;
    return c;
}

// ---- options ----------------------------------------------------------------------
static int parse_int(const char *text, int lo, int hi, int *out) {
    char *end;
    long v = strtol(text, &end, 10);
    if (end == text || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static int parse_shape(const char *text, Options *opt) {
    char tail;
    return sscanf(text, "%dx%dx%d%c", &opt->in_c, &opt->in_h, &opt->in_w, &tail) == 3 &&
                   opt->in_c > 0 && opt->in_c <= 4096 && opt->in_h > 0 && opt->in_h <= 8192 &&
                   opt->in_w > 0 && opt->in_w <= 8192
               ? 0
               : -1;
}

static int parse_value(const char *arg, const char *v, Options *opt) {
    char *end = NULL;
    if (strcmp(arg, "--model") == 0) opt->model = v;
    else if (strcmp(arg, "--models-dir") == 0) opt->models_dir = v;
    else if (strcmp(arg, "--survival") == 0) opt->survival = v;
    else if (strcmp(arg, "--gates") == 0) opt->gates = v;
    else if (strcmp(arg, "--input") == 0) return parse_shape(v, opt);
    else if (strcmp(arg, "--classes") == 0) return parse_int(v, 2, 1000000, &opt->classes);
    else if (strcmp(arg, "--p-last") == 0) {
        opt->p_last = strtod(v, &end);
        return end != v && *end == '\0' && opt->p_last > 0 && opt->p_last <= 1 ? 0 : -1;
    } else return -2;
    return 0;
}

static int parse_options(int argc, char **argv, Options *opt) {
    *opt = (Options){NULL, "models", "none", NULL, 3, 32, 32, 10, 0, 0.5};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--layers") == 0) {
            opt->layers = 1;
            continue;
        }
        int rc = i + 1 < argc ? parse_value(arg, argv[++i], opt) : -1;
        if (rc == -2) {
            fprintf(stderr, "flops: unknown option %s\n", arg);
            return -1;
        }
        if (rc != 0) {
            fprintf(stderr, "flops: bad or missing value for %s\n", arg);
            return -1;
        }
    }
    if (!opt->model) {
        fprintf(stderr, "flops: --model NAME|PATH is required\n");
        return -1;
    }
    return 0;
}

// Survival probabilities from --gates (0 or 1 each) or from the rule.
static int set_survival(Net *net, const Options *opt) {
    if (!opt->gates) {
        if (net_set_survival(net, opt->survival, opt->p_last) == 0) return 0;
        fprintf(stderr, "flops: unknown survival rule '%s' (none, linear, uniform)\n",
                opt->survival);
        return -1;
    }
    if ((int)strlen(opt->gates) != net->n_blocks || strspn(opt->gates, "01") != strlen(opt->gates)) {
        fprintf(stderr, "flops: --gates needs one 0 or 1 per block: %d for %s, got '%s'\n",
                net->n_blocks, net->preset.name, opt->gates);
        return -1;
    }
    for (int l = 0; l < net->n_blocks; l++) net->survival_prob[l] = opt->gates[l] == '1';
    return 0;
}

// Whole numbers exactly, expectations with three decimals.
static void print_figure(const char *key, double value) {
    if (value == (double)(long long)value) printf("%s: %lld\n", key, (long long)value);
    else printf("%s: %.3f\n", key, value);
}

static void print_counts(const Net *net, const Options *opt, const Counts *c) {
    printf("flops: %s, input %dx%dx%d, %d classes, ", net->preset.name, opt->in_c, opt->in_h,
           opt->in_w, opt->classes);
    if (opt->gates) printf("gates %s", opt->gates);
    else if (strcmp(opt->survival, "none") == 0) printf("survival none");
    else printf("survival %s p_L %g", opt->survival, opt->p_last);
    printf(": expected active blocks %.6g of %d\n", c->expected_active, net->n_blocks);
    printf("per image, in multiply-adds (MACs; 1 MAC = 2 flops), training figures expected "
           "over the gates:\n");
    double step = c->train_forward + c->train_data + c->train_forward;
    print_figure("inference_forward_macs", c->inference);
    print_figure("train_forward_macs", c->train_forward);
    print_figure("train_backward_data_macs", c->train_data);
    print_figure("train_backward_filter_macs", c->train_forward);
    print_figure("train_step_macs", step);
    print_figure("inference_forward_flops", 2 * c->inference);
    print_figure("train_step_flops", 2 * step);
    printf("counted: every convolution (out_c*out_h*out_w*in_c*k*k, padding included) and the "
           "fully connected layer, forward and both gradients; not the stem's data gradient "
           "(never computed)\n");
    printf("not counted: batch norm, ReLU, residual adds, option-A shortcut, pooling, "
           "softmax/loss, SGD update, conv biases of an export (element-wise work)\n");
}

int main(int argc, char **argv) {
    Options opt;
    if (parse_options(argc, argv, &opt) != 0) {
        fprintf(stderr, "usage: %s --model NAME|PATH [--models-dir DIR] [--input CxHxW] "
                "[--classes K] [--survival none|linear|uniform] [--p-last P] [--gates 0110...] "
                "[--layers]\n", argv[0]);
        return 2;
    }
    char err[512];
    Preset preset;
    if (preset_load(opt.model, opt.models_dir, &preset, err, sizeof err) != 0) {
        fprintf(stderr, "flops: %s\n", err);
        return 1;
    }
    Backend layout = {.name = "layout", .alloc = layout_alloc, .release = layout_release,
                      .fill = layout_fill};
    Net net;
    if (net_build(&net, &layout, &preset, opt.in_c, opt.in_h, opt.in_w, opt.classes, 1, err,
                  sizeof err) != 0) {
        fprintf(stderr, "flops: %s\n", err);
        return 1;
    }
    int rc = set_survival(&net, &opt) == 0 ? 0 : 2;
    if (rc == 0) {
        if (opt.layers) print_layers(&net);
        Counts c = count(&net);
        print_counts(&net, &opt, &c);
    }
    net_free(&net);
    return rc;
}
