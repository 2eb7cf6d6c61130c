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

// 0 while every CUDA / cuDNN / cuBLAS call of this backend has succeeded; after
// the first failure, -1 and that failure's message (file:line, call, reason) in
// err. Synchronises first, so faults inside earlier kernels are caught too.
int backend_cuda_error(Backend *be, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif

#endif
