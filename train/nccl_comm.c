// Joining the ranks' NCCL communicator (train/nccl_comm.h).
#include "nccl_comm.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

// 1 on every rank when every rank's ok is 1, else 0 on every rank.
static int all_ranks_ok(Dist *d, int ok) { return dist_all_equal(d, (uint64_t)ok) && ok; }

static const char *result_text(const NcclApi *api, int result) {
    const char *text = api->error_string ? api->error_string(result) : NULL;
    return text ? text : "unknown NCCL error";
}

// What rank 0 broadcasts: whether it got an id, and the id.
typedef struct {
    int32_t result;
    NcclId id;
} IdMessage;

static int share_id(NcclComm *c, Dist *d, NcclId *id, char *why, size_t why_len) {
    IdMessage message;
    memset(&message, 0, sizeof message);
    if (d->rank == 0) message.result = c->api.get_unique_id(&message.id);
    dist_broadcast(d, &message, sizeof message);
    if (message.result != NCCL_RESULT_SUCCESS) {
        snprintf(why, why_len, "ncclGetUniqueId failed on rank 0: %s",
                 result_text(&c->api, message.result));
        return -1;
    }
    *id = message.id;
    return 0;
}

static int join(NcclComm *c, Dist *d, const NcclId *id, char *why, size_t why_len) {
    dist_watch(d, "ncclCommInitRank");
    int result = c->api.comm_init_rank(&c->comm, d->size, *id, d->rank);
    dist_unwatch(d);
    if (result != NCCL_RESULT_SUCCESS) {
        c->comm = NULL;
        snprintf(why, why_len, "ncclCommInitRank refused rank %d of %d: %s%s", d->rank, d->size,
                 result_text(&c->api, result),
                 result == NCCL_RESULT_INVALID_USAGE ? " (e.g. two ranks on one GPU)" : "");
    }
    if (all_ranks_ok(d, result == NCCL_RESULT_SUCCESS)) return 0;
    if (result == NCCL_RESULT_SUCCESS)
        snprintf(why, why_len, "ncclCommInitRank failed on another rank");
    return -1;
}

int nccl_comm_create_with(NcclComm *c, const NcclApi *api, int loaded, const char *why_loading,
                          Dist *d, char *why, size_t why_len) {
    memset(c, 0, sizeof *c);
    c->api = *api;
    c->ranks = d->size;
    c->rank = d->rank;
    if (!all_ranks_ok(d, loaded)) {
        snprintf(why, why_len, "%s", loaded ? "another rank could not load NCCL" : why_loading);
        return -1;
    }
    NcclId id;
    if (share_id(c, d, &id, why, why_len) != 0) return -1;
    if (join(c, d, &id, why, why_len) != 0) {
        nccl_comm_destroy(c);
        return -1;
    }
    return 0;
}

int nccl_comm_create(NcclComm *c, Dist *d, const char *explicit_path, char *why,
                     size_t why_len) {
    NcclApi api;
    char why_loading[600] = "";
    int loaded = nccl_api_load(&api, explicit_path, why_loading, sizeof why_loading) == 0;
    if (nccl_comm_create_with(c, &api, loaded, why_loading, d, why, why_len) == 0) return 0;
    if (loaded) nccl_api_unload(&api);
    memset(c, 0, sizeof *c);
    return -1;
}

void nccl_comm_destroy(NcclComm *c) {
    if (c->comm && c->api.comm_destroy) c->api.comm_destroy(c->comm);
    c->comm = NULL;
}

void nccl_comm_free(NcclComm *c) {
    nccl_comm_destroy(c);
    if (c->api.handle) nccl_api_unload(&c->api);
    memset(c, 0, sizeof *c);
}
