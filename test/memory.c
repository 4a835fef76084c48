/* Nothing accumulates: 10,000 put/release cycles and 10,000 tasks (2,000
 * each under a sanitizer) leave rank 0's directory, every rank's holds and
 * views, and the processes' RSS where they were; large objects (1 MiB, above
 * RELAY_INLINE_MAX) put on the driver or made by tasks are freed from their
 * holder's store. */
#include "testutil.h"

/* The counts make a slow leak show in RSS. A sanitizer's own memory hides
 * RSS (check_rss checks nothing there) and finds leaks itself, so there
 * a fifth of the rounds, the same calls, keep the directory and store
 * checks, in far less time (ThreadSanitizer made it one of its slowest). */
#if TEST_SANITIZED
#define CYCLES 2000
#define LARGE_PUTS 50
#define LARGE_MADE 16
#else
#define CYCLES 10000
#define LARGE_PUTS 200
#define LARGE_MADE 64
#endif
#define BATCH 500
#define LARGE_SIZE ((size_t)1 << 20)
/* RSS growth allowed over a phase, after a warm-up of the same work. */
#define RSS_SLACK_SMALL ((long long)8 << 20)
#define RSS_SLACK_LARGE ((long long)16 << 20)

static int fn_make(relay_ctx_t *ctx)
{
    uint64_t seed;
    if (test_ctx_arg_fixed(ctx, 0, &seed, sizeof seed)) return 1;
    void *buf = malloc(LARGE_SIZE);
    if (!buf) return 1;
    test_fill(buf, LARGE_SIZE, seed);
    int rc = relay_ctx_return(ctx, 0, buf, LARGE_SIZE);
    free(buf);
    return rc;
}

static void check_rss(const char *what, long long before, long long after, long long slack)
{
    printf("[rank %d] %s: RSS %+.2f MiB (%.1f -> %.1f MiB)\n", check__world_rank(), what,
           (double)(after - before) / (1 << 20), (double)before / (1 << 20),
           (double)after / (1 << 20));
    fflush(stdout);
    if (before < 0 || after < 0 || TEST_SANITIZED) return; /* no /proc, or a sanitizer's memory */
    CHECK_LE(after - before, slack);
}

static void put_cycles(int n)
{
    unsigned char data[64];
    for (int i = 0; i < n; i++) {
        memset(data, i & 0xff, sizeof data);
        relay_ref_t r;
        CHECK_OK(relay_put(data, sizeof data, &r));
        if (i % 1000 == 0) {
            unsigned char back[64];
            CHECK_OK(relay_get_value(r, back, sizeof back, TEST_LONG_S));
            CHECK_MEMEQ(back, data, sizeof data);
        }
        CHECK_OK(relay_release(r));
    }
}

static void task_batches(int n)
{
    static relay_ref_t refs[BATCH];
    static relay_object_t objs[BATCH];
    for (int done = 0; done < n; done += BATCH) {
        for (int i = 0; i < BATCH; i++) {
            int64_t v = done + i;
            relay_arg_t a = relay_arg_value(&v, 8);
            CHECK_OK(relay_submit("inc", &a, 1, NULL, &refs[i]));
        }
        CHECK_OK(relay_get_many(refs, BATCH, TEST_LONG_S, objs));
        for (int i = 0; i < BATCH; i++) {
            int64_t v;
            CHECK_EQ(relay_object_size(objs[i]), 8);
            memcpy(&v, relay_object_data(objs[i]), 8);
            CHECK_EQ(v, done + i + 1);
            CHECK_OK(relay_object_free(objs[i]));
        }
        CHECK_OK(relay_release_many(refs, BATCH));
    }
}

static void large_objects(void)
{
    unsigned char *buf = malloc(LARGE_SIZE);
    CHECK(buf != NULL);
    for (int i = 0; i < LARGE_PUTS; i++) {
        test_fill(buf, 64, (uint64_t)i); /* vary the head only: cheap */
        relay_ref_t r;
        CHECK_OK(relay_put(buf, LARGE_SIZE, &r));
        if (i % 50 == 0) {
            relay_object_t obj;
            CHECK_OK(relay_get(r, TEST_LONG_S, &obj));
            CHECK_EQ(relay_object_size(obj), LARGE_SIZE);
            CHECK_MEMEQ(relay_object_data(obj), buf, LARGE_SIZE);
            CHECK_OK(relay_object_free(obj));
        }
        CHECK_OK(relay_release(r));
    }
    free(buf);

    relay_ref_t made[LARGE_MADE];
    for (int i = 0; i < LARGE_MADE; i++) {
        uint64_t seed = (uint64_t)i;
        relay_arg_t a = relay_arg_value(&seed, 8);
        made[i] = test_submit("make", &a, 1);
    }
    for (int i = 0; i < LARGE_MADE; i++)
        test_check_pattern(made[i], LARGE_SIZE, (uint64_t)i);
    CHECK_OK(relay_release_many(made, LARGE_MADE));
}

static void check_clean(const relay_stats_t *base, const char *phase)
{
    test_wait_directory(base->directory_objects, base->directory_bytes, 20.0);
    relay_stats_t s = test_wait_live_objects(base->live_objects, 20.0);
    test_check_at_rest(phase, &s, base->held_refs);
}

static void driver(void)
{
    CHECK_OK(relay_sync(TEST_LONG_S));
    relay_stats_t base = test_stats();

    /* Warm-up (allocator pools, maps at their working size), then measure. */
    put_cycles(1000);
    task_batches(2 * BATCH);
    large_objects();
    check_clean(&base, "after warm-up");
    test_barrier(); /* A: workers take their baseline */
    long long rss0 = test_rss_bytes();

    double t0 = test_now();
    put_cycles(CYCLES);
    check_clean(&base, "after put/release cycles");
    long long rss1 = test_rss_bytes();
    check_rss("put/release cycles", rss0, rss1, RSS_SLACK_SMALL);

    double t1 = test_now();
    task_batches(CYCLES);
    check_clean(&base, "after tasks");
    long long rss2 = test_rss_bytes();
    check_rss("tasks", rss1, rss2, RSS_SLACK_SMALL);

    double t2 = test_now();
    relay_stats_t before_large = test_stats();
    large_objects();
    check_clean(&base, "after large objects");
    relay_stats_t s = test_wait_store(before_large.store_objects, 20.0);
    CHECK_EQ(s.store_bytes, before_large.store_bytes);
    long long rss3 = test_rss_bytes();
    check_rss("large objects", rss2, rss3, RSS_SLACK_LARGE);
    double t3 = test_now();
    printf("put/release %.0f/s, tasks %.0f/s, large phase %.2f s\n", CYCLES / (t1 - t0),
           CYCLES / (t2 - t1), t3 - t2);
    test_barrier(); /* B: all work done */
}

static void worker(void)
{
    test_barrier(); /* A */
    long long rss0 = test_rss_bytes();
    test_barrier(); /* B */
    relay_stats_t s = test_wait_store(0, 20.0);
    CHECK_EQ(s.store_bytes, 0);
    /* Every buffer made or fetched here is freed. */
    s = test_wait_live_objects(0, 20.0);
    CHECK_EQ(s.held_refs, 0);
    CHECK_EQ(s.live_views, 0);
    check_rss("worker over the measured phases", rss0, test_rss_bytes(), RSS_SLACK_LARGE);
}

int main(int argc, char **argv)
{
    CHECK_OK(relay_register("inc", test_fn_add1));
    CHECK_OK(relay_register("make", fn_make));
    CHECK_OK(relay_init(&argc, &argv, NULL));
    int rank = test_rank(), size = test_size();
    if (rank == 0)
        driver();
    else
        worker();
    test_check_tasks_ran_once();
    CHECK_OK(relay_finalize());
    if (rank == 0) printf("memory: PASS (%d ranks)\n", size);
    return 0;
}
