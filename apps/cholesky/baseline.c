/* The baseline, in the same run: LAPACKE's dpotrf of the same matrix on
 * one process with as many BLAS threads as relay's workers have CPUs, and
 * dgemm's rate on those cores (the machine's ceiling for all of them). */
#define _GNU_SOURCE
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cblas.h>
#include <lapacke.h>
#include <mpi.h>

#include "app.h"
#include "cholesky.h"

/* The cores every rank of the job may run on, on rank 0 (collective).
 * The baseline runs on rank 0's node: a job of one node is what it
 * compares with. */
static void job_cores(cpu_set_t *all)
{
    cpu_set_t mine;
    CPU_ZERO(&mine);
    sched_getaffinity(0, sizeof mine, &mine);
    CPU_ZERO(all);
    MPI_Request req;
    MPI_Ireduce(&mine, all, (int)sizeof mine, MPI_BYTE, MPI_BOR, 0, MPI_COMM_WORLD, &req);
    app_quiet_wait(&req);
}

/* Threads of this process, and their masks before widen(). */
typedef struct masks {
    pid_t tid[256];
    cpu_set_t old[256];
    int n;
} masks_t;

/* Let every thread of this process (BLAS's pool included, made at load
 * time with the rank's binding) run on the cores of set. mpirun binds a
 * rank to one core when ranks are few; the baseline would otherwise run
 * its threads on one core. */
static void widen(masks_t *m, const cpu_set_t *set)
{
    m->n = 0;
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d)) && m->n < 256) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid <= 0 || sched_getaffinity(tid, sizeof m->old[0], &m->old[m->n]) != 0) continue;
        if (sched_setaffinity(tid, sizeof *set, set) == 0) m->tid[m->n++] = tid;
    }
    if (d) closedir(d);
}

static void restore(const masks_t *m)
{
    for (int k = 0; k < m->n; k++)
        sched_setaffinity(m->tid[k], sizeof m->old[k], &m->old[k]);
}

/* dgemm GFLOP/s of order m, best of three. */
static double dgemm_rate(int m)
{
    size_t e = (size_t)m * (size_t)m;
    double *a = malloc(e * sizeof *a), *b = malloc(e * sizeof *b), *c = calloc(e, sizeof *c);
    double best = 0;
    for (size_t k = 0; a && b && c && k < e; k++)
        a[k] = b[k] = 1.0 / (double)(1 + k % 97);
    for (int rep = 0; a && b && c && rep < 3; rep++) {
        double t0 = app_now();
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, m, m, 1.0, a, m, b, m, 0.0, c, m);
        double rate = 2.0 * m * m * m / (app_now() - t0) * 1e-9;
        if (rate > best) best = rate;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

int chol_baseline(int n, int threads, int with_dgemm, chol_baseline_t *out)
{
    int rank;
    cpu_set_t cores;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    job_cores(&cores);
    if (rank != 0 || threads <= 0) return RELAY_OK;
    memset(out, 0, sizeof *out);
    out->threads = threads;
    double *a = malloc((size_t)n * (size_t)n * sizeof *a);
    if (!a) {
        fprintf(stderr, "relay-cholesky: no memory for the baseline's %d x %d matrix\n", n, n);
        return RELAY_ERR_NO_MEMORY;
    }
    chol_matrix_fill(a, n);
    masks_t *m = calloc(1, sizeof *m);
    if (m) widen(m, &cores);
    chol_blas_threads(threads);
    double t0 = app_now();
    /* The same column-major view of a row-major symmetric matrix as the
     * tiles' (no transposing copy): L = U^T lands in the lower part. */
    lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', n, a, n);
    out->dpotrf_s = app_now() - t0;
    out->dpotrf_gflops = (double)n * n * n / 3.0 / out->dpotrf_s * 1e-9;
    free(a);
    if (with_dgemm) out->dgemm_gflops = dgemm_rate(n < 2048 ? n : 2048);
    chol_blas_threads(1);
    if (m) restore(m);
    free(m);
    if (info != 0) {
        fprintf(stderr, "relay-cholesky: baseline dpotrf: info %d\n", (int)info);
        return RELAY_ERR_INVALID_ARG;
    }
    return RELAY_OK;
}
