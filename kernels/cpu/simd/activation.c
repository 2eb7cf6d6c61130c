// The element-wise activations of foreign CNNs (sdinfer's activation steps), one loop
// per vector of this build's width. Sigmoid and SiLU go through exp_vec, a float e^x on
// vectors: libm's exp does not vectorise (without -ffast-math), and EfficientNet's
// Sigmoids through it took most of that network's time.
#include <math.h>
#include <stdint.h>

#include "simd.h"

// min(max(v, low), high) lane by lane, a NaN lane staying NaN (ONNX Clip).
static inline RealVec clip_vec(RealVec v, real low, real high) {
    const RealVec zero = {0}, low_vec = zero + low, high_vec = zero + high;
    const IndexVec below = (IndexVec)(v < low_vec);
    v = (RealVec)(((IndexVec)low_vec & below) | ((IndexVec)v & ~below));
    const IndexVec above = (IndexVec)(v > high_vec);
    return (RealVec)(((IndexVec)high_vec & above) | ((IndexVec)v & ~above));
}

#if defined(SD_REAL_DOUBLE)
// The double build is the gradient-check reference: libm, not speed.
static inline RealVec exp_vec(RealVec x) {
    for (int i = 0; i < VEC_LEN; i++) x[i] = exp(x[i]);
    return x;
}
#else
// e^x = 2^n e^r with n = round(x / ln 2) and |r| <= ln(2) / 2, e^r from its Taylor
// series to r^7 (truncation error r^8 / 8! < 6e-9 relative, so float rounding
// dominates: a few ulp). x is first limited to [-87, 88], where 2^n is a normal float;
// beyond it the answer saturates (e^-87 = 1.6e-38, e^88 = 1.7e38), which in
// 1 / (1 + e^-x) changes nothing a float can show. n comes from the float addition of
// 1.5 * 2^23, which rounds to an integer and leaves it in the low mantissa bits; 2^n
// is then built from its bits. Written on vectors (libm's exp does not vectorise).
static inline RealVec exp_vec(RealVec x) {
    const real round_magic = 12582912.0f;  // 1.5 * 2^23
    const real log2e = 1.44269504088896341f;
    const real ln2_high = 0.693359375f, ln2_low = -2.12194440e-4f;  // ln 2 = high + low
    const RealVec zero = {0};
    x = clip_vec(x, -87.0f, 88.0f);
    const RealVec shifted = x * log2e + round_magic;
    const RealVec n = shifted - round_magic;
    const RealVec r = (x - n * ln2_high) - n * ln2_low;
    RealVec p = zero + 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const IndexVec exponent = (IndexVec)shifted - (IndexVec)(zero + round_magic) + 127;
    return p * (RealVec)(exponent << 23);  // 2^n: n + 127 in the exponent field
}
#endif

static inline RealVec sigmoid_vec(RealVec x) { return 1 / (1 + exp_vec(-x)); }

static inline RealVec activate(ActivationOp op, RealVec x, real alpha, real beta) {
    switch (op) {
    case ACTIVATION_SIGMOID: return sigmoid_vec(x);
    case ACTIVATION_SILU: return x * sigmoid_vec(x);
    case ACTIVATION_HARD_SIGMOID: return clip_vec(alpha * x + beta, 0, 1);
    case ACTIVATION_HARD_SWISH: return x * clip_vec(x * (real)(1.0 / 6) + (real)0.5, 0, 1);
    case ACTIVATION_CLIP: return clip_vec(x, alpha, beta);
    }
    return x;
}

// Whole vectors, then the last count % VEC_LEN values through one padded vector: every
// value takes the same arithmetic wherever it sits.
void SIMD_NAME(activation)(ActivationOp op, size_t count, real alpha, real beta, const real *x,
                           real *y) {
    const size_t whole = count / VEC_LEN * VEC_LEN;
    for (size_t i = 0; i < whole; i += VEC_LEN)
        store_vec(y + i, activate(op, load_vec(x + i), alpha, beta));
    if (whole == count) return;
    real tail[VEC_LEN] = {0};
    memcpy(tail, x + whole, sizeof(real) * (count - whole));
    const RealVec out = activate(op, load_vec(tail), alpha, beta);
    memcpy(tail, &out, sizeof tail);
    memcpy(y + whole, tail, sizeof(real) * (count - whole));
}
