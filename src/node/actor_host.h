/* Actors on the rank that hosts them. The constructor runs as a task on
 * the worker pool (it waits for its CPUs like one); then the actor keeps
 * its GPUs for its life, and its CPUs when it asked for them (Ray's
 * default actor gives its CPU back once built), and runs its methods on
 * its own threads
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
 * Returns 1 when the actor lives on with c's CPUs and GPUs, -1 when
 * relay_finalize abandoned it meanwhile (nothing may be touched then). */
int relay__host_construct(relay_ctx_t *c);
/* A queued constructor was cancelled by rank 0 (posted by the caller). */
void relay__host_abort(relay_ctx_t *c, const char *msg);
/* A method's TASK arrived (c is taken: queued, or failed and freed). */
void relay__host_on_call(relay_ctx_t *c);
/* A method blocks / resumes. The actor's CPUs go back to the rank while
 * every method in it is blocked, and come back before one runs again;
 * rank 0 hears of each move (ACTOR_CPU). */
void relay__host_block(relay_ctx_t *c);
void relay__host_unblock(relay_ctx_t *c);
/* Drop a call still in a mailbox (rank 0 cancels it; failed with status
 * and msg). Returns 1 when found. */
int relay__host_cancel(uint64_t task_id, int status, const char *msg);
/* A hold on id was taken (delta 1) or dropped (-1) on a thread running
 * c (NULL: no task): one an actor's constructor, methods or destructor
 * took stays the actor's until dropped, and goes when the actor dies.
 * Dropped on another thread, it is the actor's only when the rank would
 * otherwise hold fewer than its actors took. The rank's count has moved
 * already. */
void relay__host_hold_moved(const relay_ctx_t *c, uint64_t id, int delta);
/* The GPUs of a method's actor. */
void relay__host_gpus(const relay_ctx_t *c, uint32_t *n_p, const uint32_t **index_p);
/* Shutting down: actors stop taking calls and run their destructors. */
void relay__host_shutdown(void);
/* Actor threads are still at work (shutdown waits for them). */
int relay__host_busy(void);
/* Finalize: wait for every actor thread to end, free what is left. Lock
 * not held. Threads inside a method (rank 0 no longer waits for them) are
 * abandoned with their actor, which stays allocated and whose destructor
 * does not run: named after what report holds already (n bytes), and
 * counted in the return. */
int relay__host_join(char *report, size_t n);
/* Live actors, methods run, methods running now. */
void relay__host_stats(uint64_t *hosted_p, uint64_t *calls_run_p, uint64_t *running_p);

void relay__host_on_kill(int src, relay__rbuf_t *r);

#endif
