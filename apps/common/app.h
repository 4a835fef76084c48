/* What the example apps share: a status check for remote functions that
 * fails the task with relay's own description of the error, a clock, and an
 * MPI wait
 * that sleeps instead of spinning (a main thread waiting in MPI must leave
 * the cores to the ranks that run tasks). */
#ifndef RELAY_APP_H
#define RELAY_APP_H

#include <time.h>

#include "relay.h"

/* In a task: on error, fail the task with the call, the status and the
 * detail, and return from the function. */
#define TASK_CHECK(ctx, call)                                                                      \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != RELAY_OK) {                                                                     \
            relay_ctx_fail((ctx), "%s: %s (%s)", #call, relay_strerror(rc_), relay_last_error());  \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

/* Monotonic clock in seconds. */
static inline double app_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Complete req, testing every 200 us. */
static inline void app_quiet_wait(MPI_Request *req)
{
    int done = 0;
    struct timespec ts = {0, 200000};
    for (;;) {
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (done) return;
        nanosleep(&ts, NULL);
    }
}

#endif
