/* Byte-level encoding of the records that travel between ranks. A message
 * is a sequence of records: [u8 type][u32 length][payload]. Integers are in
 * host byte order: every rank of a job runs the same binary on the same
 * kind of machine. */
#ifndef RELAY_WIRE_H
#define RELAY_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct relay__wbuf {
    uint8_t *data;
    size_t len;
    size_t cap; /* 0 once oom is set: every reserve takes the slow path */
    int oom;    /* set once a reserve failed: the buffer content is incomplete */
} relay__wbuf_t;

void relay__wbuf_init(relay__wbuf_t *w);
void relay__wbuf_free(relay__wbuf_t *w);
void *relay__wbuf_grow(relay__wbuf_t *w, size_t n);              /* slow path of reserve */
void relay__put_blob(relay__wbuf_t *w, const void *p, size_t n); /* u64 length + bytes */
void relay__put_str(relay__wbuf_t *w, const char *s);            /* NULL → "" */

/* Room for n more bytes; NULL on OOM (oom set). Inline: records are
 * encoded field by field on the hot path. */
static inline void *relay__wbuf_reserve(relay__wbuf_t *w, size_t n)
{
    if (w->len + n > w->cap) return relay__wbuf_grow(w, n);
    void *p = w->data + w->len;
    w->len += n;
    return p;
}

static inline void relay__put_bytes(relay__wbuf_t *w, const void *p, size_t n)
{
    void *dst = relay__wbuf_reserve(w, n);
    if (dst && n) memcpy(dst, p, n);
}

static inline void relay__put_u8(relay__wbuf_t *w, uint8_t v)
{
    relay__put_bytes(w, &v, 1);
}
static inline void relay__put_u32(relay__wbuf_t *w, uint32_t v)
{
    relay__put_bytes(w, &v, 4);
}
static inline void relay__put_u64(relay__wbuf_t *w, uint64_t v)
{
    relay__put_bytes(w, &v, 8);
}

/* Record framing: begin writes the header and returns its offset; end
 * patches the length. */
size_t relay__record_begin(relay__wbuf_t *w, uint8_t type);
void relay__record_end(relay__wbuf_t *w, size_t start);
#define RELAY__RECORD_HDR 5

typedef struct relay__rbuf {
    const uint8_t *p, *end;
    int err; /* set once a read ran past the end: every later read gives 0 */
    /* Why a decoder rejected the record (static text); NULL with err set:
     * it was cut short. */
    const char *why;
} relay__rbuf_t;

static inline void relay__rbuf_init(relay__rbuf_t *r, const void *p, size_t n)
{
    r->p = p;
    r->end = r->p + n;
    r->err = 0;
    r->why = NULL;
}
const char *relay__get_str(relay__rbuf_t *r); /* NUL-terminated in place */

/* Mark r malformed for why, unless it failed already (a value read past
 * the end is 0, and the first failure is the one to report). Returns -1,
 * so a decoder can `return relay__rbuf_fail(r, "...")`. */
static inline int relay__rbuf_fail(relay__rbuf_t *r, const char *why)
{
    if (!r->err) r->why = why;
    r->err = 1;
    return -1;
}

/* Pointer to the next n bytes of the buffer, or NULL (err set). */
static inline const void *relay__get_bytes(relay__rbuf_t *r, size_t n)
{
    if (r->err || (size_t)(r->end - r->p) < n) {
        r->err = 1;
        return NULL;
    }
    const void *p = r->p;
    r->p += n;
    return p;
}

static inline uint8_t relay__get_u8(relay__rbuf_t *r)
{
    const uint8_t *p = relay__get_bytes(r, 1);
    return p ? *p : 0;
}

static inline uint32_t relay__get_u32(relay__rbuf_t *r)
{
    uint32_t v = 0;
    const void *p = relay__get_bytes(r, 4);
    if (p) memcpy(&v, p, 4);
    return v;
}

static inline uint64_t relay__get_u64(relay__rbuf_t *r)
{
    uint64_t v = 0;
    const void *p = relay__get_bytes(r, 8);
    if (p) memcpy(&v, p, 8);
    return v;
}

/* u64 length + bytes; *n_p is 0 on error. */
static inline const void *relay__get_blob(relay__rbuf_t *r, size_t *n_p)
{
    uint64_t n = relay__get_u64(r);
    const void *p = relay__get_bytes(r, (size_t)n);
    *n_p = p ? (size_t)n : 0;
    return p;
}

#endif
