// What each kernel build of kernels/cpu/simd/ computes with (see cpu_kernels.h):
// the vector width, the register budget the tiles are sized for, and the suffix
// that keeps each build's functions apart (direct_conv_pad_avx512, ...).
#ifndef SD_SIMD_H
#define SD_SIMD_H

#include <string.h>

#include "../cpu_kernels.h"

#if defined(SD_ISA_AVX512)
#define VEC_BYTES 64
#define VEC_REGISTERS 32
#define SIMD_NAME(name) name##_avx512
#define SIMD_ISA "avx512"
#elif defined(SD_ISA_AVX2)
#define VEC_BYTES 32
#define VEC_REGISTERS 16
#define SIMD_NAME(name) name##_avx2
#define SIMD_ISA "avx2"
#elif defined(SD_ISA_PORTABLE)
#define VEC_BYTES 16  // SSE2 on any x86-64, NEON on aarch64, scalar code elsewhere
#define VEC_REGISTERS 16
#define SIMD_NAME(name) name##_portable
#define SIMD_ISA "portable"
#else
#error "kernels/cpu/simd/ is compiled with one of -DSD_ISA_PORTABLE, -DSD_ISA_AVX2, -DSD_ISA_AVX512"
#endif

#define VEC_LEN ((int)(VEC_BYTES / sizeof(real)))
// The same as a preprocessor number (for #if).
#if defined(SD_REAL_DOUBLE)
#define VEC_LANES (VEC_BYTES / 8)
#else
#define VEC_LANES (VEC_BYTES / 4)
#endif
typedef real RealVec __attribute__((vector_size(VEC_BYTES)));
// Lane indices for shuffles: integers of the lanes' width.
#if defined(SD_REAL_DOUBLE)
typedef long long LaneIndex;
#else
typedef int LaneIndex;
#endif
typedef LaneIndex IndexVec __attribute__((vector_size(VEC_BYTES)));

// out[j] = v[mask[j]], and out[j] = (a:b)[mask[j]] over the pair's 2 * VEC_LANES lanes.
// gcc's __builtin_shuffle takes the mask from a variable; clang (the fuzzing build) has
// no such builtin, and moves the lanes one by one there: the same values, slower.
#if defined(__clang__)
static inline RealVec shuffle_lanes(RealVec v, IndexVec mask) {
    RealVec out;
    for (int j = 0; j < VEC_LANES; j++) out[j] = v[mask[j] & (VEC_LANES - 1)];
    return out;
}
static inline RealVec shuffle_pair(RealVec a, RealVec b, IndexVec mask) {
    RealVec out;
    for (int j = 0; j < VEC_LANES; j++) {
        const int lane = (int)(mask[j] & (2 * VEC_LANES - 1));
        out[j] = lane < VEC_LANES ? a[lane] : b[lane - VEC_LANES];
    }
    return out;
}
#else
#define shuffle_lanes(v, mask) __builtin_shuffle(v, mask)
#define shuffle_pair(a, b, mask) __builtin_shuffle(a, b, mask)
#endif

static inline RealVec load_vec(const real *p) {
    RealVec v;
    memcpy(&v, p, sizeof v);  // unaligned load
    return v;
}

static inline void store_vec(real *p, RealVec v) { memcpy(p, &v, sizeof v); }

// The first `count` (< VEC_LEN) values at p, zeros in the other lanes: the end of a row,
// without reading past it.
static inline RealVec load_lanes(const real *p, int count) {
    RealVec v = {0};
    for (int j = 0; j < count; j++) v[j] = p[j];
    return v;
}

// clamp_apply (kernels/backend.h) on every lane, a NaN lane becoming min: bit selects,
// which gcc and clang both turn into compares and blends.
// A ReLU (min 0, no max), the common case, is one compare and one masked move.
static inline RealVec clamp_vec(OutputClamp c, RealVec v) {
    if (!c.on) return v;
    const RealVec zero = {0}, min = zero + c.min, max = zero + c.max;
    const IndexVec above_min = (IndexVec)(v > min);
    if (c.min == 0 && c.max == (real)INFINITY) return (RealVec)((IndexVec)v & above_min);
    v = (RealVec)(((IndexVec)v & above_min) | ((IndexVec)min & ~above_min));
    if (c.max == (real)INFINITY) return v;
    const IndexVec above_max = (IndexVec)(v > max);
    return (RealVec)(((IndexVec)max & above_max) | ((IndexVec)v & ~above_max));
}

// fp-contract: gcc fuses acc + w * x into one FMA only when allowed, and ISO C mode
// (-std=c11) does not allow it by default. Every kernel function that does the
// multiply-adds (and every function they are inlined into) carries this.
#define SIMD_FMA __attribute__((optimize("fp-contract=fast")))

#endif
