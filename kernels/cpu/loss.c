// Mean softmax cross-entropy over the batch and its gradient:
//   loss_b = log(sum_j exp(z_bj)) - z_b,label     (computed with the row max
//                                                   subtracted, so exp cannot overflow)
//   dlogits = (softmax(z) - onehot(label)) / batch
// A label outside [0, classes) makes the loss NaN (so the caller sees it) and
// leaves that row's gradient at zero instead of reading out of bounds.
#include <math.h>

#include "cpu_ops.h"

static double row_loss_and_grad(int classes, const real *logits, int32_t label, double inv_batch,
                                real *dlogits) {
    if (label < 0 || label >= classes) {
        for (int j = 0; j < classes; j++) dlogits[j] = 0;
        return NAN;
    }
    double max = logits[0];
    for (int j = 1; j < classes; j++)
        if (logits[j] > max) max = logits[j];
    double sum_exp = 0;
    for (int j = 0; j < classes; j++) sum_exp += exp((double)logits[j] - max);
    const double log_sum_exp = max + log(sum_exp);
    for (int j = 0; j < classes; j++) {
        double prob = exp((double)logits[j] - log_sum_exp);
        dlogits[j] = (real)((prob - (j == label ? 1.0 : 0.0)) * inv_batch);
    }
    return log_sum_exp - logits[label];
}

void cpu_softmax_cross_entropy(Backend *be, int batch, int classes, const real *logits,
                               const int32_t *labels, real *dlogits, real *loss) {
    (void)be;
    const double inv_batch = batch > 0 ? 1.0 / batch : 0;
    double total = 0;
    for (int b = 0; b < batch; b++)
        total += row_loss_and_grad(classes, logits + (size_t)b * classes, labels[b], inv_batch,
                                   dlogits + (size_t)b * classes);
    loss[0] = (real)(total * inv_batch);
}
