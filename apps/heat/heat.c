/*
 * relay-heat: a 1-D heat equation (explicit Jacobi steps) on tile actors.
 *
 * The rod [0, 1] is cut into -t tiles of -n points; each tile is an actor
 * that keeps its points between steps. Every step the driver asks each
 * tile for its two edge values (a call with two returns) and then tells
 * each tile to step, passing its neighbours' edge refs as arguments: the
 * halos go from tile to tile through the object store, never through the
 * driver, and each tile's calls run in the order the driver made them.
 * The ends of the rod are held at 1 (left) and 0 (right).
 *
 * At the end the tiles' points are compared with the same computation done
 * serially on the driver; the two must agree to round-off (they do the
 * same operations in the same order, so they agree exactly).
 *
 *   mpirun -np 3 relay-heat [-t tiles] [-n points per tile] [-s steps]
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "relay.h"

#define ALPHA 0.25 /* dt * k / dx^2: stable below 0.5 */
#define LEFT_T 1.0
#define RIGHT_T 0.0

typedef struct tile {
    int n;
    double *u, *next;
} tile_t;

/* One Jacobi step of u[0..n) with ghost values left and right. */
static void jacobi(const double *u, double *next, int n, double left, double right)
{
    for (int i = 0; i < n; i++) {
        double l = i ? u[i - 1] : left, r = i + 1 < n ? u[i + 1] : right;
        next[i] = u[i] + ALPHA * (l - 2 * u[i] + r);
    }
}

/* ---- the tile actor ------------------------------------------------------ */

static int tile_init(relay_ctx_t *ctx, void **state_p)
{
    const void *p;
    size_t size;
    int n = 0;
    TASK_CHECK(ctx, relay_ctx_arg(ctx, 0, &p, &size));
    if (size == sizeof n) memcpy(&n, p, sizeof n);
    tile_t *t = calloc(1, sizeof *t);
    if (!t || n <= 0 || !(t->u = calloc((size_t)n, sizeof *t->u)) ||
        !(t->next = calloc((size_t)n, sizeof *t->next))) {
        if (t) free(t->u);
        free(t);
        relay_ctx_fail(ctx, "cannot make a tile of %d points", n);
        return 1;
    }
    t->n = n;
    *state_p = t;
    return 0;
}

static void tile_fini(void *state)
{
    tile_t *t = state;
    if (!t) return;
    free(t->u);
    free(t->next);
    free(t);
}

/* -> its first and its last value. */
static int tile_edges(relay_ctx_t *ctx, void *state)
{
    tile_t *t = state;
    TASK_CHECK(ctx, relay_ctx_return(ctx, 0, &t->u[0], sizeof(double)));
    TASK_CHECK(ctx, relay_ctx_return(ctx, 1, &t->u[t->n - 1], sizeof(double)));
    return 0;
}

static int get_double(relay_ctx_t *ctx, size_t i, double *v)
{
    const void *p;
    size_t size;
    int rc = relay_ctx_arg(ctx, i, &p, &size);
    if (rc == RELAY_OK && size != sizeof *v) rc = RELAY_ERR_SIZE_MISMATCH;
    if (rc == RELAY_OK) memcpy(v, p, sizeof *v);
    return rc;
}

/* (left ghost, right ghost): one step. */
static int tile_step(relay_ctx_t *ctx, void *state)
{
    tile_t *t = state;
    double left, right;
    TASK_CHECK(ctx, get_double(ctx, 0, &left));
    TASK_CHECK(ctx, get_double(ctx, 1, &right));
    jacobi(t->u, t->next, t->n, left, right);
    double *swap = t->u;
    t->u = t->next;
    t->next = swap;
    return relay_ctx_return(ctx, 0, NULL, 0); /* done: an empty object */
}

/* -> all its points. */
static int tile_data(relay_ctx_t *ctx, void *state)
{
    tile_t *t = state;
    TASK_CHECK(ctx, relay_ctx_return(ctx, 0, t->u, (size_t)t->n * sizeof *t->u));
    return 0;
}

static const relay_method_t tile_methods[] = {
    {"edges", tile_edges, 0},
    {"step", tile_step, 2},
    {"data", tile_data, 0},
};

/* ---- the driver ------------------------------------------------------------- */

static int fail(const char *what, int rc)
{
    fprintf(stderr, "relay-heat: %s: %s (%s)\n", what, relay_strerror(rc), relay_last_error());
    return 1;
}

#define CHECK(what, call)                                                                          \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != RELAY_OK) return fail(what, rc_);                                               \
    } while (0)

/* One step of every tile: edges first, then steps fed by the neighbours'. */
static int one_step(const relay_actor_t *tiles, int ntiles, relay_ref_t *edges,
                    const relay_ref_t *ends)
{
    relay_task_opts_t two = {.field_mask = RELAY_TASK_OPT_NUM_RETURNS, .num_returns = 2};
    for (int k = 0; k < ntiles; k++)
        CHECK("edges", relay_actor_call(tiles[k], "edges", NULL, 0, &two, &edges[2 * k]));
    for (int k = 0; k < ntiles; k++) {
        relay_arg_t ghosts[2] = {relay_arg_ref(k ? edges[2 * k - 1] : ends[0]),
                                 relay_arg_ref(k + 1 < ntiles ? edges[2 * k + 2] : ends[1])};
        relay_ref_t done;
        CHECK("step", relay_actor_call(tiles[k], "step", ghosts, 2, NULL, &done));
        CHECK("release", relay_release(done)); /* the tile's next call waits for it anyway */
    }
    /* The steps hold their arguments; the driver's holds can go. */
    CHECK("release", relay_release_many(edges, (size_t)ntiles * 2));
    return 0;
}

/* The same steps serially; returns the largest difference from got. */
static double serial_diff(const double *got, int ntiles, int n, int steps)
{
    size_t total = (size_t)ntiles * (size_t)n;
    double *u = calloc(total, sizeof *u), *next = calloc(total, sizeof *next), worst = 0;
    if (!u || !next) {
        free(u);
        free(next);
        return INFINITY;
    }
    /* Tile by tile, with the ghosts the tiles saw: the same operations. */
    for (int s = 0; s < steps; s++) {
        for (int k = 0; k < ntiles; k++) {
            double left = k ? u[(size_t)k * n - 1] : LEFT_T;
            double right = k + 1 < ntiles ? u[(size_t)(k + 1) * n] : RIGHT_T;
            jacobi(u + (size_t)k * n, next + (size_t)k * n, n, left, right);
        }
        double *swap = u;
        u = next;
        next = swap;
    }
    for (size_t i = 0; i < total; i++)
        worst = fmax(worst, fabs(u[i] - got[i]));
    free(u);
    free(next);
    return worst;
}

static int drive(int ntiles, int n, int steps)
{
    double total_cpus = 0;
    CHECK("capacity", relay_resource_capacity(-1, "CPU", &total_cpus));
    /* Each tile holds an equal share of the job's CPUs, at most one. */
    double share = floor(fmin(1.0, total_cpus / ntiles) * 10000) / 10000;
    relay_actor_opts_t o = {.field_mask = RELAY_ACTOR_OPT_NUM_CPUS, .num_cpus = share};
    relay_actor_t *tiles = calloc((size_t)ntiles, sizeof *tiles);
    relay_ref_t *edges = calloc((size_t)ntiles * 2, sizeof *edges), ends[2];
    double *all = malloc((size_t)ntiles * (size_t)n * sizeof *all);
    if (!tiles || !edges || !all) return fail("setup", RELAY_ERR_NO_MEMORY);
    double lt = LEFT_T, rt = RIGHT_T;
    CHECK("put", relay_put(&lt, sizeof lt, &ends[0]));
    CHECK("put", relay_put(&rt, sizeof rt, &ends[1]));
    relay_arg_t np = relay_arg_value(&n, sizeof n);
    for (int k = 0; k < ntiles; k++)
        CHECK("create", relay_actor_create("tile", &np, 1, &o, &tiles[k]));
    double t0 = app_now();
    for (int s = 0; s < steps; s++)
        if (one_step(tiles, ntiles, edges, ends)) return 1;
    relay_ref_t *data = edges; /* reuse: one ref per tile */
    for (int k = 0; k < ntiles; k++)
        CHECK("data", relay_actor_call(tiles[k], "data", NULL, 0, NULL, &data[k]));
    for (int k = 0; k < ntiles; k++)
        CHECK("get", relay_get_value(data[k], all + (size_t)k * n, (size_t)n * sizeof *all,
                                     RELAY_FOREVER));
    double seconds = app_now() - t0;
    double diff = serial_diff(all, ntiles, n, steps);
    printf("relay-heat: %d tiles x %d points, %d steps in %.3f s (%.1f us per tile-step, "
           "%.4g CPU per tile); u(0.5) = %.6f; max |tiles - serial| = %.3g\n",
           ntiles, n, steps, seconds, seconds / ((double)steps * ntiles) * 1e6, share,
           all[(size_t)ntiles * n / 2], diff);
    CHECK("release", relay_release_many(data, (size_t)ntiles));
    CHECK("release", relay_release_many(ends, 2));
    for (int k = 0; k < ntiles; k++)
        CHECK("kill", relay_actor_kill(tiles[k]));
    free(tiles);
    free(edges);
    free(all);
    if (!(diff <= 1e-12)) {
        fprintf(stderr, "relay-heat: the tiles disagree with the serial computation\n");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int ntiles = 4, n = 1000, steps = 500;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-t")) ntiles = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "-n")) n = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "-s")) steps = atoi(argv[i + 1]);
    }
    if (ntiles < 1 || n < 1 || steps < 0) {
        fprintf(stderr, "usage: relay-heat [-t tiles] [-n points per tile] [-s steps]\n");
        return 2;
    }
    relay_actor_class_t tile = {tile_init, 1, tile_fini, tile_methods, 3};
    int rc = relay_register_actor("tile", &tile);
    if (rc || (rc = relay_init(&argc, &argv, NULL))) return fail("init", rc);
    int rank, bad = 0;
    relay_rank(&rank);
    if (rank == 0) bad = drive(ntiles, n, steps);
    relay_finalize();
    return bad;
}
