/* Actors as Ray has them, where ported programs depend on it:
 *   cpus:  a default actor needs a free CPU to be placed and holds none
 *          while it lives, so on a 1-CPU worker rank two default actors
 *          both live, and a task feeding an actor's call still runs; the
 *          rank's CPU count stays right across a blocked method, a kill
 *          and an actor that asks for its CPU explicitly.
 *   holds: refs an actor's constructor and methods took (put, retain,
 *          submit) and kept in its state go with the actor when it dies,
 *          though its destructor only free()s the state; so do those of a
 *          constructor that failed.
 *   order: calls to one actor are ordered per caller: a task's call with
 *          ready arguments does not wait behind another task's call (same
 *          rank) whose argument is still being made.
 *   chain: a call whose argument fails fails, and so does the same
 *          caller's next call, which takes the first one's return (rank 0
 *          fails it from within failing the first); the caller's later
 *          ready call still runs. The same chain on an actor killed before
 *          it was placed fails whole.
 *   rank_holds: holds the actor's rank has from elsewhere stay the rank's:
 *          a method's relay_release_many failing on a bad ref leaves them
 *          as they were, and a hold the actor took that another thread of
 *          its rank dropped is not dropped again when the actor dies (a
 *          hold the rank took since stays).
 * Optional argument: one scenario's name (default: all of them).
 *
 * Layout (each rank's relay_config_t): every worker rank offers 1 CPU;
 * rank 1 also offers home=1, which pins the order scenario's two callers
 * to one rank. inline_max is 1 KiB, so the big puts go to the store. */
#include <stdatomic.h>

#include "testutil.h"

#define WAIT_S 20.0 /* what must happen soon; today's hangs fail after it */
#define SLOW_MS 4000

static int world_rank, world_size;
static atomic_int a_called; /* the order scenario's first caller has called */

static int64_t take(relay_ref_t r)
{
    int64_t v = 0;
    CHECK_OK(relay_get_value(r, &v, sizeof v, WAIT_S));
    CHECK_OK(relay_release(r));
    return v;
}

/* ---- the "plain" class: a default actor's methods ------------------------ */

static int plain_init(relay_ctx_t *ctx, void **state_p)
{
    (void)ctx;
    *state_p = calloc(1, sizeof(int64_t));
    return *state_p ? 0 : 1;
}

static int m_rank(relay_ctx_t *ctx, void *state)
{
    (void)state;
    int r;
    TASK_OK(ctx, relay_ctx_rank(ctx, &r));
    return test_ret_i64(ctx, r);
}

static int m_echo(relay_ctx_t *ctx, void *state)
{
    (void)state;
    return test_ret_i64(ctx, test_arg_i64(ctx, 0));
}

/* Blocks in get on a task it submits (the method's CPUs, if any, go back
 * meanwhile): -> that task's result, 2. */
static int m_wait_task(relay_ctx_t *ctx, void *state)
{
    (void)state;
    int64_t one = 1, v = 0;
    relay_arg_t a = relay_arg_value(&one, sizeof one);
    relay_ref_t r;
    TASK_OK(ctx, relay_submit("add1", &a, 1, NULL, &r));
    TASK_OK(ctx, relay_get_value(r, &v, sizeof v, WAIT_S));
    TASK_OK(ctx, relay_release(r));
    return test_ret_i64(ctx, v);
}

/* (ref by value): relay_release_many of it and a null ref -> its status. */
static int m_release_bad(relay_ctx_t *ctx, void *state)
{
    (void)state;
    relay_ref_t two[2] = {{(uint64_t)test_arg_i64(ctx, 0)}, RELAY_REF_NULL};
    return test_ret_i64(ctx, relay_release_many(two, 2));
}

/* (v): puts v and keeps the hold (the actor's) -> the ref, by value. */
static int m_put_keep(relay_ctx_t *ctx, void *state)
{
    (void)state;
    int64_t v = test_arg_i64(ctx, 0);
    relay_ref_t r;
    TASK_OK(ctx, relay_put(&v, sizeof v, &r));
    return test_ret_i64(ctx, (int64_t)r.id);
}

static const relay_method_t plain_methods[] = {
    {"rank", m_rank, 0},           {"echo", m_echo, 1},
    {"wait_task", m_wait_task, 0}, {"release_bad", m_release_bad, 1},
    {"put_keep", m_put_keep, 1},
};

/* ---- the "keeper" class: refs kept in the state --------------------------- */

#define KEEP_MAX 16
#define BIG_BYTES (64 * 1024)

typedef struct keeper {
    relay_ref_t refs[4 * KEEP_MAX + 2];
    int n;
} keeper_t;

static int keeper_init(relay_ctx_t *ctx, void **state_p)
{
    keeper_t *k = calloc(1, sizeof *k);
    if (!k) return 1;
    *state_p = k;
    int64_t v = 11;
    TASK_OK(ctx, relay_put(&v, sizeof v, &k->refs[k->n++]));
    return 0;
}

/* (ref by value, n): keeps a retain of the ref, n small and n big puts,
 * and the return of a task it submits; puts one more and releases it. */
static int m_keep(relay_ctx_t *ctx, void *state)
{
    keeper_t *k = state;
    relay_ref_t given;
    int64_t n = test_arg_i64(ctx, 1);
    if (test_ctx_arg_fixed(ctx, 0, &given, sizeof given) || n < 1 || n > KEEP_MAX) return 1;
    TASK_OK(ctx, relay_retain(given));
    k->refs[k->n++] = given;
    char *big = calloc(1, BIG_BYTES);
    if (!big) return 1;
    for (int64_t i = 0; i < n; i++) {
        TASK_OK(ctx, relay_put(&i, sizeof i, &k->refs[k->n++]));
        big[0] = (char)i;
        TASK_OK(ctx, relay_put(big, BIG_BYTES, &k->refs[k->n++]));
    }
    free(big);
    relay_arg_t a = relay_arg_value(&n, sizeof n);
    TASK_OK(ctx, relay_submit("add1", &a, 1, NULL, &k->refs[k->n++]));
    relay_ref_t gone;
    TASK_OK(ctx, relay_put(&n, sizeof n, &gone));
    TASK_OK(ctx, relay_release(gone));
    return test_ret_i64(ctx, k->n);
}

static const relay_method_t keeper_methods[] = {{"keep", m_keep, 2}};

/* A constructor that puts an object, keeps it, then fails. */
static int leaky_init(relay_ctx_t *ctx, void **state_p)
{
    (void)state_p;
    int64_t v = 5;
    relay_ref_t r;
    TASK_OK(ctx, relay_put(&v, sizeof v, &r));
    relay_ctx_fail(ctx, "fails on purpose, keeping a put");
    return 1;
}

/* ---- tasks --------------------------------------------------------------- */

/* (no argument) -> this rank's free CPUs, in 1/1000. */
static int fn_cpus_free(relay_ctx_t *ctx)
{
    relay_resources_t res;
    TASK_OK(ctx, relay_local_resources(&res));
    return test_ret_i64(ctx, (int64_t)(res.cpus_free * 1000.0 + 0.5));
}

/* (actor, ref by value): calls actor.echo(ref), says so, gets the answer. */
static int fn_call_waiting(relay_ctx_t *ctx)
{
    relay_actor_t a;
    relay_ref_t s, r;
    int64_t v = 0;
    if (test_ctx_arg_fixed(ctx, 0, &a, sizeof a) || test_ctx_arg_fixed(ctx, 1, &s, sizeof s))
        return 1;
    relay_arg_t arg = relay_arg_ref(s);
    TASK_OK(ctx, relay_actor_call(a, "echo", &arg, 1, NULL, &r));
    atomic_store(&a_called, 1);
    TASK_OK(ctx, relay_get_value(r, &v, sizeof v, 3 * WAIT_S));
    TASK_OK(ctx, relay_release(r));
    return test_ret_i64(ctx, v);
}

/* (actor): once the other caller has called, calls actor.echo(7) and
 * gets the answer. */
static int fn_call_ready(relay_ctx_t *ctx)
{
    relay_actor_t a;
    relay_ref_t r;
    int64_t seven = 7, v = 0;
    if (test_ctx_arg_fixed(ctx, 0, &a, sizeof a)) return 1;
    double end = test_now() + WAIT_S;
    while (!atomic_load(&a_called) && test_now() < end)
        test_sleep(0.001);
    if (!atomic_load(&a_called)) {
        relay_ctx_fail(ctx, "the other caller never called");
        return 1;
    }
    relay_arg_t arg = relay_arg_value(&seven, sizeof seven);
    TASK_OK(ctx, relay_actor_call(a, "echo", &arg, 1, NULL, &r));
    TASK_OK(ctx, relay_get_value(r, &v, sizeof v, 3 * WAIT_S));
    TASK_OK(ctx, relay_release(r));
    return test_ret_i64(ctx, v);
}

/* (ms): fails after ms milliseconds. */
static int fn_fail_ms(relay_ctx_t *ctx)
{
    test_sleep((double)test_arg_i64(ctx, 0) / 1000.0);
    relay_ctx_fail(ctx, "fails on purpose");
    return 1;
}

/* (ms) -> ms, after ms milliseconds or at once when cancelled: a slow
 * argument that ends as soon as it is no longer needed. */
static int fn_nap_ms(relay_ctx_t *ctx)
{
    int64_t ms = test_arg_i64(ctx, 0);
    for (double end = test_now() + (double)ms / 1000.0;
         test_now() < end && !relay_ctx_cancelled(ctx);)
        test_sleep(0.01);
    return test_ret_i64(ctx, ms);
}

/* (v): puts v, a hold of this rank outside any actor -> the ref, by value. */
static int fn_put_here(relay_ctx_t *ctx)
{
    int64_t v = test_arg_i64(ctx, 0);
    relay_ref_t r;
    TASK_OK(ctx, relay_put(&v, sizeof v, &r));
    return test_ret_i64(ctx, (int64_t)r.id);
}

/* (ref by value) -> the status of relay_release / relay_retain of it. */
static int fn_release_id(relay_ctx_t *ctx)
{
    relay_ref_t r = {(uint64_t)test_arg_i64(ctx, 0)};
    return test_ret_i64(ctx, relay_release(r));
}

static int fn_retain_id(relay_ctx_t *ctx)
{
    relay_ref_t r = {(uint64_t)test_arg_i64(ctx, 0)};
    return test_ret_i64(ctx, relay_retain(r));
}

/* ---- driver helpers ------------------------------------------------------ */

static int worker_ranks(void)
{
    return test_driver_hosts_workers(world_size) ? world_size : world_size - 1;
}

static relay_actor_t make(const char *cls, const relay_actor_opts_t *o)
{
    relay_actor_t a;
    CHECK_OK(relay_actor_create(cls, NULL, 0, o, &a));
    return a;
}

static relay_ref_t call0(relay_actor_t a, const char *m)
{
    relay_ref_t r;
    CHECK_OK(relay_actor_call(a, m, NULL, 0, NULL, &r));
    return r;
}

static relay_ref_t call1(relay_actor_t a, const char *m, relay_arg_t arg)
{
    relay_ref_t r;
    CHECK_OK(relay_actor_call(a, m, &arg, 1, NULL, &r));
    return r;
}

static relay_arg_t i64_arg(const int64_t *v)
{
    return relay_arg_value(v, sizeof *v);
}

/* fn(v) run on rank 1, asking for no CPU and home units of home: its
 * int64 return. */
static int64_t on_home(double units, const char *fn, int64_t v)
{
    relay_resource_t home = {"home", units};
    relay_task_opts_t o = {.field_mask = RELAY_TASK_OPT_NUM_CPUS | RELAY_TASK_OPT_RESOURCES,
                           .num_cpus = 0,
                           .resources = &home,
                           .num_resources = 1};
    relay_arg_t a = i64_arg(&v);
    relay_ref_t r;
    CHECK_OK(relay_submit(fn, &a, 1, &o, &r));
    return take(r);
}

/* The ref's object is an error of status want whose message contains
 * what; the ref is released. */
static void check_fails(relay_ref_t r, int want, const char *what)
{
    relay_object_t o = NULL;
    CHECK_STATUS(relay_get(r, WAIT_S, &o), want);
    CHECK(o != NULL);
    CHECK_EQ(relay_object_status(o), want);
    CHECK_CONTAINS(relay_object_error(o), what);
    CHECK_OK(relay_object_free(o));
    CHECK_OK(relay_release(r));
}

/* Free CPUs (in 1/1000) a probe task asking for none sees on its rank;
 * polls until want (the kill of an actor gives its CPUs back a little
 * later), and returns the last seen. */
static int64_t cpus_free_until(int64_t want)
{
    relay_task_opts_t zero = {.field_mask = RELAY_TASK_OPT_NUM_CPUS, .num_cpus = 0};
    int64_t v = -1;
    for (double end = test_now() + WAIT_S; v != want && test_now() < end;) {
        relay_ref_t r;
        CHECK_OK(relay_submit("cpus_free", NULL, 0, &zero, &r));
        v = take(r);
        if (v != want) test_sleep(0.02);
    }
    return v;
}

/* ---- scenarios ----------------------------------------------------------- */

static void cpus(void)
{
    /* One more default actor than there are 1-CPU worker ranks: some rank
     * hosts two, and every one of them answers. */
    int n = worker_ranks() + 1;
    relay_actor_t a[8];
    relay_ref_t r[8];
    for (int i = 0; i < n; i++)
        a[i] = make("plain", NULL);
    for (int i = 0; i < n; i++)
        r[i] = call0(a[i], "rank");
    for (int i = 0; i < n; i++)
        CHECK_GE(take(r[i]), test_driver_hosts_workers(world_size) ? 0 : 1);
    /* Live default actors hold no CPU. */
    CHECK_EQ(cpus_free_until(1000), 1000);

    /* A task feeding an actor's call runs while the actors live. */
    int64_t v = 41;
    relay_arg_t arg = relay_arg_value(&v, sizeof v);
    relay_ref_t t;
    CHECK_OK(relay_submit("add1", &arg, 1, NULL, &t));
    relay_arg_t fed = relay_arg_ref(t);
    relay_ref_t e;
    CHECK_OK(relay_actor_call(a[0], "echo", &fed, 1, NULL, &e));
    CHECK_EQ(take(e), 42);
    CHECK_OK(relay_release(t));

    /* A method of a 0-CPU actor blocked in get: its task runs, and the
     * rank's count is the same afterwards (nothing given back twice). */
    CHECK_EQ(take(call0(a[0], "wait_task")), 2);
    CHECK_EQ(take(call0(a[n - 1], "wait_task")), 2);
    CHECK_EQ(cpus_free_until(1000), 1000);
    for (int i = 0; i < n; i++)
        CHECK_OK(relay_actor_kill(a[i]));
    CHECK_EQ(cpus_free_until(1000), 1000);

    /* num_cpus given: the actor holds that many for its life, gives them
     * back while its method waits, and when it dies. */
    if (worker_ranks() == 1) {
        relay_actor_opts_t one = {.field_mask = RELAY_ACTOR_OPT_NUM_CPUS, .num_cpus = 1};
        relay_actor_t h = make("plain", &one);
        CHECK_GE(take(call0(h, "rank")), 0);
        CHECK_EQ(cpus_free_until(0), 0);
        CHECK_EQ(take(call0(h, "wait_task")), 2);
        CHECK_EQ(cpus_free_until(0), 0);
        CHECK_OK(relay_actor_kill(h));
        CHECK_EQ(cpus_free_until(1000), 1000);
    }
}

static void holds(void)
{
    CHECK_OK(relay_sync(TEST_LONG_S));
    relay_stats_t base = test_stats();
    test_print_stats("holds: baseline", &base);

    relay_actor_t k = make("keeper", NULL);
    int64_t x = 3, n = 4;
    relay_ref_t given;
    CHECK_OK(relay_put(&x, sizeof x, &given));
    relay_arg_t args[2] = {relay_arg_value(&given, sizeof given), relay_arg_value(&n, sizeof n)};
    relay_ref_t r;
    CHECK_OK(relay_actor_call(k, "keep", args, 2, NULL, &r));
    CHECK_EQ(take(r), 1 + 1 + 2 * n + 1);
    CHECK_OK(relay_release(given));
    CHECK_OK(relay_sync(TEST_LONG_S));
    relay_stats_t full = test_stats();
    test_print_stats("holds: the actor keeps its refs", &full);
    CHECK_GE(full.directory_objects, base.directory_objects + 2 * (uint64_t)n + 3);
    CHECK_OK(relay_actor_kill(k));

    /* A constructor that failed keeps nothing either. */
    relay_actor_t l = make("leaky", NULL);
    relay_ref_t lr = call0(l, "rank");
    relay_object_t o = NULL;
    CHECK_STATUS(relay_get(lr, WAIT_S, &o), RELAY_ERR_ACTOR_DEAD);
    if (o) CHECK_OK(relay_object_free(o));
    CHECK_OK(relay_release(lr));

    test_wait_directory(base.directory_objects, base.directory_bytes, WAIT_S);
}

static void order(void)
{
    relay_actor_t a = make("plain", NULL);
    CHECK_GE(take(call0(a, "rank")), 0);
    /* The slow producer of the first caller's argument. */
    relay_task_opts_t zero = {.field_mask = RELAY_TASK_OPT_NUM_CPUS, .num_cpus = 0};
    int64_t ms = SLOW_MS;
    relay_arg_t sa = relay_arg_value(&ms, sizeof ms);
    relay_ref_t s;
    CHECK_OK(relay_submit("sleep_ms", &sa, 1, &zero, &s));
    /* Both callers on rank 1, where home is. */
    relay_resource_t home = {"home", 0.5};
    relay_task_opts_t o = zero;
    o.field_mask |= RELAY_TASK_OPT_RESOURCES;
    o.resources = &home;
    o.num_resources = 1;
    relay_arg_t wa[2] = {relay_arg_value(&a, sizeof a), relay_arg_value(&s, sizeof s)};
    relay_ref_t ta, tb;
    CHECK_OK(relay_submit("call_waiting", wa, 2, &o, &ta));
    CHECK_OK(relay_submit("call_ready", wa, 1, &o, &tb));
    CHECK_EQ(take(tb), 7);
    /* B's call was answered while A's argument was still being made. */
    int ready = -1;
    CHECK_OK(relay_wait(&s, 1, 0, 0.0, &ready, NULL));
    CHECK_EQ(ready, 0);
    CHECK_EQ(take(ta), SLOW_MS);
    CHECK_OK(relay_release(s));
    CHECK_OK(relay_actor_kill(a));
}

/* c[0] = a.echo(first), c[1] = a.echo(c[0]), c[2] = a.echo(7): one caller. */
static void call_chain(relay_actor_t a, relay_arg_t first, relay_ref_t c[3])
{
    static const int64_t seven = 7;
    c[0] = call1(a, "echo", first);
    c[1] = call1(a, "echo", relay_arg_ref(c[0]));
    c[2] = call1(a, "echo", i64_arg(&seven));
}

static void chain(void)
{
    relay_actor_t a = make("plain", NULL);
    CHECK_GE(take(call0(a, "rank")), 0); /* placed */
    int64_t ms = 300;
    relay_ref_t f, c[3];
    relay_arg_t fa = i64_arg(&ms);
    CHECK_OK(relay_submit("fail_ms", &fa, 1, NULL, &f));
    call_chain(a, relay_arg_ref(f), c);
    check_fails(c[0], RELAY_ERR_TASK_FAILED, "fails on purpose");
    check_fails(c[1], RELAY_ERR_TASK_FAILED, "fails on purpose");
    CHECK_EQ(take(c[2]), 7);
    CHECK_OK(relay_release(f));
    CHECK_OK(relay_actor_kill(a));

    /* Never placed: its constructor waits for a slow argument. The kill
     * fails the ready call, which fails the one waiting for it. */
    ms = SLOW_MS;
    relay_ref_t s;
    relay_arg_t sa = i64_arg(&ms);
    CHECK_OK(relay_submit("nap_ms", &sa, 1, NULL, &s));
    sa = relay_arg_ref(s);
    relay_actor_t p;
    CHECK_OK(relay_actor_create("lazy", &sa, 1, NULL, &p));
    int64_t five = 5;
    call_chain(p, i64_arg(&five), c);
    CHECK_OK(relay_actor_kill(p));
    check_fails(c[0], RELAY_ERR_ACTOR_DEAD, "killed");
    check_fails(c[1], RELAY_ERR_TASK_FAILED, "killed");
    check_fails(c[2], RELAY_ERR_ACTOR_DEAD, "killed");
    /* Its work is done: the worker's CPU is free for what follows without
     * waiting out SLOW_MS. */
    CHECK_OK(relay_cancel(s, 0, 0));
    CHECK_OK(relay_release(s));
}

static void rank_holds(void)
{
    relay_resource_t half = {"home", 0.5};
    relay_actor_opts_t ao = {
        .field_mask = RELAY_ACTOR_OPT_RESOURCES, .resources = &half, .num_resources = 1};
    relay_actor_t a = make("plain", &ao); /* on rank 1, where home is */
    /* x: the rank's. The method's release of it and a bad ref fails. */
    int64_t x = on_home(0.5, "put_here", 21);
    CHECK_EQ(take(call1(a, "release_bad", i64_arg(&x))), RELAY_ERR_INVALID_REF);
    /* y: the actor's, which a task of its rank drops (the driver keeps y
     * alive), then takes again as the rank's. */
    int64_t v = 22;
    relay_ref_t y = {(uint64_t)take(call1(a, "put_keep", i64_arg(&v)))};
    CHECK_OK(relay_retain(y));
    CHECK_EQ(on_home(0.5, "release_id", (int64_t)y.id), RELAY_OK);
    CHECK_EQ(on_home(0.5, "retain_id", (int64_t)y.id), RELAY_OK);
    CHECK_OK(relay_actor_kill(a));
    /* Once it is gone (all of home is free), rank 1 holds both still. */
    CHECK_EQ(on_home(1.0, "release_id", x), RELAY_OK);
    CHECK_EQ(on_home(0.5, "release_id", (int64_t)y.id), RELAY_OK);
    CHECK_EQ(test_get_i64(y), 22);
    CHECK_OK(relay_release(y));
}

static relay_config_t layout(void)
{
    static relay_resource_t home[1] = {{"home", 1}};
    relay_config_t c;
    memset(&c, 0, sizeof c);
    c.field_mask = RELAY_CONFIG_NUM_CPUS | RELAY_CONFIG_RESOURCES | RELAY_CONFIG_INLINE_MAX;
    c.num_cpus = 1;
    c.resources = world_rank == 1 ? home : NULL;
    c.num_resources = world_rank == 1;
    c.inline_max = 1024;
    return c;
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (world_size < 2 || world_size > 7) {
        MPI_Finalize();
        return TEST_SKIP;
    }
    const char *only = argc > 1 ? argv[1] : NULL;
    relay_actor_class_t plain = {plain_init, 0, free, plain_methods,
                                 sizeof plain_methods / sizeof plain_methods[0]};
    relay_actor_class_t keeper = {keeper_init, 0, free, keeper_methods, 1};
    relay_actor_class_t leaky = {leaky_init, 0, free, plain_methods, 1};
    relay_actor_class_t lazy = {plain_init, 1, free, plain_methods,
                                sizeof plain_methods / sizeof plain_methods[0]};
    CHECK_OK(relay_register_actor("plain", &plain));
    CHECK_OK(relay_register_actor("keeper", &keeper));
    CHECK_OK(relay_register_actor("leaky", &leaky));
    CHECK_OK(relay_register_actor("lazy", &lazy));
    CHECK_OK(relay_register("add1", test_fn_add1));
    CHECK_OK(relay_register("sleep_ms", test_fn_sleep_ms));
    CHECK_OK(relay_register("cpus_free", fn_cpus_free));
    CHECK_OK(relay_register("call_waiting", fn_call_waiting));
    CHECK_OK(relay_register("call_ready", fn_call_ready));
    CHECK_OK(relay_register("fail_ms", fn_fail_ms));
    CHECK_OK(relay_register("nap_ms", fn_nap_ms));
    CHECK_OK(relay_register("put_here", fn_put_here));
    CHECK_OK(relay_register("release_id", fn_release_id));
    CHECK_OK(relay_register("retain_id", fn_retain_id));
    relay_config_t cfg = layout();
    CHECK_OK(relay_init(&argc, &argv, &cfg));
    if (world_rank == 0) {
        if (!only || strcmp(only, "holds") == 0) holds();
        if (!only || strcmp(only, "cpus") == 0) cpus();
        if (!only || strcmp(only, "order") == 0) order();
        if (!only || strcmp(only, "chain") == 0) chain();
        if (!only || strcmp(only, "rank_holds") == 0) rank_holds();
    }
    test_barrier();
    /* Every big object a keeper put lived in its rank's store: gone. */
    if (world_rank != 0) test_wait_store(0, WAIT_S);
    test_barrier();
    CHECK_OK(relay_finalize());
    MPI_Finalize();
    if (world_rank == 0) printf("ray_actors: PASS\n");
    return 0;
}
