#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arg_fetch.h"
#include "batch.h"
#include "comm.h"
#include "crash.h"
#include "dataflow.h"
#include "doorbell.h"
#include "gpu.h"
#include "log.h"
#include "registry.h"
#include "runtime.h"
#include "store.h"
#include "summary.h"
#include "actor_host.h"
#include "worker_state.h"
#include "trace_node.h"

/* How long an idle worker polls for tasks before it sleeps. */
#define IDLE_SPIN_SECONDS 50e-6

static _Thread_local relay_ctx_t *tls_ctx;

relay_ctx_t *relay__worker_current(void)
{
    return tls_ctx;
}

void relay__worker_set_current(relay_ctx_t *c)
{
    tls_ctx = c;
    relay__crash_running(c);
}

uint64_t relay__worker_caller(void)
{
    const relay_ctx_t *c = tls_ctx;
    if (!c) return 0;
    return c->kind == RELAY__KIND_TASK ? c->task_id : c->actor_id;
}

void relay__worker_hold_moved(uint64_t id, int delta)
{
    relay__host_hold_moved(tls_ctx, id, delta);
}

void relay__worker_note_failure(const char *call, int status)
{
    relay_ctx_t *c = tls_ctx;
    if (!c || status == RELAY_OK) return;
    char head[96];
    snprintf(head, sizeof head, "%s from %s", relay_status_name(status), call);
    char *cause = relay__errjoin(head, " <- ", relay_last_error());
    if (!cause) return; /* out of memory: the failure goes without its cause */
    free(c->cause);
    c->cause = cause;
    c->cause_status = status;
    c->cause_detail = strlen(head) + 4;
    if (c->cause_detail > strlen(cause)) c->cause_detail = strlen(cause);
}

int relay__worker_cancel_bits(const relay_ctx_t *c)
{
    return atomic_load_explicit(&c->cancel, memory_order_relaxed);
}

void relay__worker_flag(relay_ctx_t *c, int bits)
{
    atomic_fetch_or_explicit(&c->cancel, bits, memory_order_relaxed);
    if (c->wait_cv) pthread_cond_broadcast(c->wait_cv);
    /* It may be waiting for its CPUs back after a get (take_back). */
    if (c->released && relay__g.pool) pthread_cond_broadcast(&relay__g.pool->resume_cv);
}

void relay__worker_wait_cv(relay_ctx_t *c, pthread_cond_t *cv)
{
    c->wait_cv = cv;
}

void relay__ctx_free(relay_ctx_t *c)
{
    relay__flow_forget(c);
    relay__argf_drop(c);
    free(c->subs);
    free(c->delivered);
    for (uint32_t i = 0; i < c->nargs; i++)
        relay__obj_unref(c->args[i].obj);
    for (uint32_t i = 0; i < c->nret; i++)
        relay__obj_unref(c->rets[i]);
    free(c->fail_msg);
    free(c->cause);
    free(c->deferred);
    free(c); /* tables and names share its allocation */
}

/* ---------------------------------------------------------------------- */
/* Completion                                                               */
/* ---------------------------------------------------------------------- */

/* A DONE that fails a task this rank did not run. Lock held. It is sent
 * from inside the handler of the record that brought the task (TASK,
 * CANCEL, ACTOR_KILL), which on rank 0 runs inside the scheduler's own
 * send: rank 0 gets it later, once that send has returned, and never
 * frees or retries a task under the call still sending it. */
void relay__post_failure(uint64_t task_id, int status, const char *msg)
{
    relay__rec_done_t m = {task_id, status, 0, msg, {0, NULL, NULL, {0}}, {0, NULL}, {0, NULL}};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin_later(0, RELAY__R_DONE, &start);
    relay__rec_done_encode(w, &m);
    relay__msg_end_later(0, w, start);
}

int relay__ctx_add_sub(relay_ctx_t *c, uint64_t id, uint64_t consumer, int rank)
{
    if (c->nsubs == c->capsubs) {
        uint32_t cap = c->capsubs ? 2 * c->capsubs : 4;
        relay__sub_t *v = realloc(c->subs, cap * sizeof *v);
        if (!v) return -1;
        c->subs = v;
        c->capsubs = cap;
    }
    c->subs[c->nsubs++] = (relay__sub_t){id, consumer, rank};
    return 0;
}

void relay__ctx_add_delivered(relay_ctx_t *c, uint64_t consumer)
{
    if (c->ndelivered == c->capdelivered) {
        uint32_t cap = c->capdelivered ? 2 * c->capdelivered : 4;
        uint64_t *v = realloc(c->delivered, cap * sizeof *v);
        if (!v) return;
        c->delivered = v;
        c->capdelivered = cap;
    }
    c->delivered[c->ndelivered++] = consumer;
}

/* The returns of a task that ran, all set: large ones kept in this rank's
 * store. */
static void rets_finalize(relay_ctx_t *c)
{
    for (uint32_t i = 0; i < c->nret; i++)
        if (c->rets[i]->size > relay__g.cfg.inline_max) relay__store_insert(c->rets[i]);
}

/* Fail c, whose function returned success, if it left returns unset: as
 * Ray fails a task that returns fewer values than num_returns. */
static void check_rets_set(relay_ctx_t *c)
{
    char list[RELAY_MAX_RETURNS * 4];
    size_t len = 0;
    uint32_t missing = 0;
    for (uint32_t i = 0; i < c->nret; i++) {
        if (c->rets[i]) continue;
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%u", missing ? ", " : "", i);
        missing++;
    }
    if (missing)
        relay__ctx_failf(c, "it did not set return%s %s of %u", missing > 1 ? "s" : "", list,
                         c->nret);
}

const char *relay__ctx_reason(const relay_ctx_t *c, int rc, char *buf, size_t n)
{
    if (c->fail_msg) return c->fail_msg;
    if (c->cause && rc == c->cause_status) return c->cause;
    snprintf(buf, n, "function returned %d", rc);
    return buf;
}

/* Return i of a task that ran: inline, or kept in this rank's store. */
static void done_ret(void *ctx, uint32_t i, relay__desc_t *d_p)
{
    relay_ctx_t *c = ctx;
    const struct relay_object *o = c->rets[i];
    if (o->size <= relay__g.cfg.inline_max)
        relay__desc_of_obj(d_p, o);
    else
        relay__desc_of_remote(d_p, o->size, o->refs, o->nrefs, o->array, relay__g.rank);
}

void relay__post_done(relay_ctx_t *c, int rc)
{
    char *msg = NULL, head[3 * RELAY_MAX_NAME] = "";
    int status = RELAY_OK;
    if (!c->failed && rc == 0) check_rets_set(c);
    if (relay__worker_cancel_bits(c) & RELAY__CANCEL_TASK) {
        /* Whatever it returned: its caller asked for it not to finish. */
        status = RELAY_ERR_CANCELLED;
        snprintf(head, sizeof head, "task '%s' (function '%s') was cancelled %s on rank %d",
                 c->name, c->fn, c->started ? "while it ran" : "before it started", relay__g.rank);
    } else if (c->failed || rc != 0) {
        status = RELAY_ERR_TASK_FAILED;
        char num[48];
        snprintf(head, sizeof head, "task '%s' (function '%s') failed on rank %d: ", c->name, c->fn,
                 relay__g.rank);
        /* Out of memory, the head alone says where it failed. */
        msg = relay__errjoin(head, "", relay__ctx_reason(c, rc, num, sizeof num));
    }
    /* Tasks placed ahead get the returns before rank 0 hears of them. */
    if (status == RELAY_OK) {
        rets_finalize(c);
        c->pushed = relay__flow_deliver(c);
    }
    relay__rec_done_t m = {c->task_id,
                           status,
                           (uint64_t)(c->seconds * 1e9),
                           msg ? msg : head,
                           {status == RELAY_OK ? c->nret : 0, done_ret, c, {0}},
                           {(uint32_t)c->ndeferred, c->deferred},
                           {c->ndelivered, c->delivered}};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_DONE, &start);
    relay__rec_done_encode(w, &m);
    relay__msg_end(0, w, start);
    free(msg);
}

/* The rank tells rank 0 it is idle once shutting down. Lock held. */
void relay__worker_maybe_ack(void)
{
    relay__pool_t *p = relay__g.pool;
    if (!relay__g.shutting_down) return;
    if (p && (p->acked || p->active > 0 || relay__host_busy())) return;
    if (p) p->acked = 1;
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_SHUTDOWN_ACK, &start);
    relay__msg_end(0, w, start);
}

/* ---------------------------------------------------------------------- */
/* CPUs and threads                                                         */
/* ---------------------------------------------------------------------- */

static int spawn(relay__pool_t *p);

/* The next task to start now, or NULL: one asking for no CPU, else the
 * head of the CPU queue if nobody resuming waits and its CPUs are free.
 * Strict order among tasks asking for CPUs: a task asking for many is not
 * overtaken forever by small ones (rank 0 sends it only when the CPUs
 * promised here leave room for it, so it waits for those alone). */
static relay_ctx_t *startable(const relay__pool_t *p)
{
    relay_ctx_t *c = relay__ctx_first(&p->free_queue);
    if (c) return c;
    c = relay__ctx_first(&p->queue);
    return c && (c->cpu == 0 || (p->resumers == 0 && c->cpu <= p->cpu_free)) ? c : NULL;
}

/* Make sure a thread takes the head if it can start. Lock held. */
static void kick(relay__pool_t *p)
{
    if (!startable(p)) return;
    if (p->starting > 0) return; /* a new thread is about to look */
    /* The worker polling for tasks takes it when it next looks, and kicks
     * for the one after. Waking another as well costs a futex wake per
     * task and a thread that finds nothing, and where a rank's threads
     * may run on any core, that thread takes a core from the one the
     * task's reply waits for. */
    if (p->task_spinner) return;
    if (p->idle > 0)
        pthread_cond_signal(&p->cv);
    else if (!p->stop && spawn(p) != 0 && !p->warned_limit) {
        p->warned_limit = 1;
        relay__log(RELAY__LOG_WARN, "worker pool at its limit of %d threads (RELAY_MAX_THREADS)",
                   p->max_threads);
    }
}

/* CPUs came free: resuming tasks take them first. */
void relay__pool_cpus_freed(relay__pool_t *p)
{
    if (p->resumers)
        pthread_cond_broadcast(&p->resume_cv);
    else
        kick(p);
}

/* ---------------------------------------------------------------------- */
/* Running a task                                                           */
/* ---------------------------------------------------------------------- */

void relay__ctx_failf(relay_ctx_t *c, const char *fmt, ...)
{
    char buf[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    c->failed = 1;
    free(c->fail_msg);
    c->fail_msg = strdup(buf);
}

void relay__pool_gpus_use(relay__pool_t *p, const relay_ctx_t *c, int sign)
{
    for (uint32_t g = 0; g < c->ngpu; g++)
        p->gpu_used[c->gpu_index[g]] += sign * c->gpu_units[g];
}

/* A constructor that fails before it runs: its actor dies with it. */
static int fail_early(relay_ctx_t *c)
{
    relay__post_done(c, -1);
    if (c->kind == RELAY__KIND_ACTOR)
        relay__host_abort(c, c->fail_msg ? c->fail_msg : "its constructor could not start");
    return 0;
}

/* Lock held on entry and exit; released while the function runs. Returns
 * 1 when c's CPUs and GPUs now belong to an actor it constructed, -1 when
 * relay_finalize abandoned it meanwhile. */
static int run_task(relay__pool_t *p, relay_ctx_t *c)
{
    int fetched = c->failed ? RELAY_ERR_TASK_FAILED : relay__argf_wait(c);
    /* The lock went while its arguments came: finalize may have left. */
    if (c->abandoned) return -1;
    if (fetched != RELAY_OK) return fail_early(c);
    /* Cancelled while its arguments came: it does not start. */
    if (relay__worker_cancel_bits(c) & RELAY__CANCEL_TASK) return fail_early(c);
    const char *name = NULL;
    relay_fn_t fn = c->kind == RELAY__KIND_TASK ? relay__fn_lookup(c->fn_hash, &name) : NULL;
    if (c->kind == RELAY__KIND_TASK && (!fn || strcmp(name, c->fn) != 0)) {
        relay__ctx_failf(c, "function '%s' is not registered on rank %d", c->fn, relay__g.rank);
        return fail_early(c);
    }
    /* The first GPU is current on this thread for the whole task, blocked
     * gets included: the thread does not change, and nothing resets it. */
    int gpu_rc = c->ngpu ? relay__gpu_bind((int)c->gpu_index[0]) : 0;
    if (gpu_rc) {
        relay__ctx_failf(c, "cannot make GPU %d current (CUDA error %d)",
                         relay__gpu_id((int)c->gpu_index[0]), gpu_rc);
        return fail_early(c);
    }
    relay__pool_gpus_use(p, c, +1);
    if (c->kind == RELAY__KIND_ACTOR) {
        /* The constructor; if the actor lives, it keeps the resources. */
        int kept = relay__host_construct(c);
        if (kept) return kept;
        relay__pool_gpus_use(p, c, -1);
        return 0;
    }
    pthread_mutex_unlock(&relay__g.lock);
    relay__worker_set_current(c);
    c->started = 1;
    relay__trace_task_start(c->task_id, name);
    double t0 = relay__now();
    int rc = fn(c);
    c->seconds = relay__now() - t0;
    relay__worker_set_current(NULL);
    relay__trace_ran(c, name, NULL, t0, rc);
    /* Counted outside the lock: the per-function table's lookup may take
     * a while. An abandoned run counts too late for any summary. */
    relay__summary_ran(NULL, c->fn, c->seconds, rc != 0 || c->failed);
    pthread_mutex_lock(&relay__g.lock);
    if (c->abandoned) return -1; /* relay has gone: nothing to report to */
    relay__pool_gpus_use(p, c, -1);
    atomic_fetch_add_explicit(&relay__g.tasks_executed, 1, memory_order_relaxed);
    relay__post_done(c, rc);
    return 0;
}

int relay__pool_spin(relay__pool_t *p, int (*ready)(const void *), const void *arg)
{
    if (p->spinning || relay__bell_oversubscribed()) return 0;
    p->spinning = 1;
    double end = relay__now() + IDLE_SPIN_SECONDS;
    while (!ready(arg) && !p->stop && relay__now() < end) {
        pthread_mutex_unlock(&relay__g.lock);
        int work = relay__comm_poll();
        if (work <= 0) sched_yield();
        pthread_mutex_lock(&relay__g.lock);
        if (work > 0) end = relay__now() + IDLE_SPIN_SECONDS;
    }
    p->spinning = 0;
    return 1;
}

static int pool_startable(const void *p)
{
    return startable(p) != NULL;
}

/* An idle worker first polls for tasks itself (one thread at a time): the
 * thread that receives a task then runs it, with no hand-off, and its
 * completion leaves at once. Lock held. */
static void poll_for_work(relay__pool_t *p)
{
    p->idle++; /* spinning, it can take a task */
    p->task_spinner = 1;
    relay__pool_spin(p, pool_startable, p);
    p->task_spinner = 0;
    p->idle--;
}

static void *worker_main(void *arg)
{
    relay__slot_t *me = arg;
    relay__pool_t *p = me->pool;
    relay__crash_thread_begin();
    relay__trace_thread("worker %d", (int)(me - p->slots));
    pthread_mutex_lock(&relay__g.lock);
    p->starting--;
    for (;;) {
        if (!startable(p) && !p->stop && !p->spinning) {
            if (!relay__bell_oversubscribed()) {
                poll_for_work(p);
            } else {
                /* No spinning here, but send the completion just queued
                 * rather than wake the runtime thread for it. */
                pthread_mutex_unlock(&relay__g.lock);
                relay__comm_poll();
                pthread_mutex_lock(&relay__g.lock);
            }
        }
        while (!startable(p) && !p->stop) {
            p->idle++;
            pthread_cond_wait(&p->cv, &relay__g.lock);
            p->idle--;
        }
        relay_ctx_t *c = startable(p);
        if (!c) break;
        relay__list_remove(&c->link);
        p->cpu_free -= c->cpu;
        int kept = 0; /* by an actor c constructed */
        if (!relay__g.shutting_down) {
            p->active++;
            kick(p); /* the next one may fit too */
            me->running = c;
            kept = run_task(p, c);
            /* Abandoned, whichever way its task ended: p, c and the
             * transport are no longer ours to touch. */
            if (kept < 0 || c->abandoned) break;
            me->running = NULL;
            p->active--;
        }
        if (!kept) p->cpu_free += c->cpu;
        if (c->pushed) {
            /* Objects for tasks waiting on other ranks leave before this
             * thread starts the next task, not at the runtime thread's
             * next turn, which may wait for this core. */
            pthread_mutex_unlock(&relay__g.lock);
            relay__comm_poll();
            pthread_mutex_lock(&relay__g.lock);
        }
        /* This thread takes the next queued task itself; only a resuming
         * task, which goes first, needs waking. */
        if (p->resumers) pthread_cond_broadcast(&p->resume_cv);
        relay__ctx_free(c);
        relay__worker_maybe_ack();
    }
    if (!p->abandoned) {
        me->gone = 1;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&relay__g.lock);
    relay__crash_thread_end();
    return NULL;
}

static int spawn(relay__pool_t *p)
{
    if (p->nthreads >= p->max_threads) return -1;
    p->slots[p->nthreads] = (relay__slot_t){p, NULL, 0};
    if (pthread_create(&p->threads[p->nthreads], NULL, worker_main, &p->slots[p->nthreads]) != 0)
        return -1;
    p->nthreads++;
    p->starting++;
    return 0;
}

int relay__pool_start(int ncpus, int max_threads)
{
    relay__pool_t *p = calloc(1, sizeof *p);
    if (!p) return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory");
    p->cpu_cap = p->cpu_free = (int64_t)ncpus * RELAY__UNIT;
    p->max_threads = max_threads;
    p->threads = calloc((size_t)p->max_threads, sizeof *p->threads);
    p->slots = calloc((size_t)p->max_threads, sizeof *p->slots);
    if (!p->threads || !p->slots) {
        free(p->threads);
        free(p->slots);
        free(p);
        return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory");
    }
    relay__list_init(&p->queue);
    relay__list_init(&p->free_queue);
    if (relay__flow_init() != RELAY_OK) {
        free(p->threads);
        free(p->slots);
        free(p);
        return RELAY_ERR_NO_MEMORY;
    }
    pthread_cond_init(&p->cv, NULL);
    pthread_cond_init(&p->resume_cv, NULL);
    relay__handler_set(RELAY__R_TASK, relay__worker_on_task);
    relay__handler_set(RELAY__R_CANCEL, relay__worker_on_cancel);
    relay__handler_set(RELAY__R_RECALL, relay__worker_on_recall);
    relay__handler_set(RELAY__R_ACTOR_KILL, relay__host_on_kill);
    pthread_mutex_lock(&relay__g.lock);
    relay__g.pool = p;
    int rc = RELAY_OK;
    for (int i = 0; i < ncpus && rc == RELAY_OK; i++)
        if (spawn(p) != 0)
            rc = relay__error(RELAY_ERR_INTERNAL, "relay_init: cannot start worker thread %d", i);
    pthread_mutex_unlock(&relay__g.lock);
    return rc;
}

/* Pools whose threads were abandoned at finalize, one per such
 * finalize: kept reachable on purpose (their threads may still use them),
 * so that leak checkers do not report them; they go with the process. */
static relay__pool_t *abandoned_pools;

/* Name the tasks still running in report; their threads are left to run
 * (detached), the pool with them. Lock held. */
static int abandon(relay__pool_t *p, char *report, size_t n)
{
    int count = 0;
    size_t used = strlen(report);
    for (int i = 0; i < p->nthreads; i++) {
        relay_ctx_t *c = p->slots[i].running;
        if (!c) continue;
        relay__log(RELAY__LOG_ERROR,
                   "relay_finalize: abandoned task '%s' (function '%s') still running on rank %d",
                   c->name, c->fn, relay__g.rank);
        if (used < n) {
            int w = snprintf(report + used, n - used, "%s'%s' (function '%s')", used ? ", " : "",
                             c->name, c->fn);
            used += w > 0 ? (size_t)w : 0;
        }
        c->abandoned = 1;
        pthread_detach(p->threads[i]);
        count++;
    }
    p->abandoned = 1;
    p->next_abandoned = abandoned_pools;
    abandoned_pools = p;
    return count;
}

int relay__pool_join(char *report, size_t n)
{
    relay__pool_t *p = relay__g.pool;
    if (n) report[0] = '\0';
    int abandoned = 0;
    if (p) {
        pthread_mutex_lock(&relay__g.lock);
        p->stop = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_cond_broadcast(&p->resume_cv);
        /* Every thread leaves but those inside a task, which (after EXIT)
         * rank 0 no longer waits for. */
        for (;;) {
            int left = 0;
            for (int i = 0; i < p->nthreads; i++)
                left += !p->slots[i].gone && !p->slots[i].running;
            if (!left) break;
            pthread_cond_wait(&p->cv, &relay__g.lock);
        }
        if (p->active > 0) abandoned = abandon(p, report, n);
        int nthreads = p->nthreads;
        pthread_mutex_unlock(&relay__g.lock);
        for (int i = 0; i < nthreads; i++)
            if (!abandoned || p->slots[i].gone) pthread_join(p->threads[i], NULL);
    }
    abandoned += relay__host_join(report, n);
    if (!p) return abandoned;
    relay_ctx_t *c;
    pthread_mutex_lock(&relay__g.lock); /* the runtime thread still runs */
    RELAY__LIST_EACH(&p->queue, c, relay_ctx_t, link) relay__ctx_free(c);
    RELAY__LIST_EACH(&p->free_queue, c, relay_ctx_t, link) relay__ctx_free(c);
    relay__flow_drop_waiting();
    relay__flow_destroy();
    relay__argf_destroy();
    relay__g.pool = NULL;
    pthread_mutex_unlock(&relay__g.lock);
    if (p->abandoned) return abandoned; /* its threads may still read it */
    pthread_cond_destroy(&p->cv);
    pthread_cond_destroy(&p->resume_cv);
    free(p->threads);
    free(p->slots);
    free(p);
    return abandoned;
}

static relay_ctx_t *take_from(relay__pool_t *p, relay__list_t *q, uint64_t task_id)
{
    relay_ctx_t *c;
    RELAY__LIST_EACH(q, c, relay_ctx_t, link)
    {
        if (c->task_id != task_id) continue;
        relay__list_remove(&c->link);
        kick(p);
        return c;
    }
    return NULL;
}

relay_ctx_t *relay__pool_take_queued(relay__pool_t *p, uint64_t task_id)
{
    relay_ctx_t *c = take_from(p, &p->queue, task_id);
    if (!c) c = take_from(p, &p->free_queue, task_id);
    return c ? c : relay__flow_take_waiting(task_id);
}

void relay__pool_enqueue(relay_ctx_t *c)
{
    relay__pool_t *p = relay__g.pool;
    relay__list_push_back(c->cpu ? &p->queue : &p->free_queue, &c->link);
    /* Its inputs from other ranks come while the task ahead of it runs. */
    relay__argf_start(c);
    kick(p);
}

void relay__pool_stats(uint64_t *running_p, uint64_t *blocked_p, uint64_t *threads_p)
{
    relay__pool_t *p = relay__g.pool;
    uint64_t hosted, calls, methods;
    relay__host_stats(&hosted, &calls, &methods);
    *running_p = (p ? (uint64_t)p->active : 0) + methods;
    *blocked_p = p ? (uint64_t)p->blocked : 0;
    *threads_p = p ? (uint64_t)p->nthreads : 0;
}

int relay__pool_thread_for_cpus(const relay__pool_t *p)
{
    return p->idle + p->starting > 0 || p->nthreads < p->max_threads;
}

/* Take cpu back, waiting while they are in use, unless c (may be NULL)
 * is cancelled: a cancelled task's get returns at once, its CPUs taken
 * even if another task took them meanwhile. The rank then runs over its
 * CPUs until that task ends, and the books say so (cpu_free below zero
 * here, the UNBLOCK's CPUs at rank 0): no task asking for CPUs starts in
 * the meantime, and every unit taken comes back when it ends. */
static void take_back(relay__pool_t *p, int64_t cpu, const relay_ctx_t *c)
{
    p->resumers++;
    while (p->cpu_free < cpu && !relay__g.shutting_down && !p->stop &&
           !(c && relay__worker_cancel_bits(c) & RELAY__CANCEL_TASK))
        pthread_cond_wait(&p->resume_cv, &relay__g.lock);
    p->resumers--;
    p->cpu_free -= cpu;
    if (!p->resumers) kick(p);
}

void relay__pool_take_back(relay__pool_t *p, int64_t cpu)
{
    take_back(p, cpu, NULL);
}

void relay__worker_block(relay_ctx_t *c, const relay__wait_t *wait)
{
    relay__pool_t *p = relay__g.pool;
    /* Give the CPUs back only if a thread can use them: at the thread
     * limit they stay with the task (and rank 0 knows, for its deadlock
     * check). A method gives back its actor's, once all its methods wait. */
    int64_t released = 0;
    if (c->kind == RELAY__KIND_METHOD) {
        relay__host_block(c); /* its actor's CPUs: counted apart */
    } else if (c->cpu && relay__pool_thread_for_cpus(p)) {
        released = c->cpu;
        c->released = 1;
        p->cpu_free += released;
        relay__pool_cpus_freed(p);
    } else if (c->cpu && !p->warned_limit) {
        p->warned_limit = 1;
        relay__log(RELAY__LOG_WARN,
                   "worker pool at its limit of %d threads (RELAY_MAX_THREADS): task '%s' "
                   "keeps its CPUs while blocked",
                   p->max_threads, c->name);
    }
    p->blocked++;
    /* A relay_ref_t is its id: the refs go as they are. */
    _Static_assert(sizeof(relay_ref_t) == sizeof(uint64_t), "relay_ref_t is one u64");
    relay__rec_block_t m = {
        c->task_id, released, (uint8_t)wait->answered, wait->k, {(uint32_t)wait->n, wait->refs}};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_BLOCK, &start);
    relay__rec_block_encode(w, &m);
    relay__msg_end(0, w, start);
}

void relay__worker_unblock(relay_ctx_t *c)
{
    relay__pool_t *p = relay__g.pool;
    int64_t taken = 0;
    p->blocked--;
    if (c->kind == RELAY__KIND_METHOD) {
        relay__host_unblock(c);
    } else if (c->released) {
        take_back(p, c->cpu, c);
        c->released = 0;
        taken = c->cpu;
    }
    relay__rec_unblock_t m = {c->task_id, taken};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_UNBLOCK, &start);
    relay__rec_unblock_encode(w, &m);
    relay__msg_end(0, w, start);
}

void relay__worker_defer_releases(relay_ctx_t *c, const uint64_t *ids, size_t n)
{
    if (n == 0) return; /* a release that freed no hold; deferred may still be NULL */
    if (c->ndeferred + n > c->capdeferred) {
        size_t cap = c->capdeferred ? c->capdeferred : 8;
        while (cap < c->ndeferred + n)
            cap *= 2;
        uint64_t *d = realloc(c->deferred, cap * sizeof *d);
        if (!d) abort();
        c->deferred = d;
        c->capdeferred = cap;
    }
    memcpy(c->deferred + c->ndeferred, ids, n * sizeof *ids);
    c->ndeferred += n;
}

/* ---------------------------------------------------------------------- */
/* Handlers                                                                 */
/* ---------------------------------------------------------------------- */

/* A context for a decoded TASK; NULL when out of memory. One allocation:
 * context, argument, return and GPU tables, names. */
static relay_ctx_t *ctx_new(const relay__rec_task_t *m)
{
    size_t fn_len = strlen(m->fn) + 1, name_len = strlen(m->name) + 1;
    uint32_t nargs = m->args.n, nret = m->nret, ngpu = m->ngpu;
    relay_ctx_t *c =
        calloc(1, sizeof *c + nargs * sizeof(relay__warg_t) + nret * sizeof(struct relay_object *) +
                      ngpu * (sizeof(int64_t) + sizeof(uint32_t)) + fn_len + name_len);
    if (!c) return NULL;
    c->args = (relay__warg_t *)(c + 1);
    c->rets = (struct relay_object **)(c->args + nargs);
    c->gpu_units = (int64_t *)(c->rets + nret);
    c->gpu_index = (uint32_t *)(c->gpu_units + ngpu);
    c->fn = (char *)(c->gpu_index + ngpu);
    c->name = c->fn + fn_len;
    memcpy(c->fn, m->fn, fn_len);
    memcpy(c->name, m->name, name_len);
    c->task_id = m->task_id;
    c->fn_hash = m->fn_hash;
    c->nret = nret;
    c->attempt = m->attempt;
    c->nargs = nargs;
    c->cpu = m->cpu;
    c->ngpu = ngpu;
    c->kind = m->kind;
    c->actor_id = m->actor_id;
    c->class_hash = m->class_hash;
    c->max_conc = m->max_conc;
    c->keeps_cpu = m->keeps_cpu;
    for (uint32_t g = 0; g < ngpu; g++) {
        c->gpu_index[g] = m->gpus[g].dev;
        c->gpu_units[g] = m->gpus[g].units;
    }
    relay__rbuf_t it = m->args.enc;
    for (uint32_t i = 0; i < nargs; i++) {
        relay__warg_t *a = &c->args[i];
        relay__rec_arg_t in;
        relay__rec_task_arg_next(&it, &in);
        a->kind = in.kind;
        a->holder = -1;
        int rc = 0;
        if (in.kind == RELAY_ARG_VALUE) {
            a->obj = relay__obj_copy(0, in.data, in.size, NULL, 0);
            rc = a->obj ? 0 : -1;
        } else if (in.pending) {
            a->ref = in.ref;
            a->pending = 1;
            a->producer = in.producer;
        } else {
            a->ref = in.ref;
            rc = relay__warg_fill(a, &in.desc);
        }
        if (rc != 0) {
            c->nret = 0;
            relay__ctx_free(c);
            return NULL;
        }
    }
    return c;
}

int relay__warg_fill(relay__warg_t *a, const relay__desc_t *d)
{
    if (!d->is_inline) a->obj = relay__store_lookup(a->ref);
    if (!a->obj) {
        a->obj = relay__obj_from_desc(a->ref, d);
        if (!d->is_inline) a->holder = d->holder;
    }
    return a->obj ? 0 : -1;
}

/* Fail a task this rank cannot take, rather than drop it: its returns and
 * dependents would wait forever. */
static void refuse_task(uint64_t task_id, int status, const char *why)
{
    char msg[200];
    snprintf(msg, sizeof msg, "rank %d could not take task %#llx: %s", relay__g.rank,
             (unsigned long long)task_id, why);
    relay__log(RELAY__LOG_ERROR, "%s", msg);
    relay__post_failure(task_id, status, msg);
}

void relay__worker_on_task(int src, relay__rbuf_t *r)
{
    relay__pool_t *p = relay__g.pool;
    relay__rbuf_t head = *r;
    relay__rec_task_t m;
    if (relay__rec_task_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_TASK, src, r);
        uint64_t task_id = relay__get_u64(&head);
        if (!head.err && task_id) refuse_task(task_id, RELAY_ERR_INTERNAL, "malformed record");
        return;
    }
    for (uint32_t g = 0; g < m.ngpu; g++) {
        if (m.gpus[g].dev < (uint32_t)relay__gpu_count()) continue;
        refuse_task(m.task_id, RELAY_ERR_INTERNAL, "it names a GPU this rank does not have");
        return;
    }
    relay_ctx_t *c = ctx_new(&m);
    if (!c) {
        refuse_task(m.task_id, RELAY_ERR_NO_MEMORY, "out of memory");
        return;
    }
    if (!p || relay__g.shutting_down) {
        if (!p)
            relay__log(RELAY__LOG_ERROR, "task sent to rank %d, which hosts no workers",
                       relay__g.rank);
        /* As relay__post_done words it, but later (relay__post_failure). */
        char msg[1024];
        snprintf(msg, sizeof msg,
                 "task '%s' (function '%s') failed on rank %d: "
                 "rank %d hosts no workers",
                 c->name, c->fn, relay__g.rank, relay__g.rank);
        relay__post_failure(m.task_id, RELAY_ERR_TASK_FAILED, msg);
        relay__ctx_free(c);
        return;
    }
    /* Known from now on: other ranks may subscribe to its returns. A task
     * placed ahead waits for its arguments first. */
    int now = relay__flow_arrive(c);
    if (now < 0) {
        relay__ctx_free(c);
        refuse_task(m.task_id, RELAY_ERR_NO_MEMORY, "out of memory");
        return;
    }
    if (!now) return;
    /* Methods go to their actor's mailbox; a constructor queues as a task
     * once its actor is known here, so calls can wait for it. */
    if (c->kind == RELAY__KIND_METHOD) {
        relay__host_on_call(c);
        return;
    }
    if (c->kind == RELAY__KIND_ACTOR && relay__host_on_create(c) != 0) return;
    relay__pool_enqueue(c);
}

void relay__worker_on_recall(int src, relay__rbuf_t *r)
{
    relay__rec_recall_t m;
    if (relay__rec_recall_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_RECALL, src, r);
        return;
    }
    relay__pool_t *p = relay__g.pool;
    /* Rank 0 recalls plain tasks only, never a constructor or a call. */
    relay_ctx_t *c = p ? relay__pool_take_queued(p, m.task_id) : NULL;
    m.taken = c != NULL;
    if (c) relay__ctx_free(c);
    /* Later: on rank 0 this runs inside the scheduler's own send. */
    size_t start;
    relay__wbuf_t *w = relay__msg_begin_later(0, RELAY__R_RECALLED, &start);
    relay__rec_recalled_encode(w, &m);
    relay__msg_end_later(0, w, start);
}

void relay__worker_on_cancel(int src, relay__rbuf_t *r)
{
    relay__rec_cancel_t m;
    if (relay__rec_cancel_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_CANCEL, src, r);
        return;
    }
    relay__pool_t *p = relay__g.pool;
    if (!p) return;
    /* A call still in its actor's mailbox is dropped there. */
    if (relay__host_cancel(m.task_id, m.status, m.msg)) return;
    /* Only a task still queued can be dropped; one that started runs on,
     * told by its flag when relay_cancel asked (a method: not even that). */
    relay_ctx_t *c = relay__pool_take_queued(p, m.task_id);
    if (!c) {
        c = m.status == RELAY_ERR_CANCELLED ? relay__flow_live(m.task_id) : NULL;
        if (c && c->kind == RELAY__KIND_TASK) relay__worker_flag(c, RELAY__CANCEL_TASK);
        return;
    }
    relay__post_failure(m.task_id, m.status, m.msg);
    if (c->kind == RELAY__KIND_ACTOR) relay__host_abort(c, m.msg);
    relay__ctx_free(c);
}

/* A queued task dropped at shutdown. Rank 0 hears of it before this
 * rank's ack, so that a finalize giving up on a busy rank names only the
 * tasks that started there. Only at shutdown: the path of every task
 * stays as it was. Lock held. */
static void drop_queued(relay_ctx_t *c)
{
    char msg[3 * RELAY_MAX_NAME + 96];
    snprintf(msg, sizeof msg,
             "task '%s' (function '%s') was dropped on rank %d before it started: relay is "
             "shutting down",
             c->name, c->fn, relay__g.rank);
    relay__list_remove(&c->link);
    relay__post_failure(c->task_id, RELAY_ERR_SHUTDOWN, msg);
    if (c->kind == RELAY__KIND_ACTOR) relay__host_abort(c, msg);
    relay__ctx_free(c);
}

void relay__pool_shutdown(void)
{
    relay__host_shutdown();
    relay__pool_t *p = relay__g.pool;
    if (p) {
        /* Each SHUTDOWN gets its own ack once the rank is idle: rank 0
         * drops one that answers a SHUTDOWN it did not begin, and must
         * still get the one for its own. */
        p->acked = 0;
        /* Queued tasks are dropped; running ones finish (blocked gets in
         * them now fail with RELAY_ERR_SHUTDOWN). */
        relay_ctx_t *c;
        RELAY__LIST_EACH(&p->queue, c, relay_ctx_t, link) drop_queued(c);
        RELAY__LIST_EACH(&p->free_queue, c, relay_ctx_t, link) drop_queued(c);
        relay__flow_drop_waiting();
        /* Running ones are asked to end (relay_ctx_cancelled says 1; their
         * gets fail with RELAY_ERR_SHUTDOWN already): rank 0's finalize
         * waits for them only finalize_timeout. */
        for (int i = 0; i < p->nthreads; i++)
            if (p->slots[i].running) relay__worker_flag(p->slots[i].running, RELAY__CANCEL_KILLED);
        pthread_cond_broadcast(&p->cv);
        pthread_cond_broadcast(&p->resume_cv);
    }
    relay__worker_maybe_ack();
}
