/* Open-addressing map from a non-zero 64-bit key to a pointer. Not
 * thread-safe: callers hold the runtime lock. */
#ifndef RELAY_HASHMAP_H
#define RELAY_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct relay__map_slot {
    uint64_t key; /* 0: empty */
    void *value;
} relay__map_slot_t;

typedef struct relay__map {
    relay__map_slot_t *slots;
    size_t cap; /* power of two, or 0 */
    size_t count;
} relay__map_t;

void relay__map_init(relay__map_t *m);
void relay__map_destroy(relay__map_t *m);
/* Returns the value, or NULL when absent. */
void *relay__map_get(const relay__map_t *m, uint64_t key);
/* Insert or replace. Returns 0, or -1 when out of memory (map unchanged). */
int relay__map_put(relay__map_t *m, uint64_t key, void *value);
/* Remove and return the value, or NULL when absent. */
void *relay__map_remove(relay__map_t *m, uint64_t key);

/* Iterate: for (size_t i = 0; i < m->cap; i++) if (m->slots[i].key) ... */

#endif
