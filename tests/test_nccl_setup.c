// NCCL's set-up without a GPU (train/nccl_lib.c, train/nccl_comm.c, train/dist_device.c):
//   - loading: a missing SD_NCCL_LIB and a library that is not NCCL give their exact
//     messages; the real libnccl.so.2 (CUDA toolkit's, when present) loads with every
//     symbol and a version >= 2.10 (skipped, and said, where it is absent);
//   - joining, with stand-in NCCL functions: rank 0's id reaches ncclCommInitRank; a
//     refusal (ncclInvalidUsage, as for two ranks on one GPU), a failed id and a failed
//     load give their messages;
//   - the GPU of a local rank (round-robin);
//   - `--ranks` (run by tests/t_nccl.sh under mpirun, 2 ranks): rank 0's id travels
//     over MPI to every rank (stand-in ids, and the real ncclGetUniqueId's when the
//     library is here); a refusal on one rank or a failed load on one rank makes every
//     rank fall back together, each with its message.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../train/dist.h"
#include "../train/dist_device.h"
#include "../train/nccl_comm.h"
#include "harness.h"

// The stand-in's state: NCCL's C functions take no context argument, so the fake
// keeps what it was asked in one place, reset by each test.
static struct {
    int init_result, id_result, init_fail_rank;  // init fails only on this rank (-1: all)
    int ids_made, inits;
    NcclId id_seen;
    int ranks_seen, rank_seen;
} fake;

static void fake_reset(void) {
    memset(&fake, 0, sizeof fake);
    fake.init_fail_rank = -1;
}

static int fake_version(int *version) {
    *version = 22809;
    return 0;
}

static int fake_unique_id(NcclId *id) {
    fake.ids_made++;
    if (fake.id_result) return fake.id_result;
    // Bytes no other rank could guess: what arrives elsewhere came over MPI.
    uint64_t seed = (uint64_t)(uintptr_t)&fake ^ 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < sizeof id->internal; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        id->internal[i] = (char)(seed >> 56);
    }
    return 0;
}

static int fake_init(void **comm, int ranks, NcclId id, int rank) {
    fake.inits++;
    fake.id_seen = id;
    fake.ranks_seen = ranks;
    fake.rank_seen = rank;
    if (fake.init_result && (fake.init_fail_rank < 0 || fake.init_fail_rank == rank))
        return fake.init_result;
    *comm = &fake;
    return 0;
}

static int fake_destroy(void *comm) {
    (void)comm;
    return 0;
}

static const char *fake_error(int result) {
    return result == NCCL_RESULT_INVALID_USAGE ? "invalid usage (fake)" : "fake error";
}

static NcclApi fake_api(void) {
    NcclApi api;
    memset(&api, 0, sizeof api);
    api.get_version = fake_version;
    api.get_unique_id = fake_unique_id;
    api.comm_init_rank = fake_init;
    api.comm_destroy = fake_destroy;
    api.error_string = fake_error;
    return api;
}

static const char *real_library(void) {
    const char *path = getenv("SD_TEST_NCCL_LIB");
    return path && path[0] ? path : "/usr/local/cuda/lib64/libnccl.so.2";
}

static int id_is_zero(const NcclId *id) {
    for (size_t i = 0; i < sizeof id->internal; i++)
        if (id->internal[i]) return 0;
    return 1;
}

static void test_loading(TestContext *t, int *skipped) {
    NcclApi api;
    char why[600] = "";
    int rc = nccl_api_load(&api, "/nonexistent/libnccl.so.2", why, sizeof why);
    CHECK(t, rc == -1 && strcmp(why, "SD_NCCL_LIB=/nonexistent/libnccl.so.2 cannot be loaded: "
                                     "/nonexistent/libnccl.so.2: cannot open shared object "
                                     "file: No such file or directory") == 0,
          "missing SD_NCCL_LIB: rc %d, '%s'", rc, why);
    CHECK(t, api.handle == NULL, "nothing stays loaded after a failure");
    rc = nccl_api_load(&api, "libm.so.6", why, sizeof why);
    CHECK(t, rc == -1 && strcmp(why, "libm.so.6 has no ncclGetVersion: not an NCCL library") == 0,
          "not NCCL: rc %d, '%s'", rc, why);
    char text[32];
    nccl_version_text(22809, text, sizeof text);
    CHECK(t, strcmp(text, "2.28.9") == 0, "version 22809 reads %s", text);
    nccl_version_text(2708, text, sizeof text);
    CHECK(t, strcmp(text, "2.7.8") == 0, "old-style version 2708 reads %s", text);

    const char *real = real_library();
    if (nccl_api_load(&api, real, why, sizeof why) != 0) {
        printf("test_nccl_setup: SKIP the real library (%s)\n", why);
        (*skipped)++;
        return;
    }
    CHECK(t, api.version >= NCCL_MIN_VERSION && api.all_reduce && api.group_start &&
                 api.group_end && api.comm_init_rank && api.error_string,
          "%s: version %d, every symbol", real, api.version);
    NcclId id;
    memset(&id, 0, sizeof id);
    CHECK(t, api.get_unique_id(&id) == 0 && !id_is_zero(&id), "ncclGetUniqueId without a GPU");
    CHECK(t, strncmp(api.error_string(NCCL_RESULT_INVALID_USAGE), "invalid usage", 13) == 0,
          "ncclGetErrorString(ncclInvalidUsage): '%s'", api.error_string(NCCL_RESULT_INVALID_USAGE));
    nccl_api_unload(&api);
}

static void test_joining_alone(TestContext *t) {
    Dist solo = {.rank = 0, .size = 1};
    NcclApi api = fake_api();
    NcclComm comm;
    char why[600] = "";
    fake_reset();
    int rc = nccl_comm_create_with(&comm, &api, 1, "", &solo, why, sizeof why);
    CHECK(t, rc == 0 && fake.ids_made == 1 && fake.inits == 1 && fake.ranks_seen == 1 &&
                 comm.comm == &fake,
          "one rank joins: rc %d, ids %d, inits %d, '%s'", rc, fake.ids_made, fake.inits, why);
    NcclId expected;
    fake_unique_id(&expected);
    CHECK(t, memcmp(&expected, &fake.id_seen, sizeof expected) == 0,
          "ncclCommInitRank got rank 0's id");
    nccl_comm_destroy(&comm);

    fake_reset();
    fake.init_result = NCCL_RESULT_INVALID_USAGE;
    rc = nccl_comm_create_with(&comm, &api, 1, "", &solo, why, sizeof why);
    CHECK(t, rc == -1 && comm.comm == NULL &&
                 strcmp(why, "ncclCommInitRank refused rank 0 of 1: invalid usage (fake) "
                             "(e.g. two ranks on one GPU)") == 0,
          "refused: rc %d, '%s'", rc, why);

    fake_reset();
    fake.id_result = 3;
    rc = nccl_comm_create_with(&comm, &api, 1, "", &solo, why, sizeof why);
    CHECK(t, rc == -1 && fake.inits == 0 &&
                 strcmp(why, "ncclGetUniqueId failed on rank 0: fake error") == 0,
          "no id: rc %d, inits %d, '%s'", rc, fake.inits, why);

    fake_reset();
    rc = nccl_comm_create_with(&comm, &api, 0, "no libnccl.so.2 here", &solo, why, sizeof why);
    CHECK(t, rc == -1 && fake.ids_made == 0 && strcmp(why, "no libnccl.so.2 here") == 0,
          "not loaded: rc %d, '%s'", rc, why);
}

static void test_devices(TestContext *t) {
    CHECK(t, dist_device_index(0, 8) == 0 && dist_device_index(9, 8) == 1,
          "local ranks 0 and 9 on 8 GPUs: %d, %d", dist_device_index(0, 8),
          dist_device_index(9, 8));
    CHECK(t, dist_device_index(1, 1) == 0, "two ranks on one GPU share it");
    CHECK(t, dist_device_index(0, 0) == -1, "no GPU: -1");
}

// ---- under mpirun -------------------------------------------------------------------

static void test_ranks_share_id(TestContext *t, Dist *d, NcclApi api, const char *what) {
    NcclComm comm;
    char why[600] = "";
    fake_reset();
    api.comm_init_rank = fake_init;  // no GPU here: only the id's journey is real
    api.comm_destroy = fake_destroy;
    int rc = nccl_comm_create_with(&comm, &api, 1, "", d, why, sizeof why);
    CHECK(t, rc == 0 && fake.ranks_seen == d->size && fake.rank_seen == d->rank,
          "%s: rank %d joins: rc %d, '%s'", what, d->rank, rc, why);
    if (api.get_unique_id == fake_unique_id)  // (the real one is not counted)
        CHECK(t, fake.ids_made == (d->rank == 0), "%s: only rank 0 draws the id (%d drawn here)",
              what, fake.ids_made);
    CHECK(t, !id_is_zero(&fake.id_seen), "%s: an id arrived", what);
    CHECK(t, dist_all_equal(d, dist_hash(DIST_HASH_START, &fake.id_seen, sizeof(NcclId))),
          "%s: every rank got the same id", what);
    nccl_comm_destroy(&comm);
}

static void test_ranks_fall_back_together(TestContext *t, Dist *d) {
    NcclApi api = fake_api();
    NcclComm comm;
    char why[600] = "";
    fake_reset();
    fake.init_result = NCCL_RESULT_INVALID_USAGE;
    fake.init_fail_rank = 1;
    int rc = nccl_comm_create_with(&comm, &api, 1, "", d, why, sizeof why);
    const char *want = d->rank == 1 ? "ncclCommInitRank refused rank 1 of 2: invalid usage (fake) "
                                      "(e.g. two ranks on one GPU)"
                                    : "ncclCommInitRank failed on another rank";
    CHECK(t, rc == -1 && comm.comm == NULL && strcmp(why, want) == 0,
          "refused on rank 1 only: rank %d: rc %d, '%s'", d->rank, rc, why);

    fake_reset();
    int loaded = d->rank == 0;
    rc = nccl_comm_create_with(&comm, &api, loaded, "no libnccl.so.2 on rank 1", d, why,
                               sizeof why);
    want = d->rank == 1 ? "no libnccl.so.2 on rank 1" : "another rank could not load NCCL";
    CHECK(t, rc == -1 && fake.ids_made == 0 && strcmp(why, want) == 0,
          "not loaded on rank 1: rank %d: rc %d, '%s'", d->rank, rc, why);
}

static int run_ranks(int *argc, char ***argv) {
    Dist d;
    char err[256];
    if (dist_init(&d, argc, argv, 60, err, sizeof err) != 0) {
        printf("test_nccl_setup: %s\n", err);
        return 1;
    }
    char suite[64];
    snprintf(suite, sizeof suite, "test_nccl_setup rank %d of %d", d.rank, d.size);
    TestContext t = {suite, 0, 0, 0};
    CHECK(&t, d.size == 2, "started as one of 2 ranks (mpirun -np 2), not %d", d.size);
    test_ranks_share_id(&t, &d, fake_api(), "stand-in ids");
    NcclApi real;
    char why[600] = "";
    int have_real = nccl_api_load(&real, real_library(), why, sizeof why) == 0;
    if (dist_all_equal(&d, (uint64_t)have_real) && have_real) {
        test_ranks_share_id(&t, &d, real, "ncclGetUniqueId's id");
        nccl_api_unload(&real);
    } else {
        printf("%s: SKIP the real ncclGetUniqueId (%s)\n", suite, why[0] ? why : "another rank");
    }
    test_ranks_fall_back_together(&t, &d);
    dist_finalize(&d);
    return test_finish(&t);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--ranks") == 0) return run_ranks(&argc, &argv);
    TestContext t = {"test_nccl_setup", 0, 0, 0};
    int skipped = 0;
    test_loading(&t, &skipped);
    test_joining_alone(&t);
    test_devices(&t);
    printf("test_nccl_setup: %d passed, %d failed, %d skipped\n", t.passed, t.failed, skipped);
    return t.failed == 0 ? 0 : 1;
}
