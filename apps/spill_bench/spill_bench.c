/*
 * relay-spill-bench: how fast the store spills to HDF5 and reads back,
 * next to plain sequential write(2) / read(2) of the same bytes to a file
 * in the same directory, in the same run, as medians over -r rounds.
 *
 * Rank 0's store has a budget of two objects of -s MiB. Each round:
 *   plain       write(2) -n chunks of -s MiB to a new file, read them back.
 *   eviction    put -n objects; the I/O thread writes the older ones out
 *               while the puts go on. Then get every one back in order:
 *               each is read from the file.
 *   direct      put -n/3 objects of 3 x -s MiB, over the whole budget: each
 *               goes straight to the file from the caller's buffer.
 * Metrics (GB/s, each with its plain counterpart and the ratio):
 *   spill_write     the store's file writes: bytes / time in them (HDF5,
 *                   checksum), from relay_stats
 *   spill_restore   the store's file reads, likewise
 *   put_evict       first put until all but the budget's worth is written
 *                   (the put's copy into the store competes for memory
 *                   bandwidth with the writes)
 *   put_direct      the puts of objects over the budget, caller's view
 *   get_restore     the gets of spilled objects, caller's view
 * Neither side calls fsync: both measure what reaches the operating system.
 * Before each timed phase, sync(2) writes back what earlier phases left
 * dirty (untimed), so that no phase pays for another's write-back; the
 * order of plain and store phases alternates from round to round.
 *
 *   mpirun -np 1 relay-spill-bench [-n objects] [-s MiB] [-r rounds] [-d dir]
 *                                  [--json] [--quick]
 */
#define _XOPEN_SOURCE 700 /* sync */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "relay.h"

#define MAX_ROUNDS 99

static int json;

static void die(const char *what, int rc)
{
    fprintf(stderr, "relay-spill-bench: %s: %s (%s)\n", what, relay_strerror(rc),
            relay_last_error());
    exit(1);
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != RELAY_OK) die(#call, rc_);                                                      \
    } while (0)

enum { M_PLAIN_W, M_PLAIN_R, M_SPILL_W, M_SPILL_R, M_PUT_EVICT, M_PUT_DIRECT, M_GET, M_COUNT };
static double samples[M_COUNT][MAX_ROUNDS];

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(int m, int rounds)
{
    double v[MAX_ROUNDS];
    memcpy(v, samples[m], (size_t)rounds * sizeof *v);
    qsort(v, (size_t)rounds, sizeof *v, cmp_double);
    return rounds % 2 ? v[rounds / 2] : (v[rounds / 2 - 1] + v[rounds / 2]) / 2;
}

static void report(const char *metric, int m, const char *base, int b, int rounds)
{
    double v = median(m, rounds), bv = median(b, rounds), ratio = bv > 0 ? v / bv : 0;
    if (json)
        printf("{\"metric\":\"%s\",\"value\":%.4g,\"unit\":\"GB/s\",\"baseline\":\"%s\","
               "\"baseline_value\":%.4g,\"ratio\":%.4g,\"rounds\":%d}\n",
               metric, v, base, bv, ratio, rounds);
    else
        printf("%-14s %8.3f GB/s   %-11s %8.3f GB/s   ratio %.3f\n", metric, v, base, bv, ratio);
    fflush(stdout);
}

static double gbs(size_t bytes, double seconds)
{
    return seconds > 0 ? (double)bytes / seconds / 1e9 : 0;
}

/* Plain write then read of n chunks of size bytes; GB/s of each. */
static void plain(const char *dir, const char *buf, char *in, size_t size, int n, double *w,
                  double *r)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/relay-spill-bench-%d.bin", dir, (int)getpid());
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    if (fd < 0) die("open the plain file", RELAY_ERR_IO);
    double t0 = app_now();
    for (int i = 0; i < n; i++)
        for (size_t off = 0; off < size;) {
            ssize_t k = write(fd, buf + off, size - off);
            if (k <= 0) die("write the plain file", RELAY_ERR_IO);
            off += (size_t)k;
        }
    close(fd);
    *w = gbs(size * (size_t)n, app_now() - t0);
    fd = open(path, O_RDONLY);
    if (fd < 0) die("read the plain file", RELAY_ERR_IO);
    t0 = app_now();
    for (int i = 0; i < n; i++)
        for (size_t off = 0; off < size;) {
            ssize_t k = read(fd, in + off, size - off);
            if (k <= 0) die("read the plain file", RELAY_ERR_IO);
            off += (size_t)k;
        }
    *r = gbs(size * (size_t)n, app_now() - t0);
    close(fd);
    unlink(path);
}

static relay_stats_t stats(void)
{
    relay_stats_t s;
    OK(relay_stats(&s));
    return s;
}

static void check(relay_object_t o, const char *buf, size_t size)
{
    const char *d = relay_object_data(o);
    if (relay_object_size(o) != size || d[0] != buf[0] || d[size / 2] != buf[size / 2] ||
        d[size - 1] != buf[size - 1])
        die("check the bytes read back", RELAY_ERR_INTERNAL);
}

/* Eviction and restore: puts of n objects with a budget of two. */
static void evict_round(const char *buf, size_t size, int n, relay_ref_t *refs, int k)
{
    relay_stats_t s0 = stats();
    double t0 = app_now();
    for (int i = 0; i < n; i++)
        OK(relay_put(buf, size, &refs[i]));
    uint64_t want = s0.spill_writes + (uint64_t)n - 2;
    while (stats().spill_writes < want)
        nanosleep(&(struct timespec){.tv_nsec = 100000}, NULL);
    samples[M_PUT_EVICT][k] = gbs(size * (size_t)(n - 2), app_now() - t0);
    relay_stats_t s1 = stats();
    t0 = app_now();
    for (int i = 0; i < n; i++) {
        relay_object_t o;
        OK(relay_get(refs[i], RELAY_FOREVER, &o));
        check(o, buf, size);
        OK(relay_object_free(o));
    }
    samples[M_GET][k] = gbs(size * (size_t)n, app_now() - t0);
    relay_stats_t s2 = stats();
    OK(relay_release_many(refs, (size_t)n));
    samples[M_SPILL_W][k] = gbs(s1.spill_write_bytes - s0.spill_write_bytes,
                                (s1.spill_write_ns - s0.spill_write_ns) * 1e-9);
    samples[M_SPILL_R][k] = gbs(s2.spill_read_bytes - s1.spill_read_bytes,
                                (s2.spill_read_ns - s1.spill_read_ns) * 1e-9);
}

/* Objects over the budget: n of size bytes straight to the file. */
static void direct_round(const char *buf, size_t size, int n, relay_ref_t *refs, int k)
{
    double t0 = app_now();
    for (int i = 0; i < n; i++)
        OK(relay_put(buf, size, &refs[i]));
    samples[M_PUT_DIRECT][k] = gbs(size * (size_t)n, app_now() - t0);
    relay_object_t o;
    OK(relay_get(refs[n - 1], RELAY_FOREVER, &o));
    check(o, buf, size);
    OK(relay_object_free(o));
    OK(relay_release_many(refs, (size_t)n));
}

static void usage(void)
{
    fprintf(stderr, "usage: relay-spill-bench [-n objects] [-s MiB] [-r rounds] [-d dir] [--json] "
                    "[--quick]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int n = 32, rounds = 5, quick = 0;
    size_t mib = 16;
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-s") && i + 1 < argc)
            mib = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-d") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else
            usage();
    }
    if (quick) {
        n = 6;
        mib = 1;
        rounds = 1;
    }
    if (n < 3 || mib < 1 || rounds < 1 || rounds > MAX_ROUNDS) usage();
    size_t size = mib << 20;
    relay_config_t cfg = {.field_mask = RELAY_CONFIG_STORE_BUDGET | RELAY_CONFIG_SPILL_DIR,
                          .store_budget = 2 * size,
                          .spill_dir = dir};
    OK(relay_init(&argc, &argv, &cfg));
    int rank;
    OK(relay_rank(&rank));
    if (rank == 0) {
        int ndirect = n / 3;
        char *buf = malloc(3 * size), *in = malloc(size);
        relay_ref_t *refs = malloc((size_t)n * sizeof *refs);
        if (!buf || !in || !refs) die("setup", RELAY_ERR_NO_MEMORY);
        for (size_t i = 0; i < 3 * size; i++)
            buf[i] = (char)(i * 131 + 7);
        memset(in, 0, size);
        for (int k = 0; k < rounds; k++) {
            if (k % 2) {
                sync();
                plain(dir, buf, in, size, n, &samples[M_PLAIN_W][k], &samples[M_PLAIN_R][k]);
            }
            sync();
            evict_round(buf, size, n, refs, k);
            sync();
            direct_round(buf, 3 * size, ndirect, refs, k);
            if (k % 2 == 0) {
                sync();
                plain(dir, buf, in, size, n, &samples[M_PLAIN_W][k], &samples[M_PLAIN_R][k]);
            }
        }
        report("spill_write", M_SPILL_W, "plain_write", M_PLAIN_W, rounds);
        report("put_evict", M_PUT_EVICT, "plain_write", M_PLAIN_W, rounds);
        report("put_direct", M_PUT_DIRECT, "plain_write", M_PLAIN_W, rounds);
        report("spill_restore", M_SPILL_R, "plain_read", M_PLAIN_R, rounds);
        report("get_restore", M_GET, "plain_read", M_PLAIN_R, rounds);
        relay_stats_t s = stats();
        if (!json)
            printf("%d rounds: %d objects of %zu MiB (budget 2), %d of %zu MiB direct; %llu "
                   "writes, %llu reads, %llu failed\n",
                   rounds, n, mib, ndirect, 3 * mib, (unsigned long long)s.spill_writes,
                   (unsigned long long)s.spill_reads, (unsigned long long)s.spill_failures);
        if (s.spill_failures) die("spill writes failed", RELAY_ERR_IO);
        free(refs);
        free(in);
        free(buf);
    }
    OK(relay_finalize());
    return 0;
}
