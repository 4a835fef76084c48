/* A batch: requests that complete together. The waiter counts completions
 * instead of rescanning every request at each wake-up, and sleeps on one
 * condition that completers signal (relay lock held by both). The client's
 * requests, the transport's fetches and the store's reads all complete
 * batches, so it lives below all of them. */
#ifndef RELAY_BATCH_H
#define RELAY_BATCH_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

typedef struct relay__batch {
    pthread_cond_t cv;
    size_t completed;
    size_t need;   /* wake the waiter when completed reaches this */
    size_t failed; /* of the completed, those that ended in an error (get_many stops there) */
} relay__batch_t;

/* need = 1; the condition uses the monotonic clock (timed waits). */
static inline void relay__batch_init(relay__batch_t *b)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &attr);
    pthread_condattr_destroy(&attr);
    b->completed = 0;
    b->need = 1;
    b->failed = 0;
}

/* One request of b completed. Lock held. */
static inline void relay__batch_signal(relay__batch_t *b)
{
    /* One wake-up when the waiter can proceed, not one per reply. */
    if (++b->completed == b->need) pthread_cond_broadcast(&b->cv);
}

#endif
