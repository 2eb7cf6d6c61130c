// Per-block recordings of the training forward and backward (CUDA graphs on the
// CUDA backend; nothing on backends without record/replay). Private to net*.c.
//
// A block's work is a fixed list of ops whose pointers depend on only two
// things: its input x (the output of the nearest earlier block that did work,
// so it changes with the gate pattern) and, backward, which of the two gradient
// buffers holds d(output). Those two pointers are the key. Each block keeps up
// to NET_RECORDINGS_PER_KEYSET recordings per direction; a key seen for the
// first time is recorded, once the block has run its ops eagerly at least once
// (so every convolution shape has its algorithms and the workspace its size);
// a key that finds the cache full simply runs eagerly.
#ifndef SD_NET_RECORDING_H
#define SD_NET_RECORDING_H

#include "net.h"

typedef enum { BLOCK_FORWARD = 0, BLOCK_BACKWARD = 1 } BlockDirection;

typedef void (*BlockWork)(void *ctx);

// Runs work(ctx): by replaying the recording for (block, direction, key_a,
// key_b), or by recording it first, or eagerly.
void net_run_block_work(Net *net, int block, BlockDirection direction, const void *key_a,
                        const void *key_b, BlockWork work, void *ctx);

#endif
