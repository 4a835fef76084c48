#include "scheduler.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "directory.h"
#include "hashmap.h"
#include "log.h"
#include "object.h"
#include "runtime.h"

typedef struct sarg {
    uint8_t kind;
    uint64_t ref;
    const void *val; /* inside the task's value block */
    size_t size;
} sarg_t;

typedef struct relay__stask {
    uint64_t id, fn_hash;
    char *fn, *name;
    uint32_t nret, retries_left, attempt, nargs;
    int submitter;
    int rank; /* running there, or -1 */
    int missing;
    int pinned;      /* its ref arguments are pinned in the directory */
    int fail_status; /* a dependency failed: the task will not run */
    char *fail_msg;
    sarg_t *args;
    void *values;
    struct relay__stask *next;
} relay__stask_t;

typedef struct relay__sched {
    relay__map_t tasks;
    relay__stask_t *ready_head, *ready_tail;
    int *capacity, *busy;
    double avg_run_seconds; /* moving average of tasks' run times */
    uint64_t running;       /* dispatched, not finished */
    int shutting_down, acks;
} relay__sched_t;

static relay__sched_t *S(void)
{
    return relay__g.sched;
}

/* Tasks a rank may hold beyond its CPU slots, queued there so the next one
 * is at hand when a slot frees instead of a round trip later: enough for
 * about QUEUE_SECONDS of work at the recent average run time. Short tasks
 * get a deep queue (throughput), long ones almost none (balance). The
 * worker still runs at most one task per slot. */
#define QUEUE_SECONDS 200e-6
#define QUEUE_MAX 512

static int window(int capacity)
{
    if (!capacity) return 0;
    double extra = capacity * QUEUE_SECONDS / S()->avg_run_seconds;
    return capacity + (extra < 1 ? 1 : extra > QUEUE_MAX ? QUEUE_MAX : (int)extra);
}

int relay__sched_init(const int *capacity)
{
    relay__sched_t *s = calloc(1, sizeof *s);
    int n = relay__g.size;
    if (s) {
        s->capacity = malloc((size_t)n * sizeof(int));
        s->busy = calloc((size_t)n, sizeof(int));
    }
    if (!s || !s->capacity || !s->busy) {
        if (s) {
            free(s->capacity);
            free(s->busy);
        }
        free(s);
        return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory");
    }
    memcpy(s->capacity, capacity, (size_t)n * sizeof(int));
    s->avg_run_seconds = 1e-3; /* until tasks tell: assume they are not tiny */
    relay__map_init(&s->tasks);
    relay__g.sched = s;
    return RELAY_OK;
}

static void task_free(relay__stask_t *t)
{
    free(t->fail_msg);
    free(t); /* names, arguments and values share its allocation */
}

void relay__sched_destroy(void)
{
    relay__sched_t *s = S();
    if (!s) return;
    for (size_t i = 0; i < s->tasks.cap; i++)
        if (s->tasks.slots[i].key) task_free(s->tasks.slots[i].value);
    relay__map_destroy(&s->tasks);
    free(s->capacity);
    free(s->busy);
    free(s);
    relay__g.sched = NULL;
}

uint64_t relay__sched_running(void)
{
    return S() ? S()->running : 0;
}

uint64_t relay__sched_pending(void)
{
    return S() ? S()->tasks.count : 0;
}

/* ---------------------------------------------------------------------- */
/* Placement and dispatch                                                   */
/* ---------------------------------------------------------------------- */

/* The rank for t: the holder of its largest remote argument if that rank
 * has a free slot, else the least busy rank with one. -1 when every slot is
 * taken. */
static int pick_rank(const relay__stask_t *t)
{
    relay__sched_t *s = S();
    int best = -1;
    uint64_t best_size = 0;
    for (uint32_t i = 0; i < t->nargs; i++) {
        if (t->args[i].kind != RELAY_ARG_REF) continue;
        relay__dentry_t *e = relay__dir_lookup(t->args[i].ref);
        if (e && !e->obj && e->size > best_size &&
            s->busy[e->holder_rank] < window(s->capacity[e->holder_rank])) {
            best = e->holder_rank;
            best_size = e->size;
        }
    }
    if (best >= 0) return best;
    /* Least busy first; among equals the lowest rank, so a trickle of tasks
     * keeps going to the same warm rank and idle ranks stay asleep. */
    double best_load = DBL_MAX;
    for (int r = 0; r < relay__g.size; r++) {
        if (s->busy[r] >= window(s->capacity[r])) continue;
        double load = (double)s->busy[r] / s->capacity[r];
        if (load < best_load) {
            best_load = load;
            best = r;
        }
    }
    return best;
}

static void send_task(relay__stask_t *t, int rank)
{
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(rank, RELAY__R_TASK, &start);
    relay__put_u64(w, t->id);
    relay__put_u64(w, t->fn_hash);
    relay__put_str(w, t->fn);
    relay__put_str(w, t->name);
    relay__put_u32(w, t->nret);
    relay__put_u32(w, t->attempt);
    relay__put_u32(w, t->nargs);
    for (uint32_t i = 0; i < t->nargs; i++) {
        relay__put_u8(w, t->args[i].kind);
        if (t->args[i].kind == RELAY_ARG_VALUE) {
            relay__put_blob(w, t->args[i].val, t->args[i].size);
        } else {
            relay__put_u64(w, t->args[i].ref);
            relay__dir_put_desc(w, relay__dir_lookup(t->args[i].ref));
        }
    }
    relay__msg_end(rank, w, start);
}

static void dispatch(void)
{
    relay__sched_t *s = S();
    while (s->ready_head && !s->shutting_down) {
        relay__stask_t *t = s->ready_head;
        int rank = pick_rank(t);
        if (rank < 0) return;
        s->ready_head = t->next;
        if (!s->ready_head) s->ready_tail = NULL;
        t->next = NULL;
        t->rank = rank;
        s->busy[rank]++;
        s->running++;
        send_task(t, rank);
    }
}

static void make_ready(relay__stask_t *t)
{
    relay__sched_t *s = S();
    t->next = NULL;
    if (s->ready_tail)
        s->ready_tail->next = t;
    else
        s->ready_head = t;
    s->ready_tail = t;
}

/* ---------------------------------------------------------------------- */
/* Finishing tasks                                                          */
/* ---------------------------------------------------------------------- */

/* Drop t: its arguments are no longer pinned. */
static void task_retire(relay__stask_t *t)
{
    relay__map_remove(&S()->tasks, t->id);
    for (uint32_t i = 0; t->pinned && i < t->nargs; i++) {
        if (t->args[i].kind != RELAY_ARG_REF) continue;
        relay__dentry_t *e = relay__dir_lookup(t->args[i].ref);
        if (!e) continue;
        e->pins--;
        relay__dir_maybe_free(e);
    }
    task_free(t);
}

/* Every return of t becomes an error object. */
static void task_fail(relay__stask_t *t, int status, const char *msg)
{
    struct relay_object *err = relay__obj_new_error(0, status, msg);
    if (!err) abort();
    for (uint32_t i = 0; i < t->nret; i++) {
        relay__dentry_t *e = relay__dir_lookup(t->id | i);
        if (e && !e->ready) relay__dir_set_ready(e, err, -1, 0, NULL, 0);
    }
    relay__obj_unref(err);
    task_retire(t);
}

void relay__sched_dep_ready(relay__stask_t *t, relay__dentry_t *e)
{
    if (e->obj && e->obj->status != RELAY_OK && !t->fail_status) {
        char msg[1024];
        snprintf(msg, sizeof msg, "task '%s' was not run: its argument %#llx failed: %s", t->name,
                 (unsigned long long)e->id, e->obj->errmsg);
        t->fail_status = RELAY_ERR_TASK_FAILED;
        t->fail_msg = strdup(msg);
    }
    if (--t->missing > 0) return;
    if (t->fail_status) {
        task_fail(t, t->fail_status, t->fail_msg ? t->fail_msg : "a dependency failed");
        return;
    }
    make_ready(t);
    dispatch();
}

/* ---------------------------------------------------------------------- */
/* Handlers                                                                 */
/* ---------------------------------------------------------------------- */

/* Parse a SUBMIT record into a task; NULL if malformed or out of memory. */
/* Parse a SUBMIT record into a task; NULL if malformed or out of memory.
 * One allocation holds the task, its argument table, its names and the
 * argument values (the rest of the record, copied once). */
static relay__stask_t *parse_submit(int src, relay__rbuf_t *r)
{
    uint64_t id = relay__get_u64(r), fn_hash = relay__get_u64(r);
    const char *fn = relay__get_str(r), *name = relay__get_str(r);
    uint32_t nret = relay__get_u32(r), retries = relay__get_u32(r), nargs = relay__get_u32(r);
    size_t rest = (size_t)(r->end - r->p), fn_len = strlen(fn) + 1, name_len = strlen(name) + 1;
    if (r->err || nargs > RELAY_MAX_ARGS) return NULL;
    relay__stask_t *t = calloc(1, sizeof *t + nargs * sizeof(sarg_t) + fn_len + name_len + rest);
    if (!t) return NULL;
    t->args = (sarg_t *)(t + 1);
    t->fn = (char *)(t->args + nargs);
    t->name = t->fn + fn_len;
    t->values = t->name + name_len;
    memcpy(t->fn, fn, fn_len);
    memcpy(t->name, name, name_len);
    memcpy(t->values, r->p, rest);
    t->id = id;
    t->fn_hash = fn_hash;
    t->nret = nret;
    t->retries_left = retries;
    t->nargs = nargs;
    t->submitter = src;
    t->rank = -1;
    relay__rbuf_t v;
    relay__rbuf_init(&v, t->values, rest);
    for (uint32_t i = 0; i < t->nargs; i++) {
        t->args[i].kind = relay__get_u8(&v);
        if (t->args[i].kind == RELAY_ARG_VALUE)
            t->args[i].val = relay__get_blob(&v, &t->args[i].size);
        else
            t->args[i].ref = relay__get_u64(&v);
    }
    if (v.err) {
        task_free(t);
        return NULL;
    }
    return t;
}

void relay__sched_on_submit(int src, relay__rbuf_t *r)
{
    relay__sched_t *s = S();
    relay__stask_t *t = parse_submit(src, r);
    if (!t) {
        relay__log(RELAY__LOG_ERROR, "malformed or unallocatable task from rank %d", src);
        return;
    }
    if (relay__map_put(&s->tasks, t->id, t) != 0) abort();
    for (uint32_t i = 0; i < t->nret; i++)
        if (!relay__dir_add_pending(t->id | i)) abort();
    /* An unknown ref argument fails the task before anything is pinned. */
    for (uint32_t i = 0; i < t->nargs; i++) {
        if (t->args[i].kind == RELAY_ARG_REF && !relay__dir_lookup(t->args[i].ref)) {
            char msg[512];
            snprintf(msg, sizeof msg,
                     "task '%s' was not run: argument %u is ref %#llx, unknown or already "
                     "released",
                     t->name, i, (unsigned long long)t->args[i].ref);
            task_fail(t, RELAY_ERR_INVALID_REF, msg);
            return;
        }
    }
    t->missing = 1; /* held until every argument is looked at */
    t->pinned = 1;
    for (uint32_t i = 0; i < t->nargs; i++) {
        if (t->args[i].kind != RELAY_ARG_REF) continue;
        relay__dentry_t *e = relay__dir_lookup(t->args[i].ref);
        e->pins++;
        if (e->ready) {
            if (e->obj && e->obj->status != RELAY_OK) {
                t->missing++;
                relay__sched_dep_ready(t, e);
            }
        } else {
            if (relay__dir_add_dep(e, t) != 0) abort();
            t->missing++;
        }
    }
    relay__dentry_t none = {0};
    relay__sched_dep_ready(t, &none);
}

/* Parse one return of a DONE record and make its entry ready. */
static void record_return(int src, relay__rbuf_t *r, uint64_t id)
{
    relay__desc_t d;
    relay__desc_get(r, &d);
    relay__dentry_t *e = id ? relay__dir_lookup(id) : NULL;
    if (r->err || !e || e->ready) return;
    if (!d.is_inline) {
        uint64_t small[16], *refs = d.nrefs <= 16 ? small : malloc(d.nrefs * sizeof *refs);
        if (!refs) abort();
        for (uint32_t i = 0; i < d.nrefs; i++)
            refs[i] = relay__desc_ref(&d, i);
        relay__dir_set_ready(e, NULL, src, d.size, refs, d.nrefs);
        if (refs != small) free(refs);
        return;
    }
    struct relay_object *o = relay__obj_from_desc(id, &d);
    if (!o) o = relay__dir_oom_object(id, d.size);
    relay__dir_set_ready(e, o, -1, 0, NULL, 0);
    relay__obj_unref(o);
}

void relay__sched_on_done(int src, relay__rbuf_t *r)
{
    relay__sched_t *s = S();
    uint64_t id = relay__get_u64(r);
    int status = (int)relay__get_u32(r);
    double run = relay__get_u64(r) * 1e-9;
    s->avg_run_seconds += (run + 1e-7 - s->avg_run_seconds) / 16;
    const char *msg = relay__get_str(r);
    uint32_t nret = relay__get_u32(r);
    relay__stask_t *t = relay__map_get(&s->tasks, id);
    int known = t && t->rank == src;
    if (known) {
        s->busy[src]--;
        s->running--;
        t->rank = -1;
    } else if (!s->shutting_down) {
        relay__log(RELAY__LOG_WARN, "rank %d finished unknown task %#llx", src,
                   (unsigned long long)id);
    }
    /* Returns are recorded before the task's own releases: they may contain
     * the refs it released. A failed task encodes no returns. */
    for (uint32_t i = 0; i < nret; i++)
        record_return(src, r, known ? id | i : 0);
    if (known && status != RELAY_OK && t->retries_left > 0) {
        t->retries_left--;
        t->attempt++;
        relay__log(RELAY__LOG_INFO, "retrying: %s", msg);
        make_ready(t);
    } else if (known && status != RELAY_OK) {
        task_fail(t, status, msg);
    } else if (known) {
        task_retire(t);
    }
    uint32_t nrel = relay__get_u32(r);
    for (uint32_t i = 0; i < nrel && !r->err; i++) {
        relay__dentry_t *e = relay__dir_lookup(relay__get_u64(r));
        if (!e || e->holders <= 0) continue;
        e->holders--;
        relay__dir_maybe_free(e);
    }
    dispatch();
}

void relay__sched_on_cpu(int src, relay__rbuf_t *r)
{
    int delta = (int)relay__get_u32(r);
    S()->busy[src] += delta;
    dispatch();
}

void relay__sched_on_sync(int src, relay__rbuf_t *r)
{
    uint64_t req = relay__get_u64(r);
    relay__post_reply(src, req, RELAY_OK);
}

void relay__sched_shutdown(void)
{
    relay__sched_t *s = S();
    s->shutting_down = 1;
    for (int k = 0; k < relay__g.size; k++) {
        size_t start;
        relay__wbuf_t *w = relay__msg_begin(k, RELAY__R_SHUTDOWN, &start);
        relay__msg_end(k, w, start);
    }
}

void relay__sched_on_shutdown_ack(int src, relay__rbuf_t *r)
{
    (void)src;
    (void)r;
    relay__sched_t *s = S();
    if (++s->acks < relay__g.size) return;
    for (int k = 0; k < relay__g.size; k++) {
        size_t start;
        relay__wbuf_t *w = relay__msg_begin(k, RELAY__R_EXIT, &start);
        relay__msg_end(k, w, start);
    }
}
