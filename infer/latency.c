#include "latency.h"

#include <math.h>
#include <stdlib.h>

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double latency_percentile(double *samples, int count, double p) {
    if (count <= 0) return 0;
    qsort(samples, (size_t)count, sizeof *samples, compare_double);
    int rank = (int)ceil(p * count);  // 1-based
    if (rank < 1) rank = 1;
    if (rank > count) rank = count;
    return samples[rank - 1];
}
