/* Actor and control records: LOOKUP, ACTOR_REPLY, ACTOR_GONE, ACTOR_CPU,
 * ACTOR_KILL, PING, PONG, CRASH, RANK_LOST, RESOURCES_QUERY, RESOURCES_REPLY
 * (SHUTDOWN, SHUTDOWN_ACK, EXIT and CRASH_ACK are empty). */
#include "records.h"
#include "records_impl.h"
#include "runtime.h"

/* [u64 req][str name]. */
void relay__rec_lookup_encode(relay__wbuf_t *w, const relay__rec_lookup_t *m)
{
    relay__put_u64(w, m->req);
    relay__put_str(w, m->name);
}

int relay__rec_lookup_decode(relay__rbuf_t *r, relay__rec_lookup_t *m_p)
{
    m_p->req = relay__get_u64(r);
    if (!r->err && m_p->req == 0) return relay__rbuf_fail(r, "request id 0");
    m_p->name = relay__rec_get_str(r, 1, RELAY_MAX_NAME - 1, "the name is empty or too long");
    return relay__rec_end(r);
}

/* [u64 req][u32 status][u64 actor_id][u64 class_hash]. */
void relay__rec_actor_reply_encode(relay__wbuf_t *w, const relay__rec_actor_reply_t *m)
{
    relay__put_u64(w, m->req);
    relay__put_u32(w, (uint32_t)m->status);
    relay__put_u64(w, m->actor_id);
    relay__put_u64(w, m->class_hash);
}

int relay__rec_actor_reply_decode(relay__rbuf_t *r, relay__rec_actor_reply_t *m_p)
{
    m_p->req = relay__get_u64(r);
    if (!r->err && m_p->req == 0) return relay__rbuf_fail(r, "request id 0");
    m_p->status = relay__rec_get_status(r, 0, "unknown status");
    if (m_p->status == RELAY_OK) {
        m_p->actor_id = relay__rec_get_task_id(r, "the actor id is invalid");
        m_p->class_hash = relay__get_u64(r);
    } else {
        m_p->actor_id = relay__get_u64(r);
        m_p->class_hash = relay__get_u64(r);
        if (!r->err && (m_p->actor_id || m_p->class_hash))
            return relay__rbuf_fail(r, "a failed lookup names an actor");
    }
    return relay__rec_end(r);
}

/* [u64 actor_id]. */
void relay__rec_actor_gone_encode(relay__wbuf_t *w, const relay__rec_actor_gone_t *m)
{
    relay__put_u64(w, m->actor_id);
}

int relay__rec_actor_gone_decode(relay__rbuf_t *r, relay__rec_actor_gone_t *m_p)
{
    m_p->actor_id = relay__rec_get_task_id(r, "the actor id is invalid");
    return relay__rec_end(r);
}

/* [u64 actor_id][u64 delta]. */
void relay__rec_actor_cpu_encode(relay__wbuf_t *w, const relay__rec_actor_cpu_t *m)
{
    relay__put_u64(w, m->actor_id);
    relay__put_u64(w, (uint64_t)m->delta);
}

int relay__rec_actor_cpu_decode(relay__rbuf_t *r, relay__rec_actor_cpu_t *m_p)
{
    m_p->actor_id = relay__rec_get_task_id(r, "the actor id is invalid");
    m_p->delta = (int64_t)relay__get_u64(r);
    if (!r->err && (m_p->delta < -RELAY__UNITS_MAX || m_p->delta > RELAY__UNITS_MAX))
        return relay__rbuf_fail(r, "CPUs out of range");
    return relay__rec_end(r);
}

/* [u64 actor_id][u32 status][str msg]. */
void relay__rec_actor_kill_encode(relay__wbuf_t *w, const relay__rec_actor_kill_t *m)
{
    relay__put_u64(w, m->actor_id);
    relay__put_u32(w, (uint32_t)m->status);
    relay__put_str(w, m->msg);
}

int relay__rec_actor_kill_decode(relay__rbuf_t *r, relay__rec_actor_kill_t *m_p)
{
    m_p->actor_id = relay__rec_get_task_id(r, "the actor id is invalid");
    m_p->status = relay__rec_get_status(r, 1, "the status is not an error");
    m_p->msg = relay__rec_get_str(r, 0, UINT32_MAX, "bad message");
    return relay__rec_end(r);
}

/* [u64 epoch]. */
void relay__rec_ping_encode(relay__wbuf_t *w, const relay__rec_ping_t *m)
{
    relay__put_u64(w, m->epoch);
}

int relay__rec_ping_decode(relay__rbuf_t *r, relay__rec_ping_t *m_p)
{
    m_p->epoch = relay__get_u64(r);
    if (!r->err && m_p->epoch == 0) return relay__rbuf_fail(r, "epoch 0");
    return relay__rec_end(r);
}

int relay__rec_pong_decode(relay__rbuf_t *r, relay__rec_ping_t *m_p)
{
    return relay__rec_ping_decode(r, m_p);
}

/* [str text]. */
void relay__rec_crash_encode(relay__wbuf_t *w, const relay__rec_crash_t *m)
{
    relay__put_str(w, m->text);
}

int relay__rec_crash_decode(relay__rbuf_t *r, relay__rec_crash_t *m_p)
{
    m_p->text = relay__rec_get_str(r, 1, RELAY__CRASH_TEXT_MAX, "bad report text");
    return relay__rec_end(r);
}

/* [u32 rank]. */
void relay__rec_rank_lost_encode(relay__wbuf_t *w, const relay__rec_rank_lost_t *m)
{
    relay__put_u32(w, (uint32_t)m->rank);
}

int relay__rec_rank_lost_decode(relay__rbuf_t *r, relay__rec_rank_lost_t *m_p)
{
    uint32_t rank = relay__get_u32(r);
    if (!r->err && (rank == 0 || rank >= (uint32_t)relay__g.size))
        return relay__rbuf_fail(r, "the rank is 0 or not a rank of the job");
    m_p->rank = (int)rank;
    return relay__rec_end(r);
}

void relay__rec_res_query_encode(relay__wbuf_t *w, const relay__rec_res_query_t *m)
{
    relay__put_u64(w, m->req);
    relay__put_u32(w, m->rank < 0 ? UINT32_MAX : (uint32_t)m->rank);
}

int relay__rec_res_query_decode(relay__rbuf_t *r, relay__rec_res_query_t *m_p)
{
    m_p->req = relay__get_u64(r);
    if (!r->err && m_p->req == 0) return relay__rbuf_fail(r, "request id 0");
    uint32_t rank = relay__get_u32(r);
    if (!r->err && rank != UINT32_MAX && rank >= (uint32_t)relay__g.size)
        return relay__rbuf_fail(r, "the rank is not -1 nor a rank of the job");
    m_p->rank = rank == UINT32_MAX ? -1 : (int)rank;
    return relay__rec_end(r);
}

void relay__rec_res_reply_encode(relay__wbuf_t *w, const relay__rec_res_reply_t *m)
{
    relay__put_u64(w, m->req);
    relay__put_u32(w, (uint32_t)m->status);
    relay__put_u64(w, (uint64_t)m->cpu);
    relay__put_u64(w, (uint64_t)m->gpu);
    relay__put_u32(w, m->ncustom);
    relay__put_bytes(w, m->custom, (size_t)m->ncustom * 8);
}

/* A quantity summed over at most every rank of the job (divided: the
 * product could overflow). */
static int res_units_ok(int64_t u)
{
    return u >= 0 && u / RELAY__UNITS_MAX < (int64_t)relay__g.size + (u % RELAY__UNITS_MAX == 0);
}

int relay__rec_res_reply_decode(relay__rbuf_t *r, relay__rec_res_reply_t *m_p)
{
    m_p->req = relay__get_u64(r);
    if (!r->err && m_p->req == 0) return relay__rbuf_fail(r, "request id 0");
    m_p->status = relay__rec_get_status(r, 0, "unknown status");
    m_p->cpu = (int64_t)relay__get_u64(r);
    m_p->gpu = (int64_t)relay__get_u64(r);
    m_p->ncustom = relay__get_u32(r);
    if (r->err) return -1;
    if (!res_units_ok(m_p->cpu) || !res_units_ok(m_p->gpu))
        return relay__rbuf_fail(r, "a quantity out of range");
    if (m_p->ncustom > (uint64_t)RELAY_MAX_RESOURCES * (uint64_t)relay__g.size)
        return relay__rbuf_fail(r, "more custom resources than the job can have");
    if ((size_t)(r->end - r->p) / 8 < m_p->ncustom)
        return relay__rbuf_fail(r, "a count exceeds the record");
    m_p->custom = relay__get_bytes(r, (size_t)m_p->ncustom * 8);
    for (uint32_t i = 0; i < m_p->ncustom; i++)
        if (!res_units_ok(relay__rec_res_custom(m_p, i)))
            return relay__rbuf_fail(r, "a quantity out of range");
    if (m_p->status != RELAY_OK && (m_p->cpu || m_p->gpu || m_p->ncustom))
        return relay__rbuf_fail(r, "a failed query carries quantities");
    return relay__rec_end(r);
}
