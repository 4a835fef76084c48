/* The actor calls every rank has: create, call, look up and kill. They
 * travel as submissions (a constructor, a method call) or as requests to
 * rank 0, whose actor table (head/actor_table.c) answers. */

#include "client.h"
#include "comm.h"
#include "log.h"
#include "registry.h"
#include "runtime.h"
#include "worker.h"

static int check_handle(const char *call, relay_actor_t a, const relay__class_t **cls_p)
{
    if (a.id == 0) return relay__error(RELAY_ERR_INVALID_ARG, "%s: null actor handle", call);
    int rc = relay__check_id(call, a.id);
    if (rc) return rc;
    const relay__class_t *cls = relay__class_lookup(a.class_hash);
    if (!cls)
        return relay__error(RELAY_ERR_INVALID_ARG,
                            "%s: actor %#llx has a class rank %d does not know (a corrupt "
                            "handle, or a class not registered here)",
                            call, (unsigned long long)a.id, relay__g.rank);
    if (cls_p) *cls_p = cls;
    return RELAY_OK;
}

/* NULL args with a count is INVALID_ARG whatever the count, as for
 * relay_submit; then the count must be what the function takes. */
static int check_count(const char *call, const char *what, int want, const relay_arg_t *args,
                       size_t nargs)
{
    if (nargs && !args)
        return relay__error(RELAY_ERR_INVALID_ARG, "%s(%s): args is NULL", call, what);
    if (want != RELAY_ANY_ARGS && (size_t)want != nargs)
        return relay__error(RELAY_ERR_OUT_OF_RANGE, "%s(%s): %zu arguments, it takes %d", call,
                            what, nargs, want);
    return RELAY_OK;
}

/* The actor's demand: its options as a task's. */
static int actor_demand(const char *cls_name, const relay_actor_opts_t *o, relay__demand_t *d)
{
    relay_task_opts_t t;
    memset(&t, 0, sizeof t);
    if (o) {
        if (o->field_mask & RELAY_ACTOR_OPT_NUM_CPUS) t.field_mask |= RELAY_TASK_OPT_NUM_CPUS;
        if (o->field_mask & RELAY_ACTOR_OPT_NUM_GPUS) t.field_mask |= RELAY_TASK_OPT_NUM_GPUS;
        if (o->field_mask & RELAY_ACTOR_OPT_RESOURCES) t.field_mask |= RELAY_TASK_OPT_RESOURCES;
        t.num_cpus = o->num_cpus;
        t.num_gpus = o->num_gpus;
        t.resources = o->resources;
        t.num_resources = o->num_resources;
    }
    return relay__demand_make(cls_name, &t, d);
}

int relay_actor_create(const char *cls_name, const relay_arg_t *args, size_t nargs,
                       const relay_actor_opts_t *opts, relay_actor_t *actor_p)
{
    const char *call = "relay_actor_create";
    int rc = relay__check_on(call);
    if (rc) return rc;
    if (!cls_name || !actor_p)
        return relay__error(RELAY_ERR_INVALID_ARG, "%s: NULL %s", call,
                            cls_name ? "actor_p" : "cls_name");
    const relay__class_t *cls = relay__class_lookup(relay__fn_hash(cls_name));
    if (!cls || strcmp(cls->name, cls_name) != 0)
        return relay__error(RELAY_ERR_UNKNOWN_FUNCTION,
                            "%s: no actor class registered as '%s' on rank %d", call, cls_name,
                            relay__g.rank);
    relay__submit_t sb;
    memset(&sb, 0, sizeof sb);
    sb.call = call;
    sb.fn = sb.name = cls->name;
    sb.fn_hash = cls->hash;
    sb.kind = RELAY__KIND_ACTOR;
    sb.max_conc = 1;
    sb.actor_name = "";
    if (opts && (opts->field_mask & RELAY_ACTOR_OPT_MAX_CONCURRENCY)) {
        if (opts->max_concurrency < 1 || opts->max_concurrency > RELAY_MAX_CONCURRENCY)
            return relay__error(RELAY_ERR_OUT_OF_RANGE, "%s(%s): max_concurrency %d not in 1..%d",
                                call, cls_name, opts->max_concurrency, RELAY_MAX_CONCURRENCY);
        sb.max_conc = (uint32_t)opts->max_concurrency;
    }
    if (opts && (opts->field_mask & RELAY_ACTOR_OPT_NAME)) {
        if ((rc = relay__check_task_name(call, cls_name, opts->name))) return rc;
        sb.actor_name = opts->name;
        sb.want_reply = 1;
    }
    if ((rc = check_count(call, cls_name, cls->init_num_args, args, nargs)) ||
        (rc = relay__check_args(call, cls_name, args, nargs)) ||
        (rc = actor_demand(cls_name, opts, &sb.demand)))
        return rc;
    /* Ray's default actor: a CPU to be placed, none held while it lives. */
    sb.keeps_cpu = opts && (opts->field_mask & RELAY_ACTOR_OPT_NUM_CPUS);
    uint64_t id;
    rc = relay__client_submit(&sb, args, nargs, &id, NULL);
    if (rc == RELAY_ERR_EXISTS)
        return relay__error(rc, "%s(%s): an actor named '%s' exists already", call, cls_name,
                            sb.actor_name);
    if (rc) return rc;
    actor_p->id = id;
    actor_p->class_hash = cls->hash;
    return RELAY_OK;
}

int relay_actor_call(relay_actor_t actor, const char *method, const relay_arg_t *args, size_t nargs,
                     const relay_task_opts_t *opts, relay_ref_t *returns_p)
{
    const char *call = "relay_actor_call";
    int rc = relay__check_on(call);
    if (rc) return rc;
    const relay__class_t *cls = NULL;
    if (!method) return relay__error(RELAY_ERR_INVALID_ARG, "%s: NULL method", call);
    if ((rc = check_handle(call, actor, &cls))) return rc;
    const relay__method_t *m = relay__class_method(cls, relay__fn_hash(method));
    if (!m || strcmp(m->name, method) != 0)
        return relay__error(RELAY_ERR_UNKNOWN_FUNCTION, "%s: actor class '%s' has no method '%s'",
                            call, cls->name, method);
    uint64_t allowed = RELAY_TASK_OPT_NUM_RETURNS | RELAY_TASK_OPT_NAME;
    if (opts && (opts->field_mask & ~allowed))
        return relay__error(RELAY_ERR_INVALID_ARG,
                            "%s(%s): only num_returns and name apply to a method call (its "
                            "resources are the actor's)",
                            call, method);
    relay__submit_t sb;
    memset(&sb, 0, sizeof sb);
    sb.call = call;
    sb.fn = sb.name = m->name;
    sb.fn_hash = m->hash;
    sb.nret = 1;
    sb.kind = RELAY__KIND_METHOD;
    sb.actor_id = actor.id;
    sb.class_hash = actor.class_hash;
    sb.caller = relay__worker_caller();
    relay__demand_default(&sb.demand);
    if (opts && (opts->field_mask & RELAY_TASK_OPT_NUM_RETURNS)) sb.nret = opts->num_returns;
    if (opts && (opts->field_mask & RELAY_TASK_OPT_NAME)) sb.name = opts->name;
    if ((rc = relay__check_num_returns(call, method, sb.nret)) ||
        (rc = relay__check_returns_p(call, method, sb.nret, returns_p)) ||
        (rc = relay__check_task_name(call, method, sb.name)) ||
        (rc = check_count(call, method, m->num_args, args, nargs)) ||
        (rc = relay__check_args(call, method, args, nargs)))
        return rc;
    return relay__client_submit(&sb, args, nargs, NULL, returns_p);
}

static void encode_lookup(relay__wbuf_t *w, uint64_t req, const void *name)
{
    relay__rec_lookup_t m = {req, name};
    relay__rec_lookup_encode(w, &m);
}

int relay_actor_lookup(const char *name, relay_actor_t *actor_p)
{
    const char *call = "relay_actor_lookup";
    int rc = relay__check_on(call);
    if (rc) return rc;
    if (!actor_p) return relay__error(RELAY_ERR_INVALID_ARG, "%s: actor_p is NULL", call);
    if ((rc = relay__check_task_name(call, "name", name))) return rc;
    relay__req_t q;
    pthread_mutex_lock(&relay__g.lock);
    rc = relay__request(RELAY__R_LOOKUP, encode_lookup, name, RELAY_FOREVER, &q);
    pthread_mutex_unlock(&relay__g.lock);
    if (rc == RELAY_ERR_NOT_FOUND)
        return relay__error(rc, "%s: no live actor is named '%s'", call, name);
    if (rc) return relay__error(rc, "%s(%s): %s", call, name, relay_strerror(rc));
    actor_p->id = q.obj_id;
    actor_p->class_hash = q.extra;
    return RELAY_OK;
}

int relay_actor_kill(relay_actor_t actor)
{
    const char *call = "relay_actor_kill";
    int rc = relay__check_on(call);
    if (rc || (rc = check_handle(call, actor, NULL))) return rc;
    pthread_mutex_lock(&relay__g.lock);
    rc = relay__round_trip(RELAY__R_KILL, actor.id, RELAY_FOREVER);
    pthread_mutex_unlock(&relay__g.lock);
    if (rc == RELAY_ERR_INVALID_REF)
        return relay__error(rc, "%s: actor %#llx is unknown", call, (unsigned long long)actor.id);
    if (rc) return relay__error(rc, "%s: %s", call, relay_strerror(rc));
    return RELAY_OK;
}
