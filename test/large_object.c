/* Large objects cross ranks byte-exact: 64 MiB (16 MiB under ThreadSanitizer)
 * made by a task on a worker and got by the driver; as much put by the driver
 * and checked by a task on a worker; objects just under, at and just over
 * RELAY_INLINE_MAX (inline ones live in rank 0's directory, larger ones in
 * their maker's store). Every primary copy is freed once released. Run at 2
 * and 3 ranks, and with RELAY_CHUNK_BYTES=1048576 to force many chunks per
 * transfer. */
#include "testutil.h"

/* ThreadSanitizer checks every byte the test fills, hashes and verifies,
 * which made the three runs its slowest tests: there 16 MiB, which still
 * crosses in one chunk (default RELAY_CHUNK_BYTES) and in many (1 MiB). */
#if TEST_TSAN
#define BIG ((size_t)16 << 20)
#else
#define BIG ((size_t)64 << 20)
#endif

typedef struct check_result {
    uint64_t bad_offset; /* UINT64_MAX: all bytes match */
    uint64_t hash;
    int64_t rank;
} check_result_t;

/* (data, size, seed) → check_result_t. */
static int fn_check(relay_ctx_t *ctx)
{
    const void *d;
    size_t sz;
    uint64_t size, seed;
    if (relay_ctx_arg(ctx, 0, &d, &sz) || test_ctx_arg_fixed(ctx, 1, &size, sizeof size) ||
        test_ctx_arg_fixed(ctx, 2, &seed, sizeof seed))
        return 1;
    if (sz != size) {
        relay_ctx_fail(ctx, "argument has %zu bytes, want %llu", sz, (unsigned long long)size);
        return 1;
    }
    check_result_t r;
    size_t bad = test_verify(d, sz, seed);
    r.bad_offset = bad == SIZE_MAX ? UINT64_MAX : (uint64_t)bad;
    r.hash = test_hash(d, sz);
    int rank = -1;
    relay_ctx_rank(ctx, &rank);
    r.rank = rank;
    return relay_ctx_return(ctx, 0, &r, sizeof r);
}

static check_result_t check_by_task(relay_ref_t data, size_t size, uint64_t seed)
{
    uint64_t meta[2] = {size, seed};
    relay_arg_t args[3] = {relay_arg_ref(data), relay_arg_value(&meta[0], 8),
                           relay_arg_value(&meta[1], 8)};
    relay_ref_t r = test_submit("check", args, 3);
    check_result_t res;
    CHECK_OK(relay_get_value(r, &res, sizeof res, TEST_LONG_S));
    CHECK_OK(relay_release(r));
    return res;
}

/* RELAY_INLINE_MAX as relay reads it (plain number or K/M/G suffix). */
static size_t inline_max(void)
{
    const char *e = getenv("RELAY_INLINE_MAX");
    if (!e) return 102400;
    char *end;
    unsigned long long v = strtoull(e, &end, 10);
    if (*end == 'K' || *end == 'k') v <<= 10;
    if (*end == 'M' || *end == 'm') v <<= 20;
    if (*end == 'G' || *end == 'g') v <<= 30;
    return (size_t)v;
}

/* Hash of every argument's bytes, in order. */
static int fn_hash_args(relay_ctx_t *ctx)
{
    uint64_t h = 0;
    for (size_t i = 0; i < relay_ctx_num_args(ctx); i++) {
        const void *d;
        size_t n;
        if (relay_ctx_arg(ctx, i, &d, &n) != RELAY_OK) return 1;
        h = h * 31 + test_hash(d, n);
    }
    return relay_ctx_return(ctx, 0, &h, sizeof h);
}

static void driver(int size)
{
    int remote = !test_driver_hosts_workers(size);
    CHECK_OK(relay_sync(TEST_LONG_S));
    relay_stats_t base = test_stats();

    /* 1. BIG made on a worker, got here. */
    double t0 = test_now();
    relay_ref_t made = test_submit_size_seed("make", BIG, 1);
    relay_object_t obj;
    CHECK_OK(relay_get(made, TEST_LONG_S, &obj));
    double t1 = test_now();
    CHECK_EQ(relay_object_size(obj), BIG);
    CHECK_EQ(test_verify(relay_object_data(obj), BIG, 1), SIZE_MAX);
    CHECK_OK(relay_object_free(obj));
    relay_stats_t s = test_stats();
    if (remote) CHECK_GE(s.bytes_fetched - base.bytes_fetched, BIG);
    printf("%zu MiB made on a worker and got by the driver in %.3f s\n", BIG >> 20, t1 - t0);
    /* Again through get_value (the object may now be cached here). */
    unsigned char *buf = malloc(BIG);
    CHECK(buf != NULL);
    CHECK_OK(relay_get_value(made, buf, BIG, TEST_LONG_S));
    CHECK_EQ(test_verify(buf, BIG, 1), SIZE_MAX);
    CHECK_OK(relay_release(made));

    /* 2. BIG put here, checked by a task on a worker. */
    test_fill(buf, BIG, 2);
    uint64_t want_hash = test_hash(buf, BIG);
    relay_ref_t put;
    t0 = test_now();
    CHECK_OK(relay_put(buf, BIG, &put));
    memset(buf, 0, BIG); /* relay_put copied it */
    check_result_t res = check_by_task(put, BIG, 2);
    t1 = test_now();
    CHECK_EQ(res.bad_offset, UINT64_MAX);
    CHECK_EQ(res.hash, want_hash);
    if (remote) CHECK_NE(res.rank, 0);
    printf("%zu MiB put by the driver and checked on rank %lld in %.3f s\n", BIG >> 20,
           (long long)res.rank, t1 - t0);
    CHECK_OK(relay_release(put));
    free(buf);

    /* 3. Around the inline threshold. */
    size_t im = inline_max();
    size_t around[3] = {im > 0 ? im - 1 : 0, im, im + 1};
    for (int i = 0; i < 3; i++) {
        size_t sz = around[i];
        uint64_t seed = 10 + (uint64_t)i;
        void *b = malloc(sz + 1);
        CHECK(b != NULL);
        test_fill(b, sz, seed);
        CHECK_OK(relay_sync(TEST_LONG_S));
        relay_stats_t before = test_stats();
        relay_ref_t r;
        CHECK_OK(relay_put(b, sz, &r));
        free(b);
        CHECK_OK(relay_sync(TEST_LONG_S));
        relay_stats_t after = test_stats();
        CHECK_EQ(after.directory_objects, before.directory_objects + 1);
        if (sz <= im) {
            CHECK_EQ(after.directory_bytes, before.directory_bytes + sz); /* inline */
        } else {
            CHECK_EQ(after.directory_bytes, before.directory_bytes); /* stays here */
            CHECK_EQ(after.store_objects, before.store_objects + 1);
            CHECK_GE(after.store_bytes, before.store_bytes + sz);
        }
        res = check_by_task(r, sz, seed);
        CHECK_EQ(res.bad_offset, UINT64_MAX);
        test_check_pattern(r, sz, seed);
        CHECK_OK(relay_release(r));

        relay_ref_t m = test_submit_size_seed("make", sz, seed + 100);
        test_check_pattern(m, sz, seed + 100);
        res = check_by_task(m, sz, seed + 100);
        CHECK_EQ(res.bad_offset, UINT64_MAX);
        CHECK_OK(relay_release(m));
    }

    /* Many values, each small enough to travel inline but together far more
     * than one task record carries: every byte still arrives. */
    {
        enum { NARGS = 200, EACH = 100000 };
        static unsigned char vals[NARGS][EACH];
        relay_arg_t args[NARGS];
        for (int i = 0; i < NARGS; i++) {
            test_fill(vals[i], EACH, 500 + (uint64_t)i);
            args[i] = relay_arg_value(vals[i], EACH);
        }
        relay_ref_t r = test_submit("hash_args", args, NARGS);
        uint64_t want = 0, got = 0;
        for (int i = 0; i < NARGS; i++)
            want = want * 31 + test_hash(vals[i], EACH);
        CHECK_OK(relay_get_value(r, &got, sizeof got, TEST_LONG_S));
        CHECK_EQ(got, want);
        CHECK_OK(relay_release(r));
    }

    /* Everything is gone from the directory and from this rank's store. */
    s = test_wait_directory(base.directory_objects, base.directory_bytes, 10.0);
    s = test_wait_store(base.store_objects, 10.0);
    test_check_at_rest("large_object driver", &s, 0);
}

int main(int argc, char **argv)
{
    CHECK_OK(relay_register("make", test_fn_make_pattern));
    CHECK_OK(relay_register("check", fn_check));
    CHECK_OK(relay_register("hash_args", fn_hash_args));
    CHECK_OK(relay_init(&argc, &argv, NULL));
    int rank = test_rank(), size = test_size();
    if (size < 2) {
        printf("large_object needs at least 2 ranks: skipped\n");
        CHECK_OK(relay_finalize());
        return TEST_SKIP;
    }
    if (rank == 0) driver(size);
    test_barrier();
    if (rank != 0) {
        /* The primary copies made here were freed when the driver released
         * them. */
        relay_stats_t s = test_wait_store(0, 10.0);
        CHECK_EQ(s.store_bytes, 0);
        CHECK_EQ(s.live_views, 0);
        CHECK_EQ(s.held_refs, 0);
    }
    /* No object buffer is left on any rank (fetched copies included). */
    test_wait_live_objects(0, 10.0);
    test_check_tasks_ran_once();
    CHECK_OK(relay_finalize());
    if (rank == 0) printf("large_object: PASS (%d ranks)\n", size);
    return 0;
}
