/*
 * relay-nested: the seed's "nested remote functions" example.
 *
 *   f() returns 1
 *   g() submits f four times and returns the four refs (an object that
 *       contains them)
 *   h() submits f four times, waits for them and returns the four values
 *
 * Run with e.g. `mpirun -np 3 relay-nested`. Rank 0 is the driver; the other
 * ranks host the workers that run f, g and h.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "app.h"
#include "relay.h"

#define NUM_F 4

static void report(const char *what, int rc)
{
    fprintf(stderr, "relay-nested: %s: %s (%s)\n", what, relay_strerror(rc), relay_last_error());
}

static int f(relay_ctx_t *ctx)
{
    int one = 1;
    TASK_CHECK(ctx, relay_ctx_return(ctx, 0, &one, sizeof one));
    return 0;
}

static int submit_f(relay_ref_t refs[NUM_F])
{
    for (int i = 0; i < NUM_F; i++) {
        int rc = relay_submit("f", NULL, 0, NULL, &refs[i]);
        if (rc != RELAY_OK) {
            if (i > 0) relay_release_many(refs, (size_t)i);
            return rc;
        }
    }
    return RELAY_OK;
}

/* g: return the refs of four f tasks, not their values. */
static int g(relay_ctx_t *ctx)
{
    relay_ref_t refs[NUM_F];
    TASK_CHECK(ctx, submit_f(refs));
    int rc = relay_ctx_return_object(ctx, 0, NULL, 0, refs, NUM_F);
    /* The returned object keeps the refs alive; our own holds can go now
     * (releases inside a task take effect after its returns are recorded). */
    int rc2 = relay_release_many(refs, NUM_F);
    TASK_CHECK(ctx, rc);
    TASK_CHECK(ctx, rc2);
    return 0;
}

/* h: wait for four f tasks and return their values. */
static int h(relay_ctx_t *ctx)
{
    relay_ref_t refs[NUM_F];
    relay_object_t objs[NUM_F];
    int values[NUM_F];

    TASK_CHECK(ctx, submit_f(refs));
    int rc = relay_get_many(refs, NUM_F, RELAY_FOREVER, objs);
    if (rc == RELAY_OK) {
        for (int i = 0; i < NUM_F; i++) {
            int v = -1;
            if (relay_object_size(objs[i]) == sizeof v) {
                const int *p = relay_object_data(objs[i]);
                v = *p;
            }
            values[i] = v;
        }
    }
    /* get_many sets every view unless it failed as a whole. */
    if (rc == RELAY_OK || rc == RELAY_ERR_TASK_FAILED || rc == RELAY_ERR_INVALID_REF) {
        for (int i = 0; i < NUM_F; i++)
            relay_object_free(objs[i]);
    }
    int rc2 = relay_release_many(refs, NUM_F);
    TASK_CHECK(ctx, rc);
    TASK_CHECK(ctx, rc2);
    TASK_CHECK(ctx, relay_ctx_return(ctx, 0, values, sizeof values));
    return 0;
}

/* Driver: get(g()) and check that it holds four live refs to f's result. */
static int run_g(void)
{
    relay_ref_t gref;
    relay_object_t obj = NULL;
    int rc, ok = 1;

    if ((rc = relay_submit("g", NULL, 0, NULL, &gref)) != RELAY_OK) {
        report("submit g", rc);
        return 1;
    }
    if ((rc = relay_get(gref, RELAY_FOREVER, &obj)) != RELAY_OK) {
        report("get(g())", rc);
        if (obj != NULL) {
            fprintf(stderr, "relay-nested: g failed: %s\n", relay_object_error(obj));
            relay_object_free(obj);
        }
        relay_release(gref);
        return 1;
    }

    size_t n = relay_object_num_refs(obj);
    relay_ref_t refs[NUM_F] = {{0}};
    printf("get(g()) -> [");
    for (size_t i = 0; i < n; i++) {
        relay_ref_t r;
        if ((rc = relay_object_ref(obj, i, &r)) != RELAY_OK) {
            printf("\n");
            report("relay_object_ref", rc);
            ok = 0;
            break;
        }
        if (i < NUM_F) refs[i] = r;
        printf("%sObjectRef(0x%016" PRIx64 ")", i ? ", " : "", r.id);
    }
    printf("]\n");
    fflush(stdout);

    if (ok && n != NUM_F) {
        fprintf(stderr, "relay-nested: get(g()) holds %zu refs, expected %d\n", n, NUM_F);
        ok = 0;
    }
    /* The contained refs are borrowed from the view's object, which our
     * hold on gref keeps alive: each must be a distinct ref whose value is 1. */
    for (int i = 0; ok && i < NUM_F; i++) {
        int bad = refs[i].id == 0;
        for (int j = 0; j < i; j++)
            bad |= refs[j].id == refs[i].id;
        if (bad) {
            fprintf(stderr, "relay-nested: get(g()) refs are not distinct and non-null\n");
            ok = 0;
        }
        int v = 0;
        if (ok && (rc = relay_get_value(refs[i], &v, sizeof v, RELAY_FOREVER)) != RELAY_OK) {
            report("get of a ref returned by g", rc);
            ok = 0;
        } else if (ok && v != 1) {
            fprintf(stderr, "relay-nested: ref %d returned by g has value %d, expected 1\n", i, v);
            ok = 0;
        }
    }

    if ((rc = relay_object_free(obj)) != RELAY_OK) {
        report("relay_object_free", rc);
        ok = 0;
    }
    if ((rc = relay_release(gref)) != RELAY_OK) {
        report("release g", rc);
        ok = 0;
    }
    return ok ? 0 : 1;
}

/* Driver: get(h()) must be [1, 1, 1, 1]. */
static int run_h(void)
{
    relay_ref_t href;
    int values[NUM_F];
    int rc, ok = 1;

    if ((rc = relay_submit("h", NULL, 0, NULL, &href)) != RELAY_OK) {
        report("submit h", rc);
        return 1;
    }
    rc = relay_get_value(href, values, sizeof values, RELAY_FOREVER);
    if (rc != RELAY_OK) {
        report("get(h())", rc);
        ok = 0;
    } else {
        printf("get(h()) -> [");
        for (int i = 0; i < NUM_F; i++) {
            printf("%s%d", i ? ", " : "", values[i]);
            if (values[i] != 1) ok = 0;
        }
        printf("]\n");
        fflush(stdout);
        if (!ok) fprintf(stderr, "relay-nested: get(h()) differs from [1, 1, 1, 1]\n");
    }
    if ((rc = relay_release(href)) != RELAY_OK) {
        report("release h", rc);
        ok = 0;
    }
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    int rc, rank = -1, failed = 0;

    /* Register on every rank, before relay_init; the order does not matter. */
    if ((rc = relay_register("g", g)) != RELAY_OK || (rc = relay_register("h", h)) != RELAY_OK ||
        (rc = relay_register("f", f)) != RELAY_OK) {
        report("relay_register", rc);
        return 1;
    }
    if ((rc = relay_init(NULL, NULL, NULL)) != RELAY_OK) {
        report("relay_init", rc);
        return 1;
    }
    if ((rc = relay_rank(&rank)) != RELAY_OK) {
        report("relay_rank", rc);
        failed = 1;
    }

    if (rank == 0) {
        failed |= run_g();
        failed |= run_h();
    }

    /* Workers serve tasks until the driver finalises. */
    if ((rc = relay_finalize()) != RELAY_OK) {
        report("relay_finalize", rc);
        failed = 1;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
