// Percentiles of per-batch latencies (nearest-rank definition: the smallest
// sample with at least p of the samples at or below it).
#ifndef SD_INFER_LATENCY_H
#define SD_INFER_LATENCY_H

// Sorts samples in place and returns the p-quantile (0 < p <= 1); 0 when count is 0.
double latency_percentile(double *samples, int count, double p);

#endif
