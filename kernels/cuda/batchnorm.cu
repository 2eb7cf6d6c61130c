// Batch normalisation per channel over (N, H, W) on cuDNN's spatial mode.
//
// The Backend's conventions map onto cuDNN's directly (cuDNN documentation of
// cudnnBatchNormalizationForwardTraining):
//   - exponentialAverageFactor is the update weight of the NEW batch statistic,
//     running = (1 - factor) * running + factor * batch, i.e. factor = momentum;
//   - the running variance is moved with the unbiased (n / (n - 1)) batch
//     variance, as Torch, PyTorch and the CPU backend do;
//   - resultSaveInvVariance is 1 / sqrt(biased batch variance + eps), our save_invstd.
// tests/test_cuda_parity.c checks all three against the CPU backend.
//
// CUDNN_BATCHNORM_SPATIAL, not SPATIAL_PERSISTENT: the persistent variant is
// faster on some shapes but documented to be able to overflow on some inputs.
#include "cuda_internal.h"

// Describes x as N x C x spatial x 1 and the per-channel tensors as 1 x C x 1 x 1.
static int describe(CudaState *st, const BatchNormGeom *g) {
    if (g->batch <= 0 || g->channels <= 0 || g->spatial <= 0) {
        cuda_record_error(st, __FILE__, __LINE__, "invalid batch-norm geometry");
        return 0;
    }
    return CUDNN_OK(st, cudnnSetTensor4dDescriptor(st->bn_x_desc, CUDNN_TENSOR_NCHW,
                                                   CUDNN_DATA_FLOAT, g->batch, g->channels,
                                                   g->spatial, 1)) &&
           CUDNN_OK(st, cudnnDeriveBNTensorDescriptor(st->bn_param_desc, st->bn_x_desc,
                                                      CUDNN_BATCHNORM_SPATIAL));
}

void cuda_batchnorm_forward_train(Backend *be, const BatchNormGeom *g, const real *x,
                                  const real *gamma, const real *beta, real momentum, real eps,
                                  real *running_mean, real *running_var, real *save_mean,
                                  real *save_invstd, real *y) {
    CudaState *st = cuda_state(be);
    if (st->failed || !describe(st, g)) return;
    const float one = 1.0f, zero = 0.0f;
    CUDNN_OK(st, cudnnBatchNormalizationForwardTraining(
                     st->cudnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, st->bn_x_desc, x,
                     st->bn_x_desc, y, st->bn_param_desc, gamma, beta, (double)momentum,
                     running_mean, running_var, (double)eps, save_mean, save_invstd));
}

void cuda_batchnorm_forward_eval(Backend *be, const BatchNormGeom *g, const real *x,
                                 const real *gamma, const real *beta, const real *running_mean,
                                 const real *running_var, real eps, real *y) {
    CudaState *st = cuda_state(be);
    if (st->failed || !describe(st, g)) return;
    const float one = 1.0f, zero = 0.0f;
    CUDNN_OK(st, cudnnBatchNormalizationForwardInference(
                     st->cudnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, st->bn_x_desc, x,
                     st->bn_x_desc, y, st->bn_param_desc, gamma, beta, running_mean, running_var,
                     (double)eps));
}

// dgamma and dbeta are overwritten (betaParamDiff = 0), like every backward op here.
void cuda_batchnorm_backward(Backend *be, const BatchNormGeom *g, const real *x, const real *dy,
                             const real *gamma, const real *save_mean, const real *save_invstd,
                             real eps, real *dx, real *dgamma, real *dbeta) {
    CudaState *st = cuda_state(be);
    if (st->failed || !describe(st, g)) return;
    const float one = 1.0f, zero = 0.0f;
    CUDNN_OK(st, cudnnBatchNormalizationBackward(
                     st->cudnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero, st->bn_x_desc,
                     x, st->bn_x_desc, dy, st->bn_x_desc, dx, st->bn_param_desc, gamma, dgamma,
                     dbeta, (double)eps, save_mean, save_invstd));
}
