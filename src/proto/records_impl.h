/* Checks shared by the decoders of records.h (records*.c only). Inline:
 * a task's records go through them a few dozen times at rank 0. */
#ifndef RELAY_RECORDS_IMPL_H
#define RELAY_RECORDS_IMPL_H

#include "records.h"
#include "runtime.h"

/* 0 when r was read without error to its last byte, else -1 (why set). */
static inline int relay__rec_end(relay__rbuf_t *r)
{
    if (r->err) return -1;
    if (r->p != r->end) return relay__rbuf_fail(r, "trailing bytes after the record");
    return 0;
}

/* A string of min..max characters with no NUL inside; NULL on error. */
static inline const char *relay__rec_get_str(relay__rbuf_t *r, size_t min, size_t max,
                                             const char *why)
{
    uint32_t n = relay__get_u32(r);
    const char *s = relay__get_bytes(r, (size_t)n + 1);
    if (!s) return NULL;
    if (s[n] != '\0') return relay__rbuf_fail(r, "a string does not end in NUL"), NULL;
    if (n < min || n > max || memchr(s, '\0', n)) return relay__rbuf_fail(r, why), NULL;
    return s;
}

/* An id some rank may have made: not 0, of a rank of the job, a return
 * index below RELAY_MAX_RETURNS. */
static inline int relay__rec_id_ok(uint64_t id)
{
    return id != 0 && relay__id_rank(id) < relay__g.size && relay__id_index(id) < RELAY_MAX_RETURNS;
}

/* An id (relay__rec_id_ok); 0 on error. */
static inline uint64_t relay__rec_get_id(relay__rbuf_t *r, const char *why)
{
    uint64_t id = relay__get_u64(r);
    if (r->err) return 0;
    if (!relay__rec_id_ok(id)) return relay__rbuf_fail(r, why), 0;
    return id;
}

/* A task's, an actor's or a put's own id: also return index 0. */
static inline uint64_t relay__rec_get_task_id(relay__rbuf_t *r, const char *why)
{
    uint64_t id = relay__get_u64(r);
    if (r->err) return 0;
    if (!relay__rec_id_ok(id) || relay__id_index(id) != 0) return relay__rbuf_fail(r, why), 0;
    return id;
}

static inline int relay__rec_status_known(int s)
{
    switch (s) {
#define RELAY__STATUS_CASE(name, value, desc) case value:
        RELAY_STATUS_MAP(RELAY__STATUS_CASE)
#undef RELAY__STATUS_CASE
        return 1;
    }
    return 0;
}

/* A relay status (RELAY_OK or an error of the table); error: not RELAY_OK.
 * RELAY_ERR_INTERNAL on error. */
static inline int relay__rec_get_status(relay__rbuf_t *r, int error, const char *why)
{
    int s = (int)relay__get_u32(r);
    if (r->err) return RELAY_ERR_INTERNAL;
    if (!relay__rec_status_known(s) || (error && s == RELAY_OK)) {
        relay__rbuf_fail(r, why);
        return RELAY_ERR_INTERNAL;
    }
    return s;
}

/* A flag byte, 0 or 1. */
static inline int relay__rec_get_bool(relay__rbuf_t *r, const char *why)
{
    uint8_t v = relay__get_u8(r);
    if (v > 1) return relay__rbuf_fail(r, why), 0;
    return v;
}

/* n u64 ids, each valid (relay__rec_id_ok), into l. The count is checked
 * against what is left before anything is read. */
static inline int relay__rec_get_ids(relay__rbuf_t *r, uint32_t n, relay__ids_t *l, const char *why)
{
    if ((size_t)(r->end - r->p) / 8 < n) return relay__rbuf_fail(r, "a count exceeds the record");
    l->n = n;
    l->v = relay__get_bytes(r, (size_t)n * 8);
    for (uint32_t i = 0; i < n && !r->err; i++)
        if (!relay__rec_id_ok(relay__ids_at(l, i))) return relay__rbuf_fail(r, why);
    return r->err ? -1 : 0;
}

/* A descriptor as relay__desc_decode reads it, but checking only that
 * what it reads is there: for bytes a decoder accepted already (the
 * lists' _next functions), and for the skims. r fails on an array of more
 * than RELAY_MAX_DIMS dimensions, which it does not read. */
int relay__desc_read(relay__rbuf_t *r, relay__desc_t *d_p);

static inline void relay__rec_put_ids(relay__wbuf_t *w, const relay__ids_t *l)
{
    relay__put_u32(w, l->n);
    relay__put_bytes(w, l->v, (size_t)l->n * 8);
}

#endif
