// A tiny test harness: CHECK-style assertions that count, never abort, and a
// closing line "N passed, N failed" per test program (tests/run.sh sums them;
// a program whose whole subject is unavailable says so with test_skip_all).
#ifndef SD_TEST_HARNESS_H
#define SD_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>

typedef struct {
    const char *suite;
    int passed, failed;
    int skipped;  // checks this platform cannot make (test_skip_check), in the closing line
} TestContext;

static inline void test_record(TestContext *t, int ok, const char *file, int line,
                               const char *what) {
    if (ok) {
        t->passed++;
    } else {
        t->failed++;
        fprintf(stderr, "FAIL %s:%d [%s] %s\n", file, line, t->suite, what);
    }
}

// CHECK(t, condition, "printf-style message", ...): the message says what went wrong.
#define CHECK(t, cond, ...)                                                  \
    do {                                                                     \
        char check_msg_[512];                                                \
        snprintf(check_msg_, sizeof check_msg_, __VA_ARGS__);                \
        test_record((t), (cond) ? 1 : 0, __FILE__, __LINE__, check_msg_);    \
    } while (0)

// |got - want| <= atol + rtol * |want|, and never NaN.
#define CHECK_CLOSE(t, got, want, rtol, atol, what)                                          \
    do {                                                                                     \
        double g_ = (double)(got), w_ = (double)(want);                                      \
        CHECK((t), !isnan(g_) && fabs(g_ - w_) <= (atol) + (rtol) * fabs(w_),                \
              "%s: got %.10g want %.10g", (what), g_, w_);                                   \
    } while (0)

// One check this platform cannot make: says why, and the closing line counts it.
static inline void test_skip_check(TestContext *t, const char *what) {
    t->skipped++;
    printf("%s: SKIP %s\n", t->suite, what);
}

static inline int test_finish(TestContext *t) {
    if (t->skipped)
        printf("%s: %d passed, %d failed, %d skipped\n", t->suite, t->passed, t->failed,
               t->skipped);
    else
        printf("%s: %d passed, %d failed\n", t->suite, t->passed, t->failed);
    return t->failed == 0 && t->passed > 0 ? 0 : 1;
}

// For a program that cannot run at all here (no GPU, not built in): prints
// "SUITE: SKIP (reason)" (the line bench/gpu_run.sh looks for) and the counted form
// "SUITE: 0 passed, 0 failed, 1 skipped" that tests/run.sh adds to its closing
// line. Returns main's exit status (0).
static inline int test_skip_all(const char *suite, const char *reason) {
    printf("%s: SKIP (%s)\n", suite, reason);
    printf("%s: 0 passed, 0 failed, 1 skipped\n", suite);
    return 0;
}

#endif
