/*
 * relay-circular: the seed's "circular dependencies" example.
 *
 *   g (1 CPU, 1 GPU) calls get(f()): while it is blocked its CPU goes back
 *   to its rank, so f can run there, but it keeps its GPU.
 *
 * Run with `mpirun -np 2 relay-circular`: one worker rank with 1 CPU and 1
 * GPU (the program asks for that layout; without a real device the GPU is
 * a virtual one, scheduled the same way). f reports what it sees of its
 * rank while g waits; the driver prints it and checks it.
 *
 * Then what Ray hangs on: g2 (1 GPU) waits for another 1-GPU task while
 * the job has one GPU. relay reports the deadlock as an error instead.
 * Exits non-zero when a result is not what the seed describes.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "relay.h"

/* What f saw while g was blocked. */
typedef struct sighting {
    int rank;
    double cpus, cpus_free, gpus_free;
    int gpus;
    uint64_t blocked;
} sighting_t;

/* What g reports: where it ran, its GPU, and f's sighting. */
typedef struct report {
    int rank, gpu, gpu_after;
    sighting_t f;
} report_t;

static int f(relay_ctx_t *ctx)
{
    sighting_t s = {0};
    relay_resources_t res;
    relay_stats_t st;
    TASK_CHECK(ctx, relay_ctx_rank(ctx, &s.rank));
    TASK_CHECK(ctx, relay_local_resources(&res));
    TASK_CHECK(ctx, relay_stats(&st));
    s.cpus = res.cpus;
    s.cpus_free = res.cpus_free;
    s.gpus = res.gpus;
    s.gpus_free = res.gpus_free;
    s.blocked = st.tasks_blocked;
    TASK_CHECK(ctx, relay_ctx_return(ctx, 0, &s, sizeof s));
    return 0;
}

static int first_gpu(relay_ctx_t *ctx, int *id_p)
{
    size_t n = 0;
    int rc = relay_ctx_gpu_ids(ctx, id_p, 1, &n);
    if (rc == RELAY_OK && n == 0) rc = RELAY_ERR_INTERNAL;
    return rc;
}

/* g: return get(f()). */
static int g(relay_ctx_t *ctx)
{
    report_t r = {0};
    relay_ref_t fr;
    TASK_CHECK(ctx, relay_ctx_rank(ctx, &r.rank));
    TASK_CHECK(ctx, first_gpu(ctx, &r.gpu));
    TASK_CHECK(ctx, relay_submit("f", NULL, 0, NULL, &fr));
    TASK_CHECK(ctx, relay_get_value(fr, &r.f, sizeof r.f, RELAY_FOREVER));
    TASK_CHECK(ctx, relay_release(fr));
    TASK_CHECK(ctx, first_gpu(ctx, &r.gpu_after));
    TASK_CHECK(ctx, relay_ctx_return(ctx, 0, &r, sizeof r));
    return 0;
}

static relay_task_opts_t gpu_task(void)
{
    relay_task_opts_t o;
    memset(&o, 0, sizeof o);
    o.field_mask = RELAY_TASK_OPT_NUM_CPUS | RELAY_TASK_OPT_NUM_GPUS;
    o.num_cpus = 1;
    o.num_gpus = 1;
    return o;
}

/* g2: a GPU task that waits for another GPU task; returns the status. */
static int g2(relay_ctx_t *ctx)
{
    relay_task_opts_t o = gpu_task();
    relay_ref_t r;
    TASK_CHECK(ctx, relay_submit("f", NULL, 0, &o, &r));
    relay_object_t obj = NULL;
    int st = relay_get(r, RELAY_FOREVER, &obj);
    char msg[600] = "";
    if (obj && relay_object_error(obj)) snprintf(msg, sizeof msg, "%s", relay_object_error(obj));
    if (obj) relay_object_free(obj);
    TASK_CHECK(ctx, relay_release(r));
    TASK_CHECK(ctx, relay_ctx_return(ctx, 0, &st, sizeof st));
    TASK_CHECK(ctx, relay_ctx_return(ctx, 1, msg, strlen(msg) + 1));
    return 0;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "relay-circular: %s: %s (%s)\n", what, relay_strerror(rc), relay_last_error());
    return 1;
}

static int run_g(void)
{
    relay_task_opts_t o = gpu_task();
    relay_ref_t ref;
    report_t r;
    int rc = relay_submit("g", NULL, 0, &o, &ref);
    if (rc == RELAY_OK) rc = relay_get_value(ref, &r, sizeof r, RELAY_FOREVER);
    if (rc != RELAY_OK) return fail("get(g())", rc);
    relay_release(ref);
    printf("g (1 CPU, 1 GPU) ran on rank %d with GPU %d and called get(f())\n", r.rank, r.gpu);
    printf("while g was blocked, f ran on rank %d: CPUs free %g of %g, GPUs free %g of %d, "
           "tasks blocked %llu\n",
           r.f.rank, r.f.cpus_free, r.f.cpus, r.f.gpus_free, r.f.gpus,
           (unsigned long long)r.f.blocked);
    int bad = r.gpu != r.gpu_after;
    if (r.f.rank == r.rank) {
        /* f used the CPU g gave back; g's GPU stayed taken. */
        printf("  -> g released its CPU (f is running on it) and kept GPU %d\n", r.gpu);
        bad |= r.f.blocked < 1 || r.f.gpus_free > r.f.gpus - 1;
        bad |= r.f.cpus == 1 && r.f.cpus_free != 0;
    }
    printf("get(g()) returned; g still had GPU %d after its get\n", r.gpu_after);
    if (bad) fprintf(stderr, "relay-circular: g's resources were not held as the seed says\n");
    return bad;
}

static int run_g2(void)
{
    double gpus = 0;
    relay_resource_capacity(-1, "GPU", &gpus);
    relay_task_opts_t o = gpu_task();
    o.field_mask |= RELAY_TASK_OPT_NUM_RETURNS;
    o.num_returns = 2;
    relay_ref_t refs[2];
    int st = -1;
    int rc = relay_submit("g2", NULL, 0, &o, refs);
    if (rc == RELAY_OK) rc = relay_get_value(refs[0], &st, sizeof st, RELAY_FOREVER);
    if (rc != RELAY_OK) return fail("get(g2())", rc);
    relay_object_t msg;
    if ((rc = relay_get(refs[1], RELAY_FOREVER, &msg)) != RELAY_OK) return fail("get(msg)", rc);
    printf("g2 (1 GPU) waited for another 1-GPU task with %g GPU(s) in the job: %s\n", gpus,
           relay_status_name(st));
    if (st != RELAY_OK) printf("  %s\n", (const char *)relay_object_data(msg));
    relay_object_free(msg);
    relay_release_many(refs, 2);
    int want = gpus < 2 ? RELAY_ERR_DEADLOCK : RELAY_OK;
    if (st != want) fprintf(stderr, "relay-circular: expected %s\n", relay_status_name(want));
    return st != want;
}

int main(int argc, char **argv)
{
    int rc;
    if ((rc = relay_register("f", f)) || (rc = relay_register("g", g)) ||
        (rc = relay_register("g2", g2)))
        return fail("relay_register", rc);
    /* The seed's layout: 1 CPU and 1 GPU per worker rank (RELAY_NUM_CPUS
     * and RELAY_NUM_GPUS still override it). */
    relay_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.field_mask = RELAY_CONFIG_NUM_CPUS | RELAY_CONFIG_NUM_GPUS;
    cfg.num_cpus = 1;
    cfg.num_gpus = 1;
    if ((rc = relay_init(&argc, &argv, &cfg))) return fail("relay_init", rc);
    int rank, bad = 0;
    relay_rank(&rank);
    if (rank == 0) bad = run_g() | run_g2();
    relay_finalize();
    return bad;
}
