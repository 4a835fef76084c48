/* Status table, calls outside init..finalize, relay_register's checks and
 * configuration errors (one process, no mpirun). */
#include "testutil.h"

static int fn_a(relay_ctx_t *ctx)
{
    int64_t v = 5;
    return relay_ctx_return(ctx, 0, &v, sizeof v);
}

static int fn_b(relay_ctx_t *ctx)
{
    (void)ctx;
    return 1;
}

/* -> {number of GPU ids, the ids, GPUs free on the rank x 10}. */
static int fn_gpus(relay_ctx_t *ctx)
{
    int ids[4] = {-1, -1, -1, -1};
    size_t n = 0;
    relay_resources_t res;
    if (relay_ctx_gpu_ids(ctx, ids, 4, &n) || relay_local_resources(&res)) return 1;
    int64_t out[6] = {(int64_t)n, ids[0], ids[1], ids[2], ids[3], (int64_t)(res.gpus_free * 10)};
    return relay_ctx_return(ctx, 0, out, sizeof out);
}

static void check_status_table(void)
{
    static const struct {
        int code;
        const char *name;
        const char *desc;
    } table[] = {
#define ROW(name, value, desc) {RELAY_##name, "RELAY_" #name, desc},
        RELAY_STATUS_MAP(ROW)
#undef ROW
    };
    size_t n = sizeof table / sizeof table[0];
    CHECK_EQ(n, 27);
    for (size_t i = 0; i < n; i++) {
        /* Codes are 0, -1, -2, ... in table order: unique and negative. */
        CHECK_EQ(table[i].code, -(int)i);
        CHECK_STREQ(relay_strerror(table[i].code), table[i].desc);
        CHECK_STREQ(relay_status_name(table[i].code), table[i].name);
    }
    CHECK_EQ(RELAY_OK, 0);
    CHECK_STREQ(relay_status_name(RELAY_ERR_TIMEOUT), "RELAY_ERR_TIMEOUT");
    CHECK_STREQ(relay_strerror(RELAY_ERR_SIZE_MISMATCH),
                "object size differs from the buffer size given");

    const int unknown[] = {1, 42, -27, -1000, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECK_STREQ(relay_strerror(unknown[i]), "unknown status");
        const char *name = relay_status_name(unknown[i]);
        CHECK(name != NULL);
        CHECK(name[0] != '\0');
        for (size_t j = 0; j < n; j++)
            CHECK(strcmp(name, table[j].name) != 0);
    }
}

/* Every call that needs the runtime, with otherwise valid arguments; outputs
 * must stay untouched (written only on success). */
static void check_not_initialized(void)
{
    const relay_ref_t fake = {12345};
    int64_t v = 7;
    int i = -99;
    relay_ref_t ref = {777};
    relay_object_t obj = NULL;
    relay_stats_t st;
    memset(&st, 0xA5, sizeof st);
    relay_stats_t st_copy = st;
    int ready = -3;
    size_t nready = 99;
    relay_arg_t arg = relay_arg_value(&v, sizeof v);

    CHECK_STATUS(relay_rank(&i), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_size(&i), RELAY_ERR_NOT_INITIALIZED);
    CHECK_EQ(i, -99);
    CHECK_STATUS(relay_submit("fn_a", &arg, 1, NULL, &ref), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_submit("fn_a", NULL, 0, NULL, &ref), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_put(&v, sizeof v, &ref), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_put_object(&v, sizeof v, &fake, 1, &ref), RELAY_ERR_NOT_INITIALIZED);
    CHECK_EQ(ref.id, 777);
    CHECK_STATUS(relay_get(fake, 0.0, &obj), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_get_many(&fake, 1, 0.0, &obj), RELAY_ERR_NOT_INITIALIZED);
    CHECK(obj == NULL);
    CHECK_STATUS(relay_get_value(fake, &v, sizeof v, 0.0), RELAY_ERR_NOT_INITIALIZED);
    CHECK_EQ(v, 7);
    CHECK_STATUS(relay_wait(&fake, 1, 1, 0.0, &ready, &nready), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_wait(&fake, 1, 1, 0.0, NULL, NULL), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_release(fake), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_release_many(&fake, 1), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_retain(fake), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_stats(&st), RELAY_ERR_NOT_INITIALIZED);
    CHECK(memcmp(&st, &st_copy, sizeof st) == 0);
    CHECK_STATUS(relay_sync(1.0), RELAY_ERR_NOT_INITIALIZED);
    uint64_t dims[1] = {1};
    CHECK_STATUS(relay_put_array(&v, RELAY_INT64, 1, dims, &ref), RELAY_ERR_NOT_INITIALIZED);
    CHECK_EQ(ref.id, 777);
    relay_dtype_t dt = RELAY_FLOAT32;
    CHECK_STATUS(relay_object_array(NULL, &dt, NULL, NULL), RELAY_ERR_INVALID_ARG);
    CHECK(dt == RELAY_FLOAT32);
    CHECK_STATUS(relay_object_save(NULL, "/tmp/x.h5", "d"), RELAY_ERR_NOT_INITIALIZED);
    relay_resources_t res = {1, 2, 3, 4};
    double q = -7;
    CHECK_STATUS(relay_local_resources(&res), RELAY_ERR_NOT_INITIALIZED);
    CHECK_STATUS(relay_resource_capacity(0, "CPU", &q), RELAY_ERR_NOT_INITIALIZED);
    CHECK(res.cpus == 1 && res.gpus == 3 && q == -7);
    size_t nids = 9;
    CHECK_STATUS(relay_ctx_gpu_ids(NULL, NULL, 0, &nids), RELAY_ERR_INVALID_ARG);
    CHECK_EQ(nids, 9);
    CHECK_STATUS(relay_finalize(), RELAY_ERR_NOT_INITIALIZED);
    /* A failing call leaves a detail. */
    CHECK(relay_last_error() != NULL);
}

static void check_register(void)
{
    char name[RELAY_MAX_NAME + 64];

    CHECK_STATUS(relay_register(NULL, fn_a), RELAY_ERR_INVALID_ARG);
    CHECK_STATUS(relay_register("", fn_a), RELAY_ERR_INVALID_ARG);
    CHECK_STATUS(relay_register("no_fn", NULL), RELAY_ERR_INVALID_ARG);

    /* RELAY_MAX_NAME includes the NUL: MAX-1 characters fit, MAX do not. */
    memset(name, 'n', sizeof name);
    name[RELAY_MAX_NAME - 1] = '\0';
    CHECK_OK(relay_register(name, fn_a));
    memset(name, 'm', sizeof name);
    name[RELAY_MAX_NAME] = '\0';
    CHECK_STATUS(relay_register(name, fn_a), RELAY_ERR_INVALID_ARG);
    name[sizeof name - 1] = '\0';
    CHECK_STATUS(relay_register(name, fn_a), RELAY_ERR_INVALID_ARG);

    CHECK_OK(relay_register("fn_a", fn_a));
    CHECK_OK(relay_register("fn_a", fn_a)); /* same function again: harmless */
    CHECK_STATUS(relay_register("fn_a", fn_b), RELAY_ERR_EXISTS);
    CHECK(relay_last_error()[0] != '\0');
    CHECK_OK(relay_register("fn_b", fn_b));
}

/* A bad RELAY_* value makes relay_init fail with CONFIG naming the variable
 * and leaves relay uninitialised. */
static void check_bad_env(int *argc, char ***argv, const char *var, const char *value)
{
    CHECK_EQ(setenv(var, value, 1), 0);
    int rc = relay_init(argc, argv, NULL);
    if (rc != RELAY_ERR_CONFIG)
        fprintf(stderr, "relay_init with %s=%s returned %s\n", var, value, relay_status_name(rc));
    CHECK_STATUS(rc, RELAY_ERR_CONFIG);
    CHECK_CONTAINS(relay_last_error(), var);
    CHECK_EQ(unsetenv(var), 0);
    int r = -5;
    CHECK_STATUS(relay_rank(&r), RELAY_ERR_NOT_INITIALIZED);
    CHECK_EQ(r, -5);
}

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && (hay[i] | 0x20) == (needle[i] | 0x20))
            i++;
        if (i == n) return 1;
    }
    return 0;
}

static void check_bad_config(int *argc, char ***argv)
{
    static const char *const bad[][2] = {
        {"RELAY_NUM_CPUS", "abc"},
        {"RELAY_NUM_CPUS", "0"},
        {"RELAY_NUM_CPUS", "4097"},
        {"RELAY_NUM_CPUS", "-1"},
        {"RELAY_NUM_CPUS", "3x"},
        {"RELAY_DRIVER_WORKERS", "2"},
        {"RELAY_DRIVER_WORKERS", "abc"},
        {"RELAY_INLINE_MAX", "abc"},
        {"RELAY_INLINE_MAX", "-1"},
        {"RELAY_LOG_LEVEL", "abc"},
        {"RELAY_POLL_MAX_US", "0"},
        {"RELAY_POLL_MAX_US", "1000001"},
        {"RELAY_POLL_MAX_US", "abc"},
        {"RELAY_CHUNK_BYTES", "100"},
        {"RELAY_CHUNK_BYTES", "4095"},
        {"RELAY_CHUNK_BYTES", "abc"},
        {"RELAY_CHUNK_BYTES", "2147483648"},
        {"RELAY_NUM_GPUS", "abc"},
        {"RELAY_NUM_GPUS", "-1"},
        {"RELAY_NUM_GPUS", "65"},
        {"RELAY_MAX_THREADS", "0"},
        {"RELAY_MAX_THREADS", "65537"},
        {"RELAY_MAX_THREADS", "x"},
        {"RELAY_RESOURCES", "license"},
        {"RELAY_RESOURCES", "license="},
        {"RELAY_RESOURCES", "license=-1"},
        {"RELAY_RESOURCES", "license=abc"},
        {"RELAY_RESOURCES", "license=0.00001"},
        {"RELAY_RESOURCES", "=1"},
        {"RELAY_RESOURCES", "CPU=1"},
        {"RELAY_RESOURCES", "gpu=1"},
        {"RELAY_RESOURCES", "a=1,a=2"},
        {"RELAY_RESOURCES", "a=1,"},
        {"RELAY_RESOURCES", ",a=1"},
        {"RELAY_RESOURCES", "a b=1"},
        {"RELAY_RESOURCES", "a=1e10"},
        {"RELAY_STORE_BUDGET", "abc"},
        {"RELAY_STORE_BUDGET", "-1"},
        {"RELAY_STORE_BUDGET", "5Q"},
        {"RELAY_SPILL_DIR", ""},
        {"RELAY_SPILL_DIR", "/nonexistent/relay-spill"},
        {"RELAY_SPILL_KEEP", "2"},
        {"RELAY_SPILL_KEEP", "yes"},
        {"RELAY_SPILL_MAX", "abc"},
        {"RELAY_SPILL_MAX", "-5"},
        {"RELAY_CRASH_REPORT", "2"},
        {"RELAY_CRASH_REPORT", "on"},
        {"RELAY_SPILL_CLEAN", "2"},
        {"RELAY_SPILL_CLEAN", "yes"},
        {"RELAY_NODES", ""},
        {"RELAY_NODES", "Rank"},
        {"RELAY_NODES", "1"},
        {"RELAY_NODES", "rank "},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_bad_env(argc, argv, bad[i][0], bad[i][1]);

    /* Bad fields of relay_config_t (their mask bit set): CONFIG, naming the
     * field. */
    const struct {
        relay_config_t cfg;
        const char *field;
    } bad_fields[] = {
        {{.field_mask = RELAY_CONFIG_NUM_CPUS, .num_cpus = 0}, "num_cpus"},
        {{.field_mask = RELAY_CONFIG_CHUNK_BYTES, .chunk_bytes = 100}, "chunk_bytes"},
        {{.field_mask = RELAY_CONFIG_POLL_MAX_US, .poll_max_us = 0}, "poll_max_us"},
        {{.field_mask = RELAY_CONFIG_NUM_GPUS, .num_gpus = -1}, "num_gpus"},
        {{.field_mask = RELAY_CONFIG_NUM_GPUS, .num_gpus = 65}, "num_gpus"},
        {{.field_mask = RELAY_CONFIG_MAX_THREADS | RELAY_CONFIG_NUM_CPUS,
          .num_cpus = 4,
          .max_threads = 3},
         "max_threads"},
        {{.field_mask = RELAY_CONFIG_RESOURCES, .resources = NULL, .num_resources = 1},
         "resources"},
        {{.field_mask = RELAY_CONFIG_RESOURCES,
          .resources = (const relay_resource_t[]){{"ok", 1}, {"bad name", 1}},
          .num_resources = 2},
         "bad name"},
        {{.field_mask = RELAY_CONFIG_RESOURCES,
          .resources = (const relay_resource_t[]){{"neg", -2}},
          .num_resources = 1},
         "neg"},
        {{.field_mask = RELAY_CONFIG_SPILL_DIR, .spill_dir = NULL}, "spill_dir"},
        {{.field_mask = RELAY_CONFIG_SPILL_DIR, .spill_dir = ""}, "spill_dir"},
        {{.field_mask = RELAY_CONFIG_SPILL_DIR, .spill_dir = "/nonexistent/relay-spill"},
         "/nonexistent/relay-spill"},
        {{.field_mask = RELAY_CONFIG_SPILL_KEEP, .spill_keep = 2}, "spill_keep"},
        {{.field_mask = RELAY_CONFIG_CRASH_REPORT, .crash_report = -1}, "crash_report"},
        {{.field_mask = RELAY_CONFIG_SPILL_CLEAN, .spill_clean = -1}, "spill_clean"},
    };
    for (size_t i = 0; i < sizeof bad_fields / sizeof bad_fields[0]; i++) {
        int rc = relay_init(argc, argv, &bad_fields[i].cfg);
        int named = rc == RELAY_ERR_CONFIG && contains_ci(relay_last_error(), bad_fields[i].field);
        if (!named)
            fprintf(stderr, "relay_init with a bad %s returned %s\n", bad_fields[i].field,
                    relay_status_name(rc));
        CHECK_STATUS(rc, RELAY_ERR_CONFIG);
        CHECK(contains_ci(relay_last_error(), bad_fields[i].field));
    }

    /* The environment overrides a good field. */
    relay_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.field_mask = RELAY_CONFIG_NUM_CPUS;
    cfg.num_cpus = 2;
    CHECK_EQ(setenv("RELAY_NUM_CPUS", "abc", 1), 0);
    CHECK_STATUS(relay_init(argc, argv, &cfg), RELAY_ERR_CONFIG);
    CHECK_CONTAINS(relay_last_error(), "RELAY_NUM_CPUS");
    CHECK_EQ(unsetenv("RELAY_NUM_CPUS"), 0);

    int r = -5;
    CHECK_STATUS(relay_rank(&r), RELAY_ERR_NOT_INITIALIZED);
}

int main(int argc, char **argv)
{
    /* Nothing failed yet on this thread. */
    CHECK(relay_last_error() != NULL);
    CHECK_STREQ(relay_last_error(), "");

    check_status_table();
    check_not_initialized();
    check_register();
    check_bad_config(&argc, &argv);

    /* A good init after failed ones. Fields whose mask bit is clear are never
     * read, so garbage there is harmless; boundary values of the variables
     * are accepted. */
    relay_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.field_mask = RELAY_CONFIG_LOG_LEVEL | RELAY_CONFIG_NUM_GPUS | RELAY_CONFIG_RESOURCES;
    cfg.log_level = 1;
    cfg.num_cpus = 2; /* mask bit clear: Slurm's CPUs per task count */
    /* The variables replace the fields: 2 GPUs, and license/disk. */
    cfg.num_gpus = 1;
    const relay_resource_t field_res[1] = {{"field_only", 1}};
    cfg.resources = field_res;
    cfg.num_resources = 1;
    CHECK_EQ(setenv("SLURM_CPUS_PER_TASK", "3", 1), 0);
    CHECK_EQ(setenv("RELAY_NUM_GPUS", "2", 1), 0);
    CHECK_EQ(setenv("RELAY_RESOURCES", "license=2.5,disk=1", 1), 0);
    cfg.driver_workers = 77;
    cfg.poll_max_us = -5;
    cfg.chunk_bytes = 1;
    cfg.comm = MPI_COMM_NULL;
    CHECK_EQ(setenv("RELAY_CHUNK_BYTES", "4096", 1), 0);
    CHECK_EQ(setenv("RELAY_POLL_MAX_US", "1", 1), 0);
    CHECK_EQ(setenv("RELAY_INLINE_MAX", "0", 1), 0);
    CHECK_EQ(setenv("RELAY_NODES", "rank", 1), 0);
    CHECK_OK(relay_init(&argc, &argv, &cfg));
    CHECK_STATUS(relay_init(&argc, &argv, NULL), RELAY_ERR_ALREADY_INITIALIZED);

    int rank = -1, size = -1;
    CHECK_OK(relay_rank(&rank));
    CHECK_OK(relay_size(&size));
    CHECK(rank >= 0 && rank < size);

    /* Registration also works after init; the EXISTS check still holds. */
    CHECK_OK(relay_register("late_fn", fn_b));
    CHECK_OK(relay_register("fn_gpus", fn_gpus));

    /* What this single rank offers, as configured above. */
    static const struct {
        const char *name;
        double qty;
    } offers[] = {{"CPU", 3}, {"GPU", 2}, {"license", 2.5}, {"disk", 1}, {"field_only", 0}};
    for (size_t i = 0; i < sizeof offers / sizeof offers[0]; i++) {
        double q = -1;
        CHECK_OK(relay_resource_capacity(-1, offers[i].name, &q));
        if (q != offers[i].qty) fprintf(stderr, "%s: %g\n", offers[i].name, q);
        CHECK(q == offers[i].qty);
    }
    relay_resources_t res;
    CHECK_OK(relay_local_resources(&res));
    CHECK(res.cpus == 3 && res.gpus == 2 && res.gpus_free == 2);
    CHECK_STATUS(relay_register("fn_b", fn_a), RELAY_ERR_EXISTS);

    if (rank == 0) {
        /* The runtime works: a put/get and a task (INLINE_MAX=0 makes every
         * non-empty object a large one, CHUNK_BYTES the smallest). */
        relay_ref_t p = test_put_i64(99);
        CHECK_EQ(test_get_i64(p), 99);
        relay_ref_t t = test_submit("fn_a", NULL, 0);
        CHECK_EQ(test_get_i64(t), 5);
        relay_ref_t u = test_submit("fn_b", NULL, 0);
        relay_object_t obj = NULL;
        CHECK_STATUS(relay_get(u, TEST_LONG_S, &obj), RELAY_ERR_TASK_FAILED);
        CHECK_CONTAINS(relay_object_error(obj), "fn_b");
        CHECK_OK(relay_object_free(obj));
        relay_ref_t refs[3] = {p, t, u};
        CHECK_OK(relay_release_many(refs, 3));

        /* Both (virtual) GPUs for one task: ids 0 and 1, none left free. */
        relay_task_opts_t o = {.field_mask = RELAY_TASK_OPT_NUM_GPUS, .num_gpus = 2};
        relay_ref_t g;
        CHECK_OK(relay_submit("fn_gpus", NULL, 0, &o, &g));
        int64_t out[6];
        CHECK_OK(relay_get_value(g, out, sizeof out, TEST_LONG_S));
        CHECK_EQ(out[0], 2);
        CHECK(out[1] + out[2] == 1 && out[1] * out[2] == 0); /* {0, 1} */
        CHECK_EQ(out[5], 0);
        CHECK_OK(relay_release(g));
    }

    CHECK_OK(relay_finalize());
    check_not_initialized();
    if (rank == 0) printf("unit_status: PASS\n");
    return 0;
}
