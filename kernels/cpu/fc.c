// Fully connected layer, weights [out_features][in_features]:
//   forward   y  = x w^T + bias         ([batch][out])
//   backward  dx = dy w,  dw = dy^T x,  dbias = column sums of dy
// The products are small in a ResNet head (64 -> classes): one single-threaded
// product each (OpenBLAS is kept single-threaded, backend_cpu.c). A batch of one (an
// ImageNet classifier in sdinfer at batch 1, 1280 -> 1000) is the kernels' gemv.
#include "cpu_ops.h"

void cpu_fc_forward(Backend *be, int batch, int in_features, int out_features, const real *x,
                    const real *w, const real *bias, real *y) {
    if (batch == 1) {
        cpu_state(be)->kernels->gemv(out_features, in_features, w, in_features, x, bias, y);
        return;
    }
    for (int b = 0; b < batch; b++)
        for (int o = 0; o < out_features; o++) y[(size_t)b * out_features + o] = bias ? bias[o] : 0;
    cblas_gemm_real(CblasRowMajor, CblasNoTrans, CblasTrans, batch, out_features, in_features, 1, x,
                    in_features, w, in_features, 1, y, out_features);
}

void cpu_fc_backward(Backend *be, int batch, int in_features, int out_features, const real *x,
                     const real *w, const real *dy, real *dx, real *dw, real *dbias) {
    (void)be;
    if (dx)
        cblas_gemm_real(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, in_features, out_features,
                        1, dy, out_features, w, in_features, 0, dx, in_features);
    cblas_gemm_real(CblasRowMajor, CblasTrans, CblasNoTrans, out_features, in_features, batch, 1, dy,
                    out_features, x, in_features, 0, dw, in_features);
    for (int o = 0; o < out_features; o++) {
        double sum = 0;
        for (int b = 0; b < batch; b++) sum += dy[(size_t)b * out_features + o];
        dbias[o] = (real)sum;
    }
}
