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
/* Insert or replace. Returns 0, or -1 when out of memory, key is 0 or
 * value is NULL (map unchanged). */
int relay__map_put(relay__map_t *m, uint64_t key, void *value);
/* Remove and return the value, or NULL when absent. */
void *relay__map_remove(relay__map_t *m, uint64_t key);

/* The value of the next entry at or after slot *i, which it moves past;
 * NULL when there is none. Values are never NULL. */
static inline void *relay__map_next(const relay__map_t *m, size_t *i)
{
    for (; *i < m->cap; (*i)++)
        if (m->slots[*i].key) return m->slots[(*i)++].value;
    return NULL;
}

/* Visit every value of m as val (a pointer variable declared by the
 * caller): RELAY__MAP_EACH(&map, t) free(t);
 * The map must not gain or lose entries during the walk. */
#define RELAY__MAP_EACH(m, val)                                                                    \
    for (size_t relay__it_ = 0; ((val) = relay__map_next((m), &relay__it_)) != NULL;)

#endif
