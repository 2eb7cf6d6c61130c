// Output-size arithmetic of convolution and pooling windows along one spatial
// axis (the ONNX Conv / MaxPool / AveragePool rules, which PyTorch and cuDNN
// share): the one implementation the trainer's network layout (common/net.c),
// sdexport's pads (export/export_resnet.c), sdinfer's shape inference and the
// CUDA backend's padding check use.
#ifndef SD_CONV_GEOMETRY_H
#define SD_CONV_GEOMETRY_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// How the padding of an axis is decided (ONNX auto_pad).
typedef enum {
    CONV_PAD_EXPLICIT,    // pad_begin and pad_end as given (auto_pad NOTSET)
    CONV_PAD_SAME_UPPER,  // out = ceil(in / stride); an odd total pad puts the extra at the end
    CONV_PAD_SAME_LOWER,  // the same, the extra at the beginning
    CONV_PAD_VALID,       // no padding
} ConvPadRule;

// The number of window positions: floor((in + pads - dilation (kernel - 1) - 1) / stride) + 1,
// or 0 when even one window does not fit in the padded input.
int64_t conv_output_size(int64_t in, int64_t pad_begin, int64_t pad_end, int64_t kernel,
                         int64_t dilation, int64_t stride);

typedef struct {
    int64_t in, kernel, stride, dilation;  // dilation 1 for pooling
    int64_t pad_begin, pad_end;            // used by CONV_PAD_EXPLICIT only
    ConvPadRule rule;
    int ceil_mode;  // pooling: round the window count up (the last window must still start
                    // inside the input or its begin padding, as PyTorch)
} ConvAxisRequest;

typedef struct {
    int64_t out;        // output length
    int64_t pad_begin;  // the padding before the first element the rule chose
    int64_t covered;    // input positions one (dilated) window spans: dilation (kernel - 1) + 1
    int64_t padded_in;  // in + both pads (the SAME rules' pads are not reported: they always fit)
} ConvAxis;

// Resolves one axis. Returns 0, or -1 when the window is larger than the padded
// input (axis->covered and axis->padded_in then say by how much).
int conv_axis_resolve(const ConvAxisRequest *request, ConvAxis *axis);

#ifdef __cplusplus
}
#endif

#endif
