/*
 * relay-cholesky: factor a symmetric positive definite matrix in tiles with
 * relay tasks (POTRF, TRSM, SYRK, GEMM on b x b tiles), check the result,
 * and in the same run measure LAPACKE's dpotrf and dgemm on the same cores.
 *
 *   mpirun -np 3 relay-cholesky [-n order] [-b tile] [-r runs] [--json]
 *          [--no-baseline] [--no-check] [--gpu]
 *
 * Out of core: RELAY_STORE_BUDGET=256M mpirun -np 3 relay-cholesky -n 16384
 */
#define _POSIX_C_SOURCE 200809L

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "app.h"
#include "cholesky.h"

#define MAX_RUNS 50
#define MAX_TILES 256      /* per side */
#define RESIDUAL_MAX 1e-12 /* ||A - L L^T|| / ||A||: double round-off is ~1e-16 */

typedef struct app {
    chol_opts_t o;
    int runs, json, baseline, rank, size;
    double worker_cpus, gpus;
    chol_result_t res[MAX_RUNS];
    chol_baseline_t base[MAX_RUNS];
    uint64_t store_budget;
} app_t;

static int usage(const char *prog, int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: %s [-n order (4096)] [-b tile (512)] [-r runs (1)] [--json]\n"
            "          [--no-baseline] [--no-check] [--gpu] [--placement relay|owner]\n"
            "          [--damage (change one tile of L before the check, which must fail)]\n",
            prog);
    return rc;
}

static int parse_int(const char *s, int lo, int hi, int *v)
{
    char *end;
    long x = strtol(s, &end, 10);
    if (!*s || *end || x < lo || x > hi) return -1;
    *v = (int)x;
    return 0;
}

static int parse(app_t *a, int argc, char **argv)
{
    static const struct option longs[] = {{"json", no_argument, NULL, 'j'},
                                          {"no-baseline", no_argument, NULL, 'B'},
                                          {"no-check", no_argument, NULL, 'C'},
                                          {"gpu", no_argument, NULL, 'g'},
                                          {"placement", required_argument, NULL, 'p'},
                                          {"damage", no_argument, NULL, 'D'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "n:b:r:h", longs, NULL)) != -1) {
        switch (opt) {
        case 'n':
            if (parse_int(optarg, 1, 1 << 20, &a->o.n))
                return fprintf(stderr, "relay-cholesky: -n wants an order, 1..2^20\n"), 2;
            break;
        case 'b':
            if (parse_int(optarg, 1, 1 << 14, &a->o.b))
                return fprintf(stderr, "relay-cholesky: -b wants a tile order, 1..16384\n"), 2;
            break;
        case 'r':
            if (parse_int(optarg, 1, MAX_RUNS, &a->runs))
                return fprintf(stderr, "relay-cholesky: -r wants 1..%d runs\n", MAX_RUNS), 2;
            break;
        case 'j':
            a->json = 1;
            break;
        case 'B':
            a->baseline = 0;
            break;
        case 'C':
            a->o.residual = 0;
            break;
        case 'g':
            a->o.gpu = 1;
            break;
        case 'D':
            a->o.damage = 1;
            break;
        case 'p':
            if (strcmp(optarg, "owner") && strcmp(optarg, "relay"))
                return fprintf(stderr, "relay-cholesky: --placement wants owner or relay\n"), 2;
            a->o.owners = !strcmp(optarg, "owner");
            break;
        case 'h':
            return usage(argv[0], 0) - 1;
        default:
            return usage(argv[0], 2);
        }
    }
    if (optind < argc)
        return fprintf(stderr, "relay-cholesky: unexpected argument %s\n", argv[optind]),
               usage(argv[0], 2);
    if (a->o.n % a->o.b)
        return fprintf(
                   stderr,
                   "relay-cholesky: the tile order (-b %d) must divide the matrix order (-n %d)\n",
                   a->o.b, a->o.n),
               2;
    /* Tasks grow as the cube of the tiles per side: 256 make 2.8 million. */
    if (a->o.n / a->o.b > MAX_TILES)
        return fprintf(stderr, "relay-cholesky: -n %d -b %d makes %d tiles per side, over %d\n",
                       a->o.n, a->o.b, a->o.n / a->o.b, MAX_TILES),
               2;
    return 0;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double median(const double *v, int n)
{
    double s[MAX_RUNS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* The medians of the runs. */
typedef struct summary {
    double relay, dpotrf, ratio, dgemm;
} summary_t;

static summary_t summarize(const app_t *a)
{
    double r[MAX_RUNS], d[MAX_RUNS], q[MAX_RUNS], g[MAX_RUNS];
    for (int k = 0; k < a->runs; k++) {
        r[k] = a->res[k].gflops;
        d[k] = a->base[k].dpotrf_gflops;
        q[k] = a->baseline ? r[k] / d[k] : 0;
        g[k] = a->base[k].dgemm_gflops;
    }
    summary_t s = {median(r, a->runs), 0, 0, 0};
    if (a->baseline)
        s = (summary_t){s.relay, median(d, a->runs), median(q, a->runs), median(g, a->runs)};
    return s;
}

#define MIB(x) ((double)(x) / 1048576.0)

/* Spill traffic of run k's factorization, summed over the ranks. */
static void spill_of(const chol_result_t *r, uint64_t *w, uint64_t *wb, uint64_t *rd, uint64_t *rb)
{
    *w = r->after.spill_writes - r->before.spill_writes;
    *wb = r->after.spill_write_bytes - r->before.spill_write_bytes;
    *rd = r->after.spill_reads - r->before.spill_reads;
    *rb = r->after.spill_read_bytes - r->before.spill_read_bytes;
}

static void print_text(const app_t *a)
{
    summary_t s = summarize(a);
    int t = a->o.n / a->o.b;
    printf("relay-cholesky: n = %d, b = %d (%d x %d tiles, %" PRIu64
           " tasks), %d ranks, %g worker CPUs%s\n",
           a->o.n, a->o.b, t, t, a->res[0].tasks, a->size, a->worker_cpus,
           a->o.gpu ? ", GPU tiles" : "");
    printf("BLAS: %s\n", chol_blas_name());
    for (int k = 0; k < a->runs; k++) {
        const chol_result_t *r = &a->res[k];
        printf("run %d: relay %.2f GFLOP/s (%.3f s)", k + 1, r->gflops, r->factor_s);
        if (a->baseline)
            printf(", dpotrf %.2f GFLOP/s (%.3f s, %d threads): %.1f%%", a->base[k].dpotrf_gflops,
                   a->base[k].dpotrf_s, a->base[k].threads,
                   100 * r->gflops / a->base[k].dpotrf_gflops);
        printf("\n");
    }
    printf("relay:  median %.2f GFLOP/s over %d runs\n", s.relay, a->runs);
    if (a->baseline) {
        printf("dpotrf: median %.2f GFLOP/s (%d BLAS threads)\n", s.dpotrf, a->base[0].threads);
        printf("ratio:  median %.1f%% of dpotrf\n", 100 * s.ratio);
        printf("dgemm:  %.2f GFLOP/s (%d threads; relay at %.1f%% of it)\n", s.dgemm,
               a->base[0].threads, 100 * s.relay / s.dgemm);
    }
    if (a->res[0].residual >= 0)
        printf("residual: ||A - L L^T||_F / ||A||_F = %.3e\n", a->res[0].residual);
    uint64_t w, wb, rd, rb;
    spill_of(&a->res[0], &w, &wb, &rd, &rb);
    printf("spill (first run's factorization, all ranks): %" PRIu64 " writes (%.1f MiB), %" PRIu64
           " reads (%.1f MiB)\n",
           w, MIB(wb), rd, MIB(rb));
    const chol_result_t *r = &a->res[0];
    printf("moved between ranks (first run's factorization): %.1f MiB fetched, %" PRIu64
           " objects pushed, %" PRIu64 " tasks placed ahead\n",
           MIB(r->after.bytes_fetched - r->before.bytes_fetched),
           r->after.objects_pushed - r->before.objects_pushed,
           r->after.tasks_placed_ahead - r->before.tasks_placed_ahead);
}

static void print_json(const app_t *a)
{
    summary_t s = summarize(a);
    uint64_t w, wb, rd, rb;
    spill_of(&a->res[0], &w, &wb, &rd, &rb);
    printf("{\"n\": %d, \"b\": %d, \"ranks\": %d, \"worker_cpus\": %g, \"gpu\": %s, \"tasks\": "
           "%" PRIu64 ",\n",
           a->o.n, a->o.b, a->size, a->worker_cpus, a->o.gpu ? "true" : "false", a->res[0].tasks);
    printf(" \"relay_gflops\": [");
    for (int k = 0; k < a->runs; k++)
        printf("%s%.3f", k ? ", " : "", a->res[k].gflops);
    printf("], \"relay_gflops_median\": %.3f, \"generate_s\": %.3f,\n", s.relay, a->res[0].gen_s);
    if (a->baseline) {
        printf(" \"blas_threads\": %d, \"dpotrf_gflops\": [", a->base[0].threads);
        for (int k = 0; k < a->runs; k++)
            printf("%s%.3f", k ? ", " : "", a->base[k].dpotrf_gflops);
        printf(
            "], \"dpotrf_gflops_median\": %.3f, \"ratio_median\": %.4f, \"dgemm_gflops\": %.3f,\n",
            s.dpotrf, s.ratio, s.dgemm);
    }
    if (a->res[0].residual >= 0)
        printf(" \"residual\": %.3e,\n", a->res[0].residual);
    else
        printf(" \"residual\": null,\n");
    printf(" \"spill\": {\"writes\": %" PRIu64 ", \"write_bytes\": %" PRIu64 ", \"reads\": %" PRIu64
           ", \"read_bytes\": %" PRIu64 "}}\n",
           w, wb, rd, rb);
}

/* Rank 0 tells the others whether another run comes: a failure on rank 0
 * must not leave them waiting in a run's collectives. */
static int another_run(const app_t *a, int k, int rc)
{
    int go = a->rank == 0 && rc == RELAY_OK && k < a->runs;
    MPI_Request req;
    MPI_Ibcast(&go, 1, MPI_INT, 0, MPI_COMM_WORLD, &req);
    app_quiet_wait(&req);
    return go;
}

/* Run after run: relay's factorization, then the baseline, side by side.
 * Every rank makes the same collective calls, whatever fails on rank 0. */
static int measure(app_t *a)
{
    int rc = RELAY_OK;
    for (int k = 0; another_run(a, k, rc); k++) {
        chol_opts_t o = a->o;
        o.residual = a->o.residual && k == 0; /* one check is enough */
        o.damage = a->o.damage && k == 0;
        rc = chol_run(&o, &a->res[k]);
        if (rc == RELAY_OK && a->rank == 0 && o.residual && !(a->res[k].residual <= RESIDUAL_MAX)) {
            fprintf(stderr,
                    "relay-cholesky: residual %.3e is above %.0e: the factorization is wrong\n",
                    a->res[k].residual, RESIDUAL_MAX);
            rc = RELAY_ERR_TASK_FAILED;
        }
        if (!a->baseline) continue;
        int threads = rc == RELAY_OK ? (int)a->worker_cpus : 0;
        int rc2 = chol_baseline(a->o.n, threads, k == 0, &a->base[k]);
        if (rc == RELAY_OK) rc = rc2;
        if (k > 0) a->base[k].dgemm_gflops = a->base[0].dgemm_gflops;
    }
    return rc;
}

int main(int argc, char **argv)
{
    static app_t a;
    a.o = (chol_opts_t){4096, 512, 0, 1, 0, 0};
    a.runs = 1;
    a.baseline = 1;
    int rc = parse(&a, argc, argv);
    if (rc) return rc < 0 ? 0 : rc;
    /* Each task holds one CPU: its BLAS calls run on its own thread. */
    chol_blas_threads(1);
    /* MPI first: each rank offers a resource named after itself, for
     * the tasks of the tiles it owns to ask for. */
    int provided, world_rank;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "relay-cholesky: MPI_Init_thread failed\n");
        return 1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    char owner[32];
    chol_rank_resource(world_rank, owner, sizeof owner);
    relay_resource_t mine = {owner, 1};
    relay_config_t cfg = {
        .field_mask = RELAY_CONFIG_RESOURCES, .resources = &mine, .num_resources = 1};
    if ((rc = chol_register()) != RELAY_OK || (rc = relay_init(&argc, &argv, &cfg)) != RELAY_OK) {
        fprintf(stderr, "relay-cholesky: init: %s (%s)\n", relay_strerror(rc), relay_last_error());
        MPI_Finalize();
        return 1;
    }
    relay_rank(&a.rank);
    relay_size(&a.size);
    relay_resource_capacity(-1, "CPU", &a.worker_cpus);
    relay_resource_capacity(-1, "GPU", &a.gpus);
    int failed = 0;
    if (a.o.gpu && !chol_gpu_built()) {
        if (a.rank == 0)
            printf("relay-cholesky: built without cuBLAS/cuSOLVER: the GPU run is skipped\n");
    } else if (a.o.gpu && a.gpus < 1) {
        if (a.rank == 0) printf("relay-cholesky: no GPU in the job: the GPU run is skipped\n");
    } else if (a.worker_cpus < 1) {
        if (a.rank == 0)
            fprintf(stderr, "relay-cholesky: no worker CPUs (run on 2 or more ranks)\n");
        failed = 1;
    } else {
        failed = measure(&a) != RELAY_OK;
        if (!failed && a.rank == 0) a.json ? print_json(&a) : print_text(&a);
    }
    if ((rc = relay_finalize()) != RELAY_OK) {
        fprintf(stderr, "relay-cholesky: finalize: %s (%s)\n", relay_strerror(rc),
                relay_last_error());
        failed = 1;
    }
    MPI_Finalize();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
