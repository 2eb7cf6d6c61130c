// The CPU backend's forward ops for foreign CNNs (infer_ops.c); backend_cpu.c puts
// them into the Backend table. See kernels/backend.h for what each computes.
#ifndef SD_CPU_INFER_OPS_H
#define SD_CPU_INFER_OPS_H

#include "../backend.h"

void cpu_activation_forward(Backend *be, ActivationOp op, size_t count, real alpha, real beta,
                            const real *x, real *y);
// conv_grouped.c
void cpu_conv2d_grouped_forward(Backend *be, const ConvGeom *g, int groups, int dilation_h,
                                int dilation_w, const real *x, const real *w, const real *bias,
                                const real *residual, OutputClamp clamp, real *y);
void cpu_transpose(Backend *be, const TensorShape *in_shape, const real *x, const int *perm,
                   const TensorShape *out_shape, real *y);
void cpu_pad_border(Backend *be, const TensorShape *in_shape, const real *x, const int64_t *pads,
                    int reflect, const TensorShape *out_shape, real *y);
void cpu_softmax_axis(Backend *be, int64_t outer, int64_t extent, int64_t inner, const real *x,
                      real *y);

#endif
