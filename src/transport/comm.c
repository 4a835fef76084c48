/* MPI transport: the runtime thread, batched control messages, chunked
 * transfers of large objects. See comm.h. */
#include "comm.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "doorbell.h"
#include "liveness.h"
#include "batch.h"
#include "log.h"
#include "object.h"
#include "runtime.h"
#include "summary.h"
#include "trace.h"

/* Spin this long after the last activity before sleeping: a reply usually
 * follows a request within a few tens of microseconds. */
#define SPIN_SECONDS 100e-6
/* An MPI message carries at most this many bytes of records. */
#define MAX_MSG_BYTES ((size_t)1 << 30)
/* Where messages can come from other nodes, whose ranks cannot ring this
 * rank's bell, an idle runtime thread sleeps at most IDLE_FRACTION of the
 * time the rank has been idle, and never less than OFF_NODE_SLEEP_MIN: a
 * message waits at most that much longer than it would for a rank that
 * polls without pause, and a rank polls about ln(poll_max/min)/fraction
 * times per idle spell before it sleeps poll_max_us at a time. */
#define OFF_NODE_SLEEP_MIN 20e-6
#define IDLE_FRACTION 0.05
/* At finalize, give outstanding sends this long to complete. */
#define EXIT_FLUSH_SECONDS 5.0
#define SELF_DEPTH 16

typedef struct xfer {
    struct xfer *next;
    int is_send;
    int peer, tag;
    size_t chunk;
    struct relay_object *obj;
    int nreq;
    MPI_Request *reqs;
    int cancel; /* receiver: the holder refused, cancel posted receives */
    int status;
    relay__fetch_t *fetch; /* receiver */
    double t0;             /* asked for (receiver) or queued (sender), when traced */
} xfer_t;

typedef struct pending_send {
    MPI_Request req;
    void *buf;
    int dest;
} pending_send_t;

typedef struct relay__comm {
    pthread_t thread;
    int started;

    relay__wbuf_t *out; /* per destination */
    int *dirty;
    int ndirty;
    char *is_dirty;

    relay__wbuf_t self[SELF_DEPTH];
    int self_depth;
    int local_taken; /* records for this rank taken from out[] to dispatch */

    xfer_t *to_post; /* queued by any thread, posted by the runtime thread */
    relay__map_t recv_by_tag;
    int next_tag, tag_max;

    /* State of the thread doing progress (under progress_lock). */
    pthread_mutex_t progress_lock;
    struct outgoing *outv;
    size_t outv_cap;
    pending_send_t *sends;
    size_t nsends, cap_sends;
    xfer_t *active;
    double last_work; /* when a turn of progress last did something */

    /* Lost ranks (relay lock): nothing goes to them, nothing from them is
     * handled. The progress thread sweeps its sends and transfers to them
     * (dead_prog, its copy, taken with the outgoing records). */
    relay__live_t live;
    char *dead, *dead_prog;
    int ndead, ndead_prog;
    int swept;              /* progress thread: ndead_prog at its last sweep */
    atomic_int send_failed; /* 1 + the rank a control send to failed, or 0 */
} relay__comm_t;

/* Acquire: a thread that sees the transport sees it whole (comm_start). */
static relay__comm_t *C(void)
{
    return atomic_load_explicit(&relay__g.comm_state, memory_order_acquire);
}

/* ---------------------------------------------------------------------- */
/* Queueing records                                                         */
/* ---------------------------------------------------------------------- */

relay__wbuf_t *relay__msg_begin(int dest, uint8_t type, size_t *start_p)
{
    relay__comm_t *c = C();
    relay__wbuf_t *w;
    if (dest == relay__g.rank) {
        if (c->self_depth < SELF_DEPTH) {
            w = &c->self[c->self_depth];
        } else {
            w = malloc(sizeof *w);
            if (!w) {
                /* Out of memory on a record: nothing sensible to do but say so. */
                relay__log(RELAY__LOG_ERROR, "out of memory queueing a local record");
                abort();
            }
            relay__wbuf_init(w);
        }
        c->self_depth++;
        w->len = 0;
    } else {
        w = &c->out[dest];
    }
    *start_p = relay__record_begin(w, type);
    return w;
}

/* now: a record for this rank is dispatched at once (relay__msg_end);
 * otherwise it waits in out[] like a record for another rank, and the turn
 * of progress that takes it dispatches it instead of sending it. */
static void msg_end(int dest, relay__wbuf_t *w, size_t start, int now)
{
    relay__comm_t *c = C();
    relay__record_end(w, start);
    if (w->oom) {
        relay__log(RELAY__LOG_ERROR, "out of memory encoding a record for rank %d", dest);
        abort();
    }
    if (dest == relay__g.rank && now) {
        /* A record for this rank never overtakes one queued for it
         * earlier, nor one a turn of progress took and is handling: then
         * it queues behind them. */
        int queue = c->is_dirty[dest] || c->local_taken;
        if (queue)
            relay__put_bytes(&c->out[dest], w->data + start, w->len - start);
        else
            relay__dispatch(dest, w->data + start, w->len - start);
        c->self_depth--;
        if (c->self_depth >= SELF_DEPTH) {
            relay__wbuf_free(w);
            free(w);
        }
        if (c->out[dest].oom) {
            relay__log(RELAY__LOG_ERROR, "out of memory queueing a local record");
            abort();
        }
        if (!queue) return;
    }
    if (!c->is_dirty[dest]) {
        c->is_dirty[dest] = 1;
        c->dirty[c->ndirty++] = dest;
    }
    relay__comm_wake();
}

void relay__msg_end(int dest, relay__wbuf_t *w, size_t start)
{
    msg_end(dest, w, start, 1);
}

relay__wbuf_t *relay__msg_begin_later(int dest, uint8_t type, size_t *start_p)
{
    if (dest != relay__g.rank) return relay__msg_begin(dest, type, start_p);
    relay__wbuf_t *w = &C()->out[dest];
    *start_p = relay__record_begin(w, type);
    return w;
}

void relay__msg_end_later(int dest, relay__wbuf_t *w, size_t start)
{
    msg_end(dest, w, start, 0);
}

int relay__comm_local_pending(void)
{
    relay__comm_t *c = C();
    return c && (c->is_dirty[relay__g.rank] || c->local_taken);
}

void relay__comm_wake(void)
{
    relay__bell_ring(relay__g.rank);
}

/* ---------------------------------------------------------------------- */
/* Dispatch                                                                 */
/* ---------------------------------------------------------------------- */

/* Every part registers the handlers of the records it owns at init; the
 * transport knows none of them. A slot is NULL on a rank where no part
 * handles that type (a SUBMIT reaching a worker rank): such a record is
 * logged and dropped. */
static relay__handler_t handlers[256];
static relay__comm_hooks_t hooks;

void relay__handler_set(uint8_t type, relay__handler_t fn)
{
    handlers[type] = fn;
}

relay__comm_hooks_t *relay__comm_hooks(void)
{
    return &hooks;
}

/* Every rank answers a PING once the records it sent before are out: its
 * PONG follows them on the same ordered channel. */
static void on_ping(int src, relay__rbuf_t *r)
{
    relay__rec_ping_t m;
    if (relay__rec_ping_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_PING, src, r);
        return;
    }
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(src, RELAY__R_PONG, &start);
    relay__rec_ping_encode(w, &m);
    relay__msg_end(src, w, start);
}

/* Lock held: rank is lost. Records queued for it are dropped, a fetch
 * from it fails; the progress thread sweeps its sends and transfers. */
static void mark_dead(int rank)
{
    relay__comm_t *c = C();
    if (rank < 0 || rank >= relay__g.size || rank == relay__g.rank || c->dead[rank]) return;
    c->dead[rank] = 1;
    c->ndead++;
    relay__g.ranks_lost++;
    relay__live_set_lost(&c->live, rank);
    for (xfer_t *x = c->to_post; x; x = x->next)
        if (x->peer == rank && !x->cancel) {
            x->cancel = 1;
            x->status = RELAY_ERR_RANK_LOST;
        }
    relay__comm_wake();
}

int relay__comm_rank_lost(int rank)
{
    relay__comm_t *c = C();
    return c && rank >= 0 && rank < relay__g.size && c->dead[rank];
}

/* RANK_LOST naming rank, to rank itself, sent at once and never waited
 * for: the queued path drops records for a lost rank, yet a rank only
 * stopped for a while (swapped out, in a debugger) must hear, when it
 * wakes, that it was given up, and leave alone rather than find rank 0
 * silent and end the whole job. A dead rank never receives it; its few
 * bytes are left to MPI. */
static void send_farewell(int rank)
{
    relay__rec_rank_lost_t m = {rank};
    relay__wbuf_t w;
    relay__wbuf_init(&w);
    size_t start = relay__record_begin(&w, RELAY__R_RANK_LOST);
    relay__rec_rank_lost_encode(&w, &m);
    relay__record_end(&w, start);
    MPI_Request req;
    if (!w.oom && MPI_Isend(w.data, (int)w.len, MPI_BYTE, rank, RELAY__TAG_CTRL, relay__g.comm,
                            &req) == MPI_SUCCESS) {
        MPI_Request_free(&req);
        return;
    }
    relay__wbuf_free(&w);
}

/* Rank 0 found rank lost: it says so once, tells every other rank (rank
 * itself first), and the parts above the transport give its work out
 * again (hooks). */
static void declare_lost(int rank, const char *why)
{
    relay__comm_t *c = C();
    char fate[512];
    relay__rank_fate(rank, fate, sizeof fate);
    relay__log(RELAY__LOG_ERROR, "rank %d (host %s) lost: %s%s%s", rank, relay__rank_host(rank),
               why, *fate ? "; " : "", fate);
    send_farewell(rank);
    mark_dead(rank);
    relay__rec_rank_lost_t m = {rank};
    for (int k = 1; k < relay__g.size; k++) {
        if (c->dead[k]) continue;
        size_t start;
        relay__wbuf_t *w = relay__msg_begin(k, RELAY__R_RANK_LOST, &start);
        relay__rec_rank_lost_encode(w, &m);
        relay__msg_end(k, w, start);
    }
    if (hooks.rank_lost) hooks.rank_lost(rank);
}

static void on_rank_lost(int src, relay__rbuf_t *r)
{
    relay__rec_rank_lost_t m;
    if (relay__rec_rank_lost_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_RANK_LOST, src, r);
        return;
    }
    if (m.rank == relay__g.rank) {
        /* Rank 0 gave this rank up (it was silent too long): its work is
         * gone elsewhere and nothing it says is heard any more, so it
         * leaves, alone (MPI_Abort would end the survivors too). */
        relay__log(RELAY__LOG_ERROR,
                   "rank 0 found this rank (%d) lost (silent for too long): its work went "
                   "elsewhere; exiting",
                   m.rank);
        _exit(1);
    }
    if (C()->dead[m.rank]) return;
    mark_dead(m.rank);
    if (hooks.rank_lost) hooks.rank_lost(m.rank);
}

static void judge_silent(int rank, double silent, double now);

/* Runtime thread, lock held, about once per loop: rank 0 pings the ranks
 * and declares the silent ones lost; a worker rank that hears nothing from
 * rank 0 ends the job (rank 0 holds the scheduler and the directory). */
static void liveness_turn(void)
{
    relay__comm_t *c = C();
    if (relay__g.exiting) return;
    int failed = atomic_load_explicit(&c->send_failed, memory_order_relaxed)
                     ? atomic_exchange(&c->send_failed, 0) - 1
                     : -1;
    if (relay__g.rank == 0 && failed > 0 && !c->dead[failed])
        declare_lost(failed, "a message to it could not be sent");
    if (c->live.timeout <= 0) return;
    double now = relay__now(), silent = 0;
    int ping = 0, lost = relay__live_check(&c->live, now, &silent, &ping);
    if (ping) {
        relay__rec_ping_t m = {RELAY__PING_ALIVE};
        for (int k = 1; k < relay__g.size; k++) {
            if (c->dead[k]) continue;
            size_t start;
            relay__wbuf_t *w = relay__msg_begin(k, RELAY__R_PING, &start);
            relay__rec_ping_encode(w, &m);
            relay__msg_end(k, w, start);
        }
    }
    /* Every rank silent at this scan, not only the first. */
    for (; lost >= 0; lost = relay__live_check(&c->live, now, &silent, &ping))
        judge_silent(lost, silent, now);
}

/* Lock held: rank was silent for silent seconds. A control message from
 * it that waits unreceived (a backlog at a saturated rank) is life: every
 * one is received soon (a transfer's message may wait for ever, for a
 * receive that was cancelled, so it does not count); otherwise rank
 * 0 declares it lost, and a worker, which watches rank 0 only, ends the
 * job. */
static void judge_silent(int rank, double silent, double now)
{
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(rank, RELAY__TAG_CTRL, relay__g.comm, &flag, &st) == MPI_SUCCESS && flag) {
        relay__live_spare(&C()->live, rank, now);
        return;
    }
    char why[96];
    snprintf(why, sizeof why, "no message for %.1f s", silent);
    if (relay__g.rank == 0) {
        declare_lost(rank, why);
        return;
    }
    relay__log(RELAY__LOG_ERROR,
               "rank 0 (host %s) lost: %s; the job cannot go on without its scheduler: "
               "aborting",
               relay__rank_host(0), why);
    MPI_Abort(relay__g.comm, 1);
}

void relay__comm_live_arm(void)
{
    relay__comm_t *c = C();
    pthread_mutex_lock(&relay__g.lock);
    relay__live_arm(&c->live, relay__now());
    pthread_mutex_unlock(&relay__g.lock);
}

static void on_exit_record(int src, relay__rbuf_t *r)
{
    if (relay__rec_empty_decode(r) != 0) {
        relay__rec_malformed(RELAY__R_EXIT, src, r);
        return;
    }
    relay__g.exiting = 1;
    pthread_cond_broadcast(&relay__g.state_cv);
}

void relay__comm_handlers_init(void)
{
    memset(handlers, 0, sizeof handlers);
    memset(&hooks, 0, sizeof hooks);
    handlers[RELAY__R_PING] = on_ping;
    handlers[RELAY__R_EXIT] = on_exit_record;
    handlers[RELAY__R_FETCH_ERR] = relay__comm_on_fetch_err;
    handlers[RELAY__R_RANK_LOST] = on_rank_lost;
}

/* Records handled while tracing: rank 0's scheduling turns in the trace
 * say how many each took. Counted by whichever thread dispatches. */
static atomic_uint_fast64_t records_handled;

void relay__dispatch_record(int src, uint8_t type, relay__rbuf_t *r)
{
    relay__handler_t fn = handlers[type];
    if (relay__trace_active()) atomic_fetch_add_explicit(&records_handled, 1, memory_order_relaxed);
    if (!fn) {
        relay__log(RELAY__LOG_ERROR, "record type %u from rank %d has no handler on rank %d", type,
                   src, relay__g.rank);
        return;
    }
    fn(src, r);
}

void relay__dispatch(int src, const void *buf, size_t len)
{
    relay__rbuf_t msg;
    relay__rbuf_init(&msg, buf, len);
    if (hooks.on_message) hooks.on_message();
    while (msg.p < msg.end) {
        uint8_t type = relay__get_u8(&msg);
        uint32_t n = relay__get_u32(&msg);
        const void *payload = relay__get_bytes(&msg, n);
        if (msg.err) {
            relay__log(RELAY__LOG_ERROR, "truncated message from rank %d", src);
            return;
        }
        /* Handlers assume the state of the ranks their records go to
         * (rank 0's tables, or a record only rank 0 sends). */
        if (!relay__record_route_ok(type, src, relay__g.rank)) {
            if (type == RELAY__R_NONE || type >= RELAY__R_END)
                relay__log(RELAY__LOG_ERROR, "unknown record type %u from rank %d: dropped", type,
                           src);
            else
                relay__log(RELAY__LOG_ERROR,
                           "%s record from rank %d to rank %d, a way it never "
                           "goes: dropped",
                           relay__record_name(type), src, relay__g.rank);
            continue;
        }
        relay__rbuf_t r;
        relay__rbuf_init(&r, payload, n);
        if (hooks.filter && hooks.filter(src, type, &r)) continue;
        relay__dispatch_record(src, type, &r);
    }
}

/* ---------------------------------------------------------------------- */
/* Transfers                                                                */
/* ---------------------------------------------------------------------- */

static int nchunks(size_t size, size_t chunk)
{
    return (int)((size + chunk - 1) / chunk);
}

relay__fetch_t *relay__fetch_start(int holder, struct relay_object *obj, struct relay__batch *batch)
{
    relay__comm_t *c = C();
    relay__fetch_t *f = calloc(1, sizeof *f);
    xfer_t *x = calloc(1, sizeof *x);
    if (!f || !x) {
        free(f);
        free(x);
        return NULL;
    }
    f->obj = obj;
    f->batch = batch;
    x->peer = holder;
    x->chunk = relay__g.cfg.chunk_bytes;
    x->obj = relay__obj_ref(obj);
    x->fetch = f;
    x->t0 = relay__trace_clock();
    /* Tags cycle, skipping any still in use by a fetch in flight. */
    do {
        x->tag = c->next_tag;
        c->next_tag = c->next_tag >= c->tag_max ? RELAY__TAG_XFER_BASE : c->next_tag + 1;
    } while (relay__map_get(&c->recv_by_tag, (uint64_t)x->tag));
    if (relay__map_put(&c->recv_by_tag, (uint64_t)x->tag, x) != 0) {
        relay__obj_unref(obj);
        free(f);
        free(x);
        return NULL;
    }
    x->next = c->to_post;
    c->to_post = x;
    if (c->dead[holder]) { /* completes at the next turn, failed */
        x->cancel = 1;
        x->status = RELAY_ERR_RANK_LOST;
        relay__comm_wake();
        return f;
    }
    relay__rec_fetch_t m = {obj->id, x->tag, x->chunk, obj->size};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(holder, RELAY__R_FETCH, &start);
    relay__rec_fetch_encode(w, &m);
    relay__msg_end(holder, w, start);
    return f;
}

void relay__fetch_adopt(relay__fetch_t *f, struct relay_object **obj_p)
{
    if (!f->shared) return;
    relay__obj_unref(*obj_p);
    *obj_p = f->obj = f->shared;
    f->shared = NULL;
}

void relay__fetch_finish(relay__fetch_t *f)
{
    if (f->done) {
        relay__obj_unref(f->shared);
        free(f->errmsg);
        free(f);
    } else {
        f->abandoned = 1;
    }
}

void relay__send_object(int dest, int tag, size_t chunk, struct relay_object *obj)
{
    relay__comm_t *c = C();
    xfer_t *x = calloc(1, sizeof *x);
    if (!x) {
        relay__log(RELAY__LOG_ERROR, "out of memory sending object to rank %d", dest);
        return;
    }
    x->is_send = 1;
    x->peer = dest;
    x->tag = tag;
    x->chunk = chunk;
    x->obj = relay__obj_ref(obj);
    x->t0 = relay__trace_clock();
    x->next = c->to_post;
    c->to_post = x;
    relay__comm_wake();
}

static void post_fetch_err(int dest, int tag, int status);

void relay__comm_refuse_fetch(int dest, int tag, int status)
{
    post_fetch_err(dest, tag, status);
}

static void post_fetch_err(int dest, int tag, int status)
{
    relay__rec_fetch_err_t m = {tag, status};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(dest, RELAY__R_FETCH_ERR, &start);
    relay__rec_fetch_err_encode(w, &m);
    relay__msg_end(dest, w, start);
}

int relay__comm_tag_max(void)
{
    return C()->tag_max;
}

void relay__comm_on_fetch_err(int src, relay__rbuf_t *r)
{
    relay__rec_fetch_err_t m;
    if (relay__rec_fetch_err_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_FETCH_ERR, src, r);
        return;
    }
    xfer_t *x = relay__map_get(&C()->recv_by_tag, (uint64_t)m.tag);
    if (!x || x->peer != src) return;
    x->cancel = 1;
    x->status = m.status;
}

/* Runtime thread: post the MPI requests of a queued transfer. */
static void xfer_post(xfer_t *x)
{
    int n = nchunks(x->obj->size, x->chunk);
    x->reqs = malloc((size_t)n * sizeof *x->reqs);
    if (!x->reqs) {
        relay__log(RELAY__LOG_ERROR, "out of memory posting a transfer");
        x->cancel = 1;
        x->status = RELAY_ERR_NO_MEMORY;
        return;
    }
    char *p = x->obj->data;
    for (int i = 0; i < n; i++) {
        size_t off = (size_t)i * x->chunk;
        int count = (int)(x->obj->size - off < x->chunk ? x->obj->size - off : x->chunk);
        int rc =
            x->is_send
                ? MPI_Isend(p + off, count, MPI_BYTE, x->peer, x->tag, relay__g.comm, &x->reqs[i])
                : MPI_Irecv(p + off, count, MPI_BYTE, x->peer, x->tag, relay__g.comm, &x->reqs[i]);
        if (rc != MPI_SUCCESS) {
            relay__log(RELAY__LOG_ERROR, "MPI transfer post failed (%d)", rc);
            x->reqs[i] = MPI_REQUEST_NULL;
            x->cancel = 1;
            x->status = RELAY_ERR_MPI;
        }
    }
    x->nreq = n;
}

/* "rank 2 (host h), which holds it, was lost[: its fate]", malloc'd. */
static char *lost_text(int rank)
{
    char fate[512], *s = NULL;
    relay__rank_fate(rank, fate, sizeof fate);
    if (asprintf(&s, "rank %d (host %s), which holds it, was lost%s%s", rank,
                 relay__rank_host(rank), *fate ? ": " : "", fate) < 0)
        return NULL;
    return s;
}

/* Runtime thread, lock held: a transfer ended; hand the result over. */
static void xfer_complete(xfer_t *x)
{
    /* A send that could not go tells the receiver, which would wait. */
    if (x->status == RELAY_OK) relay__summary_xfer(x->is_send, x->obj->size);
    if (x->is_send && x->status != RELAY_OK && x->status != RELAY_ERR_SHUTDOWN &&
        !C()->dead[x->peer])
        post_fetch_err(x->peer, x->tag, x->status);
    relay__trace_xfer(x->is_send, x->obj, x->peer, x->t0, x->status);
    if (!x->is_send) {
        relay__map_remove(&C()->recv_by_tag, (uint64_t)x->tag);
        relay__fetch_t *f = x->fetch;
        if (x->status == RELAY_OK)
            atomic_fetch_add_explicit(&relay__g.bytes_fetched, x->obj->size, memory_order_relaxed);
        if (f->abandoned) {
            free(f);
        } else {
            if (x->status == RELAY_ERR_RANK_LOST && !f->errmsg) f->errmsg = lost_text(x->peer);
            f->done = 1;
            f->status = x->status;
            relay__batch_signal(f->batch);
        }
    }
    relay__obj_unref(x->obj);
    free(x->reqs);
    free(x);
}

/* Runtime thread: test active transfers; returns how many finished. */
static int xfers_progress(void)
{
    relay__comm_t *c = C();
    int finished = 0;
    for (xfer_t **pp = &c->active; *pp;) {
        xfer_t *x = *pp;
        int flag = 0;
        if (x->cancel && x->reqs) {
            for (int i = 0; i < x->nreq; i++)
                if (x->reqs[i] != MPI_REQUEST_NULL) MPI_Cancel(&x->reqs[i]);
            MPI_Waitall(x->nreq, x->reqs, MPI_STATUSES_IGNORE);
            flag = 1;
        } else if (x->cancel) {
            flag = 1;
        } else {
            MPI_Testall(x->nreq, x->reqs, &flag, MPI_STATUSES_IGNORE);
        }
        if (!flag) {
            pp = &x->next;
            continue;
        }
        *pp = x->next;
        pthread_mutex_lock(&relay__g.lock);
        xfer_complete(x);
        pthread_mutex_unlock(&relay__g.lock);
        finished++;
    }
    return finished;
}

/* ---------------------------------------------------------------------- */
/* Control messages                                                         */
/* ---------------------------------------------------------------------- */

static void track_send(void *buf, MPI_Request req, int dest)
{
    relay__comm_t *c = C();
    if (c->nsends == c->cap_sends) {
        size_t cap = c->cap_sends ? 2 * c->cap_sends : 64;
        pending_send_t *s = realloc(c->sends, cap * sizeof *s);
        if (!s) {
            /* Cannot track it: wait for it here rather than leak or corrupt. */
            MPI_Wait(&req, MPI_STATUS_IGNORE);
            free(buf);
            return;
        }
        c->sends = s;
        c->cap_sends = cap;
    }
    c->sends[c->nsends].req = req;
    c->sends[c->nsends].buf = buf;
    c->sends[c->nsends].dest = dest;
    c->nsends++;
}

static void send_piece(int dest, const uint8_t *p, size_t n, void *owned)
{
    void *buf = owned;
    if (!buf) {
        buf = malloc(n);
        if (!buf) {
            relay__log(RELAY__LOG_ERROR, "out of memory splitting a message");
            return;
        }
        memcpy(buf, p, n);
    }
    MPI_Request req;
    int rc = MPI_Isend(buf, (int)n, MPI_BYTE, dest, RELAY__TAG_CTRL, relay__g.comm, &req);
    if (rc != MPI_SUCCESS) {
        relay__log(RELAY__LOG_ERROR, "MPI_Isend to rank %d failed (%d)", dest, rc);
        free(buf);
        /* With MPI_ERRORS_RETURN a failed send is evidence the rank is gone. */
        atomic_store(&C()->send_failed, dest + 1);
        return;
    }
    relay__summary_msg(1, n);
    track_send(buf, req, dest);
}

/* Send one batch of records; a batch over MAX_MSG_BYTES is cut at record
 * boundaries so no MPI count overflows. */
static void send_batch(int dest, relay__wbuf_t *w)
{
    if (w->len <= MAX_MSG_BYTES) {
        send_piece(dest, w->data, w->len, w->data);
        return;
    }
    size_t start = 0, pos = 0;
    while (pos < w->len) {
        uint32_t n;
        memcpy(&n, w->data + pos + 1, 4);
        size_t next = pos + RELAY__RECORD_HDR + n;
        if (next - start > MAX_MSG_BYTES && pos > start) {
            send_piece(dest, w->data + start, pos - start, NULL);
            start = pos;
        }
        pos = next;
    }
    send_piece(dest, w->data + start, pos - start, NULL);
    free(w->data);
}

static int sends_progress(void)
{
    relay__comm_t *c = C();
    int finished = 0;
    for (size_t i = 0; i < c->nsends;) {
        int flag = 0;
        if (MPI_Test(&c->sends[i].req, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
            atomic_store(&c->send_failed, c->sends[i].dest + 1);
            flag = 1;
        }
        if (!flag) {
            i++;
            continue;
        }
        free(c->sends[i].buf);
        c->sends[i] = c->sends[--c->nsends];
        finished++;
    }
    return finished;
}

/* Receive and dispatch up to max control messages. */
/* Records this rank queued for itself are handled before a message from
 * another rank: that rank may name an object this rank's client just made
 * (and sent it the ref by other means), and rank 0's hold-back counts ids
 * of rank 0 as known. Relay lock held. */
static void local_first(void)
{
    relay__comm_t *c = C();
    int self = relay__g.rank;
    if (!c->is_dirty[self] || c->local_taken) return;
    relay__wbuf_t w = c->out[self];
    relay__wbuf_init(&c->out[self]);
    c->is_dirty[self] = 0;
    for (int i = 0; i < c->ndirty; i++) {
        if (c->dirty[i] != self) continue;
        c->dirty[i] = c->dirty[--c->ndirty];
        break;
    }
    c->local_taken++;
    relay__dispatch(self, w.data, w.len);
    c->local_taken--;
    relay__wbuf_free(&w);
}

static int recv_some(int max)
{
    int got = 0;
    while (got < max) {
        int flag = 0;
        MPI_Message msg;
        MPI_Status st;
        MPI_Improbe(MPI_ANY_SOURCE, RELAY__TAG_CTRL, relay__g.comm, &flag, &msg, &st);
        if (!flag) break;
        int count = 0;
        MPI_Get_count(&st, MPI_BYTE, &count);
        void *buf = malloc(count ? (size_t)count : 1);
        if (!buf) {
            relay__log(RELAY__LOG_ERROR, "out of memory receiving %d bytes", count);
            abort();
        }
        MPI_Mrecv(buf, count, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
        relay__summary_msg(0, (uint64_t)count);
        pthread_mutex_lock(&relay__g.lock);
        relay__comm_t *c = C();
        /* A rank found lost may yet speak (it was only slow): too late, its
         * work has gone elsewhere. */
        if (!c->dead[st.MPI_SOURCE]) {
            if (c->live.timeout > 0) relay__live_heard(&c->live, st.MPI_SOURCE, relay__now());
            local_first();
            relay__dispatch(st.MPI_SOURCE, buf, (size_t)count);
            if (hooks.tick) hooks.tick();
        }
        pthread_mutex_unlock(&relay__g.lock);
        free(buf);
        got++;
    }
    return got;
}

/* Records relay__msg_end_later queued for this rank: dispatched as a
 * message received from it. Relay lock not held. */
static void dispatch_local(relay__wbuf_t *w)
{
    pthread_mutex_lock(&relay__g.lock);
    relay__dispatch(relay__g.rank, w->data, w->len);
    if (hooks.tick) hooks.tick();
    C()->local_taken--;
    pthread_mutex_unlock(&relay__g.lock);
    relay__wbuf_free(w);
}

/* Lock held: move queued batches and transfers to the runtime thread. */
typedef struct outgoing {
    int dest;
    relay__wbuf_t buf;
} outgoing_t;

static size_t take_outgoing(outgoing_t **v, size_t *cap, xfer_t **posts)
{
    relay__comm_t *c = C();
    size_t n = 0;
    *posts = c->to_post;
    c->to_post = NULL;
    if ((size_t)c->ndirty > *cap) {
        outgoing_t *nv = realloc(*v, (size_t)c->ndirty * sizeof *nv);
        if (!nv) return 0; /* try again next turn */
        *v = nv;
        *cap = (size_t)c->ndirty;
    }
    if (c->ndead != c->ndead_prog) {
        memcpy(c->dead_prog, c->dead, (size_t)relay__g.size);
        c->ndead_prog = c->ndead;
    }
    for (int i = 0; i < c->ndirty; i++) {
        int d = c->dirty[i];
        if (c->dead[d]) { /* records for a lost rank go nowhere */
            relay__wbuf_free(&c->out[d]);
            c->is_dirty[d] = 0;
            continue;
        }
        (*v)[n].dest = d;
        (*v)[n].buf = c->out[d];
        relay__wbuf_init(&c->out[d]);
        c->is_dirty[d] = 0;
        c->local_taken += d == relay__g.rank;
        n++;
    }
    c->ndirty = 0;
    return n;
}

/* MPI has a control message for this rank that no other thread is about
 * to find: a thread that holds the progress lock is polling and will. */
static int mpi_pending(void)
{
    relay__comm_t *c = C();
    if (pthread_mutex_trylock(&c->progress_lock) != 0) return 0;
    int flag = 0;
    MPI_Iprobe(MPI_ANY_SOURCE, RELAY__TAG_CTRL, relay__g.comm, &flag, MPI_STATUS_IGNORE);
    pthread_mutex_unlock(&c->progress_lock);
    return flag;
}

/* Sleep up to seconds, or until this rank's bell rings (a local thread
 * queued a record, or a rank of this node sent a message). Relay lock held
 * on entry and on return. */
static void sleep_for(double seconds)
{
    relay__comm_t *c = C();
    unsigned armed = relay__bell_arm();
    int pending = c->ndirty || c->to_post;
    pthread_mutex_unlock(&relay__g.lock);
    if (pending || mpi_pending()) seconds = 0;
    relay__bell_wait(armed, seconds);
    pthread_mutex_lock(&relay__g.lock);
}

/* Progress lock held: the sends and transfers to or from ranks found lost
 * since the last sweep end here. MPI may never complete them (a rendezvous
 * with a dead peer), so their requests are freed, not waited for, and
 * their buffers are left to the process: MPI may still hold them. */
static void sweep_lost(void)
{
    relay__comm_t *c = C();
    for (size_t i = 0; i < c->nsends;) {
        if (!c->dead_prog[c->sends[i].dest]) {
            i++;
            continue;
        }
        MPI_Request_free(&c->sends[i].req);
        c->sends[i] = c->sends[--c->nsends];
    }
    for (xfer_t **pp = &c->active; *pp;) {
        xfer_t *x = *pp;
        if (!c->dead_prog[x->peer]) {
            pp = &x->next;
            continue;
        }
        *pp = x->next;
        for (int i = 0; x->reqs && i < x->nreq; i++) {
            if (x->reqs[i] == MPI_REQUEST_NULL) continue;
            if (!x->is_send) MPI_Cancel(&x->reqs[i]);
            MPI_Request_free(&x->reqs[i]);
        }
        x->obj = NULL; /* its reference stays: MPI may still hold the bytes */
        x->status = RELAY_ERR_RANK_LOST;
        pthread_mutex_lock(&relay__g.lock);
        xfer_complete(x);
        pthread_mutex_unlock(&relay__g.lock);
    }
}

/* One turn of progress: send what is queued, post transfers, test what is
 * in flight, receive and dispatch. Progress lock held, relay lock not. */
static int progress_turn(void)
{
    relay__comm_t *c = C();
    xfer_t *posts;
    pthread_mutex_lock(&relay__g.lock);
    size_t nout = take_outgoing(&c->outv, &c->outv_cap, &posts);
    pthread_mutex_unlock(&relay__g.lock);

    if (c->ndead_prog != c->swept) {
        c->swept = c->ndead_prog;
        sweep_lost();
    }
    /* Records for other ranks leave before this rank's own are handled:
     * a task handed to a local worker must not hold back the others. */
    int work = (int)nout;
    outgoing_t *local = NULL;
    for (size_t i = 0; i < nout; i++) {
        if (c->outv[i].dest == relay__g.rank) {
            local = &c->outv[i];
            continue;
        }
        send_batch(c->outv[i].dest, &c->outv[i].buf);
        relay__bell_ring(c->outv[i].dest);
    }
    if (local) dispatch_local(&local->buf);
    while (posts) {
        xfer_t *x = posts;
        posts = x->next;
        if (c->dead_prog[x->peer] && !x->cancel) {
            x->cancel = 1;
            x->status = RELAY_ERR_RANK_LOST;
        }
        if (!x->cancel) xfer_post(x);
        if (x->is_send) relay__bell_ring(x->peer);
        x->next = c->active;
        c->active = x;
        work++;
    }
    work += sends_progress();
    work += xfers_progress();
    work += recv_some(64);
    if (work) c->last_work = relay__now();
    return work;
}

/* A turn of the runtime thread; on rank 0, one that handled records goes
 * in the trace as a scheduling turn. Progress lock held. */
static int traced_turn(void)
{
    double t0 = relay__trace_clock();
    uint64_t before = atomic_load_explicit(&records_handled, memory_order_relaxed);
    int work = progress_turn();
    uint64_t n = atomic_load_explicit(&records_handled, memory_order_relaxed) - before;
    if (relay__g.rank == 0) relay__trace_sched(n, t0);
    return work;
}

int relay__comm_poll(void)
{
    relay__comm_t *c = C();
    if (!c || pthread_mutex_trylock(&c->progress_lock) != 0) return -1;
    int work = progress_turn();
    pthread_mutex_unlock(&c->progress_lock);
    return work;
}

/* Longest sleep of an idle runtime thread, idle seconds after the last
 * activity of its rank. Ranks of one node ring each other's bells, so an
 * idle rank whose every peer can ring it may sleep long; a message from
 * another node is only found by polling. */
static double sleep_cap(double idle, double poll_max)
{
    if (relay__bell_all_local()) return poll_max;
    double cap = IDLE_FRACTION * idle;
    return cap < OFF_NODE_SLEEP_MIN ? OFF_NODE_SLEEP_MIN : cap > poll_max ? poll_max : cap;
}

static void *runtime_main(void *arg)
{
    (void)arg;
    relay__comm_t *c = C();
    double last_activity = relay__now(), backoff = 1e-6, exit_since = 0;
    const double backoff_max = relay__g.cfg.poll_max_us * 1e-6;
    /* Sleeps as short as OFF_NODE_SLEEP_MIN mean nothing with Linux's
     * default timer slack (50 us) added to each. */
    (void)prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
    relay__trace_thread("runtime");

    for (;;) {
        /* A thread waiting for a reply may be polling already: then this
         * thread has nothing to add and backs off instead of contending. */
        int work = 0, in_flight = 1, others = 0;
        if (pthread_mutex_trylock(&c->progress_lock) == 0) {
            work = traced_turn();
            in_flight = c->nsends || c->active;
            /* Workers and waiting clients take turns too: what they
             * received or sent is activity of this rank. */
            if (c->last_work > last_activity) last_activity = c->last_work;
            pthread_mutex_unlock(&c->progress_lock);
        } else {
            others = 1;
        }

        pthread_mutex_lock(&relay__g.lock);
        if (hooks.tick) hooks.tick();
        liveness_turn();
        if (hooks.runtime_turn) hooks.runtime_turn();
        if (others) {
            /* Until the other thread stops polling, which may be soon. */
            sleep_for(sleep_cap(0, SPIN_SECONDS));
            pthread_mutex_unlock(&relay__g.lock);
            continue;
        }
        if (relay__g.exiting && c->ndirty == 0 && !c->to_post) {
            if (exit_since == 0) exit_since = relay__now();
            if (!in_flight || relay__now() - exit_since > EXIT_FLUSH_SECONDS) break;
        }
        double now = relay__now();
        if (work || c->ndirty || c->to_post) {
            last_activity = now;
            backoff = 1e-6;
        } else if (in_flight ||
                   (now - last_activity < SPIN_SECONDS && !relay__bell_oversubscribed())) {
            /* Transfers progress only inside MPI calls: keep polling, but
             * let the other threads of an oversubscribed core run. */
            pthread_mutex_unlock(&relay__g.lock);
            sched_yield();
            continue;
        } else {
            double cap = sleep_cap(now - last_activity, backoff_max);
            if (backoff > cap) backoff = cap;
            sleep_for(backoff);
            backoff = backoff * 2 < cap ? backoff * 2 : cap;
        }
        pthread_mutex_unlock(&relay__g.lock);
    }
    pthread_mutex_unlock(&relay__g.lock);
    /* Whatever is left after the flush deadline is cancelled. */
    pthread_mutex_lock(&c->progress_lock);
    for (size_t i = 0; i < c->nsends; i++) {
        MPI_Cancel(&c->sends[i].req);
        MPI_Wait(&c->sends[i].req, MPI_STATUS_IGNORE);
        free(c->sends[i].buf);
    }
    c->nsends = 0;
    while (c->active) {
        xfer_t *x = c->active;
        x->cancel = 1;
        x->status = RELAY_ERR_SHUTDOWN; /* an interrupted fetch has no bytes */
        xfers_progress();
    }
    pthread_mutex_unlock(&c->progress_lock);
    return NULL;
}

int relay__comm_start(void)
{
    relay__comm_t *c = calloc(1, sizeof *c);
    if (!c) return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory");
    int n = relay__g.size;
    c->out = calloc((size_t)n, sizeof *c->out);
    c->dirty = calloc((size_t)n, sizeof *c->dirty);
    c->is_dirty = calloc((size_t)n, 1);
    c->dead = calloc((size_t)n, 1);
    c->dead_prog = calloc((size_t)n, 1);
    int live = relay__live_init(&c->live, n, relay__g.rank, n > 1 ? relay__g.cfg.rank_timeout : 0,
                                relay__now());
    if (!c->out || !c->dirty || !c->is_dirty || !c->dead || !c->dead_prog || live) {
        free(c->out);
        free(c->dirty);
        free(c->is_dirty);
        free(c->dead);
        free(c->dead_prog);
        relay__live_free(&c->live);
        free(c);
        return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory");
    }
    relay__live_disarm(&c->live); /* until every rank has started */
    pthread_mutex_init(&c->progress_lock, NULL);
    relay__map_init(&c->recv_by_tag);
    int *tag_ub = NULL, flag = 0;
    MPI_Comm_get_attr(relay__g.comm, MPI_TAG_UB, &tag_ub, &flag);
    c->tag_max = flag && tag_ub ? *tag_ub : 32767;
    if (c->tag_max > RELAY__TAG_XFER_MAX) c->tag_max = RELAY__TAG_XFER_MAX;
    c->next_tag = RELAY__TAG_XFER_BASE;
    /* Idle workers may take turns of progress from now on: every field
     * above is written before they can see c. */
    atomic_store_explicit(&relay__g.comm_state, c, memory_order_release);
    /* On failure c stays published (a worker may be in a turn with it):
     * relay__comm_join frees it once the pool has stopped. */
    if (pthread_create(&c->thread, NULL, runtime_main, NULL) != 0)
        return relay__error(RELAY_ERR_INTERNAL, "relay_init: cannot start the runtime thread");
    c->started = 1;
    return RELAY_OK;
}

void relay__comm_join(void)
{
    relay__comm_t *c = C();
    if (!c) return;
    if (c->started) {
        pthread_mutex_lock(&relay__g.lock);
        relay__g.exiting = 1;
        relay__comm_wake();
        pthread_mutex_unlock(&relay__g.lock);
        pthread_join(c->thread, NULL);
    }
    /* The runtime thread is gone and every other thread that polls
     * (workers, actors, the store's) stopped before. */
    atomic_store_explicit(&relay__g.comm_state, NULL, memory_order_release);
    for (int d = 0; d < relay__g.size; d++)
        relay__wbuf_free(&c->out[d]);
    for (int i = 0; i < SELF_DEPTH; i++)
        relay__wbuf_free(&c->self[i]);
    relay__map_destroy(&c->recv_by_tag);
    pthread_mutex_destroy(&c->progress_lock);
    free(c->outv);
    free(c->sends);
    free(c->out);
    free(c->dirty);
    free(c->is_dirty);
    free(c->dead);
    free(c->dead_prog);
    relay__live_free(&c->live);
    free(c);
}
