/* The client's core on every rank: requests to rank 0 and their replies,
 * the holds this rank keeps on objects, and waiting (a thread waiting for
 * its reply polls the transport itself for a while, then sleeps). */
#include "client.h"

#include <stdlib.h>

#include "comm.h"
#include "directory.h"
#include "doorbell.h"
#include "log.h"
#include "runtime.h"
#include "summary.h"
#include "trace.h"
#include "worker.h"

/* How long a waiting thread polls for its reply before it sleeps; polling
 * goes on as long as messages keep arriving. */
#define SPIN_WAIT_SECONDS 50e-6

int relay__req_complete(const relay__req_t *q)
{
    return q->replied && (!q->fetch || q->fetch->done);
}

/* ---------------------------------------------------------------------- */
/* Holds                                                                    */
/* ---------------------------------------------------------------------- */

uint64_t relay__hold_add(uint64_t id)
{
    long n = relay__hold_rank_move(id, 1);
    relay__worker_hold_moved(id, 1);
    return (uint64_t)n;
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

/* What can be checked locally: not null, a rank that exists, and for
 * this rank's own ids a sequence number already handed out. */
int relay__id_known(uint64_t id)
{
    int rank = relay__id_rank(id);
    return id != 0 && rank < relay__g.size &&
           (rank != relay__g.rank || relay__id_seq(id) < atomic_load(&relay__g.next_seq)) &&
           relay__id_index(id) < RELAY_MAX_RETURNS;
}

static int check_ref(const char *call, uint64_t id)
{
    if (id == 0) return relay__error(RELAY_ERR_INVALID_REF, "%s: RELAY_REF_NULL", call);
    if (!relay__id_known(id))
        return relay__error(RELAY_ERR_INVALID_REF, "%s: ref %#llx was never created", call,
                            (unsigned long long)id);
    return RELAY_OK;
}

int relay__check_id(const char *call, uint64_t id)
{
    return check_ref(call, id);
}

uint64_t relay__new_seq(void)
{
    return atomic_fetch_add(&relay__g.next_seq, 1);
}

/* ---------------------------------------------------------------------- */
/* Waiting                                                                  */
/* ---------------------------------------------------------------------- */

/* Absolute deadline, or -1 for none (negative, infinite or absurdly long
 * timeouts all mean forever). */
double relay__deadline_of(double timeout_s)
{
    return timeout_s < 0 || timeout_s > 1e9 ? -1 : relay__now() + timeout_s;
}

int relay__check_timeout(const char *call, double timeout_s)
{
    if (timeout_s != timeout_s)
        return relay__error(RELAY_ERR_INVALID_ARG, "%s: timeout is NaN", call);
    return RELAY_OK;
}

/* A get or wait of a task that was not ready when asked: how long the
 * task waited in it. */
static void trace_wait(const relay_ctx_t *ctx, const relay__wait_t *w, double t0)
{
    uint64_t id = 0;
    if (!ctx || !w || !w->what || relay_ctx_task_id(ctx, &id) != RELAY_OK) return;
    _Static_assert(sizeof(relay_ref_t) == sizeof(uint64_t), "relay_ref_t is one u64");
    relay__trace_blocked_slow(id, w->what, (const uint64_t *)w->refs, w->n, t0);
}

/* Wait on b until done(arg) or the deadline. Inside a task, once the
 * short spin is over, the task is blocked: its CPUs go back to its rank
 * until it resumes, and rank 0 learns what it waits for (wait; NULL for
 * nothing it could be waiting on forever). Lock held. Returns 1 when done. */
int relay__wait_until(relay__batch_t *b, double deadline, int (*done)(void *), void *arg,
                      const relay__wait_t *wait)
{
    if (done(arg)) return 1;
    relay_ctx_t *ctx = relay__worker_current();
    relay__wait_t none = {NULL, 0, 0, 1, NULL};
    double t0 = relay__now(); /* not ready when asked: it waits */
    int blocked = 0, ok;
    /* A get or wait of a task ends when relay_cancel reaches the task. */
    relay_ctx_t *cancellable = wait ? ctx : NULL;
    if (cancellable) relay__worker_wait_cv(cancellable, &b->cv);
    /* Where ranks outnumber cores, spinning steals the core the reply needs. */
    double spin_end = relay__bell_oversubscribed() ? 0 : relay__now() + SPIN_WAIT_SECONDS;
    while (!(ok = done(arg)) && !relay__g.shutting_down &&
           !(cancellable && relay__worker_cancel_bits(cancellable) & RELAY__CANCEL_TASK)) {
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
    if (cancellable) relay__worker_wait_cv(cancellable, NULL);
    if (blocked) relay__worker_unblock(ctx);
    /* A get or wait of a task (wait set): what the summary calls blocked. */
    if (ctx && wait) relay__summary_blocked(relay__now() - t0);
    if (relay__trace_active()) trace_wait(ctx, wait, t0);
    return ok;
}

void relay__req_replied(relay__req_t *q)
{
    q->replied = 1;
    if (!q->fetch) relay__batch_signal(q->batch); /* else the fetch signals */
    /* A failure ends a get_many at once, whatever else it waits for.
     * TIMEOUT answers a zero-timeout question: not ready, not failed. */
    int failed = (q->status != RELAY_OK && q->status != RELAY_ERR_TIMEOUT) ||
                 (q->status == RELAY_OK && q->obj && q->obj->status != RELAY_OK);
    if (failed && q->batch->failed++ == 0) pthread_cond_broadcast(&q->batch->cv);
}

/* A reply that cannot be read still ends its request (INTERNAL) when its
 * request id can be read: the waiter would hang otherwise. */
void relay__reply_unreadable(uint8_t type, int src, const relay__rbuf_t *r,
                             const relay__rbuf_t *whole)
{
    relay__rec_malformed(type, src, r);
    relay__rbuf_t h = *whole;
    uint64_t req_id = relay__get_u64(&h);
    relay__req_t *q = h.err ? NULL : relay__map_remove(&relay__g.reqs, req_id);
    if (!q) return;
    q->status = RELAY_ERR_INTERNAL;
    relay__req_replied(q);
}

void relay__client_on_reply(int src, relay__rbuf_t *r)
{
    relay__rbuf_t whole = *r;
    relay__rec_reply_t m;
    if (relay__rec_reply_decode(r, &m) != 0) {
        relay__reply_unreadable(RELAY__R_REPLY, src, r, &whole);
        return;
    }
    relay__req_t *q = relay__map_remove(&relay__g.reqs, m.req);
    if (!q) return;
    q->status = m.status;
    relay__req_replied(q);
}

void relay__client_on_actor_reply(int src, relay__rbuf_t *r)
{
    relay__rbuf_t whole = *r;
    relay__rec_actor_reply_t m;
    if (relay__rec_actor_reply_decode(r, &m) != 0) {
        relay__reply_unreadable(RELAY__R_ACTOR_REPLY, src, r, &whole);
        return;
    }
    relay__req_t *q = relay__map_remove(&relay__g.reqs, m.req);
    if (!q) return;
    q->status = m.status;
    q->obj_id = m.actor_id;
    q->extra = m.class_hash;
    relay__req_replied(q);
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
/* Round trips to rank 0: sync, checked retain                              */
/* ---------------------------------------------------------------------- */

static int one_done(void *arg)
{
    return ((relay__req_t *)arg)->replied;
}

static uint64_t req_begin(relay__req_t *q, relay__batch_t *b)
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
    int done = relay__wait_until(b, relay__deadline_of(timeout_s), one_done, q, NULL);
    pthread_cond_destroy(&b->cv);
    if (!done) {
        relay__map_remove(&relay__g.reqs, q->req_id);
        return relay__g.shutting_down ? RELAY_ERR_SHUTDOWN : RELAY_ERR_TIMEOUT;
    }
    return q->status;
}

void relay__req_send(uint8_t type, relay__req_encode_t encode, const void *arg, relay__req_t *q,
                     relay__batch_t *b)
{
    uint64_t req = q ? req_begin(q, b) : 0;
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(0, type, &start);
    encode(w, req, arg);
    relay__msg_end(0, w, start);
}

int relay__request(uint8_t type, relay__req_encode_t encode, const void *arg, double timeout_s,
                   relay__req_t *q)
{
    if (relay__g.shutting_down) return RELAY_ERR_SHUTDOWN;
    relay__batch_t b;
    relay__req_send(type, encode, arg, q, &b);
    return relay__req_wait(q, &b, timeout_s);
}

static void encode_req_id(relay__wbuf_t *w, uint64_t req, const void *arg)
{
    relay__rec_req_id_t m = {req, *(const uint64_t *)arg};
    relay__rec_req_id_encode(w, &m);
}

int relay__round_trip(uint8_t type, uint64_t obj_id, double timeout_s)
{
    relay__req_t q;
    return relay__request(type, encode_req_id, &obj_id, timeout_s, &q);
}

int relay_sync(double timeout_s)
{
    int rc = relay__check_on("relay_sync");
    if (rc || (rc = relay__check_timeout("relay_sync", timeout_s))) return rc;
    pthread_mutex_lock(&relay__g.lock);
    rc = relay__round_trip(RELAY__R_SYNC, 0, timeout_s);
    pthread_mutex_unlock(&relay__g.lock);
    if (rc) return relay__error(rc, "relay_sync: %s", relay_strerror(rc));
    return RELAY_OK;
}

void relay__client_init(void)
{
    if (relay__g.rank == 0) relay__dir_set_local_reply(relay__client_on_local_reply);
    relay__ctx_set_ref_check(relay__check_refs);
    relay__handler_set(RELAY__R_GET_REPLY, relay__client_on_get_reply);
    relay__handler_set(RELAY__R_REPLY, relay__client_on_reply);
    relay__handler_set(RELAY__R_ACTOR_REPLY, relay__client_on_actor_reply);
    relay__handler_set(RELAY__R_RESOURCES_REPLY, relay__client_on_resources_reply);
}
