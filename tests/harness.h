// A tiny test harness: CHECK-style assertions that count, never abort, and a
// closing line "N passed, N failed" per test program (tests/run.sh sums them).
#ifndef SD_TEST_HARNESS_H
#define SD_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>

typedef struct {
    const char *suite;
    int passed, failed;
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

static inline int test_finish(TestContext *t) {
    printf("%s: %d passed, %d failed\n", t->suite, t->passed, t->failed);
    return t->failed == 0 && t->passed > 0 ? 0 : 1;
}

#endif
