/* Deadlock detection on rank 0.
 *
 * Every task in the scheduler is either known to make progress or not yet.
 * Starting from none known, a task is added when:
 * - it is blocked in a wait that is answered whatever happens (a zero
 *   timeout, a sync), or at least k of the objects it waits for are ready
 *   or made by tasks known to progress, and the CPUs it gave back can come
 *   back to it (a wait with a timeout counts as blocked: the deadlock is
 *   reported rather than left to the timeout);
 * - its rank was asked to cancel it (its resources come back either way);
 * - it was dispatched and is not blocked, its CPUs are not kept by blocked
 *   tasks not known to progress, and a thread will take it: not every
 *   worker thread of the rank is blocked, or one of the blocked ones
 *   progresses (it runs, or will once a CPU and a thread free);
 * - it waits to be dispatched, every argument it misses is made by a task
 *   known to progress, and some rank could give it what it asks for once
 *   every task known to progress has given back what it holds.
 * An actor's constructor task (its body) holds the actor's GPUs and custom
 * resources for its life (its CPUs go back while all its methods wait);
 * it counts as progressing unless a method it runs is blocked and stuck.
 * Of the calls sent to an actor, the first max_concurrency run; the others
 * wait in its mailbox and progress once one that runs does. Methods run on
 * their actor's threads, not the pool's.
 * Repeat until nothing is added. What is left can never run. Among it,
 * only tasks that a stuck blocked task waits for (directly, or through
 * makers of what they miss) are failed: others are merely queued behind. */
#include "deadlock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"
#include "log.h"
#include "runtime.h"
#include "sched_state.h"

typedef relay__stask_t stask_t;

/* What tasks not known to progress hold on one rank. */
typedef struct held {
    int64_t cpu_kept;  /* by blocked tasks (given back ones hold none) */
    int64_t *gpu;      /* [ngpu] */
    int64_t *custom;   /* [ncustom] */
    int blocked;       /* blocked tasks (each holds a worker thread) */
    int blocked_stuck; /* of those, not known to progress */
} held_t;

typedef struct check {
    stask_t **tasks;
    size_t n;
    held_t *held; /* [rank] */
    int64_t *pool;
} check_t;

static int is_body(const stask_t *t)
{
    return t->kind == RELAY__KIND_ACTOR && t->actor && t->actor->built;
}

static void hold(check_t *c, const stask_t *t, int sign)
{
    held_t *h = &c->held[t->rank];
    if (t->kind == RELAY__KIND_METHOD) return; /* its actor's body holds */
    if (t->blocked) {
        h->cpu_kept += sign * t->cpu_held;
        h->blocked_stuck += sign;
    }
    for (uint32_t g = 0; g < t->ngpu; g++)
        h->gpu[t->gpus[g].dev] += sign * t->gpus[g].units;
    const relay__demand_t *d = &t->shape->d;
    for (uint32_t i = 0; i < d->ncustom; i++)
        h->custom[d->custom[i].idx] += sign * d->custom[i].units;
}

static int by_arrival(const void *a, const void *b)
{
    uint64_t x = (*(stask_t *const *)a)->seq, y = (*(stask_t *const *)b)->seq;
    return (x > y) - (x < y);
}

static int check_init(check_t *c)
{
    relay__sched_t *s = relay__sched_state();
    const relay__cluster_t *cl = relay__cluster();
    size_t per = cl->ncustom, total = 0;
    for (int r = 0; r < cl->nranks; r++)
        total += per + (size_t)cl->ngpu[r];
    memset(c, 0, sizeof *c);
    relay__map_t *actors = relay__actor_table();
    size_t nact = actors ? actors->count : 0;
    relay__map_t none = {0};
    if (!actors) actors = &none;
    relay__sactor_t *a;
    RELAY__MAP_EACH(actors, a)
    {
        a->stuck_blocked = a->running_moving = 0;
        /* Its rank starts calls in the order sent: the first ones run. */
        uint32_t k = 0;
        stask_t *t;
        RELAY__LIST_EACH(&a->sent, t, stask_t, sent) t->runs = k++ < a->max_conc;
    }
    c->tasks = malloc((s->tasks.count + nact + 1) * sizeof *c->tasks);
    c->held = calloc((size_t)cl->nranks, sizeof *c->held);
    c->pool = calloc(total ? total : 1, sizeof *c->pool);
    if (!c->tasks || !c->held || !c->pool) return -1;
    int64_t *p = c->pool;
    for (int r = 0; r < cl->nranks; r++) {
        c->held[r].gpu = p;
        p += cl->ngpu[r];
        c->held[r].custom = p;
        p += per;
    }
    stask_t *t;
    RELAY__MAP_EACH(&s->tasks, t)
    {
        t->progress = t->wanted = 0;
        if (t->kind == RELAY__KIND_METHOD && t->rank < 0) t->runs = 0; /* not sent yet */
        c->tasks[c->n++] = t;
        if (t->rank >= 0) hold(c, t, +1);
        if (t->rank >= 0 && t->blocked && t->kind != RELAY__KIND_METHOD) c->held[t->rank].blocked++;
        if (t->kind == RELAY__KIND_METHOD && t->blocked && t->runs && t->actor)
            t->actor->stuck_blocked++;
    }
    /* Built actors' bodies are out of the task table but hold resources. */
    RELAY__MAP_EACH(actors, a)
    {
        if (!a->body || !a->built) continue;
        a->body->progress = a->body->wanted = 0;
        c->tasks[c->n++] = a->body;
        hold(c, a->body, +1);
    }
    /* In arrival order, a task comes after the makers of its arguments, so
     * one sweep of solve settles a chain (the map's order would take a
     * sweep per link or two). */
    qsort(c->tasks, c->n, sizeof *c->tasks, by_arrival);
    return 0;
}

static void check_free(check_t *c)
{
    free(c->tasks);
    free(c->held);
    free(c->pool);
}

/* Whether object id is ready, or will be. */
static int answerable(uint64_t id)
{
    relay__dentry_t *e = relay__dir_lookup(id);
    if (!e || e->ready) return 1; /* unknown ids are answered too (an error) */
    stask_t *maker = relay__map_get(&relay__sched_state()->tasks, id & ~(uint64_t)0xff);
    return !maker || maker->progress;
}

static int thread_comes(const check_t *c, int r);

/* Whether rank r could give d, and a thread, once what progressing tasks
 * hold is back. */
static int fits_eventually(const check_t *c, const relay__demand_t *d, int r)
{
    const relay__cluster_t *cl = relay__cluster();
    const held_t *h = &c->held[r];
    if (!relay__demand_fits_capacity(d, r) || d->cpu > cl->cpu[r] - h->cpu_kept ||
        !thread_comes(c, r))
        return 0;
    if (d->gpu) {
        int64_t left[RELAY__MAX_GPUS];
        for (int g = 0; g < cl->ngpu[r]; g++)
            left[g] = RELAY__UNIT - h->gpu[g];
        if (relay__sched_gpu_pick(left, cl->ngpu[r], d->gpu, NULL) < 0) return 0;
    }
    for (uint32_t i = 0; i < d->ncustom; i++) {
        uint32_t idx = d->custom[i].idx;
        if (cl->custom[(size_t)r * cl->ncustom + idx] - h->custom[idx] < d->custom[i].units)
            return 0;
    }
    return 1;
}

/* t, dispatched, can have its CPUs when it needs them: they are not all
 * kept by stuck blocked tasks. (A blocked task that kept its own has them;
 * one not blocked may only be queued, rank 0 cannot tell.) */
static int cpus_come(const check_t *c, const stask_t *t)
{
    if (t->blocked && t->cpu_held == t->shape->d.cpu) return 1;
    return t->shape->d.cpu <= relay__cluster()->cpu[t->rank] - c->held[t->rank].cpu_kept;
}

/* Some worker thread of rank r is, or will be, free to take a task. */
static int thread_comes(const check_t *c, int r)
{
    const held_t *h = &c->held[r];
    return h->blocked < relay__cluster()->threads[r] || h->blocked_stuck < h->blocked;
}

static int wait_answered(const relay__blocked_t *b)
{
    if (b->answered) return 1;
    uint64_t ok = 0;
    for (uint32_t i = 0; i < b->n && ok < b->k; i++)
        ok += (uint64_t)answerable(b->ids[i]);
    return ok >= b->k;
}

/* A queued call runs once a running one ends: one of them progresses, or
 * a slot is free. */
static int actor_moves(const relay__sactor_t *a)
{
    uint32_t sent = 0;
    for (const relay__list_t *n = relay__list_first(&a->sent); n && sent < a->max_conc;
         n = relay__list_next(&a->sent, n))
        sent++;
    return sent < a->max_conc || a->running_moving > 0;
}

/* A method, or an actor's body. */
static int actor_progresses(const check_t *c, const stask_t *t)
{
    (void)c;
    const relay__sactor_t *a = t->actor;
    if (!a) return 1;
    if (is_body(t)) return a->stuck_blocked == 0;
    if (t->rank >= 0 && t->runs) return !t->blocked || wait_answered(t->blocked);
    for (uint32_t i = 0; t->rank < 0 && i < t->nargs; i++)
        if (t->args[i].kind == RELAY_ARG_REF && !answerable(t->args[i].ref)) return 0;
    return actor_moves(a);
}

/* Every ref argument of t is ready, or will be. */
static int args_answerable(const stask_t *t)
{
    for (uint32_t i = 0; i < t->nargs; i++)
        if (t->args[i].kind == RELAY_ARG_REF && !answerable(t->args[i].ref)) return 0;
    return 1;
}

static int progresses(const check_t *c, const stask_t *t)
{
    if (t->cancelling || t->recalling || t->done_early) return 1;
    /* Placed ahead: it waits for its inputs on its rank, then as if sent. */
    if (t->ahead) return args_answerable(t) && cpus_come(c, t) && thread_comes(c, t->rank);
    if (t->kind == RELAY__KIND_METHOD || is_body(t)) return actor_progresses(c, t);
    if (t->rank >= 0 && t->blocked) return wait_answered(t->blocked) && cpus_come(c, t);
    if (t->rank >= 0) return cpus_come(c, t) && thread_comes(c, t->rank);
    if (!args_answerable(t)) return 0;
    if (t->fail_status) return 1; /* it fails once its arguments are in */
    for (int r = 0; r < relay__g.size; r++)
        if (fits_eventually(c, &t->shape->d, r)) return 1;
    return 0;
}

static void solve(check_t *c)
{
    int changed = 1;
    while (changed) {
        changed = 0;
        for (size_t i = 0; i < c->n; i++) {
            stask_t *t = c->tasks[i];
            if (t->progress || !progresses(c, t)) continue;
            t->progress = 1;
            if (t->rank >= 0) hold(c, t, -1);
            if (t->kind == RELAY__KIND_METHOD && t->rank >= 0 && t->runs && t->actor) {
                if (t->blocked) t->actor->stuck_blocked--;
                t->actor->running_moving++;
            }
            changed = 1;
        }
    }
}

/* Tasks placed ahead hold custom resources while they wait for their
 * inputs, which a task rank 0 cannot place may be what makes them: a
 * stuck one is taken back to rank 0 (holding nothing) rather than anybody
 * failed. Returns how many. */
static int unplace_stuck(const check_t *c)
{
    int n = 0;
    for (size_t i = 0; i < c->n; i++) {
        stask_t *t = c->tasks[i];
        if (t->progress || !t->ahead || !t->shape->d.ncustom || t->recalling) continue;
        relay__sched_unplace(t);
        n++;
    }
    return n;
}

/* Mark the maker of id as wanted (if it is stuck); push it once. */
static void want(stask_t **stack, size_t *n, uint64_t id)
{
    if (answerable(id)) return;
    stask_t *m = relay__map_get(&relay__sched_state()->tasks, id & ~(uint64_t)0xff);
    if (!m || m->wanted) return;
    m->wanted = 1;
    stack[(*n)++] = m;
}

/* Mark every stuck task that stuck blocked tasks wait for, through the
 * makers of what those miss in turn. */
static void mark_wanted(check_t *c)
{
    stask_t **todo = malloc((c->n ? c->n : 1) * sizeof *todo); /* each task once */
    size_t n = 0;
    if (!todo) return;
    for (size_t i = 0; i < c->n; i++) {
        stask_t *t = c->tasks[i];
        if (t->progress || !t->blocked) continue;
        for (uint32_t k = 0; k < t->blocked->n; k++)
            want(todo, &n, t->blocked->ids[k]);
    }
    while (n) {
        stask_t *t = todo[--n];
        if (t->blocked)
            for (uint32_t k = 0; k < t->blocked->n; k++)
                want(todo, &n, t->blocked->ids[k]);
        for (uint32_t i = 0; (t->rank < 0 || t->ahead) && i < t->nargs; i++)
            if (t->args[i].kind == RELAY_ARG_REF) want(todo, &n, t->args[i].ref);
    }
    free(todo);
}

/* The newest stuck task that is waited for: one waiting for dispatch first
 * (failing it needs no message), else a dispatched one its rank has not
 * started. */
static stask_t *pick_victim(const check_t *c)
{
    stask_t *ready = NULL, *queued = NULL;
    for (size_t i = 0; i < c->n; i++) {
        stask_t *t = c->tasks[i];
        /* Never a call that runs (it cannot be taken back), nor an actor. */
        int method = t->kind == RELAY__KIND_METHOD;
        if (t->progress || !t->wanted || t->fail_status || is_body(t) ||
            (method && (t->rank < 0 || t->runs)))
            continue;
        if (t->rank < 0 && t->missing == 0 && (!ready || t->seq > ready->seq)) ready = t;
        if (t->rank >= 0 && !t->blocked && (!queued || t->seq > queued->seq)) queued = t;
    }
    return ready ? ready : queued;
}

/* Name the stuck blocked tasks that hold what victim needs. */
static void describe(const check_t *c, const stask_t *victim, char *msg, size_t n)
{
    char asked[256], who[512] = "";
    size_t len = 0;
    int named = 0;
    relay__demand_format(&victim->shape->d, asked, sizeof asked);
    for (size_t i = 0; i < c->n && named < 4; i++) {
        const stask_t *t = c->tasks[i];
        int holds = (t->blocked && t->blocked->holding) || (t->ahead && t->shape->d.ncustom);
        if (t->progress || !holds || !relay__demand_fits_capacity(&victim->shape->d, t->rank))
            continue;
        int k = snprintf(who + len, sizeof who - len, "%s'%s' on rank %d", named ? ", " : "",
                         t->name, t->rank);
        if (k > 0 && (size_t)k < sizeof who - len) len += (size_t)k;
        named++;
    }
    snprintf(msg, n,
             "task '%s' (function '%s') can never run: it needs %s, and on every rank that has "
             "them they are held by tasks blocked waiting for it (or placed ahead, waiting for "
             "inputs that wait for it), directly or through other tasks%s%s",
             victim->name, victim->fn, asked, named ? ": " : "", who);
}

void relay__deadlock_check(void)
{
    for (;;) {
        check_t c;
        if (check_init(&c) != 0) {
            check_free(&c);
            relay__log(RELAY__LOG_WARN, "out of memory checking for deadlocks; will retry");
            relay__sched_state()->check_due = 1;
            return;
        }
        solve(&c);
        if (unplace_stuck(&c)) {
            check_free(&c);
            return; /* the check runs again once they are back */
        }
        mark_wanted(&c);
        stask_t *victim = pick_victim(&c);
        if (!victim) {
            check_free(&c);
            return;
        }
        char msg[1024];
        describe(&c, victim, msg, sizeof msg);
        int dispatched = victim->rank >= 0;
        check_free(&c);
        if (dispatched) {
            /* Its rank answers; the check runs again then. */
            relay__sched_cancel(victim, RELAY_ERR_DEADLOCK, msg);
            return;
        }
        relay__sched_fail_ready(victim, RELAY_ERR_DEADLOCK, msg);
    }
}
