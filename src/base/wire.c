#include "wire.h"

#include <stdlib.h>
#include <string.h>

void relay__wbuf_init(relay__wbuf_t *w)
{
    memset(w, 0, sizeof *w);
}

void relay__wbuf_free(relay__wbuf_t *w)
{
    free(w->data);
    relay__wbuf_init(w);
}

void *relay__wbuf_grow(relay__wbuf_t *w, size_t n)
{
    if (w->oom) return NULL;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + n)
        cap *= 2;
    uint8_t *data = realloc(w->data, cap);
    if (!data) {
        w->oom = 1;
        w->cap = 0;
        return NULL;
    }
    w->data = data;
    w->cap = cap;
    void *p = w->data + w->len;
    w->len += n;
    return p;
}

/* Length and bytes in one reserve: strings and blobs are in every task's
 * records. */
void relay__put_blob(relay__wbuf_t *w, const void *p, size_t n)
{
    uint8_t *dst = relay__wbuf_reserve(w, 8 + n);
    if (!dst) return;
    uint64_t len = n;
    memcpy(dst, &len, 8);
    if (n) memcpy(dst + 8, p, n);
}

void relay__put_str(relay__wbuf_t *w, const char *s)
{
    if (!s) s = "";
    size_t n = strlen(s);
    uint8_t *dst = relay__wbuf_reserve(w, 4 + n + 1);
    if (!dst) return;
    uint32_t len = (uint32_t)n;
    memcpy(dst, &len, 4);
    memcpy(dst + 4, s, n + 1);
}

size_t relay__record_begin(relay__wbuf_t *w, uint8_t type)
{
    size_t start = w->len;
    relay__put_u8(w, type);
    relay__put_u32(w, 0);
    return start;
}

void relay__record_end(relay__wbuf_t *w, size_t start)
{
    if (w->oom) return;
    uint32_t n = (uint32_t)(w->len - start - RELAY__RECORD_HDR);
    memcpy(w->data + start + 1, &n, 4);
}

const char *relay__get_str(relay__rbuf_t *r)
{
    uint32_t n = relay__get_u32(r);
    const char *s = relay__get_bytes(r, (size_t)n + 1);
    if (s && s[n] != '\0') {
        r->err = 1;
        return "";
    }
    return s ? s : "";
}
