/* RELAY_SUMMARY: a known workload, then rank 0 reads back the table its
 * relay_finalize printed to stderr (captured in a file) and checks it:
 * 20 runs of A and none failed, 5 of B that all failed, 3 calls of
 * Counter.add and its constructor, blocked time on the rank whose task
 * waited ~0.2 s in a get, a 4 MiB object received, objects spilled under a
 * 1 MiB store budget (RELAY_STORE_BUDGET, set by CTest). Then relay runs
 * again without the summary (nothing printed) and once more with
 * RELAY_SUMMARY=1 instead of the field (printed). MPI is the test's own,
 * so relay can start three times. */
#include <fcntl.h>
#include <mpi.h>
#include <relay.h>

#include "testutil.h"

#define BIG (4u << 20)

static int fn_a(relay_ctx_t *ctx)
{
    int one = 1;
    return relay_ctx_return(ctx, 0, &one, sizeof one);
}

static int fn_b(relay_ctx_t *ctx)
{
    (void)ctx;
    return 1; /* an error status */
}

static int fn_sleeper(relay_ctx_t *ctx)
{
    test_sleep(0.2);
    int one = 1;
    return relay_ctx_return(ctx, 0, &one, sizeof one);
}

/* Waits in a get for a task of its own; returns its rank. */
static int fn_blocker(relay_ctx_t *ctx)
{
    relay_ref_t r;
    int v = 0, rank = -1;
    CHECK_OK(relay_submit("sleeper", NULL, 0, NULL, &r));
    CHECK_OK(relay_get_value(r, &v, sizeof v, TEST_LONG_S));
    CHECK_OK(relay_release(r));
    CHECK_OK(relay_ctx_rank(ctx, &rank));
    return relay_ctx_return(ctx, 0, &rank, sizeof rank);
}

static int fn_big(relay_ctx_t *ctx)
{
    char *p = calloc(1, BIG);
    CHECK(p != NULL);
    int rc = relay_ctx_return(ctx, 0, p, BIG);
    free(p);
    return rc;
}

static int counter_add(relay_ctx_t *ctx, void *state)
{
    (void)state;
    int one = 1;
    return relay_ctx_return(ctx, 0, &one, sizeof one);
}

static const relay_method_t counter_methods[] = {{"add", counter_add, 0}};
static const relay_actor_class_t counter = {NULL, 0, NULL, counter_methods, 1};

static void run_and_release(const char *fn, int n, int expect_ok)
{
    for (int i = 0; i < n; i++) {
        relay_ref_t r;
        int v = 0;
        CHECK_OK(relay_submit(fn, NULL, 0, NULL, &r));
        int rc = relay_get_value(r, &v, sizeof v, TEST_LONG_S);
        if (expect_ok)
            CHECK_OK(rc);
        else
            CHECK_EQ(rc, RELAY_ERR_TASK_FAILED);
        CHECK_OK(relay_release(r));
    }
}

/* The driver's workload; returns the rank that ran the blocking task. */
static int workload(void)
{
    run_and_release("A", 20, 1);
    run_and_release("B", 5, 0);
    relay_actor_t actor;
    CHECK_OK(relay_actor_create("Counter", NULL, 0, NULL, &actor));
    for (int i = 0; i < 3; i++) {
        relay_ref_t r;
        int v = 0;
        CHECK_OK(relay_actor_call(actor, "add", NULL, 0, NULL, &r));
        CHECK_OK(relay_get_value(r, &v, sizeof v, TEST_LONG_S));
        CHECK_OK(relay_release(r));
    }
    relay_ref_t r, puts[3];
    int blocker_rank = -1;
    CHECK_OK(relay_submit("blocker", NULL, 0, NULL, &r));
    CHECK_OK(relay_get_value(r, &blocker_rank, sizeof blocker_rank, TEST_LONG_S));
    CHECK_OK(relay_release(r));
    relay_object_t obj;
    CHECK_OK(relay_submit("big", NULL, 0, NULL, &r));
    CHECK_OK(relay_get(r, TEST_LONG_S, &obj));
    CHECK_EQ(relay_object_size(obj), BIG);
    CHECK_OK(relay_object_free(obj));
    CHECK_OK(relay_release(r));
    /* Over rank 0's 1 MiB budget: they go to its spill file. */
    char *p = calloc(1, 2u << 20);
    CHECK(p != NULL);
    for (int i = 0; i < 3; i++)
        CHECK_OK(relay_put(p, 2u << 20, &puts[i]));
    free(p);
    test_wait_spilled(1);
    CHECK_OK(relay_release_many(puts, 3));
    return blocker_rank;
}

/* relay_finalize with rank 0's stderr going to a file; its text (malloc'd)
 * on rank 0, NULL elsewhere. */
static char *finalize_captured(int rank)
{
    char path[] = "/tmp/relay-summary-XXXXXX";
    int fd = -1, saved = -1;
    if (rank == 0) {
        fflush(stderr);
        CHECK((fd = mkstemp(path)) >= 0);
        CHECK((saved = dup(2)) >= 0);
        CHECK(dup2(fd, 2) == 2);
    }
    int rc = relay_finalize();
    if (rank != 0) {
        CHECK_OK(rc);
        return NULL;
    }
    fflush(stderr);
    CHECK(dup2(saved, 2) == 2);
    close(saved);
    CHECK_OK(rc);
    char *text = calloc(1, 1 << 16);
    CHECK(text != NULL);
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    ssize_t n = read(fd, text, (1 << 16) - 1);
    CHECK(n >= 0);
    close(fd);
    unlink(path);
    fputs(text, stdout);
    return text;
}

/* The line of text whose first field is label, copied into buf. */
static int find_row(const char *text, const char *label, char *buf, size_t n)
{
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char first[64];
        snprintf(buf, n, "%.*s", (int)len, p);
        if (sscanf(buf, "%63s", first) == 1 && !strcmp(first, label)) return 1;
        p = nl ? nl + 1 : NULL;
    }
    return 0;
}

static uint64_t bytes_of(double v, const char *unit)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(unit, units[i])) return (uint64_t)(v * (double)(1ull << (10 * i)));
    CHECK(!"a known unit");
    return 0;
}

static void check_fn(const char *text, const char *name, unsigned long long count,
                     unsigned long long failures)
{
    char line[512];
    unsigned long long c, f;
    CHECK(find_row(text, name, line, sizeof line));
    CHECK(sscanf(line, "%*s %llu %*f %*f %*f %llu", &c, &f) == 2);
    CHECK_EQ(c, count);
    CHECK_EQ(f, failures);
}

static void check_table(const char *text, int size, int blocker_rank)
{
    char title[64], line[512];
    snprintf(title, sizeof title, "relay summary: %d ranks, ", size);
    CHECK(strstr(text, title) != NULL);
    check_fn(text, "A", 20, 0);
    check_fn(text, "B", 5, 5);
    check_fn(text, "Counter.add", 3, 0);
    check_fn(text, "Counter.<init>", 1, 0);
    uint64_t recv_max = 0;
    for (int r = 0; r < size; r++) {
        char label[16], su[8], ru[8];
        int rank;
        unsigned long long tasks, spilled;
        double busy, blocked, sent, recv;
        snprintf(label, sizeof label, "%d", r);
        CHECK(find_row(text, label, line, sizeof line));
        CHECK(sscanf(line, "%d %llu %lf %lf %lf %7s %lf %7s %*f %*s %*f %*s %llu", &rank, &tasks,
                     &busy, &blocked, &sent, su, &recv, ru, &spilled) == 9);
        if (r == blocker_rank) CHECK(blocked > 0);
        if (r == 0) CHECK_CMP(spilled, >=, 1);
        if (bytes_of(recv, ru) > recv_max) recv_max = bytes_of(recv, ru);
    }
    CHECK_CMP(recv_max, >=, BIG);
}

static int start(int field)
{
    relay_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.field_mask = RELAY_CONFIG_SUMMARY;
    cfg.summary = field;
    CHECK_OK(relay_init(NULL, NULL, &cfg));
    int rank;
    CHECK_OK(relay_rank(&rank));
    return rank;
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    CHECK_OK(relay_register("A", fn_a));
    CHECK_OK(relay_register("B", fn_b));
    CHECK_OK(relay_register("sleeper", fn_sleeper));
    CHECK_OK(relay_register("blocker", fn_blocker));
    CHECK_OK(relay_register("big", fn_big));
    CHECK_OK(relay_register_actor("Counter", &counter));
    unsetenv("RELAY_SUMMARY");

    int rank = start(1), size, blocker = -1;
    CHECK_OK(relay_size(&size));
    if (rank == 0) blocker = workload();
    char *text = finalize_captured(rank);
    if (rank == 0) check_table(text, size, blocker);
    free(text);

    /* Off: the same work, nothing printed. */
    rank = start(0);
    if (rank == 0) run_and_release("A", 2, 1);
    text = finalize_captured(rank);
    if (rank == 0) CHECK(strstr(text, "relay summary") == NULL);
    free(text);

    /* The variable overrides the field. */
    setenv("RELAY_SUMMARY", "1", 1);
    rank = start(0);
    if (rank == 0) run_and_release("A", 2, 1);
    text = finalize_captured(rank);
    if (rank == 0) {
        CHECK(strstr(text, "relay summary") != NULL);
        check_fn(text, "A", 2, 0); /* counted from this relay_init on */
    }
    free(text);
    MPI_Finalize();
    if (rank == 0) printf("summary: OK\n");
    return 0;
}
