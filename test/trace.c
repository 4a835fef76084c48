/* The timeline (RELAY_TRACE). Scenarios (argv[1]):
 *   full:    tasks (a chain of ref arguments, a nested task whose parent
 *            blocks in relay_get for it, a task that fails, one that
 *            returns a large object fetched by rank 0) and an actor
 *            (constructor, two calls); after relay_finalize rank 0 reads
 *            the file back: every task once, the actor's calls, the
 *            blocked get, the transfer, the flows of the chain, nothing
 *            dropped. argv[2]: where to write it.
 *   small:   RELAY_TRACE_BUFFER of a few events: the file says how many
 *            were dropped and rank 0 warned on stderr.
 *   badpath: an empty RELAY_TRACE, and a trace path whose directory is
 *            missing, fail relay_init with RELAY_ERR_CONFIG on every rank.
 * The thorough check of the file's format is trace_check.py's. */
#include <unistd.h>

#include "testutil.h"

#define BIG ((size_t)1 << 20)
#define NTASKS 7 /* inc x3, outer, slow, fail, big */

static int fn_inc(relay_ctx_t *ctx)
{
    int64_t v;
    TASK_OK(ctx, test_ctx_arg_fixed(ctx, 0, &v, sizeof v));
    v++;
    return relay_ctx_return(ctx, 0, &v, sizeof v);
}

static int fn_slow(relay_ctx_t *ctx)
{
    test_sleep(0.2); /* its parent's get finds it not ready */
    int64_t v = 42;
    return relay_ctx_return(ctx, 0, &v, sizeof v);
}

/* Submits slow and waits for it: a get that blocks inside a task. */
static int fn_outer(relay_ctx_t *ctx)
{
    relay_ref_t r;
    TASK_OK(ctx, relay_submit("slow", NULL, 0, NULL, &r));
    int64_t v = 0;
    TASK_OK(ctx, relay_get_value(r, &v, sizeof v, TEST_LONG_S));
    TASK_OK(ctx, relay_release(r));
    return relay_ctx_return(ctx, 0, &v, sizeof v);
}

static int fn_fail(relay_ctx_t *ctx)
{
    relay_ctx_fail(ctx, "failing on purpose");
    return 1;
}

static int fn_big(relay_ctx_t *ctx)
{
    char *buf = malloc(BIG);
    if (!buf) return 1;
    test_fill(buf, BIG, 7);
    int rc = relay_ctx_return(ctx, 0, buf, BIG);
    free(buf);
    return rc;
}

static int counter_init(relay_ctx_t *ctx, void **state_p)
{
    (void)ctx;
    *state_p = calloc(1, sizeof(int64_t));
    return *state_p ? 0 : 1;
}

static int counter_add(relay_ctx_t *ctx, void *state)
{
    int64_t *n = state;
    (*n)++;
    return relay_ctx_return(ctx, 0, n, sizeof *n);
}

static void counter_fini(void *state)
{
    free(state);
}

static void register_all(void)
{
    CHECK_OK(relay_register("inc", fn_inc));
    CHECK_OK(relay_register("slow", fn_slow));
    CHECK_OK(relay_register("outer", fn_outer));
    CHECK_OK(relay_register("fail", fn_fail));
    CHECK_OK(relay_register("big", fn_big));
    static const relay_method_t methods[] = {{"add", counter_add, 0}};
    relay_actor_class_t cls = {counter_init, 0, counter_fini, methods, 1};
    CHECK_OK(relay_register_actor("Counter", &cls));
}

static void release(relay_ref_t r)
{
    CHECK_OK(relay_release(r));
}

static void run_chain(void)
{
    int64_t zero = 0;
    relay_arg_t a = relay_arg_value(&zero, sizeof zero);
    relay_ref_t r1 = test_submit("inc", &a, 1);
    a = relay_arg_ref(r1);
    relay_ref_t r2 = test_submit("inc", &a, 1);
    a = relay_arg_ref(r2);
    relay_ref_t r3 = test_submit("inc", &a, 1);
    CHECK_EQ(test_get_i64(r3), 3);
    release(r1);
    release(r2);
    release(r3);
}

static void run_tasks(void)
{
    run_chain();
    relay_ref_t outer = test_submit("outer", NULL, 0);
    CHECK_EQ(test_get_i64(outer), 42);
    release(outer);
    relay_ref_t bad = test_submit("fail", NULL, 0);
    relay_object_t o = NULL;
    CHECK_STATUS(relay_get(bad, TEST_LONG_S, &o), RELAY_ERR_TASK_FAILED);
    if (o) relay_object_free(o);
    release(bad);
    relay_ref_t big = test_submit("big", NULL, 0);
    CHECK_OK(relay_get(big, TEST_LONG_S, &o));
    CHECK_EQ(relay_object_size(o), BIG);
    CHECK_EQ(test_verify(relay_object_data(o), BIG, 7), SIZE_MAX);
    CHECK_OK(relay_object_free(o));
    release(big);
}

static void run_actor(void)
{
    relay_actor_t act;
    CHECK_OK(relay_actor_create("Counter", NULL, 0, NULL, &act));
    for (int i = 1; i <= 2; i++) {
        relay_ref_t r;
        CHECK_OK(relay_actor_call(act, "add", NULL, 0, NULL, &r));
        CHECK_EQ(test_get_i64(r), i);
        release(r);
    }
    CHECK_OK(relay_actor_kill(act));
}

/* The whole file came: one object, its last key the otherData. */
static void check_whole(const char *s)
{
    CHECK(strncmp(s, "{\"traceEvents\":[", 16) == 0);
    CHECK(strstr(s, "\"otherData\":{") != NULL);
    size_t n = strlen(s);
    CHECK(n > 3 && strcmp(s + n - 3, "}}\n") == 0);
}

static void check_full(const char *path)
{
    char *s = test_read_text(path);
    CHECK(s != NULL);
    check_whole(s);
    CHECK_EQ(test_count(s, "\"ph\":\"X\",\"cat\":\"task\""), NTASKS);
    CHECK_EQ(test_count(s, "\"ph\":\"X\",\"cat\":\"actor\""), 3); /* __init__, add x2 */
    CHECK_EQ(test_count(s, "\"cat\":\"actor\",\"name\":\"Counter.__init__\""), 1);
    CHECK_EQ(test_count(s, "\"cat\":\"actor\",\"name\":\"Counter.add\""), 2);
    CHECK_EQ(test_count(s, "\"status\":\"failed\""), 1);
    CHECK_GE(test_count(s, "\"ph\":\"X\",\"cat\":\"blocked\",\"name\":\"get_value\""), 1);
    CHECK_GE(test_count(s, "\"ph\":\"b\",\"cat\":\"transfer\",\"name\":\"receive\""), 1);
    CHECK_GE(test_count(s, "\"ph\":\"b\",\"cat\":\"transfer\",\"name\":\"send\""), 1);
    CHECK_EQ(test_count(s, "\"ph\":\"b\",\"cat\":\"queued\""), NTASKS + 3);
    /* inc -> inc -> inc: two arrows. */
    CHECK_EQ(test_count(s, "\"ph\":\"s\",\"cat\":\"flow\""), 2);
    CHECK_EQ(test_count(s, "\"ph\":\"f\",\"cat\":\"flow\""), 2);
    CHECK_GE(test_count(s, "\"cat\":\"scheduler\""), 1);
    CHECK(strstr(s, "\"ranks_traced\":3") != NULL);
    CHECK(strstr(s, "\"dropped_events\":0,") != NULL);
    for (int r = 0; r < 3; r++) {
        char want[32];
        snprintf(want, sizeof want, "{\"name\":\"rank %d (", r);
        CHECK_EQ(test_count(s, want), 1);
    }
    free(s);
}

/* The format's own check (TRACE_CHECK: the script), when there is one. */
static void check_with_script(const char *path, int full)
{
    const char *script = getenv("TRACE_CHECK");
    if (!script || !*script) return;
    char cmd[1200];
    if (full)
        snprintf(cmd, sizeof cmd, "python3 '%s' '%s' --tasks %d --blocked", script, path, NTASKS);
    else
        snprintf(cmd, sizeof cmd, "python3 '%s' '%s' --allow-dropped", script, path);
    fflush(stdout);
    CHECK_EQ(system(cmd), 0);
}

/* Runs relay_finalize with stderr in a file; returns what it wrote there. */
static char *finalize_capturing(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    fflush(stderr);
    int saved = dup(2), fd = fileno(fopen(path, "w"));
    CHECK(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    CHECK_OK(relay_finalize());
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    return test_read_text(path);
}

static void scenario_small(const char *path, const char *dir)
{
    CHECK_OK(relay_init(NULL, NULL, NULL));
    int rank = test_rank();
    if (rank == 0)
        for (int i = 0; i < 5; i++)
            run_chain();
    if (rank != 0) {
        CHECK_OK(relay_finalize());
        return;
    }
    char *err = finalize_capturing(dir);
    CHECK(err != NULL);
    if (!strstr(err, "events dropped on rank")) {
        fprintf(stderr, "no drop warning in: %s\n", err);
        CHECK(0);
    }
    free(err);
    char *s = test_read_text(path);
    CHECK(s != NULL);
    check_whole(s);
    CHECK(strstr(s, "\"dropped_events\":0,") == NULL);
    CHECK(strstr(s, "\"dropped_events\":") != NULL);
    free(s);
}

static void scenario_badpath(const char *dir)
{
    setenv("RELAY_TRACE", "", 1);
    CHECK_STATUS(relay_init(NULL, NULL, NULL), RELAY_ERR_CONFIG);
    unsetenv("RELAY_TRACE");
    char path[256];
    snprintf(path, sizeof path, "%s/no-such-dir/trace.json", dir);
    relay_config_t cfg = {.field_mask = RELAY_CONFIG_TRACE, .trace = path};
    CHECK_STATUS(relay_init(NULL, NULL, &cfg), RELAY_ERR_CONFIG);
    cfg.trace = "";
    CHECK_STATUS(relay_init(NULL, NULL, &cfg), RELAY_ERR_CONFIG);
    /* Fixed, it starts; "%j" is the Slurm job's id. */
    long pid = (long)getpid();
    MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    snprintf(path, sizeof path, "%s/trace-%ld-%%j.json", dir, pid);
    cfg.trace = path;
    CHECK_OK(relay_init(NULL, NULL, &cfg));
    CHECK_OK(relay_finalize());
    const char *job = getenv("SLURM_JOB_ID");
    snprintf(path, sizeof path, "%s/trace-%ld-%s.json", dir, pid, job && *job ? job : "nojob");
    if (check__world_rank() == 0) {
        CHECK_EQ(access(path, R_OK), 0);
        unlink(path);
    }
}

int main(int argc, char **argv)
{
    const char *scenario = argc > 1 ? argv[1] : "full";
    const char *dir = argc > 2 ? argv[2] : ".";
    char path[512];
    register_all();
    if (!strcmp(scenario, "badpath")) {
        int provided;
        MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
        scenario_badpath(dir);
        MPI_Finalize();
        if (check__world_rank() <= 0) printf("trace badpath: PASS\n");
        return 0;
    }
    int provided, rank = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    /* A name of this run's own: the test's variants may run at once. */
    long pid = (long)getpid();
    MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    snprintf(path, sizeof path, "%s/trace-%s-%ld.json", dir, scenario, pid);
    setenv("RELAY_TRACE", path, 1);
    if (!strcmp(scenario, "small")) {
        setenv("RELAY_TRACE_BUFFER", "2K", 1);
        scenario_small(path, dir);
    } else {
        CHECK_OK(relay_init(NULL, NULL, NULL));
        if (rank == 0) {
            run_tasks();
            run_actor();
        }
        CHECK_OK(relay_finalize());
        if (rank == 0) check_full(path);
    }
    if (rank == 0) {
        check_with_script(path, !strcmp(scenario, "full"));
        unlink(path);
    }
    MPI_Finalize();
    if (rank == 0) printf("trace %s: PASS\n", scenario);
    return 0;
}
