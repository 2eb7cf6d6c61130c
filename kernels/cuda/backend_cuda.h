// Extras of the CUDA backend beyond the Backend table (kernels/backend.h), for
// callers built with SD_WITH_CUDA. C and C++ both include this.
#ifndef SD_BACKEND_CUDA_H
#define SD_BACKEND_CUDA_H

#include <stddef.h>

// backend.h is a C header without linkage guards of its own.
#ifdef __cplusplus
extern "C" {
#endif

#include "../backend.h"

// Number of CUDA devices the runtime sees (0 when there is none or no driver).
int backend_cuda_device_count(void);

// One line naming the device and the library versions found at run time
// (device, compute capability, multiprocessors, CUDA runtime and driver, cuDNN
// against the headers built with, cuBLAS), for logs and the first check on a
// new machine.
void backend_cuda_describe(Backend *be, char *out, size_t out_len);

// 0 while every CUDA / cuDNN / cuBLAS call of this backend has succeeded; after
// the first failure, -1 and that failure's message (file:line, call, reason) in
// err. Synchronises first, so faults inside earlier kernels are caught too.
int backend_cuda_error(Backend *be, char *err, size_t err_len);

// The stream every op of this backend is queued on (a cudaStream_t), for callers
// that queue their own work behind it (train/grad_nccl.c: NCCL's sums).
void *backend_cuda_stream(Backend *be);

#ifdef __cplusplus
}
#endif

#endif
