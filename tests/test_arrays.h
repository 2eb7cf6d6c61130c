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

// CPU backends with 1, 2, ..., count threads on one kernel set and convolution
// algorithm (NULL: the backend's own choice), for the kernel tests that compare
// thread counts; stops the test with the reason when one cannot be made.
static inline void cpu_backends_by_threads(Backend **backends, int count, const char *kernel_set,
                                           const char *conv_algorithm) {
    char err[256];
    for (int b = 0; b < count; b++) {
        const CpuBackendOptions options = {b + 1, kernel_set, conv_algorithm};
        backends[b] = backend_cpu_create_with(&options, err, sizeof err);
        if (!backends[b]) {
            fprintf(stderr, "backend_cpu_create_with(%d threads, %s, %s): %s\n", b + 1,
                    kernel_set, conv_algorithm ? conv_algorithm : "default", err);
            exit(1);
        }
    }
}

static inline void backends_destroy(Backend **backends, int count) {
    for (int b = 0; b < count; b++) backends[b]->destroy(backends[b]);
}

#endif
