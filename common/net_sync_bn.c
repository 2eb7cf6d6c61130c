// Synchronised batch norm on the host (common/net_sync_bn.h).
#include "net_sync_bn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int largest_bn(const Net *net) {
    size_t most = 1;
    for (int i = 0; i < net->n_tensors; i++)
        if (net->tensors[i].store == TENSOR_BN_STATE && net->tensors[i].count > most)
            most = net->tensors[i].count;
    return (int)most;
}

int net_sync_bn_enable(Net *net, void (*sum)(void *ctx, double *values, size_t count),
                       void *ctx, char *err, size_t err_len) {
    NetBnSync *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    net->bn_sync = s;
    s->sum = sum;
    s->ctx = ctx;
    s->max_channels = largest_bn(net);
    s->host_x = malloc(net->max_activation * sizeof(real));
    s->host_dy = malloc(net->max_activation * sizeof(real));
    s->channel = malloc((size_t)6 * s->max_channels * sizeof(real));
    s->sums = malloc(((size_t)2 * s->max_channels + 1) * sizeof(double));
    if (s->host_x && s->host_dy && s->channel && s->sums) return 0;
oom:
    net_sync_bn_disable(net);
    snprintf(err, err_len, "out of host memory for --sync-bn");
    return -1;
}

void net_sync_bn_disable(Net *net) {
    NetBnSync *s = net->bn_sync;
    if (!s) return;
    free(s->host_x);
    free(s->host_dy);
    free(s->channel);
    free(s->sums);
    free(s);
    net->bn_sync = NULL;
}

static size_t at(const BatchNormGeom *g, int n, int c) {
    return ((size_t)n * g->channels + c) * g->spatial;
}

// sums[c] = sum over (n, s) of x - shift[c] (shift NULL: 0), or of its square.
static void channel_sums(const BatchNormGeom *g, const real *x, const double *shift, int square,
                         double *sums) {
    for (int c = 0; c < g->channels; c++) {
        double acc = 0, sh = shift ? shift[c] : 0;
        for (int n = 0; n < g->batch; n++) {
            const real *p = x + at(g, n, c);
            for (int s = 0; s < g->spatial; s++) {
                double v = (double)p[s] - sh;
                acc += square ? v * v : v;
            }
        }
        sums[c] = acc;
    }
}

void net_sync_bn_forward(Net *net, ConvBN *u, const BatchNormGeom *g) {
    NetBnSync *s = net->bn_sync;
    Backend *be = net->be;
    int C = g->channels;
    size_t count = (size_t)g->batch * C * g->spatial;
    real *gamma = s->channel, *beta = gamma + C, *mean_r = beta + C, *invstd_r = mean_r + C;
    real *run_mean = invstd_r + C, *run_var = run_mean + C;
    be->download(be, s->host_x, u->conv_out, count * sizeof(real));
    be->download(be, gamma, net->params + u->gamma, C * sizeof(real));
    be->download(be, beta, net->params + u->beta, C * sizeof(real));
    be->download(be, run_mean, net->bn_state + u->running_mean, C * sizeof(real));
    be->download(be, run_var, net->bn_state + u->running_var, C * sizeof(real));
    double *sums = s->sums, *mean = sums + C;
    channel_sums(g, s->host_x, NULL, 0, sums);
    sums[C] = (double)g->batch * g->spatial;  // the element count, summed along
    s->sum(s->ctx, sums, (size_t)C + 1);
    double total = sums[C];
    for (int c = 0; c < C; c++) mean[c] = sums[c] / total;
    channel_sums(g, s->host_x, mean, 1, sums);  // two passes: no cancellation
    s->sum(s->ctx, sums, (size_t)C);
    double unbias = total > 1 ? total / (total - 1) : 1, m = (double)net->bn_momentum;
    for (int c = 0; c < C; c++) {
        double var = sums[c] / total, invstd = 1.0 / sqrt(var + (double)net->bn_eps);
        double scale = (double)gamma[c] * invstd, offset = (double)beta[c] - mean[c] * scale;
        for (int n = 0; n < g->batch; n++) {
            real *p = s->host_x + at(g, n, c);
            for (int i = 0; i < g->spatial; i++) p[i] = (real)((double)p[i] * scale + offset);
        }
        mean_r[c] = (real)mean[c];
        invstd_r[c] = (real)invstd;
        run_mean[c] = (real)((1 - m) * run_mean[c] + m * mean[c]);
        run_var[c] = (real)((1 - m) * run_var[c] + m * var * unbias);
    }
    be->upload(be, u->bn_out, s->host_x, count * sizeof(real));
    be->upload(be, u->save_mean, mean_r, C * sizeof(real));
    be->upload(be, u->save_invstd, invstd_r, C * sizeof(real));
    be->upload(be, net->bn_state + u->running_mean, run_mean, C * sizeof(real));
    be->upload(be, net->bn_state + u->running_var, run_var, C * sizeof(real));
}

void net_sync_bn_backward(Net *net, ConvBN *u, const BatchNormGeom *g, const real *dy,
                          real *dx) {
    NetBnSync *s = net->bn_sync;
    Backend *be = net->be;
    int C = g->channels;
    size_t count = (size_t)g->batch * C * g->spatial;
    real *gamma = s->channel, *dgamma = gamma + C, *mean = dgamma + C, *invstd = mean + C;
    real *dbeta = invstd + C;
    be->download(be, s->host_x, u->conv_out, count * sizeof(real));
    be->download(be, s->host_dy, dy, count * sizeof(real));
    be->download(be, gamma, net->params + u->gamma, C * sizeof(real));
    be->download(be, mean, u->save_mean, C * sizeof(real));
    be->download(be, invstd, u->save_invstd, C * sizeof(real));
    double *sums = s->sums;  // [0, C): sum dy; [C, 2C): sum dy * xhat; [2C]: count
    for (int c = 0; c < C; c++) {
        double sum_dy = 0, sum_dy_xhat = 0;
        for (int n = 0; n < g->batch; n++) {
            const real *x = s->host_x + at(g, n, c), *d = s->host_dy + at(g, n, c);
            for (int i = 0; i < g->spatial; i++) {
                sum_dy += d[i];
                sum_dy_xhat += (double)d[i] * ((double)x[i] - mean[c]);
            }
        }
        sums[c] = sum_dy;
        sums[C + c] = sum_dy_xhat * invstd[c];
        dbeta[c] = (real)sums[c];  // this process's own: the gradient averaging adds them
        dgamma[c] = (real)sums[C + c];
    }
    sums[2 * C] = (double)g->batch * g->spatial;
    s->sum(s->ctx, sums, (size_t)2 * C + 1);
    double total = sums[2 * C];
    for (int c = 0; c < C; c++) {
        double a = (double)gamma[c] * invstd[c];
        double mean_dy = sums[c] / total, mean_dy_xhat = sums[C + c] / total;
        for (int n = 0; n < g->batch; n++) {
            const real *x = s->host_x + at(g, n, c);
            real *d = s->host_dy + at(g, n, c);  // dx in place of dy
            for (int i = 0; i < g->spatial; i++) {
                double xhat = ((double)x[i] - mean[c]) * invstd[c];
                d[i] = (real)(a * ((double)d[i] - mean_dy - xhat * mean_dy_xhat));
            }
        }
    }
    be->upload(be, dx, s->host_dy, count * sizeof(real));
    be->upload(be, net->grads + u->gamma, dgamma, C * sizeof(real));
    be->upload(be, net->grads + u->beta, dbeta, C * sizeof(real));
}
