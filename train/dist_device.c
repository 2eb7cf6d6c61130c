// Which GPU a rank trains on (train/dist_device.h).
#include "dist_device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SD_WITH_CUDA
#include "../kernels/cuda/backend_cuda.h"
#endif

int dist_device_index(int local_rank, int devices) {
    if (devices <= 0) return -1;
    return (local_rank < 0 ? 0 : local_rank) % devices;
}

int dist_local_rank(void) {
    const char *text = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    if (!text || !text[0]) return 0;
    char *end;
    long value = strtol(text, &end, 10);
    return *end == '\0' && value >= 0 && value < 1000000 ? (int)value : 0;
}

Backend *dist_backend_create(const TrainOptions *opt, const Dist *d, char *err, size_t err_len) {
#ifdef SD_WITH_CUDA
    if (strcmp(opt->device, "cuda") == 0 && d && d->size > 1) {
        int local = dist_local_rank(), devices = backend_cuda_device_count();
        int index = dist_device_index(local, devices);
        if (index < 0) {
            snprintf(err, err_len, "no CUDA device visible to this rank");
            return NULL;
        }
        fprintf(stderr, "sdtrain: rank %d (local rank %d) on GPU %d of %d\n", d->rank, local,
                index, devices);
        return backend_cuda_create(index, err, err_len);
    }
#else
    (void)d;
#endif
    return backend_create(opt->device, opt->threads, err, err_len);
}
