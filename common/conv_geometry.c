#include "conv_geometry.h"

int64_t conv_output_size(int64_t in, int64_t pad_begin, int64_t pad_end, int64_t kernel,
                         int64_t dilation, int64_t stride) {
    int64_t span = in + pad_begin + pad_end - (dilation * (kernel - 1) + 1);
    return span < 0 ? 0 : span / stride + 1;
}

int conv_axis_resolve(const ConvAxisRequest *r, ConvAxis *axis) {
    int64_t covered = r->dilation * (r->kernel - 1) + 1;
    axis->covered = covered;
    if (r->rule == CONV_PAD_SAME_UPPER || r->rule == CONV_PAD_SAME_LOWER) {
        int64_t out = (r->in + r->stride - 1) / r->stride;
        int64_t total = (out - 1) * r->stride + covered - r->in;
        if (total < 0) total = 0;
        axis->out = out;
        axis->pad_begin = r->rule == CONV_PAD_SAME_UPPER ? total / 2 : total - total / 2;
        axis->padded_in = r->in + total;
        return 0;
    }
    int64_t begin = r->rule == CONV_PAD_VALID ? 0 : r->pad_begin;
    int64_t end = r->rule == CONV_PAD_VALID ? 0 : r->pad_end;
    int64_t span = r->in + begin + end - covered;
    axis->pad_begin = begin;
    axis->padded_in = r->in + begin + end;
    if (span < 0) return -1;
    int64_t out = (r->ceil_mode ? (span + r->stride - 1) / r->stride : span / r->stride) + 1;
    if (r->ceil_mode && (out - 1) * r->stride >= r->in + begin) out--;
    axis->out = out;
    return 0;
}
