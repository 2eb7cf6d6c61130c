// Element-wise kernels: ReLU, its backward, the residual merge, accumulation.
// All are memory-bound single passes; no `restrict`, because relu, relu_backward
// and residual_forward are documented to work in place.
#include "cpu_ops.h"

void cpu_relu_forward(Backend *be, size_t count, const real *x, real *y) {
    CpuState *st = cpu_state(be);
#pragma omp parallel for simd num_threads(st->threads) if (count >= CPU_PARALLEL_MIN_ELEMENTS)
    for (size_t i = 0; i < count; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

// y is the ReLU's output, so y > 0 exactly where the input was positive. dy[i] is read
// whatever y[i] is: a load only under the condition cannot be vectorised (it might
// fault), and the loop became scalar code with an unpredictable branch per element.
void cpu_relu_backward(Backend *be, size_t count, const real *y, const real *dy, real *dx) {
    CpuState *st = cpu_state(be);
#pragma omp parallel for simd num_threads(st->threads) if (count >= CPU_PARALLEL_MIN_ELEMENTS)
    for (size_t i = 0; i < count; i++) {
        const real gradient = dy[i];
        dx[i] = y[i] > 0 ? gradient : 0;
    }
}

void cpu_residual_forward(Backend *be, size_t count, real branch_scale, const real *branch,
                          const real *shortcut, real *y) {
    CpuState *st = cpu_state(be);
#pragma omp parallel for simd num_threads(st->threads) if (count >= CPU_PARALLEL_MIN_ELEMENTS)
    for (size_t i = 0; i < count; i++) {
        real v = branch_scale * branch[i] + shortcut[i];
        y[i] = v > 0 ? v : 0;
    }
}

void cpu_accumulate(Backend *be, size_t count, const real *src, real *dst) {
    CpuState *st = cpu_state(be);
#pragma omp parallel for simd num_threads(st->threads) if (count >= CPU_PARALLEL_MIN_ELEMENTS)
    for (size_t i = 0; i < count; i++) dst[i] += src[i];
}
