/* Worker threads: a pool per worker rank runs the tasks the scheduler
 * sends, never letting the tasks that run (not blocked) hold more CPUs than
 * the rank offers. A task blocked in get/wait gives its CPUs back (another
 * thread is started, up to max_threads, so they can be used) and takes
 * them back, before any queued task, when it resumes; its GPUs stay its
 * own and current on its thread. Completions go to rank 0. */
#ifndef RELAY_WORKER_H
#define RELAY_WORKER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "relay.h"
#include "wire.h"

/* What a blocked task waits for: k of the n refs (answered: the wait
 * ends whatever happens to them, as with a zero timeout). */
typedef struct relay__wait {
    const relay_ref_t *refs;
    size_t n, k;
    int answered;
    const char *what; /* the call, for the trace: "get", "wait"... (a literal) */
} relay__wait_t;

int relay__pool_start(int ncpus, int max_threads); /* lock not held */
/* After EXIT: waits for the threads, except those still running a task
 * (rank 0 gave up waiting for them): those are abandoned, named in report
 * (n bytes), and left to run; the pool stays allocated for them. Returns
 * how many tasks and actor methods were abandoned. */
int relay__pool_join(char *report, size_t n);
/* Running, blocked and thread counts, and resources (lock held). */
void relay__pool_stats(uint64_t *running_p, uint64_t *blocked_p, uint64_t *threads_p);

/* The task running on the calling thread, or NULL. */
relay_ctx_t *relay__worker_current(void);
/* Whose actor calls the calling thread makes, each caller's kept in
 * order: the running task's id, or inside an actor's constructor or
 * methods the actor's (one caller, as in Ray); 0 outside any task. */
uint64_t relay__worker_caller(void);
/* The calling thread took (delta 1) or dropped (-1) a hold on id: one an
 * actor's constructor, methods or destructor took is the actor's, given
 * up when it dies (actor_host.h). Lock held. */
void relay__worker_hold_moved(uint64_t id, int delta);
/* A get or wait (call) inside the running task failed with status, the
 * detail in relay_last_error(): kept as the cause of a failure the task
 * then passes on. Nothing outside a task. */
void relay__worker_note_failure(const char *call, int status);
/* The running task blocks / resumes (lock held; unblock may wait for the
 * task's CPUs to come free). */
void relay__worker_block(relay_ctx_t *ctx, const relay__wait_t *wait);
void relay__worker_unblock(relay_ctx_t *ctx);
/* Why relay_ctx_cancelled says 1: relay_cancel reached the running task
 * (its gets and waits then return RELAY_ERR_CANCELLED, its returns fail
 * with it), or its actor was killed (a flag to poll, nothing more). */
enum { RELAY__CANCEL_TASK = 1, RELAY__CANCEL_KILLED = 2 };
/* The RELAY__CANCEL_* bits of ctx (any thread, lock not needed). */
int relay__worker_cancel_bits(const relay_ctx_t *ctx);
/* Set bits on ctx and wake its get/wait if one sleeps (lock held). */
void relay__worker_flag(relay_ctx_t *ctx, int bits);
/* The condition ctx's get/wait sleeps on now, or NULL (lock held). */
void relay__worker_wait_cv(relay_ctx_t *ctx, pthread_cond_t *cv);
/* Releases made inside a task go out with its completion. Lock held. */
void relay__worker_defer_releases(relay_ctx_t *ctx, const uint64_t *ids, size_t n);

/* How relay_ctx_return_object checks the refs it is given (the client's
 * relay__check_refs, set at init: this part cannot call it). */
typedef int (*relay__ref_check_t)(const char *call, const relay_ref_t *refs, size_t n);
void relay__ctx_set_ref_check(relay__ref_check_t check);

void relay__worker_on_task(int src, relay__rbuf_t *r);
void relay__worker_on_cancel(int src, relay__rbuf_t *r);
void relay__worker_on_recall(int src, relay__rbuf_t *r);
/* The rank shuts down: queued tasks are dropped, running ones finish,
 * hosted actors stop, and rank 0 hears once nothing runs. Lock held. */
void relay__pool_shutdown(void);

#endif
