// Finding and loading NCCL at run time (train/nccl_lib.h).
#include "nccl_lib.h"

#include <dlfcn.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SD_WITH_CUDA
// The CUDA build has nccl.h: the ABI restated in nccl_lib.h must be its.
#include <nccl.h>
_Static_assert(sizeof(NcclId) == sizeof(ncclUniqueId), "ncclUniqueId's size");
_Static_assert((int)NCCL_RESULT_SUCCESS == (int)ncclSuccess, "ncclSuccess");
_Static_assert((int)NCCL_RESULT_INVALID_USAGE == (int)ncclInvalidUsage, "ncclInvalidUsage");
_Static_assert((int)NCCL_TYPE_FLOAT32 == (int)ncclFloat32, "ncclFloat32");
_Static_assert((int)NCCL_OP_AVG == (int)ncclAvg, "ncclAvg");
#endif

void nccl_version_text(int code, char *out, size_t out_len) {
    if (code >= 10000)
        snprintf(out, out_len, "%d.%d.%d", code / 10000, code / 100 % 100, code % 100);
    else
        snprintf(out, out_len, "%d.%d.%d", code / 1000, code / 100 % 10, code % 100);
}

// Where PyTorch's pip wheels put NCCL, below the usual site-packages folders; the
// first match wins. (bench/gpu_run.sh also puts the folder it finds on the loader path.)
static const char *const WHEEL_PATTERNS[] = {
    "%s/lib/python3*/site-packages/nvidia/nccl/lib/libnccl.so.2",       // $VIRTUAL_ENV
    "%s/lib/python3*/site-packages/nvidia/nccl/lib/libnccl.so.2",       // $CONDA_PREFIX
    "%s/.local/lib/python3*/site-packages/nvidia/nccl/lib/libnccl.so.2",  // $HOME
    "/usr/local/lib/python3*/dist-packages/nvidia/nccl/lib/libnccl.so.2",
    "/usr/local/lib/python3*/site-packages/nvidia/nccl/lib/libnccl.so.2",
    "/usr/lib/python3*/dist-packages/nvidia/nccl/lib/libnccl.so.2",
    "/usr/lib/python3*/site-packages/nvidia/nccl/lib/libnccl.so.2",
    "/opt/conda/lib/python3*/site-packages/nvidia/nccl/lib/libnccl.so.2",
};
static const char *const WHEEL_ROOT_ENV[] = {"VIRTUAL_ENV", "CONDA_PREFIX", "HOME"};

// The first existing wheel copy into out; 0 when found.
static int find_in_wheels(char *out, size_t out_len) {
    size_t n = sizeof WHEEL_PATTERNS / sizeof *WHEEL_PATTERNS;
    for (size_t i = 0; i < n; i++) {
        char pattern[1024];
        if (i < sizeof WHEEL_ROOT_ENV / sizeof *WHEEL_ROOT_ENV) {
            const char *root = getenv(WHEEL_ROOT_ENV[i]);
            if (!root || !root[0]) continue;
            snprintf(pattern, sizeof pattern, WHEEL_PATTERNS[i], root);
        } else {
            snprintf(pattern, sizeof pattern, "%s", WHEEL_PATTERNS[i]);
        }
        glob_t found;
        int rc = glob(pattern, 0, NULL, &found);
        if (rc == 0 && found.gl_pathc > 0) snprintf(out, out_len, "%s", found.gl_pathv[0]);
        globfree(&found);
        if (rc == 0) return 0;
    }
    return -1;
}

// Each symbol that sdtrain needs, or -1 naming the first one missing.
static int resolve(NcclApi *api, char *why, size_t why_len) {
    struct {
        const char *name;
        void **slot;
    } wanted[] = {
        {"ncclGetVersion", (void **)&api->get_version},
        {"ncclGetUniqueId", (void **)&api->get_unique_id},
        {"ncclCommInitRank", (void **)&api->comm_init_rank},
        {"ncclCommDestroy", (void **)&api->comm_destroy},
        {"ncclAllReduce", (void **)&api->all_reduce},
        {"ncclGroupStart", (void **)&api->group_start},
        {"ncclGroupEnd", (void **)&api->group_end},
        {"ncclGetErrorString", (void **)&api->error_string},
    };
    for (size_t i = 0; i < sizeof wanted / sizeof *wanted; i++) {
        // POSIX: a function's address travels through void * (dlsym's own contract).
        *wanted[i].slot = dlsym(api->handle, wanted[i].name);
        if (!*wanted[i].slot) {
            snprintf(why, why_len, "%s has no %s: not an NCCL library", api->path,
                     wanted[i].name);
            return -1;
        }
    }
    return 0;
}

// dlopen of `name` into api; the loader's message in why on failure.
static int open_library(NcclApi *api, const char *name, char *why, size_t why_len) {
    api->handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!api->handle) {
        const char *reason = dlerror();
        snprintf(why, why_len, "%s", reason ? reason : "dlopen failed");
        return -1;
    }
    snprintf(api->path, sizeof api->path, "%s", name);
    return 0;
}

// Opens the first NCCL of the search order (see nccl_lib.h).
static int locate(NcclApi *api, const char *explicit_path, char *why, size_t why_len) {
    char reason[400];
    if (explicit_path && explicit_path[0]) {
        if (open_library(api, explicit_path, reason, sizeof reason) == 0) return 0;
        snprintf(why, why_len, "SD_NCCL_LIB=%s cannot be loaded: %s", explicit_path, reason);
        return -1;
    }
    if (open_library(api, "libnccl.so.2", reason, sizeof reason) == 0) return 0;
    char wheel[512];
    if (find_in_wheels(wheel, sizeof wheel) == 0) {
        if (open_library(api, wheel, reason, sizeof reason) == 0) return 0;
        snprintf(why, why_len, "%s cannot be loaded: %s", wheel, reason);
        return -1;
    }
    snprintf(why, why_len, "no libnccl.so.2 on the loader's path nor in PyTorch's "
             "nvidia/nccl/lib (set SD_NCCL_LIB=/path/to/libnccl.so.2)");
    return -1;
}

int nccl_api_load(NcclApi *api, const char *explicit_path, char *why, size_t why_len) {
    memset(api, 0, sizeof *api);
    if (locate(api, explicit_path, why, why_len) != 0) return -1;
    if (resolve(api, why, why_len) != 0) {
        nccl_api_unload(api);
        return -1;
    }
    if (api->get_version(&api->version) != NCCL_RESULT_SUCCESS) {
        snprintf(why, why_len, "%s: ncclGetVersion failed", api->path);
        nccl_api_unload(api);
        return -1;
    }
    if (api->version < NCCL_MIN_VERSION) {
        char text[32];
        nccl_version_text(api->version, text, sizeof text);
        snprintf(why, why_len, "%s is NCCL %s; sdtrain needs 2.10 or later (ncclAvg)",
                 api->path, text);
        nccl_api_unload(api);
        return -1;
    }
    return 0;
}

void nccl_api_unload(NcclApi *api) {
    // No dlclose: NCCL may leave threads of its own running (the bootstrap root that
    // ncclGetUniqueId starts), and unloading the code under them would crash them.
    // The library stays mapped until the process ends; only this table forgets it.
    memset(api, 0, sizeof *api);
}
