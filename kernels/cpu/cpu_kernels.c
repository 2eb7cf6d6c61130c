// Picks the CPU backend's kernel build at run time (cpu_kernels.h).
#include "cpu_kernels.h"

#include <stdio.h>
#include <string.h>

// Whether this CPU runs the instructions a build was compiled for: the whole
// x86-64-v3 / -v4 feature level, since gcc may use any of its instructions
// (BMI2, MOVBE, AVX-512 BW/DQ/VL...), not just the vector ones.
static int cpu_runs(const CpuKernels *k) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (k == &cpu_kernels_avx512) return __builtin_cpu_supports("x86-64-v4") != 0;
    if (k == &cpu_kernels_avx2) return __builtin_cpu_supports("x86-64-v3") != 0;
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
