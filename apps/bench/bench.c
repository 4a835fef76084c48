/*
 * relay-bench: relay's microbenchmarks, named like Ray's
 * (release/microbenchmark) so they compare line by line, each printed next
 * to the physical baseline measured in the same run where one exists (MPI
 * ping-pong, MPI_Send bandwidth, memcpy bandwidth). Actor metrics use
 * actors that hold no CPU, so one per rank fits on any layout.
 *
 * Usage: mpirun -np 3 relay-bench [--json] [--quick] [--only NAME]
 *   --json   one JSON object per line instead of the table
 *   --quick  tiny sizes (for the smoke test; figures meaningless)
 *   --only   run the relay metrics whose name contains NAME
 *
 * Rank 0 is relay's driver; rank 1 is the peer of the MPI baselines. The
 * program initialises MPI itself, measures the baselines, then runs relay.
 *
 * Each rank offers one unit of a custom resource of its own, bench_rank<r>
 * (set in its relay_config_t), so that a task asking for a share of it runs
 * on rank r; RELAY_RESOURCES replaces it, and the metrics that pin tasks
 * are then skipped. dependent_chain_alternating alternates between the two
 * highest ranks (0 and 1 on two ranks, where rank 0 then needs
 * RELAY_DRIVER_WORKERS=1), against the MPI one-way latency between them.
 * paired_step_* pin tasks to ranks 0 and 1, so they run only when rank 0
 * hosts workers: RELAY_DRIVER_WORKERS=1 mpirun -np 2 relay-bench --only
 * paired. Their start times are on each rank's clock, matched by a
 * message exchange before relay starts.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "app.h"
#include "relay.h"

#define BIG (64u << 20) /* bytes of the large-object metrics */

static int json, quick;
static const char *only;
static const char *rank0_workers_note; /* whether rank 0 hosts workers, for the CPU lines */
static MPI_Comm bench_comm;

/* ---------------------------------------------------------------------- */
/* Helpers                                                                  */
/* ---------------------------------------------------------------------- */

static void die(const char *what, int rc)
{
    fprintf(stderr, "relay-bench: %s: %s (%s)\n", what, relay_strerror(rc), relay_last_error());
    MPI_Abort(MPI_COMM_WORLD, 1);
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != RELAY_OK) die(#call, rc_);                                                      \
    } while (0)

static size_t scaled(size_t n)
{
    return quick ? (n / 100 ? n / 100 : 1) : n;
}

static int wanted(const char *metric)
{
    return !only || strstr(metric, only);
}

static void polite_barrier(void)
{
    MPI_Request req;
    MPI_Ibarrier(bench_comm, &req);
    app_quiet_wait(&req);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* User + system CPU seconds of this process: every thread of the rank. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

/* One line of output. baseline_name NULL: no baseline. higher_is_better
 * decides the ratio's direction so that ratio < 1 always means "slower
 * than the baseline". */
static void report(const char *metric, double value, const char *unit, const char *baseline_name,
                   double baseline, int higher_is_better, const char *note)
{
    double ratio = 0;
    if (baseline_name && baseline > 0 && value > 0)
        ratio = higher_is_better ? value / baseline : baseline / value;
    if (json) {
        printf("{\"metric\":\"%s\",\"value\":%.6g,\"unit\":\"%s\"", metric, value, unit);
        if (baseline_name)
            printf(",\"baseline\":\"%s\",\"baseline_value\":%.6g,\"ratio\":%.4g", baseline_name,
                   baseline, ratio);
        if (note) printf(",\"note\":\"%s\"", note);
        printf("}\n");
    } else {
        printf("%-34s %14.2f %-8s", metric, value, unit);
        if (baseline_name) printf("  %-22s %12.2f  ratio %.3f", baseline_name, baseline, ratio);
        if (note) printf("  (%s)", note);
        printf("\n");
    }
    fflush(stdout);
}

/* ---------------------------------------------------------------------- */
/* Remote functions                                                         */
/* ---------------------------------------------------------------------- */

/* Its return is an empty object (a return left unset fails the task). */
static int fn_noop(relay_ctx_t *ctx)
{
    return relay_ctx_return(ctx, 0, NULL, 0);
}

static int m_noop(relay_ctx_t *ctx, void *state)
{
    (void)state;
    return relay_ctx_return(ctx, 0, NULL, 0);
}

static const relay_method_t bench_methods[] = {{"noop", m_noop, 0}};
static const relay_actor_class_t bench_class = {NULL, 0, NULL, bench_methods, 1};

/* int64 argument 0, plus one. */
static int fn_add1(relay_ctx_t *ctx)
{
    const void *data;
    size_t size;
    TASK_CHECK(ctx, relay_ctx_arg(ctx, 0, &data, &size));
    int64_t v;
    if (size != sizeof v) return relay_ctx_fail(ctx, "argument of %zu bytes", size), 1;
    memcpy(&v, data, sizeof v);
    v++;
    return relay_ctx_return(ctx, 0, &v, sizeof v);
}

/* Sum of the int64 arguments. */
static int fn_sum(relay_ctx_t *ctx)
{
    int64_t sum = 0;
    for (size_t i = 0; i < relay_ctx_num_args(ctx); i++) {
        const void *data;
        size_t size;
        int64_t v;
        TASK_CHECK(ctx, relay_ctx_arg(ctx, i, &data, &size));
        if (size != sizeof v) return relay_ctx_fail(ctx, "argument of %zu bytes", size), 1;
        memcpy(&v, data, sizeof v);
        sum += v;
    }
    return relay_ctx_return(ctx, 0, &sum, sizeof sum);
}

#define STAMP_SPIN_S 200e-6

/* Spins STAMP_SPIN_S; returns its start and end on this rank's clock. */
static int fn_stamp(relay_ctx_t *ctx)
{
    double t[2];
    t[0] = app_now();
    do
        t[1] = app_now();
    while (t[1] - t[0] < STAMP_SPIN_S);
    return relay_ctx_return(ctx, 0, t, sizeof t);
}

static int fn_make_big(relay_ctx_t *ctx)
{
    char *buf = malloc(BIG);
    if (!buf) return relay_ctx_fail(ctx, "out of memory"), 1;
    memset(buf, 0x42, BIG);
    int rc = relay_ctx_return(ctx, 0, buf, BIG);
    free(buf);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* MPI and memory baselines                                                 */
/* ---------------------------------------------------------------------- */

typedef struct baselines {
    double pingpong_us; /* MPI round trip 0 <-> 1, 8 bytes */
    int pair[2];        /* the two worker ranks of the alternating chain */
    double pair_us;     /* MPI round trip between them */
    double clock1_s;    /* rank 1's app_now() minus rank 0's */
    double send_gbs;    /* MPI_Send 64 MiB from rank 1 to rank 0 */
    double memcpy_gbs;  /* memcpy of 64 MiB on rank 0 */
} baselines_t;

/* Round trip between ranks a and b, in microseconds (on rank a). */
static double mpi_pingpong(int rank, int a, int b)
{
    int iters = (int)scaled(20000), warm = 1000;
    char buf[8] = {0};
    double t0 = 0;
    for (int i = 0; i < warm + iters; i++) {
        if (i == warm) t0 = app_now();
        if (rank == a) {
            MPI_Send(buf, 8, MPI_BYTE, b, 0, bench_comm);
            MPI_Recv(buf, 8, MPI_BYTE, b, 0, bench_comm, MPI_STATUS_IGNORE);
        } else if (rank == b) {
            MPI_Recv(buf, 8, MPI_BYTE, a, 0, bench_comm, MPI_STATUS_IGNORE);
            MPI_Send(buf, 8, MPI_BYTE, a, 0, bench_comm);
        }
    }
    return (app_now() - t0) / iters * 1e6;
}

/* Rank 1's clock minus rank 0's, from the exchange with the shortest
 * round trip (Cristian's method), so that times taken on the two ranks
 * compare even on different nodes. Exact to half that round trip. */
static double clock_offset(int rank)
{
    int reps = quick ? 20 : 200;
    double best = 1e30, offset = 0, t1 = 0;
    for (int i = 0; i < reps; i++) {
        if (rank == 0) {
            double t0 = app_now();
            MPI_Send(NULL, 0, MPI_BYTE, 1, 3, bench_comm);
            MPI_Recv(&t1, 1, MPI_DOUBLE, 1, 3, bench_comm, MPI_STATUS_IGNORE);
            double t2 = app_now();
            if (t2 - t0 < best) best = t2 - t0, offset = t1 - 0.5 * (t0 + t2);
        } else if (rank == 1) {
            MPI_Recv(NULL, 0, MPI_BYTE, 0, 3, bench_comm, MPI_STATUS_IGNORE);
            t1 = app_now();
            MPI_Send(&t1, 1, MPI_DOUBLE, 0, 3, bench_comm);
        }
    }
    return offset;
}

/* Rank a's figure, on rank 0. */
static double to_rank0(int rank, int a, double v)
{
    if (a == 0) return v;
    if (rank == a) MPI_Send(&v, 1, MPI_DOUBLE, 0, 2, bench_comm);
    if (rank == 0) MPI_Recv(&v, 1, MPI_DOUBLE, a, 2, bench_comm, MPI_STATUS_IGNORE);
    return v;
}

static double mpi_send_bw(int rank, char *buf)
{
    enum { REPS = 5 };
    double t[REPS];
    for (int r = 0; r < REPS; r++) {
        MPI_Barrier(bench_comm);
        double t0 = app_now();
        if (rank == 1) MPI_Send(buf, (int)BIG, MPI_BYTE, 0, 1, bench_comm);
        if (rank == 0) MPI_Recv(buf, (int)BIG, MPI_BYTE, 1, 1, bench_comm, MPI_STATUS_IGNORE);
        t[r] = app_now() - t0;
    }
    return BIG / median(t, REPS) / 1e9;
}

static double memcpy_bw(char *src)
{
    enum { REPS = 5 };
    char *dst = malloc(BIG);
    if (!dst) return 0;
    memset(dst, 0, BIG); /* touched: this is the copy alone */
    double t[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = app_now();
        memcpy(dst, src, BIG);
        t[r] = app_now() - t0;
    }
    volatile char sink = dst[BIG - 1];
    (void)sink;
    free(dst);
    return BIG / median(t, REPS) / 1e9;
}

static baselines_t measure_baselines(int rank, int size)
{
    /* The two highest ranks: workers unless there are only two ranks. */
    baselines_t b = {0, {size - 2, size - 1}, 0, 0, 0, 0};
    char *buf = malloc(BIG);
    if (!buf) MPI_Abort(MPI_COMM_WORLD, 1);
    memset(buf, 1, BIG);
    if (size >= 2) {
        b.pingpong_us = mpi_pingpong(rank, 0, 1);
        b.pair_us = b.pair[0] == 0
                        ? b.pingpong_us
                        : to_rank0(rank, b.pair[0], mpi_pingpong(rank, b.pair[0], b.pair[1]));
        b.send_gbs = mpi_send_bw(rank, buf);
        b.clock1_s = clock_offset(rank);
    }
    if (rank == 0) b.memcpy_gbs = memcpy_bw(buf);
    free(buf);
    return b;
}

/* ---------------------------------------------------------------------- */
/* relay metrics (driver)                                                   */
/* ---------------------------------------------------------------------- */

static void get_all_and_release(relay_ref_t *refs, size_t n)
{
    enum { CHUNK = 4096 };
    static relay_object_t objs[CHUNK];
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        OK(relay_get_many(refs + i, k, RELAY_FOREVER, objs));
        for (size_t j = 0; j < k; j++)
            OK(relay_object_free(objs[j]));
        OK(relay_release_many(refs + i, k));
    }
}

static void tasks_sync(const baselines_t *b)
{
    size_t n = scaled(5000);
    double *t = malloc(n * sizeof *t);
    if (!t) MPI_Abort(MPI_COMM_WORLD, 1);
    for (size_t i = 0; i < n + 100; i++) {
        double t0 = app_now();
        relay_ref_t r;
        relay_object_t o;
        OK(relay_submit("noop", NULL, 0, NULL, &r));
        OK(relay_get(r, RELAY_FOREVER, &o));
        OK(relay_object_free(o));
        OK(relay_release(r));
        if (i >= 100) t[i - 100] = app_now() - t0;
    }
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += t[i];
    double med = median(t, (int)n);
    report("single_client_tasks_sync", n / sum, "tasks/s", NULL, 0, 1, NULL);
    report("single_client_task_round_trip", med * 1e6, "us",
           b->pingpong_us > 0 ? "mpi_pingpong_rtt" : NULL, b->pingpong_us, 0, "median");
    free(t);
}

static void tasks_async(void)
{
    size_t n = scaled(200000);
    relay_ref_t *refs = malloc(n * sizeof *refs);
    if (!refs) MPI_Abort(MPI_COMM_WORLD, 1);
    double c0 = cpu_seconds(), t0 = app_now();
    for (size_t i = 0; i < n; i++)
        OK(relay_submit("noop", NULL, 0, NULL, &refs[i]));
    get_all_and_release(refs, n);
    double t1 = app_now(), c1 = cpu_seconds();
    report("single_client_tasks_async", n / (t1 - t0), "tasks/s", NULL, 0, 1, NULL);
    report("single_client_rank0_cpu_per_task", (c1 - c0) / n * 1e6, "us", NULL, 0, 0,
           rank0_workers_note);
    free(refs);
}

static void get_calls(void)
{
    size_t n = scaled(100000);
    int64_t v = 7;
    relay_ref_t r;
    OK(relay_put(&v, sizeof v, &r));
    double t0 = app_now();
    for (size_t i = 0; i < n; i++) {
        relay_object_t o;
        OK(relay_get(r, RELAY_FOREVER, &o));
        OK(relay_object_free(o));
    }
    report("single_client_get_calls", n / (app_now() - t0), "gets/s", NULL, 0, 1, NULL);
    OK(relay_release(r));
}

static void put_calls(void)
{
    size_t n = scaled(100000);
    int64_t v = 7;
    double t0 = app_now();
    for (size_t i = 0; i < n; i++) {
        relay_ref_t r;
        OK(relay_put(&v, sizeof v, &r));
        OK(relay_release(r));
    }
    report("single_client_put_calls", n / (app_now() - t0), "puts/s", NULL, 0, 1, NULL);
}

static void put_gigabytes(const baselines_t *b)
{
    int reps = quick ? 2 : 16;
    char *buf = malloc(BIG);
    if (!buf) MPI_Abort(MPI_COMM_WORLD, 1);
    memset(buf, 3, BIG);
    double *t = malloc((size_t)reps * sizeof *t);
    for (int i = 0; i < reps; i++) {
        relay_ref_t r;
        double t0 = app_now();
        OK(relay_put(buf, BIG, &r));
        t[i] = app_now() - t0;
        OK(relay_release(r));
    }
    report("single_client_put_gigabytes", BIG / median(t, reps) / 1e9, "GB/s", "memcpy",
           b->memcpy_gbs, 1, "64 MiB objects, median");
    free(t);
    free(buf);
}

static void remote_get(const baselines_t *b, int size)
{
    if (size < 2) return;
    int reps = quick ? 2 : 7;
    double *t = malloc((size_t)reps * sizeof *t);
    for (int i = 0; i < reps; i++) {
        relay_ref_t r;
        OK(relay_submit("make_big", NULL, 0, NULL, &r));
        OK(relay_wait(&r, 1, 1, RELAY_FOREVER, NULL, NULL));
        relay_object_t o;
        double t0 = app_now();
        OK(relay_get(r, RELAY_FOREVER, &o));
        t[i] = app_now() - t0;
        if (relay_object_size(o) != BIG || ((const char *)relay_object_data(o))[BIG - 1] != 0x42) {
            fprintf(stderr, "relay-bench: remote object corrupted\n");
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        OK(relay_object_free(o));
        OK(relay_release(r));
    }
    report("remote_get_64mib", BIG / median(t, reps) / 1e9, "GB/s", "mpi_send_64mib", b->send_gbs,
           1, "median");
    free(t);
}

static void wait_1k_refs(void)
{
    int rounds = quick ? 2 : 50;
    relay_ref_t refs[1000];
    double t0 = app_now();
    for (int k = 0; k < rounds; k++) {
        for (int i = 0; i < 1000; i++)
            OK(relay_submit("noop", NULL, 0, NULL, &refs[i]));
        OK(relay_wait(refs, 1000, 1000, RELAY_FOREVER, NULL, NULL));
        OK(relay_release_many(refs, 1000));
    }
    report("single_client_wait_1k_refs", rounds / (app_now() - t0), "waits/s", NULL, 0, 1, NULL);
}

static void tasks_queued_1m(void)
{
    size_t n = quick ? 10000 : 1000000;
    relay_ref_t *refs = malloc(n * sizeof *refs);
    if (!refs) MPI_Abort(MPI_COMM_WORLD, 1);
    double t0 = app_now();
    for (size_t i = 0; i < n; i++)
        OK(relay_submit("noop", NULL, 0, NULL, &refs[i]));
    double submitted = app_now() - t0;
    get_all_and_release(refs, n);
    double total = app_now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char note[96];
    snprintf(note, sizeof note, "%zu tasks, submitted in %.2f s", n, submitted);
    report("tasks_queued_1m", total, "s", NULL, 0, 0, note);
    report("tasks_queued_1m_rank0_peak_rss", ru.ru_maxrss / 1024.0, "MiB", NULL, 0, 0, NULL);
    free(refs);
}

/* Task options that pin a task to one rank: every rank offers one unit
 * of its own resource bench_rank<r> (see main), and a task asks for a
 * small share of it, so many can run there at once. Used in place: opts
 * points into the struct. */
typedef struct pin {
    char name[32];
    relay_resource_t res;
    relay_task_opts_t opts;
    int ok; /* the rank offers it (hosts workers, no RELAY_RESOURCES override) */
} pin_t;

static void pin_init(pin_t *p, int rank)
{
    snprintf(p->name, sizeof p->name, "bench_rank%d", rank);
    p->res = (relay_resource_t){p->name, 0.01};
    p->opts = (relay_task_opts_t){.field_mask = RELAY_TASK_OPT_RESOURCES};
    p->opts.resources = &p->res;
    p->opts.num_resources = 1;
    double q = 0;
    OK(relay_resource_capacity(rank, p->name, &q));
    p->ok = q >= p->res.quantity;
}

static void skipped(const char *metric, const char *why)
{
    fprintf(stderr, "relay-bench: %s skipped: %s\n", metric, why);
}

/* n tasks, each adding one to the previous one's result, all submitted
 * before the first get; odd and even tasks go to the ranks of pins[1] and
 * pins[0] when pins is not NULL. Returns seconds per task. */
static double chain(size_t n, pin_t *pins)
{
    int64_t zero = 0, last = -1;
    relay_ref_t prev = RELAY_REF_NULL, r;
    double t0 = app_now();
    for (size_t i = 0; i < n; i++) {
        relay_arg_t a = i ? relay_arg_ref(prev) : relay_arg_value(&zero, sizeof zero);
        OK(relay_submit("add1", &a, 1, pins ? &pins[i % 2].opts : NULL, &r));
        /* The pending task keeps its argument alive. */
        if (i) OK(relay_release(prev));
        prev = r;
    }
    OK(relay_get_value(prev, &last, sizeof last, RELAY_FOREVER));
    double dt = app_now() - t0;
    OK(relay_release(prev));
    if (last != (int64_t)n) {
        fprintf(stderr, "relay-bench: chain of %zu tasks gave %lld\n", n, (long long)last);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    return dt / (double)n;
}

static void dependent_chain(const baselines_t *b)
{
    size_t n = scaled(10000);
    chain(scaled(100), NULL); /* warm */
    char note[64];
    snprintf(note, sizeof note, "per step, %zu tasks", n);
    report("dependent_chain", chain(n, NULL) * 1e6, "us",
           b->pingpong_us > 0 ? "mpi_oneway_0_1" : NULL, b->pingpong_us / 2, 0, note);
}

/* The chain alternating between the two ranks of b->pair, against the MPI
 * one-way latency between them. */
static void dependent_chain_alternating(const baselines_t *b)
{
    const char *metric = "dependent_chain_alternating";
    if (b->pair[0] < 0) return skipped(metric, "needs 2 ranks");
    pin_t pins[2];
    pin_init(&pins[0], b->pair[0]);
    pin_init(&pins[1], b->pair[1]);
    if (!pins[0].ok || !pins[1].ok)
        return skipped(metric, "rank 0 hosts no workers on 2 ranks (RELAY_DRIVER_WORKERS=1), "
                               "or RELAY_RESOURCES replaced the bench_rank<r> resources");
    size_t n = scaled(10000);
    chain(scaled(100), pins);
    char base[48], note[64];
    snprintf(base, sizeof base, "mpi_oneway_%d_%d", b->pair[0], b->pair[1]);
    snprintf(note, sizeof note, "per step, %zu tasks, ranks %d,%d", n, b->pair[0], b->pair[1]);
    report(metric, chain(n, pins) * 1e6, "us", base, b->pair_us / 2, 0, note);
}

enum { FAN = 1000 }; /* well under RELAY_MAX_ARGS: one task reduces all */

/* One task, FAN tasks taking its result, one task taking all theirs. */
static void fan_round(int64_t seed)
{
    static relay_ref_t mid[FAN];
    static relay_arg_t args[FAN];
    relay_ref_t root, sum;
    relay_arg_t a = relay_arg_value(&seed, sizeof seed);
    OK(relay_submit("add1", &a, 1, NULL, &root));
    a = relay_arg_ref(root);
    for (int i = 0; i < FAN; i++)
        OK(relay_submit("add1", &a, 1, NULL, &mid[i]));
    for (int i = 0; i < FAN; i++)
        args[i] = relay_arg_ref(mid[i]);
    OK(relay_submit("sum", args, FAN, NULL, &sum));
    OK(relay_release(root));
    OK(relay_release_many(mid, FAN));
    int64_t v = 0;
    OK(relay_get_value(sum, &v, sizeof v, RELAY_FOREVER));
    OK(relay_release(sum));
    if (v != FAN * (seed + 2)) {
        fprintf(stderr, "relay-bench: fan-in of round %lld gave %lld\n", (long long)seed,
                (long long)v);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
}

static void fan_out_fan_in(void)
{
    int rounds = quick ? 2 : 20;
    fan_round(0); /* warm */
    double t0 = app_now();
    for (int k = 1; k <= rounds; k++)
        fan_round(k);
    char note[64];
    snprintf(note, sizeof note, "%d tasks a round, %d rounds", FAN + 2, rounds);
    report("fan_out_fan_in", rounds * (FAN + 2) / (app_now() - t0), "tasks/s", NULL, 0, 1, note);
}

/* Whether dispatching a task to rank 0's own workers delays one for
 * another rank: each step submits a task pinned to rank 0, then one pinned
 * to rank 1, and gets both; each spins STAMP_SPIN_S and returns when it
 * started. Rank 1's start should follow rank 0's by about a one-way
 * latency, not by the length of rank 0's task. The tasks spin: with fewer
 * idle cores than the busy threads of both ranks, the figure measures the
 * wait for a core rather than dispatch. */
static void paired_step_skew(const baselines_t *b, int size)
{
    const char *metric = "paired_step_skew";
    if (size < 2) return skipped(metric, "needs 2 ranks");
    pin_t pins[2];
    pin_init(&pins[0], 0);
    pin_init(&pins[1], 1);
    if (!pins[0].ok || !pins[1].ok)
        return skipped(metric, "needs workers on rank 0 (RELAY_DRIVER_WORKERS=1) and the "
                               "bench_rank<r> resources (no RELAY_RESOURCES)");
    size_t n = quick ? 20 : 1000, warm = 10, late = 0;
    double *skew = malloc(n * sizeof *skew);
    if (!skew) MPI_Abort(MPI_COMM_WORLD, 1);
    for (size_t i = 0; i < warm + n; i++) {
        relay_ref_t r[2];
        double t[2][2];
        for (int j = 0; j < 2; j++)
            OK(relay_submit("stamp", NULL, 0, &pins[j].opts, &r[j]));
        for (int j = 0; j < 2; j++)
            OK(relay_get_value(r[j], t[j], sizeof t[j], RELAY_FOREVER));
        OK(relay_release_many(r, 2));
        if (i < warm) continue;
        double d = t[1][0] - b->clock1_s - t[0][0];
        skew[i - warm] = d < 0 ? -d : d;
        late += t[1][0] - b->clock1_s > t[0][1];
    }
    char note[96];
    snprintf(note, sizeof note, "median of |start rank 1 - start rank 0|, %zu steps", n);
    report(metric, median(skew, (int)n) * 1e6, "us", "mpi_oneway_0_1", b->pingpong_us / 2, 0, note);
    /* median() sorted them: the nearest-rank 90th percentile. */
    report("paired_step_skew_p90", skew[(9 * n + 9) / 10 - 1] * 1e6, "us", "mpi_oneway_0_1",
           b->pingpong_us / 2, 0, NULL);
    report("paired_step_rank1_after_rank0_end", 100.0 * (double)late / (double)n, "%", NULL, 0, 0,
           "steps where rank 1's task started after rank 0's had ended");
    free(skew);
}

/* An actor that holds no CPU (so one per rank fits anywhere) and does
 * nothing: the calls' own cost. */
static relay_actor_t bench_actor(void)
{
    relay_actor_opts_t o = {.field_mask = RELAY_ACTOR_OPT_NUM_CPUS, .num_cpus = 0};
    relay_actor_t a;
    OK(relay_actor_create("bench_actor", NULL, 0, &o, &a));
    return a;
}

static void actor_calls_sync(const baselines_t *b)
{
    relay_actor_t a = bench_actor();
    size_t n = scaled(5000);
    double *t = malloc(n * sizeof *t);
    if (!t) MPI_Abort(MPI_COMM_WORLD, 1);
    for (size_t i = 0; i < n + 100; i++) {
        double t0 = app_now();
        relay_ref_t r;
        relay_object_t o;
        OK(relay_actor_call(a, "noop", NULL, 0, NULL, &r));
        OK(relay_get(r, RELAY_FOREVER, &o));
        OK(relay_object_free(o));
        OK(relay_release(r));
        if (i >= 100) t[i - 100] = app_now() - t0;
    }
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += t[i];
    double med = median(t, (int)n);
    report("1_1_actor_calls_sync", n / sum, "calls/s", NULL, 0, 1, NULL);
    report("1_1_actor_call_round_trip", med * 1e6, "us",
           b->pingpong_us > 0 ? "mpi_pingpong_rtt" : NULL, b->pingpong_us, 0, "median");
    free(t);
    OK(relay_actor_kill(a));
}

/* n calls to a, then all their results. */
static void call_n(relay_actor_t a, size_t n)
{
    relay_ref_t *refs = malloc(n * sizeof *refs);
    if (!refs) MPI_Abort(MPI_COMM_WORLD, 1);
    for (size_t i = 0; i < n; i++)
        OK(relay_actor_call(a, "noop", NULL, 0, NULL, &refs[i]));
    get_all_and_release(refs, n);
    free(refs);
}

static void actor_calls_async(void)
{
    relay_actor_t a = bench_actor();
    size_t n = scaled(200000);
    call_n(a, scaled(1000)); /* warm: the actor exists */
    double t0 = app_now();
    call_n(a, n);
    report("1_1_actor_calls_async", n / (app_now() - t0), "calls/s", NULL, 0, 1, NULL);
    OK(relay_actor_kill(a));
}

/* Every rank's main thread calls an actor of its own. */
static void n_n_actor_calls(int rank, int size)
{
    relay_actor_t a = bench_actor();
    size_t n = scaled(100000);
    call_n(a, scaled(1000));
    polite_barrier();
    double t0 = app_now();
    call_n(a, n);
    polite_barrier();
    if (rank == 0)
        report("n_n_actor_calls_async", (double)n * size / (app_now() - t0), "calls/s", NULL, 0, 1,
               NULL);
    OK(relay_actor_kill(a));
}

/* Every rank's main thread submits and gets its share at once. */
static void multi_client(int rank, int size)
{
    size_t n = scaled(100000);
    relay_ref_t *refs = malloc(n * sizeof *refs);
    if (!refs) MPI_Abort(MPI_COMM_WORLD, 1);
    polite_barrier();
    double c0 = cpu_seconds(), t0 = app_now();
    for (size_t i = 0; i < n; i++)
        OK(relay_submit("noop", NULL, 0, NULL, &refs[i]));
    get_all_and_release(refs, n);
    /* Rank 0 schedules every rank's tasks: its CPU counts until all are done. */
    polite_barrier();
    double t1 = app_now(), c1 = cpu_seconds();
    if (rank == 0) {
        report("multi_client_tasks_async", (double)n * size / (t1 - t0), "tasks/s", NULL, 0, 1,
               NULL);
        report("multi_client_rank0_cpu_per_task", (c1 - c0) / ((double)n * size) * 1e6, "us", NULL,
               0, 0, rank0_workers_note);
    }
    free(refs);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: relay-bench [--json] [--quick] [--only NAME]\n");
            return 2;
        }
    }
    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_dup(MPI_COMM_WORLD, &bench_comm);
    MPI_Comm_rank(bench_comm, &rank);
    MPI_Comm_size(bench_comm, &size);
    baselines_t b = measure_baselines(rank, size);
    if (rank == 0 && !json) {
        printf("relay-bench: %d ranks%s\n", size,
               quick ? " (quick: sizes too small to mean much)" : "");
        printf("%-34s %14s %-8s  %-22s %12s\n", "metric", "value", "unit", "baseline", "value");
    }
    if (rank == 0 && size >= 2)
        report("mpi_pingpong_rtt", b.pingpong_us, "us", NULL, 0, 0, "8 bytes, ranks 0-1");

    OK(relay_register("noop", fn_noop));
    OK(relay_register("make_big", fn_make_big));
    OK(relay_register("add1", fn_add1));
    OK(relay_register("sum", fn_sum));
    OK(relay_register("stamp", fn_stamp));
    OK(relay_register_actor("bench_actor", &bench_class));
    /* Each rank offers a resource of its own, so that tasks can be pinned
     * to a rank (ranks without workers offer nothing). */
    char own[32];
    snprintf(own, sizeof own, "bench_rank%d", rank);
    relay_resource_t own_res = {own, 1};
    relay_config_t cfg = {.field_mask = RELAY_CONFIG_RESOURCES};
    cfg.resources = &own_res;
    cfg.num_resources = 1;
    OK(relay_init(&argc, &argv, &cfg));
    double rank0_cpus = 0;
    OK(relay_resource_capacity(0, "CPU", &rank0_cpus));
    rank0_workers_note = rank0_cpus > 0 ? "whole rank 0, its workers included"
                                        : "whole rank 0, which hosts no workers";
    polite_barrier();
    if (rank == 0) {
        if (wanted("single_client_tasks_sync")) tasks_sync(&b);
        if (wanted("single_client_tasks_async") || wanted("single_client_rank0_cpu_per_task"))
            tasks_async();
        if (wanted("single_client_get_calls")) get_calls();
        if (wanted("single_client_put_calls")) put_calls();
        if (wanted("single_client_put_gigabytes")) put_gigabytes(&b);
        if (wanted("remote_get_64mib")) remote_get(&b, size);
        if (wanted("single_client_wait_1k_refs")) wait_1k_refs();
        if (wanted("1_1_actor_calls_sync")) actor_calls_sync(&b);
        if (wanted("1_1_actor_calls_async")) actor_calls_async();
        if (wanted("dependent_chain")) dependent_chain(&b);
        if (wanted("dependent_chain_alternating")) dependent_chain_alternating(&b);
        if (wanted("fan_out_fan_in")) fan_out_fan_in();
        if (wanted("paired_step")) paired_step_skew(&b, size);
    }
    polite_barrier();
    if (wanted("multi_client_tasks_async") || wanted("multi_client_rank0_cpu_per_task"))
        multi_client(rank, size);
    polite_barrier();
    if (wanted("n_n_actor_calls_async")) n_n_actor_calls(rank, size);
    if (rank == 0 && wanted("tasks_queued_1m")) tasks_queued_1m();
    polite_barrier();
    OK(relay_finalize());
    MPI_Comm_free(&bench_comm);
    MPI_Finalize();
    return 0;
}
