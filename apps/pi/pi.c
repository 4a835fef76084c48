/*
 * relay-pi: Monte Carlo estimate of pi with relay tasks.
 *
 * The driver submits N "pi_sample" tasks; task i draws M points in the unit
 * square from a counter-based generator (splitmix64 keyed by i, so the
 * result does not depend on where or in which order tasks run) and returns
 * how many fell inside the quarter circle. The hit counts are then summed by
 * a tree of "sum2" tasks, each taking two refs as arguments, until a single
 * ref remains: the driver never touches the partial sums.
 *
 * Usage: mpirun -np 3 relay-pi [-n tasks] [-m samples_per_task]
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "relay.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define DEFAULT_TASKS 64
#define DEFAULT_SAMPLES 1000000
#define MAX_ERROR 0.05

static void report(const char *what, int rc)
{
    fprintf(stderr, "relay-pi: %s: %s (%s)\n", what, relay_strerror(rc), relay_last_error());
}

static uint64_t splitmix64_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The k-th number of stream `key`: a pure function of (key, k). */
static uint64_t rng_at(uint64_t key, uint64_t k)
{
    return splitmix64_mix(key + (k + 1) * 0x9e3779b97f4a7c15ULL);
}

static double unit(uint64_t x)
{
    return (double)(x >> 11) * 0x1.0p-53;
}

/* Argument i of the task as a uint64. */
static int arg_u64(relay_ctx_t *ctx, size_t i, uint64_t *v_p)
{
    const void *data;
    size_t size;
    int rc = relay_ctx_arg(ctx, i, &data, &size);
    if (rc != RELAY_OK) return rc;
    if (size != sizeof *v_p) return RELAY_ERR_SIZE_MISMATCH;
    memcpy(v_p, data, sizeof *v_p);
    return RELAY_OK;
}

/* pi_sample(task_index, samples) -> hits */
static int pi_sample(relay_ctx_t *ctx)
{
    uint64_t index, samples, hits = 0;
    TASK_CHECK(ctx, arg_u64(ctx, 0, &index));
    TASK_CHECK(ctx, arg_u64(ctx, 1, &samples));
    uint64_t key = splitmix64_mix(index ^ 0x72656c6179ULL);
    for (uint64_t s = 0; s < samples; s++) {
        double x = unit(rng_at(key, 2 * s));
        double y = unit(rng_at(key, 2 * s + 1));
        hits += x * x + y * y < 1.0;
    }
    TASK_CHECK(ctx, relay_ctx_return(ctx, 0, &hits, sizeof hits));
    return 0;
}

/* sum2(ref a, ref b) -> a + b */
static int sum2(relay_ctx_t *ctx)
{
    uint64_t a, b;
    TASK_CHECK(ctx, arg_u64(ctx, 0, &a));
    TASK_CHECK(ctx, arg_u64(ctx, 1, &b));
    uint64_t s = a + b;
    TASK_CHECK(ctx, relay_ctx_return(ctx, 0, &s, sizeof s));
    return 0;
}

static int parse_u64(const char *s, uint64_t *v_p)
{
    char *end;
    if (s[0] == '-') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0' || v == 0) return -1;
    *v_p = v;
    return 0;
}

/* Submit the sampling tasks, reduce with sum2 tasks, return the total. */
static int estimate(uint64_t ntasks, uint64_t samples, uint64_t *hits_p, uint64_t *tasks_run_p)
{
    relay_ref_t *refs = malloc(ntasks * sizeof *refs);
    size_t live = 0;
    uint64_t run = 0;
    int rc = RELAY_OK;

    if (refs == NULL) {
        fprintf(stderr, "relay-pi: out of memory\n");
        return RELAY_ERR_NO_MEMORY;
    }
    for (uint64_t i = 0; i < ntasks; i++) {
        relay_arg_t args[2] = {relay_arg_value(&i, sizeof i),
                               relay_arg_value(&samples, sizeof samples)};
        if ((rc = relay_submit("pi_sample", args, 2, NULL, &refs[live])) != RELAY_OK) {
            report("submit pi_sample", rc);
            goto out;
        }
        live++;
        run++;
    }
    /* Tree reduction: each round halves the number of refs. The pending
     * sum2 task pins its arguments, so we can drop our holds right away. */
    while (live > 1) {
        size_t next = 0;
        for (size_t i = 0; i + 1 < live; i += 2) {
            relay_arg_t args[2] = {relay_arg_ref(refs[i]), relay_arg_ref(refs[i + 1])};
            relay_ref_t sum;
            if ((rc = relay_submit("sum2", args, 2, NULL, &sum)) != RELAY_OK) {
                report("submit sum2", rc);
                goto out;
            }
            run++;
            /* a and b leave the array (even if a release fails). */
            relay_ref_t a = refs[i], b = refs[i + 1];
            refs[next++] = sum;
            int rc1 = relay_release(a);
            int rc2 = relay_release(b);
            if (rc1 != RELAY_OK || rc2 != RELAY_OK) {
                rc = rc1 != RELAY_OK ? rc1 : rc2;
                report("release", rc);
                /* Compact what is still held before bailing out. */
                for (size_t j = i + 2; j < live; j++)
                    refs[next++] = refs[j];
                live = next;
                goto out;
            }
        }
        if (live % 2 == 1) refs[next++] = refs[live - 1];
        live = next;
    }
    if ((rc = relay_get_value(refs[0], hits_p, sizeof *hits_p, RELAY_FOREVER)) != RELAY_OK)
        report("get of the total", rc);
    *tasks_run_p = run;
out:
    for (size_t i = 0; i < live; i++) {
        int rc2 = relay_release(refs[i]);
        if (rc2 != RELAY_OK) {
            report("release", rc2);
            if (rc == RELAY_OK) rc = rc2;
        }
    }
    free(refs);
    return rc;
}

int main(int argc, char **argv)
{
    uint64_t ntasks = DEFAULT_TASKS, samples = DEFAULT_SAMPLES;
    int opt, rc, rank = -1, size = 0, failed = 0;

    while ((opt = getopt(argc, argv, "n:m:h")) != -1) {
        switch (opt) {
        case 'n':
            if (parse_u64(optarg, &ntasks) != 0 || ntasks > 100000000) {
                fprintf(stderr, "relay-pi: -n wants a number of tasks, 1..1e8\n");
                return 2;
            }
            break;
        case 'm':
            if (parse_u64(optarg, &samples) != 0 || samples > ((uint64_t)1 << 36)) {
                fprintf(stderr, "relay-pi: -m wants a number of samples, 1..2^36\n");
                return 2;
            }
            break;
        default:
            fprintf(stderr,
                    "usage: %s [-n tasks (default %d)] [-m samples per task (default %d)]\n",
                    argv[0], DEFAULT_TASKS, DEFAULT_SAMPLES);
            return opt == 'h' ? 0 : 2;
        }
    }

    if ((rc = relay_register("pi_sample", pi_sample)) != RELAY_OK ||
        (rc = relay_register("sum2", sum2)) != RELAY_OK) {
        report("relay_register", rc);
        return 1;
    }
    if ((rc = relay_init(NULL, NULL, NULL)) != RELAY_OK) {
        report("relay_init", rc);
        return 1;
    }
    if ((rc = relay_rank(&rank)) != RELAY_OK || (rc = relay_size(&size)) != RELAY_OK) {
        report("relay_rank/relay_size", rc);
        failed = 1;
    }

    if (rank == 0) {
        uint64_t hits = 0, run = 0;
        double t0 = app_now();
        rc = estimate(ntasks, samples, &hits, &run);
        double wall = app_now() - t0;
        if (rc != RELAY_OK) {
            failed = 1;
        } else {
            double total = (double)ntasks * (double)samples;
            double pi = 4.0 * (double)hits / total;
            double err = pi - M_PI;
            /* One standard deviation of the estimate, for reference. */
            double sigma = 4.0 * sqrt(M_PI / 4 * (1 - M_PI / 4) / total);
            printf("pi ~= %.8f  error %+.2e (1 sigma %.1e)\n", pi, err, sigma);
            printf("samples: %" PRIu64 " tasks x %" PRIu64 " = %.0f\n", ntasks, samples, total);
            printf("tasks run: %" PRIu64 " (%" PRIu64 " pi_sample + %" PRIu64
                   " sum2) on %d ranks\n",
                   run, ntasks, run - ntasks, size);
            printf("wall time: %.3f s (%.1f Msamples/s)\n", wall, total / wall / 1e6);
            if (hits > (uint64_t)total || fabs(err) > MAX_ERROR) {
                fprintf(stderr, "relay-pi: implausible estimate (|error| > %.2f)\n", MAX_ERROR);
                failed = 1;
            }
        }
    }

    if ((rc = relay_finalize()) != RELAY_OK) {
        report("relay_finalize", rc);
        failed = 1;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
