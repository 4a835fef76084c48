/* Rank 0's scheduler: tasks wait until their ref arguments exist, then go
 * to a worker rank with a free CPU slot, preferring the rank that already
 * holds their largest argument. Completions fill the directory. Policy
 * (pick_rank) is kept apart from the records it reads and writes. Lock held
 * for every call. */
#ifndef RELAY_SCHEDULER_H
#define RELAY_SCHEDULER_H

#include <stdint.h>

#include "wire.h"

struct relay__dentry;
struct relay__stask;

/* capacity[r]: CPU slots of rank r (0: hosts no workers). Copied. */
int relay__sched_init(const int *capacity);
void relay__sched_destroy(void);
/* A dependency of t became ready. */
void relay__sched_dep_ready(struct relay__stask *t, struct relay__dentry *e);
/* Rank 0's finalize: tell every rank to stop; EXIT follows their acks. */
void relay__sched_shutdown(void);
uint64_t relay__sched_pending(void);
/* Tasks dispatched to ranks and not finished (0 off rank 0). */
uint64_t relay__sched_running(void);

void relay__sched_on_submit(int src, relay__rbuf_t *r);
void relay__sched_on_done(int src, relay__rbuf_t *r);
void relay__sched_on_cpu(int src, relay__rbuf_t *r);
void relay__sched_on_sync(int src, relay__rbuf_t *r);
void relay__sched_on_shutdown_ack(int src, relay__rbuf_t *r);

#endif
