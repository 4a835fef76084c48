/* Worker threads: a pool per worker rank runs the tasks the scheduler sends,
 * hands back their CPU slot while they block in get/wait (and starts
 * another thread so the slot can be used), and reports completions. */
#ifndef RELAY_WORKER_H
#define RELAY_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "relay.h"
#include "wire.h"

int relay__pool_start(int ncpus); /* lock not held */
void relay__pool_join(void);      /* after EXIT: waits for the threads */

/* The task running on the calling thread, or NULL. */
relay_ctx_t *relay__worker_current(void);
/* The running task blocks / resumes (lock held). */
void relay__worker_block(relay_ctx_t *ctx);
void relay__worker_unblock(relay_ctx_t *ctx);
/* Releases made inside a task go out with its completion. Lock held. */
void relay__worker_defer_releases(relay_ctx_t *ctx, const uint64_t *ids, size_t n);

void relay__worker_on_task(int src, relay__rbuf_t *r);
void relay__worker_on_shutdown(int src, relay__rbuf_t *r);

#endif
