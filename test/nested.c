/* The seed's nested remote functions: f returns 1; g submits f four times
 * and returns the refs (in an object); h submits f four times and returns
 * their values (blocking in get inside a task). Then the same three levels
 * deep, and many blocked tasks at once (a blocked get releases the task's
 * CPU slot, so this completes even with RELAY_NUM_CPUS=1). */
#include "testutil.h"

#define FANOUT 4

static int fn_f(relay_ctx_t *ctx)
{
    int one = 1;
    return relay_ctx_return(ctx, 0, &one, sizeof one);
}

/* Submits `count` tasks of fn without arguments into refs. */
static int submit_n(relay_ctx_t *ctx, const char *fn, relay_ref_t *refs, int count)
{
    for (int i = 0; i < count; i++)
        TASK_OK(ctx, relay_submit(fn, NULL, 0, NULL, &refs[i]));
    return 0;
}

/* Returns an object holding the refs of `count` tasks of fn, then drops its
 * own holds (they take effect once the return is recorded). */
static int return_refs_of(relay_ctx_t *ctx, const char *fn, int count)
{
    relay_ref_t refs[FANOUT];
    if (submit_n(ctx, fn, refs, count)) return 1;
    char tag = 'g';
    TASK_OK(ctx, relay_ctx_return_object(ctx, 0, &tag, 1, refs, (size_t)count));
    TASK_OK(ctx, relay_release_many(refs, (size_t)count));
    return 0;
}

static int fn_g(relay_ctx_t *ctx)
{
    return return_refs_of(ctx, "f", FANOUT);
}
static int fn_g2(relay_ctx_t *ctx)
{
    return return_refs_of(ctx, "g", 2);
}
static int fn_g3(relay_ctx_t *ctx)
{
    return return_refs_of(ctx, "g2", 2);
}

/* Submits `count` tasks of fn, gets them all (blocking), and returns the
 * int arrays they returned, concatenated. */
static int return_values_of(relay_ctx_t *ctx, const char *fn, int count)
{
    relay_ref_t refs[FANOUT];
    relay_object_t objs[FANOUT];
    if (submit_n(ctx, fn, refs, count)) return 1;
    TASK_OK(ctx, relay_get_many(refs, (size_t)count, TEST_LONG_S, objs));
    int out[FANOUT * FANOUT * FANOUT];
    size_t n = 0;
    for (int i = 0; i < count; i++) {
        size_t sz = relay_object_size(objs[i]);
        if (n * sizeof(int) + sz > sizeof out) return -1;
        memcpy((char *)out + n * sizeof(int), relay_object_data(objs[i]), sz);
        n += sz / sizeof(int);
        TASK_OK(ctx, relay_object_free(objs[i]));
    }
    TASK_OK(ctx, relay_ctx_return(ctx, 0, out, n * sizeof(int)));
    TASK_OK(ctx, relay_release_many(refs, (size_t)count));
    return 0;
}

static int fn_h(relay_ctx_t *ctx)
{
    return return_values_of(ctx, "f", FANOUT);
}
static int fn_h2(relay_ctx_t *ctx)
{
    return return_values_of(ctx, "h", 3);
}
static int fn_h3(relay_ctx_t *ctx)
{
    return return_values_of(ctx, "h2", 2);
}

/* Mixed: submits g, gets its object, then gets each borrowed ref inside it
 * (the container, held by this task, keeps them alive) and returns the sum. */
static int fn_gh(relay_ctx_t *ctx)
{
    relay_ref_t gref;
    relay_object_t gobj;
    TASK_OK(ctx, relay_submit("g", NULL, 0, NULL, &gref));
    TASK_OK(ctx, relay_get(gref, TEST_LONG_S, &gobj));
    int sum = 0;
    for (size_t i = 0; i < relay_object_num_refs(gobj); i++) {
        relay_ref_t inner;
        int v = 0;
        TASK_OK(ctx, relay_object_ref(gobj, i, &inner));
        TASK_OK(ctx, relay_get_value(inner, &v, sizeof v, TEST_LONG_S));
        sum += v;
    }
    TASK_OK(ctx, relay_object_free(gobj));
    TASK_OK(ctx, relay_release(gref));
    TASK_OK(ctx, relay_ctx_return(ctx, 0, &sum, sizeof sum));
    return 0;
}

/* Follows a tree of ref-holding objects down `depth` levels from ref and
 * sums the ints at the leaves; checks the shape on the way. */
static int sum_tree(relay_ref_t ref, int depth, const size_t *fanout)
{
    relay_object_t obj;
    CHECK_OK(relay_get(ref, TEST_LONG_S, &obj));
    int sum = 0;
    if (depth == 0) {
        CHECK_EQ(relay_object_size(obj), sizeof(int));
        memcpy(&sum, relay_object_data(obj), sizeof sum);
    } else {
        CHECK_EQ(relay_object_num_refs(obj), fanout[0]);
        for (size_t i = 0; i < fanout[0]; i++) {
            relay_ref_t inner;
            CHECK_OK(relay_object_ref(obj, i, &inner));
            sum += sum_tree(inner, depth - 1, fanout + 1);
        }
    }
    CHECK_OK(relay_object_free(obj));
    return sum;
}

static void check_ones(relay_ref_t ref, size_t count)
{
    relay_object_t obj;
    CHECK_OK(relay_get(ref, TEST_LONG_S, &obj));
    CHECK_EQ(relay_object_size(obj), count * sizeof(int));
    const int *v = relay_object_data(obj);
    for (size_t i = 0; i < count; i++)
        CHECK_EQ(v[i], 1);
    CHECK_OK(relay_object_free(obj));
}

static void driver(void)
{
    CHECK_OK(relay_sync(TEST_LONG_S));
    relay_stats_t base = test_stats();

    /* The seed example. */
    relay_ref_t f = test_submit("f", NULL, 0);
    int one = 0;
    CHECK_OK(relay_get_value(f, &one, sizeof one, TEST_LONG_S));
    CHECK_EQ(one, 1);

    relay_ref_t g = test_submit("g", NULL, 0);
    relay_object_t gobj;
    CHECK_OK(relay_get(g, TEST_LONG_S, &gobj));
    CHECK_EQ(relay_object_num_refs(gobj), FANOUT);
    for (size_t i = 0; i < FANOUT; i++) {
        relay_ref_t inner;
        CHECK_OK(relay_object_ref(gobj, i, &inner));
        int v = 0;
        CHECK_OK(relay_get_value(inner, &v, sizeof v, TEST_LONG_S));
        CHECK_EQ(v, 1);
    }
    CHECK_OK(relay_object_free(gobj));

    relay_ref_t h = test_submit("h", NULL, 0);
    check_ones(h, FANOUT);

    /* Three levels deep: ref-returning chains and blocking chains. */
    relay_ref_t g3 = test_submit("g3", NULL, 0);
    const size_t shape[3] = {2, 2, FANOUT};
    CHECK_EQ(sum_tree(g3, 3, shape), 2 * 2 * FANOUT);

    relay_ref_t h3 = test_submit("h3", NULL, 0);
    check_ones(h3, 2 * 3 * FANOUT);

    relay_ref_t gh = test_submit("gh", NULL, 0);
    int sum = 0;
    CHECK_OK(relay_get_value(gh, &sum, sizeof sum, TEST_LONG_S));
    CHECK_EQ(sum, FANOUT);

    /* Many blocked tasks at once: every h holds a slot until it blocks. */
    enum { MANY = 8 };
    relay_ref_t hs[MANY + 2];
    for (int i = 0; i < MANY; i++)
        hs[i] = test_submit("h", NULL, 0);
    hs[MANY] = test_submit("h2", NULL, 0);
    hs[MANY + 1] = test_submit("h2", NULL, 0);
    for (int i = 0; i < MANY; i++)
        check_ones(hs[i], FANOUT);
    check_ones(hs[MANY], 3 * FANOUT);
    check_ones(hs[MANY + 1], 3 * FANOUT);

    relay_ref_t all[] = {f, g, h, g3, h3, gh};
    CHECK_OK(relay_release_many(all, sizeof all / sizeof all[0]));
    CHECK_OK(relay_release_many(hs, MANY + 2));

    /* Every nested object is gone once the driver let go: the tasks' own
     * holds were dropped after their returns were recorded. */
    relay_stats_t s = test_wait_directory(base.directory_objects, base.directory_bytes, 10.0);
    test_check_at_rest("nested driver", &s, 0);
}

int main(int argc, char **argv)
{
    CHECK_OK(relay_register("f", fn_f));
    CHECK_OK(relay_register("g", fn_g));
    CHECK_OK(relay_register("g2", fn_g2));
    CHECK_OK(relay_register("g3", fn_g3));
    CHECK_OK(relay_register("h", fn_h));
    CHECK_OK(relay_register("h2", fn_h2));
    CHECK_OK(relay_register("h3", fn_h3));
    CHECK_OK(relay_register("gh", fn_gh));
    CHECK_OK(relay_init(&argc, &argv, NULL));
    int rank = test_rank(), size = test_size();
    if (rank == 0) driver();
    /* Tasks that ran on worker ranks hold nothing and leave no views. */
    test_check_tasks_ran_once();
    if (rank != 0) {
        relay_stats_t s = test_stats();
        CHECK_EQ(s.held_refs, 0);
        CHECK_EQ(s.live_views, 0);
    }
    CHECK_OK(relay_finalize());
    if (rank == 0) printf("nested: PASS (%d ranks)\n", size);
    return 0;
}
