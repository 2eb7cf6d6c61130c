#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "timer.h"

void progress_init(Progress *p, const char *out_dir, int epochs) {
    memset(p, 0, sizeof *p);
    p->is_terminal = isatty(STDERR_FILENO);
    p->epochs = epochs;
    snprintf(p->log_path, sizeof p->log_path, "%s/log.csv", out_dir);
}

void progress_epoch_begin(Progress *p, int epoch) {
    p->epoch = epoch;
    p->last_draw = 0;
}

void progress_batch(Progress *p, int done, int total, double mean_loss) {
    if (!p->is_terminal) return;
    double now = timer_seconds();
    if (done != total && now - p->last_draw < 0.1) return;
    p->last_draw = now;
    int width = 30, filled = total ? done * width / total : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\repoch %d/%d [%s] %d/%d loss %.4f", p->epoch, p->epochs, bar, done, total,
            mean_loss);
    fflush(stderr);
}

void format_duration(double seconds, char *buf, size_t len) {
    if (seconds < 60) snprintf(buf, len, "%.1fs", seconds);
    else if (seconds < 3600) snprintf(buf, len, "%dm%02ds", (int)seconds / 60, (int)seconds % 60);
    else snprintf(buf, len, "%dh%02dm", (int)(seconds / 3600), ((int)seconds % 3600) / 60);
}

void progress_epoch_end(Progress *p, const EpochRow *row) {
    char took[32], eta[32];
    format_duration(row->epoch_seconds, took, sizeof took);
    format_duration(row->eta_seconds, eta, sizeof eta);
    if (p->is_terminal) fprintf(stderr, "\r\033[K");
    fprintf(stderr,
            "epoch %d/%d  lr %.4g  loss %.4f  train %.2f%%  val %.2f%%  test %.2f%%  "
            "%.0f img/s  active %.1f/%.0f  %s  ETA %s\n",
            row->epoch, p->epochs, row->lr, row->loss, 100 * row->train_error,
            100 * row->val_error, 100 * row->test_error, row->images_per_second,
            row->mean_active_blocks, row->n_blocks, took, eta);
}

int progress_log_row(const Progress *p, const EpochRow *row, char *err, size_t err_len) {
    FILE *probe = fopen(p->log_path, "r");
    int is_new = probe == NULL;
    if (probe) fclose(probe);
    FILE *f = fopen(p->log_path, "a");
    if (!f) {
        snprintf(err, err_len, "%s: cannot open the log for appending", p->log_path);
        return -1;
    }
    if (is_new)
        fprintf(f, "epoch,lr,loss,train_error,val_error,test_error,images_per_s,active_blocks,"
                   "epoch_seconds,wall_seconds,grad_magnitude\n");
    fprintf(f, "%d,%.6g,%.6f,%.6f,%.6f,%.6f,%.2f,%.3f,%.3f,%.3f,%.6g\n", row->epoch, row->lr,
            row->loss, row->train_error, row->val_error, row->test_error, row->images_per_second,
            row->mean_active_blocks, row->epoch_seconds, row->wall_seconds, row->grad_magnitude);
    int failed = ferror(f);
    if (fclose(f) != 0 || failed) {
        snprintf(err, err_len, "%s: write failed", p->log_path);
        return -1;
    }
    return 0;
}
