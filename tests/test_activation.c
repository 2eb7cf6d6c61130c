// The element-wise activations of sdinfer (Backend.activation_forward, CPU:
// kernels/cpu/simd/activation.c) against double-precision formulas written here, for
// every kernel set this CPU runs:
//   - Sigmoid and SiLU (through the kernels' own float e^x), HardSigmoid (alpha 0.2,
//     beta 0.5), HardSwish and Clip(-0.5, 0.75) on a sweep of -100..100 (steps of
//     1/64, so every rounding case of the exponent's range is crossed), random values
//     and the edges of the e^x range: |got - want| <= 1e-6 |want| + 1e-37 (the
//     absolute term: Sigmoid saturates at e^-88, far below anything a float logit
//     shows; tolerance() for the ops whose terms may cancel);
//   - NaN in gives NaN out for every op; Sigmoid, HardSigmoid and Clip of +-inf are
//     their limits (SiLU(+inf) = +inf);
//   - every count from 1 to 3 vectors + 1 (the tail path) and in place (y == x) give
//     the bits of one long call; 3 threads give the bits of 1 on a long array.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu/cpu_kernels.h"
#include "harness.h"
#include "rng.h"
#include "test_arrays.h"

#define REL_TOL 1e-6
#define ABS_TOL 1e-37
#define SWEEP_STEPS (200 * 64 + 1)  // -100 .. 100 in steps of 1/64
#define RANDOM_VALUES 4096
#define LONG_COUNT 100003           // above the CPU backend's threading threshold

typedef struct {
    ActivationOp op;
    const char *name;
    real alpha, beta;
} OpCase;

static const OpCase cases[] = {
    {ACTIVATION_SIGMOID, "Sigmoid", 0, 0},
    {ACTIVATION_SILU, "SiLU", 0, 0},
    {ACTIVATION_HARD_SIGMOID, "HardSigmoid", (real)0.2, (real)0.5},
    {ACTIVATION_HARD_SWISH, "HardSwish", 0, 0},
    {ACTIVATION_CLIP, "Clip", (real)-0.5, (real)0.75},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static double clip(double v, double low, double high) { return v < low ? low : v > high ? high : v; }

static double reference(const OpCase *c, double x) {
    switch (c->op) {
    case ACTIVATION_SIGMOID: return 1 / (1 + exp(-x));
    case ACTIVATION_SILU: return x / (1 + exp(-x));
    case ACTIVATION_HARD_SIGMOID: return clip(c->alpha * x + c->beta, 0, 1);
    case ACTIVATION_HARD_SWISH: return x * clip(x / 6 + 0.5, 0, 1);
    case ACTIVATION_CLIP: return clip(x, c->alpha, c->beta);
    }
    return NAN;
}

// What float arithmetic may miss by: REL_TOL of the magnitude of the terms the kernel
// adds (for HardSigmoid and HardSwish, alpha x and beta, which may cancel), and
// ABS_TOL (x ABS_TOL for SiLU: x times Sigmoid's saturation at e^-88).
static double tolerance(const OpCase *c, double x, double want) {
    switch (c->op) {
    case ACTIVATION_HARD_SIGMOID: return REL_TOL * (fabs(c->alpha * x) + fabs(c->beta)) + ABS_TOL;
    case ACTIVATION_HARD_SWISH: return REL_TOL * fabs(x) * (fabs(x) / 6 + 0.5) + ABS_TOL;
    case ACTIVATION_SILU: return REL_TOL * fabs(want) + ABS_TOL * (fabs(x) > 1 ? fabs(x) : 1);
    default: return REL_TOL * fabs(want) + ABS_TOL;
    }
}

// The inputs: the sweep, random values in -20..20, the edges of e^x's range.
static real *make_inputs(size_t *count) {
    static const double edges[] = {0, -0.0, 1e-30, -1e-30, 86.9, 87, 87.1, 88, 88.1, 89, -86.9,
                                   -87, -87.1, -88, -88.1, -89, 1e10, -1e10, 0.34657, -0.34657};
    const size_t n_edges = sizeof edges / sizeof edges[0];
    *count = SWEEP_STEPS + RANDOM_VALUES + n_edges;
    real *x = checked_calloc(*count, sizeof(real));
    size_t at = 0;
    for (int i = 0; i < SWEEP_STEPS; i++) x[at++] = (real)(-100 + i / 64.0);
    Rng rng;
    rng_seed(&rng, 7, 1);
    for (int i = 0; i < RANDOM_VALUES; i++) x[at++] = (real)(40 * rng_uniform(&rng) - 20);
    for (size_t i = 0; i < n_edges; i++) x[at++] = (real)edges[i];
    return x;
}

static void check_accuracy(TestContext *t, Backend *be, const char *isa, const OpCase *c,
                           const real *x, size_t count) {
    real *y = checked_calloc(count, sizeof(real));
    be->activation_forward(be, c->op, count, c->alpha, c->beta, x, y);
    double worst = 0;
    size_t worst_at = 0;
    for (size_t i = 0; i < count; i++) {
        const double want = reference(c, (double)x[i]);
        const double excess = fabs((double)y[i] - want) - tolerance(c, (double)x[i], want);
        if (!(excess <= worst)) worst = isnan(excess) ? INFINITY : excess, worst_at = i;
    }
    CHECK(t, worst <= 0, "%s %s: x = %.9g gives %.9g, want %.9g", isa, c->name,
          (double)x[worst_at], (double)y[worst_at], reference(c, (double)x[worst_at]));
    free(y);
}

static void check_specials(TestContext *t, Backend *be, const char *isa, const OpCase *c) {
    const real x[3] = {(real)NAN, (real)INFINITY, (real)-INFINITY};
    real y[3];
    be->activation_forward(be, c->op, 3, c->alpha, c->beta, x, y);
    CHECK(t, isnan(y[0]), "%s %s(NaN) = %g, want NaN", isa, c->name, (double)y[0]);
    const double want_inf = c->op == ACTIVATION_SILU || c->op == ACTIVATION_HARD_SWISH
                                ? INFINITY : reference(c, INFINITY);
    CHECK(t, y[1] == want_inf, "%s %s(+inf) = %g, want %g", isa, c->name, (double)y[1], want_inf);
    if (c->op != ACTIVATION_SILU && c->op != ACTIVATION_HARD_SWISH)  // x * 0 there
        CHECK(t, fabs((double)y[2] - reference(c, -INFINITY)) <= ABS_TOL,
              "%s %s(-inf) = %g, want %g", isa, c->name, (double)y[2], reference(c, -INFINITY));
}

// Every short count (tails) and in place give the bits of one long call.
static void check_tails(TestContext *t, Backend *be, const CpuKernels *kernels, const OpCase *c,
                        const real *x) {
    const char *isa = kernels->isa;
    const int longest = 3 * (int)(kernels->vector_bytes / sizeof(real)) + 1;
    real full[64 * 3 + 1], part[64 * 3 + 1];
    be->activation_forward(be, c->op, (size_t)longest, c->alpha, c->beta, x, full);
    int bad = 0;
    for (int count = 1; count <= longest; count++) {
        be->activation_forward(be, c->op, (size_t)count, c->alpha, c->beta, x, part);
        bad += memcmp(part, full, sizeof(real) * (size_t)count) != 0;
        memcpy(part, x, sizeof(real) * (size_t)count);
        be->activation_forward(be, c->op, (size_t)count, c->alpha, c->beta, part, part);
        bad += memcmp(part, full, sizeof(real) * (size_t)count) != 0;
    }
    CHECK(t, bad == 0, "%s %s: %d of %d short or in-place calls differ from the long one", isa,
          c->name, bad, 2 * longest);
}

// 3 threads (contiguous runs per thread) give the bits of 1 on a long array.
static void check_threads(TestContext *t, Backend *one, Backend *three, const char *isa,
                          const OpCase *c, const real *x, size_t count) {
    real *long_x = checked_calloc(LONG_COUNT, sizeof(real));
    real *y_one = checked_calloc(LONG_COUNT, sizeof(real));
    real *y_three = checked_calloc(LONG_COUNT, sizeof(real));
    for (size_t i = 0; i < LONG_COUNT; i++) long_x[i] = x[i % count];
    one->activation_forward(one, c->op, LONG_COUNT, c->alpha, c->beta, long_x, y_one);
    three->activation_forward(three, c->op, LONG_COUNT, c->alpha, c->beta, long_x, y_three);
    CHECK(t, memcmp(y_one, y_three, sizeof(real) * LONG_COUNT) == 0,
          "%s %s: 3 threads give the bits of 1 (%d values)", isa, c->name, LONG_COUNT);
    free(long_x), free(y_one), free(y_three);
}

int main(void) {
    TestContext t = {"test_activation", 0, 0, 0};
    size_t count;
    real *x = make_inputs(&count);
    const CpuKernels *sets[3];
    const int n_sets = cpu_kernels_available(sets, 3);
    for (int set = 0; set < n_sets; set++) {
        Backend *be[3];
        cpu_backends_by_threads(be, 3, sets[set]->isa, NULL);
        for (int k = 0; k < N_CASES; k++) {
            check_accuracy(&t, be[0], sets[set]->isa, &cases[k], x, count);
            check_specials(&t, be[0], sets[set]->isa, &cases[k]);
            check_tails(&t, be[0], sets[set], &cases[k], x + SWEEP_STEPS);
            check_threads(&t, be[0], be[2], sets[set]->isa, &cases[k], x, count);
        }
        printf("%s kernels: %d ops on %zu values each\n", sets[set]->isa, N_CASES, count);
        backends_destroy(be, 3);
    }
    free(x);
    return test_finish(&t);
}
