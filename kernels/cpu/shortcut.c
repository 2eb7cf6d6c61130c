// The option-A shortcut of the CIFAR ResNets: halve the resolution with a 2x2
// average pool (stride 2; a last odd row or column is dropped), then pad the
// channel dimension with zeros from in_c up to out_c. No parameters.
#include <string.h>

#include "cpu_ops.h"

void cpu_shortcut_a_forward(Backend *be, int batch, int in_c, int in_h, int in_w, int out_c,
                            const real *x, real *y) {
    CpuState *st = cpu_state(be);
    const int out_h = in_h / 2, out_w = in_w / 2;
    const size_t in_plane = (size_t)in_h * in_w, out_plane = (size_t)out_h * out_w;
    const int planes = batch * out_c;
#pragma omp parallel for schedule(static) num_threads(st->threads)
    for (int bc = 0; bc < planes; bc++) {
        const int n = bc / out_c, c = bc % out_c;
        real *dst = y + (size_t)bc * out_plane;
        if (c >= in_c) {
            memset(dst, 0, sizeof(real) * out_plane);
            continue;
        }
        const real *src = x + ((size_t)n * in_c + c) * in_plane;
        for (int oh = 0; oh < out_h; oh++) {
            const real *top = src + (size_t)(2 * oh) * in_w, *bottom = top + in_w;
            for (int ow = 0; ow < out_w; ow++)
                dst[(size_t)oh * out_w + ow] = (real)0.25 * (top[2 * ow] + top[2 * ow + 1] +
                                                             bottom[2 * ow] + bottom[2 * ow + 1]);
        }
    }
}

// Each input pixel of a pooled 2x2 window receives a quarter of that output's
// gradient; the padded channels and dropped odd row/column receive nothing.
void cpu_shortcut_a_backward_accumulate(Backend *be, int batch, int in_c, int in_h, int in_w,
                                        int out_c, const real *dy, real *dx) {
    CpuState *st = cpu_state(be);
    const int out_h = in_h / 2, out_w = in_w / 2;
    const size_t in_plane = (size_t)in_h * in_w, out_plane = (size_t)out_h * out_w;
    const int planes = batch * in_c;
#pragma omp parallel for schedule(static) num_threads(st->threads)
    for (int bc = 0; bc < planes; bc++) {
        const int n = bc / in_c, c = bc % in_c;
        const real *src = dy + ((size_t)n * out_c + c) * out_plane;
        real *dst = dx + (size_t)bc * in_plane;
        for (int oh = 0; oh < out_h; oh++) {
            real *top = dst + (size_t)(2 * oh) * in_w, *bottom = top + in_w;
            for (int ow = 0; ow < out_w; ow++) {
                const real quarter = (real)0.25 * src[(size_t)oh * out_w + ow];
                top[2 * ow] += quarter;
                top[2 * ow + 1] += quarter;
                bottom[2 * ow] += quarter;
                bottom[2 * ow + 1] += quarter;
            }
        }
    }
}
