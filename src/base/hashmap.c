/* Linear probing with backward-shift deletion: no tombstones, so lookups
 * stay short however many objects come and go. */
#include "hashmap.h"

#include <stdlib.h>

static size_t slot_of(uint64_t key, size_t cap)
{
    /* Ids are sequential in their middle bits: mix them (splitmix64 finaliser). */
    key ^= key >> 30;
    key *= 0xbf58476d1ce4e5b9ULL;
    key ^= key >> 27;
    key *= 0x94d049bb133111ebULL;
    key ^= key >> 31;
    return (size_t)key & (cap - 1);
}

void relay__map_init(relay__map_t *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
}

void relay__map_destroy(relay__map_t *m)
{
    free(m->slots);
    relay__map_init(m);
}

void *relay__map_get(const relay__map_t *m, uint64_t key)
{
    if (m->cap == 0) return NULL;
    for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == key) return m->slots[i].value;
        if (m->slots[i].key == 0) return NULL;
    }
}

static int grow(relay__map_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    relay__map_slot_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (size_t j = 0; j < m->cap; j++) {
        if (!m->slots[j].key) continue;
        size_t i = slot_of(m->slots[j].key, cap);
        while (slots[i].key)
            i = (i + 1) & (cap - 1);
        slots[i] = m->slots[j];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int relay__map_put(relay__map_t *m, uint64_t key, void *value)
{
    /* 0 marks an empty slot, and a NULL value would end a walk early. */
    if (key == 0 || !value) return -1;
    if ((m->count + 1) * 4 > m->cap * 3 && grow(m) != 0) return -1;
    size_t i = slot_of(key, m->cap);
    while (m->slots[i].key && m->slots[i].key != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].key) m->count++;
    m->slots[i].key = key;
    m->slots[i].value = value;
    return 0;
}

void *relay__map_remove(relay__map_t *m, uint64_t key)
{
    if (m->cap == 0 || key == 0) return NULL;
    size_t mask = m->cap - 1, i = slot_of(key, m->cap);
    while (m->slots[i].key != key) {
        if (!m->slots[i].key) return NULL;
        i = (i + 1) & mask;
    }
    void *value = m->slots[i].value;
    /* Shift later members of the probe run back so no hole breaks it. */
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = slot_of(m->slots[j].key, m->cap);
        int movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key = 0;
    m->slots[i].value = NULL;
    m->count--;
    return value;
}
