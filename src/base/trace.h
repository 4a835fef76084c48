/* The job's timeline (RELAY_TRACE) and the debug-level log lines of the
 * same points: task runs, actor calls, blocked gets and waits, submissions,
 * arguments consumed, large-object transfers, spill I/O and rank 0's
 * scheduling turns. Each thread records into buffers of its own; at
 * relay_finalize rank 0 gathers every rank's events and writes one Chrome
 * trace JSON file (Perfetto opens it).
 *
 * Off (the default) every hook costs one predictable branch on a global:
 * no allocation, no clock read. */
#ifndef RELAY_TRACE_H
#define RELAY_TRACE_H

#include <mpi.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* What the hooks do: record events, log debug lines, both or neither. */
enum { RELAY__TRACE_REC = 1, RELAY__TRACE_LOG = 2 };
extern atomic_int relay__trace_flags;

static inline int relay__trace_active(void)
{
    return __builtin_expect(atomic_load_explicit(&relay__trace_flags, memory_order_relaxed) != 0,
                            0);
}

/* Whether events are recorded (rank 0's setting, the same on every rank
 * from relay_init to the gather at relay_finalize). */
static inline int relay__trace_recording(void)
{
    return (atomic_load(&relay__trace_flags) & RELAY__TRACE_REC) != 0;
}

/* relay__now() when a hook will want the time, else 0 (no clock read). */
double relay__trace_clock_slow(void);
static inline double relay__trace_clock(void)
{
    return relay__trace_active() ? relay__trace_clock_slow() : 0;
}

/* Event kinds (the packed format carries them as they are). */
enum {
    RELAY__TEV_TASK = 1, /* a task ran: id, s1 function, text its name */
    RELAY__TEV_ACTOR,    /* a constructor or method ran: id, id2 actor, s1 class, s2 method */
    RELAY__TEV_BLOCKED,  /* id waited in s1 ("get", "wait"...) for n objects, ids: the first */
    RELAY__TEV_SUBMIT,   /* id was submitted at t0 */
    RELAY__TEV_ARGS,     /* task id consumed the nids objects in ids */
    RELAY__TEV_SEND,     /* object id, n bytes, to peer */
    RELAY__TEV_RECV,     /* object id, n bytes, from peer */
    RELAY__TEV_SPILL_W,  /* object id, n bytes written */
    RELAY__TEV_SPILL_R,  /* object id, n bytes read */
    RELAY__TEV_SCHED,    /* rank 0 handled n records */
    RELAY__TEV_END
};

#define RELAY__TEV_IDS 4
#define RELAY__TEV_TEXT 32

/* One event: fixed size, so buffers are arrays. s1, s2 point to strings
 * that live as long as the process (registry names, literals); copies of
 * other strings go in u.text. */
typedef struct relay__tev {
    uint8_t kind, nids;
    int16_t status; /* relay status of the work (0: ok) */
    int32_t peer;
    double t0, t1; /* relay__now(); job clock (ns) once packed */
    uint64_t id, id2, n;
    const char *s1, *s2;
    union {
        char text[RELAY__TEV_TEXT];
        uint64_t ids[RELAY__TEV_IDS];
    } u;
} relay__tev_t;

/* Collective over comm, at relay_init: rank 0 turns path (NULL: no
 * trace; "1": relay-trace-<job>.json here; "%j": the Slurm job id) into
 * the file's name and checks that its directory is there and writable,
 * so that a typo fails now, not after the work. Every rank then records
 * when there is a file, keeping at most buffer_bytes of events, and logs
 * the debug lines when log_debug. RELAY_OK or RELAY_ERR_CONFIG (on every
 * rank). */
int relay__trace_init(MPI_Comm comm, int rank, const char *path, size_t buffer_bytes,
                      int log_debug);
/* The same without MPI, for one process (unit test): path as given. */
void relay__trace_setup(const char *path, size_t buffer_bytes, int log_debug);
/* Name the calling thread's track ("main", "runtime", "worker 3"...). */
void relay__trace_thread(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Tags of comm the trace's gather uses (gather.h). */
#define RELAY__TRACE_TAG 0x7e20
/* On every rank of comm: recording stops, every rank sends its events to
 * rank 0, which waits at most timeout seconds for them (skip: ranks known
 * gone, see relay__gather_bytes) and writes the file with what came
 * (otherData.ranks_traced). Called by relay_finalize once the runtime
 * thread left its loop. */
void relay__trace_finalize(MPI_Comm comm, const char *skip, double timeout);
/* Stops recording and frees what it kept; keep_buffers: leave the
 * buffers allocated (threads that finalize abandoned may still be about
 * to write into them). */
void relay__trace_fini(int keep_buffers);

/* Record ev (kind, times and fields set) on the calling thread. */
void relay__trace_record(const relay__tev_t *ev);

/* The hooks: each records its event when tracing and logs its debug line
 * when the level asks; nothing else. t0 from relay__trace_clock() or
 * relay__now(); times are relay__now() values. */
void relay__trace_task_slow(uint64_t id, const char *fn, const char *name, double t0, double t1,
                            int status);
static inline void relay__trace_task(uint64_t id, const char *fn, const char *name, double t0,
                                     double t1, int status)
{
    if (relay__trace_active()) relay__trace_task_slow(id, fn, name, t0, t1, status);
}
void relay__trace_task_start_slow(uint64_t id, const char *fn);
static inline void relay__trace_task_start(uint64_t id, const char *fn)
{
    if (relay__trace_active()) relay__trace_task_start_slow(id, fn);
}
void relay__trace_actor_slow(uint64_t id, uint64_t actor, const char *cls, const char *method,
                             double t0, double t1, int status);
static inline void relay__trace_actor(uint64_t id, uint64_t actor, const char *cls,
                                      const char *method, double t0, double t1, int status)
{
    if (relay__trace_active()) relay__trace_actor_slow(id, actor, cls, method, t0, t1, status);
}
/* Task id consumed the n objects in ids (its ref arguments). */
void relay__trace_args_slow(uint64_t id, const uint64_t *ids, size_t n);
void relay__trace_blocked_slow(uint64_t task, const char *what, const uint64_t *ids, size_t n,
                               double t0);
static inline void relay__trace_blocked(uint64_t task, const char *what, const uint64_t *ids,
                                        size_t n, double t0)
{
    if (relay__trace_active()) relay__trace_blocked_slow(task, what, ids, n, t0);
}
/* Task id, submitted at t0, was sent to rank 0. */
void relay__trace_submit_slow(uint64_t id, const char *fn, double t0);
static inline void relay__trace_submit(uint64_t id, const char *fn, double t0)
{
    if (relay__trace_active()) relay__trace_submit_slow(id, fn, t0);
}
/* Rank 0 placed task id on rank (debug line only). */
void relay__trace_place_slow(uint64_t id, int rank);
static inline void relay__trace_place(uint64_t id, int rank)
{
    if (relay__trace_active()) relay__trace_place_slow(id, rank);
}
/* A large object's transfer ended (send: this rank sent it to peer). */
struct relay_object;
/* obj NULL: nothing (a transfer cut by a lost rank). */
void relay__trace_xfer_slow(int send, const struct relay_object *obj, int peer, double t0,
                            int status);
static inline void relay__trace_xfer(int send, const struct relay_object *obj, int peer, double t0,
                                     int status)
{
    if (relay__trace_active()) relay__trace_xfer_slow(send, obj, peer, t0, status);
}
void relay__trace_spill_slow(int write, const struct relay_object *obj, double t0, int status);
static inline void relay__trace_spill(int write, const struct relay_object *obj, double t0,
                                      int status)
{
    if (relay__trace_active()) relay__trace_spill_slow(write, obj, t0, status);
}
/* A scheduling turn of rank 0's runtime thread that handled n records
 * (none: nothing is recorded). */
void relay__trace_sched_slow(uint64_t n, double t0);
static inline void relay__trace_sched(uint64_t n, double t0)
{
    if (relay__trace_active() && n) relay__trace_sched_slow(n, t0);
}

/* ---- parts shared with the unit test ---- */

/* The packed events of this rank (malloc'd, *len_p bytes): header, string
 * table, thread table, events with times on the job clock. Recording
 * should have stopped; events recorded meanwhile may be left out. */
void *relay__trace_pack(int rank, const char *host, size_t *len_p);
/* Write the JSON file from nranks packed buffers (NULL: rank not traced).
 * Returns 0, or -1 with errno set. [OUT] events_p: events written. */
int relay__trace_write(const char *path, void *const *packs, const size_t *lens, int nranks,
                       size_t *events_p);
/* s as a JSON string (quotes included) into f. */
void relay__trace_json_string(FILE *f, const char *s);
/* Events dropped on this rank because the buffer was full. */
uint64_t relay__trace_dropped(void);

#endif
