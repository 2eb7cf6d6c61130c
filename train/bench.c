#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/dataset.h"
#include "../common/net.h"
#include "timer.h"

// The input shape of each data set, so a benchmark needs no files.
static void dataset_shape(const char *name, int *c, int *h, int *w, int *classes) {
    int mnist_like = strcmp(name, "mnist") == 0 || strcmp(name, "fashion-mnist") == 0;
    *c = mnist_like ? 1 : 3;
    *h = *w = mnist_like ? 28 : 32;
    *classes = strcmp(name, "cifar100") == 0 ? 100 : 10;
}

static void one_step(Net *net, Rng *gate_rng, uint8_t *gates, int batch, const TrainOptions *opt,
                     int first) {
    net_draw_gates(net, gate_rng, gates);
    net_forward(net, batch, gates, NET_TRAIN);
    net_backward(net, batch);
    net_sgd_step(net, (real)opt->lr, (real)opt->momentum, (real)opt->weight_decay, opt->nesterov,
                 first);
}

int bench_steps(const TrainOptions *opt) {
    char err[1024];
    Backend *be = backend_create(opt->device, opt->threads, err, sizeof err);
    if (!be) {
        fprintf(stderr, "sdtrain: %s\n", err);
        return 1;
    }
    Preset preset;
    Net net;
    int c, h, w, classes, batch = opt->batch_size;
    dataset_shape(opt->dataset, &c, &h, &w, &classes);
    if (be->set_precision(be, opt->precision) != 0 ||
        preset_load(opt->model, opt->models_dir, &preset, err, sizeof err) != 0 ||
        net_build(&net, be, &preset, c, h, w, classes, batch, err, sizeof err) != 0) {
        fprintf(stderr, "sdtrain: %s\n", err[0] ? err : "precision not offered by this backend");
        be->destroy(be);
        return 1;
    }
    net_set_survival(&net, opt->survival, opt->p_last);
    if (opt->cuda_graphs && !net_enable_recording(&net))
        fprintf(stderr, "sdtrain: the %s backend cannot record CUDA graphs; --cuda-graphs has "
                        "no effect\n", be->name);
    Rng rng, gate_rng;
    rng_seed(&rng, opt->seed, RNG_STREAM_INIT);
    rng_seed(&gate_rng, opt->seed, RNG_STREAM_GATES);
    net_init_params(&net, &rng);
    size_t image = (size_t)c * h * w;
    float *images = malloc((size_t)batch * image * sizeof(float));
    int32_t *labels = malloc((size_t)batch * sizeof(int32_t));
    uint8_t *gates = malloc((size_t)net.n_blocks);
    if (!images || !labels || !gates) {
        fprintf(stderr, "sdtrain: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < (size_t)batch * image; i++) images[i] = (float)rng_normal(&rng);
    for (int i = 0; i < batch; i++) labels[i] = (int32_t)rng_below(&rng, (uint64_t)classes);
    net_set_batch(&net, images, labels, batch);
    int warmup = 2;
    for (int s = 0; s < warmup; s++) one_step(&net, &gate_rng, gates, batch, opt, s == 0);
    be->synchronize(be);
    double start = timer_seconds();
    for (int s = 0; s < opt->bench_steps; s++) one_step(&net, &gate_rng, gates, batch, opt, 0);
    be->synchronize(be);
    double seconds = timer_seconds() - start;
    printf("model %s batch %d device %s survival %s p_L %g: E[L~] %.2f of %d blocks\n",
           preset.name, batch, be->name, opt->survival, opt->p_last,
           net_expected_active_blocks(&net), net.n_blocks);
    if (net.recordings) {
        long long replays, recorded, eager;
        net_recording_counts(&net, &replays, &recorded, &eager);
        printf("cuda graphs: %lld block replays, %lld recordings, %lld eager block runs\n",
               replays, recorded, eager);
    }
    printf("ms/step: %.3f\n", 1000 * seconds / opt->bench_steps);
    printf("images/s: %.1f\n", (double)opt->bench_steps * batch / seconds);
    free(images);
    free(labels);
    free(gates);
    net_free(&net);
    be->destroy(be);
    return 0;
}
