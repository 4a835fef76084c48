/* relay_retain and relay_release: the holds this rank keeps on objects,
 * as the directory counts them. */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "runtime.h"
#include "worker.h"

/* Whether rank 0 still knows id. The check takes a hold there, given back
 * at once (this rank keeps none). A ref found alive is not asked about
 * again: the next use of it goes unchecked, as any ref this rank does not
 * remember releasing. Lock held. */
static int still_lives(uint64_t id)
{
    relay__g.ref_checks++;
    int rc = relay__round_trip(RELAY__R_RETAIN_CHECK, id, RELAY_FOREVER);
    if (rc == RELAY_OK) {
        relay__post_release(&id, 1);
        relay__released_forget(id);
    }
    return rc;
}

/* The i-th entry of u: 1 with its id in *id when it is a ref. */
static int ref_at(const relay__ref_uses_t *u, size_t i, uint64_t *id)
{
    if (u->args) {
        if (u->args[i].kind != RELAY_ARG_REF) return 0;
        *id = u->args[i].ref.id;
    } else {
        *id = u->refs[i].id;
    }
    return 1;
}

/* The error for entry i of u (rc from the check of rank 0, or 0 for
 * relay__check_id's own). Only here are the messages' words put
 * together: the checks themselves cost no formatting. */
static int ref_use_error(const relay__ref_uses_t *u, size_t i, uint64_t id, int rc)
{
    char where[RELAY_MAX_NAME + 96];
    if (u->args)
        snprintf(where, sizeof where, "%s(%s): argument %zu", u->call, u->fn, i);
    else
        snprintf(where, sizeof where, "%s: refs[%zu]", u->call, i);
    if (!rc) return relay__check_id(where, id);
    if (rc == RELAY_ERR_INVALID_REF)
        return relay__error(rc,
                            "%s (ref %#llx) was released by rank %d, its maker, and no longer "
                            "exists",
                            where, (unsigned long long)id, relay__g.rank);
    return relay__error(rc, "%s (ref %#llx): %s", where, (unsigned long long)id,
                        relay_strerror(rc));
}

int relay__check_ref_uses(const relay__ref_uses_t *u)
{
    int own = 0;
    uint64_t id;
    for (size_t i = 0; i < u->n; i++) {
        if (!ref_at(u, i, &id)) continue;
        if (!relay__id_known(id)) return ref_use_error(u, i, id, 0);
        own |= relay__id_rank(id) == relay__g.rank;
    }
    if (!own) return RELAY_OK;
    int rc = RELAY_OK;
    size_t i = 0;
    pthread_mutex_lock(&relay__g.lock);
    /* Off since the caller looked: the maps may be gone (a thread that
     * relay_finalize abandoned). */
    if (!relay__is_on()) {
        pthread_mutex_unlock(&relay__g.lock);
        return relay__check_on(u->call);
    }
    for (; i < u->n && !rc; i++)
        if (ref_at(u, i, &id) && relay__id_rank(id) == relay__g.rank &&
            !relay__map_get(&relay__g.holds, id) && relay__released_own(id))
            rc = still_lives(id);
    pthread_mutex_unlock(&relay__g.lock);
    return rc ? ref_use_error(u, i - 1, id, rc) : RELAY_OK;
}

int relay__check_refs(const char *call, const relay_ref_t *refs, size_t n)
{
    relay__ref_uses_t u = {call, NULL, refs, NULL, n};
    return relay__check_ref_uses(&u);
}

int relay_retain(relay_ref_t ref)
{
    int rc = relay__check_on("relay_retain");
    if (rc || (rc = relay__check_id("relay_retain", ref.id))) return rc;
    pthread_mutex_lock(&relay__g.lock);
    if (!relay__is_on()) { /* off since the check above */
        pthread_mutex_unlock(&relay__g.lock);
        return relay__check_on("relay_retain");
    }
    if (relay__map_get(&relay__g.holds, ref.id)) {
        relay__hold_add(ref.id); /* the directory already counts this rank */
    } else if ((rc = relay__round_trip(RELAY__R_RETAIN_CHECK, ref.id, RELAY_FOREVER)) == RELAY_OK) {
        /* Another thread may have taken the first hold meanwhile; the
         * directory counts each rank once, so give back the extra. */
        if (relay__hold_add(ref.id) > 1) relay__post_release(&ref.id, 1);
    }
    pthread_mutex_unlock(&relay__g.lock);
    if (rc)
        return relay__error(rc, "relay_retain: ref %#llx: %s", (unsigned long long)ref.id,
                            rc == RELAY_ERR_INVALID_REF ? "unknown or already released"
                                                        : relay_strerror(rc));
    return RELAY_OK;
}

/* ---------------------------------------------------------------------- */
/* release                                                                  */
/* ---------------------------------------------------------------------- */

int relay_release_many(const relay_ref_t *refs, size_t n)
{
    int rc = relay__check_on("relay_release");
    if (rc) return rc;
    if (!refs && n) return relay__error(RELAY_ERR_INVALID_ARG, "relay_release: refs is NULL");
    uint64_t small[64], *zero = n <= 64 ? small : malloc(n * sizeof *zero);
    if (!zero) return relay__error(RELAY_ERR_NO_MEMORY, "relay_release: out of memory");
    pthread_mutex_lock(&relay__g.lock);
    if (!relay__is_on()) { /* off since the check above */
        pthread_mutex_unlock(&relay__g.lock);
        if (zero != small) free(zero);
        return relay__check_on("relay_release");
    }
    /* Drop the rank's holds one by one; on a ref not held, put back those
     * already dropped, so a bad ref changes nothing. An actor's holds move
     * only once every drop stands: a put-back is no hold taken. */
    size_t nz = 0, dropped = 0;
    for (; dropped < n; dropped++) {
        long left = refs[dropped].id ? relay__hold_rank_move(refs[dropped].id, -1) : -1;
        if (left < 0) break;
        if (left == 0) zero[nz++] = refs[dropped].id;
    }
    for (size_t i = 0; dropped == n && i < n; i++)
        relay__worker_hold_moved(refs[i].id, -1);
    if (dropped < n) {
        for (size_t i = 0; i < dropped; i++)
            relay__hold_rank_move(refs[i].id, 1);
        nz = 0;
        rc = relay__error(RELAY_ERR_INVALID_REF,
                          "relay_release: ref %#llx is not held by rank %d (never obtained or "
                          "already released)",
                          (unsigned long long)refs[dropped].id, relay__g.rank);
    }
    relay_ctx_t *ctx = relay__worker_current();
    if (ctx)
        relay__worker_defer_releases(ctx, zero, nz);
    else if (!relay__g.shutting_down)
        relay__post_release(zero, nz);
    pthread_mutex_unlock(&relay__g.lock);
    if (zero != small) free(zero);
    return rc;
}

int relay_release(relay_ref_t ref)
{
    return relay_release_many(&ref, 1);
}
