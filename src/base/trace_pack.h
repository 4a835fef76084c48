/* What the trace's files share: the buffers (trace.c) that packing reads
 * (trace_gather.c), and the packed form that the JSON writer reads
 * (trace_write.c). Ranks of one job run the same binary on one kind of
 * machine, so events travel as the structs they are. */
#ifndef RELAY_TRACE_PACK_H
#define RELAY_TRACE_PACK_H

#include "trace.h"

typedef struct relay__trace_chunk {
    _Atomic(struct relay__trace_chunk *) next;
    atomic_uint n; /* events written; each published (release) once whole */
    uint32_t cap;
    relay__tev_t ev[];
} relay__trace_chunk_t;

typedef struct relay__trace_buf {
    struct relay__trace_buf *next; /* every thread's, under the trace lock */
    int tid;
    char name[32];
    relay__trace_chunk_t *head, *tail; /* tail: its thread's own */
} relay__trace_buf_t;

/* The registered threads' buffers (trace lock held: relay__trace_lock(1)). */
relay__trace_buf_t *relay__trace_threads(void);
void relay__trace_lock(int on);
/* Bytes of events this rank may keep; the trace file's name ("" if none). */
size_t relay__trace_limit(void);
const char *relay__trace_path(void);

#define RELAY__TRACE_MAGIC 0x52545231u /* "RTR1" */

/* A packed rank: this head, nthreads threads, nevents events (t0, t1:
 * job clock nanoseconds; s1, s2: 1-based indices into the strings; peer:
 * the thread's tid except for transfers), then strbytes of strings, each
 * NUL-terminated. */
typedef struct relay__trace_head {
    uint32_t magic;
    int32_t rank;
    uint32_t nthreads, nstrings;
    uint64_t nevents, dropped;
    double clock_error;
    uint64_t limit, strbytes;
    char host[64];
} relay__trace_head_t;

/* 40 bytes: the events after the thread table stay 8-byte aligned. */
typedef struct relay__trace_thread {
    int32_t tid;
    char name[32];
    int32_t pad;
} relay__trace_thread_t;
_Static_assert(sizeof(relay__trace_thread_t) % 8 == 0, "events after threads stay aligned");
_Static_assert(sizeof(relay__trace_head_t) % 8 == 0, "threads after the head stay aligned");

#endif
