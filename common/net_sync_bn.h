// Synchronised batch norm: the training-mode statistics of every BN computed over
// the batches of several processes together (sdtrain --sync-bn), so that N
// processes with batch B compute what one process with batch N*B would.
//
// Forward: each process sums x per channel, the sums are added over the processes
// (the `sum` callback: train/dist.c's all-reduce), mean = total / count; the same
// again for sum (x - mean)^2: two exchanges of C doubles, the variance exact.
// Backward: sum dy and sum dy*xhat are exchanged the same way, so dx carries the
// gradient through the global mean and variance; dgamma and dbeta stay this
// process's own sums (the gradient averaging that follows adds them up).
//
// The work is done on the host: the backend's buffers are downloaded and the
// results uploaded (on the CPU those are copies). It is for correctness at
// small scale, not for speed; CUDA graphs cannot record it.
#ifndef SD_NET_SYNC_BN_H
#define SD_NET_SYNC_BN_H

#include "net.h"

struct NetBnSync {
    void (*sum)(void *ctx, double *values, size_t count);  // in place, over all processes
    void *ctx;
    real *host_x, *host_dy;   // staging, net->max_activation elements each
    real *channel;            // 6 rows of max_channels: gamma, beta, mean, invstd, run mean/var
    double *sums;             // 2 * max_channels + 1
    int max_channels;
};

// Makes net's training-mode BN synchronised through `sum`. 0, or -1 with a message.
int net_sync_bn_enable(Net *net, void (*sum)(void *ctx, double *values, size_t count),
                       void *ctx, char *err, size_t err_len);
void net_sync_bn_disable(Net *net);

// The replacements of Backend.batchnorm_forward_train / batchnorm_backward for unit u
// (called by net_forward.c / net_backward.c when net->bn_sync is set).
void net_sync_bn_forward(Net *net, ConvBN *u, const BatchNormGeom *bg);
void net_sync_bn_backward(Net *net, ConvBN *u, const BatchNormGeom *bg, const real *dy,
                          real *dx);

#endif
