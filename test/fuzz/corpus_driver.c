/* Traffic for the fuzz seed corpus: a small MPI program (3 ranks) whose
 * ranks make, through relay's public API only, every kind of record relay
 * sends between ranks, with the functions and class of fuzz_funcs.h, so
 * the captured TASK and SUBMIT records name code the fuzz target runs.
 * make_corpus.sh runs it under the capture interposer (capture.c); records
 * a rank sends itself never reach MPI, which is why the client calls are
 * made on ranks 1 and 2, not on the driver.
 *
 * Rank 0 submits tasks and creates a named actor; rank 1 is a client of
 * every kind (put, array, refs in objects, submit with options or no
 * returns, get with and without timeouts, wait, retain, release, sync,
 * cancel, actor calls, lookup, kill); rank 2 uses a ref rank 1 sends it
 * with MPI at once, so rank 0 may have to ask rank 1 (PING) before judging
 * it. Run with RELAY_INLINE_MAX=1024 (large objects are fetched between
 * ranks), RELAY_NUM_GPUS=1 and RELAY_RESOURCES=fuzzres=4 (demands of every
 * kind). */
#include <string.h>

#include "../check.h"
#include "fuzz_funcs.h"

enum { TAG_ACTOR = 21, TAG_REF, TAG_DONE };

/* What the driver gives rank 1: its actor, and a large object it holds. */
typedef struct handoff {
    relay_actor_t actor;
    relay_ref_t big;
} handoff_t;

static void get_free(relay_ref_t r, double timeout)
{
    relay_object_t o = NULL;
    relay_get(r, timeout, &o);
    if (o) relay_object_free(o); /* an error object too */
}

static relay_ref_t submit(const char *fn, const relay_arg_t *args, size_t nargs,
                          const relay_task_opts_t *opts)
{
    relay_ref_t r[4];
    CHECK_OK(relay_submit(fn, args, nargs, opts, r));
    return r[0];
}

static void driver(void)
{
    char big[4096];
    memset(big, 'b', sizeof big);
    relay_ref_t big_ref;
    CHECK_OK(relay_put(big, sizeof big, &big_ref));
    uint64_t v = 42;
    relay_arg_t args[2] = {relay_arg_value(&v, sizeof v), relay_arg_ref(big_ref)};
    /* TASK records with value and ref (remote, fetched from rank 0) args. */
    relay_ref_t echo = submit(FUZZ_FN_ECHO, args, 2, NULL);
    get_free(echo, 30);
    /* A large result stays on its worker: the get fetches it. */
    relay_arg_t bigv = relay_arg_value(big, sizeof big);
    relay_ref_t big_echo = submit(FUZZ_FN_ECHO, &bigv, 1, NULL);
    get_free(big_echo, 30);
    relay_actor_opts_t ao = {.field_mask = RELAY_ACTOR_OPT_NAME, .name = "fuzz_counter"};
    relay_actor_t actor;
    CHECK_OK(relay_actor_create(FUZZ_CLASS, args, 1, &ao, &actor));
    relay_ref_t sum;
    CHECK_OK(relay_actor_call(actor, "add", args, 1, NULL, &sum));
    get_free(sum, 30);
    handoff_t h = {actor, big_ref};
    CHECK_EQ(MPI_Send(&h, sizeof h, MPI_BYTE, 1, TAG_ACTOR, MPI_COMM_WORLD), MPI_SUCCESS);
    int done;
    CHECK_EQ(MPI_Recv(&done, 1, MPI_INT, 1, TAG_DONE, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
             MPI_SUCCESS);
    /* Killed while placed: ACTOR_KILL to its rank, ACTOR_GONE back. */
    CHECK_OK(relay_actor_kill(actor));
    relay_release(echo);
    relay_release(big_echo);
    relay_release(sum);
    relay_release(big_ref); /* FREE to nobody: rank 0 holds it */
}

/* Rank 1: a client making every kind of request. */
static void client(void)
{
    handoff_t h;
    CHECK_EQ(MPI_Recv(&h, sizeof h, MPI_BYTE, 0, TAG_ACTOR, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
             MPI_SUCCESS);
    /* Large objects all live on rank 0: the rank a record names (a
     * holder) is then 0, which exists in the fuzz target's one-rank world
     * too, so the seeds reach past the rank checks. */
    relay_ref_t big = h.big;
    uint64_t v = 7;
    relay_ref_t small, arr, box;
    CHECK_OK(relay_put(&v, sizeof v, &small));
    get_free(big, 30); /* fetched from rank 0 */
    int32_t a[6] = {1, 2, 3, 4, 5, 6};
    uint64_t dims[2] = {2, 3};
    CHECK_OK(relay_put_array(a, RELAY_INT32, 2, dims, &arr));
    relay_ref_t inner[2] = {small, arr};
    CHECK_OK(relay_put_object("box", 3, inner, 2, &box));
    /* Causal use: rank 2 names this ref before rank 0 may have heard of it. */
    CHECK_EQ(MPI_Send(&box, sizeof box, MPI_BYTE, 2, TAG_REF, MPI_COMM_WORLD), MPI_SUCCESS);

    relay_resource_t want = {"fuzzres", 1};
    relay_task_opts_t opts = {.field_mask = RELAY_TASK_OPT_NUM_RETURNS |
                                            RELAY_TASK_OPT_MAX_RETRIES | RELAY_TASK_OPT_NAME |
                                            RELAY_TASK_OPT_NUM_CPUS | RELAY_TASK_OPT_NUM_GPUS |
                                            RELAY_TASK_OPT_RESOURCES,
                              .num_returns = 2,
                              .max_retries = 1,
                              .name = "fuzz-task",
                              .num_cpus = 0.5,
                              .num_gpus = 0.5,
                              .resources = &want,
                              .num_resources = 1};
    relay_arg_t args[3] = {relay_arg_ref(box), relay_arg_value(&v, sizeof v), relay_arg_ref(big)};
    relay_ref_t r[2];
    CHECK_OK(relay_submit(FUZZ_FN_ECHO, args, 3, &opts, r));
    relay_object_t objs[2];
    CHECK_OK(relay_get_many(r, 2, 30, objs));
    relay_object_free(objs[0]);
    relay_object_free(objs[1]);
    relay_release_many(r, 2);

    /* A failure retried once, then failed for good. */
    relay_task_opts_t retry = {.field_mask = RELAY_TASK_OPT_MAX_RETRIES, .max_retries = 1};
    relay_ref_t failed = submit(FUZZ_FN_FAIL, NULL, 0, &retry);
    get_free(failed, 30);
    /* Put inside a task, a nested task blocking its parent, a getter. */
    relay_ref_t put = submit(FUZZ_FN_PUT, args + 1, 1, NULL);
    relay_arg_t nv = relay_arg_value(&v, sizeof v);
    relay_ref_t nested = submit(FUZZ_FN_NESTED, &nv, 1, NULL);
    uint32_t ms = 40;
    relay_arg_t sv = relay_arg_value(&ms, sizeof ms);
    relay_ref_t slow = submit(FUZZ_FN_SLEEP, &sv, 1, NULL);
    /* One ref: fuzz_get releases a second one without holding it. */
    relay_arg_t gv = relay_arg_value(&slow, sizeof slow);
    relay_ref_t got = submit(FUZZ_FN_GET, &gv, 1, NULL);
    /* A get that gives up (GET_CANCEL) and a zero-timeout wait. */
    relay_object_t o;
    CHECK_STATUS(relay_get(slow, 0.001, &o), RELAY_ERR_TIMEOUT);
    int ready[2];
    size_t nready;
    relay_wait(&slow, 1, 1, 0, ready, &nready);
    get_free(put, 30);
    get_free(nested, 30);
    get_free(got, 30);
    get_free(slow, 30);

    /* A task with no returns, run for its side effects. */
    relay_task_opts_t none = {.field_mask = RELAY_TASK_OPT_NUM_RETURNS, .num_returns = 0};
    CHECK_OK(relay_submit(FUZZ_FN_ECHO, args + 1, 1, &none, NULL));
    /* relay_cancel (ABORT): a task that submits one (its SUBMIT names it
     * as parent), with what it submitted; its rank is told (CANCEL). */
    relay_ref_t doomed = submit(FUZZ_FN_NESTED, &nv, 1, NULL);
    CHECK_OK(relay_cancel(doomed, 0, 1));
    get_free(doomed, 30);

    CHECK_OK(relay_retain(small));
    CHECK_OK(relay_release(small));
    CHECK_OK(relay_sync(30));
    /* What is free, on the job and on this rank (RESOURCES_QUERY, _REPLY). */
    relay_resource_t customs[RELAY_MAX_RESOURCES * 3];
    relay_resource_set_t res = {.custom = customs, .custom_cap = RELAY_MAX_RESOURCES * 3};
    CHECK_OK(relay_available_resources(-1, &res));
    CHECK_OK(relay_available_resources(1, &res));

    /* Actors: a call, a lookup, a method that blocks, an actor made here
     * that keeps its CPUs (num_cpus given) and is killed here, a task
     * calling one (the call names it as caller). */
    relay_actor_t found;
    CHECK_OK(relay_actor_lookup("fuzz_counter", &found));
    relay_ref_t c1, c2;
    CHECK_OK(relay_actor_call(found, "add", args + 1, 1, NULL, &c1));
    relay_arg_t wv = relay_arg_value(&slow, sizeof slow);
    CHECK_OK(relay_actor_call(found, "wait", &wv, 1, NULL, &c2));
    get_free(c1, 30);
    get_free(c2, 30);
    relay_actor_t mine;
    relay_actor_opts_t keeps = {.field_mask = RELAY_ACTOR_OPT_NUM_CPUS, .num_cpus = 0.5};
    CHECK_OK(relay_actor_create(FUZZ_CLASS, NULL, 0, &keeps, &mine));
    /* Its method blocks on a sleeping task: the CPUs it keeps go back to
     * its rank meanwhile (ACTOR_CPU; a default actor holds none). */
    relay_ref_t nap = submit(FUZZ_FN_SLEEP, &sv, 1, NULL), c3;
    relay_arg_t napv = relay_arg_value(&nap, sizeof nap);
    CHECK_OK(relay_actor_call(mine, "wait", &napv, 1, NULL, &c3));
    get_free(c3, 30);
    const char name[] = "fuzz_counter";
    uint8_t kill = 1;
    relay_arg_t av[3] = {relay_arg_value(&mine, sizeof mine), relay_arg_value(name, strlen(name)),
                         relay_arg_value(&kill, 1)};
    relay_ref_t via = submit(FUZZ_FN_ACTOR, av, 3, NULL);
    get_free(via, 30);
    CHECK_OK(relay_actor_kill(mine));
    relay_release_many(
        (relay_ref_t[]){c1, c2, c3, nap, failed, put, nested, slow, got, via, doomed}, 11);
    relay_release_many((relay_ref_t[]){small, arr}, 2);
    int done = 1;
    CHECK_EQ(MPI_Send(&done, 1, MPI_INT, 0, TAG_DONE, MPI_COMM_WORLD), MPI_SUCCESS);
    CHECK_EQ(MPI_Recv(&done, 1, MPI_INT, 2, TAG_DONE, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
             MPI_SUCCESS);
    relay_release(box);
}

/* Rank 2: uses rank 1's ref at once. */
static void peer(void)
{
    relay_ref_t box;
    CHECK_EQ(MPI_Recv(&box, sizeof box, MPI_BYTE, 1, TAG_REF, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
             MPI_SUCCESS);
    CHECK_OK(relay_retain(box));
    relay_arg_t a = relay_arg_ref(box);
    relay_ref_t r = submit(FUZZ_FN_ECHO, &a, 1, NULL);
    get_free(r, 30);
    get_free(box, 30);
    relay_release(r);
    relay_release(box);
    int done = 1;
    CHECK_EQ(MPI_Send(&done, 1, MPI_INT, 1, TAG_DONE, MPI_COMM_WORLD), MPI_SUCCESS);
}

int main(int argc, char **argv)
{
    CHECK_OK(fuzz_register());
    CHECK_OK(relay_init(&argc, &argv, NULL));
    int rank, size;
    CHECK_OK(relay_rank(&rank));
    CHECK_OK(relay_size(&size));
    if (size != 3) {
        fprintf(stderr, "corpus_driver needs 3 ranks, has %d\n", size);
        relay_finalize();
        return 1;
    }
    if (rank == 0)
        driver();
    else if (rank == 1)
        client();
    else
        peer();
    MPI_Barrier(MPI_COMM_WORLD);
    CHECK_OK(relay_finalize());
    if (rank == 0) printf("corpus_driver: done\n");
    return 0;
}
