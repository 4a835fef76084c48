/* The job clock: CLOCK_MONOTONIC shifted by an offset measured at init.
 * Offsets are measured once (drift over a run is a few µs per second at
 * worst on NTP-disciplined nodes, below what a task timeline resolves). */
#include "clock.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "runtime.h"

/* Reserved for the sync: it runs before relay's own traffic starts. */
#define CLOCK_TAG 0x7e11
/* Samples per rank: more helps little once one sample caught a quiet
 * moment; large jobs take fewer so that init stays short. */
#define SAMPLES_SMALL 8
#define SAMPLES_LARGE 3
#define LARGE_JOB 256

/* relay__now() of the job clock's zero on this rank. Written at init only
 * (before other threads read it) or lazily by the first caller. */
static _Atomic double epoch;
static double sync_error;
double relay__clock_skew;

/* This rank's own clock: monotonic, shifted in tests. */
static double local_now(void)
{
    return relay__now() + relay__clock_skew;
}

double relay__clock_now(void)
{
    return relay__clock_of(local_now());
}

double relay__clock_of(double t)
{
    double e = atomic_load_explicit(&epoch, memory_order_relaxed);
    if (e == 0) {
        /* Before any sync: count from this first use (a race between two
         * first callers only picks one of two near-equal zeros). */
        double expected = 0;
        atomic_compare_exchange_strong(&epoch, &expected, t);
        e = atomic_load_explicit(&epoch, memory_order_relaxed);
    }
    return t - e;
}

double relay__clock_error(void)
{
    return sync_error;
}

/* Rank 0's side with one rank: the offset (peer clock - rank 0 clock) of
 * the sample with the shortest round trip, and that round trip. */
static int measure(MPI_Comm comm, int peer, int samples, double *offset, double *rtt)
{
    *rtt = -1;
    for (int i = 0; i < samples; i++) {
        double a = local_now(), b = 0;
        if (MPI_Send(&a, 1, MPI_DOUBLE, peer, CLOCK_TAG, comm) != MPI_SUCCESS ||
            MPI_Recv(&b, 1, MPI_DOUBLE, peer, CLOCK_TAG, comm, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return -1;
        double c = local_now();
        if (*rtt < 0 || c - a < *rtt) {
            *rtt = c - a;
            *offset = b - (a + c) / 2;
        }
    }
    return 0;
}

/* A rank's side: answer each ping with its own clock's time. */
static int answer(MPI_Comm comm, int samples)
{
    for (int i = 0; i < samples; i++) {
        double a;
        if (MPI_Recv(&a, 1, MPI_DOUBLE, 0, CLOCK_TAG, comm, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return -1;
        double b = local_now();
        if (MPI_Send(&b, 1, MPI_DOUBLE, 0, CLOCK_TAG, comm) != MPI_SUCCESS) return -1;
    }
    return 0;
}

double relay__clock_sync(MPI_Comm comm)
{
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int samples = size > LARGE_JOB ? SAMPLES_LARGE : SAMPLES_SMALL;
    /* What each rank learns: its offset to rank 0, the round trip that
     * measured it (-1: failed) and rank 0's zero, so that it computes its
     * epoch alone. Rank 0 measures the ranks one after the other and tells
     * each its result at once (no table kept). */
    double mine[3] = {0, 0, local_now()};
    if (rank == 0) {
        for (int r = 1; r < size; r++) {
            double res[3] = {0, -1, mine[2]};
            if (measure(comm, r, samples, &res[0], &res[1])) res[1] = -1;
            MPI_Send(res, 3, MPI_DOUBLE, r, CLOCK_TAG, comm);
        }
    } else if (answer(comm, samples) || MPI_Recv(mine, 3, MPI_DOUBLE, 0, CLOCK_TAG, comm,
                                                 MPI_STATUS_IGNORE) != MPI_SUCCESS) {
        mine[1] = -1;
    }
    if (mine[1] < 0) {
        /* Unmeasured: this rank's own start is its zero. */
        atomic_store(&epoch, local_now());
        sync_error = 0;
        return -1;
    }
    atomic_store(&epoch, mine[2] + mine[0]);
    sync_error = mine[1] / 2;
    return mine[1];
}
