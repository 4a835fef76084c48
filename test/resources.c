/* Resources: CPUs given back by blocked tasks and taken back on resume,
 * GPUs kept by blocked tasks and never shared beyond their fraction,
 * custom resources limiting concurrency exactly, infeasible requests
 * rejected at submission, and resource deadlocks reported instead of hung.
 *
 *   test_resources cpu      every worker rank offers 1 CPU
 *   test_resources gpu      worker ranks 1 and 2 offer 1 CPU and 1 (virtual) GPU
 *   test_resources custom   rank 1 offers 4 CPUs and license=2, rank 2 ssd=1
 *   test_resources threads  2 CPUs and at most 2 worker threads per rank (rank 1
 *                           offers here=100, rank 2 there=1)
 *
 * Each rank's resources come from its own relay_config_t, so the layout
 * does not depend on the machine. Tasks count, per process, how many of
 * them run unblocked (and what they hold) at once; the ranks' main threads
 * then reduce those maxima over MPI. */
#include <math.h>
#include <stdatomic.h>

#include "testutil.h"

#define UNIT 10000
#define FANOUT 4

static const char *scenario;
static int world_rank, world_size;

/* ---- counters of this process ----------------------------------------- */

static atomic_int running_now, running_max;
static atomic_int gpu_now[64], gpu_max[64]; /* units of each GPU id in use */
static atomic_int lic_now, lic_max;
static atomic_int met; /* tasks that found the GPU use they waited for */

static void raise_max(atomic_int *max, int v)
{
    int m = atomic_load(max);
    while (v > m && !atomic_compare_exchange_weak(max, &m, v)) {
    }
}

static void run_enter(void)
{
    raise_max(&running_max, atomic_fetch_add(&running_now, 1) + 1);
}

static void run_leave(void)
{
    atomic_fetch_sub(&running_now, 1);
}

/* Waits up to 3 s for *now to reach want: tasks that should overlap meet,
 * so a limit that is too strict shows as a lower maximum. */
static void meet(atomic_int *now, int want)
{
    double end = test_now() + 3.0;
    while (atomic_load(now) < want && test_now() < end)
        test_sleep(0.001);
}

/* Enter/leave the GPUs of the task with share units each. */
static int gpu_enter(relay_ctx_t *ctx, int share, int *ids, size_t *n)
{
    TASK_OK(ctx, relay_ctx_gpu_ids(ctx, ids, 8, n));
    if (*n == 0) {
        relay_ctx_fail(ctx, "a GPU task was given no GPU");
        return 1;
    }
    for (size_t i = 0; i < *n; i++) {
        if (ids[i] < 0 || ids[i] >= 64) {
            relay_ctx_fail(ctx, "GPU id %d out of range", ids[i]);
            return 1;
        }
        raise_max(&gpu_max[ids[i]], atomic_fetch_add(&gpu_now[ids[i]], share) + share);
    }
    return 0;
}

static void gpu_leave(const int *ids, size_t n, int share)
{
    for (size_t i = 0; i < n; i++)
        atomic_fetch_sub(&gpu_now[ids[i]], share);
}

static int64_t reduce_max(int64_t v)
{
    int64_t out = 0;
    MPI_Request req;
    CHECK_EQ(MPI_Iallreduce(&v, &out, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD, &req), MPI_SUCCESS);
    test_mpi_wait(&req);
    return out;
}

static int64_t gpu_max_any(void)
{
    int m = 0;
    for (int i = 0; i < 64; i++)
        if (atomic_load(&gpu_max[i]) > m) m = atomic_load(&gpu_max[i]);
    return reduce_max(m);
}

/* ---- remote functions --------------------------------------------------- */

/* (ms) -> tasks_blocked seen on this rank while it ran. */
static int fn_leaf(relay_ctx_t *ctx)
{
    run_enter();
    test_sleep((double)test_arg_i64(ctx, 0) / 1000.0);
    relay_stats_t s;
    TASK_OK(ctx, relay_stats(&s));
    int64_t blocked = (int64_t)s.tasks_blocked;
    run_leave();
    return relay_ctx_return(ctx, 0, &blocked, sizeof blocked);
}

/* (ms) -> what its leaf saw: it blocks in get on a leaf of ms. */
static int fn_blocker(relay_ctx_t *ctx)
{
    run_enter();
    int64_t ms = test_arg_i64(ctx, 0), v = 0;
    relay_arg_t a = relay_arg_value(&ms, sizeof ms);
    relay_ref_t r;
    TASK_OK(ctx, relay_submit("leaf", &a, 1, NULL, &r));
    run_leave();
    TASK_OK(ctx, relay_get_value(r, &v, sizeof v, TEST_LONG_S));
    run_enter();
    TASK_OK(ctx, relay_release(r));
    run_leave();
    return relay_ctx_return(ctx, 0, &v, sizeof v);
}

/* (level) -> number of leaves below: h-style, each level gets FANOUT
 * children of the level below, blocking. */
static int fn_nest(relay_ctx_t *ctx)
{
    run_enter();
    int64_t level = test_arg_i64(ctx, 0), sum = 0;
    if (level == 0) {
        sum = 1;
        run_leave();
        return relay_ctx_return(ctx, 0, &sum, sizeof sum);
    }
    relay_ref_t refs[FANOUT];
    int64_t below = level - 1;
    relay_arg_t a = relay_arg_value(&below, sizeof below);
    for (int i = 0; i < FANOUT; i++)
        TASK_OK(ctx, relay_submit("nest", &a, 1, NULL, &refs[i]));
    run_leave();
    relay_object_t objs[FANOUT];
    int rc = relay_get_many(refs, FANOUT, TEST_LONG_S, objs);
    run_enter();
    if (rc != RELAY_OK) {
        relay_ctx_fail(ctx, "get_many: %s: %s", relay_status_name(rc), relay_last_error());
        /* Failed objects still come as views. */
        for (int i = 0; i < FANOUT && (rc == RELAY_ERR_TASK_FAILED || rc == RELAY_ERR_DEADLOCK);
             i++)
            relay_object_free(objs[i]);
        relay_release_many(refs, FANOUT);
        run_leave();
        return 1;
    }
    for (int i = 0; i < FANOUT; i++) {
        int64_t v;
        memcpy(&v, relay_object_data(objs[i]), sizeof v);
        sum += v;
        relay_object_free(objs[i]);
    }
    TASK_OK(ctx, relay_release_many(refs, FANOUT));
    run_leave();
    return relay_ctx_return(ctx, 0, &sum, sizeof sum);
}

/* (share units, ms, meet) -> its first GPU id. Holds its GPUs for ms; with
 * meet > 0 first waits until that many units of its GPU are in use. */
static int fn_gpu_hold(relay_ctx_t *ctx)
{
    int64_t share = test_arg_i64(ctx, 0), ms = test_arg_i64(ctx, 1), want = test_arg_i64(ctx, 2);
    int ids[8];
    size_t n;
    if (gpu_enter(ctx, (int)share, ids, &n)) return 1;
    if (want > 0) {
        meet(&gpu_now[ids[0]], (int)want);
        if (atomic_load(&gpu_now[ids[0]]) >= want) atomic_fetch_add(&met, 1);
    }
    test_sleep((double)ms / 1000.0);
    gpu_leave(ids, n, (int)share);
    int64_t id = ids[0];
    return relay_ctx_return(ctx, 0, &id, sizeof id);
}

/* -> {rank, gpus_free x UNIT, cpus_free x UNIT}, seen after ms of sleep. */
static int fn_probe(relay_ctx_t *ctx)
{
    test_sleep((double)test_arg_i64(ctx, 0) / 1000.0);
    relay_resources_t res;
    TASK_OK(ctx, relay_local_resources(&res));
    int rank;
    TASK_OK(ctx, relay_ctx_rank(ctx, &rank));
    int64_t out[3] = {rank, (int64_t)llround(res.gpus_free * UNIT),
                      (int64_t)llround(res.cpus_free * UNIT)};
    return relay_ctx_return(ctx, 0, out, sizeof out);
}

/* The seed's g: 1 CPU + 1 GPU, blocks in get on a CPU task (a probe of
 * the resources while it waits). -> {rank, gpu id, probe's 3 values}. */
static int fn_gpu_wait_cpu(relay_ctx_t *ctx)
{
    int ids[8];
    size_t n;
    if (gpu_enter(ctx, UNIT, ids, &n)) return 1;
    int64_t ms = 300, probe[3];
    relay_arg_t a = relay_arg_value(&ms, sizeof ms);
    relay_ref_t r;
    TASK_OK(ctx, relay_submit("probe", &a, 1, NULL, &r));
    TASK_OK(ctx, relay_get_value(r, probe, sizeof probe, TEST_LONG_S));
    TASK_OK(ctx, relay_release(r));
    gpu_leave(ids, n, UNIT);
    int rank;
    TASK_OK(ctx, relay_ctx_rank(ctx, &rank));
    int64_t out[5] = {rank, ids[0], probe[0], probe[1], probe[2]};
    return relay_ctx_return(ctx, 0, out, sizeof out);
}

static relay_task_opts_t gpu_opts(double gpus, double cpus)
{
    relay_task_opts_t o;
    memset(&o, 0, sizeof o);
    o.field_mask = RELAY_TASK_OPT_NUM_GPUS | RELAY_TASK_OPT_NUM_CPUS;
    o.num_gpus = gpus;
    o.num_cpus = cpus;
    return o;
}

/* Submit a task holding one whole GPU briefly; get it with timeout_s.
 * Returns the get's status; msg (if not NULL) gets the error text. */
static int get_gpu_child(relay_ctx_t *ctx, double timeout_s, char *msg, size_t n)
{
    int64_t args[3] = {UNIT, 10, 0};
    relay_arg_t a[3] = {relay_arg_value(&args[0], 8), relay_arg_value(&args[1], 8),
                        relay_arg_value(&args[2], 8)};
    relay_task_opts_t o = gpu_opts(1, 1);
    relay_ref_t r;
    int rc = relay_submit("gpu_hold", a, 3, &o, &r);
    if (rc) return rc;
    relay_object_t obj = NULL;
    rc = relay_get(r, timeout_s, &obj);
    if (msg) snprintf(msg, n, "%s", obj && relay_object_error(obj) ? relay_object_error(obj) : "");
    if (obj) relay_object_free(obj);
    relay_release(r);
    (void)ctx;
    return rc;
}

/* A GPU task that waits on another GPU task: (timeout ms, < 0 forever)
 * -> {status}, {error text}. */
static int fn_gpu_wait_gpu(relay_ctx_t *ctx)
{
    int ids[8];
    size_t n;
    if (gpu_enter(ctx, UNIT, ids, &n)) return 1;
    int64_t ms = test_arg_i64(ctx, 0);
    char msg[1024];
    int64_t st = get_gpu_child(ctx, ms < 0 ? RELAY_FOREVER : (double)ms / 1000.0, msg, sizeof msg);
    gpu_leave(ids, n, UNIT);
    TASK_OK(ctx, relay_ctx_return(ctx, 0, &st, sizeof st));
    return relay_ctx_return(ctx, 1, msg, strlen(msg) + 1);
}

/* A CPU task that waits on a GPU task -> {status}. */
static int fn_cpu_wait_gpu(relay_ctx_t *ctx)
{
    int64_t st = get_gpu_child(ctx, RELAY_FOREVER, NULL, 0);
    return relay_ctx_return(ctx, 0, &st, sizeof st);
}

/* A GPU task that waits on a CPU task that waits on a GPU task ->
 * {status of its get, what the CPU task saw}. */
static int fn_gpu_via_cpu(relay_ctx_t *ctx)
{
    int ids[8];
    size_t n;
    if (gpu_enter(ctx, UNIT, ids, &n)) return 1;
    relay_ref_t r;
    TASK_OK(ctx, relay_submit("cpu_wait_gpu", NULL, 0, NULL, &r));
    int64_t inner = 0, out[2];
    out[0] = relay_get_value(r, &inner, sizeof inner, RELAY_FOREVER);
    out[1] = inner;
    TASK_OK(ctx, relay_release(r));
    gpu_leave(ids, n, UNIT);
    return relay_ctx_return(ctx, 0, out, sizeof out);
}

/* A GPU task that waits on a CPU task first (no deadlock yet), then on a
 * GPU task it submitted before: -> {status of that get}. */
static int fn_gpu_then_gpu(relay_ctx_t *ctx)
{
    int ids[8];
    size_t n;
    if (gpu_enter(ctx, UNIT, ids, &n)) return 1;
    int64_t args[3] = {UNIT, 10, 0}, ms = 200, v;
    relay_arg_t a[3] = {relay_arg_value(&args[0], 8), relay_arg_value(&args[1], 8),
                        relay_arg_value(&args[2], 8)};
    relay_task_opts_t o = gpu_opts(1, 1);
    relay_ref_t child, cpu;
    TASK_OK(ctx, relay_submit("gpu_hold", a, 3, &o, &child));
    relay_arg_t w = relay_arg_value(&ms, sizeof ms);
    TASK_OK(ctx, relay_submit("leaf", &w, 1, NULL, &cpu));
    TASK_OK(ctx, relay_get_value(cpu, &v, sizeof v, TEST_LONG_S));
    relay_object_t obj = NULL;
    int64_t st = relay_get(child, TEST_LONG_S, &obj);
    if (obj) relay_object_free(obj);
    TASK_OK(ctx, relay_release(child));
    TASK_OK(ctx, relay_release(cpu));
    gpu_leave(ids, n, UNIT);
    return relay_ctx_return(ctx, 0, &st, sizeof st);
}

/* (depth) -> status seen down a chain of tasks each getting the next. */
static int fn_chain(relay_ctx_t *ctx)
{
    int64_t depth = test_arg_i64(ctx, 0), st = RELAY_OK;
    if (depth > 0) {
        int64_t below = depth - 1, v = 0;
        relay_arg_t a = relay_arg_value(&below, sizeof below);
        relay_ref_t r;
        TASK_OK(ctx, relay_submit("chain", &a, 1, NULL, &r));
        st = relay_get_value(r, &v, sizeof v, TEST_LONG_S);
        if (st == RELAY_OK) st = v;
        TASK_OK(ctx, relay_release(r));
    }
    return relay_ctx_return(ctx, 0, &st, sizeof st);
}

/* (depth) -> status seen down a chain like fn_chain, where each link
 * asks for "here" (rank 1) and waits, as an argument, for a 200 ms task
 * on the rank offering "there": a link arrives only after its parent has
 * blocked. */
static int fn_late_chain(relay_ctx_t *ctx)
{
    int64_t depth = test_arg_i64(ctx, 0), st = RELAY_OK;
    if (depth > 0) {
        relay_resource_t there = {"there", 1}, here = {"here", 1};
        relay_task_opts_t o;
        memset(&o, 0, sizeof o);
        o.field_mask = RELAY_TASK_OPT_RESOURCES;
        o.resources = &there;
        o.num_resources = 1;
        int64_t ms = 200, below = depth - 1, v = 0;
        relay_arg_t a = relay_arg_value(&ms, sizeof ms);
        relay_ref_t slow, next;
        TASK_OK(ctx, relay_submit("leaf", &a, 1, &o, &slow));
        o.resources = &here;
        relay_arg_t b[2] = {relay_arg_value(&below, sizeof below), relay_arg_ref(slow)};
        TASK_OK(ctx, relay_submit("late_chain", b, 2, &o, &next));
        st = relay_get_value(next, &v, sizeof v, TEST_LONG_S);
        if (st == RELAY_OK) st = v;
        relay_ref_t both[2] = {slow, next};
        TASK_OK(ctx, relay_release_many(both, 2));
    }
    return relay_ctx_return(ctx, 0, &st, sizeof st);
}

/* Holds a license: meets another holder (up to 3 s), then -> its rank. */
static int fn_licensed(relay_ctx_t *ctx)
{
    raise_max(&lic_max, atomic_fetch_add(&lic_now, 1) + 1);
    meet(&lic_now, 2);
    test_sleep(0.02);
    atomic_fetch_sub(&lic_now, 1);
    int rank;
    TASK_OK(ctx, relay_ctx_rank(ctx, &rank));
    int64_t r = rank;
    return relay_ctx_return(ctx, 0, &r, sizeof r);
}

static int fn_rank(relay_ctx_t *ctx)
{
    int rank;
    TASK_OK(ctx, relay_ctx_rank(ctx, &rank));
    int64_t r = rank;
    return relay_ctx_return(ctx, 0, &r, sizeof r);
}

/* ---- scenario: cpu ---------------------------------------------------- */

static void drive_cpu(void)
{
    /* Blocked tasks let their leaves run on their own single CPU. */
    relay_ref_t refs[6];
    int64_t ms = 30;
    relay_arg_t a = relay_arg_value(&ms, sizeof ms);
    for (int i = 0; i < 6; i++)
        refs[i] = test_submit("blocker", &a, 1);
    for (int i = 0; i < 6; i++) {
        int64_t blocked_seen = test_get_i64(refs[i]);
        /* One worker rank: the leaf ran while its blocker was blocked. */
        if (world_size == 2) CHECK_GE(blocked_seen, 1);
    }
    CHECK_OK(relay_release_many(refs, 6));

    /* h-style nesting three levels deep (85 tasks) on 1-CPU ranks. */
    int64_t level = 3;
    relay_arg_t l = relay_arg_value(&level, sizeof level);
    relay_ref_t top = test_submit("nest", &l, 1);
    CHECK_EQ(test_get_i64(top), FANOUT * FANOUT * FANOUT);
    CHECK_OK(relay_release(top));
}

/* ---- scenario: gpu ----------------------------------------------------- */

static relay_ref_t submit_gpu(const char *fn, const int64_t *args, size_t nargs, double gpus,
                              double cpus, int nret, relay_ref_t *refs)
{
    relay_arg_t a[4];
    for (size_t i = 0; i < nargs; i++)
        a[i] = relay_arg_value(&args[i], sizeof args[i]);
    relay_task_opts_t o = gpu_opts(gpus, cpus);
    o.field_mask |= RELAY_TASK_OPT_NUM_RETURNS;
    o.num_returns = nret;
    CHECK_OK(relay_submit(fn, a, nargs, &o, refs));
    return refs[0];
}

static void drive_gpu(void)
{
    double total = 0;
    CHECK_OK(relay_resource_capacity(-1, "GPU", &total));
    CHECK_EQ((int)total, world_size >= 3 ? 2 : 1);

    /* The seed's g on a 1-CPU, 1-GPU rank: it completes, and while it
     * waits its CPU runs the probe and its GPU stays taken. */
    relay_ref_t g;
    submit_gpu("gpu_wait_cpu", NULL, 0, 1, 1, 1, &g);
    /* Meanwhile more GPU tasks: none may share a GPU with it. */
    relay_ref_t others[3];
    int64_t hold[3] = {UNIT, 50, 0};
    for (int i = 0; i < 3; i++)
        submit_gpu("gpu_hold", hold, 3, 1, 1, 1, &others[i]);
    int64_t out[5];
    CHECK_OK(relay_get_value(g, out, sizeof out, TEST_LONG_S));
    CHECK(out[0] == 1 || out[0] == 2);
    if (out[2] == out[0]) {  /* the probe ran on g's rank */
        CHECK_EQ(out[3], 0); /* g's GPU is held while it is blocked */
        CHECK_EQ(out[4], 0); /* its one CPU runs the probe */
    }
    for (int i = 0; i < 3; i++)
        CHECK_GE(test_get_i64(others[i]), 0);
    CHECK_OK(relay_release(g));
    CHECK_OK(relay_release_many(others, 3));

    /* Fractions: half-GPU tasks (with half a CPU, so two fit a 1-CPU
     * rank) share a device two at a time, never more. */
    relay_ref_t halves[4];
    int64_t half[3] = {UNIT / 2, 20, UNIT};
    for (int i = 0; i < 4; i++)
        submit_gpu("gpu_hold", half, 3, 0.5, 0.5, 1, &halves[i]);
    for (int i = 0; i < 4; i++)
        CHECK_GE(test_get_i64(halves[i]), 0);
    CHECK_OK(relay_release_many(halves, 4));

    /* A GPU task waiting for a GPU task: a deadlock with one GPU in the
     * job, reported as an error; with two, it just runs. */
    relay_ref_t ww[2];
    int64_t forever = -1;
    submit_gpu("gpu_wait_gpu", &forever, 1, 1, 1, 2, ww);
    int64_t st = test_get_i64(ww[0]);
    relay_object_t msg;
    CHECK_OK(relay_get(ww[1], TEST_LONG_S, &msg));
    if (total == 1) {
        CHECK_STATUS((int)st, RELAY_ERR_DEADLOCK);
        CHECK_CONTAINS((const char *)relay_object_data(msg), "can never run");
        CHECK_CONTAINS((const char *)relay_object_data(msg), "gpu_wait_gpu");
        CHECK_CONTAINS((const char *)relay_object_data(msg), "1 GPU");
    } else {
        CHECK_OK((int)st);
    }
    CHECK_OK(relay_object_free(msg));
    CHECK_OK(relay_release_many(ww, 2));

    /* The same cycle through a CPU task in between. */
    relay_ref_t via;
    submit_gpu("gpu_via_cpu", NULL, 0, 1, 1, 1, &via);
    int64_t vo[2];
    CHECK_OK(relay_get_value(via, vo, sizeof vo, TEST_LONG_S));
    CHECK_OK((int)vo[0]);
    CHECK_STATUS((int)vo[1], total == 1 ? RELAY_ERR_DEADLOCK : RELAY_OK);
    CHECK_OK(relay_release(via));

    /* Only the task the stuck holder waits for fails: an unrelated GPU
     * task queued behind it runs once the holder is done. */
    relay_ref_t x, z;
    submit_gpu("gpu_then_gpu", NULL, 0, 1, 1, 1, &x);
    /* Z comes after X's child (the newest stuck task is then Z), while X
     * still waits on its 200 ms CPU task. */
    double until = test_now() + TEST_LONG_S;
    while (test_stats().tasks_pending < 3 && test_now() < until)
        test_sleep(0.0005);
    CHECK_GE(test_stats().tasks_pending, 3);
    int64_t zargs[3] = {UNIT, 10, 0};
    submit_gpu("gpu_hold", zargs, 3, 1, 1, 1, &z);
    CHECK_STATUS((int)test_get_i64(x), total == 1 ? RELAY_ERR_DEADLOCK : RELAY_OK);
    CHECK_GE(test_get_i64(z), 0);
    CHECK_OK(relay_release(x));
    CHECK_OK(relay_release(z));

    /* A wait with a timeout is as stuck until it expires: the deadlock is
     * reported, not left to the timeout. */
    int64_t long_ms = (int64_t)(TEST_LONG_S * 1000);
    submit_gpu("gpu_wait_gpu", &long_ms, 1, 1, 1, 2, ww);
    CHECK_STATUS((int)test_get_i64(ww[0]), total == 1 ? RELAY_ERR_DEADLOCK : RELAY_OK);
    CHECK_OK(relay_release_many(ww, 2));

    /* More GPUs than any rank has: rejected at submission. */
    relay_ref_t r = {12345};
    relay_task_opts_t o = gpu_opts(2, 1);
    CHECK_STATUS(relay_submit("gpu_hold", NULL, 0, &o, &r), RELAY_ERR_INFEASIBLE);
    CHECK_CONTAINS(relay_last_error(), "2 GPUs");
    CHECK_CONTAINS(relay_last_error(), "1 GPU (rank 1)");
    CHECK_EQ(r.id, 12345);
}

/* ---- scenario: custom ---------------------------------------------------- */

static relay_task_opts_t res_opts(const relay_resource_t *res, size_t n)
{
    relay_task_opts_t o;
    memset(&o, 0, sizeof o);
    o.field_mask = RELAY_TASK_OPT_RESOURCES;
    o.resources = res;
    o.num_resources = n;
    return o;
}

static void check_bad_opts(void)
{
    relay_stats_t before = test_stats();
    relay_ref_t r = {777};
    relay_task_opts_t o;
    struct {
        uint64_t mask;
        double cpus, gpus;
        int want;
        const char *says;
    } bad[] = {
        {RELAY_TASK_OPT_NUM_CPUS, -1, 0, RELAY_ERR_INVALID_ARG, "num_cpus"},
        {RELAY_TASK_OPT_NUM_CPUS, NAN, 0, RELAY_ERR_INVALID_ARG, "num_cpus"},
        {RELAY_TASK_OPT_NUM_CPUS, INFINITY, 0, RELAY_ERR_INVALID_ARG, "num_cpus"},
        {RELAY_TASK_OPT_NUM_CPUS, 0.00001, 0, RELAY_ERR_INVALID_ARG, "1/10000"},
        {RELAY_TASK_OPT_NUM_GPUS, 1, 1.5, RELAY_ERR_INVALID_ARG, "whole"},
        {RELAY_TASK_OPT_NUM_GPUS, 1, -0.5, RELAY_ERR_INVALID_ARG, "num_gpus"},
        {RELAY_TASK_OPT_NUM_CPUS, 100, 0, RELAY_ERR_INFEASIBLE, "100 CPUs"},
        {RELAY_TASK_OPT_NUM_GPUS, 1, 1, RELAY_ERR_INFEASIBLE, "1 GPU"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&o, 0, sizeof o);
        o.field_mask = bad[i].mask;
        o.num_cpus = bad[i].cpus;
        o.num_gpus = bad[i].gpus;
        CHECK_STATUS(relay_submit("rank", NULL, 0, &o, &r), bad[i].want);
        CHECK_CONTAINS(relay_last_error(), bad[i].says);
    }
    relay_resource_t dup[2] = {{"license", 1}, {"license", 1}};
    relay_resource_t taken[1] = {{"CPU", 1}}, spaced[1] = {{"a b", 1}}, zero[1] = {{"license", 0}};
    relay_resource_t nameless[1] = {{NULL, 1}}, unknown[1] = {{"nope", 1}};
    relay_resource_t many[RELAY_MAX_RESOURCES + 1];
    char names[RELAY_MAX_RESOURCES + 1][8];
    for (int i = 0; i <= RELAY_MAX_RESOURCES; i++) {
        snprintf(names[i], sizeof names[i], "r%d", i);
        many[i] = (relay_resource_t){names[i], 1};
    }
    struct {
        const relay_resource_t *res;
        size_t n;
        int want;
        const char *says;
    } badres[] = {
        {dup, 2, RELAY_ERR_INVALID_ARG, "twice"},
        {taken, 1, RELAY_ERR_INVALID_ARG, "CPU"},
        {spaced, 1, RELAY_ERR_INVALID_ARG, "a b"},
        {zero, 1, RELAY_ERR_INVALID_ARG, "asks for 0"},
        {nameless, 1, RELAY_ERR_INVALID_ARG, "resource name"},
        {NULL, 1, RELAY_ERR_INVALID_ARG, "NULL"},
        {many, RELAY_MAX_RESOURCES + 1, RELAY_ERR_INVALID_ARG, "at most"},
        {unknown, 1, RELAY_ERR_INFEASIBLE, "no rank offers resource 'nope'"},
    };
    for (size_t i = 0; i < sizeof badres / sizeof badres[0]; i++) {
        o = res_opts(badres[i].res, badres[i].n);
        CHECK_STATUS(relay_submit("rank", NULL, 0, &o, &r), badres[i].want);
        CHECK_CONTAINS(relay_last_error(), badres[i].says);
    }
    CHECK_EQ(r.id, 777);
    relay_stats_t after = test_stats();
    CHECK_EQ(after.tasks_submitted, before.tasks_submitted);
    CHECK_EQ(after.held_refs, before.held_refs);
}

static void drive_custom(void)
{
    double lic = -1, ssd = -1, cpus = -1, none = -1;
    CHECK_OK(relay_resource_capacity(1, "license", &lic));
    CHECK_OK(relay_resource_capacity(-1, "ssd", &ssd));
    CHECK_OK(relay_resource_capacity(1, "CPU", &cpus));
    CHECK_OK(relay_resource_capacity(0, "license", &none));
    CHECK(lic == 2 && cpus == 4 && none == 0);
    CHECK(ssd == (world_size >= 3 ? 1 : 0));
    CHECK_STATUS(relay_resource_capacity(world_size, "CPU", &none), RELAY_ERR_INVALID_ARG);
    CHECK_STATUS(relay_resource_capacity(0, NULL, &none), RELAY_ERR_INVALID_ARG);

    /* Two licenses, four CPUs, eight tasks: exactly two run at a time. */
    relay_resource_t one_lic[1] = {{"license", 1}};
    relay_task_opts_t o = res_opts(one_lic, 1);
    relay_ref_t refs[8];
    for (int i = 0; i < 8; i++)
        CHECK_OK(relay_submit("licensed", NULL, 0, &o, &refs[i]));
    for (int i = 0; i < 8; i++)
        CHECK_EQ(test_get_i64(refs[i]), 1);
    CHECK_OK(relay_release_many(refs, 8));

    /* A task asking for ssd runs on the one rank that has it. */
    relay_resource_t one_ssd[1] = {{"ssd", 1}};
    if (world_size >= 3) {
        o = res_opts(one_ssd, 1);
        relay_ref_t r;
        CHECK_OK(relay_submit("rank", NULL, 0, &o, &r));
        CHECK_EQ(test_get_i64(r), 2);
        CHECK_OK(relay_release(r));
        /* Each exists somewhere, but not together. */
        relay_resource_t both[2] = {{"license", 1}, {"ssd", 1}};
        o = res_opts(both, 2);
        CHECK_STATUS(relay_submit("rank", NULL, 0, &o, &r), RELAY_ERR_INFEASIBLE);
        CHECK_CONTAINS(relay_last_error(), "no rank offers all of it");
    }
    relay_resource_t three[1] = {{"license", 3}};
    o = res_opts(three, 1);
    relay_ref_t r;
    CHECK_STATUS(relay_submit("rank", NULL, 0, &o, &r), RELAY_ERR_INFEASIBLE);
    CHECK_CONTAINS(relay_last_error(), "license: 3");
    CHECK_CONTAINS(relay_last_error(), "license: 2 (rank 1)");
    check_bad_opts();
}

/* ---- scenario: threads --------------------------------------------------- */

static void drive_threads(void)
{
    /* Two CPUs, two threads: A gives its CPU back and blocks on B, B
     * blocks at the thread limit keeping its CPU, and C has a CPU but no
     * thread. That is reported instead of hanging. */
    int64_t depth = 2;
    relay_arg_t d = relay_arg_value(&depth, sizeof depth);
    if (world_size == 2) { /* with more ranks the chain spreads out and runs */
        relay_ref_t chain = test_submit("chain", &d, 1);
        CHECK_STATUS((int)test_get_i64(chain), RELAY_ERR_DEADLOCK);
        CHECK_OK(relay_release(chain));
    }

    /* Now the parent gives its CPU back (a thread is idle) and the child
     * takes that thread, then blocks at the limit: the grandchild finds a
     * free CPU but no thread. Also reported, not hung. */
    if (world_size >= 3) {
        relay_resource_t here = {"here", 1};
        relay_task_opts_t o = res_opts(&here, 1);
        relay_ref_t late;
        CHECK_OK(relay_submit("late_chain", &d, 1, &o, &late));
        CHECK_STATUS((int)test_get_i64(late), RELAY_ERR_DEADLOCK);
        CHECK_OK(relay_release(late));
    }

    /* Nested levels do the same at every level; tasks fail, none hangs. */
    int64_t level = 2;
    relay_arg_t l = relay_arg_value(&level, sizeof level);
    relay_ref_t top = test_submit("nest", &l, 1);
    relay_object_t obj;
    int rc = relay_get(top, TEST_LONG_S, &obj);
    CHECK_STATUS(rc, RELAY_ERR_TASK_FAILED);
    CHECK_CONTAINS(relay_object_error(obj), "RELAY_ERR_DEADLOCK");
    CHECK_OK(relay_object_free(obj));
    CHECK_OK(relay_release(top));
    /* The pool kept to its limit, and works on. */
    relay_ref_t r = test_submit("rank", NULL, 0);
    CHECK_GE(test_get_i64(r), 1);
    CHECK_OK(relay_release(r));
}

/* ---- layout and main ----------------------------------------------------- */

static relay_config_t layout(void)
{
    static relay_resource_t lic[1] = {{"license", 2}}, ssd[1] = {{"ssd", 1}};
    relay_config_t c;
    memset(&c, 0, sizeof c);
    c.field_mask = RELAY_CONFIG_NUM_CPUS | RELAY_CONFIG_NUM_GPUS;
    c.num_cpus = 1;
    c.num_gpus = 0;
    if (!strcmp(scenario, "gpu")) {
        c.num_gpus = world_rank == 1 || world_rank == 2 ? 1 : 0;
    } else if (!strcmp(scenario, "custom")) {
        c.field_mask |= RELAY_CONFIG_RESOURCES;
        if (world_rank == 1) {
            c.num_cpus = 4;
            c.resources = lic;
            c.num_resources = 1;
        } else if (world_rank == 2) {
            c.resources = ssd;
            c.num_resources = 1;
        }
    } else if (!strcmp(scenario, "threads")) {
        static relay_resource_t here[1] = {{"here", 100}}, there[1] = {{"there", 1}};
        c.field_mask |= RELAY_CONFIG_MAX_THREADS | RELAY_CONFIG_RESOURCES;
        c.num_cpus = 2;
        c.max_threads = 2;
        c.resources = world_rank == 1 ? here : world_rank == 2 ? there : NULL;
        c.num_resources = world_rank == 1 || world_rank == 2;
    }
    return c;
}

int main(int argc, char **argv)
{
    scenario = argc > 1 ? argv[1] : "cpu";
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (world_size < 2) {
        fprintf(stderr, "test_resources needs at least 2 ranks\n");
        MPI_Finalize();
        return TEST_SKIP;
    }
    CHECK_OK(relay_register("leaf", fn_leaf));
    CHECK_OK(relay_register("blocker", fn_blocker));
    CHECK_OK(relay_register("nest", fn_nest));
    CHECK_OK(relay_register("gpu_hold", fn_gpu_hold));
    CHECK_OK(relay_register("probe", fn_probe));
    CHECK_OK(relay_register("gpu_wait_cpu", fn_gpu_wait_cpu));
    CHECK_OK(relay_register("gpu_wait_gpu", fn_gpu_wait_gpu));
    CHECK_OK(relay_register("cpu_wait_gpu", fn_cpu_wait_gpu));
    CHECK_OK(relay_register("gpu_via_cpu", fn_gpu_via_cpu));
    CHECK_OK(relay_register("licensed", fn_licensed));
    CHECK_OK(relay_register("gpu_then_gpu", fn_gpu_then_gpu));
    CHECK_OK(relay_register("chain", fn_chain));
    CHECK_OK(relay_register("late_chain", fn_late_chain));
    CHECK_OK(relay_register("rank", fn_rank));
    relay_config_t cfg = layout();
    CHECK_OK(relay_init(&argc, &argv, &cfg));

    if (world_rank == 0) {
        if (!strcmp(scenario, "cpu"))
            drive_cpu();
        else if (!strcmp(scenario, "gpu"))
            drive_gpu();
        else if (!strcmp(scenario, "custom"))
            drive_custom();
        else if (!strcmp(scenario, "threads"))
            drive_threads();
        else
            CHECK(!"unknown scenario");
    }
    test_barrier();
    /* What ran at once, over every rank. */
    int64_t run_max = reduce_max(atomic_load(&running_max));
    int64_t gmax = gpu_max_any();
    int64_t lmax = reduce_max(atomic_load(&lic_max));
    int64_t nmet = (int64_t)test_allreduce_sum_u64((uint64_t)atomic_load(&met));
    if (!strcmp(scenario, "cpu")) {
        CHECK_EQ(run_max, 1); /* one CPU per rank, never more running */
    } else if (!strcmp(scenario, "gpu")) {
        CHECK_EQ(gmax, UNIT); /* nothing went beyond one GPU */
        CHECK_GE(nmet, 2);    /* two halves shared one */
    } else if (!strcmp(scenario, "custom")) {
        CHECK_EQ(lmax, 2); /* two licenses: two at a time, and two did meet */
    }
    relay_stats_t s = test_stats();
    CHECK_EQ(s.tasks_blocked, 0);
    if (!strcmp(scenario, "threads")) CHECK_LE(s.worker_threads, 2);
    CHECK_OK(relay_finalize());
    MPI_Finalize();
    if (world_rank == 0) printf("resources %s: PASS\n", scenario);
    return 0;
}
