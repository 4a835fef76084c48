/* Large arguments held elsewhere, brought to this rank for its tasks.
 *
 * A task's argument held on another rank (or only in this rank's spill
 * file) must be here before the function runs. The transfer starts as soon
 * as the task is queued to run here, not when a worker takes it, so it
 * overlaps the task running before it; and tasks of this rank that take the
 * same object share one transfer and one copy, instead of one each (the
 * panel tile of a tiled factorization feeds every update of its row).
 *
 * An incoming object lives while a task of this rank needs it: from the
 * first task's start to the last one's use or end. Lock held for every
 * call. */
#include "arg_fetch.h"

#include <stdlib.h>

#include "batch.h"
#include "comm.h"
#include "hashmap.h"
#include "runtime.h"
#include "store.h"
#include "worker_state.h"

typedef struct relay__incoming {
    struct relay_object *obj; /* the target, then the copy the tasks share */
    relay__fetch_t *f;        /* NULL: could not start (out of memory) */
    relay__batch_t batch;     /* the transfer's completion */
    uint32_t users;           /* tasks of this rank holding it */
    int adopted;              /* obj is final (a shared spill read adopted) */
} incoming_t;

static relay__map_t incoming; /* object id -> incoming_t */

/* The transfer of argument a's object, started or joined. NULL when out
 * of memory. */
static incoming_t *join(const relay__warg_t *a)
{
    incoming_t *e = relay__map_get(&incoming, a->ref);
    if (e) {
        e->users++;
        return e;
    }
    if (!(e = calloc(1, sizeof *e))) return NULL;
    relay__batch_init(&e->batch);
    e->obj = relay__obj_ref(a->obj);
    e->users = 1;
    /* Held here but spilled: read back from the file instead. */
    e->f = a->holder == relay__g.rank && relay__store_spilled(a->ref)
               ? relay__store_restore(a->ref, e->obj, &e->batch)
               : relay__fetch_start(a->holder, e->obj, &e->batch);
    if (!e->f || relay__map_put(&incoming, a->ref, e) != 0) {
        if (e->f) relay__fetch_finish(e->f);
        relay__obj_unref(e->obj);
        pthread_cond_destroy(&e->batch.cv);
        free(e);
        return NULL;
    }
    return e;
}

/* Later tasks start a transfer of their own, not join e (it failed). */
static void forget(uint64_t id, const incoming_t *e)
{
    if (relay__map_get(&incoming, id) == e) relay__map_remove(&incoming, id);
}

/* A task is done with e: the last one frees it (abandoning a transfer in
 * flight, which the transport then finishes alone). */
static void leave(uint64_t id, incoming_t *e)
{
    if (--e->users > 0) return;
    forget(id, e);
    relay__fetch_finish(e->f);
    relay__obj_unref(e->obj);
    pthread_cond_destroy(&e->batch.cv);
    free(e);
}

void relay__argf_start(relay_ctx_t *c)
{
    if (c->fetch_started) return;
    c->fetch_started = 1;
    for (uint32_t i = 0; i < c->nargs; i++) {
        relay__warg_t *a = &c->args[i];
        if (a->holder < 0 || a->in) continue;
        a->in = join(a);
        /* Out of memory: relay__argf_wait fails the task then. Joined: its
         * own target, never filled, goes now. */
        if (a->in && a->in->obj != a->obj) {
            relay__obj_unref(a->obj);
            a->obj = relay__obj_ref(a->in->obj);
        }
    }
}

/* Argument i's object is here: give the task the shared copy. Returns
 * its status. */
static int take(relay_ctx_t *c, uint32_t i)
{
    relay__warg_t *a = &c->args[i];
    incoming_t *e = a->in;
    while (e->batch.completed < e->batch.need)
        pthread_cond_wait(&e->batch.cv, &relay__g.lock);
    int rc = e->f->status;
    if (rc == RELAY_OK) {
        if (!e->adopted) relay__fetch_adopt(e->f, &e->obj);
        e->adopted = 1;
        relay__obj_unref(a->obj);
        a->obj = relay__obj_ref(e->obj);
    } else {
        forget(a->ref, e); /* a task that comes later tries again */
        relay__ctx_failf(c, "argument %u (ref %#llx) could not be fetched from rank %d: %s", i,
                         (unsigned long long)a->ref, a->holder,
                         e->f->errmsg ? e->f->errmsg : relay_strerror(rc));
    }
    a->in = NULL;
    a->holder = -1;
    leave(a->ref, e);
    return rc;
}

int relay__argf_wait(relay_ctx_t *c)
{
    relay__argf_start(c);
    int rc = RELAY_OK;
    for (uint32_t i = 0; i < c->nargs; i++) {
        relay__warg_t *a = &c->args[i];
        if (a->holder < 0) continue;
        int got = RELAY_ERR_NO_MEMORY;
        if (a->in) {
            got = take(c, i);
        } else {
            relay__ctx_failf(c, "argument %u (ref %#llx): out of memory fetching it", i,
                             (unsigned long long)a->ref);
            a->holder = -1;
        }
        if (got != RELAY_OK && rc == RELAY_OK) rc = got;
    }
    return rc;
}

void relay__argf_drop(relay_ctx_t *c)
{
    for (uint32_t i = 0; i < c->nargs; i++) {
        relay__warg_t *a = &c->args[i];
        if (!a->in) continue;
        leave(a->ref, a->in);
        a->in = NULL;
    }
}

void relay__argf_destroy(void)
{
    /* Tasks relay_finalize abandoned may still hold theirs: they free
     * them, and a later relay_init starts with an empty table. */
    relay__map_destroy(&incoming);
}
