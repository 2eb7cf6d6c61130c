// The epoch loop: train an epoch, evaluate, then record it in this order:
//   1. trainer_check_state: a backend error or a non-finite value stops the run
//      here, before anything of the epoch is written;
//   2. its log.csv row (the log is never behind last.ckpt; a resume cuts it back);
//   3. best.ckpt when the validation error improved, BEFORE last.ckpt: a crash
//      between the two resumes from the previous last.ckpt and writes the same
//      best.ckpt again (training is bit-reproducible), whereas the other order
//      could leave a last.ckpt whose best-epoch record names a best.ckpt that was
//      never written;
//   4. last.ckpt.
// Every write is an atomic replacement, so a crash at any moment leaves a run
// that --resume continues bit for bit. In a data-parallel run every rank runs
// this loop (the evaluation is shared) and rank 0 alone writes the log and the
// checkpoints.
#include <stdio.h>

#include "timer.h"
#include "trainer.h"

static void describe_last_checkpoint(const Trainer *tr, int epoch, char *text, size_t len) {
    if (epoch == 0) snprintf(text, len, "no checkpoint has been written yet");
    else snprintf(text, len, "%s/last.ckpt still holds epoch %d", tr->opt.out_dir, epoch);
}

// Evaluation, the best-validation record, log row and checkpoints of one epoch.
static int finish_epoch(Trainer *tr, int epoch, const EpochStats *stats, double run_start,
                        char *err, size_t err_len) {
    const TrainOptions *opt = &tr->opt;
    double val_error = tr->val_count
                           ? trainer_evaluate(tr, &tr->train_set, tr->val_idx, tr->val_count)
                           : 0;
    double test_error = trainer_evaluate(tr, &tr->test_set, tr->test_idx, tr->test_count);
    char unsound[800];
    if (trainer_check_state(tr, unsound, sizeof unsound) != 0) {
        char kept[1200];
        describe_last_checkpoint(tr, epoch, kept, sizeof kept);
        snprintf(err, err_len, "epoch %d: %s; nothing of this epoch was written (%s)", epoch + 1,
                 unsound, kept);
        return -1;
    }
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
    if (tr->dist->rank != 0) return 0;
    progress_epoch_end(&tr->progress, &row);
    if (run_log_write_row(&tr->log, &row, err, err_len) != 0) return -1;
    char path[1100];
    if (improved) {
        snprintf(path, sizeof path, "%s/best.ckpt", opt->out_dir);
        if (trainer_save(tr, path, wall, err, err_len) != 0) return -1;
    }
    snprintf(path, sizeof path, "%s/last.ckpt", opt->out_dir);
    return trainer_save(tr, path, wall, err, err_len);
}

// Bytes of gradient this rank gave to the all-reduce per step, against constant depth.
static void report_exchange(Trainer *tr, int epoch) {
    GradSync *gs = &tr->grad_sync;
    if (tr->dist->size == 1 || tr->dist->rank != 0 || gs->steps == 0) return;
    double per_step = (double)gs->elements_sent * sizeof(real) / (double)gs->steps;
    double all = (double)gs->all_elements * sizeof(real);
    fprintf(stderr, "sdtrain: epoch %d: gradient all-reduce %.0f bytes/step on average over %lld "
            "steps (every block open: %.0f bytes/step, %.1f%%); %lld sums started during "
            "backward\n", epoch + 1, per_step, gs->steps, all, 100 * per_step / all,
            gs->early_sums);
    gs->steps = gs->elements_sent = gs->early_sums = 0;
}

int trainer_run(Trainer *tr, char *err, size_t err_len) {
    const TrainOptions *opt = &tr->opt;
    double run_start = timer_seconds();
    double train_seconds = 0;
    int first = tr->epochs_done;
    for (int epoch = first; epoch < opt->epochs; epoch++) {
        progress_epoch_begin(&tr->progress, epoch + 1);
        EpochStats stats;
        trainer_train_epoch(tr, epoch, &stats);
        train_seconds += stats.train_seconds;
        char inner[800], kept[1200];
        describe_last_checkpoint(tr, epoch, kept, sizeof kept);
        if (tr->be->last_error(tr->be, inner, sizeof inner) != 0) {
            snprintf(err, err_len, "epoch %d: the %s backend reported an error: %s (%s)",
                     epoch + 1, tr->be->name, inner, kept);
            return -1;
        }
        if (stats.diverged_at_step) {
            snprintf(err, err_len,
                     "the loss is not finite at step %d of epoch %d: training diverged (try a "
                     "lower --lr or a --warmup-epochs); %s",
                     stats.diverged_at_step, epoch + 1, kept);
            return -1;
        }
        if (stats.gates_differ_at_step) {
            snprintf(err, err_len, "rank %d: the ranks drew different gates by step %lld "
                     "(checked every %d steps): they no longer train the same network; %s",
                     tr->dist->rank, stats.gates_differ_at_step, opt->dist_check_every, kept);
            return -1;
        }
        if (trainer_dist_end_epoch(tr, inner, sizeof inner) != 0) {
            snprintf(err, err_len, "epoch %d: %s; %s", epoch + 1, inner, kept);
            return -1;
        }
        report_exchange(tr, epoch);
        if (finish_epoch(tr, epoch, &stats, run_start, err, err_len) != 0) return -1;
    }
    if (tr->dist->rank != 0) return 0;
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
