// The v7.3 reader process (common/mat73_reader.h) kept across files, as the svhn_v73
// fuzz harness keeps it: every file must come out exactly as when it is read with a
// reader of its own (the programs' way: mat_open), a crash must end only the reader
// (the next file gets a new one), and max_requests must replace it. The files and
// what each must give (FILE.expect: "accept" or a phrase of the refusal) are the
// committed fuzz seeds and the libhdf5 over-read regression input.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_loaders.h"
#include "harness.h"
#include "mat73_reader.h"
#include "test_files.h"

enum { ERR_LEN = 1024 };

static const char *const GOOD = "fuzz/corpus/svhn_v73/h5py_v73_2.mat";
static const char *const NO_Y = "fuzz/corpus/svhn_v73/h5py_v73_no_y.mat";
static const char *const X_DOUBLE = "fuzz/corpus/svhn_v73/h5py_v73_x_double.mat";
static const char *const CRASH = "fuzz/regressions/svhn_v73/hdf5_compact_overread.mat";

// FILE.expect without its trailing newline ("" when missing).
static void read_expect(const char *path, char *expect, size_t len) {
    char expect_path[512];
    snprintf(expect_path, sizeof expect_path, "%s.expect", path);
    size_t size = 0;
    unsigned char *text = read_whole(expect_path, &size);
    while (size > 0 && (text[size - 1] == '\n' || text[size - 1] == '\r')) size--;
    snprintf(expect, len, "%.*s", text ? (int)size : 0, text ? (const char *)text : "");
    free(text);
}

typedef struct {
    int status;
    char err[ERR_LEN];
    Dataset ds;
} Outcome;

static void load(const char *path, Mat73Reader *reader, Outcome *out) {
    memset(out, 0, sizeof *out);
    out->status = svhn_load_file(path, reader, &out->ds, out->err, sizeof out->err);
}

// The file through `reader` must meet its .expect and equal the file read alone.
static void check_file(TestContext *t, const char *path, Mat73Reader *reader) {
    char expect[256];
    read_expect(path, expect, sizeof expect);
    CHECK(t, expect[0] != '\0', "%s.expect is missing", path);
    Outcome shared, alone;
    load(path, reader, &shared);
    load(path, NULL, &alone);
    if (strcmp(expect, "accept") == 0) {
        CHECK(t, shared.status == 0, "%s: refused through a kept reader: %s", path, shared.err);
    } else {
        CHECK(t, shared.status == -1 && strstr(shared.err, expect) && strstr(shared.err, path),
              "%s: got %d '%s', want -1 naming the file and saying '%s'", path, shared.status,
              shared.err, expect);
        CHECK(t, shared.ds.pixels == NULL && shared.ds.labels == NULL, "%s: refusal left data",
              path);
    }
    CHECK(t, shared.status == alone.status && strcmp(shared.err, alone.err) == 0,
          "%s: kept reader %d '%s', own reader %d '%s'", path, shared.status, shared.err,
          alone.status, alone.err);
    if (shared.status == 0 && alone.status == 0) {
        size_t pixels = (size_t)alone.ds.count * 3072;
        CHECK(t, shared.ds.count == alone.ds.count &&
                     memcmp(shared.ds.pixels, alone.ds.pixels, pixels) == 0 &&
                     memcmp(shared.ds.labels, alone.ds.labels,
                            (size_t)alone.ds.count * sizeof *alone.ds.labels) == 0,
              "%s: %d images through the kept reader, %d alone, or different values", path,
              shared.ds.count, alone.ds.count);
    }
    if (shared.status == 0) dataset_free(&shared.ds);
    if (alone.status == 0) dataset_free(&alone.ds);
}

// One reader for a run of files, a crash in the middle.
static void check_kept_reader(TestContext *t) {
    Mat73Reader *reader = mat73_reader_create(0);
    CHECK(t, reader && mat73_reader_pid(reader) == 0, "a new reader has no process yet");
    if (!reader) return;
    check_file(t, GOOD, reader);
    pid_t first = mat73_reader_pid(reader);
    check_file(t, NO_Y, reader);
    check_file(t, X_DOUBLE, reader);
    CHECK(t, first > 0 && mat73_reader_pid(reader) == first,
          "one process for three files (pid %d, then %d)", (int)first,
          (int)mat73_reader_pid(reader));
    check_file(t, CRASH, reader);
    CHECK(t, mat73_reader_pid(reader) == 0 && kill(first, 0) == -1 && errno == ESRCH,
          "the crashed reader %d is gone (and reaped)", (int)first);
    check_file(t, GOOD, reader);
    pid_t second = mat73_reader_pid(reader);
    CHECK(t, second > 0 && second != first, "a new reader after the crash (pid %d, was %d)",
          (int)second, (int)first);
    mat73_reader_free(reader);
    CHECK(t, kill(second, 0) == -1 && errno == ESRCH, "freeing the reader ends process %d",
          (int)second);
}

// max_requests = 1: a new process for every request, same outcomes.
static void check_replaced_reader(TestContext *t) {
    Mat73Reader *reader = mat73_reader_create(1);
    CHECK(t, reader != NULL, "reader");
    if (!reader) return;
    check_file(t, GOOD, reader);
    pid_t first = mat73_reader_pid(reader);
    check_file(t, GOOD, reader);
    pid_t second = mat73_reader_pid(reader);
    CHECK(t, first > 0 && second > 0 && second != first,
          "max_requests 1: a new process per request (pid %d, then %d)", (int)first,
          (int)second);
    CHECK(t, kill(first, 0) == -1 && errno == ESRCH, "the replaced reader %d is gone",
          (int)first);
    mat73_reader_free(reader);
}

int main(void) {
    TestContext t = {"test_mat73_reader", 0, 0};
    check_kept_reader(&t);
    check_replaced_reader(&t);
    return test_finish(&t);
}
