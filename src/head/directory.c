#include "directory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "hashmap.h"
#include "log.h"
#include "object.h"
#include "runtime.h"
#include "scheduler.h"

typedef struct relay__dir {
    relay__map_t entries;
    uint64_t inline_bytes;
    uint64_t waiters;
} relay__dir_t;

static relay__dir_t *D(void)
{
    return relay__g.dir;
}

int relay__dir_init(void)
{
    relay__dir_t *d = calloc(1, sizeof *d);
    if (!d) return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory");
    relay__map_init(&d->entries);
    relay__g.dir = d;
    relay__handler_set(RELAY__R_PUT, relay__dir_on_put);
    relay__handler_set(RELAY__R_RELEASE, relay__dir_on_release);
    relay__handler_set(RELAY__R_RETAIN_CHECK, relay__dir_on_retain_check);
    relay__handler_set(RELAY__R_GET, relay__dir_on_get);
    relay__handler_set(RELAY__R_GET_CANCEL, relay__dir_on_get_cancel);
    return RELAY_OK;
}

static void entry_destroy(relay__dentry_t *e)
{
    while (e->waiters) {
        relay__dwaiter_t *w = e->waiters;
        e->waiters = w->next;
        free(w);
    }
    relay__obj_unref(e->obj);
    free(e->refs);
    free(e->array);
    free(e->deps);
    free(e);
}

void relay__dir_destroy(void)
{
    relay__dir_t *d = D();
    if (!d) return;
    relay__dentry_t *e;
    RELAY__MAP_EACH(&d->entries, e) entry_destroy(e);
    relay__map_destroy(&d->entries);
    free(d);
    relay__g.dir = NULL;
}

relay__dentry_t *relay__dir_lookup(uint64_t id)
{
    return relay__map_get(&D()->entries, id);
}

static relay__dentry_t *entry_new(uint64_t id)
{
    relay__dentry_t *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->id = id;
    e->holders = 1;
    e->holder_rank = -1;
    if (relay__map_put(&D()->entries, id, e) != 0) {
        free(e);
        return NULL;
    }
    return e;
}

relay__dentry_t *relay__dir_add_pending(uint64_t id)
{
    return entry_new(id);
}

void relay__post_reply(int dest, uint64_t req, int status)
{
    relay__rec_reply_t m = {req, status};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(dest, RELAY__R_REPLY, &start);
    relay__rec_reply_encode(w, &m);
    relay__msg_end(dest, w, start);
}

void relay__dir_desc(const relay__dentry_t *e, relay__desc_t *d_p)
{
    if (!e) {
        /* Callers pin what they describe; should one not, the receiver
         * gets an error rather than rank 0 a crash. */
        memset(d_p, 0, sizeof *d_p);
        d_p->status = RELAY_ERR_INTERNAL;
        d_p->errmsg = "the object left rank 0's directory";
        d_p->is_inline = 1;
    } else if (e->obj) {
        relay__desc_of_obj(d_p, e->obj);
    } else {
        relay__desc_of_remote(d_p, e->size, e->refs, e->nrefs, e->array, e->holder_rank);
    }
}

/* The client on this rank takes its answers here, unencoded. */
static relay__local_reply_t local_reply;

void relay__dir_set_local_reply(relay__local_reply_t fn)
{
    local_reply = fn;
}

static void reply_get(int rank, uint64_t req, int status, const relay__dentry_t *e, int want_data)
{
    if (rank == relay__g.rank && local_reply) { /* no encoding, no copy: share the object */
        int data = e && want_data;
        local_reply(req, status, data ? e->obj : NULL, data && !e->obj ? e->holder_rank : -1,
                    e ? e->size : 0, e ? e->refs : NULL, e ? e->nrefs : 0, e ? e->array : NULL);
        return;
    }
    relay__rec_get_reply_t m;
    m.req = req;
    m.status = status;
    m.has_desc = e && want_data;
    if (m.has_desc) relay__dir_desc(e, &m.desc);
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(rank, RELAY__R_GET_REPLY, &start);
    relay__rec_get_reply_encode(w, &m);
    relay__msg_end(rank, w, start);
}

static const uint64_t *entry_refs(const relay__dentry_t *e, uint32_t *n_p)
{
    if (e->obj) {
        *n_p = e->obj->nrefs;
        return e->obj->refs;
    }
    *n_p = e->nrefs;
    return e->refs;
}

/* The objects an object contains stay alive while it does. */
static void count_contained(const uint64_t *refs, uint32_t n, uint64_t container)
{
    for (uint32_t i = 0; i < n; i++) {
        relay__dentry_t *c = relay__dir_lookup(refs[i]);
        if (c)
            c->contained++;
        else
            relay__log(RELAY__LOG_WARN, "object %#llx contains unknown ref %#llx",
                       (unsigned long long)container, (unsigned long long)refs[i]);
    }
}

void relay__dir_set_ready(relay__dentry_t *e, struct relay_object *obj, int holder, uint64_t size,
                          const uint64_t *refs, uint32_t nrefs, const struct relay__array *array)
{
    e->ready = 1;
    if (obj) {
        e->obj = relay__obj_ref(obj);
        e->size = obj->size;
        if (obj->status == RELAY_OK) D()->inline_bytes += obj->size;
    } else {
        e->holder_rank = holder;
        e->size = size;
        if (nrefs) {
            e->refs = malloc(nrefs * sizeof *e->refs);
            if (!e->refs) {
                relay__log(RELAY__LOG_ERROR, "out of memory recording refs");
                abort();
            }
            memcpy(e->refs, refs, nrefs * sizeof *refs);
        }
        e->nrefs = nrefs;
        if (array && (e->array = malloc(sizeof *e->array))) *e->array = *array;
    }
    uint32_t n;
    const uint64_t *contained = entry_refs(e, &n);
    count_contained(contained, n, e->id);

    /* A temporary pin keeps e alive while waiters and dependents react. */
    e->pins++;
    while (e->waiters) {
        relay__dwaiter_t *w = e->waiters;
        e->waiters = w->next;
        reply_get(w->rank, w->req, RELAY_OK, e, w->want_data);
        free(w);
        D()->waiters--;
    }
    struct relay__stask **deps = e->deps;
    uint32_t ndeps = e->ndeps;
    e->deps = NULL;
    e->ndeps = e->capdeps = 0;
    for (uint32_t i = 0; i < ndeps; i++)
        relay__sched_dep_ready(deps[i], e);
    free(deps);
    e->pins--;
    relay__dir_maybe_free(e);
}

int relay__dir_add_dep(relay__dentry_t *e, struct relay__stask *t)
{
    if (e->ndeps == e->capdeps) {
        uint32_t cap = e->capdeps ? 2 * e->capdeps : 4;
        struct relay__stask **d = realloc(e->deps, cap * sizeof *d);
        if (!d) return -1;
        e->deps = d;
        e->capdeps = cap;
    }
    e->deps[e->ndeps++] = t;
    return 0;
}

uint32_t relay__dir_drop_dep(relay__dentry_t *e, struct relay__stask *t)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < e->ndeps; i++)
        if (e->deps[i] != t) e->deps[kept++] = e->deps[i];
    uint32_t dropped = e->ndeps - kept;
    e->ndeps = kept;
    return dropped;
}

static void post_free(int holder, uint64_t id)
{
    relay__rec_ids_t m = {{1, &id}};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(holder, RELAY__R_FREE, &start);
    relay__rec_ids_encode(w, &m);
    relay__msg_end(holder, w, start);
}

static int unreferenced(const relay__dentry_t *e)
{
    return e->ready && e->holders <= 0 && e->pins <= 0 && e->contained <= 0;
}

void relay__dir_maybe_free(relay__dentry_t *e)
{
    if (!unreferenced(e)) return;
    /* Freeing a container may free what it contains: walk with an explicit
     * stack so deep chains cannot overflow the C stack. */
    relay__dentry_t **stack = NULL;
    size_t n = 0, cap = 0;
    relay__map_remove(&D()->entries, e->id);
    for (;;) {
        uint32_t nrefs;
        const uint64_t *refs = entry_refs(e, &nrefs);
        for (uint32_t i = 0; i < nrefs; i++) {
            relay__dentry_t *c = relay__dir_lookup(refs[i]);
            if (!c || --c->contained > 0 || !unreferenced(c)) continue;
            relay__map_remove(&D()->entries, c->id);
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                relay__dentry_t **s = realloc(stack, cap * sizeof *s);
                if (!s) {
                    relay__log(RELAY__LOG_ERROR, "out of memory freeing objects");
                    abort();
                }
                stack = s;
            }
            stack[n++] = c;
        }
        if (e->holder_rank >= 0) post_free(e->holder_rank, e->id);
        if (e->holder_rank >= 0 && !e->put) relay__sched_output_freed(e->id);
        if (e->obj && e->obj->status == RELAY_OK) D()->inline_bytes -= e->obj->size;
        entry_destroy(e);
        if (n == 0) break;
        e = stack[--n];
    }
    free(stack);
}

struct relay_object *relay__dir_oom_object(uint64_t id, uint64_t size)
{
    char msg[160];
    snprintf(msg, sizeof msg, "rank 0 ran out of memory storing object %#llx (%llu bytes)",
             (unsigned long long)id, (unsigned long long)size);
    relay__log(RELAY__LOG_ERROR, "%s", msg);
    struct relay_object *o = relay__obj_new_error(id, RELAY_ERR_NO_MEMORY, msg);
    if (!o) abort(); /* not even a few bytes left */
    return o;
}

uint64_t relay__dir_waiters(void)
{
    return D() ? D()->waiters : 0;
}

void relay__dir_stats(uint64_t *objects_p, uint64_t *bytes_p)
{
    *objects_p = D() ? D()->entries.count : 0;
    *bytes_p = D() ? D()->inline_bytes : 0;
}

/* ---------------------------------------------------------------------- */
/* Handlers                                                                 */
/* ---------------------------------------------------------------------- */

void relay__dir_on_put(int src, relay__rbuf_t *r)
{
    relay__rec_put_t m;
    if (relay__rec_put_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_PUT, src, r);
        return;
    }
    const relay__desc_t *d = &m.desc;
    unsigned long long id = (unsigned long long)m.id;
    if (relay__id_rank(m.id) != src) {
        relay__log(RELAY__LOG_ERROR, "rank %d put object %#llx, an id of rank %d: dropped", src, id,
                   relay__id_rank(m.id));
        return;
    }
    if (relay__dir_lookup(m.id)) {
        relay__log(RELAY__LOG_ERROR, "rank %d put object %#llx twice", src, id);
        return;
    }
    relay__dentry_t *e = entry_new(m.id);
    if (!e) {
        relay__log(RELAY__LOG_ERROR, "out of memory recording object %#llx", id);
        return;
    }
    e->put = 1;
    if (d->is_inline) {
        struct relay_object *o = relay__obj_from_desc(m.id, d);
        if (!o) o = relay__dir_oom_object(m.id, d->size);
        relay__dir_set_ready(e, o, -1, 0, NULL, 0, NULL);
        relay__obj_unref(o);
        return;
    }
    uint64_t small[16], *refs = d->nrefs <= 16 ? small : malloc(d->nrefs * sizeof *refs);
    if (!refs) abort();
    for (uint32_t i = 0; i < d->nrefs; i++)
        refs[i] = relay__desc_ref(d, i);
    relay__dir_set_ready(e, NULL, src, d->size, refs, d->nrefs, d->has_array ? &d->array : NULL);
    if (refs != small) free(refs);
}

void relay__dir_on_release(int src, relay__rbuf_t *r)
{
    relay__rec_ids_t m;
    if (relay__rec_release_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_RELEASE, src, r);
        return;
    }
    for (uint32_t i = 0; i < m.ids.n; i++) {
        uint64_t id = relay__ids_at(&m.ids, i);
        relay__dentry_t *e = relay__dir_lookup(id);
        if (!e || e->holders <= 0) {
            relay__log(RELAY__LOG_WARN, "rank %d released %#llx, which no rank holds", src,
                       (unsigned long long)id);
            continue;
        }
        e->holders--;
        relay__dir_maybe_free(e);
    }
}

void relay__dir_on_retain_check(int src, relay__rbuf_t *r)
{
    relay__rec_req_id_t m;
    if (relay__rec_retain_check_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_RETAIN_CHECK, src, r);
        return;
    }
    relay__dentry_t *e = relay__dir_lookup(m.id);
    if (e) e->holders++;
    relay__post_reply(src, m.req, e ? RELAY_OK : RELAY_ERR_INVALID_REF);
}

void relay__dir_on_get(int src, relay__rbuf_t *r)
{
    relay__rec_get_t m;
    if (relay__rec_get_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_GET, src, r);
        return;
    }
    int want_data = m.flags & RELAY__GET_DATA;
    relay__dentry_t *e = relay__dir_lookup(m.id);
    if (!e) {
        reply_get(src, m.req, RELAY_ERR_INVALID_REF, NULL, 0);
    } else if (e->ready) {
        reply_get(src, m.req, RELAY_OK, e, want_data);
    } else if (m.flags & RELAY__GET_NOW) {
        reply_get(src, m.req, RELAY_ERR_TIMEOUT, NULL, 0);
    } else {
        relay__dwaiter_t *w = malloc(sizeof *w);
        if (!w) {
            reply_get(src, m.req, RELAY_ERR_NO_MEMORY, NULL, 0);
            return;
        }
        w->rank = src;
        w->req = m.req;
        w->want_data = want_data;
        w->next = e->waiters;
        e->waiters = w;
        D()->waiters++;
    }
}

void relay__dir_on_get_cancel(int src, relay__rbuf_t *r)
{
    relay__rec_req_id_t m;
    if (relay__rec_get_cancel_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_GET_CANCEL, src, r);
        return;
    }
    relay__dentry_t *e = relay__dir_lookup(m.id);
    if (!e) return;
    for (relay__dwaiter_t **pp = &e->waiters; *pp; pp = &(*pp)->next) {
        if ((*pp)->rank != src || (*pp)->req != m.req) continue;
        relay__dwaiter_t *w = *pp;
        *pp = w->next;
        free(w);
        D()->waiters--;
        return;
    }
}

/* ---------------------------------------------------------------------- */
/* Lost ranks                                                               */
/* ---------------------------------------------------------------------- */

/* The gets the lost rank waits for on e: nobody will read the answers. */
static void drop_waiters_of(relay__dentry_t *e, int rank)
{
    for (relay__dwaiter_t **pp = &e->waiters; *pp;) {
        relay__dwaiter_t *w = *pp;
        if (w->rank != rank) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        free(w);
        D()->waiters--;
    }
}

/* e no longer describes bytes on a rank (they were lost): its array shape
 * and holder go, and the objects it contained are no longer kept by it
 * (e itself is pinned meanwhile: one of them may hold the last link). */
static void forget_bytes(relay__dentry_t *e)
{
    uint64_t *refs = e->refs;
    uint32_t n = e->nrefs;
    e->refs = NULL;
    e->nrefs = 0;
    free(e->array);
    e->array = NULL;
    e->holder_rank = -1;
    e->pins++;
    for (uint32_t i = 0; i < n; i++) {
        relay__dentry_t *c = relay__dir_lookup(refs[i]);
        if (!c || c->contained <= 0) continue;
        c->contained--;
        relay__dir_maybe_free(c);
    }
    free(refs);
    e->pins--;
}

/* e, whose bytes only the lost rank held, becomes an error object: the
 * objects it contained are no longer kept by it. */
static void entry_lost(relay__dentry_t *e, int rank, const char *lost)
{
    char msg[1400];
    if (e->put)
        snprintf(msg, sizeof msg,
                 "object %#llx was lost with rank %d: %s; it was made by relay_put on rank %d, "
                 "so nothing can make it again",
                 (unsigned long long)e->id, rank, lost, relay__id_rank(e->id));
    else
        snprintf(msg, sizeof msg, "object %#llx was lost with rank %d: %s; %s",
                 (unsigned long long)e->id, rank, lost, relay__sched_lineage_why(e->id));
    struct relay_object *err = relay__obj_new_error(e->id, RELAY_ERR_RANK_LOST, msg);
    if (!err) abort();
    forget_bytes(e);
    e->obj = err;
    e->size = err->size;
    relay__dir_maybe_free(e);
}

/* e goes back to waiting for its task, which runs again: the objects it
 * contained are no longer kept by it (the new run's copy names them). */
void relay__dir_unready(relay__dentry_t *e)
{
    forget_bytes(e);
    e->ready = 0;
    e->size = 0;
}

void relay__dir_rank_lost(int rank, const char *lost)
{
    relay__map_t *m = &D()->entries;
    uint64_t *ids = malloc((m->count ? m->count : 1) * sizeof *ids);
    if (!ids) {
        relay__log(RELAY__LOG_ERROR, "out of memory handling a lost rank");
        abort();
    }
    size_t n = 0;
    relay__dentry_t *e;
    RELAY__MAP_EACH(m, e)
    {
        drop_waiters_of(e, rank);
        if (e->ready && !e->obj && e->holder_rank == rank) ids[n++] = e->id;
    }
    /* Objects whose task can run again wait for it; the others fail. */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        e = relay__dir_lookup(ids[i]);
        if (!e || !e->ready || e->obj || e->holder_rank != rank) continue;
        if (!e->put && relay__sched_can_remake(e->id))
            ids[kept++] = ids[i];
        else
            entry_lost(e, rank, lost);
    }
    relay__sched_remake(ids, kept, rank, lost);
    free(ids);
}
