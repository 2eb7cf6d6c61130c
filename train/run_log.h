// OUT/log.csv: a header and exactly one row per completed epoch, nothing else.
//
// The file is never appended to: every change (a new epoch's row, the cut back
// when a run resumes) rewrites it whole through an atomic replacement
// (common/atomic_file.h), so a crash leaves the previous or the new file, never
// a torn row. The trainer writes an epoch's row BEFORE that epoch's checkpoints,
// so the log is never behind last.ckpt; on resume the rows after the
// checkpoint's epoch (written by the session that died before its checkpoint)
// are dropped and the resumed epochs write them again.
#ifndef SD_RUN_LOG_H
#define SD_RUN_LOG_H

#include <stddef.h>

#include "progress.h"

// The column names, in order; the first line of every log.
#define RUN_LOG_HEADER                                                                    \
    "epoch,lr,loss,train_error,val_error,test_error,images_per_s,active_blocks,"          \
    "epoch_seconds,wall_seconds,grad_magnitude"

// A log this size is not one sdtrain wrote (about 100 bytes per epoch).
#define RUN_LOG_MAX_BYTES (64u << 20)

typedef struct {
    char path[1100];
    char **rows;      // rows[e - 1]: epoch e's line with its '\n', or NULL when absent
    int n_epochs;     // rows holds epochs 1..n_epochs
    int capacity;
} RunLog;

void run_log_init(RunLog *log, const char *out_dir);
void run_log_free(RunLog *log);

// For a run resumed after `epochs_done` epochs: reads OUT/log.csv if there is one,
// keeps one row for each epoch 1..epochs_done (the last complete one written for
// it), drops the rest (rows of later epochs, a torn last line, lines that are not
// rows) and writes the result. *missing gets how many of the epochs 1..epochs_done
// have no row (a log someone removed or edited). Returns 0, or -1 with a message
// (unreadable file, a first line that is not RUN_LOG_HEADER, write failure).
int run_log_resume(RunLog *log, int epochs_done, int *missing, char *err, size_t err_len);

// Records row->epoch's row (forgetting any rows after it) and rewrites the file.
// Returns 0, or -1 with a message naming the file; the file is then unchanged.
int run_log_write_row(RunLog *log, const EpochRow *row, char *err, size_t err_len);

#endif
