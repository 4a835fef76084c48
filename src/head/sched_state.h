/* Rank 0's scheduler state, shared by scheduler.c (placement, dispatch,
 * completion) and deadlock.c (which reads it to find tasks that can never
 * run). Lock held for everything here. */
#ifndef RELAY_SCHED_STATE_H
#define RELAY_SCHED_STATE_H

#include <stdint.h>

#include "hashmap.h"
#include "list.h"
#include "records.h"
#include "resources.h"

typedef struct relay__sarg {
    uint8_t kind;
    uint64_t ref;
    const void *val; /* inside the task's value block */
    size_t size;
} relay__sarg_t;

/* What a task blocked in get/wait waits for: k of the n ids. A timeout
 * does not matter: until it expires the task is as stuck as without. */
typedef struct relay__blocked {
    int answered; /* a zero timeout or a sync: it resumes whatever happens */
    int holding;  /* counted in relay__sched_t.blocked_holders */
    uint64_t k;
    uint32_t n;
    uint64_t ids[];
} relay__blocked_t;

struct relay__stask;

/* Calls one caller made to one actor, not sent yet, in the order made. */
typedef struct relay__stream {
    relay__list_t calls; /* tasks by their link */
} relay__stream_t;

enum { RELAY__ACTOR_PENDING, RELAY__ACTOR_ALIVE, RELAY__ACTOR_DEAD };

/* An actor as rank 0 knows it. Its constructor's task (the body) holds the
 * actor's resources until its rank reports the destructor ran. */
typedef struct relay__sactor {
    uint64_t id, class_hash;
    int state;
    int rank;                  /* where it lives, -1 until placed */
    struct relay__stask *body; /* NULL once gone */
    int built;                 /* the constructor ran: the body left the task table */
    char *name;                /* NULL: unnamed, or the name freed */
    int dead_status;
    char *dead_msg;
    relay__map_t streams; /* caller key (actor_table.c) -> relay__stream_t */
    int pumping;          /* pumps of its streams running (they nest) */
    int untidy;           /* a stream emptied while pumping is still there */
    uint32_t max_conc;
    /* Calls sent to its rank and not finished, in the order sent: the
     * first max_conc run (it starts them in order), the others wait. */
    relay__list_t sent;                   /* the calls, by their sent node */
    struct relay__sactor *next_same_name; /* names that share a hash */
    int stuck_blocked;  /* scratch of the deadlock check: running, blocked, stuck */
    int running_moving; /* scratch: running calls known to progress */
    int killed;         /* by relay_actor_kill: what its death fails is not an error */
} relay__sactor_t;

/* Tasks asking for the same resources share a shape, which queues those
 * that are ready in arrival order: when its head cannot be placed, none of
 * them can, so dispatch never scans a long queue. */
typedef struct relay__shape {
    relay__demand_t d;
    uint64_t ntasks;     /* tasks of this shape, in any state */
    relay__list_t ready; /* tasks by their link */
    relay__list_t link;  /* on the scheduler's shapes */
    /* Its head as dispatch last saw it while other shapes had ready tasks
     * too, and since when (how long it may have been overtaken). */
    uint64_t head_seq;
    double head_since;
} relay__shape_t;

typedef struct relay__stask {
    uint64_t id, fn_hash, seq; /* seq: arrival order at rank 0 */
    uint8_t kind;              /* RELAY__KIND_TASK, _ACTOR (constructor) or _METHOD */
    uint32_t max_conc;         /* constructors */
    uint8_t keeps_cpu;         /* constructors: the actor holds its CPUs for life */
    uint64_t caller;           /* methods: whose calls they keep order among */
    uint64_t actor_id, req;    /* methods: their actor; constructors: the reply wanted */
    uint64_t class_hash;       /* methods: the class their handle names */
    const char *actor_name;    /* constructors: "" or the name (in values) */
    relay__sactor_t *actor;    /* constructors and methods */
    relay__list_t sent;        /* methods sent: on the actor's list */
    int runs;                  /* scratch: a method its actor runs now (not queued there) */
    char *fn, *name;
    uint32_t nret, retries_left, attempt, nargs;
    int submitter;
    int rank; /* dispatched there, or -1 */
    int missing;
    int pinned;               /* its ref arguments are pinned in the directory */
    int fail_status;          /* a dependency failed: the task will not run */
    int cancelling;           /* rank 0 asked its rank to drop it */
    int cancelled;            /* relay_cancel: never started or retried from now on */
    uint64_t parent;          /* the task that submitted it, or 0 */
    int linked;               /* counted in its parent's nkids (scheduler.c, lineage) */
    uint32_t nkids;           /* pending tasks, or lineage links, it is the parent of */
    relay__list_t links;      /* the lineage links it is the parent of, by their sib */
    int cancel_kids;          /* cancelled recursively: tasks it submits are cancelled */
    int ahead;                /* sent to rank before its arguments exist, not started */
    int done_early;           /* finished before all its arguments were known ready here */
    int has_consumer;         /* a task was placed ahead on its rank for its returns */
    int was_ahead;            /* placed ahead once: may be moved while queued at its rank */
    int recalling;            /* rank 0 asked its rank to give it back (RECALL) */
    int runs_there;           /* its rank answered a RECALL: it had started */
    int unplacing;            /* recalling a task placed ahead back to rank 0 (deadlock check) */
    int no_ahead;             /* taken back once: waits for its inputs at rank 0 from now on */
    uint64_t delivered_stamp; /* the DONE being handled served it (scheduler.c) */
    int steal_for;            /* recalling: the rank that has a CPU for it */
    uint32_t remote_rets;     /* its returns held on a rank, alive (lineage, scheduler.c) */
    size_t bytes;             /* its allocation (lineage: what keeping it costs) */
    relay__list_t placed;     /* was_ahead and counted running: on its rank's list */
    int progress;             /* scratch of the deadlock check: known to progress */
    int wanted;               /* scratch: a stuck blocked task waits for it */
    char *fail_msg;
    relay__shape_t *shape;
    int64_t cpu_held; /* CPU units counted at its rank (0 once blocked and given back) */
    uint32_t ngpu;
    relay__gpu_use_t *gpus;    /* while dispatched with GPUs */
    relay__blocked_t *blocked; /* while blocked in get/wait */
    relay__sarg_t *args;
    void *values;
    relay__list_t link; /* ready: on its shape's queue; method: on its stream */
} relay__stask_t;

/* What rank 0 has given out of one rank's resources. CPUs may be promised
 * beyond the rank's capacity (tasks then queue there, ready to start the
 * moment a CPU frees); GPUs and custom resources never are. */
typedef struct relay__acct {
    int64_t cpu_cap, cpu_used;
    int64_t ahead_cpu;    /* CPUs of tasks placed ahead there, not started */
    relay__list_t placed; /* tasks placed ahead, counted running there, oldest first */
    uint64_t stealing;    /* the task a RECALL is out for, to give this rank, or 0 */
    uint32_t zero_cpu;    /* dispatched tasks asking for no CPU */
    int ngpu;
    int64_t *gpu_free;    /* [ngpu] units */
    int64_t *custom_free; /* [cluster ncustom] units */
} relay__acct_t;

/* A task gone from the task table whose children are still pending: its
 * link to its nearest ancestor still in the table, kept so that a
 * recursive cancel reaches its descendants. It goes when the last of them
 * retires (scheduler.c, lineage). */
typedef struct relay__lineage {
    uint64_t id, parent; /* parent: a task in the table */
    uint32_t nkids;      /* its pending children */
    relay__list_t sib;   /* on its parent's links */
} relay__lineage_t;

typedef struct relay__sched {
    relay__map_t tasks;
    relay__map_t lineage;   /* id -> relay__lineage_t */
    relay__map_t kept;      /* id -> finished task whose remote returns live (lineage) */
    uint64_t kept_bytes;    /* of the tasks in kept (bounded: RELAY__LINEAGE_MAX_BYTES) */
    relay__list_t shapes;   /* by their link */
    relay__shape_t *dflt;   /* 1 CPU, the common shape */
    relay__acct_t *acct;    /* [rank] */
    double avg_run_seconds; /* moving average of tasks' run times */
    uint64_t running;       /* dispatched, not finished */
    uint64_t next_seq;
    int shutting_down, acks;
    int exit_sent;            /* EXIT went to every rank: once only */
    char *acked;              /* [rank]: its SHUTDOWN_ACK came */
    uint64_t blocked_holders; /* blocked without timeout, holding resources */
    uint64_t ahead_holders;   /* placed ahead, holding custom resources while they wait */
    int check_due, checking;
    double next_check;
} relay__sched_t;

relay__sched_t *relay__sched_state(void);
/* GPUs for units out of gpu_free[ngpu] (units free per device): a fraction
 * goes to the fullest device it fits on (keeping whole devices whole),
 * whole GPUs to free devices. Writes the uses to out when not NULL;
 * returns how many, or -1 when they are not free. */
int relay__sched_gpu_pick(const int64_t *gpu_free, int ngpu, int64_t units, relay__gpu_use_t *out);
/* The actor table (id -> relay__sactor_t), for the deadlock check. */
relay__map_t *relay__actor_table(void);

/* For actor.c: the scheduler's own steps on a task. */
void relay__sched_send(relay__stask_t *t, int rank);
void relay__sched_task_fail(relay__stask_t *t, int status, const char *msg);
/* t left its rank: its resources come back (finished: it was counted as
 * running until now). */
void relay__sched_unreserve(relay__stask_t *t, int finished);
void relay__sched_retire(relay__stask_t *t);
void relay__sched_dispatch(void);
/* Unpin t's ref arguments (once). */
void relay__sched_unpin(relay__stask_t *t);
/* Free a task without touching anything else (finalize). */
void relay__sched_free_task(relay__stask_t *t);

/* Remove t from its shape's ready queue and fail it (its returns become
 * error objects with status and msg). */
void relay__sched_fail_ready(relay__stask_t *t, int status, const char *msg);
/* Take t, placed ahead and stuck holding custom resources, back to rank
 * 0, where it waits for its inputs holding nothing (the deadlock check). */
void relay__sched_unplace(relay__stask_t *t);
/* A RECALLED record (the answer to a RECALL). */
void relay__sched_on_recalled(int src, relay__rbuf_t *r);

/* Ask t's rank to drop t if it has not started it (the rank then fails it
 * with status and msg). */
void relay__sched_cancel(relay__stask_t *t, int status, const char *msg);

#endif
