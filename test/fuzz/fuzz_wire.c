/* libFuzzer target for the readers every decoder is built on: relay__get_*
 * (wire.h), relay__desc_decode and relay__demand_decode (records.h), and
 * for the record decoders themselves (relay__rec_*_decode), on arbitrary
 * bytes.
 *
 * Input: [u8 nops][nops op bytes][data]. Each op calls one reader on the
 * data, in sequence, as a decoder would, or decodes the rest of the data as
 * one record; after each the target checks what a reader promises: it
 * never reads outside the data (AddressSanitizer: the data is the input's
 * own exactly-sized buffer), once a read failed every later one fails and
 * gives zeros, what it returns lies inside the data, and what it validated
 * is in range. A broken promise aborts.
 *
 * Decoders check ranks and ids against the job's size, so relay is brought
 * up once (one process, MPI singleton). */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "object.h"
#include "records.h"
#include "relay.h"
#include "resources.h"
#include "runtime.h"
#include "wire.h"

#define PROMISE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_wire: %s:%d: broken promise: %s\n", __FILE__, __LINE__, #cond);  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const uint8_t *lo, *hi; /* the data */

static int inside(const void *p, size_t n)
{
    const uint8_t *b = p;
    return b >= lo && b <= hi && n <= (size_t)(hi - b);
}

static void at_exit(void)
{
    if (relay__is_on()) relay_finalize();
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* Open MPI catches SIGABRT at MPI_Init unless told not to, before
     * libFuzzer sets its handlers (which then leave it be): an abort (a
     * failed assertion, a broken promise) would end the run without the input saved. */
    setenv("OMPI_MCA_opal_signal", "", 0);
    int provided = 0;
    MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
    static const relay_resource_t res[2] = {{"fuzzres", 4}, {"other", 1}};
    relay_config_t cfg = {0};
    cfg.field_mask = RELAY_CONFIG_NUM_CPUS | RELAY_CONFIG_RESOURCES | RELAY_CONFIG_LOG_LEVEL;
    cfg.num_cpus = 1;
    cfg.resources = res;
    cfg.num_resources = 2;
    cfg.log_level = 0;
    int rc = relay_init(NULL, NULL, &cfg);
    if (rc != RELAY_OK) {
        fprintf(stderr, "fuzz_wire: relay_init: %s\n", relay_last_error());
        abort();
    }
    atexit(at_exit);
    return 0;
}

/* After a failed read, every read fails and gives zeros. */
static void check_failed(relay__rbuf_t *r)
{
    relay__rbuf_t before = *r;
    size_t n = 7;
    PROMISE(relay__get_u8(r) == 0 && relay__get_u32(r) == 0 && relay__get_u64(r) == 0);
    PROMISE(relay__get_bytes(r, 0) == NULL && relay__get_blob(r, &n) == NULL && n == 0);
    PROMISE(relay__get_str(r)[0] == '\0');
    PROMISE(r->err && r->p == before.p);
}

/* What relay__desc_decode validated, on success. */
static void check_desc(const relay__desc_t *d)
{
    if (d->status != RELAY_OK) {
        PROMISE(d->errmsg && inside(d->errmsg, strlen(d->errmsg) + 1));
        return;
    }
    PROMISE(d->nrefs == 0 || inside(d->refs, (size_t)d->nrefs * 8));
    for (uint32_t i = 0; i < d->nrefs; i++)
        PROMISE(relay__desc_ref(d, i) != 0);
    if (d->has_array) PROMISE(d->array.ndims >= 1 && d->array.ndims <= RELAY_MAX_DIMS);
    if (!d->is_inline) {
        PROMISE(d->holder >= 0 && d->holder < relay__g.size);
        return;
    }
    PROMISE(d->size == 0 || inside(d->bytes, (size_t)d->size));
}

static void read_desc(relay__rbuf_t *r)
{
    relay__desc_t d;
    int rc = relay__desc_decode(r, &d);
    PROMISE((rc == 0) == !r->err);
    if (rc != 0) return;
    check_desc(&d);
    if (d.status != RELAY_OK || !d.is_inline) return;
    /* What the directory and the clients build from an inline descriptor. */
    struct relay_object *o = relay__obj_from_desc(1, &d);
    if (o) {
        PROMISE(o->size == d.size && o->nrefs == d.nrefs);
        PROMISE(d.size == 0 || memcmp(o->data, d.bytes, d.size) == 0);
    }
    relay__obj_unref(o);
}

static void read_demand(relay__rbuf_t *r)
{
    relay__demand_t d;
    memset(&d, 0, sizeof d);
    int rc = relay__demand_decode(r, &d);
    PROMISE((rc == 0) == !r->err);
    if (rc != 0) return;
    PROMISE(d.cpu >= 0 && d.cpu <= RELAY__UNITS_MAX && d.gpu >= 0 && d.gpu <= RELAY__UNITS_MAX);
    PROMISE(d.gpu <= RELAY__UNIT || d.gpu % RELAY__UNIT == 0);
    PROMISE(d.ncustom <= RELAY_MAX_RESOURCES);
    for (uint32_t i = 0; i < d.ncustom; i++)
        PROMISE(d.custom[i].units > 0 && (i == 0 || d.custom[i].idx > d.custom[i - 1].idx));
}

static void check_str(const char *s)
{
    PROMISE(s && inside(s, strlen(s) + 1));
}

/* An id the decoders take for one some rank made (of a rank of the job,
 * a return index below RELAY_MAX_RETURNS); a task's own: index 0. */
static int id_ok(uint64_t id)
{
    return id != 0 && relay__id_rank(id) < relay__g.size && relay__id_index(id) < RELAY_MAX_RETURNS;
}

static int task_id_ok(uint64_t id)
{
    return id_ok(id) && relay__id_index(id) == 0;
}

static void check_ids(const relay__ids_t *l)
{
    PROMISE(l->n == 0 || inside(l->v, (size_t)l->n * 8));
    for (uint32_t i = 0; i < l->n; i++)
        PROMISE(id_ok(relay__ids_at(l, i)));
}

/* A decoded argument list read back as a handler does: every item decodes
 * again, and the list ends where the items do. A TASK's ref is described,
 * or pending (a task placed ahead of its inputs): no descriptor then, but
 * its maker's rank, a rank of the job or -1. Returns the pending ones. */
static uint32_t check_args(const relay__rec_args_t *l, int with_desc)
{
    uint32_t pending = 0;
    PROMISE(l->n <= RELAY_MAX_ARGS);
    relay__rbuf_t it = l->enc;
    PROMISE(it.p == it.end || inside(it.p, (size_t)(it.end - it.p)));
    for (uint32_t i = 0; i < l->n; i++) {
        relay__rec_arg_t a;
        if (with_desc)
            relay__rec_task_arg_next(&it, &a);
        else
            relay__rec_submit_arg_next(&it, &a);
        PROMISE(!it.err && (a.kind == RELAY_ARG_VALUE || a.kind == RELAY_ARG_REF));
        if (a.kind == RELAY_ARG_VALUE) PROMISE(a.size == 0 || inside(a.data, (size_t)a.size));
        if (a.kind == RELAY_ARG_VALUE) continue;
        PROMISE(id_ok(a.ref) && (with_desc || !a.pending));
        if (!with_desc) continue;
        if (!a.pending) {
            check_desc(&a.desc);
            continue;
        }
        PROMISE(a.pending == 1 && a.producer >= -1 && a.producer < relay__g.size);
        pending++;
    }
    PROMISE(it.p == it.end);
    return pending;
}

static void check_rets(const relay__rec_descs_t *l)
{
    PROMISE(l->n <= RELAY_MAX_RETURNS);
    relay__rbuf_t it = l->enc;
    for (uint32_t i = 0; i < l->n; i++) {
        relay__desc_t d;
        relay__rec_done_ret_next(&it, &d);
        PROMISE(!it.err);
        check_desc(&d);
    }
    PROMISE(it.p == it.end);
}

/* The ids a skim (relay__rec_submit_ids, relay__rec_done_ids) passed on:
 * on every record it must stay inside it, and on one its decoder accepts
 * it must give exactly the ids the decoder gives, in order (rank 0's
 * hold-back filter relies on that). The first SKIM_KEEP are kept. */
#define SKIM_KEEP 256
typedef struct skim {
    uint64_t v[SKIM_KEEP];
    size_t n, k; /* passed on; matched so far */
} skim_t;

static int skim_id(void *ctx, uint64_t id)
{
    skim_t *s = ctx;
    if (s->n < SKIM_KEEP) s->v[s->n] = id;
    s->n++;
    return 0;
}

static void skim_match(skim_t *s, uint64_t id)
{
    PROMISE(s->k < s->n && (s->k >= SKIM_KEEP || s->v[s->k] == id));
    s->k++;
}

static void skim_submit(skim_t *s, const relay__rec_submit_t *m)
{
    relay__rbuf_t it = m->args.enc;
    for (uint32_t i = 0; i < m->args.n; i++) {
        relay__rec_arg_t a;
        relay__rec_submit_arg_next(&it, &a);
        if (a.kind == RELAY_ARG_REF) skim_match(s, a.ref);
    }
    if (m->kind == RELAY__KIND_METHOD) skim_match(s, m->actor_id);
    PROMISE(s->k == s->n);
}

static void skim_done(skim_t *s, const relay__rec_done_t *m)
{
    relay__rbuf_t it = m->rets.enc;
    for (uint32_t i = 0; i < m->rets.n; i++) {
        relay__desc_t d;
        relay__rec_done_ret_next(&it, &d);
        for (uint32_t k = 0; d.status == RELAY_OK && k < d.nrefs; k++)
            skim_match(s, relay__desc_ref(&d, k));
    }
    PROMISE(s->k == s->n);
}

/* The rest of the data as one record of type: its decoder accepts it only
 * whole and consumed to the last byte, and then what it returns holds. */
static void read_record(relay__rbuf_t *r, unsigned type)
{
    union {
        relay__rec_submit_t submit;
        relay__rec_task_t task;
        relay__rec_done_t done;
        relay__rec_block_t block;
        relay__rec_unblock_t unblock;
        relay__rec_cancel_t cancel;
        relay__rec_put_t put;
        relay__rec_recall_t recall;
        relay__rec_subscribe_t subscribe;
        relay__rec_ids_t ids;
        relay__rec_req_id_t req_id;
        relay__rec_abort_t abort;
        relay__rec_get_t get;
        relay__rec_get_reply_t get_reply;
        relay__rec_reply_t reply;
        relay__rec_fetch_t fetch;
        relay__rec_fetch_err_t fetch_err;
        relay__rec_lookup_t lookup;
        relay__rec_actor_reply_t actor_reply;
        relay__rec_actor_gone_t actor_gone;
        relay__rec_actor_cpu_t actor_cpu;
        relay__rec_actor_kill_t actor_kill;
        relay__rec_ping_t ping;
        relay__rec_crash_t crash;
        relay__rec_rank_lost_t rank_lost;
        relay__rec_res_query_t res_query;
        relay__rec_res_reply_t res_reply;
    } m;
    int rc;
    skim_t skim = {{0}, 0, 0};
    switch (type) {
    case RELAY__R_SUBMIT:
        PROMISE(relay__rec_submit_ids(*r, skim_id, &skim) == 0);
        rc = relay__rec_submit_decode(r, &m.submit);
        if (rc == 0) {
            skim_submit(&skim, &m.submit);
            check_str(m.submit.fn);
            check_str(m.submit.name);
            PROMISE(m.submit.nret <= RELAY_MAX_RETURNS);
            PROMISE(m.submit.retries <= RELAY__MAX_RETRIES);
            PROMISE(m.submit.kind <= RELAY__KIND_METHOD);
            PROMISE(m.submit.kind != RELAY__KIND_ACTOR || m.submit.nret == 0);
            PROMISE(task_id_ok(m.submit.task_id));
            if (m.submit.kind == RELAY__KIND_ACTOR) {
                PROMISE(m.submit.max_conc >= 1 && m.submit.max_conc <= RELAY_MAX_CONCURRENCY);
                check_str(m.submit.actor_name);
                PROMISE(m.submit.keeps_cpu <= 1);
            } else {
                /* What only a constructor carries is zero for the others. */
                PROMISE(m.submit.req == 0 && m.submit.max_conc == 0 && !m.submit.actor_name);
                PROMISE(m.submit.keeps_cpu == 0);
            }
            /* A method names its actor and its caller (0: the rank's own
             * threads, else a task's id); the others neither. */
            if (m.submit.kind == RELAY__KIND_METHOD)
                PROMISE(id_ok(m.submit.actor_id) &&
                        (m.submit.caller == 0 || task_id_ok(m.submit.caller)));
            else
                PROMISE(m.submit.actor_id == 0 && m.submit.class_hash == 0 && m.submit.caller == 0);
            PROMISE(m.submit.parent == 0 || task_id_ok(m.submit.parent));
            check_args(&m.submit.args, 0);
        }
        break;
    case RELAY__R_TASK:
        rc = relay__rec_task_decode(r, &m.task);
        if (rc == 0) {
            check_str(m.task.fn);
            check_str(m.task.name);
            PROMISE(m.task.nret <= RELAY_MAX_RETURNS && m.task.attempt <= RELAY__MAX_RETRIES);
            PROMISE(m.task.ngpu <= RELAY__MAX_GPUS);
            PROMISE(task_id_ok(m.task.task_id) && m.task.kind <= RELAY__KIND_METHOD);
            if (m.task.kind == RELAY__KIND_TASK)
                PROMISE(m.task.actor_id == 0 && m.task.class_hash == 0 && m.task.max_conc == 0);
            else
                PROMISE(task_id_ok(m.task.actor_id));
            /* A constructor's threads and CPU flag; a method has neither. */
            if (m.task.kind == RELAY__KIND_ACTOR)
                PROMISE(m.task.max_conc >= 1 && m.task.max_conc <= RELAY_MAX_CONCURRENCY &&
                        m.task.keeps_cpu <= 1 && m.task.nret == 0);
            else
                PROMISE(m.task.max_conc == 0 && m.task.keeps_cpu == 0);
            /* Only a plain task is placed ahead of its inputs. */
            PROMISE(check_args(&m.task.args, 1) == 0 || m.task.kind == RELAY__KIND_TASK);
        }
        break;
    case RELAY__R_DONE:
        PROMISE(relay__rec_done_ids(*r, skim_id, &skim) == 0);
        rc = relay__rec_done_decode(r, &m.done);
        if (rc == 0) {
            skim_done(&skim, &m.done);
            check_str(m.done.msg);
            check_rets(&m.done.rets);
            check_ids(&m.done.released);
            check_ids(&m.done.delivered);
        }
        break;
    case RELAY__R_BLOCK:
        rc = relay__rec_block_decode(r, &m.block);
        if (rc == 0) {
            PROMISE(m.block.k <= m.block.ids.n);
            check_ids(&m.block.ids);
        }
        break;
    case RELAY__R_UNBLOCK:
        rc = relay__rec_unblock_decode(r, &m.unblock);
        break;
    case RELAY__R_RECALL:
    case RELAY__R_RECALLED:
        rc = type == RELAY__R_RECALL ? relay__rec_recall_decode(r, &m.recall)
                                     : relay__rec_recalled_decode(r, &m.recall);
        if (rc == 0) PROMISE(task_id_ok(m.recall.task_id) && m.recall.taken <= 1);
        if (rc == 0 && type == RELAY__R_RECALL) PROMISE(m.recall.taken == 0);
        break;
    case RELAY__R_CANCEL:
        rc = relay__rec_cancel_decode(r, &m.cancel);
        if (rc == 0) PROMISE(m.cancel.status != RELAY_OK);
        if (rc == 0) check_str(m.cancel.msg);
        break;
    case RELAY__R_PUT:
    case RELAY__R_OBJECT:
        rc = type == RELAY__R_PUT ? relay__rec_put_decode(r, &m.put)
                                  : relay__rec_object_decode(r, &m.put);
        if (rc == 0) PROMISE(type == RELAY__R_PUT ? task_id_ok(m.put.id) : id_ok(m.put.id));
        if (rc == 0) check_desc(&m.put.desc);
        break;
    case RELAY__R_SUBSCRIBE:
        rc = relay__rec_subscribe_decode(r, &m.subscribe);
        if (rc == 0) PROMISE(id_ok(m.subscribe.id) && task_id_ok(m.subscribe.consumer));
        break;
    case RELAY__R_RELEASE:
    case RELAY__R_FREE:
        rc = type == RELAY__R_FREE ? relay__rec_free_decode(r, &m.ids)
                                   : relay__rec_release_decode(r, &m.ids);
        if (rc == 0) PROMISE(m.ids.ids.n > 0);
        if (rc == 0) check_ids(&m.ids.ids);
        break;
    case RELAY__R_RETAIN_CHECK:
        rc = relay__rec_retain_check_decode(r, &m.req_id);
        break;
    case RELAY__R_GET_CANCEL:
        rc = relay__rec_get_cancel_decode(r, &m.req_id);
        break;
    case RELAY__R_KILL:
        rc = relay__rec_kill_decode(r, &m.req_id);
        break;
    case RELAY__R_ABORT:
        rc = relay__rec_abort_decode(r, &m.abort);
        if (rc == 0) {
            PROMISE(m.abort.req != 0 && id_ok(m.abort.id));
            PROMISE((m.abort.flags & ~(RELAY__ABORT_FORCE | RELAY__ABORT_RECURSIVE)) == 0);
        }
        break;
    case RELAY__R_SYNC:
        rc = relay__rec_sync_decode(r, &m.req_id);
        if (rc == 0) PROMISE(m.req_id.req != 0 && m.req_id.id == 0);
        break;
    case RELAY__R_GET:
        rc = relay__rec_get_decode(r, &m.get);
        if (rc == 0) PROMISE(m.get.req != 0 && m.get.id != 0);
        break;
    case RELAY__R_GET_REPLY:
        rc = relay__rec_get_reply_decode(r, &m.get_reply);
        if (rc == 0 && m.get_reply.has_desc) {
            PROMISE(m.get_reply.status == RELAY_OK);
            check_desc(&m.get_reply.desc);
        }
        break;
    case RELAY__R_REPLY:
        rc = relay__rec_reply_decode(r, &m.reply);
        break;
    case RELAY__R_FETCH:
        rc = relay__rec_fetch_decode(r, &m.fetch);
        if (rc == 0) {
            PROMISE(m.fetch.tag >= RELAY__TAG_XFER_BASE && m.fetch.tag <= RELAY__TAG_XFER_MAX);
            PROMISE(m.fetch.chunk >= 1 && m.fetch.chunk <= INT32_MAX);
        }
        break;
    case RELAY__R_FETCH_ERR:
        rc = relay__rec_fetch_err_decode(r, &m.fetch_err);
        break;
    case RELAY__R_LOOKUP:
        rc = relay__rec_lookup_decode(r, &m.lookup);
        if (rc == 0) check_str(m.lookup.name);
        break;
    case RELAY__R_ACTOR_REPLY:
        rc = relay__rec_actor_reply_decode(r, &m.actor_reply);
        break;
    case RELAY__R_ACTOR_GONE:
        rc = relay__rec_actor_gone_decode(r, &m.actor_gone);
        break;
    case RELAY__R_ACTOR_CPU:
        rc = relay__rec_actor_cpu_decode(r, &m.actor_cpu);
        break;
    case RELAY__R_ACTOR_KILL:
        rc = relay__rec_actor_kill_decode(r, &m.actor_kill);
        if (rc == 0) check_str(m.actor_kill.msg);
        break;
    case RELAY__R_PING:
        rc = relay__rec_ping_decode(r, &m.ping);
        break;
    case RELAY__R_PONG:
        rc = relay__rec_pong_decode(r, &m.ping);
        break;
    case RELAY__R_CRASH:
        rc = relay__rec_crash_decode(r, &m.crash);
        if (rc == 0) {
            check_str(m.crash.text);
            PROMISE(*m.crash.text && strlen(m.crash.text) <= RELAY__CRASH_TEXT_MAX);
        }
        break;
    case RELAY__R_RANK_LOST:
        rc = relay__rec_rank_lost_decode(r, &m.rank_lost);
        if (rc == 0) PROMISE(m.rank_lost.rank > 0 && m.rank_lost.rank < relay__g.size);
        break;
    case RELAY__R_RESOURCES_QUERY:
        rc = relay__rec_res_query_decode(r, &m.res_query);
        if (rc == 0)
            PROMISE(m.res_query.req && m.res_query.rank >= -1 && m.res_query.rank < relay__g.size);
        break;
    case RELAY__R_RESOURCES_REPLY:
        rc = relay__rec_res_reply_decode(r, &m.res_reply);
        if (rc == 0) {
            const relay__rec_res_reply_t *q = &m.res_reply;
            int64_t most = RELAY__UNITS_MAX * relay__g.size;
            PROMISE(q->req && q->cpu >= 0 && q->cpu <= most && q->gpu >= 0 && q->gpu <= most);
            PROMISE(q->ncustom <= (uint32_t)RELAY_MAX_RESOURCES * (uint32_t)relay__g.size);
            PROMISE(q->ncustom == 0 || inside(q->custom, (size_t)q->ncustom * 8));
            for (uint32_t i = 0; i < q->ncustom; i++)
                PROMISE(relay__rec_res_custom(q, i) >= 0 && relay__rec_res_custom(q, i) <= most);
            PROMISE(q->status == RELAY_OK || (!q->cpu && !q->gpu && !q->ncustom));
        }
        break;
    case RELAY__R_SHUTDOWN_ACK:
    case RELAY__R_SHUTDOWN:
    case RELAY__R_EXIT:
    case RELAY__R_CRASH_ACK:
        rc = relay__rec_empty_decode(r);
        break;
    default:
        /* A record type added to the table needs its case here. */
        PROMISE(!"a record type read_record does not know");
        return;
    }
    PROMISE((rc == 0) == !r->err && (rc != 0 || r->p == r->end));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t nops = data[0];
    if (nops > size - 1) nops = size - 1;
    const uint8_t *ops = data + 1;
    lo = ops + nops;
    hi = data + size;
    relay__rbuf_t r;
    relay__rbuf_init(&r, lo, (size_t)(hi - lo));
    for (size_t i = 0; i < nops; i++) {
        const uint8_t *at = r.p;
        int was_err = r.err;
        size_t n = 0;
        const void *p;
        switch (ops[i] % 10) {
        case 0:
            relay__get_u8(&r);
            break;
        case 1:
            relay__get_u32(&r);
            break;
        case 2:
            relay__get_u64(&r);
            break;
        case 3:
            n = ops[i] / 10; /* a small count */
            p = relay__get_bytes(&r, n);
            PROMISE(!p == !!r.err && (!p || (p == at && inside(p, n))));
            break;
        case 4:
            p = relay__get_blob(&r, &n);
            PROMISE(p ? inside(p, n) : n == 0);
            break;
        case 5: {
            const char *s = relay__get_str(&r);
            PROMISE(s && (r.err ? 1 : inside(s, strlen(s) + 1)));
            break;
        }
        case 6:
            read_desc(&r);
            break;
        case 7:
            read_demand(&r);
            break;
        case 8:
            if (r.err) check_failed(&r);
            break;
        default: { /* [u8 type][payload: the rest of the data] */
            uint8_t type = relay__get_u8(&r);
            if (!r.err) read_record(&r, 1 + (unsigned)type % (RELAY__R_END - 1));
            break;
        }
        }
        PROMISE(r.p >= lo && r.p <= hi && r.end == hi);
        PROMISE(!was_err || (r.err && r.p == at));
    }
    return 0;
}
