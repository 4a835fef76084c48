/* Idle ranks do not burn a core. For about 2 s the driver blocks in
 * relay_get on a task that sleeps (sleeping uses no CPU) and the other
 * ranks' main threads sleep; the CPU time of every process over that window
 * (getrusage: all threads, user + system) must stay below 0.5 core-seconds
 * per wall second in total over the ranks. A resource bound, generous on
 * purpose, not a timing assertion. The test initialises MPI itself (relay
 * must then leave it initialised) and reduces the figures after
 * relay_finalize. */
#include <sys/resource.h>

#include "testutil.h"

#define WINDOW_S 2.0
#define MAX_CORES 0.5

static double cpu_seconds(void)
{
    struct rusage ru;
    CHECK_EQ(getrusage(RUSAGE_SELF, &ru), 0);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

int main(int argc, char **argv)
{
    int provided = 0;
    CHECK_EQ(MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided), MPI_SUCCESS);
    if (provided < MPI_THREAD_MULTIPLE) {
        printf("MPI does not provide MPI_THREAD_MULTIPLE: skipped\n");
        MPI_Finalize();
        return TEST_SKIP;
    }
    CHECK_OK(relay_register("sleep_ms", test_fn_sleep_ms));
    CHECK_OK(relay_init(&argc, &argv, NULL));
    int rank = test_rank(), size = test_size();
    if (size < 2) {
        printf("idle_cpu needs at least 2 ranks: skipped\n");
        CHECK_OK(relay_finalize());
        MPI_Finalize();
        return TEST_SKIP;
    }

    /* Warm up: every worker rank has run something. */
    if (rank == 0) {
        relay_ref_t refs[16];
        int n = size * 2 < 16 ? size * 2 : 16;
        for (int i = 0; i < n; i++) {
            int64_t ms = 1;
            relay_arg_t a = relay_arg_value(&ms, 8);
            refs[i] = test_submit("sleep_ms", &a, 1);
        }
        relay_object_t objs[16];
        CHECK_OK(relay_get_many(refs, (size_t)n, TEST_LONG_S, objs));
        for (int i = 0; i < n; i++)
            CHECK_OK(relay_object_free(objs[i]));
        CHECK_OK(relay_release_many(refs, (size_t)n));
    }
    test_barrier();

    /* The idle window. */
    double w0 = test_now(), c0 = cpu_seconds();
    relay_ref_t sleeper = RELAY_REF_NULL;
    if (rank == 0) {
        int64_t ms = (int64_t)(WINDOW_S * 1000) + 500;
        relay_arg_t a = relay_arg_value(&ms, 8);
        sleeper = test_submit("sleep_ms", &a, 1);
        relay_object_t obj = NULL;
        CHECK_STATUS(relay_get(sleeper, WINDOW_S, &obj), RELAY_ERR_TIMEOUT);
    } else {
        test_sleep(WINDOW_S);
    }
    double w1 = test_now(), c1 = cpu_seconds();

    if (rank == 0) {
        int64_t ms = 0;
        CHECK_OK(relay_get_value(sleeper, &ms, sizeof ms, TEST_LONG_S));
        CHECK_EQ(ms, (int64_t)(WINDOW_S * 1000) + 500);
        CHECK_OK(relay_release(sleeper));
    }
    CHECK_OK(relay_finalize());

    /* MPI is still ours. */
    int fin = 1;
    MPI_Finalized(&fin);
    CHECK_EQ(fin, 0);
    double mine[2] = {c1 - c0, w1 - w0};
    double *all = malloc(sizeof mine * (size_t)size);
    CHECK(all != NULL);
    CHECK_EQ(MPI_Gather(mine, 2, MPI_DOUBLE, all, 2, MPI_DOUBLE, 0, MPI_COMM_WORLD), MPI_SUCCESS);
    if (rank == 0) {
        double total = 0;
        for (int r = 0; r < size; r++) {
            double cores = all[2 * r] / all[2 * r + 1];
            printf("rank %d: %.3f s CPU over %.3f s wall = %.3f cores\n", r, all[2 * r],
                   all[2 * r + 1], cores);
            total += cores;
        }
        printf("idle CPU over %d ranks: %.3f cores (bound %.2f)\n", size, total, MAX_CORES);
        fflush(stdout);
        CHECK(total < MAX_CORES);
    }
    free(all);
    MPI_Finalize();
    if (rank == 0) printf("idle_cpu: PASS (%d ranks)\n", size);
    return 0;
}
