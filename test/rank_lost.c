/* A worker rank dies (a task on rank 2 kills its own process) while the
 * job goes on: rank 0 finds it lost, its work runs again or fails with
 * RELAY_ERR_RANK_LOST, nothing hangs, and finalize completes on the
 * survivors. np 3: rank 0 drives, ranks 1 and 2 work (2 CPUs each, a
 * resource "rank<k>" pins a task to rank k). Needs an MPI that keeps the
 * survivors running (Open MPI's mpirun --enable-recovery): rank_lost.sh
 * runs it and checks the PASS lines of ranks 0 and 1, since mpirun's own
 * status tells of the dead rank. Scenarios by argv[1]:
 *   noretry  a task dies with its rank: get returns RANK_LOST naming the
 *            rank and host; tasks on rank 1 complete; later tasks that
 *            only rank 2 could run fail
 *   retry    max_retries 1: the task runs again on rank 1
 *   lineage  a large object made by a finished task on rank 2 is made
 *            again on rank 1 (a get fetching it from the dead rank asks
 *            again); one relay_put on rank 2 fails RANK_LOST
 *   actor    calls of an actor on rank 2 fail ACTOR_DEAD with the reason
 *   blocked  a task on rank 1 blocked in get on a task of rank 2 returns;
 *            rank 0 forgets the gets rank 2 was waiting in
 *   forever  get, get_many and wait with RELAY_FOREVER return
 *   head     rank 0 dies: the workers find it lost and end the job
 *            (rank_lost.sh wants their "rank 0 ... lost" lines, no hang)
 *   quiet    nobody dies: an idle driver and a task computing longer than
 *            two timeouts (3 s here) must not make a rank count as lost
 *   stopped  rank 2 is stopped (SIGSTOP from a task on rank 1) for 2.5
 *            timeouts: rank 0 gives it up, and when it resumes it hears
 *            so and leaves alone (rank_lost.sh wants its farewell line and
 *            no abort); the survivors go on */
#include <errno.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "relay.h"
#include "testutil.h"

#define BIG ((size_t)300 * 1024) /* above the default inline maximum */

static relay_resource_t pin_res[3] = {{"rank0", 1}, {"rank1", 1}, {"rank2", 1}};

static relay_task_opts_t on_rank(int k, double cpus)
{
    relay_task_opts_t o;
    memset(&o, 0, sizeof o);
    o.field_mask = RELAY_TASK_OPT_NUM_CPUS;
    o.num_cpus = cpus;
    if (k > 0) {
        o.field_mask |= RELAY_TASK_OPT_RESOURCES;
        o.resources = &pin_res[k];
        o.num_resources = 1;
    }
    return o;
}

static int my_rank(relay_ctx_t *ctx)
{
    int r = -1;
    relay_ctx_rank(ctx, &r);
    return r;
}

/* (ms) -> never returns on rank 2: the process dies after ms; elsewhere
 * returns 42. */
static int fn_die_on2(relay_ctx_t *ctx)
{
    int64_t ms = test_arg_i64(ctx, 0);
    if (my_rank(ctx) == 2) {
        test_sleep((double)ms / 1000.0);
        raise(SIGKILL);
    }
    return test_ret_i64(ctx, 42);
}

/* (ms) -> ms, after computing (not sleeping) that long. */
static int fn_spin_ms(relay_ctx_t *ctx)
{
    int64_t ms = test_arg_i64(ctx, 0);
    volatile uint64_t x = 0;
    for (double end = test_now() + (double)ms / 1000.0; test_now() < end;)
        for (int i = 0; i < 100000; i++)
            x += (uint64_t)i;
    return test_ret_i64(ctx, ms);
}

/* () -> BIG bytes of pattern 7, and the rank it ran on. */
static int fn_big(relay_ctx_t *ctx)
{
    void *buf = malloc(BIG);
    if (!buf) return 1;
    test_fill(buf, BIG, 7);
    int rc = relay_ctx_return(ctx, 0, buf, BIG);
    free(buf);
    int64_t r = my_rank(ctx);
    return rc ? rc : relay_ctx_return(ctx, 1, &r, sizeof r);
}

/* () -> an object containing the ref of BIG bytes this task put. */
static int fn_putter(relay_ctx_t *ctx)
{
    void *buf = malloc(BIG);
    if (!buf) return 1;
    test_fill(buf, BIG, 9);
    relay_ref_t ref;
    int rc = relay_put(buf, BIG, &ref);
    free(buf);
    if (rc) return rc;
    int64_t v = 1;
    rc = relay_ctx_return_object(ctx, 0, &v, sizeof v, &ref, 1);
    relay_release(ref);
    return rc;
}

/* (an object containing ref x) -> the status of relay_get(x, FOREVER). */
static int fn_get_inner(relay_ctx_t *ctx)
{
    relay_object_t box;
    int rc = relay_ctx_arg_object(ctx, 0, &box);
    if (rc) return rc;
    relay_ref_t inner;
    rc = relay_object_ref(box, 0, &inner);
    if (rc) return rc;
    relay_object_t o = NULL;
    int64_t st = relay_get(inner, RELAY_FOREVER, &o);
    if (o) relay_object_free(o);
    return test_ret_i64(ctx, st); /* box is the task's */
}

/* () -> this process's pid. */
static int fn_pid(relay_ctx_t *ctx)
{
    return test_ret_i64(ctx, (int64_t)getpid());
}

/* (pid) -> 0 after stopping pid for 2.5 rank timeouts, or errno. */
static int fn_stop_pid(relay_ctx_t *ctx)
{
    pid_t pid = (pid_t)test_arg_i64(ctx, 0);
    const char *t = getenv("RELAY_RANK_TIMEOUT");
    double timeout = t ? atof(t) : 2;
    if (kill(pid, SIGSTOP) != 0) return test_ret_i64(ctx, errno);
    test_sleep(2.5 * timeout);
    kill(pid, SIGCONT);
    return test_ret_i64(ctx, 0);
}

static int counter_init(relay_ctx_t *ctx, void **state_p)
{
    (void)ctx;
    *state_p = calloc(1, sizeof(int64_t));
    return *state_p ? 0 : 1;
}

static int counter_incr(relay_ctx_t *ctx, void *state)
{
    int64_t *n = state;
    return test_ret_i64(ctx, ++*n);
}

static int counter_die(relay_ctx_t *ctx, void *state)
{
    (void)state;
    test_sleep(0.2);
    if (my_rank(ctx) == 2) raise(SIGKILL);
    return test_ret_i64(ctx, 0);
}

static void counter_fini(void *state)
{
    free(state);
}

static const relay_method_t counter_methods[] = {
    {"incr", counter_incr, 0},
    {"die", counter_die, 0},
};

/* ---- helpers ------------------------------------------------------------ */

static relay_ref_t submit1(const char *fn, int64_t arg, relay_task_opts_t o)
{
    relay_arg_t a = relay_arg_value(&arg, sizeof arg);
    relay_ref_t r;
    CHECK_OK(relay_submit(fn, &a, 1, &o, &r));
    return r;
}

/* The failed get's status; relay_last_error() must name rank 2 and its
 * host. */
static void check_lost(int rc, const char *what)
{
    const char *err = relay_last_error();
    printf("rank_lost: %s: %s (%s)\n", what, relay_strerror(rc), err);
    CHECK(strstr(err, "rank 2") != NULL);
    CHECK(strstr(err, "host ") != NULL);
}

static int get_status(relay_ref_t r, double timeout_s)
{
    relay_object_t o = NULL;
    int rc = relay_get(r, timeout_s, &o);
    if (o) relay_object_free(o);
    return rc;
}

/* A task that only rank 2 could run: fails RANK_LOST once rank 2 is gone. */
static void check_pinned_fails(void)
{
    relay_ref_t r = submit1("die_on2", 0, on_rank(2, 1));
    int rc = get_status(r, RELAY_FOREVER);
    CHECK_STATUS(rc, RELAY_ERR_RANK_LOST);
    CHECK(strstr(relay_last_error(), "only ranks since lost") != NULL);
    relay_release(r);
}

/* ---- scenarios ------------------------------------------------------------ */

static void noretry(void)
{
    relay_ref_t slow = submit1("sleep_ms", 500, on_rank(1, 1));
    double t0 = test_now();
    relay_ref_t dead = submit1("die_on2", 200, on_rank(2, 1));
    int rc = get_status(dead, RELAY_FOREVER);
    /* Told, not asserted: the machine is noisy. */
    printf("rank_lost: the loss was reported %.2f s after rank 2 died\n", test_now() - t0 - 0.2);
    CHECK_STATUS(rc, RELAY_ERR_RANK_LOST);
    check_lost(rc, "task on rank 2");
    CHECK(strstr(relay_last_error(), "die_on2") != NULL);
    CHECK_EQ(test_get_i64(slow), 500);
    relay_ref_t after = submit1("add1", 1, on_rank(1, 1));
    CHECK_EQ(test_get_i64(after), 2);
    check_pinned_fails();
    relay_release(slow);
    relay_release(dead);
    relay_release(after);
}

static void retry(void)
{
    /* Rank 1 busy: the task goes to rank 2 first. */
    relay_ref_t busy = submit1("sleep_ms", 1500, on_rank(1, 2));
    relay_task_opts_t o = on_rank(0, 1);
    o.field_mask |= RELAY_TASK_OPT_MAX_RETRIES;
    o.max_retries = 1;
    relay_ref_t r = submit1("die_on2", 300, o);
    CHECK_EQ(test_get_i64(r), 42);
    CHECK_EQ(test_get_i64(busy), 1500);
    relay_release(busy);
    relay_release(r);
}

static void lineage(void)
{
    relay_ref_t busy = submit1("sleep_ms", 1500, on_rank(1, 2));
    relay_task_opts_t o = on_rank(0, 1);
    o.field_mask |= RELAY_TASK_OPT_NUM_RETURNS;
    o.num_returns = 2;
    relay_ref_t big[2];
    CHECK_OK(relay_submit("big", NULL, 0, &o, big));
    CHECK_EQ(test_get_i64(big[1]), 2); /* made on rank 2 */
    relay_ref_t box;
    relay_task_opts_t p = on_rank(2, 1);
    CHECK_OK(relay_submit("putter", NULL, 0, &p, &box));
    relay_object_t b;
    CHECK_OK(relay_get(box, TEST_LONG_S, &b));
    relay_ref_t put;
    CHECK_OK(relay_object_ref(b, 0, &put));
    CHECK_OK(relay_retain(put));
    relay_object_free(b);
    /* Rank 2 dies; before rank 0 finds out, a get asks for the object and
     * fetches from the dead rank: that fetch fails once the loss is known,
     * and the get asks again for the copy made on rank 1. */
    relay_ref_t killer = submit1("die_on2", 100, on_rank(2, 1));
    test_sleep(0.6);
    test_check_pattern(big[0], BIG, 7);
    int rc = get_status(killer, RELAY_FOREVER);
    CHECK_STATUS(rc, RELAY_ERR_RANK_LOST);
    relay_release(killer);
    rc = get_status(put, TEST_LONG_S);
    CHECK_STATUS(rc, RELAY_ERR_RANK_LOST);
    check_lost(rc, "put object");
    CHECK(strstr(relay_last_error(), "relay_put") != NULL);
    CHECK_EQ(test_get_i64(busy), 1500);
    relay_release(busy);
    relay_release_many(big, 2);
    relay_release(box);
    relay_release(put);
}

static void actor(void)
{
    relay_actor_opts_t o;
    memset(&o, 0, sizeof o);
    o.field_mask = RELAY_ACTOR_OPT_RESOURCES;
    o.resources = &pin_res[2];
    o.num_resources = 1;
    relay_actor_t a;
    CHECK_OK(relay_actor_create("counter", NULL, 0, &o, &a));
    relay_ref_t r;
    CHECK_OK(relay_actor_call(a, "incr", NULL, 0, NULL, &r));
    CHECK_EQ(test_get_i64(r), 1);
    relay_release(r);
    relay_ref_t die, queued;
    CHECK_OK(relay_actor_call(a, "die", NULL, 0, NULL, &die));
    CHECK_OK(relay_actor_call(a, "incr", NULL, 0, NULL, &queued));
    int rc = get_status(die, RELAY_FOREVER);
    CHECK_STATUS(rc, RELAY_ERR_ACTOR_DEAD);
    check_lost(rc, "actor call");
    rc = get_status(queued, RELAY_FOREVER);
    CHECK_STATUS(rc, RELAY_ERR_ACTOR_DEAD);
    check_lost(rc, "queued call");
    CHECK_OK(relay_actor_call(a, "incr", NULL, 0, NULL, &r));
    rc = get_status(r, RELAY_FOREVER);
    CHECK_STATUS(rc, RELAY_ERR_ACTOR_DEAD);
    check_lost(rc, "later call");
    relay_release(r);
    relay_release(die);
    relay_release(queued);
}

/* A task on rank k blocked in a get of inner. */
static relay_ref_t get_inner_on(int k, relay_ref_t inner, relay_ref_t *box_p)
{
    int64_t v = 0;
    CHECK_OK(relay_put_object(&v, sizeof v, &inner, 1, box_p));
    relay_arg_t a = relay_arg_ref(*box_p);
    relay_task_opts_t o = on_rank(k, 1);
    relay_ref_t w;
    CHECK_OK(relay_submit("get_inner", &a, 1, &o, &w));
    return w;
}

static void blocked(void)
{
    /* Rank 2 also waits in a get (of a long task on rank 1) as it dies:
     * rank 0 forgets that get rather than answer it to nobody later. */
    relay_ref_t slow = submit1("sleep_ms", 8000, on_rank(1, 1)), box2;
    relay_ref_t w2 = get_inner_on(2, slow, &box2);
    relay_ref_t dead = submit1("die_on2", 800, on_rank(2, 1)), box;
    relay_ref_t w = get_inner_on(1, dead, &box);
    CHECK_STATUS((int)test_get_i64(w), RELAY_ERR_RANK_LOST);
    relay_stats_t st = test_stats();
    CHECK_EQ(st.directory_waiters, 0);
    CHECK_STATUS(get_status(w2, RELAY_FOREVER), RELAY_ERR_RANK_LOST);
    CHECK_EQ(test_get_i64(slow), 8000);
    relay_ref_t refs[6] = {slow, box2, w2, dead, box, w};
    relay_release_many(refs, 6);
}

static void forever(void)
{
    relay_ref_t refs[2] = {submit1("sleep_ms", 100, on_rank(1, 1)),
                           submit1("die_on2", 300, on_rank(2, 1))};
    int ready[2] = {0, 0};
    size_t n = 0;
    CHECK_OK(relay_wait(refs, 2, 2, RELAY_FOREVER, ready, &n));
    CHECK_EQ(n, 2);
    relay_object_t objs[2] = {NULL, NULL};
    int rc = relay_get_many(refs, 2, RELAY_FOREVER, objs);
    CHECK_STATUS(rc, RELAY_ERR_RANK_LOST);
    check_lost(rc, "get_many");
    for (int i = 0; i < 2; i++)
        if (objs[i]) relay_object_free(objs[i]);
    CHECK_STATUS(get_status(refs[1], RELAY_FOREVER), RELAY_ERR_RANK_LOST);
    relay_release_many(refs, 2);
}

static void quiet(void)
{
    test_sleep(7); /* the driver idle over two timeouts long */
    relay_ref_t r[2] = {submit1("spin_ms", 7000, on_rank(2, 1)),
                        submit1("spin_ms", 7000, on_rank(1, 1))};
    CHECK_EQ(test_get_i64(r[0]), 7000);
    CHECK_EQ(test_get_i64(r[1]), 7000);
    relay_release_many(r, 2);
}

static void stopped(void)
{
    relay_ref_t pid = submit1("pid", 0, on_rank(2, 1));
    int64_t p = test_get_i64(pid);
    CHECK(p > 0);
    relay_ref_t stop = submit1("stop_pid", p, on_rank(1, 1));
    CHECK_EQ(test_get_i64(stop), 0);
    check_pinned_fails();
    relay_ref_t after = submit1("add1", 1, on_rank(1, 1));
    CHECK_EQ(test_get_i64(after), 2);
    relay_ref_t refs[3] = {pid, stop, after};
    relay_release_many(refs, 3);
}

int main(int argc, char **argv)
{
    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *scenario = argc > 1 ? argv[1] : "noretry";
    if (size != 3) {
        if (rank == 0) printf("rank_lost: SKIP: needs 3 ranks, not %d\n", size);
        MPI_Finalize();
        return TEST_SKIP;
    }
    CHECK_OK(relay_register("die_on2", fn_die_on2));
    CHECK_OK(relay_register("big", fn_big));
    CHECK_OK(relay_register("putter", fn_putter));
    CHECK_OK(relay_register("get_inner", fn_get_inner));
    CHECK_OK(relay_register("sleep_ms", test_fn_sleep_ms));
    CHECK_OK(relay_register("add1", test_fn_add1));
    CHECK_OK(relay_register("spin_ms", fn_spin_ms));
    CHECK_OK(relay_register("pid", fn_pid));
    CHECK_OK(relay_register("stop_pid", fn_stop_pid));
    relay_actor_class_t cls = {counter_init, 0, counter_fini, counter_methods, 2};
    CHECK_OK(relay_register_actor("counter", &cls));
    char here[16];
    snprintf(here, sizeof here, "rank%d", rank);
    relay_resource_t res[1] = {{here, 64}};
    relay_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.field_mask = RELAY_CONFIG_NUM_CPUS | RELAY_CONFIG_RESOURCES;
    cfg.num_cpus = 2;
    cfg.resources = res;
    cfg.num_resources = 1;
    CHECK_OK(relay_init(&argc, &argv, &cfg));
    if (rank == 0 && !strcmp(scenario, "head")) {
        test_sleep(0.3);
        raise(SIGKILL);
    }
    if (rank == 0) {
        if (!strcmp(scenario, "noretry"))
            noretry();
        else if (!strcmp(scenario, "retry"))
            retry();
        else if (!strcmp(scenario, "lineage"))
            lineage();
        else if (!strcmp(scenario, "actor"))
            actor();
        else if (!strcmp(scenario, "blocked"))
            blocked();
        else if (!strcmp(scenario, "forever"))
            forever();
        else if (!strcmp(scenario, "quiet"))
            quiet();
        else if (!strcmp(scenario, "stopped"))
            stopped();
        else
            CHECK(!"unknown scenario");
    }
    /* No collective of MPI_COMM_WORLD from here: rank 2 is gone. */
    CHECK_OK(relay_finalize());
    printf("rank_lost %s: rank %d PASS\n", scenario, rank);
    fflush(stdout);
    /* Open MPI 4.1's MPI_Finalize waits forever for a dead rank in about
     * one run of three (its fence; a program without relay does the
     * same): relay's part is over, so the survivors leave without it. */
    if (strcmp(scenario, "quiet") != 0) _exit(0);
    MPI_Finalize();
    return 0;
}
