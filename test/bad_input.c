/* Bad input to every call returns the documented status and changes nothing
 * (held refs, submitted tasks, live views, rank 0's directory). Runs as one
 * process and at 3 ranks (worker ranks' main threads check too). */
#include <math.h>

#include "testutil.h"

/* Return 0 is 1, the others (an unset return fails the task) empty. */
static int fn_ok(relay_ctx_t *ctx)
{
    int64_t one = 1;
    for (size_t i = 1; i < relay_ctx_num_returns(ctx); i++)
        if (relay_ctx_return(ctx, i, NULL, 0)) return 1;
    return relay_ctx_num_returns(ctx) ? relay_ctx_return(ctx, 0, &one, sizeof one) : 0;
}

static int fn_count_args(relay_ctx_t *ctx)
{
    int64_t n = (int64_t)relay_ctx_num_args(ctx);
    return relay_ctx_return(ctx, 0, &n, sizeof n);
}

/* Called with one value argument and num_returns 2: makes bad ctx calls
 * and returns their statuses (in this order) as return 0. None of them may
 * fail the task. */
enum { BAD_CTX_CALLS = 15 };
static const int bad_ctx_want[BAD_CTX_CALLS] = {
    RELAY_ERR_OUT_OF_RANGE, RELAY_ERR_OUT_OF_RANGE, RELAY_ERR_OUT_OF_RANGE, RELAY_ERR_OUT_OF_RANGE,
    RELAY_ERR_INVALID_ARG,  RELAY_ERR_OUT_OF_RANGE, RELAY_ERR_OUT_OF_RANGE, RELAY_ERR_OUT_OF_RANGE,
    RELAY_ERR_INVALID_ARG,  RELAY_ERR_INVALID_ARG,  RELAY_ERR_INVALID_ARG,  RELAY_ERR_INVALID_ARG,
    RELAY_ERR_INVALID_ARG,  RELAY_ERR_INVALID_ARG,  RELAY_ERR_INVALID_ARG,
};

static int fn_bad_ctx(relay_ctx_t *ctx)
{
    int64_t st[BAD_CTX_CALLS];
    int i = 0;
    const void *d;
    size_t sz;
    relay_object_t o;
    relay_ref_t r;
    const char *null_fmt = NULL;
    st[i++] = relay_ctx_arg(ctx, 1, &d, &sz);                   /* index == num_args */
    st[i++] = relay_ctx_arg(ctx, 100000, &d, &sz);              /* far out */
    st[i++] = relay_ctx_arg_object(ctx, 1, &o);                 /* out of range */
    st[i++] = relay_ctx_arg_ref(ctx, 1, &r);                    /* out of range */
    st[i++] = relay_ctx_arg_ref(ctx, 0, &r);                    /* a value argument */
    st[i++] = relay_ctx_return(ctx, 2, "x", 1);                 /* index == num_returns */
    st[i++] = relay_ctx_return(ctx, RELAY_MAX_RETURNS, "x", 1); /* far out */
    st[i++] = relay_ctx_return_object(ctx, 2, "x", 1, NULL, 0); /* out of range */
    st[i++] = relay_ctx_return(ctx, 1, NULL, 5);                /* NULL data, size 5 */
    st[i++] = relay_ctx_return_object(ctx, 1, "x", 1, NULL, 3); /* NULL refs, nrefs 3 */
    st[i++] = relay_ctx_rank(ctx, NULL);                        /* NULL output */
    st[i++] = relay_ctx_task_id(ctx, NULL);                     /* NULL output */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-security"
#endif
    st[i++] = relay_ctx_fail(ctx, null_fmt); /* NULL format */
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
    st[i++] = relay_ctx_arg_object(ctx, 0, NULL); /* NULL output */
    st[i++] = relay_ctx_arg_ref(ctx, 0, NULL);    /* NULL output */
    /* The ctx still works. */
    if (relay_ctx_return(ctx, 1, "ok", 2)) return 1;
    return relay_ctx_return(ctx, 0, st, sizeof st);
}

/* An actor to reach one rank twice: "mk" puts an object, releases it and
 * returns its id as a value; "ret" (that id as its argument) returns the
 * status of relay_ctx_return_object with that ref in return 0, and its
 * message in return 1. */
static int m_mk(relay_ctx_t *ctx, void *state)
{
    (void)state;
    int64_t v = 9;
    relay_ref_t a;
    if (relay_put(&v, sizeof v, &a) || relay_release(a)) return 1;
    return relay_ctx_return(ctx, 0, &a.id, sizeof a.id);
}

static int m_ret(relay_ctx_t *ctx, void *state)
{
    (void)state;
    const void *d;
    size_t sz;
    if (relay_ctx_arg(ctx, 0, &d, &sz) || sz != sizeof(uint64_t)) return 1;
    relay_ref_t a;
    memcpy(&a.id, d, sizeof a.id);
    int64_t st = relay_ctx_return_object(ctx, 0, "x", 1, &a, 1);
    const char *msg = relay_last_error();
    if (relay_ctx_return(ctx, 0, &st, sizeof st)) return 1;
    return relay_ctx_return(ctx, 1, msg, strlen(msg) + 1);
}

static const relay_method_t keeper_methods[] = {{"mk", m_mk, 0}, {"ret", m_ret, 1}};
static const relay_actor_class_t keeper = {NULL, 0, NULL, keeper_methods, 2};

/* A bad call: the exact status, and this rank's counters unchanged. */
#define BAD(call, want)                                                                            \
    do {                                                                                           \
        relay_stats_t bad__b = test_stats();                                                       \
        CHECK_STATUS(call, want);                                                                  \
        relay_stats_t bad__a = test_stats();                                                       \
        CHECK_EQ(bad__a.held_refs, bad__b.held_refs);                                              \
        CHECK_EQ(bad__a.tasks_submitted, bad__b.tasks_submitted);                                  \
        CHECK_EQ(bad__a.live_views, bad__b.live_views);                                            \
    } while (0)

/* The calls the checks above leave out: actors, arrays, resources,
 * cancel and retain, views and GPU ids with NULL. */
static void check_bad_calls_more(relay_ref_t valid)
{
    relay_ref_t r = {4242};
    relay_actor_t a = {4242, 0};
    relay_actor_t null_actor = RELAY_ACTOR_NULL;
    /* A handle of a rank that exists, which that rank never made. */
    relay_actor_t never = {(uint64_t)test_rank() << 44 | UINT64_C(0xfffffff00), 0};
    int64_t v = 3;
    uint64_t dims[2] = {1, 1};
    double q = -1;
    size_t n = 99;
    BAD(relay_actor_create(NULL, NULL, 0, NULL, &a), RELAY_ERR_INVALID_ARG);
    BAD(relay_actor_create("keeper", NULL, 0, NULL, NULL), RELAY_ERR_INVALID_ARG);
    BAD(relay_actor_create("no_such_class", NULL, 0, NULL, &a), RELAY_ERR_UNKNOWN_FUNCTION);
    BAD(relay_actor_create("ok", NULL, 0, NULL, &a), RELAY_ERR_UNKNOWN_FUNCTION); /* a function */
    BAD(relay_actor_create("keeper", NULL, 3, NULL, &a), RELAY_ERR_INVALID_ARG);
    CHECK_EQ(a.id, 4242);
    BAD(relay_actor_call(null_actor, "mk", NULL, 0, NULL, &r), RELAY_ERR_INVALID_ARG);
    never.class_hash = 1;
    BAD(relay_actor_call(never, "mk", NULL, 0, NULL, &r), RELAY_ERR_INVALID_REF);
    BAD(relay_actor_kill(null_actor), RELAY_ERR_INVALID_ARG);
    BAD(relay_actor_kill(never), RELAY_ERR_INVALID_REF);
    BAD(relay_actor_lookup(NULL, &a), RELAY_ERR_INVALID_ARG);
    BAD(relay_actor_lookup("x", NULL), RELAY_ERR_INVALID_ARG);
    BAD(relay_actor_lookup("no_actor_has_this_name", &a), RELAY_ERR_NOT_FOUND);
    BAD(relay_put_array(&v, RELAY_INT64, 0, dims, &r), RELAY_ERR_INVALID_ARG);
    BAD(relay_put_array(&v, RELAY_INT64, 1, NULL, &r), RELAY_ERR_INVALID_ARG);
    BAD(relay_put_array(&v, (relay_dtype_t)99, 1, dims, &r), RELAY_ERR_INVALID_ARG);
    BAD(relay_put_array(NULL, RELAY_INT64, 1, dims, &r), RELAY_ERR_INVALID_ARG);
    dims[0] = dims[1] = UINT64_C(1) << 62;
    BAD(relay_put_array(&v, RELAY_INT64, 2, dims, &r), RELAY_ERR_OUT_OF_RANGE);
    CHECK_EQ(r.id, 4242);
    BAD(relay_cancel(RELAY_REF_NULL, 0, 0), RELAY_ERR_INVALID_REF);
    BAD(relay_cancel(valid, 0, 0), RELAY_ERR_INVALID_ARG); /* made by relay_put */
    BAD(relay_retain(RELAY_REF_NULL), RELAY_ERR_INVALID_REF);
    BAD(relay_stats(NULL), RELAY_ERR_INVALID_ARG);
    BAD(relay_local_resources(NULL), RELAY_ERR_INVALID_ARG);
    BAD(relay_resource_capacity(0, NULL, &q), RELAY_ERR_INVALID_ARG);
    BAD(relay_resource_capacity(0, "CPU", NULL), RELAY_ERR_INVALID_ARG);
    BAD(relay_resource_capacity(test_size(), "CPU", &q), RELAY_ERR_INVALID_ARG);
    BAD(relay_resource_capacity(-2, "CPU", &q), RELAY_ERR_INVALID_ARG);
    CHECK(q == -1);
    BAD(relay_object_array(NULL, NULL, NULL, NULL), RELAY_ERR_INVALID_ARG);
    BAD(relay_object_save(NULL, "x.h5", "d"), RELAY_ERR_INVALID_ARG);
    BAD(relay_object_status(NULL), RELAY_ERR_INVALID_ARG);
    CHECK_CONTAINS(relay_last_error(), "relay_object_status");
    BAD(relay_ctx_actor(NULL, &a), RELAY_ERR_INVALID_ARG);
    BAD(relay_ctx_gpu_ids(NULL, NULL, 0, &n), RELAY_ERR_INVALID_ARG);
    BAD(relay_ctx_gpu_physical_ids(NULL, NULL, 0, &n), RELAY_ERR_INVALID_ARG);
    char name[RELAY_GPU_NAME_MAX];
    BAD(relay_ctx_gpu_physical_name(NULL, 0, name, sizeof name), RELAY_ERR_INVALID_ARG);
    dims[0] = 1;
    BAD(relay_ctx_return_array(NULL, 0, &v, RELAY_INT64, 1, dims), RELAY_ERR_INVALID_ARG);
    CHECK_EQ(n, 99);
    CHECK_EQ(a.id, 4242);
}

/* Before relay_init and after relay_finalize every call that needs relay
 * says NOT_INITIALIZED. */
static void check_not_initialized(void)
{
    relay_ref_t r = {4242};
    relay_object_t o = NULL;
    relay_actor_t a = {4242, 1};
    relay_stats_t s;
    relay_resources_t res;
    int64_t v = 1;
    int rank = -1, ready = -1;
    size_t n = 99;
    double q;
    CHECK_STATUS(relay_finalize(), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_rank(&rank), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_size(&rank), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_submit("ok", NULL, 0, NULL, &r), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_cancel(r, 0, 0), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_actor_create("keeper", NULL, 0, NULL, &a), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_actor_call(a, "mk", NULL, 0, NULL, &r), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_actor_lookup("x", &a), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_actor_kill(a), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_put(&v, sizeof v, &r), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_put_object(&v, sizeof v, NULL, 0, &r), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_put_array(&v, RELAY_INT64, 1, (uint64_t[]){1}, &r),
                 RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_get(r, 0, &o), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_get_many(&r, 1, 0, &o), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_get_value(r, &v, sizeof v, 0), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_wait(&r, 1, 1, 0, &ready, &n), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_release(r), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_retain(r), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_stats(&s), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_local_resources(&res), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_resource_capacity(0, "CPU", &q), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_sync(1.0), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_object_save(NULL, "x.h5", "d"), RELAY_ERR_NOT_INITIALIZED);
    CHECK_EQ(r.id, 4242);
    CHECK(o == NULL);
    CHECK_EQ(a.id, 4242);
    CHECK_EQ(rank, -1);
    CHECK_EQ(n, 99);
}

/* Bad pointers and sizes, the same on every rank's main thread. */
static void check_bad_pointers(relay_ref_t valid)
{
    relay_ref_t r = {4242};
    relay_object_t o = NULL;
    int i = -7;
    int64_t v = 3;
    size_t nready = 99;
    int ready[2] = {-1, -1};
    relay_ref_t two[2] = {valid, valid};

    BAD(relay_rank(NULL), RELAY_ERR_INVALID_ARG);
    BAD(relay_size(NULL), RELAY_ERR_INVALID_ARG);
    BAD(relay_stats(NULL), RELAY_ERR_INVALID_ARG);
    BAD(relay_register(NULL, fn_ok), RELAY_ERR_INVALID_ARG);
    BAD(relay_register("bad_input_x", NULL), RELAY_ERR_INVALID_ARG);
    BAD(relay_register("", fn_ok), RELAY_ERR_INVALID_ARG);

    BAD(relay_submit(NULL, NULL, 0, NULL, &r), RELAY_ERR_INVALID_ARG);
    BAD(relay_submit("ok", NULL, 0, NULL, NULL), RELAY_ERR_INVALID_ARG);
    BAD(relay_submit("ok", NULL, 2, NULL, &r), RELAY_ERR_INVALID_ARG);
    relay_arg_t bad_kind = relay_arg_value(&v, 8);
    bad_kind.kind = (relay_arg_kind_t)0;
    BAD(relay_submit("ok", &bad_kind, 1, NULL, &r), RELAY_ERR_INVALID_ARG);
    bad_kind.kind = (relay_arg_kind_t)99;
    BAD(relay_submit("ok", &bad_kind, 1, NULL, &r), RELAY_ERR_INVALID_ARG);
    relay_arg_t null_value = relay_arg_value(NULL, 4);
    BAD(relay_submit("ok", &null_value, 1, NULL, &r), RELAY_ERR_INVALID_ARG);
    BAD(relay_submit("no_such_function", NULL, 0, NULL, &r), RELAY_ERR_UNKNOWN_FUNCTION);
    CHECK_STATUS(relay_submit("no_such_function", NULL, 0, NULL, &r), RELAY_ERR_UNKNOWN_FUNCTION);
    CHECK(relay_last_error()[0] != '\0');

    relay_task_opts_t opts;
    memset(&opts, 0, sizeof opts);
    opts.field_mask = RELAY_TASK_OPT_NUM_RETURNS;
    opts.num_returns = 0; /* no returns is fine, returns_p may then be NULL */
    CHECK_OK(relay_submit("ok", NULL, 0, &opts, NULL));
    opts.num_returns = RELAY_MAX_RETURNS + 1;
    BAD(relay_submit("ok", NULL, 0, &opts, &r), RELAY_ERR_OUT_OF_RANGE);
    opts.num_returns = -1;
    BAD(relay_submit("ok", NULL, 0, &opts, &r), RELAY_ERR_OUT_OF_RANGE);
    /* max_retries is 0..100; the header does not say which status a bad one
     * gets, so either of the two argument errors is accepted. */
    opts.field_mask = RELAY_TASK_OPT_MAX_RETRIES;
    opts.max_retries = 101;
    {
        relay_stats_t b = test_stats();
        int st = relay_submit("ok", NULL, 0, &opts, &r);
        CHECK_STATUS(st, RELAY_ERR_OUT_OF_RANGE);
        CHECK_EQ(test_stats().tasks_submitted, b.tasks_submitted);
        opts.max_retries = -1;
        st = relay_submit("ok", NULL, 0, &opts, &r);
        CHECK_STATUS(st, RELAY_ERR_OUT_OF_RANGE);
        CHECK_EQ(test_stats().tasks_submitted, b.tasks_submitted);
    }
    {
        static relay_arg_t many[RELAY_MAX_ARGS + 1];
        static const char byte = 'b';
        for (size_t k = 0; k < RELAY_MAX_ARGS + 1; k++)
            many[k] = relay_arg_value(&byte, 1);
        BAD(relay_submit("count_args", many, RELAY_MAX_ARGS + 1, NULL, &r), RELAY_ERR_OUT_OF_RANGE);
    }
    CHECK_EQ(r.id, 4242); /* never written by a failing call */

    BAD(relay_put(NULL, 4, &r), RELAY_ERR_INVALID_ARG);
    BAD(relay_put(&v, sizeof v, NULL), RELAY_ERR_INVALID_ARG);
    BAD(relay_put_object(&v, sizeof v, NULL, 2, &r), RELAY_ERR_INVALID_ARG);
    BAD(relay_put_object(NULL, 8, &valid, 1, &r), RELAY_ERR_INVALID_ARG);
    BAD(relay_put_object(&v, sizeof v, &valid, 1, NULL), RELAY_ERR_INVALID_ARG);
    CHECK_EQ(r.id, 4242);

    BAD(relay_get(valid, 1.0, NULL), RELAY_ERR_INVALID_ARG);
    BAD(relay_get(valid, NAN, &o), RELAY_ERR_INVALID_ARG);
    BAD(relay_wait(&valid, 1, 1, NAN, ready, &nready), RELAY_ERR_INVALID_ARG);
    BAD(relay_sync(NAN), RELAY_ERR_INVALID_ARG);
    BAD(relay_get_many(NULL, 2, 1.0, &o), RELAY_ERR_INVALID_ARG);
    BAD(relay_get_many(two, 2, 1.0, NULL), RELAY_ERR_INVALID_ARG);
    BAD(relay_get_value(valid, NULL, 8, 1.0), RELAY_ERR_INVALID_ARG);
    CHECK(o == NULL);

    BAD(relay_wait(NULL, 2, 1, 1.0, ready, &nready), RELAY_ERR_INVALID_ARG);
    BAD(relay_wait(two, 2, 3, 1.0, ready, &nready), RELAY_ERR_INVALID_ARG); /* num_ready > n */
    CHECK_EQ(nready, 99);
    CHECK_EQ(ready[0], -1);

    BAD(relay_release_many(NULL, 2), RELAY_ERR_INVALID_ARG);
    check_bad_calls_more(valid);
    BAD(relay_object_ref(NULL, 0, &r), RELAY_ERR_INVALID_ARG);
    BAD(relay_object_free(NULL), RELAY_ERR_INVALID_ARG);
    CHECK_OK(relay_get(valid, INFINITY, &o)); /* an infinite timeout waits forever */
    BAD(relay_object_ref(o, 0, NULL), RELAY_ERR_INVALID_ARG);
    BAD(relay_object_ref(o, 0, &r), RELAY_ERR_OUT_OF_RANGE);
    CHECK_OK(relay_object_free(o));

    /* ctx calls outside a task, with a NULL ctx. */
    const void *d = NULL;
    size_t sz = 0;
    uint64_t id = 0;
    CHECK_EQ(relay_ctx_num_args(NULL), 0);
    CHECK_EQ(relay_ctx_num_returns(NULL), 0);
    BAD(relay_ctx_arg(NULL, 0, &d, &sz), RELAY_ERR_INVALID_ARG);
    BAD(relay_ctx_arg_object(NULL, 0, &o), RELAY_ERR_INVALID_ARG);
    BAD(relay_ctx_arg_ref(NULL, 0, &r), RELAY_ERR_INVALID_ARG);
    BAD(relay_ctx_return(NULL, 0, "x", 1), RELAY_ERR_INVALID_ARG);
    BAD(relay_ctx_return_object(NULL, 0, "x", 1, NULL, 0), RELAY_ERR_INVALID_ARG);
    BAD(relay_ctx_fail(NULL, "boom %d", 1), RELAY_ERR_INVALID_ARG);
    BAD(relay_ctx_rank(NULL, &i), RELAY_ERR_INVALID_ARG);
    BAD(relay_ctx_task_id(NULL, &id), RELAY_ERR_INVALID_ARG);
    CHECK_EQ(i, -7);
    CHECK_EQ(id, 0);
    CHECK(d == NULL);
    CHECK_EQ(r.id, 4242);
}

/* Refs that name no live object: every call taking a ref says INVALID_REF. */
static void check_dead_ref(relay_ref_t dead)
{
    relay_object_t o = NULL;
    int64_t v = 17;
    int ready = -1;
    size_t nready = 99;
    BAD(relay_get(dead, 5.0, &o), RELAY_ERR_INVALID_REF);
    CHECK(o == NULL);
    BAD(relay_get_value(dead, &v, sizeof v, 5.0), RELAY_ERR_INVALID_REF);
    CHECK_EQ(v, 17);
    BAD(relay_wait(&dead, 1, 1, 5.0, &ready, &nready), RELAY_ERR_INVALID_REF);
    BAD(relay_release(dead), RELAY_ERR_INVALID_REF);
    BAD(relay_retain(dead), RELAY_ERR_INVALID_REF);
}

/* A dead ref as a task argument: one this rank never made is refused at
 * submission (INVALID_REF, nothing changes); one rank 0 no longer knows
 * makes the task's result an INVALID_REF error object. */
static void check_dead_ref_arg(relay_ref_t dead, int refused_at_submit)
{
    relay_arg_t arg = relay_arg_ref(dead);
    relay_ref_t r = {4242};
    relay_stats_t b = test_stats();
    int st = relay_submit("ok", &arg, 1, NULL, &r);
    if (refused_at_submit) {
        CHECK_STATUS(st, RELAY_ERR_INVALID_REF);
        CHECK_EQ(r.id, 4242);
        CHECK_EQ(test_stats().held_refs, b.held_refs);
        return;
    }
    CHECK_OK(st);
    relay_object_t o = NULL;
    CHECK_STATUS(relay_get(r, TEST_LONG_S, &o), RELAY_ERR_INVALID_REF);
    CHECK(o != NULL);
    CHECK_EQ(relay_object_status(o), RELAY_ERR_INVALID_REF);
    CHECK(relay_object_error(o) != NULL);
    CHECK_OK(relay_object_free(o));
    CHECK_OK(relay_release(r));
}

/* The returns of tasks with several returns, released and gone, are each
 * refused: the memory of released refs tells apart return 1 of one task
 * and return 0 of the next. */
static void check_released_multi_returns(void)
{
    relay_task_opts_t two = {.field_mask = RELAY_TASK_OPT_NUM_RETURNS, .num_returns = 2};
    relay_ref_t r[4];
    CHECK_OK(relay_submit("ok", NULL, 0, &two, &r[0]));
    CHECK_OK(relay_submit("ok", NULL, 0, &two, &r[2]));
    CHECK_EQ(test_get_i64(r[0]), 1);
    CHECK_EQ(test_get_i64(r[2]), 1);
    CHECK_OK(relay_release_many(r, 4));
    CHECK_OK(relay_sync(TEST_LONG_S));
    for (int k = 0; k < 4; k++) {
        check_dead_ref_arg(r[k], 1);
        CHECK_CONTAINS(relay_last_error(), "released");
    }
}

/* Own refs released (and gone) or never made are refused by the calls
 * that would use them, naming the ref; own refs released here but still
 * alive (contained in an object) are not. */
static void check_released_refs(relay_ref_t released, relay_ref_t never)
{
    relay_ref_t r = {4242};
    int64_t v = 1;
    relay_ref_t two[2] = {RELAY_REF_NULL, released};
    BAD(relay_put_object(&v, sizeof v, &released, 1, &r), RELAY_ERR_INVALID_REF);
    CHECK_CONTAINS(relay_last_error(), "refs[0]");
    CHECK_CONTAINS(relay_last_error(), "released");
    two[0] = test_put_i64(2);
    BAD(relay_put_object(&v, sizeof v, two, 2, &r), RELAY_ERR_INVALID_REF);
    CHECK_CONTAINS(relay_last_error(), "refs[1]");
    CHECK_OK(relay_release(two[0]));
    BAD(relay_put_object(&v, sizeof v, &never, 1, &r), RELAY_ERR_INVALID_REF);
    CHECK_CONTAINS(relay_last_error(), "refs[0]");
    CHECK_EQ(r.id, 4242);
    relay_arg_t arg = relay_arg_ref(released);
    relay_actor_t act = {4242, 0};
    BAD(relay_actor_create("keeper", &arg, 1, NULL, &act), RELAY_ERR_OUT_OF_RANGE);
    BAD(relay_actor_create("keeper", NULL, 2, NULL, &act), RELAY_ERR_INVALID_ARG);
    CHECK_EQ(act.id, 4242);

    /* Released here, alive in a container: used as before. */
    relay_ref_t a = test_put_i64(77), b;
    CHECK_OK(relay_put_object(NULL, 0, &a, 1, &b));
    CHECK_OK(relay_release(a));
    CHECK_OK(relay_sync(TEST_LONG_S));
    relay_object_t ob;
    CHECK_OK(relay_get(b, TEST_LONG_S, &ob));
    relay_ref_t inner;
    CHECK_OK(relay_object_ref(ob, 0, &inner));
    CHECK_EQ(inner.id, a.id);
    arg = relay_arg_ref(inner);
    relay_ref_t t = test_submit("ok", &arg, 1);
    CHECK_EQ(test_get_i64(t), 1);
    relay_ref_t c;
    CHECK_OK(relay_put_object(NULL, 0, &inner, 1, &c));
    CHECK_EQ(test_get_i64(inner), 77);
    CHECK_OK(relay_object_free(ob));
    CHECK_OK(relay_release_many((relay_ref_t[]){b, c, t}, 3));

    /* relay_ctx_return_object inside a method, with a ref its rank made
     * and released (gone once "mk" is done), and after that a bad count. */
    CHECK_OK(relay_actor_create("keeper", NULL, 0, NULL, &act));
    relay_ref_t made;
    CHECK_OK(relay_actor_call(act, "mk", NULL, 0, NULL, &made));
    uint64_t id = 0;
    CHECK_OK(relay_get_value(made, &id, sizeof id, TEST_LONG_S));
    relay_arg_t idarg = relay_arg_value(&id, sizeof id);
    relay_task_opts_t two_rets = {.field_mask = RELAY_TASK_OPT_NUM_RETURNS, .num_returns = 2};
    relay_ref_t rets[2];
    CHECK_OK(relay_actor_call(act, "ret", &idarg, 1, &two_rets, rets));
    int64_t st = 0;
    CHECK_OK(relay_get_value(rets[0], &st, sizeof st, TEST_LONG_S));
    CHECK_STATUS((int)st, RELAY_ERR_INVALID_REF);
    relay_object_t msg;
    CHECK_OK(relay_get(rets[1], TEST_LONG_S, &msg));
    CHECK_CONTAINS((const char *)relay_object_data(msg), "refs[0]");
    CHECK_CONTAINS((const char *)relay_object_data(msg), "released");
    CHECK_OK(relay_object_free(msg));
    BAD(relay_actor_call(act, "ret", NULL, 1, NULL, &r), RELAY_ERR_INVALID_ARG);
    CHECK_OK(relay_release_many((relay_ref_t[]){made, rets[0], rets[1]}, 3));
    CHECK_OK(relay_actor_kill(act));
}

/* Leaves put, a container holding them, the leaves released: a leaf read
 * from the container is checked with rank 0 at its first use only, however
 * often it is used after (a task per leaf, twice, then a put). */
static void check_live_refs_checked_once(void)
{
    enum { LEAVES = 8 };
    relay_ref_t leaf[LEAVES], box, out[2 * LEAVES], again;
    for (int k = 0; k < LEAVES; k++)
        leaf[k] = test_put_i64(100 + k);
    CHECK_OK(relay_put_object(NULL, 0, leaf, LEAVES, &box));
    CHECK_OK(relay_release_many(leaf, LEAVES));
    relay_object_t ob;
    CHECK_OK(relay_get(box, TEST_LONG_S, &ob));
    uint64_t before = test_stats().ref_checks;
    for (int k = 0; k < 2 * LEAVES; k++) {
        relay_ref_t in;
        CHECK_OK(relay_object_ref(ob, (size_t)(k % LEAVES), &in));
        relay_arg_t arg = relay_arg_ref(in);
        out[k] = test_submit("ok", &arg, 1);
        if (k == LEAVES) CHECK_EQ(test_stats().ref_checks - before, LEAVES);
    }
    CHECK_OK(relay_put_object(NULL, 0, leaf, LEAVES, &again));
    CHECK_EQ(test_stats().ref_checks - before, LEAVES);
    for (int k = 0; k < 2 * LEAVES; k++)
        CHECK_EQ(test_get_i64(out[k]), 1);
    CHECK_OK(relay_object_free(ob));
    CHECK_OK(relay_release_many(out, 2 * LEAVES));
    CHECK_OK(relay_release(again));
    CHECK_OK(relay_release(box));
}

static void driver(int size)
{
    relay_ref_t valid = test_put_i64(5);
    /* A ref put and released: dead once rank 0 has seen the release. */
    relay_ref_t released = test_put_i64(6);
    CHECK_OK(relay_release(released));
    CHECK_OK(relay_sync(TEST_LONG_S));
    test_barrier(); /* A: the workers' own puts are in the directory */
    relay_stats_t base = test_stats();

    /* Never created: ids no rank made (one from this rank's id space, one
     * from another rank's when there is one, and all bits set). */
    relay_ref_t never[3];
    size_t nnever = 0;
    never[nnever++] = (relay_ref_t){valid.id + UINT64_C(0x10000000)};
    never[nnever++] = (relay_ref_t){UINT64_MAX};
    if (size > 1) {
        uint64_t worker_id = test_recv_u64(1, 1);
        never[nnever++] = (relay_ref_t){worker_id + UINT64_C(0x10000000)};
    }

    check_bad_pointers(valid);

    check_dead_ref(RELAY_REF_NULL);
    check_dead_ref(released);
    for (size_t k = 0; k < nnever; k++)
        check_dead_ref(never[k]);
    check_dead_ref_arg(released, 1);
    CHECK_CONTAINS(relay_last_error(), "argument 0");
    CHECK_CONTAINS(relay_last_error(), "released");
    check_dead_ref_arg(never[0], 1);
    CHECK_CONTAINS(relay_last_error(), "argument 0");
    check_released_refs(released, never[0]);
    check_released_multi_returns();
    check_live_refs_checked_once();

    /* The boundaries are accepted: RELAY_MAX_ARGS arguments, RELAY_MAX_RETURNS
     * returns. */
    {
        static relay_arg_t many[RELAY_MAX_ARGS];
        static const char byte = 'b';
        for (size_t k = 0; k < RELAY_MAX_ARGS; k++)
            many[k] = relay_arg_value(&byte, 1);
        relay_ref_t r = test_submit("count_args", many, RELAY_MAX_ARGS);
        CHECK_EQ(test_get_i64(r), RELAY_MAX_ARGS);
        CHECK_OK(relay_release(r));

        relay_task_opts_t opts;
        memset(&opts, 0, sizeof opts);
        opts.field_mask = RELAY_TASK_OPT_NUM_RETURNS;
        opts.num_returns = RELAY_MAX_RETURNS;
        relay_ref_t rets[RELAY_MAX_RETURNS];
        CHECK_OK(relay_submit("ok", NULL, 0, &opts, rets));
        CHECK_EQ(test_get_i64(rets[0]), 1);
        relay_object_t o;
        CHECK_OK(relay_get(rets[RELAY_MAX_RETURNS - 1], TEST_LONG_S, &o));
        CHECK_EQ(relay_object_size(o), 0);
        CHECK_OK(relay_object_free(o));
        CHECK_OK(relay_release_many(rets, RELAY_MAX_RETURNS));
    }

    /* Bad ctx calls inside a task. */
    {
        int64_t x = 1;
        relay_arg_t arg = relay_arg_value(&x, 8);
        relay_task_opts_t opts;
        memset(&opts, 0, sizeof opts);
        opts.field_mask = RELAY_TASK_OPT_NUM_RETURNS;
        opts.num_returns = 2;
        relay_ref_t rets[2];
        CHECK_OK(relay_submit("bad_ctx", &arg, 1, &opts, rets));
        int64_t st[BAD_CTX_CALLS];
        CHECK_OK(relay_get_value(rets[0], st, sizeof st, TEST_LONG_S));
        for (int k = 0; k < BAD_CTX_CALLS; k++) {
            if (st[k] != bad_ctx_want[k]) fprintf(stderr, "bad ctx call #%d (0-based)\n", k);
            CHECK_STATUS((int)st[k], bad_ctx_want[k]);
        }
        char ok[2];
        CHECK_OK(relay_get_value(rets[1], ok, 2, TEST_LONG_S));
        CHECK(memcmp(ok, "ok", 2) == 0);
        CHECK_OK(relay_release_many(rets, 2));
    }

    /* Nothing leaked or changed: the directory has exactly what it had. */
    relay_stats_t s = test_wait_directory(base.directory_objects, base.directory_bytes, 10.0);
    CHECK_EQ(s.held_refs, base.held_refs);
    CHECK_EQ(s.live_views, 0);
    CHECK_EQ(s.tasks_pending, 0);
    CHECK_EQ(test_get_i64(valid), 5);
    CHECK_OK(relay_release(valid));
}

static void worker(int rank)
{
    relay_ref_t mine = test_put_i64(rank);
    CHECK_OK(relay_sync(TEST_LONG_S));
    test_barrier(); /* A */
    if (rank == 1) test_send_u64(mine.id, 0, 1);
    check_bad_pointers(mine);
    check_dead_ref(RELAY_REF_NULL);
    relay_stats_t s = test_stats();
    CHECK_EQ(s.held_refs, 1);
    CHECK_EQ(s.live_views, 0);
    test_barrier(); /* B: the driver is done with ids from this rank */
    CHECK_OK(relay_release(mine));
}

int main(int argc, char **argv)
{
    CHECK_OK(relay_register("ok", fn_ok));
    CHECK_OK(relay_register("count_args", fn_count_args));
    CHECK_OK(relay_register("bad_ctx", fn_bad_ctx));
    CHECK_OK(relay_register_actor("keeper", &keeper));
    check_not_initialized();
    CHECK_OK(relay_init(&argc, &argv, NULL));
    int rank = test_rank(), size = test_size();
    if (rank == 0) {
        driver(size);
        test_barrier(); /* B */
    } else {
        worker(rank);
    }
    CHECK_OK(relay_finalize());
    check_not_initialized();
    if (rank == 0) printf("bad_input: PASS (%d ranks)\n", size);
    return 0;
}
