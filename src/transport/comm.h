/* MPI transport. A turn of progress sends the records other threads queued
 * (batched per destination: everything queued for a rank between two turns
 * leaves as one MPI message), receives and dispatches incoming records, and
 * moves the bytes of large objects in chunks. One thread at a time takes
 * turns (the progress lock): a thread waiting for a reply or an idle worker
 * when it can, the rank's runtime thread otherwise. An idle runtime thread
 * sleeps on its doorbell (doorbell.h), waking every poll_max_us at most to
 * look for messages from other nodes. */
#ifndef RELAY_COMM_H
#define RELAY_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct relay_object;
struct relay__batch;

/* Queue a record for dest. Lock held. begin returns the buffer to append
 * the payload to and the record's start; end closes it. A record for this
 * rank is dispatched inside end, synchronously, so local clients observe
 * their own effects in order. */
relay__wbuf_t *relay__msg_begin(int dest, uint8_t type, size_t *start_p);
void relay__msg_end(int dest, relay__wbuf_t *w, size_t start);
/* The same, except that a record for this rank is dispatched later, by the
 * next turn of progress, as if it had come from another rank: for a record
 * sent from inside a handler whose own sender must not see its effects
 * before it returns (rank 0's worker refusing a task the scheduler is
 * still sending). Lock held. */
relay__wbuf_t *relay__msg_begin_later(int dest, uint8_t type, size_t *start_p);
void relay__msg_end_later(int dest, relay__wbuf_t *w, size_t start);
/* Records for this rank queued by relay__msg_end_later and not yet
 * dispatched. Lock held. */
int relay__comm_local_pending(void);

/* A record's handler: decodes r and acts. Lock held. */
typedef void (*relay__handler_t)(int src, relay__rbuf_t *r);

/* Forget every handler and hook but the transport's own (PING, EXIT,
 * FETCH_ERR). relay_init calls it first; then each part registers the
 * handlers of the records it owns, before relay__comm_start. */
void relay__comm_handlers_init(void);
void relay__handler_set(uint8_t type, relay__handler_t fn);

/* What the parts above the transport hook into it, each NULL when unset:
 * the transport calls them without knowing who set them. */
typedef struct relay__comm_hooks {
    /* Sees each incoming record before its handler; returns 1 when it
     * keeps the record to dispatch later (rank 0's causal hold-back). */
    int (*filter)(int src, uint8_t type, const relay__rbuf_t *r);
    void (*on_message)(void); /* a new incoming message starts */
    void (*tick)(void);       /* after each turn of dispatching (rank 0's scheduler) */
    /* Each turn of the runtime thread's loop, on that thread only (a
     * crashed task's report to send: node/crash.c). */
    void (*runtime_turn)(void);
    /* rank was found lost (rank 0) or rank 0 said so (RANK_LOST): the
     * transport already sends it nothing and fails fetches from it. */
    void (*rank_lost)(int rank);
} relay__comm_hooks_t;
relay__comm_hooks_t *relay__comm_hooks(void);

/* Whether rank was found lost: records for it are dropped, transfers with
 * it fail (RELAY_ERR_RANK_LOST). Lock held. */
int relay__comm_rank_lost(int rank);

/* Dispatch every record of one message from src. Lock held. */
void relay__dispatch(int src, const void *buf, size_t len);
/* Dispatch one record to its handler, past the filter. Lock held. */
void relay__dispatch_record(int src, uint8_t type, relay__rbuf_t *r);

/* Start/stop the runtime thread. stop waits for it to leave its loop,
 * which it does once relay__g.exiting is set and its sends are done. */
int relay__comm_start(void);
/* Judging ranks by their silence starts (every rank has started: relay_init
 * calls it after a barrier that follows relay__comm_start). */
void relay__comm_live_arm(void);
void relay__comm_join(void);
void relay__comm_wake(void); /* lock held */

/* A thread about to wait does a turn of progress itself when no other
 * thread is at it, instead of handing the work to the runtime thread and
 * sleeping: one thread switch less per message. Relay lock NOT held.
 * Returns the work done, or -1 when another thread is progressing. */
int relay__comm_poll(void);

/* Fetch a large object's bytes from holder into obj (allocated by the
 * caller, size set). Lock held. Completion sets *done_p to 1 and *status_p,
 * then signals batch. */
typedef struct relay__fetch {
    int done;
    int status;
    int abandoned; /* the waiter gave up: the transport frees everything */
    char *errmsg;  /* what went wrong, when the completer knows more */
    struct relay_object *obj;
    /* Set by the completer: a reference to the object to use instead of
     * obj (a read of the spill file that several waiters joined). */
    struct relay_object *shared;
    struct relay__batch *batch;
} relay__fetch_t;
relay__fetch_t *relay__fetch_start(int holder, struct relay_object *obj,
                                   struct relay__batch *batch);
/* The waiter is done with f (completed or abandoned). Lock held. */
void relay__fetch_finish(relay__fetch_t *f);
/* A completed f: make *obj_p (the waiter's reference to its target) the
 * object to use. Lock held. */
void relay__fetch_adopt(relay__fetch_t *f, struct relay_object **obj_p);

/* Holder side: send obj's bytes to dest on tag, in chunks. Lock held. */
void relay__send_object(int dest, int tag, size_t chunk, struct relay_object *obj);

/* Holder side: tell dest its fetch on tag cannot be answered. Lock held. */
void relay__comm_refuse_fetch(int dest, int tag, int status);

/* The largest tag a transfer may use (MPI's limit on this communicator). */
int relay__comm_tag_max(void);

/* Handler of FETCH_ERR records (the fetching side). */
void relay__comm_on_fetch_err(int src, relay__rbuf_t *r);

#endif
