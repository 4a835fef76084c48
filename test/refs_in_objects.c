/* Objects that contain refs keep them alive: after the inner refs' own
 * holds are released the container still reaches them; once the container
 * goes, so do they. A task reads the refs inside an argument. */
#include "testutil.h"

/* Argument 0 is an object whose refs name int64s: returns their sum. */
static int fn_sum_inner(relay_ctx_t *ctx)
{
    relay_object_t box;
    TASK_OK(ctx, relay_ctx_arg_object(ctx, 0, &box));
    int64_t sum = 0;
    for (size_t i = 0; i < relay_object_num_refs(box); i++) {
        relay_ref_t inner;
        int64_t v = 0;
        TASK_OK(ctx, relay_object_ref(box, i, &inner));
        TASK_OK(ctx, relay_get_value(inner, &v, sizeof v, TEST_LONG_S));
        sum += v;
    }
    return relay_ctx_return(ctx, 0, &sum, sizeof sum);
}

static int fn_slow_value(relay_ctx_t *ctx)
{
    test_sleep(0.3);
    int64_t v = 1000;
    return relay_ctx_return(ctx, 0, &v, sizeof v);
}

static int64_t get_inner(relay_object_t box, size_t i)
{
    relay_ref_t inner;
    CHECK_OK(relay_object_ref(box, i, &inner));
    return test_get_i64(inner);
}

static void driver(void)
{
    CHECK_OK(relay_sync(TEST_LONG_S));
    relay_stats_t base = test_stats();

    /* A container of three values; the direct holds go at once. */
    relay_ref_t in[3] = {test_put_i64(10), test_put_i64(20), test_put_i64(30)};
    relay_ref_t box;
    CHECK_OK(relay_put_object("box", 3, in, 3, &box));
    CHECK_OK(relay_release_many(in, 3));
    CHECK_OK(relay_sync(TEST_LONG_S));
    relay_stats_t s = test_stats();
    CHECK_EQ(s.held_refs, base.held_refs + 1);
    CHECK_EQ(s.directory_objects, base.directory_objects + 4);

    relay_object_t view;
    CHECK_OK(relay_get(box, TEST_LONG_S, &view));
    CHECK_EQ(relay_object_num_refs(view), 3);
    for (size_t i = 0; i < 3; i++)
        CHECK_EQ(get_inner(view, i), 10 * (int64_t)(i + 1));

    /* A task reads the refs inside its argument. */
    relay_arg_t arg = relay_arg_ref(box);
    relay_ref_t sum = test_submit("sum_inner", &arg, 1);
    CHECK_EQ(test_get_i64(sum), 60);
    CHECK_OK(relay_release(sum));

    /* A borrowed ref kept past the container with relay_retain. */
    relay_ref_t kept;
    CHECK_OK(relay_object_ref(view, 1, &kept));
    CHECK_OK(relay_retain(kept));
    CHECK_OK(relay_object_free(view));
    CHECK_OK(relay_release(box));
    CHECK_OK(relay_sync(TEST_LONG_S));
    CHECK_EQ(test_get_i64(kept), 20);
    /* The other two went with the container. */
    s = test_wait_directory(base.directory_objects + 1, base.directory_bytes + 8, 10.0);
    CHECK_OK(relay_release(kept));
    s = test_wait_directory(base.directory_objects, base.directory_bytes, 10.0);
    CHECK_EQ(s.held_refs, base.held_refs);

    /* Containers of containers, three levels; only the top is held. */
    relay_ref_t leaf[2] = {test_put_i64(1), test_put_i64(2)};
    relay_ref_t mid[2];
    CHECK_OK(relay_put_object(NULL, 0, leaf, 2, &mid[0]));
    CHECK_OK(relay_put_object("m", 1, leaf, 1, &mid[1]));
    relay_ref_t top;
    CHECK_OK(relay_put_object("top", 3, mid, 2, &top));
    CHECK_OK(relay_release_many(leaf, 2));
    CHECK_OK(relay_release_many(mid, 2));
    CHECK_OK(relay_sync(TEST_LONG_S));
    CHECK_EQ(test_stats().held_refs, base.held_refs + 1);
    CHECK_OK(relay_get(top, TEST_LONG_S, &view));
    CHECK_EQ(relay_object_num_refs(view), 2);
    int64_t total = 0;
    for (size_t i = 0; i < 2; i++) {
        relay_ref_t m;
        relay_object_t mv;
        CHECK_OK(relay_object_ref(view, i, &m));
        CHECK_OK(relay_get(m, TEST_LONG_S, &mv));
        CHECK_EQ(relay_object_num_refs(mv), i == 0 ? 2 : 1);
        for (size_t j = 0; j < relay_object_num_refs(mv); j++)
            total += get_inner(mv, j);
        /* The same middle container as a task argument. */
        arg = relay_arg_ref(m);
        relay_ref_t t = test_submit("sum_inner", &arg, 1);
        CHECK_EQ(test_get_i64(t), i == 0 ? 3 : 1);
        CHECK_OK(relay_release(t));
        CHECK_OK(relay_object_free(mv));
    }
    CHECK_EQ(total, 4);
    CHECK_OK(relay_object_free(view));
    CHECK_OK(relay_release(top));
    test_wait_directory(base.directory_objects, base.directory_bytes, 10.0);

    /* A container argument of a pending task stays alive though the driver
     * lets go right after submitting. */
    relay_ref_t vals[2] = {test_put_i64(4), test_put_i64(5)};
    CHECK_OK(relay_put_object("b2", 2, vals, 2, &box));
    CHECK_OK(relay_release_many(vals, 2));
    arg = relay_arg_ref(box);
    sum = test_submit("sum_inner", &arg, 1);
    CHECK_OK(relay_release(box));
    CHECK_EQ(test_get_i64(sum), 9);
    CHECK_OK(relay_release(sum));
    test_wait_directory(base.directory_objects, base.directory_bytes, 10.0);

    /* A container of a future: the task's output outlives its direct hold. */
    relay_ref_t slow = test_submit("slow_value", NULL, 0);
    CHECK_OK(relay_put_object("f", 1, &slow, 1, &box));
    CHECK_OK(relay_release(slow));
    arg = relay_arg_ref(box);
    sum = test_submit("sum_inner", &arg, 1);
    CHECK_OK(relay_get(box, TEST_LONG_S, &view));
    CHECK_EQ(get_inner(view, 0), 1000);
    CHECK_OK(relay_object_free(view));
    CHECK_EQ(test_get_i64(sum), 1000);
    relay_ref_t last[2] = {box, sum};
    CHECK_OK(relay_release_many(last, 2));

    s = test_wait_directory(base.directory_objects, base.directory_bytes, 10.0);
    test_check_at_rest("refs_in_objects driver", &s, base.held_refs);
}

int main(int argc, char **argv)
{
    CHECK_OK(relay_register("sum_inner", fn_sum_inner));
    CHECK_OK(relay_register("slow_value", fn_slow_value));
    CHECK_OK(relay_init(&argc, &argv, NULL));
    int rank = test_rank(), size = test_size();
    if (rank == 0) driver();
    test_check_tasks_ran_once();
    CHECK_OK(relay_finalize());
    if (rank == 0) printf("refs_in_objects: PASS (%d ranks)\n", size);
    return 0;
}
