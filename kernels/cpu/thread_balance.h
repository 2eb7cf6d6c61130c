// How the threads share one image's work when they split it: in proportion to how fast
// each has lately been, not equally (thread_balance.c).
#pragma once

typedef struct {
    int threads;
    double *speed;         // [threads] each thread's recent speed, relative (mean 1)
    double *share_end;     // [threads] where thread t's share ends, as a fraction of the work
    double *busy_seconds;  // [threads] this region's time in measured work
    long *busy_items;      // [threads] the work items done in it
} ThreadBalance;

// Equal speeds to begin with. Returns 0 when out of memory.
int thread_balance_init(ThreadBalance *b, int threads);
void thread_balance_free(ThreadBalance *b);
// Before a parallel region: the shares from the speeds, the counts cleared.
void thread_balance_begin(ThreadBalance *b);
// Thread `thread`'s items [*begin, *end) of `items` in a region of `threads`: the ranges
// of all threads cover every item once, in order, for any speeds (equal shares when the
// region has another number of threads than b was made for).
void thread_balance_range(const ThreadBalance *b, int thread, int threads, int items, int *begin,
                          int *end);
// Inside the region, once per thread, at its end: the items it did and the time they took.
void thread_balance_record(ThreadBalance *b, int thread, long items, double seconds);
// After the region: the speeds moved toward the rates recorded in it.
void thread_balance_end(ThreadBalance *b);
