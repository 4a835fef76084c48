/* relay_cluster_resources and relay_available_resources on 3 ranks whose
 * layout each rank's config sets (so it does not depend on the machine):
 *
 *   rank 0: 1 CPU, no GPU, pool=1 (it hosts workers too)
 *   rank 1: 2 CPUs, 1 (virtual) GPU, license=2, slot=1
 *   rank 2: 3 CPUs, 2 GPUs, license=1, ssd=1.5
 *
 * Totals per rank and for the job; what is free at rest (asked from every
 * rank's main thread: rank 0 reads its books, the others ask it), while
 * tasks hold CPUs, GPUs and custom resources (they wait for a file the
 * driver creates), from the driver and from inside a task on rank 2, with
 * a blocked task's CPU given back; everything free again once they are
 * done; and bad input. */
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define NAMES 4 /* custom resources of the job: license, pool, slot, ssd */

static int world_rank;
static char gate[256]; /* tasks run until this file exists */

/* What a set should hold: quantities, and the custom resources by name. */
typedef struct want {
    double cpus, gpus;
    size_t n;
    const char *names[NAMES];
    double qty[NAMES];
} want_t;

static long long units(double q)
{
    return llround(q * 10000);
}

static void check_set_at(const char *file, int line, const relay_resource_set_t *s, want_t w)
{
    CHECK_CMP_AT(file, line, units(s->cpus), ==, units(w.cpus));
    CHECK_CMP_AT(file, line, units(s->gpus), ==, units(w.gpus));
    CHECK_CMP_AT(file, line, s->num_custom, ==, w.n);
    for (size_t i = 0; i < w.n && i < s->custom_cap; i++) {
        if (strcmp(s->custom[i].name, w.names[i]) != 0) {
            fprintf(stderr, "%s:%d: custom[%zu] is '%s', not '%s'\n", file, line, i,
                    s->custom[i].name, w.names[i]);
            CHECK(!"custom resource names");
        }
        CHECK_CMP_AT(file, line, units(s->custom[i].quantity), ==, units(w.qty[i]));
    }
}
#define CHECK_SET(s, ...) check_set_at(__FILE__, __LINE__, (s), (want_t){__VA_ARGS__})

/* One call into a set with room for every custom resource. */
static int query(int (*call)(int, relay_resource_set_t *), int rank, relay_resource_set_t *s,
                 relay_resource_t *buf)
{
    memset(s, 0, sizeof *s);
    s->custom = buf;
    s->custom_cap = NAMES;
    return call(rank, s);
}

/* ---- the layout -------------------------------------------------------- */

static const want_t total_job = {6, 3, 4, {"license", "pool", "slot", "ssd"}, {3, 1, 1, 1.5}};
static const want_t total_r0 = {1, 0, 1, {"pool"}, {1}};
static const want_t total_r1 = {2, 1, 2, {"license", "slot"}, {2, 1}};
static const want_t total_r2 = {3, 2, 2, {"license", "ssd"}, {1, 1.5}};

static const want_t *total_of(int rank)
{
    const want_t *t[] = {&total_job, &total_r0, &total_r1, &total_r2};
    return t[rank + 1];
}

static relay_config_t layout(void)
{
    static relay_resource_t r0[] = {{"pool", 1}}, r1[] = {{"slot", 1}, {"license", 2}},
                            r2[] = {{"license", 1}, {"ssd", 1.5}};
    relay_config_t c;
    memset(&c, 0, sizeof c);
    c.field_mask = RELAY_CONFIG_NUM_CPUS | RELAY_CONFIG_NUM_GPUS | RELAY_CONFIG_RESOURCES |
                   RELAY_CONFIG_DRIVER_WORKERS;
    c.driver_workers = 1;
    c.num_cpus = world_rank + 1;
    c.num_gpus = world_rank;
    c.resources = world_rank == 0 ? r0 : world_rank == 1 ? r1 : r2;
    c.num_resources = world_rank == 0 ? 1 : 2;
    return c;
}

/* ---- tasks --------------------------------------------------------------- */

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fclose(f);
}

/* Argument 0: a name; creates <gate>.<name> (it started), then runs,
 * holding what it asked for, until the gate exists. */
static int hold_until_gate(relay_ctx_t *ctx, char *started, size_t n)
{
    const void *name;
    size_t size;
    TASK_OK(ctx, relay_ctx_arg(ctx, 0, &name, &size));
    snprintf(started, n, "%s.%.*s", gate, (int)size, (const char *)name);
    touch(started);
    while (!exists(gate))
        test_sleep(0.001);
    return 0;
}

static int fn_hold(relay_ctx_t *ctx)
{
    char started[300];
    if (hold_until_gate(ctx, started, sizeof started)) return 1;
    return test_ret_i64(ctx, 1);
}

static int fn_child(relay_ctx_t *ctx)
{
    return fn_hold(ctx);
}

/* Blocks in relay_get on a child (pool=1: it runs on rank 0) that holds
 * until the gate: its CPU goes back meanwhile. */
static int fn_parent(relay_ctx_t *ctx)
{
    static const relay_resource_t pool = {"pool", 1};
    relay_task_opts_t o;
    memset(&o, 0, sizeof o);
    o.field_mask = RELAY_TASK_OPT_RESOURCES;
    o.resources = &pool;
    o.num_resources = 1;
    relay_arg_t a = relay_arg_value("child", 5);
    relay_ref_t r;
    TASK_OK(ctx, relay_submit("child", &a, 1, &o, &r));
    int64_t v = 0;
    TASK_OK(ctx, relay_get_value(r, &v, sizeof v, RELAY_FOREVER));
    TASK_OK(ctx, relay_release(r));
    return test_ret_i64(ctx, v + 1);
}

/* From inside a task on a worker rank: what is free on the job and on
 * ranks 1 and 2, as {cpus, gpus, then each custom quantity} x 3. */
static int fn_probe(relay_ctx_t *ctx)
{
    double out[3][2 + NAMES] = {{0}};
    const int ranks[3] = {-1, 1, 2};
    for (int k = 0; k < 3; k++) {
        relay_resource_t buf[NAMES];
        relay_resource_set_t s;
        TASK_OK(ctx, query(relay_available_resources, ranks[k], &s, buf));
        out[k][0] = s.cpus;
        out[k][1] = s.gpus;
        for (size_t i = 0; i < s.num_custom; i++)
            out[k][2 + i] = s.custom[i].quantity;
    }
    return relay_ctx_return(ctx, 0, out, sizeof out);
}

/* ---- the driver ---------------------------------------------------------- */

static void check_totals(void)
{
    for (int rank = -1; rank < 3; rank++) {
        relay_resource_t buf[NAMES];
        relay_resource_set_t s;
        CHECK_OK(query(relay_cluster_resources, rank, &s, buf));
        check_set_at(__FILE__, __LINE__, &s, *total_of(rank));
    }
}

/* At rest everything is free. */
static void check_all_free(void)
{
    for (int rank = -1; rank < 3; rank++) {
        relay_resource_t buf[NAMES];
        relay_resource_set_t s;
        CHECK_OK(query(relay_available_resources, rank, &s, buf));
        check_set_at(__FILE__, __LINE__, &s, *total_of(rank));
    }
}

static relay_ref_t submit_holding(const char *fn, const char *name, double cpus, double gpus,
                                  const relay_resource_t *res, size_t nres)
{
    relay_task_opts_t o;
    memset(&o, 0, sizeof o);
    o.field_mask =
        RELAY_TASK_OPT_NUM_CPUS | RELAY_TASK_OPT_NUM_GPUS | (nres ? RELAY_TASK_OPT_RESOURCES : 0);
    o.num_cpus = cpus;
    o.num_gpus = gpus;
    o.resources = res;
    o.num_resources = nres;
    relay_arg_t a = relay_arg_value(name, strlen(name));
    relay_ref_t r;
    CHECK_OK(relay_submit(fn, &a, 1, &o, &r));
    return r;
}

static void wait_started(const char *name)
{
    char path[300];
    snprintf(path, sizeof path, "%s.%s", gate, name);
    double end = test_now() + TEST_LONG_S;
    while (!exists(path)) {
        CHECK(test_now() < end);
        test_sleep(0.002);
    }
}

/* Polls until rank's free CPUs are cpus (a BLOCK reaches rank 0 a moment
 * after the task blocked). */
static void wait_free_cpus(int rank, double cpus)
{
    double end = test_now() + TEST_LONG_S;
    for (;;) {
        relay_resource_t buf[NAMES];
        relay_resource_set_t s;
        CHECK_OK(query(relay_available_resources, rank, &s, buf));
        if (units(s.cpus) == units(cpus)) return;
        CHECK(test_now() < end);
        test_sleep(0.002);
    }
}

static void drive_held(void)
{
    static const relay_resource_t lic2 = {"license", 2}, ssd1 = {"ssd", 1}, ssd_half = {"ssd", 0.5};
    /* Rank 1: 1 CPU, its GPU, both licenses. Rank 2: 2 CPUs, half a GPU,
     * 1 ssd. */
    relay_ref_t a = submit_holding("hold", "a", 1, 1, &lic2, 1);
    relay_ref_t b = submit_holding("hold", "b", 2, 0.5, &ssd1, 1);
    wait_started("a");
    wait_started("b");
    relay_resource_t buf[NAMES];
    relay_resource_set_t s;
    CHECK_OK(query(relay_available_resources, -1, &s, buf));
    CHECK_SET(&s, 3, 1.5, 4, {"license", "pool", "slot", "ssd"}, {1, 1, 1, 0.5});
    CHECK_OK(query(relay_available_resources, 1, &s, buf));
    CHECK_SET(&s, 1, 0, 2, {"license", "slot"}, {0, 1}); /* all in use, still listed */
    CHECK_OK(query(relay_available_resources, 2, &s, buf));
    CHECK_SET(&s, 1, 1.5, 2, {"license", "ssd"}, {1, 0.5});
    /* Totals do not move. */
    CHECK_OK(query(relay_cluster_resources, -1, &s, buf));
    CHECK_SET(&s, 6, 3, 4, {"license", "pool", "slot", "ssd"}, {3, 1, 1, 1.5});

    /* The probe takes rank 2's last CPU and its last ssd, and asks. */
    relay_ref_t p = submit_holding("probe", "p", 1, 0, &ssd_half, 1);
    double got[3][2 + NAMES];
    CHECK_OK(relay_get_value(p, got, sizeof got, TEST_LONG_S));
    const double want[3][2 + NAMES] = {
        {2, 1.5, 1, 1, 1, 0}, /* job: license, pool, slot, ssd */
        {1, 0, 0, 1},         /* rank 1: license, slot */
        {0, 1.5, 1, 0},       /* rank 2: license, ssd */
    };
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 2 + NAMES; i++)
            CHECK_EQ(units(got[k][i]), units(want[k][i]));
    CHECK_OK(relay_release(p));

    /* Rank 1's other CPU and its slot: a task that blocks in relay_get on
     * a child holding rank 0's CPU and its pool. Blocked, it gives its CPU
     * back, not its slot. */
    static const relay_resource_t slot = {"slot", 1};
    relay_ref_t q = submit_holding("parent", "parent", 1, 0, &slot, 1);
    wait_started("child");
    wait_free_cpus(1, 1);
    CHECK_OK(query(relay_available_resources, 0, &s, buf));
    CHECK_SET(&s, 0, 0, 1, {"pool"}, {0});
    CHECK_OK(query(relay_available_resources, -1, &s, buf));
    CHECK_SET(&s, 2, 1.5, 4, {"license", "pool", "slot", "ssd"}, {1, 0, 0, 0.5});

    touch(gate);
    CHECK_EQ(test_get_i64(a), 1);
    CHECK_EQ(test_get_i64(b), 1);
    CHECK_EQ(test_get_i64(q), 2);
    CHECK_OK(relay_release(a));
    CHECK_OK(relay_release(b));
    CHECK_OK(relay_release(q));
    /* Their DONE records gave everything back before the gets returned. */
    check_all_free();
}

static void check_bad_input(void)
{
    relay_resource_t buf[NAMES];
    relay_resource_set_t s;
    int (*calls[2])(int, relay_resource_set_t *) = {relay_cluster_resources,
                                                    relay_available_resources};
    for (int k = 0; k < 2; k++) {
        CHECK_STATUS(query(calls[k], 3, &s, buf), RELAY_ERR_INVALID_ARG);
        CHECK_CONTAINS(relay_last_error(), "rank 3 is not -1 or in 0..2");
        CHECK_STATUS(query(calls[k], -2, &s, buf), RELAY_ERR_INVALID_ARG);
        CHECK_STATUS(calls[k](0, NULL), RELAY_ERR_INVALID_ARG);
        CHECK_CONTAINS(relay_last_error(), "res_p is NULL");
        memset(&s, 0, sizeof s);
        s.custom_cap = 2;
        CHECK_STATUS(calls[k](0, &s), RELAY_ERR_INVALID_ARG);
        CHECK_CONTAINS(relay_last_error(), "custom is NULL and custom_cap is 2");
        /* Too small: what fits is filled, the count says how many there are. */
        relay_resource_t one[2] = {{NULL, -1}, {NULL, -1}};
        memset(&s, 0, sizeof s);
        s.custom = one;
        s.custom_cap = 1;
        CHECK_STATUS(calls[k](-1, &s), RELAY_ERR_TRUNCATED);
        CHECK_CONTAINS(relay_last_error(), "4 custom resources, custom_cap is 1");
        CHECK_SET(&s, 6, 3, 4, {"license"}, {3});
        CHECK(one[1].name == NULL && one[1].quantity == -1); /* nothing past custom_cap */
        /* No array: the count only. */
        memset(&s, 0, sizeof s);
        CHECK_STATUS(calls[k](2, &s), RELAY_ERR_TRUNCATED);
        CHECK_EQ(s.num_custom, 2);
        CHECK_EQ(units(s.cpus), units(3));
        /* Room enough for a rank with fewer: OK. */
        memset(&s, 0, sizeof s);
        s.custom = one;
        s.custom_cap = 1;
        CHECK_OK(calls[k](0, &s));
        CHECK_SET(&s, 1, 0, 1, {"pool"}, {1});
    }
}

int main(int argc, char **argv)
{
    int provided, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != 3) {
        fprintf(stderr, "test_cluster_resources needs 3 ranks\n");
        MPI_Finalize();
        return TEST_SKIP;
    }
    /* Every rank knows the gate's name: rank 0's pid, shared. */
    long pid = (long)getpid();
    MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    snprintf(gate, sizeof gate, "/tmp/relay-cluster-resources-%ld", pid);
    CHECK_OK(relay_register("hold", fn_hold));
    CHECK_OK(relay_register("child", fn_child));
    CHECK_OK(relay_register("parent", fn_parent));
    CHECK_OK(relay_register("probe", fn_probe));
    relay_config_t cfg = layout();
    CHECK_OK(relay_init(&argc, &argv, &cfg));

    /* Every rank: the same totals, and everything free at rest (ranks 1
     * and 2 ask rank 0 from their main threads). */
    check_totals();
    check_all_free();
    test_barrier();
    if (world_rank == 0) {
        check_bad_input();
        drive_held();
        const char *names[] = {"a", "b", "child"};
        char path[300];
        for (int i = 0; i < 3; i++) {
            snprintf(path, sizeof path, "%s.%s", gate, names[i]);
            unlink(path);
        }
        unlink(gate);
    }
    test_barrier();
    CHECK_OK(relay_finalize());
    /* Outside relay_init..finalize. */
    relay_resource_set_t s;
    memset(&s, 0, sizeof s);
    CHECK_STATUS(relay_cluster_resources(-1, &s), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_available_resources(-1, &s), RELAY_ERR_NOT_INITIALIZED);
    MPI_Finalize();
    if (world_rank == 0) printf("cluster_resources: PASS\n");
    return 0;
}
