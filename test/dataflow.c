/*
 * Dataflow: tasks placed on their rank before their inputs exist, and the
 * inputs passed straight from the makers' ranks.
 *
 *   test_dataflow chain      a chain stays on its maker's rank, handed over
 *                            with no message; every link was placed ahead
 *   test_dataflow alternate  a chain forced across two ranks: each link
 *                            pushed from the rank of its maker
 *   test_dataflow fail       a consumer placed ahead whose maker fails
 *                            fails, naming it; a maker that fails once and
 *                            is retried still feeds its consumer
 *   test_dataflow spill      a chain of large objects under a tiny store
 *                            budget: each input read back from the spill
 *   test_dataflow blocked    tasks that were pushed their input block in a
 *                            get at once; every CPU comes back
 *   test_dataflow deadlock   a task placed ahead holds the only unit of a
 *                            resource its own maker waits for: taken back
 *   test_dataflow cycle      a task holding the only slot waits for a
 *                            consumer placed ahead of a task that needs
 *                            the slot: a real deadlock, detected
 *   test_dataflow fanout     one maker, many consumers spread over ranks,
 *                            one reduction placed ahead of them all
 *   test_dataflow moved      consumers pushed their input on a slow rank
 *                            are taken back from its queue by an idle one
 *   test_dataflow shared     consumers on one rank of a large object made on
 *                            another: one transfer feeds them all
 *
 * Rank 0 drives; ranks 1 and 2 run tasks (each offers one CPU; alternate,
 * blocked, spill, moved and shared give them custom resources). Every scenario ends
 * with no task waiting anywhere and the CPUs all free.
 */
#define _GNU_SOURCE

#include <mpi.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "relay.h"
#include "testutil.h"

static int world_rank, world_size;
static const char *scenario;
static char spill_dir[256];

/* A walk down a chain: links so far, the rank of the last one, how many
 * times the chain changed rank. */
typedef struct walk {
    int64_t links;
    int32_t last_rank, moves;
} walk_t;

static int my_rank(relay_ctx_t *ctx)
{
    int r = -1;
    relay_ctx_rank(ctx, &r);
    return r;
}

/* (walk) -> walk one link further. */
static int fn_step(relay_ctx_t *ctx)
{
    walk_t w;
    if (test_ctx_arg_fixed(ctx, 0, &w, sizeof w)) return 1;
    int r = my_rank(ctx);
    if (w.links > 0 && r != w.last_rank) w.moves++;
    w.links++;
    w.last_rank = r;
    return relay_ctx_return(ctx, 0, &w, sizeof w);
}

/* (walk, ms) -> the walk's first link, after ms: the makers of a chain
 * stay busy while the rest of it is submitted (and placed ahead). */
static int fn_slow_first(relay_ctx_t *ctx)
{
    int64_t ms;
    if (test_ctx_arg_fixed(ctx, 1, &ms, sizeof ms)) return 1;
    test_sleep((double)ms / 1000.0);
    return fn_step(ctx);
}

/* (ms) -> fails after ms. */
static int fn_boom(relay_ctx_t *ctx)
{
    int64_t ms;
    if (test_ctx_arg_fixed(ctx, 0, &ms, sizeof ms)) return 1;
    test_sleep((double)ms / 1000.0);
    return relay_ctx_fail(ctx, "boom, as planned");
}

/* (ms, marker path) -> 7 after ms, failing the first attempt (the one that
 * finds no marker file; ranks share the machine's file system). */
static int fn_flaky(relay_ctx_t *ctx)
{
    int64_t ms, seven = 7;
    const void *path;
    size_t n;
    if (test_ctx_arg_fixed(ctx, 0, &ms, sizeof ms) || relay_ctx_arg(ctx, 1, &path, &n)) return 1;
    test_sleep((double)ms / 1000.0);
    FILE *f = fopen((const char *)path, "r");
    if (!f) {
        f = fopen((const char *)path, "w");
        if (f) fclose(f);
        return relay_ctx_fail(ctx, "first attempt fails");
    }
    fclose(f);
    return relay_ctx_return(ctx, 0, &seven, sizeof seven);
}

static relay_task_opts_t on_resource(relay_resource_t *res, const char *name)
{
    relay_task_opts_t o;
    memset(&o, 0, sizeof o);
    res->name = name;
    res->quantity = 1;
    o.field_mask = RELAY_TASK_OPT_RESOURCES;
    o.resources = res;
    o.num_resources = 1;
    return o;
}

/* (v) -> v + 1. */
static int fn_add1(relay_ctx_t *ctx)
{
    return test_fn_add1(ctx);
}

/* (ms) -> ms after sleeping. */
static int fn_sleep(relay_ctx_t *ctx)
{
    return test_fn_sleep_ms(ctx);
}

#define BIG (2u << 20) /* bytes of a large link */

/* Return a big object of pattern k. */
static int return_big(relay_ctx_t *ctx, uint64_t k)
{
    void *out = malloc(BIG);
    if (!out) return 1;
    test_fill(out, BIG, k);
    int rc = relay_ctx_return(ctx, 0, out, BIG);
    free(out);
    return rc;
}

/* (big of pattern k, k) -> big of pattern k + 1: checks what it got. */
static int fn_big_step(relay_ctx_t *ctx)
{
    const void *in;
    size_t n;
    uint64_t k;
    if (relay_ctx_arg(ctx, 0, &in, &n) || test_ctx_arg_fixed(ctx, 1, &k, sizeof k)) return 1;
    if (n != BIG || test_verify(in, n, k) != SIZE_MAX)
        return relay_ctx_fail(ctx, "link %llu corrupt", (unsigned long long)k);
    return return_big(ctx, k + 1);
}

/* (seed) -> big of pattern seed, after 200 ms. */
static int fn_big_first(relay_ctx_t *ctx)
{
    uint64_t k;
    if (test_ctx_arg_fixed(ctx, 0, &k, sizeof k)) return 1;
    test_sleep(0.2);
    return return_big(ctx, k);
}

/* Wait until path exists (the driver opens a gate), at most TEST_LONG_S.
 * 0, or -1 after failing the task. */
static int wait_for_path(relay_ctx_t *ctx, const char *path)
{
    for (double end = test_now() + TEST_LONG_S; access(path, F_OK) != 0; test_sleep(0.001))
        if (test_now() > end) return relay_ctx_fail(ctx, "the gate %s never opened", path), -1;
    return 0;
}

/* (path) -> 0, once path exists. */
static int fn_wait_file(relay_ctx_t *ctx)
{
    const void *path;
    size_t n;
    int64_t zero = 0;
    if (relay_ctx_arg(ctx, 0, &path, &n) || wait_for_path(ctx, path)) return 1;
    return relay_ctx_return(ctx, 0, &zero, sizeof zero);
}

/* (seed, path) -> big of pattern seed, once path exists (the driver's
 * gate). */
static int fn_big_gated(relay_ctx_t *ctx)
{
    uint64_t k;
    const void *path;
    size_t n;
    if (test_ctx_arg_fixed(ctx, 0, &k, sizeof k) || relay_ctx_arg(ctx, 1, &path, &n) ||
        wait_for_path(ctx, path))
        return 1;
    return return_big(ctx, k);
}

/* (v, resource name) -> v + 1, computed by a nested task this one blocks
 * for at once (its input was just pushed to it). */
static int fn_block_at_once(relay_ctx_t *ctx)
{
    int64_t v, out = 0;
    if (test_ctx_arg_fixed(ctx, 0, &v, sizeof v)) return 1;
    relay_arg_t a = relay_arg_value(&v, sizeof v);
    relay_ref_t r;
    TASK_OK(ctx, relay_submit("add1", &a, 1, NULL, &r));
    int rc = relay_get_value(r, &out, sizeof out, TEST_LONG_S);
    relay_release(r);
    if (rc != RELAY_OK) return relay_ctx_fail(ctx, "nested get: %s", relay_strerror(rc));
    return relay_ctx_return(ctx, 0, &out, sizeof out);
}

/* (ms) -> the status of a get on a task asking for the only "slot", which
 * it submits after ms: by then a task placed ahead of this one's return
 * holds the slot. */
static int fn_wait_for_slot(relay_ctx_t *ctx)
{
    int64_t ms, v = 0;
    if (test_ctx_arg_fixed(ctx, 0, &ms, sizeof ms)) return 1;
    test_sleep((double)ms / 1000.0);
    relay_resource_t slot;
    relay_task_opts_t o = on_resource(&slot, "slot");
    relay_arg_t a = relay_arg_value(&v, sizeof v);
    relay_ref_t r;
    TASK_OK(ctx, relay_submit("add1", &a, 1, &o, &r));
    int64_t st = relay_get_value(r, &v, sizeof v, TEST_LONG_S);
    relay_release(r);
    return relay_ctx_return(ctx, 0, &st, sizeof st);
}

/* (v) -> v + 1, slowly on rank 1 (400 ms), quickly elsewhere (20 ms). */
static int fn_slow_on_1(relay_ctx_t *ctx)
{
    test_sleep(my_rank(ctx) == 1 ? 0.4 : 0.02);
    return test_fn_add1(ctx);
}

/* () -> the status of a get on a consumer (placed ahead) of a task that
 * needs the slot this one holds: a cycle no placement can break. */
static int fn_hold_slot_wait(relay_ctx_t *ctx)
{
    int64_t v = 0;
    relay_resource_t slot;
    relay_task_opts_t o = on_resource(&slot, "slot");
    relay_arg_t a = relay_arg_value(&v, sizeof v);
    relay_ref_t needs_slot, consumer;
    TASK_OK(ctx, relay_submit("add1", &a, 1, &o, &needs_slot));
    relay_arg_t b = relay_arg_ref(needs_slot);
    TASK_OK(ctx, relay_submit("add1", &b, 1, NULL, &consumer));
    int64_t st = relay_get_value(consumer, &v, sizeof v, TEST_LONG_S);
    relay_release(consumer);
    relay_release(needs_slot);
    return relay_ctx_return(ctx, 0, &st, sizeof st);
}

/* (n int64 args) -> their sum. */
static int fn_sum(relay_ctx_t *ctx)
{
    int64_t sum = 0, v;
    size_t n = 0;
    while (test_ctx_arg_fixed(ctx, n, &v, sizeof v) == RELAY_OK) {
        sum += v;
        n++;
    }
    return relay_ctx_return(ctx, 0, &sum, sizeof sum);
}

/* ---- helpers --------------------------------------------------------------- */

/* A chain of n links, the first one slow; links alternate between the
 * resources even and odd when asked. Returns the last link's ref. */
static relay_ref_t chain(int n, int alternate, relay_ref_t *first_p)
{
    walk_t w0 = {0, -1, 0};
    int64_t ms = 300;
    relay_resource_t res;
    relay_task_opts_t o = on_resource(&res, "even");
    relay_arg_t a[2] = {relay_arg_value(&w0, sizeof w0), relay_arg_value(&ms, sizeof ms)};
    relay_ref_t prev;
    CHECK_OK(relay_submit("slow_first", a, 2, alternate ? &o : NULL, &prev));
    *first_p = prev;
    for (int i = 1; i < n; i++) {
        res.name = i % 2 ? "odd" : "even";
        relay_arg_t b = relay_arg_ref(prev);
        relay_ref_t next;
        CHECK_OK(relay_submit("step", &b, 1, alternate ? &o : NULL, &next));
        if (prev.id != first_p->id) CHECK_OK(relay_release(prev));
        prev = next;
    }
    return prev;
}

static walk_t get_walk(relay_ref_t r)
{
    walk_t w;
    memset(&w, 0, sizeof w);
    CHECK_OK(relay_get_value(r, &w, sizeof w, TEST_LONG_S));
    return w;
}

/* Every rank's dataflow counters, summed. */
typedef struct flow_sums {
    uint64_t placed, pushed, handed, forwarded, waiting;
} flow_sums_t;

static flow_sums_t flow_sums(void)
{
    relay_stats_t s = test_stats();
    flow_sums_t f;
    f.placed = test_allreduce_sum_u64(s.tasks_placed_ahead);
    f.pushed = test_allreduce_sum_u64(s.objects_pushed);
    f.handed = test_allreduce_sum_u64(s.objects_handed_over);
    f.forwarded = test_allreduce_sum_u64(s.objects_forwarded);
    f.waiting = test_allreduce_sum_u64(s.tasks_waiting);
    return f;
}

/* ---- scenarios (rank 0) ------------------------------------------------------ */

#define LINKS 200

static void drive_chain(void)
{
    relay_ref_t first, last = chain(LINKS, 0, &first);
    walk_t w = get_walk(last);
    CHECK_EQ(w.links, LINKS);
    CHECK_EQ(w.moves, 0); /* every link ran where its input was made */
    CHECK_EQ(get_walk(first).links, 1);
    CHECK_OK(relay_release(first));
    CHECK_OK(relay_release(last));
}

static void drive_alternate(void)
{
    relay_ref_t first, last = chain(LINKS, 1, &first);
    walk_t w = get_walk(last);
    CHECK_EQ(w.links, LINKS);
    CHECK_EQ(w.moves, LINKS - 1); /* even and odd live on different ranks */
    CHECK_OK(relay_release(first));
    CHECK_OK(relay_release(last));
}

static void drive_fail(void)
{
    /* A maker that fails after its consumers were placed ahead. */
    int64_t ms = 300;
    relay_arg_t a = relay_arg_value(&ms, sizeof ms);
    relay_ref_t bad = test_submit("boom", &a, 1), refs[5];
    relay_ref_t prev = bad;
    for (int i = 0; i < 5; i++) {
        relay_arg_t b = relay_arg_ref(prev);
        refs[i] = prev = test_submit("add1", &b, 1);
    }
    relay_stats_t s = test_stats();
    CHECK_GE(s.tasks_placed_ahead, 5);
    for (int i = 0; i < 5; i++) {
        relay_object_t o = NULL;
        CHECK_STATUS(relay_get(refs[i], TEST_LONG_S, &o), RELAY_ERR_TASK_FAILED);
        const char *why = relay_object_error(o);
        CHECK(why != NULL);
        CHECK_CONTAINS(why, "was not run");
        if (i == 0) CHECK_CONTAINS(why, "boom, as planned");
        CHECK_OK(relay_object_free(o));
        CHECK_OK(relay_release(refs[i]));
    }
    relay_object_t o = NULL;
    CHECK_STATUS(relay_get(bad, TEST_LONG_S, &o), RELAY_ERR_TASK_FAILED);
    CHECK_OK(relay_object_free(o));
    CHECK_OK(relay_release(bad));

    /* A maker that fails once, is retried, and then feeds its consumer. */
    char path[300];
    snprintf(path, sizeof path, "%s/relay-dataflow-flaky-%d",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    remove(path);
    relay_task_opts_t opt;
    memset(&opt, 0, sizeof opt);
    opt.field_mask = RELAY_TASK_OPT_MAX_RETRIES;
    opt.max_retries = 1;
    relay_arg_t f[2] = {relay_arg_value(&ms, sizeof ms), relay_arg_value(path, strlen(path) + 1)};
    relay_ref_t flaky, next;
    CHECK_OK(relay_submit("flaky", f, 2, &opt, &flaky));
    relay_arg_t b = relay_arg_ref(flaky);
    CHECK_OK(relay_submit("add1", &b, 1, NULL, &next));
    CHECK_EQ(test_get_i64(next), 8);
    CHECK_EQ(test_get_i64(flaky), 7);
    CHECK_OK(relay_release(flaky));
    CHECK_OK(relay_release(next));
    remove(path);
}

/* The gate file of link i of the spill scenario. */
static void gate_path(char *path, size_t n, int i)
{
    snprintf(path, n, "%s/gate-%d", spill_dir, i);
}

static void drive_spill(void)
{
    /* Links alternate ranks; each also waits for a gate (a task of no CPU
     * on its own rank) that opens 150 ms after its large input, made on
     * the other rank, exists: by then that input is in its rank's spill
     * file, and the link's fetch reads it back from there. */
    enum { n = 8 };
    uint64_t k = 100;
    relay_resource_t res;
    relay_task_opts_t o = on_resource(&res, "even");
    relay_arg_t a = relay_arg_value(&k, sizeof k);
    relay_ref_t link[n + 1], gates[n];
    CHECK_OK(relay_submit("big_first", &a, 1, &o, &link[0]));
    for (int i = 0; i < n; i++) {
        uint64_t seed = k + (uint64_t)i;
        res.name = i % 2 ? "even" : "odd";
        char path[300];
        gate_path(path, sizeof path, i);
        relay_task_opts_t g = o;
        g.field_mask |= RELAY_TASK_OPT_NUM_CPUS;
        g.num_cpus = 0;
        relay_arg_t ga = relay_arg_value(path, strlen(path) + 1);
        CHECK_OK(relay_submit("wait_file", &ga, 1, &g, &gates[i]));
        relay_arg_t b[3] = {relay_arg_ref(link[i]), relay_arg_value(&seed, sizeof seed),
                            relay_arg_ref(gates[i])};
        CHECK_OK(relay_submit("big_step", b, 3, &o, &link[i + 1]));
    }
    for (int i = 0; i < n; i++) {
        CHECK_OK(relay_wait(&link[i], 1, 1, TEST_LONG_S, NULL, NULL));
        test_sleep(0.15);
        char path[300];
        gate_path(path, sizeof path, i);
        FILE *f = fopen(path, "w");
        CHECK(f != NULL);
        fclose(f);
    }
    relay_object_t obj;
    CHECK_OK(relay_get(link[n], TEST_LONG_S, &obj));
    const void *data = relay_object_data(obj);
    size_t size = relay_object_size(obj);
    CHECK_EQ(size, BIG);
    CHECK_EQ(test_verify(data, size, k + (uint64_t)n), SIZE_MAX);
    CHECK_OK(relay_object_free(obj));
    CHECK_OK(relay_release_many(link, n + 1));
    CHECK_OK(relay_release_many(gates, n));
    for (int i = 0; i < n; i++) {
        char path[300];
        gate_path(path, sizeof path, i);
        unlink(path);
    }
}

static void drive_blocked(void)
{
    /* Each link's input is pushed from the other rank; it blocks at once. */
    const int n = 20;
    int64_t ms = 200;
    relay_resource_t res;
    relay_task_opts_t o = on_resource(&res, "even");
    relay_arg_t a = relay_arg_value(&ms, sizeof ms);
    relay_ref_t prev;
    CHECK_OK(relay_submit("sleep", &a, 1, &o, &prev));
    relay_ref_t first = prev;
    for (int i = 1; i <= n; i++) {
        res.name = i % 2 ? "odd" : "even";
        relay_arg_t b = relay_arg_ref(prev);
        relay_ref_t next;
        CHECK_OK(relay_submit("block_at_once", &b, 1, &o, &next));
        if (prev.id != first.id) CHECK_OK(relay_release(prev));
        prev = next;
    }
    CHECK_EQ(test_get_i64(prev), ms + n);
    CHECK_OK(relay_release(prev));
    CHECK_OK(relay_release(first));
}

static void drive_deadlock(void)
{
    /* waiter runs, then submits a task for the only slot and waits for it;
     * its consumer, placed ahead on the slot's rank, holds that slot. */
    int64_t ms = 300;
    relay_arg_t a = relay_arg_value(&ms, sizeof ms);
    relay_ref_t waiter = test_submit("wait_for_slot", &a, 1), consumer;
    relay_resource_t res;
    relay_task_opts_t o = on_resource(&res, "slot");
    relay_arg_t b = relay_arg_ref(waiter);
    CHECK_OK(relay_submit("add1", &b, 1, &o, &consumer));
    CHECK_GE(test_stats().tasks_placed_ahead, 1);
    /* The consumer is taken back from its rank, the slot freed: no task
     * fails, as if it had never been placed ahead. */
    CHECK_EQ(test_get_i64(waiter), RELAY_OK);
    CHECK_EQ(test_get_i64(consumer), RELAY_OK + 1);
    CHECK_GE(test_stats().tasks_moved, 1);
    CHECK_OK(relay_release(waiter));
    CHECK_OK(relay_release(consumer));
}

static void drive_cycle(void)
{
    relay_resource_t res;
    relay_task_opts_t o = on_resource(&res, "slot");
    relay_ref_t holder;
    CHECK_OK(relay_submit("hold_slot_wait", NULL, 0, &o, &holder));
    CHECK_EQ(test_get_i64(holder), RELAY_ERR_DEADLOCK);
    CHECK_GE(test_stats().tasks_placed_ahead, 1);
    CHECK_OK(relay_release(holder));
}

static void drive_fanout(void)
{
    const int n = 300;
    int64_t ms = 200;
    relay_arg_t a = relay_arg_value(&ms, sizeof ms);
    relay_ref_t root = test_submit("sleep", &a, 1);
    relay_ref_t *mid = malloc((size_t)n * sizeof *mid);
    relay_arg_t *args = malloc((size_t)n * sizeof *args);
    CHECK(mid && args);
    relay_arg_t b = relay_arg_ref(root);
    for (int i = 0; i < n; i++) {
        mid[i] = test_submit("add1", &b, 1);
        args[i] = relay_arg_ref(mid[i]);
    }
    relay_ref_t sum = test_submit("sum", args, (size_t)n);
    CHECK_EQ(test_get_i64(sum), (int64_t)n * (ms + 1));
    CHECK_OK(relay_release_many(mid, (size_t)n));
    CHECK_OK(relay_release(sum));
    CHECK_OK(relay_release(root));
    free(mid);
    free(args);
}

static void drive_moved(void)
{
    /* The maker runs on rank 2 ("odd"); its consumers are spread over both
     * ranks, those on rank 1 pushed their input from rank 2. Rank 2 runs
     * its own quickly, then takes back some of rank 1's queued ones. */
    const int n = 8;
    int64_t ms = 200;
    relay_resource_t res;
    relay_task_opts_t o = on_resource(&res, "odd");
    relay_arg_t a = relay_arg_value(&ms, sizeof ms);
    relay_ref_t root, refs[8];
    CHECK_OK(relay_submit("sleep", &a, 1, &o, &root));
    relay_arg_t b = relay_arg_ref(root);
    for (int i = 0; i < n; i++)
        refs[i] = test_submit("slow_on_1", &b, 1);
    for (int i = 0; i < n; i++)
        CHECK_EQ(test_get_i64(refs[i]), ms + 1);
    CHECK_GE(test_stats().tasks_moved, 1);
    CHECK_OK(relay_release_many(refs, (size_t)n));
    CHECK_OK(relay_release(root));
}

#define SHARED_CONSUMERS 6

static void drive_shared(void)
{
    /* The maker on rank 2 ("odd") waits at a gate while its consumers are
     * placed on rank 1 ("even"); they all become ready together and share
     * one fetch. */
    char gate[300];
    snprintf(gate, sizeof gate, "%s/relay-dataflow-gate-%d",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    unlink(gate);
    relay_resource_t res;
    relay_task_opts_t odd = on_resource(&res, "odd");
    uint64_t seed = 41;
    relay_arg_t a[2] = {relay_arg_value(&seed, sizeof seed),
                        relay_arg_value(gate, strlen(gate) + 1)};
    relay_ref_t root, out[SHARED_CONSUMERS];
    CHECK_OK(relay_submit("big_gated", a, 2, &odd, &root));
    relay_resource_t res2;
    relay_task_opts_t even = on_resource(&res2, "even");
    relay_arg_t b[2] = {relay_arg_ref(root), relay_arg_value(&seed, sizeof seed)};
    for (int i = 0; i < SHARED_CONSUMERS; i++)
        CHECK_OK(relay_submit("big_step", b, 2, &even, &out[i]));
    /* Every consumer placed ahead, and its task on its way to rank 1. */
    CHECK_OK(relay_sync(TEST_LONG_S));
    for (double end = test_now() + TEST_LONG_S;
         test_stats().tasks_placed_ahead < SHARED_CONSUMERS && test_now() < end;)
        test_sleep(0.001);
    test_sleep(0.1);
    FILE *f = fopen(gate, "w");
    CHECK(f != NULL);
    fclose(f);
    for (int i = 0; i < SHARED_CONSUMERS; i++) {
        relay_object_t o;
        CHECK_OK(relay_get(out[i], TEST_LONG_S, &o));
        CHECK_EQ(relay_object_size(o), BIG);
        CHECK_EQ(test_verify(relay_object_data(o), BIG, seed + 1), SIZE_MAX);
        CHECK_OK(relay_object_free(o));
    }
    unlink(gate);
    CHECK_OK(relay_release_many(out, SHARED_CONSUMERS));
    CHECK_OK(relay_release(root));
}

static const struct {
    const char *name;
    void (*drive)(void);
} scenarios[] = {{"chain", drive_chain},     {"alternate", drive_alternate},
                 {"fail", drive_fail},       {"spill", drive_spill},
                 {"blocked", drive_blocked}, {"deadlock", drive_deadlock},
                 {"cycle", drive_cycle},     {"fanout", drive_fanout},
                 {"moved", drive_moved},     {"shared", drive_shared}};

/* ---- layout and main ---------------------------------------------------------- */

static relay_config_t layout(void)
{
    static relay_resource_t even[1] = {{"even", 1000}}, odd[1] = {{"odd", 1000}};
    static relay_resource_t slot[1] = {{"slot", 1}};
    relay_config_t c;
    memset(&c, 0, sizeof c);
    c.field_mask = RELAY_CONFIG_NUM_CPUS | RELAY_CONFIG_NUM_GPUS;
    c.num_cpus = 1;
    if (!strcmp(scenario, "alternate") || !strcmp(scenario, "blocked") ||
        !strcmp(scenario, "spill") || !strcmp(scenario, "moved") || !strcmp(scenario, "shared")) {
        c.field_mask |= RELAY_CONFIG_RESOURCES;
        c.resources = world_rank == 1 ? even : world_rank == 2 ? odd : NULL;
        c.num_resources = world_rank == 1 || world_rank == 2;
    } else if (!strcmp(scenario, "deadlock") || !strcmp(scenario, "cycle")) {
        c.field_mask |= RELAY_CONFIG_RESOURCES;
        c.resources = slot;
        c.num_resources = world_rank == 1;
    }
    if (!strcmp(scenario, "spill")) {
        c.field_mask |= RELAY_CONFIG_SPILL_DIR | RELAY_CONFIG_STORE_BUDGET;
        c.spill_dir = spill_dir;
        c.store_budget = 1u << 20;
    }
    return c;
}

static void make_spill_dir(void)
{
    if (world_rank == 0) {
        snprintf(spill_dir, sizeof spill_dir, "%s/relay-dataflow-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        CHECK(mkdtemp(spill_dir) != NULL);
    }
    MPI_Bcast(spill_dir, sizeof spill_dir, MPI_CHAR, 0, MPI_COMM_WORLD);
}

static void check_rest(void)
{
    /* Nothing waits anywhere, and every CPU is free again. */
    flow_sums_t f = flow_sums();
    CHECK_EQ(f.waiting, 0);
    relay_resources_t r;
    CHECK_OK(relay_local_resources(&r));
    CHECK_EQ(r.cpus_free, r.cpus);
    if (world_rank == 0) {
        relay_stats_t s = test_stats();
        printf("dataflow %s: placed ahead %llu, pushed %llu, handed over %llu, forwarded %llu, "
               "moved %llu\n",
               scenario, (unsigned long long)f.placed, (unsigned long long)f.pushed,
               (unsigned long long)f.handed, (unsigned long long)f.forwarded,
               (unsigned long long)s.tasks_moved);
        CHECK_EQ(s.tasks_pending, 0);
    }
    if (!strcmp(scenario, "chain")) {
        CHECK_GE(f.placed, LINKS - 1);
        CHECK_GE(f.handed, LINKS - 1 - f.forwarded);
    } else if (!strcmp(scenario, "alternate")) {
        CHECK_GE(f.placed, LINKS - 1);
        CHECK_GE(f.pushed + f.forwarded, LINKS - 1);
        CHECK_GT(f.pushed, 0);
    } else if (!strcmp(scenario, "fanout")) {
        CHECK_GT(f.placed, 0);
    } else if (!strcmp(scenario, "moved")) {
        CHECK_GT(f.pushed + f.forwarded, 0); /* rank 1 got the input by message */
    } else if (!strcmp(scenario, "shared") && world_rank == 1) {
        /* One transfer, not one per consumer (six before): at most two,
         * should one consumer's task reach rank 1 after the object. */
        CHECK_LE(test_stats().bytes_fetched, 2 * BIG);
    }
}

int main(int argc, char **argv)
{
    scenario = argc > 1 ? argv[1] : "chain";
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (world_size != 3) {
        fprintf(stderr, "test_dataflow needs 3 ranks\n");
        MPI_Finalize();
        return TEST_SKIP;
    }
    if (!strcmp(scenario, "spill")) make_spill_dir();
    CHECK_OK(relay_register("step", fn_step));
    CHECK_OK(relay_register("slow_first", fn_slow_first));
    CHECK_OK(relay_register("boom", fn_boom));
    CHECK_OK(relay_register("flaky", fn_flaky));
    CHECK_OK(relay_register("add1", fn_add1));
    CHECK_OK(relay_register("sleep", fn_sleep));
    CHECK_OK(relay_register("big_step", fn_big_step));
    CHECK_OK(relay_register("big_first", fn_big_first));
    CHECK_OK(relay_register("big_gated", fn_big_gated));
    CHECK_OK(relay_register("wait_file", fn_wait_file));
    CHECK_OK(relay_register("block_at_once", fn_block_at_once));
    CHECK_OK(relay_register("wait_for_slot", fn_wait_for_slot));
    CHECK_OK(relay_register("sum", fn_sum));
    CHECK_OK(relay_register("slow_on_1", fn_slow_on_1));
    CHECK_OK(relay_register("hold_slot_wait", fn_hold_slot_wait));
    relay_config_t cfg = layout();
    CHECK_OK(relay_init(&argc, &argv, &cfg));
    if (world_rank == 0) {
        void (*drive)(void) = NULL;
        for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
            if (!strcmp(scenario, scenarios[i].name)) drive = scenarios[i].drive;
        CHECK(drive != NULL); /* an unknown scenario */
        drive();
    }
    test_barrier();
    check_rest();
    relay_stats_t s = test_stats();
    uint64_t spilled = test_allreduce_sum_u64(s.spill_reads);
    if (!strcmp(scenario, "spill")) CHECK_GT(spilled, 0); /* inputs came back from the file */
    CHECK_OK(relay_finalize());
    if (world_rank == 0 && spill_dir[0]) rmdir(spill_dir);
    MPI_Finalize();
    if (world_rank == 0) printf("dataflow %s: PASS\n", scenario);
    return 0;
}
