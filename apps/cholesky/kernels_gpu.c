#define _POSIX_C_SOURCE 200809L
/*
 * The tile kernels with cuBLAS and cuSOLVER, on the calling thread's
 * current device; tiles come from the host and go back to it.
 *
 * A row-major b x b tile is, byte for byte, the column-major storage of
 * its transpose. Every kernel runs on that column-major view, with fill
 * modes and transposes chosen to match, so no tile is ever transposed.
 */
#include <stdio.h>
#include <string.h>

#include <cublas_v2.h>
#include <cusolverDn.h>
#include <cuda_runtime.h>

#include "cholesky.h"

#define NTILES 3 /* the most tiles one kernel reads */

/* What a thread keeps between kernels: made on first use, remade when the
 * tiles grow or the thread's device changes. Worker threads live as long as
 * the process, whose CUDA teardown releases it all. */
typedef struct gpu_cache {
    int device; /* the device everything below lives on; -1: nothing made */
    int cap;    /* the tile order the tile buffers hold; 0: none */
    cublasHandle_t blas;
    cusolverDnHandle_t solver;
    cudaStream_t stream; /* both handles run on it */
    double *tile[NTILES];
    double *work; /* potrf's workspace, lwork doubles */
    int lwork;
    int *info; /* potrf's devInfo */
} gpu_cache_t;

static _Thread_local gpu_cache_t cache = {.device = -1};

/* ---- errors -------------------------------------------------------------- */

/* The name of a checked call: its text up to the '('. */
static int name_len(const char *call)
{
    return (int)strcspn(call, "(");
}

static int cuda_fail(char *err, size_t err_size, const char *call, cudaError_t e)
{
    snprintf(err, err_size, "%.*s: %s (%s)", name_len(call), call, cudaGetErrorString(e),
             cudaGetErrorName(e));
    return -1;
}

static int blas_fail(char *err, size_t err_size, const char *call, cublasStatus_t s)
{
    snprintf(err, err_size, "%.*s: %s (%d)", name_len(call), call, cublasGetStatusString(s),
             (int)s);
    return -1;
}

/* cuSOLVER has no status strings of its own. */
static const char *solver_string(cusolverStatus_t s)
{
    switch (s) {
    case CUSOLVER_STATUS_NOT_INITIALIZED:
        return "not initialized";
    case CUSOLVER_STATUS_ALLOC_FAILED:
        return "allocation failed";
    case CUSOLVER_STATUS_INVALID_VALUE:
        return "invalid value";
    case CUSOLVER_STATUS_ARCH_MISMATCH:
        return "architecture mismatch";
    case CUSOLVER_STATUS_EXECUTION_FAILED:
        return "execution failed";
    case CUSOLVER_STATUS_INTERNAL_ERROR:
        return "internal error";
    case CUSOLVER_STATUS_NOT_SUPPORTED:
        return "not supported";
    default:
        return "cuSOLVER error";
    }
}

static int solver_fail(char *err, size_t err_size, const char *call, cusolverStatus_t s)
{
    snprintf(err, err_size, "%.*s: %s (%d)", name_len(call), call, solver_string(s), (int)s);
    return -1;
}

/* These return -1 from the enclosing function, which has err and err_size. */
#define CUDA_CHECK(call)                                                                           \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) return cuda_fail(err, err_size, #call, e_);                         \
    } while (0)

#define BLAS_CHECK(call)                                                                           \
    do {                                                                                           \
        cublasStatus_t s_ = (call);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS) return blas_fail(err, err_size, #call, s_);               \
    } while (0)

#define SOLVER_CHECK(call)                                                                         \
    do {                                                                                           \
        cusolverStatus_t s_ = (call);                                                              \
        if (s_ != CUSOLVER_STATUS_SUCCESS) return solver_fail(err, err_size, #call, s_);           \
    } while (0)

/* ---- the cache ----------------------------------------------------------- */

static size_t tile_bytes(int b)
{
    return (size_t)b * (size_t)b * sizeof(double);
}

/* Errors are ignored: the memory is given up either way. */
static void drop_buffers(gpu_cache_t *c)
{
    for (int i = 0; i < NTILES; i++) {
        cudaFree(c->tile[i]);
        c->tile[i] = NULL;
    }
    cudaFree(c->work);
    cudaFree(c->info);
    c->work = NULL;
    c->info = NULL;
    c->lwork = 0;
    c->cap = 0;
}

/* Everything, freed on the device it was made on; then back to current,
 * the device the runtime chose for this task. */
static int drop_all(gpu_cache_t *c, int current, char *err, size_t err_size)
{
    if (c->device >= 0 && cudaSetDevice(c->device) == cudaSuccess) {
        drop_buffers(c);
        if (c->blas) cublasDestroy(c->blas);
        if (c->solver) cusolverDnDestroy(c->solver);
        if (c->stream) cudaStreamDestroy(c->stream);
    }
    *c = (gpu_cache_t){.device = -1}; /* what could not be freed is forgotten */
    CUDA_CHECK(cudaSetDevice(current));
    return 0;
}

static int make_handles(gpu_cache_t *c, int device, char *err, size_t err_size)
{
    c->device = device; /* from here on, drop_all frees what was made */
    /* Non-blocking: no implicit waits on other code's legacy default stream. */
    CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    BLAS_CHECK(cublasCreate(&c->blas));
    BLAS_CHECK(cublasSetStream(c->blas, c->stream));
    SOLVER_CHECK(cusolverDnCreate(&c->solver));
    SOLVER_CHECK(cusolverDnSetStream(c->solver, c->stream));
    return 0;
}

static int grow_tiles(gpu_cache_t *c, int b, char *err, size_t err_size)
{
    drop_buffers(c);
    for (int i = 0; i < NTILES; i++)
        CUDA_CHECK(cudaMalloc((void **)&c->tile[i], tile_bytes(b)));
    CUDA_CHECK(cudaMalloc((void **)&c->info, sizeof *c->info));
    c->cap = b;
    return 0;
}

/* The workspace grows separately: its size comes from cuSOLVER per call. */
static int grow_work(gpu_cache_t *c, int lwork, char *err, size_t err_size)
{
    if (lwork <= c->lwork) return 0;
    cudaFree(c->work);
    c->work = NULL;
    c->lwork = 0;
    CUDA_CHECK(cudaMalloc((void **)&c->work, (size_t)lwork * sizeof *c->work));
    c->lwork = lwork;
    return 0;
}

/* Handles and buffers for b x b tiles on the current device. */
static int start(int b, char *err, size_t err_size)
{
    gpu_cache_t *c = &cache;
    int device;
    if (b <= 0) {
        snprintf(err, err_size, "bad tile order %d", b);
        return -1;
    }
    CUDA_CHECK(cudaGetDevice(&device));
    if (c->device >= 0 && c->device != device && drop_all(c, device, err, err_size)) return -1;
    if (c->device < 0 && make_handles(c, device, err, err_size)) {
        drop_all(c, device, NULL, 0); /* keeps the first message */
        return -1;
    }
    if (b > c->cap && grow_tiles(c, b, err, err_size)) {
        drop_buffers(c);
        return -1;
    }
    return 0;
}

/* After a failure part of the work may still be queued: wait for it, so
 * that nothing touches the caller's tiles after the return. */
static int settle(int rc)
{
    if (rc < 0 && cache.stream) cudaStreamSynchronize(cache.stream);
    return rc;
}

/* ---- transfers ----------------------------------------------------------- */

static int put(double *dev, const double *host, int b, char *err, size_t err_size)
{
    CUDA_CHECK(cudaMemcpyAsync(dev, host, tile_bytes(b), cudaMemcpyHostToDevice, cache.stream));
    return 0;
}

/* The result back, and the wait for everything queued before it. */
static int get(double *host, const double *dev, int b, char *err, size_t err_size)
{
    CUDA_CHECK(cudaMemcpyAsync(host, dev, tile_bytes(b), cudaMemcpyDeviceToHost, cache.stream));
    CUDA_CHECK(cudaStreamSynchronize(cache.stream));
    return 0;
}

/* ---- the kernels --------------------------------------------------------- */

/* L's strict upper part: zeros, not what was left of a. */
static void zero_upper(double *a, int b)
{
    for (int r = 0; r < b; r++)
        for (int c = r + 1; c < b; c++)
            a[(size_t)r * (size_t)b + (size_t)c] = 0.0;
}

static int potrf_run(double *a, int b, char *err, size_t err_size)
{
    gpu_cache_t *c = &cache;
    int lwork = 0, info = 0;
    if (start(b, err, err_size) || put(c->tile[0], a, b, err, err_size)) return -1;
    /* View upper = row-major lower; A = U^T U there leaves U = L^T, i.e. L row-major. */
    cublasFillMode_t uplo = CUBLAS_FILL_MODE_UPPER;
    SOLVER_CHECK(cusolverDnDpotrf_bufferSize(c->solver, uplo, b, c->tile[0], b, &lwork));
    if (grow_work(c, lwork, err, err_size)) return -1;
    SOLVER_CHECK(cusolverDnDpotrf(c->solver, uplo, b, c->tile[0], b, c->work, lwork, c->info));
    CUDA_CHECK(cudaMemcpyAsync(&info, c->info, sizeof info, cudaMemcpyDeviceToHost, c->stream));
    if (get(a, c->tile[0], b, err, err_size)) return -1;
    if (info > 0) {
        snprintf(err, err_size, "cusolverDnDpotrf: leading minor %d not positive definite", info);
        return info;
    }
    if (info < 0) {
        snprintf(err, err_size, "cusolverDnDpotrf: parameter %d has an illegal value", -info);
        return info;
    }
    zero_upper(a, b);
    return 0;
}

static int trsm_run(const double *l, double *a, int b, char *err, size_t err_size)
{
    gpu_cache_t *c = &cache;
    const double one = 1.0;
    if (start(b, err, err_size) || put(c->tile[0], l, b, err, err_size) ||
        put(c->tile[1], a, b, err, err_size))
        return -1;
    /* (A L^-T)^T = L^-1 A^T = (U^T)^-1 A^T, U = L^T the (upper) view of l: left, upper, op T. */
    BLAS_CHECK(cublasDtrsm(c->blas, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T,
                           CUBLAS_DIAG_NON_UNIT, b, b, &one, c->tile[0], b, c->tile[1], b));
    return get(a, c->tile[1], b, err, err_size);
}

static int syrk_run(const double *x, double *a, int b, char *err, size_t err_size)
{
    gpu_cache_t *c = &cache;
    const double minus_one = -1.0, one = 1.0;
    if (start(b, err, err_size) || put(c->tile[0], x, b, err, err_size) ||
        put(c->tile[1], a, b, err, err_size))
        return -1;
    /* X X^T = (X^T)^T X^T, view of x = X^T: op T; row-major lower = view upper fill. */
    BLAS_CHECK(cublasDsyrk(c->blas, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T, b, b, &minus_one,
                           c->tile[0], b, &one, c->tile[1], b));
    return get(a, c->tile[1], b, err, err_size);
}

static int gemm_run(const double *x, const double *y, double *cc, int b, char *err, size_t err_size)
{
    gpu_cache_t *c = &cache;
    const double minus_one = -1.0, one = 1.0;
    if (start(b, err, err_size) || put(c->tile[0], x, b, err, err_size) ||
        put(c->tile[1], y, b, err, err_size) || put(c->tile[2], cc, b, err, err_size))
        return -1;
    /* (C - X Y^T)^T = C^T - (Y^T)^T X^T: A = view of y with op T, B = view of x with op N. */
    BLAS_CHECK(cublasDgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, b, b, b, &minus_one, c->tile[1], b,
                           c->tile[0], b, &one, c->tile[2], b));
    return get(cc, c->tile[2], b, err, err_size);
}

int chol_gpu_potrf(double *a, int b, char *err, size_t err_size)
{
    return settle(potrf_run(a, b, err, err_size));
}

int chol_gpu_trsm(const double *l, double *a, int b, char *err, size_t err_size)
{
    return settle(trsm_run(l, a, b, err, err_size));
}

int chol_gpu_syrk(const double *x, double *a, int b, char *err, size_t err_size)
{
    return settle(syrk_run(x, a, b, err, err_size));
}

int chol_gpu_gemm(const double *x, const double *y, double *c, int b, char *err, size_t err_size)
{
    return settle(gemm_run(x, y, c, b, err, err_size));
}
