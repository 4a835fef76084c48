#include "worker.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "comm.h"
#include "doorbell.h"
#include "log.h"
#include "object.h"
#include "registry.h"
#include "runtime.h"
#include "store.h"

/* How long an idle worker polls for tasks before it sleeps. */
#define IDLE_SPIN_SECONDS 50e-6
/* Threads beyond the CPU slots, started for tasks blocked in get. */
#define EXTRA_THREADS 512

typedef struct warg {
    uint8_t kind;
    uint64_t ref;
    struct relay_object *obj; /* complete, or the target of a fetch */
    int holder;               /* >= 0: bytes still to fetch from there */
} warg_t;

struct relay_ctx {
    uint64_t task_id, fn_hash;
    char *fn, *name;
    uint32_t nret, attempt, nargs;
    double seconds; /* the function's run time */
    warg_t *args;
    struct relay_object **rets;
    int failed;
    char *fail_msg;
    uint64_t *deferred;
    size_t ndeferred, capdeferred;
    relay_ctx_t *next;
};

typedef struct relay__pool {
    relay_ctx_t *head, *tail;
    int ncpus, nthreads, idle, active, max_threads;
    int stop, acked;
    int spinning; /* a worker thread is polling for tasks */
    pthread_cond_t cv;
    pthread_t *threads;
} relay__pool_t;

static _Thread_local relay_ctx_t *tls_ctx;

relay_ctx_t *relay__worker_current(void)
{
    return tls_ctx;
}

static void ctx_free(relay_ctx_t *c)
{
    for (uint32_t i = 0; i < c->nargs; i++)
        relay__obj_unref(c->args[i].obj);
    for (uint32_t i = 0; i < c->nret; i++)
        relay__obj_unref(c->rets[i]);
    free(c->fail_msg);
    free(c->deferred);
    free(c); /* tables and names share its allocation */
}

/* ---------------------------------------------------------------------- */
/* Completion                                                               */
/* ---------------------------------------------------------------------- */

static void post_cpu(int delta)
{
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_CPU, &start);
    relay__put_u32(w, (uint32_t)delta);
    relay__msg_end(0, w, start);
}

/* A DONE that fails a task this rank could not even parse. Lock held. */
static void post_failure(uint64_t task_id, int status, const char *msg)
{
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_DONE, &start);
    relay__put_u64(w, task_id);
    relay__put_u32(w, (uint32_t)status);
    relay__put_u64(w, 0);
    relay__put_str(w, msg);
    relay__put_u32(w, 0); /* no returns */
    relay__put_u32(w, 0); /* no releases */
    relay__msg_end(0, w, start);
}

static void post_done(relay_ctx_t *c, int rc)
{
    char msg[1024] = "";
    int status = RELAY_OK;
    if (c->failed || rc != 0) {
        status = RELAY_ERR_TASK_FAILED;
        char reason[900];
        if (c->fail_msg)
            snprintf(reason, sizeof reason, "%s", c->fail_msg);
        else
            snprintf(reason, sizeof reason, "function returned %d", rc);
        snprintf(msg, sizeof msg, "task '%s' (function '%s') failed on rank %d: %s", c->name, c->fn,
                 relay__g.rank, reason);
    }
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_DONE, &start);
    relay__put_u64(w, c->task_id);
    relay__put_u32(w, (uint32_t)status);
    relay__put_u64(w, (uint64_t)(c->seconds * 1e9));
    relay__put_str(w, msg);
    relay__put_u32(w, status == RELAY_OK ? c->nret : 0);
    for (uint32_t i = 0; status == RELAY_OK && i < c->nret; i++) {
        struct relay_object *o = c->rets[i];
        if (!o) {
            o = c->rets[i] = relay__obj_new(c->task_id | i, 0, 0);
            if (!o) abort();
        }
        if (o->size <= relay__g.cfg.inline_max) {
            relay__desc_put_obj(w, o);
        } else {
            relay__store_insert(o);
            relay__desc_put_remote(w, o->size, o->refs, o->nrefs, relay__g.rank);
        }
    }
    relay__put_u32(w, (uint32_t)c->ndeferred);
    relay__put_bytes(w, c->deferred, c->ndeferred * sizeof(uint64_t));
    relay__msg_end(0, w, start);
}

/* The rank tells rank 0 it is idle once shutting down. Lock held. */
static void maybe_ack(void)
{
    relay__pool_t *p = relay__g.pool;
    if (!relay__g.shutting_down) return;
    if (p && (p->acked || p->active > 0)) return;
    if (p) p->acked = 1;
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_SHUTDOWN_ACK, &start);
    relay__msg_end(0, w, start);
}

/* ---------------------------------------------------------------------- */
/* Running a task                                                           */
/* ---------------------------------------------------------------------- */

static void fail_ctx(relay_ctx_t *c, const char *fmt, ...)
{
    char buf[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    c->failed = 1;
    free(c->fail_msg);
    c->fail_msg = strdup(buf);
}

/* Fetch the bytes of large arguments held elsewhere. Lock held. */
static int fetch_args(relay_ctx_t *c)
{
    relay__batch_t b = {.completed = 0, .need = 0};
    pthread_cond_init(&b.cv, NULL);
    relay__fetch_t **fs = calloc(c->nargs ? c->nargs : 1, sizeof *fs);
    int rc = fs ? RELAY_OK : RELAY_ERR_NO_MEMORY;
    for (uint32_t i = 0; rc == RELAY_OK && i < c->nargs; i++) {
        if (c->args[i].holder < 0) continue;
        fs[i] = relay__fetch_start(c->args[i].holder, c->args[i].obj, &b);
        if (!fs[i])
            rc = RELAY_ERR_NO_MEMORY;
        else
            b.need++; /* nothing completes before the lock is released */
    }
    while (b.completed < b.need)
        pthread_cond_wait(&b.cv, &relay__g.lock);
    for (uint32_t i = 0; fs && i < c->nargs; i++) {
        if (!fs[i]) continue;
        if (fs[i]->status != RELAY_OK && rc == RELAY_OK) {
            rc = fs[i]->status;
            fail_ctx(c, "argument %u (ref %#llx) could not be fetched from rank %d: %s", i,
                     (unsigned long long)c->args[i].ref, c->args[i].holder, relay_strerror(rc));
        }
        relay__fetch_finish(fs[i]);
        c->args[i].holder = -1;
    }
    free(fs);
    pthread_cond_destroy(&b.cv);
    return rc;
}

/* Lock held on entry and exit; released while the function runs. */
static void run_task(relay_ctx_t *c)
{
    if (fetch_args(c) != RELAY_OK) {
        post_done(c, -1);
        return;
    }
    const char *name = NULL;
    relay_fn_t fn = relay__fn_lookup(c->fn_hash, &name);
    if (!fn || strcmp(name, c->fn) != 0) {
        fail_ctx(c, "function '%s' is not registered on rank %d", c->fn, relay__g.rank);
        post_done(c, -1);
        return;
    }
    pthread_mutex_unlock(&relay__g.lock);
    tls_ctx = c;
    double t0 = relay__now();
    int rc = fn(c);
    c->seconds = relay__now() - t0;
    tls_ctx = NULL;
    pthread_mutex_lock(&relay__g.lock);
    atomic_fetch_add_explicit(&relay__g.tasks_executed, 1, memory_order_relaxed);
    post_done(c, rc);
}

/* An idle worker first polls for tasks itself (one thread at a time): the
 * thread that receives a task then runs it, with no hand-off, and its
 * completion leaves at once. Lock held. */
static void poll_for_work(relay__pool_t *p)
{
    p->spinning = 1;
    p->idle++;
    double end = relay__now() + IDLE_SPIN_SECONDS;
    while (!p->head && !p->stop && relay__now() < end) {
        pthread_mutex_unlock(&relay__g.lock);
        int work = relay__comm_poll();
        if (work <= 0) sched_yield();
        pthread_mutex_lock(&relay__g.lock);
        if (work > 0) end = relay__now() + IDLE_SPIN_SECONDS;
    }
    p->idle--;
    p->spinning = 0;
}

static void *worker_main(void *arg)
{
    relay__pool_t *p = arg;
    pthread_mutex_lock(&relay__g.lock);
    for (;;) {
        if (!p->head && !p->stop && !p->spinning) {
            if (!relay__bell_oversubscribed()) {
                poll_for_work(p);
            } else {
                /* No spinning here, but send the completion just queued
                 * rather than wake the runtime thread for it. */
                pthread_mutex_unlock(&relay__g.lock);
                relay__comm_poll();
                pthread_mutex_lock(&relay__g.lock);
            }
        }
        while (!p->head && !p->stop) {
            p->idle++;
            pthread_cond_wait(&p->cv, &relay__g.lock);
            p->idle--;
        }
        if (!p->head) break;
        relay_ctx_t *c = p->head;
        p->head = c->next;
        if (!p->head) p->tail = NULL;
        if (!relay__g.shutting_down) {
            p->active++;
            run_task(c);
            p->active--;
        }
        ctx_free(c);
        maybe_ack();
    }
    pthread_mutex_unlock(&relay__g.lock);
    return NULL;
}

static int spawn(relay__pool_t *p)
{
    if (p->nthreads >= p->max_threads) return -1;
    if (pthread_create(&p->threads[p->nthreads], NULL, worker_main, p) != 0) return -1;
    p->nthreads++;
    return 0;
}

int relay__pool_start(int ncpus)
{
    relay__pool_t *p = calloc(1, sizeof *p);
    if (!p) return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory");
    p->ncpus = ncpus;
    p->max_threads = ncpus + EXTRA_THREADS;
    p->threads = calloc((size_t)p->max_threads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory");
    }
    pthread_cond_init(&p->cv, NULL);
    pthread_mutex_lock(&relay__g.lock);
    relay__g.pool = p;
    int rc = RELAY_OK;
    for (int i = 0; i < ncpus && rc == RELAY_OK; i++)
        if (spawn(p) != 0)
            rc = relay__error(RELAY_ERR_INTERNAL, "relay_init: cannot start worker thread %d", i);
    pthread_mutex_unlock(&relay__g.lock);
    return rc;
}

void relay__pool_join(void)
{
    relay__pool_t *p = relay__g.pool;
    if (!p) return;
    pthread_mutex_lock(&relay__g.lock);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    int n = p->nthreads;
    pthread_mutex_unlock(&relay__g.lock);
    /* Threads started after this point (none: stop is set) would be missed. */
    for (int i = 0; i < n; i++)
        pthread_join(p->threads[i], NULL);
    while (p->head) {
        relay_ctx_t *c = p->head;
        p->head = c->next;
        ctx_free(c);
    }
    pthread_mutex_lock(&relay__g.lock);
    relay__g.pool = NULL;
    pthread_mutex_unlock(&relay__g.lock);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}

void relay__worker_block(relay_ctx_t *ctx)
{
    (void)ctx;
    relay__pool_t *p = relay__g.pool;
    post_cpu(-1);
    /* The freed slot needs a thread to run the next task on it. */
    if (p && p->idle == 0 && !p->stop && spawn(p) != 0)
        relay__log(RELAY__LOG_WARN, "worker pool at its limit of %d threads", p->max_threads);
}

void relay__worker_unblock(relay_ctx_t *ctx)
{
    (void)ctx;
    post_cpu(+1);
}

void relay__worker_defer_releases(relay_ctx_t *c, const uint64_t *ids, size_t n)
{
    if (c->ndeferred + n > c->capdeferred) {
        size_t cap = c->capdeferred ? c->capdeferred : 8;
        while (cap < c->ndeferred + n)
            cap *= 2;
        uint64_t *d = realloc(c->deferred, cap * sizeof *d);
        if (!d) abort();
        c->deferred = d;
        c->capdeferred = cap;
    }
    memcpy(c->deferred + c->ndeferred, ids, n * sizeof *ids);
    c->ndeferred += n;
}

/* ---------------------------------------------------------------------- */
/* Handlers                                                                 */
/* ---------------------------------------------------------------------- */

static relay_ctx_t *parse_task(relay__rbuf_t *r)
{
    uint64_t task_id = relay__get_u64(r), fn_hash = relay__get_u64(r);
    const char *fn = relay__get_str(r), *name = relay__get_str(r);
    uint32_t nret = relay__get_u32(r), attempt = relay__get_u32(r), nargs = relay__get_u32(r);
    if (r->err || nargs > RELAY_MAX_ARGS || nret > RELAY_MAX_RETURNS) return NULL;
    size_t fn_len = strlen(fn) + 1, name_len = strlen(name) + 1;
    /* One allocation: context, argument and return tables, names. */
    relay_ctx_t *c = calloc(1, sizeof *c + nargs * sizeof(warg_t) +
                                   nret * sizeof(struct relay_object *) + fn_len + name_len);
    if (!c) return NULL;
    c->args = (warg_t *)(c + 1);
    c->rets = (struct relay_object **)(c->args + nargs);
    c->fn = (char *)(c->rets + nret);
    c->name = c->fn + fn_len;
    memcpy(c->fn, fn, fn_len);
    memcpy(c->name, name, name_len);
    c->task_id = task_id;
    c->fn_hash = fn_hash;
    c->nret = nret;
    c->attempt = attempt;
    c->nargs = nargs;
    for (uint32_t i = 0; i < c->nargs; i++) {
        warg_t *a = &c->args[i];
        a->kind = relay__get_u8(r);
        a->holder = -1;
        if (a->kind == RELAY_ARG_VALUE) {
            size_t n;
            const void *p = relay__get_blob(r, &n);
            a->obj = relay__obj_copy(0, p, n, NULL, 0);
        } else {
            a->ref = relay__get_u64(r);
            relay__desc_t d;
            relay__desc_get(r, &d);
            if (!d.is_inline) a->obj = relay__store_lookup(a->ref);
            if (!a->obj) {
                a->obj = relay__obj_from_desc(a->ref, &d);
                if (!d.is_inline) a->holder = d.holder;
            }
        }
        if (!a->obj || r->err) goto fail;
    }
    return c;
fail:
    c->nret = 0;
    ctx_free(c);
    return NULL;
}

void relay__worker_on_task(int src, relay__rbuf_t *r)
{
    (void)src;
    relay__pool_t *p = relay__g.pool;
    relay__rbuf_t head = *r;
    uint64_t task_id = relay__get_u64(&head);
    relay_ctx_t *c = parse_task(r);
    if (!c) {
        /* Fail it rather than drop it: its returns and dependents would wait forever. */
        char msg[160];
        snprintf(msg, sizeof msg, "rank %d could not take task %#llx (malformed or out of memory)",
                 relay__g.rank, (unsigned long long)task_id);
        relay__log(RELAY__LOG_ERROR, "%s", msg);
        if (!head.err) post_failure(task_id, RELAY_ERR_NO_MEMORY, msg);
        return;
    }
    if (!p || relay__g.shutting_down) {
        if (!p)
            relay__log(RELAY__LOG_ERROR, "task sent to rank %d, which hosts no workers",
                       relay__g.rank);
        fail_ctx(c, "rank %d hosts no workers", relay__g.rank);
        post_done(c, -1);
        ctx_free(c);
        return;
    }
    c->next = NULL;
    if (p->tail)
        p->tail->next = c;
    else
        p->head = c;
    p->tail = c;
    pthread_cond_signal(&p->cv);
}

void relay__worker_on_shutdown(int src, relay__rbuf_t *r)
{
    (void)src;
    (void)r;
    relay__g.shutting_down = 1;
    relay__client_fail_all();
    pthread_cond_broadcast(&relay__g.state_cv);
    relay__pool_t *p = relay__g.pool;
    if (p) {
        /* Queued tasks are abandoned; running ones finish (blocked gets in
         * them now fail with RELAY_ERR_SHUTDOWN). */
        while (p->head) {
            relay_ctx_t *c = p->head;
            p->head = c->next;
            ctx_free(c);
        }
        p->tail = NULL;
        pthread_cond_broadcast(&p->cv);
    }
    maybe_ack();
}

/* ---------------------------------------------------------------------- */
/* Task context (public)                                                    */
/* ---------------------------------------------------------------------- */

size_t relay_ctx_num_args(const relay_ctx_t *ctx)
{
    return ctx ? ctx->nargs : 0;
}
size_t relay_ctx_num_returns(const relay_ctx_t *ctx)
{
    return ctx ? ctx->nret : 0;
}

static int check_arg(const char *call, const relay_ctx_t *ctx, size_t i, const void *out)
{
    if (!ctx || !out)
        return relay__error(RELAY_ERR_INVALID_ARG, "%s: NULL %s", call, ctx ? "output" : "ctx");
    if (i >= ctx->nargs)
        return relay__error(RELAY_ERR_OUT_OF_RANGE, "%s: argument %zu, task '%s' has %u", call, i,
                            ctx->name, ctx->nargs);
    return RELAY_OK;
}

int relay_ctx_arg(relay_ctx_t *ctx, size_t i, const void **data_p, size_t *size_p)
{
    int rc = check_arg("relay_ctx_arg", ctx, i, data_p);
    if (rc) return rc;
    if (!size_p) return relay__error(RELAY_ERR_INVALID_ARG, "relay_ctx_arg: NULL size_p");
    *data_p = ctx->args[i].obj->data;
    *size_p = ctx->args[i].obj->size;
    return RELAY_OK;
}

int relay_ctx_arg_object(relay_ctx_t *ctx, size_t i, relay_object_t *obj_p)
{
    int rc = check_arg("relay_ctx_arg_object", ctx, i, obj_p);
    if (rc) return rc;
    *obj_p = ctx->args[i].obj;
    return RELAY_OK;
}

int relay_ctx_arg_ref(relay_ctx_t *ctx, size_t i, relay_ref_t *ref_p)
{
    int rc = check_arg("relay_ctx_arg_ref", ctx, i, ref_p);
    if (rc) return rc;
    if (ctx->args[i].kind != RELAY_ARG_REF)
        return relay__error(RELAY_ERR_INVALID_ARG,
                            "relay_ctx_arg_ref: argument %zu was passed "
                            "by value",
                            i);
    ref_p->id = ctx->args[i].ref;
    return RELAY_OK;
}

int relay_ctx_return_object(relay_ctx_t *ctx, size_t i, const void *data, size_t size,
                            const relay_ref_t *refs, size_t nrefs)
{
    if (!ctx) return relay__error(RELAY_ERR_INVALID_ARG, "relay_ctx_return: NULL ctx");
    if (i >= ctx->nret)
        return relay__error(RELAY_ERR_OUT_OF_RANGE,
                            "relay_ctx_return: return %zu, task '%s' has %u", i, ctx->name,
                            ctx->nret);
    if ((!data && size) || (!refs && nrefs) || nrefs > UINT32_MAX)
        return relay__error(RELAY_ERR_INVALID_ARG, "relay_ctx_return: NULL %s",
                            !data && size ? "data" : "refs");
    for (size_t k = 0; k < nrefs; k++)
        if (refs[k].id == 0 || relay__id_rank(refs[k].id) >= relay__g.size)
            return relay__error(RELAY_ERR_INVALID_REF, "relay_ctx_return: ref %zu is invalid", k);
    struct relay_object *o = relay__obj_copy(ctx->task_id | (unsigned)i, data, size,
                                             (const uint64_t *)refs, (uint32_t)nrefs);
    if (!o)
        return relay__error(RELAY_ERR_NO_MEMORY, "relay_ctx_return: cannot allocate %zu bytes",
                            size);
    relay__obj_unref(ctx->rets[i]);
    ctx->rets[i] = o;
    return RELAY_OK;
}

int relay_ctx_return(relay_ctx_t *ctx, size_t i, const void *data, size_t size)
{
    return relay_ctx_return_object(ctx, i, data, size, NULL, 0);
}

int relay_ctx_fail(relay_ctx_t *ctx, const char *fmt, ...)
{
    if (!ctx || !fmt)
        return relay__error(RELAY_ERR_INVALID_ARG, "relay_ctx_fail: NULL %s", ctx ? "fmt" : "ctx");
    char buf[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fail_ctx(ctx, "%s", buf);
    return RELAY_OK;
}

int relay_ctx_rank(const relay_ctx_t *ctx, int *rank_p)
{
    if (!ctx || !rank_p)
        return relay__error(RELAY_ERR_INVALID_ARG, "relay_ctx_rank: NULL argument");
    *rank_p = relay__g.rank;
    return RELAY_OK;
}

int relay_ctx_task_id(const relay_ctx_t *ctx, uint64_t *task_id_p)
{
    if (!ctx || !task_id_p)
        return relay__error(RELAY_ERR_INVALID_ARG, "relay_ctx_task_id: NULL argument");
    *task_id_p = ctx->task_id;
    return RELAY_OK;
}
