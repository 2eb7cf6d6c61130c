// log.csv (train/run_log.c): one row per epoch, cut back to the checkpoint's epoch
// on resume, rewritten whole; a file that is not sdtrain's log is refused.
#include <stdlib.h>
#include <string.h>

#include "../train/run_log.h"
#include "harness.h"
#include "test_files.h"

#define HEADER RUN_LOG_HEADER "\n"

// A row of epoch e whose loss column tells the copies of one epoch apart.
static void row_text(char *buf, size_t len, int epoch, const char *loss) {
    snprintf(buf, len, "%d,0.1,%s,0.5,0.5,0.5,100.00,1.000,0.010,0.500,0\n", epoch, loss);
}

static void write_log(const char *path, const char *text) { write_whole(path, text, strlen(text)); }

static void check_file(TestContext *t, const char *what, const char *path, const char *want) {
    size_t size;
    unsigned char *got = read_whole(path, &size);
    int same = got && size == strlen(want) && memcmp(got, want, size) == 0;
    CHECK(t, same, "%s: log.csv is\n%.*s\nwant\n%s", what, got ? (int)size : 0,
          got ? (const char *)got : "", want);
    free(got);
}

int main(void) {
    TestContext t = {"test_run_log", 0, 0, 0};
    char dir[] = "/tmp/test_run_log.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char path[256], err[1024], r1[128], r2a[128], r2b[128], r3[128], r4[128], r5[128];
    snprintf(path, sizeof path, "%s/log.csv", dir);
    row_text(r1, sizeof r1, 1, "2.1");
    row_text(r2a, sizeof r2a, 2, "2.0");
    row_text(r2b, sizeof r2b, 2, "1.9");  // epoch 2 again, written by a later session
    row_text(r3, sizeof r3, 3, "1.8");
    row_text(r4, sizeof r4, 4, "1.7");
    row_text(r5, sizeof r5, 5, "1.6");
    RunLog log;
    int missing = -1;

    // No log yet: a resume after 0 epochs writes the header alone.
    run_log_init(&log, dir);
    CHECK(&t, run_log_resume(&log, 0, &missing, err, sizeof err) == 0, "no file: %s", err);
    CHECK(&t, missing == 0, "no file: %d missing", missing);
    check_file(&t, "no file", path, HEADER);
    run_log_free(&log);

    // A crash-scarred log: a duplicate epoch, rows after the checkpoint's epoch,
    // a line that is not a row, a row of the wrong width and a torn last line.
    char text[2048];
    snprintf(text, sizeof text, HEADER "%s%s%s%s%s%s%s%s%.20s", r1, r2a, r2b, r3,
             "epoch,oops\n", "3,0.1,1.8\n", "0,0.1,1,1,1,1,1,1,1,1,1\n", r4, r5);
    write_log(path, text);
    run_log_init(&log, dir);
    CHECK(&t, run_log_resume(&log, 3, &missing, err, sizeof err) == 0, "cut back: %s", err);
    CHECK(&t, missing == 0, "cut back: %d missing", missing);
    snprintf(text, sizeof text, HEADER "%s%s%s", r1, r2b, r3);
    check_file(&t, "cut back to epoch 3 (last copy of epoch 2 kept)", path, text);

    // The resumed run writes epoch 4, then a rewind writes epoch 2 again: the
    // rows after it are forgotten, never duplicated.
    EpochRow row = {.epoch = 4, .lr = 0.1, .loss = 1.5};
    CHECK(&t, run_log_write_row(&log, &row, err, sizeof err) == 0, "epoch 4: %s", err);
    size_t size;
    unsigned char *got = read_whole(path, &size);
    CHECK(&t, got && size > strlen(text) && memcmp(got, text, strlen(text)) == 0 &&
                  strncmp((char *)got + strlen(text), "4,0.1,1.500000,", 15) == 0,
          "epoch 4 appended after the three kept rows");
    free(got);
    row.epoch = 2;
    CHECK(&t, run_log_write_row(&log, &row, err, sizeof err) == 0, "epoch 2 again: %s", err);
    got = read_whole(path, &size);
    int lines = 0;
    for (size_t i = 0; got && i < size; i++) lines += got[i] == '\n';
    CHECK(&t, lines == 3 && got && strncmp((char *)got + strlen(HEADER) + strlen(r1),
                                          "2,0.1,1.500000,", 15) == 0,
          "a rewritten epoch 2 drops epochs 3 and 4 (%d lines)", lines);
    free(got);
    run_log_free(&log);

    // Rows missing for epochs the checkpoint holds are counted, not invented.
    snprintf(text, sizeof text, HEADER "%s%s", r1, r3);
    write_log(path, text);
    run_log_init(&log, dir);
    CHECK(&t, run_log_resume(&log, 5, &missing, err, sizeof err) == 0, "missing rows: %s", err);
    CHECK(&t, missing == 3, "epochs 2, 4 and 5 have no row: %d counted", missing);
    check_file(&t, "missing rows", path, text);
    run_log_free(&log);

    // Not sdtrain's log: refused with a message naming it, the file untouched.
    const char *foreign = "step,loss\n1,2.0\n";
    write_log(path, foreign);
    run_log_init(&log, dir);
    err[0] = '\0';
    CHECK(&t, run_log_resume(&log, 1, &missing, err, sizeof err) == -1, "foreign header accepted");
    CHECK(&t, strstr(err, path) && strstr(err, "not sdtrain's log header"),
          "foreign header message: %s", err);
    check_file(&t, "foreign log untouched", path, foreign);
    run_log_free(&log);

    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0) fprintf(stderr, "test_run_log: cannot remove %s\n", dir);
    return test_finish(&t);
}
