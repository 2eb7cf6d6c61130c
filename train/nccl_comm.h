// The NCCL communicator of a data-parallel run on GPUs: one per rank, on the rank's
// CUDA device, joined through an id that rank 0 draws and broadcasts over MPI
// (train/dist.h: the only place that talks MPI).
//
// Setting it up is collective and all-or-nothing: the ranks agree after loading
// NCCL and after joining, so either every rank sums with NCCL or every rank falls
// back to the host-staged MPI path; never a mix (that would hang).
#ifndef SD_TRAIN_NCCL_COMM_H
#define SD_TRAIN_NCCL_COMM_H

#include <stddef.h>

#include "dist.h"
#include "nccl_lib.h"

typedef struct {
    NcclApi api;
    void *comm;  // ncclComm_t
    int ranks, rank;
} NcclComm;

// Every rank calls it, with its CUDA device current. Loads NCCL (nccl_api_load with
// explicit_path, SD_NCCL_LIB) and joins. Returns 0 on every rank, or -1 on every rank
// with why: this rank's reason, or which step failed on another rank.
int nccl_comm_create(NcclComm *c, Dist *d, const char *explicit_path, char *why,
                     size_t why_len);
// The same with a loaded (or hand-filled) table; `loaded` 0 = this rank could not
// load it (why_loading says why), which the ranks then agree on.
int nccl_comm_create_with(NcclComm *c, const NcclApi *api, int loaded, const char *why_loading,
                          Dist *d, char *why, size_t why_len);
// Leaves the communicator (the library stays loaded).
void nccl_comm_destroy(NcclComm *c);
// Leaves it and unloads the library.
void nccl_comm_free(NcclComm *c);

#endif
