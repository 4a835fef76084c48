/* Helpers shared by relay's tests: clocks, RSS, data patterns, small relay
 * wrappers that CHECK their status, and gentle MPI coordination between the
 * ranks' main threads (relay works on its own duplicate of the communicator,
 * so the tests may use MPI_COMM_WORLD for their own traffic). */
#ifndef RELAY_TEST_UTIL_H
#define RELAY_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* Built with ThreadSanitizer (GCC defines the macro, Clang the feature). */
#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif
#ifndef TEST_TSAN
#define TEST_TSAN 0
#endif

/* Timeouts of test waits that should succeed: long enough for a loaded
 * 2-core machine, short enough that a hang fails before CTest's timeout
 * (which a ThreadSanitizer build multiplies by 4, as it does this: the
 * code runs several times slower). */
#if TEST_TSAN
#define TEST_LONG_S 240.0
#else
#define TEST_LONG_S 60.0
#endif

/* A sanitizer's own memory (ASan's quarantine, TSan's shadow and history)
 * makes RSS say nothing about relay's. */
#if defined(__SANITIZE_ADDRESS__) || TEST_TSAN
#define TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_SANITIZED 1
#endif
#endif
#ifndef TEST_SANITIZED
#define TEST_SANITIZED 0
#endif

static inline double test_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void test_sleep(double s)
{
    struct timespec ts;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Resident set size in bytes, or -1 when /proc/self/statm is absent. */
static inline long long test_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    long long size = 0, resident = 0;
    int n = fscanf(f, "%lld %lld", &size, &resident);
    fclose(f);
    if (n != 2) return -1;
    return resident * (long long)sysconf(_SC_PAGESIZE);
}

/* ---- deterministic data ------------------------------------------------- */

static inline uint64_t test_mix64(uint64_t x)
{
    /* xorshift64* of (x + seed-like offset); never maps to a fixed zero. */
    x += UINT64_C(0x9E3779B97F4A7C15);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

/* Byte i of the pattern `seed` is a function of (seed, i) only, so any rank
 * can produce or verify any slice. */
static inline unsigned char test_pattern_byte(uint64_t seed, size_t i)
{
    return (unsigned char)(test_mix64(seed * UINT64_C(0x100000001B3) ^ (i / 8)) >> (8 * (i % 8)));
}

static inline void test_fill(void *buf, size_t size, uint64_t seed)
{
    unsigned char *p = (unsigned char *)buf;
    size_t words = size / 8;
    for (size_t w = 0; w < words; w++) {
        uint64_t v = test_mix64(seed * UINT64_C(0x100000001B3) ^ w);
        for (int b = 0; b < 8; b++)
            p[w * 8 + (size_t)b] = (unsigned char)(v >> (8 * b));
    }
    for (size_t i = words * 8; i < size; i++)
        p[i] = test_pattern_byte(seed, i);
}

/* Offset of the first byte that differs from the pattern, or SIZE_MAX. */
static inline size_t test_verify(const void *buf, size_t size, uint64_t seed)
{
    const unsigned char *p = (const unsigned char *)buf;
    size_t words = size / 8;
    for (size_t w = 0; w < words; w++) {
        uint64_t v = test_mix64(seed * UINT64_C(0x100000001B3) ^ w);
        for (int b = 0; b < 8; b++)
            if (p[w * 8 + (size_t)b] != (unsigned char)(v >> (8 * b))) return w * 8 + (size_t)b;
    }
    for (size_t i = words * 8; i < size; i++)
        if (p[i] != test_pattern_byte(seed, i)) return i;
    return SIZE_MAX;
}

/* FNV-1a over 8-byte words (then the tail): a checksum both sides compute. */
static inline uint64_t test_hash(const void *buf, size_t size)
{
    const unsigned char *p = (const unsigned char *)buf;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * UINT64_C(0x100000001b3);
    }
    for (; i < size; i++)
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h ^ (uint64_t)size;
}

/* Inside a remote function: a relay call that must succeed. On failure the
 * task fails naming the call, its status and relay_last_error(), so the
 * driver's get reports what went wrong where. */
#define TASK_OK(ctx, call)                                                                         \
    do {                                                                                           \
        int task__s = (call);                                                                      \
        if (task__s != RELAY_OK) {                                                                 \
            char task__e[512];                                                                     \
            snprintf(task__e, sizeof task__e, "%s", relay_last_error());                           \
            relay_ctx_fail(ctx, "%s:%d: %s returned %s (%s)", __FILE__, __LINE__, #call,           \
                           relay_status_name(task__s), task__e);                                   \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

/* ---- relay wrappers ------------------------------------------------------ */

/* The helpers below report failures at their caller's line. */
static inline relay_stats_t test__stats(const char *file, int line)
{
    relay_stats_t s;
    CHECK_OK_AT(file, line, relay_stats(&s));
    return s;
}
#define test_stats() test__stats(__FILE__, __LINE__)

static inline void test_print_stats(const char *label, const relay_stats_t *s)
{
    printf("[%s] submitted %llu executed %llu pending %llu dir_objects %llu dir_bytes %llu "
           "store_objects %llu store_bytes %llu held %llu views %llu fetched %llu "
           "live_objects %llu\n",
           label, (unsigned long long)s->tasks_submitted, (unsigned long long)s->tasks_executed,
           (unsigned long long)s->tasks_pending, (unsigned long long)s->directory_objects,
           (unsigned long long)s->directory_bytes, (unsigned long long)s->store_objects,
           (unsigned long long)s->store_bytes, (unsigned long long)s->held_refs,
           (unsigned long long)s->live_views, (unsigned long long)s->bytes_fetched,
           (unsigned long long)s->live_objects);
    fflush(stdout);
}

static inline int test__rank(const char *file, int line)
{
    int r;
    CHECK_OK_AT(file, line, relay_rank(&r));
    return r;
}
#define test_rank() test__rank(__FILE__, __LINE__)

static inline int test__size(const char *file, int line)
{
    int s;
    CHECK_OK_AT(file, line, relay_size(&s));
    return s;
}
#define test_size() test__size(__FILE__, __LINE__)

/* Whether rank 0 runs tasks: always alone, otherwise only when asked
 * (RELAY_DRIVER_WORKERS=1; the tests never set a config field for it). */
static inline int test_driver_hosts_workers(int size)
{
    const char *e = getenv("RELAY_DRIVER_WORKERS");
    return size == 1 || (e && strcmp(e, "1") == 0);
}

static inline relay_ref_t test__put_i64(int64_t v, const char *file, int line)
{
    relay_ref_t r;
    CHECK_OK_AT(file, line, relay_put(&v, sizeof v, &r));
    return r;
}
#define test_put_i64(v) test__put_i64((v), __FILE__, __LINE__)

static inline int64_t test__get_i64(relay_ref_t r, const char *file, int line)
{
    int64_t v = 0;
    CHECK_OK_AT(file, line, relay_get_value(r, &v, sizeof v, TEST_LONG_S));
    return v;
}
#define test_get_i64(r) test__get_i64((r), __FILE__, __LINE__)

static inline relay_ref_t test__submit(const char *fn, const relay_arg_t *args, size_t nargs,
                                       const char *file, int line)
{
    relay_ref_t r;
    CHECK_OK_AT(file, line, relay_submit(fn, args, nargs, NULL, &r));
    return r;
}
#define test_submit(fn, args, nargs) test__submit((fn), (args), (nargs), __FILE__, __LINE__)

/* Polls relay_sync and relay_stats until the n uint64_t fields of
 * relay_stats_t at byte offsets off[] equal want[], or timeout_s has
 * passed, and returns the last stats; prints them under `label` when the
 * fields never got there. The caller CHECKs the fields, so a failure names
 * them at its caller's line. */
static inline relay_stats_t test__poll_stats(const size_t *off, const uint64_t *want, size_t n,
                                             double timeout_s, const char *label, const char *file,
                                             int line)
{
    double end = test_now() + timeout_s;
    relay_stats_t s;
    for (;;) {
        CHECK_OK_AT(file, line, relay_sync(TEST_LONG_S));
        s = test__stats(file, line);
        size_t same = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t v;
            memcpy(&v, (const char *)&s + off[i], sizeof v);
            same += v == want[i];
        }
        if (same == n) return s;
        if (test_now() > end) break;
        test_sleep(0.01);
    }
    test_print_stats(label, &s);
    return s;
}

/* Frees reach rank 0's directory (and holders) asynchronously, e.g. releases
 * a task made, which take effect once its returns are recorded. Poll with
 * relay_sync until rank 0's live object count is back to `objects` (and
 * bytes to `bytes`), then check it: a leak still fails, after `timeout_s`. */
static inline relay_stats_t test__wait_directory(uint64_t objects, uint64_t bytes, double timeout_s,
                                                 const char *file, int line)
{
    const size_t off[2] = {offsetof(relay_stats_t, directory_objects),
                           offsetof(relay_stats_t, directory_bytes)};
    const uint64_t want[2] = {objects, bytes};
    relay_stats_t s =
        test__poll_stats(off, want, 2, timeout_s, "directory not back to baseline", file, line);
    CHECK_CMP_AT(file, line, s.directory_objects, ==, objects);
    CHECK_CMP_AT(file, line, s.directory_bytes, ==, bytes);
    return s;
}
#define test_wait_directory(objects, bytes, timeout_s)                                             \
    test__wait_directory((objects), (bytes), (timeout_s), __FILE__, __LINE__)

/* The same for this rank's store (the primary copies of large objects made
 * here are freed when rank 0 tells this rank to). */
static inline relay_stats_t test__wait_store(uint64_t objects, double timeout_s, const char *file,
                                             int line)
{
    const size_t off = offsetof(relay_stats_t, store_objects);
    relay_stats_t s =
        test__poll_stats(&off, &objects, 1, timeout_s, "store not back to baseline", file, line);
    CHECK_CMP_AT(file, line, s.store_objects, ==, objects);
    return s;
}
#define test_wait_store(objects, timeout_s)                                                        \
    test__wait_store((objects), (timeout_s), __FILE__, __LINE__)

/* The same for the object buffers alive in this process (live_objects):
 * frees of released objects and of freed views may trail a little. */
static inline relay_stats_t test__wait_live_objects(uint64_t objects, double timeout_s,
                                                    const char *file, int line)
{
    const size_t off = offsetof(relay_stats_t, live_objects);
    relay_stats_t s = test__poll_stats(&off, &objects, 1, timeout_s,
                                       "live objects not back to baseline", file, line);
    CHECK_CMP_AT(file, line, s.live_objects, ==, objects);
    return s;
}
#define test_wait_live_objects(objects, timeout_s)                                                 \
    test__wait_live_objects((objects), (timeout_s), __FILE__, __LINE__)

/* Waits (this rank only) until its store has spilled at least n objects
 * and returns its stats; fails after TEST_LONG_S. */
static inline relay_stats_t test__wait_spilled(uint64_t n, const char *file, int line)
{
    relay_stats_t s = test__stats(file, line);
    for (double end = test_now() + TEST_LONG_S; s.spilled_objects < n && test_now() < end;
         test_sleep(0.005))
        s = test__stats(file, line);
    CHECK_CMP_AT(file, line, s.spilled_objects, >=, n);
    return s;
}
#define test_wait_spilled(n) test__wait_spilled((n), __FILE__, __LINE__)

/* Prints s under `label` and checks that this rank is at rest: it holds
 * `held_refs` refs, no view is alive and no task is pending. */
static inline void test__check_at_rest(const char *label, const relay_stats_t *s,
                                       uint64_t held_refs, const char *file, int line)
{
    test_print_stats(label, s);
    CHECK_CMP_AT(file, line, s->held_refs, ==, held_refs);
    CHECK_CMP_AT(file, line, s->live_views, ==, 0);
    CHECK_CMP_AT(file, line, s->tasks_pending, ==, 0);
}
#define test_check_at_rest(label, s, held_refs)                                                    \
    test__check_at_rest((label), (s), (held_refs), __FILE__, __LINE__)

/* Gets ref and checks that it holds exactly `size` bytes of pattern `seed`. */
static inline void test__check_pattern(relay_ref_t ref, size_t size, uint64_t seed,
                                       const char *file, int line)
{
    relay_object_t obj;
    CHECK_OK_AT(file, line, relay_get(ref, TEST_LONG_S, &obj));
    CHECK_CMP_AT(file, line, relay_object_size(obj), ==, size);
    CHECK_CMP_AT(file, line, test_verify(relay_object_data(obj), size, seed), ==, SIZE_MAX);
    CHECK_OK_AT(file, line, relay_object_free(obj));
}
#define test_check_pattern(ref, size, seed)                                                        \
    test__check_pattern((ref), (size), (seed), __FILE__, __LINE__)

/* ---- remote functions shared by the tests -------------------------------- */

/* Inside a remote function: copies argument i, which must have exactly
 * `size` bytes, to out. Returns its status (SIZE_MISMATCH for another
 * size); out is written only on success. */
static inline int test_ctx_arg_fixed(relay_ctx_t *ctx, size_t i, void *out, size_t size)
{
    const void *d;
    size_t sz;
    int rc = relay_ctx_arg(ctx, i, &d, &sz);
    if (rc) return rc;
    if (sz != size) return RELAY_ERR_SIZE_MISMATCH;
    memcpy(out, d, size);
    return RELAY_OK;
}

/* Argument i of a task as an int64_t; 0 when it is not 8 bytes. */
static inline int64_t test_arg_i64(relay_ctx_t *ctx, size_t i)
{
    int64_t v = 0;
    test_ctx_arg_fixed(ctx, i, &v, sizeof v);
    return v;
}

/* Return 0 of a task set to v. */
static inline int test_ret_i64(relay_ctx_t *ctx, int64_t v)
{
    return relay_ctx_return(ctx, 0, &v, sizeof v);
}

/* (ms: int64) -> ms, after sleeping that many milliseconds. */
static inline int test_fn_sleep_ms(relay_ctx_t *ctx)
{
    int64_t ms;
    if (test_ctx_arg_fixed(ctx, 0, &ms, sizeof ms)) return 1;
    test_sleep((double)ms / 1000.0);
    return relay_ctx_return(ctx, 0, &ms, sizeof ms);
}

/* (v: int64) -> v + 1. */
static inline int test_fn_add1(relay_ctx_t *ctx)
{
    int64_t v;
    if (test_ctx_arg_fixed(ctx, 0, &v, sizeof v)) return 1;
    v++;
    return relay_ctx_return(ctx, 0, &v, sizeof v);
}

/* Inside a remote function whose arguments 0 and 1 are (size, seed), both
 * uint64: a malloc'ed buffer of `size` bytes of pattern `seed` (size in
 * *size_p), or NULL, the task failed, on bad arguments or short memory. */
static inline void *test_ctx_pattern(relay_ctx_t *ctx, size_t *size_p)
{
    uint64_t size, seed;
    if (test_ctx_arg_fixed(ctx, 0, &size, sizeof size) ||
        test_ctx_arg_fixed(ctx, 1, &seed, sizeof seed)) {
        relay_ctx_fail(ctx, "want (size, seed) as two uint64 arguments");
        return NULL;
    }
    void *buf = malloc(size ? size : 1);
    if (!buf) {
        relay_ctx_fail(ctx, "no memory for %llu bytes", (unsigned long long)size);
        return NULL;
    }
    test_fill(buf, size, seed);
    *size_p = size;
    return buf;
}

/* (size, seed: uint64) -> `size` bytes of pattern `seed`. */
static inline int test_fn_make_pattern(relay_ctx_t *ctx)
{
    size_t size;
    void *buf = test_ctx_pattern(ctx, &size);
    if (!buf) return 1;
    int rc = relay_ctx_return(ctx, 0, buf, size);
    free(buf);
    return rc;
}

/* Submits fn with the arguments (size, seed), both uint64 by value. */
static inline relay_ref_t test__submit_size_seed(const char *fn, uint64_t size, uint64_t seed,
                                                 const char *file, int line)
{
    relay_arg_t args[2] = {relay_arg_value(&size, sizeof size),
                           relay_arg_value(&seed, sizeof seed)};
    return test__submit(fn, args, 2, file, line);
}
#define test_submit_size_seed(fn, size, seed)                                                      \
    test__submit_size_seed((fn), (size), (seed), __FILE__, __LINE__)

/* ---- MPI between the ranks' main threads --------------------------------- */

/* Blocking MPI calls spin in Open MPI; with 4 ranks on 2 cores that starves
 * relay's own threads. These wait on a request with short sleeps instead. */
static inline void test_mpi_wait(MPI_Request *req)
{
    int done = 0;
    for (;;) {
        CHECK_EQ(MPI_Test(req, &done, MPI_STATUS_IGNORE), MPI_SUCCESS);
        if (done) return;
        test_sleep(0.0005);
    }
}

static inline void test_barrier(void)
{
    MPI_Request req;
    CHECK_EQ(MPI_Ibarrier(MPI_COMM_WORLD, &req), MPI_SUCCESS);
    test_mpi_wait(&req);
}

static inline void test_send_u64(uint64_t v, int dest, int tag)
{
    MPI_Request req;
    CHECK_EQ(MPI_Isend(&v, 1, MPI_UINT64_T, dest, tag, MPI_COMM_WORLD, &req), MPI_SUCCESS);
    test_mpi_wait(&req);
}

static inline uint64_t test_recv_u64(int src, int tag)
{
    uint64_t v = 0;
    MPI_Request req;
    CHECK_EQ(MPI_Irecv(&v, 1, MPI_UINT64_T, src, tag, MPI_COMM_WORLD, &req), MPI_SUCCESS);
    test_mpi_wait(&req);
    return v;
}

/* Sum of v over all ranks, on every rank. */
static inline uint64_t test_allreduce_sum_u64(uint64_t v)
{
    uint64_t sum = 0;
    MPI_Request req;
    CHECK_EQ(MPI_Iallreduce(&v, &sum, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD, &req), MPI_SUCCESS);
    test_mpi_wait(&req);
    return sum;
}

/* Collective over the ranks' main threads: every task submitted anywhere
 * (nested ones included) ran exactly once, i.e. the sums over all ranks of
 * tasks_submitted and tasks_executed agree. Call it once every task has
 * finished (and without retries); a worker's counter may trail its last
 * result by a moment, hence the short retry loop. */
static inline void test_check_tasks_ran_once(void)
{
    uint64_t sum[2] = {0, 0};
    for (int attempt = 0; attempt < 300; attempt++) {
        relay_stats_t s = test_stats();
        uint64_t mine[2] = {s.tasks_submitted, s.tasks_executed};
        MPI_Request req;
        CHECK_EQ(MPI_Iallreduce(mine, sum, 2, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD, &req),
                 MPI_SUCCESS);
        test_mpi_wait(&req);
        if (sum[0] == sum[1]) break;
        test_sleep(0.01);
    }
    CHECK_EQ(sum[0], sum[1]);
}

/* A file's whole text (malloc'd, NUL-terminated), NULL when it cannot be
 * opened. */
static inline char *test_read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    CHECK(s != NULL);
    CHECK_EQ(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* How many times what occurs in s (overlapping ones too). */
static inline int test_count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
        n++;
    return n;
}

#endif
