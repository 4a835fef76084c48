/* Intrusive doubly linked lists: a list is a sentinel node, an element
 * embeds a node, and RELAY__LIST_ENTRY gets the element back from it. One
 * shape for every queue of the runtime (the scheduler's ready tasks, a
 * pool's queue, an actor's mailbox, the store's LRU, held-back records):
 * O(1) push, pop and removal from the middle, and no open-coded head/tail
 * bookkeeping. Not thread-safe: callers hold the lock guarding the list. */
#ifndef RELAY_LIST_H
#define RELAY_LIST_H

#include <stddef.h>

typedef struct relay__list {
    struct relay__list *prev, *next;
} relay__list_t;

/* The element of type that holds node as member. */
#define RELAY__LIST_ENTRY(node, type, member) ((type *)((char *)(node)-offsetof(type, member)))

/* An empty list, or an element's node that is on no list. */
static inline void relay__list_init(relay__list_t *l)
{
    l->prev = l->next = l;
}

static inline int relay__list_empty(const relay__list_t *l)
{
    return l->next == l;
}

/* Whether an element's node is on a list (a zeroed node is not). */
static inline int relay__list_linked(const relay__list_t *n)
{
    return n->next && n->next != n;
}

static inline void relay__list_insert_after(relay__list_t *pos, relay__list_t *n)
{
    n->prev = pos;
    n->next = pos->next;
    pos->next->prev = n;
    pos->next = n;
}

static inline void relay__list_push_front(relay__list_t *l, relay__list_t *n)
{
    relay__list_insert_after(l, n);
}

static inline void relay__list_push_back(relay__list_t *l, relay__list_t *n)
{
    relay__list_insert_after(l->prev, n);
}

/* Take n off its list; n is then unlinked. Harmless when it is not on one. */
static inline void relay__list_remove(relay__list_t *n)
{
    if (!relay__list_linked(n)) return;
    n->prev->next = n->next;
    n->next->prev = n->prev;
    relay__list_init(n);
}

/* First / last node, NULL when empty. */
static inline relay__list_t *relay__list_first(const relay__list_t *l)
{
    return l->next == l ? NULL : l->next;
}

static inline relay__list_t *relay__list_last(const relay__list_t *l)
{
    return l->prev == l ? NULL : l->prev;
}

/* The node after / before n on l, NULL at the end. */
static inline relay__list_t *relay__list_next(const relay__list_t *l, const relay__list_t *n)
{
    return n->next == l ? NULL : n->next;
}

static inline relay__list_t *relay__list_prev(const relay__list_t *l, const relay__list_t *n)
{
    return n->prev == l ? NULL : n->prev;
}

static inline relay__list_t *relay__list_pop_front(relay__list_t *l)
{
    relay__list_t *n = relay__list_first(l);
    if (n) relay__list_remove(n);
    return n;
}

/* Visit every element of l front to back as var (a pointer to type,
 * declared by the caller); the element visited may be removed. */
#define RELAY__LIST_EACH(l, var, type, member)                                                     \
    for (relay__list_t *relay__n_ = (l)->next, *relay__nx_ = relay__n_->next;                      \
         relay__n_ != (l) && ((var) = RELAY__LIST_ENTRY(relay__n_, type, member), 1);              \
         relay__n_ = relay__nx_, relay__nx_ = relay__n_->next)

#endif
