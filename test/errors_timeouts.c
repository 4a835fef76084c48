/* Failed tasks become error objects naming the function, the rank and the
 * reason; failures propagate to dependent tasks; gets and waits time out
 * (and a later get succeeds); max_retries reruns a failed task. */
#include <fcntl.h>
#include <sys/stat.h>

#include "testutil.h"

static int fn_ok(relay_ctx_t *ctx)
{
    int64_t v = 7;
    return relay_ctx_return(ctx, 0, &v, sizeof v);
}

static int fn_fail_nonzero(relay_ctx_t *ctx)
{
    (void)ctx;
    return 3;
}

/* relay_ctx_fail alone fails the task, though the function returns 0. */
static int fn_fail_msg(relay_ctx_t *ctx)
{
    relay_ctx_fail(ctx, "boom %d", 42);
    return 0;
}

/* Gets a failing task inside a task, then fails quoting the inner error. */
static int fn_nested_fail(relay_ctx_t *ctx)
{
    relay_ref_t r;
    TASK_OK(ctx, relay_submit("fail_msg", NULL, 0, NULL, &r));
    relay_object_t obj = NULL;
    int rc = relay_get(r, TEST_LONG_S, &obj);
    relay_ctx_fail(ctx, "inner get returned %s: %s", relay_status_name(rc),
                   obj ? relay_object_error(obj) : "(no object)");
    if (obj) relay_object_free(obj);
    relay_release(r);
    return 1;
}

/* Argument: a path. Fails (creating the file) when the file does not exist
 * yet, succeeds when it does: a retry, on any rank of this node, succeeds. */
static int fn_first_fails(relay_ctx_t *ctx)
{
    const void *d;
    size_t sz;
    if (relay_ctx_arg(ctx, 0, &d, &sz) || sz == 0) return 1;
    const char *path = d;
    if (access(path, F_OK) == 0) {
        int64_t v = 7;
        return relay_ctx_return(ctx, 0, &v, sizeof v);
    }
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    if (fd >= 0) close(fd);
    relay_ctx_fail(ctx, "first attempt");
    return 1;
}

/* Argument: a path. Appends one byte per attempt, then fails. */
static int fn_fail_count(relay_ctx_t *ctx)
{
    const void *d;
    size_t sz;
    if (relay_ctx_arg(ctx, 0, &d, &sz) || sz == 0) return 1;
    int fd = open((const char *)d, O_CREAT | O_WRONLY | O_APPEND, 0600);
    if (fd >= 0) {
        if (write(fd, "x", 1) != 1) relay_ctx_fail(ctx, "write failed");
        close(fd);
    }
    relay_ctx_fail(ctx, "attempt failed");
    return 1;
}

static relay_ref_t submit_opts(const char *fn, const relay_arg_t *args, size_t nargs,
                               const relay_task_opts_t *opts)
{
    relay_ref_t r;
    CHECK_OK(relay_submit(fn, args, nargs, opts, &r));
    return r;
}

/* get (and get_value) must fail with TASK_FAILED, with an error object
 * whose message, like relay_last_error(), contains each non-NULL needle.
 * The object's message is left in msg. */
static void expect_failed(relay_ref_t ref, char *msg, size_t msg_size, const char *n1,
                          const char *n2, const char *n3)
{
    relay_object_t obj = NULL;
    CHECK_STATUS(relay_get(ref, TEST_LONG_S, &obj), RELAY_ERR_TASK_FAILED);
    char last[1024];
    snprintf(last, sizeof last, "%s", relay_last_error());
    CHECK(obj != NULL);
    CHECK_STATUS(relay_object_status(obj), RELAY_ERR_TASK_FAILED);
    const char *err = relay_object_error(obj);
    CHECK(err != NULL);
    snprintf(msg, msg_size, "%s", err);
    CHECK_OK(relay_object_free(obj));
    printf("task error: %s\n", msg);
    const char *needles[3] = {n1, n2, n3};
    for (int i = 0; i < 3; i++) {
        if (!needles[i]) continue;
        CHECK_CONTAINS(msg, needles[i]);
        CHECK_CONTAINS(last, needles[i]);
    }
    int64_t v = 99;
    CHECK_STATUS(relay_get_value(ref, &v, sizeof v, TEST_LONG_S), RELAY_ERR_TASK_FAILED);
    CHECK_EQ(v, 99);
}

static void check_failures(void)
{
    char msg[1024];

    relay_ref_t nz = test_submit("fail_nonzero", NULL, 0);
    expect_failed(nz, msg, sizeof msg, "fail_nonzero", "rank ", NULL);

    relay_ref_t fm = test_submit("fail_msg", NULL, 0);
    expect_failed(fm, msg, sizeof msg, "fail_msg", "rank ", "boom 42");

    /* Every return of a failed task is an error object. */
    relay_task_opts_t opts;
    memset(&opts, 0, sizeof opts);
    opts.field_mask = RELAY_TASK_OPT_NUM_RETURNS;
    opts.num_returns = 2;
    relay_ref_t two[2];
    CHECK_OK(relay_submit("fail_msg", NULL, 0, &opts, two));
    expect_failed(two[0], msg, sizeof msg, "boom 42", NULL, NULL);
    expect_failed(two[1], msg, sizeof msg, "boom 42", NULL, NULL);

    /* The name option shows in errors. */
    memset(&opts, 0, sizeof opts);
    opts.field_mask = RELAY_TASK_OPT_NAME;
    opts.name = "custom_task_name";
    relay_ref_t named = submit_opts("fail_msg", NULL, 0, &opts);
    expect_failed(named, msg, sizeof msg, "custom_task_name", "boom 42", NULL);

    /* get_many: every view set, the first error returned (once both are
     * in: with one still running it would return the failure at once). */
    relay_ref_t ok = test_submit("ok", NULL, 0);
    CHECK_OK(relay_wait(&ok, 1, 1, TEST_LONG_S, NULL, NULL));
    relay_ref_t mix[2] = {ok, fm};
    relay_object_t objs[2] = {NULL, NULL};
    CHECK_STATUS(relay_get_many(mix, 2, TEST_LONG_S, objs), RELAY_ERR_TASK_FAILED);
    CHECK(objs[0] != NULL && objs[1] != NULL);
    CHECK_OK(relay_object_status(objs[0]));
    CHECK_EQ(relay_object_size(objs[0]), 8);
    CHECK(relay_object_error(objs[0]) == NULL);
    CHECK_STATUS(relay_object_status(objs[1]), RELAY_ERR_TASK_FAILED);
    CHECK_CONTAINS(relay_object_error(objs[1]), "boom 42");
    CHECK_OK(relay_object_free(objs[0]));
    CHECK_OK(relay_object_free(objs[1]));

    /* A failed task is ready. */
    int ready[2] = {0, 0};
    size_t nready = 0;
    CHECK_OK(relay_wait(mix, 2, 2, TEST_LONG_S, ready, &nready));
    CHECK_EQ(nready, 2);
    CHECK_EQ(ready[1], 1);

    /* Dependents of a failed task fail, and say which dependency failed
     * (its function or its reason). */
    relay_arg_t arg = relay_arg_ref(fm);
    relay_ref_t dep = test_submit("add1", &arg, 1);
    expect_failed(dep, msg, sizeof msg, NULL, NULL, NULL);
    CHECK(strstr(msg, "fail_msg") || strstr(msg, "boom 42"));
    arg = relay_arg_ref(dep);
    relay_ref_t dep2 = test_submit("add1", &arg, 1);
    expect_failed(dep2, msg, sizeof msg, NULL, NULL, NULL);
    CHECK(strstr(msg, "fail_msg") || strstr(msg, "boom 42"));

    /* A task that gets a failed task inside and fails in turn. */
    relay_ref_t nf = test_submit("nested_fail", NULL, 0);
    expect_failed(nf, msg, sizeof msg, "nested_fail", "RELAY_ERR_TASK_FAILED", "boom 42");

    relay_ref_t all[] = {nz, fm, two[0], two[1], named, ok, dep, dep2, nf};
    CHECK_OK(relay_release_many(all, sizeof all / sizeof all[0]));
}

static void check_timeouts(void)
{
    relay_ref_t fast = test_submit("ok", NULL, 0);
    CHECK_EQ(test_get_i64(fast), 7);

    int64_t ms = 3000;
    relay_arg_t arg = relay_arg_value(&ms, 8);
    double t0 = test_now();
    relay_ref_t slow = test_submit("sleep_ms", &arg, 1);

    relay_object_t obj = NULL;
    CHECK_STATUS(relay_get(slow, 0.0, &obj), RELAY_ERR_TIMEOUT);
    double t1 = test_now();
    CHECK_STATUS(relay_get(slow, 0.2, &obj), RELAY_ERR_TIMEOUT);
    double t2 = test_now();
    CHECK(obj == NULL);
    printf("get timeout 0 returned after %.3f s, timeout 0.2 after %.3f s\n", t1 - t0, t2 - t1);
    int64_t v = 99;
    CHECK_STATUS(relay_get_value(slow, &v, sizeof v, 0.1), RELAY_ERR_TIMEOUT);
    CHECK_EQ(v, 99);

    /* wait: on TIMEOUT the flags and the count are still written. */
    relay_ref_t both[2] = {fast, slow};
    int ready[2] = {-1, -1};
    size_t nready = 99;
    CHECK_STATUS(relay_wait(both, 2, 2, 0.2, ready, &nready), RELAY_ERR_TIMEOUT);
    CHECK_EQ(ready[0], 1);
    if (test_now() - t0 < 2.5) { /* the sleeper cannot be done yet */
        CHECK_EQ(ready[1], 0);
        CHECK_EQ(nready, 1);
    }
    /* Gets and waits that gave up leave no waiter behind at rank 0. */
    for (int k = 0; k < 50; k++) {
        int st = relay_wait(&slow, 1, 1, 0.001, NULL, NULL);
        CHECK(st == RELAY_ERR_TIMEOUT || st == RELAY_OK);
    }
    CHECK_OK(relay_sync(TEST_LONG_S));
    CHECK_EQ(test_stats().directory_waiters, 0); /* the driver is rank 0 */

    CHECK_OK(relay_wait(both, 2, 1, TEST_LONG_S, ready, &nready));
    CHECK_GE(nready, 1);
    CHECK_EQ(ready[0], 1);

    /* A get without limit still works after the timeouts. */
    CHECK_OK(relay_get_value(slow, &v, sizeof v, RELAY_FOREVER));
    CHECK_EQ(v, 3000);
    CHECK_OK(relay_wait(both, 2, 2, RELAY_FOREVER, ready, &nready));
    CHECK_EQ(nready, 2);
    CHECK_OK(relay_release_many(both, 2));
}

static relay_ref_t submit_path(const char *fn, const char *path, int max_retries)
{
    relay_task_opts_t opts;
    memset(&opts, 0, sizeof opts);
    opts.field_mask = RELAY_TASK_OPT_MAX_RETRIES;
    opts.max_retries = max_retries;
    relay_arg_t arg = relay_arg_value(path, strlen(path) + 1);
    return submit_opts(fn, &arg, 1, &opts);
}

static void check_retries(void)
{
    char dir[] = "/tmp/relay_test_retries_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char once_a[128], once_b[128], count[128], msg[1024];
    snprintf(once_a, sizeof once_a, "%s/once_a", dir);
    snprintf(once_b, sizeof once_b, "%s/once_b", dir);
    snprintf(count, sizeof count, "%s/count", dir);

    relay_ref_t a = submit_path("first_fails", once_a, 1);
    CHECK_EQ(test_get_i64(a), 7);

    relay_ref_t b = submit_path("first_fails", once_b, 0);
    expect_failed(b, msg, sizeof msg, "first_fails", "first attempt", NULL);

    relay_ref_t c = submit_path("fail_count", count, 2);
    expect_failed(c, msg, sizeof msg, "fail_count", "attempt failed", NULL);
    struct stat st;
    CHECK_EQ(stat(count, &st), 0);
    CHECK_EQ(st.st_size, 3); /* the first run and two retries */

    relay_ref_t all[3] = {a, b, c};
    CHECK_OK(relay_release_many(all, 3));
    unlink(once_a);
    unlink(once_b);
    unlink(count);
    CHECK_EQ(rmdir(dir), 0);
}

int main(int argc, char **argv)
{
    CHECK_OK(relay_register("ok", fn_ok));
    CHECK_OK(relay_register("fail_nonzero", fn_fail_nonzero));
    CHECK_OK(relay_register("fail_msg", fn_fail_msg));
    CHECK_OK(relay_register("add1", test_fn_add1));
    CHECK_OK(relay_register("sleep_ms", test_fn_sleep_ms));
    CHECK_OK(relay_register("nested_fail", fn_nested_fail));
    CHECK_OK(relay_register("first_fails", fn_first_fails));
    CHECK_OK(relay_register("fail_count", fn_fail_count));
    CHECK_OK(relay_init(&argc, &argv, NULL));
    int rank = test_rank(), size = test_size();
    if (rank == 0) {
        CHECK_OK(relay_sync(TEST_LONG_S));
        relay_stats_t base = test_stats();
        check_failures();
        check_timeouts();
        check_retries();
        relay_stats_t s = test_wait_directory(base.directory_objects, base.directory_bytes, 10.0);
        test_check_at_rest("errors_timeouts driver", &s, 0);
    }
    CHECK_OK(relay_finalize());
    if (rank == 0) printf("errors_timeouts: PASS (%d ranks)\n", size);
    return 0;
}
