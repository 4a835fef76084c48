/* Status table (generated from RELAY_STATUS_MAP) and per-thread last error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "relay.h"

static _Thread_local char last_error[RELAY_MAX_ERROR];

const char *relay_strerror(int status)
{
    switch (status) {
#define RELAY__STATUS_DESC(name, value, desc)                                                      \
    case value:                                                                                    \
        return desc;
        RELAY_STATUS_MAP(RELAY__STATUS_DESC)
#undef RELAY__STATUS_DESC
    }
    return "unknown status";
}

const char *relay_status_name(int status)
{
    switch (status) {
#define RELAY__STATUS_NAME(name, value, desc)                                                      \
    case value:                                                                                    \
        return "RELAY_" #name;
        RELAY_STATUS_MAP(RELAY__STATUS_NAME)
#undef RELAY__STATUS_NAME
    }
    return "RELAY_UNKNOWN_STATUS";
}

const char *relay_last_error(void)
{
    return last_error;
}

void relay__set_last_error(const char *msg)
{
    snprintf(last_error, sizeof last_error, "%s", msg ? msg : "");
}

/* Where a chain too long is cut: the newest failures (the head, about
 * HEAD_KEEP bytes) stay, and so does the root cause (the tail). */
#define HEAD_KEEP 512
#define LINK " <- "
#define CUT_MARK " <- [...] <- "

/* The last link separator that starts at or before limit (and not too
 * near the start), or NULL. */
static const char *last_link_before(const char *s, size_t limit)
{
    const char *best = NULL;
    for (const char *p = strstr(s, LINK); p && (size_t)(p - s) <= limit; p = strstr(p + 1, LINK))
        if ((size_t)(p - s) >= limit / 4) best = p;
    return best;
}

/* s (n bytes, more than fit) cut to RELAY_MAX_ERROR - 1 bytes: its head,
 * the mark, its tail, cut between links where possible. A mark left by an
 * earlier cut is never kept: the tail starts after it. */
static void cut_middle(char *s, size_t n)
{
    const size_t mark = sizeof CUT_MARK - 1, link = sizeof LINK - 1;
    size_t head = HEAD_KEEP, tail = RELAY_MAX_ERROR - 1 - HEAD_KEEP - mark;
    const char *h = last_link_before(s, HEAD_KEEP);
    if (h) head = (size_t)(h - s);
    const char *start = s + n - tail, *t = strstr(start, LINK);
    if (t && (size_t)(t - start) <= tail / 2) start = t + link;
    for (const char *m = strstr(s + head, CUT_MARK); m; m = strstr(m + 1, CUT_MARK))
        if (m + mark > start) start = m + mark;
    tail = (size_t)(s + n - start);
    memcpy(s + head, CUT_MARK, mark);
    memmove(s + head + mark, s + n - tail, tail);
    s[head + mark + tail] = '\0';
}

char *relay__errjoin(const char *a, const char *sep, const char *b)
{
    size_t na = strlen(a), ns = b ? strlen(sep) : 0, nb = b ? strlen(b) : 0;
    size_t n = na + ns + nb;
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, a, na);
    if (b) {
        memcpy(s + na, sep, ns);
        memcpy(s + na + ns, b, nb);
    }
    s[n] = '\0';
    if (n >= RELAY_MAX_ERROR) cut_middle(s, n);
    return s;
}
