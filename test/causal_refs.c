/* Refs sent between ranks with the program's own MPI messages, used at once
 * (no relay_sync by the maker): rank 0 may hear of a ref from the user
 * before the maker's record creating it arrives, and must wait for that
 * record instead of calling the ref unknown. Every way of naming a ref is
 * exercised: get, retain, task argument, contained ref, and a ref passed on
 * to a third rank. Run with a small RELAY_INLINE_MAX so half the objects are
 * held by their maker. */
#include "testutil.h"

#define ROUNDS 200
#define BIG 4096 /* above the RELAY_INLINE_MAX the test runs with */

enum { TAG_REF = 11, TAG_DONE, TAG_PEER };

static int fn_first_u64(relay_ctx_t *ctx)
{
    const void *d;
    size_t n;
    if (relay_ctx_arg(ctx, 0, &d, &n) != RELAY_OK || n < sizeof(uint64_t)) return 1;
    return relay_ctx_return(ctx, 0, d, sizeof(uint64_t));
}

static uint64_t value_of(int rank, int i)
{
    return (uint64_t)rank * 100000u + (uint64_t)i;
}

/* An object whose first 8 bytes are v; every other one is large. */
static relay_ref_t make(uint64_t v, int i)
{
    unsigned char buf[BIG];
    size_t n = i % 2 ? BIG : sizeof v;
    memset(buf, 0x5a, sizeof buf);
    memcpy(buf, &v, sizeof v);
    relay_ref_t r;
    CHECK_OK(relay_put(buf, n, &r));
    return r;
}

static uint64_t first_u64(relay_ref_t r)
{
    relay_object_t o;
    CHECK_OK(relay_get(r, TEST_LONG_S, &o));
    uint64_t v;
    CHECK_GE(relay_object_size(o), sizeof v);
    memcpy(&v, relay_object_data(o), sizeof v);
    CHECK_OK(relay_object_free(o));
    return v;
}

/* Use a ref this rank just heard of, in the way i selects. */
static void use(relay_ref_t r, uint64_t want, int i)
{
    switch (i % 4) {
    case 0:
        CHECK_EQ(first_u64(r), want);
        break;
    case 1:
        CHECK_OK(relay_retain(r));
        CHECK_EQ(first_u64(r), want);
        CHECK_OK(relay_release(r));
        break;
    case 2: {
        relay_arg_t a = relay_arg_ref(r);
        relay_ref_t out = test_submit("first_u64", &a, 1);
        uint64_t got;
        CHECK_OK(relay_get_value(out, &got, sizeof got, TEST_LONG_S));
        CHECK_EQ(got, want);
        CHECK_OK(relay_release(out));
        break;
    }
    default: {
        relay_ref_t box;
        CHECK_OK(relay_put_object(NULL, 0, &r, 1, &box));
        relay_object_t o;
        CHECK_OK(relay_get(box, TEST_LONG_S, &o));
        relay_ref_t in;
        CHECK_OK(relay_object_ref(o, 0, &in));
        CHECK_EQ(first_u64(in), want);
        CHECK_OK(relay_object_free(o));
        CHECK_OK(relay_release(box));
    }
    }
}

static void driver(int size)
{
    for (int i = 0; i < ROUNDS; i++)
        for (int k = 1; k < size; k++)
            use((relay_ref_t){test_recv_u64(k, TAG_REF)}, value_of(k, i), i);
    test_barrier(); /* every worker is done with the others' refs */
    for (int k = 1; k < size; k++)
        test_send_u64(1, k, TAG_DONE);
    /* Workers may have put objects before the driver started: only the end
     * state, nothing left once they released theirs, is known. */
    test_wait_directory(0, 0, 10.0);
    CHECK_EQ(test_stats().live_views, 0);
}

static void worker(int rank, int size)
{
    relay_ref_t mine[ROUNDS];
    int peer = rank + 1 < size ? rank + 1 : (size > 2 ? 1 : 0);
    for (int i = 0; i < ROUNDS; i++) {
        mine[i] = make(value_of(rank, i), i);
        test_send_u64(mine[i].id, 0, TAG_REF);
        /* With 3+ ranks, a worker also hands its ref to another worker,
         * which uses it straight away. */
        if (peer) {
            MPI_Request req;
            CHECK_EQ(MPI_Isend(&mine[i].id, 1, MPI_UINT64_T, peer, TAG_PEER, MPI_COMM_WORLD, &req),
                     MPI_SUCCESS);
            int from = rank - 1 >= 1 ? rank - 1 : size - 1;
            relay_ref_t theirs = {test_recv_u64(from, TAG_PEER)};
            use(theirs, value_of(from, i), i);
            test_mpi_wait(&req);
        }
    }
    test_barrier(); /* every peer is done with this rank's refs */
    test_recv_u64(0, TAG_DONE);
    CHECK_OK(relay_release_many(mine, ROUNDS));
}

int main(int argc, char **argv)
{
    CHECK_OK(relay_register("first_u64", fn_first_u64));
    CHECK_OK(relay_init(&argc, &argv, NULL));
    int rank = test_rank(), size = test_size();
    if (size < 2) {
        printf("causal_refs needs at least 2 ranks: skipped\n");
        CHECK_OK(relay_finalize());
        return TEST_SKIP;
    }
    if (rank == 0) {
        driver(size);
    } else {
        worker(rank, size);
    }
    CHECK_OK(relay_finalize());
    if (rank == 0) printf("causal_refs: PASS (%d ranks)\n", size);
    return 0;
}
