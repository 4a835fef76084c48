/* Rank 0's object directory: for every live object, whether it is ready,
 * where its bytes are (inline here, or the rank holding them), who keeps it
 * alive (holding ranks, pending tasks that need it, live objects that
 * contain it), who waits for it. Lock held for every call. */
#ifndef RELAY_DIRECTORY_H
#define RELAY_DIRECTORY_H

#include <stdint.h>

#include "wire.h"

struct relay_object;
struct relay__stask;
struct relay__array;

typedef struct relay__dwaiter {
    struct relay__dwaiter *next;
    int rank;
    int want_data;
    uint64_t req;
} relay__dwaiter_t;

typedef struct relay__dentry {
    uint64_t id;
    int ready;
    int holders;              /* ranks holding a ref (each counted once) */
    int pins;                 /* pending tasks with it as argument */
    int contained;            /* live objects containing it */
    struct relay_object *obj; /* ready, inline or error; NULL when remote */
    int holder_rank;          /* rank with the bytes of a remote object */
    uint64_t size;
    uint32_t nrefs; /* refs of a remote object (inline ones are in obj) */
    uint64_t *refs;
    struct relay__array *array; /* a remote typed array's type and shape */
    relay__dwaiter_t *waiters;
    struct relay__stask **deps; /* tasks waiting for it */
    uint32_t ndeps, capdeps;
    int put;    /* made by relay_put, not by a task (relay_cancel refuses it) */
    int unkept; /* its task was not kept: the lineage limit was reached */
} relay__dentry_t;

int relay__dir_init(void);
void relay__dir_destroy(void);
relay__dentry_t *relay__dir_lookup(uint64_t id);
/* A not-yet-ready entry (a task's return) held by one rank. NULL on OOM. */
relay__dentry_t *relay__dir_add_pending(uint64_t id);
/* Make e ready: obj (inline or error, reference taken) or the holder of a
 * remote object. Counts the refs it contains, answers waiters, tells
 * dependent tasks. */
void relay__dir_set_ready(relay__dentry_t *e, struct relay_object *obj, int holder, uint64_t size,
                          const uint64_t *refs, uint32_t nrefs, const struct relay__array *array);
int relay__dir_add_dep(relay__dentry_t *e, struct relay__stask *t);
/* t no longer waits for e (cancelled): returns how many times it did. */
uint32_t relay__dir_drop_dep(relay__dentry_t *e, struct relay__stask *t);
/* Free e if nothing keeps it alive any more. */
void relay__dir_maybe_free(relay__dentry_t *e);
/* e's descriptor (records.h), pointing into e. */
struct relay__desc;
void relay__dir_desc(const relay__dentry_t *e, struct relay__desc *d_p);
void relay__dir_stats(uint64_t *objects_p, uint64_t *bytes_p);
uint64_t relay__dir_waiters(void);
/* An error object (RELAY_ERR_NO_MEMORY) standing for an object rank 0 had
 * no memory to store: getters are told instead of the job aborting. */
struct relay_object *relay__dir_oom_object(uint64_t id, uint64_t size);

/* rank was lost (lost: "rank 2 (host h) was lost..."): the objects only
 * it held are made again by their tasks where the scheduler kept them
 * (relay__sched_can_remake), else become errors (RELAY_ERR_RANK_LOST). */
void relay__dir_rank_lost(int rank, const char *lost);
/* A ready remote entry waits for its task again (lineage). */
void relay__dir_unready(relay__dentry_t *e);

void relay__dir_on_put(int src, relay__rbuf_t *r);
void relay__dir_on_release(int src, relay__rbuf_t *r);
void relay__dir_on_retain_check(int src, relay__rbuf_t *r);
void relay__dir_on_get(int src, relay__rbuf_t *r);
void relay__dir_on_get_cancel(int src, relay__rbuf_t *r);

/* Reply to a REPLY-type request (SYNC, RETAIN_CHECK). */
void relay__post_reply(int dest, uint64_t req, int status);

/* How rank 0's directory answers a GET from its own rank: straight to the
 * client's request, sharing the object (obj, or holder >= 0 with size,
 * refs and array for a remote one). Set by the client at init. */
struct relay__array;
typedef void (*relay__local_reply_t)(uint64_t req_id, int status, struct relay_object *obj,
                                     int holder, uint64_t size, const uint64_t *refs,
                                     uint32_t nrefs, const struct relay__array *array);
void relay__dir_set_local_reply(relay__local_reply_t fn);

#endif
