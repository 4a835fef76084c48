/* The calls a task makes on its context (relay_ctx_*): its arguments, its
 * returns, failing with a message, where it runs and on which GPUs. Only
 * valid inside the task, on the thread that runs it. */
#include "worker.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"
#include "log.h"
#include "runtime.h"
#include "actor_host.h"
#include "worker_state.h"

size_t relay_ctx_num_args(const relay_ctx_t *ctx)
{
    return ctx ? ctx->nargs : 0;
}

size_t relay_ctx_num_returns(const relay_ctx_t *ctx)
{
    return ctx ? ctx->nret : 0;
}

/* A task relay_finalize abandoned finds relay off on its ctx: its calls
 * refuse. A NULL ctx is refused as such, relay on or not. */
static int ctx_check_on(const char *call, const relay_ctx_t *ctx)
{
    return ctx ? relay__check_on(call) : RELAY_OK;
}

static int check_arg(const char *call, const relay_ctx_t *ctx, size_t i, const void *out)
{
    int rc = ctx_check_on(call, ctx);
    if (rc) return rc;
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

static relay__ref_check_t ref_check;

void relay__ctx_set_ref_check(relay__ref_check_t check)
{
    ref_check = check;
}

/* ctx may set return i. */
static int check_return(const char *call, relay_ctx_t *ctx, size_t i)
{
    int rc = ctx_check_on(call, ctx);
    if (rc) return rc;
    if (!ctx) return relay__error(RELAY_ERR_INVALID_ARG, "%s: NULL ctx", call);
    if (i >= ctx->nret)
        return relay__error(RELAY_ERR_OUT_OF_RANGE, "%s: return %zu, task '%s' has %u", call, i,
                            ctx->name, ctx->nret);
    return RELAY_OK;
}

/* Return i is o from now on. */
static void set_return(relay_ctx_t *ctx, size_t i, struct relay_object *o)
{
    relay__obj_unref(ctx->rets[i]);
    ctx->rets[i] = o;
}

int relay_ctx_return_object(relay_ctx_t *ctx, size_t i, const void *data, size_t size,
                            const relay_ref_t *refs, size_t nrefs)
{
    int rc = check_return("relay_ctx_return", ctx, i);
    if (rc) return rc;
    if ((!data && size) || (!refs && nrefs) || nrefs > UINT32_MAX)
        return relay__error(RELAY_ERR_INVALID_ARG, "relay_ctx_return: NULL %s",
                            !data && size ? "data" : "refs");
    /* The refs an id can never name, which the DONE carrying them would
     * be refused for. */
    for (size_t k = 0; k < nrefs; k++)
        if (refs[k].id == 0 || relay__id_rank(refs[k].id) >= relay__g.size ||
            relay__id_index(refs[k].id) >= RELAY_MAX_RETURNS)
            return relay__error(RELAY_ERR_INVALID_REF, "relay_ctx_return: ref %zu is invalid", k);
    /* One this rank never made, or released and gone, is refused now: the
     * object would hold a dangling ref. */
    rc = ref_check ? ref_check("relay_ctx_return_object", refs, nrefs) : RELAY_OK;
    if (rc) return rc;
    struct relay_object *o = relay__obj_copy(ctx->task_id | (unsigned)i, data, size,
                                             (const uint64_t *)refs, (uint32_t)nrefs);
    if (!o)
        return relay__error(RELAY_ERR_NO_MEMORY, "relay_ctx_return: cannot allocate %zu bytes",
                            size);
    set_return(ctx, i, o);
    return RELAY_OK;
}

int relay_ctx_return(relay_ctx_t *ctx, size_t i, const void *data, size_t size)
{
    return relay_ctx_return_object(ctx, i, data, size, NULL, 0);
}

/* Return i becomes a new typed array: a copy of data, or (in_place) a
 * buffer given in *data_p for the task to fill. On error return i is left
 * as it was. */
static int array_return(const char *call, relay_ctx_t *ctx, size_t i, relay_dtype_t dtype,
                        int ndims, const uint64_t *dims, const void *data, void **data_p,
                        int in_place)
{
    relay__array_t a;
    size_t size;
    int rc = check_return(call, ctx, i);
    if (rc) return rc;
    if (in_place && !data_p) return relay__error(RELAY_ERR_INVALID_ARG, "%s: NULL data_p", call);
    if ((rc = relay__array_check(call, dtype, ndims, dims, &a, &size))) return rc;
    if (!in_place && !data && size)
        return relay__error(RELAY_ERR_INVALID_ARG, "%s: NULL data", call);
    struct relay_object *o = relay__obj_new(ctx->task_id | (unsigned)i, size, 0);
    if (!o || relay__obj_set_array(o, &a) != 0) {
        relay__obj_unref(o);
        return relay__error(RELAY_ERR_NO_MEMORY, "%s: cannot allocate %zu bytes", call, size);
    }
    if (in_place)
        *data_p = o->data;
    else if (size)
        memcpy(o->data, data, size);
    set_return(ctx, i, o);
    return RELAY_OK;
}

int relay_ctx_return_array(relay_ctx_t *ctx, size_t i, const void *data, relay_dtype_t dtype,
                           int ndims, const uint64_t *dims)
{
    return array_return("relay_ctx_return_array", ctx, i, dtype, ndims, dims, data, NULL, 0);
}

int relay_ctx_return_array_buffer(relay_ctx_t *ctx, size_t i, relay_dtype_t dtype, int ndims,
                                  const uint64_t *dims, void **data_p)
{
    return array_return("relay_ctx_return_array_buffer", ctx, i, dtype, ndims, dims, NULL, data_p,
                        1);
}

int relay_ctx_fail(relay_ctx_t *ctx, const char *fmt, ...)
{
    int rc = ctx_check_on("relay_ctx_fail", ctx);
    if (rc) return rc;
    if (!ctx || !fmt)
        return relay__error(RELAY_ERR_INVALID_ARG, "relay_ctx_fail: NULL %s", ctx ? "fmt" : "ctx");
    char buf[RELAY_MAX_ERROR];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* After a failed get, that failure follows the reason as its cause,
     * unless the reason quotes it already. */
    const char *cause =
        ctx->cause && !strstr(buf, ctx->cause + ctx->cause_detail) ? ctx->cause : NULL;
    char *msg = relay__errjoin(buf, " <- ", cause);
    if (!msg) {
        relay__ctx_failf(ctx, "%s", buf); /* out of memory: the reason alone */
        return RELAY_OK;
    }
    ctx->failed = 1;
    free(ctx->fail_msg);
    ctx->fail_msg = msg;
    return RELAY_OK;
}

int relay_ctx_rank(const relay_ctx_t *ctx, int *rank_p)
{
    int rc = ctx_check_on("relay_ctx_rank", ctx);
    if (rc) return rc;
    if (!ctx || !rank_p)
        return relay__error(RELAY_ERR_INVALID_ARG, "relay_ctx_rank: NULL argument");
    *rank_p = relay__g.rank;
    return RELAY_OK;
}

int relay_ctx_task_id(const relay_ctx_t *ctx, uint64_t *task_id_p)
{
    int rc = ctx_check_on("relay_ctx_task_id", ctx);
    if (rc) return rc;
    if (!ctx || !task_id_p)
        return relay__error(RELAY_ERR_INVALID_ARG, "relay_ctx_task_id: NULL argument");
    *task_id_p = ctx->task_id;
    return RELAY_OK;
}

int relay_ctx_cancelled(const relay_ctx_t *ctx)
{
    return ctx && relay__worker_cancel_bits(ctx) ? 1 : 0;
}

int relay_ctx_actor(const relay_ctx_t *ctx, relay_actor_t *actor_p)
{
    int rc = ctx_check_on("relay_ctx_actor", ctx);
    if (rc) return rc;
    if (!ctx || !actor_p)
        return relay__error(RELAY_ERR_INVALID_ARG, "relay_ctx_actor: NULL %s",
                            ctx ? "actor_p" : "ctx");
    if (ctx->kind == RELAY__KIND_TASK)
        return relay__error(RELAY_ERR_NOT_IN_TASK, "relay_ctx_actor: task '%s' is no actor's",
                            ctx->name);
    actor_p->id = ctx->actor_id;
    actor_p->class_hash = ctx->class_hash;
    return RELAY_OK;
}

/* The rank's GPU indices the task (or, for a method, its actor) holds. */
static uint32_t task_gpus(const relay_ctx_t *ctx, const uint32_t **index_p)
{
    uint32_t n = ctx->ngpu;
    *index_p = ctx->gpu_index;
    if (ctx->kind == RELAY__KIND_METHOD) relay__host_gpus(ctx, &n, index_p); /* its actor's */
    return n;
}

static int check_gpu_ids_args(const char *call, const relay_ctx_t *ctx, const int *ids,
                              size_t max_ids, const size_t *num_ids_p)
{
    int rc = ctx_check_on(call, ctx);
    if (rc) return rc;
    if (!ctx || !num_ids_p || (!ids && max_ids))
        return relay__error(RELAY_ERR_INVALID_ARG, "%s: NULL %s", call,
                            !ctx         ? "ctx"
                            : !num_ids_p ? "num_ids_p"
                                         : "ids");
    return RELAY_OK;
}

int relay_ctx_gpu_ids(const relay_ctx_t *ctx, int *ids, size_t max_ids, size_t *num_ids_p)
{
    int rc = check_gpu_ids_args("relay_ctx_gpu_ids", ctx, ids, max_ids, num_ids_p);
    if (rc) return rc;
    const uint32_t *index;
    uint32_t n = task_gpus(ctx, &index);
    for (uint32_t g = 0; g < n && g < max_ids; g++)
        ids[g] = relay__gpu_id((int)index[g]);
    *num_ids_p = n;
    return RELAY_OK;
}

/* A physical id as a number: a plain decimal, else -1 (a UUID). */
static int physical_number(const char *id)
{
    long v = 0;
    if (!*id) return -1;
    for (const char *p = id; *p; p++) {
        if (*p < '0' || *p > '9' || v > 100000000) return -1;
        v = v * 10 + (*p - '0');
    }
    return (int)v;
}

int relay_ctx_gpu_physical_ids(const relay_ctx_t *ctx, int *ids, size_t max_ids, size_t *num_ids_p)
{
    int rc = check_gpu_ids_args("relay_ctx_gpu_physical_ids", ctx, ids, max_ids, num_ids_p);
    if (rc) return rc;
    const uint32_t *index;
    uint32_t n = task_gpus(ctx, &index);
    for (uint32_t g = 0; g < n && g < max_ids; g++) {
        const char *id = relay__gpu_physical((int)index[g]);
        ids[g] = id ? physical_number(id) : -1;
    }
    *num_ids_p = n;
    return RELAY_OK;
}

int relay_ctx_gpu_physical_name(const relay_ctx_t *ctx, size_t i, char *buf, size_t size)
{
    int rc = ctx_check_on("relay_ctx_gpu_physical_name", ctx);
    if (rc) return rc;
    if (!ctx || !buf)
        return relay__error(RELAY_ERR_INVALID_ARG, "relay_ctx_gpu_physical_name: NULL %s",
                            ctx ? "buf" : "ctx");
    const uint32_t *index;
    uint32_t n = task_gpus(ctx, &index);
    if (i >= n)
        return relay__error(RELAY_ERR_OUT_OF_RANGE,
                            "relay_ctx_gpu_physical_name: GPU %zu of a task with %u", i, n);
    const char *id = relay__gpu_physical((int)index[i]);
    if (!id)
        return relay__error(RELAY_ERR_INTERNAL, "relay_ctx_gpu_physical_name: no GPU %u", index[i]);
    size_t len = strlen(id);
    if (len >= size)
        return relay__error(RELAY_ERR_SIZE_MISMATCH,
                            "relay_ctx_gpu_physical_name: id '%s' needs %zu bytes, buf has %zu", id,
                            len + 1, size);
    memcpy(buf, id, len + 1);
    return RELAY_OK;
}

int relay_local_resources(relay_resources_t *res_p)
{
    int rc = relay__check_on("relay_local_resources");
    if (rc) return rc;
    if (!res_p) return relay__error(RELAY_ERR_INVALID_ARG, "relay_local_resources: res_p is NULL");
    relay_resources_t res = {0};
    pthread_mutex_lock(&relay__g.lock);
    relay__pool_t *p = relay__g.pool;
    if (p) {
        res.cpus = (double)p->cpu_cap / RELAY__UNIT;
        res.cpus_free = (double)(p->cpu_free > 0 ? p->cpu_free : 0) / RELAY__UNIT;
        res.gpus = relay__gpu_count();
        int64_t used = 0;
        for (int g = 0; g < res.gpus; g++)
            used += p->gpu_used[g];
        res.gpus_free = res.gpus - (double)used / RELAY__UNIT;
    }
    pthread_mutex_unlock(&relay__g.lock);
    *res_p = res;
    return RELAY_OK;
}
