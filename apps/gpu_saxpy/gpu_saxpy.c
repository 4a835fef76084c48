/*
 * relay-gpu-saxpy: a GPU task that blocks in get keeps its device.
 *
 * The task (1 CPU, 1 GPU) checks that its assigned GPU is the current
 * device, fills device memory and runs y = 2x + y there, then blocks in
 * get on a CPU task (its CPU goes back to the rank meanwhile). When get
 * returns it checks the device is still current and its device memory
 * still holds the result, runs y = a x + y with the a it got, and checks
 * every element on the host.
 *
 * Needs a CUDA device: without one it says so and exits 77 (CTest's skip
 * code). Run with e.g. `mpirun -np 2 relay-gpu-saxpy [-n elements]`.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "app.h"
#include "relay.h"

cudaError_t saxpy_launch(int n, float a, const float *x, float *y);

#define SKIP 77

/* What the task found. */
typedef struct outcome {
    int rank, gpu, current_before, current_after;
    int bad; /* elements off after both kernels */
    char cuda_error[160];
} outcome_t;

/* The CPU task: the factor for the second kernel. */
static int factor(relay_ctx_t *ctx)
{
    struct timespec ts = {0, 50 * 1000 * 1000}; /* long enough to be blocked on */
    nanosleep(&ts, NULL);
    float a = 3.0f;
    TASK_CHECK(ctx, relay_ctx_return(ctx, 0, &a, sizeof a));
    return 0;
}

#define CUDA_CHECK(out, call)                                                                      \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess && !(out)->cuda_error[0])                                            \
            snprintf((out)->cuda_error, sizeof(out)->cuda_error, "%s: %s", #call,                  \
                     cudaGetErrorString(e_));                                                      \
    } while (0)

static int saxpy_task(relay_ctx_t *ctx)
{
    const void *arg;
    size_t size, ngpu = 0;
    int n = 0;
    TASK_CHECK(ctx, relay_ctx_arg(ctx, 0, &arg, &size));
    if (size == sizeof n) memcpy(&n, arg, sizeof n);
    outcome_t out;
    memset(&out, 0, sizeof out);
    TASK_CHECK(ctx, relay_ctx_rank(ctx, &out.rank));
    TASK_CHECK(ctx, relay_ctx_gpu_ids(ctx, &out.gpu, 1, &ngpu));
    if (ngpu != 1 || n <= 0) {
        relay_ctx_fail(ctx, "bad setup: %zu GPUs, n = %d", ngpu, n);
        return 1;
    }
    CUDA_CHECK(&out, cudaGetDevice(&out.current_before));

    float *hx = malloc((size_t)n * sizeof *hx), *hy = malloc((size_t)n * sizeof *hy);
    float *dx = NULL, *dy = NULL;
    if (!hx || !hy) {
        free(hx);
        free(hy);
        relay_ctx_fail(ctx, "out of memory for %d elements", n);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        hx[i] = (float)(i % 1024);
        hy[i] = 1.0f;
    }
    CUDA_CHECK(&out, cudaMalloc((void **)&dx, (size_t)n * sizeof *dx));
    CUDA_CHECK(&out, cudaMalloc((void **)&dy, (size_t)n * sizeof *dy));
    CUDA_CHECK(&out, cudaMemcpy(dx, hx, (size_t)n * sizeof *hx, cudaMemcpyHostToDevice));
    CUDA_CHECK(&out, cudaMemcpy(dy, hy, (size_t)n * sizeof *hy, cudaMemcpyHostToDevice));
    CUDA_CHECK(&out, saxpy_launch(n, 2.0f, dx, dy));

    /* Block on a CPU task: the CPU goes back to the rank, the GPU stays. */
    relay_ref_t r;
    float a = 0;
    int rc = relay_submit("factor", NULL, 0, NULL, &r);
    if (rc == RELAY_OK) {
        rc = relay_get_value(r, &a, sizeof a, RELAY_FOREVER);
        relay_release(r);
    }

    CUDA_CHECK(&out, cudaGetDevice(&out.current_after));
    if (rc == RELAY_OK) CUDA_CHECK(&out, saxpy_launch(n, a, dx, dy));
    CUDA_CHECK(&out, cudaMemcpy(hy, dy, (size_t)n * sizeof *hy, cudaMemcpyDeviceToHost));
    for (int i = 0; i < n; i++)
        out.bad += hy[i] != 1.0f + (2.0f + a) * hx[i];
    cudaFree(dx);
    cudaFree(dy);
    free(hx);
    free(hy);
    TASK_CHECK(ctx, rc);
    TASK_CHECK(ctx, relay_ctx_return(ctx, 0, &out, sizeof out));
    return 0;
}

int main(int argc, char **argv)
{
    int n = 1 << 20, devices = 0;
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "-n")) n = atoi(argv[i + 1]);
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        printf("relay-gpu-saxpy: no CUDA device visible; skipping\n");
        return SKIP;
    }
    int rc;
    if ((rc = relay_register("saxpy", saxpy_task)) || (rc = relay_register("factor", factor)) ||
        (rc = relay_init(&argc, &argv, NULL))) {
        fprintf(stderr, "relay-gpu-saxpy: %s (%s)\n", relay_strerror(rc), relay_last_error());
        return 1;
    }
    int rank, bad = 0;
    relay_rank(&rank);
    if (rank == 0) {
        relay_task_opts_t o;
        memset(&o, 0, sizeof o);
        o.field_mask = RELAY_TASK_OPT_NUM_GPUS;
        o.num_gpus = 1;
        relay_arg_t arg = relay_arg_value(&n, sizeof n);
        relay_ref_t ref;
        outcome_t out;
        rc = relay_submit("saxpy", &arg, 1, &o, &ref);
        if (rc == RELAY_OK) rc = relay_get_value(ref, &out, sizeof out, RELAY_FOREVER);
        if (rc != RELAY_OK) {
            fprintf(stderr, "relay-gpu-saxpy: %s (%s)\n", relay_strerror(rc), relay_last_error());
            bad = 1;
        } else {
            relay_release(ref);
            printf("saxpy on rank %d, GPU %d: current device %d before get, %d after; %d of %d "
                   "elements wrong%s%s\n",
                   out.rank, out.gpu, out.current_before, out.current_after, out.bad, n,
                   out.cuda_error[0] ? "; CUDA: " : "", out.cuda_error);
            bad = out.bad || out.cuda_error[0] || out.current_before != out.gpu ||
                  out.current_after != out.gpu;
        }
    }
    relay_finalize();
    return bad;
}
