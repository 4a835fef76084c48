/* Ray's semantics of a task's returns, under mpirun (2 or 3 ranks):
 *
 *   - a task or a method with no returns (num_returns 0, returns_p may be
 *     NULL) runs for its side effects, and still counts for tasks_pending,
 *     retries, nested submission, placement ahead of its inputs and the
 *     deadlock check; its failure, which nobody can get, is logged on
 *     rank 0 with its name, function and rank;
 *   - a return the task never set fails the task (as Ray fails a task that
 *     returns the wrong number of values), naming the missing returns;
 *   - a failure passed on by a task that got it keeps its whole chain of
 *     causes, bounded (RELAY_MAX_ERROR) with the root cause kept.
 *
 *   - rank 0 keeps a finished task (lineage, to make its objects held on
 *     another rank again should that rank be lost) only while one of
 *     those objects lives: released ones, even released before the task
 *     finished, let it go (lineage_tasks back to 0).
 *
 * Rank r >= 1 offers the custom resource "rank<r>", so tasks can be pinned
 * to ranks; with 2 ranks, "rank 2" is rank 1. Rank 1 also offers one
 * "slot" (the deadlock case). Side effects are counted by Counter actors.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static int world_rank, world_size;

/* ---- pinning ------------------------------------------------------------ */

static const char *rank_res[] = {"rank0", "rank1", "rank2"};

/* Options that run a task on rank r (the last rank when there are fewer). */
static relay_task_opts_t on_rank(int r, relay_resource_t *res)
{
    if (r >= world_size) r = world_size - 1;
    *res = (relay_resource_t){rank_res[r], 1};
    relay_task_opts_t o;
    memset(&o, 0, sizeof o);
    o.field_mask = RELAY_TASK_OPT_RESOURCES;
    o.resources = res;
    o.num_resources = 1;
    return o;
}

static int rank_of(int r)
{
    return r < world_size ? r : world_size - 1;
}

/* ---- lineage ------------------------------------------------------------- */

#define BIG_RET ((size_t)300 * 1024) /* above the default inline maximum */

/* (ms) -> BIG_RET bytes, after sleeping ms. */
static int fn_big_ret(relay_ctx_t *ctx)
{
    test_sleep((double)test_arg_i64(ctx, 0) / 1000.0);
    void *buf = malloc(BIG_RET);
    if (!buf) return 1;
    test_fill(buf, BIG_RET, 3);
    int rc = relay_ctx_return(ctx, 0, buf, BIG_RET);
    free(buf);
    return rc;
}

static uint64_t lineage_tasks_now(void)
{
    return test_stats().lineage_tasks;
}

/* Polls until rank 0 keeps want tasks; fails with the count after a while. */
static void wait_lineage(uint64_t want)
{
    const size_t off = offsetof(relay_stats_t, lineage_tasks);
    relay_stats_t s = test__poll_stats(&off, &want, 1, 30, "kept tasks", __FILE__, __LINE__);
    CHECK_EQ(s.lineage_tasks, want);
}

static void case_kept_lineage(void)
{
    enum { N = 6 };
    CHECK_EQ(lineage_tasks_now(), 0);
    relay_resource_t res;
    relay_task_opts_t o = on_rank(1, &res);
    relay_ref_t held[N], dropped[N];
    for (int i = 0; i < N; i++) {
        int64_t ms = 100;
        relay_arg_t a = relay_arg_value(&ms, sizeof ms);
        CHECK_OK(relay_submit("big_ret", &a, 1, &o, &dropped[i]));
        CHECK_OK(relay_submit("big_ret", &a, 1, &o, &held[i]));
    }
    /* Released before their tasks finish: their objects go as they are
     * made, and their tasks are not kept. */
    relay_release_many(dropped, N);
    for (int i = 0; i < N; i++)
        test_check_pattern(held[i], BIG_RET, 3);
    wait_lineage(N); /* the held objects' tasks, kept while they live */
    relay_release_many(held, N);
    wait_lineage(0);
}

/* ---- Counter actor ------------------------------------------------------ */

static int counter_init(relay_ctx_t *ctx, void **state_p)
{
    (void)ctx;
    *state_p = calloc(1, sizeof(int64_t));
    return *state_p ? 0 : 1;
}

static void counter_fini(void *state)
{
    free(state);
}

/* (v) -> the new total when the caller asked for a return. */
static int counter_add(relay_ctx_t *ctx, void *state)
{
    int64_t v;
    if (test_ctx_arg_fixed(ctx, 0, &v, sizeof v)) return 1;
    *(int64_t *)state += v;
    if (relay_ctx_num_returns(ctx) == 0) return 0;
    return relay_ctx_return(ctx, 0, state, sizeof(int64_t));
}

static int counter_get(relay_ctx_t *ctx, void *state)
{
    return relay_ctx_return(ctx, 0, state, sizeof(int64_t));
}

/* Fails, whatever it was asked for. */
static int counter_fail(relay_ctx_t *ctx, void *state)
{
    (void)state;
    relay_ctx_fail(ctx, "method kaput");
    return 1;
}

/* Sets none of its returns. */
static int counter_forget(relay_ctx_t *ctx, void *state)
{
    (void)ctx;
    (void)state;
    return 0;
}

static const relay_method_t counter_methods[] = {
    {"add", counter_add, 1},
    {"get", counter_get, 0},
    {"fail", counter_fail, 0},
    {"forget", counter_forget, 0},
};

static relay_actor_t new_counter(void)
{
    relay_actor_opts_t o;
    memset(&o, 0, sizeof o);
    o.field_mask = RELAY_ACTOR_OPT_NUM_CPUS;
    o.num_cpus = 0;
    relay_actor_t a;
    CHECK_OK(relay_actor_create("Counter", NULL, 0, &o, &a));
    return a;
}

static int64_t counter_value(relay_actor_t a)
{
    relay_ref_t r;
    CHECK_OK(relay_actor_call(a, "get", NULL, 0, NULL, &r));
    int64_t v = test_get_i64(r);
    CHECK_OK(relay_release(r));
    return v;
}

/* Inside a task: add v to the counter; its new total, or a status < 0. */
static int64_t task_add(relay_actor_t a, int64_t v)
{
    relay_arg_t arg = relay_arg_value(&v, sizeof v);
    relay_ref_t r;
    int rc = relay_actor_call(a, "add", &arg, 1, NULL, &r);
    if (rc) return rc;
    int64_t total = 0;
    rc = relay_get_value(r, &total, sizeof total, RELAY_FOREVER);
    relay_release(r);
    return rc ? rc : total;
}

/* ---- remote functions: no returns ---------------------------------------- */

/* (counter, amount, sleep ms) -> nothing: sleeps, then adds amount. */
static int fn_bump(relay_ctx_t *ctx)
{
    relay_actor_t a;
    int64_t amount, ms;
    if (test_ctx_arg_fixed(ctx, 0, &a, sizeof a) ||
        test_ctx_arg_fixed(ctx, 1, &amount, sizeof amount) ||
        test_ctx_arg_fixed(ctx, 2, &ms, sizeof ms))
        return 1;
    if (ms) test_sleep((double)ms / 1000.0);
    int64_t t = task_add(a, amount);
    return t < 0 ? (int)t : 0;
}

static relay_arg_t bump_args[3];
static int64_t bump_amount, bump_ms;

static const relay_arg_t *bump_of(relay_actor_t *a, int64_t amount, int64_t ms)
{
    bump_amount = amount;
    bump_ms = ms;
    bump_args[0] = relay_arg_value(a, sizeof *a);
    bump_args[1] = relay_arg_value(&bump_amount, sizeof bump_amount);
    bump_args[2] = relay_arg_value(&bump_ms, sizeof bump_ms);
    return bump_args;
}

static relay_task_opts_t no_returns(void)
{
    relay_task_opts_t o;
    memset(&o, 0, sizeof o);
    o.field_mask = RELAY_TASK_OPT_NUM_RETURNS;
    o.num_returns = 0;
    return o;
}

/* (counter, k) -> k, after submitting k bumps with no returns. */
static int fn_spawn_bumps(relay_ctx_t *ctx)
{
    relay_actor_t a;
    int64_t k;
    if (test_ctx_arg_fixed(ctx, 0, &a, sizeof a) || test_ctx_arg_fixed(ctx, 1, &k, sizeof k))
        return 1;
    relay_task_opts_t o = no_returns();
    for (int64_t i = 0; i < k; i++) {
        int64_t one = 1, ms = 0;
        relay_arg_t args[3] = {relay_arg_value(&a, sizeof a), relay_arg_value(&one, sizeof one),
                               relay_arg_value(&ms, sizeof ms)};
        TASK_OK(ctx, relay_submit("bump", args, 3, &o, NULL));
    }
    return relay_ctx_return(ctx, 0, &k, sizeof k);
}

/* (counter) -> nothing; adds 1 and fails until the counter reaches 3. */
static int fn_flaky_bump(relay_ctx_t *ctx)
{
    relay_actor_t a;
    if (test_ctx_arg_fixed(ctx, 0, &a, sizeof a)) return 1;
    int64_t t = task_add(a, 1);
    if (t < 0) return (int)t;
    if (t < 3) relay_ctx_fail(ctx, "attempt %lld fails", (long long)t);
    return 0;
}

/* (counter, value from a ref argument) -> nothing: adds the value. */
static int fn_add_arg(relay_ctx_t *ctx)
{
    relay_actor_t a;
    int64_t v;
    if (test_ctx_arg_fixed(ctx, 0, &a, sizeof a) || test_ctx_arg_fixed(ctx, 1, &v, sizeof v))
        return 1;
    int64_t t = task_add(a, v);
    return t < 0 ? (int)t : 0;
}

/* (ms) -> ms after sleeping ms. */
static int fn_sleep(relay_ctx_t *ctx)
{
    return test_fn_sleep_ms(ctx);
}

static int fn_needs_slot(relay_ctx_t *ctx)
{
    int64_t one = 1;
    return relay_ctx_return(ctx, 0, &one, sizeof one);
}

/* (counter) -> nothing. Holds rank 1's only slot and waits for a task that
 * needs it: the deadlock check fails that task, and this one adds the
 * negated status it got to the counter, then passes the failure on. */
static int fn_hold_slot(relay_ctx_t *ctx)
{
    relay_actor_t a;
    if (test_ctx_arg_fixed(ctx, 0, &a, sizeof a)) return 1;
    relay_resource_t slot = {"slot", 1};
    relay_task_opts_t o;
    memset(&o, 0, sizeof o);
    o.field_mask = RELAY_TASK_OPT_RESOURCES;
    o.resources = &slot;
    o.num_resources = 1;
    relay_ref_t r;
    TASK_OK(ctx, relay_submit("needs_slot", NULL, 0, &o, &r));
    relay_object_t obj = NULL;
    int rc = relay_get(r, RELAY_FOREVER, &obj);
    if (obj) relay_object_free(obj);
    relay_release(r);
    int64_t t = task_add(a, -rc);
    if (t < 0) return (int)t;
    return rc;
}

static int fn_fail_quietly(relay_ctx_t *ctx)
{
    relay_ctx_fail(ctx, "kaboom %d", 7);
    return 1;
}

/* ---- remote functions: unset returns ------------------------------------- */

/* Sets return 1 only (of the num_returns it was asked for). */
static int fn_set_one(relay_ctx_t *ctx)
{
    int64_t v = 41;
    return relay_ctx_return(ctx, 1, &v, sizeof v);
}

/* Sets every return to an empty object, on purpose. */
static int fn_set_empty(relay_ctx_t *ctx)
{
    for (size_t i = 0; i < relay_ctx_num_returns(ctx); i++)
        if (relay_ctx_return(ctx, i, NULL, 0)) return 1;
    return 0;
}

/* ---- remote functions: chains of causes ---------------------------------- */

static int fn_bar(relay_ctx_t *ctx)
{
    relay_ctx_fail(ctx, "division by zero");
    return 1;
}

enum { VIA_GET, VIA_GET_MANY, VIA_GET_VALUE, VIA_FAIL, VIA_OTHER };

/* (ref, how) -> the int64 the ref names, fetched the way `how` says. A
 * failed fetch is passed on: its status returned (VIA_FAIL: relay_ctx_fail
 * with a reason of its own; VIA_OTHER: a status of its own, -1). */
static int fn_foo(relay_ctx_t *ctx)
{
    relay_ref_t r;
    int64_t how, v = 0;
    if (test_ctx_arg_fixed(ctx, 0, &r, sizeof r) || test_ctx_arg_fixed(ctx, 1, &how, sizeof how))
        return 1;
    int rc;
    relay_object_t obj = NULL;
    if (how == VIA_GET_MANY) {
        relay_ref_t two[2] = {r, r};
        relay_object_t objs[2] = {NULL, NULL};
        rc = relay_get_many(two, 2, RELAY_FOREVER, objs);
        obj = objs[0];
        if (objs[1]) relay_object_free(objs[1]);
    } else if (how == VIA_GET_VALUE) {
        rc = relay_get_value(r, &v, sizeof v, RELAY_FOREVER);
    } else {
        rc = relay_get(r, RELAY_FOREVER, &obj);
    }
    if (obj) {
        if (rc == RELAY_OK) memcpy(&v, relay_object_data(obj), sizeof v);
        relay_object_free(obj);
    }
    if (rc != RELAY_OK && how == VIA_FAIL) {
        relay_ctx_fail(ctx, "could not divide");
        return 1;
    }
    if (rc != RELAY_OK && how == VIA_OTHER) return -1;
    if (rc != RELAY_OK) return rc;
    return relay_ctx_return(ctx, 0, &v, sizeof v);
}

#define DEEP_NAME_PAD 110

static void deep_name(char *buf, size_t n, int64_t level)
{
    CHECK(n > DEEP_NAME_PAD + 8 && level >= 0 && level < 100);
    snprintf(buf, n, "deep%02d_", (int)level);
    memset(buf + 7, 'x', DEEP_NAME_PAD);
    buf[7 + DEEP_NAME_PAD] = '\0';
}

/* (n) -> never: deep(0) fails with the root cause; deep(n) submits
 * deep(n - 1) (named by deep_name, long names that make the chain long),
 * gets its value and passes the failure on. */
static int fn_deep(relay_ctx_t *ctx)
{
    int64_t n;
    if (test_ctx_arg_fixed(ctx, 0, &n, sizeof n)) return 1;
    if (n == 0) {
        relay_ctx_fail(ctx, "root cause 42");
        return 1;
    }
    int64_t m = n - 1;
    char name[RELAY_MAX_NAME];
    deep_name(name, sizeof name, m);
    relay_task_opts_t o;
    memset(&o, 0, sizeof o);
    o.field_mask = RELAY_TASK_OPT_NAME;
    o.name = name;
    relay_arg_t arg = relay_arg_value(&m, sizeof m);
    relay_ref_t r;
    TASK_OK(ctx, relay_submit("deep", &arg, 1, &o, &r));
    int64_t v = 0;
    int rc = relay_get_value(r, &v, sizeof v, RELAY_FOREVER);
    relay_release(r);
    if (rc) return rc;
    return relay_ctx_return(ctx, 0, &v, sizeof v);
}

/* ---- driver helpers ------------------------------------------------------ */

/* Waits until rank 0 counts no pending task; fails after a long while. */
static void wait_idle(void)
{
    const size_t off = offsetof(relay_stats_t, tasks_pending);
    const uint64_t zero = 0;
    relay_stats_t s =
        test__poll_stats(&off, &zero, 1, TEST_LONG_S, "tasks still pending", __FILE__, __LINE__);
    CHECK_EQ(s.tasks_pending, 0);
}

/* Rank 0's stderr, caught in a file while a case runs. */
typedef struct caught {
    int saved;
    char path[256];
} caught_t;

static caught_t catch_stderr(void)
{
    caught_t c;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(c.path, sizeof c.path, "%s/relay-ray-returns-XXXXXX", dir);
    int fd = mkstemp(c.path);
    CHECK(fd >= 0);
    fflush(stderr);
    c.saved = dup(2);
    CHECK(c.saved >= 0);
    CHECK(dup2(fd, 2) == 2);
    close(fd);
    return c;
}

/* Stops catching; the text caught (malloc'ed), echoed to the real stderr. */
static char *release_stderr(caught_t *c)
{
    fflush(stderr);
    CHECK(dup2(c->saved, 2) == 2);
    close(c->saved);
    FILE *f = fopen(c->path, "r");
    CHECK(f != NULL);
    char *text = calloc(1, 1 << 20);
    CHECK(text != NULL);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(c->path);
    fputs(text, stderr);
    return text;
}

/* The error of the failed object ref names, checked to be TASK_FAILED (or
 * want), copied to buf; relay_last_error must say the same. */
static void get_error(relay_ref_t ref, int want, char *buf, size_t n)
{
    relay_object_t obj = NULL;
    CHECK_STATUS(relay_get(ref, TEST_LONG_S, &obj), want);
    CHECK(obj != NULL);
    CHECK_EQ(relay_object_status(obj), want);
    const char *e = relay_object_error(obj);
    CHECK(e != NULL);
    CHECK_STREQ(relay_last_error(), e);
    snprintf(buf, n, "%s", e);
    CHECK_OK(relay_object_free(obj));
}

/* ---- cases: no returns ---------------------------------------------------- */

static void case_zero_returns(void)
{
    relay_actor_t a = new_counter();
    relay_task_opts_t o = no_returns();
    /* returns_p NULL, and a returns_p that stays untouched. */
    CHECK_OK(relay_submit("bump", bump_of(&a, 1, 0), 3, &o, NULL));
    relay_ref_t untouched = {12345};
    CHECK_OK(relay_submit("bump", bump_of(&a, 10, 0), 3, &o, &untouched));
    CHECK_EQ(untouched.id, 12345);
    /* A method with no returns, then one with: in the caller's order. */
    int64_t hundred = 100;
    relay_arg_t h = relay_arg_value(&hundred, sizeof hundred);
    CHECK_OK(relay_actor_call(a, "add", &h, 1, &o, NULL));
    wait_idle();
    CHECK_EQ(counter_value(a), 111);
    /* A slow one counts as pending until it has run. */
    CHECK_OK(relay_submit("bump", bump_of(&a, 1000, 300), 3, &o, NULL));
    CHECK_OK(relay_sync(TEST_LONG_S));
    CHECK_GE(test_stats().tasks_pending, 1);
    wait_idle();
    CHECK_EQ(counter_value(a), 1111);
    /* Nested: a task submits 5 tasks with no returns. */
    int64_t five = 5;
    relay_arg_t sa[2] = {relay_arg_value(&a, sizeof a), relay_arg_value(&five, sizeof five)};
    relay_ref_t r = test_submit("spawn_bumps", sa, 2);
    CHECK_EQ(test_get_i64(r), 5);
    CHECK_OK(relay_release(r));
    wait_idle();
    CHECK_EQ(counter_value(a), 1116);
    CHECK_OK(relay_actor_kill(a));
    printf("zero returns: side effects, pending, nested: ok\n");
}

static void case_zero_retries(void)
{
    relay_actor_t a = new_counter();
    relay_task_opts_t o = no_returns();
    o.field_mask |= RELAY_TASK_OPT_MAX_RETRIES;
    o.max_retries = 2;
    relay_arg_t arg = relay_arg_value(&a, sizeof a);
    CHECK_OK(relay_submit("flaky_bump", &arg, 1, &o, NULL));
    wait_idle();
    CHECK_EQ(counter_value(a), 3); /* two failures, then success */
    CHECK_OK(relay_actor_kill(a));
    printf("zero returns: retried: ok\n");
}

static void case_zero_ahead(void)
{
    relay_actor_t a = new_counter();
    uint64_t ahead0 = test_stats().tasks_placed_ahead;
    relay_resource_t res;
    relay_task_opts_t p = on_rank(1, &res);
    int64_t ms = 300;
    relay_arg_t sarg = relay_arg_value(&ms, sizeof ms);
    relay_ref_t slow;
    CHECK_OK(relay_submit("sleep", &sarg, 1, &p, &slow));
    /* A consumer with no returns, submitted before its input is made. */
    relay_task_opts_t o = no_returns();
    relay_arg_t args[2] = {relay_arg_value(&a, sizeof a), relay_arg_ref(slow)};
    CHECK_OK(relay_submit("add_arg", args, 2, &o, NULL));
    CHECK_OK(relay_release(slow));
    wait_idle();
    CHECK_EQ(counter_value(a), 300);
    printf("zero returns: placed ahead %llu\n",
           (unsigned long long)(test_stats().tasks_placed_ahead - ahead0));
    CHECK_GT(test_stats().tasks_placed_ahead, ahead0);
    CHECK_OK(relay_actor_kill(a));
    printf("zero returns: dataflow: ok\n");
}

static void case_zero_deadlock_and_logs(void)
{
    relay_actor_t a = new_counter();
    relay_task_opts_t o = no_returns();
    caught_t c = catch_stderr();
    /* Blocked holding the slot a task it waits for needs. */
    relay_resource_t slot = {"slot", 1};
    relay_task_opts_t h = no_returns();
    h.field_mask |= RELAY_TASK_OPT_RESOURCES;
    h.resources = &slot;
    h.num_resources = 1;
    relay_arg_t arg = relay_arg_value(&a, sizeof a);
    CHECK_OK(relay_submit("hold_slot", &arg, 1, &h, NULL));
    /* A failure nobody can get. */
    relay_resource_t res;
    relay_task_opts_t q = on_rank(2, &res);
    q.field_mask |= RELAY_TASK_OPT_NUM_RETURNS | RELAY_TASK_OPT_NAME;
    q.num_returns = 0;
    q.name = "quiet_name";
    CHECK_OK(relay_submit("fail_quietly", NULL, 0, &q, NULL));
    /* A method's, too. */
    CHECK_OK(relay_actor_call(a, "fail", NULL, 0, &o, NULL));
    wait_idle();
    char *log = release_stderr(&c);
    CHECK_EQ(counter_value(a), -RELAY_ERR_DEADLOCK);
    char want[300];
    snprintf(want, sizeof want,
             "error: task 'quiet_name' (function 'fail_quietly', no returns) failed: task "
             "'quiet_name' (function 'fail_quietly') failed on rank %d: kaboom 7",
             rank_of(2));
    CHECK_CONTAINS(log, want);
    CHECK_CONTAINS(log, "error: task 'fail' (function 'fail', no returns) failed: task 'fail' "
                        "(function 'fail') failed on rank ");
    CHECK_CONTAINS(log, "method kaput");
    CHECK_CONTAINS(log, "error: task 'hold_slot' (function 'hold_slot', no returns) failed: "
                        "task 'hold_slot' (function 'hold_slot') failed on rank 1: "
                        "RELAY_ERR_DEADLOCK from relay_get <- ");
    free(log);
    CHECK_OK(relay_actor_kill(a));
    printf("zero returns: deadlock, failures logged: ok\n");
}

static void case_zero_bad_opts(void)
{
    relay_task_opts_t o = no_returns();
    o.num_returns = -1;
    relay_ref_t r;
    CHECK_STATUS(relay_submit("bump", NULL, 0, &o, &r), RELAY_ERR_OUT_OF_RANGE);
    o.num_returns = 1;
    CHECK_STATUS(relay_submit("sleep", NULL, 0, &o, NULL), RELAY_ERR_INVALID_ARG);
}

/* ---- cases: unset returns ------------------------------------------------- */

static void case_unset_returns(void)
{
    char msg[RELAY_MAX_ERROR];
    relay_resource_t res;
    relay_task_opts_t o = on_rank(1, &res);
    o.field_mask |= RELAY_TASK_OPT_NUM_RETURNS;
    o.num_returns = 3;
    relay_ref_t three[3];
    CHECK_OK(relay_submit("set_one", NULL, 0, &o, three));
    char want[300];
    snprintf(want, sizeof want,
             "task 'set_one' (function 'set_one') failed on rank 1: it did not set returns 0, 2 "
             "of 3");
    for (int i = 0; i < 3; i++) {
        get_error(three[i], RELAY_ERR_TASK_FAILED, msg, sizeof msg);
        CHECK_STREQ(msg, want);
    }
    CHECK_OK(relay_release_many(three, 3));
    /* One missing, named. */
    o.num_returns = 2;
    o.field_mask |= RELAY_TASK_OPT_NAME;
    o.name = "named_one";
    relay_ref_t two[2];
    CHECK_OK(relay_submit("set_one", NULL, 0, &o, two));
    get_error(two[1], RELAY_ERR_TASK_FAILED, msg, sizeof msg);
    CHECK_STREQ(msg, "task 'named_one' (function 'set_one') failed on rank 1: it did not set "
                     "return 0 of 2");
    CHECK_OK(relay_release_many(two, 2));
    /* Empty on purpose is an empty object. */
    o.name = "set_empty";
    CHECK_OK(relay_submit("set_empty", NULL, 0, &o, two));
    for (int i = 0; i < 2; i++) {
        relay_object_t obj;
        CHECK_OK(relay_get(two[i], TEST_LONG_S, &obj));
        CHECK_EQ(relay_object_size(obj), 0);
        CHECK_OK(relay_object_free(obj));
    }
    CHECK_OK(relay_release_many(two, 2));
    /* A method that sets none of its two returns. */
    relay_actor_t a = new_counter();
    relay_task_opts_t m;
    memset(&m, 0, sizeof m);
    m.field_mask = RELAY_TASK_OPT_NUM_RETURNS;
    m.num_returns = 2;
    CHECK_OK(relay_actor_call(a, "forget", NULL, 0, &m, two));
    for (int i = 0; i < 2; i++) {
        get_error(two[i], RELAY_ERR_TASK_FAILED, msg, sizeof msg);
        CHECK_CONTAINS(msg, "task 'forget' (function 'forget') failed on rank ");
        CHECK_CONTAINS(msg, ": it did not set returns 0, 1 of 2");
    }
    CHECK_OK(relay_release_many(two, 2));
    /* The actor lives on. */
    CHECK_EQ(counter_value(a), 0);
    CHECK_OK(relay_actor_kill(a));
    printf("unset returns: ok\n");
}

/* ---- cases: chains of causes ---------------------------------------------- */

static relay_ref_t submit_foo(relay_ref_t in, int64_t how, int rank, const char *name)
{
    relay_resource_t res;
    relay_task_opts_t o = on_rank(rank, &res);
    if (name) {
        o.field_mask |= RELAY_TASK_OPT_NAME;
        o.name = name;
    }
    relay_arg_t args[2] = {relay_arg_value(&in, sizeof in), relay_arg_value(&how, sizeof how)};
    relay_ref_t r;
    CHECK_OK(relay_submit("foo", args, 2, &o, &r));
    return r;
}

static void case_chains(void)
{
    char msg[RELAY_MAX_ERROR], want[2048], bar_msg[300];
    relay_resource_t res;
    relay_task_opts_t o = on_rank(2, &res);
    relay_ref_t bar;
    CHECK_OK(relay_submit("bar", NULL, 0, &o, &bar));
    snprintf(bar_msg, sizeof bar_msg,
             "task 'bar' (function 'bar') failed on rank %d: division by zero", rank_of(2));
    /* Two levels, each get call. */
    static const char *const calls[] = {"relay_get", "relay_get_many", "relay_get_value"};
    for (int how = VIA_GET; how <= VIA_GET_VALUE; how++) {
        relay_ref_t foo = submit_foo(bar, how, 1, NULL);
        get_error(foo, RELAY_ERR_TASK_FAILED, msg, sizeof msg);
        snprintf(want, sizeof want,
                 "task 'foo' (function 'foo') failed on rank 1: RELAY_ERR_TASK_FAILED from %s <- "
                 "%s",
                 calls[how], bar_msg);
        CHECK_STREQ(msg, want);
        CHECK_OK(relay_release(foo));
    }
    /* relay_ctx_fail after a failed get: the cause follows its reason. */
    relay_ref_t foo = submit_foo(bar, VIA_FAIL, 1, NULL);
    get_error(foo, RELAY_ERR_TASK_FAILED, msg, sizeof msg);
    snprintf(want, sizeof want,
             "task 'foo' (function 'foo') failed on rank 1: could not divide <- "
             "RELAY_ERR_TASK_FAILED from relay_get <- %s",
             bar_msg);
    CHECK_STREQ(msg, want);
    CHECK_OK(relay_release(foo));
    /* A status of the task's own says so, without a chain. */
    foo = submit_foo(bar, VIA_OTHER, 1, NULL);
    get_error(foo, RELAY_ERR_TASK_FAILED, msg, sizeof msg);
    CHECK_STREQ(msg, "task 'foo' (function 'foo') failed on rank 1: function returned -1");
    CHECK_OK(relay_release(foo));
    /* Three levels, across ranks: top (rank 2) <- mid (rank 1) <- bar. */
    relay_ref_t mid = submit_foo(bar, VIA_GET_VALUE, 1, "mid");
    relay_ref_t top = submit_foo(mid, VIA_GET, 2, "top");
    get_error(top, RELAY_ERR_TASK_FAILED, msg, sizeof msg);
    snprintf(want, sizeof want,
             "task 'top' (function 'foo') failed on rank %d: RELAY_ERR_TASK_FAILED from relay_get "
             "<- task 'mid' (function 'foo') failed on rank 1: RELAY_ERR_TASK_FAILED from "
             "relay_get_value <- %s",
             rank_of(2), bar_msg);
    CHECK_STREQ(msg, want);
    /* A task not run because its argument failed carries the chain too. */
    relay_arg_t arg = relay_arg_ref(top);
    relay_ref_t dep;
    CHECK_OK(relay_submit("sleep", &arg, 1, NULL, &dep));
    get_error(dep, RELAY_ERR_TASK_FAILED, msg, sizeof msg);
    CHECK_CONTAINS(msg, "task 'sleep' was not run: its argument ");
    CHECK_CONTAINS(msg, want);
    CHECK_OK(relay_release_many((relay_ref_t[]){bar, mid, top, dep}, 4));
    printf("chains: ok\n");
}

static void case_deep_chain(void)
{
    enum { LEVELS = 10 };
    char msg[RELAY_MAX_ERROR], name[RELAY_MAX_NAME];
    int64_t n = LEVELS;
    deep_name(name, sizeof name, n);
    relay_task_opts_t o;
    memset(&o, 0, sizeof o);
    o.field_mask = RELAY_TASK_OPT_NAME;
    o.name = name;
    relay_arg_t arg = relay_arg_value(&n, sizeof n);
    relay_ref_t r;
    CHECK_OK(relay_submit("deep", &arg, 1, &o, &r));
    get_error(r, RELAY_ERR_TASK_FAILED, msg, sizeof msg);
    printf("deep chain (%zu bytes): %s\n", strlen(msg), msg);
    CHECK_LT(strlen(msg), RELAY_MAX_ERROR);
    /* The newest failure first, the root cause last, the middle cut. */
    char head[RELAY_MAX_NAME + 64];
    snprintf(head, sizeof head, "task '%s' (function 'deep') failed on rank ", name);
    CHECK(strncmp(msg, head, strlen(head)) == 0);
    const char *root = ": root cause 42";
    CHECK(strlen(msg) > strlen(root));
    CHECK_STREQ(msg + strlen(msg) - strlen(root), root);
    deep_name(name, sizeof name, 0);
    CHECK_CONTAINS(msg, name);
    CHECK_CONTAINS(msg, " <- [...] <- ");
    int kept = 0;
    for (int64_t k = 0; k <= LEVELS; k++) {
        deep_name(name, sizeof name, k);
        kept += strstr(msg, name) != NULL;
    }
    printf("deep chain: %d of %d levels kept\n", kept, LEVELS + 1);
    CHECK_LT(kept, LEVELS + 1);
    CHECK_GE(kept, 3);
    CHECK_OK(relay_release(r));
    printf("deep chain: ok\n");
}

/* ---- main ----------------------------------------------------------------- */

static relay_config_t layout(void)
{
    static relay_resource_t res[2];
    relay_config_t c;
    memset(&c, 0, sizeof c);
    c.field_mask = RELAY_CONFIG_NUM_CPUS | RELAY_CONFIG_NUM_GPUS | RELAY_CONFIG_RESOURCES;
    c.num_cpus = 2;
    size_t n = 0;
    res[n++] = (relay_resource_t){rank_res[world_rank < 3 ? world_rank : 2], 1000};
    if (world_rank == 1) res[n++] = (relay_resource_t){"slot", 1};
    c.resources = res;
    c.num_resources = world_rank > 0 && world_rank < 3 ? n : 0;
    return c;
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (world_size < 2 || world_size > 3 || test_driver_hosts_workers(world_size)) {
        fprintf(stderr, "test_ray_returns needs 2 or 3 ranks, rank 0 without workers\n");
        MPI_Finalize();
        return TEST_SKIP;
    }
    relay_actor_class_t counter = {counter_init, 0, counter_fini, counter_methods,
                                   sizeof counter_methods / sizeof counter_methods[0]};
    CHECK_OK(relay_register_actor("Counter", &counter));
    CHECK_OK(relay_register("bump", fn_bump));
    CHECK_OK(relay_register("spawn_bumps", fn_spawn_bumps));
    CHECK_OK(relay_register("flaky_bump", fn_flaky_bump));
    CHECK_OK(relay_register("add_arg", fn_add_arg));
    CHECK_OK(relay_register("sleep", fn_sleep));
    CHECK_OK(relay_register("needs_slot", fn_needs_slot));
    CHECK_OK(relay_register("hold_slot", fn_hold_slot));
    CHECK_OK(relay_register("fail_quietly", fn_fail_quietly));
    CHECK_OK(relay_register("set_one", fn_set_one));
    CHECK_OK(relay_register("set_empty", fn_set_empty));
    CHECK_OK(relay_register("bar", fn_bar));
    CHECK_OK(relay_register("foo", fn_foo));
    CHECK_OK(relay_register("deep", fn_deep));
    CHECK_OK(relay_register("big_ret", fn_big_ret));
    relay_config_t cfg = layout();
    CHECK_OK(relay_init(&argc, &argv, &cfg));
    if (world_rank == 0) {
        static const struct {
            const char *name;
            void (*run)(void);
        } cases[] = {{"zero_bad_opts", case_zero_bad_opts},
                     {"zero_returns", case_zero_returns},
                     {"zero_retries", case_zero_retries},
                     {"zero_ahead", case_zero_ahead},
                     {"zero_deadlock_and_logs", case_zero_deadlock_and_logs},
                     {"unset_returns", case_unset_returns},
                     {"chains", case_chains},
                     {"deep_chain", case_deep_chain},
                     {"kept_lineage", case_kept_lineage}};
        /* Every case, or only the one named (to see each fail alone). */
        const char *only = argc > 1 ? argv[1] : NULL;
        int ran = 0;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            if (only && strcmp(only, cases[i].name) != 0) continue;
            cases[i].run();
            ran++;
        }
        CHECK_GT(ran, 0); /* an unknown case name */
        /* Finalize with a task with no returns still running. */
        relay_actor_t a = new_counter();
        relay_task_opts_t o = no_returns();
        CHECK_OK(relay_submit("bump", bump_of(&a, 1, 200), 3, &o, NULL));
        wait_idle();
        relay_stats_t s = test_stats();
        CHECK_EQ(s.held_refs, 0);
        CHECK_EQ(s.live_views, 0);
        CHECK_OK(relay_submit("bump", bump_of(&a, 1, 200), 3, &o, NULL));
    }
    test_barrier();
    CHECK_OK(relay_finalize());
    MPI_Finalize();
    if (world_rank == 0) printf("ray_returns: PASS\n");
    return 0;
}
