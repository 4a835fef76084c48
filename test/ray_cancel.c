/* relay_cancel, as Ray's ray.cancel: a queued task is removed and its
 * return fails with RELAY_ERR_CANCELLED; a running one sees
 * relay_ctx_cancelled and its blocked get returns CANCELLED; recursive
 * reaches the tasks it submitted, non-recursive leaves them; a finished
 * task is a no-op; an actor call is removed if queued and left alone if
 * running; relay_actor_kill sets the flag of a running method; consumers
 * of a cancelled task fail naming the cancellation; an actor call
 * cancelled while it waits for its argument does not hold back its
 * caller's later calls. Nothing is left behind (directory, pending tasks).
 * Also: a cancelled blocked get returns even while its CPUs are taken;
 * recursive reaches tasks submitted after the cancel and the children of
 * finished children; a cancelled task with no returns is not logged as an
 * error; a cancelled task's get outputs are NULL and its wait's flags zero;
 * recursive reaches the leaf of a deep chain of tasks that each submitted
 * the next and finished.
 * Optional argument: one scenario's name (default: all of them).
 *
 * Every worker rank offers 1 CPU. A "board" actor (no CPU) is where tasks
 * say that they run and what they saw, since their own returns fail. */
#include "testutil.h"

static relay_actor_t board;

enum {
    S_SPIN = 0,      /* started, saw the flag */
    S_BLOCK = 2,     /* started, then get / get_value / wait statuses */
    S_SPAWN = 6,     /* the child's id (recursive) */
    S_SPAWN_NR = 7,  /* the child's id (not recursive) */
    S_FILL = 8,      /* 8..15: the tasks filling the CPUs, each started + saw */
    S_CALL = 24,     /* the running actor call started */
    S_KILL = 26,     /* the method of a killed actor started, saw */
    S_CHAIN = 28,    /* the head of a chain started */
    S_ACHAIN = 30,   /* the head of a chain placed ahead started */
    S_UNBL = 32,     /* lone_blocker started, then its get's status */
    S_UNBL_ID = 34,  /* lone_blocker's child's id */
    S_UNBL_NAP = 36, /* lone_blocker's child started, saw */
    S_HOG = 38,      /* 38..45: naps taking the CPUs a blocked task gave back */
    S_LATE = 46,     /* latecomer started, submitted after the cancel */
    S_LATE_NAP = 48, /* latecomer's late child started, saw */
    S_GP = 50,       /* grandparent's child finished */
    S_G = 52,        /* the grandchild started, saw */
    S_ZERO = 54,     /* a child with no returns started, saw */
    S_OUT = 56,      /* outputs started, then what its calls left */
    S_DEEP = 58,     /* the leaf of a deep chain started, saw */
    NSLOTS = 64
};

/* ---- the board ------------------------------------------------------------ */

typedef struct slots {
    int64_t v[NSLOTS];
} slots_t;

static int board_init(relay_ctx_t *ctx, void **state_p)
{
    (void)ctx;
    *state_p = calloc(1, sizeof(slots_t));
    return *state_p ? 0 : 1;
}

static void board_fini(void *state)
{
    free(state);
}

/* (i, v): slot i = v. */
static int m_set(relay_ctx_t *ctx, void *state)
{
    int64_t i = test_arg_i64(ctx, 0);
    if (i < 0 || i >= NSLOTS) return 1;
    ((slots_t *)state)->v[i] = test_arg_i64(ctx, 1);
    return test_ret_i64(ctx, 0);
}

static int m_get(relay_ctx_t *ctx, void *state)
{
    int64_t i = test_arg_i64(ctx, 0);
    if (i < 0 || i >= NSLOTS) return 1;
    return test_ret_i64(ctx, ((slots_t *)state)->v[i]);
}

/* Slot i of b = v; waited for unless wait is 0 (a cancelled task's gets
 * fail: its last word goes without an answer). */
static int board_set(relay_actor_t b, int64_t i, int64_t v, int wait)
{
    relay_arg_t a[2] = {relay_arg_value(&i, sizeof i), relay_arg_value(&v, sizeof v)};
    relay_ref_t r;
    int rc = relay_actor_call(b, "set", a, 2, NULL, &r);
    if (rc) return rc;
    int64_t out;
    if (wait) rc = relay_get_value(r, &out, sizeof out, TEST_LONG_S);
    relay_release(r);
    return rc;
}

static int64_t board_get(int64_t i)
{
    relay_arg_t a = relay_arg_value(&i, sizeof i);
    relay_ref_t r;
    CHECK_OK(relay_actor_call(board, "get", &a, 1, NULL, &r));
    int64_t v = test_get_i64(r);
    CHECK_OK(relay_release(r));
    return v;
}

/* Waits until slot i is nonzero; returns it. */
static int64_t board_wait(int64_t i)
{
    int64_t v = 0;
    for (double end = test_now() + TEST_LONG_S; !v && test_now() < end; test_sleep(0.005))
        v = board_get(i);
    CHECK_NE(v, 0);
    return v;
}

/* ---- tasks ------------------------------------------------------------------ */

/* (ms [, board, slot]): tells slot it started, then waits ms or until
 * cancelled; a cancelled one tells slot + 1. Returns ms, or -1 when it
 * saw the flag. */
static int nap(relay_ctx_t *ctx)
{
    int64_t ms = test_arg_i64(ctx, 0), slot = -1;
    relay_actor_t b = RELAY_ACTOR_NULL;
    if (relay_ctx_num_args(ctx) == 3) {
        TASK_OK(ctx, test_ctx_arg_fixed(ctx, 1, &b, sizeof b));
        slot = test_arg_i64(ctx, 2);
        TASK_OK(ctx, board_set(b, slot, 1, 1));
    }
    int saw = 0;
    for (double end = test_now() + (double)ms / 1000; !saw && test_now() < end; test_sleep(0.001))
        saw = relay_ctx_cancelled(ctx);
    if (saw && slot >= 0) TASK_OK(ctx, board_set(b, slot + 1, 1, 0));
    return test_ret_i64(ctx, saw ? -1 : ms);
}

static int m_nap(relay_ctx_t *ctx, void *state)
{
    (void)state;
    return nap(ctx);
}

static relay_ref_t submit_nap(int64_t ms, int64_t slot)
{
    relay_arg_t a[3] = {relay_arg_value(&ms, sizeof ms), relay_arg_value(&board, sizeof board),
                        relay_arg_value(&slot, sizeof slot)};
    return test_submit("nap", a, slot >= 0 ? 3 : 1);
}

/* The board, passed as argument i (globals are per process). */
static relay_actor_t arg_board(relay_ctx_t *ctx, size_t i)
{
    relay_actor_t b = RELAY_ACTOR_NULL;
    test_ctx_arg_fixed(ctx, i, &b, sizeof b);
    return b;
}

/* (board): tells S_BLOCK it started, then blocks in a get of a child that
 * naps 30 s; once cancelled, a get, a get_value and a wait (of an object
 * that is ready) are tried too. Their statuses go to the board. */
static int blocker(relay_ctx_t *ctx)
{
    relay_actor_t board = arg_board(ctx, 0);
    TASK_OK(ctx, board_set(board, S_BLOCK, 1, 1));
    int64_t ms = 30000, x = 5, out;
    relay_arg_t a = relay_arg_value(&ms, sizeof ms);
    relay_ref_t child, p;
    TASK_OK(ctx, relay_submit("nap", &a, 1, NULL, &child));
    TASK_OK(ctx, relay_put(&x, sizeof x, &p));
    relay_object_t obj = NULL;
    int rc1 = relay_get(child, TEST_LONG_S, &obj);
    if (obj) relay_object_free(obj);
    int rc2 = relay_get_value(p, &out, sizeof out, TEST_LONG_S);
    int rc3 = relay_wait(&p, 1, 1, TEST_LONG_S, NULL, NULL);
    relay_release(child);
    relay_release(p);
    board_set(board, S_BLOCK + 2, rc2, 0);
    board_set(board, S_BLOCK + 3, rc3, 0);
    board_set(board, S_BLOCK + 1, rc1, 0); /* last: the driver waits for it */
    return test_ret_i64(ctx, 7);
}

/* (child_ms, slot, board): submits nap(child_ms), puts its id in slot, and waits
 * to be cancelled (30 s at most). */
static int spawner(relay_ctx_t *ctx)
{
    int64_t ms = test_arg_i64(ctx, 0), slot = test_arg_i64(ctx, 1);
    relay_actor_t board = arg_board(ctx, 2);
    relay_arg_t a = relay_arg_value(&ms, sizeof ms);
    relay_ref_t child;
    TASK_OK(ctx, relay_submit("nap", &a, 1, NULL, &child));
    TASK_OK(ctx, board_set(board, slot, (int64_t)child.id, 1));
    for (double end = test_now() + 30; !relay_ctx_cancelled(ctx) && test_now() < end;
         test_sleep(0.001)) {
    }
    relay_release(child);
    return test_ret_i64(ctx, 1);
}

/* Spins until ctx is cancelled (30 s at most). */
static void until_cancelled(relay_ctx_t *ctx)
{
    for (double end = test_now() + 30; !relay_ctx_cancelled(ctx) && test_now() < end;
         test_sleep(0.001)) {
    }
}

/* Submits nap(30000, b, slot), with returns or none; releases it. */
static int fire_nap(relay_actor_t b, int64_t slot, int nret, uint64_t *id_p)
{
    int64_t ms = 30000;
    relay_arg_t a[3] = {relay_arg_value(&ms, sizeof ms), relay_arg_value(&b, sizeof b),
                        relay_arg_value(&slot, sizeof slot)};
    relay_task_opts_t o = {.field_mask = RELAY_TASK_OPT_NUM_RETURNS, .num_returns = nret};
    relay_ref_t r = RELAY_REF_NULL;
    int rc = relay_submit("nap", a, 3, &o, nret ? &r : NULL);
    if (id_p) *id_p = r.id;
    if (rc == RELAY_OK && nret) relay_release(r);
    return rc;
}

/* (board): tells S_UNBL it started, submits nap(30 s) reporting at
 * S_UNBL_NAP (its id in S_UNBL_ID) and blocks in a get of it; the get's
 * status goes to S_UNBL + 1. */
static int lone_blocker(relay_ctx_t *ctx)
{
    relay_actor_t b = arg_board(ctx, 0);
    TASK_OK(ctx, board_set(b, S_UNBL, 1, 1));
    int64_t ms = 30000, slot = S_UNBL_NAP;
    relay_arg_t a[3] = {relay_arg_value(&ms, sizeof ms), relay_arg_value(&b, sizeof b),
                        relay_arg_value(&slot, sizeof slot)};
    relay_ref_t child;
    TASK_OK(ctx, relay_submit("nap", a, 3, NULL, &child));
    TASK_OK(ctx, board_set(b, S_UNBL_ID, (int64_t)child.id, 1));
    relay_object_t obj = NULL;
    int rc = relay_get(child, TEST_LONG_S, &obj);
    if (obj) relay_object_free(obj);
    relay_release(child);
    board_set(b, S_UNBL + 1, rc, 0);
    return test_ret_i64(ctx, 7);
}

/* (board): tells S_LATE it started; once cancelled, submits nap(30 s)
 * reporting at S_LATE_NAP and tells S_LATE + 1 (1: submitted). */
static int latecomer(relay_ctx_t *ctx)
{
    relay_actor_t b = arg_board(ctx, 0);
    TASK_OK(ctx, board_set(b, S_LATE, 1, 1));
    until_cancelled(ctx);
    int rc = fire_nap(b, S_LATE_NAP, 1, NULL);
    board_set(b, S_LATE + 1, rc == RELAY_OK ? 1 : 2, 0);
    return test_ret_i64(ctx, 1);
}

/* (board): submits nap(30 s) reporting at S_G, and ends. */
static int spawn_g(relay_ctx_t *ctx)
{
    TASK_OK(ctx, fire_nap(arg_board(ctx, 0), S_G, 1, NULL));
    return test_ret_i64(ctx, 1);
}

/* (board): runs spawn_g to its end, tells S_GP, waits to be cancelled. */
static int grandparent(relay_ctx_t *ctx)
{
    relay_actor_t b = arg_board(ctx, 0);
    relay_arg_t a = relay_arg_value(&b, sizeof b);
    relay_ref_t child;
    int64_t v = 0;
    TASK_OK(ctx, relay_submit("spawn_g", &a, 1, NULL, &child));
    TASK_OK(ctx, relay_get_value(child, &v, sizeof v, TEST_LONG_S));
    relay_release(child);
    TASK_OK(ctx, board_set(b, S_GP, 1, 1));
    until_cancelled(ctx);
    return test_ret_i64(ctx, 1);
}

/* (board): submits nap(30 s) with no returns reporting at S_ZERO, waits
 * to be cancelled. */
static int spawn0(relay_ctx_t *ctx)
{
    TASK_OK(ctx, fire_nap(arg_board(ctx, 0), S_ZERO, 0, NULL));
    until_cancelled(ctx);
    return test_ret_i64(ctx, 1);
}

/* (k, board): submits deep(k - 1, board) with no returns and ends; deep(0)
 * naps 30 s reporting at S_DEEP instead. */
static int deep(relay_ctx_t *ctx)
{
    int64_t k = test_arg_i64(ctx, 0) - 1;
    relay_actor_t b = arg_board(ctx, 1);
    if (k < 0) return fire_nap(b, S_DEEP, 0, NULL) != RELAY_OK;
    relay_arg_t a[2] = {relay_arg_value(&k, sizeof k), relay_arg_value(&b, sizeof b)};
    relay_task_opts_t o = {.field_mask = RELAY_TASK_OPT_NUM_RETURNS, .num_returns = 0};
    return relay_submit("deep", a, 2, &o, NULL) != RELAY_OK;
}

/* (k, board): submits deep(k, board), tells S_GP + 1 and waits to be
 * cancelled. */
static int deep_root(relay_ctx_t *ctx)
{
    int64_t k = test_arg_i64(ctx, 0);
    relay_actor_t b = arg_board(ctx, 1);
    relay_arg_t a[2] = {relay_arg_value(&k, sizeof k), relay_arg_value(&b, sizeof b)};
    relay_task_opts_t o = {.field_mask = RELAY_TASK_OPT_NUM_RETURNS, .num_returns = 0};
    TASK_OK(ctx, relay_submit("deep", a, 2, &o, NULL));
    until_cancelled(ctx);
    return test_ret_i64(ctx, 1);
}

/* (board): tells S_OUT it started; once cancelled, a get, a get_many and
 * a wait whose outputs hold garbage; S_OUT + 1: 1 if every status is
 * CANCELLED, every object NULL and the wait's outputs zero, else 2. */
static int outputs(relay_ctx_t *ctx)
{
    relay_actor_t b = arg_board(ctx, 0);
    int64_t x = 5;
    relay_ref_t p;
    TASK_OK(ctx, relay_put(&x, sizeof x, &p));
    TASK_OK(ctx, board_set(b, S_OUT, 1, 1));
    until_cancelled(ctx);
    relay_object_t junk = (relay_object_t)(uintptr_t)0x8, one = junk, many[2] = {junk, junk};
    relay_ref_t two[2] = {p, p};
    int flag = 7;
    size_t k = 99;
    int ok = relay_get(p, TEST_LONG_S, &one) == RELAY_ERR_CANCELLED && !one;
    ok &= relay_get_many(two, 2, TEST_LONG_S, many) == RELAY_ERR_CANCELLED && !many[0] && !many[1];
    ok &= relay_wait(&p, 1, 1, TEST_LONG_S, &flag, &k) == RELAY_ERR_CANCELLED && !flag && !k;
    relay_release(p);
    board_set(b, S_OUT + 1, ok ? 1 : 2, 0);
    return test_ret_i64(ctx, 1);
}

/* ---- checks ------------------------------------------------------------------ */

/* The ref's object is an error of status want whose message contains
 * what. */
static void check_fails(relay_ref_t r, int want, const char *what)
{
    relay_object_t obj = NULL;
    CHECK_STATUS(relay_get(r, TEST_LONG_S, &obj), want);
    CHECK(obj != NULL);
    CHECK_EQ(relay_object_status(obj), want);
    CHECK(relay_object_error(obj) != NULL);
    CHECK_CONTAINS(relay_object_error(obj), what);
    printf("  %s: %s\n", relay_status_name(want), relay_object_error(obj));
    CHECK_OK(relay_object_free(obj));
}

/* Fill every worker CPU with a nap of 30 s that has started; returns how
 * many (their refs in fill). */
static int fill_cpus(relay_ref_t *fill)
{
    int n = test_size() - 1;
    for (int i = 0; i < n; i++)
        fill[i] = submit_nap(30000, S_FILL + 2 * i);
    for (int i = 0; i < n; i++)
        board_wait(S_FILL + 2 * i);
    return n;
}

static void unfill_cpus(relay_ref_t *fill, int n)
{
    for (int i = 0; i < n; i++)
        CHECK_OK(relay_cancel(fill[i], 0, 1));
    for (int i = 0; i < n; i++) {
        check_fails(fill[i], RELAY_ERR_CANCELLED, "was cancelled");
        CHECK_EQ(board_wait(S_FILL + 2 * i + 1), 1); /* it saw the flag */
        CHECK_OK(relay_release(fill[i]));
    }
}

/* A task still queued (every CPU busy) is removed: CANCELLED, naming it. */
static void queued_task(void)
{
    relay_ref_t fill[16];
    int n = fill_cpus(fill);
    int64_t v = 5;
    relay_arg_t a = relay_arg_value(&v, sizeof v);
    relay_ref_t q = test_submit("add1", &a, 1);
    relay_ref_t q2 = test_submit("add1", &a, 1);
    CHECK_OK(relay_cancel(q, 0, 1));
    check_fails(q, RELAY_ERR_CANCELLED, "task 'add1' (function 'add1') was cancelled");
    /* Cancelled twice: no-op. */
    CHECK_OK(relay_cancel(q, 0, 0));
    unfill_cpus(fill, n);
    /* The other queued one was not touched. */
    CHECK_EQ(test_get_i64(q2), 6);
    CHECK_OK(relay_release(q));
    CHECK_OK(relay_release(q2));
}

/* A running task sees the flag and ends; force changes nothing here. */
static void running_task(void)
{
    relay_ref_t r = submit_nap(30000, S_SPIN);
    board_wait(S_SPIN);
    CHECK_OK(relay_cancel(r, 1, 1));
    check_fails(r, RELAY_ERR_CANCELLED, "was cancelled");
    check_fails(r, RELAY_ERR_CANCELLED, "was cancelled while it ran on rank");
    CHECK_EQ(board_wait(S_SPIN + 1), 1);
    CHECK_OK(relay_release(r));
}

/* A task blocked in relay_get gets CANCELLED at once, and so do its
 * later gets and waits. */
static void blocked_task(void)
{
    relay_arg_t a = relay_arg_value(&board, sizeof board);
    relay_ref_t r = test_submit("blocker", &a, 1);
    board_wait(S_BLOCK);
    test_sleep(0.3); /* it is blocked in its get by now */
    CHECK_OK(relay_cancel(r, 0, 1));
    CHECK_EQ(board_wait(S_BLOCK + 1), RELAY_ERR_CANCELLED);
    CHECK_EQ(board_get(S_BLOCK + 2), RELAY_ERR_CANCELLED);
    CHECK_EQ(board_get(S_BLOCK + 3), RELAY_ERR_CANCELLED);
    /* It returned 0 with a return set: its return fails all the same. */
    check_fails(r, RELAY_ERR_CANCELLED, "task 'blocker' (function 'blocker') was cancelled");
    CHECK_OK(relay_release(r));
}

/* Recursive cancels the child it submitted (queued or running); not
 * recursive leaves it to finish. */
static void recursive(void)
{
    for (int rec = 1; rec >= 0; rec--) {
        int64_t ms = rec ? 30000 : 300, slot = rec ? S_SPAWN : S_SPAWN_NR;
        relay_arg_t a[3] = {relay_arg_value(&ms, sizeof ms), relay_arg_value(&slot, sizeof slot),
                            relay_arg_value(&board, sizeof board)};
        relay_ref_t parent = test_submit("spawner", a, 3);
        relay_ref_t child = {(uint64_t)board_wait(slot)};
        CHECK_OK(relay_retain(child));
        CHECK_OK(relay_cancel(parent, 0, rec));
        check_fails(parent, RELAY_ERR_CANCELLED, "task 'spawner'");
        if (rec)
            check_fails(child, RELAY_ERR_CANCELLED, "task 'nap'");
        else
            CHECK_EQ(test_get_i64(child), 300);
        CHECK_OK(relay_release(parent));
        CHECK_OK(relay_release(child));
    }
}

/* Submit fn(board) asking for no CPU (a child of it then has the CPU). */
static relay_ref_t submit_cpuless(const char *fn)
{
    relay_arg_t a = relay_arg_value(&board, sizeof board);
    relay_task_opts_t o = {.field_mask = RELAY_TASK_OPT_NUM_CPUS, .num_cpus = 0};
    relay_ref_t r;
    CHECK_OK(relay_submit(fn, &a, 1, &o, &r));
    return r;
}

/* Waits until rank 0 counts no pending task (timeout_s at most). */
static void wait_no_pending(double timeout_s)
{
    const size_t off = offsetof(relay_stats_t, tasks_pending);
    const uint64_t zero = 0;
    relay_stats_t s =
        test__poll_stats(&off, &zero, 1, timeout_s, "tasks pending", __FILE__, __LINE__);
    CHECK_EQ(s.tasks_pending, 0);
}

/* A task blocked in a get whose CPU another task took meanwhile: once
 * cancelled (not recursively: its child runs on), its get returns at
 * once, not when that CPU comes free. */
static void blocked_cpu_taken(void)
{
    relay_arg_t a = relay_arg_value(&board, sizeof board);
    relay_ref_t r = test_submit("lone_blocker", &a, 1);
    board_wait(S_UNBL);
    relay_ref_t child = {(uint64_t)board_wait(S_UNBL_ID)};
    board_wait(S_UNBL_NAP);
    test_sleep(0.3); /* it is blocked in its get by now, its CPU given back */
    /* One 30 s nap per worker CPU, the child included: the blocked task's
     * CPU is one of them (the least loaded rank gets each). */
    relay_ref_t hog[4];
    int nh = test_size() - 2;
    CHECK_LT(nh, 5);
    for (int i = 0; i < nh; i++)
        hog[i] = submit_nap(30000, S_HOG + 2 * i);
    for (int i = 0; i < nh; i++)
        board_wait(S_HOG + 2 * i);
    CHECK_OK(relay_cancel(r, 0, 0));
    CHECK_EQ(board_wait(S_UNBL + 1), RELAY_ERR_CANCELLED);
    check_fails(r, RELAY_ERR_CANCELLED, "task 'lone_blocker'");
    CHECK_EQ(board_get(S_UNBL_NAP + 1), 0); /* not recursive: untouched */
    CHECK_OK(relay_cancel(child, 0, 0));
    CHECK_EQ(board_wait(S_UNBL_NAP + 1), 1);
    for (int i = 0; i < nh; i++) {
        CHECK_OK(relay_cancel(hog[i], 0, 0));
        check_fails(hog[i], RELAY_ERR_CANCELLED, "was cancelled");
        CHECK_OK(relay_release(hog[i]));
    }
    CHECK_OK(relay_release(r));
}

/* Recursive reaches what the task submits after the cancel: it never
 * runs. */
static void recursive_after(void)
{
    relay_arg_t a = relay_arg_value(&board, sizeof board);
    relay_ref_t p = test_submit("latecomer", &a, 1);
    board_wait(S_LATE);
    CHECK_OK(relay_cancel(p, 0, 1));
    check_fails(p, RELAY_ERR_CANCELLED, "task 'latecomer'");
    CHECK_EQ(board_wait(S_LATE + 1), 1); /* it did submit one */
    wait_no_pending(TEST_LONG_S / 4);    /* not the late nap's 30 s */
    CHECK_EQ(board_get(S_LATE_NAP), 0);  /* which never started */
    CHECK_OK(relay_release(p));
}

/* Recursive reaches a grandchild whose parent finished before the
 * cancel. */
static void recursive_grandchild(void)
{
    relay_ref_t gp = submit_cpuless("grandparent");
    board_wait(S_GP);
    board_wait(S_G);
    CHECK_OK(relay_cancel(gp, 0, 1));
    check_fails(gp, RELAY_ERR_CANCELLED, "task 'grandparent'");
    CHECK_EQ(board_wait(S_G + 1), 1); /* the grandchild saw the flag */
    CHECK_OK(relay_release(gp));
    wait_no_pending(TEST_LONG_S);
}

/* Recursive reaches the leaf below a chain of 2000 tasks that each
 * submitted the next and finished (rank 0 keeps their line), and nothing
 * of the chain is left once the leaf has gone. */
static void recursive_deep(void)
{
    int64_t depth = 2000;
    relay_arg_t a[2] = {relay_arg_value(&depth, sizeof depth),
                        relay_arg_value(&board, sizeof board)};
    relay_task_opts_t o = {.field_mask = RELAY_TASK_OPT_NUM_CPUS, .num_cpus = 0};
    relay_ref_t root;
    CHECK_OK(relay_submit("deep_root", a, 2, &o, &root));
    board_wait(S_DEEP);
    /* The chain has ended: only the root and the leaf are pending. */
    const size_t off = offsetof(relay_stats_t, tasks_pending);
    const uint64_t two = 2;
    relay_stats_t s =
        test__poll_stats(&off, &two, 1, TEST_LONG_S, "tasks pending", __FILE__, __LINE__);
    CHECK_EQ(s.tasks_pending, 2);
    CHECK_OK(relay_cancel(root, 0, 1));
    check_fails(root, RELAY_ERR_CANCELLED, "task 'deep_root'");
    CHECK_EQ(board_wait(S_DEEP + 1), 1); /* the leaf saw the flag */
    CHECK_OK(relay_release(root));
    wait_no_pending(TEST_LONG_S);
}

/* A task with no returns cancelled through its parent: rank 0 does not
 * log it as an error (it was asked for). Rank 0's stderr is read back. */
static void zero_returns_log(void)
{
    relay_ref_t p = submit_cpuless("spawn0");
    board_wait(S_ZERO);
    fflush(stderr);
    FILE *log = tmpfile();
    CHECK(log != NULL);
    int saved = dup(2);
    CHECK(saved >= 0 && dup2(fileno(log), 2) >= 0);
    CHECK_OK(relay_cancel(p, 0, 1));
    check_fails(p, RELAY_ERR_CANCELLED, "task 'spawn0'");
    int saw = (int)board_wait(S_ZERO + 1);
    wait_no_pending(TEST_LONG_S); /* the child's failure was handled */
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char text[8192];
    size_t len = (fseek(log, 0, SEEK_SET), fread(text, 1, sizeof text - 1, log));
    text[len] = 0;
    fclose(log);
    fputs(text, stderr);
    CHECK_EQ(saw, 1);
    CHECK(strstr(text, "no returns) failed") == NULL);
    CHECK_OK(relay_release(p));
}

/* A cancelled task's get, get_many and wait: NULL objects, zero flags. */
static void cancelled_outputs(void)
{
    relay_arg_t a = relay_arg_value(&board, sizeof board);
    relay_ref_t r = test_submit("outputs", &a, 1);
    board_wait(S_OUT);
    CHECK_OK(relay_cancel(r, 0, 0));
    check_fails(r, RELAY_ERR_CANCELLED, "task 'outputs'");
    CHECK_EQ(board_wait(S_OUT + 1), 1);
    CHECK_OK(relay_release(r));
}

/* Finished: no-op. A put object: INVALID_ARG. Unknown: INVALID_REF. */
static void finished_and_bad(void)
{
    int64_t v = 1;
    relay_arg_t a = relay_arg_value(&v, sizeof v);
    relay_ref_t r = test_submit("add1", &a, 1);
    CHECK_EQ(test_get_i64(r), 2);
    CHECK_OK(relay_cancel(r, 0, 1));
    CHECK_OK(relay_cancel(r, 1, 0));
    CHECK_EQ(test_get_i64(r), 2);
    /* A failed one too. */
    relay_ref_t f = test_submit("add1", NULL, 0);
    relay_object_t obj;
    CHECK_STATUS(relay_get(f, TEST_LONG_S, &obj), RELAY_ERR_TASK_FAILED);
    CHECK_OK(relay_object_free(obj));
    CHECK_OK(relay_cancel(f, 0, 1));
    CHECK_STATUS(relay_get(f, TEST_LONG_S, &obj), RELAY_ERR_TASK_FAILED);
    CHECK_OK(relay_object_free(obj));
    relay_ref_t p = test_put_i64(3);
    CHECK_STATUS(relay_cancel(p, 0, 1), RELAY_ERR_INVALID_ARG);
    CHECK_CONTAINS(relay_last_error(), "relay_put");
    CHECK_EQ(test_get_i64(p), 3);
    CHECK_STATUS(relay_cancel(RELAY_REF_NULL, 0, 1), RELAY_ERR_INVALID_REF);
    relay_ref_t never = {r.id + ((uint64_t)1 << 20)}; /* a sequence not handed out */
    CHECK_STATUS(relay_cancel(never, 0, 1), RELAY_ERR_INVALID_REF);
    CHECK_OK(relay_release(r));
    CHECK_OK(relay_release(f));
    CHECK_OK(relay_release(p));
    /* Released everywhere: rank 0 no longer knows it. */
    CHECK_OK(relay_sync(TEST_LONG_S));
    CHECK_STATUS(relay_cancel(r, 0, 1), RELAY_ERR_INVALID_REF);
}

static relay_actor_t make_actor(void)
{
    relay_actor_opts_t o = {.field_mask = RELAY_ACTOR_OPT_NUM_CPUS, .num_cpus = 0};
    relay_actor_t w;
    CHECK_OK(relay_actor_create("board", NULL, 0, &o, &w));
    return w;
}

static relay_ref_t call_nap(relay_actor_t w, int64_t ms, int64_t slot)
{
    relay_arg_t a[3] = {relay_arg_value(&ms, sizeof ms), relay_arg_value(&board, sizeof board),
                        relay_arg_value(&slot, sizeof slot)};
    relay_ref_t r;
    CHECK_OK(relay_actor_call(w, "nap", a, slot >= 0 ? 3 : 1, NULL, &r));
    return r;
}

/* An actor call queued behind a running one is removed; the running one
 * is left alone (its flag not set); later calls still run; force is
 * refused for actor calls. */
static void actor_calls(void)
{
    relay_actor_t w = make_actor();
    relay_ref_t running = call_nap(w, 1500, S_CALL);
    relay_ref_t queued = call_nap(w, 10, -1);
    board_wait(S_CALL);
    CHECK_STATUS(relay_cancel(queued, 1, 0), RELAY_ERR_INVALID_ARG);
    CHECK_CONTAINS(relay_last_error(), "force");
    CHECK_OK(relay_cancel(queued, 0, 1));
    CHECK_OK(relay_cancel(running, 0, 1));
    check_fails(queued, RELAY_ERR_CANCELLED, "task 'nap' (function 'nap') was cancelled");
    CHECK_EQ(test_get_i64(running), 1500); /* ran to its end, flag never seen */
    CHECK_EQ(board_get(S_CALL + 1), 0);
    relay_ref_t later = call_nap(w, 10, -1);
    CHECK_EQ(test_get_i64(later), 10);
    CHECK_OK(relay_release(running));
    CHECK_OK(relay_release(queued));
    CHECK_OK(relay_release(later));
    CHECK_OK(relay_actor_kill(w));
}

/* A call waiting for its argument is removed; the same caller's later
 * call, ready behind it, then runs at once (not after the argument). */
static void actor_call_waiting(void)
{
    relay_actor_t w = make_actor();
    relay_ref_t slow = submit_nap(30000, -1);
    relay_arg_t a = relay_arg_ref(slow);
    relay_ref_t waiting, later;
    CHECK_OK(relay_actor_call(w, "nap", &a, 1, NULL, &waiting));
    later = call_nap(w, 10, -1);
    test_sleep(0.2);
    CHECK_OK(relay_cancel(waiting, 0, 0));
    check_fails(waiting, RELAY_ERR_CANCELLED, "task 'nap' (function 'nap') was cancelled");
    int64_t v = 0;
    CHECK_OK(relay_get_value(later, &v, sizeof v, 20.0));
    CHECK_EQ(v, 10);
    /* The caller's calls go on in order. */
    relay_ref_t next = call_nap(w, 20, -1);
    CHECK_EQ(test_get_i64(next), 20);
    CHECK_OK(relay_cancel(slow, 0, 0));
    check_fails(slow, RELAY_ERR_CANCELLED, "was cancelled");
    CHECK_OK(relay_release(slow));
    CHECK_OK(relay_release(waiting));
    CHECK_OK(relay_release(later));
    CHECK_OK(relay_release(next));
    CHECK_OK(relay_actor_kill(w));
}

/* relay_actor_kill while a method runs: relay_ctx_cancelled says 1 in
 * it, it returns early, and its return stands. */
static void actor_kill_flag(void)
{
    relay_actor_t w = make_actor();
    relay_ref_t r = call_nap(w, 30000, S_KILL);
    board_wait(S_KILL);
    CHECK_OK(relay_actor_kill(w));
    CHECK_EQ(test_get_i64(r), -1);
    CHECK_EQ(board_wait(S_KILL + 1), 1);
    CHECK_OK(relay_release(r));
}

/* A chain a -> b -> c: cancelling the running head fails b and c with
 * the cancellation as their cause. Then a chain whose middle task waits
 * for its input (placed ahead on a worker, or at rank 0): cancelling it
 * leaves its input alone and fails its consumer. */
static void chains(void)
{
    relay_ref_t a = submit_nap(30000, S_CHAIN);
    relay_arg_t arg = relay_arg_ref(a);
    relay_ref_t b = test_submit("add1", &arg, 1);
    arg = relay_arg_ref(b);
    relay_ref_t c = test_submit("add1", &arg, 1);
    board_wait(S_CHAIN);
    CHECK_OK(relay_cancel(a, 0, 0));
    check_fails(a, RELAY_ERR_CANCELLED, "was cancelled");
    check_fails(b, RELAY_ERR_TASK_FAILED, "was cancelled");
    check_fails(c, RELAY_ERR_TASK_FAILED, "was cancelled");
    CHECK_OK(relay_release(a));
    CHECK_OK(relay_release(b));
    CHECK_OK(relay_release(c));

    a = submit_nap(1000, S_ACHAIN);
    arg = relay_arg_ref(a);
    b = test_submit("add1", &arg, 1);
    arg = relay_arg_ref(b);
    c = test_submit("add1", &arg, 1);
    board_wait(S_ACHAIN);
    CHECK_OK(relay_cancel(b, 0, 1));
    check_fails(b, RELAY_ERR_CANCELLED, "task 'add1' (function 'add1') was cancelled");
    check_fails(c, RELAY_ERR_TASK_FAILED, "was cancelled");
    CHECK_EQ(test_get_i64(a), 1000);
    CHECK_OK(relay_release(a));
    CHECK_OK(relay_release(b));
    CHECK_OK(relay_release(c));
}

static int fn_add1(relay_ctx_t *ctx)
{
    return test_fn_add1(ctx);
}

static const struct {
    const char *name;
    void (*run)(void);
} scenarios[] = {
    {"queued_task", queued_task},
    {"running_task", running_task},
    {"blocked_task", blocked_task},
    {"recursive", recursive},
    {"finished_and_bad", finished_and_bad},
    {"actor_calls", actor_calls},
    {"actor_call_waiting", actor_call_waiting},
    {"actor_kill_flag", actor_kill_flag},
    {"chains", chains},
    {"blocked_cpu_taken", blocked_cpu_taken},
    {"recursive_after", recursive_after},
    {"recursive_grandchild", recursive_grandchild},
    {"recursive_deep", recursive_deep},
    {"zero_returns_log", zero_returns_log},
    {"cancelled_outputs", cancelled_outputs},
};

int main(int argc, char **argv)
{
    int provided, world_rank, world_size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (world_size < 2) {
        MPI_Finalize();
        return TEST_SKIP;
    }
    const char *only = argc > 1 ? argv[1] : NULL;
    static const relay_method_t methods[] = {
        {"set", m_set, 2}, {"get", m_get, 1}, {"nap", m_nap, RELAY_ANY_ARGS}};
    relay_actor_class_t cls = {board_init, 0, board_fini, methods,
                               sizeof methods / sizeof methods[0]};
    CHECK_OK(relay_register_actor("board", &cls));
    CHECK_OK(relay_register("nap", nap));
    CHECK_OK(relay_register("add1", fn_add1));
    CHECK_OK(relay_register("blocker", blocker));
    CHECK_OK(relay_register("spawner", spawner));
    CHECK_OK(relay_register("lone_blocker", lone_blocker));
    CHECK_OK(relay_register("latecomer", latecomer));
    CHECK_OK(relay_register("spawn_g", spawn_g));
    CHECK_OK(relay_register("grandparent", grandparent));
    CHECK_OK(relay_register("spawn0", spawn0));
    CHECK_OK(relay_register("outputs", outputs));
    CHECK_OK(relay_register("deep", deep));
    CHECK_OK(relay_register("deep_root", deep_root));
    relay_config_t cfg = {.field_mask = RELAY_CONFIG_NUM_CPUS, .num_cpus = 1};
    CHECK_OK(relay_init(&argc, &argv, &cfg));
    if (world_rank == 0) {
        relay_stats_t s0 = test_stats();
        board = make_actor();
        for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
            if (only && strcmp(only, scenarios[i].name) != 0) continue;
            printf("%s\n", scenarios[i].name);
            scenarios[i].run();
        }
        CHECK_OK(relay_actor_kill(board));
        /* Nothing left: no object, no pending task, no hold. */
        relay_stats_t s =
            test_wait_directory(s0.directory_objects, s0.directory_bytes, TEST_LONG_S);
        const size_t off = offsetof(relay_stats_t, tasks_pending);
        const uint64_t zero = 0;
        s = test__poll_stats(&off, &zero, 1, TEST_LONG_S, "tasks pending", __FILE__, __LINE__);
        test_check_at_rest("ray_cancel", &s, 0);
        CHECK_EQ(s.directory_waiters, 0);
    }
    test_barrier();
    CHECK_OK(relay_finalize());
    MPI_Finalize();
    if (world_rank == 0) printf("ray_cancel: PASS\n");
    return 0;
}
