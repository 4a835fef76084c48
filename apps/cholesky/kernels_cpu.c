/* The tile kernels on the host: CBLAS and LAPACKE, row-major tiles. */
#include <stdio.h>

#include <cblas.h>
#include <lapacke.h>

#include "cholesky.h"

int chol_potrf(double *a, int b)
{
    /* A row-major tile is the column-major storage of its transpose, and
     * the tile is symmetric: factoring the column-major view as A = U^T U
     * reads the row-major lower triangle and leaves L = U^T there, without
     * the transposing copy LAPACKE's row-major path would make. */
    lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', b, a, b);
    if (info != 0) return (int)info;
    for (int r = 0; r < b; r++) /* L's strict upper part: zeros, not A's */
        for (int c = r + 1; c < b; c++)
            a[(size_t)r * (size_t)b + (size_t)c] = 0.0;
    return 0;
}

void chol_trsm(const double *l, double *a, int b)
{
    cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, b, b, 1.0, l, b, a,
                b);
}

void chol_syrk(const double *x, double *a, int b)
{
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, b, b, -1.0, x, b, 1.0, a, b);
}

void chol_gemm(const double *x, const double *y, double *c, int b)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, b, b, -1.0, x, b, y, b, 1.0, c, b);
}

#ifdef RELAY_CHOLESKY_OPENBLAS
void openblas_set_num_threads(int num_threads);
char *openblas_get_config(void);

int chol_blas_threads(int nthreads)
{
    openblas_set_num_threads(nthreads);
    return 0;
}

const char *chol_blas_name(void)
{
    static char name[128];
    snprintf(name, sizeof name, "OpenBLAS (%s)", openblas_get_config());
    return name;
}
#else
int chol_blas_threads(int nthreads)
{
    (void)nthreads;
    return -1;
}

const char *chol_blas_name(void)
{
    return "CBLAS/LAPACKE (thread count from the BLAS's environment variables)";
}
#endif
