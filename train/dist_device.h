// The device of one rank: with --device cuda under mpirun, each rank takes GPU
// (local rank mod GPUs), the local rank being its index among the ranks on its
// machine (OpenMPI's OMPI_COMM_WORLD_LOCAL_RANK). So `mpirun -np 8` on a machine
// with 8 GPUs puts one rank on each, and a launcher that gives every rank one GPU
// (CUDA_VISIBLE_DEVICES) still works (one visible GPU: index 0). More ranks than
// GPUs share them round-robin (NCCL then refuses; the sums go through the host).
#ifndef SD_TRAIN_DIST_DEVICE_H
#define SD_TRAIN_DIST_DEVICE_H

#include <stddef.h>

#include "../kernels/backend.h"
#include "dist.h"
#include "options.h"

// The GPU index for a local rank; -1 when there is no GPU. (local_rank < 0: 0.)
int dist_device_index(int local_rank, int devices);
// This process's local rank: OMPI_COMM_WORLD_LOCAL_RANK, else 0 (a plain start).
int dist_local_rank(void);
// backend_create for opt, on this rank's GPU when the device is cuda (d: NULL = one process).
Backend *dist_backend_create(const TrainOptions *opt, const Dist *d, char *err, size_t err_len);

#endif
