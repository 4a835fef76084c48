/* Recording the timeline: per-thread buffers of fixed-size events, bounded
 * per rank; packing them for rank 0 at finalize (trace_write.c makes the
 * JSON). */
#include "trace_pack.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "object.h"
#include "runtime.h"

atomic_int relay__trace_flags;

/* Events per chunk: a thread's buffer grows a chunk at a time. */
#define CHUNK_EVENTS 512

static struct {
    pthread_mutex_t lock;
    relay__trace_buf_t *threads;
    int nthreads;
    atomic_uint gen;    /* a new init leaves older threads' buffers behind */
    atomic_size_t used; /* bytes of chunks taken */
    size_t limit;       /* bytes this rank may take */
    atomic_uint_fast64_t dropped;
    char path[4096];
} T = {.lock = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local relay__trace_buf_t *tls_buf;
relay__trace_buf_t *relay__trace_threads(void)
{
    return T.threads;
}

void relay__trace_lock(int on)
{
    if (on)
        pthread_mutex_lock(&T.lock);
    else
        pthread_mutex_unlock(&T.lock);
}

size_t relay__trace_limit(void)
{
    return T.limit;
}

const char *relay__trace_path(void)
{
    return T.path;
}

static _Thread_local unsigned tls_gen;

double relay__trace_clock_slow(void)
{
    return relay__now();
}

static int recording(void)
{
    return atomic_load_explicit(&relay__trace_flags, memory_order_relaxed) & RELAY__TRACE_REC;
}

static int logging(void)
{
    return atomic_load_explicit(&relay__trace_flags, memory_order_relaxed) & RELAY__TRACE_LOG;
}

void relay__trace_setup(const char *path, size_t buffer_bytes, int log_debug)
{
    pthread_mutex_lock(&T.lock);
    atomic_fetch_add(&T.gen, 1);
    T.limit = buffer_bytes;
    atomic_store(&T.used, 0);
    atomic_store(&T.dropped, 0);
    snprintf(T.path, sizeof T.path, "%s", path ? path : "");
    pthread_mutex_unlock(&T.lock);
    atomic_store(&relay__trace_flags,
                 (path && *path ? RELAY__TRACE_REC : 0) | (log_debug ? RELAY__TRACE_LOG : 0));
}

/* The calling thread's buffer, registered at its first event; NULL when
 * out of memory. */
static relay__trace_buf_t *my_buf(void)
{
    if (tls_buf && tls_gen == atomic_load_explicit(&T.gen, memory_order_relaxed)) return tls_buf;
    relay__trace_buf_t *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    pthread_mutex_lock(&T.lock);
    b->tid = T.nthreads++;
    b->next = T.threads;
    T.threads = b;
    tls_gen = atomic_load(&T.gen);
    pthread_mutex_unlock(&T.lock);
    snprintf(b->name, sizeof b->name, "thread %d", b->tid);
    tls_buf = b;
    return b;
}

void relay__trace_thread(const char *fmt, ...)
{
    if (!recording()) return;
    relay__trace_buf_t *b = my_buf();
    if (!b) return;
    char name[sizeof b->name];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&T.lock); /* the packer may read it */
    memcpy(b->name, name, sizeof name);
    pthread_mutex_unlock(&T.lock);
}

/* A new chunk within the rank's limit, or NULL (the event is dropped). */
static relay__trace_chunk_t *chunk_new(void)
{
    size_t want = sizeof(relay__trace_chunk_t) + CHUNK_EVENTS * sizeof(relay__tev_t);
    size_t used = atomic_load(&T.used), cap = CHUNK_EVENTS;
    do {
        if (used >= T.limit) return NULL;
        /* The last chunk takes what is left, however little. */
        cap = CHUNK_EVENTS;
        if (T.limit - used < want) cap = (T.limit - used) / sizeof(relay__tev_t);
        if (cap == 0) return NULL;
    } while (!atomic_compare_exchange_weak(
        &T.used, &used, used + sizeof(relay__trace_chunk_t) + cap * sizeof(relay__tev_t)));
    relay__trace_chunk_t *c = malloc(sizeof(relay__trace_chunk_t) + cap * sizeof(relay__tev_t));
    if (!c) return NULL;
    atomic_init(&c->next, NULL);
    atomic_init(&c->n, 0);
    c->cap = (uint32_t)cap;
    return c;
}

void relay__trace_record(const relay__tev_t *ev)
{
    if (!recording()) return;
    relay__trace_buf_t *b = my_buf();
    relay__trace_chunk_t *c = b ? b->tail : NULL;
    if (b && (!c || atomic_load_explicit(&c->n, memory_order_relaxed) == c->cap)) {
        relay__trace_chunk_t *nc = chunk_new();
        if (nc && c) atomic_store_explicit(&c->next, nc, memory_order_release);
        if (nc && !c) {
            pthread_mutex_lock(&T.lock);
            b->head = nc;
            pthread_mutex_unlock(&T.lock);
        }
        if (nc) b->tail = nc;
        c = nc;
    }
    if (!c) {
        atomic_fetch_add_explicit(&T.dropped, 1, memory_order_relaxed);
        return;
    }
    unsigned i = atomic_load_explicit(&c->n, memory_order_relaxed);
    c->ev[i] = *ev;
    atomic_store_explicit(&c->n, i + 1, memory_order_release);
}

uint64_t relay__trace_dropped(void)
{
    return atomic_load(&T.dropped);
}

/* ---------------------------------------------------------------------- */
/* Hooks                                                                    */
/* ---------------------------------------------------------------------- */

static const char *status_word(int status)
{
    return status == RELAY_OK                ? "ok"
           : status == RELAY_ERR_TASK_FAILED ? "failed"
                                             : relay_status_name(status);
}

static void copy_text(relay__tev_t *e, const char *s)
{
    snprintf(e->u.text, sizeof e->u.text, "%s", s ? s : "");
}

void relay__trace_task_start_slow(uint64_t id, const char *fn)
{
    if (logging())
        relay__log(RELAY__LOG_DEBUG, "task %#llx (%s) starts", (unsigned long long)id, fn);
}

void relay__trace_task_slow(uint64_t id, const char *fn, const char *name, double t0, double t1,
                            int status)
{
    if (logging())
        relay__log(RELAY__LOG_DEBUG, "task %#llx (%s) ends: %s after %.6f s",
                   (unsigned long long)id, fn, status_word(status), t1 - t0);
    relay__tev_t e = {
        .kind = RELAY__TEV_TASK, .status = (int16_t)status, .t0 = t0, .t1 = t1, .id = id, .s1 = fn};
    copy_text(&e, name);
    relay__trace_record(&e);
}

void relay__trace_actor_slow(uint64_t id, uint64_t actor, const char *cls, const char *method,
                             double t0, double t1, int status)
{
    if (logging())
        relay__log(RELAY__LOG_DEBUG, "actor call %#llx (%s.%s) ends: %s after %.6f s",
                   (unsigned long long)id, cls, method, status_word(status), t1 - t0);
    relay__tev_t e = {.kind = RELAY__TEV_ACTOR,
                      .status = (int16_t)status,
                      .t0 = t0,
                      .t1 = t1,
                      .id = id,
                      .id2 = actor,
                      .s1 = cls,
                      .s2 = method};
    relay__trace_record(&e);
}

void relay__trace_args_slow(uint64_t id, const uint64_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i += RELAY__TEV_IDS) {
        relay__tev_t e = {.kind = RELAY__TEV_ARGS, .id = id};
        e.nids = (uint8_t)(n - i < RELAY__TEV_IDS ? n - i : RELAY__TEV_IDS);
        memcpy(e.u.ids, ids + i, e.nids * sizeof *ids);
        relay__trace_record(&e);
    }
}

void relay__trace_blocked_slow(uint64_t task, const char *what, const uint64_t *ids, size_t n,
                               double t0)
{
    relay__tev_t e = {
        .kind = RELAY__TEV_BLOCKED, .t0 = t0, .t1 = relay__now(), .id = task, .n = n, .s1 = what};
    e.nids = (uint8_t)(n < RELAY__TEV_IDS ? n : RELAY__TEV_IDS);
    memcpy(e.u.ids, ids, e.nids * sizeof *ids);
    relay__trace_record(&e);
}

void relay__trace_submit_slow(uint64_t id, const char *fn, double t0)
{
    if (logging())
        relay__log(RELAY__LOG_DEBUG, "task %#llx (%s) submitted by rank %d", (unsigned long long)id,
                   fn, relay__g.rank);
    relay__tev_t e = {.kind = RELAY__TEV_SUBMIT, .id = id, .t0 = t0, .t1 = t0};
    relay__trace_record(&e);
}

void relay__trace_place_slow(uint64_t id, int rank)
{
    if (logging())
        relay__log(RELAY__LOG_DEBUG, "task %#llx placed on rank %d", (unsigned long long)id, rank);
}

void relay__trace_xfer_slow(int send, const struct relay_object *o, int peer, double t0, int status)
{
    if (!o) return;
    uint64_t obj = o->id, bytes = o->size;
    double t1 = relay__now();
    int self = relay__g.rank;
    if (logging())
        relay__log(RELAY__LOG_DEBUG, "object %#llx: %llu bytes from rank %d to rank %d in %.6f s%s",
                   (unsigned long long)obj, (unsigned long long)bytes, send ? self : peer,
                   send ? peer : self, t1 - t0, status ? " (failed)" : "");
    relay__tev_t e = {.kind = send ? RELAY__TEV_SEND : RELAY__TEV_RECV,
                      .status = (int16_t)status,
                      .peer = peer,
                      .t0 = t0,
                      .t1 = t1,
                      .id = obj,
                      .n = bytes};
    relay__trace_record(&e);
}

void relay__trace_spill_slow(int write, const struct relay_object *o, double t0, int status)
{
    if (!o) return;
    uint64_t obj = o->id, bytes = o->size;
    double t1 = relay__now();
    if (logging())
        relay__log(RELAY__LOG_DEBUG, "spill %s of object %#llx: %llu bytes in %.6f s%s",
                   write ? "write" : "read", (unsigned long long)obj, (unsigned long long)bytes,
                   t1 - t0, status ? " (failed)" : "");
    relay__tev_t e = {.kind = write ? RELAY__TEV_SPILL_W : RELAY__TEV_SPILL_R,
                      .status = (int16_t)status,
                      .t0 = t0,
                      .t1 = t1,
                      .id = obj,
                      .n = bytes};
    relay__trace_record(&e);
}

void relay__trace_sched_slow(uint64_t n, double t0)
{
    relay__tev_t e = {.kind = RELAY__TEV_SCHED, .t0 = t0, .t1 = relay__now(), .n = n};
    relay__trace_record(&e);
}

void relay__trace_fini(int keep_buffers)
{
    atomic_store(&relay__trace_flags, 0);
    pthread_mutex_lock(&T.lock);
    while (T.threads) {
        relay__trace_buf_t *b = T.threads;
        T.threads = b->next;
        /* A thread finalize abandoned may have passed the flag check just
         * before it cleared: its buffers stay (leaked) rather than be
         * written after being freed. */
        if (keep_buffers) continue;
        for (relay__trace_chunk_t *c = b->head, *next; c; c = next) {
            next = atomic_load(&c->next);
            free(c);
        }
        free(b);
    }
    T.nthreads = 0;
    atomic_fetch_add(&T.gen, 1); /* threads that live on register again at a next init */
    pthread_mutex_unlock(&T.lock);
}
