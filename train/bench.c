#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/dataset.h"
#include "../common/net.h"
#include "timer.h"

// With --cuda-graphs every new (block, input pointer) pair is recorded the first
// time it comes up, and with stochastic depth new pairs keep appearing for a
// while. Warm-up lasts until this many steps in a row recorded nothing (at most
// WARMUP_MAX_STEPS), so that recording stays out of the timed windows.
enum { WARMUP_STEPS = 2, WARMUP_QUIET_STEPS = 10, WARMUP_MAX_STEPS = 500 };

typedef struct {
    const TrainOptions *opt;
    Backend *be;
    Net net;
    Rng gate_rng;
    uint8_t *gates;
    int batch;
    int first_step;  // the SGD step's "first" flag (momentum buffer = gradient)
    int every_block_open;  // constant depth for --bench-versus-constant's other windows
    // Open blocks summed over the steps run, and those steps, per kind of window
    // ([1]: every block open): the gates the timed windows really ran with.
    long long open_blocks[2], steps_run[2];
} Bench;

// The input shape of each data set, so a benchmark needs no files.
static void dataset_shape(const char *name, int *c, int *h, int *w, int *classes) {
    int mnist_like = strcmp(name, "mnist") == 0 || strcmp(name, "fashion-mnist") == 0;
    *c = mnist_like ? 1 : 3;
    *h = *w = mnist_like ? 28 : 32;
    *classes = strcmp(name, "cifar100") == 0 ? 100 : 10;
}

static void one_step(Bench *b) {
    const TrainOptions *opt = b->opt;
    if (b->every_block_open)
        memset(b->gates, 1, (size_t)b->net.n_blocks);
    else
        net_draw_gates(&b->net, &b->gate_rng, b->gates);
    for (int l = 0; l < b->net.n_blocks; l++) b->open_blocks[b->every_block_open] += b->gates[l];
    b->steps_run[b->every_block_open]++;
    net_forward(&b->net, b->batch, b->gates, NET_TRAIN);
    net_backward(&b->net, b->batch);
    net_sgd_step(&b->net, (real)opt->lr, (real)opt->momentum, (real)opt->weight_decay,
                 opt->nesterov, b->first_step);
    b->first_step = 0;
}

// 0 when the device reported no error and the last step's loss is finite. A
// failed device turns later ops into no-ops, which would time as absurdly fast
// steps: no figure may be printed after that.
static int check_health(Bench *b, const char *when) {
    char err[1024] = "";
    if (b->be->last_error(b->be, err, sizeof err) != 0) {
        fprintf(stderr, "sdtrain: --bench-steps: the %s backend failed %s: %s\n", b->be->name,
                when, err);
        return -1;
    }
    real loss = 0;
    b->be->download(b->be, &loss, b->net.loss, sizeof loss);
    if (!isfinite((double)loss)) {
        fprintf(stderr, "sdtrain: --bench-steps: the loss is %g %s (diverged: lower --lr)\n",
                (double)loss, when);
        return -1;
    }
    return 0;
}

static long long recordings_made(const Net *net) {
    long long replays, recorded, eager;
    net_recording_counts(net, &replays, &recorded, &eager);
    return recorded;
}

// Returns the number of warm-up steps run.
static int warm_up(Bench *b) {
    int steps = 0;
    for (; steps < WARMUP_STEPS; steps++) one_step(b);
    if (!b->net.recordings) return steps;
    int quiet = 0;
    while (quiet < WARMUP_QUIET_STEPS && steps < WARMUP_MAX_STEPS) {
        long long before = recordings_made(&b->net);
        one_step(b);
        steps++;
        quiet = recordings_made(&b->net) == before ? quiet + 1 : 0;
    }
    return steps;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int n) {
    qsort(values, (size_t)n, sizeof *values, compare_doubles);
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

static void print_recording_counts(const Net *net, long long recorded_before_timing) {
    long long replays, recorded, eager;
    net_recording_counts(net, &replays, &recorded, &eager);
    printf("cuda graphs: %lld block replays, %lld recordings (%lld inside the timed windows), "
           "%lld eager block runs\n",
           replays, recorded, recorded - recorded_before_timing, eager);
}

// One timed window of opt->bench_steps steps, every block open or gated by the rule;
// its seconds, or -1 when a step went wrong (check_health said why).
static double timed_window(Bench *b, int every_block_open) {
    b->every_block_open = every_block_open;
    b->be->synchronize(b->be);
    double start = timer_seconds();
    for (int s = 0; s < b->opt->bench_steps; s++) one_step(b);
    b->be->synchronize(b->be);
    double seconds = timer_seconds() - start;
    return check_health(b, "during a timed window") == 0 ? seconds : -1;
}

static void print_windows(const char *label, const double *seconds, int n) {
    printf("%s", label);
    for (int r = 0; r < n; r++) printf(" %.4f", seconds[r]);
    printf("\n");
}

// Warm-up, then opt->bench_repeats timed windows of opt->bench_steps steps each.
static int run_windows(Bench *b) {
    const TrainOptions *opt = b->opt;
    int warmup_steps = warm_up(b);
    if (check_health(b, "during warm-up") != 0) return 1;
    long long recorded_before = b->net.recordings ? recordings_made(&b->net) : 0;
    double *windows = malloc((size_t)opt->bench_repeats * sizeof *windows);
    if (!windows) {
        fprintf(stderr, "sdtrain: out of memory\n");
        return 1;
    }
    for (int r = 0; r < opt->bench_repeats; r++) {
        windows[r] = timed_window(b, 0);
        if (windows[r] < 0) {
            free(windows);
            return 1;
        }
    }
    printf("warm-up steps: %d\n", warmup_steps);
    print_windows("windows (s):", windows, opt->bench_repeats);
    if (b->net.recordings) print_recording_counts(&b->net, recorded_before);
    double seconds = median(windows, opt->bench_repeats);
    printf("ms/step: %.3f\n", 1000 * seconds / opt->bench_steps);
    printf("images/s: %.1f\n", (double)opt->bench_steps * b->batch / seconds);
    free(windows);
    return 0;
}

// --bench-versus-constant: the training time that stochastic depth saves, measured where
// a shared machine's drifting speed cannot fake it. Each repeat times a window of the
// rule's steps and a window of constant-depth steps (every block open: the same network,
// the same work as --survival none) one after the other, the rule first in even repeats;
// the figure is the median over the repeats of each pair's ratio. Separate runs minutes
// apart (the epochs of bench/run.sh) gave ratios of 0.55 to 0.98 for the same programs.
static int run_pairs(Bench *b) {
    const TrainOptions *opt = b->opt;
    const int n = opt->bench_repeats;
    int warmup_steps = warm_up(b);
    b->every_block_open = 1;  // blocks the rule's warm-up left closed run once untimed
    for (int s = 0; s < WARMUP_STEPS; s++, warmup_steps++) one_step(b);
    if (check_health(b, "during warm-up") != 0) return 1;
    double *gated = malloc(3 * (size_t)n * sizeof *gated);
    if (!gated) {
        fprintf(stderr, "sdtrain: out of memory\n");
        return 1;
    }
    double *open = gated + n, *ratios = open + n;
    memset(b->open_blocks, 0, sizeof b->open_blocks);  // count the timed steps only
    memset(b->steps_run, 0, sizeof b->steps_run);
    for (int r = 0; r < n; r++) {
        const int open_first = r % 2;
        const double first = timed_window(b, open_first);
        const double second = first < 0 ? -1 : timed_window(b, !open_first);
        if (second < 0) {
            free(gated);
            return 1;
        }
        gated[r] = open_first ? second : first;
        open[r] = open_first ? first : second;
        ratios[r] = gated[r] / open[r];
    }
    printf("warm-up steps: %d\n", warmup_steps);
    print_windows("windows (s), survival rule:", gated, n);
    print_windows("windows (s), constant depth:", open, n);
    print_windows("pair ratios (rule / constant):", ratios, n);
    printf("open blocks per step: %.2f with the rule, %.2f at constant depth, of %d\n",
           (double)b->open_blocks[0] / (double)b->steps_run[0],
           (double)b->open_blocks[1] / (double)b->steps_run[1], b->net.n_blocks);
    const double gated_seconds = median(gated, n), open_seconds = median(open, n);
    printf("ms/step: %.3f\n", 1000 * gated_seconds / opt->bench_steps);
    printf("images/s: %.1f\n", (double)opt->bench_steps * b->batch / gated_seconds);
    printf("constant depth ms/step: %.3f\n", 1000 * open_seconds / opt->bench_steps);
    printf("step time %s p_L %g / constant depth: %.3f (median of %d adjacent pairs; "
           "E[L~] / L = %.3f)\n",
           opt->survival, opt->p_last, median(ratios, n), n,
           net_expected_active_blocks(&b->net) / b->net.n_blocks);
    free(gated);
    return 0;
}

// Random images and labels, uploaded once: the input costs nothing per step.
static int set_synthetic_batch(Net *net, int image_size, int classes, int batch, Rng *rng) {
    float *images = malloc((size_t)batch * image_size * sizeof(float));
    int32_t *labels = malloc((size_t)batch * sizeof(int32_t));
    if (!images || !labels) {
        free(images);
        free(labels);
        return -1;
    }
    for (size_t i = 0; i < (size_t)batch * image_size; i++) images[i] = (float)rng_normal(rng);
    for (int i = 0; i < batch; i++) labels[i] = (int32_t)rng_below(rng, (uint64_t)classes);
    net_set_batch(net, images, labels, batch);
    free(images);
    free(labels);
    return 0;
}

static int build_net(Bench *b, Preset *preset) {
    const TrainOptions *opt = b->opt;
    char err[1024] = "";
    int c, h, w, classes;
    dataset_shape(opt->dataset, &c, &h, &w, &classes);
    if (b->be->set_precision(b->be, opt->precision) != 0) {
        fprintf(stderr, "sdtrain: precision %s is not offered by the %s backend\n",
                opt->precision, b->be->name);
        return -1;
    }
    if (preset_load(opt->model, opt->models_dir, preset, err, sizeof err) != 0 ||
        net_build(&b->net, b->be, preset, c, h, w, classes, b->batch, err, sizeof err) != 0) {
        fprintf(stderr, "sdtrain: %s\n", err);
        return -1;
    }
    net_set_survival(&b->net, opt->survival, opt->p_last);
    if (opt->cuda_graphs && !net_enable_recording(&b->net))
        fprintf(stderr, "sdtrain: the %s backend cannot record CUDA graphs; --cuda-graphs has "
                        "no effect\n", b->be->name);
    Rng rng;
    rng_seed(&rng, opt->seed, RNG_STREAM_INIT);
    rng_seed(&b->gate_rng, opt->seed, RNG_STREAM_GATES);
    net_init_params(&b->net, &rng);
    if (set_synthetic_batch(&b->net, c * h * w, classes, b->batch, &rng) != 0) {
        fprintf(stderr, "sdtrain: out of memory\n");
        net_free(&b->net);
        return -1;
    }
    return 0;
}

int bench_steps(const TrainOptions *opt) {
    char err[1024];
    Bench b = {.opt = opt, .batch = opt->batch_size, .first_step = 1};
    b.be = backend_create(opt->device, opt->threads, err, sizeof err);
    if (!b.be) {
        fprintf(stderr, "sdtrain: %s\n", err);
        return 1;
    }
    Preset preset;
    if (build_net(&b, &preset) != 0) {
        b.be->destroy(b.be);
        return 1;
    }
    int status = 1;
    b.gates = malloc((size_t)b.net.n_blocks);
    if (!b.gates) {
        fprintf(stderr, "sdtrain: out of memory\n");
    } else {
        char device[256];
        b.be->describe(b.be, device, sizeof device);
        printf("model %s batch %d device %s survival %s p_L %g: E[L~] %.2f of %d blocks\n",
               preset.name, b.batch, b.be->name, opt->survival, opt->p_last,
               net_expected_active_blocks(&b.net), b.net.n_blocks);
        printf("%s\n", device);
        fflush(stdout);
        status = opt->bench_versus_constant ? run_pairs(&b) : run_windows(&b);
    }
    free(b.gates);
    net_free(&b.net);
    b.be->destroy(b.be);
    return status;
}
