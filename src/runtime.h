/* The per-process runtime: one global, its lock, ids, record types and the
 * helpers every part shares. */
#ifndef RELAY_RUNTIME_H
#define RELAY_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "hashmap.h"
#include "relay.h"
#include "wire.h"

/* Records (see wire.h for framing). The comment names who handles them. */
enum relay__record_type {
    RELAY__R_SUBMIT = 1,   /* client → scheduler: a new task */
    RELAY__R_PUT,          /* client → directory: a new object */
    RELAY__R_RELEASE,      /* client → directory: a rank dropped its hold */
    RELAY__R_RETAIN_CHECK, /* client → directory: take a hold if the object exists */
    RELAY__R_GET,          /* client → directory: want an object (or to know it is ready) */
    RELAY__R_GET_CANCEL,   /* client → directory: forget a GET the client gave up on */
    RELAY__R_DONE,         /* worker → scheduler: a task finished */
    RELAY__R_BLOCK, /* worker → scheduler: a task blocked (CPUs given back, what it waits for) */
    RELAY__R_UNBLOCK,      /* worker → scheduler: it resumed (CPUs taken back) */
    RELAY__R_KILL,         /* client → rank 0: kill this actor (REPLY) */
    RELAY__R_LOOKUP,       /* client → rank 0: the actor of this name (ACTOR_REPLY) */
    RELAY__R_ACTOR_GONE,   /* actor's rank → rank 0: destructor ran, resources back */
    RELAY__R_ACTOR_CPU,    /* actor's rank → rank 0: its CPUs given back (-) or taken (+) */
    RELAY__R_SYNC,         /* client → rank 0: reply once all earlier records are handled */
    RELAY__R_SHUTDOWN_ACK, /* rank → rank 0: shut down, nothing running */
    RELAY__R_GET_REPLY,    /* directory → client */
    RELAY__R_REPLY,        /* rank 0 → client: status of RETAIN_CHECK, SYNC, KILL, named create */
    RELAY__R_ACTOR_REPLY,  /* rank 0 → client: answer to LOOKUP */
    RELAY__R_TASK,         /* scheduler → worker: run this task */
    RELAY__R_CANCEL,       /* scheduler → worker: fail this task if it has not started */
    RELAY__R_ACTOR_KILL,   /* rank 0 → actor's rank: the actor dies */
    RELAY__R_FREE,         /* directory → holder: drop these objects */
    RELAY__R_FETCH,        /* client → holder: send me this object's bytes */
    RELAY__R_FETCH_ERR,    /* holder → client: cannot */
    RELAY__R_SHUTDOWN,     /* rank 0 → rank: stop taking work */
    RELAY__R_EXIT,         /* rank 0 → rank: leave the runtime loop */
    RELAY__R_PING,         /* rank 0 → rank: answer once your earlier records are out */
    RELAY__R_PONG,         /* rank → rank 0: answer to PING */
};

/* What a SUBMIT / TASK record asks for: a task, an actor (its constructor),
 * or a method call on an actor. */
enum { RELAY__KIND_TASK = 0, RELAY__KIND_ACTOR = 1, RELAY__KIND_METHOD = 2 };

/* Flags of a GET record. */
enum { RELAY__GET_DATA = 1, RELAY__GET_NOW = 2 /* answer at once, TIMEOUT if not ready */ };

#define RELAY__TAG_CTRL 1
#define RELAY__TAG_XFER_BASE 16

/* Ids: creating rank (20 bits) | sequence (36 bits) | return index (8 bits). */
#define RELAY__ID_RANK_SHIFT 44
#define RELAY__ID_SEQ_MASK ((UINT64_C(1) << 36) - 1)
static inline uint64_t relay__id_make(int rank, uint64_t seq, unsigned idx)
{
    return ((uint64_t)rank << RELAY__ID_RANK_SHIFT) | ((seq & RELAY__ID_SEQ_MASK) << 8) | idx;
}
static inline int relay__id_rank(uint64_t id)
{
    return (int)(id >> RELAY__ID_RANK_SHIFT);
}
static inline uint64_t relay__id_seq(uint64_t id)
{
    return (id >> 8) & RELAY__ID_SEQ_MASK;
}
static inline unsigned relay__id_index(uint64_t id)
{
    return (unsigned)(id & 0xff);
}

enum { RELAY__STATE_OFF = 0, RELAY__STATE_ON = 1 };

typedef struct relay__runtime {
    atomic_int state;
    int rank, size;
    MPI_Comm comm;
    MPI_Comm node; /* the ranks of comm on this node (shared memory), split once */
    int mpi_owned; /* relay called MPI_Init */
    relay_config_t cfg;

    /* One lock guards everything below that is not atomic. */
    pthread_mutex_t lock;
    pthread_cond_t state_cv; /* finalize waits for shutdown/exit */

    atomic_uint_fast64_t next_seq;
    uint64_t next_req;
    relay__map_t reqs;  /* client: request id → struct relay__req */
    relay__map_t holds; /* client: object id → hold count (as uintptr_t) */

    int shutting_down; /* client calls fail with RELAY_ERR_SHUTDOWN */
    int exiting;       /* the runtime thread leaves its loop */

    struct relay__cluster *cluster; /* what every rank offers */
    /* Published (release) once fully built: idle workers poll it from
     * their first instruction, before the runtime thread exists. */
    _Atomic(struct relay__comm *) comm_state;
    struct relay__store *store;
    struct relay__pool *pool;     /* NULL when this rank hosts no workers */
    struct relay__dir *dir;       /* rank 0 */
    struct relay__sched *sched;   /* rank 0 */
    struct relay__actors *actors; /* rank 0 */

    atomic_uint_fast64_t tasks_submitted, tasks_executed, bytes_fetched, live_views, live_objects;
} relay__runtime_t;

extern relay__runtime_t relay__g;

static inline int relay__is_on(void)
{
    return atomic_load_explicit(&relay__g.state, memory_order_acquire) == RELAY__STATE_ON;
}

/* Checks shared by public calls: initialised, not shutting down. */
int relay__check_on(const char *call);

/* Monotonic clock in seconds. */
double relay__now(void);

#endif
