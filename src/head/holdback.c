#include "holdback.h"

#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "actor_table.h"
#include "directory.h"
#include "resources.h"
#include "list.h"
#include "log.h"
#include "object.h"
#include "runtime.h"

typedef struct held {
    relay__list_t link;
    uint8_t type;
    uint64_t epoch;
    size_t len;
    uint8_t bytes[];
} held_t;

typedef struct relay__holdback {
    uint64_t epoch;      /* messages received so far */
    uint64_t *pinged;    /* per rank: epoch of the PING in flight, 0 if none */
    uint64_t *ponged;    /* per rank: epoch of the last PING answered */
    relay__list_t *held; /* per source rank: records held back, in arrival order */
    int nheld_sources;
} relay__holdback_t;

static relay__holdback_t *F;

int relay__holdback_init(void)
{
    size_t n = (size_t)relay__g.size;
    F = calloc(1, sizeof *F);
    if (F) {
        F->pinged = calloc(n, sizeof *F->pinged);
        F->ponged = calloc(n, sizeof *F->ponged);
        F->held = calloc(n, sizeof *F->held);
    }
    for (size_t s = 0; F && F->held && s < n; s++)
        relay__list_init(&F->held[s]);
    if (!F || !F->pinged || !F->ponged || !F->held) {
        relay__holdback_destroy();
        return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory");
    }
    F->epoch = 1;
    relay__handler_set(RELAY__R_PONG, relay__holdback_on_pong);
    relay__comm_hooks()->filter = relay__holdback_intercept;
    relay__comm_hooks()->on_message = relay__holdback_next_epoch;
    return RELAY_OK;
}

void relay__holdback_destroy(void)
{
    if (!F) return;
    for (int s = 0; F->held && s < relay__g.size; s++) {
        held_t *h;
        RELAY__LIST_EACH(&F->held[s], h, held_t, link) free(h);
    }
    free(F->pinged);
    free(F->ponged);
    free(F->held);
    free(F);
    F = NULL;
}

void relay__holdback_next_epoch(void)
{
    if (F) F->epoch++;
}

/* Whether a record that arrived at epoch may name id yet: SETTLED when it
 * may (known, or surely unknown); WAIT_HELD while records of the maker are
 * held back here (one of them may create id, whenever it arrived);
 * WAIT_PING while the maker may still have the creating record on its way
 * (no PONG from it since). The sender's own ids are settled: its records
 * come in order. */
enum { SETTLED = 0, WAIT_HELD = 1, WAIT_PING = 2 };

static int first_unsettled(int src, uint64_t epoch, uint8_t type, relay__rbuf_t r, int *why_p);

/* Whether the held records of rank x wait, directly or through other
 * ranks' held records, for those of src. A record that creates an id
 * happens before any record naming it, so real refs never form such a
 * cycle; refs that were never created can, and then nobody must wait. */
static int waits_for(int x, int src)
{
    /* The walk recurses through unsettled(): one depth for all of it. */
    static int depth;
    relay__list_t *first = relay__list_first(&F->held[x]);
    if (!first) return 0;
    held_t *h = RELAY__LIST_ENTRY(first, held_t, link);
    if (depth > relay__g.size) return 1;
    depth++;
    relay__rbuf_t r;
    relay__rbuf_init(&r, h->bytes, h->len);
    int why, y = first_unsettled(x, h->epoch, h->type, r, &why);
    int cycle = y >= 0 && why == WAIT_HELD && (y == src || waits_for(y, src));
    depth--;
    return cycle;
}

static int unsettled(int src, uint64_t epoch, uint64_t id)
{
    int maker = relay__id_rank(id);
    if (maker == src || maker >= relay__g.size || relay__dir_lookup(id) || relay__actor_find(id))
        return SETTLED;
    if (!relay__list_empty(&F->held[maker]) && !waits_for(maker, src)) return WAIT_HELD;
    if (maker == 0 || F->ponged[maker] >= epoch) return SETTLED;
    return WAIT_PING;
}

/* The first id of a list that must wait: its maker, and *why_p. */
static int check_id(int src, uint64_t epoch, uint64_t id, int *why_p)
{
    *why_p = unsettled(src, epoch, id);
    return *why_p ? relay__id_rank(id) : -1;
}

/* The first ref a descriptor contains that must wait. */
static int desc_unsettled(int src, uint64_t epoch, const relay__desc_t *d, int *why_p)
{
    for (uint32_t i = 0; i < d->nrefs; i++) {
        int maker = check_id(src, epoch, relay__desc_ref(d, i), why_p);
        if (maker >= 0) return maker;
    }
    return -1;
}

/* What the skims of SUBMIT and DONE check each id against. */
typedef struct id_check {
    int src;
    uint64_t epoch;
    int why, maker;
} id_check_t;

static int id_unsettled(void *ctx, uint64_t id)
{
    id_check_t *x = ctx;
    x->maker = check_id(x->src, x->epoch, id, &x->why);
    return x->maker >= 0;
}

/* Every SUBMIT and DONE passes here before its handler decodes it, and
 * almost none waits: a skim finds the first unsettled id, and only then
 * does the decoder confirm the record is well formed. */
static int submit_unsettled(int src, uint64_t epoch, relay__rbuf_t *r, int *why_p)
{
    id_check_t x = {src, epoch, SETTLED, -1};
    relay__rec_submit_t m;
    if (!relay__rec_submit_ids(*r, id_unsettled, &x) || relay__rec_submit_decode(r, &m) != 0)
        return -1;
    *why_p = x.why;
    return x.maker;
}

static int done_unsettled(int src, uint64_t epoch, relay__rbuf_t *r, int *why_p)
{
    id_check_t x = {src, epoch, SETTLED, -1};
    relay__rec_done_t m;
    if (!relay__rec_done_ids(*r, id_unsettled, &x) || relay__rec_done_decode(r, &m) != 0) return -1;
    *why_p = x.why;
    return x.maker;
}

/* The maker of the first id the record names that must wait (and why),
 * or -1. A malformed record never waits: its handler rejects it. */
static int first_unsettled(int src, uint64_t epoch, uint8_t type, relay__rbuf_t r, int *why_p)
{
    *why_p = SETTLED;
    relay__rec_req_id_t q;
    relay__rec_get_t g;
    relay__rec_put_t p;
    relay__rec_abort_t a;
    switch (type) {
    case RELAY__R_GET:
        return relay__rec_get_decode(&r, &g) ? -1 : check_id(src, epoch, g.id, why_p);
    case RELAY__R_KILL:
        return relay__rec_kill_decode(&r, &q) ? -1 : check_id(src, epoch, q.id, why_p);
    case RELAY__R_ABORT:
        return relay__rec_abort_decode(&r, &a) ? -1 : check_id(src, epoch, a.id, why_p);
    case RELAY__R_RETAIN_CHECK:
        return relay__rec_retain_check_decode(&r, &q) ? -1 : check_id(src, epoch, q.id, why_p);
    case RELAY__R_PUT:
        return relay__rec_put_decode(&r, &p) ? -1 : desc_unsettled(src, epoch, &p.desc, why_p);
    case RELAY__R_SUBMIT:
        return submit_unsettled(src, epoch, &r, why_p);
    case RELAY__R_DONE:
        return done_unsettled(src, epoch, &r, why_p);
    default:
        return -1;
    }
}

static void ping(int rank, uint64_t epoch)
{
    if (F->pinged[rank] >= epoch) return;
    F->pinged[rank] = F->epoch;
    relay__rec_ping_t m = {F->epoch};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(rank, RELAY__R_PING, &start);
    relay__rec_ping_encode(w, &m);
    relay__msg_end(rank, w, start);
}

static int hold(int src, uint8_t type, uint64_t epoch, const relay__rbuf_t *r)
{
    size_t len = (size_t)(r->end - r->p);
    held_t *h = malloc(sizeof *h + len);
    if (!h) {
        relay__log(RELAY__LOG_ERROR, "out of memory holding a record back");
        abort();
    }
    h->type = type;
    h->epoch = epoch;
    h->len = len;
    memcpy(h->bytes, r->p, len);
    relay__list_push_back(&F->held[src], &h->link);
    return 1;
}

int relay__holdback_intercept(int src, uint8_t type, const relay__rbuf_t *r)
{
    /* Only records bound for the directory and scheduler name refs. */
    if (!F || type > RELAY__R_SHUTDOWN_ACK) return 0;
    if (!relay__list_empty(&F->held[src])) return hold(src, type, F->epoch, r);
    int why, maker = first_unsettled(src, F->epoch, type, *r, &why);
    if (maker < 0) return 0;
    if (why == WAIT_PING) ping(maker, F->epoch);
    return hold(src, type, F->epoch, r);
}

/* Handle the held records of src that no longer need to wait; returns how
 * many were handled. */
static int replay(int src)
{
    int handled = 0;
    relay__list_t *first;
    while ((first = relay__list_first(&F->held[src]))) {
        held_t *h = RELAY__LIST_ENTRY(first, held_t, link);
        relay__rbuf_t r;
        relay__rbuf_init(&r, h->bytes, h->len);
        int why, maker = first_unsettled(src, h->epoch, h->type, r, &why);
        if (maker >= 0) {
            if (why == WAIT_PING) ping(maker, h->epoch);
            return handled;
        }
        relay__list_remove(&h->link);
        relay__dispatch_record(src, h->type, &r);
        free(h);
        handled++;
    }
    return handled;
}

/* Handle every held record that can go now, going round until none can:
 * a source's records may have waited for another's. */
static void replay_all(void)
{
    int handled;
    do {
        handled = 0;
        for (int s = 0; s < relay__g.size; s++)
            handled += replay(s);
    } while (handled);
}

void relay__holdback_rank_lost(int rank)
{
    if (!F || rank <= 0 || rank >= relay__g.size) return;
    /* Its held records go with it; what it made and never announced never
     * will be, so records naming it wait no more (they find it unknown). */
    held_t *h;
    RELAY__LIST_EACH(&F->held[rank], h, held_t, link)
    {
        relay__list_remove(&h->link);
        free(h);
    }
    F->ponged[rank] = UINT64_MAX;
    F->pinged[rank] = 0;
    replay_all();
}

void relay__holdback_on_pong(int src, relay__rbuf_t *r)
{
    relay__rec_ping_t m;
    if (relay__rec_pong_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_PONG, src, r);
        return;
    }
    if (m.epoch == RELAY__PING_ALIVE) return; /* the transport's: src lives, nothing more */
    uint64_t epoch = m.epoch;
    if (epoch > F->ponged[src]) F->ponged[src] = epoch;
    if (F->pinged[src] <= epoch) F->pinged[src] = 0;
    replay_all();
}
