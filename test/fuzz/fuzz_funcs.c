/* The functions and the actor class of fuzz_funcs.h. They read arguments
 * of any shape the fuzzer may send (a missing or short argument is not an
 * error here: the function does less) and never wait long. */
#include "fuzz_funcs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Argument i's bytes; NULL (size 0) when there is none. */
static const void *arg(relay_ctx_t *ctx, size_t i, size_t *size_p)
{
    const void *d = NULL;
    *size_p = 0;
    if (relay_ctx_arg(ctx, i, &d, size_p) != RELAY_OK) return NULL;
    return d;
}

/* Argument i as a little integer: its first bytes, 0 when absent. */
static uint64_t arg_u64(relay_ctx_t *ctx, size_t i)
{
    size_t n;
    const void *d = arg(ctx, i, &n);
    uint64_t v = 0;
    if (d) memcpy(&v, d, n < sizeof v ? n : sizeof v);
    return v;
}

static int fn_echo(relay_ctx_t *ctx)
{
    size_t nargs = relay_ctx_num_args(ctx), nret = relay_ctx_num_returns(ctx);
    for (size_t i = 0; i < nret; i++) {
        relay_object_t o = NULL;
        if (!nargs || relay_ctx_arg_object(ctx, i % nargs, &o) != RELAY_OK) {
            uint64_t v = i;
            if (relay_ctx_return(ctx, i, &v, sizeof v) != RELAY_OK) return 1;
            continue;
        }
        /* The refs an argument contains stay contained in the copy. */
        size_t nrefs = relay_object_num_refs(o);
        relay_ref_t *refs = calloc(nrefs ? nrefs : 1, sizeof *refs);
        if (!refs) return 1;
        for (size_t k = 0; k < nrefs; k++)
            relay_object_ref(o, k, &refs[k]);
        int rc = relay_ctx_return_object(ctx, i, relay_object_data(o), relay_object_size(o), refs,
                                         nrefs);
        free(refs);
        if (rc != RELAY_OK) return 1;
    }
    return 0;
}

static int fn_fail(relay_ctx_t *ctx)
{
    relay_ctx_fail(ctx, "%s fails on purpose", FUZZ_FN_FAIL);
    return 1;
}

static int fn_put(relay_ctx_t *ctx)
{
    size_t n;
    const void *d = arg(ctx, 0, &n);
    relay_ref_t ref;
    if (relay_put(d ? d : "", n, &ref) != RELAY_OK) return 1;
    int rc = RELAY_OK;
    for (size_t i = 0; i < relay_ctx_num_returns(ctx) && rc == RELAY_OK; i++)
        rc = relay_ctx_return_object(ctx, i, &i, sizeof i, &ref, 1);
    relay_release(ref); /* the returns keep it alive */
    return rc != RELAY_OK;
}

/* Value arguments the size of a ref are refs to look at (get, retain,
 * release, wait); what happens to each (unknown, not ready, failed) does
 * not matter, only that it is answered. */
static int fn_get(relay_ctx_t *ctx)
{
    relay_ref_t refs[8];
    size_t n = 0;
    for (size_t i = 0; i < relay_ctx_num_args(ctx) && n < 8; i++) {
        size_t size;
        const void *d = arg(ctx, i, &size);
        if (d && size == sizeof refs[0]) memcpy(&refs[n++], d, sizeof refs[0]);
    }
    for (size_t i = 0; i < n; i++) {
        relay_object_t o = NULL; /* an error object comes back with its status: freed too */
        relay_get(refs[i], i % 2 ? 0 : FUZZ_WAIT_MAX_S / 2, &o);
        if (o) relay_object_free(o);
        /* Odd ones are released without a hold: that must fail cleanly. */
        if (i % 2)
            relay_release(refs[i]);
        else if (relay_retain(refs[i]) == RELAY_OK)
            relay_release(refs[i]);
    }
    int ready[8];
    size_t nready;
    relay_wait(refs, n, n, 0, ready, &nready);
    uint64_t v = n;
    return relay_ctx_return(ctx, 0, &v, sizeof v) != RELAY_OK;
}

static int fn_sleep(relay_ctx_t *ctx)
{
    uint64_t ms = arg_u64(ctx, 0) % (FUZZ_SLEEP_MAX_MS + 1);
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
    return relay_ctx_return(ctx, 0, &ms, sizeof ms) != RELAY_OK;
}

static int fn_nested(relay_ctx_t *ctx)
{
    size_t n;
    const void *d = arg(ctx, 0, &n);
    relay_arg_t a = relay_arg_value(d ? d : "", n);
    relay_ref_t child;
    if (relay_submit(FUZZ_FN_ECHO, &a, 1, NULL, &child) != RELAY_OK) return 1;
    relay_object_t o = NULL;
    int rc = relay_get(child, FUZZ_WAIT_MAX_S, &o);
    if (rc == RELAY_OK) rc = relay_ctx_return(ctx, 0, relay_object_data(o), relay_object_size(o));
    if (o) relay_object_free(o); /* an error object too */
    relay_release(child);
    return rc != RELAY_OK;
}

/* Argument 0: an actor handle; 1: a name to look up; 2: non-zero to kill. */
static int fn_actor(relay_ctx_t *ctx)
{
    size_t n;
    const void *d = arg(ctx, 0, &n);
    relay_actor_t actor;
    if (!d || n != sizeof actor) return 1;
    memcpy(&actor, d, sizeof actor);
    uint64_t one = 1;
    relay_arg_t a = relay_arg_value(&one, sizeof one);
    relay_ref_t r;
    if (relay_actor_call(actor, "add", &a, 1, NULL, &r) == RELAY_OK) relay_release(r);
    const char *name = arg(ctx, 1, &n);
    char buf[RELAY_MAX_NAME];
    if (name && n > 0 && n < sizeof buf) {
        memcpy(buf, name, n);
        buf[n] = '\0';
        relay_actor_t found;
        relay_actor_lookup(buf, &found);
    }
    if (arg_u64(ctx, 2)) relay_actor_kill(actor);
    return relay_ctx_return(ctx, 0, &one, sizeof one) != RELAY_OK;
}

static int counter_init(relay_ctx_t *ctx, void **state_p)
{
    int64_t *c = malloc(sizeof *c);
    if (!c) return 1;
    *c = (int64_t)arg_u64(ctx, 0);
    *state_p = c;
    return 0;
}

static void counter_fini(void *state)
{
    free(state);
}

static int counter_add(relay_ctx_t *ctx, void *state)
{
    int64_t *c = state;
    for (size_t i = 0; i < relay_ctx_num_args(ctx); i++)
        *c += (int64_t)arg_u64(ctx, i);
    return relay_ctx_return(ctx, 0, c, sizeof *c) != RELAY_OK;
}

static int counter_get(relay_ctx_t *ctx, void *state)
{
    return relay_ctx_return(ctx, 0, state, sizeof(int64_t)) != RELAY_OK;
}

/* A method that blocks: its actor's CPUs go back to the rank meanwhile. */
static int counter_wait(relay_ctx_t *ctx, void *state)
{
    (void)state;
    return fn_get(ctx);
}

int fuzz_register(void)
{
    static const struct {
        const char *name;
        relay_fn_t fn;
    } fns[] = {{FUZZ_FN_ECHO, fn_echo},  {FUZZ_FN_FAIL, fn_fail},   {FUZZ_FN_PUT, fn_put},
               {FUZZ_FN_GET, fn_get},    {FUZZ_FN_SLEEP, fn_sleep}, {FUZZ_FN_NESTED, fn_nested},
               {FUZZ_FN_ACTOR, fn_actor}};
    static const relay_method_t methods[] = {{"add", counter_add, RELAY_ANY_ARGS},
                                             {"get", counter_get, 0},
                                             {"wait", counter_wait, RELAY_ANY_ARGS}};
    const relay_actor_class_t cls = {counter_init, RELAY_ANY_ARGS, counter_fini, methods,
                                     sizeof methods / sizeof methods[0]};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        int rc = relay_register(fns[i].name, fns[i].fn);
        if (rc != RELAY_OK) return rc;
    }
    return relay_register_actor(FUZZ_CLASS, &cls);
}
