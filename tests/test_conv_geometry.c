// common/conv_geometry.c (window output sizes, auto_pad, ceil mode) and
// common/bn_fold.c (BN folded into a conv), against values worked out by hand
// from the ONNX operator definitions and PyTorch's pooling rule.
#include "../common/bn_fold.h"
#include "../common/conv_geometry.h"
#include "harness.h"

static void check_output_size(TestContext *t) {
    CHECK(t, conv_output_size(32, 1, 1, 3, 1, 1) == 32, "3x3 pad 1 stride 1 keeps 32");
    CHECK(t, conv_output_size(32, 1, 1, 3, 1, 2) == 16, "3x3 pad 1 stride 2: 32 -> 16");
    CHECK(t, conv_output_size(7, 0, 0, 3, 2, 1) == 3, "dilation 2 covers 5 of 7: 3 positions");
    CHECK(t, conv_output_size(5, 0, 0, 5, 1, 1) == 1, "kernel as large as the input: 1");
    CHECK(t, conv_output_size(2, 0, 0, 3, 1, 1) == 0, "kernel larger than the input: 0");
    CHECK(t, conv_output_size(4, 1, 0, 3, 1, 2) == 2, "asymmetric pads 1/0: (5 - 3) / 2 + 1");
}

static ConvAxis resolve(TestContext *t, ConvAxisRequest request, int want_status) {
    ConvAxis axis = {-1, -1, -1, -1};
    CHECK(t, conv_axis_resolve(&request, &axis) == want_status, "status %d for in %lld kernel %lld",
          want_status, (long long)request.in, (long long)request.kernel);
    return axis;
}

static void check_auto_pad(TestContext *t) {
    ConvAxis a = resolve(t, (ConvAxisRequest){.in = 5, .kernel = 3, .stride = 2, .dilation = 1,
                                              .rule = CONV_PAD_SAME_UPPER}, 0);
    CHECK(t, a.out == 3 && a.pad_begin == 1, "SAME_UPPER 5/k3/s2: out 3, begin 1 (got %lld, %lld)",
          (long long)a.out, (long long)a.pad_begin);
    a = resolve(t, (ConvAxisRequest){.in = 6, .kernel = 4, .stride = 1, .dilation = 1,
                                     .rule = CONV_PAD_SAME_UPPER}, 0);
    CHECK(t, a.out == 6 && a.pad_begin == 1, "SAME_UPPER odd total 3: begin 1 (got %lld)",
          (long long)a.pad_begin);
    a = resolve(t, (ConvAxisRequest){.in = 6, .kernel = 4, .stride = 1, .dilation = 1,
                                     .rule = CONV_PAD_SAME_LOWER}, 0);
    CHECK(t, a.out == 6 && a.pad_begin == 2, "SAME_LOWER odd total 3: begin 2 (got %lld)",
          (long long)a.pad_begin);
    a = resolve(t, (ConvAxisRequest){.in = 5, .kernel = 3, .stride = 2, .dilation = 1,
                                     .pad_begin = 7, .pad_end = 7, .rule = CONV_PAD_VALID}, 0);
    CHECK(t, a.out == 2 && a.pad_begin == 0, "VALID ignores pads: out 2 (got %lld, %lld)",
          (long long)a.out, (long long)a.pad_begin);
}

static void check_ceil_mode(TestContext *t) {
    ConvAxis a = resolve(t, (ConvAxisRequest){.in = 6, .kernel = 3, .stride = 2, .dilation = 1,
                                              .ceil_mode = 1}, 0);
    CHECK(t, a.out == 3, "ceil mode 6/k3/s2: 3 windows (got %lld)", (long long)a.out);
    a = resolve(t, (ConvAxisRequest){.in = 6, .kernel = 3, .stride = 2, .dilation = 1}, 0);
    CHECK(t, a.out == 2, "floor mode 6/k3/s2: 2 windows (got %lld)", (long long)a.out);
    // 5 + pads 1/1, k2 s2: ceil gives 4, but the 4th window would start in the end padding.
    a = resolve(t, (ConvAxisRequest){.in = 5, .kernel = 2, .stride = 2, .dilation = 1,
                                     .pad_begin = 1, .pad_end = 1, .ceil_mode = 1}, 0);
    CHECK(t, a.out == 3, "ceil mode drops a window in the padding only (got %lld)",
          (long long)a.out);
}

static void check_too_large(TestContext *t) {
    ConvAxis a = resolve(t, (ConvAxisRequest){.in = 2, .kernel = 5, .stride = 1, .dilation = 1,
                                              .pad_begin = 1}, -1);
    CHECK(t, a.covered == 5 && a.padded_in == 3, "refused window says 5 > 3 (got %lld, %lld)",
          (long long)a.covered, (long long)a.padded_in);
    a = resolve(t, (ConvAxisRequest){.in = 4, .kernel = 3, .stride = 1, .dilation = 2}, -1);
    CHECK(t, a.covered == 5 && a.padded_in == 4, "dilated window 5 > 4 (got %lld, %lld)",
          (long long)a.covered, (long long)a.padded_in);
}

// factor = gamma / sqrt(var + eps): 2/4 = 0.5 and 3/2 = 1.5; scale 0.5. Exact in binary.
static void check_bn_fold(TestContext *t) {
    const real weight[4] = {1, 2, -1, 0.5f}, bias[2] = {0.5f, -1};
    const real gamma[2] = {2, 3}, beta[2] = {1, 0}, mean[2] = {1, -2}, var[2] = {15, 3};
    BatchNormParams bn = {gamma, beta, mean, var, 1.0};
    float w[4], b[2];
    bn_fold_into_conv(weight, bias, 2, 2, &bn, 0.5, w, b);
    const float want_w[4] = {0.25f, 0.5f, -0.75f, 0.375f};
    for (int i = 0; i < 4; i++) CHECK(t, w[i] == want_w[i], "w'[%d] = %g, want %g", i, w[i], want_w[i]);
    // 0.5 ((0.5 - 1) 0.5 + 1) and 0.5 ((-1 + 2) 1.5 + 0)
    CHECK(t, b[0] == 0.375f && b[1] == 0.75f, "b' with a bias: %g %g, want 0.375 0.75", b[0], b[1]);
    bn_fold_into_conv(weight, NULL, 2, 2, &bn, 0.5, w, b);
    CHECK(t, b[0] == 0.25f && b[1] == 1.5f, "b' without a bias: %g %g, want 0.25 1.5", b[0], b[1]);
}

int main(void) {
    TestContext t = {"conv_geometry", 0, 0, 0};
    check_output_size(&t);
    check_auto_pad(&t);
    check_ceil_mode(&t);
    check_too_large(&t);
    check_bn_fold(&t);
    return test_finish(&t);
}
