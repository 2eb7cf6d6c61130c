// How the threads share one image's work when they split it (batch 1 on several threads:
// conv_winograd.c's tiles or output channels, conv.c's product columns): each thread takes
// one contiguous range, sized by how fast that thread has lately been.
//
// Why: equal shares leave the faster thread waiting at every barrier whenever one core
// runs slower than the other, and on a shared machine that is most of the time: a
// hypervisor's other guests, an SMT sibling, an interrupt. sdinfer, ResNet-110 at batch 1
// on a 2-core AMD EPYC VM (family 25), the time the threads waited at the barriers
// between the convolutions of a stage: about 0.3M cycles per image of 7.5M in quiet
// stretches, 1.4M to 1.9M in busy ones, one thread waiting far more than the other for
// seconds at a time; with the ranges sized by speed, the median image was 0.2% slower to
// 8.3% faster (2% to 5% in most of twelve runs of 3000 images, one process alternating
// images between equal and measured shares). Finer pieces handed out as threads come free
// (a shared counter) balance too, but each piece reads all of a layer's weights again and
// makes smaller register blocks: the median image 14% to 24% slower with four pieces per
// image instead of two.
// One contiguous range per thread keeps each thread's weights read once and its part of
// the image in its own cache (the next layer's share covers nearly the same pixels).
//
// The ranges change only which thread computes an item, never how: results are
// bit-identical whatever the speeds (tests/test_conv_sequence.c and tests/test_cpu_ops.c
// compare skewed shares with 1 thread).
#include "thread_balance.h"

#include <stdlib.h>

// How far one region's rates move the speeds, and how far one region's rate may count
// from the mean: no share shrinks to nothing, so every thread goes on being measured.
#define BALANCE_RATE_WEIGHT 0.2
#define BALANCE_MIN_RELATIVE 0.5
#define BALANCE_MAX_RELATIVE 2.0

int thread_balance_init(ThreadBalance *b, int threads) {
    *b = (ThreadBalance){.threads = threads};
    b->speed = malloc((size_t)threads * sizeof *b->speed);
    b->share_end = malloc((size_t)threads * sizeof *b->share_end);
    b->busy_seconds = malloc((size_t)threads * sizeof *b->busy_seconds);
    b->busy_items = malloc((size_t)threads * sizeof *b->busy_items);
    if (!b->speed || !b->share_end || !b->busy_seconds || !b->busy_items) {
        thread_balance_free(b);
        return 0;
    }
    for (int t = 0; t < threads; t++) b->speed[t] = 1.0;
    thread_balance_begin(b);
    return 1;
}

void thread_balance_free(ThreadBalance *b) {
    free(b->speed);
    free(b->share_end);
    free(b->busy_seconds);
    free(b->busy_items);
    *b = (ThreadBalance){0};
}

void thread_balance_begin(ThreadBalance *b) {
    double total = 0, running = 0;
    for (int t = 0; t < b->threads; t++) total += b->speed[t];
    for (int t = 0; t < b->threads; t++) {
        running += b->speed[t];  // prefix sums of positive terms: never above total
        b->share_end[t] = running / total;
        b->busy_seconds[t] = 0;
        b->busy_items[t] = 0;
    }
}

// Where the ranges of threads before `thread` end: the same expression for a thread's
// end and the next one's begin, so the ranges meet exactly.
static int boundary(const ThreadBalance *b, int thread, int items) {
    if (thread <= 0) return 0;
    if (thread >= b->threads) return items;
    const int at = (int)(items * b->share_end[thread - 1] + 0.5);
    return at < items ? at : items;
}

void thread_balance_range(const ThreadBalance *b, int thread, int threads, int items, int *begin,
                          int *end) {
    if (threads != b->threads) {
        *begin = (int)((long)items * thread / threads);
        *end = (int)((long)items * (thread + 1) / threads);
        return;
    }
    *begin = boundary(b, thread, items);
    *end = boundary(b, thread + 1, items);
}

void thread_balance_record(ThreadBalance *b, int thread, long items, double seconds) {
    if (thread >= b->threads) return;
    b->busy_items[thread] = items;
    b->busy_seconds[thread] = seconds;
}

void thread_balance_end(ThreadBalance *b) {
    double mean_rate = 0;
    for (int t = 0; t < b->threads; t++) {
        if (b->busy_items[t] <= 0 || b->busy_seconds[t] <= 0) return;  // nothing to compare
        mean_rate += b->busy_items[t] / b->busy_seconds[t] / b->threads;
    }
    double mean_speed = 0;
    for (int t = 0; t < b->threads; t++) {
        double relative = b->busy_items[t] / b->busy_seconds[t] / mean_rate;
        if (relative < BALANCE_MIN_RELATIVE) relative = BALANCE_MIN_RELATIVE;
        if (relative > BALANCE_MAX_RELATIVE) relative = BALANCE_MAX_RELATIVE;
        b->speed[t] += BALANCE_RATE_WEIGHT * (relative - b->speed[t]);
        mean_speed += b->speed[t] / b->threads;
    }
    for (int t = 0; t < b->threads; t++) b->speed[t] /= mean_speed;
}
