/* Per-rank store of primary copies: the large objects this rank made
 * (puts, task results, large value arguments), kept until the directory
 * frees them. It keeps at most its budget of them in memory: beyond, the
 * least recently used ones that nothing else holds (no view, task or
 * transfer: only the store) are written to the spill file by the store's
 * I/O thread, and read back when a get, a task or another rank needs them.
 * A spill that fails leaves the object in memory. Lock held for every call
 * unless said otherwise. */
#ifndef RELAY_STORE_H
#define RELAY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct relay_object;
struct relay__fetch;
struct relay__batch;

/* budget: bytes in memory. Starts the I/O thread (lock not held). */
int relay__store_init(uint64_t budget);
/* Stop the I/O thread: reads still waiting fail (SHUTDOWN), nothing more
 * is written (lock not held; before the transport stops). */
void relay__store_stop(void);
void relay__store_destroy(void);
/* Keep a reference to o under o->id. */
void relay__store_insert(struct relay_object *o);
/* Keep an object larger than the budget straight in the spill file, from
 * the caller's bytes (o: its id, size, refs and array; no data needed).
 * Lock NOT held (the write happens on the calling thread). RELAY_OK, or
 * the write's status: then the caller keeps it in memory instead. */
int relay__store_insert_direct(struct relay_object *o, const void *data);
/* A stored object was let go by all but the store: it may be evicted now
 * (any thread, lock held or not). */
void relay__store_poke(void);
/* In memory: a new reference; NULL when not here, or only on disk. */
struct relay_object *relay__store_lookup(uint64_t id);
/* Here, but only in the spill file: read it back before use. */
int relay__store_spilled(uint64_t id);
/* Read a spilled object into target (made with its size, refs and array,
 * e.g. from its descriptor): completes like a fetch (done, status, then
 * batch signalled). NULL when out of memory. */
struct relay__fetch *relay__store_restore(uint64_t id, struct relay_object *target,
                                          struct relay__batch *batch);
/* Read a spilled object back, then send it to dest as a fetch answer. */
void relay__store_restore_send(uint64_t id, int dest, int tag, size_t chunk);

typedef struct relay__store_stats {
    uint64_t objects, bytes_in_memory, peak_bytes;
    uint64_t spilled_objects, spilled_bytes;
    uint64_t writes, reads, failures;
    uint64_t write_bytes, read_bytes, write_ns, read_ns;
} relay__store_stats_t;
void relay__store_stats(relay__store_stats_t *s);
/* FREE record: drop the listed objects (their spilled copies too). */
void relay__store_on_free(int src, relay__rbuf_t *r);

#endif
