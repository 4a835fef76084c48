/* Every public call at least once, on its success path (and the few
 * documented non-fatal outcomes: SIZE_MISMATCH, a ready subset in wait). Runs
 * as one process and at 1..4 ranks. */
#include "testutil.h"

/* ---- remote functions ----------------------------------------------------- */

/* Sum of all arguments, each an int64 (by value or by ref). */
static int fn_sum(relay_ctx_t *ctx)
{
    int64_t sum = 0;
    for (size_t i = 0; i < relay_ctx_num_args(ctx); i++) {
        const void *data;
        size_t size;
        int rc = relay_ctx_arg(ctx, i, &data, &size);
        if (rc) {
            relay_ctx_fail(ctx, "arg %zu: %s", i, relay_strerror(rc));
            return 1;
        }
        if (size != sizeof(int64_t)) {
            relay_ctx_fail(ctx, "arg %zu has %zu bytes", i, size);
            return 1;
        }
        int64_t v;
        memcpy(&v, data, sizeof v);
        sum += v;
    }
    return relay_ctx_return(ctx, 0, &sum, sizeof sum);
}

/* Returns its first argument's bytes. */
static int fn_echo(relay_ctx_t *ctx)
{
    const void *data;
    size_t size;
    int rc = relay_ctx_arg(ctx, 0, &data, &size);
    if (rc) return rc;
    return relay_ctx_return(ctx, 0, data, size);
}

/* num_returns 3: return i is (i+1)*base. Return 1 is set twice: the second
 * value replaces the first. */
static int fn_three(relay_ctx_t *ctx)
{
    const void *data;
    size_t size;
    if (relay_ctx_num_returns(ctx) != 3) {
        relay_ctx_fail(ctx, "want 3 returns, got %zu", relay_ctx_num_returns(ctx));
        return 1;
    }
    if (relay_ctx_arg(ctx, 0, &data, &size) || size != sizeof(int64_t)) return 1;
    int64_t base;
    memcpy(&base, data, sizeof base);
    if (relay_ctx_return(ctx, 1, "garbage-garbage", 15)) return 1;
    for (size_t i = 0; i < 3; i++) {
        int64_t v = (int64_t)(i + 1) * base;
        if (relay_ctx_return(ctx, i, &v, sizeof v)) return 1;
    }
    return 0;
}

typedef struct info {
    int64_t num_args, num_returns, rank;
    uint64_t task_id;
    int64_t st_arg_ref0, st_arg_ref1;
    uint64_t arg_ref1_id;
    int64_t arg0, arg1;
    int64_t st_obj0, obj0_size, st_obj1, obj1_size, obj1_nrefs, obj1_status, obj1_value;
} info_t;

/* Called with (value int64, ref to an int64), num_returns 2: reports what
 * the ctx accessors say in return 0 and sets return 1 to an empty object
 * (an unset return would fail the task). */
static int fn_introspect(relay_ctx_t *ctx)
{
    info_t in;
    memset(&in, 0, sizeof in);
    in.num_args = (int64_t)relay_ctx_num_args(ctx);
    in.num_returns = (int64_t)relay_ctx_num_returns(ctx);
    int r = -1;
    if (relay_ctx_rank(ctx, &r)) return 1;
    in.rank = r;
    if (relay_ctx_task_id(ctx, &in.task_id)) return 1;
    relay_ref_t ref = {0};
    in.st_arg_ref0 = relay_ctx_arg_ref(ctx, 0, &ref);
    ref.id = 0;
    in.st_arg_ref1 = relay_ctx_arg_ref(ctx, 1, &ref);
    in.arg_ref1_id = ref.id;
    const void *data;
    size_t size;
    if (relay_ctx_arg(ctx, 0, &data, &size) || size != 8) return 2;
    memcpy(&in.arg0, data, 8);
    if (relay_ctx_arg(ctx, 1, &data, &size) || size != 8) return 3;
    memcpy(&in.arg1, data, 8);
    relay_object_t obj = NULL;
    in.st_obj0 = relay_ctx_arg_object(ctx, 0, &obj);
    in.obj0_size = (int64_t)relay_object_size(obj);
    obj = NULL;
    in.st_obj1 = relay_ctx_arg_object(ctx, 1, &obj);
    in.obj1_size = (int64_t)relay_object_size(obj);
    in.obj1_nrefs = (int64_t)relay_object_num_refs(obj);
    in.obj1_status = relay_object_status(obj);
    if (relay_object_data(obj)) memcpy(&in.obj1_value, relay_object_data(obj), 8);
    if (relay_ctx_return(ctx, 1, NULL, 0)) return 4;
    return relay_ctx_return(ctx, 0, &in, sizeof in);
}

/* ---- driver --------------------------------------------------------------- */

static void check_put_get(void)
{
    relay_stats_t s0 = test_stats();

    relay_ref_t r = test_put_i64(41);
    CHECK_NE(r.id, 0);
    relay_stats_t s1 = test_stats();
    CHECK_EQ(s1.held_refs, s0.held_refs + 1);

    CHECK_EQ(test_get_i64(r), 41);

    relay_object_t obj = NULL;
    CHECK_OK(relay_get(r, TEST_LONG_S, &obj));
    CHECK(obj != NULL);
    CHECK_EQ(test_stats().live_views, s0.live_views + 1);
    CHECK_EQ(relay_object_size(obj), 8);
    CHECK(relay_object_data(obj) != NULL);
    int64_t v;
    memcpy(&v, relay_object_data(obj), 8);
    CHECK_EQ(v, 41);
    CHECK_EQ(relay_object_num_refs(obj), 0);
    CHECK_OK(relay_object_status(obj));
    CHECK(relay_object_error(obj) == NULL);
    relay_ref_t out = {999};
    CHECK_STATUS(relay_object_ref(obj, 0, &out), RELAY_ERR_OUT_OF_RANGE);
    CHECK_EQ(out.id, 999);
    /* A view is independent of the ref: it outlives the release. */
    CHECK_OK(relay_release(r));
    memcpy(&v, relay_object_data(obj), 8);
    CHECK_EQ(v, 41);
    CHECK_OK(relay_object_free(obj));
    CHECK_EQ(test_stats().live_views, s0.live_views);

    /* NULL view: accessors give NULL/0. */
    CHECK(relay_object_data(NULL) == NULL);
    CHECK_EQ(relay_object_size(NULL), 0);
    CHECK_EQ(relay_object_num_refs(NULL), 0);
    CHECK(relay_object_error(NULL) == NULL);

    /* Empty object (data may be NULL when size is 0). */
    relay_ref_t e;
    CHECK_OK(relay_put(NULL, 0, &e));
    CHECK_OK(relay_get(e, TEST_LONG_S, &obj));
    CHECK_EQ(relay_object_size(obj), 0);
    CHECK_OK(relay_object_free(obj));
    CHECK_OK(relay_get_value(e, &v, 0, TEST_LONG_S));
    CHECK_OK(relay_release(e));

    /* get_value with the wrong size: SIZE_MISMATCH, buffer untouched. */
    relay_ref_t q = test_put_i64(-5);
    unsigned char buf[16], ref_buf[16];
    memset(buf, 0xAB, sizeof buf);
    memcpy(ref_buf, buf, sizeof buf);
    CHECK_STATUS(relay_get_value(q, buf, sizeof buf, TEST_LONG_S), RELAY_ERR_SIZE_MISMATCH);
    CHECK_MEMEQ(buf, ref_buf, sizeof buf);
    CHECK_STATUS(relay_get_value(q, buf, 4, TEST_LONG_S), RELAY_ERR_SIZE_MISMATCH);
    CHECK_MEMEQ(buf, ref_buf, sizeof buf);
    CHECK_OK(relay_get_value(q, buf, 8, TEST_LONG_S));
    memcpy(&v, buf, 8);
    CHECK_EQ(v, -5);

    /* get_many on puts, in order. */
    relay_ref_t many[5];
    for (int i = 0; i < 5; i++)
        many[i] = test_put_i64(100 + i);
    relay_object_t objs[5] = {NULL};
    CHECK_OK(relay_get_many(many, 5, TEST_LONG_S, objs));
    CHECK_EQ(test_stats().live_views, s0.live_views + 5);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(relay_object_size(objs[i]), 8);
        memcpy(&v, relay_object_data(objs[i]), 8);
        CHECK_EQ(v, 100 + i);
        CHECK_OK(relay_object_free(objs[i]));
    }
    CHECK_OK(relay_release_many(many, 5));
    CHECK_OK(relay_release(q));

    /* A bigger blob round-trips byte-exact. */
    size_t n = 5000;
    unsigned char *blob = malloc(n);
    CHECK(blob != NULL);
    test_fill(blob, n, 5);
    relay_ref_t b;
    CHECK_OK(relay_put(blob, n, &b));
    memset(blob, 0, n); /* the put copied it */
    CHECK_OK(relay_get_value(b, blob, n, TEST_LONG_S));
    CHECK_EQ(test_verify(blob, n, 5), SIZE_MAX);
    free(blob);
    CHECK_OK(relay_release(b));

    relay_stats_t s2 = test_stats();
    CHECK_EQ(s2.held_refs, s0.held_refs);
    CHECK_EQ(s2.live_views, s0.live_views);
}

static void check_tasks(int size, uint64_t *submitted)
{
    /* Value arguments. */
    int64_t a = 1, b = 2, c = 3;
    relay_arg_t vargs[3] = {relay_arg_value(&a, 8), relay_arg_value(&b, 8), relay_arg_value(&c, 8)};
    relay_ref_t r6 = test_submit("sum", vargs, 3);
    a = b = c = 1000; /* copied at submission */
    (*submitted)++;
    CHECK_EQ(test_get_i64(r6), 6);

    /* A task with no arguments. */
    relay_ref_t r0 = test_submit("sum", NULL, 0);
    (*submitted)++;
    CHECK_EQ(test_get_i64(r0), 0);

    /* Ref arguments (a put and a task's output) mixed with a value. */
    relay_ref_t p = test_put_i64(41);
    int64_t one = 1;
    relay_arg_t margs[3] = {relay_arg_ref(p), relay_arg_value(&one, 8), relay_arg_ref(r6)};
    relay_ref_t r48 = test_submit("sum", margs, 3);
    (*submitted)++;
    CHECK_EQ(test_get_i64(r48), 48);

    /* echo: value bytes, ref bytes (a 5000-byte put) and an empty value. */
    unsigned char blob[1000];
    test_fill(blob, sizeof blob, 9);
    relay_arg_t earg = relay_arg_value(blob, sizeof blob);
    relay_ref_t re = test_submit("echo", &earg, 1);
    (*submitted)++;
    unsigned char back[1000];
    CHECK_OK(relay_get_value(re, back, sizeof back, TEST_LONG_S));
    CHECK_EQ(test_verify(back, sizeof back, 9), SIZE_MAX);

    unsigned char *big = malloc(5000);
    CHECK(big != NULL);
    test_fill(big, 5000, 10);
    relay_ref_t pb;
    CHECK_OK(relay_put(big, 5000, &pb));
    earg = relay_arg_ref(pb);
    relay_ref_t reb = test_submit("echo", &earg, 1);
    (*submitted)++;
    memset(big, 0, 5000);
    CHECK_OK(relay_get_value(reb, big, 5000, TEST_LONG_S));
    CHECK_EQ(test_verify(big, 5000, 10), SIZE_MAX);
    free(big);

    earg = relay_arg_value(blob, 0);
    relay_ref_t rempty = test_submit("echo", &earg, 1);
    (*submitted)++;
    relay_object_t obj;
    CHECK_OK(relay_get(rempty, TEST_LONG_S, &obj));
    CHECK_EQ(relay_object_size(obj), 0);
    CHECK_OK(relay_object_free(obj));

    /* Three returns. */
    relay_task_opts_t opts;
    memset(&opts, 0, sizeof opts);
    opts.field_mask = RELAY_TASK_OPT_NUM_RETURNS;
    opts.num_returns = 3;
    int64_t base = 7;
    relay_arg_t barg = relay_arg_value(&base, 8);
    relay_ref_t three[3];
    CHECK_OK(relay_submit("three", &barg, 1, &opts, three));
    (*submitted)++;
    CHECK_NE(three[0].id, three[1].id);
    CHECK_NE(three[1].id, three[2].id);
    CHECK_NE(three[0].id, three[2].id);
    relay_object_t objs[3];
    CHECK_OK(relay_get_many(three, 3, TEST_LONG_S, objs));
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(relay_object_size(objs[i]), 8);
        int64_t v;
        memcpy(&v, relay_object_data(objs[i]), 8);
        CHECK_EQ(v, 7 * (i + 1));
        CHECK_OK(relay_object_free(objs[i]));
    }
    CHECK_EQ(test_get_i64(three[2]), 21);

    /* ctx accessors, seen from inside a task. */
    opts.num_returns = 2;
    int64_t val = 11;
    relay_ref_t p9 = test_put_i64(9);
    relay_arg_t iargs[2] = {relay_arg_value(&val, 8), relay_arg_ref(p9)};
    relay_ref_t ir[2], ir2[2];
    CHECK_OK(relay_submit("introspect", iargs, 2, &opts, ir));
    CHECK_OK(relay_submit("introspect", iargs, 2, &opts, ir2));
    *submitted += 2;
    info_t in, in2;
    CHECK_OK(relay_get_value(ir[0], &in, sizeof in, TEST_LONG_S));
    CHECK_OK(relay_get_value(ir2[0], &in2, sizeof in2, TEST_LONG_S));
    CHECK_EQ(in.num_args, 2);
    CHECK_EQ(in.num_returns, 2);
    CHECK_GE(in.rank, 0);
    CHECK_LT(in.rank, size);
    if (!test_driver_hosts_workers(size)) CHECK_NE(in.rank, 0);
    CHECK_NE(in.task_id, in2.task_id);
    CHECK_EQ(in.st_arg_ref0, RELAY_ERR_INVALID_ARG); /* passed by value */
    CHECK_EQ(in.st_arg_ref1, RELAY_OK);
    CHECK_EQ(in.arg_ref1_id, p9.id);
    CHECK_EQ(in.arg0, 11);
    CHECK_EQ(in.arg1, 9);
    CHECK_EQ(in.st_obj0, RELAY_OK);
    CHECK_EQ(in.obj0_size, 8);
    CHECK_EQ(in.st_obj1, RELAY_OK);
    CHECK_EQ(in.obj1_size, 8);
    CHECK_EQ(in.obj1_nrefs, 0);
    CHECK_EQ(in.obj1_status, RELAY_OK);
    CHECK_EQ(in.obj1_value, 9);
    /* A return set to no bytes is an empty object. */
    CHECK_OK(relay_get(ir[1], TEST_LONG_S, &obj));
    CHECK_EQ(relay_object_size(obj), 0);
    CHECK_OK(relay_object_status(obj));
    CHECK_OK(relay_object_free(obj));

    relay_ref_t all[] = {r6,       r0,       p,        r48,   re,    pb,     reb,    rempty,
                         three[0], three[1], three[2], ir[0], ir[1], ir2[0], ir2[1], p9};
    CHECK_OK(relay_release_many(all, sizeof all / sizeof all[0]));
}

static void check_wait(uint64_t *submitted)
{
    /* Four quick tasks: k of n, then all of n. */
    relay_ref_t refs[4];
    for (int i = 0; i < 4; i++) {
        int64_t v = i;
        relay_arg_t arg = relay_arg_value(&v, 8);
        refs[i] = test_submit("sum", &arg, 1);
        (*submitted)++;
    }
    int ready[4] = {-1, -1, -1, -1};
    size_t nready = 99;
    CHECK_OK(relay_wait(refs, 4, 2, TEST_LONG_S, ready, &nready));
    CHECK_GE(nready, 2);
    CHECK_LE(nready, 4);
    int count = 0;
    for (int i = 0; i < 4; i++) {
        CHECK(ready[i] == 0 || ready[i] == 1);
        count += ready[i];
    }
    CHECK_EQ(count, nready);
    CHECK_OK(relay_wait(refs, 4, 4, TEST_LONG_S, ready, &nready));
    CHECK_EQ(nready, 4);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(ready[i], 1);
    CHECK_OK(relay_wait(refs, 4, 4, TEST_LONG_S, NULL, NULL));
    for (int i = 0; i < 4; i++)
        CHECK_EQ(test_get_i64(refs[i]), i);
    CHECK_OK(relay_release_many(refs, 4));

    /* A slow task and a put: waiting for one returns with the put ready. */
    int64_t ms = 400;
    relay_arg_t sarg = relay_arg_value(&ms, 8);
    double t0 = test_now();
    relay_ref_t mixed[2];
    mixed[0] = test_submit("sleep_ms", &sarg, 1);
    (*submitted)++;
    mixed[1] = test_put_i64(3);
    CHECK_OK(relay_wait(mixed, 2, 1, TEST_LONG_S, ready, &nready));
    CHECK_GE(nready, 1);
    CHECK_EQ(ready[1], 1);
    if (test_now() - t0 < 0.3) { /* the sleeper cannot be done yet */
        CHECK_EQ(ready[0], 0);
        CHECK_EQ(nready, 1);
    }
    CHECK_OK(relay_wait(mixed, 2, 2, TEST_LONG_S, ready, &nready));
    CHECK_EQ(nready, 2);
    CHECK_EQ(ready[0], 1);
    CHECK_EQ(test_get_i64(mixed[0]), 400);
    CHECK_OK(relay_release_many(mixed, 2));
}

static void check_holds(void)
{
    relay_stats_t s0 = test_stats();
    relay_ref_t r = test_put_i64(5);
    CHECK_EQ(test_stats().held_refs, s0.held_refs + 1);
    CHECK_OK(relay_retain(r));
    /* held_refs counts distinct refs. */
    CHECK_EQ(test_stats().held_refs, s0.held_refs + 1);
    CHECK_OK(relay_release(r));
    CHECK_EQ(test_stats().held_refs, s0.held_refs + 1);
    CHECK_EQ(test_get_i64(r), 5); /* still held once */
    CHECK_OK(relay_release(r));
    CHECK_EQ(test_stats().held_refs, s0.held_refs);
    CHECK_STATUS(relay_release(r), RELAY_ERR_INVALID_REF);

    /* An object with refs inside. */
    relay_ref_t in[2] = {test_put_i64(1), test_put_i64(2)};
    relay_ref_t box;
    CHECK_OK(relay_put_object("hdr", 3, in, 2, &box));
    relay_object_t obj;
    CHECK_OK(relay_get(box, TEST_LONG_S, &obj));
    CHECK_EQ(relay_object_size(obj), 3);
    CHECK(memcmp(relay_object_data(obj), "hdr", 3) == 0);
    CHECK_EQ(relay_object_num_refs(obj), 2);
    relay_ref_t out;
    CHECK_OK(relay_object_ref(obj, 0, &out));
    CHECK_EQ(out.id, in[0].id);
    CHECK_OK(relay_object_ref(obj, 1, &out));
    CHECK_EQ(out.id, in[1].id);
    CHECK_STATUS(relay_object_ref(obj, 2, &out), RELAY_ERR_OUT_OF_RANGE);
    CHECK_OK(relay_object_free(obj));
    CHECK_OK(relay_release_many(in, 2));
    CHECK_OK(relay_release(box));
    CHECK_EQ(test_stats().held_refs, s0.held_refs);
}

static void driver(int size)
{
    relay_stats_t base = test_stats();
    CHECK_EQ(base.live_views, 0);
    CHECK_EQ(base.held_refs, 0);
    uint64_t submitted = 0;

    check_put_get();
    check_tasks(size, &submitted);
    check_wait(&submitted);
    check_holds();

    CHECK_OK(relay_sync(TEST_LONG_S));
    relay_stats_t s = test_wait_directory(base.directory_objects, base.directory_bytes, 10.0);
    test_check_at_rest("api driver", &s, 0);
    CHECK_EQ(s.tasks_submitted, base.tasks_submitted + submitted);
    if (size == 1)
        CHECK_EQ(s.tasks_executed, submitted);
    else if (!test_driver_hosts_workers(size))
        CHECK_EQ(s.tasks_executed, 0);
}

int main(int argc, char **argv)
{
    CHECK_OK(relay_register("sum", fn_sum));
    CHECK_OK(relay_register("echo", fn_echo));
    CHECK_OK(relay_register("three", fn_three));
    CHECK_OK(relay_register("introspect", fn_introspect));
    CHECK_OK(relay_register("sleep_ms", test_fn_sleep_ms));
    CHECK_OK(relay_init(&argc, &argv, NULL));

    int rank = test_rank(), size = test_size();
    int world = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    CHECK_EQ(size, world); /* default communicator: a duplicate of MPI_COMM_WORLD */
    int wrank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &wrank);
    CHECK_EQ(rank, wrank);

    if (rank == 0)
        driver(size);
    else {
        relay_stats_t s = test_stats();
        CHECK_EQ(s.directory_objects, 0); /* rank 0 only */
        CHECK_EQ(s.tasks_pending, 0);
    }
    test_check_tasks_ran_once();

    CHECK_OK(relay_finalize());
    if (rank == 0) printf("api: PASS (%d ranks)\n", size);
    return 0;
}
