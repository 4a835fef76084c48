/* Byte-level encoding of the records that travel between ranks. A message
 * is a sequence of records: [u8 type][u32 length][payload]. Integers are in
 * host byte order: every rank of a job runs the same binary on the same
 * kind of machine. */
#ifndef RELAY_WIRE_H
#define RELAY_WIRE_H

#include <stddef.h>
#include <stdint.h>

typedef struct relay__wbuf {
    uint8_t *data;
    size_t len, cap;
    int oom; /* set once a reserve failed: the buffer content is incomplete */
} relay__wbuf_t;

void relay__wbuf_init(relay__wbuf_t *w);
void relay__wbuf_free(relay__wbuf_t *w);
void *relay__wbuf_reserve(relay__wbuf_t *w, size_t n); /* NULL on OOM (oom set) */
void relay__put_u8(relay__wbuf_t *w, uint8_t v);
void relay__put_u32(relay__wbuf_t *w, uint32_t v);
void relay__put_u64(relay__wbuf_t *w, uint64_t v);
void relay__put_bytes(relay__wbuf_t *w, const void *p, size_t n); /* raw, no length */
void relay__put_blob(relay__wbuf_t *w, const void *p, size_t n);  /* u64 length + bytes */
void relay__put_str(relay__wbuf_t *w, const char *s);             /* NULL → "" */

/* Record framing: begin writes the header and returns its offset; end
 * patches the length. */
size_t relay__record_begin(relay__wbuf_t *w, uint8_t type);
void relay__record_end(relay__wbuf_t *w, size_t start);
#define RELAY__RECORD_HDR 5

typedef struct relay__rbuf {
    const uint8_t *p, *end;
    int err; /* set once a read ran past the end: every later read gives 0 */
} relay__rbuf_t;

void relay__rbuf_init(relay__rbuf_t *r, const void *p, size_t n);
uint8_t relay__get_u8(relay__rbuf_t *r);
uint32_t relay__get_u32(relay__rbuf_t *r);
uint64_t relay__get_u64(relay__rbuf_t *r);
const void *relay__get_bytes(relay__rbuf_t *r, size_t n);   /* pointer into the buffer */
const void *relay__get_blob(relay__rbuf_t *r, size_t *n_p); /* u64 length + bytes */
const char *relay__get_str(relay__rbuf_t *r);               /* NUL-terminated in place */

#endif
