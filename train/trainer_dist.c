// The data-parallel parts of a training run: the global batch, the gradient
// exchange, synchronised BN, and the checks that every rank trains the same
// network (train/trainer.h). With one rank all of it is free or a no-op.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/net_sync_bn.h"
#include "grad_nccl.h"
#include "nccl_lib.h"
#include "trainer.h"

static void sum_doubles(void *ctx, double *values, size_t count) {
    dist_sum_doubles(ctx, values, count);
}

// NCCL for a CUDA run (--dist-backend auto or nccl): every rank joins, or none does.
// 0 with tr->grad_nccl set, or -1 with why.
static int try_nccl(Trainer *tr, char *why, size_t why_len) {
    GradNccl *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(why, why_len, "out of host memory");
        return -1;
    }
    if (grad_nccl_init(g, tr->be, tr->dist, getenv("SD_NCCL_LIB"), tr->opt.overlap_kb > 0, why,
                       why_len) != 0) {
        free(g);
        return -1;
    }
    tr->grad_nccl = g;
    tr->grad_sync.device_sums = g;
    return 0;
}

// Which reduction sums the gradients; rank 0 says which, and why NCCL is not used
// when it was in question. -1 only when --dist-backend nccl cannot be honoured.
static int choose_reduction(Trainer *tr, char *err, size_t err_len) {
    const char *asked = tr->opt.dist_backend;
    int say = tr->dist->rank == 0;
    int on_gpu = strcmp(tr->be->name, "cuda") == 0;
    if (strcmp(asked, "mpi") == 0 || !on_gpu) {
        if (say)
            fprintf(stderr, "sdtrain: gradient reduction: MPI_Allreduce in host memory%s\n",
                    on_gpu ? " (host-staged, --dist-backend mpi)" : "");
        return 0;
    }
    char why[700] = "";
    if (try_nccl(tr, why, sizeof why) == 0) {
        char version[32];
        nccl_version_text(tr->grad_nccl->comm.api.version, version, sizeof version);
        if (say)
            fprintf(stderr, "sdtrain: gradient reduction: NCCL %s (%s) in GPU memory, ncclAllReduce "
                    "average%s\n", version, tr->grad_nccl->comm.api.path,
                    tr->opt.overlap_kb > 0 ? " on a second stream during backward" : "");
        return 0;
    }
    if (strcmp(asked, "nccl") == 0) {
        snprintf(err, err_len, "--dist-backend nccl: %s", why);
        return -1;
    }
    if (say)
        fprintf(stderr, "sdtrain: gradient reduction: MPI_Allreduce in host memory (host-staged): "
                "NCCL not used: %s\n", why);
    return 0;
}

int trainer_dist_setup(Trainer *tr, char *err, size_t err_len) {
    if (!tr->dist) {  // a test's trainer, or a program without mpirun
        tr->solo = (Dist){.rank = 0, .size = 1};
        tr->dist = &tr->solo;
    }
    Dist *d = tr->dist;
    long long global = (long long)tr->opt.batch_size * d->size;
    if (tr->train_count < global) {
        snprintf(err, err_len, "only %d training images for a global batch of %lld (%d ranks x "
                 "--batch-size %d)", tr->train_count, global, d->size, tr->opt.batch_size);
        return -1;
    }
    size_t bucket = (size_t)tr->opt.overlap_kb * 1024 / sizeof(real);
    if (grad_sync_init(&tr->grad_sync, &tr->net, bucket, err, err_len) != 0) return -1;
    if (d->size > 1 && choose_reduction(tr, err, err_len) != 0) return -1;
    tr->host_bn_state = malloc((tr->net.n_bn_state ? tr->net.n_bn_state : 1) * sizeof(real));
    if (!tr->host_bn_state) {
        snprintf(err, err_len, "out of host memory for the BN statistics");
        return -1;
    }
    tr->gate_hash = DIST_HASH_START;
    const char *skew = getenv("SDTRAIN_TEST_SKEW_GATES");
    tr->skew_gates_at_step = skew ? atoll(skew) : 0;
    if (!tr->opt.sync_bn || d->size == 1) return 0;
    if (tr->net.recordings) {
        fprintf(stderr, "sdtrain: --sync-bn works on the host: --cuda-graphs is turned off\n");
        net_disable_recording(&tr->net);
    }
    return net_sync_bn_enable(&tr->net, sum_doubles, d, err, err_len);
}

void trainer_dist_free(Trainer *tr) {
    grad_sync_free(&tr->grad_sync);
    if (tr->grad_nccl) grad_nccl_free(tr->grad_nccl);
    free(tr->grad_nccl);
    tr->grad_nccl = NULL;
    free(tr->host_bn_state);
    tr->host_bn_state = NULL;
}

// One check of the hash over every rank; a new window starts after it.
static int gates_agree(Trainer *tr) {
    int same = dist_all_equal(tr->dist, tr->gate_hash);
    tr->gate_hash = DIST_HASH_START;
    return same;
}

int trainer_dist_gates(Trainer *tr) {
    Dist *d = tr->dist;
    if (d->size == 1) return 0;
    long long step = tr->steps_done + 1;  // this step, 1-based
    if (tr->skew_gates_at_step == step && d->rank == 1) tr->gates[0] ^= 1;
    tr->gate_hash = dist_hash(tr->gate_hash, tr->gates, (size_t)tr->net.n_blocks);
    if (step % tr->opt.dist_check_every != 0) return 0;
    return gates_agree(tr) ? 0 : -1;
}

void trainer_dist_step_totals(Trainer *tr, double *loss, double *errors) {
    if (tr->dist->size == 1) return;
    double both[2] = {*loss, *errors};
    dist_sum_doubles(tr->dist, both, 2);
    *loss = both[0] / tr->dist->size;
    *errors = both[1];
}

static uint64_t device_hash(Trainer *tr, const real *device, size_t count, real *host) {
    tr->be->download(tr->be, host, device, count * sizeof(real));
    return dist_hash(DIST_HASH_START, host, count * sizeof(real));
}

int trainer_dist_end_epoch(Trainer *tr, char *err, size_t err_len) {
    Dist *d = tr->dist;
    Net *net = &tr->net;
    if (d->size == 1) return 0;
    if (!gates_agree(tr)) {
        snprintf(err, err_len, "the ranks drew different gates in the last steps of the epoch");
        return -1;
    }
    // As DDP's buffer broadcast: evaluation and checkpoints see rank 0's statistics.
    tr->be->download(tr->be, tr->host_bn_state, net->bn_state, net->n_bn_state * sizeof(real));
    dist_broadcast(d, tr->host_bn_state, net->n_bn_state * sizeof(real));
    tr->be->upload(tr->be, net->bn_state, tr->host_bn_state, net->n_bn_state * sizeof(real));
    real *host = tr->grad_sync.host;  // free between steps
    uint64_t params = device_hash(tr, net->params, net->n_params, host);
    uint64_t momentum = device_hash(tr, net->momentum, net->n_params, host);
    if (!dist_all_equal(d, params ^ (momentum * 31))) {
        snprintf(err, err_len, "rank %d: the parameters or the momentum differ between ranks "
                 "(a reduction gave different results on different ranks)", d->rank);
        return -1;
    }
    return 0;
}
