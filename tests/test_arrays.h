// Host arrays for the kernel tests: allocation that stops the test with a message when
// memory runs out (a crash must not pass for a result), random values, copies.
#ifndef SD_TEST_ARRAYS_H
#define SD_TEST_ARRAYS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "rng.h"

static inline void *checked_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

// n values uniform in [-1, 1).
static inline real *random_array(Rng *rng, size_t n) {
    real *p = checked_calloc(n, sizeof(real));
    for (size_t i = 0; i < n; i++) p[i] = (real)(2.0 * rng_uniform(rng) - 1.0);
    return p;
}

static inline real *copy_of(const real *src, size_t n) {
    real *p = checked_calloc(n, sizeof(real));
    memcpy(p, src, sizeof(real) * n);
    return p;
}

#endif
