/* Rank 0's actor table: every actor's state, its name, its placement
 * (the body task that holds its resources), the per-caller streams that
 * keep each caller's calls in order (a caller: a task, an actor, or a
 * rank's threads outside tasks), and the calls sent to its rank. */
#include "actor_table.h"

#include <stdio.h>
#include <stdlib.h>

#include "comm.h"
#include "directory.h"
#include "log.h"
#include "registry.h"
#include "runtime.h"
#include "sched_state.h"

typedef relay__stask_t stask_t;
typedef relay__sactor_t sactor_t;

/* ====================================================================== */
/* Rank 0: the actor table                                                 */
/* ====================================================================== */

typedef struct relay__actors {
    relay__map_t by_id;   /* id -> actor, dead ones too (their calls fail) */
    relay__map_t by_name; /* name hash -> live actor */
} relay__actors_t;

static relay__actors_t *A(void)
{
    return relay__g.actors;
}

relay__map_t *relay__actor_table(void)
{
    return A() ? &A()->by_id : NULL;
}

int relay__actors_init(void)
{
    relay__actors_t *a = calloc(1, sizeof *a);
    if (!a) return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory");
    relay__map_init(&a->by_id);
    relay__map_init(&a->by_name);
    relay__g.actors = a;
    relay__handler_set(RELAY__R_KILL, relay__actor_on_kill);
    relay__handler_set(RELAY__R_LOOKUP, relay__actor_on_lookup);
    relay__handler_set(RELAY__R_ACTOR_GONE, relay__actor_on_gone);
    relay__handler_set(RELAY__R_ACTOR_CPU, relay__actor_on_cpu);
    return RELAY_OK;
}

static void streams_free(sactor_t *a)
{
    void *stream;
    RELAY__MAP_EACH(&a->streams, stream) free(stream);
    relay__map_destroy(&a->streams);
}

void relay__actors_detach(void)
{
    relay__actors_t *t = A();
    for (size_t i = 0; t && i < t->by_id.cap; i++) {
        if (!t->by_id.slots[i].key) continue;
        sactor_t *a = t->by_id.slots[i].value;
        streams_free(a); /* the calls themselves are the scheduler's tasks */
        relay__map_init(&a->streams);
        if (a->body) {
            a->body->actor = NULL;
            /* A built actor's body left the task table: it goes here. */
            if (a->built) relay__sched_free_task(a->body);
            a->body = NULL;
        }
        a->state = RELAY__ACTOR_DEAD;
    }
}

void relay__actors_destroy(void)
{
    relay__actors_t *t = A();
    if (!t) return;
    sactor_t *a;
    RELAY__MAP_EACH(&t->by_id, a)
    {
        streams_free(a);
        free(a->name);
        free(a->dead_msg);
        free(a);
    }
    relay__map_destroy(&t->by_id);
    relay__map_destroy(&t->by_name);
    free(t);
    relay__g.actors = NULL;
}

sactor_t *relay__actor_find(uint64_t id)
{
    return A() ? relay__map_get(&A()->by_id, id) : NULL;
}

static const char *class_name(const sactor_t *a)
{
    const relay__class_t *c = relay__class_lookup(a->class_hash);
    return c ? c->name : "?";
}

static sactor_t *by_name(const char *name)
{
    sactor_t *a = relay__map_get(&A()->by_name, relay__fn_hash(name));
    while (a && strcmp(a->name, name) != 0)
        a = a->next_same_name;
    return a;
}

/* Names sharing a hash chain off the map's entry. */
static int add_name(sactor_t *a)
{
    uint64_t h = relay__fn_hash(a->name);
    sactor_t *first = relay__map_get(&A()->by_name, h);
    if (relay__map_put(&A()->by_name, h, a) != 0) return -1;
    a->next_same_name = first;
    return 0;
}

int relay__actor_on_create(stask_t *t, int src, char *msg, size_t n)
{
    const char *name = t->actor_name;
    int status = RELAY_OK;
    sactor_t *a = NULL;
    if (name[0] && by_name(name)) {
        status = RELAY_ERR_EXISTS;
        snprintf(msg, n, "an actor named '%s' exists already", name);
    } else if (!(a = calloc(1, sizeof *a)) || (relay__list_init(&a->sent), 0) ||
               (name[0] && !(a->name = strdup(name))) ||
               relay__map_put(&A()->by_id, t->id, a) != 0 || (name[0] && add_name(a) != 0)) {
        relay__map_remove(&A()->by_id, t->id);
        if (a) free(a->name);
        free(a);
        status = RELAY_ERR_NO_MEMORY;
        snprintf(msg, n, "rank 0 is out of memory for actor %#llx", (unsigned long long)t->id);
    }
    if (t->req) relay__post_reply(src, t->req, status);
    if (status) return status;
    a->id = t->id;
    a->class_hash = t->fn_hash;
    a->max_conc = t->max_conc ? t->max_conc : 1;
    a->state = RELAY__ACTOR_PENDING;
    a->rank = -1;
    a->body = t;
    relay__map_init(&a->streams);
    t->actor = a;
    return RELAY_OK;
}

static void forget_name(sactor_t *a)
{
    if (!a->name) return;
    uint64_t h = relay__fn_hash(a->name);
    sactor_t *first = relay__map_get(&A()->by_name, h);
    if (first == a) {
        if (a->next_same_name)
            relay__map_put(&A()->by_name, h, a->next_same_name); /* replaces: no memory */
        else
            relay__map_remove(&A()->by_name, h);
    } else {
        for (sactor_t *p = first; p; p = p->next_same_name)
            if (p->next_same_name == a) p->next_same_name = a->next_same_name;
    }
    a->next_same_name = NULL;
    free(a->name);
    a->name = NULL;
}

/* The call of s to send or fail now, or NULL: the first, unless it waits
 * (for its arguments, or for the actor to be placed: later calls wait
 * behind it); on a dead actor the first whose arguments are in (the others
 * fail when theirs come). */
static stask_t *next_call(const sactor_t *a, relay__stream_t *s)
{
    int dead = a->state == RELAY__ACTOR_DEAD;
    stask_t *t;
    RELAY__LIST_EACH(&s->calls, t, stask_t, link)
    {
        if (t->missing == 0 && (dead || t->fail_status || a->rank >= 0)) return t;
        if (!dead) return NULL;
    }
    return NULL;
}

/* Send the calls of s that can go, in order; on a dead actor fail every
 * call whose arguments are in. Failing a call can make another one of a
 * ready and pump again, on this stream or another, from inside: so the
 * next call is looked up afresh each time, and no stream of a is freed
 * while a pump of a runs (tidy). */
static void pump(sactor_t *a, relay__stream_t *s)
{
    relay__sched_t *S = relay__sched_state();
    stask_t *t;
    a->pumping++;
    while ((t = next_call(a, s))) {
        relay__list_remove(&t->link);
        if (a->state == RELAY__ACTOR_DEAD || t->fail_status) {
            relay__sched_task_fail(t, t->fail_status ? t->fail_status : a->dead_status,
                                   t->fail_msg ? t->fail_msg : a->dead_msg);
            continue;
        }
        if (S->shutting_down) {
            continue; /* nobody runs it any more; the task stays for finalize to free */
        }
        t->rank = a->rank;
        S->running++;
        relay__list_push_back(&a->sent, &t->sent);
        relay__sched_send(t, a->rank);
    }
    a->pumping--;
}

/* Free every stream of a that has no call left. */
/* The stream of a rank's threads outside tasks (see stream_key) is kept
 * while the actor lives, at most one per rank, so that a driver calling
 * in a loop does not make and free one per call. */
static int keep_stream(const sactor_t *a, uint64_t key)
{
    return (key & 0xff) == 1 && a->state != RELAY__ACTOR_DEAD;
}

static void sweep(sactor_t *a)
{
    relay__map_t *m = &a->streams;
    uint64_t *keys = malloc((m->count ? m->count : 1) * sizeof *keys);
    if (!keys) return; /* they stay until the table goes */
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++) {
        relay__stream_t *st = m->slots[i].value;
        uint64_t key = m->slots[i].key;
        if (key && !keep_stream(a, key) && relay__list_empty(&st->calls)) keys[n++] = key;
    }
    for (size_t i = 0; i < n; i++)
        free(relay__map_remove(m, keys[i]));
    free(keys);
    a->untidy = 0;
}

/* A caller per task: a task's or an actor's stream goes once it has
 * nothing left to send: key's now, unless a pump of a runs (it holds on to
 * its stream and may be walking them all); then every one emptied
 * meanwhile, once none runs. A rank's stream stays while a lives. */
static void tidy(sactor_t *a, uint64_t key)
{
    if (a->pumping > 0) {
        a->untidy = 1;
        return;
    }
    relay__stream_t *s = relay__map_get(&a->streams, key);
    if (s && !keep_stream(a, key) && relay__list_empty(&s->calls))
        free(relay__map_remove(&a->streams, key));
    if (a->untidy) sweep(a);
}

void relay__actor_call_left(stask_t *t)
{
    sactor_t *a = t->actor;
    if (a) relay__list_remove(&t->sent);
}

static void pump_all(sactor_t *a)
{
    relay__stream_t *st;
    a->pumping++; /* the walk needs the map unchanged */
    RELAY__MAP_EACH(&a->streams, st) pump(a, st);
    a->pumping--;
    a->untidy = 1;
    if (a->pumping == 0) sweep(a);
}

/* The actor is dead: its name goes, its waiting calls fail. */
static void set_dead(sactor_t *a, int status, const char *msg)
{
    a->state = RELAY__ACTOR_DEAD;
    a->dead_status = status;
    free(a->dead_msg);
    a->dead_msg = strdup(msg);
    forget_name(a);
    pump_all(a);
}

void relay__actor_placed(stask_t *body)
{
    sactor_t *a = body->actor;
    a->rank = body->rank;
    pump_all(a);
}

int relay__actor_built(stask_t *body, int status, const char *msg)
{
    sactor_t *a = body->actor;
    if (status == RELAY_OK) {
        if (a->state == RELAY__ACTOR_PENDING) a->state = RELAY__ACTOR_ALIVE;
        /* Its task is done; the actor keeps the resources until it is gone,
         * but not its constructor's arguments. */
        relay__map_remove(&relay__sched_state()->tasks, body->id);
        relay__sched_unpin(body);
        a->built = 1;
        /* Ray's default actor: its CPU placed it; it holds none from now
         * on (its rank gave it back to its pool too). The DONE's handler
         * dispatches onto it. */
        if (!body->keeps_cpu) {
            relay__sched_state()->acct[body->rank].cpu_used -= body->cpu_held;
            body->cpu_held = 0;
        }
        return 1;
    }
    if (a->state != RELAY__ACTOR_DEAD) {
        char why[1100];
        snprintf(why, sizeof why, "actor '%s' (%#llx) is dead: its constructor failed: %s",
                 class_name(a), (unsigned long long)a->id, msg);
        set_dead(a, RELAY_ERR_ACTOR_DEAD, why);
    }
    return 0;
}

void relay__actor_body_freed(stask_t *body)
{
    sactor_t *a = body->actor;
    if (!a || a->body != body) return;
    a->body = NULL;
    if (a->state != RELAY__ACTOR_DEAD) {
        char why[512];
        snprintf(why, sizeof why, "actor '%s' (%#llx) is dead: it was never built", class_name(a),
                 (unsigned long long)a->id);
        set_dead(a, RELAY_ERR_ACTOR_DEAD, why);
    }
}

/* The stream of t's caller: a task (or an actor) by its id, the rest of
 * a rank (its threads outside tasks) by the rank. Ids have return index
 * 0, so a rank's key, with index 1, is never one. */
static uint64_t stream_key(const stask_t *t)
{
    return t->caller ? t->caller : (uint64_t)t->submitter << 8 | 1;
}

int relay__actor_on_call(stask_t *t, char *msg, size_t n)
{
    sactor_t *a = relay__actor_find(t->actor_id);
    if (!a) {
        snprintf(msg, n, "method '%s' was not run: actor %#llx is unknown (never created)", t->fn,
                 (unsigned long long)t->actor_id);
        return RELAY_ERR_INVALID_REF;
    }
    if (a->class_hash != t->class_hash) {
        snprintf(msg, n, "method '%s' was not run: the handle of actor %#llx names another class",
                 t->fn, (unsigned long long)t->actor_id);
        return RELAY_ERR_INVALID_ARG;
    }
    if (a->state == RELAY__ACTOR_DEAD) {
        snprintf(msg, n, "%s", a->dead_msg);
        return a->dead_status;
    }
    uint64_t key = stream_key(t);
    relay__stream_t *s = relay__map_get(&a->streams, key);
    if (!s && (!(s = calloc(1, sizeof *s)) ||
               (relay__list_init(&s->calls), relay__map_put(&a->streams, key, s) != 0))) {
        free(s);
        snprintf(msg, n, "rank 0 is out of memory for a call to actor %#llx",
                 (unsigned long long)a->id);
        return RELAY_ERR_NO_MEMORY;
    }
    t->actor = a;
    relay__list_push_back(&s->calls, &t->link);
    return RELAY_OK;
}

/* Pump the stream under key, if any, and tidy. */
static void pump_key(sactor_t *a, uint64_t key)
{
    relay__stream_t *s = relay__map_get(&a->streams, key);
    if (s) pump(a, s);
    tidy(a, key);
}

void relay__actor_call_ready(stask_t *t)
{
    pump_key(t->actor, stream_key(t)); /* t may be freed meanwhile */
}

void relay__actor_call_dropped(stask_t *t, int status, const char *msg)
{
    sactor_t *a = t->actor;
    uint64_t key = stream_key(t);
    relay__list_remove(&t->link);
    relay__sched_task_fail(t, status, msg);
    /* It may have been the head that held back the caller's next calls. */
    if (a) pump_key(a, key);
}

/* ---------------------------------------------------------------------- */
/* Handlers                                                                 */
/* ---------------------------------------------------------------------- */

void relay__actor_on_kill(int src, relay__rbuf_t *r)
{
    relay__rec_req_id_t m;
    if (relay__rec_kill_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_KILL, src, r);
        return;
    }
    sactor_t *a = relay__actor_find(m.id);
    relay__post_reply(src, m.req, a ? RELAY_OK : RELAY_ERR_INVALID_REF);
    if (!a || a->state == RELAY__ACTOR_DEAD) return;
    char why[512];
    snprintf(why, sizeof why, "actor '%s' (%#llx) is dead: it was killed by rank %d", class_name(a),
             (unsigned long long)a->id, src);
    int placed = a->rank >= 0;
    a->killed = 1;
    set_dead(a, RELAY_ERR_ACTOR_DEAD, why);
    if (placed) {
        /* Its rank fails what it has queued, then runs the destructor. */
        relay__rec_actor_kill_t k = {a->id, RELAY_ERR_ACTOR_DEAD, why};
        size_t start;
        relay__wbuf_t *w = relay__msg_begin(a->rank, RELAY__R_ACTOR_KILL, &start);
        relay__rec_actor_kill_encode(w, &k);
        relay__msg_end(a->rank, w, start);
    } else if (a->body) {
        /* Not placed yet: its constructor never runs. */
        stask_t *body = a->body;
        if (body->missing == 0) {
            relay__sched_fail_ready(body, RELAY_ERR_ACTOR_DEAD, why);
        } else if (!body->fail_status) {
            body->fail_status = RELAY_ERR_ACTOR_DEAD;
            body->fail_msg = strdup(why);
        }
    }
}

void relay__actor_on_lookup(int src, relay__rbuf_t *r)
{
    relay__rec_lookup_t l;
    if (relay__rec_lookup_decode(r, &l) != 0) {
        relay__rec_malformed(RELAY__R_LOOKUP, src, r);
        return;
    }
    sactor_t *a = by_name(l.name);
    relay__rec_actor_reply_t m = {l.req, a ? RELAY_OK : RELAY_ERR_NOT_FOUND, a ? a->id : 0,
                                  a ? a->class_hash : 0};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(src, RELAY__R_ACTOR_REPLY, &start);
    relay__rec_actor_reply_encode(w, &m);
    relay__msg_end(src, w, start);
}

void relay__actor_on_cpu(int src, relay__rbuf_t *r)
{
    relay__rec_actor_cpu_t m;
    if (relay__rec_actor_cpu_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_ACTOR_CPU, src, r);
        return;
    }
    uint64_t id = m.actor_id;
    int64_t delta = m.delta;
    sactor_t *a = relay__actor_find(id);
    stask_t *body = a ? a->body : NULL;
    int64_t life = body && body->keeps_cpu ? body->shape->d.cpu : 0;
    if (!body || a->rank != src || body->cpu_held + delta < 0 || body->cpu_held + delta > life) {
        if (!relay__sched_state()->shutting_down)
            relay__log(RELAY__LOG_WARN, "rank %d moved CPUs of actor %#llx it does not hold", src,
                       (unsigned long long)id);
        return;
    }
    body->cpu_held += delta;
    relay__sched_state()->acct[src].cpu_used += delta;
    if (delta < 0) relay__sched_dispatch(); /* CPUs to run tasks on */
}

void relay__actor_on_gone(int src, relay__rbuf_t *r)
{
    relay__rec_actor_gone_t m;
    if (relay__rec_actor_gone_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_ACTOR_GONE, src, r);
        return;
    }
    sactor_t *a = relay__actor_find(m.actor_id);
    if (!a || !a->body || a->rank != src) return;
    stask_t *body = a->body;
    /* Dead first: retiring the body would otherwise call it never built. */
    if (a->state != RELAY__ACTOR_DEAD) {
        char why[512];
        snprintf(why, sizeof why, "actor '%s' (%#llx) is dead: rank %d shut it down", class_name(a),
                 (unsigned long long)a->id, src);
        set_dead(a, RELAY_ERR_ACTOR_DEAD, why);
    }
    relay__sched_unreserve(body, 0);
    relay__sched_retire(body);
    relay__sched_dispatch(); /* its resources are free again */
}

/* The actor's rank was lost: it dies with the reason, the calls sent
 * there fail with it, and its body gives its resources back. */
static void actor_lost(sactor_t *a, const char *lost)
{
    if (a->state != RELAY__ACTOR_DEAD) {
        char why[1100];
        snprintf(why, sizeof why, "actor '%s' (%#llx) is dead: %s", class_name(a),
                 (unsigned long long)a->id, lost);
        set_dead(a, RELAY_ERR_ACTOR_DEAD, why);
    }
    relay__list_t *n;
    while ((n = relay__list_first(&a->sent))) {
        stask_t *t = RELAY__LIST_ENTRY(n, stask_t, sent);
        relay__sched_unreserve(t, 1); /* off the sent list */
        relay__sched_task_fail(t, RELAY_ERR_ACTOR_DEAD, a->dead_msg);
    }
    stask_t *body = a->body;
    if (!body) return;
    if (a->built) {
        relay__sched_unreserve(body, 0);
        relay__sched_retire(body);
    } else if (body->rank >= 0) {
        relay__sched_unreserve(body, 1);
        relay__sched_task_fail(body, RELAY_ERR_ACTOR_DEAD, a->dead_msg);
    }
}

void relay__actor_rank_lost(int rank, const char *lost)
{
    relay__map_t *m = &A()->by_id;
    uint64_t *ids = malloc((m->count ? m->count : 1) * sizeof *ids);
    if (!ids) {
        relay__log(RELAY__LOG_ERROR, "out of memory handling a lost rank");
        abort();
    }
    size_t n = 0;
    sactor_t *a;
    RELAY__MAP_EACH(m, a)
    if (a->rank == rank && a->body) ids[n++] = a->id;
    for (size_t i = 0; i < n; i++)
        if ((a = relay__actor_find(ids[i])) && a->rank == rank) actor_lost(a, lost);
    free(ids);
}
