// A VEC_LEN x VEC_LEN block transposed in registers: the step between channel-major
// planes (NCHW) and channels-last vectors, for the kernels that vectorise over channels
// (simd/conv_winograd.c, simd/conv_depthwise.c). One copy per kernel build (simd.h).
#ifndef SD_SIMD_TRANSPOSE_H
#define SD_SIMD_TRANSPOSE_H

#include "simd.h"

// r[i][j] <-> r[j][i] for a VEC_LEN x VEC_LEN block held in registers: at each bit s of
// the index, rows with bit s clear swap their columns with bit s set against the
// columns with bit s clear of their partner row (log2(VEC_LEN) rounds of shuffles).
// The shuffle masks, constants: lane j of the row with bit s clear takes, where bit s of j
// is set, the partner's lane j ^ s (index VEC_LEN + (j ^ s) of the pair); the partner
// row's lane j, where bit s of j is clear, takes this row's lane j ^ s.
#define LOW_LANE(j, s) (((j) & (s)) ? VEC_LANES + ((j) ^ (s)) : (j))
#define HIGH_LANE(j, s) (((j) & (s)) ? VEC_LANES + (j) : ((j) ^ (s)))
#define LANES2(F, s, j) F(j, s), F((j) + 1, s)
#define LANES4(F, s, j) LANES2(F, s, j), LANES2(F, s, (j) + 2)
#define LANES8(F, s, j) LANES4(F, s, j), LANES4(F, s, (j) + 4)
#define LANES16(F, s, j) LANES8(F, s, j), LANES8(F, s, (j) + 8)
#if VEC_LANES == 16
#define MASKS(F) {{LANES16(F, 1, 0)}, {LANES16(F, 2, 0)}, {LANES16(F, 4, 0)}, {LANES16(F, 8, 0)}}
#define STAGES 4
#elif VEC_LANES == 8
#define MASKS(F) {{LANES8(F, 1, 0)}, {LANES8(F, 2, 0)}, {LANES8(F, 4, 0)}}
#define STAGES 3
#elif VEC_LANES == 4
#define MASKS(F) {{LANES4(F, 1, 0)}, {LANES4(F, 2, 0)}}
#define STAGES 2
#elif VEC_LANES == 2
#define MASKS(F) {{LANES2(F, 1, 0)}}
#define STAGES 1
#endif
static const IndexVec low_masks[STAGES] = MASKS(LOW_LANE);
static const IndexVec high_masks[STAGES] = MASKS(HIGH_LANE);

__attribute__((always_inline)) static inline void transpose_block(RealVec r[VEC_LEN]) {
#pragma GCC unroll 8
    for (int stage = 0; stage < STAGES; stage++) {
        const int s = 1 << stage;
#pragma GCC unroll 16
        for (int i = 0; i < VEC_LEN; i++) {
            if (i & s) continue;
            const RealVec a = r[i], b = r[i | s];
            r[i] = shuffle_pair(a, b, low_masks[stage]);
            r[i | s] = shuffle_pair(a, b, high_masks[stage]);
        }
    }
}

#endif
