// Replays every committed fuzz input through its harness (fuzz/fuzz_NAME.c), built
// with gcc and without libFuzzer, so that `make test` and `make SAN=1 test` (ASan +
// UBSan) catch a regression of anything the fuzzers once found:
//   fuzz/corpus/NAME/        the seed corpus (valid files and a few broken ones)
//   fuzz/regressions/NAME/   inputs that once crashed or broke a promise; each
//                            FILE may have FILE.expect: "accept", or a phrase the
//                            refusal message must contain.
// Each input runs in a child process (a crash or a sanitizer report fails that
// input only, and the report names it) with a time limit.
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/image_decode.h"
#include "../fuzz/fuzz.h"
#include "harness.h"
#include "test_files.h"

enum { SECONDS_PER_INPUT = 120, MIN_SEEDS = 3 };

static const struct {
    const char *name;
    FuzzHarness run;
} harnesses[] = {
    {"onnx", fuzz_onnx},       {"onnx_tensor", fuzz_onnx_tensor},
    {"checkpoint", fuzz_checkpoint}, {"preset", fuzz_preset},
    {"cifar", fuzz_cifar},     {"idx", fuzz_idx},
    {"svhn", fuzz_svhn},       {"svhn_v73", fuzz_svhn_v73},
    {"image", fuzz_image},
};

static int ends_with(const char *text, const char *suffix) {
    size_t n = strlen(text), m = strlen(suffix);
    return n >= m && strcmp(text + n - m, suffix) == 0;
}

// "accept", a phrase, or "" when path has no .expect file.
static void read_expectation(const char *path, char *expect, size_t len) {
    char expect_path[4200];
    snprintf(expect_path, sizeof expect_path, "%s.expect", path);
    size_t size = 0;
    unsigned char *text = read_whole(expect_path, &size);
    expect[0] = '\0';
    if (!text) return;
    while (size > 0 && (text[size - 1] == '\n' || text[size - 1] == '\r')) size--;
    snprintf(expect, len, "%.*s", (int)size, (const char *)text);
    free(text);
}

// The child: runs one input, exits 0 when it met its expectation.
static void run_child(FuzzHarness run, const char *path, const char *expect) {
    alarm(SECONDS_PER_INPUT);
    FuzzContext ctx;
    char err[2048] = "";
    if (fuzz_context_init(&ctx, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", path, err);
        exit(2);
    }
    size_t size = 0;
    unsigned char *data = read_whole(path, &size);
    if (!data) {
        fprintf(stderr, "%s: cannot read\n", path);
        exit(2);
    }
    int status = run(&ctx, data, size, err, sizeof err);
    free(data);
    fuzz_context_free(&ctx);
    int ok = 1;
    if (strcmp(expect, "accept") == 0 && status != 0) {
        fprintf(stderr, "%s: expected to be accepted, refused: %s\n", path, err);
        ok = 0;
    } else if (expect[0] && strcmp(expect, "accept") != 0 &&
               (status == 0 || strstr(err, expect) == NULL)) {
        fprintf(stderr, "%s: expected a refusal saying '%s', got %s: %s\n", path, expect,
                status == 0 ? "acceptance" : "refusal", err);
        ok = 0;
    }
    exit(ok ? 0 : 1);
}

// Runs every input of dir; returns how many there were.
static int replay_dir(TestContext *t, const char *harness, FuzzHarness run, const char *dir) {
    DIR *listing = opendir(dir);
    if (!listing) return 0;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(listing)) != NULL) {
        if (entry->d_name[0] == '.' || ends_with(entry->d_name, ".expect") ||
            strcmp(entry->d_name, "README.md") == 0)
            continue;
        char path[4096], expect[256];
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        read_expectation(path, expect, sizeof expect);
        fflush(NULL);
        pid_t child = fork();
        if (child == 0) run_child(run, path, expect);
        int status = 0;
        if (child < 0 || waitpid(child, &status, 0) != child) status = -1;
        int passed = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        CHECK(t, passed, "%s: %s %s", harness, path,
              status == -1            ? "could not run"
              : WIFSIGNALED(status)   ? (WTERMSIG(status) == SIGALRM ? "timed out" : "crashed")
                                      : "failed (see above)");
        count++;
    }
    closedir(listing);
    return count;
}

int main(void) {
    TestContext t = {"test_fuzz_replay", 0, 0, 0};
    for (size_t h = 0; h < sizeof harnesses / sizeof *harnesses; h++) {
        if (strcmp(harnesses[h].name, "image") == 0 && !image_support_built()) {
            printf("image: not replayed (built with IMAGES=0: no image decoding)\n");
            continue;
        }
        char dir[512];
        snprintf(dir, sizeof dir, "fuzz/corpus/%s", harnesses[h].name);
        int seeds = replay_dir(&t, harnesses[h].name, harnesses[h].run, dir);
        CHECK(&t, seeds >= MIN_SEEDS, "%s: %d seed inputs in %s (run from the repository root)",
              harnesses[h].name, seeds, dir);
        snprintf(dir, sizeof dir, "fuzz/regressions/%s", harnesses[h].name);
        int regressions = replay_dir(&t, harnesses[h].name, harnesses[h].run, dir);
        printf("%-12s %4d seeds, %3d regression inputs replayed\n", harnesses[h].name, seeds,
               regressions);
    }
    return test_finish(&t);
}
