/* Objects: immutable, reference-counted byte buffers with the refs they
 * contain. The same struct serves as the store's copy and as the views
 * (relay_object_t) handed to the program; a view is one reference. */
#ifndef RELAY_OBJECT_H
#define RELAY_OBJECT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "relay.h"

/* Type and shape of a typed array (relay_put_array). */
typedef struct relay__array {
    uint8_t dtype, ndims;
    uint64_t dims[RELAY_MAX_DIMS];
} relay__array_t;

struct relay_object {
    atomic_int refcnt;
    int status;   /* RELAY_OK, or the error an error object stands for */
    char *errmsg; /* error objects only */
    uint64_t id;
    size_t size;
    void *data;
    uint32_t nrefs;
    atomic_int stored; /* the store holds it: tell it when others let go */
    uint64_t *refs;
    size_t mapped;         /* bytes mmap'ed for the object, 0 when malloc'ed */
    relay__array_t *array; /* NULL: plain bytes */
};

/* Bytes of an array of that type and shape, or -1 when dtype or ndims is
 * bad, or the size does not fit (*overflow set then). */
int64_t relay__array_bytes(int dtype, int ndims, const uint64_t *dims, int *overflow);
/* Give o a copy of a (NULL: none). -1 when out of memory. */
int relay__obj_set_array(struct relay_object *o, const relay__array_t *a);
/* Check the shape a public call was given (call names it in the error)
 * and fill *a and the array's size in bytes. */
int relay__array_check(const char *call, relay_dtype_t dtype, int ndims, const uint64_t *dims,
                       relay__array_t *a, size_t *size_p);

/* A new object with room for size bytes and nrefs refs (uninitialised),
 * refcnt 1. NULL when out of memory. */
struct relay_object *relay__obj_new(uint64_t id, size_t size, uint32_t nrefs);
/* A copy of data and refs. */
struct relay_object *relay__obj_copy(uint64_t id, const void *data, size_t size,
                                     const uint64_t *refs, uint32_t nrefs);
struct relay_object *relay__obj_new_error(uint64_t id, int status, const char *msg);
struct relay_object *relay__obj_ref(struct relay_object *o);
/* Keep at most store_budget / 8 bytes of freed mappings for reuse. */
void relay__obj_cache_limit(size_t store_budget);
/* Unmap the mappings kept for reuse (at finalize). */
void relay__obj_cache_drain(void);
void relay__obj_unref(struct relay_object *o);
/* fn runs (any thread, no lock) when an unref leaves a stored object with
 * the store's reference only: the store may then spill or free it. Set
 * once at init, before other threads start. */
void relay__obj_set_store_only_hook(void (*fn)(void));

/* Hand a reference to the program as a view (counted in live_views). */
relay_object_t relay__view_give(struct relay_object *o);

/* The wire form of an object, a descriptor, is in records.h. */
struct relay__desc;
/* Build an object from an inline or error descriptor. NULL when out of memory. */
struct relay_object *relay__obj_from_desc(uint64_t id, const struct relay__desc *d);

#endif
