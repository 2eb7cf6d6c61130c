// kernels/cpu/thread_balance.c: the threads' shares of a split image.
//   - for any speeds, thread counts and item counts, the ranges are in order and cover
//     every item once (0 <= begin <= end, each begin the last end, the last end = items);
//   - each range is the item count times the thread's share of the speeds, within one
//     item of rounding;
//   - a region of another thread count than the balance was made for gets equal shares;
//   - the speeds move toward the recorded rates (a thread three times as fast as the other
//     ends up with three quarters of the items), one rate counts at most twice or half
//     the mean, and a region where some thread recorded nothing changes nothing.
#include <stdio.h>
#include <stdlib.h>

#include "cpu/thread_balance.h"
#include "harness.h"
#include "rng.h"

#define MAX_THREADS 9

static void check_ranges(TestContext *t, const ThreadBalance *b, int threads, int items) {
    double total = 0;
    for (int i = 0; i < b->threads; i++) total += b->speed[i];
    int expected_begin = 0, ok = 1, near = 1;
    for (int thread = 0; thread < threads; thread++) {
        int begin, end;
        thread_balance_range(b, thread, threads, items, &begin, &end);
        ok &= begin == expected_begin && begin <= end && end <= items;
        if (threads == b->threads) {
            const double share = items * b->speed[thread] / total;
            near &= (end - begin) >= share - 1.0 && (end - begin) <= share + 1.0;
        } else {
            near &= end - begin == items * (thread + 1) / threads - items * thread / threads;
        }
        expected_begin = end;
    }
    ok &= expected_begin == items;
    CHECK(t, ok, "%d of %d threads, %d items: the ranges are in order and cover every item once",
          threads, b->threads, items);
    CHECK(t, near, "%d of %d threads, %d items: every range is its thread's share within one item",
          threads, b->threads, items);
}

static void test_ranges(TestContext *t) {
    Rng rng;
    rng_seed(&rng, 3, 7);
    for (int threads = 1; threads <= MAX_THREADS; threads++) {
        ThreadBalance b;
        if (!thread_balance_init(&b, threads)) {
            CHECK(t, 0, "thread_balance_init(%d) ran out of memory", threads);
            return;
        }
        for (int trial = 0; trial < 20; trial++) {
            for (int i = 0; i < threads; i++)  // equal first, then skewed up to 20x
                b.speed[i] = trial == 0 ? 1.0 : 0.1 + 1.9 * rng_uniform(&rng);
            thread_balance_begin(&b);
            const int items[] = {0, 1, threads, 16, 49, 37 + trial * 13};
            for (size_t k = 0; k < sizeof items / sizeof items[0]; k++) {
                check_ranges(t, &b, threads, items[k]);
                if (threads > 1) check_ranges(t, &b, threads - 1, items[k]);
            }
        }
        thread_balance_free(&b);
    }
}

static void test_speeds(TestContext *t) {
    ThreadBalance b;
    if (!thread_balance_init(&b, 2)) {
        CHECK(t, 0, "thread_balance_init(2) ran out of memory");
        return;
    }
    for (int region = 0; region < 60; region++) {  // thread 0 three times as fast
        thread_balance_begin(&b);
        thread_balance_record(&b, 0, 300, 1.0);
        thread_balance_record(&b, 1, 100, 1.0);
        thread_balance_end(&b);
    }
    CHECK_CLOSE(t, b.speed[0], 1.5, 0, 1e-3, "speed of the thread three times as fast");
    CHECK_CLOSE(t, b.speed[1], 0.5, 0, 1e-3, "speed of the slow thread");
    thread_balance_begin(&b);
    int begin, end;
    thread_balance_range(&b, 0, 2, 16, &begin, &end);
    CHECK(t, begin == 0 && end == 12, "16 items: the fast thread takes [%d, %d), want [0, 12)",
          begin, end);

    for (int region = 0; region < 60; region++) {  // 100 times as fast: counts as twice the mean
        thread_balance_begin(&b);
        thread_balance_record(&b, 0, 100, 1.0);
        thread_balance_record(&b, 1, 10000, 1.0);
        thread_balance_end(&b);
    }
    CHECK(t, b.speed[1] / b.speed[0] <= 4.0 + 1e-9,
          "a 100x faster thread's speed is at most 4x the other's (2x and 0.5x the mean): %.4f",
          b.speed[1] / b.speed[0]);

    const double before[2] = {b.speed[0], b.speed[1]};
    thread_balance_begin(&b);
    thread_balance_record(&b, 0, 500, 1.0);  // thread 1 had no work in this region
    thread_balance_end(&b);
    CHECK(t, b.speed[0] == before[0] && b.speed[1] == before[1],
          "a region where one thread recorded nothing leaves the speeds as they were");
    thread_balance_free(&b);
}

int main(void) {
    TestContext t = {.suite = "test_thread_balance"};
    test_ranges(&t);
    test_speeds(&t);
    return test_finish(&t);
}
