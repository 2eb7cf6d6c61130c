// Finite-difference check of the whole network's backward pass, in double
// precision (built with real = double against the core compiled the same way).
//
// For every parameter of two tiny networks, the gradient from net_backward is
// compared with the central difference (L(w + h) - L(w - h)) / 2h of the mean
// softmax cross-entropy, where L runs net_forward(NET_TRAIN) with the same
// gates. The gates close some blocks: every gradient of a closed block's
// branch must be exactly 0.0 (and so must its finite difference: the forward
// never reads those weights), while every tensor of an open block gets a
// non-zero gradient.
//   (a) basic blocks, option-A shortcuts; closed: an identity and a
//       downsampling (option-A) block; then the first, a downsampling and the
//       last block; then every block;
//   (b) bottleneck blocks, projection shortcuts, max-pool stem; closed: a
//       downsampling projection block (its projection still learns); a batch
//       smaller than the one the net was built for.
// The forward itself is also compared with the naive reference of
// tests/net_reference.h, which in double must agree to ~1e-12.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "net_reference.h"

#define STEP 1e-6
#define ATOL 1e-8
#define RTOL 1e-5

typedef struct {
    const char *label, *text;
    int in_c, in_h, in_w, classes, batch, batch_max;  // batch < batch_max: a last, partial batch
    uint8_t gates[8];
} GradCase;

#define BASIC_TEXT \
    "name grad-basic\nblock basic\nshortcut A\nstem 3 3 1\nstem-pool none\nstages 2x3 2x4 2x6\n"
#define BOTTLENECK_TEXT                                                                        \
    "name grad-bottleneck\nblock bottleneck\nshortcut projection\nstem 4 3 1\nstem-pool max\n" \
    "stages 1x2 2x3\n"

static const GradCase CASES[] = {
    // Blocks 2 and 4 downsample (option A), the others are identity blocks.
    {"basic, closed: identity 1, option-A 4", BASIC_TEXT, 2, 8, 8, 3, 3, 3, {1, 0, 1, 1, 0, 1}},
    {"basic, closed: first 0, option-A 2, last 5", BASIC_TEXT, 2, 8, 8, 3, 3, 3,
     {0, 1, 0, 1, 1, 0}},
    {"basic, all closed", BASIC_TEXT, 2, 8, 8, 3, 3, 3, {0, 0, 0, 0, 0, 0}},
    // Blocks 0 and 1 project (1 with stride 2), block 2 is identity; batch 3 of room for 5.
    {"bottleneck, closed: projection 1", BOTTLENECK_TEXT, 3, 12, 12, 3, 3, 5, {1, 0, 1}},
};

typedef struct {
    Net net;
    const GradCase *spec;
} Fixture;

static double read_loss(Net *net) {
    real loss;
    net->be->download(net->be, &loss, net->loss, sizeof loss);
    return (double)loss;
}

// The loss as the finite differences see it: forward + softmax cross-entropy.
static double forward_loss(Fixture *f) {
    Backend *be = f->net.be;
    net_forward(&f->net, f->spec->batch, f->spec->gates, NET_TRAIN);
    be->softmax_cross_entropy(be, f->spec->batch, f->net.n_classes, f->net.logits, f->net.labels,
                              f->net.dlogits, f->net.loss);
    return read_loss(&f->net);
}

static double central_difference(Fixture *f, size_t index, real value) {
    Backend *be = f->net.be;
    real *slot = f->net.params + index;
    real plus = value + (real)STEP, minus = value - (real)STEP;
    be->upload(be, slot, &plus, sizeof plus);
    double loss_plus = forward_loss(f);
    be->upload(be, slot, &minus, sizeof minus);
    double loss_minus = forward_loss(f);
    be->upload(be, slot, &value, sizeof value);
    return (loss_plus - loss_minus) / (2 * STEP);
}

static int build_case(TestContext *t, Backend *be, const GradCase *spec, Fixture *f, float **images,
                      int32_t **labels) {
    Preset preset;
    char err[512];
    f->spec = spec;
    if (preset_parse(spec->text, spec->label, &preset, err, sizeof err) != 0 ||
        net_build(&f->net, be, &preset, spec->in_c, spec->in_h, spec->in_w, spec->classes,
                  spec->batch_max, err, sizeof err) != 0) {
        CHECK(t, 0, "%s: %s", spec->label, err);
        return -1;
    }
    Rng rng;
    rng_seed(&rng, 21, RNG_STREAM_INIT);
    net_init_params(&f->net, &rng);
    perturb_bn_params(&f->net, &rng);
    size_t count = (size_t)spec->batch * spec->in_c * spec->in_h * spec->in_w;
    *images = malloc(count * sizeof(float));
    *labels = malloc((size_t)spec->batch * sizeof(int32_t));
    if (!*images || !*labels) abort();
    for (size_t i = 0; i < count; i++) (*images)[i] = (float)rng_normal(&rng);
    for (int i = 0; i < spec->batch; i++) (*labels)[i] = (int32_t)rng_below(&rng, spec->classes);
    net_set_batch(&f->net, *images, *labels, spec->batch);
    return 0;
}

// net_backward's loss against the naive reference forward with the same gates.
static void check_loss_against_reference(TestContext *t, Fixture *f, const float *images,
                                         const int32_t *labels) {
    const GradCase *spec = f->spec;
    size_t count = (size_t)spec->batch * spec->in_c * spec->in_h * spec->in_w;
    double *wide = malloc(count * sizeof(double));
    double *logits = malloc((size_t)spec->batch * spec->classes * sizeof(double));
    for (size_t i = 0; i < count; i++) wide[i] = images[i];
    RefNet ref;
    ref_init(&ref, &f->net);
    int rc = ref_forward(&ref, wide, spec->batch, spec->in_c, spec->in_h, spec->in_w, spec->gates,
                         NULL, 1, logits, NULL);
    CHECK(t, rc == 0, "%s: the reference cannot find the network's tensors", spec->label);
    if (rc == 0)
        CHECK_CLOSE(t, read_loss(&f->net),
                    ref_cross_entropy(logits, labels, spec->batch, spec->classes), 1e-10, 1e-12,
                    "loss vs naive reference");
    ref_free(&ref);
    free(wide), free(logits);
}

typedef struct {
    size_t checked, mismatched;
    double worst_rel;    // worst relative error among gradients above 1e-3
    double worst_bound;  // worst |a - n| / (ATOL + RTOL max(|a|, |n|)): must stay <= 1
} Tally;

// One tensor: analytic vs numeric, closed-branch zeros, open non-zeros.
static void check_tensor(TestContext *t, Fixture *f, const NetTensor *tensor, const real *params,
                         const real *grads, Tally *tally) {
    int block = tensor_block(tensor);
    int closed_branch = block >= 0 && !f->spec->gates[block] && tensor_in_branch(tensor, block);
    size_t mismatched = 0, nonzero = 0, numeric_nonzero = 0;
    double worst = 0;
    for (size_t k = tensor->offset; k < tensor->offset + tensor->count; k++) {
        double analytic = grads[k], numeric = central_difference(f, k, params[k]);
        double diff = fabs(analytic - numeric), size = fmax(fabs(analytic), fabs(numeric));
        if (!(diff <= ATOL + RTOL * size)) mismatched++;
        if (size > 1e-3 && diff / size > worst) worst = diff / size;
        if (diff / (ATOL + RTOL * size) > tally->worst_bound)
            tally->worst_bound = diff / (ATOL + RTOL * size);
        nonzero += analytic != 0.0;
        numeric_nonzero += numeric != 0.0;
        tally->checked++;
    }
    tally->mismatched += mismatched;
    if (worst > tally->worst_rel) tally->worst_rel = worst;
    CHECK(t, mismatched == 0, "%s: %s: %zu of %zu gradients differ from finite differences "
          "(worst rel %.3e)", f->spec->label, tensor->name, mismatched, tensor->count, worst);
    if (closed_branch)
        CHECK(t, nonzero == 0 && numeric_nonzero == 0,
              "%s: %s of a closed block: %zu analytic, %zu numeric gradients are not 0.0",
              f->spec->label, tensor->name, nonzero, numeric_nonzero);
    else
        CHECK(t, nonzero > 0, "%s: %s (open) has an all-zero gradient", f->spec->label,
              tensor->name);
}

static void gradcheck_case(TestContext *t, Backend *be, const GradCase *spec) {
    Fixture f;
    float *images;
    int32_t *labels;
    if (build_case(t, be, spec, &f, &images, &labels) != 0) return;
    Net *net = &f.net;
    net_forward(net, spec->batch, spec->gates, NET_TRAIN);
    net_backward(net, spec->batch);
    check_loss_against_reference(t, &f, images, labels);
    real *grads = malloc(net->n_params * sizeof(real)), *params = malloc(net->n_params * sizeof(real));
    be->download(be, grads, net->grads, net->n_params * sizeof(real));
    be->download(be, params, net->params, net->n_params * sizeof(real));
    Tally tally = {0};
    int closed_tensors = 0;
    for (int i = 0; i < net->n_tensors; i++) {
        const NetTensor *tensor = &net->tensors[i];
        if (tensor->store != TENSOR_PARAM) continue;
        int block = tensor_block(tensor);
        closed_tensors += block >= 0 && !spec->gates[block] && tensor_in_branch(tensor, block);
        check_tensor(t, &f, tensor, params, grads, &tally);
    }
    printf("%s: %zu of %zu parameters checked, %zu mismatched, worst rel err %.2e (|grad| > 1e-3), "
           "worst err / tolerance %.2e; %d closed-branch tensors\n", spec->label, tally.checked,
           net->n_params, tally.mismatched, tally.worst_rel, tally.worst_bound, closed_tensors);
    CHECK(t, tally.checked == net->n_params && closed_tensors > 0,
          "%s: checked %zu of %zu parameters, %d closed tensors", spec->label, tally.checked,
          net->n_params, closed_tensors);
    free(grads), free(params), free(images), free(labels);
    net_free(net);
}

int main(void) {
    TestContext t = {"gradcheck_net", 0, 0, 0};
    char err[256];
    Backend *be = backend_cpu_create(1, err, sizeof err);
    if (!be) {
        fprintf(stderr, "gradcheck_net: %s\n", err);
        return 1;
    }
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) gradcheck_case(&t, be, &CASES[i]);
    be->destroy(be);
    return test_finish(&t);
}
