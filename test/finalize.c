/* relay_finalize: refused on any thread but relay_init's (a task, an actor
 * method, another thread of the driver), and bounded when tasks still run
 * (they are flagged cancelled; those that do not return within
 * finalize_timeout are abandoned and named). Scenario by argv[1], np 3.
 * The program initialises MPI itself, so that after relay_finalize the
 * ranks can still compare what each got. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "testutil.h"

enum { TAG_STARTED = 4711, TAG_SAW_CANCEL = 4712, TAG_LATE = 4713 };

/* Set by main once relay_finalize returned on this rank: an abandoned
 * task then finds relay torn down. */
static atomic_int finalized_here;

/* Returns relay_finalize's status and message as an object: status, then
 * the message's bytes. */
static int return_finalize(relay_ctx_t *ctx)
{
    struct {
        int64_t status;
        char msg[RELAY_MAX_ERROR];
    } out;
    memset(&out, 0, sizeof out);
    out.status = relay_finalize();
    snprintf(out.msg, sizeof out.msg, "%s", relay_last_error());
    return relay_ctx_return(ctx, 0, &out, sizeof out);
}

static int fn_finalize(relay_ctx_t *ctx)
{
    return return_finalize(ctx);
}

static int m_finalize(relay_ctx_t *ctx, void *state)
{
    (void)state;
    return return_finalize(ctx);
}

/* Tells rank 0 where it runs, then never returns (within the test). */
static int fn_stuck(relay_ctx_t *ctx)
{
    (void)ctx;
    int rank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Send(&rank, 1, MPI_INT, 0, TAG_STARTED, MPI_COMM_WORLD);
    sleep(1000);
    return 0;
}

static int m_stuck(relay_ctx_t *ctx, void *state)
{
    (void)state;
    return fn_stuck(ctx);
}

/* Runs until relay_ctx_cancelled says 1 (finalize began), then tells
 * rank 0 it saw it and returns. */
static int fn_cooperative(relay_ctx_t *ctx)
{
    int rank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Send(&rank, 1, MPI_INT, 0, TAG_STARTED, MPI_COMM_WORLD);
    for (int i = 0; i < 300000 && !relay_ctx_cancelled(ctx); i++)
        test_sleep(0.001);
    int saw = relay_ctx_cancelled(ctx);
    MPI_Send(&saw, 1, MPI_INT, 0, TAG_SAW_CANCEL, MPI_COMM_WORLD);
    int64_t v = saw;
    return relay_ctx_return(ctx, 0, &v, sizeof v);
}

/* Stuck until its rank's relay_finalize returned (it is abandoned), then
 * calls relay: every call must refuse, touching nothing freed, and what
 * they returned goes to rank 0 (by MPI: relay is gone). */
static int fn_late(relay_ctx_t *ctx)
{
    int rank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Send(&rank, 1, MPI_INT, 0, TAG_STARTED, MPI_COMM_WORLD);
    while (!atomic_load(&finalized_here))
        test_sleep(0.01);
    const void *data = NULL;
    size_t size = 0;
    int64_t v = 1;
    relay_ref_t arg = {0}, put = {0};
    int got[8];
    got[0] = relay_ctx_arg(ctx, 0, &data, &size);
    got[1] = relay_ctx_arg_ref(ctx, 0, &arg);
    got[2] = relay_ctx_return(ctx, 0, &v, sizeof v);
    got[3] = relay_ctx_return_object(ctx, 0, &v, sizeof v, &arg, 1);
    got[4] = relay_ctx_rank(ctx, &rank);
    got[5] = relay_put(&v, sizeof v, &put);
    got[6] = relay_release(arg);
    got[7] = relay_ctx_fail(ctx, "late");
    MPI_Send(got, 8, MPI_INT, 0, TAG_LATE, MPI_COMM_WORLD);
    return 0;
}

static int fn_noop(relay_ctx_t *ctx)
{
    (void)ctx;
    return 0;
}

/* Returns its rank: where the actor lives. */
static int m_where(relay_ctx_t *ctx, void *state)
{
    (void)state;
    int64_t rank = -1;
    int r = -1;
    CHECK_OK(relay_ctx_rank(ctx, &r));
    rank = r;
    return relay_ctx_return(ctx, 0, &rank, sizeof rank);
}

/* A destructor that never returns (within the test). */
static void fini_stuck(void *state)
{
    (void)state;
    sleep(1000);
}

static const relay_method_t methods[] = {
    {"finalize", m_finalize, 0}, {"stuck", m_stuck, 0}, {"where", m_where, 0}};
static const relay_actor_class_t cls = {NULL, 0, NULL, methods, 3};
static const relay_actor_class_t stuck_fini_cls = {NULL, 0, fini_stuck, methods, 3};

static void check_refused(relay_ref_t r, const char *where)
{
    relay_object_t o;
    CHECK_OK(relay_get(r, 60.0, &o));
    const struct {
        int64_t status;
        char msg[RELAY_MAX_ERROR];
    } *out = relay_object_data(o);
    CHECK_EQ(relay_object_size(o), sizeof *out);
    CHECK_STATUS((int)out->status, RELAY_ERR_WRONG_THREAD);
    CHECK_CONTAINS(out->msg, where);
    CHECK_CONTAINS(out->msg, "only the thread that called relay_init may finalize");
    CHECK_OK(relay_object_free(o));
    CHECK_OK(relay_release(r));
}

static void *other_thread(void *arg)
{
    *(int *)arg = relay_finalize();
    return NULL;
}

/* From a task, an actor method and another thread of the driver: refused
 * at once, and relay goes on working. */
static void scenario_refused(int rank)
{
    if (rank != 0) return;
    relay_ref_t r;
    relay_task_opts_t o = {.field_mask = RELAY_TASK_OPT_NAME, .name = "finalizer"};
    CHECK_OK(relay_submit("fin_task", NULL, 0, &o, &r));
    check_refused(r, "task 'finalizer' on rank");

    relay_actor_t a;
    CHECK_OK(relay_actor_create("fin_actor", NULL, 0, NULL, &a));
    CHECK_OK(relay_actor_call(a, "finalize", NULL, 0, NULL, &r));
    check_refused(r, "actor method 'finalize' on rank");
    CHECK_OK(relay_actor_kill(a));

    int st = RELAY_OK;
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, other_thread, &st), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_STATUS(st, RELAY_ERR_WRONG_THREAD);

    /* Still on. */
    relay_ref_t v = test_put_i64(42);
    CHECK_EQ(test_get_i64(v), 42);
    CHECK_OK(relay_release(v));
}

static int stuck_rank = -1;

/* A task (or method) that never returns: finalize gives up on it. */
static void scenario_stuck(int rank, int method)
{
    if (rank != 0) return;
    relay_ref_t r;
    if (method) {
        relay_actor_t a;
        CHECK_OK(relay_actor_create("fin_actor", NULL, 0, NULL, &a));
        CHECK_OK(relay_actor_call(a, "stuck", NULL, 0, NULL, &r));
    } else {
        relay_task_opts_t o = {.field_mask = RELAY_TASK_OPT_NAME, .name = "sleeper"};
        CHECK_OK(relay_submit("fin_stuck", NULL, 0, &o, &r));
    }
    MPI_Recv(&stuck_rank, 1, MPI_INT, MPI_ANY_SOURCE, TAG_STARTED, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
    CHECK_GT(stuck_rank, 0);
}

/* Every worker rank (one CPU each: RELAY_NUM_CPUS=1) runs a stuck task,
 * and has another queued behind it, never started: finalize names the
 * stuck ones only. */
static void scenario_queued(int rank)
{
    if (rank != 0) return;
    relay_ref_t r;
    relay_task_opts_t stuck = {.field_mask = RELAY_TASK_OPT_NAME, .name = "sleeper"};
    relay_task_opts_t queued = {.field_mask = RELAY_TASK_OPT_NAME, .name = "queued"};
    for (int i = 0; i < 2; i++) {
        int where = -1;
        CHECK_OK(relay_submit("fin_stuck", NULL, 0, &stuck, &r));
        MPI_Recv(&where, 1, MPI_INT, MPI_ANY_SOURCE, TAG_STARTED, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
        CHECK_GT(where, 0);
        stuck_rank = where;
    }
    for (int i = 0; i < 4; i++)
        CHECK_OK(relay_submit("fin_noop", NULL, 0, &queued, &r));
    CHECK_OK(relay_sync(60.0)); /* rank 0 has them, and sends what it may */
}

/* An actor whose destructor never returns: it runs at finalize. */
static void scenario_stuck_fini(int rank)
{
    if (rank != 0) return;
    relay_actor_t a;
    relay_ref_t r;
    CHECK_OK(relay_actor_create("fin_stuck_fini", NULL, 0, NULL, &a));
    CHECK_OK(relay_actor_call(a, "where", NULL, 0, NULL, &r));
    stuck_rank = (int)test_get_i64(r);
    CHECK_GT(stuck_rank, 0);
    CHECK_OK(relay_release(r));
}

/* A task abandoned at finalize calls relay once relay is gone on its rank
 * (its argument: a ref). */
static void scenario_late(int rank)
{
    if (rank != 0) return;
    relay_ref_t v = test_put_i64(7), r;
    relay_arg_t arg = {.kind = RELAY_ARG_REF, .ref = v};
    relay_task_opts_t o = {.field_mask = RELAY_TASK_OPT_NAME, .name = "late"};
    CHECK_OK(relay_submit("fin_late", &arg, 1, &o, &r));
    MPI_Recv(&stuck_rank, 1, MPI_INT, MPI_ANY_SOURCE, TAG_STARTED, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
    CHECK_GT(stuck_rank, 0);
}

static void scenario_cooperative(int rank)
{
    if (rank != 0) return;
    relay_ref_t r;
    CHECK_OK(relay_submit("fin_coop", NULL, 0, NULL, &r));
    MPI_Recv(&stuck_rank, 1, MPI_INT, MPI_ANY_SOURCE, TAG_STARTED, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
}

int main(int argc, char **argv)
{
    const char *scenario = argc > 1 ? argv[1] : "refused";
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    CHECK_EQ(provided, MPI_THREAD_MULTIPLE);
    CHECK_OK(relay_register("fin_task", fn_finalize));
    CHECK_OK(relay_register("fin_stuck", fn_stuck));
    CHECK_OK(relay_register("fin_coop", fn_cooperative));
    CHECK_OK(relay_register("fin_late", fn_late));
    CHECK_OK(relay_register("fin_noop", fn_noop));
    CHECK_OK(relay_register_actor("fin_actor", &cls));
    CHECK_OK(relay_register_actor("fin_stuck_fini", &stuck_fini_cls));
    CHECK_OK(relay_init(&argc, &argv, NULL));
    int rank = test_rank(), size = test_size();
    CHECK_EQ(size, 3);
    int stuck = !strcmp(scenario, "stuck"), stuck_method = !strcmp(scenario, "stuck_method");
    int queued = !strcmp(scenario, "queued"), stuck_fini = !strcmp(scenario, "stuck_fini");
    int late = !strcmp(scenario, "late");
    if (!strcmp(scenario, "refused"))
        scenario_refused(rank);
    else if (stuck || stuck_method)
        scenario_stuck(rank, stuck_method);
    else if (queued)
        scenario_queued(rank);
    else if (stuck_fini)
        scenario_stuck_fini(rank);
    else if (late)
        scenario_late(rank);
    else if (!strcmp(scenario, "cooperative"))
        scenario_cooperative(rank);
    else
        CHECK(!"unknown scenario");

    int st = relay_finalize();
    char msg[RELAY_MAX_ERROR];
    snprintf(msg, sizeof msg, "%s", relay_last_error());
    /* relay is off whatever the status. */
    CHECK_STATUS(relay_rank(&rank), RELAY_ERR_NOT_INITIALIZED);
    atomic_store(&finalized_here, 1);
    MPI_Bcast(&stuck_rank, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (queued) {
        /* Both worker ranks are stuck: each names its own task. */
        CHECK_STATUS(st, RELAY_ERR_TIMEOUT);
        CHECK_CONTAINS(msg, "'sleeper' (function 'fin_stuck')");
        CHECK(!strstr(msg, "queued"));
    } else if (stuck_fini) {
        char where[64];
        snprintf(where, sizeof where, "rank %d", stuck_rank);
        if (rank == 0) {
            /* No task to name: the rank that did not acknowledge. */
            CHECK_STATUS(st, RELAY_ERR_TIMEOUT);
            CHECK_CONTAINS(msg, where);
            CHECK_CONTAINS(msg, "did not acknowledge");
        } else if (rank == stuck_rank) {
            CHECK_STATUS(st, RELAY_ERR_TIMEOUT);
            CHECK_CONTAINS(msg, "destructor of actor 'fin_stuck_fini'");
            CHECK_CONTAINS(msg, where);
        } else {
            CHECK_OK(st);
        }
    } else if (late) {
        CHECK_STATUS(st, rank == 0 || rank == stuck_rank ? RELAY_ERR_TIMEOUT : RELAY_OK);
        if (rank == 0) {
            int got[8];
            MPI_Recv(got, 8, MPI_INT, stuck_rank, TAG_LATE, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            for (int i = 0; i < 8; i++) {
                if (got[i] == RELAY_ERR_NOT_INITIALIZED) continue;
                fprintf(stderr, "late call %d returned %s\n", i, relay_status_name(got[i]));
                CHECK(!"a call after finalize did not return RELAY_ERR_NOT_INITIALIZED");
            }
        }
    } else if (stuck || stuck_method) {
        const char *what = stuck ? "'sleeper' (function 'fin_stuck')" : "'stuck'";
        char where[64];
        snprintf(where, sizeof where, "rank %d", stuck_rank);
        if (rank == 0) {
            CHECK_STATUS(st, RELAY_ERR_TIMEOUT);
            CHECK_CONTAINS(msg, what);
            CHECK_CONTAINS(msg, where);
        } else if (rank == stuck_rank) {
            CHECK_STATUS(st, RELAY_ERR_TIMEOUT);
            CHECK_CONTAINS(msg, what);
            CHECK_CONTAINS(msg, where);
        } else {
            CHECK_OK(st);
        }
    } else {
        CHECK_OK(st);
    }
    if (!strcmp(scenario, "cooperative") && rank == 0) {
        int saw = 0;
        MPI_Recv(&saw, 1, MPI_INT, stuck_rank, TAG_SAW_CANCEL, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        CHECK_EQ(saw, 1);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) printf("finalize %s: ok\n", scenario);
    MPI_Finalize();
    return 0;
}
