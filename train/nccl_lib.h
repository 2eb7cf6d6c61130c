// NCCL, found and loaded at run time (dlopen), never linked.
//
// Why not -lnccl: a CUDA sdtrain linked against libnccl.so.2 would not even start on
// a GPU machine without it, and the machines this project runs on have NCCL only
// inside PyTorch's wheel (site-packages/nvidia/nccl/lib). Loaded at run time, NCCL
// is an option: where it is missing, or refuses, the gradients go through host
// memory and MPI as before (train/grad_sync.h), with a log line that says why.
//
// No nccl.h is needed to build this file: the few types and constants used are
// NCCL's stable C ABI, restated below (the CUDA build checks them against nccl.h
// at compile time, train/nccl_lib.c). So every build, the CPU one too, has the
// loader and its tests.
#ifndef SD_TRAIN_NCCL_LIB_H
#define SD_TRAIN_NCCL_LIB_H

#include <stddef.h>

// ncclUniqueId: NCCL_UNIQUE_ID_BYTES (128) opaque bytes, passed by value.
typedef struct {
    char internal[128];
} NcclId;

// ncclResult_t values that sdtrain tells apart.
enum { NCCL_RESULT_SUCCESS = 0, NCCL_RESULT_INVALID_USAGE = 5 };
// ncclDataType_t ncclFloat32 and ncclRedOp_t ncclAvg (NCCL 2.10 and later).
enum { NCCL_TYPE_FLOAT32 = 7, NCCL_OP_AVG = 4 };
// The oldest NCCL with ncclAvg (NCCL_VERSION_CODE of 2.10.0).
#define NCCL_MIN_VERSION 21000

// The functions sdtrain calls. Comm and stream are ncclComm_t and cudaStream_t.
// A test fills this table with stand-ins (tests/test_nccl_setup.c).
typedef struct {
    int (*get_version)(int *version);
    int (*get_unique_id)(NcclId *id);
    int (*comm_init_rank)(void **comm, int ranks, NcclId id, int rank);
    int (*comm_destroy)(void *comm);
    int (*all_reduce)(const void *send, void *recv, size_t count, int type, int op, void *comm,
                      void *stream);
    int (*group_start)(void);
    int (*group_end)(void);
    const char *(*error_string)(int result);
    void *handle;  // dlopen's, NULL for a table filled by hand
    int version;   // NCCL_VERSION_CODE of the library loaded: 22809 = 2.28.9
    char path[512];  // where it was found
} NcclApi;

// Finds and loads NCCL: `explicit_path` (SD_NCCL_LIB) alone when not NULL or empty;
// else libnccl.so.2 through the loader's search (LD_LIBRARY_PATH, the program's
// run path, ld.so.cache), then the nvidia/nccl/lib folders of PyTorch's wheel in the
// usual site-packages places ($VIRTUAL_ENV, $CONDA_PREFIX, ~/.local, /usr/local,
// /usr, /opt/conda). Returns 0, or -1 with why in `why` (nothing stays loaded).
int nccl_api_load(NcclApi *api, const char *explicit_path, char *why, size_t why_len);
// Forgets the table (the library itself stays mapped: see nccl_lib.c).
void nccl_api_unload(NcclApi *api);
// "2.28.9" for 22809 (and the old scheme, 2708 = 2.7.8).
void nccl_version_text(int code, char *out, size_t out_len);

#endif
