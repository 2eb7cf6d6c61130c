// Ranks, collectives and the watchdog (train/dist.h). Without SD_WITH_MPI, or
// when not launched by mpirun, there is one rank and nothing to exchange.
#include "dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef SD_WITH_MPI
#include <mpi.h>
#endif

uint64_t dist_hash(uint64_t hash, const void *bytes, size_t count) {
    const unsigned char *p = bytes;
    for (size_t i = 0; i < count; i++) hash = (hash ^ p[i]) * 0x100000001b3ull;
    return hash;
}

#ifdef SD_WITH_MPI
static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// The watchdog thread never calls MPI (the library is initialised for one calling
// thread): it only ends this process, and mpirun then ends the other ranks.
static void *watchdog_main(void *arg) {
    Dist *d = arg;
    while (!atomic_load(&d->stop_watchdog)) {
        struct timespec pause = {0, 200 * 1000000L};
        nanosleep(&pause, NULL);
        long long deadline = atomic_load(&d->deadline_ms);
        if (deadline && now_ms() > deadline) {
            fprintf(stderr,
                    "sdtrain: rank %d of %d: waited %.0f s in %s for the other ranks (one died "
                    "or hangs); stopping the run (--dist-timeout)\n",
                    d->rank, d->size, d->timeout_s, d->waiting_in);
            _exit(1);
        }
    }
    return NULL;
}

static void arm(Dist *d, const char *what) {
    d->waiting_in = what;
    atomic_store(&d->deadline_ms, now_ms() + (long long)(d->timeout_s * 1000));
}
static void disarm(Dist *d) { atomic_store(&d->deadline_ms, 0); }

// OpenMPI's launcher sets this for every rank it starts; a plain start lacks it.
static int launched_by_mpirun(void) { return getenv("OMPI_COMM_WORLD_SIZE") != NULL; }
#endif

int dist_init(Dist *d, int *argc, char ***argv, double timeout_s, char *err, size_t err_len) {
    memset(d, 0, sizeof *d);
    d->size = 1;
    d->timeout_s = timeout_s;
#ifdef SD_WITH_MPI
    if (!launched_by_mpirun()) return 0;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        snprintf(err, err_len, "MPI_Init_thread failed");
        return -1;
    }
    d->mpi_started = 1;
    // Errors end the job (the default handler): no rank goes on after a failed exchange.
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    if (d->size > 1) {
        if (pthread_create(&d->watchdog, NULL, watchdog_main, d) != 0) {
            snprintf(err, err_len, "rank %d: cannot start the watchdog thread", d->rank);
            return -1;
        }
        d->has_watchdog = 1;
    }
#else
    (void)argc, (void)argv;
    // Started by mpirun without MPI built in, every copy would think itself alone and
    // write the same run directory.
    const char *ranks = getenv("OMPI_COMM_WORLD_SIZE");
    if (ranks && atoi(ranks) > 1) {
        snprintf(err, err_len, "started by mpirun as one of %s processes, but this sdtrain was "
                 "built without MPI (install libopenmpi-dev and rebuild)", ranks);
        return -1;
    }
#endif
    return 0;
}

void dist_finalize(Dist *d) {
#ifdef SD_WITH_MPI
    if (d->has_watchdog) {
        atomic_store(&d->stop_watchdog, 1);
        pthread_join(d->watchdog, NULL);
        d->has_watchdog = 0;
    }
    if (d->mpi_started) MPI_Finalize();
    d->mpi_started = 0;
    free(d->pending);
    d->pending = NULL;
#else
    (void)d;
#endif
}

void dist_abort(Dist *d) {
#ifdef SD_WITH_MPI
    if (d->mpi_started && d->size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
#endif
    (void)d;
    exit(1);
}

#ifdef SD_WITH_MPI
// MPI counts are ints: larger buffers go in pieces.
#define DIST_CHUNK ((size_t)1 << 30)

static void sum_in_place(Dist *d, void *values, size_t count, size_t elem, MPI_Datatype type) {
    arm(d, "a reduction");
    for (size_t done = 0; done < count; done += DIST_CHUNK) {
        size_t n = count - done < DIST_CHUNK ? count - done : DIST_CHUNK;
        MPI_Allreduce(MPI_IN_PLACE, (char *)values + done * elem, (int)n, type, MPI_SUM,
                      MPI_COMM_WORLD);
    }
    disarm(d);
}
#endif

void dist_sum_reals(Dist *d, real *values, size_t count) {
#ifdef SD_WITH_MPI
    if (d->size == 1) return;
    sum_in_place(d, values, count, sizeof(real), sizeof(real) == 4 ? MPI_FLOAT : MPI_DOUBLE);
#else
    (void)d, (void)values, (void)count;
#endif
}

void dist_sum_doubles(Dist *d, double *values, size_t count) {
#ifdef SD_WITH_MPI
    if (d->size == 1) return;
    sum_in_place(d, values, count, sizeof(double), MPI_DOUBLE);
#else
    (void)d, (void)values, (void)count;
#endif
}

int dist_sum_start(Dist *d, real *values, size_t count) {
#ifdef SD_WITH_MPI
    if (d->size == 1) return 0;
    if (count > (size_t)1 << 30 || d->n_pending == DIST_MAX_PENDING) return -1;
    if (!d->pending) d->pending = malloc(DIST_MAX_PENDING * sizeof(MPI_Request));
    if (!d->pending) return -1;
    MPI_Request *requests = d->pending;
    MPI_Iallreduce(MPI_IN_PLACE, values, (int)count, sizeof(real) == 4 ? MPI_FLOAT : MPI_DOUBLE,
                   MPI_SUM, MPI_COMM_WORLD, &requests[d->n_pending++]);
    return 0;
#else
    (void)d, (void)values, (void)count;
    return 0;
#endif
}

void dist_progress(Dist *d) {
#ifdef SD_WITH_MPI
    if (d->n_pending == 0) return;
    int done;
    MPI_Testall(d->n_pending, d->pending, &done, MPI_STATUSES_IGNORE);
#else
    (void)d;
#endif
}

void dist_wait_sums(Dist *d) {
#ifdef SD_WITH_MPI
    if (d->n_pending == 0) return;
    arm(d, "a reduction");
    MPI_Waitall(d->n_pending, d->pending, MPI_STATUSES_IGNORE);
    disarm(d);
    d->n_pending = 0;
#else
    (void)d;
#endif
}

void dist_broadcast(Dist *d, void *bytes, size_t count) {
#ifdef SD_WITH_MPI
    if (d->size == 1) return;
    arm(d, "a broadcast");
    for (size_t done = 0; done < count; done += DIST_CHUNK) {
        size_t n = count - done < DIST_CHUNK ? count - done : DIST_CHUNK;
        MPI_Bcast((char *)bytes + done, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
    }
    disarm(d);
#else
    (void)d, (void)bytes, (void)count;
#endif
}

void dist_watch(Dist *d, const char *what) {
#ifdef SD_WITH_MPI
    if (d->has_watchdog) arm(d, what);
#else
    (void)d, (void)what;
#endif
}

void dist_unwatch(Dist *d) {
#ifdef SD_WITH_MPI
    if (d->has_watchdog) disarm(d);
#else
    (void)d;
#endif
}

void dist_barrier(Dist *d) {
#ifdef SD_WITH_MPI
    if (d->size == 1) return;
    arm(d, "a barrier");
    MPI_Barrier(MPI_COMM_WORLD);
    disarm(d);
#else
    (void)d;
#endif
}

int dist_all_equal(Dist *d, uint64_t value) {
#ifdef SD_WITH_MPI
    if (d->size == 1) return 1;
    // max(v) == v and max(~v) == ~v on every rank exactly when all v are equal.
    uint64_t both[2] = {value, ~value};
    arm(d, "a check");
    MPI_Allreduce(MPI_IN_PLACE, both, 2, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    disarm(d);
    return both[0] == value && both[1] == ~value;
#else
    (void)d, (void)value;
    return 1;
#endif
}
