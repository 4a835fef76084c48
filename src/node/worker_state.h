/* A worker rank's pool and task contexts, shared by worker.c (tasks) and
 * actor_host.c (actors, whose constructors run as tasks and whose methods
 * run on the actor's own threads with the same contexts). Lock held for
 * everything here unless said otherwise. */
#ifndef RELAY_WORKER_STATE_H
#define RELAY_WORKER_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "list.h"
#include "relay.h"
#include "resources.h"

typedef struct relay__warg {
    uint8_t kind;
    uint64_t ref;
    struct relay_object *obj;   /* complete, or the target of a fetch; NULL pending */
    int holder;                 /* >= 0: bytes still to fetch from there */
    uint8_t pending;            /* placed ahead: the object is not here yet */
    int producer;               /* pending: the rank its maker was sent to, or -1 */
    struct relay__incoming *in; /* its transfer here, joined (arg_fetch.c) */
} relay__warg_t;

/* A rank that asked for a return of a task running here (SUBSCRIBE). */
typedef struct relay__sub {
    uint64_t id, consumer;
    int rank;
} relay__sub_t;

struct relay__host;

struct relay_ctx {
    uint64_t task_id, fn_hash;
    char *fn, *name;
    uint32_t nret, attempt, nargs;
    uint8_t kind;          /* RELAY__KIND_TASK, _ACTOR (its constructor) or _METHOD */
    uint8_t fetch_started; /* relay__argf_start ran */
    int64_t cpu;           /* CPU units it holds while it runs */
    int released;          /* blocked, its CPUs given back */
    int started;           /* its function was called (post_done's wording) */
    /* relay_finalize left while it ran: its thread, back from any wait or
     * function, leaves without touching relay (lock held to read). */
    int abandoned;
    uint32_t ngpu;
    uint32_t *gpu_index; /* among the rank's GPUs */
    int64_t *gpu_units;
    uint64_t actor_id, class_hash; /* actors and methods */
    uint32_t max_conc;             /* constructors */
    uint8_t keeps_cpu;             /* constructors: the actor keeps cpu for life */
    struct relay__host *host;      /* actors and methods: the actor here */
    double seconds;                /* the function's run time */
    relay__warg_t *args;
    struct relay_object **rets;
    int failed;
    char *fail_msg;
    /* The last get or wait that failed inside the function: its status,
     * and "STATUS from call <- its error" (the error from cause_detail on),
     * so a failure passed on carries its cause. */
    int cause_status;
    char *cause;
    size_t cause_detail;
    uint64_t *deferred;
    size_t ndeferred, capdeferred;
    /* Dataflow (dataflow.h): arguments still to come, whether it waits
     * for them, subscriptions to its returns, tasks it served. */
    uint32_t missing;
    int waiting, finished, pushed;
    relay__sub_t *subs;
    uint32_t nsubs, capsubs;
    uint64_t *delivered;
    uint32_t ndelivered, capdelivered;
    /* RELAY__CANCEL_* bits, read without the lock by relay_ctx_cancelled;
     * the condition its get/wait sleeps on, so a cancel can wake it. */
    atomic_int cancel;
    pthread_cond_t *wait_cv;
    relay__list_t link; /* on its pool's queue, its actor's mailbox, or running there */
};

/* The first context queued on q, or NULL. */
static inline relay_ctx_t *relay__ctx_first(const relay__list_t *q)
{
    relay__list_t *n = relay__list_first(q);
    return n ? RELAY__LIST_ENTRY(n, relay_ctx_t, link) : NULL;
}

typedef struct relay__pool {
    relay__list_t queue; /* queued asking for CPUs, started in order */
    /* Queued asking for no CPU: they start at once, whatever waits for
     * CPUs in queue (a task that needs nothing never waits behind one
     * that needs something). */
    relay__list_t free_queue;
    int64_t cpu_cap, cpu_free;
    int nthreads, idle, active, blocked, max_threads;
    int starting; /* threads started that have not looked for work yet */
    int resumers; /* blocked tasks waiting for their CPUs back: they go first */
    int stop, acked;
    int spinning;     /* a thread is polling (for tasks, or an actor for calls) */
    int task_spinner; /* that thread is a worker: it takes the next task */
    int warned_limit;
    int64_t gpu_used[RELAY__MAX_GPUS];
    pthread_cond_t cv, resume_cv;
    pthread_t *threads;
    /* [max_threads]: what each thread runs (NULL: none), for finalize to
     * flag and, when it must, abandon; and whether it has left. */
    struct relay__slot *slots;
    /* relay_finalize left while tasks still ran: the pool, their threads
     * and contexts stay allocated for good; a thread whose task returns
     * sees this and leaves without touching anything else. */
    int abandoned;
    struct relay__pool *next_abandoned;
} relay__pool_t;

typedef struct relay__slot {
    relay__pool_t *pool;
    relay_ctx_t *running;
    int gone;
} relay__slot_t;

void relay__ctx_free(relay_ctx_t *c);
/* Fill a's object from what d says of it: inline bytes, an object of this
 * rank's store, or one to fetch from its holder. -1 when out of memory. */
struct relay__desc;
int relay__warg_fill(relay__warg_t *a, const struct relay__desc *d);
/* Note that rank wants return id of c for task consumer. -1: no memory. */
int relay__ctx_add_sub(relay_ctx_t *c, uint64_t id, uint64_t consumer, int rank);
/* Note that c's returns reached task consumer. Out of memory, the note is
 * lost: rank 0 then forwards the object as well, a second copy that finds
 * nobody waiting. */
void relay__ctx_add_delivered(relay_ctx_t *c, uint64_t consumer);
/* A context whose arguments are all here joins the pool's queue. */
void relay__pool_enqueue(relay_ctx_t *c);
void relay__ctx_failf(relay_ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Why c failed, given its function's return rc: its relay_ctx_fail reason,
 * the cause of a failed get whose status it returned, or rc itself
 * (written to buf). */
const char *relay__ctx_reason(const relay_ctx_t *c, int rc, char *buf, size_t n);
/* Completion of a context that ran (rc: the function's return). */
void relay__post_done(relay_ctx_t *c, int rc);
/* A DONE failing a task this rank did not run. */
void relay__post_failure(uint64_t task_id, int status, const char *msg);
/* Count c's GPU shares as used (sign +1) or free again (-1). */
void relay__pool_gpus_use(relay__pool_t *p, const relay_ctx_t *c, int sign);
/* CPUs came free on the pool: resumers first, then the queue. */
void relay__pool_cpus_freed(relay__pool_t *p);
/* A thread could use CPUs given back now (an idle one, or room for one). */
int relay__pool_thread_for_cpus(const relay__pool_t *p);
/* Take cpu units back for a resuming context, before any queued task
 * (waits while they are in use). */
void relay__pool_take_back(relay__pool_t *p, int64_t cpu);
/* Poll MPI on the calling thread for a short while, until ready(arg): the
 * thread that receives work then does it, with no hand-off. One thread of
 * the rank at a time, and never where ranks outnumber cores. Returns 0
 * when it did not spin. */
int relay__pool_spin(relay__pool_t *p, int (*ready)(const void *), const void *arg);
/* Take the queued (not started) task task_id out of the pool, or NULL. */
relay_ctx_t *relay__pool_take_queued(relay__pool_t *p, uint64_t task_id);
/* Tell rank 0 this rank is idle once shutting down, if it is. */
void relay__worker_maybe_ack(void);
/* The context running on the calling thread (set while a function runs). */
void relay__worker_set_current(relay_ctx_t *c);

#endif
