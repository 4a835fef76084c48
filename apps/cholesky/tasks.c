/* The remote functions: each takes a chol_tile_arg_t by value and its
 * tiles as ref arguments (resolved to b x b FLOAT64 arrays), and returns
 * one new tile: objects are immutable, so every update makes a new
 * version of its tile and the old one goes when nobody holds it. */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cholesky.h"

/* Argument 0: the tile description, checked. */
static int tile_arg(relay_ctx_t *ctx, chol_tile_arg_t *ta)
{
    const void *p;
    size_t size;
    int rc = relay_ctx_arg(ctx, 0, &p, &size);
    if (rc != RELAY_OK) return relay_ctx_fail(ctx, "no tile argument: %s", relay_last_error()), -1;
    if (size != sizeof *ta) return relay_ctx_fail(ctx, "tile argument of %zu bytes", size), -1;
    memcpy(ta, p, sizeof *ta);
    if (ta->b <= 0 || ta->n <= 0 || ta->n % ta->b || ta->i < 0 || ta->j < 0 ||
        ta->i >= ta->n / ta->b || ta->j > ta->i)
        return relay_ctx_fail(ctx, "bad tile (%d, %d) of b = %d, n = %d", ta->i, ta->j, ta->b,
                              ta->n),
               -1;
    return 0;
}

/* Argument i: a b x b FLOAT64 tile, checked. */
static const double *tile_in(relay_ctx_t *ctx, size_t i, int b)
{
    relay_object_t obj;
    relay_dtype_t dtype;
    int ndims;
    uint64_t dims[RELAY_MAX_DIMS];
    if (relay_ctx_arg_object(ctx, i, &obj) != RELAY_OK ||
        relay_object_array(obj, &dtype, &ndims, dims) != RELAY_OK) {
        relay_ctx_fail(ctx, "argument %zu: %s", i, relay_last_error());
        return NULL;
    }
    if (dtype != RELAY_FLOAT64 || ndims != 2 || dims[0] != (uint64_t)b || dims[1] != (uint64_t)b) {
        relay_ctx_fail(ctx, "argument %zu is not a %d x %d float64 tile", i, b, b);
        return NULL;
    }
    return relay_object_data(obj);
}

/* The task's return tile, written in place (no copy on return), or NULL
 * (the task failed). */
static double *tile_out(relay_ctx_t *ctx, int b)
{
    uint64_t dims[2] = {(uint64_t)b, (uint64_t)b};
    void *p;
    if (relay_ctx_return_array_buffer(ctx, 0, RELAY_FLOAT64, 2, dims, &p) != RELAY_OK) {
        relay_ctx_fail(ctx, "return tile: %s", relay_last_error());
        return NULL;
    }
    return p;
}

/* The return tile, starting as a copy of argument i: the tile to update. */
static double *tile_copy(relay_ctx_t *ctx, size_t i, int b)
{
    const double *in = tile_in(ctx, i, b);
    double *t = in ? tile_out(ctx, b) : NULL;
    if (t) memcpy(t, in, (size_t)b * (size_t)b * sizeof *t);
    return t;
}

/* The GPU kernels, where built (NULL otherwise). */
#ifdef RELAY_CHOLESKY_GPU
#define GPU_FN(f) f
#else
#define GPU_FN(f) NULL
#endif

/* Whether a GPU task may run its kernel: it was built, and relay gave the
 * task a GPU (the kernel would run on whatever device is current). */
static int gpu_ready(relay_ctx_t *ctx, int built)
{
    size_t ngpus = 0;
    if (!built)
        relay_ctx_fail(ctx, "relay-cholesky was built without its GPU kernels");
    else if (relay_ctx_gpu_ids(ctx, NULL, 0, &ngpus) != RELAY_OK || ngpus == 0)
        relay_ctx_fail(ctx, "a GPU tile task that holds no GPU");
    return built && ngpus > 0;
}

/* A GPU kernel's status: 0, or -1 with the task failed by its message. */
static int gpu_check(relay_ctx_t *ctx, int rc, const char *err)
{
    if (rc == 0) return 0;
    relay_ctx_fail(ctx, "%s", err);
    return -1;
}

/* (tile) -> tile (i, j) of the test matrix. */
static int task_gen(relay_ctx_t *ctx)
{
    chol_tile_arg_t ta;
    if (tile_arg(ctx, &ta)) return -1;
    double *t = tile_out(ctx, ta.b);
    if (!t) return -1;
    chol_tile_fill(t, ta.i, ta.j, ta.b, ta.n);
    return 0;
}

/* (tile, A_kk) -> L_kk. */
static int task_potrf(relay_ctx_t *ctx)
{
    chol_tile_arg_t ta;
    double *a;
    char err[256] = "";
    if (tile_arg(ctx, &ta) || !(a = tile_copy(ctx, 1, ta.b))) return -1;
    if (ta.gpu) {
        int (*gpu)(double *, int, char *, size_t) = GPU_FN(chol_gpu_potrf);
        return gpu_ready(ctx, gpu != NULL) ? gpu_check(ctx, gpu(a, ta.b, err, sizeof err), err)
                                           : -1;
    }
    int info = chol_potrf(a, ta.b);
    if (info == 0) return 0;
    relay_ctx_fail(ctx, "dpotrf of tile (%d, %d): info %d (%s)", ta.i, ta.j, info,
                   info > 0 ? "not positive definite" : "bad argument");
    return -1;
}

typedef void (*cpu_update_t)(const double *x, double *a, int b);
typedef int (*gpu_update_t)(const double *x, double *a, int b, char *err, size_t err_size);

/* (tile, X, A) -> A updated by X, on the CPU or the task's GPU. */
static int update_by(relay_ctx_t *ctx, cpu_update_t cpu, gpu_update_t gpu)
{
    chol_tile_arg_t ta;
    const double *x;
    double *a;
    char err[256] = "";
    if (tile_arg(ctx, &ta) || !(x = tile_in(ctx, 1, ta.b)) || !(a = tile_copy(ctx, 2, ta.b)))
        return -1;
    if (!ta.gpu) {
        cpu(x, a, ta.b);
        return 0;
    }
    return gpu_ready(ctx, gpu != NULL) ? gpu_check(ctx, gpu(x, a, ta.b, err, sizeof err), err) : -1;
}

/* (tile, L_kk, A_ik) -> L_ik. */
static int task_trsm(relay_ctx_t *ctx)
{
    return update_by(ctx, chol_trsm, GPU_FN(chol_gpu_trsm));
}

/* (tile, L_ik, A_ii) -> A_ii - L_ik L_ik^T. */
static int task_syrk(relay_ctx_t *ctx)
{
    return update_by(ctx, chol_syrk, GPU_FN(chol_gpu_syrk));
}

/* (tile, X, Y, C) -> C - X Y^T: the trailing update, and the residual's. */
static int task_gemm(relay_ctx_t *ctx)
{
    chol_tile_arg_t ta;
    const double *x, *y;
    double *c;
    char err[256] = "";
    if (tile_arg(ctx, &ta) || !(x = tile_in(ctx, 1, ta.b)) || !(y = tile_in(ctx, 2, ta.b)) ||
        !(c = tile_copy(ctx, 3, ta.b)))
        return -1;
    if (!ta.gpu) {
        chol_gemm(x, y, c, ta.b);
        return 0;
    }
    int (*gpu)(const double *, const double *, double *, int, char *, size_t) =
        GPU_FN(chol_gpu_gemm);
    return gpu_ready(ctx, gpu != NULL) ? gpu_check(ctx, gpu(x, y, c, ta.b, err, sizeof err), err)
                                       : -1;
}

/* (tile, R_ij) -> {||R_ij||^2, ||A_ij||^2}: the residual tile and the
 * matrix's own tile, made again here rather than kept. */
static int task_norms(relay_ctx_t *ctx)
{
    chol_tile_arg_t ta;
    const double *r;
    if (tile_arg(ctx, &ta) || !(r = tile_in(ctx, 1, ta.b))) return -1;
    double *a = malloc((size_t)ta.b * (size_t)ta.b * sizeof *a);
    if (!a) return relay_ctx_fail(ctx, "out of memory for a %d x %d tile", ta.b, ta.b), -1;
    chol_tile_fill(a, ta.i, ta.j, ta.b, ta.n);
    double norms[2] = {chol_tile_norm2(r, ta.b), chol_tile_norm2(a, ta.b)};
    free(a);
    TASK_CHECK(ctx, relay_ctx_return(ctx, 0, norms, sizeof norms));
    return 0;
}

/* (tile, A) -> A with 1 added to its first element: --damage, to see the
 * check catch a wrong factor. */
static int task_damage(relay_ctx_t *ctx)
{
    chol_tile_arg_t ta;
    double *a;
    if (tile_arg(ctx, &ta) || !(a = tile_copy(ctx, 1, ta.b))) return -1;
    a[0] += 1.0;
    return 0;
}

/* (tile, T) -> T's trace: T exists (the driver's check, run where T is). */
static int task_probe(relay_ctx_t *ctx)
{
    chol_tile_arg_t ta;
    const double *t;
    if (tile_arg(ctx, &ta) || !(t = tile_in(ctx, 1, ta.b))) return -1;
    double trace = 0;
    for (int d = 0; d < ta.b; d++)
        trace += t[(size_t)d * (size_t)ta.b + (size_t)d];
    TASK_CHECK(ctx, relay_ctx_return(ctx, 0, &trace, sizeof trace));
    return 0;
}

int chol_gpu_built(void)
{
#ifdef RELAY_CHOLESKY_GPU
    return 1;
#else
    return 0;
#endif
}

int chol_register(void)
{
    static const struct {
        const char *name;
        relay_fn_t fn;
    } fns[] = {{"chol_gen", task_gen},     {"chol_potrf", task_potrf},  {"chol_trsm", task_trsm},
               {"chol_syrk", task_syrk},   {"chol_gemm", task_gemm},    {"chol_norms", task_norms},
               {"chol_probe", task_probe}, {"chol_damage", task_damage}};
    for (size_t k = 0; k < sizeof fns / sizeof fns[0]; k++) {
        int rc = relay_register(fns[k].name, fns[k].fn);
        if (rc != RELAY_OK) return rc;
    }
    return RELAY_OK;
}
