/* The deadlock check (deadlock.c) on wait graphs built by hand in rank 0's
 * scheduler state and directory, in one process without MPI: the real
 * relay__sched_init and relay__dir_init, a hand-made cluster table, tasks
 * put in the task table as the SUBMIT, dispatch and BLOCK handlers would
 * leave them. The check fails a stuck task that waits for dispatch through
 * relay__sched_fail_ready, which needs no messages, so every case here
 * keeps its victims undispatched (cancelling a dispatched one sends a
 * CANCEL record: the multi-rank resources tests cover it). */
#include "deadlock.h"
#include "directory.h"
#include "log.h"
#include "object.h"
#include "runtime.h"
#include "sched_state.h"
#include "scheduler.h"
#include "testutil.h"

#define U RELAY__UNIT

typedef relay__stask_t stask_t;

/* ---- the cluster: rank 0 hosts no workers ---------------------------------- */

static int64_t cl_cpu[3];
static int cl_ngpu[3], cl_threads[3];
static int64_t cl_custom[1];
static relay__cluster_t cl = {3, 0, NULL, cl_cpu, cl_ngpu, cl_threads, cl_custom};

/* Ranks 1 and 2 (cpus 0: no rank 2), and a fresh scheduler and directory. */
static void setup(int cpus1, int gpus1, int threads1, int cpus2, int gpus2, int threads2)
{
    cl_cpu[0] = 0;
    cl_cpu[1] = (int64_t)cpus1 * U;
    cl_ngpu[1] = gpus1;
    cl_threads[1] = threads1;
    cl_cpu[2] = (int64_t)cpus2 * U;
    cl_ngpu[2] = gpus2;
    cl_threads[2] = threads2;
    cl.nranks = cpus2 ? 3 : 2;
    relay__g.cluster = &cl;
    relay__g.size = cl.nranks;
    relay__g.rank = 0;
    CHECK_OK(relay__sched_init());
    CHECK_OK(relay__dir_init());
}

static void teardown(void)
{
    relay__sched_destroy();
    relay__dir_destroy();
    CHECK_EQ(relay__g.live_objects, 0);
}

static relay__sched_t *S(void)
{
    return relay__sched_state();
}

/* ---- tasks ------------------------------------------------------------------ */

static uint64_t next_seq;

/* The first task ready in a shape, or NULL. */
static stask_t *first_ready(const relay__shape_t *sh)
{
    relay__list_t *n = relay__list_first(&sh->ready);
    return n ? RELAY__LIST_ENTRY(n, stask_t, link) : NULL;
}

static relay__shape_t *shape(int64_t cpu, int64_t gpu)
{
    relay__demand_t d;
    relay__demand_default(&d);
    d.cpu = cpu;
    d.gpu = gpu;
    if (relay__demand_is_default(&d)) return S()->dflt;
    relay__shape_t *sh;
    RELAY__LIST_EACH(&S()->shapes, sh, relay__shape_t, link)
    {
        if (sh->d.cpu == cpu && sh->d.gpu == gpu && sh->d.ncustom == 0) return sh;
    }
    sh = calloc(1, sizeof *sh);
    CHECK(sh != NULL);
    sh->d = d;
    relay__list_init(&sh->ready);
    relay__list_push_front(&S()->shapes, &sh->link);
    return sh;
}

/* What on_submit leaves: a task with one return (pending in the
 * directory) whose ref arguments are the returns of `makers`, registered
 * as a dependent of those not ready; queued for dispatch when none is
 * missing. */
static stask_t *submit(const char *name, int64_t cpu, int64_t gpu, stask_t *const *makers,
                       uint32_t nmakers)
{
    stask_t *t = calloc(1, sizeof *t + nmakers * sizeof(relay__sarg_t));
    CHECK(t != NULL);
    t->args = (relay__sarg_t *)(t + 1);
    t->seq = ++next_seq;
    t->id = relay__id_make(0, t->seq, 0);
    t->kind = RELAY__KIND_TASK;
    t->fn = t->name = (char *)name; /* never freed: one allocation per task */
    t->nret = 1;
    t->rank = -1;
    t->shape = shape(cpu, gpu);
    t->shape->ntasks++;
    CHECK_EQ(relay__map_put(&S()->tasks, t->id, t), 0);
    CHECK(relay__dir_add_pending(t->id) != NULL);
    t->nargs = nmakers;
    for (uint32_t i = 0; i < nmakers; i++) {
        t->args[i].kind = RELAY_ARG_REF;
        t->args[i].ref = makers[i]->id;
        relay__dentry_t *e = relay__dir_lookup(makers[i]->id);
        if (!e->ready) {
            CHECK_EQ(relay__dir_add_dep(e, t), 0);
            t->missing++;
        }
    }
    if (!t->missing) relay__list_push_back(&t->shape->ready, &t->link);
    return t;
}

/* What dispatch leaves: t (queued first) runs on rank r with its CPUs and
 * GPUs accounted there. */
static void run_on(stask_t *t, int r)
{
    relay__shape_t *sh = t->shape;
    CHECK(first_ready(sh) == t);
    relay__list_remove(&t->link);
    relay__acct_t *a = &S()->acct[r];
    t->rank = r;
    t->cpu_held = sh->d.cpu;
    a->cpu_used += sh->d.cpu;
    if (sh->d.gpu) {
        t->gpus = malloc(sizeof *t->gpus * (size_t)a->ngpu);
        CHECK(t->gpus != NULL);
        int n = relay__sched_gpu_pick(a->gpu_free, a->ngpu, sh->d.gpu, t->gpus);
        CHECK_GT(n, 0);
        t->ngpu = (uint32_t)n;
        for (int g = 0; g < n; g++)
            a->gpu_free[t->gpus[g].dev] -= t->gpus[g].units;
    }
    S()->running++;
}

/* What BLOCK leaves: t waits for k of the returns of `on`; it gave back
 * its CPUs unless keep_cpu; answered: a zero timeout or a sync. */
static void block(stask_t *t, uint64_t k, stask_t *const *on, uint32_t n, int keep_cpu,
                  int answered)
{
    relay__blocked_t *b = malloc(sizeof *b + n * sizeof b->ids[0]);
    CHECK(b != NULL);
    b->answered = answered;
    b->k = k;
    b->n = n;
    for (uint32_t i = 0; i < n; i++)
        b->ids[i] = on[i]->id;
    if (!keep_cpu) {
        S()->acct[t->rank].cpu_used -= t->cpu_held;
        t->cpu_held = 0;
    }
    b->holding = !answered && (t->ngpu || t->cpu_held);
    S()->blocked_holders += (uint64_t)b->holding;
    t->blocked = b;
}

/* What DONE with a result leaves: t's resources back, its return ready,
 * dependents told, t gone. */
static void finish(stask_t *t)
{
    relay__sched_unreserve(t, 1);
    relay__dentry_t *e = relay__dir_lookup(t->id);
    struct relay_object *o = relay__obj_new(t->id, 8, 0);
    CHECK(o != NULL);
    memset(o->data, 0, 8);
    relay__dir_set_ready(e, o, -1, 0, NULL, 0, NULL);
    relay__obj_unref(o);
    relay__sched_retire(t);
}

/* ---- what the check did ------------------------------------------------------ */

static int alive(uint64_t id)
{
    return relay__map_get(&S()->tasks, id) != NULL;
}

/* The task of id was failed: gone, its return an error of that status
 * whose message contains `says`. */
static void check_failed(uint64_t id, int status, const char *says)
{
    CHECK(!alive(id));
    relay__dentry_t *e = relay__dir_lookup(id);
    CHECK(e != NULL);
    CHECK(e->ready);
    CHECK(e->obj != NULL);
    CHECK_STATUS(e->obj->status, status);
    CHECK_CONTAINS(e->obj->errmsg, says);
}

static void check_untouched(const stask_t *t)
{
    CHECK(alive(t->id));
    CHECK(!relay__dir_lookup(t->id)->ready);
}

/* ---- cases ---------------------------------------------------------------------- */

/* One GPU. Its holder blocks on a task that needs a GPU: that task can
 * never run and is failed; the holder's wait is then answered. */
static void gpu_cycle(void)
{
    setup(1, 1, 2, 0, 0, 0);
    stask_t *h = submit("holder", U, U, NULL, 0);
    run_on(h, 1);
    stask_t *t = submit("needs-gpu", U, U, NULL, 0);
    block(h, 1, &t, 1, 0, 0);
    uint64_t tid = t->id;
    relay__deadlock_check();
    check_failed(tid, RELAY_ERR_DEADLOCK, "task 'needs-gpu' (function 'needs-gpu') can never run");
    check_failed(tid, RELAY_ERR_DEADLOCK, "'holder' on rank 1");
    check_failed(tid, RELAY_ERR_DEADLOCK, "1 CPU, 1 GPU");
    CHECK(alive(h->id));
    CHECK(h->blocked != NULL);
    /* Nothing more to fail. */
    uint64_t n = S()->tasks.count;
    relay__deadlock_check();
    CHECK_EQ(S()->tasks.count, n);
    teardown();
}

/* The same, but the wait is answered whatever happens (a zero timeout or a
 * sync): nothing is stuck. */
static void answered_wait(void)
{
    setup(1, 1, 2, 0, 0, 0);
    stask_t *h = submit("holder", U, U, NULL, 0);
    run_on(h, 1);
    stask_t *t = submit("needs-gpu", U, U, NULL, 0);
    block(h, 1, &t, 1, 0, 1);
    relay__deadlock_check();
    check_untouched(t);
    teardown();
}

/* A chain that is no cycle: the GPU holder on rank 1 waits for x, which
 * needs a GPU and waits for y's result; rank 2 has a free GPU and y needs
 * only a CPU. Nothing is failed. Once rank 2's GPU is held by a task that
 * also waits for x, x is stuck, but not failed while its argument is
 * missing; it is once the argument is in and x waits for dispatch. */
static void chain(void)
{
    setup(1, 1, 2, 1, 1, 2);
    stask_t *h1 = submit("holder1", U, U, NULL, 0);
    run_on(h1, 1);
    stask_t *y = submit("y", U, 0, NULL, 0);
    stask_t *x = submit("x", U, U, &y, 1);
    block(h1, 1, &x, 1, 0, 0);
    relay__deadlock_check();
    check_untouched(x);
    check_untouched(y);

    stask_t *h2 = submit("holder2", U, U, NULL, 0);
    run_on(h2, 2);
    block(h2, 1, &x, 1, 0, 0);
    relay__deadlock_check();
    check_untouched(x);
    check_untouched(y);

    /* y runs (it can: both CPUs were given back) and ends; x is queued. */
    run_on(y, 1);
    relay__deadlock_check();
    check_untouched(x);
    uint64_t xid = x->id;
    finish(y);
    CHECK_EQ(x->missing, 0);
    CHECK(first_ready(x->shape) == x); /* no rank could take it */
    relay__deadlock_check();
    check_failed(xid, RELAY_ERR_DEADLOCK, "task 'x'");
    CHECK(alive(h1->id));
    CHECK(alive(h2->id));
    teardown();
}

/* The GPU holder waits for y, which needs only a CPU and will run: the
 * holder progresses and gives the GPU back, so t, which needs it and
 * which k (blocked, keeping rank 2's CPU) waits for, will run too. Nothing
 * is failed. */
static void waits_on_progress(void)
{
    setup(2, 1, 4, 1, 0, 2);
    stask_t *h = submit("holder", U, U, NULL, 0);
    run_on(h, 1);
    stask_t *k = submit("k", U, 0, NULL, 0);
    run_on(k, 2);
    stask_t *y = submit("y", U, 0, NULL, 0);
    stask_t *t = submit("t", U, U, NULL, 0);
    block(h, 1, &y, 1, 0, 0);
    block(k, 1, &t, 1, 1, 0);
    relay__deadlock_check();
    check_untouched(y);
    check_untouched(t);
    teardown();
}

/* The holder of the GPU (and of a CPU, given back) is in a sync, which is
 * answered, but resumes only with a CPU, and k keeps the only one while it waits
 * for t, which needs the GPU (and no CPU): t is failed. */
static void resume_needs_cpu(void)
{
    setup(1, 1, 4, 0, 0, 0);
    stask_t *h = submit("holder", U, U, NULL, 0);
    run_on(h, 1);
    stask_t *k = submit("k", U, 0, NULL, 0);
    run_on(k, 1);
    stask_t *t = submit("t", 0, U, NULL, 0);
    block(h, 0, NULL, 0, 0, 1); /* a sync */
    block(k, 1, &t, 1, 1, 0);
    uint64_t tid = t->id;
    relay__deadlock_check();
    check_failed(tid, RELAY_ERR_DEADLOCK, "task 't'");
    teardown();
}

/* The holder waits for x, which waits for z's result; z needs the held
 * GPU. z is what the holder waits for, through x: z is failed, x fails
 * with it, and the holder's wait is answered. */
static void through_arguments(void)
{
    setup(1, 1, 4, 0, 0, 0);
    stask_t *h = submit("holder", U, U, NULL, 0);
    run_on(h, 1);
    stask_t *z = submit("z", U, U, NULL, 0);
    stask_t *x = submit("x", U, 0, &z, 1);
    block(h, 1, &x, 1, 0, 0);
    uint64_t zid = z->id, xid = x->id;
    relay__deadlock_check();
    check_failed(zid, RELAY_ERR_DEADLOCK, "task 'z' (function 'z') can never run");
    check_failed(xid, RELAY_ERR_DEADLOCK, "task 'x' was not run: its argument");
    CHECK(alive(h->id));
    teardown();
}

/* No GPU. The holder (1 CPU) blocks on t, which needs a CPU. keep_cpu:
 * the holder kept its CPU (its rank's pool was at its thread limit);
 * threads: the rank's most worker threads (with one, the holder blocks
 * the only one). */
static void cpu_case(int cpus, int threads, int keep_cpu, int stuck)
{
    setup(cpus, 0, threads, 0, 0, 0);
    stask_t *h = submit("holder", U, 0, NULL, 0);
    run_on(h, 1);
    stask_t *t = submit("needs-cpu", U, 0, NULL, 0);
    block(h, 1, &t, 1, keep_cpu, 0);
    uint64_t tid = t->id;
    relay__deadlock_check();
    if (stuck)
        check_failed(tid, RELAY_ERR_DEADLOCK, "task 'needs-cpu'");
    else
        check_untouched(t);
    teardown();
}

/* Of the stuck tasks, only those a stuck blocked task waits for are
 * failed: u1 and u2 also need the held GPU, but no one waits for them
 * (they run once the holder's wait is answered and it ends). w needs t's
 * result: it fails because its argument did, not by the check. */
static void only_waited_for(void)
{
    setup(1, 1, 4, 0, 0, 0);
    stask_t *h = submit("holder", U, U, NULL, 0);
    run_on(h, 1);
    stask_t *t = submit("t", U, U, NULL, 0);
    stask_t *u1 = submit("u1", U, U, NULL, 0);
    stask_t *w = submit("w", U, 0, &t, 1);
    stask_t *u2 = submit("u2", U, U, NULL, 0);
    block(h, 1, &t, 1, 0, 0);
    uint64_t tid = t->id, wid = w->id;
    relay__deadlock_check();
    check_failed(tid, RELAY_ERR_DEADLOCK, "task 't' (function 't') can never run");
    check_failed(wid, RELAY_ERR_DEADLOCK, "task 'w' was not run: its argument");
    check_untouched(u1);
    check_untouched(u2);
    CHECK(first_ready(u1->shape) == u1);
    CHECK(relay__list_next(&u1->shape->ready, &u1->link) == &u2->link);
    CHECK(alive(h->id));
    teardown();
}

/* The holder waits for one of two stuck tasks: the newest goes first,
 * which answers the wait, so the other is left alone. Waiting for both,
 * both go, newest first. */
static void newest_first(uint64_t k)
{
    setup(1, 1, 2, 0, 0, 0);
    stask_t *h = submit("holder", U, U, NULL, 0);
    run_on(h, 1);
    stask_t *on[2];
    on[0] = submit("older", U, U, NULL, 0);
    on[1] = submit("newer", U, U, NULL, 0);
    block(h, k, on, 2, 0, 0);
    uint64_t older = on[0]->id, newer = on[1]->id;
    relay__deadlock_check();
    check_failed(newer, RELAY_ERR_DEADLOCK, "task 'newer'");
    if (k == 1)
        check_untouched(on[0]);
    else
        check_failed(older, RELAY_ERR_DEADLOCK, "task 'older'");
    teardown();
}

int main(void)
{
    /* The failures' warnings are checked in their error objects. */
    relay__g.cfg.log_level = RELAY__LOG_ERROR;
    gpu_cycle();
    answered_wait();
    chain();
    waits_on_progress();
    resume_needs_cpu();
    through_arguments();
    cpu_case(1, 2, 0, 0); /* the CPU was given back: t takes it */
    cpu_case(1, 2, 1, 1); /* kept: t never gets it */
    cpu_case(2, 2, 1, 0); /* kept, but a second CPU and thread are free */
    cpu_case(2, 1, 1, 1); /* a second CPU, but the only thread is blocked */
    only_waited_for();
    newest_first(1);
    newest_first(2);
    printf("unit_deadlock: PASS\n");
    return 0;
}
