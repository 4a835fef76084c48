#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "comm.h"
#include "hashmap.h"
#include "log.h"
#include "object.h"
#include "runtime.h"
#include "spill.h"

/* After a failed write, the store waits this long before trying again. */
#define RETRY_SECONDS 1.0

typedef struct entry {
    uint64_t id;
    struct relay_object *obj; /* in memory (the store's reference), or NULL */
    uint64_t size;            /* what a read back needs to know */
    uint32_t nrefs;
    uint64_t *refs;
    relay__array_t *array;
    int on_disk;               /* the spill file has its bytes */
    int writing;               /* a write is in flight (the entry is out of the LRU list) */
    int freed;                 /* the directory freed it during the write */
    struct entry *prev, *next; /* LRU: in memory, not being written; head newest */
} entry_t;

enum { JOB_WRITE, JOB_READ, JOB_DELETE };

typedef struct job {
    struct job *next;
    int kind;
    entry_t *e;               /* write */
    struct relay_object *obj; /* write: the object; read: the target */
    uint64_t id, size;
    relay__fetch_t *fetch; /* read for a waiter */
    int send;              /* read, then answer a fetch: */
    int dest, tag;
    size_t chunk;
    int status;
    char msg[600]; /* why it failed */
} job_t;

typedef struct relay__store {
    relay__map_t objs; /* id -> entry */
    uint64_t budget, in_memory, being_written;
    entry_t *lru_head, *lru_tail;
    uint64_t spilled, nwrites, nreads, failures;
    double retry_at; /* no writes before this, after a failure */
    /* The I/O thread: reads first (someone waits), then writes, deletes. */
    job_t *reads, *writes;
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
    relay__store_t *s = ST();
    if (!e->prev && s->lru_head != e) return;
    if (e->prev)
        e->prev->next = e->next;
    else
        s->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(entry_t *e)
{
    relay__store_t *s = ST();
    lru_remove(e);
    e->next = s->lru_head;
    if (s->lru_head) s->lru_head->prev = e;
    s->lru_head = e;
    if (!s->lru_tail) s->lru_tail = e;
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

static void enqueue(job_t *j)
{
    relay__store_t *s = ST();
    job_t **q = j->kind == JOB_READ ? &s->reads : &s->writes;
    while (*q)
        q = &(*q)->next;
    j->next = NULL;
    *q = j;
    pthread_cond_signal(&s->cv);
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

/* Bring memory back within the budget: the least recently used objects
 * that only the store holds go to the file (or just leave memory when the
 * file has them already). Objects in use stay. */
static void evict(void)
{
    relay__store_t *s = ST();
    entry_t *e = s->lru_tail;
    while (e && s->in_memory - s->being_written > s->budget) {
        entry_t *older = e->prev;
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
        e = older;
    }
}

/* ---------------------------------------------------------------------- */
/* The I/O thread                                                           */
/* ---------------------------------------------------------------------- */

static void finish_write(job_t *j)
{
    relay__store_t *s = ST();
    entry_t *e = j->e;
    e->writing = 0;
    s->being_written -= e->size;
    relay__obj_unref(j->obj);
    if (j->status == RELAY_OK) {
        s->nwrites++;
        e->on_disk = 1;
    } else {
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
    evict();
}

static void finish_read(job_t *j)
{
    relay__store_t *s = ST();
    if (j->status == RELAY_OK) {
        s->nreads++;
        entry_t *e = relay__map_get(&s->objs, j->id);
        if (e && !e->obj && !e->writing) { /* memory has it again */
            e->obj = relay__obj_ref(j->obj);
            s->in_memory += e->size;
            s->spilled--;
            lru_push(e);
        }
    }
    if (j->fetch) {
        relay__fetch_t *f = j->fetch;
        if (f->abandoned) {
            free(f);
        } else {
            f->done = 1;
            f->status = j->status;
            if (j->status != RELAY_OK && j->msg[0]) f->errmsg = strdup(j->msg);
            relay__client_batch_signal(f->batch);
        }
    }
    if (j->send) {
        if (j->status == RELAY_OK)
            relay__send_object(j->dest, j->tag, j->chunk, j->obj);
        else
            relay__comm_refuse_fetch(j->dest, j->tag, j->status);
    }
    relay__obj_unref(j->obj);
    evict();
}

static void *io_main(void *arg)
{
    (void)arg;
    relay__store_t *s = ST();
    pthread_mutex_lock(&relay__g.lock);
    for (;;) {
        while (!s->reads && !s->writes && !s->stop)
            pthread_cond_wait(&s->cv, &relay__g.lock);
        if (s->stop) break;
        job_t *j = s->reads ? s->reads : s->writes;
        if (j == s->reads)
            s->reads = j->next;
        else
            s->writes = j->next;
        /* The file work happens without the runtime's lock. */
        pthread_mutex_unlock(&relay__g.lock);
        if (j->kind == JOB_WRITE)
            j->status = relay__spill_write(j->obj, j->obj->data);
        else if (j->kind == JOB_READ)
            j->status = relay__spill_read(j->obj);
        else
            relay__spill_delete(j->id, j->size);
        if (j->status != RELAY_OK) snprintf(j->msg, sizeof j->msg, "%s", relay_last_error());
        pthread_mutex_lock(&relay__g.lock);
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

int relay__store_init(uint64_t budget)
{
    relay__store_t *s = calloc(1, sizeof *s);
    if (!s) return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory");
    relay__map_init(&s->objs);
    s->budget = budget;
    pthread_cond_init(&s->cv, NULL);
    relay__g.store = s;
    if (pthread_create(&s->thread, NULL, io_main, NULL) != 0) {
        relay__store_destroy();
        return relay__error(RELAY_ERR_INTERNAL, "relay_init: cannot start the store's I/O thread");
    }
    s->started = 1;
    return RELAY_OK;
}

/* Fail what waits; drop what was to be written or deleted. Lock held. */
static void drain(void)
{
    relay__store_t *s = ST();
    while (s->reads) {
        job_t *j = s->reads;
        s->reads = j->next;
        j->status = RELAY_ERR_SHUTDOWN;
        j->send = 0; /* the transport is going */
        finish_read(j);
        free(j);
    }
    while (s->writes) {
        job_t *j = s->writes;
        s->writes = j->next;
        if (j->kind == JOB_WRITE) {
            j->e->writing = 0;
            s->being_written -= j->e->size;
            relay__obj_unref(j->obj);
            if (j->e->freed) entry_free(j->e);
        }
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
    for (size_t i = 0; i < s->objs.cap; i++)
        if (s->objs.slots[i].key) entry_free(s->objs.slots[i].value);
    relay__map_destroy(&s->objs);
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
    if (e && e->obj == o) return;
    if (e) return; /* the same id twice: the first one stays */
    e = entry_new(o);
    e->obj = relay__obj_ref(o);
    s->in_memory += o->size;
    lru_push(e);
    /* One larger than the whole budget goes out first. */
    if (o->size > s->budget) {
        lru_remove(e);
        e->next = NULL;
        e->prev = s->lru_tail;
        if (s->lru_tail) s->lru_tail->next = e;
        s->lru_tail = e;
        if (!s->lru_head) s->lru_head = e;
    }
    evict();
}

int relay__store_insert_direct(struct relay_object *o, const void *data)
{
    relay__store_t *s = ST();
    if (o->size <= s->budget) return RELAY_ERR_INVALID_ARG; /* it fits: no need */
    int rc = relay__spill_write(o, data);
    pthread_mutex_lock(&relay__g.lock);
    if (rc == RELAY_OK) {
        entry_t *e = entry_new(o);
        e->on_disk = 1;
        s->spilled++;
        s->nwrites++;
    } else {
        s->failures++;
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

static job_t *read_job(uint64_t id, struct relay_object *target)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->kind = JOB_READ;
    j->id = id;
    j->obj = relay__obj_ref(target);
    return j;
}

relay__fetch_t *relay__store_restore(uint64_t id, struct relay_object *target,
                                     struct relay__batch *batch)
{
    relay__fetch_t *f = calloc(1, sizeof *f);
    job_t *j = f ? read_job(id, target) : NULL;
    if (!j) {
        free(f);
        return NULL;
    }
    f->obj = target;
    f->batch = batch;
    j->fetch = f;
    enqueue(j);
    return f;
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

void relay__store_restore_send(uint64_t id, int dest, int tag, size_t chunk)
{
    entry_t *e = relay__map_get(&ST()->objs, id);
    struct relay_object *t = e ? target_of(e) : NULL;
    job_t *j = t ? read_job(id, t) : NULL;
    relay__obj_unref(t);
    if (!j) {
        relay__comm_refuse_fetch(dest, tag, RELAY_ERR_NO_MEMORY);
        return;
    }
    j->send = 1;
    j->dest = dest;
    j->tag = tag;
    j->chunk = chunk;
    enqueue(j);
}

void relay__store_stats(relay__store_stats_t *out)
{
    relay__store_t *s = ST();
    memset(out, 0, sizeof *out);
    if (!s) return;
    out->objects = s->objs.count;
    out->bytes_in_memory = s->in_memory;
    out->spilled_objects = s->spilled;
    out->spilled_bytes = relay__spill_bytes();
    out->writes = s->nwrites;
    out->reads = s->nreads;
    out->failures = s->failures;
}

void relay__store_on_free(int src, relay__rbuf_t *r)
{
    (void)src;
    relay__store_t *s = ST();
    uint32_t n = relay__get_u32(r);
    for (uint32_t i = 0; i < n && !r->err; i++) {
        entry_t *e = relay__map_remove(&s->objs, relay__get_u64(r));
        if (!e) continue;
        lru_remove(e);
        if (e->obj) {
            s->in_memory -= e->size;
        } else if (e->on_disk) {
            s->spilled--;
        }
        if (e->writing) { /* its write finishes it */
            e->freed = 1;
            continue;
        }
        if (e->on_disk) enqueue_delete(e);
        entry_free(e); /* views and transfers in flight keep their own references */
    }
}
