/*
 * relay-idle: how much CPU does an idle relay cluster burn?
 *
 * The driver submits a task that sleeps (nanosleep: no CPU) for longer than
 * S seconds and blocks in relay_get on it with a timeout of S seconds. Every
 * rank measures its own CPU time (getrusage RUSAGE_SELF: user + system, all
 * threads) over that window: rank 0 until the get times out, the other ranks
 * until their relay_finalize returns (the rank running the sleeper waits for
 * it to wake up, a little after the driver's timeout). The figures are then
 * gathered on rank 0, after relay_finalize, over MPI_COMM_WORLD: this program
 * initialises MPI itself, so relay leaves MPI running at finalize.
 *
 * "cores used" is the sum over ranks of cpu_seconds / wall_seconds: 0 means
 * the whole cluster slept, 1 means it kept one core busy.
 *
 * Usage: mpirun -np 4 relay-idle [-s seconds (default 10)] [-c max_cores]
 *   -c: exit non-zero if more than max_cores cores were used.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "app.h"
#include "relay.h"

/* The sleeper outlives the driver's timeout by this much. */
#define EXTRA_SLEEP_S 0.5

static void report(const char *what, int rc)
{
    fprintf(stderr, "relay-idle: %s: %s (%s)\n", what, relay_strerror(rc), relay_last_error());
}

static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

/* sleeper(seconds: double): sleep without using the CPU. */
static int sleeper(relay_ctx_t *ctx)
{
    const void *data;
    size_t size;
    double seconds;
    int rc = relay_ctx_arg(ctx, 0, &data, &size);
    if (rc != RELAY_OK || size != sizeof seconds) {
        relay_ctx_fail(ctx, "sleeper wants one double argument");
        return -1;
    }
    memcpy(&seconds, data, sizeof seconds);
    struct timespec req = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    struct timespec rem;
    while (nanosleep(&req, &rem) != 0 && errno == EINTR)
        req = rem;
    return relay_ctx_return(ctx, 0, NULL, 0); /* an empty object: a return left unset fails */
}

static int parse_pos_double(const char *s, double *v_p)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v > 0.0) || v > 86400.0) return -1;
    *v_p = v;
    return 0;
}

int main(int argc, char **argv)
{
    double window = 10.0, max_cores = -1.0;
    int opt, rc, provided = 0, rank = -1, nranks = 0, failed = 0;

    while ((opt = getopt(argc, argv, "s:c:h")) != -1) {
        switch (opt) {
        case 's':
            if (parse_pos_double(optarg, &window) != 0) {
                fprintf(stderr, "relay-idle: -s wants seconds, > 0\n");
                return 2;
            }
            break;
        case 'c':
            if (parse_pos_double(optarg, &max_cores) != 0) {
                fprintf(stderr, "relay-idle: -c wants a number of cores, > 0\n");
                return 2;
            }
            break;
        default:
            fprintf(stderr, "usage: %s [-s seconds (default 10)] [-c max_cores]\n", argv[0]);
            return opt == 'h' ? 0 : 2;
        }
    }

    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "relay-idle: MPI_Init_thread failed\n");
        return 1;
    }
    if (provided < MPI_THREAD_MULTIPLE) {
        fprintf(stderr, "relay-idle: MPI does not provide MPI_THREAD_MULTIPLE\n");
        MPI_Finalize();
        return 1;
    }
    if ((rc = relay_register("sleeper", sleeper)) != RELAY_OK) {
        report("relay_register", rc);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if ((rc = relay_init(NULL, NULL, NULL)) != RELAY_OK) {
        report("relay_init", rc);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if ((rc = relay_rank(&rank)) != RELAY_OK) {
        report("relay_rank", rc);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }

    /* Start every rank's window together. */
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = app_now(), c0 = cpu_seconds(), t1 = 0, c1 = 0;

    if (rank == 0) {
        double sleep_s = window + EXTRA_SLEEP_S;
        relay_arg_t arg = relay_arg_value(&sleep_s, sizeof sleep_s);
        relay_ref_t ref;
        relay_object_t obj = NULL;
        if ((rc = relay_submit("sleeper", &arg, 1, NULL, &ref)) != RELAY_OK) {
            report("submit sleeper", rc);
            failed = 1;
        } else {
            rc = relay_get(ref, window, &obj);
            t1 = app_now();
            c1 = cpu_seconds();
            if (rc == RELAY_OK) {
                fprintf(stderr, "relay-idle: the sleeper returned before the timeout\n");
                failed = 1;
            } else if (rc != RELAY_ERR_TIMEOUT) {
                report("get on the sleeper", rc);
                failed = 1;
            }
            if (obj != NULL) relay_object_free(obj);
            if ((rc = relay_release(ref)) != RELAY_OK) {
                report("release", rc);
                failed = 1;
            }
        }
    }

    if ((rc = relay_finalize()) != RELAY_OK) {
        report("relay_finalize", rc);
        failed = 1;
    }
    if (rank != 0) {
        t1 = app_now();
        c1 = cpu_seconds();
    }

    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    double mine[3] = {c1 - c0, t1 - t0, (double)failed};
    double *all = rank == 0 ? malloc(3 * (size_t)nranks * sizeof *all) : NULL;
    if (rank == 0 && all == NULL) {
        fprintf(stderr, "relay-idle: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Gather(mine, 3, MPI_DOUBLE, all, 3, MPI_DOUBLE, 0, MPI_COMM_WORLD);

    if (rank == 0) {
        double cpu = 0, cores = 0;
        for (int r = 0; r < nranks; r++) {
            double rc_cpu = all[3 * r], rc_wall = all[3 * r + 1];
            double rate = rc_wall > 0 ? rc_cpu / rc_wall : 0;
            printf("rank %d: cpu %.3f s over %.3f s wall (%.4f cores)\n", r, rc_cpu, rc_wall, rate);
            cpu += rc_cpu;
            cores += rate;
            if (all[3 * r + 2] != 0) failed = 1;
        }
        printf("total: cpu %.3f s, wall %.3f s (driver's window), %d ranks\n", cpu, all[1], nranks);
        printf("idle: %.4f cores used by %d ranks over %.0f s\n", cores, nranks, window);
        if (max_cores > 0 && cores > max_cores) {
            fprintf(stderr, "relay-idle: %.4f cores used, more than the %.4f allowed\n", cores,
                    max_cores);
            failed = 1;
        }
        free(all);
    }

    MPI_Finalize();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
