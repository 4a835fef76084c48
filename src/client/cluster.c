/* The cluster's resources as a program sees them (relay_cluster_resources,
 * relay_available_resources): totals from the table every rank keeps,
 * what is free from rank 0's books, asked for from other ranks. */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "comm.h"
#include "log.h"
#include "records.h"
#include "resources.h"
#include "runtime.h"
#include "scheduler.h"

/* The checks both calls share. */
static int check_call(const char *call, int rank, const relay_resource_set_t *res)
{
    int rc = relay__check_on(call);
    if (rc) return rc;
    if (!res) return relay__error(RELAY_ERR_INVALID_ARG, "%s: res_p is NULL", call);
    if (!res->custom && res->custom_cap)
        return relay__error(RELAY_ERR_INVALID_ARG, "%s: custom is NULL and custom_cap is %zu", call,
                            res->custom_cap);
    if (rank < -1 || rank >= relay__g.size)
        return relay__error(RELAY_ERR_INVALID_ARG, "%s: rank %d is not -1 or in 0..%d", call, rank,
                            relay__g.size - 1);
    return RELAY_OK;
}

/* Lock held (the transport marks ranks lost under it). */
static int check_lost(const char *call, int rank)
{
    if (rank >= 0 && relay__comm_rank_lost(rank))
        return relay__error(RELAY_ERR_RANK_LOST, "%s: rank %d was lost", call, rank);
    return RELAY_OK;
}

/* The totals of rank (-1: every rank not lost) in units, laid out as
 * relay__sched_available's. */
static void totals(int rank, int64_t *units)
{
    const relay__cluster_t *c = relay__cluster();
    memset(units, 0, (2 + (size_t)c->ncustom) * sizeof *units);
    for (int r = rank < 0 ? 0 : rank; r < (rank < 0 ? c->nranks : rank + 1); r++) {
        if (rank < 0 && relay__comm_rank_lost(r)) continue;
        units[0] += c->cpu[r];
        units[1] += (int64_t)c->ngpu[r] * RELAY__UNIT;
        for (uint32_t i = 0; i < c->ncustom; i++)
            units[2 + i] += c->custom[(size_t)r * c->ncustom + i];
    }
}

/* Fill res from units (its customs: those whose total is above 0). */
static int fill(const char *call, const int64_t *units, const int64_t *total,
                relay_resource_set_t *res)
{
    const relay__cluster_t *c = relay__cluster();
    res->cpus = (double)units[0] / RELAY__UNIT;
    res->gpus = (double)units[1] / RELAY__UNIT;
    size_t n = 0;
    for (uint32_t i = 0; i < c->ncustom; i++) {
        if (total[2 + i] <= 0) continue;
        if (n < res->custom_cap)
            res->custom[n] = (relay_resource_t){c->names[i], (double)units[2 + i] / RELAY__UNIT};
        n++;
    }
    res->num_custom = n;
    if (n > res->custom_cap)
        return relay__error(RELAY_ERR_TRUNCATED,
                            "%s: %zu custom resources, custom_cap is %zu: the first %zu filled",
                            call, n, res->custom_cap, res->custom_cap);
    return RELAY_OK;
}

static int64_t *units_new(const char *call)
{
    int64_t *u = malloc((2 + (size_t)relay__cluster()->ncustom) * sizeof *u);
    if (!u) relay__error(RELAY_ERR_NO_MEMORY, "%s: out of memory", call);
    return u;
}

int relay_cluster_resources(int rank, relay_resource_set_t *res_p)
{
    const char *call = "relay_cluster_resources";
    int rc = check_call(call, rank, res_p);
    if (rc) return rc;
    int64_t *total = units_new(call);
    if (!total) return RELAY_ERR_NO_MEMORY;
    pthread_mutex_lock(&relay__g.lock);
    rc = check_lost(call, rank);
    if (!rc) totals(rank, total);
    pthread_mutex_unlock(&relay__g.lock);
    if (!rc) rc = fill(call, total, total, res_p);
    free(total);
    return rc;
}

static void encode_query(relay__wbuf_t *w, uint64_t req, const void *arg)
{
    relay__rec_res_query_t m = {req, *(const int *)arg};
    relay__rec_res_query_encode(w, &m);
}

void relay__client_on_resources_reply(int src, relay__rbuf_t *r)
{
    relay__rbuf_t whole = *r;
    relay__rec_res_reply_t m;
    /* Every rank numbers the custom resources alike: a reply for another
     * table cannot be read. */
    if (relay__rec_res_reply_decode(r, &m) != 0 ||
        (m.status == RELAY_OK && m.ncustom != relay__cluster()->ncustom)) {
        if (!r->err) relay__rbuf_fail(r, "not as many custom resources as the cluster table");
        relay__reply_unreadable(RELAY__R_RESOURCES_REPLY, src, r, &whole);
        return;
    }
    relay__req_t *q = relay__map_remove(&relay__g.reqs, m.req);
    if (!q) return;
    q->status = m.status;
    if (m.status == RELAY_OK && q->units) {
        q->units[0] = m.cpu;
        q->units[1] = m.gpu;
        for (uint32_t i = 0; i < m.ncustom; i++)
            q->units[2 + i] = relay__rec_res_custom(&m, i);
    }
    relay__req_replied(q);
}

/* Rank 0's books, in units: read here on rank 0, asked for elsewhere.
 * Lock held. */
static int books(int rank, int64_t *units)
{
    if (relay__g.rank == 0) return relay__sched_available(rank, units);
    /* Past three rank timeouts without a word from rank 0 this rank gives
     * up on the job (comm.c): never wait longer than that. */
    double timeout = relay__g.cfg.rank_timeout > 0 ? 3.0 * relay__g.cfg.rank_timeout : -1;
    relay__req_t q;
    relay__batch_t b;
    if (relay__g.shutting_down) return RELAY_ERR_SHUTDOWN;
    relay__req_send(RELAY__R_RESOURCES_QUERY, encode_query, &rank, &q, &b);
    q.units = units;
    return relay__req_wait(&q, &b, timeout);
}

int relay_available_resources(int rank, relay_resource_set_t *res_p)
{
    const char *call = "relay_available_resources";
    int rc = check_call(call, rank, res_p);
    if (rc) return rc;
    int64_t *total = units_new(call), *avail = total ? units_new(call) : NULL;
    if (!avail) {
        free(total);
        return RELAY_ERR_NO_MEMORY;
    }
    pthread_mutex_lock(&relay__g.lock);
    if (!(rc = check_lost(call, rank))) {
        rc = books(rank, avail);
        totals(rank, total);
    }
    pthread_mutex_unlock(&relay__g.lock);
    if (rc == RELAY_ERR_TIMEOUT)
        relay__error(rc, "%s: rank 0 did not answer within %g s", call,
                     3.0 * relay__g.cfg.rank_timeout);
    else if (rc == RELAY_ERR_RANK_LOST)
        relay__error(rc, "%s: rank %d was lost", call, rank);
    else if (rc)
        relay__error(rc, "%s: %s", call, relay_strerror(rc));
    else
        rc = fill(call, avail, total, res_p);
    free(total);
    free(avail);
    return rc;
}
