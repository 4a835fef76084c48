/* Spilled and saved objects as other HDF5 readers see them: rank 0 puts
 * plain bytes and a float64 array, which spill at once (the wrapper sets a
 * zero store budget and keeps the spill files in dir, argv[1]), and saves
 * views of both with relay_object_save into dir/saved.h5. dir/expect.txt
 * says what to look for: the objects' ids and relay's version. The values
 * follow rules hdf5_readers.py computes again:
 *   bytes:  byte i = (7 i + 3) mod 256, BYTES of them
 *   array:  ROWS x COLS float64, a[i][j] = 1000 i + j / 2 */
#include "testutil.h"

#define BYTES 300000
#define ROWS 300
#define COLS 50

static void drive(const char *dir)
{
    unsigned char *b = malloc(BYTES);
    double *a = malloc(ROWS * COLS * sizeof *a);
    CHECK(b && a);
    for (size_t i = 0; i < BYTES; i++)
        b[i] = (unsigned char)((7 * i + 3) % 256);
    for (size_t i = 0; i < ROWS; i++)
        for (size_t j = 0; j < COLS; j++)
            a[i * COLS + j] = 1000.0 * (double)i + (double)j / 2;
    relay_ref_t rb, ra;
    uint64_t dims[2] = {ROWS, COLS};
    CHECK_OK(relay_put(b, BYTES, &rb));
    CHECK_OK(relay_put_array(a, RELAY_FLOAT64, 2, dims, &ra));
    test_wait_spilled(2);

    char saved[600], expect[600];
    snprintf(saved, sizeof saved, "%s/saved.h5", dir);
    relay_object_t ob, oa;
    CHECK_OK(relay_get(rb, TEST_LONG_S, &ob));
    CHECK_OK(relay_get(ra, TEST_LONG_S, &oa));
    CHECK_OK(relay_object_save(ob, saved, "raw/bytes"));
    CHECK_OK(relay_object_save(oa, saved, "fields/x"));
    CHECK_OK(relay_object_free(ob));
    CHECK_OK(relay_object_free(oa));

    snprintf(expect, sizeof expect, "%s/expect.txt", dir);
    FILE *f = fopen(expect, "w");
    CHECK(f != NULL);
    fprintf(f, "bytes o%016llx\narray o%016llx\nversion %d.%d.%d\n", (unsigned long long)rb.id,
            (unsigned long long)ra.id, RELAY_VERSION_MAJOR, RELAY_VERSION_MINOR,
            RELAY_VERSION_PATCH);
    CHECK(fclose(f) == 0);
    /* Held to the end: both stay in the kept file. */
    free(b);
    free(a);
}

int main(int argc, char **argv)
{
    CHECK_EQ(argc, 2);
    const char *dir = argv[1];
    CHECK_OK(relay_init(&argc, &argv, NULL));
    int rank = test_rank();
    if (rank == 0) drive(dir);
    CHECK_OK(relay_finalize());
    if (rank == 0) printf("hdf5_readers: PASS\n");
    return 0;
}
