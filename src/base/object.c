/* Objects and views; the public relay_object_* accessors. */
#include "object.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"
#include "records.h"
#include "runtime.h"

/* Data starts on a 64-byte boundary so arrays of any type can live in it. */
#define DATA_ALIGN 64
/* Objects this large get their own mapping: freeing one gives its memory
 * back to the system at once instead of leaving it in a malloc arena; from
 * CACHE_MAP_MIN when freed mappings are kept for reuse (below). */
#define MAP_MIN ((size_t)1 << 20)
#define CACHE_MAP_MIN ((size_t)256 << 10)
/* A fresh mapping costs a page fault and a zeroed page per 4 KiB on first
 * touch, which halves the bandwidth of a put or a fetch into it; tasks
 * that make a new tile of a matrix from an old one (each update a new
 * object, the old one freed a little later) spend more time faulting than
 * computing. So freed mappings are kept for reuse: at most CACHE_SLOTS of
 * them, cache_max bytes in all (an eighth of the store budget, at most
 * CACHE_BYTES: memory the budget does not count). A taken one is at most
 * twice the length asked for. */
#define CACHE_SLOTS 256
#define CACHE_BYTES ((size_t)512 << 20)
static _Atomic size_t cache_max = CACHE_BYTES;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    void *p;
    size_t len;
} cache[CACHE_SLOTS];
static int ncache;
static size_t cache_bytes;

/* A mapping of at least len bytes (a cached one up to twice as long). */
static void *map_take(size_t len, size_t *len_p)
{
    pthread_mutex_lock(&cache_lock);
    int best = -1;
    for (int i = 0; i < ncache; i++)
        if (cache[i].len >= len && cache[i].len / 2 <= len &&
            (best < 0 || cache[i].len < cache[best].len))
            best = i;
    if (best >= 0) {
        void *p = cache[best].p;
        *len_p = cache[best].len;
        cache_bytes -= cache[best].len;
        cache[best] = cache[--ncache];
        pthread_mutex_unlock(&cache_lock);
        return p;
    }
    pthread_mutex_unlock(&cache_lock);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    *len_p = len;
    return p;
}

static void map_give(void *p, size_t len)
{
    pthread_mutex_lock(&cache_lock);
    if (ncache < CACHE_SLOTS &&
        cache_bytes + len <= atomic_load_explicit(&cache_max, memory_order_relaxed)) {
        cache[ncache].p = p;
        cache[ncache].len = len;
        ncache++;
        cache_bytes += len;
        p = NULL;
    }
    pthread_mutex_unlock(&cache_lock);
    if (p) munmap(p, len);
}

void relay__obj_cache_limit(size_t store_budget)
{
    pthread_mutex_lock(&cache_lock);
    atomic_store_explicit(&cache_max,
                          store_budget / 8 < CACHE_BYTES ? store_budget / 8 : CACHE_BYTES,
                          memory_order_relaxed);
    pthread_mutex_unlock(&cache_lock);
}

void relay__obj_cache_drain(void)
{
    pthread_mutex_lock(&cache_lock);
    while (ncache > 0) {
        ncache--;
        munmap(cache[ncache].p, cache[ncache].len);
    }
    cache_bytes = 0;
    pthread_mutex_unlock(&cache_lock);
}

struct relay_object *relay__obj_new(uint64_t id, size_t size, uint32_t nrefs)
{
    size_t head = sizeof(struct relay_object) + (size_t)nrefs * sizeof(uint64_t);
    if (size > SIZE_MAX - head - 2 * DATA_ALIGN) return NULL;
    /* The header, the refs, then the data on the next DATA_ALIGN boundary
     * (a mapping starts on a page: the padding is known). */
    size_t total = head + (DATA_ALIGN - 1) + size;
    struct relay_object *o;
    size_t mapped = 0;
    if (total >= MAP_MIN ||
        (total >= CACHE_MAP_MIN && atomic_load_explicit(&cache_max, memory_order_relaxed) > 0)) {
        o = map_take(total, &mapped);
        if (!o) return NULL;
    } else {
        /* malloc and align the data inside: aligned_alloc is much slower.
         * Small task results are the most numerous objects: no more than
         * the worst-case padding. */
        o = malloc(total);
        if (!o) return NULL;
    }
    o->mapped = mapped;
    atomic_init(&o->stored, 0);
    atomic_fetch_add_explicit(&relay__g.live_objects, 1, memory_order_relaxed);
    atomic_init(&o->refcnt, 1);
    o->status = RELAY_OK;
    o->errmsg = NULL;
    o->id = id;
    o->size = size;
    o->nrefs = nrefs;
    o->array = NULL;
    o->refs = (uint64_t *)(o + 1);
    uintptr_t data = (uintptr_t)(o->refs + nrefs);
    o->data = (void *)((data + DATA_ALIGN - 1) & ~(uintptr_t)(DATA_ALIGN - 1));
    return o;
}

struct relay_object *relay__obj_copy(uint64_t id, const void *data, size_t size,
                                     const uint64_t *refs, uint32_t nrefs)
{
    struct relay_object *o = relay__obj_new(id, size, nrefs);
    if (!o) return NULL;
    if (size) memcpy(o->data, data, size);
    if (nrefs) memcpy(o->refs, refs, nrefs * sizeof(uint64_t));
    return o;
}

struct relay_object *relay__obj_new_error(uint64_t id, int status, const char *msg)
{
    struct relay_object *o = relay__obj_new(id, 0, 0);
    if (!o) return NULL;
    o->status = status;
    o->errmsg = strdup(msg ? msg : relay_strerror(status));
    if (!o->errmsg) {
        relay__obj_unref(o);
        return NULL;
    }
    return o;
}

struct relay_object *relay__obj_ref(struct relay_object *o)
{
    atomic_fetch_add_explicit(&o->refcnt, 1, memory_order_relaxed);
    return o;
}

/* Who to tell when only the store's reference to an object is left. */
static void (*store_only_hook)(void);

void relay__obj_set_store_only_hook(void (*fn)(void))
{
    store_only_hook = fn;
}

void relay__obj_unref(struct relay_object *o)
{
    if (!o) return;
    int was = atomic_fetch_sub_explicit(&o->refcnt, 1, memory_order_acq_rel);
    if (was == 2 && atomic_load_explicit(&o->stored, memory_order_relaxed))
        if (store_only_hook) store_only_hook(); /* the store may let it go now */
    if (was != 1) return;
    atomic_fetch_sub_explicit(&relay__g.live_objects, 1, memory_order_relaxed);
    free(o->errmsg);
    free(o->array);
    if (o->mapped)
        map_give(o, o->mapped);
    else
        free(o);
}

relay_object_t relay__view_give(struct relay_object *o)
{
    atomic_fetch_add_explicit(&relay__g.live_views, 1, memory_order_relaxed);
    return o;
}

int64_t relay__array_bytes(int dtype, int ndims, const uint64_t *dims, int *overflow)
{
    *overflow = 0;
    size_t esize = relay_dtype_size((relay_dtype_t)dtype);
    if (!esize || ndims < 1 || ndims > RELAY_MAX_DIMS || !dims) return -1;
    uint64_t n = esize;
    for (int i = 0; i < ndims; i++) {
        if (dims[i] && n > (uint64_t)INT64_MAX / dims[i]) {
            *overflow = 1;
            return -1;
        }
        n *= dims[i];
    }
    return (int64_t)n;
}

size_t relay_dtype_size(relay_dtype_t t)
{
    switch (t) {
    case RELAY_INT8:
    case RELAY_UINT8:
        return 1;
    case RELAY_INT16:
    case RELAY_UINT16:
        return 2;
    case RELAY_INT32:
    case RELAY_UINT32:
    case RELAY_FLOAT32:
        return 4;
    case RELAY_INT64:
    case RELAY_UINT64:
    case RELAY_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

int relay__obj_set_array(struct relay_object *o, const relay__array_t *a)
{
    if (!a) return 0;
    if (!(o->array = malloc(sizeof *o->array))) return -1;
    *o->array = *a;
    return 0;
}

struct relay_object *relay__obj_from_desc(uint64_t id, const relay__desc_t *d)
{
    if (d->status != RELAY_OK) return relay__obj_new_error(id, d->status, d->errmsg);
    struct relay_object *o = relay__obj_new(id, d->size, d->nrefs);
    if (!o) return NULL;
    if (d->nrefs) memcpy(o->refs, d->refs, (size_t)d->nrefs * 8);
    if (d->is_inline && d->size) memcpy(o->data, d->bytes, d->size);
    if (relay__obj_set_array(o, d->has_array ? &d->array : NULL) != 0) {
        relay__obj_unref(o);
        return NULL;
    }
    return o;
}

/* ---- public accessors ---- */

int relay_object_array(relay_object_t obj, relay_dtype_t *dtype_p, int *ndims_p, uint64_t *dims)
{
    if (!obj) return relay__error(RELAY_ERR_INVALID_ARG, "relay_object_array: NULL object");
    const relay__array_t *a = obj->array;
    if (dtype_p) *dtype_p = a ? (relay_dtype_t)a->dtype : RELAY_DTYPE_BYTES;
    if (ndims_p) *ndims_p = a ? a->ndims : 1;
    if (dims) {
        memset(dims, 0, RELAY_MAX_DIMS * sizeof *dims);
        if (a)
            memcpy(dims, a->dims, (size_t)a->ndims * sizeof *dims);
        else
            dims[0] = obj->size;
    }
    return RELAY_OK;
}

const void *relay_object_data(relay_object_t obj)
{
    return obj ? obj->data : NULL;
}
size_t relay_object_size(relay_object_t obj)
{
    return obj ? obj->size : 0;
}
size_t relay_object_num_refs(relay_object_t obj)
{
    return obj ? obj->nrefs : 0;
}
int relay_object_status(relay_object_t obj)
{
    if (!obj) return relay__error(RELAY_ERR_INVALID_ARG, "relay_object_status: NULL object");
    return obj->status;
}
const char *relay_object_error(relay_object_t obj)
{
    return obj ? obj->errmsg : NULL;
}

int relay_object_ref(relay_object_t obj, size_t i, relay_ref_t *ref_p)
{
    if (!obj || !ref_p)
        return relay__error(RELAY_ERR_INVALID_ARG, "relay_object_ref: NULL %s",
                            obj ? "ref_p" : "object");
    if (i >= obj->nrefs)
        return relay__error(RELAY_ERR_OUT_OF_RANGE,
                            "relay_object_ref: index %zu, object contains %u refs", i, obj->nrefs);
    ref_p->id = obj->refs[i];
    return RELAY_OK;
}

int relay_object_free(relay_object_t obj)
{
    if (!obj) return relay__error(RELAY_ERR_INVALID_ARG, "relay_object_free: NULL object");
    atomic_fetch_sub_explicit(&relay__g.live_views, 1, memory_order_relaxed);
    relay__obj_unref(obj);
    return RELAY_OK;
}

int relay__array_check(const char *call, relay_dtype_t dtype, int ndims, const uint64_t *dims,
                       relay__array_t *a, size_t *size_p)
{
    int overflow;
    int64_t size = relay__array_bytes((int)dtype, ndims, dims, &overflow);
    if (overflow)
        return relay__error(RELAY_ERR_OUT_OF_RANGE, "%s: an array of that shape is too large",
                            call);
    if (size < 0)
        return relay__error(RELAY_ERR_INVALID_ARG,
                            "%s: dtype %d or ndims %d is not a typed array (dims %s)", call,
                            (int)dtype, ndims, dims ? "given" : "NULL");
    a->dtype = (uint8_t)dtype;
    a->ndims = (uint8_t)ndims;
    memset(a->dims, 0, sizeof a->dims);
    memcpy(a->dims, dims, (size_t)ndims * sizeof *dims);
    *size_p = (size_t)size;
    return RELAY_OK;
}
