// SGD with momentum, weight decay and optional Nesterov, fused over the flat
// parameter buffer; the formula of Torch's optim.sgd (= PyTorch SGD, dampening 0):
//   g = grad + weight_decay * param
//   buf = first_step ? g : momentum * buf + g
//   step = nesterov ? g + momentum * buf : buf
//   param -= lr * step
#include "cpu_ops.h"

void cpu_sgd_step(Backend *be, size_t count, real *params, const real *grads, real *momentum_buf,
                  real lr, real momentum, real weight_decay, int nesterov, int first_step) {
    CpuState *st = cpu_state(be);
#pragma omp parallel for simd num_threads(st->threads) if (count >= CPU_PARALLEL_MIN_ELEMENTS)
    for (size_t i = 0; i < count; i++) {
        const real g = grads[i] + weight_decay * params[i];
        const real buf = first_step ? g : momentum * momentum_buf[i] + g;
        momentum_buf[i] = buf;
        params[i] -= lr * (nesterov ? g + momentum * buf : buf);
    }
}
