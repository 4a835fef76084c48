/* Refs made on one rank used on others: a task's output and a worker's own
 * put (small/inline and large/held by the worker) passed to rank 0 (as a
 * task result and by MPI), to another worker's main thread, and as
 * arguments of tasks that run elsewhere. Worker ranks' main threads are
 * clients too: they submit tasks and get results before relay_finalize. */
#include "testutil.h"

#define SMALL_SIZE 64
#define LARGE_SIZE (300 * 1024) /* above the default RELAY_INLINE_MAX */

enum { TAG_TO_DRIVER = 1, TAG_ACK_DRIVER, TAG_TO_NEXT, TAG_ACK_NEXT };

static uint64_t seed_of(int rank, int large)
{
    return 1000u + (uint64_t)rank * 2u + (uint64_t)large;
}

/* (size, seed): puts a pattern object from inside the task and returns an
 * object containing its ref (payload: the rank that made it). */
static int fn_make_put(relay_ctx_t *ctx)
{
    size_t size;
    void *buf = test_ctx_pattern(ctx, &size);
    if (!buf) return 1;
    relay_ref_t ref;
    int rc = relay_put(buf, size, &ref);
    free(buf);
    TASK_OK(ctx, rc);
    int rank = -1;
    TASK_OK(ctx, relay_ctx_rank(ctx, &rank));
    TASK_OK(ctx, relay_ctx_return_object(ctx, 0, &rank, sizeof rank, &ref, 1));
    TASK_OK(ctx, relay_release(ref));
    return 0;
}

/* Arguments come in triples (data, size, seed): checks every data argument
 * against its pattern. Returns the number checked, or fails naming the bad
 * one. */
static int fn_verify(relay_ctx_t *ctx)
{
    size_t n = relay_ctx_num_args(ctx);
    if (n % 3) return 1;
    for (size_t i = 0; i < n; i += 3) {
        const void *d;
        size_t sz;
        uint64_t size, seed;
        if (relay_ctx_arg(ctx, i, &d, &sz) || test_ctx_arg_fixed(ctx, i + 1, &size, sizeof size) ||
            test_ctx_arg_fixed(ctx, i + 2, &seed, sizeof seed))
            return 1;
        if (sz != size) {
            relay_ctx_fail(ctx, "arg %zu: %zu bytes, want %llu", i, sz, (unsigned long long)size);
            return 1;
        }
        size_t bad = test_verify(d, sz, seed);
        if (bad != SIZE_MAX) {
            relay_ctx_fail(ctx, "arg %zu (seed %llu): byte %zu differs", i,
                           (unsigned long long)seed, bad);
            return 1;
        }
    }
    int64_t checked = (int64_t)(n / 3);
    return relay_ctx_return(ctx, 0, &checked, sizeof checked);
}

static int fn_square(relay_ctx_t *ctx)
{
    uint64_t v;
    if (test_ctx_arg_fixed(ctx, 0, &v, sizeof v)) return 1;
    v *= v;
    return relay_ctx_return(ctx, 0, &v, sizeof v);
}

/* Submits square(1..4) and returns an object holding their refs. */
static int fn_squares_refs(relay_ctx_t *ctx)
{
    relay_ref_t refs[4];
    for (uint64_t i = 0; i < 4; i++) {
        uint64_t v = i + 1;
        relay_arg_t a = relay_arg_value(&v, sizeof v);
        TASK_OK(ctx, relay_submit("square", &a, 1, NULL, &refs[i]));
    }
    TASK_OK(ctx, relay_ctx_return_object(ctx, 0, NULL, 0, refs, 4));
    TASK_OK(ctx, relay_release_many(refs, 4));
    return 0;
}

/* A task checks data args given as (ref, size, seed) triples. */
static void verify_by_task(const relay_ref_t *refs, const size_t *sizes, const uint64_t *seeds,
                           size_t n)
{
    relay_arg_t args[3 * 8];
    uint64_t meta[2 * 8];
    CHECK_LE(n, 8);
    for (size_t i = 0; i < n; i++) {
        meta[2 * i] = sizes[i];
        meta[2 * i + 1] = seeds[i];
        args[3 * i] = relay_arg_ref(refs[i]);
        args[3 * i + 1] = relay_arg_value(&meta[2 * i], 8);
        args[3 * i + 2] = relay_arg_value(&meta[2 * i + 1], 8);
    }
    relay_ref_t r = test_submit("verify", args, 3 * n);
    CHECK_EQ(test_get_i64(r), (int64_t)n);
    CHECK_OK(relay_release(r));
}

/* Every rank's main thread: square tasks and a nested ref-returning task. */
static void client_work(int rank)
{
    relay_ref_t refs[20];
    for (uint64_t i = 0; i < 20; i++) {
        uint64_t v = (uint64_t)rank * 100 + i;
        relay_arg_t a = relay_arg_value(&v, sizeof v);
        refs[i] = test_submit("square", &a, 1);
    }
    relay_object_t objs[20];
    CHECK_OK(relay_get_many(refs, 20, TEST_LONG_S, objs));
    for (uint64_t i = 0; i < 20; i++) {
        uint64_t v = (uint64_t)rank * 100 + i, got;
        CHECK_EQ(relay_object_size(objs[i]), 8);
        memcpy(&got, relay_object_data(objs[i]), 8);
        CHECK_EQ(got, v * v);
        CHECK_OK(relay_object_free(objs[i]));
    }
    CHECK_OK(relay_release_many(refs, 20));

    relay_ref_t nest = test_submit("squares_refs", NULL, 0);
    relay_object_t box;
    CHECK_OK(relay_get(nest, TEST_LONG_S, &box));
    CHECK_EQ(relay_object_num_refs(box), 4);
    for (size_t i = 0; i < 4; i++) {
        relay_ref_t in;
        uint64_t got = 0;
        CHECK_OK(relay_object_ref(box, i, &in));
        CHECK_OK(relay_get_value(in, &got, sizeof got, TEST_LONG_S));
        CHECK_EQ(got, (i + 1) * (i + 1));
    }
    CHECK_OK(relay_object_free(box));
    CHECK_OK(relay_release(nest));
}

/* Takes a hold on a ref another rank made and sent by MPI; relay_sync makes
 * sure rank 0 has the hold before the maker is told it may drop its own. */
static relay_ref_t adopt(uint64_t id)
{
    relay_ref_t r = {id};
    CHECK_OK(relay_retain(r));
    CHECK_OK(relay_sync(TEST_LONG_S));
    return r;
}

static void driver(int size)
{
    const size_t sizes[2] = {SMALL_SIZE, LARGE_SIZE};

    /* 1. A put made inside a task on a worker, reached through the task's
     * result, got here and used as an argument elsewhere. */
    for (int large = 0; large < 2; large++) {
        uint64_t seed = 77 + (uint64_t)large;
        relay_ref_t box_ref = test_submit_size_seed("make_put", sizes[large], seed);
        relay_object_t box;
        CHECK_OK(relay_get(box_ref, TEST_LONG_S, &box));
        CHECK_EQ(relay_object_num_refs(box), 1);
        int maker = -1;
        memcpy(&maker, relay_object_data(box), sizeof maker);
        CHECK_GT(maker, 0); /* made on a worker rank */
        relay_ref_t inner;
        CHECK_OK(relay_object_ref(box, 0, &inner));
        test_check_pattern(inner, sizes[large], seed);
        CHECK_OK(relay_retain(inner));
        CHECK_OK(relay_object_free(box));
        CHECK_OK(relay_release(box_ref));
        verify_by_task(&inner, &sizes[large], &seed, 1);
        test_check_pattern(inner, sizes[large], seed);
        CHECK_OK(relay_release(inner));
    }

    /* 2. A large task output as the argument of later tasks, and a large put
     * made here used by a task (that one must fetch it from rank 0). */
    {
        relay_ref_t made[3];
        uint64_t seeds[3];
        size_t msz[3] = {LARGE_SIZE, LARGE_SIZE, LARGE_SIZE};
        for (int i = 0; i < 3; i++) {
            seeds[i] = 4242 + (uint64_t)i;
            made[i] = test_submit_size_seed("make", LARGE_SIZE, seeds[i]);
        }
        verify_by_task(made, msz, seeds, 3);
        for (int i = 0; i < 3; i++)
            test_check_pattern(made[i], LARGE_SIZE, seeds[i]);
        CHECK_OK(relay_release_many(made, 3));

        void *buf = malloc(LARGE_SIZE);
        CHECK(buf != NULL);
        test_fill(buf, LARGE_SIZE, 31337);
        relay_ref_t mine;
        CHECK_OK(relay_put(buf, LARGE_SIZE, &mine));
        free(buf);
        uint64_t seed = 31337;
        size_t sz = LARGE_SIZE;
        verify_by_task(&mine, &sz, &seed, 1);
        CHECK_OK(relay_release(mine));
    }

    /* 3. Workers' own puts, sent by MPI: adopt, let the maker drop its hold,
     * then get them and pass them all to one task. */
    int nworkers = size - 1;
    relay_ref_t theirs[2 * 3];
    size_t tsz[2 * 3];
    uint64_t tseed[2 * 3];
    CHECK_LE(nworkers, 3);
    for (int w = 1; w <= nworkers; w++) {
        for (int large = 0; large < 2; large++) {
            int k = 2 * (w - 1) + large;
            theirs[k] = adopt(test_recv_u64(w, TAG_TO_DRIVER));
            tsz[k] = sizes[large];
            tseed[k] = seed_of(w, large);
        }
        test_send_u64(1, w, TAG_ACK_DRIVER);
    }
    for (int k = 0; k < 2 * nworkers; k++)
        test_check_pattern(theirs[k], tsz[k], tseed[k]);
    verify_by_task(theirs, tsz, tseed, (size_t)(2 * nworkers));
    CHECK_OK(relay_release_many(theirs, (size_t)(2 * nworkers)));

    /* 4. The driver is a client like the others. */
    client_work(0);

    /* All ranks' clients are done (the barrier) and released everything
     * they made or adopted: no object is left. */
    test_barrier();
    relay_stats_t s = test_wait_directory(0, 0, 10.0);
    test_check_at_rest("remote_refs driver", &s, 0);
}

static void worker(int rank, int size)
{
    int nworkers = size - 1;
    int next = rank % nworkers + 1, prev = (rank + nworkers - 2) % nworkers + 1;
    const size_t sizes[2] = {SMALL_SIZE, LARGE_SIZE};

    /* Make two objects here and hand them to rank 0 and to the next worker. */
    relay_ref_t mine[2];
    for (int large = 0; large < 2; large++) {
        void *buf = malloc(sizes[large]);
        CHECK(buf != NULL);
        test_fill(buf, sizes[large], seed_of(rank, large));
        CHECK_OK(relay_put(buf, sizes[large], &mine[large]));
        free(buf);
    }
    /* A ref handed over outside relay (here by MPI) is known to rank 0 only
     * once the maker's put record has arrived there: sync first. */
    CHECK_OK(relay_sync(TEST_LONG_S));
    for (int large = 0; large < 2; large++)
        test_send_u64(mine[large].id, 0, TAG_TO_DRIVER);
    relay_ref_t from_prev[2];
    if (nworkers > 1) {
        MPI_Request req[2];
        uint64_t ids[2] = {mine[0].id, mine[1].id}, in[2];
        CHECK_EQ(MPI_Isend(ids, 2, MPI_UINT64_T, next, TAG_TO_NEXT, MPI_COMM_WORLD, &req[0]),
                 MPI_SUCCESS);
        CHECK_EQ(MPI_Irecv(in, 2, MPI_UINT64_T, prev, TAG_TO_NEXT, MPI_COMM_WORLD, &req[1]),
                 MPI_SUCCESS);
        test_mpi_wait(&req[0]);
        test_mpi_wait(&req[1]);
        from_prev[0] = adopt(in[0]);
        from_prev[1] = adopt(in[1]);
        test_send_u64(1, prev, TAG_ACK_NEXT);
        test_recv_u64(next, TAG_ACK_NEXT);
    }
    test_recv_u64(0, TAG_ACK_DRIVER);
    /* Everyone who needs them holds them now. */
    CHECK_OK(relay_release_many(mine, 2));

    if (nworkers > 1) {
        uint64_t seeds[2] = {seed_of(prev, 0), seed_of(prev, 1)};
        for (int large = 0; large < 2; large++)
            test_check_pattern(from_prev[large], sizes[large], seeds[large]);
        /* A zero timeout on a ready object still gets it, here as on rank 0:
         * it waits for rank 0's answer (and the bytes), not for the object. */
        for (int large = 0; large < 2; large++) {
            relay_object_t o;
            CHECK_OK(relay_get(from_prev[large], 0, &o));
            CHECK_EQ(relay_object_size(o), sizes[large]);
            CHECK_OK(relay_object_free(o));
            size_t nready = 0;
            CHECK_OK(relay_wait(&from_prev[large], 1, 1, 0, NULL, &nready));
            CHECK_EQ(nready, 1);
        }
        verify_by_task(from_prev, sizes, seeds, 2);
        CHECK_OK(relay_release_many(from_prev, 2));
    }

    client_work(rank);

    test_barrier();
    relay_stats_t s = test_stats();
    CHECK_EQ(s.held_refs, 0);
    CHECK_EQ(s.live_views, 0);
}

/* Once every rank released everything and freed its views, no primary
 * copy, and no object buffer at all, is left anywhere. */
static void check_stores_empty(void)
{
    relay_stats_t s = test_wait_store(0, 10.0);
    CHECK_EQ(s.store_bytes, 0);
    test_wait_live_objects(0, 10.0);
}

int main(int argc, char **argv)
{
    CHECK_OK(relay_register("make_put", fn_make_put));
    CHECK_OK(relay_register("make", test_fn_make_pattern));
    CHECK_OK(relay_register("verify", fn_verify));
    CHECK_OK(relay_register("square", fn_square));
    CHECK_OK(relay_register("squares_refs", fn_squares_refs));
    CHECK_OK(relay_init(&argc, &argv, NULL));
    int rank = test_rank(), size = test_size();
    if (size < 2) {
        printf("remote_refs needs at least 2 ranks: skipped\n");
        CHECK_OK(relay_finalize());
        return TEST_SKIP;
    }
    CHECK_LE(size, 4);
    if (rank == 0)
        driver(size);
    else
        worker(rank, size);
    check_stores_empty();

    /* Large objects crossed ranks: rank 0's large put was verified by a task
     * on a worker, and the driver got large objects workers made. */
    relay_stats_t s = test_stats();
    uint64_t fetched_by_workers = test_allreduce_sum_u64(rank == 0 ? 0 : s.bytes_fetched);
    uint64_t fetched_by_driver = test_allreduce_sum_u64(rank == 0 ? s.bytes_fetched : 0);
    if (rank == 0)
        printf("bytes fetched peer-to-peer: driver %llu, workers %llu\n",
               (unsigned long long)fetched_by_driver, (unsigned long long)fetched_by_workers);
    CHECK_GE(fetched_by_driver, LARGE_SIZE);
    if (!test_driver_hosts_workers(size)) CHECK_GE(fetched_by_workers, LARGE_SIZE);
    test_check_tasks_ran_once();

    CHECK_OK(relay_finalize());
    if (rank == 0) printf("remote_refs: PASS (%d ranks)\n", size);
    return 0;
}
