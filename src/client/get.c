/* relay_get, relay_get_many, relay_get_value and relay_wait: ask the
 * directory for each ref not held here, then take inline bytes from the
 * reply or fetch a large object's bytes from its holder. */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>

#include "comm.h"
#include "hashmap.h"
#include "log.h"
#include "runtime.h"
#include "store.h"
#include "worker.h"

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

/* A get_many is over at its first failure too. */
static int set_done_or_failed(void *arg)
{
    req_set_t *s = arg;
    return s->batch->failed || set_done(arg);
}

/* Ask rank 0 for q's object (q->obj_id, q->batch set). Lock held. */
static void post_get(relay__req_t *q, int flags)
{
    q->req_id = ++relay__g.next_req;
    relay__map_put(&relay__g.reqs, q->req_id, q);
    relay__rec_get_t m = {q->req_id, q->obj_id, (uint8_t)flags};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_GET, &start);
    relay__rec_get_encode(w, &m);
    relay__msg_end(0, w, start);
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
            if (local->status != RELAY_OK) b->failed++;
            continue;
        }
        post_get(q, flags);
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

void relay__client_on_get_reply(int src, relay__rbuf_t *r)
{
    relay__rbuf_t whole = *r;
    relay__rec_get_reply_t m;
    if (relay__rec_get_reply_decode(r, &m) != 0) {
        relay__reply_unreadable(RELAY__R_GET_REPLY, src, r, &whole);
        return;
    }
    relay__req_t *q = relay__map_remove(&relay__g.reqs, m.req);
    if (!q) return; /* the waiter gave up (timeout) */
    q->status = m.status;
    if (m.status == RELAY_OK && m.has_desc)
        req_resolve(q, relay__obj_from_desc(q->obj_id, &m.desc), !m.desc.is_inline, m.desc.holder);
    relay__req_replied(q);
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
    relay__req_replied(q);
}

/* ---------------------------------------------------------------------- */
/* get / wait                                                               */
/* ---------------------------------------------------------------------- */

int relay__check_refs_arg(const char *call, const relay_ref_t *refs, size_t n)
{
    if (!refs && n) return relay__error(RELAY_ERR_INVALID_ARG, "%s: refs is NULL", call);
    for (size_t i = 0; i < n; i++) {
        int rc = relay__check_id(call, refs[i].id);
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

/* The request-level failure among the completed requests (unknown ref,
 * a fetch that failed, shutdown, not ready to a zero timeout): its index,
 * or n. */
static size_t first_req_failure(const req_set_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const relay__req_t *q = &s->q[i];
        if (!relay__req_complete(q)) continue;
        /* A failed object is a better answer than one not ready now. */
        if (q->status == RELAY_ERR_TIMEOUT && s->batch->failed) continue;
        if (q->status != RELAY_OK || (q->fetch && q->fetch->status != RELAY_OK)) return i;
    }
    return s->n;
}

/* End a get whose request bad failed: no view is given. Lock held. */
static int get_req_failed(const char *call, req_set_t *s, size_t bad)
{
    relay__req_t *q = &s->q[bad];
    int rc = req_result(q);
    char why[600];
    const relay__fetch_t *f = q->fetch;
    snprintf(why, sizeof why, "%s",
             f && f->errmsg                ? f->errmsg
             : rc == RELAY_ERR_INVALID_REF ? "unknown or already released"
                                           : relay_strerror(rc));
    uint64_t id = q->obj_id;
    drop_reqs(s, 0);
    if (rc == RELAY_ERR_SHUTDOWN) return relay__error(rc, "%s: relay is shutting down", call);
    return relay__error(rc, "%s: ref %#llx: %s", call, (unsigned long long)id, why);
}

/* Hand out the views of the completed requests (NULL for the others, whose
 * requests are cancelled); the first error among them in input order.
 * Lock held. */
static int get_give_views(req_set_t *s, relay_object_t *objs_p)
{
    int first = RELAY_OK;
    for (size_t i = 0; i < s->n; i++) {
        relay__req_t *q = &s->q[i];
        if (!relay__req_complete(q) || q->status != RELAY_OK) {
            objs_p[i] = NULL;
            continue;
        }
        objs_p[i] = relay__view_give(q->obj);
        q->obj = NULL; /* the view's now */
        if (first == RELAY_OK && objs_p[i]->status != RELAY_OK) {
            first = objs_p[i]->status;
            relay__set_last_error(objs_p[i]->errmsg);
        }
    }
    drop_reqs(s, 0);
    return first;
}

/* relay_cancel reached the task running on this thread: its gets and
 * waits return RELAY_ERR_CANCELLED from then on. */
static int task_cancelled(void)
{
    relay_ctx_t *ctx = relay__worker_current();
    return ctx && relay__worker_cancel_bits(ctx) & RELAY__CANCEL_TASK;
}

static int cancelled_error(const char *call)
{
    return relay__error(RELAY_ERR_CANCELLED, "%s: the task calling it was cancelled", call);
}

/* A get ends because its calling task was cancelled: every entry NULL,
 * unlike an object's CANCELLED, which sets them (a caller freeing each
 * non-NULL entry frees nothing it did not get). */
static int get_cancelled(const char *call, relay_object_t *objs_p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        objs_p[i] = NULL;
    return cancelled_error(call);
}

/* Requests whose bytes were being fetched from a rank that was lost: rank
 * 0 has made the object again elsewhere (lineage) or an error of it by
 * now (it said the rank was lost only after), so they ask it once more.
 * Returns how many do. Lock held. */
static size_t reget_lost(req_set_t *s, int flags)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        relay__req_t *q = &s->q[i];
        if (!q->fetch || !q->fetch->done || q->fetch->status != RELAY_ERR_RANK_LOST) continue;
        relay__fetch_finish(q->fetch);
        q->fetch = NULL;
        relay__obj_unref(q->obj);
        q->obj = NULL;
        q->replied = 0;
        q->status = RELAY_OK;
        s->batch->completed--;
        post_get(q, flags);
        n++;
    }
    return n;
}

static int get_impl(const char *call, const relay_ref_t *refs, size_t n, double timeout_s,
                    relay_object_t *objs_p)
{
    int rc = relay__check_on(call);
    if (rc) return rc;
    if (!objs_p) return relay__error(RELAY_ERR_INVALID_ARG, "%s: output is NULL", call);
    if ((rc = relay__check_refs_arg(call, refs, n)) || (rc = relay__check_timeout(call, timeout_s)))
        return rc;
    if (task_cancelled()) return get_cancelled(call, objs_p, n);
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
    int now = timeout_s == 0, flags = RELAY__GET_DATA | (now ? RELAY__GET_NOW : 0);
    post_gets(&s, refs, &b, flags);
    if (now) timeout_s = RELAY_FOREVER;
    /* A zero timeout waits only for answers, which always come. */
    relay__wait_t wait = {refs, n, n, now, call + strlen("relay_")};
    double deadline = relay__deadline_of(timeout_s);
    int done, rounds = 0;
    do
        done = relay__wait_until(&b, deadline, set_done_or_failed, &s, &wait);
    while (done && !b.failed && rounds++ < relay__g.size && reget_lost(&s, flags) > 0);
    /* Not done but failed: the deadline passed or relay shuts down as the
     * failure came in. The failure is the better answer. */
    if (!done && !b.failed) {
        int shut = relay__g.shutting_down;
        drop_reqs(&s, 0);
        pthread_mutex_unlock(&relay__g.lock);
        pthread_cond_destroy(&b.cv);
        free(s.q);
        if (shut) return relay__error(RELAY_ERR_SHUTDOWN, "%s: relay is shutting down", call);
        if (task_cancelled()) return get_cancelled(call, objs_p, n);
        return relay__error(RELAY_ERR_TIMEOUT, "%s: %zu object(s) not ready after %.3f s", call, n,
                            timeout_s);
    }
    for (size_t i = 0; i < n; i++)
        if (s.q[i].fetch && s.q[i].fetch->done) relay__fetch_adopt(s.q[i].fetch, &s.q[i].obj);
    /* Request-level failures (unknown ref, shutdown) give no object at all. */
    size_t bad = first_req_failure(&s);
    int first = bad < n ? get_req_failed(call, &s, bad) : get_give_views(&s, objs_p);
    pthread_mutex_unlock(&relay__g.lock);
    pthread_cond_destroy(&b.cv);
    free(s.q);
    if (first != RELAY_OK && bad == n)
        relay__log(RELAY__LOG_INFO, "%s: %s", call, relay_last_error());
    return first;
}

/* A failed get or wait inside a task is kept as the cause of the task's
 * own failure, should it pass that status on. */
static int noted(const char *call, int rc)
{
    if (rc != RELAY_OK) relay__worker_note_failure(call, rc);
    return rc;
}

int relay_get(relay_ref_t ref, double timeout_s, relay_object_t *obj_p)
{
    return noted("relay_get", get_impl("relay_get", &ref, 1, timeout_s, obj_p));
}

int relay_get_many(const relay_ref_t *refs, size_t n, double timeout_s, relay_object_t *objs_p)
{
    return noted("relay_get_many", get_impl("relay_get_many", refs, n, timeout_s, objs_p));
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
    return noted("relay_get_value", rc);
}

/* The first ref of refs that repeats an earlier one: 1 and both indices,
 * 0 when none, -1 when out of memory. */
static int find_repeat(const relay_ref_t *refs, size_t n, size_t *earlier_p, size_t *again_p)
{
    relay__map_t seen;
    relay__map_init(&seen);
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        void *prev = relay__map_get(&seen, refs[i].id);
        if (prev) {
            *earlier_p = (size_t)((uintptr_t)prev - 1);
            *again_p = i;
            found = 1;
        } else if (relay__map_put(&seen, refs[i].id, (void *)(uintptr_t)(i + 1)) != 0) {
            found = -1;
        }
    }
    relay__map_destroy(&seen);
    return found;
}

static int req_ready(const relay__req_t *q)
{
    return relay__req_complete(q) && q->status == RELAY_OK;
}

static size_t count_ready(const req_set_t *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        k += req_ready(&s->q[i]);
    return k;
}

/* A request's own error (unknown ref...), not TIMEOUT, which answers a
 * question about now with "not ready". */
static int req_error(const relay__req_t *q)
{
    return q->replied && q->status != RELAY_OK && q->status != RELAY_ERR_TIMEOUT ? q->status
                                                                                 : RELAY_OK;
}

/* Ask again, for an answer once ready, about the refs rank 0 said were
 * not ready now; the batch then counts those answers, need of them. */
static void ask_again(req_set_t *s, size_t need)
{
    relay__batch_t *b = s->batch;
    b->completed = b->failed = 0;
    b->need = s->need = need;
    for (size_t i = 0; i < s->n; i++) {
        relay__req_t *q = &s->q[i];
        if (!q->replied || q->status != RELAY_ERR_TIMEOUT) continue;
        q->replied = 0;
        q->status = RELAY_OK;
        post_get(q, 0);
    }
}

/* relay_wait's waiting, on a set with every request unposted. The ready
 * refs it reports are the first k in input order among those ready: so
 * when fewer than all are wanted it first asks rank 0 which are ready now,
 * and only then waits for more. Returns the first request error. Lock
 * held. */
static int wait_ready(req_set_t *s, const relay_ref_t *refs, size_t k, double timeout_s)
{
    size_t n = s->n;
    relay__batch_t *b = s->batch;
    double deadline = relay__deadline_of(timeout_s);
    int ask_now = timeout_s == 0 || k < n;
    if (ask_now) {
        b->need = s->need = n; /* every answer, ready or not: they always come */
        post_gets(s, refs, b, RELAY__GET_NOW);
        relay__wait_t w = {refs, n, k, 1, "wait"};
        relay__wait_until(b, -1, set_done, s, &w);
    }
    int rc = RELAY_OK;
    for (size_t i = 0; i < n && rc == RELAY_OK; i++)
        rc = req_error(&s->q[i]);
    size_t ready = count_ready(s);
    /* Cancelled during the question: its answers are all it reports. */
    if (rc != RELAY_OK || timeout_s == 0 || ready >= k || relay__g.shutting_down ||
        task_cancelled())
        return rc;
    if (ask_now) {
        ask_again(s, k - ready);
    } else {
        b->need = s->need = k;
        post_gets(s, refs, b, 0);
    }
    relay__wait_t w = {refs, n, k, 0, "wait"};
    relay__wait_until(b, deadline, set_done, s, &w);
    for (size_t i = 0; i < n && rc == RELAY_OK; i++)
        rc = req_error(&s->q[i]);
    return rc;
}

static int wait_impl(const relay_ref_t *refs, size_t n, size_t num_ready, double timeout_s,
                     int *ready_p, size_t *num_ready_p)
{
    int rc = relay__check_on("relay_wait");
    if (rc) return rc;
    if ((rc = relay__check_refs_arg("relay_wait", refs, n)) ||
        (rc = relay__check_timeout("relay_wait", timeout_s)))
        return rc;
    if (num_ready > n)
        return relay__error(RELAY_ERR_INVALID_ARG, "relay_wait: num_ready %zu > n %zu", num_ready,
                            n);
    size_t earlier = 0, again = 0;
    int rep = find_repeat(refs, n, &earlier, &again);
    if (rep < 0) return relay__error(RELAY_ERR_NO_MEMORY, "relay_wait: out of memory");
    if (rep)
        return relay__error(RELAY_ERR_INVALID_ARG,
                            "relay_wait: refs[%zu] repeats refs[%zu] (%#llx)", again, earlier,
                            (unsigned long long)refs[again].id);
    if (task_cancelled()) {
        /* Nothing is known ready: the outputs say so, as after a wait. */
        for (size_t i = 0; ready_p && i < n; i++)
            ready_p[i] = 0;
        if (num_ready_p) *num_ready_p = 0;
        return cancelled_error("relay_wait");
    }
    relay__batch_t b;
    req_set_t s = {calloc(n ? n : 1, sizeof(relay__req_t)), n, num_ready, &b};
    if (!s.q) return relay__error(RELAY_ERR_NO_MEMORY, "relay_wait: out of memory");
    relay__batch_init(&b);
    pthread_mutex_lock(&relay__g.lock);
    if (relay__g.shutting_down) {
        rc = relay__error(RELAY_ERR_SHUTDOWN, "relay_wait: relay is shutting down");
    } else {
        rc = wait_ready(&s, refs, num_ready, timeout_s);
        /* The first num_ready ready ones in input order (all, for 0). */
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            int flag = req_ready(&s.q[i]) && (num_ready == 0 || k < num_ready);
            if (ready_p) ready_p[i] = flag;
            k += flag;
        }
        if (num_ready_p) *num_ready_p = k;
        if (rc != RELAY_OK)
            rc = relay__error(rc, "relay_wait: %s",
                              rc == RELAY_ERR_INVALID_REF ? "a ref is unknown or already released"
                                                          : relay_strerror(rc));
        else if (k < num_ready && !relay__g.shutting_down && task_cancelled())
            rc = cancelled_error("relay_wait");
        else if (k < num_ready)
            rc = relay__error(relay__g.shutting_down ? RELAY_ERR_SHUTDOWN : RELAY_ERR_TIMEOUT,
                              "relay_wait: %zu of %zu ready, %zu wanted", k, n, num_ready);
        drop_reqs(&s, 0);
    }
    pthread_mutex_unlock(&relay__g.lock);
    pthread_cond_destroy(&b.cv);
    free(s.q);
    return rc;
}

int relay_wait(const relay_ref_t *refs, size_t n, size_t num_ready, double timeout_s, int *ready_p,
               size_t *num_ready_p)
{
    return noted("relay_wait", wait_impl(refs, n, num_ready, timeout_s, ready_p, num_ready_p));
}
