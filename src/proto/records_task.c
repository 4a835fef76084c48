/* Task records: SUBMIT, TASK, DONE, BLOCK, UNBLOCK, CANCEL. */
#include "records.h"
#include "records_impl.h"

#include "runtime.h"

/* ---------------------------------------------------------------------- */
/* Arguments and returns                                                    */
/* ---------------------------------------------------------------------- */

/* One argument: [u8 kind] then a value's [u64 size][bytes], or a ref's
 * [u64 id] and, in a TASK, [u8 pending] then its descriptor, or for a
 * pending one [u32 producer rank, UINT32_MAX unknown]. */
static void arg_encode(relay__wbuf_t *w, const relay__rec_arg_t *a, int with_desc)
{
    relay__put_u8(w, a->kind);
    if (a->kind == RELAY_ARG_VALUE) {
        relay__put_blob(w, a->data, a->size);
        return;
    }
    relay__put_u64(w, a->ref);
    if (!with_desc) return;
    relay__put_u8(w, (uint8_t)(a->pending != 0));
    if (a->pending)
        relay__put_u32(w, a->producer < 0 ? UINT32_MAX : (uint32_t)a->producer);
    else
        relay__desc_encode(w, &a->desc);
}

/* A TASK's ref: pending (with its producer's rank) or described. */
static int ref_tail_decode(relay__rbuf_t *r, relay__rec_arg_t *a)
{
    a->pending = relay__rec_get_bool(r, "the pending flag is not 0 or 1");
    a->producer = -1;
    if (r->err) return -1;
    if (!a->pending) return relay__desc_decode(r, &a->desc);
    uint32_t p = relay__get_u32(r);
    if (r->err) return -1;
    if (p != UINT32_MAX && p >= (uint32_t)relay__g.size)
        return relay__rbuf_fail(r, "a pending argument's producer rank is out of range");
    a->producer = p == UINT32_MAX ? -1 : (int)p;
    return 0;
}

static int arg_decode(relay__rbuf_t *r, relay__rec_arg_t *a, int with_desc)
{
    a->kind = relay__get_u8(r);
    if (a->kind == RELAY_ARG_VALUE) {
        size_t n;
        a->data = relay__get_blob(r, &n);
        a->size = n;
        a->ref = 0;
    } else if (a->kind == RELAY_ARG_REF) {
        a->ref = relay__rec_get_id(r, "an argument is an invalid ref");
        a->data = NULL;
        a->size = 0;
        a->pending = 0;
        if (with_desc && !r->err) ref_tail_decode(r, a);
    } else if (!r->err) {
        return relay__rbuf_fail(r, "an argument's kind is neither value nor ref");
    }
    return r->err ? -1 : 0;
}

static void args_encode(relay__wbuf_t *w, const relay__rec_args_t *l, int with_desc)
{
    relay__put_u32(w, l->n);
    for (uint32_t i = 0; i < l->n; i++) {
        relay__rec_arg_t a;
        l->get(l->ctx, i, &a);
        arg_encode(w, &a, with_desc);
    }
}

/* Validate every argument, keeping their bytes in l->enc. Inline: the
 * call would cost the SUBMIT and TASK decoders more than the loop does for
 * the few arguments most tasks take. */
static inline int args_decode(relay__rbuf_t *r, relay__rec_args_t *l, int with_desc)
{
    uint32_t n = relay__get_u32(r);
    if (r->err) return -1;
    if (n > RELAY_MAX_ARGS) return relay__rbuf_fail(r, "too many arguments");
    const uint8_t *start = r->p;
    for (uint32_t i = 0; i < n; i++) {
        relay__rec_arg_t a;
        if (arg_decode(r, &a, with_desc) != 0) return -1;
    }
    l->n = n;
    l->get = NULL;
    l->ctx = NULL;
    relay__rbuf_init(&l->enc, start, (size_t)(r->p - start));
    return 0;
}

/* The _next functions read back what a decoder accepted: bounds are all
 * they check. */
static void arg_read(relay__rbuf_t *r, relay__rec_arg_t *a, int with_desc)
{
    a->kind = relay__get_u8(r);
    if (a->kind == RELAY_ARG_VALUE) {
        size_t n;
        a->data = relay__get_blob(r, &n);
        a->size = n;
        a->ref = 0;
    } else {
        a->ref = relay__get_u64(r);
        a->data = NULL;
        a->size = 0;
        a->pending = 0;
        a->producer = -1;
        if (!with_desc) return;
        a->pending = relay__get_u8(r);
        if (!a->pending) {
            relay__desc_read(r, &a->desc);
        } else {
            uint32_t p = relay__get_u32(r);
            a->producer = p == UINT32_MAX ? -1 : (int)p;
        }
    }
}

void relay__rec_submit_arg_next(relay__rbuf_t *it, relay__rec_arg_t *a_p)
{
    arg_read(it, a_p, 0);
}

void relay__rec_task_arg_next(relay__rbuf_t *it, relay__rec_arg_t *a_p)
{
    arg_read(it, a_p, 1);
}

void relay__rec_done_ret_next(relay__rbuf_t *it, relay__desc_t *d_p)
{
    relay__desc_read(it, d_p);
}

/* A constructor returns nothing; a task or method may return nothing
 * too (it runs for its side effects). */
static int nret_check(relay__rbuf_t *r, uint8_t kind, uint32_t nret)
{
    if (kind == RELAY__KIND_ACTOR && nret) return relay__rbuf_fail(r, "a constructor has returns");
    return 0;
}

/* ---------------------------------------------------------------------- */
/* SUBMIT                                                                   */
/* ---------------------------------------------------------------------- */

/* [u64 task_id][u64 fn_hash][str fn][str name][u32 nret][u32 retries]
 * [u32 nargs][args][u8 has_demand][demand][u8 kind] then a constructor's
 * [u64 req][u32 max_conc][str actor_name][u8 keeps_cpu] or a method's
 * [u64 actor_id][u64 class_hash][u64 caller]; last [u64 parent]. */
void relay__rec_submit_encode(relay__wbuf_t *w, const relay__rec_submit_t *m)
{
    relay__put_u64(w, m->task_id);
    relay__put_u64(w, m->fn_hash);
    relay__put_str(w, m->fn);
    relay__put_str(w, m->name);
    relay__put_u32(w, m->nret);
    relay__put_u32(w, m->retries);
    args_encode(w, &m->args, 0);
    relay__put_u8(w, (uint8_t)(m->has_demand != 0));
    if (m->has_demand) relay__demand_encode(w, &m->demand);
    relay__put_u8(w, m->kind);
    if (m->kind == RELAY__KIND_ACTOR) {
        relay__put_u64(w, m->req);
        relay__put_u32(w, m->max_conc);
        relay__put_str(w, m->actor_name);
        relay__put_u8(w, (uint8_t)(m->keeps_cpu != 0));
    } else if (m->kind == RELAY__KIND_METHOD) {
        relay__put_u64(w, m->actor_id);
        relay__put_u64(w, m->class_hash);
        relay__put_u64(w, m->caller);
    }
    relay__put_u64(w, m->parent);
}

static int submit_tail_decode(relay__rbuf_t *r, relay__rec_submit_t *m)
{
    m->req = m->actor_id = m->class_hash = m->caller = 0;
    m->max_conc = 0;
    m->keeps_cpu = 0;
    m->actor_name = NULL;
    m->kind = relay__get_u8(r);
    if (m->kind == RELAY__KIND_ACTOR) {
        m->req = relay__get_u64(r);
        m->max_conc = relay__get_u32(r);
        m->actor_name = relay__rec_get_str(r, 0, RELAY_MAX_NAME - 1, "the actor name is too long");
        m->keeps_cpu = (uint8_t)relay__rec_get_bool(r, "the keeps-CPU flag is not 0 or 1");
        if (!r->err && (m->max_conc < 1 || m->max_conc > RELAY_MAX_CONCURRENCY))
            return relay__rbuf_fail(r, "max_concurrency is out of range");
    } else if (m->kind == RELAY__KIND_METHOD) {
        /* Any id the program's handle holds: rank 0 fails a call to an
         * actor it does not know, which a dropped record would not do. */
        m->actor_id = relay__rec_get_id(r, "the actor id is invalid");
        m->class_hash = relay__get_u64(r);
        m->caller = relay__get_u64(r);
        if (!r->err && m->caller &&
            (!relay__rec_id_ok(m->caller) || relay__id_index(m->caller) != 0))
            return relay__rbuf_fail(r, "the caller is not a task id");
    } else if (m->kind != RELAY__KIND_TASK && !r->err) {
        return relay__rbuf_fail(r, "unknown task kind");
    }
    if (!r->err) nret_check(r, m->kind, m->nret);
    /* The parent is another task's own id, or 0. */
    m->parent = relay__get_u64(r);
    if (!r->err && m->parent && (!relay__rec_id_ok(m->parent) || relay__id_index(m->parent) != 0))
        return relay__rbuf_fail(r, "the parent task id is invalid");
    if (!r->err && m->parent == m->task_id)
        return relay__rbuf_fail(r, "the task names itself as its parent");
    return relay__rec_end(r);
}

int relay__rec_submit_decode(relay__rbuf_t *r, relay__rec_submit_t *m_p)
{
    m_p->task_id = relay__rec_get_task_id(r, "the task id is invalid");
    m_p->fn_hash = relay__get_u64(r);
    m_p->fn =
        relay__rec_get_str(r, 1, RELAY_MAX_NAME - 1, "the function name is empty or too long");
    m_p->name = relay__rec_get_str(r, 1, RELAY_MAX_NAME - 1, "the task name is empty or too long");
    m_p->nret = relay__get_u32(r);
    m_p->retries = relay__get_u32(r);
    if (r->err) return -1;
    if (m_p->nret > RELAY_MAX_RETURNS) return relay__rbuf_fail(r, "too many returns");
    if (m_p->retries > RELAY__MAX_RETRIES) return relay__rbuf_fail(r, "too many retries");
    if (args_decode(r, &m_p->args, 0) != 0) return -1;
    m_p->has_demand = relay__rec_get_bool(r, "the demand flag is not 0 or 1");
    if (m_p->has_demand) {
        if (relay__demand_decode(r, &m_p->demand) != 0) return -1;
    } else {
        relay__demand_default(&m_p->demand);
    }
    return submit_tail_decode(r, m_p);
}

/* Skip a string: [u32 length][chars][NUL]. */
static void skip_str(relay__rbuf_t *r)
{
    uint32_t n = relay__get_u32(r);
    relay__get_bytes(r, (size_t)n + 1);
}

int relay__rec_submit_ids(relay__rbuf_t r, relay__rec_id_fn *fn, void *ctx)
{
    relay__get_bytes(&r, 16); /* task_id, fn_hash */
    skip_str(&r);
    skip_str(&r);
    relay__get_bytes(&r, 8); /* nret, retries */
    uint32_t n = relay__get_u32(&r);
    if (r.err || n > RELAY_MAX_ARGS) return 0;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t kind = relay__get_u8(&r);
        uint64_t x = relay__get_u64(&r); /* a value's size, or a ref */
        if (r.err) return 0;
        if (kind == RELAY_ARG_VALUE) {
            if (!relay__get_bytes(&r, (size_t)x)) return 0;
        } else if (kind == RELAY_ARG_REF) {
            int rc = fn(ctx, x);
            if (rc) return rc;
        } else {
            return 0;
        }
    }
    if (relay__get_u8(&r)) { /* has_demand: cpu, gpu, customs of 12 bytes */
        relay__get_bytes(&r, 16);
        uint32_t ncustom = relay__get_u32(&r);
        if (r.err || ncustom > RELAY_MAX_RESOURCES) return 0;
        relay__get_bytes(&r, (size_t)ncustom * 12);
    }
    if (relay__get_u8(&r) != RELAY__KIND_METHOD) return 0;
    uint64_t actor = relay__get_u64(&r);
    return r.err ? 0 : fn(ctx, actor);
}

/* ---------------------------------------------------------------------- */
/* TASK                                                                     */
/* ---------------------------------------------------------------------- */

/* [u64 task_id][u64 fn_hash][str fn][str name][u32 nret][u32 attempt]
 * [u8 has_res] then [u64 cpu][u32 ngpu][(u32 dev, u64 units) x ngpu];
 * [u8 kind], an actor's or method's [u64 actor_id][u64 class_hash]
 * [u32 max_conc], a constructor's [u8 keeps_cpu]; [u32 nargs][args with
 * descriptors]. */
void relay__rec_task_encode(relay__wbuf_t *w, const relay__rec_task_t *m)
{
    relay__put_u64(w, m->task_id);
    relay__put_u64(w, m->fn_hash);
    relay__put_str(w, m->fn);
    relay__put_str(w, m->name);
    relay__put_u32(w, m->nret);
    relay__put_u32(w, m->attempt);
    relay__put_u8(w, (uint8_t)(m->has_res != 0));
    if (m->has_res) {
        relay__put_u64(w, (uint64_t)m->cpu);
        relay__put_u32(w, m->ngpu);
        for (uint32_t g = 0; g < m->ngpu; g++) {
            relay__put_u32(w, m->gpus[g].dev);
            relay__put_u64(w, (uint64_t)m->gpus[g].units);
        }
    }
    relay__put_u8(w, m->kind);
    if (m->kind != RELAY__KIND_TASK) {
        relay__put_u64(w, m->actor_id);
        relay__put_u64(w, m->class_hash);
        relay__put_u32(w, m->max_conc);
        if (m->kind == RELAY__KIND_ACTOR) relay__put_u8(w, (uint8_t)(m->keeps_cpu != 0));
    }
    args_encode(w, &m->args, 1);
}

static int task_res_decode(relay__rbuf_t *r, relay__rec_task_t *m)
{
    m->cpu = RELAY__UNIT;
    m->ngpu = 0;
    m->has_res = relay__rec_get_bool(r, "the resources flag is not 0 or 1");
    if (!m->has_res) return r->err ? -1 : 0;
    m->cpu = (int64_t)relay__get_u64(r);
    m->ngpu = relay__get_u32(r);
    if (r->err) return -1;
    if (m->cpu < 0 || m->cpu > RELAY__UNITS_MAX) return relay__rbuf_fail(r, "CPUs out of range");
    if (m->ngpu > RELAY__MAX_GPUS) return relay__rbuf_fail(r, "too many GPUs");
    for (uint32_t g = 0; g < m->ngpu; g++) {
        m->gpus[g].dev = relay__get_u32(r);
        m->gpus[g].units = (int64_t)relay__get_u64(r);
        if (r->err) return -1;
        if (m->gpus[g].dev >= RELAY__MAX_GPUS || m->gpus[g].units < 1 ||
            m->gpus[g].units > RELAY__UNIT)
            return relay__rbuf_fail(r, "a GPU share is out of range");
    }
    return 0;
}

static int task_actor_decode(relay__rbuf_t *r, relay__rec_task_t *m)
{
    m->actor_id = m->class_hash = 0;
    m->max_conc = 0;
    m->keeps_cpu = 0;
    m->kind = relay__get_u8(r);
    if (m->kind == RELAY__KIND_TASK) return r->err ? -1 : 0;
    if (m->kind != RELAY__KIND_ACTOR && m->kind != RELAY__KIND_METHOD)
        return r->err ? -1 : relay__rbuf_fail(r, "unknown task kind");
    m->actor_id = relay__rec_get_task_id(r, "the actor id is invalid");
    m->class_hash = relay__get_u64(r);
    m->max_conc = relay__get_u32(r);
    int ctor = m->kind == RELAY__KIND_ACTOR;
    if (ctor) m->keeps_cpu = (uint8_t)relay__rec_get_bool(r, "the keeps-CPU flag is not 0 or 1");
    if (r->err) return -1;
    if (ctor ? m->max_conc < 1 || m->max_conc > RELAY_MAX_CONCURRENCY : m->max_conc != 0)
        return relay__rbuf_fail(r, "max_concurrency is out of range");
    return 0;
}

/* Whether a decoded TASK's arguments include a pending one. */
static int any_pending(const relay__rec_args_t *l)
{
    relay__rbuf_t it = l->enc;
    for (uint32_t i = 0; i < l->n; i++) {
        relay__rec_arg_t a;
        arg_decode(&it, &a, 1);
        if (a.kind == RELAY_ARG_REF && a.pending) return 1;
    }
    return 0;
}

int relay__rec_task_decode(relay__rbuf_t *r, relay__rec_task_t *m_p)
{
    m_p->task_id = relay__rec_get_task_id(r, "the task id is invalid");
    m_p->fn_hash = relay__get_u64(r);
    m_p->fn =
        relay__rec_get_str(r, 1, RELAY_MAX_NAME - 1, "the function name is empty or too long");
    m_p->name = relay__rec_get_str(r, 1, RELAY_MAX_NAME - 1, "the task name is empty or too long");
    m_p->nret = relay__get_u32(r);
    m_p->attempt = relay__get_u32(r);
    if (r->err) return -1;
    if (m_p->nret > RELAY_MAX_RETURNS) return relay__rbuf_fail(r, "too many returns");
    if (m_p->attempt > RELAY__MAX_RETRIES) return relay__rbuf_fail(r, "too many attempts");
    if (task_res_decode(r, m_p) != 0 || task_actor_decode(r, m_p) != 0) return -1;
    if (nret_check(r, m_p->kind, m_p->nret) != 0 || args_decode(r, &m_p->args, 1) != 0) return -1;
    if (m_p->kind != RELAY__KIND_TASK && any_pending(&m_p->args))
        return relay__rbuf_fail(r, "only a plain task is placed ahead of its inputs");
    return relay__rec_end(r);
}

/* ---------------------------------------------------------------------- */
/* DONE                                                                     */
/* ---------------------------------------------------------------------- */

/* [u64 task_id][u32 status][u64 run_ns][str msg][u32 nret][descs]
 * [u32 nrel][u64 x nrel][u32 ndelivered][u64 x ndelivered]. */
void relay__rec_done_encode(relay__wbuf_t *w, const relay__rec_done_t *m)
{
    relay__put_u64(w, m->task_id);
    relay__put_u32(w, (uint32_t)m->status);
    relay__put_u64(w, m->run_ns);
    relay__put_str(w, m->msg);
    relay__put_u32(w, m->rets.n);
    for (uint32_t i = 0; i < m->rets.n; i++) {
        relay__desc_t d;
        m->rets.get(m->rets.ctx, i, &d);
        relay__desc_encode(w, &d);
    }
    relay__rec_put_ids(w, &m->released);
    relay__rec_put_ids(w, &m->delivered);
}

int relay__rec_done_decode(relay__rbuf_t *r, relay__rec_done_t *m_p)
{
    m_p->task_id = relay__rec_get_task_id(r, "the task id is invalid");
    m_p->status = relay__rec_get_status(r, 0, "unknown status");
    m_p->run_ns = relay__get_u64(r);
    m_p->msg = relay__rec_get_str(r, 0, UINT32_MAX, "bad message");
    uint32_t nret = relay__get_u32(r);
    if (r->err) return -1;
    if (nret > RELAY_MAX_RETURNS) return relay__rbuf_fail(r, "too many returns");
    if (nret && m_p->status != RELAY_OK) return relay__rbuf_fail(r, "a failed task has returns");
    const uint8_t *start = r->p;
    for (uint32_t i = 0; i < nret; i++) {
        relay__desc_t d;
        if (relay__desc_decode(r, &d) != 0) return -1;
    }
    m_p->rets.n = nret;
    m_p->rets.get = NULL;
    m_p->rets.ctx = NULL;
    relay__rbuf_init(&m_p->rets.enc, start, (size_t)(r->p - start));
    uint32_t nrel = relay__get_u32(r);
    if (relay__rec_get_ids(r, nrel, &m_p->released, "a released id is invalid") != 0) return -1;
    uint32_t ndel = relay__get_u32(r);
    if (relay__rec_get_ids(r, ndel, &m_p->delivered, "a delivered task id is invalid") != 0)
        return -1;
    return relay__rec_end(r);
}

int relay__rec_done_ids(relay__rbuf_t r, relay__rec_id_fn *fn, void *ctx)
{
    relay__get_bytes(&r, 20); /* task_id, status, run_ns */
    skip_str(&r);
    uint32_t nret = relay__get_u32(&r);
    if (r.err || nret > RELAY_MAX_RETURNS) return 0;
    for (uint32_t i = 0; i < nret; i++) {
        relay__desc_t d;
        if (relay__desc_read(&r, &d) != 0) return 0;
        for (uint32_t k = 0; k < d.nrefs; k++) {
            int rc = fn(ctx, relay__desc_ref(&d, k));
            if (rc) return rc;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* BLOCK, UNBLOCK, CANCEL                                                   */
/* ---------------------------------------------------------------------- */

/* [u64 task_id][u64 released][u8 answered][u64 k][u32 n][u64 x n]. */
void relay__rec_block_encode(relay__wbuf_t *w, const relay__rec_block_t *m)
{
    relay__put_u64(w, m->task_id);
    relay__put_u64(w, (uint64_t)m->released);
    relay__put_u8(w, m->answered);
    relay__put_u64(w, m->k);
    relay__rec_put_ids(w, &m->ids);
}

int relay__rec_block_decode(relay__rbuf_t *r, relay__rec_block_t *m_p)
{
    m_p->task_id = relay__rec_get_task_id(r, "the task id is invalid");
    m_p->released = (int64_t)relay__get_u64(r);
    m_p->answered = (uint8_t)relay__rec_get_bool(r, "the answered flag is not 0 or 1");
    m_p->k = relay__get_u64(r);
    uint32_t n = relay__get_u32(r);
    if (r->err) return -1;
    if (m_p->released < 0 || m_p->released > RELAY__UNITS_MAX)
        return relay__rbuf_fail(r, "released CPUs out of range");
    if (m_p->k > n) return relay__rbuf_fail(r, "waits for more ids than it names");
    if (relay__rec_get_ids(r, n, &m_p->ids, "an id waited for is invalid") != 0) return -1;
    return relay__rec_end(r);
}

/* [u64 task_id][u64 taken]. */
void relay__rec_unblock_encode(relay__wbuf_t *w, const relay__rec_unblock_t *m)
{
    relay__put_u64(w, m->task_id);
    relay__put_u64(w, (uint64_t)m->taken);
}

int relay__rec_unblock_decode(relay__rbuf_t *r, relay__rec_unblock_t *m_p)
{
    m_p->task_id = relay__rec_get_task_id(r, "the task id is invalid");
    m_p->taken = (int64_t)relay__get_u64(r);
    if (!r->err && (m_p->taken < 0 || m_p->taken > RELAY__UNITS_MAX))
        return relay__rbuf_fail(r, "taken CPUs out of range");
    return relay__rec_end(r);
}

/* [u64 task_id][u32 status][str msg]. */
void relay__rec_cancel_encode(relay__wbuf_t *w, const relay__rec_cancel_t *m)
{
    relay__put_u64(w, m->task_id);
    relay__put_u32(w, (uint32_t)m->status);
    relay__put_str(w, m->msg);
}

int relay__rec_cancel_decode(relay__rbuf_t *r, relay__rec_cancel_t *m_p)
{
    m_p->task_id = relay__rec_get_task_id(r, "the task id is invalid");
    m_p->status = relay__rec_get_status(r, 1, "the status is not an error");
    m_p->msg = relay__rec_get_str(r, 0, UINT32_MAX, "bad message");
    return relay__rec_end(r);
}

/* ---------------------------------------------------------------------- */
/* RECALL, RECALLED                                                         */
/* ---------------------------------------------------------------------- */

/* [u64 task_id]. */
void relay__rec_recall_encode(relay__wbuf_t *w, const relay__rec_recall_t *m)
{
    relay__put_u64(w, m->task_id);
}

int relay__rec_recall_decode(relay__rbuf_t *r, relay__rec_recall_t *m_p)
{
    m_p->task_id = relay__rec_get_task_id(r, "the task id is invalid");
    m_p->taken = 0;
    return relay__rec_end(r);
}

/* [u64 task_id][u8 taken]. */
void relay__rec_recalled_encode(relay__wbuf_t *w, const relay__rec_recall_t *m)
{
    relay__put_u64(w, m->task_id);
    relay__put_u8(w, (uint8_t)(m->taken != 0));
}

int relay__rec_recalled_decode(relay__rbuf_t *r, relay__rec_recall_t *m_p)
{
    m_p->task_id = relay__rec_get_task_id(r, "the task id is invalid");
    m_p->taken = (uint8_t)relay__rec_get_bool(r, "the taken flag is not 0 or 1");
    return relay__rec_end(r);
}
