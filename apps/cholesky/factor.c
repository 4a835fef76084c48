/* The driver: the task graph of the right-looking tiled factorization,
 * and of its check. Only refs pass through here; the tiles stay on the
 * worker ranks, made there by tasks and moved from rank to rank. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "app.h"
#include "cholesky.h"

typedef struct graph {
    const chol_opts_t *o;
    int t;            /* tiles per side */
    relay_ref_t *ref; /* current version of lower tile (i, j): ref[i * t + j] */
    uint64_t tasks;   /* submitted */
    /* Owners: the worker ranks as a p x q grid; tile (i, j) belongs to
     * rank worker[(i % p) * q + j % q]. */
    int p, q, nworkers, *worker;
} graph_t;

void chol_rank_resource(int rank, char *name, size_t size)
{
    snprintf(name, size, "chol_rank_%d", rank);
}

/* The ranks that run tasks, as the most nearly square grid. */
static int make_grid(graph_t *g)
{
    int size;
    relay_size(&size);
    g->worker = calloc((size_t)size, sizeof *g->worker);
    if (!g->worker) return RELAY_ERR_NO_MEMORY;
    g->nworkers = 0;
    for (int r = 0; r < size; r++) {
        double cpus = 0;
        relay_resource_capacity(r, "CPU", &cpus);
        if (cpus > 0) g->worker[g->nworkers++] = r;
    }
    g->p = 1;
    for (int p = 1; p * p <= g->nworkers; p++)
        if (g->nworkers % p == 0) g->p = p;
    g->q = g->nworkers / g->p;
    return RELAY_OK;
}

static relay_ref_t *at(graph_t *g, int i, int j)
{
    return &g->ref[(size_t)i * (size_t)g->t + (size_t)j];
}

static void report(const char *what, int rc)
{
    fprintf(stderr, "relay-cholesky: %s: %s (%s)\n", what, relay_strerror(rc), relay_last_error());
}

/* Submit fn on tile (i, j) with nin tile refs; *out gets its tile. The
 * name, e.g. "gemm(5,3)/2", says which tile and step an error is about. */
static int submit(graph_t *g, const char *fn, int i, int j, int k, const relay_ref_t *in, int nin,
                  relay_ref_t *out)
{
    /* Only the four kernels run on a GPU: making and checking tiles need none. */
    int gpu =
        g->o->gpu && strcmp(fn, "chol_gen") && strcmp(fn, "chol_probe") && strcmp(fn, "chol_norms");
    chol_tile_arg_t ta = {i, j, k, g->o->b, g->o->n, gpu};
    relay_arg_t args[4] = {relay_arg_value(&ta, sizeof ta)};
    for (int a = 0; a < nin; a++)
        args[a + 1] = relay_arg_ref(in[a]);
    char name[64];
    snprintf(name, sizeof name, "%s(%d,%d)/%d", fn + 5, i, j, k);
    relay_task_opts_t opts = {.field_mask = RELAY_TASK_OPT_NAME, .name = name};
    relay_resource_t owner = {NULL, 0.0001};
    char owner_name[32];
    if (g->o->owners && g->nworkers > 0) {
        chol_rank_resource(g->worker[(i % g->p) * g->q + j % g->q], owner_name, sizeof owner_name);
        owner.name = owner_name;
        opts.field_mask |= RELAY_TASK_OPT_RESOURCES;
        opts.resources = &owner;
        opts.num_resources = 1;
    }
    if (gpu) {
        opts.field_mask |= RELAY_TASK_OPT_NUM_GPUS;
        opts.num_gpus = 1;
    }
    int rc = relay_submit(fn, args, (size_t)nin + 1, &opts, out);
    if (rc != RELAY_OK) report(name, rc);
    g->tasks++;
    return rc;
}

/* Replace tile (i, j) by fn's result on it; the old version is released
 * here and lives on while the task needs it. */
static int update(graph_t *g, const char *fn, int i, int j, int k, relay_ref_t x, relay_ref_t y)
{
    relay_ref_t in[3], out;
    int nin = 0;
    if (x.id) in[nin++] = x;
    if (y.id) in[nin++] = y;
    in[nin++] = *at(g, i, j);
    int rc = submit(g, fn, i, j, k, in, nin, &out);
    if (rc != RELAY_OK) return rc;
    relay_release(*at(g, i, j));
    *at(g, i, j) = out;
    return RELAY_OK;
}

static relay_ref_t none(void)
{
    relay_ref_t r = RELAY_REF_NULL;
    return r;
}

/* Every lower tile made by a task on the workers. */
static int generate(graph_t *g)
{
    for (int i = 0; i < g->t; i++)
        for (int j = 0; j <= i; j++) {
            int rc = submit(g, "chol_gen", i, j, 0, NULL, 0, at(g, i, j));
            if (rc != RELAY_OK) return rc;
        }
    return RELAY_OK;
}

/* Step k: factor the diagonal tile, solve the panel below it, update the
 * trailing matrix column by column, so that the tiles of step k + 1's
 * panel are the first to be ready. */
static int step(graph_t *g, int k)
{
    int rc = update(g, "chol_potrf", k, k, k, none(), none());
    for (int i = k + 1; i < g->t && rc == RELAY_OK; i++)
        rc = update(g, "chol_trsm", i, k, k, *at(g, k, k), none());
    for (int j = k + 1; j < g->t && rc == RELAY_OK; j++) {
        rc = update(g, "chol_syrk", j, j, k, *at(g, j, k), none());
        for (int i = j + 1; i < g->t && rc == RELAY_OK; i++)
            rc = update(g, "chol_gemm", i, j, k, *at(g, i, k), *at(g, j, k));
    }
    return rc;
}

/* Wait until every current tile is made (or failed). */
static int wait_all(graph_t *g)
{
    size_t n = (size_t)g->t * (size_t)(g->t + 1) / 2, m = 0;
    relay_ref_t *refs = malloc(n * sizeof *refs);
    if (!refs) return RELAY_ERR_NO_MEMORY;
    for (int i = 0; i < g->t; i++)
        for (int j = 0; j <= i; j++)
            refs[m++] = *at(g, i, j);
    int rc = relay_wait(refs, n, n, RELAY_FOREVER, NULL, NULL);
    if (rc != RELAY_OK) report("wait for the tiles", rc);
    free(refs);
    return rc;
}

/* fn on every current tile of g, all submitted at once and placed where
 * the tiles are (so no tile comes to this rank), each returning size
 * bytes: into out, tile after tile in (i, j <= i) order. A failed task's
 * error, or that of the tile it took, comes back here. */
static int per_tile(graph_t *g, const char *fn, void *out, size_t size)
{
    size_t n = (size_t)g->t * (size_t)(g->t + 1) / 2, m = 0;
    relay_ref_t *refs = calloc(n, sizeof *refs);
    relay_object_t *objs = calloc(n, sizeof *objs);
    int rc = refs && objs ? RELAY_OK : RELAY_ERR_NO_MEMORY;
    for (int i = 0; i < g->t && rc == RELAY_OK; i++)
        for (int j = 0; j <= i && rc == RELAY_OK; j++)
            if ((rc = submit(g, fn, i, j, 0, at(g, i, j), 1, &refs[m])) == RELAY_OK) m++;
    if (rc == RELAY_OK && (rc = relay_get_many(refs, m, RELAY_FOREVER, objs)) != RELAY_OK)
        report(fn, rc);
    for (size_t q = 0; q < m; q++) {
        if (!objs[q]) continue;
        if (rc == RELAY_OK && relay_object_size(objs[q]) != size) {
            rc = RELAY_ERR_SIZE_MISMATCH;
            report(fn, rc);
        }
        if (rc == RELAY_OK) memcpy((char *)out + q * size, relay_object_data(objs[q]), size);
        relay_object_free(objs[q]);
    }
    if (m) relay_release_many(refs, m);
    free(refs);
    free(objs);
    return rc;
}

/* Whether every current tile was made: a probe task per tile. */
static int verify(graph_t *g)
{
    double *traces = calloc((size_t)g->t * (size_t)(g->t + 1) / 2, sizeof *traces);
    int rc = traces ? per_tile(g, "chol_probe", traces, sizeof *traces) : RELAY_ERR_NO_MEMORY;
    free(traces);
    return rc;
}

/* ||A - L L^T||_F / ||A||_F with tasks: R_ij = A_ij - sum_k L_ik L_jk^T
 * for each lower tile, then each tile's two norms. Off-diagonal tiles
 * count twice (the upper triangle's mirror). */
static int residual(graph_t *g, double *res_p)
{
    graph_t r = *g;
    size_t n = (size_t)g->t * (size_t)g->t;
    r.ref = calloc(n, sizeof *r.ref);
    double(*norms)[2] = calloc(n, sizeof *norms);
    int rc = r.ref && norms ? generate(&r) : RELAY_ERR_NO_MEMORY;
    for (int i = 0; i < g->t && rc == RELAY_OK; i++)
        for (int j = 0; j <= i && rc == RELAY_OK; j++)
            for (int k = 0; k <= j && rc == RELAY_OK; k++)
                rc = update(&r, "chol_gemm", i, j, k, *at(g, i, k), *at(g, j, k));
    if (rc == RELAY_OK) rc = per_tile(&r, "chol_norms", norms, sizeof *norms);
    double sum[2] = {0, 0};
    size_t q = 0;
    for (int i = 0; i < g->t && rc == RELAY_OK; i++)
        for (int j = 0; j <= i; j++, q++) {
            sum[0] += (i == j ? 1 : 2) * norms[q][0];
            sum[1] += (i == j ? 1 : 2) * norms[q][1];
        }
    for (size_t x = 0; r.ref && x < n; x++)
        if (r.ref[x].id) relay_release(r.ref[x]);
    free(r.ref);
    free(norms);
    *res_p = sqrt(sum[0] / sum[1]);
    return rc;
}

/* ---- statistics summed over every rank ---------------------------------- */

/* All ranks meet here (rank 0 when it gets there, the others at once,
 * waiting without spinning), then rank 0 gets the sum of every rank's
 * relay_stats. */
static void stats_sum(relay_stats_t *sum)
{
    MPI_Request req;
    MPI_Ibarrier(MPI_COMM_WORLD, &req);
    app_quiet_wait(&req);
    relay_stats_t mine, all;
    relay_stats(&mine);
    /* Every field is a uint64_t counter: summed as an array of them. */
    MPI_Ireduce(&mine, &all, (int)(sizeof mine / sizeof(uint64_t)), MPI_UINT64_T, MPI_SUM, 0,
                MPI_COMM_WORLD, &req);
    app_quiet_wait(&req);
    if (sum) *sum = all;
}

int chol_run(const chol_opts_t *o, chol_result_t *res)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    memset(res, 0, sizeof *res);
    res->residual = -1;
    if (rank != 0) {
        stats_sum(NULL);
        stats_sum(NULL);
        return RELAY_OK;
    }
    graph_t g = {.o = o, .t = o->n / o->b};
    g.ref = calloc((size_t)g.t * (size_t)g.t, sizeof *g.ref);
    int rc = g.ref ? make_grid(&g) : RELAY_ERR_NO_MEMORY;
    double t0 = app_now();
    if (rc == RELAY_OK) rc = generate(&g);
    if (rc == RELAY_OK) rc = wait_all(&g);
    if (rc == RELAY_OK) rc = verify(&g);
    res->gen_s = app_now() - t0;
    stats_sum(&res->before);
    g.tasks = 0;
    t0 = app_now();
    for (int k = 0; k < g.t && rc == RELAY_OK; k++)
        rc = step(&g, k);
    if (rc == RELAY_OK) rc = wait_all(&g);
    res->factor_s = app_now() - t0;
    stats_sum(&res->after);
    res->tasks = g.tasks;
    res->gflops = (double)o->n * o->n * o->n / 3.0 / res->factor_s * 1e-9;
    if (rc == RELAY_OK) rc = verify(&g);
    if (rc == RELAY_OK && o->damage) rc = update(&g, "chol_damage", g.t - 1, 0, 0, none(), none());
    if (rc == RELAY_OK && o->residual) rc = residual(&g, &res->residual);
    for (size_t q = 0; g.ref && q < (size_t)g.t * (size_t)g.t; q++)
        if (g.ref[q].id) relay_release(g.ref[q]);
    free(g.ref);
    free(g.worker);
    return rc;
}
