/*
 * relay-cholesky: a tiled Cholesky factorization on relay, measured
 * against LAPACKE's dpotrf on the same cores.
 *
 * The matrix (order n, tiles of b x b) lives as relay typed arrays, one per
 * tile of its lower triangle, each a row-major RELAY_FLOAT64 b x b array.
 * The parts:
 *   matrix.c       the test matrix, defined element by element
 *   kernels_cpu.c  the four tile kernels on BLAS/LAPACKE, BLAS threads
 *   kernels_gpu.c  the same kernels with cuBLAS/cuSOLVER (CUDA builds)
 *   tasks.c        the remote functions around the kernels
 *   factor.c       the driver: the task graph of one factorization
 *   baseline.c     dpotrf and dgemm in one process, on the same cores
 *   main.c         options, runs, report (text or JSON)
 */
#ifndef RELAY_CHOLESKY_H
#define RELAY_CHOLESKY_H

#include <stddef.h>
#include <stdint.h>

#include "relay.h"

/* ---- the test matrix (matrix.c) ------------------------------------------ */

/* Element (r, c) of the symmetric positive definite test matrix of order
 * n: a hash of the pair in [0, 1), plus n on the diagonal (strictly
 * diagonally dominant, hence positive definite and well conditioned). */
double chol_element(uint64_t r, uint64_t c, int n);

/* Tile (i, j) of that matrix into t (b x b, row-major). */
void chol_tile_fill(double *t, int i, int j, int b, int n);

/* The whole matrix into a (n x n, row-major), for the baseline. */
void chol_matrix_fill(double *a, int n);

/* Sum of squares of the b x b tile t. */
double chol_tile_norm2(const double *t, int b);

/* ---- tile kernels (kernels_cpu.c, kernels_gpu.c) ------------------------- */

/* Every tile is b x b, row-major. L is lower triangular (its strict upper
 * part zero), as chol_potrf leaves it.
 *   potrf: a <- L with L L^T = a (lower part of a read); 0, or LAPACK's
 *          info (> 0: the leading minor of that order is not positive
 *          definite; < 0: a bad argument).
 *   trsm:  a <- a L^-T
 *   syrk:  a <- a - x x^T (lower part of a updated)
 *   gemm:  c <- c - x y^T
 * The GPU versions take and return host tiles and run on the calling
 * thread's current device; they return 0 or a negative value with a
 * message in err (err_size bytes). */
int chol_potrf(double *a, int b);
void chol_trsm(const double *l, double *a, int b);
void chol_syrk(const double *x, double *a, int b);
void chol_gemm(const double *x, const double *y, double *c, int b);

/* Make BLAS calls of this thread run on nthreads threads (OpenBLAS); 0
 * when set, -1 when the BLAS offers no such call (its own environment
 * variables then decide). */
int chol_blas_threads(int nthreads);
/* Name and version of the BLAS library, for the report. */
const char *chol_blas_name(void);

#ifdef RELAY_CHOLESKY_GPU
int chol_gpu_potrf(double *a, int b, char *err, size_t err_size);
int chol_gpu_trsm(const double *l, double *a, int b, char *err, size_t err_size);
int chol_gpu_syrk(const double *x, double *a, int b, char *err, size_t err_size);
int chol_gpu_gemm(const double *x, const double *y, double *c, int b, char *err, size_t err_size);
#endif

/* 1 when built with the GPU kernels. */
int chol_gpu_built(void);

/* ---- remote functions (tasks.c) ------------------------------------------ */

/* Register every remote function; before relay_init. */
int chol_register(void);

/* Arguments of the tile tasks, passed by value. */
typedef struct chol_tile_arg {
    int32_t i, j; /* the tile */
    int32_t k;    /* the step (the update's column) */
    int32_t b, n; /* tile order, matrix order */
    int32_t gpu;  /* 1: run the kernel on the task's GPU */
} chol_tile_arg_t;

/* ---- one factorization (factor.c) ---------------------------------------- */

typedef struct chol_opts {
    int n, b;     /* matrix and tile order; b divides n */
    int gpu;      /* tile kernels on GPUs */
    int residual; /* check ||A - L L^T|| / ||A|| */
    /* 0 (the default): relay places every task; 1: each tile has an owner
     * rank, 2-D block-cyclic over the worker ranks, and every task
     * updating a tile runs there (as DPLASMA and Chameleon distribute
     * tiles). */
    int owners;
    int damage; /* change L before the check: it must then fail */
} chol_opts_t;

/* The custom resource every rank offers so that a task can ask for it:
 * "chol_rank_<rank>" into name (size bytes). */
void chol_rank_resource(int rank, char *name, size_t size);

typedef struct chol_result {
    double gen_s;                /* making the tiles on the workers */
    double factor_s;             /* the factorization, from first submit to last tile */
    double gflops;               /* n^3/3 / factor_s */
    double residual;             /* ||A - L L^T||_F / ||A||_F, or -1 when not checked */
    uint64_t tasks;              /* tasks of the factorization */
    relay_stats_t before, after; /* summed over ranks, for spill traffic */
} chol_result_t;

/* Generate the matrix with tasks, factor it, check it (opts->residual).
 * Collective: every rank calls it (the others only gather statistics).
 * RELAY_OK, or the status of the first failure with a message on
 * stderr of rank 0. */
int chol_run(const chol_opts_t *opts, chol_result_t *res);

/* ---- the baseline (baseline.c) ------------------------------------------- */

typedef struct chol_baseline {
    int threads; /* BLAS threads: the CPUs relay's workers offer */
    double dpotrf_s, dpotrf_gflops;
    double dgemm_gflops; /* dgemm of order min(n, 2048), best of 3; 0 if not run */
} chol_baseline_t;

/* On rank 0: dpotrf of the same matrix on threads BLAS threads (and the
 * dgemm rate with with_dgemm), with the rank's threads allowed on every
 * core the job's ranks run on (ranks may be bound to one core each).
 * Collective; threads 0 on rank 0 only takes part (a failed run). */
int chol_baseline(int n, int threads, int with_dgemm, chol_baseline_t *out);

#endif
