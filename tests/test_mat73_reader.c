// The v7.3 reader process (common/mat73_reader.h) kept across files, as the svhn_v73
// fuzz harness keeps it: every file must come out exactly as when it is read with a
// reader of its own (the programs' way: mat_open), a crash must end only the reader
// (the next file gets a new one), max_requests must replace it, and the reader's
// address space is bounded while it serves. The files and what each must give
// (FILE.expect: "accept" or a phrase of the refusal) are the committed fuzz seeds
// and regression inputs.
#include <errno.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data_loaders.h"
#include "harness.h"
#include "mat73_reader.h"
#include "test_files.h"

enum { ERR_LEN = 1024 };

static const char *const GOOD = "fuzz/corpus/svhn_v73/h5py_v73_2.mat";
static const char *const NO_Y = "fuzz/corpus/svhn_v73/h5py_v73_no_y.mat";
static const char *const X_DOUBLE = "fuzz/corpus/svhn_v73/h5py_v73_x_double.mat";
// Once crashed libhdf5 (a compact dataset's over-read): now refused before libhdf5
// reads it, by its datatype's size.
static const char *const BAD_TYPE = "fuzz/regressions/svhn_v73/hdf5_compact_overread.mat";
// Made libhdf5 allocate 4 GiB for a chunk (its stored size from the file).
static const char *const HUGE_CHUNK = "fuzz/regressions/svhn_v73/hdf5_chunk_4gib.mat";

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

// The soft RLIMIT_AS of process pid and its mapped bytes now (/proc); 0 when unknown,
// UINT64_MAX for "unlimited".
static void address_space_of(pid_t pid, uint64_t *limit, uint64_t *mapped) {
    *limit = *mapped = 0;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/limits", (int)pid);
    FILE *limits = fopen(path, "r");
    while (limits && fgets(line, sizeof line, limits)) {
        char soft[64];
        if (sscanf(line, "Max address space %63s", soft) == 1)
            *limit = strcmp(soft, "unlimited") == 0 ? UINT64_MAX : strtoull(soft, NULL, 10);
    }
    if (limits) fclose(limits);
    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    FILE *statm = fopen(path, "r");
    unsigned long pages = 0;
    if (statm && fscanf(statm, "%lu", &pages) == 1)
        *mapped = (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
    if (statm) fclose(statm);
}

// Whether this platform applies RLIMIT_AS: qemu-user (the aarch64 CI step) accepts
// the call and ignores it, as it must for its own mappings. Tried in a child.
static int address_limits_apply(void) {
    pid_t child = fork();
    if (child == 0) {
        struct rlimit limit;
        if (getrlimit(RLIMIT_AS, &limit) != 0) _exit(1);
        limit.rlim_cur = (rlim_t)64 << 30;
        if (limit.rlim_max != RLIM_INFINITY && limit.rlim_cur > limit.rlim_max)
            limit.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_AS, &limit) != 0) _exit(1);
        uint64_t seen = 0, mapped = 0;
        address_space_of(getpid(), &seen, &mapped);
        _exit(seen == (uint64_t)limit.rlim_cur ? 0 : 1);
    }
    int status = 0;
    return child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0;
}

// After reading GOOD (2 images: 6144 bytes of X, the largest request) the reader's
// limit is what it maps plus about 512 MiB: not unlimited (which would let a damaged
// file's sizes take the machine's memory), not below what it maps.
static void check_address_space(TestContext *t, Mat73Reader *reader) {
    if (!address_limits_apply()) {
        test_skip_check(t, "the reader's address-space limit: this platform ignores RLIMIT_AS "
                           "(qemu-user)");
        return;
    }
    pid_t pid = mat73_reader_pid(reader);
    uint64_t limit = 0, mapped = 0;
    address_space_of(pid, &limit, &mapped);
    const uint64_t headroom = 512ull << 20, slack = 64ull << 20;
    CHECK(t, mapped > 0 && limit != UINT64_MAX && limit >= mapped &&
                 limit <= mapped + headroom + 2 * 6144 + slack,
          "reader %d: address-space limit %llu bytes for %llu mapped (want mapped + 512 MiB)",
          (int)pid, (unsigned long long)limit, (unsigned long long)mapped);
}

// Waits until process pid (our child, reaped only by the reader code) has died.
static int wait_dead(pid_t pid) {
    char path[64], stat_line[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    for (int tries = 0; tries < 5000; tries++) {
        FILE *stat = fopen(path, "r");
        char *line = stat ? fgets(stat_line, sizeof stat_line, stat) : NULL;
        if (stat) fclose(stat);
        const char *state = line ? strrchr(line, ')') : NULL;
        if (!state || state[2] == 'Z') return 0;
        usleep(1000);
    }
    return -1;
}

// One reader for a run of files; it dies in the middle (as a crash in libhdf5
// would end it): that request is refused with the signal, the next gets a new one.
static void check_kept_reader(TestContext *t) {
    Mat73Reader *reader = mat73_reader_create(0);
    CHECK(t, reader && mat73_reader_pid(reader) == 0, "a new reader has no process yet");
    if (!reader) return;
    check_file(t, GOOD, reader);
    pid_t first = mat73_reader_pid(reader);
    check_address_space(t, reader);
    check_file(t, NO_Y, reader);
    check_file(t, X_DOUBLE, reader);
    check_file(t, BAD_TYPE, reader);
    check_file(t, HUGE_CHUNK, reader);
    CHECK(t, first > 0 && mat73_reader_pid(reader) == first,
          "one process for five files (pid %d, then %d)", (int)first,
          (int)mat73_reader_pid(reader));
    CHECK(t, kill(first, SIGKILL) == 0 && wait_dead(first) == 0, "reader %d killed",
          (int)first);
    Outcome killed;
    load(GOOD, reader, &killed);
    CHECK(t, killed.status == -1 && strstr(killed.err, "libmatio/libhdf5 crashed reading") &&
                 strstr(killed.err, "(signal 9)") && strstr(killed.err, GOOD),
          "a request to the killed reader: got %d '%s'", killed.status, killed.err);
    if (killed.status == 0) dataset_free(&killed.ds);
    CHECK(t, mat73_reader_pid(reader) == 0 && kill(first, 0) == -1 && errno == ESRCH,
          "the killed reader %d is gone (and reaped)", (int)first);
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
    TestContext t = {"test_mat73_reader", 0, 0, 0};
    check_kept_reader(&t);
    check_replaced_reader(&t);
    return test_finish(&t);
}
