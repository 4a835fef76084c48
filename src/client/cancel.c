/* relay_cancel: ask rank 0 to cancel the task that makes an object. Rank
 * 0 fails it if it has not started; a running task's rank sets its flag
 * (relay_ctx_cancelled), which also ends its gets and waits. */
#include "client.h"

#include "comm.h"
#include "log.h"
#include "runtime.h"

static void encode_abort(relay__wbuf_t *w, uint64_t req, const void *arg)
{
    relay__rec_abort_t m = *(const relay__rec_abort_t *)arg;
    m.req = req;
    relay__rec_abort_encode(w, &m);
}

int relay_cancel(relay_ref_t ref, int force, int recursive)
{
    const char *call = "relay_cancel";
    int rc = relay__check_on(call);
    if (rc || (rc = relay__check_id(call, ref.id))) return rc;
    relay__rec_abort_t m = {
        0, ref.id,
        (uint8_t)((force ? RELAY__ABORT_FORCE : 0) | (recursive ? RELAY__ABORT_RECURSIVE : 0))};
    relay__req_t q;
    pthread_mutex_lock(&relay__g.lock);
    rc = relay__request(RELAY__R_ABORT, encode_abort, &m, RELAY_FOREVER, &q);
    pthread_mutex_unlock(&relay__g.lock);
    unsigned long long id = (unsigned long long)ref.id;
    if (rc == RELAY_ERR_INVALID_REF)
        return relay__error(rc, "%s: ref %#llx is unknown or already released", call, id);
    if (rc == RELAY_ERR_INVALID_ARG)
        return relay__error(rc, "%s: ref %#llx %s", call, id,
                            force ? "is an object made by relay_put, or the return of an actor "
                                    "call (force is refused for actor calls)"
                                  : "is an object made by relay_put, not a task's return");
    if (rc) return relay__error(rc, "%s: %s", call, relay_strerror(rc));
    return RELAY_OK;
}
