// sdtrain: train a residual network with stochastic depth.
//
// One training step, from here to the device: trainer_train_epoch (trainer.c)
// draws the gates, net_forward / net_backward (common/net_forward.c,
// common/net_backward.c) walk the blocks and skip the closed ones, and every op
// goes through the Backend table (kernels/backend.h) to kernels/cpu/ or
// kernels/cuda/.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"
#include "options.h"
#include "progress.h"
#include "timer.h"
#include "trainer.h"

static int make_dirs(const char *path, char *err, size_t err_len) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) break;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "%s: cannot create the output directory: %s", path,
                 strerror(errno));
        return -1;
    }
    return 0;
}

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
}

// Epoch bookkeeping: evaluation, the best-validation record, log and checkpoints.
static int finish_epoch(Trainer *tr, int epoch, const EpochStats *stats, double run_start,
                        char *err, size_t err_len) {
    const TrainOptions *opt = &tr->opt;
    double val_error = tr->val_count
                           ? trainer_evaluate(tr, &tr->train_set, tr->val_idx, tr->val_count)
                           : 0;
    double test_error = trainer_evaluate(tr, &tr->test_set, tr->test_idx, tr->test_count);
    tr->epochs_done = epoch + 1;
    // Without a validation set the last epoch counts as the best one.
    int improved = tr->val_count == 0 || val_error < tr->best_val_error;
    if (improved) {
        tr->best_val_error = val_error;
        tr->best_epoch = epoch + 1;
        tr->test_error_at_best = test_error;
    }
    double wall = tr->seconds_so_far + (timer_seconds() - run_start);
    double per_epoch = wall / (epoch + 1);  // wall covers every epoch so far, resumed ones too
    EpochRow row = {.epoch = epoch + 1, .lr = options_lr_at_epoch(opt, epoch),
                    .loss = stats->loss, .train_error = stats->train_error,
                    .val_error = val_error, .test_error = test_error,
                    .images_per_second = stats->images_per_second,
                    .mean_active_blocks = stats->mean_active_blocks,
                    .n_blocks = tr->net.n_blocks, .epoch_seconds = stats->train_seconds,
                    .wall_seconds = wall, .eta_seconds = per_epoch * (opt->epochs - epoch - 1),
                    .grad_magnitude = stats->grad_magnitude};
    progress_epoch_end(&tr->progress, &row);
    if (progress_log_row(&tr->progress, &row, err, err_len) != 0) return -1;
    char path[1100];
    if (improved) {
        snprintf(path, sizeof path, "%s/best.ckpt", opt->out_dir);
        if (trainer_save(tr, path, wall, err, err_len) != 0) return -1;
    }
    snprintf(path, sizeof path, "%s/last.ckpt", opt->out_dir);
    return trainer_save(tr, path, wall, err, err_len);
}

static int train(Trainer *tr, char *err, size_t err_len) {
    const TrainOptions *opt = &tr->opt;
    double run_start = timer_seconds();
    double train_seconds = 0;
    int first = tr->epochs_done;
    for (int epoch = first; epoch < opt->epochs; epoch++) {
        progress_epoch_begin(&tr->progress, epoch + 1);
        EpochStats stats;
        trainer_train_epoch(tr, epoch, &stats);
        train_seconds += stats.train_seconds;
        if (tr->be->last_error(tr->be, err, err_len) != 0) return -1;
        if (stats.diverged_at_step) {
            snprintf(err, err_len,
                     "the loss is not finite at step %d of epoch %d: training diverged (try a "
                     "lower --lr or a --warmup-epochs); the last good checkpoint is in %s",
                     stats.diverged_at_step, epoch + 1, opt->out_dir);
            return -1;
        }
        if (finish_epoch(tr, epoch, &stats, run_start, err, err_len) != 0) return -1;
    }
    double total = tr->seconds_so_far + (timer_seconds() - run_start);
    int ran = opt->epochs - first;
    char total_text[32];
    format_duration(total, total_text, sizeof total_text);
    printf("best validation error %.2f%% at epoch %d: test error %.2f%%\n",
           100 * tr->best_val_error, tr->best_epoch, 100 * tr->test_error_at_best);
    printf("total time %s; %.2f s per epoch of training (%d epochs this session)\n", total_text,
           ran ? train_seconds / ran : 0, ran);
    return 0;
}

int main(int argc, char **argv) {
    TrainOptions opt;
    options_defaults(&opt);
    int parsed = options_parse(&opt, argc, argv);
    if (parsed == 1) return 0;
    if (parsed != 0) return 2;
    if (opt.bench_steps > 0) return bench_steps(&opt);
    Trainer *tr = calloc(1, sizeof *tr);
    if (!tr) {
        fprintf(stderr, "sdtrain: out of memory\n");
        return 1;
    }
    tr->opt = opt;
    char err[1024] = "";
    int rc = 0;
    if (tr->opt.resume_dir[0]) {
        rc = trainer_resume(tr, argc, argv, err, sizeof err);
    } else {
        if (!tr->opt.out_dir[0])
            snprintf(tr->opt.out_dir, sizeof tr->opt.out_dir, "runs/%s-%s-%s", tr->opt.dataset,
                     tr->opt.model, tr->opt.survival);
        rc = trainer_setup(tr, err, sizeof err);
    }
    if (rc == 0) rc = make_dirs(tr->opt.out_dir, err, sizeof err);
    if (rc == 0) {
        progress_init(&tr->progress, tr->opt.out_dir, tr->opt.epochs);
        print_setup(tr);
        if (tr->epochs_done > 0)
            fprintf(stderr, "sdtrain: resuming %s after epoch %d\n", tr->opt.out_dir,
                    tr->epochs_done);
        rc = train(tr, err, sizeof err);
    }
    if (rc != 0) fprintf(stderr, "sdtrain: %s\n", err);
    trainer_free(tr);
    free(tr);
    return rc == 0 ? 0 : 1;
}
