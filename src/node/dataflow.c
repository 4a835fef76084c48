#include "dataflow.h"

#include <stdlib.h>

#include "comm.h"
#include "hashmap.h"
#include "log.h"
#include "object.h"
#include "records.h"
#include "runtime.h"
#include "worker_state.h"

/* A task's argument waiting for an object. */
typedef struct waiter {
    struct waiter *next;
    relay_ctx_t *ctx;
    uint32_t arg;
} waiter_t;

typedef struct relay__flow {
    relay__map_t live;  /* task id -> context, from arrival to free */
    relay__map_t waits; /* object id -> waiter_t list */
    uint64_t nwaiting;  /* contexts waiting */
} relay__flow_t;

static relay__flow_t *F;

int relay__flow_init(void)
{
    F = calloc(1, sizeof *F);
    if (!F) return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory");
    relay__map_init(&F->live);
    relay__map_init(&F->waits);
    relay__handler_set(RELAY__R_SUBSCRIBE, relay__flow_on_subscribe);
    relay__handler_set(RELAY__R_OBJECT, relay__flow_on_object);
    return RELAY_OK;
}

void relay__flow_destroy(void)
{
    if (!F) return;
    waiter_t *w;
    RELAY__MAP_EACH(&F->waits, w)
    {
        while (w) {
            waiter_t *next = w->next;
            free(w);
            w = next;
        }
    }
    relay__map_destroy(&F->waits);
    relay__map_destroy(&F->live);
    free(F);
    F = NULL;
}

uint64_t relay__flow_waiting(void)
{
    return F ? F->nwaiting : 0;
}

/* ---------------------------------------------------------------------- */
/* Waiting                                                                  */
/* ---------------------------------------------------------------------- */

static int wait_for(relay_ctx_t *c, uint32_t i)
{
    waiter_t *w = malloc(sizeof *w);
    if (!w) return -1;
    w->ctx = c;
    w->arg = i;
    w->next = relay__map_get(&F->waits, c->args[i].ref);
    if (relay__map_put(&F->waits, c->args[i].ref, w) != 0) {
        free(w);
        return -1;
    }
    return 0;
}

/* Remove c's waiters of object id. */
static void unwait(relay_ctx_t *c, uint64_t id)
{
    waiter_t *head = relay__map_get(&F->waits, id), **pp = &head;
    while (*pp) {
        waiter_t *w = *pp;
        if (w->ctx == c) {
            *pp = w->next;
            free(w);
        } else {
            pp = &w->next;
        }
    }
    if (head)
        relay__map_put(&F->waits, id, head); /* replaces: never allocates */
    else
        relay__map_remove(&F->waits, id);
}

static void unwait_all(relay_ctx_t *c)
{
    for (uint32_t i = 0; i < c->nargs; i++)
        if (c->args[i].pending) unwait(c, c->args[i].ref);
    if (c->waiting) F->nwaiting--;
    c->waiting = 0;
}

static void subscribe(int rank, uint64_t id, uint64_t consumer)
{
    relay__rec_subscribe_t m = {id, consumer};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(rank, RELAY__R_SUBSCRIBE, &start);
    relay__rec_subscribe_encode(w, &m);
    relay__msg_end(rank, w, start);
}

int relay__flow_arrive(relay_ctx_t *c)
{
    if (relay__map_put(&F->live, c->task_id, c) != 0) return -1;
    c->missing = 0;
    for (uint32_t i = 0; i < c->nargs; i++) {
        if (!c->args[i].pending) continue;
        if (wait_for(c, i) != 0) {
            unwait_all(c);
            relay__map_remove(&F->live, c->task_id);
            return -1;
        }
        c->missing++;
    }
    if (!c->missing) return 1;
    c->waiting = 1;
    F->nwaiting++;
    /* Subscriptions leave once every waiter is in place. A maker on this
     * rank hands its returns over itself; an unknown one, rank 0. */
    for (uint32_t i = 0; i < c->nargs; i++) {
        const relay__warg_t *a = &c->args[i];
        if (a->pending && a->producer >= 0 && a->producer != relay__g.rank)
            subscribe(a->producer, a->ref, c->task_id);
    }
    return 0;
}

void relay__flow_forget(relay_ctx_t *c)
{
    if (!F) return;
    if (relay__map_get(&F->live, c->task_id) == c) relay__map_remove(&F->live, c->task_id);
    if (c->waiting || c->missing) unwait_all(c);
}

relay_ctx_t *relay__flow_take_waiting(uint64_t task_id)
{
    relay_ctx_t *c = F ? relay__map_get(&F->live, task_id) : NULL;
    if (!c || !c->waiting) return NULL;
    unwait_all(c);
    return c;
}

relay_ctx_t *relay__flow_live(uint64_t task_id)
{
    return F ? relay__map_get(&F->live, task_id) : NULL;
}

void relay__flow_drop_waiting(void)
{
    if (!F || !F->nwaiting) return;
    relay_ctx_t **v = malloc(F->nwaiting * sizeof *v), *c;
    size_t n = 0;
    if (!v) return; /* freed at finalize */
    RELAY__MAP_EACH(&F->live, c)
    {
        if (c->waiting && n < F->nwaiting) v[n++] = c;
    }
    for (size_t i = 0; i < n; i++)
        relay__ctx_free(v[i]); /* forgets it */
    free(v);
}

/* ---------------------------------------------------------------------- */
/* Objects arriving                                                         */
/* ---------------------------------------------------------------------- */

/* Argument i of c now has its object. */
static void arrived(relay_ctx_t *c, uint32_t i)
{
    c->args[i].pending = 0;
    if (--c->missing > 0) return;
    c->waiting = 0;
    F->nwaiting--;
    relay__pool_enqueue(c);
}

/* Give object id to every task waiting for it here: the object itself
 * (obj), or what desc says of it. Appends the tasks served to
 * served (when not NULL). */
static void hand_over(uint64_t id, struct relay_object *obj, const relay__desc_t *desc,
                      relay_ctx_t *served)
{
    /* Waiters were pushed on the front: serve them in arrival order, so
     * tasks queue here in the order rank 0 sent them. */
    waiter_t *w = NULL, *rest = relay__map_remove(&F->waits, id);
    while (rest) {
        waiter_t *next = rest->next;
        rest->next = w;
        w = rest;
        rest = next;
    }
    while (w) {
        waiter_t *next = w->next;
        relay_ctx_t *c = w->ctx;
        uint32_t i = w->arg;
        free(w);
        w = next;
        relay__warg_t *a = &c->args[i];
        if (!a->pending) continue; /* an argument filled twice: cannot be, but harmless */
        int rc = obj ? ((a->obj = relay__obj_ref(obj)), 0) : relay__warg_fill(a, desc);
        if (rc != 0)
            relay__ctx_failf(c, "out of memory receiving argument %u (ref %#llx)", i,
                             (unsigned long long)id);
        if (served) {
            relay__ctx_add_delivered(served, c->task_id);
            relay__g.objects_handed_over++;
        }
        arrived(c, i);
    }
}

void relay__flow_on_object(int src, relay__rbuf_t *r)
{
    relay__rec_put_t m;
    if (relay__rec_object_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_OBJECT, src, r);
        return;
    }
    if (F) hand_over(m.id, NULL, &m.desc, NULL); /* nobody waits: a second copy */
}

/* ---------------------------------------------------------------------- */
/* Objects made here                                                        */
/* ---------------------------------------------------------------------- */

void relay__flow_on_subscribe(int src, relay__rbuf_t *r)
{
    relay__rec_subscribe_t m;
    if (relay__rec_subscribe_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_SUBSCRIBE, src, r);
        return;
    }
    relay_ctx_t *c = F ? relay__map_get(&F->live, m.id & ~(uint64_t)0xff) : NULL;
    /* Finished, not here yet, or never here: rank 0 forwards instead. */
    if (!c || c->finished || relay__id_index(m.id) >= c->nret) return;
    if (relay__ctx_add_sub(c, m.id, m.consumer, src) != 0)
        relay__log(RELAY__LOG_WARN, "out of memory recording a subscription of rank %d", src);
}

/* Describe return o of this rank for another: inline, or held here. */
static void describe(const struct relay_object *o, relay__desc_t *d)
{
    if (o->size <= relay__g.cfg.inline_max)
        relay__desc_of_obj(d, o);
    else
        relay__desc_of_remote(d, o->size, o->refs, o->nrefs, o->array, relay__g.rank);
}

/* Whether subscription k is the first of its object to its rank. */
static int first_to_rank(const relay_ctx_t *c, uint32_t k)
{
    for (uint32_t j = 0; j < k; j++)
        if (c->subs[j].id == c->subs[k].id && c->subs[j].rank == c->subs[k].rank) return 0;
    return 1;
}

int relay__flow_deliver(relay_ctx_t *c)
{
    c->finished = 1;
    if (!F) return 0;
    for (uint32_t i = 0; i < c->nret; i++)
        hand_over(c->task_id | i, c->rets[i], NULL, c);
    int remote = 0;
    for (uint32_t k = 0; k < c->nsubs; k++) {
        const relay__sub_t *s = &c->subs[k];
        relay__ctx_add_delivered(c, s->consumer);
        if (!first_to_rank(c, k)) continue;
        relay__rec_put_t m = {s->id, {0}};
        describe(c->rets[relay__id_index(s->id)], &m.desc);
        size_t start;
        relay__wbuf_t *w = relay__msg_begin(s->rank, RELAY__R_OBJECT, &start);
        relay__rec_put_encode(w, &m);
        relay__msg_end(s->rank, w, start);
        relay__g.objects_pushed++;
        remote = 1;
    }
    return remote;
}
