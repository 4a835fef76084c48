#include "scheduler.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor_table.h"
#include "comm.h"
#include "deadlock.h"
#include "directory.h"
#include "hashmap.h"
#include "log.h"
#include "object.h"
#include "resources.h"
#include "runtime.h"
#include "sched_state.h"
#include "trace.h"

typedef relay__stask_t stask_t;
typedef relay__shape_t shape_t;
typedef relay__acct_t acct_t;

relay__sched_t *relay__sched_state(void)
{
    return relay__g.sched;
}

static relay__sched_t *S(void)
{
    return relay__g.sched;
}

/* The ranks object fwd_id was forwarded to, while its dependents are
 * told it is ready (one object at a time: dir_set_ready's loop). */
static uint64_t fwd_id;
static int *fwd_ranks;
static uint32_t fwd_n, fwd_cap;

static void cancel_here(stask_t *t);
static void on_resources_query(int src, relay__rbuf_t *r);
static void drop_deps(stask_t *t);
static const stask_t *starving_head(const relay__shape_t *by);
static const stask_t *dispatch_starving(void);

/* CPUs a rank may be promised beyond its capacity, so the next task is at
 * hand when a CPU frees instead of a round trip later: enough for about
 * QUEUE_SECONDS of work at the recent average run time. Short tasks get a
 * deep queue (throughput), long ones almost none (balance). The worker
 * still never runs more than its CPUs allow. */
#define QUEUE_SECONDS 200e-6
#define QUEUE_MAX 512
/* The deadlock check runs at most every CHECK_MIN_SECONDS, and never takes
 * more than 1/CHECK_SPACING of rank 0's time. */
#define CHECK_MIN_SECONDS 1e-3
/* A task that cannot run reserves what it waits for once it has waited
 * RESERVE_RUNS average run times, and never less than RESERVE_MIN_SECONDS
 * (starving_head). */
#define RESERVE_RUNS 4
#define RESERVE_MIN_SECONDS 0.1
#define CHECK_SPACING 20

/* Only tasks that hold resources while they cannot go on can be part of a
 * deadlock: blocked ones, and ones placed ahead holding custom resources
 * until their inputs come. */
static int may_deadlock(const relay__sched_t *s)
{
    return s->blocked_holders || s->ahead_holders;
}

static int64_t queue_allowance(const acct_t *a)
{
    double extra = (double)a->cpu_cap / RELAY__UNIT * QUEUE_SECONDS / S()->avg_run_seconds;
    int tasks = extra < 1 ? 1 : extra > QUEUE_MAX ? QUEUE_MAX : (int)extra;
    return (int64_t)tasks * RELAY__UNIT;
}

/* ---------------------------------------------------------------------- */
/* Setup                                                                    */
/* ---------------------------------------------------------------------- */

static void accts_free(acct_t *acct, int n)
{
    for (int r = 0; acct && r < n; r++) {
        free(acct[r].gpu_free);
        free(acct[r].custom_free);
    }
    free(acct);
}

static acct_t *accts_new(void)
{
    const relay__cluster_t *c = relay__cluster();
    acct_t *acct = calloc((size_t)c->nranks, sizeof *acct);
    for (int r = 0; acct && r < c->nranks; r++) {
        acct_t *a = &acct[r];
        a->cpu_cap = c->cpu[r];
        a->ngpu = c->ngpu[r];
        a->gpu_free = calloc((size_t)(a->ngpu ? a->ngpu : 1), sizeof *a->gpu_free);
        a->custom_free = calloc(c->ncustom ? c->ncustom : 1, sizeof *a->custom_free);
        if (!a->gpu_free || !a->custom_free) {
            accts_free(acct, c->nranks);
            return NULL;
        }
        for (int g = 0; g < a->ngpu; g++)
            a->gpu_free[g] = RELAY__UNIT;
        for (uint32_t i = 0; i < c->ncustom; i++)
            a->custom_free[i] = c->custom[(size_t)r * c->ncustom + i];
        relay__list_init(&a->placed);
    }
    return acct;
}

int relay__sched_init(void)
{
    relay__sched_t *s = calloc(1, sizeof *s);
    if (s) s->dflt = calloc(1, sizeof *s->dflt);
    if (s && s->dflt) s->acct = accts_new();
    if (s && s->acct) s->acked = calloc((size_t)relay__g.size, 1);
    if (!s || !s->dflt || !s->acct || !s->acked) {
        if (s) {
            free(s->dflt);
            accts_free(s->acct, relay__g.size);
        }
        free(s);
        return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory");
    }
    relay__demand_default(&s->dflt->d);
    relay__list_init(&s->shapes);
    relay__list_init(&s->dflt->ready);
    relay__list_push_back(&s->shapes, &s->dflt->link);
    s->avg_run_seconds = 1e-3; /* until tasks tell: assume they are not tiny */
    relay__map_init(&s->tasks);
    relay__map_init(&s->lineage);
    relay__map_init(&s->kept);
    relay__g.sched = s;
    relay__handler_set(RELAY__R_SUBMIT, relay__sched_on_submit);
    relay__handler_set(RELAY__R_DONE, relay__sched_on_done);
    relay__handler_set(RELAY__R_BLOCK, relay__sched_on_block);
    relay__handler_set(RELAY__R_UNBLOCK, relay__sched_on_unblock);
    relay__handler_set(RELAY__R_SYNC, relay__sched_on_sync);
    relay__handler_set(RELAY__R_SHUTDOWN_ACK, relay__sched_on_shutdown_ack);
    relay__handler_set(RELAY__R_RECALLED, relay__sched_on_recalled);
    relay__handler_set(RELAY__R_ABORT, relay__sched_on_abort);
    relay__handler_set(RELAY__R_RESOURCES_QUERY, on_resources_query);
    relay__comm_hooks()->tick = relay__sched_tick;
    return relay__actors_init();
}

/* The task first in line of a shape, or NULL. */
static stask_t *ready_head(const shape_t *sh)
{
    relay__list_t *n = relay__list_first(&sh->ready);
    return n ? RELAY__LIST_ENTRY(n, stask_t, link) : NULL;
}

/* A shape no task uses any more goes, but for the default one. */
static void shape_unref(shape_t *sh)
{
    relay__sched_t *s = S();
    if (--sh->ntasks > 0 || sh == s->dflt) return;
    relay__list_remove(&sh->link);
    free(sh);
}

static void task_free(stask_t *t)
{
    if (t->kind == RELAY__KIND_ACTOR && t->actor) relay__actor_body_freed(t);
    if (t->shape) shape_unref(t->shape);
    free(t->gpus);
    free(t->blocked);
    free(t->fail_msg);
    free(t); /* names, arguments and values share its allocation */
}

void relay__sched_free_task(stask_t *t)
{
    task_free(t);
}

void relay__sched_destroy(void)
{
    relay__sched_t *s = S();
    if (!s) return;
    relay__actors_detach();
    stask_t *t;
    RELAY__MAP_EACH(&s->tasks, t) task_free(t);
    relay__map_destroy(&s->tasks);
    RELAY__MAP_EACH(&s->kept, t) task_free(t);
    relay__map_destroy(&s->kept);
    relay__lineage_t *l;
    RELAY__MAP_EACH(&s->lineage, l) free(l);
    relay__map_destroy(&s->lineage);
    relay__actors_destroy();
    shape_t *sh;
    RELAY__LIST_EACH(&s->shapes, sh, shape_t, link) free(sh);
    accts_free(s->acct, relay__g.size);
    free(s->acked);
    free(s);
    relay__g.sched = NULL;
    free(fwd_ranks);
    fwd_ranks = NULL;
    fwd_n = fwd_cap = 0;
    fwd_id = 0;
}

uint64_t relay__sched_pending(void)
{
    return S() ? S()->tasks.count : 0;
}

/* ---------------------------------------------------------------------- */
/* Placement                                                                */
/* ---------------------------------------------------------------------- */

int relay__sched_gpu_pick(const int64_t *gpu_free, int ngpu, int64_t units, relay__gpu_use_t *out)
{
    if (units <= RELAY__UNIT) {
        int best = -1;
        for (int g = 0; g < ngpu; g++)
            if (gpu_free[g] >= units && (best < 0 || gpu_free[g] < gpu_free[best])) best = g;
        if (best < 0) return -1;
        if (out) out[0] = (relay__gpu_use_t){(uint32_t)best, units};
        return 1;
    }
    int want = (int)(units / RELAY__UNIT), n = 0;
    for (int g = 0; g < ngpu && n < want; g++) {
        if (gpu_free[g] != RELAY__UNIT) continue;
        if (out) out[n] = (relay__gpu_use_t){(uint32_t)g, RELAY__UNIT};
        n++;
    }
    return n == want ? n : -1;
}

/* Whether rank r can take a task asking for d now. An actor's
 * constructor gets its CPUs only where they are free, never in the queue
 * a rank keeps for short tasks: the actor keeps them for its life, or
 * (Ray's default actor) needs them free to be placed at all. */
static int fits(const relay__demand_t *d, int r, int actor)
{
    const acct_t *a = &S()->acct[r];
    if (a->cpu_cap <= 0 || d->cpu > a->cpu_cap) return 0;
    int64_t room = a->cpu_cap + (actor ? 0 : queue_allowance(a));
    if (d->cpu ? a->cpu_used + d->cpu > room : !actor && a->zero_cpu >= QUEUE_MAX) return 0;
    if (d->gpu && relay__sched_gpu_pick(a->gpu_free, a->ngpu, d->gpu, NULL) < 0) return 0;
    for (uint32_t i = 0; i < d->ncustom; i++)
        if (a->custom_free[d->custom[i].idx] < d->custom[i].units) return 0;
    return 1;
}

/* Whether h, ready and waiting, is short on rank r of something t would
 * take there. */
static int takes_from(const stask_t *t, const stask_t *h, int r)
{
    const acct_t *a = &S()->acct[r];
    const relay__demand_t *d = &t->shape->d, *hd = &h->shape->d;
    int64_t room = a->cpu_cap + (h->kind == RELAY__KIND_ACTOR ? 0 : queue_allowance(a));
    if (d->cpu && hd->cpu && a->cpu_used + hd->cpu > room) return 1;
    if (d->gpu && hd->gpu && relay__sched_gpu_pick(a->gpu_free, a->ngpu, hd->gpu, NULL) < 0)
        return 1;
    for (uint32_t i = 0; i < d->ncustom; i++)
        for (uint32_t j = 0; j < hd->ncustom; j++)
            if (d->custom[i].idx == hd->custom[j].idx &&
                a->custom_free[hd->custom[j].idx] < hd->custom[j].units)
                return 1;
    return 0;
}

/* Whether rank r keeps for starving (an older task of another shape, see
 * starving_head) something t would take there. */
static int reserved(const stask_t *t, int r, const stask_t *starving)
{
    return starving && t->seq > starving->seq && t->shape != starving->shape &&
           relay__demand_fits_capacity(&starving->shape->d, r) && takes_from(t, starving, r);
}

/* Whether rank r may take t now: it fits, and it does not take what a
 * starving older task (dispatch's reservation) waits for there. */
static int may_take(const stask_t *t, int r, const stask_t *starving)
{
    return fits(&t->shape->d, r, t->kind == RELAY__KIND_ACTOR) && !reserved(t, r, starving);
}

/* The rank for t: the holder of its largest remote argument if that rank
 * can take it, else the least loaded rank that can. -1 when none can. */
static int pick_rank(const stask_t *t, const stask_t *starving)
{
    relay__sched_t *s = S();
    int best = -1;
    uint64_t best_size = 0;
    for (uint32_t i = 0; i < t->nargs; i++) {
        if (t->args[i].kind != RELAY_ARG_REF) continue;
        relay__dentry_t *e = relay__dir_lookup(t->args[i].ref);
        if (e && !e->obj && e->size > best_size && may_take(t, e->holder_rank, starving)) {
            best = e->holder_rank;
            best_size = e->size;
        }
    }
    if (best >= 0) return best;
    /* Least loaded first; among equals the lowest rank, so a trickle of
     * tasks keeps going to the same warm rank and idle ranks stay asleep. */
    double best_load = DBL_MAX;
    for (int r = 0; r < relay__g.size; r++) {
        if (!may_take(t, r, starving)) continue;
        double load = (double)s->acct[r].cpu_used / (double)s->acct[r].cpu_cap;
        if (load < best_load) {
            best_load = load;
            best = r;
        }
    }
    return best;
}

/* What t holds from the moment it is placed on rank r: GPUs and custom
 * resources. A task placed ahead holds them while it waits for its
 * arguments (only what is free now: its makers already hold theirs). */
static void reserve_place(stask_t *t, int r)
{
    acct_t *a = &S()->acct[r];
    const relay__demand_t *d = &t->shape->d;
    if (d->gpu) {
        t->gpus = malloc((size_t)a->ngpu * sizeof *t->gpus);
        if (!t->gpus) {
            relay__log(RELAY__LOG_ERROR, "out of memory placing a GPU task");
            abort();
        }
        t->ngpu = (uint32_t)relay__sched_gpu_pick(a->gpu_free, a->ngpu, d->gpu, t->gpus);
        for (uint32_t g = 0; g < t->ngpu; g++)
            a->gpu_free[t->gpus[g].dev] -= t->gpus[g].units;
    }
    for (uint32_t i = 0; i < d->ncustom; i++)
        a->custom_free[d->custom[i].idx] -= d->custom[i].units;
    t->rank = r;
}

/* What t holds once it may run: its CPUs. */
static void reserve_start(stask_t *t)
{
    relay__sched_t *s = S();
    acct_t *a = &s->acct[t->rank];
    const relay__demand_t *d = &t->shape->d;
    a->cpu_used += d->cpu;
    t->cpu_held = d->cpu;
    if (!d->cpu && t->kind != RELAY__KIND_ACTOR) a->zero_cpu++;
    s->running++;
    if (t->was_ahead) relay__list_push_back(&a->placed, &t->placed);
}

/* Give t what it asks for on rank r. */
static void reserve(stask_t *t, int r)
{
    reserve_place(t, r);
    reserve_start(t);
}

static void blocked_clear(stask_t *t)
{
    if (!t->blocked) return;
    if (t->blocked->holding) S()->blocked_holders--;
    free(t->blocked);
    t->blocked = NULL;
}

/* t left its rank: give back what it held (a method holds nothing: its
 * actor does). finished: it counted as running until now. */
static void unreserve(stask_t *t, int finished)
{
    relay__sched_t *s = S();
    s->running -= (uint64_t)finished;
    if (t->kind == RELAY__KIND_METHOD) {
        relay__actor_call_left(t);
        blocked_clear(t);
        t->rank = -1;
        return;
    }
    acct_t *a = &s->acct[t->rank];
    const relay__demand_t *d = &t->shape->d;
    relay__list_remove(&t->placed);
    t->runs_there = t->recalling = t->unplacing = 0;
    a->cpu_used -= t->cpu_held;
    t->cpu_held = 0;
    if (!d->cpu && t->kind != RELAY__KIND_ACTOR) a->zero_cpu--;
    for (uint32_t g = 0; g < t->ngpu; g++)
        a->gpu_free[t->gpus[g].dev] += t->gpus[g].units;
    free(t->gpus);
    t->gpus = NULL;
    t->ngpu = 0;
    for (uint32_t i = 0; i < d->ncustom; i++)
        a->custom_free[d->custom[i].idx] += d->custom[i].units;
    blocked_clear(t);
    t->rank = -1;
    t->cancelling = 0;
}

void relay__sched_unreserve(stask_t *t, int finished)
{
    unreserve(t, finished);
}

/* The task making object id, or NULL. */
static stask_t *maker_of(uint64_t id)
{
    return relay__map_get(&S()->tasks, id & ~(uint64_t)0xff);
}

/* Argument i of a task being sent: a ref goes with what the directory
 * knows of it (pinned, so present), or, not made yet (the task is placed
 * ahead), with the rank its maker went to. */
static void task_arg(void *ctx, uint32_t i, relay__rec_arg_t *a_p)
{
    const relay__sarg_t *a = &((const stask_t *)ctx)->args[i];
    a_p->kind = a->kind;
    a_p->ref = a->ref;
    a_p->data = a->val;
    a_p->size = a->size;
    a_p->pending = 0;
    if (a->kind != RELAY_ARG_REF) return;
    relay__dentry_t *e = relay__dir_lookup(a->ref);
    if (e && !e->ready) {
        const stask_t *m = maker_of(a->ref);
        a_p->pending = 1;
        a_p->producer = m && m->rank >= 0 && !m->cancelling ? m->rank : -1;
        return;
    }
    relay__dir_desc(e, &a_p->desc);
}

static void send_task(stask_t *t, int rank)
{
    relay__trace_place(t->id, rank);
    relay__rec_task_t m;
    m.task_id = t->id;
    m.fn_hash = t->fn_hash;
    m.fn = t->fn;
    m.name = t->name;
    m.nret = t->nret;
    m.attempt = t->attempt;
    m.has_res = t->shape != S()->dflt || t->kind != RELAY__KIND_TASK;
    /* A method runs on its actor's resources, none of its own. */
    m.cpu = t->kind == RELAY__KIND_METHOD ? 0 : t->shape->d.cpu;
    m.ngpu = t->ngpu;
    if (t->ngpu) memcpy(m.gpus, t->gpus, t->ngpu * sizeof *t->gpus);
    m.kind = t->kind;
    int ctor = t->kind == RELAY__KIND_ACTOR;
    m.actor_id = ctor ? t->id : t->actor_id;
    m.class_hash = ctor ? t->fn_hash : t->class_hash;
    m.max_conc = t->max_conc;
    m.keeps_cpu = t->keeps_cpu;
    m.args = (relay__rec_args_t){t->nargs, task_arg, t, {0}};
    /* A task for this rank's own workers is handed over at the next turn
     * of progress, after the records for other ranks have left: a local
     * worker woken now would take the core the sending needs. */
    size_t start;
    relay__wbuf_t *w = relay__msg_begin_later(rank, RELAY__R_TASK, &start);
    relay__rec_task_encode(w, &m);
    relay__msg_end_later(rank, w, start);
}

/* ---------------------------------------------------------------------- */
/* Placement ahead                                                          */
/* ---------------------------------------------------------------------- */

/* A task whose arguments are not all made is sent at once to the rank
 * that will run it: its inputs then go there straight from their makers'
 * ranks, and it starts the moment the last one arrives, with no message
 * to or from rank 0 in between (dataflow.h has the worker's side). Rank 0
 * still learns of every completion, and counts the task's CPUs from the
 * moment it knows the task may run. */

/* Whether a task asking for d may wait on rank r: it could run there, and
 * the custom resources it holds while waiting are free now. GPU tasks are
 * placed when they can start (the devices are chosen then). */
static int fits_ahead(const relay__demand_t *d, int r)
{
    const acct_t *a = &S()->acct[r];
    if (a->cpu_cap <= 0 || d->cpu > a->cpu_cap || d->gpu) return 0;
    for (uint32_t i = 0; i < d->ncustom; i++)
        if (a->custom_free[d->custom[i].idx] < d->custom[i].units) return 0;
    return 1;
}

/* Work given to rank r, running or waiting, per CPU. */
static double ahead_load(int r)
{
    const acct_t *a = &S()->acct[r];
    return (double)(a->cpu_used + a->ahead_cpu + RELAY__UNIT * (int64_t)a->zero_cpu) /
           (double)a->cpu_cap;
}

/* Whether t may wait on rank r: it fits there, and takes nothing r keeps
 * for a starving task. Once placed it starts when its inputs arrive, the
 * reservation or not, so the reservation applies here or nowhere. */
static int may_ahead(const stask_t *t, int r, const stask_t *starving)
{
    return fits_ahead(&t->shape->d, r) && !reserved(t, r, starving);
}

/* The rank for t, placed ahead: owner computes. The first task placed for
 * the returns of a maker goes to the maker's rank (a chain stays where
 * its data is, its links passed over by no message); further ones (a
 * fan-out) to the least loaded rank. -1: none fits. */
static int ahead_rank(const stask_t *t, const stask_t *starving)
{
    int best = -1;
    double best_load = DBL_MAX;
    for (uint32_t i = 0; i < t->nargs; i++) {
        if (t->args[i].kind != RELAY_ARG_REF) continue;
        relay__dentry_t *e = relay__dir_lookup(t->args[i].ref);
        stask_t *m = e && !e->ready ? maker_of(e->id) : NULL;
        if (!m || m->rank < 0 || m->has_consumer || !may_ahead(t, m->rank, starving)) continue;
        double load = ahead_load(m->rank);
        if (load < best_load) {
            best = m->rank;
            best_load = load;
        }
    }
    if (best >= 0) return best;
    for (int r = 0; r < relay__g.size; r++) {
        if (!may_ahead(t, r, starving)) continue;
        double load = ahead_load(r);
        if (load < best_load) {
            best_load = load;
            best = r;
        }
    }
    return best;
}

/* The makers on rank r of t's missing arguments now have their follower. */
static void claim_makers(const stask_t *t, int r)
{
    for (uint32_t i = 0; i < t->nargs; i++) {
        if (t->args[i].kind != RELAY_ARG_REF) continue;
        stask_t *m = maker_of(t->args[i].ref);
        if (m && m->rank == r) m->has_consumer = 1;
    }
}

/* Send t, whose arguments are not all made, to the rank that will run it;
 * none may take it: it waits here, holding nothing, until they are. A
 * task placed ahead overtakes the tasks queued here as a dispatched one
 * does, so it respects the reservation of a starving one, even while
 * dispatch's is off (may_deadlock): not placing a task ahead only delays
 * it, it never makes a task wait for one that waits for it. */
static void place_ahead(stask_t *t)
{
    relay__sched_t *s = S();
    if (t->kind != RELAY__KIND_TASK || t->fail_status || t->no_ahead || s->shutting_down) return;
    int r = ahead_rank(t, starving_head(t->shape));
    if (r < 0) return;
    claim_makers(t, r);
    reserve_place(t, r);
    t->ahead = t->was_ahead = 1;
    s->acct[r].ahead_cpu += t->shape->d.cpu;
    s->ahead_holders += t->shape->d.ncustom > 0;
    relay__g.placed_ahead++;
    send_task(t, r);
}

/* Rank 0 now knows that t, placed ahead, may run (its inputs are ready,
 * or its rank reported on it): its CPUs count from here. */
static void start_ahead(stask_t *t)
{
    if (!t->ahead) return;
    t->ahead = 0;
    S()->acct[t->rank].ahead_cpu -= t->shape->d.cpu;
    S()->ahead_holders -= t->shape->d.ncustom > 0;
    reserve_start(t);
}

/* Tasks the maker's rank of the DONE being handled gave its returns to
 * carry this stamp. */
static uint64_t done_stamp;

static void stamp_delivered(const relay__ids_t *l)
{
    done_stamp++;
    for (uint32_t i = 0; i < l->n; i++) {
        stask_t *t = relay__map_get(&S()->tasks, relay__ids_at(l, i));
        if (t) t->delivered_stamp = done_stamp;
    }
}

static int was_delivered(const stask_t *t)
{
    return t->delivered_stamp == done_stamp;
}

/* Whether e already went to rank r; notes that it does now. */
static int forwarded_before(uint64_t id, int r)
{
    if (id != fwd_id) {
        fwd_id = id;
        fwd_n = 0;
    }
    for (uint32_t i = 0; i < fwd_n; i++)
        if (fwd_ranks[i] == r) return 1;
    if (fwd_n == fwd_cap) {
        uint32_t cap = fwd_cap ? 2 * fwd_cap : 8;
        int *v = realloc(fwd_ranks, cap * sizeof *v);
        if (!v) return 0; /* a second copy at worst */
        fwd_ranks = v;
        fwd_cap = cap;
    }
    fwd_ranks[fwd_n++] = r;
    return 0;
}

/* Object e is ready; t waits for it on its rank. Unless e's maker gave it
 * to t already, rank 0 sends it there (once per object and rank). */
static void ahead_forward(const stask_t *t, const relay__dentry_t *e)
{
    if (!e->id || (e->obj && e->obj->status != RELAY_OK) || was_delivered(t)) return;
    if (forwarded_before(e->id, t->rank)) return;
    relay__rec_put_t m = {e->id, {0}};
    relay__dir_desc(e, &m.desc);
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(t->rank, RELAY__R_OBJECT, &start);
    relay__rec_put_encode(w, &m);
    relay__msg_end(t->rank, w, start);
    relay__g.objects_forwarded++;
}

/* ---------------------------------------------------------------------- */
/* Dispatch                                                                 */
/* ---------------------------------------------------------------------- */

static void maybe_check_deadlock(void)
{
    relay__sched_t *s = S();
    if (!s->check_due || s->checking || s->shutting_down) return;
    if (!may_deadlock(s)) {
        s->check_due = 0; /* nothing blocked or waiting holds anything: no deadlock */
        return;
    }
    double t0 = relay__now();
    if (t0 < s->next_check) return; /* the runtime thread's tick comes back */
    s->check_due = 0;
    s->checking = 1;
    relay__deadlock_check();
    s->checking = 0;
    double spent = relay__now() - t0;
    s->next_check = t0 + (spent * CHECK_SPACING > CHECK_MIN_SECONDS ? spent * CHECK_SPACING
                                                                    : CHECK_MIN_SECONDS);
}

/* Only from the top of the runtime (no handler under way): the check may
 * fail tasks, which frees them and runs their dependents' handlers. */
void relay__sched_tick(void)
{
    if (S() && S()->check_due) maybe_check_deadlock();
}

/* How long the head of a shape may wait while other shapes' tasks go
 * first, before it reserves what it waits for: a few of the recent run
 * times (the resources it needs then come free within about one run). */
static double reserve_seconds(void)
{
    double runs = RESERVE_RUNS * S()->avg_run_seconds;
    return runs > RESERVE_MIN_SECONDS ? runs : RESERVE_MIN_SECONDS;
}

/* The oldest head of a shape that fits on no rank now and has waited past
 * reserve_seconds() while tasks of other shapes could overtake it, or
 * NULL: by, a shape whose task is being placed ahead, or NULL for
 * dispatch (the other shapes with ready tasks). Tasks of other shapes that
 * arrived after it then get nothing it is short of on the ranks that
 * could run it, until it gets it: a task that can run now overtakes one
 * that cannot, but not forever. A shape alone needs no reservation (and
 * costs no clock read): its own queue is in arrival order. */
static const stask_t *starving_head(const shape_t *by)
{
    relay__sched_t *s = S();
    int others = 0;
    shape_t *sh;
    RELAY__LIST_EACH(&s->shapes, sh, shape_t, link)
    {
        others += ready_head(sh) != NULL && sh != by;
    }
    if (others < (by ? 1 : 2)) return NULL;
    double now = relay__now(), since = now - reserve_seconds();
    const stask_t *oldest = NULL;
    RELAY__LIST_EACH(&s->shapes, sh, shape_t, link)
    {
        stask_t *h = ready_head(sh);
        if (!h) continue;
        if (sh->head_seq != h->seq) {
            sh->head_seq = h->seq;
            sh->head_since = now;
        }
        if (sh->head_since > since || (oldest && h->seq > oldest->seq)) continue;
        if (pick_rank(h, NULL) < 0) oldest = h;
    }
    return oldest;
}

/* The reservation dispatch and stealing keep. None while tasks hold
 * resources they cannot go on with (blocked, or placed ahead holding
 * custom resources): what they wait for might be held back for a task
 * that waits for them, a deadlock the check would not see. */
static const stask_t *dispatch_starving(void)
{
    return may_deadlock(S()) ? NULL : starving_head(NULL);
}

/* Send ready tasks to ranks that can take them, oldest first among the
 * shapes whose head fits somewhere. */
static void dispatch(void)
{
    relay__sched_t *s = S();
    const stask_t *starving = dispatch_starving();
    while (!s->shutting_down) {
        shape_t *best = NULL;
        int best_rank = -1;
        shape_t *sh;
        RELAY__LIST_EACH(&s->shapes, sh, shape_t, link)
        {
            stask_t *head = ready_head(sh);
            if (!head || (best && head->seq > ready_head(best)->seq)) continue;
            int r = pick_rank(head, starving);
            if (r < 0) {
                /* Waiting is normal; waiting on a blocked holder may not be. */
                if (may_deadlock(s)) s->check_due = 1;
                continue;
            }
            best = sh;
            best_rank = r;
        }
        if (!best) break;
        stask_t *t = ready_head(best);
        relay__list_remove(&t->link);
        reserve(t, best_rank);
        send_task(t, best_rank);
        if (t->kind == RELAY__KIND_ACTOR) relay__actor_placed(t);
    }
}

void relay__sched_dispatch(void)
{
    dispatch();
}

void relay__sched_send(stask_t *t, int rank)
{
    send_task(t, rank);
}

static void make_ready(stask_t *t)
{
    relay__list_push_back(&t->shape->ready, &t->link);
}

/* ---------------------------------------------------------------------- */
/* Finishing tasks                                                          */
/* ---------------------------------------------------------------------- */

void relay__sched_unpin(stask_t *t)
{
    for (uint32_t i = 0; t->pinned && i < t->nargs; i++) {
        if (t->args[i].kind != RELAY_ARG_REF) continue;
        relay__dentry_t *e = relay__dir_lookup(t->args[i].ref);
        if (!e) continue;
        e->pins--;
        relay__dir_maybe_free(e);
    }
    t->pinned = 0;
}

/* ---------------------------------------------------------------------- */
/* Lineage: who submitted whom, for recursive cancels                       */
/* ---------------------------------------------------------------------- */

/* A task's parent (the task that submitted it) is in the task table when
 * the task arrives: the parent's rank sends its SUBMITs before its DONE,
 * and rank 0 handles one rank's records in order. A task that leaves the
 * table while tasks it submitted are pending leaves a link in the lineage
 * map: its id, and its nearest ancestor still in the table. A link's
 * parent is thus always a task in the table, which keeps its links on a
 * list: when it leaves in turn, they move up to its own nearest ancestor
 * in the table. With none there, no link is kept: a recursive cancel
 * starts from a task in the table and could not reach it. Every task and
 * link counts its children (nkids: pending tasks, and a task's links
 * too); a link goes with its last pending child. So every link is the
 * parent of a pending task: the map never holds more links than there are
 * pending tasks, however long the chain of finished tasks above them. */

/* The count of children of task or link id, or NULL: rank 0 keeps no
 * line for it (a rank's main thread, or a task gone without children). */
static uint32_t *kids_of(uint64_t id)
{
    if (!id) return NULL;
    stask_t *p = relay__map_get(&S()->tasks, id);
    if (p) return &p->nkids;
    relay__lineage_t *l = relay__map_get(&S()->lineage, id);
    return l ? &l->nkids : NULL;
}

/* The nearest ancestor in the task table of a task whose parent is id, or
 * NULL. */
static stask_t *live_ancestor(uint64_t id)
{
    if (!id) return NULL;
    stask_t *p = relay__map_get(&S()->tasks, id);
    if (p) return p;
    relay__lineage_t *l = relay__map_get(&S()->lineage, id);
    return l ? relay__map_get(&S()->tasks, l->parent) : NULL;
}

/* t, new in the task table, counts as its parent's child. */
static void lineage_join(stask_t *t)
{
    relay__list_init(&t->links);
    uint32_t *k = kids_of(t->parent);
    if (!k) return;
    ++*k;
    t->linked = 1;
}

/* l becomes a child of task up. */
static void link_adopt(stask_t *up, relay__lineage_t *l)
{
    if (!up->links.next) relay__list_init(&up->links); /* a task made by hand (unit tests) */
    relay__list_push_back(&up->links, &l->sib);
    l->parent = up->id;
    up->nkids++;
}

static void link_free(relay__lineage_t *l)
{
    relay__list_remove(&l->sib);
    relay__map_remove(&S()->lineage, l->id);
    free(l);
}

/* A pending child of task or link id is gone: a link with no child goes
 * too, and its parent (a task) has a child less. */
static void lineage_drop_kid(uint64_t id)
{
    stask_t *p = id ? relay__map_get(&S()->tasks, id) : NULL;
    if (p) {
        p->nkids--;
        return;
    }
    relay__lineage_t *l = id ? relay__map_get(&S()->lineage, id) : NULL;
    if (!l || --l->nkids > 0) return;
    stask_t *up = relay__map_get(&S()->tasks, l->parent);
    if (up) up->nkids--;
    link_free(l);
}

/* The links of t, leaving the table, move up to task up (NULL: none, and
 * they go). Returns how many there were. */
static uint32_t links_move(stask_t *t, stask_t *up)
{
    uint32_t n = 0;
    if (!relay__list_linked(&t->links)) return 0;
    relay__lineage_t *l;
    RELAY__LIST_EACH(&t->links, l, relay__lineage_t, sib)
    {
        n++;
        relay__list_remove(&l->sib);
        if (up)
            link_adopt(up, l);
        else
            link_free(l);
    }
    return n;
}

/* t has just left the task table: its links move up to its nearest
 * ancestor in the table, and a link for t stays there while tasks it
 * submitted are pending; its parent has a child less. */
static void lineage_leave(stask_t *t)
{
    uint64_t parent = t->linked ? t->parent : 0;
    t->linked = 0;
    stask_t *up = live_ancestor(parent);
    uint32_t moved = links_move(t, up);
    uint32_t pending = t->nkids > moved ? t->nkids - moved : 0;
    t->nkids = 0;
    if (pending > 0 && up) {
        relay__lineage_t *l = malloc(sizeof *l);
        if (l && relay__map_put(&S()->lineage, t->id, l) == 0) {
            *l = (relay__lineage_t){.id = t->id, .nkids = pending};
            link_adopt(up, l);
        } else {
            free(l); /* out of memory: a recursive cancel misses what is below */
            relay__log(RELAY__LOG_WARN, "out of memory: the children of task %#llx lose their line",
                       (unsigned long long)t->id);
        }
    }
    lineage_drop_kid(parent);
}

/* t is not kept for want of room: its live returns say so if lost. */
static void mark_unkept(const stask_t *t)
{
    for (uint32_t i = 0; i < t->nret; i++) {
        relay__dentry_t *e = relay__dir_lookup(t->id | i);
        if (e) e->unkept = 1;
    }
}

/* A task that made objects held on other ranks stays (off the table, its
 * arguments unpinned) while one of them lives: should that rank be lost,
 * it runs again to make them (relay__sched_remake). Only where a rank can
 * be found lost (detection on, other ranks), and up to
 * RELAY__LINEAGE_MAX_BYTES of kept tasks. */
static int keep_lineage(stask_t *t)
{
    relay__sched_t *s = S();
    if (!t->remote_rets || t->kind != RELAY__KIND_TASK || t->cancelled || t->fail_status) return 0;
    if (relay__g.cfg.rank_timeout <= 0 || relay__g.size < 2) return 0;
    if (s->kept_bytes + t->bytes > RELAY__LINEAGE_MAX_BYTES) {
        mark_unkept(t);
        return 0;
    }
    if (relay__map_put(&s->kept, t->id, t) != 0) return 0;
    s->kept_bytes += t->bytes;
    return 1;
}

/* Kept task t leaves kept (freed, or made again). */
static stask_t *unkeep(uint64_t tid)
{
    relay__sched_t *s = S();
    stask_t *t = relay__map_remove(&s->kept, tid);
    if (t) s->kept_bytes -= t->bytes;
    return t;
}

void relay__sched_lineage_stats(uint64_t *tasks_p, uint64_t *bytes_p)
{
    relay__sched_t *s = S();
    *tasks_p = s ? s->kept.count : 0;
    *bytes_p = s ? s->kept_bytes : 0;
}

/* Drop t: its arguments are no longer pinned. A task placed ahead may
 * finish before rank 0 hears that its inputs are made: it stays, holding
 * nothing, until they are (the directory's lists of dependents name it). */
static void task_retire(stask_t *t)
{
    if (t->cancelled) drop_deps(t); /* nothing to wait for: it is over */
    if (t->missing > 0) {
        t->done_early = 1;
        return;
    }
    if (relay__map_remove(&S()->tasks, t->id) == t) lineage_leave(t);
    relay__sched_unpin(t);
    if (!keep_lineage(t)) task_free(t);
}

/* Whether task_fail logs t's failure itself: a task with no returns (a
 * constructor aside: its actor's death tells) has nothing else to carry
 * it. */
static int fail_logged_here(const stask_t *t)
{
    return t->nret == 0 && t->kind != RELAY__KIND_ACTOR && !S()->shutting_down;
}

/* The log line of a failed task with no returns, once, after its last
 * attempt. Asked for (relay_cancel, relay_actor_kill): not an error. */
static void log_failure(const stask_t *t, int status, const char *msg)
{
    int asked = status == RELAY_ERR_CANCELLED ||
                (status == RELAY_ERR_ACTOR_DEAD && t->actor && t->actor->killed);
    relay__log(asked ? RELAY__LOG_INFO : RELAY__LOG_ERROR,
               "task '%s' (function '%s', no returns) %s: %s", t->name, t->fn,
               status == RELAY_ERR_CANCELLED ? "was cancelled" : "failed", msg);
}

/* Every return of t becomes an error object (fail_logged_here: a log line
 * instead). */
static void task_fail(stask_t *t, int status, const char *msg)
{
    if (fail_logged_here(t)) log_failure(t, status, msg);
    struct relay_object *err = relay__obj_new_error(0, status, msg);
    if (!err) abort();
    for (uint32_t i = 0; i < t->nret; i++) {
        relay__dentry_t *e = relay__dir_lookup(t->id | i);
        if (e && !e->ready) relay__dir_set_ready(e, err, -1, 0, NULL, 0, NULL);
    }
    relay__obj_unref(err);
    task_retire(t);
}

void relay__sched_task_fail(stask_t *t, int status, const char *msg)
{
    task_fail(t, status, msg);
}

void relay__sched_retire(stask_t *t)
{
    task_retire(t);
}

void relay__sched_fail_ready(stask_t *t, int status, const char *msg)
{
    if (!relay__list_linked(&t->link)) return; /* not queued: nothing to fail here */
    relay__list_remove(&t->link);
    if (!fail_logged_here(t)) relay__log(RELAY__LOG_WARN, "%s", msg); /* else task_fail logs */
    task_fail(t, status, msg);
}

/* Ask t's rank to fail t with status and msg if it has not started. */
static void post_cancel(const stask_t *t, int status, const char *msg)
{
    relay__rec_cancel_t m = {t->id, status, msg};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(t->rank, RELAY__R_CANCEL, &start);
    relay__rec_cancel_encode(w, &m);
    relay__msg_end(t->rank, w, start);
}

static void cancel(stask_t *t, int status, const char *msg)
{
    if (t->cancelling || t->rank < 0) return;
    t->cancelling = 1;
    post_cancel(t, status, msg);
}

void relay__sched_cancel(stask_t *t, int status, const char *msg)
{
    if (t->cancelling || t->rank < 0) return;
    relay__log(RELAY__LOG_WARN, "%s", msg);
    cancel(t, status, msg);
}

void relay__sched_dep_ready(stask_t *t, relay__dentry_t *e)
{
    if (e->obj && e->obj->status != RELAY_OK && !t->fail_status) {
        char head[RELAY_MAX_NAME + 64];
        snprintf(head, sizeof head, "task '%s' was not run: its argument %#llx failed", t->name,
                 (unsigned long long)e->id);
        t->fail_status =
            e->obj->status == RELAY_ERR_DEADLOCK ? RELAY_ERR_DEADLOCK : RELAY_ERR_TASK_FAILED;
        /* The argument's error is a chain of causes: kept whole, bounded. */
        t->fail_msg = relay__errjoin(head, ": ", e->obj->errmsg);
    }
    if (t->ahead) ahead_forward(t, e);
    if (--t->missing > 0) return;
    if (t->done_early) {
        task_retire(t);
        return;
    }
    if (t->kind == RELAY__KIND_METHOD) {
        relay__actor_call_ready(t); /* in order behind its caller's earlier calls */
        return;
    }
    const char *why = t->fail_msg ? t->fail_msg : "a dependency failed";
    if (t->fail_status && t->rank >= 0) {
        cancel(t, t->fail_status, why); /* placed ahead: its rank fails it */
    } else if (t->fail_status) {
        task_fail(t, t->fail_status, why);
    } else if (t->rank >= 0) {
        start_ahead(t); /* already there; it may have started */
    } else {
        make_ready(t);
        dispatch();
    }
}

/* ---------------------------------------------------------------------- */
/* relay_cancel                                                             */
/* ---------------------------------------------------------------------- */

/* t no longer waits for its arguments in the directory's lists. */
static void drop_deps(stask_t *t)
{
    for (uint32_t i = 0; t->missing > 0 && i < t->nargs; i++) {
        if (t->args[i].kind != RELAY_ARG_REF) continue;
        relay__dentry_t *e = relay__dir_lookup(t->args[i].ref);
        if (e && !e->ready) t->missing -= (int)relay__dir_drop_dep(e, t);
    }
}

/* t, cancelled and on no rank (queued here, on its actor's stream, or
 * waiting for its arguments), fails at once holding nothing. */
static void cancel_here(stask_t *t)
{
    char msg[400];
    snprintf(msg, sizeof msg, "task '%s' (function '%s') was cancelled before it started", t->name,
             t->fn);
    relay__list_remove(&t->link);
    drop_deps(t);
    if (t->kind == RELAY__KIND_METHOD)
        relay__actor_call_dropped(t, RELAY_ERR_CANCELLED, msg); /* its caller's next calls go */
    else
        task_fail(t, RELAY_ERR_CANCELLED, msg);
}

/* Cancel t: failed here if no rank has it; else its rank drops it if it
 * has not started, or flags it (a running method runs on untouched). The
 * rank's DONE then ends it like any other; a DONE that crossed the CANCEL
 * stands. */
static void cancel_one(stask_t *t)
{
    if (t->cancelled || t->done_early || t->kind == RELAY__KIND_ACTOR) return;
    t->cancelled = 1;
    t->retries_left = 0;
    if (t->rank < 0) {
        cancel_here(t);
        return;
    }
    char msg[400];
    snprintf(msg, sizeof msg,
             "task '%s' (function '%s') was cancelled before it started on rank %d", t->name, t->fn,
             t->rank);
    if (t->kind == RELAY__KIND_TASK) t->cancelling = 1; /* not moved, not recalled any more */
    post_cancel(t, RELAY_ERR_CANCELLED, msg);
}

/* Task and link ids, growing. */
typedef struct idvec {
    uint64_t *v;
    size_t n, cap;
} idvec_t;

/* 0, or -1 when out of memory. */
static int idvec_push(idvec_t *a, uint64_t id)
{
    if (a->n == a->cap) {
        size_t c = a->cap ? 2 * a->cap : 16;
        uint64_t *v = realloc(a->v, c * sizeof *v);
        if (!v) return -1;
        a->v = v;
        a->cap = c;
    }
    a->v[a->n++] = id;
    return 0;
}

/* A recursive cancel's tree: the ids under its root, each after its
 * parent, and what is known of every task or link met so far. */
enum { TREE_IN = 1, TREE_OUT, TREE_CLIMBING };
typedef struct tree {
    relay__map_t mark; /* id -> TREE_* */
    idvec_t in, path;
} tree_t;

/* The parent of task or link id, or 0: rank 0 keeps no line for it. */
static uint64_t parent_of(uint64_t id)
{
    stask_t *t = relay__map_get(&S()->tasks, id);
    if (t) return t->parent;
    relay__lineage_t *l = relay__map_get(&S()->lineage, id);
    return l ? l->parent : 0;
}

/* Whether id is in the tree: climbs its parents up to one already known
 * (or none), then marks every id climbed alike, so that no climb passes
 * them again and the whole tree costs one look at each task and link. A
 * loop of parents (malformed) is out. 0, or -1 when out of memory. */
static int tree_climb(tree_t *tr, uint64_t id)
{
    uintptr_t known = TREE_OUT;
    tr->path.n = 0;
    for (; id; id = parent_of(id)) {
        known = (uintptr_t)relay__map_get(&tr->mark, id);
        if (known) break;
        known = TREE_OUT;
        if (idvec_push(&tr->path, id) != 0 ||
            relay__map_put(&tr->mark, id, (void *)(uintptr_t)TREE_CLIMBING) != 0)
            return -1;
    }
    if (known == TREE_CLIMBING) known = TREE_OUT;
    for (size_t i = tr->path.n; i-- > 0;) { /* the oldest first */
        uint64_t p = tr->path.v[i];
        if (relay__map_put(&tr->mark, p, (void *)known) != 0) return -1;
        if (known == TREE_IN && idvec_push(&tr->in, p) != 0) return -1;
    }
    return 0;
}

/* Fill tr->in with root and, when recursive, every task and link below
 * it: its pending descendants, through the links of those that finished,
 * each after its parent. 0, or -1 when out of memory (tr->in then holds
 * part of them). */
static int tree_build(tree_t *tr, stask_t *root, int recursive)
{
    if (idvec_push(&tr->in, root->id) != 0 ||
        relay__map_put(&tr->mark, root->id, (void *)(uintptr_t)TREE_IN) != 0)
        return -1;
    if (!recursive || !root->nkids) return 0;
    stask_t *t;
    RELAY__MAP_EACH(&S()->tasks, t)
    {
        if (tree_climb(tr, t->id) != 0) return -1;
    }
    relay__lineage_t *l;
    RELAY__MAP_EACH(&S()->lineage, l)
    {
        if (tree_climb(tr, l->id) != 0) return -1;
    }
    return 0;
}

/* Cancel root and, when recursive, every pending task it submitted,
 * transitively, through the links of those that finished (one pass over
 * the tasks and links, whatever the depth). Plain tasks among them also
 * cancel, on arrival, the tasks they submit from now on; running actor
 * calls are left alone and do not. Tasks are looked up again by id:
 * failing one may fail and free its dependents. */
static void cancel_tree(stask_t *root, int recursive)
{
    tree_t tr = {0};
    relay__map_init(&tr.mark);
    if (tree_build(&tr, root, recursive) != 0)
        relay__log(RELAY__LOG_ERROR, "out of memory: not every child of a cancelled task is");
    for (size_t i = 0; i < tr.in.n; i++) {
        stask_t *t = relay__map_get(&S()->tasks, tr.in.v[i]);
        if (!t) continue; /* a link, or failed with an earlier one */
        if (recursive && t->kind == RELAY__KIND_TASK) t->cancel_kids = 1;
        cancel_one(t);
    }
    relay__map_destroy(&tr.mark);
    free(tr.in.v);
    free(tr.path.v);
}

/* The status relay_cancel answers for ref id, cancelling its maker. */
static int abort_task(int src, const relay__rec_abort_t *m)
{
    stask_t *t = maker_of(m->id);
    if (!t || t->kind == RELAY__KIND_ACTOR || relay__id_index(m->id) >= t->nret) {
        relay__dentry_t *e = relay__dir_lookup(m->id);
        if (!e) return RELAY_ERR_INVALID_REF;
        return e->put ? RELAY_ERR_INVALID_ARG : RELAY_OK; /* finished: nothing to do */
    }
    if ((m->flags & RELAY__ABORT_FORCE) && t->kind == RELAY__KIND_METHOD)
        return RELAY_ERR_INVALID_ARG;
    relay__log(RELAY__LOG_INFO, "rank %d cancels task '%s' (%#llx)%s", src, t->name,
               (unsigned long long)t->id,
               m->flags & RELAY__ABORT_RECURSIVE ? " and the tasks it submitted" : "");
    cancel_tree(t, m->flags & RELAY__ABORT_RECURSIVE);
    return RELAY_OK;
}

void relay__sched_on_abort(int src, relay__rbuf_t *r)
{
    relay__rec_abort_t m;
    if (relay__rec_abort_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_ABORT, src, r);
        return;
    }
    relay__post_reply(src, m.req, abort_task(src, &m));
    if (may_deadlock(S())) S()->check_due = 1;
    dispatch();
}

/* ---------------------------------------------------------------------- */
/* Handlers                                                                 */
/* ---------------------------------------------------------------------- */

/* The shape for d: an existing one, or a new one. NULL when out of memory. */
static shape_t *shape_of(const relay__demand_t *d)
{
    relay__sched_t *s = S();
    if (relay__demand_is_default(d)) return s->dflt;
    shape_t *sh;
    RELAY__LIST_EACH(&s->shapes, sh, shape_t, link)
    {
        const relay__demand_t *x = &sh->d;
        if (x->cpu == d->cpu && x->gpu == d->gpu && x->ncustom == d->ncustom &&
            !memcmp(x->custom, d->custom, d->ncustom * sizeof d->custom[0]))
            return sh;
    }
    sh = calloc(1, sizeof *sh);
    if (!sh) return NULL;
    sh->d = *d;
    relay__list_init(&sh->ready);
    relay__list_push_front(&s->shapes, &sh->link);
    return sh;
}

/* A task from a decoded SUBMIT; NULL when out of memory. One allocation
 * holds the task, its argument table, its names and its argument values,
 * copied once out of the record. */
static stask_t *task_new(int src, const relay__rec_submit_t *m)
{
    size_t fn_len = strlen(m->fn) + 1, name_len = strlen(m->name) + 1;
    size_t actor_len = m->actor_name ? strlen(m->actor_name) + 1 : 0;
    size_t vlen = (size_t)(m->args.enc.end - m->args.enc.p);
    shape_t *sh = m->has_demand ? shape_of(&m->demand) : S()->dflt;
    size_t bytes =
        sizeof(stask_t) + m->args.n * sizeof(relay__sarg_t) + fn_len + name_len + actor_len + vlen;
    stask_t *t = sh ? calloc(1, bytes) : NULL;
    if (!t) return NULL;
    t->bytes = bytes;
    t->args = (relay__sarg_t *)(t + 1);
    t->fn = (char *)(t->args + m->args.n);
    t->name = t->fn + fn_len;
    t->values = t->name + name_len + actor_len;
    memcpy(t->fn, m->fn, fn_len);
    memcpy(t->name, m->name, name_len);
    if (actor_len) t->actor_name = memcpy(t->name + name_len, m->actor_name, actor_len);
    memcpy(t->values, m->args.enc.p, vlen);
    relay__rbuf_t it;
    relay__rbuf_init(&it, t->values, vlen);
    for (uint32_t i = 0; i < m->args.n; i++) {
        relay__rec_arg_t a;
        relay__rec_submit_arg_next(&it, &a);
        t->args[i] = (relay__sarg_t){a.kind, a.ref, a.data, (size_t)a.size};
    }
    t->id = m->task_id;
    t->fn_hash = m->fn_hash;
    t->nret = m->nret;
    t->retries_left = m->retries;
    t->nargs = m->args.n;
    t->submitter = src;
    t->rank = -1;
    t->shape = sh;
    sh->ntasks++;
    t->kind = m->kind;
    t->req = m->req;
    t->max_conc = m->max_conc;
    t->keeps_cpu = m->keeps_cpu;
    t->caller = m->caller;
    t->actor_id = m->actor_id;
    t->class_hash = m->class_hash;
    t->parent = m->parent;
    return t;
}

/* Whether a well-formed SUBMIT may become a task: the id is the sender's
 * and new (its returns too), its resources exist. Logs why not. */
static int submit_acceptable(int src, const relay__rec_submit_t *m)
{
    relay__sched_t *s = S();
    unsigned long long id = (unsigned long long)m->task_id;
    if (relay__id_rank(m->task_id) != src) {
        relay__log(RELAY__LOG_ERROR, "rank %d submitted task %#llx, an id of rank %d: dropped", src,
                   id, relay__id_rank(m->task_id));
        return 0;
    }
    int taken = relay__map_get(&s->tasks, m->task_id) || relay__actor_find(m->task_id);
    for (uint32_t i = 0; i < m->nret && !taken; i++)
        taken = relay__dir_lookup(m->task_id | i) != NULL;
    if (taken) {
        relay__log(RELAY__LOG_ERROR, "rank %d submitted task %#llx, whose id is in use: dropped",
                   src, id);
        return 0;
    }
    if (m->has_demand && !relay__demand_feasible(&m->demand)) {
        relay__log(RELAY__LOG_ERROR,
                   "rank %d submitted task %#llx, which asks for resources no rank has: dropped",
                   src, id);
        return 0;
    }
    return 1;
}

static int runnable_or_lost(const stask_t *t, char *msg, size_t n);
static void task_arm(stask_t *t);

/* RELAY_ERR_CANCELLED (msg set) for a plain task whose parent was
 * cancelled recursively: submitted while the cancel travelled or after
 * it, it never runs. Actor calls still go: a cancelled task may report
 * to an actor as it ends. 0 otherwise. */
static int cancelled_on_arrival(stask_t *t, char *msg, size_t n)
{
    const stask_t *p = t->parent ? relay__map_get(&S()->tasks, t->parent) : NULL;
    if (!p || !p->cancel_kids || t->kind != RELAY__KIND_TASK) return 0;
    snprintf(msg, n,
             "task '%s' (function '%s') was cancelled before it started: task '%s' (%#llx), "
             "which submitted it, was cancelled with its children",
             t->name, t->fn, p->name, (unsigned long long)p->id);
    t->cancelled = 1;
    return RELAY_ERR_CANCELLED;
}

void relay__sched_on_submit(int src, relay__rbuf_t *r)
{
    relay__sched_t *s = S();
    relay__rec_submit_t m;
    if (relay__rec_submit_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_SUBMIT, src, r);
        return;
    }
    if (!submit_acceptable(src, &m)) return;
    stask_t *t = task_new(src, &m);
    if (!t || relay__map_put(&s->tasks, t->id, t) != 0) {
        relay__log(RELAY__LOG_ERROR, "out of memory for task %#llx of rank %d: dropped",
                   (unsigned long long)m.task_id, src);
        if (t) task_free(t);
        return;
    }
    lineage_join(t);
    t->seq = ++s->next_seq;
    for (uint32_t i = 0; i < t->nret; i++)
        if (!relay__dir_add_pending(t->id | i)) abort();
    /* The actor exists (and its name is answered) whatever happens next. */
    char msg[1100];
    int rc = t->kind == RELAY__KIND_ACTOR ? relay__actor_on_create(t, src, msg, sizeof msg) : 0;
    /* An unknown ref argument fails the task before anything is pinned. */
    for (uint32_t i = 0; i < t->nargs && !rc; i++) {
        if (t->args[i].kind == RELAY_ARG_REF && !relay__dir_lookup(t->args[i].ref)) {
            snprintf(msg, sizeof msg,
                     "task '%s' was not run: argument %u is ref %#llx, unknown or already "
                     "released",
                     t->name, i, (unsigned long long)t->args[i].ref);
            rc = RELAY_ERR_INVALID_REF;
        }
    }
    if (!rc) rc = cancelled_on_arrival(t, msg, sizeof msg);
    if (!rc && relay__g.ranks_lost) rc = runnable_or_lost(t, msg, sizeof msg);
    /* A call queues behind its caller's earlier calls to the actor. */
    if (!rc && t->kind == RELAY__KIND_METHOD) rc = relay__actor_on_call(t, msg, sizeof msg);
    if (rc) {
        task_fail(t, rc, msg);
        return;
    }
    task_arm(t);
}

/* t, new in the table, waits for its arguments (pinned), placed ahead when
 * some are not made yet, or goes ready. */
static void task_arm(stask_t *t)
{
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
    if (t->missing > 1) place_ahead(t);
    relay__dentry_t none = {0};
    relay__sched_dep_ready(t, &none);
}

/* Whether the return id is an object held on a rank that the directory
 * still has: freeing it will call relay__sched_output_freed. */
static int remote_alive(uint64_t id)
{
    const relay__dentry_t *e = relay__dir_lookup(id);
    return e && e->ready && !e->obj && e->holder_rank >= 0 && !e->put;
}

/* One return of a DONE record: make its entry ready. */
static void record_return(int src, const relay__desc_t *d, uint64_t id)
{
    relay__dentry_t *e = id ? relay__dir_lookup(id) : NULL;
    if (!e || e->ready) return;
    if (!d->is_inline) {
        uint64_t small[16], *refs = d->nrefs <= 16 ? small : malloc(d->nrefs * sizeof *refs);
        if (!refs) abort();
        for (uint32_t i = 0; i < d->nrefs; i++)
            refs[i] = relay__desc_ref(d, i);
        relay__dir_set_ready(e, NULL, src, d->size, refs, d->nrefs,
                             d->has_array ? &d->array : NULL);
        if (refs != small) free(refs);
        return;
    }
    struct relay_object *o = relay__obj_from_desc(id, d);
    if (!o) o = relay__dir_oom_object(id, d->size);
    relay__dir_set_ready(e, o, -1, 0, NULL, 0, NULL);
    relay__obj_unref(o);
}

/* Failures that another attempt cannot mend. */
static int retryable(int status)
{
    return status != RELAY_ERR_DEADLOCK && status != RELAY_ERR_SHUTDOWN &&
           status != RELAY_ERR_ACTOR_DEAD && status != RELAY_ERR_CANCELLED;
}

static void recall(stask_t *t)
{
    t->recalling = 1;
    relay__rec_recall_t m = {t->id, 0};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(t->rank, RELAY__R_RECALL, &start);
    relay__rec_recall_encode(w, &m);
    relay__msg_end(t->rank, w, start);
}

void relay__sched_unplace(stask_t *t)
{
    if (!t->ahead || t->recalling || t->cancelling) return;
    t->unplacing = 1;
    recall(t);
}

/* t, placed ahead and given back by its rank before it started, waits at
 * rank 0 again holding nothing. */
static void unplace(stask_t *t)
{
    relay__sched_t *s = S();
    acct_t *a = &s->acct[t->rank];
    const relay__demand_t *d = &t->shape->d;
    a->ahead_cpu -= d->cpu;
    s->ahead_holders -= d->ncustom > 0;
    for (uint32_t i = 0; i < d->ncustom; i++)
        a->custom_free[d->custom[i].idx] += d->custom[i].units;
    t->ahead = t->recalling = t->unplacing = 0;
    t->no_ahead = 1;
    t->rank = -1;
}

/* Rank idle has a CPU that no ready task took: take back a task placed
 * ahead on a rank that counts more running tasks than it has CPUs (so
 * some wait in its queue), the newest first, to run it on idle. One
 * RECALL at a time per idle rank; the rank answers whether it had started
 * it. Never one that idle keeps a starving task's resources from, as
 * dispatch would: it would only go back to the end of a queue. */
static void maybe_steal(int idle)
{
    relay__sched_t *s = S();
    acct_t *a = &s->acct[idle];
    if (s->shutting_down || a->stealing || a->cpu_used + RELAY__UNIT > a->cpu_cap) return;
    const stask_t *starving = NULL;
    int looked = 0; /* for a starving task: only once a task fits */
    for (int r = 0; r < relay__g.size; r++) {
        acct_t *b = &s->acct[r];
        if (r == idle || b->cpu_used <= b->cpu_cap) continue;
        for (relay__list_t *n = relay__list_last(&b->placed); n;
             n = relay__list_prev(&b->placed, n)) {
            stask_t *t = RELAY__LIST_ENTRY(n, stask_t, placed);
            if (t->recalling || t->runs_there || t->cancelling || t->blocked ||
                !fits(&t->shape->d, idle, 0))
                continue;
            if (!looked++) starving = dispatch_starving();
            if (reserved(t, idle, starving)) continue;
            t->steal_for = idle;
            a->stealing = t->id;
            recall(t);
            return;
        }
    }
}

void relay__sched_on_done(int src, relay__rbuf_t *r)
{
    relay__sched_t *s = S();
    relay__rec_done_t m;
    if (relay__rec_done_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_DONE, src, r);
        return;
    }
    stask_t *t = relay__map_get(&s->tasks, m.task_id);
    int known = t && t->rank == src;
    if (known && m.status == RELAY_OK && m.rets.n != t->nret) {
        relay__log(RELAY__LOG_ERROR, "rank %d finished task %#llx with %u returns, not %u: dropped",
                   src, (unsigned long long)m.task_id, m.rets.n, t->nret);
        return;
    }
    const char *msg = m.msg;
    s->avg_run_seconds += (m.run_ns * 1e-9 + 1e-7 - s->avg_run_seconds) / 16;
    if (known) start_ahead(t); /* it ran before rank 0 knew its inputs were made */
    if (known && t->kind == RELAY__KIND_ACTOR && relay__actor_built(t, m.status, msg)) {
        s->running--;     /* the actor keeps the resources of its constructor's task */
        lineage_leave(t); /* its body left the task table */
        known = 0;
    } else if (known) {
        unreserve(t, 1);
    } else if (!s->shutting_down) {
        relay__log(RELAY__LOG_WARN, "rank %d finished unknown task %#llx", src,
                   (unsigned long long)m.task_id);
    }
    /* Returns are recorded before the task's own releases: they may contain
     * the refs it released. A failed task encodes no returns. */
    relay__rbuf_t it = m.rets.enc;
    stamp_delivered(&m.delivered);
    for (uint32_t i = 0; i < m.rets.n; i++) {
        relay__desc_t d;
        relay__rec_done_ret_next(&it, &d);
        record_return(src, &d, known ? m.task_id | i : 0);
        /* Counted once made ready and still there: an entry no ref holds
         * any more is freed at once (relay__sched_output_freed then found
         * nothing to count down). Returns that survived a remake count
         * again here. */
        if (known && m.status == RELAY_OK && remote_alive(m.task_id | i)) t->remote_rets++;
    }
    done_stamp++; /* nothing else counts as delivered */
    if (known && m.status != RELAY_OK && t->retries_left > 0 && retryable(m.status) &&
        !t->fail_status) {
        t->retries_left--;
        t->attempt++;
        relay__log(RELAY__LOG_INFO, "retrying: %s", msg);
        if (!t->missing) make_ready(t); /* else once its inputs are known made */
    } else if (known && m.status != RELAY_OK) {
        /* A call its actor's rank refused: rank 0 knows why it died. */
        if (t->kind == RELAY__KIND_METHOD && m.status == RELAY_ERR_ACTOR_DEAD && t->actor &&
            t->actor->dead_msg)
            msg = t->actor->dead_msg;
        task_fail(t, m.status, msg);
    } else if (known) {
        task_retire(t);
    }
    for (uint32_t i = 0; i < m.released.n; i++) {
        relay__dentry_t *e = relay__dir_lookup(relay__ids_at(&m.released, i));
        if (!e || e->holders <= 0) continue;
        e->holders--;
        relay__dir_maybe_free(e);
    }
    if (may_deadlock(s)) s->check_due = 1; /* a cancelled task may be back */
    dispatch();
    maybe_steal(src);
}

/* t queues in its shape's ready queue by arrival, ahead of the tasks
 * that came after it. Taking the head's place, it also takes its clock:
 * the shape has waited that long (starving_head). */
static void ready_by_seq(stask_t *t)
{
    shape_t *sh = t->shape;
    stask_t *head = ready_head(sh), *q;
    relay__list_t *pos = &sh->ready;
    RELAY__LIST_EACH(&sh->ready, q, stask_t, link)
    {
        if (q->seq > t->seq) break;
        pos = &q->link;
    }
    relay__list_insert_after(pos, &t->link);
    if (head && pos == &sh->ready && sh->head_seq == head->seq) sh->head_seq = t->seq;
}

/* t, taken back from its rank's queue for the idle rank steal_for: it
 * goes there if that rank may still take it, else (the reservation began
 * meanwhile, or another task took the CPU) into its shape's queue here,
 * by arrival: placed ahead, it skipped that queue, where older tasks of
 * its shape may still wait; younger ones it goes before. Dispatch may
 * then send it back to its old rank (which holds its inputs), to the end
 * of the queue it left. */
static void steal_land(stask_t *t)
{
    int r = t->steal_for;
    if (r >= 0 && r < relay__g.size && may_take(t, r, dispatch_starving())) {
        reserve(t, r);
        send_task(t, r);
        return;
    }
    ready_by_seq(t);
}

void relay__sched_on_recalled(int src, relay__rbuf_t *r)
{
    relay__sched_t *s = S();
    relay__rec_recall_t m;
    if (relay__rec_recalled_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_RECALLED, src, r);
        return;
    }
    for (int k = 0; k < relay__g.size; k++)
        if (s->acct[k].stealing == m.task_id) s->acct[k].stealing = 0;
    stask_t *t = relay__map_get(&s->tasks, m.task_id);
    if (!t || t->rank != src || !t->recalling) {
        /* It finished (or failed) before the RECALL got there. */
        relay__log(RELAY__LOG_DEBUG, "rank %d answered a recall of task %#llx, gone since", src,
                   (unsigned long long)m.task_id);
        return;
    }
    if (!m.taken) { /* it started there: its DONE follows */
        t->recalling = t->unplacing = 0;
        t->runs_there = 1;
        if (!t->ahead) maybe_steal(t->steal_for); /* another may still be queued */
        return;
    }
    /* Back here: placed again like any ready task once its inputs are
     * made, with them as the directory knows them (the copies its old rank
     * got are dropped). */
    int stolen = !t->ahead;
    if (t->ahead)
        unplace(t);
    else
        unreserve(t, 1);
    relay__g.tasks_moved++;
    if (t->cancelled)
        cancel_here(t); /* cancelled while the RECALL travelled: it never runs */
    else if (!t->missing && stolen)
        steal_land(t);
    else if (!t->missing)
        make_ready(t);
    dispatch();
}

/* The running task of a BLOCK/UNBLOCK record, or NULL (logged). */
static stask_t *running_task(int src, uint64_t id, const char *what)
{
    stask_t *t = relay__map_get(&S()->tasks, id);
    if (t && t->rank == src) return t;
    if (!S()->shutting_down)
        relay__log(RELAY__LOG_WARN, "rank %d: %s of task %#llx, which does not run there", src,
                   what, (unsigned long long)id);
    return NULL;
}

void relay__sched_on_block(int src, relay__rbuf_t *r)
{
    relay__sched_t *s = S();
    relay__rec_block_t m;
    if (relay__rec_block_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_BLOCK, src, r);
        return;
    }
    stask_t *t = running_task(src, m.task_id, "block");
    if (t) start_ahead(t);
    /* A method gives back its actor's CPUs: its body holds them. */
    stask_t *acc = t && t->kind == RELAY__KIND_METHOD ? (t->actor ? t->actor->body : NULL) : t;
    if (!t || (m.released && (!acc || m.released > acc->cpu_held))) return;
    blocked_clear(t);
    relay__blocked_t *b = malloc(sizeof *b + (size_t)m.ids.n * 8);
    if (!b) {
        relay__log(RELAY__LOG_ERROR, "out of memory recording a blocked task");
        abort();
    }
    b->answered = m.answered;
    b->k = m.k;
    b->n = m.ids.n;
    memcpy(b->ids, m.ids.v, (size_t)m.ids.n * 8);
    s->acct[src].cpu_used -= m.released;
    if (acc) acc->cpu_held -= m.released;
    /* Only a blocked task keeping something another task may need can be
     * part of a deadlock; a method keeps its actor's thread, too. */
    b->holding = !m.answered && (t->kind == RELAY__KIND_METHOD ||
                                 (acc && (acc->ngpu || acc->shape->d.ncustom || acc->cpu_held)));
    s->blocked_holders += (uint64_t)b->holding;
    t->blocked = b;
    if (may_deadlock(s)) s->check_due = 1;
    dispatch();
}

void relay__sched_on_unblock(int src, relay__rbuf_t *r)
{
    relay__rec_unblock_t m;
    if (relay__rec_unblock_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_UNBLOCK, src, r);
        return;
    }
    stask_t *t = running_task(src, m.task_id, "unblock");
    if (t) start_ahead(t);
    stask_t *acc = t && t->kind == RELAY__KIND_METHOD ? (t->actor ? t->actor->body : NULL) : t;
    if (!t) return;
    blocked_clear(t);
    if (!acc || acc->cpu_held + m.taken > acc->shape->d.cpu) return;
    S()->acct[src].cpu_used += m.taken;
    acc->cpu_held += m.taken;
}

void relay__sched_on_sync(int src, relay__rbuf_t *r)
{
    relay__rec_req_id_t m;
    if (relay__rec_sync_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_SYNC, src, r);
        return;
    }
    relay__post_reply(src, m.req, RELAY_OK);
}

/* Rank r's free resources added to units (relay__sched_available's layout). */
static void add_free(int r, int64_t *units)
{
    const acct_t *a = &S()->acct[r];
    uint32_t ncustom = relay__cluster()->ncustom;
    /* Queued tasks are promised CPUs beyond the capacity: none is free. */
    units[0] += a->cpu_used < a->cpu_cap ? a->cpu_cap - a->cpu_used : 0;
    for (int g = 0; g < a->ngpu; g++)
        units[1] += a->gpu_free[g];
    for (uint32_t i = 0; i < ncustom; i++)
        units[2 + i] += a->custom_free[i];
}

int relay__sched_available(int rank, int64_t *units)
{
    memset(units, 0, (2 + (size_t)relay__cluster()->ncustom) * sizeof *units);
    if (rank >= 0) {
        if (relay__comm_rank_lost(rank)) return RELAY_ERR_RANK_LOST;
        add_free(rank, units);
        return RELAY_OK;
    }
    for (int r = 0; r < relay__g.size; r++)
        if (!relay__comm_rank_lost(r)) add_free(r, units);
    return RELAY_OK;
}

static void on_resources_query(int src, relay__rbuf_t *r)
{
    relay__rec_res_query_t m;
    if (relay__rec_res_query_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_RESOURCES_QUERY, src, r);
        return;
    }
    uint32_t ncustom = relay__cluster()->ncustom;
    int64_t *units = malloc((2 + (size_t)ncustom) * sizeof *units);
    relay__rec_res_reply_t rep = {m.req, RELAY_ERR_NO_MEMORY, 0, 0, 0, NULL};
    if (units && (rep.status = relay__sched_available(m.rank, units)) == RELAY_OK) {
        rep.cpu = units[0];
        rep.gpu = units[1];
        rep.ncustom = ncustom;
        rep.custom = units + 2;
    }
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(src, RELAY__R_RESOURCES_REPLY, &start);
    relay__rec_res_reply_encode(w, &rep);
    relay__msg_end(src, w, start);
    free(units);
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

/* EXIT to every rank, once: after rank 0 gave up waiting, a late ack
 * must not send a second to a rank that may have left MPI. */
static void send_exit(relay__sched_t *s)
{
    if (s->exit_sent) return;
    s->exit_sent = 1;
    for (int k = 0; k < relay__g.size; k++) {
        size_t start;
        relay__wbuf_t *w = relay__msg_begin(k, RELAY__R_EXIT, &start);
        relay__msg_end(k, w, start);
    }
}

/* Every rank acknowledged the shutdown (a lost one counts as having):
 * they may all leave their loops. */
static void maybe_exit(void)
{
    relay__sched_t *s = S();
    if (!s->shutting_down || s->acks < relay__g.size) return;
    send_exit(s);
}

void relay__sched_on_shutdown_ack(int src, relay__rbuf_t *r)
{
    relay__sched_t *s = S();
    if (relay__rec_empty_decode(r) != 0) {
        relay__rec_malformed(RELAY__R_SHUTDOWN_ACK, src, r);
        return;
    }
    /* Every rank acknowledges once, after rank 0 began shutting down: an
     * extra ack must not end the job while a rank still works. */
    if (!s->shutting_down || s->acked[src]) {
        relay__log(RELAY__LOG_ERROR, "rank %d acknowledged a shutdown %s: dropped", src,
                   s->shutting_down ? "twice" : "not begun");
        return;
    }
    s->acked[src] = 1;
    s->acks++;
    maybe_exit();
}

void relay__sched_unacked(char *buf, size_t n)
{
    relay__sched_t *s = S();
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < relay__g.size && used < n; k++) {
        if (s->acked[k]) continue;
        int w = snprintf(buf + used, n - used, "%s%d", used ? ", " : "", k);
        used += w > 0 ? (size_t)w : 0;
    }
}

int relay__sched_abandon(double waited_s, char *buf, size_t n)
{
    relay__sched_t *s = S();
    int count = 0;
    size_t used = 0;
    buf[0] = '\0';
    if (s->exit_sent) return 0;
    relay__stask_t *t;
    RELAY__MAP_EACH(&s->tasks, t)
    {
        /* Dispatched to a rank still busy: it started there (a rank
         * reports each task it drops from its queue at SHUTDOWN, before
         * its ack), or, placed ahead, it waits for inputs (skipped). */
        if (t->rank < 0 || t->ahead || s->acked[t->rank]) continue;
        if (t->kind == RELAY__KIND_ACTOR && t->actor && t->actor->built) continue;
        char what[RELAY_MAX_NAME + 64];
        if (t->kind == RELAY__KIND_METHOD)
            snprintf(what, sizeof what, "method of actor %#llx", (unsigned long long)t->actor_id);
        else
            snprintf(what, sizeof what, "function '%s'", t->fn);
        relay__log(RELAY__LOG_ERROR,
                   "relay_finalize: abandoned task '%s' (%s) still running on rank %d after %.1f s",
                   t->name, what, t->rank, waited_s);
        if (used < n) {
            int w = snprintf(buf + used, n - used, "%s'%s' (%s) on rank %d", count ? ", " : "",
                             t->name, what, t->rank);
            used += w > 0 ? (size_t)w : 0;
        }
        count++;
    }
    send_exit(s);
    return count;
}

/* ---------------------------------------------------------------------- */
/* Lost ranks                                                               */
/* ---------------------------------------------------------------------- */

/* "rank 2 (host h) was lost[: what is known of how it ended]". */
void relay__sched_lost_text(int rank, char *buf, size_t n)
{
    char fate[512];
    relay__rank_fate(rank, fate, sizeof fate);
    snprintf(buf, n, "rank %d (host %s) was lost%s%s", rank, relay__rank_host(rank),
             *fate ? ": " : "", fate);
}

/* Whether a rank not lost could ever run a task asking for d. */
static int runnable_somewhere(const relay__demand_t *d)
{
    for (int k = 0; k < relay__g.size; k++)
        if (!relay__comm_rank_lost(k) && relay__demand_fits_capacity(d, k)) return 1;
    return 0;
}

/* RELAY_ERR_RANK_LOST (msg set) for a task or actor that only lost ranks
 * could run; 0 otherwise. A call runs where its actor is. */
static int runnable_or_lost(const stask_t *t, char *msg, size_t n)
{
    if (t->kind == RELAY__KIND_METHOD || runnable_somewhere(&t->shape->d)) return 0;
    char want[256];
    relay__demand_format(&t->shape->d, want, sizeof want);
    snprintf(msg, n,
             "task '%s' (function '%s') cannot run: only ranks since lost offered what it asks "
             "for (%s)",
             t->name, t->fn, want);
    return RELAY_ERR_RANK_LOST;
}

/* Ids of the tasks in the table that pick() chooses: handling one may
 * free others (a failure reaches its dependents), so each is looked up
 * again before it is handled. */
static uint64_t *tasks_where(int (*pick)(const stask_t *, int), int rank, size_t *n_p)
{
    relay__sched_t *s = S();
    uint64_t *ids = malloc((s->tasks.count ? s->tasks.count : 1) * sizeof *ids);
    if (!ids) {
        relay__log(RELAY__LOG_ERROR, "out of memory handling a lost rank");
        abort();
    }
    size_t n = 0;
    stask_t *t;
    RELAY__MAP_EACH(&s->tasks, t)
    if (pick(t, rank)) ids[n++] = t->id;
    *n_p = n;
    return ids;
}

/* A plain task sent to the rank (running, queued or placed ahead there). */
static int on_rank(const stask_t *t, int rank)
{
    return t->kind == RELAY__KIND_TASK && t->rank == rank;
}

/* A task or constructor waiting here (for its inputs or for a rank) that
 * only lost ranks could run. */
static int stranded(const stask_t *t, int rank)
{
    (void)rank;
    return t->kind != RELAY__KIND_METHOD && t->rank < 0 && !t->done_early &&
           !runnable_somewhere(&t->shape->d);
}

/* t was on the lost rank: it runs again elsewhere while it has retries
 * left (the loss counts as an attempt), else its returns fail. */
static void lost_task(stask_t *t, int rank, const char *lost)
{
    relay__sched_t *s = S();
    for (int k = 0; k < relay__g.size; k++)
        if (s->acct[k].stealing == t->id) s->acct[k].stealing = 0;
    if (t->ahead)
        unplace(t);
    else
        unreserve(t, 1);
    t->has_consumer = 0;
    char msg[1400];
    if (t->cancelled) {
        snprintf(msg, sizeof msg, "task '%s' (function '%s') was cancelled; %s", t->name, t->fn,
                 lost);
        drop_deps(t);
        task_fail(t, RELAY_ERR_CANCELLED, msg);
    } else if (t->fail_status) {
        drop_deps(t);
        task_fail(t, t->fail_status, t->fail_msg ? t->fail_msg : "a dependency failed");
    } else if (t->retries_left > 0) {
        t->retries_left--;
        t->attempt++;
        relay__log(RELAY__LOG_WARN, "task '%s' (function '%s') runs again: it was on rank %d; %s",
                   t->name, t->fn, rank, lost);
        if (!t->missing) ready_by_seq(t);
    } else {
        snprintf(msg, sizeof msg, "task '%s' (function '%s') was lost with the rank it ran on: %s",
                 t->name, t->fn, lost);
        drop_deps(t);
        task_fail(t, RELAY_ERR_RANK_LOST, msg);
    }
}

/* A task left waiting for resources only lost ranks had fails. */
static void stranded_task(stask_t *t)
{
    char msg[600];
    runnable_or_lost(t, msg, sizeof msg);
    if (relay__list_linked(&t->link)) {
        relay__sched_fail_ready(t, RELAY_ERR_RANK_LOST, msg);
        return;
    }
    drop_deps(t);
    task_fail(t, RELAY_ERR_RANK_LOST, msg);
}

void relay__sched_rank_lost(int rank)
{
    relay__sched_t *s = S();
    char lost[700];
    relay__sched_lost_text(rank, lost, sizeof lost);
    /* Nothing is placed there from now on. */
    s->acct[rank].cpu_cap = 0;
    relay__actor_rank_lost(rank, lost);
    size_t n;
    uint64_t *ids = tasks_where(on_rank, rank, &n);
    for (size_t i = 0; i < n; i++) {
        stask_t *t = relay__map_get(&s->tasks, ids[i]);
        if (t && on_rank(t, rank)) lost_task(t, rank, lost);
    }
    free(ids);
    ids = tasks_where(stranded, rank, &n);
    for (size_t i = 0; i < n; i++) {
        stask_t *t = relay__map_get(&s->tasks, ids[i]);
        if (t && stranded(t, rank)) stranded_task(t);
    }
    free(ids);
    relay__dir_rank_lost(rank, lost);
    if (!s->acked[rank]) {
        s->acked[rank] = 1;
        s->acks++;
        maybe_exit();
    }
    if (may_deadlock(s)) s->check_due = 1;
    dispatch();
}

/* ---------------------------------------------------------------------- */
/* Lineage: tasks kept to make their lost objects again                     */
/* ---------------------------------------------------------------------- */

int relay__sched_can_remake(uint64_t id)
{
    return relay__map_get(&S()->kept, id & ~(uint64_t)0xff) != NULL;
}

const char *relay__sched_lineage_why(uint64_t id)
{
    const relay__dentry_t *e = relay__dir_lookup(id);
    if (e && e->unkept)
        return "it cannot be made again: lineage limit reached (256 MiB of finished tasks "
               "kept to make lost objects again)";
    return "no lineage of what made it is kept (only plain tasks' objects are made again, "
           "never an actor call's)";
}

void relay__sched_output_freed(uint64_t id)
{
    relay__sched_t *s = S();
    uint64_t tid = id & ~(uint64_t)0xff;
    stask_t *t = relay__map_get(&s->kept, tid);
    if (!t) {
        t = relay__map_get(&s->tasks, tid);
        if (t && t->remote_rets) t->remote_rets--;
        return;
    }
    if (t->remote_rets && --t->remote_rets > 0) return;
    unkeep(tid);
    task_free(t);
}

/* Kept task t goes back in the table as if just submitted (the same id and
 * returns), to make its objects lost with rank. An argument released since
 * fails them instead. */
static void remake(stask_t *t, int rank, const char *lost)
{
    relay__sched_t *s = S();
    relay__list_init(&t->link);
    relay__list_init(&t->placed);
    relay__list_init(&t->links);
    t->rank = -1;
    t->seq = ++s->next_seq;
    t->attempt++;
    t->remote_rets = 0; /* its DONE counts the returns alive then, survivors too */
    t->parent = 0;      /* its parent's line is not followed again */
    t->linked = 0;
    t->nkids = 0;
    /* Its children still pending count in a link left when it finished:
     * they count in t again, and the link goes. */
    relay__lineage_t *l = relay__map_get(&s->lineage, t->id);
    if (l) {
        t->nkids = l->nkids;
        stask_t *up = relay__map_get(&s->tasks, l->parent);
        if (up && up->nkids) up->nkids--;
        link_free(l);
    }
    t->missing = 0;
    t->pinned = 0;
    t->ahead = t->done_early = t->has_consumer = t->was_ahead = t->no_ahead = 0;
    t->recalling = t->runs_there = t->unplacing = t->cancelling = 0;
    t->delivered_stamp = 0;
    if (relay__map_put(&s->tasks, t->id, t) != 0) {
        relay__log(RELAY__LOG_ERROR, "out of memory making task %#llx again",
                   (unsigned long long)t->id);
        abort();
    }
    for (uint32_t i = 0; i < t->nargs; i++) {
        if (t->args[i].kind != RELAY_ARG_REF || relay__dir_lookup(t->args[i].ref)) continue;
        char msg[1400];
        snprintf(msg, sizeof msg,
                 "objects of task '%s' (function '%s') were lost with rank %d: %s; the task "
                 "cannot run again: its argument %#llx was released",
                 t->name, t->fn, rank, lost, (unsigned long long)t->args[i].ref);
        task_fail(t, RELAY_ERR_RANK_LOST, msg);
        return;
    }
    relay__log(RELAY__LOG_WARN,
               "task '%s' (function '%s') runs again to make its objects lost with rank %d",
               t->name, t->fn, rank);
    task_arm(t);
}

void relay__sched_remake(const uint64_t *ids, size_t n, int rank, const char *lost)
{
    for (size_t i = 0; i < n; i++) {
        relay__dentry_t *e = relay__dir_lookup(ids[i]);
        if (e) relay__dir_unready(e);
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t tid = ids[i] & ~(uint64_t)0xff;
        stask_t *t = unkeep(tid);
        if (t) remake(t, rank, lost);
    }
}
