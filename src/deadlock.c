/* Deadlock detection on rank 0.
 *
 * Every task in the scheduler is either known to make progress or not yet.
 * Starting from none known, a task is added when:
 * - it is blocked in a wait that is answered whatever happens (a zero
 *   timeout, a sync), or at least k of the objects it waits for are ready
 *   or made by tasks known to progress (a wait with a timeout counts as
 *   blocked: the deadlock is reported rather than left to the timeout);
 * - it was dispatched and is not blocked, and its rank's CPUs are not all
 *   kept by blocked tasks not known to progress (it runs, or will once a
 *   CPU frees: CPUs are only held by tasks that run or keep them blocked);
 * - it waits to be dispatched, every argument it misses is made by a task
 *   known to progress, and some rank could give it what it asks for once
 *   every task known to progress has given back what it holds.
 * Repeat until nothing is added. What is left can never run: its
 * resources are held, forever, by tasks that wait for it. */
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
    int64_t cpu_kept; /* by blocked tasks (given back ones hold none) */
    int64_t *gpu;     /* [ngpu] */
    int64_t *custom;  /* [ncustom] */
} held_t;

typedef struct check {
    stask_t **tasks;
    size_t n;
    held_t *held; /* [rank] */
    int64_t *pool;
} check_t;

static void hold(check_t *c, const stask_t *t, int sign)
{
    held_t *h = &c->held[t->rank];
    if (t->blocked) h->cpu_kept += sign * t->cpu_held;
    for (uint32_t g = 0; g < t->ngpu; g++)
        h->gpu[t->gpus[g].dev] += sign * t->gpus[g].units;
    const relay__demand_t *d = &t->shape->d;
    for (uint32_t i = 0; i < d->ncustom; i++)
        h->custom[d->custom[i].idx] += sign * d->custom[i].units;
}

static int check_init(check_t *c)
{
    relay__sched_t *s = relay__sched_state();
    const relay__cluster_t *cl = relay__cluster();
    size_t per = cl->ncustom, total = 0;
    for (int r = 0; r < cl->nranks; r++)
        total += per + (size_t)cl->ngpu[r];
    memset(c, 0, sizeof *c);
    c->tasks = malloc((s->tasks.count ? s->tasks.count : 1) * sizeof *c->tasks);
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
    for (size_t i = 0; i < s->tasks.cap; i++) {
        if (!s->tasks.slots[i].key) continue;
        stask_t *t = s->tasks.slots[i].value;
        t->progress = 0;
        c->tasks[c->n++] = t;
        if (t->rank >= 0) hold(c, t, +1);
    }
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

/* Whether rank r could give d once what progressing tasks hold is back. */
static int fits_eventually(const check_t *c, const relay__demand_t *d, int r)
{
    const relay__cluster_t *cl = relay__cluster();
    const held_t *h = &c->held[r];
    if (!relay__demand_fits_capacity(d, r) || d->cpu > cl->cpu[r] - h->cpu_kept) return 0;
    if (d->gpu) {
        int need = d->gpu > RELAY__UNIT ? (int)(d->gpu / RELAY__UNIT) : 1, have = 0;
        for (int g = 0; g < cl->ngpu[r]; g++) {
            int64_t left = RELAY__UNIT - h->gpu[g];
            have += d->gpu > RELAY__UNIT ? left == RELAY__UNIT : left >= d->gpu;
        }
        if (have < need) return 0;
    }
    for (uint32_t i = 0; i < d->ncustom; i++) {
        uint32_t idx = d->custom[i].idx;
        if (cl->custom[(size_t)r * cl->ncustom + idx] - h->custom[idx] < d->custom[i].units)
            return 0;
    }
    return 1;
}

static int progresses(const check_t *c, const stask_t *t)
{
    if (t->rank >= 0 && t->blocked) {
        const relay__blocked_t *b = t->blocked;
        if (b->answered) return 1;
        uint64_t ok = 0;
        for (uint32_t i = 0; i < b->n && ok < b->k; i++)
            ok += (uint64_t)answerable(b->ids[i]);
        return ok >= b->k;
    }
    if (t->rank >= 0)
        return t->shape->d.cpu <= relay__cluster()->cpu[t->rank] - c->held[t->rank].cpu_kept;
    for (uint32_t i = 0; i < t->nargs; i++)
        if (t->args[i].kind == RELAY_ARG_REF && !answerable(t->args[i].ref)) return 0;
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
            changed = 1;
        }
    }
}

/* The newest stuck task to fail: one waiting for dispatch first (failing
 * it needs no message), else a dispatched one its rank has not started. */
static stask_t *pick_victim(const check_t *c)
{
    stask_t *ready = NULL, *queued = NULL;
    for (size_t i = 0; i < c->n; i++) {
        stask_t *t = c->tasks[i];
        if (t->progress || t->fail_status) continue;
        if (t->rank < 0 && t->missing == 0 && (!ready || t->seq > ready->seq)) ready = t;
        if (t->rank >= 0 && !t->blocked && !t->cancelling && (!queued || t->seq > queued->seq))
            queued = t;
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
        if (t->progress || !t->blocked || !t->blocked->holding ||
            !relay__demand_fits_capacity(&victim->shape->d, t->rank))
            continue;
        int k = snprintf(who + len, sizeof who - len, "%s'%s' on rank %d", named ? ", " : "",
                         t->name, t->rank);
        if (k > 0 && (size_t)k < sizeof who - len) len += (size_t)k;
        named++;
    }
    snprintf(msg, n,
             "task '%s' (function '%s') can never run: it needs %s, and on every rank that has "
             "them they are held by tasks blocked waiting for it, directly or through other "
             "tasks%s%s",
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
