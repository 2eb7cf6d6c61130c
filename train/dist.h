// The processes of a data-parallel run and everything they say to each other.
//
// sdtrain started by mpirun (OpenMPI sets OMPI_COMM_WORLD_SIZE) is one rank of
// a run over several processes; started alone, or built without MPI (the
// aarch64 cross build, a machine without libopenmpi-dev), it is rank 0 of 1 and
// every call below is a no-op or a copy. The training loop therefore reads the
// same for 1 and N ranks.
//
// Every collective arms a watchdog: a rank that waits longer than timeout_s for
// the others (one died or hangs) prints a message and exits with status 1, which
// makes mpirun end the others: no run waits forever.
#ifndef SD_TRAIN_DIST_H
#define SD_TRAIN_DIST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/real.h"

typedef struct {
    int rank, size;
    int mpi_started;            // MPI_Init ran (launched by mpirun with an MPI build)
    double timeout_s;           // longest wait in one collective before giving up
    // The watchdog: deadline (seconds of CLOCK_MONOTONIC * 1000) of the collective in
    // progress, 0 when none; the thread checks it every 200 ms.
    _Atomic long long deadline_ms;
    _Atomic int stop_watchdog;
    const char *waiting_in;     // the collective armed last (for the message)
    pthread_t watchdog;
    int has_watchdog;
    long long bytes_reduced;    // payload bytes this rank gave to gradient reductions
    void *pending;              // MPI_Request[DIST_MAX_PENDING] of started sums
    int n_pending;
} Dist;

#define DIST_MAX_PENDING 4096

// Joins the run when launched by mpirun (MPI_Init), else sets up rank 0 of 1.
// Returns 0, or -1 with a message.
int dist_init(Dist *d, int *argc, char ***argv, double timeout_s, char *err, size_t err_len);
void dist_finalize(Dist *d);
// Stops every rank at once (after a message on this one): status 1 everywhere.
void dist_abort(Dist *d);

// In-place sums over all ranks.
void dist_sum_reals(Dist *d, real *values, size_t count);
void dist_sum_doubles(Dist *d, double *values, size_t count);
// Nonblocking in-place sums, for overlap with computation: started in order on every
// rank alike, finished together by dist_wait_sums (values must stay untouched until
// then). dist_sum_start returns 0, or -1 when it cannot start one (too many pending,
// too large): the caller then sums blocking. dist_progress lets started sums advance
// (OpenMPI moves them on inside MPI calls only).
int dist_sum_start(Dist *d, real *values, size_t count);
void dist_progress(Dist *d);
void dist_wait_sums(Dist *d);
// Rank 0's bytes to every rank.
void dist_broadcast(Dist *d, void *bytes, size_t count);
void dist_barrier(Dist *d);
// 1 when every rank passed the same value, else 0 (on every rank).
int dist_all_equal(Dist *d, uint64_t value);

// The watchdog around a wait that is not an MPI call (NCCL's communicator set-up and
// its reductions, which end inside a later device synchronisation): from dist_watch
// on, this rank exits with the message after timeout_s unless dist_unwatch (or the
// next collective, which re-arms and disarms it) came first.
void dist_watch(Dist *d, const char *what);
void dist_unwatch(Dist *d);

// FNV-1a over bytes, continuing from hash (start with DIST_HASH_START).
#define DIST_HASH_START 0xcbf29ce484222325ull
uint64_t dist_hash(uint64_t hash, const void *bytes, size_t count);

#endif
