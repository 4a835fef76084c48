/* Tasks placed ahead of their inputs, on the rank that runs them.
 *
 * Rank 0 may send a task before its ref arguments exist: such an argument
 * comes pending, with the rank its maker was sent to. The task then waits
 * here, holding no CPU, until each pending object arrives, and queues on
 * the pool the moment the last one does. An object arrives three ways:
 * made by a task of this rank (handed over at its completion, no message);
 * pushed by its maker's rank, which this rank asked with a SUBSCRIBE when
 * the task came; or forwarded by rank 0 when its maker's DONE did not list
 * the task as delivered (the subscription came too late, or the maker's
 * rank was unknown). Each waiting task gets each object exactly once from
 * one of them; a second copy finds nobody waiting and is dropped.
 *
 * Lock held for every call. */
#ifndef RELAY_DATAFLOW_H
#define RELAY_DATAFLOW_H

#include "relay.h"
#include "wire.h"

int relay__flow_init(void);
void relay__flow_destroy(void);

/* c arrived: remember it (subscriptions name it), and register its pending
 * arguments, subscribing to their makers' ranks. Returns 1 when c has
 * nothing pending and may queue now; 0 when it waits; -1 when out of
 * memory (nothing registered). */
int relay__flow_arrive(relay_ctx_t *c);
/* c is being freed: forget it and whatever it waits for. */
void relay__flow_forget(relay_ctx_t *c);
/* c finished with its returns final: hand them to the tasks waiting for
 * them here, push them to the ranks that subscribed; c->delivered then
 * lists the tasks served, for the DONE. Returns 1 when an object went to
 * another rank (the caller sends it before starting more work). */
int relay__flow_deliver(relay_ctx_t *c);
/* The waiting (not queued) context of task_id, taken out of waiting, or
 * NULL. */
relay_ctx_t *relay__flow_take_waiting(uint64_t task_id);
/* The context of task_id on this rank, from its arrival to its free
 * (waiting, queued, running or finishing), or NULL. */
relay_ctx_t *relay__flow_live(uint64_t task_id);
/* Free every waiting context (shutdown: they will not run). */
void relay__flow_drop_waiting(void);
/* Tasks waiting here for objects. */
uint64_t relay__flow_waiting(void);

void relay__flow_on_subscribe(int src, relay__rbuf_t *r);
void relay__flow_on_object(int src, relay__rbuf_t *r);

#endif
