// Architecture presets (common/preset.c) through preset_load, the way
// `sdtrain --model FILE` reads them, and the network a valid preset describes
// (common/net.c): measured, then built on the CPU when it fits the harness's
// memory budget, and run forward once when it is small.
// Input: the preset file's bytes.
#include <string.h>

#include "../common/net.h"
#include "../common/preset.h"
#include "../common/rng.h"
#include "fuzz.h"

// Networks up to BUILD_BYTES are built (allocated, laid out), the tiny ones up to
// FORWARD_BYTES also run one evaluation forward pass (odd stems and strides through
// the kernels); larger ones are only measured, which keeps the harness fast.
#define BUILD_BYTES ((size_t)4 << 20)
#define FORWARD_BYTES ((size_t)256 << 10)

static void build_and_run(FuzzContext *ctx, const Preset *preset) {
    NetSize size;
    char err[512];
    // CIFAR-shaped input, batch 2: what `sdtrain --model FILE` would build first.
    if (net_measure(preset, 3, 32, 32, 10, 2, &size, err, sizeof err) != 0) {
        fuzz_require(strstr(err, "network:") != NULL, "measure refused without saying why");
        return;
    }
    if (size.bytes > BUILD_BYTES) return;  // a big but valid network: not built here
    Net net;
    if (net_build(&net, ctx->cpu, preset, 3, 32, 32, 10, 2, err, sizeof err) != 0) {
        fuzz_require(0, "net_measure accepted what net_build refused: %s", err);
        return;
    }
    fuzz_require(net.n_params == size.params && net.n_bn_state == size.bn_state,
                 "net_measure said %zu + %zu values, net_build made %zu + %zu", size.params,
                 size.bn_state, net.n_params, net.n_bn_state);
    if (size.bytes <= FORWARD_BYTES) {
        Rng rng;
        rng_seed(&rng, 1, 0);
        net_init_params(&net, &rng);
        float images[2 * 3 * 32 * 32] = {0};
        net_set_batch(&net, images, NULL, 2);
        net_forward(&net, 2, NULL, NET_EVAL);
    }
    net_free(&net);
}

int fuzz_preset(FuzzContext *ctx, const uint8_t *data, size_t size, char *err, size_t err_len) {
    fuzz_write_file(ctx, "preset.txt", data, size);
    char path[512];
    fuzz_path(ctx, "preset.txt", path);
    Preset preset;
    if (preset_load(path, "models", &preset, err, err_len) != 0) {
        fuzz_require_message(err, path);
        return -1;
    }
    fuzz_require(preset.name[0] && preset.n_stages > 0 && preset.stem_channels > 0,
                 "accepted a preset without name, stages or stem");
    build_and_run(ctx, &preset);
    return 0;
}
