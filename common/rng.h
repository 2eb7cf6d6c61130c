// A small seedable random number generator (xoshiro256**) whose whole state is
// four 64-bit words, so a checkpoint can save it and a resumed run continues
// the exact same sequence. Independent streams (initialisation, shuffling,
// augmentation, block gates) are seeded from one user seed and a stream id.
#ifndef SD_RNG_H
#define SD_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

enum {
    RNG_STREAM_INIT = 1,     // parameter initialisation
    RNG_STREAM_SHUFFLE = 2,  // epoch order of the training examples
    RNG_STREAM_AUGMENT = 3,  // random crops / flips
    RNG_STREAM_GATES = 4,    // the per-mini-batch Bernoulli draw of each block
    RNG_STREAM_SPLIT = 5,    // the train/validation split
};

void rng_seed(Rng *rng, uint64_t seed, uint64_t stream);
uint64_t rng_next_u64(Rng *rng);
double rng_uniform(Rng *rng);                 // in [0, 1), 53 random bits
uint64_t rng_below(Rng *rng, uint64_t bound); // uniform in [0, bound), unbiased; bound > 0
double rng_normal(Rng *rng);                  // standard normal (Box-Muller, no cached spare)
void rng_shuffle_u32(Rng *rng, uint32_t *items, uint32_t count);  // Fisher-Yates

#endif
