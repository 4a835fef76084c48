/*
 * relay-metg: Task Bench's METG(50%) ("minimum effective task granularity",
 * Slaughter et al., SC'20) for relay, against a plain-MPI baseline.
 *
 * The task graph is a 1-D stencil, W columns wide and T steps deep: task
 * (t, i) reads the outputs of (t-1, i-1), (t-1, i) and (t-1, i+1) (the
 * neighbours that exist: edge tasks read two), runs a compute-bound kernel
 * of K iterations and returns 16 bytes. The kernel is Task Bench's
 * compute_bound in spirit: four independent dependent chains of
 * x = x * x - 2 (a multiply and an add, 8 FLOPs per iteration), seeded
 * from the task's inputs, so the compiler can neither drop the loop nor
 * shorten it, and the result (which feeds the next step) depends on every
 * input. x -> x^2 - 2 maps [-2, 2] onto itself and is chaotic there: the
 * values stay bounded but never settle, so a wrong input shows at the end.
 *
 * Efficiency at a given K is (useful FLOPs / wall time) / (peak FLOP/s),
 * where the peak is the same kernel run alone on one core of the driver
 * (the best of short runs before and after the sweeps) times the cores that
 * compute. Each point is the median wall time of -r runs. The sweep divides
 * K by 2 from a start where a task takes about 10 ms until two points in a
 * row fall below 50% efficiency (or K reaches --min-k); a task's
 * granularity is wall time x cores / tasks. METG(50%) is the granularity
 * where the efficiency crosses 50%: interpolated linearly in
 * log(granularity) between the last sweep point at or above 50% and the
 * point after it (that last point itself is printed too).
 *
 * Both systems run in the same process, one after the other:
 *  1. the MPI baseline, on a duplicate of MPI_COMM_WORLD: the W columns are
 *     block-distributed over P ranks, and each step exchanges the edge
 *     columns with the neighbours (MPI_Irecv/MPI_Isend, MPI_Waitall) and
 *     then computes its columns. For a fair comparison P is the number of
 *     cores relay computes on (see below; at most the number of ranks), so
 *     both use the same cores;
 *  2. relay: the driver (rank 0) submits the whole graph at once, each task
 *     taking its inputs as ref arguments, releases each step's refs once the
 *     next step is submitted (pending tasks pin their arguments), and gets
 *     the last step. Rank 0 does not compute (with one rank it hosts the
 *     workers, as relay does).
 * Cores: relay's worker slots (RELAY_NUM_CPUS, else the CPUs in each worker
 * rank's affinity mask, as relay_init does), capped per node by the online
 * CPUs and in total by W. The MPI baseline's cores are its ranks, capped per
 * node by the online CPUs.
 *
 * Every result is checked: the last step of every run is compared bit for
 * bit with the MPI baseline's at the same K and, when it is cheap, with a
 * serial recomputation on the driver. A mismatch fails the run.
 *
 * Usage: mpirun -np 3 relay-metg [-w width] [-t steps] [-k start_K]
 *          [--min-k K] [-r reps] [--json] [--quick]
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT, getopt_long */

#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "app.h"
#include "relay.h"

#define FLOPS_PER_ITER 8.0        /* 4 chains x (1 multiply + 1 add) */
#define START_TASK_SECONDS 0.010  /* the sweep starts at ~10 ms tasks */
#define PEAK_SECONDS 0.05         /* one run of a peak measurement */
#define VERIFY_BUDGET (1LL << 25) /* kernel iterations of a serial check */
#define MAX_POINTS 64
#define TAG_HALO 17

#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

static void report(const char *what, int rc)
{
    fprintf(stderr, "relay-metg: %s: %s (%s)\n", what, relay_strerror(rc), relay_last_error());
}

/* ------------------------------------------------------------------------ */
/* The graph                                                                 */
/* ------------------------------------------------------------------------ */

/* A task's output: the kernel's result and a hash of everything upstream. */
typedef struct point {
    double x;
    uint64_t h;
} point_t;

/* A task's value argument. */
typedef struct point_args {
    int64_t t, i, k, w;
} point_args_t;

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double unit(uint64_t x)
{
    return (double)(x >> 11) * 0x1.0p-53;
}

/* The compute-bound kernel: iters x 8 FLOPs in four dependent chains. Not
 * inlined, so the tasks, the baseline and the peak run the same code. */
static NOINLINE double kernel(int64_t iters, const double seed[4])
{
    double a = seed[0], b = seed[1], c = seed[2], d = seed[3];
    for (int64_t n = 0; n < iters; n++) {
        a = a * a - 2.0;
        b = b * b - 2.0;
        c = c * c - 2.0;
        d = d * d - 2.0;
    }
    return 0.25 * (a + b + c + d);
}

/* Task (t, i) from its inputs (left to right), shared by every executor. */
static void point_compute(int64_t t, int64_t i, int64_t k, const point_t *in, int nin, point_t *out)
{
    uint64_t h = mix64(((uint64_t)t << 32) ^ (uint64_t)i ^ 0x6d657467ULL);
    double sum = 0.0;
    for (int j = 0; j < nin; j++) {
        h = mix64(h ^ (in[j].h + (uint64_t)(j + 1) * 0x9e3779b97f4a7c15ULL));
        sum += in[j].x;
    }
    /* Every value is in [-2, 2], and so is each seed. */
    double avg = nin > 0 ? sum / nin : 0.0;
    double seed[4];
    for (int j = 0; j < 4; j++)
        seed[j] = 0.5 * avg + 0.5 * (4.0 * unit(mix64(h + (uint64_t)j + 1)) - 2.0);
    out->x = kernel(k, seed);
    uint64_t bits;
    memcpy(&bits, &out->x, sizeof bits);
    out->h = mix64(h ^ bits);
}

/* Columns task (t, i) reads: [lo, hi]. */
static void inputs_of(int64_t i, int64_t w, int64_t *lo_p, int64_t *hi_p)
{
    *lo_p = i > 0 ? i - 1 : 0;
    *hi_p = i + 1 < w ? i + 1 : w - 1;
}

/* The whole graph, serially: the reference. */
static int serial_graph(int64_t w, int64_t steps, int64_t k, point_t *final)
{
    point_t *prev = malloc((size_t)w * sizeof *prev), *cur = malloc((size_t)w * sizeof *cur);
    if (prev == NULL || cur == NULL) {
        free(prev);
        free(cur);
        return -1;
    }
    for (int64_t t = 0; t < steps; t++) {
        for (int64_t i = 0; i < w; i++) {
            int64_t lo, hi;
            inputs_of(i, w, &lo, &hi);
            if (t == 0)
                point_compute(t, i, k, NULL, 0, &cur[i]);
            else
                point_compute(t, i, k, &prev[lo], (int)(hi - lo + 1), &cur[i]);
        }
        point_t *tmp = prev;
        prev = cur;
        cur = tmp;
    }
    memcpy(final, prev, (size_t)w * sizeof *final);
    free(prev);
    free(cur);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* relay                                                                     */
/* ------------------------------------------------------------------------ */

/* metg_point(args, in_0 .. in_n-1 as refs) -> point */
static int metg_point(relay_ctx_t *ctx)
{
    const void *data;
    size_t size, nargs = relay_ctx_num_args(ctx);
    point_args_t a;
    point_t in[3], out;
    int64_t lo, hi;

    TASK_CHECK(ctx, relay_ctx_arg(ctx, 0, &data, &size));
    if (size != sizeof a) {
        relay_ctx_fail(ctx, "argument 0 has %zu bytes, expected %zu", size, sizeof a);
        return -1;
    }
    memcpy(&a, data, sizeof a);
    inputs_of(a.i, a.w, &lo, &hi);
    size_t nin = a.t == 0 ? 0 : (size_t)(hi - lo + 1);
    if (nargs != 1 + nin) {
        relay_ctx_fail(ctx, "task (%" PRId64 ", %" PRId64 ") got %zu inputs, expected %zu", a.t,
                       a.i, nargs - 1, nin);
        return -1;
    }
    for (size_t j = 0; j < nin; j++) {
        TASK_CHECK(ctx, relay_ctx_arg(ctx, 1 + j, &data, &size));
        if (size != sizeof in[j]) {
            relay_ctx_fail(ctx, "input %zu has %zu bytes, expected %zu", j, size, sizeof in[j]);
            return -1;
        }
        memcpy(&in[j], data, sizeof in[j]);
    }
    point_compute(a.t, a.i, a.k, in, (int)nin, &out);
    TASK_CHECK(ctx, relay_ctx_return(ctx, 0, &out, sizeof out));
    return 0;
}

static void release_all(relay_ref_t *refs, size_t n)
{
    if (n == 0) return;
    int rc = relay_release_many(refs, n);
    if (rc != RELAY_OK) report("relay_release_many (cleanup)", rc);
}

/* Run the graph once with relay. Driver only. */
static int relay_graph(int64_t w, int64_t steps, int64_t k, point_t *final, double *wall_p)
{
    relay_ref_t *prev = malloc((size_t)w * sizeof *prev);
    relay_ref_t *cur = malloc((size_t)w * sizeof *cur);
    relay_object_t *objs = malloc((size_t)w * sizeof *objs);
    size_t nprev = 0;
    int rc = RELAY_OK, ok = 0;

    if (prev == NULL || cur == NULL || objs == NULL) {
        fprintf(stderr, "relay-metg: out of memory\n");
        goto out;
    }
    double t0 = app_now();
    for (int64_t t = 0; t < steps; t++) {
        for (int64_t i = 0; i < w; i++) {
            point_args_t a = {t, i, k, w};
            relay_arg_t args[4];
            size_t n = 0;
            int64_t lo, hi;
            args[n++] = relay_arg_value(&a, sizeof a);
            inputs_of(i, w, &lo, &hi);
            for (int64_t j = lo; t > 0 && j <= hi; j++)
                args[n++] = relay_arg_ref(prev[j]);
            if ((rc = relay_submit("metg_point", args, n, NULL, &cur[i])) != RELAY_OK) {
                report("relay_submit metg_point", rc);
                release_all(cur, (size_t)i);
                goto out;
            }
        }
        /* The tasks just submitted pin the previous step's objects. */
        if (nprev > 0 && (rc = relay_release_many(prev, nprev)) != RELAY_OK) {
            report("relay_release_many", rc);
            nprev = 0;
            release_all(cur, (size_t)w);
            goto out;
        }
        relay_ref_t *tmp = prev;
        prev = cur;
        cur = tmp;
        nprev = (size_t)w;
    }
    /* Views the call does not set stay NULL. */
    for (int64_t i = 0; i < w; i++)
        objs[i] = NULL;
    rc = relay_get_many(prev, (size_t)w, RELAY_FOREVER, objs);
    double t1 = app_now();
    if (rc != RELAY_OK) report("relay_get_many of the last step", rc);
    for (int64_t i = 0; i < w; i++) {
        if (objs[i] == NULL) continue;
        if (relay_object_error(objs[i]) != NULL) {
            fprintf(stderr, "relay-metg: task (%" PRId64 ", %" PRId64 "): %s\n", steps - 1, i,
                    relay_object_error(objs[i]));
        } else if (rc == RELAY_OK && relay_object_size(objs[i]) != sizeof final[i]) {
            fprintf(stderr, "relay-metg: output of task (%" PRId64 ", %" PRId64 ") has %zu bytes\n",
                    steps - 1, i, relay_object_size(objs[i]));
            rc = RELAY_ERR_SIZE_MISMATCH;
        } else if (rc == RELAY_OK) {
            memcpy(&final[i], relay_object_data(objs[i]), sizeof final[i]);
        }
        int rc2 = relay_object_free(objs[i]);
        if (rc2 != RELAY_OK) {
            report("relay_object_free", rc2);
            if (rc == RELAY_OK) rc = rc2;
        }
    }
    if (rc == RELAY_OK) ok = 1;
    *wall_p = t1 - t0;
out:
    if (nprev > 0 && (rc = relay_release_many(prev, nprev)) != RELAY_OK) {
        report("relay_release_many", rc);
        ok = 0;
    }
    free(prev);
    free(cur);
    free(objs);
    return ok ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* MPI baseline                                                              */
/* ------------------------------------------------------------------------ */

/* Barrier / broadcast that sleep instead of spinning, so idle ranks leave
 * the cores to the ones measuring. */
static void quiet_barrier(MPI_Comm comm)
{
    MPI_Request req;
    MPI_Ibarrier(comm, &req);
    app_quiet_wait(&req);
}

static void quiet_bcast_i64(int64_t *v, MPI_Comm comm)
{
    MPI_Request req;
    MPI_Ibcast(v, 1, MPI_INT64_T, 0, comm, &req);
    app_quiet_wait(&req);
}

/* One run of the graph on the P ranks of comm; rank 0 of comm gets the last
 * step and the wall time. */
static int mpi_graph(MPI_Comm comm, int64_t w, int64_t steps, int64_t k, point_t *final,
                     double *wall_p)
{
    int me, p;
    MPI_Comm_rank(comm, &me);
    MPI_Comm_size(comm, &p);
    int64_t lo = w * me / p, hi = w * (me + 1) / p, n = hi - lo;
    /* Columns lo-1 .. hi: index 0 and n+1 are the neighbours' edges. */
    point_t *prev = calloc((size_t)n + 2, sizeof *prev);
    point_t *cur = calloc((size_t)n + 2, sizeof *cur);
    int *counts = NULL, *displs = NULL;
    if (prev == NULL || cur == NULL) {
        fprintf(stderr, "relay-metg: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }

    MPI_Barrier(comm);
    double t0 = MPI_Wtime();
    for (int64_t t = 0; t < steps; t++) {
        if (t > 0 && p > 1) {
            MPI_Request reqs[4];
            int nreq = 0;
            if (me > 0) {
                MPI_Irecv(&prev[0], sizeof prev[0], MPI_BYTE, me - 1, TAG_HALO, comm,
                          &reqs[nreq++]);
                MPI_Isend(&prev[1], sizeof prev[1], MPI_BYTE, me - 1, TAG_HALO, comm,
                          &reqs[nreq++]);
            }
            if (me < p - 1) {
                MPI_Irecv(&prev[n + 1], sizeof prev[0], MPI_BYTE, me + 1, TAG_HALO, comm,
                          &reqs[nreq++]);
                MPI_Isend(&prev[n], sizeof prev[0], MPI_BYTE, me + 1, TAG_HALO, comm,
                          &reqs[nreq++]);
            }
            MPI_Waitall(nreq, reqs, MPI_STATUSES_IGNORE);
        }
        for (int64_t c = 0; c < n; c++) {
            int64_t i = lo + c, a, b;
            inputs_of(i, w, &a, &b);
            if (t == 0)
                point_compute(t, i, k, NULL, 0, &cur[c + 1]);
            else
                point_compute(t, i, k, &prev[a - lo + 1], (int)(b - a + 1), &cur[c + 1]);
        }
        point_t *tmp = prev;
        prev = cur;
        cur = tmp;
    }
    MPI_Barrier(comm);
    double wall = MPI_Wtime() - t0;

    if (me == 0) {
        counts = malloc((size_t)p * sizeof *counts);
        displs = malloc((size_t)p * sizeof *displs);
        if (counts == NULL || displs == NULL) {
            fprintf(stderr, "relay-metg: out of memory\n");
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        for (int r = 0; r < p; r++) {
            int64_t rlo = w * r / p, rhi = w * (r + 1) / p;
            counts[r] = (int)((rhi - rlo) * (int64_t)sizeof(point_t));
            displs[r] = (int)(rlo * (int64_t)sizeof(point_t));
        }
    }
    MPI_Gatherv(&prev[1], (int)(n * (int64_t)sizeof(point_t)), MPI_BYTE, final, counts, displs,
                MPI_BYTE, 0, comm);
    if (me == 0) *wall_p = wall;
    free(counts);
    free(displs);
    free(prev);
    free(cur);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Cores                                                                     */
/* ------------------------------------------------------------------------ */

/* Worker slots relay_init will give this rank (its documented defaults). */
static int relay_slots_here(int rank, int size)
{
    const char *dw = getenv("RELAY_DRIVER_WORKERS");
    int hosts = rank != 0 || size == 1 || (dw != NULL && atoi(dw) == 1);
    if (!hosts) return 0;
    const char *nc = getenv("RELAY_NUM_CPUS");
    if (nc != NULL && atoi(nc) > 0) return atoi(nc);
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    int n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}

/* Sum over nodes of min(online CPUs of the node, sum of `mine` on it). */
static int64_t node_capped_sum(MPI_Comm world, MPI_Comm node, int64_t mine)
{
    int64_t on_node = 0, capped = 0, total = 0;
    int node_rank;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1) cpus = 1;
    MPI_Comm_rank(node, &node_rank);
    MPI_Allreduce(&mine, &on_node, 1, MPI_INT64_T, MPI_SUM, node);
    if (node_rank == 0) capped = on_node < cpus ? on_node : (int64_t)cpus;
    MPI_Allreduce(&capped, &total, 1, MPI_INT64_T, MPI_SUM, world);
    return total;
}

/* ------------------------------------------------------------------------ */
/* Sweep                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct options {
    int64_t w, steps, k0, min_k;
    int reps, json, quick;
} options_t;

typedef struct sys_point {
    int done;       /* measured */
    double wall;    /* median wall time, s */
    double gran_us; /* task granularity, us */
    double eff;     /* efficiency */
} sys_point_t;

typedef struct point_row {
    int64_t k;
    sys_point_t relay, mpi;
    point_t *mpi_out; /* the baseline's last step, for the relay check */
} point_row_t;

typedef struct sweep {
    options_t o;
    int size;
    int64_t relay_slots, relay_cores, mpi_ranks, mpi_cores;
    double peak;       /* FLOP/s of one core: the best of the two below */
    double peak_start; /* measured before the sweeps */
    double peak_end;   /* measured after them */
    int npoints;
    point_row_t rows[MAX_POINTS];
} sweep_t;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void fill_point(const sweep_t *s, int64_t k, int64_t cores, double wall, sys_point_t *sp)
{
    double tasks = (double)s->o.w * (double)s->o.steps;
    double flops = tasks * (double)k * FLOPS_PER_ITER;
    sp->done = 1;
    sp->wall = wall;
    sp->gran_us = wall * (double)cores / tasks * 1e6;
    sp->eff = flops / wall / (s->peak * (double)cores);
}

/* Compare a run's last step with a reference; report the first mismatch. */
static int check(const char *who, const char *ref_name, int64_t k, const point_t *got,
                 const point_t *ref, int64_t w)
{
    for (int64_t i = 0; i < w; i++) {
        if (memcmp(&got[i], &ref[i], sizeof got[i]) != 0) {
            fprintf(stderr,
                    "relay-metg: WRONG RESULT: %s at K=%" PRId64 ", column %" PRId64
                    ": (%.17g, %016" PRIx64 "), %s has (%.17g, %016" PRIx64 ")\n",
                    who, k, i, got[i].x, got[i].h, ref_name, ref[i].x, ref[i].h);
            return -1;
        }
    }
    return 0;
}

/* Serial reference for K, when cheap enough (or when forced). */
static int serial_check(const sweep_t *s, const char *who, int64_t k, const point_t *got, int force)
{
    const options_t *o = &s->o;
    if (!force && o->w * o->steps * k > VERIFY_BUDGET) return 0;
    point_t *ref = malloc((size_t)o->w * sizeof *ref);
    if (ref == NULL || serial_graph(o->w, o->steps, k, ref) != 0) {
        fprintf(stderr, "relay-metg: out of memory\n");
        free(ref);
        return -1;
    }
    int rc = check(who, "the serial recomputation", k, got, ref, o->w);
    free(ref);
    return rc;
}

static volatile double peak_sink; /* keeps the peak runs' results alive */

/* Peak FLOP/s of the kernel alone on this core: the best of `runs` runs of
 * about `seconds` each (short runs, so that one of them likely misses any
 * other load on the machine). */
static double measure_peak(double seconds, int runs)
{
    double seed[4] = {0.1, 0.2, 0.3, 0.4};
    int64_t iters = 1 << 16;
    double t;
    /* Calibrate. */
    for (;;) {
        double t0 = app_now();
        peak_sink += kernel(iters, seed);
        t = app_now() - t0;
        if (t > seconds / 8 || iters > ((int64_t)1 << 40)) break;
        iters *= 2;
    }
    iters = (int64_t)((double)iters * seconds / t) + 1;
    double best = 0.0;
    for (int r = 0; r < runs; r++) {
        double t0 = app_now();
        peak_sink += kernel(iters, seed);
        t = app_now() - t0;
        double f = (double)iters * FLOPS_PER_ITER / t;
        if (f > best) best = f;
    }
    return best;
}

/* Does the sweep go on after this point? It stops after two points in a
 * row below 50% (one noisy point does not end it), or at --min-k. */
static int keep_going(const sweep_t *s, const sys_point_t *sp, int *below_p, int64_t next_k)
{
    *below_p = sp->eff < 0.5 ? *below_p + 1 : 0;
    if (next_k < s->o.min_k || next_k < 1) return 0;
    return s->o.quick || *below_p < 2;
}

/* The MPI part, on every rank. Fills s->rows[].mpi on rank 0. */
static int mpi_sweep(sweep_t *s, MPI_Comm world, int rank)
{
    const options_t *o = &s->o;
    int failed = 0;
    MPI_Comm comm;
    int color = rank < s->mpi_ranks ? 0 : MPI_UNDEFINED;
    MPI_Comm_split(world, color, rank, &comm);

    if (comm != MPI_COMM_NULL) {
        point_t *out = malloc((size_t)o->w * sizeof *out);
        double *walls = malloc((size_t)o->reps * sizeof *walls);
        if (out == NULL || walls == NULL) {
            fprintf(stderr, "relay-metg: out of memory\n");
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        /* Warm-up (and a first check) at K = 1. */
        double wall;
        mpi_graph(comm, o->w, o->steps, 1, out, &wall);
        if (rank == 0 && serial_check(s, "MPI baseline", 1, out, 1) != 0) failed = 1;

        int64_t k = o->k0;
        int idx = 0, below = 0;
        while (k > 0) {
            for (int r = 0; r < o->reps; r++)
                mpi_graph(comm, o->w, o->steps, k, out, &walls[r]);
            int64_t next = 0;
            if (rank == 0) {
                point_row_t *row = &s->rows[idx];
                row->k = k;
                fill_point(s, k, s->mpi_cores, median(walls, o->reps), &row->mpi);
                row->mpi_out = malloc((size_t)o->w * sizeof *out);
                if (row->mpi_out == NULL) {
                    fprintf(stderr, "relay-metg: out of memory\n");
                    MPI_Abort(MPI_COMM_WORLD, 1);
                }
                memcpy(row->mpi_out, out, (size_t)o->w * sizeof *out);
                if (serial_check(s, "MPI baseline", k, out, 0) != 0) failed = 1;
                if (idx + 1 > s->npoints) s->npoints = idx + 1;
                if (!failed && idx + 1 < MAX_POINTS && keep_going(s, &row->mpi, &below, k / 2))
                    next = k / 2;
            }
            quiet_bcast_i64(&next, comm);
            k = next;
            idx++;
        }
        free(out);
        free(walls);
        MPI_Comm_free(&comm);
    }
    quiet_barrier(world);
    return failed ? -1 : 0;
}

/* The relay part, on the driver. Fills s->rows[].relay. */
static int relay_sweep(sweep_t *s)
{
    const options_t *o = &s->o;
    point_t *out = malloc((size_t)o->w * sizeof *out);
    double *walls = malloc((size_t)o->reps * sizeof *walls);
    int rc = -1;
    double wall;

    if (out == NULL || walls == NULL) {
        fprintf(stderr, "relay-metg: out of memory\n");
        goto out;
    }
    /* Warm-up (and a first check) at K = 1. */
    if (relay_graph(o->w, o->steps, 1, out, &wall) != 0) goto out;
    if (serial_check(s, "relay", 1, out, 1) != 0) goto out;

    int64_t k = o->k0;
    int below = 0;
    for (int idx = 0; k > 0 && idx < MAX_POINTS; idx++) {
        point_row_t *row = &s->rows[idx];
        for (int r = 0; r < o->reps; r++) {
            if (relay_graph(o->w, o->steps, k, out, &walls[r]) != 0) goto out;
            /* Every repetition is checked against the baseline, the first
             * also serially when cheap (or when there is no baseline). */
            if (row->mpi_out != NULL &&
                check("relay", "the MPI baseline", k, out, row->mpi_out, o->w) != 0)
                goto out;
            if (r == 0 && serial_check(s, "relay", k, out, row->mpi_out == NULL) != 0) goto out;
        }
        row->k = k;
        fill_point(s, k, s->relay_cores, median(walls, o->reps), &row->relay);
        if (idx + 1 > s->npoints) s->npoints = idx + 1;
        k = keep_going(s, &row->relay, &below, k / 2) ? k / 2 : 0;
    }
    rc = 0;
out:
    free(out);
    free(walls);
    return rc;
}

/* METG(50%) of one system, from the last sweep point at or above 50% (the
 * smallest granularity still efficient) and the point after it.
 * Returns 0 when found (*interp_p interpolated, *last_ok_p that point), 1
 * when no point reached 50% (*interp_p is the first point's granularity, a
 * lower bound), 2 when the last point measured is still at or above 50%
 * (*interp_p is its granularity, an upper bound), -1 when nothing was
 * measured. */
static int metg_of(const sweep_t *s, int relay, double *interp_p, double *last_ok_p)
{
    int n = 0, last_ok = -1;
    const sys_point_t *pts[MAX_POINTS];
    for (int i = 0; i < s->npoints; i++) {
        const sys_point_t *sp = relay ? &s->rows[i].relay : &s->rows[i].mpi;
        if (!sp->done) break;
        if (sp->eff >= 0.5) last_ok = n;
        pts[n++] = sp;
    }
    if (n == 0) return -1;
    if (last_ok < 0) {
        *interp_p = *last_ok_p = pts[0]->gran_us;
        return 1;
    }
    const sys_point_t *a = pts[last_ok];
    *last_ok_p = *interp_p = a->gran_us;
    if (last_ok == n - 1) return 2;
    const sys_point_t *b = pts[last_ok + 1];
    double f = (0.5 - a->eff) / (b->eff - a->eff);
    *interp_p = exp(log(a->gran_us) + f * (log(b->gran_us) - log(a->gran_us)));
    return 0;
}

static const char *metg_kind(int found)
{
    switch (found) {
    case 0:
        return "interpolated";
    case 1:
        return "below 50% at every K (METG is larger)";
    case 2:
        return "still >= 50% at the smallest K (METG is smaller)";
    default:
        return "not measured";
    }
}

/* A METG for the text output: "12.34 us", "> 12.34 us", "< 12.34 us" or "none". */
static void format_metg(char *buf, size_t n, int found, double v)
{
    if (found == 0)
        snprintf(buf, n, "%.2f us", v);
    else if (found == 1)
        snprintf(buf, n, "> %.2f us", v);
    else if (found == 2)
        snprintf(buf, n, "< %.2f us", v);
    else
        snprintf(buf, n, "none");
}

/* ,"key":value or ,"key":null */
static void json_num(const char *key, int valid, double v)
{
    if (valid && isfinite(v))
        printf(",\"%s\":%.6g", key, v);
    else
        printf(",\"%s\":null", key);
}

static void print_results(sweep_t *s)
{
    const options_t *o = &s->o;
    /* Efficiencies against the final peak (the sweeps used the first). */
    for (int i = 0; i < s->npoints; i++) {
        point_row_t *row = &s->rows[i];
        if (row->relay.done) fill_point(s, row->k, s->relay_cores, row->relay.wall, &row->relay);
        if (row->mpi.done) fill_point(s, row->k, s->mpi_cores, row->mpi.wall, &row->mpi);
    }
    double mr, ml, pr, pl;
    int fr = metg_of(s, 1, &mr, &ml), fp = metg_of(s, 0, &pr, &pl);
    double ratio = fr >= 0 && fp >= 0 ? mr / pr : NAN;

    if (o->json) {
        for (int i = 0; i < s->npoints; i++) {
            const point_row_t *row = &s->rows[i];
            for (int sys = 0; sys < 2; sys++) {
                const sys_point_t *sp = sys == 0 ? &row->relay : &row->mpi;
                if (!sp->done) continue;
                printf("{\"type\":\"measurement\",\"system\":\"%s\",\"k\":%" PRId64
                       ",\"granularity_us\":%.6g,\"efficiency\":%.6g,\"wall_s\":%.6g,"
                       "\"cores\":%" PRId64 ",\"tasks\":%" PRId64 ",\"flops\":%.6g}\n",
                       sys == 0 ? "relay" : "mpi", row->k, sp->gran_us, sp->eff, sp->wall,
                       sys == 0 ? s->relay_cores : s->mpi_cores, o->w * o->steps,
                       (double)(o->w * o->steps) * (double)row->k * FLOPS_PER_ITER);
            }
        }
        printf("{\"type\":\"summary\",\"ranks\":%d,\"width\":%" PRId64 ",\"steps\":%" PRId64
               ",\"reps\":%d,\"relay_slots\":%" PRId64 ",\"relay_cores\":%" PRId64
               ",\"mpi_ranks\":%" PRId64 ",\"mpi_cores\":%" PRId64
               ",\"peak_flops_per_core\":%.6g,\"peak_start\":%.6g,\"peak_end\":%.6g",
               s->size, o->w, o->steps, o->reps, s->relay_slots, s->relay_cores, s->mpi_ranks,
               s->mpi_cores, s->peak, s->peak_start, s->peak_end);
        json_num("metg_relay_us", fr >= 0, mr);
        json_num("metg_mpi_us", fp >= 0, pr);
        json_num("ratio", fr >= 0 && fp >= 0, ratio);
        json_num("metg_relay_last_ok_us", fr == 0 || fr == 2, ml);
        json_num("metg_mpi_last_ok_us", fp == 0 || fp == 2, pl);
        printf(",\"metg_relay_kind\":\"%s\",\"metg_mpi_kind\":\"%s\",\"method\":\"interpolated "
               "linearly in log(granularity) between the sweep points around 50%%\"}\n",
               metg_kind(fr), metg_kind(fp));
        return;
    }
    printf("peak: %.3f GFLOP/s per core (best of the start, %.3f, and the end, %.3f)\n",
           s->peak / 1e9, s->peak_start / 1e9, s->peak_end / 1e9);
    if (fabs(s->peak_start - s->peak_end) > 0.1 * s->peak)
        printf("warning: the peak moved by %.0f%% during the run: the machine was busy, the "
               "figures are noisy\n",
               100 * fabs(s->peak_start - s->peak_end) / s->peak);
    printf("%10s  %14s %9s  %14s %9s\n", "K", "relay gran us", "relay eff", "MPI gran us",
           "MPI eff");
    for (int i = 0; i < s->npoints; i++) {
        const point_row_t *row = &s->rows[i];
        char a[32] = "-", b[32] = "-", c[32] = "-", d[32] = "-";
        if (row->relay.done) {
            snprintf(a, sizeof a, "%.2f", row->relay.gran_us);
            snprintf(b, sizeof b, "%.1f%%", 100 * row->relay.eff);
        }
        if (row->mpi.done) {
            snprintf(c, sizeof c, "%.2f", row->mpi.gran_us);
            snprintf(d, sizeof d, "%.1f%%", 100 * row->mpi.eff);
        }
        printf("%10" PRId64 "  %14s %9s  %14s %9s\n", row->k, a, b, c, d);
    }
    char rs[48], ps[48], rl[48], pl_s[48];
    format_metg(rs, sizeof rs, fr, mr);
    format_metg(ps, sizeof ps, fp, pr);
    /* The last point >= 50% is a measured point (none if the first fell short). */
    format_metg(rl, sizeof rl, fr == 0 || fr == 2 ? 0 : -1, ml);
    format_metg(pl_s, sizeof pl_s, fp == 0 || fp == 2 ? 0 : -1, pl);
    printf("METG(50%%) relay: %s, MPI: %s, ratio: %.1f\n", rs, ps, ratio);
    printf("(interpolated linearly in log(granularity) between the sweep points around 50%%; "
           "last points >= 50%%: relay %s, MPI %s)\n",
           rl, pl_s);
    if (fr != 0) printf("note: relay %s\n", metg_kind(fr));
    if (fp != 0) printf("note: MPI %s\n", metg_kind(fp));
}

/* ------------------------------------------------------------------------ */
/* main                                                                      */
/* ------------------------------------------------------------------------ */

static int parse_i64(const char *str, int64_t *v_p)
{
    char *end;
    if (str[0] == '-') return -1;
    long long v = strtoll(str, &end, 10);
    if (end == str || *end != '\0' || v <= 0) return -1;
    *v_p = v;
    return 0;
}

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [-w width] [-t steps (50)] [-k start_K] [--min-k K (1)] [-r reps (3)]\n"
            "          [--json] [--quick]\n"
            "  -w: columns, default the worker slots of the run (at least 2)\n"
            "  -k: first K of the sweep, default a ~10 ms task\n"
            "  --quick: tiny sizes, all points down to --min-k (smoke test)\n",
            prog);
}

/* 0: parsed, 1: help, 2: error. */
static int parse_args(int argc, char **argv, options_t *o)
{
    static const struct option longopts[] = {{"min-k", required_argument, NULL, 'm'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"quick", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int64_t steps = 0, k0 = 0, min_k = 0, reps = 0;
    int opt;
    memset(o, 0, sizeof *o);
    while ((opt = getopt_long(argc, argv, "w:t:k:r:h", longopts, NULL)) != -1) {
        int bad = 0;
        switch (opt) {
        case 'w':
            bad = parse_i64(optarg, &o->w) != 0 || o->w > 1000000;
            break;
        case 't':
            bad = parse_i64(optarg, &steps) != 0 || steps > 1000000;
            break;
        case 'k':
            bad = parse_i64(optarg, &k0) != 0;
            break;
        case 'm':
            bad = parse_i64(optarg, &min_k) != 0;
            break;
        case 'r':
            bad = parse_i64(optarg, &reps) != 0 || reps > 1000;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'q':
            o->quick = 1;
            break;
        case 'h':
            return 1;
        default:
            return 2;
        }
        if (bad) {
            if (opt == 'm')
                fprintf(stderr, "relay-metg: bad value for --min-k: %s\n", optarg);
            else
                fprintf(stderr, "relay-metg: bad value for -%c: %s\n", opt, optarg);
            return 2;
        }
    }
    if (optind < argc) return 2;
    o->steps = steps ? steps : o->quick ? 6 : 50;
    o->k0 = k0 ? k0 : o->quick ? 4000 : 0;
    o->min_k = min_k ? min_k : o->quick ? 500 : 1;
    o->reps = reps ? (int)reps : o->quick ? 1 : 3;
    return 0;
}

int main(int argc, char **argv)
{
    sweep_t *s = calloc(1, sizeof *s);
    int provided, rank, size, rc, failed = 0;

    if (s == NULL) return 1;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    s->size = size;

    int prc = parse_args(argc, argv, &s->o);
    if (prc != 0) {
        if (rank == 0) usage(argv[0]);
        MPI_Finalize();
        return prc == 1 ? 0 : 2;
    }
    if (provided < MPI_THREAD_MULTIPLE) {
        if (rank == 0) fprintf(stderr, "relay-metg: MPI lacks MPI_THREAD_MULTIPLE\n");
        MPI_Finalize();
        return 1;
    }
    options_t *o = &s->o;
    MPI_Comm world, node;
    MPI_Comm_dup(MPI_COMM_WORLD, &world);
    MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);

    /* Cores: relay's worker slots capped per node by the online CPUs, then
     * by W; the baseline runs on that many ranks. */
    int64_t slots = relay_slots_here(rank, size), total_slots = 0;
    MPI_Allreduce(&slots, &total_slots, 1, MPI_INT64_T, MPI_SUM, world);
    s->relay_slots = total_slots;
    if (o->w == 0) o->w = total_slots > 2 ? total_slots : 2;
    int64_t cores = node_capped_sum(world, node, slots);
    s->relay_cores = cores < o->w ? cores : o->w;
    if (s->relay_cores < 1) s->relay_cores = 1;
    int64_t p = s->relay_cores < size ? s->relay_cores : size;
    s->mpi_ranks = p;
    s->mpi_cores = node_capped_sum(world, node, rank < p ? 1 : 0);
    MPI_Comm_free(&node);

    /* Peak of one core, measured on the driver while the others sleep. */
    if (rank == 0) {
        s->peak = s->peak_start = measure_peak(o->quick ? 0.005 : PEAK_SECONDS, 10);
        if (o->k0 == 0) {
            o->k0 = (int64_t)(START_TASK_SECONDS * s->peak / FLOPS_PER_ITER);
            if (o->k0 < 1) o->k0 = 1;
        }
        if (!o->json) {
            printf("relay-metg: %d ranks, stencil W=%" PRId64 " x T=%" PRId64 " (%" PRId64
                   " tasks), median of %d reps, K from %" PRId64 " halving to >= %" PRId64 "\n",
                   size, o->w, o->steps, o->w * o->steps, o->reps, o->k0, o->min_k);
            printf("cores: relay %" PRId64 " (%" PRId64 " worker slots, %ld online CPUs on rank "
                   "0's node, capped by W); MPI baseline %" PRId64 " ranks on %" PRId64 " cores\n",
                   s->relay_cores, s->relay_slots, sysconf(_SC_NPROCESSORS_ONLN), s->mpi_ranks,
                   s->mpi_cores);
            printf("peak at start: %.3f GFLOP/s per core (kernel alone on rank 0, %g "
                   "FLOPs/iteration); "
                   "K=%" PRId64 " is a %.2f ms task\n",
                   s->peak / 1e9, FLOPS_PER_ITER, o->k0,
                   1e3 * (double)o->k0 * FLOPS_PER_ITER / s->peak);
            fflush(stdout);
        }
    }
    quiet_bcast_i64(&o->k0, world);

    /* 1. MPI baseline, on every rank, before relay exists. */
    if (mpi_sweep(s, world, rank) != 0) failed = 1;
    int any_failed = 0;
    MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, world);

    /* 2. relay: the driver runs the sweep, the other ranks serve tasks. */
    if ((rc = relay_register("metg_point", metg_point)) != RELAY_OK) {
        report("relay_register", rc);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if ((rc = relay_init(&argc, &argv, NULL)) != RELAY_OK) {
        report("relay_init", rc);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (rank == 0 && !any_failed) {
        if (relay_sweep(s) != 0) failed = 1;
        /* The peak again, while the workers idle. */
        s->peak_end = measure_peak(o->quick ? 0.005 : PEAK_SECONDS, 10);
        if (s->peak_end > s->peak) s->peak = s->peak_end;
        /* Everything was released: the directory should be empty again. */
        relay_stats_t st;
        if ((rc = relay_sync(10.0)) != RELAY_OK || (rc = relay_stats(&st)) != RELAY_OK) {
            report("relay_sync/relay_stats", rc);
            failed = 1;
        } else if (!o->json) {
            printf("relay stats: %" PRIu64 " tasks submitted, %" PRIu64 " pending, %" PRIu64
                   " directory objects and %" PRIu64 " held refs left\n",
                   st.tasks_submitted, st.tasks_pending, st.directory_objects, st.held_refs);
        }
        if (!failed) print_results(s);
    }
    if ((rc = relay_finalize()) != RELAY_OK) {
        report("relay_finalize", rc);
        failed = 1;
    }
    MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, world);
    for (int i = 0; i < MAX_POINTS; i++)
        free(s->rows[i].mpi_out);
    free(s);
    MPI_Comm_free(&world);
    MPI_Finalize();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
