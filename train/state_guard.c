// Whether the run's state may be written to a checkpoint: a backend that
// reported an error (a failed launch or allocation on CUDA) leaves buffers with
// undefined contents, and non-finite weights would replace the last good
// checkpoint with one that can never train again. Both are refused before a
// single byte is written.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "trainer.h"

// The first non-finite value among count values: its index, or -1.
static long long first_non_finite(const real *values, size_t count) {
    for (size_t i = 0; i < count; i++)
        if (!isfinite((double)values[i])) return (long long)i;
    return -1;
}

static int non_finite_message(const char *tensor, const real *values, long long at, char *err,
                              size_t err_len) {
    snprintf(err, err_len, "%s holds a non-finite value (%g at element %lld)", tensor,
             (double)values[at], at);
    return -1;
}

// Scans every tensor of one store (parameters or batch-norm statistics).
static int check_store(const Net *net, TensorStore store, const real *host, char *err,
                       size_t err_len) {
    for (int i = 0; i < net->n_tensors; i++) {
        const NetTensor *t = &net->tensors[i];
        if (t->store != store) continue;
        long long at = first_non_finite(host + t->offset, t->count);
        if (at >= 0) return non_finite_message(t->name, host + t->offset, at, err, err_len);
    }
    return 0;
}

int trainer_check_state(Trainer *tr, char *err, size_t err_len) {
    char inner[768];
    if (tr->be->last_error(tr->be, inner, sizeof inner) != 0) {
        snprintf(err, err_len, "the %s backend reported an error: %s", tr->be->name, inner);
        return -1;
    }
    // A folder image that failed to decode while a batch was made became zeros.
    const char *failure = dataset_failure(&tr->train_set);
    if (!failure) failure = dataset_failure(&tr->test_set);
    if (failure) {
        snprintf(err, err_len, "an image could not be decoded: %s", failure);
        return -1;
    }
    const Net *net = &tr->net;
    size_t largest = net->n_params > net->n_bn_state ? net->n_params : net->n_bn_state;
    real *host = malloc((largest ? largest : 1) * sizeof(real));
    if (!host) {
        snprintf(err, err_len, "out of host memory to check the weights");
        return -1;
    }
    int rc = 0;
    tr->be->download(tr->be, host, net->params, net->n_params * sizeof(real));
    rc = check_store(net, TENSOR_PARAM, host, err, err_len);
    if (rc == 0) {
        tr->be->download(tr->be, host, net->bn_state, net->n_bn_state * sizeof(real));
        rc = check_store(net, TENSOR_BN_STATE, host, err, err_len);
    }
    if (rc == 0) {
        tr->be->download(tr->be, host, net->momentum, net->n_params * sizeof(real));
        long long at = first_non_finite(host, net->n_params);
        if (at >= 0) rc = non_finite_message("optimizer.momentum", host, at, err, err_len);
    }
    free(host);
    return rc;
}
