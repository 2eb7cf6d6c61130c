// Forward-only kernels for the CNNs people export from PyTorch (sdinfer): the
// activations of mobile networks, transposes (channel shuffles) and softmax along
// any axis. Grouped and dilated convolutions (depthwise included) are in
// conv_grouped.c.
#include <math.h>
#include <string.h>

#include "cpu_ops.h"
#include "infer_ops.h"

// Contiguous runs, one per thread, through the vector kernel (simd/activation.c):
// element-wise, so the split changes no result.
void cpu_activation_forward(Backend *be, ActivationOp op, size_t count, real alpha, real beta,
                            const real *x, real *y) {
    CpuState *st = cpu_state(be);
    const CpuKernels *k = st->kernels;
    const int runs = count >= CPU_PARALLEL_MIN_ELEMENTS ? st->threads : 1;
#pragma omp parallel for schedule(static) num_threads(st->threads) if (runs > 1)
    for (int run = 0; run < runs; run++) {
        const size_t begin = count * (size_t)run / (size_t)runs;
        const size_t end = count * (size_t)(run + 1) / (size_t)runs;
        k->activation(op, end - begin, alpha, beta, x + begin, y + begin);
    }
}

// The input's row-major strides (in elements), and the output's element count: what an
// output-order loop that gathers from the input needs (Transpose, border Pad).
static int64_t strides_and_total(const TensorShape *in_shape, const TensorShape *out_shape,
                                 int64_t *in_strides) {
    int64_t total = 1, stride = 1;
    for (int d = out_shape->rank - 1; d >= 0; d--) {
        in_strides[d] = stride;
        stride *= in_shape->dims[d];
        total *= out_shape->dims[d];
    }
    return total;
}

// Output axes from `first` on that keep their input position (perm[d] == d) are one
// contiguous run in both tensors: its length in elements, and `first` (the axes before
// it are walked one block at a time). A channel shuffle (ShuffleNet's [N, g, C/g, H, W]
// -> [N, C/g, g, H, W]) moves blocks of H x W values.
static int64_t identity_suffix(const TensorShape *out_shape, const int *perm, int *first) {
    int64_t block = 1;
    int d = out_shape->rank;
    while (d > 0 && perm[d - 1] == d - 1) block *= out_shape->dims[--d];
    *first = d;
    return block;
}

void cpu_transpose(Backend *be, const TensorShape *in_shape, const real *x, const int *perm,
                   const TensorShape *out_shape, real *y) {
    CpuState *st = cpu_state(be);
    int64_t in_strides[SD_MAX_DIMS];
    const int64_t total = strides_and_total(in_shape, out_shape, in_strides);
    int walked;  // the axes walked per block; the rest are the contiguous block
    const int64_t block = identity_suffix(out_shape, perm, &walked);
    const int64_t blocks = block > 0 ? total / block : 0;
#pragma omp parallel for schedule(static) num_threads(st->threads) if (total >= CPU_PARALLEL_MIN_ELEMENTS)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t rest = b, from = 0;
        for (int d = walked - 1; d >= 0; d--) {
            from += (rest % out_shape->dims[d]) * in_strides[perm[d]];
            rest /= out_shape->dims[d];
        }
        if (block == 1) y[b] = x[from];
        else memcpy(y + b * block, x + from, sizeof(real) * (size_t)block);
    }
}

// The input coordinate an output coordinate reads along one axis of size n.
static int64_t border_source(int64_t i, int64_t n, int reflect) {
    if (!reflect || n == 1) return i < 0 ? 0 : i >= n ? n - 1 : i;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

void cpu_pad_border(Backend *be, const TensorShape *in_shape, const real *x, const int64_t *pads,
                    int reflect, const TensorShape *out_shape, real *y) {
    CpuState *st = cpu_state(be);
    int rank = out_shape->rank;
    int64_t in_strides[SD_MAX_DIMS];
    const int64_t total = strides_and_total(in_shape, out_shape, in_strides);
#pragma omp parallel for schedule(static) num_threads(st->threads) if (total >= CPU_PARALLEL_MIN_ELEMENTS)
    for (int64_t i = 0; i < total; i++) {
        int64_t rest = i, from = 0;
        for (int d = rank - 1; d >= 0; d--) {
            int64_t coord = rest % out_shape->dims[d] - pads[d];
            rest /= out_shape->dims[d];
            from += border_source(coord, in_shape->dims[d], reflect) * in_strides[d];
        }
        y[i] = x[from];
    }
}

void cpu_softmax_axis(Backend *be, int64_t outer, int64_t extent, int64_t inner, const real *x,
                      real *y) {
    CpuState *st = cpu_state(be);
    int64_t lines = outer * inner;
#pragma omp parallel for schedule(static) num_threads(st->threads) if (lines * extent >= CPU_PARALLEL_MIN_ELEMENTS)
    for (int64_t line = 0; line < lines; line++) {
        int64_t o = line / inner, i = line % inner;
        const real *in = x + o * extent * inner + i;
        real *out = y + o * extent * inner + i;
        real largest = in[0];
        for (int64_t k = 1; k < extent; k++)
            if (in[k * inner] > largest) largest = in[k * inner];
        double sum = 0;
        for (int64_t k = 0; k < extent; k++) sum += exp((double)(in[k * inner] - largest));
        for (int64_t k = 0; k < extent; k++)
            out[k * inner] = (real)(exp((double)(in[k * inner] - largest)) / sum);
    }
}
