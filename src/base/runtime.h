/* The per-process runtime: one global, its lock, ids and the helpers every
 * part shares (record types: records.h). */
#ifndef RELAY_RUNTIME_H
#define RELAY_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "hashmap.h"
#include "records.h"
#include "relay.h"
#include "wire.h"

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
/* Bytes kept of a host name, its NUL included. */
#define RELAY__HOST_MAX 64

typedef struct relay__runtime {
    atomic_int state;
    int rank, size;
    MPI_Comm comm;
    /* The ranks of comm on this machine (they share its memory): they
     * share out its CPUs, memory and GPUs. */
    MPI_Comm host;
    /* The ranks relay treats as one node: those of host, or this rank alone
     * (RELAY_NODES=rank, node == host otherwise). Ranks of one node ring
     * each other's doorbells; others' messages are found by polling. */
    MPI_Comm node;
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
    /* Dataflow counters (lock held): relay_stats_t says what each counts. */
    uint64_t placed_ahead, objects_forwarded, objects_pushed, objects_handed_over, tasks_moved;
    uint64_t ref_checks; /* relay_stats_t's (lock held) */
    char **rank_fates;   /* relay__rank_fate: size entries, NULL until one is set */
    char *hosts;         /* [size * RELAY__HOST_MAX]: each rank's host name (relay_init) */
    int ranks_lost;      /* ranks found lost (comm.c): collective teardown steps are skipped */
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

/* The rank's hold count on id (relay__g.holds) moves by delta (1 or -1):
 * the new count, or -1 when there is none to drop. Shared by the client's
 * retain/release and by an actor's death, which drops the holds it kept.
 * An actor's own bookkeeping follows the move (relay__worker_hold_moved).
 * Lock held. */
long relay__hold_rank_move(uint64_t id, int delta);

/* What is known of how a rank ended (a crash report it sent), kept so that
 * the errors of the work it held can say it: "" when nothing is known.
 * Set replaces. Lock held (teardown frees them: relay__rank_fates_free). */
void relay__rank_fate_set(int rank, const char *text);
/* Copies the rank's fate into buf (n bytes, NUL-terminated; "" if none). */
void relay__rank_fate(int rank, char *buf, size_t n);
void relay__rank_fates_free(void);
/* The name of the host rank runs on, "?" when unknown (any thread once
 * relay_init has gathered them). */
const char *relay__rank_host(int rank);

/* Whether id, made by this rank, lost its last hold here lately (the last
 * few thousand such ids are remembered; a new hold forgets it): a use of
 * it is then worth checking with rank 0. Lock held. Reset: emptied (at
 * init and finalize). */
int relay__released_own(uint64_t id);
/* id is known to live still (rank 0 said so): no longer worth checking. */
void relay__released_forget(uint64_t id);
void relay__released_reset(void);

#endif
