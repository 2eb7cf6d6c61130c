// Checkpoints (common/checkpoint.c over common/safetensors.c) the way sdexport
// reads them: checkpoint_open, then the network its metadata describes is built
// on the CPU at batch 1 and the tensors are loaded into it.
// Input: the checkpoint file's bytes.
#include <string.h>

#include "../common/checkpoint.h"
#include "fuzz.h"

int fuzz_checkpoint(FuzzContext *ctx, const uint8_t *data, size_t size, char *err,
                    size_t err_len) {
    fuzz_write_file(ctx, "model.ckpt", data, size);
    char path[512];
    fuzz_path(ctx, "model.ckpt", path);
    Checkpoint checkpoint;
    if (checkpoint_open(path, &checkpoint, err, err_len) != 0) {
        fuzz_require_message(err, path);
        return -1;
    }
    const SafetensorsFile *file = &checkpoint.file;
    size_t covered = 0;
    for (int i = 0; i < file->n_tensors; i++) {
        const SafetensorsEntry *e = &file->tensors[i];
        fuzz_require(e->begin == covered && e->end >= e->begin && e->end <= file->data_size,
                     "tensor %s at [%zu, %zu) of %zu bytes", e->name, e->begin, e->end,
                     file->data_size);
        covered = e->end;
    }
    fuzz_require(covered == file->data_size, "tensors cover %zu of %zu bytes", covered,
                 file->data_size);
    Net net;
    int status = checkpoint_build_net_within(&checkpoint, ctx->cpu, 1, FUZZ_MEMORY_BUDGET, &net,
                                             err, err_len);
    if (status == 0) {
        fuzz_require(checkpoint_load_into_net(&checkpoint, &net, checkpoint_has_momentum(&checkpoint),
                                              err, err_len) == 0 ||
                         strstr(err, "optimizer.momentum") != NULL,
                     "a built network does not take its own tensors back: %s", err);
        net_free(&net);
    } else {
        fuzz_require_message(err, path);
    }
    checkpoint_close(&checkpoint);
    return status;
}
