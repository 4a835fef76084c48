#include "actor_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arg_fetch.h"
#include "comm.h"
#include "crash.h"
#include "gpu.h"
#include "hashmap.h"
#include "log.h"
#include "registry.h"
#include "runtime.h"
#include "summary.h"
#include "worker.h"
#include "worker_state.h"
#include "trace_node.h"

enum { CONSTRUCTING, ALIVE, DEAD };
enum { FINI_NONE, FINI_ACTOR, FINI_CTOR };

typedef struct relay__host {
    uint64_t id, class_hash;
    const relay__class_t *cls;
    void *state;
    int phase;
    int kill_pending; /* killed (or shutting down) while constructing */
    int cleaned;      /* the destructor ran and the resources went back */
    int dead_status;
    char dead_msg[1100];
    relay__list_t mailbox; /* calls not taken by a thread, in arrival order */
    relay__list_t taken;   /* calls its threads took, until they finish */
    uint64_t ctor_id;      /* its constructor's task, queued or running */
    int constructing;      /* the constructor runs (no longer cancellable) */
    uint32_t max_conc;
    int nthreads; /* its threads still alive */
    int inflight; /* calls taken by its threads, not finished */
    int running;  /* of those, in the method (blocked or not) */
    int blocked;
    int released;                   /* its CPUs given back: every running method waits */
    uint64_t next_take, next_start; /* start tickets: methods enter in order */
    int64_t cpu;                    /* held for its life: num_cpus given, else 0 (Ray's default) */
    uint32_t ngpu;
    uint32_t gpu_index[RELAY__MAX_GPUS];
    int64_t gpu_units[RELAY__MAX_GPUS];
    pthread_cond_t cv;
    /* Finalize left while a method ran: it stays allocated for good, and
     * its threads leave as their methods return, touching nothing. */
    int abandoned;
    struct relay__host *next_abandoned;
    /* Its destructor runs: FINI_ACTOR on one of its threads (counted in
     * H.finis, for finalize to wait for and abandon like a method), or
     * FINI_CTOR on its constructor's pool thread (the pool's to name). */
    int in_fini;
    /* Holds its constructor, methods and destructor took and have not
     * dropped: id -> count. They go when it dies. */
    relay__map_t holds;
} relay__host_t;

static struct {
    relay__map_t hosts; /* id -> host, until its threads are gone */
    /* id -> the holds of every actor here on it, together: never more than
     * the rank has (relay__g.holds). */
    relay__map_t held;
    int threads; /* actor threads alive */
    uint64_t alive, calls_run, running;
    int finis; /* of the threads, those inside a destructor */
    pthread_cond_t gone_cv;
} H = {.gone_cv = PTHREAD_COND_INITIALIZER};

/* The actor's CPUs moved between it and the pool: rank 0 keeps count. */
static void post_cpu(const struct relay__host *h, int64_t delta);

/* The actor whose destructor runs on this thread (no task context then). */
static _Thread_local relay__host_t *tls_fini;

static relay__host_t *host_of(uint64_t id)
{
    return relay__map_get(&H.hosts, id);
}

/* Count id in m by delta; a count reaching 0 goes. */
static void count_move(relay__map_t *m, uint64_t id, long delta)
{
    uintptr_t n = (uintptr_t)relay__map_get(m, id) + (uintptr_t)delta;
    if (n == 0) {
        relay__map_remove(m, id);
    } else if (relay__map_put(m, id, (void *)n) != 0) {
        relay__log(RELAY__LOG_ERROR, "out of memory recording an actor's hold");
        abort();
    }
}

/* h's holds on id move by delta, and the rank's actors' total with them. */
static void held_move(relay__host_t *h, uint64_t id, long delta)
{
    count_move(&h->holds, id, delta);
    count_move(&H.held, id, delta);
}

/* h's holds are no longer counted among its rank's actors'. */
static void held_forget(const relay__host_t *h)
{
    const relay__map_t *m = &h->holds;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            count_move(&H.held, m->slots[i].key, -(long)(uintptr_t)m->slots[i].value);
}

static void host_free(relay__host_t *h)
{
    relay__map_remove(&H.hosts, h->id);
    relay_ctx_t *c;
    RELAY__LIST_EACH(&h->mailbox, c, relay_ctx_t, link) relay__ctx_free(c);
    held_forget(h);
    relay__map_destroy(&h->holds);
    pthread_cond_destroy(&h->cv);
    free(h);
}

/* An actor here that holds id, or NULL. */
static relay__host_t *holder_of(uint64_t id)
{
    relay__host_t *h;
    RELAY__MAP_EACH(&H.hosts, h)
    {
        if (relay__map_get(&h->holds, id)) return h;
    }
    return NULL;
}

void relay__host_hold_moved(const relay_ctx_t *c, uint64_t id, int delta)
{
    relay__host_t *h = c && c->kind != RELAY__KIND_TASK ? c->host : tls_fini;
    if (delta > 0) {
        if (h) held_move(h, id, 1);
        return;
    }
    if (h && relay__map_get(&h->holds, id)) {
        held_move(h, id, -1);
        return;
    }
    /* Dropped on a thread not of an actor that has it: when the rank is
     * left with fewer holds on id than its actors count, one of theirs
     * went (holds are counts: which one cannot be told), and it must not
     * go a second time when that actor dies. */
    uintptr_t total = (uintptr_t)relay__map_get(&H.held, id);
    if (total > (uintptr_t)relay__map_get(&relay__g.holds, id) && (h = holder_of(id)))
        held_move(h, id, -1);
}

/* Rank 0 drops this rank from the holders of ids. */
static void post_release(const uint64_t *ids, size_t n)
{
    if (n == 0 || relay__g.shutting_down) return;
    relay__rec_ids_t m = {{(uint32_t)n, ids}};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_RELEASE, &start);
    relay__rec_ids_encode(w, &m);
    relay__msg_end(0, w, start);
}

/* The actor is dead and its destructor ran (or never will): the holds it
 * took and kept go, as Ray drops an actor's references with it. One the
 * rank no longer has (dropped by a task of the rank) is skipped. */
static void drop_holds(relay__host_t *h)
{
    size_t n = 0, i = 0;
    uint64_t *zero = malloc((h->holds.count ? h->holds.count : 1) * sizeof *zero);
    if (!zero) {
        relay__log(RELAY__LOG_ERROR, "out of memory releasing an actor's refs");
        abort();
    }
    held_forget(h);
    relay__map_t holds = h->holds;
    relay__map_init(&h->holds); /* the drops below are no longer its */
    for (; i < holds.cap; i++) {
        if (!holds.slots[i].key) continue;
        uint64_t id = holds.slots[i].key;
        long left = 1;
        for (uintptr_t k = (uintptr_t)holds.slots[i].value; k > 0 && left > 0; k--)
            left = relay__hold_rank_move(id, -1);
        if (left == 0) zero[n++] = id;
    }
    relay__map_destroy(&holds);
    post_release(zero, n);
    free(zero);
}

/* The destructor, run unlocked with this thread's holds its; ctor: the
 * constructor's context when it runs on that pool thread, else NULL (an
 * actor thread). -1: finalize abandoned it meanwhile, and nothing of
 * relay may be touched any more. */
static int run_fini(relay__host_t *h, const relay_ctx_t *ctor)
{
    if (!h->cls->fini) return 0;
    h->in_fini = ctor ? FINI_CTOR : FINI_ACTOR;
    if (!ctor) H.finis++;
    pthread_mutex_unlock(&relay__g.lock);
    tls_fini = h;
    h->cls->fini(h->state);
    tls_fini = NULL;
    pthread_mutex_lock(&relay__g.lock);
    if (h->abandoned || (ctor && ctor->abandoned)) return -1;
    if (!ctor) H.finis--;
    h->in_fini = FINI_NONE;
    return 0;
}

/* Every call not started fails with the actor's death, at shutdown too:
 * rank 0, waiting for this rank's ack, then knows they never started. */
static void fail_mailbox(relay__host_t *h)
{
    relay_ctx_t *c;
    RELAY__LIST_EACH(&h->mailbox, c, relay_ctx_t, link)
    {
        relay__list_remove(&c->link);
        relay__post_failure(c->task_id, h->dead_status, h->dead_msg);
        relay__ctx_free(c);
    }
}

static void set_dead(relay__host_t *h, int status, const char *msg)
{
    h->phase = DEAD;
    h->dead_status = status;
    snprintf(h->dead_msg, sizeof h->dead_msg, "%s", msg);
    fail_mailbox(h);
    pthread_cond_broadcast(&h->cv);
}

int relay__host_on_create(relay_ctx_t *c)
{
    char msg[256];
    const relay__class_t *cls = relay__class_lookup(c->class_hash);
    relay__host_t *h = NULL;
    if (!cls || host_of(c->actor_id)) {
        snprintf(msg, sizeof msg, "actor %#llx: %s on rank %d", (unsigned long long)c->actor_id,
                 cls ? "created twice" : "its class is not registered", relay__g.rank);
    } else if (!(h = calloc(1, sizeof *h)) ||
               (relay__list_init(&h->mailbox), relay__list_init(&h->taken),
                relay__map_put(&H.hosts, c->actor_id, h) != 0)) {
        free(h);
        h = NULL;
        snprintf(msg, sizeof msg, "actor %#llx: out of memory on rank %d",
                 (unsigned long long)c->actor_id, relay__g.rank);
    }
    if (!h) {
        relay__log(RELAY__LOG_ERROR, "%s", msg);
        relay__post_failure(c->task_id, cls ? RELAY_ERR_NO_MEMORY : RELAY_ERR_UNKNOWN_FUNCTION,
                            msg);
        relay__ctx_free(c);
        return -1;
    }
    h->id = c->actor_id;
    h->class_hash = c->class_hash;
    h->cls = cls;
    h->phase = CONSTRUCTING;
    h->max_conc = c->max_conc ? c->max_conc : 1;
    h->cpu = c->keeps_cpu ? c->cpu : 0;
    relay__map_init(&h->holds);
    h->ctor_id = c->task_id;
    h->ngpu = c->ngpu;
    memcpy(h->gpu_index, c->gpu_index, c->ngpu * sizeof *h->gpu_index);
    memcpy(h->gpu_units, c->gpu_units, c->ngpu * sizeof *h->gpu_units);
    pthread_cond_init(&h->cv, NULL);
    c->host = h;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Death                                                                    */
/* ---------------------------------------------------------------------- */

/* The destructor, then the resources back to the rank (unless the
 * constructor's task still has them: on its thread, ctor), then rank 0
 * told. Runs once, when nothing of the actor runs any more; the lock is
 * released around the destructor. -1: abandoned (see run_fini). */
static int cleanup(relay__host_t *h, const relay_ctx_t *ctor)
{
    h->cleaned = 1;
    if (run_fini(h, ctor) < 0) return -1;
    drop_holds(h);
    H.alive--; /* counted as hosted until its destructor has run */
    relay__pool_t *p = relay__g.pool;
    if (p && !ctor) {
        if (!h->released) p->cpu_free += h->cpu;
        for (uint32_t g = 0; g < h->ngpu; g++)
            p->gpu_used[h->gpu_index[g]] -= h->gpu_units[g];
        relay__pool_cpus_freed(p);
    }
    relay__rec_actor_gone_t m = {h->id};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_ACTOR_GONE, &start);
    relay__rec_actor_gone_encode(w, &m);
    relay__msg_end(0, w, start);
    return 0;
}

void relay__host_on_kill(int src, relay__rbuf_t *r)
{
    relay__rec_actor_kill_t m;
    if (relay__rec_actor_kill_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_ACTOR_KILL, src, r);
        return;
    }
    int status = m.status;
    const char *msg = m.msg;
    relay__host_t *h = host_of(m.actor_id);
    if (!h || h->phase == DEAD) return;
    relay_ctx_t *ctor = h->phase == CONSTRUCTING && !h->constructing && relay__g.pool
                            ? relay__pool_take_queued(relay__g.pool, h->ctor_id)
                            : NULL;
    if (ctor) {
        /* Still waiting for its CPUs: it never runs. */
        relay__post_failure(ctor->task_id, status, msg);
        set_dead(h, status, msg);
        host_free(h);
        relay__ctx_free(ctor);
        return;
    }
    if (h->phase == CONSTRUCTING) {
        h->kill_pending = 1;
        h->dead_status = status;
        snprintf(h->dead_msg, sizeof h->dead_msg, "%s", msg);
        fail_mailbox(h);
        return;
    }
    /* Methods running now finish; relay_ctx_cancelled tells them. */
    relay_ctx_t *c;
    RELAY__LIST_EACH(&h->taken, c, relay_ctx_t, link) relay__worker_flag(c, RELAY__CANCEL_KILLED);
    set_dead(h, status, msg); /* its threads clean up once idle */
}

void relay__host_shutdown(void)
{
    relay__host_t *h;
    RELAY__MAP_EACH(&H.hosts, h)
    {
        /* Methods running now are asked to end (relay_ctx_cancelled):
         * rank 0's finalize waits for them only so long. */
        relay_ctx_t *c;
        RELAY__LIST_EACH(&h->taken, c, relay_ctx_t, link)
        relay__worker_flag(c, RELAY__CANCEL_KILLED);
        if (h->phase == ALIVE) set_dead(h, RELAY_ERR_SHUTDOWN, "relay is shutting down");
        if (h->phase == CONSTRUCTING) h->kill_pending = 1;
    }
}

int relay__host_busy(void)
{
    return H.threads > 0;
}

/* Actors abandoned at finalize, kept reachable on purpose (their threads
 * may still read them) so that leak checkers do not report them. */
static relay__host_t *abandoned_hosts;

static void keep_abandoned(relay__host_t *h)
{
    h->abandoned = 1;
    h->next_abandoned = abandoned_hosts;
    abandoned_hosts = h;
}

/* Leave h to the threads inside its methods or destructor; name those in
 * report. */
static int abandon(relay__host_t *h, char *report, size_t n)
{
    int count = 0;
    size_t used = strlen(report);
    relay_ctx_t *c;
    RELAY__LIST_EACH(&h->taken, c, relay_ctx_t, link)
    {
        relay__log(RELAY__LOG_ERROR,
                   "relay_finalize: abandoned method '%s' of actor '%s' (%#llx) still running on "
                   "rank %d",
                   c->name, h->cls->name, (unsigned long long)h->id, relay__g.rank);
        if (used < n) {
            int w = snprintf(report + used, n - used, "%s'%s' (method of actor '%s')",
                             used ? ", " : "", c->name, h->cls->name);
            used += w > 0 ? (size_t)w : 0;
        }
        c->abandoned = 1;
        count++;
    }
    if (h->in_fini == FINI_ACTOR) {
        relay__log(RELAY__LOG_ERROR,
                   "relay_finalize: abandoned the destructor of actor '%s' (%#llx) still running "
                   "on rank %d",
                   h->cls->name, (unsigned long long)h->id, relay__g.rank);
        if (used < n) {
            int w = snprintf(report + used, n - used, "%sdestructor of actor '%s'",
                             used ? ", " : "", h->cls->name);
            used += w > 0 ? (size_t)w : 0;
        }
        count++;
    }
    keep_abandoned(h);
    return count;
}

int relay__host_join(char *report, size_t n)
{
    pthread_mutex_lock(&relay__g.lock);
    /* Every thread leaves but those inside a method or destructor. */
    while (H.threads > (int)H.running + H.finis)
        pthread_cond_wait(&H.gone_cv, &relay__g.lock);
    /* Freeing removes from the map: take them all out first. */
    size_t k = 0;
    int abandoned = 0;
    relay__host_t **left = malloc((H.hosts.count ? H.hosts.count : 1) * sizeof *left);
    for (size_t i = 0; left && i < H.hosts.cap; i++)
        if (H.hosts.slots[i].key) left[k++] = H.hosts.slots[i].value;
    for (size_t i = 0; i < k; i++) {
        relay__host_t *h = left[i];
        if (h->running > 0 || h->in_fini == FINI_ACTOR) {
            abandoned += abandon(h, report, n);
        } else if ((h->phase == CONSTRUCTING && h->constructing) || h->in_fini == FINI_CTOR) {
            /* Its constructor (or the destructor undoing it) runs on a
             * pool thread, abandoned there (and named by the pool): the
             * actor stays for it. */
            keep_abandoned(h);
        } else {
            host_free(h);
        }
    }
    free(left);
    /* The abandoned threads never come back to these counts. */
    H.threads = 0;
    H.running = 0;
    H.finis = 0;
    relay__map_destroy(&H.hosts);
    relay__map_init(&H.hosts);
    relay__map_destroy(&H.held); /* empty by now */
    relay__map_init(&H.held);
    H.alive = H.calls_run = 0;
    pthread_mutex_unlock(&relay__g.lock);
    return abandoned;
}

void relay__host_stats(uint64_t *hosted_p, uint64_t *calls_run_p, uint64_t *running_p)
{
    *hosted_p = H.alive;
    *calls_run_p = H.calls_run;
    *running_p = H.running;
}

void relay__host_gpus(const relay_ctx_t *c, uint32_t *n_p, const uint32_t **index_p)
{
    const relay__host_t *h = c->host;
    *n_p = h ? h->ngpu : 0;
    *index_p = h ? h->gpu_index : NULL;
}

int relay__host_cancel(uint64_t task_id, int status, const char *msg)
{
    relay__host_t *h;
    RELAY__MAP_EACH(&H.hosts, h)
    {
        relay_ctx_t *c;
        RELAY__LIST_EACH(&h->mailbox, c, relay_ctx_t, link)
        {
            if (c->task_id != task_id) continue;
            relay__list_remove(&c->link);
            relay__post_failure(task_id, status, msg);
            relay__ctx_free(c);
            return 1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* The actor's CPUs                                                          */
/* ---------------------------------------------------------------------- */

static void post_cpu(const relay__host_t *h, int64_t delta)
{
    relay__rec_actor_cpu_t m = {h->id, delta};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_ACTOR_CPU, &start);
    relay__rec_actor_cpu_encode(w, &m);
    relay__msg_end(0, w, start);
}

/* The actor's CPUs go back to the rank while every method in it waits in
 * get/wait (and a thread of the pool can use them). */
static void maybe_release(relay__host_t *h)
{
    relay__pool_t *p = relay__g.pool;
    if (h->released || !h->cpu || h->running == 0 || h->blocked < h->running ||
        !relay__pool_thread_for_cpus(p))
        return;
    h->released = 1;
    p->cpu_free += h->cpu;
    relay__pool_cpus_freed(p);
    post_cpu(h, -h->cpu);
}

/* A method runs again: the actor takes its CPUs back first (may wait). */
static void take_back(relay__host_t *h)
{
    if (!h->released) return;
    h->released = 0;
    relay__pool_take_back(relay__g.pool, h->cpu);
    post_cpu(h, h->cpu);
}

/* ---------------------------------------------------------------------- */
/* Methods                                                                  */
/* ---------------------------------------------------------------------- */

/* Run one call on the calling actor thread (ticket: its place in the
 * order calls were taken). Its arguments are fetched first, then it waits
 * for the calls taken before it to have entered their methods: calls
 * start in order however long their arguments take. Lock held, released
 * while the method runs. -1: finalize abandoned it meanwhile. */
static int run_method(relay__host_t *h, relay_ctx_t *c, uint64_t ticket)
{
    int ok = relay__argf_wait(c) == RELAY_OK;
    while (ticket != h->next_start)
        pthread_cond_wait(&h->cv, &relay__g.lock);
    h->next_start++;
    pthread_cond_broadcast(&h->cv);
    const relay__method_t *m = relay__class_method(h->cls, c->fn_hash);
    if (ok && !m) relay__ctx_failf(c, "actor class '%s' has no method '%s'", h->cls->name, c->fn);
    if (!ok || !m) {
        relay__post_done(c, -1);
        return 0;
    }
    h->running++;
    H.running++;
    take_back(h);
    pthread_mutex_unlock(&relay__g.lock);
    relay__worker_set_current(c);
    double t0 = relay__now();
    int rc = m->fn(c, h->state);
    c->seconds = relay__now() - t0;
    relay__worker_set_current(NULL);
    relay__trace_ran(c, h->cls->name, m->name, t0, rc);
    relay__summary_ran(h->cls->name, c->fn, c->seconds, rc != 0 || c->failed); /* unlocked */
    pthread_mutex_lock(&relay__g.lock);
    if (h->abandoned) return -1; /* relay has gone: nothing to report to */
    h->running--;
    H.running--;
    maybe_release(h); /* the ones left may all be waiting */
    H.calls_run++;
    relay__post_done(c, rc);
    return 0;
}

static int has_work(const void *arg)
{
    const relay__host_t *h = arg;
    return !relay__list_empty(&h->mailbox) || h->phase != ALIVE;
}

static void *actor_main(void *arg)
{
    relay__host_t *h = arg;
    relay__crash_thread_begin();
    relay__trace_thread("actor %s", h->cls->name);
    /* Its first GPU is current on this thread for the actor's life. */
    int gpu_rc = h->ngpu ? relay__gpu_bind((int)h->gpu_index[0]) : 0;
    if (gpu_rc)
        relay__log(RELAY__LOG_ERROR, "actor %#llx: cannot make GPU %d current (CUDA error %d)",
                   (unsigned long long)h->id, relay__gpu_id((int)h->gpu_index[0]), gpu_rc);
    pthread_mutex_lock(&relay__g.lock);
    for (;;) {
        /* Look for the next call itself before sleeping: it then runs on
         * the thread that received it. */
        if (relay__list_empty(&h->mailbox) && h->phase == ALIVE && relay__g.pool)
            relay__pool_spin(relay__g.pool, has_work, h);
        while (relay__list_empty(&h->mailbox) && h->phase == ALIVE)
            pthread_cond_wait(&h->cv, &relay__g.lock);
        if (h->phase != ALIVE) break;
        relay_ctx_t *c = relay__ctx_first(&h->mailbox);
        relay__list_remove(&c->link);
        relay__list_push_back(&h->taken, &c->link);
        h->inflight++;
        if (run_method(h, c, h->next_take++) < 0) {
            pthread_mutex_unlock(&relay__g.lock);
            relay__crash_thread_end();
            return NULL;
        }
        h->inflight--;
        relay__list_remove(&c->link);
        relay__ctx_free(c);
    }
    /* The thread that sees it idle last cleans up; the others just go. */
    if (h->inflight == 0 && !h->cleaned && cleanup(h, NULL) < 0) {
        pthread_mutex_unlock(&relay__g.lock); /* abandoned in its destructor */
        relay__crash_thread_end();
        return NULL;
    }
    h->nthreads--;
    H.threads--;
    if (h->nthreads == 0)
        host_free(h); /* the last one: nothing runs, the destructor ran */
    else
        pthread_cond_broadcast(&h->cv);
    pthread_cond_broadcast(&H.gone_cv);
    relay__worker_maybe_ack();
    pthread_mutex_unlock(&relay__g.lock);
    relay__crash_thread_end();
    return NULL;
}

/* Start the actor's threads. 0, or -1 when none could start. */
static int start_threads(relay__host_t *h)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (uint32_t i = 0; i < h->max_conc; i++) {
        pthread_t t;
        if (pthread_create(&t, &attr, actor_main, h) != 0) break;
        h->nthreads++;
        H.threads++;
    }
    pthread_attr_destroy(&attr);
    if (h->nthreads < (int)h->max_conc && h->nthreads > 0)
        relay__log(RELAY__LOG_WARN, "actor %#llx: %d of %u threads started",
                   (unsigned long long)h->id, h->nthreads, h->max_conc);
    return h->nthreads > 0 ? 0 : -1;
}

int relay__host_construct(relay_ctx_t *c)
{
    relay__host_t *h = c->host;
    int rc = 0;
    h->constructing = 1;
    if (h->kill_pending) {
        relay__ctx_failf(c, "%s", h->dead_msg[0] ? h->dead_msg : "killed before it was built");
        rc = -1;
    } else {
        pthread_mutex_unlock(&relay__g.lock);
        relay__worker_set_current(c);
        double t0 = relay__now();
        rc = h->cls->init ? h->cls->init(c, &h->state) : 0;
        c->seconds = relay__now() - t0;
        relay__worker_set_current(NULL);
        relay__trace_ran(c, h->cls->name, NULL, t0, rc);
        relay__summary_ran(h->cls->name, NULL, c->seconds, rc != 0 || c->failed); /* unlocked */
        pthread_mutex_lock(&relay__g.lock);
        /* relay has gone: nothing to report to */
        if (h->abandoned || c->abandoned) return -1;
    }
    if (rc == 0 && !c->failed && !h->kill_pending && start_threads(h) != 0) {
        relay__ctx_failf(c, "no thread could be started for it on rank %d", relay__g.rank);
        if (run_fini(h, c) < 0) return -1; /* it was built: undo that */
    }
    if (rc != 0 || c->failed) {
        /* Calls that came meanwhile fail with the constructor's reason. */
        char why[sizeof h->dead_msg], num[48];
        snprintf(why, sizeof why,
                 "actor '%s' (%#llx) is dead: its constructor failed on rank %d: %s", h->cls->name,
                 (unsigned long long)h->id, relay__g.rank,
                 rc            ? relay__ctx_reason(c, rc, num, sizeof num)
                 : c->fail_msg ? c->fail_msg
                               : "it returned non-zero");
        if (!h->kill_pending) set_dead(h, RELAY_ERR_ACTOR_DEAD, why);
        relay__post_done(c, rc ? rc : -1);
        drop_holds(h);
        host_free(h);
        return 0;
    }
    H.alive++;
    relay__post_done(c, 0);
    if (!h->kill_pending && c->cpu > h->cpu) {
        /* Ray's default actor: the CPU it was placed with goes back to
         * the pool now (rank 0 hears it from the DONE). */
        relay__pool_t *p = relay__g.pool;
        p->cpu_free += c->cpu - h->cpu;
        relay__pool_cpus_freed(p);
    }
    if (!h->kill_pending) {
        h->phase = ALIVE;
        pthread_cond_broadcast(&h->cv); /* calls may be waiting */
        return 1;
    }
    /* Killed while it was being built: it dies at once, and its resources
     * go back with the constructor's task. */
    h->phase = DEAD;
    if (cleanup(h, c) < 0) return -1;
    host_free(h);
    return 0;
}

void relay__host_abort(relay_ctx_t *c, const char *msg)
{
    relay__host_t *h = c->host;
    if (!h) return;
    set_dead(h, RELAY_ERR_ACTOR_DEAD, msg);
    host_free(h);
    c->host = NULL;
}

void relay__host_on_call(relay_ctx_t *c)
{
    relay__host_t *h = host_of(c->actor_id);
    if (!h || h->phase == DEAD || h->kill_pending) {
        char msg[sizeof h->dead_msg];
        snprintf(msg, sizeof msg, "%s",
                 h ? h->dead_msg : "the actor does not live on this rank any more");
        relay__post_failure(c->task_id, RELAY_ERR_ACTOR_DEAD, msg);
        relay__ctx_free(c);
        return;
    }
    c->host = h;
    relay__list_push_back(&h->mailbox, &c->link);
    if (h->phase == ALIVE) pthread_cond_signal(&h->cv);
}

void relay__host_block(relay_ctx_t *c)
{
    relay__host_t *h = c->host;
    h->blocked++;
    maybe_release(h);
}

void relay__host_unblock(relay_ctx_t *c)
{
    relay__host_t *h = c->host;
    h->blocked--;
    take_back(h);
}
