/* The store's budget and its HDF5 spill files.
 *
 *   test_spill workload   1 MiB budget per rank, ~50 MiB of task results
 *                         and puts (half under ThreadSanitizer), read back
 *                         by gets and by tasks on other ranks, every byte
 *                         checked; space in the file reused
 *   test_spill typed      typed arrays spill as typed datasets (read back
 *                         here with the HDF5 API), views keep type and
 *                         shape, relay_object_save
 *   test_spill corrupt    a damaged dataset is reported, never returned
 *   test_spill diskfull   a spill file limit: writes fail, nothing is lost
 *   test_spill baddir     a missing or unwritable spill directory
 *   test_spill keep       RELAY_SPILL_KEEP leaves the file
 *   test_spill store      the budget holds: objects released during their
 *                         write, views let go, one read for many readers,
 *                         objects with 10,000 refs
 *   test_spill mixed      ranks with a budget of their own and ranks with
 *                         the default start together
 *   test_spill exists     a file already at the spill file's path is left
 *                         alone; the objects stay in memory
 *
 * Each run spills into a directory of its own (made by rank 0), which the
 * test checks is empty again after relay_finalize. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "testutil.h"

#define KB ((size_t)1024)
#define MB (KB * KB)

/* The workload's rounds. ThreadSanitizer checks every byte the test fills
 * and verifies, which made the workload one of its slowest tests: there
 * half as many, still 25 times the budget, and a file that must stay below
 * the sum of the objects written in turn. */
#if TEST_TSAN
#define WORKLOAD_TASKS 40
#define WORKLOAD_PUTS 10
#define REUSE_ROUNDS 12
#else
#define WORKLOAD_TASKS 80
#define WORKLOAD_PUTS 20
#define REUSE_ROUNDS 24
#endif

static int world_rank, world_size;
static char dir[256];

/* ---- remote functions --------------------------------------------------- */

/* (size, seed) -> size bytes of pattern seed. */
static int fn_make(relay_ctx_t *ctx)
{
    return test_fn_make_pattern(ctx);
}

/* (object, seed) -> its checksum, after checking the pattern. */
static int fn_check(relay_ctx_t *ctx)
{
    const void *p;
    size_t n;
    uint64_t seed;
    TASK_OK(ctx, relay_ctx_arg(ctx, 0, &p, &n));
    TASK_OK(ctx, test_ctx_arg_fixed(ctx, 1, &seed, sizeof seed));
    size_t bad = test_verify(p, n, seed);
    if (bad != SIZE_MAX) {
        relay_ctx_fail(ctx, "byte %zu of %zu differs (seed %llu)", bad, n,
                       (unsigned long long)seed);
        return 1;
    }
    uint64_t h = test_hash(p, n);
    return relay_ctx_return(ctx, 0, &h, sizeof h);
}

/* (array) -> {dtype, ndims, dims[0], dims[1], dims[2]} as it sees it. */
static int fn_shape(relay_ctx_t *ctx)
{
    relay_object_t o;
    TASK_OK(ctx, relay_ctx_arg_object(ctx, 0, &o));
    relay_dtype_t t;
    int nd;
    uint64_t dims[RELAY_MAX_DIMS];
    TASK_OK(ctx, relay_object_array(o, &t, &nd, dims));
    int64_t out[5] = {t, nd, (int64_t)dims[0], (int64_t)dims[1], (int64_t)dims[2]};
    return relay_ctx_return(ctx, 0, out, sizeof out);
}

/* -> a 2 x 3 int16 array made in the task. */
static int fn_make_array(relay_ctx_t *ctx)
{
    int16_t v[6] = {1, -2, 3, -4, 5, -6};
    uint64_t dims[2] = {2, 3};
    return relay_ctx_return_array(ctx, 0, v, RELAY_INT16, 2, dims);
}

/* -> a 300 x 200 float64 array written in place (relay_ctx_return_array_buffer),
 * element (r, c) = r * 1000 + c; bad calls first, each refused. */
#define BUF_ROWS 300
#define BUF_COLS 200
static int fn_make_in_place(relay_ctx_t *ctx)
{
    uint64_t dims[2] = {BUF_ROWS, BUF_COLS};
    void *p = NULL;
    if (relay_ctx_return_array_buffer(ctx, 0, RELAY_FLOAT64, 2, dims, NULL) !=
            RELAY_ERR_INVALID_ARG ||
        relay_ctx_return_array_buffer(ctx, 1, RELAY_FLOAT64, 2, dims, &p) !=
            RELAY_ERR_OUT_OF_RANGE ||
        relay_ctx_return_array_buffer(ctx, 0, (relay_dtype_t)99, 2, dims, &p) !=
            RELAY_ERR_INVALID_ARG ||
        relay_ctx_return_array_buffer(ctx, 0, RELAY_FLOAT64, 0, dims, &p) !=
            RELAY_ERR_INVALID_ARG ||
        relay_ctx_return_array_buffer(NULL, 0, RELAY_FLOAT64, 2, dims, &p) !=
            RELAY_ERR_INVALID_ARG ||
        p != NULL) {
        relay_ctx_fail(ctx, "a bad relay_ctx_return_array_buffer call was taken");
        return 1;
    }
    /* Set twice: the second buffer is the return. */
    uint64_t one = 1;
    TASK_OK(ctx, relay_ctx_return_array_buffer(ctx, 0, RELAY_INT8, 1, &one, &p));
    TASK_OK(ctx, relay_ctx_return_array_buffer(ctx, 0, RELAY_FLOAT64, 2, dims, &p));
    if ((uintptr_t)p % 64 != 0) {
        relay_ctx_fail(ctx, "buffer %p is not 64-byte aligned", p);
        return 1;
    }
    double *a = p;
    for (int r = 0; r < BUF_ROWS; r++)
        for (int c = 0; c < BUF_COLS; c++)
            a[r * BUF_COLS + c] = r * 1000.0 + c;
    return 0;
}

/* ---- helpers ---------------------------------------------------------------- */

/* Sum of a stats field over every rank, once this rank has synced. */
static uint64_t sum_field(size_t off)
{
    relay_stats_t s = test_stats();
    uint64_t v;
    memcpy(&v, (const char *)&s + off, sizeof v);
    return test_allreduce_sum_u64(v);
}
#define SUM(field) sum_field(offsetof(relay_stats_t, field))

static relay_ref_t put_pattern(size_t size, uint64_t seed)
{
    unsigned char *b = malloc(size);
    CHECK(b != NULL);
    test_fill(b, size, seed);
    relay_ref_t r;
    CHECK_OK(relay_put(b, size, &r));
    free(b);
    return r;
}

/* The files relay left in dir (relay-*.h5). */
static int files_left(char *first, size_t n)
{
    DIR *d = opendir(dir);
    int count = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, "relay-", 6) && strstr(e->d_name, ".h5")) {
            if (!count && first) snprintf(first, n, "%s/%s", dir, e->d_name);
            count++;
        }
    if (d) closedir(d);
    return count;
}

/* This rank's spill file (the only one of its rank in dir). */
static void my_file(char *path, size_t n)
{
    char suffix[32];
    snprintf(suffix, sizeof suffix, "-%d.h5", world_rank);
    DIR *d = opendir(dir);
    struct dirent *e;
    path[0] = '\0';
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name), sl = strlen(suffix);
        if (!strncmp(e->d_name, "relay-", 6) && len > sl && !strcmp(e->d_name + len - sl, suffix))
            snprintf(path, n, "%s/%s", dir, e->d_name);
    }
    if (d) closedir(d);
    CHECK(path[0] != '\0');
}

/* ---- workload ----------------------------------------------------------------- */

static void drive_workload(void)
{
    enum { NTASK = WORKLOAD_TASKS, NPUT = WORKLOAD_PUTS };
    const size_t tsize = 512 * KB, psize = 640 * KB; /* 40 MiB + 12.5 MiB (TSan: half) */
    relay_ref_t made[NTASK], put[NPUT];
    for (int i = 0; i < NTASK; i++)
        made[i] = test_submit_size_seed("make", tsize, 1000 + (uint64_t)i);
    for (int i = 0; i < NPUT; i++)
        put[i] = put_pattern(psize, 5000 + (uint64_t)i);
    /* Tasks read them back wherever they were spilled (local or remote). */
    relay_ref_t sums[NTASK + NPUT];
    for (int i = 0; i < NTASK + NPUT; i++) {
        uint64_t seed = i < NTASK ? 1000 + (uint64_t)i : 5000 + (uint64_t)(i - NTASK);
        relay_arg_t a[2] = {relay_arg_ref(i < NTASK ? made[i] : put[i - NTASK]),
                            relay_arg_value(&seed, sizeof seed)};
        CHECK_OK(relay_submit("check", a, 2, NULL, &sums[i]));
    }
    for (int i = 0; i < NTASK + NPUT; i++)
        CHECK_NE((int64_t)test_get_i64(sums[i]), 0);
    /* And the driver gets every one, byte by byte. */
    for (int i = 0; i < NTASK; i++)
        test_check_pattern(made[i], tsize, 1000 + (uint64_t)i);
    for (int i = 0; i < NPUT; i++)
        test_check_pattern(put[i], psize, 5000 + (uint64_t)i);
    CHECK_OK(relay_release_many(sums, NTASK + NPUT));
    CHECK_OK(relay_release_many(made, NTASK));
    CHECK_OK(relay_release_many(put, NPUT));
}

/* Space freed in the file is reused: 24 objects of 2 MiB in turn (12 under
 * ThreadSanitizer), each released before the next, keep the file within
 * 12 MiB, far below the 48 MiB (24 MiB) written. */
static void reuse(void)
{
    char path[512];
    for (int i = 0; i < REUSE_ROUNDS; i++) {
        relay_ref_t r = put_pattern(2 * MB, 77 + (uint64_t)i);
        test_check_pattern(r, 2 * MB, 77 + (uint64_t)i);
        CHECK_OK(relay_release(r));
        CHECK_OK(relay_sync(TEST_LONG_S));
    }
    my_file(path, sizeof path);
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    if (st.st_size > (off_t)(12 * MB))
        fprintf(stderr, "spill file %s is %lld bytes\n", path, (long long)st.st_size);
    CHECK_LE(st.st_size, (off_t)(12 * MB));
}

/* ---- hdf5 errors ------------------------------------------------------------------- */

/* relay's failing HDF5 calls print nothing, and the program's own HDF5
 * error printing is as it was. */
static void hdf5_errors_quiet(relay_object_t o)
{
    /* The program prints HDF5's errors (to stderr, where they would show). */
    H5E_auto2_t fn0 = (H5E_auto2_t)H5Eprint2, fn1;
    void *data0 = stderr, *data1;
    CHECK(H5Eset_auto2(H5E_DEFAULT, fn0, data0) >= 0);
    char log[300];
    snprintf(log, sizeof log, "%s/stderr.txt", dir);
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    CHECK(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    int rc = relay_object_save(o, "/nonexistent-dir/x.h5", "d");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    CHECK_STATUS(rc, RELAY_ERR_IO);
    FILE *f = fopen(log, "r");
    char text[4096] = "";
    size_t got = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[got] = '\0';
    if (f) fclose(f);
    unlink(log);
    CHECK(strstr(text, "HDF5-DIAG") == NULL);
    H5Eget_auto2(H5E_DEFAULT, &fn1, &data1);
    CHECK(fn1 == fn0 && data1 == data0);
}

/* ---- typed ----------------------------------------------------------------------- */

static hid_t h5type(relay_dtype_t t)
{
    return t == RELAY_FLOAT64 ? H5T_NATIVE_DOUBLE
           : t == RELAY_INT32 ? H5T_NATIVE_INT32
                              : H5T_NATIVE_UINT8;
}

/* The string attribute name of d says want. */
static void check_str_attr(hid_t d, const char *name, const char *want)
{
    hid_t a = H5Aopen(d, name, H5P_DEFAULT);
    CHECK(a >= 0);
    hid_t type = H5Aget_type(a);
    CHECK_EQ(H5Tget_class(type), H5T_STRING);
    char buf[64] = "";
    CHECK_LT(H5Tget_size(type), sizeof buf);
    CHECK(H5Aread(a, type, buf) >= 0);
    CHECK_STREQ(buf, want);
    H5Tclose(type);
    H5Aclose(a);
}

/* Read dataset name of path with the HDF5 API and compare with want; its
 * attributes: size, checksum and dtype name (dtype), relay's version in a
 * saved file. */
static void check_dataset(const char *path, const char *name, relay_dtype_t t, int ndims,
                          const uint64_t *dims, const void *want, size_t size, const char *dtype,
                          int saved)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    CHECK(d >= 0);
    hid_t type = H5Dget_type(d), space = H5Dget_space(d);
    CHECK(H5Tequal(type, h5type(t)) > 0);
    CHECK_GT(H5Aexists(d, "relay_size"), 0);
    CHECK_GT(H5Aexists(d, "relay_checksum"), 0);
    check_str_attr(d, "relay_dtype", dtype);
    char version[32];
    snprintf(version, sizeof version, "%d.%d.%d", RELAY_VERSION_MAJOR, RELAY_VERSION_MINOR,
             RELAY_VERSION_PATCH);
    if (saved)
        check_str_attr(d, "relay_version", version);
    else
        check_str_attr(f, "relay_version", version);
    hsize_t got[RELAY_MAX_DIMS];
    CHECK_EQ(H5Sget_simple_extent_ndims(space), ndims);
    H5Sget_simple_extent_dims(space, got, NULL);
    for (int i = 0; i < ndims; i++)
        CHECK_EQ(got[i], dims[i]);
    void *buf = malloc(size);
    CHECK(buf != NULL);
    CHECK(H5Dread(d, h5type(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    CHECK(memcmp(buf, want, size) == 0);
    free(buf);
    H5Sclose(space);
    H5Tclose(type);
    H5Dclose(d);
    H5Fclose(f);
}

static void drive_typed(void)
{
    /* A 3-D float64 array and a 2-D int32 one, both above inline_max:
     * with a zero budget they go to the file at once. */
    uint64_t d3[3] = {20, 30, 40}, d2[2] = {300, 100};
    size_t n3 = 20 * 30 * 40, n2 = 300 * 100;
    double *a3 = malloc(n3 * sizeof *a3);
    int32_t *a2 = malloc(n2 * sizeof *a2);
    CHECK(a3 && a2);
    for (size_t i = 0; i < n3; i++)
        a3[i] = (double)i * 0.5 - 7;
    for (size_t i = 0; i < n2; i++)
        a2[i] = (int32_t)(i * 7919 % 100003) - 50000;
    relay_ref_t r3, r2, rb = put_pattern(300 * KB, 9);
    CHECK_OK(relay_put_array(a3, RELAY_FLOAT64, 3, d3, &r3));
    CHECK_OK(relay_put_array(a2, RELAY_INT32, 2, d2, &r2));
    test_wait_spilled(3);

    /* In the file: typed datasets of the arrays' shapes; bytes as uint8. */
    char path[512], name[32];
    my_file(path, sizeof path);
    snprintf(name, sizeof name, "o%016llx", (unsigned long long)r3.id);
    check_dataset(path, name, RELAY_FLOAT64, 3, d3, a3, n3 * sizeof *a3, "float64", 0);
    snprintf(name, sizeof name, "o%016llx", (unsigned long long)r2.id);
    check_dataset(path, name, RELAY_INT32, 2, d2, a2, n2 * sizeof *a2, "int32", 0);
    unsigned char *pb = malloc(300 * KB);
    test_fill(pb, 300 * KB, 9);
    uint64_t db[1] = {300 * KB};
    snprintf(name, sizeof name, "o%016llx", (unsigned long long)rb.id);
    check_dataset(path, name, RELAY_DTYPE_BYTES, 1, db, pb, 300 * KB, "bytes", 0);
    free(pb);

    /* Read back (here and by a task elsewhere), they keep type and shape. */
    relay_object_t o;
    CHECK_OK(relay_get(r3, TEST_LONG_S, &o));
    relay_dtype_t t;
    int nd;
    uint64_t dims[RELAY_MAX_DIMS];
    CHECK_OK(relay_object_array(o, &t, &nd, dims));
    CHECK(t == RELAY_FLOAT64 && nd == 3 && dims[0] == 20 && dims[1] == 30 && dims[2] == 40);
    CHECK(memcmp(relay_object_data(o), a3, n3 * sizeof *a3) == 0);
    relay_arg_t arg = relay_arg_ref(r2);
    relay_ref_t sh;
    CHECK_OK(relay_submit("shape", &arg, 1, NULL, &sh));
    int64_t seen[5];
    CHECK_OK(relay_get_value(sh, seen, sizeof seen, TEST_LONG_S));
    CHECK(seen[0] == RELAY_INT32 && seen[1] == 2 && seen[2] == 300 && seen[3] == 100);
    CHECK_OK(relay_release(sh));

    /* A task's array result, small, keeps its shape too. */
    relay_ref_t made = test_submit("make_array", NULL, 0);
    relay_object_t m;
    CHECK_OK(relay_get(made, TEST_LONG_S, &m));
    CHECK_OK(relay_object_array(m, &t, &nd, dims));
    CHECK(t == RELAY_INT16 && nd == 2 && dims[0] == 2 && dims[1] == 3);

    /* An array a task wrote in place: its type, shape and elements. */
    relay_ref_t placed = test_submit("make_in_place", NULL, 0);
    relay_object_t pv;
    CHECK_OK(relay_get(placed, TEST_LONG_S, &pv));
    CHECK_OK(relay_object_array(pv, &t, &nd, dims));
    CHECK(t == RELAY_FLOAT64 && nd == 2 && dims[0] == BUF_ROWS && dims[1] == BUF_COLS);
    CHECK_EQ(relay_object_size(pv), (size_t)BUF_ROWS * BUF_COLS * sizeof(double));
    const double *pa = relay_object_data(pv);
    size_t wrong = 0;
    for (int r = 0; r < BUF_ROWS; r++)
        for (int c = 0; c < BUF_COLS; c++)
            wrong += pa[r * BUF_COLS + c] != r * 1000.0 + c;
    CHECK_EQ(wrong, 0);
    CHECK_OK(relay_object_free(pv));
    CHECK_OK(relay_release(placed));

    /* Saving views into the program's own file. */
    char saved[300];
    snprintf(saved, sizeof saved, "%s/results.h5", dir);
    CHECK_OK(relay_object_save(o, saved, "fields/temperature"));
    CHECK_OK(relay_object_save(m, saved, "small"));
    CHECK_STATUS(relay_object_save(o, saved, "fields/temperature"), RELAY_ERR_EXISTS);
    CHECK_STATUS(relay_object_save(o, saved, ""), RELAY_ERR_INVALID_ARG);
    CHECK_STATUS(relay_object_save(o, saved, "a//b"), RELAY_ERR_INVALID_ARG);
    CHECK_STATUS(relay_object_save(o, "/nonexistent-dir/x.h5", "d"), RELAY_ERR_IO);
    hdf5_errors_quiet(o);
    CHECK_STATUS(relay_object_save(NULL, saved, "d"), RELAY_ERR_INVALID_ARG);
    check_dataset(saved, "fields/temperature", RELAY_FLOAT64, 3, d3, a3, n3 * sizeof *a3, "float64",
                  1);
    int16_t small[6] = {1, -2, 3, -4, 5, -6};
    uint64_t sd[2] = {2, 3};
    hid_t f = H5Fopen(saved, H5F_ACC_RDONLY, H5P_DEFAULT);
    int16_t back[6];
    hid_t ds = H5Dopen2(f, "small", H5P_DEFAULT);
    CHECK(ds >= 0 && H5Dread(ds, H5T_NATIVE_INT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) >= 0);
    CHECK(memcmp(back, small, sizeof small) == 0);
    H5Dclose(ds);
    H5Fclose(f);
    (void)sd;
    unlink(saved);

    /* Bad arrays change nothing. */
    relay_ref_t bad = {3};
    uint64_t zero_dims[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK_STATUS(relay_put_array(a2, 99, 1, d2, &bad), RELAY_ERR_INVALID_ARG);
    CHECK_STATUS(relay_put_array(a2, RELAY_INT32, 0, d2, &bad), RELAY_ERR_INVALID_ARG);
    CHECK_STATUS(relay_put_array(a2, RELAY_INT32, 9, zero_dims, &bad), RELAY_ERR_INVALID_ARG);
    CHECK_STATUS(relay_put_array(a2, RELAY_INT32, 1, NULL, &bad), RELAY_ERR_INVALID_ARG);
    uint64_t huge[2] = {UINT64_C(1) << 40, UINT64_C(1) << 40};
    CHECK_STATUS(relay_put_array(a2, RELAY_INT32, 2, huge, &bad), RELAY_ERR_OUT_OF_RANGE);
    CHECK_EQ(bad.id, 3);

    CHECK_OK(relay_object_free(o));
    CHECK_OK(relay_object_free(m));
    relay_ref_t all[4] = {r3, r2, rb, made};
    CHECK_OK(relay_release_many(all, 4));
    free(a3);
    free(a2);
}

/* ---- corrupt -------------------------------------------------------------------- */

/* Flip the bits of len bytes at offset off of the object of (size, seed)
 * in this rank's spill file; returns the file's path in path. */
static void damage(size_t size, uint64_t seed, size_t off, size_t len, char *path, size_t n)
{
    my_file(path, n);
    unsigned char *want = malloc(size), *buf = malloc(64 * MB);
    CHECK(want && buf);
    test_fill(want, size, seed);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    ssize_t got = pread(fd, buf, 64 * MB, 0), at = -1;
    CHECK_GT(got, (ssize_t)size);
    for (ssize_t i = 0; i + 4096 <= got && at < 0; i++) /* HDF5 need not align it */
        if (!memcmp(buf + i, want, 4096)) at = i;
    CHECK_GE(at, 0);
    for (size_t i = 0; i < len; i++)
        buf[at + (ssize_t)(off + i)] ^= 0xff;
    CHECK_EQ(pwrite(fd, buf + at + off, len, at + (ssize_t)off), (ssize_t)len);
    close(fd);
    free(buf);
    free(want);
}

static void drive_corrupt(void)
{
    const size_t size = 1 * MB;
    relay_ref_t good = put_pattern(size, 11), bad = put_pattern(size, 12);
    test_wait_spilled(2);
    char path[512];
    damage(size, 12, size / 2, 16, path, sizeof path);

    relay_object_t o = NULL;
    CHECK_STATUS(relay_get(bad, TEST_LONG_S, &o), RELAY_ERR_CORRUPT);
    CHECK_CONTAINS(relay_last_error(), "checksum");
    CHECK_CONTAINS(relay_last_error(), path);
    CHECK(o == NULL);
    /* Again: still corrupt, never handed out. */
    CHECK_STATUS(relay_get(bad, TEST_LONG_S, &o), RELAY_ERR_CORRUPT);
    /* A task that needs it fails, saying why. */
    uint64_t seed = 12;
    relay_arg_t a[2] = {relay_arg_ref(bad), relay_arg_value(&seed, sizeof seed)};
    relay_ref_t r;
    CHECK_OK(relay_submit("check", a, 2, NULL, &r));
    relay_object_t err;
    CHECK_STATUS(relay_get(r, TEST_LONG_S, &err), RELAY_ERR_TASK_FAILED);
    CHECK_CONTAINS(relay_object_error(err), "checksum");
    CHECK_OK(relay_object_free(err));
    /* The other object is intact. */
    test_check_pattern(good, size, 11);
    relay_ref_t all[3] = {good, bad, r};
    CHECK_OK(relay_release_many(all, 3));
}

/* A byte changed among the last few of an object whose size is no
 * multiple of the checksum's block is caught too. */
static void drive_corrupt_tail(void)
{
    const size_t size = MB + 45;
    uint64_t writes = test_stats().spill_writes;
    relay_ref_t r = put_pattern(size, 13);
    relay_stats_t s = test_stats();
    for (double end = test_now() + TEST_LONG_S; s.spill_writes == writes && test_now() < end;
         test_sleep(0.005))
        s = test_stats();
    CHECK_GT(s.spill_writes, writes);
    char path[512];
    damage(size, 13, size - 3, 1, path, sizeof path);
    relay_object_t o = NULL;
    CHECK_STATUS(relay_get(r, TEST_LONG_S, &o), RELAY_ERR_CORRUPT);
    CHECK(o == NULL);
    CHECK_OK(relay_release(r));
}

/* ---- store ------------------------------------------------------------------------ */

/* Wait until this rank's store holds at most bytes in memory. */
static relay_stats_t wait_in_memory_at_most(uint64_t bytes)
{
    relay_stats_t s = test_stats();
    for (double end = test_now() + TEST_LONG_S; s.store_bytes > bytes && test_now() < end;
         test_sleep(0.005))
        s = test_stats();
    return s;
}

/* Objects released while their write is in flight do not count against
 * the budget afterwards: later small ones stay in memory. */
static void released_during_write(void)
{
    relay_ref_t a = put_pattern(6 * MB, 21), b = put_pattern(6 * MB, 22);
    relay_ref_t ab[2] = {a, b};
    CHECK_OK(relay_release_many(ab, 2));
    CHECK_OK(relay_sync(TEST_LONG_S));
    relay_stats_t s = test_stats();
    for (double end = test_now() + TEST_LONG_S; s.store_objects && test_now() < end;
         test_sleep(0.005))
        s = test_stats();
    CHECK_EQ(s.store_objects, 0);
    uint64_t written = s.spill_write_bytes;
    relay_ref_t c = put_pattern(MB, 23), d = put_pattern(MB, 24);
    test_sleep(0.2);
    s = test_stats();
    CHECK_EQ(s.spilled_objects, 0);
    CHECK_EQ(s.store_bytes, 2 * MB);
    /* Only a write of a or b still in flight may have finished since. */
    CHECK_EQ((s.spill_write_bytes - written) % (6 * MB), 0);
    test_check_pattern(c, MB, 23);
    test_check_pattern(d, MB, 24);
    relay_ref_t cd[2] = {c, d};
    CHECK_OK(relay_release_many(cd, 2));
}

/* Spilled objects read back for views stay while the views live; once
 * they are freed, memory goes back within the budget without any other
 * store activity. Readers of one spilled object share one read. */
static void views_let_go(void)
{
    enum { N = 4 };
    relay_ref_t r[N];
    /* With the 8 MiB budget the two oldest end up only in the file. */
    for (int i = 0; i < N; i++)
        r[i] = put_pattern(3 * MB, 40 + (uint64_t)i);
    test_wait_spilled(2);
    uint64_t reads0 = wait_in_memory_at_most(8 * MB).spill_reads;
    /* The oldest, asked for four times in one call: one read, one copy. */
    relay_ref_t same[4] = {r[0], r[0], r[0], r[0]};
    relay_object_t views[N];
    CHECK_OK(relay_get_many(same, 4, TEST_LONG_S, views));
    for (int i = 1; i < 4; i++)
        CHECK(relay_object_data(views[i]) == relay_object_data(views[0]));
    CHECK_EQ(test_verify(relay_object_data(views[0]), 3 * MB, 40), SIZE_MAX);
    CHECK_EQ(test_stats().spill_reads - reads0, 1);
    for (int i = 0; i < 4; i++)
        CHECK_OK(relay_object_free(views[i]));

    /* All four in memory at once for views: over the budget while held. */
    CHECK_OK(relay_get_many(r, N, TEST_LONG_S, views));
    for (int i = 0; i < N; i++)
        CHECK_EQ(test_verify(relay_object_data(views[i]), 3 * MB, 40 + (uint64_t)i), SIZE_MAX);
    CHECK_EQ(test_stats().store_bytes, N * 3 * MB);
    for (int i = 0; i < N; i++)
        CHECK_OK(relay_object_free(views[i]));
    relay_stats_t s = wait_in_memory_at_most(8 * MB);
    CHECK_LE(s.store_bytes, 8 * MB);
    for (int i = 0; i < N; i++)
        test_check_pattern(r[i], 3 * MB, 40 + (uint64_t)i);
    CHECK_OK(relay_release_many(r, N));
}

/* An object that contains 10,000 refs (more than fit in a dataset
 * header's attribute) spills and comes back with all of them. */
static void many_refs(void)
{
    enum { NREFS = 10000 };
    const size_t size = 10 * MB; /* over the 8 MiB budget: straight to the file */
    relay_ref_t small;
    uint64_t v = 99;
    CHECK_OK(relay_put(&v, sizeof v, &small));
    relay_ref_t *refs = malloc(NREFS * sizeof *refs);
    unsigned char *b = malloc(size);
    CHECK(refs && b);
    for (int i = 0; i < NREFS; i++)
        refs[i] = small;
    test_fill(b, size, 31);
    uint64_t fails0 = test_stats().spill_failures;
    relay_ref_t big;
    CHECK_OK(relay_put_object(b, size, refs, NREFS, &big));
    relay_stats_t s = test_stats();
    CHECK_EQ(s.spill_failures, fails0);
    CHECK_GE(s.spilled_objects, 1);
    relay_object_t o;
    CHECK_OK(relay_get(big, TEST_LONG_S, &o));
    CHECK_EQ(relay_object_num_refs(o), NREFS);
    relay_ref_t last;
    CHECK_OK(relay_object_ref(o, NREFS - 1, &last));
    CHECK_EQ(last.id, small.id);
    CHECK_EQ(test_verify(relay_object_data(o), size, 31), SIZE_MAX);
    CHECK_OK(relay_object_free(o));
    relay_ref_t both[2] = {big, small};
    CHECK_OK(relay_release_many(both, 2));
    free(refs);
    free(b);
}

/* ---- diskfull -------------------------------------------------------------------- */

static void drive_diskfull(void)
{
    /* A 2 MiB file for a 1 MiB budget: of 10 objects of 1 MiB, two fit in
     * the file; the writes of the others fail and they stay in memory. */
    enum { N = 10 };
    relay_ref_t r[N];
    for (int i = 0; i < N; i++)
        r[i] = put_pattern(MB, 300 + (uint64_t)i);
    relay_stats_t s = test_stats();
    for (double end = test_now() + TEST_LONG_S; s.spill_failures == 0 && test_now() < end;
         test_sleep(0.005))
        s = test_stats();
    CHECK_GT(s.spill_failures, 0);
    CHECK_LE(s.spilled_bytes, 2 * MB);
    for (int i = 0; i < N; i++)
        test_check_pattern(r[i], MB, 300 + (uint64_t)i);
    CHECK_OK(relay_release_many(r, N));
}

/* ---- baddir ----------------------------------------------------------------------- */

static void try_dir(int *argc, char ***argv, const char *where, int on_rank, const char *says)
{
    relay_config_t c = {.field_mask = RELAY_CONFIG_SPILL_DIR, .spill_dir = dir};
    if (world_rank == on_rank) c.spill_dir = where;
    CHECK_STATUS(relay_init(argc, argv, &c), RELAY_ERR_CONFIG);
    if (world_rank == on_rank) {
        CHECK_CONTAINS(relay_last_error(), where);
        CHECK_CONTAINS(relay_last_error(), says);
    } else {
        CHECK_CONTAINS(relay_last_error(), "another rank");
    }
    int r;
    CHECK_STATUS(relay_rank(&r), RELAY_ERR_NOT_INITIALIZED);
}

/* ---- exists ---------------------------------------------------------------------- */

#define OCCUPIED "not relay's: leave me alone"

/* Put a file of someone else's where rank 0's spill file will go (the
 * name its host and pid, Slurm's job and step and rank 0's pid give it:
 * relay-<host>.<boot>-<pid>-<job>.<step>-<pid of rank 0>-<rank>.h5). */
static void occupy_path(char *path, size_t n)
{
    setenv("SLURM_JOB_ID", "4242", 1);
    setenv("SLURM_STEP_ID", "7", 1);
    long long pid = (long long)getpid();
    MPI_Bcast(&pid, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
    char host[256] = "", boot[16] = "";
    gethostname(host, sizeof host);
    /* Then '.' and the boot id's first 8 hex digits, where Linux says it. */
    FILE *b = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (b && fgets(boot, 9, b) && strlen(boot) == 8) {
        host[54] = '\0';
    } else {
        boot[0] = '\0';
        host[63] = '\0';
    }
    if (b) fclose(b);
    for (char *c = host; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("._-", *c)) *c = '_';
    if (boot[0]) strcat(strcat(host, "."), boot);
    snprintf(path, n, "%s/relay-%s-%lld-4242.7-%lld-0.h5", dir, host, pid, pid);
    if (world_rank != 0) return;
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(OCCUPIED, f);
    fclose(f);
}

static void check_occupied(const char *path)
{
    char text[64] = "";
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    CHECK(fgets(text, sizeof text, f) != NULL);
    fclose(f);
    CHECK(strcmp(text, OCCUPIED) == 0);
}

/* Spills fail (the file is not relay's to take): objects stay in memory,
 * every byte intact. */
static void drive_exists(const char *taken)
{
    enum { N = 4 };
    relay_ref_t r[N];
    for (int i = 0; i < N; i++)
        r[i] = put_pattern(MB, 60 + (uint64_t)i);
    relay_stats_t s = test_stats();
    for (double end = test_now() + TEST_LONG_S; !s.spill_failures && test_now() < end;
         test_sleep(0.005))
        s = test_stats();
    CHECK_GT(s.spill_failures, 0);
    CHECK_EQ(s.spilled_objects, 0);
    for (int i = 0; i < N; i++)
        test_check_pattern(r[i], MB, 60 + (uint64_t)i);
    check_occupied(taken);
    CHECK_OK(relay_release_many(r, N));
}

/* ---- main --------------------------------------------------------------------------- */

static void make_dir(void)
{
    if (world_rank == 0) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/relay-spill-test-XXXXXX", base && *base ? base : "/tmp");
        CHECK(mkdtemp(dir) != NULL);
    }
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
}

int main(int argc, char **argv)
{
    const char *scenario = argc > 1 ? argv[1] : "workload";
    static const char *known[] = {"workload", "typed", "corrupt", "diskfull", "baddir",
                                  "keep",     "store", "mixed",   "exists"};
    int found = 0;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        found |= !strcmp(scenario, known[i]);
    if (!found) {
        fprintf(stderr, "test_spill: no scenario '%s'\n", scenario);
        return 2;
    }
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    make_dir();
    CHECK_OK(relay_register("make", fn_make));
    CHECK_OK(relay_register("check", fn_check));
    CHECK_OK(relay_register("shape", fn_shape));
    CHECK_OK(relay_register("make_array", fn_make_array));
    CHECK_OK(relay_register("make_in_place", fn_make_in_place));

    if (!strcmp(scenario, "baddir")) {
        try_dir(&argc, &argv, "/nonexistent/relay-spill", world_size - 1, "No such file");
        try_dir(&argc, &argv, "/proc", world_size - 1, "cannot create files");
    }
    relay_config_t c = {.field_mask = RELAY_CONFIG_SPILL_DIR | RELAY_CONFIG_STORE_BUDGET,
                        .spill_dir = dir,
                        .store_budget = MB};
    if (!strcmp(scenario, "typed") || !strcmp(scenario, "corrupt") || !strcmp(scenario, "keep"))
        c.store_budget = 0;
    if (!strcmp(scenario, "diskfull")) {
        c.field_mask |= RELAY_CONFIG_SPILL_MAX;
        c.spill_max = 2 * MB;
    }
    if (!strcmp(scenario, "store")) c.store_budget = 8 * MB;
    /* Rank 0 alone with a budget of its own: every rank must still start. */
    if (!strcmp(scenario, "mixed") && world_rank != 0) c.field_mask &= ~RELAY_CONFIG_STORE_BUDGET;
    char taken[600] = "";
    if (!strcmp(scenario, "exists")) occupy_path(taken, sizeof taken);
    CHECK_OK(relay_init(&argc, &argv, &c));
    if (world_rank == 0) {
        if (!strcmp(scenario, "workload")) {
            drive_workload();
            reuse();
        } else if (!strcmp(scenario, "typed")) {
            drive_typed();
        } else if (!strcmp(scenario, "corrupt")) {
            drive_corrupt();
            drive_corrupt_tail();
        } else if (!strcmp(scenario, "store")) {
            released_during_write();
            views_let_go();
            many_refs();
        } else if (!strcmp(scenario, "mixed")) {
            /* Rank 0's own 1 MiB budget is the one it uses. */
            relay_ref_t r[3];
            for (int i = 0; i < 3; i++)
                r[i] = put_pattern(MB, 5 + (uint64_t)i);
            test_wait_spilled(1);
            for (int i = 0; i < 3; i++)
                test_check_pattern(r[i], MB, 5 + (uint64_t)i);
            CHECK_OK(relay_release_many(r, 3));
        } else if (!strcmp(scenario, "exists")) {
            drive_exists(taken);
        } else if (!strcmp(scenario, "diskfull")) {
            drive_diskfull();
        } else if (!strcmp(scenario, "keep")) {
            relay_ref_t r = put_pattern(MB, 1);
            test_wait_spilled(1);
            test_check_pattern(r, MB, 1);
            CHECK_OK(relay_release(r));
        }
    }
    test_barrier();
    if (!strcmp(scenario, "workload")) {
        /* The workload did spill and read back, and left nothing behind. */
        CHECK_GT(SUM(spill_writes), 0);
        CHECK_GT(SUM(spill_reads), 0);
        CHECK_OK(relay_sync(TEST_LONG_S));
        test_barrier();
        relay_stats_t s = test_stats();
        for (double end = test_now() + TEST_LONG_S;
             (s.store_objects || s.spilled_bytes) && test_now() < end; test_sleep(0.01))
            s = test_stats();
        CHECK_EQ(s.store_objects, 0);
        CHECK_EQ(s.spilled_bytes, 0);
        CHECK_LE(s.store_bytes, MB);
    }
    CHECK_OK(relay_finalize());
    test_barrier();
    char left[512] = "";
    int nleft = files_left(left, sizeof left);
    if (!strcmp(scenario, "exists")) {
        /* The file that was there is all there is, untouched. */
        if (world_rank == 0) {
            CHECK_EQ(nleft, 1);
            CHECK(strcmp(left, taken) == 0);
            check_occupied(taken);
            unlink(taken);
        }
    } else if (!strcmp(scenario, "keep")) {
        /* Kept, and a valid HDF5 file. */
        if (world_rank == 0) {
            CHECK_GE(nleft, 1);
            CHECK_GT(H5Fis_hdf5(left), 0);
        }
        test_barrier();
        if (world_rank == 0)
            for (char f[512]; files_left(f, sizeof f) > 0;)
                unlink(f);
    } else {
        if (nleft) fprintf(stderr, "left behind: %s\n", left);
        CHECK_EQ(nleft, 0); /* removed at finalize */
    }
    test_barrier();
    if (world_rank == 0) rmdir(dir);
    MPI_Finalize();
    if (world_rank == 0) printf("spill %s: PASS\n", scenario);
    return 0;
}
