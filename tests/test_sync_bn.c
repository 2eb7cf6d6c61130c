// Synchronised batch norm (common/net_sync_bn.c) without MPI: two threads, each with
// its own CPU backend and network, play two processes; their `sum` callback adds
// the two threads' buffers through a barrier. Halves of a batch of 8 on the two
// "ranks" must give what one network with the whole batch gives through the
// backend's own BN kernels: the logits of each half, the mean loss, the averaged
// gradients (as sdtrain's exchange averages them) and the running statistics, for
// all blocks open and for a pattern with closed blocks, on an option-A net and a
// projection (bottleneck) net. Without the synchronisation the gradients differ
// (so the comparison can fail).
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../common/net.h"
#include "../common/net_sync_bn.h"
#include "harness.h"

enum { HALF = 4, BATCH = 2 * HALF };

typedef struct {
    const char *text;
    int in_c, side, classes;
} Spec;

static const Spec SPECS[] = {
    {"name sb-basic\nblock basic\nshortcut A\nstem 4 3 1\nstem-pool none\nstages 2x4 2x8\n", 3,
     8, 5},
    {"name sb-bottleneck\nblock bottleneck\nshortcut projection\nstem 4 3 1\nstem-pool max\n"
     "stages 1x2 2x3\n", 2, 10, 4},
};

// The two "ranks" meet here.
typedef struct {
    pthread_barrier_t barrier;
    double *posted[2];
} Meeting;

typedef struct {
    Meeting *meeting;
    int rank;
} Member;

static void sum_two(void *ctx, double *values, size_t count) {
    Member *m = ctx;
    double *total = malloc((count ? count : 1) * sizeof(double));
    if (!total) abort();
    m->meeting->posted[m->rank] = values;
    pthread_barrier_wait(&m->meeting->barrier);  // both posted
    for (size_t i = 0; i < count; i++) total[i] = m->meeting->posted[0][i] + m->meeting->posted[1][i];
    pthread_barrier_wait(&m->meeting->barrier);  // both read
    memcpy(values, total, count * sizeof(double));
    free(total);
}

typedef struct {
    const Spec *spec;
    const float *images;      // this rank's HALF images
    const int32_t *labels;
    const uint8_t *gates;
    Member member;
    int sync;
    // Results, on the host.
    real *logits, *grads, *bn_state;
    real loss;
    size_t n_params, n_bn_state;
    int failed;
} Run;

static int build(const Spec *spec, Backend *be, int batch, Net *net) {
    Preset preset;
    char err[512];
    if (preset_parse(spec->text, "test", &preset, err, sizeof err) != 0 ||
        net_build(net, be, &preset, spec->in_c, spec->side, spec->side, spec->classes, batch, err,
                  sizeof err) != 0) {
        fprintf(stderr, "build: %s\n", err);
        return -1;
    }
    Rng rng;
    rng_seed(&rng, 11, RNG_STREAM_INIT);
    net_init_params(net, &rng);
    return 0;
}

static real *fetch(Net *net, const real *device, size_t count) {
    real *host = malloc((count ? count : 1) * sizeof(real));
    if (!host) abort();
    net->be->download(net->be, host, device, count * sizeof(real));
    return host;
}

// One training forward + backward of `batch` images; results into r.
static void train_step(Run *r, int batch) {
    char err[256];
    Backend *be = backend_cpu_create(1, err, sizeof err);
    Net net;
    r->failed = !be || build(r->spec, be, batch, &net) != 0;
    if (r->failed) return;
    if (r->sync && net_sync_bn_enable(&net, sum_two, &r->member, err, sizeof err) != 0) {
        r->failed = 1;
        return;
    }
    net_set_batch(&net, r->images, r->labels, batch);
    net_forward(&net, batch, r->gates, NET_TRAIN);
    net_backward(&net, batch);
    r->n_params = net.n_params;
    r->n_bn_state = net.n_bn_state;
    r->logits = fetch(&net, net.logits, (size_t)batch * r->spec->classes);
    r->grads = fetch(&net, net.grads, net.n_params);
    r->bn_state = fetch(&net, net.bn_state, net.n_bn_state);
    be->download(be, &r->loss, net.loss, sizeof r->loss);
    net_free(&net);
    be->destroy(be);
}

static void *rank_main(void *arg) {
    train_step(arg, HALF);
    return NULL;
}

// max |got - want| / max |want| over count values.
static double relative_error(const real *got, const real *want, size_t count) {
    double scale = 0, worst = 0;
    for (size_t i = 0; i < count; i++) {
        if (fabs((double)want[i]) > scale) scale = fabs((double)want[i]);
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= worst)) worst = d;
    }
    return scale > 0 ? worst / scale : worst;
}

static void free_run(Run *r) {
    free(r->logits);
    free(r->grads);
    free(r->bn_state);
}

static void check_case(TestContext *t, const Spec *spec, const uint8_t *gates, int sync,
                       const char *what) {
    size_t image = (size_t)spec->in_c * spec->side * spec->side;
    float *images = malloc(BATCH * image * sizeof(float));
    int32_t labels[BATCH];
    if (!images) abort();
    Rng rng;
    rng_seed(&rng, 5, 77);
    for (size_t i = 0; i < BATCH * image; i++) images[i] = (float)(rng_normal(&rng) * 2 + 0.5);
    for (int i = 0; i < BATCH; i++) labels[i] = (int32_t)rng_below(&rng, (uint64_t)spec->classes);

    Run whole = {.spec = spec, .images = images, .labels = labels, .gates = gates};
    train_step(&whole, BATCH);
    Meeting meeting;
    pthread_barrier_init(&meeting.barrier, NULL, 2);
    Run part[2];
    pthread_t thread[2];
    for (int r = 0; r < 2; r++) {
        part[r] = (Run){.spec = spec, .images = images + r * HALF * image,
                        .labels = labels + r * HALF, .gates = gates,
                        .member = {&meeting, r}, .sync = sync};
        pthread_create(&thread[r], NULL, rank_main, &part[r]);
    }
    for (int r = 0; r < 2; r++) pthread_join(thread[r], NULL);
    pthread_barrier_destroy(&meeting.barrier);
    CHECK(t, !whole.failed && !part[0].failed && !part[1].failed, "%s: the networks ran", what);
    if (whole.failed || part[0].failed || part[1].failed) return;

    size_t half_logits = (size_t)HALF * spec->classes;
    double logits_err = fmax(relative_error(part[0].logits, whole.logits, half_logits),
                             relative_error(part[1].logits, whole.logits + half_logits,
                                            half_logits));
    real *mean_grads = malloc(whole.n_params * sizeof(real));
    if (!mean_grads) abort();
    for (size_t i = 0; i < whole.n_params; i++)
        mean_grads[i] = (part[0].grads[i] + part[1].grads[i]) / 2;
    double grads_err = relative_error(mean_grads, whole.grads, whole.n_params);
    double stats_err = relative_error(part[0].bn_state, whole.bn_state, whole.n_bn_state);
    double loss_err = fabs((part[0].loss + part[1].loss) / 2 - whole.loss) / fabs(whole.loss);
    printf("  %-44s logits %.1e grads %.1e running stats %.1e loss %.1e\n", what, logits_err,
           grads_err, stats_err, loss_err);
    if (sync) {
        CHECK(t, logits_err <= 1e-5, "%s: logits of the halves differ by %.3g", what, logits_err);
        CHECK(t, grads_err <= 1e-5, "%s: averaged gradients differ by %.3g", what, grads_err);
        CHECK(t, stats_err <= 1e-5, "%s: running statistics differ by %.3g", what, stats_err);
        CHECK(t, loss_err <= 1e-6, "%s: mean loss differs by %.3g", what, loss_err);
    } else {
        CHECK(t, grads_err > 1e-3, "%s: per-half BN should give other gradients (%.3g)", what,
              grads_err);
    }
    free(mean_grads);
    for (int r = 0; r < 2; r++) free_run(&part[r]);
    free_run(&whole);
    free(images);
}

int main(void) {
    TestContext t = {"sync_bn", 0, 0, 0};
    const uint8_t some_closed[4] = {1, 0, 1, 0};
    for (size_t s = 0; s < sizeof SPECS / sizeof SPECS[0]; s++) {
        char what[96];
        snprintf(what, sizeof what, "%s, all open", s ? "bottleneck" : "basic");
        check_case(&t, &SPECS[s], NULL, 1, what);
        snprintf(what, sizeof what, "%s, blocks 1 (and 3) closed", s ? "bottleneck" : "basic");
        check_case(&t, &SPECS[s], some_closed, 1, what);
        snprintf(what, sizeof what, "%s, not synchronised", s ? "bottleneck" : "basic");
        check_case(&t, &SPECS[s], NULL, 0, what);
    }
    return test_finish(&t);
}
