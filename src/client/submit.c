/* relay_submit: checks a task's arguments and options, packs small values
 * into the SUBMIT record and makes objects of large ones. Actor calls and
 * constructors go the same way (client/actor_calls.c). */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>

#include "comm.h"
#include "log.h"
#include "registry.h"
#include "runtime.h"
#include "trace.h"
#include "worker.h"

/* ---------------------------------------------------------------------- */
/* submit                                                                   */
/* ---------------------------------------------------------------------- */

int relay__check_args(const char *call, const char *fn, const relay_arg_t *args, size_t nargs)
{
    if (nargs > RELAY_MAX_ARGS)
        return relay__error(RELAY_ERR_OUT_OF_RANGE, "%s(%s): %zu arguments, at most %d", call, fn,
                            nargs, RELAY_MAX_ARGS);
    if (nargs && !args)
        return relay__error(RELAY_ERR_INVALID_ARG, "%s(%s): args is NULL", call, fn);
    for (size_t i = 0; i < nargs; i++) {
        if (args[i].kind == RELAY_ARG_VALUE) {
            if (!args[i].data && args[i].size)
                return relay__error(RELAY_ERR_INVALID_ARG, "%s(%s): argument %zu has NULL data",
                                    call, fn, i);
        } else if (args[i].kind != RELAY_ARG_REF) {
            return relay__error(RELAY_ERR_INVALID_ARG, "%s(%s): argument %zu has unknown kind %d",
                                call, fn, i, (int)args[i].kind);
        }
    }
    relay__ref_uses_t refs = {call, fn, NULL, args, nargs};
    return relay__check_ref_uses(&refs);
}

int relay__check_task_name(const char *call, const char *fn, const char *name)
{
    if (!name || !*name || strlen(name) >= RELAY_MAX_NAME)
        return relay__error(RELAY_ERR_INVALID_ARG, "%s(%s): task name must have 1..%d characters",
                            call, fn, RELAY_MAX_NAME - 1);
    return RELAY_OK;
}

int relay__check_num_returns(const char *call, const char *fn, int nret)
{
    if (nret < 0 || nret > RELAY_MAX_RETURNS)
        return relay__error(RELAY_ERR_OUT_OF_RANGE, "%s(%s): num_returns %d not in 0..%d", call, fn,
                            nret, RELAY_MAX_RETURNS);
    return RELAY_OK;
}

int relay__check_returns_p(const char *call, const char *fn, int nret, const relay_ref_t *returns_p)
{
    if (nret > 0 && !returns_p)
        return relay__error(RELAY_ERR_INVALID_ARG, "%s(%s): returns_p is NULL", call, fn);
    return RELAY_OK;
}

static int check_submit(const char *fn, const relay_arg_t *args, size_t nargs,
                        const relay_task_opts_t *opts, relay_ref_t *returns_p, relay__submit_t *sb)
{
    if (!fn) return relay__error(RELAY_ERR_INVALID_ARG, "relay_submit: fn is NULL");
    memset(sb, 0, sizeof *sb);
    sb->fn_hash = relay__fn_hash(fn);
    if (!relay__fn_lookup(sb->fn_hash, NULL))
        return relay__error(RELAY_ERR_UNKNOWN_FUNCTION,
                            "relay_submit: no function registered as '%s' on rank %d", fn,
                            relay__g.rank);
    sb->call = "relay_submit";
    sb->fn = sb->name = fn;
    sb->nret = 1;
    sb->kind = RELAY__KIND_TASK;
    if (opts && (opts->field_mask & RELAY_TASK_OPT_NUM_RETURNS)) sb->nret = opts->num_returns;
    if (opts && (opts->field_mask & RELAY_TASK_OPT_MAX_RETRIES)) sb->retries = opts->max_retries;
    if (opts && (opts->field_mask & RELAY_TASK_OPT_NAME)) sb->name = opts->name;
    int rc;
    if ((rc = relay__check_num_returns("relay_submit", fn, sb->nret)) ||
        (rc = relay__check_returns_p("relay_submit", fn, sb->nret, returns_p)))
        return rc;
    if (sb->retries < 0 || sb->retries > RELAY__MAX_RETRIES)
        return relay__error(RELAY_ERR_OUT_OF_RANGE, "relay_submit(%s): max_retries %d not in 0..%d",
                            fn, sb->retries, RELAY__MAX_RETRIES);
    if ((rc = relay__check_task_name("relay_submit", fn, sb->name)) ||
        (rc = relay__check_args("relay_submit", fn, args, nargs)))
        return rc;
    return relay__demand_make(fn, opts, &sb->demand);
}

/* Bytes of values one task record may carry: far below MPI's count limit
 * however many arguments a task has. */
#define INLINE_TASK_MAX ((size_t)16 << 20)

/* Whether a travels inside the task record: a value of at most inline_max
 * bytes that keeps the record's values within INLINE_TASK_MAX. *total: the
 * inline bytes so far. The same sequence of calls gives the same answers. */
static int travels_inline(const relay_arg_t *a, size_t *total)
{
    if (a->kind != RELAY_ARG_VALUE || a->size > relay__g.cfg.inline_max ||
        *total + a->size > INLINE_TASK_MAX)
        return 0;
    *total += a->size;
    return 1;
}

/* Values that do not travel inline become objects of their own, made
 * before taking the lock (the task pins them). NULL *big_p when none.
 * Returns their count, or -1 when out of memory (logged). */
static long copy_big_args(const char *call, const relay_arg_t *args, size_t nargs,
                          struct relay_object ***big_p)
{
    size_t nbig = 0, total = 0;
    *big_p = NULL;
    for (size_t i = 0; i < nargs; i++)
        nbig += args[i].kind == RELAY_ARG_VALUE && !travels_inline(&args[i], &total);
    if (!nbig) return 0;
    struct relay_object **big = calloc(nbig, sizeof *big);
    if (!big) return relay__error(RELAY_ERR_NO_MEMORY, "%s: out of memory", call), -1;
    total = 0;
    for (size_t i = 0, k = 0; i < nargs; i++) {
        if (args[i].kind != RELAY_ARG_VALUE || travels_inline(&args[i], &total)) continue;
        big[k] = relay__obj_copy(relay__id_make(relay__g.rank, relay__new_seq(), 0), args[i].data,
                                 args[i].size, NULL, 0);
        if (!big[k]) {
            for (size_t j = 0; j < k; j++)
                relay__obj_unref(big[j]);
            free(big);
            relay__error(RELAY_ERR_NO_MEMORY, "%s: cannot copy argument %zu", call, i);
            return -1;
        }
        k++;
    }
    *big_p = big;
    return (long)nbig;
}

/* Where a submission's arguments go: inline values, or refs (the
 * program's, or copies of values too big to travel inline, in order). */
typedef struct submit_args {
    const relay_arg_t *args;
    struct relay_object **big;
    size_t total, nbig;
} submit_args_t;

static void submit_arg(void *ctx, uint32_t i, relay__rec_arg_t *a_p)
{
    submit_args_t *s = ctx;
    const relay_arg_t *a = &s->args[i];
    if (travels_inline(a, &s->total)) {
        a_p->kind = RELAY_ARG_VALUE;
        a_p->data = a->data;
        a_p->size = a->size;
    } else {
        a_p->kind = RELAY_ARG_REF;
        a_p->ref = a->kind == RELAY_ARG_REF ? a->ref.id : s->big[s->nbig++]->id;
    }
}

/* What a SUBMIT record is made of. */
typedef struct submit_msg {
    const relay__submit_t *sb;
    uint64_t task_id;
    const relay_arg_t *args;
    size_t nargs;
    struct relay_object **big;
} submit_msg_t;

static void encode_submit(relay__wbuf_t *w, uint64_t req, const void *arg)
{
    const submit_msg_t *x = arg;
    const relay__submit_t *sb = x->sb;
    submit_args_t src = {x->args, x->big, 0, 0};
    relay__rec_submit_t m;
    m.task_id = x->task_id;
    m.fn_hash = sb->fn_hash;
    m.fn = sb->fn;
    m.name = sb->name;
    m.nret = (uint32_t)sb->nret;
    m.retries = (uint32_t)sb->retries;
    m.args = (relay__rec_args_t){(uint32_t)x->nargs, submit_arg, &src, {0}};
    m.has_demand = !relay__demand_is_default(&sb->demand);
    if (m.has_demand) m.demand = sb->demand;
    m.kind = sb->kind;
    m.req = req;
    m.max_conc = sb->max_conc;
    m.actor_name = sb->actor_name;
    m.actor_id = sb->actor_id;
    m.class_hash = sb->class_hash;
    m.keeps_cpu = sb->keeps_cpu;
    m.caller = sb->caller;
    /* Submitted from inside a task: that task is its parent. */
    relay_ctx_t *cur = relay__worker_current();
    m.parent = 0;
    if (cur) relay_ctx_task_id(cur, &m.parent);
    relay__rec_submit_encode(w, &m);
}

int relay__client_submit(relay__submit_t *sb, const relay_arg_t *args, size_t nargs,
                         uint64_t *task_id_p, relay_ref_t *returns_p)
{
    struct relay_object **big;
    long nbig = copy_big_args(sb->call, args, nargs, &big);
    if (nbig < 0) return RELAY_ERR_NO_MEMORY;
    uint64_t task_id = relay__id_make(relay__g.rank, relay__new_seq(), 0);
    double t_sub = relay__trace_clock(); /* its queued span starts here */
    int rc = RELAY_OK;
    pthread_mutex_lock(&relay__g.lock);
    if (relay__g.shutting_down) {
        rc = relay__error(RELAY_ERR_SHUTDOWN, "%s: relay is shutting down", sb->call);
    } else {
        for (long j = 0; j < nbig; j++)
            relay__publish(big[j]);
        /* A named actor waits for rank 0 to take its name. */
        relay__batch_t b;
        relay__req_t q;
        submit_msg_t msg = {sb, task_id, args, nargs, big};
        relay__req_send(RELAY__R_SUBMIT, encode_submit, &msg, sb->want_reply ? &q : NULL, &b);
        for (int i = 0; i < sb->nret; i++)
            relay__hold_add(task_id | (unsigned)i);
        /* The task pins the copies now; this rank never held them. */
        for (long j = 0; j < nbig; j++)
            relay__post_release(&big[j]->id, 1);
        if (sb->want_reply) rc = relay__req_wait(&q, &b, RELAY_FOREVER);
        /* EXISTS (a taken actor name) the caller words itself. */
        if (rc != RELAY_OK && rc != RELAY_ERR_EXISTS)
            rc = relay__error(rc, "%s: %s", sb->call, relay_strerror(rc));
    }
    pthread_mutex_unlock(&relay__g.lock);
    for (long j = 0; j < nbig; j++)
        relay__obj_unref(big[j]);
    free(big);
    if (rc != RELAY_OK) return rc;
    for (int i = 0; i < sb->nret; i++)
        returns_p[i].id = task_id | (unsigned)i;
    if (task_id_p) *task_id_p = task_id;
    atomic_fetch_add_explicit(&relay__g.tasks_submitted, 1, memory_order_relaxed);
    relay__trace_submit(task_id, sb->fn, t_sub);
    return RELAY_OK;
}

int relay_submit(const char *fn, const relay_arg_t *args, size_t nargs,
                 const relay_task_opts_t *opts, relay_ref_t *returns_p)
{
    int rc = relay__check_on("relay_submit");
    if (rc) return rc;
    relay__submit_t sb;
    if ((rc = check_submit(fn, args, nargs, opts, returns_p, &sb))) return rc;
    return relay__client_submit(&sb, args, nargs, NULL, returns_p);
}
