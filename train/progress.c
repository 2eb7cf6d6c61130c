#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "timer.h"

void progress_init(Progress *p, int epochs) {
    memset(p, 0, sizeof *p);
    p->is_terminal = isatty(STDERR_FILENO);
    p->epochs = epochs;
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
