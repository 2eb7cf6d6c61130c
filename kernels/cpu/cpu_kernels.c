// Picks the CPU backend's kernel build at run time (cpu_kernels.h).
#include "cpu_kernels.h"

#include <stdio.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>

// The x86-64-v3 instructions that __builtin_cpu_supports cannot name in every
// compiler (clang 14 knows neither the level names nor these three): F16C and
// MOVBE (CPUID leaf 1, ECX bits 29 and 22) and LZCNT (leaf 0x80000001, ECX bit 5).
static int cpu_has_v3_extras(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    int f16c_movbe = (ecx >> 29 & 1) && (ecx >> 22 & 1);
    if (!__get_cpuid(0x80000001u, &eax, &ebx, &ecx, &edx)) return 0;
    return f16c_movbe && (ecx >> 5 & 1);
}

// x86-64-v3 feature by feature, since gcc may use any of the level's
// instructions in the avx2 build, not just the vector ones.
static int cpu_runs_v3(void) {
    return __builtin_cpu_supports("avx") && __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") &&
           __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("popcnt") &&
           __builtin_cpu_supports("sse4.2") && cpu_has_v3_extras();
}

// x86-64-v4 adds AVX-512 F, BW, CD, DQ and VL.
static int cpu_runs_v4(void) {
    return cpu_runs_v3() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}
#endif

// Whether this CPU runs the instructions a build was compiled for.
static int cpu_runs(const CpuKernels *k) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (k == &cpu_kernels_avx512) return cpu_runs_v4();
    if (k == &cpu_kernels_avx2) return cpu_runs_v3();
#endif
    return k == &cpu_kernels_portable;
}

// Every build, narrowest first.
static int all_sets(const CpuKernels **sets) {
    int n = 0;
    sets[n++] = &cpu_kernels_portable;
#if defined(__x86_64__)
    sets[n++] = &cpu_kernels_avx2;
    sets[n++] = &cpu_kernels_avx512;
#endif
    return n;
}

int cpu_kernels_available(const CpuKernels **sets, int max_sets) {
    const CpuKernels *all[3];
    int n = all_sets(all), count = 0;
    for (int i = 0; i < n && count < max_sets; i++)
        if (cpu_runs(all[i])) sets[count++] = all[i];
    return count;
}

const CpuKernels *cpu_kernels_choose(const char *wanted, char *err, size_t err_len) {
    const CpuKernels *all[3];
    int n = all_sets(all);
    if (!wanted || !wanted[0]) {
        const CpuKernels *widest = all[0];
        for (int i = 0; i < n; i++)
            if (cpu_runs(all[i])) widest = all[i];
        return widest;
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(all[i]->isa, wanted) != 0) continue;
        if (cpu_runs(all[i])) return all[i];
        snprintf(err, err_len, "the %s kernels need instructions this CPU does not have", wanted);
        return NULL;
    }
    char names[64] = "";
    for (int i = 0; i < n; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                 all[i]->isa);
    snprintf(err, err_len, "unknown CPU kernel set '%s' (this build has: %s)", wanted, names);
    return NULL;
}
