#include "store.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm.h"
#include "hashmap.h"
#include "batch.h"
#include "list.h"
#include "log.h"
#include "object.h"
#include "records.h"
#include "runtime.h"
#include "spill.h"
#include "trace.h"

/* After a failed write, the store waits this long before trying again. */
#define RETRY_SECONDS 1.0
/* While memory is over the budget and what could go is in use, the I/O
 * thread looks again this often (a release normally wakes it at once). */
#define RECHECK_SECONDS 0.05

struct job;

typedef struct entry {
    uint64_t id;
    struct relay_object *obj; /* in memory (the store's reference), or NULL */
    uint64_t size;            /* what a read back needs to know */
    uint32_t nrefs;
    uint64_t *refs;
    relay__array_t *array;
    int on_disk;         /* the spill file has its bytes */
    int writing;         /* a write is in flight (the entry is out of the LRU list) */
    int freed;           /* the directory freed it during the write */
    struct job *reading; /* the read in flight, which later readers join */
    relay__list_t lru;   /* in memory, not being written: on the LRU list */
} entry_t;

enum { JOB_WRITE, JOB_READ, JOB_DELETE };

/* Who waits for a read: a local get or task (fetch), or a remote rank's
 * fetch to answer (dest, tag, chunk). */
typedef struct waiter {
    struct waiter *next;
    relay__fetch_t *fetch;
    int dest, tag;
    size_t chunk;
} waiter_t;

typedef struct job {
    struct job *next;
    int kind;
    entry_t *e;               /* write; read (until it finishes) */
    struct relay_object *obj; /* write: the object; read: the target */
    uint64_t id, size;
    waiter_t *waiters; /* read */
    int status;
    int skipped;    /* a write not done: the object was released first */
    double seconds; /* the file work took */
    char msg[600];  /* why it failed */
} job_t;

typedef struct relay__store {
    relay__map_t objs; /* id -> entry */
    uint64_t budget, in_memory, being_written;
    uint64_t peak;     /* in_memory's high-water mark, for the summary */
    relay__list_t lru; /* front: most recently used; back: first to go */
    uint64_t spilled, nwrites, nreads, failures;
    uint64_t write_bytes, read_bytes; /* by the successful ones */
    double write_s, read_s;           /* time spent in them */
    double retry_at;                  /* no writes before this, after a failure */
    /* The I/O thread: reads first (someone waits), then deletes (they give
     * space back), then writes. */
    job_t *reads, *deletes, *writes;
    atomic_int poke; /* a stored object was let go: evict again */
    pthread_t thread;
    pthread_cond_t cv;
    int started, stop;
} relay__store_t;

static relay__store_t *ST(void)
{
    return relay__g.store;
}

/* ---------------------------------------------------------------------- */
/* Entries and the LRU list                                                 */
/* ---------------------------------------------------------------------- */

static void lru_remove(entry_t *e)
{
    relay__list_remove(&e->lru);
}

/* Most recently used: the front. */
static void lru_push(entry_t *e)
{
    relay__list_remove(&e->lru);
    relay__list_push_front(&ST()->lru, &e->lru);
}

/* First to go: the back. */
static void lru_push_tail(entry_t *e)
{
    relay__list_remove(&e->lru);
    relay__list_push_back(&ST()->lru, &e->lru);
}

/* Take the store's reference to o (it may now be evicted once the others
 * let go: tell the store when they do). */
static void hold(entry_t *e, struct relay_object *o)
{
    e->obj = relay__obj_ref(o);
    atomic_store_explicit(&o->stored, 1, memory_order_relaxed);
}

static void entry_free(entry_t *e)
{
    relay__obj_unref(e->obj);
    free(e->refs);
    free(e->array);
    free(e);
}

/* Remember what a read back needs, from o. -1 when out of memory. */
static int keep_meta(entry_t *e, const struct relay_object *o)
{
    e->size = o->size;
    e->nrefs = o->nrefs;
    if (o->nrefs && !(e->refs = malloc(o->nrefs * sizeof *e->refs))) return -1;
    if (o->nrefs) memcpy(e->refs, o->refs, o->nrefs * sizeof *e->refs);
    if (o->array && !(e->array = malloc(sizeof *e->array))) return -1;
    if (o->array) *e->array = *o->array;
    return 0;
}

static void finish_read(job_t *j);
static void finish_write(job_t *j);

static void enqueue(job_t *j)
{
    relay__store_t *s = ST();
    if (s->stop) { /* the I/O thread is gone or going */
        j->status = RELAY_ERR_SHUTDOWN;
        snprintf(j->msg, sizeof j->msg, "relay is shutting down");
        if (j->kind == JOB_READ) finish_read(j);
        if (j->kind == JOB_WRITE) finish_write(j);
        free(j);
        return;
    }
    job_t **q = j->kind == JOB_READ ? &s->reads : j->kind == JOB_DELETE ? &s->deletes : &s->writes;
    while (*q)
        q = &(*q)->next;
    j->next = NULL;
    *q = j;
    pthread_cond_signal(&s->cv);
}

/* Object bytes come into memory (an insert, a read back). */
static void grow(relay__store_t *s, uint64_t bytes)
{
    s->in_memory += bytes;
    if (s->in_memory > s->peak) s->peak = s->in_memory;
}

static void enqueue_delete(const entry_t *e)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j) return; /* its space stays taken until finalize */
    j->kind = JOB_DELETE;
    j->id = e->id;
    j->size = e->size;
    enqueue(j);
}

/* The memory copy goes; the file has the bytes. */
static void drop_memory(entry_t *e)
{
    relay__store_t *s = ST();
    lru_remove(e);
    s->in_memory -= e->size;
    s->spilled++;
    relay__obj_unref(e->obj);
    e->obj = NULL;
}

/* Bytes in memory that count against the budget (not those on their way
 * out). */
static uint64_t resident(void)
{
    relay__store_t *s = ST();
    return s->in_memory - s->being_written;
}

/* Bring memory back within the budget: the least recently used objects
 * that only the store holds go to the file (or just leave memory when the
 * file has them already). Objects in use stay. */
static void evict(void)
{
    relay__store_t *s = ST();
    relay__list_t *n = relay__list_last(&s->lru);
    while (n && resident() > s->budget) {
        relay__list_t *older = relay__list_prev(&s->lru, n);
        entry_t *e = RELAY__LIST_ENTRY(n, entry_t, lru);
        if (atomic_load(&e->obj->refcnt) == 1) {
            if (e->on_disk) {
                drop_memory(e);
            } else if (relay__now() >= s->retry_at) {
                job_t *j = calloc(1, sizeof *j);
                if (!j) break;
                j->kind = JOB_WRITE;
                j->e = e;
                j->obj = relay__obj_ref(e->obj);
                e->writing = 1;
                s->being_written += e->size;
                lru_remove(e);
                enqueue(j);
            }
        }
        n = older;
    }
}

void relay__store_poke(void)
{
    relay__store_t *s = ST();
    if (!s) return;
    /* Without the lock (the caller may hold it or not): a wakeup lost to a
     * race is caught by the I/O thread's timed wait while over budget. */
    atomic_store(&s->poke, 1);
    pthread_cond_signal(&s->cv);
}

/* ---------------------------------------------------------------------- */
/* The I/O thread                                                           */
/* ---------------------------------------------------------------------- */

static void finish_write(job_t *j)
{
    relay__store_t *s = ST();
    entry_t *e = j->e;
    e->writing = 0;
    if (!e->freed) s->being_written -= e->size; /* on_free took it off */
    relay__obj_unref(j->obj);
    if (j->skipped) {
        /* nothing was written */
    } else if (j->status == RELAY_OK) {
        s->nwrites++;
        s->write_bytes += e->size;
        s->write_s += j->seconds;
        e->on_disk = 1;
    } else if (j->status != RELAY_ERR_SHUTDOWN) {
        s->failures++;
        s->retry_at = relay__now() + RETRY_SECONDS;
        relay__log(RELAY__LOG_WARN, "object %#llx stays in memory: %s", (unsigned long long)e->id,
                   j->msg);
    }
    if (e->freed) { /* released meanwhile */
        if (e->on_disk) enqueue_delete(e);
        entry_free(e);
        return;
    }
    lru_push(e);
    /* In use since (a view, a task, a transfer): it stays in memory, and
     * can leave it later without another write. */
    if (e->on_disk && atomic_load(&e->obj->refcnt) == 1) drop_memory(e);
    if (!s->stop) evict();
}

/* Hand the outcome of a read to one waiter. */
static void answer(job_t *j, waiter_t *w)
{
    relay__fetch_t *f = w->fetch;
    if (f && f->abandoned) {
        free(f);
    } else if (f) {
        f->done = 1;
        f->status = j->status;
        if (j->status != RELAY_OK && j->msg[0]) f->errmsg = strdup(j->msg);
        /* Readers who joined use the object read: one copy in memory. */
        if (j->status == RELAY_OK && f->obj != j->obj) f->shared = relay__obj_ref(j->obj);
        relay__batch_signal(f->batch);
    } else if (j->status == RELAY_OK) {
        relay__send_object(w->dest, w->tag, w->chunk, j->obj);
    } else {
        relay__comm_refuse_fetch(w->dest, w->tag, j->status);
    }
}

static void finish_read(job_t *j)
{
    relay__store_t *s = ST();
    entry_t *e = j->e;
    if (e) e->reading = NULL;
    if (j->status == RELAY_OK) {
        s->nreads++;
        s->read_bytes += j->obj->size;
        s->read_s += j->seconds;
        if (e && !e->obj && !e->writing) { /* memory has it again */
            hold(e, j->obj);
            grow(s, e->size);
            s->spilled--;
            lru_push(e);
        }
    }
    while (j->waiters) {
        waiter_t *w = j->waiters;
        j->waiters = w->next;
        answer(j, w);
        free(w);
    }
    relay__obj_unref(j->obj);
    if (!s->stop) evict();
}

/* The next job, reads first. Lock held. */
static job_t *next_job(void)
{
    relay__store_t *s = ST();
    job_t **q = s->reads ? &s->reads : s->deletes ? &s->deletes : &s->writes;
    job_t *j = *q;
    if (j) *q = j->next;
    return j;
}

/* Sleep until there is work. Over the budget, or with writes held back
 * after a failure, look again now and then. Lock held. */
static void idle_wait(void)
{
    relay__store_t *s = ST();
    double now = relay__now(), until = 0;
    if (resident() > s->budget) until = now + RECHECK_SECONDS;
    if (s->retry_at > now && (until == 0 || s->retry_at < until)) until = s->retry_at;
    if (until == 0) {
        pthread_cond_wait(&s->cv, &relay__g.lock);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double wake = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + (until - now);
    ts.tv_sec = (time_t)wake;
    ts.tv_nsec = (long)((wake - (double)ts.tv_sec) * 1e9);
    pthread_cond_timedwait(&s->cv, &relay__g.lock, &ts);
    atomic_store(&s->poke, 1); /* time to look again */
}

/* Do j's file work (lock NOT held). */
static void run_job(job_t *j)
{
    double t0 = relay__now();
    if (j->kind == JOB_WRITE)
        j->status = relay__spill_write(j->obj, j->obj->data);
    else if (j->kind == JOB_READ)
        j->status = relay__spill_read(j->obj);
    else
        relay__spill_delete(j->id, j->size);
    j->seconds = relay__now() - t0;
    relay__trace_spill(j->kind == JOB_WRITE, j->kind == JOB_DELETE ? NULL : j->obj, t0, j->status);
    if (j->status != RELAY_OK) snprintf(j->msg, sizeof j->msg, "%s", relay_last_error());
}

static void *io_main(void *arg)
{
    (void)arg;
    relay__store_t *s = ST();
    relay__trace_thread("spill");
    pthread_mutex_lock(&relay__g.lock);
    while (!s->stop) {
        if (atomic_exchange(&s->poke, 0)) evict();
        job_t *j = next_job();
        if (!j) {
            if (!atomic_load(&s->poke)) idle_wait();
            continue;
        }
        if (j->kind == JOB_WRITE && j->e->freed) {
            j->skipped = 1; /* released while it waited */
        } else {
            /* The file work happens without the runtime's lock. */
            pthread_mutex_unlock(&relay__g.lock);
            run_job(j);
            pthread_mutex_lock(&relay__g.lock);
        }
        if (j->kind == JOB_WRITE)
            finish_write(j);
        else if (j->kind == JOB_READ)
            finish_read(j);
        free(j);
    }
    pthread_mutex_unlock(&relay__g.lock);
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Setup                                                                    */
/* ---------------------------------------------------------------------- */

static void on_fetch(int src, relay__rbuf_t *r);

int relay__store_init(uint64_t budget)
{
    relay__store_t *s = calloc(1, sizeof *s);
    if (!s) return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory");
    relay__map_init(&s->objs);
    relay__list_init(&s->lru);
    s->budget = budget;
    atomic_init(&s->poke, 0);
    pthread_cond_init(&s->cv, NULL);
    relay__g.store = s;
    relay__obj_set_store_only_hook(relay__store_poke);
    relay__handler_set(RELAY__R_FREE, relay__store_on_free);
    relay__handler_set(RELAY__R_FETCH, on_fetch);
    if (pthread_create(&s->thread, NULL, io_main, NULL) != 0) {
        relay__store_destroy();
        return relay__error(RELAY_ERR_INTERNAL, "relay_init: cannot start the store's I/O thread");
    }
    s->started = 1;
    return RELAY_OK;
}

/* Fail what waits (remote fetchers get an answer: the transport is still
 * up); drop what was to be written or deleted. Lock held. */
static void drain(void)
{
    job_t *j;
    while ((j = next_job())) {
        j->status = RELAY_ERR_SHUTDOWN;
        snprintf(j->msg, sizeof j->msg, "relay is shutting down");
        if (j->kind == JOB_READ) finish_read(j);
        if (j->kind == JOB_WRITE) finish_write(j);
        free(j);
    }
}

void relay__store_stop(void)
{
    relay__store_t *s = ST();
    if (!s || !s->started) return;
    pthread_mutex_lock(&relay__g.lock);
    s->stop = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&relay__g.lock);
    pthread_join(s->thread, NULL);
    s->started = 0;
    pthread_mutex_lock(&relay__g.lock);
    drain();
    pthread_mutex_unlock(&relay__g.lock);
}

void relay__store_destroy(void)
{
    relay__store_t *s = ST();
    if (!s) return;
    relay__store_stop();
    entry_t *e;
    RELAY__MAP_EACH(&s->objs, e) entry_free(e);
    relay__map_destroy(&s->objs);
    relay__obj_set_store_only_hook(NULL);
    pthread_cond_destroy(&s->cv);
    free(s);
    relay__g.store = NULL;
}

/* ---------------------------------------------------------------------- */
/* Objects                                                                  */
/* ---------------------------------------------------------------------- */

static entry_t *entry_new(struct relay_object *o)
{
    entry_t *e = calloc(1, sizeof *e);
    if (!e || keep_meta(e, o) != 0 || relay__map_put(&ST()->objs, o->id, e) != 0) {
        if (e) entry_free(e);
        relay__log(RELAY__LOG_ERROR, "out of memory indexing object %#llx",
                   (unsigned long long)o->id);
        abort();
    }
    e->id = o->id;
    return e;
}

void relay__store_insert(struct relay_object *o)
{
    relay__store_t *s = ST();
    entry_t *e = relay__map_get(&s->objs, o->id);
    if (e) return; /* the same id twice: the first one stays */
    e = entry_new(o);
    hold(e, o);
    grow(s, o->size);
    /* One larger than the whole budget goes out first. */
    if (o->size > s->budget)
        lru_push_tail(e);
    else
        lru_push(e);
    evict();
}

int relay__store_insert_direct(struct relay_object *o, const void *data)
{
    relay__store_t *s = ST();
    if (o->size <= s->budget) return RELAY_ERR_INVALID_ARG; /* it fits: no need */
    double t0 = relay__now();
    int rc = relay__spill_write(o, data);
    double t = relay__now() - t0;
    relay__trace_spill(1, o, t0, rc);
    pthread_mutex_lock(&relay__g.lock);
    if (rc == RELAY_OK) {
        entry_t *e = entry_new(o);
        e->on_disk = 1;
        s->spilled++;
        s->nwrites++;
        s->write_bytes += o->size;
        s->write_s += t;
    } else {
        s->failures++;
        s->retry_at = relay__now() + RETRY_SECONDS; /* the I/O thread waits too */
    }
    pthread_mutex_unlock(&relay__g.lock);
    return rc;
}

struct relay_object *relay__store_lookup(uint64_t id)
{
    entry_t *e = relay__map_get(&ST()->objs, id);
    if (!e || !e->obj) return NULL;
    if (!e->writing) lru_push(e); /* recently used */
    return relay__obj_ref(e->obj);
}

int relay__store_spilled(uint64_t id)
{
    entry_t *e = relay__map_get(&ST()->objs, id);
    return e && !e->obj && e->on_disk;
}

/* An object to read e back into. */
static struct relay_object *target_of(const entry_t *e)
{
    struct relay_object *t = relay__obj_new(e->id, e->size, e->nrefs);
    if (!t) return NULL;
    if (e->nrefs) memcpy(t->refs, e->refs, e->nrefs * sizeof *e->refs);
    if (relay__obj_set_array(t, e->array) != 0) {
        relay__obj_unref(t);
        return NULL;
    }
    return t;
}

/* Join w to the read of id in flight, or start one into target (NULL: a
 * new one). 0, or -1 when out of memory (w not taken). */
static int read_for(uint64_t id, struct relay_object *target, waiter_t *w)
{
    entry_t *e = relay__map_get(&ST()->objs, id);
    if (e && e->reading) {
        w->next = e->reading->waiters;
        e->reading->waiters = w;
        return 0;
    }
    job_t *j = calloc(1, sizeof *j);
    struct relay_object *t = !j ? NULL : target ? relay__obj_ref(target) : e ? target_of(e) : NULL;
    if (!t) {
        free(j);
        return -1;
    }
    j->kind = JOB_READ;
    j->id = id;
    j->obj = t;
    j->e = e;
    j->waiters = w;
    if (e) e->reading = j;
    enqueue(j);
    return 0;
}

relay__fetch_t *relay__store_restore(uint64_t id, struct relay_object *target,
                                     struct relay__batch *batch)
{
    relay__fetch_t *f = calloc(1, sizeof *f);
    waiter_t *w = calloc(1, sizeof *w);
    if (!f || !w) {
        free(f);
        free(w);
        return NULL;
    }
    f->obj = target;
    f->batch = batch;
    w->fetch = f;
    if (read_for(id, target, w) != 0) {
        free(f);
        free(w);
        return NULL;
    }
    return f;
}

void relay__store_restore_send(uint64_t id, int dest, int tag, size_t chunk)
{
    waiter_t *w = calloc(1, sizeof *w);
    if (!w || read_for(id, NULL, w) != 0) {
        free(w);
        relay__comm_refuse_fetch(dest, tag, RELAY_ERR_NO_MEMORY);
        return;
    }
    w->dest = dest;
    w->tag = tag;
    w->chunk = chunk;
}

void relay__store_stats(relay__store_stats_t *out)
{
    relay__store_t *s = ST();
    memset(out, 0, sizeof *out);
    if (!s) return;
    out->objects = s->objs.count;
    out->bytes_in_memory = s->in_memory;
    out->peak_bytes = s->peak;
    out->spilled_objects = s->spilled;
    out->spilled_bytes = relay__spill_bytes();
    out->writes = s->nwrites;
    out->reads = s->nreads;
    out->failures = s->failures;
    out->write_bytes = s->write_bytes;
    out->read_bytes = s->read_bytes;
    out->write_ns = (uint64_t)(s->write_s * 1e9);
    out->read_ns = (uint64_t)(s->read_s * 1e9);
}

void relay__store_on_free(int src, relay__rbuf_t *r)
{
    relay__store_t *s = ST();
    relay__rec_ids_t m;
    if (relay__rec_free_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_FREE, src, r);
        return;
    }
    for (uint32_t i = 0; i < m.ids.n; i++) {
        entry_t *e = relay__map_remove(&s->objs, relay__ids_at(&m.ids, i));
        if (!e) continue;
        lru_remove(e);
        if (e->obj) {
            s->in_memory -= e->size;
        } else if (e->on_disk) {
            s->spilled--;
        }
        /* A read in flight still answers its waiters, from its own target. */
        if (e->reading) e->reading->e = NULL;
        if (e->writing) { /* its write finishes it */
            s->being_written -= e->size;
            e->freed = 1;
            continue;
        }
        if (e->on_disk) enqueue_delete(e);
        entry_free(e); /* views and transfers in flight keep their own references */
    }
}

/* FETCH: a rank wants the bytes of an object this rank holds. Served from
 * memory, or read back from the spill file first. Lock held. */
static void on_fetch(int src, relay__rbuf_t *r)
{
    relay__rec_fetch_t m;
    if (relay__rec_fetch_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_FETCH, src, r);
        return;
    }
    if (m.tag > relay__comm_tag_max()) {
        /* MPI would refuse the sends: the requester cannot have meant it. */
        relay__log(RELAY__LOG_ERROR, "rank %d asked for object %#llx on tag %d, above %d: dropped",
                   src, (unsigned long long)m.id, m.tag, relay__comm_tag_max());
        return;
    }
    struct relay_object *obj = relay__store_lookup(m.id);
    if (!obj && relay__store_spilled(m.id)) {
        relay__store_restore_send(m.id, src, m.tag, m.chunk); /* it answers once read back */
        return;
    }
    if (!obj || obj->size != m.size) {
        relay__log(RELAY__LOG_WARN, "rank %d asked for object %#llx (%llu bytes) not held here",
                   src, (unsigned long long)m.id, (unsigned long long)m.size);
        relay__comm_refuse_fetch(src, m.tag, RELAY_ERR_INVALID_REF);
        relay__obj_unref(obj);
        return;
    }
    relay__send_object(src, m.tag, m.chunk, obj);
    relay__obj_unref(obj);
}
