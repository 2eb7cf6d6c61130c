// sdtrain: train a residual network with stochastic depth.
//
// main sets the run up (fresh, resumed, or --force over an old one; train/run_dir.h)
// and hands it to the epoch loop (train/train_loop.c).
//
// One training step, from here to the device: trainer_train_epoch (trainer.c)
// draws the gates, net_forward / net_backward (common/net_forward.c,
// common/net_backward.c) walk the blocks and skip the closed ones, and every op
// goes through the Backend table (kernels/backend.h) to kernels/cpu/ or
// kernels/cuda/.
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "dist.h"
#include "options.h"
#include "progress.h"
#include "run_dir.h"
#include "trainer.h"

static void print_setup(const Trainer *tr) {
    const Net *net = &tr->net;
    const TrainOptions *opt = &tr->opt;
    fprintf(stderr,
            "sdtrain: %s (%d layers, %d blocks, %.3fM parameters) on %s %dx%dx%d, %d classes\n",
            net->preset.name, preset_depth(&net->preset), net->n_blocks, net->n_params / 1e6,
            opt->dataset, net->in_c, net->in_h, net->in_w, net->n_classes);
    char device[256];
    tr->be->describe(tr->be, device, sizeof device);
    fprintf(stderr, "sdtrain: %d train / %d validation / %d test images, augment %s; %s\n",
            tr->train_count, tr->val_count, tr->test_count, tr->augment ? "on" : "off", device);
    fprintf(stderr, "sdtrain: survival %s, p_L = %g: E[L~] = %.2f of %d blocks\n", opt->survival,
            opt->p_last, net_expected_active_blocks(net), net->n_blocks);
    if (tr->dist->size > 1)
        fprintf(stderr, "sdtrain: %d ranks x batch %d = global batch %d; BN statistics %s\n",
                tr->dist->size, opt->batch_size, tr->dist->size * opt->batch_size,
                opt->sync_bn ? "over all ranks (--sync-bn)" : "per rank");
}

// A fresh run into a directory that holds one: refused (exit 2) without --force.
static int refuse_used_out(const TrainOptions *opt) {
    char found[128];
    if (opt->force || run_dir_find_run(opt->out_dir, found, sizeof found) == 0) return 0;
    fprintf(stderr,
            "sdtrain: %s already holds a run (%s): continue it with --resume %s, or start "
            "over with --force (removes its log.csv, last.ckpt and best.ckpt)\n",
            opt->out_dir, found, opt->out_dir);
    return 1;
}

// Makes the directory, applies --force, removes what killed writers left, and
// prepares log.csv (cut back to the checkpoint's epoch on resume).
static int prepare_out(Trainer *tr, char *err, size_t err_len) {
    const char *out = tr->opt.out_dir;
    if (run_dir_make(out, err, err_len) != 0) return -1;
    if (tr->opt.force && run_dir_clear(out, err, err_len) != 0) return -1;
    int stale = run_dir_remove_stale_temps(out);
    if (stale) fprintf(stderr, "sdtrain: removed %d temporary file(s) an interrupted run left "
                               "in %s\n", stale, out);
    run_log_init(&tr->log, out);
    if (!tr->opt.resume_dir[0]) return 0;
    int missing = 0;
    if (run_log_resume(&tr->log, tr->epochs_done, &missing, err, err_len) != 0) return -1;
    if (missing)
        fprintf(stderr, "sdtrain: %s has no row for %d of the epochs 1..%d (removed or edited); "
                        "they are not recreated\n", tr->log.path, missing, tr->epochs_done);
    return 0;
}

// Sets the run up and trains it; returns main's exit status.
static int run(TrainOptions *opt_in, Dist *dist, int argc, char **argv);

int main(int argc, char **argv) {
    Dist dist;
    char err[256];
    if (dist_init(&dist, &argc, &argv, 600, err, sizeof err) != 0) {
        fprintf(stderr, "sdtrain: %s\n", err);
        return 1;
    }
    TrainOptions opt;
    options_defaults(&opt);
    int parsed = options_parse(&opt, argc, argv);
    int status = parsed == 1 ? 0 : parsed != 0 ? 2 : -1;
    if (status < 0 && opt.bench_steps > 0) status = bench_steps(&opt);
    if (status < 0) {
        dist.timeout_s = opt.dist_timeout;
        status = run(&opt, &dist, argc, argv);
    }
    // A rank that failed alone would leave the others waiting in their next exchange:
    // end them all now (its message is printed).
    if (status != 0 && dist.size > 1) dist_abort(&dist);
    dist_finalize(&dist);
    return status;
}

static int run(TrainOptions *opt_in, Dist *dist, int argc, char **argv) {
    TrainOptions opt = *opt_in;
    if (!opt.resume_dir[0]) {
        if (!opt.out_dir[0])
            snprintf(opt.out_dir, sizeof opt.out_dir, "runs/%s-%s-%s", opt.dataset, opt.model,
                     opt.survival);
        if (refuse_used_out(&opt)) return 2;
    }
    Trainer *tr = calloc(1, sizeof *tr);
    if (!tr) {
        fprintf(stderr, "sdtrain: out of memory\n");
        return 1;
    }
    tr->opt = opt;
    tr->dist = dist;
    char err[1536] = "";
    int rc = tr->opt.resume_dir[0] ? trainer_resume(tr, argc, argv, err, sizeof err)
                                   : trainer_setup(tr, err, sizeof err);
    if (rc == 0 && dist->rank == 0) rc = prepare_out(tr, err, sizeof err);  // rank 0 writes
    if (rc == 0) {
        progress_init(&tr->progress, tr->opt.epochs);
        if (dist->rank == 0) print_setup(tr);
        if (tr->epochs_done > 0 && dist->rank == 0)
            fprintf(stderr, "sdtrain: resuming %s after epoch %d\n", tr->opt.out_dir,
                    tr->epochs_done);
        rc = trainer_run(tr, err, sizeof err);
    }
    if (rc != 0 && dist->size > 1) fprintf(stderr, "sdtrain: rank %d: %s\n", dist->rank, err);
    else if (rc != 0) fprintf(stderr, "sdtrain: %s\n", err);
    trainer_free(tr);
    free(tr);
    return rc == 0 ? 0 : 1;
}
