/* Actors: state kept across calls, calls from one caller run in order
 * (10,000 from the driver; tasks on other ranks as further callers),
 * handles passed to tasks and to other actors, named lookup, kill
 * semantics (queued and later calls fail, the destructor runs, resources
 * come back), the concurrency limit, method and constructor failures,
 * placement by custom resource, a method blocked in get giving its
 * actor's CPUs back, a deadlock through a GPU actor, and bad input.
 *
 * Layout (each rank's relay_config_t): rank 1 offers 4 CPUs, 1 (virtual)
 * GPU and license=1; rank 2 offers 2 CPUs and ssd=1; others 2 CPUs. */
#include <stdatomic.h>

#include "testutil.h"

static int world_rank, world_size;
static atomic_int destroyed; /* destructors run in this process */
static atomic_int conc_now, conc_max;

/* ---- the "counter" class: state, order checks, helpers ------------------ */

typedef struct counter {
    int64_t value;
    int64_t finished;    /* start_order calls that returned */
    int64_t next;        /* order check of append */
    int64_t next_of[16]; /* order check of append_from, per caller */
    int64_t out_of_order;
} counter_t;

static int counter_init(relay_ctx_t *ctx, void **state_p)
{
    counter_t *c = calloc(1, sizeof *c);
    if (!c) return 1;
    if (relay_ctx_num_args(ctx) == 1) c->value = test_arg_i64(ctx, 0);
    *state_p = c;
    return 0;
}

static void counter_fini(void *state)
{
    free(state);
    atomic_fetch_add(&destroyed, 1);
}

static int m_add(relay_ctx_t *ctx, void *state)
{
    counter_t *c = state;
    c->value += test_arg_i64(ctx, 0);
    return test_ret_i64(ctx, c->value);
}

static int m_get(relay_ctx_t *ctx, void *state)
{
    return test_ret_i64(ctx, ((counter_t *)state)->value);
}

/* (i): the calls must come 0, 1, 2, ... */
static int m_append(relay_ctx_t *ctx, void *state)
{
    counter_t *c = state;
    int64_t i = test_arg_i64(ctx, 0);
    if (i != c->next) c->out_of_order++;
    c->next = i + 1;
    return test_ret_i64(ctx, c->out_of_order);
}

/* (caller, i): each caller's calls come 0, 1, 2, ... */
static int m_append_from(relay_ctx_t *ctx, void *state)
{
    counter_t *c = state;
    int64_t who = test_arg_i64(ctx, 0), i = test_arg_i64(ctx, 1);
    if (who < 0 || who >= 16) return 1;
    if (i != c->next_of[who]) c->out_of_order++;
    c->next_of[who] = i + 1;
    return test_ret_i64(ctx, c->out_of_order);
}

static int m_fail(relay_ctx_t *ctx, void *state)
{
    (void)state;
    relay_ctx_fail(ctx, "asked to fail");
    return 1;
}

static int m_rank(relay_ctx_t *ctx, void *state)
{
    (void)state;
    int r;
    TASK_OK(ctx, relay_ctx_rank(ctx, &r));
    return test_ret_i64(ctx, r);
}

/* (ms): sleeps, then returns its rank. */
static int m_slow(relay_ctx_t *ctx, void *state)
{
    test_sleep((double)test_arg_i64(ctx, 0) / 1000.0);
    return m_rank(ctx, state);
}

/* (ms): kills its own actor, then sleeps and returns its rank: a running
 * method finishes whatever happens to its actor. */
static int m_kill_self(relay_ctx_t *ctx, void *state)
{
    relay_actor_t me;
    TASK_OK(ctx, relay_ctx_actor(ctx, &me));
    TASK_OK(ctx, relay_actor_kill(me));
    return m_slow(ctx, state);
}

/* Waits (up to 3 s) until 3 calls run at once; -> the most seen. */
static int m_meet(relay_ctx_t *ctx, void *state)
{
    (void)state;
    int now = atomic_fetch_add(&conc_now, 1) + 1, m = atomic_load(&conc_max);
    while (now > m && !atomic_compare_exchange_weak(&conc_max, &m, now)) {
    }
    double end = test_now() + 3.0;
    while (atomic_load(&conc_now) < 3 && test_now() < end)
        test_sleep(0.001);
    test_sleep(0.01);
    atomic_fetch_sub(&conc_now, 1);
    return test_ret_i64(ctx, atomic_load(&conc_max));
}

/* (other actor): calls other.add(1) and gets it (blocking in a method). */
static int m_poke(relay_ctx_t *ctx, void *state)
{
    (void)state;
    relay_actor_t other;
    TASK_OK(ctx, test_ctx_arg_fixed(ctx, 0, &other, sizeof other));
    int64_t one = 1, v = 0;
    relay_arg_t a = relay_arg_value(&one, sizeof one);
    relay_ref_t r;
    TASK_OK(ctx, relay_actor_call(other, "add", &a, 1, NULL, &r));
    TASK_OK(ctx, relay_get_value(r, &v, sizeof v, TEST_LONG_S));
    TASK_OK(ctx, relay_release(r));
    return test_ret_i64(ctx, v);
}

/* Gets a task that can only run on this rank's CPUs, held by the actor. */
static int m_wait_task(relay_ctx_t *ctx, void *state)
{
    (void)state;
    relay_ref_t r;
    int64_t v = 0;
    TASK_OK(ctx, relay_submit("ranks", NULL, 0, NULL, &r));
    TASK_OK(ctx, relay_get_value(r, &v, sizeof v, TEST_LONG_S));
    TASK_OK(ctx, relay_release(r));
    return test_ret_i64(ctx, v);
}

/* A GPU actor's method getting a GPU task: -> the status of its get. */
static int m_wait_gpu_task(relay_ctx_t *ctx, void *state)
{
    (void)state;
    relay_task_opts_t o = {.field_mask = RELAY_TASK_OPT_NUM_GPUS, .num_gpus = 1};
    relay_ref_t r;
    int64_t v = 0;
    TASK_OK(ctx, relay_submit("ranks", NULL, 0, &o, &r));
    int64_t st = relay_get_value(r, &v, sizeof v, TEST_LONG_S);
    TASK_OK(ctx, relay_release(r));
    return test_ret_i64(ctx, st);
}

/* -> its own handle's id, checked against relay_ctx_actor. */
static int m_self(relay_ctx_t *ctx, void *state)
{
    (void)state;
    relay_actor_t me;
    TASK_OK(ctx, relay_ctx_actor(ctx, &me));
    return test_ret_i64(ctx, (int64_t)me.id);
}

/* (anything): -> how many calls of it had returned when it started; each
 * takes 5 ms. */
static int m_start_order(relay_ctx_t *ctx, void *state)
{
    counter_t *c = state;
    int64_t before = __atomic_load_n(&c->finished, __ATOMIC_SEQ_CST);
    test_sleep(0.005);
    __atomic_fetch_add(&c->finished, 1, __ATOMIC_SEQ_CST);
    return test_ret_i64(ctx, before);
}

/* Calls a method of its own actor and gets it: with one thread, the
 * inner call waits behind the outer forever. -> the get's status. */
static int m_call_self(relay_ctx_t *ctx, void *state)
{
    (void)state;
    relay_actor_t me;
    TASK_OK(ctx, relay_ctx_actor(ctx, &me));
    relay_ref_t r;
    TASK_OK(ctx, relay_actor_call(me, "get", NULL, 0, NULL, &r));
    int64_t v;
    int64_t st = relay_get_value(r, &v, sizeof v, TEST_LONG_S);
    TASK_OK(ctx, relay_release(r));
    return test_ret_i64(ctx, st);
}

/* (other): other.call_back(me): A -> B -> A. -> the status A's get saw. */
static int m_ping(relay_ctx_t *ctx, void *state)
{
    (void)state;
    relay_actor_t me, other;
    TASK_OK(ctx, relay_ctx_actor(ctx, &me));
    TASK_OK(ctx, test_ctx_arg_fixed(ctx, 0, &other, sizeof other));
    relay_arg_t a = relay_arg_value(&me, sizeof me);
    relay_ref_t r;
    TASK_OK(ctx, relay_actor_call(other, "poke", &a, 1, NULL, &r));
    int64_t v;
    int64_t st = relay_get_value(r, &v, sizeof v, TEST_LONG_S);
    TASK_OK(ctx, relay_release(r));
    return test_ret_i64(ctx, st);
}

/* -> how many GPUs its context lists. */
static int m_gpu_count(relay_ctx_t *ctx, void *state)
{
    (void)state;
    int ids[4];
    size_t n = 0;
    TASK_OK(ctx, relay_ctx_gpu_ids(ctx, ids, 4, &n));
    return test_ret_i64(ctx, (int64_t)n);
}

static const relay_method_t counter_methods[] = {
    {"add", m_add, 1},
    {"get", m_get, 0},
    {"append", m_append, 1},
    {"append_from", m_append_from, 2},
    {"fail", m_fail, 0},
    {"rank", m_rank, 0},
    {"slow", m_slow, 1},
    {"meet", m_meet, 0},
    {"poke", m_poke, 1},
    {"wait_task", m_wait_task, 0},
    {"wait_gpu_task", m_wait_gpu_task, 0},
    {"self", m_self, 0},
    {"kill_self", m_kill_self, 1},
    {"start_order", m_start_order, 1},
    {"call_self", m_call_self, 0},
    {"ping", m_ping, 1},
    {"gpu_count", m_gpu_count, 0},
};

static int broken_init(relay_ctx_t *ctx, void **state_p)
{
    (void)state_p;
    relay_ctx_fail(ctx, "no disk today");
    return 1;
}

/* ---- tasks ---------------------------------------------------------------- */

/* -> its rank. */
static int fn_ranks(relay_ctx_t *ctx)
{
    int r;
    TASK_OK(ctx, relay_ctx_rank(ctx, &r));
    return test_ret_i64(ctx, r);
}

/* (actor, caller, n): n ordered calls as caller; -> what the last saw. */
static int fn_caller(relay_ctx_t *ctx)
{
    relay_actor_t a;
    TASK_OK(ctx, test_ctx_arg_fixed(ctx, 0, &a, sizeof a));
    int64_t who = test_arg_i64(ctx, 1), n = test_arg_i64(ctx, 2), v = -1;
    relay_ref_t last = RELAY_REF_NULL;
    for (int64_t i = 0; i < n; i++) {
        relay_arg_t args[2] = {relay_arg_value(&who, sizeof who), relay_arg_value(&i, sizeof i)};
        relay_ref_t r;
        TASK_OK(ctx, relay_actor_call(a, "append_from", args, 2, NULL, &r));
        if (last.id) TASK_OK(ctx, relay_release(last));
        last = r;
    }
    TASK_OK(ctx, relay_get_value(last, &v, sizeof v, TEST_LONG_S));
    TASK_OK(ctx, relay_release(last));
    return test_ret_i64(ctx, v);
}

/* (actor): finds it by name "registry" too, adds 10 through each. */
static int fn_use_actor(relay_ctx_t *ctx)
{
    relay_actor_t a, b;
    TASK_OK(ctx, test_ctx_arg_fixed(ctx, 0, &a, sizeof a));
    TASK_OK(ctx, relay_actor_lookup("registry", &b));
    if (a.id != b.id) {
        relay_ctx_fail(ctx, "lookup gave %#llx, not %#llx", (unsigned long long)b.id,
                       (unsigned long long)a.id);
        return 1;
    }
    int64_t ten = 10, v = 0;
    relay_arg_t arg = relay_arg_value(&ten, sizeof ten);
    relay_ref_t r[2];
    TASK_OK(ctx, relay_actor_call(a, "add", &arg, 1, NULL, &r[0]));
    TASK_OK(ctx, relay_actor_call(b, "add", &arg, 1, NULL, &r[1]));
    TASK_OK(ctx, relay_get_value(r[1], &v, sizeof v, TEST_LONG_S));
    TASK_OK(ctx, relay_release_many(r, 2));
    return test_ret_i64(ctx, v);
}

/* Holds the license; -> its rank. */
static int fn_licensed(relay_ctx_t *ctx)
{
    return fn_ranks(ctx);
}

/* ---- driver helpers ------------------------------------------------------- */

static relay_actor_t make(const relay_actor_opts_t *o, int64_t init)
{
    relay_actor_t a;
    relay_arg_t arg = relay_arg_value(&init, sizeof init);
    CHECK_OK(relay_actor_create("counter", &arg, 1, o, &a));
    return a;
}

static relay_ref_t call1(relay_actor_t a, const char *m, int64_t v)
{
    relay_arg_t arg = relay_arg_value(&v, sizeof v);
    relay_ref_t r;
    CHECK_OK(relay_actor_call(a, m, &arg, 1, NULL, &r));
    return r;
}

static relay_ref_t call0(relay_actor_t a, const char *m)
{
    relay_ref_t r;
    CHECK_OK(relay_actor_call(a, m, NULL, 0, NULL, &r));
    return r;
}

static int64_t take(relay_ref_t r)
{
    int64_t v = test_get_i64(r);
    CHECK_OK(relay_release(r));
    return v;
}

/* The status a ref's object has (releasing it). */
static int status_of(relay_ref_t r, const char *msg_has)
{
    relay_object_t o = NULL;
    int st = relay_get(r, TEST_LONG_S, &o);
    if (msg_has && st != RELAY_OK) CHECK_CONTAINS(relay_object_error(o), msg_has);
    if (o) CHECK_OK(relay_object_free(o));
    CHECK_OK(relay_release(r));
    return st;
}

static relay_actor_opts_t cpus(double n)
{
    relay_actor_opts_t o = {.field_mask = RELAY_ACTOR_OPT_NUM_CPUS, .num_cpus = n};
    return o;
}

/* ---- the checks ----------------------------------------------------------- */

static void state_and_order(void)
{
    relay_actor_opts_t o = cpus(0.25);
    relay_actor_t a = make(&o, 5);
    CHECK_EQ(take(call1(a, "add", 2)), 7);
    CHECK_EQ(take(call1(a, "add", 3)), 10);
    CHECK_EQ(take(call0(a, "get")), 10);

    /* 10,000 calls from one caller, observed in order. */
    enum { N = 10000 };
    relay_ref_t *refs = malloc(N * sizeof *refs);
    CHECK(refs != NULL);
    for (int64_t i = 0; i < N; i++)
        refs[i] = call1(a, "append", i);
    CHECK_EQ(test_get_i64(refs[N - 1]), 0);
    CHECK_OK(relay_release_many(refs, N));
    free(refs);

    /* More callers at once, tasks on other ranks: each in its own order. */
    relay_ref_t callers[3];
    for (int64_t k = 0; k < 3; k++) {
        int64_t n = 300;
        relay_arg_t args[3] = {relay_arg_value(&a, sizeof a), relay_arg_value(&k, sizeof k),
                               relay_arg_value(&n, sizeof n)};
        CHECK_OK(relay_submit("caller", args, 3, NULL, &callers[k]));
    }
    for (int k = 0; k < 3; k++)
        CHECK_EQ(take(callers[k]), 0);
    CHECK_EQ(take(call0(a, "get")), 10); /* state kept through it all */

    /* Its own handle, inside a method. */
    CHECK_EQ(take(call0(a, "self")), (int64_t)a.id);
    CHECK_OK(relay_actor_kill(a));
}

static void handles_and_names(void)
{
    relay_actor_opts_t o = cpus(0.25);
    o.field_mask |= RELAY_ACTOR_OPT_NAME;
    o.name = "registry";
    relay_actor_t a = make(&o, 0);
    relay_actor_t dup;
    CHECK_STATUS(relay_actor_create("counter", NULL, 0, &o, &dup), RELAY_ERR_EXISTS);
    CHECK_CONTAINS(relay_last_error(), "registry");
    relay_actor_t found;
    CHECK_OK(relay_actor_lookup("registry", &found));
    CHECK_EQ(found.id, a.id);
    CHECK_EQ(found.class_hash, a.class_hash);
    CHECK_STATUS(relay_actor_lookup("nobody", &found), RELAY_ERR_NOT_FOUND);

    /* A task (wherever it runs) uses the handle it was given and the one
     * it looks up: both reach the same state. */
    relay_arg_t arg = relay_arg_value(&a, sizeof a);
    relay_ref_t r;
    CHECK_OK(relay_submit("use_actor", &arg, 1, NULL, &r));
    CHECK_EQ(take(r), 20);

    /* One actor calls another (its method blocks in get meanwhile). */
    relay_actor_opts_t p = cpus(0.25);
    relay_actor_t b = make(&p, 0);
    relay_arg_t ha = relay_arg_value(&a, sizeof a);
    CHECK_OK(relay_actor_call(b, "poke", &ha, 1, NULL, &r));
    CHECK_EQ(take(r), 21);

    /* Killed, its name is free again. */
    CHECK_OK(relay_actor_kill(a));
    CHECK_STATUS(relay_actor_lookup("registry", &found), RELAY_ERR_NOT_FOUND);
    relay_actor_t again = make(&o, 100);
    CHECK_EQ(take(call0(again, "get")), 100);
    CHECK_OK(relay_actor_kill(again));
    CHECK_OK(relay_actor_kill(b));
}

static void kill_semantics(void)
{
    /* The actor takes the only license: the licensed task waits for it. */
    relay_resource_t lic = {"license", 1};
    relay_actor_opts_t o = cpus(0.25);
    o.field_mask |= RELAY_ACTOR_OPT_RESOURCES;
    o.resources = &lic;
    o.num_resources = 1;
    relay_actor_t a = make(&o, 0);
    CHECK_EQ(take(call0(a, "rank")), 1);
    relay_task_opts_t t = {
        .field_mask = RELAY_TASK_OPT_RESOURCES, .resources = &lic, .num_resources = 1};
    relay_ref_t lic_task;
    CHECK_OK(relay_submit("licensed", NULL, 0, &t, &lic_task));
    /* The first call kills the actor while it runs; the ones behind it
     * never run. */
    relay_ref_t slow = call1(a, "kill_self", 200), queued[3];
    for (int i = 0; i < 3; i++)
        queued[i] = call1(a, "add", 1);
    CHECK_EQ(take(slow), 1);       /* the running call finishes */
    CHECK_OK(relay_actor_kill(a)); /* again: nothing more happens */
    for (int i = 0; i < 3; i++)
        CHECK_STATUS(status_of(queued[i], "killed"), RELAY_ERR_ACTOR_DEAD);
    CHECK_STATUS(status_of(call0(a, "get"), "killed"), RELAY_ERR_ACTOR_DEAD);
    /* Its license is free: the task that waited for it runs. */
    CHECK_EQ(take(lic_task), 1);
}

static void concurrency_and_failures(void)
{
    /* At most 3 methods at once, and 3 do meet. */
    relay_actor_opts_t o = cpus(0.25);
    o.field_mask |= RELAY_ACTOR_OPT_MAX_CONCURRENCY;
    o.max_concurrency = 3;
    relay_actor_t a = make(&o, 0);
    relay_ref_t refs[9];
    for (int i = 0; i < 9; i++)
        refs[i] = call0(a, "meet");
    int64_t most = 0;
    for (int i = 0; i < 9; i++) {
        int64_t v = take(refs[i]);
        most = v > most ? v : most;
    }
    CHECK_EQ(most, 3);
    CHECK_OK(relay_actor_kill(a));

    /* A failing method fails its call only; the actor lives on. */
    relay_actor_opts_t p = cpus(0.25);
    relay_actor_t b = make(&p, 1);
    CHECK_STATUS(status_of(call0(b, "fail"), "asked to fail"), RELAY_ERR_TASK_FAILED);
    CHECK_EQ(take(call1(b, "add", 1)), 2);
    CHECK_OK(relay_actor_kill(b));

    /* A constructor that fails makes the actor dead, with its reason. */
    relay_actor_t c;
    CHECK_OK(relay_actor_create("broken", NULL, 0, &p, &c));
    CHECK_STATUS(status_of(call0(c, "get"), "no disk today"), RELAY_ERR_ACTOR_DEAD);
    CHECK_STATUS(status_of(call0(c, "get"), "constructor"), RELAY_ERR_ACTOR_DEAD);
}

static void concurrent_order(void)
{
    /* Two threads: a call whose argument takes long to fetch is not
     * overtaken by the call made after it (which, started first, would
     * have returned before the first one started). */
    relay_actor_opts_t o = cpus(0.25);
    o.field_mask |= RELAY_ACTOR_OPT_MAX_CONCURRENCY;
    o.max_concurrency = 2;
    relay_actor_t a = make(&o, 0);
    size_t big = 64u << 20;
    char *buf = calloc(1, big);
    CHECK(buf != NULL);
    relay_ref_t data;
    CHECK_OK(relay_put(buf, big, &data));
    free(buf);
    relay_ref_t r[2];
    relay_arg_t first = relay_arg_ref(data);
    CHECK_OK(relay_actor_call(a, "start_order", &first, 1, NULL, &r[0]));
    r[1] = call1(a, "start_order", 1);
    CHECK_EQ(take(r[0]), 0);
    CHECK_LE(take(r[1]), 1);
    CHECK_OK(relay_release(data));
    CHECK_OK(relay_actor_kill(a));

    /* All 4 CPUs of rank 1 and two threads: while one call runs, the
     * other waits for a task needing a CPU. That is no deadlock: once the
     * running call ends the actor gives its CPUs back and the task runs. */
    relay_actor_opts_t all = cpus(4);
    all.field_mask |= RELAY_ACTOR_OPT_MAX_CONCURRENCY;
    all.max_concurrency = 2;
    relay_actor_t b = make(&all, 0);
    CHECK_EQ(take(call0(b, "rank")), 1);
    relay_ref_t slow = call1(b, "slow", 300), waits = call0(b, "wait_task");
    CHECK_EQ(take(slow), 1);
    CHECK_GE(take(waits), 1);
    CHECK_OK(relay_actor_kill(b));
}

static void strict_placement(void)
{
    /* An actor gets its CPUs only where they are free: B does not queue
     * behind A on rank 1, where a task still finds its CPU. */
    relay_actor_opts_t three = cpus(3), two = cpus(2);
    relay_actor_t a = make(&three, 0);
    CHECK_EQ(take(call0(a, "rank")), 1);
    relay_actor_t b = make(&two, 0);
    relay_ref_t b_rank = call0(b, "rank");
    relay_ref_t t;
    CHECK_OK(relay_submit("ranks", NULL, 0, NULL, &t));
    CHECK_GE(take(t), 1);
    if (world_size == 2) {
        /* Nowhere else to go: B is built once A is gone. */
        relay_object_t o;
        CHECK_STATUS(relay_get(b_rank, 0.2, &o), RELAY_ERR_TIMEOUT);
        CHECK_OK(relay_actor_kill(a));
        CHECK_EQ(take(b_rank), 1);
    } else {
        CHECK_GE(take(b_rank), 2);
        CHECK_OK(relay_actor_kill(a));
    }
    CHECK_OK(relay_actor_kill(b));
}

static void actor_deadlocks(void)
{
    /* A method calling its own single-threaded actor, and A -> B -> A:
     * reported, not hung. */
    relay_actor_opts_t o = cpus(0.25);
    relay_actor_t a = make(&o, 0), b = make(&o, 0);
    CHECK_STATUS((int)take(call0(a, "call_self")), RELAY_ERR_DEADLOCK);
    relay_arg_t hb = relay_arg_value(&b, sizeof b);
    relay_ref_t r;
    CHECK_OK(relay_actor_call(a, "ping", &hb, 1, NULL, &r));
    CHECK_STATUS((int)take(r), RELAY_ERR_TASK_FAILED); /* B's poke failed on a's deadlock */
    CHECK_EQ(take(call0(a, "get")), 0);                /* both live on */
    CHECK_OK(relay_actor_kill(a));
    CHECK_OK(relay_actor_kill(b));
}

static void placement(void)
{
    /* On the rank with the custom resource. */
    if (world_size >= 3) {
        relay_resource_t ssd = {"ssd", 1};
        relay_actor_opts_t o = cpus(0.25);
        o.field_mask |= RELAY_ACTOR_OPT_RESOURCES;
        o.resources = &ssd;
        o.num_resources = 1;
        relay_actor_t a = make(&o, 0);
        CHECK_EQ(take(call0(a, "rank")), 2);
        CHECK_OK(relay_actor_kill(a));
    }
    /* An actor holding every CPU of rank 1: its method's get gives them
     * back, so the task it waits for can run (with 2 ranks: there). */
    relay_actor_opts_t all = cpus(4);
    relay_actor_t b = make(&all, 0);
    CHECK_EQ(take(call0(b, "rank")), 1);
    int64_t where = take(call0(b, "wait_task"));
    if (world_size == 2) CHECK_EQ(where, 1);
    CHECK_OK(relay_actor_kill(b));

    /* A GPU actor keeps its GPU; its method waiting for a GPU task, with
     * one GPU in the job, is a deadlock reported as an error. */
    relay_actor_opts_t g = cpus(0.25);
    g.field_mask |= RELAY_ACTOR_OPT_NUM_GPUS;
    g.num_gpus = 1;
    relay_actor_t ga = make(&g, 0);
    CHECK_EQ(take(call0(ga, "gpu_count")), 1); /* its methods see its GPU */
    CHECK_STATUS((int)take(call0(ga, "wait_gpu_task")), RELAY_ERR_DEADLOCK);
    CHECK_OK(relay_actor_kill(ga));
}

static void bad_input(void)
{
    relay_stats_t before = test_stats();
    relay_actor_t a, none = RELAY_ACTOR_NULL;
    relay_ref_t r = {99};
    CHECK_STATUS(relay_actor_create("nope", NULL, 0, NULL, &a), RELAY_ERR_UNKNOWN_FUNCTION);
    CHECK_STATUS(relay_actor_create(NULL, NULL, 0, NULL, &a), RELAY_ERR_INVALID_ARG);
    CHECK_STATUS(relay_actor_create("counter", NULL, 0, NULL, NULL), RELAY_ERR_INVALID_ARG);
    relay_arg_t two[2] = {relay_arg_value(&r, 8), relay_arg_value(&r, 8)};
    CHECK_STATUS(relay_actor_create("broken", two, 2, NULL, &a), RELAY_ERR_OUT_OF_RANGE);
    relay_actor_opts_t o = {.field_mask = RELAY_ACTOR_OPT_MAX_CONCURRENCY, .max_concurrency = 0};
    CHECK_STATUS(relay_actor_create("counter", NULL, 0, &o, &a), RELAY_ERR_OUT_OF_RANGE);
    o.max_concurrency = RELAY_MAX_CONCURRENCY + 1;
    CHECK_STATUS(relay_actor_create("counter", NULL, 0, &o, &a), RELAY_ERR_OUT_OF_RANGE);
    relay_actor_opts_t big = cpus(1000);
    CHECK_STATUS(relay_actor_create("counter", NULL, 0, &big, &a), RELAY_ERR_INFEASIBLE);
    relay_actor_opts_t noname = {.field_mask = RELAY_ACTOR_OPT_NAME, .name = ""};
    CHECK_STATUS(relay_actor_create("counter", NULL, 0, &noname, &a), RELAY_ERR_INVALID_ARG);

    relay_actor_opts_t p = cpus(0.25);
    relay_actor_t good = make(&p, 0);
    CHECK_STATUS(relay_actor_call(none, "get", NULL, 0, NULL, &r), RELAY_ERR_INVALID_ARG);
    CHECK_STATUS(relay_actor_call(good, "nope", NULL, 0, NULL, &r), RELAY_ERR_UNKNOWN_FUNCTION);
    CHECK_STATUS(relay_actor_call(good, "add", NULL, 0, NULL, &r), RELAY_ERR_OUT_OF_RANGE);
    CHECK_STATUS(relay_actor_call(good, NULL, NULL, 0, NULL, &r), RELAY_ERR_INVALID_ARG);
    CHECK_STATUS(relay_actor_call(good, "get", NULL, 0, NULL, NULL), RELAY_ERR_INVALID_ARG);
    relay_task_opts_t gpu = {.field_mask = RELAY_TASK_OPT_NUM_GPUS, .num_gpus = 1};
    CHECK_STATUS(relay_actor_call(good, "get", NULL, 0, &gpu, &r), RELAY_ERR_INVALID_ARG);
    relay_task_opts_t nret = {.field_mask = RELAY_TASK_OPT_NUM_RETURNS, .num_returns = -1};
    CHECK_STATUS(relay_actor_call(good, "get", NULL, 0, &nret, &r), RELAY_ERR_OUT_OF_RANGE);
    nret.num_returns = RELAY_MAX_RETURNS + 1;
    CHECK_STATUS(relay_actor_call(good, "get", NULL, 0, &nret, &r), RELAY_ERR_OUT_OF_RANGE);
    relay_actor_t forged = good;
    forged.class_hash ^= 1;
    CHECK_STATUS(relay_actor_call(forged, "get", NULL, 0, NULL, &r), RELAY_ERR_INVALID_ARG);
    relay_actor_t never = good;
    never.id = (uint64_t)1 << 44 | (UINT64_C(0xfffffff) << 8); /* rank 1's, never made */
    CHECK_STATUS(relay_actor_kill(never), RELAY_ERR_INVALID_REF);
    CHECK_STATUS(relay_actor_kill(none), RELAY_ERR_INVALID_ARG);
    CHECK_STATUS(relay_actor_lookup(NULL, &a), RELAY_ERR_INVALID_ARG);
    CHECK_STATUS(relay_actor_lookup("x", NULL), RELAY_ERR_INVALID_ARG);
    CHECK_EQ(r.id, 99);
    relay_stats_t after = test_stats();
    CHECK_EQ(after.held_refs, before.held_refs);
    /* A call on a handle rank 0 never saw fails as its result. */
    CHECK_STATUS(status_of(call0(never, "get"), "unknown"), RELAY_ERR_INVALID_REF);
    CHECK_EQ(take(call0(good, "get")), 0); /* nothing else changed */
    CHECK_OK(relay_actor_kill(good));

    /* Registering classes: bad ones are refused. */
    relay_method_t dupm[2] = {{"m", m_get, 0}, {"m", m_get, 0}};
    relay_actor_class_t bad = {NULL, 0, NULL, dupm, 2};
    CHECK_STATUS(relay_register_actor("dup_methods", &bad), RELAY_ERR_INVALID_ARG);
    bad.num_methods = 0;
    CHECK_STATUS(relay_register_actor("no_methods", &bad), RELAY_ERR_INVALID_ARG);
    relay_method_t nofn[1] = {{"m", NULL, 0}};
    relay_actor_class_t bad2 = {NULL, 0, NULL, nofn, 1};
    CHECK_STATUS(relay_register_actor("no_fn", &bad2), RELAY_ERR_INVALID_ARG);
    CHECK_STATUS(relay_register_actor("counter", &bad2), RELAY_ERR_INVALID_ARG);
    relay_actor_class_t other = {NULL, 0, NULL, counter_methods, 1};
    CHECK_STATUS(relay_register_actor("counter", &other), RELAY_ERR_EXISTS);
    CHECK_STATUS(relay_register_actor("ranks", &other), RELAY_ERR_EXISTS); /* a function's name */
}

static relay_config_t layout(void)
{
    static relay_resource_t r1[1] = {{"license", 1}}, r2[1] = {{"ssd", 1}};
    relay_config_t c;
    memset(&c, 0, sizeof c);
    c.field_mask = RELAY_CONFIG_NUM_CPUS | RELAY_CONFIG_NUM_GPUS | RELAY_CONFIG_RESOURCES;
    c.num_cpus = world_rank == 1 ? 4 : 2;
    c.num_gpus = world_rank == 1 ? 1 : 0;
    c.resources = world_rank == 1 ? r1 : world_rank == 2 ? r2 : NULL;
    c.num_resources = world_rank == 1 || world_rank == 2;
    return c;
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (world_size < 2) {
        MPI_Finalize();
        return TEST_SKIP;
    }
    relay_actor_class_t counter = {counter_init, RELAY_ANY_ARGS, counter_fini, counter_methods,
                                   sizeof counter_methods / sizeof counter_methods[0]};
    relay_actor_class_t broken = {broken_init, 0, counter_fini, counter_methods,
                                  sizeof counter_methods / sizeof counter_methods[0]};
    CHECK_OK(relay_register_actor("counter", &counter));
    CHECK_OK(relay_register_actor("counter", &counter)); /* the same again: harmless */
    CHECK_OK(relay_register_actor("broken", &broken));
    CHECK_OK(relay_register("ranks", fn_ranks));
    CHECK_OK(relay_register("caller", fn_caller));
    CHECK_OK(relay_register("use_actor", fn_use_actor));
    CHECK_OK(relay_register("licensed", fn_licensed));
    relay_config_t cfg = layout();
    CHECK_OK(relay_init(&argc, &argv, &cfg));
    if (world_rank == 0) {
        state_and_order();
        handles_and_names();
        kill_semantics();
        concurrency_and_failures();
        concurrent_order();
        strict_placement();
        actor_deadlocks();
        placement();
        bad_input();
    }
    test_barrier();
    /* Every actor built was killed: its destructor ran once, on its rank,
     * before relay_finalize (a kill returns before that: wait for it). */
    uint64_t hosted = 1;
    for (double end = test_now() + TEST_LONG_S; hosted && test_now() < end; test_sleep(0.01))
        hosted = test_allreduce_sum_u64(test_stats().actors_hosted);
    CHECK_EQ(hosted, 0);
    CHECK_EQ(test_allreduce_sum_u64((uint64_t)atomic_load(&destroyed)), world_size >= 3 ? 17 : 16);
    CHECK_OK(relay_finalize());
    MPI_Finalize();
    if (world_rank == 0) printf("actors: PASS\n");
    return 0;
}
