/* Per-rank store of primary copies: the large objects this rank made (puts,
 * task results, large value arguments), kept until the directory frees
 * them. Lock held for every call. */
#ifndef RELAY_STORE_H
#define RELAY_STORE_H

#include <stdint.h>

#include "wire.h"

struct relay_object;

int relay__store_init(void);
void relay__store_destroy(void);
/* Keep a reference to o under o->id. */
void relay__store_insert(struct relay_object *o);
/* A new reference to the object, or NULL. */
struct relay_object *relay__store_lookup(uint64_t id);
void relay__store_stats(uint64_t *objects_p, uint64_t *bytes_p);
/* FREE record: drop the listed objects. */
void relay__store_on_free(int src, relay__rbuf_t *r);

#endif
