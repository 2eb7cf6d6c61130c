// What a run tells its user on stderr: a live bar on a terminal (one line per
// epoch otherwise). The epoch's row in OUT/log.csv is train/run_log.h's.
#ifndef SD_PROGRESS_H
#define SD_PROGRESS_H

#include <stdio.h>

typedef struct {
    int is_terminal;
    double last_draw;        // seconds: the bar is redrawn at most 10 times a second
    int epoch, epochs;
} Progress;

typedef struct {
    int epoch;               // 1-based
    double lr, loss, train_error, val_error, test_error;
    double images_per_second, mean_active_blocks, n_blocks;
    double epoch_seconds, wall_seconds, eta_seconds, grad_magnitude;
} EpochRow;

void progress_init(Progress *p, int epochs);
void progress_epoch_begin(Progress *p, int epoch);
void progress_batch(Progress *p, int done, int total, double mean_loss);
void progress_epoch_end(Progress *p, const EpochRow *row);
// "1h02m" / "3m05s" / "12.3s".
void format_duration(double seconds, char *buf, size_t len);

#endif
