/* Object records: PUT, RELEASE, FREE, RETAIN_CHECK, GET, GET_CANCEL,
 * GET_REPLY, REPLY, SYNC, KILL (they share the request layout), FETCH,
 * FETCH_ERR. */
#include <limits.h>

#include "records.h"
#include "records_impl.h"
#include "runtime.h"

static uint64_t get_req(relay__rbuf_t *r)
{
    uint64_t req = relay__get_u64(r);
    if (!r->err && req == 0) relay__rbuf_fail(r, "request id 0");
    return req;
}

/* [u64 id][desc]. */
void relay__rec_put_encode(relay__wbuf_t *w, const relay__rec_put_t *m)
{
    relay__put_u64(w, m->id);
    relay__desc_encode(w, &m->desc);
}

int relay__rec_put_decode(relay__rbuf_t *r, relay__rec_put_t *m_p)
{
    m_p->id = relay__rec_get_task_id(r, "the object id is invalid");
    if (r->err || relay__desc_decode(r, &m_p->desc) != 0) return -1;
    return relay__rec_end(r);
}

int relay__rec_object_decode(relay__rbuf_t *r, relay__rec_put_t *m_p)
{
    m_p->id = relay__rec_get_id(r, "the object id is invalid");
    if (r->err || relay__desc_decode(r, &m_p->desc) != 0) return -1;
    return relay__rec_end(r);
}

/* [u64 id][u64 consumer]. */
void relay__rec_subscribe_encode(relay__wbuf_t *w, const relay__rec_subscribe_t *m)
{
    relay__put_u64(w, m->id);
    relay__put_u64(w, m->consumer);
}

int relay__rec_subscribe_decode(relay__rbuf_t *r, relay__rec_subscribe_t *m_p)
{
    m_p->id = relay__rec_get_id(r, "the object id is invalid");
    m_p->consumer = relay__rec_get_task_id(r, "the consumer task id is invalid");
    return relay__rec_end(r);
}

/* [u32 n][u64 x n]. */
void relay__rec_ids_encode(relay__wbuf_t *w, const relay__rec_ids_t *m)
{
    relay__rec_put_ids(w, &m->ids);
}

static int ids_decode(relay__rbuf_t *r, relay__rec_ids_t *m)
{
    uint32_t n = relay__get_u32(r);
    if (!r->err && n == 0) return relay__rbuf_fail(r, "no ids");
    if (relay__rec_get_ids(r, n, &m->ids, "an id is invalid") != 0) return -1;
    return relay__rec_end(r);
}

int relay__rec_release_decode(relay__rbuf_t *r, relay__rec_ids_t *m_p)
{
    return ids_decode(r, m_p);
}

int relay__rec_free_decode(relay__rbuf_t *r, relay__rec_ids_t *m_p)
{
    return ids_decode(r, m_p);
}

/* [u64 req][u64 id]. */
void relay__rec_req_id_encode(relay__wbuf_t *w, const relay__rec_req_id_t *m)
{
    relay__put_u64(w, m->req);
    relay__put_u64(w, m->id);
}

static int req_id_decode(relay__rbuf_t *r, relay__rec_req_id_t *m, const char *why)
{
    m->req = get_req(r);
    m->id = relay__rec_get_id(r, why);
    return relay__rec_end(r);
}

int relay__rec_retain_check_decode(relay__rbuf_t *r, relay__rec_req_id_t *m_p)
{
    return req_id_decode(r, m_p, "the object id is invalid");
}

int relay__rec_get_cancel_decode(relay__rbuf_t *r, relay__rec_req_id_t *m_p)
{
    return req_id_decode(r, m_p, "the object id is invalid");
}

/* Any id the program's handle holds: rank 0 answers INVALID_REF for an
 * actor it does not know, where a dropped record would leave the caller
 * waiting. */
int relay__rec_kill_decode(relay__rbuf_t *r, relay__rec_req_id_t *m_p)
{
    return req_id_decode(r, m_p, "the actor id is invalid");
}

int relay__rec_sync_decode(relay__rbuf_t *r, relay__rec_req_id_t *m_p)
{
    m_p->req = get_req(r);
    m_p->id = relay__get_u64(r);
    if (!r->err && m_p->id != 0) return relay__rbuf_fail(r, "a sync names an id");
    return relay__rec_end(r);
}

/* ABORT and GET: [u64 req][u64 id][u8 flags]. */
static void req_flags_encode(relay__wbuf_t *w, const relay__rec_req_flags_t *m)
{
    relay__put_u64(w, m->req);
    relay__put_u64(w, m->id);
    relay__put_u8(w, m->flags);
}

static int req_flags_decode(relay__rbuf_t *r, relay__rec_req_flags_t *m_p, uint8_t known)
{
    m_p->req = get_req(r);
    m_p->id = relay__rec_get_id(r, "the object id is invalid");
    m_p->flags = relay__get_u8(r);
    if (!r->err && (m_p->flags & ~known)) return relay__rbuf_fail(r, "unknown flags");
    return relay__rec_end(r);
}

void relay__rec_abort_encode(relay__wbuf_t *w, const relay__rec_abort_t *m)
{
    req_flags_encode(w, m);
}

int relay__rec_abort_decode(relay__rbuf_t *r, relay__rec_abort_t *m_p)
{
    return req_flags_decode(r, m_p, RELAY__ABORT_FORCE | RELAY__ABORT_RECURSIVE);
}

void relay__rec_get_encode(relay__wbuf_t *w, const relay__rec_get_t *m)
{
    req_flags_encode(w, m);
}

int relay__rec_get_decode(relay__rbuf_t *r, relay__rec_get_t *m_p)
{
    return req_flags_decode(r, m_p, RELAY__GET_DATA | RELAY__GET_NOW);
}

/* [u64 req][u32 status][u8 has_desc][desc]. */
void relay__rec_get_reply_encode(relay__wbuf_t *w, const relay__rec_get_reply_t *m)
{
    relay__put_u64(w, m->req);
    relay__put_u32(w, (uint32_t)m->status);
    relay__put_u8(w, (uint8_t)(m->has_desc != 0));
    if (m->has_desc) relay__desc_encode(w, &m->desc);
}

int relay__rec_get_reply_decode(relay__rbuf_t *r, relay__rec_get_reply_t *m_p)
{
    m_p->req = get_req(r);
    m_p->status = relay__rec_get_status(r, 0, "unknown status");
    m_p->has_desc = relay__rec_get_bool(r, "the object flag is not 0 or 1");
    if (r->err) return -1;
    if (m_p->has_desc && m_p->status != RELAY_OK)
        return relay__rbuf_fail(r, "a failed get carries an object");
    if (m_p->has_desc && relay__desc_decode(r, &m_p->desc) != 0) return -1;
    return relay__rec_end(r);
}

/* [u64 req][u32 status]. */
void relay__rec_reply_encode(relay__wbuf_t *w, const relay__rec_reply_t *m)
{
    relay__put_u64(w, m->req);
    relay__put_u32(w, (uint32_t)m->status);
}

int relay__rec_reply_decode(relay__rbuf_t *r, relay__rec_reply_t *m_p)
{
    m_p->req = get_req(r);
    m_p->status = relay__rec_get_status(r, 0, "unknown status");
    return relay__rec_end(r);
}

static int tag_ok(uint32_t tag)
{
    return tag >= RELAY__TAG_XFER_BASE && tag <= RELAY__TAG_XFER_MAX;
}

/* [u64 id][u32 tag][u64 chunk][u64 size]. */
void relay__rec_fetch_encode(relay__wbuf_t *w, const relay__rec_fetch_t *m)
{
    relay__put_u64(w, m->id);
    relay__put_u32(w, (uint32_t)m->tag);
    relay__put_u64(w, m->chunk);
    relay__put_u64(w, m->size);
}

int relay__rec_fetch_decode(relay__rbuf_t *r, relay__rec_fetch_t *m_p)
{
    m_p->id = relay__rec_get_id(r, "the object id is invalid");
    uint32_t tag = relay__get_u32(r);
    m_p->tag = (int)tag;
    m_p->chunk = relay__get_u64(r);
    m_p->size = relay__get_u64(r);
    if (r->err) return -1;
    if (!tag_ok(tag)) return relay__rbuf_fail(r, "the tag is not a transfer tag");
    if (m_p->chunk == 0 || m_p->chunk > INT_MAX) return relay__rbuf_fail(r, "bad chunk size");
    return relay__rec_end(r);
}

/* [u32 tag][u32 status]. */
void relay__rec_fetch_err_encode(relay__wbuf_t *w, const relay__rec_fetch_err_t *m)
{
    relay__put_u32(w, (uint32_t)m->tag);
    relay__put_u32(w, (uint32_t)m->status);
}

int relay__rec_fetch_err_decode(relay__rbuf_t *r, relay__rec_fetch_err_t *m_p)
{
    uint32_t tag = relay__get_u32(r);
    m_p->tag = (int)tag;
    m_p->status = relay__rec_get_status(r, 1, "the status is not an error");
    if (!r->err && !tag_ok(tag)) return relay__rbuf_fail(r, "the tag is not a transfer tag");
    return relay__rec_end(r);
}
