/* Client API: submit, put, get, wait, release, retain, sync. Runs on the
 * calling thread; talks to rank 0 through records (dispatched in place when
 * the caller is on rank 0). */
#include "client.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm.h"
#include "directory.h"
#include "doorbell.h"
#include "batch.h"
#include "log.h"
#include "object.h"
#include "registry.h"
#include "resources.h"
#include "runtime.h"
#include "spill.h"
#include "store.h"
#include "worker.h"

/* How long a waiting thread polls for its reply before it sleeps; polling
 * goes on as long as messages keep arriving. */
#define SPIN_WAIT_SECONDS 50e-6

static int req_complete(const relay__req_t *q)
{
    return q->replied && (!q->fetch || q->fetch->done);
}

/* ---------------------------------------------------------------------- */
/* Holds                                                                    */
/* ---------------------------------------------------------------------- */

uint64_t relay__hold_add(uint64_t id)
{
    uintptr_t n = (uintptr_t)relay__map_get(&relay__g.holds, id) + 1;
    if (relay__map_put(&relay__g.holds, id, (void *)n) != 0) {
        relay__log(RELAY__LOG_ERROR, "out of memory recording a hold");
        abort();
    }
    return n;
}

long relay__hold_drop(uint64_t id)
{
    uintptr_t n = (uintptr_t)relay__map_get(&relay__g.holds, id);
    if (n == 0) return -1;
    if (n == 1)
        relay__map_remove(&relay__g.holds, id);
    else
        relay__map_put(&relay__g.holds, id, (void *)(n - 1));
    return (long)(n - 1);
}

void relay__post_release(const uint64_t *ids, size_t n)
{
    if (n == 0) return;
    relay__rec_ids_t m = {{(uint32_t)n, ids}};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_RELEASE, &start);
    relay__rec_ids_encode(w, &m);
    relay__msg_end(0, w, start);
}

/* Check what can be checked locally: not null, a rank that exists, and for
 * this rank's own ids a sequence number already handed out. */
static int check_ref(const char *call, uint64_t id)
{
    if (id == 0) return relay__error(RELAY_ERR_INVALID_REF, "%s: RELAY_REF_NULL", call);
    int rank = relay__id_rank(id);
    if (rank >= relay__g.size ||
        (rank == relay__g.rank && relay__id_seq(id) >= atomic_load(&relay__g.next_seq)) ||
        relay__id_index(id) >= RELAY_MAX_RETURNS)
        return relay__error(RELAY_ERR_INVALID_REF, "%s: ref %#llx was never created", call,
                            (unsigned long long)id);
    return RELAY_OK;
}

int relay__check_id(const char *call, uint64_t id)
{
    return check_ref(call, id);
}

static uint64_t new_seq(void)
{
    return atomic_fetch_add(&relay__g.next_seq, 1);
}

/* ---------------------------------------------------------------------- */
/* Waiting                                                                  */
/* ---------------------------------------------------------------------- */

/* Absolute deadline, or -1 for none (negative, infinite or absurdly long
 * timeouts all mean forever). */
static double deadline_of(double timeout_s)
{
    return timeout_s < 0 || timeout_s > 1e9 ? -1 : relay__now() + timeout_s;
}

static int check_timeout(const char *call, double timeout_s)
{
    if (timeout_s != timeout_s)
        return relay__error(RELAY_ERR_INVALID_ARG, "%s: timeout is NaN", call);
    return RELAY_OK;
}

/* Wait on b until done(arg) or the deadline. Inside a task, once the
 * short spin is over, the task is blocked: its CPUs go back to its rank
 * until it resumes, and rank 0 learns what it waits for (wait; NULL for
 * nothing it could be waiting on forever). Lock held. Returns 1 when done. */
static int wait_until(relay__batch_t *b, double deadline, int (*done)(void *), void *arg,
                      const relay__wait_t *wait)
{
    if (done(arg)) return 1;
    relay_ctx_t *ctx = relay__worker_current();
    relay__wait_t none = {NULL, 0, 0, 1};
    int blocked = 0, ok;
    /* Where ranks outnumber cores, spinning steals the core the reply needs. */
    double spin_end = relay__bell_oversubscribed() ? 0 : relay__now() + SPIN_WAIT_SECONDS;
    while (!(ok = done(arg)) && !relay__g.shutting_down) {
        double now = relay__now();
        if (deadline >= 0 && now >= deadline) break;
        if (now < spin_end) {
            /* Replies usually come within microseconds: fetch them here
             * rather than sleep and be woken by the runtime thread. A
             * task keeps its CPUs meanwhile: a get that is answered at
             * once should not let a long task take them. */
            pthread_mutex_unlock(&relay__g.lock);
            int work = relay__comm_poll();
            if (work <= 0) sched_yield();
            pthread_mutex_lock(&relay__g.lock);
            if (work > 0) spin_end = now + SPIN_WAIT_SECONDS;
            continue;
        }
        if (ctx && !blocked) {
            relay__worker_block(ctx, wait ? wait : &none);
            blocked = 1;
            continue;
        }
        if (deadline < 0) {
            pthread_cond_wait(&b->cv, &relay__g.lock);
            continue;
        }
        double left = deadline - relay__now();
        if (left <= 0) break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long ns = ts.tv_nsec + (long)((left - (long)left) * 1e9);
        ts.tv_sec += (time_t)left + ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&b->cv, &relay__g.lock, &ts);
    }
    if (blocked) relay__worker_unblock(ctx);
    return ok;
}

typedef struct req_set {
    relay__req_t *q;
    size_t n, need;
    relay__batch_t *batch;
} req_set_t;

static int set_done(void *arg)
{
    req_set_t *s = arg;
    return s->batch->completed >= s->need;
}

/* Post GET records for the refs not held in this rank's store. Lock held. */
static void post_gets(req_set_t *s, const relay_ref_t *refs, relay__batch_t *b, int flags)
{
    for (size_t i = 0; i < s->n; i++) {
        relay__req_t *q = &s->q[i];
        q->obj_id = refs[i].id;
        q->batch = b;
        struct relay_object *local = relay__store_lookup(q->obj_id);
        if (local) {
            q->obj = local;
            q->replied = 1;
            b->completed++;
            continue;
        }
        q->req_id = ++relay__g.next_req;
        relay__map_put(&relay__g.reqs, q->req_id, q);
        relay__rec_get_t m = {q->req_id, q->obj_id, (uint8_t)flags};
        size_t start;
        relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_GET, &start);
        relay__rec_get_encode(w, &m);
        relay__msg_end(0, w, start);
    }
}

/* Drop the requests of a set, abandoning fetches in flight. Lock held. */
static void drop_reqs(req_set_t *s, int keep_objs)
{
    for (size_t i = 0; i < s->n; i++) {
        relay__req_t *q = &s->q[i];
        if (q->req_id && !q->replied && relay__map_remove(&relay__g.reqs, q->req_id) &&
            !relay__g.shutting_down) {
            /* Rank 0 would keep a waiter for it until the object is ready. */
            relay__rec_req_id_t m = {q->req_id, q->obj_id};
            size_t start;
            relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_GET_CANCEL, &start);
            relay__rec_req_id_encode(w, &m);
            relay__msg_end(0, w, start);
        }
        if (q->fetch) relay__fetch_finish(q->fetch);
        if (!keep_objs) relay__obj_unref(q->obj);
    }
}

/* The object of a ready reply: held here (store), or remote (obj is the
 * allocated target of a fetch from holder). Lock held. */
static void req_resolve(relay__req_t *q, struct relay_object *obj, int remote, int holder)
{
    if (remote && holder == relay__g.rank) {
        struct relay_object *mine = relay__store_lookup(q->obj_id);
        if (mine || !obj || !relay__store_spilled(q->obj_id)) {
            relay__obj_unref(obj);
            q->obj = mine;
            if (!q->obj) q->status = obj ? RELAY_ERR_INVALID_REF : RELAY_ERR_NO_MEMORY;
            return;
        }
        /* Only in this rank's spill file: read back into obj. */
        q->obj = obj;
        q->fetch = relay__store_restore(q->obj_id, obj, q->batch);
        if (!q->fetch) q->status = RELAY_ERR_NO_MEMORY;
        return;
    }
    q->obj = obj;
    if (!obj) {
        q->status = RELAY_ERR_NO_MEMORY;
    } else if (remote) {
        q->fetch = relay__fetch_start(holder, obj, q->batch);
        if (!q->fetch) q->status = RELAY_ERR_NO_MEMORY;
    }
}

static void req_replied(relay__req_t *q)
{
    q->replied = 1;
    if (!q->fetch) relay__batch_signal(q->batch); /* else the fetch signals */
}

/* A reply that cannot be read still ends its request (INTERNAL) when its
 * request id can be read: the waiter would hang otherwise. */
static void reply_unreadable(uint8_t type, int src, const relay__rbuf_t *r,
                             const relay__rbuf_t *whole)
{
    relay__rec_malformed(type, src, r);
    relay__rbuf_t h = *whole;
    uint64_t req_id = relay__get_u64(&h);
    relay__req_t *q = h.err ? NULL : relay__map_remove(&relay__g.reqs, req_id);
    if (!q) return;
    q->status = RELAY_ERR_INTERNAL;
    req_replied(q);
}

void relay__client_on_get_reply(int src, relay__rbuf_t *r)
{
    relay__rbuf_t whole = *r;
    relay__rec_get_reply_t m;
    if (relay__rec_get_reply_decode(r, &m) != 0) {
        reply_unreadable(RELAY__R_GET_REPLY, src, r, &whole);
        return;
    }
    relay__req_t *q = relay__map_remove(&relay__g.reqs, m.req);
    if (!q) return; /* the waiter gave up (timeout) */
    q->status = m.status;
    if (m.status == RELAY_OK && m.has_desc)
        req_resolve(q, relay__obj_from_desc(q->obj_id, &m.desc), !m.desc.is_inline, m.desc.holder);
    req_replied(q);
}

void relay__client_on_local_reply(uint64_t req_id, int status, struct relay_object *obj, int holder,
                                  uint64_t size, const uint64_t *refs, uint32_t nrefs,
                                  const struct relay__array *array)
{
    relay__req_t *q = relay__map_remove(&relay__g.reqs, req_id);
    if (!q) return;
    q->status = status;
    if (status == RELAY_OK && obj) {
        q->obj = relay__obj_ref(obj); /* the directory's copy: immutable, shared */
    } else if (status == RELAY_OK && holder >= 0) {
        struct relay_object *target = relay__obj_new(q->obj_id, size, nrefs);
        if (target && nrefs) memcpy(target->refs, refs, nrefs * sizeof *refs);
        if (target && relay__obj_set_array(target, array) != 0) {
            relay__obj_unref(target);
            target = NULL;
        }
        req_resolve(q, target, 1, holder);
    }
    req_replied(q);
}

void relay__client_on_reply(int src, relay__rbuf_t *r)
{
    relay__rbuf_t whole = *r;
    relay__rec_reply_t m;
    if (relay__rec_reply_decode(r, &m) != 0) {
        reply_unreadable(RELAY__R_REPLY, src, r, &whole);
        return;
    }
    relay__req_t *q = relay__map_remove(&relay__g.reqs, m.req);
    if (!q) return;
    q->status = m.status;
    req_replied(q);
}

void relay__client_on_actor_reply(int src, relay__rbuf_t *r)
{
    relay__rbuf_t whole = *r;
    relay__rec_actor_reply_t m;
    if (relay__rec_actor_reply_decode(r, &m) != 0) {
        reply_unreadable(RELAY__R_ACTOR_REPLY, src, r, &whole);
        return;
    }
    relay__req_t *q = relay__map_remove(&relay__g.reqs, m.req);
    if (!q) return;
    q->status = m.status;
    q->obj_id = m.actor_id;
    q->extra = m.class_hash;
    req_replied(q);
}

void relay__client_fail_all(void)
{
    relay__map_t *m = &relay__g.reqs;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key) continue;
        relay__req_t *q = m->slots[i].value;
        q->status = RELAY_ERR_SHUTDOWN;
        q->replied = 1;
        q->batch->completed++;
        pthread_cond_broadcast(&q->batch->cv);
    }
    relay__map_destroy(m);
    relay__map_init(m);
}

/* ---------------------------------------------------------------------- */
/* get / wait                                                               */
/* ---------------------------------------------------------------------- */

static int check_refs_arg(const char *call, const relay_ref_t *refs, size_t n)
{
    if (!refs && n) return relay__error(RELAY_ERR_INVALID_ARG, "%s: refs is NULL", call);
    for (size_t i = 0; i < n; i++) {
        int rc = check_ref(call, refs[i].id);
        if (rc) return rc;
    }
    return RELAY_OK;
}

/* The outcome of a completed request as a get status. */
static int req_result(relay__req_t *q)
{
    if (q->status != RELAY_OK) return q->status;
    if (q->fetch && q->fetch->status != RELAY_OK) return q->fetch->status;
    return q->obj->status;
}

static int get_impl(const char *call, const relay_ref_t *refs, size_t n, double timeout_s,
                    relay_object_t *objs_p)
{
    int rc = relay__check_on(call);
    if (rc) return rc;
    if (!objs_p) return relay__error(RELAY_ERR_INVALID_ARG, "%s: output is NULL", call);
    if ((rc = check_refs_arg(call, refs, n)) || (rc = check_timeout(call, timeout_s))) return rc;
    if (n == 0) return RELAY_OK;
    relay__batch_t b;
    req_set_t s = {calloc(n, sizeof(relay__req_t)), n, n, &b};
    if (!s.q) return relay__error(RELAY_ERR_NO_MEMORY, "%s: out of memory", call);
    relay__batch_init(&b);
    b.need = n;

    pthread_mutex_lock(&relay__g.lock);
    if (relay__g.shutting_down) {
        pthread_mutex_unlock(&relay__g.lock);
        free(s.q);
        return relay__error(RELAY_ERR_SHUTDOWN, "%s: relay is shutting down", call);
    }
    /* A zero timeout asks rank 0 for what is ready now, and waits for its
     * answer (and for the bytes of what is), not for the objects. */
    int now = timeout_s == 0;
    post_gets(&s, refs, &b, RELAY__GET_DATA | (now ? RELAY__GET_NOW : 0));
    if (now) timeout_s = RELAY_FOREVER;
    /* A zero timeout waits only for answers, which always come. */
    relay__wait_t wait = {refs, n, n, now};
    int done = wait_until(&b, deadline_of(timeout_s), set_done, &s, &wait);
    if (!done) {
        int shut = relay__g.shutting_down;
        drop_reqs(&s, 0);
        pthread_mutex_unlock(&relay__g.lock);
        pthread_cond_destroy(&b.cv);
        free(s.q);
        if (shut) return relay__error(RELAY_ERR_SHUTDOWN, "%s: relay is shutting down", call);
        return relay__error(RELAY_ERR_TIMEOUT, "%s: %zu object(s) not ready after %.3f s", call, n,
                            timeout_s);
    }
    for (size_t i = 0; i < n; i++)
        if (s.q[i].fetch) relay__fetch_adopt(s.q[i].fetch, &s.q[i].obj);
    /* Request-level failures (unknown ref, shutdown) give no object at all. */
    int first = RELAY_OK;
    size_t bad = n;
    for (size_t i = 0; i < n && bad == n; i++) {
        if (s.q[i].status != RELAY_OK || (s.q[i].fetch && s.q[i].fetch->status != RELAY_OK))
            bad = i;
    }
    if (bad < n) {
        first = req_result(&s.q[bad]);
        char why[600];
        const relay__fetch_t *f = s.q[bad].fetch;
        snprintf(why, sizeof why, "%s",
                 f && f->errmsg                   ? f->errmsg
                 : first == RELAY_ERR_INVALID_REF ? "unknown or already released"
                                                  : relay_strerror(first));
        drop_reqs(&s, 0);
        pthread_mutex_unlock(&relay__g.lock);
        pthread_cond_destroy(&b.cv);
        free(s.q);
        if (first == RELAY_ERR_SHUTDOWN)
            return relay__error(first, "%s: relay is shutting down", call);
        return relay__error(first, "%s: ref %#llx: %s", call, (unsigned long long)refs[bad].id,
                            why);
    }
    for (size_t i = 0; i < n; i++) {
        objs_p[i] = relay__view_give(s.q[i].obj);
        if (first == RELAY_OK && s.q[i].obj->status != RELAY_OK) {
            first = s.q[i].obj->status;
            relay__set_last_error(s.q[i].obj->errmsg);
        }
    }
    drop_reqs(&s, 1);
    pthread_mutex_unlock(&relay__g.lock);
    pthread_cond_destroy(&b.cv);
    free(s.q);
    if (first != RELAY_OK) relay__log(RELAY__LOG_INFO, "%s: %s", call, relay_last_error());
    return first;
}

int relay_get(relay_ref_t ref, double timeout_s, relay_object_t *obj_p)
{
    return get_impl("relay_get", &ref, 1, timeout_s, obj_p);
}

int relay_get_many(const relay_ref_t *refs, size_t n, double timeout_s, relay_object_t *objs_p)
{
    return get_impl("relay_get_many", refs, n, timeout_s, objs_p);
}

int relay_get_value(relay_ref_t ref, void *buf, size_t size, double timeout_s)
{
    if (!buf && size) return relay__error(RELAY_ERR_INVALID_ARG, "relay_get_value: buf is NULL");
    relay_object_t obj = NULL;
    int rc = get_impl("relay_get_value", &ref, 1, timeout_s, &obj);
    if (rc == RELAY_OK && obj->size != size)
        rc = relay__error(RELAY_ERR_SIZE_MISMATCH,
                          "relay_get_value: object has %zu bytes, buffer %zu", obj->size, size);
    else if (rc == RELAY_OK && size)
        memcpy(buf, obj->data, size);
    if (obj) relay_object_free(obj);
    return rc;
}

int relay_wait(const relay_ref_t *refs, size_t n, size_t num_ready, double timeout_s, int *ready_p,
               size_t *num_ready_p)
{
    int rc = relay__check_on("relay_wait");
    if (rc) return rc;
    if ((rc = check_refs_arg("relay_wait", refs, n)) ||
        (rc = check_timeout("relay_wait", timeout_s)))
        return rc;
    if (num_ready > n)
        return relay__error(RELAY_ERR_INVALID_ARG, "relay_wait: num_ready %zu > n %zu", num_ready,
                            n);
    relay__batch_t b;
    req_set_t s = {calloc(n ? n : 1, sizeof(relay__req_t)), n, num_ready, &b};
    if (!s.q) return relay__error(RELAY_ERR_NO_MEMORY, "relay_wait: out of memory");
    relay__batch_init(&b);
    b.need = num_ready;
    pthread_mutex_lock(&relay__g.lock);
    if (relay__g.shutting_down) {
        rc = relay__error(RELAY_ERR_SHUTDOWN, "relay_wait: relay is shutting down");
    } else {
        int now = timeout_s == 0;
        post_gets(&s, refs, &b, now ? RELAY__GET_NOW : 0);
        if (now) {
            b.need = n; /* every answer, ready or not */
            timeout_s = RELAY_FOREVER;
        }
        relay__wait_t wait = {refs, n, num_ready, now};
        int done = wait_until(&b, deadline_of(timeout_s), set_done, &s, &wait);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            int ready = req_complete(&s.q[i]) && s.q[i].status == RELAY_OK;
            /* TIMEOUT answers a zero-timeout wait: not ready, not an error. */
            if (req_complete(&s.q[i]) && s.q[i].status != RELAY_OK &&
                s.q[i].status != RELAY_ERR_TIMEOUT && rc == RELAY_OK)
                rc = s.q[i].status;
            if (ready_p) ready_p[i] = ready;
            k += ready;
        }
        if (num_ready_p) *num_ready_p = k;
        if (rc != RELAY_OK)
            rc = relay__error(rc, "relay_wait: %s",
                              rc == RELAY_ERR_INVALID_REF ? "a ref is unknown or already released"
                                                          : relay_strerror(rc));
        else if (!done || k < num_ready)
            rc = relay__error(relay__g.shutting_down ? RELAY_ERR_SHUTDOWN : RELAY_ERR_TIMEOUT,
                              "relay_wait: %zu of %zu ready, %zu wanted", k, n, num_ready);
        drop_reqs(&s, 0);
    }
    pthread_mutex_unlock(&relay__g.lock);
    pthread_cond_destroy(&b.cv);
    free(s.q);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Round trips to rank 0: sync, checked retain                              */
/* ---------------------------------------------------------------------- */

static int one_done(void *arg)
{
    return ((relay__req_t *)arg)->replied;
}

uint64_t relay__req_begin(relay__req_t *q, relay__batch_t *b)
{
    relay__batch_init(b);
    memset(q, 0, sizeof *q);
    q->req_id = ++relay__g.next_req;
    q->batch = b;
    relay__map_put(&relay__g.reqs, q->req_id, q);
    return q->req_id;
}

int relay__req_wait(relay__req_t *q, relay__batch_t *b, double timeout_s)
{
    int done = wait_until(b, deadline_of(timeout_s), one_done, q, NULL);
    pthread_cond_destroy(&b->cv);
    if (!done) {
        relay__map_remove(&relay__g.reqs, q->req_id);
        return relay__g.shutting_down ? RELAY_ERR_SHUTDOWN : RELAY_ERR_TIMEOUT;
    }
    return q->status;
}

/* Send a record carrying a request id and an id, and wait for its REPLY.
 * Lock held. */
int relay__round_trip(uint8_t type, uint64_t obj_id, double timeout_s)
{
    if (relay__g.shutting_down) return RELAY_ERR_SHUTDOWN;
    relay__batch_t b;
    relay__req_t q;
    relay__rec_req_id_t m = {relay__req_begin(&q, &b), obj_id};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(0, type, &start);
    relay__rec_req_id_encode(w, &m);
    relay__msg_end(0, w, start);
    return relay__req_wait(&q, &b, timeout_s);
}

int relay_sync(double timeout_s)
{
    int rc = relay__check_on("relay_sync");
    if (rc || (rc = check_timeout("relay_sync", timeout_s))) return rc;
    pthread_mutex_lock(&relay__g.lock);
    rc = relay__round_trip(RELAY__R_SYNC, 0, timeout_s);
    pthread_mutex_unlock(&relay__g.lock);
    if (rc) return relay__error(rc, "relay_sync: %s", relay_strerror(rc));
    return RELAY_OK;
}

int relay_retain(relay_ref_t ref)
{
    int rc = relay__check_on("relay_retain");
    if (rc || (rc = check_ref("relay_retain", ref.id))) return rc;
    pthread_mutex_lock(&relay__g.lock);
    if (relay__map_get(&relay__g.holds, ref.id)) {
        relay__hold_add(ref.id); /* the directory already counts this rank */
    } else if ((rc = relay__round_trip(RELAY__R_RETAIN_CHECK, ref.id, RELAY_FOREVER)) == RELAY_OK) {
        /* Another thread may have taken the first hold meanwhile; the
         * directory counts each rank once, so give back the extra. */
        if (relay__hold_add(ref.id) > 1) relay__post_release(&ref.id, 1);
    }
    pthread_mutex_unlock(&relay__g.lock);
    if (rc)
        return relay__error(rc, "relay_retain: ref %#llx: %s", (unsigned long long)ref.id,
                            rc == RELAY_ERR_INVALID_REF ? "unknown or already released"
                                                        : relay_strerror(rc));
    return RELAY_OK;
}

/* ---------------------------------------------------------------------- */
/* release                                                                  */
/* ---------------------------------------------------------------------- */

int relay_release_many(const relay_ref_t *refs, size_t n)
{
    int rc = relay__check_on("relay_release");
    if (rc) return rc;
    if (!refs && n) return relay__error(RELAY_ERR_INVALID_ARG, "relay_release: refs is NULL");
    uint64_t small[64], *zero = n <= 64 ? small : malloc(n * sizeof *zero);
    if (!zero) return relay__error(RELAY_ERR_NO_MEMORY, "relay_release: out of memory");
    pthread_mutex_lock(&relay__g.lock);
    /* Drop the holds one by one; on a ref not held, put back those already
     * dropped, so a bad ref changes nothing. */
    size_t nz = 0, dropped = 0;
    for (; dropped < n; dropped++) {
        long left = refs[dropped].id ? relay__hold_drop(refs[dropped].id) : -1;
        if (left < 0) break;
        if (left == 0) zero[nz++] = refs[dropped].id;
    }
    if (dropped < n) {
        for (size_t i = 0; i < dropped; i++)
            relay__hold_add(refs[i].id);
        nz = 0;
        rc = relay__error(RELAY_ERR_INVALID_REF,
                          "relay_release: ref %#llx is not held by rank %d (never obtained or "
                          "already released)",
                          (unsigned long long)refs[dropped].id, relay__g.rank);
    }
    relay_ctx_t *ctx = relay__worker_current();
    if (ctx)
        relay__worker_defer_releases(ctx, zero, nz);
    else if (!relay__g.shutting_down)
        relay__post_release(zero, nz);
    pthread_mutex_unlock(&relay__g.lock);
    if (zero != small) free(zero);
    return rc;
}

int relay_release(relay_ref_t ref)
{
    return relay_release_many(&ref, 1);
}

/* ---------------------------------------------------------------------- */
/* put                                                                      */
/* ---------------------------------------------------------------------- */

/* Register obj with the directory: inline bytes, or this rank as holder of
 * a large object kept in the store. Lock held. */
static void publish(struct relay_object *obj)
{
    relay__rec_put_t m;
    m.id = obj->id;
    if (obj->size <= relay__g.cfg.inline_max) {
        relay__desc_of_obj(&m.desc, obj);
    } else {
        relay__store_insert(obj);
        relay__desc_of_remote(&m.desc, obj->size, obj->refs, obj->nrefs, obj->array, relay__g.rank);
    }
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_PUT, &start);
    relay__rec_put_encode(w, &m);
    relay__msg_end(0, w, start);
}

/* A put larger than the store's budget goes from data straight to the
 * spill file, never copied in memory. RELAY_OK when it went there. */
static int put_direct(uint64_t id, const void *data, size_t size, const relay_ref_t *refs,
                      uint32_t nrefs, const relay__array_t *array)
{
    if (size <= relay__g.cfg.inline_max || size <= relay__g.cfg.store_budget)
        return RELAY_ERR_INVALID_ARG;
    struct relay_object meta;
    memset(&meta, 0, sizeof meta);
    meta.id = id;
    meta.size = size;
    meta.nrefs = nrefs;
    meta.refs = (uint64_t *)refs;
    meta.array = (relay__array_t *)array;
    if (relay__store_insert_direct(&meta, data) != RELAY_OK) {
        relay__log(RELAY__LOG_WARN, "object %#llx stays in memory: %s", (unsigned long long)id,
                   relay_last_error());
        return RELAY_ERR_IO;
    }
    return RELAY_OK;
}

static int put_impl(const char *call, const void *data, size_t size, const relay_ref_t *refs,
                    size_t nrefs, const relay__array_t *array, relay_ref_t *ref_p)
{
    int rc = relay__check_on(call);
    if (rc) return rc;
    if (!ref_p) return relay__error(RELAY_ERR_INVALID_ARG, "%s: ref_p is NULL", call);
    if (!data && size) return relay__error(RELAY_ERR_INVALID_ARG, "%s: data is NULL", call);
    if (nrefs > UINT32_MAX)
        return relay__error(RELAY_ERR_OUT_OF_RANGE, "%s: too many refs (%zu)", call, nrefs);
    if ((rc = check_refs_arg(call, refs, nrefs))) return rc;
    uint64_t id = relay__id_make(relay__g.rank, new_seq(), 0);
    struct relay_object *obj = NULL;
    int direct = put_direct(id, data, size, refs, (uint32_t)nrefs, array) == RELAY_OK;
    if (!direct) {
        obj = relay__obj_copy(id, data, size, (const uint64_t *)refs, (uint32_t)nrefs);
        if (!obj || relay__obj_set_array(obj, array) != 0) {
            relay__obj_unref(obj);
            return relay__error(RELAY_ERR_NO_MEMORY, "%s: cannot allocate %zu bytes", call, size);
        }
    }
    pthread_mutex_lock(&relay__g.lock);
    if (relay__g.shutting_down) {
        rc = relay__error(RELAY_ERR_SHUTDOWN, "%s: relay is shutting down", call);
    } else if (direct) {
        relay__rec_put_t m;
        m.id = id;
        relay__desc_of_remote(&m.desc, size, (const uint64_t *)refs, (uint32_t)nrefs, array,
                              relay__g.rank);
        size_t start;
        relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_PUT, &start);
        relay__rec_put_encode(w, &m);
        relay__msg_end(0, w, start);
        relay__hold_add(id);
    } else {
        publish(obj);
        relay__hold_add(id);
    }
    pthread_mutex_unlock(&relay__g.lock);
    relay__obj_unref(obj);
    if (rc == RELAY_OK) ref_p->id = id;
    return rc;
}

int relay_put_object(const void *data, size_t size, const relay_ref_t *refs, size_t nrefs,
                     relay_ref_t *ref_p)
{
    return put_impl("relay_put", data, size, refs, nrefs, NULL, ref_p);
}

int relay_put_array(const void *data, relay_dtype_t dtype, int ndims, const uint64_t *dims,
                    relay_ref_t *ref_p)
{
    relay__array_t a;
    size_t size = 0;
    int rc = relay__check_on("relay_put_array");
    if (rc || (rc = relay__array_check("relay_put_array", dtype, ndims, dims, &a, &size)))
        return rc;
    return put_impl("relay_put_array", data, size, NULL, 0, &a, ref_p);
}

int relay_object_save(relay_object_t obj, const char *path, const char *dataset)
{
    int rc = relay__check_on("relay_object_save");
    if (rc) return rc;
    if (!obj || !path || !dataset)
        return relay__error(RELAY_ERR_INVALID_ARG, "relay_object_save: NULL %s",
                            !obj    ? "object"
                            : !path ? "path"
                                    : "dataset");
    if (obj->status != RELAY_OK)
        return relay__error(RELAY_ERR_INVALID_ARG,
                            "relay_object_save: an error object has no data to save (%s)",
                            obj->errmsg ? obj->errmsg : "");
    return relay__spill_save(obj, path, dataset);
}

int relay_put(const void *data, size_t size, relay_ref_t *ref_p)
{
    return relay_put_object(data, size, NULL, 0, ref_p);
}

/* ---------------------------------------------------------------------- */
/* submit                                                                   */
/* ---------------------------------------------------------------------- */

int relay__check_args(const char *call, const char *fn, const relay_arg_t *args, size_t nargs)
{
    if (nargs > RELAY_MAX_ARGS)
        return relay__error(RELAY_ERR_OUT_OF_RANGE, "%s(%s): %zu arguments, at most %d", call, fn,
                            nargs, RELAY_MAX_ARGS);
    if (nargs && !args)
        return relay__error(RELAY_ERR_INVALID_ARG, "%s(%s): args is NULL", call, fn);
    for (size_t i = 0; i < nargs; i++) {
        if (args[i].kind == RELAY_ARG_VALUE) {
            if (!args[i].data && args[i].size)
                return relay__error(RELAY_ERR_INVALID_ARG, "%s(%s): argument %zu has NULL data",
                                    call, fn, i);
        } else if (args[i].kind == RELAY_ARG_REF) {
            int rc = check_ref(call, args[i].ref.id);
            if (rc) return rc;
        } else {
            return relay__error(RELAY_ERR_INVALID_ARG, "%s(%s): argument %zu has unknown kind %d",
                                call, fn, i, (int)args[i].kind);
        }
    }
    return RELAY_OK;
}

int relay__check_task_name(const char *call, const char *fn, const char *name)
{
    if (!name || !*name || strlen(name) >= RELAY_MAX_NAME)
        return relay__error(RELAY_ERR_INVALID_ARG, "%s(%s): task name must have 1..%d characters",
                            call, fn, RELAY_MAX_NAME - 1);
    return RELAY_OK;
}

int relay__check_num_returns(const char *call, const char *fn, int nret)
{
    if (nret < 1 || nret > RELAY_MAX_RETURNS)
        return relay__error(RELAY_ERR_OUT_OF_RANGE, "%s(%s): num_returns %d not in 1..%d", call, fn,
                            nret, RELAY_MAX_RETURNS);
    return RELAY_OK;
}

static int check_submit(const char *fn, const relay_arg_t *args, size_t nargs,
                        const relay_task_opts_t *opts, relay_ref_t *returns_p, relay__submit_t *sb)
{
    if (!fn) return relay__error(RELAY_ERR_INVALID_ARG, "relay_submit: fn is NULL");
    if (!returns_p) return relay__error(RELAY_ERR_INVALID_ARG, "relay_submit: returns_p is NULL");
    if (!relay__fn_lookup(relay__fn_hash(fn), NULL))
        return relay__error(RELAY_ERR_UNKNOWN_FUNCTION,
                            "relay_submit: no function registered as '%s' on rank %d", fn,
                            relay__g.rank);
    memset(sb, 0, sizeof *sb);
    sb->call = "relay_submit";
    sb->fn = sb->name = fn;
    sb->fn_hash = relay__fn_hash(fn);
    sb->nret = 1;
    sb->kind = RELAY__KIND_TASK;
    if (opts && (opts->field_mask & RELAY_TASK_OPT_NUM_RETURNS)) sb->nret = opts->num_returns;
    if (opts && (opts->field_mask & RELAY_TASK_OPT_MAX_RETRIES)) sb->retries = opts->max_retries;
    if (opts && (opts->field_mask & RELAY_TASK_OPT_NAME)) sb->name = opts->name;
    int rc;
    if ((rc = relay__check_num_returns("relay_submit", fn, sb->nret))) return rc;
    if (sb->retries < 0 || sb->retries > RELAY__MAX_RETRIES)
        return relay__error(RELAY_ERR_OUT_OF_RANGE, "relay_submit(%s): max_retries %d not in 0..%d",
                            fn, sb->retries, RELAY__MAX_RETRIES);
    if ((rc = relay__check_task_name("relay_submit", fn, sb->name)) ||
        (rc = relay__check_args("relay_submit", fn, args, nargs)))
        return rc;
    return relay__demand_make(fn, opts, &sb->demand);
}

/* Bytes of values one task record may carry: far below MPI's count limit
 * however many arguments a task has. */
#define INLINE_TASK_MAX ((size_t)16 << 20)

/* Whether a travels inside the task record: a value of at most inline_max
 * bytes that keeps the record's values within INLINE_TASK_MAX. *total: the
 * inline bytes so far. The same sequence of calls gives the same answers. */
static int travels_inline(const relay_arg_t *a, size_t *total)
{
    if (a->kind != RELAY_ARG_VALUE || a->size > relay__g.cfg.inline_max ||
        *total + a->size > INLINE_TASK_MAX)
        return 0;
    *total += a->size;
    return 1;
}

/* Values that do not travel inline become objects of their own, made
 * before taking the lock (the task pins them). NULL *big_p when none.
 * Returns their count, or -1 when out of memory (logged). */
static long copy_big_args(const char *call, const relay_arg_t *args, size_t nargs,
                          struct relay_object ***big_p)
{
    size_t nbig = 0, total = 0;
    *big_p = NULL;
    for (size_t i = 0; i < nargs; i++)
        nbig += args[i].kind == RELAY_ARG_VALUE && !travels_inline(&args[i], &total);
    if (!nbig) return 0;
    struct relay_object **big = calloc(nbig, sizeof *big);
    if (!big) return relay__error(RELAY_ERR_NO_MEMORY, "%s: out of memory", call), -1;
    total = 0;
    for (size_t i = 0, k = 0; i < nargs; i++) {
        if (args[i].kind != RELAY_ARG_VALUE || travels_inline(&args[i], &total)) continue;
        big[k] = relay__obj_copy(relay__id_make(relay__g.rank, new_seq(), 0), args[i].data,
                                 args[i].size, NULL, 0);
        if (!big[k]) {
            for (size_t j = 0; j < k; j++)
                relay__obj_unref(big[j]);
            free(big);
            relay__error(RELAY_ERR_NO_MEMORY, "%s: cannot copy argument %zu", call, i);
            return -1;
        }
        k++;
    }
    *big_p = big;
    return (long)nbig;
}

/* Where a submission's arguments go: inline values, or refs (the
 * program's, or copies of values too big to travel inline, in order). */
typedef struct submit_args {
    const relay_arg_t *args;
    struct relay_object **big;
    size_t total, nbig;
} submit_args_t;

static void submit_arg(void *ctx, uint32_t i, relay__rec_arg_t *a_p)
{
    submit_args_t *s = ctx;
    const relay_arg_t *a = &s->args[i];
    if (travels_inline(a, &s->total)) {
        a_p->kind = RELAY_ARG_VALUE;
        a_p->data = a->data;
        a_p->size = a->size;
    } else {
        a_p->kind = RELAY_ARG_REF;
        a_p->ref = a->kind == RELAY_ARG_REF ? a->ref.id : s->big[s->nbig++]->id;
    }
}

static void put_submit(relay__wbuf_t *w, const relay__submit_t *sb, uint64_t task_id,
                       const relay_arg_t *args, size_t nargs, struct relay_object **big)
{
    submit_args_t src = {args, big, 0, 0};
    relay__rec_submit_t m;
    m.task_id = task_id;
    m.fn_hash = sb->fn_hash;
    m.fn = sb->fn;
    m.name = sb->name;
    m.nret = (uint32_t)sb->nret;
    m.retries = (uint32_t)sb->retries;
    m.args = (relay__rec_args_t){(uint32_t)nargs, submit_arg, &src, {0}};
    m.has_demand = !relay__demand_is_default(&sb->demand);
    if (m.has_demand) m.demand = sb->demand;
    m.kind = sb->kind;
    m.req = sb->req;
    m.max_conc = sb->max_conc;
    m.actor_name = sb->actor_name;
    m.actor_id = sb->actor_id;
    m.class_hash = sb->class_hash;
    relay__rec_submit_encode(w, &m);
}

int relay__client_submit(relay__submit_t *sb, const relay_arg_t *args, size_t nargs,
                         uint64_t *task_id_p, relay_ref_t *returns_p)
{
    struct relay_object **big;
    long nbig = copy_big_args(sb->call, args, nargs, &big);
    if (nbig < 0) return RELAY_ERR_NO_MEMORY;
    uint64_t task_id = relay__id_make(relay__g.rank, new_seq(), 0);
    int rc = RELAY_OK;
    pthread_mutex_lock(&relay__g.lock);
    if (relay__g.shutting_down) {
        rc = relay__error(RELAY_ERR_SHUTDOWN, "%s: relay is shutting down", sb->call);
    } else {
        for (long j = 0; j < nbig; j++)
            publish(big[j]);
        /* A named actor waits for rank 0 to take its name. */
        relay__batch_t b;
        relay__req_t q;
        if (sb->want_reply) sb->req = relay__req_begin(&q, &b);
        size_t start;
        relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_SUBMIT, &start);
        put_submit(w, sb, task_id, args, nargs, big);
        relay__msg_end(0, w, start);
        for (int i = 0; i < sb->nret; i++)
            relay__hold_add(task_id | (unsigned)i);
        /* The task pins the copies now; this rank never held them. */
        for (long j = 0; j < nbig; j++)
            relay__post_release(&big[j]->id, 1);
        if (sb->want_reply) rc = relay__req_wait(&q, &b, RELAY_FOREVER);
        /* EXISTS (a taken actor name) the caller words itself. */
        if (rc != RELAY_OK && rc != RELAY_ERR_EXISTS)
            rc = relay__error(rc, "%s: %s", sb->call, relay_strerror(rc));
    }
    pthread_mutex_unlock(&relay__g.lock);
    for (long j = 0; j < nbig; j++)
        relay__obj_unref(big[j]);
    free(big);
    if (rc != RELAY_OK) return rc;
    for (int i = 0; i < sb->nret; i++)
        returns_p[i].id = task_id | (unsigned)i;
    if (task_id_p) *task_id_p = task_id;
    atomic_fetch_add_explicit(&relay__g.tasks_submitted, 1, memory_order_relaxed);
    return RELAY_OK;
}

int relay_submit(const char *fn, const relay_arg_t *args, size_t nargs,
                 const relay_task_opts_t *opts, relay_ref_t *returns_p)
{
    int rc = relay__check_on("relay_submit");
    if (rc) return rc;
    relay__submit_t sb;
    if ((rc = check_submit(fn, args, nargs, opts, returns_p, &sb))) return rc;
    return relay__client_submit(&sb, args, nargs, NULL, returns_p);
}

void relay__client_init(void)
{
    if (relay__g.rank == 0) relay__dir_set_local_reply(relay__client_on_local_reply);
    relay__handler_set(RELAY__R_GET_REPLY, relay__client_on_get_reply);
    relay__handler_set(RELAY__R_REPLY, relay__client_on_reply);
    relay__handler_set(RELAY__R_ACTOR_REPLY, relay__client_on_actor_reply);
}
