// The machine's peak float32 multiply-add rate, measured: the physical limit that
// `make bench` divides every achieved GFLOP/s by.
//
// Each thread runs many independent dependency chains x = x * a + b over whole
// vector registers, so that neither the latency of one operation nor memory
// limits it: only the number of vector FMA units per core and their width do. A
// fused multiply-add counts as 2 floating-point operations (as GEMM and
// convolution figures count them). The widest instruction set this CPU offers is
// chosen at run time (x86-64: AVX-512F, else AVX2+FMA, else SSE2 with separate
// multiply and add; elsewhere a portable fmaf loop that the compiler vectorises),
// so the file is compiled for the baseline ISA and each kernel carries its own
// target attribute.
//
// Before a kernel is timed, a short run of it is compared bit for bit with a scalar
// reference: a figure is only printed for a kernel that did the work it counts.
//
//   fma_peak [--threads N] [--seconds S] [--trials K] [--isa NAME] [--check]
//     --threads N   the multi-threaded measurement's thread count (default: OpenMP's)
//     --seconds S   length of one timed trial (default 0.2); the best of K trials counts
//     --isa NAME    auto (default), or avx512, avx2, sse2 (x86-64), portable (others)
//     --check       only compare every kernel this CPU can run with the reference
// Prints "fma peak 1 thread: X GFLOP/s (ISA)" and, for N > 1,
// "fma peak N threads: Y GFLOP/s (ISA)".
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// -DFMA_PEAK_PORTABLE builds the portable kernel on x86 too (to check it there).
#if (defined(__x86_64__) || defined(__i386__)) && !defined(FMA_PEAK_PORTABLE)
#include <immintrin.h>
#define FMA_PEAK_X86 1
#endif

// Every kernel updates `chains` vectors of `lanes` floats in acc, `steps` times:
// fused: x = fma(x, a, b); unfused: x = (x * a) + b, rounded twice.
typedef void (*KernelFn)(float *acc, float a, float b, long steps);

typedef struct {
    const char *name;
    int lanes, chains, fused;
    KernelFn run;
    int (*available)(void);
} Kernel;

// Chains per thread: at least FMA latency (4 to 5 cycles) times the FMA units per
// core (2 on the big cores) independent vectors must be in flight, and all of them
// plus the two constants must fit the register file (32 zmm, 16 ymm/xmm).
#define CHAINS_AVX512 16
#define CHAINS_AVX2 12
#define CHAINS_SSE2 12
#define CHAINS_PORTABLE 64  // floats, not vectors: the compiler vectorises the inner loop

#ifdef FMA_PEAK_X86
__attribute__((target("avx512f"))) static void kernel_avx512(float *acc, float a, float b,
                                                             long steps) {
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
    __m512 x[CHAINS_AVX512];
    for (int j = 0; j < CHAINS_AVX512; j++) x[j] = _mm512_loadu_ps(acc + 16 * j);
    for (long i = 0; i < steps; i++) {
#pragma GCC unroll 16
        for (int j = 0; j < CHAINS_AVX512; j++) x[j] = _mm512_fmadd_ps(x[j], va, vb);
    }
    for (int j = 0; j < CHAINS_AVX512; j++) _mm512_storeu_ps(acc + 16 * j, x[j]);
}

__attribute__((target("avx2,fma"))) static void kernel_avx2(float *acc, float a, float b,
                                                            long steps) {
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
    __m256 x[CHAINS_AVX2];
    for (int j = 0; j < CHAINS_AVX2; j++) x[j] = _mm256_loadu_ps(acc + 8 * j);
    for (long i = 0; i < steps; i++) {
#pragma GCC unroll 12
        for (int j = 0; j < CHAINS_AVX2; j++) x[j] = _mm256_fmadd_ps(x[j], va, vb);
    }
    for (int j = 0; j < CHAINS_AVX2; j++) _mm256_storeu_ps(acc + 8 * j, x[j]);
}

static void kernel_sse2(float *acc, float a, float b, long steps) {
    const __m128 va = _mm_set1_ps(a), vb = _mm_set1_ps(b);
    __m128 x[CHAINS_SSE2];
    for (int j = 0; j < CHAINS_SSE2; j++) x[j] = _mm_loadu_ps(acc + 4 * j);
    for (long i = 0; i < steps; i++) {
#pragma GCC unroll 12
        for (int j = 0; j < CHAINS_SSE2; j++) x[j] = _mm_add_ps(_mm_mul_ps(x[j], va), vb);
    }
    for (int j = 0; j < CHAINS_SSE2; j++) _mm_storeu_ps(acc + 4 * j, x[j]);
}

static int has_avx512(void) { return __builtin_cpu_supports("avx512f"); }
static int has_avx2_fma(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
static int always(void) { return 1; }

static const Kernel kernels[] = {  // widest first: "auto" takes the first available
    {"avx512", 16, CHAINS_AVX512, 1, kernel_avx512, has_avx512},
    {"avx2", 8, CHAINS_AVX2, 1, kernel_avx2, has_avx2_fma},
    {"sse2", 4, CHAINS_SSE2, 0, kernel_sse2, always},
};
#else
static void kernel_portable(float *acc, float a, float b, long steps) {
    float x[CHAINS_PORTABLE];
    memcpy(x, acc, sizeof x);
    for (long i = 0; i < steps; i++)
        for (int j = 0; j < CHAINS_PORTABLE; j++) x[j] = fmaf(x[j], a, b);
    memcpy(acc, x, sizeof x);
}

static int always(void) { return 1; }

static const Kernel kernels[] = {
    {"portable", 1, CHAINS_PORTABLE, 1, kernel_portable, always},
};
#endif

#define N_KERNELS ((int)(sizeof kernels / sizeof kernels[0]))
// Each thread's accumulators on their own cache lines, far apart.
#define FLOATS_PER_THREAD 1024

typedef struct {
    int threads;     // the multi-threaded measurement
    double seconds;  // one trial
    int trials;
    const char *isa;
    int check_only;
} Options;

static int floats_per_run(const Kernel *k) { return k->lanes * k->chains; }

// The constants come through volatiles so that the compiler knows nothing of them.
static volatile float factor_source = 0.999f, addend_source = 0.001f;

static void fill_start(float *acc, int n) {
    for (int i = 0; i < n; i++) acc[i] = 0.5f + (float)i / 1024.0f;
}

// Runs k for `steps` steps and compares every element with a scalar loop of the same
// arithmetic; the values approach b / (1 - a) = 1 from different starts, so a kernel
// that did a step too many or too few, or mixed up elements, differs.
static int check_kernel(const Kernel *k, long steps) {
    float acc[FLOATS_PER_THREAD], want[FLOATS_PER_THREAD];
    const float a = factor_source, b = addend_source;
    int n = floats_per_run(k);
    fill_start(acc, n);
    fill_start(want, n);
    k->run(acc, a, b, steps);
    for (int i = 0; i < n; i++) {
        for (long s = 0; s < steps; s++) {
            if (k->fused) {
                want[i] = fmaf(want[i], a, b);
            } else {
                volatile float product = want[i] * a;  // stored: never fused
                want[i] = product + b;
            }
        }
        if (memcmp(&acc[i], &want[i], sizeof(float)) != 0) {
            fprintf(stderr, "fma_peak: kernel %s computed %.9g at element %d after %ld steps, "
                    "the scalar reference %.9g\n", k->name, acc[i], i, steps, want[i]);
            return -1;
        }
    }
    return 0;
}

// Seconds for `threads` threads to each run `steps` steps on their own accumulators.
static double timed_run(const Kernel *k, int threads, long steps, float *acc) {
    const float a = factor_source, b = addend_source;
    double start = omp_get_wtime();
#pragma omp parallel num_threads(threads)
    k->run(acc + (size_t)omp_get_thread_num() * FLOATS_PER_THREAD, a, b, steps);
    return omp_get_wtime() - start;
}

// Steps for one run of opt->seconds on one thread: doubled until a run lasts a
// quarter of that, then scaled. Calibrated on one thread only: the first wake-up of
// a thread team on a busy machine can take milliseconds and must not shrink the run.
static long calibrate_steps(const Kernel *k, const Options *opt, float *acc) {
    long steps = 1024;
    while (timed_run(k, 1, steps, acc) < opt->seconds / 4 && steps < (1L << 40)) steps *= 2;
    double seconds_per_step = timed_run(k, 1, steps, acc) / (double)steps;
    return seconds_per_step > 0 ? (long)(opt->seconds / seconds_per_step) + 1 : steps;
}

// GFLOP/s of `threads` threads each running `steps` steps: the best of opt->trials
// runs (interference from anything else only slows a run down).
static double measure(const Kernel *k, int threads, long steps, const Options *opt, float *acc) {
    timed_run(k, threads, steps / 8 + 1, acc);  // wakes the thread team
    double best = 0;
    for (int t = 0; t < opt->trials; t++) {
        double s = timed_run(k, threads, steps, acc);
        if (best == 0 || s < best) best = s;
    }
    double flops = 2.0 * (double)steps * floats_per_run(k) * threads;
    return flops / best / 1e9;
}

static void usage(const char *prog) {
    fprintf(stderr, "usage: %s [--threads N] [--seconds S] [--trials K] [--isa NAME] [--check]\n",
            prog);
}

// Returns 0, or 2 after a message.
static int parse_options(int argc, char **argv, Options *opt) {
    *opt = (Options){omp_get_max_threads(), 0.2, 5, "auto", 0};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (strcmp(arg, "--check") == 0) {
            opt->check_only = 1;
            continue;
        }
        if (!value) {
            fprintf(stderr, "fma_peak: unknown option or missing value: %s\n", arg);
            usage(argv[0]);
            return 2;
        }
        i++;
        if (strcmp(arg, "--threads") == 0) {
            long v = strtol(value, &end, 10);
            if (*end || v < 1 || v > 4096) goto bad;
            opt->threads = (int)v;
        } else if (strcmp(arg, "--seconds") == 0) {
            opt->seconds = strtod(value, &end);
            if (*end || !(opt->seconds > 0 && opt->seconds <= 60)) goto bad;
        } else if (strcmp(arg, "--trials") == 0) {
            long v = strtol(value, &end, 10);
            if (*end || v < 1 || v > 1000) goto bad;
            opt->trials = (int)v;
        } else if (strcmp(arg, "--isa") == 0) {
            opt->isa = value;
        } else {
            fprintf(stderr, "fma_peak: unknown option %s\n", arg);
            usage(argv[0]);
            return 2;
        }
        continue;
    bad:
        fprintf(stderr, "fma_peak: bad value '%s' for %s\n", value, arg);
        return 2;
    }
    return 0;
}

// The kernel --isa names (or the widest available), NULL after a message.
static const Kernel *pick_kernel(const char *isa) {
    for (int i = 0; i < N_KERNELS; i++) {
        const Kernel *k = &kernels[i];
        if (strcmp(isa, "auto") == 0 && k->available()) return k;
        if (strcmp(isa, k->name) == 0) {
            if (k->available()) return k;
            fprintf(stderr, "fma_peak: this CPU cannot run the %s kernel\n", isa);
            return NULL;
        }
    }
    fprintf(stderr, "fma_peak: unknown --isa '%s' (auto", isa);
    for (int i = 0; i < N_KERNELS; i++) fprintf(stderr, ", %s", kernels[i].name);
    fprintf(stderr, ")\n");
    return NULL;
}

static int check_all(void) {
    int failed = 0;
    for (int i = 0; i < N_KERNELS; i++) {
        const Kernel *k = &kernels[i];
        if (!k->available()) {
            printf("check %s: not available on this CPU\n", k->name);
            continue;
        }
        int ok = check_kernel(k, 1000) == 0 && check_kernel(k, 1) == 0;
        printf("check %s: %s (%d chains x %d lanes, %s)\n", k->name, ok ? "ok" : "FAILED",
               k->chains, k->lanes, k->fused ? "fused multiply-add" : "multiply then add");
        failed |= !ok;
    }
    return failed ? 1 : 0;
}

int main(int argc, char **argv) {
    Options opt;
    int rc = parse_options(argc, argv, &opt);
    if (rc != 0) return rc;
    if (opt.check_only) return check_all();
    const Kernel *k = pick_kernel(opt.isa);
    if (!k) return 2;
    if (check_kernel(k, 1000) != 0) return 1;
    float *acc = aligned_alloc(64, (size_t)opt.threads * FLOATS_PER_THREAD * sizeof(float));
    if (!acc) {
        fprintf(stderr, "fma_peak: out of memory\n");
        return 1;
    }
    for (int t = 0; t < opt.threads; t++) fill_start(acc + (size_t)t * FLOATS_PER_THREAD, 1024);
    const char *how = k->fused ? "" : ", multiply + add";
    long steps = calibrate_steps(k, &opt, acc);
    printf("fma peak 1 thread: %.1f GFLOP/s (%s%s)\n", measure(k, 1, steps, &opt, acc), k->name,
           how);
    if (opt.threads > 1)
        printf("fma peak %d threads: %.1f GFLOP/s (%s%s)\n", opt.threads,
               measure(k, opt.threads, steps, &opt, acc), k->name, how);
    free(acc);
    return 0;
}
