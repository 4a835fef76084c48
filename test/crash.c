/* A task that crashes names itself: run on 3 ranks by test/crash_check.cmake,
 * which checks what the job printed. The driver submits one task that only
 * rank 2 can run (a resource only it offers); the task crashes as argv[1]
 * says, and the job dies:
 *   segv      a write through NULL (SIGSEGV)
 *   abort     abort() (SIGABRT)
 *   fpe       an integer division by a volatile zero (SIGFPE)
 *   bus       raise(SIGBUS)
 *   overflow  unbounded recursion (SIGSEGV on the alternate signal stack)
 *   exit      exit(3)
 *   off       as segv, run with RELAY_CRASH_REPORT=0: no report
 *   method    as segv, in an actor's method (the actor lives on rank 2)
 *   handler   as segv, with the program's own SIGSEGV handler installed
 *             before relay_init: it must still run (it writes a marker,
 *             then dies by the default action). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpi.h>

#include "check.h"
#include "relay.h"
#include "testutil.h"

static void say(const char *s)
{
    ssize_t n = write(STDERR_FILENO, s, strlen(s));
    (void)n;
}

static void own_handler(int sig)
{
    say("test_crash: the program's own SIGSEGV handler ran\n");
    signal(sig, SIG_DFL);
    raise(sig);
}

static int recurse(volatile int *depth)
{
    volatile char pad[512];
    pad[0] = (char)*depth;
    if (++*depth < 0) return 0; /* never: the stack ends first */
    return recurse(depth) + pad[0];
}

static void starts(void)
{
    int rank = -1;
    relay_rank(&rank);
    char line[80];
    snprintf(line, sizeof line, "test_crash: task starts on rank %d\n", rank);
    say(line);
}

/* UndefinedBehaviorSanitizer would stop these before the fault: the point
 * is the fault itself. */
#define REAL_FAULT __attribute__((no_sanitize_undefined))

REAL_FAULT static int crash_segv(relay_ctx_t *ctx)
{
    (void)ctx;
    starts();
    volatile int *p = NULL;
    *p = 1;
    return 0;
}

static int crash_abort(relay_ctx_t *ctx)
{
    (void)ctx;
    starts();
    abort();
}

REAL_FAULT static int crash_fpe(relay_ctx_t *ctx)
{
    (void)ctx;
    starts();
    volatile int zero = 0, one = 1;
    return one / zero;
}

static int crash_bus(relay_ctx_t *ctx)
{
    (void)ctx;
    starts();
    raise(SIGBUS);
    return 0;
}

static int crash_overflow(relay_ctx_t *ctx)
{
    (void)ctx;
    starts();
    volatile int depth = 0;
    return recurse(&depth);
}

static int boom(relay_ctx_t *ctx, void *state)
{
    (void)state;
    return crash_segv(ctx);
}

static void call_method(const relay_resource_t *site)
{
    relay_actor_opts_t ao;
    memset(&ao, 0, sizeof ao);
    ao.field_mask = RELAY_ACTOR_OPT_RESOURCES;
    ao.resources = site;
    ao.num_resources = 1;
    relay_actor_t actor;
    CHECK_OK(relay_actor_create("crash_actor", NULL, 0, &ao, &actor));
    relay_task_opts_t o;
    memset(&o, 0, sizeof o);
    o.field_mask = RELAY_TASK_OPT_NAME;
    o.name = "crash_method_task";
    relay_ref_t ref;
    CHECK_OK(relay_actor_call(actor, "boom", NULL, 0, &o, &ref));
    relay_object_t obj;
    int rc = relay_get(ref, TEST_LONG_S, &obj);
    fprintf(stderr, "test_crash: the get returned %s (%s): the job should have died\n",
            relay_status_name(rc), relay_last_error());
    MPI_Abort(MPI_COMM_WORLD, 1);
}

static int crash_exit(relay_ctx_t *ctx)
{
    (void)ctx;
    starts();
    exit(3);
}

int main(int argc, char **argv)
{
    const char *scenario = argc > 1 ? argv[1] : "segv";
    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != 3) {
        fprintf(stderr, "test_crash runs on 3 ranks\n");
        MPI_Finalize();
        return TEST_SKIP;
    }
    const struct {
        const char *scenario, *fn;
        relay_fn_t f;
    } table[] = {
        {"segv", "crash_segv", crash_segv},
        {"abort", "crash_abort", crash_abort},
        {"fpe", "crash_fpe", crash_fpe},
        {"bus", "crash_bus", crash_bus},
        {"overflow", "crash_overflow", crash_overflow},
        {"exit", "crash_exit", crash_exit},
        {"off", "crash_off", crash_segv},
        {"method", "crash_method", crash_segv},
        {"handler", "crash_handler", crash_segv},
    };
    int pick = -1;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        CHECK_OK(relay_register(table[i].fn, table[i].f));
        if (!strcmp(table[i].scenario, scenario)) pick = (int)i;
    }
    static const relay_method_t methods[] = {{"boom", boom, 0}};
    const relay_actor_class_t cls = {NULL, 0, NULL, methods, 1};
    CHECK_OK(relay_register_actor("crash_actor", &cls));
    if (pick < 0) {
        fprintf(stderr, "test_crash: unknown scenario '%s'\n", scenario);
        MPI_Finalize();
        return 2;
    }
    if (!strcmp(scenario, "handler")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = own_handler;
        sigemptyset(&sa.sa_mask);
        CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
    }
    /* Only rank 2 offers "crashsite": the task runs there. */
    relay_resource_t site = {"crashsite", 1};
    relay_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.field_mask = RELAY_CONFIG_NUM_CPUS | RELAY_CONFIG_RESOURCES;
    cfg.num_cpus = 1;
    cfg.resources = &site;
    cfg.num_resources = rank == 2 ? 1 : 0;
    CHECK_OK(relay_init(&argc, &argv, &cfg));
    if (rank == 0 && !strcmp(scenario, "method")) call_method(&site);
    if (rank == 0) {
        char name[64];
        snprintf(name, sizeof name, "%s_task", table[pick].fn);
        relay_task_opts_t o;
        memset(&o, 0, sizeof o);
        o.field_mask = RELAY_TASK_OPT_NAME | RELAY_TASK_OPT_RESOURCES;
        o.name = name;
        o.resources = &site;
        o.num_resources = 1;
        relay_ref_t ref;
        CHECK_OK(relay_submit(table[pick].fn, NULL, 0, &o, &ref));
        relay_object_t obj;
        /* The crash ends the job (mpirun kills the ranks left): this get
         * returning at all is a failure. */
        int rc = relay_get(ref, TEST_LONG_S, &obj);
        fprintf(stderr, "test_crash: the get returned %s (%s): the job should have died\n",
                relay_status_name(rc), relay_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    relay_finalize();
    MPI_Finalize();
    return 0;
}
