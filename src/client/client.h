/* The client side of the API, on every rank: submissions, puts, gets,
 * waits, holds. Requests to rank 0 wait on a batch condition that reply
 * handlers signal. */
#ifndef RELAY_CLIENT_H
#define RELAY_CLIENT_H

#include <pthread.h>
#include <stdint.h>

#include "batch.h"
#include "relay.h"
#include "resources.h"
#include "wire.h"

struct relay__fetch;

/* One outstanding request to rank 0 (or, for its bytes, to a holder). */
typedef struct relay__req {
    uint64_t req_id, obj_id;
    uint64_t extra; /* ACTOR_REPLY: the class hash */
    relay__batch_t *batch;
    int replied;
    int status;                 /* request status: OK, INVALID_REF, SHUTDOWN, ... */
    struct relay_object *obj;   /* inline/error result, or the fetch target */
    struct relay__fetch *fetch; /* large object in flight */
    int64_t *units;             /* RESOURCES_REPLY: where its quantities go */
} relay__req_t;

/* Every request to rank 0 goes through these. encode writes the record's
 * payload, given req, the id its REPLY or ACTOR_REPLY will carry (0 when no
 * answer is wanted). */
typedef void (*relay__req_encode_t)(relay__wbuf_t *w, uint64_t req, const void *arg);
/* Send rank 0 a record of type; with q (and its batch b), register q for
 * the answer, which relay__req_wait then waits for (and returns its
 * status, TIMEOUT or SHUTDOWN). Lock held. */
void relay__req_send(uint8_t type, relay__req_encode_t encode, const void *arg, relay__req_t *q,
                     relay__batch_t *b);
int relay__req_wait(relay__req_t *q, relay__batch_t *b, double timeout_s);
/* Send and wait: one request, one answer in q (SHUTDOWN at once when
 * shutting down). Lock held. */
int relay__request(uint8_t type, relay__req_encode_t encode, const void *arg, double timeout_s,
                   relay__req_t *q);
/* A request whose payload is its id and obj_id, answered by a REPLY:
 * RETAIN_CHECK, SYNC, KILL. Lock held. */
int relay__round_trip(uint8_t type, uint64_t obj_id, double timeout_s);

/* A submission: a task, an actor's constructor or a method call. */
typedef struct relay__submit {
    const char *call; /* the public call, for messages */
    const char *fn;   /* function, class or method name */
    uint64_t fn_hash;
    const char *name; /* the task's name */
    int nret, retries;
    relay__demand_t demand;
    uint8_t kind;           /* RELAY__KIND_* */
    uint64_t actor_id;      /* methods */
    uint64_t class_hash;    /* methods */
    uint32_t max_conc;      /* constructors */
    const char *actor_name; /* constructors: "" or the name */
    int want_reply;         /* constructors: wait for rank 0 to take the name */
    uint8_t keeps_cpu;      /* constructors: num_cpus given, held for life */
    uint64_t caller;        /* methods: whose order they keep (0: no task's) */
} relay__submit_t;

/* Copy, encode and send a checked submission (lock not held). [OUT]
 * task_id_p (may be NULL), returns_p: sb->nret refs, held. */
int relay__client_submit(relay__submit_t *sb, const relay_arg_t *args, size_t nargs,
                         uint64_t *task_id_p, relay_ref_t *returns_p);
/* Checks shared by the calls that submit (they log and return a status). */
int relay__check_args(const char *call, const char *fn, const relay_arg_t *args, size_t nargs);
int relay__check_task_name(const char *call, const char *fn, const char *name);
int relay__check_num_returns(const char *call, const char *fn, int nret);
/* returns_p may be NULL only when there are no returns. */
int relay__check_returns_p(const char *call, const char *fn, int nret,
                           const relay_ref_t *returns_p);
/* A typed array's description, checked; its size in bytes. */
struct relay__array;
/* An id this rank can tell is invalid: null, a rank that does not exist,
 * or one of its own never handed out (INVALID_REF, logged). */
int relay__check_id(const char *call, uint64_t id);
/* Whether id passes relay__check_id's checks (nothing logged). */
int relay__id_known(uint64_t id);
/* The refs a call hands to relay to be used: refs[0..n), or the
 * RELAY_ARG_REF ones among args[0..n) (a task's arguments, fn its
 * function). */
typedef struct relay__ref_uses {
    const char *call, *fn;
    const relay_ref_t *refs;
    const relay_arg_t *args;
    size_t n;
} relay__ref_uses_t;
/* relay__check_id's checks of each, and for a ref this rank made and no
 * longer holds, having released it lately (relay__released_own), a round
 * trip asking rank 0 whether it still lives (something else may keep it:
 * an object containing it, a task's argument, another rank's hold); one
 * found alive is not asked about again. INVALID_REF, naming the first
 * that fails ("argument 2", or "refs[2]") and the ref. The messages are
 * made only on failure, and the lock is taken once, only when an own ref
 * is among them. Lock not held. */
int relay__check_ref_uses(const relay__ref_uses_t *u);
/* The same for refs[0..n) (relay_put_object, relay_ctx_return_object). */
int relay__check_refs(const char *call, const relay_ref_t *refs, size_t n);

/* Handlers of GET_REPLY and REPLY records. Lock held. */
void relay__client_on_get_reply(int src, relay__rbuf_t *r);
/* Register the client's handlers (every rank, at init). */
void relay__client_init(void);
void relay__client_on_reply(int src, relay__rbuf_t *r);
void relay__client_on_actor_reply(int src, relay__rbuf_t *r);
void relay__client_on_resources_reply(int src, relay__rbuf_t *r);
/* Rank 0: the directory answers its own rank's GET without a message.
 * obj: an inline or error object, or NULL with the holder (-1 for none:
 * want_data was 0 or the status is an error) of a remote object. */
struct relay_object;
struct relay__array;
void relay__client_on_local_reply(uint64_t req_id, int status, struct relay_object *obj, int holder,
                                  uint64_t size, const uint64_t *refs, uint32_t nrefs,
                                  const struct relay__array *array);

/* Fail every pending request with RELAY_ERR_SHUTDOWN. Lock held. */
void relay__client_fail_all(void);

/* Hold bookkeeping (lock held): one more hold, the new count. */
uint64_t relay__hold_add(uint64_t id);

/* Queue a RELEASE record for ids whose local count reached 0. Lock held. */
void relay__post_release(const uint64_t *ids, size_t n);

/* Refs given to a public call: not NULL when n > 0, each one valid here. */
int relay__check_refs_arg(const char *call, const relay_ref_t *refs, size_t n);
/* Register obj (made here) with the directory: inline bytes, or this rank
 * as the holder of a large object in its store. Lock held. */
void relay__publish(struct relay_object *obj);

/* Shared by the client's files (request.c). */
struct relay__wait;
int relay__req_complete(const relay__req_t *q); /* replied, and its bytes are in */
void relay__req_replied(relay__req_t *q);       /* a reply ended q: wake its waiter */
/* A reply that cannot be read still ends its request (INTERNAL) when its
 * request id can be read: the waiter would hang otherwise. */
void relay__reply_unreadable(uint8_t type, int src, const relay__rbuf_t *r,
                             const relay__rbuf_t *whole);
uint64_t relay__new_seq(void); /* the next sequence number for an id made here */
/* Absolute deadline of a timeout, or -1 for none (negative, infinite or
 * absurdly long timeouts all mean forever). */
double relay__deadline_of(double timeout_s);
int relay__check_timeout(const char *call, double timeout_s); /* NaN: INVALID_ARG */
/* Wait on b until done(arg) or the deadline; inside a task the task blocks
 * (CPUs given back, rank 0 told what it waits for: wait). Lock held.
 * Returns 1 when done. */
int relay__wait_until(relay__batch_t *b, double deadline, int (*done)(void *), void *arg,
                      const struct relay__wait *wait);

#endif
