#include "backend.h"

#include <stdio.h>
#include <string.h>

Backend *backend_create(const char *device, int threads, char *err, size_t err_len) {
    if (strcmp(device, "cpu") == 0) return backend_cpu_create(threads, err, err_len);
    if (strcmp(device, "cuda") == 0) {
#ifdef SD_WITH_CUDA
        return backend_cuda_create(0, err, err_len);
#else
        snprintf(err, err_len, "this build has no CUDA backend: rebuild with `make CUDA=1`");
        return NULL;
#endif
    }
    snprintf(err, err_len, "unknown device '%s' (expected cpu or cuda)", device);
    return NULL;
}
