/* Scheduling as Ray does it: a task that some rank can run now never waits
 * behind queued tasks that cannot run, tasks of one shape still start in
 * the order submitted, and a big task is not starved forever by a stream
 * of small ones overtaking it.
 *
 * Every worker rank offers 1 CPU, 1 (virtual) GPU and lic=2, and rank k
 * offers "rank<k>" (64), which pins a task there; rank 0 hosts no
 * workers. The busy tasks wait at a gate (a file) that a later task
 * opens: when that task cannot start before them, they give up after
 * GATE_GIVE_UP_S and say so, and the test fails with no timing asserted
 * on the passing path.
 *
 *   zero_cpu   1-CPU tasks occupy and queue on every CPU; a 0-CPU task opens the gate
 *   gpu        GPU and license tasks waiting for theirs; a 1-CPU task opens the gate
 *   fifo       1-CPU tasks start on each rank in the order submitted
 *   starve     a task asking for lic=2 while lic=1 tasks keep coming
 *   ahead      a task asking for lic=2 while chains of lic=1 tasks, each link
 *              placed ahead while the one before runs, hold every license
 *   steal      a starving task's reservation keeps a rank's CPU idle: a task
 *              queued on another rank is not taken back for it over and over
 *
 * All of them in turn, or the one named by the first argument.
 */
#include <stdatomic.h>

#include "testutil.h"

#define GATE_GIVE_UP_S 10.0
#define FIFO_TASKS 12
#define STARVE_SMALL_MS 50
#define STARVE_OUTSTANDING 8
#define STARVE_MAX_S 20.0
#define AHEAD_LINK_MS 100
#define AHEAD_MAX_S 10.0
#define STEAL_STREAM 40
#define STEAL_MOVED_MAX 2

static int world_rank, world_size;
static atomic_int started; /* tasks of "order" started in this process */

/* ---- remote functions ------------------------------------------------- */

/* (path) -> 1 once the file at path exists, 0 after GATE_GIVE_UP_S. */
static int fn_gate_wait(relay_ctx_t *ctx)
{
    const void *d;
    size_t n;
    if (relay_ctx_arg(ctx, 0, &d, &n) != RELAY_OK) return 1;
    int64_t opened = 0;
    for (double end = test_now() + GATE_GIVE_UP_S; !opened && test_now() < end;) {
        opened = access((const char *)d, F_OK) == 0;
        if (!opened) test_sleep(0.005);
    }
    return relay_ctx_return(ctx, 0, &opened, sizeof opened);
}

/* (path) -> 1, having created the file at path. */
static int fn_gate_open(relay_ctx_t *ctx)
{
    const void *d;
    size_t n;
    if (relay_ctx_arg(ctx, 0, &d, &n) != RELAY_OK) return 1;
    FILE *f = fopen((const char *)d, "w");
    if (!f) {
        relay_ctx_fail(ctx, "cannot create the gate %s", (const char *)d);
        return 1;
    }
    fclose(f);
    int64_t one = 1;
    return relay_ctx_return(ctx, 0, &one, sizeof one);
}

/* () -> (rank << 32) | how many "order" tasks this process started before. */
static int fn_order(relay_ctx_t *ctx)
{
    int64_t v = ((int64_t)world_rank << 32) | atomic_fetch_add(&started, 1);
    test_sleep(0.01);
    return relay_ctx_return(ctx, 0, &v, sizeof v);
}

/* ---- helpers ------------------------------------------------------------ */

/* Licenses asked for, by quantity: options keep a pointer to them. */
static relay_resource_t lic_res[3] = {{"lic", 0}, {"lic", 1}, {"lic", 2}};

static relay_task_opts_t opts(double cpus, double gpus, int lic)
{
    relay_task_opts_t o;
    memset(&o, 0, sizeof o);
    o.field_mask = RELAY_TASK_OPT_NUM_CPUS | RELAY_TASK_OPT_NUM_GPUS;
    o.num_cpus = cpus;
    o.num_gpus = gpus;
    if (lic > 0) {
        o.field_mask |= RELAY_TASK_OPT_RESOURCES;
        o.resources = &lic_res[lic];
        o.num_resources = 1;
    }
    return o;
}

/* Options asking for cpus, gpus and the n resources res (kept by the
 * caller). */
static relay_task_opts_t opts_res(double cpus, double gpus, const relay_resource_t *res, size_t n)
{
    relay_task_opts_t o = opts(cpus, gpus, 0);
    o.field_mask |= RELAY_TASK_OPT_RESOURCES;
    o.resources = res;
    o.num_resources = n;
    return o;
}

static relay_ref_t submit_path(const char *fn, const char *path, relay_task_opts_t o)
{
    relay_arg_t a = relay_arg_value(path, strlen(path) + 1);
    relay_ref_t r;
    CHECK_OK(relay_submit(fn, &a, 1, &o, &r));
    return r;
}

static void gate_path(char *buf, size_t size, const char *what)
{
    const char *dir = getenv("TMPDIR");
    snprintf(buf, size, "%s/relay_ray_sched_%ld_%s", dir && *dir ? dir : "/tmp", (long)getpid(),
             what);
    unlink(buf);
}

/* Every gated task saw the gate open: none gave up waiting for it. */
static void check_gated(const char *what, const relay_ref_t *refs, int n)
{
    for (int i = 0; i < n; i++) {
        int64_t v = test_get_i64(refs[i]);
        if (v != 1)
            printf("%s: busy task %d gave up after %.0f s: the gate opener waited behind it\n",
                   what, i, GATE_GIVE_UP_S);
        CHECK_EQ(v, 1);
    }
    CHECK_OK(relay_release_many(refs, (size_t)n));
}

/* ---- scenarios ---------------------------------------------------------- */

/* Ray starts a task asking for no CPU at once, whatever waits for CPUs. */
static void zero_cpu(int workers)
{
    char path[512];
    gate_path(path, sizeof path, "zero");
    relay_ref_t busy[12];
    int n = 3 * workers; /* one running and two queued per CPU */
    for (int i = 0; i < n; i++)
        busy[i] = submit_path("gate_wait", path, opts(1, 0, 0));
    test_sleep(0.2); /* the first ones run */
    relay_ref_t zero = submit_path("gate_open", path, opts(0, 0, 0));
    CHECK_EQ(test_get_i64(zero), 1);
    CHECK_OK(relay_release(zero));
    check_gated("zero_cpu", busy, n);
    unlink(path);
    printf("zero_cpu: PASS\n");
}

/* Tasks waiting for a GPU or a license do not hold back a CPU task. */
static void gpu(int workers)
{
    char path[512];
    gate_path(path, sizeof path, "gpu");
    relay_ref_t busy[24], waiting[4];
    int n = 0;
    for (int i = 0; i < workers; i++) {
        busy[n++] = submit_path("gate_wait", path, opts(0, 1, 0)); /* every GPU */
        busy[n++] = submit_path("gate_wait", path, opts(0, 0, 2)); /* every license */
    }
    test_sleep(0.2);
    waiting[0] = submit_path("gate_wait", path, opts(0, 1, 0));
    waiting[1] = submit_path("gate_wait", path, opts(0, 0, 1));
    relay_ref_t cpu = submit_path("gate_open", path, opts(1, 0, 0));
    CHECK_EQ(test_get_i64(cpu), 1);
    CHECK_OK(relay_release(cpu));
    check_gated("gpu", busy, n);
    check_gated("gpu", waiting, 2);
    unlink(path);
    printf("gpu: PASS\n");
}

/* Tasks of one shape start on each rank in the order submitted, 0-CPU
 * tasks mixed in or not. */
static void fifo(void)
{
    relay_ref_t order[FIFO_TASKS], zeros[FIFO_TASKS];
    relay_task_opts_t one = opts(1, 0, 0), none = opts(0, 0, 0);
    for (int i = 0; i < FIFO_TASKS; i++) {
        CHECK_OK(relay_submit("order", NULL, 0, &one, &order[i]));
        CHECK_OK(relay_submit("order", NULL, 0, &none, &zeros[i]));
    }
    int64_t last[64];
    for (int r = 0; r < 64; r++)
        last[r] = -1;
    for (int i = 0; i < FIFO_TASKS; i++) {
        int64_t v = test_get_i64(order[i]);
        int rank = (int)(v >> 32);
        int64_t seq = v & 0xffffffff;
        CHECK(rank > 0 && rank < 64);
        (void)test_get_i64(zeros[i]);
        /* Started after every earlier task of the shape on its rank. */
        if (seq <= last[rank]) printf("fifo: task %d started out of order on rank %d\n", i, rank);
        CHECK_GT(seq, last[rank]);
        last[rank] = seq;
    }
    CHECK_OK(relay_release_many(order, FIFO_TASKS));
    CHECK_OK(relay_release_many(zeros, FIFO_TASKS));
    printf("fifo: PASS\n");
}

/* A task asking for both licenses of a rank, behind tasks asking for one
 * that keep coming: after a while it reserves, and runs. */
static void starve(int workers)
{
    relay_ref_t small[STARVE_OUTSTANDING * 4];
    int64_t ms = STARVE_SMALL_MS;
    relay_arg_t a = relay_arg_value(&ms, sizeof ms);
    relay_task_opts_t lic1 = opts(0, 0, 1), lic2 = opts(0, 0, 2);
    int n = STARVE_OUTSTANDING * workers;
    for (int i = 0; i < n; i++)
        CHECK_OK(relay_submit("sleep_ms", &a, 1, &lic1, &small[i]));
    relay_ref_t big;
    CHECK_OK(relay_submit("sleep_ms", &a, 1, &lic2, &big));
    double end = test_now() + STARVE_MAX_S;
    int big_done = 0;
    uint64_t overtook = 0;
    while (!big_done && test_now() < end) {
        int ready[STARVE_OUTSTANDING * 4];
        size_t nready = 0;
        CHECK_OK(relay_wait(small, (size_t)n, 1, TEST_LONG_S, ready, &nready));
        for (int i = 0; i < n; i++) {
            if (!ready[i]) continue;
            CHECK_EQ(test_get_i64(small[i]), ms);
            CHECK_OK(relay_release(small[i]));
            CHECK_OK(relay_submit("sleep_ms", &a, 1, &lic1, &small[i]));
            overtook++;
        }
        size_t bd = 0;
        CHECK_OK(relay_wait(&big, 1, 0, 0, NULL, &bd));
        big_done = bd == 1;
    }
    if (!big_done)
        printf("starve: the lic=2 task never ran in %.0f s, %llu lic=1 tasks went first\n",
               STARVE_MAX_S, (unsigned long long)overtook);
    CHECK(big_done);
    CHECK_EQ(test_get_i64(big), ms);
    CHECK_OK(relay_release(big));
    for (int i = 0; i < n; i++)
        CHECK_EQ(test_get_i64(small[i]), ms);
    CHECK_OK(relay_release_many(small, (size_t)n));
    printf("starve: PASS (%llu small tasks finished meanwhile)\n", (unsigned long long)overtook);
}

/* A task asking for both licenses of a rank while on every rank a chain of
 * lic=1 tasks runs, each link submitted (placed ahead on its maker's rank,
 * holding the other license) while the link before runs: the links
 * placed ahead overtake it as dispatched ones would, so after a while
 * they too leave it what it waits for, and it runs. */
static void ahead(int workers)
{
    relay_ref_t run[4], next[4], big;
    int64_t ms = AHEAD_LINK_MS;
    relay_arg_t a = relay_arg_value(&ms, sizeof ms);
    relay_task_opts_t lic1 = opts(1, 0, 1), lic2 = opts(0, 0, 2);
    int n = workers < 4 ? workers : 4; /* one chain per rank: 1 CPU each */
    for (int c = 0; c < n; c++)
        CHECK_OK(relay_submit("sleep_ms", &a, 1, &lic1, &run[c]));
    for (int c = 0; c < n; c++) {
        relay_arg_t b = relay_arg_ref(run[c]);
        CHECK_OK(relay_submit("sleep_ms", &b, 1, &lic1, &next[c]));
    }
    CHECK_OK(relay_submit("sleep_ms", &a, 1, &lic2, &big));
    double end = test_now() + AHEAD_MAX_S;
    int big_done = 0;
    uint64_t links = 0;
    while (!big_done && test_now() < end) {
        int ready[4];
        size_t nready = 0;
        CHECK_OK(relay_wait(run, (size_t)n, 1, TEST_LONG_S, ready, &nready));
        for (int c = 0; c < n; c++) {
            if (!ready[c]) continue;
            CHECK_EQ(test_get_i64(run[c]), ms);
            CHECK_OK(relay_release(run[c]));
            run[c] = next[c];
            relay_arg_t b = relay_arg_ref(run[c]);
            CHECK_OK(relay_submit("sleep_ms", &b, 1, &lic1, &next[c]));
            links++;
        }
        size_t bd = 0;
        CHECK_OK(relay_wait(&big, 1, 0, 0, NULL, &bd));
        big_done = bd == 1;
    }
    if (!big_done)
        printf("ahead: the lic=2 task never ran in %.0f s, %llu links placed ahead went first\n",
               AHEAD_MAX_S, (unsigned long long)links);
    CHECK(big_done);
    CHECK_EQ(test_get_i64(big), ms);
    CHECK_OK(relay_release(big));
    for (int c = 0; c < n; c++) {
        CHECK_EQ(test_get_i64(run[c]), ms);
        CHECK_EQ(test_get_i64(next[c]), ms);
    }
    CHECK_OK(relay_release_many(run, (size_t)n));
    CHECK_OK(relay_release_many(next, (size_t)n));
    printf("ahead: PASS (%llu links submitted meanwhile)\n", (unsigned long long)links);
}

/* Rank 1 keeps its CPU and its free license for a starving task asking
 * for both licenses there (one is held); a task asking for 1 CPU and a
 * license waits in rank 2's queue behind a busy task. Every task ending on
 * rank 1 leaves a CPU there that no ready task takes, but that task must
 * not be taken back for it: rank 1 may not run it, and sent back to rank
 * 2 it would only be taken back again at the next one. */
static void steal(int workers)
{
    if (workers < 2) {
        printf("steal: skipped (one worker rank)\n");
        return;
    }
    char path[512];
    gate_path(path, sizeof path, "steal");
    static const relay_resource_t on1[] = {{"rank1", 1}}, on2[] = {{"rank2", 1}};
    static const relay_resource_t lic1_on1[] = {{"lic", 1}, {"rank1", 1}};
    static const relay_resource_t lic2_on1[] = {{"lic", 2}, {"rank1", 1}};
    uint64_t moved0 = test_stats().tasks_moved;
    relay_ref_t held[6];
    held[0] = submit_path("gate_wait", path, opts_res(1, 0, on2, 1));      /* rank 2's CPU */
    held[1] = submit_path("gate_wait", path, opts_res(0, 0, lic1_on1, 2)); /* a license of 1 */
    relay_resource_t on[4];
    char names[4][16];
    int nheld = 2;
    for (int k = 1; k <= workers && k <= 4; k++) { /* every GPU, so a GPU task waits */
        snprintf(names[k - 1], sizeof names[k - 1], "rank%d", k);
        on[k - 1] = (relay_resource_t){names[k - 1], 1};
        held[nheld++] = submit_path("gate_wait", path, opts_res(0, 1, &on[k - 1], 1));
    }
    int64_t ms = 100, short_ms = 10;
    relay_arg_t a = relay_arg_value(&ms, sizeof ms),
                s = relay_arg_value(&short_ms, sizeof short_ms);
    relay_task_opts_t o = opts_res(0, 0, on2, 1), big_o = opts_res(0, 0, lic2_on1, 2);
    relay_task_opts_t gpu_o = opts(0, 1, 0), t_o = opts(1, 0, 1);
    relay_ref_t input, big, gpu, t;
    CHECK_OK(relay_submit("sleep_ms", &a, 1, &o, &input));
    CHECK_OK(relay_submit("sleep_ms", &s, 1, &big_o, &big));
    CHECK_OK(relay_submit("sleep_ms", &s, 1, &gpu_o, &gpu));
    relay_arg_t b = relay_arg_ref(input);
    CHECK_OK(relay_submit("sleep_ms", &b, 1, &t_o, &t)); /* placed ahead on rank 2 */
    CHECK_EQ(test_get_i64(input), ms);
    test_sleep(1.0); /* big starves: its reservation begins */
    relay_task_opts_t stream_o = opts_res(0, 0, on1, 1);
    for (int i = 0; i < STEAL_STREAM; i++) {
        relay_ref_t r;
        CHECK_OK(relay_submit("sleep_ms", &s, 1, &stream_o, &r));
        CHECK_EQ(test_get_i64(r), short_ms);
        CHECK_OK(relay_release(r));
    }
    uint64_t moved = test_stats().tasks_moved - moved0;
    relay_ref_t open = submit_path("gate_open", path, opts_res(0, 0, on1, 1));
    CHECK_EQ(test_get_i64(open), 1);
    CHECK_OK(relay_release(open));
    check_gated("steal", held, nheld);
    CHECK_EQ(test_get_i64(big), short_ms);
    CHECK_EQ(test_get_i64(gpu), short_ms);
    CHECK_EQ(test_get_i64(t), ms);
    relay_ref_t rest[] = {input, big, gpu, t};
    CHECK_OK(relay_release_many(rest, 4));
    unlink(path);
    if (moved > STEAL_MOVED_MAX)
        printf("steal: a queued task was taken back %llu times for a rank that may not run it\n",
               (unsigned long long)moved);
    CHECK_LE(moved, STEAL_MOVED_MAX);
    printf("steal: PASS (%llu tasks moved)\n", (unsigned long long)moved);
}

/* ---- layout and main ---------------------------------------------------- */

static const char *only; /* argv[1]: run that scenario alone */

static int wanted(const char *scenario)
{
    return !only || !strcmp(only, scenario);
}

int main(int argc, char **argv)
{
    only = argc > 1 ? argv[1] : NULL;
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (world_size < 2 || world_size > 5) {
        fprintf(stderr, "test_ray_sched runs on 2 to 5 ranks\n");
        MPI_Finalize();
        return TEST_SKIP;
    }
    CHECK_OK(relay_register("gate_wait", fn_gate_wait));
    CHECK_OK(relay_register("gate_open", fn_gate_open));
    CHECK_OK(relay_register("order", fn_order));
    CHECK_OK(relay_register("sleep_ms", test_fn_sleep_ms));
    /* lic=2 everywhere; "rank<k>" pins a task to worker rank k. */
    char here[16];
    snprintf(here, sizeof here, "rank%d", world_rank);
    relay_resource_t lic[2] = {{"lic", 2}, {here, 64}};
    relay_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.field_mask = RELAY_CONFIG_NUM_CPUS | RELAY_CONFIG_NUM_GPUS | RELAY_CONFIG_RESOURCES;
    cfg.num_cpus = 1;
    cfg.num_gpus = 1;
    cfg.resources = lic;
    cfg.num_resources = world_rank > 0 ? 2 : 1;
    CHECK_OK(relay_init(&argc, &argv, &cfg));
    if (world_rank == 0) {
        CHECK(!test_driver_hosts_workers(world_size));
        int workers = world_size - 1;
        if (wanted("zero_cpu")) zero_cpu(workers);
        if (wanted("gpu")) gpu(workers);
        if (wanted("fifo")) fifo();
        if (wanted("starve")) starve(workers);
        if (wanted("ahead")) ahead(workers);
        if (wanted("steal")) steal(workers);
    }
    test_barrier();
    relay_stats_t s = test_stats();
    CHECK_EQ(s.tasks_blocked, 0);
    CHECK_OK(relay_finalize());
    MPI_Finalize();
    if (world_rank == 0) printf("ray_sched: PASS\n");
    return 0;
}
