/* Every record that travels between ranks: its type, its fields as a C
 * struct, and one encoder and one decoder side by side, so the sender and
 * the receiver cannot disagree on the layout. A message is a sequence of
 * records [u8 type][u32 length][payload] (framing: wire.h, comm.h); the
 * functions here write and read the payload.
 *
 * Encoders append the payload to w and trust their input (the sender made
 * it). Decoders trust nothing: they check lengths, enum values, counts
 * against relay's maxima, ids, that strings end in a NUL where their
 * length says, and that the payload was consumed to its last byte. They
 * return 0, or -1 with r->why (or "truncated" when r->why is NULL) saying
 * what was wrong; the struct is then partly written and must not be used.
 * Decoded strings, byte blocks and lists point into the record: they live
 * as long as its buffer, and nothing is allocated. Checks that need rank
 * state (is this id known, did this rank run that task) are the handler's.
 *
 * Ranks and ids are checked against the job's size (relay__g.size). */
#ifndef RELAY_RECORDS_H
#define RELAY_RECORDS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "object.h"
#include "relay.h"
#include "resources.h"
#include "wire.h"

/* ---------------------------------------------------------------------- */
/* Record types                                                             */
/* ---------------------------------------------------------------------- */

/* X(NAME, route): who sends it to whom. TO0: any rank to rank 0's
 * directory, scheduler or actor table; FROM0: rank 0 to any rank; PEER:
 * any rank to any rank. The order fixes the type numbers (SUBMIT is 1):
 * records rank 0 handles come first. */
#define RELAY__RECORD_MAP(X)                                                                       \
    X(SUBMIT, TO0)        /* client: a new task, actor or method call */                           \
    X(PUT, TO0)           /* client: a new object */                                               \
    X(RELEASE, TO0)       /* client: the rank dropped its hold on these objects */                 \
    X(RETAIN_CHECK, TO0)  /* client: take a hold if the object exists (REPLY) */                   \
    X(GET, TO0)           /* client: want an object, or to know it is ready (GET_REPLY) */         \
    X(GET_CANCEL, TO0)    /* client: forget a GET the client gave up on */                         \
    X(DONE, TO0)          /* worker: a task finished */                                            \
    X(BLOCK, TO0)         /* worker: a task blocked (CPUs given back, what it waits for) */        \
    X(UNBLOCK, TO0)       /* worker: it resumed (CPUs taken back) */                               \
    X(KILL, TO0)          /* client: kill this actor (REPLY) */                                    \
    X(ABORT, TO0)         /* client: cancel the task making this object (REPLY) */                 \
    X(LOOKUP, TO0)        /* client: the actor of this name (ACTOR_REPLY) */                       \
    X(ACTOR_GONE, TO0)    /* actor's rank: destructor ran, resources back */                       \
    X(ACTOR_CPU, TO0)     /* actor's rank: its CPUs given back (-) or taken (+) */                 \
    X(SYNC, TO0)          /* client: reply once all earlier records are handled */                 \
    X(SHUTDOWN_ACK, TO0)  /* rank: shut down, nothing running */                                   \
    X(GET_REPLY, FROM0)   /* directory to client */                                                \
    X(REPLY, FROM0)       /* status of RETAIN_CHECK, SYNC, KILL, a named create */                 \
    X(ACTOR_REPLY, FROM0) /* answer to LOOKUP */                                                   \
    X(TASK, FROM0)        /* scheduler to worker: run this task */                                 \
    X(CANCEL, FROM0)      /* fail this task if it has not started */                               \
    X(ACTOR_KILL, FROM0)  /* to the actor's rank: the actor dies */                                \
    X(FREE, FROM0)        /* directory to holder: drop these objects */                            \
    X(FETCH, PEER)        /* client to holder: send me this object's bytes */                      \
    X(FETCH_ERR, PEER)    /* holder to client: cannot */                                           \
    X(SHUTDOWN, FROM0)    /* stop taking work */                                                   \
    X(EXIT, FROM0)        /* leave the runtime loop */                                             \
    X(PING, FROM0)        /* answer once your earlier records are out */                           \
    X(PONG, TO0)          /* answer to PING */                                                     \
    X(SUBSCRIBE, PEER)    /* rank of a task placed ahead to its producer's: push me the object */  \
    X(OBJECT, PEER)     /* producer (or rank 0) to a rank where tasks placed ahead wait for it */  \
    X(RECALL, FROM0)    /* give this task back if it has not started (RECALLED) */                 \
    X(RECALLED, TO0)    /* answer to RECALL: whether the task was taken back */                    \
    X(CRASH, TO0)       /* a rank's task crashed: its report, for the driver */                    \
    X(CRASH_ACK, FROM0) /* rank 0 printed a CRASH: the crashing rank may die */                    \
    X(RANK_LOST, FROM0) /* this rank is lost: send it nothing, wait for nothing from it */         \
    X(RESOURCES_QUERY, TO0)   /* client: what is free on a rank (RESOURCES_REPLY) */               \
    X(RESOURCES_REPLY, FROM0) /* answer to RESOURCES_QUERY */

enum relay__record_type {
    RELAY__R_NONE = 0,
#define RELAY__RECORD_ENUM(name, route) RELAY__R_##name,
    RELAY__RECORD_MAP(RELAY__RECORD_ENUM)
#undef RELAY__RECORD_ENUM
        RELAY__R_END /* one past the last type */
};

/* "SUBMIT", ..., or "unknown" for a type outside the table. */
const char *relay__record_name(unsigned type);
/* Whether a record of type may go from rank src to rank dest (its route;
 * 0 for an unknown type). */
int relay__record_route_ok(unsigned type, int src, int dest);
/* Log "malformed <NAME> record from rank <src>: <reason>" for a record
 * that failed to decode (r as its decoder left it). */
void relay__rec_malformed(unsigned type, int src, const relay__rbuf_t *r);

/* What a SUBMIT / TASK asks for: a task, an actor (its constructor), or a
 * method call on an actor. */
enum { RELAY__KIND_TASK = 0, RELAY__KIND_ACTOR = 1, RELAY__KIND_METHOD = 2 };

/* Flags of a GET record. */
enum { RELAY__GET_DATA = 1, RELAY__GET_NOW = 2 /* answer at once, TIMEOUT if not ready */ };

/* MPI tags: control messages, then one per large-object transfer. */
#define RELAY__TAG_CTRL 1
#define RELAY__TAG_XFER_BASE 16
#define RELAY__TAG_XFER_MAX (1 << 22) /* or the communicator's MPI_TAG_UB if lower */

/* Retries a task may ask for (relay_task_opts_t.max_retries). */
#define RELAY__MAX_RETRIES 100
/* Resource quantities: 0..1e9, in units of 1/RELAY__UNIT. */
#define RELAY__UNITS_MAX ((int64_t)1000000000 * RELAY__UNIT)

/* ---------------------------------------------------------------------- */
/* Parts shared by several records                                          */
/* ---------------------------------------------------------------------- */

/* n u64 ids. To encode, v points to n uint64_t; decoded, into the record
 * (unaligned: read them with relay__ids_at). */
typedef struct relay__ids {
    uint32_t n;
    const void *v;
} relay__ids_t;

static inline uint64_t relay__ids_at(const relay__ids_t *l, uint32_t i)
{
    uint64_t x;
    memcpy(&x, (const uint8_t *)l->v + (size_t)i * 8, 8);
    return x;
}

/* An object as the directory knows it: an error, inline bytes, or the
 * rank holding a large object. The wire form of relay__obj_from_desc's
 * input and of every object inside a record. */
typedef struct relay__desc {
    int status;         /* RELAY_OK, or the error an error object stands for */
    const char *errmsg; /* errors */
    uint32_t nrefs;     /* refs the object contains */
    const void *refs;   /* nrefs u64s (unaligned when decoded) */
    int has_array;
    relay__array_t array;
    int is_inline;
    uint64_t size;
    const void *bytes; /* inline */
    int holder;        /* not inline (-1 otherwise) */
} relay__desc_t;

/* Describe an inline object or an error (pointers into o). */
void relay__desc_of_obj(relay__desc_t *d_p, const struct relay_object *o);
/* Describe a large object held by holder (pointers to the arguments). */
void relay__desc_of_remote(relay__desc_t *d_p, uint64_t size, const uint64_t *refs, uint32_t nrefs,
                           const relay__array_t *array, int holder);
void relay__desc_encode(relay__wbuf_t *w, const relay__desc_t *d);
/* Also checks the contained refs, the array's type and shape against the
 * size, and the holder's rank. */
int relay__desc_decode(relay__rbuf_t *r, relay__desc_t *d_p);
static inline uint64_t relay__desc_ref(const relay__desc_t *d, uint32_t i)
{
    uint64_t x;
    memcpy(&x, (const uint8_t *)d->refs + (size_t)i * 8, 8);
    return x;
}

/* A task's demand (resources.h). The decoder checks what needs no cluster
 * table: quantities in range, at most RELAY_MAX_RESOURCES customs in
 * ascending index order, whole GPUs above one; the handler checks the
 * indices against the table. */
void relay__demand_encode(relay__wbuf_t *w, const relay__demand_t *d);
int relay__demand_decode(relay__rbuf_t *r, relay__demand_t *d_p);

/* A task argument. SUBMIT carries values and refs; TASK adds, for a ref,
 * what the directory knows of it (desc), or, for a task placed ahead of
 * its inputs, that the object is pending and which rank runs its maker. */
typedef struct relay__rec_arg {
    uint8_t kind; /* RELAY_ARG_VALUE or RELAY_ARG_REF */
    uint64_t ref;
    const void *data; /* values */
    uint64_t size;
    int pending;        /* TASK, refs: not made yet (no desc) */
    int producer;       /* pending: the rank its maker was sent to, -1 unknown */
    relay__desc_t desc; /* TASK, refs not pending */
} relay__rec_arg_t;

/* Variable-length lists are produced by the sender's callback, called once
 * per item in order (senders keep their own tables: nothing is copied into
 * a temporary array), and decoded into enc, the validated items as they
 * are in the record, read back in order with the list's _next function
 * from a copy of enc. */
typedef void relay__rec_arg_fn(void *ctx, uint32_t i, relay__rec_arg_t *a_p);
typedef struct relay__rec_args {
    uint32_t n;
    relay__rec_arg_fn *get; /* encoding */
    void *ctx;
    relay__rbuf_t enc; /* decoded */
} relay__rec_args_t;

typedef void relay__rec_desc_fn(void *ctx, uint32_t i, relay__desc_t *d_p);
typedef struct relay__rec_descs {
    uint32_t n;
    relay__rec_desc_fn *get; /* encoding */
    void *ctx;
    relay__rbuf_t enc; /* decoded */
} relay__rec_descs_t;

/* ---------------------------------------------------------------------- */
/* Tasks                                                                    */
/* ---------------------------------------------------------------------- */

/* SUBMIT: a client asks for a task, an actor or a method call. */
typedef struct relay__rec_submit {
    uint64_t task_id; /* the submitter's id, return index 0 */
    uint64_t fn_hash;
    const char *fn, *name;  /* 1..RELAY_MAX_NAME-1 characters */
    uint32_t nret;          /* 0..RELAY_MAX_RETURNS (a constructor: 0) */
    uint32_t retries;       /* 0..RELAY__MAX_RETRIES */
    relay__rec_args_t args; /* at most RELAY_MAX_ARGS; no desc */
    int has_demand;         /* 0: 1 CPU */
    relay__demand_t demand;
    uint8_t kind; /* RELAY__KIND_* */
    /* Constructors: the request to answer once the name is taken (0:
     * none), threads for methods, "" or the actor's name. */
    uint64_t req;
    uint32_t max_conc; /* 1..RELAY_MAX_CONCURRENCY */
    const char *actor_name;
    /* Constructors: 1 when the actor holds its CPUs for its life (num_cpus
     * given); 0 when they only place it (Ray's default actor). */
    uint8_t keeps_cpu;
    /* Methods: the actor (any valid id: rank 0 fails a call to an actor
     * it does not know) and the class its handle names; the caller whose
     * calls keep their order: 0 for the sending rank's threads outside
     * tasks, else the calling task's id (an actor's, inside its methods). */
    uint64_t actor_id, class_hash;
    uint64_t caller;
    /* The task that submitted it (0: none, the program's own threads), so
     * that cancelling a task can cancel what it submitted. */
    uint64_t parent;
} relay__rec_submit_t;
void relay__rec_submit_encode(relay__wbuf_t *w, const relay__rec_submit_t *m);
int relay__rec_submit_decode(relay__rbuf_t *r, relay__rec_submit_t *m_p);
void relay__rec_submit_arg_next(relay__rbuf_t *it, relay__rec_arg_t *a_p);

/* Rank 0's hold-back filter reads the ids a SUBMIT or a DONE names before
 * the record's handler decodes it: these skims pass them to fn in record
 * order (SUBMIT: its ref arguments, then a method's actor; DONE: the refs
 * inside its returns) until fn returns nonzero, and return that value, or
 * 0. On a record the decoder accepts they see exactly the ids it gives.
 * They check bounds only, so a nonzero answer must be confirmed by the
 * decoder before anything is done with it, and 0 says nothing of the rest
 * of the record. */
typedef int relay__rec_id_fn(void *ctx, uint64_t id);
int relay__rec_submit_ids(relay__rbuf_t r, relay__rec_id_fn *fn, void *ctx);
int relay__rec_done_ids(relay__rbuf_t r, relay__rec_id_fn *fn, void *ctx);

/* A GPU share given to a task: a device of the rank, units of it. */
typedef struct relay__gpu_use {
    uint32_t dev;  /* index among the rank's GPUs, < RELAY__MAX_GPUS */
    int64_t units; /* 1..RELAY__UNIT */
} relay__gpu_use_t;

/* TASK: rank 0 sends a task to the rank that runs it. */
typedef struct relay__rec_task {
    uint64_t task_id, fn_hash;
    const char *fn, *name;
    uint32_t nret;    /* as in SUBMIT */
    uint32_t attempt; /* 0..RELAY__MAX_RETRIES */
    int has_res;      /* 0: 1 CPU, no GPU */
    int64_t cpu;
    uint32_t ngpu;
    relay__gpu_use_t gpus[RELAY__MAX_GPUS];
    uint8_t kind;
    /* Constructors and methods: the actor, its class, a constructor's
     * max_concurrency (a method's is 0) and whether the actor keeps the
     * constructor's CPUs for its life (as in SUBMIT; a method's is 0). */
    uint64_t actor_id, class_hash;
    uint32_t max_conc;
    uint8_t keeps_cpu;
    relay__rec_args_t args; /* refs with their desc */
} relay__rec_task_t;
void relay__rec_task_encode(relay__wbuf_t *w, const relay__rec_task_t *m);
int relay__rec_task_decode(relay__rbuf_t *r, relay__rec_task_t *m_p);
void relay__rec_task_arg_next(relay__rbuf_t *it, relay__rec_arg_t *a_p);

/* DONE: a task finished (or a rank fails one it could not run). */
typedef struct relay__rec_done {
    uint64_t task_id;
    int status; /* a relay status */
    uint64_t run_ns;
    const char *msg;
    relay__rec_descs_t rets; /* RELAY_OK: its returns; else none */
    relay__ids_t released;   /* holds the task let go of */
    /* Tasks placed ahead that this rank gave the returns to (pushed, or
     * ran here): rank 0 forwards them to the others. */
    relay__ids_t delivered;
} relay__rec_done_t;
void relay__rec_done_encode(relay__wbuf_t *w, const relay__rec_done_t *m);
int relay__rec_done_decode(relay__rbuf_t *r, relay__rec_done_t *m_p);
void relay__rec_done_ret_next(relay__rbuf_t *it, relay__desc_t *d_p);

/* BLOCK: a task waits for k of the ids (answered: it resumes whatever
 * happens), having given back released CPU units. */
typedef struct relay__rec_block {
    uint64_t task_id;
    int64_t released;
    uint8_t answered;
    uint64_t k; /* <= ids.n */
    relay__ids_t ids;
} relay__rec_block_t;
void relay__rec_block_encode(relay__wbuf_t *w, const relay__rec_block_t *m);
int relay__rec_block_decode(relay__rbuf_t *r, relay__rec_block_t *m_p);

/* UNBLOCK: it resumed, taking back taken CPU units. */
typedef struct relay__rec_unblock {
    uint64_t task_id;
    int64_t taken;
} relay__rec_unblock_t;
void relay__rec_unblock_encode(relay__wbuf_t *w, const relay__rec_unblock_t *m);
int relay__rec_unblock_decode(relay__rbuf_t *r, relay__rec_unblock_t *m_p);

/* RECALL: rank 0 takes a task back to place it elsewhere. RECALLED: the
 * answer, taken 1 when the rank dropped it before it started. */
typedef struct relay__rec_recall {
    uint64_t task_id;
    uint8_t taken; /* RECALLED only */
} relay__rec_recall_t;
void relay__rec_recall_encode(relay__wbuf_t *w, const relay__rec_recall_t *m);
int relay__rec_recall_decode(relay__rbuf_t *r, relay__rec_recall_t *m_p);
void relay__rec_recalled_encode(relay__wbuf_t *w, const relay__rec_recall_t *m);
int relay__rec_recalled_decode(relay__rbuf_t *r, relay__rec_recall_t *m_p);

/* CANCEL: fail the task (status, an error, and msg) if not started. */
typedef struct relay__rec_cancel {
    uint64_t task_id;
    int status;
    const char *msg;
} relay__rec_cancel_t;
void relay__rec_cancel_encode(relay__wbuf_t *w, const relay__rec_cancel_t *m);
int relay__rec_cancel_decode(relay__rbuf_t *r, relay__rec_cancel_t *m_p);

/* ---------------------------------------------------------------------- */
/* Objects                                                                  */
/* ---------------------------------------------------------------------- */

/* PUT: a new object of the sender's. */
typedef struct relay__rec_put {
    uint64_t id;
    relay__desc_t desc;
} relay__rec_put_t;
void relay__rec_put_encode(relay__wbuf_t *w, const relay__rec_put_t *m);
int relay__rec_put_decode(relay__rbuf_t *r, relay__rec_put_t *m_p);

/* OBJECT: object id, made, for the tasks placed ahead that wait for it on
 * the receiving rank. Same layout as PUT; the id is any return's. */
int relay__rec_object_decode(relay__rbuf_t *r, relay__rec_put_t *m_p);

/* SUBSCRIBE: send object id (a return of a task this rank was sent) to
 * the sender once made, for task consumer placed ahead there. */
typedef struct relay__rec_subscribe {
    uint64_t id, consumer;
} relay__rec_subscribe_t;
void relay__rec_subscribe_encode(relay__wbuf_t *w, const relay__rec_subscribe_t *m);
int relay__rec_subscribe_decode(relay__rbuf_t *r, relay__rec_subscribe_t *m_p);

/* RELEASE (client to rank 0) and FREE (rank 0 to a holder): at least one id. */
typedef struct relay__rec_ids {
    relay__ids_t ids;
} relay__rec_ids_t;
void relay__rec_ids_encode(relay__wbuf_t *w, const relay__rec_ids_t *m);
int relay__rec_release_decode(relay__rbuf_t *r, relay__rec_ids_t *m_p);
int relay__rec_free_decode(relay__rbuf_t *r, relay__rec_ids_t *m_p);

/* A request naming an id: RETAIN_CHECK, GET_CANCEL, KILL (an actor), and
 * SYNC (id 0). req: the client's request, never 0. */
typedef struct relay__rec_req_id {
    uint64_t req, id;
} relay__rec_req_id_t;
void relay__rec_req_id_encode(relay__wbuf_t *w, const relay__rec_req_id_t *m);
int relay__rec_retain_check_decode(relay__rbuf_t *r, relay__rec_req_id_t *m_p);
int relay__rec_get_cancel_decode(relay__rbuf_t *r, relay__rec_req_id_t *m_p);
int relay__rec_kill_decode(relay__rbuf_t *r, relay__rec_req_id_t *m_p);
int relay__rec_sync_decode(relay__rbuf_t *r, relay__rec_req_id_t *m_p);

/* A request naming an id, with flags: ABORT and GET. */
typedef struct relay__rec_req_flags {
    uint64_t req, id;
    uint8_t flags;
} relay__rec_req_flags_t;

/* ABORT: cancel the task whose return id is (relay_cancel); flags
 * RELAY__ABORT_*. Answered by a REPLY. */
enum { RELAY__ABORT_FORCE = 1, RELAY__ABORT_RECURSIVE = 2 };
typedef relay__rec_req_flags_t relay__rec_abort_t;
void relay__rec_abort_encode(relay__wbuf_t *w, const relay__rec_abort_t *m);
int relay__rec_abort_decode(relay__rbuf_t *r, relay__rec_abort_t *m_p);

/* GET: flags RELAY__GET_*. */
typedef relay__rec_req_flags_t relay__rec_get_t;
void relay__rec_get_encode(relay__wbuf_t *w, const relay__rec_get_t *m);
int relay__rec_get_decode(relay__rbuf_t *r, relay__rec_get_t *m_p);

/* GET_REPLY: the status of a GET and, when RELAY_OK and the data was
 * asked for, the object. */
typedef struct relay__rec_get_reply {
    uint64_t req;
    int status;
    int has_desc;
    relay__desc_t desc;
} relay__rec_get_reply_t;
void relay__rec_get_reply_encode(relay__wbuf_t *w, const relay__rec_get_reply_t *m);
int relay__rec_get_reply_decode(relay__rbuf_t *r, relay__rec_get_reply_t *m_p);

/* REPLY: the status of a request. */
typedef struct relay__rec_reply {
    uint64_t req;
    int status;
} relay__rec_reply_t;
void relay__rec_reply_encode(relay__wbuf_t *w, const relay__rec_reply_t *m);
int relay__rec_reply_decode(relay__rbuf_t *r, relay__rec_reply_t *m_p);

/* FETCH: send size bytes of object id in chunks (1..INT_MAX bytes) on tag. */
typedef struct relay__rec_fetch {
    uint64_t id;
    int tag; /* RELAY__TAG_XFER_BASE..RELAY__TAG_XFER_MAX */
    uint64_t chunk, size;
} relay__rec_fetch_t;
void relay__rec_fetch_encode(relay__wbuf_t *w, const relay__rec_fetch_t *m);
int relay__rec_fetch_decode(relay__rbuf_t *r, relay__rec_fetch_t *m_p);

/* FETCH_ERR: the fetch on tag cannot be served (status, an error). */
typedef struct relay__rec_fetch_err {
    int tag;
    int status;
} relay__rec_fetch_err_t;
void relay__rec_fetch_err_encode(relay__wbuf_t *w, const relay__rec_fetch_err_t *m);
int relay__rec_fetch_err_decode(relay__rbuf_t *r, relay__rec_fetch_err_t *m_p);

/* ---------------------------------------------------------------------- */
/* Actors and control                                                       */
/* ---------------------------------------------------------------------- */

/* LOOKUP: the live actor named name. */
typedef struct relay__rec_lookup {
    uint64_t req;
    const char *name; /* 1..RELAY_MAX_NAME-1 characters */
} relay__rec_lookup_t;
void relay__rec_lookup_encode(relay__wbuf_t *w, const relay__rec_lookup_t *m);
int relay__rec_lookup_decode(relay__rbuf_t *r, relay__rec_lookup_t *m_p);

/* ACTOR_REPLY: the answer to LOOKUP (the actor when RELAY_OK, else 0s). */
typedef struct relay__rec_actor_reply {
    uint64_t req;
    int status;
    uint64_t actor_id, class_hash;
} relay__rec_actor_reply_t;
void relay__rec_actor_reply_encode(relay__wbuf_t *w, const relay__rec_actor_reply_t *m);
int relay__rec_actor_reply_decode(relay__rbuf_t *r, relay__rec_actor_reply_t *m_p);

/* ACTOR_GONE: the actor's destructor ran. */
typedef struct relay__rec_actor_gone {
    uint64_t actor_id;
} relay__rec_actor_gone_t;
void relay__rec_actor_gone_encode(relay__wbuf_t *w, const relay__rec_actor_gone_t *m);
int relay__rec_actor_gone_decode(relay__rbuf_t *r, relay__rec_actor_gone_t *m_p);

/* ACTOR_CPU: the actor's CPU units moved by delta (given back: < 0). */
typedef struct relay__rec_actor_cpu {
    uint64_t actor_id;
    int64_t delta;
} relay__rec_actor_cpu_t;
void relay__rec_actor_cpu_encode(relay__wbuf_t *w, const relay__rec_actor_cpu_t *m);
int relay__rec_actor_cpu_decode(relay__rbuf_t *r, relay__rec_actor_cpu_t *m_p);

/* ACTOR_KILL: the actor dies; its queued calls fail with status and msg. */
typedef struct relay__rec_actor_kill {
    uint64_t actor_id;
    int status;
    const char *msg;
} relay__rec_actor_kill_t;
void relay__rec_actor_kill_encode(relay__wbuf_t *w, const relay__rec_actor_kill_t *m);
int relay__rec_actor_kill_decode(relay__rbuf_t *r, relay__rec_actor_kill_t *m_p);

/* PING and PONG: an epoch of rank 0's, echoed. */
typedef struct relay__rec_ping {
    uint64_t epoch;
} relay__rec_ping_t;
void relay__rec_ping_encode(relay__wbuf_t *w, const relay__rec_ping_t *m);
int relay__rec_ping_decode(relay__rbuf_t *r, relay__rec_ping_t *m_p);
int relay__rec_pong_decode(relay__rbuf_t *r, relay__rec_ping_t *m_p);

/* The epoch of rank 0's liveness PINGs (comm.c): their PONGs say the rank
 * lives and nothing else (the hold-back ignores them). */
#define RELAY__PING_ALIVE UINT64_MAX

/* RANK_LOST: [u32 rank], a rank of the job other than 0. */
typedef struct relay__rec_rank_lost {
    int rank;
} relay__rec_rank_lost_t;
void relay__rec_rank_lost_encode(relay__wbuf_t *w, const relay__rec_rank_lost_t *m);
int relay__rec_rank_lost_decode(relay__rbuf_t *r, relay__rec_rank_lost_t *m_p);

/* CRASH: the one-line report of a task that crashed on the sending rank
 * (node/crash.c), 1..RELAY__CRASH_TEXT_MAX characters. */
#define RELAY__CRASH_TEXT_MAX 4095
typedef struct relay__rec_crash {
    const char *text;
} relay__rec_crash_t;
void relay__rec_crash_encode(relay__wbuf_t *w, const relay__rec_crash_t *m);
int relay__rec_crash_decode(relay__rbuf_t *r, relay__rec_crash_t *m_p);

/* RESOURCES_QUERY: what is free now on rank (-1: every rank not lost),
 * by rank 0's books. [u64 req][u32 rank, UINT32_MAX for -1]. */
typedef struct relay__rec_res_query {
    uint64_t req;
    int rank; /* -1..size-1 */
} relay__rec_res_query_t;
void relay__rec_res_query_encode(relay__wbuf_t *w, const relay__rec_res_query_t *m);
int relay__rec_res_query_decode(relay__rbuf_t *r, relay__rec_res_query_t *m_p);

/* RESOURCES_REPLY: the answer, in units of 1/RELAY__UNIT: free CPUs, free
 * GPUs and the free quantity of each custom resource of the cluster
 * table, in its order (every rank has the same table, so names need not
 * travel; the handler checks ncustom against it). Quantities are 0..
 * RELAY__UNITS_MAX per rank of the job (a sum over ranks); at most
 * RELAY_MAX_RESOURCES customs per rank of the job. A failed query
 * (status not RELAY_OK) carries zeros and no customs.
 * [u64 req][u32 status][u64 cpu][u64 gpu][u32 ncustom][u64 units x ncustom]. */
typedef struct relay__rec_res_reply {
    uint64_t req;
    int status;
    int64_t cpu, gpu;
    uint32_t ncustom;
    const void *custom; /* ncustom int64 (unaligned when decoded) */
} relay__rec_res_reply_t;
void relay__rec_res_reply_encode(relay__wbuf_t *w, const relay__rec_res_reply_t *m);
int relay__rec_res_reply_decode(relay__rbuf_t *r, relay__rec_res_reply_t *m_p);
static inline int64_t relay__rec_res_custom(const relay__rec_res_reply_t *m, uint32_t i)
{
    int64_t x;
    memcpy(&x, (const uint8_t *)m->custom + (size_t)i * 8, 8);
    return x;
}

/* SHUTDOWN, SHUTDOWN_ACK, EXIT and CRASH_ACK carry nothing: the decoder checks that
 * the payload is empty. */
int relay__rec_empty_decode(relay__rbuf_t *r);

#endif
