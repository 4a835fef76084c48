/* Actors on the rank that hosts them. The constructor runs as a task on
 * the worker pool (it waits for its CPUs like one); then the actor keeps
 * those CPUs and GPUs for its life and runs its methods on its own threads
 * (max_concurrency of them), taking calls from its mailbox in the order
 * rank 0 sent them. A kill fails the calls not started, lets running ones
 * finish, runs the destructor and gives the resources back. Lock held for
 * every call unless said otherwise. */
#ifndef RELAY_ACTOR_HOST_H
#define RELAY_ACTOR_HOST_H

#include <stdint.h>

#include "relay.h"
#include "wire.h"

/* A constructor's TASK arrived: make the actor here, so calls can queue
 * behind it. Returns 0, or -1 when it failed (posted, c freed). */
int relay__host_on_create(relay_ctx_t *c);
/* Run the constructor (on a pool thread; the lock is released around it).
 * Returns 1 when the actor lives on with c's CPUs and GPUs. */
int relay__host_construct(relay_ctx_t *c);
/* A queued constructor was cancelled by rank 0 (posted by the caller). */
void relay__host_abort(relay_ctx_t *c, const char *msg);
/* A method's TASK arrived (c is taken: queued, or failed and freed). */
void relay__host_on_call(relay_ctx_t *c);
/* A method blocks / resumes: the actor's CPUs given back / taken again
 * (the units, 0 when none moved). */
int64_t relay__host_block(relay_ctx_t *c);
int64_t relay__host_unblock(relay_ctx_t *c);
/* Shutting down: actors stop taking calls and run their destructors. */
void relay__host_shutdown(void);
/* Actor threads are still at work (shutdown waits for them). */
int relay__host_busy(void);
/* Finalize: wait for every actor thread to end, free what is left. Lock
 * not held. */
void relay__host_join(void);
void relay__host_stats(uint64_t *hosted_p, uint64_t *calls_run_p);

void relay__host_on_kill(int src, relay__rbuf_t *r);

#endif
