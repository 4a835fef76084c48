/* The client side of the API, on every rank: submissions, puts, gets,
 * waits, holds. Requests to rank 0 wait on a batch condition that reply
 * handlers signal. */
#ifndef RELAY_CLIENT_H
#define RELAY_CLIENT_H

#include <pthread.h>
#include <stdint.h>

#include "wire.h"

/* Requests that complete together: waiters count completions instead of
 * rescanning every request at each wake-up. */
typedef struct relay__batch {
    pthread_cond_t cv;
    size_t completed;
    size_t need; /* wake the waiter when completed reaches this */
} relay__batch_t;

/* One request of b completed. Lock held. */
void relay__client_batch_signal(relay__batch_t *b);

/* Handlers of GET_REPLY and REPLY records. Lock held. */
void relay__client_on_get_reply(int src, relay__rbuf_t *r);
void relay__client_on_reply(int src, relay__rbuf_t *r);
/* Rank 0: the directory answers its own rank's GET without a message.
 * obj: an inline or error object, or NULL with the holder (-1 for none:
 * want_data was 0 or the status is an error) of a remote object. */
struct relay_object;
void relay__client_on_local_reply(uint64_t req_id, int status, struct relay_object *obj, int holder,
                                  uint64_t size, const uint64_t *refs, uint32_t nrefs);

/* Fail every pending request with RELAY_ERR_SHUTDOWN. Lock held. */
void relay__client_fail_all(void);

/* Hold bookkeeping (lock held). drop returns the new count, or -1 when
 * this rank holds no such ref. */
uint64_t relay__hold_add(uint64_t id);
long relay__hold_drop(uint64_t id);

/* Queue a RELEASE record for ids whose local count reached 0. Lock held. */
void relay__post_release(const uint64_t *ids, size_t n);

#endif
