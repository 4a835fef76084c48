/* Ray's semantics of wait, get_many and GPU ids, as code ported from Ray
 * relies on them: wait(refs, k) flags exactly k ready refs, the first in
 * input order, and rejects repeated refs; get_many returns a failure at
 * once instead of waiting for the other refs; a task sees the physical ids
 * of its GPUs (CUDA_VISIBLE_DEVICES), not only the ordinals.
 *
 * Refs that are never ready come from gate tasks, which run until the
 * worker ranks' main threads open the gate at the end. Scenarios: all (the
 * default), or one of wait, loop, repeat, failfast, intask, gpu. */
#include <stdatomic.h>

#include "testutil.h"

#define INLINE_MAX_DEFAULT (100 * 1024)

/* Set on each worker rank once the driver is done: gate tasks return. */
static atomic_int gate_open;

static relay_task_opts_t no_cpu_opts(void)
{
    relay_task_opts_t o;
    memset(&o, 0, sizeof o);
    o.field_mask = RELAY_TASK_OPT_NUM_CPUS;
    o.num_cpus = 0; /* never in the way of the tasks under test */
    return o;
}

/* () -> 1, once the gate opens (or after two minutes). */
static int fn_gate(relay_ctx_t *ctx)
{
    double t0 = test_now();
    while (!atomic_load(&gate_open) && test_now() - t0 < 120)
        test_sleep(0.005);
    int64_t v = 1;
    return relay_ctx_return(ctx, 0, &v, sizeof v);
}

/* (ms: int64) -> fails after ms milliseconds. */
static int fn_fail_after(relay_ctx_t *ctx)
{
    int64_t ms;
    if (test_ctx_arg_fixed(ctx, 0, &ms, sizeof ms)) return 1;
    test_sleep((double)ms / 1000.0);
    relay_ctx_fail(ctx, "failed on purpose after %lld ms", (long long)ms);
    return 1;
}

static relay_ref_t submit_gate(void)
{
    relay_task_opts_t o = no_cpu_opts();
    relay_ref_t r;
    CHECK_OK(relay_submit("gate", NULL, 0, &o, &r));
    return r;
}

static relay_ref_t submit_fail_after(int64_t ms)
{
    relay_task_opts_t o = no_cpu_opts();
    relay_arg_t a = relay_arg_value(&ms, sizeof ms);
    relay_ref_t r;
    CHECK_OK(relay_submit("fail_after", &a, 1, &o, &r));
    return r;
}

/* Waits until ref is ready (it is then ready for any later wait). */
static void await_ready(relay_ref_t ref)
{
    CHECK_OK(relay_wait(&ref, 1, 1, TEST_LONG_S, NULL, NULL));
}

/* relay_wait(refs, n, k, timeout) must return want and flag exactly the
 * indices in flags ("0101": refs 1 and 3). */
static void expect_wait(const relay_ref_t *refs, size_t n, size_t k, double timeout_s, int want,
                        const char *flags, int line)
{
    int ready[16];
    size_t nready = 99;
    for (size_t i = 0; i < n; i++)
        ready[i] = -1;
    int rc = relay_wait(refs, n, k, timeout_s, ready, &nready);
    char got[17] = {0};
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        got[i] = ready[i] == 1 ? '1' : ready[i] == 0 ? '0' : '?';
        count += ready[i] == 1;
    }
    printf("line %d: wait(n=%zu, k=%zu, timeout %.2f) -> %s, %zu ready, flags %s (want %s)\n", line,
           n, k, timeout_s, relay_status_name(rc), nready, got, flags);
    fflush(stdout);
    CHECK_STATUS_AT(__FILE__, line, rc, want);
    CHECK_CMP_AT(__FILE__, line, nready, ==, count);
    CHECK_STREQ(got, flags);
}
#define EXPECT_WAIT(refs, n, k, t, want, flags)                                                    \
    expect_wait((refs), (n), (k), (t), (want), (flags), __LINE__)

/* wait flags exactly k ready refs, the first in input order. */
static void check_wait_exact(void)
{
    relay_ref_t g1 = submit_gate(), g2 = submit_gate();
    relay_ref_t p1 = test_put_i64(1), p2 = test_put_i64(2);
    relay_ref_t four[4] = {g1, p1, g2, p2};
    EXPECT_WAIT(four, 4, 1, TEST_LONG_S, RELAY_OK, "0100");
    EXPECT_WAIT(four, 4, 2, TEST_LONG_S, RELAY_OK, "0101");
    EXPECT_WAIT(four, 4, 1, 0.0, RELAY_OK, "0100");
    /* More than are ready: TIMEOUT with the ready ones. */
    EXPECT_WAIT(four, 4, 3, 0.3, RELAY_ERR_TIMEOUT, "0101");
    EXPECT_WAIT(four, 4, 3, 0.0, RELAY_ERR_TIMEOUT, "0101");
    /* num_ready 0 polls: every ref ready now (the documented deviation). */
    EXPECT_WAIT(four, 4, 0, TEST_LONG_S, RELAY_OK, "0101");

    /* Ten ready, two wanted: the first two. */
    relay_ref_t ten[10];
    for (int i = 0; i < 10; i++)
        ten[i] = test_put_i64(i);
    EXPECT_WAIT(ten, 10, 2, TEST_LONG_S, RELAY_OK, "1100000000");
    EXPECT_WAIT(ten, 10, 10, TEST_LONG_S, RELAY_OK, "1111111111");
    EXPECT_WAIT(ten + 5, 5, 3, 0.0, RELAY_OK, "11100");

    /* Input order, not the order answers come in: a large object in this
     * rank's own store is known at once, an inline one earlier in the list
     * only after rank 0 answers. */
    size_t big = 2 * INLINE_MAX_DEFAULT;
    char *buf = calloc(1, big);
    CHECK(buf != NULL);
    relay_ref_t large;
    CHECK_OK(relay_put(buf, big, &large));
    free(buf);
    relay_ref_t order[3] = {g1, p1, large};
    EXPECT_WAIT(order, 3, 1, TEST_LONG_S, RELAY_OK, "010");
    relay_ref_t order2[2] = {p2, large};
    EXPECT_WAIT(order2, 2, 1, TEST_LONG_S, RELAY_OK, "10");

    /* A failed task is ready like any other. */
    relay_ref_t f = submit_fail_after(0);
    await_ready(f);
    relay_ref_t mixed[3] = {g2, f, p2};
    EXPECT_WAIT(mixed, 3, 1, TEST_LONG_S, RELAY_OK, "010");

    relay_ref_t all[] = {g1, g2, p1, p2, large, f};
    CHECK_OK(relay_release_many(all, sizeof all / sizeof all[0]));
    CHECK_OK(relay_release_many(ten, 10));
}

/* The Ray loop: wait for one, handle it, wait for the rest. Each ref is
 * handled exactly once, and the ones ready together come in input order. */
static void check_wait_loop(void)
{
    enum { NPUT = 4, NTASK = 4, N = NPUT + NTASK };
    relay_ref_t refs[N];
    int64_t want[N];
    for (int i = 0; i < NPUT; i++) {
        refs[i] = test_put_i64(100 + i);
        want[i] = 100 + i;
    }
    for (int i = 0; i < NTASK; i++) {
        int64_t ms = 400 - 100 * i; /* the last submitted finishes first */
        relay_arg_t a = relay_arg_value(&ms, sizeof ms);
        refs[NPUT + i] = test_submit("sleep_ms", &a, 1);
        want[NPUT + i] = ms;
    }
    relay_ref_t left[N];
    int64_t left_want[N];
    memcpy(left, refs, sizeof refs);
    memcpy(left_want, want, sizeof want);
    size_t n = N;
    int handled = 0;
    while (n > 0) {
        int ready[N];
        size_t nready = 0;
        CHECK_OK(relay_wait(left, n, 1, TEST_LONG_S, ready, &nready));
        CHECK_EQ(nready, 1);
        size_t at = n;
        for (size_t i = 0; i < n; i++)
            if (ready[i]) {
                CHECK_EQ(at, n); /* one flag only */
                at = i;
            }
        CHECK_LT(at, n);
        if (handled < NPUT) CHECK_EQ(at, 0); /* the puts, first in the list, in order */
        CHECK_EQ(test_get_i64(left[at]), left_want[at]);
        handled++;
        memmove(left + at, left + at + 1, (n - at - 1) * sizeof *left);
        memmove(left_want + at, left_want + at + 1, (n - at - 1) * sizeof *left_want);
        n--;
    }
    CHECK_EQ(handled, N);
    CHECK_OK(relay_release_many(refs, N));
}

/* A repeated ref: INVALID_ARG naming both indices, outputs untouched. */
static void check_wait_repeat(void)
{
    relay_ref_t a = test_put_i64(1), b = test_put_i64(2);
    relay_ref_t refs[3] = {a, b, a};
    int ready[3] = {-1, -1, -1};
    size_t nready = 99;
    for (size_t k = 0; k <= 3; k++) {
        CHECK_STATUS(relay_wait(refs, 3, k, 1.0, ready, &nready), RELAY_ERR_INVALID_ARG);
        CHECK_CONTAINS(relay_last_error(), "refs[2]");
        CHECK_CONTAINS(relay_last_error(), "refs[0]");
        CHECK_EQ(nready, 99);
        for (int i = 0; i < 3; i++)
            CHECK_EQ(ready[i], -1);
    }
    printf("repeated ref: \"%s\"\n", relay_last_error());
    /* Distinct refs still work, and get_many still takes repeats. */
    EXPECT_WAIT(refs, 2, 2, TEST_LONG_S, RELAY_OK, "11");
    relay_object_t objs[3];
    CHECK_OK(relay_get_many(refs, 3, TEST_LONG_S, objs));
    for (int i = 0; i < 3; i++)
        CHECK_OK(relay_object_free(objs[i]));
    CHECK_OK(relay_release(a));
    CHECK_OK(relay_release(b));
}

/* get_many(refs) with a failed ref and one never ready: the failure comes
 * back at once. Checks the views (the failed one set, the other NULL),
 * and that rank 0 keeps no waiter for the abandoned ref. */
static void expect_fail_fast(const relay_ref_t *refs, size_t n, size_t failed, double timeout_s)
{
    relay_object_t objs[4];
    for (size_t i = 0; i < n; i++)
        objs[i] = (relay_object_t)(uintptr_t)0x1; /* must be overwritten */
    double t0 = test_now();
    int rc = relay_get_many(refs, n, timeout_s, objs);
    double took = test_now() - t0;
    printf("get_many(n=%zu, failed at %zu, timeout %.1f) -> %s after %.3f s: %s\n", n, failed,
           timeout_s, relay_status_name(rc), took, relay_last_error());
    fflush(stdout);
    CHECK_STATUS(rc, RELAY_ERR_TASK_FAILED);
    CHECK_CONTAINS(relay_last_error(), "failed on purpose");
    for (size_t i = 0; i < n; i++) {
        if (i != failed) {
            CHECK(objs[i] == NULL);
            continue;
        }
        CHECK(objs[i] != NULL);
        CHECK_STATUS(relay_object_status(objs[i]), RELAY_ERR_TASK_FAILED);
        CHECK_CONTAINS(relay_object_error(objs[i]), "failed on purpose");
        CHECK_OK(relay_object_free(objs[i]));
    }
    CHECK_EQ(test_stats().live_views, 0);
    CHECK_OK(relay_sync(TEST_LONG_S));
    CHECK_EQ(test_stats().directory_waiters, 0); /* the driver is rank 0 */
}

static void check_get_fail_fast(void)
{
    relay_ref_t gate = submit_gate(), f = submit_fail_after(0);
    await_ready(f);
    relay_ref_t fg[2] = {f, gate}, gf[2] = {gate, f};
    expect_fail_fast(fg, 2, 0, 15.0);
    expect_fail_fast(gf, 2, 1, 15.0);
    expect_fail_fast(gf, 2, 1, RELAY_FOREVER);
    /* A zero timeout: the failure wins over the ref not ready. */
    expect_fail_fast(gf, 2, 1, 0.0);
    /* A failure that comes while the get waits. */
    relay_ref_t later = submit_fail_after(300);
    relay_ref_t gl[2] = {gate, later};
    expect_fail_fast(gl, 2, 1, 15.0);

    /* Every object in: every view set, as before. */
    relay_ref_t p = test_put_i64(5);
    relay_ref_t pf[2] = {p, f};
    relay_object_t objs[2] = {NULL, NULL};
    CHECK_STATUS(relay_get_many(pf, 2, TEST_LONG_S, objs), RELAY_ERR_TASK_FAILED);
    CHECK(objs[0] != NULL && objs[1] != NULL);
    CHECK_OK(relay_object_status(objs[0]));
    CHECK_OK(relay_object_free(objs[0]));
    CHECK_OK(relay_object_free(objs[1]));
    /* Nothing failed, one not ready: TIMEOUT, none set. */
    relay_ref_t pg[2] = {p, gate};
    objs[0] = objs[1] = NULL;
    CHECK_STATUS(relay_get_many(pg, 2, 0.2, objs), RELAY_ERR_TIMEOUT);
    CHECK(objs[0] == NULL && objs[1] == NULL);

    relay_ref_t all[] = {gate, f, later, p};
    CHECK_OK(relay_release_many(all, 4));
    CHECK_OK(relay_sync(TEST_LONG_S));
    CHECK_EQ(test_stats().directory_waiters, 0);
}

/* What the task below saw. */
typedef struct fast_report {
    int32_t status, first_set, second_null;
    double took, cpus_free_before, cpus_free_after;
    uint64_t blocked_after;
} fast_report_t;

/* (ids: two uint64 ref ids) -> fast_report_t: get_many of them inside a
 * task, which blocks (its CPU goes back) until the failure comes. */
static int fn_get_many_in_task(relay_ctx_t *ctx)
{
    uint64_t ids[2];
    if (test_ctx_arg_fixed(ctx, 0, ids, sizeof ids)) return 1;
    relay_ref_t refs[2] = {{ids[0]}, {ids[1]}};
    fast_report_t rep;
    memset(&rep, 0, sizeof rep);
    relay_resources_t res;
    TASK_OK(ctx, relay_local_resources(&res));
    rep.cpus_free_before = res.cpus_free;
    relay_object_t objs[2] = {NULL, NULL};
    double t0 = test_now();
    rep.status = relay_get_many(refs, 2, 8.0, objs);
    rep.took = test_now() - t0;
    rep.first_set = objs[0] != NULL;
    rep.second_null = objs[1] == NULL;
    TASK_OK(ctx, relay_local_resources(&res));
    rep.cpus_free_after = res.cpus_free;
    relay_stats_t s;
    TASK_OK(ctx, relay_stats(&s));
    rep.blocked_after = s.tasks_blocked;
    for (int i = 0; i < 2; i++)
        if (objs[i]) relay_object_free(objs[i]);
    return relay_ctx_return(ctx, 0, &rep, sizeof rep);
}

static void check_fail_fast_in_task(void)
{
    relay_ref_t gate = submit_gate(), later = submit_fail_after(300);
    uint64_t ids[2] = {later.id, gate.id};
    relay_arg_t a = relay_arg_value(ids, sizeof ids);
    relay_ref_t r = test_submit("get_many_in_task", &a, 1);
    fast_report_t rep;
    CHECK_OK(relay_get_value(r, &rep, sizeof rep, TEST_LONG_S));
    printf("in a task: get_many -> %s after %.3f s; first set %d, second NULL %d; CPUs free "
           "%.2f before, %.2f after; %llu blocked after\n",
           relay_status_name(rep.status), rep.took, rep.first_set, rep.second_null,
           rep.cpus_free_before, rep.cpus_free_after, (unsigned long long)rep.blocked_after);
    fflush(stdout);
    CHECK_STATUS(rep.status, RELAY_ERR_TASK_FAILED);
    CHECK(rep.first_set && rep.second_null);
    /* The CPU it gave back while blocked is its own again. */
    CHECK(rep.cpus_free_after == rep.cpus_free_before);
    CHECK_EQ(rep.blocked_after, 0);
    relay_ref_t all[] = {gate, later, r};
    CHECK_OK(relay_release_many(all, 3));
}

/* (n: int32) -> n ordinals then n physical ids (int32), then n names of
 * RELAY_GPU_NAME_MAX bytes. */
enum { GPU_MAX = 3 };
typedef struct gpu_report {
    int32_t n, ordinals[GPU_MAX], physical[GPU_MAX];
    char names[GPU_MAX][RELAY_GPU_NAME_MAX];
} gpu_report_t;

static int fn_gpu_ids(relay_ctx_t *ctx)
{
    gpu_report_t rep;
    memset(&rep, 0, sizeof rep);
    int ord[GPU_MAX], phys[GPU_MAX];
    size_t n = 0, n2 = 0;
    TASK_OK(ctx, relay_ctx_gpu_ids(ctx, ord, GPU_MAX, &n));
    TASK_OK(ctx, relay_ctx_gpu_physical_ids(ctx, phys, GPU_MAX, &n2));
    if (n != n2 || n > GPU_MAX) return relay_ctx_fail(ctx, "%zu ordinals, %zu ids", n, n2), 1;
    rep.n = (int32_t)n;
    for (size_t i = 0; i < n; i++) {
        rep.ordinals[i] = ord[i];
        rep.physical[i] = phys[i];
        TASK_OK(ctx, relay_ctx_gpu_physical_name(ctx, i, rep.names[i], RELAY_GPU_NAME_MAX));
    }
    char tiny[1];
    if (n && relay_ctx_gpu_physical_name(ctx, 0, tiny, 1) != RELAY_ERR_SIZE_MISMATCH)
        return relay_ctx_fail(ctx, "a 1-byte buffer took a GPU id"), 1;
    if (relay_ctx_gpu_physical_name(ctx, n, rep.names[0], RELAY_GPU_NAME_MAX) !=
        RELAY_ERR_OUT_OF_RANGE)
        return relay_ctx_fail(ctx, "GPU %zu of %zu was given", n, n), 1;
    return relay_ctx_return(ctx, 0, &rep, sizeof rep);
}

static gpu_report_t run_gpu_task(double gpus)
{
    relay_task_opts_t o;
    memset(&o, 0, sizeof o);
    o.field_mask = RELAY_TASK_OPT_NUM_GPUS;
    o.num_gpus = gpus;
    relay_ref_t r;
    CHECK_OK(relay_submit("gpu_ids", NULL, 0, &o, &r));
    gpu_report_t rep;
    CHECK_OK(relay_get_value(r, &rep, sizeof rep, TEST_LONG_S));
    CHECK_OK(relay_release(r));
    return rep;
}

/* CUDA_VISIBLE_DEVICES=4,5,6 (set by main before relay_init) and three
 * (virtual, here) GPUs per worker rank: ordinals 0..2, physical ids 4..6. */
static void check_gpu_ids(void)
{
    gpu_report_t rep = run_gpu_task(3);
    CHECK_EQ(rep.n, 3);
    int seen = 0;
    for (int i = 0; i < 3; i++) {
        printf("GPU %d: ordinal %d, physical id %d, name \"%s\"\n", i, rep.ordinals[i],
               rep.physical[i], rep.names[i]);
        CHECK(rep.ordinals[i] >= 0 && rep.ordinals[i] < 3);
        seen |= 1 << rep.ordinals[i];
        CHECK_EQ(rep.physical[i], 4 + rep.ordinals[i]);
        char want[8];
        snprintf(want, sizeof want, "%d", 4 + rep.ordinals[i]);
        CHECK_STREQ(rep.names[i], want);
    }
    CHECK_EQ(seen, 7);
    for (int k = 0; k < 4; k++) {
        rep = run_gpu_task(1);
        CHECK_EQ(rep.n, 1);
        CHECK_EQ(rep.physical[0], 4 + rep.ordinals[0]);
    }
    rep = run_gpu_task(0);
    CHECK_EQ(rep.n, 0);
}

typedef struct scenario {
    const char *name;
    void (*run)(void);
} scenario_t;

static const scenario_t scenarios[] = {
    {"wait", check_wait_exact},          {"loop", check_wait_loop},
    {"repeat", check_wait_repeat},       {"failfast", check_get_fail_fast},
    {"intask", check_fail_fast_in_task}, {"gpu", check_gpu_ids},
};

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : "all";
    /* As a job script would; read by relay_init (and by CUDA, which then
     * sees no device where there are fewer than seven: all virtual). */
    setenv("CUDA_VISIBLE_DEVICES", "4,5,6", 1);
    CHECK_OK(relay_register("gate", fn_gate));
    CHECK_OK(relay_register("fail_after", fn_fail_after));
    CHECK_OK(relay_register("sleep_ms", test_fn_sleep_ms));
    CHECK_OK(relay_register("get_many_in_task", fn_get_many_in_task));
    CHECK_OK(relay_register("gpu_ids", fn_gpu_ids));
    relay_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.field_mask = RELAY_CONFIG_NUM_GPUS;
    cfg.num_gpus = 3;
    CHECK_OK(relay_init(&argc, &argv, &cfg));
    int rank = test_rank(), size = test_size();
    if (rank == 0) {
        CHECK_OK(relay_sync(TEST_LONG_S));
        relay_stats_t base = test_stats();
        int ran = 0;
        for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
            if (strcmp(only, "all") && strcmp(only, scenarios[i].name)) continue;
            printf("--- %s\n", scenarios[i].name);
            fflush(stdout);
            scenarios[i].run();
            ran++;
        }
        CHECK_GT(ran, 0);
        /* The gates open: their tasks end, and with them the last objects. */
        atomic_store(&gate_open, 1);
        test_barrier();
        relay_stats_t s = test_wait_directory(base.directory_objects, base.directory_bytes, 10.0);
        test_check_at_rest("ray_wait driver", &s, 0);
    }
    if (rank != 0) {
        test_barrier(); /* the driver is done with the gates */
        atomic_store(&gate_open, 1);
    }
    CHECK_OK(relay_finalize());
    if (rank == 0) printf("ray_wait: PASS (%d ranks)\n", size);
    return 0;
}
