/* relay__gather_bytes (base/gather.c) on three ranks of MPI_COMM_WORLD,
 * without relay_init: rank 0 gets rank 1's bytes exactly while rank 2,
 * which never sends, costs it the deadline and no more (parts[2] NULL);
 * a rank named in skip[] is not waited for at all (the deadline there is
 * long: a wait for it shows as the test's timeout); a rank that comes
 * late is received by a later gather on tags of its own. */
#include <unistd.h>

#include "check.h"
#include "gather.h"

#define BIG ((size_t)5 << 20) /* 5 MiB: more than one eager message */

static unsigned char byte_at(size_t i, int rank)
{
    return (unsigned char)((i * 131 + (i >> 12) + (size_t)rank * 7) & 0xff);
}

static unsigned char *pattern(size_t n, int rank)
{
    unsigned char *b = malloc(n);
    CHECK(b != NULL);
    for (size_t i = 0; i < n; i++)
        b[i] = byte_at(i, rank);
    return b;
}

static void check_pattern(const void *p, size_t n, int rank)
{
    const unsigned char *b = p;
    CHECK(b != NULL);
    for (size_t i = 0; i < n; i++)
        if (b[i] != byte_at(i, rank)) {
            fprintf(stderr, "byte %zu of rank %d's report differs\n", i, rank);
            CHECK(0);
        }
}

/* Rank 2 never sends: rank 0 gives up on it at the deadline with rank
 * 1's bytes whole. Rank 0 first sees that rank 1's length and bytes are
 * on their way, so that the short deadline can only cut off rank 2. */
static void absent_rank(int rank)
{
    enum { TAG = 100 };
    void *parts[3] = {(void *)1, (void *)1, (void *)1};
    size_t lens[3] = {1, 1, 1};
    if (rank == 0) {
        MPI_Probe(1, TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Probe(1, TAG + 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        CHECK_EQ(relay__gather_bytes(MPI_COMM_WORLD, TAG, "r0", 2, NULL, 1.0, parts, lens), 2);
        CHECK(parts[0] == NULL && lens[0] == 0);
        CHECK_EQ(lens[1], BIG);
        check_pattern(parts[1], BIG, 1);
        CHECK(parts[2] == NULL && lens[2] == 0);
        free(parts[1]);
    } else if (rank == 1) {
        unsigned char *mine = pattern(BIG, 1);
        CHECK_EQ(relay__gather_bytes(MPI_COMM_WORLD, TAG, mine, BIG, NULL, 60, NULL, NULL), 1);
        free(mine);
    }
}

/* Rank 2 is named in skip[]: not waited for, although the deadline is a
 * minute. Rank 1 sends nothing (zero bytes) and counts as delivered. */
static void skipped_rank(int rank)
{
    enum { TAG = 200 };
    void *parts[3];
    size_t lens[3];
    const char skip[3] = {0, 0, 1};
    if (rank == 0) {
        CHECK_EQ(relay__gather_bytes(MPI_COMM_WORLD, TAG, NULL, 0, skip, 60, parts, lens), 2);
        CHECK_EQ(lens[1], 0);
        CHECK(parts[2] == NULL && lens[2] == 0);
        free(parts[1]);
    } else if (rank == 1) {
        CHECK_EQ(relay__gather_bytes(MPI_COMM_WORLD, TAG, NULL, 0, NULL, 60, NULL, NULL), 1);
    }
}

/* Rank 2 comes late, on tags of its own, rank 1 skipped: received whole
 * (nothing it sends stays pending at MPI_Finalize). */
static void late_rank(int rank)
{
    enum { TAG = 300 };
    void *parts[3];
    size_t lens[3];
    const char skip[3] = {0, 1, 0};
    if (rank == 0) {
        CHECK_EQ(relay__gather_bytes(MPI_COMM_WORLD, TAG, NULL, 0, skip, 60, parts, lens), 2);
        CHECK(parts[1] == NULL && lens[1] == 0);
        CHECK_EQ(lens[2], BIG + 1);
        check_pattern(parts[2], BIG + 1, 2);
        free(parts[2]);
    } else if (rank == 2) {
        unsigned char *mine = pattern(BIG + 1, 2);
        CHECK_EQ(relay__gather_bytes(MPI_COMM_WORLD, TAG, mine, BIG + 1, NULL, 60, NULL, NULL), 1);
        free(mine);
    }
}

int main(int argc, char **argv)
{
    int provided = 0, rank = 0, size = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    CHECK_EQ(size, 3);
    absent_rank(rank);
    skipped_rank(rank);
    late_rank(rank);
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Finalize();
    if (rank == 0) printf("gather: PASS\n");
    return 0;
}
