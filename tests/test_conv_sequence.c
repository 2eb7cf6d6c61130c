// conv2d_forward_sequence against conv2d_forward called on each convolution in order:
// the CPU backend runs the calls that split each image between its threads (batch 1) in
// one team of threads, and the results must be bit-identical to the calls one by one.
//
// The chain is a small ResNet at batch 1 as sdinfer runs it: channels-last activations
// between the Winograd convolutions, an NCHW input and output at the ends, residuals
// in both layouts (and written over in place), a stride-2 convolution that no team
// takes in the middle, and channel counts that split by tiles (16, 32) and by output
// channels (128). For every kernel set this CPU runs and 1 to 3 threads:
//   - every output of the sequence bit-identical to the call-by-call one;
//   - with 2 threads, the sequence really holds a team of 3 calls or more (else the test
//     would compare the one-by-one path with itself): the last three, of 7M to 29M
//     multiply-adds, split on every kernel set (the 16-channel ones not with AVX-512);
//   - with 2 and 3 threads whose shares are skewed (thread_balance.c: one thread's speed
//     set 8 times the others', then the others' 8 times its own), the sequence
//     bit-identical to the calls one by one on 1 thread, and no output left unwritten.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu/cpu_kernels.h"
#include "cpu/cpu_ops.h"
#include "harness.h"
#include "rng.h"
#include "test_arrays.h"

#define MAX_SETS 3
#define THREAD_VARIANTS 3
#define CALLS 10
#define BUFFERS 8

typedef struct {
    ConvGeom g[CALLS];
    int in[CALLS], out[CALLS], residual[CALLS];  // buffer indices, -1: none
    real *w[CALLS], *bias[CALLS];
    size_t size[BUFFERS];
} Chain;

static ConvGeom conv3x3(int in_c, int out_c, int size, int stride, int in_cl, int out_cl,
                        int residual_cl) {
    const int out = (size - 1) / stride + 1;
    ConvGeom g = {1,  in_c, size, size, out_c, out, out, 3, 3, stride, stride, 1, 1,
                  1,  in_cl, out_cl, residual_cl};
    return g;
}

static void add_call(Chain *c, int i, ConvGeom g, int in, int out, int residual, Rng *rng) {
    c->g[i] = g;
    c->in[i] = in, c->out[i] = out, c->residual[i] = residual;
    const size_t weights = (size_t)g.out_c * g.in_c * 9;
    c->w[i] = random_array(rng, weights);
    for (size_t k = 0; k < weights; k++) c->w[i][k] *= (real)(1.0 / sqrt((double)g.in_c * 9));
    c->bias[i] = random_array(rng, (size_t)g.out_c);
    c->size[in] = (size_t)g.in_c * g.in_h * g.in_w;
    c->size[out] = (size_t)g.out_c * g.out_h * g.out_w;
}

// Buffer 0 is the NCHW input, buffer 7 a residual that call 6 writes over; a call's
// comment says what it adds to the chain's cases (CL: channels-last).
static void make_chain(Chain *c, Rng *rng) {
    memset(c, 0, sizeof *c);
    add_call(c, 0, conv3x3(16, 16, 28, 1, 0, 1, 0), 0, 1, -1, rng);  // NCHW in, CL out
    add_call(c, 1, conv3x3(16, 16, 28, 1, 1, 1, 0), 1, 2, -1, rng);  // CL to CL
    add_call(c, 2, conv3x3(16, 16, 28, 1, 1, 1, 1), 2, 3, 1, rng);   // + CL residual
    add_call(c, 3, conv3x3(16, 16, 28, 1, 1, 0, 0), 3, 4, 0, rng);   // + NCHW residual, NCHW out
    add_call(c, 4, conv3x3(16, 32, 28, 2, 0, 0, 0), 4, 5, -1, rng);  // stride 2: no team
    add_call(c, 5, conv3x3(32, 32, 14, 1, 0, 1, 0), 5, 6, 5, rng);   // NCHW residual, CL out
    add_call(c, 6, conv3x3(32, 32, 14, 1, 1, 1, 1), 6, 7, 7, rng);   // the residual is y itself
    add_call(c, 7, conv3x3(32, 128, 14, 1, 1, 1, 0), 7, 2, -1, rng); // split by output channels
    add_call(c, 8, conv3x3(128, 128, 14, 1, 1, 1, 0), 2, 3, -1, rng);
    add_call(c, 9, conv3x3(128, 128, 14, 1, 1, 0, 1), 3, 4, 2, rng);  // CL residual, NCHW out
}

static void free_chain(Chain *c) {
    for (int i = 0; i < CALLS; i++) free(c->w[i]), free(c->bias[i]);
}

static ConvCall call_of(const Chain *c, int i, real **buffers) {
    ConvCall call = {&c->g[i],   buffers[c->in[i]],
                     c->w[i],    c->bias[i],
                     c->residual[i] >= 0 ? buffers[c->residual[i]] : NULL,
                     clamp_relu(1), buffers[c->out[i]]};
    return call;
}

// Fresh buffers: the input random, the others NaN except those a call adds in place.
static void fill_buffers(const Chain *c, Rng *rng, real **buffers) {
    size_t largest = 0;
    for (int b = 0; b < BUFFERS; b++) largest = c->size[b] > largest ? c->size[b] : largest;
    for (int b = 0; b < BUFFERS; b++) {
        buffers[b] = checked_calloc(largest, sizeof(real));
        for (size_t k = 0; k < largest; k++) buffers[b][k] = (real)NAN;
    }
    for (size_t k = 0; k < c->size[0]; k++) buffers[0][k] = (real)(2.0 * rng_uniform(rng) - 1.0);
    for (size_t k = 0; k < c->size[7]; k++) buffers[7][k] = (real)(2.0 * rng_uniform(rng) - 1.0);
}

// Buffers 1.. of two runs bit-identical, no NaN left (every output element written).
static void compare_buffers(TestContext *t, const Chain *c, real **want, real **got,
                            const char *what) {
    for (int b = 1; b < BUFFERS; b++) {
        size_t differ = 0, nan = 0;
        for (size_t k = 0; k < c->size[b]; k++) {
            differ += memcmp(&want[b][k], &got[b][k], sizeof(real)) != 0;
            nan += isnan(got[b][k]);
        }
        CHECK(t, differ == 0 && nan == 0, "%s, buffer %d: %zu of %zu values differ, %zu NaN",
              what, b, differ, c->size[b], nan);
    }
}

// The largest team the sequence holds, as the backend splits it.
static int longest_team(Backend *be, const ConvCall *calls) {
    int longest = 0;
    for (int i = 0; i < CALLS; i++) {
        const int length = cpu_winograd_team_length(cpu_state(be), calls + i, CALLS - i);
        if (length > longest) longest = length;
    }
    return longest;
}

// Two sets of fresh buffers from the same seed: the chain's calls run one by one on `be`
// over `want`, and `calls` made over `got` for a sequence to run.
static void calls_one_by_one(const Chain *c, Backend *be, int seed, real **want, real **got,
                             ConvCall *calls) {
    Rng rng_a, rng_b;
    rng_seed(&rng_a, seed, 1), rng_seed(&rng_b, seed, 1);
    fill_buffers(c, &rng_a, want);
    fill_buffers(c, &rng_b, got);
    for (int i = 0; i < CALLS; i++) {
        const ConvCall k = call_of(c, i, want);
        be->conv2d_forward(be, k.g, k.x, k.w, k.bias, k.residual, k.clamp, k.y);
        calls[i] = call_of(c, i, got);
    }
}

static void check_backend(TestContext *t, Backend *be, const char *isa, int threads,
                          const Chain *c) {
    real *one_by_one[BUFFERS], *sequence[BUFFERS];
    ConvCall calls[CALLS];
    calls_one_by_one(c, be, 11, one_by_one, sequence, calls);
    be->conv2d_forward_sequence(be, calls, CALLS);
    char what[96];
    snprintf(what, sizeof what, "%s, %d threads, the sequence against the calls one by one", isa,
             threads);
    compare_buffers(t, c, one_by_one, sequence, what);
    if (threads == 2) {
        const int team = longest_team(be, calls);
        CHECK(t, team >= 3, "%s, 2 threads: the longest team holds %d calls (want 3 or more)",
              isa, team);
    }
    for (int b = 0; b < BUFFERS; b++) free(one_by_one[b]), free(sequence[b]);
}

// The sequence on `be` with thread `fast`'s speed 8 times the others' (or, fast < 0,
// thread 0's 8 times slower), against the calls one by one on the 1-thread `single`.
static void check_skewed(TestContext *t, Backend *single, Backend *be, const char *isa,
                         int fast, const Chain *c) {
    real *reference[BUFFERS], *skewed[BUFFERS];
    ConvCall calls[CALLS];
    calls_one_by_one(c, single, 13, reference, skewed, calls);
    ThreadBalance *balance = &cpu_state(be)->balance;
    for (int i = 0; i < balance->threads; i++)
        balance->speed[i] = fast >= 0 ? (i == fast ? 8.0 : 1.0) : (i == 0 ? 1.0 / 8 : 1.0);
    be->conv2d_forward_sequence(be, calls, CALLS);
    char what[96];
    snprintf(what, sizeof what, "%s, %d threads, %s", isa, balance->threads,
             fast >= 0 ? "thread 0 8x faster" : "thread 0 8x slower");
    compare_buffers(t, c, reference, skewed, what);
    for (int b = 0; b < BUFFERS; b++) free(reference[b]), free(skewed[b]);
}

int main(void) {
    TestContext t = {.suite = "test_conv_sequence"};
    const CpuKernels *sets[MAX_SETS];
    const int n_sets = cpu_kernels_available(sets, MAX_SETS);
    Rng rng;
    rng_seed(&rng, 5, 2);
    Chain chain;
    make_chain(&chain, &rng);
    for (int set = 0; set < n_sets; set++) {
        Backend *be[THREAD_VARIANTS];
        cpu_backends_by_threads(be, THREAD_VARIANTS, sets[set]->isa, NULL);
        // Twice each: the second run finds the transformed weights made by the first.
        for (int round = 0; round < 2; round++)
            for (int b = 0; b < THREAD_VARIANTS; b++) check_backend(&t, be[b], sets[set]->isa, b + 1, &chain);
        for (int b = 1; b < THREAD_VARIANTS; b++) {
            check_skewed(&t, be[0], be[b], sets[set]->isa, 0, &chain);
            check_skewed(&t, be[0], be[b], sets[set]->isa, -1, &chain);
        }
        backends_destroy(be, THREAD_VARIANTS);
    }
    free_chain(&chain);
    return test_finish(&t);
}
