// Times the three convolution passes of the CPU backend on the ResNet-110
// CIFAR shapes (batch 32, 3x3, stride 1, pad 1). Not a test: prints the median
// of several repetitions in milliseconds, and the minimum (on a machine shared
// with other jobs the minimum is the steadier figure: interference only adds).
//
//   make build/libsd.a && gcc -O3 -march=x86-64-v3 -fopenmp -I. -Icommon -Ikernels
//       bench/conv_cpu.c build/libsd.a -lopenblas -lprotobuf-c -lcjson -lz -lm
//       -o build/bench_conv_cpu       (one command line)
//   build/bench_conv_cpu [threads] [repetitions]
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "backend.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double minimum(const double *v, int n) {
    double m = v[0];
    for (int i = 1; i < n; i++) m = v[i] < m ? v[i] : m;
    return m;
}

static real *filled(size_t n) {
    real *p = malloc(n * sizeof(real));
    if (!p) exit(2);
    for (size_t i = 0; i < n; i++) p[i] = (real)((i * 2654435761u % 1000) / 1000.0 - 0.5);
    return p;
}

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 0;
    const int reps = argc > 2 ? atoi(argv[2]) : 10;
    char err[256];
    Backend *be = backend_cpu_create(threads, err, sizeof err);
    if (!be || reps < 1 || reps > 1000) {
        fprintf(stderr, "usage: %s [threads] [repetitions 1..1000] (%s)\n", argv[0], be ? "" : err);
        return 1;
    }
    const int shapes[][2] = {{16, 32}, {32, 16}, {64, 8}};  // channels, H = W
    printf("threads %d, batch 32, 3x3 s1 p1, median of %d (ms)\n", threads, reps);
    printf("%-18s %9s %9s %9s %9s   %s\n", "shape", "forward", "bwd data", "bwd filt", "total",
           "minimum: fwd data filt total");
    for (int s = 0; s < 3; s++) {
        const int ch = shapes[s][0], hw = shapes[s][1];
        ConvGeom g = {32, ch, hw, hw, ch, hw, hw, 3, 3, 1, 1, 1, 1, 0};
        const size_t n_act = (size_t)32 * ch * hw * hw, n_w = (size_t)ch * ch * 9;
        real *x = filled(n_act), *w = filled(n_w), *y = filled(n_act), *dx = filled(n_act);
        real *dw = filled(n_w);
        double t[3][1000];
        for (int r = -2; r < reps; r++) {  // two warm-up rounds grow the scratch
            double t0 = now_ms();
            be->conv2d_forward(be, &g, x, w, NULL, NULL, 0, y);
            double t1 = now_ms();
            be->conv2d_backward_data(be, &g, w, y, dx);
            double t2 = now_ms();
            be->conv2d_backward_filter(be, &g, x, y, dw);
            double t3 = now_ms();
            if (r >= 0) t[0][r] = t1 - t0, t[1][r] = t2 - t1, t[2][r] = t3 - t2;
        }
        double fm = minimum(t[0], reps), dm = minimum(t[1], reps), km = minimum(t[2], reps);
        double f = median(t[0], reps), d = median(t[1], reps), k = median(t[2], reps);
        char name[32];
        snprintf(name, sizeof name, "%d->%d %dx%d", ch, ch, hw, hw);
        printf("%-18s %9.2f %9.2f %9.2f %9.2f   %.2f %.2f %.2f %.2f\n", name, f, d, k, f + d + k,
               fm, dm, km, fm + dm + km);
        free(x), free(w), free(y), free(dx), free(dw);
    }
    // The memory-bound ops around each convolution, on the largest activation.
    {
        const BatchNormGeom g = {32, 16, 32 * 32};
        const size_t n = (size_t)32 * 16 * 32 * 32;
        real *x = filled(n), *y = filled(n), *dy = filled(n), *dx = filled(n), *p = filled(16 * 8);
        double t[4][1000];
        for (int r = -2; r < reps; r++) {
            double t0 = now_ms();
            be->batchnorm_forward_train(be, &g, x, p, p + 16, (real)0.1, (real)1e-5, p + 32, p + 48,
                                        p + 64, p + 80, y);
            double t1 = now_ms();
            be->batchnorm_backward(be, &g, x, dy, p, p + 64, p + 80, (real)1e-5, dx, p + 96,
                                   p + 112);
            double t2 = now_ms();
            be->relu_backward(be, n, y, dy, dx);
            double t3 = now_ms();
            be->residual_forward(be, n, 1, x, dy, y);
            double t4 = now_ms();
            if (r >= 0) t[0][r] = t1 - t0, t[1][r] = t2 - t1, t[2][r] = t3 - t2, t[3][r] = t4 - t3;
        }
        printf("16ch 32x32 batch 32: bn fwd %.3f, bn bwd %.3f, relu bwd %.3f, residual fwd %.3f ms\n",
               median(t[0], reps), median(t[1], reps), median(t[2], reps), median(t[3], reps));
        free(x), free(y), free(dy), free(dx), free(p);
    }
    be->destroy(be);
    return 0;
}
