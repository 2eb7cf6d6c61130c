// The CPU kernels' matrix product (CpuKernels.conv_gemm, kernels/cpu/simd/gemm.c: the
// pointwise and im2col convolutions) against a double-precision product written here,
// for every kernel set this CPU runs:
//   - shapes that reach every path: rows 1 to 13 (whole register blocks of 6 and each
//     remainder), columns 1 to 70 and 256 (whole blocks of 4 or 2 vectors, 1 to 3
//     vectors left, a tail of 1 to 15 lanes), 512 and 785 (several chunks of 256
//     columns, the last with a tail), depths 1, 3, 255 to 260, 300 and 600 (one slice of
//     K and several), leading dimensions wider than the rows; 64 rows or more (128 to
//     134 here), where the slice of B is packed whole (below, only its last columns);
//   - each epilogue: none, bias, bias + a separate residual, bias + the residual being
//     the output itself, with no clamp, a ReLU and a [-0.3, 0.4] range:
//     |got - want| <= 1e-5 * (sum |a b| + |bias| + |residual|) (float rounding of k terms);
//   - the bits of one call equal those of two calls on the two halves of the columns
//     (conv.c splits an image's columns between threads).
// And the matrix-vector product of the fully connected layer at batch 1
// (CpuKernels.gemv, simd/gemv.c), the same way: rows 1 to 19 (blocks of 8 and each
// remainder), columns 1 to 70 and 1280 (whole vectors and every tail), with and without
// a bias, nothing written past the rows; and the backend's fc_forward at batch 1 (which
// calls it) against the same reference.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu/cpu_kernels.h"
#include "harness.h"
#include "rng.h"
#include "test_arrays.h"

#define REL_TOL 1e-5
#define EXTRA_COLUMNS 3  // leading dimensions wider than the columns used

typedef enum { EPILOGUE_NONE, EPILOGUE_BIAS, EPILOGUE_RESIDUAL, EPILOGUE_IN_PLACE } Epilogue;

typedef struct {
    TestContext *t;
    const CpuKernels *k;
    Rng rng;
    double worst;
    real *pack;  // the product's scratch (CONV_GEMM_PACK_SIZE reals)
} Ctx;

// The product in double, through the epilogue; `scale`: the magnitude the rounding
// of each output is relative to.
static void reference(const GemmShape *s, const real *a, const real *b, const real *bias,
                      const real *residual, OutputClamp clamp, double *want, double *scale) {
    for (int i = 0; i < s->m; i++)
        for (int j = 0; j < s->n; j++) {
            double sum = 0, size = 0;
            for (int l = 0; l < s->k; l++) {
                const double term = (double)a[(size_t)i * s->lda + l] * b[(size_t)l * s->ldb + j];
                sum += term;
                size += fabs(term);
            }
            if (bias) sum += bias[i], size += fabs(bias[i]);
            if (residual) {
                const double r = residual[(size_t)i * s->ldr + j];
                sum += r;
                size += fabs(r);
            }
            if (clamp.on) sum = sum < clamp.min ? clamp.min : sum > clamp.max ? clamp.max : sum;
            want[(size_t)i * s->n + j] = sum;
            scale[(size_t)i * s->n + j] = size;
        }
}

static void test_case(Ctx *c, int m, int n, int k, Epilogue epilogue, OutputClamp clamp) {
    const int ld_b = n + EXTRA_COLUMNS, ld_c = n + EXTRA_COLUMNS;
    const GemmShape s = {m, n, k, k + 1, ld_b, ld_c, ld_c};
    real *a = random_array(&c->rng, (size_t)m * s.lda), *b = random_array(&c->rng, (size_t)k * ld_b);
    real *bias = epilogue == EPILOGUE_NONE ? NULL : random_array(&c->rng, (size_t)m);
    real *residual = random_array(&c->rng, (size_t)m * ld_c);
    real *out = copy_of(residual, (size_t)m * ld_c), *halves = copy_of(residual, (size_t)m * ld_c);
    const real *res = epilogue == EPILOGUE_RESIDUAL ? residual
                      : epilogue == EPILOGUE_IN_PLACE ? out : NULL;
    double *want = checked_calloc((size_t)m * n, sizeof(double));
    double *scale = checked_calloc((size_t)m * n, sizeof(double));
    reference(&s, a, b, bias, epilogue >= EPILOGUE_RESIDUAL ? residual : NULL, clamp, want, scale);
    c->k->conv_gemm(&s, a, b, bias, res, clamp, out, c->pack);
    int bad = 0;
    for (int i = 0; i < m && !bad; i++)
        for (int j = 0; j < n && !bad; j++) {
            const double got = out[(size_t)i * ld_c + j], w = want[(size_t)i * n + j];
            const double err = fabs(got - w) / (scale[(size_t)i * n + j] + 1e-30);
            if (err > c->worst && !isnan(got)) c->worst = err;
            if (isnan(got) || fabs(got - w) > REL_TOL * scale[(size_t)i * n + j] + 1e-30) {
                CHECK(c->t, 0, "%s m %d n %d k %d epilogue %d clamp %d: [%d][%d] got %.9g want %.9g",
                      c->k->isa, m, n, k, (int)epilogue, clamp.on, i, j, got, w);
                bad = 1;
            }
        }
    if (!bad) CHECK(c->t, 1, "values");
    // The columns in two calls: the same bits (and the columns beyond n untouched).
    const int first = n / 2;
    const GemmShape left = {m, first, k, s.lda, ld_b, ld_c, ld_c};
    const GemmShape right = {m, n - first, k, s.lda, ld_b, ld_c, ld_c};
    const real *res_halves = epilogue == EPILOGUE_RESIDUAL ? residual
                             : epilogue == EPILOGUE_IN_PLACE ? halves : NULL;
    if (first > 0) c->k->conv_gemm(&left, a, b, bias, res_halves, clamp, halves, c->pack);
    c->k->conv_gemm(&right, a, b + first, bias, res_halves ? res_halves + first : NULL, clamp,
                    halves + first, c->pack);
    CHECK(c->t, memcmp(out, halves, sizeof(real) * (size_t)m * ld_c) == 0,
          "%s m %d n %d k %d epilogue %d: two calls over the columns differ from one",
          c->k->isa, m, n, k, (int)epilogue);
    int untouched = 1;
    for (int i = 0; i < m; i++)
        for (int j = n; j < ld_c; j++)
            untouched &= out[(size_t)i * ld_c + j] == residual[(size_t)i * ld_c + j];
    CHECK(c->t, untouched, "%s m %d n %d k %d: wrote beyond column n", c->k->isa, m, n, k);
    free(a), free(b), free(bias), free(residual), free(out), free(halves), free(want), free(scale);
}

// y = bias + a x in double, and the magnitude sum |a x| + |bias| of each row.
static void gemv_reference(int rows, int cols, const real *a, int lda, const real *x,
                           const real *bias, double *want, double *scale) {
    for (int r = 0; r < rows; r++) {
        double sum = bias ? bias[r] : 0, size = bias ? fabs(bias[r]) : 0;
        for (int k = 0; k < cols; k++) {
            sum += (double)a[(size_t)r * lda + k] * x[k];
            size += fabs((double)a[(size_t)r * lda + k] * x[k]);
        }
        want[r] = sum, scale[r] = size;
    }
}

// got[0, rows) against the reference; got[rows] (a guard) must still be `guard`.
static void check_gemv(Ctx *c, const char *what, int rows, int cols, const real *got,
                       const double *want, const double *scale, real guard) {
    int bad = 0;
    for (int r = 0; r < rows && !bad; r++) {
        const double err = fabs(got[r] - want[r]) / (scale[r] + 1e-30);
        if (err > c->worst && !isnan(got[r])) c->worst = err;
        if (isnan(got[r]) || fabs(got[r] - want[r]) > REL_TOL * scale[r] + 1e-30) {
            CHECK(c->t, 0, "%s %s rows %d cols %d: [%d] got %.9g want %.9g", c->k->isa, what, rows,
                  cols, r, got[r], want[r]);
            bad = 1;
        }
    }
    if (!bad) CHECK(c->t, 1, "gemv values");
    CHECK(c->t, got[rows] == guard, "%s %s rows %d cols %d: wrote past the rows", c->k->isa, what,
          rows, cols);
}

static void test_gemv(Ctx *c, Backend *be, int rows, int cols, int with_bias) {
    const int lda = cols + EXTRA_COLUMNS;
    real *a = random_array(&c->rng, (size_t)rows * lda), *x = random_array(&c->rng, (size_t)cols);
    real *bias = with_bias ? random_array(&c->rng, (size_t)rows) : NULL;
    real *y = random_array(&c->rng, (size_t)rows + 1);
    const real guard = y[rows];
    double *want = checked_calloc((size_t)rows, sizeof(double));
    double *scale = checked_calloc((size_t)rows, sizeof(double));
    gemv_reference(rows, cols, a, lda, x, bias, want, scale);
    c->k->gemv(rows, cols, a, lda, x, bias, y);
    check_gemv(c, "gemv", rows, cols, y, want, scale, guard);
    // fc_forward at batch 1 (dense weights [rows][cols]: a copy without the gap).
    real *dense = checked_calloc((size_t)rows * cols, sizeof(real));
    for (int r = 0; r < rows; r++)
        memcpy(dense + (size_t)r * cols, a + (size_t)r * lda, sizeof(real) * cols);
    real *fc_y = random_array(&c->rng, (size_t)rows + 1);
    const real fc_guard = fc_y[rows];
    be->fc_forward(be, 1, cols, rows, x, dense, bias, fc_y);
    check_gemv(c, "fc_forward batch 1", rows, cols, fc_y, want, scale, fc_guard);
    free(dense), free(fc_y);
    free(a), free(x), free(bias), free(y), free(want), free(scale);
}

int main(void) {
    TestContext t = {"test_conv_gemm", 0, 0, 0};
    const CpuKernels *sets[3];
    const int n_sets = cpu_kernels_available(sets, 3);
    const int depths[] = {1, 255, 256, 257, 600};
    const OutputClamp clamps[] = {clamp_none(), clamp_relu(1), clamp_range((real)-0.3, (real)0.4)};
    for (int set = 0; set < n_sets; set++) {
        Ctx c = {.t = &t, .k = sets[set], .pack = checked_calloc(CONV_GEMM_PACK_SIZE, sizeof(real))};
        rng_seed(&c.rng, 1, 23);
        for (int m = 1; m <= 13; m++)
            for (int n = 1; n <= 70; n += (n < 20 ? 1 : 7)) test_case(&c, m, n, 9, EPILOGUE_BIAS, clamps[1]);
        for (int d = 0; d < 5; d++)
            for (int e = EPILOGUE_NONE; e <= EPILOGUE_IN_PLACE; e++)
                for (int cl = 0; cl < 3; cl++) {
                    test_case(&c, 7, 69, depths[d], (Epilogue)e, clamps[cl]);
                    test_case(&c, 12, 256, depths[d], (Epilogue)e, clamps[cl]);
                }
        // More columns than one chunk (256): whole chunks, a chunk with a tail; and 64
        // rows or more, where the whole slice of B is packed (fewer: only its tail).
        for (int e = EPILOGUE_NONE; e <= EPILOGUE_IN_PLACE; e++) {
            test_case(&c, 13, 512, 300, (Epilogue)e, clamps[2]);
            test_case(&c, 5, 785, 257, (Epilogue)e, clamps[1]);
            test_case(&c, 128, 70, 257, (Epilogue)e, clamps[1]);
            test_case(&c, 133, 300, 260, (Epilogue)e, clamps[2]);
            test_case(&c, 134, 7, 3, (Epilogue)e, clamps[0]);
            test_case(&c, 63, 40, 70, (Epilogue)e, clamps[1]);  // the last rows in place
            test_case(&c, 64, 40, 70, (Epilogue)e, clamps[1]);  // the first packed
        }
        Backend *be;
        cpu_backends_by_threads(&be, 1, c.k->isa, NULL);
        for (int rows = 1; rows <= 19; rows++)
            for (int cols = 1; cols <= 70; cols += (cols < 20 ? 1 : 7))
                test_gemv(&c, be, rows, cols, rows % 2);
        test_gemv(&c, be, 1000, 1280, 1);
        test_gemv(&c, be, 10, 64, 0);
        backends_destroy(&be, 1);
        printf("%s kernels: worst error relative to sum |a b| %.3g\n", c.k->isa, c.worst);
        free(c.pack);
    }
    return test_finish(&t);
}
